// Private keys from PEM and DER, with and without a passphrase. The first byte chooses how the
// passphrase is given; the rest is the key. Rules checked beyond "no crash": nothing is left on
// OpenSSL's error queue; the closure is called at most once; a parsed key's unencrypted PKCS#8
// reads back as the same key.
import FuzzSupport
import OpenSSLObjects

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.initialize {
    var seeds: [String: [UInt8]] = [:]
    let keys: [(String, PrivateKey)] = [
      ("ec", FuzzPKI.leafKey), ("rsa", try PrivateKey(generating: .rsa(bits: 1024))),
      ("ed25519", try PrivateKey(generating: .ed25519)),
    ]
    for (name, key) in keys {
      // Mode byte 0: no passphrase; 1: a closure answering "fuzz"; 2: the known passphrase "fuzz".
      seeds["\(name).pem"] = [0] + (try key.pemEncoded().withUnsafeBytes { Array($0) })
      seeds["\(name).der"] = [0] + (try key.derEncoded().withUnsafeBytes { Array($0) })
      if name != "ed25519" {
        seeds["\(name).traditional.pem"] = [0] + (try key.traditionalPEMEncoded().withUnsafeBytes { Array($0) })
      }
      seeds["\(name).encrypted.pem"] =
        [1] + (try key.pemEncoded(passphrase: Passphrase(Array("fuzz".utf8))).withUnsafeBytes { Array($0) })
      seeds["\(name).encrypted.der"] =
        [2] + (try key.derEncoded(passphrase: Passphrase(Array("fuzz".utf8))).withUnsafeBytes { Array($0) })
    }
    return seeds
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrivateKey(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let input = Fuzz.bytes(data, size)
  guard let mode = input.first else { return 0 }
  let bytes = Array(input.dropFirst())
  let key: PrivateKey?
  switch mode % 3 {
  case 0:
    key = try? PrivateKey(bytes: bytes)
  case 1:
    let calls = CallCounter()
    key = try? PrivateKey(bytes: bytes) {
      calls.count += 1
      return Passphrase(Array("fuzz".utf8))
    }
    Fuzz.require(calls.count <= 1, "the passphrase closure was called \(calls.count) times")
  default:
    key = try? PrivateKey(bytes: bytes, passphrase: Passphrase(Array("fuzz".utf8)))
  }
  Fuzz.requireEmptyErrorQueue("PrivateKey(bytes:)")
  if let key { exercise(key) }
  _ = try? PublicKey(bytes: bytes)
  Fuzz.requireEmptyErrorQueue("PublicKey(bytes:)")
  return 0
}

final class CallCounter: @unchecked Sendable {
  var count = 0
}

func exercise(_ key: PrivateKey) {
  var sink = "\(key) \(key.algorithm) \(key.bits) \(key.securityBits) \(String(describing: key.curveName))"
  sink += "\(String(describing: try? key.spkiPin)) \(String(describing: try? key.publicKeyPEM))"
  if let publicKey = try? key.publicKey {
    sink += "\(publicKey) \(String(describing: try? publicKey.derEncoded.count))"
    Fuzz.require(key.hasSamePublicKey(as: publicKey), "a key's public half is another key")
  }
  // Signing costs grow with the key; keys a fuzzer makes large are read, not used.
  if key.bits <= 4096, let signature = try? key.signature(for: [1, 2, 3]) {
    _ = try? key.isValidSignature(signature, for: [1, 2, 3])
  }
  Fuzz.requireEmptyErrorQueue("the accessors of a private key")
  guard let pem = try? key.pemEncoded() else { return }
  let again = Fuzz.mustSucceed("the PKCS#8 of a parsed key does not parse again") { try PrivateKey(secret: pem) }
  Fuzz.require(again.hasSamePublicKey(as: key), "a key's PKCS#8 round trip changed it")
  Fuzz.requireEmptyErrorQueue("the PKCS#8 round trip")
  _ = sink.count
}
