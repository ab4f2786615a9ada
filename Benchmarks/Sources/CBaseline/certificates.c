/* Certificate workloads in C: parsing and reading extensions. See cbaseline.h. */
#include "cbaseline.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Defeats dead-code elimination of values the workloads read. */
static volatile size_t cb_sink;

int cb_parse_certificate_der(const uint8_t *der, size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    const unsigned char *cursor = der;
    X509 *x509 = d2i_X509(NULL, &cursor, (long)length);
    if (x509 == NULL) return 0;
    if (cursor != der + length) { /* trailing bytes */
      X509_free(x509);
      return 0;
    }
    X509_free(x509);
  }
  return 1;
}

int cb_parse_certificate_pem(const uint8_t *pem, size_t length, long iterations) {
  for (long i = 0; i < iterations; i++) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) return 0;
    X509 *x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (x509 == NULL) return 0;
    X509_free(x509);
  }
  return 1;
}

/* MARK: - Extensions */

/* Reads one ASN1_OBJECT as the Swift OID does: its dotted text (OBJ_obj2txt). */
static size_t read_object(const ASN1_OBJECT *object) {
  char text[128];
  int length = OBJ_obj2txt(text, sizeof text, object, 1);
  return length > 0 ? (size_t)length + (unsigned char)text[0] : 0;
}

static size_t read_string(const ASN1_STRING *string) {
  if (string == NULL) return 0;
  const unsigned char *data = ASN1_STRING_get0_data(string);
  int length = ASN1_STRING_length(string);
  return (size_t)length + (length > 0 ? data[length - 1] : 0);
}

static size_t read_general_name(const GENERAL_NAME *name) {
  switch (name->type) {
  case GEN_DNS: return read_string(name->d.dNSName);
  case GEN_EMAIL: return read_string(name->d.rfc822Name);
  case GEN_URI: return read_string(name->d.uniformResourceIdentifier);
  case GEN_IPADD: return read_string(name->d.iPAddress);
  case GEN_RID: return read_object(name->d.registeredID);
  case GEN_DIRNAME: {
    X509_NAME *copy = X509_NAME_dup(name->d.directoryName); /* kept beyond the extension, as Swift does */
    size_t n = (size_t)X509_NAME_entry_count(copy);
    X509_NAME_free(copy);
    return n;
  }
  default: {
    unsigned char *der = NULL;
    int length = i2d_GENERAL_NAME((GENERAL_NAME *)name, &der);
    OPENSSL_free(der);
    return (size_t)length;
  }
  }
}

static size_t read_general_names(const GENERAL_NAMES *names) {
  size_t sum = 0;
  for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
    sum += read_general_name(sk_GENERAL_NAME_value(names, i));
  }
  return sum;
}

/* X509_get_ext_d2i: NULL with crit -1 is "absent", anything else but a value is a failure. */
#define GET(type, nid)                                                                             \
  type *value = X509_get_ext_d2i(x509, nid, &critical, NULL);                                      \
  if (value == NULL && critical != -1) return 0

static int read_once(const X509 *x509, size_t *sum) {
  int critical = 0;
  {
    GET(GENERAL_NAMES, NID_subject_alt_name);
    *sum += read_general_names(value);
    GENERAL_NAMES_free(value);
  }
  {
    GET(GENERAL_NAMES, NID_issuer_alt_name);
    *sum += read_general_names(value);
    GENERAL_NAMES_free(value);
  }
  {
    GET(ASN1_BIT_STRING, NID_key_usage);
    for (int bit = 0; value != NULL && bit < 9; bit++) *sum += (size_t)ASN1_BIT_STRING_get_bit(value, bit);
    ASN1_BIT_STRING_free(value);
  }
  {
    GET(EXTENDED_KEY_USAGE, NID_ext_key_usage);
    for (int i = 0; value != NULL && i < sk_ASN1_OBJECT_num(value); i++) {
      *sum += read_object(sk_ASN1_OBJECT_value(value, i));
    }
    EXTENDED_KEY_USAGE_free(value);
  }
  {
    GET(BASIC_CONSTRAINTS, NID_basic_constraints);
    if (value != NULL) *sum += (size_t)value->ca + (value->pathlen ? (size_t)ASN1_INTEGER_get(value->pathlen) : 0);
    BASIC_CONSTRAINTS_free(value);
  }
  {
    GET(NAME_CONSTRAINTS, NID_name_constraints);
    if (value != NULL) {
      STACK_OF(GENERAL_SUBTREE) *trees[2] = {value->permittedSubtrees, value->excludedSubtrees};
      for (int t = 0; t < 2; t++) {
        for (int i = 0; trees[t] != NULL && i < sk_GENERAL_SUBTREE_num(trees[t]); i++) {
          *sum += read_general_name(sk_GENERAL_SUBTREE_value(trees[t], i)->base);
        }
      }
    }
    NAME_CONSTRAINTS_free(value);
  }
  {
    GET(AUTHORITY_INFO_ACCESS, NID_info_access);
    for (int i = 0; value != NULL && i < sk_ACCESS_DESCRIPTION_num(value); i++) {
      ACCESS_DESCRIPTION *description = sk_ACCESS_DESCRIPTION_value(value, i);
      *sum += read_object(description->method) + read_general_name(description->location);
    }
    AUTHORITY_INFO_ACCESS_free(value);
  }
  {
    GET(CRL_DIST_POINTS, NID_crl_distribution_points);
    for (int i = 0; value != NULL && i < sk_DIST_POINT_num(value); i++) {
      DIST_POINT *point = sk_DIST_POINT_value(value, i);
      if (point->distpoint != NULL && point->distpoint->type == 0) {
        *sum += read_general_names(point->distpoint->name.fullname);
      }
      *sum += read_general_names(point->CRLissuer);
    }
    CRL_DIST_POINTS_free(value);
  }
  {
    GET(ASN1_OCTET_STRING, NID_subject_key_identifier);
    *sum += read_string(value);
    ASN1_OCTET_STRING_free(value);
  }
  {
    GET(AUTHORITY_KEYID, NID_authority_key_identifier);
    if (value != NULL) {
      *sum += read_string(value->keyid) + read_general_names(value->issuer) + read_string(value->serial);
    }
    AUTHORITY_KEYID_free(value);
  }
  {
    GET(TLS_FEATURE, NID_tlsfeature);
    for (int i = 0; value != NULL && i < sk_ASN1_INTEGER_num(value); i++) {
      *sum += (size_t)ASN1_INTEGER_get(sk_ASN1_INTEGER_value(value, i));
    }
    TLS_FEATURE_free(value);
  }
  {
    GET(ASN1_NULL, NID_id_pkix_OCSP_noCheck);
    *sum += value != NULL;
    ASN1_NULL_free(value);
  }
  return 1;
}

int cb_read_extensions(const void *x509, long iterations) {
  size_t sum = 0;
  for (long i = 0; i < iterations; i++) {
    if (!read_once(x509, &sum)) return 0;
  }
  cb_sink = sum;
  return 1;
}
