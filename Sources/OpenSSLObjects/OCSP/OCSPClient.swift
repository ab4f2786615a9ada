import COpenSSLFull

/// Asks an OCSP responder over HTTP (RFC 6960 appendix A), with OpenSSL's own HTTP client
/// (`OSSL_HTTP_transfer`).
///
/// The responder URL usually comes from the certificate's authority information access, which
/// whoever made the certificate chose: so the client speaks plain HTTP only (OCSP responses are
/// signed; `https` would need revocation checking of its own), follows no redirects, gives the
/// whole exchange a time limit, refuses a response larger than ``maximumResponseSize``, and
/// connects only to the addresses its ``destinations`` policy permits (public ones by default),
/// checked on every address the responder's name resolves to, before connecting.
///
/// Proxies: by default (``Proxy/direct``) the client connects to the responder itself and
/// ignores the environment. ``Proxy/environment`` does what OpenSSL's `OSSL_HTTP_adapt_proxy`
/// does: it uses `http_proxy`, then `HTTP_PROXY`, unless the responder's host is listed in
/// `no_proxy` or `NO_PROXY` (and never in a setuid program). It is not the default because
/// OpenSSL reads the upper-case `HTTP_PROXY` too, which a CGI server sets from a request's
/// `Proxy:` header ("httpoxy"). A proxy, chosen by the caller either way, is exempt from the
/// destination policy.
///
/// Each call blocks the calling thread for at most ``timeout``.
public struct OCSPClient: Sendable {
  /// How the request travels.
  public enum Method: Sendable, Hashable {
    /// GET when the encoded request is at most ``OCSPClient/maximumGETLength`` bytes (cacheable,
    /// RFC 5019), POST otherwise.
    case automatic
    /// Always POST, the request as the body (`application/ocsp-request`).
    case post
    /// Always GET, the request base64- and URL-encoded in the path.
    case get
  }

  /// Whether a proxy is used.
  public enum Proxy: Sendable, Hashable {
    /// No proxy, whatever the environment says (the default).
    case direct
    /// `http_proxy` / `HTTP_PROXY` and `no_proxy` / `NO_PROXY`, as OpenSSL reads them.
    case environment
    /// This proxy (`host:port` or `http://host:port`).
    case url(String)
  }

  /// The limit for the whole exchange, in whole seconds (at least 1); 10 by default.
  public var timeout: Int = 10
  /// The largest response accepted, in bytes; OpenSSL's default of 100 KiB. A response one byte
  /// larger fails with ``OCSPClientError/Reason/responseTooLarge``.
  public var maximumResponseSize = 100 * 1024
  /// How requests travel.
  public var method = Method.automatic
  /// The longest base64- and URL-encoded request sent with GET (255 bytes, RFC 5019).
  public var maximumGETLength = 255
  /// Whether a proxy is used.
  public var proxy = Proxy.direct
  /// Which addresses may be connected to, checked on every address name resolution gives before
  /// connecting: public addresses only by default (``DestinationPolicy/publicOnly``). A proxy
  /// set in ``proxy`` is exempt.
  public var destinations = DestinationPolicy.publicOnly

  /// A client with the defaults: public destinations only.
  public init() {}

  /// A client with the defaults and this destination policy (``DestinationPolicy/allowingLoopback``
  /// for a responder on 127.0.0.1 in a test).
  public init(destinations: DestinationPolicy) {
    self.destinations = destinations
  }

  /// The first `http` OCSP URL of the certificate's authority information access.
  ///
  /// - Throws: ``OCSPClientError`` with ``OCSPClientError/Reason/noResponderURL`` when there is
  ///   none (an `https` or other URL alone does not count).
  public static func responderURL(for certificate: X509Certificate) throws(OCSPClientError) -> String {
    let urls = (try? certificate.ocspURLs) ?? []
    guard let url = urls.first(where: { $0.lowercased().hasPrefix("http://") }) else {
      throw OCSPClientError(
        .noResponderURL, url: urls.first ?? "",
        detail: urls.isEmpty
          ? "the certificate names no OCSP responder (no OCSP URL in its authority information access)"
          : "the certificate's OCSP URLs (\(urls.joined(separator: ", "))) are not plain http")
    }
    return url
  }

  /// Sends `request` to the responder at `url` and returns its response, unverified.
  ///
  /// - Throws: ``OCSPClientError`` saying what went wrong: a URL that is not plain HTTP, a
  ///   destination the ``destinations`` policy refuses, an unreachable responder, the time limit,
  ///   a redirect, an HTTP error, a response too large, or one that is not an OCSP response.
  public func send(_ request: OCSPRequest, to url: String) throws(OCSPClientError) -> OCSPResponse {
    let parsed = try HTTPTransfer.ParsedURL(url, what: Self.what)
    let der = request.derEncoded
    let encoded = Self.urlEncoded(base64Encoded(der))
    let useGET: Bool
    switch method {
    case .post: useGET = false
    case .get: useGET = true
    case .automatic: useGET = encoded.utf8.count <= maximumGETLength
    }
    let path = useGET ? (parsed.path.hasSuffix("/") ? parsed.path : parsed.path + "/") + encoded : parsed.pathAndQuery
    let bytes = try transfer.send(
      HTTPTransfer.Request(
        url: url, path: path, body: useGET ? nil : (der, "application/ocsp-request"),
        expectedContentType: "application/ocsp-response", expectASN1: true))
    do {
      return try OCSPResponse(derEncoded: bytes, limit: maximumResponseSize)
    } catch {
      throw OCSPClientError(
        .malformedResponse, url: url, detail: "the answer is not an OCSP response: \(error)", what: Self.what)
    }
  }

  /// What the client's errors call an exchange.
  static let what = "OCSP request"

  /// The transfer with this client's limits, proxy and destination policy.
  private var transfer: HTTPTransfer {
    HTTPTransfer(
      what: Self.what, timeout: timeout, maximumSize: maximumResponseSize, proxy: proxy, destinations: destinations)
  }

  /// Builds a request for `certificate` issued by `issuer`, sends it to `url` (or the
  /// certificate's responder URL), and returns both.
  public func fetch(
    certificate: X509Certificate,
    issuer: X509Certificate,
    url: String? = nil,
    digest: Digest = .sha1,
    nonce: OCSPRequest.Nonce = .none
  ) throws -> (request: OCSPRequest, response: OCSPResponse) {
    let target = try url ?? Self.responderURL(for: certificate)
    let request = try OCSPRequest(certificate: certificate, issuer: issuer, digest: digest, nonce: nonce)
    return (request, try send(request, to: target))
  }

  /// RFC 6960 appendix A.1: the base64 text URL-encoded (`+`, `/` and `=` escaped).
  static func urlEncoded(_ text: String) -> String {
    var output = ""
    for character in text.unicodeScalars {
      switch character {
      case "+": output += "%2B"
      case "/": output += "%2F"
      case "=": output += "%3D"
      default: output.unicodeScalars.append(character)
      }
    }
    return output
  }
}

/// Asking a revocation server (an OCSP responder, or a CRL distribution point for ``CRLClient``)
/// failed before there was an answer to check.
public struct OCSPClientError: Error, Sendable, CustomStringConvertible {
  /// What went wrong. New reasons may be added; switch with a `default`.
  public struct Reason: Hashable, Sendable, CustomStringConvertible {
    fileprivate enum Base: String, Hashable, Sendable {
      case noResponderURL = "no responder URL"
      case invalidURL = "invalid URL"
      case notHTTP = "not plain HTTP"
      case unreachable = "responder unreachable"
      case timedOut = "timed out"
      case redirected = "redirected"
      case httpStatus = "HTTP error status"
      case responseTooLarge = "response too large"
      case malformedResponse = "malformed response"
      case destinationRefused = "destination refused"
    }
    fileprivate let base: Base

    /// The certificate names no plain-HTTP OCSP responder.
    public static let noResponderURL = Reason(base: .noResponderURL)
    /// OpenSSL cannot parse the URL.
    public static let invalidURL = Reason(base: .invalidURL)
    /// The URL is not `http://`.
    public static let notHTTP = Reason(base: .notHTTP)
    /// No connection (refused, no route, name not resolved) or the connection broke.
    public static let unreachable = Reason(base: .unreachable)
    /// The exchange took longer than the time limit.
    public static let timedOut = Reason(base: .timedOut)
    /// The responder answered with a redirect, which is never followed.
    public static let redirected = Reason(base: .redirected)
    /// The responder answered with an HTTP error status.
    public static let httpStatus = Reason(base: .httpStatus)
    /// The response is larger than the client's limit.
    public static let responseTooLarge = Reason(base: .responseTooLarge)
    /// The answer is not an OCSP response (wrong content type, not DER, another object), or not
    /// a CRL.
    public static let malformedResponse = Reason(base: .malformedResponse)
    /// Every address of the server is one the ``DestinationPolicy`` refuses (loopback, a private
    /// network, ...); nothing was sent.
    public static let destinationRefused = Reason(base: .destinationRefused)

    /// The reason in words.
    public var description: String { base.rawValue }
  }

  /// What went wrong.
  public let reason: Reason
  /// The responder URL.
  public let url: String
  /// The facts of the case.
  public let detail: String
  /// What OpenSSL reported, if the failure was OpenSSL's.
  public let openSSLError: OpenSSLError?
  /// What was asked for: `"OCSP request"` or `"CRL download"`.
  public let operation: String

  /// Makes an error value.
  public init(
    _ reason: Reason, url: String, detail: String, openSSLError: OpenSSLError? = nil,
    what operation: String = "OCSP request"
  ) {
    self.reason = reason
    self.url = url
    self.detail = detail
    self.openSSLError = openSSLError
    self.operation = operation
  }

  /// The reason a failed `OSSL_HTTP_transfer` stands for.
  init(transfer error: OpenSSLError, url: String, timeout: Int, what: String) {
    let text = error.entries.map(\.description).joined(separator: "; ")
    func has(_ library: Int32, _ reason: Int32) -> Bool { error.contains(library: library, reason: reason) }
    let reason: Reason
    let detail: String
    if has(ERR_LIB_HTTP, HTTP_R_MAX_RESP_LEN_EXCEEDED) || has(ERR_LIB_HTTP, HTTP_R_ASN1_LEN_EXCEEDS_MAX_RESP_LEN) {
      (reason, detail) = (.responseTooLarge, "the answer is larger than the limit (\(text))")
    } else if has(ERR_LIB_HTTP, HTTP_R_REDIRECTION_NOT_ENABLED) || has(ERR_LIB_HTTP, HTTP_R_MISSING_REDIRECT_LOCATION) {
      (reason, detail) = (.redirected, "the server answered with a redirect, which is not followed (\(text))")
    } else if has(ERR_LIB_BIO, BIO_R_CONNECT_TIMEOUT) {
      // OpenSSL retries a refused connection until the time limit.
      (reason, detail) = (.unreachable, "no connection within \(timeout) second(s) (refused or no route)")
    } else if has(ERR_LIB_HTTP, HTTP_R_RETRY_TIMEOUT) || has(ERR_LIB_BIO, BIO_R_TRANSFER_TIMEOUT) {
      (reason, detail) = (.timedOut, "no complete answer within \(timeout) second(s)")
    } else if has(ERR_LIB_HTTP, HTTP_R_RECEIVED_ERROR) || has(ERR_LIB_HTTP, HTTP_R_STATUS_CODE_UNSUPPORTED) {
      (reason, detail) = (.httpStatus, "the server answered with an HTTP error (\(text))")
    } else if has(ERR_LIB_HTTP, HTTP_R_UNEXPECTED_CONTENT_TYPE) || has(ERR_LIB_HTTP, HTTP_R_MISSING_ASN1_ENCODING)
      || has(ERR_LIB_HTTP, HTTP_R_ERROR_PARSING_ASN1_LENGTH) || has(ERR_LIB_HTTP, HTTP_R_RESPONSE_PARSE_ERROR)
      || has(ERR_LIB_HTTP, HTTP_R_MISSING_CONTENT_TYPE)
    {
      (reason, detail) = (.malformedResponse, "the answer is not what was asked for over HTTP (\(text))")
    } else {
      (reason, detail) = (.unreachable, text.isEmpty ? "OpenSSL's HTTP client failed" : text)
    }
    self.init(reason, url: url, detail: detail, openSSLError: error, what: what)
  }

  /// The server answered with an HTTP status other than 200 (and not a redirect), read from the
  /// status line itself: OpenSSL 3.0 fails with `HTTP_R_RECEIVED_ERROR`, later versions return
  /// a 4xx or 5xx answer's body as content or fail on its content type.
  init(status: (code: Int, line: String), openSSLError: OpenSSLError?, url: String, what: String) {
    self.init(
      .httpStatus, url: url,
      detail: "the server answered with HTTP status \(status.code) (\(status.line.visibleEscapes))",
      openSSLError: openSSLError, what: what)
  }

  /// `OPERATION failed (REASON) for URL: detail`.
  public var description: String { "\(operation) failed (\(reason)) for \(url.visibleEscapes): \(detail)" }
}
