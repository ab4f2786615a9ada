import CBaseline
import OpenSSLObjects

/// Drives two memory-transport connections of ours against each other, the same steps as the C
/// side (`Sources/CBaseline/tls.c`) takes.
enum TLSDriver {
  /// Both handshakes, each side in turn, then the client reads what is in flight (the TLS 1.3
  /// tickets, which a client reads with its first data).
  static func handshake(client: SSLConnection, server: SSLConnection) throws {
    var clientDone = false
    var serverDone = false
    for _ in 0..<10 {
      if !clientDone { clientDone = try client.handshake() == .complete }
      server.receive(client.takeOutput())
      if !serverDone { serverDone = try server.handshake() == .complete }
      client.receive(server.takeOutput())
      if clientDone && serverDone {
        guard case .progress(.wantRead) = try client.read() else {
          throw BenchmarkFailure("the client read data after its handshake")
        }
        return
      }
    }
    throw BenchmarkFailure("the handshake did not finish")
  }

  /// close_notify both ways, so that the client's session stays resumable.
  static func closeCleanly(client: SSLConnection, server: SSLConnection) throws {
    _ = try client.shutdown()
    server.receive(client.takeOutput())
    guard case .closed = try server.read() else { throw BenchmarkFailure("the server did not see close_notify") }
    guard try server.shutdown() == .complete else { throw BenchmarkFailure("the server's shutdown did not finish") }
    client.receive(server.takeOutput())
    guard try client.shutdown() == .complete else { throw BenchmarkFailure("the client's shutdown did not finish") }
  }
}

/// Our client and server contexts for one chain, and C's, made with the same settings.
final class TLSSetup {
  let client: SSLContext
  let server: SSLContext
  let c: OpaquePointer
  let host: String

  init(_ chain: TLSFixtures.Chain, _ f: TLSFixtures, resumption: Bool) throws {
    var client = TLSConfiguration.client
    client.trust = .store(f.store)
    client.sessions.resumption = resumption
    self.client = try SSLContext(configuration: client)
    // The server's trust stays the default (the shared system store), and C's server gets it too.
    server = try SSLContext(configuration: .server([chain.certificateChain]))
    let system = try X509Store.system
    let made = f.store.withUnsafePointer { store in
      system.withUnsafePointer { systemStore in
        chain.leaf.withUnsafePointer { leaf in
          chain.intermediate.withUnsafePointer { intermediate in
            chain.leafKey.withUnsafePointer { key in
              cb_tls_new(
                UnsafeMutableRawPointer(store.raw), UnsafeMutableRawPointer(systemStore.raw),
                UnsafeMutableRawPointer(leaf.raw), UnsafeMutableRawPointer(intermediate.raw),
                UnsafeMutableRawPointer(key.raw), resumption ? 1 : 0)
            }
          }
        }
      }
    }
    guard let made else { throw BenchmarkFailure("cb_tls_new failed") }
    c = made
    host = f.host
  }

  deinit { cb_tls_free(c) }

  /// One connection pair of ours through a whole handshake; with `resume`, the client must have
  /// resumed, and both close cleanly.
  func ourHandshake(resume: Bool) throws {
    let clientConnection = try client.makeConnection(serverName: host)
    let serverConnection = try server.makeConnection()
    try TLSDriver.handshake(client: clientConnection, server: serverConnection)
    if resume {
      guard clientConnection.isSessionReused else { throw BenchmarkFailure("our client did not resume") }
      try TLSDriver.closeCleanly(client: clientConnection, server: serverConnection)
    }
  }

  func cHandshake(resume: Bool, iterations: Int) throws {
    try check(cb_tls_handshake(c, host, resume ? 1 : 0, iterations), "TLS handshake")
  }
}

/// An established connection pair of ours and one of C's, for bulk data.
final class TLSPairs {
  let setup: TLSSetup
  let client: SSLConnection
  let server: SSLConnection
  let c: OpaquePointer

  init(_ setup: TLSSetup) throws {
    self.setup = setup
    client = try setup.client.makeConnection(serverName: setup.host)
    server = try setup.server.makeConnection()
    try TLSDriver.handshake(client: client, server: server)
    guard let pair = cb_tls_pair_new(setup.c, setup.host) else { throw BenchmarkFailure("cb_tls_pair_new failed") }
    c = pair
  }

  deinit { cb_tls_pair_free(c) }

  /// One record from the client, read whole by the server.
  func ourTransfer(_ record: [UInt8]) throws {
    try client.write(record)
    server.receive(client.takeOutput())
    var received = 0
    while received < record.count {
      guard case .data(let chunk) = try server.read() else { throw BenchmarkFailure("the server read no data") }
      received += chunk.count
    }
  }
}

extension Workloads {
  /// Chain verification, contexts, handshakes and bulk data.
  static func tls(_ f: Fixtures) throws -> [Workload] {
    let tls = f.tls
    let full = try (ecdsa: TLSSetup(tls.ecdsa, tls, resumption: false), rsa: TLSSetup(tls.rsa, tls, resumption: false))
    let resuming = try TLSSetup(tls.ecdsa, tls, resumption: true)
    // A first clean handshake on each side, so that every measured one resumes.
    try primeResumption(resuming)
    let nioResuming = OurNIOSide(resuming, record: tls.record)
    return [
      try verifyChain(f),
      try verifyChain(f, profile: .webPKI()),
      try clientContext(),
      handshake("TLS 1.3 handshake, ECDSA P-256", full.ecdsa, key: "handshake-ecdsa"),
      handshake("TLS 1.3 handshake, RSA-2048", full.rsa, key: "handshake-rsa"),
      Workload(
        name: "TLS 1.3 resumed handshake (ticket)",
        note: "a connection pair offering the last session (ECDSA chain), PSK with (EC)DHE, clean close both ways",
        ours: { n in for _ in 0..<n { try resuming.ourHandshake(resume: true) } },
        c: { n in try resuming.cHandshake(resume: true, iterations: n) },
        peers: [Side(name: "ours_nio") { n in try nioResuming.handshakes(n, resume: true) }], peerKey: "resumed"),
      try bulk(f, full.ecdsa),
      try largeWrites(f, full.ecdsa),
    ]
  }

  /// Makes both clients hold a resumable session (a full handshake, tickets read, clean close).
  private static func primeResumption(_ setup: TLSSetup) throws {
    let client = try setup.client.makeConnection(serverName: setup.host)
    let server = try setup.server.makeConnection()
    try TLSDriver.handshake(client: client, server: server)
    try TLSDriver.closeCleanly(client: client, server: server)
    try check(cb_tls_handshake(setup.c, setup.host, 2, 1), "priming C's session")
  }

  /// With a profile, the C side is still raw OpenSSL's verification: the ratio against the
  /// workload without the profile is what the profile's checks cost.
  static func verifyChain(_ f: Fixtures, profile: VerificationProfile? = nil) throws -> Workload {
    let chain = f.tls.ecdsa
    let store = f.tls.store
    let host = f.tls.host
    var policy = VerificationPolicy(host: host)
    policy.profile = profile
    return Workload(
      name: "verify chain (3 deep, host name\(profile.map { ", \($0.name) profile" } ?? ""))",
      note: "X509Store.verify(_:untrusted:policy:)\(profile == nil ? "" : " with the Web PKI profile's checks")"
        + " against X509_STORE_CTX_init + X509_VERIFY_PARAM_set1_host + X509_verify_cert + X509_STORE_CTX_get1_chain",
      ours: { n in
        for _ in 0..<n {
          blackHole(try store.verify(chain.leaf, untrusted: [chain.intermediate], policy: policy))
        }
      },
      c: { n in
        let status = store.withUnsafePointer { store in
          chain.leaf.withUnsafePointer { leaf in
            chain.intermediate.withUnsafePointer { intermediate in
              cb_verify_chain(
                UnsafeMutableRawPointer(store.raw), UnsafeMutableRawPointer(leaf.raw),
                UnsafeMutableRawPointer(intermediate.raw), host, n)
            }
          }
        }
        try check(status, "verify chain")
      })
  }

  static func clientContext() throws -> Workload {
    let system = try X509Store.system
    return Workload(
      name: "client context (shared system store)",
      note: "SSLContext(configuration: .client) against SSL_CTX_new + the same settings + SSL_CTX_set1_cert_store"
        + " of the shared system store; naive: SSL_CTX_set_default_verify_paths per context",
      ours: { n in
        for _ in 0..<n { blackHole(try SSLContext(configuration: .client)) }
      },
      c: { n in
        try check(system.withUnsafePointer { cb_client_context(UnsafeMutableRawPointer($0.raw), n) }, "context")
      },
      naiveC: { n in try check(cb_client_context_naive(n), "naive context") })
  }

  static func handshake(_ name: String, _ setup: TLSSetup, key: String) -> Workload {
    let nio = OurNIOSide(setup, record: [])
    return Workload(
      name: name,
      note: "a connection pair over memory, the client verifying the chain and host name; tickets read, no session"
        + " offered; ours_nio: our handlers on EmbeddedChannels, then close_notify both ways",
      ours: { n in for _ in 0..<n { try setup.ourHandshake(resume: false) } },
      c: { n in try setup.cHandshake(resume: false, iterations: n) },
      peers: [Side(name: "ours_nio") { n in try nio.handshakes(n, resume: false) }], peerKey: key)
  }

  /// The same with 256 KiB per write: what a per-message cost (a NIO pipeline's) is per byte.
  static func largeWrites(_ f: Fixtures, _ setup: TLSSetup) throws -> Workload {
    let pairs = try TLSPairs(setup)
    let payload = f.tls.largeWrite
    let nio = OurNIOSide(setup, record: payload)
    return Workload(
      name: "TLS 1.3 bulk, 256 KiB writes",
      note: "as the 16 KiB bulk workload with 256 KiB per write (16 records); ours_nio: one 256 KiB ByteBuffer",
      ours: { n in for _ in 0..<n { try pairs.ourTransfer(payload) } },
      c: { n in try check(cb_tls_bulk(pairs.c, payload, payload.count, n), "bulk") },
      peers: [Side(name: "ours_nio") { n in try nio.bulk(n) }], peerKey: "bulk-256k")
  }

  static func bulk(_ f: Fixtures, _ setup: TLSSetup) throws -> Workload {
    let pairs = try TLSPairs(setup)
    let record = f.tls.record
    let nio = OurNIOSide(setup, record: record)
    return Workload(
      name: "TLS 1.3 bulk, 16 KiB records",
      note: "SSLConnection.write of 16 KiB, takeOutput, receive, read until all is read (AES-128-GCM); ours_nio:"
        + " writeAndFlush of a 16 KiB ByteBuffer through our handlers on EmbeddedChannels, read until all is read",
      ours: { n in for _ in 0..<n { try pairs.ourTransfer(record) } },
      c: { n in try check(cb_tls_bulk(pairs.c, record, record.count, n), "bulk") },
      peers: [Side(name: "ours_nio") { n in try nio.bulk(n) }], peerKey: "bulk")
  }
}
