#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Which network addresses a fetch of revocation data (an OCSP responder, a CRL distribution
/// point) may connect to.
///
/// The URLs come from certificates, which whoever made them chose: a certificate naming
/// `http://127.0.0.1:6379/` or `http://10.0.0.5/admin` would make every verifier that fetches
/// send a request into its own machine or network. So by default only public addresses are
/// contacted. The policy is checked on every address actually connected to, after name
/// resolution (a name that resolves to a private address is refused like the address itself),
/// before the connection is made: a refused destination never sees a packet.
///
/// Ranges that are never public: loopback (`127.0.0.0/8`, `::1`), private networks (RFC 1918:
/// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`; unique-local `fc00::/7`), link-local
/// (`169.254.0.0/16`, `fe80::/10`), shared address space (carrier-grade NAT, `100.64.0.0/10`),
/// the unspecified and "this network" addresses (`0.0.0.0/8`, `::`), multicast (`224.0.0.0/4`,
/// `ff00::/8`) and the reserved `240.0.0.0/4` (broadcast included). An IPv6 address that embeds an
/// IPv4 one (IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`) is
/// judged by its IPv4 address. The caller may allow loopback and the private ranges
/// (``Ranges``); unspecified, multicast and reserved addresses are never contacted.
///
/// A proxy the caller configured (``OCSPClient/Proxy``) is exempt: the caller chose it, and the
/// proxy, not this process, connects to the destination.
public struct DestinationPolicy: Sendable, Hashable, CustomStringConvertible {
  /// Ranges that are not public and that a caller may allow.
  public struct Ranges: OptionSet, Sendable, Hashable {
    /// The bits.
    public let rawValue: UInt8
    /// Makes a set from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Loopback: `127.0.0.0/8` and `::1`.
    public static let loopback = Ranges(rawValue: 1 << 0)
    /// Private networks: RFC 1918's `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` and the
    /// unique-local `fc00::/7`.
    public static let privateNetworks = Ranges(rawValue: 1 << 1)
    /// Link-local: `169.254.0.0/16` and `fe80::/10`.
    public static let linkLocal = Ranges(rawValue: 1 << 2)
    /// The shared address space of carrier-grade NAT, `100.64.0.0/10` (RFC 6598).
    public static let sharedAddressSpace = Ranges(rawValue: 1 << 3)
    /// All of them.
    public static let all: Ranges = [.loopback, .privateNetworks, .linkLocal, .sharedAddressSpace]
  }

  /// What kind of address an address is.
  public enum AddressClass: String, Sendable, Hashable, CustomStringConvertible {
    /// A public address.
    case `public` = "public"
    /// Loopback.
    case loopback = "loopback"
    /// A private network (RFC 1918 or unique-local).
    case privateNetwork = "private network"
    /// Link-local.
    case linkLocal = "link-local"
    /// Carrier-grade NAT's shared address space.
    case sharedAddressSpace = "shared address space (CGNAT)"
    /// The unspecified address or "this network".
    case unspecified = "unspecified"
    /// Multicast.
    case multicast = "multicast"
    /// Reserved (`240.0.0.0/4`, broadcast included).
    case reserved = "reserved"

    /// The class in words.
    public var description: String { rawValue }

    /// The range that may be allowed for the class, if any.
    var range: Ranges? {
      switch self {
      case .loopback: .loopback
      case .privateNetwork: .privateNetworks
      case .linkLocal: .linkLocal
      case .sharedAddressSpace: .sharedAddressSpace
      case .public, .unspecified, .multicast, .reserved: nil
      }
    }
  }

  /// The non-public ranges this policy allows.
  public var allowed: Ranges

  /// A policy that allows public addresses and the given ranges.
  public init(allowing allowed: Ranges = []) {
    self.allowed = allowed
  }

  /// Public addresses only: the default.
  public static let publicOnly = DestinationPolicy()
  /// Public addresses and loopback: for tests and demos with a responder on 127.0.0.1.
  public static let allowingLoopback = DestinationPolicy(allowing: .loopback)
  /// Public addresses, loopback and every private range (what `--allow-private-destinations`
  /// means on the command line).
  public static let allowingPrivate = DestinationPolicy(allowing: .all)

  /// Whether the policy allows connecting to `address` (4 or 16 bytes, network order).
  public func permits(address: [UInt8]) -> Bool {
    let (kind, _) = Self.classify(address: address)
    if kind == .public { return true }
    guard let range = kind.range else { return false }
    return allowed.contains(range)
  }

  /// The class of an address (4 or 16 bytes, network order) and the range it falls in, as text
  /// (`"127.0.0.0/8"`); an IPv6 address that embeds an IPv4 one is judged by the IPv4 address.
  /// Anything that is not 4 or 16 bytes is ``AddressClass/reserved``.
  public static func classify(address bytes: [UInt8]) -> (AddressClass, range: String?) {
    switch bytes.count {
    case 4: return classifyIPv4(bytes)
    case 16: return classifyIPv6(bytes)
    default: return (.reserved, nil)
    }
  }

  /// A readable description: `public addresses only`, or what else is allowed.
  public var description: String {
    var parts: [String] = []
    if allowed.contains(.loopback) { parts.append("loopback") }
    if allowed.contains(.privateNetworks) { parts.append("private networks") }
    if allowed.contains(.linkLocal) { parts.append("link-local") }
    if allowed.contains(.sharedAddressSpace) { parts.append("shared address space") }
    return parts.isEmpty ? "public addresses only" : "public addresses and " + parts.joined(separator: ", ")
  }

  // MARK: - Ranges

  private static func classifyIPv4(_ b: [UInt8]) -> (AddressClass, range: String?) {
    switch (b[0], b[1]) {
    case (0, _): return (.unspecified, "0.0.0.0/8")
    case (127, _): return (.loopback, "127.0.0.0/8")
    case (10, _): return (.privateNetwork, "10.0.0.0/8")
    case (172, 16...31): return (.privateNetwork, "172.16.0.0/12")
    case (192, 168): return (.privateNetwork, "192.168.0.0/16")
    case (169, 254): return (.linkLocal, "169.254.0.0/16")
    case (100, 64...127): return (.sharedAddressSpace, "100.64.0.0/10")
    case (224...239, _): return (.multicast, "224.0.0.0/4")
    case (240...255, _): return (.reserved, "240.0.0.0/4")
    default: return (.public, nil)
    }
  }

  private static func classifyIPv6(_ b: [UInt8]) -> (AddressClass, range: String?) {
    let first10 = b[0..<10].allSatisfy { $0 == 0 }
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, also :: and ::1), 64:ff9b::a.b.c.d (NAT64).
    if first10 && b[10] == 0xff && b[11] == 0xff {
      let (kind, range) = classifyIPv4(Array(b[12..<16]))
      return (kind, range.map { "::ffff:\($0) (IPv4-mapped)" })
    }
    if first10 && b[10] == 0 && b[11] == 0 {
      if b[12..<15].allSatisfy({ $0 == 0 }) {
        if b[15] == 0 { return (.unspecified, "::/128") }
        if b[15] == 1 { return (.loopback, "::1/128") }
      }
      let (kind, range) = classifyIPv4(Array(b[12..<16]))
      return (kind, range.map { "::\($0) (IPv4-compatible)" })
    }
    if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..<12].allSatisfy({ $0 == 0 }) {
      let (kind, range) = classifyIPv4(Array(b[12..<16]))
      return (kind, range.map { "64:ff9b::\($0) (NAT64)" })
    }
    if b[0] & 0xfe == 0xfc { return (.privateNetwork, "fc00::/7 (unique-local)") }
    if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return (.linkLocal, "fe80::/10") }
    if b[0] == 0xff { return (.multicast, "ff00::/8") }
    return (.public, nil)
  }

  // MARK: - Checking what name resolution gave

  /// The text of an address (4 or 16 bytes).
  static func text(_ address: [UInt8]) -> String { GeneralName.ipText(address) }

  /// Why the policy refuses `address`, or `nil` if it permits it.
  func refusal(_ address: [UInt8]) -> String? {
    guard !permits(address: address) else { return nil }
    let (kind, range) = Self.classify(address: address)
    let where_ = range.map { " (\(kind), \($0))" } ?? " (\(kind))"
    return "\(Self.text(address))\(where_)"
  }
}
