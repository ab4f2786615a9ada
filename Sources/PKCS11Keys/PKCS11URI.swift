import COpenSSLFull
public import OpenSSLObjects

/// A PKCS#11 URI (RFC 7512): which module, slot, token and object a key or certificate lives in,
/// and how to get the PIN.
///
/// A pure Swift value: parsing and formatting call no C function. Attributes keep the order they
/// were parsed in, so that formatting a parsed URI gives the same text back (percent-encoding is
/// normalized: upper-case hex digits, only the characters RFC 7512 requires encoded, and `id`
/// always fully encoded, as its value is bytes). Attributes set later are added in the RFC's order.
///
/// Vendor attributes (any other name made of letters, digits, `-` and `_`) are kept, in the path
/// and in the query, and formatted back. The query attribute `pin-value` is kept in a wiped
/// buffer (``PINValue``), never in a `String`; ``description`` and ``formatted(revealingPINValue:)``
/// with its default redact it. A URI with both `pin-value` and `pin-source` does not parse (RFC
/// 7512 section 2.3 says a consumer must refuse it).
///
/// Parsing is strict: every error is an `InputError` (`.malformed` or `.invalidArgument`) whose
/// `offset` is the offset in UTF-8 bytes of the character that is wrong, and whose detail names the
/// attribute. Nothing from a `pin-value` is ever quoted in an error.
public struct PKCS11URI: Sendable, Hashable, CustomStringConvertible {
  /// The kinds of object a URI can name (`type=`).
  public enum ObjectType: String, Sendable, Hashable, CaseIterable {
    /// `type=public`: a public key (`CKO_PUBLIC_KEY`).
    case publicKey = "public"
    /// `type=private`: a private key (`CKO_PRIVATE_KEY`).
    case privateKey = "private"
    /// `type=cert`: a certificate (`CKO_CERTIFICATE`).
    case certificate = "cert"
    /// `type=secret-key`: a secret key (`CKO_SECRET_KEY`). libp11 0.4.12 cannot list these.
    case secretKey = "secret-key"
    /// `type=data`: a data object (`CKO_DATA`). libp11 0.4.12 cannot list these.
    case data = "data"
  }

  /// A `library-version` value: `major` or `major.minor`.
  public struct LibraryVersion: Sendable, Hashable, CustomStringConvertible {
    /// The major version.
    public var major: UInt
    /// The minor version, when given.
    public var minor: UInt?

    /// Makes a version.
    public init(major: UInt, minor: UInt? = nil) {
      self.major = major
      self.minor = minor
    }

    /// `major` or `major.minor`, as the URI writes it.
    public var description: String { minor.map { "\(major).\($0)" } ?? "\(major)" }
  }

  /// An attribute this library does not know (a vendor attribute), with its decoded value.
  public struct VendorAttribute: Sendable, Hashable {
    /// The attribute's name, for example `vendor-aaa`.
    public var name: String
    /// The decoded value: bytes, as the URI may percent-encode any byte.
    public var value: [UInt8]

    /// Makes a vendor attribute. The name must consist of letters, digits, `-` and `_`.
    public init(name: String, value: [UInt8]) {
      self.name = name
      self.value = value
    }

    /// Makes a vendor attribute with a text value.
    public init(name: String, value: String) {
      self.init(name: name, value: Array(value.utf8))
    }

    /// The value as UTF-8 text, or `nil` if it is not valid UTF-8.
    public var text: String? { String(validating: value, as: UTF8.self) }
  }

  /// The value of a `pin-value` attribute, in a buffer that is wiped (`OPENSSL_cleanse`) when the
  /// last URI holding it goes away. Immutable, so URIs that share it stay independent values.
  public final class PINValue: Sendable, Hashable {
    private let secret: SecretBytes

    /// Takes the PIN.
    public init(_ pin: consuming SecretBytes) {
      secret = pin
    }

    /// A copy of the PIN in its own wiped buffer.
    public func copy() -> SecretBytes { secret.copy() }

    /// Lends the PIN's bytes for the duration of `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
      unsafe try secret.withUnsafeBytes { bytes in unsafe try body(bytes) }
    }

    /// Compares in constant time (`CRYPTO_memcmp`) for equal lengths.
    public static func == (lhs: PINValue, rhs: PINValue) -> Bool {
      unsafe lhs.secret.withUnsafeBytes { left in
        unsafe rhs.secret.withUnsafeBytes { right in
          unsafe left.count == right.count
            && (left.isEmpty || CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0)
        }
      }
    }

    /// Hashes the length only, so that no hash table learns anything about the PIN.
    public func hash(into hasher: inout Hasher) { hasher.combine(secret.count) }
  }

  // MARK: - Storage

  /// One attribute as written: its name and its decoded value.
  enum Value: Sendable, Hashable {
    case bytes([UInt8])
    case pin(PINValue)
  }

  struct Attribute: Sendable, Hashable {
    var name: String
    var value: Value
  }

  private(set) var pathAttributes: [Attribute] = []
  private(set) var queryAttributes: [Attribute] = []

  /// An empty URI, `pkcs11:`, which matches every token and object.
  public init() {}

  // MARK: - Path attributes

  /// `token`: the token's label (`CK_TOKEN_INFO.label`).
  public var token: String? {
    get { text("token", in: pathAttributes) }
    set { setPath("token", newValue.map { Array($0.utf8) }) }
  }
  /// `manufacturer`: the token's manufacturer (`CK_TOKEN_INFO.manufacturerID`).
  public var manufacturer: String? {
    get { text("manufacturer", in: pathAttributes) }
    set { setPath("manufacturer", newValue.map { Array($0.utf8) }) }
  }
  /// `serial`: the token's serial number (`CK_TOKEN_INFO.serialNumber`).
  public var serial: String? {
    get { text("serial", in: pathAttributes) }
    set { setPath("serial", newValue.map { Array($0.utf8) }) }
  }
  /// `model`: the token's model (`CK_TOKEN_INFO.model`).
  public var model: String? {
    get { text("model", in: pathAttributes) }
    set { setPath("model", newValue.map { Array($0.utf8) }) }
  }
  /// `library-manufacturer`: the module's manufacturer (`CK_INFO.manufacturerID`).
  public var libraryManufacturer: String? {
    get { text("library-manufacturer", in: pathAttributes) }
    set { setPath("library-manufacturer", newValue.map { Array($0.utf8) }) }
  }
  /// `library-description`: the module's description (`CK_INFO.libraryDescription`).
  public var libraryDescription: String? {
    get { text("library-description", in: pathAttributes) }
    set { setPath("library-description", newValue.map { Array($0.utf8) }) }
  }
  /// `library-version`: the module's version (`CK_INFO.libraryVersion`). libp11 0.4.12 does not
  /// expose it, so a URI with this attribute cannot be matched (an "unsupported" error).
  public var libraryVersion: LibraryVersion? {
    get { text("library-version", in: pathAttributes).flatMap(Self.parseVersion) }
    set { setPath("library-version", newValue.map { Array($0.description.utf8) }) }
  }
  /// `slot-manufacturer`: the slot's manufacturer (`CK_SLOT_INFO.manufacturerID`).
  public var slotManufacturer: String? {
    get { text("slot-manufacturer", in: pathAttributes) }
    set { setPath("slot-manufacturer", newValue.map { Array($0.utf8) }) }
  }
  /// `slot-description`: the slot's description (`CK_SLOT_INFO.slotDescription`).
  public var slotDescription: String? {
    get { text("slot-description", in: pathAttributes) }
    set { setPath("slot-description", newValue.map { Array($0.utf8) }) }
  }
  /// `slot-id`: the slot's `CK_SLOT_ID`, a decimal number.
  public var slotID: UInt? {
    get { text("slot-id", in: pathAttributes).flatMap { UInt($0) } }
    set { setPath("slot-id", newValue.map { Array(String($0).utf8) }) }
  }
  /// `object`: the object's label (`CKA_LABEL`).
  public var object: String? {
    get { text("object", in: pathAttributes) }
    set { setPath("object", newValue.map { Array($0.utf8) }) }
  }
  /// `id`: the object's `CKA_ID`, as bytes.
  public var id: [UInt8]? {
    get { bytes("id", in: pathAttributes) }
    set { setPath("id", newValue) }
  }
  /// `type`: the object's class.
  public var type: ObjectType? {
    get { text("type", in: pathAttributes).flatMap(ObjectType.init(rawValue:)) }
    set { setPath("type", newValue.map { Array($0.rawValue.utf8) }) }
  }
  /// Path attributes this library does not know, in order.
  public var vendorPathAttributes: [VendorAttribute] {
    get { vendor(pathAttributes) }
    set { pathAttributes = replacingVendor(pathAttributes, with: newValue) }
  }

  // MARK: - Query attributes

  /// `pin-source`: where the PIN is, for example `file:/etc/token-pin`.
  public var pinSource: String? {
    get { text("pin-source", in: queryAttributes) }
    set { setQuery("pin-source", newValue.map { .bytes(Array($0.utf8)) }) }
  }
  /// `pin-value`: the PIN itself, in a wiped buffer. Redacted in ``description`` and by default in
  /// ``formatted(revealingPINValue:)``.
  public var pinValue: PINValue? {
    get {
      for attribute in queryAttributes where attribute.name == "pin-value" {
        if case .pin(let value) = attribute.value { return value }
      }
      return nil
    }
    set { setQuery("pin-value", newValue.map { .pin($0) }) }
  }
  /// `module-name`: the module's file name without directory or suffix, for example `softhsm2`.
  public var moduleName: String? {
    get { text("module-name", in: queryAttributes) }
    set { setQuery("module-name", newValue.map { .bytes(Array($0.utf8)) }) }
  }
  /// `module-path`: the module's path, for example `/usr/lib/softhsm/libsofthsm2.so`.
  public var modulePath: String? {
    get { text("module-path", in: queryAttributes) }
    set { setQuery("module-path", newValue.map { .bytes(Array($0.utf8)) }) }
  }
  /// Query attributes this library does not know, in order.
  public var vendorQueryAttributes: [VendorAttribute] {
    get { vendor(queryAttributes) }
    set { queryAttributes = replacingVendor(queryAttributes, with: newValue) }
  }

  // MARK: - Formatting

  /// The URI as text, with `pin-value` redacted (`pin-value=REDACTED`) unless
  /// `revealingPINValue` is `true`. Formatting the result of parsing gives the parsed text back,
  /// up to the normalization of percent-encoding (see ``PKCS11URI``).
  public func formatted(revealingPINValue: Bool = false) -> String {
    var text = "pkcs11:"
    text += pathAttributes.map { format($0, query: false, reveal: revealingPINValue) }.joined(separator: ";")
    if !queryAttributes.isEmpty {
      text += "?" + queryAttributes.map { format($0, query: true, reveal: revealingPINValue) }.joined(separator: "&")
    }
    return text
  }

  /// The URI as text with `pin-value` redacted.
  public var description: String { formatted() }

  /// The same URI without `pin-value` and `pin-source`: what may be shown, logged or stored.
  public var withoutPIN: PKCS11URI {
    var copy = self
    copy.queryAttributes.removeAll { $0.name == "pin-value" || $0.name == "pin-source" }
    return copy
  }

  private func format(_ attribute: Attribute, query: Bool, reveal: Bool) -> String {
    switch attribute.value {
    case .pin(let pin):
      guard reveal else { return "pin-value=REDACTED" }
      return unsafe "pin-value=" + pin.withUnsafeBytes { unsafe Self.percentEncode($0, query: true, everything: false) }
    case .bytes(let bytes):
      let everything = !query && attribute.name == "id"
      return unsafe attribute.name + "="
        + bytes.withUnsafeBytes { unsafe Self.percentEncode($0, query: query, everything: everything) }
    }
  }

  static let hexDigits = Array("0123456789ABCDEF".utf8)

  /// Percent-encodes every byte that is not a `pk11-pchar` (path) or `pk11-qchar` (query), or
  /// every byte when `everything` is set.
  static func percentEncode(_ bytes: UnsafeRawBufferPointer, query: Bool, everything: Bool) -> String {
    var output: [UInt8] = []
    output.reserveCapacity(bytes.count * 3)
    for index in 0..<bytes.count {
      let byte = unsafe bytes[index]
      if !everything && Grammar.isAllowed(byte, query: query) {
        output.append(byte)
      } else {
        output.append(UInt8(ascii: "%"))
        output.append(hexDigits[Int(byte >> 4)])
        output.append(hexDigits[Int(byte & 0x0F)])
      }
    }
    return String(decoding: output, as: UTF8.self)
  }

  // MARK: - Attribute access

  static let knownPathAttributes: [String] = [
    "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
    "library-version", "slot-manufacturer", "slot-description", "slot-id", "object", "id", "type",
  ]
  static let knownQueryAttributes: [String] = ["pin-source", "pin-value", "module-name", "module-path"]

  private func bytes(_ name: String, in attributes: [Attribute]) -> [UInt8]? {
    for attribute in attributes where attribute.name == name {
      if case .bytes(let bytes) = attribute.value { return bytes }
    }
    return nil
  }

  private func text(_ name: String, in attributes: [Attribute]) -> String? {
    bytes(name, in: attributes).map { String(decoding: $0, as: UTF8.self) }
  }

  private mutating func setPath(_ name: String, _ value: [UInt8]?) {
    Self.set(&pathAttributes, name, value.map { .bytes($0) }, order: Self.knownPathAttributes)
  }

  private mutating func setQuery(_ name: String, _ value: Value?) {
    Self.set(&queryAttributes, name, value, order: Self.knownQueryAttributes)
    // pin-value and pin-source exclude each other: setting one drops the other.
    if value != nil, name == "pin-value" { queryAttributes.removeAll { $0.name == "pin-source" } }
    if value != nil, name == "pin-source" { queryAttributes.removeAll { $0.name == "pin-value" } }
  }

  private static func set(_ attributes: inout [Attribute], _ name: String, _ value: Value?, order: [String]) {
    guard let value else {
      attributes.removeAll { $0.name == name }
      return
    }
    if let index = attributes.firstIndex(where: { $0.name == name }) {
      attributes[index].value = value
      return
    }
    // A new attribute goes before the first attribute that comes after it in the RFC's order.
    let rank = order.firstIndex(of: name) ?? order.count
    let position = attributes.firstIndex { (order.firstIndex(of: $0.name) ?? order.count) > rank } ?? attributes.count
    attributes.insert(Attribute(name: name, value: value), at: position)
  }

  private func vendor(_ attributes: [Attribute]) -> [VendorAttribute] {
    attributes.compactMap { attribute in
      guard !Self.knownPathAttributes.contains(attribute.name), !Self.knownQueryAttributes.contains(attribute.name),
        case .bytes(let value) = attribute.value
      else { return nil }
      return VendorAttribute(name: attribute.name, value: value)
    }
  }

  private func replacingVendor(_ attributes: [Attribute], with vendor: [VendorAttribute]) -> [Attribute] {
    let known = attributes.filter {
      Self.knownPathAttributes.contains($0.name) || Self.knownQueryAttributes.contains($0.name)
    }
    return known + vendor.map { Attribute(name: $0.name, value: .bytes($0.value)) }
  }

  static func parseVersion(_ text: String) -> LibraryVersion? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }),
      let major = UInt(parts[0])
    else { return nil }
    if parts.count == 1 { return LibraryVersion(major: major) }
    guard let minor = UInt(parts[1]) else { return nil }
    return LibraryVersion(major: major, minor: minor)
  }

  /// Internal: appends an attribute in parse order.
  mutating func append(_ attribute: Attribute, query: Bool) {
    if query { queryAttributes.append(attribute) } else { pathAttributes.append(attribute) }
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// The character classes of RFC 7512's ABNF.
enum Grammar {
  /// `unreserved` (RFC 3986): ALPHA / DIGIT / "-" / "." / "_" / "~".
  static func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
      return true
    default:
      return false
    }
  }

  /// `pk11-res-avail`: ":" / "[" / "]" / "@" / "!" / "$" / "'" / "(" / ")" / "*" / "+" / "," / "=".
  static func isReservedAvailable(_ byte: UInt8) -> Bool {
    Array(":[]@!$'()*+,=".utf8).contains(byte)
  }

  /// `pk11-pchar` (path: also "&") or `pk11-qchar` (query: also "/", "?" and "|"), without
  /// `pk11-pct-encoded`.
  static func isAllowed(_ byte: UInt8, query: Bool) -> Bool {
    if isUnreserved(byte) || isReservedAvailable(byte) { return true }
    if query { return byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "|") }
    return byte == UInt8(ascii: "&")
  }

  /// `pk11-v-attr-nm-char`: ALPHA / DIGIT / "-" / "_".
  static func isNameCharacter(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
      return true
    default:
      return false
    }
  }
}
