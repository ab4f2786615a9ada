/*
 * Keeps libopenssl_objects.so loaded for the life of the process, as linking it with -z nodelete
 * would (a linker flag SwiftPM accepts only as an unsafe flag, which no versioned dependency may
 * carry). OpenSSL keeps pointers to the library's callbacks in the objects it hands out (verify,
 * staple and ex_data callbacks): unloading the library while such an object lives would leave
 * OpenSSL calling into unmapped code.
 *
 * The constructor reopens the library's own file with RTLD_NOLOAD | RTLD_NODELETE, which marks the
 * already loaded object as never to be unloaded (dlopen(3)). Linked into an executable instead,
 * it changes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "oo_resident.h"

static int resident;

__attribute__((constructor)) static void oo_stay_resident(void)
{
    Dl_info info;
    if (dladdr((void *)&oo_stay_resident, &info) == 0 || info.dli_fname == NULL)
        return;
    /* The handle is never closed: it is the reference that keeps the object loaded. */
    resident = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

int oo_resident_library_is_pinned(void)
{
    return resident;
}
