/* SPDX-License-Identifier: MIT */
/* test_engine.c - the dispatcher with its threads, over a fake transport:
 * exactly one callback per job whatever ends it, exact rate with concurrent
 * submitters, breaker probes under racing submitters, queue bounds, shutdown
 * modes, live changes and re-entrant callbacks. Simulated time where time
 * matters; results collected under a lock and asserted after joining. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine_fixture.h"
#include "fail_alloc.h"
#include "logcap.h"
#include "recorder.h"
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS

/* ---- rec (recorder.h) holds every job's end; the engine fixture
 * (engine_fixture.h) runs the dispatcher over simulated time ---- */

/* A GET under key with priority prio, ending in rec; *id gets its id (0 if
 * refused). Returns pacer_submit()'s code. */
static int submit_key(pacer_t *p, const char *key, int prio, uint64_t *id)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/x";
  q.key = key;
  q.priority = (pacer_priority_t)prio;
  return pacer_submit(p, &q, rec_on_done, &rec, id);
}

static void reply_200_hi(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  r->status = 200;
  r->body = "hi";
}

/* ---- basics ---- */

static void submit_and_drain(void **state)
{
  (void)state;
  rec_reset(&rec);
  eng_t e;
  eng_new(&e, NULL, &(eng_opts_t){.real_clock = 1, .reply = reply_200_hi});
  uint64_t ids[100];
  for (int i = 0; i < 100; i++)
    assert_int_equal(submit_key(e.p, NULL, i % 2, &ids[i]), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, 100);
  for (int i = 0; i < 100; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(r->error, 0);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "hi");
    assert_int_equal(r->attempts, 1);
  }
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->submitted, 100);
  assert_int_equal(st->succeeded, 100);
  assert_int_equal(st->started, 100);
  assert_int_equal(st->queue_wait[0].count + st->queue_wait[1].count, 100);
  /* The histograms for Prometheus hold the same observations. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(st->queue_wait_hist[i].count, st->queue_wait[i].count);
    assert_int_equal(st->transfer_hist[i].count, st->transfer[i].count);
    assert_true(st->transfer_hist[i].le[PACER_HISTOGRAM_BUCKETS - 1] <=
                st->transfer_hist[i].count);
  }
  assert_int_equal(st->concurrency, 50);
  char *json;
  assert_int_equal(pacer_stats_json(st, &json), 0);
  assert_non_null(strstr(json, "\"submitted\":100"));
  free(json);
  pacer_stats_free(st);
  assert_int_equal(pacer_set_concurrency(e.p, 7), 0);
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->concurrency, 7);
  pacer_stats_free(st);
  eng_free(&e);
}

static void bad_input_is_refused_and_harms_nothing(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  pacer_t *bad = NULL;
  c.rate = -1;
  assert_int_equal(pacer_new(&c, &bad), PACER_ERATE);
  assert_null(bad);
  pacer_config_init(&c);
  c.concurrency = 0;
  assert_int_equal(pacer_new(&c, &bad), PACER_ECONCURRENCY);
  pacer_config_init(&c);
  c.workers = 0;
  assert_int_equal(pacer_new(&c, &bad), PACER_EWORKERS);
  assert_int_equal(pacer_new(NULL, NULL), PACER_EINVAL);

  eng_t e;
  eng_new(&e, NULL, &(eng_opts_t){.real_clock = 1, .reply = reply_200_hi});
  uint64_t good[10];
  for (int i = 0; i < 5; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &good[i]), 0);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "";
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, NULL), PACER_EURL);
  q.url = "gopher://example.test/";
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, NULL),
                   PACER_ESCHEME);
  q.url = "http://example.test/";
  pacer_header_t h = {"X-Bad", "a\r\nInjected: 1"};
  q.headers = &h;
  q.header_count = 1;
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, NULL),
                   PACER_EHEADER);
  q.headers = NULL;
  q.header_count = 0;
  assert_int_equal(pacer_submit(e.p, &q, NULL, &rec, NULL), PACER_EINVAL);
  assert_int_equal(pacer_submit(NULL, &q, rec_on_done, &rec, NULL),
                   PACER_EINVAL);
  assert_int_equal(pacer_submit(e.p, NULL, rec_on_done, &rec, NULL),
                   PACER_EINVAL);
  assert_int_equal(pacer_set_rate(e.p, -5, 1), PACER_ERATE);
  assert_int_equal(pacer_set_concurrency(e.p, 0), PACER_ECONCURRENCY);
  assert_int_equal(pacer_set_workers(e.p, 0), PACER_EWORKERS);
  pacer_key_limits_t lim = {sizeof lim, 1, 1, 1};
  assert_int_equal(pacer_key_limits_set(e.p, "", &lim), PACER_EKEY);
  assert_int_equal(pacer_cancel(e.p, 12345), PACER_ENOTFOUND);
  for (int i = 5; i < 10; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &good[i]), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, good, 10); /* and none of the refused */
  eng_free(&e);
  pacer_free(NULL);
}

/* Reads the blocked-signal mask of every thread named pacer-*. Returns how
 * many there are; *all_block is 1 if each blocks SIGPIPE, SIGINT, SIGTERM. */
static int pacer_threads(int *all_block)
{
  int n = 0;
  *all_block = 1;
  DIR *d = opendir("/proc/self/task");
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    char path[300], line[256], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/status", de->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    unsigned long long blk = 0;
    while (fgets(line, sizeof line, f)) {
      sscanf(line, "Name: %63s", comm);
      sscanf(line, "SigBlk: %llx", &blk);
    }
    fclose(f);
    if (strncmp(comm, "pacer-", 6) != 0)
      continue;
    n++;
    unsigned long long want = (1ull << (SIGPIPE - 1)) | (1ull << (SIGINT - 1)) |
                              (1ull << (SIGTERM - 1));
    if ((blk & want) != want)
      *all_block = 0;
  }
  if (d)
    closedir(d);
  return n;
}

/* The number of pacer-* threads once it equals want, or what it is after
 * 10 s. A thread that has ended (retired, or joined by an earlier test)
 * leaves /proc/self/task a little after, so the count is waited for. */
static int threads_settle(int want)
{
  int all_block = 0, n = 0;
  for (int tries = 0; tries < 10000; tries++) {
    if ((n = pacer_threads(&all_block)) == want)
      break;
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  return n;
}

static void threads_are_named_and_block_signals(void **state)
{
  (void)state;
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 3;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = reply_200_hi});
  int all_block = 0;
  assert_int_equal(threads_settle(1 + 3), 1 + 3);
  assert_int_equal(pacer_threads(&all_block), 1 + 3);
  assert_true(all_block);
  eng_free(&e);
}

/* ---- exact rate with 4 submitters ---- */

typedef struct feeder {
  pacer_t *p;
  uint64_t *ids;
  int n;
  pthread_barrier_t *first;
} feeder_t;

static void *feed(void *arg)
{
  feeder_t *f = arg;
  for (int i = 0; i < f->n; i++) {
    if (i == 100)
      pthread_barrier_wait(f->first);
    if (submit_key(f->p, "k", i % 2, &f->ids[i]) != 0)
      return (void *)1;
  }
  return NULL;
}

static void four_submitters_get_exactly_burst_plus_rate_times_60(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 50;
  c.burst = 5;
  c.concurrency = 100000;
  eng_t e;
  eng_new(&e, &c, NULL);
  enum { PER = 1000 };
  uint64_t *ids = calloc(4 * PER, sizeof *ids);
  assert_non_null(ids);
  pthread_barrier_t first;
  pthread_barrier_init(&first, NULL, 5);
  pthread_t th[4];
  feeder_t fd[4];
  for (int i = 0; i < 4; i++) {
    fd[i] = (feeder_t){e.p, ids + i * PER, PER, &first};
    pthread_create(&th[i], NULL, feed, &fd[i]);
  }
  pthread_barrier_wait(&first); /* 400 queued before time starts */
  pacer__wait_idle(e.p);
  for (int64_t t = 0; t < 60 * S; t += 2 * MS) {
    fake_clock_advance(&e.clk, 2 * MS);
    pacer__wait_idle(e.p);
  }
  void *ret;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], &ret);
    assert_null(ret);
  }
  pacer__wait_idle(e.p);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  fprintf(stderr,
          "4 submitters, rate 50/s burst 5, 60 simulated s: %llu "
          "started\n",
          (unsigned long long)st->started);
  assert_int_equal(st->started, 5 + 50 * 60);
  assert_int_equal(st->submitted, 4 * PER);
  pacer_stats_free(st);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, 4 * PER);
  size_t cancelled = 0;
  for (size_t i = 0; i < 4 * PER; i++)
    cancelled += rec_at(&rec, i)->error == PACER_ECANCELED;
  assert_int_equal(cancelled, 4 * PER - (5 + 50 * 60));
  pthread_barrier_destroy(&first);
  free(ids);
  eng_free(&e);
}

/* ---- breaker probes under racing submitters ---- */

static int breaker_phase; /* 0: fail; 1: hold; 2: succeed */

static void breaker_reply(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  int phase = __atomic_load_n(&breaker_phase, __ATOMIC_SEQ_CST);
  if (phase == 0)
    r->status = 500;
  else if (phase == 1)
    r->hold = 1;
  else
    r->status = 200;
}

typedef struct racer {
  pacer_t *p;
  uint64_t *ids;
  pthread_barrier_t *go;
} racer_t;

static void *race_submit(void *arg)
{
  racer_t *r = arg;
  pthread_barrier_wait(r->go);
  for (int i = 0; i < 10; i++)
    if (submit_key(r->p, "bad", 0, &r->ids[i]) != 0)
      return (void *)1;
  return NULL;
}

static void breaker_admits_exactly_k_probes_under_8_racing_threads(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.breaker_window = 4;
  c.breaker_min_calls = 4;
  c.breaker_probes = 3;
  c.breaker_cooldown_ms = 10000;
  c.max_attempts = 1;
  c.concurrency = 1000;
  c.workers = 3;
  eng_t e;
  __atomic_store_n(&breaker_phase, 0, __ATOMIC_SEQ_CST);
  eng_new(&e, &c, &(eng_opts_t){.reply = breaker_reply});
  uint64_t ids[4 + 80]; /* 4 that open the breaker, 80 from 8 threads */
  for (int i = 0; i < 4; i++)
    assert_int_equal(submit_key(e.p, "bad", 0, &ids[i]), 0);
  rec_wait(&rec, 4);
  __atomic_store_n(&breaker_phase, 1, __ATOMIC_SEQ_CST);

  /* 8 threads submit to the open key while time passes the cool-down. */
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 9);
  pthread_t th[8];
  racer_t rc[8];
  for (int i = 0; i < 8; i++) {
    rc[i] = (racer_t){e.p, ids + 4 + 10 * i, &go};
    pthread_create(&th[i], NULL, race_submit, &rc[i]);
  }
  pthread_barrier_wait(&go);
  fake_clock_advance(&e.clk, 10 * S);
  void *ret;
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], &ret);
    assert_null(ret);
  }
  pacer__wait_idle(e.p);
  fake_tx_wait_held(e.tx, 3);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->started, 4 + 3); /* exactly K probes */
  assert_int_equal(st->in_flight, 3);
  assert_int_equal(st->key_count, 1);
  assert_int_equal(st->keys[0].breaker, PACER_BREAKER_HALF_OPEN);
  pacer_stats_free(st);
  assert_int_equal(fake_tx_held(e.tx), 3);

  /* The probes succeed: CLOSED, and every held job runs. */
  __atomic_store_n(&breaker_phase, 2, __ATOMIC_SEQ_CST);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 3);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, 4 + 80);
  for (int i = 4; i < 4 + 80; i++)
    assert_int_equal(rec_of(&rec, ids[i])->status, 200);
  assert_int_equal(fake_tx_starts(e.tx), 84);
  pthread_barrier_destroy(&go);
  eng_free(&e);
}

/* ---- exactly one callback, whatever happens ---- */

typedef struct chaos {
  eng_t *e;
  uint64_t *ids; /* 0 until submitted, or refused */
  int n;
  volatile int stop;
} chaos_t;

static void chaos_reply(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  switch ((j->id * 2654435761u + j->attempts) % 6) {
  case 0:
    r->status = 503; /* retried */
    break;
  case 1:
    r->error = PACER_ETRANSPORT; /* retried */
    break;
  case 2:
  case 3:
    r->hold = 1; /* released, cancelled, timed out or past its deadline */
    break;
  default:
    r->status = 200;
  }
}

/* Releases what is held and moves simulated time on by 1 ms a round, so
 * backoffs end, and held attempts meet their 20 ms timeout or 3 ms
 * deadline when the releaser does not get to them first. */
static void *chaos_releaser(void *arg)
{
  chaos_t *c = arg;
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  for (unsigned round = 0; !__atomic_load_n(&c->stop, __ATOMIC_SEQ_CST);
       round++) {
    if (round % 4 == 0)
      fake_tx_release_all(c->e->tx, &okr);
    fake_clock_advance(&c->e->clk, 1 * MS);
    sched_yield();
  }
  return NULL;
}

static void *chaos_canceller(void *arg)
{
  chaos_t *c = arg;
  for (int i = 0; i < c->n; i += 3) {
    uint64_t id = __atomic_load_n(&c->ids[i], __ATOMIC_SEQ_CST);
    if (id)
      pacer_cancel(c->e->p, id); /* may race its completion */
  }
  return NULL;
}

static void every_job_gets_exactly_one_callback(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 16;
  c.workers = 3;
  c.backoff_base_ms = 1;
  c.backoff_max_ms = 2;
  c.timeout_ms = 20;
  c.breaker_enabled = 0;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = chaos_reply});
  enum { N = 3000 };
  uint64_t *ids = calloc(N, sizeof *ids);
  assert_non_null(ids);
  chaos_t ch = {&e, ids, N, 0};
  pthread_t rel, can;
  pthread_create(&rel, NULL, chaos_releaser, &ch);
  int accepted = 0, refused = 0;
  for (int i = 0; i < N; i++) {
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://example.test/x";
    q.key = i % 2 ? "a" : "b";
    q.deadline_ms = i % 5 == 0 ? 3 : 0;
    uint64_t id = 0;
    int rc = pacer_submit(e.p, &q, rec_on_done, &rec, &id);
    __atomic_store_n(&ids[i], id, __ATOMIC_SEQ_CST);
    if (i == N / 10)
      pthread_create(&can, NULL, chaos_canceller, &ch);
    if (i == N * 9 / 10)
      pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL);
    if (rc == 0)
      accepted++;
    else {
      assert_int_equal(rc, PACER_ESHUTDOWN);
      refused++;
    }
  }
  pthread_join(can, NULL);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  __atomic_store_n(&ch.stop, 1, __ATOMIC_SEQ_CST);
  fake_tx_stop_waiting(e.tx);
  pthread_join(rel, NULL);
  /* Each accepted job once, under its own id; a refused one never. */
  rec_assert_once(&rec, ids, N);
  assert_int_equal(rec_count(&rec), (size_t)accepted);
  for (int i = 0; i < N; i++)
    if (ids[i] && i % 5 != 0) /* only a job with a deadline can end so */
      assert_int_not_equal(rec_of(&rec, ids[i])->error, PACER_EDEADLINE);
  assert_int_equal(accepted + refused, N);
  assert_true(refused > 0);
  free(ids);
  eng_free(&e);
}

/* Six scripts, by i % 6, on the fake clock: each job's end is known in
 * advance and checked exactly, so a job that met the wrong end (a timeout
 * taken for a deadline, a retry that never ran, a cancel that did not
 * abort) fails here. */
enum {
  END_RETRY_503,
  END_RETRY_TX,
  END_RELEASED,
  END_TIMEOUT,
  END_DEADLINE,
  END_CANCEL
};

static void script_reply(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  int kind = j->key->name[0] - '0';
  if (kind == END_RETRY_503 && j->attempts == 1)
    r->status = 503;
  else if (kind == END_RETRY_TX && j->attempts == 1)
    r->error = PACER_ETRANSPORT;
  else if (kind >= END_RELEASED)
    r->hold = 1;
  else
    reply_200_hi(user, j, r);
}

static void each_job_meets_the_end_its_script_gives(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1000;
  c.workers = 3;
  c.backoff_base_ms = 1; /* full jitter: the retry waits 0..1 ms */
  c.backoff_max_ms = 1;
  c.breaker_enabled = 0;
  c.adapt_aimd = 0; /* 100 bare 503s would slow key 0 (test_adapt.c) */
  /* Every first attempt of keys 0 and 1 fails: their retry budgets would
   * refuse most retries (test_scheduler.c), which is not this test's. */
  c.retry_budget_ratio = 0;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = script_reply});
  enum { N = 600, PER = N / 6 };
  uint64_t *ids = calloc(N, sizeof *ids);
  assert_non_null(ids);
  for (int i = 0; i < N; i++) {
    char key[2] = {(char)('0' + i % 6), 0};
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://example.test/x";
    q.key = key;
    q.max_attempts = i % 6 == END_TIMEOUT ? 1 : 3;
    q.timeout_ms = i % 6 == END_TIMEOUT ? 20 : 1000;
    q.deadline_ms = i % 6 == END_DEADLINE ? 3 : 0;
    assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &ids[i]), 0);
  }
  /* t = 0: every held script is in flight; the retries wait for time. */
  fake_tx_wait_held(e.tx, 4 * PER);
  for (int i = END_CANCEL; i < N; i += 6)
    assert_int_equal(pacer_cancel(e.p, ids[i]), 0);
  rec_wait(&rec, PER);
  fake_reply_t okr = {.hold = 0,
                      .error = 0,
                      .status = 200,
                      .retry_after = NULL,
                      .body = "released"};
  for (int i = END_RELEASED; i < N; i += 6)
    assert_int_equal(fake_tx_release(e.tx, ids[i], &okr), 0);
  rec_wait(&rec, 2 * PER);
  /* t = 3 ms: the retries have run, the deadlines have passed. */
  fake_clock_advance(&e.clk, 3 * MS);
  rec_wait(&rec, 5 * PER);
  for (int i = END_TIMEOUT; i < N; i += 6)
    assert_int_equal(rec_calls(&rec, ids[i]), 0); /* 17 ms of its 20 left */
  /* t = 20 ms: the per-attempt timeouts. */
  fake_clock_advance(&e.clk, 17 * MS);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  static const struct {
    int error, status;
    unsigned attempts;
    const char *body;
  } want[6] = {
      [END_RETRY_503] = {0, 200, 2, "hi"},
      [END_RETRY_TX] = {0, 200, 2, "hi"},
      [END_RELEASED] = {0, 200, 1, "released"},
      [END_TIMEOUT] = {PACER_ETIMEDOUT, 0, 1, ""},
      [END_DEADLINE] = {PACER_EDEADLINE, 0, 1, ""},
      [END_CANCEL] = {PACER_ECANCELED, 0, 1, ""},
  };
  rec_assert_once(&rec, ids, N);
  for (int i = 0; i < N; i++) {
    int k = i % 6;
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    if (r->error != want[k].error || r->attempts != want[k].attempts)
      printf("job %d (script %d): %s, status %d, %u attempts\n", i, k,
             pacer_err_name(r->error), r->status, r->attempts);
    assert_int_equal(r->error, want[k].error);
    assert_int_equal(r->attempts, want[k].attempts);
    if (want[k].error == 0) {
      assert_int_equal(r->status, want[k].status);
      assert_string_equal(r->body, want[k].body);
    }
  }
  free(ids);
  eng_free(&e);
}

/* ---- lifecycle ---- */

static void create_and_free_10000_times(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 1;
  uint64_t ids[1000];
  int submitted = 0;
  for (int i = 0; i < 10000; i++) {
    eng_t e;
    eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = fake_reply_hold});
    if (i % 10 == 0) /* with a job in flight or queued */
      assert_int_equal(submit_key(e.p, "k", 0, &ids[submitted++]), 0);
    eng_free(&e);
  }
  /* Ids are per dispatcher: the same id may come back from another one, so
   * each job's end is found by its order. */
  assert_int_equal(rec_count(&rec), (size_t)submitted);
  for (int i = 0; i < submitted; i++) {
    assert_int_equal(rec_at(&rec, (size_t)i)->id, ids[i]);
    assert_int_equal(rec_at(&rec, (size_t)i)->error, PACER_ECANCELED);
  }
}

typedef struct blocked {
  pacer_t *p;
  uint64_t *id;
  int rc;
} blocked_t;

static void *submit_blocking(void *arg)
{
  blocked_t *b = arg;
  b->rc = submit_key(b->p, "k", 0, b->id);
  return NULL;
}

static void queue_bound_blocks_or_says_full(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.queue_max = 2;
  c.concurrency = 1;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = fake_reply_hold});
  uint64_t r[6] = {0};
  assert_int_equal(submit_key(e.p, "k", 0, &r[0]), 0);
  fake_tx_wait_held(e.tx, 1); /* in flight: not in the queue */
  assert_int_equal(submit_key(e.p, "k", 0, &r[1]), 0);
  assert_int_equal(submit_key(e.p, "k", 0, &r[2]), 0);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/x";
  assert_int_equal(pacer_try_submit(e.p, &q, rec_on_done, &rec, NULL),
                   PACER_EFULL);
  blocked_t b = {e.p, &r[3], 99};
  pthread_t th;
  pthread_create(&th, NULL, submit_blocking, &b);
  /* Free one place: the blocked submit gets it. */
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 1);
  pthread_join(th, NULL);
  assert_int_equal(b.rc, 0);
  /* r[1] is in flight, r[2] and r[3] fill the queue. A submitter blocked
   * there when the dispatcher shuts down gets PACER_ESHUTDOWN. */
  assert_int_equal(pacer_try_submit(e.p, &q, rec_on_done, &rec, NULL),
                   PACER_EFULL);
  blocked_t b2 = {e.p, &r[4], 99};
  pthread_create(&th, NULL, submit_blocking, &b2);
  pacer_shutdown(e.p, PACER_SHUTDOWN_FINISH);
  pthread_join(th, NULL);
  assert_int_equal(b2.rc, PACER_ESHUTDOWN);
  assert_int_equal(submit_key(e.p, "k", 0, &r[5]), PACER_ESHUTDOWN);
  /* FINISH runs the queue to its end. */
  for (int i = 1; i < 4; i++) {
    fake_tx_wait_held(e.tx, 1);
    assert_int_equal(fake_tx_release_all(e.tx, &okr), 1);
  }
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(r[4], 0);
  assert_int_equal(r[5], 0);
  rec_assert_once(&rec, r, 6); /* r[0..3]; the refused ones never */
  for (int i = 0; i < 4; i++)
    assert_int_equal(rec_of(&rec, r[i])->status, 200);
  eng_free(&e);
}

static void shutdown_cancel_ends_queue_not_flight(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 2;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = fake_reply_hold});
  uint64_t r[6];
  for (int i = 0; i < 6; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &r[i]), 0);
  fake_tx_wait_held(e.tx, 2);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  rec_wait(&rec, 4);
  /* In flight: one answers 503 (not retried now), one 200. */
  fake_reply_t r503 = {
      .hold = 0, .error = 0, .status = 503, .retry_after = NULL, .body = NULL};
  fake_reply_t r200 = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release(e.tx, r[0], &r503), 0);
  assert_int_equal(fake_tx_release(e.tx, r[1], &r200), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, r, 6);
  assert_int_equal(rec_of(&rec, r[0])->status, 503);
  assert_int_equal(rec_of(&rec, r[0])->attempts, 1);
  assert_int_equal(rec_of(&rec, r[1])->status, 200);
  for (int i = 2; i < 6; i++)
    assert_int_equal(rec_of(&rec, r[i])->error, PACER_ECANCELED);
  eng_free(&e);
}

/* A callback that holds the dispatcher's delivery until opened: the jobs it
 * ended are then off the queue and not yet counted in cancelled. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int entered, open;
} gate_t;

static void gate_on_done(const pacer_result_t *res, void *user)
{
  gate_t *g = user;
  pthread_mutex_lock(&g->mu);
  g->entered++;
  pthread_cond_broadcast(&g->cv);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
  rec_add(&rec, res, user);
}

/* A cancelling shutdown counts the queue it cancels as it cancels it
 * (shutdown_queued), so a snapshot taken after the call is exact while
 * those jobs are neither queued nor yet in cancelled: their callbacks have
 * not run (held here by the first). The command's first Ctrl-C message
 * counts them so. A finishing shutdown cancels nothing; a later aborting
 * one does not count again. */
static void shutdown_counts_the_queue_it_cancels(void **state)
{
  (void)state;
  rec_reset(&rec);
  gate_t g = {.entered = 0, .open = 0};
  pthread_mutex_init(&g.mu, NULL);
  pthread_cond_init(&g.cv, NULL);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 2;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = fake_reply_hold});
  uint64_t r[7];
  for (int i = 0; i < 7; i++) {
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://example.test/x";
    q.key = "k";
    q.priority = i % 2 ? PACER_PRIORITY_HIGH : PACER_PRIORITY_LOW;
    assert_int_equal(pacer_submit(e.p, &q, gate_on_done, &g, &r[i]), 0);
  }
  fake_tx_wait_held(e.tx, 2);
  pacer_stats_t *s = NULL;
  assert_int_equal(pacer_stats_get(e.p, &s), 0);
  assert_int_equal(s->shutdown_queued, 0);
  assert_int_equal(s->queued_high + s->queued_low, 5);
  pacer_stats_free(s);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_FINISH), 0);
  assert_int_equal(pacer_stats_get(e.p, &s), 0);
  assert_int_equal(s->shutdown_queued, 0);
  pacer_stats_free(s);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  pthread_mutex_lock(&g.mu);
  while (!g.entered)
    pthread_cond_wait(&g.cv, &g.mu);
  pthread_mutex_unlock(&g.mu);
  assert_int_equal(pacer_stats_get(e.p, &s), 0);
  assert_int_equal(s->shutdown_queued, 5);
  assert_int_equal(s->queued_high + s->queued_low, 0); /* swept */
  assert_int_equal(s->cancelled, 0); /* counted as callbacks return */
  assert_int_equal(s->in_flight, 2);
  char *json = NULL;
  assert_int_equal(pacer_stats_json(s, &json), 0);
  assert_non_null(strstr(json, "\"shutdown_queued\":5"));
  free(json);
  pacer_stats_free(s);
  pthread_mutex_lock(&g.mu);
  g.open = 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  rec_wait(&rec, 5);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_ABORT), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, r, 7);
  assert_int_equal(pacer_stats_get(e.p, &s), 0);
  assert_int_equal(s->shutdown_queued, 5);
  assert_int_equal(s->cancelled, 7); /* the 2 in flight by the abort */
  pacer_stats_free(s);
  eng_free(&e);
  pthread_cond_destroy(&g.cv);
  pthread_mutex_destroy(&g.mu);
}

/* An aborting shutdown ends the queue and the attempts in flight at once:
 * nothing is released by the transport, yet the drain returns. */
static void shutdown_abort_ends_flight_at_once(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 2;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = fake_reply_hold});
  uint64_t r[6];
  for (int i = 0; i < 6; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &r[i]), 0);
  fake_tx_wait_held(e.tx, 2);
  assert_int_equal(pacer_shutdown(e.p, (pacer_shutdown_mode_t)3), PACER_EINVAL);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_ABORT), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, r, 6);
  assert_int_equal(fake_tx_held(e.tx), 0);
  assert_int_equal(fake_tx_starts(e.tx), 2); /* nothing started after */
  for (int i = 0; i < 6; i++) {
    assert_int_equal(rec_of(&rec, r[i])->error, PACER_ECANCELED);
    assert_int_equal(rec_of(&rec, r[i])->kept, 0); /* no spool */
  }
  /* The mode never goes back; submits stay refused. */
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_FINISH), 0);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  uint64_t late;
  assert_int_equal(submit_key(e.p, "k", 0, &late), PACER_ESHUTDOWN);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->cancelled, 6);
  assert_int_equal(st->in_flight, 0);
  pacer_stats_free(st);
  eng_free(&e);
}

/* ---- callbacks re-enter ---- */

typedef struct fan {
  pacer_t *p;
  uint64_t children[20];
  int drain_rc, submit_rc[20], cancel_rc, stats_rc, rate_rc;
  uint64_t victim;
} fan_t;

static fan_t fan;

static void fan_out(const pacer_result_t *res, void *user)
{
  (void)res;
  (void)user;
  fan.drain_rc = pacer_drain(fan.p, 0);
  for (int i = 0; i < 20; i++)
    fan.submit_rc[i] = submit_key(fan.p, "child", 0, &fan.children[i]);
  fan.cancel_rc = pacer_cancel(fan.p, fan.victim);
  pacer_stats_t *st = NULL;
  fan.stats_rc = pacer_stats_get(fan.p, &st);
  pacer_stats_free(st);
  fan.rate_rc = pacer_set_rate(fan.p, 1000, 10);
  pacer_shutdown(fan.p, PACER_SHUTDOWN_FINISH);
}

/* Jobs of key "victim" are held until cancelled; the others answer 200. */
static void reply_hold_victim(void *user, const pacer__job_t *j,
                              fake_reply_t *r)
{
  if (strcmp(j->key->name, "victim") == 0)
    r->hold = 1;
  else
    reply_200_hi(user, j, r);
}

static void callbacks_may_submit_cancel_and_shut_down(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.queue_max = 2; /* a callback's submit must not block on it */
  c.concurrency = 2;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = reply_hold_victim});
  memset(&fan, 0, sizeof fan);
  fan.p = e.p;
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/parent";
  q.priority = PACER_PRIORITY_HIGH;
  uint64_t parent;
  /* The victim is held in flight until the parent's callback cancels it. */
  uint64_t all[1 + 20]; /* the victim, then the children */
  assert_int_equal(submit_key(e.p, "victim", 0, &all[0]), 0);
  fan.victim = all[0];
  fake_tx_wait_held(e.tx, 1);
  assert_int_equal(pacer_submit(e.p, &q, fan_out, NULL, &parent), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(fan.drain_rc, PACER_EINCALLBACK);
  for (int i = 0; i < 20; i++)
    assert_int_equal(fan.submit_rc[i], 0);
  memcpy(all + 1, fan.children, sizeof fan.children);
  rec_assert_once(&rec, all, 1 + 20);
  assert_int_equal(fan.stats_rc, 0);
  assert_int_equal(fan.rate_rc, 0);
  assert_int_equal(fan.cancel_rc, 0);
  assert_int_equal(rec_of(&rec, all[0])->error, PACER_ECANCELED);
  assert_int_equal(pacer_cancel(e.p, all[0]), PACER_ENOTFOUND);
  uint64_t late;
  assert_int_equal(submit_key(e.p, "k", 0, &late), PACER_ESHUTDOWN);
  eng_free(&e);
}

/* ---- live changes ---- */

static void workers_and_concurrency_change_while_running(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 1;
  c.concurrency = 4;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.real_clock = 1, .reply = reply_200_hi});
  enum { N = 4000 };
  uint64_t *ids = calloc(N, sizeof *ids);
  assert_non_null(ids);
  unsigned sizes[] = {4, 1, 8, 2, 3, 1};
  for (int i = 0; i < N; i++) {
    assert_int_equal(submit_key(e.p, i % 3 ? "a" : "b", i % 2, &ids[i]), 0);
    if (i % 500 == 250) {
      assert_int_equal(pacer_set_workers(e.p, sizes[(i / 500) % 6]), 0);
      assert_int_equal(pacer_set_concurrency(e.p, 1 + (unsigned)(i % 7)), 0);
    }
  }
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, N);
  assert_int_equal(fake_tx_starts(e.tx), N); /* none lost, none twice */
  free(ids);
  eng_free(&e);
}

/* Releases held attempts until total have ended; each round waits until n
 * are held (fewer in the last one), so a broken cap ends in fewer rounds
 * rather than a hang. */
static void release_rounds(eng_t *e, unsigned n, unsigned total)
{
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  for (unsigned done = 0; done < total;) {
    fake_tx_wait_held(e->tx, total - done < n ? total - done : n);
    done += (unsigned)fake_tx_release_all(e->tx, &okr);
  }
}

/* The cap set while running is what limits: 8 attempts of key "a" are in
 * flight when it drops to 3, so the 12 of key "b" queued behind them start
 * at most 3 at a time; raised to 6, key "c" reaches 6. The fake transport
 * counts each key's peak in flight. */
static void set_concurrency_caps_what_starts_next(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 8;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  uint64_t r[8 + 12 + 18];
  for (int i = 0; i < 8; i++)
    assert_int_equal(submit_key(e.p, "a", 0, &r[i]), 0);
  fake_tx_wait_held(e.tx, 8);
  assert_int_equal(pacer_set_concurrency(e.p, 3), 0);
  for (int i = 8; i < 20; i++)
    assert_int_equal(submit_key(e.p, "b", 0, &r[i]), 0);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 8); /* only a's */
  release_rounds(&e, 3, 12);
  rec_wait(&rec, 20);
  assert_int_equal(fake_tx_key_max_inflight(e.tx, "a"), 8);
  assert_int_equal(fake_tx_key_max_inflight(e.tx, "b"), 3);

  assert_int_equal(pacer_set_concurrency(e.p, 6), 0);
  for (int i = 20; i < 38; i++)
    assert_int_equal(submit_key(e.p, "c", 0, &r[i]), 0);
  release_rounds(&e, 6, 18);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(fake_tx_key_max_inflight(e.tx, "c"), 6);
  rec_assert_once(&rec, r, 38);
  for (int i = 0; i < 38; i++)
    assert_int_equal(rec_of(&rec, r[i])->status, 200);
  eng_free(&e);
}

/* pacer_set_workers() changes the number of transport threads: more at once,
 * fewer once the retired ones have ended their transfers; jobs still run on
 * the threads that stay. */
static void set_workers_changes_the_thread_count(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 2;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
  assert_int_equal(threads_settle(1 + 2), 1 + 2);
  assert_int_equal(pacer_set_workers(e.p, 5), 0);
  assert_int_equal(threads_settle(1 + 5), 1 + 5);
  uint64_t r[20];
  for (int i = 0; i < 10; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &r[i]), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(pacer_set_workers(e.p, 1), 0);
  assert_int_equal(threads_settle(1 + 1), 1 + 1);
  for (int i = 10; i < 20; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &r[i]), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, r, 20);
  for (int i = 0; i < 20; i++)
    assert_int_equal(rec_of(&rec, r[i])->status, 200);
  eng_free(&e);
}

/* ---- connections ---- */

/* Key "a": HTTP/2, a connection opened by every third attempt, its TLS
 * handshake in full; key "b": HTTP/1.1, a connection each, resumed; key
 * "c": no answer (a transport error), a connection opened and no handshake. */
static void conn_reply(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  const char *k = j->key->name;
  if (!strcmp(k, "a")) {
    r->http_version = 2;
    r->conns = j->id % 3 == 0;
    r->tls_full = r->conns;
  } else if (!strcmp(k, "b")) {
    r->http_version = 1;
    r->conns = 1;
    r->tls_resumed = 1;
  } else {
    r->error = PACER_ETRANSPORT;
    r->conns = 1;
  }
}

static void connections_are_counted_per_key_and_in_total(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  c.breaker_enabled = 0;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = conn_reply});
  uint64_t ids[30];
  for (int i = 0; i < 30; i++)
    assert_int_equal(submit_key(e.p,
                                i < 15   ? "a"
                                : i < 25 ? "b"
                                         : "c",
                                0, &ids[i]),
                     0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, 30);
  uint64_t a_opened = 0;
  for (int i = 0; i < 15; i++)
    a_opened += ids[i] % 3 == 0;
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->conn.opened, a_opened + 10 + 5);
  assert_int_equal(st->conn.tls_full, a_opened);
  assert_int_equal(st->conn.tls_resumed, 10);
  assert_int_equal(st->conn.http1, 10);
  assert_int_equal(st->conn.http2, 15);
  assert_int_equal(st->conn.http3, 0);
  assert_int_equal(st->key_count, 3);
  assert_non_null(st->key_conn);
  for (size_t i = 0; i < st->key_count; i++) {
    const pacer_conn_stats_t *kc = &st->key_conn[i];
    const char *k = st->keys[i].key;
    if (!strcmp(k, "a")) {
      assert_int_equal(kc->opened, a_opened);
      assert_int_equal(kc->tls_full, a_opened);
      assert_int_equal(kc->http2, 15);
      assert_int_equal(kc->http1 + kc->tls_resumed, 0);
    } else if (!strcmp(k, "b")) {
      assert_int_equal(kc->opened, 10);
      assert_int_equal(kc->tls_resumed, 10);
      assert_int_equal(kc->http1, 10);
      assert_int_equal(kc->http2 + kc->tls_full, 0);
    } else {
      assert_string_equal(k, "c");
      assert_int_equal(kc->opened, 5);
      assert_int_equal(kc->http1 + kc->http2 + kc->tls_full, 0);
    }
  }
  pacer_stats_free(st);
  eng_free(&e);
}

/* max_host_connections is divided among the workers, the remainder to the
 * first; below the number of workers, only that many take jobs. Every
 * worker opens its transport with the dispatcher's one share. */
static void host_connections_are_divided_among_workers(void **state)
{
  (void)state;
  static const struct {
    unsigned workers, max;
    unsigned caps[4];
  } cases[] = {
      {3, 7, {3, 2, 2}},
      {3, 2, {1, 1, 0}},
      {4, 1, {1, 0, 0, 0}},
      {2, 0, {0, 0}},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    rec_reset(&rec);
    pacer_config_t c;
    pacer_config_init(&c);
    c.workers = cases[ci].workers;
    c.max_host_connections = cases[ci].max;
    c.concurrency = 8;
    eng_t e;
    eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
    uint64_t ids[64];
    for (int i = 0; i < 64; i++)
      assert_int_equal(submit_key(e.p, "k", 0, &ids[i]), 0);
    assert_int_equal(pacer_drain(e.p, -1), 0);
    print_message("workers %u, max_host_connections %u\n", cases[ci].workers,
                  cases[ci].max);
    rec_assert_once(&rec, ids, 64);
    unsigned caps[8] = {0};
    uint64_t starts[8] = {0}, total = 0;
    assert_int_equal(fake_tx_instances(e.tx, caps, starts, 8),
                     cases[ci].workers);
    unsigned takers = cases[ci].max && cases[ci].max < cases[ci].workers
                          ? cases[ci].max
                          : cases[ci].workers;
    for (unsigned w = 0; w < cases[ci].workers; w++) {
      total += starts[w];
      /* a worker that takes no jobs never set its cap: 0 */
      if (w < takers)
        assert_int_equal(caps[w], cases[ci].caps[w]);
      else
        assert_int_equal(starts[w], 0);
    }
    assert_int_equal(total, 64);
    fake_tx_opened_t o;
    fake_tx_opened(e.tx, &o);
    assert_int_equal(o.share_opens, 1);
    assert_int_equal(o.share_given, 1);
    assert_int_equal(o.share_closes, 0);
    /* Workers added later get the same share. */
    assert_int_equal(pacer_set_workers(e.p, cases[ci].workers + 1), 0);
    for (int i = 0; i < 8; i++)
      assert_int_equal(submit_key(e.p, "k", 0, &ids[i]), 0);
    assert_int_equal(pacer_drain(e.p, -1), 0);
    pacer_free(e.p);
    e.p = NULL;
    fake_tx_opened(e.tx, &o);
    assert_int_equal(o.opens, cases[ci].workers + 1);
    assert_int_equal(o.share_given, 1);
    assert_int_equal(o.share_closes, 1); /* after the last worker closed */
    eng_free(&e);
  }
}

/* ---- time: deadlines and Retry-After through the engine ---- */

static void deadline_ends_a_held_attempt(void **state)
{
  (void)state;
  rec_reset(&rec);
  eng_t e;
  eng_new(&e, NULL, &(eng_opts_t){.reply = fake_reply_hold});
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/slow";
  q.deadline_ms = 100;
  uint64_t id[2];
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &id[0]), 0);
  q.deadline_ms = 0;
  uint64_t id2;
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &id2), 0);
  id[1] = id2;
  fake_tx_wait_held(e.tx, 2);
  fake_clock_advance(&e.clk, 100 * MS);
  rec_wait(&rec, 1);
  assert_int_equal(rec_of(&rec, id[0])->error, PACER_EDEADLINE);
  assert_int_equal(pacer_cancel(e.p, id2), 0); /* aborts the attempt */
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, id, 2);
  assert_int_equal(rec_of(&rec, id2)->error, PACER_ECANCELED);
  assert_int_equal(pacer_cancel(e.p, id2), PACER_ENOTFOUND);
  eng_free(&e);
}

/* A transport whose timer fires a little before the deadline it was given
 * (rounding) still ends the job with EDEADLINE, and does not retry it. */
static void early_timeout_at_the_deadline_is_the_deadline(void **state)
{
  (void)state;
  rec_reset(&rec);
  eng_t e;
  eng_new(&e, NULL, &(eng_opts_t){.reply = fake_reply_hold});
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/slow";
  q.deadline_ms = 100;
  q.max_attempts = 3;
  uint64_t id;
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &id), 0);
  fake_tx_wait_held(e.tx, 1);
  fake_clock_advance(&e.clk, 99 * MS);
  fake_reply_t to = {.error = PACER_ETIMEDOUT};
  assert_int_equal(fake_tx_release(e.tx, id, &to), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, &id, 1);
  assert_int_equal(rec_of(&rec, id)->error, PACER_EDEADLINE);
  assert_int_equal(rec_of(&rec, id)->attempts, 1);
  assert_int_equal(fake_tx_starts(e.tx), 1);
  eng_free(&e);
}

static void ra_reply(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  if (j->attempts == 1 &&
      strcmp(pacer__job_url(j), "http://example.test/a") == 0) {
    r->status = 429;
    r->retry_after = "2";
  } else {
    r->status = 200;
  }
}

static void retry_after_holds_the_key_through_the_engine(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1; /* b can only start once a's 429 has been settled */
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = ra_reply});
  int64_t t0 = fake_clock_now(&e.clk);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/a";
  uint64_t ab[2];
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &ab[0]), 0);
  q.url = "http://example.test/b";
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &ab[1]), 0);
  pacer__wait_settled(e.p, 1); /* a's 429 paused the key at t0 */
  fake_clock_advance(&e.clk, 2 * S);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  fake_start_t log[3];
  assert_int_equal(fake_tx_log(e.tx, 0, log, 3), 3);
  assert_int_equal(log[0].t, t0);
  assert_true(log[1].t >= t0 + 2 * S); /* the retry, first */
  assert_true(log[2].t >= t0 + 2 * S); /* b: held by the pause */
  assert_int_equal(log[1].id, log[0].id);
  rec_assert_once(&rec, ab, 2);
  assert_int_equal(rec_of(&rec, ab[0])->attempts, 2);
  assert_int_equal(rec_of(&rec, ab[0])->status, 200);
  assert_int_equal(rec_of(&rec, ab[1])->status, 200);
  eng_free(&e);
}

/* ---- settings reach the transport; the log level filters ---- */

static logcap_t logs = LOGCAP_INITIALIZER;

/* user_agent, connect_timeout_ms, ca_file, ca_path, max_header_bytes and
 * tls_verify = 0 reach every worker's transport as given (copies, as the
 * caller's strings are gone); tls_verify = 0 logs a warning, which
 * log_level ERROR drops. */
static void settings_reach_the_transport(void **state)
{
  (void)state;
  for (int level = PACER_LOG_ERROR; level <= PACER_LOG_WARN; level++) {
    rec_reset(&rec);
    logcap_reset(&logs);
    char ua[] = "tester/2.0", ca_file[] = "/nonexistent/ca.pem",
         ca_path[] = "/nonexistent/certs";
    pacer_config_t c;
    pacer_config_init(&c);
    c.workers = 3;
    c.user_agent = ua;
    c.ca_file = ca_file;
    c.ca_path = ca_path;
    c.connect_timeout_ms = 1234;
    c.timeout_ms = 5678;
    c.max_header_bytes = 4096;
    c.max_response_bytes = 99999;
    c.tls_verify = 0;
    c.log_cb = logcap_on_log;
    c.log_user = &logs;
    c.log_level = (pacer_log_level_t)level;
    eng_t e;
    eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
    memset(ua, 'x', sizeof ua - 1); /* copied at pacer_new() */
    memset(ca_path, 'x', sizeof ca_path - 1);
    uint64_t id;
    assert_int_equal(submit_key(e.p, "k", 0, &id), 0);
    assert_int_equal(pacer_drain(e.p, -1), 0);
    rec_assert_once(&rec, &id, 1);
    fake_tx_opened_t o;
    fake_tx_opened(e.tx, &o);
    assert_int_equal(o.opens, 3); /* one per worker */
    assert_string_equal(o.user_agent, "tester/2.0");
    assert_string_equal(o.ca_file, "/nonexistent/ca.pem");
    assert_string_equal(o.ca_path, "/nonexistent/certs");
    assert_int_equal(o.connect_timeout_ms, 1234);
    assert_int_equal(o.timeout_ms, 5678);
    assert_int_equal(o.max_header_bytes, 4096);
    assert_int_equal(o.max_response_bytes, 99999);
    assert_int_equal(o.tls_verify, 0);
    eng_free(&e);
    static logcap_t got;
    logcap_take(&logs, &got);
    int tls_warning = strstr(got.text, "TLS") || strstr(got.text, "tls") ||
                      strstr(got.text, "verif");
    printf("log_level %d: %d error, %d warn, %d info, %d debug lines:\n%s",
           level, got.levels[0], got.levels[1], got.levels[2], got.levels[3],
           got.text);
    if (level == PACER_LOG_WARN) {
      assert_true(got.levels[PACER_LOG_WARN] >= 1);
      assert_true(tls_warning);
    } else {
      assert_int_equal(got.levels[PACER_LOG_WARN], 0); /* filtered */
    }
    assert_int_equal(got.levels[PACER_LOG_INFO] + got.levels[PACER_LOG_DEBUG],
                     0);
  }
}

/* ---- promises of the header: drain, batches, handlers, stats ---- */

typedef struct drainer {
  pacer_t *p;
  int64_t timeout_ms;
  int rc;
  size_t done_at_return; /* results recorded when drain returned */
  int returned;          /* atomic */
} drainer_t;

static void *drain_thread(void *arg)
{
  drainer_t *d = arg;
  d->rc = pacer_drain(d->p, d->timeout_ms);
  d->done_at_return = rec_count(&rec);
  __atomic_store_n(&d->returned, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static int drainer_returned(drainer_t *d)
{
  return __atomic_load_n(&d->returned, __ATOMIC_SEQ_CST);
}

/* pacer_drain(timeout) gives PACER_ETIMEDOUT once that much (simulated)
 * time has passed with a job still running, and leaves the job alone; a
 * drain without limit also waits for jobs submitted while it waits. */
static void drain_times_out_and_waits_for_late_jobs(void **state)
{
  (void)state;
  rec_reset(&rec);
  eng_t e;
  eng_new(&e, NULL, &(eng_opts_t){.reply = fake_reply_hold});
  uint64_t r[2];
  assert_int_equal(submit_key(e.p, "k", 0, &r[0]), 0);
  fake_tx_wait_held(e.tx, 1);
  assert_int_equal(pacer_drain(e.p, 0), PACER_ETIMEDOUT);

  drainer_t d = {e.p, 100, 0, 0, 0};
  pthread_t t;
  int64_t t0 = fake_clock_now(&e.clk);
  pthread_create(&t, NULL, drain_thread, &d);
  /* Time moves 1 ms at a time until the drain gives up (bounded). The
   * bound is far past 100 ms: on a loaded machine the drainer may start
   * waiting only after many steps, and it must still see time move. */
  for (int i = 0; i < 10000000 && !drainer_returned(&d); i++) {
    fake_clock_advance(&e.clk, 1 * MS);
    sched_yield();
  }
  assert_true(drainer_returned(&d));
  pthread_join(t, NULL);
  int64_t waited = fake_clock_now(&e.clk) - t0;
  assert_int_equal(d.rc, PACER_ETIMEDOUT);
  assert_true(waited >= 100 * MS);
  assert_int_equal(rec_count(&rec), 0); /* in flight: not ended by it */
  assert_int_equal(fake_tx_held(e.tx), 1);

  drainer_t d2 = {e.p, -1, 0, 0, 0};
  pthread_create(&t, NULL, drain_thread, &d2);
  assert_int_equal(submit_key(e.p, "k", 0, &r[1]), 0); /* while it waits */
  fake_tx_wait_held(e.tx, 2);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release(e.tx, r[0], &okr), 0);
  rec_wait(&rec, 1);
  assert_int_equal(fake_tx_release(e.tx, r[1], &okr), 0);
  pthread_join(t, NULL);
  assert_int_equal(d2.rc, 0);
  assert_int_equal(d2.done_at_return, 2); /* the late job too */
  rec_assert_once(&rec, r, 2);
  eng_free(&e);
}

/* Batches without a spool: NULL users and ids, all or none on a bad
 * request (with its index), past queue_max as the header says, and
 * pacer_submit_batch_marked() ignoring its mark. */
static void batches_without_a_spool(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.queue_max = 2;
  c.concurrency = 1;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  pacer_request_t q[5];
  for (int i = 0; i < 5; i++) {
    pacer_request_init(&q[i]);
    q[i].url = "http://example.test/b";
  }
  /* A bad request: nothing accepted, its index reported. */
  q[3].url = "ftp://example.test/b";
  size_t bad = 99;
  assert_int_equal(pacer_submit_batch(e.p, q, 5, rec_on_any, NULL, NULL, &bad),
                   PACER_ESCHEME);
  assert_int_equal(bad, 3);
  q[3].url = "http://example.test/b";
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->submitted, 0);
  pacer_stats_free(st);

  /* users NULL, ids NULL: five jobs, all past queue_max = 2 at once. */
  assert_int_equal(pacer_submit_batch(e.p, q, 5, rec_on_any, NULL, NULL, NULL),
                   0);
  fake_tx_wait_held(e.tx, 1);
  pacer__wait_idle(e.p);
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->submitted, 5);
  assert_int_equal(st->queued_low, 4); /* twice queue_max */
  assert_int_equal(st->in_flight, 1);
  pacer_stats_free(st);
  pacer_request_t one;
  pacer_request_init(&one);
  one.url = "http://example.test/b";
  assert_int_equal(pacer_try_submit(e.p, &one, rec_on_done, &rec, NULL),
                   PACER_EFULL);

  /* The marked form without a spool: the mark is ignored; ids filled. */
  uint64_t ids[2] = {0, 0};
  static int marks[2];
  void *users[2] = {&marks[0], &marks[1]};
  /* Blocks while the queue is at its bound: free it first. */
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  for (int i = 0; i < 5; i++) {
    fake_tx_wait_held(e.tx, 1);
    assert_int_equal(fake_tx_release_all(e.tx, &okr), 1);
  }
  rec_wait(&rec, 5);
  assert_int_equal(pacer_submit_batch_marked(e.p, q, 2, rec_on_any, users, ids,
                                             NULL, "line 42"),
                   0);
  assert_int_equal(pacer_submit_batch_marked(e.p, q, 0, rec_on_any, NULL, NULL,
                                             NULL, "line 43"),
                   0);
  assert_true(ids[0] != 0 && ids[1] != 0 && ids[0] != ids[1]);
  for (int i = 0; i < 2; i++) {
    fake_tx_wait_held(e.tx, 1);
    assert_int_equal(fake_tx_release_all(e.tx, &okr), 1);
  }
  assert_int_equal(pacer_drain(e.p, -1), 0);
  /* Each NULL-user job called back once, with NULL, under its own id; the
   * two with users once each with its own; the refused one never. */
  assert_int_equal(rec_count(&rec), 5 + 2);
  rec_assert_distinct(&rec);
  for (size_t i = 0; i < 5; i++)
    assert_null(rec_at(&rec, i)->user);
  for (int i = 0; i < 2; i++) {
    assert_ptr_equal(rec_of(&rec, ids[i])->user, users[i]);
    assert_int_equal(rec_of(&rec, ids[i])->status, 200);
  }
  eng_free(&e);
}

/* Registering a name again replaces its callback for jobs submitted from
 * then on; jobs submitted before keep the old one. */
static void registering_a_handler_again_replaces_it(void **state)
{
  (void)state;
  recorder_t a, b; /* the first callback's ends, the second's */
  rec_init(&a, 0);
  rec_init(&b, 0);
  eng_t e;
  eng_new(&e, NULL, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &a), 0);
  assert_int_equal(pacer_register_handler(e.p, "h", NULL, &a), PACER_EINVAL);
  assert_int_equal(pacer_register_handler(e.p, "", rec_on_done, &a),
                   PACER_EINVAL);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/h";
  q.handler = "h";
  uint64_t first, second;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &first), 0);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &b), 0);
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &second), 0);
  fake_tx_wait_held(e.tx, 2);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 2);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&a, &first, 1);
  rec_assert_once(&b, &second, 1);
  assert_ptr_equal(rec_of(&a, first)->user, &a);
  assert_ptr_equal(rec_of(&b, second)->user, &b);
  eng_free(&e);
  rec_free(&a);
  rec_free(&b);
}

/* Scripts by key for the statistics run. */
static void stats_reply(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  const char *k = j->key->name;
  if (!strcmp(k, "h404"))
    r->status = 404;
  else if (!strcmp(k, "tx"))
    r->error = PACER_ETRANSPORT;
  else if (!strcmp(k, "r503"))
    r->status = 503;
  else if (!strcmp(k, "brk"))
    r->status = 501; /* a breaker failure, not retried */
  else if (!strcmp(k, "pz") && j->attempts == 1) {
    r->status = 429;
    r->retry_after = "2";
  } else if (!strcmp(k, "to") || !strcmp(k, "dl") || !strcmp(k, "cx") ||
             !strcmp(k, "exp"))
    r->hold = 1;
  else
    r->status = 200;
}

static const pacer_key_stats_t *key_stats(const pacer_stats_t *st,
                                          const char *key)
{
  for (size_t i = 0; i < st->key_count; i++)
    if (!strcmp(st->keys[i].key, key))
      return &st->keys[i];
  fail_msg("no statistics for key %s", key);
  return NULL;
}

/* Each counter of pacer_stats_t counts its own kind of end, and the per-key
 * figures (queued, in flight, paused_ms) show what the key is doing. Also
 * goes through breaker_fail_fast (EBREAKER at once) and max_queue_wait_ms
 * (EEXPIRED) in the engine. */
static void stats_count_each_kind_of_end(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 100;
  c.backoff_base_ms = 1;
  c.backoff_max_ms = 1;
  c.breaker_window = 2;
  c.breaker_min_calls = 2;
  c.breaker_threshold = 1.0;
  c.breaker_fail_fast = 1;
  c.max_queue_wait_ms = 50;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = stats_reply});
  pacer_key_limits_t one_at_a_time = {sizeof one_at_a_time, 0, 1, 1};
  assert_int_equal(pacer_key_limits_set(e.p, "exp", &one_at_a_time), 0);
  uint64_t brk[3], r[11];
  /* Two 501s open key brk's breaker; with fail_fast the third ends at
   * once, never started. */
  for (int i = 0; i < 2; i++)
    assert_int_equal(submit_key(e.p, "brk", 0, &brk[i]), 0);
  rec_wait(&rec, 2);
  assert_int_equal(submit_key(e.p, "brk", 0, &brk[2]), 0);
  rec_wait(&rec, 3);
  assert_int_equal(rec_of(&rec, brk[2])->error, PACER_EBREAKER);
  assert_int_equal(rec_of(&rec, brk[2])->attempts, 0);

  const char *keys[11] = {"ok", "h404", "tx",  "to",  "r503", "dl",
                          "cx", "pz",   "exp", "exp", "ok"};
  for (int i = 0; i < 11; i++) {
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://example.test/s";
    q.key = keys[i];
    q.max_attempts = !strcmp(keys[i], "r503") || !strcmp(keys[i], "pz") ? 2 : 1;
    q.timeout_ms = !strcmp(keys[i], "to") ? 10 : 1000;
    q.deadline_ms = !strcmp(keys[i], "dl") ? 5 : 0;
    assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, &r[i]), 0);
  }
  fake_tx_wait_held(e.tx, 4);      /* to, dl, cx, the first exp */
  pacer__wait_settled(e.p, 2 + 6); /* brk x2, ok x2, h404, tx, r503, pz */
  pacer__wait_idle(e.p);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  const pacer_key_stats_t *ks = key_stats(st, "exp");
  assert_int_equal(ks->queued, 1);
  assert_int_equal(ks->in_flight, 1);
  ks = key_stats(st, "pz");
  printf("at t=0: key pz paused %lld ms, in flight %llu\n",
         (long long)ks->paused_ms, (unsigned long long)st->in_flight);
  assert_int_equal(ks->paused_ms, 2000);
  /* Its retry waits out the pause: counted in the global queued figure,
   * with the second exp (r503's retry may be waiting too, jitter 0..1 ms). */
  assert_true(st->queued_low >= 2 && st->queued_low <= 3);
  assert_int_equal(key_stats(st, "brk")->breaker, PACER_BREAKER_OPEN);
  assert_int_equal(st->in_flight, 4);
  pacer_stats_free(st);

  assert_int_equal(pacer_cancel(e.p, r[6]), 0);
  fake_clock_advance(&e.clk, 5 * MS);  /* dl's deadline */
  fake_clock_advance(&e.clk, 5 * MS);  /* to's timeout */
  fake_clock_advance(&e.clk, 40 * MS); /* the second exp waited 50 ms */
  rec_wait(&rec, 3 + 9);
  /* The first exp answers before its 1 s timeout; then pz's pause ends. */
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release(e.tx, r[8], &okr), 0);
  rec_wait(&rec, 3 + 10);
  fake_clock_advance(&e.clk, 2 * S);
  assert_int_equal(pacer_drain(e.p, -1), 0);

  static const int want_error[11] = {0,
                                     0,
                                     PACER_ETRANSPORT,
                                     PACER_ETIMEDOUT,
                                     PACER_ERETRIES,
                                     PACER_EDEADLINE,
                                     PACER_ECANCELED,
                                     0,
                                     0,
                                     PACER_EEXPIRED,
                                     0};
  assert_int_equal(rec_count(&rec), 3 + 11);
  rec_assert_distinct(&rec);
  for (int i = 0; i < 11; i++) {
    const rec_entry_t *e_i = rec_of(&rec, r[i]);
    if (e_i->error != want_error[i])
      printf("job %d (key %s): %s, status %d\n", i, keys[i],
             pacer_err_name(e_i->error), e_i->status);
    assert_int_equal(e_i->error, want_error[i]);
  }
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  char *json = NULL;
  assert_int_equal(pacer_stats_json(st, &json), 0);
  printf("%s\n", json);
  free(json);
  assert_int_equal(st->submitted, 14);
  assert_int_equal(st->succeeded, 4);   /* ok x2, pz, the first exp */
  assert_int_equal(st->failed_http, 3); /* h404, brk's two 501s */
  assert_int_equal(st->failed_transport, 1);
  assert_int_equal(st->failed_timeout, 1);
  assert_int_equal(st->failed_retries, 1);
  assert_int_equal(st->failed_deadline, 1);
  assert_int_equal(st->failed_breaker, 1);
  assert_int_equal(st->failed_too_large, 0);
  assert_int_equal(st->failed_other, 0);
  assert_int_equal(st->cancelled, 1);
  assert_int_equal(st->expired, 1);
  assert_int_equal(st->retried, 2); /* r503 and pz, once each */
  assert_int_equal(st->queued_high + st->queued_low, 0);
  assert_int_equal(st->in_flight, 0);
  pacer_stats_free(st);
  eng_free(&e);
}

/* ---- spool, resume, waiting retries, batches ---- */

/* Jobs are told apart by their tag (one byte): rec_of_tag(). The spool
 * lives in a scratch directory of its own. */
static char tmp_dir[64];
static char spool_path[128];

static void tmp_make(void)
{
  scratch_make(tmp_dir, sizeof tmp_dir);
  snprintf(spool_path, sizeof spool_path, "%s/s.db", tmp_dir);
}

static void spool_config(pacer_config_t *c)
{
  pacer_config_init(c);
  c->spool_path = spool_path;
}

static void spool_status(pacer_spool_status_t *st)
{
  assert_int_equal(pacer_spool_status(spool_path, st), 0);
}

/* A spooled request named by handler, tagged with one byte. */
static void tagged(pacer_request_t *q, const char *handler, const char *tag)
{
  pacer_request_init(q);
  q->url = "http://example.test/x";
  q->handler = handler;
  q->tag = tag;
  q->tag_len = 1;
}

static void submit_tagged(pacer_t *p, const char *handler, const char *tag)
{
  pacer_request_t q;
  tagged(&q, handler, tag);
  assert_int_equal(pacer_submit(p, &q, NULL, NULL, NULL), 0);
}

/* Jobs this run submitted are live here: resume must not load them again
 * (that sent a second request with the same Idempotency-Key and ran a
 * second callback), while an earlier run's rows still come back. */
static void resume_loads_only_an_earlier_runs_jobs(void **state)
{
  (void)state;
  tmp_make();
  rec_reset(&rec);
  pacer_config_t c;
  spool_config(&c);
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  submit_tagged(e.p, "h", "a");
  fake_tx_wait_held(e.tx, 1);
  pacer_resume_info_t info = {.struct_size = sizeof info};
  int rc = pacer_resume(e.p, &info);
  printf("submit then resume: rc %d, loaded %llu\n", rc,
         (unsigned long long)info.loaded);
  assert_int_equal(rc, 0);
  assert_int_equal(info.loaded, 0);
  assert_int_equal(info.in_flight, 0);
  /* A second call loads nothing either. */
  assert_int_equal(pacer_resume(e.p, &info), PACER_EINVAL);
  assert_int_equal(info.loaded, 0);
  pacer__wait_idle(e.p);
  fake_reply_t r200 = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &r200), 1);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(fake_tx_starts(e.tx), 1);
  assert_int_equal(rec_count(&rec), 1);
  assert_int_equal(rec_of_tag(&rec, "a", 1)->status, 200);
  assert_int_equal(rec_of_tag(&rec, "a", 1)->kept, 0);

  /* "b" is left in flight by this run... */
  submit_tagged(e.p, "h", "b");
  fake_tx_wait_held(e.tx, 1);
  eng_free(&e);
  assert_int_equal(rec_of_tag(&rec, "b", 1)->kept, 1);

  /* ...and is the one job the next run resumes, not its own "c". */
  rec_reset(&rec);
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  submit_tagged(e.p, "h", "c");
  fake_tx_wait_held(e.tx, 1);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(info.in_flight, 1);
  fake_tx_wait_held(e.tx, 2);
  assert_int_equal(fake_tx_release_all(e.tx, &r200), 2);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(fake_tx_starts(e.tx), 2);
  assert_int_equal(rec_count(&rec), 2);
  assert_int_equal(rec_of_tag(&rec, "b", 1)->attempts, 2);
  assert_int_equal(rec_of_tag(&rec, "c", 1)->attempts, 1);
  eng_free(&e);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  spool_status(&st);
  assert_int_equal(st.queued + st.waiting + st.in_flight, 0);
  assert_int_equal(st.done, 3);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

/* Shuts the dispatcher down (cancelling) when resume meets a job whose
 * handler is not registered: a shutdown in the middle of a resume. */
static void shut_on_log(pacer_log_level_t level, const char *msg, void *user)
{
  (void)level;
  eng_t *e = user;
  if (strstr(msg, "not registered"))
    pacer_shutdown(e->p, PACER_SHUTDOWN_CANCEL);
}

static void resume_stops_at_a_shutdown(void **state)
{
  (void)state;
  tmp_make();
  rec_reset(&rec);
  pacer_config_t c;
  spool_config(&c);
  eng_t e;
  /* Three jobs left in flight: a (h), b (g), c (h). */
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  assert_int_equal(pacer_register_handler(e.p, "g", rec_on_done, &rec), 0);
  submit_tagged(e.p, "h", "a");
  submit_tagged(e.p, "g", "b");
  submit_tagged(e.p, "h", "c");
  fake_tx_wait_held(e.tx, 3);
  eng_free(&e);
  assert_int_equal(rec_count(&rec), 3);

  /* b's unknown handler shuts the dispatcher down: c is not loaded. */
  rec_reset(&rec);
  c.log_cb = shut_on_log;
  c.log_user = &e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  int rc = pacer_resume(e.p, &info);
  printf("shutdown during resume: rc %d, loaded %llu\n", rc,
         (unsigned long long)info.loaded);
  assert_int_equal(rc, PACER_ESHUTDOWN);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(info.no_handler, 1);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_count(&rec), 1);
  rec_entry_t a = *rec_of_tag(
      &rec, "a", 1); /* ran before the shutdown, or was kept by it */
  assert_true((a.error == 0 && a.kept == 0) ||
              (a.error == PACER_ECANCELED && a.kept == 1));
  eng_free(&e);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  spool_status(&st);
  assert_int_equal(st.queued + st.waiting + st.in_flight, 2 + a.kept);

  /* Resume after a shutdown says so. */
  c.log_cb = NULL;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_FINISH), 0);
  assert_int_equal(pacer_resume(e.p, &info), PACER_ESHUTDOWN);
  assert_int_equal(info.loaded, 0);
  eng_free(&e);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

/* A large 503 with a long Retry-After, to every attempt. */
static char big_body[256 * 1024];

static void reply_big_503(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  r->status = 503;
  r->retry_after = "600";
  r->body = big_body;
}

static void waiting_retry_holds_no_body(void **state)
{
  (void)state;
  rec_reset(&rec);
  memset(big_body, 'x', sizeof big_body - 1);
  pacer_config_t c;
  pacer_config_init(&c);
  c.retry_budget_ratio = 0; /* 40 failing requests: 30 retries in budget */
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_big_503});
  char keys[40][8];
  for (int i = 0; i < 40; i++) {
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://example.test/x";
    snprintf(keys[i], sizeof keys[i], "k%d", i); /* one pause per key */
    q.key = keys[i];
    q.tag = "w";
    q.tag_len = 1;
    assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, NULL), 0);
  }
  pacer__wait_settled(e.p, 40);
  pacer__wait_idle(e.p);
  size_t body = 0, held = pacer__waiting_resp_bytes(e.p, &body);
  printf("40 jobs waiting to retry hold %zu response bytes, %zu of body\n",
         held, body);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->retried, 40);
  assert_int_equal(st->queued_low, 40); /* all waiting */
  pacer_stats_free(st);
  assert_int_equal(body, 0);
  assert_true(held > 0);         /* status line and headers stay */
  assert_true(held < 40 * 2048); /* against 40 x 256 KiB of bodies */
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_count(&rec), 40);
  rec_assert_distinct(&rec);
  for (size_t i = 0; i < 40; i++) {
    const rec_entry_t *r = rec_at(&rec, i);
    assert_int_equal(r->error, PACER_ECANCELED);
    assert_int_equal(r->status, 503);
    assert_non_null(rec_header(r, "Retry-After"));
    assert_int_equal(r->body_len, 0);
    assert_int_equal(r->attempts, 1);
  }
  eng_free(&e);
}

static void reply_429_ra(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  r->status = 429;
  r->retry_after = "6";
}

/* What the progress line shows: the jobs waiting to retry, and a key
 * paused by a 429's Retry-After with what paused it. */
static void stats_say_retries_waiting_and_why_a_key_is_paused(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1; /* one at a time: api's first answer pauses it */
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_429_ra});
  uint64_t r[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit_key(e.p, i < 2 ? "api" : "other", 0, &r[i]), 0);
  /* One attempt per key: api's second job stays queued behind the pause. */
  pacer__wait_settled(e.p, 2);
  pacer__wait_idle(e.p);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->retry_waiting, 2);
  assert_int_equal(st->queued_low, 3);
  assert_int_equal(st->key_count, 2);
  assert_non_null(st->key_pause);
  for (size_t i = 0; i < st->key_count; i++) {
    printf("key %s paused %lld ms: %s %d\n", st->keys[i].key,
           (long long)st->keys[i].paused_ms,
           pacer_event_reason_name(st->key_pause[i].reason),
           st->key_pause[i].status);
    assert_int_equal(st->keys[i].paused_ms, 6000);
    assert_int_equal(st->key_pause[i].reason, PACER_REASON_RETRY_AFTER);
    assert_int_equal(st->key_pause[i].status, 429);
  }
  pacer_stats_free(st);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->retry_waiting, 0);
  pacer_stats_free(st);
  eng_free(&e);
}

/* A cancelling shutdown lets attempts in flight finish but not retry: one
 * whose answer would have been retried was stopped before it finished, so
 * it ends PACER_ECANCELED, kept in the spool for resume; one with no attempt
 * left has finished. */
static void cancel_shutdown_keeps_a_job_it_would_retry(void **state)
{
  (void)state;
  tmp_make();
  rec_reset(&rec);
  pacer_config_t c;
  spool_config(&c);
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  uint64_t id[3];
  pacer_request_t q;
  tagged(&q, "h", "a"); /* answered 503 */
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &id[0]), 0);
  tagged(&q, "h", "b"); /* fails in the transport */
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &id[1]), 0);
  tagged(&q, "h", "c"); /* answered 503 on its last attempt */
  q.max_attempts = 1;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &id[2]), 0);
  fake_tx_wait_held(e.tx, 3);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  pacer__wait_idle(e.p); /* the shutdown has reached the queue */
  fake_reply_t r503 = {
      .hold = 0, .error = 0, .status = 503, .retry_after = NULL, .body = NULL};
  fake_reply_t rtx = {.hold = 0,
                      .error = PACER_ETRANSPORT,
                      .status = 0,
                      .retry_after = NULL,
                      .body = NULL};
  assert_int_equal(fake_tx_release(e.tx, id[0], &r503), 0);
  assert_int_equal(fake_tx_release(e.tx, id[1], &rtx), 0);
  assert_int_equal(fake_tx_release(e.tx, id[2], &r503), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_entry_t a = *rec_of_tag(&rec, "a", 1), b = *rec_of_tag(&rec, "b", 1),
              cc = *rec_of_tag(&rec, "c", 1);
  printf("503 in flight at a cancelling shutdown: error %s, kept %d\n",
         pacer_err_name(a.error), a.kept);
  printf("transport error in flight: error %s, kept %d\n",
         pacer_err_name(b.error), b.kept);
  assert_int_equal(a.error, PACER_ECANCELED);
  assert_int_equal(a.kept, 1);
  assert_int_equal(a.status, 503);
  assert_int_equal(b.error, PACER_ECANCELED);
  assert_int_equal(b.kept, 1);
  assert_int_equal(cc.error, PACER_ERETRIES);
  assert_int_equal(cc.kept, 0);
  assert_int_equal(cc.status, 503);
  eng_free(&e);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  spool_status(&st);
  assert_int_equal(st.in_flight, 2);
  assert_int_equal(st.queued + st.waiting, 0);
  assert_int_equal(st.failed, 1);

  /* The next run finishes a and b. */
  rec_reset(&rec);
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 2);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_of_tag(&rec, "a", 1)->status, 200);
  assert_int_equal(rec_of_tag(&rec, "a", 1)->attempts, 2);
  assert_int_equal(rec_of_tag(&rec, "b", 1)->status, 200);
  eng_free(&e);
  spool_status(&st);
  assert_int_equal(st.queued + st.waiting + st.in_flight, 0);
  assert_int_equal(st.done, 2);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

/* Ctrl-C twice in the command: a cancelling shutdown keeps the queued
 * spooled jobs, then an aborting one ends the attempts in flight; all stay
 * in the spool, and the next run sends each of them once. */
static void abort_shutdown_keeps_every_spooled_job(void **state)
{
  (void)state;
  tmp_make();
  rec_reset(&rec);
  pacer_config_t c;
  spool_config(&c);
  c.concurrency = 2;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  static const char tags[] = "abcdef";
  for (int i = 0; i < 6; i++)
    submit_tagged(e.p, "h", tags + i);
  fake_tx_wait_held(e.tx, 2);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_CANCEL), 0);
  rec_wait(&rec, 4); /* the queued ones, kept */
  assert_int_equal(fake_tx_held(e.tx), 2);
  assert_int_equal(pacer_shutdown(e.p, PACER_SHUTDOWN_ABORT), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_count(&rec), 6);
  assert_int_equal(fake_tx_starts(e.tx), 2);
  unsigned started = 0;
  for (int i = 0; i < 6; i++) {
    const rec_entry_t *r = rec_of_tag(&rec, tags + i, 1);
    assert_int_equal(r->error, PACER_ECANCELED);
    assert_int_equal(r->kept, 1);
    started += r->attempts > 0;
  }
  printf("cancel then abort: 6 ended cancelled and kept, %u had started\n",
         started);
  eng_free(&e);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  spool_status(&st);
  assert_int_equal(st.queued + st.waiting + st.in_flight, 6);
  assert_int_equal(st.done + st.failed, 0);

  /* The next run sends every one of them, once. */
  rec_reset(&rec);
  pacer_config_init(&c);
  c.spool_path = spool_path;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 6);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_count(&rec), 6);
  assert_int_equal(fake_tx_starts(e.tx), 6);
  for (int i = 0; i < 6; i++)
    assert_int_equal(rec_of_tag(&rec, tags + i, 1)->status, 200);
  eng_free(&e);
  spool_status(&st);
  assert_int_equal(st.queued + st.waiting + st.in_flight, 0);
  assert_int_equal(st.done, 6);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

/* Fails the k-th allocation, for k = 0, 1, ... until the batch no longer
 * allocates that many, on the submitting thread during a batch of four
 * jobs on four keys: an error accepts none (no id, no callback, nothing
 * started, nothing in the spool), a success accepts all. */
/* With a spool, the mark goes in with its batch and replaces the one
 * before; n = 0 stores it alone; a refused batch stores nothing. */
static void batch_marks_are_stored_with_their_batch(void **state)
{
  (void)state;
  tmp_make();
  rec_reset(&rec);
  pacer_config_t c;
  spool_config(&c);
  c.spool_sync = PACER_SPOOL_FULL;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  pacer_request_t q[2];
  tagged(&q[0], "h", "a");
  tagged(&q[1], "h", "b");
  pacer_spool_status_t st = {.struct_size = sizeof st};
  spool_status(&st);
  assert_string_equal(st.mark, "");
  assert_int_equal(
      pacer_submit_batch_marked(e.p, q, 2, NULL, NULL, NULL, NULL, "line 2"),
      0);
  spool_status(&st);
  assert_string_equal(st.mark, "line 2");
  assert_int_equal(st.queued + st.in_flight, 2);
  assert_int_equal(
      pacer_submit_batch_marked(e.p, q, 0, NULL, NULL, NULL, NULL, "line 3"),
      0);
  spool_status(&st);
  assert_string_equal(st.mark, "line 3");
  /* A bad request refuses the batch and its mark. */
  q[1].url = "ftp://example.test/x";
  size_t bad = 99;
  assert_int_equal(
      pacer_submit_batch_marked(e.p, q, 2, NULL, NULL, NULL, &bad, "line 9"),
      PACER_ESCHEME);
  assert_int_equal(bad, 1);
  spool_status(&st);
  assert_string_equal(st.mark, "line 3");
  assert_int_equal(st.queued + st.in_flight, 2);
  fake_tx_wait_held(e.tx, 2);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 2);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_count(&rec), 2);
  eng_free(&e);
  spool_status(&st);
  assert_string_equal(st.mark, "line 3"); /* kept after the jobs ended */
  assert_int_equal(st.queued + st.in_flight + st.waiting, 0);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

static void batch_out_of_memory(int spooled)
{
  static const char *tags[4] = {"0", "1", "2", "3"};
  static const char *keys[4] = {"a", "b", "c", "d"};
  int failures = 0, partial = 0;
  for (long k = 0;; k++) {
    rec_reset(&rec);
    pacer_config_t c;
    if (spooled) {
      spool_config(&c);
      snprintf(spool_path, sizeof spool_path, "%s/s%ld.db", tmp_dir, k);
    } else {
      pacer_config_init(&c);
    }
    eng_t e;
    eng_new(&e, &c, &(eng_opts_t){.reply = reply_200_hi});
    if (spooled)
      assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
    /* No key exists yet: the batch's first one makes the key table. */
    pacer_request_t q[4];
    for (int i = 0; i < 4; i++) {
      tagged(&q[i], spooled ? "h" : NULL, tags[i]);
      q[i].key = keys[i];
      q[i].deadline_ms = 60000 * (i % 2); /* some with a timer */
    }
    uint64_t ids[4];
    size_t bad = 99;
    fail_alloc_arm(k);
    int rc = pacer_submit_batch(e.p, q, 4, rec_on_any, NULL, ids, &bad);
    int fired = fail_alloc_fired();
    fail_alloc_arm(-1);
    assert_int_equal(pacer_drain(e.p, -1), 0);
    pacer_stats_t *st;
    assert_int_equal(pacer_stats_get(e.p, &st), 0);
    size_t calls = rec_count(&rec);
    uint64_t submitted = st->submitted;
    pacer_stats_free(st);
    if (rc != 0 && calls > 0 && !partial) {
      partial = 1;
      printf("allocation %ld failed: rc %s, yet %zu of 4 jobs accepted\n", k,
             pacer_err_name(rc), calls);
    }
    if (rc == 0) {
      assert_int_equal(calls, 4);
      assert_int_equal(submitted, 4);
      for (int i = 0; i < 4; i++) {
        assert_true(ids[i] != 0);
        assert_int_equal(rec_of_tag(&rec, tags[i], 1)->status, 200);
      }
    } else {
      failures++;
      assert_int_equal(rc, PACER_ENOMEM);
      assert_int_equal(calls, 0);
      assert_int_equal(submitted, 0);
      assert_int_equal(fake_tx_starts(e.tx), 0);
      for (int i = 0; i < 4; i++)
        assert_int_equal(ids[i], 0);
      assert_int_equal(bad, 4); /* memory is no request's fault */
    }
    eng_free(&e);
    if (spooled) {
      pacer_spool_status_t ss = {.struct_size = sizeof ss};
      spool_status(&ss);
      assert_int_equal(ss.queued + ss.waiting + ss.in_flight, 0);
      assert_int_equal(ss.done, rc == 0 ? 4 : 0);
    }
    if (!fired) {
      assert_int_equal(rc, 0);
      break;
    }
  }
  printf("%s batch: %d allocations failed in turn\n",
         spooled ? "spooled" : "plain", failures);
  assert_true(failures >= 4);
}

static void batch_is_all_or_none_when_memory_runs_out(void **state)
{
  (void)state;
  tmp_make();
  batch_out_of_memory(0);
  batch_out_of_memory(1);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

static void done_nothing(const pacer_result_t *res, void *user)
{
  (void)res;
  (void)user;
}

/* 503 to each job's first attempt, 200 after. */
static void reply_503_once(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  r->status = j->attempts == 1 ? 503 : 200;
}

/* The clock times at which the second attempts of 8 jobs started (in
 * order), whose first got a 503, with a full-jitter backoff of up to 1 s,
 * under random_seed seed, on the fake clock in 5 ms steps. Read from the
 * dispatcher's count of starts after each step (pacer__wait_idle(): what
 * was due has started), not from the transport, whose worker may take the
 * attempt up after the next step. */
static void retry_times(uint64_t seed, int64_t out[8])
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.random_seed = seed;
  c.backoff_base_ms = 1000;
  c.backoff_max_ms = 1000;
  c.breaker_enabled = 0;
  c.adapt_aimd = 0;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_503_once});
  for (int i = 0; i < 8; i++) {
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://example.test/x";
    q.max_attempts = 2;
    assert_int_equal(pacer_submit(e.p, &q, done_nothing, NULL, NULL), 0);
  }
  pacer__wait_settled(e.p, 8); /* the first attempts, each a 503 */
  pacer__wait_idle(e.p);
  int n = 0;
  uint64_t seen = 8;
  for (int64_t t = 0; t <= 1100 * MS && n < 8; t += 5 * MS) {
    fake_clock_advance(&e.clk, 5 * MS);
    pacer__wait_idle(e.p);
    pacer_stats_t *st;
    assert_int_equal(pacer_stats_get(e.p, &st), 0);
    for (; seen < st->started && n < 8; seen++)
      out[n++] = fake_clock_now(&e.clk);
    pacer_stats_free(st);
  }
  assert_int_equal(n, 8);
  eng_free(&e);
}

/* random_seed: the same seed draws the same jitter every run (the delays
 * of eight retries, on the fake clock, the same to the step: which job gets
 * which draw follows the order the workers settle them in, so the times
 * are those of the starts in order); another seed other delays. */
static void random_seed_makes_jitter_reproducible(void **state)
{
  (void)state;
  int64_t a[8], b[8], c[8];
  retry_times(42, a);
  retry_times(42, b);
  retry_times(43, c);

  int same = 1, other = 0;
  for (int i = 0; i < 8; i++) {
    same &= a[i] == b[i];
    other += a[i] != c[i];
  }
  assert_true(same);
  assert_true(other >= 4); /* not one or two by chance */
}

/* ---- load shedding and settings changed live ---- */

/* While holding is set, every attempt is held; after, it answers 200. */
static atomic_int holding;
static void hold_while(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  r->hold = atomic_load(&holding);
  r->status = 200;
}

static uint64_t stat_of(pacer_t *p, size_t off)
{
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  uint64_t v;
  memcpy(&v, (const char *)st + off, sizeof v);
  pacer_stats_free(st);
  return v;
}
#define STAT(p, field) stat_of((p), offsetof(pacer_stats_t, field))

/* The live settings changed by tweak (pacer_config_get(), then
 * pacer_reconfigure()); returns pacer_reconfigure()'s code. */
static int reconfigure_with(pacer_t *p, void (*tweak)(pacer_config_t *c, int v),
                            int v)
{
  pacer_config_t c;
  pacer_config_init(&c);
  assert_int_equal(pacer_config_get(p, &c), 0);
  tweak(&c, v);
  return pacer_reconfigure(p, &c);
}
static void set_policy(pacer_config_t *c, int v)
{
  c->queue_policy = v;
}
static void set_queue_max(pacer_config_t *c, int v)
{
  c->queue_max = (size_t)v;
}
static void set_key_concurrency(pacer_config_t *c, int v)
{
  c->key_concurrency = (unsigned)v;
}
static void set_max_attempts(pacer_config_t *c, int v)
{
  c->max_attempts = (unsigned)v;
}

static int submit_method(pacer_t *p, const char *method, unsigned flags,
                         uint64_t *id)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/x";
  q.method = method;
  q.flags = flags;
  return pacer_submit(p, &q, rec_on_done, &rec, id);
}

/* The result says why a POST that met a retryable 503 ended after one
 * attempt; the flag retries it; a GET needs nothing. */
static void result_says_an_unsafe_method_was_not_retried(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.backoff_base_ms = 0; /* a retry is due at once: the clock stays */
  c.adapt_aimd = 0;      /* and no key is slowed by the 503s */
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_503_once});
  uint64_t post, unsafe, get;
  assert_int_equal(submit_method(e.p, "POST", 0, &post), 0);
  assert_int_equal(submit_method(e.p, "POST", PACER_REQ_RETRY_UNSAFE, &unsafe),
                   0);
  assert_int_equal(submit_method(e.p, "GET", 0, &get), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  const rec_entry_t *r = rec_of(&rec, post);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 503);
  assert_int_equal(r->attempts, 1);
  assert_int_equal(r->not_retried, PACER_NOT_RETRIED_UNSAFE);
  r = rec_of(&rec, unsafe);
  assert_int_equal(r->status, 200);
  assert_int_equal(r->attempts, 2);
  assert_int_equal(r->not_retried, PACER_NOT_RETRIED_NONE);
  r = rec_of(&rec, get);
  assert_int_equal(r->status, 200);
  assert_int_equal(r->not_retried, PACER_NOT_RETRIED_NONE);
  eng_free(&e);
}

static void set_statuses(pacer_config_t *c, int v)
{
  static const int one[] = {503}, two[] = {500};
  c->retry_statuses = v == 1 ? one : v == 2 ? two : NULL;
  c->retry_status_count = v ? 1 : 0;
}

/* retry_statuses: a 503 left out of the list ends its job with its status;
 * the list is not live: pacer_config_get() gives NULL and 0, which
 * pacer_reconfigure() takes back, as the same list; another is refused. */
static void retry_statuses_are_the_callers_and_fixed(void **state)
{
  (void)state;
  rec_reset(&rec);
  static const int only_500[] = {500};
  pacer_config_t c;
  pacer_config_init(&c);
  c.backoff_base_ms = 0;
  c.adapt_aimd = 0;
  c.retry_statuses = only_500;
  c.retry_status_count = 1;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_503_once});
  uint64_t id;
  assert_int_equal(submit_method(e.p, "GET", 0, &id), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_of(&rec, id)->status, 503);
  assert_int_equal(rec_of(&rec, id)->attempts, 1);
  assert_int_equal(rec_of(&rec, id)->not_retried, PACER_NOT_RETRIED_NONE);
  pacer_config_t got;
  pacer_config_init(&got);
  assert_int_equal(pacer_config_get(e.p, &got), 0);
  assert_null(got.retry_statuses);
  assert_int_equal(got.retry_status_count, 0);
  assert_int_equal(reconfigure_with(e.p, set_statuses, 0), 0);
  assert_int_equal(reconfigure_with(e.p, set_statuses, 2), 0);
  assert_int_equal(reconfigure_with(e.p, set_statuses, 1), PACER_EINVAL);
  eng_free(&e);
}

/* A hostile backlog: 40 keys each with one attempt held at its cap of 1,
 * so every key is parked and the ready heaps are empty, then 1560 more
 * jobs over random keys, one in 26 high, against a bound of 100 under
 * DROP_OLDEST_LOW. No submit blocks (there is always a low job to shed);
 * the lows queued are always the newest ones, so the jobs shed are
 * exactly the 1460 oldest lows of those 1560; no high is shed; every job
 * gets exactly one callback, the shed ones PACER_ESHED, the rest 200. */
static void drop_oldest_low_sheds_the_oldest_of_a_hostile_backlog(void **state)
{
  (void)state;
  enum { KEYS = 40, MORE = 1560, BOUND = 100, N = KEYS + MORE };
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.queue_max = BOUND;
  c.queue_policy = PACER_QUEUE_DROP_OLDEST_LOW;
  c.key_concurrency = 1;
  c.concurrency = 1000;
  c.breaker_enabled = 0;
  atomic_store(&holding, 1);
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = hold_while});
  static uint64_t ids[N];
  static int prio[N];
  char key[16];
  size_t n = 0;
  for (int k = 0; k < KEYS; k++, n++) {
    snprintf(key, sizeof key, "k%d", k);
    assert_int_equal(submit_key(e.p, key, PACER_PRIORITY_LOW, &ids[n]), 0);
  }
  fake_tx_wait_held(e.tx, KEYS);
  uint32_t rnd = 7;
  size_t lows = 0, highs = 0;
  for (int i = 0; i < MORE; i++, n++) {
    rnd = rnd * 1103515245u + 12345u;
    snprintf(key, sizeof key, "k%u", (rnd >> 16) % KEYS);
    prio[n] = i % 26 == 25 ? PACER_PRIORITY_HIGH : PACER_PRIORITY_LOW;
    lows += prio[n] == PACER_PRIORITY_LOW;
    highs += prio[n] == PACER_PRIORITY_HIGH;
    assert_int_equal(submit_key(e.p, key, prio[n], &ids[n]), 0);
  }
  size_t want_shed = MORE - BOUND;
  rec_wait(&rec, want_shed);
  assert_int_equal(STAT(e.p, queued_low) + STAT(e.p, queued_high), BOUND);
  assert_int_equal(STAT(e.p, queued_high), highs);
  atomic_store(&holding, 0);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), KEYS);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, N);
  size_t low_rank = 0, shed = 0;
  for (size_t i = KEYS; i < N; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    int want = prio[i] == PACER_PRIORITY_LOW && low_rank++ < want_shed;
    if (want) {
      assert_int_equal(r->error, PACER_ESHED);
      assert_int_equal(r->attempts, 0);
      shed++;
    } else {
      assert_int_equal(r->error, 0);
      assert_int_equal(r->status, 200);
    }
  }
  assert_int_equal(shed, want_shed);
  assert_int_equal(STAT(e.p, shed), want_shed);
  assert_int_equal(STAT(e.p, submitted), N);
  printf("%d keys parked at their cap, bound %d: %zu of %zu lows shed, "
         "oldest first; 0 of %zu highs\n",
         KEYS, BOUND, shed, lows, highs);
  eng_free(&e);
}

/* A shed job of a spool ends as any job does: its callback once, then its
 * row is closed (counted failed), and no later run resumes it. */
static void shed_job_leaves_the_spool(void **state)
{
  (void)state;
  tmp_make();
  rec_reset(&rec);
  pacer_config_t c;
  spool_config(&c);
  c.queue_max = 4;
  c.queue_policy = PACER_QUEUE_DROP_OLDEST_LOW;
  c.concurrency = 1;
  atomic_store(&holding, 1);
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = hold_while});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  submit_tagged(e.p, "h", "0");
  fake_tx_wait_held(e.tx, 1);
  static const char tags[] = "abcdefghij";
  for (int i = 0; i < 10; i++)
    submit_tagged(e.p, "h", &tags[i]);
  rec_wait(&rec, 6);
  for (int i = 0; i < 6; i++) {
    const rec_entry_t *r = rec_of_tag(&rec, &tags[i], 1);
    assert_int_equal(r->error, PACER_ESHED);
    assert_int_equal(r->kept, 0);
  }
  atomic_store(&holding, 0);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 1);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(rec_count(&rec), 11);
  for (int i = 6; i < 10; i++)
    assert_int_equal(rec_of_tag(&rec, &tags[i], 1)->status, 200);
  eng_free(&e);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  spool_status(&st);
  assert_int_equal(st.queued + st.waiting + st.in_flight, 0);
  assert_int_equal(st.done, 5);
  assert_int_equal(st.failed, 6);
  rec_reset(&rec);
  eng_new(&e, &c, &(eng_opts_t){.reply = hold_while});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_done, &rec), 0);
  pacer_resume_info_t info = {.struct_size = sizeof info};
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 0);
  eng_free(&e);
  assert_int_equal(scratch_remove(tmp_dir), 0);
}

static pacer_request_t low_req(void)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/x";
  q.key = "k";
  return q;
}

/* Each policy at the bound, for pacer_submit(), pacer_try_submit() and a
 * batch. FAIL refuses (nothing accepted, no callback); try_submit never
 * sheds; DROP sheds the oldest low for a high submit too, and for a batch
 * only the lows queued before it, accepting the rest past the bound; with
 * no low queued, DROP waits as BLOCK and sheds nothing. */
static void queue_policies_at_the_bound(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.queue_max = 3;
  c.concurrency = 1;
  c.queue_policy = PACER_QUEUE_FAIL;
  atomic_store(&holding, 1);
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = hold_while});
  uint64_t r[16] = {0};
  size_t n = 0;
  assert_int_equal(submit_key(e.p, "k", 0, &r[n++]), 0); /* r0, held */
  fake_tx_wait_held(e.tx, 1);
  for (int i = 0; i < 3; i++) /* r1..r3 */
    assert_int_equal(submit_key(e.p, "k", 0, &r[n++]), 0);
  uint64_t refused = 7;
  assert_int_equal(submit_key(e.p, "k", 0, &refused), PACER_EFULL);
  assert_int_equal(refused, 0);
  pacer_request_t qs[3] = {low_req(), low_req(), low_req()};
  uint64_t bids[3];
  size_t bad = 0;
  assert_int_equal(
      pacer_submit_batch(e.p, qs, 3, rec_on_done, NULL, bids, &bad),
      PACER_EFULL);
  assert_int_equal(bad, 3);

  assert_int_equal(
      reconfigure_with(e.p, set_policy, PACER_QUEUE_DROP_OLDEST_LOW), 0);
  assert_int_equal(pacer_try_submit(e.p, &qs[0], rec_on_done, &rec, NULL),
                   PACER_EFULL);
  uint64_t h1;
  assert_int_equal(submit_key(e.p, "k", PACER_PRIORITY_HIGH, &h1), 0);
  rec_wait(&rec, 1);
  assert_int_equal(rec_of(&rec, r[1])->error, PACER_ESHED);
  /* Queued: r2 r3 h1. A batch of 3: 3 past the bound, 2 lows to shed. */
  void *users[3] = {&rec, &rec, &rec};
  assert_int_equal(
      pacer_submit_batch(e.p, qs, 3, rec_on_done, users, bids, &bad), 0);
  rec_wait(&rec, 3);
  assert_int_equal(rec_of(&rec, r[2])->error, PACER_ESHED);
  assert_int_equal(rec_of(&rec, r[3])->error, PACER_ESHED);
  assert_int_equal(STAT(e.p, queued_low), 3); /* the batch, past the bound */
  assert_int_equal(STAT(e.p, queued_high), 1);
  /* Only highs queued: a low submit waits, as BLOCK, and sheds nothing. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(pacer_cancel(e.p, bids[i]), 0);
  uint64_t h2, h3, late = 0;
  assert_int_equal(submit_key(e.p, "k", PACER_PRIORITY_HIGH, &h2), 0);
  assert_int_equal(submit_key(e.p, "k", PACER_PRIORITY_HIGH, &h3), 0);
  rec_wait(&rec, 6);
  blocked_t b = {e.p, &late, 99};
  pthread_t th;
  pthread_create(&th, NULL, submit_blocking, &b);
  atomic_store(&holding, 0);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 1); /* r0: room */
  pthread_join(th, NULL);
  assert_int_equal(b.rc, 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  assert_int_equal(STAT(e.p, shed), 3);
  uint64_t all[] = {r[0],    r[1],    r[2], r[3], h1,  bids[0],
                    bids[1], bids[2], h2,   h3,   late};
  rec_assert_once(&rec, all, sizeof all / sizeof all[0]);
  assert_int_equal(rec_of(&rec, h1)->status, 200);
  assert_int_equal(rec_of(&rec, late)->status, 200);
  eng_free(&e);
}

/* A queue_max lowered under the backlog ends no accepted job: the backlog
 * stays, try_submit and FAIL refuse, DROP sheds one job per job added
 * (the backlog does not shrink), BLOCK waits until the backlog is under
 * the new bound. */
static void lowering_queue_max_keeps_the_backlog(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.queue_max = 10;
  c.concurrency = 1;
  atomic_store(&holding, 1);
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = hold_while});
  uint64_t r[16] = {0};
  size_t n = 0;
  assert_int_equal(submit_key(e.p, "k", 0, &r[n++]), 0);
  fake_tx_wait_held(e.tx, 1);
  for (int i = 0; i < 10; i++)
    assert_int_equal(submit_key(e.p, "k", 0, &r[n++]), 0);
  assert_int_equal(reconfigure_with(e.p, set_queue_max, 3), 0);
  pacer__wait_idle(e.p);
  assert_int_equal(rec_count(&rec), 0);
  assert_int_equal(STAT(e.p, queued_low), 10);
  pacer_request_t q = low_req();
  assert_int_equal(pacer_try_submit(e.p, &q, rec_on_done, &rec, NULL),
                   PACER_EFULL);
  assert_int_equal(reconfigure_with(e.p, set_policy, PACER_QUEUE_FAIL), 0);
  assert_int_equal(pacer_submit(e.p, &q, rec_on_done, &rec, NULL), PACER_EFULL);
  assert_int_equal(
      reconfigure_with(e.p, set_policy, PACER_QUEUE_DROP_OLDEST_LOW), 0);
  assert_int_equal(submit_key(e.p, "k", 0, &r[n++]), 0);
  rec_wait(&rec, 1);
  assert_int_equal(rec_of(&rec, r[1])->error, PACER_ESHED);
  assert_int_equal(STAT(e.p, queued_low), 10);
  assert_int_equal(reconfigure_with(e.p, set_policy, PACER_QUEUE_BLOCK), 0);
  blocked_t b = {e.p, &r[n++], 99};
  pthread_t th;
  pthread_create(&th, NULL, submit_blocking, &b);
  atomic_store(&holding, 0);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 1);
  pthread_join(th, NULL);
  assert_int_equal(b.rc, 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, r, n);
  assert_int_equal(STAT(e.p, shed), 1);
  eng_free(&e);
}

/* A refused pacer_reconfigure() changes nothing and logs why; a field
 * that cannot change live is named. pacer_config_get() gives the resolved
 * settings, strings NULL. A struct from an older header (a smaller
 * struct_size) leaves the fields it does not know as they are. */
static void reconfigure_refused_leaves_everything_unchanged(void **state)
{
  (void)state;
  rec_reset(&rec);
  static logcap_t cap = LOGCAP_INITIALIZER;
  logcap_reset(&cap);
  pacer_config_t c;
  pacer_config_init(&c);
  c.log_cb = logcap_on_log;
  c.log_user = &cap;
  c.user_agent = "agent/1";
  eng_t e;
  eng_new(&e, &c, NULL);
  pacer_config_t before, w, after;
  pacer_config_init(&before);
  assert_int_equal(pacer_config_get(e.p, &before), 0);
  assert_null(before.user_agent);
  assert_int_equal(before.burst, 1);
  assert_int_equal(before.breaker_probe_timeout_ms, 40000);
  assert_int_equal(before.queue_policy, PACER_QUEUE_BLOCK);
  struct {
    const char *what;
    int rc;
  } cases[] = {
      {"timeout_ms", PACER_EINVAL},  {"workers", PACER_EINVAL},
      {"user_agent", PACER_EINVAL},  {"rate", PACER_ERATE},
      {"weights", PACER_EINVAL},     {"concurrency", PACER_ECONCURRENCY},
      {"min_calls", PACER_EINVAL},   {"queue_policy", PACER_EINVAL},
      {"queue_max", PACER_EINVAL},   {"max_attempts", PACER_EINVAL},
      {"struct_size", PACER_EINVAL}, {"random_seed", PACER_EINVAL}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    w = before;
    w.max_attempts = 1; /* good, and must not be applied */
    w.queue_max = 5;
    const char *what = cases[i].what;
    if (!strcmp(what, "timeout_ms"))
      w.timeout_ms = 5;
    else if (!strcmp(what, "workers"))
      w.workers = 3;
    else if (!strcmp(what, "user_agent"))
      w.user_agent = "agent/2";
    else if (!strcmp(what, "rate"))
      w.rate = -1;
    else if (!strcmp(what, "weights"))
      w.weight_high = w.weight_low = 0;
    else if (!strcmp(what, "concurrency"))
      w.concurrency = 0;
    else if (!strcmp(what, "min_calls"))
      w.breaker_min_calls = w.breaker_window + 1;
    else if (!strcmp(what, "queue_policy"))
      w.queue_policy = 7;
    else if (!strcmp(what, "queue_max"))
      w.queue_max = 0;
    else if (!strcmp(what, "max_attempts"))
      w.max_attempts = 0;
    else if (!strcmp(what, "struct_size"))
      w.struct_size = 0;
    else
      w.random_seed = 99;
    if (pacer_reconfigure(e.p, &w) != cases[i].rc)
      fail_msg("%s: not refused with %s", what, pacer_err_name(cases[i].rc));
    pacer_config_init(&after);
    assert_int_equal(pacer_config_get(e.p, &after), 0);
    assert_memory_equal(&after, &before, sizeof before);
  }
  assert_int_equal(pacer_reconfigure(e.p, NULL), PACER_EINVAL);
  assert_int_equal(pacer_reconfigure(NULL, &before), PACER_EINVAL);
  assert_int_equal(pacer_config_get(e.p, NULL), PACER_EINVAL);
  logcap_t got;
  logcap_take(&cap, &got);
  assert_non_null(strstr(got.text, "timeout_ms cannot change"));
  assert_non_null(strstr(got.text, "pacer_set_workers()"));
  assert_non_null(strstr(got.text, "user_agent cannot change"));
  assert_non_null(strstr(got.text, "random_seed cannot change"));

  /* Accepted: the same string given back, and an older struct. */
  w = before;
  w.user_agent = "agent/1";
  w.max_attempts = 1;
  assert_int_equal(pacer_reconfigure(e.p, &w), 0);
  w = before;
  w.struct_size = offsetof(pacer_config_t, queue_policy);
  w.queue_policy = 9; /* past its size: not read */
  w.weight_low = 3;
  w.max_attempts = 1;
  assert_int_equal(pacer_reconfigure(e.p, &w), 0);
  pacer_config_init(&after);
  assert_int_equal(pacer_config_get(e.p, &after), 0);
  assert_int_equal(after.max_attempts, 1);
  assert_int_equal(after.weight_low, 3);
  assert_int_equal(after.queue_policy, PACER_QUEUE_BLOCK);
  /* A caller's older struct gets only what it holds. */
  memset(&w, 0xab, sizeof w);
  w.struct_size = offsetof(pacer_config_t, queue_policy);
  assert_int_equal(pacer_config_get(e.p, &w), 0);
  assert_int_equal(w.weight_low, 3);
  assert_int_equal(w.queue_policy, (int)0xabababab);
  eng_free(&e);
}

static void reply_503(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  r->status = 503;
}

/* Through the engine, on the fake clock: a lowered max_attempts ends a job
 * already waiting to retry at its next answer; a raised key_concurrency
 * starts the queued jobs of a key parked at its cap at once. */
static void reconfigure_takes_effect_from_the_next_decision(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 3;
  c.adapt_aimd = 0;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_503});
  uint64_t id;
  assert_int_equal(submit_key(e.p, "r", 0, &id), 0);
  pacer__wait_settled(e.p, 1); /* attempt 1 answered: waiting to retry */
  assert_int_equal(STAT(e.p, retried), 1);
  assert_int_equal(reconfigure_with(e.p, set_max_attempts, 2), 0);
  while (rec_count(&rec) == 0) {
    fake_clock_advance(&e.clk, 100 * MS);
    pacer__wait_idle(e.p);
  }
  assert_int_equal(rec_of(&rec, id)->error, PACER_ERETRIES);
  assert_int_equal(rec_of(&rec, id)->attempts, 2);
  eng_free(&e);

  rec_reset(&rec);
  pacer_config_init(&c);
  c.key_concurrency = 1;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  uint64_t ids[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit_key(e.p, "a", 0, &ids[i]), 0);
  fake_tx_wait_held(e.tx, 1);
  pacer__wait_idle(e.p);
  assert_int_equal(fake_tx_held(e.tx), 1);
  assert_int_equal(reconfigure_with(e.p, set_key_concurrency, 3), 0);
  fake_tx_wait_held(e.tx, 3);
  fake_reply_t okr = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(e.tx, &okr), 3);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_all(&rec, ids, 3, 0, 200);
  eng_free(&e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(submit_and_drain),
      cmocka_unit_test(bad_input_is_refused_and_harms_nothing),
      cmocka_unit_test(threads_are_named_and_block_signals),
      cmocka_unit_test(four_submitters_get_exactly_burst_plus_rate_times_60),
      cmocka_unit_test(breaker_admits_exactly_k_probes_under_8_racing_threads),
      cmocka_unit_test(every_job_gets_exactly_one_callback),
      cmocka_unit_test(each_job_meets_the_end_its_script_gives),
      cmocka_unit_test(create_and_free_10000_times),
      cmocka_unit_test(queue_bound_blocks_or_says_full),
      cmocka_unit_test(shutdown_cancel_ends_queue_not_flight),
      cmocka_unit_test(shutdown_counts_the_queue_it_cancels),
      cmocka_unit_test(shutdown_abort_ends_flight_at_once),
      cmocka_unit_test(callbacks_may_submit_cancel_and_shut_down),
      cmocka_unit_test(workers_and_concurrency_change_while_running),
      cmocka_unit_test(set_concurrency_caps_what_starts_next),
      cmocka_unit_test(set_workers_changes_the_thread_count),
      cmocka_unit_test(connections_are_counted_per_key_and_in_total),
      cmocka_unit_test(host_connections_are_divided_among_workers),
      cmocka_unit_test(deadline_ends_a_held_attempt),
      cmocka_unit_test(early_timeout_at_the_deadline_is_the_deadline),
      cmocka_unit_test(retry_after_holds_the_key_through_the_engine),
      cmocka_unit_test(drain_times_out_and_waits_for_late_jobs),
      cmocka_unit_test(batches_without_a_spool),
      cmocka_unit_test(registering_a_handler_again_replaces_it),
      cmocka_unit_test(stats_count_each_kind_of_end),
      cmocka_unit_test(settings_reach_the_transport),
      cmocka_unit_test(resume_loads_only_an_earlier_runs_jobs),
      cmocka_unit_test(resume_stops_at_a_shutdown),
      cmocka_unit_test(waiting_retry_holds_no_body),
      cmocka_unit_test(cancel_shutdown_keeps_a_job_it_would_retry),
      cmocka_unit_test(stats_say_retries_waiting_and_why_a_key_is_paused),
      cmocka_unit_test(abort_shutdown_keeps_every_spooled_job),
      cmocka_unit_test(batch_is_all_or_none_when_memory_runs_out),
      cmocka_unit_test(batch_marks_are_stored_with_their_batch),
      cmocka_unit_test(random_seed_makes_jitter_reproducible),
      cmocka_unit_test(drop_oldest_low_sheds_the_oldest_of_a_hostile_backlog),
      cmocka_unit_test(shed_job_leaves_the_spool),
      cmocka_unit_test(queue_policies_at_the_bound),
      cmocka_unit_test(lowering_queue_max_keeps_the_backlog),
      cmocka_unit_test(reconfigure_refused_leaves_everything_unchanged),
      cmocka_unit_test(reconfigure_takes_effect_from_the_next_decision),
      cmocka_unit_test(result_says_an_unsafe_method_was_not_retried),
      cmocka_unit_test(retry_statuses_are_the_callers_and_fixed),
  };
  return cmocka_run_group_tests(tests, rec_group_setup, rec_group_teardown);
}
