/* The three libcurl options the example sets (curl_easy_setopt is variadic). */
#include <curl/curl.h>
typedef CURLcode (*example_ssl_ctx_callback)(CURL *curl, void *ssl_ctx, void *userptr);
/* CURLOPT_URL */
static inline CURLcode example_set_url(CURL *c, const char *url) { return curl_easy_setopt(c, CURLOPT_URL, url); }
/* CURLOPT_SSL_CTX_FUNCTION */
static inline CURLcode example_set_ssl_ctx_function(CURL *c, example_ssl_ctx_callback f) { return curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, f); }
/* CURLOPT_SSL_CTX_DATA */
static inline CURLcode example_set_ssl_ctx_data(CURL *c, void *data) { return curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, data); }
/* CURLOPT_CAINFO and CURLOPT_CAPATH to NULL: curl loads its default CA bundle into the SSL_CTX's
 * store after CURLOPT_SSL_CTX_FUNCTION ran, which would add it to a store of our own. */
static inline CURLcode example_set_no_default_trust(CURL *c) {
    CURLcode rc = curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    return rc;
}
