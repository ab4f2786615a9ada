/*
 * openssl_objects.h: the C ABI of OpenSSLObjects (libopenssl_objects.so).
 *
 * C code takes and gives OpenSSL objects that Swift code built, and the other way round, through
 * capsules: typed handles with lifetime rules instead of bare `void *`. And an API table gives C
 * code the library's own higher-level functions (keys from memory or PKCS#11 URIs, SPKI pins,
 * readable verification errors, pins and verify policies on an SSL_CTX).
 *
 * Install: scripts/install-c.sh --prefix DIR   (the library, this header, openssl-objects.pc)
 * Build:   cc prog.c $(pkg-config --cflags --libs openssl-objects)   (PKG_CONFIG_PATH=DIR/lib/pkgconfig)
 * or, against a development build:
 *          cc prog.c -I$(repo)/include -L$(repo)/.build/debug -lopenssl_objects -lssl -lcrypto \
 *             -Wl,-rpath,$(repo)/.build/debug
 *
 * The library pins itself when it is loaded (RTLD_NODELETE, as -z nodelete would): OpenSSL keeps
 * pointers to its callbacks in the objects it hands out, so it is never unloaded while a process
 * runs, even after dlclose.
 *
 * ## Capsules
 * A capsule is a handle into the library's table (an index and a generation, scrambled with a
 * per-process key), not a pointer to memory: a released or forged capsule is detected without
 * touching freed memory. A lent capsule (an X509_STORE_CTX during a verify callback) is valid
 * only until the callback returns: it cannot be retained or give out a reference, and when the
 * loan ends its handle goes stale whatever the borrower kept. Each capsule holds one reference to its object (or the object itself,
 * for types OpenSSL 3.0 does not reference-count), and has its own count: oo_capsule_retain and
 * oo_capsule_release. The object goes when the last capsule reference and every other holder
 * (Swift, C) let go.
 *
 * Each capsule remembers the identity of the libcrypto it was made with (its version and the
 * address of one of its functions); a capsule made or used with another copy of OpenSSL in the
 * same process is refused (OO_ERR_FOREIGN_LIBCRYPTO). The static inline wrappers below pass the
 * caller's identity automatically.
 *
 * ## Errors
 * Functions return an oo_status (OO_OK is 0) or NULL; oo_last_status() and oo_last_error() tell
 * the calling thread's last failure, in words. Nothing here aborts the process on bad input: a
 * length or count beyond the library's limits (SIZE_MAX included) is OO_ERR_INPUT before any
 * byte is read; a NULL pointer stands for "none" only with a length or count of 0 (NULL with
 * another is OO_ERR_INVALID_ARGUMENT, never read as empty; a NULL output buffer with a size of 0
 * asks for the size needed, OO_ERR_BUFFER_TOO_SMALL); an X509_STORE_CTX that was never
 * initialised is explained as such.
 *
 * ## Threads
 * Every function may be called from any thread. A capsule may be shared between threads; the
 * objects themselves follow OpenSSL's rules (an SSL belongs to one thread at a time).
 */
#ifndef OPENSSLOBJECTS_ABI_H
#define OPENSSLOBJECTS_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MARK: - Versions */

/* The ABI version of this header: a library with the same major and an equal or newer minor is compatible. */
#define OO_ABI_VERSION_MAJOR 1
#define OO_ABI_VERSION_MINOR 1

/* The library's ABI version: (major << 16) | minor. */
uint32_t oo_abi_version(void);

/* Statuses. New values may be added; treat unknown ones as errors. */
typedef enum oo_status {
    OO_OK = 0,
    OO_ERR_INVALID_ARGUMENT = 1, /* a NULL where an object was needed, an unknown type or ownership */
    OO_ERR_WRONG_TYPE = 2,       /* the capsule holds another type than the one asked for */
    OO_ERR_RELEASED = 3,         /* the capsule was released (its handle is stale) */
    OO_ERR_FORGED = 4,           /* the handle was never issued by this library */
    OO_ERR_FOREIGN_LIBCRYPTO = 5,/* made or used with another copy of OpenSSL */
    OO_ERR_ABI_MISMATCH = 6,     /* the caller needs an ABI or API table this library does not have */
    OO_ERR_OPENSSL = 7,          /* an OpenSSL call failed (oo_last_error says which and why) */
    OO_ERR_INPUT = 8,            /* bad input: bytes, a URI, a PIN (oo_last_error says what and where) */
    OO_ERR_UNSUPPORTED = 9,      /* the operation does not exist for this type (retain an OCSP response) */
    OO_ERR_BUFFER_TOO_SMALL = 10,/* the output buffer is too small; *length says how much is needed */
    OO_ERR_VERIFICATION = 11,    /* a verification failed */
    OO_ERR_PKCS11 = 12           /* a PKCS#11 module, token or object failed (with the CKR_ name) */
} oo_status;

/* Checks that the library offers ABI `major`.`minor` (the values this header was built with). */
oo_status oo_abi_check(uint32_t major, uint32_t minor);

/* The calling thread's last status, and the text of its last failure ("" after success). */
oo_status oo_last_status(void);
const char *oo_last_error(void);

/* MARK: - Capsules */

typedef struct oo_capsule {
    uint64_t handle; /* 0 is never a capsule */
} oo_capsule;

typedef enum oo_type {
    OO_TYPE_X509 = 1,
    OO_TYPE_EVP_PKEY = 2,        /* a private key (the holder states it: see OO_TYPE_EVP_PKEY_PUBLIC) */
    OO_TYPE_X509_STORE = 3,
    OO_TYPE_X509_CRL = 4,
    OO_TYPE_SSL_CTX = 5,
    OO_TYPE_SSL = 6,
    OO_TYPE_SSL_SESSION = 7,
    OO_TYPE_OCSP_RESPONSE = 8,   /* not reference-counted in OpenSSL 3.0: adopted or copied */
    OO_TYPE_OCSP_BASICRESP = 9,  /* not reference-counted in OpenSSL 3.0: adopted or copied */
    OO_TYPE_X509_STORE_CTX = 10, /* lent only, valid during a callback */
    OO_TYPE_EVP_PKEY_PUBLIC = 11 /* a key used for its public half only (ABI 1.1): never a private key */
} oo_type;

typedef enum oo_ownership {
    OO_ADOPT = 1,  /* the capsule takes over the caller's reference (the caller must not free it) */
    OO_RETAIN = 2, /* the capsule takes its own reference (*_up_ref); reference-counted types only */
    OO_COPY = 3,   /* the capsule holds a copy (*_dup); OCSP_RESPONSE and OCSP_BASICRESP only */
    OO_LEND = 4    /* X509_STORE_CTX only: valid until the lender releases the capsule; not retainable */
} oo_ownership;

/* The identity of a libcrypto: its version and the address of one of its functions. */
typedef struct oo_libcrypto_identity {
    unsigned long version;
    const void *function;
} oo_libcrypto_identity;

/* The caller's own libcrypto identity. */
static inline oo_libcrypto_identity oo_caller_identity(void)
{
    oo_libcrypto_identity identity;
    identity.version = OpenSSL_version_num();
    identity.function = (const void *)&OpenSSL_version_num;
    return identity;
}

/* Makes a capsule around `object` of `type` with `ownership`, checking the caller's libcrypto. */
oo_status oo_capsule_make_with_identity(oo_type type, void *object, oo_ownership ownership,
                                        const oo_libcrypto_identity *identity, oo_capsule *out);

/* Returns the object, borrowed: valid while the capsule lives. NULL and OO_ERR_WRONG_TYPE,
 * OO_ERR_RELEASED, OO_ERR_FORGED or OO_ERR_FOREIGN_LIBCRYPTO (oo_last_status) on a mismatch. */
void *oo_capsule_get_with_identity(oo_capsule capsule, oo_type expected, const oo_libcrypto_identity *identity);

/* Returns a new reference (reference-counted types, *_up_ref) or a copy (OCSP types, *_dup) that
 * the caller frees with the type's *_free. NULL on a mismatch, as oo_capsule_get. */
void *oo_capsule_get1_with_identity(oo_capsule capsule, oo_type expected, const oo_libcrypto_identity *identity);

static inline oo_status oo_capsule_make(oo_type type, void *object, oo_ownership ownership, oo_capsule *out)
{
    oo_libcrypto_identity identity = oo_caller_identity();
    return oo_capsule_make_with_identity(type, object, ownership, &identity, out);
}

static inline void *oo_capsule_get(oo_capsule capsule, oo_type expected)
{
    oo_libcrypto_identity identity = oo_caller_identity();
    return oo_capsule_get_with_identity(capsule, expected, &identity);
}

static inline void *oo_capsule_get1(oo_capsule capsule, oo_type expected)
{
    oo_libcrypto_identity identity = oo_caller_identity();
    return oo_capsule_get1_with_identity(capsule, expected, &identity);
}

/* The type a capsule holds. */
oo_status oo_capsule_type(oo_capsule capsule, oo_type *out);

/* Adds one reference to the capsule. A lent capsule cannot be retained (OO_ERR_UNSUPPORTED). */
oo_status oo_capsule_retain(oo_capsule capsule);

/* Drops one reference; the last one drops the capsule's reference to its object (or, for a lent
 * X509_STORE_CTX, ends the loan). The handle is stale afterwards. */
oo_status oo_capsule_release(oo_capsule capsule);

/* MARK: - The API table */

/* A verify callback's decision. */
typedef enum oo_verify_decision {
    OO_VERIFY_KEEP = 0,   /* OpenSSL's verdict stands */
    OO_VERIFY_ACCEPT = 1, /* accept the current error: verification goes on as if it had passed */
    OO_VERIFY_REJECT = 2  /* reject (an error is always set: never success) */
} oo_verify_decision;

/* Called once for each error at each depth (ok 0) and once per certificate that passes (ok 1).
 * `store_ctx` is a capsule lent for the call only (OO_TYPE_X509_STORE_CTX): it cannot be retained,
 * and after the call its handle is stale (OO_ERR_RELEASED), whatever was kept. */
typedef oo_verify_decision (*oo_verify_callback)(int ok, oo_capsule store_ctx, void *user_data);

/* A verification policy to install on an SSL_CTX. Set `size` to sizeof(oo_verify_policy). */
typedef struct oo_verify_policy {
    uint32_t size;
    unsigned long flags;   /* X509_V_FLAG_* added */
    int purpose;           /* X509_PURPOSE_*, or 0 to keep */
    int depth;             /* maximum depth, or -1 to keep */
    int auth_level;        /* authentication level, or -1 to keep */
    oo_verify_callback callback; /* or NULL */
    void *user_data;       /* passed to the callback; must outlive the SSL_CTX */
} oo_verify_policy;

/* Options for a client SSL_CTX built by the library. Set `size` to sizeof(oo_client_options). */
typedef struct oo_client_options {
    uint32_t size;
    const char *trusted_pem_file;   /* trust anchors (PEM); NULL for the operating system's store */
    const char *const *pins;        /* sha256/BASE64 pins, or NULL */
    size_t pin_count;
    const char *const *alpn;        /* ALPN protocols, or NULL */
    size_t alpn_count;
} oo_client_options;

typedef struct oo_api {
    uint32_t version; /* the table's version: functions are only ever added at the end */
    uint32_t size;    /* sizeof(oo_api) as the library built it */

    /* Version 1 */

    /* A private key from PEM or DER bytes, encrypted or not (passphrase may be NULL). At most
     * 16 MiB of data and 1 MiB of passphrase; the library keeps no copy of either. */
    oo_status (*load_private_key)(const unsigned char *data, size_t length, const unsigned char *passphrase,
                                  size_t passphrase_length, oo_capsule *out);
    /* A private key from a pkcs11: URI (module-path, pin-source or pin-value included). The module
     * must be among `allowed_modules` (paths; NULL allows only a module the URI does not name). A
     * pin-value is decoded straight into a wiped buffer. Loaded through libp11 wherever libp11 links
     * this OpenSSL (as the CLI loads), through pkcs11-provider otherwise (OpenSSL 4.0). */
    oo_status (*load_pkcs11_private_key)(const char *uri, const char *const *allowed_modules, size_t allowed_count,
                                         oo_capsule *out);
    /* The SPKI pin (sha256/BASE64, NUL-terminated) of a certificate, private or public key capsule. */
    oo_status (*spki_pin)(oo_capsule object, char *buffer, size_t size);
    /* A readable explanation of the current error of an X509_STORE_CTX capsule (NUL-terminated). */
    oo_status (*verification_error)(oo_capsule store_ctx, char *buffer, size_t size);
    /* Installs pins on an SSL_CTX: the verified chain must contain one. Like the two functions
     * below, it changes the context only until the first SSL is made from it (by anyone): then
     * OO_ERR_INVALID_ARGUMENT, since OpenSSL does not lock changes against running handshakes. */
    oo_status (*install_pins)(oo_capsule ssl_ctx, const char *const *pins, size_t count);
    /* Installs a verification policy on an SSL_CTX. */
    oo_status (*install_verify_policy)(oo_capsule ssl_ctx, const oo_verify_policy *policy);
    /* Installs the OCSP staple policy on a client SSL_CTX: request a staple, verify it, and fail
     * without a valid one when `require` is nonzero (always for must-staple certificates). */
    oo_status (*install_staple_policy)(oo_capsule ssl_ctx, int require);
    /* A client SSL_CTX with the library's secure defaults (verification on, host name required:
     * every SSL made from it must be given the name to check with SSL_set1_host, or an IP
     * address with X509_VERIFY_PARAM_set1_ip; SNI alone does not count, and a handshake without
     * one fails with a reason that ssl_verification_error reads). Without trusted_pem_file it
     * trusts the system's CAs through a store of its own: CAs that C code loads into it
     * (SSL_CTX_load_verify_file) reach this context only. */
    oo_status (*new_client_context)(const oo_client_options *options, oo_capsule *out);
    /* Signs `data` with a key capsule (SHA-256 for RSA and EC, none for EdDSA); *signature_length
     * is the buffer's size on entry and the signature's on return. */
    oo_status (*sign)(oo_capsule key, const unsigned char *data, size_t length, unsigned char *signature,
                      size_t *signature_length);

    /* Version 2 */

    /* The library's explanation of why the peer's certificate was refused on `ssl` (an SSL made
     * from a context the library configured, by C code or by Swift): OpenSSL's verdict explained
     * from the facts, or the library's own reason (a pin, a chain policy, a missing host name).
     * NUL-terminated; "" when verification did not fail. */
    oo_status (*ssl_verification_error)(const SSL *ssl, char *buffer, size_t size);
} oo_api;

#define OO_API_VERSION 2

/* The API table if the library's is at least `minimum_version`; NULL (OO_ERR_ABI_MISMATCH) otherwise. */
const oo_api *oo_get_api(uint32_t minimum_version);

#ifdef __cplusplus
}
#endif

#endif /* OPENSSLOBJECTS_ABI_H */
