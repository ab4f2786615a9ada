// Child-process scenarios for the test suite. Each scenario prints what it observed; the tests
// assert on the output and the exit status.
//
//   oo-test-helper ownership          free counts for types without ex_data (X509_CRL, X509_NAME),
//                                     from OpenSSL's own allocation counts
//   oo-test-helper pkcs12 FILE PASS   reads a PKCS#12 file; prints the error on failure
//   oo-test-helper system-store FILE  verifies a chain against X509Store.system (SSL_CERT_FILE)

import COpenSSLFull
import Foundation
import OpenSSLObjects

// MARK: - Allocation counting through CRYPTO_set_mem_functions

nonisolated(unsafe) var liveAllocations = 0

let countingMalloc: @convention(c) (Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = { size, _, _ in
  let pointer = malloc(size)
  if pointer != nil { liveAllocations += 1 }
  return pointer
}
let countingRealloc:
  @convention(c) (UnsafeMutableRawPointer?, Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
    pointer, size, _, _ in
    if pointer == nil {
      let fresh = realloc(nil, size)
      if fresh != nil { liveAllocations += 1 }
      return fresh
    }
    return realloc(pointer, size)
  }
let countingFree: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int32) -> Void = { pointer, _, _ in
  if pointer != nil { liveAllocations -= 1 }
  free(pointer)
}

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("FAIL \(message)\n".utf8))
  exit(1)
}

/// Runs `scenario` twice (the first run fills OpenSSL's lazy caches) and checks that the second
/// leaves the live allocation count where it found it; `scenario` reports its own checkpoints.
func measured(_ name: String, _ scenario: (_ checkpoint: (String, Bool) -> Void) throws -> Void) throws {
  try scenario { _, _ in }
  let baseline = liveAllocations
  try scenario { label, expectHeld in
    let held = liveAllocations > baseline
    if held != expectHeld {
      fail(
        "\(name) \(label): expected the object \(expectHeld ? "alive" : "freed"), live allocations \(liveAllocations - baseline)"
      )
    }
  }
  if liveAllocations != baseline { fail("\(name): \(liveAllocations - baseline) allocations left") }
  print("\(name) ok")
}

func ownership() throws {
  let key = try PrivateKey(generating: .ec(.p256))
  var builder = CertificateBuilder(subject: try X509Name(["CN": "Helper CA"]))
  builder.basicConstraints = BasicConstraints(isCA: true)
  let ca = try builder.sign(with: key)
  let crlDER = try CRLBuilder(revoked: [RevokedCertificate(serialNumber: SerialNumber(7), revocationDate: Date())])
    .sign(with: key, issuerCertificate: ca).derEncoded

  // X509_CRL: hand over, then C frees last.
  try measured("X509_CRL hand-over") { checkpoint in
    var pointer: OpenSSLPointer<X509CRL>? = nil
    do {
      let crl = try X509CRL(derEncoded: crlDER)
      pointer = try crl.retainedPointer()
    }
    checkpoint("after Swift released", true)
    X509_CRL_free(pointer!.raw)
    checkpoint("after C released", false)
  }
  // X509_CRL: retain a C-owned object, C frees first.
  try measured("X509_CRL retain") { checkpoint in
    let raw = crlDER.withUnsafeBufferPointer { buffer -> OpaquePointer in
      var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509_CRL(nil, &cursor, buffer.count)!
    }
    do {
      let crl = try X509CRL(retaining: OpenSSLPointer(raw))
      X509_CRL_free(raw)
      checkpoint("after C released", true)
      _ = crl.issuer
    }
    checkpoint("after Swift released", false)
  }
  // X509_CRL: adopt.
  try measured("X509_CRL adopt") { checkpoint in
    let raw = crlDER.withUnsafeBufferPointer { buffer -> OpaquePointer in
      var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509_CRL(nil, &cursor, buffer.count)!
    }
    do {
      let crl = X509CRL(takingOwnershipOf: OpenSSLPointer(raw))
      checkpoint("while Swift holds", true)
      _ = crl.thisUpdate
    }
    checkpoint("after Swift released", false)
  }
  // X509_NAME: copy door, C frees its copy.
  try measured("X509_NAME copy") { checkpoint in
    var copy: OpenSSLPointer<X509Name>? = nil
    do {
      let name = try X509Name(["CN": "copy"])
      copy = try name.copiedPointer()
    }
    checkpoint("after Swift released", true)
    X509_NAME_free(copy!.raw)
    checkpoint("after C released", false)
  }
  // X509_NAME: copying a C-owned name leaves C's untouched.
  try measured("X509_NAME copying init") { checkpoint in
    let raw = X509_NAME_new()!
    do {
      let name = try X509Name(copying: OpenSSLPointer(raw))
      X509_NAME_free(raw)
      checkpoint("after C released", true)
      _ = name.rfc2253
    }
    checkpoint("after Swift released", false)
  }
}

// MARK: - Main

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: oo-test-helper SCENARIO ...") }
switch arguments[1] {
case "ownership":
  guard CRYPTO_set_mem_functions(countingMalloc, countingRealloc, countingFree) == 1 else {
    fail("CRYPTO_set_mem_functions refused: OpenSSL allocated before main")
  }
  do { try ownership() } catch { fail("\(error)") }
case "pkcs12":
  guard arguments.count == 4 else { fail("usage: oo-test-helper pkcs12 FILE PASSFILE") }
  do {
    let passphrase = try Passphrase.read(fromFile: arguments[3])
    let bundle = try PKCS12Bundle(contentsOfFile: arguments[2], passphrase: passphrase)
    print("loaded \(bundle.certificate?.subject.rfc2253 ?? "-")")
  } catch {
    print("error: \(error)")
    exit(1)
  }
case "system-store":
  // Verifies the leaf (and intermediates) of a PEM file against the shared operating-system store.
  guard arguments.count == 3 else { fail("usage: oo-test-helper system-store CHAIN.pem") }
  do {
    let certificates = try X509Certificate.all(contentsOfFile: arguments[2])
    let chain = try X509Store.system.verify(certificates[0], untrusted: Array(certificates.dropFirst()))
    print("verified \(chain.certificates.count) certificates")
  } catch let error as VerificationError {
    print("error: \(error.name): \(error.explanation)")
    exit(1)
  } catch {
    print("error: \(error)")
    exit(2)
  }
default:
  fail("unknown scenario \(arguments[1])")
}
