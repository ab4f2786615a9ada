// An HTTPS server on Hummingbird 2 with OpenSSLObjectsNIO: its private key stays on a PKCS#11
// token (signatures happen on the token), and it staples an OCSP response it fetches from the
// responder named in its certificate and refreshes before the response runs out
// (OCSPStapleRefresher).
//
//   https-token-server --cert server.pem --chain intermediates.pem --trust roots.pem \
//     --key 'pkcs11:token=web;object=tls;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/web/pin' \
//     [--module /usr/lib/softhsm/libsofthsm2.so] [--host 127.0.0.1] [--port 8443] [--allow-private-destinations yes]
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
        throw UsageError(
          "usage: https-token-server --cert FILE --chain FILE --trust FILE --key pkcs11:URI [--module PATH] [--host H]"
            + " [--port N] [--allow-private-destinations yes]")
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

let options = try Options(Array(CommandLine.arguments.dropFirst()))
let certificate = try X509Certificate(contentsOfFile: try options.required("cert"))
let intermediates = try X509Certificate.all(contentsOfFile: try options.required("chain"))
// A module named by the URI loads only from this allow-list.
let module = options.values["module"] ?? "/usr/lib/softhsm/libsofthsm2.so"
let key = try PrivateKey(
  pkcs11: try options.required("key"), options: PKCS11LoadOptions(modulePolicy: .allowList([module])))
guard let issuer = intermediates.first else { throw UsageError("--chain must hold the certificate's issuer") }

// The staple: fetched from the certificate's responder and checked (its signer must chain to the
// roots given with --trust) before the first connection; a handshake after half of its validity
// starts a refresh in the background, and no handshake ever waits for the responder.
let store = X509Store()
for root in try X509Certificate.all(contentsOfFile: try options.required("trust")) { try store.add(root) }
// OCSP responders are asked at public addresses only, unless this says otherwise.
let client =
  options.values["allow-private-destinations"] == "yes"
  ? OCSPClient(destinations: .allowingPrivate) : OCSPClient()
let refresher = try OCSPStapleRefresher(certificate: certificate, issuer: issuer, store: store, client: client)
try refresher.refresh()
if let bytes = refresher.currentResponse {
  let single = try OCSPResponse(derEncoded: bytes).basicResponse().singleResponse(
    for: try OCSPCertID(certificate: certificate, issuer: issuer))
  say("stapling: \(single.status), next update \(single.nextUpdate.map { "\($0)" } ?? "none")")
}

var configuration = TLSConfiguration.server([
  CertificateChain(certificate: certificate, chain: intermediates, privateKey: key)
])
configuration.alpnProtocols = ["http/1.1"]
configuration.ocspStaple = refresher.staple
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
