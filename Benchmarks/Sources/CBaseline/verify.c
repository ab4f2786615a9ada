/* Chain verification in C. See cbaseline.h. */
#include "cbaseline.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

int cb_verify_chain(void *store, void *leaf, void *intermediate, const char *host, long iterations) {
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  if (untrusted == NULL || sk_X509_push(untrusted, intermediate) <= 0) {
    sk_X509_free(untrusted);
    return 0;
  }
  int ok = 1;
  for (long i = 0; ok && i < iterations; i++) {
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    ok = context != NULL && X509_STORE_CTX_init(context, store, leaf, untrusted) == 1;
    if (ok) {
      X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(context);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 && X509_verify_cert(context) == 1 &&
           X509_STORE_CTX_get_error(context) == X509_V_OK;
    }
    if (ok) {
      /* The verified chain, as the Swift API returns it. */
      STACK_OF(X509) *chain = X509_STORE_CTX_get1_chain(context);
      ok = chain != NULL && sk_X509_num(chain) == 3;
      sk_X509_pop_free(chain, X509_free);
    }
    X509_STORE_CTX_free(context);
  }
  sk_X509_free(untrusted);
  return ok;
}
