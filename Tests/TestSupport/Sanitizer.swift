import Foundation

/// The sanitizer this test process was built with (`swift build --sanitize=...`), found by the
/// runtime's entry symbol, so that tests can build their C programs to match and size their
/// stress loops.
public enum Sanitizer: Sendable {
  case none
  case address
  case thread

  /// The sanitizer of this process.
  public static let current: Sanitizer = {
    // dlopen(nil) is the process itself, with the executable's symbols.
    let handle = dlopen(nil, RTLD_NOW)
    defer { if let handle { dlclose(handle) } }
    if dlsym(handle, "__tsan_init") != nil { return .thread }
    if dlsym(handle, "__asan_init") != nil { return .address }
    return .none
  }()

  /// The C compiler, compile flags and link flags for a C program that loads our libraries:
  /// under a sanitizer, the Swift toolchain's own clang with the same sanitizer (its runtime must
  /// be the one the Swift code was instrumented for; ThreadSanitizer's also needs the toolchain's
  /// libdispatch); otherwise `cc`, with AddressSanitizer when `address` is set.
  public static func cCompiler(address: Bool = false) -> (compiler: String, flags: [String], libraries: [String]) {
    switch current {
    case .address: return (toolchainClang, ["-fsanitize=address", "-g"], [])
    case .thread:
      return (
        toolchainClang, ["-fsanitize=thread", "-g"], ["-L\(swiftRuntimeDirectory)", "-ldispatch", "-lBlocksRuntime"]
      )
    case .none: return ("cc", address ? ["-fsanitize=address", "-g"] : [], [])
    }
  }

  /// `clang` of the Swift toolchain this process runs on: next to `swift` (`usr/bin`), found from
  /// the directory libswiftCore.so was loaded from (`usr/lib/swift/linux`).
  public static let toolchainClang: String = toolchainTool("clang")

  /// `swiftc` of the Swift toolchain this process runs on.
  public static let toolchainSwiftc: String = toolchainTool("swiftc")

  private static func toolchainTool(_ name: String) -> String {
    let runtime = URL(fileURLWithPath: swiftRuntimeDirectory)
    let tool = runtime.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("bin/\(name)").path
    return FileManager.default.isExecutableFile(atPath: tool) ? tool : name
  }

  /// The directory of the Swift runtime libraries: where this process loaded libswiftCore.so from.
  public static let swiftRuntimeDirectory: String = {
    let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
    for line in maps.split(separator: "\n") where line.hasSuffix("/libswiftCore.so") {
      if let path = line.split(separator: " ").last {
        return (String(path) as NSString).deletingLastPathComponent
      }
    }
    return "/opt/swift/usr/lib/swift/linux"
  }()
}
