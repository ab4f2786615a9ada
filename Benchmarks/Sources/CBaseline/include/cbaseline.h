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

#endif
