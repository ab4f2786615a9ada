import Foundation
import TestSupport
import Testing

/// scripts/softhsm-token.sh: idempotent, and nothing outside its directory.
@Suite("SoftHSM2 token script")
struct SoftHSMScriptTests {
  @Test func runningTheScriptAgainChangesNothingAndNothingIsWrittenOutsideItsDirectory() throws {
    let directory = try TemporaryDirectory()
    let home = try TemporaryDirectory()
    let scratch = try TemporaryDirectory()
    let environment = ["HOME": home.path, "TMPDIR": scratch.path]
    let first = try ChildProcess.run(SoftHSMToken.script, [directory.path], environment: environment)
    #expect(first.status == 0, "\(first.output)")
    let certificate = try Data(contentsOf: URL(fileURLWithPath: directory.file("rsa-2048.cert.pem")))
    let tokens = try FileManager.default.subpathsOfDirectory(atPath: directory.file("tokens")).sorted()
    #expect(!tokens.isEmpty)
    #expect(try String(contentsOfFile: directory.file("pin"), encoding: .utf8) == SoftHSMToken.pin)

    let second = try ChildProcess.run(SoftHSMToken.script, [directory.path], environment: environment)
    #expect(second.status == 0, "\(second.output)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: directory.file("rsa-2048.cert.pem"))) == certificate)
    #expect(try FileManager.default.subpathsOfDirectory(atPath: directory.file("tokens")).sorted() == tokens)

    #expect(try FileManager.default.contentsOfDirectory(atPath: home.path).isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    let entries = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    #expect(
      entries == [
        ".complete", "softhsm2.conf", "tokens", "pin", "rsa-2048.cert.pem", "rsa-2048.pub.pem", "ec-p256.cert.pem",
        "ec-p256.pub.pem",
      ])
  }

  @Test func anInterruptedTokenIsMadeAgain() throws {
    let directory = try TemporaryDirectory()
    #expect(try ChildProcess.run(SoftHSMToken.script, [directory.path]).status == 0)
    try FileManager.default.removeItem(atPath: directory.file(".complete"))
    let again = try ChildProcess.run(SoftHSMToken.script, [directory.path])
    #expect(again.status == 0, "\(again.output)")
    #expect(FileManager.default.fileExists(atPath: directory.file(".complete")))
  }
}
