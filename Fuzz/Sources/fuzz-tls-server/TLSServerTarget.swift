// The server side of a TLS handshake fed attacker bytes over the memory transport: a server
// that asks for (and verifies) client certificates, offers ALPN and picks a context by SNI, so
// that the client hello's extensions and a client's certificate messages are all parsed. Rules
// checked beyond "no crash": every failure is a TLSError (or a value), and nothing is left on
// OpenSSL's error queue.
import FuzzSupport
import OpenSSLObjects

/// The server's context, made once.
let serverContext: SSLContext = {
  do {
    var configuration = TLSConfiguration.server([
      CertificateChain(certificate: FuzzPKI.leaf, privateKey: FuzzPKI.leafKey)
    ])
    configuration.peerVerification = .verify
    configuration.trust = .certificates([FuzzPKI.root])
    configuration.alpnProtocols = ["h2", "http/1.1"]
    configuration.minimumVersion = .tls12
    configuration.serverNameHandler = { _ in nil }
    return try SSLContext(configuration: configuration)
  } catch {
    fatalError("the fuzz server context could not be made: \(error)")
  }
}()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  _ = serverContext
  return Fuzz.initialize {
    // What real clients send first: client hellos for TLS 1.3 and 1.2, with SNI, ALPN, and a
    // client certificate on offer.
    var seeds: [String: [UInt8]] = [:]
    for (name, maximum) in [("hello-tls13", TLSVersion.tls13), ("hello-tls12", .tls12)] {
      var configuration = TLSConfiguration.client
      configuration.maximumVersion = maximum
      configuration.trust = .certificates([FuzzPKI.root])
      configuration.alpnProtocols = ["h2"]
      let client = try SSLContext(configuration: configuration).makeConnection(serverName: "localhost")
      _ = try client.handshake()
      seeds[name] = client.takeOutput()
    }
    return seeds
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLSServer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = Fuzz.bytes(data, size)
  let connection: SSLConnection
  do {
    connection = try serverContext.makeConnection()
  } catch {
    fatalError("makeConnection failed: \(error)")
  }
  // The bytes arrive in two flights, split where the first record says it ends, so that a
  // handshake that got past the client hello meets the rest as a second flight.
  let firstLength = bytes.count >= 5 ? min(bytes.count, 5 + (Int(bytes[3]) << 8 | Int(bytes[4]))) : bytes.count
  var failed = false
  for flight in [bytes[..<firstLength], bytes[firstLength...]] where !failed {
    connection.receive(Array(flight))
    do {
      _ = try connection.handshake()
      if case .data = try connection.read() {}
    } catch is TLSError {
      failed = true
    } catch {
      fatalError("a handshake failure that is not a TLSError: \(error)")
    }
    _ = connection.takeOutput()
    Fuzz.requireEmptyErrorQueue("the server handshake")
  }
  if !failed {
    connection.receiveEndOfStream()
    _ = try? connection.handshake()
    _ = try? connection.shutdown()
    _ = connection.takeOutput()
  }
  _ = connection.version
  _ = connection.cipher
  _ = connection.alpnProtocol
  _ = connection.serverName
  _ = connection.peerCertificate
  _ = connection.peerChain
  _ = connection.verificationError
  Fuzz.requireEmptyErrorQueue("the server connection's accessors")
  return 0
}
