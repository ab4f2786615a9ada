import COpenSSLFull
public import OpenSSLObjects

extension PKCS11URI {
  /// Parses a PKCS#11 URI strictly by RFC 7512's grammar.
  ///
  /// The scheme is matched without regard to case (`PKCS11:` parses; formatting writes `pkcs11:`).
  /// A `pin-value` is decoded straight into a wiped buffer; the bytes copied from `text` for
  /// parsing are wiped afterwards (the caller's `String` itself cannot be).
  ///
  /// - Throws: `InputError` with `.malformed` and the byte `offset` of the offending character: a
  ///   wrong scheme, a character RFC 7512 does not allow where it stands (a fragment `#`, a space,
  ///   a `;` in the query), a `%` not followed by two hex digits, an attribute without `=` or with
  ///   an empty or invalid name, an attribute given twice, a query attribute in the path or the
  ///   reverse, a bad `type`, `slot-id` or `library-version`, a text attribute that is not UTF-8;
  ///   `.invalidArgument` for a URI with both `pin-value` and `pin-source`.
  public init(parsing text: String) throws(InputError) {
    var bytes = Array(text.utf8)
    defer { unsafe bytes.withUnsafeMutableBytes { unsafe OPENSSL_cleanse($0.baseAddress, $0.count) } }
    let result = unsafe bytes.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> Result<PKCS11URI, InputError> in
      var parser = unsafe Parser(input: buffer)
      return Result { () throws(InputError) in try parser.parse() }
    }
    self = try result.get()
  }

  /// Parses a PKCS#11 URI from bytes the caller owns (a C string, for example), without ever
  /// making a `String` of them: a `pin-value` is decoded straight into a wiped buffer. The rules
  /// and errors are those of ``init(parsing:)``.
  ///
  /// The bytes must stay valid during the call; nothing is kept.
  @unsafe
  public init(parsingBytes bytes: UnsafeRawBufferPointer) throws(InputError) {
    var parser = unsafe Parser(input: bytes)
    self = try parser.parse()
  }
}

/// RFC 7512's grammar over UTF-8 bytes, with offsets for errors.
@safe
private struct Parser {
  let input: UnsafeRawBufferPointer

  private func failure(_ offset: Int, _ detail: String, reason: InputError.Reason = .malformed) -> InputError {
    InputError(
      reason, object: "PKCS#11 URI", source: unsafe "a URI of \(input.count) bytes", offset: offset, detail: detail)
  }

  /// A printable rendering of the byte at `offset` for error messages.
  private func character(at offset: Int) -> String {
    let byte = unsafe input[offset]
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    if byte == 0x20 { return "a space" }
    return "byte 0x" + String(byte, radix: 16, uppercase: true)
  }

  mutating func parse() throws(InputError) -> PKCS11URI {
    let scheme = Array("pkcs11:".utf8)
    guard unsafe input.count >= scheme.count,
      unsafe zip(input.prefix(scheme.count), scheme).allSatisfy({ Self.lowercased($0) == $1 })
    else {
      let mismatch =
        unsafe zip(input, scheme).enumerated().first { Self.lowercased($0.element.0) != $0.element.1 }?.offset
        ?? min(input.count, scheme.count)
      throw failure(mismatch, "a PKCS#11 URI starts with \"pkcs11:\"")
    }
    var uri = PKCS11URI()
    let queryStart = unsafe input[scheme.count...].firstIndex(of: UInt8(ascii: "?"))
    let pathEnd = unsafe queryStart ?? input.count
    try parseComponent(scheme.count, pathEnd, query: false, into: &uri)
    if let queryStart {
      unsafe try parseComponent(queryStart + 1, input.count, query: true, into: &uri)
    }
    return uri
  }

  /// Parses `[attr *(separator attr)]` between `start` and `end`.
  private func parseComponent(_ start: Int, _ end: Int, query: Bool, into uri: inout PKCS11URI) throws(InputError) {
    guard start < end else { return }
    let separator = query ? UInt8(ascii: "&") : UInt8(ascii: ";")
    var attributeStart = start
    var seen: [String: Int] = [:]
    var index = start
    while index <= end {
      if unsafe index == end || input[index] == separator {
        let attribute = try parseAttribute(attributeStart, index, query: query)
        if seen[attribute.name] != nil {
          throw failure(attributeStart, "the attribute \(attribute.name) appears twice")
        }
        if query {
          let other = attribute.name == "pin-value" ? "pin-source" : attribute.name == "pin-source" ? "pin-value" : nil
          if let other, seen[other] != nil {
            throw failure(
              attributeStart,
              "the URI has both pin-value and pin-source; RFC 7512 says a URI must not give both",
              reason: .invalidArgument)
          }
        }
        seen[attribute.name] = attributeStart
        uri.append(attribute, query: query)
        attributeStart = index + 1
      }
      index += 1
    }
  }

  private func parseAttribute(_ start: Int, _ end: Int, query: Bool) throws(InputError) -> PKCS11URI.Attribute {
    let component = query ? "query" : "path"
    guard start < end else {
      throw failure(start, "an empty attribute in the \(component) (two separators in a row, or one at the end)")
    }
    guard let equals = unsafe input[start..<end].firstIndex(of: UInt8(ascii: "=")) else {
      // Name the first character that cannot be part of a name, or the end of the attribute.
      let bad = unsafe input[start..<end].firstIndex { !Grammar.isNameCharacter($0) }
      if let bad { throw failure(bad, "\(character(at: bad)) cannot appear in an attribute name") }
      throw failure(end, "the attribute has no \"=\" and no value")
    }
    guard equals > start else { throw failure(start, "an attribute with an empty name") }
    if let bad = unsafe input[start..<equals].firstIndex(where: { !Grammar.isNameCharacter($0) }) {
      throw failure(bad, "\(character(at: bad)) cannot appear in an attribute name")
    }
    let name = unsafe String(decoding: UnsafeRawBufferPointer(rebasing: input[start..<equals]), as: UTF8.self)
    if query, PKCS11URI.knownPathAttributes.contains(name) {
      throw failure(start, "\(name) is a path attribute; it belongs before the \"?\"")
    }
    if !query, PKCS11URI.knownQueryAttributes.contains(name) {
      throw failure(start, "\(name) is a query attribute; it belongs after the \"?\"")
    }
    let valueStart = equals + 1
    let isPIN = query && name == "pin-value"

    // Validate every character before decoding anything.
    var index = valueStart
    var decodedCount = 0
    while index < end {
      let byte = unsafe input[index]
      if byte == UInt8(ascii: "%") {
        guard index + 2 < end, unsafe Self.hexValue(input[index + 1]) != nil,
          unsafe Self.hexValue(input[index + 2]) != nil
        else {
          throw failure(
            index, "\"%\" must be followed by two hex digits (percent-encoding) in the value of \(name)")
        }
        index += 3
      } else if Grammar.isAllowed(byte, query: query) {
        index += 1
      } else {
        let what = isPIN ? "a character" : character(at: index)
        let hint =
          byte == UInt8(ascii: "#")
          ? " (PKCS#11 URIs have no fragment; encode it as %23)"
          : " (percent-encode it)"
        throw failure(index, "\(what) is not allowed in the \(component) value of \(name)\(hint)")
      }
      decodedCount += 1
    }

    if isPIN {
      let secret = unsafe decode(valueStart, end, count: decodedCount) { buffer in unsafe SecretBytes(copying: buffer) }
      return PKCS11URI.Attribute(name: name, value: .pin(PKCS11URI.PINValue(secret)))
    }
    let bytes = unsafe decode(valueStart, end, count: decodedCount) { unsafe Array($0) }
    try check(name, bytes, valueStart, end)
    return PKCS11URI.Attribute(name: name, value: .bytes(bytes))
  }

  /// Checks the attributes whose values have a grammar of their own, and that text is UTF-8.
  private func check(_ name: String, _ bytes: [UInt8], _ start: Int, _ end: Int) throws(InputError) {
    let raw = unsafe UnsafeRawBufferPointer(rebasing: input[start..<end])
    func digits(_ slice: Slice<UnsafeRawBufferPointer>) -> Bool {
      unsafe !slice.isEmpty && slice.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
    switch name {
    case "type":
      let text = String(decoding: bytes, as: UTF8.self)
      guard PKCS11URI.ObjectType(rawValue: text) != nil else {
        throw failure(
          start,
          "type must be one of \(PKCS11URI.ObjectType.allCases.map(\.rawValue).joined(separator: ", "))")
      }
    case "slot-id":
      if let bad = unsafe raw.firstIndex(where: { $0 < UInt8(ascii: "0") || $0 > UInt8(ascii: "9") }) {
        throw failure(start + bad, "slot-id is a decimal number; \(character(at: start + bad)) is not a digit")
      }
      guard unsafe !raw.isEmpty else { throw failure(start, "slot-id is empty; it is a decimal number") }
      guard unsafe UInt(String(decoding: raw, as: UTF8.self)) != nil else {
        throw failure(start, "slot-id is too large for a CK_SLOT_ID")
      }
    case "library-version":
      let dot = unsafe raw.firstIndex(of: UInt8(ascii: "."))
      let majorOK = unsafe digits(raw[..<(dot ?? raw.count)])
      let minorOK = dot.map { unsafe digits(raw[($0 + 1)...]) } ?? true
      guard majorOK, minorOK, unsafe PKCS11URI.parseVersion(String(decoding: raw, as: UTF8.self)) != nil else {
        let bad = unsafe raw.firstIndex {
          !($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) && $0 != UInt8(ascii: ".")
        }
        throw failure(start + (bad ?? 0), "library-version is MAJOR or MAJOR.MINOR in decimal digits")
      }
    case "id":
      break  // Bytes.
    default:
      if PKCS11URI.knownPathAttributes.contains(name) || PKCS11URI.knownQueryAttributes.contains(name) {
        guard String(validating: bytes, as: UTF8.self) != nil else {
          throw failure(start, "the value of \(name) is not UTF-8 text once percent-decoded")
        }
      }
    }
  }

  /// Percent-decodes a validated value into a temporary buffer that is wiped after `body`.
  private func decode<Result: ~Copyable>(
    _ start: Int, _ end: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> Result
  ) -> Result {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
    defer {
      unsafe OPENSSL_cleanse(buffer.baseAddress, buffer.count)
      unsafe buffer.deallocate()
    }
    var index = start
    var written = 0
    while index < end {
      if unsafe input[index] == UInt8(ascii: "%") {
        unsafe buffer[written] = unsafe Self.hexValue(input[index + 1])! << 4 | Self.hexValue(input[index + 2])!
        index += 3
      } else {
        unsafe buffer[written] = unsafe input[index]
        index += 1
      }
      written += 1
    }
    return unsafe body(UnsafeRawBufferPointer(rebasing: buffer[0..<written]))
  }

  /// ASCII letters in lower case, every other byte unchanged.
  static func lowercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
  }

  static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}
