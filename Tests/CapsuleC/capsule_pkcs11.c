/*
 * Loads a key from a pkcs11: URI through the API table and signs with it on the token; C
 * verifies the signature with the public key file.
 *
 *   capsule_pkcs11 URI MODULE PUBLIC.pem    exit 0 if the signature verifies
 */
#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "openssl_objects.h"

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const oo_api *api = oo_get_api(1);
    const char *modules[] = { argv[2] };
    oo_capsule key;
    if (api->load_pkcs11_private_key(argv[1], modules, 1, &key) != OO_OK) {
        fprintf(stderr, "load: %s\n", oo_last_error());
        return 2;
    }
    const unsigned char message[] = "signed on the token";
    unsigned char signature[512];
    size_t length = sizeof(signature);
    if (api->sign(key, message, sizeof(message) - 1, signature, &length) != OO_OK) {
        fprintf(stderr, "sign: %s\n", oo_last_error());
        return 2;
    }
    oo_capsule_release(key);
    FILE *file = fopen(argv[3], "r");
    EVP_PKEY *public_key = file ? PEM_read_PUBKEY(file, NULL, NULL, NULL) : NULL;
    if (file) fclose(file);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int verified = public_key != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, public_key) == 1
        && EVP_DigestVerify(md, signature, length, message, sizeof(message) - 1) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(public_key);
    printf("token signature %s (%zu bytes)\n", verified ? "verified" : "failed", length);
    return verified ? 0 : 1;
}
