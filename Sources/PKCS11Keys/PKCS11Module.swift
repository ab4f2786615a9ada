import CLibP11
import COpenSSLFull
public import OpenSSLObjects

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// A PIN: secret bytes in a noncopyable buffer that is wiped when it goes away, never a `String`.
public typealias PIN = SecretBytes

/// A loaded PKCS#11 module: one libp11 context (`PKCS11_CTX`) with the module loaded into it and
/// its slots enumerated once.
///
/// **Lifetime.** libp11 0.4.12 crashes when a token key signs after its module context was
/// unloaded, and when a context whose load failed is unloaded. So the module stays loaded as long
/// as anything needs it: this object, every ``PKCS11Token`` (which holds it), and every key and
/// certificate made from the token, whose C object (`EVP_PKEY`, `X509`) holds a reference to this
/// module in its own ex_data, released by the ex_data free callback when OpenSSL frees it. That
/// includes keys that C code holds (an `SSL_CTX`, a handed-over pointer) after Swift let go. When
/// the last reference goes, `deinit` releases the slots (`PKCS11_release_all_slots`), unloads
/// (`PKCS11_CTX_unload`: `C_Finalize`, `dlclose`) and frees the context (`PKCS11_CTX_free`). After
/// a failed load only `PKCS11_CTX_free` runs.
///
/// **One context per module file.** `C_Initialize` and `C_Finalize` act on the whole process, so
/// two contexts for the same module would finalize each other. ``load(path:)`` therefore returns
/// the module already loaded from the same file (compared by canonical path) while it is alive,
/// and waits for an unload in progress to finish before loading it again.
///
/// **Threads.** The object is `Sendable`: calls into libp11 other than signing (listing, login,
/// finding objects) are serialized by a lock of its own. Keys sign from any number of threads at
/// once (libp11 keeps a pool of sessions).
///
/// **Fork.** libp11 registers `pthread_atfork` handlers and notices a new process ID on the next
/// call: in a child it calls `C_Initialize` again, reopens its sessions and logs in again with the
/// copy of the PIN that it keeps (in its own memory, not wiped by us, until this context is
/// freed). So keys keep working in a child. Our own lock and registry are copied with the process:
/// fork only while no other thread is loading, unloading or logging in, as POSIX requires for any
/// multithreaded program that does more than `exec` after `fork`.
///
/// **Prompts.** Keys with `CKA_ALWAYS_AUTHENTICATE` need a PIN for each signature. libp11 asks a
/// `UI_METHOD` for it; this class installs its own (`PKCS11_set_ui_method`) on every context before
/// anything else, so nothing ever prompts on a terminal: the PIN comes from
/// ``setContextSpecificPIN(_:)``, or the signature fails (`P11_R_UI_FAILED`).
@safe
public final class PKCS11Module: @unchecked Sendable {
  // Immutable after init, apart from the state guarded by `lock`.

  /// The module file's canonical path (symbolic links resolved, `realpath`).
  public let path: String
  /// The module's manufacturer (`CK_INFO.manufacturerID`, as libp11's `PKCS11_CTX.manufacturer`).
  public let libraryManufacturer: String
  /// The module's description (`CK_INFO.libraryDescription`, as `PKCS11_CTX.description`).
  public let libraryDescription: String

  let context: UnsafeMutablePointer<PKCS11_CTX>
  let slots: UnsafeMutablePointer<PKCS11_SLOT>?
  let slotCount: Int
  private let handle: UnsafeMutableRawPointer
  private let registration: UInt64

  /// Serializes libp11 calls (other than signing) and guards the state below.
  let lock = CryptoLock()
  private var verifiedPINs: [UInt: [UInt8]] = [:]
  private let salt: [UInt8]
  private var contextSpecificPINHandler: (@Sendable (String) -> PIN?)?

  // MARK: - Loading

  /// Loads the module at `path`, or returns the one already loaded from the same file.
  ///
  /// Before anything runs the module's code, the file is checked: `stat` (a missing file), the ELF
  /// magic number (not a shared object), then `dlopen` and `dlsym("C_GetFunctionList")` (no
  /// PKCS#11 entry point). Only then does libp11 load it (`PKCS11_CTX_new`, `PKCS11_set_ui_method`,
  /// `PKCS11_CTX_load`, `PKCS11_enumerate_slots`). libp11 itself reports all three cases as one
  /// error, and prints to stderr.
  ///
  /// A path given here is the caller's own choice and is loaded without a policy check; modules
  /// named by a URI go through ``load(for:options:)``, which applies a ``PKCS11ModulePolicy``.
  ///
  /// - Throws: ``PKCS11Error`` with ``PKCS11Error/Code/moduleNotFound``,
  ///   ``PKCS11Error/Code/notASharedObject``, ``PKCS11Error/Code/noFunctionList`` or
  ///   ``PKCS11Error/Code/moduleLoadFailed`` (with the `CKR_` value of a failed `C_Initialize`).
  public static func load(path: String) throws(PKCS11Error) -> PKCS11Module {
    let canonical = try ModuleFile.canonicalPath(path)
    try ModuleFile.checkIsSharedObject(canonical)
    return try ModuleRegistry.shared.module(for: canonical) { (registration) throws(PKCS11Error) in
      try PKCS11Module(loading: canonical, registration: registration)
    }
  }

  /// The canonical paths of the modules loaded in this process now, through this library.
  public static var loadedModulePaths: [String] { ModuleRegistry.shared.loadedPaths }

  private init(loading path: String, registration: UInt64) throws(PKCS11Error) {
    func failure(_ code: PKCS11Error.Code, _ detail: String, _ error: OpenSSLError? = nil) -> PKCS11Error {
      PKCS11Error(code, module: path, detail: detail, openSSLError: error)
    }
    // dlopen runs the module's constructors: this is where its code first runs. Keep our handle
    // open until the context is gone, so that the file cannot be swapped between check and load.
    guard let handle = unsafe dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      let reason = unsafe dlerror().map { unsafe String(cString: $0) } ?? "dlopen failed"
      throw failure(.moduleLoadFailed, "dlopen refused the shared object: \(reason)")
    }
    guard unsafe dlsym(handle, "C_GetFunctionList") != nil else {
      unsafe dlclose(handle)
      throw failure(
        .noFunctionList, "the shared object has no C_GetFunctionList, so it is not a PKCS#11 module")
    }
    let loaded = unsafe ErrorQueue.isolated { scope -> Result<UnsafeMutablePointer<PKCS11_CTX>, PKCS11Error> in
      guard let context = unsafe PKCS11_CTX_new() else {
        return unsafe .failure(failure(.moduleLoadFailed, "PKCS11_CTX_new failed", scope.failure("PKCS11_CTX_new")))
      }
      // Before anything else: never let libp11 fall back to a terminal prompt.
      _ = unsafe PKCS11_set_ui_method(context, ContextSpecificLogin.method, nil)
      if unsafe PKCS11_CTX_load(context, path) != 0 {
        let error = scope.failure("PKCS11_CTX_load")
        // libp11 0.4.12 crashes in PKCS11_CTX_unload after a failed load: free the context only.
        unsafe PKCS11_CTX_free(context)
        return unsafe .failure(
          failure(.moduleLoadFailed, "PKCS11_CTX_load failed (C_GetFunctionList or C_Initialize)", error))
      }
      return unsafe .success(context)
    }
    guard case .success(let context) = unsafe loaded else {
      unsafe dlclose(handle)
      if case .failure(let error) = unsafe loaded { throw error }
      fatalError("unreachable")
    }
    var slots: UnsafeMutablePointer<PKCS11_SLOT>? = nil
    var count: UInt32 = 0
    let enumerated = ErrorQueue.isolated { scope -> OpenSSLError? in
      unsafe PKCS11_enumerate_slots(context, &slots, &count) == 0 ? nil : scope.failure("PKCS11_enumerate_slots")
    }
    if let enumerated {
      ErrorQueue.isolated { _ in
        unsafe PKCS11_CTX_unload(context)
        unsafe PKCS11_CTX_free(context)
      }
      unsafe dlclose(handle)
      throw failure(.moduleLoadFailed, "the module loaded but listing its slots failed", enumerated)
    }
    self.path = path
    unsafe self.context = unsafe context
    unsafe self.handle = unsafe handle
    unsafe self.slots = unsafe slots
    self.slotCount = Int(count)
    self.libraryManufacturer = unsafe context.pointee.manufacturer.map { unsafe String(cString: $0) } ?? ""
    self.libraryDescription = unsafe context.pointee.description.map { unsafe String(cString: $0) } ?? ""
    var salt = [UInt8](repeating: 0, count: 32)
    _ = ErrorQueue.isolated { _ in unsafe RAND_bytes(&salt, Int32(salt.count)) }
    self.salt = salt
    self.registration = registration
    // The UI method's user data is this object, unretained: the UI method only runs while a key
    // signs, and every key holds this module.
    _ = ErrorQueue.isolated { _ in
      unsafe PKCS11_set_ui_method(context, ContextSpecificLogin.method, Unmanaged.passUnretained(self).toOpaque())
    }
  }

  /// The registration number the registry knows this module by.
  var registrationNumber: UInt64 { registration }

  /// The module's own function list (`C_GetFunctionList`), for the few calls whose results libp11
  /// 0.4.12 hides (``PKCS11Token/login(pin:)``); `nil` if the module gives none. It belongs to the
  /// module and lives as long as the module stays loaded, which this object ensures.
  var functionList: UnsafePointer<oo_ck_function_list>? {
    unsafe oo_ck_function_list_of(dlsym(handle, "C_GetFunctionList"))
  }

  deinit {
    let context = unsafe context
    let slots = unsafe slots
    let slotCount = slotCount
    let handle = unsafe handle
    ModuleRegistry.shared.unloading(path, registration: registration) {
      ErrorQueue.isolated { _ in
        if let slots = unsafe slots { unsafe PKCS11_release_all_slots(context, slots, UInt32(slotCount)) }
        unsafe PKCS11_CTX_unload(context)
        unsafe PKCS11_CTX_free(context)
      }
      unsafe dlclose(handle)
    }
  }

  // MARK: - Slots and tokens

  /// The slots as enumerated when the module was loaded (`PKCS11_enumerate_slots`), with their
  /// tokens' information.
  public var slotInfos: [PKCS11SlotInfo] {
    lock.withLock { (0..<slotCount).map { unsafe PKCS11SlotInfo(slots! + $0) } }
  }

  /// The tokens present in the slots, initialized or not.
  public var tokens: [PKCS11Token] {
    lock.withLock {
      (0..<slotCount).compactMap { index -> PKCS11Token? in
        let slot = unsafe slots! + index
        guard unsafe slot.pointee.token != nil else { return nil }
        return unsafe PKCS11Token(module: self, slot: slot)
      }
    }
  }

  // MARK: - Context-specific login

  /// Sets what answers libp11 when a key with `CKA_ALWAYS_AUTHENTICATE` needs the PIN again for a
  /// signature (through the `UI_METHOD` given to `PKCS11_set_ui_method`). `handler` gets libp11's
  /// prompt, which names the key's label, and returns the PIN, or `nil` to let the signature fail.
  /// `nil` removes the handler. The handler runs on the signing thread, inside OpenSSL.
  public func setContextSpecificPIN(_ handler: (@Sendable (_ prompt: String) -> PIN?)?) {
    lock.withLock { contextSpecificPINHandler = handler }
  }

  /// Sets `handler` only if none is set.
  func setContextSpecificPINIfUnset(_ handler: @escaping @Sendable (String) -> PIN?) {
    lock.withLock {
      if contextSpecificPINHandler == nil { contextSpecificPINHandler = handler }
    }
  }

  func contextSpecificPIN(prompt: String) -> PIN? {
    let handler = lock.withLock { contextSpecificPINHandler }
    return handler?(prompt)
  }

  // MARK: - Login bookkeeping

  /// A salted SHA-256 of a PIN the token accepted, so that a later login can be checked against it
  /// without keeping the PIN itself.
  func fingerprint(of pin: borrowing PIN) -> [UInt8] {
    let salt = salt
    return unsafe pin.withUnsafeBytes { bytes in
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: salt.count + bytes.count, alignment: 1)
      defer {
        unsafe OPENSSL_cleanse(buffer.baseAddress, buffer.count)
        unsafe buffer.deallocate()
      }
      unsafe buffer.copyBytes(from: salt)
      if bytes.count > 0 {
        unsafe UnsafeMutableRawBufferPointer(rebasing: buffer[salt.count...]).copyMemory(from: bytes)
      }
      var digest = [UInt8](repeating: 0, count: 32)
      var length: UInt32 = 0
      _ = ErrorQueue.isolated { _ in
        unsafe EVP_Digest(buffer.baseAddress, buffer.count, &digest, &length, EVP_sha256(), nil)
      }
      return digest
    }
  }

  /// The fingerprint of the PIN the token in `slotID` accepted through this module. Call with
  /// `lock` held.
  func verifiedPIN(slotID: UInt) -> [UInt8]? { verifiedPINs[slotID] }

  /// Records the PIN the token in `slotID` accepted. Call with `lock` held.
  func recordVerifiedPIN(_ fingerprint: [UInt8], slotID: UInt) { verifiedPINs[slotID] = fingerprint }
}

extension PKCS11Module: CustomStringConvertible {
  /// The path and the library's description.
  public var description: String {
    "PKCS11Module(\(path): \(libraryManufacturer) \(libraryDescription))"
  }
}

// MARK: - Checking a module file before it runs

/// Checks on a module file that run none of its code.
enum ModuleFile {
  /// The canonical path (`realpath`) of an existing file.
  static func canonicalPath(_ path: String) throws(PKCS11Error) -> String {
    var info = stat()
    guard unsafe stat(path, &info) == 0 else {
      let reason = unsafe String(cString: strerror(errno))
      throw PKCS11Error(.moduleNotFound, module: path, detail: "the module file cannot be found: \(reason)")
    }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      throw PKCS11Error(.notASharedObject, module: path, detail: "the module path is a directory")
    }
    guard let resolved = unsafe realpath(path, nil) else {
      let reason = unsafe String(cString: strerror(errno))
      throw PKCS11Error(.moduleNotFound, module: path, detail: "the module path cannot be resolved: \(reason)")
    }
    defer { unsafe free(resolved) }
    return unsafe String(cString: resolved)
  }

  /// Checks the ELF magic number at the start of the file.
  static func checkIsSharedObject(_ path: String) throws(PKCS11Error) {
    let fd = unsafe open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      let reason = unsafe String(cString: strerror(errno))
      throw PKCS11Error(.moduleNotFound, module: path, detail: "the module file cannot be opened: \(reason)")
    }
    defer { close(fd) }
    var header = [UInt8](repeating: 0, count: 18)
    let count = unsafe read(fd, &header, header.count)
    // e_ident starts with 0x7F 'E' 'L' 'F'; e_type (bytes 16-17) is ET_DYN (3) for shared objects.
    let isELF = count >= 18 && header[0] == 0x7F && header[1] == 0x45 && header[2] == 0x4C && header[3] == 0x46
    guard isELF else {
      throw PKCS11Error(
        .notASharedObject, module: path, detail: "the file is not an ELF shared object (no ELF header)")
    }
    let type =
      header[5] == 2 ? UInt16(header[16]) << 8 | UInt16(header[17]) : UInt16(header[17]) << 8 | UInt16(header[16])
    guard type == 3 else {
      throw PKCS11Error(
        .notASharedObject, module: path, detail: "the file is an ELF file but not a shared object (e_type \(type))")
    }
  }
}

// MARK: - One context per module file

/// The modules loaded through this library, by canonical path, with waiting for unloads in
/// progress (`C_Finalize` acts on the whole process; see ``PKCS11Module``).
@safe
final class ModuleRegistry: @unchecked Sendable {
  static let shared = ModuleRegistry()

  private struct Entry {
    weak var module: PKCS11Module?
    let registration: UInt64
  }

  // Guarded by `mutex`; `condition` signals that an entry went away.
  private var entries: [String: Entry] = [:]
  private var counter: UInt64 = 0
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

  private init() {
    unsafe pthread_mutex_init(mutex, nil)
    unsafe pthread_cond_init(condition, nil)
  }

  var loadedPaths: [String] {
    unsafe pthread_mutex_lock(mutex)
    defer { unsafe pthread_mutex_unlock(mutex) }
    return entries.keys.sorted()
  }

  /// The live module for `path`, or a new one from `load`, which runs with the registry locked.
  func module(
    for path: String, load: (_ registration: UInt64) throws(PKCS11Error) -> PKCS11Module
  ) throws(PKCS11Error) -> PKCS11Module {
    unsafe pthread_mutex_lock(mutex)
    defer { unsafe pthread_mutex_unlock(mutex) }
    while let entry = entries[path] {
      if let module = entry.module { return module }
      // The module is being unloaded on another thread: wait until it is gone.
      unsafe pthread_cond_wait(condition, mutex)
    }
    counter += 1
    let module = try load(counter)
    entries[path] = Entry(module: module, registration: module.registrationNumber)
    return module
  }

  /// Runs a module's unload with the registry locked, then forgets the module.
  func unloading(_ path: String, registration: UInt64, _ unload: () -> Void) {
    unsafe pthread_mutex_lock(mutex)
    defer { unsafe pthread_mutex_unlock(mutex) }
    unload()
    if entries[path]?.registration == registration { entries[path] = nil }
    unsafe pthread_cond_broadcast(condition)
  }
}

// MARK: - The UI method for CKA_ALWAYS_AUTHENTICATE keys

/// The `UI_METHOD` given to every context: it answers PIN prompts from the module's handler and
/// never touches a terminal.
enum ContextSpecificLogin {
  /// Created once for the process (`UI_create_method`, `UI_method_set_reader`) and never freed.
  nonisolated(unsafe) static let method: OpaquePointer? = {
    let method = unsafe UI_create_method("OpenSSLObjects PKCS#11")
    _ = unsafe UI_method_set_reader(method, reader)
    return unsafe method
  }()

  /// Answers one UI string: prompts get the module's PIN; anything else is accepted unanswered.
  private static let reader: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ui, string in
    guard let ui = unsafe ui, let string = unsafe string else { return 0 }
    let type = unsafe UI_get_string_type(string)
    guard type == UIT_PROMPT || type == UIT_VERIFY else { return 1 }
    // No module (a prompt before the context was set up) means no PIN: fail, never prompt.
    guard let data = unsafe UI_get0_user_data(ui) else { return 0 }
    let module = unsafe Unmanaged<PKCS11Module>.fromOpaque(data).takeUnretainedValue()
    let prompt = unsafe UI_get0_output_string(string).map { unsafe String(cString: $0) } ?? ""
    guard let pin = module.contextSpecificPIN(prompt: prompt), !pin.containsNUL else { return 0 }
    return unsafe pin.withUnsafeBytes { bytes in
      // UI_set_result_ex copies the bytes into the UI's own buffer; it never reads past `count`.
      guard let start = unsafe bytes.baseAddress?.assumingMemoryBound(to: CChar.self) else { return 0 }
      return unsafe UI_set_result_ex(ui, string, start, Int32(bytes.count)) == 0 ? 1 : 0
    }
  }
}
