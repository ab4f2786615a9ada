// The capsule ABI fed arbitrary type tags, ownerships and handles, as a careless or hostile C
// caller would: the input is a program of operations on real objects and on handles that are
// real, stale, mutated or made up. Rules checked beyond "no crash": a call that fails returns
// NULL or an error status and never touches freed memory (AddressSanitizer watches), a wrong
// type or a stale or forged handle is refused, and at the end every capsule the program still
// holds is released, so that LeakSanitizer sees any reference the ABI lost.
import CCapsuleABI
import COpenSSLFull
import FuzzSupport
import OpenSSLObjects
import OpenSSLObjectsCapsule

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.initialize {
    // Short programs: make each kind, get with the right and a wrong type, retain, release twice.
    // (The object index is a byte modulo the number of objects, seven.)
    [
      "make-get-release": [0, 1, 1, 1, 0, 2, 1, 0, 5, 0, 4, 0, 4, 0],
      "every-kind": [0, 1, 1, 0, 2, 1, 0, 3, 1, 0, 4, 1, 0, 5, 1, 1, 1, 2, 1, 3, 5, 6, 2, 6, 3],
      "forged": [1, 0x41, 1, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0x80, 4],
      "unknown-type": [0, 0xEE, 1, 0, 1, 2, 0, 1, 9, 0, 1, 3, 6, 0, 7, 0],
      // An OCSP response copied and a basic response adopted; get, get1 (a copy), retain (refused).
      "ocsp": [0, 5, 0, 3, 0, 6, 0, 1, 1, 0, 8, 2, 0, 8, 1, 4, 9, 2, 4, 9, 3, 0, 5, 0, 7, 0],
    ]
  }
}

/// Reads the program's bytes one at a time; zeros after the end.
struct Program {
  let bytes: [UInt8]
  var offset = 0
  var isDone: Bool { offset >= bytes.count }
  mutating func byte() -> UInt8 {
    defer { offset += 1 }
    return offset < bytes.count ? bytes[offset] : 0
  }
  mutating func word() -> UInt64 {
    (0..<8).reduce(UInt64(0)) { value, _ in value << 8 | UInt64(byte()) }
  }
}

/// The real objects a program can capsule: one of each reference-counted kind, and the two OCSP
/// objects OpenSSL 3.0 does not count references of (adopted or copied, never retained).
let objects: [(type: oo_type, make: @Sendable () -> OpaquePointer?, free: @Sendable (OpaquePointer) -> Void)] = [
  (OO_TYPE_X509, { try? FuzzPKI.leaf.retainedPointer().raw }, { X509_free($0) }),
  (OO_TYPE_EVP_PKEY, { try? FuzzPKI.leafKey.retainedPointer().raw }, { EVP_PKEY_free($0) }),
  (OO_TYPE_X509_STORE, { X509_STORE_new() }, { X509_STORE_free($0) }),
  (OO_TYPE_X509_CRL, { try? FuzzPKI.crl.retainedPointer().raw }, { X509_CRL_free($0) }),
  (OO_TYPE_SSL_CTX, { SSL_CTX_new(TLS_method()) }, { SSL_CTX_free($0) }),
  (OO_TYPE_OCSP_RESPONSE, { try? FuzzPKI.ocspResponse.copiedPointer().raw }, { OCSP_RESPONSE_free($0) }),
  (
    OO_TYPE_OCSP_BASICRESP, { try? FuzzPKI.ocspResponse.basicResponse().copiedPointer().raw },
    { OCSP_BASICRESP_free($0) }
  ),
]

/// How C frees what `oo_capsule_get1` handed out, by type.
func freeReference(_ pointer: UnsafeMutableRawPointer, type: oo_type) {
  let object = OpaquePointer(pointer)
  switch type {
  case OO_TYPE_X509: X509_free(object)
  case OO_TYPE_EVP_PKEY: EVP_PKEY_free(object)
  case OO_TYPE_X509_STORE: X509_STORE_free(object)
  case OO_TYPE_X509_CRL: X509_CRL_free(object)
  case OO_TYPE_SSL_CTX: SSL_CTX_free(object)
  case OO_TYPE_SSL: SSL_free(object)
  case OO_TYPE_SSL_SESSION: SSL_SESSION_free(object)
  case OO_TYPE_OCSP_RESPONSE: OCSP_RESPONSE_free(object)
  case OO_TYPE_OCSP_BASICRESP: OCSP_BASICRESP_free(object)
  default: fatalError("oo_capsule_get1 handed out an object of type \(type.rawValue)")
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapsule(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var program = Program(bytes: Fuzz.bytes(data, size))
  // The capsules the program made, with how many references it holds and their real type.
  var held: [(capsule: oo_capsule, count: Int, type: oo_type)] = []
  var released: [oo_capsule] = []
  var steps = 0
  while !program.isDone && steps < 64 {
    steps += 1
    switch program.byte() % 8 {
    case 0:  // make: a real object, a declared type that may be wrong only where it is invalid
      let choice = objects[Int(program.byte()) % objects.count]
      let tag = program.byte()
      let ownership = oo_ownership(rawValue: UInt32(program.byte() % 6))
      // An invalid tag: 0, or any value above the last type the header names.
      let last = OO_TYPE_EVP_PKEY_PUBLIC.rawValue
      let declared = tag % 2 == 0 ? choice.type : oo_type(rawValue: UInt32(tag) <= last ? 0 : UInt32(tag))
      guard let object = choice.make() else { fatalError("a fixture object could not be made") }
      var capsule = oo_capsule(handle: 0)
      let status = oo_capsule_make(declared, UnsafeMutableRawPointer(object), ownership, &capsule)
      if status == OO_OK {
        Fuzz.require(capsule.handle != 0, "oo_capsule_make succeeded with handle 0")
        Fuzz.require(declared == choice.type, "oo_capsule_make accepted an invalid type tag")
        held.append((capsule, 1, choice.type))
        // Retaining and copying took their own reference: drop ours. Adopting took ours.
        if ownership != OO_ADOPT { choice.free(object) }
      } else {
        Fuzz.require(capsule.handle == 0, "a failed oo_capsule_make left a handle")
        choice.free(object)
      }
    case 1:  // get, with a type that may be wrong
      let (capsule, real) = pick(&program, held, released)
      let expected = oo_type(rawValue: UInt32(program.byte() % 12))
      let object = oo_capsule_get(capsule, expected)
      if object != nil {
        Fuzz.require(real == expected, "oo_capsule_get gave an object for the wrong type or a bad handle")
      }
    case 2:  // get1: C's own reference, freed by C
      let (capsule, real) = pick(&program, held, released)
      let expected = oo_type(rawValue: UInt32(program.byte() % 12))
      if let object = oo_capsule_get1(capsule, expected) {
        Fuzz.require(real == expected, "oo_capsule_get1 gave an object for the wrong type or a bad handle")
        freeReference(object, type: expected)
      }
    case let operation where operation == 3 || operation == 4:  // retain, release
      let retaining = operation == 3
      let (capsule, real) = pick(&program, held, released)
      if (retaining ? oo_capsule_retain(capsule) : oo_capsule_release(capsule)) == OO_OK {
        Fuzz.require(real != nil, "oo_capsule_retain or _release accepted a stale or forged handle")
        if let position = held.firstIndex(where: { $0.capsule.handle == capsule.handle }) {
          held[position].count += retaining ? 1 : -1
          if held[position].count == 0 { released.append(held.remove(at: position).capsule) }
        }
      }
    case 5:  // type
      let (capsule, real) = pick(&program, held, released)
      var type = oo_type(rawValue: 0)
      if oo_capsule_type(capsule, &type) == OO_OK {
        Fuzz.require(real == type, "oo_capsule_type told the wrong type")
      }
    case 6:  // the API table on a capsule of any type: a pin into a buffer of any size
      let (capsule, _) = pick(&program, held, released)
      var buffer = [CChar](repeating: 0x7F, count: Int(program.byte() % 80))
      if let api = oo_get_api(1) {
        let status = buffer.withUnsafeMutableBufferPointer { api.pointee.spki_pin(capsule, $0.baseAddress, $0.count) }
        if status == OO_OK { Fuzz.require(buffer.contains(0), "spki_pin wrote no terminating NUL") }
      }
    default:  // the last error's text, after whatever happened
      _ = String(cString: oo_last_error())
      _ = oo_last_status()
    }
    Fuzz.requireEmptyErrorQueue("a capsule call")
  }
  for entry in held {
    for _ in 0..<entry.count {
      Fuzz.require(oo_capsule_release(entry.capsule) == OO_OK, "releasing a held capsule failed")
    }
  }
  return 0
}

/// A handle to use: one the program holds, one it released, a mutation of one, or one made up;
/// with the type it really holds (`nil` for none).
func pick(
  _ program: inout Program,
  _ held: [(capsule: oo_capsule, count: Int, type: oo_type)],
  _ released: [oo_capsule]
) -> (oo_capsule, oo_type?) {
  let selector = Int(program.byte())
  switch selector % 4 {
  case 0 where !held.isEmpty, 1 where !held.isEmpty:
    let entry = held[(selector / 4) % held.count]
    return (entry.capsule, entry.type)
  case 2 where !released.isEmpty:
    return (released[(selector / 4) % released.count], nil)
  case 3 where !held.isEmpty:
    // One bit flipped: a handle that was never issued (or, rarely, another live one).
    let entry = held[(selector / 4) % held.count]
    let flipped = oo_capsule(handle: entry.capsule.handle ^ (UInt64(1) << UInt64(program.byte() % 64)))
    let other = held.first { $0.capsule.handle == flipped.handle }
    return (flipped, other?.type)
  default:
    let handle = program.word()
    let other = held.first { $0.capsule.handle == handle }
    return (oo_capsule(handle: handle), other?.type)
  }
}
