import Foundation
import TestSupport
import Testing

/// The package as users get it: its documentation's snippets compile and name every public type,
/// it resolves by version as a dependency, and C programs build against an installed prefix. The
/// suites build whole packages, one at a time, and only in the plain run (a sanitizer run would
/// repeat them, and they check packaging and documentation, not memory).
@Suite(
  "The package as users get it", .serialized,
  .enabled(if: Toolchain.plainRun, "packaging and documentation checks (whole package builds): the plain run does them")
)
struct AdoptionTests {}

extension AdoptionTests {
  /// Every Swift snippet of the documentation compiles, in a scratch package that depends on this
  /// one as a user's package would (Swift 6, not in strict memory-safety mode). A snippet sees the
  /// modules its document has imported so far (plus the module a DocC catalog or a doc comment
  /// documents) and nothing else; values a snippet takes as given (`leaf`, `message`, ...) are
  /// declared in `SnippetPackage.prelude`. A line marked `// does not compile` must not.
  @Suite("Documentation snippets compile")
  struct SnippetCompileTests {
    @Test func everySnippetCompiles() throws {
      let snippets = try DocumentationSnippets.all().filter { !$0.isManifest && !$0.needsIntegrationPackage }
      #expect(snippets.count >= 15, "found only \(snippets.count) snippets")
      let package = try SnippetPackage(snippets: snippets)
      let build = try package.build(target: "Snippets")
      let failures = package.errorsBySnippet(build.output)
      for (snippet, errors) in failures {
        Issue.record("\(snippet) does not compile:\n\(errors.joined(separator: "\n"))")
      }
      if failures.isEmpty {
        #expect(build.status == 0, "the snippet package did not build:\n\(build.output)")
      }
    }

    @Test func linesMarkedAsNotCompilingDoNot() throws {
      let snippets = try DocumentationSnippets.all().filter { !$0.refusedLines.isEmpty }
      #expect(!snippets.isEmpty, "no line marked `// does not compile` was found")
      let package = try SnippetPackage(
        snippets: try DocumentationSnippets.all().filter { !$0.isManifest && !$0.needsIntegrationPackage })
      let build = try package.build(target: "Refusals")
      #expect(build.status != 0, "every refused line compiled")
      let errors = package.errorLines(build.output)
      for snippet in snippets {
        for index in snippet.refusedLines {
          let location = "\(snippet.file):\(snippet.line + index)"
          #expect(errors.contains(location), "\(location) is marked `// does not compile` but compiles")
        }
        // No other line of the snippet fails: the refusal is for the reason the doc gives.
        let others = errors.filter {
          $0.hasPrefix("\(snippet.file):")
            && !snippet.refusedLines.map { "\(snippet.file):\(snippet.line + $0)" }
              .contains($0)
            && (snippet.line..<(snippet.line + snippet.code.count)).map { "\(snippet.file):\($0)" }.contains($0)
        }
        #expect(others.isEmpty, "\(snippet) fails at other lines too: \(others)\n\(build.output)")
      }
    }

    /// A snippet that needs Hummingbird is compiled and run in `Integration/` as the example it
    /// is taken from: every code line of it is a line of `Integration/Sources`.
    @Test func theIntegrationSnippetsAreTheExamplesLines() throws {
      let snippets = try DocumentationSnippets.all().filter(\.needsIntegrationPackage)
      #expect(!snippets.isEmpty, "no snippet uses the Integration/ package")
      let root = "\(DocumentationSnippets.repository)/Integration/Sources"
      var lines = Set<String>()
      for file in try FileManager.default.subpathsOfDirectory(atPath: root) where file.hasSuffix(".swift") {
        let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
        for line in text.components(separatedBy: "\n") { lines.insert(line.trimmingCharacters(in: .whitespaces)) }
      }
      for snippet in snippets {
        for (index, line) in snippet.code.enumerated() {
          let code = line.trimmingCharacters(in: .whitespaces)
          guard !code.isEmpty, !code.hasPrefix("//"), DocumentationSnippet.importedModule(code) == nil else { continue }
          #expect(
            lines.contains(code), "\(snippet.file):\(snippet.line + index) is not in Integration/Sources: \(code)")
        }
      }
    }

    @Test func theExtractorFindsEveryKindOfSnippet() throws {
      let snippets = try DocumentationSnippets.all()
      #expect(snippets.contains { $0.file == "README.md" })
      #expect(snippets.contains { $0.file.contains(".docc/") })
      #expect(snippets.contains { $0.file.hasSuffix(".swift") })
      #expect(snippets.contains { $0.isManifest })
      // A Markdown snippet has the imports of the ones before it; a doc comment its module.
      let document = [
        "# Title", "```swift", "import PKCS11Keys", "let a = 1", "```", "text", "  ```swift", "  let b = 2",
        "  ```", "```c", "int c;", "```",
      ]
      let found = DocumentationSnippets.markdownSnippets(file: "T.md", lines: document, module: "M")
      #expect(found.map(\.line) == [3, 8])
      #expect(found.map(\.context) == [["M"], ["M", "PKCS11Keys"]])
      #expect(found.map(\.code) == [["import PKCS11Keys", "let a = 1"], ["let b = 2"]])
      // A manifest's imports are not carried into the program's snippets.
      let withManifest = DocumentationSnippets.markdownSnippets(
        file: "M.md",
        lines: [
          "```swift", "import PackageDescription", "let package = Package()", "```", "```swift",
          "let b = 2", "```",
        ], module: nil)
      #expect(withManifest.map(\.isManifest) == [true, false])
      #expect(withManifest[1].context.isEmpty)
      let comment = ["/// Text.", "///", "/// ```swift", "/// let x = 1", "/// ```", "struct S {}"]
      let inComment = DocumentationSnippets.docCommentSnippets(file: "S.swift", lines: comment, module: "M")
      #expect(inComment.map(\.line) == [4])
      #expect(inComment.map(\.code) == [["let x = 1"]])
      #expect(snippets.first { $0.file.hasPrefix("Sources/OpenSSLObjects/") }?.context == ["OpenSSLObjects"])
    }
  }
}

/// The scratch package: one file per snippet in target `Snippets` (lines marked as not compiling
/// left out), and in target `Refusals` the snippets with such lines, whole. It lives in
/// `.build-snippets/` of the repository, so that later runs rebuild only what changed.
struct SnippetPackage {
  let directory: String
  let scratch: String
  let snippets: [DocumentationSnippet]

  /// The products a snippet may import, and the system modules.
  static let products = ["OpenSSLObjects", "PKCS11Keys", "OpenSSLObjectsCapsule", "COpenSSLFull", "OpenSSLObjectsNIO"]
  /// swift-nio's products the NIO snippets use with OpenSSLObjectsNIO (bootstraps, event loops).
  static let nioProducts = ["NIOCore", "NIOPosix"]

  init(snippets: [DocumentationSnippet], repository: String = DocumentationSnippets.repository) throws {
    self.snippets = snippets
    directory = "\(repository)/.build-snippets/package"
    scratch = "\(repository)/.build-snippets/build"
    let manager = FileManager.default
    for target in ["Snippets", "Refusals"] {
      try? manager.removeItem(atPath: "\(directory)/Sources/\(target)")
      try manager.createDirectory(atPath: "\(directory)/Sources/\(target)", withIntermediateDirectories: true)
    }
    let identity = (repository as NSString).lastPathComponent
    let dependencies =
      (Self.products.map { "      .product(name: \"\($0)\", package: \"\(identity)\")," }
      + Self.nioProducts.map { "      .product(name: \"\($0)\", package: \"swift-nio\")," })
      .joined(separator: "\n")
    let manifest = """
      // swift-tools-version: 6.2
      // Generated by Tests/AdoptionTests/SnippetCompileTests.swift: the documentation's Swift snippets.
      import PackageDescription

      let package = Package(
        name: "Snippets",
        dependencies: [
          .package(path: "\(repository)"), .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        ],
        targets: [
          .target(name: "Snippets", dependencies: [
      \(dependencies)
          ], swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]),
          .target(name: "Refusals", dependencies: [
      \(dependencies)
          ], swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]),
        ],
        swiftLanguageModes: [.v6]
      )

      """
    try write(manifest, to: "\(directory)/Package.swift")
    for target in ["Snippets", "Refusals"] {
      try write(Self.prelude, to: "\(directory)/Sources/\(target)/Prelude.swift")
    }
    for (number, snippet) in snippets.enumerated() {
      let name = String(format: "S%03d", number)
      try write(
        source(snippet, name: name, repository: repository, keepRefused: false),
        to: "\(directory)/Sources/Snippets/\(name).swift")
      if !snippet.refusedLines.isEmpty {
        try write(
          source(snippet, name: name, repository: repository, keepRefused: true),
          to: "\(directory)/Sources/Refusals/\(name).swift")
      }
    }
  }

  /// Builds one target; returns the result (the build's output names failing lines by their
  /// documentation file and line, through `#sourceLocation`).
  func build(target: String) throws -> ProcessResult {
    try ChildProcess.run(
      Toolchain.swift,
      ["build", "--package-path", directory, "--scratch-path", scratch, "--target", target])
  }

  /// `FILE:LINE` of every error in `output`, relative to the repository.
  func errorLines(_ output: String) -> Set<String> {
    Set(errors(output).map(\.location))
  }

  /// The errors of `output` grouped by the snippet they fall in.
  func errorsBySnippet(_ output: String) -> [(DocumentationSnippet, [String])] {
    var grouped: [(DocumentationSnippet, [String])] = []
    for snippet in snippets {
      let lines = snippet.line..<(snippet.line + max(snippet.code.count, 1))
      let matching = errors(output).filter { error in
        error.file == snippet.file && lines.contains(error.line)
      }
      if !matching.isEmpty { grouped.append((snippet, matching.map(\.text))) }
    }
    // Errors that fall in no snippet (the prelude, a wrapper) are reported as the package's own.
    let unplaced = errors(output).filter { error in
      !snippets.contains { $0.file == error.file && ($0.line..<($0.line + max($0.code.count, 1))).contains(error.line) }
    }
    if !unplaced.isEmpty {
      grouped.append(
        (DocumentationSnippet(file: "the snippet package", line: 0, code: [], context: []), unplaced.map(\.text)))
    }
    return grouped
  }

  private func errors(_ output: String) -> [(file: String, line: Int, location: String, text: String)] {
    let root = DocumentationSnippets.repository + "/"
    var found: [(String, Int, String, String)] = []
    var seen = Set<String>()
    for line in output.split(separator: "\n") where line.contains(": error: ") {
      let text = String(line)
      let parts = text.split(separator: ":", maxSplits: 3)
      guard parts.count == 4, let number = Int(parts[1]) else { continue }
      var file = String(parts[0])
      if file.hasPrefix(root) { file.removeFirst(root.count) }
      guard seen.insert(text).inserted else { continue }
      found.append((file, number, "\(file):\(number)", text.replacingOccurrences(of: root, with: "")))
    }
    return found
  }

  /// A snippet as a source file: its imports first, then its code inside an `async throws`
  /// function (or at file scope when it declares extensions), with `#sourceLocation` pointing at
  /// the documentation.
  private func source(_ snippet: DocumentationSnippet, name: String, repository: String, keepRefused: Bool) -> String {
    var imports = snippet.context
    for module in snippet.imports where !imports.contains(module) { imports.append(module) }
    var body: [String] = []
    for (index, line) in snippet.code.enumerated() {
      if DocumentationSnippet.importedModule(line) != nil || (!keepRefused && snippet.refusedLines.contains(index)) {
        body.append("")
      } else {
        body.append(line)
      }
    }
    let declarationsOnly = snippet.code.contains { $0.hasPrefix("extension ") || $0.hasPrefix("protocol ") }
    var text = imports.map { "import \($0)\n" }.joined()
    text += declarationsOnly ? "" : "func snippet\(name)() async throws {\n"
    text += "#sourceLocation(file: \"\(repository)/\(snippet.file)\", line: \(snippet.line))\n"
    text += body.joined(separator: "\n") + "\n"
    text += "#sourceLocation()\n"
    text += declarationsOnly ? "" : "}\n"
    return text
  }

  private func write(_ text: String, to path: String) throws {
    // Unchanged files keep their modification time, so the next build is incremental.
    if (try? String(contentsOfFile: path, encoding: .utf8)) == text { return }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// The values the documentation's snippets take as given, as a reader would have them.
  static let prelude = """
    // The values the documentation's snippets take as given (compiled, never run).
    import Foundation
    import OpenSSLObjects
    import PKCS11Keys

    func given<Value>() -> Value { fatalError("a snippet's given value") }

    nonisolated(unsafe) var certificate: X509Certificate = given()
    nonisolated(unsafe) var leaf: X509Certificate = given()
    nonisolated(unsafe) var intermediate: X509Certificate = given()
    nonisolated(unsafe) var intermediates: [X509Certificate] = given()
    nonisolated(unsafe) var root: X509Certificate = given()
    nonisolated(unsafe) var rootCertificate: X509Certificate = given()
    nonisolated(unsafe) var clientRoot: X509Certificate = given()
    nonisolated(unsafe) var ca: X509Certificate = given()
    nonisolated(unsafe) var caKey: PrivateKey = given()
    nonisolated(unsafe) var key: PrivateKey = given()
    nonisolated(unsafe) var serverKey: PrivateKey = given()
    nonisolated(unsafe) var message: [UInt8] = given()
    nonisolated(unsafe) var passphraseBytes: [UInt8] = given()
    nonisolated(unsafe) var fd: Int32 = given()
    nonisolated(unsafe) var store: X509Store = given()
    nonisolated(unsafe) var crl: X509CRL = given()
    nonisolated(unsafe) var apiContext: SSLContext = given()
    nonisolated(unsafe) var context: SSLContext = given()
    nonisolated(unsafe) var server: TLSConfiguration = given()
    nonisolated(unsafe) var client: TLSConfiguration = given()
    nonisolated(unsafe) var chain: CertificateChain = given()
    nonisolated(unsafe) var verified: VerifiedChain = given()
    nonisolated(unsafe) var cache: RevocationCache = given()
    nonisolated(unsafe) var cacheDirectory: String = given()

    """
}
