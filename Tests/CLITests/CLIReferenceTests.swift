import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// docs/CLI.md, the command line's reference, against the tool itself: every command and option
/// the tool has (`--experimental-dump-help`, the data `--help` is printed from) is described in
/// its command's section and nothing else is, and every JSON key the commands print is listed.
///
/// A new flag or JSON key fails here with the section to add it to.
@Suite("CLI: docs/CLI.md matches the tool")
struct CLIReferenceTests {
  let tool = ChildProcess.product("openssl-objects")

  @Test func everyCommandAndOptionIsDocumentedAndNothingElse() throws {
    let reference = try CLIReference.load()
    let commands = try CLIReference.commands(tool)
    let documented = Set(reference.sections.keys)
    let existing = Set(commands.keys)
    #expect(
      existing.subtracting(documented).isEmpty,
      "commands without a section (### `COMMAND`) in docs/CLI.md: \(existing.subtracting(documented).sorted())")
    #expect(
      documented.subtracting(existing).isEmpty,
      "docs/CLI.md describes commands the tool does not have: \(documented.subtracting(existing).sorted())")
    for (name, options) in commands.sorted(by: { $0.key < $1.key }) {
      guard let section = reference.sections[name] else { continue }
      let missing = Set(options.map(\.name)).subtracting(section.options)
      #expect(missing.isEmpty, "docs/CLI.md, section `\(name)`: add a row for \(missing.sorted())")
      let unknown = section.options.subtracting(options.map(\.name))
      #expect(unknown.isEmpty, "docs/CLI.md, section `\(name)`: \(unknown.sorted()) do not exist")
      #expect(section.hasExitStatus, "docs/CLI.md, section `\(name)`: no 'Exit status:' paragraph")
    }
  }

  @Test func noHelpTextRepeatsTheDefaultItShows() throws {
    // `--help` prints "(default: X)" for options with a default value: the text must not say it again.
    for (name, options) in try CLIReference.commands(tool) {
      for option in options where option.defaultValue != nil {
        #expect(
          !option.help.lowercased().contains("default"),
          "`\(name) \(option.name)`: the help says its default and --help adds it again: \(option.help)")
      }
    }
  }

  @Test func everyJSONKeyIsDocumented() throws {
    let reference = try CLIReference.load()
    let samples = try JSONSamples(tool: tool)
    for (command, outputs) in try samples.outputs() {
      for output in outputs {
        let undocumented = try reference.undocumentedKeys(in: output, command: command)
        #expect(undocumented.isEmpty, "docs/CLI.md, section `\(command)`: add the JSON keys \(undocumented.sorted())")
      }
    }
  }

  @Test func theCheckerFindsWhatIsMissing() throws {
    // The checks above can fail: a section without a key or an option is seen as such.
    let reference = try CLIReference.load()
    #expect(
      try reference.undocumentedKeys(in: #"{"valid": true, "no_such_key": 1}"#, command: "verify") == ["no_such_key"])
    #expect(reference.sections["verify"]?.options.contains("--spki-pin") == true)
    #expect(reference.sections["verify"]?.options.contains("--no-such-flag") == false)
  }
}

/// docs/CLI.md, read into sections: per command, its options (from the first cell of its table's
/// rows) and its JSON keys (the backticked words after "JSON keys:"), plus the shared keys.
struct CLIReference {
  struct Section {
    var options: Set<String> = []
    var jsonKeys: Set<String> = []
    var hasExitStatus = false
  }

  var sections: [String: Section] = [:]
  var sharedKeys: Set<String> = []

  static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("docs/CLI.md").path

  static func load() throws -> CLIReference {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var reference = CLIReference()
    var current: String? = nil
    var inShared = false
    var inKeys = false
    for line in text.components(separatedBy: "\n") {
      if line.hasPrefix("### `"), let name = line.firstMatch(of: /^### `([a-z0-9 -]+)`/) {
        current = String(name.1)
        inShared = false
        reference.sections[current!] = Section()
        continue
      }
      if line.hasPrefix("## ") {
        current = nil
        inShared = line.contains("JSON objects shared")
        continue
      }
      if line.hasPrefix("JSON keys:") { inKeys = true }
      if line.trimmingCharacters(in: .whitespaces).isEmpty { inKeys = false }
      let backticked = Set(line.matches(of: /`([a-z0-9_]+)`/).map { String($0.1) })
      if inKeys {
        if inShared { reference.sharedKeys.formUnion(backticked) }
        if let current { reference.sections[current]!.jsonKeys.formUnion(backticked) }
      }
      guard let current else { continue }
      if line.hasPrefix("Exit status:") { reference.sections[current]!.hasExitStatus = true }
      if line.hasPrefix("| `") {
        let cell = line.split(separator: "|", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        for match in cell.matches(of: /--[a-z0-9][a-z0-9-]*/) {
          reference.sections[current]!.options.insert(String(match.0))
        }
        // A hidden alias named in the row's text ("`--pin` is its former name") is documented too.
        for match in line.matches(of: /`(--[a-z0-9][a-z0-9-]*)` is/) {
          reference.sections[current]!.options.insert(String(match.1))
        }
      }
    }
    return reference
  }

  /// The keys of `json` (at any depth) that neither `command`'s section nor the shared section lists.
  func undocumentedKeys(in json: String, command: String) throws -> Set<String> {
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
    var keys = Set<String>()
    func walk(_ value: Any) {
      if let dictionary = value as? [String: Any] {
        for (key, member) in dictionary {
          keys.insert(key)
          walk(member)
        }
      } else if let array = value as? [Any] {
        array.forEach(walk)
      }
    }
    walk(object)
    return keys.subtracting(sections[command]?.jsonKeys ?? []).subtracting(sharedKeys)
  }

  /// One option of a command, as the tool describes it.
  struct Option {
    let name: String
    let help: String
    let defaultValue: String?
  }

  /// Every leaf command (`inspect`, `ocsp fetch`, ...) with its options (long names; `--help` and
  /// `--version` left out), from `--experimental-dump-help`.
  static func commands(_ tool: String) throws -> [String: [Option]] {
    let dump = try ChildProcess.run(tool, ["--experimental-dump-help"])
    guard dump.status == 0,
      let document = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any],
      let root = document["command"] as? [String: Any]
    else {
      throw CLIReferenceError("--experimental-dump-help failed: \(dump.output)")
    }
    var commands: [String: [Option]] = [:]
    func walk(_ command: [String: Any], path: [String]) {
      let subcommands = command["subcommands"] as? [[String: Any]] ?? []
      if subcommands.isEmpty, !path.isEmpty, path != ["help"] {
        var options: [Option] = []
        for argument in command["arguments"] as? [[String: Any]] ?? [] {
          let names = (argument["names"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "long" }
          guard let name = names.first?["name"] as? String, name != "help", name != "version" else { continue }
          options.append(
            Option(
              name: "--" + name, help: argument["abstract"] as? String ?? "",
              defaultValue: argument["defaultValue"] as? String))
        }
        commands[path.joined(separator: " ")] = options
      }
      for subcommand in subcommands {
        walk(subcommand, path: path + [subcommand["commandName"] as? String ?? "?"])
      }
    }
    walk(root, path: [])
    return commands
  }
}

struct CLIReferenceError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The JSON every command prints, on real inputs: every kind of object `inspect` reads, a valid
/// and a failed verification, OCSP requests and responses, a connection with a staple, a token's
/// listing. (`demo --json` is checked by the demo's own test.)
struct JSONSamples {
  let tool: String
  let directory: TemporaryDirectory
  let fixture: OCSPPKI

  init(tool: String) throws {
    self.tool = tool
    directory = try TemporaryDirectory("cli-reference")
    fixture = try OCSPPKI(leafName: "localhost")
  }

  private func json(
    _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil
  ) throws
    -> String
  {
    let result = try ChildProcess.run(tool, arguments + ["--json"], environment: environment, stdin: stdin)
    guard result.stdout.hasPrefix("{") else {
      throw CLIReferenceError("\(arguments.joined(separator: " ")) printed no JSON: \(result.output)")
    }
    return result.stdout
  }

  func outputs() throws -> [String: [String]] {
    let pki = fixture.pki
    let leaf = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let issuer = try directory.write("issuer.pem", pki.intermediate.pemEncoded)
    let root = try directory.write("root.pem", pki.root.pemEncoded)
    let key = try directory.write("key.pem", try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) })
    let encrypted = try directory.write(
      "encrypted.pem",
      try pki.leafKey.pemEncoded(passphrase: Passphrase(Array("pass".utf8))).withUnsafeBytes { Array($0) })
    let passphrase = try directory.write("pass", "pass\n")
    let publicKey = try directory.write("public.pem", Array(try pki.leafKey.publicKey.pemEncoded.utf8))
    let crl = try directory.write(
      "ca.crl",
      try CRLBuilder(revoked: [
        RevokedCertificate(serialNumber: SerialNumber(7), revocationDate: Date(), reason: .superseded)
      ])
      .sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate).derEncoded)
    let response = try directory.write("response.der", try fixture.response().derEncoded)
    let revoked = try directory.write(
      "revoked.der",
      try fixture.response(.revoked(time: Date(timeIntervalSinceNow: -3_600), reason: .keyCompromise)).derEncoded)
    let request = directory.file("request.der")
    let p12 = try directory.write(
      "bundle.p12",
      try PKCS12Bundle(certificate: pki.leaf, privateKey: pki.leafKey, chain: [pki.intermediate])
        .derEncoded(passphrase: Passphrase(Array("pass".utf8))))
    let csr = directory.file("request.csr")
    _ = try ChildProcess.run(
      "openssl", ["req", "-new", "-key", key, "-subj", "/CN=csr", "-addext", "subjectAltName=DNS:csr", "-out", csr])
    var outputs: [String: [String]] = [:]
    outputs["ocsp request", default: []].append(
      try json(["ocsp", "request", "--cert", leaf, "--issuer", issuer, "--nonce", "--out", request]))
    outputs["inspect", default: []] += [
      try json(["inspect", leaf, key, encrypted, publicKey, crl, response, request, csr, p12]),
      try json(["inspect", encrypted, p12, "--passphrase-file", passphrase]),
      try json(["inspect", directory.file("missing")]),
    ]
    outputs["pin", default: []] += [
      try json(["pin", leaf, key, publicKey, csr, p12, "--passphrase-file", passphrase]),
      try json(["pin", crl]),
    ]
    outputs["verify", default: []] += [
      try json(["verify", leaf, "--untrusted", issuer, "--trusted", root]),
      try json(["verify", leaf, "--trusted", root]),
    ]
    outputs["ocsp verify", default: []] += [
      try json(["ocsp", "verify", "--response", response, "--trusted", root, "--cert", leaf, "--issuer", issuer]),
      try json(["ocsp", "verify", "--response", revoked, "--trusted", root, "--cert", leaf, "--issuer", issuer]),
    ]
    let closed = try LoopbackSocket.freePort()
    outputs["ocsp fetch", default: []].append(
      try json([
        "ocsp", "fetch", "--cert", leaf, "--issuer", issuer, "--url", "http://127.0.0.1:\(closed)/", "--timeout", "1",
      ]))
    // connect, against serve stapling the response.
    let server = try RunningProcess(
      tool,
      [
        "serve", "--port", "0", "--once", "--cert",
        try directory.write("chain.pem", pki.leaf.pemEncoded + pki.intermediate.pemEncoded),
        "--key", key, "--ocsp-staple", response, "--reply", "pong",
      ])
    guard server.wait(for: "listening on"), let port = server.text.firstMatch(of: /127\.0\.0\.1:(\d+)/)?.1 else {
      throw CLIReferenceError("serve did not start: \(server.text)")
    }
    outputs["connect", default: []] += [
      try json(["connect", "localhost:\(port)", "--trusted", root, "--status-request", "--send", "ping"]),
      try json(["connect", "127.0.0.1:\(closed)"]),
    ]
    _ = server.waitForExit()
    // pkcs11 list, logged in.
    let token = try SoftHSMToken()
    outputs["pkcs11 list", default: []].append(
      try json(
        ["pkcs11", "list", "--module", SoftHSMToken.modulePath, "--pin-source", token.pinFile],
        environment: token.environment))
    return outputs
  }
}
