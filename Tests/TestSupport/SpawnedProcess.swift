import Foundation

/// A child process started with `posix_spawn`, its standard input, output and error on pipes,
/// each output read to its end by a thread of its own. Foundation's `Process` is not used: its
/// termination monitoring keeps objects alive after the child is gone, which LeakSanitizer
/// reports, and it is one more thread touching the child's state.
final class SpawnedProcess: @unchecked Sendable {
  /// The child's process id.
  let pid: pid_t
  /// The write end of the child's standard input; closed by ``closeInput()``.
  private var input: Int32
  private let output: PipeReader
  private let errors: PipeReader?
  private let lock = NSLock()
  // Guarded by `lock`.
  private var exitStatus: Int32?

  /// Starts `executable` (looked up on PATH if it has no slash) with `arguments`; the
  /// environment is this process's with `environment` laid over it. With `mergeErrors`, standard
  /// error goes to the same pipe as standard output. With `terminal` (a pseudo-terminal's slave
  /// path), the child starts a session of its own and its standard input is that terminal, which
  /// becomes its controlling terminal (`/dev/tty`); its outputs stay on the pipes.
  init(
    _ executable: String, _ arguments: [String], environment: [String: String], mergeErrors: Bool,
    terminal: String? = nil
  ) throws {
    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    // Pipes are made and the child spawned under one lock: a child another thread spawns
    // between pipe() and FD_CLOEXEC would inherit this child's pipe ends and keep them open
    // (where the child cannot close all it inherits, see closeInheritedDescriptors).
    Self.spawning.lock()
    defer { Self.spawning.unlock() }
    let inputPipe = try Self.pipe()
    let outputPipe = try Self.pipe()
    let errorPipe = mergeErrors ? nil : try Self.pipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    if let terminal {
      // POSIX_SPAWN_SETSID (glibc 2.26), which Swift does not import: a session leader without a
      // controlling terminal that opens one without O_NOCTTY makes it its controlling terminal.
      posix_spawnattr_setflags(&attributes, 0x80)
      posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
    } else {
      posix_spawn_file_actions_adddup2(&actions, inputPipe.read, 0)
    }
    posix_spawn_file_actions_adddup2(&actions, outputPipe.write, 1)
    posix_spawn_file_actions_adddup2(&actions, errorPipe?.write ?? outputPipe.write, 2)
    // The pipes' own descriptors are among those closed (they are close-on-exec too).
    Self.closeInheritedDescriptors(&actions)
    let argv = [executable] + arguments
    let env = merged.map { "\($0.key)=\($0.value)" }
    var pid: pid_t = 0
    let status = withCStrings(argv) { argvPointers in
      withCStrings(env) { envPointers in
        executable.contains("/")
          ? posix_spawn(&pid, executable, &actions, &attributes, argvPointers, envPointers)
          : posix_spawnp(&pid, executable, &actions, &attributes, argvPointers, envPointers)
      }
    }
    close(inputPipe.read)
    close(outputPipe.write)
    if let errorPipe { close(errorPipe.write) }
    guard status == 0 else {
      close(inputPipe.write)
      close(outputPipe.read)
      if let errorPipe { close(errorPipe.read) }
      throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO)
    }
    self.pid = pid
    input = inputPipe.write
    output = PipeReader(outputPipe.read)
    errors = errorPipe.map { PipeReader($0.read) }
  }

  deinit {
    closeInput()
    if exitStatus == nil {
      kill(pid, SIGKILL)
      _ = waitForExit()
    }
  }

  /// Writes to the child's standard input (a child that closed it gets nothing: SIGPIPE is
  /// ignored by the tests).
  func write(_ text: String) {
    lock.withLock {
      guard input >= 0 else { return }
      let bytes = Array(text.utf8)
      var offset = 0
      while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
        if written <= 0 { break }
        offset += written
      }
    }
  }

  /// Closes the child's standard input.
  func closeInput() {
    lock.withLock {
      if input >= 0 { close(input) }
      input = -1
    }
  }

  /// The output so far (standard output, and standard error when merged).
  var outputText: String { output.text }
  /// Standard error so far, when not merged.
  var errorText: String { errors?.text ?? "" }
  /// Whether both outputs reached their end.
  var outputFinished: Bool { output.isFinished && (errors?.isFinished ?? true) }

  /// Whether the child still runs (`waitpid` with `WNOHANG`).
  var isRunning: Bool {
    lock.withLock {
      guard exitStatus == nil else { return false }
      var status: Int32 = 0
      guard waitpid(pid, &status, WNOHANG) == pid else { return true }
      exitStatus = Self.decode(status)
      return false
    }
  }

  /// Waits for the child to exit and returns its exit status (128 + the signal for a signal).
  @discardableResult
  func waitForExit() -> Int32 {
    if let status = lock.withLock({ exitStatus }) { return status }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let decoded = Self.decode(status)
    lock.withLock { exitStatus = decoded }
    return decoded
  }

  private static func decode(_ status: Int32) -> Int32 {
    // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
    status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
  }

  private static let spawning = NSLock()

  /// Makes the child close every descriptor above standard error. Sockets that SwiftNIO opens
  /// (and `accept4`s) are not close-on-exec: a child that a test spawns while another test's
  /// connection is open would hold that connection's socket, and the peer would not see it
  /// close until the child exits (a NIO test waited a minute for a server's end that way while
  /// a snippet build ran).
  private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    if let closeFrom, closeFrom(&actions, 3) == 0 { return }
    // Without glibc 2.34's closefrom action (or when adding it failed): what is open now
    // (descriptors opened later by other threads may still be inherited).
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for descriptor in open.compactMap({ Int32($0) }) where descriptor > 2 {
      posix_spawn_file_actions_addclose(&actions, descriptor)
    }
  }

  private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

  /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which Swift does not import.
  private static let closeFrom: AddCloseFrom? = {
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: AddCloseFrom.self)
  }()

  private static func pipe() throws -> (read: Int32, write: Int32) {
    var descriptors: [Int32] = [0, 0]
    guard Glibc.pipe(&descriptors) == 0 else { throw POSIXError(.EMFILE) }
    // Not inherited by children other threads spawn meanwhile (each must see its pipe's end).
    for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
    return (descriptors[0], descriptors[1])
  }
}

/// Reads a pipe to its end on a thread of its own.
private final class PipeReader: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()
  private var finished = false

  init(_ descriptor: Int32) {
    Thread { [self] in
      var buffer = [UInt8](repeating: 0, count: 65_536)
      while true {
        let count = read(descriptor, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        lock.withLock { data.append(contentsOf: buffer[0..<count]) }
      }
      close(descriptor)
      lock.withLock { finished = true }
    }.start()
  }

  var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
  var isFinished: Bool { lock.withLock { finished } }

  /// Waits for the end of the pipe (bounded).
  func waitForEnd(timeout: TimeInterval) {
    let deadline = Date().addingTimeInterval(timeout)
    while !isFinished && Date() < deadline { usleep(1_000) }
  }
}

extension SpawnedProcess {
  /// Waits (bounded) until both outputs reached their end.
  func waitForOutput(timeout: TimeInterval = 10) {
    output.waitForEnd(timeout: timeout)
    errors?.waitForEnd(timeout: timeout)
  }
}

/// Runs `body` with a NULL-terminated array of C strings.
private func withCStrings<Result>(
  _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
) -> Result {
  var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
  pointers.append(nil)
  defer { pointers.forEach { free($0) } }
  return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
