/* SPDX-License-Identifier: MIT */
/* logcap.h - a pacer_log_cb that keeps what the library logs, for tests to
 * read on their own thread: the text, a count by level, the first lines. */
#ifndef PACER_LOGCAP_H
#define PACER_LOGCAP_H

#include <pacer/pacer.h>
#include <pthread.h>
#include <stddef.h>

enum { LOGCAP_TEXT = 1 << 16, LOGCAP_LINES = 8 };

typedef struct logcap {
  pthread_mutex_t mu;
  char text[LOGCAP_TEXT]; /* every line, each ending in '\n'; cut when full */
  size_t len;
  size_t count;                  /* lines logged */
  int levels[4];                 /* lines by pacer_log_level_t */
  char first[LOGCAP_LINES][600]; /* the first lines, each alone */
  int first_level[LOGCAP_LINES];
} logcap_t;

/* Empties cap; also its first use (a static logcap_t needs
 * LOGCAP_INITIALIZER or this before use). */
void logcap_reset(logcap_t *cap);
#define LOGCAP_INITIALIZER                                                     \
  {                                                                            \
    .mu = PTHREAD_MUTEX_INITIALIZER                                            \
  }

/* A pacer_log_cb: user is the logcap_t. Any thread. */
void logcap_on_log(pacer_log_level_t level, const char *msg, void *user);

/* A copy of *cap taken under its lock, for reading at leisure. */
void logcap_take(logcap_t *cap, logcap_t *out);

#endif
