import Foundation
import TestSupport
import Testing

extension AdoptionTests {
  /// The C library as a C user installs it: the README's `prog.c` and its shell lines, run exactly
  /// as written (only the clone's path and `$HOME` are this test's) in a scratch directory outside
  /// the checkout: `scripts/install-c.sh --prefix`, then `pkg-config` and `cc`.
  @Suite("The C library installed into a prefix, found with pkg-config")
  struct InstallCTests {
    /// The README's C program (the block that starts with `/* prog.c`) and its shell lines (the
    /// block that runs install-c.sh).
    static func documented() throws -> (program: String, commands: [String]) {
      let readme = try String(contentsOfFile: "\(DocumentationSnippets.repository)/README.md", encoding: .utf8)
      let program = try #require(readme.firstMatch(of: /```c\n(\/\* prog\.c[\s\S]*?)```/)).1
      let shell = try #require(readme.firstMatch(of: /```sh\n(repository=[\s\S]*?install-c\.sh[\s\S]*?)```/)).1
      return (String(program), shell.split(separator: "\n").map(String.init))
    }

    @Test func theREADMEsCommandsInstallAndBuildAProgramThatRuns() throws {
      let (program, commands) = try Self.documented()
      let scratch = try TemporaryDirectory("oo-install-c")
      let home = scratch.file("home")
      let work = scratch.file("work")
      for directory in [home, work] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      }
      try program.write(toFile: "\(work)/prog.c", atomically: true, encoding: .utf8)
      let key = try PrivateKeyFile.write(to: "\(work)/key.pem")
      // The clone's path is this checkout; every other line runs as written.
      var script = ["set -eu"]
      for line in commands {
        script.append(line.hasPrefix("repository=") ? "repository='\(DocumentationSnippets.repository)'" : line)
      }
      let result = try Toolchain.shell(script.joined(separator: "\n"), in: work, environment: ["HOME": home])
      #expect(result.status == 0, "\(result.output)")
      #expect(result.stdout.contains("verifies the peer: yes"), "\(result.output)")
      #expect(result.stdout.contains("key pin: \(key.pin)"), "\(result.output)")
      // What was installed: the header, the library and the .pc file, nothing in the checkout.
      for file in ["include/openssl_objects.h", "lib/libopenssl_objects.so", "lib/pkgconfig/openssl-objects.pc"] {
        #expect(FileManager.default.fileExists(atPath: "\(home)/.local/\(file)"), "\(file) was not installed")
      }
    }

    @Test func theInstalledLibraryExportsEveryFunctionTheHeaderDeclares() throws {
      // The release build is what install-c.sh installs: an internal @_cdecl function would be
      // hidden there (it was, before the exports were made public).
      let prefix = try TemporaryDirectory("oo-prefix")
      let install = try Toolchain.shell(
        "scripts/install-c.sh --prefix '\(prefix.path)'", in: DocumentationSnippets.repository)
      try install.requireSuccess("scripts/install-c.sh")
      let header = try String(
        contentsOfFile: "\(DocumentationSnippets.repository)/include/openssl_objects.h", encoding: .utf8)
      // Declarations at the start of a line that are not static inline: `TYPE oo_name(`.
      let declared = Set(
        header.matches(of: /(?m)^(?!static)[a-z_ ]+\*?\s*\*?(oo_[a-z0-9_]+)\(/).map { String($0.1) })
      #expect(declared.count >= 10, "\(declared)")
      let symbols = try ChildProcess.run("nm", ["-D", "--defined-only", prefix.file("lib/libopenssl_objects.so")])
      try symbols.requireSuccess("nm")
      let exported = Set(
        symbols.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
      #expect(declared.subtracting(exported).isEmpty, "not exported: \(declared.subtracting(exported).sorted())")
      let pc = try String(contentsOfFile: prefix.file("lib/pkgconfig/openssl-objects.pc"), encoding: .utf8)
      #expect(pc.contains("prefix=\(prefix.path)"))
      #expect(pc.contains("Requires: libssl >= 3.0, libcrypto >= 3.0"))
    }

    @Test func installWithoutAPrefixIsBadUsage() throws {
      let result = try Toolchain.shell("scripts/install-c.sh", in: DocumentationSnippets.repository)
      #expect(result.status == 2)
      #expect(result.stderr.contains("usage: scripts/install-c.sh --prefix DIR"))
    }
  }
}

/// A private key file for the C program to read, and its pin as `openssl` computes it.
enum PrivateKeyFile {
  static func write(to path: String) throws -> (path: String, pin: String) {
    try ChildProcess.run(
      "openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]
    )
    .requireSuccess("openssl genpkey")
    // sha256 of the DER SubjectPublicKeyInfo, base64.
    let pin = try Toolchain.shell(
      "openssl pkey -in '\(path)' -pubout -outform DER | openssl dgst -sha256 -binary | openssl base64",
      in: (path as NSString).deletingLastPathComponent)
    try pin.requireSuccess("openssl pkey | dgst")
    return (path, "sha256/" + pin.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}
