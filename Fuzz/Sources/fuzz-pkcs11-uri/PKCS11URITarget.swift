// RFC 7512 URIs. Rules checked beyond "no crash": a parsed URI formats to text that parses back
// to an equal URI; formatting never shows pin-value unless asked; nothing is left on OpenSSL's
// error queue.
import Foundation
import FuzzSupport
import PKCS11Keys

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
  Fuzz.initialize {
    // RFC 7512's own examples (the file PKCS11URITests reads), and a URI as the tests write them.
    let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Tests/PKCS11KeysTests/rfc7512-examples.txt")
    let examples =
      try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init).filter {
        !$0.hasPrefix("#")
      } + ["pkcs11:token=oo-test;object=ec-p256;type=private;slot-id=0?module-path=/usr/lib/softhsm/libsofthsm2.so"]
    var seeds: [String: [UInt8]] = [:]
    for (index, example) in examples.enumerated() { seeds["rfc-\(index)"] = Array(example.utf8) }
    return seeds
  }
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
  let again = Fuzz.mustSucceed("the formatted URI \(formatted) of \(text) does not parse") {
    try PKCS11URI(parsing: formatted)
  }
  Fuzz.require(again == uri, "a URI's format round trip changed it: \(text) -> \(formatted)")
  Fuzz.require(
    again.formatted(revealingPINValue: true) == formatted, "formatting is not stable: \(text) -> \(formatted)")
  _ = uri.withoutPIN.description
  Fuzz.requireEmptyErrorQueue("PKCS11URI")
  _ = sink.count
  return 0
}
