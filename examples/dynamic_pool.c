/* SPDX-License-Identifier: MIT */
/* dynamic_pool.c - resize a running dispatcher from what its statistics say.
 *
 * A control loop on the main thread reads pacer_stats_get() every 100 ms and
 * changes the running dispatcher with pacer_set_concurrency(),
 * pacer_set_rate() and pacer_set_workers():
 *
 *   - the queue is deep, every slot is busy and few attempts fail: more
 *     concurrency (doubled, up to 64), since the slots are the bottleneck;
 *   - the failure ratio of recent attempts passes 20%: the rate is halved
 *     (down to 150/s) and the concurrency cut by a quarter (down to 8), then
 *     the loop waits 300 ms to see the effect before cutting again;
 *   - failures are back under 5%: the rate grows by half again, up to the
 *     500/s the program starts with (the agreed ceiling; never above it);
 *   - the queue is empty and few slots are in use: less concurrency;
 *   - workers (transport threads) follow the concurrency, one per 8 slots,
 *     from 1 to 4.
 *
 * It prints each change with the figures that caused it. The jobs are GETs
 * to pacer-mock, all queued at the start, in three phases: healthy (10-30 ms
 * answers), failing (the middle fifth: 20-60 ms answers and 40% of them 500,
 * via the mock's latency_ms and fail_rate parameters; libpacer retries them
 * up to 3 attempts, within the retry budget) and healthy again.
 *
 * Build it against the installed library and run it against pacer-mock on
 * 127.0.0.1 (--port 0 prints the port it picked):
 *
 *   cc dynamic_pool.c $(pkg-config --cflags --libs pacer) -pthread \
 *      -o dynamic_pool
 *   pacer-mock --port 0 &
 *   ./dynamic_pool http://127.0.0.1:PORT [COUNT]     # COUNT: 1500 jobs
 *
 * It ends on its own once every job has ended (a few seconds).
 *
 * Exit status: 0 if every accepted job got exactly one callback, every
 * healthy-phase job got a 200 and every failing-phase job either got a 200 or
 * gave up on an answer of 500 (after 3 attempts, or sooner when the retry
 * budget refused its retry: PACER_EBUDGET); 1 if not; 2 for bad arguments or
 * setup errors. */
#define _POSIX_C_SOURCE 200809L
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 100
#define RATE_MAX 500.0 /* the rate agreed with the API: never exceeded */
#define RATE_MIN 150.0
#define CONC_START 4u
#define CONC_MIN 4u      /* when idle */
#define CONC_FAIL_MIN 8u /* when failing: 150/s of 20-60 ms keep 3..9 busy */
#define CONC_MAX 64u
#define WORKERS_MAX 4u
#define SLOTS_PER_WORKER 8u
#define FAIL_HIGH 0.20 /* cut above this failure ratio */
#define FAIL_LOW 0.05  /* grow below it */
#define MIN_SAMPLE 10  /* fewer attempts than this in the window: no verdict */
#define WINDOW_TICKS 3 /* failure ratio over the last 300 ms */
#define SETTLE_TICKS 3 /* after a cut or a rate rise, wait this long */
#define GIVE_UP_MS 60000 /* a run longer than this is broken */

enum { HEALTHY, FAILING, RECOVERED, PHASES };
static const char *const phase_name[PHASES] = {"healthy", "failing",
                                               "recovered"};

/* Outcomes, counted in the callbacks under one mutex. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t callbacks;
static size_t ok[PHASES], gave_up[PHASES], other[PHASES], jobs[PHASES];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs on a pacer thread, exactly once per accepted job; user is its phase. */
static void done(const pacer_result_t *res, void *user)
{
  int phase = (int)(uintptr_t)user;
  pthread_mutex_lock(&lock);
  callbacks++;
  if (res->error == 0 && res->status == 200)
    ok[phase]++;
  else if (phase == FAILING &&
           (res->error == PACER_ERETRIES || res->error == PACER_EBUDGET) &&
           res->status == 500)
    gave_up[phase]++; /* expected: three 500s in a row, or a retry the
                         retry budget refused (40% failing is past its 20%) */
  else if (++other[phase] <= 20) /* the first few are enough */
    printf("UNEXPECTED %s: %s HTTP %d (%s) after %u attempt(s)\n", res->url,
           res->error ? pacer_err_name(res->error) : "", res->status,
           res->message, res->attempts);
  pthread_mutex_unlock(&lock);
}

/* Attempts that failed since the start: each was either retried or ended its
 * job with an error or a status of 400 or more. A job that succeeded ended
 * with one good attempt, so this plus s->succeeded counts attempts ended. */
static uint64_t failed_attempts(const pacer_stats_t *s)
{
  return s->retried + s->failed_http + s->failed_transport + s->failed_timeout +
         s->failed_too_large + s->failed_retries + s->failed_deadline +
         s->failed_other;
}

typedef struct pool {
  pacer_t *p;
  double t0;
  double rate;
  unsigned conc, workers;
  int changes;
} pool_t;

/* Applies a new rate and/or concurrency (and the workers that go with it),
 * printing what changed and why. Returns 0 or the first error. */
static int apply(pool_t *pl, double rate, unsigned conc, const char *why)
{
  char what[160] = "";
  size_t n = 0;
  int rc;
  if (rate != pl->rate) {
    if ((rc = pacer_set_rate(pl->p, rate, 0)) != 0)
      return rc;
    n += (size_t)snprintf(what + n, sizeof what - n, "rate %.0f -> %.0f/s",
                          pl->rate, rate);
    pl->rate = rate;
  }
  if (conc != pl->conc) {
    if ((rc = pacer_set_concurrency(pl->p, conc)) != 0)
      return rc;
    n += (size_t)snprintf(what + n, sizeof what - n, "%sconcurrency %u -> %u",
                          n ? ", " : "", pl->conc, conc);
    pl->conc = conc;
  }
  unsigned workers = (conc + SLOTS_PER_WORKER - 1) / SLOTS_PER_WORKER;
  if (workers < 1)
    workers = 1;
  if (workers > WORKERS_MAX)
    workers = WORKERS_MAX;
  if (workers != pl->workers) {
    if ((rc = pacer_set_workers(pl->p, workers)) != 0)
      return rc;
    n += (size_t)snprintf(what + n, sizeof what - n, "%sworkers %u -> %u",
                          n ? ", " : "", pl->workers, workers);
    pl->workers = workers;
  }
  if (n) {
    printf("[%5.2f s] %s: %s\n", now_s() - pl->t0, what, why);
    fflush(stdout);
    pl->changes++;
  }
  return 0;
}

static const char *breaker_name(pacer_breaker_state_t b)
{
  return b == PACER_BREAKER_OPEN        ? "OPEN"
         : b == PACER_BREAKER_HALF_OPEN ? "HALF_OPEN"
                                        : "CLOSED";
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: dynamic_pool BASE_URL [COUNT]\n");
    return 2;
  }
  const char *base = argv[1];
  unsigned long count = 1500;
  if (argc > 2) {
    char *end;
    count = strtoul(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || count < 10 || count > 1000000) {
      fprintf(stderr, "dynamic_pool: COUNT must be 10..1000000\n");
      return 2;
    }
  }

  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.rate = RATE_MAX;
  cfg.concurrency = CONC_START;
  cfg.workers = 1;
  cfg.backoff_base_ms = 100;
  cfg.timeout_ms = 5000;
  /* The controller handles a partly failing API by slowing down; the breaker
   * is for an outage, so it opens only at 80% failures over the last 100
   * outcomes (over the default 20, a 40% failure ratio reaches 80% by chance
   * every few runs), and then for 1 s. */
  cfg.breaker_window = 100;
  cfg.breaker_min_calls = 20;
  cfg.breaker_threshold = 0.8;
  cfg.breaker_cooldown_ms = 1000;
  pool_t pl = {NULL, now_s(), cfg.rate, cfg.concurrency, cfg.workers, 0};
  int rc = pacer_new(&cfg, &pl.p);
  if (rc) {
    fprintf(stderr, "dynamic_pool: pacer_new: %s\n", pacer_strerror(rc));
    return 2;
  }

  /* Queue every job now: the depth of the queue is what the loop reads. */
  unsigned long fail_from = count * 2 / 5, fail_to = count * 3 / 5;
  size_t accepted = 0, refused = 0;
  for (unsigned long i = 0; i < count; i++) {
    int phase = i < fail_from ? HEALTHY : i < fail_to ? FAILING : RECOVERED;
    char url[512];
    snprintf(url, sizeof url, "%s/items/%lu?job=dp-%lu&%s", base, i, i,
             phase == FAILING ? "latency_ms=20-60&fail_rate=0.4"
                              : "latency_ms=10-30");
    pacer_request_t req;
    pacer_request_init(&req);
    req.url = url;
    rc = pacer_submit(pl.p, &req, done, (void *)(uintptr_t)phase, NULL);
    if (rc) { /* refused: no callback will come for it */
      fprintf(stderr, "dynamic_pool: %s: %s\n", url, pacer_strerror(rc));
      refused++;
    } else {
      accepted++;
      jobs[phase]++;
    }
  }
  printf("dynamic_pool: %zu jobs queued to %s (jobs %lu..%lu fail 40%% "
         "of the time); start: rate %.0f/s, concurrency %u, workers %u\n",
         accepted, base, fail_from, fail_to - 1, pl.rate, pl.conc, pl.workers);
  fflush(stdout);

  /* The control loop. pacer_drain(p, TICK_MS) is the 100 ms sleep: it returns
   * 0 as soon as every job has ended. */
  uint64_t hist_ok[WINDOW_TICKS + 1] = {0}, hist_bad[WINDOW_TICKS + 1] = {0};
  unsigned tick = 0, settle = 0;
  pacer_breaker_state_t breaker = PACER_BREAKER_CLOSED;
  int bad = 0;
  for (;;) {
    rc = pacer_drain(pl.p, TICK_MS);
    if (rc == 0)
      break;
    if (rc != PACER_ETIMEDOUT) {
      fprintf(stderr, "dynamic_pool: drain: %s\n", pacer_strerror(rc));
      bad = 1;
      break;
    }
    if (now_s() - pl.t0 > GIVE_UP_MS / 1000.0) {
      printf("dynamic_pool: still running after %d s; cancelling the rest\n",
             GIVE_UP_MS / 1000);
      bad = 1;
      break;
    }
    pacer_stats_t *s;
    if ((rc = pacer_stats_get(pl.p, &s)) != 0) {
      fprintf(stderr, "dynamic_pool: stats: %s\n", pacer_strerror(rc));
      bad = 1;
      break;
    }
    tick++;
    if (settle)
      settle--;

    /* Failure ratio of the attempts that ended in the last WINDOW_TICKS. */
    memmove(hist_ok, hist_ok + 1, WINDOW_TICKS * sizeof hist_ok[0]);
    memmove(hist_bad, hist_bad + 1, WINDOW_TICKS * sizeof hist_bad[0]);
    hist_ok[WINDOW_TICKS] = s->succeeded;
    hist_bad[WINDOW_TICKS] = failed_attempts(s);
    uint64_t d_ok = hist_ok[WINDOW_TICKS] - hist_ok[0];
    uint64_t d_bad = hist_bad[WINDOW_TICKS] - hist_bad[0];
    uint64_t sample = d_ok + d_bad;
    double ratio = sample ? (double)d_bad / (double)sample : 0;
    int known = tick > WINDOW_TICKS && sample >= MIN_SAMPLE;
    uint64_t queued = s->queued_high + s->queued_low;
    uint64_t in_flight = s->in_flight;

    pacer_breaker_state_t b = PACER_BREAKER_CLOSED;
    for (size_t k = 0; k < s->key_count; k++)
      if (s->keys[k].breaker != PACER_BREAKER_CLOSED)
        b = s->keys[k].breaker;
    if (b != breaker) {
      printf("[%5.2f s] breaker %s -> %s (the library %s)\n", now_s() - pl.t0,
             breaker_name(breaker), breaker_name(b),
             b == PACER_BREAKER_CLOSED ? "starts jobs again"
                                       : "holds or probes the key's jobs");
      breaker = b;
    }
    if (tick % 5 == 0)
      printf("[%5.2f s] queued %llu, in flight %llu/%u, rate %.0f/s, "
             "failures %.1f%% of %llu attempts\n",
             now_s() - pl.t0, (unsigned long long)queued,
             (unsigned long long)in_flight, pl.conc, pl.rate, ratio * 100,
             (unsigned long long)sample);
    pacer_stats_free(s);

    char why[160];
    double rate = pl.rate;
    unsigned conc = pl.conc;
    if (known && ratio > FAIL_HIGH) {
      unsigned floor = conc < CONC_FAIL_MIN ? conc : CONC_FAIL_MIN;
      if (settle == 0 && (rate > RATE_MIN || conc > floor)) {
        rate = rate / 2 < RATE_MIN ? RATE_MIN : rate / 2;
        conc = conc - conc / 4 < floor ? floor : conc - conc / 4;
        snprintf(why, sizeof why, "failures %.1f%% of %llu attempts > %.0f%%",
                 ratio * 100, (unsigned long long)sample, FAIL_HIGH * 100);
        rc = apply(&pl, rate, conc, why);
        settle = SETTLE_TICKS;
      }
    } else if (known && ratio < FAIL_LOW) {
      if (settle == 0 && rate < RATE_MAX) {
        rate = rate * 1.5 > RATE_MAX ? RATE_MAX : rate * 1.5;
        snprintf(why, sizeof why,
                 "failures down to %.1f%% of %llu attempts, restoring the rate",
                 ratio * 100, (unsigned long long)sample);
        rc = apply(&pl, rate, conc, why);
        settle = SETTLE_TICKS;
      } else if (queued > 2 * (uint64_t)conc && in_flight >= conc &&
                 conc < CONC_MAX) {
        snprintf(why, sizeof why,
                 "queue %llu deep, all %u slots busy, failures %.1f%%",
                 (unsigned long long)queued, conc, ratio * 100);
        rc = apply(&pl, rate, conc * 2 > CONC_MAX ? CONC_MAX : conc * 2, why);
      }
    }
    if (rc == 0 && queued == 0 && in_flight * 4 < pl.conc &&
        pl.conc > CONC_MIN) {
      snprintf(why, sizeof why, "queue empty, %llu of %u slots in use",
               (unsigned long long)in_flight, pl.conc);
      conc = pl.conc / 2 < CONC_MIN ? CONC_MIN : pl.conc / 2;
      rc = apply(&pl, pl.rate, conc, why);
    }
    if (rc) {
      fprintf(stderr, "dynamic_pool: changing the pool: %s\n",
              pacer_strerror(rc));
      bad = 1;
      break;
    }
  }
  double elapsed = now_s() - pl.t0;
  if (bad) { /* end what is left; its callbacks run before this returns */
    pacer_shutdown(pl.p, PACER_SHUTDOWN_CANCEL);
    pacer_drain(pl.p, -1);
  }
  pacer_free(pl.p);

  /* pacer_free() has returned: no callback runs any more. */
  printf("\ndone in %.1f s after %d changes; final rate %.0f/s, concurrency "
         "%u, workers %u\n",
         elapsed, pl.changes, pl.rate, pl.conc, pl.workers);
  printf("  %-10s %6s %6s %9s %6s\n", "phase", "jobs", "200", "gave up",
         "other");
  size_t unexpected = 0;
  for (int ph = 0; ph < PHASES; ph++) {
    printf("  %-10s %6zu %6zu %9zu %6zu\n", phase_name[ph], jobs[ph], ok[ph],
           gave_up[ph], other[ph]);
    unexpected += other[ph];
  }
  if (callbacks != accepted) {
    printf("ERROR: %zu jobs accepted but %zu callbacks\n", accepted, callbacks);
    bad = 1;
  }
  if (unexpected || refused)
    bad = 1;
  return bad;
}
