import PKCS11Keys
import Testing

extension Trait where Self == ConditionTrait {
  /// For what the CLI does through libp11 only: `pkcs11 list`, and its own per-signature PIN
  /// source for keys that ask at every signature. Where Debian's libp11 links another libcrypto
  /// than this process's OpenSSL (4.0), the CLI loads token keys through pkcs11-provider and
  /// `pkcs11 list` ends with "backend unavailable" (docs/COMPATIBILITY.md).
  static var needsLibP11: Self {
    .enabled(
      if: PKCS11Backend.libp11UsesThisOpenSSL,
      "libp11 links another libcrypto than this OpenSSL (4.0): the CLI's token keys go through pkcs11-provider")
  }
}
