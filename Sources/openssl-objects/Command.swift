import ArgumentParser
import Foundation
import OpenSSLObjects

/// The `openssl-objects` command (contract: CLI.md).
@main
struct OpenSSLObjectsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "openssl-objects",
    abstract: "OpenSSL 3's own objects in a terminal: certificates, keys, pins.",
    discussion: """
      Exit status: 0 success, 1 the check said no (verification, handshake, revocation, a peer that \
      refused or could not be reached, a wrong PIN or passphrase), 2 bad usage or unreadable input.
      """,
    version: ToolVersion.text,
    subcommands: [
      Inspect.self, Pin.self, Verify.self, OCSPCommand.self, Connect.self, Serve.self, PKCS11Command.self, Demo.self,
    ])

  /// Runs the command with CLI.md's exit codes: 0 success, 1 the check said no, 2 bad usage or
  /// unreadable input.
  static func main() {
    // A peer that closes its socket must not kill the process through SIGPIPE: writes report EPIPE.
    signal(SIGPIPE, SIG_IGN)
    do {
      var command = try parseAsRoot()
      if command is OpenSSLObjectsCommand {
        // No subcommand: the help, and the status of bad usage.
        Output.usage(helpMessage())
        Foundation.exit(2)
      }
      try command.run()
    } catch let failure as CommandFailure {
      failure.report()
      Foundation.exit(failure.status)
    } catch let exit as ExitCode {
      Foundation.exit(exit.rawValue)
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        // --help and --version.
        print(fullMessage(for: error))
        Foundation.exit(0)
      }
      if error is ValidationError || code == .validationFailure {
        Output.usage(fullMessage(for: error))
        Foundation.exit(2)
      }
      let failure = CommandFailure.failed(error)
      failure.report()
      Foundation.exit(failure.status)
    }
  }
}

/// `openssl-objects --version`: the tool's version and the OpenSSL it runs with.
enum ToolVersion {
  /// The tool's version (scripts/install-c.sh reads it from this line for openssl-objects.pc).
  static let number = "0.1.0"

  /// `openssl-objects 0.1.0 (OpenSSL 3.0.22; built with 3.0.22)`.
  static var text: String {
    "openssl-objects \(number) (OpenSSL \(OpenSSLLibrary.runtimeVersion); built with "
      + "\(OpenSSLLibrary.compiledVersion))"
  }
}

/// A failure with its exit status, already described for the user.
struct CommandFailure: Error {
  /// 1: the check ran and said no. 2: bad usage or unreadable input.
  let status: Int32
  /// The text for stderr, `error: ...`.
  let message: String
  /// The JSON document for stdout, when `--json` was given.
  let json: JSON?

  func report() {
    if let json { Output.line(json.serialized()) }
    Output.error(message)
  }

  /// The failure `error` stands for (bad usage and unreadable input exit 2, a wrong PIN or
  /// passphrase 1: ``ExitStatus``); with `json`, CLI.md's error document with the `partial`
  /// results before it.
  static func input(_ error: any Error, json: Bool, partial: [(String, JSON)] = []) -> CommandFailure {
    if let failure = error as? CommandFailure { return failure }
    let object = Output.errorJSON(error)
    return failed(error, json: json ? .object(partial + [("error", object)]) : nil)
  }
}

/// Writing to stdout and stderr.
enum Output {
  /// Writes a line (or lines) to stdout. Every value from a certificate, a peer or a URL in it
  /// must have been escaped with ``escaped(_:)``; control characters other than `\n` that are
  /// left are escaped here, so that none reaches the terminal.
  static func line(_ text: String) {
    FileHandle.standardOutput.write(Data((escaped(text, keepingNewlines: true) + "\n").utf8))
  }

  /// Writes an error message to stderr, every control character escaped (a message may quote a
  /// URL or a name from a certificate).
  static func error(_ text: String) {
    let body = text.hasSuffix("\n") ? String(text.dropLast()) : text
    FileHandle.standardError.write(Data((escaped(body) + "\n").utf8))
  }

  /// Writes usage text (the help, argument errors) to stderr, with CLI.md's one error prefix.
  static func usage(_ text: String) {
    var body = text.hasPrefix("Error: ") ? "error: " + text.dropFirst("Error: ".count) : Substring(text)
    if body.hasSuffix("\n") { body = body.dropLast() }
    FileHandle.standardError.write(Data((escaped(String(body), keepingNewlines: true) + "\n").utf8))
  }

  /// An RFC 3339 UTC timestamp.
  static func time(_ date: Date) -> String {
    date.formatted(.iso8601)
  }

  /// CLI.md's error object: `{"name": ..., "message": ...}`.
  static func errorJSON(_ error: any Error) -> JSON {
    let name: String
    switch error {
    case let input as InputError:
      name = "InputError." + input.reason.description.replacingOccurrences(of: " ", with: "_")
    case is OpenSSLError: name = "OpenSSLError"
    default: name = String(describing: type(of: error))
    }
    return .object([("name", .string(name)), ("message", .string(String(describing: error)))])
  }
}

/// Options for reading encrypted keys: never a passphrase on the command line.
struct PassphraseOptions: ParsableArguments {
  @Option(
    name: .customLong("passphrase-file"),
    help: "A file holding the passphrase for encrypted keys and PKCS#12 files (a trailing newline is ignored).")
  var passphraseFile: String?

  @Flag(
    name: .customLong("passphrase-stdin"),
    help: "Read the passphrase from standard input (without echo on a terminal).")
  var passphraseStdin = false

  func validate() throws {
    if passphraseFile != nil && passphraseStdin {
      throw ValidationError("give either --passphrase-file or --passphrase-stdin, not both")
    }
  }

  /// The passphrase source, or `nil` when none was given. The passphrase is read once and
  /// copied for each key that needs it.
  var supplier: (() throws -> Passphrase?)? {
    guard passphraseFile != nil || passphraseStdin else { return nil }
    let cache = PassphraseCache(file: passphraseFile)
    return { try cache.passphrase() }
  }
}

extension PassphraseOptions {
  /// The passphrase `supplier` gives, or the empty passphrase when there is none.
  static func secret(_ supplier: (() throws -> Passphrase?)?) throws -> Passphrase {
    guard let supplier else { return Passphrase([]) }
    switch try supplier() {
    case .some(let secret): return secret
    case .none: return Passphrase([])
    }
  }
}

/// Reads a passphrase once (from a file, or from standard input without echo on a terminal),
/// keeps it in a wiped buffer while the command reads its inputs, and hands out copies.
final class PassphraseCache {
  private let file: String?
  private var secret: Passphrase?

  init(file: String?) {
    self.file = file
  }

  func passphrase() throws -> Passphrase {
    if secret == nil {
      secret = try file.map { try Passphrase.read(fromFile: $0) } ?? StandardInputSecret.read(prompt: "Passphrase: ")
    }
    return secret!.copy()
  }
}
