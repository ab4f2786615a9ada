import COpenSSLFull

/// An OCSP response (`OCSP_RESPONSE`): a response status and, when successful, a basic response.
///
/// OpenSSL 3.0 does not reference-count `OCSP_RESPONSE`: this type owns its own
/// (`OCSP_RESPONSE_free`) and offers adopt, borrow and copy (`ASN1_item_dup` with
/// `OCSP_RESPONSE_it`). Immutable once made, hence `Sendable`.
public final class OCSPResponse: OpenSSLObjectBase, OpenSSLCopyable, PEMDERDecodable, @unchecked Sendable {
  override package class var cType: CObjectType { .ocspResponse }

  /// The response status (RFC 6960 `OCSPResponseStatus`, `OCSP_response_status`).
  public enum Status: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A basic response follows (`OCSP_RESPONSE_STATUS_SUCCESSFUL`).
    case successful = 0
    /// The responder could not parse the request (`OCSP_RESPONSE_STATUS_MALFORMEDREQUEST`).
    case malformedRequest = 1
    /// The responder failed (`OCSP_RESPONSE_STATUS_INTERNALERROR`).
    case internalError = 2
    /// Try again later (`OCSP_RESPONSE_STATUS_TRYLATER`).
    case tryLater = 3
    /// The request must be signed (`OCSP_RESPONSE_STATUS_SIGREQUIRED`).
    case signatureRequired = 5
    /// The responder does not answer for this certificate (`OCSP_RESPONSE_STATUS_UNAUTHORIZED`).
    case unauthorized = 6

    /// The snake_case name the CLI prints: `successful`, `malformed_request`, `internal_error`,
    /// `try_later`, `sig_required`, `unauthorized`.
    public var description: String {
      switch self {
      case .successful: "successful"
      case .malformedRequest: "malformed_request"
      case .internalError: "internal_error"
      case .tryLater: "try_later"
      case .signatureRequired: "sig_required"
      case .unauthorized: "unauthorized"
      }
    }
  }

  /// Makes a response from a status and, for ``Status/successful``, a basic response
  /// (`OCSP_response_create`, which copies the basic response).
  ///
  /// - Throws: ``InputError`` if OpenSSL cannot encode it.
  public convenience init(status: Status, basic: OCSPBasicResponse? = nil) throws(InputError) {
    let pointer = unsafe try InputError.converting(
      "OCSP response", reason: .invalidArgument, source: "OCSP_response_create"
    ) {
      () throws(OpenSSLError) in
      unsafe try ErrorQueue.call("OCSP_response_create") {
        unsafe withExtendedLifetime(basic) { unsafe OCSP_response_create(status.rawValue, basic?.pointer) }
      }
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  // MARK: - Loading and encoding

  /// How responses are read: `OCSP RESPONSE` PEM blocks or DER, with `d2i_OCSP_RESPONSE`.
  public static let decodingRules = unsafe ObjectDecoder(
    object: "OCSP response", labels: ObjectKind.ocspResponse.pemLabels,
    d2i: { _ in { unsafe d2i_OCSP_RESPONSE($0, $1, $2) } }, operation: { _ in "d2i_OCSP_RESPONSE" },
    free: { unsafe OCSP_RESPONSE_free($0) })

  /// The DER encoding (`i2d_OCSP_RESPONSE`): what a responder sends and a server staples.
  public var derEncoded: [UInt8] {
    unsafe (try? DER.encode("i2d_OCSP_RESPONSE") { unsafe i2d_OCSP_RESPONSE(pointer, $0) }) ?? []
  }

  /// The PEM encoding (`PEM_write_bio` with the label `OCSP RESPONSE`).
  public var pemEncoded: String { PEM.encode(derEncoded, label: "OCSP RESPONSE") }

  // MARK: - Fields

  /// The response status (`OCSP_response_status`); `nil` for a value RFC 6960 does not define.
  public var status: Status? { unsafe Status(rawValue: OCSP_response_status(pointer)) }

  /// The raw response status number (`OCSP_response_status`).
  public var statusCode: Int { unsafe Int(OCSP_response_status(pointer)) }

  /// The basic response (`OCSP_response_get1_basic`, a copy this response does not own).
  ///
  /// - Throws: ``OCSPError`` with ``OCSPError/Check/responseStatus`` when the responder answered
  ///   with an error status, or ``OCSPError/Check/notBasicResponse`` for another response type.
  public func basicResponse() throws(OCSPError) -> OCSPBasicResponse {
    guard status == .successful else {
      throw OCSPError(
        .responseStatus,
        explanation: "The responder answered with the status \(status?.description ?? "\(statusCode)") "
          + "instead of a response.",
        responseStatus: status)
    }
    let basic = unsafe ErrorQueue.isolated { scope -> Result<OpaquePointer, OpenSSLError> in
      if let pointer = unsafe OCSP_response_get1_basic(pointer) { return unsafe .success(pointer) }
      return unsafe .failure(scope.failure("OCSP_response_get1_basic"))
    }
    switch unsafe basic {
    case .success(let pointer): return unsafe OCSPBasicResponse(takingOwnershipOf: OpenSSLPointer(pointer))
    case .failure(let error):
      throw OCSPError(
        .notBasicResponse, explanation: "The successful response is not a basic OCSP response.", responseStatus: status,
        openSSLError: error)
    }
  }
}
