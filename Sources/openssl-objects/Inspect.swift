import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects inspect FILE... [--json]`
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show certificates, bundles, keys (never secret material), CRLs and OCSP messages.")

  @Argument(help: "PEM or DER files; the content decides what they hold.")
  var files: [String]

  @Flag(help: "Print one JSON object instead of text.")
  var json = false

  @OptionGroup var passphrase: PassphraseOptions

  func run() throws {
    var documents: [(String, JSON)] = []
    var text: [String] = []
    for path in files {
      let objects: [DecodedObject]
      do {
        objects = try DecodedObject.readAll(contentsOfFile: path, passphrase: passphrase.supplier)
      } catch {
        throw CommandFailure.input(error, json: json, partial: [("files", .array(documents.map { $0.1 }))])
      }
      let described: [Described]
      do {
        described = try objects.map { try Describe.object($0, path: path, passphrase: passphrase.supplier) }
      } catch {
        throw CommandFailure.input(error, json: json, partial: [("files", .array(documents.map { $0.1 }))])
      }
      documents.append((path, .object([("path", .string(path)), ("objects", .array(described.map(\.json)))])))
      text.append(Output.escaped(path) + ":")
      for (index, object) in described.enumerated() {
        text.append("  [\(index + 1)] \(object.title)")
        // Values come from the file: escaped, so that none can act on the terminal.
        for (label, value) in object.lines { text.append("      \(label): \(Output.escaped(value))") }
      }
    }
    if json {
      Output.line(JSON.object([("files", .array(documents.map { $0.1 }))]).serialized())
    } else {
      Output.line(text.joined(separator: "\n"))
    }
  }
}

/// A readable and a JSON description of one object.
struct Described {
  let title: String
  let lines: [(String, String)]
  let json: JSON
}

/// Describing objects for `inspect`: public facts only, never secret material.
enum Describe {
  static func object(
    _ object: DecodedObject, path: String = "", passphrase: (() throws -> Passphrase?)? = nil
  ) throws -> Described {
    switch object {
    case .certificate(let certificate): return Self.certificate(certificate)
    case .privateKey(let key): return Self.key(key, type: "private key")
    case .publicKey(let key): return Self.key(key, type: "public key")
    case .encryptedPrivateKey(let format):
      return Described(
        title: "encrypted private key (\(format))",
        lines: [("note", "give --passphrase-file or --passphrase-stdin to read it")],
        json: .object([("type", .string("encrypted_private_key")), ("format", .string(format))]))
    case .crl(let crl): return Self.crl(crl)
    case .ocspRequest(let request): return Self.ocspRequest(request)
    case .ocspResponse(let response): return Self.ocspResponse(response)
    case .other("certificate request", let der):
      return try certificateRequest(CertificateSigningRequest(derEncoded: der))
    case .other("PKCS#12 file", _):
      return try pkcs12(path: path, passphrase: passphrase)
    case .other(let kind, let der):
      return Described(
        title: kind, lines: [("size", "\(der.count) bytes")],
        json: .object([("type", .string(snake(kind))), ("size", .int(der.count))]))
    }
  }

  static func certificate(_ certificate: X509Certificate) -> Described {
    let names = (try? certificate.subjectAlternativeNames) ?? nil
    let key = try? certificate.publicKey
    let usage = (try? certificate.keyUsage) ?? nil
    let extended = (try? certificate.extendedKeyUsage) ?? nil
    let constraints = (try? certificate.basicConstraints) ?? nil
    let ocsp = (try? certificate.ocspURLs) ?? []
    let issuers = (try? certificate.caIssuerURLs) ?? []
    let mustStaple = (try? certificate.mustStaple) ?? false
    let keyText = key.map(keySummary) ?? "unreadable"
    var lines: [(String, String)] = [
      ("subject", certificate.subject.rfc2253),
      ("issuer", certificate.issuer.rfc2253),
      ("serial", certificate.serialNumber.hex),
      ("not before", Output.time(certificate.notBefore)),
      ("not after", Output.time(certificate.notAfter)),
    ]
    if let names { lines.append(("subject alt names", names.map(\.description).joined(separator: ", "))) }
    lines.append(("key", keyText))
    lines.append(("signature", certificate.signatureAlgorithm.description))
    if let usage { lines.append(("key usage", usage.description)) }
    if let extended { lines.append(("extended key usage", extended.map(\.description).joined(separator: ", "))) }
    if let constraints { lines.append(("basic constraints", constraints.description)) }
    if !ocsp.isEmpty { lines.append(("OCSP URLs", ocsp.joined(separator: ", "))) }
    if !issuers.isEmpty { lines.append(("CA issuer URLs", issuers.joined(separator: ", "))) }
    lines.append(("must staple", mustStaple ? "yes" : "no"))
    let trust = certificate.trustSettings
    if !trust.isEmpty {
      lines.append(
        ("trust", "trusted: \(trust.trusted.map(\.description)), rejected: \(trust.rejected.map(\.description))"))
    }
    lines.append(("SHA-256 fingerprint", certificate.sha256Fingerprint))
    lines.append(("SPKI pin", certificate.spkiPin))
    let json = JSON.object([
      ("type", .string("certificate")),
      ("subject", .string(certificate.subject.rfc2253)),
      ("issuer", .string(certificate.issuer.rfc2253)),
      ("serial", .string(certificate.serialNumber.hex)),
      ("version", .int(certificate.version)),
      ("not_before", .string(Output.time(certificate.notBefore))),
      ("not_after", .string(Output.time(certificate.notAfter))),
      ("subject_alt_names", names.map { JSON.strings($0.map(\.exactText)) } ?? .array([])),
      ("key", key.map(keyJSON) ?? .null),
      ("signature_algorithm", .string(certificate.signatureAlgorithm.description)),
      ("key_usage", usage.map { JSON.strings($0.names) } ?? .null),
      ("extended_key_usage", extended.map { JSON.strings($0.map(\.description)) } ?? .null),
      (
        "basic_constraints",
        constraints.map {
          JSON.object([("ca", .bool($0.isCA)), ("path_length", $0.pathLength.map(JSON.int) ?? .null)])
        } ?? .null
      ),
      ("ocsp_urls", .strings(ocsp)),
      ("ca_issuer_urls", .strings(issuers)),
      ("must_staple", .bool(mustStaple)),
      ("sha256_fingerprint", .string(certificate.sha256Fingerprint)),
      ("spki_pin", .string(certificate.spkiPin)),
    ])
    return Described(title: "certificate", lines: lines, json: json)
  }

  /// A certificate signing request: the subject, names and key it asks a CA to certify.
  static func certificateRequest(_ request: CertificateSigningRequest) throws -> Described {
    let names = try request.subjectAlternativeNames
    let key = try request.publicKey
    var lines: [(String, String)] = [("subject", request.subject.rfc2253)]
    if let names { lines.append(("subject alt names", names.map(\.description).joined(separator: ", "))) }
    lines.append(("key", keySummary(key)))
    lines.append(("signature", request.isSignatureValid ? "valid (made with the key)" : "not valid"))
    lines.append(("SPKI pin", (try? key.spkiPin) ?? "unavailable"))
    let json = JSON.object([
      ("type", .string("certificate_request")),
      ("subject", .string(request.subject.rfc2253)),
      ("subject_alt_names", names.map { JSON.strings($0.map(\.exactText)) } ?? .array([])),
      ("key", keyJSON(key)),
      ("signature_valid", .bool(request.isSignatureValid)),
      ("spki_pin", .optional(try? key.spkiPin)),
    ])
    return Described(title: "certificate request", lines: lines, json: json)
  }

  /// A PKCS#12 file: its certificate, key and chain, read with the passphrase given, or with the
  /// empty one; without a passphrase that opens it, a note says which flag to give.
  static func pkcs12(path: String, passphrase: (() throws -> Passphrase?)?) throws -> Described {
    let bundle: PKCS12Bundle
    if passphrase != nil {
      bundle = try PKCS12Bundle(contentsOfFile: path, passphrase: try PassphraseOptions.secret(passphrase))
    } else {
      let opened = Result { () throws(InputError) in try PKCS12Bundle(contentsOfFile: path, passphrase: Passphrase([]))
      }
      switch opened {
      case .success(let contents): bundle = contents
      case .failure(let error) where error.reason == .wrongPassphrase:
        return Described(
          title: "encrypted PKCS#12 file",
          lines: [("note", "give --passphrase-file or --passphrase-stdin to read it")],
          json: .object([("type", .string("encrypted_pkcs12"))]))
      case .failure(let error): throw error
      }
    }
    var lines: [(String, String)] = []
    if let certificate = bundle.certificate {
      lines.append(("certificate", certificate.subject.rfc2253))
      lines.append(("  SPKI pin", certificate.spkiPin))
    }
    if let key = bundle.privateKey {
      lines.append(("private key", keySummary(key)))
      lines.append(("  SPKI pin", (try? key.spkiPin) ?? "unavailable"))
      if let certificate = bundle.certificate, let certificateKey = try? certificate.publicKey {
        lines.append(("  matches the certificate", key.hasSamePublicKey(as: certificateKey) ? "yes" : "no"))
      }
    }
    for (index, member) in bundle.chain.enumerated() {
      lines.append(("chain [\(index + 1)]", member.subject.rfc2253))
    }
    let json = JSON.object([
      ("type", .string("pkcs12")),
      ("certificate", bundle.certificate.map { certificate($0).json } ?? .null),
      ("private_key", bundle.privateKey.map { key($0, type: "private key").json } ?? .null),
      ("chain", .array(bundle.chain.map { certificate($0).json })),
    ])
    return Described(title: "PKCS#12 file", lines: lines, json: json)
  }

  static func keySummary(_ key: some AsymmetricKey) -> String {
    "\(key.algorithm) \(key.bits) bits" + (key.curveName.map { " (\($0))" } ?? "")
  }

  static func keyJSON(_ key: some AsymmetricKey) -> JSON {
    .object([
      ("algorithm", .string(key.algorithm.name)),
      ("bits", .int(key.bits)),
      ("security_bits", .int(key.securityBits)),
      ("curve", .optional(key.curveName)),
      ("spki_pin", .optional(try? key.spkiPin)),
    ])
  }

  static func key(_ key: some AsymmetricKey, type: String) -> Described {
    var json = [("type", JSON.string(snake(type)))]
    if case .object(let members) = keyJSON(key) { json += members }
    return Described(
      title: type,
      lines: [
        ("key", keySummary(key)), ("security bits", "\(key.securityBits)"),
        ("SPKI pin", (try? key.spkiPin) ?? "unavailable"),
      ], json: .object(json))
  }

  static func crl(_ crl: X509CRL) -> Described {
    let revoked = crl.revokedCertificates
    let number = (try? crl.crlNumber) ?? nil
    var lines: [(String, String)] = [
      ("issuer", crl.issuer.rfc2253), ("this update", Output.time(crl.thisUpdate)),
      ("next update", crl.nextUpdate.map(Output.time) ?? "none"),
    ]
    if let number { lines.append(("CRL number", number.hex)) }
    lines.append(("revoked", "\(revoked.count)"))
    for entry in revoked {
      lines.append(
        (
          "  serial \(entry.serialNumber.hex)",
          Output.time(entry.revocationDate) + (entry.reason.map { ", \($0)" } ?? "")
        ))
    }
    let json = JSON.object([
      ("type", .string("crl")),
      ("issuer", .string(crl.issuer.rfc2253)),
      ("this_update", .string(Output.time(crl.thisUpdate))),
      ("next_update", .optional(crl.nextUpdate.map(Output.time))),
      ("crl_number", .optional(number?.hex)),
      (
        "revoked",
        .array(
          revoked.map {
            .object([
              ("serial", .string($0.serialNumber.hex)),
              ("revocation_date", .string(Output.time($0.revocationDate))),
              ("reason", .optional($0.reason?.description)),
            ])
          })
      ),
    ])
    return Described(title: "CRL", lines: lines, json: json)
  }

  static func certID(_ id: OCSPCertID) -> JSON {
    .object([
      ("serial", .string(id.serialNumber.hex)),
      ("hash_algorithm", .string(id.hashAlgorithm.description)),
      ("issuer_name_hash", .string(id.issuerNameHash.hexString)),
      ("issuer_key_hash", .string(id.issuerKeyHash.hexString)),
    ])
  }

  static func ocspRequest(_ request: OCSPRequest) -> Described {
    let ids = request.ids
    var lines: [(String, String)] = ids.map {
      (
        "certificate",
        "serial \($0.serialNumber.hex) (\($0.hashAlgorithm), issuer key hash \($0.issuerKeyHash.hexString))"
      )
    }
    lines.append(("nonce", request.nonce?.hexString ?? "none"))
    lines.append(("signed", request.isSigned ? "yes" : "no"))
    let json = JSON.object([
      ("type", .string("ocsp_request")),
      ("certificates", .array(ids.map(certID))),
      ("nonce", .optional(request.nonce?.hexString)),
      ("signed", .bool(request.isSigned)),
    ])
    return Described(title: "OCSP request", lines: lines, json: json)
  }

  static func ocspResponse(_ response: OCSPResponse) -> Described {
    let status = response.status?.description ?? "\(response.statusCode)"
    var lines: [(String, String)] = [("response status", status)]
    var json: [(String, JSON)] = [("type", .string("ocsp_response")), ("response_status", .string(status))]
    guard let basic = try? response.basicResponse() else {
      return Described(title: "OCSP response", lines: lines, json: .object(json))
    }
    let singles = basic.singleResponses
    lines.append(("responder", basic.responderID.description))
    lines.append(("produced at", Output.time(basic.producedAt)))
    for single in singles {
      var text =
        "\(single.status), this update \(Output.time(single.thisUpdate)), next update "
        + (single.nextUpdate.map(Output.time) ?? "none")
      if case .revoked(let time, let reason) = single.status {
        text += ", revoked at \(Output.time(time))" + (reason.map { " (\($0))" } ?? "")
      }
      lines.append(("serial \(single.id.serialNumber.hex)", text))
    }
    lines.append(("certificates", basic.certificates.map(\.subject.rfc2253).joined(separator: "; ")))
    if let nonce = basic.nonce { lines.append(("nonce", nonce.hexString)) }
    json += [
      ("responder_id", .string(basic.responderID.description)),
      ("produced_at", .string(Output.time(basic.producedAt))),
      (
        "responses",
        .array(
          singles.map { single in
            var revocation: (JSON, JSON) = (.null, .null)
            if case .revoked(let time, let reason) = single.status {
              revocation = (.string(Output.time(time)), .optional(reason?.description))
            }
            return .object([
              ("certificate", certID(single.id)),
              ("cert_status", .string(single.status.description)),
              ("revocation_time", revocation.0),
              ("revocation_reason", revocation.1),
              ("this_update", .string(Output.time(single.thisUpdate))),
              ("next_update", .optional(single.nextUpdate.map(Output.time))),
            ])
          })
      ),
      ("certificates", .array(basic.certificates.map { .string($0.subject.rfc2253) })),
      ("nonce", .optional(basic.nonce?.hexString)),
    ]
    return Described(title: "OCSP response", lines: lines, json: .object(json))
  }

  /// A chain as CLI.md's chain entries.
  static func chain(_ chain: [X509Certificate]) -> JSON {
    .array(
      chain.map { member in
        .object([
          ("subject", .string(member.subject.rfc2253)),
          ("issuer", .string(member.issuer.rfc2253)),
          ("serial", .string(member.serialNumber.hex)),
          ("not_before", .string(Output.time(member.notBefore))),
          ("not_after", .string(Output.time(member.notAfter))),
          ("spki_sha256", .string(member.spkiPin)),
        ])
      })
  }

  /// "OCSP response" → "ocsp_response".
  static func snake(_ text: String) -> String {
    text.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
  }
}
