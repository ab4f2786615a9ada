import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects ocsp request | verify | fetch` (contract: CLI.md).
struct OCSPCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ocsp",
    abstract: "OCSP: make requests, verify responses, ask responders.",
    subcommands: [OCSPRequestCommand.self, OCSPVerifyCommand.self, OCSPFetchCommand.self])
}

/// `ocsp request --cert FILE --issuer FILE [--sha256] [--nonce] [--out FILE] [--json]`
struct OCSPRequestCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "request",
    abstract: "Make an OCSP request for a certificate: DER to --out, PEM to standard output otherwise.")

  @Option(help: "The certificate to ask about.")
  var cert: String

  @Option(help: "Its issuer's certificate.")
  var issuer: String

  @Flag(help: "Hash the certificate ID with SHA-256 instead of SHA-1.")
  var sha256 = false

  @Flag(help: "Add a random nonce.")
  var nonce = false

  @Option(help: "Write the DER request to this file.")
  var out: String?

  @Flag(help: "Print one JSON object.")
  var json = false

  func run() throws {
    let request: OCSPRequest
    do {
      let (certificate, issuerCertificate) = try OCSPFiles.pair(cert: cert, issuer: issuer)
      request = try OCSPRequest(
        certificate: certificate, issuer: issuerCertificate, digest: sha256 ? .sha256 : .sha1,
        nonce: nonce ? .random : .none)
      if let out { try Data(request.derEncoded).write(to: URL(fileURLWithPath: out)) }
    } catch {
      throw CommandFailure.input(error, json: json)
    }
    if json {
      Output.line(
        JSON.object([
          ("certificates", .array(request.ids.map(Describe.certID))),
          ("nonce", .optional(request.nonce?.hexString)),
          ("der_base64", .string(Data(request.derEncoded).base64EncodedString())),
          ("out", .optional(out)),
        ]).serialized())
    } else if out == nil {
      Output.line(request.pemEncoded.trimmingCharacters(in: .newlines))
    }
  }
}

/// What `ocsp verify` and `ocsp fetch` check, and their JSON.
struct OCSPCheckOptions: ParsableArguments {
  @Option(name: .customLong("trusted"), help: "Trusted certificates the responder must chain to.")
  var trusted: [String] = []

  @Option(name: .customLong("untrusted"), help: "More certificates to find and chain the responder with.")
  var untrusted: [String] = []

  @Flag(name: .customLong("system-trust"), help: "Trust the operating system's store too.")
  var systemTrust = false

  @Flag(name: .customLong("partial-chain"), help: "Accept a responder chain ending in any trusted certificate.")
  var partialChain = false

  @Option(help: "Check at this time (RFC 3339) instead of now.")
  var at: String?

  @Option(name: .customLong("max-age"), help: "The oldest thisUpdate accepted, in seconds (default 604800).")
  var maxAge: Int?

  @Flag(help: "Print one JSON object.")
  var json = false

  /// The store, the untrusted certificates and the validation options.
  func prepare(issuer: X509Certificate?) throws -> (X509Store, [X509Certificate], OCSPValidationOptions) {
    let store = X509Store()
    for path in trusted {
      for anchor in try X509Certificate.all(contentsOfFile: path) { try store.add(anchor) }
    }
    if systemTrust { try store.loadSystemTrust() }
    var others: [X509Certificate] = issuer.map { [$0] } ?? []
    for path in untrusted { others += try X509Certificate.all(contentsOfFile: path) }
    var options = OCSPValidationOptions()
    if let at {
      guard let time = try? Date(at, strategy: .iso8601) else {
        throw ValidationError("--at \(at) is not an RFC 3339 time such as 2025-01-31T12:00:00Z")
      }
      options.time = time
      try store.setTime(time)
    }
    if partialChain { try store.setFlags(.partialChain) }
    if let maxAge { options.maximumAge = TimeInterval(maxAge) }
    return (store, others, options)
  }

  /// Verifies `response` and, given a certificate ID, finds and checks its status; prints the
  /// result and fails with exit 1 when a check said no.
  func report(
    _ response: OCSPResponse, id: OCSPCertID?, request: OCSPRequest?, store: X509Store,
    untrusted: [X509Certificate], options: OCSPValidationOptions
  ) throws {
    var signatureValid = false
    var single: OCSPSingleResponse? = nil
    var failure: OCSPError? = nil
    do {
      let basic = try response.basicResponse()
      try basic.verifySignature(store: store, untrusted: untrusted)
      signatureValid = true
      if let request { try basic.validateNonce(against: request, options: options) }
      if let id {
        let found = try basic.singleResponse(for: id)
        single = found
        try found.validateStatus(options)
      }
    } catch {
      failure = error
    }
    var revocation: (JSON, JSON) = (.null, .null)
    if case .revoked(let time, let reason)? = single?.status {
      revocation = (.string(Output.time(time)), .optional(reason?.description))
    }
    if json {
      Output.line(
        JSON.object([
          ("response_status", .string(response.status?.description ?? "\(response.statusCode)")),
          ("signature_valid", .bool(signatureValid)),
          ("cert_status", .optional(single?.status.description)),
          ("revocation_time", revocation.0),
          ("revocation_reason", revocation.1),
          ("this_update", .optional(single.map { Output.time($0.thisUpdate) })),
          ("next_update", .optional(single?.nextUpdate.map(Output.time))),
          ("error", failure.map(OCSPFiles.errorJSON) ?? .null),
        ]).serialized())
    } else {
      Output.line("response status: \(response.status?.description ?? "\(response.statusCode)")")
      Output.line("signature: \(signatureValid ? "valid" : "not valid")")
      if let single {
        Output.line("certificate status: \(single.status)")
        if case .revoked(let time, let reason) = single.status {
          Output.line("revoked at: \(Output.time(time))" + (reason.map { " (\($0))" } ?? ""))
        }
        Output.line("this update: \(Output.time(single.thisUpdate))")
        Output.line("next update: \(single.nextUpdate.map(Output.time) ?? "none")")
      }
    }
    if let failure {
      throw CommandFailure(status: 1, message: "error: \(failure)", json: nil)
    }
  }
}

/// `ocsp verify --response FILE [--trusted FILE]... [--untrusted FILE]... [--partial-chain]
/// [--at RFC3339] [--cert FILE --issuer FILE] [--max-age SECONDS] [--json]`
struct OCSPVerifyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Verify an OCSP response's signature and signer, and a certificate's status in it.",
    discussion: """
      The signature and signer are verified as `openssl ocsp -respin R -CAfile T -verify_other U` \
      does (OCSP_basic_verify with no flags). With --cert and --issuer, the certificate's single \
      response is found (in the response's own hash algorithm) and must be good and current at --at.
      """)

  @Option(help: "The OCSP response (DER or PEM).")
  var response: String

  @Option(help: "The certificate whose status to check (with --issuer).")
  var cert: String?

  @Option(help: "Its issuer's certificate.")
  var issuer: String?

  @OptionGroup var check: OCSPCheckOptions

  func validate() throws {
    if (cert == nil) != (issuer == nil) { throw ValidationError("--cert and --issuer go together") }
  }

  func run() throws {
    let parsed: OCSPResponse
    let id: OCSPCertID?
    let setup: (X509Store, [X509Certificate], OCSPValidationOptions)
    do {
      parsed = try OCSPResponse(contentsOfFile: response)
      if let cert, let issuer {
        let (certificate, issuerCertificate) = try OCSPFiles.pair(cert: cert, issuer: issuer)
        id = try OCSPCertID(certificate: certificate, issuer: issuerCertificate)
        setup = try check.prepare(issuer: issuerCertificate)
      } else {
        id = nil
        setup = try check.prepare(issuer: nil)
      }
    } catch let error as ValidationError {
      throw error
    } catch {
      throw CommandFailure.input(error, json: check.json)
    }
    try check.report(parsed, id: id, request: nil, store: setup.0, untrusted: setup.1, options: setup.2)
  }
}

/// `ocsp fetch --cert FILE --issuer FILE [--url URL] [--trusted FILE]... [--timeout SECONDS] [--json]`
struct OCSPFetchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fetch",
    abstract: "Ask the certificate's OCSP responder over HTTP, then verify the answer as `ocsp verify` does.",
    discussion: """
      The responder is the certificate's authority information access OCSP URL unless --url is \
      given; only plain http:// URLs are used, redirects are not followed, and the answer may be at \
      most 100 KiB. Like openssl, the command uses http_proxy (or HTTP_PROXY) unless the responder's \
      host is in no_proxy (or NO_PROXY).
      """)

  @Option(help: "The certificate to ask about.")
  var cert: String

  @Option(help: "Its issuer's certificate.")
  var issuer: String

  @Option(help: "The responder URL, instead of the certificate's.")
  var url: String?

  @Option(help: "The time limit for the exchange, in seconds.")
  var timeout: Int = 10

  @Flag(help: "Add a random nonce; a response that changes it fails.")
  var nonce = false

  @Flag(help: "Hash the certificate ID with SHA-256 instead of SHA-1.")
  var sha256 = false

  @OptionGroup var check: OCSPCheckOptions

  @OptionGroup var fetch: FetchOptions

  func validate() throws {
    if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
  }

  func run() throws {
    let request: OCSPRequest
    let id: OCSPCertID
    let target: String
    let setup: (X509Store, [X509Certificate], OCSPValidationOptions)
    do {
      let (certificate, issuerCertificate) = try OCSPFiles.pair(cert: cert, issuer: issuer)
      id = try OCSPCertID(certificate: certificate, issuer: issuerCertificate, digest: sha256 ? .sha256 : .sha1)
      request = try OCSPRequest(ids: [id], nonce: nonce ? .random : .none)
      do {
        target = try url ?? OCSPClient.responderURL(for: certificate)
      } catch {
        throw CommandFailure(
          status: 2,
          message: "error: --cert \(cert): \((error as? OCSPClientError)?.detail ?? "\(error)"); "
            + "give the responder with --url",
          json: check.json ? .object([("error", Output.errorJSON(error))]) : nil)
      }
      setup = try check.prepare(issuer: issuerCertificate)
    } catch let error as ValidationError {
      throw error
    } catch let failure as CommandFailure {
      throw failure
    } catch {
      throw CommandFailure.input(error, json: check.json)
    }
    var client = OCSPClient(destinations: fetch.destinations)
    client.timeout = timeout
    client.proxy = .environment
    let response: OCSPResponse
    do {
      response = try client.send(request, to: target)
    } catch {
      let document = JSON.object([
        ("response_status", .null), ("signature_valid", .bool(false)), ("cert_status", .null),
        ("revocation_time", .null), ("revocation_reason", .null), ("this_update", .null), ("next_update", .null),
        ("error", Output.errorJSON(error)),
      ])
      throw CommandFailure(status: 1, message: "error: \(error)", json: check.json ? document : nil)
    }
    try check.report(
      response, id: id, request: nonce ? request : nil, store: setup.0, untrusted: setup.1, options: setup.2)
  }
}

/// Reading the CLI's OCSP inputs.
enum OCSPFiles {
  /// The first certificate of each file.
  static func pair(cert: String, issuer: String) throws -> (X509Certificate, X509Certificate) {
    (try X509Certificate.all(contentsOfFile: cert)[0], try X509Certificate.all(contentsOfFile: issuer)[0])
  }

  /// CLI.md's error object for an OCSP check, with the check's name and the facts.
  static func errorJSON(_ error: any Error) -> JSON {
    guard let error = error as? OCSPError else { return Output.errorJSON(error) }
    return .object([
      ("name", .string("OCSPError")),
      ("check", .string(error.check.description)),
      ("message", .string(error.explanation)),
    ])
  }
}
