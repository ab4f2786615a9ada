/* See measure.h. */
#include "measure.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t cb_thread_cpu_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int64_t status_field(const char *name) {
  FILE *file = fopen("/proc/self/status", "r");
  if (file == NULL) return -1;
  char line[256];
  size_t length = strlen(name);
  int64_t value = -1;
  while (fgets(line, sizeof line, file) != NULL) {
    if (strncmp(line, name, length) == 0 && line[length] == ':') {
      long long kib = 0;
      if (sscanf(line + length + 1, "%lld", &kib) == 1) value = kib;
      break;
    }
  }
  fclose(file);
  return value;
}

int64_t cb_rss_kib(void) { return status_field("VmRSS"); }
int64_t cb_peak_rss_kib(void) { return status_field("VmHWM"); }

uint64_t cb_heap_in_use_bytes(void) {
  struct mallinfo2 info = mallinfo2();
  return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
}

void cb_trim_heap(void) { malloc_trim(0); }

static volatile const void *cb_sink_pointer;

void cb_black_hole(const void *value) { cb_sink_pointer = value; }

void cb_measured_region(void (*body)(void *context), void *context) { body(context); }
