import CCurl
import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// What curl's SSL_CTX callback installs, passed through its user pointer.
private final class CurlSetup: @unchecked Sendable {
  let configuration: TLSConfiguration
  var installError: (any Error)?
  var body: [UInt8] = []

  init(configuration: TLSConfiguration) {
    self.configuration = configuration
  }
}

/// `CURLOPT_SSL_CTX_FUNCTION`: curl hands over the SSL_CTX it made and owns; our verification
/// goes onto it (our store with set1; curl's own store is not touched).
private let installOnCurlContext: oo_curl_ssl_ctx_callback = { _, context, user in
  guard let context, let user else { return CURLE_ABORTED_BY_CALLBACK }
  let setup = Unmanaged<CurlSetup>.fromOpaque(user).takeUnretainedValue()
  do {
    let wrapped = try SSLContext(retaining: OpenSSLPointer(OpaquePointer(context)))
    try wrapped.installVerification(setup.configuration)
    return CURLE_OK
  } catch {
    setup.installError = error
    return CURLE_ABORTED_BY_CALLBACK
  }
}

private let collectBody: oo_curl_write_callback = { data, size, count, user in
  guard let data, let user else { return 0 }
  let setup = Unmanaged<CurlSetup>.fromOpaque(user).takeUnretainedValue()
  setup.body += UnsafeRawBufferPointer(start: data, count: size * count)
  return size * count
}

extension TLSConfiguration {
  /// A client configuration for the SSL_CTX curl makes: curl checks the host name itself
  /// (CURLOPT_SSL_VERIFYHOST) after the handshake and never sets one on its SSL.
  fileprivate static var curl: TLSConfiguration {
    var configuration = TLSConfiguration.client
    configuration.hostNameRequirement = .checkedByCaller
    return configuration
  }
}

@Suite("libcurl with an SSL_CTX configured from Swift")
struct CurlInteropTests {
  fileprivate func fetch(
    port: Int, configuration: TLSConfiguration, curlCAFile: String? = nil
  ) -> (code: CURLcode, setup: CurlSetup) {
    let setup = CurlSetup(configuration: configuration)
    // libcurl leaves OpenSSL errors on this thread's queue (its SSL_shutdown after a failed
    // handshake raises SSL_R_SHUTDOWN_WHILE_IN_INIT): pop them after cleanup, so that the tests
    // that run next on this pooled thread start with an empty queue.
    ERR_set_mark()
    defer { _ = ERR_pop_to_mark() }
    let curl = curl_easy_init()!
    defer { curl_easy_cleanup(curl) }
    let user = Unmanaged.passUnretained(setup).toOpaque()
    _ = oo_curl_set_url(curl, "https://www.example.test:\(port)/")
    _ = oo_curl_set_no_proxy(curl)
    _ = oo_curl_set_no_default_trust(curl)
    if let curlCAFile { _ = oo_curl_set_cainfo(curl, curlCAFile) }
    _ = oo_curl_set_timeout(curl, 10)
    _ = oo_curl_set_ssl_ctx_function(curl, installOnCurlContext)
    _ = oo_curl_set_ssl_ctx_data(curl, user)
    _ = oo_curl_set_write_function(curl, collectBody)
    _ = oo_curl_set_write_data(curl, user)
    // curl resolves www.example.test to our loopback server.
    let resolve = curl_slist_append(nil, "www.example.test:\(port):127.0.0.1")
    defer { curl_slist_free_all(resolve) }
    _ = oo_curl_set_resolve(curl, resolve)
    let code = withExtendedLifetime(setup) { curl_easy_perform(curl) }
    return (code, setup)
  }

  private func server(_ fixture: TLSFixture, connections: Int) throws -> LoopbackTLSServer {
    try LoopbackTLSServer(context: try fixture.server(), connections: connections) { connection in
      _ = try connection.read()
      try connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".utf8))
      return "served"
    }
  }

  @Test func curlFetchesWithOurPinAndCallback() throws {
    let fixture = try TLSFixture()
    let server = try server(fixture, connections: 1)
    let depths = Recorder<Int>()
    var configuration = TLSConfiguration.curl
    configuration.trust = .certificates([fixture.pki.root])
    configuration.verification.pins = try PinSet([fixture.pki.intermediate.spkiPin])
    configuration.verification.verifyCallback = { view in
      if view.ok { depths.append(view.depth) }
      return .keep
    }
    let (code, setup) = fetch(port: server.port, configuration: configuration)
    #expect(code == CURLE_OK, "\(String(cString: curl_easy_strerror(code))) \(String(describing: setup.installError))")
    #expect(setup.body == Array("hello".utf8))
    #expect(depths.all == [2, 1, 0])
  }

  @Test func aPinMismatchFailsTheTransfer() throws {
    let fixture = try TLSFixture()
    let server = try server(fixture, connections: 1)
    var configuration = TLSConfiguration.curl
    configuration.trust = .certificates([fixture.pki.root])
    configuration.verification.pins = try PinSet([try TestPKI().root.spkiPin])
    let (code, setup) = fetch(port: server.port, configuration: configuration)
    #expect(code != CURLE_OK)
    #expect(setup.body.isEmpty)
  }
}

extension CurlInteropTests {
  /// `.checkedByCaller` is safe with curl only because curl checks the name itself: a certificate
  /// for another host fails the transfer although our verification accepts the chain.
  @Test func curlChecksTheHostNameItself() throws {
    let fixture = try TLSFixture { $0.subjectAlternativeNames = [.dnsName("other.example.test")] }
    let server = try LoopbackTLSServer(context: try fixture.server(), connections: 1) { _ in "served" }
    var configuration = TLSConfiguration.curl
    configuration.trust = .certificates([fixture.pki.root])
    let (code, setup) = fetch(port: server.port, configuration: configuration)
    #expect(code == CURLE_PEER_FAILED_VERIFICATION, "\(String(cString: curl_easy_strerror(code)))")
    #expect(setup.installError == nil)
    #expect(setup.body.isEmpty)
  }
}

extension CurlInteropTests {
  /// curl loads its CA bundle (`CURLOPT_CAINFO`) into the store of the context after
  /// `CURLOPT_SSL_CTX_FUNCTION` ran, so into the store our verification put there. With the
  /// system trust, that must not be the store every context of the process shares: broken, curl's
  /// CA would be trusted by every other client afterwards.
  @Test func curlNeverChangesTheSharedSystemStore() throws {
    let fixture = try TLSFixture()
    let server = try server(fixture, connections: 1)
    let directory = try TemporaryDirectory()
    let curlCA = try directory.write("curl-ca.pem", fixture.pki.root.pemEncoded)
    let before = try X509Store.system.certificates.count
    let (code, setup) = fetch(port: server.port, configuration: .curl, curlCAFile: curlCA)
    #expect(setup.installError == nil)
    // curl's CA reached the context's own store (curl trusts what it was told to), not the shared one.
    #expect(code == CURLE_OK, "\(String(cString: curl_easy_strerror(code)))")
    #expect(try X509Store.system.certificates.count == before)
    #expect(try !X509Store.system.certificates.contains(fixture.pki.root))
  }
}
