import COpenSSLFull

/// The errors one failing OpenSSL call put on the calling thread's error queue.
///
/// Each wrapped call sees only its own errors: the call is bracketed with `ERR_set_mark` and
/// `ERR_pop_to_mark`, so its errors never leak into the next call, and errors a C caller had
/// queued before calling us (we may run inside another library's callback) are never read or
/// removed. When the caller's queue was not empty, OpenSSL 3.0 offers no way to read more than the
/// newest of our errors without disturbing the caller's; ``isComplete`` is then `false`.
public struct OpenSSLError: Error, Sendable, Hashable, CustomStringConvertible {
  /// One entry of OpenSSL's error queue (`ERR_get_error_all`).
  public struct Entry: Sendable, Hashable, CustomStringConvertible {
    /// The packed error code (`ERR_get_error_all`'s return value).
    public let code: UInt
    /// The library that raised the error (`ERR_GET_LIB`), for example `ERR_LIB_PEM`.
    public let library: Int32
    /// The reason code (`ERR_GET_REASON`), for example `PEM_R_NO_START_LINE`.
    public let reason: Int32
    /// The library's name (`ERR_lib_error_string`), if OpenSSL knows it.
    public let libraryName: String?
    /// The reason's text (`ERR_reason_error_string`), if OpenSSL knows it.
    public let reasonText: String?
    /// OpenSSL's one-line rendering (`ERR_error_string_n`).
    public let message: String
    /// The source file, line and function that raised the error, as OpenSSL recorded them.
    public let file: String
    /// The line in ``file``.
    public let line: Int
    /// The function that raised the error.
    public let function: String
    /// The extra text OpenSSL attached (`ERR_TXT_STRING`), if any.
    public let data: String?

    /// `true` for an error of the operating system (`ERR_SYSTEM_ERROR`); ``reason`` is then `errno`.
    public var isSystemError: Bool { oo_ERR_SYSTEM_ERROR(code) != 0 }

    /// A readable description, without secret material.
    public var description: String {
      var text = message
      if let data, !data.isEmpty { text += " (\(data))" }
      return text
    }
  }

  /// The OpenSSL function whose failure this describes, for example `"PEM_read_bio_X509"`.
  public let operation: String
  /// The entries the call left on the queue, oldest first. May be empty: some OpenSSL functions
  /// fail without queuing an error.
  public let entries: [Entry]
  /// `false` when the caller's queue held errors of its own, so that only the newest of this
  /// call's entries could be read without touching the caller's.
  public let isComplete: Bool

  /// Makes an error value. Library code obtains these from the error queue; this initializer
  /// exists for tests and for wrapping errors of other layers.
  public init(operation: String, entries: [Entry], isComplete: Bool = true) {
    self.operation = operation
    self.entries = entries
    self.isComplete = isComplete
  }

  /// `true` if some entry has this library and reason code.
  public func contains(library: Int32, reason: Int32) -> Bool {
    entries.contains { $0.library == library && $0.reason == reason }
  }

  /// The newest entry, the one closest to the failure.
  public var last: Entry? { entries.last }

  /// A readable description, without secret material.
  public var description: String {
    if entries.isEmpty { return "\(operation) failed (OpenSSL queued no error)" }
    return "\(operation) failed: " + entries.map(\.description).joined(separator: "; ")
  }

  /// Captures the calling thread's errors after a failed call that was not bracketed by an
  /// ``ErrorQueue`` scope, leaving the queue as it found it (see ``ErrorQueue``).
  package static func capture(operation: String) -> OpenSSLError {
    // Without a scope we cannot tell our entries from a caller's: report the newest only.
    let newest = ErrorQueue.peekNewest()
    return OpenSSLError(operation: operation, entries: newest.map { [$0] } ?? [], isComplete: false)
  }
}

/// The thread's OpenSSL error queue, isolated per call.
///
/// OpenSSL's error queue is per thread: between an OpenSSL call and the reading of its errors
/// there must be no suspension point, which is why every closure here is synchronous.
package enum ErrorQueue {
  /// The view of the queue inside ``isolated(_:)``.
  package struct Scope: ~Copyable {
    /// Whether the caller's queue held errors when the scope began.
    package let callerHadErrors: Bool

    /// Takes the errors the body's calls have queued so far and wraps them as the failure of
    /// `operation`. After this the queue holds none of them.
    package func failure(_ operation: String) -> OpenSSLError {
      if callerHadErrors {
        // Only the newest entry can be read without popping the caller's entries.
        let newest = ErrorQueue.peekNewest()
        _ = ERR_pop_to_mark()
        ERR_set_mark()
        return OpenSSLError(operation: operation, entries: newest.map { [$0] } ?? [], isComplete: false)
      }
      var entries: [Entry] = []
      while let entry = ErrorQueue.popOldest() { entries.append(entry) }
      return OpenSSLError(operation: operation, entries: entries)
    }

    /// Discards whatever the body's calls have queued so far (for calls that queue errors on
    /// success, such as reading the end of a PEM bundle).
    package func discard() {
      _ = ERR_pop_to_mark()
      ERR_set_mark()
    }

    /// Whether the newest entry the body's calls queued has this library and reason
    /// (`ERR_peek_last_error`: a code, no text is made).
    package func newestIs(library: Int32, reason: Int32) -> Bool {
      let code = ERR_peek_last_error()
      return code != 0 && oo_ERR_GET_LIB(code) == library && oo_ERR_GET_REASON(code) == reason
    }

    /// Reads the newest entry the body's calls queued, without removing it.
    package func peekNewest() -> OpenSSLError.Entry? {
      ErrorQueue.peekNewest()
    }
  }

  typealias Entry = OpenSSLError.Entry

  /// Runs `body` with the queue marked: whatever the body's OpenSSL calls queue is available to it
  /// through the scope and is gone when `isolated` returns; the caller's entries are untouched.
  @inline(__always)
  package static func isolated<Result: ~Copyable, Failure: Error>(
    _ body: (borrowing Scope) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    // ERR_set_mark marks the newest entry and returns 1, or returns 0 and marks nothing when the
    // queue is empty: its result is whether the caller had errors, so one call does the work of
    // ERR_peek_last_error + ERR_set_mark (each call looks up the thread's error state; this
    // bracket runs around every wrapped call, so it is on every hot path). With no mark,
    // ERR_pop_to_mark removes everything the body queued and leaves the queue empty, as the
    // caller had it.
    let scope = Scope(callerHadErrors: ERR_set_mark() == 1)
    defer { _ = ERR_pop_to_mark() }
    return try body(scope)
  }

  /// Runs one OpenSSL call that returns a pointer, `NULL` on failure.
  @inline(__always)
  package static func call<T>(_ operation: String, _ body: () -> T?) throws(OpenSSLError) -> T {
    try isolated { scope throws(OpenSSLError) -> T in
      if let value = body() { return value }
      throw scope.failure(operation)
    }
  }

  /// Runs one OpenSSL call that returns 1 (or, with `positive`, any value above 0) on success.
  @inline(__always)
  package static func check(_ operation: String, positive: Bool = false, _ body: () -> Int32) throws(OpenSSLError) {
    try isolated { scope throws(OpenSSLError) in
      let status = body()
      if status == 1 || (positive && status > 0) { return }
      throw scope.failure(operation)
    }
  }

  // MARK: Reading entries

  static func popOldest() -> Entry? {
    var file: UnsafePointer<CChar>? = nil
    var line: Int32 = 0
    var function: UnsafePointer<CChar>? = nil
    var data: UnsafePointer<CChar>? = nil
    var flags: Int32 = 0
    let code = unsafe ERR_get_error_all(&file, &line, &function, &data, &flags)
    guard code != 0 else { return nil }
    return unsafe entry(code: code, file: file, line: line, function: function, data: data, flags: flags)
  }

  static func peekNewest() -> Entry? {
    var file: UnsafePointer<CChar>? = nil
    var line: Int32 = 0
    var function: UnsafePointer<CChar>? = nil
    var data: UnsafePointer<CChar>? = nil
    var flags: Int32 = 0
    let code = unsafe ERR_peek_last_error_all(&file, &line, &function, &data, &flags)
    guard code != 0 else { return nil }
    return unsafe entry(code: code, file: file, line: line, function: function, data: data, flags: flags)
  }

  private static func entry(
    code: UInt,
    file: UnsafePointer<CChar>?,
    line: Int32,
    function: UnsafePointer<CChar>?,
    data: UnsafePointer<CChar>?,
    flags: Int32
  ) -> Entry {
    var buffer = [CChar](repeating: 0, count: 256)
    unsafe ERR_error_string_n(code, &buffer, buffer.count)
    let message = unsafe buffer.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
    let text: String? =
      if let data = unsafe data, flags & ERR_TXT_STRING != 0 { unsafe String(cString: data) } else { nil }
    return unsafe Entry(
      code: code,
      library: oo_ERR_GET_LIB(code),
      reason: oo_ERR_GET_REASON(code),
      libraryName: ERR_lib_error_string(code).map { unsafe String(cString: $0) },
      reasonText: unsafe ERR_reason_error_string(code).map { unsafe String(cString: $0) },
      message: message,
      file: unsafe file.map { unsafe String(cString: $0) } ?? "",
      line: Int(line),
      function: unsafe function.map { unsafe String(cString: $0) } ?? "",
      data: text
    )
  }
}
