/// One object on a token, as listed by ``PKCS11Token/objects()``: a copy of its facts, which owns
/// nothing and keeps nothing alive.
public struct PKCS11ObjectInfo: Sendable, Hashable, CustomStringConvertible {
  /// The object's class. The raw values are the URI's `type` values.
  public enum Kind: String, Sendable, Hashable, CaseIterable {
    /// A private key (`CKO_PRIVATE_KEY`, `PKCS11_enumerate_keys`).
    case privateKey = "private"
    /// A public key (`CKO_PUBLIC_KEY`, `PKCS11_enumerate_public_keys`).
    case publicKey = "public"
    /// A certificate (`CKO_CERTIFICATE`, `PKCS11_enumerate_certs`).
    case certificate = "cert"

    /// Words for messages: "private key", "public key", "certificate".
    public var words: String {
      switch self {
      case .privateKey: "private key"
      case .publicKey: "public key"
      case .certificate: "certificate"
      }
    }
  }

  /// The object's class.
  public let kind: Kind
  /// The object's label (`CKA_LABEL`).
  public let label: String
  /// The object's `CKA_ID`.
  public let id: [UInt8]
  /// The key's algorithm as OpenSSL names it (`EVP_PKEY_get0_type_name`: `RSA`, `EC`, ...); for a
  /// certificate, its public key's. `nil` when libp11 could not read the key.
  public let keyType: String?
  /// The key's size in bits (`EVP_PKEY_get_bits`); for a certificate, its public key's.
  public let keyBits: Int?
  /// For a certificate, its subject (RFC 2253).
  public let subject: String?
  /// A URI naming exactly this object: token, object label, id and type.
  public let uri: PKCS11URI

  /// The `id` in lower-case hex.
  public var idHex: String { id.map { String($0, radix: 16).leftPadded(to: 2) }.joined() }

  /// For example `private key "rsa-2048" id 01 (RSA 2048 bits)`.
  public var description: String {
    var text = "\(kind.words) \"\(label)\" id \(idHex.isEmpty ? "(none)" : idHex)"
    if let keyType { text += " (\(keyType)\(keyBits.map { " \($0) bits" } ?? ""))" }
    return text
  }

  init(kind: Kind, label: String, id: [UInt8], keyType: String?, keyBits: Int?, subject: String?, token: String) {
    self.kind = kind
    self.label = label
    self.id = id
    self.keyType = keyType
    self.keyBits = keyBits
    self.subject = subject
    var uri = PKCS11URI()
    uri.token = token
    uri.object = label
    if !id.isEmpty { uri.id = id }
    uri.type = PKCS11URI.ObjectType(rawValue: kind.rawValue)
    self.uri = uri
  }
}

extension String {
  fileprivate func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
