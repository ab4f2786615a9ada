/*
 * The library is never unloaded while a process runs, even after dlclose: a program that loads
 * it with dlopen (and does not link it), takes an SSL_CTX configured through the API table, and
 * closes the library again, still handshakes with that SSL_CTX, whose verify callbacks point
 * into the library's code. Were the library unloaded, dlopen(RTLD_NOLOAD) would not find it and
 * the handshake would call into unmapped memory.
 *
 *   capsule_resident LIBRARY PORT TRUSTED.pem HOST
 *
 * Prints "closed S", "resident 0|1", "mapped 0|1", then "handshake ok|refused, N callback calls".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "openssl_objects.h"

typedef const oo_api *(*get_api_function)(uint32_t);
typedef void *(*get1_function)(oo_capsule, oo_type, const oo_libcrypto_identity *);
typedef oo_status (*release_function)(oo_capsule);
typedef const char *(*last_error_function)(void);

static int calls;

static oo_verify_decision count(int ok, oo_capsule store_ctx, void *user_data)
{
    (void)ok;
    (void)store_ctx;
    (void)user_data;
    calls++;
    return OO_VERIFY_KEEP;
}

static void *symbol(void *library, const char *name)
{
    void *found = dlsym(library, name);
    if (found == NULL) {
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
        exit(2);
    }
    return found;
}

/* Whether a mapping of this process names `path`'s file. */
static int mapped(const char *path)
{
    const char *name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (maps != NULL && fgets(line, sizeof line, maps) != NULL)
        found |= strstr(line, name) != NULL;
    if (maps != NULL)
        fclose(maps);
    return found;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s LIBRARY PORT TRUSTED.pem HOST\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    get_api_function get_api = (get_api_function)symbol(library, "oo_get_api");
    get1_function get1 = (get1_function)symbol(library, "oo_capsule_get1_with_identity");
    release_function release = (release_function)symbol(library, "oo_capsule_release");
    last_error_function last_error = (last_error_function)symbol(library, "oo_last_error");
    const oo_api *api = get_api(OO_API_VERSION);
    if (api == NULL)
        return 2;

    oo_client_options options = { sizeof(oo_client_options), argv[3], NULL, 0, NULL, 0 };
    oo_capsule context;
    oo_verify_policy policy = { sizeof(oo_verify_policy), 0, 0, -1, -1, count, NULL };
    if (api->new_client_context(&options, &context) != OO_OK || api->install_verify_policy(context, &policy) != OO_OK) {
        fprintf(stderr, "context: %s\n", last_error());
        return 2;
    }
    oo_libcrypto_identity identity = oo_caller_identity();
    SSL_CTX *ctx = get1(context, OO_TYPE_SSL_CTX, &identity);
    release(context);
    if (ctx == NULL)
        return 2;

    /* The program's only handle goes: without the pin, the library would be unloaded here. */
    printf("closed %d\n", dlclose(library));
    void *again = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    printf("resident %d\n", again != NULL);
    if (again != NULL)
        dlclose(again);
    printf("mapped %d\n", mapped(path));
    fflush(stdout);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)atoi(argv[2]));
    address.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("connect");
        return 2;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, argv[4]);
    SSL_set1_host(ssl, argv[4]);
    int connected = SSL_connect(ssl) == 1;
    printf("handshake %s, %d callback calls\n", connected ? "ok" : "refused", calls);
    if (connected)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return 0;
}
