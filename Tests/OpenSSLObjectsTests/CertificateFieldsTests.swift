import Foundation
import OpenSSLObjects
import TestSupport
import Testing

@Suite("Certificates: fields, extensions, identity checks, pins")
struct CertificateFieldsTests {
  static let pki = Result { try TestPKI() }
  var pki: TestPKI { get throws { try Self.pki.get() } }

  /// A certificate with every extension the builder knows, written and read back.
  @Test func everyExtensionRoundTripsThroughPEM() throws {
    let pki = try pki
    let notBefore = Date(timeIntervalSince1970: 1_700_000_000)
    let notAfter = Date(timeIntervalSince1970: 2_900_000_000)  // 2061: a GeneralizedTime
    let directory = try X509Name(["CN": "Directory Name", "O": "Example"])
    var builder = CertificateBuilder(subject: try X509Name(["C": "DE", "O": "Example Org", "CN": "all.example.test"]))
    builder.publicKey = try pki.leafKey.publicKey
    builder.serialNumber = SerialNumber(magnitude: [0x01, 0x02, 0x03, 0xFF])
    builder.notBefore = notBefore
    builder.notAfter = notAfter
    let names: [GeneralName] = [
      .dnsName("all.example.test"), .dnsName("*.wild.example.test"), GeneralName.ipAddress("192.0.2.7")!,
      GeneralName.ipAddress("2001:db8::1")!, .email("admin@example.test"), .uri("https://example.test/"),
      .directoryName(directory), .registeredID(OID("1.2.3.4")),
      .otherName(type: OID("1.3.6.1.4.1.311.20.2.3"), value: [0x0C, 0x03, 0x61, 0x62, 0x63]),
    ]
    builder.subjectAlternativeNames = names
    builder.keyUsage = [.digitalSignature, .keyAgreement]
    builder.extendedKeyUsage = [.serverAuth, .clientAuth, OID("1.3.6.1.4.1.99999.1")]
    builder.basicConstraints = BasicConstraints(isCA: true, pathLength: 2)
    builder.nameConstraints = NameConstraints(
      permitted: [.dnsName("example.test"), GeneralName.ipRange("10.0.0.0/255.0.0.0")!],
      excluded: [.dnsName("bad.example.test")])
    builder.setAuthorityInformationAccess(
      ocsp: ["http://ocsp.example.test/"], caIssuers: ["http://ca.example.test/ca.der"])
    builder.crlDistributionPoints = [DistributionPoint(fullName: [.uri("http://crl.example.test/ca.crl")])]
    builder.tlsFeatures = .mustStaple
    builder.ocspNoCheck = true
    let raw = X509Extension(oid: OID("1.3.6.1.4.1.99999.2"), isCritical: false, value: [0x05, 0x00])
    builder.rawExtensions = [raw]
    let signed = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let certificate = try X509Certificate(pemEncoded: signed.pemEncoded)

    #expect(certificate.version == 3)
    #expect(certificate.serialNumber.hex == "010203FF")
    #expect(certificate.serialNumber.decimal == "16909311")
    #expect(certificate.subject.rfc2253 == "CN=all.example.test,O=Example Org,C=DE")
    #expect(certificate.subject.oneLine == "C = DE, O = Example Org, CN = all.example.test")
    #expect(certificate.issuer == pki.intermediate.subject)
    #expect(certificate.notBefore == notBefore)
    #expect(certificate.notAfter == notAfter)
    #expect(certificate.signatureAlgorithm.shortName == "ecdsa-with-SHA256")
    #expect(certificate.signatureInfo.digest == "SHA256")
    #expect(try certificate.publicKey == pki.leafKey.publicKey)
    #expect(try certificate.subjectAlternativeNames == names)
    #expect(try certificate.keyUsage == [.digitalSignature, .keyAgreement])
    #expect(try certificate.extendedKeyUsage == [.serverAuth, .clientAuth, OID("1.3.6.1.4.1.99999.1")])
    #expect(try certificate.basicConstraints == BasicConstraints(isCA: true, pathLength: 2))
    let constraints = try #require(try certificate.nameConstraints)
    #expect(constraints.permitted == [.dnsName("example.test"), .ipAddress([10, 0, 0, 0, 255, 0, 0, 0])])
    #expect(constraints.excluded == [.dnsName("bad.example.test")])
    #expect(try certificate.ocspURLs == ["http://ocsp.example.test/"])
    #expect(try certificate.caIssuerURLs == ["http://ca.example.test/ca.der"])
    #expect(try certificate.crlDistributionPoints?.first?.fullName == [.uri("http://crl.example.test/ca.crl")])
    #expect(try certificate.subjectKeyIdentifier?.count == 20)
    #expect(try certificate.authorityKeyIdentifier?.keyIdentifier == pki.intermediate.subjectKeyIdentifier)
    #expect(try certificate.mustStaple)
    #expect(try certificate.ocspNoCheck)
    let extensions = certificate.extensions
    #expect(extensions.contains(raw))
    #expect(extensions.first { $0.oid.shortName == "keyUsage" }?.isCritical == true)
    #expect(extensions.first { $0.oid.shortName == "subjectAltName" }?.isCritical == false)
    #expect(extensions.count == 12)
  }

  @Test func absentExtensionsAreNil() throws {
    let key = try PrivateKey(generating: .ed25519)
    var builder = CertificateBuilder(subject: try X509Name(["CN": "bare"]))
    builder.subjectKeyIdentifier = .none
    builder.authorityKeyIdentifier = .none
    let bare = try builder.sign(with: key)
    #expect(bare.extensions.isEmpty)
    #expect(try bare.subjectAlternativeNames == nil)
    #expect(try bare.keyUsage == nil)
    #expect(try bare.basicConstraints == nil)
    #expect(try bare.mustStaple == false)
    #expect(try bare.ocspURLs.isEmpty)
    #expect(bare.isSelfIssued)
    #expect(bare.signatureInfo.digest == nil)
  }

  @Test func aNULByteInsideADNSNameIsKeptAndNeverMatchesTheShorterName() throws {
    let pki = try pki
    let sneaky = "good.example.test\u{0}.evil.example"
    var builder = try TestPKI.leafBuilder(name: "sneaky", key: pki.leafKey)
    builder.subjectAlternativeNames = [.dnsName(sneaky)]
    let certificate = try X509Certificate(
      derEncoded: try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate).derEncoded)
    let names = try #require(try certificate.subjectAlternativeNames)
    #expect(names == [.dnsName(sneaky)])
    guard case .dnsName(let read) = names[0] else { Issue.record("not a DNS name"); return }
    #expect(read.utf8.count == sneaky.utf8.count)
    #expect(names[0].description == "DNS:good.example.test\\x00.evil.example")
    #expect(try certificate.matchesHost("good.example.test") == false)
    #expect(try certificate.matchesHost("evil.example") == false)
    #expect(throws: InputError.self) { try certificate.matchesHost(sneaky) }
  }

  @Test func hostIPAndEmailChecksAreOpenSSLs() throws {
    let pki = try pki
    var builder = try TestPKI.leafBuilder(name: "checks", key: pki.leafKey)
    builder.subjectAlternativeNames = [
      .dnsName("*.example.test"), .dnsName("w*.partial.test"), GeneralName.ipAddress("192.0.2.1")!,
      .email("ops@example.test"),
    ]
    let certificate = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    #expect(try certificate.matchesHost("a.example.test"))
    #expect(try !certificate.matchesHost("a.b.example.test"))
    #expect(try !certificate.matchesHost("example.test"))
    // Partial wildcards are off by default, allowed when asked for.
    #expect(try !certificate.matchesHost("www.partial.test"))
    #expect(try certificate.matchesHost("www.partial.test", flags: []))
    #expect(try !certificate.matchesHost("a.example.test", flags: .noWildcards))
    #expect(try certificate.matchesIPAddress("192.0.2.1"))
    #expect(try !certificate.matchesIPAddress("192.0.2.2"))
    #expect(throws: InputError.self) { try certificate.matchesIPAddress("not an address") }
    #expect(try certificate.matchesEmail("ops@example.test"))
    #expect(try !certificate.matchesEmail("dev@example.test"))
  }

  @Test func subjectCNFallbackIsOffByDefault() throws {
    let pki = try pki
    var builder = try TestPKI.leafBuilder(name: "cn-only.example.test", key: pki.leafKey)
    builder.subjectAlternativeNames = nil
    let certificate = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    #expect(try !certificate.matchesHost("cn-only.example.test"))
    #expect(try certificate.matchesHost("cn-only.example.test", flags: [.noPartialWildcards]))
  }

  @Test func fingerprintsAreDigestsOfTheDER() throws {
    let leaf = try pki.leaf
    #expect(try leaf.fingerprint(.sha256) == Digest.sha256.hash(leaf.derEncoded))
    #expect(try leaf.fingerprint(.sha1) == Digest.sha1.hash(leaf.derEncoded))
    #expect(leaf.sha256Fingerprint.split(separator: ":").count == 32)
  }

  @Test func spkiPinMatchesTheOpenSSLCommandLine() throws {
    let pki = try pki
    let directory = try TemporaryDirectory()
    let path = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    // The HPKP recipe: the DER SubjectPublicKeyInfo, SHA-256, base64.
    let script =
      "openssl x509 -in \(path) -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"
    let result = try ChildProcess.run("/bin/sh", ["-c", script])
    #expect(result.status == 0)
    let expected = "sha256/" + result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(pki.leaf.spkiPin == expected)
    #expect(try pki.leafKey.spkiPin == expected)
    #expect(try pki.leaf.publicKey.spkiPin == expected)
  }

  @Test func weakSignaturesCanBeMadeForTests() throws {
    let key = try PrivateKey(generating: .rsa(bits: 2048))
    var builder = CertificateBuilder(subject: try X509Name(["CN": "sha1"]))
    builder.digest = .sha1
    let certificate = try builder.sign(with: key)
    #expect(certificate.signatureAlgorithm.shortName == "RSA-SHA1")
    #expect(certificate.signatureInfo.securityBits < 80)
  }

  @Test func namesCompareAndPrintAsOpenSSLDoes() throws {
    let name = try X509Name(["CN": "Ünïcödé", "O": "Example, Inc."])
    #expect(name.entries.map(\.shortName) == ["CN", "O"])
    #expect(name.entries.map(\.value) == ["Ünïcödé", "Example, Inc."])
    #expect(name.rfc2253 == "O=Example\\, Inc.,CN=Ünïcödé")
    #expect(try X509Name(["CN": "Ünïcödé", "O": "Example, Inc."]) == name)
    #expect(try X509Name(["CN": "other"]) != name)
    #expect(throws: InputError.self) { try X509Name(["C": "TOO LONG"]) }
    #expect(throws: InputError.self) { try X509Name(["notAField": "x"]) }
  }

  @Test func serialNumbersKeepTheirValue() throws {
    let serial = SerialNumber(magnitude: [0x00, 0x00, 0xAB, 0xCD])
    #expect(serial.hex == "ABCD")
    #expect(serial.decimal == "43981")
    #expect(SerialNumber(255).hex == "FF")
    let random = SerialNumber.random()
    #expect(random.magnitude.count == 20 && !random.isNegative)
  }
}
