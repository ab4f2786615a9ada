/*
 * Heap allocations, counted rather than guessed.
 *
 * Two counters:
 *   - every allocation in the process: this target defines malloc, calloc, realloc, free,
 *     posix_memalign, aligned_alloc, memalign and valloc. The executable that links it exports
 *     them, so by ELF symbol interposition they replace glibc's for the whole process (Swift's
 *     runtime, Foundation, libcrypto) without LD_PRELOAD; each forwards to glibc's own
 *     __libc_malloc family. Only the executable that measures allocations links this target.
 *   - OpenSSL's allocations: CRYPTO_set_mem_functions routes CRYPTO_malloc/realloc/free through
 *     counting functions (which allocate through the counted malloc above).
 * Swift's share of an operation is the first count minus the second.
 */
#ifndef OPENSSLOBJECTS_BENCHMARKS_ALLOCATION_COUNTER_H
#define OPENSSLOBJECTS_BENCHMARKS_ALLOCATION_COUNTER_H

#include <stdint.h>

typedef struct {
  uint64_t allocations; /* malloc, calloc, the aligned forms, and realloc of NULL */
  uint64_t reallocations; /* realloc of an existing block */
  uint64_t frees;       /* free of a non-NULL pointer */
  uint64_t bytes;       /* bytes requested by allocations and reallocations */
} ac_counts;

/* Installs OpenSSL's counting memory functions; must run before OpenSSL allocates anything.
 * Returns 1 on success. */
int ac_install_openssl_counter(void);

/* Starts or stops counting (both counters). Counting is per process, not per thread: run the
 * measured code on one thread. */
void ac_set_counting(int enabled);

/* The counts since the last reset. */
ac_counts ac_process_counts(void);
ac_counts ac_openssl_counts(void);
void ac_reset(void);

/* Whether the interposed malloc is the one the process uses (a malloc made through the dynamic
 * symbol was counted). */
int ac_interposition_works(void);

#endif
