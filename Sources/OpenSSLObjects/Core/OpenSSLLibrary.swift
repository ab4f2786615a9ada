import COpenSSLFull

/// Facts about the OpenSSL library this process runs on.
public enum OpenSSLLibrary {
  /// A version of OpenSSL, as `OpenSSL_version_num` packs it (0xMNN00PP0L for 3.x).
  public struct Version: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The packed number.
    public let number: UInt
    /// Major version (3 for OpenSSL 3.x).
    public var major: Int { Int((number >> 28) & 0xF) }
    /// Minor version.
    public var minor: Int { Int((number >> 20) & 0xFF) }
    /// Patch version.
    public var patch: Int { Int((number >> 4) & 0xFF) }

    /// A readable description, without secret material.
    public var description: String { "\(major).\(minor).\(patch)" }

    /// Whether `lhs` is older than `rhs`.
    public static func < (lhs: Version, rhs: Version) -> Bool { lhs.number < rhs.number }
  }

  /// The version of the libcrypto linked at run time (`OpenSSL_version_num`), read once.
  public static let runtimeVersion = Version(number: OpenSSL_version_num())

  /// The version of the headers this library was compiled against (`OPENSSL_VERSION_NUMBER`).
  public static let compiledVersion = Version(number: oo_OPENSSL_VERSION_NUMBER())

  /// The linked library's full version text (`OpenSSL_version(OPENSSL_VERSION)`), for example
  /// `"OpenSSL 3.0.17 1 Jul 2025"`.
  public static let versionText = unsafe String(cString: OpenSSL_version(OPENSSL_VERSION))

  /// The directory OpenSSL searches for its trust store and configuration
  /// (`OpenSSL_version(OPENSSL_DIR)`).
  public static let directory: String = {
    let text = unsafe String(cString: OpenSSL_version(OPENSSL_DIR))
    // Reported as `OPENSSLDIR: "/usr/lib/ssl"`.
    guard let open = text.firstIndex(of: "\""), let close = text.lastIndex(of: "\""), open < close else {
      return text
    }
    return String(text[text.index(after: open)..<close])
  }()

  /// The first OpenSSL with ML-DSA, ML-KEM and the hybrid key exchange groups (`X25519MLKEM768`):
  /// 3.5.0.
  public static let postQuantumMinimumVersion = Version(number: 0x3050_0000)

  /// Whether the linked OpenSSL has ML-DSA, ML-KEM and the hybrid groups (3.5 or newer).
  public static var hasPostQuantum: Bool { runtimeVersion >= postQuantumMinimumVersion }

  /// Throws ``InputError/Reason/requiresNewerOpenSSL`` naming `version` unless the linked OpenSSL
  /// is at least `version`.
  package static func require(
    _ version: Version, for feature: String, object: String, source: String
  ) throws(InputError) {
    guard runtimeVersion < version else { return }
    throw InputError(
      .requiresNewerOpenSSL, object: object, source: source,
      detail:
        "\(feature) needs OpenSSL \(version.major).\(version.minor) or newer; this process runs OpenSSL \(runtimeVersion)",
      requiredVersion: version)
  }

  /// The oldest OpenSSL this library supports.
  public static let minimumVersion = Version(number: 0x3000_0000)

  /// Whether the linked libcrypto is new enough. Checked once; the headers are checked at build
  /// time (an `#error` stops a build against OpenSSL 1.x).
  public static let isSupported: Bool =
    runtimeVersion >= minimumVersion
    && runtimeVersion.major == compiledVersion.major
}
