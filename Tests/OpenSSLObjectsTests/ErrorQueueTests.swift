import COpenSSLFull
import OpenSSLObjects
import Testing

@Suite("OpenSSL's error queue: each call sees only its own errors")
struct ErrorQueueTests {
  // Tests share threads and OpenSSL's queue is per thread: each test starts from an empty queue.

  @Test func aFailedCallLeavesNothingOnTheQueue() {
    ERR_clear_error()
    #expect(throws: InputError.self) { try X509Certificate(derEncoded: [0x30, 0x82, 0x01]) }
    #expect(ERR_peek_error() == 0)
    #expect(throws: InputError.self) { try X509Certificate(pemEncoded: "-----BEGIN CERTIFICATE-----\n!!!\n") }
    #expect(ERR_peek_error() == 0)
  }

  @Test func theErrorHoldsEveryEntryTheCallQueued() throws {
    ERR_clear_error()
    let error = try #require(throws: InputError.self) {
      try X509Certificate(derEncoded: [0x30, 0x03, 0x02, 0x01, 0x01])
    }
    let openSSL = try #require(error.openSSLError)
    #expect(openSSL.isComplete)
    #expect(!openSSL.entries.isEmpty)
    #expect(openSSL.entries.allSatisfy { $0.libraryName != nil && !$0.message.isEmpty && !$0.file.isEmpty })
  }

  @Test func aCallersPendingErrorsAreNeverWiped() throws {
    ERR_clear_error()
    // A C caller (we may run inside libcurl's callbacks) has an error of its own queued.
    oo_ERR_raise_saved("caller.c", 7, "caller", ERR_LIB_USER, 42, "the caller's own error")
    defer { ERR_clear_error() }
    let error = try #require(throws: InputError.self) {
      try X509Certificate(derEncoded: [0x30, 0x03, 0x02, 0x01, 0x01])
    }
    // Ours was reported, as far as it could be read without touching the caller's entries.
    let openSSL = try #require(error.openSSLError)
    #expect(!openSSL.isComplete)
    #expect(openSSL.entries.count == 1)
    #expect(!openSSL.contains(library: ERR_LIB_USER, reason: 42))
    // The caller's error is still there, alone, with its text.
    var data: UnsafePointer<CChar>? = nil
    var flags: Int32 = 0
    let oldest = ERR_peek_error_all(nil, nil, nil, &data, &flags)
    #expect(oo_ERR_GET_LIB(oldest) == ERR_LIB_USER && oo_ERR_GET_REASON(oldest) == 42)
    #expect(data.map { String(cString: $0) } == "the caller's own error")
    #expect(ERR_peek_last_error() == oldest)
  }

  @Test func aSuccessfulCallLeavesTheCallersErrorsAlone() throws {
    ERR_clear_error()
    oo_ERR_raise_saved("caller.c", 9, "caller", ERR_LIB_USER, 43, nil)
    defer { ERR_clear_error() }
    let key = try PrivateKey(generating: .ec(.p256))
    _ = try key.signature(for: [1, 2, 3])
    #expect(oo_ERR_GET_REASON(ERR_peek_error()) == 43)
    #expect(ERR_peek_last_error() == ERR_peek_error())
  }

  @Test func errorsDoNotLeakIntoTheNextCall() throws {
    ERR_clear_error()
    let first = try #require(throws: InputError.self) {
      try X509Certificate(derEncoded: [0x30, 0x03, 0x02, 0x01, 0x01])
    }
    let second = try #require(throws: InputError.self) {
      try PrivateKey(bytes: Array("-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n".utf8))
    }
    let firstCodes = Set(first.openSSLError?.entries.map(\.code) ?? [])
    let secondCodes = Set(second.openSSLError?.entries.map(\.code) ?? [])
    #expect(!firstCodes.isEmpty)
    #expect(firstCodes.isDisjoint(with: secondCodes))
    #expect(second.reason == .malformed)
  }

  @Test func runtimeVersionIsCheckedAndExposed() {
    ERR_clear_error()
    #expect(OpenSSLLibrary.isSupported)
    // 3 on Debian 12 and 13, 4 in the matrix's OpenSSL 4.0 (scripts/matrix.sh).
    #expect(OpenSSLLibrary.runtimeVersion.major >= 3)
    #expect(OpenSSLLibrary.versionText.hasPrefix("OpenSSL \(OpenSSLLibrary.runtimeVersion) "))
    #expect(OpenSSLLibrary.compiledVersion.major == OpenSSLLibrary.runtimeVersion.major)
  }
}
