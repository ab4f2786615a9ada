public import OpenSSLObjects

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// Which modules a URI may make this library load.
///
/// Loading a module runs its code in this process, with this process's rights. A URI that came
/// from a configuration file, a peer or a user names a module by `module-path` or `module-name`:
/// the caller decides which modules such a URI may load. Paths are compared after resolving
/// symbolic links (`realpath`), and nothing is loaded before the check.
public enum PKCS11ModulePolicy: Sendable, Hashable {
  /// Only these module files (canonical paths; entries that name no file allow nothing).
  case allowList([String])
  /// Any module a URI names: an explicit opt-in, for URIs you trust as much as your own code.
  case allowAnyModule

  /// No module from a URI: only a module the caller loaded itself (``PKCS11LoadOptions/module``).
  public static let none = PKCS11ModulePolicy.allowList([])

  /// Whether the module file at `canonicalPath` may be loaded.
  public func allows(canonicalPath: String) -> Bool {
    switch self {
    case .allowAnyModule: return true
    case .allowList(let paths):
      return paths.contains { (try? ModuleFile.canonicalPath($0)) == canonicalPath }
    }
  }
}

/// How ``PKCS11Module/load(for:options:)`` and the `pkcs11:` loaders of `PrivateKey` and
/// `X509Certificate` find the module and the PIN.
public struct PKCS11LoadOptions: Sendable {
  /// Which modules the URI's `module-path` or `module-name` may load. Default: none.
  public var modulePolicy: PKCS11ModulePolicy
  /// A module the caller loaded: used when the URI names no module, or names this one.
  public var module: PKCS11Module?
  /// Where `module-name` is looked for: `NAME.so` and `libNAME.so` in each directory, in order.
  public var moduleSearchDirectories: [String]
  /// Asked for the PIN when the URI has neither `pin-value` nor `pin-source`; `nil` for none.
  public var pin: (@Sendable () throws -> PIN?)?
  /// Whether a key with `CKA_ALWAYS_AUTHENTICATE` may be given the login PIN again for each
  /// signature, when the module has no handler of its own (``PKCS11Module/setContextSpecificPIN(_:)``).
  /// The module then keeps a copy of the PIN in a wiped buffer for as long as it is loaded.
  public var reuseLoginPINForContextSpecificLogin: Bool

  /// The directories searched for `module-name` by default: the Debian multiarch and plain PKCS#11
  /// module directories, and SoftHSM2's.
  public static let defaultModuleSearchDirectories: [String] = {
    #if arch(x86_64)
      let triplet = "x86_64-linux-gnu"
    #elseif arch(arm64)
      let triplet = "aarch64-linux-gnu"
    #else
      let triplet = "unknown"
    #endif
    return [
      "/usr/lib/\(triplet)/pkcs11", "/usr/lib/pkcs11", "/usr/lib64/pkcs11", "/usr/local/lib/pkcs11",
      "/usr/lib/\(triplet)/softhsm", "/usr/lib/softhsm",
    ]
  }()

  /// Which implementation loads the key: libp11 or pkcs11-provider. ``PKCS11Backend/automatic``
  /// by default: pkcs11-provider where it is installed, libp11 otherwise; libp11 also when
  /// ``module`` (a module libp11 loaded, perhaps with a context-specific PIN handler) is given
  /// and libp11 links this OpenSSL.
  public var backend: PKCS11Backend
  /// A module file the caller chose (not from a URI), used like ``module`` when the URI names
  /// none: the provider backend hands it to pkcs11-provider, the libp11 backend loads it.
  public var moduleFile: String?
  /// The library context pkcs11-provider is loaded into and the key is made in (provider
  /// backend); TLS contexts that use the key must be made in the same one.
  public var libraryContext: LibraryContext
  /// How long the provider backend waits for pkcs11-provider and the module to answer before it
  /// gives up with ``PKCS11Error/Code/timedOut`` (some load orders hang in SoftHSM2).
  public var providerTimeout: Duration

  /// Makes options; every parameter has a safe default (no module from URIs, no PIN).
  public init(
    modulePolicy: PKCS11ModulePolicy = .none,
    module: PKCS11Module? = nil,
    moduleSearchDirectories: [String] = PKCS11LoadOptions.defaultModuleSearchDirectories,
    pin: (@Sendable () throws -> PIN?)? = nil,
    reuseLoginPINForContextSpecificLogin: Bool = true,
    backend: PKCS11Backend = .automatic,
    moduleFile: String? = nil,
    libraryContext: LibraryContext = .default,
    providerTimeout: Duration = .seconds(30)
  ) {
    self.modulePolicy = modulePolicy
    self.module = module
    self.moduleSearchDirectories = moduleSearchDirectories
    self.pin = pin
    self.reuseLoginPINForContextSpecificLogin = reuseLoginPINForContextSpecificLogin
    self.backend = backend
    self.moduleFile = moduleFile
    self.libraryContext = libraryContext
    self.providerTimeout = providerTimeout
  }
}

extension PKCS11LoadOptions {
  /// The backend these options load with: ``backend`` resolved, except that
  /// ``PKCS11Backend/automatic`` keeps to libp11 when a libp11 ``module`` is given, so that its
  /// handlers are not silently bypassed.
  func resolvedBackend() throws(PKCS11Error) -> PKCS11Backend {
    if backend == .automatic, module != nil, PKCS11Backend.libp11UsesThisOpenSSL { return .libp11 }
    return try backend.resolved()
  }
}

extension PKCS11Module {
  /// The module a URI names (`module-path`, else `module-name` looked up in
  /// ``PKCS11LoadOptions/moduleSearchDirectories``), loaded if ``PKCS11LoadOptions/modulePolicy``
  /// allows it; or ``PKCS11LoadOptions/module`` when the URI names none (or names that one).
  ///
  /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/noModule``, ``PKCS11Error/Code/moduleNotAllowed``
  ///   (checked before the file is opened), and every error of ``load(path:)``.
  public static func load(for uri: PKCS11URI, options: PKCS11LoadOptions) throws(PKCS11Error) -> PKCS11Module {
    let named = try allowedModulePath(for: uri, options: options)
    if let module = options.module, module.path == named { return module }
    return try load(path: named)
  }

  /// The canonical path of the module a URI names, checked against the policy before anything
  /// is opened (what ``load(for:options:)`` loads, and what the provider backend hands to
  /// pkcs11-provider); ``PKCS11LoadOptions/module``'s path when the URI names none.
  ///
  /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/noModule``, ``PKCS11Error/Code/moduleNotFound``,
  ///   ``PKCS11Error/Code/moduleNotAllowed``.
  static func allowedModulePath(for uri: PKCS11URI, options: PKCS11LoadOptions) throws(PKCS11Error) -> String {
    let named: String
    if let path = uri.modulePath {
      guard path.hasPrefix("/") else {
        throw PKCS11Error(
          .moduleNotFound, module: path, detail: "module-path must be an absolute path, not a name to search for")
      }
      named = try ModuleFile.canonicalPath(path)
    } else if let name = uri.moduleName {
      named = try resolve(moduleName: name, in: options.moduleSearchDirectories)
    } else if let module = options.module {
      return module.path
    } else if let file = options.moduleFile {
      return try ModuleFile.canonicalPath(file)
    } else {
      throw PKCS11Error(
        .noModule,
        detail: "the URI has neither module-path nor module-name, and no module was given (PKCS11LoadOptions.module)")
    }
    if let module = options.module, module.path == named { return named }
    if let file = options.moduleFile, (try? ModuleFile.canonicalPath(file)) == named { return named }
    guard options.modulePolicy.allows(canonicalPath: named) else {
      throw PKCS11Error(
        .moduleNotAllowed, module: named,
        detail: "the URI names a module that the policy does not allow; loading it would run its code in this "
          + "process (allow it with PKCS11ModulePolicy.allowList, or opt in with .allowAnyModule)")
    }
    return named
  }

  private static func resolve(moduleName name: String, in directories: [String]) throws(PKCS11Error) -> String {
    guard !name.isEmpty, !name.contains("/") else {
      throw PKCS11Error(
        .moduleNotFound, module: name, detail: "module-name is a file name without directory, like softhsm2")
    }
    var tried: [String] = []
    for directory in directories {
      for file in ["\(name).so", "lib\(name).so"] {
        let candidate = directory.hasSuffix("/") ? directory + file : directory + "/" + file
        tried.append(candidate)
        if unsafe access(candidate, F_OK) == 0 { return try ModuleFile.canonicalPath(candidate) }
      }
    }
    throw PKCS11Error(
      .moduleNotFound, module: name,
      detail: "no module named \(name) in the search directories (tried \(tried.joined(separator: ", ")))")
  }

  /// The one initialized token that matches the URI's slot and token attributes (`slot-id`,
  /// `slot-manufacturer`, `slot-description`, `token`, `manufacturer`, `serial`, `model`), after
  /// checking `library-manufacturer` and `library-description` against this module.
  ///
  /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/unsupported`` for what libp11 0.4.12 cannot
  ///   match (`library-version`, `type=secret-key`, `type=data`, vendor path attributes);
  ///   ``PKCS11Error/Code/noMatch`` and ``PKCS11Error/Code/multipleMatches``, listing the tokens.
  public func token(matching uri: PKCS11URI) throws(PKCS11Error) -> PKCS11Token {
    try PKCS11URIMatcher.checkSupported(uri, module: path)
    let wanted = uri.withoutPIN.description
    if let manufacturer = uri.libraryManufacturer, manufacturer != libraryManufacturer {
      throw PKCS11Error(
        .noMatch, module: path, object: wanted,
        detail: "library-manufacturer is \"\(manufacturer)\" but this module's is \"\(libraryManufacturer)\"")
    }
    if let description = uri.libraryDescription, description != libraryDescription {
      throw PKCS11Error(
        .noMatch, module: path, object: wanted,
        detail: "library-description is \"\(description)\" but this module's is \"\(libraryDescription)\"")
    }
    let all = tokens
    let candidates = all.filter { token in
      let slot = token.slotInfo
      let info = token.info
      guard info.flags.contains(.initialized) else { return false }
      if let id = uri.slotID, id != slot.id { return false }
      if let value = uri.slotManufacturer, value != slot.manufacturer { return false }
      if let value = uri.slotDescription, value != slot.description { return false }
      if let value = uri.token, value != info.label { return false }
      if let value = uri.manufacturer, value != info.manufacturer { return false }
      if let value = uri.serial, value != info.serialNumber { return false }
      if let value = uri.model, value != info.model { return false }
      return true
    }
    let listing = all.map {
      "\"\($0.label)\" in slot \($0.slotInfo.id)" + ($0.info.flags.contains(.initialized) ? "" : " (not initialized)")
    }
    .joined(separator: "; ")
    if candidates.isEmpty {
      throw PKCS11Error(
        .noMatch, module: path, object: wanted,
        detail: "no initialized token matches \(wanted); the module has " + (listing.isEmpty ? "no tokens" : listing))
    }
    guard candidates.count == 1 else {
      throw PKCS11Error(
        .multipleMatches, module: path, object: wanted,
        detail: "\(candidates.count) tokens match \(wanted): "
          + candidates.map { "\"\($0.label)\" in slot \($0.slotInfo.id)" }.joined(separator: "; ")
          + "; add token= or slot-id= to the URI")
    }
    return candidates[0]
  }
}

/// What libp11 0.4.12 can and cannot match.
enum PKCS11URIMatcher {
  static func checkSupported(_ uri: PKCS11URI, module: String) throws(PKCS11Error) {
    let wanted = uri.withoutPIN.description
    if let version = uri.libraryVersion {
      throw PKCS11Error(
        .unsupported, module: module, object: wanted,
        detail: "library-version=\(version) cannot be matched: libp11 0.4.12 does not expose the module's version")
    }
    if let type = uri.type, type == .secretKey || type == .data {
      throw PKCS11Error(
        .unsupported, module: module, object: wanted,
        detail: "type=\(type.rawValue) cannot be matched: libp11 0.4.12 lists only private keys, public keys and "
          + "certificates")
    }
    if let vendor = uri.vendorPathAttributes.first {
      throw PKCS11Error(
        .unsupported, module: module, object: wanted,
        detail: "the vendor attribute \(vendor.name) cannot be matched: this library does not know what it means")
    }
  }
}

// MARK: - PINs from URIs

enum PINSource {
  /// The PIN a URI carries or points to, or the options' PIN closure's answer.
  static func pin(for uri: PKCS11URI, options: PKCS11LoadOptions) throws -> PIN? {
    if let value = uri.pinValue { return value.copy() }
    if let source = uri.pinSource { return try read(source) }
    return try options.pin?()
  }

  /// Reads `pin-source`: a `file:` URI (`file:/path`, `file:///path`) or an absolute path.
  static func read(_ source: String) throws -> PIN {
    var path = source
    if path.hasPrefix("file://") {
      path.removeFirst("file://".count)
      guard path.hasPrefix("/") else {
        throw PKCS11Error(
          .unsupported, detail: "pin-source names a file on another host; only local files are read")
      }
    } else if path.hasPrefix("file:") {
      path.removeFirst("file:".count)
    }
    guard path.hasPrefix("/") else {
      throw PKCS11Error(
        .unsupported,
        detail: "pin-source must be a file: URI or an absolute path (commands, |program, are never run)")
    }
    return try PIN.read(fromFile: path.removingPercentEncoding())
  }
}

extension String {
  /// Decodes `%XX` escapes of a `file:` URI path; invalid escapes are left as they are.
  fileprivate func removingPercentEncoding() -> String {
    var bytes: [UInt8] = []
    var iterator = Array(utf8)[...]
    while let byte = iterator.popFirst() {
      if byte == UInt8(ascii: "%"), iterator.count >= 2,
        let high = Self.hex(iterator[iterator.startIndex]), let low = Self.hex(iterator[iterator.startIndex + 1])
      {
        bytes.append(high << 4 | low)
        iterator.removeFirst(2)
      } else {
        bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  private static func hex(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}

// MARK: - One call: a key or a certificate from a URI

/// Holds one PIN for context-specific logins.
private final class PINHolder: Sendable {
  private let pin: PIN
  init(_ pin: consuming PIN) { self.pin = pin }
  func copy() -> PIN { pin.copy() }
}

enum PKCS11Loader {
  /// Module, token and login for a URI; then `body` finds the object.
  static func withToken<T>(
    _ uri: PKCS11URI, options: PKCS11LoadOptions, needsLogin: Bool,
    _ body: (PKCS11Token) throws(PKCS11Error) -> T
  ) throws -> T {
    let module = try PKCS11Module.load(for: uri, options: options)
    let token = try module.token(matching: uri)
    try PKCS11URIMatcher.checkSupported(uri, module: module.path)
    if let pin = try PINSource.pin(for: uri, options: options) {
      try token.login(pin: pin)
      if options.reuseLoginPINForContextSpecificLogin {
        let holder = PINHolder(pin)
        module.setContextSpecificPINIfUnset { _ in holder.copy() }
      }
    } else if needsLogin, token.info.flags.contains(.loginRequired), !token.isLoggedIn {
      throw PKCS11Error(
        .pinRequired, module: module.path, token: token.label, object: uri.withoutPIN.description,
        detail: "the token needs a login to use private keys: give pin-source=file:/path in the URI or a PIN in "
          + "PKCS11LoadOptions.pin")
    }
    return try body(token)
  }
}

extension PrivateKey {
  /// Loads a private key from a PKCS#11 URI in one call: module (`module-path` or `module-name`,
  /// under ``PKCS11LoadOptions/modulePolicy``, or ``PKCS11LoadOptions/module``), token, login with
  /// the PIN (`pin-value`, `pin-source`, or ``PKCS11LoadOptions/pin``), and the one private key
  /// that matches. The key signs on the token; see ``PKCS11Token/privateKey(matching:)``.
  ///
  /// - Throws: ``PKCS11Error`` (module, token, login, matching), `InputError` (an unreadable
  ///   `pin-source` file).
  public convenience init(pkcs11 uri: PKCS11URI, options: PKCS11LoadOptions = PKCS11LoadOptions()) throws {
    if try options.resolvedBackend() == .provider {
      let key = try PKCS11ProviderBackend.privateKey(uri, options: options)
      unsafe self.init(takingOwnershipOf: try key.retainedPointer())
      return
    }
    let key = try PKCS11Loader.withToken(uri, options: options, needsLogin: true) { token throws(PKCS11Error) in
      try token.privateKey(matching: uri)
    }
    unsafe self.init(takingOwnershipOf: try key.retainedPointer())
  }

  /// Parses `uri` (``PKCS11URI/init(parsing:)``) and loads the key it names.
  ///
  /// - Throws: `InputError` for a malformed URI, and what ``init(pkcs11:options:)-(PKCS11URI,_)`` throws.
  public convenience init(pkcs11 uri: String, options: PKCS11LoadOptions = PKCS11LoadOptions()) throws {
    try self.init(pkcs11: try PKCS11URI(parsing: uri), options: options)
  }
}

extension X509Certificate {
  /// Loads a certificate from a PKCS#11 URI in one call, as `PrivateKey(pkcs11:options:)` does
  /// for keys; a PIN is used when given (certificates are usually readable without a login).
  ///
  /// - Throws: ``PKCS11Error``, `InputError` (an unreadable `pin-source` file).
  public convenience init(pkcs11 uri: PKCS11URI, options: PKCS11LoadOptions = PKCS11LoadOptions()) throws {
    if try options.resolvedBackend() == .provider {
      let certificate = try PKCS11ProviderBackend.certificate(uri, options: options)
      unsafe self.init(takingOwnershipOf: try certificate.retainedPointer())
      return
    }
    let certificate = try PKCS11Loader.withToken(uri, options: options, needsLogin: false) {
      token throws(PKCS11Error) in try token.certificate(matching: uri)
    }
    unsafe self.init(takingOwnershipOf: try certificate.retainedPointer())
  }

  /// Parses `uri` and loads the certificate it names.
  ///
  /// - Throws: `InputError` for a malformed URI, and what the `PKCS11URI` variant throws.
  public convenience init(pkcs11 uri: String, options: PKCS11LoadOptions = PKCS11LoadOptions()) throws {
    try self.init(pkcs11: try PKCS11URI(parsing: uri), options: options)
  }
}
