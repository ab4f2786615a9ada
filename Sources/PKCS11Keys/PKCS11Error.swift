public import OpenSSLObjects

/// A PKCS#11 failure: what went wrong, the module's `CKR_` return value when there is one, and
/// which module, token and object were involved.
///
/// Never holds a PIN. Bad URIs and unreadable PIN files are `InputError`s instead.
public struct PKCS11Error: Error, Sendable, CustomStringConvertible {
  /// What went wrong. New codes may be added; switch with a `default`.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    fileprivate enum Base: String, Hashable, Sendable {
      case moduleNotFound = "module not found"
      case notASharedObject = "not a shared object"
      case noFunctionList = "no C_GetFunctionList"
      case moduleNotAllowed = "module not allowed"
      case moduleLoadFailed = "module failed to load"
      case noModule = "no module"
      case noMatch = "nothing matched"
      case multipleMatches = "several matches"
      case unsupported = "unsupported"
      case invalidPIN = "invalid PIN"
      case pinRequired = "PIN required"
      case loginFailed = "login failed"
      case pinMismatch = "PIN differs from the accepted one"
      case loggedInElsewhere = "logged in by other code"
      case operationFailed = "operation failed"
      case backendUnavailable = "backend unavailable"
      case timedOut = "timed out"
    }
    fileprivate let base: Base

    /// The module path names no file (checked with `stat` before anything is loaded).
    public static let moduleNotFound = Code(base: .moduleNotFound)
    /// The file is not an ELF shared object (checked before `dlopen`).
    public static let notASharedObject = Code(base: .notASharedObject)
    /// The shared object has no `C_GetFunctionList` (checked with `dlsym` before libp11 sees it).
    public static let noFunctionList = Code(base: .noFunctionList)
    /// A URI named a module that the caller's ``PKCS11ModulePolicy`` does not allow.
    public static let moduleNotAllowed = Code(base: .moduleNotAllowed)
    /// `dlopen` or `PKCS11_CTX_load` (`C_Initialize`) failed; see ``returnValue``.
    public static let moduleLoadFailed = Code(base: .moduleLoadFailed)
    /// A URI named no module (neither `module-path` nor `module-name`) and none was given.
    public static let noModule = Code(base: .noModule)
    /// No token or object matched the URI; ``PKCS11Error/detail`` lists what there is.
    public static let noMatch = Code(base: .noMatch)
    /// Several tokens or objects matched where one was wanted; the detail lists them.
    public static let multipleMatches = Code(base: .multipleMatches)
    /// The URI asks for something libp11 0.4.12 cannot match (`library-version`,
    /// `type=secret-key`, `type=data`, vendor path attributes) or for a `pin-source` we do not read.
    public static let unsupported = Code(base: .unsupported)
    /// The PIN cannot be used (it contains a NUL byte, which the C API would cut it at).
    public static let invalidPIN = Code(base: .invalidPIN)
    /// The object needs a login and no PIN was given.
    public static let pinRequired = Code(base: .pinRequired)
    /// `C_Login` failed; ``returnValue`` says why (`CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`, ...).
    public static let loginFailed = Code(base: .loginFailed)
    /// The token is already logged in with a PIN it accepted, and this PIN differs from it.
    /// libp11 0.4.12 would report success without asking the token; we refuse instead.
    public static let pinMismatch = Code(base: .pinMismatch)
    /// The token was logged in by code outside this library, so a PIN cannot be checked.
    public static let loggedInElsewhere = Code(base: .loggedInElsewhere)
    /// Another libp11 call failed; ``returnValue`` and ``openSSLError`` say why.
    public static let operationFailed = Code(base: .operationFailed)
    /// The backend asked for cannot work here: pkcs11-provider is not installed, or libp11 links
    /// another OpenSSL than this process (OpenSSL 4.0 with Debian's libp11).
    public static let backendUnavailable = Code(base: .backendUnavailable)
    /// pkcs11-provider or the module did not answer within ``PKCS11LoadOptions/providerTimeout``.
    public static let timedOut = Code(base: .timedOut)

    /// A readable description.
    public var description: String { base.rawValue }
  }

  /// What went wrong.
  public let code: Code
  /// The module's return value, when the failure came from the module (or libp11's own reason).
  public let returnValue: PKCS11ReturnValue?
  /// The module's path.
  public let module: String?
  /// The token's label.
  public let token: String?
  /// The object: its label and id, or the URI that was searched for (without PIN).
  public let object: String?
  /// The facts of the case in a sentence or two.
  public let detail: String
  /// Everything OpenSSL's error queue held for the failing call, when it was a libp11 call.
  public let openSSLError: OpenSSLError?

  /// Makes an error value. When `returnValue` is `nil`, the newest return value among
  /// `openSSLError`'s entries is taken.
  public init(
    _ code: Code,
    returnValue: PKCS11ReturnValue? = nil,
    module: String? = nil,
    token: String? = nil,
    object: String? = nil,
    detail: String,
    openSSLError: OpenSSLError? = nil
  ) {
    self.code = code
    self.returnValue = returnValue ?? openSSLError.flatMap(PKCS11ReturnValue.last(in:))
    self.module = module
    self.token = token
    self.object = object
    self.detail = detail
    self.openSSLError = openSSLError
  }

  /// A readable description: the code, the return value, the detail and where it happened.
  public var description: String {
    var text = "PKCS#11: \(code)"
    if let returnValue { text += ": \(returnValue)" }
    if !detail.isEmpty { text += ": \(detail)" }
    var places: [String] = []
    if let object { places.append("object \(object)") }
    if let token { places.append("token \"\(token)\"") }
    if let module { places.append("module \(module)") }
    if !places.isEmpty { text += " [" + places.joined(separator: ", ") + "]" }
    return text
  }
}

extension PKCS11Error {
  /// Explains a failed operation of a token key (a signature the token refused, a context-specific
  /// login that got no PIN): the `CKR_` value libp11 queued, and the key's module, token and
  /// object (from its ex_data, `PKCS11ObjectOrigin`). `nil` when `key` did not come from a token.
  public init?(explaining error: InputError, key: PrivateKey) {
    guard let origin = key.pkcs11Origin else { return nil }
    self.init(
      .operationFailed, module: origin.modulePath, token: origin.token, object: origin.object.description,
      detail: "the token key's operation failed: \(error.detail)", openSSLError: error.openSSLError)
  }
}
