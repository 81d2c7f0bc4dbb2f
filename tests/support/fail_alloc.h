/* SPDX-License-Identifier: MIT */
/* fail_alloc.h - makes chosen allocations fail, for out-of-memory tests.
 *
 * A test executable linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc,--wrap=strdup (tests/CMakeLists.txt) sends the allocations
 * of its own code and of the static library through here; shared libraries
 * (libc's own, SQLite, libcurl, jansson) are not affected unless they are
 * given the allocators below (json_set_alloc_funcs(), curl_global_init_mem()).
 * Counting is per thread, so the dispatcher's and the workers' allocations
 * never shift the count of the thread under test. */
#ifndef PACER_FAIL_ALLOC_H
#define PACER_FAIL_ALLOC_H

#include <stddef.h>

/* From now on, on this thread: allocation number n (0 is the next one)
 * returns NULL, every other one succeeds. n < 0 turns counting off. */
void fail_alloc_arm(long n);
/* As fail_alloc_arm(), but allocation n and every later one fail, until the
 * next arm: memory that stays exhausted. */
void fail_alloc_arm_from(long n);
/* 1 if an armed allocation was reached (and failed) on this thread. */
int fail_alloc_fired(void);
/* Allocations counted on this thread since the last arm (failed ones too). */
long fail_alloc_seen(void);

/* Allocators that go through the counting above, for a shared library's
 * hooks: free is the real free (memory from either side may be freed). */
void *fail_alloc_malloc(size_t n);
void *fail_alloc_calloc(size_t n, size_t size);
void *fail_alloc_realloc(void *p, size_t n);
char *fail_alloc_strdup(const char *s);
void fail_alloc_free(void *p);

#endif
