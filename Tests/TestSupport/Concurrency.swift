import Foundation

/// A thread-safe counter, for closures that must be called a known number of times.
public final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0

  public init() {}

  /// Adds one.
  public func increment() { lock.withLock { count += 1 } }

  /// The count so far.
  public var value: Int { lock.withLock { count } }
}

/// A thread-safe recorder, for what callbacks and threads saw.
public final class Recorder<Element: Sendable>: @unchecked Sendable {
  private let lock = NSLock()
  private var elements: [Element] = []

  public init() {}

  /// Records one element.
  public func append(_ element: Element) { lock.withLock { elements.append(element) } }

  /// Everything recorded so far, in order.
  public var all: [Element] { lock.withLock { elements } }
}
