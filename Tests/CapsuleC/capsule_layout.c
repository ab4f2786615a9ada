/*
 * The C ABI only grows: what a program built against an older header reads stays where it was.
 * Compiled (cc -fsyntax-only) against include/openssl_objects.h: each _Static_assert compares the
 * header with the layouts below, written as ABI 1.1 and API table versions 1 and 2 had them. A
 * member that moves, goes or changes its type, or a value that changes, stops the build.
 *
 * When the table grows, add the new members to a struct oo_api_v3 (and so on); never edit these.
 */
#include <stddef.h>
#include "openssl_objects.h"

/* The API table as version 2 had it (version 1 ends before ssl_verification_error). */
struct oo_api_v2 {
    uint32_t version;
    uint32_t size;
    /* Version 1 */
    oo_status (*load_private_key)(const unsigned char *data, size_t length, const unsigned char *passphrase,
                                  size_t passphrase_length, oo_capsule *out);
    oo_status (*load_pkcs11_private_key)(const char *uri, const char *const *allowed_modules, size_t allowed_count,
                                         oo_capsule *out);
    oo_status (*spki_pin)(oo_capsule object, char *buffer, size_t size);
    oo_status (*verification_error)(oo_capsule store_ctx, char *buffer, size_t size);
    oo_status (*install_pins)(oo_capsule ssl_ctx, const char *const *pins, size_t count);
    oo_status (*install_verify_policy)(oo_capsule ssl_ctx, const oo_verify_policy *policy);
    oo_status (*install_staple_policy)(oo_capsule ssl_ctx, int require);
    oo_status (*new_client_context)(const oo_client_options *options, oo_capsule *out);
    oo_status (*sign)(oo_capsule key, const unsigned char *data, size_t length, unsigned char *signature,
                      size_t *signature_length);
    /* Version 2 */
    oo_status (*ssl_verification_error)(const SSL *ssl, char *buffer, size_t size);
};

struct oo_client_options_v1 {
    uint32_t size;
    const char *trusted_pem_file;
    const char *const *pins;
    size_t pin_count;
    const char *const *alpn;
    size_t alpn_count;
};

struct oo_verify_policy_v1 {
    uint32_t size;
    unsigned long flags;
    int purpose;
    int depth;
    int auth_level;
    oo_verify_decision (*callback)(int ok, oo_capsule store_ctx, void *user_data);
    void *user_data;
};

#define SAME_TYPE(a, b) __builtin_types_compatible_p(__typeof__(a), __typeof__(b))
#define FROZEN(type, old, member)                                                                  \
    _Static_assert(offsetof(type, member) == offsetof(struct old, member), #type "." #member " moved"); \
    _Static_assert(SAME_TYPE(((type *)0)->member, ((struct old *)0)->member), #type "." #member " changed its type")

FROZEN(oo_api, oo_api_v2, version);
FROZEN(oo_api, oo_api_v2, size);
FROZEN(oo_api, oo_api_v2, load_private_key);
FROZEN(oo_api, oo_api_v2, load_pkcs11_private_key);
FROZEN(oo_api, oo_api_v2, spki_pin);
FROZEN(oo_api, oo_api_v2, verification_error);
FROZEN(oo_api, oo_api_v2, install_pins);
FROZEN(oo_api, oo_api_v2, install_verify_policy);
FROZEN(oo_api, oo_api_v2, install_staple_policy);
FROZEN(oo_api, oo_api_v2, new_client_context);
FROZEN(oo_api, oo_api_v2, sign);
FROZEN(oo_api, oo_api_v2, ssl_verification_error);
_Static_assert(sizeof(oo_api) >= sizeof(struct oo_api_v2), "oo_api shrank");
_Static_assert(OO_API_VERSION >= 2, "the API table's version went back");

FROZEN(oo_client_options, oo_client_options_v1, size);
FROZEN(oo_client_options, oo_client_options_v1, trusted_pem_file);
FROZEN(oo_client_options, oo_client_options_v1, pins);
FROZEN(oo_client_options, oo_client_options_v1, pin_count);
FROZEN(oo_client_options, oo_client_options_v1, alpn);
FROZEN(oo_client_options, oo_client_options_v1, alpn_count);
_Static_assert(sizeof(oo_client_options) >= sizeof(struct oo_client_options_v1), "oo_client_options shrank");

FROZEN(oo_verify_policy, oo_verify_policy_v1, size);
FROZEN(oo_verify_policy, oo_verify_policy_v1, flags);
FROZEN(oo_verify_policy, oo_verify_policy_v1, purpose);
FROZEN(oo_verify_policy, oo_verify_policy_v1, depth);
FROZEN(oo_verify_policy, oo_verify_policy_v1, auth_level);
FROZEN(oo_verify_policy, oo_verify_policy_v1, callback);
FROZEN(oo_verify_policy, oo_verify_policy_v1, user_data);
_Static_assert(sizeof(oo_verify_policy) >= sizeof(struct oo_verify_policy_v1), "oo_verify_policy shrank");

_Static_assert(sizeof(oo_capsule) == 8 && offsetof(oo_capsule, handle) == 0, "oo_capsule changed");
_Static_assert(OO_ABI_VERSION_MAJOR == 1 && OO_ABI_VERSION_MINOR >= 1, "the ABI version went back");

/* Values a program compiled in, as ABI 1.1 defined them. */
_Static_assert(OO_OK == 0 && OO_ERR_INVALID_ARGUMENT == 1 && OO_ERR_WRONG_TYPE == 2 && OO_ERR_RELEASED == 3 &&
                   OO_ERR_FORGED == 4 && OO_ERR_FOREIGN_LIBCRYPTO == 5 && OO_ERR_ABI_MISMATCH == 6 &&
                   OO_ERR_OPENSSL == 7 && OO_ERR_INPUT == 8 && OO_ERR_UNSUPPORTED == 9 &&
                   OO_ERR_BUFFER_TOO_SMALL == 10 && OO_ERR_VERIFICATION == 11 && OO_ERR_PKCS11 == 12,
               "a status changed its value");
_Static_assert(OO_TYPE_X509 == 1 && OO_TYPE_EVP_PKEY == 2 && OO_TYPE_X509_STORE == 3 && OO_TYPE_X509_CRL == 4 &&
                   OO_TYPE_SSL_CTX == 5 && OO_TYPE_SSL == 6 && OO_TYPE_SSL_SESSION == 7 &&
                   OO_TYPE_OCSP_RESPONSE == 8 && OO_TYPE_OCSP_BASICRESP == 9 && OO_TYPE_X509_STORE_CTX == 10 &&
                   OO_TYPE_EVP_PKEY_PUBLIC == 11,
               "a type changed its value");
_Static_assert(OO_ADOPT == 1 && OO_RETAIN == 2 && OO_COPY == 3 && OO_LEND == 4, "an ownership changed its value");
_Static_assert(OO_VERIFY_KEEP == 0 && OO_VERIFY_ACCEPT == 1 && OO_VERIFY_REJECT == 2,
               "a verify decision changed its value");
