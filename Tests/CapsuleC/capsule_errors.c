/*
 * Every misuse gets its own status, never a crash: wrong type, released capsule, forged capsule,
 * ABI and API version mismatches, a foreign libcrypto, unsupported ownership.
 *
 *   capsule_errors CERT.pem    prints one line per case: "name status text"
 */
#include <stdio.h>
#include <openssl/pem.h>
#include "openssl_objects.h"

static void report(const char *name, oo_status status)
{
    printf("%s %d %s\n", name, (int)status, status == OO_OK ? "" : oo_last_error());
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    FILE *file = fopen(argv[1], "r");
    X509 *certificate = file ? PEM_read_X509(file, NULL, NULL, NULL) : NULL;
    if (file) fclose(file);
    if (certificate == NULL)
        return 2;

    oo_capsule capsule;
    report("make", oo_capsule_make(OO_TYPE_X509, certificate, OO_RETAIN, &capsule));

    void *wrong = oo_capsule_get(capsule, OO_TYPE_EVP_PKEY);
    report("wrong-type", wrong == NULL ? oo_last_status() : OO_OK);

    oo_capsule forged = { capsule.handle ^ 0x5a5a5a5a5a5aULL };
    report("forged", oo_capsule_get(forged, OO_TYPE_X509) == NULL ? oo_last_status() : OO_OK);
    oo_capsule empty = { 0 };
    report("empty", oo_capsule_get(empty, OO_TYPE_X509) == NULL ? oo_last_status() : OO_OK);

    report("abi-major", oo_abi_check(OO_ABI_VERSION_MAJOR + 1, 0));
    report("abi-minor", oo_abi_check(OO_ABI_VERSION_MAJOR, OO_ABI_VERSION_MINOR + 1));
    report("api", oo_get_api(OO_API_VERSION + 1) == NULL ? oo_last_status() : OO_OK);

    oo_libcrypto_identity foreign = { 0x10101000UL, (const void *)&report };
    oo_capsule other;
    report("foreign-make", oo_capsule_make_with_identity(OO_TYPE_X509, certificate, OO_RETAIN, &foreign, &other));
    report("foreign-get", oo_capsule_get_with_identity(capsule, OO_TYPE_X509, &foreign) == NULL ? oo_last_status() : OO_OK);

    report("retain-ocsp", oo_capsule_make(OO_TYPE_OCSP_RESPONSE, certificate, OO_RETAIN, &other));
    report("copy-x509", oo_capsule_make(OO_TYPE_X509, certificate, OO_COPY, &other));
    report("lend-x509", oo_capsule_make(OO_TYPE_X509, certificate, OO_LEND, &other));
    report("unknown-type", oo_capsule_make((oo_type)99, certificate, OO_RETAIN, &other));
    report("null-object", oo_capsule_make(OO_TYPE_X509, NULL, OO_RETAIN, &other));

    report("release", oo_capsule_release(capsule));
    report("released", oo_capsule_get(capsule, OO_TYPE_X509) == NULL ? oo_last_status() : OO_OK);
    report("released-again", oo_capsule_release(capsule));

    X509_free(certificate);
    return 0;
}
