/* SPDX-License-Identifier: MIT */
/* test_shm_store.c - the one-host shared limit store: exact GCRA on a
 * shared-memory bucket, two mappings and four processes drawing from one
 * bucket, processes SIGKILLed mid-take, foreign and damaged segments, the
 * creation mode, a full table and idle-slot reuse, and threads and processes
 * racing to claim and reuse slots (run under TSan too).
 *
 * Every test passes its own `now` (the multi-process bound also runs on
 * CLOCK_MONOTONIC, asserting only the upper bound), and no test sleeps. Each
 * segment's name has the pid in it and is unlinked at the end. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "shm_store.h"
#include <fcntl.h>
#include <math.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define US INT64_C(1000)
#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1000) * SEC) /* any start will do; this one is > 0 */
#define IDLE PACER__SHM_IDLE_NS

/* ---- helpers ---- */

/* "t<pid>-<what>" in a static buffer (one of 4); every name made is kept,
 * so that a failed test's segments are unlinked at the end too. */
static char made[32][96];
static int n_made;

static const char *seg(const char *what)
{
  static char bufs[4][96];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "t%ld-%s", (long)getpid(), what);
  int i = 0;
  while (i < n_made && strcmp(made[i], b))
    i++;
  if (i == n_made && n_made < 32)
    snprintf(made[n_made++], sizeof made[0], "%s", b);
  return b;
}

static int unlink_all(void **state)
{
  (void)state;
  for (int i = 0; i < n_made; i++)
    (void)pacer__shm_unlink(made[i]);
  return 0;
}

static pacer__shm_t *open_new(const char *name, size_t slots)
{
  char err[256];
  (void)pacer__shm_unlink(name);
  pacer__shm_t *s = NULL;
  int rc = pacer__shm_open(name, slots, &s, err, sizeof err);
  if (rc)
    print_error("open %s: %s\n", name, err);
  assert_int_equal(rc, 0);
  assert_non_null(s);
  return s;
}

static pacer__shm_t *open_again(const char *name)
{
  pacer__shm_t *s = NULL;
  assert_int_equal(pacer__shm_open(name, 0, &s, NULL, 0), 0);
  return s;
}

/* Takes every token of name available at now. */
static int64_t drain(pacer__shm_t *s, const char *name, double rate,
                     int64_t burst, int64_t now)
{
  int64_t n = 0, w;
  while ((w = pacer__shm_take(s, name, rate, burst, now)) == 0) {
    n++;
    assert_true(n <= burst);
  }
  assert_true(w > 0);
  return n;
}

static int64_t mono_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* ---- exact GCRA ---- */

static void burst_then_one_per_interval(void **state)
{
  (void)state;
  const char *n = seg("gcra");
  pacer__shm_t *s = open_new(n, 1024);
  assert_int_equal(drain(s, "", 1000, 5, T0), 5);
  /* TAT is T0 + 5 ms, the tolerance 4 ms: the next token at T0 + 1 ms. */
  assert_int_equal(pacer__shm_take(s, "", 1000, 5, T0), 1 * MS);
  assert_int_equal(pacer__shm_take(s, "", 1000, 5, T0 + 1 * MS - 1), 1);
  assert_int_equal(pacer__shm_take(s, "", 1000, 5, T0 + 1 * MS), 0);
  assert_int_equal(pacer__shm_take(s, "", 1000, 5, T0 + 1 * MS), 1 * MS);
  /* A full bucket again after burst intervals, and no more than burst. */
  assert_int_equal(drain(s, "", 1000, 5, T0 + 1 * SEC), 5);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* Polls every step ns over span from T0, taking all there is: the count
 * and the bound burst + floor(rate x span), which it must never pass. */
static int64_t run_span(pacer__shm_t *s, const char *key, double rate,
                        int64_t burst, int64_t span, int64_t step)
{
  int64_t n = 0;
  for (int64_t t = 0; t <= span; t += step)
    n += drain(s, key, rate, burst, T0 + t);
  return n;
}

static void exact_over_a_long_span(void **state)
{
  (void)state;
  const char *n = seg("span");
  pacer__shm_t *s = open_new(n, 1024);
  /* Whole-ns intervals: exactly burst + floor(rate x span). */
  assert_int_equal(run_span(s, "a", 1000, 5, 10 * SEC, 250 * US), 5 + 10000);
  assert_int_equal(run_span(s, "b", 1000, 5, 10 * SEC, 4 * MS), 5 + 10000);
  assert_int_equal(run_span(s, "c", 0.5, 2, 100 * SEC, 100 * MS), 2 + 50);
  assert_int_equal(run_span(s, "d", 1e9, 3, 1000, 1), 3 + 1000);
  /* 3/s and 7/s: intervals of 333,333,334 and 142,857,143 ns, rounded up,
   * so never more than burst + floor(rate x span), and the shortfall is
   * what the rounding costs (under one token in 3e8 and 1.4e8). */
  int64_t got = run_span(s, "e", 3, 4, 1000 * SEC, 10 * MS);
  assert_true(got <= 4 + 3000);
  assert_int_equal(got, 4 + (1000 * SEC) / 333333334);
  got = run_span(s, "f", 7, 2, 1000 * SEC, 10 * MS);
  assert_true(got <= 2 + 7000);
  assert_int_equal(got, 2 + (1000 * SEC) / 142857143);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* iv x rate >= 1e9, exactly: rate is m x 2^(ex - 53) with m an integer
 * below 2^53, so the test is iv x m >= 1e9 x 2^(53 - ex), in 128 bits (no
 * long double: valgrind computes those with 64 bits). */
static int covers_exactly(int64_t iv, double rate)
{
  int ex;
  double f = frexp(rate, &ex);
  assert_true(ex <= 53 && ex >= -20);
  __extension__ typedef unsigned __int128 u128;
  u128 m = (u128)(uint64_t)ldexp(f, 53);
  return (u128)iv * m >= ((u128)1000000000 << (53 - ex));
}

/* The interval is the least whole ns with interval x rate >= 1e9, for rates
 * whose quotient lands on either side of an integer in floating point. */
static void interval_rounds_up_exactly(void **state)
{
  (void)state;
  const char *n = seg("iv");
  pacer__shm_t *s = open_new(n, 4096);
  const double rates[] = {3,    7,      1000,      1e9 / 3, 1e9 / 7,
                          1e-3, 123.45, 999999.99, 4e8,     0.1,
                          1e9,  2e9,    3.1e8,     1e9 - 1, 65536.5};
  unsigned seed = 15;
  for (int i = 0; i < 400; i++) {
    double rate = i < 15 ? rates[i] : (double)rand_r(&seed) / RAND_MAX * 2e6;
    if (!(rate > 0))
      continue;
    char key[32];
    snprintf(key, sizeof key, "r%d", i);
    assert_int_equal(pacer__shm_take(s, key, rate, 1, T0), 0);
    int64_t iv = pacer__shm_take(s, key, rate, 1, T0);
    assert_true(iv >= 1);
    assert_true(covers_exactly(iv, rate));
    if (iv > 1)
      assert_false(covers_exactly(iv - 1, rate));
  }
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* ---- sharing ---- */

static void two_mappings_share_buckets_and_pauses(void **state)
{
  (void)state;
  const char *n = seg("two"), *m = seg("other");
  pacer__shm_t *a = open_new(n, 0), *b = open_again(n), *o = open_new(m, 0);
  assert_int_equal(drain(a, "k", 10, 3, T0), 3);
  assert_int_equal(pacer__shm_take(b, "k", 10, 3, T0), 100 * MS);
  assert_int_equal(pacer__shm_take(b, "k", 10, 3, T0 + 100 * MS), 0);
  assert_true(pacer__shm_take(a, "k", 10, 3, T0 + 100 * MS) > 0);
  /* Other keys, and the same key in another segment, are their own. */
  assert_int_equal(drain(b, "k2", 10, 3, T0), 3);
  assert_int_equal(drain(b, "", 10, 3, T0), 3);
  assert_int_equal(drain(o, "k", 10, 3, T0), 3);
  /* A pause set through one mapping holds in the other; it only extends. */
  assert_int_equal(pacer__shm_paused_until(b, "k", T0), 0);
  pacer__shm_pause(a, "k", T0 + 2 * SEC);
  assert_int_equal(pacer__shm_paused_until(b, "k", T0), T0 + 2 * SEC);
  pacer__shm_pause(b, "k", T0 + 1 * SEC);
  assert_int_equal(pacer__shm_paused_until(a, "k", T0), T0 + 2 * SEC);
  assert_int_equal(pacer__shm_paused_until(a, "k", T0 + 2 * SEC), 0);
  assert_int_equal(pacer__shm_paused_until(a, "k2", T0), 0);
  assert_int_equal(pacer__shm_paused_until(o, "k", T0), 0);
  /* A pause of a name never taken from makes its bucket. */
  pacer__shm_pause(b, "new", T0 + 5 * SEC);
  assert_int_equal(pacer__shm_paused_until(a, "new", T0), T0 + 5 * SEC);
  assert_int_equal(pacer__shm_paused_until(a, "none", T0), 0);
  pacer__shm_close(a);
  pacer__shm_close(b);
  pacer__shm_close(o);
  pacer__shm_close(NULL);
  assert_int_equal(pacer__shm_unlink(n), 0);
  assert_int_equal(pacer__shm_unlink(m), 0);
  assert_int_equal(pacer__shm_unlink(m), 0); /* gone already: fine */
}

/* A learned rate's next window: read through the other mapping once the
 * first ends, to its own end; a write with no next window (or a clear)
 * drops an older one; a next window that does not follow the first, or
 * has a bad rate, writes nothing; a slot holds it until it ends. */
static void learned_next_window(void **state)
{
  (void)state;
  const char *n = seg("learn2");
  pacer__shm_t *a = open_new(n, 0), *b = open_again(n);
  double r = -1;
  pacer__shm_learn(a, "k", 4, T0 + 2 * SEC, 10, T0 + 4 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k", T0, &r), T0 + 2 * SEC);
  assert_true(r <= 4 && r > 4 * (1 - 1e-5));
  /* the first window ends: the next one, at the quota's pace */
  assert_int_equal(pacer__shm_learned(b, "k", T0 + 2 * SEC, &r), T0 + 4 * SEC);
  assert_true(r <= 10 && r > 10 * (1 - 1e-5));
  assert_int_equal(pacer__shm_learned(b, "k", T0 + 4 * SEC, &r), 0);
  /* written in the first window's last moment, read after it */
  pacer__shm_learn(a, "k", 4, T0 + 2 * SEC, 10, T0 + 4 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k", T0 + 3 * SEC, &r), T0 + 4 * SEC);
  /* a later write without a next window drops the older next window */
  pacer__shm_learn(b, "k", 5, T0 + 2 * SEC, 0, 0);
  assert_int_equal(pacer__shm_learned(a, "k", T0 + 2 * SEC, &r), 0);
  /* a clear drops both */
  pacer__shm_learn(a, "k", 4, T0 + 2 * SEC, 10, T0 + 4 * SEC);
  pacer__shm_learn(a, "k", 0, 0, 10, T0 + 4 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k", T0, &r), 0);
  assert_int_equal(pacer__shm_learned(b, "k", T0 + 3 * SEC, &r), 0);
  /* only the next window ahead: held from now */
  pacer__shm_learn(a, "k", 4, T0, 10, T0 + 4 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k", T0 + SEC, &r), T0 + 4 * SEC);
  assert_true(r <= 10 && r > 10 * (1 - 1e-5));
  /* a next window not after the first, or with a bad rate: nothing written */
  pacer__shm_learn(a, "k3", 4, T0 + 2 * SEC, 10, T0 + 2 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k3", T0, &r), 0);
  pacer__shm_learn(a, "k3", 4, T0 + 2 * SEC, NAN, T0 + 4 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k3", T0, &r), 0);
  pacer__shm_learn(a, "k3", 4, T0 + 2 * SEC, -1, T0 + 4 * SEC);
  assert_int_equal(pacer__shm_learned(b, "k3", T0, &r), 0);
  pacer__shm_close(a);
  pacer__shm_close(b);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* A learned rate written through one mapping is read through the other:
 * never above the rate written, until a whole ms at most later than
 * written; the latest write wins; it ends at its until; it keeps its slot
 * from being given back until then. */
static void learned_rates_shared(void **state)
{
  (void)state;
  const char *n = seg("learn");
  pacer__shm_t *a = open_new(n, 0), *b = open_again(n);
  double r = -1;
  assert_int_equal(pacer__shm_learned(b, "k", T0, &r), 0);
  assert_true(r == -1); /* untouched */
  pacer__shm_learn(a, "k", 9.5, T0 + 20 * SEC + 1, 0, 0);
  int64_t u = pacer__shm_learned(b, "k", T0, &r);
  assert_int_equal(u, T0 + 20 * SEC + MS); /* rounded up to a whole ms */
  assert_true(r <= 9.5 && r > 9.5 * (1 - 1e-5));
  /* Latest wins, even an earlier end and a higher rate. */
  pacer__shm_learn(b, "k", 40, T0 + 5 * SEC, 0, 0);
  assert_int_equal(pacer__shm_learned(a, "k", T0, &r), T0 + 5 * SEC);
  assert_true(r <= 40 && r > 40 * (1 - 1e-5));
  assert_int_equal(pacer__shm_learned(a, "k", T0 + 5 * SEC, &r), 0);
  /* An end in the past holds nothing. */
  pacer__shm_learn(a, "k", 40, T0, 0, 0);
  assert_int_equal(pacer__shm_learned(b, "k", T0, &r), 0);
  /* The range: a billion per s to one per 100 years (a token per 2^62 ns
   * is 146 years); none out of range; bad names. */
  double rates[] = {1e6,
                    1e9,
                    12345.678,
                    0.001,
                    1.0 / (10 * 86400.0),
                    1.0 / (100 * 365.25 * 86400.0)};
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    pacer__shm_learn(a, "k", rates[i], T0 + SEC, 0, 0);
    assert_int_equal(pacer__shm_learned(b, "k", T0, &r), T0 + SEC);
    /* the interval rounded up to a whole ns, then to 18 bits */
    assert_true(r <= rates[i] && r > rates[i] * (1 - 1e-4));
  }
  double bad[] = {-1, NAN, INFINITY, 1.0 / (200 * 365.25 * 86400.0)};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pacer__shm_learn(a, "k2", bad[i], T0 + SEC, 0, 0);
    assert_int_equal(pacer__shm_learned(b, "k2", T0, &r), 0);
  }
  /* Rate 0 clears what was there; a bad rate leaves it. */
  pacer__shm_learn(a, "k2", 3, T0 + SEC, 0, 0);
  pacer__shm_learn(a, "k2", NAN, T0 + SEC, 0, 0);
  assert_int_equal(pacer__shm_learned(b, "k2", T0, &r), T0 + SEC);
  pacer__shm_learn(a, "k2", 0, T0 + SEC, 0, 0);
  assert_int_equal(pacer__shm_learned(b, "k2", T0, &r), 0);
  pacer__shm_learn(a, NULL, 1, T0 + SEC, 0, 0);
  assert_int_equal(pacer__shm_learned(a, NULL, T0, &r), 0);
  assert_int_equal(pacer__shm_learned(a, "k", T0, NULL), 0);
  /* Times far from 0 either way are held, rounded to the range. */
  pacer__shm_learn(a, "far", 1, INT64_MAX, 0, 0);
  assert_true(pacer__shm_learned(b, "far", T0, &r) >
              T0 + 10 * 365 * 86400 * SEC);
  pacer__shm_learn(a, "far", 1, INT64_MIN, 0, 0);
  assert_int_equal(pacer__shm_learned(b, "far", T0, &r), 0);
  pacer__shm_close(a);
  pacer__shm_close(b);
  assert_int_equal(pacer__shm_unlink(n), 0);

  /* A full table of 2: a bucket holding a learned rate is not idle. */
  const char *f = seg("learnfull");
  pacer__shm_t *s = open_new(f, 2);
  assert_int_equal(pacer__shm_take(s, "a", 1, 1, T0), 0);
  pacer__shm_learn(s, "b", 1, T0 + 1000 * SEC, 0, 0);
  pacer__shm_learn(s, "c", 1, T0 + 1000 * SEC, 0, 0); /* no room: nothing */
  int64_t t1 = T0 + SEC + IDLE;
  assert_int_equal(pacer__shm_learned(s, "c", t1, &r), 0);
  assert_int_equal(pacer__shm_take(s, "c", 1, 1, t1), 0); /* a's slot */
  assert_int_equal(pacer__shm_take(s, "d", 1, 1, t1), PACER_ENOMEM);
  assert_int_equal(pacer__shm_learned(s, "b", t1, &r), T0 + 1000 * SEC);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(f), 0);
}

/* ---- processes ---- */

/* Counters and a barrier in anonymous shared memory, for forked children. */
typedef struct shared {
  pthread_barrier_t barrier;
  atomic_llong count[8];
  atomic_llong per_key[64 * 50];
  atomic_int started;
} shared_t;

static shared_t *shared_new(unsigned parties)
{
  shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(sh != MAP_FAILED);
  memset(sh, 0, sizeof *sh);
  pthread_barrierattr_t ba;
  pthread_barrierattr_init(&ba);
  pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
  assert_int_equal(pthread_barrier_init(&sh->barrier, &ba, parties), 0);
  pthread_barrierattr_destroy(&ba);
  return sh;
}

static void shared_free(shared_t *sh)
{
  pthread_barrier_destroy(&sh->barrier);
  munmap(sh, sizeof *sh);
}

/* Waits for a child; 1 if it exited with status 0. */
static int reap(pid_t pid)
{
  int st;
  if (waitpid(pid, &st, 0) != pid)
    return 0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* 4 processes step through the same `now` sequence, each taking all it can
 * at each step: together exactly burst + rate x span, never more. */
static void four_processes_fixed_now(void **state)
{
  (void)state;
  const char *n = seg("proc");
  pacer__shm_t *s = open_new(n, 0);
  shared_t *sh = shared_new(4);
  pacer__shm_pause(s, "hot", 0); /* made here: the children only find it */
  const int64_t span = 2 * SEC, step = 100 * US;
  pid_t pid[4];
  for (int c = 0; c < 4; c++) {
    pid[c] = fork();
    assert_true(pid[c] >= 0);
    if (pid[c] == 0) {
      pacer__shm_t *mine = NULL;
      if (pacer__shm_open(n, 0, &mine, NULL, 0))
        _exit(1);
      pthread_barrier_wait(&sh->barrier);
      long long got = 0;
      for (int64_t t = 0; t <= span; t += step)
        while (pacer__shm_take(mine, "hot", 1000, 5, T0 + t) == 0)
          got++;
      atomic_store(&sh->count[c], got);
      pacer__shm_close(mine);
      pacer__shm_close(s); /* the parent's, inherited */
      _exit(0);
    }
  }
  long long total = 0;
  for (int c = 0; c < 4; c++) {
    assert_true(reap(pid[c]));
    total += atomic_load(&sh->count[c]);
  }
  assert_int_equal(total, 5 + 2000);
  shared_free(sh);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* The same on CLOCK_MONOTONIC, each process reading its own clock: the
 * total never passes burst + rate x (the span that holds every reading). */
static void four_processes_monotonic(void **state)
{
  (void)state;
  const char *n = seg("mono");
  pacer__shm_t *s = open_new(n, 0);
  shared_t *sh = shared_new(4);
  pacer__shm_pause(s, "hot", 0);
  int64_t start = mono_now();
  pid_t pid[4];
  for (int c = 0; c < 4; c++) {
    pid[c] = fork();
    assert_true(pid[c] >= 0);
    if (pid[c] == 0) {
      long long got = 0;
      for (int i = 0; i < 200000; i++)
        if (pacer__shm_take(s, "hot", 20000, 10, mono_now()) == 0)
          got++;
      atomic_store(&sh->count[c], got);
      pacer__shm_close(s);
      _exit(0);
    }
  }
  long long total = 0;
  for (int c = 0; c < 4; c++) {
    assert_true(reap(pid[c]));
    total += atomic_load(&sh->count[c]);
  }
  int64_t span = mono_now() - start;
  long long bound = 10 + span / (SEC / 20000);
  print_message("      4 processes: %lld tokens in %.3f s, bound %lld\n", total,
                (double)span / SEC, bound);
  assert_true(total >= 10);
  assert_true(total <= bound);
  shared_free(sh);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* A child that takes forever: from "hot" on the clock, counting each token
 * after it is taken, and from 40 names churning through a 16-slot table on
 * a fake clock that jumps past the idle time, so that it dies in the middle
 * of claims, completions and reclaims too. */
static void taker_forever(const char *n, const char *churn, shared_t *sh,
                          int round)
{
  pacer__shm_t *s = NULL, *c = NULL;
  if (pacer__shm_open(n, 0, &s, NULL, 0) ||
      pacer__shm_open(churn, 0, &c, NULL, 0))
    _exit(1);
  atomic_store(&sh->started, 1);
  int64_t fake = T0 + (int64_t)round * 100000 * IDLE;
  for (unsigned i = 0;; i++) {
    if (pacer__shm_take(s, "hot", 20000, 50, mono_now()) == 0)
      atomic_fetch_add(&sh->count[0], 1);
    char key[16];
    snprintf(key, sizeof key, "c%u", i % 40);
    (void)pacer__shm_take(c, key, 10, 3, fake);
    if (i % 7 == 0)
      pacer__shm_pause(c, key, fake + SEC);
    if (i % 40 == 39)
      fake += IDLE + SEC;
  }
}

static void sigkill_mid_take_leaves_it_usable(void **state)
{
  (void)state;
  const char *n = seg("kill"), *churn = seg("churn");
  pacer__shm_t *s = open_new(n, 0), *c = open_new(churn, 16);
  shared_t *sh = shared_new(1);
  unsigned seed = (unsigned)getpid();
  int64_t start = mono_now();
  for (int round = 0; round < 20; round++) {
    atomic_store(&sh->started, 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
      taker_forever(n, churn, sh, round);
    while (!atomic_load(&sh->started)) {
      assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* not dead yet */
      sched_yield();
    }
    /* A random point: some thousands of its takes in. */
    unsigned spins = 1000 + rand_r(&seed) % 2000000;
    for (volatile unsigned i = 0; i < spins; i++)
      ;
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  }
  int64_t span = mono_now() - start;
  /* A child killed between a take and its count leaves one token uncounted;
   * a bucket left broken would give whole bursts of 50 more. */
  long long counted = atomic_load(&sh->count[0]);
  assert_true(counted <= 50 + span / (SEC / 20000));
  /* Usable: open again, and every churn name, each at a time when all the
   * others are idle, has its one bucket, full (exactly burst: a name left in
   * two slots would give more). */
  pacer__shm_t *c2 = open_again(churn);
  int64_t late = T0 + 10000000 * IDLE;
  for (int i = 0; i < 40; i++) {
    char key[16];
    snprintf(key, sizeof key, "c%d", i);
    int64_t now = late + (int64_t)i * 2 * IDLE;
    assert_int_equal(pacer__shm_paused_until(c2, key, now), 0);
    assert_int_equal(drain(c2, key, 10, 3, now), 3);
    assert_int_equal(drain(c, key, 10, 3, now), 0);
  }
  /* And the hot bucket still limits: at a later clock it is full, once. */
  int64_t now = mono_now() + 10 * SEC;
  assert_int_equal(drain(s, "hot", 20000, 50, now), 50);
  pacer__shm_close(c2);
  shared_free(sh);
  pacer__shm_close(s);
  pacer__shm_close(c);
  assert_int_equal(pacer__shm_unlink(n), 0);
  assert_int_equal(pacer__shm_unlink(churn), 0);
}

/* ---- segments that are not ours ---- */

/* Creates "/pacer-<name>" with len bytes of data, mode 0600. */
static void write_foreign(const char *name, const void *data, size_t len)
{
  char path[256];
  snprintf(path, sizeof path, "/pacer-%s", name);
  (void)shm_unlink(path);
  int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void expect_refused(const char *name, const char *why)
{
  char err[256] = "";
  pacer__shm_t *s = (pacer__shm_t *)&err; /* must come back NULL */
  assert_int_equal(pacer__shm_open(name, 0, &s, err, sizeof err),
                   PACER_ESYSTEM);
  assert_null(s);
  if (!strstr(err, "has another layout or version") || !strstr(err, why))
    fail_msg("refusal of %s said: %s", name, err);
  assert_int_equal(pacer__shm_open(name, 0, &s, NULL, 0), PACER_ESYSTEM);
}

/* Patches len bytes at off of a real segment's file. */
static void patch(const char *name, off_t off, const void *data, size_t len)
{
  char path[256];
  snprintf(path, sizeof path, "/pacer-%s", name);
  int fd = shm_open(path, O_RDWR, 0);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, data, len, off), (ssize_t)len);
  close(fd);
}

static void foreign_segments_refused(void **state)
{
  (void)state;
  const char *n = seg("foreign");
  unsigned char junk[4096];
  memset(junk, 0xa5, sizeof junk);
  write_foreign(n, junk, sizeof junk);
  expect_refused(n, "magic 0xa5a5a5a5a5a5a5a5");
  write_foreign(n, "not pacer", 10);
  expect_refused(n, "10 bytes, shorter than a header");

  /* A real segment with its layout version changed... */
  pacer__shm_close(open_new(n, 8));
  uint32_t v = 99;
  patch(n, 8, &v, sizeof v);
  expect_refused(n, "layout version 99");
  /* ... or its slot size ... */
  pacer__shm_close(open_new(n, 8));
  v = 32;
  patch(n, 12, &v, sizeof v);
  expect_refused(n, "slot size 32");
  /* ... or a slot count its size does not hold (truncated): refused, not
   * mapped past its end (a SIGBUS would end the test). */
  pacer__shm_close(open_new(n, 8));
  uint64_t slots = 1000;
  patch(n, 16, &slots, sizeof slots);
  expect_refused(n, "576 bytes, 1000 slots need 64064");
  pacer__shm_close(open_new(n, 8));
  char path[256];
  snprintf(path, sizeof path, "/pacer-%s", n);
  int fd = shm_open(path, O_RDWR, 0);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, 200), 0);
  close(fd);
  expect_refused(n, "200 bytes, 8 slots need 576");

  /* A real segment without its magic, which is written last, but with
   * another version: not ours, refused. */
  pacer__shm_close(open_new(n, 8));
  uint64_t zero = 0;
  patch(n, 0, &zero, sizeof zero);
  v = 99;
  patch(n, 8, &v, sizeof v);
  expect_refused(n, "magic 0");

  /* One whose creator died before sizing it (empty), or before writing the
   * magic, is made anew, with the slot count asked for. */
  write_foreign(n, "", 0);
  pacer__shm_t *s = open_again(n);
  assert_int_equal(drain(s, "", 1, 2, T0), 2);
  pacer__shm_close(s);
  pacer__shm_close(open_new(n, 8));
  patch(n, 0, &zero, sizeof zero);
  assert_int_equal(pacer__shm_open(n, 16, &s, NULL, 0), 0);
  assert_int_equal(drain(s, "", 1, 2, T0), 2);
  pacer__shm_close(s);
  struct stat st;
  fd = shm_open(path, O_RDONLY, 0);
  assert_true(fd >= 0);
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  assert_int_equal(st.st_size, 64 + 16 * 64);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

static void created_0600_whatever_the_umask(void **state)
{
  (void)state;
  const mode_t masks[] = {0, 0277};
  for (int i = 0; i < 2; i++) {
    const char *n = seg("mode");
    (void)pacer__shm_unlink(n);
    mode_t old = umask(masks[i]);
    pacer__shm_t *s = NULL;
    int rc = pacer__shm_open(n, 4, &s, NULL, 0);
    umask(old);
    assert_int_equal(rc, 0);
    char path[256];
    snprintf(path, sizeof path, "/pacer-%s", n);
    int fd = shm_open(path, O_RDONLY, 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    assert_int_equal(st.st_mode & 07777, 0600);
    pacer__shm_close(s);
    assert_int_equal(pacer__shm_unlink(n), 0);
  }
}

/* ---- states a killed process leaves, made by hand ----
 *
 * The segment as shm_store.c lays it out: a 64-byte header, then 64-byte
 * slots of {id, tat, pause, learn, learn2, name[3]}; id = tag << 16 | gen << 2
 * | F << 1 | P, times biased by 2^63 (0 is "never"). A second mapping writes
 * into it what a process killed between two steps, or two claims racing a
 * reuse, leave; the next caller must finish it and count every token
 * exactly once. */

typedef struct raw_slot {
  uint64_t id, tat, pause, learn, learn2, name[3];
} raw_slot_t;

typedef struct raw {
  pacer__shm_t *s;
  raw_slot_t *slot;
  size_t len;
  uint64_t tag, home, n;
} raw_t;

static uint64_t biased(int64_t t)
{
  return (uint64_t)t ^ (UINT64_C(1) << 63);
}

/* A store of n slots with the tag and home slot of "x", seen after a take;
 * then every slot emptied again. */
static raw_t raw_open(const char *name, uint64_t n)
{
  raw_t r = {open_new(name, n), NULL, 64 + n * 64, 0, 0, n};
  char path[256];
  snprintf(path, sizeof path, "/pacer-%s", name);
  int fd = shm_open(path, O_RDWR, 0);
  assert_true(fd >= 0);
  void *m = mmap(NULL, r.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  assert_true(m != MAP_FAILED);
  r.slot = (raw_slot_t *)((char *)m + 64);
  assert_int_equal(pacer__shm_take(r.s, "x", 1, 3, T0), 0);
  for (uint64_t k = 0; k < n; k++)
    if (r.slot[k].id) {
      assert_int_equal(r.tag, 0); /* one slot only */
      assert_int_equal(r.slot[k].name[0], 'x');
      r.tag = r.slot[k].id >> 16;
      r.home = r.tag % n;
      assert_int_equal(r.home, k); /* an empty table: its home slot */
    }
  assert_int_not_equal(r.tag, 0);
  memset(r.slot, 0, n * sizeof *r.slot);
  return r;
}

static void raw_close(raw_t *r, const char *name)
{
  munmap((char *)r->slot - 64, r->len);
  pacer__shm_close(r->s);
  assert_int_equal(pacer__shm_unlink(name), 0);
}

/* Slot home + off. */
static raw_slot_t *raw_at(raw_t *r, uint64_t off)
{
  return &r->slot[(r->home + off) % r->n];
}

static void raw_set(raw_t *r, uint64_t off, uint64_t tag, unsigned bits,
                    int64_t tat)
{
  raw_slot_t *sl = raw_at(r, off);
  memset(sl, 0, sizeof *sl);
  sl->id = tag << 16 | (UINT64_C(5) << 2) | bits;
  sl->tat = biased(tat);
}

/* How many slots hold the tag, in any state. */
static int raw_count(raw_t *r, uint64_t tag)
{
  int c = 0;
  for (uint64_t k = 0; k < r->n; k++)
    c += r->slot[k].id >> 16 == tag;
  return c;
}

enum { P = 1, F = 2 };

static void killed_mid_step_states_are_finished(void **state)
{
  (void)state;
  const char *n = seg("raw");
  raw_t r = raw_open(n, 8);

  /* A claimer killed before completing: its pending slot is completed and
   * used, full; one slot, its generation kept. */
  raw_set(&r, 0, r.tag, P, INT64_MIN);
  assert_int_equal(drain(r.s, "x", 1, 3, T0), 3);
  assert_int_equal(raw_at(&r, 0)->id, r.tag << 16 | 5 << 2);
  assert_int_equal(raw_count(&r, r.tag), 1);

  /* Two claims that raced a reuse: a pending "x" below a live one that has
   * given 2 of its 3 tokens. The lower one wins and takes over the upper
   * one's TAT: 1 token left, not 3. */
  memset(r.slot, 0, r.n * sizeof *r.slot);
  raw_set(&r, 0, r.tag, P, INT64_MIN);
  raw_set(&r, 1, r.tag, 0, T0 + 2 * SEC);
  assert_int_equal(drain(r.s, "x", 1, 3, T0), 1);
  assert_int_equal(raw_at(&r, 0)->id, r.tag << 16 | 5 << 2);
  assert_true(raw_at(&r, 0)->tat == biased(T0 + 3 * SEC));
  assert_true(raw_at(&r, 1)->tat == biased(T0 + 2 * SEC)); /* untouched */

  /* The other way round: the live one below stands, and the pending one
   * above it is never used; when a new name needs room it loses and is
   * freed (next generation). */
  memset(r.slot, 0, r.n * sizeof *r.slot);
  raw_set(&r, 0, r.tag, 0, T0 + 2 * SEC);
  raw_set(&r, 1, r.tag, P, INT64_MIN);
  assert_int_equal(drain(r.s, "x", 1, 3, T0), 1);
  for (int i = 0; i < 6; i++) {
    char key[8];
    snprintf(key, sizeof key, "y%d", i);
    assert_int_equal(pacer__shm_take(r.s, key, 1, 3, T0), 0);
  }
  assert_int_equal(raw_count(&r, r.tag), 2);
  assert_int_equal(drain(r.s, "y6", 1, 3, T0), 3);
  assert_int_equal(raw_count(&r, r.tag), 1);
  assert_int_equal(raw_at(&r, 1)->id >> 2 & 0x3fff, 6);
  assert_int_equal(pacer__shm_take(r.s, "x", 1, 3, T0), 1 * SEC);

  /* A reclaimer killed after freezing an idle bucket: freed (next
   * generation), and "x" starts again full. */
  memset(r.slot, 0, r.n * sizeof *r.slot);
  raw_set(&r, 0, r.tag, F, T0 - IDLE - SEC);
  assert_int_equal(drain(r.s, "x", 1, 3, T0), 3);
  assert_int_equal(raw_count(&r, r.tag), 1);
  /* ... or after freezing one a take made busy again: unfrozen, kept. */
  memset(r.slot, 0, r.n * sizeof *r.slot);
  raw_set(&r, 0, r.tag, F, T0 + 2 * SEC);
  assert_int_equal(drain(r.s, "x", 1, 3, T0), 1);
  assert_int_equal(raw_at(&r, 0)->id, r.tag << 16 | 5 << 2);

  /* A table full of other names, one frozen and idle, one pending from a
   * dead claimer: the claim of "x" settles the one and completes the other,
   * and takes the freed slot. */
  memset(r.slot, 0, r.n * sizeof *r.slot);
  for (uint64_t o = 0; o < r.n; o++)
    raw_set(&r, o, r.tag + 1 + o, 0, T0);
  raw_set(&r, 3, r.tag + 100, F, T0 - IDLE - SEC);
  raw_set(&r, 5, r.tag + 200, P, T0);
  assert_int_equal(drain(r.s, "x", 1, 3, T0), 3);
  assert_int_equal(raw_count(&r, r.tag + 100), 0);
  assert_int_equal(raw_at(&r, 5)->id, (r.tag + 200) << 16 | 5 << 2);
  raw_close(&r, n);
}

/* ---- a full table, reuse, bad arguments ---- */

static void full_table_and_idle_reuse(void **state)
{
  (void)state;
  const char *n = seg("full");
  pacer__shm_t *s = open_new(n, 4);
  const char *k[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  for (int i = 0; i < 4; i++)
    assert_int_equal(pacer__shm_take(s, k[i], 1, 1, T0), 0);
  assert_int_equal(pacer__shm_take(s, "e", 1, 1, T0), PACER_ENOMEM);
  /* Not idle long enough yet: b, c, d became full at T0 + 1 s. */
  assert_int_equal(pacer__shm_take(s, "e", 1, 1, T0 + SEC + IDLE - 1),
                   PACER_ENOMEM);
  pacer__shm_pause(s, "a", T0 + 1000 * SEC);
  pacer__shm_pause(s, "e", T0 + 1000 * SEC); /* no room: nothing paused */
  int64_t t1 = T0 + SEC + IDLE;
  assert_int_equal(pacer__shm_paused_until(s, "e", t1), 0);
  /* Idle b, c and d give their slots up; a is paused. */
  assert_int_equal(pacer__shm_take(s, "e", 1, 1, t1), 0);
  assert_int_equal(pacer__shm_take(s, "f", 1, 1, t1), 0);
  assert_int_equal(pacer__shm_take(s, "g", 1, 1, t1), 0);
  assert_int_equal(pacer__shm_take(s, "h", 1, 1, t1), PACER_ENOMEM);
  assert_int_equal(pacer__shm_paused_until(s, "a", t1), T0 + 1000 * SEC);
  assert_true(pacer__shm_take(s, "e", 1, 1, t1) > 0); /* the same bucket */
  /* A given-up name comes back with a full bucket, once there is room. */
  int64_t t2 = t1 + SEC + IDLE;
  assert_int_equal(drain(s, "b", 1, 3, t2), 3);
  assert_int_equal(pacer__shm_take(s, "a", 1, 1, t2), 0);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

static void bad_arguments(void **state)
{
  (void)state;
  pacer__shm_t *s = NULL;
  char err[256];
  char long_name[202];
  memset(long_name, 'x', 201);
  long_name[201] = '\0';
  const char *bad[] = {"", "a/b", "sp ace", "..\x01", long_name};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(pacer__shm_open(bad[i], 0, &s, err, sizeof err),
                     PACER_EINVAL);
    assert_null(s);
    assert_int_equal(pacer__shm_unlink(bad[i]), PACER_EINVAL);
  }
  assert_int_equal(pacer__shm_open(NULL, 0, &s, NULL, 0), PACER_EINVAL);
  assert_int_equal(pacer__shm_open("x", 0, NULL, NULL, 0), PACER_EINVAL);
  assert_int_equal(
      pacer__shm_open("x", (size_t)PACER__SHM_MAX_SLOTS + 1, &s, NULL, 0),
      PACER_EINVAL);
  long_name[200] = '\0'; /* 200 characters: fine */
  char n[256];
  snprintf(n, sizeof n, "%.190s%ld", long_name, (long)getpid());
  s = open_new(n, 4);
  char key[300];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  key[256] = '\0';
  assert_int_equal(pacer__shm_take(s, key, 1, 1, T0), PACER_EINVAL);
  key[255] = '\0'; /* 255 bytes: fine */
  assert_int_equal(pacer__shm_take(s, key, 1, 1, T0), 0);
  assert_int_equal(pacer__shm_take(s, NULL, 1, 1, T0), PACER_EINVAL);
  assert_int_equal(pacer__shm_take(s, "k", 0, 1, T0), PACER_EINVAL);
  assert_int_equal(pacer__shm_take(s, "k", -1, 1, T0), PACER_EINVAL);
  assert_int_equal(pacer__shm_take(s, "k", NAN, 1, T0), PACER_EINVAL);
  assert_int_equal(pacer__shm_take(s, "k", 1e-12, 1, T0), PACER_EINVAL);
  assert_int_equal(pacer__shm_take(s, "k", 1, 0, T0), PACER_EINVAL);
  pacer__shm_pause(s, NULL, T0);
  assert_int_equal(pacer__shm_paused_until(s, NULL, T0), 0);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* ---- races: threads and processes claiming and reusing slots ---- */

#define RACE_ROUNDS 40
#define RACE_KEYS 50
#define RACE_BURST 3

typedef struct racer {
  pacer__shm_t *s;
  shared_t *sh;
  int id;
} racer_t;

/* Each round, at a time 2 idle times after the last, every party takes all
 * it can of 50 new names in a 64-slot table (so the round's claims race the
 * reuse of the last round's slots), each party in its own order. */
static void *race(void *arg)
{
  racer_t *r = arg;
  for (int round = 0; round < RACE_ROUNDS; round++) {
    pthread_barrier_wait(&r->sh->barrier);
    int64_t now = T0 + (int64_t)round * 2 * IDLE;
    for (int j = 0; j < RACE_KEYS; j++) {
      int i = (j * (2 * r->id + 1) + 7 * r->id) % RACE_KEYS;
      char key[32];
      snprintf(key, sizeof key, "r%d-k%d", round, i);
      int64_t w;
      while ((w = pacer__shm_take(r->s, key, 1, RACE_BURST, now)) == 0)
        atomic_fetch_add(&r->sh->per_key[round * RACE_KEYS + i], 1);
      if (w < 0)
        atomic_fetch_add(&r->sh->count[1], 1); /* ENOMEM: must not happen */
    }
  }
  return NULL;
}

/* Never more than burst per name: a name in two slots at once would give
 * twice that. Fewer is allowed (a take voided by a racing claim may leave
 * its interval in the bucket); it is counted. */
static void check_race(shared_t *sh)
{
  assert_int_equal(atomic_load(&sh->count[1]), 0);
  int short_ = 0;
  for (int i = 0; i < RACE_ROUNDS * RACE_KEYS; i++) {
    long long got = atomic_load(&sh->per_key[i]);
    if (got > RACE_BURST || got < 1)
      fail_msg("round %d key %d: %lld tokens, burst %d", i / RACE_KEYS,
               i % RACE_KEYS, got, RACE_BURST);
    short_ += got < RACE_BURST;
  }
  print_message("      %d of %d names got fewer than burst\n", short_,
                RACE_ROUNDS * RACE_KEYS);
}

static void threads_race_claims(void **state)
{
  (void)state;
  const char *n = seg("threads");
  pacer__shm_t *s = open_new(n, 64), *s2 = open_again(n);
  shared_t *sh = shared_new(4);
  pthread_t th[4];
  racer_t r[4];
  for (int i = 0; i < 4; i++) {
    r[i] = (racer_t){i % 2 ? s2 : s, sh, i};
    assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  check_race(sh);
  shared_free(sh);
  pacer__shm_close(s);
  pacer__shm_close(s2);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

static void processes_race_claims(void **state)
{
  (void)state;
  const char *n = seg("procrace");
  pacer__shm_t *s = open_new(n, 64);
  shared_t *sh = shared_new(4);
  pid_t pid[4];
  for (int i = 0; i < 4; i++) {
    pid[i] = fork();
    assert_true(pid[i] >= 0);
    if (pid[i] == 0) {
      pacer__shm_t *mine = NULL;
      if (pacer__shm_open(n, 0, &mine, NULL, 0))
        _exit(1);
      racer_t r = {mine, sh, i};
      race(&r);
      pacer__shm_close(mine);
      pacer__shm_close(s);
      _exit(0);
    }
  }
  for (int i = 0; i < 4; i++)
    assert_true(reap(pid[i]));
  check_race(sh);
  shared_free(sh);
  pacer__shm_close(s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

/* Threads on one hot bucket stepping through a shared `now` sequence: as
 * with processes, exactly burst + rate x span between them. */
typedef struct hot {
  pacer__shm_t *s;
  atomic_llong got;
} hot_t;

static void *hot_taker(void *arg)
{
  hot_t *h = arg;
  long long got = 0;
  for (int64_t t = 0; t <= 1 * SEC; t += 100 * US)
    while (pacer__shm_take(h->s, "hot", 1000, 5, T0 + t) == 0)
      got++;
  atomic_fetch_add(&h->got, got);
  return NULL;
}

static void threads_share_one_bucket(void **state)
{
  (void)state;
  const char *n = seg("hot");
  hot_t h = {open_new(n, 0), 0};
  pacer__shm_pause(h.s, "hot", 0);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, hot_taker, &h), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&h.got), 5 + 1000);
  pacer__shm_close(h.s);
  assert_int_equal(pacer__shm_unlink(n), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(burst_then_one_per_interval),
      cmocka_unit_test(exact_over_a_long_span),
      cmocka_unit_test(interval_rounds_up_exactly),
      cmocka_unit_test(two_mappings_share_buckets_and_pauses),
      cmocka_unit_test(learned_rates_shared),
      cmocka_unit_test(learned_next_window),
      cmocka_unit_test(four_processes_fixed_now),
      cmocka_unit_test(four_processes_monotonic),
      cmocka_unit_test(sigkill_mid_take_leaves_it_usable),
      cmocka_unit_test(foreign_segments_refused),
      cmocka_unit_test(created_0600_whatever_the_umask),
      cmocka_unit_test(killed_mid_step_states_are_finished),
      cmocka_unit_test(full_table_and_idle_reuse),
      cmocka_unit_test(bad_arguments),
      cmocka_unit_test(threads_race_claims),
      cmocka_unit_test(processes_race_claims),
      cmocka_unit_test(threads_share_one_bucket),
  };
  return cmocka_run_group_tests(tests, NULL, unlink_all);
}
