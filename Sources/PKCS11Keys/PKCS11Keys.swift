// PKCS11Keys: RFC 7512 URIs, libp11 modules and tokens, keys on tokens as ordinary `PrivateKey`s.
// The target exists from the start so that the package layout is final; its contents arrive with
// the PKCS#11 issue.
import OpenSSLObjects
