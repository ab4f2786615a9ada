/*
 * libcurl for the tests that hand our SSL_CTX configuration to a C library. curl_easy_setopt and
 * curl_easy_getinfo are variadic: each shim names the option it sets.
 */
#ifndef OPENSSLOBJECTS_CCURL_SHIM_H
#define OPENSSLOBJECTS_CCURL_SHIM_H
#include <curl/curl.h>

typedef CURLcode (*oo_curl_ssl_ctx_callback)(CURL *curl, void *ssl_ctx, void *userptr);
typedef size_t (*oo_curl_write_callback)(char *data, size_t size, size_t count, void *userptr);

/* CURLOPT_URL */
static inline CURLcode oo_curl_set_url(CURL *c, const char *url) { return curl_easy_setopt(c, CURLOPT_URL, url); }
/* CURLOPT_SSL_CTX_FUNCTION */
static inline CURLcode oo_curl_set_ssl_ctx_function(CURL *c, oo_curl_ssl_ctx_callback f) { return curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, f); }
/* CURLOPT_SSL_CTX_DATA */
static inline CURLcode oo_curl_set_ssl_ctx_data(CURL *c, void *data) { return curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, data); }
/* CURLOPT_WRITEFUNCTION */
static inline CURLcode oo_curl_set_write_function(CURL *c, oo_curl_write_callback f) { return curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f); }
/* CURLOPT_WRITEDATA */
static inline CURLcode oo_curl_set_write_data(CURL *c, void *data) { return curl_easy_setopt(c, CURLOPT_WRITEDATA, data); }
/* CURLOPT_TIMEOUT */
static inline CURLcode oo_curl_set_timeout(CURL *c, long seconds) { return curl_easy_setopt(c, CURLOPT_TIMEOUT, seconds); }
/* CURLOPT_NOPROXY "*": never a proxy for the tests' loopback server */
static inline CURLcode oo_curl_set_no_proxy(CURL *c) { return curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); }
/* CURLOPT_CAINFO / CURLOPT_CAPATH to nothing: trust comes from the SSL_CTX configuration only */
static inline CURLcode oo_curl_set_no_default_trust(CURL *c) {
    CURLcode rc = curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    return rc;
}
/* CURLOPT_CAINFO: curl's own CA bundle, which it loads into the SSL_CTX's store */
static inline CURLcode oo_curl_set_cainfo(CURL *c, const char *file) { return curl_easy_setopt(c, CURLOPT_CAINFO, file); }
/* CURLOPT_RESOLVE */
static inline CURLcode oo_curl_set_resolve(CURL *c, struct curl_slist *list) { return curl_easy_setopt(c, CURLOPT_RESOLVE, list); }
/* CURLINFO_RESPONSE_CODE */
static inline CURLcode oo_curl_get_response_code(CURL *c, long *code) { return curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code); }
#endif
