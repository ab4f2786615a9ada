import COpenSSLFull

/// One object read from an `OSSL_STORE` URI.
public enum StoreObject: Sendable {
  /// A private key (`OSSL_STORE_INFO_PKEY`): for a provider's store (`pkcs11:`), a
  /// provider-native key whose private half stays with the provider.
  case privateKey(PrivateKey)
  /// A public key (`OSSL_STORE_INFO_PUBKEY`).
  case publicKey(PublicKey)
  /// A certificate (`OSSL_STORE_INFO_CERT`).
  case certificate(X509Certificate)
  /// A CRL (`OSSL_STORE_INFO_CRL`).
  case crl(X509CRL)
  /// Another kind of object (key parameters, a name in a directory listing): its
  /// `OSSL_STORE_INFO_type_string`.
  case other(kind: String)
}

extension StoreObject {
  /// The kind of object, in words.
  var kindName: String {
    switch self {
    case .privateKey: "a private key"
    case .publicKey: "a public key"
    case .certificate: "a certificate"
    case .crl: "a CRL"
    case .other(let kind): kind
    }
  }
}

/// What a store URI is expected to hold (`OSSL_STORE_expect`): the store skips everything else.
public enum StoreObjectKind: Sendable, Hashable {
  /// Private keys.
  case privateKey
  /// Public keys.
  case publicKey
  /// Certificates.
  case certificate
  /// CRLs.
  case crl

  var osslType: Int32 {
    switch self {
    case .privateKey: OSSL_STORE_INFO_PKEY
    case .publicKey: OSSL_STORE_INFO_PUBKEY
    case .certificate: OSSL_STORE_INFO_CERT
    case .crl: OSSL_STORE_INFO_CRL
    }
  }

  var name: String {
    switch self {
    case .privateKey: "private key"
    case .publicKey: "public key"
    case .certificate: "certificate"
    case .crl: "CRL"
    }
  }
}

/// Reads objects from any URI an `OSSL_STORE` loader of the library context understands: `file:`
/// (and plain paths) through OpenSSL's own file store, `pkcs11:` through pkcs11-provider once it is
/// loaded into the context, and the schemes of any other provider.
///
/// Passphrases and PINs come only from the closure given: the store gets a `UI_METHOD` of this
/// library that answers prompts from it (once per load) and never reads a terminal. Without a
/// closure a prompt fails and the load reports ``InputError/Reason/passphraseRequired``.
public enum StoreLoader {
  /// Every object the URI names, in the store's order (`OSSL_STORE_open_ex`, `OSSL_STORE_expect`,
  /// `OSSL_STORE_load`, `OSSL_STORE_close`). Each object is a new reference owned by the result;
  /// keys and certificates keep `libraryContext` alive.
  ///
  /// - Parameters:
  ///   - uri: the URI (`file:/path`, `/path`, `pkcs11:token=...;object=...`).
  ///   - expecting: only objects of this kind (`nil`: all).
  ///   - libraryContext: the context whose store loaders, decoders and key managers are used.
  ///   - properties: the property query for them, or `nil`.
  ///   - passphrase: asked at most once, when the store needs a passphrase or PIN; `nil` answers
  ///     no prompt.
  /// - Throws: ``InputError``: ``InputError/Reason/unsupported`` (no loader for the scheme),
  ///   ``InputError/Reason/noMatch`` (nothing of the expected kind),
  ///   ``InputError/Reason/passphraseRequired``, ``InputError/Reason/wrongPassphrase``,
  ///   ``InputError/Reason/malformed``; or the error the passphrase closure threw.
  public static func load(
    uri: String,
    expecting: StoreObjectKind? = nil,
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws -> [StoreObject] {
    let object = expecting?.name ?? "object"
    let source = "store URI \(StoreLoader.redacted(uri))"
    let box = PassphraseBox(passphrase ?? { nil })
    var objects: [StoreObject] = []
    let failure = unsafe box.withCallbackArgument { argument -> InputError? in
      ErrorQueue.isolated { scope -> InputError? in
        guard
          let store = unsafe OSSL_STORE_open_ex(
            uri, libraryContext.pointer, properties.text, StoreLoader.uiMethod, argument, nil, nil, nil)
        else {
          let error = scope.failure("OSSL_STORE_open_ex").redactingPINs()
          return InputError(
            box.wasAsked ? .wrongPassphrase : .unsupported, object: object, source: source,
            detail: "no store loader of this library context opens the URI"
              + (error.last?.reasonText.map { " (\($0))" } ?? ""), openSSLError: error)
        }
        defer { _ = unsafe OSSL_STORE_close(store) }
        if let expecting, unsafe OSSL_STORE_expect(store, expecting.osslType) != 1 {
          return InputError(
            .unsupported, object: object, source: source,
            detail: "the store cannot be limited to \(expecting.name)s",
            openSSLError: scope.failure("OSSL_STORE_expect").redactingPINs())
        }
        // A load that returns nothing with an error set is recorded and the walk goes on, as
        // OpenSSL's own commands do (a file loader reports the decoders that did not match);
        // it fails the call only when nothing was found.
        var lastError: OpenSSLError? = nil
        while unsafe OSSL_STORE_eof(store) == 0 {
          guard let info = unsafe OSSL_STORE_load(store) else {
            if unsafe OSSL_STORE_error(store) == 1 { lastError = scope.failure("OSSL_STORE_load").redactingPINs() }
            continue
          }
          defer { unsafe OSSL_STORE_INFO_free(info) }
          if let item = unsafe StoreLoader.object(info, libraryContext: libraryContext) {
            objects.append(item)
          }
        }
        guard objects.isEmpty, let error = lastError else { return nil }
        if box.wasAsked && !box.hadPassphrase {
          return InputError(
            .passphraseRequired, object: object, source: source,
            detail: "the store asked for a passphrase or PIN and none was given", openSSLError: error)
        }
        return InputError(
          box.wasAsked ? .wrongPassphrase : .malformed, object: object, source: source,
          detail: box.wasAsked
            ? "the passphrase or PIN was not accepted"
            : "the store could not read an object" + (error.last?.reasonText.map { ": \($0)" } ?? ""),
          openSSLError: error)
      }
    }
    if let thrown = box.thrown { throw thrown }
    if objects.isEmpty, let expecting, failure == nil || failure?.reason == .malformed {
      // Say what the URI holds instead, when it holds something.
      let held = (try? load(uri: uri, libraryContext: libraryContext, properties: properties)) ?? []
      if !held.isEmpty || failure == nil {
        throw InputError(
          .noMatch, object: object, source: source,
          detail: "the store holds no \(expecting.name) there"
            + (held.isEmpty ? "" : "; it holds " + held.map(\.kindName).joined(separator: ", ")))
      }
    }
    if let failure { throw failure }
    return objects
  }

  /// Takes one object out of a store's `OSSL_STORE_INFO` (the `get1` getters: new references).
  private static func object(_ info: OpaquePointer, libraryContext: LibraryContext) -> StoreObject? {
    let type = unsafe OSSL_STORE_INFO_get_type(info)
    switch type {
    case OSSL_STORE_INFO_PKEY:
      guard let key = unsafe OSSL_STORE_INFO_get1_PKEY(info) else { return nil }
      guard unsafe (try? libraryContext.keepAlive(key: key)) != nil else {
        unsafe EVP_PKEY_free(key)
        return nil
      }
      return unsafe .privateKey(PrivateKey(takingOwnershipOf: OpenSSLPointer(key)))
    case OSSL_STORE_INFO_PUBKEY:
      guard let key = unsafe OSSL_STORE_INFO_get1_PUBKEY(info) else { return nil }
      guard unsafe (try? libraryContext.keepAlive(key: key)) != nil else {
        unsafe EVP_PKEY_free(key)
        return nil
      }
      return unsafe .publicKey(PublicKey(takingOwnershipOf: OpenSSLPointer(key)))
    case OSSL_STORE_INFO_CERT:
      guard let certificate = unsafe OSSL_STORE_INFO_get1_CERT(info) else { return nil }
      guard unsafe (try? libraryContext.keepAlive(certificate: certificate)) != nil else {
        unsafe X509_free(certificate)
        return nil
      }
      return unsafe .certificate(X509Certificate(takingOwnershipOf: OpenSSLPointer(certificate)))
    case OSSL_STORE_INFO_CRL:
      guard let crl = unsafe OSSL_STORE_INFO_get1_CRL(info) else { return nil }
      return unsafe .crl(X509CRL(takingOwnershipOf: OpenSSLPointer(crl)))
    default:
      return unsafe .other(kind: OSSL_STORE_INFO_type_string(type).map { unsafe String(cString: $0) } ?? "\(type)")
    }
  }

  /// The URI as it may appear in messages: the value of a `pin-value` attribute is replaced by
  /// `***`.
  package static func redacted(_ uri: String) -> String {
    var bytes = Array(uri.utf8)
    let marker = Array("pin-value=".utf8)
    var index = 0
    while index + marker.count <= bytes.count {
      guard Array(bytes[index..<index + marker.count]) == marker else {
        index += 1
        continue
      }
      let start = index + marker.count
      var end = start
      while end < bytes.count, ![UInt8(ascii: ";"), UInt8(ascii: "?"), UInt8(ascii: "&")].contains(bytes[end]) {
        end += 1
      }
      bytes.replaceSubrange(start..<end, with: Array("***".utf8))
      index = start + 3
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The `UI_METHOD` given to every store: prompts are answered from the load's passphrase
  /// closure (its ``PassphraseBox`` is the UI's user data); nothing reads a terminal. Created once
  /// for the process and never freed.
  nonisolated(unsafe) static let uiMethod: OpaquePointer? = {
    let method = unsafe UI_create_method("OpenSSLObjects store")
    _ = unsafe UI_method_set_reader(method, uiReader)
    return unsafe method
  }()

  private static let uiReader: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ui, string in
    guard let ui = unsafe ui, let string = unsafe string else { return 0 }
    let type = unsafe UI_get_string_type(string)
    guard type == UIT_PROMPT || type == UIT_VERIFY else { return 1 }
    guard let data = unsafe UI_get0_user_data(ui) else { return 0 }
    let box = unsafe Unmanaged<PassphraseBox>.fromOpaque(data).takeUnretainedValue()
    let answered: Int32? = unsafe box.withPassphrase { bytes in
      guard unsafe !bytes.contains(0) else { return 0 }
      guard let start = unsafe bytes.baseAddress?.assumingMemoryBound(to: CChar.self) else {
        return unsafe UI_set_result_ex(ui, string, "", 0) == 0 ? 1 : 0
      }
      // UI_set_result_ex copies the bytes into the UI's own buffer.
      return unsafe UI_set_result_ex(ui, string, start, Int32(bytes.count)) == 0 ? 1 : 0
    }
    return answered ?? 0
  }
}

// MARK: - Keys and certificates from a store URI

extension PrivateKey {
  /// Loads the one private key a store URI names (see ``StoreLoader``): a `file:` URI or path, a
  /// `pkcs11:` URI through pkcs11-provider, or any scheme a provider of the context offers. Keys
  /// from a provider's store are provider-native: they sign through that provider, in TLS too.
  ///
  /// - Throws: what ``StoreLoader/load(uri:expecting:libraryContext:properties:passphrase:)``
  ///   throws; ``InputError/Reason/multipleObjects`` when the URI names more than one key (the same
  ///   key listed twice counts once).
  public convenience init(
    storeURI uri: String,
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws {
    let objects = try StoreLoader.load(
      uri: uri, expecting: .privateKey, libraryContext: libraryContext, properties: properties,
      passphrase: passphrase)
    // The same key listed twice (pkcs11-provider 1.0 with a second library context does) is one.
    var keys: [PrivateKey] = []
    for case .privateKey(let key) in objects where !keys.contains(where: { $0.hasSamePublicKey(as: key) }) {
      keys.append(key)
    }
    guard keys.count == 1 else {
      throw InputError(
        keys.isEmpty ? .noMatch : .multipleObjects, object: "private key",
        source: "store URI \(StoreLoader.redacted(uri))",
        detail: "the URI names \(keys.count) private keys; name exactly one")
    }
    try self.init(retaining: keys[0])
  }
}

extension X509Certificate {
  /// Loads the one certificate a store URI names (see ``StoreLoader``).
  ///
  /// - Throws: what ``StoreLoader/load(uri:expecting:libraryContext:properties:passphrase:)``
  ///   throws; ``InputError/Reason/multipleObjects`` when the URI names more than one.
  public convenience init(
    storeURI uri: String,
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws {
    let objects = try StoreLoader.load(
      uri: uri, expecting: .certificate, libraryContext: libraryContext, properties: properties,
      passphrase: passphrase)
    var certificates: [X509Certificate] = []
    for case .certificate(let certificate) in objects where !certificates.contains(certificate) {
      certificates.append(certificate)
    }
    guard certificates.count == 1 else {
      throw InputError(
        certificates.isEmpty ? .noMatch : .multipleObjects, object: "certificate",
        source: "store URI \(StoreLoader.redacted(uri))",
        detail: "the URI names \(certificates.count) certificates; name exactly one")
    }
    try self.init(retaining: certificates[0])
  }
}

extension OpenSSLReferenceCounted {
  /// A second wrapper sharing `other`'s object (one more reference).
  fileprivate init(retaining other: Self) throws(OpenSSLError) {
    unsafe try self.init(retaining: other.withUnsafePointer { $0 })
  }
}

extension OpenSSLError {
  /// The same error with every `pin-value` in the entries' extra text replaced by `***` (OpenSSL
  /// attaches the URI it could not open).
  fileprivate func redactingPINs() -> OpenSSLError {
    OpenSSLError(
      operation: operation,
      entries: entries.map {
        Entry(
          code: $0.code, library: $0.library, reason: $0.reason, libraryName: $0.libraryName,
          reasonText: $0.reasonText, message: StoreLoader.redacted($0.message), file: $0.file, line: $0.line,
          function: $0.function, data: $0.data.map(StoreLoader.redacted))
      }, isComplete: isComplete)
  }
}
