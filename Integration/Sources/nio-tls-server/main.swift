// A TLS server on SwiftNIO with OpenSSLObjectsNIO, in structured concurrency (NIOAsyncChannel):
// each connection gets an OpenSSLServerHandler, then answers what it reads upper-cased until the
// client closes its side.
//
//   nio-tls-server --cert server.pem --key server.key [--chain intermediates.pem] [--port 8443]
//   nio-tls-server --cert server.pem --key 'pkcs11:...?module-path=...&pin-source=file:...' [--module PATH] ...
//
// Prints `listening on 127.0.0.1:PORT` once it accepts connections (port 0: a free port).

import Foundation
import NIOCore
import NIOPosix
import OpenSSLObjects
import OpenSSLObjectsNIO
import PKCS11Keys

/// Prints a line at once (stdout is a pipe for the tests, which wait for `listening on`).
func say(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

var values: [String: String] = [:]
var arguments = Array(CommandLine.arguments.dropFirst())
while arguments.count >= 2, arguments[0].hasPrefix("--") {
  values[String(arguments.removeFirst().dropFirst(2))] = arguments.removeFirst()
}
guard arguments.isEmpty, let certificateFile = values["cert"], let keySource = values["key"] else {
  throw UsageError("usage: nio-tls-server --cert FILE --key FILE|pkcs11:URI [--module PATH] [--chain FILE] [--port N]")
}

// The key from a PEM or DER file, or from a PKCS#11 token (signatures happen on the token; the
// module a URI names loads only from this allow-list).
let module = values["module"] ?? "/usr/lib/softhsm/libsofthsm2.so"
let key =
  keySource.hasPrefix("pkcs11:")
  ? try PrivateKey(pkcs11: keySource, options: PKCS11LoadOptions(modulePolicy: .allowList([module])))
  : try PrivateKey(contentsOfFile: keySource)
let chain = CertificateChain(
  certificate: try X509Certificate(contentsOfFile: certificateFile),
  chain: try values["chain"].map { try X509Certificate.all(contentsOfFile: $0) } ?? [],
  privateKey: key)
let context = try SSLContext(configuration: .server([chain]))

let server = try await ServerBootstrap(group: .singletonMultiThreadedEventLoopGroup)
  .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
  // A client that closes its side still gets the answer to what it sent.
  .childChannelOption(.allowRemoteHalfClosure, value: true)
  .bind(host: "127.0.0.1", port: Int(values["port"] ?? "8443") ?? 8443) { channel in
    channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandler(OpenSSLServerHandler(context: context))
      return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
    }
  }
say("listening on 127.0.0.1:\(server.channel.localAddress?.port ?? 0)")

try await withThrowingDiscardingTaskGroup { group in
  try await server.executeThenClose { connections in
    for try await connection in connections {
      group.addTask {
        do {
          try await connection.executeThenClose { input, output in
            let negotiated = try await connection.channel.tlsHandshakeResult().get()
            say("connection: \(negotiated.version.map { "\($0)" } ?? "?"), \(negotiated.cipher ?? "?")")
            for try await var chunk in input {
              let text = chunk.readString(length: chunk.readableBytes) ?? ""
              try await output.write(ByteBuffer(string: text.uppercased()))
            }
          }
        } catch {
          // One connection's failure (a TLSChannelError) ends that connection only.
          say("connection failed: \(error)")
        }
      }
    }
  }
}
