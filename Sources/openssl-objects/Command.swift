import ArgumentParser
import Foundation
import OpenSSLObjects

/// The `openssl-objects` command (contract: CLI.md).
@main
struct OpenSSLObjectsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "openssl-objects",
    abstract: "OpenSSL 3's own objects in a terminal: certificates, keys, pins.",
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
      try command.run()
    } catch let failure as CommandFailure {
      failure.report()
      Foundation.exit(failure.status)
    } catch let exit as ExitCode {
      Foundation.exit(exit.rawValue)
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        print(fullMessage(for: error))
        Foundation.exit(0)
      }
      Output.error(fullMessage(for: error))
      Foundation.exit(2)
    }
  }
}

/// A failure with its exit status, already described for the user.
struct CommandFailure: Error {
  /// 1: the check ran and said no. 2: bad usage or unreadable input.
  let status: Int32
  /// The text for stderr.
  let message: String
  /// The JSON document for stdout, when `--json` was given.
  let json: JSON?

  func report() {
    if let json { Output.line(json.serialized()) }
    Output.error(message)
  }

  /// Bad usage or unreadable input (exit 2), named after what could not be read.
  static func input(_ error: any Error, json: Bool, partial: [(String, JSON)] = []) -> CommandFailure {
    let object = Output.errorJSON(error)
    return CommandFailure(
      status: 2, message: "error: \(error)", json: json ? .object(partial + [("error", object)]) : nil)
  }
}

/// Writing to stdout and stderr.
enum Output {
  static func line(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
  }

  static func error(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
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
  @Option(name: .customLong("passphrase-file"), help: "A file whose first line is the passphrase for encrypted keys.")
  var passphraseFile: String?

  @Flag(name: .customLong("passphrase-stdin"), help: "Read the passphrase for encrypted keys from standard input.")
  var passphraseStdin = false

  func validate() throws {
    if passphraseFile != nil && passphraseStdin {
      throw ValidationError("give either --passphrase-file or --passphrase-stdin, not both")
    }
  }

  /// The passphrase source, or `nil` when none was given. The passphrase is read once and
  /// copied for each key that needs it.
  var supplier: (() throws -> Passphrase?)? {
    guard let path = passphraseFile ?? (passphraseStdin ? "/dev/stdin" : nil) else { return nil }
    let cache = PassphraseCache(path: path)
    return { try cache.passphrase() }
  }
}

/// Reads a passphrase once, keeps it in a wiped buffer, and hands out copies.
final class PassphraseCache {
  private let path: String
  private var secret: Passphrase?

  init(path: String) {
    self.path = path
  }

  func passphrase() throws -> Passphrase {
    if secret == nil { secret = try Passphrase.read(fromFile: path) }
    return secret!.copy()
  }
}
