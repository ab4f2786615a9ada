// A custom verification: a callback that sees every step, pins, a chain policy, and OCSP.
//
//   VerifyWithPolicy [--ocsp-response FILE] [--ocsp-fetch] [--hard-fail]
//                    LEAF.pem CHAIN.pem ROOTS.pem [HOST] [sha256/PIN ...]
//
// Prints each step OpenSSL shows the callback, then the verdict with its explanation, then what
// the revocation check found: a response given in a file (DER, as a server staples it), the
// responder named in the certificate asked (--ocsp-fetch), or both, the first that can tell
// deciding. Without --hard-fail a certificate no step could check passes with a report.

import Foundation
import OpenSSLObjects

var positional: [String] = []
var revocation = RevocationPolicy()
var responseFile: String?
var rest = CommandLine.arguments.dropFirst()
while let argument = rest.popFirst() {
  switch argument {
  case "--ocsp-response": responseFile = rest.popFirst()
  case "--ocsp-fetch": revocation.fetch = OCSPClient()
  case "--hard-fail": revocation.failureMode = .hardFail
  default: positional.append(argument)
  }
}
guard positional.count >= 3 else {
  FileHandle.standardError.write(
    Data(
      ("usage: VerifyWithPolicy [--ocsp-response FILE] [--ocsp-fetch] [--hard-fail] "
        + "LEAF.pem CHAIN.pem ROOTS.pem [HOST] [sha256/PIN ...]\n").utf8))
  exit(2)
}

do {
  let leaf = try X509Certificate(contentsOfFile: positional[0])
  let chain = try X509Certificate.all(contentsOfFile: positional[1])
  let store = X509Store()
  for root in try X509Certificate.all(contentsOfFile: positional[2]) { try store.add(root) }

  var policy = VerificationPolicy()
  policy.host = positional.count > 3 ? positional[3] : nil
  if positional.count > 4 { policy.pins = try PinSet(positional.dropFirst(4)) }
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

  // Revocation of the leaf, on the verified chain (never on the chain as given), whose issuer
  // identifies it to the responder. A response from a file is checked as a staple: it must be
  // valid and good, or the check fails.
  let staple = try responseFile.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
  let report = try RevocationChecker.check(
    chain: verified.certificates, store: store, staple: staple, policy: revocation)
  if let source = report.source {
    let until = report.validUntil.map { " until \($0)" } ?? ""
    print("revocation: good (\(source.rawValue))\(until)")
  } else {
    print("revocation: not checked (soft-fail): \(report.unchecked.joined(separator: "; "))")
  }
} catch let error as VerificationError {
  print("not verified: \(error.name) at depth \(error.depth)\n\(error.explanation)")
  exit(1)
} catch let error as OCSPError {
  print("revocation check failed: \(error.check)\n\(error.explanation)")
  exit(1)
} catch {
  print("error: \(error)")
  exit(2)
}
