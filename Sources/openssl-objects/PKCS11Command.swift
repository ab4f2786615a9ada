import ArgumentParser
import Foundation
import OpenSSLObjects
import PKCS11Keys

/// `openssl-objects pkcs11 list | sign` (contract: CLI.md).
struct PKCS11Command: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pkcs11",
    abstract: "PKCS#11 tokens through libp11: list slots, tokens and objects; sign with a key on a token.",
    subcommands: [PKCS11List.self, PKCS11Sign.self])
}

/// Where a PIN comes from on the command line: a file or standard input, never an argument.
struct PINOptions: ParsableArguments {
  @Option(name: .customLong("pin-source"), help: "A file holding the user PIN (a trailing newline is ignored).")
  var pinSource: String?

  @Flag(name: .customLong("pin-stdin"), help: "Read the user PIN from standard input (without echo on a terminal).")
  var pinStdin = false

  func validate() throws {
    if pinSource != nil && pinStdin { throw ValidationError("give either --pin-source or --pin-stdin, not both") }
  }

  /// Whether a PIN source was given.
  var isGiven: Bool { pinSource != nil || pinStdin }

  /// Reads the PIN from the file or standard input (without echo on a terminal), or `nil` when
  /// none was given.
  func read() throws -> PIN? {
    if let pinSource { return try PIN.read(fromFile: pinSource) }
    return pinStdin ? try StandardInputSecret.read(prompt: "PIN: ") : nil
  }
}

/// `pkcs11 list --module PATH [--pin-source FILE | --pin-stdin] [--token LABEL] [--json]`
struct PKCS11List: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "Slots, tokens (with their flags) and objects (class, label, id, key type and size).",
    discussion: """
      With a PIN, the token logs in once (a wrong PIN is not tried again) and private objects are \
      listed too. The PIN goes to the one initialized token, or to the one --token names.
      """)

  @Option(help: "The PKCS#11 module (shared object) to load, for example /usr/lib/softhsm/libsofthsm2.so.")
  var module: String

  @OptionGroup var pin: PINOptions

  @Option(help: "The label of the token to log in to, when the module has several.")
  var token: String?

  @Flag(help: "Print one JSON object: {\"module\": {...}, \"slots\": [...]}.")
  var json = false

  func run() throws {
    let loaded: PKCS11Module
    do {
      loaded = try PKCS11Module.load(path: module)
    } catch {
      throw CommandFailure.input(error, json: json)
    }
    let tokens = loaded.tokens.filter { $0.info.flags.contains(.initialized) }
    if pin.isGiven {
      do {
        let target = try chooseToken(tokens)
        if let secret = try pin.read() { try target.login(pin: secret) }
      } catch {
        throw CommandFailure.input(error, json: json)
      }
    }
    var slotsJSON: [JSON] = []
    // What the module and its tokens say is escaped in text: it is theirs, not ours.
    let e: (String) -> String = { Output.escaped($0) }
    var lines = [
      "module \(e(loaded.path)): \(e(loaded.libraryManufacturer))"
        + (loaded.libraryDescription.isEmpty ? "" : ", \(e(loaded.libraryDescription))")
    ]
    for slot in loaded.slotInfos {
      lines.append("slot \(slot.id): \(e(slot.description)) (\(e(slot.manufacturer)))")
      var tokenJSON: JSON = .null
      if let info = slot.token {
        let flags = PKCS11TokenInfo.Flags.named.filter { info.flags.contains($0.0) }.map(\.1)
        lines.append(
          "  token \"\(e(info.label))\": manufacturer \(e(info.manufacturer)), model \(e(info.model)), "
            + "serial \(e(info.serialNumber))")
        lines.append("  flags: \(flags.isEmpty ? "none" : flags.joined(separator: ", "))")
        var objectsJSON: JSON = .array([])
        var loggedIn = false
        if let token = tokens.first(where: { $0.slotInfo.id == slot.id }) {
          loggedIn = token.isLoggedIn
          lines.append("  logged in: \(loggedIn ? "yes" : "no (private objects are not listed)")")
          let objects: [PKCS11ObjectInfo]
          do {
            objects = try token.objects()
          } catch {
            throw CommandFailure.input(error, json: json)
          }
          for object in objects { lines.append("    \(e(object.description))  \(e(usableURI(object)))") }
          if objects.isEmpty { lines.append("    (no objects visible)") }
          objectsJSON = .array(objects.map { json($0) })
        }
        tokenJSON = .object(
          [
            ("label", .string(info.label)), ("manufacturer", .string(info.manufacturer)),
            ("model", .string(info.model)), ("serial", .string(info.serialNumber)),
            (
              "flags",
              .object(PKCS11TokenInfo.Flags.named.map { ($0.1, JSON.bool(info.flags.contains($0.0))) })
            ),
            ("logged_in", .bool(loggedIn)), ("objects", objectsJSON),
          ])
      }
      slotsJSON.append(
        .object([
          ("id", .int(Int(slot.id))), ("description", .string(slot.description)),
          ("manufacturer", .string(slot.manufacturer)), ("removable", .bool(slot.isRemovable)),
          ("token", tokenJSON),
        ]))
    }
    if json {
      let moduleJSON: JSON = .object([
        ("path", .string(loaded.path)), ("manufacturer", .string(loaded.libraryManufacturer)),
        ("description", .string(loaded.libraryDescription)),
      ])
      Output.line(JSON.object([("module", moduleJSON), ("slots", .array(slotsJSON))]).serialized())
    } else {
      Output.line(lines.joined(separator: "\n"))
    }
  }

  private func chooseToken(_ tokens: [PKCS11Token]) throws -> PKCS11Token {
    if let token {
      guard let match = tokens.first(where: { $0.label == token }) else {
        throw ValidationError(
          "--token \(token): the module has no initialized token of that label (it has "
            + tokens.map { "\"\($0.label)\"" }.joined(separator: ", ") + ")")
      }
      return match
    }
    guard tokens.count == 1 else {
      throw ValidationError(
        tokens.isEmpty
          ? "the module has no initialized token to log in to"
          : "the module has \(tokens.count) initialized tokens; name the one the PIN is for with --token")
    }
    return tokens[0]
  }

  /// The object's URI with this module's path, so that it can be given to `--key` as it is.
  private func usableURI(_ object: PKCS11ObjectInfo) -> String {
    var uri = object.uri
    uri.modulePath = module.hasPrefix("/") ? module : FileManager.default.currentDirectoryPath + "/" + module
    return uri.description
  }

  private func json(_ object: PKCS11ObjectInfo) -> JSON {
    let kind: String =
      switch object.kind {
      case .privateKey: "private_key"
      case .publicKey: "public_key"
      case .certificate: "certificate"
      }
    return .object([
      ("class", .string(kind)), ("label", .string(object.label)), ("id", .string(object.idHex)),
      ("key_type", .optional(object.keyType)), ("key_bits", object.keyBits.map(JSON.int) ?? .null),
      ("subject", .optional(object.subject)), ("uri", .string(usableURI(object))),
    ])
  }
}

/// `pkcs11 sign --key pkcs11:URI [--module PATH] [--in FILE] [--digest sha256|sha384|sha512] [--out FILE]`
struct PKCS11Sign: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sign",
    abstract: "Sign with a key on a token; the signature's bytes go to --out or standard output.",
    discussion: """
      The URI may carry module-path (or module-name) and pin-source=file:/path/to/pin. A module \
      named on this command line, by --module or by the URI, is loaded: it is the user's own choice. \
      PINs never travel on the command line: a URI with pin-value is refused unless --allow-pin-value.
      """)

  enum DigestChoice: String, ExpressibleByArgument, CaseIterable {
    case sha256, sha384, sha512

    var digest: Digest {
      switch self {
      case .sha256: .sha256
      case .sha384: .sha384
      case .sha512: .sha512
      }
    }
  }

  enum PaddingChoice: String, ExpressibleByArgument, CaseIterable {
    case pkcs1, pss
  }

  @Option(help: "The key: a pkcs11: URI (RFC 7512).")
  var key: String

  @Option(help: "The PKCS#11 module, when the URI names none (or to load it explicitly).")
  var module: String?

  @Option(name: .customLong("in"), help: "The file to sign (default: standard input).")
  var input: String?

  @Option(help: "The digest: sha256, sha384 or sha512.")
  var digest: DigestChoice = .sha256

  @Option(help: "RSA padding: pkcs1 (PKCS#1 v1.5) or pss.")
  var padding: PaddingChoice = .pkcs1

  @Option(help: "Where to write the signature (default: standard output).")
  var out: String?

  @OptionGroup var pin: PINOptions

  @Flag(
    name: .customLong("allow-pin-value"),
    help: "Accept a URI with pin-value, although every user of this machine can read the command line.")
  var allowPinValue = false

  func validate() throws {
    if pin.pinStdin && input == nil {
      throw ValidationError("--pin-stdin reads standard input, so give the data to sign with --in FILE")
    }
  }

  func run() throws {
    let signature: [UInt8]
    do {
      let privateKey = try KeySource.privateKey(key, module: module, pin: pin, allowPinValue: allowPinValue)
      let data =
        try input.map { try InputFile.read($0, object: "input") }
        ?? Array(FileHandle.standardInput.readDataToEndOfFile())
      do {
        signature = try privateKey.signature(
          for: data, digest: digest.digest, padding: padding == .pss ? .pss : .pkcs1v15)
      } catch {
        let origin = privateKey.pkcs11Origin.map { " with \($0)" } ?? ""
        let returnValue = error.openSSLError.flatMap(PKCS11ReturnValue.last(in:)).map { ": \($0)" } ?? ""
        throw CommandFailure(status: 2, message: "error: signing\(origin) failed\(returnValue): \(error)", json: nil)
      }
    } catch let failure as CommandFailure {
      throw failure
    } catch {
      throw CommandFailure.input(error, json: false)
    }
    if let out {
      guard FileManager.default.createFile(atPath: out, contents: Data(signature)) else {
        throw CommandFailure(status: 2, message: "error: --out \(out): cannot write the file", json: nil)
      }
    } else {
      FileHandle.standardOutput.write(Data(signature))
    }
  }
}
