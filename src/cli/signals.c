/* SPDX-License-Identifier: MIT */
/* signals.c - the signal thread: SIGINT or SIGTERM once stops the reading
 * and starts no more jobs (the queued ones end cancelled, or stay in the
 * spool for pacer resume) while the ones in flight finish; twice aborts
 * the ones in flight.
 *
 * The signals are blocked in every thread and taken here with sigwait(),
 * so no async-signal-safety limits what is done about them; SIGUSR1 from
 * the main thread ends the thread. */
#include "app.h"

#include <unistd.h>

/* The first signal: no job starts from now on. The count of those that
 * will not start is the dispatcher's, taken as it cancelled the queue
 * (exact even when the dispatcher has taken them off the queue and not
 * yet run their callbacks). */
static void first_signal(app_t *a, const char *name)
{
  pacer_stats_t *s = NULL;
  pacer_shutdown(a->p, PACER_SHUTDOWN_CANCEL);
  if (pacer_stats_get(a->p, &s))
    s = NULL;
  uint64_t not_started = s ? s->shutdown_queued : 0;
  uint64_t in_flight = s ? s->in_flight : 0;
  pacer_stats_free(s);
  char q[32], f[32];
  cli_say(a,
          "pacer: %s: %s queued jobs not started (%s), finishing %s in "
          "flight; again to abort them\n",
          name, cli_grouped(not_started, q, sizeof q),
          a->spooled ? "kept in the spool for pacer resume"
                     : "cancelled, each with its result line",
          cli_grouped(in_flight, f, sizeof f));
}

/* The second signal: the transfers in flight are aborted. */
static void second_signal(app_t *a, const char *name)
{
  pacer_stats_t *s = NULL;
  if (pacer_stats_get(a->p, &s))
    s = NULL;
  uint64_t in_flight = s ? s->in_flight : 0;
  pacer_stats_free(s);
  pacer_shutdown(a->p, PACER_SHUTDOWN_ABORT);
  char f[32];
  cli_say(a, "pacer: %s again: aborting %s in flight (%s)\n", name,
          cli_grouped(in_flight, f, sizeof f),
          a->spooled ? "kept in the spool for pacer resume"
                     : "cancelled, each with its result line");
}

static void *signal_main(void *arg)
{
  app_t *a = arg;
  for (;;) {
    int sig;
    if (sigwait(&a->sigs, &sig))
      continue;
    if (sig == SIGUSR1) /* the command is done */
      return NULL;
    int n = atomic_fetch_add(&a->signals, 1) + 1;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    if (n == 2) {
      second_signal(a, name);
      continue;
    }
    if (n > 2) /* the drain stops waiting; pacer_free() ends the rest */
      continue;
    atomic_store(&a->first_signal, sig);
    ssize_t w = write(a->wake[1], "x", 1);
    (void)w;
    first_signal(a, name);
  }
}

void cli_signals_block(app_t *a)
{
  sigemptyset(&a->sigs);
  sigaddset(&a->sigs, SIGINT);
  sigaddset(&a->sigs, SIGTERM);
  sigaddset(&a->sigs, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &a->sigs, NULL);
}

int cli_signals_start(app_t *a)
{
  if (pthread_create(&a->sig_thread, NULL, signal_main, a))
    return -1;
  a->sig_started = 1;
  return 0;
}

void cli_signals_stop(app_t *a)
{
  if (!a->sig_started)
    return;
  pthread_kill(a->sig_thread, SIGUSR1);
  pthread_join(a->sig_thread, NULL);
  a->sig_started = 0;
}
