import COpenSSLFull

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A name of RFC 5280's `GeneralName` (`GENERAL_NAME`): the form of subject alternative names,
/// name constraints, access locations and CRL distribution points.
///
/// Names are kept exactly as encoded: a NUL byte inside a DNS name stays in the `String` and never
/// shortens it, so `"good.example\0.evil.example"` never reads as `"good.example"`.
public enum GeneralName: Hashable, Sendable, CustomStringConvertible {
  /// A DNS name (`dNSName`, an IA5String).
  case dnsName(String)
  /// An IP address (`iPAddress`): 4 or 16 bytes, or 8 or 32 (address and mask) in name constraints.
  case ipAddress([UInt8])
  /// An e-mail address (`rfc822Name`).
  case email(String)
  /// A URI (`uniformResourceIdentifier`).
  case uri(String)
  /// A distinguished name (`directoryName`).
  case directoryName(X509Name)
  /// An `otherName`: its type and the DER encoding of its value.
  case otherName(type: OID, value: [UInt8])
  /// A registered identifier (`registeredID`).
  case registeredID(OID)
  /// `x400Address` or `ediPartyName`, as their context tag (3 or 5) and DER encoding.
  case other(tag: Int, der: [UInt8])

  /// An IP address from its text form (IPv4 dotted or IPv6), parsed by OpenSSL (`a2i_IPADDRESS`),
  /// or `nil` if it is not an address.
  public static func ipAddress(_ text: String) -> GeneralName? {
    guard let string = unsafe ErrorQueue.isolated({ _ in unsafe a2i_IPADDRESS(text) }) else { return nil }
    defer { unsafe ASN1_OCTET_STRING_free(string) }
    return unsafe .ipAddress(ASN1.bytes(string))
  }

  /// An IP range for name constraints from an address and a mask in text (`a2i_IPADDRESS_NC`,
  /// for example `"10.0.0.0/255.0.0.0"`), or `nil` if it is not one.
  public static func ipRange(_ text: String) -> GeneralName? {
    guard let string = unsafe ErrorQueue.isolated({ _ in unsafe a2i_IPADDRESS_NC(text) }) else { return nil }
    defer { unsafe ASN1_OCTET_STRING_free(string) }
    return unsafe .ipAddress(ASN1.bytes(string))
  }

  /// A readable description, without secret material.
  public var description: String {
    switch self {
    case .dnsName(let name): return "DNS:\(name.visibleEscapes)"
    case .ipAddress(let bytes): return "IP:\(GeneralName.ipText(bytes))"
    case .email(let address): return "email:\(address.visibleEscapes)"
    case .uri(let uri): return "URI:\(uri.visibleEscapes)"
    case .directoryName(let name): return "DirName:\(name.rfc2253)"
    case .otherName(let type, let value): return "othername:\(type):\(value.hexString)"
    case .registeredID(let oid): return "RID:\(oid.dotted)"
    case .other(let tag, let der): return "[\(tag)]:\(der.hexString)"
    }
  }

  /// The text of an address (4 or 16 bytes) or of an address and mask (8 or 32 bytes).
  static func ipText(_ bytes: [UInt8]) -> String {
    func address(_ part: ArraySlice<UInt8>) -> String {
      let family = part.count == 4 ? AF_INET : AF_INET6
      var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
      let ok = unsafe Array(part).withUnsafeBytes {
        unsafe inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count))
      }
      guard unsafe ok != nil else { return part.map(String.init).joined(separator: ".") }
      return unsafe text.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
    }
    switch bytes.count {
    case 4, 16: return address(bytes[...])
    case 8, 32:
      let half = bytes.count / 2
      return address(bytes[0..<half]) + "/" + address(bytes[half...])
    default: return "<\(bytes.count) bytes: \(bytes.hexString)>"
    }
  }

  // MARK: Reading and making GENERAL_NAME

  /// Reads a `GENERAL_NAME` (borrowed).
  init(_ name: UnsafePointer<GENERAL_NAME>) {
    let value = unsafe name.pointee.d
    switch unsafe name.pointee.type {
    case GEN_DNS: self = unsafe .dnsName(ASN1.text(value.dNSName))
    case GEN_EMAIL: self = unsafe .email(ASN1.text(value.rfc822Name))
    case GEN_URI: self = unsafe .uri(ASN1.text(value.uniformResourceIdentifier))
    case GEN_IPADD: self = unsafe .ipAddress(ASN1.bytes(value.iPAddress))
    case GEN_DIRNAME: self = unsafe .directoryName(X509Name(copyingBorrowed: value.directoryName))
    case GEN_RID: self = unsafe .registeredID(OID(object: value.registeredID))
    case GEN_OTHERNAME:
      let other = unsafe value.otherName!.pointee
      let der = unsafe (try? DER.encode("i2d_ASN1_TYPE") { unsafe i2d_ASN1_TYPE(other.value, $0) }) ?? []
      self = unsafe .otherName(type: OID(object: other.type_id), value: der)
    default:
      let der =
        unsafe (try? DER.encode("i2d_GENERAL_NAME") {
          unsafe i2d_GENERAL_NAME(UnsafeMutablePointer(mutating: name), $0)
        }) ?? []
      self = unsafe .other(tag: Int(name.pointee.type), der: der)
    }
  }

  /// Reads a `GENERAL_NAMES` stack (borrowed).
  static func list(_ names: OpaquePointer?) -> [GeneralName] {
    guard let names = unsafe names else { return [] }
    return unsafe stackValues(count: oo_sk_GENERAL_NAME_num(names)) { index in
      unsafe oo_sk_GENERAL_NAME_value(names, index).map { unsafe GeneralName(UnsafePointer($0)) }
    }
  }

  /// A new `GENERAL_NAME`, owned by the caller, or `nil` if OpenSSL could not make it.
  func makeGeneralName() -> UnsafeMutablePointer<GENERAL_NAME>? {
    switch self {
    case .dnsName(let text):
      return unsafe Self.make(GEN_DNS, ASN1.makeIA5String(Array(text.utf8)) as UnsafeMutableRawPointer?)
    case .email(let text):
      return unsafe Self.make(GEN_EMAIL, ASN1.makeIA5String(Array(text.utf8)) as UnsafeMutableRawPointer?)
    case .uri(let text):
      return unsafe Self.make(GEN_URI, ASN1.makeIA5String(Array(text.utf8)) as UnsafeMutableRawPointer?)
    case .ipAddress(let bytes):
      return unsafe Self.make(GEN_IPADD, ASN1.makeOctetString(bytes) as UnsafeMutableRawPointer?)
    case .directoryName(let name):
      guard let copy = try? name.copiedPointer() else { return nil }
      return unsafe Self.make(GEN_DIRNAME, UnsafeMutableRawPointer(copy.raw))
    case .registeredID(let oid): return unsafe Self.make(GEN_RID, oid.makeObject().map(UnsafeMutableRawPointer.init))
    case .otherName(let type, let value):
      guard let name = unsafe GENERAL_NAME_new() else { return nil }
      guard let object = unsafe type.makeObject() else {
        unsafe GENERAL_NAME_free(name)
        return nil
      }
      var cursor: UnsafePointer<UInt8>? = nil
      let asn1Value = unsafe value.withUnsafeBufferPointer { buffer -> UnsafeMutablePointer<ASN1_TYPE>? in
        unsafe cursor = buffer.baseAddress
        return unsafe d2i_ASN1_TYPE(nil, &cursor, buffer.count)
      }
      guard let asn1Value = unsafe asn1Value, unsafe GENERAL_NAME_set0_othername(name, object, asn1Value) == 1 else {
        unsafe ASN1_OBJECT_free(object)
        unsafe ASN1_TYPE_free(asn1Value)
        unsafe GENERAL_NAME_free(name)
        return nil
      }
      return unsafe name
    case .other(_, let der):
      var cursor: UnsafePointer<UInt8>? = nil
      return unsafe der.withUnsafeBufferPointer { buffer in
        unsafe cursor = buffer.baseAddress
        return unsafe d2i_GENERAL_NAME(nil, &cursor, buffer.count)
      }
    }
  }

  private static func make(_ type: Int32, _ value: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<GENERAL_NAME>? {
    guard let value = unsafe value, let name = unsafe GENERAL_NAME_new() else { return nil }
    unsafe GENERAL_NAME_set0_value(name, type, value)
    return unsafe name
  }

  /// A new `GENERAL_NAMES` stack holding `names`, owned by the caller.
  static func makeStack(_ names: [GeneralName]) -> OpaquePointer? {
    guard let stack = unsafe oo_sk_GENERAL_NAME_new_null() else { return nil }
    for name in names {
      guard let made = unsafe name.makeGeneralName() else {
        unsafe oo_sk_GENERAL_NAME_pop_free(stack)
        return nil
      }
      if unsafe oo_sk_GENERAL_NAME_push(stack, made) == 0 {
        unsafe GENERAL_NAME_free(made)
        unsafe oo_sk_GENERAL_NAME_pop_free(stack)
        return nil
      }
    }
    return unsafe stack
  }
}

extension String {
  /// The string with control characters (NUL included) shown as `\xNN`, so that a name with a
  /// hidden NUL byte never prints as a shorter, innocent-looking name.
  var visibleEscapes: String {
    var text = ""
    for scalar in unicodeScalars {
      if scalar.value < 0x20 || scalar.value == 0x7F {
        text += "\\x" + [UInt8(scalar.value)].hexString
      } else {
        text.unicodeScalars.append(scalar)
      }
    }
    return text
  }
}
