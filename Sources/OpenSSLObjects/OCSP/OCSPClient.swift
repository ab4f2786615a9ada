import COpenSSLFull

/// Asks an OCSP responder over HTTP (RFC 6960 appendix A), with OpenSSL's own HTTP client
/// (`OSSL_HTTP_transfer`).
///
/// The responder URL usually comes from the certificate's authority information access, which
/// whoever made the certificate chose: so the client speaks plain HTTP only (OCSP responses are
/// signed; `https` would need revocation checking of its own), follows no redirects, gives the
/// whole exchange a time limit, and refuses a response larger than ``maximumResponseSize``.
///
/// Proxies: by default (``Proxy/direct``) the client connects to the responder itself and
/// ignores the environment. ``Proxy/environment`` does what OpenSSL's `OSSL_HTTP_adapt_proxy`
/// does: it uses `http_proxy`, then `HTTP_PROXY`, unless the responder's host is listed in
/// `no_proxy` or `NO_PROXY` (and never in a setuid program). It is not the default because
/// OpenSSL reads the upper-case `HTTP_PROXY` too, which a CGI server sets from a request's
/// `Proxy:` header ("httpoxy").
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

  /// A client with the defaults.
  public init() {}

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
  /// - Throws: ``OCSPClientError`` saying what went wrong: a URL that is not plain HTTP, an
  ///   unreachable responder, the time limit, a redirect, an HTTP error, a response too large,
  ///   or one that is not an OCSP response.
  public func send(_ request: OCSPRequest, to url: String) throws(OCSPClientError) -> OCSPResponse {
    let parsed = try ParsedURL(url)
    let der = request.derEncoded
    let encoded = Self.urlEncoded(base64Encoded(der))
    let useGET: Bool
    switch method {
    case .post: useGET = false
    case .get: useGET = true
    case .automatic: useGET = encoded.utf8.count <= maximumGETLength
    }
    let path = useGET ? (parsed.path.hasSuffix("/") ? parsed.path : parsed.path + "/") + encoded : parsed.pathAndQuery
    let proxyText: String?
    switch proxy {
    case .direct: proxyText = ""
    case .environment: proxyText = nil
    case .url(let value): proxyText = value
    }
    let outcome = unsafe der.withUnsafeBytes { bytes in
      unsafe MemoryBIO.reading(bytes) { body in
        unsafe transfer(parsed, path: path, get: useGET, body: body, proxy: proxyText)
      }
    }
    switch outcome {
    case .failure(let error): throw OCSPClientError(transfer: error, url: url, timeout: timeout)
    case .success(let bytes):
      do {
        return try OCSPResponse(derEncoded: bytes, limit: maximumResponseSize)
      } catch {
        throw OCSPClientError(.malformedResponse, url: url, detail: "the answer is not an OCSP response: \(error)")
      }
    }
  }

  /// One `OSSL_HTTP_transfer`: the response body, or what OpenSSL queued.
  private func transfer(
    _ parsed: ParsedURL, path: String, get useGET: Bool, body: OpaquePointer, proxy proxyText: String?
  ) -> Result<[UInt8], OpenSSLError> {
    ErrorQueue.isolated { scope -> Result<[UInt8], OpenSSLError> in
      let response = unsafe OSSL_HTTP_transfer(
        nil, parsed.host, parsed.port, path, 0, proxyText, nil, nil, nil, nil, nil, 0, nil,
        useGET ? nil : "application/ocsp-request", useGET ? nil : body, "application/ocsp-response", 1,
        maximumResponseSize, Int32(clamping: max(timeout, 1)), 0)
      guard let response = unsafe response else { return .failure(scope.failure("OSSL_HTTP_transfer")) }
      defer { unsafe BIO_free_all(response) }
      var bytes: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 4096)
      while true {
        let count = unsafe BIO_read(response, &buffer, Int32(buffer.count))
        if count <= 0 { break }
        bytes += buffer[0..<Int(count)]
      }
      scope.discard()
      return .success(bytes)
    }
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

  /// A URL taken apart by `OSSL_HTTP_parse_url`, plain HTTP only.
  struct ParsedURL {
    let host: String
    let port: String
    let path: String
    let query: String?

    var pathAndQuery: String { query.map { "\(path)?\($0)" } ?? path }

    init(_ url: String) throws(OCSPClientError) {
      guard url.lowercased().hasPrefix("http://") else {
        throw OCSPClientError(
          .notHTTP, url: url,
          detail: "only plain http:// responder URLs are used (OCSP responses are signed; no TLS, no other scheme)")
      }
      var ssl: Int32 = 0
      var host: UnsafeMutablePointer<CChar>? = nil
      var port: UnsafeMutablePointer<CChar>? = nil
      var path: UnsafeMutablePointer<CChar>? = nil
      var query: UnsafeMutablePointer<CChar>? = nil
      let error = ErrorQueue.isolated { scope -> OpenSSLError? in
        unsafe OSSL_HTTP_parse_url(url, &ssl, nil, &host, &port, nil, &path, &query, nil) == 1
          ? nil : scope.failure("OSSL_HTTP_parse_url")
      }
      defer { unsafe [host, port, path, query].forEach { unsafe oo_OPENSSL_free(UnsafeMutableRawPointer($0)) } }
      guard error == nil, let host = unsafe host, let port = unsafe port, let path = unsafe path else {
        throw OCSPClientError(
          .invalidURL, url: url, detail: error?.last?.reasonText ?? "OpenSSL cannot parse it", openSSLError: error)
      }
      self.host = unsafe String(cString: host)
      self.port = unsafe String(cString: port)
      self.path = unsafe String(cString: path)
      self.query = unsafe query.map { unsafe String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }
  }
}

/// Asking a responder failed before there was a response to check.
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
    /// The answer is not an OCSP response (wrong content type, not DER, another object).
    public static let malformedResponse = Reason(base: .malformedResponse)

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

  /// Makes an error value.
  public init(_ reason: Reason, url: String, detail: String, openSSLError: OpenSSLError? = nil) {
    self.reason = reason
    self.url = url
    self.detail = detail
    self.openSSLError = openSSLError
  }

  /// The reason a failed `OSSL_HTTP_transfer` stands for.
  init(transfer error: OpenSSLError, url: String, timeout: Int) {
    let text = error.entries.map(\.description).joined(separator: "; ")
    func has(_ library: Int32, _ reason: Int32) -> Bool { error.contains(library: library, reason: reason) }
    let reason: Reason
    let detail: String
    if has(ERR_LIB_HTTP, HTTP_R_MAX_RESP_LEN_EXCEEDED) || has(ERR_LIB_HTTP, HTTP_R_ASN1_LEN_EXCEEDS_MAX_RESP_LEN) {
      (reason, detail) = (.responseTooLarge, "the response is larger than the limit (\(text))")
    } else if has(ERR_LIB_HTTP, HTTP_R_REDIRECTION_NOT_ENABLED) || has(ERR_LIB_HTTP, HTTP_R_MISSING_REDIRECT_LOCATION) {
      (reason, detail) = (.redirected, "the responder answered with a redirect, which is not followed (\(text))")
    } else if has(ERR_LIB_BIO, BIO_R_CONNECT_TIMEOUT) {
      // OpenSSL retries a refused connection until the time limit.
      (reason, detail) = (.unreachable, "no connection within \(timeout) second(s) (refused or no route)")
    } else if has(ERR_LIB_HTTP, HTTP_R_RETRY_TIMEOUT) || has(ERR_LIB_BIO, BIO_R_TRANSFER_TIMEOUT) {
      (reason, detail) = (.timedOut, "no complete answer within \(timeout) second(s)")
    } else if has(ERR_LIB_HTTP, HTTP_R_RECEIVED_ERROR) || has(ERR_LIB_HTTP, HTTP_R_STATUS_CODE_UNSUPPORTED) {
      (reason, detail) = (.httpStatus, "the responder answered with an HTTP error (\(text))")
    } else if has(ERR_LIB_HTTP, HTTP_R_UNEXPECTED_CONTENT_TYPE) || has(ERR_LIB_HTTP, HTTP_R_MISSING_ASN1_ENCODING)
      || has(ERR_LIB_HTTP, HTTP_R_ERROR_PARSING_ASN1_LENGTH) || has(ERR_LIB_HTTP, HTTP_R_RESPONSE_PARSE_ERROR)
      || has(ERR_LIB_HTTP, HTTP_R_MISSING_CONTENT_TYPE)
    {
      (reason, detail) = (.malformedResponse, "the answer is not an OCSP response over HTTP (\(text))")
    } else {
      (reason, detail) = (.unreachable, text.isEmpty ? "OpenSSL's HTTP client failed" : text)
    }
    self.init(reason, url: url, detail: detail, openSSLError: error)
  }

  /// `REASON from URL: detail`.
  public var description: String { "OCSP request failed (\(reason)) for \(url): \(detail)" }
}
