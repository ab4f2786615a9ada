/// A set of SPKI pins (`sha256/BASE64`, the `pin-sha256` form of RFC 7469).
///
/// A chain satisfies the set when any certificate of the *verified* chain (the one OpenSSL built
/// and checked, `X509_STORE_CTX_get0_chain` after success, never the chain a peer sent) has one
/// of the pins. Pins are checked only after OpenSSL's own verification succeeded: a pin never
/// replaces signature, time or name checks.
public struct PinSet: Sendable, Hashable, CustomStringConvertible {
  /// The pins, in the form `sha256/BASE64`.
  public let pins: Set<String>

  /// Makes a set from pins in the form `sha256/BASE64`.
  ///
  /// - Throws: ``InputError`` with ``InputError/Reason/malformed`` for a pin that is not
  ///   `sha256/` followed by the base64 of 32 bytes.
  public init(_ pins: some Sequence<String>) throws(InputError) {
    var checked = Set<String>()
    for pin in pins {
      guard pin.hasPrefix(SPKIPin.prefix), let digest = base64Decoded(String(pin.dropFirst(SPKIPin.prefix.count))),
        digest.count == 32
      else {
        throw InputError(
          .malformed, object: "SPKI pin", source: "\"\(pin)\"",
          detail: "a pin is \"sha256/\" followed by the base64 of a 32-byte SHA-256 digest")
      }
      checked.insert(pin)
    }
    self.pins = checked
  }

  /// Whether the set has no pins (an empty set is satisfied by nothing).
  public var isEmpty: Bool { pins.isEmpty }

  /// The pins of a chain, leaf first.
  public static func pins(of chain: [X509Certificate]) -> [String] {
    chain.map(\.spkiPin)
  }

  /// Whether some certificate of `chain` has one of the pins.
  public func isSatisfied(by chain: [X509Certificate]) -> Bool {
    chain.contains { pins.contains($0.spkiPin) }
  }

  /// The pins sorted, for messages.
  public var description: String { pins.sorted().joined(separator: ", ") }
}
