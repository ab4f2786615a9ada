import Foundation

/// Another process's memory, read through `/proc/PID/mem` (the tests run as the child's parent
/// and owner, which ptrace's access rules allow).
public enum ProcessMemory {
  /// How many times `needle` occurs in the writable mappings of process `pid` (heap, stacks,
  /// anonymous memory, data segments): where a copy of a secret would live. Regions that cannot be
  /// read (guard pages, a mapping gone meanwhile) are skipped.
  public static func occurrences(of needle: [UInt8], inProcess pid: Int32) throws -> Int {
    precondition(!needle.isEmpty)
    let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
    let memory = open("/proc/\(pid)/mem", O_RDONLY)
    guard memory >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(memory) }
    var count = 0
    for line in maps.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count >= 2, fields[1].hasPrefix("rw") else { continue }
      let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
      guard bounds.count == 2, bounds[1] > bounds[0] else { continue }
      let size = Int(bounds[1] - bounds[0])
      var region = [UInt8](repeating: 0, count: size)
      let read = region.withUnsafeMutableBytes {
        pread(memory, $0.baseAddress, size, off_t(truncatingIfNeeded: bounds[0]))
      }
      guard read > 0 else { continue }
      // memmem is not in Glibc's Swift module: the first byte with memchr, the rest with memcmp.
      count += region.withUnsafeBytes { bytes in
        needle.withUnsafeBytes { wanted in
          var found = 0
          var offset = 0
          while read - offset >= wanted.count,
            let hit = memchr(bytes.baseAddress! + offset, Int32(wanted[0]), read - offset - wanted.count + 1)
          {
            let at = bytes.baseAddress!.distance(to: UnsafeRawPointer(hit))
            if memcmp(bytes.baseAddress! + at, wanted.baseAddress!, wanted.count) == 0 { found += 1 }
            offset = at + 1
          }
          return found
        }
      }
    }
    return count
  }
}
