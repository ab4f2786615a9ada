import CBaseline
import Foundation

/// Resident memory and heap over many create/free cycles of one workload side.
public struct MemoryResult {
  public let workload: String
  public let side: String
  public let cycles: Int
  /// RSS after the warm-up (1% of the cycles, at least 100), in KiB.
  public let rssAfterWarmUp: Int64
  /// RSS half way through and at the end, in KiB.
  public let rssHalfWay: Int64
  public let rssAtEnd: Int64
  /// The process's peak RSS (VmHWM) at the end, in KiB.
  public let peakRSS: Int64
  /// Heap in use (mallinfo2) after the warm-up, half way and at the end, in bytes.
  public let heapAfterWarmUp: UInt64
  public let heapHalfWay: UInt64
  public let heapAtEnd: UInt64
  public let cpuSeconds: Double

  public var rssGrowth: Int64 { rssAtEnd - rssAfterWarmUp }
  public var heapGrowth: Int64 { Int64(bitPattern: heapAtEnd) - Int64(bitPattern: heapAfterWarmUp) }
  /// Growth over the second half alone: a leak grows in both halves, a cache filled once does not.
  public var heapGrowthSecondHalf: Int64 { Int64(bitPattern: heapAtEnd) - Int64(bitPattern: heapHalfWay) }
}

public enum MemoryCheck {
  /// Runs `side` of `workload` `cycles` times in batches, reading RSS and the heap in use after the
  /// warm-up, half way and at the end (after returning free pages with malloc_trim each time).
  public static func run(_ workload: Workload, side: String, cycles: Int) throws -> MemoryResult {
    guard let operation = workload.sides.first(where: { $0.name == side })?.run else {
      throw BenchmarkFailure("\(workload.name) has no side \(side)")
    }
    let warmUp = max(100, cycles / 100)
    try operation(warmUp)
    cb_trim_heap()
    let rssAfterWarmUp = cb_rss_kib()
    let heapAfterWarmUp = cb_heap_in_use_bytes()
    let batch = max(1, min(10_000, cycles / 20))
    var done = 0
    var rssHalfWay = rssAfterWarmUp
    var heapHalfWay = heapAfterWarmUp
    let start = cb_thread_cpu_ns()
    while done < cycles {
      let count = min(batch, cycles - done)
      try operation(count)
      let before = done
      done += count
      if before < cycles / 2 && done >= cycles / 2 {
        cb_trim_heap()
        rssHalfWay = cb_rss_kib()
        heapHalfWay = cb_heap_in_use_bytes()
      }
    }
    let seconds = Double(cb_thread_cpu_ns() &- start) / 1e9
    cb_trim_heap()
    return MemoryResult(
      workload: workload.name, side: side, cycles: cycles, rssAfterWarmUp: rssAfterWarmUp, rssHalfWay: rssHalfWay,
      rssAtEnd: cb_rss_kib(), peakRSS: cb_peak_rss_kib(), heapAfterWarmUp: heapAfterWarmUp,
      heapHalfWay: heapHalfWay, heapAtEnd: cb_heap_in_use_bytes(), cpuSeconds: seconds)
  }

  public static func table(_ results: [MemoryResult]) -> String {
    var rows = [
      [
        "workload", "side", "cycles", "RSS after warm-up KiB", "RSS at end KiB", "RSS growth KiB",
        "heap growth B", "of which 2nd half B", "peak RSS KiB", "CPU s",
      ]
    ]
    for result in results {
      rows.append([
        result.workload, result.side, String(result.cycles), String(result.rssAfterWarmUp),
        String(result.rssAtEnd), String(result.rssGrowth), String(result.heapGrowth),
        String(result.heapGrowthSecondHalf), String(result.peakRSS), String(format: "%.1f", result.cpuSeconds),
      ])
    }
    return Report.markdown(rows)
  }
}
