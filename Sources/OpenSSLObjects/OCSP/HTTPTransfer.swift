import COpenSSLFull

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif
#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One HTTP exchange with a revocation server (an OCSP responder, a CRL distribution point),
/// shared by ``OCSPClient`` and ``CRLClient``: plain HTTP only, no redirects, one time limit for
/// the whole exchange, a size limit, and the ``DestinationPolicy``.
///
/// Without a proxy the connection is ours: the host is resolved (`getaddrinfo`), every address is
/// checked against the destination policy before anything is sent to it, the first permitted one
/// that accepts is used, and OpenSSL's HTTP client (`OSSL_HTTP_transfer`) speaks HTTP over that
/// socket, non-blocking so that OpenSSL's own time limit applies. With a proxy the caller chose,
/// OpenSSL connects to the proxy itself.
struct HTTPTransfer {
  /// What is fetched, for messages ("OCSP request", "CRL download").
  let what: String
  /// The time limit for the whole exchange, in seconds (at least 1).
  let timeout: Int
  /// The largest body accepted.
  let maximumSize: Int
  /// Whether a proxy is used.
  let proxy: OCSPClient.Proxy
  /// Which addresses may be connected to.
  let destinations: DestinationPolicy

  /// A request to send.
  struct Request {
    /// The URL, plain `http://`.
    let url: String
    /// The path and query to ask for (from the URL, or with a GET-encoded request).
    let path: String?
    /// The body of a POST, with its content type; `nil` for GET.
    let body: (bytes: [UInt8], contentType: String)?
    /// The content type the answer must have, if any.
    let expectedContentType: String?
    /// Whether the answer is one DER object (OpenSSL then reads exactly its length).
    let expectASN1: Bool
  }

  /// Sends `request` and returns the body of the answer.
  ///
  /// - Throws: ``OCSPClientError``: not plain HTTP, a URL OpenSSL cannot parse, a destination the
  ///   policy refuses, no connection, the time limit, a redirect, an HTTP error, or an answer
  ///   larger than the limit.
  func send(_ request: Request) throws(OCSPClientError) -> [UInt8] {
    let parsed = try ParsedURL(request.url, what: what)
    let deadline = ContinuousClock.now + .seconds(max(timeout, 1))
    let path = request.path ?? parsed.pathAndQuery
    if let proxyText = effectiveProxy(for: parsed.host) {
      // The caller chose this proxy: OpenSSL connects to it, and it connects to the server.
      return unsafe try exchange(parsed, path: path, request: request, bio: nil, proxy: proxyText, deadline: deadline)
    }
    let descriptor = try connect(parsed, deadline: deadline)
    guard let bio = unsafe BIO_new_socket(descriptor, BIO_CLOSE) as OpaquePointer? else {
      close(descriptor)
      throw OCSPClientError(.unreachable, url: request.url, detail: "OpenSSL could not make a socket BIO", what: what)
    }
    defer { unsafe BIO_free(bio) }
    return unsafe try exchange(parsed, path: path, request: request, bio: bio, proxy: nil, deadline: deadline)
  }

  /// The proxy to use for `host`, or `nil` to connect directly.
  private func effectiveProxy(for host: String) -> String? {
    switch proxy {
    case .direct: return nil
    case .url(let value): return value.isEmpty ? nil : value
    case .environment:
      // OpenSSL's own rules: http_proxy, then HTTP_PROXY, unless no_proxy / NO_PROXY lists the host.
      return unsafe OSSL_HTTP_adapt_proxy(nil, nil, host, 0).map { unsafe String(cString: $0) }
    }
  }

  /// Seconds left until `deadline`, rounded up, at least 1 (OpenSSL's limits are whole seconds).
  private static func secondsLeft(_ deadline: ContinuousClock.Instant) -> Int32 {
    let left = deadline - ContinuousClock.now
    let seconds = left.components.seconds + (left.components.attoseconds > 0 ? 1 : 0)
    return Int32(clamping: max(seconds, 1))
  }

  // MARK: - The exchange

  private func exchange(
    _ parsed: ParsedURL, path: String, request: Request, bio: OpaquePointer?, proxy proxyText: String?,
    deadline: ContinuousClock.Instant
  ) throws(OCSPClientError) -> [UInt8] {
    let body = request.body?.bytes ?? []
    // The answer's status line, recorded as the connection reads it: on our socket directly, on
    // OpenSSL's connection to the proxy once it is made.
    let statusLine = StatusLine()
    if let bio = unsafe bio { unsafe oo_BIO_record_first_line(bio, statusLine.pointer) }
    defer { if let bio = unsafe bio { unsafe oo_BIO_record_first_line(bio, nil) } }
    let outcome: Result<[UInt8], OCSPClientError> = unsafe body.withUnsafeBytes { bytes in
      unsafe MemoryBIO.reading(bytes) { requestBIO in
        ErrorQueue.isolated { scope -> Result<[UInt8], OCSPClientError> in
          let response = unsafe OSSL_HTTP_transfer(
            // With our socket, no proxy; with the caller's proxy, an empty no_proxy, so that the
            // environment cannot turn it into a direct connection that skips the policy.
            nil, parsed.host, parsed.port, path, 0, bio == nil ? proxyText : nil, bio == nil ? "" : nil, bio, bio,
            bio == nil ? oo_http_record_status_on_connect : nil,
            bio == nil ? UnsafeMutableRawPointer(statusLine.pointer) : nil,
            0,
            nil, request.body?.contentType, request.body == nil ? nil : requestBIO, request.expectedContentType,
            request.expectASN1 ? 1 : 0, maximumSize, Self.secondsLeft(deadline), 0)
          guard let response = unsafe response else {
            let failure = scope.failure("OSSL_HTTP_transfer")
            if let status = statusLine.errorStatus {
              return .failure(OCSPClientError(status: status, openSSLError: failure, url: request.url, what: what))
            }
            return .failure(OCSPClientError(transfer: failure, url: request.url, timeout: timeout, what: what))
          }
          defer { unsafe BIO_free_all(response) }
          // Newer OpenSSLs (3.5 here) hand over the body of a 4xx or 5xx answer as if it were the
          // content asked for: the status decides.
          if let status = statusLine.errorStatus {
            scope.discard()
            return .failure(OCSPClientError(status: status, openSSLError: nil, url: request.url, what: what))
          }
          let read = unsafe readAll(response, url: request.url, deadline: deadline)
          scope.discard()
          return read
        }
      }
    }
    return try outcome.get()
  }

  /// The first line the connection read (`oo_http_status_line`, filled in by a BIO callback).
  @safe private final class StatusLine {
    let pointer: UnsafeMutablePointer<oo_http_status_line>

    init() {
      unsafe pointer = .allocate(capacity: 1)
      unsafe pointer.initialize(to: oo_http_status_line())
    }

    deinit { unsafe pointer.deallocate() }

    /// The status line when its code is one OpenSSL does not deliver content for (200) or turn
    /// into a redirect (301, 302): `(404, "HTTP/1.0 404 Not Found")`. `nil` without a complete
    /// status line.
    var errorStatus: (code: Int, line: String)? {
      guard unsafe pointer.pointee.complete != 0 else { return nil }
      let line = unsafe withUnsafeBytes(of: pointer.pointee.text) { raw in
        unsafe String(decoding: raw.prefix(unsafe Int(pointer.pointee.length)), as: UTF8.self)
      }
      let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
      guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), fields[1].count == 3, let code = Int(fields[1]) else {
        return nil
      }
      return [200, 301, 302].contains(code) ? nil : (code, line)
    }
  }

  /// Reads the body: the memory BIO of a DER answer, or the connection itself (OpenSSL's
  /// "stream" answer, without a length it checked), with the size limit and the deadline.
  private func readAll(
    _ bio: OpaquePointer, url: String, deadline: ContinuousClock.Instant
  ) -> Result<
    [UInt8], OCSPClientError
  > {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16_384)
    while true {
      let count = unsafe BIO_read(bio, &buffer, Int32(buffer.count))
      if count > 0 {
        bytes += buffer[0..<Int(count)]
        if bytes.count > maximumSize {
          return .failure(
            OCSPClientError(
              .responseTooLarge, url: url,
              detail: "the answer is larger than the limit of \(maximumSize) bytes (more than \(bytes.count) arrived)",
              what: what))
        }
        continue
      }
      guard unsafe oo_BIO_should_retry(bio) != 0 else { break }
      // A non-blocking connection with nothing to read yet: wait for it, up to the deadline.
      let descriptor = unsafe oo_BIO_get_fd(bio)
      guard descriptor >= 0 else { break }
      let left = deadline - ContinuousClock.now
      let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
      var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      let ready = milliseconds <= 0 ? 0 : unsafe poll(&poller, 1, Int32(clamping: milliseconds))
      if ready == 0 {
        return .failure(
          OCSPClientError(.timedOut, url: url, detail: "no complete answer within \(timeout) second(s)", what: what))
      }
    }
    return .success(bytes)
  }

  // MARK: - Connecting under the destination policy

  /// Resolves the host, checks each address against the policy and connects to the first
  /// permitted one that accepts, before the deadline. Returns a non-blocking socket.
  private func connect(_ parsed: ParsedURL, deadline: ContinuousClock.Instant) throws(OCSPClientError) -> Int32 {
    let host =
      parsed.host.hasPrefix("[") && parsed.host.hasSuffix("]")
      ? String(parsed.host.dropFirst().dropLast()) : parsed.host
    var hints = unsafe addrinfo()
    unsafe hints.ai_family = AF_UNSPEC
    unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    unsafe hints.ai_protocol = Int32(IPPROTO_TCP)
    var list: UnsafeMutablePointer<addrinfo>? = nil
    let status = unsafe getaddrinfo(host, parsed.port, &hints, &list)
    guard status == 0, let first = unsafe list else {
      let reason = unsafe String(cString: gai_strerror(status))
      throw OCSPClientError(
        .unreachable, url: parsed.url, detail: "the host name \"\(host)\" could not be resolved (\(reason))", what: what
      )
    }
    defer { unsafe freeaddrinfo(first) }
    var refused: [String] = []
    var failures: [String] = []
    var cursor: UnsafeMutablePointer<addrinfo>? = unsafe first
    while let entry = unsafe cursor {
      unsafe cursor = unsafe entry.pointee.ai_next
      guard let address = unsafe Self.addressBytes(entry.pointee.ai_addr) else { continue }
      if let why = destinations.refusal(address) {
        if !refused.contains(why) { refused.append(why) }
        continue
      }
      switch unsafe Self.connectOne(entry.pointee, deadline: deadline) {
      case .success(let descriptor): return descriptor
      case .failure(let failure): failures.append("\(DestinationPolicy.text(address)): \(failure.text)")
      }
      if ContinuousClock.now >= deadline { break }
    }
    if failures.isEmpty, !refused.isEmpty {
      throw OCSPClientError(
        .destinationRefused, url: parsed.url,
        detail: "\"\(host)\" is \(refused.joined(separator: ", ")), and the destination policy allows "
          + "\(destinations) (a proxy the caller configures is exempt); nothing was sent",
        what: what)
    }
    let timedOut = failures.contains { $0.hasSuffix("timed out") }
    var detail = failures.isEmpty ? "no address to connect to" : failures.joined(separator: "; ")
    if !refused.isEmpty { detail += "; refused by the destination policy: " + refused.joined(separator: ", ") }
    throw OCSPClientError(
      .unreachable, url: parsed.url,
      detail: timedOut ? "no connection within \(timeout) second(s) (\(detail))" : "no connection (\(detail))",
      what: what)
  }

  /// The address of a `sockaddr_in` or `sockaddr_in6`, in network order.
  private static func addressBytes(_ address: UnsafeMutablePointer<sockaddr>?) -> [UInt8]? {
    guard let address = unsafe address else { return nil }
    let family = unsafe Int32(address.pointee.sa_family)
    switch family {
    case AF_INET:
      return unsafe address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
        let value = unsafe pointer.pointee.sin_addr
        return unsafe withUnsafeBytes(of: value) { unsafe Array($0) }
      }
    case AF_INET6:
      return unsafe address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
        let value = unsafe pointer.pointee.sin6_addr
        return unsafe withUnsafeBytes(of: value) { unsafe Array($0) }
      }
    default: return nil
    }
  }

  /// Why a connection to one address failed.
  private struct ConnectFailure: Error {
    let text: String
    static func errno(_ code: Int32) -> ConnectFailure { ConnectFailure(text: unsafe String(cString: strerror(code))) }
  }

  /// A non-blocking connect to one address, waiting until the deadline.
  private static func connectOne(_ entry: addrinfo, deadline: ContinuousClock.Instant) -> Result<Int32, ConnectFailure>
  {
    let descriptor = unsafe socket(entry.ai_family, entry.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), entry.ai_protocol)
    guard descriptor >= 0 else { return .failure(.errno(errno)) }
    let flags = fcntl(descriptor, F_GETFL)
    _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    var status = unsafe Glibc.connect(descriptor, entry.ai_addr, entry.ai_addrlen)
    while status != 0 && errno == EINTR { status = unsafe Glibc.connect(descriptor, entry.ai_addr, entry.ai_addrlen) }
    if status == 0 { return .success(descriptor) }
    guard errno == EINPROGRESS || errno == EALREADY else {
      let failure = ConnectFailure.errno(errno)
      close(descriptor)
      return .failure(failure)
    }
    while true {
      let left = deadline - ContinuousClock.now
      let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
      guard milliseconds > 0 else { break }
      var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
      let ready = unsafe poll(&poller, 1, Int32(clamping: milliseconds))
      if ready < 0 && errno == EINTR { continue }
      guard ready > 0 else { break }
      var error: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      _ = unsafe getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
      if error == 0 { return .success(descriptor) }
      close(descriptor)
      return .failure(.errno(error))
    }
    close(descriptor)
    return .failure(ConnectFailure(text: "timed out"))
  }

  // MARK: - URLs

  /// A URL taken apart by `OSSL_HTTP_parse_url`, plain HTTP only.
  struct ParsedURL {
    let url: String
    let host: String
    let port: String
    let path: String
    let query: String?

    var pathAndQuery: String { query.map { "\(path)?\($0)" } ?? path }

    init(_ url: String, what: String) throws(OCSPClientError) {
      self.url = url
      guard url.lowercased().hasPrefix("http://") else {
        throw OCSPClientError(
          .notHTTP, url: url,
          detail: "only plain http:// URLs are used (the answers are signed; no TLS, no other scheme)", what: what)
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
          .invalidURL, url: url, detail: error?.last?.reasonText ?? "OpenSSL cannot parse it", openSSLError: error,
          what: what)
      }
      self.host = unsafe String(cString: host)
      self.port = unsafe String(cString: port)
      self.path = unsafe String(cString: path)
      self.query = unsafe query.map { unsafe String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }
  }
}
