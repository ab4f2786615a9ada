import ArgumentParser
import Foundation
import OpenSSLObjects
import PKCS11Keys

/// Loading a private key named on the command line: a PEM or DER file, or a `pkcs11:` URI, with
/// CLI.md's rule that PINs never travel on the command line.
enum KeySource {
  /// Loads the key `argument` names.
  ///
  /// - Parameters:
  ///   - module: a PKCS#11 module given with `--module`, used when the URI names none.
  ///   - pinPath: where to read the PIN (`--pin-source` or `--pin-stdin`), if given.
  ///   - allowPinValue: whether a URI with `pin-value` is accepted anyway.
  ///   - passphrase: for encrypted key files.
  /// - Throws: ``CommandFailure`` (exit 2) naming the flag and what is wrong.
  static func privateKey(
    _ argument: String,
    flag: String = "--key",
    module: String? = nil,
    pinPath: String? = nil,
    allowPinValue: Bool = false,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws -> PrivateKey {
    guard argument.lowercased().hasPrefix("pkcs11:") else {
      do {
        return try PrivateKey(contentsOfFile: argument, passphrase: passphrase ?? { nil })
      } catch {
        throw CommandFailure(status: 2, message: "error: \(flag) \(argument): \(error)", json: nil)
      }
    }
    let uri: PKCS11URI
    do {
      uri = try PKCS11URI(parsing: argument)
    } catch {
      throw CommandFailure(status: 2, message: "error: \(flag): \(error)", json: nil)
    }
    if uri.pinValue != nil && !allowPinValue {
      throw CommandFailure(
        status: 2,
        message: "error: \(flag): the pkcs11: URI carries pin-value on the command line, where every user of this "
          + "machine can read it (/proc/PID/cmdline); put the PIN in a file and use pin-source=file:/path in the "
          + "URI (or --pin-source FILE), or pipe it with --pin-stdin; --allow-pin-value accepts it anyway",
        json: nil)
    }
    do {
      // A module named on the command line, by --module or by the URI, is the user's own choice.
      var options = PKCS11LoadOptions(modulePolicy: .allowList([module, uri.modulePath].compactMap { $0 }))
      if uri.moduleName != nil { options.modulePolicy = .allowAnyModule }
      if let module, uri.modulePath == nil, uri.moduleName == nil {
        options.moduleFile = module
      }
      if let pinPath {
        let cache = PINCache(path: pinPath)
        options.pin = { try cache.pin() }
      }
      return try PrivateKey(pkcs11: uri, options: options)
    } catch {
      throw CommandFailure(status: 2, message: "error: \(flag) \(uri): \(error)", json: nil)
    }
  }
}
