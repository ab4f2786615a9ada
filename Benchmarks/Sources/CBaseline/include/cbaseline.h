/*
 * The C side of every benchmark workload: the same OpenSSL operations our Swift API performs, on
 * the same inputs, written the way a careful C programmer writes them.
 *
 * Each function repeats its operation `iterations` times (the loop is in C, so no Swift code runs
 * between repetitions) and returns 1 when every repetition succeeded, 0 otherwise. Objects are
 * passed as `void *` so that this header needs no OpenSSL types: they are borrowed `X509 *` and
 * `EVP_PKEY *` pointers, lent by the Swift wrappers' borrow door, or handed over (+1) where a
 * function says so.
 *
 * Two forms where they differ:
 *   baseline  the algorithms fetched once, as OpenSSLObjects' defaults do (EVP_MD_fetch at setup);
 *   naive     implicit fetches on every call (EVP_sha256(), PEM_read_bio_PrivateKey), as most C
 *             code is written.
 */
#ifndef OPENSSLOBJECTS_BENCHMARKS_CBASELINE_H
#define OPENSSLOBJECTS_BENCHMARKS_CBASELINE_H

#include <stddef.h>
#include <stdint.h>

/* MARK: - Certificates */

/* d2i_X509 of the whole input (trailing bytes are a failure), then X509_free. */
int cb_parse_certificate_der(const uint8_t *der, size_t length, long iterations);

/* BIO_new_mem_buf, PEM_read_bio_X509, X509_free, BIO_free. */
int cb_parse_certificate_pem(const uint8_t *pem, size_t length, long iterations);

/* X509_get_ext_d2i for each extension the typed accessors read (subject and issuer alternative
 * names, key usage, extended key usage, basic constraints, name constraints, authority information
 * access, CRL distribution points, subject and authority key identifiers, TLS feature, OCSP
 * no-check), reading every value of each with OpenSSL's accessors, then freeing it. `x509` is
 * borrowed. */
int cb_read_extensions(const void *x509, long iterations);

/* MARK: - Signatures */

typedef struct cb_signer cb_signer;

/* A signing or verifying key and its digest, fetched once (EVP_MD_fetch); `digest` is NULL for
 * EdDSA. Takes its own reference to `pkey` (EVP_PKEY_up_ref). NULL on failure. */
cb_signer *cb_signer_new(void *pkey, const char *digest);
void cb_signer_free(cb_signer *signer);

/* EVP_MD_CTX_new, EVP_DigestSignInit with the fetched digest, EVP_DigestSign for the length, then
 * for the signature, EVP_MD_CTX_free. The last signature made is kept in `signature`, whose
 * capacity is `*signature_length` on entry and its length on return (may be NULL). */
int cb_sign(const cb_signer *signer, const uint8_t *message, size_t length, long iterations,
            uint8_t *signature, size_t *signature_length);
/* The same with EVP_DigestSignInit(..., EVP_sha256() or EVP_sha384() ..., ...): the digest named
 * by the legacy getter on every call. */
int cb_sign_naive(const cb_signer *signer, const uint8_t *message, size_t length, long iterations);

/* EVP_MD_CTX_new, EVP_DigestVerifyInit with the fetched digest, EVP_DigestVerify, EVP_MD_CTX_free;
 * succeeds only if the signature is valid. */
int cb_verify(const cb_signer *signer, const uint8_t *signature, size_t signature_length,
              const uint8_t *message, size_t length, long iterations);
int cb_verify_naive(const cb_signer *signer, const uint8_t *signature, size_t signature_length,
                    const uint8_t *message, size_t length, long iterations);

/* MARK: - Keys */

/* Encrypted PKCS#8 PEM: PEM_read_bio_PKCS8 (the X509_SIG), PKCS8_decrypt_ex with the passphrase
 * and its length, EVP_PKCS82PKEY_ex, EVP_PKEY_free. */
int cb_load_encrypted_pkcs8(const uint8_t *pem, size_t length, const uint8_t *passphrase,
                            size_t passphrase_length, long iterations);
/* PEM_read_bio_PrivateKey with a passphrase callback (OSSL_DECODER with every decoder). */
int cb_load_encrypted_pkcs8_naive(const uint8_t *pem, size_t length, const uint8_t *passphrase,
                                  size_t passphrase_length, long iterations);

/* Unencrypted PKCS#8 PEM: PEM_read_bio_PKCS8_PRIV_KEY_INFO, EVP_PKCS82PKEY_ex, EVP_PKEY_free. */
int cb_load_pkcs8(const uint8_t *pem, size_t length, long iterations);
/* PEM_read_bio_PrivateKey (OSSL_DECODER with every decoder). */
int cb_load_pkcs8_naive(const uint8_t *pem, size_t length, long iterations);

/* MARK: - Verification */

/* X509_STORE_CTX_new, X509_STORE_CTX_init with the store, the leaf and the intermediate as the
 * untrusted stack, X509_VERIFY_PARAM_set_hostflags (no partial wildcards, as our default) and
 * X509_VERIFY_PARAM_set1_host, X509_verify_cert, X509_STORE_CTX_get1_chain (the verified chain, as
 * the Swift API returns it), X509_STORE_CTX_free. All objects are borrowed. */
int cb_verify_chain(void *store, void *leaf, void *intermediate, const char *host, long iterations);

/* MARK: - OCSP */

/* A stapled response as a client checks it: d2i_OCSP_RESPONSE of the whole input,
 * OCSP_response_status (successful), OCSP_response_get1_basic, OCSP_basic_verify against `store`
 * with no flags and no extra certificates (the signer and its chain come from the response),
 * OCSP_resp_find_status for `id` (an OCSP_CERTID *) with a good status, OCSP_check_validity with
 * five minutes' skew and a seven-day maximum age (OCSPValidationOptions' defaults), then the frees.
 * `store` and `id` are borrowed. */
int cb_ocsp_validate(const uint8_t *der, size_t length, void *store, void *id, long iterations);

/* MARK: - TLS */

typedef struct cb_tls cb_tls;
typedef struct cb_tls_pair cb_tls_pair;

/* A client SSL_CTX and a server SSL_CTX with the settings TLSConfiguration's defaults make:
 * TLS 1.2 at least, no compression or renegotiation, security level 2, Mozilla's intermediate
 * cipher list, the TLS 1.3 suites, X25519:P-256:P-384. The client verifies the peer
 * (SSL_VERIFY_PEER) against `client_store`, given with SSL_CTX_set1_cert_store (the very same
 * X509_STORE as ours); with `resumption` it keeps the last session from its new-session callback
 * (SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE). The server presents `certificate`
 * and `intermediate` with `key` (SSL_CTX_use_cert_and_key), has `server_store` (may be NULL), a
 * server session cache and two TLS 1.3 tickets per handshake. Borrowed objects. */
cb_tls *cb_tls_new(void *client_store, void *server_store, void *certificate, void *intermediate, void *key,
                   int resumption);
void cb_tls_free(cb_tls *tls);

/* One client context as cb_tls_new makes it, on the shared `store`, then SSL_CTX_free. */
int cb_client_context(void *store, long iterations);
/* SSL_CTX_new and SSL_CTX_set_default_verify_paths (each context loads the system store itself). */
int cb_client_context_naive(long iterations);

/* A connection pair over memory BIOs (BIO_s_mem, copied through a buffer as takeOutput and receive
 * do), the client with SNI, SSL_set_hostflags and SSL_set1_host for `host`; SSL_do_handshake on
 * each side in turn until both are done, then SSL_read_ex on the client for the tickets in flight.
 * With `resume`, the client offers its last session (SSL_set_session, if still resumable) and both
 * sides close cleanly (SSL_shutdown both ways), so the next connection resumes; then SSL_free.
 * `resume` 1 fails a handshake that did not resume; 2 (priming) does not. */
int cb_tls_handshake(cb_tls *tls, const char *host, int resume, long iterations);

/* An established pair (a full handshake), for bulk data. NULL on failure. */
cb_tls_pair *cb_tls_pair_new(cb_tls *tls, const char *host);
void cb_tls_pair_free(cb_tls_pair *pair);

/* SSL_write_ex of `length` bytes on the client, the record moved to the server, SSL_read_ex on the
 * server until all of it is read (into a reused buffer). */
int cb_tls_bulk(cb_tls_pair *pair, const uint8_t *data, size_t length, long iterations);

/* MARK: - PKCS#11 (libp11) */

typedef struct cb_token cb_token;

/* PKCS11_CTX_new, PKCS11_CTX_load of `module`, PKCS11_enumerate_slots, and PKCS11_login with `pin`
 * on the initialized token labelled `label`. NULL on failure. */
cb_token *cb_token_open(const char *module, const char *label, const char *pin);
/* PKCS11_enumerate_keys and PKCS11_get_private_key for the private key labelled `label`: an
 * EVP_PKEY (+1) that signs on the token, for cb_signer_new; NULL if none. */
void *cb_token_private_key(cb_token *token, const char *label);
void cb_token_close(cb_token *token);

#endif
