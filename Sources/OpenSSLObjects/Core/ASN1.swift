import COpenSSLFull

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// An ASN.1 object identifier (`ASN1_OBJECT`), kept as its dotted numeric form.
public struct OID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
  /// The dotted numeric form, for example `"1.3.6.1.5.5.7.3.1"`.
  public let dotted: String

  /// Makes an identifier from its dotted numeric form, or from a name OpenSSL knows
  /// (`"serverAuth"`, `"commonName"`), translated with `OBJ_txt2obj`.
  public init(_ text: String) {
    let object = unsafe ErrorQueue.isolated { _ in unsafe OBJ_txt2obj(text, 0) }
    defer { unsafe ASN1_OBJECT_free(object) }
    self.dotted = unsafe object.map(OID.dottedText) ?? text
  }

  /// Makes an identifier from a literal, as ``init(_:)`` does.
  public init(stringLiteral value: String) {
    self.init(value)
  }

  /// Reads an `ASN1_OBJECT` (borrowed).
  init(object: OpaquePointer) {
    self.dotted = unsafe OID.dottedText(object)
  }

  /// OpenSSL's short name (`OBJ_nid2sn`), for example `"serverAuth"`, if it knows the identifier.
  public var shortName: String? {
    let nid = self.nid
    guard nid != NID_undef, let name = unsafe OBJ_nid2sn(nid) else { return nil }
    return unsafe String(cString: name)
  }

  /// OpenSSL's long name (`OBJ_nid2ln`), for example `"TLS Web Server Authentication"`.
  public var longName: String? {
    let nid = self.nid
    guard nid != NID_undef, let name = unsafe OBJ_nid2ln(nid) else { return nil }
    return unsafe String(cString: name)
  }

  /// OpenSSL's numeric identifier for the object (`OBJ_txt2nid`), `NID_undef` (0) if unknown.
  public var nid: Int32 { ErrorQueue.isolated { _ in unsafe OBJ_txt2nid(dotted) } }

  /// The short name when OpenSSL knows one, otherwise the dotted form.
  public var description: String { shortName ?? dotted }

  /// A new `ASN1_OBJECT` for this identifier (`OBJ_txt2obj`), owned by the caller.
  func makeObject() -> OpaquePointer? {
    unsafe ErrorQueue.isolated { _ in unsafe OBJ_txt2obj(dotted, 1) }
  }

  private static func dottedText(_ object: OpaquePointer) -> String {
    // A stack buffer: identifiers are read in bulk from extensions, and the text almost always fits.
    let text = unsafe withUnsafeTemporaryAllocation(of: CChar.self, capacity: 128) { buffer -> String? in
      let length = unsafe OBJ_obj2txt(buffer.baseAddress, Int32(buffer.count), object, 1)
      guard length >= 0, length < buffer.count else { return nil }
      return unsafe String(cString: buffer.baseAddress!)
    }
    if let text { return text }
    var buffer = unsafe [CChar](repeating: 0, count: Int(max(OBJ_obj2txt(nil, 0, object, 1), 0)) + 1)
    _ = unsafe OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
    return unsafe buffer.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
  }

  // MARK: Extended key usages

  /// TLS server authentication (`id-kp-serverAuth`).
  public static let serverAuth: OID = "1.3.6.1.5.5.7.3.1"
  /// TLS client authentication (`id-kp-clientAuth`).
  public static let clientAuth: OID = "1.3.6.1.5.5.7.3.2"
  /// Code signing (`id-kp-codeSigning`).
  public static let codeSigning: OID = "1.3.6.1.5.5.7.3.3"
  /// E-mail protection (`id-kp-emailProtection`).
  public static let emailProtection: OID = "1.3.6.1.5.5.7.3.4"
  /// Time stamping (`id-kp-timeStamping`).
  public static let timeStamping: OID = "1.3.6.1.5.5.7.3.8"
  /// OCSP signing (`id-kp-OCSPSigning`).
  public static let ocspSigning: OID = "1.3.6.1.5.5.7.3.9"
  /// Any extended key usage (`anyExtendedKeyUsage`).
  public static let anyExtendedKeyUsage: OID = "2.5.29.37.0"

  // MARK: Access methods

  /// The OCSP access method of authority information access (`id-ad-ocsp`).
  public static let ocsp: OID = "1.3.6.1.5.5.7.48.1"
  /// The CA issuers access method of authority information access (`id-ad-caIssuers`).
  public static let caIssuers: OID = "1.3.6.1.5.5.7.48.2"
}

/// A certificate or CRL serial number: an ASN.1 INTEGER of any size.
public struct SerialNumber: Hashable, Sendable, CustomStringConvertible {
  /// The magnitude, big-endian, without leading zero bytes (empty for zero).
  public let magnitude: [UInt8]
  /// Whether the number is negative (RFC 5280 forbids it; real certificates still have them).
  public let isNegative: Bool

  /// Makes a serial number from its big-endian magnitude.
  public init(magnitude: [UInt8], isNegative: Bool = false) {
    let trimmed = Array(magnitude.drop { $0 == 0 })
    self.magnitude = trimmed
    self.isNegative = isNegative && !trimmed.isEmpty
  }

  /// Makes a serial number from an integer.
  public init(_ value: UInt64) {
    var bytes: [UInt8] = []
    var rest = value
    while rest > 0 {
      bytes.insert(UInt8(rest & 0xFF), at: 0)
      rest >>= 8
    }
    self.init(magnitude: bytes)
  }

  /// A random positive 159-bit serial number (`RAND_bytes`), as CAs should issue.
  public static func random() -> SerialNumber {
    var bytes = [UInt8](repeating: 0, count: 20)
    if ErrorQueue.isolated({ _ in unsafe RAND_bytes(&bytes, Int32(bytes.count)) }) != 1 {
      // The DRBG failed: fall back to the system generator rather than issue a fixed number.
      var generator = SystemRandomNumberGenerator()
      for index in bytes.indices { bytes[index] = generator.next() }
    }
    bytes[0] &= 0x7F
    bytes[0] |= 0x01
    return SerialNumber(magnitude: bytes)
  }

  /// Reads an `ASN1_INTEGER` (borrowed).
  init(integer: some ASN1StringReference) {
    let address = unsafe integer.asn1Address
    let length = unsafe Int(oo_ASN1_STRING_length(address))
    let data = unsafe oo_ASN1_STRING_get0_data(address)
    let bytes = unsafe data.map { unsafe Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
    unsafe self.init(magnitude: bytes, isNegative: oo_ASN1_STRING_type(address) == V_ASN1_NEG_INTEGER)
  }

  /// Upper-case hexadecimal, as `openssl x509 -serial` prints it (`"-"` in front if negative).
  public var hex: String {
    let digits = magnitude.isEmpty ? "00" : magnitude.hexString.uppercased()
    return (isNegative ? "-" : "") + digits
  }

  /// Decimal (`BN_bn2dec`).
  public var decimal: String {
    let text = unsafe ErrorQueue.isolated { _ -> UnsafeMutablePointer<CChar>? in
      let bn = unsafe BN_bin2bn(magnitude, Int32(magnitude.count), nil)
      defer { unsafe BN_free(bn) }
      unsafe BN_set_negative(bn, isNegative ? 1 : 0)
      return unsafe BN_bn2dec(bn)
    }
    guard let text = unsafe text else { return hex }
    defer { unsafe oo_OPENSSL_free(text) }
    return unsafe String(cString: text)
  }

  /// A readable description, without secret material.
  public var description: String { hex }

  /// A new `ASN1_INTEGER` with this value, owned by the caller (free it with ``ASN1/free(_:)``).
  func makeInteger<Pointer: ASN1StringArgument>() -> Pointer? {
    let made = unsafe ErrorQueue.isolated { _ in
      let bn = unsafe BN_bin2bn(magnitude, Int32(magnitude.count), nil)
      defer { unsafe BN_free(bn) }
      unsafe BN_set_negative(bn, isNegative ? 1 : 0)
      return unsafe oo_BN_to_ASN1_INTEGER(bn)
    }
    return unsafe made.map { unsafe Pointer(asn1Address: $0) }
  }
}

/// A pointer to an object of OpenSSL's `ASN1_STRING` family (`ASN1_INTEGER`, `ASN1_TIME`,
/// `ASN1_OCTET_STRING`, ...: one C type under many names), as Swift imports it: a typed pointer from
/// OpenSSL 3's headers, `OpaquePointer` from OpenSSL 4's, where the type became opaque. The library
/// never names the C type, so that one spelling builds against both; the `oo_ASN1_*` shims take
/// the address untyped.
@unsafe
protocol ASN1StringReference {
  /// The object's address.
  var asn1Address: UnsafeMutableRawPointer { get }
}

/// Whatever type a C function takes for an `ASN1_STRING`-family argument (see
/// ``ASN1StringReference``): the call site's parameter type picks the conformance.
@unsafe
protocol ASN1StringArgument {
  /// The pointer for an object's address.
  init(asn1Address: UnsafeMutableRawPointer)
}

@unsafe
extension OpaquePointer: ASN1StringReference, ASN1StringArgument {
  var asn1Address: UnsafeMutableRawPointer { unsafe UnsafeMutableRawPointer(self) }
  init(asn1Address: UnsafeMutableRawPointer) { self.init(asn1Address) }
}

@unsafe
extension UnsafePointer: ASN1StringReference, ASN1StringArgument {
  var asn1Address: UnsafeMutableRawPointer { unsafe UnsafeMutableRawPointer(mutating: self) }
  init(asn1Address: UnsafeMutableRawPointer) { unsafe self.init(asn1Address.assumingMemoryBound(to: Pointee.self)) }
}

@unsafe
extension UnsafeMutablePointer: ASN1StringReference, ASN1StringArgument {
  var asn1Address: UnsafeMutableRawPointer { UnsafeMutableRawPointer(self) }
  init(asn1Address: UnsafeMutableRawPointer) { unsafe self.init(asn1Address.assumingMemoryBound(to: Pointee.self)) }
}

@unsafe
extension UnsafeMutableRawPointer: ASN1StringReference, ASN1StringArgument {
  var asn1Address: UnsafeMutableRawPointer { unsafe self }
  init(asn1Address: UnsafeMutableRawPointer) { unsafe self = asn1Address }
}

/// Conversions between ASN.1 values and Swift values.
enum ASN1 {
  /// An `ASN1_TIME` (borrowed) as a `Date` (`ASN1_TIME_to_tm`), `nil` if it is not a valid time.
  static func date(_ time: (some ASN1StringReference)?) -> Date? {
    guard let time = time else { return nil }
    var parts = unsafe tm()
    guard ErrorQueue.isolated({ _ in unsafe oo_ASN1_TIME_to_tm(time.asn1Address, &parts) }) == 1 else { return nil }
    return unsafe Date(timeIntervalSince1970: TimeInterval(oo_timegm(&parts)))
  }

  /// A new `ASN1_TIME` (UTCTime until 2049, GeneralizedTime after, as RFC 5280 requires), owned
  /// by the caller (`ASN1_TIME_set`; free it with ``free(_:)``).
  static func makeTime<Pointer: ASN1StringArgument>(_ date: Date) -> Pointer? {
    let made = unsafe ErrorQueue.isolated { _ in
      unsafe oo_ASN1_TIME_set(time_t(date.timeIntervalSince1970.rounded(.down)))
    }
    return unsafe made.map { unsafe Pointer(asn1Address: $0) }
  }

  /// Frees an `ASN1_STRING`-family object the caller owns (`ASN1_STRING_free`).
  static func free(_ string: (some ASN1StringReference)?) {
    guard let string = string else { return }
    unsafe oo_ASN1_STRING_free(string.asn1Address)
  }

  /// The bytes of an `ASN1_STRING` (borrowed), exactly as stored: embedded NUL bytes are kept.
  static func bytes(_ string: (some ASN1StringReference)?) -> [UInt8] {
    guard let address = unsafe string?.asn1Address, let data = unsafe oo_ASN1_STRING_get0_data(address) else {
      return []
    }
    return unsafe Array(UnsafeBufferPointer(start: data, count: Int(oo_ASN1_STRING_length(address))))
  }

  /// The bytes of an `ASN1_STRING` as text, decoded as UTF-8 without stopping at NUL bytes
  /// (straight from OpenSSL's buffer, without an intermediate array).
  static func text(_ string: (some ASN1StringReference)?) -> String {
    guard let address = unsafe string?.asn1Address, let data = unsafe oo_ASN1_STRING_get0_data(address) else {
      return ""
    }
    return unsafe String(
      decoding: UnsafeBufferPointer(start: data, count: Int(oo_ASN1_STRING_length(address))), as: UTF8.self)
  }

  /// A directory string (any of the ASN.1 string types) converted to UTF-8 (`ASN1_STRING_to_UTF8`).
  static func utf8(_ string: (some ASN1StringReference)?) -> String {
    guard let address = unsafe string?.asn1Address else { return "" }
    var output: UnsafeMutablePointer<UInt8>? = nil
    let length = ErrorQueue.isolated { _ in unsafe oo_ASN1_STRING_to_UTF8(&output, address) }
    guard length >= 0, let output = unsafe output else { return unsafe text(address) }
    defer { unsafe oo_OPENSSL_free(output) }
    return unsafe String(decoding: UnsafeBufferPointer(start: output, count: Int(length)), as: UTF8.self)
  }

  /// A new `ASN1_OCTET_STRING` holding `bytes`, owned by the caller (free it with ``free(_:)``).
  static func makeOctetString<Pointer: ASN1StringArgument>(_ bytes: [UInt8]) -> Pointer? {
    unsafe make(oo_ASN1_OCTET_STRING_new(), bytes)
  }

  /// A new `ASN1_IA5STRING` holding exactly `bytes` (NUL bytes included), owned by the caller.
  static func makeIA5String<Pointer: ASN1StringArgument>(_ bytes: [UInt8]) -> Pointer? {
    unsafe make(oo_ASN1_IA5STRING_new(), bytes)
  }

  private static func make<Pointer: ASN1StringArgument>(
    _ string: UnsafeMutableRawPointer?, _ bytes: [UInt8]
  )
    -> Pointer?
  {
    guard let string = unsafe string else { return nil }
    guard unsafe oo_ASN1_STRING_set(string, bytes, Int32(bytes.count)) == 1 else {
      unsafe oo_ASN1_STRING_free(string)
      return nil
    }
    return unsafe Pointer(asn1Address: string)
  }
}

/// The values of an OpenSSL stack of `count` entries, read with `read` (entries it returns `nil`
/// for are skipped), with the array's storage reserved up front: `compactMap` over a range cannot
/// know the count and would grow the array several times.
@inline(__always)
func stackValues<Value>(count: Int32, _ read: (Int32) -> Value?) -> [Value] {
  var values: [Value] = []
  values.reserveCapacity(Int(max(count, 0)))
  for index in 0..<max(count, 0) {
    if let value = read(index) { values.append(value) }
  }
  return values
}
