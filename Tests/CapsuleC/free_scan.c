/*
 * A preloaded shared object (LD_PRELOAD) that searches every block a process frees, or moves with
 * realloc, for secrets, while the process asks it to: the Swift counterpart of capsule_secrets.c,
 * for programs whose secrets go through the Swift API. A copy that was wiped (OPENSSL_cleanse,
 * SecretBytes) is not found; one that was not, is. Not for sanitizer builds: it interposes free().
 *
 * The secrets come from the file named by OO_FREE_SCAN_NEEDLES, one per line, "NAME HEX" (the
 * secret's bytes in hexadecimal, so that binary secrets work and reading the file leaves no copy
 * of them). It is read with read(2) into static memory: no allocation.
 *
 * The process finds the functions with dlsym(RTLD_DEFAULT, ...):
 *   void oo_free_scan_start(void)   begins searching
 *   void oo_free_scan_stop(void)    stops, and prints "scanned N" and one "found NAME" per secret
 *                                   that some freed block held (never the secret itself)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void __libc_free(void *pointer);
extern void *__libc_malloc(size_t size);
extern void *__libc_realloc(void *pointer, size_t size);

enum { MAX_NEEDLES = 64, MAX_LENGTH = 512 };

static char names[MAX_NEEDLES][64];
static unsigned char needles[MAX_NEEDLES][MAX_LENGTH];
static size_t lengths[MAX_NEEDLES];
static int needle_count;
static int hits[MAX_NEEDLES];
static int scanning;
static long scanned;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

__attribute__((constructor)) static void load_needles(void)
{
    static char text[MAX_NEEDLES * (64 + 2 * MAX_LENGTH + 2)];
    const char *path = getenv("OO_FREE_SCAN_NEEDLES");
    if (path == NULL)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t length = 0;
    ssize_t got;
    while (length < sizeof text - 1 && (got = read(fd, text + length, sizeof text - 1 - length)) > 0)
        length += (size_t)got;
    close(fd);
    text[length] = 0;
    char *line = text;
    while (*line != 0 && needle_count < MAX_NEEDLES) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = 0;
        char *space = strchr(line, ' ');
        if (space != NULL && (size_t)(space - line) < sizeof names[0]) {
            memcpy(names[needle_count], line, (size_t)(space - line));
            size_t count = 0;
            for (const char *hex = space + 1; hex[0] != 0 && hex[1] != 0 && count < MAX_LENGTH; hex += 2) {
                int high = hex_value(hex[0]), low = hex_value(hex[1]);
                if (high < 0 || low < 0)
                    break;
                needles[needle_count][count++] = (unsigned char)(high << 4 | low);
            }
            lengths[needle_count] = count;
            if (count > 0)
                needle_count++;
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
}

static void search(const void *block, size_t size)
{
    __atomic_add_fetch(&scanned, 1, __ATOMIC_RELAXED);
    for (int index = 0; index < needle_count; index++) {
        if (size >= lengths[index] && memmem(block, size, needles[index], lengths[index]) != NULL)
            __atomic_add_fetch(&hits[index], 1, __ATOMIC_RELAXED);
    }
}

void free(void *pointer)
{
    if (pointer != NULL && __atomic_load_n(&scanning, __ATOMIC_RELAXED))
        search(pointer, malloc_usable_size(pointer));
    __libc_free(pointer);
}

/* While scanning, a block realloc would move is searched as it is left behind. */
void *realloc(void *pointer, size_t size)
{
    if (pointer == NULL || size == 0 || !__atomic_load_n(&scanning, __ATOMIC_RELAXED))
        return __libc_realloc(pointer, size);
    size_t old = malloc_usable_size(pointer);
    if (size <= old)
        return pointer;
    void *moved = __libc_malloc(size);
    if (moved == NULL)
        return NULL;
    memcpy(moved, pointer, old);
    search(pointer, old);
    __libc_free(pointer);
    return moved;
}

void oo_free_scan_start(void)
{
    __atomic_store_n(&scanning, 1, __ATOMIC_SEQ_CST);
}

void oo_free_scan_stop(void)
{
    __atomic_store_n(&scanning, 0, __ATOMIC_SEQ_CST);
    dprintf(1, "scanned %ld\n", scanned);
    for (int index = 0; index < needle_count; index++) {
        if (hits[index] > 0)
            dprintf(1, "found %s\n", names[index]);
    }
}
