import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Bounded stress: many threads share one context, store, certificate or key. The counts are
/// fixed, nothing asserts a duration, and scripts/test.sh runs these under ThreadSanitizer.
@Suite("Concurrency: many threads sharing one context, store, certificate or key")
struct ConcurrencyStressTests {
  static let threads = 8
  /// Fewer rounds under a sanitizer, which makes each one several times slower.
  static let rounds = Sanitizer.current == .none ? 6 : 3

  @Test func manyThreadsHandshakeThroughOneSharedContext() throws {
    let fixture = try TLSFixture()
    let verifyCalls = Counter()
    let server = try fixture.server()
    let client = try fixture.client {
      $0.verification.verifyCallback = { _ in
        verifyCalls.increment()
        return .keep
      }
    }
    let failures = Recorder<String>()
    DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
      for round in 0..<Self.rounds {
        do {
          // One host and port for all: the threads share the context's session cache too.
          let clientConnection = try client.makeConnection(serverName: "www.example.test")
          let serverConnection = try server.makeConnection()
          try TLSPair.handshakeBlocking(client: clientConnection, server: serverConnection)
          let message = Array("thread \(thread) round \(round)".utf8)
          let received = try TLSPair.transfer(message, from: clientConnection, to: serverConnection)
          if received != message { failures.append("\(thread)/\(round): received \(received)") }
          try TLSPair.closeCleanly(client: clientConnection, server: serverConnection)
        } catch {
          failures.append("\(thread)/\(round): \(error)")
        }
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
    // Full handshakes call the callback once per certificate; resumed ones skip it.
    #expect(verifyCalls.value >= 3)
    #expect(client.cachedSessionCount >= 1)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func manyClientThreadsAgainstOneLoopbackServerOverSockets() throws {
    let fixture = try TLSFixture()
    let server = try LoopbackTLSServer(context: try fixture.server(), connections: Self.threads) { connection in
      guard case .data(let bytes) = try connection.read() else { return "no data" }
      try connection.write(bytes)
      return String(decoding: bytes, as: UTF8.self)
    }
    let client = try fixture.client()
    let failures = Recorder<String>()
    DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
      do {
        try withClientConnection(client, port: server.port, serverName: "www.example.test") { connection in
          try connection.handshake()
          try connection.write(Array("hello \(thread)".utf8))
          guard case .data(let echo) = try connection.read(), echo == Array("hello \(thread)".utf8) else {
            failures.append("\(thread): no echo")
            return
          }
          _ = try? connection.shutdown()
        }
      } catch {
        failures.append("\(thread): \(error)")
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
    let results = server.wait(for: Self.threads)
    #expect(results.count == Self.threads)
    #expect(results.allSatisfy { (try? $0.get())?.hasPrefix("hello ") == true }, "\(results)")
  }

  @Test func manyThreadsVerifyAgainstOneStore() throws {
    let pki = try TestPKI()
    let store = X509Store()
    try store.add(pki.root)
    let storeCalls = Counter()
    try store.setVerifyCallback { _ in
      storeCalls.increment()
      return .keep
    }
    let failures = Recorder<String>()
    DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
      for round in 0..<(Self.rounds * 2) {
        let good = (thread + round) % 2 == 0
        var policy = VerificationPolicy(host: good ? "www.example.test" : "other.example.test")
        policy.pins = try? PinSet([pki.root.spkiPin])
        do {
          let verified = try store.verify(pki.leaf, untrusted: [pki.intermediate], policy: policy)
          if !good || verified.certificates != [pki.leaf, pki.intermediate, pki.root] {
            failures.append("\(thread)/\(round): verified \(verified.certificates)")
          }
        } catch let error as VerificationError {
          if good || error.code != .hostnameMismatch { failures.append("\(thread)/\(round): \(error)") }
        } catch {
          failures.append("\(thread)/\(round): \(error)")
        }
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
    #expect(storeCalls.value >= Self.threads * Self.rounds * 2)
    #expect(store.isFrozen)
  }

  @Test func manyThreadsReadOneCertificateAndSignWithOneKey() throws {
    let pki = try TestPKI()
    let message = Array("one key, many threads".utf8)
    let failures = Recorder<String>()
    DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
      for _ in 0..<Self.rounds {
        do {
          // Accessors fill OpenSSL's lazy caches inside the X509 (extensions, hashes).
          _ = try pki.leaf.subjectAlternativeNames
          _ = try pki.leaf.keyUsage
          _ = pki.leaf.sha256Fingerprint
          _ = pki.leaf.hashValue
          guard try pki.leaf.matchesHost("www.example.test") else {
            failures.append("\(thread): no host match")
            continue
          }
          let signature = try pki.leafKey.signature(for: message)
          guard try pki.leaf.publicKey.isValidSignature(signature, for: message) else {
            failures.append("\(thread): a bad signature")
            continue
          }
        } catch {
          failures.append("\(thread): \(error)")
        }
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
  }

  @Test func manyThreadsStapleAndCheckThroughOneContextAndValidateOneResponse() throws {
    let fixture = try StaplingFixture(mustStaple: true)
    let staple = try fixture.good()
    let asked = Counter()
    // The provider is called on each server connection's thread, concurrently.
    let server = try fixture.server(
      .provider { certificate in
        asked.increment()
        return certificate == nil ? nil : staple
      })
    // No resumption: every handshake checks a staple.
    let client = try fixture.client { $0.sessions.resumption = false }
    let response = try OCSPResponse(derEncoded: staple).basicResponse()
    let id = try fixture.ocsp.leafID()
    let store = try fixture.ocsp.store()
    let failures = Recorder<String>()
    DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
      for round in 0..<Self.rounds {
        do {
          let clientConnection = try client.makeConnection(serverName: "www.example.test")
          try TLSPair.handshakeBlocking(client: clientConnection, server: try server.makeConnection())
          if clientConnection.revocationReport?.source != .staple {
            failures.append("\(thread)/\(round): \(String(describing: clientConnection.revocationReport))")
          }
          // One basic response and one store, shared by every thread.
          let single = try response.validate(id, store: store, untrusted: [fixture.pki.intermediate])
          if single.status != .good { failures.append("\(thread)/\(round): \(single.status)") }
        } catch {
          failures.append("\(thread)/\(round): \(error)")
        }
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
    #expect(asked.value == Self.threads * Self.rounds)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }
}
