import ArgumentParser
import COpenSSLFull
import Foundation
import OpenSSLObjects
import PKCS11Keys

/// Loading a private key named on the command line: a PEM or DER file, or a `pkcs11:` URI, with
/// CLI.md's rule that PINs never travel on the command line.
enum KeySource {
  /// What loading keys had to say to the user (what happened to a PIN), in order; `serve` prints
  /// them.
  static let notes = Notes()

  /// Notes, appended under a lock.
  final class Notes: @unchecked Sendable {
    // Guarded by `lock`.
    private var list: [String] = []
    private let lock = NSLock()

    func append(_ note: String) { lock.withLock { list.append(note) } }
    var all: [String] { lock.withLock { list } }
  }

  /// Loads the key `argument` names.
  ///
  /// A token key that needs its PIN again for each signature (`CKA_ALWAYS_AUTHENTICATE`) gets it
  /// from where the login PIN came from: a PIN file is read again each time, a PIN from standard
  /// input is kept in a wiped buffer. A key that does not need it keeps no PIN: after loading, one
  /// test signature on the token shows which kind of key it is.
  ///
  /// - Parameters:
  ///   - module: a PKCS#11 module given with `--module`, used when the URI names none.
  ///   - pin: where to read the PIN (`--pin-source` or `--pin-stdin`), if given.
  ///   - allowPinValue: whether a URI with `pin-value` is accepted anyway.
  ///   - passphrase: for encrypted key files.
  /// - Throws: ``CommandFailure`` naming the flag and what is wrong: exit 1 for a wrong PIN or
  ///   passphrase, 2 for the rest.
  static func privateKey(
    _ argument: String,
    flag: String = "--key",
    module: String? = nil,
    pin: PINOptions = PINOptions(),
    allowPinValue: Bool = false,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws -> PrivateKey {
    guard argument.lowercased().hasPrefix("pkcs11:") else {
      do {
        return try PrivateKey(contentsOfFile: argument, passphrase: passphrase ?? { nil })
      } catch {
        throw CommandFailure.failed(error, subject: "\(flag) \(argument)")
      }
    }
    let uri: PKCS11URI
    do {
      uri = try PKCS11URI(parsing: argument)
    } catch {
      throw CommandFailure(status: 2, message: "error: \(flag): \(error)", json: nil)
    }
    if uri.pinValue != nil && !allowPinValue {
      throw CommandFailure(
        status: 2,
        message: "error: \(flag): the pkcs11: URI carries pin-value on the command line, where every user of this "
          + "machine can read it (/proc/PID/cmdline); put the PIN in a file and use pin-source=file:/path in the "
          + "URI (or --pin-source FILE), or pipe it with --pin-stdin; --allow-pin-value accepts it anyway",
        json: nil)
    }
    let pins = PINCache(options: pin, uri: uri)
    do {
      // A module named on the command line, by --module or by the URI, is the user's own choice.
      // libp11 wherever it links this OpenSSL: the module is loaded here and its
      // context-specific PIN handler set (pkcs11-provider, the automatic backend where it is
      // installed, has neither); pkcs11-provider where libp11 cannot work (OpenSSL 4.0), which
      // logs in with the login PIN and answers a key's context-specific logins with it itself.
      var options = PKCS11LoadOptions(
        modulePolicy: .allowList([module, uri.modulePath].compactMap { $0 }), backend: .libp11WhereUsable)
      if uri.moduleName != nil { options.modulePolicy = .allowAnyModule }
      if let module, uri.modulePath == nil, uri.moduleName == nil {
        options.moduleFile = module
      }
      if options.backend == .libp11 {
        let loaded = try PKCS11Module.load(for: uri, options: options)
        options.module = loaded
        // The PIN for context-specific logins comes from the CLI's own source, asked only when a
        // signature needs it; the library keeps no copy of the login PIN.
        options.reuseLoginPINForContextSpecificLogin = false
        loaded.setContextSpecificPIN { _ in pins.contextSpecificPIN() }
      }
      if pin.isGiven { options.pin = { try pins.loginPIN() } }
      let key = try PrivateKey(pkcs11: uri, options: options)
      pins.settle(probing: key)
      if let note = pins.note { notes.append(note) }
      return key
    } catch {
      throw CommandFailure.failed(error, subject: "\(flag) \(Output.escaped(uri.description))")
    }
  }
}

/// Where a token key's PIN comes from, for the login and for context-specific logins: a PIN file
/// is read each time it is needed; a PIN from standard input (readable once) is kept in a wiped
/// buffer only while it may still be needed.
final class PINCache: @unchecked Sendable {
  // Guarded by `lock`.
  private let file: String?
  private let fromStandardInput: Bool
  private let uriPIN: PIN?
  private var kept: PIN?
  private var asked = false
  private let lock = NSLock()

  /// The PIN sources of `options` and of the URI (`pin-source`, `pin-value`).
  init(options: PINOptions, uri: PKCS11URI) {
    fromStandardInput = options.pinStdin
    file = options.pinSource ?? uri.pinSource.flatMap(Self.path(ofPinSource:))
    uriPIN = uri.pinValue?.copy()
  }

  /// The PIN for the login.
  func loginPIN() throws -> PIN {
    lock.lock()
    defer { lock.unlock() }
    if let copy = uriPIN?.copy() { return copy }
    if let file { return try PIN.read(fromFile: file) }
    if kept == nil, fromStandardInput { kept = try StandardInputSecret.read(prompt: "PIN: ") }
    if let copy = kept?.copy() { return copy }
    throw ValidationError("no PIN was given")
  }

  /// The PIN for a context-specific login (libp11 asks on the signing thread), or `nil`.
  func contextSpecificPIN() -> PIN? {
    lock.lock()
    defer { lock.unlock() }
    asked = true
    if let copy = uriPIN?.copy() { return copy }
    if let file { return try? PIN.read(fromFile: file) }
    return kept?.copy()
  }

  /// What happened to a PIN from standard input, for the user: `nil` when none was read.
  private(set) var note: String?

  /// After loading: when a PIN from standard input is kept, one test signature shows whether the
  /// key asks for the PIN at every signature; if it does not, the PIN is wiped.
  func settle(probing key: PrivateKey) {
    guard lock.withLock({ kept != nil }) else { return }
    _ = try? key.signature(for: Array("openssl-objects: does this key ask for its PIN?".utf8))
    lock.lock()
    defer { lock.unlock() }
    if asked {
      note = "the token key asks for its PIN at every signature: the PIN read from standard input is kept"
    } else {
      kept = nil
      note = "the token key signs without asking for its PIN again: the PIN read from standard input is not kept"
    }
  }

  /// The local path of a `pin-source` value (`file:/path`, `file:///path` or `/path`).
  private static func path(ofPinSource source: String) -> String? {
    if source.hasPrefix("file://") { return String(source.dropFirst("file://".count)) }
    if source.hasPrefix("file:") { return String(source.dropFirst("file:".count)) }
    return source.hasPrefix("/") ? source : nil
  }
}

/// A secret read from standard input: one line, without echo when it is a terminal.
enum StandardInputSecret {
  /// Reads the secret. On a terminal, `prompt` goes to stderr, echo is off while the line is
  /// typed, and the terminal's settings are restored after; otherwise standard input is read to
  /// its end (a trailing newline is dropped).
  static func read(prompt: String) throws -> SecretBytes {
    guard isatty(0) == 1 else { return try SecretBytes.read(fromFile: "/dev/stdin") }
    var saved = termios()
    let canSilence = unsafe tcgetattr(0, &saved) == 0
    // Echo goes off before the prompt appears, so that nothing typed after it is shown.
    if canSilence {
      var silent = saved
      silent.c_lflag &= ~tcflag_t(ECHO)
      _ = unsafe tcsetattr(0, TCSAFLUSH, &silent)
    }
    FileHandle.standardError.write(Data(prompt.utf8))
    defer {
      if canSilence { _ = unsafe tcsetattr(0, TCSAFLUSH, &saved) }
      FileHandle.standardError.write(Data("\n".utf8))
    }
    // One line into a fixed buffer that is wiped after.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    defer {
      unsafe OPENSSL_cleanse(buffer.baseAddress, buffer.count)
      unsafe buffer.deallocate()
    }
    var count = 0
    while count < buffer.count {
      let got = unsafe Glibc.read(0, buffer.baseAddress! + count, 1)
      if got < 0 && errno == EINTR { continue }
      if got <= 0 { break }
      if unsafe buffer[count] == 0x0A { break }
      count += 1
    }
    if count > 0, unsafe buffer[count - 1] == 0x0D { count -= 1 }
    return unsafe SecretBytes(copying: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
  }
}
