/*
 * The C API keeps no copy of the secrets it is given: every block of memory the process frees
 * (by the library, Swift's runtime or OpenSSL) is searched for them before it goes back to the
 * allocator. A copy that was wiped (OPENSSL_cleanse, SecretBytes) is not found; one that was
 * not, is. Not built with a sanitizer: it interposes free() itself.
 *
 *   capsule_secrets key KEY.pem
 *       load_private_key from a PEM buffer: searches for a line of the key's base64
 *   capsule_secrets passphrase KEY.pem PASSPHRASE
 *       load_private_key of an encrypted key with its passphrase: searches for the passphrase
 *   capsule_secrets pin URI MODULE PIN
 *       load_pkcs11_private_key with a URI carrying pin-value=PIN: searches for the PIN's bytes
 *       (a decoded copy of the PIN alone would be found, not only the URI's text)
 *
 * Prints "status S copies N" (N freed blocks held the secret).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "openssl_objects.h"

extern void __libc_free(void *pointer);

static char needle[256];
static size_t needle_length;
static int copies;

void free(void *pointer)
{
    if (pointer != NULL && needle_length > 0) {
        size_t size = malloc_usable_size(pointer);
        if (size >= needle_length && memmem(pointer, size, needle, needle_length) != NULL)
            copies++;
    }
    __libc_free(pointer);
}

int main(int argc, char **argv)
{
    const oo_api *api = oo_get_api(OO_API_VERSION);
    if (api == NULL)
        return 2;
    oo_capsule capsule;
    oo_status status;
    if (argc == 3 && strcmp(argv[1], "key") == 0) {
        static unsigned char key[65536];
        FILE *file = fopen(argv[2], "rb");
        if (file == NULL)
            return 2;
        size_t length = fread(key, 1, sizeof key, file);
        fclose(file);
        /* The second line of the PEM: 64 characters of the key's base64. */
        const char *line = memchr(key, '\n', length);
        if (line == NULL || length - (size_t)(line - (char *)key) < 66)
            return 2;
        memcpy(needle, line + 1, 64);
        needle_length = 64;
        status = api->load_private_key(key, length, NULL, 0, &capsule);
    } else if (argc == 4 && strcmp(argv[1], "passphrase") == 0) {
        static unsigned char key[65536];
        FILE *file = fopen(argv[2], "rb");
        if (file == NULL)
            return 2;
        size_t length = fread(key, 1, sizeof key, file);
        fclose(file);
        snprintf(needle, sizeof needle, "%s", argv[3]);
        needle_length = strlen(needle);
        status = api->load_private_key(key, length, (const unsigned char *)argv[3], strlen(argv[3]), &capsule);
    } else if (argc == 5 && strcmp(argv[1], "pin") == 0) {
        snprintf(needle, sizeof needle, "%s", argv[4]);
        needle_length = strlen(needle);
        const char *allowed[] = { argv[3] };
        status = api->load_pkcs11_private_key(argv[2], allowed, 1, &capsule);
    } else {
        fprintf(stderr, "usage: %s key KEY.pem | passphrase KEY.pem PASSPHRASE | pin URI MODULE PIN\n", argv[0]);
        return 2;
    }
    needle_length = 0;
    printf("status %d copies %d %s\n", (int)status, copies, status == OO_OK ? "" : oo_last_error());
    if (status == OO_OK)
        oo_capsule_release(capsule);
    return 0;
}
