// Serve TLS with a key that never leaves an HSM.
//
//   HSMTLSServer 'pkcs11:token=oo-test;object=ec-p256;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/path/pin' \
//     server-chain.pem 8443
//
// The certificate file holds the server certificate (for the token key's public key) and its chain.
// Try it: `openssl s_client -connect 127.0.0.1:8443 -CAfile root.pem`.

import Foundation
import OpenSSLObjects
import PKCS11Keys

signal(SIGPIPE, SIG_IGN)
let arguments = CommandLine.arguments
guard arguments.count == 4, let port = UInt16(arguments[3]) else {
  FileHandle.standardError.write(Data("usage: HSMTLSServer PKCS11-URI CERTIFICATES.pem PORT\n".utf8))
  exit(2)
}

do {
  // The module named by the URI is the operator's own choice here: allow exactly that one.
  let uri = try PKCS11URI(parsing: arguments[1])
  let options = PKCS11LoadOptions(modulePolicy: .allowList([uri.modulePath].compactMap { $0 }))
  let key = try PrivateKey(pkcs11: uri, options: options)  // signs on the token
  let certificates = try X509Certificate.all(contentsOfFile: arguments[2])
  guard key.matches(certificates[0]) else {
    print("the certificate is not for the token's key")
    exit(1)
  }
  let context = try SSLContext(
    configuration: .server([
      CertificateChain(certificate: certificates[0], chain: Array(certificates.dropFirst()), privateKey: key)
    ]))

  let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var reuse: Int32 = 1
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = port.bigEndian
  let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard bound == 0, listen(listener, 16) == 0 else {
    print("cannot listen on 127.0.0.1:\(port)")
    exit(1)
  }
  print("serving on 127.0.0.1:\(port) with \(key) on the token")
  while true {
    let client = accept(listener, nil, nil)
    guard client >= 0 else { continue }
    do {
      let connection = try context.makeConnection(transport: .socket(client))
      try connection.handshake()
      print("handshake: \(connection.version?.description ?? "?") \(connection.cipher ?? "?")")
      try connection.write(Array("hello from a key on the token\n".utf8))
      try connection.shutdown()
    } catch {
      print("connection failed: \(error)")
    }
    close(client)
  }
} catch {
  print("error: \(error)")
  exit(1)
}
