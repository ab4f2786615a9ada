import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The memory transport through spans (`receive(RawSpan)`, `takeOutput(into:)`,
/// `read(into:)`, `write(RawSpan)`, `pendingOutputCount`): what a NIO handler uses to move bytes
/// between OpenSSL's buffers and its own without intermediate arrays.
@Suite("SSLConnection through spans")
struct SSLConnectionSpanTests {
  /// Fills a new array through an `OutputRawSpan` of `capacity` bytes.
  private func filling(capacity: Int, _ body: (inout OutputRawSpan) throws -> Void) rethrows -> [UInt8] {
    try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
      var span = OutputRawSpan(buffer: UnsafeMutableRawBufferPointer(buffer), initializedCount: 0)
      try body(&span)
      count = span.byteCount
    }
  }

  /// Moves everything `from` has for the peer into `to`, through spans of `chunk` bytes.
  private func move(from sender: SSLConnection, to receiver: SSLConnection, chunk: Int = 100) -> Int {
    var moved = 0
    while sender.pendingOutputCount > 0 {
      let pending = sender.pendingOutputCount
      let bytes = filling(capacity: chunk) { span in _ = sender.takeOutput(into: &span) }
      #expect(bytes.count == min(chunk, pending))
      #expect(sender.pendingOutputCount == pending - bytes.count)
      receiver.receive(bytes.span.bytes)
      moved += bytes.count
    }
    return moved
  }

  /// Both handshakes, every byte moved through spans.
  private func connect(_ fixture: TLSFixture) throws -> (client: SSLConnection, server: SSLConnection) {
    let client = try fixture.client().makeConnection(serverName: "www.example.test")
    let server = try fixture.server().makeConnection()
    var clientDone = false
    var serverDone = false
    for _ in 0..<10 where !(clientDone && serverDone) {
      if !clientDone { clientDone = try client.handshake() == .complete }
      _ = move(from: client, to: server)
      if !serverDone { serverDone = try server.handshake() == .complete }
      _ = move(from: server, to: client)
    }
    try #require(clientDone && serverDone)
    return (client, server)
  }

  @Test func aHandshakeAndDataMoveThroughSpansInPieces() throws {
    let fixture = try TLSFixture()
    let (client, server) = try connect(fixture)
    #expect(client.version == .tls13)
    #expect(client.verifiedChain == [fixture.pki.leaf, fixture.pki.intermediate, fixture.pki.root])
    // The client reads the server's tickets first: no data for it.
    let nothing = try filling(capacity: 64) { span in
      let outcome = try client.read(into: &span)
      #expect(outcome == .progress(.wantRead))
    }
    #expect(nothing.isEmpty)

    let message = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let progress = try client.write(message.span.bytes)
    #expect(progress == .complete)
    #expect(client.pendingOutputCount > message.count)
    #expect(move(from: client, to: server, chunk: 1_000) > message.count)
    #expect(client.pendingOutputCount == 0)
    // Read in pieces smaller than a record; each read appends after what the span holds.
    var received: [UInt8] = []
    while received.count < message.count {
      let piece = try filling(capacity: 3_000) { span in
        span.append(0xAA)
        guard case .bytes(let count) = try server.read(into: &span) else {
          Issue.record("no data")
          return
        }
        #expect(count > 0 && count <= 2_999)
        #expect(span.byteCount == count + 1)
      }
      guard piece.count > 1 else { break }
      #expect(piece[0] == 0xAA)
      received += piece.dropFirst()
    }
    #expect(received == message)
    let empty = try filling(capacity: 16) { span in
      let outcome = try server.read(into: &span)
      #expect(outcome == .progress(.wantRead))
    }
    #expect(empty.isEmpty)
  }

  @Test func aFullSpanReadsNothingAndTheDataStays() throws {
    let fixture = try TLSFixture()
    let (client, server) = try connect(fixture)
    try client.write(Array("hello".utf8))
    _ = move(from: client, to: server)
    let full = try filling(capacity: 2) { span in
      span.append(1)
      span.append(2)
      let outcome = try server.read(into: &span)
      #expect(outcome == .bytes(0))
    }
    #expect(full == [1, 2])
    let data = try filling(capacity: 16) { span in
      let outcome = try server.read(into: &span)
      #expect(outcome == .bytes(5))
    }
    #expect(data == Array("hello".utf8))
  }

  @Test func closeNotifyReadsAsClosed() throws {
    let fixture = try TLSFixture()
    let (client, server) = try connect(fixture)
    #expect(try client.shutdown() == .wantRead)
    _ = move(from: client, to: server)
    let bytes = try filling(capacity: 16) { span in
      let outcome = try server.read(into: &span)
      #expect(outcome == .closed)
    }
    #expect(bytes.isEmpty)
  }

  @Test func garbageFromThePeerThrows() throws {
    let fixture = try TLSFixture()
    let (_, server) = try connect(fixture)
    let garbage = [UInt8](repeating: 0x17, count: 5) + [UInt8](repeating: 0x41, count: 64)
    server.receive(garbage.span.bytes)
    let error = try caught(TLSError.self) {
      _ = try filling(capacity: 64) { span in _ = try server.read(into: &span) }
    }
    #expect(error.operation == "SSL_read_ex")
    #expect(error.codeName == "SSL_ERROR_SSL")
  }

  @Test func anEndOfStreamWithoutCloseNotifyIsAnError() throws {
    let fixture = try TLSFixture()
    let (_, server) = try connect(fixture)
    server.receiveEndOfStream()
    let error = try caught(TLSError.self) {
      _ = try filling(capacity: 64) { span in _ = try server.read(into: &span) }
    }
    #expect(error.isUnexpectedEOF)
  }

  @Test func aSocketConnectionHasNoMemoryOutput() throws {
    let fixture = try TLSFixture()
    let pair = try LoopbackSocket.listen()
    defer { close(pair.descriptor) }
    let descriptor = try LoopbackSocket.connect(port: pair.port)
    defer { close(descriptor) }
    let connection = try fixture.client().makeConnection(
      serverName: "www.example.test", transport: .socket(descriptor))
    #expect(connection.pendingOutputCount == 0)
    let taken = filling(capacity: 16) { span in #expect(connection.takeOutput(into: &span) == 0) }
    #expect(taken.isEmpty)
  }
}
