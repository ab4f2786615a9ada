/* See allocation_counter.h. */
#include "allocation_counter.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/crypto.h>

/* glibc's own allocator entry points (exported by libc.so.6). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);

static int counting;
static ac_counts process_counts;
static ac_counts openssl_counts;

static inline void count_allocation(ac_counts *counts, size_t size) {
  counts->allocations++;
  counts->bytes += size;
}

/* MARK: - The process's allocator, interposed */

void *malloc(size_t size) {
  void *pointer = __libc_malloc(size);
  if (counting && pointer != NULL) count_allocation(&process_counts, size);
  return pointer;
}

void *calloc(size_t count, size_t size) {
  void *pointer = __libc_calloc(count, size);
  if (counting && pointer != NULL) count_allocation(&process_counts, count * size);
  return pointer;
}

void *realloc(void *old, size_t size) {
  void *pointer = __libc_realloc(old, size);
  if (counting && pointer != NULL) {
    if (old == NULL) {
      count_allocation(&process_counts, size);
    } else {
      process_counts.reallocations++;
      process_counts.bytes += size;
    }
  }
  return pointer;
}

void free(void *pointer) {
  if (counting && pointer != NULL) process_counts.frees++;
  __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
  void *pointer = __libc_memalign(alignment, size);
  if (counting && pointer != NULL) count_allocation(&process_counts, size);
  return pointer;
}

void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
  if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void *pointer = memalign(alignment, size);
  if (pointer == NULL) return ENOMEM;
  *result = pointer;
  return 0;
}

void *valloc(size_t size) {
  void *pointer = __libc_valloc(size);
  if (counting && pointer != NULL) count_allocation(&process_counts, size);
  return pointer;
}

/* MARK: - OpenSSL's allocator */

static void *openssl_malloc(size_t size, const char *file, int line) {
  (void)file, (void)line;
  void *pointer = malloc(size);
  if (counting && pointer != NULL) count_allocation(&openssl_counts, size);
  return pointer;
}

static void *openssl_realloc(void *old, size_t size, const char *file, int line) {
  (void)file, (void)line;
  void *pointer = realloc(old, size);
  if (counting && pointer != NULL) {
    if (old == NULL) {
      count_allocation(&openssl_counts, size);
    } else {
      openssl_counts.reallocations++;
      openssl_counts.bytes += size;
    }
  }
  return pointer;
}

static void openssl_free(void *pointer, const char *file, int line) {
  (void)file, (void)line;
  if (counting && pointer != NULL) openssl_counts.frees++;
  free(pointer);
}

int ac_install_openssl_counter(void) {
  return CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free);
}

void ac_set_counting(int enabled) { counting = enabled; }

ac_counts ac_process_counts(void) { return process_counts; }
ac_counts ac_openssl_counts(void) { return openssl_counts; }

void ac_reset(void) {
  ac_counts zero = {0, 0, 0, 0};
  process_counts = zero;
  openssl_counts = zero;
}

int ac_interposition_works(void) {
  /* Allocate through the dynamic symbol, as a shared library would. */
  void *(*dynamic_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
  if (dynamic_malloc == NULL) return 0;
  int was = counting;
  ac_counts saved = process_counts;
  counting = 1;
  void *pointer = dynamic_malloc(24);
  uint64_t counted = process_counts.allocations - saved.allocations;
  free(pointer);
  process_counts = saved;
  counting = was;
  return counted == 1;
}
