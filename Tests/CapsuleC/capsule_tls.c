/*
 * Receives a client SSL_CTX configured by the library (trust anchors, pins, a C verify policy)
 * through a capsule, lets the capsule go (the library's Swift side is gone), and runs a TLS
 * handshake in plain C against 127.0.0.1:PORT.
 *
 *   capsule_tls PORT TRUSTED.pem PIN HOST [require-staple]
 *                                            exit 0: handshake ok; 1: refused; 2: setup failed
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include "openssl_objects.h"

static int calls = 0;

static oo_verify_decision count_calls(int ok, oo_capsule store_ctx, void *user_data)
{
    int *counter = user_data;
    (*counter)++;
    /* The lent store context is an X509_STORE_CTX during the call. */
    if (oo_capsule_get(store_ctx, OO_TYPE_X509_STORE_CTX) == NULL)
        return OO_VERIFY_REJECT;
    return OO_VERIFY_KEEP;
    (void)ok;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s PORT TRUSTED.pem PIN HOST [require-staple]\n", argv[0]);
        return 2;
    }
    if (oo_abi_check(OO_ABI_VERSION_MAJOR, OO_ABI_VERSION_MINOR) != OO_OK) {
        fprintf(stderr, "abi: %s\n", oo_last_error());
        return 2;
    }
    const oo_api *api = oo_get_api(OO_API_VERSION);
    if (api == NULL) {
        fprintf(stderr, "api: %s\n", oo_last_error());
        return 2;
    }
    const char *pins[] = { argv[3] };
    oo_client_options options = { sizeof(oo_client_options), argv[2], pins, 1, NULL, 0 };
    oo_capsule context;
    if (api->new_client_context(&options, &context) != OO_OK) {
        fprintf(stderr, "context: %s\n", oo_last_error());
        return 2;
    }
    oo_verify_policy policy = { sizeof(oo_verify_policy), 0, 0, -1, -1, count_calls, &calls };
    if (api->install_verify_policy(context, &policy) != OO_OK) {
        fprintf(stderr, "policy: %s\n", oo_last_error());
        return 2;
    }
    if (argc == 6 && api->install_staple_policy(context, 1) != OO_OK) {
        fprintf(stderr, "staple policy: %s\n", oo_last_error());
        return 2;
    }
    SSL_CTX *ctx = oo_capsule_get1(context, OO_TYPE_SSL_CTX);
    if (ctx == NULL) {
        fprintf(stderr, "get1: %s\n", oo_last_error());
        return 2;
    }
    /* The capsule, and with it the last Swift reference, goes away: C still holds the SSL_CTX. */
    oo_capsule_release(context);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { 0 };
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)atoi(argv[1]));
    address.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        perror("connect");
        return 2;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, argv[4]);
#if OPENSSL_VERSION_MAJOR >= 4
    SSL_set1_dnsname(ssl, argv[4]); /* SSL_set1_host is deprecated in OpenSSL 4.0 */
#else
    SSL_set1_host(ssl, argv[4]);
#endif
    int result = SSL_connect(ssl);
    int status;
    if (result == 1) {
        printf("handshake ok: %s, %d verify callback calls\n", SSL_get_version(ssl), calls);
        SSL_shutdown(ssl);
        status = 0;
    } else {
        printf("handshake refused: %s\n", X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        status = 1;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return status;
}
