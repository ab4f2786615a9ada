#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The Public Suffix List (publicsuffix.org): the domains under which anyone can register names
/// (`com`, `co.uk`, `s3.amazonaws.com`), read from the system's copy, Debian's `publicsuffix`
/// package (`/usr/share/publicsuffix/public_suffix_list.dat`), never a bundled one.
///
/// Both sections count, the ICANN domains and the private ones (the Baseline Requirements' 3.2.2.6
/// speaks of "public suffixes" without excluding either). Rules with non-ASCII labels are kept in
/// their ASCII form too (RFC 3492 Punycode, `xn--`), since certificates carry A-labels.
///
/// The list is loaded once per process and shared (``system``); a missing or unreadable file is an
/// ``InputError`` that names the file and the package that provides it.
public struct PublicSuffixList: Sendable {
  /// Where Debian's `publicsuffix` package puts the list.
  public static let defaultPath = "/usr/share/publicsuffix/public_suffix_list.dat"

  private var exact: Set<String> = []
  private var wildcards: Set<String> = []
  private var exceptions: Set<String> = []

  /// The number of rules read.
  public private(set) var ruleCount = 0
  /// A digest of the rules, to tell lists apart.
  private(set) var identity = ""

  /// Reads a list in the publicsuffix.org format (one rule per line, up to the first white space;
  /// `//` comments; `*.` wildcard and `!` exception rules).
  ///
  /// - Throws: ``InputError`` when the file cannot be read or holds no rule.
  public init(contentsOfFile path: String) throws(InputError) {
    let bytes: [UInt8]
    do {
      bytes = try InputFile.read(path, object: "public suffix list", limit: 16 * 1024 * 1024)
    } catch {
      throw InputError(
        .unreadableFile, object: "public suffix list", source: "file \(path)",
        detail: "\(error.detail) (Debian's publicsuffix package provides it: scripts/setup.sh installs it)")
    }
    try self.init(text: String(decoding: bytes, as: UTF8.self), source: "file \(path)")
  }

  /// Reads a list from its text.
  ///
  /// - Throws: ``InputError`` when the text holds no rule.
  public init(text: String, source: String = "text") throws(InputError) {
    for line in text.split(whereSeparator: \.isNewline) {
      guard let token = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first, !token.hasPrefix("//") else {
        continue
      }
      let rule = String(token).lowercased()
      for form in Set([rule, Punycode.asciiDomain(rule)].compactMap { $0 }) {
        if form.hasPrefix("!") {
          exceptions.insert(String(form.dropFirst()))
        } else if form.hasPrefix("*.") {
          wildcards.insert(String(form.dropFirst(2)))
        } else {
          exact.insert(form)
        }
      }
      ruleCount += 1
    }
    guard ruleCount > 0 else {
      throw InputError(.empty, object: "public suffix list", source: source, detail: "it holds no rule")
    }
    let rules = exact.sorted() + ["*"] + wildcards.sorted() + ["!"] + exceptions.sorted()
    identity = SPKIPin.sha256(Array(rules.joined(separator: "\n").utf8)).hexString
  }

  /// Whether `domain` (lower- or upper-case, without a trailing dot) is itself a public suffix:
  /// a rule names it, a wildcard rule covers it and no exception rule takes it out, or it is a
  /// single label (the list's implicit `*` rule).
  public func isPublicSuffix(_ domain: String) -> Bool {
    let name = domain.lowercased()
    if exact.contains(name) { return true }
    guard let dot = name.firstIndex(of: ".") else { return !name.isEmpty }
    if exceptions.contains(name) { return false }
    return wildcards.contains(String(name[name.index(after: dot)...]))
  }

  /// The system's list, loaded once (``defaultPath``).
  ///
  /// - Throws: ``InputError`` when the file is missing or unreadable.
  public static var system: PublicSuffixList {
    get throws(InputError) { try systemList.get() }
  }

  private static let systemList: Result<PublicSuffixList, InputError> = {
    do throws(InputError) {
      return .success(try PublicSuffixList(contentsOfFile: defaultPath))
    } catch {
      return .failure(error)
    }
  }()
}

/// RFC 3492 Punycode, the encoding of internationalized labels as `xn--` A-labels.
enum Punycode {
  /// The domain with each non-ASCII label encoded (`公司.cn` → `xn--55qx5d.cn`), or `nil` when it
  /// is all ASCII already.
  static func asciiDomain(_ domain: String) -> String? {
    guard domain.unicodeScalars.contains(where: { !$0.isASCII }) else { return nil }
    let labels = domain.split(separator: ".", omittingEmptySubsequences: false).map { label -> String in
      let prefix = label.hasPrefix("!") ? "!" : ""
      let body = label.hasPrefix("!") ? label.dropFirst() : label[...]
      guard body.unicodeScalars.contains(where: { !$0.isASCII }) else { return String(label) }
      return prefix + "xn--" + encode(Array(body.unicodeScalars.map(\.value)))
    }
    return labels.joined(separator: ".")
  }

  /// The Punycode of one label's code points (RFC 3492 section 6.3).
  static func encode(_ input: [UInt32]) -> String {
    let base: UInt32 = 36
    let tMin: UInt32 = 1
    let tMax: UInt32 = 26
    var output = input.filter { $0 < 0x80 }.map { UInt8($0) }
    let basicCount = UInt32(output.count)
    var handled = basicCount
    if basicCount > 0 { output.append(UInt8(ascii: "-")) }
    var n: UInt32 = 0x80
    var delta: UInt32 = 0
    var bias: UInt32 = 72
    func digit(_ value: UInt32) -> UInt8 { UInt8(value < 26 ? value + 97 : value + 22) }
    func adapt(_ delta: UInt32, _ count: UInt32, _ first: Bool) -> UInt32 {
      var delta = first ? delta / 700 : delta / 2
      delta += delta / count
      var k: UInt32 = 0
      while delta > ((base - tMin) * tMax) / 2 {
        delta /= base - tMin
        k += base
      }
      return k + (base - tMin + 1) * delta / (delta + 38)
    }
    while handled < UInt32(input.count) {
      let m = input.filter { $0 >= n }.min() ?? n
      delta &+= (m - n) &* (handled + 1)
      n = m
      for c in input {
        if c < n { delta &+= 1 }
        if c == n {
          var q = delta
          var k = base
          while true {
            let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
            if q < t { break }
            output.append(digit(t + (q - t) % (base - t)))
            q = (q - t) / (base - t)
            k += base
          }
          output.append(digit(q))
          bias = adapt(delta, handled + 1, handled == basicCount)
          delta = 0
          handled += 1
        }
      }
      delta &+= 1
      n += 1
    }
    return String(decoding: output, as: UTF8.self)
  }
}
