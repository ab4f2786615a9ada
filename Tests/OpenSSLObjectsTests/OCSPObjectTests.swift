import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The OCSP objects: certificate IDs, requests, responses built and signed here, and every check
/// a response can fail, each with its own typed error.
@Suite("OCSP: certificate IDs, requests, responses and their checks")
struct OCSPObjectTests {
  /// The error a check throws.
  private func failure(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
  ) throws
    -> OCSPError
  {
    try caught(OCSPError.self, sourceLocation: sourceLocation, body)
  }

  @Test func certificateIDsAreSHA1ByDefaultAndMatchAcrossAlgorithms() throws {
    let fixture = try OCSPPKI()
    let sha1 = try fixture.leafID()
    let sha256 = try fixture.leafID(.sha256)
    #expect(sha1.hashAlgorithm.shortName == "SHA1")
    #expect(sha256.hashAlgorithm.shortName == "SHA256")
    #expect(sha1.serialNumber == fixture.pki.leaf.serialNumber)
    #expect(sha1.issuerKeyHash.count == 20)
    #expect(sha256.issuerKeyHash.count == 32)
    #expect(!sha1.isIdentical(to: sha256))
    // Made from the certificate and issuer, an ID matches a single response hashed otherwise.
    #expect(sha1.matches(sha256))
    #expect(sha256.matches(sha1))
    let other = try OCSPCertID(certificate: fixture.delegated, issuer: fixture.pki.intermediate)
    #expect(!sha1.matches(other))
    #expect(try sha1.copy().isIdentical(to: sha1))
  }

  @Test func requestsRoundTripWithNonceAndSignature() throws {
    let fixture = try OCSPPKI()
    let ids = [try fixture.leafID(), try OCSPCertID(certificate: fixture.delegated, issuer: fixture.pki.intermediate)]
    let request = try OCSPRequest(ids: ids, nonce: .random)
    let decoded = try OCSPRequest(derEncoded: request.derEncoded)
    #expect(decoded.ids.count == 2)
    #expect(decoded.ids[0].isIdentical(to: ids[0]))
    #expect(decoded.nonce?.count == 16)
    #expect(decoded.nonce == request.nonce)
    #expect(!decoded.isSigned)
    #expect(try OCSPRequest(pemEncoded: request.pemEncoded).derEncoded == request.derEncoded)
    #expect(try OCSPRequest(ids: ids, nonce: .bytes([1, 2, 3])).nonce == [1, 2, 3])
    #expect(try OCSPRequest(ids: ids).nonce == nil)

    let signer = CertificateChain(certificate: fixture.pki.leaf, privateKey: fixture.pki.leafKey)
    #expect(try OCSPRequest(ids: ids, signer: signer).isSigned)
    #expect(throws: InputError.self) { try OCSPRequest(ids: []) }
    #expect(throws: InputError.self) { try OCSPRequest(derEncoded: fixture.pki.leaf.derEncoded) }
  }

  @Test func aBuiltResponseReadsBack() throws {
    let fixture = try OCSPPKI()
    let response = try fixture.response(.good)
    #expect(response.status == .successful)
    let decoded = try OCSPResponse(derEncoded: response.derEncoded)
    let basic = try decoded.basicResponse()
    #expect(basic.responderID == .name(fixture.pki.intermediate.subject.rfc2253))
    #expect(abs(basic.producedAt.timeIntervalSinceNow) < 300)
    #expect(basic.certificates == [fixture.pki.intermediate])
    let single = try #require(basic.singleResponses.first)
    #expect(single.status == .good)
    #expect(single.nextUpdate != nil)
    #expect(try OCSPResponse(pemEncoded: response.pemEncoded).derEncoded == response.derEncoded)
    let byKey = try fixture.response { $0.responderIDByKey = true }
    let keyID = try #require(try fixture.pki.intermediate.subjectKeyIdentifier)
    #expect(try byKey.basicResponse().responderID == .keyHash(keyID))
    // The objects inspect reads.
    let objects = try DecodedObject.readAll(bytes: Array((response.pemEncoded + response.pemEncoded).utf8))
    #expect(objects.count == 2)
    guard case .ocspResponse(let first) = objects[0] else {
      Issue.record("not an OCSP response: \(objects[0])")
      return
    }
    #expect(first.derEncoded == response.derEncoded)
  }

  @Test func goodRevokedAndUnknown() throws {
    let fixture = try OCSPPKI()
    let store = try fixture.store()
    let id = try fixture.leafID()
    let good = try fixture.response(.good).basicResponse().validate(id, store: store)
    #expect(good.status == .good)

    let revokedAt = Date(timeIntervalSince1970: 1_700_000_000)
    let revoked = try failure {
      try fixture.response(.revoked(time: revokedAt, reason: .keyCompromise)).basicResponse().validate(id, store: store)
    }
    #expect(revoked.check == .revoked)
    #expect(revoked.revocationTime == revokedAt)
    #expect(revoked.revocationReason == .keyCompromise)
    #expect(
      revoked.explanation
        == "The certificate with serial \(fixture.pki.leaf.serialNumber.hex) was revoked at 2023-11-14T22:13:20Z "
        + "(reason: key compromise).")

    let unknown = try failure { try fixture.response(.unknown).basicResponse().validate(id, store: store) }
    #expect(unknown.check == .unknown)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func signersTheIssuerDelegatedAndNoOthers() throws {
    let fixture = try OCSPPKI()
    let id = try fixture.leafID()
    let chain = [fixture.pki.intermediate]
    // A delegated responder with the OCSP-signing EKU, issued by the leaf's issuer.
    let delegated = try fixture.response(signer: (fixture.delegated, fixture.delegatedKey))
    try delegated.basicResponse().validate(id, store: try fixture.store(), untrusted: chain)

    let notDelegated = try failure {
      try fixture.response(signer: (fixture.notDelegated, fixture.notDelegatedKey)).basicResponse()
        .validate(id, store: try fixture.store(), untrusted: chain)
    }
    #expect(notDelegated.check == .signerNotAuthorized)
    #expect(notDelegated.explanation.contains("lacks the OCSP-signing extended key usage"))

    let unrelated = try failure {
      try fixture.response(signer: (fixture.unrelated, fixture.unrelatedKey)).basicResponse()
        .validate(id, store: try fixture.store(), untrusted: chain)
    }
    #expect(unrelated.check == .signerNotAuthorized)

    // A responder chaining to a root the store does not trust: the response's own certificates
    // are never trusted.
    let stranger = try OCSPPKI()
    let untrusted = try failure {
      try fixture.response(signer: (fixture.delegated, fixture.delegatedKey)).basicResponse()
        .validate(id, store: try stranger.store(), untrusted: chain)
    }
    #expect(untrusted.check == .signerNotTrusted)

    let withoutCertificates = try fixture.response { $0.includeSignerCertificate = false }
    let notFound = try failure { try withoutCertificates.basicResponse().validate(id, store: try fixture.store()) }
    #expect(notFound.check == .signerNotFound)
    // Given the signer, the same response verifies.
    try withoutCertificates.basicResponse().validate(id, store: try fixture.store(), untrusted: chain)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aCorruptSignatureFails() throws {
    let fixture = try OCSPPKI()
    // Without certificates the signature is the last thing in the DER: flip its last byte.
    var der = try fixture.response { $0.includeSignerCertificate = false }.derEncoded
    der[der.count - 1] ^= 0x01
    let error = try failure {
      try OCSPResponse(derEncoded: der).basicResponse().validate(
        try fixture.leafID(), store: try fixture.store(), untrusted: [fixture.pki.intermediate])
    }
    #expect(error.check == .signature)
  }

  @Test func timesWithClockSkewAndMaximumAge() throws {
    let fixture = try OCSPPKI()
    let store = try fixture.store()
    let id = try fixture.leafID()
    let now = Date()
    let nextUpdate = now.addingTimeInterval(-3_600)
    let stale = try failure {
      try fixture.response(thisUpdate: now.addingTimeInterval(-86_400), nextUpdate: nextUpdate).basicResponse()
        .validate(id, store: store)
    }
    #expect(stale.check == .stale)
    #expect(stale.nextUpdate.map { abs($0.timeIntervalSince(nextUpdate)) < 1 } == true)
    #expect(stale.explanation.hasPrefix("The response is stale: its nextUpdate "))

    let future = try failure {
      try fixture.response(thisUpdate: now.addingTimeInterval(3_600)).basicResponse().validate(id, store: store)
    }
    #expect(future.check == .notYetValid)

    // Without nextUpdate a response would be valid forever: the maximum age applies by default.
    let old = try failure {
      try fixture.response(thisUpdate: now.addingTimeInterval(-8 * 86_400), nextUpdate: nil).basicResponse()
        .validate(id, store: store)
    }
    #expect(old.check == .tooOld)
    var noLimit = OCSPValidationOptions()
    noLimit.maximumAge = nil
    try fixture.response(thisUpdate: now.addingTimeInterval(-8 * 86_400), nextUpdate: nil).basicResponse()
      .validate(id, store: store, options: noLimit)

    // Within the clock-skew allowance.
    try fixture.response(nextUpdate: now.addingTimeInterval(-60)).basicResponse().validate(id, store: store)
    var strict = OCSPValidationOptions()
    strict.clockSkew = 0
    #expect(
      try failure {
        try fixture.response(nextUpdate: now.addingTimeInterval(-60)).basicResponse()
          .validate(id, store: store, options: strict)
      }.check == .stale)
  }

  @Test func noncesAbsentAndMismatchedAreDifferentOutcomes() throws {
    let fixture = try OCSPPKI()
    let store = try fixture.store()
    let id = try fixture.leafID()
    let request = try OCSPRequest(ids: [id], nonce: .random)
    let echoed = try fixture.response { $0.echoNonce(of: request) }.basicResponse()
    #expect(echoed.checkNonce(against: request) == .matched)
    try echoed.validate(id, store: store, request: request)

    let dropped = try fixture.response().basicResponse()
    #expect(dropped.checkNonce(against: request) == .absentFromResponse)
    try dropped.validate(id, store: store, request: request)
    var requireNonce = OCSPValidationOptions()
    requireNonce.requireNonce = true
    #expect(
      try failure { try dropped.validate(id, store: store, request: request, options: requireNonce) }.check
        == .nonceMissing)

    let changed = try fixture.response { $0.nonce = [9, 9, 9] }.basicResponse()
    #expect(changed.checkNonce(against: request) == .mismatch)
    #expect(try failure { try changed.validate(id, store: store, request: request) }.check == .nonceMismatch)
    #expect(changed.checkNonce(against: try OCSPRequest(ids: [id])) == .onlyInResponse)
    #expect(dropped.checkNonce(against: try OCSPRequest(ids: [id])) == .bothAbsent)
  }

  @Test func aResponderErrorStatusAndAMissingSingleResponse() throws {
    let fixture = try OCSPPKI()
    let tryLater = try OCSPResponseBuilder.errorResponse(.tryLater)
    #expect(try OCSPResponse(derEncoded: tryLater.derEncoded).status == .tryLater)
    let error = try failure { _ = try tryLater.basicResponse() }
    #expect(error.check == .responseStatus)
    #expect(error.responseStatus == .tryLater)
    #expect(error.explanation == "The responder answered with the status try_later instead of a response.")

    let otherID = try OCSPCertID(certificate: fixture.delegated, issuer: fixture.pki.intermediate)
    let missing = try failure {
      try fixture.response().basicResponse().validate(otherID, store: try fixture.store())
    }
    #expect(missing.check == .certificateNotInResponse)
  }

  @Test func aSingleResponseHashedWithSHA256MatchesASHA1Request() throws {
    let fixture = try OCSPPKI()
    var builder = OCSPResponseBuilder()
    builder.add(try fixture.leafID(.sha256), status: .good, nextUpdate: Date(timeIntervalSinceNow: 3_600))
    let response = try builder.sign(with: fixture.pki.intermediateKey, signer: fixture.pki.intermediate)
    let single = try response.basicResponse().validate(try fixture.leafID(), store: try fixture.store())
    #expect(single.id.hashAlgorithm.shortName == "SHA256")
  }
}
