/* SPDX-License-Identifier: MIT */
/* progress.c - the progress line on a terminal: jobs done of the total,
 * the rate over about the last second, the ETA, failures, open breakers
 * and keys whose rate follows their server (when there are), redrawn four times
 * a second by a thread of its own.
 *
 * The line is drawn under app_t.lock, as every other stderr line, which
 * erases it first (cli_clear_progress_locked). */
#include "app.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Counts the non-blank lines of a regular file (the progress total). */
static void count_jobs(app_t *a, const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  static char buf[1 << 16];
  unsigned long long n = 0;
  int blank = 1;
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < got; i++) {
      char c = buf[i];
      if (c == '\n') {
        n += !blank;
        blank = 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        blank = 0;
      }
    }
  }
  n += !blank;
  int ok = !ferror(f);
  fclose(f);
  if (ok) {
    atomic_store(&a->total, n);
    atomic_store(&a->total_known, 1);
  }
}

static void draw_progress(app_t *a, double *prev_t, uint64_t *prev_done,
                          double *rate)
{
  pacer_stats_t *st = NULL;
  unsigned open = 0, adapted = 0;
  if (pacer_stats_get(a->p, &st) == 0) {
    for (size_t i = 0; i < st->key_count; i++) {
      open += st->keys[i].breaker != PACER_BREAKER_CLOSED;
      adapted += st->key_adapt && st->key_adapt[i].reason != PACER_ADAPT_NONE;
    }
    pacer_stats_free(st);
  }
  double t = cli_now_s();
  pthread_mutex_lock(&a->lock);
  uint64_t done = a->tally.jobs, failed = cli_tally_failed(&a->tally);
  if (t - *prev_t >= 1.0) { /* the rate over about the last second */
    *rate = (double)(done - *prev_done) / (t - *prev_t);
    *prev_t = t;
    *prev_done = done;
  }
  char total[32] = "?", eta[32] = "?";
  if (atomic_load(&a->total_known)) {
    unsigned long long tot = atomic_load(&a->total);
    snprintf(total, sizeof total, "%llu", tot);
    if (*rate > 0 && tot >= done) {
      double s = (double)(tot - done) / *rate;
      snprintf(eta, sizeof eta, "%dm%02ds", (int)(s / 60), (int)s % 60);
    }
  }
  fprintf(stderr,
          "\r\033[Kpacer: %llu/%s done, %.1f/s, ETA %s, %llu failed, "
          "%u breakers open",
          (unsigned long long)done, total, *rate, eta,
          (unsigned long long)failed, open);
  if (adapted) /* keys slowed to what their servers say (--adapt) */
    fprintf(stderr, ", %u adapted", adapted);
  a->progress_drawn = 1;
  pthread_mutex_unlock(&a->lock);
}

static void *progress_main(void *arg)
{
  app_t *a = arg;
  if (a->o.input && strcmp(a->o.input, "-")) {
    struct stat sb;
    if (stat(a->o.input, &sb) == 0 && S_ISREG(sb.st_mode))
      count_jobs(a, a->o.input);
  }
  double prev_t = cli_now_s(), rate = 0;
  uint64_t prev_done = 0;
  pthread_mutex_lock(&a->plock);
  while (!a->pstop) {
    pthread_mutex_unlock(&a->plock);
    draw_progress(a, &prev_t, &prev_done, &rate);
    pthread_mutex_lock(&a->plock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (!a->pstop)
      pthread_cond_timedwait(&a->pcond, &a->plock, &ts);
  }
  pthread_mutex_unlock(&a->plock);
  return NULL;
}

void cli_progress_start(app_t *a)
{
  a->progress = !a->o.quiet && isatty(2);
  if (a->progress && pthread_create(&a->prog_thread, NULL, progress_main, a))
    a->progress = 0;
}

void cli_progress_stop(app_t *a)
{
  if (!a->progress)
    return;
  pthread_mutex_lock(&a->plock);
  a->pstop = 1;
  pthread_cond_signal(&a->pcond);
  pthread_mutex_unlock(&a->plock);
  pthread_join(a->prog_thread, NULL);
  a->progress = 0;
}
