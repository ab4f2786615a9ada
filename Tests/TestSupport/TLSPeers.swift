public import Foundation
public import OpenSSLObjects

/// Drives two memory-transport connections against each other until both handshakes finish.
public enum TLSPair {
  /// Moves bytes between `client` and `server` and drives both handshakes.
  ///
  /// - Returns: when both are complete; rethrows the first side's error.
  public static func handshake(client: SSLConnection, server: SSLConnection, rounds: Int = 40) async throws {
    var pair = Progress()
    for _ in 0..<rounds {
      if try pair.step(client: client, server: server) == .wantRetryVerify { await client.waitForVerification() }
      if pair.isDone { return }
    }
    throw HandshakeStalled()
  }

  /// The same without `async`, for threads (a client with an asynchronous policy needs the
  /// `async` form).
  public static func handshakeBlocking(client: SSLConnection, server: SSLConnection, rounds: Int = 40) throws {
    var pair = Progress()
    for _ in 0..<rounds {
      _ = try pair.step(client: client, server: server)
      if pair.isDone { return }
    }
    throw HandshakeStalled()
  }

  /// How far the two handshakes got.
  private struct Progress {
    var clientDone = false
    var serverDone = false
    var isDone: Bool { clientDone && serverDone }

    /// One round: the client's step, its bytes to the server, the server's step, its bytes back.
    /// Returns the client's progress.
    mutating func step(client: SSLConnection, server: SSLConnection) throws -> SSLConnection.Progress {
      var clientProgress = SSLConnection.Progress.complete
      if !clientDone {
        clientProgress = try client.handshake()
        clientDone = clientProgress == .complete
      }
      server.receive(client.takeOutput())
      if !serverDone {
        serverDone = try server.handshake() == .complete
      }
      client.receive(server.takeOutput())
      if isDone {
        // Deliver what is still in flight (TLS 1.3 tickets) so that sessions are complete.
        _ = try client.read()
      }
      return clientProgress
    }
  }

  /// Sends `bytes` from one side and returns what the other reads.
  public static func transfer(
    _ bytes: [UInt8], from sender: SSLConnection, to receiver: SSLConnection
  ) throws -> [UInt8] {
    try sender.write(bytes)
    receiver.receive(sender.takeOutput())
    var received: [UInt8] = []
    while received.count < bytes.count {
      guard case .data(let chunk) = try receiver.read() else { break }
      received += chunk
    }
    return received
  }

  /// Closes both sides cleanly (close_notify both ways).
  public static func closeCleanly(client: SSLConnection, server: SSLConnection) throws {
    _ = try client.shutdown()
    server.receive(client.takeOutput())
    _ = try server.read()
    _ = try server.shutdown()
    client.receive(server.takeOutput())
    _ = try client.shutdown()
  }

  /// The handshake did not finish within its rounds.
  public struct HandshakeStalled: Error {
    public init() {}
  }
}

/// TCP sockets on 127.0.0.1 for tests.
public enum LoopbackSocket {
  /// A port that is free now (bound to 127.0.0.1:0 and released).
  public static func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EIO) }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  /// Gives blocking reads and writes on the socket a time limit, so that a test whose peer
  /// does not answer fails instead of hanging.
  public static func setTimeout(_ descriptor: Int32, seconds: Int = 10) {
    var limit = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
  }

  /// Connects to 127.0.0.1:`port`; the caller closes the descriptor.
  public static func connect(port: Int) throws -> Int32 {
    signal(SIGPIPE, SIG_IGN)
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EIO) }
    setTimeout(descriptor)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      close(descriptor)
      throw POSIXError(.ECONNREFUSED)
    }
    return descriptor
  }

  /// Listens on 127.0.0.1:`port` (0 for any free port); returns the descriptor and the port.
  public static func listen(port: Int = 0) throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EIO) }
    var reuse: Int32 = 1
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0, Glibc.listen(descriptor, 16) == 0 else {
      close(descriptor)
      throw POSIXError(.EADDRINUSE)
    }
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
  }
}

/// A long-running child process (an `openssl s_server`), stopped when the value goes away, also
/// when the test fails.
public final class RunningProcess: @unchecked Sendable {
  private let process: SpawnedProcess

  /// Starts `executable` (looked up on PATH if not absolute) with `arguments`.
  public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
    signal(SIGPIPE, SIG_IGN)
    process = try SpawnedProcess(executable, arguments, environment: environment, mergeErrors: true)
  }

  /// Everything the process printed so far (stdout and stderr).
  public var text: String { process.outputText }

  /// Waits until the output contains `marker` (or the process exits, or `timeout` passes). The
  /// output is looked at once more after the deadline: a thread that slept past it on a loaded
  /// machine must not miss a marker that arrived meanwhile.
  @discardableResult
  public func wait(for marker: String, timeout: TimeInterval = 10) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if text.contains(marker) { return true }
      if !process.isRunning {
        process.waitForOutput()
        return text.contains(marker)
      }
      usleep(10_000)
    }
    return text.contains(marker)
  }

  /// Writes to the process's standard input.
  public func send(_ text: String) {
    process.write(text)
  }

  /// Closes the process's standard input (a command reading it to its end goes on).
  public func closeInput() {
    process.closeInput()
  }

  /// Whether the process still runs.
  public var isRunning: Bool { process.isRunning }

  /// The process's id.
  public var pid: Int32 { process.pid }

  /// Waits for the process to exit on its own (or `timeout`), and for the rest of its output,
  /// then returns its status, or `nil`.
  public func waitForExit(timeout: TimeInterval = 10) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { return nil }
    process.waitForOutput(timeout: max(0, deadline.timeIntervalSinceNow))
    return process.waitForExit()
  }

  /// Stops the process (SIGKILL: test peers keep no state worth a clean exit).
  public func stop() {
    guard process.isRunning else { return }
    kill(process.pid, SIGKILL)
    process.waitForExit()
  }

  deinit {
    stop()
  }
}

/// An `openssl s_server` on 127.0.0.1 with a free port.
public final class OpenSSLServer: @unchecked Sendable {
  /// The port it accepts on.
  public let port: Int
  /// The process.
  public let process: RunningProcess

  /// Starts `openssl s_server -accept 127.0.0.1:PORT` with `arguments` and waits until it accepts.
  public init(_ arguments: [String]) throws {
    var lastError: (any Error)? = nil
    for _ in 0..<5 {
      let port = try LoopbackSocket.freePort()
      let process = try RunningProcess("openssl", ["s_server", "-accept", "127.0.0.1:\(port)"] + arguments)
      if process.wait(for: "ACCEPT") {
        self.port = port
        self.process = process
        return
      }
      lastError = ServerDidNotStart(output: process.text)
      process.stop()
    }
    throw lastError ?? ServerDidNotStart(output: "")
  }

  /// What the server printed so far.
  public var output: String { process.text }

  /// The server did not print ACCEPT.
  public struct ServerDidNotStart: Error, CustomStringConvertible {
    public let output: String
    public var description: String { "openssl s_server did not start: \(output)" }
  }
}

/// Files for an `openssl` peer: certificates and keys written to a temporary directory.
public struct PeerFiles {
  public let directory: TemporaryDirectory

  public init() throws {
    directory = try TemporaryDirectory("peer")
  }

  /// Writes PEM certificates and returns the path.
  public func certificates(_ name: String, _ certificates: [X509Certificate]) throws -> String {
    try directory.write(name, certificates.map(\.pemEncoded).joined())
  }

  /// Writes an unencrypted PKCS#8 key and returns the path.
  public func key(_ name: String, _ key: PrivateKey) throws -> String {
    try directory.write(name, try key.pemEncoded().withUnsafeBytes { Array($0) })
  }
}

/// Our own TLS server on 127.0.0.1 for tests: accepts connections on a background thread, runs
/// the handshake over the socket (blocking), then `handle`; records each outcome. Stopped (and
/// its thread joined) when the value goes away.
public final class LoopbackTLSServer: @unchecked Sendable {
  /// The port it listens on.
  public let port: Int
  private let listener: Int32
  private let thread: Thread
  private let done = DispatchSemaphore(value: 0)

  /// Listens and serves up to `connections` connections from `context`.
  public init(
    context: SSLContext,
    connections: Int = 1,
    handle: @escaping @Sendable (SSLConnection) throws -> String = { _ in "ok" }
  ) throws {
    // A client that closes first must not kill the test process through SIGPIPE.
    signal(SIGPIPE, SIG_IGN)
    let (descriptor, port) = try LoopbackSocket.listen()
    listener = descriptor
    self.port = port
    let box = OutcomeBox()
    self.box = box
    let semaphore = done
    thread = Thread {
      defer { semaphore.signal() }
      for _ in 0..<connections {
        let client = Interrupted.retry { accept(descriptor, nil, nil) }
        guard client >= 0 else { return }
        defer { close(client) }
        LoopbackSocket.setTimeout(client)
        do {
          let connection = try context.makeConnection(transport: .socket(client))
          try connection.handshake()
          let result = try handle(connection)
          _ = try? connection.shutdown()
          box.append(.success(result))
        } catch {
          box.append(.failure(error))
        }
      }
    }
    thread.start()
  }

  private let box: OutcomeBox

  /// The outcome of each connection so far: the handler's text, or the error.
  public var results: [Result<String, any Error>] { box.all }

  /// Waits until `count` connections have ended (or `timeout` passes).
  public func wait(for count: Int, timeout: TimeInterval = 10) -> [Result<String, any Error>] {
    let deadline = Date().addingTimeInterval(timeout)
    while box.all.count < count && Date() < deadline { usleep(5_000) }
    return box.all
  }

  deinit {
    Glibc.shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    _ = done.wait(timeout: .now() + 5)
  }
}

private final class OutcomeBox: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [Result<String, any Error>] = []

  func append(_ item: Result<String, any Error>) {
    lock.lock()
    items.append(item)
    lock.unlock()
  }

  var all: [Result<String, any Error>] {
    lock.lock()
    defer { lock.unlock() }
    return items
  }
}

/// Runs `openssl s_client` against 127.0.0.1:`port` to completion with `input` on its stdin.
public func runOpenSSLClient(port: Int, _ arguments: [String], input: String = "Q\n") throws -> ProcessResult {
  try ChildProcess.run("openssl", ["s_client", "-connect", "127.0.0.1:\(port)"] + arguments, stdin: input)
}

/// A blocking client connection from our library to 127.0.0.1:`port`; the socket is closed when
/// `body` returns.
public func withClientConnection<Result>(
  _ context: SSLContext,
  port: Int,
  serverName: String?,
  _ body: (SSLConnection) throws -> Result
) throws -> Result {
  let descriptor = try LoopbackSocket.connect(port: port)
  defer { close(descriptor) }
  let connection = try context.makeConnection(serverName: serverName, port: port, transport: .socket(descriptor))
  return try body(connection)
}

/// A misbehaving peer on 127.0.0.1: a plain TCP listener that accepts one connection and then
/// does what a broken or hostile peer does, on a background thread. Stopped (connection closed,
/// thread joined) when the value goes away.
public final class RawTCPPeer: @unchecked Sendable {
  /// What the peer does with the connection it accepts.
  public enum Behaviour: Sendable {
    /// Reads what arrives first (a hello), then closes without answering.
    case closeAfterReading
    /// Reads what arrives first, then sends these bytes and closes.
    case answer([UInt8])
    /// Reads and says nothing, until the value goes away.
    case stall
  }

  /// The port it listens on.
  public let port: Int
  private let listener: Int32
  private let done = DispatchSemaphore(value: 0)
  private let release = DispatchSemaphore(value: 0)

  public init(_ behaviour: Behaviour) throws {
    signal(SIGPIPE, SIG_IGN)
    let (descriptor, port) = try LoopbackSocket.listen()
    listener = descriptor
    self.port = port
    let finished = done
    let released = release
    Thread {
      defer { finished.signal() }
      let client = accept(descriptor, nil, nil)
      guard client >= 0 else { return }
      defer { close(client) }
      LoopbackSocket.setTimeout(client, seconds: 5)
      var buffer = [UInt8](repeating: 0, count: 16_384)
      _ = read(client, &buffer, buffer.count)
      switch behaviour {
      case .closeAfterReading:
        return
      case .answer(let bytes):
        _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
      case .stall:
        // Bounded: the test ends the stall by letting the value go.
        _ = released.wait(timeout: .now() + 30)
      }
    }.start()
  }

  deinit {
    release.signal()
    Glibc.shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    _ = done.wait(timeout: .now() + 35)
  }
}
