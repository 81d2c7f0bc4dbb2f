/* SPDX-License-Identifier: MIT */
/* test_concur.c - a key's concurrency limit adapted to latency: concur.c's
 * maths driven by a small closed-loop simulation of a server whose latency
 * grows past a knee, then the scheduler applying the cap. Time is a number;
 * nothing sleeps, no thread runs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clock.h"
#include "concur.h"
#include "config.h"
#include "job.h"
#include "sched_fixture.h"
#include "scheduler.h"
#include <stdlib.h>
#include <string.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS
#define T0 (1000 * S)
#define SLOTS 1024

/* ---- the simulation ----
 *
 * One key with an endless backlog: whenever an attempt ends, the limit
 * hears of it, then attempts start until the cap is full. The server
 * delays a request that finds n requests in flight on arrival (itself
 * included) by base while n <= knee, base x n / knee above (pacer-mock's
 * latency_knee), plus, when jitter is set, up to jitter x base more. */
typedef struct sim {
  pacer__concur_t c;
  pacer__concur_cfg_t cfg;
  int64_t now;
  int64_t base; /* ns */
  unsigned knee;
  double jitter;
  unsigned demand; /* most attempts the client has at once; 0: endless */
  int64_t start[SLOTS], end[SLOTS];
  unsigned n;
  uint64_t rng;
  /* Observed since the last sim_watch(). */
  unsigned cap_lo, cap_hi, limit_lo, limit_hi;
  int64_t probe_time, watch_from;
  int64_t lat[1 << 16];
  size_t nlat;
} sim_t;

static double draw(sim_t *s)
{
  s->rng = s->rng * 6364136223846793005u + 1442695040888963407u;
  return (double)(s->rng >> 11) / 9007199254740992.0;
}

static int64_t delay(sim_t *s, unsigned n)
{
  double d = (double)s->base;
  if (s->knee && n > s->knee)
    d = d * n / s->knee;
  if (s->jitter > 0)
    d += draw(s) * s->jitter * (double)s->base;
  return (int64_t)d;
}

static void sim_init(sim_t *s, unsigned min, unsigned max, int64_t base,
                     unsigned knee)
{
  memset(s, 0, sizeof *s);
  s->cfg.min = min;
  s->cfg.max = max;
  s->now = T0;
  s->base = base;
  s->knee = knee;
  s->rng = 42;
}

static void sim_watch(sim_t *s)
{
  s->cap_lo = s->limit_lo = UINT32_MAX;
  s->cap_hi = s->limit_hi = 0;
  s->probe_time = 0;
  s->watch_from = s->now;
  s->nlat = 0;
}

static void fill(sim_t *s)
{
  unsigned cap = pacer__concur_cap(&s->c, &s->cfg);
  unsigned want = s->demand && s->demand < cap ? s->demand : cap;
  while (s->n < want && s->n < SLOTS) {
    s->start[s->n] = s->now;
    s->end[s->n] = s->now + delay(s, s->n + 1);
    s->n++;
  }
}

/* Runs until the clock reaches until. */
static void sim_run(sim_t *s, int64_t until)
{
  fill(s);
  while (s->n) {
    unsigned i = 0;
    for (unsigned k = 1; k < s->n; k++)
      if (s->end[k] < s->end[i])
        i = k;
    if (s->end[i] > until)
      break;
    int64_t t = s->end[i], st = s->start[i];
    if (s->c.probing)
      s->probe_time += t - s->now;
    s->now = t;
    unsigned inflight = s->n;
    s->start[i] = s->start[s->n - 1];
    s->end[i] = s->end[s->n - 1];
    s->n--;
    if (s->nlat < sizeof s->lat / sizeof s->lat[0])
      s->lat[s->nlat++] = t - st;
    unsigned cap = pacer__concur_end(&s->c, &s->cfg, PACER__CONCUR_SAMPLE, st,
                                     inflight, t);
    assert_true(cap >= s->cfg.min && cap <= s->cfg.max);
    assert_int_equal(cap, pacer__concur_cap(&s->c, &s->cfg));
    s->cap_lo = cap < s->cap_lo ? cap : s->cap_lo;
    s->cap_hi = cap > s->cap_hi ? cap : s->cap_hi;
    if (!s->c.probing) {
      s->limit_lo = cap < s->limit_lo ? cap : s->limit_lo;
      s->limit_hi = cap > s->limit_hi ? cap : s->limit_hi;
    }
    fill(s);
  }
  if (s->now < until)
    s->now = until;
}

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t p99(sim_t *s)
{
  assert_true(s->nlat > 100);
  qsort(s->lat, s->nlat, sizeof s->lat[0], cmp64);
  return s->lat[s->nlat * 99 / 100];
}

/* ---- the proof's server ---- */

static void settles_near_the_knee(void **state)
{
  (void)state;
  sim_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  for (int jit = 0; jit < 2; jit++) {
    sim_init(s, 1, 64, 20 * MS, 16);
    s->jitter = jit ? 0.1 : 0; /* up to 2 ms of noise on 20 */
    /* From 1 to the knee in well under a second. */
    sim_watch(s);
    sim_run(s, T0 + 1 * S);
    assert_true(s->cap_hi >= 16);
    /* Then, over 30 s (three probes of min RTT), it stays in 12..24
     * outside the probes' windows, and p99 latency within 2x the
     * unloaded one, probes included. */
    sim_watch(s);
    sim_run(s, T0 + 31 * S);
    assert_true(s->limit_lo >= 12);
    assert_true(s->limit_hi <= 24);
    assert_true(p99(s) <= 2 * 20 * MS);
    /* The probes cost little: under 5% of the time. */
    assert_true(s->probe_time > 0);
    assert_true(s->probe_time < 30 * S / 20);
    /* 16 + sqrt(limit): about 20 (concur.h). */
    assert_true(s->c.limit >= 18 && s->c.limit <= 23);
    assert_true(s->c.min_rtt >= 20 * MS && s->c.min_rtt <= 22 * MS);
  }
  free(s);
}

static void raises_while_latency_is_flat(void **state)
{
  (void)state;
  sim_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  sim_init(s, 1, 200, 10 * MS, 0); /* no knee: latency never climbs */
  s->jitter = 0.05;
  sim_watch(s);
  sim_run(s, T0 + 1 * S);
  /* x1.5 a window: 1 to 200 in about 14 windows of a few RTTs each. */
  assert_int_equal(pacer__concur_cap(&s->c, &s->cfg), 200);
  /* A key that keeps only 3 busy stops raising its cap once that is less
   * than half of it (the samples say nothing of more): at most one x1.5
   * past 6. */
  sim_init(s, 1, 200, 10 * MS, 0);
  s->demand = 3;
  sim_run(s, T0 + 5 * S);
  assert_true(pacer__concur_cap(&s->c, &s->cfg) <= 9);
  free(s);
}

static void lowers_when_latency_climbs(void **state)
{
  (void)state;
  sim_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  sim_init(s, 1, 64, 20 * MS, 16);
  sim_run(s, T0 + 5 * S);
  unsigned before = pacer__concur_cap(&s->c, &s->cfg);
  assert_true(before >= 18);
  /* The server now serves only 8 at once: the cap follows it down, to
   * about 8 + sqrt(11). */
  s->knee = 8;
  sim_run(s, T0 + 7 * S);
  sim_watch(s);
  sim_run(s, T0 + 9 * S);
  assert_true(s->limit_hi <= 13);
  assert_true(s->limit_lo >= 8);
  /* And back up when it serves 32. */
  s->knee = 32;
  sim_run(s, T0 + 11 * S);
  sim_watch(s);
  sim_run(s, T0 + 13 * S);
  assert_true(s->limit_lo >= 32 && s->limit_hi <= 42);
  free(s);
}

static void min_and_max_are_kept(void **state)
{
  (void)state;
  sim_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  /* A min above where latency would put it: held at the min. */
  sim_init(s, 30, 40, 20 * MS, 16);
  assert_int_equal(pacer__concur_cap(&s->c, &s->cfg), 30);
  sim_watch(s);
  sim_run(s, T0 + 10 * S);
  assert_int_equal(s->cap_lo, 30);
  assert_true(s->cap_hi <= 40);
  /* A max below the knee: held at the max. */
  sim_init(s, 2, 10, 20 * MS, 16);
  sim_run(s, T0 + 2 * S);
  sim_watch(s);
  sim_run(s, T0 + 9 * S);
  assert_int_equal(s->limit_lo, 10);
  assert_int_equal(s->limit_hi, 10);
  /* min == max: fixed. */
  sim_init(s, 7, 7, 20 * MS, 4);
  sim_watch(s);
  sim_run(s, T0 + 12 * S);
  assert_int_equal(s->cap_lo, 7);
  assert_int_equal(s->cap_hi, 7);
  free(s);
}

static void a_latency_spike_does_not_collapse_it(void **state)
{
  (void)state;
  sim_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  sim_init(s, 12, 64, 20 * MS, 16);
  sim_run(s, T0 + 5 * S);
  unsigned before = pacer__concur_cap(&s->c, &s->cfg);
  /* Every answer takes 20x as long for a second (a pause at the server):
   * each window drops a quarter at most, and never below the min. */
  s->base = 400 * MS;
  sim_watch(s);
  sim_run(s, T0 + 6 * S);
  assert_true(s->cap_lo >= 12);
  assert_true(s->cap_lo >= before / 2);
  s->base = 20 * MS;
  sim_run(s, T0 + 8 * S);
  sim_watch(s);
  sim_run(s, T0 + 9 * S);
  assert_true(s->limit_lo >= 12 && s->limit_hi <= 24);
  /* A single slow window, straight: at most a quarter off. */
  pacer__concur_t c = s->c;
  double l = c.limit;
  int64_t t = s->now + S;
  unsigned cap = 0;
  for (unsigned i = 0; i < 32; i++)
    cap =
        pacer__concur_end(&c, &s->cfg, PACER__CONCUR_SAMPLE, t, 20, t + 10 * S);
  assert_true(c.limit >= l * 0.75 && c.limit < l);
  assert_true(cap >= 12);
  free(s);
}

static void min_rtt_follows_the_server(void **state)
{
  (void)state;
  sim_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  sim_init(s, 1, 64, 20 * MS, 16);
  sim_run(s, T0 + 5 * S);
  /* The unloaded latency doubles (a slower backend): at first it looks
   * like queueing and the cap falls, but the next probe of min RTT sees
   * it for what it is, and the cap is back near the knee. */
  s->base = 40 * MS;
  sim_watch(s);
  sim_run(s, T0 + 6 * S);
  assert_true(s->cap_lo < 12);
  sim_run(s, T0 + 17 * S);
  assert_true(s->c.min_rtt >= 40 * MS && s->c.min_rtt <= 44 * MS);
  sim_watch(s);
  sim_run(s, T0 + 20 * S);
  assert_true(s->limit_lo >= 12 && s->limit_hi <= 24);
  /* It halves (a faster backend): min RTT falls with the first window. */
  s->base = 20 * MS;
  sim_run(s, T0 + 21 * S);
  assert_true(s->c.min_rtt <= 22 * MS);
  sim_watch(s);
  sim_run(s, T0 + 24 * S);
  assert_true(s->limit_lo >= 12 && s->limit_hi <= 24);
  free(s);
}

/* ---- what feeds it ---- */

static void only_answers_of_the_work_are_samples(void **state)
{
  (void)state;
  assert_int_equal(pacer__concur_kind(0, 200, 0, 0), PACER__CONCUR_SAMPLE);
  assert_int_equal(pacer__concur_kind(0, 404, 0, 0), PACER__CONCUR_SAMPLE);
  assert_int_equal(pacer__concur_kind(0, 429, 0, 0), PACER__CONCUR_IGNORE);
  assert_int_equal(pacer__concur_kind(0, 500, 0, 0), PACER__CONCUR_IGNORE);
  assert_int_equal(pacer__concur_kind(0, 503, 0, 0), PACER__CONCUR_IGNORE);
  assert_int_equal(pacer__concur_kind(0, 200, 1, 0), PACER__CONCUR_IGNORE);
  assert_int_equal(pacer__concur_kind(PACER_ETIMEDOUT, 0, 0, 1),
                   PACER__CONCUR_TIMEOUT);
  assert_int_equal(pacer__concur_kind(PACER_ETIMEDOUT, 0, 0, 0),
                   PACER__CONCUR_IGNORE);
  assert_int_equal(pacer__concur_kind(PACER_ETRANSPORT, 0, 0, 0),
                   PACER__CONCUR_IGNORE);

  /* Ignored attempts change nothing, however slow. */
  pacer__concur_cfg_t cfg = {1, 100};
  pacer__concur_t c;
  memset(&c, 0, sizeof c);
  c.limit = 40;
  c.cap = 40;
  c.min_rtt = 10 * MS;
  pacer__concur_t before = c;
  for (int i = 0; i < 100; i++)
    assert_int_equal(
        pacer__concur_end(&c, &cfg, PACER__CONCUR_IGNORE, T0, 40, T0 + 60 * S),
        40);
  assert_memory_equal(&c, &before, sizeof c);

  /* A timeout halves it, once for every attempt started before the cut. */
  assert_int_equal(
      pacer__concur_end(&c, &cfg, PACER__CONCUR_TIMEOUT, T0, 40, T0 + 30 * S),
      20);
  for (int i = 0; i < 30; i++)
    assert_int_equal(pacer__concur_end(&c, &cfg, PACER__CONCUR_TIMEOUT,
                                       T0 + i * MS, 40, T0 + 30 * S + i * MS),
                     20);
  /* One started after it cuts again, never below the min. */
  assert_int_equal(pacer__concur_end(&c, &cfg, PACER__CONCUR_TIMEOUT,
                                     T0 + 31 * S, 20, T0 + 61 * S),
                   10);
  for (int i = 0; i < 10; i++)
    pacer__concur_end(&c, &cfg, PACER__CONCUR_TIMEOUT, T0 + (62 + i) * 30 * S,
                      1, T0 + (63 + i) * 30 * S);
  assert_int_equal(pacer__concur_cap(&c, &cfg), 1);

  /* Samples of attempts started before the cap changed are dropped. */
  memset(&c, 0, sizeof c);
  c.limit = 10;
  c.cap = 10;
  c.changed_ns = T0;
  before = c;
  assert_int_equal(
      pacer__concur_end(&c, &cfg, PACER__CONCUR_SAMPLE, T0 - 1, 10, T0 + S),
      10);
  assert_memory_equal(&c, &before, sizeof c);
}

static void fresh_state_starts_at_the_min(void **state)
{
  (void)state;
  pacer__concur_cfg_t cfg = {3, 9};
  pacer__concur_t c;
  memset(&c, 0, sizeof c);
  assert_int_equal(pacer__concur_cap(&c, &cfg), 3);
  /* Three samples (a cap's worth) end the first window: nothing queued,
   * so x1.5. */
  for (int i = 0; i < 2; i++)
    assert_int_equal(
        pacer__concur_end(&c, &cfg, PACER__CONCUR_SAMPLE, T0, 3, T0 + 10 * MS),
        3);
  assert_int_equal(
      pacer__concur_end(&c, &cfg, PACER__CONCUR_SAMPLE, T0, 3, T0 + 10 * MS),
      4);
  assert_int_equal(c.min_rtt, 10 * MS);
  assert_int_equal(c.rtt, 10 * MS);
}

/* ---- the scheduler applies it ---- */

typedef struct conc_cfg {
  unsigned min, max, key_cap;
} conc_cfg_t;

static void conc_tweak(pacer_config_t *in, void *user)
{
  const conc_cfg_t *c = user;
  in->concurrency = 1000;
  in->adapt_aimd = 0; /* refusals here test the cap, not the rate */
  in->max_attempts = 1;
  in->key_concurrency = c->key_cap;
  in->adaptive_concurrency_min = c->min;
  in->adaptive_concurrency_max = c->max;
}

static sched_fx_t *fx_new(unsigned min, unsigned max, unsigned key_cap)
{
  conc_cfg_t c = {min, max, key_cap};
  sched_fx_opts_t o = {
      .tweak_with = conc_tweak, .user = &c, .start_ns = T0, .breaker_off = 1};
  return sched_fx_open(&o);
}

static void push(sched_fx_t *f, const char *key, unsigned n)
{
  for (unsigned i = 0; i < n; i++)
    sched_fx_push(f, key);
}

/* Starts every job that may start now into js[]; returns how many. */
static unsigned start_all(sched_fx_t *f, pacer__job_t **js, unsigned room)
{
  unsigned n = 0;
  pacer__job_t *j;
  pacer__sched_tick(&f->s, f->now, &f->ended);
  while (n < room && (j = pacer__sched_next(&f->s, f->now, &f->ended)))
    js[n++] = j;
  return n;
}

/* Ends j's attempt (error, else status) and frees it if it ended. */
static void end(sched_fx_t *f, pacer__job_t *j, int error, int status)
{
  pacer__attempt_end_t e = {
      .error = error, .status = status, .retry_after_ns = -1};
  if (pacer__sched_done(&f->s, j, &e, f->now) == PACER__SCHED_END)
    sched_fx_release(f, j);
}

/* Ends the n attempts in js[] with 200s: none may be left in flight when
 * the fixture goes. */
static void end_all(sched_fx_t *f, pacer__job_t **js, unsigned n)
{
  for (unsigned i = 0; i < n; i++)
    end(f, js[i], 0, 200);
}

/* The key's entry in a snapshot, and the snapshot's JSON (free it). */
static pacer_key_concurrency_t key_conc(sched_fx_t *f, const char *key,
                                        char **json)
{
  pacer_stats_t *st = calloc(1, sizeof *st);
  assert_non_null(st);
  assert_int_equal(pacer__sched_stats(&f->s, f->now, st), 0);
  pacer_key_concurrency_t out;
  memset(&out, 0, sizeof out);
  int found = 0;
  for (size_t i = 0; i < st->key_count; i++)
    if (strcmp(st->keys[i].key, key) == 0) {
      out = st->key_concurrency[i];
      found = 1;
    }
  assert_true(found);
  if (json)
    assert_int_equal(pacer_stats_json(st, json), 0);
  pacer_stats_free(st);
  return out;
}

static void gate_holds_a_key_to_its_adapted_cap(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(2, 8, 0);
  pacer__job_t *js[64];
  push(f, "k", 200);
  push(f, "other", 1); /* another key has a cap of its own */
  /* A new key starts at the min. */
  assert_int_equal(start_all(f, js, 64), 3);
  char *json = NULL;
  pacer_key_concurrency_t kc = key_conc(f, "k", &json);
  assert_int_equal(kc.cap, 2);
  assert_int_equal(kc.min_rtt_us, 0);
  assert_non_null(strstr(json, "\"concurrency\":{\"cap\":2,"));
  free(json);
  /* A window of 2 answers in 10 ms, nothing queued: x1.5, cap 3. */
  f->now += 10 * MS;
  for (unsigned i = 0; i < 3; i++)
    end(f, js[i], 0, 200);
  f->now += 1;
  assert_int_equal(start_all(f, js, 64), 3);
  kc = key_conc(f, "k", NULL);
  assert_int_equal(kc.cap, 3);
  assert_int_equal(kc.min_rtt_us, 10000);
  assert_int_equal(kc.rtt_us, 10000);
  /* Flat latency takes it to the max, and no further: each round, what
   * is in flight ends 10 ms later and the key fills up again. */
  unsigned n = 3;
  for (int round = 0; round < 10; round++) {
    f->now += 10 * MS;
    for (unsigned i = 0; i < n; i++)
      end(f, js[i], 0, 200);
    f->now += 1;
    n = start_all(f, js, 64);
    kc = key_conc(f, "k", NULL);
    assert_int_equal(n, kc.cap);
  }
  assert_int_equal(kc.cap, 8);
  end_all(f, js, n);
  sched_fx_free(f);
}

static void timeouts_cut_and_refusals_do_not_count(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(1, 64, 0);
  pacer__job_t *js[64];
  /* Seed the state at 16: fast windows until then. */
  push(f, "k", 200);
  unsigned n = start_all(f, js, 64);
  while (key_conc(f, "k", NULL).cap < 16) {
    f->now += 10 * MS;
    for (unsigned i = 0; i < n; i++)
      end(f, js[i], 0, 200);
    f->now += 1;
    n = start_all(f, js, 64);
  }
  unsigned cap = key_conc(f, "k", NULL).cap;
  assert_int_equal(n, cap);
  /* 429s, 503s and 500s, however slow, move nothing. */
  f->now += 5 * S;
  end(f, js[0], 0, 429);
  end(f, js[1], 0, 503);
  end(f, js[2], 0, 500);
  end(f, js[3], PACER_ETRANSPORT, 0);
  assert_int_equal(key_conc(f, "k", NULL).cap, cap);
  /* A timeout halves it; the others started with it do not cut again. */
  end(f, js[4], PACER_ETIMEDOUT, 0);
  assert_int_equal(key_conc(f, "k", NULL).cap, cap / 2);
  for (unsigned i = 5; i < n; i++)
    end(f, js[i], PACER_ETIMEDOUT, 0);
  assert_int_equal(key_conc(f, "k", NULL).cap, cap / 2);
  f->now += 1;
  n = start_all(f, js, 64);
  assert_int_equal(n, cap / 2);
  end_all(f, js, n);
  sched_fx_free(f);
}

static void a_configured_cap_is_never_exceeded(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(1, 64, 3);
  pacer__job_t *js[64];
  push(f, "k", 100);
  unsigned n = start_all(f, js, 64);
  assert_int_equal(n, 1);
  for (int round = 0; round < 12; round++) {
    f->now += 10 * MS;
    for (unsigned i = 0; i < n; i++)
      end(f, js[i], 0, 200);
    f->now += 1;
    n = start_all(f, js, 64);
    assert_true(n <= 3);
  }
  assert_int_equal(n, 3);
  assert_int_equal(key_conc(f, "k", NULL).cap, 3);
  /* The key's own limits too. */
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "k", 0, 1, 2, f->now), 0);
  assert_int_equal(key_conc(f, "k", NULL).cap, 2);
  end_all(f, js, n);
  sched_fx_free(f);
}

static void settings_are_checked_and_off_by_default(void **state)
{
  (void)state;
  pacer_config_t in, out;
  pacer_config_init(&in);
  assert_int_equal(in.adaptive_concurrency_min, 0);
  assert_int_equal(in.adaptive_concurrency_max, 0);
  static const unsigned bad[][2] = {{0, 5}, {5, 4}, {1, 1000001}, {3, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    in.adaptive_concurrency_min = bad[i][0];
    in.adaptive_concurrency_max = bad[i][1];
    assert_int_equal(pacer__config_resolve(&in, &out), PACER_ECONCURRENCY);
  }
  static const unsigned good[][2] = {{0, 0}, {1, 1}, {1, 1000000}, {12, 24}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    in.adaptive_concurrency_min = good[i][0];
    in.adaptive_concurrency_max = good[i][1];
    assert_int_equal(pacer__config_resolve(&in, &out), 0);
    pacer__config_release(&out);
  }
  /* Off: a key has no cap, and the snapshot says nothing of it. */
  sched_fx_t *f = fx_new(0, 0, 0);
  pacer__job_t *js[64];
  push(f, "k", 50);
  assert_int_equal(start_all(f, js, 64), 50);
  char *json = NULL;
  assert_int_equal(key_conc(f, "k", &json).cap, 0);
  assert_null(strstr(json, "\"concurrency\""));
  free(json);
  end_all(f, js, 50);
  sched_fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(settles_near_the_knee),
      cmocka_unit_test(raises_while_latency_is_flat),
      cmocka_unit_test(lowers_when_latency_climbs),
      cmocka_unit_test(min_and_max_are_kept),
      cmocka_unit_test(a_latency_spike_does_not_collapse_it),
      cmocka_unit_test(min_rtt_follows_the_server),
      cmocka_unit_test(only_answers_of_the_work_are_samples),
      cmocka_unit_test(fresh_state_starts_at_the_min),
      cmocka_unit_test(gate_holds_a_key_to_its_adapted_cap),
      cmocka_unit_test(timeouts_cut_and_refusals_do_not_count),
      cmocka_unit_test(a_configured_cap_is_never_exceeded),
      cmocka_unit_test(settings_are_checked_and_off_by_default),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
