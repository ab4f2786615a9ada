// CRLs from PEM and DER, every accessor, then a verification of the fixture leaf against the
// fixture root with the CRL in the store and CRL checking on. Rules checked beyond "no crash":
// nothing is left on OpenSSL's error queue; a parsed CRL's DER parses back to an equal CRL.
import Foundation
import FuzzSupport
import OpenSSLObjects

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.initialize {
    let empty = try CRLBuilder().sign(with: FuzzPKI.rootKey, issuerCertificate: FuzzPKI.root)
    return [
      "crl.der": FuzzPKI.crl.derEncoded,
      "crl.pem": Array(FuzzPKI.crl.pemEncoded.utf8),
      "empty.der": empty.derEncoded,
    ]
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCRL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  Fuzz.decodeEveryWay(Fuzz.bytes(data, size), as: X509CRL.self, exercise)
  return 0
}

func exercise(_ crl: X509CRL) {
  var sink = "\(crl) \(crl.issuer.rfc2253) \(crl.thisUpdate) \(String(describing: crl.nextUpdate))"
  sink += "\(String(describing: try? crl.crlNumber)) \(crl.extensions) \(crl.revokedCertificates)"
  sink += "\(String(describing: crl.revocation(of: SerialNumber(0x1234)))) \(crl.pemEncoded.count)"
  _ = crl.isSignatureValid(publicKey: FuzzPKI.rootKey)
  Fuzz.requireEmptyErrorQueue("the accessors of a CRL")

  let again = Fuzz.requireDERRoundTrip(
    "CRL", crl.derEncoded, parse: { try X509CRL(derEncoded: $0) }, encode: \.derEncoded)
  Fuzz.require(again == crl, "a CRL read again from its DER compares unequal")

  // The CRL in a verification: OpenSSL reads its extensions, issuer and entries there.
  let store = X509Store()
  do {
    try store.add(FuzzPKI.root)
    try store.add(crl)
    var policy = VerificationPolicy()
    policy.flags = [.crlCheck]
    _ = try store.verify(FuzzPKI.leaf, policy: policy)
  } catch {
    sink += "\(error)"
  }
  Fuzz.requireEmptyErrorQueue("a verification with the CRL")
  _ = sink.count
}
