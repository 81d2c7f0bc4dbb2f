/* SPDX-License-Identifier: MIT */
/* thread.c - starting pacer's own threads with signals blocked and a name. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "thread.h"
#include <pacer/pacer.h>
#include <signal.h>

int pacer__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                        const char *name)
{
  sigset_t all, old;
  sigfillset(&all);
  /* The new thread inherits the mask; the caller's own is put back. */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc)
    return PACER_ESYSTEM;
  pthread_setname_np(*t, name); /* cosmetic: a failure changes nothing */
  return 0;
}
