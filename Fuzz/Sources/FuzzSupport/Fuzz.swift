import COpenSSLFull
import Foundation
public import OpenSSLObjects

/// What every fuzz target shares: checks that turn a broken rule into a crash libFuzzer reports,
/// and the seed-writing mode.
public enum Fuzz {
  /// Crashes (so libFuzzer reports the input) if a call left an error on the thread's OpenSSL
  /// queue: every wrapped call must pop what it queued.
  public static func requireEmptyErrorQueue(_ what: @autoclosure () -> String) {
    let code = ERR_peek_error()
    guard code != 0 else { return }
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    fatalError("\(what()) left an error on OpenSSL's queue: \(text)")
  }

  /// Crashes with `message` unless `condition` holds.
  public static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
  }

  /// The input as bytes.
  public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
  }

  /// Reads `bytes` every way a PEM-or-DER object is read (DER, a PEM bundle, one object of
  /// either), hands each object to `exercise`, and requires an empty error queue after each.
  public static func decodeEveryWay<Object: PEMDERDecodable>(
    _ bytes: [UInt8], as type: Object.Type, _ exercise: (Object) -> Void
  ) {
    if let object = try? Object(derEncoded: bytes) { exercise(object) }
    requireEmptyErrorQueue("\(type)(derEncoded:)")
    if let objects = try? Object.all(bytes: bytes) { objects.forEach(exercise) }
    requireEmptyErrorQueue("\(type).all(bytes:)")
    if let object = try? Object(bytes: bytes) { exercise(object) }
    requireEmptyErrorQueue("\(type)(bytes:)")
  }

  /// Runs a step that must not fail (a round trip of something that parsed), crashing with
  /// `what` and the error if it does.
  public static func mustSucceed<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) -> T {
    do {
      return try body()
    } catch {
      fatalError("\(what()): \(error)")
    }
  }

  /// Parses the DER of an object that parsed (`what` names its kind) and requires it to parse
  /// and to encode to the same bytes; returns the object read again.
  @discardableResult
  public static func requireDERRoundTrip<Object>(
    _ what: String, _ der: [UInt8], parse: ([UInt8]) throws -> Object, encode: (Object) -> [UInt8]
  ) -> Object {
    let again = mustSucceed("the DER of a parsed \(what) does not parse again") { try parse(der) }
    require(encode(again) == der, "a \(what)'s DER round trip changed it")
    requireEmptyErrorQueue("the \(what)'s DER round trip")
    return again
  }

  /// What each target's `LLVMFuzzerInitialize` does: with `OO_FUZZ_WRITE_SEEDS=DIR` in the
  /// environment, writes the target's seeds into DIR and exits; otherwise returns 0 (libFuzzer's
  /// "go on").
  public static func initialize(seeds: () throws -> [String: [UInt8]]) -> Int32 {
    writeSeedsIfAsked(seeds)
    return 0
  }

  private static func writeSeedsIfAsked(_ seeds: () throws -> [String: [UInt8]]) {
    guard let directory = ProcessInfo.processInfo.environment["OO_FUZZ_WRITE_SEEDS"] else { return }
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      for (name, bytes) in try seeds().sorted(by: { $0.key < $1.key }) {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
      }
      exit(0)
    } catch {
      FileHandle.standardError.write(Data("writing seeds failed: \(error)\n".utf8))
      exit(1)
    }
  }
}

/// What an accessor gave, or "error": reading it is the point, not the value.
public func probe<T>(_ body: () throws -> T) -> String {
  guard let value = try? body() else { return "error" }
  return "\(value)"
}

/// A small PKI made once per process with the library's builders: a root, a leaf for
/// `localhost` (EC P-256) and its key, a CRL of the root that revokes another serial, and OCSP
/// responses of the root for the leaf.
public enum FuzzPKI {
  /// The root's key.
  public static let rootKey = must { try PrivateKey(generating: .ec(.p256)) }
  /// The self-signed root.
  public static let root = must {
    var builder = CertificateBuilder(subject: try X509Name(["CN": "Fuzz Root"]))
    builder.notBefore = Date(timeIntervalSinceNow: -86_400)
    builder.publicKey = try rootKey.publicKey
    builder.basicConstraints = BasicConstraints(isCA: true)
    builder.keyUsage = [.keyCertSign, .cRLSign]
    return try builder.sign(with: rootKey)
  }
  /// The leaf's key.
  public static let leafKey = must { try PrivateKey(generating: .ec(.p256)) }
  /// A leaf for `localhost`, with most extensions a parser meets.
  public static let leaf = must {
    var builder = CertificateBuilder(subject: try X509Name(["CN": "localhost", "O": "Fuzz"]))
    builder.notBefore = Date(timeIntervalSinceNow: -86_400)
    builder.publicKey = try leafKey.publicKey
    builder.subjectAlternativeNames = [.dnsName("localhost"), .ipAddress([127, 0, 0, 1]), .email("a@example.test")]
    builder.keyUsage = [.digitalSignature]
    builder.extendedKeyUsage = [.serverAuth, .clientAuth]
    builder.basicConstraints = BasicConstraints(isCA: false)
    builder.setAuthorityInformationAccess(ocsp: ["http://127.0.0.1:8080/"], caIssuers: ["http://127.0.0.1/ca.der"])
    builder.tlsFeatures = .mustStaple
    return try builder.sign(with: rootKey, issuerCertificate: root)
  }
  /// A CRL of the root.
  public static let crl = must {
    try CRLBuilder(revoked: [
      RevokedCertificate(serialNumber: SerialNumber(0x1234), revocationDate: Date(), reason: .keyCompromise)
    ]).sign(with: rootKey, issuerCertificate: root)
  }

  /// The leaf's OCSP identifier (SHA-1, as clients send it).
  public static let leafID = must { try OCSPCertID(certificate: leaf, issuer: root) }
  /// A good OCSP response for the leaf, signed by the root (its issuer), valid for a day.
  public static let ocspResponse = must { try ocspResponse(.good) }

  /// A response for the leaf with `status`, signed by the root; `adjust` changes the builder.
  public static func ocspResponse(
    _ status: OCSPCertificateStatus, adjust: (inout OCSPResponseBuilder) -> Void = { _ in }
  ) throws -> OCSPResponse {
    var builder = OCSPResponseBuilder()
    builder.add(
      leafID, status: status, thisUpdate: Date(timeIntervalSinceNow: -60),
      nextUpdate: Date(timeIntervalSinceNow: 86_400))
    adjust(&builder)
    return try builder.sign(with: rootKey, signer: root)
  }

  private static func must<T>(_ make: () throws -> T) -> T {
    do { return try make() } catch { fatalError("the fuzz fixtures could not be made: \(error)") }
  }
}
