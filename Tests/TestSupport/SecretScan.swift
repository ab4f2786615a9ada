import Foundation
public import OpenSSLObjects

/// Searches what a program printed for secrets it was given: PINs, passphrases, and a private
/// key's material in the forms it could leak in (its PKCS#8 PEM lines, its DER and its private
/// scalar in hexadecimal or base64).
public struct SecretScan: Sendable {
  /// Each secret's text, with the name to report it by (never the secret itself).
  private var needles: [(name: String, text: String)] = []

  public init() {}

  /// Adds a PIN or passphrase.
  public mutating func add(_ name: String, _ secret: String) {
    needles.append((name, secret))
  }

  /// Adds a private key's material: the base64 lines of its unencrypted PKCS#8 PEM, its DER in
  /// hexadecimal, and, for an EC key, its private scalar in hexadecimal and base64.
  public mutating func add(_ name: String, key: PrivateKey) throws {
    let pem = try key.pemEncoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    for (index, line) in pem.split(separator: "\n").enumerated() where !line.hasPrefix("-----") && line.count >= 16 {
      needles.append(("\(name) PEM line \(index)", String(line)))
    }
    let der = try key.derEncoded().withUnsafeBytes { Array($0) }
    needles.append(("\(name) DER (hex)", der.map { String(format: "%02x", $0) }.joined()))
    // ECPrivateKey: INTEGER 1, then OCTET STRING of the scalar.
    let marker: [UInt8] = [0x02, 0x01, 0x01, 0x04]
    if let start = (0..<(der.count - marker.count)).first(where: { Array(der[$0..<($0 + marker.count)]) == marker }) {
      let length = Int(der[start + marker.count])
      let scalar = Array(der[(start + marker.count + 1)..<min(der.count, start + marker.count + 1 + length)])
      let hex = scalar.map { String(format: "%02x", $0) }.joined()
      needles.append(("\(name) scalar (hex)", hex))
      needles.append(("\(name) scalar (HEX)", hex.uppercased()))
      needles.append(("\(name) scalar (colon hex)", scalar.map { String(format: "%02x", $0) }.joined(separator: ":")))
      needles.append(("\(name) scalar (base64)", Data(scalar).base64EncodedString()))
    }
  }

  /// The names of the secrets `text` contains (empty when it contains none).
  public func found(in text: String) -> [String] {
    needles.filter { text.contains($0.text) }.map(\.name)
  }
}
