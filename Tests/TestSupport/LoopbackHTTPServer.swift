import Foundation

/// A small HTTP/1.0 server on 127.0.0.1 that serves what the test puts at each path (a CRL in PEM
/// or DER, garbage, an answer of any size, a redirect), one request per connection, and counts
/// the requests per path. Stopped, its thread joined, when the value goes away, also when a test
/// fails.
public final class LoopbackHTTPServer: @unchecked Sendable {
  /// What a path answers.
  public enum Answer: Sendable {
    /// `200 OK` with these bytes and a Content-Length.
    case body([UInt8], contentType: String = "application/pkix-crl")
    /// `200 OK` with `count` bytes streamed without a Content-Length (the client reads until the
    /// server closes).
    case stream(count: Int)
    /// A redirect to another URL.
    case redirect(String)
    /// An HTTP error status, with a body (and its content type) if given.
    case status(String, body: [UInt8] = [], contentType: String? = nil)
    /// Reads the request and never answers (until the server stops).
    case silent
  }

  /// The port it listens on.
  public let port: Int
  private let listener: Int32
  private let thread: Thread
  private let done = DispatchSemaphore(value: 0)
  private let release = DispatchSemaphore(value: 0)
  private let routes = Routes()

  /// `http://127.0.0.1:PORT/path`.
  public func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

  /// Starts listening.
  public init() throws {
    signal(SIGPIPE, SIG_IGN)
    let (descriptor, port) = try LoopbackSocket.listen()
    listener = descriptor
    self.port = port
    let semaphore = done
    let release = self.release
    let routes = self.routes
    thread = Thread {
      defer { semaphore.signal() }
      while true {
        let client = Interrupted.retry { accept(descriptor, nil, nil) }
        guard client >= 0 else { return }
        routes.answer(client, release: release)
        close(client)
      }
    }
    thread.start()
  }

  /// Sets what `path` (without the leading slash) answers.
  public func set(_ path: String, _ answer: Answer) { routes.set(path, answer) }

  /// How many requests `path` received.
  public func requests(_ path: String) -> Int { routes.requests(path) }

  deinit {
    Glibc.shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    release.signal()
    _ = done.wait(timeout: .now() + 10)
  }
}

/// The server's answers and request counts, shared with its thread.
private final class Routes: @unchecked Sendable {
  private let lock = NSLock()
  // Guarded by `lock`.
  private var answers: [String: LoopbackHTTPServer.Answer] = [:]
  private var counts: [String: Int] = [:]

  func set(_ path: String, _ answer: LoopbackHTTPServer.Answer) {
    lock.lock()
    answers[path] = answer
    lock.unlock()
  }

  func requests(_ path: String) -> Int {
    lock.lock()
    defer { lock.unlock() }
    return counts[path] ?? 0
  }

  func answer(_ client: Int32, release: DispatchSemaphore) {
    LoopbackSocket.setTimeout(client)
    guard let request = HTTPRequest.read(client) else { return }
    let path = String(request.target.drop(while: { $0 == "/" }))
    lock.lock()
    counts[path, default: 0] += 1
    let answer = answers[path] ?? .status("404 Not Found")
    lock.unlock()
    switch answer {
    case .body(let bytes, let contentType):
      send(client, head: "HTTP/1.0 200 OK\r\nContent-Type: \(contentType)\r\nContent-Length: \(bytes.count)\r\n", bytes)
    case .stream(let count):
      send(client, head: "HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n", [])
      let chunk = [UInt8](repeating: 0x41, count: 65_536)
      var sent = 0
      while sent < count {
        let part = min(chunk.count, count - sent)
        guard write(client, Array(chunk[0..<part])) else { break }
        sent += part
      }
    case .redirect(let location):
      send(client, head: "HTTP/1.0 302 Found\r\nLocation: \(location)\r\n", [])
    case .status(let status, let body, let contentType):
      let type = contentType.map { "Content-Type: \($0)\r\n" } ?? ""
      send(client, head: "HTTP/1.0 \(status)\r\n\(type)Content-Length: \(body.count)\r\n", body)
    case .silent:
      _ = release.wait(timeout: .now() + 30)
      return
    }
    Glibc.shutdown(client, Int32(SHUT_WR))
    var scratch = [UInt8](repeating: 0, count: 1024)
    while Interrupted.retry({ recv(client, &scratch, scratch.count, 0) }) > 0 {}
  }

  private func send(_ client: Int32, head: String, _ body: [UInt8]) {
    _ = write(client, Array((head + "Connection: close\r\n\r\n").utf8) + body)
  }

  private func write(_ client: Int32, _ bytes: [UInt8]) -> Bool {
    var sent = 0
    while sent < bytes.count {
      let count = Interrupted.retry {
        bytes[sent...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, 0) }
      }
      guard count > 0 else { return false }
      sent += count
    }
    return true
  }

}
