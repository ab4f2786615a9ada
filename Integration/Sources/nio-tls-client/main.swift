// A TLS client on SwiftNIO with OpenSSLObjectsNIO, in structured concurrency (NIOAsyncChannel):
// connects, sends a message, closes its side (close_notify), and prints what the handshake
// negotiated and what the server sent back.
//
//   nio-tls-client HOST PORT [--ca roots.pem] [--servername NAME] [--message TEXT]
//
// Without --ca the operating system's trust store is used. Exits with 1 when the connection fails.

import Foundation
import NIOCore
import NIOPosix
import OpenSSLObjects
import OpenSSLObjectsNIO

/// Prints a line at once (stdout is a pipe for the tests, which wait for `listening on`).
func say(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

var values: [String: String] = [:]
var positional: [String] = []
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
  let argument = arguments.removeFirst()
  if argument.hasPrefix("--"), !arguments.isEmpty {
    values[String(argument.dropFirst(2))] = arguments.removeFirst()
  } else {
    positional.append(argument)
  }
}
guard positional.count == 2, let port = Int(positional[1]) else {
  throw UsageError("usage: nio-tls-client HOST PORT [--ca FILE] [--servername NAME] [--message TEXT]")
}
let host = positional[0]

var configuration = TLSConfiguration.client
if let roots = values["ca"] { configuration.trust = .certificates(try X509Certificate.all(contentsOfFile: roots)) }
let context = try SSLContext(configuration: configuration)
let serverName = values["servername"] ?? host

do {
  let channel = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
    .connect(host: host, port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(
          OpenSSLClientHandler(context: context, serverName: serverName, port: port))
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
          wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
      }
    }
  let reply = try await channel.executeThenClose { input, output in
    let negotiated = try await channel.channel.tlsHandshakeResult().get()
    say("negotiated: \(negotiated.version.map { "\($0)" } ?? "?"), \(negotiated.cipher ?? "?")")
    say("verified: \(negotiated.verifiedChain.map(\.subject.rfc2253).joined(separator: " <- "))")
    try await output.write(ByteBuffer(string: values["message"] ?? "hello"))
    // close_notify and the end of this side; the server's answer still comes.
    output.finish()
    var reply = ""
    for try await var chunk in input { reply += chunk.readString(length: chunk.readableBytes) ?? "" }
    return reply
  }
  say("reply: \(reply)")
} catch {
  say("failed: \(error)")
  exit(1)
}
