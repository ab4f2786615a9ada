import Foundation
import TestSupport
import Testing

extension AdoptionTests {
  /// The package as a dependency, with the manifest the README and GettingStarted show: the
  /// repository cloned into a scratch directory outside the checkout and tagged with the documented
  /// version, every product resolved by version (`from:`) and built from a scratch consumer; and
  /// the same manifest with the documented local path, whose identity must resolve too.
  @Suite("The package as a versioned dependency")
  struct VersionedDependencyTests {
    /// The manifest the documentation shows (README.md and GettingStarted must show the same one).
    static func documentedManifest() throws -> String {
      let manifests = try DocumentationSnippets.all().filter {
        $0.isManifest && $0.code.contains { $0.contains("let package = Package(") }
      }
      let files = Set(manifests.map(\.file))
      try #require(
        files.contains("README.md") && files.contains(where: { $0.hasSuffix("GettingStarted.md") }),
        "README.md and GettingStarted.md must both show the manifest; found it in \(files)")
      let texts = Set(manifests.map { $0.code.joined(separator: "\n") })
      #expect(texts.count == 1, "README.md and GettingStarted.md show different manifests")
      return manifests[0].code.joined(separator: "\n") + "\n"
    }

    /// `https://.../NAME.git` and `from: "X"` of the documented URL line.
    static func urlAndVersion(in manifest: String) throws -> (url: String, version: String) {
      let match = try #require(manifest.firstMatch(of: /\.package\(url: "([^"]+)", from: "([^"]+)"\)/))
      return (String(match.1), String(match.2))
    }

    /// The repository, cloned into `directory/name` at the checkout's commit and tagged `version`.
    private func clone(into directory: String, name: String, version: String) throws -> String {
      let repository = DocumentationSnippets.repository
      let head = try ChildProcess.run("git", ["-C", repository, "rev-parse", "HEAD"])
      try head.requireSuccess("git rev-parse HEAD")
      let target = "\(directory)/\(name)"
      try ChildProcess.run("git", ["clone", "--quiet", "--no-checkout", repository, target])
        .requireSuccess("git clone")
      try ChildProcess.run(
        "git",
        ["-C", target, "checkout", "--quiet", "--detach", head.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]
      ).requireSuccess("git checkout")
      // -f: the repository may carry the tag already; the clone's tag must be this commit.
      try ChildProcess.run("git", ["-C", target, "tag", "-f", version]).requireSuccess("git tag")
      return target
    }

    /// A consumer package with `manifest` and a program that uses every library product.
    private func consumer(in directory: String, manifest: String) throws -> String {
      let root = "\(directory)/consumer"
      try FileManager.default.createDirectory(atPath: "\(root)/Sources/App", withIntermediateDirectories: true)
      try manifest.write(toFile: "\(root)/Package.swift", atomically: true, encoding: .utf8)
      try """
      import COpenSSLFull
      import OpenSSLObjects
      import OpenSSLObjectsCapsule
      import PKCS11Keys

      // One symbol of each product, so that each is linked, and a run that shows they work.
      let key = try PrivateKey(generating: .ec(.p256))
      let capsule = try key.capsule()
      let back = try PrivateKey(capsule: capsule)
      try capsule.release()
      let uri = try PKCS11URI(parsing: "pkcs11:token=app;object=key")
      print("OpenSSL \\(OpenSSLLibrary.runtimeVersion), \\(OpenSSL_version_num() != 0), \\(uri.token ?? "?"),",
            try back.spkiPin == key.spkiPin)
      """.write(toFile: "\(root)/Sources/App/main.swift", atomically: true, encoding: .utf8)
      return root
    }

    @Test func everyProductResolvesByVersionFromAScratchPackage() throws {
      let manifest = try Self.documentedManifest()
      let (url, version) = try Self.urlAndVersion(in: manifest)
      let scratch = try TemporaryDirectory("oo-dependency")
      // The clone is named as the documented URL ends, so that the identity is the documented one.
      let name = (url as NSString).lastPathComponent
      let clone = try clone(into: scratch.path, name: name, version: version)
      let local = manifest.replacingOccurrences(of: url, with: URL(fileURLWithPath: clone).absoluteString)
      #expect(local != manifest)
      let consumer = try consumer(in: scratch.path, manifest: local)
      let build = try ChildProcess.run(Toolchain.swift, ["build", "--package-path", consumer])
      #expect(build.status == 0, "the consumer did not build:\n\(build.output)")
      // Resolved by version, not by branch or revision.
      let resolved = try String(contentsOfFile: "\(consumer)/Package.resolved", encoding: .utf8)
      #expect(resolved.contains("\"version\" : \"\(version)\""), "\(resolved)")
      let run = try ChildProcess.run("\(consumer)/.build/debug/App", [])
      #expect(run.status == 0, "\(run.output)")
      #expect(run.stdout.contains(", true, app, true"), "\(run.output)")
      // The C library and the command line tool, products of the dependency, build too.
      for product in ["openssl_objects", "openssl-objects"] {
        let built = try ChildProcess.run(Toolchain.swift, ["build", "--package-path", consumer, "--product", product])
        #expect(built.status == 0, "product \(product):\n\(built.output)")
      }
      #expect(FileManager.default.fileExists(atPath: "\(consumer)/.build/debug/libopenssl_objects.so"))
      let tool = try ChildProcess.run("\(consumer)/.build/debug/openssl-objects", ["--version"])
      #expect(tool.stdout.hasPrefix("openssl-objects "), "\(tool.output)")
    }

    @Test func theDocumentedLocalPathResolvesWithTheSameIdentity() throws {
      let manifest = try Self.documentedManifest()
      let (url, version) = try Self.urlAndVersion(in: manifest)
      let path = try #require(manifest.firstMatch(of: /\/\/ (\.package\(path: "([^"]+)"\)),/))
      let scratch = try TemporaryDirectory("oo-dependency-path")
      // The consumer is at scratch/consumer: the documented relative path names scratch/NAME.
      let folder = (String(path.2) as NSString).lastPathComponent
      _ = try clone(into: scratch.path, name: folder, version: version)
      let local = manifest.replacingOccurrences(
        of: try #require(manifest.firstMatch(of: /\.package\(url: [^\n]+\),\n/)).0, with: ""
      )
      .replacingOccurrences(of: "// \(path.1)", with: String(path.1))
      #expect(!local.contains(url))
      let consumer = try consumer(in: scratch.path, manifest: local)
      // Loading the package graph checks every `package:` identity and product name.
      let described = try ChildProcess.run(Toolchain.swift, ["package", "--package-path", consumer, "describe"])
      #expect(described.status == 0, "\(described.output)")
      // A wrong identity is refused: the check above can fail.
      let wrong = local.replacingOccurrences(of: "package: \"openssl-objects\"", with: "package: \"OpenSSLObjects\"")
      try wrong.write(toFile: "\(consumer)/Package.swift", atomically: true, encoding: .utf8)
      let refused = try ChildProcess.run(Toolchain.swift, ["package", "--package-path", consumer, "describe"])
      #expect(refused.status != 0)
      #expect(refused.stderr.contains("unknown package 'OpenSSLObjects'"), "\(refused.output)")
    }
  }
}
