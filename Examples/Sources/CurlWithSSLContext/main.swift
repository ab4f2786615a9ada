// Hand a configured SSL_CTX to a C library: libcurl makes its own SSL_CTX and gives it to
// CURLOPT_SSL_CTX_FUNCTION, where our trust, pins and verify callback go onto it.
//
//   CurlWithSSLContext https://example.com/ [sha256/PIN ...]
//
// Our closures live in the SSL_CTX's ex_data, exactly as long as curl keeps the context.

import CCurlExample
import Foundation
import OpenSSLObjects

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
  FileHandle.standardError.write(Data("usage: CurlWithSSLContext URL [sha256/PIN ...]\n".utf8))
  exit(2)
}

/// What the callback installs, passed through curl's user pointer.
final class Setup: @unchecked Sendable {
  var configuration = {
    var configuration = TLSConfiguration.client  // the OS trust store
    // curl checks the host name itself after the handshake (CURLOPT_SSL_VERIFYHOST) and never
    // sets one on the SSL it makes from this context.
    configuration.hostNameRequirement = .checkedByCaller
    return configuration
  }()
  var failure: (any Error)?
}

let setup = Setup()
do {
  if arguments.count > 2 { setup.configuration.verification.pins = try PinSet(arguments.dropFirst(2)) }
} catch {
  print("error: \(error)")
  exit(2)
}
setup.configuration.verification.verifyCallback = { view in
  if view.ok, let certificate = view.currentCertificate {
    print("verified depth \(view.depth): \(certificate.subject.rfc2253)")
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
_ = example_set_url(curl, arguments[1])
_ = example_set_ssl_ctx_function(curl, install)
_ = example_set_ssl_ctx_data(curl, Unmanaged.passUnretained(setup).toOpaque())
let code = withExtendedLifetime(setup) { curl_easy_perform(curl) }
if code != CURLE_OK {
  print("\ntransfer failed: \(String(cString: curl_easy_strerror(code)))\(setup.failure.map { " (\($0))" } ?? "")")
  exit(1)
}
