/*
 * Makes an X509 and an EVP_PKEY with plain OpenSSL calls, hands them to the library through
 * capsules (adopted), and lets the library use them: the SPKI pin of the certificate, and a
 * signature with the key that C verifies. Everything is released; run under AddressSanitizer's
 * leak check.
 *
 *   capsule_objects CERT.pem KEY.pem    prints the pin; exit 0 if the signature verifies
 */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "openssl_objects.h"

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    FILE *file = fopen(argv[1], "r");
    X509 *certificate = file ? PEM_read_X509(file, NULL, NULL, NULL) : NULL;
    if (file) fclose(file);
    file = fopen(argv[2], "r");
    EVP_PKEY *key = file ? PEM_read_PrivateKey(file, NULL, NULL, NULL) : NULL;
    if (file) fclose(file);
    if (certificate == NULL || key == NULL)
        return 2;

    const oo_api *api = oo_get_api(1);
    oo_capsule certificate_capsule, key_capsule;
    if (oo_capsule_make(OO_TYPE_X509, certificate, OO_ADOPT, &certificate_capsule) != OO_OK
        || oo_capsule_make(OO_TYPE_EVP_PKEY, key, OO_ADOPT, &key_capsule) != OO_OK) {
        fprintf(stderr, "make: %s\n", oo_last_error());
        return 2;
    }
    char pin[128];
    if (api->spki_pin(certificate_capsule, pin, sizeof(pin)) != OO_OK) {
        fprintf(stderr, "pin: %s\n", oo_last_error());
        return 2;
    }
    printf("pin %s\n", pin);

    const unsigned char message[] = "signed by Swift with a key C made";
    unsigned char signature[512];
    size_t length = sizeof(signature);
    if (api->sign(key_capsule, message, sizeof(message) - 1, signature, &length) != OO_OK) {
        fprintf(stderr, "sign: %s\n", oo_last_error());
        return 2;
    }
    /* C verifies with the certificate's public key, through a reference of its own. */
    X509 *mine = oo_capsule_get1(certificate_capsule, OO_TYPE_X509);
    EVP_PKEY *public_key = X509_get0_pubkey(mine);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int verified = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, public_key) == 1
        && EVP_DigestVerify(md, signature, length, message, sizeof(message) - 1) == 1;
    EVP_MD_CTX_free(md);
    X509_free(mine);
    oo_capsule_release(certificate_capsule);
    oo_capsule_release(key_capsule);
    printf("signature %s\n", verified ? "verified" : "failed");
    return verified ? 0 : 1;
}
