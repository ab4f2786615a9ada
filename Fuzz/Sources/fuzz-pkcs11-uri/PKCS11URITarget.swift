// RFC 7512 URIs. Rules checked beyond "no crash": a parsed URI formats to text that parses back
// to an equal URI; formatting never shows pin-value unless asked; nothing is left on OpenSSL's
// error queue.
import FuzzSupport
import PKCS11Keys

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.writeSeedsIfAsked {
    // RFC 7512's own examples, and the forms this project's tests use.
    let examples = [
      "pkcs11:",
      "pkcs11:object=my-pubkey;type=public",
      "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;"
        + "object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
      "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
      "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
      "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
      "pkcs11:slot-description=Sun%20Metaslot",
      "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;"
        + "library-version=1.23",
      "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%08;"
        + "object=my-certificate",
      "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
      "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
      "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin"
        + "&vendor-bbb=value-b",
      "pkcs11:token=oo-test;object=ec-p256;type=private;slot-id=0?module-path=/usr/lib/softhsm/libsofthsm2.so",
    ]
    var seeds: [String: [UInt8]] = [:]
    for (index, example) in examples.enumerated() { seeds["rfc-\(index)"] = Array(example.utf8) }
    return seeds
  }
  return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPKCS11URI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let text = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
  guard let uri = try? PKCS11URI(parsing: text) else {
    Fuzz.requireEmptyErrorQueue("PKCS11URI(parsing:) failing")
    return 0
  }
  var sink = "\(uri.token ?? "") \(uri.object ?? "") \(String(describing: uri.id)) \(String(describing: uri.type))"
  sink += "\(String(describing: uri.slotID)) \(String(describing: uri.libraryVersion)) \(uri.vendorPathAttributes)"
  sink += "\(uri.vendorQueryAttributes) \(uri.modulePath ?? "") \(uri.moduleName ?? "") \(uri.pinSource ?? "")"
  // What is shown carries pin-value only as REDACTED (the text itself may contain anything, a
  // token label "pin-value=..." included, so the check reads the shown URI back).
  if uri.pinValue != nil {
    guard let shown = try? PKCS11URI(parsing: uri.description), let pin = shown.pinValue else {
      fatalError("the description of \(text) does not parse back with its pin-value redacted")
    }
    let shownPIN = pin.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    Fuzz.require(shownPIN == "REDACTED", "the description of a URI shows its pin-value")
  }
  let formatted = uri.formatted(revealingPINValue: true)
  let again: PKCS11URI
  do {
    again = try PKCS11URI(parsing: formatted)
  } catch {
    fatalError("the formatted URI \(formatted) of \(text) does not parse: \(error)")
  }
  Fuzz.require(again == uri, "a URI's format round trip changed it: \(text) -> \(formatted)")
  Fuzz.require(
    again.formatted(revealingPINValue: true) == formatted, "formatting is not stable: \(text) -> \(formatted)")
  _ = uri.withoutPIN.description
  Fuzz.requireEmptyErrorQueue("PKCS11URI")
  _ = sink.count
  return 0
}
