import Foundation
import Testing

extension AdoptionTests {
  /// Every public top-level type of a library target is in its DocC catalog's topics (the root
  /// page, `Sources/TARGET/TARGET.docc/TARGET.md`), so that none is reachable only by search.
  @Suite("DocC topics name every public type")
  struct DocCTopicsTests {
    static let targets = ["OpenSSLObjects", "PKCS11Keys", "OpenSSLObjectsCapsule", "OpenSSLObjectsNIO"]

    /// `public` (or `open`) classes, structs, enums, protocols, type aliases and actors declared at
    /// the top level (column 0) of the target's sources.
    static func publicTypes(of target: String) throws -> Set<String> {
      let root = "\(DocumentationSnippets.repository)/Sources/\(target)"
      var names = Set<String>()
      for file in try FileManager.default.subpathsOfDirectory(atPath: root) where file.hasSuffix(".swift") {
        let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
        for match in text.matches(
          of:
            /(?m)^(?:@[A-Za-z_]+(?:\([^)]*\))? )*(?:public|open) (?:final |indirect )?(?:class|struct|enum|protocol|typealias|actor) ([A-Za-z_][A-Za-z0-9_]*)/
        ) {
          names.insert(String(match.1))
        }
      }
      return names
    }

    @Test(arguments: targets)
    func everyPublicTypeIsInTheTopics(target: String) throws {
      let page = "\(DocumentationSnippets.repository)/Sources/\(target)/\(target).docc/\(target).md"
      let text = try String(contentsOfFile: page, encoding: .utf8)
      let topics = try #require(text.range(of: "## Topics")).upperBound
      let listed = Set(text[topics...].matches(of: /- ``([A-Za-z_][A-Za-z0-9_]*)``/).map { String($0.1) })
      let types = try Self.publicTypes(of: target)
      #expect(!types.isEmpty)
      let missing = types.subtracting(listed)
      #expect(missing.isEmpty, "\(target).docc/\(target).md: add to the topics \(missing.sorted())")
      let unknown = listed.subtracting(types)
      #expect(
        unknown.isEmpty, "\(target).docc/\(target).md lists types the target does not declare: \(unknown.sorted())")
    }

    @Test func theScanFindsAttributedAndPlainDeclarations() throws {
      let types = try Self.publicTypes(of: "OpenSSLObjects")
      // `@safe public struct`, `public final class`, `public typealias`, `public protocol`.
      for name in ["SecretBytes", "X509Certificate", "Passphrase", "OpenSSLObject", "OpenSSLPointer"] {
        #expect(types.contains(name), "\(name)")
      }
    }
  }
}
