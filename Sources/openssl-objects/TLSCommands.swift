import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects connect HOST:PORT ...` (CLI.md): one TLS client connection.
struct Connect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "One TLS client connection: what was negotiated, the chains, and why verification failed.")

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

  @Option(name: .customLong("pin"), help: "SPKI pins (sha256/BASE64); one must match the verified chain.")
  var pins: [String] = []

  @Option(help: "A client certificate (PEM; further certificates in the file are its chain).")
  var cert: String?

  @Option(help: "The client certificate's key: a file, or a pkcs11: URI.")
  var key: String?

  @OptionGroup var pin: PINOptions

  @Flag(name: .customLong("allow-pin-value"), help: "Accept a pkcs11: URI with pin-value.")
  var allowPinValue = false

  @Option(name: .customLong("min-version"), help: "1.2 or 1.3.")
  var minVersion: String?

  @Option(help: "Text to send after the handshake; the answer is read until the server closes.")
  var send: String?

  @Option(help: "Seconds to wait for the server at each step before giving up (default 30).")
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
    do {
      if !trusted.isEmpty {
        let store = X509Store()
        trustStore = store
        for path in trusted {
          for anchor in try X509Certificate.all(contentsOfFile: path) { try store.add(anchor) }
        }
        if systemTrust { try store.loadSystemTrust() }
        configuration.trust = .store(store)
      }
      if noVerify {
        configuration.peerVerification = .none
        configuration.hostNameRequirement = .insecureNone
      }
      configuration.alpnProtocols = alpn
      if !pins.isEmpty { configuration.verification.pins = try PinSet(pins) }
      configuration.verification.profile = try profile.load()
      if minVersion == "1.3" { configuration.minimumVersion = .tls13 }
      if let cert, let key {
        let privateKey = try KeySource.privateKey(key, pinPath: pin.path, allowPinValue: allowPinValue)
        let certificates = try X509Certificate.all(contentsOfFile: cert)
        configuration.certificateChains = [
          CertificateChain(certificate: certificates[0], chain: Array(certificates.dropFirst()), privateKey: privateKey)
        ]
      }
    } catch let failure as CommandFailure {
      throw failure
    } catch {
      throw CommandFailure.input(error, json: json)
    }

    let descriptor: Int32
    let connection: SSLConnection
    do {
      let context = try SSLContext(configuration: configuration)
      descriptor = try Socket.connect(host: endpoint.host, port: endpoint.port)
      connection = try context.makeConnection(
        serverName: noVerify && servername == nil ? nil : name, port: endpoint.port,
        transport: .socket(descriptor, timeout: .seconds(timeout)))
    } catch {
      throw CommandFailure(status: 2, message: "error: \(target): \(error)", json: nil)
    }
    defer { close(descriptor) }

    var failure: (any Error)? = nil
    var received: String? = nil
    do {
      try connection.handshake()
      if let send {
        try connection.write(Array(send.utf8))
        var bytes: [UInt8] = []
        reading: while true {
          switch try connection.read() {
          case .data(let chunk): bytes += chunk
          default: break reading
          }
        }
        received = String(decoding: bytes, as: UTF8.self)
      }
      _ = try? connection.shutdown()
    } catch {
      failure = error
    }
    let verificationError = (failure as? TLSError)?.verification ?? connection.verificationError
    if json {
      Output.line(
        JSON.object([
          ("connected", .bool(failure == nil)),
          ("version", .optional(connection.version?.description)),
          ("cipher", .optional(connection.cipher)),
          ("alpn", .optional(connection.alpnProtocol)),
          ("servername", .optional(connection.serverName)),
          ("peer_chain", Describe.chain(connection.peerChain)),
          ("verified_chain", Describe.chain(connection.verifiedChain)),
          ("verify_error", verificationError.map(Verify.errorJSON) ?? .null),
          ("ocsp_staple", statusRequest || requireStaple ? stapleJSON(connection, store: trustStore) : .null),
          ("received", .optional(received)),
          ("error", failure.map(Output.errorJSON) ?? .null),
        ]).serialized())
    } else {
      if failure == nil {
        Output.line("connected to \(target): \(connection.version?.description ?? "?") \(connection.cipher ?? "?")")
        if let alpn = connection.alpnProtocol { Output.line("ALPN: \(alpn)") }
        for (depth, member) in connection.verifiedChain.enumerated() {
          Output.line("depth=\(depth): \(member.subject.rfc2253)")
        }
        if let verificationError { Output.line("not verified: \(verificationError)") }
        if statusRequest || requireStaple {
          let status = connection.revocationReport?.singleResponse?.status.description
          Output.line("OCSP staple: " + (connection.ocspStapleBytes == nil ? "none" : status ?? "not checked"))
        }
        if let received { Output.line(received) }
      }
    }
    if let failure {
      throw CommandFailure(status: 1, message: "error: \(target): \(failure)", json: nil)
    }
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
  static let configuration = CommandConfiguration(abstract: "A TLS server on this machine.")

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

  @Option(help: "After the handshake, read one request and answer with this text, then close.")
  var reply: String?

  @OptionGroup var pin: PINOptions

  @Flag(name: .customLong("allow-pin-value"), help: "Accept a pkcs11: URI with pin-value.")
  var allowPinValue = false

  func validate() throws {
    if requireClientCert && clientCA == nil { throw ValidationError("--require-client-cert needs --client-ca") }
  }

  func run() throws {
    var configuration: TLSConfiguration
    do {
      let privateKey = try KeySource.privateKey(key, pinPath: pin.path, allowPinValue: allowPinValue)
      let certificates = try X509Certificate.all(contentsOfFile: cert)
      let extra = try chain.map { try X509Certificate.all(contentsOfFile: $0) } ?? []
      configuration = .server([
        CertificateChain(
          certificate: certificates[0], chain: Array(certificates.dropFirst()) + extra, privateKey: privateKey)
      ])
      configuration.alpnProtocols = alpn
      if let ocspStaple {
        configuration.ocspStaple = .response(try OCSPResponse(contentsOfFile: ocspStaple).derEncoded)
      }
      if let clientCA {
        configuration.trust = .certificates(try X509Certificate.all(contentsOfFile: clientCA))
        configuration.peerVerification = requireClientCert ? .requireClientCertificate : .verify
      }
    } catch let failure as CommandFailure {
      throw failure
    } catch {
      throw CommandFailure.input(error, json: false)
    }
    let context: SSLContext
    let listener: (descriptor: Int32, port: Int)
    do {
      context = try SSLContext(configuration: configuration)
      listener = try Socket.listen(host: host, port: port)
    } catch {
      throw CommandFailure(status: 2, message: "error: \(error)", json: nil)
    }
    Output.line("listening on \(host):\(listener.port)")
    while true {
      let client = accept(listener.descriptor, nil, nil)
      guard client >= 0 else { continue }
      var succeeded = false
      do {
        // A client that stalls is dropped after 30 seconds instead of holding the server.
        let connection = try context.makeConnection(transport: .socket(client, timeout: .seconds(30)))
        try connection.handshake()
        succeeded = true
        let peer = connection.peerCertificate.map { ", client \($0.subject.rfc2253)" } ?? ""
        Output.line("handshake: \(connection.version?.description ?? "?") \(connection.cipher ?? "?")\(peer)")
        if let reply {
          _ = try connection.read()
          try connection.write(Array(reply.utf8))
        }
        _ = try? connection.shutdown()
      } catch {
        Output.error("connection failed: \(error)")
      }
      close(client)
      if once {
        close(listener.descriptor)
        throw ExitCode(succeeded ? 0 : 1)
      }
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

/// TCP sockets for the CLI.
enum Socket {
  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// Connects to `host`:`port` (`getaddrinfo`, then each address in turn).
  static func connect(host: String, port: Int) throws -> Int32 {
    var hints = unsafe addrinfo()
    unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var results: UnsafeMutablePointer<addrinfo>? = nil
    let status = unsafe getaddrinfo(host, String(port), &hints, &results)
    guard status == 0, let first = unsafe results else {
      throw Failure(description: unsafe "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
    }
    defer { unsafe freeaddrinfo(results) }
    var address: UnsafeMutablePointer<addrinfo>? = unsafe first
    var lastError: Int32 = 0
    while let current = unsafe address {
      let descriptor = unsafe socket(
        current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
      if descriptor >= 0 {
        if unsafe Glibc.connect(descriptor, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 {
          return descriptor
        }
        lastError = errno
        close(descriptor)
      }
      unsafe address = unsafe current.pointee.ai_next
    }
    throw Failure(description: unsafe "cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
  }

  /// Listens on `host`:`port`; returns the descriptor and the port (for port 0, the one chosen).
  static func listen(host: String, port: Int) throws -> (descriptor: Int32, port: Int) {
    var hints = unsafe addrinfo()
    unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    unsafe hints.ai_flags = AI_PASSIVE
    var results: UnsafeMutablePointer<addrinfo>? = nil
    let status = unsafe getaddrinfo(host, String(port), &hints, &results)
    guard status == 0, let first = unsafe results else {
      throw Failure(description: unsafe "--host \(host): \(String(cString: gai_strerror(status)))")
    }
    defer { unsafe freeaddrinfo(results) }
    let descriptor = unsafe socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
    guard descriptor >= 0 else { throw Failure(description: unsafe "socket: \(String(cString: strerror(errno)))") }
    var reuse: Int32 = 1
    unsafe setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    guard unsafe bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0,
      Glibc.listen(descriptor, 64) == 0
    else {
      let message = unsafe String(cString: strerror(errno))
      close(descriptor)
      throw Failure(description: "cannot listen on \(host):\(port): \(message)")
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
