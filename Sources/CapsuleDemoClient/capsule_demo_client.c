#include "capsule_demo_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

int oo_demo_connect_from_c(oo_capsule context, int port, const char *host, char *report, size_t report_size)
{
    if (oo_abi_check(OO_ABI_VERSION_MAJOR, OO_ABI_VERSION_MINOR) != OO_OK) {
        snprintf(report, report_size, "ABI mismatch: %s", oo_last_error());
        return 2;
    }
    /* C's own reference; the capsule (and with it Swift's hold) can go. */
    SSL_CTX *ctx = oo_capsule_get1(context, OO_TYPE_SSL_CTX);
    if (ctx == NULL) {
        snprintf(report, report_size, "no SSL_CTX in the capsule: %s", oo_last_error());
        return 2;
    }
    oo_capsule_release(context);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { 0 };
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        snprintf(report, report_size, "cannot connect to 127.0.0.1:%d", port);
        if (fd >= 0)
            close(fd);
        SSL_CTX_free(ctx);
        return 2;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host);
#if OPENSSL_VERSION_MAJOR >= 4
    SSL_set1_dnsname(ssl, host); /* SSL_set1_host is deprecated in OpenSSL 4.0 */
#else
    SSL_set1_host(ssl, host);
#endif
    int status;
    if (SSL_connect(ssl) == 1) {
        const unsigned char *staple = NULL;
        long staple_length = SSL_get_tlsext_status_ocsp_resp(ssl, &staple);
        snprintf(report, report_size, "handshake from C: %s %s, verified, stapled OCSP response of %ld bytes",
                 SSL_get_version(ssl), SSL_get_cipher_name(ssl), staple_length);
        SSL_shutdown(ssl);
        status = 0;
    } else {
        snprintf(report, report_size, "handshake from C refused: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        status = 1;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return status;
}
