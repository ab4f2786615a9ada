/*
 * The C ABI's promises, tried the way a careless or hostile C caller would (built with cc as a
 * third party builds it; the tests also build it with AddressSanitizer).
 *
 *   capsule_adversary limits KEY.pem
 *       lengths and counts of SIZE_MAX, an uninitialised X509_STORE_CTX, key capsule types:
 *       one line per case, "name status text"
 *   capsule_adversary loan PORT TRUSTED.pem HOST
 *       a verify callback that keeps its lent X509_STORE_CTX capsule and tries to extend the
 *       loan; after the handshake the kept handle must be stale, never a use after free
 *   capsule_adversary hostname PORT TRUSTED.pem HOST
 *       SSLs made from new_client_context: with SNI only (refused, and the reason readable with
 *       ssl_verification_error), then with SSL_set1_host; and the context refuses changes once
 *       C code has made an SSL from it
 *   capsule_adversary pins PORT TRUSTED.pem HOST OTHER-PIN ROOT-PIN
 *       pins given in oo_client_options and by install_pins on a fresh context: another key's
 *       pin refuses the handshake with the library's reason, the root's is accepted; once an
 *       SSL was made, install_verify_policy and install_staple_policy refuse the context too
 *   capsule_adversary callback PORT EXPIRED-PORT TRUSTED.pem HOST
 *       C verify callbacks: OO_VERIFY_REJECT of a certificate that passed (the leaf) fails the
 *       handshake with the library's reason; against a server whose leaf expired, OO_VERIFY_KEEP
 *       fails and OO_VERIFY_ACCEPT succeeds
 *   capsule_adversary own-store PORT TRUSTED.pem HOST
 *       two contexts from new_client_context with the system trust: C code loads TRUSTED into the
 *       first one's store (SSL_CTX_load_verify_file, as a C library configuring its context
 *       does); the second must not trust it, so its stores are not the process's shared one
 *   capsule_adversary staple MUST-STAPLE-PORT PLAIN-PORT TRUSTED.pem HOST
 *       install_staple_policy(ctx, 0): a must-staple server that staples nothing is refused, a
 *       server of an ordinary certificate is not
 *
 * Each line is "name status text" (the status of the call, or of the handshake: 0 when it
 * succeeded) or "name ok|refused reason(STATUS): TEXT" for a handshake.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include "openssl_objects.h"

static void report(const char *name, oo_status status)
{
    printf("%s %d %s\n", name, (int)status, status == OO_OK ? "" : oo_last_error());
}

static const oo_api *api_or_exit(void)
{
    const oo_api *api = oo_get_api(OO_API_VERSION);
    if (api == NULL) {
        fprintf(stderr, "api: %s\n", oo_last_error());
        exit(2);
    }
    return api;
}

static int read_file(const char *path, unsigned char *buffer, size_t size, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return 0;
    *length = fread(buffer, 1, size, file);
    fclose(file);
    return *length > 0;
}

/* Whether a shared object whose path contains `name` is mapped into this process. */
static int mapped(const char *name)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (maps != NULL && fgets(line, sizeof line, maps) != NULL)
        found |= strstr(line, name) != NULL;
    if (maps != NULL)
        fclose(maps);
    return found;
}

/*
 * NULL for every pointer argument of every table function, struct sizes of 0 and of more than
 * the struct, counts of SIZE_MAX, buffer sizes of 0, handles that were never issued: each is a
 * status with a reason, never a crash, a read of the caller's memory past what it gave, or a
 * NULL taken for an empty buffer (which would sign, or load, something the caller never meant).
 */
static int null_and_size_cases(const oo_api *api, const unsigned char *key, size_t key_length)
{
    oo_capsule out;
    const oo_capsule forged = { 0x0123456789abcdefULL };
    char text[512];
    const char *pins[] = { "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" };

    /* load_private_key */
    report("load-null-data", api->load_private_key(NULL, 10, NULL, 0, &out));
    report("load-null-out", api->load_private_key(key, key_length, NULL, 0, NULL));
    report("load-null-passphrase", api->load_private_key(key, key_length, NULL, 5, &out));

    /* load_pkcs11_private_key */
    const char *uri = "pkcs11:token=none;object=none;type=private";
    const char *modules[] = { "/usr/lib/softhsm/libsofthsm2.so" };
    report("pkcs11-null-uri", api->load_pkcs11_private_key(NULL, modules, 1, &out));
    report("pkcs11-null-out", api->load_pkcs11_private_key(uri, modules, 1, NULL));
    report("pkcs11-null-modules-count", api->load_pkcs11_private_key(uri, NULL, 3, &out));
    report("pkcs11-modules-size-max", api->load_pkcs11_private_key(uri, modules, SIZE_MAX, &out));
    /* NULL allows no module that the URI names (nothing is loaded before the check). */
    report("pkcs11-null-allowed",
           api->load_pkcs11_private_key(
               "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so", NULL,
               0, &out));
    printf("softhsm-mapped %d\n", mapped("libsofthsm2"));

    /* Capsules to work on: a key, and a context no SSL was made from. */
    oo_capsule key_capsule;
    if (api->load_private_key(key, key_length, NULL, 0, &key_capsule) != OO_OK)
        return 2;
    oo_client_options options = { sizeof(oo_client_options), NULL, NULL, 0, NULL, 0 };
    oo_capsule context;
    if (api->new_client_context(&options, &context) != OO_OK)
        return 2;

    /* spki_pin */
    report("pin-null-buffer", api->spki_pin(key_capsule, NULL, 64));
    report("pin-buffer-size-0", api->spki_pin(key_capsule, text, 0));
    report("pin-forged", api->spki_pin(forged, text, sizeof text));

    /* verification_error and ssl_verification_error */
    X509_STORE_CTX *store_context = X509_STORE_CTX_new();
    oo_capsule lent;
    oo_capsule_make(OO_TYPE_X509_STORE_CTX, store_context, OO_LEND, &lent);
    report("explain-null-buffer", api->verification_error(lent, NULL, 512));
    report("explain-buffer-size-0", api->verification_error(lent, text, 0));
    report("explain-forged", api->verification_error(forged, text, sizeof text));
    report("explain-key", api->verification_error(key_capsule, text, sizeof text));
    oo_capsule_release(lent);
    X509_STORE_CTX_free(store_context);
    report("ssl-explain-null-ssl", api->ssl_verification_error(NULL, text, sizeof text));
    SSL_CTX *plain = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(plain);
    report("ssl-explain-null-buffer", api->ssl_verification_error(ssl, NULL, 512));
    report("ssl-explain-buffer-size-0", api->ssl_verification_error(ssl, text, 0));
    /* An SSL of a context the library never saw: nothing failed, so "". */
    text[0] = 'x';
    oo_status plain_status = api->ssl_verification_error(ssl, text, sizeof text);
    printf("ssl-explain-plain %d [%s]\n", (int)plain_status, plain_status == OO_OK ? text : oo_last_error());
    SSL_free(ssl);
    SSL_CTX_free(plain);

    /* sign */
    unsigned char signature[512];
    size_t signature_length = sizeof signature;
    report("sign-null-data", api->sign(key_capsule, NULL, 32, signature, &signature_length));
    report("sign-null-signature", api->sign(key_capsule, key, 16, NULL, &signature_length));
    report("sign-null-length", api->sign(key_capsule, key, 16, signature, NULL));
    signature_length = 0;
    report("sign-signature-size-0", api->sign(key_capsule, key, 16, signature, &signature_length));
    printf("sign-needed %zu\n", signature_length);
    report("sign-context", api->sign(context, key, 16, signature, &signature_length));

    /* install_pins, install_verify_policy, install_staple_policy on the unused context */
    report("install-pins-null-pins", api->install_pins(context, NULL, 1));
    report("install-pins-size-max", api->install_pins(context, pins, SIZE_MAX));
    report("install-pins-forged", api->install_pins(forged, pins, 1));
    report("install-pins-key", api->install_pins(key_capsule, pins, 1));
    report("policy-null", api->install_verify_policy(context, NULL));
    oo_verify_policy policy = { 0, 0, 0, -1, -1, NULL, NULL };
    report("policy-size-0", api->install_verify_policy(context, &policy));
    /* A newer header's larger struct: the library reads the fields it knows. */
    struct {
        oo_verify_policy policy;
        unsigned char newer[64];
    } larger;
    memset(&larger, 0, sizeof larger);
    larger.policy = (oo_verify_policy){ sizeof larger, 0, 0, -1, -1, NULL, NULL };
    report("policy-size-larger", api->install_verify_policy(context, &larger.policy));
    report("policy-forged", api->install_verify_policy(forged, &larger.policy));
    report("staple-forged", api->install_staple_policy(forged, 1));
    report("staple-key", api->install_staple_policy(key_capsule, 1));

    /* new_client_context */
    report("context-null-options", api->new_client_context(NULL, &out));
    report("context-null-out", api->new_client_context(&options, NULL));
    oo_client_options empty = { 0, NULL, NULL, 0, NULL, 0 };
    report("context-size-0", api->new_client_context(&empty, &out));
    struct {
        oo_client_options options;
        unsigned char newer[64];
    } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.options = (oo_client_options){ sizeof bigger, NULL, NULL, 0, NULL, 0 };
    oo_status bigger_status = api->new_client_context(&bigger.options, &out);
    report("context-size-larger", bigger_status);
    if (bigger_status == OO_OK)
        oo_capsule_release(out);
    oo_client_options null_pins = { sizeof(oo_client_options), NULL, NULL, 2, NULL, 0 };
    report("context-null-pins", api->new_client_context(&null_pins, &out));
    const char *alpn[] = { "h2" };
    oo_client_options many_alpn = { sizeof(oo_client_options), NULL, NULL, 0, alpn, SIZE_MAX };
    report("context-alpn-size-max", api->new_client_context(&many_alpn, &out));
    oo_client_options null_alpn = { sizeof(oo_client_options), NULL, NULL, 0, NULL, 1 };
    report("context-null-alpn", api->new_client_context(&null_alpn, &out));

    oo_capsule_release(context);
    oo_capsule_release(key_capsule);
    return 0;
}

static int limits(const char *key_path)
{
    const oo_api *api = api_or_exit();
    static unsigned char key[65536];
    size_t key_length;
    if (!read_file(key_path, key, sizeof key, &key_length))
        return 2;
    oo_capsule capsule;
    report("key-size-max", api->load_private_key(key, SIZE_MAX, NULL, 0, &capsule));
    report("passphrase-size-max", api->load_private_key(key, key_length, (const unsigned char *)"x", SIZE_MAX, &capsule));
    report("key", api->load_private_key(key, key_length, NULL, 0, &capsule));

    unsigned char signature[512];
    size_t signature_length = sizeof signature;
    report("sign-size-max", api->sign(capsule, key, SIZE_MAX, signature, &signature_length));
    char pin[128];
    report("pin-buffer-size-max", api->spki_pin(capsule, pin, SIZE_MAX));

    /* A private key's capsule is never a public key's, and the other way round. */
    report("private-as-public",
           oo_capsule_get(capsule, OO_TYPE_EVP_PKEY_PUBLIC) == NULL ? oo_last_status() : OO_OK);
    EVP_PKEY *key_object = oo_capsule_get1(capsule, OO_TYPE_EVP_PKEY);
    oo_capsule public_capsule;
    report("public-make", oo_capsule_make(OO_TYPE_EVP_PKEY_PUBLIC, key_object, OO_ADOPT, &public_capsule));
    report("public-as-private",
           oo_capsule_get(public_capsule, OO_TYPE_EVP_PKEY) == NULL ? oo_last_status() : OO_OK);
    report("public-pin", api->spki_pin(public_capsule, pin, sizeof pin));
    oo_capsule_release(public_capsule);
    oo_capsule_release(capsule);

    const char *pins[] = { "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" };
    oo_client_options options = { sizeof(oo_client_options), NULL, pins, SIZE_MAX, NULL, 0 };
    oo_capsule context;
    report("pin-count-size-max", api->new_client_context(&options, &context));

    /* An X509_STORE_CTX that was never initialised, lent to the explanation. */
    X509_STORE_CTX *store_context = X509_STORE_CTX_new();
    oo_capsule lent;
    report("lend-uninitialised", oo_capsule_make(OO_TYPE_X509_STORE_CTX, store_context, OO_LEND, &lent));
    char text[512];
    oo_status status = api->verification_error(lent, text, sizeof text);
    printf("explain-uninitialised %d %s\n", (int)status, status == OO_OK ? text : oo_last_error());
    report("retain-lent", oo_capsule_retain(lent));
    report("get1-lent", oo_capsule_get1(lent, OO_TYPE_X509_STORE_CTX) == NULL ? oo_last_status() : OO_OK);
    oo_capsule_release(lent);
    X509_STORE_CTX_free(store_context);
    return null_and_size_cases(api, key, key_length);
}

static int connect_to(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)atoi(port));
    address.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("connect");
        exit(2);
    }
    return fd;
}

/* Connects an SSL made from `ctx`, with `host` as SNI and, when `check_host` is set, as the name
 * to check (SSL_set1_host); prints "name ok|refused reason(STATUS): TEXT" with the library's
 * reason (and OpenSSL's error for a refusal). Returns whether the handshake succeeded. */
static int handshake(const oo_api *api, SSL_CTX *ctx, const char *name, const char *port, const char *host,
                     int check_host)
{
    int fd = connect_to(port);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host);
    if (check_host)
        SSL_set1_host(ssl, host);
    int connected = SSL_connect(ssl) == 1;
    /* OpenSSL's own error for a refusal (the last one on the queue), then the library's reason. */
    char openssl_error[256] = "";
    if (!connected)
        ERR_error_string_n(ERR_peek_last_error(), openssl_error, sizeof openssl_error);
    ERR_clear_error();
    char reason[1024];
    oo_status status = api->ssl_verification_error(ssl, reason, sizeof reason);
    printf("%s %s reason(%d): %s\n", name, connected ? "ok" : "refused", (int)status,
           status == OO_OK ? reason : oo_last_error());
    if (!connected)
        printf("%s-openssl 0 %s\n", name, openssl_error);
    if (connected)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return connected;
}

static oo_capsule kept = { 0 };
static oo_status retain_status = OO_OK;

static oo_verify_decision keep_the_loan(int ok, oo_capsule store_ctx, void *user_data)
{
    (void)ok;
    (void)user_data;
    kept = store_ctx;
    oo_status status = oo_capsule_retain(store_ctx);
    if (status != OO_OK)
        retain_status = status;
    return OO_VERIFY_KEEP;
}

static SSL_CTX *client_context(const oo_api *api, const char *trusted, oo_verify_callback callback)
{
    oo_client_options options = { sizeof(oo_client_options), trusted, NULL, 0, NULL, 0 };
    oo_capsule context;
    if (api->new_client_context(&options, &context) != OO_OK) {
        fprintf(stderr, "context: %s\n", oo_last_error());
        exit(2);
    }
    if (callback != NULL) {
        oo_verify_policy policy = { sizeof(oo_verify_policy), 0, 0, -1, -1, callback, NULL };
        if (api->install_verify_policy(context, &policy) != OO_OK) {
            fprintf(stderr, "policy: %s\n", oo_last_error());
            exit(2);
        }
    }
    SSL_CTX *ctx = oo_capsule_get1(context, OO_TYPE_SSL_CTX);
    oo_capsule_release(context);
    return ctx;
}

static int loan(const char *port, const char *trusted, const char *host)
{
    const oo_api *api = api_or_exit();
    SSL_CTX *ctx = client_context(api, trusted, keep_the_loan);
    handshake(api, ctx, "handshake", port, host, 1);
    SSL_CTX_free(ctx);
    /* The handshake freed its X509_STORE_CTX: the kept handle must be stale. */
    report("retain-in-callback", retain_status);
    char text[512];
    report("explain-after-loan", api->verification_error(kept, text, sizeof text));
    report("get-after-loan", oo_capsule_get(kept, OO_TYPE_X509_STORE_CTX) == NULL ? oo_last_status() : OO_OK);
    report("release-after-loan", oo_capsule_release(kept));
    return 0;
}

static int hostname(const char *port, const char *trusted, const char *host)
{
    const oo_api *api = api_or_exit();
    oo_client_options options = { sizeof(oo_client_options), trusted, NULL, 0, NULL, 0 };
    oo_capsule context;
    if (api->new_client_context(&options, &context) != OO_OK) {
        fprintf(stderr, "context: %s\n", oo_last_error());
        return 2;
    }
    SSL_CTX *ctx = oo_capsule_get1(context, OO_TYPE_SSL_CTX);
    handshake(api, ctx, "sni-only", port, host, 0);
    handshake(api, ctx, "set1-host", port, host, 1);
    /* C code made SSLs from the context: it no longer changes. */
    const char *pins[] = { "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" };
    report("install-pins-in-use", api->install_pins(context, pins, 1));
    oo_capsule_release(context);
    SSL_CTX_free(ctx);
    return 0;
}

/* A client context from new_client_context trusting `trusted`, with `pins` if any. */
static oo_capsule new_context(const oo_api *api, const char *trusted, const char *const *pins, size_t count)
{
    oo_client_options options = { sizeof(oo_client_options), trusted, pins, count, NULL, 0 };
    oo_capsule context;
    if (api->new_client_context(&options, &context) != OO_OK) {
        fprintf(stderr, "context: %s\n", oo_last_error());
        exit(2);
    }
    return context;
}

static void handshake_with(const oo_api *api, oo_capsule context, const char *name, const char *port,
                           const char *host)
{
    SSL_CTX *ctx = oo_capsule_get1(context, OO_TYPE_SSL_CTX);
    handshake(api, ctx, name, port, host, 1);
    SSL_CTX_free(ctx);
}

static int pins(const char *port, const char *trusted, const char *host, const char *other_pin,
                const char *root_pin)
{
    const oo_api *api = api_or_exit();
    const char *other[] = { other_pin };
    const char *root[] = { root_pin };
    /* Pins given when the context is made. */
    oo_capsule context = new_context(api, trusted, other, 1);
    handshake_with(api, context, "options-other-pin", port, host);
    oo_capsule_release(context);
    /* Pins installed on a fresh context, before any SSL was made from it. */
    context = new_context(api, trusted, NULL, 0);
    report("install-other-pin", api->install_pins(context, other, 1));
    handshake_with(api, context, "installed-other-pin", port, host);
    oo_capsule_release(context);
    context = new_context(api, trusted, NULL, 0);
    report("install-root-pin", api->install_pins(context, root, 1));
    handshake_with(api, context, "installed-root-pin", port, host);
    /* An SSL was made from it: no install_* changes it any more. */
    oo_verify_policy policy = { sizeof(oo_verify_policy), 0, 0, -1, -1, NULL, NULL };
    report("install-policy-in-use", api->install_verify_policy(context, &policy));
    report("install-staple-in-use", api->install_staple_policy(context, 1));
    report("install-pins-in-use", api->install_pins(context, other, 1));
    oo_capsule_release(context);
    return 0;
}

/* What a callback does at each call: its decision, and whether it rejects only a certificate
 * that passed (ok 1) at depth 0. */
typedef struct decision {
    oo_verify_decision on_error;
    int reject_passed_leaf;
    int calls;
} decision;

static oo_verify_decision decide(int ok, oo_capsule store_ctx, void *user_data)
{
    decision *what = user_data;
    what->calls++;
    if (what->reject_passed_leaf) {
        X509_STORE_CTX *context = oo_capsule_get(store_ctx, OO_TYPE_X509_STORE_CTX);
        if (context != NULL && ok == 1 && X509_STORE_CTX_get_error_depth(context) == 0)
            return OO_VERIFY_REJECT;
        return OO_VERIFY_KEEP;
    }
    return ok ? OO_VERIFY_KEEP : what->on_error;
}

static void with_callback(const oo_api *api, const char *trusted, decision *what, const char *name,
                          const char *port, const char *host)
{
    oo_capsule context = new_context(api, trusted, NULL, 0);
    oo_verify_policy policy = { sizeof(oo_verify_policy), 0, 0, -1, -1, decide, what };
    if (api->install_verify_policy(context, &policy) != OO_OK) {
        fprintf(stderr, "policy: %s\n", oo_last_error());
        exit(2);
    }
    handshake_with(api, context, name, port, host);
    oo_capsule_release(context);
    printf("%s-calls %d\n", name, what->calls);
}

static int callback(const char *port, const char *expired_port, const char *trusted, const char *host)
{
    const oo_api *api = api_or_exit();
    decision reject = { OO_VERIFY_KEEP, 1, 0 };
    with_callback(api, trusted, &reject, "reject-passed-leaf", port, host);
    decision keep = { OO_VERIFY_KEEP, 0, 0 };
    with_callback(api, trusted, &keep, "keep-expired", expired_port, host);
    decision accept = { OO_VERIFY_ACCEPT, 0, 0 };
    with_callback(api, trusted, &accept, "accept-expired", expired_port, host);
    return 0;
}

static int staple(const char *must_staple_port, const char *plain_port, const char *trusted, const char *host)
{
    const oo_api *api = api_or_exit();
    for (int must_staple = 1; must_staple >= 0; must_staple--) {
        oo_capsule context = new_context(api, trusted, NULL, 0);
        report(must_staple ? "staple-policy-0" : "staple-policy-0-again", api->install_staple_policy(context, 0));
        handshake_with(api, context, must_staple ? "must-staple-without-staple" : "plain-without-staple",
                       must_staple ? must_staple_port : plain_port, host);
        oo_capsule_release(context);
    }
    return 0;
}

static int own_store(const char *port, const char *trusted, const char *host)
{
    const oo_api *api = api_or_exit();
    SSL_CTX *loaded = client_context(api, NULL, NULL);
    SSL_CTX *other = client_context(api, NULL, NULL);
    printf("same-store %d\n", SSL_CTX_get_cert_store(loaded) == SSL_CTX_get_cert_store(other));
    report("load-verify-file", SSL_CTX_load_verify_file(loaded, trusted) == 1 ? OO_OK : OO_ERR_INVALID_ARGUMENT);
    handshake(api, loaded, "loaded", port, host, 1);
    handshake(api, other, "other", port, host, 1);
    SSL_CTX *later = client_context(api, NULL, NULL);
    handshake(api, later, "later", port, host, 1);
    SSL_CTX_free(later);
    SSL_CTX_free(other);
    SSL_CTX_free(loaded);
    return 0;
}

int main(int argc, char **argv)
{
    if (oo_abi_check(OO_ABI_VERSION_MAJOR, OO_ABI_VERSION_MINOR) != OO_OK) {
        fprintf(stderr, "abi: %s\n", oo_last_error());
        return 2;
    }
    if (argc == 3 && strcmp(argv[1], "limits") == 0)
        return limits(argv[2]);
    if (argc == 5 && strcmp(argv[1], "loan") == 0)
        return loan(argv[2], argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "hostname") == 0)
        return hostname(argv[2], argv[3], argv[4]);
    if (argc == 7 && strcmp(argv[1], "pins") == 0)
        return pins(argv[2], argv[3], argv[4], argv[5], argv[6]);
    if (argc == 6 && strcmp(argv[1], "callback") == 0)
        return callback(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 5 && strcmp(argv[1], "own-store") == 0)
        return own_store(argv[2], argv[3], argv[4]);
    if (argc == 6 && strcmp(argv[1], "staple") == 0)
        return staple(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: %s limits KEY.pem | loan PORT TRUSTED.pem HOST | hostname PORT TRUSTED.pem HOST | "
                    "pins PORT TRUSTED.pem HOST OTHER-PIN ROOT-PIN | callback PORT EXPIRED-PORT TRUSTED.pem HOST | "
                    "own-store PORT TRUSTED.pem HOST | staple MUST-STAPLE-PORT PLAIN-PORT TRUSTED.pem HOST\n",
            argv[0]);
    return 2;
}
