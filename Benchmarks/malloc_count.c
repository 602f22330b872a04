// LD_PRELOAD shim for Benchmarks/run.sh: counts malloc and realloc calls (of every
// thread) and prints the total to standard error at exit, as `mallocs=N`.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long calls;
static void *(*real_malloc)(size_t);
static void *(*real_realloc)(void *, size_t);

void *malloc(size_t size) {
    if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_malloc(size);
}

void *realloc(void *pointer, size_t size) {
    if (!real_realloc) real_realloc = dlsym(RTLD_NEXT, "realloc");
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return real_realloc(pointer, size);
}

__attribute__((destructor)) static void report(void) { fprintf(stderr, "mallocs=%ld\n", (long)atomic_load(&calls)); }
