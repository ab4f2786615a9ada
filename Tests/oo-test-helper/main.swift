// Child-process scenarios for the test suite. Each scenario prints what it observed; the tests
// assert on the output and the exit status.
//
//   oo-test-helper ownership          free counts for types without ex_data (X509_CRL, X509_NAME),
//                                     from OpenSSL's own allocation counts
//   oo-test-helper pkcs12 FILE PASS   reads a PKCS#12 file; prints the error on failure
//   oo-test-helper system-store FILE  verifies a chain against X509Store.system (SSL_CERT_FILE)
//   oo-test-helper system-store-contents CERT
//                                     the number of anchors in X509Store.system, then tries to add CERT
//   oo-test-helper tls-defaults PORT  our contexts' settings under OPENSSL_CONF, and a handshake
//   oo-test-helper ocsp-fetch direct|environment LEAF ISSUER
//                                     asks the leaf's OCSP responder (loopback allowed) with the
//                                     default proxy setting or .environment, under the proxy
//                                     variables the test set; prints the status or the error
//   oo-test-helper pkcs11-login MODULE TOKEN PINFILE
//                                     one login in a fresh process (wrong-PIN cases)
//   oo-test-helper pkcs11-lifetime MODULE URI
//                                     a token key outlives every other Swift reference and then
//                                     Swift itself (C holds it); the module unloads only after
//   oo-test-helper pkcs11-load MODULE URI [PIN]
//                                     loads a token key, with a PIN closure answering PIN if given
//   oo-test-helper pkcs11-logged-in-elsewhere MODULE TOKEN PINFILE URI
//                                     other code logs the token in (MODULE is the forwarding module
//                                     of Tests/PKCS11C), then our logins with a wrong and the right PIN
//   oo-test-helper pkcs11-certificate-lifetime MODULE URI
//                                     a token certificate held only by C keeps the module loaded
//   oo-test-helper pkcs11-failed-load MODULE
//                                     a load that fails (C_Initialize) frees only the context
//   oo-test-helper pkcs11-no-pin MODULE URI
//                                     a private key without a PIN on a token that needs a login
//   oo-test-helper pkcs11-fork URI     a token key signs in a forked child and in the parent
//   oo-test-helper pkcs11-no-context-pin MODULE URI
//                                     a CKA_ALWAYS_AUTHENTICATE key whose PIN handler answers
//                                     nothing: the signature fails, and nothing prompts
//   oo-test-helper pkcs11-provider MODULE URI CERT-URI
//                                     the provider backend (pkcs11-provider) in a fresh process:
//                                     a TLS context made before the provider is loaded, then the
//                                     key and certificate, a signature, a handshake with the key,
//                                     a key of another library context refused, and the errors
//                                     of a wrong PIN, no PIN and a module the policy forbids
//   oo-test-helper pkcs11-provider-context MODULE URI CERT-URI
//                                     the provider backend in a library context of its own
//   oo-test-helper pkcs11-provider-pin MODULE URI
//                                     one provider backend load in a fresh process (PIN errors)
//   oo-test-helper pkcs11-provider-timeout MODULE URI
//                                     the provider backend and a module that never answers
//   oo-test-helper pkcs11-automatic MODULE URI [libp11-module]
//                                     a load with the default backend (and, with the third
//                                     argument, with a libp11 PKCS11Module given): which backend
//                                     it took, read from the key and the default context
//   oo-test-helper no-prompt PKCS8.pem TRADITIONAL.pem MODULE URI
//                                     run on a terminal: encrypted keys without a passphrase
//                                     closure, and a CKA_ALWAYS_AUTHENTICATE key without a PIN
//                                     handler, fail without prompting; then what is still unread
//                                     on the terminal
//   oo-test-helper address-reuse      OpenSSL's allocator hands back the last freed block of a
//                                     size: a new X509_STORE and SSL_CTX get the addresses of
//                                     freed ones, which were frozen, in use, and made a session
//   oo-test-helper secrets-freed PLAIN.pem ENCRYPTED.pem PASSFILE URIFILE
//                                     under LD_PRELOAD of Tests/CapsuleC/free_scan.c: loads keys
//                                     from files (one with a passphrase read from a file),
//                                     exports one, parses a URI with pin-value, and lets all of
//                                     it go while every freed block is searched for the secrets

import COpenSSLFull
import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport

// MARK: - Allocation counting through CRYPTO_set_mem_functions

nonisolated(unsafe) var liveAllocations = 0

let countingMalloc: @convention(c) (Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = { size, _, _ in
  let pointer = malloc(size)
  if pointer != nil { liveAllocations += 1 }
  return pointer
}
let countingRealloc:
  @convention(c) (UnsafeMutableRawPointer?, Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
    pointer, size, _, _ in
    if pointer == nil {
      let fresh = realloc(nil, size)
      if fresh != nil { liveAllocations += 1 }
      return fresh
    }
    return realloc(pointer, size)
  }
let countingFree: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int32) -> Void = { pointer, _, _ in
  if pointer != nil { liveAllocations -= 1 }
  free(pointer)
}

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("FAIL \(message)\n".utf8))
  exit(1)
}

/// Runs `scenario` twice (the first run fills OpenSSL's lazy caches) and checks that the second
/// leaves the live allocation count where it found it; `scenario` reports its own checkpoints.
func measured(_ name: String, _ scenario: (_ checkpoint: (String, Bool) -> Void) throws -> Void) throws {
  try scenario { _, _ in }
  let baseline = liveAllocations
  try scenario { label, expectHeld in
    let held = liveAllocations > baseline
    if held != expectHeld {
      fail(
        "\(name) \(label): expected the object \(expectHeld ? "alive" : "freed"), live allocations \(liveAllocations - baseline)"
      )
    }
  }
  if liveAllocations != baseline { fail("\(name): \(liveAllocations - baseline) allocations left") }
  print("\(name) ok")
}

func ownership() throws {
  let key = try PrivateKey(generating: .ec(.p256))
  var builder = CertificateBuilder(subject: try X509Name(["CN": "Helper CA"]))
  builder.basicConstraints = BasicConstraints(isCA: true)
  let ca = try builder.sign(with: key)
  let crlDER = try CRLBuilder(revoked: [RevokedCertificate(serialNumber: SerialNumber(7), revocationDate: Date())])
    .sign(with: key, issuerCertificate: ca).derEncoded

  // X509_CRL: hand over, then C frees last.
  try measured("X509_CRL hand-over") { checkpoint in
    var pointer: OpenSSLPointer<X509CRL>? = nil
    do {
      let crl = try X509CRL(derEncoded: crlDER)
      pointer = try crl.retainedPointer()
    }
    checkpoint("after Swift released", true)
    X509_CRL_free(pointer!.raw)
    checkpoint("after C released", false)
  }
  // X509_CRL: retain a C-owned object, C frees first.
  try measured("X509_CRL retain") { checkpoint in
    let raw = crlDER.withUnsafeBufferPointer { buffer -> OpaquePointer in
      var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509_CRL(nil, &cursor, buffer.count)!
    }
    do {
      let crl = try X509CRL(retaining: OpenSSLPointer(raw))
      X509_CRL_free(raw)
      checkpoint("after C released", true)
      _ = crl.issuer
    }
    checkpoint("after Swift released", false)
  }
  // X509_CRL: adopt.
  try measured("X509_CRL adopt") { checkpoint in
    let raw = crlDER.withUnsafeBufferPointer { buffer -> OpaquePointer in
      var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509_CRL(nil, &cursor, buffer.count)!
    }
    do {
      let crl = X509CRL(takingOwnershipOf: OpenSSLPointer(raw))
      checkpoint("while Swift holds", true)
      _ = crl.thisUpdate
    }
    checkpoint("after Swift released", false)
  }
  // X509_NAME: copy door, C frees its copy.
  try measured("X509_NAME copy") { checkpoint in
    var copy: OpenSSLPointer<X509Name>? = nil
    do {
      let name = try X509Name(["CN": "copy"])
      copy = try name.copiedPointer()
    }
    checkpoint("after Swift released", true)
    X509_NAME_free(copy!.raw)
    checkpoint("after C released", false)
  }
  // X509_NAME: copying a C-owned name leaves C's untouched.
  try measured("X509_NAME copying init") { checkpoint in
    let raw = X509_NAME_new()!
    do {
      let name = try X509Name(copying: OpenSSLPointer(raw))
      X509_NAME_free(raw)
      checkpoint("after C released", true)
      _ = name.rfc2253
    }
    checkpoint("after Swift released", false)
  }
}

// MARK: - PKCS#11

func allowing(_ module: String) -> PKCS11LoadOptions {
  PKCS11LoadOptions(modulePolicy: .allowList([module]), backend: .libp11)
}

/// Signs with the raw EVP_PKEY, as C code holding the key would (EVP_DigestSign).
func signWithRawKey(_ key: OpaquePointer, _ message: [UInt8]) -> [UInt8]? {
  let context = EVP_MD_CTX_new()!
  defer { EVP_MD_CTX_free(context) }
  guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else { return nil }
  var length = 0
  guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else { return nil }
  var signature = [UInt8](repeating: 0, count: length)
  guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else { return nil }
  return Array(signature[0..<length])
}

func pkcs11Login(module path: String, token label: String, pinFile: String) {
  do {
    let module = try PKCS11Module.load(path: path)
    var uri = PKCS11URI()
    uri.token = label
    let token = try module.token(matching: uri)
    let pin = try PIN.read(fromFile: pinFile)
    try token.login(pin: pin)
    print("logged in to \(token.label)")
  } catch let error as PKCS11Error {
    print("login failed: \(error.returnValue?.name ?? "-") code=\(error.code)")
    print("message: \(error)")
    exit(3)
  } catch {
    fail("\(error)")
  }
}

func pkcs11Lifetime(module: String, uri: String) throws {
  let message = Array("lifetime".utf8)
  var key: PrivateKey? = try PrivateKey(pkcs11: uri, options: allowing(module))
  // Only the key is left on the Swift side: no module or token object.
  guard PKCS11Module.loadedModulePaths.count == 1 else { fail("the module is not loaded while a key lives") }
  let publicKey = try key!.publicKey
  let first = try key!.signature(for: message)
  guard try publicKey.isValidSignature(first, for: message) else { fail("signature does not verify") }
  print("signed while Swift holds the key")
  // Hand the key to "C code" and let Swift go.
  let raw = try key!.retainedPointer()
  key = nil
  guard PKCS11Module.loadedModulePaths.count == 1 else { fail("the module unloaded while C holds a key") }
  guard let second = signWithRawKey(raw.raw, message), try publicKey.isValidSignature(second, for: message) else {
    fail("C could not sign with the key it holds")
  }
  print("signed while only C holds the key")
  EVP_PKEY_free(raw.raw)
  guard PKCS11Module.loadedModulePaths.isEmpty else {
    fail("the module is still loaded after the last key: \(PKCS11Module.loadedModulePaths)")
  }
  print("module unloaded after the last key")
}

func pkcs11FailedLoad(module: String) {
  do {
    _ = try PKCS11Module.load(path: module)
    fail("the module loaded")
  } catch {
    print("load failed: \(error.returnValue?.name ?? "-") code=\(error.code)")
    guard PKCS11Module.loadedModulePaths.isEmpty else { fail("a failed module is registered") }
    guard ERR_peek_error() == 0 else { fail("errors left on OpenSSL's queue") }
    print("context freed")
  }
}

/// Loads the private key `uri` names from `module` (allowed), with a PIN closure answering `pin`
/// when given; prints what happened.
func pkcs11Load(module: String, uri: String, pin: String?) {
  var options = allowing(module)
  if let pin { options.pin = { PIN(Array(pin.utf8)) } }
  do {
    _ = try PrivateKey(pkcs11: uri, options: options)
    print("loaded")
  } catch let error as PKCS11Error {
    print("failed: code=\(error.code) rv=\(error.returnValue?.name ?? "-")")
    exit(3)
  } catch {
    fail("\(error)")
  }
}

/// Other code logs the token in first (`forwarding_login_elsewhere` of
/// Tests/PKCS11C/forwarding_module.c, straight through the real module); then our logins, with a
/// wrong PIN and with the right one, and a key whose URI carries the right PIN.
func pkcs11LoggedInElsewhere(module: String, token label: String, pinFile: String, uri: String) throws {
  typealias LoginElsewhere = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> UInt
  guard let handle = dlopen(module, RTLD_NOW), let symbol = dlsym(handle, "forwarding_login_elsewhere") else {
    fail("cannot load forwarding_login_elsewhere from \(module)")
  }
  let right = String(decoding: try Data(contentsOf: URL(fileURLWithPath: pinFile)), as: UTF8.self)
    .trimmingCharacters(in: .whitespacesAndNewlines)
  let status = unsafeBitCast(symbol, to: LoginElsewhere.self)(label, right)
  print("other code logged in: rv=\(status)")
  let pkcs11 = try PKCS11Module.load(path: module)
  var tokenURI = PKCS11URI()
  tokenURI.token = label
  let token = try pkcs11.token(matching: tokenURI)
  for (name, pin) in [("wrong", "999999"), ("right", right)] {
    do {
      try token.login(pin: PIN(Array(pin.utf8)))
      print("\(name) pin: logged in")
    } catch {
      print("\(name) pin: code=\(error.code) rv=\(error.returnValue?.name ?? "-")")
    }
  }
  do {
    _ = try PrivateKey(pkcs11: uri, options: allowing(module))
    print("uri pin: loaded")
  } catch let error as PKCS11Error {
    print("uri pin: code=\(error.code)")
  }
}

/// A token certificate that only C holds keeps its module loaded; the module unloads after it.
func pkcs11CertificateLifetime(module: String, uri: String) throws {
  var certificate: X509Certificate? = try X509Certificate(pkcs11: uri, options: allowing(module))
  guard PKCS11Module.loadedModulePaths.count == 1 else { fail("the module is not loaded while a certificate lives") }
  let subject = certificate!.subject.rfc2253
  print("loaded \(subject)")
  let raw = try certificate!.retainedPointer()
  certificate = nil
  guard PKCS11Module.loadedModulePaths.count == 1 else { fail("the module unloaded while C holds a certificate") }
  // C reads the certificate it holds.
  var buffer = [CChar](repeating: 0, count: 256)
  X509_NAME_oneline(X509_get_subject_name(raw.raw), &buffer, Int32(buffer.count))
  let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  print("C reads \(text) while only C holds the certificate")
  X509_free(raw.raw)
  guard PKCS11Module.loadedModulePaths.isEmpty else {
    fail("the module is still loaded after the last certificate: \(PKCS11Module.loadedModulePaths)")
  }
  print("module unloaded after the last certificate")
}

func pkcs11NoPIN(module: String, uri: String) {
  do {
    _ = try PrivateKey(pkcs11: uri, options: allowing(module))
    fail("a private key loaded without a PIN")
  } catch let error as PKCS11Error {
    print("no pin: code=\(error.code)")
  } catch {
    fail("\(error)")
  }
  do {
    let loaded = try PKCS11Module.load(path: module)
    let token = try loaded.token(matching: try PKCS11URI(parsing: uri))
    let kinds = Set(try token.objects().map(\.kind.rawValue))
    print("visible without login: \(kinds.sorted().joined(separator: ","))")
  } catch {
    fail("\(error)")
  }
}

func pkcs11Fork(uri: String) throws {
  let module = try PKCS11URI(parsing: uri).modulePath ?? ""
  let key = try PrivateKey(pkcs11: uri, options: allowing(module))
  let publicKey = try key.publicKey
  let message = Array("fork".utf8)
  let child = fork()
  if child == 0 {
    let ok = (try? publicKey.isValidSignature(try key.signature(for: message), for: message)) ?? false
    _exit(ok ? 0 : 7)
  }
  var status: Int32 = 0
  waitpid(child, &status, 0)
  guard status == 0 else { fail("the child could not sign (status \(status))") }
  print("child signed")
  guard try publicKey.isValidSignature(try key.signature(for: message), for: message) else {
    fail("the parent could not sign after fork")
  }
  print("parent signed")
}

func pkcs11NoContextPIN(module path: String, uri: String) throws {
  let module = try PKCS11Module.load(path: path)
  module.setContextSpecificPIN { prompt in
    print("asked: \(prompt)")
    return nil
  }
  let key = try PrivateKey(pkcs11: uri, options: PKCS11LoadOptions(module: module, backend: .libp11))
  do {
    _ = try key.signature(for: Array("refused".utf8))
    fail("signed without the context-specific PIN")
  } catch {
    guard let explained = PKCS11Error(explaining: error, key: key) else { fail("no explanation: \(error)") }
    print("sign failed: \(explained.returnValue?.name ?? "-")")
    print("message: \(explained)")
  }
}

// MARK: - Addresses reused

/// OpenSSL's allocations through CRYPTO_set_mem_functions, with freed blocks kept and handed back
/// last in, first out for the same size: what a real allocator does often, made certain.
enum ReusingAllocator {
  nonisolated(unsafe) static var sizes: [UnsafeMutableRawPointer: Int] = [:]
  nonisolated(unsafe) static var freed: [Int: [UnsafeMutableRawPointer]] = [:]
  static let lock = NSLock()

  static let allocate: @convention(c) (Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
    size, _, _ in
    lock.withLock {
      let pointer = freed[size]?.popLast() ?? malloc(max(size, 1))
      if let pointer { sizes[pointer] = size }
      return pointer
    }
  }
  static let reallocate:
    @convention(c) (UnsafeMutableRawPointer?, Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
      pointer, size, file, line in
      guard let pointer else { return allocate(size, file, line) }
      return lock.withLock {
        sizes[pointer] = nil
        let moved = realloc(pointer, max(size, 1))
        if let moved { sizes[moved] = size }
        return moved
      }
    }
  static let release: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int32) -> Void = {
    pointer, _, _ in
    guard let pointer else { return }
    lock.withLock {
      guard let size = sizes.removeValue(forKey: pointer) else { return free(pointer) }
      freed[size, default: []].append(pointer)
    }
  }
}

func addressReuse() throws {
  let old = try TestPKI()
  let other = try TestPKI()
  let server = try SSLContext(
    configuration: .server([CertificateChain(certificate: old.leaf, chain: [old.intermediate], privateKey: old.leafKey)]
    ))
  var oldStore: OpaquePointer? = nil
  var oldContext: OpaquePointer? = nil
  var session: SSLSession? = nil
  do {
    // A store trusting the old root, frozen by the context that takes it; the context in use;
    // a session made under them. Then all of it is freed.
    let store = X509Store()
    try store.add(old.root)
    var configuration = TLSConfiguration.client
    configuration.trust = .store(store)
    let context = try SSLContext(configuration: configuration)
    let client = try context.makeConnection(serverName: "www.example.test")
    let serverConnection = try server.makeConnection()
    try TLSPair.handshakeBlocking(client: client, server: serverConnection)
    try TLSPair.closeCleanly(client: client, server: serverConnection)
    session = client.session
    oldStore = store.withUnsafePointer { $0.raw }
    oldContext = context.withUnsafePointer { $0.raw }
    print("old store frozen \(store.isFrozen), old context in use \(context.isInUse)")
  }
  guard let session else { fail("no session") }
  // A new store and context, at the freed ones' addresses.
  let store = X509Store()
  print("store address reused \(store.withUnsafePointer { $0.raw } == oldStore)")
  print("new store frozen \(store.isFrozen)")
  try store.add(other.root)
  var configuration = TLSConfiguration.client
  configuration.trust = .store(store)
  let context = try SSLContext(configuration: configuration)
  print("context address reused \(context.withUnsafePointer { $0.raw } == oldContext)")
  print("new context in use \(context.isInUse)")
  // The new store trusts another root: the old session must not be resumed through it.
  let client = try context.makeConnection(serverName: "www.example.test")
  do {
    try client.setSession(session)
    print("setSession accepted")
  } catch let error as TLSSessionError {
    print("setSession refused \(error.reason)")
  }
  do {
    try TLSPair.handshakeBlocking(client: client, server: try server.makeConnection())
    print("handshake ok, resumed \(client.isSessionReused)")
  } catch {
    print("handshake failed: \(client.verificationError?.name ?? "\(error)")")
  }
}

// MARK: - Nothing prompts

func noPrompt(pkcs8: String, traditional: String, module: String, uri: String) throws {
  // This process has a controlling terminal, or the scenario proves nothing.
  let terminal = open("/dev/tty", O_RDWR | O_NOCTTY)
  guard terminal >= 0 else { fail("no controlling terminal") }
  defer { close(terminal) }
  for (name, path) in [("pkcs8", pkcs8), ("traditional", traditional)] {
    do {
      _ = try PrivateKey(contentsOfFile: path)
      print("\(name): loaded")
    } catch let error as InputError {
      print("\(name): \(error.reason)")
    }
  }
  // No context-specific PIN: no handler on the module, and the login PIN is not reused.
  let key = try PrivateKey(
    pkcs11: uri,
    options: PKCS11LoadOptions(
      module: try PKCS11Module.load(path: module), reuseLoginPINForContextSpecificLogin: false, backend: .libp11))
  do {
    _ = try key.signature(for: Array("prompt".utf8))
    print("sign: signed")
  } catch {
    print("sign failed: \(PKCS11Error(explaining: error, key: key)?.returnValue?.name ?? "\(error)")")
  }
  var unread: Int32 = 0
  guard ioctl(terminal, UInt(FIONREAD), &unread) == 0 else { fail("FIONREAD failed") }
  print("terminal unread \(unread)")
}

// MARK: - Secrets in freed memory

/// The scan's control functions, from the preloaded free_scan.so.
func freeScanFunction(_ name: String) -> @convention(c) () -> Void {
  // RTLD_DEFAULT: the process and everything loaded into it.
  guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
    fail("\(name) not found: free_scan.so is not preloaded")
  }
  return unsafeBitCast(symbol, to: (@convention(c) () -> Void).self)
}

func secretsFreed(plainKey: String, encryptedKey: String, passphraseFile: String, uriFile: String) throws {
  let start = freeScanFunction("oo_free_scan_start")
  let stop = freeScanFunction("oo_free_scan_stop")
  // The caller's own String (out of the library's reach); it lives past the scan.
  let uriText = try String(contentsOfFile: uriFile, encoding: .utf8)
  start()
  do {
    // A block freed without wiping, the canary: the search sees this process's frees.
    let canary = Array("oo-canary-unwiped-block".utf8)
    let block = UnsafeMutablePointer<UInt8>.allocate(capacity: canary.count)
    block.initialize(from: canary, count: canary.count)
    block.deallocate()

    let passphrase = try Passphrase.read(fromFile: passphraseFile)
    let encrypted = try PrivateKey(contentsOfFile: encryptedKey, passphrase: passphrase)
    let plain = try PrivateKey(contentsOfFile: plainKey)
    guard encrypted.hasSamePublicKey(as: plain) else { fail("the two files hold different keys") }
    let exported = try plain.pemEncoded()
    let reloaded = try PrivateKey(secret: exported)
    guard reloaded.hasSamePublicKey(as: plain) else { fail("the exported key does not load back") }
    let uri = try PKCS11URI(parsing: uriText)
    guard let pin = uri.pinValue, pin.withUnsafeBytes({ $0.count }) > 0 else { fail("no pin-value parsed") }
  }
  stop()
  withExtendedLifetime(uriText) {}
}

// MARK: - TLS defaults

func describe(_ context: OpaquePointer, _ name: String) {
  let options = SSL_CTX_get_options(context)
  let unsafeOptions: [(String, UInt64)] = [
    ("unsafe_legacy_renegotiation", oo_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION()),
    ("legacy_server_connect", oo_SSL_OP_LEGACY_SERVER_CONNECT()),
    ("no_extended_master_secret", oo_SSL_OP_NO_EXTENDED_MASTER_SECRET()),
    ("no_encrypt_then_mac", oo_SSL_OP_NO_ENCRYPT_THEN_MAC()),
    ("ignore_unexpected_eof", oo_SSL_OP_IGNORE_UNEXPECTED_EOF()),
    ("allow_no_dhe_kex", oo_SSL_OP_ALLOW_NO_DHE_KEX()),
    ("client_renegotiation", oo_SSL_OP_ALLOW_CLIENT_RENEGOTIATION()),
  ]
  let set = unsafeOptions.filter { options & $0.1 != 0 }.map(\.0)
  print(
    "\(name): min=\(oo_SSL_CTX_get_min_proto_version(context)) seclevel=\(SSL_CTX_get_security_level(context)) "
      + "no_compression=\(options & oo_SSL_OP_NO_COMPRESSION() != 0) no_renegotiation=\(options & oo_SSL_OP_NO_RENEGOTIATION() != 0) "
      + "unsafe=[\(set.joined(separator: ","))]"
  )
}

func tlsDefaults(port: Int) {
  let raw = SSL_CTX_new(TLS_client_method())!
  describe(raw, "raw")
  SSL_CTX_free(raw)
  do {
    let client = try SSLContext(configuration: .client)
    client.withUnsafePointer { describe($0.raw, "client") }
    let server = try SSLContext(configuration: .server([]))
    server.withUnsafePointer { describe($0.raw, "server") }
    var insecure = TLSConfiguration.client
    insecure.peerVerification = .none
    insecure.hostNameRequirement = .insecureNone
    let context = try SSLContext(configuration: insecure)
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { fail("cannot connect to \(port)") }
    defer { close(descriptor) }
    let connection = try context.makeConnection(transport: .socket(descriptor))
    try connection.handshake()
    print("handshake: \(connection.version?.description ?? "?")")
  } catch {
    print("handshake failed: \(error)")
  }
}

// MARK: - The provider backend

func pkcs11Provider(module: String, uri: String, certificateURI: String) throws {
  // A TLS context before pkcs11-provider is loaded: the provider must still serve later contexts.
  _ = try SSLContext(configuration: .client)
  let options = PKCS11LoadOptions(backend: .provider, moduleFile: module)
  let key = try PrivateKey(pkcs11: uri, options: options)
  let certificate = try X509Certificate(pkcs11: certificateURI, options: options)
  print("providers: \(LibraryContext.default.providerNames.joined(separator: ", "))")
  print("key: \(key.algorithm), matches its certificate: \(key.matches(certificate))")
  let message = Array("signed inside pkcs11-provider".utf8)
  let signature = try key.signature(for: message)
  print("signature verifies: \(try certificate.publicKey.isValidSignature(signature, for: message))")

  var server = TLSConfiguration.server([CertificateChain(certificate: certificate, privateKey: key)])
  server.sessions.resumption = false
  var client = TLSConfiguration.client
  client.peerVerification = .none
  client.hostNameRequirement = .insecureNone
  let serverConnection = try SSLContext(configuration: server).makeConnection()
  let clientConnection = try SSLContext(configuration: client).makeConnection(serverName: nil)
  var rounds = 0
  while rounds < 40 {
    rounds += 1
    let c = try clientConnection.handshake()
    serverConnection.receive(clientConnection.takeOutput())
    let s = try serverConnection.handshake()
    clientConnection.receive(serverConnection.takeOutput())
    if c == .complete && s == .complete { break }
  }
  print("handshake: \(clientConnection.version?.description ?? "incomplete")")
  print("server certificate is the token's: \(clientConnection.peerCertificate == certificate)")

  func code(_ uri: String, _ options: PKCS11LoadOptions) -> String {
    do {
      _ = try PrivateKey(pkcs11: uri, options: options)
      return "loaded"
    } catch let error as PKCS11Error {
      return "\(error.code)"
    } catch {
      return "\(error)"
    }
  }
  let bare = uri.split(separator: "?").first.map(String.init) ?? uri
  // The token is logged in now: another PIN is refused as the libp11 backend refuses it.
  print("another PIN: \(code(bare + "?pin-value=999999", options))")
  print(
    "module not allowed: \(code(bare + "?module-path=/usr/lib/softhsm/libsofthsm2.so", PKCS11LoadOptions(backend: .provider)))"
  )
}

/// The provider backend in a library context of its own, in a fresh process (pkcs11-provider is
/// loaded into no other context): a TLS context of the default context refuses the key, one of the
/// key's context takes it and completes a handshake.
func pkcs11ProviderContext(module: String, uri: String, certificateURI: String) throws {
  let other = try LibraryContext()
  let options = PKCS11LoadOptions(backend: .provider, moduleFile: module, libraryContext: other)
  let key = try PrivateKey(pkcs11: uri, options: options)
  let certificate = try X509Certificate(pkcs11: certificateURI, options: options)
  print("default context providers: \(LibraryContext.default.providerNames.joined(separator: ", "))")
  print("key's context providers: \(other.providerNames.joined(separator: ", "))")
  do {
    _ = try SSLContext(configuration: .server([CertificateChain(certificate: certificate, privateKey: key)]))
    print("default context: accepted")
  } catch let error as ProviderError {
    print("default context: \(error.code)")
  }
  var server = TLSConfiguration.server([CertificateChain(certificate: certificate, privateKey: key)])
  server.libraryContext = other
  var client = TLSConfiguration.client
  client.peerVerification = .none
  client.hostNameRequirement = .insecureNone
  let serverConnection = try SSLContext(configuration: server).makeConnection()
  let clientConnection = try SSLContext(configuration: client).makeConnection(serverName: nil)
  for _ in 0..<40 {
    let c = try clientConnection.handshake()
    serverConnection.receive(clientConnection.takeOutput())
    let s = try serverConnection.handshake()
    clientConnection.receive(serverConnection.takeOutput())
    if c == .complete && s == .complete { break }
  }
  print("key's context: handshake \(clientConnection.version?.description ?? "incomplete")")
}

/// One provider backend load in a fresh process (no login yet): what a wrong PIN or no PIN gets.
func pkcs11ProviderPIN(module: String, uri: String) {
  do {
    _ = try PrivateKey(pkcs11: uri, options: PKCS11LoadOptions(backend: .provider, moduleFile: module))
    print("loaded")
  } catch let error as PKCS11Error {
    print("code=\(error.code): \(error)")
  } catch {
    print("error: \(error)")
  }
}

/// One load with `PKCS11Backend.automatic` and a signature with the key. Which backend took it
/// is read from the outcome: a libp11 key carries its token origin (ex_data), and pkcs11-provider
/// is loaded into the default library context only by the provider backend.
func pkcs11Automatic(module: String, uri: String, givingALibP11Module: Bool) throws -> Never {
  var options = PKCS11LoadOptions(moduleFile: module)
  if givingALibP11Module { options.module = try PKCS11Module.load(path: module) }
  let key = try PrivateKey(pkcs11: uri, options: options)
  let provider = LibraryContext.default.providerNames.contains("pkcs11")
  let libp11 = key.pkcs11Origin != nil
  print("backend: \(provider && !libp11 ? "provider" : libp11 && !provider ? "libp11" : "unclear")")
  let message = Array("automatic".utf8)
  print("signature verifies: \(try key.publicKey.isValidSignature(try key.signature(for: message), for: message))")
  // Without OpenSSL's exit-time cleanup (seen crashing once on 3.5 in this mode).
  exitWithoutCleanup()
}

/// Ends a mode that used pkcs11-provider without OpenSSL's exit-time cleanup: pkcs11-provider 1.0
/// with SoftHSM2 sometimes crashes there (pkcs11-provider #310, seen on 3.5 despite `no-deinit`),
/// after everything the mode tells was printed.
func exitWithoutCleanup() -> Never {
  fflush(nil)
  _exit(0)
}

/// A provider backend call to a module that never answers (Tests/PKCS11C/hanging_module.c), with a
/// limit of three seconds: the caller gets control back with a typed error. The abandoned call may still be running inside
/// pkcs11-provider, so the process ends with `_exit`, without OpenSSL's exit-time cleanup.
func pkcs11ProviderTimeout(module: String, uri: String) -> Never {
  let options = PKCS11LoadOptions(backend: .provider, moduleFile: module, providerTimeout: .seconds(3))
  do {
    _ = try PrivateKey(pkcs11: uri, options: options)
    print("no answer in time: loaded")
  } catch let error as PKCS11Error {
    print("no answer in time: \(error.code)")
  } catch {
    print("no answer in time: \(error)")
  }
  fflush(nil)
  _exit(0)
}

// MARK: - Main

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: oo-test-helper SCENARIO ...") }
switch arguments[1] {
case "ownership":
  guard CRYPTO_set_mem_functions(countingMalloc, countingRealloc, countingFree) == 1 else {
    fail("CRYPTO_set_mem_functions refused: OpenSSL allocated before main")
  }
  do { try ownership() } catch { fail("\(error)") }
case "pkcs12":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs12 FILE PASSFILE") }
  do {
    let passphrase = try Passphrase.read(fromFile: arguments[3])
    let bundle = try PKCS12Bundle(contentsOfFile: arguments[2], passphrase: passphrase)
    print("loaded \(bundle.certificate?.subject.rfc2253 ?? "-")")
  } catch {
    print("error: \(error)")
    exit(1)
  }
case "system-store":
  // Verifies the leaf (and intermediates) of a PEM file against the shared operating-system store.
  guard arguments.count == 3 else { fail("usage: oo-test-helper system-store CHAIN.pem") }
  do {
    let certificates = try X509Certificate.all(contentsOfFile: arguments[2])
    let chain = try X509Store.system.verify(certificates[0], untrusted: Array(certificates.dropFirst()))
    print("verified \(chain.certificates.count) certificates")
  } catch let error as VerificationError {
    print("error: \(error.name): \(error.explanation)")
    exit(1)
  } catch {
    print("error: \(error)")
    exit(2)
  }
case "system-store-contents":
  // How many anchors the shared operating-system store holds, and whether it can be changed.
  do {
    let store = try X509Store.system
    print("anchors \(store.certificates.count)")
    do {
      try store.add(try X509Certificate(contentsOfFile: arguments[2]))
      print("added")
    } catch let error as UsageError {
      print("refused: \(error.message)")
    }
  } catch {
    print("error: \(error)")
    exit(2)
  }
case "pkcs11-login":
  guard arguments.count == 5 else { fail("usage: oo-test-helper pkcs11-login MODULE TOKEN PINFILE") }
  pkcs11Login(module: arguments[2], token: arguments[3], pinFile: arguments[4])
case "pkcs11-lifetime":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs11-lifetime MODULE URI") }
  do { try pkcs11Lifetime(module: arguments[2], uri: arguments[3]) } catch { fail("\(error)") }
case "pkcs11-load":
  guard arguments.count == 4 || arguments.count == 5 else { fail("usage: oo-test-helper pkcs11-load MODULE URI [PIN]") }
  pkcs11Load(module: arguments[2], uri: arguments[3], pin: arguments.count == 5 ? arguments[4] : nil)
case "pkcs11-logged-in-elsewhere":
  guard arguments.count == 6 else { fail("usage: oo-test-helper pkcs11-logged-in-elsewhere MODULE TOKEN PINFILE URI") }
  do {
    try pkcs11LoggedInElsewhere(module: arguments[2], token: arguments[3], pinFile: arguments[4], uri: arguments[5])
  } catch { fail("\(error)") }
case "pkcs11-certificate-lifetime":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs11-certificate-lifetime MODULE URI") }
  do { try pkcs11CertificateLifetime(module: arguments[2], uri: arguments[3]) } catch { fail("\(error)") }
case "pkcs11-failed-load":
  guard arguments.count == 3 else { fail("usage: oo-test-helper pkcs11-failed-load MODULE") }
  pkcs11FailedLoad(module: arguments[2])
case "pkcs11-no-pin":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs11-no-pin MODULE URI") }
  pkcs11NoPIN(module: arguments[2], uri: arguments[3])
case "pkcs11-fork":
  guard arguments.count == 3 else { fail("usage: oo-test-helper pkcs11-fork URI") }
  do { try pkcs11Fork(uri: arguments[2]) } catch { fail("\(error)") }
case "pkcs11-no-context-pin":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs11-no-context-pin MODULE URI") }
  do { try pkcs11NoContextPIN(module: arguments[2], uri: arguments[3]) } catch { fail("\(error)") }
case "pkcs11-provider":
  guard arguments.count == 5 else { fail("usage: oo-test-helper pkcs11-provider MODULE URI CERT-URI") }
  do { try pkcs11Provider(module: arguments[2], uri: arguments[3], certificateURI: arguments[4]) } catch {
    fail("\(error)")
  }
  exitWithoutCleanup()
case "pkcs11-provider-context":
  guard arguments.count == 5 else { fail("usage: oo-test-helper pkcs11-provider-context MODULE URI CERT-URI") }
  do { try pkcs11ProviderContext(module: arguments[2], uri: arguments[3], certificateURI: arguments[4]) } catch {
    fail("\(error)")
  }
  exitWithoutCleanup()
case "pkcs11-provider-pin":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs11-provider-pin MODULE URI") }
  pkcs11ProviderPIN(module: arguments[2], uri: arguments[3])
  exitWithoutCleanup()
case "pkcs11-automatic":
  guard arguments.count == 4 || arguments.count == 5 else {
    fail("usage: oo-test-helper pkcs11-automatic MODULE URI [libp11-module]")
  }
  do { try pkcs11Automatic(module: arguments[2], uri: arguments[3], givingALibP11Module: arguments.count == 5) } catch {
    fail("\(error)")
  }
case "pkcs11-provider-timeout":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs11-provider-timeout MODULE URI") }
  pkcs11ProviderTimeout(module: arguments[2], uri: arguments[3])
case "address-reuse":
  guard
    CRYPTO_set_mem_functions(ReusingAllocator.allocate, ReusingAllocator.reallocate, ReusingAllocator.release) == 1
  else {
    fail("CRYPTO_set_mem_functions refused: OpenSSL allocated before main")
  }
  do { try addressReuse() } catch { fail("\(error)") }
case "no-prompt":
  guard arguments.count == 6 else { fail("usage: oo-test-helper no-prompt PKCS8.pem TRADITIONAL.pem MODULE URI") }
  do { try noPrompt(pkcs8: arguments[2], traditional: arguments[3], module: arguments[4], uri: arguments[5]) } catch {
    fail("\(error)")
  }
case "secrets-freed":
  guard arguments.count == 6 else {
    fail("usage: oo-test-helper secrets-freed PLAIN.pem ENCRYPTED.pem PASSFILE URIFILE")
  }
  do {
    try secretsFreed(
      plainKey: arguments[2], encryptedKey: arguments[3], passphraseFile: arguments[4], uriFile: arguments[5])
  } catch {
    fail("\(error)")
  }
case "tls-defaults":
  // Reads back what a raw SSL_CTX and ours get under the OPENSSL_CONF of the environment, then
  // connects our default client to 127.0.0.1:PORT.
  guard arguments.count == 3, let port = Int(arguments[2]) else { fail("usage: oo-test-helper tls-defaults PORT") }
  tlsDefaults(port: port)
case "ocsp-fetch":
  guard arguments.count == 5, ["direct", "environment"].contains(arguments[2]) else {
    fail("usage: oo-test-helper ocsp-fetch direct|environment LEAF ISSUER")
  }
  do {
    let leaf = try X509Certificate(contentsOfFile: arguments[3])
    let issuer = try X509Certificate(contentsOfFile: arguments[4])
    var client = OCSPClient(destinations: .allowingLoopback)
    client.timeout = 5
    // The default is what is tried: "direct" leaves the proxy setting as a new client has it.
    if arguments[2] == "environment" { client.proxy = .environment }
    let (_, response) = try client.fetch(certificate: leaf, issuer: issuer)
    print(try response.basicResponse().singleResponse(for: OCSPCertID(certificate: leaf, issuer: issuer)).status)
  } catch {
    print("error: \(error)")
    exit(1)
  }
default:
  fail("unknown scenario \(arguments[1])")
}
