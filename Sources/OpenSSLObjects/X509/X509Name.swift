import COpenSSLFull

/// A distinguished name (`X509_NAME`): the subject or issuer of a certificate or CRL.
///
/// OpenSSL 3.0 does not reference-count `X509_NAME`, so this type offers adopt, borrow and explicit
/// copies (`X509_NAME_dup`). Names read from a certificate are copies the `X509Name` owns: they
/// never dangle when the certificate goes away. Immutable once made, hence `Sendable`.
public final class X509Name: OpenSSLObjectBase, OpenSSLCopyable, @unchecked Sendable {
  override package class var cType: CObjectType { .x509Name }
  // Never mutated after initialization: all access is read-only.

  /// One attribute of a name (`X509_NAME_ENTRY`).
  public struct Entry: Hashable, Sendable, CustomStringConvertible {
    /// The attribute type, for example `2.5.4.3` (commonName).
    public let oid: OID
    /// The attribute's value converted to UTF-8 (`ASN1_STRING_to_UTF8`).
    public let value: String

    /// OpenSSL's short name of the attribute (`"CN"`, `"O"`), or the dotted OID.
    public var shortName: String { oid.shortName ?? oid.dotted }

    /// Makes an entry from a field name OpenSSL knows (`"CN"`, `"organizationName"`) or a dotted OID.
    public init(_ field: String, _ value: String) {
      self.oid = OID(field)
      self.value = value
    }

    init(oid: OID, value: String) {
      self.oid = oid
      self.value = value
    }

    /// A readable description, without secret material.
    public var description: String { "\(shortName)=\(value)" }
  }

  /// Builds a name from entries, in order (`X509_NAME_add_entry_by_OBJ`, UTF-8 strings).
  ///
  /// - Throws: ``InputError`` with ``InputError/Reason/invalidArgument`` if OpenSSL rejects an
  ///   entry (an unknown field, a value too long for its type such as a country code of three letters).
  public convenience init(_ entries: [Entry]) throws(InputError) {
    let name = unsafe X509_NAME_new()!
    for (position, entry) in entries.enumerated() {
      let added = ErrorQueue.isolated { scope -> OpenSSLError? in
        guard let object = unsafe entry.oid.makeObject() else { return scope.failure("OBJ_txt2obj") }
        defer { unsafe ASN1_OBJECT_free(object) }
        let bytes = Array(entry.value.utf8)
        if unsafe X509_NAME_add_entry_by_OBJ(name, object, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1 {
          return nil
        }
        return scope.failure("X509_NAME_add_entry_by_OBJ")
      }
      if let added {
        unsafe X509_NAME_free(name)
        throw InputError(
          .invalidArgument, object: "distinguished name", source: "entry \(position + 1) (\(entry))",
          detail: added.last?.reasonText ?? "OpenSSL rejected the entry", openSSLError: added)
      }
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(name))
  }

  /// Builds a name from `(field, value)` pairs, for example `["CN": "example.com", "O": "Example"]` (in this order).
  public convenience init(_ pairs: KeyValuePairs<String, String>) throws(InputError) {
    try self.init(pairs.map { Entry($0.key, $0.value) })
  }

  /// Copies a name OpenSSL lends (`X509_get_subject_name` and friends return get0 pointers).
  convenience init(copyingBorrowed name: OpaquePointer) {
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(X509_NAME_dup(name)!))
  }

  /// The entries in order, most significant first as stored (`X509_NAME_get_entry`).
  public var entries: [Entry] {
    unsafe (0..<X509_NAME_entry_count(pointer)).map { index in
      let entry = unsafe X509_NAME_get_entry(pointer, index)
      let object = unsafe X509_NAME_ENTRY_get_object(entry)!
      return unsafe Entry(oid: OID(object: object), value: ASN1.utf8(X509_NAME_ENTRY_get_data(entry)))
    }
  }

  /// The values of all entries with this attribute type, for example every `CN`.
  public func values(for field: OID) -> [String] {
    entries.filter { $0.oid == field }.map(\.value)
  }

  /// The common name(s) (`CN`).
  public var commonNames: [String] { values(for: OID("2.5.4.3")) }

  /// The RFC 2253 string (`X509_NAME_print_ex` with `XN_FLAG_RFC2253` minus
  /// `ASN1_STRFLGS_ESC_MSB`, so that non-ASCII text stays UTF-8 as RFC 4514 allows), for example
  /// `"CN=example.com,O=Example"` (most specific first).
  public var rfc2253: String { printed(flags: oo_XN_FLAG_RFC2253() & ~oo_ASN1_STRFLGS_ESC_MSB()) }

  /// OpenSSL's one-line form (`X509_NAME_print_ex` with `XN_FLAG_ONELINE`, UTF-8), for example
  /// `"O = Example, CN = example.com"`.
  public var oneLine: String { printed(flags: oo_XN_FLAG_ONELINE() & ~oo_ASN1_STRFLGS_ESC_MSB()) }

  /// The DER encoding (`i2d_X509_NAME`).
  public var derEncoded: [UInt8] {
    unsafe (try? DER.encode("i2d_X509_NAME") { unsafe i2d_X509_NAME(pointer, $0) }) ?? []
  }

  /// OpenSSL's hash of the canonical name (`X509_NAME_hash_ex`), the file name stem of hashed
  /// certificate directories.
  public var hashValueForDirectory: UInt {
    ErrorQueue.isolated { _ in unsafe X509_NAME_hash_ex(pointer, nil, nil, nil) }
  }

  private func printed(flags: UInt) -> String {
    let bytes = unsafe MemoryBIO.writing { bio in
      _ = ErrorQueue.isolated { _ in unsafe X509_NAME_print_ex(bio, pointer, 0, flags) }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

extension X509Name: Equatable, Hashable, CustomStringConvertible {
  /// Names compare as OpenSSL compares them (`X509_NAME_cmp` on the canonical encoding).
  public static func == (lhs: X509Name, rhs: X509Name) -> Bool {
    unsafe X509_NAME_cmp(lhs.pointer, rhs.pointer) == 0
  }

  /// Hashes consistently with `==`.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(hashValueForDirectory)
  }

  /// The RFC 2253 form.
  public var description: String { rfc2253 }
}
