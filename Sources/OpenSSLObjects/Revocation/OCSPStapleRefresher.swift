#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// Keeps a TLS server's OCSP staple fresh: fetches the certificate's response from its responder
/// (through a ``RevocationCache`` when given one, so servers and restarts share it), checks it
/// (signature, signer, the single response, times), and fetches the next one in the background
/// once the current one has lived half of its validity, well before it expires. Handshakes never
/// wait for the network: they get the current response, or none while there is no valid one.
///
/// ```swift
/// let refresher = try OCSPStapleRefresher(certificate: leaf, issuer: intermediate, store: store,
///                                         client: OCSPClient(), cache: cache)
/// try refresher.refresh()                         // the first response, before serving
/// server.ocspStaple = refresher.staple            // .provider: the current response per handshake
/// ```
///
/// A response that is revoked or unknown is still stapled (the client must learn it); one that
/// fails a check is never stapled.
public final class OCSPStapleRefresher: @unchecked Sendable {
  /// The certificate whose status is stapled.
  public let certificate: X509Certificate
  /// Its issuer.
  public let issuer: X509Certificate
  private let id: OCSPCertID
  private let store: X509Store
  private let client: OCSPClient
  private let cache: RevocationCache?
  private let url: String?
  private let validation: OCSPValidationOptions
  private let now: @Sendable () -> Date

  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var current: (bytes: [UInt8], thisUpdate: Date, validUntil: Date?)?
  private var refreshing = false
  private var lastFailure: (any Error)?

  /// Makes a refresher; nothing is fetched until ``refresh()`` or the first handshake.
  ///
  /// - Parameters:
  ///   - certificate: the server's certificate.
  ///   - issuer: its issuer, the responder's CA.
  ///   - store: the trust store the responder's signer must chain to.
  ///   - client: how the responder is asked (its ``OCSPClient/destinations`` apply).
  ///   - cache: where responses are shared and kept, if anywhere.
  ///   - url: the responder, instead of the certificate's.
  ///   - validation: how times are judged (its `time` is ignored: `now` is used).
  ///   - now: the clock.
  /// - Throws: ``InputError`` if OpenSSL cannot make the certificate's OCSP ID.
  public init(
    certificate: X509Certificate, issuer: X509Certificate, store: X509Store, client: OCSPClient,
    cache: RevocationCache? = nil, url: String? = nil, validation: OCSPValidationOptions = OCSPValidationOptions(),
    now: @escaping @Sendable () -> Date = { Date() }
  ) throws(InputError) {
    self.certificate = certificate
    self.issuer = issuer
    self.store = store
    self.client = client
    self.cache = cache
    self.url = url
    self.validation = validation
    self.now = now
    id = try OCSPCertID(certificate: certificate, issuer: issuer)
  }

  /// The staple for ``TLSConfiguration/ocspStaple``: the current response for handshakes that
  /// present ``certificate``, nothing for other certificates.
  public var staple: OCSPStaple {
    .provider { [self] presented in
      guard let presented, presented == certificate else { return nil }
      return currentBytes()
    }
  }

  /// The DER bytes stapled now, if there is a valid response.
  public var currentResponse: [UInt8]? { lock.withLock { current?.bytes } }

  /// The last refresh's error, if the last refresh failed.
  public var lastError: (any Error)? { lock.withLock { lastFailure } }

  /// Fetches a response now, unless the current one (or the cache's) is still before its
  /// refresh point, checks it and makes it current.
  ///
  /// - Throws: ``OCSPClientError`` or ``OCSPError`` when no valid response could be had; the
  ///   current response, if still valid, stays.
  public func refresh() throws {
    let time = now()
    var options = validation
    options.time = time
    let id = self.id
    let store = self.store
    let untrusted = [issuer]
    let client = self.client
    let target = try url ?? OCSPClient.responderURL(for: certificate)
    // Valid; and a response that was not just fetched must not be due for a refresh yet, else
    // the cache drops it and the responder is asked.
    var fetchedNow = false
    let valid = { (response: OCSPResponse, fetched: Bool) throws -> (OCSPSingleResponse, Date?) in
      let basic = try response.basicResponse()
      try basic.verifySignature(store: store, untrusted: untrusted)
      let single = try basic.singleResponse(for: id)
      try single.checkTime(options)
      let validUntil = single.validUntil(options)
      if !fetched, let due = Self.refreshPoint(thisUpdate: single.thisUpdate, validUntil: validUntil), time >= due {
        throw OCSPError(
          .stale, explanation: "The response is due for a refresh (half of its validity has passed).",
          thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate, time: time)
      }
      return (single, validUntil)
    }
    let fetch = { () throws -> OCSPResponse in
      fetchedNow = true
      return try client.send(try OCSPRequest(ids: [id]), to: target)
    }
    do {
      let response =
        try cache?.ocspResponse(for: id, validate: { try valid($0, fetchedNow).1 }, fetch: fetch) ?? fetch()
      let (single, validUntil) = try valid(response, true)
      lock.withLock {
        current = (response.derEncoded, single.thisUpdate, validUntil)
        lastFailure = nil
      }
    } catch {
      lock.withLock { lastFailure = error }
      throw error
    }
  }

  /// Halfway through a response's validity, when it is bounded.
  static func refreshPoint(thisUpdate: Date, validUntil: Date?) -> Date? {
    validUntil.map { thisUpdate.addingTimeInterval($0.timeIntervalSince(thisUpdate) / 2) }
  }

  /// The current bytes, if still valid; starts a background refresh once the refresh point has
  /// passed (one at a time).
  private func currentBytes() -> [UInt8]? {
    let time = now()
    let (bytes, due) = lock.withLock { () -> ([UInt8]?, Bool) in
      guard let current else {
        return (nil, startRefresh())
      }
      let expired = current.validUntil.map { time.timeIntervalSince($0) > validation.clockSkew } ?? false
      let point = Self.refreshPoint(thisUpdate: current.thisUpdate, validUntil: current.validUntil)
      let due = point.map { time >= $0 } ?? false
      return (expired ? nil : current.bytes, due && startRefresh())
    }
    if due {
      Task.detached(priority: .utility) { [self] in
        try? refresh()
        lock.withLock { refreshing = false }
      }
    }
    return bytes
  }

  /// Marks a refresh as running, unless one is; `lock` is held.
  private func startRefresh() -> Bool {
    guard !refreshing else { return false }
    refreshing = true
    return true
  }

  /// Whether a background refresh is running.
  public var isRefreshing: Bool { lock.withLock { refreshing } }
}
