/*
 * Process measurements for the harness: CPU time, resident memory, heap in use, and an opaque
 * sink, in C so that each is one system call or one libc call with no Swift in between.
 */
#ifndef OPENSSLOBJECTS_BENCHMARKS_MEASURE_H
#define OPENSSLOBJECTS_BENCHMARKS_MEASURE_H

#include <stdint.h>

/* CPU time of the calling thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID): time the thread ran,
 * whatever else the machine was doing. */
uint64_t cb_thread_cpu_ns(void);

/* Resident set size now (VmRSS) and its peak (VmHWM), in KiB, from /proc/self/status; -1 if
 * unreadable. */
int64_t cb_rss_kib(void);
int64_t cb_peak_rss_kib(void);

/* Bytes of heap in use by malloc (mallinfo2: uordblks + hblkhd). */
uint64_t cb_heap_in_use_bytes(void);

/* Returns memory that malloc holds free to the system (malloc_trim), so RSS readings reflect
 * what is in use. */
void cb_trim_heap(void);

/* Consumes a value so the optimizer cannot drop the code that made it. */
void cb_black_hole(const void *value);

/* Calls body(context). Exists so that `valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=cb_measured_region` counts exactly the instructions of the measured
 * operations and nothing of the setup. */
void cb_measured_region(void (*body)(void *context), void *context);

#endif
