public import Foundation
public import OpenSSLObjects

/// A small HTTP listener on 127.0.0.1 that answers each OCSP request by running
/// `openssl ocsp -index ... -CA ... -rsigner ... -rkey ... -reqin REQ -respout RESP` (never
/// `openssl ocsp -port`, which binds every address in 3.0), or misbehaves on purpose. Stopped, its
/// thread joined and held connections released, when the value goes away, also when a test fails.
public final class OCSPTestResponder: @unchecked Sendable {
  /// How the responder answers.
  public enum Behaviour: Sendable {
    /// `openssl ocsp` answers; with `nextUpdateDays` it adds nextUpdate (`-ndays`), with
    /// `badSignature` it corrupts the signature (`-badsig`).
    case openssl(nextUpdateDays: Int? = 1, badSignature: Bool = false)
    /// These bytes, whatever the request (as an OCSP response over HTTP).
    case fixed([UInt8])
    /// Bytes that are not an OCSP response.
    case garbage
    /// Reads the request and never answers (until the responder stops).
    case silent
    /// A redirect to another URL.
    case redirect(String)
  }

  /// One request received.
  public struct Received: Sendable {
    /// `GET` or `POST`.
    public let method: String
    /// The request target as sent (an absolute URI when it came through a proxy).
    public let target: String
    /// The DER request.
    public let der: [UInt8]
  }

  /// The port it listens on.
  public let port: Int
  /// `http://127.0.0.1:PORT/ocsp`.
  public var url: String { "http://127.0.0.1:\(port)/ocsp" }

  private let listener: Int32
  private let thread: Thread
  private let done = DispatchSemaphore(value: 0)
  private let release = DispatchSemaphore(value: 0)
  private let state = ReceivedBox()
  private let directory: TemporaryDirectory

  /// Starts a responder for certificates issued by `ca`, signed with `signer` and `signerKey`
  /// (the CA itself, a delegated responder, or anyone, for tests of wrong signers).
  ///
  /// - Parameters:
  ///   - good: certificates the index lists as valid.
  ///   - revoked: certificates the index lists as revoked (key compromise, at `revokedAt`).
  ///   Certificates in neither list are unknown to the responder.
  public convenience init(
    ca: X509Certificate,
    signer: X509Certificate,
    signerKey: PrivateKey,
    good: [X509Certificate] = [],
    revoked: [X509Certificate] = [],
    revokedAt: Date = Date(timeIntervalSinceNow: -3_600),
    behaviour: Behaviour = .openssl()
  ) throws {
    try self.init(behaviour: behaviour)
    try serve(ca: ca, signer: signer, signerKey: signerKey, good: good, revoked: revoked, revokedAt: revokedAt)
  }

  /// Writes what `openssl ocsp` answers from: the index, the CA and the signer.
  public func serve(
    ca: X509Certificate,
    signer: X509Certificate,
    signerKey: PrivateKey,
    good: [X509Certificate] = [],
    revoked: [X509Certificate] = [],
    revokedAt: Date = Date(timeIntervalSinceNow: -3_600)
  ) throws {
    try directory.write("index.txt", Self.index(good: good, revoked: revoked, revokedAt: revokedAt))
    try directory.write("ca.pem", ca.pemEncoded)
    try directory.write("signer.pem", signer.pemEncoded)
    try directory.write("signer.key", try signerKey.pemEncoded().withUnsafeBytes { Array($0) })
  }

  /// Starts listening; ``serve(ca:signer:signerKey:good:revoked:revokedAt:)`` says what to answer
  /// (so that a certificate can name the responder's URL before it is made).
  public init(behaviour: Behaviour = .openssl()) throws {
    signal(SIGPIPE, SIG_IGN)
    let directory = try TemporaryDirectory("ocsp")
    self.directory = directory
    let index = directory.file("index.txt")
    let caFile = directory.file("ca.pem")
    let signerFile = directory.file("signer.pem")
    let keyFile = directory.file("signer.key")
    let (descriptor, port) = try LoopbackSocket.listen()
    listener = descriptor
    self.port = port
    let state = self.state
    let semaphore = done
    let release = self.release
    thread = Thread {
      defer { semaphore.signal() }
      var counter = 0
      while true {
        let client = Interrupted.retry { accept(descriptor, nil, nil) }
        guard client >= 0 else { return }
        defer { close(client) }
        LoopbackSocket.setTimeout(client)
        guard let request = HTTPRequest.read(client) else { continue }
        state.append(Received(method: request.method, target: request.target, der: request.der))
        counter += 1
        switch behaviour {
        case .silent:
          _ = release.wait(timeout: .now() + 30)
        case .garbage:
          HTTPRequest.respond(client, status: "200 OK", body: Array("this is not DER".utf8))
        case .fixed(let bytes):
          HTTPRequest.respond(client, status: "200 OK", body: bytes)
        case .redirect(let location):
          HTTPRequest.respond(client, status: "302 Found", body: [], headers: ["Location: \(location)"])
        case .openssl(let days, let badSignature):
          let requestFile = directory.file("request-\(counter).der")
          let responseFile = directory.file("response-\(counter).der")
          _ = try? directory.write("request-\(counter).der", request.der)
          var arguments = [
            "ocsp", "-index", index, "-CA", caFile, "-rsigner", signerFile, "-rkey", keyFile, "-reqin", requestFile,
            "-respout", responseFile,
          ]
          if let days { arguments += ["-ndays", String(days)] }
          if badSignature { arguments.append("-badsig") }
          let result = try? ChildProcess.run("openssl", arguments)
          let body = (try? Data(contentsOf: URL(fileURLWithPath: responseFile))).map { Array($0) }
          if result?.status == 0, let body {
            HTTPRequest.respond(client, status: "200 OK", body: body)
          } else {
            HTTPRequest.respond(client, status: "500 Internal Server Error", body: Array((result?.output ?? "").utf8))
          }
        }
      }
    }
    thread.start()
  }

  /// The requests received so far.
  public var received: [Received] { state.all }

  /// The index lines of `openssl ca`'s database: `V` (valid) and `R` (revoked) entries.
  static func index(good: [X509Certificate], revoked: [X509Certificate], revokedAt: Date) -> String {
    func time(_ date: Date) -> String {
      let formatter = DateFormatter()
      formatter.locale = Locale(identifier: "en_US_POSIX")
      formatter.timeZone = TimeZone(identifier: "UTC")
      formatter.dateFormat = "yyMMddHHmmss'Z'"
      return formatter.string(from: date)
    }
    let valid = good.map { "V\t\(time($0.notAfter))\t\t\($0.serialNumber.hex)\tunknown\t/CN=\($0.serialNumber.hex)\n" }
    let gone = revoked.map {
      "R\t\(time($0.notAfter))\t\(time(revokedAt)),keyCompromise\t\($0.serialNumber.hex)\tunknown\t/CN=\($0.serialNumber.hex)\n"
    }
    return (valid + gone).joined()
  }

  deinit {
    Glibc.shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    release.signal()
    _ = done.wait(timeout: .now() + 10)
  }
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
public func closedLoopbackPort() throws -> Int {
  try LoopbackSocket.freePort()
}

private final class ReceivedBox: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [OCSPTestResponder.Received] = []

  func append(_ item: OCSPTestResponder.Received) {
    lock.lock()
    items.append(item)
    lock.unlock()
  }

  var all: [OCSPTestResponder.Received] {
    lock.lock()
    defer { lock.unlock() }
    return items
  }
}

/// Just enough HTTP/1.0 for an OCSP responder: one request per connection.
enum HTTPRequest {
  struct Parsed {
    let method: String
    let target: String
    let der: [UInt8]
  }

  /// Reads a request: the head, then a body of Content-Length bytes (POST) or the base64 DER in
  /// the path (GET, RFC 6960 A.1).
  static func read(_ descriptor: Int32) -> Parsed? {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    var headEnd: Int? = nil
    while headEnd == nil {
      let count = Interrupted.retry { recv(descriptor, &buffer, buffer.count, 0) }
      guard count > 0 else { return nil }
      bytes += buffer[0..<count]
      headEnd = find(bytes, Array("\r\n\r\n".utf8))
      if bytes.count > 65_536 { return nil }
    }
    let head = String(decoding: bytes[0..<headEnd!], as: UTF8.self)
    var body = Array(bytes[(headEnd! + 4)...])
    let lines = head.components(separatedBy: "\r\n")
    let parts = lines[0].split(separator: " ")
    guard parts.count >= 2 else { return nil }
    let method = String(parts[0])
    let target = String(parts[1])
    let length =
      lines.dropFirst().compactMap { line -> Int? in
        let pair = line.split(separator: ":", maxSplits: 1)
        guard pair.count == 2, pair[0].lowercased() == "content-length" else { return nil }
        return Int(pair[1].trimmingCharacters(in: .whitespaces))
      }.first ?? 0
    while body.count < length {
      let count = Interrupted.retry { recv(descriptor, &buffer, buffer.count, 0) }
      guard count > 0 else { return nil }
      body += buffer[0..<count]
    }
    if method == "GET" {
      let encoded = target.split(separator: "/").last.map(String.init) ?? ""
      let base64 = encoded.removingPercentEncoding ?? encoded
      return Parsed(method: method, target: target, der: Data(base64Encoded: base64).map { Array($0) } ?? [])
    }
    return Parsed(method: method, target: target, der: body)
  }

  static func respond(_ descriptor: Int32, status: String, body: [UInt8], headers: [String] = []) {
    var head = "HTTP/1.0 \(status)\r\nContent-Type: application/ocsp-response\r\nContent-Length: \(body.count)\r\n"
    for header in headers { head += header + "\r\n" }
    head += "Connection: close\r\n\r\n"
    let bytes = Array(head.utf8) + body
    var sent = 0
    while sent < bytes.count {
      let count = Interrupted.retry { bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) } }
      guard count > 0 else { return }
      sent += count
    }
    // Close gracefully: closing with unread input would reset the connection, and the client
    // could lose the answer.
    Glibc.shutdown(descriptor, Int32(SHUT_WR))
    var scratch = [UInt8](repeating: 0, count: 1024)
    while Interrupted.retry({ recv(descriptor, &scratch, scratch.count, 0) }) > 0 {}
  }

  private static func find(_ bytes: [UInt8], _ marker: [UInt8]) -> Int? {
    guard bytes.count >= marker.count else { return nil }
    for index in 0...(bytes.count - marker.count) where Array(bytes[index..<(index + marker.count)]) == marker {
      return index
    }
    return nil
  }
}

/// System calls interrupted by a signal (`EINTR`): the test process starts child processes, whose
/// `SIGCHLD` interrupts `accept` and, on sockets with a time limit, `recv` and `send`.
public enum Interrupted {
  /// Repeats `call` while it fails with `EINTR`.
  public static func retry<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
      let result = call()
      if result >= 0 || errno != EINTR { return result }
    }
  }
}
