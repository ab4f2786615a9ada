import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

extension X509Certificate {
  /// Reads exactly one certificate from PEM or DER into a library context (`X509_new_ex`,
  /// `d2i_X509`): its signature and public key are then checked and decoded with that context's
  /// providers and property query. The certificate keeps the context alive.
  ///
  /// - Throws: ``InputError``, as ``init(bytes:limit:)`` does.
  public convenience init(
    bytes: some ContiguousBytes, limit: Int = InputLimits.defaultMaximumSize, libraryContext: LibraryContext,
    properties: PropertyQuery? = nil
  ) throws(InputError) {
    let parsed = try X509Certificate(bytes: bytes, limit: limit)
    let der = parsed.derEncoded
    let pointer = unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      guard let certificate = unsafe X509_new_ex(libraryContext.pointer, properties.text) else {
        throw InputError(
          .unsupported, object: "certificate", source: "memory (\(der.count) bytes)",
          detail: "X509_new_ex failed", openSSLError: scope.failure("X509_new_ex"))
      }
      // d2i_X509 into an object made by X509_new_ex keeps its library context and query.
      let decoded = unsafe der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
        var cursor = buffer.baseAddress
        var target: OpaquePointer? = unsafe certificate
        return unsafe d2i_X509(&target, &cursor, buffer.count)
      }
      guard let decoded = unsafe decoded else {
        unsafe X509_free(certificate)
        throw InputError(
          .malformed, object: "certificate", source: "memory (\(der.count) bytes)",
          detail: "the certificate could not be decoded in the library context", openSSLError: scope.failure("d2i_X509")
        )
      }
      return unsafe decoded
    }
    do {
      unsafe try libraryContext.keepAlive(certificate: pointer)
    } catch {
      unsafe X509_free(pointer)
      throw InputError(
        .invalidArgument, object: "certificate", source: "memory (\(der.count) bytes)",
        detail: "its library context could not be attached", openSSLError: error)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }
}
