import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Secrets that go through the Swift API are never left in memory that is freed without being
/// wiped: `oo-test-helper secrets-freed` runs with Tests/CapsuleC/free_scan.c preloaded, which
/// searches every block the process frees for them.
@Suite(
  "Secrets: the Swift API leaves no copy of keys, passphrases or PINs in freed memory",
  .enabled(
    if: Sanitizer.current == .none,
    "the preloaded scanner interposes free(), which a sanitizer's runtime owns; the plain run checks this"))
struct SecretMemoryTests {
  private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

  /// Key and passphrase files load through wiped buffers, an exported key lives in `SecretBytes`,
  /// and a `pin-value` is decoded into one (rows 69, 70, 84). Breaking the promise (a copy of a
  /// passphrase, a PIN or the key's PEM text freed without being wiped) looks like a "found"
  /// line other than the canary's, a block the helper frees unwiped on purpose to show that the
  /// search sees its frees.
  @Test func keysPassphrasesAndPINsLeaveNoCopyInFreedMemory() throws {
    let directory = try TemporaryDirectory()
    let scanner = directory.file("free_scan.so")
    let built = try ChildProcess.run(
      "cc", ["-shared", "-fPIC", "-Wall", "-Werror", "\(Self.repository)/Tests/CapsuleC/free_scan.c", "-o", scanner])
    #expect(built.status == 0, "\(built.output)")

    let passphrase = "oo-passphrase-Hv6Lp3Qn8Ws1"
    let pin = "oo-pin-Xc5Bm2Tz7Kr4"
    let key = try PrivateKey(generating: .ec(.p256))
    let pem = try key.pemEncoded().withUnsafeBytes { Array($0) }
    let plain = try directory.write("plain.pem", pem)
    let encrypted = try directory.write(
      "encrypted.pem", try key.pemEncoded(passphrase: Passphrase(Array(passphrase.utf8))).withUnsafeBytes { Array($0) })
    let passphraseFile = try directory.write("passphrase", passphrase + "\n")
    let uriFile = try directory.write("uri", "pkcs11:token=oo-test;object=k;type=private?pin-value=\(pin)")

    var needles: [(String, [UInt8])] = [
      ("canary", Array("oo-canary-unwiped-block".utf8)), ("passphrase", Array(passphrase.utf8)),
      ("pin", Array(pin.utf8)),
    ]
    // Every base64 line of the key's PEM but the last: a copy of a file's buffer, of the text or
    // of the exported PEM would hold them. Not the last line: OpenSSL 3.0's PEM_read_bio_ex frees
    // its base64 decoding context (EVP_ENCODE_CTX_free) without wiping the last chunk of the
    // block it holds. Nor the private scalar in binary: OpenSSL's key decoders and encoders free
    // copies of it without wiping (EC_PRIVATEKEY, openssl/openssl#32639). Both are OpenSSL's own
    // memory, out of this library's reach (docs/SECURITY.md, "Out of scope").
    let lines = String(decoding: pem, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("-----") }
    #expect(lines.count >= 3)
    for (index, line) in lines.dropLast().enumerated() {
      needles.append(("pem-line-\(index + 1)", Array(line.utf8)))
    }
    let needleFile = try directory.write(
      "needles",
      needles.map { name, bytes in name + " " + bytes.map { String(format: "%02x", $0) }.joined() }
        .joined(separator: "\n") + "\n")

    let result = try ChildProcess.run(
      ChildProcess.product("oo-test-helper"), ["secrets-freed", plain, encrypted, passphraseFile, uriFile],
      environment: ["LD_PRELOAD": scanner, "OO_FREE_SCAN_NEEDLES": needleFile])
    #expect(result.status == 0, "\(result.output)")
    let found = result.stdout.split(separator: "\n").filter { $0.hasPrefix("found ") }.map { String($0.dropFirst(6)) }
    #expect(found == ["canary"], "\(result.output)")
    let scanned = result.stdout.split(separator: "\n").first { $0.hasPrefix("scanned ") }.flatMap {
      Int($0.dropFirst(8))
    }
    #expect((scanned ?? 0) > 0, "\(result.output)")
  }

}
