/// Bad input: bytes, a file or an argument that could not be turned into an OpenSSL object.
///
/// Each failure says what was being read (``object``), from where (``source``), what was wrong
/// (``reason`` and ``detail``), at which byte offset when that is known, and what OpenSSL itself
/// reported (``openSSLError``).
public struct InputError: Error, Sendable, CustomStringConvertible {
  /// What was wrong with the input. New reasons may be added; switch with a `default`.
  public struct Reason: Hashable, Sendable, CustomStringConvertible {
    fileprivate enum Base: String, Hashable, Sendable {
      case empty = "empty input"
      case tooLarge = "input too large"
      case truncated = "truncated input"
      case trailingData = "trailing data after the object"
      case malformed = "malformed input"
      case wrongPEMLabel = "wrong PEM label"
      case wrongType = "wrong type of object"
      case passphraseRequired = "passphrase required"
      case wrongPassphrase = "wrong passphrase"
      case invalidPassphrase = "invalid passphrase"
      case duplicateExtension = "duplicated extension"
      case unsupported = "unsupported"
      case invalidArgument = "invalid argument"
      case unreadableFile = "unreadable file"
      case noMatch = "nothing matched"
      case multipleObjects = "more than one object"
      case requiresNewerOpenSSL = "needs a newer OpenSSL"
    }
    fileprivate let base: Base

    /// There were no bytes at all.
    public static let empty = Reason(base: .empty)
    /// The input is larger than the limit the loader was given.
    public static let tooLarge = Reason(base: .tooLarge)
    /// The input ends before the object it starts is complete.
    public static let truncated = Reason(base: .truncated)
    /// A complete object was followed by more bytes; ``InputError/offset`` says where they start.
    public static let trailingData = Reason(base: .trailingData)
    /// The bytes are not an encoding of the expected object (garbage, bad base64, bad DER).
    public static let malformed = Reason(base: .malformed)
    /// PEM input whose blocks carry none of the labels the loader accepts.
    public static let wrongPEMLabel = Reason(base: .wrongPEMLabel)
    /// A well-formed object of another kind (a certificate where a key was expected, ...).
    public static let wrongType = Reason(base: .wrongType)
    /// The input is encrypted and no passphrase was given.
    public static let passphraseRequired = Reason(base: .passphraseRequired)
    /// The input is encrypted and the passphrase did not decrypt it.
    public static let wrongPassphrase = Reason(base: .wrongPassphrase)
    /// The passphrase itself cannot be used (for example a NUL byte where OpenSSL needs a C string).
    public static let invalidPassphrase = Reason(base: .invalidPassphrase)
    /// A certificate carries the same extension twice.
    public static let duplicateExtension = Reason(base: .duplicateExtension)
    /// The input uses something this OpenSSL cannot handle (an algorithm, a provider).
    public static let unsupported = Reason(base: .unsupported)
    /// An argument (a size, a name, a curve) is not acceptable.
    public static let invalidArgument = Reason(base: .invalidArgument)
    /// The file could not be opened or read.
    public static let unreadableFile = Reason(base: .unreadableFile)
    /// The input holds several objects where one was expected.
    public static let multipleObjects = Reason(base: .multipleObjects)
    /// A search (by name, by URI) found nothing that matched.
    public static let noMatch = Reason(base: .noMatch)
    /// The input uses something only a newer OpenSSL has (ML-DSA, ML-KEM and the hybrid groups
    /// need 3.5): ``InputError/requiredVersion`` names it.
    public static let requiresNewerOpenSSL = Reason(base: .requiresNewerOpenSSL)

    /// A readable description, without secret material.
    public var description: String { base.rawValue }
  }

  /// What was wrong.
  public let reason: Reason
  /// What was being read: "certificate", "private key", "CRL", ...
  public let object: String
  /// Where the input came from: "memory (1234 bytes)", "file /etc/ssl/cert.pem", ...
  public let source: String
  /// The byte offset in the input where the problem was found, when known.
  public let offset: Int?
  /// The facts of the case in a sentence.
  public let detail: String
  /// What OpenSSL reported, when the failure came from an OpenSSL call.
  public let openSSLError: OpenSSLError?
  /// For ``Reason/requiresNewerOpenSSL``: the oldest OpenSSL version that has what was asked for.
  public let requiredVersion: OpenSSLLibrary.Version?

  /// Makes an error value.
  public init(
    _ reason: Reason,
    object: String,
    source: String,
    offset: Int? = nil,
    detail: String,
    openSSLError: OpenSSLError? = nil,
    requiredVersion: OpenSSLLibrary.Version? = nil
  ) {
    self.reason = reason
    self.object = object
    self.source = source
    self.offset = offset
    self.detail = detail
    self.openSSLError = openSSLError
    self.requiredVersion = requiredVersion
  }

  /// Runs an OpenSSL operation on input-derived data, turning its ``OpenSSLError`` into an
  /// ``InputError`` about `object`.
  package static func converting<T>(
    _ object: String,
    reason: Reason = .malformed,
    source: String = "the input",
    _ body: () throws(OpenSSLError) -> T
  ) throws(InputError) -> T {
    do {
      return try body()
    } catch {
      throw InputError(
        reason, object: object, source: source, detail: error.last?.reasonText ?? error.description,
        openSSLError: error)
    }
  }

  /// A readable description, without secret material.
  public var description: String {
    var text = "cannot read \(object) from \(source): \(reason)"
    if let offset { text += " at byte \(offset)" }
    if !detail.isEmpty { text += ": \(detail)" }
    if let openSSLError, !openSSLError.entries.isEmpty {
      text += " [OpenSSL: \(openSSLError.entries.map(\.description).joined(separator: "; "))]"
    }
    return text
  }
}

/// Where input bytes came from, for error messages.
public struct InputSource: Sendable, Hashable, CustomStringConvertible {
  /// The text used in error messages.
  public let description: String

  /// Bytes in memory.
  public static func memory(count: Int) -> InputSource { InputSource(description: "memory (\(count) bytes)") }
  /// A file.
  public static func file(_ path: String) -> InputSource { InputSource(description: "file \(path)") }
  /// Anything else, described in words.
  public static func named(_ text: String) -> InputSource { InputSource(description: text) }
}

/// Limits applied by loaders before they hand bytes to OpenSSL.
public enum InputLimits {
  /// The largest input a loader accepts by default: 16 MiB. A certificate, key or CRL larger
  /// than this is not one a peer should be able to make us parse.
  public static let defaultMaximumSize = 16 << 20
}
