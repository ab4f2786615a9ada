// An HTTPS server on Hummingbird 2 with OpenSSLObjectsNIO: its private key stays on a PKCS#11
// token (signatures happen on the token), and it staples an OCSP response it fetches from the
// responder named in its certificate and refreshes before the response runs out.
//
//   https-token-server --cert server.pem --chain intermediates.pem \
//     --key 'pkcs11:token=web;object=tls;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/web/pin' \
//     [--host 127.0.0.1] [--port 8443]
//
// Prints `listening on HOST:PORT` once it accepts connections (port 0: a free port), then serves
// `GET /` until it is stopped. Check it with `curl --cacert root.pem --cert-status https://...`.

import Foundation
import Hummingbird
import HummingbirdOpenSSL
import OpenSSLObjects
import PKCS11Keys

/// Prints a line at once (stdout is a pipe for the tests, which wait for `listening on`).
func say(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// The command line: `--name value` pairs.
struct Options {
  let values: [String: String]

  init(_ arguments: [String]) throws {
    var values: [String: String] = [:]
    var index = 0
    while index < arguments.count {
      guard arguments[index].hasPrefix("--"), index + 1 < arguments.count else {
        throw UsageError("usage: https-token-server --cert FILE --chain FILE --key pkcs11:URI [--host H] [--port N]")
      }
      values[String(arguments[index].dropFirst(2))] = arguments[index + 1]
      index += 2
    }
    self.values = values
  }

  func required(_ name: String) throws -> String {
    guard let value = values[name] else { throw UsageError("--\(name) is required") }
    return value
  }
}

/// The staple the server hands out, refreshed in the background: each handshake reads it, on the
/// event loop, without waiting for the responder.
final class StapleCache: @unchecked Sendable {
  private let lock = NSLock()
  // Guarded by `lock`.
  private var bytes: [UInt8]?

  var current: [UInt8]? { lock.withLock { bytes } }

  /// Asks the certificate's responder (a blocking HTTP exchange of at most 10 seconds, on a task
  /// of its own), keeps the response if it is a successful one for this certificate, and returns
  /// until when it is good.
  func refresh(certificate: X509Certificate, issuer: X509Certificate) throws -> Date? {
    let (_, response) = try OCSPClient().fetch(certificate: certificate, issuer: issuer)
    let single = try response.basicResponse().singleResponse(
      for: try OCSPCertID(certificate: certificate, issuer: issuer))
    lock.withLock { bytes = response.derEncoded }
    say("stapling: \(single.status), next update \(single.nextUpdate.map { "\($0)" } ?? "none")")
    return single.nextUpdate
  }
}

let options = try Options(Array(CommandLine.arguments.dropFirst()))
let certificate = try X509Certificate(contentsOfFile: try options.required("cert"))
let intermediates = try X509Certificate.all(contentsOfFile: try options.required("chain"))
// A module named by the URI loads only from this allow-list.
let module = options.values["module"] ?? "/usr/lib/softhsm/libsofthsm2.so"
let key = try PrivateKey(
  pkcs11: try options.required("key"), options: PKCS11LoadOptions(modulePolicy: .allowList([module])))
guard let issuer = intermediates.first else { throw UsageError("--chain must hold the certificate's issuer") }

// The first staple before the first connection; then one refresh at half the remaining time.
let staples = StapleCache()
let firstNextUpdate = try staples.refresh(certificate: certificate, issuer: issuer)
let refresher = Task.detached {
  var nextUpdate = firstNextUpdate
  while !Task.isCancelled {
    let wait = max(60, (nextUpdate?.timeIntervalSinceNow ?? 7_200) / 2)
    try? await Task.sleep(for: .seconds(wait))
    do {
      nextUpdate = try staples.refresh(certificate: certificate, issuer: issuer)
    } catch {
      say("stapling: refresh failed, keeping the last response: \(error)")
    }
  }
}

var configuration = TLSConfiguration.server([
  CertificateChain(certificate: certificate, chain: intermediates, privateKey: key)
])
configuration.alpnProtocols = ["http/1.1"]
configuration.ocspStaple = .provider { _ in staples.current }
let context = try SSLContext(configuration: configuration)

let router = Router()
router.get("/") { _, _ in "hello over TLS, signed on a PKCS#11 token\n" }
let host = options.values["host"] ?? "127.0.0.1"
let app = Application(
  router: router,
  server: .openSSL(context),
  configuration: .init(address: .hostname(host, port: Int(options.values["port"] ?? "8443") ?? 8443)),
  onServerRunning: { channel in say("listening on \(host):\(channel.localAddress?.port ?? 0)") })
try await app.runService()
refresher.cancel()
