// The benchmark harness with swift-nio-ssl as a peer of the TLS workloads: the same commands as
// `openssl-objects-bench` (see `Harness`), where every handshake and bulk workload also runs
// through NIOSSLClientHandler and NIOSSLServerHandler on two EmbeddedChannels, in the same
// interleaved rounds. swift-nio-ssl brings its own BoringSSL: this side does not use the system
// OpenSSL at all.

import BenchmarkKit

Harness.main(name: "openssl-objects-bench-peers") { fixtures, workloads in
  let nio = try NIOPeer(fixtures.tls)
  return workloads.map { workload in
    guard let key = workload.peerKey, let side = nio.side(for: key) else { return workload }
    return workload.adding(peers: [side])
  }
}
