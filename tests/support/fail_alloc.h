/* SPDX-License-Identifier: MIT */
/* fail_alloc.h - makes one chosen allocation fail, for out-of-memory tests.
 *
 * A test executable linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc (tests/CMakeLists.txt) sends the allocations of its own
 * code and of the static library through here; shared libraries (libc's
 * own, SQLite, libcurl) are not affected. Counting is per thread, so the
 * dispatcher's and the workers' allocations never shift the count of the
 * thread under test. */
#ifndef PACER_FAIL_ALLOC_H
#define PACER_FAIL_ALLOC_H

/* From now on, on this thread: allocation number n (0 is the next one)
 * returns NULL, every other one succeeds. n < 0 turns counting off. */
void fail_alloc_arm(long n);
/* 1 if the armed allocation was reached (and failed) on this thread. */
int fail_alloc_fired(void);

#endif
