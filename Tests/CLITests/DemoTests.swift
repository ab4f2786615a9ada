import Foundation
import TestSupport
import Testing

/// `openssl-objects demo`: the README's first command, on real components.
@Suite("CLI: the demo")
struct DemoTests {
  let tool = ChildProcess.product("openssl-objects")

  @Test func theDemoRunsEveryStepAndExplainsTheFailures() throws {
    let result = try ChildProcess.run(tool, ["demo"])
    #expect(result.status == 0, "\(result.output)")
    for step in 1...6 { #expect(result.stdout.contains("[\(step)/6]"), "step \(step) missing:\n\(result.stdout)") }
    for expected in [
      "must-staple true", "the token key matches the certificate: true", "verify callback: depth 0 CN=localhost",
      "connected: TLSv1.3", "stapled OCSP: good",
      "a wrong pin: X509_V_ERR_APPLICATION_VERIFICATION: No key of the verified chain matches a pin.",
      "a revoked certificate's staple: OCSP check failed (revoked)", "(reason: key compromise)",
      "an expired certificate: X509_V_ERR_CERT_HAS_EXPIRED", "handshake from C: TLSv1.3",
    ] {
      #expect(result.stdout.contains(expected), "missing \(expected) in\n\(result.stdout)")
    }
    // The temporary directory is gone.
    let path = result.stdout.firstMatch(of: /token "openssl-objects-demo" in (\S+);/).map { String($0.1) }
    #expect(path.map { !FileManager.default.fileExists(atPath: $0) } == true)
    // Paths are written without a double slash.
    #expect(path?.hasPrefix("/") == true && path?.contains("//") == false, "\(path ?? "no path")")
    #expect(!result.stdout.contains("//openssl-objects-demo"), "\(result.stdout)")
  }

  @Test func theDemoAsJSON() throws {
    let result = try ChildProcess.run(tool, ["demo", "--json"])
    #expect(result.status == 0, "\(result.output)")
    let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    #expect(document["success"] as? Bool == true)
    #expect((document["steps"] as? [Any])?.count == 6)
    #expect((document["failures"] as? [[String: Any]])?.count == 3)
    #expect((document["connection"] as? [String: Any])?["staple"] as? String == "good")
    #expect((document["c_handshake"] as? String)?.hasPrefix("handshake from C: TLSv1.3") == true)
    // docs/CLI.md lists every key the demo prints.
    let undocumented = try CLIReference.load().undocumentedKeys(in: result.stdout, command: "demo")
    #expect(undocumented.isEmpty, "docs/CLI.md, section `demo`: add the JSON keys \(undocumented.sorted())")
  }
}
