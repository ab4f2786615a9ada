/* TLS workloads in C: contexts, handshakes and bulk data over memory BIOs. See cbaseline.h. */
#include "cbaseline.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* What TLSConfiguration's defaults set (Mozilla's intermediate profile). */
static const char cb_cipher_list[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
static const char cb_ciphersuites[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char cb_groups[] = "X25519:P-256:P-384";

struct cb_tls {
  SSL_CTX *client;
  SSL_CTX *server;
  SSL_SESSION *session; /* the client's last session (new-session callback) */
  unsigned char scratch[32768];
  unsigned char record[16384];
};

struct cb_tls_pair {
  cb_tls *tls;
  SSL *client;
  SSL *server;
};

/* MARK: - Contexts */

static int configure(SSL_CTX *context, X509_STORE *store) {
  if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) return 0;
  if (SSL_CTX_set_max_proto_version(context, 0) != 1) return 0;
  SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_clear_options(context, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
  SSL_CTX_set_security_level(context, 2);
  if (SSL_CTX_set_cipher_list(context, cb_cipher_list) != 1) return 0;
  if (SSL_CTX_set_ciphersuites(context, cb_ciphersuites) != 1) return 0;
  if (SSL_CTX_set1_groups_list(context, cb_groups) != 1) return 0;
  if (store != NULL) SSL_CTX_set1_cert_store(context, store);
  return 1;
}

static int new_session(SSL *ssl, SSL_SESSION *session) {
  cb_tls *tls = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  if (tls == NULL) return 0;
  SSL_SESSION_free(tls->session);
  tls->session = session;
  return 1; /* the reference is ours */
}

static SSL_CTX *client_context(X509_STORE *store, int resumption) {
  SSL_CTX *context = SSL_CTX_new(TLS_client_method());
  if (context == NULL) return NULL;
  if (!configure(context, store)) {
    SSL_CTX_free(context);
    return NULL;
  }
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_session_cache_mode(
      context, resumption ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE : SSL_SESS_CACHE_OFF);
  if (resumption) SSL_CTX_sess_set_new_cb(context, new_session);
  return context;
}

int cb_client_context(void *store, long iterations) {
  for (long i = 0; i < iterations; i++) {
    SSL_CTX *context = client_context(store, 1);
    if (context == NULL) return 0;
    SSL_CTX_free(context);
  }
  return 1;
}

int cb_client_context_naive(long iterations) {
  for (long i = 0; i < iterations; i++) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (context == NULL) return 0;
    int ok = SSL_CTX_set_default_verify_paths(context) == 1;
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    SSL_CTX_free(context);
    if (!ok) return 0;
  }
  return 1;
}

cb_tls *cb_tls_new(void *client_store, void *server_store, void *certificate, void *intermediate, void *key,
                   int resumption) {
  cb_tls *tls = OPENSSL_zalloc(sizeof *tls);
  if (tls == NULL) return NULL;
  tls->client = client_context(client_store, resumption);
  tls->server = SSL_CTX_new(TLS_server_method());
  if (tls->client == NULL || tls->server == NULL || !configure(tls->server, server_store)) goto fail;
  SSL_CTX_set_app_data(tls->client, tls);
  STACK_OF(X509) *chain = sk_X509_new_null();
  if (chain == NULL || sk_X509_push(chain, intermediate) <= 0) {
    sk_X509_free(chain);
    goto fail;
  }
  int used = SSL_CTX_use_cert_and_key(tls->server, certificate, key, chain, 1);
  sk_X509_free(chain);
  if (used != 1) goto fail;
  SSL_CTX_set_verify(tls->server, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(tls->server, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(tls->server, 1024);
  SSL_CTX_set_num_tickets(tls->server, 2);
  static const unsigned char id_context[32] = "OpenSSLObjects benchmark server";
  if (SSL_CTX_set_session_id_context(tls->server, id_context, sizeof id_context) != 1) goto fail;
  return tls;
fail:
  cb_tls_free(tls);
  return NULL;
}

void cb_tls_free(cb_tls *tls) {
  if (tls == NULL) return;
  SSL_SESSION_free(tls->session);
  SSL_CTX_free(tls->client);
  SSL_CTX_free(tls->server);
  OPENSSL_free(tls);
}

/* MARK: - Connections */

/* SSL_new over two memory BIOs; an empty input buffer means "no data yet". */
static SSL *new_connection(SSL_CTX *context) {
  SSL *ssl = SSL_new(context);
  if (ssl == NULL) return NULL;
  BIO *incoming = BIO_new(BIO_s_mem());
  BIO *outgoing = BIO_new(BIO_s_mem());
  if (incoming == NULL || outgoing == NULL) {
    BIO_free(incoming);
    BIO_free(outgoing);
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_mem_eof_return(incoming, -1);
  SSL_set_bio(ssl, incoming, outgoing);
  return ssl;
}

static SSL *new_client(cb_tls *tls, const char *host, int resume) {
  SSL *ssl = new_connection(tls->client);
  if (ssl == NULL) return NULL;
  SSL_set_connect_state(ssl);
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
#if OPENSSL_VERSION_MAJOR >= 4
  int named = SSL_set1_dnsname(ssl, host); /* SSL_set1_host is deprecated in OpenSSL 4.0 */
#else
  int named = SSL_set1_host(ssl, host);
#endif
  if (SSL_set_tlsext_host_name(ssl, host) != 1 || named != 1) {
    SSL_free(ssl);
    return NULL;
  }
  if (resume && tls->session != NULL && SSL_SESSION_is_resumable(tls->session)) SSL_set_session(ssl, tls->session);
  return ssl;
}

/* What one side wrote, handed to the other (what takeOutput and receive do). */
static int move(cb_tls *tls, SSL *from, SSL *to) {
  BIO *out = SSL_get_wbio(from);
  BIO *in = SSL_get_rbio(to);
  size_t pending;
  while ((pending = BIO_ctrl_pending(out)) > 0) {
    int chunk = (int)(pending < sizeof tls->scratch ? pending : sizeof tls->scratch);
    int read = BIO_read(out, tls->scratch, chunk);
    if (read <= 0 || BIO_write(in, tls->scratch, read) != read) return 0;
  }
  return 1;
}

/* One SSL_do_handshake step: 1 when it went on or finished, 0 on failure. */
static int step(SSL *ssl, int *done) {
  if (*done) return 1;
  int status = SSL_do_handshake(ssl);
  if (status == 1) {
    *done = 1;
    return 1;
  }
  int error = SSL_get_error(ssl, status);
  return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
}

/* Both handshakes, then the client reads what is in flight (the TLS 1.3 tickets). */
static int handshake(cb_tls *tls, SSL *client, SSL *server) {
  int client_done = 0, server_done = 0;
  for (int round = 0; round < 10; round++) {
    if (!step(client, &client_done) || !move(tls, client, server)) return 0;
    if (!step(server, &server_done) || !move(tls, server, client)) return 0;
    if (client_done && server_done) {
      size_t count = 0;
      if (SSL_read_ex(client, tls->record, sizeof tls->record, &count) == 1) return 1;
      return SSL_get_error(client, 0) == SSL_ERROR_WANT_READ;
    }
  }
  return 0;
}

/* close_notify both ways, as a clean close does, so the session stays resumable. */
static int close_cleanly(cb_tls *tls, SSL *client, SSL *server) {
  if (SSL_shutdown(client) < 0 || !move(tls, client, server)) return 0;
  size_t count = 0;
  if (SSL_read_ex(server, tls->record, sizeof tls->record, &count) == 1 ||
      SSL_get_error(server, 0) != SSL_ERROR_ZERO_RETURN) {
    return 0;
  }
  if (SSL_shutdown(server) != 1 || !move(tls, server, client)) return 0;
  return SSL_shutdown(client) == 1;
}

int cb_tls_handshake(cb_tls *tls, const char *host, int resume, long iterations) {
  for (long i = 0; i < iterations; i++) {
    SSL *client = new_client(tls, host, resume);
    SSL *server = new_connection(tls->server);
    int ok = client != NULL && server != NULL;
    if (ok) SSL_set_accept_state(server);
    ok = ok && handshake(tls, client, server);
    if (ok && resume) ok = close_cleanly(tls, client, server) && (resume == 2 || SSL_session_reused(client) == 1);
    SSL_free(client);
    SSL_free(server);
    if (!ok) return 0;
  }
  return 1;
}

cb_tls_pair *cb_tls_pair_new(cb_tls *tls, const char *host) {
  cb_tls_pair *pair = OPENSSL_zalloc(sizeof *pair);
  if (pair == NULL) return NULL;
  pair->tls = tls;
  pair->client = new_client(tls, host, 0);
  pair->server = new_connection(tls->server);
  if (pair->client == NULL || pair->server == NULL) {
    cb_tls_pair_free(pair);
    return NULL;
  }
  SSL_set_accept_state(pair->server);
  if (!handshake(tls, pair->client, pair->server)) {
    cb_tls_pair_free(pair);
    return NULL;
  }
  return pair;
}

void cb_tls_pair_free(cb_tls_pair *pair) {
  if (pair == NULL) return;
  SSL_free(pair->client);
  SSL_free(pair->server);
  OPENSSL_free(pair);
}

int cb_tls_bulk(cb_tls_pair *pair, const uint8_t *data, size_t length, long iterations) {
  cb_tls *tls = pair->tls;
  for (long i = 0; i < iterations; i++) {
    size_t written = 0;
    if (SSL_write_ex(pair->client, data, length, &written) != 1 || written != length) return 0;
    if (!move(tls, pair->client, pair->server)) return 0;
    size_t received = 0;
    while (received < length) {
      size_t count = 0;
      if (SSL_read_ex(pair->server, tls->record, sizeof tls->record, &count) != 1) return 0;
      received += count;
    }
  }
  return 1;
}
