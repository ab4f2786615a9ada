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
    guard let string = ErrorQueue.isolated({ _ in a2i_IPADDRESS(text) }) else { return nil }
    defer { ASN1_OCTET_STRING_free(string) }
    return .ipAddress(ASN1.bytes(string))
  }

  /// An IP range for name constraints from an address and a mask in text (`a2i_IPADDRESS_NC`,
  /// for example `"10.0.0.0/255.0.0.0"`), or `nil` if it is not one.
  public static func ipRange(_ text: String) -> GeneralName? {
    guard let string = ErrorQueue.isolated({ _ in a2i_IPADDRESS_NC(text) }) else { return nil }
    defer { ASN1_OCTET_STRING_free(string) }
    return .ipAddress(ASN1.bytes(string))
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
      let ok = Array(part).withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
      guard ok != nil else { return part.map(String.init).joined(separator: ".") }
      return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
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
    let value = name.pointee.d
    switch name.pointee.type {
    case GEN_DNS: self = .dnsName(ASN1.text(value.dNSName))
    case GEN_EMAIL: self = .email(ASN1.text(value.rfc822Name))
    case GEN_URI: self = .uri(ASN1.text(value.uniformResourceIdentifier))
    case GEN_IPADD: self = .ipAddress(ASN1.bytes(value.iPAddress))
    case GEN_DIRNAME: self = .directoryName(X509Name(copyingBorrowed: value.directoryName))
    case GEN_RID: self = .registeredID(OID(object: value.registeredID))
    case GEN_OTHERNAME:
      let other = value.otherName!.pointee
      let der = (try? DER.encode("i2d_ASN1_TYPE") { i2d_ASN1_TYPE(other.value, $0) }) ?? []
      self = .otherName(type: OID(object: other.type_id), value: der)
    default:
      let der =
        (try? DER.encode("i2d_GENERAL_NAME") { i2d_GENERAL_NAME(UnsafeMutablePointer(mutating: name), $0) }) ?? []
      self = .other(tag: Int(name.pointee.type), der: der)
    }
  }

  /// Reads a `GENERAL_NAMES` stack (borrowed).
  static func list(_ names: OpaquePointer?) -> [GeneralName] {
    guard let names else { return [] }
    return stackValues(count: oo_sk_GENERAL_NAME_num(names)) { index in
      oo_sk_GENERAL_NAME_value(names, index).map { GeneralName(UnsafePointer($0)) }
    }
  }

  /// A new `GENERAL_NAME`, owned by the caller, or `nil` if OpenSSL could not make it.
  func makeGeneralName() -> UnsafeMutablePointer<GENERAL_NAME>? {
    switch self {
    case .dnsName(let text):
      return Self.make(GEN_DNS, ASN1.makeIA5String(Array(text.utf8)).map(UnsafeMutableRawPointer.init))
    case .email(let text):
      return Self.make(GEN_EMAIL, ASN1.makeIA5String(Array(text.utf8)).map(UnsafeMutableRawPointer.init))
    case .uri(let text):
      return Self.make(GEN_URI, ASN1.makeIA5String(Array(text.utf8)).map(UnsafeMutableRawPointer.init))
    case .ipAddress(let bytes):
      return Self.make(GEN_IPADD, ASN1.makeOctetString(bytes).map(UnsafeMutableRawPointer.init))
    case .directoryName(let name):
      guard let copy = try? name.copiedPointer() else { return nil }
      return Self.make(GEN_DIRNAME, UnsafeMutableRawPointer(copy.raw))
    case .registeredID(let oid): return Self.make(GEN_RID, oid.makeObject().map(UnsafeMutableRawPointer.init))
    case .otherName(let type, let value):
      guard let name = GENERAL_NAME_new() else { return nil }
      guard let object = type.makeObject() else {
        GENERAL_NAME_free(name)
        return nil
      }
      var cursor: UnsafePointer<UInt8>? = nil
      let asn1Value = value.withUnsafeBufferPointer { buffer -> UnsafeMutablePointer<ASN1_TYPE>? in
        cursor = buffer.baseAddress
        return d2i_ASN1_TYPE(nil, &cursor, buffer.count)
      }
      guard let asn1Value, GENERAL_NAME_set0_othername(name, object, asn1Value) == 1 else {
        ASN1_OBJECT_free(object)
        ASN1_TYPE_free(asn1Value)
        GENERAL_NAME_free(name)
        return nil
      }
      return name
    case .other(_, let der):
      var cursor: UnsafePointer<UInt8>? = nil
      return der.withUnsafeBufferPointer { buffer in
        cursor = buffer.baseAddress
        return d2i_GENERAL_NAME(nil, &cursor, buffer.count)
      }
    }
  }

  private static func make(_ type: Int32, _ value: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<GENERAL_NAME>? {
    guard let value, let name = GENERAL_NAME_new() else { return nil }
    GENERAL_NAME_set0_value(name, type, value)
    return name
  }

  /// A new `GENERAL_NAMES` stack holding `names`, owned by the caller.
  static func makeStack(_ names: [GeneralName]) -> OpaquePointer? {
    guard let stack = oo_sk_GENERAL_NAME_new_null() else { return nil }
    for name in names {
      guard let made = name.makeGeneralName() else {
        oo_sk_GENERAL_NAME_pop_free(stack)
        return nil
      }
      if oo_sk_GENERAL_NAME_push(stack, made) == 0 {
        GENERAL_NAME_free(made)
        oo_sk_GENERAL_NAME_pop_free(stack)
        return nil
      }
    }
    return stack
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
