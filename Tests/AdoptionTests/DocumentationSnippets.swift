import Foundation

/// A fenced Swift block of the documentation: README.md, docs/*.md, the DocC articles
/// (Sources/*/*.docc/*.md) and the symbol doc comments (`///` in Sources/**/*.swift).
struct DocumentationSnippet: Sendable, CustomStringConvertible {
  /// The document, relative to the repository (`README.md`, `Sources/OpenSSLObjects/...`).
  let file: String
  /// The line of the snippet's first code line (1-based).
  let line: Int
  /// The code, one element per line, the fence's indentation and the `/// ` prefix removed.
  let code: [String]
  /// The modules a reader has imported when the snippet begins: the module a DocC catalog or a
  /// source file documents, and every `import` of the document's earlier snippets.
  let context: [String]

  var description: String { "\(file):\(line)" }

  /// Whether this is a package manifest (or a fragment of one): checked by the dependency test,
  /// which builds exactly that manifest, not here.
  var isManifest: Bool {
    code.contains { $0.contains("import PackageDescription") }
      || code.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?
        .trimmingCharacters(in: .whitespaces).hasPrefix(".package(") == true
  }

  /// Modules of the `Integration/` package's dependencies (Hummingbird), which a user of the
  /// library does not resolve: snippets that use them are compiled and run there, as the examples
  /// they are taken from (checked line by line).
  static let integrationModules: Set<String> = ["Hummingbird", "HummingbirdCore", "HummingbirdOpenSSL"]

  /// Whether the snippet uses a module only the `Integration/` package has.
  var needsIntegrationPackage: Bool {
    !Self.integrationModules.isDisjoint(with: context + imports)
  }

  /// The modules the snippet imports itself.
  var imports: [String] {
    code.compactMap(Self.importedModule)
  }

  /// The indices of the lines the documentation says do not compile (`// does not compile`).
  var refusedLines: [Int] {
    code.indices.filter { code[$0].contains("// does not compile") }
  }

  /// `import X` (also `@testable`/`public` forms) → `X`.
  static func importedModule(_ line: String) -> String? {
    let words = line.split(separator: " ", omittingEmptySubsequences: true)
    guard let index = words.firstIndex(of: "import"), index <= 1, index + 1 < words.count else { return nil }
    if index == 1 && !["public", "internal", "package", "@testable", "@_exported"].contains(words[0]) { return nil }
    return String(words[index + 1])
  }
}

/// Finding the snippets.
enum DocumentationSnippets {
  /// The repository this test file belongs to.
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

  /// Every snippet of the documentation, in file and line order.
  static func all(in root: String = repository) throws -> [DocumentationSnippet] {
    var snippets: [DocumentationSnippet] = []
    for file in try documents(in: root) {
      let text = try String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)
      let lines = text.components(separatedBy: "\n")
      if file.hasSuffix(".swift") {
        snippets += docCommentSnippets(file: file, lines: lines, module: module(of: file))
      } else {
        snippets += markdownSnippets(file: file, lines: lines, module: module(of: file))
      }
    }
    return snippets
  }

  /// README.md, docs/*.md, Sources/*/*.docc/*.md and Sources/**/*.swift, relative to `root`.
  static func documents(in root: String) throws -> [String] {
    let manager = FileManager.default
    var files = ["README.md"]
    let docs = (try? manager.contentsOfDirectory(atPath: "\(root)/docs")) ?? []
    files += docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
    let sources = try manager.subpathsOfDirectory(atPath: "\(root)/Sources").sorted()
    files += sources.filter { $0.hasSuffix(".swift") || ($0.contains(".docc/") && $0.hasSuffix(".md")) }
      .map { "Sources/\($0)" }
    return files
  }

  /// The module a file documents: `Sources/NAME/...` → NAME; none for README.md and docs/.
  static func module(of file: String) -> String? {
    let parts = file.split(separator: "/")
    guard parts.count > 2, parts[0] == "Sources" else { return nil }
    return String(parts[1])
  }

  /// The fenced ```swift blocks of a Markdown document; each inherits the imports of the ones
  /// before it (the reader's file grows as they read).
  static func markdownSnippets(file: String, lines: [String], module: String?) -> [DocumentationSnippet] {
    var snippets: [DocumentationSnippet] = []
    var context = module.map { [$0] } ?? []
    var index = 0
    while index < lines.count {
      let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
      guard trimmed.hasPrefix("```swift") else {
        index += 1
        continue
      }
      let indentation = lines[index].prefix { $0 == " " }.count
      var code: [String] = []
      index += 1
      let start = index + 1
      while index < lines.count, lines[index].trimmingCharacters(in: .whitespaces) != "```" {
        code.append(String(lines[index].dropFirst(min(indentation, lines[index].prefix { $0 == " " }.count))))
        index += 1
      }
      index += 1
      let snippet = DocumentationSnippet(file: file, line: start, code: code, context: context)
      snippets.append(snippet)
      // A package manifest's imports (PackageDescription) are not the reader's program's.
      if !snippet.isManifest {
        for name in snippet.imports where !context.contains(name) { context.append(name) }
      }
    }
    return snippets
  }

  /// The fenced ```swift blocks inside `///` doc comments; each stands alone, in the context of
  /// the module the file belongs to.
  static func docCommentSnippets(file: String, lines: [String], module: String?) -> [DocumentationSnippet] {
    var snippets: [DocumentationSnippet] = []
    var index = 0
    func comment(_ line: String) -> String? {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      guard trimmed.hasPrefix("///") else { return nil }
      let body = trimmed.dropFirst(3)
      return String(body.hasPrefix(" ") ? body.dropFirst() : body)
    }
    while index < lines.count {
      guard let text = comment(lines[index]), text.trimmingCharacters(in: .whitespaces).hasPrefix("```swift") else {
        index += 1
        continue
      }
      let indentation = text.prefix { $0 == " " }.count
      var code: [String] = []
      index += 1
      let start = index + 1
      while index < lines.count, let body = comment(lines[index]), body.trimmingCharacters(in: .whitespaces) != "```" {
        code.append(String(body.dropFirst(min(indentation, body.prefix { $0 == " " }.count))))
        index += 1
      }
      index += 1
      snippets.append(DocumentationSnippet(file: file, line: start, code: code, context: module.map { [$0] } ?? []))
    }
    return snippets
  }
}
