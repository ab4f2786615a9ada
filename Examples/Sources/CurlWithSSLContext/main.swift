// Hand a configured SSL_CTX to a C library: libcurl makes its own SSL_CTX and gives it to
// CURLOPT_SSL_CTX_FUNCTION, where our trust, pins and verify callback go onto it.
//
//   CurlWithSSLContext [--trusted ROOTS.pem] URL [sha256/PIN ...]
//
// With --trusted, only those anchors are trusted (the context gets a store of its own, never a
// change to curl's); otherwise the operating system's store. When the transfer fails in
// verification, the explanation is ours (which certificate, and why), not only curl's code.
// Our closures live in the SSL_CTX's ex_data, exactly as long as curl keeps the context.

import CCurlExample
import Foundation
import OpenSSLObjects

var positional: [String] = []
var trustedFile: String?
var rest = CommandLine.arguments.dropFirst()
while let argument = rest.popFirst() {
  if argument == "--trusted" { trustedFile = rest.popFirst() } else { positional.append(argument) }
}
guard positional.count >= 1 else {
  FileHandle.standardError.write(Data("usage: CurlWithSSLContext [--trusted ROOTS.pem] URL [sha256/PIN ...]\n".utf8))
  exit(2)
}

/// What the callback installs, passed through curl's user pointer, and what verification saw.
final class Setup: @unchecked Sendable {
  var configuration = {
    var configuration = TLSConfiguration.client  // the OS trust store unless --trusted
    // curl checks the host name itself after the handshake (CURLOPT_SSL_VERIFYHOST) and never
    // sets one on the SSL it makes from this context.
    configuration.hostNameRequirement = .checkedByCaller
    return configuration
  }()
  var failure: (any Error)?
  var lastVerificationError: VerificationError?
}

let setup = Setup()
do {
  if let trustedFile { setup.configuration.trust = .certificates(try X509Certificate.all(contentsOfFile: trustedFile)) }
  if positional.count > 1 { setup.configuration.verification.pins = try PinSet(positional.dropFirst()) }
} catch {
  print("error: \(error)")
  exit(2)
}
setup.configuration.verification.verifyCallback = { [unowned setup] view in
  if view.ok, let certificate = view.currentCertificate {
    print("verified depth \(view.depth): \(certificate.subject.rfc2253)")
  } else if !view.ok {
    setup.lastVerificationError = view.verificationError  // the diagnosis, for after the transfer
  }
  return .keep
}

let install: example_ssl_ctx_callback = { _, context, user in
  guard let context, let user else { return CURLE_ABORTED_BY_CALLBACK }
  let setup = Unmanaged<Setup>.fromOpaque(user).takeUnretainedValue()
  do {
    // curl owns the SSL_CTX: share it, and put our verification on it.
    try SSLContext(retaining: OpenSSLPointer(OpaquePointer(context))).installVerification(setup.configuration)
    return CURLE_OK
  } catch {
    setup.failure = error
    return CURLE_ABORTED_BY_CALLBACK
  }
}

let curl = curl_easy_init()!
defer { curl_easy_cleanup(curl) }
_ = example_set_url(curl, positional[0])
// With a store of our own, curl must not load its default CA bundle: it would add it to our store.
if trustedFile != nil { _ = example_set_no_default_trust(curl) }
_ = example_set_ssl_ctx_function(curl, install)
_ = example_set_ssl_ctx_data(curl, Unmanaged.passUnretained(setup).toOpaque())
let code = withExtendedLifetime(setup) { curl_easy_perform(curl) }
if code != CURLE_OK {
  print("\ntransfer failed: \(String(cString: curl_easy_strerror(code)))\(setup.failure.map { " (\($0))" } ?? "")")
  if let error = setup.lastVerificationError { print("\(error.name) at depth \(error.depth): \(error.explanation)") }
  exit(1)
}
