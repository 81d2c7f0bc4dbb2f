/* SPDX-License-Identifier: MIT */
/* signals.c - the signal thread: SIGINT or SIGTERM once stops the reading
 * and finishes the jobs in flight, twice cancels them.
 *
 * The signals are blocked in every thread and taken here with sigwait(),
 * so no async-signal-safety limits what is done about them; SIGUSR1 from
 * the main thread ends the thread. */
#include "app.h"

#include <unistd.h>

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
    if (n > 1) {
      pacer_shutdown(a->p, PACER_SHUTDOWN_CANCEL);
      continue;
    }
    atomic_store(&a->first_signal, sig);
    ssize_t w = write(a->wake[1], "x", 1);
    (void)w;
    pacer_shutdown(a->p, PACER_SHUTDOWN_FINISH);
    cli_say(a,
            "pacer: %s: no more jobs are read; finishing the ones in flight "
            "(again to cancel them)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
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
