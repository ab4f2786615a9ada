/* Key-loading workloads in C. See cbaseline.h. */
#include "cbaseline.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

int cb_load_encrypted_pkcs8(const uint8_t *pem, size_t length, const uint8_t *passphrase,
                            size_t passphrase_length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return 0;
    X509_SIG *encrypted = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (encrypted == NULL) return 0;
    PKCS8_PRIV_KEY_INFO *info =
        PKCS8_decrypt_ex(encrypted, (const char *)passphrase, (int)passphrase_length, NULL, NULL);
    X509_SIG_free(encrypted);
    if (info == NULL) return 0;
    EVP_PKEY *key = EVP_PKCS82PKEY_ex(info, NULL, NULL);
    PKCS8_PRIV_KEY_INFO_free(info);
    if (key == NULL) return 0;
    EVP_PKEY_free(key);
  }
  return 1;
}

struct passphrase {
  const uint8_t *bytes;
  size_t length;
};

static int passphrase_callback(char *buffer, int size, int rwflag, void *argument) {
  (void)rwflag;
  const struct passphrase *passphrase = argument;
  if (passphrase->length > (size_t)size) return -1;
  memcpy(buffer, passphrase->bytes, passphrase->length);
  return (int)passphrase->length;
}

int cb_load_encrypted_pkcs8_naive(const uint8_t *pem, size_t length, const uint8_t *passphrase,
                                  size_t passphrase_length, long iterations) {
  struct passphrase argument = {passphrase, passphrase_length};
  for (long i = 0; i < iterations; i++) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return 0;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, passphrase_callback, &argument);
    BIO_free(bio);
    if (key == NULL) return 0;
    EVP_PKEY_free(key);
  }
  return 1;
}

int cb_load_pkcs8(const uint8_t *pem, size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return 0;
    PKCS8_PRIV_KEY_INFO *info = PEM_read_bio_PKCS8_PRIV_KEY_INFO(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (info == NULL) return 0;
    EVP_PKEY *key = EVP_PKCS82PKEY_ex(info, NULL, NULL);
    PKCS8_PRIV_KEY_INFO_free(info);
    if (key == NULL) return 0;
    EVP_PKEY_free(key);
  }
  return 1;
}

int cb_load_pkcs8_naive(const uint8_t *pem, size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return 0;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (key == NULL) return 0;
    EVP_PKEY_free(key);
  }
  return 1;
}
