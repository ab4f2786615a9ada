import Foundation

/// Another process's memory, read through `/proc/PID/mem` (the tests run as the child's parent
/// and owner, which ptrace's access rules allow).
public enum ProcessMemory {
  /// How many times `needle` occurs in the writable mappings of process `pid` (heap, stacks,
  /// anonymous memory, data segments): where a copy of a secret would live. Regions that cannot be
  /// read (guard pages, a mapping gone meanwhile) are skipped, and so are mappings of 1 GiB or
  /// more: a sanitizer's shadow memory, terabytes reserved and never holding data of the program.
  public static func occurrences(of needle: [UInt8], inProcess pid: Int32) throws -> Int {
    precondition(!needle.isEmpty)
    let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
    let memory = open("/proc/\(pid)/mem", O_RDONLY)
    guard memory >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(memory) }
    let chunk = 16 << 20
    var buffer = [UInt8](repeating: 0, count: chunk + needle.count)
    var count = 0
    for line in maps.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count >= 2, fields[1].hasPrefix("rw") else { continue }
      let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
      guard bounds.count == 2, bounds[1] > bounds[0], bounds[1] - bounds[0] < 1 << 30 else { continue }
      // Chunks that overlap by the needle's length less one, so that no match is cut in two.
      var start = bounds[0]
      while start < bounds[1] {
        let size = Int(min(UInt64(buffer.count), bounds[1] - start))
        let read = buffer.withUnsafeMutableBytes {
          pread(memory, $0.baseAddress, size, off_t(truncatingIfNeeded: start))
        }
        if read >= needle.count { count += occurrences(of: needle, in: buffer, count: read) }
        if read < size || start + UInt64(size) >= bounds[1] { break }
        start += UInt64(size - (needle.count - 1))
      }
    }
    return count
  }

  /// The matches of `needle` in the first `count` bytes of `haystack` (memmem is not in Glibc's
  /// Swift module: the first byte with memchr, the rest with memcmp).
  private static func occurrences(of needle: [UInt8], in haystack: [UInt8], count: Int) -> Int {
    haystack.withUnsafeBytes { bytes in
      needle.withUnsafeBytes { wanted in
        var found = 0
        var offset = 0
        while count - offset >= wanted.count,
          let hit = memchr(bytes.baseAddress! + offset, Int32(wanted[0]), count - offset - wanted.count + 1)
        {
          let at = bytes.baseAddress!.distance(to: UnsafeRawPointer(hit))
          if memcmp(bytes.baseAddress! + at, wanted.baseAddress!, wanted.count) == 0 { found += 1 }
          offset = at + 1
        }
        return found
      }
    }
  }
}
