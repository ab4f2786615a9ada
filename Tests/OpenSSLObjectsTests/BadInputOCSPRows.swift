import Foundation
import OpenSSLObjects
import TestSupport

/// The OCSP rows of the bad-input table: bytes that are not an OCSP message, values the builders
/// refuse, responses that fail a client's checks, and responder URLs the client refuses before
/// it connects anywhere.
extension BadInput {
  static let ocspRows: [BadInput] = ocspBytesRows + ocspCheckRows + ocspPolicyAndClientRows

  /// A good response for the leaf, as DER.
  private static func goodResponseDER(_ f: Fixtures) throws -> [UInt8] {
    try f.ocsp.response().derEncoded
  }

  static let ocspBytesRows: [BadInput] = [
    BadInput("OCSP response DER: empty", .empty) { _ in _ = try OCSPResponse(derEncoded: [UInt8]()) },
    BadInput("OCSP response DER: truncated", .truncated) { f in
      _ = try OCSPResponse(derEncoded: Array(try goodResponseDER(f).prefix(40)))
    },
    BadInput("OCSP response DER: trailing bytes", .trailingData) { f in
      _ = try OCSPResponse(derEncoded: try goodResponseDER(f) + [0])
    },
    BadInput("OCSP response DER: random bytes", .malformed) { _ in
      _ = try OCSPResponse(derEncoded: [0x04, 0x03, 0xDE, 0xAD, 0xBE])
    },
    BadInput("OCSP response DER: a certificate", .wrongType) { f in _ = try OCSPResponse(derEncoded: f.certificateDER)
    },
    BadInput("OCSP response PEM: a certificate block", .wrongPEMLabel) { f in
      _ = try OCSPResponse(pemEncoded: f.certificatePEM)
    },
    BadInput("OCSP response file: missing", .unreadableFile) { f in
      _ = try OCSPResponse(contentsOfFile: f.directory.file("missing.der"))
    },
    BadInput("OCSP request DER: empty", .empty) { _ in _ = try OCSPRequest(derEncoded: [UInt8]()) },
    BadInput("OCSP request DER: truncated", .truncated) { f in
      let request = try OCSPRequest(ids: [try f.ocsp.leafID()]).derEncoded
      _ = try OCSPRequest(derEncoded: Array(request.prefix(request.count - 3)))
    },
    BadInput("OCSP request DER: a response", .wrongType) { f in _ = try OCSPRequest(derEncoded: try goodResponseDER(f))
    },
    BadInput("OCSP request: no certificate IDs", .invalidArgument) { _ in _ = try OCSPRequest(ids: []) },
    BadInput("OCSP response builder: a key that is not the signer's", .invalidArgument) { f in
      var builder = OCSPResponseBuilder()
      builder.add(try f.ocsp.leafID(), status: .good)
      _ = try builder.sign(with: f.pki.rootKey, signer: f.pki.intermediate)
    },
  ]

  static let ocspCheckRows: [BadInput] = [
    BadInput("OCSP response: an error status (tryLater)", .responseStatus) { f in
      try f.validateLeaf(try OCSPResponseBuilder.errorResponse(.tryLater))
    },
    BadInput("OCSP response: a corrupt signature", .signature) { f in
      var der = try f.ocsp.response { $0.includeSignerCertificate = false }.derEncoded
      der[der.count - 1] ^= 0x01
      try f.validateLeaf(try OCSPResponse(derEncoded: der))
    },
    BadInput("OCSP response: the signer's certificate nowhere", .signerNotFound) { f in
      let response = try f.ocsp.response(signer: (f.ocsp.delegated, f.ocsp.delegatedKey)) {
        $0.includeSignerCertificate = false
      }
      try f.validateLeaf(response)
    },
    BadInput("OCSP response: signed by a responder of an untrusted CA", .signerNotTrusted) { f in
      let other = try TestPKI(leafName: "responder.example.test")
      try f.validateLeaf(try f.ocsp.response(signer: (other.leaf, other.leafKey)))
    },
    BadInput("OCSP response: signed by a certificate the issuer did not delegate", .signerNotAuthorized) { f in
      try f.validateLeaf(try f.ocsp.response(signer: (f.ocsp.notDelegated, f.ocsp.notDelegatedKey)))
    },
    BadInput("OCSP response: signed by another CA's responder", .signerNotAuthorized) { f in
      try f.validateLeaf(try f.ocsp.response(signer: (f.ocsp.unrelated, f.ocsp.unrelatedKey)))
    },
    BadInput("OCSP response: about another certificate", .certificateNotInResponse) { f in
      var builder = OCSPResponseBuilder()
      builder.add(try OCSPCertID(certificate: f.pki.intermediate, issuer: f.pki.root), status: .good)
      try f.validateLeaf(try builder.sign(with: f.pki.rootKey, signer: f.pki.root))
    },
    BadInput("OCSP response: revoked", .revoked) { f in
      try f.validateLeaf(try f.ocsp.response(.revoked(time: Date(timeIntervalSinceNow: -3_600), reason: .superseded)))
    },
    BadInput("OCSP response: unknown", .unknown) { f in try f.validateLeaf(try f.ocsp.response(.unknown)) },
    BadInput("OCSP response: stale (nextUpdate a day ago)", .stale) { f in
      try f.validateLeaf(
        try f.ocsp.response(
          thisUpdate: Date(timeIntervalSinceNow: -2 * 86_400), nextUpdate: Date(timeIntervalSinceNow: -86_400)))
    },
    BadInput("OCSP response: thisUpdate an hour ahead", .notYetValid) { f in
      try f.validateLeaf(try f.ocsp.response(thisUpdate: Date(timeIntervalSinceNow: 3_600)))
    },
    BadInput("OCSP response: no nextUpdate and eight days old", .tooOld) { f in
      try f.validateLeaf(try f.ocsp.response(thisUpdate: Date(timeIntervalSinceNow: -8 * 86_400), nextUpdate: nil))
    },
    BadInput("OCSP response: another nonce than the request's", .nonceMismatch) { f in
      let request = try OCSPRequest(ids: [try f.ocsp.leafID()], nonce: .random)
      try f.validateLeaf(try f.ocsp.response { $0.nonce = Array(repeating: 7, count: 16) }, request: request)
    },
    BadInput("OCSP response: no nonce when one is required", .nonceMissing) { f in
      let request = try OCSPRequest(ids: [try f.ocsp.leafID()], nonce: .random)
      var options = OCSPValidationOptions()
      options.requireNonce = true
      try f.validateLeaf(try f.ocsp.response(), request: request, options: options)
    },
  ]

  static let ocspPolicyAndClientRows: [BadInput] = [
    BadInput("revocation: a staple of garbage bytes", .notBasicResponse) { f in
      _ = try RevocationChecker.check(
        chain: [f.pki.leaf, f.pki.intermediate, f.pki.root], store: try f.ocsp.store(), staple: Array("garbage".utf8),
        policy: RevocationPolicy())
    },
    BadInput("revocation: a must-staple certificate without a staple", .missingStaple) { _ in
      let mustStaple = try OCSPPKI(mustStaple: true)
      _ = try RevocationChecker.check(
        chain: [mustStaple.pki.leaf, mustStaple.pki.intermediate], store: try mustStaple.store(),
        policy: RevocationPolicy())
    },
    BadInput("revocation: hard-fail with nothing to check", .notChecked) { f in
      var policy = RevocationPolicy()
      policy.failureMode = .hardFail
      _ = try RevocationChecker.check(
        chain: [f.pki.leaf, f.pki.intermediate], store: try f.ocsp.store(), policy: policy)
    },
    BadInput("revocation: an empty chain", .notChecked) { f in
      _ = try RevocationChecker.check(chain: [], store: try f.ocsp.store(), policy: RevocationPolicy())
    },
    BadInput("OCSP client: a certificate naming no responder", .noResponderURL) { f in
      _ = try OCSPClient.responderURL(for: f.pki.root)
    },
    BadInput("OCSP client: an https URL", .notHTTP) { f in
      _ = try OCSPClient().send(try OCSPRequest(ids: [try f.ocsp.leafID()]), to: "https://127.0.0.1:9/")
    },
    BadInput("OCSP client: a URL that is not one", .invalidURL) { f in
      _ = try OCSPClient().send(try OCSPRequest(ids: [try f.ocsp.leafID()]), to: "http://[::1")
    },
  ]
}
