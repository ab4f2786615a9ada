import COpenSSLFull
import Foundation

/// Counts how often OpenSSL frees objects that carry a marker in their ex_data, through an ex_data
/// free callback: the proof that a C object is freed exactly once, when its last holder lets go.
public enum ExDataCounter {
  /// The C types whose ex_data the counter can watch.
  public enum Kind: CaseIterable, Sendable {
    case x509
    case evpPKey
    case x509Store
    case sslContext
    case ssl
    case sslSession
  }

  private static let lock = NSLock()
  nonisolated(unsafe) private static var frees: [Int: Int] = [:]
  nonisolated(unsafe) private static var nextMarker = 1
  nonisolated(unsafe) private static var indexes: [Kind: Int32] = [:]

  fileprivate static func recordFree(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    let marker = Int(bitPattern: pointer)
    lock.lock()
    frees[marker, default: 0] += 1
    lock.unlock()
  }

  private static func index(_ kind: Kind) -> Int32 {
    lock.lock()
    defer { lock.unlock() }
    if let index = indexes[kind] { return index }
    let index: Int32
    switch kind {
    case .x509: index = oo_X509_get_ex_new_index(0, nil, nil, nil, exDataFree)
    case .evpPKey: index = oo_EVP_PKEY_get_ex_new_index(0, nil, nil, nil, exDataFree)
    case .x509Store: index = oo_X509_STORE_get_ex_new_index(0, nil, nil, nil, exDataFree)
    case .sslContext: index = oo_SSL_CTX_get_ex_new_index(0, nil, nil, nil, exDataFree)
    case .ssl: index = oo_SSL_get_ex_new_index(0, nil, nil, nil, exDataFree)
    case .sslSession: index = oo_SSL_SESSION_get_ex_new_index(0, nil, nil, nil, exDataFree)
    }
    indexes[kind] = index
    return index
  }

  /// Puts a new marker into the object's ex_data and returns it.
  public static func mark(_ kind: Kind, _ object: OpaquePointer) -> Int {
    let idx = index(kind)
    lock.lock()
    let marker = nextMarker
    nextMarker += 1
    lock.unlock()
    let pointer = UnsafeMutableRawPointer(bitPattern: marker)
    switch kind {
    case .x509: _ = X509_set_ex_data(object, idx, pointer)
    case .evpPKey: _ = EVP_PKEY_set_ex_data(object, idx, pointer)
    case .x509Store: _ = X509_STORE_set_ex_data(object, idx, pointer)
    case .sslContext: _ = SSL_CTX_set_ex_data(object, idx, pointer)
    case .ssl: _ = SSL_set_ex_data(object, idx, pointer)
    case .sslSession: _ = SSL_SESSION_set_ex_data(object, idx, pointer)
    }
    return marker
  }

  /// How many times the object with this marker has been freed.
  public static func freeCount(_ marker: Int) -> Int {
    lock.lock()
    defer { lock.unlock() }
    return frees[marker] ?? 0
  }
}

/// The ex_data free callback: OpenSSL calls it once for each object freed, with our marker.
private func exDataFree(
  _ parent: UnsafeMutableRawPointer?, _ pointer: UnsafeMutableRawPointer?,
  _ data: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
  _ index: Int32, _ argl: Int, _ argp: UnsafeMutableRawPointer?
) {
  ExDataCounter.recordFree(pointer)
}
