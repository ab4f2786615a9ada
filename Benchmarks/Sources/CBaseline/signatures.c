/* Signature workloads in C. See cbaseline.h. */
#include "cbaseline.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct cb_signer {
  EVP_PKEY *pkey;
  EVP_MD *md;                     /* fetched once, as Digest does; NULL for EdDSA */
  const EVP_MD *(*legacy)(void);  /* the implicit form: EVP_sha256() and friends */
};

static const EVP_MD *(*legacy_getter(const char *name))(void) {
  if (strcmp(name, "SHA2-256") == 0) return EVP_sha256;
  if (strcmp(name, "SHA2-384") == 0) return EVP_sha384;
  if (strcmp(name, "SHA2-512") == 0) return EVP_sha512;
  return NULL;
}

cb_signer *cb_signer_new(void *pkey, const char *digest) {
  cb_signer *signer = calloc(1, sizeof *signer);
  if (signer == NULL) return NULL;
  if (digest != NULL) {
    signer->md = EVP_MD_fetch(NULL, digest, NULL);
    signer->legacy = legacy_getter(digest);
    if (signer->md == NULL || signer->legacy == NULL) {
      EVP_MD_free(signer->md);
      free(signer);
      return NULL;
    }
  }
  if (EVP_PKEY_up_ref(pkey) != 1) {
    EVP_MD_free(signer->md);
    free(signer);
    return NULL;
  }
  signer->pkey = pkey;
  return signer;
}

void cb_signer_free(cb_signer *signer) {
  if (signer == NULL) return;
  EVP_PKEY_free(signer->pkey);
  EVP_MD_free(signer->md);
  free(signer);
}

static int sign_once(const cb_signer *signer, const EVP_MD *md, const uint8_t *message, size_t length,
                     uint8_t *out, size_t *out_length) {
  EVP_MD_CTX *context = EVP_MD_CTX_new();
  if (context == NULL) return 0;
  int ok = 0;
  size_t signature_length = 0;
  if (EVP_DigestSignInit(context, NULL, md, NULL, signer->pkey) != 1) goto done;
  if (EVP_DigestSign(context, NULL, &signature_length, message, length) != 1) goto done;
  unsigned char *signature = OPENSSL_malloc(signature_length);
  if (signature == NULL) goto done;
  if (EVP_DigestSign(context, signature, &signature_length, message, length) == 1) {
    ok = 1;
    if (out != NULL && out_length != NULL && signature_length <= *out_length) {
      memcpy(out, signature, signature_length);
      *out_length = signature_length;
    }
  }
  OPENSSL_free(signature);
done:
  EVP_MD_CTX_free(context);
  return ok;
}

int cb_sign(const cb_signer *signer, const uint8_t *message, size_t length, long iterations, uint8_t *signature,
            size_t *signature_length) {
  for (long i = 0; i < iterations; i++) {
    if (!sign_once(signer, signer->md, message, length, i + 1 == iterations ? signature : NULL,
                   signature_length)) {
      return 0;
    }
  }
  return 1;
}

int cb_sign_naive(const cb_signer *signer, const uint8_t *message, size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    if (!sign_once(signer, signer->legacy != NULL ? signer->legacy() : NULL, message, length, NULL, NULL)) {
      return 0;
    }
  }
  return 1;
}

static int verify_once(const cb_signer *signer, const EVP_MD *md, const uint8_t *signature,
                       size_t signature_length, const uint8_t *message, size_t length) {
  EVP_MD_CTX *context = EVP_MD_CTX_new();
  if (context == NULL) return 0;
  int ok = EVP_DigestVerifyInit(context, NULL, md, NULL, signer->pkey) == 1 &&
           EVP_DigestVerify(context, signature, signature_length, message, length) == 1;
  EVP_MD_CTX_free(context);
  return ok;
}

int cb_verify(const cb_signer *signer, const uint8_t *signature, size_t signature_length, const uint8_t *message,
              size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    if (!verify_once(signer, signer->md, signature, signature_length, message, length)) return 0;
  }
  return 1;
}

int cb_verify_naive(const cb_signer *signer, const uint8_t *signature, size_t signature_length,
                    const uint8_t *message, size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    const EVP_MD *md = signer->legacy != NULL ? signer->legacy() : NULL;
    if (!verify_once(signer, md, signature, signature_length, message, length)) return 0;
  }
  return 1;
}
