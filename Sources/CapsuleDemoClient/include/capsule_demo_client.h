/*
 * The C side of `openssl-objects demo`: plain C code that receives a client SSL_CTX, configured
 * in Swift, through a capsule (include/openssl_objects.h) and connects with OpenSSL's own calls.
 */
#ifndef OPENSSLOBJECTS_CAPSULE_DEMO_CLIENT_H
#define OPENSSLOBJECTS_CAPSULE_DEMO_CLIENT_H

#include <stddef.h>
#include "../../../include/openssl_objects.h"

/*
 * Takes its own reference to the SSL_CTX in `context` (oo_capsule_get1), releases the capsule,
 * connects to 127.0.0.1:port, runs the handshake for `host`, and writes one line about it into
 * `report`. Returns 0 when the handshake succeeded, 1 when it was refused, 2 when it could not run.
 */
int oo_demo_connect_from_c(oo_capsule context, int port, const char *host, char *report, size_t report_size);

#endif
