import CBaseline

/// Runs an operation `iterations` times; throws if any repetition failed.
public typealias Operation = (_ iterations: Int) throws -> Void

/// Runs an operation `iterations` times in another process and returns the CPU seconds that
/// process reported for them.
public typealias TimedOperation = (_ iterations: Int) throws -> Double

/// One side of a workload: ours, C, naive C or a peer.
public struct Side {
  /// The side's name in the tables and in `bench-results.json`.
  public let name: String
  /// Runs the side in this process (for a side in another process: asks it and waits).
  public let run: Operation
  /// For a side in another process: the CPU seconds it reports. `nil`: the harness measures this
  /// thread's CPU time around ``run``.
  public let timed: TimedOperation?

  /// A side that runs in this thread.
  public init(name: String, run: @escaping Operation) {
    self.name = name
    self.run = run
    self.timed = nil
  }

  /// A side in another process, which measures its own CPU time.
  public init(name: String, timed: @escaping TimedOperation) {
    self.name = name
    self.run = { _ = try timed($0) }
    self.timed = timed
  }
}

/// One benchmark workload: the same operation, on the same inputs, through OpenSSLObjects and
/// through C, plus the naive C form and peers where they exist.
///
/// Adding a workload is adding one of these to ``Workloads/all(_:)`` (and its C function to
/// `Sources/CBaseline`).
public struct Workload {
  /// The workload's name in the table and in `bench-results.json`.
  public let name: String
  /// Through our Swift API, as a user would write it.
  public let ours: Operation
  /// Through C with the algorithms fetched once, as our defaults do.
  public let c: Operation
  /// Through C as most C code is written (implicit fetches), where that differs from ``c``.
  public let naiveC: Operation?
  /// Other bindings of the same operation (Python's `ssl`, swift-nio-ssl, ...).
  public let peers: [Side]
  /// The name under which the peers know this workload (`handshake-ecdsa`, `bulk`, ...), if
  /// they implement it.
  public let peerKey: String?
  /// What the two sides do, for the notes.
  public let note: String
  /// A control: both sides are the same code, so its ratio shows the harness's own noise. Shown
  /// in the table, left out of `bench-results.json`.
  public let isControl: Bool

  public init(
    name: String,
    note: String,
    ours: @escaping Operation,
    c: @escaping Operation,
    naiveC: Operation? = nil,
    peers: [Side] = [],
    peerKey: String? = nil,
    isControl: Bool = false
  ) {
    self.isControl = isControl
    self.name = name
    self.note = note
    self.ours = ours
    self.c = c
    self.naiveC = naiveC
    self.peers = peers
    self.peerKey = peerKey
  }

  /// The same workload with more peers.
  public func adding(peers more: [Side]) -> Workload {
    Workload(
      name: name, note: note, ours: ours, c: c, naiveC: naiveC, peers: peers + more, peerKey: peerKey,
      isControl: isControl)
  }

  /// Every side to measure, in a fixed order: ours, C, naive C, then the peers.
  public var sides: [Side] {
    var sides = [Side(name: "ours", run: ours), Side(name: "c", run: c)]
    if let naiveC { sides.append(Side(name: "naive_c", run: naiveC)) }
    return sides + peers
  }
}

/// A C workload function reported a failure.
public struct BenchmarkFailure: Error, CustomStringConvertible {
  public let description: String

  public init(_ description: String) {
    self.description = description
  }
}

/// Turns a C workload's status (1 success, 0 failure) into a thrown error.
@inline(__always)
func check(_ status: Int32, _ what: @autoclosure () -> String) throws {
  if status != 1 { throw BenchmarkFailure("the C side of \(what()) failed") }
}

/// Keeps a value alive and opaque to the optimizer, so the code that made it cannot be dropped.
@inline(never)
public func blackHole<T>(_ value: T) {
  withUnsafePointer(to: value) { cb_black_hole($0) }
}
