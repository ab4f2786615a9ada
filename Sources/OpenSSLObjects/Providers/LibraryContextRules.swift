import COpenSSLFull

/// What a TLS configuration must satisfy before an `SSL_CTX` is made from it: keys of the same
/// library context, and groups this OpenSSL has.
enum LibraryContextRules {
  /// The post-quantum key exchange groups (ML-KEM and the hybrids), which OpenSSL has from 3.5 on.
  static let postQuantumGroups: Set<String> = [
    "MLKEM512", "MLKEM768", "MLKEM1024", "X25519MLKEM768", "X448MLKEM1024", "SECP256R1MLKEM768",
    "SECP384R1MLKEM1024",
  ]

  /// Throws for a key made in another library context than the configuration's, and for a
  /// post-quantum group before OpenSSL 3.5.
  static func check(_ configuration: TLSConfiguration) throws {
    for name in configuration.groups {
      // A leading "?" marks a group to ignore when unknown (OpenSSL 3.3 and later).
      let bare = name.hasPrefix("?") ? String(name.dropFirst()) : name
      if postQuantumGroups.contains(bare.uppercased()), !name.hasPrefix("?") {
        try OpenSSLLibrary.require(
          OpenSSLLibrary.postQuantumMinimumVersion, for: "the key exchange group \(bare)", object: "TLS configuration",
          source: "TLSConfiguration.groups")
      }
    }
    let wanted = configuration.libraryContext
    for chain in configuration.certificateChains {
      let key = unsafe chain.privateKey.pointer
      let made = unsafe LibraryContext.of(key: key) ?? .default
      guard made === wanted else {
        throw ProviderError(
          .libraryContextMismatch, provider: nil,
          detail: "the private key of \(chain.certificate.subject.rfc2253) was made in "
            + (made.isDefault ? "the default library context" : "another library context")
            + ", but the TLS configuration's library context is "
            + (wanted.isDefault ? "the default one" : "another")
            + "; load the key with the configuration's libraryContext")
      }
    }
  }
}
