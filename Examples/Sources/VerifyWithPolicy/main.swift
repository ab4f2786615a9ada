// A custom verification: a callback that sees every step, pins, and a chain policy.
//
//   VerifyWithPolicy LEAF.pem CHAIN.pem ROOTS.pem [HOST] [sha256/PIN ...]
//
// Prints each step OpenSSL shows the callback, then the verdict with its explanation.

import Foundation
import OpenSSLObjects

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
  FileHandle.standardError.write(
    Data("usage: VerifyWithPolicy LEAF.pem CHAIN.pem ROOTS.pem [HOST] [sha256/PIN ...]\n".utf8))
  exit(2)
}

do {
  let leaf = try X509Certificate(contentsOfFile: arguments[1])
  let chain = try X509Certificate.all(contentsOfFile: arguments[2])
  let store = X509Store()
  for root in try X509Certificate.all(contentsOfFile: arguments[3]) { try store.add(root) }

  var policy = VerificationPolicy()
  policy.host = arguments.count > 4 ? arguments[4] : nil
  if arguments.count > 5 { policy.pins = try PinSet(arguments.dropFirst(5)) }
  // Called once per error at each depth (ok false) and once per certificate that passes (ok true).
  policy.verifyCallback = { view in
    let subject = view.currentCertificate?.subject.rfc2253 ?? "(the chain as a whole)"
    print("depth \(view.depth) \(view.ok ? "ok" : "error \(view.error.name)"): \(subject)")
    return .keep
  }
  // Runs after OpenSSL's full verification and the pins; it can only reject.
  policy.chainPolicy = { certificates in
    certificates.count <= 4 ? .accept : .reject("chains longer than four certificates are not accepted here")
  }
  let verified = try store.verify(leaf, untrusted: chain, policy: policy)
  print("verified: \(verified.certificates.map(\.subject.rfc2253).joined(separator: " <- "))")
} catch let error as VerificationError {
  print("not verified: \(error.name) at depth \(error.depth)\n\(error.explanation)")
  exit(1)
} catch {
  print("error: \(error)")
  exit(2)
}
