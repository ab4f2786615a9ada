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
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include "openssl_objects.h"

/* The name the server's certificate must match: SSL_set1_host is deprecated in OpenSSL 4.0, where
 * SSL_set1_dnsname replaces it. */
#if OPENSSL_VERSION_MAJOR >= 4
#define set_host_name(ssl, host) SSL_set1_dnsname((ssl), (host))
#else
#define set_host_name(ssl, host) SSL_set1_host((ssl), (host))
#endif

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
    return 0;
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
    int fd = connect_to(port);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host);
    set_host_name(ssl, host);
    int connected = SSL_connect(ssl) == 1;
    printf("handshake %s\n", connected ? "ok" : "refused");
    if (connected)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
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
    char reason[1024];
    for (int named = 0; named <= 1; named++) {
        int fd = connect_to(port);
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, host);
        if (named)
            set_host_name(ssl, host);
        int connected = SSL_connect(ssl) == 1;
        oo_status status = api->ssl_verification_error(ssl, reason, sizeof reason);
        printf("%s %s reason(%d): %s\n", named ? "set1-host" : "sni-only", connected ? "ok" : "refused", (int)status,
               status == OO_OK ? reason : oo_last_error());
        if (connected)
            SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
    }
    /* C code made SSLs from the context: it no longer changes. */
    const char *pins[] = { "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" };
    report("install-pins-in-use", api->install_pins(context, pins, 1));
    oo_capsule_release(context);
    SSL_CTX_free(ctx);
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
    fprintf(stderr, "usage: %s limits KEY.pem | loan PORT TRUSTED.pem HOST | hostname PORT TRUSTED.pem HOST\n",
            argv[0]);
    return 2;
}
