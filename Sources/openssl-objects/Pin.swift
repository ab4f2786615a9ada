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
    var lines: [String] = []
    for path in files {
      let objects: [DecodedObject]
      do {
        objects = try DecodedObject.readAll(contentsOfFile: path, passphrase: passphrase.supplier)
      } catch {
        throw CommandFailure.input(error, json: json, partial: [("pins", .array(pins))])
      }
      for object in objects {
        let entry: (type: String, subject: String?, pin: String)
        do {
          switch object {
          case .certificate(let certificate): entry = ("certificate", certificate.subject.rfc2253, certificate.spkiPin)
          case .privateKey(let key): entry = ("private_key", nil, try key.spkiPin)
          case .publicKey(let key): entry = ("public_key", nil, try key.spkiPin)
          case .encryptedPrivateKey:
            throw InputError(
              .passphraseRequired, object: "private key", source: "file \(path)",
              detail: "the key is encrypted; give --passphrase-file or --passphrase-stdin")
          case .crl, .ocspRequest, .ocspResponse, .other: continue
          }
        } catch {
          throw CommandFailure.input(error, json: json, partial: [("pins", .array(pins))])
        }
        lines.append(entry.pin)
        pins.append(
          .object([
            ("file", .string(path)), ("type", .string(entry.type)), ("subject", .optional(entry.subject)),
            ("pin", .string(entry.pin)),
          ]))
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
    Output.line(json ? JSON.object([("pins", .array(pins))]).serialized() : lines.joined(separator: "\n"))
  }
}
