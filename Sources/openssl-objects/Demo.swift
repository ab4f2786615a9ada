import ArgumentParser
import CapsuleDemoClient
import Foundation
import OpenSSLObjects
import OpenSSLObjectsCapsule
import PKCS11Keys

/// `openssl-objects demo`: the whole library working on real components, in a temporary
/// directory it removes: a PKI with a must-staple server certificate, the server's key on a fresh
/// SoftHSM2 token, an OCSP responder of ours, a TLS server that staples, a client with a verify
/// callback, a pin and the staple policy, three failures explained, and C code connecting with the
/// client's context through a capsule.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The end-to-end tour of the library on this machine (see the README).")

  @Flag(help: "Print one JSON object instead of the transcript.")
  var json = false

  func run() throws {
    signal(SIGPIPE, SIG_IGN)
    let transcript = Transcript(json: json)
    let directory = try DemoDirectory()
    defer { directory.remove() }
    do {
      try DemoRun(transcript: transcript, directory: directory).run()
    } catch {
      transcript.fail(error)
      if json { Output.line(transcript.document(success: false).serialized()) }
      throw CommandFailure(status: 1, message: "error: demo failed: \(error)", json: nil)
    }
    if json { Output.line(transcript.document(success: true).serialized()) }
  }
}

/// The demo's steps, in order.
private struct DemoRun {
  let transcript: Transcript
  let directory: DemoDirectory
  let module = "/usr/lib/softhsm/libsofthsm2.so"

  func run() throws {
    // The responder listens first: its URL goes into the server certificate.
    let responder = try OCSPResponder()
    defer { responder.stop() }

    // 1. The PKI.
    transcript.step(1, "Build a root CA, an intermediate and a must-staple server certificate with an OCSP URL")
    let rootKey = try PrivateKey(generating: .ec(.p256))
    let root = try Self.ca("OpenSSLObjects Demo Root CA", key: rootKey, issuerKey: rootKey, issuer: nil)
    let intermediateKey = try PrivateKey(generating: .ec(.p256))
    let intermediate = try Self.ca(
      "OpenSSLObjects Demo Intermediate CA", key: intermediateKey, issuerKey: rootKey, issuer: root)
    let serverKey = try PrivateKey(generating: .ec(.p256))
    let server = try Self.leaf(key: serverKey, issuerKey: intermediateKey, issuer: intermediate, ocsp: responder.url)
    for certificate in [root, intermediate, server] {
      transcript.detail("\(certificate.subject.rfc2253) (issued by \(certificate.issuer.rfc2253))")
    }
    transcript.detail(
      "server: must-staple \(try server.mustStaple), OCSP \(try server.ocspURLs.joined()), pin \(server.spkiPin)")

    // 2. The server's key goes onto a fresh token and comes back by URI.
    transcript.step(2, "Put the server's private key on a fresh SoftHSM2 token and load it back by pkcs11: URI")
    let token = try DemoToken(directory: directory, module: module)
    try token.importKey(serverKey, label: "demo-server", id: "01")
    let uri =
      "pkcs11:token=\(DemoToken.label);object=demo-server;type=private?module-path=\(module)&pin-source=file:\(token.pinFile)"
    let tokenKey = try PrivateKey(pkcs11: uri, options: PKCS11LoadOptions(modulePolicy: .allowList([module])))
    transcript.detail("token \"\(DemoToken.label)\" in \(directory.path); the key file is gone")
    transcript.detail("loaded \(tokenKey) from \(try PKCS11URI(parsing: uri))")
    transcript.detail("the token key matches the certificate: \(tokenKey.matches(server))")

    // 3. The responder and a TLS server whose key is on the token and which staples.
    transcript.step(3, "Start our OCSP responder and a TLS server on 127.0.0.1 that staples a fresh response from it")
    let revokedKey = try PrivateKey(generating: .ec(.p256))
    let revoked = try Self.leaf(key: revokedKey, issuerKey: intermediateKey, issuer: intermediate, ocsp: responder.url)
    let revokedAt = Date(timeIntervalSinceNow: -3_600)
    responder.serve(
      issuer: intermediate, key: intermediateKey,
      statuses: [server.serialNumber: .good, revoked.serialNumber: .revoked(time: revokedAt, reason: .keyCompromise)],
      certificates: [server, revoked])
    let goodServer = try DemoTLSServer(
      context: try Self.stapling(
        CertificateChain(certificate: server, chain: [intermediate], privateKey: tokenKey), intermediate))
    defer { goodServer.stop() }
    transcript.detail("OCSP responder: \(responder.url) (responses signed by the intermediate with OCSP_basic_sign)")
    transcript.detail("TLS server: 127.0.0.1:\(goodServer.port), key on the token, stapling per connection")

    // 4. The client: demo CA as the trust store, a verify callback, a pin, the staple policy.
    transcript.step(4, "Connect a client: the demo CA as trust store, a verify callback, an SPKI pin, staples required")
    let seen = Seen()
    var client = TLSConfiguration.client
    client.trust = .certificates([root])
    client.verification.pins = try PinSet([intermediate.spkiPin])
    client.verification.verifyCallback = { view in
      if view.ok, let certificate = view.currentCertificate {
        seen.append("verify callback: depth \(view.depth) \(certificate.subject.rfc2253)")
      }
      return .keep
    }
    client.revocation.staple = .require
    let clientContext = try SSLContext(configuration: client)
    let connection = try DemoTLSServer.connect(clientContext, port: goodServer.port)
    seen.all.forEach(transcript.detail)
    transcript.detail(
      "connected: \(connection.version?.description ?? "?") \(connection.cipher ?? "?"), group \(connection.group ?? "?")"
    )
    transcript.detail("verified chain: " + connection.verifiedChain.map(\.subject.rfc2253).joined(separator: " <- "))
    if let single = connection.revocationReport?.singleResponse {
      transcript.detail("stapled OCSP: \(single.status), this update \(Output.time(single.thisUpdate))")
    }
    transcript.connection = .object([
      ("version", .optional(connection.version?.description)), ("cipher", .optional(connection.cipher)),
      ("group", .optional(connection.group)), ("verified_chain", Describe.chain(connection.verifiedChain)),
      ("staple", .optional(connection.revocationReport?.singleResponse?.status.description)),
    ])

    // 5. Three failures, each explained.
    transcript.step(5, "Three failures, each with its diagnosis")
    var wrongPin = client
    wrongPin.verification.pins = try PinSet([try PrivateKey(generating: .ec(.p256)).spkiPin])
    transcript.failure(
      "a wrong pin",
      Self.failure { _ = try DemoTLSServer.connect(try SSLContext(configuration: wrongPin), port: goodServer.port) })

    let revokedServer = try DemoTLSServer(
      context: try Self.stapling(
        CertificateChain(certificate: revoked, chain: [intermediate], privateKey: revokedKey), intermediate))
    defer { revokedServer.stop() }
    transcript.failure(
      "a revoked certificate's staple",
      Self.failure { _ = try DemoTLSServer.connect(clientContext, port: revokedServer.port) })

    let expiredKey = try PrivateKey(generating: .ec(.p256))
    var expiredBuilder = Self.leafBuilder(key: expiredKey, ocsp: nil)
    expiredBuilder.notBefore = Date(timeIntervalSinceNow: -30 * 86_400)
    expiredBuilder.notAfter = Date(timeIntervalSinceNow: -2 * 86_400)
    let expired = try expiredBuilder.sign(with: intermediateKey, issuerCertificate: intermediate)
    let expiredServer = try DemoTLSServer(
      context: try SSLContext(
        configuration: .server([CertificateChain(certificate: expired, chain: [intermediate], privateKey: expiredKey)]))
    )
    defer { expiredServer.stop() }
    transcript.failure(
      "an expired certificate", Self.failure { _ = try DemoTLSServer.connect(clientContext, port: expiredServer.port) })

    // 6. C code takes the client context through a capsule and connects again.
    transcript.step(6, "Hand the client context to C code through a capsule and connect again from C")
    let capsule = try clientContext.capsule()
    transcript.detail("capsule 0x\(String(capsule.handle, radix: 16)) of type \(try capsule.type)")
    var report = [CChar](repeating: 0, count: 512)
    let status = unsafe oo_demo_connect_from_c(
      oo_capsule(handle: capsule.handle), Int32(goodServer.port), "localhost", &report, report.count)
    let text = unsafe report.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
    transcript.detail(text)
    transcript.cHandshake = text
    guard status == 0 else { throw DemoFailure("the C client could not connect: \(text)") }
  }

  // MARK: PKI

  static func ca(
    _ name: String, key: PrivateKey, issuerKey: PrivateKey, issuer: X509Certificate?
  ) throws -> X509Certificate {
    var builder = CertificateBuilder(subject: try X509Name(["CN": name, "O": "OpenSSLObjects Demo"]))
    builder.publicKey = try key.publicKey
    builder.basicConstraints = BasicConstraints(isCA: true, pathLength: issuer == nil ? 1 : 0)
    builder.keyUsage = [.keyCertSign, .cRLSign, .digitalSignature]
    return try builder.sign(with: issuerKey, issuerCertificate: issuer)
  }

  static func leafBuilder(key: PrivateKey, ocsp: String?) -> CertificateBuilder {
    var builder = CertificateBuilder(subject: (try? X509Name(["CN": "localhost"]))!)
    builder.publicKey = try? key.publicKey
    builder.subjectAlternativeNames = [.dnsName("localhost"), GeneralName.ipAddress("127.0.0.1")!]
    builder.keyUsage = [.digitalSignature]
    builder.extendedKeyUsage = [.serverAuth]
    if let ocsp {
      builder.setAuthorityInformationAccess(ocsp: [ocsp])
      builder.tlsFeatures = .mustStaple
    }
    return builder
  }

  static func leaf(
    key: PrivateKey, issuerKey: PrivateKey, issuer: X509Certificate, ocsp: String
  ) throws -> X509Certificate {
    try leafBuilder(key: key, ocsp: ocsp).sign(with: issuerKey, issuerCertificate: issuer)
  }

  /// A server context that staples a response fetched from the certificate's responder for each
  /// connection that asks.
  static func stapling(_ chain: CertificateChain, _ issuer: X509Certificate) throws -> SSLContext {
    var configuration = TLSConfiguration.server([chain])
    configuration.ocspStaple = .provider { certificate in
      guard let certificate else { return nil }
      // The demo's responder listens on 127.0.0.1, which fetches reach only when allowed.
      return try OCSPClient(destinations: .allowingLoopback).fetch(certificate: certificate, issuer: issuer).response
        .derEncoded
    }
    return try SSLContext(configuration: configuration)
  }

  /// The error a failing connection raised, as text.
  static func failure(_ body: () throws -> Void) -> String {
    do {
      try body()
      return "unexpectedly succeeded"
    } catch let error as TLSError {
      if let verification = error.verification { return "\(verification.name): \(verification.explanation)" }
      return "\(error)"
    } catch {
      return "\(error)"
    }
  }
}

/// What the demo prints: a transcript, or the data for `--json`.
private final class Transcript: @unchecked Sendable {
  private let json: Bool
  private var steps: [JSON] = []
  private var current: (number: Int, title: String, details: [String])?
  private var failures: [JSON] = []
  private var error: String?
  var connection: JSON = .null
  var cHandshake: String?

  init(json: Bool) {
    self.json = json
  }

  func step(_ number: Int, _ title: String) {
    close()
    current = (number, title, [])
    if !json { Output.line("\n[\(number)/6] \(title)") }
  }

  func detail(_ text: String) {
    current?.details.append(text)
    if !json { Output.line("      \(text)") }
  }

  func failure(_ name: String, _ diagnosis: String) {
    detail("\(name): \(diagnosis)")
    failures.append(.object([("case", .string(name)), ("diagnosis", .string(diagnosis))]))
  }

  func fail(_ error: any Error) {
    self.error = "\(error)"
    close()
  }

  private func close() {
    if let current {
      steps.append(
        .object([
          ("step", .int(current.number)), ("title", .string(current.title)), ("details", .strings(current.details)),
        ]))
    }
    current = nil
  }

  func document(success: Bool) -> JSON {
    close()
    return .object([
      ("success", .bool(success)), ("steps", .array(steps)), ("connection", connection), ("failures", .array(failures)),
      ("c_handshake", .optional(cHandshake)), ("error", .optional(error)),
    ])
  }
}

/// The verify callback's lines, collected across threads.
private final class Seen: @unchecked Sendable {
  private let lock = NSLock()
  private var lines: [String] = []

  func append(_ line: String) {
    lock.withLock { lines.append(line) }
  }

  var all: [String] { lock.withLock { lines } }
}

private struct DemoFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The demo's temporary directory, removed at the end.
private final class DemoDirectory {
  let path: String

  init() throws {
    // NSTemporaryDirectory() ends in a slash: no second one.
    let base =
      NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
    var template = Array("\(base)/openssl-objects-demo.XXXXXX".utf8CString)
    guard let made = unsafe mkdtemp(&template) else { throw DemoFailure("cannot make a temporary directory") }
    path = unsafe String(cString: made)
  }

  func file(_ name: String) -> String { "\(path)/\(name)" }

  func remove() {
    try? FileManager.default.removeItem(atPath: path)
  }
}

/// A fresh SoftHSM2 token in the demo's directory.
private struct DemoToken {
  static let label = "openssl-objects-demo"
  let directory: DemoDirectory
  let module: String
  let pinFile: String
  private let pin: String
  private let environment: [String: String]

  init(directory: DemoDirectory, module: String) throws {
    self.directory = directory
    self.module = module
    let tokens = directory.file("tokens")
    try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: true)
    let configuration = directory.file("softhsm2.conf")
    try "directories.tokendir = \(tokens)\nobjectstore.backend = file\nlog.level = ERROR\n"
      .write(toFile: configuration, atomically: true, encoding: .utf8)
    unsafe setenv("SOFTHSM2_CONF", configuration, 1)
    environment = ["SOFTHSM2_CONF": configuration]
    // A random PIN for this run only, kept in a file only we can read (pin-source).
    pin = String((0..<12).map { _ in "0123456789".randomElement()! })
    pinFile = directory.file("pin")
    guard
      FileManager.default.createFile(atPath: pinFile, contents: Data(pin.utf8), attributes: [.posixPermissions: 0o600])
    else { throw DemoFailure("cannot write the PIN file") }
    // softhsm2-util takes PINs only as arguments: acceptable for a token that lives for one run.
    try run("softhsm2-util", ["--init-token", "--free", "--label", Self.label, "--so-pin", pin + "so", "--pin", pin])
  }

  /// Imports a key through a PKCS#8 file that exists only for the import.
  func importKey(_ key: PrivateKey, label: String, id: String) throws {
    let path = directory.file("\(label).p8")
    let pem = try key.pemEncoded()
    let written = unsafe pem.withUnsafeBytes { bytes in
      unsafe FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
    }
    guard written else { throw DemoFailure("cannot write the key for the import") }
    defer {
      if let handle = FileHandle(forWritingAtPath: path) {
        handle.write(Data(count: pem.count))
        try? handle.close()
      }
      try? FileManager.default.removeItem(atPath: path)
    }
    try run("softhsm2-util", ["--import", path, "--token", Self.label, "--label", label, "--id", id, "--pin", pin])
  }

  /// Runs `tool` (looked up on PATH) to its end with `posix_spawnp`, standard output discarded and
  /// standard error kept in a file of the demo's directory for the failure message. Foundation's
  /// `Process` is not used: its termination monitoring leaves objects behind that LeakSanitizer
  /// reports.
  private func run(_ tool: String, _ arguments: [String]) throws {
    let errorsFile = directory.file("\(tool).stderr")
    var actions = unsafe posix_spawn_file_actions_t()
    unsafe posix_spawn_file_actions_init(&actions)
    defer { unsafe posix_spawn_file_actions_destroy(&actions) }
    unsafe posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    unsafe posix_spawn_file_actions_addopen(&actions, 2, errorsFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let argv = unsafe ([tool] + arguments).map { unsafe strdup($0) } + [nil]
    let envp = unsafe merged.map { unsafe strdup("\($0.key)=\($0.value)") } + [nil]
    defer { unsafe (argv + envp).forEach { unsafe free($0) } }
    var pid = pid_t()
    let spawned = unsafe posix_spawnp(&pid, tool, &actions, nil, argv, envp)
    guard spawned == 0 else {
      throw DemoFailure(
        unsafe "cannot run \(tool): \(String(cString: strerror(spawned))) (scripts/setup.sh installs softhsm2)")
    }
    var status: Int32 = 0
    while unsafe waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    defer { try? FileManager.default.removeItem(atPath: errorsFile) }
    guard status == 0 else {
      let text = (try? String(contentsOfFile: errorsFile, encoding: .utf8)) ?? ""
      throw DemoFailure("\(tool) failed (is softhsm2 installed? scripts/setup.sh installs it): \(text)")
    }
  }
}

/// An OCSP responder of ours: the library's response builder behind a small HTTP listener on
/// 127.0.0.1 (POST, and GET with the request in the path).
private final class OCSPResponder: @unchecked Sendable {
  let url: String
  private let listener: Int32
  private let lock = NSLock()
  private var issuer: X509Certificate?
  private var key: PrivateKey?
  private var statuses: [SerialNumber: OCSPCertificateStatus] = [:]
  private var certificates: [X509Certificate] = []
  // Guarded by `lock`. The thread itself is not kept: it captures the responder, and holding it
  // here would make a cycle that keeps the responder, its key and certificates alive.
  private var serving = false
  private let finished = DispatchSemaphore(value: 0)

  init() throws {
    let (descriptor, port) = try Socket.listen(host: "127.0.0.1", port: 0)
    listener = descriptor
    url = "http://127.0.0.1:\(port)/"
  }

  func serve(
    issuer: X509Certificate, key: PrivateKey, statuses: [SerialNumber: OCSPCertificateStatus],
    certificates: [X509Certificate]
  ) {
    lock.withLock {
      self.issuer = issuer
      self.key = key
      self.statuses = statuses
      self.certificates = certificates
      self.serving = true
    }
    Thread { [self] in
      defer { finished.signal() }
      while true {
        let client = accept(listener, nil, nil)
        if client < 0 {
          if errno == EINTR { continue }
          return
        }
        answer(client)
        close(client)
      }
    }.start()
  }

  private func answer(_ client: Int32) {
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    unsafe setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    guard let (head, body) = Self.readRequest(client) else { return }
    var der = body
    if head.hasPrefix("GET "), let path = head.split(separator: " ").dropFirst().first {
      let encoded = String(path.dropFirst()).removingPercentEncoding ?? ""
      der = Data(base64Encoded: encoded).map(Array.init) ?? []
    }
    let response: [UInt8]
    do {
      response = try respond(to: der)
    } catch {
      response = (try? OCSPResponseBuilder.errorResponse(.malformedRequest).derEncoded) ?? []
    }
    let header =
      "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: \(response.count)\r\n\r\n"
    _ = unsafe Array(header.utf8).withUnsafeBytes { unsafe send(client, $0.baseAddress, $0.count, 0) }
    _ = unsafe response.withUnsafeBytes { unsafe send(client, $0.baseAddress, $0.count, 0) }
  }

  /// Builds and signs the response (`OCSP_basic_sign`): good, revoked or unknown per certificate.
  private func respond(to der: [UInt8]) throws -> [UInt8] {
    let request = try OCSPRequest(derEncoded: der)
    let (issuer, key, statuses, certificates) = lock.withLock {
      (self.issuer!, self.key!, self.statuses, self.certificates)
    }
    var builder = OCSPResponseBuilder()
    for id in request.ids {
      let known = try certificates.first { try OCSPCertID(certificate: $0, issuer: issuer).matches(id) }
      let status = known.flatMap { statuses[$0.serialNumber] } ?? .unknown
      builder.add(id, status: status, nextUpdate: Date(timeIntervalSinceNow: 3_600))
    }
    builder.echoNonce(of: request)
    return try builder.sign(with: key, signer: issuer).derEncoded
  }

  private static func readRequest(_ client: Int32) -> (String, [UInt8])? {
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
        let length =
          head.split(separator: "\r\n").compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
          }.first ?? 0
        var body = Array(data[end.upperBound...])
        while body.count < length {
          let got = unsafe recv(client, &buffer, buffer.count, 0)
          if got <= 0 { return nil }
          body += buffer[0..<got]
        }
        return (head, Array(body.prefix(length)))
      }
      let got = unsafe recv(client, &buffer, buffer.count, 0)
      if got <= 0 { return nil }
      data += buffer[0..<got]
    }
  }

  func stop() {
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    if lock.withLock({ serving }) { _ = finished.wait(timeout: .now() + 5) }
  }
}

/// A TLS server on 127.0.0.1 that serves each connection on a background thread.
private final class DemoTLSServer: @unchecked Sendable {
  let port: Int
  private let listener: Int32
  private let finished = DispatchSemaphore(value: 0)

  init(context: SSLContext) throws {
    let (descriptor, port) = try Socket.listen(host: "127.0.0.1", port: 0)
    listener = descriptor
    self.port = port
    let semaphore = finished
    Thread {
      defer { semaphore.signal() }
      while true {
        let client = accept(descriptor, nil, nil)
        if client < 0 {
          if errno == EINTR { continue }
          return
        }
        if let connection = try? context.makeConnection(transport: .socket(client, timeout: .seconds(10))),
          (try? connection.handshake()) != nil
        {
          _ = try? connection.write(Array("hello from the demo server\n".utf8))
          _ = try? connection.shutdown()
        }
        close(client)
      }
    }.start()
  }

  /// Connects a client context to the server, runs the handshake, reads the greeting.
  static func connect(_ context: SSLContext, port: Int) throws -> SSLConnection {
    let descriptor = try Socket.connect(host: "127.0.0.1", port: port)
    defer { close(descriptor) }
    let connection = try context.makeConnection(
      serverName: "localhost", port: port, transport: .socket(descriptor, timeout: .seconds(10)))
    try connection.handshake()
    _ = try connection.read()
    _ = try? connection.shutdown()
    return connection
  }

  func stop() {
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    _ = finished.wait(timeout: .now() + 5)
  }
}
