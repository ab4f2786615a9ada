import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects pin FILE...`
struct Pin: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "One line per certificate or key: sha256/BASE64 of its SubjectPublicKeyInfo (pin-sha256).")

  @Argument(help: "PEM or DER files holding certificates, public keys or private keys.")
  var files: [String]

  @Flag(help: "Print one JSON object: {\"pins\": [{\"file\", \"type\", \"subject\", \"pin\"}]}.")
  var json = false

  @OptionGroup var passphrase: PassphraseOptions

  func run() throws {
    var pins: [JSON] = []
    var entries: [(file: String, pin: String)] = []
    for path in files {
      let objects: [DecodedObject]
      do {
        objects = try DecodedObject.readAll(contentsOfFile: path, passphrase: passphrase.supplier)
      } catch {
        throw CommandFailure.input(error, json: json, partial: [("pins", .array(pins))])
      }
      for object in objects {
        let found: [(type: String, subject: String?, pin: String)]
        do {
          found = try Self.pins(of: object, path: path, passphrase: passphrase.supplier)
        } catch {
          throw CommandFailure.input(error, json: json, partial: [("pins", .array(pins))])
        }
        for entry in found {
          entries.append((path, entry.pin))
          pins.append(
            .object([
              ("file", .string(path)), ("type", .string(entry.type)), ("subject", .optional(entry.subject)),
              ("pin", .string(entry.pin)),
            ]))
        }
      }
    }
    if pins.isEmpty {
      throw CommandFailure(
        status: 2, message: "error: no certificate or key found in \(files.joined(separator: ", "))",
        json: json
          ? .object([
            ("pins", .array([])),
            (
              "error",
              .object([
                ("name", .string("InputError.nothing_matched")), ("message", .string("no certificate or key found")),
              ])
            ),
          ]) : nil)
    }
    if json {
      Output.line(JSON.object([("pins", .array(pins))]).serialized())
    } else {
      // One input with one object: the bare value; otherwise each line says where it came from.
      let labelled = files.count > 1 || entries.count > 1
      Output.line(
        entries.map { labelled ? "\(Output.escaped($0.file)): \($0.pin)" : $0.pin }.joined(separator: "\n"))
    }
  }

  /// The pins one object yields: a certificate's or key's own, a request's key, and a PKCS#12
  /// file's certificate, key and chain.
  static func pins(
    of object: DecodedObject, path: String, passphrase: (() throws -> Passphrase?)?
  ) throws -> [(type: String, subject: String?, pin: String)] {
    switch object {
    case .certificate(let certificate): return [("certificate", certificate.subject.rfc2253, certificate.spkiPin)]
    case .privateKey(let key): return [("private_key", nil, try key.spkiPin)]
    case .publicKey(let key): return [("public_key", nil, try key.spkiPin)]
    case .encryptedPrivateKey:
      throw InputError(
        .passphraseRequired, object: "private key", source: "file \(path)",
        detail: "the key is encrypted; give --passphrase-file or --passphrase-stdin")
    case .other("certificate request", let der):
      let request = try CertificateSigningRequest(derEncoded: der)
      return [("certificate_request", request.subject.rfc2253, try request.publicKey.spkiPin)]
    case .other("PKCS#12 file", _):
      let bundle = try PKCS12Bundle(contentsOfFile: path, passphrase: try PassphraseOptions.secret(passphrase))
      var found: [(String, String?, String)] = []
      if let certificate = bundle.certificate {
        found.append(("certificate", certificate.subject.rfc2253, certificate.spkiPin))
      }
      if let key = bundle.privateKey { found.append(("private_key", nil, try key.spkiPin)) }
      for member in bundle.chain { found.append(("certificate", member.subject.rfc2253, member.spkiPin)) }
      return found
    case .crl, .ocspRequest, .ocspResponse, .other: return []
    }
  }
}
