/*
 * Which shared libraries another loaded library was linked against: for telling whether libp11 or
 * libcurl link the same libcrypto / libssl as this process (two OpenSSLs in one process must never
 * exchange objects).
 */
#ifndef OO_LINKED_LIBRARIES_H
#define OO_LINKED_LIBRARIES_H
#include <stddef.h>

/*
 * Finds the first loaded object whose path contains `object` (for example "libp11.so") and copies
 * into `out` (NUL-terminated, at most `size` bytes) the first of its DT_NEEDED entries that starts
 * with `prefix` (for example "libcrypto.so."). Returns 1 when found, 0 when the object is not
 * loaded or needs no such library.
 */
int oo_needed_library(const char *object, const char *prefix, char *out, size_t size);

#endif
