/* SPDX-License-Identifier: MIT */
/* progress.c - the run's progress, from a thread of its own: jobs done of
 * the total, the rate, the ETA, jobs in flight, retries waiting, failures,
 * open breakers, keys whose rate follows their server, and the paused keys
 * with their countdown and why ("api.example.test paused 6 s (429
 * Retry-After)").
 *
 * --progress says where: on a terminal one line redrawn four times a
 * second (auto, always); without one a plain line (always) or a JSON line
 * (json, on a terminal too) every --progress-interval, and a last one when
 * the run ends, so a log shows the run advancing.
 *
 * Every line is written under app_t.lock, as every other stderr line; the
 * redrawn one is erased first by those (cli_clear_progress_locked). */
#include "app.h"

#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { STYLE_NONE, STYLE_TTY, STYLE_PLAIN, STYLE_JSON };

#define PAUSED_SHOWN 3 /* paused keys named on a line */
#define PAUSED_JSON 10 /* and in a JSON line */
#define DEFAULT_INTERVAL_MS 5000

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

/* The figures of one line. */
typedef struct figures {
  uint64_t done, failed, total, in_flight, queued, retry_waiting;
  int total_known;
  double rate, eta_s; /* eta_s < 0: unknown */
  unsigned open, adapted;
  size_t paused; /* keys paused now */
  size_t shown;  /* of those, in top[] (longest first) */
  const pacer_key_stats_t *top[PAUSED_JSON];
  const pacer_key_pause_t *why[PAUSED_JSON];
} figures_t;

/* The rate over about the last second (or interval) since *prev. */
typedef struct rate_state {
  double t;
  uint64_t done;
  double rate;
} rate_state_t;

/* Fills f from st (may be NULL) and the tally. The paused keys kept are the
 * max longest paused: a crawler may have a million keys. */
static void gather(app_t *a, const pacer_stats_t *st, rate_state_t *rs,
                   size_t max, figures_t *f)
{
  memset(f, 0, sizeof *f);
  if (st) {
    f->in_flight = st->in_flight;
    f->retry_waiting = st->retry_waiting;
    uint64_t q = st->queued_high + st->queued_low;
    f->queued = q > st->retry_waiting ? q - st->retry_waiting : 0;
    for (size_t i = 0; i < st->key_count; i++) {
      const pacer_key_stats_t *k = &st->keys[i];
      f->open += k->breaker != PACER_BREAKER_CLOSED;
      f->adapted +=
          st->key_adapt && st->key_adapt[i].reason != PACER_ADAPT_NONE;
      if (k->paused_ms <= 0)
        continue;
      f->paused++;
      size_t at = f->shown; /* insertion, longest pause first */
      while (at > 0 && f->top[at - 1]->paused_ms < k->paused_ms)
        at--;
      if (at >= max)
        continue;
      size_t end = f->shown < max ? f->shown : max - 1;
      for (size_t j = end; j > at; j--) {
        f->top[j] = f->top[j - 1];
        f->why[j] = f->why[j - 1];
      }
      f->top[at] = k;
      f->why[at] = st->key_pause ? &st->key_pause[i] : NULL;
      if (f->shown < max)
        f->shown++;
    }
  }
  double t = cli_now_s();
  f->done = a->tally.jobs; /* under a->lock */
  f->failed = cli_tally_failed(&a->tally);
  if (t - rs->t >= 1.0) {
    rs->rate = (double)(f->done - rs->done) / (t - rs->t);
    rs->t = t;
    rs->done = f->done;
  }
  f->rate = rs->rate;
  f->eta_s = -1;
  f->total_known = atomic_load(&a->total_known);
  if (f->total_known) {
    f->total = atomic_load(&a->total);
    if (f->rate > 0 && f->total >= f->done)
      f->eta_s = (double)(f->total - f->done) / f->rate;
  }
}

/* Why a key is paused, in words: "429 Retry-After", "quota reset". */
static void pause_why(const pacer_key_pause_t *w, char *buf, size_t cap)
{
  if (w && w->reason == PACER_REASON_RETRY_AFTER)
    snprintf(buf, cap, "%d Retry-After", w->status);
  else if (w && w->reason == PACER_REASON_ANNOUNCED)
    snprintf(buf, cap, "quota reset");
  else
    snprintf(buf, cap, "paused");
}

static long long seconds_up(int64_t ms)
{
  return (long long)((ms + 999) / 1000);
}

/* The line's text, without "\r" or "\n", into buf of cap bytes. */
static void format_line(const figures_t *f, char *buf, size_t cap)
{
  char done[32], total[32] = "?", eta[32] = "?";
  cli_grouped(f->done, done, sizeof done);
  if (f->total_known)
    cli_grouped(f->total, total, sizeof total);
  if (f->eta_s >= 0)
    snprintf(eta, sizeof eta, "%dm%02ds", (int)(f->eta_s / 60),
             (int)f->eta_s % 60);
  size_t n = 0;
#define PUT(...)                                                               \
  do {                                                                         \
    if (n < cap) {                                                             \
      int w_ = snprintf(buf + n, cap - n, __VA_ARGS__);                        \
      n += w_ > 0 ? (size_t)w_ : 0;                                            \
    }                                                                          \
  } while (0)
  PUT("pacer: %s/%s done, %.1f/s, ETA %s, %llu in flight, %llu %s "
      "waiting, %llu failed, %u %s open",
      done, total, f->rate, eta, (unsigned long long)f->in_flight,
      (unsigned long long)f->retry_waiting,
      f->retry_waiting == 1 ? "retry" : "retries",
      (unsigned long long)f->failed, f->open,
      f->open == 1 ? "breaker" : "breakers");
  if (f->adapted) /* keys slowed to what their servers say (--adapt) */
    PUT(", %u adapted", f->adapted);
  for (size_t i = 0; i < f->shown && i < PAUSED_SHOWN; i++) {
    char why[64];
    pause_why(f->why[i], why, sizeof why);
    PUT("%s%s paused %lld s (%s)", i ? ", " : "; ", f->top[i]->key,
        seconds_up(f->top[i]->paused_ms), why);
  }
  if (f->paused > PAUSED_SHOWN)
    PUT(" and %zu more paused", f->paused - PAUSED_SHOWN);
#undef PUT
  if (n >= cap && cap > 4)
    memcpy(buf + cap - 4, "...", 4);
}

/* The JSON line: the same figures. NULL out of memory. */
static char *format_json(const figures_t *f, double elapsed)
{
  json_t *paused = json_array();
  for (size_t i = 0; paused && i < f->shown; i++) {
    const pacer_key_pause_t *w = f->why[i];
    json_array_append_new(
        paused,
        json_pack("{s:s, s:I, s:s, s:i}", "key", f->top[i]->key, "paused_ms",
                  (json_int_t)f->top[i]->paused_ms, "reason",
                  pacer_event_reason_name(w ? w->reason : PACER_REASON_NONE),
                  "status", w ? w->status : 0));
  }
  json_t *o = json_pack(
      "{s:f, s:I, s:o, s:f, s:o, s:I, s:I, s:I, s:I, s:i, s:i, s:I, s:o}",
      "elapsed_s", elapsed, "done", (json_int_t)f->done, "total",
      f->total_known ? json_integer((json_int_t)f->total) : json_null(), "rate",
      f->rate, "eta_s", f->eta_s >= 0 ? json_real(f->eta_s) : json_null(),
      "in_flight", (json_int_t)f->in_flight, "queued", (json_int_t)f->queued,
      "retries_waiting", (json_int_t)f->retry_waiting, "failed",
      (json_int_t)f->failed, "breakers_open", (int)f->open, "adapted",
      (int)f->adapted, "paused_keys", (json_int_t)f->paused, "paused",
      paused ? paused : json_array());
  char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
  json_decref(o);
  return s;
}

/* Terminal columns, or 0 when unknown. */
static unsigned columns(void)
{
  struct winsize ws;
  return ioctl(2, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

static void draw(app_t *a, rate_state_t *rs)
{
  pacer_stats_t *st = NULL;
  if (pacer_stats_get(a->p, &st))
    st = NULL;
  char line[1024];
  char *json = NULL;
  figures_t f;
  pthread_mutex_lock(&a->lock);
  gather(a, st, rs,
         a->progress_style == STYLE_JSON ? PAUSED_JSON : PAUSED_SHOWN, &f);
  if (a->progress_style == STYLE_JSON) {
    pthread_mutex_unlock(&a->lock); /* jansson outside the lock */
    json = format_json(&f, cli_now_s() - a->start);
    pthread_mutex_lock(&a->lock);
  } else {
    format_line(&f, line, sizeof line);
  }
  if (a->progress_style == STYLE_TTY) {
    unsigned cols = columns(); /* a wrapped line cannot be redrawn */
    if (cols > 1 && strlen(line) >= cols)
      line[cols - 1] = 0;
    fprintf(stderr, "\r\033[K%s", line);
    a->progress_drawn = 1;
  } else if (a->progress_style == STYLE_PLAIN) {
    fprintf(stderr, "%s\n", line);
  } else if (json) {
    fprintf(stderr, "%s\n", json);
  }
  fflush(stderr);
  pthread_mutex_unlock(&a->lock);
  free(json);
  pacer_stats_free(st);
}

static void *progress_main(void *arg)
{
  app_t *a = arg;
  if (a->o.input && strcmp(a->o.input, "-")) {
    struct stat sb;
    if (stat(a->o.input, &sb) == 0 && S_ISREG(sb.st_mode))
      count_jobs(a, a->o.input);
  }
  rate_state_t rs = {.t = cli_now_s()};
  int64_t every_ms = a->progress_style == STYLE_TTY ? 250
                     : a->o.progress_interval_ms    ? a->o.progress_interval_ms
                                                    : DEFAULT_INTERVAL_MS;
  int first = 1;
  pthread_mutex_lock(&a->plock);
  while (!a->pstop) {
    /* A line that is written, not redrawn, waits its interval first. */
    if (!first || a->progress_style == STYLE_TTY) {
      pthread_mutex_unlock(&a->plock);
      draw(a, &rs);
      pthread_mutex_lock(&a->plock);
    }
    first = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(every_ms / 1000);
    ts.tv_nsec += (long)(every_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    /* Woken early only to stop. */
    while (!a->pstop &&
           pthread_cond_timedwait(&a->pcond, &a->plock, &ts) == 0) {
    }
  }
  pthread_mutex_unlock(&a->plock);
  /* The last written line says where the run ended. */
  if (a->progress_style != STYLE_TTY)
    draw(a, &rs);
  return NULL;
}

void cli_progress_start(app_t *a)
{
  int mode = a->o.progress;
  if (a->o.quiet && !a->o.progress_given)
    mode = CLI_PROGRESS_NEVER;
  int tty = isatty(2);
  a->progress_style = mode == CLI_PROGRESS_JSON     ? STYLE_JSON
                      : mode == CLI_PROGRESS_NEVER  ? STYLE_NONE
                      : tty                         ? STYLE_TTY
                      : mode == CLI_PROGRESS_ALWAYS ? STYLE_PLAIN
                                                    : STYLE_NONE;
  a->progress = a->progress_style != STYLE_NONE;
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
