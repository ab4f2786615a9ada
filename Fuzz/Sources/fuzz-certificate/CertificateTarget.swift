// Certificates from PEM and DER (and objects of unknown kind, as `inspect` reads them), then
// every accessor of each parsed certificate. Rules checked beyond "no crash": nothing is left on
// OpenSSL's error queue, and a parsed certificate's DER parses back to an equal certificate.
import FuzzSupport
import OpenSSLObjects

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.initialize {
    let leaf = FuzzPKI.leaf
    let root = FuzzPKI.root
    return [
      "leaf.der": leaf.derEncoded,
      "leaf.pem": Array(leaf.pemEncoded.utf8),
      "bundle.pem": Array((leaf.pemEncoded + root.pemEncoded).utf8),
      "trusted.pem": Array(
        try root.withTrustSettings(.init(trusted: [OID("1.3.6.1.5.5.7.3.1")])).trustedPEMEncoded.utf8),
      "root.der": root.derEncoded,
    ]
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCertificate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = Fuzz.bytes(data, size)
  Fuzz.decodeEveryWay(bytes, as: X509Certificate.self, exercise)
  if let objects = try? DecodedObject.readAll(bytes: bytes) {
    for case .certificate(let certificate) in objects { exercise(certificate) }
  }
  Fuzz.requireEmptyErrorQueue("DecodedObject.readAll(bytes:)")
  return 0
}

/// Reads every accessor, as `openssl-objects inspect` and a program would.
func exercise(_ certificate: X509Certificate) {
  var sink: [String] = []
  sink.append("\(certificate.version) \(certificate.serialNumber.hex) \(certificate.serialNumber.description)")
  for name in [certificate.subject, certificate.issuer] {
    sink.append(name.rfc2253 + name.oneLine + "\(name.entries) \(name.derEncoded.count) \(name.hashValueForDirectory)")
    _ = name.commonNames
  }
  sink.append("\(certificate.notBefore) \(certificate.notAfter) \(certificate.signatureAlgorithm)")
  sink.append("\(certificate.signatureInfo) \(certificate.isSelfIssued) \(certificate.extensions)")
  if let key = try? certificate.publicKey {
    sink.append("\(key) \(key.bits) \(key.securityBits) \(String(describing: key.curveName))")
    sink += [probe { try key.spkiPin }, probe { try key.publicKeyPEM }, probe { try key.derEncoded }]
  }
  sink += [
    probe { try certificate.subjectAlternativeNames }, probe { try certificate.issuerAlternativeNames },
    probe { try certificate.keyUsage }, probe { try certificate.extendedKeyUsage },
    probe { try certificate.basicConstraints }, probe { try certificate.nameConstraints },
    probe { try certificate.authorityInformationAccess }, probe { try certificate.crlDistributionPoints },
    probe { try certificate.subjectKeyIdentifier }, probe { try certificate.authorityKeyIdentifier },
    probe { try certificate.tlsFeatures }, probe { try certificate.ocspURLs }, probe { try certificate.caIssuerURLs },
    probe { try certificate.mustStaple }, probe { try certificate.ocspNoCheck },
    probe { try certificate.fingerprint(.sha1) }, probe { certificate.sha256Fingerprint },
    probe { certificate.spkiPin }, probe { certificate.subjectPublicKeyInfo },
    probe { try certificate.matchesHost("localhost") }, probe { try certificate.matchesIPAddress("127.0.0.1") },
    probe { try certificate.matchesEmail("a@example.test") }, probe { certificate.trustSettings },
    probe { certificate.description }, probe { certificate.pemEncoded }, probe { certificate.trustedPEMEncoded },
    probe { FuzzPKI.leafKey.matches(certificate) },
  ]
  Fuzz.requireEmptyErrorQueue("the accessors of a certificate")

  let again = Fuzz.requireDERRoundTrip(
    "certificate", certificate.derEncoded, parse: { try X509Certificate(derEncoded: $0) }, encode: \.derEncoded)
  Fuzz.require(again == certificate, "a certificate read again from its DER compares unequal")
  Fuzz.requireEmptyErrorQueue("comparing a certificate with its DER round trip")
  _ = sink.count
}
