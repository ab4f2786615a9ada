import CLinkedLibraries
import COpenSSLFull
import Dispatch
import OpenSSLObjects

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// Which implementation the one-call loaders (`PrivateKey(pkcs11:options:)`,
/// `X509Certificate(pkcs11:options:)`) use. Both take the same URIs (the same RFC 7512 parser),
/// the same module policy and the same PIN sources, and throw the same ``PKCS11Error``s.
public enum PKCS11Backend: Sendable, Hashable {
  /// pkcs11-provider where it is installed (Debian 13's OpenSSL 3.5, OpenSSL 4.0), libp11 where it
  /// is not and libp11 links this process's OpenSSL (Debian 12's 3.0, which has no usable
  /// pkcs11-provider package); ``PKCS11Error/Code/backendUnavailable`` when neither can work.
  case automatic
  /// libp11 (`PKCS11_*`): keys are `EVP_PKEY`s around libp11's RSA and EC methods. Not usable
  /// when libp11 links another libcrypto than this process (Debian's libp11 with OpenSSL 4.0).
  case libp11
  /// pkcs11-provider through `OSSL_STORE` (`pkcs11:` URIs): keys are provider-native `EVP_PKEY`s
  /// that sign inside the provider, in the library context of ``PKCS11LoadOptions/libraryContext``.
  case provider

  /// The backend ``automatic`` stands for in this process.
  ///
  /// - Throws: ``PKCS11Error/Code/backendUnavailable`` when the backend asked for cannot work here.
  public func resolved() throws(PKCS11Error) -> PKCS11Backend {
    switch self {
    case .automatic:
      if PKCS11ProviderBackend.isInstalled { return .provider }
      if Self.libp11UsesThisOpenSSL { return .libp11 }
      throw PKCS11Error(
        .backendUnavailable,
        detail: "pkcs11-provider is not installed (no \(PKCS11ProviderBackend.moduleFile)), and libp11 links "
          + "\(Self.libp11Libcrypto ?? "another libcrypto") but this process runs OpenSSL "
          + "\(OpenSSLLibrary.runtimeVersion) (\(Self.thisLibcrypto)): install pkcs11-provider")
    case .libp11:
      guard Self.libp11UsesThisOpenSSL else { throw Self.libp11Unavailable }
      return .libp11
    case .provider:
      guard PKCS11ProviderBackend.isInstalled else {
        throw PKCS11Error(
          .backendUnavailable,
          detail: "pkcs11-provider is not installed (no \(PKCS11ProviderBackend.moduleFile)); "
            + "install pkcs11-provider (Debian 13 and later) or use the libp11 backend")
      }
      return .provider
    }
  }

  /// Whether pkcs11-provider is installed where this process's OpenSSL loads provider modules.
  public static var isProviderInstalled: Bool { PKCS11ProviderBackend.isInstalled }

  /// The libcrypto libp11 was linked against (its `DT_NEEDED` entry), for example
  /// `libcrypto.so.3`; `nil` when it could not be read.
  public static let libp11Libcrypto: String? = {
    var buffer = [CChar](repeating: 0, count: 64)
    guard unsafe oo_needed_library("libp11.so", "libcrypto.so.", &buffer, buffer.count) == 1 else { return nil }
    return unsafe buffer.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
  }()

  /// The libcrypto this process uses: `libcrypto.so.` and the linked OpenSSL's major version.
  public static var thisLibcrypto: String { "libcrypto.so.\(OpenSSLLibrary.runtimeVersion.major)" }

  /// Whether libp11 links the libcrypto this process uses (otherwise its keys belong to another
  /// OpenSSL and must never reach ours).
  public static var libp11UsesThisOpenSSL: Bool { libp11Libcrypto.map { $0 == thisLibcrypto } ?? true }

  /// ``libp11`` where libp11 links this process's OpenSSL, ``automatic`` (pkcs11-provider) where
  /// it does not (OpenSSL 4.0): for callers that want libp11's behaviour (its context-specific PIN
  /// handler; no copy of the PIN left by the backend) wherever libp11 can work, and a key anyway
  /// elsewhere. The CLI and the C API's `load_private_key` load with it.
  public static var libp11WhereUsable: PKCS11Backend { libp11UsesThisOpenSSL ? .libp11 : .automatic }

  private static var libp11Unavailable: PKCS11Error {
    PKCS11Error(
      .backendUnavailable,
      detail: "libp11 links \(libp11Libcrypto ?? "another libcrypto") but this process runs OpenSSL "
        + "\(OpenSSLLibrary.runtimeVersion) (\(thisLibcrypto)); its keys cannot be used here: use the provider "
        + "backend (pkcs11-provider)")
  }
}

/// The provider backend: pkcs11-provider loaded into a library context, configured for one module,
/// and keys and certificates read through `OSSL_STORE`.
///
/// pkcs11-provider is configured through OpenSSL configuration text applied to the context
/// (`LibraryContext.loadConfiguration(text:)`): the default provider first (loading a provider
/// explicitly turns off the default provider's automatic loading, and some load orders deadlock
/// in SoftHSM2's `C_OpenSession`), then pkcs11-provider with `pkcs11-module-path` and, for
/// SoftHSM2, `pkcs11-module-quirks = no-deinit` (its `C_Finalize` at exit crashes otherwise). One
/// module per library context. Every call into the provider runs under
/// ``PKCS11LoadOptions/providerTimeout``.
enum PKCS11ProviderBackend {
  /// Where Debian installs pkcs11-provider, in the directory OpenSSL loads provider modules from.
  static var moduleFile: String {
    let directory = unsafe OpenSSL_version(OPENSSL_MODULES_DIR).map { unsafe String(cString: $0) } ?? ""
    // Reported as `MODULESDIR: "/usr/lib/x86_64-linux-gnu/ossl-modules"`.
    let parts = directory.split(separator: "\"")
    return (parts.count >= 2 ? String(parts[1]) : directory) + "/pkcs11.so"
  }

  /// Whether pkcs11-provider's module file is installed.
  static var isInstalled: Bool { unsafe access(moduleFile, R_OK) == 0 }

  /// The module configured in each library context.
  private static let registry = Registry()

  static func privateKey(_ uri: PKCS11URI, options: PKCS11LoadOptions) throws -> PrivateKey {
    try load(uri, options: options, needsPIN: true) { storeURI, passphrase in
      try PrivateKey(storeURI: storeURI, libraryContext: options.libraryContext, passphrase: passphrase)
    }
  }

  static func certificate(_ uri: PKCS11URI, options: PKCS11LoadOptions) throws -> X509Certificate {
    try load(uri, options: options, needsPIN: false) { storeURI, passphrase in
      try X509Certificate(storeURI: storeURI, libraryContext: options.libraryContext, passphrase: passphrase)
    }
  }

  /// Checks the URI and the module as the libp11 backend does, configures the provider, and reads
  /// the object through the store with the PIN from the same sources.
  private static func load<T: Sendable>(
    _ uri: PKCS11URI, options: PKCS11LoadOptions, needsPIN: Bool,
    _ body: @escaping @Sendable (String, (() throws -> Passphrase?)?) throws -> T
  ) throws -> T {
    try PKCS11URIMatcher.checkSupported(uri, module: "pkcs11-provider")
    let module = try PKCS11Module.allowedModulePath(for: uri, options: options)
    let pin: PINBox?
    if let given = try PINSource.pin(for: uri, options: options) { pin = PINBox(given) } else { pin = nil }
    // What pkcs11-provider gets: the object's attributes only; the module comes from the
    // configuration and the PIN from the passphrase callback.
    var storeURI = uri.withoutPIN
    storeURI.moduleName = nil
    storeURI.modulePath = nil
    let text = storeURI.formatted()
    let wanted = uri.withoutPIN.description
    let context = options.libraryContext
    let fingerprint = try pin.map { box throws(PKCS11Error) in
      try registry.fingerprint(box.copy(), module: module, object: wanted)
    }
    // pkcs11-provider logs in once per token and then answers without asking: a different PIN
    // later would go unchecked, so it is refused, as the libp11 backend refuses it.
    if let fingerprint, let accepted = registry.acceptedPIN(module: module, in: context), accepted != fingerprint {
      throw PKCS11Error(
        .pinMismatch, module: module, object: wanted,
        detail: "the token is logged in with another PIN through pkcs11-provider; this PIN was not checked")
    }
    let outcome = try runWithTimeout(options.providerTimeout, module: module, object: wanted) {
      () throws -> T in
      try registry.configure(module: module, in: context)
      return try body(text, pin.map { box in { box.copy() } })
    }
    do {
      let object = try outcome.get()
      if let fingerprint { registry.accept(fingerprint, module: module, in: context) }
      return object
    } catch let error as InputError {
      throw translate(error, module: module, object: wanted, hadPIN: pin != nil, needsPIN: needsPIN)
    }
  }

  /// The store's errors in the words of the libp11 backend.
  private static func translate(
    _ error: InputError, module: String, object: String, hadPIN: Bool, needsPIN: Bool
  ) -> PKCS11Error {
    switch error.reason {
    case .passphraseRequired:
      return PKCS11Error(
        .pinRequired, module: module, object: object,
        detail: "the token needs a login to use private keys: give pin-source=file:/path in the URI or a PIN in "
          + "PKCS11LoadOptions.pin", openSSLError: error.openSSLError)
    case .wrongPassphrase:
      return PKCS11Error(
        .loginFailed, module: module, object: object, detail: "the token refused the PIN",
        openSSLError: error.openSSLError)
    case .multipleObjects:
      return PKCS11Error(.multipleMatches, module: module, object: object, detail: error.detail)
    case .noMatch:
      return PKCS11Error(
        .noMatch, module: module, object: object,
        detail: "pkcs11-provider found nothing that matches \(object)"
          + (needsPIN && !hadPIN ? " (without a PIN, private keys are not visible)" : ""))
    default:
      return PKCS11Error(
        .operationFailed, module: module, object: object, detail: error.detail, openSSLError: error.openSSLError)
    }
  }

  /// Runs `body` on a thread of its own and waits at most `timeout` for it. A call that hangs
  /// (pkcs11-provider #723: some load orders deadlock in SoftHSM2) is abandoned: its thread stays
  /// blocked, and the caller gets ``PKCS11Error/Code/timedOut``.
  private static func runWithTimeout<T: Sendable>(
    _ timeout: Duration, module: String, object: String, _ body: @escaping @Sendable () throws -> T
  ) throws(PKCS11Error) -> Result<T, any Error> {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
      // A thread of Dispatch's pool, where Swift's tasks run too (on Linux): nothing the load
      // leaves on this thread's OpenSSL error queue may stay there for the next task to find
      // (its errors travel in the result). ERR_set_mark / ERR_pop_to_mark.
      _ = ERR_set_mark()
      box.set(Result { try body() })
      _ = ERR_pop_to_mark()
      done.signal()
    }
    let (seconds, attoseconds) = timeout.components
    let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    guard done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success, let result = box.get() else {
      throw PKCS11Error(
        .timedOut, module: module, object: object,
        detail: "pkcs11-provider and the module did not answer within \(timeout)")
    }
    return result
  }

  /// The library contexts pkcs11-provider was configured in, and for which module.
  private final class Registry: @unchecked Sendable {
    private let lock = CryptoLock()
    // Guarded by `lock`. The contexts are kept: pkcs11-provider stays loaded in them (no-deinit).
    private var configured: [(context: LibraryContext, module: String)] = []
    // Guarded by `lock`: the salted digest of the PIN a load succeeded with, per context and module.
    private var accepted: [(context: LibraryContext, module: String, pin: [UInt8])] = []
    /// A salt of this process, so that the digests say nothing outside it.
    private let salt: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }

    /// The salted SHA-256 of a PIN (`EVP_DigestUpdate` of the salt, then of the PIN where it
    /// lies): no copy of the PIN is made. A salted array was one, freed without being wiped (the
    /// C API's test of `load_private_key` found two copies on OpenSSL 4.0).
    ///
    /// - Throws: ``PKCS11Error/Code/operationFailed`` when this OpenSSL computes no SHA-256: an
    ///   empty fingerprint would match every PIN.
    func fingerprint(_ pin: consuming PIN, module: String, object: String) throws(PKCS11Error) -> [UInt8] {
      var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
      var length: UInt32 = 0
      let digested = unsafe pin.withUnsafeBytes { bytes -> Bool in
        guard let context = unsafe EVP_MD_CTX_new() else { return false }
        defer { unsafe EVP_MD_CTX_free(context) }
        return unsafe EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1
          && EVP_DigestUpdate(context, salt, salt.count) == 1
          && EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1
          && EVP_DigestFinal_ex(context, &output, &length) == 1
      }
      guard digested else {
        throw PKCS11Error(
          .operationFailed, module: module, object: object,
          detail: "SHA-256 of the PIN, to compare it with the one the token is logged in with, failed")
      }
      return Array(output[0..<Int(length)])
    }

    func acceptedPIN(module: String, in context: LibraryContext) -> [UInt8]? {
      lock.withLock { accepted.first { $0.context === context && $0.module == module }?.pin }
    }

    func accept(_ fingerprint: [UInt8], module: String, in context: LibraryContext) {
      lock.withLock {
        if !accepted.contains(where: { $0.context === context && $0.module == module }) {
          accepted.append((context, module, fingerprint))
        }
      }
    }

    func configure(module: String, in context: LibraryContext) throws {
      try lock.withLock { () throws in
        if let entry = configured.first(where: { $0.context === context }) {
          guard entry.module == module else {
            throw PKCS11Error(
              .unsupported, module: module,
              detail: "pkcs11-provider in this library context already serves \(entry.module); use another "
                + "LibraryContext (PKCS11LoadOptions.libraryContext) for a second module")
          }
          return
        }
        do {
          try context.loadConfiguration(text: configuration(module: module))
        } catch let error as ProviderError {
          throw PKCS11Error(
            .moduleLoadFailed, module: module, detail: "pkcs11-provider could not be loaded: \(error.detail)",
            openSSLError: error.openSSLError)
        }
        guard context.isProviderAvailable("pkcs11") else {
          throw PKCS11Error(
            .moduleLoadFailed, module: module, detail: "pkcs11-provider did not activate in the library context")
        }
        configured.append((context, module))
      }
    }

    /// The configuration text: the default provider first, then pkcs11-provider for `module`.
    private func configuration(module: String) -> String {
      var lines = [
        "openssl_conf = openssl_init",
        "[openssl_init]",
        "providers = provider_section",
        "[provider_section]",
        "default = default_section",
        "pkcs11 = pkcs11_section",
        "[default_section]",
        "activate = 1",
        "[pkcs11_section]",
        "module = \(Self.quoted(PKCS11ProviderBackend.moduleFile))",
        "pkcs11-module-path = \(Self.quoted(module))",
      ]
      if module.contains("softhsm") { lines.append("pkcs11-module-quirks = no-deinit") }
      lines.append("activate = 1")
      return lines.joined(separator: "\n") + "\n"
    }

    /// A configuration value in double quotes, with `\` and `"` escaped (no `$` expansion inside).
    private static func quoted(_ value: String) -> String {
      var text = "\""
      for character in value {
        if character == "\\" || character == "\"" { text.append("\\") }
        text.append(character)
      }
      return text + "\""
    }
  }
}

/// Holds a PIN for the store's passphrase callback; each answer is a fresh copy.
private final class PINBox: Sendable {
  private let pin: PIN
  init(_ pin: consuming PIN) { self.pin = pin }
  func copy() -> Passphrase { pin.copy() }
}

/// The result of a call on another thread.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var value: Result<T, any Error>?

  func set(_ result: Result<T, any Error>) { lock.withLock { value = result } }
  func get() -> Result<T, any Error>? { lock.withLock { value } }
}
