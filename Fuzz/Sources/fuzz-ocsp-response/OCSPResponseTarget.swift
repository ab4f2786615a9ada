// OCSP responses (and, from the same bytes, requests) from PEM and DER: every accessor, then
// what a client does with a response: verify its signature and signer against a store of the
// fixture root, find the fixture leaf's status, validate it, compare nonces, and run the
// revocation policy on it as a staple; then its contents re-signed by this run's root and
// validated again. Rules checked beyond "no crash": nothing is left on
// OpenSSL's error queue; a parsed response's (or request's) DER parses back to the same DER; a
// response that validates is a good, successful basic response about the leaf.
import Foundation
import FuzzSupport
import OpenSSLObjects

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.initialize {
    let request = try OCSPRequest(ids: [FuzzPKI.leafID], nonce: .random)
    return [
      "good.der": FuzzPKI.ocspResponse.derEncoded,
      "good.pem": Array(FuzzPKI.ocspResponse.pemEncoded.utf8),
      "revoked.der": try FuzzPKI.ocspResponse(.revoked(time: Date(), reason: .keyCompromise)).derEncoded,
      "unknown-by-key-no-certs.der": try FuzzPKI.ocspResponse(.unknown) {
        $0.responderIDByKey = true
        $0.includeSignerCertificate = false
      }.derEncoded,
      "nonce.der": try FuzzPKI.ocspResponse(.good) { $0.echoNonce(of: request) }.derEncoded,
      "try-later.der": try OCSPResponseBuilder.errorResponse(.tryLater).derEncoded,
      "request.der": request.derEncoded,
    ]
  }
}

/// Made once: a store of the root (frozen by the first verification) and a request with a nonce.
let store: X509Store = {
  let store = X509Store()
  do { try store.add(FuzzPKI.root) } catch { fatalError("the fuzz store could not be made: \(error)") }
  return store
}()
let request = Fuzz.mustSucceed("the fuzz request could not be made") {
  try OCSPRequest(ids: [FuzzPKI.leafID], nonce: .random)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCSPResponse(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = Fuzz.bytes(data, size)
  Fuzz.decodeEveryWay(bytes, as: OCSPResponse.self, exercise)
  Fuzz.decodeEveryWay(bytes, as: OCSPRequest.self, exercise)

  // The bytes as a server's staple, under the default policy and a hard-fail one.
  var hardFail = RevocationPolicy()
  hardFail.failureMode = .hardFail
  for policy in [RevocationPolicy(), hardFail] {
    if let report = try? RevocationChecker.check(
      chain: [FuzzPKI.leaf, FuzzPKI.root], store: store, staple: bytes, policy: policy)
    {
      Fuzz.require(report.source == .staple, "a staple that passed was not the answer")
      Fuzz.require(report.singleResponse?.status == .good, "a staple that passed does not say good")
    }
    Fuzz.requireEmptyErrorQueue("RevocationChecker.check of the bytes as a staple")
  }
  return 0
}

func exercise(_ response: OCSPResponse) {
  var sink = "\(response.statusCode) \(String(describing: response.status)) \(response.pemEncoded.count)"
  Fuzz.requireEmptyErrorQueue("the OCSP response's accessors")
  Fuzz.requireDERRoundTrip(
    "OCSP response", response.derEncoded, parse: { try OCSPResponse(derEncoded: $0) }, encode: \.derEncoded)

  guard let basic = try? response.basicResponse() else {
    Fuzz.requireEmptyErrorQueue("OCSPResponse.basicResponse()")
    return
  }
  sink += "\(basic.responderID) \(basic.producedAt) \(basic.certificates.count) \(String(describing: basic.nonce))"
  for single in basic.singleResponses {
    sink += "\(single.id) \(single.status) \(single.thisUpdate) \(String(describing: single.nextUpdate))"
    sink += "\(String(describing: single.validUntil())) \(probe { try single.checkTime() })"
    sink += "\(single.id.hashAlgorithm) \(single.id.serialNumber) \(single.id.matches(FuzzPKI.leafID))"
  }
  sink += "\(basic.checkNonce(against: request)) \(probe { try basic.validateNonce(against: request) })"
  sink += probe { try basic.verifySignature(store: store) }
  sink += probe { try basic.singleResponse(for: FuzzPKI.leafID) }
  Fuzz.requireEmptyErrorQueue("the basic response's accessors and checks")

  if let single = try? basic.validate(FuzzPKI.leafID, store: store, untrusted: [FuzzPKI.root]) {
    Fuzz.require(response.status == .successful, "a response that validated is not successful")
    Fuzz.require(single.status == .good, "a response that validated does not say good")
    Fuzz.require(single.id.matches(FuzzPKI.leafID), "a response that validated is about another certificate")
  }
  Fuzz.requireEmptyErrorQueue("OCSPBasicResponse.validate")

  // The seeds' signatures are by another run's keys: re-sign the fuzzed contents with this
  // run's root so that the builder meets fuzzed values and validation gets past the signature.
  var builder = OCSPResponseBuilder()
  builder.entries = basic.singleResponses.map {
    OCSPResponseBuilder.Entry(id: $0.id, status: $0.status, thisUpdate: $0.thisUpdate, nextUpdate: $0.nextUpdate)
  }
  builder.nonce = basic.nonce
  if let resigned = try? builder.sign(with: FuzzPKI.rootKey, signer: FuzzPKI.root),
    let resignedBasic = try? resigned.basicResponse()
  {
    Fuzz.require(resignedBasic.singleResponses.count == builder.entries.count, "a re-signed response lost entries")
    sink += probe { try resignedBasic.validate(FuzzPKI.leafID, store: store, request: request) }
  }
  Fuzz.requireEmptyErrorQueue("re-signing and validating the fuzzed contents")
  _ = sink.count
}

func exercise(_ request: OCSPRequest) {
  var sink = "\(request.ids) \(String(describing: request.nonce)) \(request.isSigned) \(request.pemEncoded.count)"
  sink += "\(request.ids.map { "\($0.serialNumber) \($0.issuerKeyHash) \($0.matches(FuzzPKI.leafID))" })"
  Fuzz.requireEmptyErrorQueue("the OCSP request's accessors")
  Fuzz.requireDERRoundTrip(
    "OCSP request", request.derEncoded, parse: { try OCSPRequest(derEncoded: $0) }, encode: \.derEncoded)
  _ = sink.count
}
