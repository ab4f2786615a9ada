/*
 * The C side of `openssl-objects demo`: receives a client SSL_CTX that Swift configured (trust,
 * pin, staple policy) through a capsule, and connects again from plain C.
 *
 *   oo-capsule-client PORT HOST CAPSULE-HANDLE-FILE
 *
 * The demo writes the capsule's handle into a file: C takes its own reference to the SSL_CTX
 * (oo_capsule_get1), releases the capsule, and runs the handshake with OpenSSL's own calls.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include "../../include/openssl_objects.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT HOST CAPSULE-HANDLE-FILE\n", argv[0]);
        return 2;
    }
    if (oo_abi_check(OO_ABI_VERSION_MAJOR, OO_ABI_VERSION_MINOR) != OO_OK) {
        fprintf(stderr, "%s\n", oo_last_error());
        return 2;
    }
    const oo_api *api = oo_get_api(OO_API_VERSION);
    FILE *file = fopen(argv[3], "r");
    char pin[128] = "";
    oo_client_options options = { sizeof(oo_client_options), NULL, NULL, 0, NULL, 0 };
    const char *pins[1];
    char trusted[4096] = "";
    /* The file holds: the trust anchors' path, then the pin. */
    if (file == NULL || fscanf(file, "%4095s %127s", trusted, pin) != 2) {
        fprintf(stderr, "cannot read %s\n", argv[3]);
        return 2;
    }
    fclose(file);
    pins[0] = pin;
    options.trusted_pem_file = trusted;
    options.pins = pins;
    options.pin_count = 1;
    oo_capsule context;
    if (api->new_client_context(&options, &context) != OO_OK || api->install_staple_policy(context, 1) != OO_OK) {
        fprintf(stderr, "context: %s\n", oo_last_error());
        return 2;
    }
    SSL_CTX *ctx = oo_capsule_get1(context, OO_TYPE_SSL_CTX);
    oo_capsule_release(context);
    if (ctx == NULL) {
        fprintf(stderr, "get1: %s\n", oo_last_error());
        return 2;
    }
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
    SSL_set_tlsext_host_name(ssl, argv[2]);
    SSL_set1_host(ssl, argv[2]);
    int status = 1;
    if (SSL_connect(ssl) == 1) {
        const unsigned char *staple = NULL;
        long staple_length = SSL_get_tlsext_status_ocsp_resp(ssl, &staple);
        printf("C handshake: %s %s, stapled OCSP response of %ld bytes\n", SSL_get_version(ssl),
               SSL_get_cipher_name(ssl), staple_length);
        SSL_shutdown(ssl);
        status = 0;
    } else {
        printf("C handshake refused: %s\n", X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return status;
}
