import COpenSSLFull

/// One activation of an OpenSSL provider (`OSSL_PROVIDER`) in a library context: the default,
/// legacy, base, null or FIPS provider, or a module such as pkcs11-provider.
///
/// **Ownership.** Owns one activation: `OSSL_PROVIDER_load` / `OSSL_PROVIDER_try_load` when made,
/// `OSSL_PROVIDER_unload` when released; the provider stays loaded while other activations (a
/// configuration, another `Provider`, keys whose implementation it holds) remain. Holds its
/// ``LibraryContext`` alive. `Sendable`: OpenSSL's provider calls are thread-safe.
public final class Provider: OpenSSLObjectBase, OpenSSLObject, @unchecked Sendable {
  override package class var cType: CObjectType { .provider }

  /// The library context the provider is loaded in. Set once, when loading.
  public private(set) var libraryContext = LibraryContext.default

  /// Loads and activates the provider `name` in `libraryContext` (`OSSL_PROVIDER_load`): a
  /// built-in one (`"default"`, `"base"`, `"legacy"`, `"null"`, `"fips"` where installed) or a
  /// module file of that name in the provider directory (`OPENSSL_MODULES`, or
  /// ``setModuleDirectory(_:in:)``).
  ///
  /// Loading a provider explicitly turns off the automatic loading of the default provider in
  /// that context: load `"default"` first when both are wanted.
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/loadFailed`` and OpenSSL's reason (no
  ///   such module, an initialisation that failed).
  public convenience init(loading name: String, in libraryContext: LibraryContext = .default) throws(ProviderError) {
    let result = unsafe ErrorQueue.isolated { scope -> Result<OpaquePointer, OpenSSLError> in
      guard let provider = unsafe OSSL_PROVIDER_load(libraryContext.pointer, name) else {
        return unsafe .failure(scope.failure("OSSL_PROVIDER_load"))
      }
      return unsafe .success(provider)
    }
    unsafe try self.init(result, name: name, libraryContext: libraryContext)
  }

  /// Loads and activates the provider `name` like ``init(loading:in:)``, but keeps the automatic
  /// loading of the default provider when `retainFallbacks` is true (`OSSL_PROVIDER_try_load`).
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/loadFailed``.
  public convenience init(
    tryLoading name: String, in libraryContext: LibraryContext = .default, retainFallbacks: Bool = true
  ) throws(ProviderError) {
    let result = unsafe ErrorQueue.isolated { scope -> Result<OpaquePointer, OpenSSLError> in
      guard let provider = unsafe OSSL_PROVIDER_try_load(libraryContext.pointer, name, retainFallbacks ? 1 : 0) else {
        return unsafe .failure(scope.failure("OSSL_PROVIDER_try_load"))
      }
      return unsafe .success(provider)
    }
    unsafe try self.init(result, name: name, libraryContext: libraryContext)
  }

  private convenience init(
    _ result: Result<OpaquePointer, OpenSSLError>, name: String, libraryContext: LibraryContext
  ) throws(ProviderError) {
    switch unsafe result {
    case .success(let pointer):
      unsafe self.init(adopting: pointer)
      self.libraryContext = libraryContext
    case .failure(let error):
      throw ProviderError(
        .loadFailed, provider: name,
        detail: "OpenSSL could not load the provider \"\(name)\""
          + (error.last?.reasonText.map { ": \($0)" } ?? "")
          + (error.last?.data.map { " (\($0))" } ?? ""),
        openSSLError: error)
    }
  }

  /// Sets where `libraryContext` looks for provider modules loaded by name
  /// (`OSSL_PROVIDER_set_default_search_path`); the default is `OPENSSL_MODULES` or the build's
  /// module directory.
  ///
  /// - Throws: ``ProviderError`` with ``ProviderError/Code/loadFailed`` if OpenSSL refused it.
  public static func setModuleDirectory(
    _ path: String, in libraryContext: LibraryContext = .default
  )
    throws(ProviderError)
  {
    let failure = ErrorQueue.isolated { scope -> OpenSSLError? in
      unsafe OSSL_PROVIDER_set_default_search_path(libraryContext.pointer, path) == 1
        ? nil : scope.failure("OSSL_PROVIDER_set_default_search_path")
    }
    if let failure {
      throw ProviderError(
        .loadFailed, provider: nil, detail: "the module directory \(path) was refused", openSSLError: failure)
    }
  }

  /// Whether a provider of this name is activated in `libraryContext` (`OSSL_PROVIDER_available`).
  public static func isAvailable(_ name: String, in libraryContext: LibraryContext = .default) -> Bool {
    libraryContext.isProviderAvailable(name)
  }

  // MARK: - Facts

  /// The provider's name in its library context (`OSSL_PROVIDER_get0_name`), which is also its
  /// `provider=` property.
  public var name: String { unsafe String(cString: OSSL_PROVIDER_get0_name(pointer)) }

  /// Whether the provider is still available in its context (`OSSL_PROVIDER_available`).
  public var isAvailable: Bool { libraryContext.isProviderAvailable(name) }

  /// Runs the provider's self tests (`OSSL_PROVIDER_self_test`); providers without any pass.
  public func selfTest() -> Bool {
    ErrorQueue.isolated { _ in unsafe OSSL_PROVIDER_self_test(pointer) == 1 }
  }

  /// The provider's version (`OSSL_PROV_PARAM_VERSION`), when it reports one.
  public var version: String? { parameters["version"] }

  /// The provider's build information (`OSSL_PROV_PARAM_BUILDINFO`), when it reports it.
  public var buildInfo: String? { parameters["buildinfo"] }

  /// Whether the provider reports itself usable (`OSSL_PROV_PARAM_STATUS`); `nil` when it reports
  /// no status.
  public var status: Bool? { parameters["status"].map { $0 != "0" } }

  /// Every parameter the provider lets callers read (`OSSL_PROVIDER_gettable_params`,
  /// `OSSL_PROVIDER_get_params`), as text: strings as they are, integers in decimal. Parameters
  /// of other types are left out.
  public var parameters: [String: String] {
    ErrorQueue.isolated { _ -> [String: String] in
      guard let gettable = unsafe OSSL_PROVIDER_gettable_params(pointer) else { return [:] }
      var result: [String: String] = [:]
      var index = 0
      while let key = unsafe gettable[index].key {
        let type = unsafe gettable[index].data_type
        let name = unsafe String(cString: key)
        index += 1
        if let value = unsafe Self.parameter(pointer, key, type) { result[name] = value }
      }
      return result
    }
  }

  /// Reads one parameter of a text or integer type.
  private static func parameter(_ provider: OpaquePointer, _ key: UnsafePointer<CChar>, _ type: UInt32) -> String? {
    switch Int32(type) {
    case OSSL_PARAM_UTF8_PTR:
      var value: UnsafeMutablePointer<CChar>? = nil
      var request = unsafe [OSSL_PARAM_construct_utf8_ptr(key, &value, 0), OSSL_PARAM_construct_end()]
      guard unsafe OSSL_PROVIDER_get_params(provider, &request) == 1, let value = unsafe value else { return nil }
      return unsafe String(cString: value)
    case OSSL_PARAM_UTF8_STRING:
      var buffer = [CChar](repeating: 0, count: 1024)
      let ok = unsafe buffer.withUnsafeMutableBufferPointer { storage -> Bool in
        var request = unsafe [
          OSSL_PARAM_construct_utf8_string(key, storage.baseAddress, storage.count), OSSL_PARAM_construct_end(),
        ]
        return unsafe OSSL_PROVIDER_get_params(provider, &request) == 1
      }
      return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    case OSSL_PARAM_INTEGER, OSSL_PARAM_UNSIGNED_INTEGER:
      var value: Int64 = 0
      var request = unsafe [OSSL_PARAM_construct_int64(key, &value), OSSL_PARAM_construct_end()]
      guard unsafe OSSL_PROVIDER_get_params(provider, &request) == 1 else { return nil }
      return String(value)
    default:
      return nil
    }
  }
}

/// A provider or library context could not be set up or used as asked.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
  /// What went wrong. New codes may be added; switch with a `default`.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    fileprivate let text: String

    /// A provider could not be loaded (no such module, an initialisation that failed).
    public static let loadFailed = Code(text: "provider not loaded")
    /// Configuration text or a configuration file could not be applied.
    public static let configurationFailed = Code(text: "configuration failed")
    /// A property query OpenSSL cannot parse.
    public static let invalidPropertyQuery = Code(text: "invalid property query")
    /// An object from one library context was used with an object of another (a key of one
    /// context in a TLS context of another).
    public static let libraryContextMismatch = Code(text: "library context mismatch")
    /// A provider needed for the operation is not available (not installed, or this OpenSSL
    /// cannot load it).
    public static let unavailable = Code(text: "provider unavailable")
    /// The provider did not answer within the time allowed.
    public static let timedOut = Code(text: "timed out")

    /// The code's words.
    public var description: String { text }
  }

  /// What went wrong.
  public let code: Code
  /// The provider concerned, when there is one.
  public let provider: String?
  /// The facts of the case in a sentence.
  public let detail: String
  /// What OpenSSL reported, when the failure came from an OpenSSL call.
  public let openSSLError: OpenSSLError?

  /// Makes an error value.
  public init(_ code: Code, provider: String?, detail: String, openSSLError: OpenSSLError? = nil) {
    self.code = code
    self.provider = provider
    self.detail = detail
    self.openSSLError = openSSLError
  }

  /// A readable description, without secret material.
  public var description: String {
    var text = provider.map { "provider \($0): \(code)" } ?? "\(code)"
    if !detail.isEmpty { text += ": \(detail)" }
    if let openSSLError, !openSSLError.entries.isEmpty {
      text += " [OpenSSL: \(openSSLError.entries.map(\.description).joined(separator: "; "))]"
    }
    return text
  }
}
