/* OCSP staple validation in C. See cbaseline.h. */
#include "cbaseline.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

/* The seven days and five minutes of OCSPValidationOptions' defaults. */
#define CB_OCSP_CLOCK_SKEW 300L
#define CB_OCSP_MAXIMUM_AGE (7L * 86400L)

static int validate_once(const uint8_t *der, size_t length, X509_STORE *store, OCSP_CERTID *id) {
  const unsigned char *cursor = der;
  OCSP_RESPONSE *response = d2i_OCSP_RESPONSE(NULL, &cursor, (long)length);
  if (response == NULL || cursor != der + length ||
      OCSP_response_status(response) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    OCSP_RESPONSE_free(response);
    return 0;
  }
  OCSP_BASICRESP *basic = OCSP_response_get1_basic(response);
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked = NULL, *this_update = NULL, *next_update = NULL;
  int ok = basic != NULL && OCSP_basic_verify(basic, NULL, store, 0) == 1 &&
           OCSP_resp_find_status(basic, id, &status, &reason, &revoked, &this_update, &next_update) == 1 &&
           status == V_OCSP_CERTSTATUS_GOOD &&
           OCSP_check_validity(this_update, next_update, CB_OCSP_CLOCK_SKEW, CB_OCSP_MAXIMUM_AGE) == 1;
  OCSP_BASICRESP_free(basic);
  OCSP_RESPONSE_free(response);
  return ok;
}

int cb_ocsp_validate(const uint8_t *der, size_t length, void *store, void *id, long iterations) {
  int ok = 1;
  for (long i = 0; ok && i < iterations; i++) ok = validate_once(der, length, store, id);
  return ok;
}
