/*
 * COpenSSLFull: the whole of OpenSSL 3 for Swift, plus static inline shims for what Swift cannot
 * import: function-like macros (stack macros, BIO and SSL_CTX control macros, ex_data index macros,
 * OPENSSL_free/malloc), variadic functions (EVP_PKEY_Q_keygen) and constants built from macros.
 *
 * Every shim is named oo_<what it stands for> and says in its comment which macro or function it
 * replaces. The shims add no logic of their own, except the HTTP status line recorder at the end
 * (a BIO callback, which has to be C).
 */
#ifndef OPENSSLOBJECTS_COPENSSLFULL_SHIM_H
#define OPENSSLOBJECTS_COPENSSLFULL_SHIM_H

#include <openssl/opensslv.h>

#if !defined(OPENSSL_VERSION_MAJOR) || OPENSSL_VERSION_MAJOR < 3
#error "OpenSSLObjects needs OpenSSL 3.0 or newer: these headers are older (install libssl-dev from Debian 12 or later)"
#endif

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/ui.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

/* MARK: - Version */

/* OPENSSL_VERSION_NUMBER of the headers this module was compiled against. */
static inline unsigned long oo_OPENSSL_VERSION_NUMBER(void) { return OPENSSL_VERSION_NUMBER; }

/* MARK: - Memory (crypto.h macros) */

/* OPENSSL_malloc(num) */
static inline void *oo_OPENSSL_malloc(size_t num) { return OPENSSL_malloc(num); }
/* OPENSSL_zalloc(num) */
static inline void *oo_OPENSSL_zalloc(size_t num) { return OPENSSL_zalloc(num); }
/* OPENSSL_free(addr) */
static inline void oo_OPENSSL_free(void *addr) { OPENSSL_free(addr); }
/* OPENSSL_clear_free(addr, num) */
static inline void oo_OPENSSL_clear_free(void *addr, size_t num) { OPENSSL_clear_free(addr, num); }
/* OPENSSL_memdup(str, s) */
static inline void *oo_OPENSSL_memdup(const void *str, size_t s) { return OPENSSL_memdup(str, s); }
/* OPENSSL_secure_malloc(num) */
static inline void *oo_OPENSSL_secure_malloc(size_t num) { return OPENSSL_secure_malloc(num); }
/* OPENSSL_secure_clear_free(addr, num) */
static inline void oo_OPENSSL_secure_clear_free(void *addr, size_t num) { OPENSSL_secure_clear_free(addr, num); }

/* MARK: - Errors (err.h) */

/* ERR_GET_LIB(e) */
static inline int oo_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
/* ERR_GET_REASON(e) */
static inline int oo_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }
/* ERR_SYSTEM_ERROR(e) */
static inline int oo_ERR_SYSTEM_ERROR(unsigned long e) { return ERR_SYSTEM_ERROR(e); }
/* ERR_raise_data(lib, reason, "%s", text): re-raises a saved error with its text (ERR_raise_data is variadic). */
static inline void oo_ERR_raise_saved(const char *file, int line, const char *func, int lib, int reason, const char *text)
{
    ERR_new();
    ERR_set_debug(file, line, func);
    if (text != NULL)
        ERR_set_error(lib, reason, "%s", text);
    else
        ERR_set_error(lib, reason, NULL);
}

/* MARK: - BIO (bio.h macros) */

/* BIO_get_mem_data(b, pp) */
static inline long oo_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
/* BIO_set_close(b, c) */
static inline int oo_BIO_set_close(BIO *b, long c) { return (int)BIO_set_close(b, c); }
/* BIO_should_retry(b) */
static inline int oo_BIO_should_retry(BIO *b) { return BIO_should_retry(b); }
/* BIO_set_mem_eof_return(b, v) */
static inline long oo_BIO_set_mem_eof_return(BIO *b, int v) { return BIO_set_mem_eof_return(b, v); }

/* MARK: - Key generation (variadic EVP_PKEY_Q_keygen behind macros) */

/* EVP_RSA_gen(bits) in a library context: EVP_PKEY_Q_keygen(libctx, propq, "RSA", (size_t)bits) */
static inline EVP_PKEY *oo_EVP_RSA_gen(OSSL_LIB_CTX *libctx, const char *propq, size_t bits) { return EVP_PKEY_Q_keygen(libctx, propq, "RSA", bits); }
/* EVP_EC_gen(curve) in a library context: EVP_PKEY_Q_keygen(libctx, propq, "EC", curve) */
static inline EVP_PKEY *oo_EVP_EC_gen(OSSL_LIB_CTX *libctx, const char *propq, const char *curve) { return EVP_PKEY_Q_keygen(libctx, propq, "EC", curve); }
/* EVP_PKEY_Q_keygen(libctx, propq, type) for key types without parameters (ED25519, ED448, X25519, X448, ML-DSA-65, ...) */
static inline EVP_PKEY *oo_EVP_PKEY_Q_keygen_simple(OSSL_LIB_CTX *libctx, const char *propq, const char *type) { return EVP_PKEY_Q_keygen(libctx, propq, type); }

/* EVP_PKEY_KEYPAIR and EVP_PKEY_PUBLIC_KEY: selections built from OSSL_KEYMGMT_SELECT_* macros */
static inline int oo_EVP_PKEY_KEYPAIR(void) { return EVP_PKEY_KEYPAIR; }
static inline int oo_EVP_PKEY_PUBLIC_KEY(void) { return EVP_PKEY_PUBLIC_KEY; }

/* MARK: - ex_data index macros */

/* X509_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_X509_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return X509_get_ex_new_index(l, p, newf, dupf, freef); }
/* EVP_PKEY_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_EVP_PKEY_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return EVP_PKEY_get_ex_new_index(l, p, newf, dupf, freef); }
/* X509_STORE_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_X509_STORE_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return X509_STORE_get_ex_new_index(l, p, newf, dupf, freef); }
/* X509_STORE_CTX_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_X509_STORE_CTX_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return X509_STORE_CTX_get_ex_new_index(l, p, newf, dupf, freef); }
/* SSL_CTX_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_SSL_CTX_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return SSL_CTX_get_ex_new_index(l, p, newf, dupf, freef); }
/* SSL_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_SSL_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return SSL_get_ex_new_index(l, p, newf, dupf, freef); }
/* SSL_SESSION_get_ex_new_index(l, p, newf, dupf, freef) */
static inline int oo_SSL_SESSION_get_ex_new_index(long l, void *p, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef)
{ return SSL_SESSION_get_ex_new_index(l, p, newf, dupf, freef); }

/* MARK: - Stacks (the sk_TYPE_* macros of DEFINE_STACK_OF) */

/*
 * For each stack type: oo_sk_T_num, _value, _new_null, _push, _free, _pop_free (with T_free).
 * sk_T_push hands the element's reference to the stack; sk_T_value lends it (get0).
 */
#define OO_STACK_SHIMS(T, FREEFN)                                                                  \
    static inline int oo_sk_##T##_num(const STACK_OF(T) *sk) { return sk_##T##_num(sk); }        \
    static inline T *oo_sk_##T##_value(const STACK_OF(T) *sk, int i) { return sk_##T##_value(sk, i); } \
    static inline STACK_OF(T) *oo_sk_##T##_new_null(void) { return sk_##T##_new_null(); }        \
    static inline int oo_sk_##T##_push(STACK_OF(T) *sk, T *v) { return sk_##T##_push(sk, v); }  \
    static inline void oo_sk_##T##_free(STACK_OF(T) *sk) { sk_##T##_free(sk); }                  \
    static inline void oo_sk_##T##_pop_free(STACK_OF(T) *sk) { sk_##T##_pop_free(sk, FREEFN); }

OO_STACK_SHIMS(X509, X509_free)
OO_STACK_SHIMS(X509_CRL, X509_CRL_free)
OO_STACK_SHIMS(X509_REVOKED, X509_REVOKED_free)
OO_STACK_SHIMS(X509_EXTENSION, X509_EXTENSION_free)
OO_STACK_SHIMS(X509_NAME, X509_NAME_free)
OO_STACK_SHIMS(X509_OBJECT, X509_OBJECT_free)
OO_STACK_SHIMS(X509_INFO, X509_INFO_free)
OO_STACK_SHIMS(GENERAL_NAME, GENERAL_NAME_free)
OO_STACK_SHIMS(GENERAL_SUBTREE, GENERAL_SUBTREE_free)
OO_STACK_SHIMS(ACCESS_DESCRIPTION, ACCESS_DESCRIPTION_free)
OO_STACK_SHIMS(DIST_POINT, DIST_POINT_free)
OO_STACK_SHIMS(ASN1_OBJECT, ASN1_OBJECT_free)
OO_STACK_SHIMS(ASN1_INTEGER, ASN1_INTEGER_free)
OO_STACK_SHIMS(OCSP_CERTID, OCSP_CERTID_free)
OO_STACK_SHIMS(OCSP_ONEREQ, OCSP_ONEREQ_free)
OO_STACK_SHIMS(OCSP_SINGLERESP, OCSP_SINGLERESP_free)

/* sk_X509_dup(sk): a new stack holding the same (not retained) certificates */
static inline STACK_OF(X509) *oo_sk_X509_dup(const STACK_OF(X509) *sk) { return sk_X509_dup(sk); }
/* X509_chain_up_ref(chain) is a function; this names the sk_SSL_CIPHER accessors used for cipher lists. */
static inline int oo_sk_SSL_CIPHER_num(const STACK_OF(SSL_CIPHER) *sk) { return sk_SSL_CIPHER_num(sk); }
static inline const SSL_CIPHER *oo_sk_SSL_CIPHER_value(const STACK_OF(SSL_CIPHER) *sk, int i) { return sk_SSL_CIPHER_value(sk, i); }
/* sk_OPENSSL_STRING_num / _value, for X509_get1_ocsp and friends */
static inline int oo_sk_OPENSSL_STRING_num(const STACK_OF(OPENSSL_STRING) *sk) { return sk_OPENSSL_STRING_num(sk); }
static inline const char *oo_sk_OPENSSL_STRING_value(const STACK_OF(OPENSSL_STRING) *sk, int i) { return sk_OPENSSL_STRING_value(sk, i); }
/* sk_X509_OBJECT accessors for X509_STORE_get0_objects */
static inline int oo_X509_OBJECT_is_certificate(const X509_OBJECT *obj) { return X509_OBJECT_get_type(obj) == X509_LU_X509; }

/* MARK: - X509 lookups (x509_vfy.h macros) */

/* X509_LOOKUP_load_file(x, name, type) */
static inline int oo_X509_LOOKUP_load_file(X509_LOOKUP *x, const char *name, long type) { return X509_LOOKUP_load_file(x, name, type); }
/* X509_LOOKUP_add_dir(x, name, type) */
static inline int oo_X509_LOOKUP_add_dir(X509_LOOKUP *x, const char *name, long type) { return X509_LOOKUP_add_dir(x, name, type); }

/* MARK: - SSL_CTX and SSL control macros (ssl.h, tls1.h) */

/* SSL_CTX_set_min_proto_version(ctx, version) */
static inline int oo_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
/* SSL_CTX_set_max_proto_version(ctx, version) */
static inline int oo_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
/* SSL_CTX_get_min_proto_version(ctx) */
static inline int oo_SSL_CTX_get_min_proto_version(SSL_CTX *ctx) { return (int)SSL_CTX_get_min_proto_version(ctx); }
/* SSL_CTX_get_max_proto_version(ctx) */
static inline int oo_SSL_CTX_get_max_proto_version(SSL_CTX *ctx) { return (int)SSL_CTX_get_max_proto_version(ctx); }
/* SSL_CTX_set_tlsext_status_cb(ctx, cb) */
static inline long oo_SSL_CTX_set_tlsext_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *)) { return SSL_CTX_set_tlsext_status_cb(ctx, cb); }
/* SSL_CTX_set_tlsext_status_arg(ctx, arg) */
static inline long oo_SSL_CTX_set_tlsext_status_arg(SSL_CTX *ctx, void *arg) { return SSL_CTX_set_tlsext_status_arg(ctx, arg); }
/* SSL_CTX_set_tlsext_status_type(ctx, type) */
static inline long oo_SSL_CTX_set_tlsext_status_type(SSL_CTX *ctx, int type) { return SSL_CTX_set_tlsext_status_type(ctx, type); }
/* SSL_set_tlsext_status_type(s, type) */
static inline long oo_SSL_set_tlsext_status_type(SSL *s, int type) { return SSL_set_tlsext_status_type(s, type); }
/* SSL_get_tlsext_status_ocsp_resp(s, resp) */
static inline long oo_SSL_get_tlsext_status_ocsp_resp(SSL *s, const unsigned char **resp) { return SSL_get_tlsext_status_ocsp_resp(s, resp); }
/* SSL_set_tlsext_status_ocsp_resp(s, resp, len): hands an OPENSSL_malloc'ed buffer to OpenSSL */
static inline long oo_SSL_set_tlsext_status_ocsp_resp(SSL *s, unsigned char *resp, long len) { return SSL_set_tlsext_status_ocsp_resp(s, resp, len); }
/* SSL_set_tlsext_host_name(s, name) */
static inline long oo_SSL_set_tlsext_host_name(SSL *s, const char *name) { return SSL_set_tlsext_host_name(s, name); }
/* SSL_CTX_set_tlsext_servername_callback(ctx, cb) */
static inline long oo_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) { return SSL_CTX_set_tlsext_servername_callback(ctx, cb); }
/* SSL_CTX_set_session_cache_mode(ctx, m) */
static inline long oo_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long m) { return SSL_CTX_set_session_cache_mode(ctx, m); }
/* SSL_CTX_sess_set_cache_size(ctx, t) */
static inline long oo_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long t) { return SSL_CTX_sess_set_cache_size(ctx, t); }
/* SSL_CTX_set_mode(ctx, op) */
static inline long oo_SSL_CTX_set_mode(SSL_CTX *ctx, long op) { return SSL_CTX_set_mode(ctx, op); }
/* SSL_CTX_set1_groups_list(ctx, s) */
static inline int oo_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *s) { return (int)SSL_CTX_set1_groups_list(ctx, s); }
/* SSL_CTX_set1_sigalgs_list(ctx, s) */
static inline int oo_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *s) { return (int)SSL_CTX_set1_sigalgs_list(ctx, s); }
/* SSL_CTX_add1_chain_cert(ctx, x509): the context takes its own reference */
static inline int oo_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return (int)SSL_CTX_add1_chain_cert(ctx, x); }
/* SSL_add1_chain_cert(ssl, x509) */
static inline int oo_SSL_add1_chain_cert(SSL *ssl, X509 *x) { return (int)SSL_add1_chain_cert(ssl, x); }
/* SSL_CTX_clear_chain_certs(ctx) */
static inline int oo_SSL_CTX_clear_chain_certs(SSL_CTX *ctx) { return (int)SSL_CTX_clear_chain_certs(ctx); }
/* SSL_get_negotiated_group(s): SSL_get_shared_group(s, -1) in 3.0 */
static inline int oo_SSL_get_negotiated_group(SSL *s) { return (int)SSL_ctrl(s, SSL_CTRL_GET_NEGOTIATED_GROUP, 0, NULL); }
/* SSL_get_peer_tmp_key(s, pk) */
static inline long oo_SSL_get_peer_tmp_key(SSL *s, EVP_PKEY **pk) { return SSL_get_peer_tmp_key(s, pk); }
/* SSL_get_tmp_key(s, pk) */
static inline long oo_SSL_get_tmp_key(SSL *s, EVP_PKEY **pk) { return SSL_get_tmp_key(s, pk); }
/* SSL_session_reused(s) is a function in 3.0; SSL_get0_chain_certs(s, px509) is a macro */
static inline int oo_SSL_CTX_get0_chain_certs(SSL_CTX *ctx, STACK_OF(X509) **sk) { return (int)SSL_CTX_get0_chain_certs(ctx, sk); }
/* SSL_CTX_set_tlsext_ticket_key_cb is deprecated; ticket keys are left to OpenSSL. SSL_num_renegotiations(ssl) */
static inline long oo_SSL_num_renegotiations(SSL *s) { return SSL_num_renegotiations(s); }

/* SSL_set_retry_verify(ssl) */
static inline int oo_SSL_set_retry_verify(SSL *s) { return SSL_set_retry_verify(s); }
/* SSL_want_retry_verify(s) */
static inline int oo_SSL_want_retry_verify(const SSL *s) { return SSL_want_retry_verify(s); }
/* SSL_set1_host is a function; SSL_get_max_proto_version(s) / SSL_get_min_proto_version(s) are macros */
static inline int oo_SSL_get_min_proto_version(SSL *s) { return (int)SSL_get_min_proto_version(s); }
/* SSL_CTX_get_options is a function in 3.0; SSL_CTX_get_session_cache_mode(ctx) is a macro */
static inline long oo_SSL_CTX_get_session_cache_mode(SSL_CTX *ctx) { return SSL_CTX_get_session_cache_mode(ctx); }
/* SSL_CTX_sess_number(ctx) */
static inline long oo_SSL_CTX_sess_number(SSL_CTX *ctx) { return SSL_CTX_sess_number(ctx); }
/* BIO_set_nbio(b, n) */
static inline long oo_BIO_set_nbio(BIO *b, long n) { return BIO_set_nbio(b, n); }

/* SSL_OP_* are built with SSL_OP_BIT(n), a macro Swift cannot evaluate. */
static inline uint64_t oo_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t oo_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t oo_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t oo_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t oo_SSL_OP_NO_SSLv3(void) { return SSL_OP_NO_SSLv3; }
static inline uint64_t oo_SSL_OP_NO_TLSv1(void) { return SSL_OP_NO_TLSv1; }
static inline uint64_t oo_SSL_OP_NO_TLSv1_1(void) { return SSL_OP_NO_TLSv1_1; }
static inline uint64_t oo_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return SSL_OP_IGNORE_UNEXPECTED_EOF; }
static inline uint64_t oo_SSL_OP_ALLOW_CLIENT_RENEGOTIATION(void) { return SSL_OP_ALLOW_CLIENT_RENEGOTIATION; }
static inline uint64_t oo_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION(void) { return SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION; }
static inline uint64_t oo_SSL_OP_LEGACY_SERVER_CONNECT(void) { return SSL_OP_LEGACY_SERVER_CONNECT; }
static inline uint64_t oo_SSL_OP_NO_EXTENDED_MASTER_SECRET(void) { return SSL_OP_NO_EXTENDED_MASTER_SECRET; }
static inline uint64_t oo_SSL_OP_NO_ENCRYPT_THEN_MAC(void) { return SSL_OP_NO_ENCRYPT_THEN_MAC; }
static inline uint64_t oo_SSL_OP_ALLOW_NO_DHE_KEX(void) { return SSL_OP_ALLOW_NO_DHE_KEX; }
static inline uint64_t oo_SSL_OP_NO_ANTI_REPLAY(void) { return SSL_OP_NO_ANTI_REPLAY; }
static inline uint64_t oo_SSL_OP_ENABLE_MIDDLEBOX_COMPAT(void) { return SSL_OP_ENABLE_MIDDLEBOX_COMPAT; }
static inline uint64_t oo_SSL_OP_NO_QUERY_MTU(void) { return SSL_OP_NO_QUERY_MTU; }

/* MARK: - Name printing flags (compound macros) */

static inline unsigned long oo_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }
static inline unsigned long oo_XN_FLAG_ONELINE(void) { return XN_FLAG_ONELINE; }
/* ASN1_STRFLGS_ESC_MSB: escape bytes above 0x7F (dropped to print names as UTF-8) */
static inline unsigned long oo_ASN1_STRFLGS_ESC_MSB(void) { return ASN1_STRFLGS_ESC_MSB; }
static inline unsigned long oo_ASN1_STRFLGS_RFC2253(void) { return ASN1_STRFLGS_RFC2253; }

/* MARK: - Legacy RSA and EC_KEY objects (PKCS#11 keys)
 *
 * libp11 0.4.12 hands out token keys as EVP_PKEYs around RSA and EC_KEY objects that carry its own
 * RSA_METHOD / EC_KEY_METHOD. To give each Swift key an EVP_PKEY of its own (with its own ex_data)
 * that shares libp11's RSA or EC_KEY object, PKCS11Keys needs these accessors, deprecated in 3.0.
 * The deprecation warnings are silenced here, for these shims only.
 */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
/* EVP_PKEY_get1_RSA(pkey): a new reference to the RSA object inside pkey */
static inline RSA *oo_EVP_PKEY_get1_RSA(EVP_PKEY *pkey) { return EVP_PKEY_get1_RSA(pkey); }
/* EVP_PKEY_assign_RSA(pkey, rsa) (a macro over EVP_PKEY_assign): pkey takes over the reference to rsa */
static inline int oo_EVP_PKEY_assign_RSA(EVP_PKEY *pkey, RSA *rsa) { return EVP_PKEY_assign_RSA(pkey, rsa); }
/* RSA_free(rsa) */
static inline void oo_RSA_free(RSA *rsa) { RSA_free(rsa); }
/* EVP_PKEY_get1_EC_KEY(pkey): a new reference to the EC_KEY object inside pkey */
static inline EC_KEY *oo_EVP_PKEY_get1_EC_KEY(EVP_PKEY *pkey) { return EVP_PKEY_get1_EC_KEY(pkey); }
/* EVP_PKEY_assign_EC_KEY(pkey, key) (a macro over EVP_PKEY_assign): pkey takes over the reference to key */
static inline int oo_EVP_PKEY_assign_EC_KEY(EVP_PKEY *pkey, EC_KEY *key) { return EVP_PKEY_assign_EC_KEY(pkey, key); }
/* EC_KEY_free(key) */
static inline void oo_EC_KEY_free(EC_KEY *key) { EC_KEY_free(key); }
#pragma clang diagnostic pop

/* MARK: - The ASN1_STRING family through untyped pointers
 *
 * ASN1_INTEGER, ASN1_TIME, ASN1_OCTET_STRING, ASN1_IA5STRING, ASN1_ENUMERATED and ASN1_BIT_STRING
 * are all ASN1_STRING. OpenSSL 4.0 made that type opaque: Swift imports it as OpaquePointer there
 * and as a typed pointer before. These take and return void * so that one Swift spelling builds
 * against both (Sources/OpenSSLObjects/Core/ASN1.swift, ASN1StringReference).
 */
/* ASN1_STRING_length(s) */
static inline int oo_ASN1_STRING_length(const void *s) { return ASN1_STRING_length((const ASN1_STRING *)s); }
/* ASN1_STRING_get0_data(s) */
static inline const unsigned char *oo_ASN1_STRING_get0_data(const void *s) { return ASN1_STRING_get0_data((const ASN1_STRING *)s); }
/* ASN1_STRING_type(s) */
static inline int oo_ASN1_STRING_type(const void *s) { return ASN1_STRING_type((const ASN1_STRING *)s); }
/* ASN1_STRING_to_UTF8(out, s) */
static inline int oo_ASN1_STRING_to_UTF8(unsigned char **out, const void *s) { return ASN1_STRING_to_UTF8(out, (const ASN1_STRING *)s); }
/* ASN1_STRING_set(s, data, length) */
static inline int oo_ASN1_STRING_set(void *s, const void *data, int length) { return ASN1_STRING_set((ASN1_STRING *)s, data, length); }
/* ASN1_STRING_free(s): the free function of every type of the family */
static inline void oo_ASN1_STRING_free(void *s) { ASN1_STRING_free((ASN1_STRING *)s); }
/* ASN1_OCTET_STRING_new() */
static inline void *oo_ASN1_OCTET_STRING_new(void) { return ASN1_OCTET_STRING_new(); }
/* ASN1_IA5STRING_new() */
static inline void *oo_ASN1_IA5STRING_new(void) { return ASN1_IA5STRING_new(); }
/* ASN1_INTEGER_new() */
static inline void *oo_ASN1_INTEGER_new(void) { return ASN1_INTEGER_new(); }
/* ASN1_INTEGER_get(a) */
static inline long oo_ASN1_INTEGER_get(const void *a) { return ASN1_INTEGER_get((const ASN1_INTEGER *)a); }
/* ASN1_INTEGER_set(a, v) */
static inline int oo_ASN1_INTEGER_set(void *a, long v) { return ASN1_INTEGER_set((ASN1_INTEGER *)a, v); }
/* BN_to_ASN1_INTEGER(bn, NULL) */
static inline void *oo_BN_to_ASN1_INTEGER(const BIGNUM *bn) { return BN_to_ASN1_INTEGER(bn, NULL); }
/* ASN1_ENUMERATED_new() */
static inline void *oo_ASN1_ENUMERATED_new(void) { return ASN1_ENUMERATED_new(); }
/* ASN1_ENUMERATED_get(a) */
static inline long oo_ASN1_ENUMERATED_get(const void *a) { return ASN1_ENUMERATED_get((const ASN1_ENUMERATED *)a); }
/* ASN1_ENUMERATED_set(a, v) */
static inline int oo_ASN1_ENUMERATED_set(void *a, long v) { return ASN1_ENUMERATED_set((ASN1_ENUMERATED *)a, v); }
/* ASN1_BIT_STRING_new() */
static inline void *oo_ASN1_BIT_STRING_new(void) { return ASN1_BIT_STRING_new(); }
/* ASN1_BIT_STRING_get_bit(a, n) */
static inline int oo_ASN1_BIT_STRING_get_bit(const void *a, int n) { return ASN1_BIT_STRING_get_bit((const ASN1_BIT_STRING *)a, n); }
/* ASN1_BIT_STRING_set_bit(a, n, value) */
static inline int oo_ASN1_BIT_STRING_set_bit(void *a, int n, int value) { return ASN1_BIT_STRING_set_bit((ASN1_BIT_STRING *)a, n, value); }
/* ASN1_TIME_to_tm(s, tm) */
static inline int oo_ASN1_TIME_to_tm(const void *s, struct tm *tm) { return ASN1_TIME_to_tm((const ASN1_TIME *)s, tm); }
/* ASN1_TIME_set(NULL, t) */
static inline void *oo_ASN1_TIME_set(time_t t) { return ASN1_TIME_set(NULL, t); }
/* OCSP_id_get0_info(nameHash, algorithm, keyHash, serial, id), the ASN1_STRING out-parameters untyped */
static inline int oo_OCSP_id_get0_info(void **nameHash, ASN1_OBJECT **algorithm, void **keyHash, void **serial, OCSP_CERTID *id)
{ return OCSP_id_get0_info((ASN1_OCTET_STRING **)nameHash, algorithm, (ASN1_OCTET_STRING **)keyHash, (ASN1_INTEGER **)serial, id); }
/* OCSP_resp_get0_id(basic, keyHash, name), the key hash untyped */
static inline int oo_OCSP_resp_get0_id(const OCSP_BASICRESP *basic, const void **keyHash, const X509_NAME **name)
{ return OCSP_resp_get0_id(basic, (const ASN1_OCTET_STRING **)keyHash, name); }
/* OCSP_single_get0_status(single, reason, revoked, thisUpdate, nextUpdate), the times untyped */
static inline int oo_OCSP_single_get0_status(OCSP_SINGLERESP *single, int *reason, void **revoked, void **thisUpdate, void **nextUpdate)
{ return OCSP_single_get0_status(single, reason, (ASN1_GENERALIZEDTIME **)revoked, (ASN1_GENERALIZEDTIME **)thisUpdate, (ASN1_GENERALIZEDTIME **)nextUpdate); }

/* MARK: - Calls OpenSSL 4.0 deprecates */

/* SSL_set1_dnsname(s, name) from OpenSSL 4.0 on, SSL_set1_host(s, name) (deprecated there) before:
 * the DNS name the peer's certificate must match (IP addresses go through
 * X509_VERIFY_PARAM_set1_ip_asc). */
static inline int oo_SSL_set1_host(SSL *s, const char *name)
{
#if OPENSSL_VERSION_MAJOR >= 4
    return SSL_set1_dnsname(s, name);
#else
    return SSL_set1_host(s, name);
#endif
}

/* X509_STORE_get0_objects(st), deprecated in OpenSSL 4.0 for X509_STORE_get1_objects, which copies
 * the whole stack (every object up-referenced) and exists only from 3.3 on. Our callers hold
 * X509_STORE_lock for as long as they read the borrowed stack, which is what makes get0 safe; the
 * deprecation warning is silenced for this shim only. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
static inline STACK_OF(X509_OBJECT) *oo_X509_STORE_get0_objects(X509_STORE *st) { return X509_STORE_get0_objects(st); }
#pragma clang diagnostic pop

/* MARK: - Time */

/* SSL_SESSION_get_time_ex(s) where it exists (3.3 and later: a time_t, free of the year-2038 limit);
 * SSL_SESSION_get_time(s), deprecated from 3.3 on, before it. */
static inline long long oo_SSL_SESSION_get_time(const SSL_SESSION *s)
{
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
    return (long long)SSL_SESSION_get_time_ex(s);
#else
    return (long long)SSL_SESSION_get_time(s);
#endif
}

/* timegm(3) for a struct tm in UTC (a GNU extension the Glibc module does not always expose) */
static inline long long oo_timegm(struct tm *tm) { return (long long)timegm(tm); }

/* MARK: - Revocation fetching */

/* BIO_get_fd(b, c): the socket under a socket or connect BIO, -1 for others */
static inline int oo_BIO_get_fd(BIO *b) { int fd = -1; return BIO_get_fd(b, &fd) < 0 ? -1 : fd; }

/*
 * The first line a BIO reads, recorded by a BIO callback: the HTTP status line of a revocation
 * server's answer. OSSL_HTTP_transfer has no getter for the status, and OpenSSL 3.0 and later
 * versions disagree on what an error status is (3.0 fails with HTTP_R_RECEIVED_ERROR; later ones
 * return a 4xx or 5xx answer's body as if it were the content asked for). The only logic in this
 * file besides the macros: C because a BIO callback runs inside OpenSSL's reads.
 */
typedef struct oo_http_status_line {
    char text[128]; /* the line without its line break, NUL-terminated */
    size_t length;
    int complete;   /* 1 once a line break (or the end of the buffer) was reached */
} oo_http_status_line;

static inline long oo_http_status_line_callback(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
                                         int ret, size_t *processed)
{
    (void)len; (void)argi; (void)argl;
    if ((oper == (BIO_CB_READ | BIO_CB_RETURN) || oper == (BIO_CB_GETS | BIO_CB_RETURN)) && ret > 0
        && argp != NULL && processed != NULL) {
        oo_http_status_line *line = (oo_http_status_line *)BIO_get_callback_arg(b);
        for (size_t i = 0; line != NULL && !line->complete && i < *processed; i++) {
            if (argp[i] == '\n' || line->length == sizeof(line->text) - 1)
                line->complete = 1;
            else if (argp[i] != '\r')
                line->text[line->length++] = argp[i];
        }
        if (line != NULL)
            line->text[line->length] = '\0';
    }
    return ret;
}

/* BIO_set_callback_arg + BIO_set_callback_ex: `b`'s reads record their first line into `line`
 * (NULL stops recording). */
static inline void oo_BIO_record_first_line(BIO *b, oo_http_status_line *line)
{
    BIO_set_callback_ex(b, line == NULL ? NULL : oo_http_status_line_callback);
    BIO_set_callback_arg(b, (char *)line);
}

/* An OSSL_HTTP_bio_cb_t for OSSL_HTTP_transfer when OpenSSL makes the connection (through a
 * proxy): on connect, the connection's reads record their first line into `arg`
 * (an oo_http_status_line); the BIO itself is returned unchanged. */
static inline BIO *oo_http_record_status_on_connect(BIO *bio, void *arg, int connect, int detail)
{
    (void)detail;
    if (bio != NULL)
        oo_BIO_record_first_line(bio, connect ? (oo_http_status_line *)arg : NULL);
    return bio;
}

#endif /* OPENSSLOBJECTS_COPENSSLFULL_SHIM_H */
