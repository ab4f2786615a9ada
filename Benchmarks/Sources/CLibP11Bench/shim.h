/* libp11 for the token workloads' C side (link flags through pkg-config). */
#include <libp11.h>
