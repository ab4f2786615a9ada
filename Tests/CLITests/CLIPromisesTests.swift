import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The command line's promises (docs/SECURITY.md rows 136, 138, 139 and 140), each tried with
/// the input that would break it, against the built tool.
@Suite("CLI: promises tried (no CN fallback, time limits, required staples, no passphrase on the command line)")
struct CLIPromisesTests {
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] { try CLI.json(text) }

  private func serve(_ arguments: [String]) throws -> (RunningProcess, Int) { try CLI.serve(arguments) }

  // MARK: - Row 138 (G40): host names never fall back to the subject CN

  /// Breaking the promise (OpenSSL's default, which checks the subject CN of a certificate
  /// without DNS names) would make both commands accept the certificate: exit 0.
  @Test func verifyAndConnectNeverMatchAHostNamedOnlyInTheSubjectCN() throws {
    let pki = try TestPKI(leafName: "localhost") { $0.subjectAlternativeNames = nil }
    let files = try PeerFiles()
    let leaf = try files.certificates("leaf.pem", [pki.leaf])
    let root = try files.certificates("root.pem", [pki.root])
    let intermediate = try files.certificates("intermediate.pem", [pki.intermediate])
    // The certificate does name the host in its CN: OpenSSL's own default accepts it.
    let openssl = try ChildProcess.run(
      "openssl",
      [
        "verify", "-no-CAfile", "-no-CApath", "-no-CAstore", "-trusted", root, "-untrusted", intermediate,
        "-verify_hostname", "localhost", leaf,
      ])
    #expect(openssl.status == 0, "\(openssl.output)")

    for extra in [[], ["--never-check-subject"]] {
      let result = try ChildProcess.run(
        tool,
        ["verify", leaf, "--trusted", root, "--untrusted", intermediate, "--host", "localhost", "--json"] + extra)
      #expect(result.status == 1, "\(result.output)")
      let error = try #require(try json(result.stdout)["error"] as? [String: Any])
      #expect(error["name"] as? String == "X509_V_ERR_HOSTNAME_MISMATCH", "\(error)")
    }

    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate]), "--key",
      try files.key("server.key", pki.leafKey),
    ])
    let connect = try ChildProcess.run(tool, ["connect", "localhost:\(port)", "--trusted", root, "--json"])
    #expect(connect.status == 1, "\(connect.output)")
    let document = try json(connect.stdout)
    #expect(document["connected"] as? Bool == false)
    #expect((document["verify_error"] as? [String: Any])?["name"] as? String == "X509_V_ERR_HOSTNAME_MISMATCH")
    #expect(server.waitForExit() == 1, "\(server.text)")
  }

  // MARK: - connect's trust: the given anchors only, and pins of the verified chain only

  /// CLI.md: with `--trusted` only the given anchors are trusted (plus the system store with
  /// `--system-trust`), and a pin must match a certificate of the verified chain. Breaking either
  /// would let a connection succeed here: through the system store that `--trusted` replaced, or
  /// through a pin of a certificate the server sent that is not in the verified chain.
  @Test func connectTrustsOnlyTheGivenAnchorsAndPinsOfTheVerifiedChain() throws {
    let pki = try TestPKI(leafName: "localhost")
    let stray = try TestPKI().root
    let files = try PeerFiles()
    // The server sends a certificate that is not part of its chain: its key is pinned below.
    let (server, port) = try CLI.serve(
      [
        "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate, stray]), "--key",
        try files.key("server.key", pki.leafKey),
      ], once: false)
    defer { server.stop() }
    let root = try files.certificates("root.pem", [pki.root])
    let other = try files.certificates("other.pem", [try TestPKI().root])
    // OpenSSL's default store honours SSL_CERT_FILE: here the system store is the test root.
    let system = ["SSL_CERT_FILE": root, "SSL_CERT_DIR": files.directory.file("none")]
    func connect(_ options: [String]) throws -> ProcessResult {
      try ChildProcess.run(tool, ["connect", "localhost:\(port)", "--json"] + options, environment: system)
    }
    #expect(try connect([]).status == 0)
    let replaced = try connect(["--trusted", other])
    #expect(replaced.status == 1, "\(replaced.output)")
    #expect(
      (try json(replaced.stdout)["verify_error"] as? [String: Any])?["name"] as? String
        == "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "\(replaced.output)")
    #expect(try connect(["--trusted", other, "--system-trust"]).status == 0)

    let sentButNotVerified = try connect(["--trusted", root, "--spki-pin", stray.spkiPin])
    #expect(sentButNotVerified.status == 1, "\(sentButNotVerified.output)")
    let document = try json(sentButNotVerified.stdout)
    #expect((document["peer_chain"] as? [[String: Any]])?.count == 3)
    let error = try #require(document["verify_error"] as? [String: Any])
    #expect(error["name"] as? String == "X509_V_ERR_APPLICATION_VERIFICATION")
    #expect((error["explanation"] as? String)?.hasPrefix("No key of the verified chain matches a pin") == true)
    #expect(try connect(["--trusted", root, "--spki-pin", pki.intermediate.spkiPin]).status == 0)
  }

  // MARK: - Row 140 (G41): connect's --timeout at every step, serve's limit for a stalling client

  /// Breaking the promise (a step without the limit: the TCP connection, or the handshake) would
  /// leave `connect` waiting for the kernel's own limit (about two minutes for a connection whose
  /// SYNs are dropped) or for ever, and the message would not name the one second given.
  @Test func connectGivesUpAtItsTimeoutWhenTheServerDoesNotAnswerAtAnyStep() throws {
    // The handshake step: the kernel accepts the connection into the listener's backlog, and
    // nobody ever answers the ClientHello.
    let silent = try LoopbackSocket.listen()
    defer { close(silent.descriptor) }
    let handshake = try ChildProcess.run(
      tool, ["connect", "localhost:\(silent.port)", "--timeout", "1", "--no-verify", "--json"])
    #expect(handshake.status == 1, "\(handshake.output)")
    #expect(try json(handshake.stdout)["connected"] as? Bool == false)
    #expect(handshake.stderr.contains("did not answer within the socket timeout (1.0 seconds)"), "\(handshake.output)")

    // The connection step: a listener whose backlog (0) is full drops further SYNs, so the TCP
    // handshake itself never completes.
    let full = try LoopbackSocket.listen()
    defer { close(full.descriptor) }
    try #require(listen(full.descriptor, 0) == 0)
    let filler = try LoopbackSocket.connect(port: full.port)
    defer { close(filler) }
    let connection = try ChildProcess.run(
      tool, ["connect", "127.0.0.1:\(full.port)", "--timeout", "1", "--no-verify", "--json"])
    #expect(connection.status == 1, "\(connection.output)")
    #expect(try json(connection.stdout)["connected"] as? Bool == false)
    #expect(connection.stderr.contains("no connection within 1 second"), "\(connection.output)")
  }

  /// Breaking the promise (no limit on a client's socket) would leave `serve --once` waiting for
  /// the silent client for ever (the test gives up after a minute); a limit other than the one
  /// given would show in the message.
  @Test func serveDropsAClientThatStallsAtItsTimeout() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate]), "--key",
      try files.key("server.key", pki.leafKey), "--timeout", "1",
    ])
    // A client that connects and never sends its ClientHello.
    let client = try LoopbackSocket.connect(port: port)
    defer { close(client) }
    #expect(server.waitForExit(timeout: 60) == 1, "\(server.text)")
    #expect(server.text.contains("did not answer within the socket timeout (1.0 seconds)"), "\(server.text)")
    #expect(
      try ChildProcess.run(tool, ["serve", "--port", "0", "--cert", "a", "--key", "b", "--timeout", "0"]).status == 2)
  }

  // MARK: - Row 139 (G42): --require-staple, and must-staple with either staple option

  /// Breaking the promise (a staple option that asks for a staple but does not require a valid
  /// one) would let these connections succeed: exit 0.
  @Test func requireStapleFailsWithoutAValidStapleAndMustStapleWithEitherOption() throws {
    let plainPKI = try OCSPPKI(leafName: "localhost")
    let mustStaplePKI = try OCSPPKI(leafName: "localhost", mustStaple: true)
    let files = try PeerFiles()
    func server(_ fixture: OCSPPKI, _ name: String, staple: OCSPResponse? = nil) throws -> (RunningProcess, Int) {
      var arguments = [
        "--cert", try files.certificates("\(name).pem", [fixture.pki.leaf, fixture.pki.intermediate]), "--key",
        try files.key("\(name).key", fixture.pki.leafKey),
      ]
      if let staple { arguments += ["--ocsp-staple", try files.directory.write("\(name).der", staple.derEncoded)] }
      return try serve(arguments)
    }
    func connect(_ fixture: OCSPPKI, port: Int, _ options: [String]) throws -> ProcessResult {
      let root = try files.certificates("root-\(port).pem", [fixture.pki.root])
      return try ChildProcess.run(tool, ["connect", "localhost:\(port)", "--trusted", root, "--json"] + options)
    }

    // A certificate that is not must-staple, and a server that staples nothing.
    let (bare, barePort) = try server(plainPKI, "bare")
    let missing = try connect(plainPKI, port: barePort, ["--require-staple"])
    #expect(missing.status == 1, "\(missing.output)")
    let missingError = try #require(try json(missing.stdout)["error"] as? [String: Any])
    #expect(missingError["name"] as? String == "OCSPError")
    #expect(missingError["check"] as? String == "missing staple", "\(missingError)")
    _ = bare.waitForExit()

    // A staple that is present but stale is not a valid staple, for either option, when the
    // certificate is must-staple.
    let stale = try mustStaplePKI.response(
      thisUpdate: Date(timeIntervalSinceNow: -3 * 86_400), nextUpdate: Date(timeIntervalSinceNow: -86_400))
    for option in ["--require-staple", "--status-request"] {
      let (staler, stalePort) = try server(mustStaplePKI, "stale\(option)", staple: stale)
      let result = try connect(mustStaplePKI, port: stalePort, [option])
      #expect(result.status == 1, "\(option): \(result.output)")
      let error = try #require(try json(result.stdout)["error"] as? [String: Any])
      #expect(error["name"] as? String == "OCSPError", "\(option): \(error)")
      #expect(error["check"] as? String == "stale", "\(option): \(error)")
      _ = staler.waitForExit()
    }

    // The neighbour: a good staple passes --require-staple.
    let (good, goodPort) = try server(mustStaplePKI, "good", staple: try mustStaplePKI.response(.good))
    let passed = try connect(mustStaplePKI, port: goodPort, ["--require-staple"])
    #expect(passed.status == 0, "\(passed.output)")
    #expect((try json(passed.stdout)["ocsp_staple"] as? [String: Any])?["cert_status"] as? String == "good")
    _ = good.waitForExit()
  }

  // MARK: - Row 136 (G43): no passphrase on the command line

  /// Breaking the promise (an option that takes the passphrase itself) would make these runs
  /// read the key (exit 0) or at least accept the option; and the secret must not be echoed back
  /// in the error.
  @Test func noCommandTakesAPassphraseOnTheCommandLine() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let secret = "Sw0rdfish-on-the-command-line"
    let key = try files.directory.write(
      "encrypted.key",
      try pki.leafKey.pemEncoded(passphrase: Passphrase(Array(secret.utf8))).withUnsafeBytes { Array($0) })
    let certificate = try files.certificates("server.pem", [pki.leaf])
    let runs: [[String]] = [
      ["inspect", key], ["pin", key], ["serve", "--port", "0", "--once", "--cert", certificate, "--key", key],
      ["connect", "localhost:1", "--cert", certificate, "--key", key],
    ]
    for run in runs {
      for spelling in [
        ["--passphrase", secret], ["--passphrase=\(secret)"], ["--pass", secret], ["--password", secret],
      ] {
        let result = try ChildProcess.run(tool, run + spelling)
        #expect(result.status == 2, "\(run + spelling): \(result.output)")
        #expect(result.stderr.contains("Unknown option"), "\(run + spelling): \(result.stderr)")
        #expect(!result.output.contains(secret), "\(run + spelling) printed the secret: \(result.output)")
      }
    }
    // The ways that are offered do read the key.
    let passphraseFile = try files.directory.write("pass", secret + "\n")
    #expect(
      try ChildProcess.run(tool, ["pin", key, "--passphrase-file", passphraseFile]).stdout == pki.leafKey.spkiPin + "\n"
    )
    #expect(
      try ChildProcess.run(tool, ["pin", key, "--passphrase-stdin"], stdin: secret).stdout == pki.leafKey.spkiPin + "\n"
    )

    // No command has an option that takes a secret as its value: every option whose name speaks
    // of a passphrase, a password, a secret or a PIN is a file, a flag, or an SPKI pin (public).
    let allowed: Set<String> = [
      "--passphrase-file", "--passphrase-stdin", "--pin-source", "--pin-stdin", "--allow-pin-value", "--spki-pin",
      "--pin",  // the hidden former name of --spki-pin: a public key's digest
    ]
    var seen: Set<String> = []
    for (command, options) in try CLIReference.commands(tool) {
      for option in options.map(\.name) where option.contains(/pass|pwd|secret|pin/) {
        seen.insert(option)
        #expect(allowed.contains(option), "`\(command) \(option)` looks like it takes a secret on the command line")
      }
    }
    #expect(seen.isSuperset(of: ["--passphrase-file", "--pin-source", "--spki-pin"]), "\(seen)")
  }

  // MARK: - Secrets typed at a terminal

  /// CLI.md: `--passphrase-stdin` on a terminal prompts on stderr and turns echo off while the
  /// passphrase is typed (the PIN's case: `PINHandlingTests`). Breaking it would show the
  /// passphrase in what the terminal displays, or leave the terminal silent after the command.
  @Test func passphraseStdinOnATerminalIsNotEchoedAndEchoComesBack() throws {
    let pki = try TestPKI()
    let files = try PeerFiles()
    let secret = "typed-at-the-terminal"
    let key = try files.directory.write(
      "encrypted.key",
      try pki.leafKey.pemEncoded(passphrase: Passphrase(Array(secret.utf8))).withUnsafeBytes { Array($0) })
    let terminal = try PINHandlingTests.PseudoTerminal()
    try #require(terminal.echoes, "a new terminal echoes")
    let process = try RunningProcess(
      "/bin/sh", ["-c", "exec \"$0\" pin \"$1\" --passphrase-stdin < \"$2\"", tool, key, terminal.slave])
    #expect(process.wait(for: "Passphrase: "), "\(process.text)")
    terminal.type(secret + "\n")
    #expect(process.waitForExit() == 0, "\(process.text)")
    #expect(process.text.contains(try pki.leafKey.spkiPin), "\(process.text)")
    let shown = terminal.shown()
    #expect(!shown.contains(secret), "the passphrase was echoed: \(shown.debugDescription)")
    #expect(!process.text.contains(secret))
    #expect(terminal.echoes)
    terminal.type("after\n")
    usleep(100_000)
    #expect(terminal.shown().contains("after"))
  }

  // MARK: - ocsp fetch --nonce

  /// CLI.md: `ocsp fetch --nonce` adds a random nonce, and "a response that changes it fails".
  /// Breaking it (no nonce sent, or none compared) would pass the replayed response: exit 0.
  @Test func ocspFetchWithANonceRefusesAResponseThatChangesIt() throws {
    let fixture = try OCSPPKI()
    let files = try PeerFiles()
    let leaf = try files.certificates("leaf.pem", [fixture.pki.leaf])
    let issuer = try files.certificates("issuer.pem", [fixture.pki.intermediate])
    let root = try files.certificates("root.pem", [fixture.pki.root])
    func responder(nonce: [UInt8]?) throws -> OCSPTestResponder {
      try OCSPTestResponder(
        ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
        behaviour: .fixed(try fixture.response(.good) { $0.nonce = nonce }.derEncoded))
    }
    let clean = ["http_proxy": "", "HTTP_PROXY": "", "no_proxy": "", "NO_PROXY": ""]
    func fetch(_ responder: OCSPTestResponder, _ extra: [String]) throws -> ProcessResult {
      try ChildProcess.run(
        tool,
        [
          "ocsp", "fetch", "--cert", leaf, "--issuer", issuer, "--trusted", root, "--url", responder.url,
          "--allow-private-destinations", "--json",
        ] + extra, environment: clean)
    }
    let replaying = try responder(nonce: Array(repeating: 7, count: 16))
    let changed = try fetch(replaying, ["--nonce"])
    #expect(changed.status == 1, "\(changed.output)")
    let error = try #require(try json(changed.stdout)["error"] as? [String: Any])
    #expect(error["check"] as? String == "nonce mismatch", "\(error)")
    let sent = try #require(replaying.received.first)
    #expect(try OCSPRequest(derEncoded: sent.der).nonce?.count == 16)
    // The neighbours: without --nonce the same response is good, and a responder that drops the
    // nonce is accepted (only a changed one fails).
    #expect(try fetch(replaying, []).status == 0)
    let dropping = try fetch(try responder(nonce: nil), ["--nonce"])
    #expect(dropping.status == 0, "\(dropping.output)")
  }

  // MARK: - pkcs11 list logs in once

  /// docs/CLI.md: with a PIN, `pkcs11 list` "logs in once (a wrong PIN is not tried again)". The
  /// forwarding module of Tests/PKCS11C counts the `C_Login` calls that reach the token. Breaking
  /// the promise (a retry, or a second login for the private objects) would show more than one.
  @Test(.needsLibP11) func pkcs11ListLogsInOnceAndNeverTriesAWrongPINAgain() throws {
    let token = try SoftHSMToken()
    let forwarding = try ForwardingModule()
    let directory = try TemporaryDirectory()
    let wrong = try directory.write("wrong-pin", "987654")
    let list = ["pkcs11", "list", "--module", forwarding.path, "--pin-source"]
    let refused = try ChildProcess.run(tool, list + [wrong], environment: token.environment)
    #expect(refused.status == 1, "\(refused.output)")
    #expect(refused.stderr.contains("CKR_PIN_INCORRECT"), "\(refused.output)")
    // CKU_USER (1) and CKR_PIN_INCORRECT (0xA0), once.
    #expect(forwarding.loginLines == ["C_Login user=1 rv=160"], "\(forwarding.loginLines)")
    let listed = try ChildProcess.run(tool, list + [token.pinFile], environment: token.environment)
    #expect(listed.status == 0, "\(listed.output)")
    #expect(listed.stdout.contains("logged in: yes"), "\(listed.output)")
    // The right PIN is checked once (rv 0); libp11 is then told of the login, and the token
    // answers its C_Login with CKR_USER_ALREADY_LOGGED_IN (0x100), which checks no PIN (as for the
    // library: PKCS11PromiseTests.theRightPINReachesTheTokenOnceAndLogsIn).
    #expect(
      forwarding.loginLines == ["C_Login user=1 rv=160", "C_Login user=1 rv=0", "C_Login user=1 rv=256"],
      "\(forwarding.loginLines)")
  }
}
