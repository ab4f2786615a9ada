import COpenSSLFull

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// `read(2)`, named apart from ``InputFile/read(_:object:limit:)``.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
  unsafe read(fd, buffer, count)
}

/// Reading input files with a size limit, without Foundation.
package enum InputFile {
  /// Reads a whole file, refusing files larger than `limit` before reading them.
  ///
  /// - Throws: ``InputError`` with ``InputError/Reason/unreadableFile`` (naming `errno`'s text) or
  ///   ``InputError/Reason/tooLarge``.
  package static func read(
    _ path: String, object: String, limit: Int = InputLimits.defaultMaximumSize
  ) throws(InputError)
    -> [UInt8]
  {
    var bytes: [UInt8] = []
    unsafe try read(path, object: object, limit: limit) { (buffer: UnsafeRawBufferPointer) in
      bytes = unsafe Array(buffer)
    }
    return bytes
  }

  /// Reads a whole file into a temporary buffer that is wiped (`OPENSSL_cleanse`) and freed after
  /// `body` returns, for files that hold secrets (keys, PIN files).
  package static func read(
    _ path: String,
    object: String,
    limit: Int = InputLimits.defaultMaximumSize,
    _ body: (UnsafeRawBufferPointer) throws(InputError) -> Void
  ) throws(InputError) {
    let source = InputSource.file(path).description
    func failure(_ what: String) -> InputError {
      let message = unsafe String(cString: strerror(errno))
      return InputError(.unreadableFile, object: object, source: source, detail: "\(what): \(message)")
    }
    let fd = unsafe open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw failure("cannot open") }
    defer { close(fd) }
    var info = stat()
    guard unsafe fstat(fd, &info) == 0 else { throw failure("cannot stat") }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      throw InputError(.unreadableFile, object: object, source: source, detail: "is a directory")
    }
    // Regular files announce their size; pipes and devices are read up to the limit.
    let announced = (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0
    if announced > limit {
      throw InputError(
        .tooLarge, object: object, source: source,
        detail: "the file has \(announced) bytes; the limit is \(limit)")
    }
    var capacity = max(announced, 4096)
    var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity + 1, alignment: 1)
    var count = 0
    defer {
      if let base = buffer.baseAddress { unsafe OPENSSL_cleanse(base, buffer.count) }
      unsafe buffer.deallocate()
    }
    while true {
      if count == buffer.count {
        // Grow, wiping the old buffer.
        capacity = min(capacity * 2, limit + 1)
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity + 1, alignment: 1)
        unsafe bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        if let base = buffer.baseAddress { unsafe OPENSSL_cleanse(base, buffer.count) }
        unsafe buffer.deallocate()
        unsafe buffer = unsafe bigger
      }
      let got = unsafe systemRead(fd, buffer.baseAddress! + count, buffer.count - count)
      if got < 0 {
        if errno == EINTR { continue }
        throw failure("cannot read")
      }
      if got == 0 { break }
      count += got
      if count > limit {
        throw InputError(
          .tooLarge, object: object, source: source, detail: "the file has more than \(limit) bytes")
      }
    }
    unsafe try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
  }
}
