import Foundation
public import OpenSSLObjects
import TestSupport

/// A TLS peer on 127.0.0.1 that misbehaves on purpose after its handshake: a memory-transport
/// ``SSLConnection`` pumped over a blocking socket on a thread of its own, so that it can send
/// half a record or leave without close_notify. As a server it listens for one connection; as a
/// client it connects. Stopped (socket closed, thread joined) when the value goes away.
public final class ScriptedTLSPeer: @unchecked Sendable {
  /// What the peer does after its handshake.
  public enum Script: Sendable {
    /// Sends these bytes as application data, then closes the socket without close_notify.
    case sendThenVanish([UInt8])
    /// Sends these bytes as application data, but only the first half of the record's bytes,
    /// then closes the socket.
    case sendHalfARecord([UInt8])
  }

  /// The port it listens on (as a server).
  public let port: Int
  private let listener: Int32
  private let done = DispatchSemaphore(value: 0)
  private let failure = Recorder<String>()

  /// A server with `context` that runs `script` on the first connection.
  public init(server context: SSLContext, script: Script) throws {
    let (descriptor, port) = try LoopbackSocket.listen()
    listener = descriptor
    self.port = port
    let finished = done
    let failure = self.failure
    let contextBox = SendableBox(context)
    Thread {
      defer { finished.signal() }
      let client = accept(descriptor, nil, nil)
      guard client >= 0 else { return }
      defer { close(client) }
      LoopbackSocket.setTimeout(client)
      do {
        let connection = try contextBox.value.makeConnection()
        try Self.run(connection, on: client, script: script)
      } catch {
        failure.append("\(error)")
      }
    }.start()
  }

  /// A client of `context` that connects to 127.0.0.1:`port` and runs `script`.
  public init(client context: SSLContext, serverName: String, connectTo port: Int, script: Script) throws {
    listener = -1
    self.port = port
    let finished = done
    let failure = self.failure
    let contextBox = SendableBox(context)
    Thread {
      defer { finished.signal() }
      do {
        let descriptor = try LoopbackSocket.connect(port: port)
        defer { close(descriptor) }
        let connection = try contextBox.value.makeConnection(serverName: serverName, port: port)
        try Self.run(connection, on: descriptor, script: script)
      } catch {
        failure.append("\(error)")
      }
    }.start()
  }

  /// What went wrong on the peer's side, if anything.
  public var failures: [String] { failure.all }

  private static func run(_ connection: SSLConnection, on descriptor: Int32, script: Script) throws {
    while try connection.handshake() != .complete {
      try send(connection.takeOutput(), on: descriptor)
      var buffer = [UInt8](repeating: 0, count: 16_384)
      let count = read(descriptor, &buffer, buffer.count)
      guard count > 0 else { throw POSIXError(.ECONNRESET) }
      connection.receive(Array(buffer[0..<count]))
    }
    try send(connection.takeOutput(), on: descriptor)
    switch script {
    case .sendThenVanish(let bytes):
      try connection.write(bytes)
      try send(connection.takeOutput(), on: descriptor)
    case .sendHalfARecord(let bytes):
      try connection.write(bytes)
      let record = connection.takeOutput()
      try send(Array(record.prefix(record.count / 2)), on: descriptor)
    }
    // Gives the other side time to read before the connection goes (no close_notify).
    shutdown(descriptor, Int32(SHUT_WR))
    var sink = [UInt8](repeating: 0, count: 4_096)
    while read(descriptor, &sink, sink.count) > 0 {}
  }

  private static func send(_ bytes: [UInt8], on descriptor: Int32) throws {
    var offset = 0
    while offset < bytes.count {
      let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
      guard written > 0 else { throw POSIXError(.EPIPE) }
      offset += written
    }
  }

  deinit {
    if listener >= 0 {
      shutdown(listener, Int32(SHUT_RDWR))
      close(listener)
    }
    _ = done.wait(timeout: .now() + 15)
  }
}
