import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// Builds and signs OCSP responses (`OCSP_BASICRESP_new`, `OCSP_basic_add1_status`,
/// `OCSP_basic_sign`, `OCSP_response_create`): for a responder, a test CA, or a server that
/// refreshes its own staple.
///
/// ```swift
/// import Foundation
/// import OpenSSLObjects
///
/// var builder = OCSPResponseBuilder()
/// builder.add(try OCSPCertID(certificate: leaf, issuer: ca), status: .good,
///             nextUpdate: Date(timeIntervalSinceNow: 86_400))
/// let response = try builder.sign(with: caKey, signer: ca)
/// ```
public struct OCSPResponseBuilder: Sendable {
  /// One single response to include.
  public struct Entry: Sendable {
    /// The certificate it is about.
    public var id: OCSPCertID
    /// Its status.
    public var status: OCSPCertificateStatus
    /// thisUpdate.
    public var thisUpdate: Date
    /// nextUpdate, or `nil` to omit it.
    public var nextUpdate: Date?

    /// Makes an entry.
    public init(id: OCSPCertID, status: OCSPCertificateStatus, thisUpdate: Date, nextUpdate: Date?) {
      self.id = id
      self.status = status
      self.thisUpdate = thisUpdate
      self.nextUpdate = nextUpdate
    }
  }

  /// The single responses, in order.
  public var entries: [Entry] = []
  /// Name the responder by the hash of its key (`OCSP_RESPID_KEY`) instead of its subject name.
  public var responderIDByKey = false
  /// Include the signer's certificate (without it: `OCSP_NOCERTS`).
  public var includeSignerCertificate = true
  /// More certificates to include, for example the chain of a delegated responder.
  public var extraCertificates: [X509Certificate] = []
  /// A nonce to echo (`OCSP_basic_add1_nonce`); see also ``echoNonce(of:)``.
  public var nonce: [UInt8]?
  /// The signature digest; `nil` takes SHA-256 (none for EdDSA).
  public var digest: Digest?

  /// An empty builder.
  public init() {}

  /// Adds a single response (`thisUpdate` now unless given).
  public mutating func add(
    _ id: OCSPCertID, status: OCSPCertificateStatus, thisUpdate: Date = Date(), nextUpdate: Date? = nil
  ) {
    entries.append(Entry(id: id, status: status, thisUpdate: thisUpdate, nextUpdate: nextUpdate))
  }

  /// Echoes the request's nonce, if it has one.
  public mutating func echoNonce(of request: OCSPRequest) {
    nonce = request.nonce
  }

  /// Signs with `key`, the private key of `signer` (the issuing CA, or a responder it delegated
  /// with the OCSP-signing extended key usage), and wraps the result in a successful response.
  ///
  /// - Throws: ``InputError`` if a value cannot be encoded or OpenSSL cannot sign (a key that does
  ///   not match the certificate, `OCSP_R_PRIVATE_KEY_DOES_NOT_MATCH_CERTIFICATE`).
  public func sign(with key: PrivateKey, signer: X509Certificate) throws -> OCSPResponse {
    let basic = unsafe OCSPBasicResponse(takingOwnershipOf: OpenSSLPointer(OCSP_BASICRESP_new()!))
    let pointer = unsafe basic.pointer
    for entry in entries {
      unsafe try add(entry, to: pointer)
    }
    if var nonce {
      try Self.check("OCSP_basic_add1_nonce") { unsafe OCSP_basic_add1_nonce(pointer, &nonce, Int32(nonce.count)) }
    }
    let md = unsafe try SignatureOperation.digestAlgorithm(
      digest, for: key.algorithm, object: "OCSP response signature")
    var flags = UInt(0)
    if responderIDByKey { flags |= UInt(OCSP_RESPID_KEY) }
    if !includeSignerCertificate { flags |= UInt(OCSP_NOCERTS) }
    unsafe try X509Stack.withStack(extraCertificates) { stack throws(InputError) in
      try Self.check("OCSP_basic_sign") {
        unsafe OCSP_basic_sign(pointer, signer.pointer, key.pointer, md, stack, flags)
      }
    }
    if !includeSignerCertificate {
      // OCSP_NOCERTS leaves out the extra certificates too; add them on their own.
      for certificate in extraCertificates {
        try Self.check("OCSP_basic_add1_cert") { unsafe OCSP_basic_add1_cert(pointer, certificate.pointer) }
      }
    }
    return try OCSPResponse(status: .successful, basic: basic)
  }

  /// A response that carries only an error status (`OCSP_response_create` without a basic
  /// response): what a responder answers when it cannot answer.
  public static func errorResponse(_ status: OCSPResponse.Status) throws(InputError) -> OCSPResponse {
    try OCSPResponse(status: status)
  }

  private func add(_ entry: Entry, to basic: OpaquePointer) throws(InputError) {
    let status: Int32
    var reason: Int32 = -1
    var revocationTime: Date? = nil
    switch entry.status {
    case .good: status = V_OCSP_CERTSTATUS_GOOD
    case .unknown: status = V_OCSP_CERTSTATUS_UNKNOWN
    case .revoked(let time, let why):
      status = V_OCSP_CERTSTATUS_REVOKED
      reason = Int32(why?.rawValue ?? -1)
      revocationTime = time
    }
    let times = unsafe [entry.thisUpdate, entry.nextUpdate, revocationTime].map { date in
      unsafe date.flatMap(ASN1.makeTime)
    }
    defer { unsafe times.forEach { unsafe ASN1_TIME_free($0) } }
    try Self.check("OCSP_basic_add1_status") {
      withExtendedLifetime(entry.id) {
        unsafe OCSP_basic_add1_status(basic, entry.id.pointer, status, reason, times[2], times[0], times[1]) == nil
          ? 0 : 1
      }
    }
  }

  private static func check(_ operation: String, _ body: () -> Int32) throws(InputError) {
    try InputError.converting("OCSP response", reason: .invalidArgument, source: "the response builder") {
      () throws(OpenSSLError) in
      try ErrorQueue.check(operation, body)
    }
  }
}
