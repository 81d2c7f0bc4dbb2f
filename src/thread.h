/* SPDX-License-Identifier: MIT */
/* thread.h - starting pacer's own threads (the dispatcher and the workers). */
#ifndef PACER_THREAD_H
#define PACER_THREAD_H

#include <pthread.h>

/* Starts fn(arg) on a new thread with every signal blocked, so that SIGPIPE
 * from a socket cannot kill the process and the program's handlers run on
 * its own threads, and names it (at most 15 bytes) for ps, top and
 * debuggers. Returns 0 (join *t with pthread_join()) or PACER_ESYSTEM. Any
 * thread. */
int pacer__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                        const char *name);

#endif
