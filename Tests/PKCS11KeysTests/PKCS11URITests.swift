import Foundation
import OpenSSLObjects
import PKCS11Keys
import Testing

/// RFC 7512 parsing and formatting.
@Suite("PKCS#11 URIs")
struct PKCS11URITests {
  /// The examples of RFC 7512 section 3, from rfc7512-examples.txt (shared with the fuzz seeds).
  static let rfcExamples: [String] = {
    let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
      "rfc7512-examples.txt")
    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
  }()

  @Test func theRFCsThirteenExamplesAreRead() {
    #expect(Self.rfcExamples.count == 13)
  }

  @Test(arguments: rfcExamples)
  func rfcExampleRoundTripsToTheSameText(example: String) throws {
    let uri = try PKCS11URI(parsing: example)
    // The only normalization is upper-case hex in percent-encoding.
    let expected = example.replacingOccurrences(of: "%Ba%dd%Ca%fe", with: "%BA%DD%CA%FE")
    #expect(uri.formatted(revealingPINValue: true) == expected)
    #expect(try PKCS11URI(parsing: uri.formatted(revealingPINValue: true)) == uri)
  }

  @Test func rfcExampleWithEveryTokenAttributeDecodes() throws {
    let uri = try PKCS11URI(parsing: Self.rfcExamples[3])
    #expect(uri.token == "The Software PKCS#11 Softtoken")
    #expect(uri.manufacturer == "Snake Oil, Inc.")
    #expect(uri.model == "1.0")
    #expect(uri.object == "my-certificate")
    #expect(uri.type == .certificate)
    #expect(uri.id == [0x69, 0x95, 0x3E, 0x5C, 0xF4, 0xBD, 0xEC, 0x91])
    #expect(uri.serial == "")
    #expect(uri.pinSource == "file:/etc/token_pin")
    #expect(uri.pinValue == nil)
  }

  @Test func libraryAttributesAndVersionDecode() throws {
    let uri = try PKCS11URI(parsing: Self.rfcExamples[8])
    #expect(uri.libraryManufacturer == "Snake Oil, Inc.")
    #expect(uri.libraryDescription == "Soft Token Library")
    #expect(uri.libraryVersion == PKCS11URI.LibraryVersion(major: 1, minor: 23))
    #expect(try PKCS11URI(parsing: Self.rfcExamples[9]).libraryVersion == PKCS11URI.LibraryVersion(major: 3))
    #expect(try PKCS11URI(parsing: Self.rfcExamples[9]).id == [1, 2, 3, 0xBA, 0xDD, 0xCA, 0xFE, 4, 5, 6])
  }

  @Test func percentEncodedSpecialCharactersAndUTF8Decode() throws {
    #expect(try PKCS11URI(parsing: Self.rfcExamples[10]).token == "A name with a substring %;")
    #expect(try PKCS11URI(parsing: Self.rfcExamples[11]).token == "Name with a small A with acute: á")
  }

  @Test func queryAttributesDecode() throws {
    #expect(try PKCS11URI(parsing: Self.rfcExamples[4]).moduleName == "mypkcs11")
    #expect(try PKCS11URI(parsing: Self.rfcExamples[5]).modulePath == "/mnt/libmypkcs11.so.1")
    #expect(try PKCS11URI(parsing: Self.rfcExamples[7]).slotDescription == "Sun Metaslot")
  }

  @Test func vendorAttributesAreKeptInPathAndQuery() throws {
    let uri = try PKCS11URI(parsing: Self.rfcExamples[12])
    #expect(uri.vendorPathAttributes == [PKCS11URI.VendorAttribute(name: "vendor-aaa", value: "value-a")])
    #expect(uri.vendorQueryAttributes == [PKCS11URI.VendorAttribute(name: "vendor-bbb", value: "value-b")])
    #expect(uri.vendorPathAttributes.first?.text == "value-a")
  }

  @Test func pinValueIsRedactedInDescriptionsAndFormattingByDefault() throws {
    let uri = try PKCS11URI(parsing: Self.rfcExamples[6])
    #expect(!uri.description.contains("the-pin"))
    #expect(uri.description.hasSuffix("?pin-value=REDACTED"))
    #expect(!uri.formatted().contains("the-pin"))
    #expect(!"\(uri)".contains("the-pin"))
    #expect(!String(reflecting: uri.withoutPIN).contains("the-pin"))
    let pin = try #require(uri.pinValue)
    #expect(pin.withUnsafeBytes { Array($0) } == Array("the-pin".utf8))
  }

  @Test func pinValueIsPercentDecodedIntoTheWipedBuffer() throws {
    let uri = try PKCS11URI(parsing: "pkcs11:?pin-value=a%26b%00c")
    #expect(uri.pinValue?.withUnsafeBytes { Array($0) } == [0x61, 0x26, 0x62, 0x00, 0x63])
    #expect(uri.formatted(revealingPINValue: true) == "pkcs11:?pin-value=a%26b%00c")
  }

  /// A PIN's hash is its length's and nothing else (row 85). Breaking the promise would mean
  /// two PINs of one length hash apart (with a per-process random seed, equal hashes of different
  /// bytes happen once in 2^64), so a hash table keyed by URIs would learn about the PIN's bytes.
  @Test func aPINValueHashesItsLengthOnly() throws {
    let first = PKCS11URI.PINValue(SecretBytes(Array("1234".utf8)))
    let second = PKCS11URI.PINValue(SecretBytes(Array("9876".utf8)))
    #expect(first != second)
    #expect(first.hashValue == second.hashValue)
    var length = Hasher()
    length.combine(4)
    #expect(first.hashValue == length.finalize())
    // The same through URIs that differ only in their pin-value.
    let uri = try PKCS11URI(parsing: "pkcs11:token=t?pin-value=1234")
    let other = try PKCS11URI(parsing: "pkcs11:token=t?pin-value=9876")
    #expect(uri != other)
    #expect(uri.hashValue == other.hashValue)
  }

  @Test func schemeIsCaseInsensitiveAndFormattedLowerCase() throws {
    #expect(try PKCS11URI(parsing: "PKCS11:token=a").formatted() == "pkcs11:token=a")
  }

  @Test func settersEncodeAndKeepTheRFCOrder() throws {
    var uri = PKCS11URI()
    uri.type = .privateKey
    uri.token = "my token;%"
    uri.id = [0x41, 0x00]
    uri.object = "key&1"
    uri.modulePath = "/usr/lib/a b.so"
    uri.pinSource = "file:/tmp/pin"
    #expect(
      uri.formatted()
        == "pkcs11:token=my%20token%3B%25;object=key&1;id=%41%00;type=private"
        + "?pin-source=file:/tmp/pin&module-path=/usr/lib/a%20b.so")
    #expect(try PKCS11URI(parsing: uri.formatted()) == uri)
    uri.pinValue = PKCS11URI.PINValue(PIN(Array("1234".utf8)))
    #expect(uri.pinSource == nil, "setting pin-value drops pin-source")
    uri.slotID = 7
    uri.libraryVersion = PKCS11URI.LibraryVersion(major: 2, minor: 4)
    #expect(try PKCS11URI(parsing: uri.formatted(revealingPINValue: true)) == uri)
    #expect(uri.withoutPIN.pinValue == nil)
  }

  /// A malformed URI, the byte offset the error must point at, and a word the detail must contain.
  static let malformed: [(String, Int, String)] = [
    ("pkcs12:token=a", 5, "pkcs11:"),
    ("pkcs11", 6, "pkcs11:"),
    ("pkcs11:token=a#frag", 14, "fragment"),
    ("pkcs11:token=a b", 14, "space"),
    ("pkcs11:token=a%2", 14, "hex"),
    ("pkcs11:token=a%zz", 14, "hex"),
    ("pkcs11:token=a;;object=b", 15, "empty attribute"),
    ("pkcs11:token=a;", 15, "empty attribute"),
    ("pkcs11:token", 12, "no \"=\""),
    ("pkcs11:=a", 7, "empty name"),
    ("pkcs11:to ken=a", 9, "attribute name"),
    ("pkcs11:token=a;token=b", 15, "twice"),
    ("pkcs11:type=key", 12, "type must be one of"),
    ("pkcs11:slot-id=12a", 17, "not a digit"),
    ("pkcs11:slot-id=", 15, "empty"),
    ("pkcs11:slot-id=99999999999999999999999", 15, "too large"),
    ("pkcs11:library-version=1.", 23, "MAJOR"),
    ("pkcs11:library-version=v1", 23, "MAJOR"),
    ("pkcs11:token=%FF", 13, "not UTF-8"),
    ("pkcs11:pin-value=1234", 7, "query attribute"),
    ("pkcs11:?token=a", 8, "path attribute"),
    ("pkcs11:?module-path=/a&", 23, "empty attribute"),
    ("pkcs11:?module-path=/a;b", 22, "not allowed"),
    ("pkcs11:object=a/b", 15, "not allowed"),
  ]

  @Test(arguments: malformed)
  func malformedURIFailsAtTheOffendingByte(text: String, offset: Int, words: String) {
    do {
      _ = try PKCS11URI(parsing: text)
      Issue.record("\(text) parsed")
    } catch {
      #expect(error.reason == .malformed)
      #expect(error.offset == offset, "\(text): \(error)")
      #expect(error.detail.contains(words), "\(text): \(error)")
      #expect(error.object == "PKCS#11 URI")
    }
  }

  @Test func pinValueWithPinSourceIsRefused() {
    for (text, offset) in [
      ("pkcs11:?pin-value=1&pin-source=file:/p", 20), ("pkcs11:?pin-source=file:/p&pin-value=1", 27),
    ] {
      do {
        _ = try PKCS11URI(parsing: text)
        Issue.record("\(text) parsed")
      } catch {
        #expect(error.reason == .invalidArgument)
        #expect(error.offset == offset)
        #expect(error.detail.contains("pin-value and pin-source"))
      }
    }
  }

  @Test func errorsNeverQuoteThePIN() {
    do {
      _ = try PKCS11URI(parsing: "pkcs11:?pin-value=secret#x")
      Issue.record("parsed")
    } catch {
      #expect(error.offset == 24)
      #expect(!error.description.contains("secret"))
      #expect(!error.description.contains("'#'"))
    }
  }

  @Test func unsupportedAttributesParseButCannotBeMatched() throws {
    // Valid RFC 7512: parsing succeeds; matching says "unsupported" (tested against the token).
    #expect(try PKCS11URI(parsing: "pkcs11:library-version=2.6").libraryVersion?.major == 2)
    #expect(try PKCS11URI(parsing: "pkcs11:type=secret-key").type == .secretKey)
    #expect(try PKCS11URI(parsing: "pkcs11:type=data").type == .data)
  }
}
