import COpenSSLFull

/// A TLS protocol version.
public enum TLSVersion: Int32, Sendable, Comparable, CaseIterable, CustomStringConvertible {
  /// TLS 1.0 (`TLS1_VERSION`). Only for tests against old peers.
  case tls10 = 0x0301
  /// TLS 1.1 (`TLS1_1_VERSION`). Only for tests against old peers.
  case tls11 = 0x0302
  /// TLS 1.2 (`TLS1_2_VERSION`).
  case tls12 = 0x0303
  /// TLS 1.3 (`TLS1_3_VERSION`).
  case tls13 = 0x0304

  /// Compares protocol numbers.
  public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool { lhs.rawValue < rhs.rawValue }

  /// OpenSSL's name for the version, for example `"TLSv1.3"`.
  public var description: String {
    switch self {
    case .tls10: "TLSv1"
    case .tls11: "TLSv1.1"
    case .tls12: "TLSv1.2"
    case .tls13: "TLSv1.3"
    }
  }
}

/// A certificate, its chain and its private key, as a TLS endpoint presents them
/// (`SSL_CTX_use_cert_and_key`).
public struct CertificateChain: Sendable {
  /// The end-entity certificate.
  public var certificate: X509Certificate
  /// The intermediates to send after it, in order.
  public var chain: [X509Certificate]
  /// The certificate's private key: any ``PrivateKey``, in memory or on a token.
  public var privateKey: PrivateKey

  /// Makes a chain.
  public init(certificate: X509Certificate, chain: [X509Certificate] = [], privateKey: PrivateKey) {
    self.certificate = certificate
    self.chain = chain
    self.privateKey = privateKey
  }
}

/// What a client-certificate selection closure is told (`SSL_CTX_set_cert_cb`).
public struct CertificateRequest: Sendable {
  /// The certificate authorities the server names (`SSL_get_client_CA_list`), as RFC 2253 strings.
  public let acceptableIssuers: [String]
  /// The server name of the connection, if any.
  public let serverName: String?
}

/// Where a context's trust anchors come from.
public enum TrustAnchors: Sendable {
  /// The operating system's trust store. A context made from a configuration
  /// (``SSLContext/init(configuration:)``) takes the one loaded once per process and shared
  /// (``X509Store/system``); ``SSLContext/installVerification(_:)``, for a context C code made and
  /// keeps changing, and the C API's contexts load a store of their own from the same default
  /// paths, so that a C library adding its CAs to the context's store (libcurl's `CURLOPT_CAINFO`)
  /// adds them to that context only.
  case system
  /// A store of yours; it is frozen when the context takes it. Frozen applies to Swift: C code that
  /// holds the context can still add to its store with OpenSSL's own calls, so give a context that
  /// C code configures further a store no other context uses.
  case store(X509Store)
  /// These certificates only.
  case certificates([X509Certificate])
}

/// Whether and how the peer's certificate is verified (`SSL_CTX_set_verify` modes).
public enum PeerVerification: Sendable, Hashable {
  /// Verify the peer (`SSL_VERIFY_PEER`). On a server: request a client certificate, and verify
  /// it if one is sent.
  case verify
  /// Server only: require a client certificate and verify it
  /// (`SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT`).
  case requireClientCertificate
  /// Do not verify (`SSL_VERIFY_NONE`). The peer's certificate and chain stay readable. A pin, a
  /// verify callback, a chain policy (synchronous or asynchronous) turns verification back on,
  /// since OpenSSL ignores their verdicts under `SSL_VERIFY_NONE`; so does a client connection's
  /// server name while the host name is required (the default
  /// ``TLSConfiguration/HostNameRequirement/required``). With
  /// ``TLSConfiguration/HostNameRequirement/insecureNone`` as well, a server name is only sent as
  /// SNI and nothing is verified.
  case none
}

/// One complete description of a TLS context: role, versions, ciphers, groups, certificates,
/// trust, peer verification, callbacks, pins, ALPN, SNI, sessions and key logging. A `Sendable`
/// value: the one way to configure an ``SSLContext``.
///
/// The defaults protect people: a client verifies the peer against the operating system's trust
/// store and requires a host name; TLS 1.2 is the floor; security level 2; no compression; no
/// renegotiation; a server follows Mozilla's intermediate profile. The opt-outs are named so that
/// they stand out in the code that uses them (``TLSConfiguration/HostNameRequirement/insecureNone``,
/// ``PeerVerification/none``).
public struct TLSConfiguration: Sendable {
  /// Which side of the connection.
  public enum Role: Sendable, Hashable {
    /// A client.
    case client
    /// A server.
    case server
  }

  /// Whether a client connection must name the server it verifies.
  public enum HostNameRequirement: Sendable, Hashable {
    /// Every connection names the server (a DNS name or an IP address), and the certificate is
    /// checked for it by OpenSSL (`SSL_set1_host`, `X509_VERIFY_PARAM_set1_ip_asc`). This holds
    /// for `SSL`s that C code makes from the context too: a handshake whose `SSL` has no host or
    /// IP address set for the check (`SSL_set1_host`, `X509_VERIFY_PARAM_set1_host`,
    /// `X509_VERIFY_PARAM_set1_ip`; SNI alone does not count) fails with a ``VerificationError``
    /// that says so.
    case required
    /// Connections may omit the name, because the code that makes them checks the peer's name
    /// itself once the handshake is done: libcurl does (`CURLOPT_SSL_VERIFYHOST`) on the
    /// `SSL_CTX` it hands to `CURLOPT_SSL_CTX_FUNCTION`, and never sets a host on the `SSL`. A
    /// name given is still checked. Use it only when that code really checks: otherwise it is
    /// ``insecureNone``.
    case checkedByCaller
    /// Connections may omit the name; then no name is checked. Insecure: any certificate from a
    /// trusted CA passes.
    case insecureNone
  }

  /// The session and resumption settings.
  public struct Sessions: Sendable, Hashable {
    /// Whether to resume sessions (client: cache sessions per host, port and policy; server:
    /// keep a session cache and issue tickets).
    public var resumption = true
    /// Server: how many TLS 1.3 tickets to issue per handshake (`SSL_CTX_set_num_tickets`).
    public var ticketCount = 2
    /// Server: whether to issue tickets at all (without them, the server's session cache serves
    /// TLS 1.2 session IDs and TLS 1.3 stateful tickets).
    public var statelessTickets = true
    /// Server: the session cache's size (`SSL_CTX_sess_set_cache_size`).
    public var cacheSize = 1024

    /// The defaults.
    public init() {}
  }

  /// The role.
  public var role: Role
  /// The lowest protocol version (`SSL_CTX_set_min_proto_version`); TLS 1.2 by default.
  public var minimumVersion: TLSVersion = .tls12
  /// The highest protocol version (`SSL_CTX_set_max_proto_version`), or the highest OpenSSL knows.
  public var maximumVersion: TLSVersion?
  /// TLS 1.2 cipher list (`SSL_CTX_set_cipher_list`); Mozilla's intermediate list by default.
  public var cipherList = TLSConfiguration.intermediateCiphers
  /// TLS 1.3 cipher suites (`SSL_CTX_set_ciphersuites`).
  public var cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
  /// Key exchange groups (`SSL_CTX_set1_groups_list`).
  public var groups = ["X25519", "P-256", "P-384"]
  /// Signature algorithms (`SSL_CTX_set1_sigalgs_list`), or OpenSSL's defaults.
  public var signatureAlgorithms: String?
  /// The security level (`SSL_CTX_set_security_level`): 2 by default (112-bit keys, no SHA-1).
  public var securityLevel = 2
  /// The certificates this side presents; RSA and ECDSA chains can stand side by side.
  public var certificateChains: [CertificateChain] = []
  /// A client's choice of certificate at handshake time, when the server asks for one
  /// (`SSL_CTX_set_cert_cb`); `nil` presents the first of ``certificateChains``.
  public var clientCertificateSelector: (@Sendable (CertificateRequest) throws -> CertificateChain?)?
  /// The trust anchors; the operating system's store by default.
  public var trust: TrustAnchors = .system
  /// Whether the peer is verified: by default a client verifies, a server does not ask.
  public var peerVerification: PeerVerification
  /// A client's host name requirement.
  public var hostNameRequirement = HostNameRequirement.required
  /// How verification goes: flags, purpose, depth, callbacks, pins, chain policy. The host name
  /// comes from each connection: a policy with a ``VerificationPolicy/host``,
  /// ``VerificationPolicy/ipAddress`` or ``VerificationPolicy/email`` is a ``UsageError`` for
  /// `SSLContext(configuration:)` and ``SSLContext/installVerification(_:)`` (it was dropped
  /// silently before).
  public var verification = VerificationPolicy()
  /// A client's asynchronous chain policy (an OCSP fetch, a pin lookup): after OpenSSL's
  /// verification, the pins and the chain policy succeed, the handshake pauses
  /// (`SSL_set_retry_verify`; ``SSLConnection/Progress/wantRetryVerify``) until the policy has
  /// answered, so no thread blocks inside a callback.
  public var asynchronousChainPolicy: (@Sendable ([X509Certificate]) async throws -> ChainDecision)?
  /// ALPN protocols in order of preference (`SSL_CTX_set_alpn_protos` on a client,
  /// `SSL_CTX_set_alpn_select_cb` on a server).
  public var alpnProtocols: [String] = []
  /// Server: pick a context by the requested server name (SNI). The chosen context's
  /// certificates and its whole verification policy apply; nothing of this context's
  /// verification settings leaks into it. Protocol versions, cipher lists and options stay this
  /// context's: OpenSSL copies them into each connection when it is made (`SSL_new`), before the
  /// name is known, and `SSL_set_SSL_CTX` does not change them.
  public var serverNameHandler: (@Sendable (String?) throws -> SSLContext?)?
  /// Sessions and resumption.
  public var sessions = Sessions()
  /// Server: the OCSP response to staple for clients that ask (`status_request`): fixed bytes,
  /// or a closure asked per connection.
  public var ocspStaple: OCSPStaple?
  /// Client: how the server certificate's revocation is checked. By default staples are asked
  /// for and checked when they come (signature, signer, status good, freshness), a must-staple
  /// certificate without a valid staple fails, and nothing else is checked (soft-fail). A
  /// session's lifetime is capped at the validity of the response that was checked, since a
  /// resumed session skips the check.
  public var revocation = RevocationPolicy()
  /// Client: a callback that sees the stapled response and the policy's verdict, for other
  /// policies; setting it asks for staples even if the policy does not.
  public var stapleCallback: StapleCallback?
  /// A key log in the NSS key log format (`SSL_CTX_set_keylog_callback`), one line per call,
  /// without the newline: for Wireshark in tests, never in production.
  public var keyLog: (@Sendable (String) -> Void)?
  /// The library context the `SSL_CTX` is made in (`SSL_CTX_new_ex`): its providers do the
  /// handshake's cryptography. Every key of ``certificateChains`` must have been made in the same
  /// context (a mismatch is a ``ProviderError/Code/libraryContextMismatch``). The default context
  /// by default.
  public var libraryContext = LibraryContext.default
  /// The property query the `SSL_CTX` fetches its algorithms with (`SSL_CTX_new_ex`), or `nil`.
  public var properties: PropertyQuery?

  /// A configuration for `role` with the defaults.
  public init(role: Role) {
    self.role = role
    self.peerVerification = role == .client ? .verify : .none
  }

  /// A client that verifies servers against the operating system's trust store.
  public static var client: TLSConfiguration { TLSConfiguration(role: .client) }

  /// A server presenting `chains`.
  public static func server(_ chains: [CertificateChain]) -> TLSConfiguration {
    var configuration = TLSConfiguration(role: .server)
    configuration.certificateChains = chains
    return configuration
  }

  /// Mozilla's intermediate TLS 1.2 cipher list.
  public static let intermediateCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    + "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

  /// Whether anything in the configuration needs the peer verified, whatever the mode says: a
  /// pin, a callback or a chain policy, synchronous or not, means nothing unless verification runs
  /// (under `SSL_VERIFY_NONE` OpenSSL ignores every verdict).
  var needsVerification: Bool {
    verification.pins != nil || verification.verifyCallback != nil || verification.chainPolicy != nil
      || asynchronousChainPolicy != nil
  }
}
