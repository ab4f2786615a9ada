import COpenSSLFull

/// An OpenSSL library context (`OSSL_LIB_CTX`): a world of its own with its own providers,
/// algorithm implementations, default property query and configuration.
///
/// Everything that fetches an algorithm or decodes an object can be given a library context and a
/// property query (``PropertyQuery``): keys (generating, decoding, loading from a store URI),
/// certificates, digests, signatures and TLS contexts (`SSL_CTX_new_ex`). The default is
/// ``default``, OpenSSL's global context, which is what every call without one uses.
///
/// A provider loaded into one context is invisible in every other: that is how a program keeps,
/// say, a FIPS context and a default one side by side, or a PKCS#11 provider away from code that
/// must not see it.
///
/// **Ownership.** Owns the `OSSL_LIB_CTX` (`OSSL_LIB_CTX_free`, which unloads its providers;
/// OpenSSL does not reference-count library contexts, so there is no retain door). Objects made in
/// a context (keys, certificates, TLS contexts) point to it without a reference of their own: this
/// library keeps the Swift object alive in each such object's ex_data, so the context is freed only
/// after the last object made in it. ``default`` is never freed (`OSSL_LIB_CTX_free` ignores the
/// global context). `Sendable`: OpenSSL's library contexts are thread-safe.
public final class LibraryContext: OpenSSLObjectBase, OpenSSLObject, @unchecked Sendable {
  override package class var cType: CObjectType { .libraryContext }

  /// OpenSSL's global default library context (`OSSL_LIB_CTX_get0_global_default`): what every
  /// call without a context uses.
  public static let `default` = unsafe LibraryContext(adopting: OSSL_LIB_CTX_get0_global_default())

  /// Makes a new, empty library context (`OSSL_LIB_CTX_new`). It has no provider loaded until
  /// one is loaded into it or an algorithm is first fetched from it (then OpenSSL loads the
  /// default provider, unless a provider was loaded before).
  ///
  /// - Throws: ``OpenSSLError`` if OpenSSL could not make one.
  public convenience init() throws(OpenSSLError) {
    let pointer = unsafe try ErrorQueue.call("OSSL_LIB_CTX_new") { unsafe OSSL_LIB_CTX_new() }
    unsafe self.init(adopting: pointer)
  }

  /// Makes a new library context configured by an OpenSSL configuration file
  /// (`OSSL_LIB_CTX_new`, `OSSL_LIB_CTX_load_config`): its providers, their parameters, the
  /// default properties.
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/configurationFailed`` and OpenSSL's
  ///   reason (a missing file, a syntax error with its line, a provider that failed to load).
  public convenience init(configurationFile path: String) throws(ProviderError) {
    do {
      try self.init()
    } catch {
      throw ProviderError(.configurationFailed, provider: nil, detail: "OSSL_LIB_CTX_new failed", openSSLError: error)
    }
    try loadConfiguration(file: path)
  }

  /// Whether this is OpenSSL's global default context.
  public var isDefault: Bool { unsafe pointer == Self.default.pointer }

  // MARK: - Configuration

  /// Applies an OpenSSL configuration file to this context (`OSSL_LIB_CTX_load_config`).
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/configurationFailed``.
  public func loadConfiguration(file path: String) throws(ProviderError) {
    let status = ErrorQueue.isolated { scope -> OpenSSLError? in
      unsafe OSSL_LIB_CTX_load_config(pointer, path) == 1 ? nil : scope.failure("OSSL_LIB_CTX_load_config")
    }
    if let status {
      throw ProviderError(
        .configurationFailed, provider: nil,
        detail: "the configuration file \(path) could not be applied: \(status.last?.reasonText ?? "no reason given")",
        openSSLError: status)
    }
  }

  /// Applies configuration text to this context, without a file (`NCONF_new_ex`, `NCONF_load_bio`,
  /// `CONF_modules_load`). The text is read as an `openssl.cnf` whose `openssl_conf` section names
  /// what to set up; for example the providers to activate, in order, with their parameters.
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/configurationFailed``: a syntax error
  ///   (with its line), or a module of the configuration that failed.
  public func loadConfiguration(text: String) throws(ProviderError) {
    let failure = ErrorQueue.isolated { scope -> (String, OpenSSLError)? in
      guard let conf = unsafe NCONF_new_ex(pointer, nil) else {
        return ("NCONF_new_ex failed", scope.failure("NCONF_new_ex"))
      }
      defer { unsafe NCONF_free(conf) }
      let bytes = Array(text.utf8)
      let loaded = unsafe bytes.withUnsafeBytes { buffer -> (Int32, Int) in
        guard
          let bio = unsafe BIO_new_mem_buf(buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count))
        else { return (0, 0) }
        defer { unsafe BIO_free(bio) }
        var line = 0
        let status = unsafe NCONF_load_bio(conf, bio, &line)
        return (status, line)
      }
      guard loaded.0 == 1 else {
        return ("the configuration text does not parse (line \(loaded.1))", scope.failure("NCONF_load_bio"))
      }
      guard unsafe CONF_modules_load(conf, nil, 0) == 1 else {
        return ("a module of the configuration failed", scope.failure("CONF_modules_load"))
      }
      return nil
    }
    if let (detail, error) = failure {
      throw ProviderError(
        .configurationFailed, provider: nil,
        detail: detail + (error.last?.reasonText.map { ": \($0)" } ?? ""), openSSLError: error)
    }
  }

  // MARK: - Providers

  /// Whether a provider of this name is loaded and usable in this context
  /// (`OSSL_PROVIDER_available`). In a context where nothing was loaded explicitly this also
  /// loads the default provider, as any fetch would.
  public func isProviderAvailable(_ name: String) -> Bool {
    ErrorQueue.isolated { _ in unsafe OSSL_PROVIDER_available(pointer, name) == 1 }
  }

  /// The names of the providers activated in this context, in the order they were loaded
  /// (`OSSL_PROVIDER_do_all`, `OSSL_PROVIDER_get0_name`).
  public var providerNames: [String] {
    unsafe providerPointers.map { unsafe String(cString: OSSL_PROVIDER_get0_name($0)) }
  }

  /// The providers activated in this context, borrowed (valid while they stay loaded).
  package var providerPointers: [OpaquePointer] {
    let collector = ProviderCollector()
    _ = ErrorQueue.isolated { _ in
      unsafe OSSL_PROVIDER_do_all(
        pointer,
        { provider, data in
          guard let provider = unsafe provider, let data = unsafe data else { return 1 }
          unsafe Unmanaged<ProviderCollector>.fromOpaque(data).takeUnretainedValue().pointers.append(provider)
          return 1
        }, unsafe Unmanaged.passUnretained(collector).toOpaque())
    }
    return unsafe collector.pointers
  }

  /// Whether `provider` is one of the providers activated in this context (compared by identity).
  package func contains(provider: OpaquePointer) -> Bool {
    unsafe providerPointers.contains(provider)
  }

  // MARK: - Properties

  /// Sets the context's default property query (`EVP_set_default_properties`), merged with the
  /// query of every fetch from this context; for example `"fips=yes"` or `"?provider=pkcs11"`.
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/invalidPropertyQuery`` for a query
  ///   OpenSSL cannot parse.
  public func setDefaultProperties(_ query: PropertyQuery) throws(ProviderError) {
    let failure = ErrorQueue.isolated { scope -> OpenSSLError? in
      unsafe EVP_set_default_properties(pointer, query.text) == 1 ? nil : scope.failure("EVP_set_default_properties")
    }
    if let failure {
      throw ProviderError(
        .invalidPropertyQuery, provider: nil, detail: "\"\(query.text)\" is not a property query OpenSSL accepts",
        openSSLError: failure)
    }
  }

  // MARK: - Keeping the context alive

  /// The ex_data slots that keep a context alive for as long as an object made in it lives.
  private static let keySlot = unsafe ExDataSlot<LibraryContext>(
    classIndex: CRYPTO_EX_INDEX_EVP_PKEY, get: { unsafe EVP_PKEY_get_ex_data($0, $1) },
    set: { unsafe EVP_PKEY_set_ex_data($0, $1, $2) })
  private static let certificateSlot = unsafe ExDataSlot<LibraryContext>(
    classIndex: CRYPTO_EX_INDEX_X509, get: { unsafe X509_get_ex_data($0, $1) },
    set: { unsafe X509_set_ex_data($0, $1, $2) })
  private static let sslContextSlot = unsafe ExDataSlot<LibraryContext>(
    classIndex: CRYPTO_EX_INDEX_SSL_CTX, get: { unsafe SSL_CTX_get_ex_data($0, $1) },
    set: { unsafe SSL_CTX_set_ex_data($0, $1, $2) })

  /// Ties this context's lifetime to an object made in it; nothing for the default context.
  package func keepAlive(key: OpaquePointer) throws(OpenSSLError) {
    unsafe try keepAlive(in: Self.keySlot, key, "EVP_PKEY_set_ex_data")
  }

  /// Ties this context's lifetime to a certificate made in it.
  package func keepAlive(certificate: OpaquePointer) throws(OpenSSLError) {
    unsafe try keepAlive(in: Self.certificateSlot, certificate, "X509_set_ex_data")
  }

  /// Ties this context's lifetime to an `SSL_CTX` made in it.
  package func keepAlive(sslContext: OpaquePointer) throws(OpenSSLError) {
    unsafe try keepAlive(in: Self.sslContextSlot, sslContext, "SSL_CTX_set_ex_data")
  }

  /// The context a key was made in by this library, or `nil` for the default one (or unknown).
  package static func of(key: OpaquePointer) -> LibraryContext? { unsafe keySlot.get(key) }

  /// The context an `SSL_CTX` was made in by this library, or `nil` for the default one.
  package static func of(sslContext: OpaquePointer) -> LibraryContext? { unsafe sslContextSlot.get(sslContext) }

  private func keepAlive(
    in slot: ExDataSlot<LibraryContext>, _ object: OpaquePointer, _ operation: String
  ) throws(OpenSSLError) {
    if isDefault { return }
    guard unsafe slot.set(object, self) else {
      throw OpenSSLError(operation: operation, entries: [])
    }
  }
}

/// An OpenSSL property query (`"provider=default"`, `"fips=yes"`, `"?provider=pkcs11"`): which
/// implementation a fetch picks among those the library context's providers offer. See
/// `property(7)`.
public struct PropertyQuery: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
  /// The query text as OpenSSL reads it.
  public let text: String

  /// A query from its text; OpenSSL checks it where it is used.
  public init(_ text: String) {
    self.text = text
  }

  /// A query from a string literal.
  public init(stringLiteral value: String) {
    self.init(value)
  }

  /// Only implementations from the provider of this name (`provider=NAME`).
  public static func provider(_ name: String) -> PropertyQuery { PropertyQuery("provider=\(name)") }

  /// The query text.
  public var description: String { text }
}

extension Optional where Wrapped == PropertyQuery {
  /// The query's text, or `nil` (`NULL`: the context's default properties alone).
  package var text: String? { self?.text }
}

/// Where a fetch or a decoder looks: a library context and a property query.
package struct FetchScope: Sendable {
  /// The library context.
  package let context: LibraryContext
  /// The property query, or `nil` for the context's default properties alone.
  package let properties: PropertyQuery?

  package init(_ context: LibraryContext, _ properties: PropertyQuery?) {
    self.context = context
    self.properties = properties
  }

  /// The default context, no query.
  package static let `default` = FetchScope(.default, nil)
}

/// Collects the providers `OSSL_PROVIDER_do_all` visits.
@safe
private final class ProviderCollector {
  var pointers: [OpaquePointer] = unsafe []
}
