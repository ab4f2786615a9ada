/// Downloads certificate revocation lists from a certificate's CRL distribution points over HTTP,
/// with the limits of ``OCSPClient``: plain `http` only (CRLs are signed), no redirects, one time
/// limit for the whole exchange, the ``DestinationPolicy`` (public addresses only by default,
/// checked on every address the name resolves to, before connecting; a proxy the caller
/// configured is exempt), and a size limit of its own, fit for CRLs (``maximumSize``, 10 MiB by
/// default), enforced while reading.
///
/// A download is PEM or DER, detected from the content, and comes back unverified: the
/// revocation check (``RevocationChecker``) verifies its issuer, signature and times before
/// using it. Each call blocks the calling thread for at most ``timeout``.
public struct CRLClient: Sendable {
  /// The limit for the whole exchange, in whole seconds (at least 1); 10 by default.
  public var timeout = 10
  /// The largest CRL accepted, in bytes: 10 MiB by default. A larger answer fails with
  /// ``OCSPClientError/Reason/responseTooLarge`` as soon as the limit is crossed.
  public var maximumSize = 10 * 1024 * 1024
  /// Whether a proxy is used (``OCSPClient/Proxy``).
  public var proxy = OCSPClient.Proxy.direct
  /// Which addresses may be connected to: public ones only by default.
  public var destinations = DestinationPolicy.publicOnly

  /// A client with the defaults: public destinations only.
  public init() {}

  /// A client with the defaults and this destination policy.
  public init(destinations: DestinationPolicy) {
    self.destinations = destinations
  }

  /// What the client's errors call an exchange.
  static let what = "CRL download"

  /// The plain `http` URLs of the certificate's CRL distribution points (their full names), in
  /// order. Distribution points that name another CRL issuer (indirect CRLs) are left out.
  public static func distributionPointURLs(for certificate: X509Certificate) -> [String] {
    let points = (try? certificate.crlDistributionPoints) ?? nil
    return (points ?? []).filter { $0.crlIssuer.isEmpty }.flatMap { point in
      point.fullName.compactMap { name -> String? in
        guard case .uri(let uri) = name, uri.lowercased().hasPrefix("http://") else { return nil }
        return uri
      }
    }
  }

  /// Downloads the CRL at `url` (GET) and parses it, PEM or DER; the CRL is not verified.
  ///
  /// - Throws: ``OCSPClientError`` (``OCSPClientError/operation`` `"CRL download"`): a URL that is
  ///   not plain HTTP, a destination the policy refuses, an unreachable server, the time limit, a
  ///   redirect, an HTTP error status, an answer over ``maximumSize``, or one that is not a CRL.
  public func download(from url: String) throws(OCSPClientError) -> X509CRL {
    let transfer = HTTPTransfer(
      what: Self.what, timeout: timeout, maximumSize: maximumSize, proxy: proxy, destinations: destinations)
    let bytes = try transfer.send(
      HTTPTransfer.Request(url: url, path: nil, body: nil, expectedContentType: nil, expectASN1: false))
    do {
      return try X509CRL(bytes: bytes, limit: maximumSize)
    } catch {
      throw OCSPClientError(
        .malformedResponse, url: url, detail: "the answer is not a CRL in PEM or DER: \(error)", what: Self.what)
    }
  }
}
