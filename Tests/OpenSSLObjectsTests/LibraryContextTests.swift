import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Library contexts (`OSSL_LIB_CTX`), providers and property queries: isolation between
/// contexts, each constructor that fetches or decodes in a context, and the typed errors.
@Suite("Library contexts and providers")
struct LibraryContextTests {
  /// A new context with the default provider (and `others`) loaded explicitly.
  private func context(_ providers: String...) throws -> (LibraryContext, [Provider]) {
    let context = try LibraryContext()
    return (context, try providers.map { try Provider(loading: $0, in: context) })
  }

  @Test func theDefaultContextIsOpenSSLsGlobalOne() throws {
    #expect(LibraryContext.default.isDefault)
    #expect(try !LibraryContext().isDefault)
  }

  @Test func aProviderLoadedInOneContextIsInvisibleInAnother() throws {
    let (withLegacy, kept) = try context("default", "legacy")
    let (withoutLegacy, keptToo) = try context("default")
    #expect(withLegacy.providerNames == ["default", "legacy"])
    #expect(withoutLegacy.providerNames == ["default"])
    #expect(withLegacy.isProviderAvailable("legacy"))
    #expect(!withoutLegacy.isProviderAvailable("legacy"))
    // MD4 lives in the legacy provider only: fetched in one context, unknown in the other.
    #expect(try Digest(named: "MD4", libraryContext: withLegacy).size == 16)
    #expect(throws: InputError.self) { try Digest(named: "MD4", libraryContext: withoutLegacy) }
    withExtendedLifetime((kept, keptToo)) {}
  }

  @Test func loadingAProviderExplicitlyTurnsOffTheDefaultFallbackButTryLoadKeepsIt() throws {
    let explicit = try LibraryContext()
    let legacy = try Provider(loading: "legacy", in: explicit)
    #expect(throws: InputError.self) { try Digest(named: "SHA256", libraryContext: explicit) }
    let fallback = try LibraryContext()
    let tried = try Provider(tryLoading: "legacy", in: fallback, retainFallbacks: true)
    #expect(try Digest(named: "SHA256", libraryContext: fallback).size == 32)
    withExtendedLifetime((legacy, tried)) {}
  }

  @Test func theDefaultProvidersFactsAndSelfTest() throws {
    let (_, providers) = try context("default")
    let provider = try #require(providers.first)
    #expect(provider.name == "default")
    #expect(provider.isAvailable)
    #expect(provider.selfTest())
    #expect(provider.status == true)
    #expect(provider.version == OpenSSLLibrary.runtimeVersion.description)
    #expect(provider.parameters["name"] == "OpenSSL Default Provider")
  }

  @Test func anUnknownProviderIsATypedErrorNamingIt() throws {
    let context = try LibraryContext()
    do {
      _ = try Provider(loading: "no-such-provider", in: context)
      Issue.record("loaded a provider that does not exist")
    } catch {
      #expect(error.code == .loadFailed)
      #expect(error.provider == "no-such-provider")
      #expect(error.description.contains("no-such-provider"))
    }
  }

  @Test func propertyQueriesPickTheProvider() throws {
    let (context, kept) = try context("default", "legacy")
    #expect(try Digest(named: "SHA256", libraryContext: context, properties: .provider("default")).size == 32)
    #expect(throws: InputError.self) {
      try Digest(named: "SHA256", libraryContext: context, properties: .provider("legacy"))
    }
    #expect(throws: ProviderError.self) { try context.setDefaultProperties("provider=") }
    withExtendedLifetime(kept) {}
  }

  @Test func configurationTextSetsUpProvidersAndItsErrorsSayWhere() throws {
    let context = try LibraryContext()
    try context.loadConfiguration(
      text: """
        openssl_conf = init
        [init]
        providers = providers
        [providers]
        default = default_section
        [default_section]
        activate = 1
        """)
    #expect(context.providerNames == ["default"])
    do {
      try LibraryContext().loadConfiguration(text: "openssl_conf = init\n[init\nproviders = x\n")
      Issue.record("a broken configuration was accepted")
    } catch let error as ProviderError {
      #expect(error.code == .configurationFailed)
      #expect(error.detail.contains("line 2"))
    }
  }

  // MARK: Keys, certificates, signatures and TLS in a context

  @Test func keysAreGeneratedAndDecodedOnlyWhereAProviderCan() throws {
    let (empty, nullProvider) = try context("null")
    #expect(throws: InputError.self) { try PrivateKey(generating: .ec(.p256), libraryContext: empty) }
    let (usable, kept) = try context("default")
    let key = try PrivateKey(generating: .ec(.p256), libraryContext: usable)
    let pem = try key.pemEncoded()
    #expect(throws: InputError.self) { try PrivateKey(secret: pem, libraryContext: empty) }
    let decoded = try PrivateKey(secret: pem, libraryContext: usable)
    #expect(decoded.hasSamePublicKey(as: key))
    let signature = try decoded.signature(for: Array("message".utf8))
    #expect(try key.publicKey.isValidSignature(signature, for: Array("message".utf8)))
    withExtendedLifetime((nullProvider, kept)) {}
  }

  @Test func aKeyKeepsItsContextAliveAfterTheLastSwiftReferenceToIt() throws {
    var key: PrivateKey? = nil
    do {
      let context = try LibraryContext()
      key = try PrivateKey(generating: .ed25519, libraryContext: context)
    }
    // The context object is gone from Swift; the key still signs in it.
    let signature = try #require(key).signature(for: [1, 2, 3])
    #expect(try #require(key).publicKey.isValidSignature(signature, for: [1, 2, 3]))
  }

  @Test func certificatesDecodeInAContext() throws {
    let pki = try TestPKI()
    let (context, kept) = try context("default")
    let certificate = try X509Certificate(bytes: pki.leaf.derEncoded, libraryContext: context)
    #expect(certificate == pki.leaf)
    let store = X509Store()
    try store.add(pki.root)
    #expect(throws: Never.self) { try store.verify(certificate, untrusted: [pki.intermediate]) }
    withExtendedLifetime(kept) {}
  }

  @Test func aKeyOfAnotherContextIsRefusedByATLSContextWithATypedError() throws {
    let (context, kept) = try context("default")
    let key = try PrivateKey(generating: .ec(.p256), libraryContext: context)
    let certificate = try TestPKI.makeCA(name: "context", key: key)
    let chain = CertificateChain(certificate: certificate, privateKey: key)
    do {
      _ = try SSLContext(configuration: .server([chain]))
      Issue.record("a key of another library context was accepted")
    } catch let error as ProviderError {
      #expect(error.code == .libraryContextMismatch)
    }
    var configuration = TLSConfiguration.server([chain])
    configuration.libraryContext = context
    #expect(throws: Never.self) { try SSLContext(configuration: configuration) }
    withExtendedLifetime(kept) {}
  }

  @Test func aTLSContextInItsOwnLibraryContextHandshakesWithADefaultOne() async throws {
    let (context, kept) = try context("default")
    let pki = try TestPKI()
    let key = try PrivateKey(secret: try pki.leafKey.pemEncoded(), libraryContext: context)
    var server = TLSConfiguration.server([
      CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: key)
    ])
    server.libraryContext = context
    let fixture = TLSFixture(pki: pki)
    let (client, _) = try await fixture.connect(
      client: try fixture.client(), server: try SSLContext(configuration: server))
    #expect(client.peerCertificate == pki.leaf)
    #expect(client.verifiedChain.count == 3)
    withExtendedLifetime(kept) {}
  }
}
