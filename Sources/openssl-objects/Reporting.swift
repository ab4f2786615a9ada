import ArgumentParser
import Foundation
import OpenSSLObjects
import PKCS11Keys

// What the command says and with which exit status (CLI.md's conventions): text that cannot
// drive a terminal, messages in the command line's own terms, and the status an error stands for.

// MARK: - Text that is safe on a terminal

extension Output {
  /// `text` with every character that could act on a terminal written as a visible escape: the
  /// C0 controls (`\n`, `\r`, `\t`, and `\x1B` for ESC and the like), DEL, the C1 controls
  /// (`\u{9B}`), the Unicode line and paragraph separators and the bidirectional controls. For
  /// text output of every string that came from a certificate, a peer, a token or a URL; JSON
  /// carries such strings exactly, with JSON's own escapes.
  static func escaped(_ text: String) -> String {
    escaped(text, keepingNewlines: false)
  }

  /// The same, keeping `\n` as it is (for text whose lines are ours, once every value in it was
  /// escaped with ``escaped(_:)``).
  static func escaped(_ text: String, keepingNewlines: Bool) -> String {
    guard text.unicodeScalars.contains(where: { needsEscape($0) && !(keepingNewlines && $0 == "\n") }) else {
      return text
    }
    var output = ""
    for scalar in text.unicodeScalars {
      if keepingNewlines && scalar == "\n" || !needsEscape(scalar) {
        output.unicodeScalars.append(scalar)
        continue
      }
      switch scalar {
      case "\n": output += "\\n"
      case "\r": output += "\\r"
      case "\t": output += "\\t"
      default:
        if scalar.value < 0x80 {
          output += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
        } else {
          output += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        }
      }
    }
    return output
  }

  /// Whether `scalar` could act on a terminal (JSON escapes the same characters, as `\uXXXX`).
  static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F: true
    // Line and paragraph separators; bidirectional embeddings, overrides and isolates.
    case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: true
    default: false
    }
  }
}

extension String {
  /// Padded with leading zeros to `width` characters.
  fileprivate func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}

extension GeneralName {
  /// The name exactly as encoded, with its type's prefix (`DNS:`, `email:`, `URI:`): for JSON,
  /// which escapes what needs escaping itself. ``description`` writes control bytes as `\x00`,
  /// which a name could also contain literally.
  var exactText: String {
    switch self {
    case .dnsName(let name): "DNS:" + name
    case .email(let address): "email:" + address
    case .uri(let uri): "URI:" + uri
    default: description
    }
  }
}

// MARK: - Exit statuses

/// CLI.md's exit statuses for an error: 1 when a check ran and said no (a verification, a
/// handshake, a peer that refused or could not be reached, a wrong PIN or passphrase), 2 for bad
/// usage and unreadable input.
enum ExitStatus {
  static func of(_ error: any Error) -> Int32 {
    switch error {
    case let failure as CommandFailure: failure.status
    case let input as InputError: input.reason == .wrongPassphrase ? 1 : 2
    case let token as PKCS11Error: [.loginFailed, .pinMismatch].contains(token.code) ? 1 : 2
    case let socket as Socket.Failure: socket.status
    case is VerificationError, is TLSError, is OCSPError, is OCSPClientError: 1
    default: 2
    }
  }
}

// MARK: - Messages in the command line's terms

extension CommandFailure {
  /// A failure for `error`, with the exit status it stands for (``ExitStatus``) and a message
  /// naming `subject` (a flag and its file, a host), in the command line's terms.
  static func failed(_ error: any Error, subject: String? = nil, json: JSON? = nil) -> CommandFailure {
    if let failure = error as? CommandFailure { return failure }
    let text = CLIText.describe(error)
    return CommandFailure(
      status: ExitStatus.of(error), message: "error: " + (subject.map { "\($0): " } ?? "") + text, json: json)
  }
}

/// The command line's words for library errors that would otherwise name Swift API.
enum CLIText {
  static func describe(_ error: any Error) -> String {
    if let token = error as? PKCS11Error {
      switch token.code {
      case .noModule:
        return "the pkcs11: URI names no module: add ?module-path=/path/to/module.so to it"
          + " (for SoftHSM2, /usr/lib/softhsm/libsofthsm2.so)"
      case .pinRequired:
        var text = "the token"
        if let label = token.token { text += " \"\(label)\"" }
        return text + " needs its PIN: give --pin-source FILE or --pin-stdin, or put pin-source=file:/path in the URI"
      default: break
      }
    }
    return String(describing: error)
  }
}
