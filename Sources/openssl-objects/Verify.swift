import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects verify LEAF ...` (CLI.md). Each flag maps one-to-one onto an OpenSSL
/// verification setting. With --trusted, the trust is exactly the given anchors and it behaves as
/// `openssl verify -no-CAfile -no-CApath -no-CAstore -CAfile ...` does; without, the system store
/// is the trust, as for `connect`.
struct Verify: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Verify a certificate chain, with OpenSSL's verdict and a readable explanation.")

  @Argument(help: "The certificate to verify (the first certificate of the file).")
  var leaf: String

  @Option(
    name: .customLong("trusted"),
    help: "Trusted certificates, the only trust (TRUSTED CERTIFICATE settings apply); the system store without any.")
  var trusted: [String] = []

  @Option(name: .customLong("untrusted"), help: "Untrusted intermediate certificates.")
  var untrusted: [String] = []

  @Option(name: .customLong("crl"), help: "CRLs; given any, CRLs are checked for the whole chain.")
  var crls: [String] = []

  @Flag(name: .customLong("system-trust"), help: "Trust the operating system's store too (with --trusted).")
  var systemTrust = false

  @Option(help: "The DNS name the certificate must be valid for (X509_VERIFY_PARAM_set1_host).")
  var host: String?

  @Flag(
    name: .customLong("never-check-subject"),
    help: ArgumentHelp(
      "With --host: never fall back to the subject CN (X509_CHECK_FLAG_NEVER_CHECK_SUBJECT), the default.",
      visibility: .hidden))
  var neverCheckSubject = false

  @Option(help: "The IP address the certificate must be valid for (X509_VERIFY_PARAM_set1_ip_asc).")
  var ip: String?

  @Option(help: "The e-mail address the certificate must be valid for (X509_VERIFY_PARAM_set1_email).")
  var email: String?

  @Option(help: "sslserver, sslclient or any (X509_VERIFY_PARAM_set_purpose).")
  var purpose: String?

  @Option(help: "Verify at this time (RFC 3339), instead of now.")
  var at: String?

  @Flag(name: .customLong("no-check-time"), help: "Do not check validity times (X509_V_FLAG_NO_CHECK_TIME).")
  var noCheckTime = false

  @Option(name: .customLong("max-depth"), help: "The maximum chain depth (X509_VERIFY_PARAM_set_depth).")
  var maxDepth: Int?

  @Flag(name: .customLong("partial-chain"), help: "Accept chains ending in any trusted certificate.")
  var partialChain = false

  @Flag(name: .customLong("x509-strict"), help: "Strict RFC 5280 checks (X509_V_FLAG_X509_STRICT).")
  var x509Strict = false

  @Option(name: .customLong("auth-level"), help: "The authentication (security) level.")
  var authLevel: Int?

  @OptionGroup var spkiPins: SPKIPinOptions

  @OptionGroup var profile: ProfileOptions

  @Flag(
    name: .customLong("fetch-crls"),
    help: "Fetch the verified chain's CRLs (plain http distribution points) and check them; fail without them.")
  var fetchCRLs = false

  @OptionGroup var fetch: FetchOptions

  @Flag(help: "Print one JSON object.")
  var json = false

  func validate() throws {
    if [host, ip, email].compactMap({ $0 }).count > 1 {
      throw ValidationError("give at most one of --host, --ip and --email")
    }
    if at != nil && noCheckTime { throw ValidationError("give either --at or --no-check-time, not both") }
    if let purpose, !["sslserver", "sslclient", "any"].contains(purpose) {
      throw ValidationError("--purpose must be sslserver, sslclient or any, not \(purpose)")
    }
  }

  func run() throws {
    let store = X509Store()
    var policy = VerificationPolicy()
    let certificate: X509Certificate
    var intermediates: [X509Certificate] = []
    do {
      certificate = try CertificateFiles.all(leaf, flag: leaf)[0]
      for path in trusted {
        for anchor in try CertificateFiles.all(path, flag: "--trusted") { try store.add(anchor) }
      }
      for path in untrusted { intermediates += try CertificateFiles.all(path, flag: "--untrusted") }
      for path in crls {
        do {
          for crl in try X509CRL.all(contentsOfFile: path) { try store.add(crl) }
        } catch {
          throw CommandFailure.failed(error, subject: "--crl")
        }
      }
      // Without --trusted the system store is the trust, as for connect.
      if systemTrust || trusted.isEmpty { try store.loadSystemTrust() }
      if !crls.isEmpty { policy.flags.formUnion([.crlCheck, .crlCheckAll]) }
      if noCheckTime { policy.flags.insert(.noCheckTime) }
      if partialChain { policy.flags.insert(.partialChain) }
      if x509Strict { policy.flags.insert(.x509Strict) }
      policy.host = host
      if neverCheckSubject { policy.hostFlags.insert(.neverCheckSubject) }
      policy.ipAddress = ip
      policy.email = email
      policy.purpose = purpose.map { ["sslserver": .sslServer, "sslclient": .sslClient, "any": .any][$0]! }
      policy.maximumDepth = maxDepth
      policy.authenticationLevel = authLevel
      if let at {
        guard let time = try? Date(at, strategy: .iso8601) else {
          throw ValidationError("--at \(at) is not an RFC 3339 time such as 2025-01-31T12:00:00Z")
        }
        policy.time = time
      }
      if let pins = try spkiPins.pinSet() { policy.pins = pins }
      policy.profile = try profile.load()
    } catch {
      throw CommandFailure.input(error, json: json)
    }

    do {
      let verified = try store.verify(certificate, untrusted: intermediates, policy: policy)
      if fetchCRLs { try Self.checkCRLs(verified.certificates, store: store, time: policy.time, fetch: fetch) }
      if json {
        Output.line(
          JSON.object([("valid", .bool(true)), ("chain", Describe.chain(verified.certificates)), ("error", .null)])
            .serialized())
      } else {
        Output.line("OK")
        for (depth, member) in verified.certificates.enumerated() {
          Output.line("depth=\(depth): \(Output.escaped(member.subject.rfc2253))")
        }
        for accepted in verified.acceptedOverrides {
          Output.line("accepted: \(Output.escaped(String(describing: accepted)))")
        }
      }
    } catch let error as VerificationError {
      let document = JSON.object([
        ("valid", .bool(false)), ("chain", Describe.chain(error.chain)), ("error", Self.errorJSON(error)),
      ])
      throw CommandFailure(
        status: 1, message: "error: \(leaf): \(error.name) at depth \(error.depth): \(error.explanation)",
        json: json ? document : nil)
    } catch {
      throw CommandFailure.input(error, json: json)
    }
  }

  /// The verified chain's CRLs, fetched and checked: a failure is the verification's error.
  static func checkCRLs(_ chain: [X509Certificate], store: X509Store, time: Date?, fetch: FetchOptions) throws {
    var revocation = RevocationPolicy.disabled
    revocation.crlFetch = CRLClient(destinations: fetch.destinations)
    revocation.whenUnavailable.crl = .hardFail
    revocation.validation.time = time
    do {
      _ = try RevocationChecker.check(chain: chain, store: store, policy: revocation)
    } catch {
      throw VerificationError(revocationFailure: error, chain: chain)
    }
  }

  /// CLI.md's verification error object.
  static func errorJSON(_ error: VerificationError) -> JSON {
    .object([
      ("name", .string(error.name)),
      ("code", .int(Int(error.code.rawValue))),
      ("depth", .int(error.depth)),
      ("subject", .optional(error.subject)),
      ("issuer", .optional(error.issuer)),
      ("message", .string(error.message)),
      ("explanation", .string(error.explanation)),
      ("profile_rule", .optional(error.profileRule?.name)),
    ])
  }
}
