import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects connect HOST:PORT ...` (CLI.md): one TLS client connection.
struct Connect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "One TLS client connection: what was negotiated, the chains, and why verification failed.",
    discussion: """
      "connected" is true when the handshake and the verification succeeded, whatever the exchange \
      after it did. With --send, the text is sent after the handshake and the answer is read until the \
      server closes the connection or, once it has answered, is quiet for \(Self.quietSeconds) seconds; \
      it is shown as "received". Exit status 1 when the server is refused or unreachable, the handshake \
      or the verification fails, or the exchange fails.
      """)

  /// How long a server that has answered may stay quiet before the answer counts as complete.
  static let quietSeconds = 2

  @Argument(help: "HOST:PORT")
  var target: String

  @Option(help: "The name to send (SNI) and to check; the host by default.")
  var servername: String?

  @Option(help: "Trusted certificates (instead of the system store, unless --system-trust).")
  var trusted: [String] = []

  @Flag(name: .customLong("system-trust"), help: "Trust the operating system's store (the default without --trusted).")
  var systemTrust = false

  @Flag(name: .customLong("no-verify"), help: "Do not verify the server (insecure; its chain is still shown).")
  var noVerify = false

  @Option(help: "ALPN protocols to offer, in order.")
  var alpn: [String] = []

  @OptionGroup var spkiPins: SPKIPinOptions

  @Option(help: "A client certificate (PEM; further certificates in the file are its chain).")
  var cert: String?

  @Option(help: "The client certificate's key: a file, or a pkcs11: URI.")
  var key: String?

  @OptionGroup var pin: PINOptions

  @Flag(name: .customLong("allow-pin-value"), help: "Accept a pkcs11: URI with pin-value.")
  var allowPinValue = false

  @OptionGroup var passphrase: PassphraseOptions

  @Option(name: .customLong("min-version"), help: "1.2 or 1.3.")
  var minVersion: String?

  @Option(help: "Key exchange groups to offer, in order (X25519MLKEM768 and ML-KEM need OpenSSL 3.5).")
  var groups: [String] = []

  @Option(help: "Text to send after the handshake (see the discussion for how the answer is read).")
  var send: String?

  @Option(help: "Seconds to wait for the server at each step before giving up.")
  var timeout: Int = 30

  @Flag(
    name: .customLong("status-request"),
    help: "Ask for a stapled OCSP response and check it (a must-staple certificate then needs one).")
  var statusRequest = false

  @Flag(name: .customLong("require-staple"), help: "Ask for a stapled OCSP response and fail without a valid one.")
  var requireStaple = false

  @OptionGroup var profile: ProfileOptions

  @Flag(
    name: .customLong("fetch-crls"),
    help: "Fetch the verified chain's CRLs from its distribution points (plain http) and check them; fail without them."
  )
  var fetchCRLs = false

  @OptionGroup var fetch: FetchOptions

  @Flag(help: "Print one JSON object.")
  var json = false

  func validate() throws {
    if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
    if let minVersion, !["1.2", "1.3"].contains(minVersion) {
      throw ValidationError("--min-version must be 1.2 or 1.3")
    }
    guard Endpoint(target) != nil else { throw ValidationError("\(target) is not HOST:PORT") }
    guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds") }
    if pin.pinStdin && passphrase.passphraseStdin {
      throw ValidationError("--pin-stdin and --passphrase-stdin both read standard input; give one of them")
    }
  }

  func run() throws {
    let endpoint = Endpoint(target)!
    let name = servername ?? endpoint.host
    var configuration = TLSConfiguration.client
    // Without the staple options nothing is asked for, as with openssl s_client.
    configuration.revocation = .disabled
    if statusRequest || requireStaple { configuration.revocation.staple = requireStaple ? .require : .use }
    if fetchCRLs {
      configuration.revocation.crlFetch = CRLClient(destinations: fetch.destinations)
      configuration.revocation.whenUnavailable.crl = .hardFail
    }
    var trustStore: X509Store? = nil
    let context: SSLContext
    do {
      if !trusted.isEmpty {
        let store = X509Store()
        trustStore = store
        for path in trusted {
          for anchor in try CertificateFiles.all(path, flag: "--trusted") { try store.add(anchor) }
        }
        if systemTrust { try store.loadSystemTrust() }
        configuration.trust = .store(store)
      }
      if noVerify {
        configuration.peerVerification = .none
        configuration.hostNameRequirement = .insecureNone
      }
      configuration.alpnProtocols = alpn
      if let pins = try spkiPins.pinSet() { configuration.verification.pins = pins }
      configuration.verification.profile = try profile.load()
      if minVersion == "1.3" { configuration.minimumVersion = .tls13 }
      if !groups.isEmpty { configuration.groups = groups }
      if let cert, let key {
        configuration.certificateChains = [
          try CertificateFiles.chain(
            cert: cert, key: key, pin: pin, allowPinValue: allowPinValue, passphrase: passphrase.supplier)
        ]
      }
      context = try SSLContext(configuration: configuration)
    } catch {
      throw CommandFailure.input(error, json: json)
    }

    let descriptor: Int32
    do {
      descriptor = try Socket.connect(host: endpoint.host, port: endpoint.port, timeout: timeout)
    } catch {
      throw CommandFailure.failed(error, subject: target, json: json ? document(nil, failure: error) : nil)
    }
    defer { close(descriptor) }
    let connection: SSLConnection
    do {
      connection = try context.makeConnection(
        serverName: noVerify && servername == nil ? nil : name, port: endpoint.port,
        transport: .socket(descriptor, timeout: .seconds(timeout)))
    } catch {
      throw CommandFailure.input(error, json: json)
    }

    var failure: (any Error)? = nil
    var connected = false
    var received: [UInt8]? = nil
    do {
      try connection.handshake()
      connected = true
      if let send { received = try exchange(send, on: connection, descriptor: descriptor) }
      _ = try? connection.shutdown()
    } catch {
      failure = error
    }
    if json {
      Output.line(
        document(connection, connected: connected, received: received, failure: failure, store: trustStore)
          .serialized())
    } else if connected {
      Output.line(
        "connected to \(Output.escaped(target)): \(connection.version?.description ?? "?") \(connection.cipher ?? "?")")
      if let alpn = connection.alpnProtocol { Output.line("ALPN: \(Output.escaped(alpn))") }
      for (depth, member) in connection.verifiedChain.enumerated() {
        Output.line("depth=\(depth): \(Output.escaped(member.subject.rfc2253))")
      }
      if let verificationError = connection.verificationError {
        Output.line("not verified: \(Output.escaped(String(describing: verificationError)))")
      }
      if statusRequest || requireStaple {
        let status = connection.revocationReport?.singleResponse?.status.description
        Output.line("OCSP staple: " + (connection.ocspStapleBytes == nil ? "none" : status ?? "not checked"))
      }
      if let received { Output.line("received: " + Output.escaped(String(decoding: received, as: UTF8.self))) }
    }
    if let failure {
      let what = connected ? "\(target): the exchange after the handshake failed" : target
      throw CommandFailure(status: 1, message: "error: \(what): \(CLIText.describe(failure))", json: nil)
    }
  }

  /// Sends `text` and reads the answer until the server closes, or is quiet for
  /// ``quietSeconds`` once it has answered.
  private func exchange(_ text: String, on connection: SSLConnection, descriptor: Int32) throws -> [UInt8] {
    try connection.write(Array(text.utf8))
    var bytes: [UInt8] = []
    while true {
      let result: SSLConnection.ReadResult
      do {
        result = try connection.read()
      } catch let error as TLSError where error.isTimeout && !bytes.isEmpty {
        break
      }
      guard case .data(let chunk) = result else { break }
      if bytes.isEmpty { Socket.setReceiveTimeout(descriptor, seconds: min(timeout, Self.quietSeconds)) }
      bytes += chunk
    }
    return bytes
  }

  /// CLI.md's `connect --json` document; `connection` is `nil` when no connection was made.
  private func document(
    _ connection: SSLConnection?, connected: Bool = false, received: [UInt8]? = nil, failure: (any Error)?,
    store: X509Store? = nil
  ) -> JSON {
    let verificationError = (failure as? TLSError)?.verification ?? connection?.verificationError
    return JSON.object([
      ("connected", .bool(connected)),
      ("version", .optional(connection?.version?.description)),
      ("cipher", .optional(connection?.cipher)),
      ("alpn", .optional(connection?.alpnProtocol)),
      ("group", .optional(connection?.group)),
      ("servername", .optional(connection?.serverName)),
      ("peer_chain", Describe.chain(connection?.peerChain ?? [])),
      ("verified_chain", Describe.chain(connection?.verifiedChain ?? [])),
      ("verify_error", verificationError.map(Verify.errorJSON) ?? .null),
      (
        "ocsp_staple",
        (statusRequest || requireStaple) ? connection.map { stapleJSON($0, store: store) } ?? .null : .null
      ),
      ("received", .optional(received.map { String(decoding: $0, as: UTF8.self) })),
      ("error", failure.map(Output.errorJSON) ?? .null),
    ])
  }
}

/// `--spki-pin` (with `--pin`, its former name, as a hidden alias): SPKI pins that some
/// certificate of the verified chain must match.
struct SPKIPinOptions: ParsableArguments {
  @Option(
    name: .customLong("spki-pin"),
    help: "An SPKI pin (sha256/BASE64) that some certificate of the verified chain must have; repeatable.")
  var spkiPins: [String] = []

  @Option(name: .customLong("pin"), help: ArgumentHelp("The former name of --spki-pin.", visibility: .hidden))
  var formerPins: [String] = []

  /// The pins given, or `nil` for none.
  func pinSet() throws -> PinSet? {
    let all = spkiPins + formerPins
    guard !all.isEmpty else { return nil }
    do {
      return try PinSet(all)
    } catch {
      throw CommandFailure(status: 2, message: "error: --spki-pin: \(error)", json: nil)
    }
  }
}

/// Reading the certificates and keys the TLS commands are given, with the flag in every message.
enum CertificateFiles {
  /// Every certificate of a file given with `flag`.
  static func all(_ path: String, flag: String) throws -> [X509Certificate] {
    do {
      return try X509Certificate.all(contentsOfFile: path)
    } catch {
      throw CommandFailure.failed(error, subject: flag)
    }
  }

  /// A certificate chain from `--cert` (its first certificate and the rest as chain, plus
  /// `extra`) and `--key` (a file or a `pkcs11:` URI), checked to belong together.
  static func chain(
    cert: String, key: String, extra: [X509Certificate] = [], pin: PINOptions, allowPinValue: Bool,
    passphrase: (() throws -> Passphrase?)?
  ) throws -> CertificateChain {
    // The key first: a refused pkcs11: URI (pin-value) is reported before anything else.
    let privateKey = try KeySource.privateKey(
      key, pin: pin, allowPinValue: allowPinValue, passphrase: passphrase)
    let certificates = try all(cert, flag: "--cert")
    guard let leaf = certificates.first else {
      throw CommandFailure(status: 2, message: "error: --cert \(cert): the file holds no certificate", json: nil)
    }
    guard (try? leaf.publicKey).map({ privateKey.hasSamePublicKey(as: $0) }) ?? false else {
      throw CommandFailure(
        status: 2,
        message: "error: --key \(key) is not the key of the certificate in --cert \(cert) "
          + "(\(Output.escaped(leaf.subject.rfc2253)))",
        json: nil)
    }
    return CertificateChain(certificate: leaf, chain: Array(certificates.dropFirst()) + extra, privateKey: privateKey)
  }
}

extension Connect {
  /// CLI.md's `ocsp_staple` object: the stapled response's status for the server's certificate,
  /// its times, and whether its signature and signer verify; `null` when nothing was stapled.
  func stapleJSON(_ connection: SSLConnection, store: X509Store?) -> JSON {
    guard let response = connection.ocspStaple else { return .null }
    let chain = connection.verifiedChain.isEmpty ? connection.peerChain : connection.verifiedChain
    var single: OCSPSingleResponse? = nil
    var signatureValid = false
    if let basic = try? response.basicResponse(), let leaf = chain.first {
      let issuer = chain.count > 1 ? chain[1] : leaf
      single = (try? OCSPCertID(certificate: leaf, issuer: issuer)).flatMap { try? basic.singleResponse(for: $0) }
      if let store = store ?? (try? X509Store.system) {
        signatureValid = (try? basic.verifySignature(store: store, untrusted: Array(chain.dropFirst()))) != nil
      }
    }
    return .object([
      ("cert_status", .optional(single?.status.description)),
      ("this_update", .optional(single.map { Output.time($0.thisUpdate) })),
      ("next_update", .optional(single?.nextUpdate.map(Output.time))),
      ("signature_valid", .bool(signatureValid)),
    ])
  }
}

/// `openssl-objects serve --port N ...` (CLI.md): a TLS server.
struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "A TLS server on this machine.",
    discussion: """
      Prints "listening on HOST:PORT" once it accepts connections, and a line per handshake. After the \
      handshake it echoes what the client sends until the client closes, or, with --reply, reads one \
      request, answers with the text and closes. A client that stalls for --timeout seconds at any step \
      is dropped.
      """)

  @Option(help: "The port; 0 picks a free one (printed).")
  var port: Int

  @Option(help: "The address to listen on.")
  var host = "127.0.0.1"

  @Option(help: "The server certificate (PEM; further certificates in the file are its chain).")
  var cert: String

  @Option(help: "The key: a file, or a pkcs11: URI.")
  var key: String

  @Option(help: "More chain certificates to send.")
  var chain: String?

  @Option(help: "ALPN protocols, in the server's order of preference.")
  var alpn: [String] = []

  @Option(name: .customLong("ocsp-staple"), help: "An OCSP response (DER or PEM) to staple for clients that ask.")
  var ocspStaple: String?

  @Option(name: .customLong("client-ca"), help: "Ask for client certificates issued under these anchors.")
  var clientCA: String?

  @Flag(name: .customLong("require-client-cert"), help: "Refuse clients without a certificate.")
  var requireClientCert = false

  @Flag(help: "Exit after one connection (0 if its handshake succeeded).")
  var once = false

  @Option(help: "After the handshake, read one request and answer with this text, then close (instead of echoing).")
  var reply: String?

  @OptionGroup var pin: PINOptions

  @Flag(name: .customLong("allow-pin-value"), help: "Accept a pkcs11: URI with pin-value.")
  var allowPinValue = false

  @OptionGroup var passphrase: PassphraseOptions

  @Option(help: "Seconds a client may stall at any step before it is dropped.")
  var timeout: Int = 30

  func validate() throws {
    if requireClientCert && clientCA == nil { throw ValidationError("--require-client-cert needs --client-ca") }
    guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds") }
    if pin.pinStdin && passphrase.passphraseStdin {
      throw ValidationError("--pin-stdin and --passphrase-stdin both read standard input; give one of them")
    }
  }

  func run() throws {
    var configuration: TLSConfiguration
    let context: SSLContext
    do {
      let extra = try chain.map { try CertificateFiles.all($0, flag: "--chain") } ?? []
      configuration = .server([
        try CertificateFiles.chain(
          cert: cert, key: key, extra: extra, pin: pin, allowPinValue: allowPinValue,
          passphrase: passphrase.supplier)
      ])
      configuration.alpnProtocols = alpn
      if let ocspStaple {
        do {
          configuration.ocspStaple = .response(try OCSPResponse(contentsOfFile: ocspStaple).derEncoded)
        } catch {
          throw CommandFailure.failed(error, subject: "--ocsp-staple")
        }
      }
      if let clientCA {
        configuration.trust = .certificates(try CertificateFiles.all(clientCA, flag: "--client-ca"))
        configuration.peerVerification = requireClientCert ? .requireClientCertificate : .verify
      }
      context = try SSLContext(configuration: configuration)
    } catch {
      throw CommandFailure.input(error, json: false)
    }
    let listener: (descriptor: Int32, port: Int)
    do {
      listener = try Socket.listen(host: host, port: port)
    } catch {
      throw CommandFailure.failed(error)
    }
    for note in KeySource.notes.all { Output.line(note) }
    Output.line("listening on \(host):\(listener.port)")
    while true {
      let client = accept(listener.descriptor, nil, nil)
      guard client >= 0 else { continue }
      var succeeded = false
      do {
        // A client that stalls is dropped after --timeout seconds instead of holding the server.
        let connection = try context.makeConnection(transport: .socket(client, timeout: .seconds(timeout)))
        try connection.handshake()
        succeeded = true
        let peer = connection.peerCertificate.map { ", client \(Output.escaped($0.subject.rfc2253))" } ?? ""
        Output.line("handshake: \(connection.version?.description ?? "?") \(connection.cipher ?? "?")\(peer)")
        if let reply {
          _ = try connection.read()
          try connection.write(Array(reply.utf8))
        } else {
          try echo(connection)
        }
        _ = try? connection.shutdown()
      } catch {
        Output.error("error: connection failed: \(CLIText.describe(error))")
      }
      close(client)
      if once {
        close(listener.descriptor)
        throw ExitCode(succeeded ? 0 : 1)
      }
    }
  }

  /// Echoes what the client sends until it closes.
  private func echo(_ connection: SSLConnection) throws {
    while case .data(let bytes) = try connection.read() {
      try connection.write(bytes)
    }
  }
}

/// HOST:PORT, with IPv6 literals in brackets.
struct Endpoint {
  let host: String
  let port: Int

  init?(_ text: String) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { return nil }
    self.host = host
    self.port = port
  }
}

/// TCP sockets for the CLI. The ones made here are close-on-exec, like the library's own, so a
/// child the CLI starts (the demo's `softhsm2-util`) does not inherit them.
enum Socket {
  /// A socket that could not be made: `status` 1 for a peer refused or unreachable, 2 for an
  /// address that cannot be used.
  struct Failure: Error, CustomStringConvertible {
    let description: String
    var status: Int32 = 1
  }

  /// Sets a socket's receive timeout (`SO_RCVTIMEO`).
  static func setReceiveTimeout(_ descriptor: Int32, seconds: Int) {
    var value = timeval(tv_sec: seconds, tv_usec: 0)
    _ = unsafe setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
  }

  /// Connects to `host`:`port` (`getaddrinfo`, then each address in turn), giving up when no
  /// address has accepted within `timeout` seconds (a server whose SYNs are dropped would
  /// otherwise hold a blocking `connect` for the kernel's own limit, minutes). Returns a
  /// blocking socket.
  static func connect(host: String, port: Int, timeout: Int = 30) throws -> Int32 {
    var hints = unsafe addrinfo()
    unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var results: UnsafeMutablePointer<addrinfo>? = nil
    let status = unsafe getaddrinfo(host, String(port), &hints, &results)
    guard status == 0, let first = unsafe results else {
      throw Failure(description: unsafe "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
    }
    defer { unsafe freeaddrinfo(results) }
    let deadline = ContinuousClock.now + .seconds(max(timeout, 1))
    var address: UnsafeMutablePointer<addrinfo>? = unsafe first
    var lastError: Int32 = 0
    while let current = unsafe address, ContinuousClock.now < deadline {
      unsafe address = unsafe current.pointee.ai_next
      let descriptor = unsafe socket(
        current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
        current.pointee.ai_protocol)
      guard descriptor >= 0 else {
        lastError = errno
        continue
      }
      let error = unsafe connect(descriptor, current.pointee.ai_addr, current.pointee.ai_addrlen, deadline: deadline)
      if error == 0 { return descriptor }
      lastError = error
      close(descriptor)
    }
    if lastError == ETIMEDOUT || ContinuousClock.now >= deadline {
      throw Failure(description: "cannot connect to \(host):\(port): no connection within \(timeout) second(s)")
    }
    throw Failure(description: unsafe "cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
  }

  /// Connects `descriptor` to `address` without blocking past `deadline`; returns 0 or the
  /// `errno` of the failure (`ETIMEDOUT` at the deadline). The socket is left blocking.
  private static func connect(
    _ descriptor: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t,
    deadline: ContinuousClock.Instant
  ) -> Int32 {
    let flags = fcntl(descriptor, F_GETFL)
    _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    defer { _ = fcntl(descriptor, F_SETFL, flags) }
    if unsafe Glibc.connect(descriptor, address, length) == 0 { return 0 }
    guard errno == EINPROGRESS || errno == EINTR else { return errno }
    while true {
      let left = deadline - ContinuousClock.now
      let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
      guard milliseconds > 0 else { return ETIMEDOUT }
      var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
      let ready = unsafe poll(&poller, 1, Int32(clamping: milliseconds))
      if ready < 0 && errno == EINTR { continue }
      guard ready > 0 else { return ready == 0 ? ETIMEDOUT : errno }
      var error: Int32 = 0
      var size = socklen_t(MemoryLayout<Int32>.size)
      _ = unsafe getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &size)
      return error
    }
  }

  /// Listens on `host`:`port`; returns the descriptor and the port (for port 0, the one chosen).
  static func listen(host: String, port: Int) throws -> (descriptor: Int32, port: Int) {
    var hints = unsafe addrinfo()
    unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    unsafe hints.ai_flags = AI_PASSIVE
    var results: UnsafeMutablePointer<addrinfo>? = nil
    let status = unsafe getaddrinfo(host, String(port), &hints, &results)
    guard status == 0, let first = unsafe results else {
      throw Failure(description: unsafe "--host \(host): \(String(cString: gai_strerror(status)))", status: 2)
    }
    defer { unsafe freeaddrinfo(results) }
    let descriptor = unsafe socket(
      first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), first.pointee.ai_protocol)
    guard descriptor >= 0 else {
      throw Failure(description: unsafe "socket: \(String(cString: strerror(errno)))", status: 2)
    }
    var reuse: Int32 = 1
    unsafe setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    guard unsafe bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0,
      Glibc.listen(descriptor, 64) == 0
    else {
      let message = unsafe String(cString: strerror(errno))
      close(descriptor)
      throw Failure(description: "cannot listen on \(host):\(port): \(message)", status: 2)
    }
    var address = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = unsafe withUnsafeMutablePointer(to: &address) {
      unsafe $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe getsockname(descriptor, $0, &length) }
    }
    let chosen = unsafe withUnsafePointer(to: &address) { pointer -> Int in
      unsafe pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
        unsafe Int(UInt16(bigEndian: $0.pointee.sin_port))
      }
    }
    return (descriptor, chosen)
  }
}
