#define _GNU_SOURCE
#include "oo_linked_libraries.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

struct search {
    const char *object;
    const char *prefix;
    char *out;
    size_t size;
    int found;
};

static int visit(struct dl_phdr_info *info, size_t info_size, void *data)
{
    struct search *search = data;
    (void)info_size;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, search->object) == NULL)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *dynamic = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        const char *strings = NULL;
        for (const ElfW(Dyn) *entry = dynamic; entry->d_tag != DT_NULL; entry++)
            if (entry->d_tag == DT_STRTAB)
                strings = (const char *)entry->d_un.d_ptr; /* glibc has relocated it */
        if (strings == NULL)
            return 1;
        for (const ElfW(Dyn) *entry = dynamic; entry->d_tag != DT_NULL; entry++) {
            if (entry->d_tag != DT_NEEDED)
                continue;
            const char *name = strings + entry->d_un.d_val;
            if (strncmp(name, search->prefix, strlen(search->prefix)) == 0 && strlen(name) < search->size) {
                strcpy(search->out, name);
                search->found = 1;
                return 1;
            }
        }
        return 1;
    }
    return 1;
}

int oo_needed_library(const char *object, const char *prefix, char *out, size_t size)
{
    struct search search = { object, prefix, out, size, 0 };
    if (size == 0)
        return 0;
    out[0] = '\0';
    dl_iterate_phdr(visit, &search);
    return search.found;
}
