import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// A reference that does not keep its object alive: for a callback that needs the connection
/// it runs on without making a cycle through OpenSSL's ex_data.
final class WeakBox<Object: AnyObject>: @unchecked Sendable {
  weak var object: Object?
  init(_ object: Object?) { self.object = object }
}

/// Two client connections of one context, each with a server connection of one server context,
/// driven one round at a time, interleaved, so that both are in flight at once; `between` runs on
/// the first connection after the first round (its client hello is out).
func interleavedHandshakes(
  between: (SSLConnection) -> Void
) throws -> (first: (any Error)?, second: (any Error)?, secondConnection: SSLConnection) {
  let fixture = try TLSFixture()
  let client = try fixture.client()
  let server = try fixture.server()
  let pairs = [
    (try client.makeConnection(serverName: "www.example.test"), try server.makeConnection()),
    (try client.makeConnection(serverName: "www.example.test"), try server.makeConnection()),
  ]
  var outcomes: [(any Error)?] = [nil, nil]
  var done = [false, false]
  for round in 0..<40 {
    for (index, pair) in pairs.enumerated() where !done[index] {
      do {
        let clientProgress = try pair.0.handshake()
        pair.1.receive(pair.0.takeOutput())
        let serverProgress = try pair.1.handshake()
        pair.0.receive(pair.1.takeOutput())
        done[index] = clientProgress == .complete && serverProgress == .complete
      } catch {
        outcomes[index] = error
        done[index] = true
      }
    }
    if round == 0 { between(pairs[0].0) }
    if done.allSatisfy({ $0 }) { break }
  }
  return (outcomes[0], outcomes[1], pairs[1].0)
}

@Suite("Faults: callbacks that throw, reject or replace themselves; contexts released early")
struct CallbackFaultTests {
  struct PolicyRefused: Error, Equatable {}

  @Test func aCallbackThatThrowsFailsItsConnectionWhileAnotherInFlightSucceeds() throws {
    let (first, second, passing) = try interleavedHandshakes { connection in
      connection.setVerifyCallback { _ in throw PolicyRefused() }
    }
    #expect(first as? PolicyRefused == PolicyRefused(), "\(String(describing: first))")
    #expect(second == nil, "\(String(describing: second))")
    #expect(passing.verifiedChain.count == 3)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aCallbackThatRejectsFailsItsConnectionWithItsReason() throws {
    let (first, second, _) = try interleavedHandshakes { connection in
      connection.setVerifyCallback { view in view.depth == 0 ? .reject("not this leaf") : .keep }
    }
    let failure = try #require(first as? TLSError, "\(String(describing: first))")
    #expect(failure.verification?.explanation.contains("not this leaf") == true, "\(failure)")
    #expect(second == nil)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aCallbackThatReplacesItselfMidHandshakeKeepsTheRunningVerificationAndFreesTheOldClosure() throws {
    let fixture = try TLSFixture()
    let freed = Recorder<Bool>()
    let calls = Counter()
    var connection: SSLConnection? = nil
    let serverConnection = try fixture.server().makeConnection()
    do {
      let made = try fixture.client().makeConnection(serverName: "www.example.test")
      connection = made
      let box = WeakBox(made)
      let oldToken = LifeToken(freed)
      let newToken = LifeToken(freed)
      made.setVerifyCallback { _ in
        _ = oldToken
        calls.increment()
        // Replaced from inside itself: the running verification keeps the callback it began with.
        box.object?.setVerifyCallback { _ in
          _ = newToken
          return .reject("the replacement")
        }
        return .keep
      }
    }
    try TLSPair.handshakeBlocking(client: connection!, server: serverConnection)
    #expect(calls.value == 3)
    #expect(connection?.verifiedChain.count == 3)
    #expect(freed.all.count < 2)
    connection = nil
    // Both closures, and their tokens, go with the connection; each exactly once.
    #expect(freed.all.count == 2)
  }

  @Test func aContextReleasedWhileItsConnectionsLiveKeepsThemWorking() throws {
    let fixture = try TLSFixture()
    let calls = Counter()
    weak var weakClientContext: SSLContext?
    var pair: (client: SSLConnection, server: SSLConnection)? = nil
    do {
      let client = try fixture.client {
        $0.verification.verifyCallback = { _ in
          calls.increment()
          return .keep
        }
      }
      weakClientContext = client
      pair = (try client.makeConnection(serverName: "www.example.test"), try fixture.server().makeConnection())
    }
    // No Swift variable holds the contexts any more; each connection holds its own.
    try TLSPair.handshakeBlocking(client: pair!.client, server: pair!.server)
    #expect(calls.value == 3)
    #expect(weakClientContext != nil)
    pair = nil
    #expect(weakClientContext == nil)
  }

  @Test func anSSLMadeByCOutlivesTheSwiftContextAndStillRunsItsCallbacks() throws {
    let fixture = try TLSFixture()
    let calls = Counter()
    var marker = 0
    let ssl: OpaquePointer
    do {
      let client = try fixture.client {
        $0.verification.verifyCallback = { _ in
          calls.increment()
          return .keep
        }
      }
      marker = client.withUnsafePointer { ExDataCounter.mark(.sslContext, $0.raw) }
      // C code makes an SSL from the context (SSL_new takes its own reference to the SSL_CTX).
      ssl = try #require(client.withUnsafePointer { SSL_new($0.raw) })
    }
    #expect(ExDataCounter.freeCount(marker) == 0)
    var clientConnection: SSLConnection? = SSLConnection(takingOwnershipOf: OpenSSLPointer(ssl))
    // The memory BIOs and the host name, as C code would set them.
    let incoming = BIO_new(BIO_s_mem())!
    let outgoing = BIO_new(BIO_s_mem())!
    _ = oo_BIO_set_mem_eof_return(incoming, -1)
    SSL_set_bio(ssl, incoming, outgoing)
    SSL_set_connect_state(ssl)
    #expect(oo_SSL_set1_host(ssl, "www.example.test") == 1)
    try TLSPair.handshakeBlocking(client: clientConnection!, server: try fixture.server().makeConnection())
    #expect(calls.value == 3, "the context's Swift callback runs for an SSL that C made")
    clientConnection = nil
    #expect(ExDataCounter.freeCount(marker) == 1)
  }
}

@Suite("Faults: peers that close, truncate, corrupt or stall")
struct PeerFaultTests {
  /// A client connection with the server's first flight, or part of it, delivered.
  func clientAfterServerFlight(
    _ fixture: TLSFixture, tamper: ([UInt8]) -> [UInt8], endOfStream: Bool
  ) throws -> (SSLConnection, [UInt8]) {
    let client = try fixture.client().makeConnection(serverName: "www.example.test")
    let server = try fixture.server().makeConnection()
    _ = try client.handshake()
    server.receive(client.takeOutput())
    _ = try server.handshake()
    let flight = server.takeOutput()
    client.receive(tamper(flight))
    if endOfStream { client.receiveEndOfStream() }
    return (client, flight)
  }

  func handshakeError(_ connection: SSLConnection) -> TLSError? {
    do {
      for _ in 0..<4 where try connection.handshake() == .complete { return nil }
      return nil
    } catch {
      return error as? TLSError
    }
  }

  @Test func aPeerThatClosesMidHandshakeIsAnUnexpectedEOF() throws {
    let (client, _) = try clientAfterServerFlight(try TLSFixture(), tamper: { Array($0.prefix(20)) }, endOfStream: true)
    let failure = try #require(handshakeError(client))
    #expect(failure.isUnexpectedEOF, "\(failure)")
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aTruncatedRecordThenEndOfStreamFails() throws {
    let (client, _) = try clientAfterServerFlight(try TLSFixture(), tamper: { Array($0.dropLast()) }, endOfStream: true)
    let failure = try #require(handshakeError(client))
    #expect(failure.isUnexpectedEOF, "\(failure)")
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test(arguments: [0, 3, 60, -10])
  func aCorruptByteInTheServersFlightFails(offset: Int) throws {
    let (client, _) = try clientAfterServerFlight(
      try TLSFixture(),
      tamper: { flight in
        var bytes = flight
        bytes[offset >= 0 ? offset : bytes.count + offset] ^= 0x5A
        return bytes
      }, endOfStream: false)
    let failure = try #require(handshakeError(client), "a corrupt flight was accepted")
    #expect(failure.code == SSL_ERROR_SSL, "\(failure)")
    #expect(failure.openSSLError?.entries.isEmpty == false, "\(failure)")
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func garbageInsteadOfAServerHelloFails() throws {
    let client = try TLSFixture().client().makeConnection(serverName: "www.example.test")
    _ = try client.handshake()
    client.receive(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
    let failure = try #require(handshakeError(client))
    #expect(failure.code == SSL_ERROR_SSL, "\(failure)")
    #expect(failure.openSSLError?.contains(library: ERR_LIB_SSL, reason: SSL_R_WRONG_VERSION_NUMBER) == true)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aSocketPeerThatClosesAfterTheHelloIsAnUnexpectedEOF() throws {
    let peer = try RawTCPPeer(.closeAfterReading)
    let failure = try #require(
      throws: TLSError.self,
      performing: {
        try withClientConnection(try TLSFixture().client(), port: peer.port, serverName: "www.example.test") {
          try $0.handshake()
        }
      })
    #expect(failure.isUnexpectedEOF, "\(failure)")
    #expect(!failure.isTimeout)
  }

  @Test func aSocketPeerThatAnswersGarbageFails() throws {
    let peer = try RawTCPPeer(.answer(Array(repeating: 0x16, count: 7) + Array(repeating: 0xFF, count: 100)))
    let failure = try #require(
      throws: TLSError.self,
      performing: {
        try withClientConnection(try TLSFixture().client(), port: peer.port, serverName: "www.example.test") {
          try $0.handshake()
        }
      })
    #expect(failure.code == SSL_ERROR_SSL || failure.isUnexpectedEOF, "\(failure)")
  }

  @Test func aStallingServerIsATimeoutForAClientWithOne() throws {
    let peer = try RawTCPPeer(.stall)
    let descriptor = try LoopbackSocket.connect(port: peer.port)
    defer { close(descriptor) }
    let connection = try TLSFixture().client().makeConnection(
      serverName: "www.example.test", transport: .socket(descriptor, timeout: .milliseconds(200)))
    let failure = try #require(throws: TLSError.self, performing: { try connection.handshake() })
    #expect(failure.isTimeout, "\(failure)")
    #expect(failure.timeout == .milliseconds(200))
    #expect(failure.description.contains("did not answer within the socket timeout"), "\(failure)")
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aStallingClientIsATimeoutForAServerWithOne() throws {
    let (listener, port) = try LoopbackSocket.listen()
    defer { close(listener) }
    // A client that connects and says nothing.
    let silent = try LoopbackSocket.connect(port: port)
    defer { close(silent) }
    let accepted = accept(listener, nil, nil)
    #expect(accepted >= 0)
    defer { close(accepted) }
    let connection = try TLSFixture().server().makeConnection(
      transport: .socket(accepted, timeout: .milliseconds(200)))
    let failure = try #require(throws: TLSError.self, performing: { try connection.handshake() })
    #expect(failure.isTimeout, "\(failure)")
  }

  @Test func aNonPositiveTimeoutIsRefused() throws {
    let (listener, _) = try LoopbackSocket.listen()
    defer { close(listener) }
    let error = try #require(
      throws: InputError.self,
      performing: { try TLSFixture().server().makeConnection(transport: .socket(listener, timeout: .zero)) })
    #expect(error.reason == .invalidArgument)
  }
}
