import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The revocation cache: one type for OCSP responses and CRLs, fresh only, verified on every
/// use, bounded, shared by threads, optionally on disk.
@Suite("Revocation cache: fresh, verified on every use, bounded, shared, persistent")
struct RevocationCacheTests {
  /// CRLs of the CRL PKI's intermediate and root, and their checks.
  struct Fixture {
    let pki: CRLPKI
    let fetches = Counter()

    init() throws { pki = try CRLPKI(server: LoopbackHTTPServer()) }

    func crl(
      _ cache: RevocationCache, url: String = "http://crl.example.test/intermediate.crl", serving: X509CRL? = nil,
      time: Date? = nil
    ) throws -> X509CRL {
      var options = OCSPValidationOptions()
      options.time = time
      let served = try serving ?? pki.crl()
      return try cache.crl(
        at: url, validate: { try $0.validate(issuer: pki.intermediate, options: options) },
        fetch: {
          fetches.increment()
          return served
        })
    }

    /// The files of a cache directory.
    static func files(_ directory: TemporaryDirectory) throws -> [String] {
      try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }
  }

  @Test func aCachedCRLIsUsedAgainAndCheckedOnEveryUse() throws {
    let fixture = try Fixture()
    let cache = try RevocationCache()
    let first = try fixture.crl(cache)
    let second = try fixture.crl(cache)
    #expect(first == second)
    #expect(fixture.fetches.value == 1)
    #expect(cache.count == 1)
    #expect(cache.byteCount == first.derEncoded.count)
    // A use whose checks fail drops the entry and fetches again.
    var calls = 0
    _ = try cache.crl(
      at: "http://crl.example.test/intermediate.crl",
      validate: { crl in
        calls += 1
        if calls == 1 { throw OCSPError(.signature, explanation: "refused for the test") }
        return try crl.validate(issuer: fixture.pki.intermediate)
      },
      fetch: {
        fixture.fetches.increment(); return try fixture.pki.crl()
      })
    #expect(calls == 2)
    #expect(fixture.fetches.value == 2)
  }

  @Test func nextUpdateEndsAnEntry() throws {
    let fixture = try Fixture()
    let cache = try RevocationCache()
    // Valid at the time asked (an hour ago), past its nextUpdate now: not kept past it.
    let old = try fixture.pki.crl(
      thisUpdate: Date(timeIntervalSinceNow: -7_200), nextUpdate: Date(timeIntervalSinceNow: -60))
    _ = try fixture.crl(cache, serving: old, time: Date(timeIntervalSinceNow: -3_600))
    _ = try fixture.crl(cache, serving: old, time: Date(timeIntervalSinceNow: -3_600))
    #expect(fixture.fetches.value == 2)
  }

  @Test func aFileOlderThanTheMaximumAgeIsFetchedAgain() throws {
    let fixture = try Fixture()
    let directory = try TemporaryDirectory("revocation-cache")
    _ = try fixture.crl(try RevocationCache(directory: directory.path))
    let file = try #require(try Fixture.files(directory).first)
    // Written eight days ago: older than the default maximum age of seven.
    let eightDaysAgo = Date(timeIntervalSinceNow: -8 * 86_400)
    try FileManager.default.setAttributes([.modificationDate: eightDaysAgo], ofItemAtPath: directory.file(file))
    _ = try fixture.crl(try RevocationCache(directory: directory.path))
    #expect(fixture.fetches.value == 2)
    _ = try fixture.crl(try RevocationCache(directory: directory.path))
    #expect(fixture.fetches.value == 2)
  }

  @Test func memoryIsBoundedAndTheLeastRecentlyUsedGoFirst() throws {
    let fixture = try Fixture()
    let size = try fixture.pki.crl().derEncoded.count
    let cache = try RevocationCache(maximumBytes: 2 * size + size / 2)
    for name in ["a", "b", "c"] {
      _ = try fixture.crl(cache, url: "http://crl.example.test/\(name).crl")
      if name == "b" { _ = try fixture.crl(cache, url: "http://crl.example.test/a.crl") }
    }
    #expect(cache.count == 2)
    #expect(cache.byteCount <= cache.maximumBytes)
    let before = fixture.fetches.value
    _ = try fixture.crl(cache, url: "http://crl.example.test/a.crl")
    #expect(fixture.fetches.value == before)
    _ = try fixture.crl(cache, url: "http://crl.example.test/b.crl")
    #expect(fixture.fetches.value == before + 1)
  }

  @Test func answersPersistAcrossCachesWrittenAtomically() throws {
    let fixture = try Fixture()
    let directory = try TemporaryDirectory("revocation-cache")
    let stored = try fixture.crl(try RevocationCache(directory: directory.path))
    let files = try Fixture.files(directory)
    #expect(files.count == 1)
    #expect(files.allSatisfy { $0.hasSuffix(".der") && !$0.hasPrefix(".") }, "\(files)")
    let later = try RevocationCache(directory: directory.path)
    #expect(try fixture.crl(later) == stored)
    #expect(fixture.fetches.value == 1)
    later.removeAll()
    #expect(try Fixture.files(directory).isEmpty)
  }

  @Test func aCorruptOrForeignFileIsIgnoredAndFetchedAgain() throws {
    let fixture = try Fixture()
    let directory = try TemporaryDirectory("revocation-cache")
    _ = try fixture.crl(try RevocationCache(directory: directory.path))
    let file = directory.file(try #require(try Fixture.files(directory).first))
    for bytes in [Array("garbage".utf8), try fixture.pki.crl(root: true).derEncoded, []] {
      try Data(bytes).write(to: URL(fileURLWithPath: file))
      let before = fixture.fetches.value
      let crl = try fixture.crl(try RevocationCache(directory: directory.path))
      #expect(fixture.fetches.value == before + 1)
      #expect(crl.issuer == fixture.pki.intermediate.subject)
      // The file holds the good CRL again.
      #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(crl.derEncoded))
    }
  }

  @Test func aServerThatIsDownOrAnswersTooMuchCachesNothing() throws {
    let fixture = try Fixture()
    let cache = try RevocationCache()
    let down = "http://127.0.0.1:\(try closedLoopbackPort())/down.crl"
    var client = CRLClient(destinations: .allowingLoopback)
    client.timeout = 2
    let unreachable = try caught(OCSPClientError.self) {
      _ = try cache.crl(
        at: down, validate: { try $0.validate(issuer: fixture.pki.intermediate) },
        fetch: { try client.download(from: down) })
    }
    #expect(unreachable.reason == .unreachable)
    fixture.pki.server.set("huge.crl", .stream(count: client.maximumSize + 1))
    let huge = fixture.pki.server.url("huge.crl")
    let tooLarge = try caught(OCSPClientError.self) {
      _ = try cache.crl(
        at: huge, validate: { try $0.validate(issuer: fixture.pki.intermediate) },
        fetch: { try client.download(from: huge) })
    }
    #expect(tooLarge.reason == .responseTooLarge)
    #expect(cache.count == 0)
  }

  @Test func ocspResponsesAreKeyedByTheCertificateTheyAnswerFor() throws {
    let ocsp = try OCSPPKI()
    let store = try ocsp.store()
    let cache = try RevocationCache()
    let fetches = Counter()
    func response(for id: OCSPCertID) throws -> OCSPResponse {
      try cache.ocspResponse(
        for: id,
        validate: { response in
          let basic = try response.basicResponse()
          try basic.verifySignature(store: store, untrusted: [ocsp.pki.intermediate])
          return try basic.singleResponse(for: id).validUntil()
        },
        fetch: {
          fetches.increment()
          return try ocsp.response()
        })
    }
    _ = try response(for: try ocsp.leafID())
    _ = try response(for: try ocsp.leafID())
    #expect(fetches.value == 1)
    // Another hash algorithm is another key.
    _ = try response(for: try ocsp.leafID(.sha256))
    #expect(fetches.value == 2)
    #expect(cache.count == 2)
  }

  @Test func manyThreadsShareOneCache() throws {
    let fixture = try Fixture()
    let directory = try TemporaryDirectory("revocation-cache")
    let cache = try RevocationCache(maximumBytes: 4 * 1024, directory: directory.path)
    let crls = try (0..<4).map { _ in try fixture.pki.crl() }
    let ocsp = try OCSPPKI()
    let store = try ocsp.store()
    let id = try ocsp.leafID()
    let response = try ocsp.response()
    let failures = Recorder<String>()
    DispatchQueue.concurrentPerform(iterations: 8) { thread in
      for round in 0..<60 {
        do {
          let index = (thread + round) % crls.count
          let crl = try cache.crl(
            at: "http://crl.example.test/\(index).crl", validate: { try $0.validate(issuer: fixture.pki.intermediate) },
            fetch: { crls[index] })
          if crl != crls[index] { failures.append("thread \(thread): another CRL came back") }
          let answer = try cache.ocspResponse(
            for: id,
            validate: {
              let basic = try $0.basicResponse()
              try basic.verifySignature(store: store, untrusted: [ocsp.pki.intermediate])
              return try basic.singleResponse(for: id).validUntil()
            }, fetch: { response })
          if answer.derEncoded != response.derEncoded { failures.append("thread \(thread): another response") }
          if round % 25 == 24 { cache.removeAll() }
          _ = cache.count + cache.byteCount
        } catch {
          failures.append("thread \(thread): \(error)")
        }
      }
    }
    #expect(failures.all.isEmpty, "\(failures.all)")
    #expect(cache.byteCount <= cache.maximumBytes)
    #expect(try Fixture.files(directory).allSatisfy { !$0.hasSuffix(".tmp") })
  }

  @Test func aDirectoryThatCannotBeUsedIsAClearError() throws {
    let directory = try TemporaryDirectory("revocation-cache")
    let file = try directory.write("not-a-directory", "x")
    let error = try caught(InputError.self) { _ = try RevocationCache(directory: file) }
    #expect(error.detail.contains("not a directory") || error.detail.contains("cannot be made"), "\(error)")
    #expect(
      try caught(InputError.self) { _ = try RevocationCache(directory: "/proc/nope/cache") }.reason == .unreadableFile)
  }
}
