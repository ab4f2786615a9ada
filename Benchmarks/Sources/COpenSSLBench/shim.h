/* OpenSSL for the benchmark's C targets (headers and link flags through pkg-config). */
#include <openssl/crypto.h>
