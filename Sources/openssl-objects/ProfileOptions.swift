import ArgumentParser
import OpenSSLObjects

/// `--profile`: rules added to OpenSSL's verification (`verify` and `connect`).
struct ProfileOptions: ParsableArguments {
  @Option(help: "webpki: add the strict Web PKI profile's checks (CA/B Forum BRs, RFC 5280) to OpenSSL's.")
  var profile: String?

  func validate() throws {
    if let profile, profile != "webpki" { throw ValidationError("--profile must be webpki, not \(profile)") }
  }

  /// The profile asked for, loaded (the Web PKI profile reads the system's Public Suffix List).
  func load() throws -> VerificationProfile? {
    profile == nil ? nil : try VerificationProfile.webPKI()
  }
}
