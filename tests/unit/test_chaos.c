/* SPDX-License-Identifier: MIT */
/* test_chaos.c - out of memory at every allocation of the public entry
 * points, in the style of jansson's test_chaos.c and SQLite's malloc tests.
 *
 * For each entry point, allocation number N on the calling thread fails
 * (once, or from N on: memory that stays exhausted), for N = 0, 1, ... over
 * the allocations the call makes. Every run asserts a documented return
 * code, exactly one callback for each accepted job and none for a refused
 * one, that the dispatcher still works afterwards, and (under ASan's leak
 * checker) that nothing leaks. The library's own allocations go through
 * the --wrap'ed allocators of tests/support/fail_alloc.c; jansson's and
 * libcurl's are given them too (json_set_alloc_funcs, curl_global_init_mem),
 * so libcurl's URL parsing at submit and its multi handle at pacer_new fail
 * as well. SQLite's allocations are not walked.
 *
 * By default a bounded sample of N per entry point runs (seconds in all);
 * PACER_CHAOS_FULL=1 walks every N. Fake clock and fake transport: nothing
 * sleeps and nothing leaves the process. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine_fixture.h"
#include "fail_alloc.h"
#include "recorder.h"
#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S PACER__NS_PER_S
#define MAXJOBS 8

static int full; /* PACER_CHAOS_FULL=1: every N */

/* ---- callbacks: rec_on_any() records each job's end (its tag is its
 * index); nothing is allocated in a callback ---- */

/* The job i is the one tagged tags[i] (below). */
static const char tags[MAXJOBS][2] = {"a", "b", "c", "d", "e", "f", "g", "h"};

static size_t calls_of(int i)
{
  return rec_calls_tag(&rec, tags[i], 1);
}

/* Jobs 0 .. n-1 each ended exactly once (1) or never (0); every end that
 * came was one of the jobs'. */
static void expect_calls(int n, int once)
{
  for (size_t k = 0, all = rec_count(&rec); k < all; k++) {
    const rec_entry_t *e = rec_at(&rec, k);
    assert_int_equal(e->tag_len, 1);
    assert_true(e->tag[0] >= 'a' && e->tag[0] < 'a' + MAXJOBS);
  }
  for (int i = 0; i < n; i++)
    assert_int_equal(calls_of(i), once);
}

/* ---- the dispatcher over a fake clock and a fake transport ---- */

static char tmp_dir[64];
static char spool_path[128];

static void spool_remove(void)
{
  static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
  char path[160];
  for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
    snprintf(path, sizeof path, "%s%s", spool_path, tails[i]);
    unlink(path);
  }
}

typedef struct fx {
  eng_t e; /* e.p, e.tx, e.clk */
  pacer_config_t cfg;
  int spooled;
} fx_t;

/* Sets up everything but the dispatcher; fx_new() makes it. */
static void fx_prepare(fx_t *f, int spooled, int hold)
{
  memset(f, 0, sizeof *f);
  eng_prepare(&f->e, &(eng_opts_t){.reply = hold ? fake_reply_hold : NULL});
  pacer_config_init(&f->cfg);
  f->spooled = spooled;
  if (spooled)
    f->cfg.spool_path = spool_path;
}

static int fx_make(fx_t *f)
{
  return eng_open(&f->e, &f->cfg);
}

static void fx_new(fx_t *f, int spooled, int hold)
{
  fx_prepare(f, spooled, hold);
  assert_int_equal(fx_make(f), 0);
  if (spooled)
    assert_int_equal(pacer_register_handler(f->e.p, "h", rec_on_any, NULL), 0);
}

static void fx_free(fx_t *f)
{
  eng_free(&f->e);
}

static const char *const keys[MAXJOBS] = {"k0", "k1", "k2", "k3",
                                          "k4", "k5", "k6", "k7"};

static void request(const fx_t *f, pacer_request_t *q, int i)
{
  pacer_request_init(q);
  q->url = "http://example.test/a/b?c=d";
  q->key = keys[i];
  q->tag = tags[i];
  q->tag_len = 1;
  q->deadline_ms = 60000 * (i % 2); /* some with a timer */
  if (f->spooled)
    q->handler = "h";
}

static int submit(fx_t *f, int i)
{
  pacer_request_t q;
  request(f, &q, i);
  return pacer_submit(f->e.p, &q, f->spooled ? NULL : rec_on_any, NULL, NULL);
}

/* The dispatcher still takes, runs and ends job i. */
static void still_works(fx_t *f, int i)
{
  assert_int_equal(submit(f, i), 0);
  assert_int_equal(pacer_drain(f->e.p, -1), 0);
  assert_int_equal(calls_of(i), 1);
}

static void spool_left(uint64_t *left)
{
  pacer_spool_status_t st = {.struct_size = sizeof st};
  assert_int_equal(pacer_spool_status(spool_path, &st), 0);
  *left = st.queued + st.waiting + st.in_flight;
}

/* ---- arming ---- */

static void arm(long n, int from)
{
  if (from)
    fail_alloc_arm_from(n);
  else
    fail_alloc_arm(n);
}

/* Turns failing off; returns whether the armed allocation was reached. */
static int disarm(long *seen)
{
  int fired = fail_alloc_fired();
  *seen = fail_alloc_seen();
  fail_alloc_arm(-1);
  return fired;
}

static int nomem_or_ok(int rc)
{
  return rc == 0 || rc == PACER_ENOMEM;
}

#define EXPECT_RC(rc, ok)                                                      \
  do {                                                                         \
    if (!(ok)) {                                                               \
      print_error("%s: allocation %ld (%s) returned %s\n", name, n,            \
                  from ? "and every later one" : "alone", pacer_err_name(rc)); \
      fail();                                                                  \
    }                                                                          \
  } while (0)

/* One run: allocation n fails (from: and every later one) during the entry
 * point; returns whether it was reached, and the allocations seen. */
typedef int (*run_fn)(const char *name, long n, int from, long *seen);

/* ---- the entry points ---- */

static int run_new(const char *name, long n, int from, long *seen, int spooled)
{
  rec_reset(&rec);
  spool_remove();
  fx_t f;
  fx_prepare(&f, spooled, 0);
  arm(n, from);
  int rc = fx_make(&f);
  int fired = disarm(seen);
  EXPECT_RC(rc, nomem_or_ok(rc));
  if (rc == 0) {
    if (spooled)
      assert_int_equal(pacer_register_handler(f.e.p, "h", rec_on_any, NULL), 0);
    still_works(&f, 0);
  } else {
    assert_null(f.e.p);
  }
  fx_free(&f);
  return fired;
}

static int run_new_plain(const char *name, long n, int from, long *seen)
{
  return run_new(name, n, from, seen, 0);
}

static int run_new_spooled(const char *name, long n, int from, long *seen)
{
  return run_new(name, n, from, seen, 1);
}

/* pacer_new() with the libcurl transport: its multi handles are made on the
 * calling thread. Nothing is submitted (no network). */
static int run_new_curl(const char *name, long n, int from, long *seen)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 2;
  pacer_t *p = NULL;
  arm(n, from);
  int rc = pacer_new(&c, &p);
  int fired = disarm(seen);
  EXPECT_RC(rc, nomem_or_ok(rc));
  if (rc == 0) {
    assert_int_equal(pacer_set_workers(p, 3), 0);
    pacer_stats_t *st;
    assert_int_equal(pacer_stats_get(p, &st), 0);
    pacer_stats_free(st);
  } else {
    assert_null(p);
  }
  pacer_free(p);
  return fired;
}

static int run_submit(const char *name, long n, int from, long *seen,
                      int spooled)
{
  rec_reset(&rec);
  spool_remove();
  fx_t f;
  fx_new(&f, spooled, 0);
  arm(n, from);
  int rc = submit(&f, 0); /* the first key: the key table is made */
  int fired = disarm(seen);
  EXPECT_RC(rc, nomem_or_ok(rc));
  assert_int_equal(pacer_drain(f.e.p, -1), 0);
  expect_calls(1, rc == 0);
  still_works(&f, 1);
  fx_free(&f);
  expect_calls(1, rc == 0);
  if (spooled) {
    uint64_t left;
    spool_left(&left);
    if (left)
      print_error("%s: allocation %ld (%s): submit returned %s, %llu rows "
                  "left in the spool\n",
                  name, n, from ? "and every later one" : "alone",
                  pacer_err_name(rc), (unsigned long long)left);
    assert_int_equal(left, 0);
  }
  return fired;
}

static int run_submit_plain(const char *name, long n, int from, long *seen)
{
  return run_submit(name, n, from, seen, 0);
}

static int run_submit_spooled(const char *name, long n, int from, long *seen)
{
  return run_submit(name, n, from, seen, 1);
}

/* A batch of 6 on 6 new keys after 2 jobs on 2 keys: the table grows. */
static int run_batch(const char *name, long n, int from, long *seen,
                     int spooled)
{
  rec_reset(&rec);
  spool_remove();
  fx_t f;
  fx_new(&f, spooled, 0);
  assert_int_equal(submit(&f, 0), 0);
  assert_int_equal(submit(&f, 1), 0);
  assert_int_equal(pacer_drain(f.e.p, -1), 0);
  pacer_request_t q[6];
  for (int i = 0; i < 6; i++)
    request(&f, &q[i], 2 + i);
  uint64_t ids[6] = {0};
  size_t bad = 99;
  arm(n, from);
  int rc = pacer_submit_batch(f.e.p, q, 6, spooled ? NULL : rec_on_any, NULL,
                              ids, &bad);
  int fired = disarm(seen);
  EXPECT_RC(rc, nomem_or_ok(rc));
  assert_int_equal(pacer_drain(f.e.p, -1), 0);
  expect_calls(2, 1);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(calls_of(2 + i), rc == 0);
    assert_int_equal(ids[i] != 0, rc == 0);
  }
  if (rc)
    assert_int_equal(bad, 6); /* memory is no request's fault */
  fx_free(&f);
  expect_calls(2, 1);
  for (int i = 0; i < 6; i++)
    assert_int_equal(calls_of(2 + i), rc == 0);
  if (spooled) {
    uint64_t left;
    spool_left(&left);
    assert_int_equal(left, 0); /* a refused batch left no row */
  }
  return fired;
}

static int run_batch_plain(const char *name, long n, int from, long *seen)
{
  return run_batch(name, n, from, seen, 0);
}

static int run_batch_spooled(const char *name, long n, int from, long *seen)
{
  return run_batch(name, n, from, seen, 1);
}

/* Three jobs an earlier run left in the spool (stopped in flight and
 * queued), resumed: each ends exactly once here or stays in the spool. */
static int run_resume(const char *name, long n, int from, long *seen)
{
  rec_reset(&rec);
  spool_remove();
  fx_t f;
  fx_new(&f, 1, 1);
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit(&f, i), 0);
  fx_free(&f);
  for (int i = 0; i < 3; i++)
    assert_int_equal(rec_of_tag(&rec, tags[i], 1)->kept, 1);
  rec_reset(&rec);

  fx_new(&f, 1, 0);
  pacer_resume_info_t info = {.struct_size = sizeof info};
  arm(n, from);
  int rc = pacer_resume(f.e.p, &info);
  int fired = disarm(seen);
  EXPECT_RC(rc, nomem_or_ok(rc));
  assert_int_equal(pacer_drain(f.e.p, -1), 0);
  still_works(&f, 3);
  fx_free(&f);
  expect_calls(0, 0); /* no end but the jobs' */
  int ended = 0;
  for (int i = 0; i < 3; i++) {
    size_t c = calls_of(i);
    assert_true(c <= 1);
    ended += (int)c - (c ? rec_of_tag(&rec, tags[i], 1)->kept : 0);
  }
  uint64_t left;
  spool_left(&left);
  assert_int_equal(ended + (int)left, 3); /* none lost, none twice */
  if (rc == 0) {
    assert_int_equal(info.loaded, 3);
    assert_int_equal(ended, 3);
  }
  return fired;
}

/* A snapshot with keys in it; and its JSON, through jansson's allocator. */
static int run_stats(const char *name, long n, int from, long *seen, int json)
{
  rec_reset(&rec);
  fx_t f;
  fx_new(&f, 0, 1);
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit(&f, i), 0);
  fake_tx_wait_held(f.e.tx, 3);
  pacer_stats_t *st = NULL;
  char *js = NULL;
  int rc;
  if (json)
    assert_int_equal(pacer_stats_get(f.e.p, &st), 0);
  arm(n, from);
  if (json)
    rc = pacer_stats_json(st, &js);
  else
    rc = pacer_stats_get(f.e.p, &st);
  int fired = disarm(seen);
  EXPECT_RC(rc, nomem_or_ok(rc));
  if (rc == 0 && json)
    assert_non_null(strstr(js, "\"k2\""));
  if (rc == 0 && !json)
    assert_int_equal(st->in_flight, 3);
  free(js);
  if (rc == 0 || json)
    pacer_stats_free(st);
  fake_reply_t ok = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  assert_int_equal(fake_tx_release_all(f.e.tx, &ok), 3);
  assert_int_equal(pacer_drain(f.e.p, -1), 0);
  fx_free(&f);
  expect_calls(3, 1);
  return fired;
}

static int run_stats_get(const char *name, long n, int from, long *seen)
{
  return run_stats(name, n, from, seen, 0);
}

static int run_stats_json(const char *name, long n, int from, long *seen)
{
  return run_stats(name, n, from, seen, 1);
}

/* The setters, on a dispatcher with a job held in flight and one queued. */
enum { SET_RATE, SET_CONC, SET_WORKERS, SET_KEY, SET_HANDLER };

static int run_setter(const char *name, long n, int from, long *seen, int which)
{
  rec_reset(&rec);
  fx_t f;
  fx_new(&f, 0, 1);
  assert_int_equal(submit(&f, 0), 0);
  fake_tx_wait_held(f.e.tx, 1);
  int rc;
  pacer_key_limits_t lim = {sizeof lim, 5.0, 2, 1};
  arm(n, from);
  switch (which) {
  case SET_RATE:
    rc = pacer_set_rate(f.e.p, 1000.0, 10);
    break;
  case SET_CONC:
    rc = pacer_set_concurrency(f.e.p, 7);
    break;
  case SET_WORKERS:
    rc = pacer_set_workers(f.e.p, 5);
    break;
  case SET_KEY:
    rc = pacer_key_limits_set(f.e.p, "new-key", &lim);
    break;
  default:
    rc = pacer_register_handler(f.e.p, "h2", rec_on_any, NULL);
    break;
  }
  int fired = disarm(seen);
  int ok =
      rc == 0 ||
      (which != SET_RATE && which != SET_CONC &&
       (rc == PACER_ENOMEM || (which == SET_WORKERS && rc == PACER_ESYSTEM)));
  EXPECT_RC(rc, ok);
  fake_reply_t done = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  fake_tx_release_all(f.e.tx, &done);
  assert_int_equal(pacer_drain(f.e.p, -1), 0);
  fx_free(&f);
  fx_new(&f, 0, 0); /* and a fresh one runs a job */
  still_works(&f, 1);
  fx_free(&f);
  expect_calls(2, 1);
  return fired;
}

static int run_set_rate(const char *name, long n, int from, long *seen)
{
  return run_setter(name, n, from, seen, SET_RATE);
}
static int run_set_concurrency(const char *name, long n, int from, long *seen)
{
  return run_setter(name, n, from, seen, SET_CONC);
}
static int run_set_workers(const char *name, long n, int from, long *seen)
{
  return run_setter(name, n, from, seen, SET_WORKERS);
}
static int run_key_limits(const char *name, long n, int from, long *seen)
{
  return run_setter(name, n, from, seen, SET_KEY);
}
static int run_handler(const char *name, long n, int from, long *seen)
{
  return run_setter(name, n, from, seen, SET_HANDLER);
}

/* pacer_free() with one job in flight and two queued (concurrency 1): every
 * job still gets exactly one callback. */
static int run_free(const char *name, long n, int from, long *seen, int spooled)
{
  (void)name;
  rec_reset(&rec);
  spool_remove();
  fx_t f;
  fx_prepare(&f, spooled, 1);
  f.cfg.concurrency = 1;
  /* The fake clock never moves: the held attempt ends only if pacer_free()
   * gets it aborted, also when memory runs out to list the abort (then the
   * worker finds it by its cancel mark). A lost abort hangs here. */
  assert_int_equal(fx_make(&f), 0);
  if (spooled)
    assert_int_equal(pacer_register_handler(f.e.p, "h", rec_on_any, NULL), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit(&f, i), 0);
  fake_tx_wait_held(f.e.tx, 1);
  arm(n, from);
  pacer_free(f.e.p);
  int fired = disarm(seen);
  f.e.p = NULL;
  fx_free(&f);
  expect_calls(3, 1);
  if (spooled) {
    uint64_t left;
    spool_left(&left);
    assert_int_equal(left, 3); /* stopped, kept for resume */
  }
  return fired;
}

static int run_free_plain(const char *name, long n, int from, long *seen)
{
  return run_free(name, n, from, seen, 0);
}

static int run_free_spooled(const char *name, long n, int from, long *seen)
{
  return run_free(name, n, from, seen, 1);
}

/* The key table grows (uthash doubles its buckets) while every allocation
 * of each add fails in turn: a failed add is PACER_ENOMEM and leaves the
 * table as it was, without the key; the next try adds it. */
static void key_table_grows_through_failures(void **state)
{
  (void)state;
  enum { KEYS = 1000 };
  rec_reset(&rec);
  fx_t f;
  fx_new(&f, 0, 0);
  pacer__keys_t *ks = &f.e.p->sched.keys;
  pacer_key_limits_t lim = {sizeof lim, 0, 0, 0};
  long failures = 0;
  char name[32];
  for (int i = 0; i < KEYS; i++) {
    snprintf(name, sizeof name, "key-%d", i);
    int rc;
    for (long n = 0;; n++) {
      fail_alloc_arm(n);
      rc = pacer_key_limits_set(f.e.p, name, &lim);
      fail_alloc_arm(-1);
      if (rc == 0)
        break;
      assert_int_equal(rc, PACER_ENOMEM);
      failures++;
      pthread_mutex_lock(&f.e.p->mu);
      assert_null(pacer__keys_find(ks, name));
      assert_int_equal(ks->count, (size_t)i);
      assert_int_equal(ks->table ? HASH_COUNT(ks->table) : 0, (unsigned)i);
      pthread_mutex_unlock(&f.e.p->mu);
    }
  }
  pthread_mutex_lock(&f.e.p->mu);
  assert_int_equal(HASH_COUNT(ks->table), KEYS);
  unsigned buckets = ks->table->hh.tbl->num_buckets;
  for (int i = 0; i < KEYS; i++) {
    snprintf(name, sizeof name, "key-%d", i);
    pacer__key_t *k = pacer__keys_find(ks, name);
    assert_non_null(k);
    assert_string_equal(k->name, name);
  }
  pthread_mutex_unlock(&f.e.p->mu);
  assert_true(buckets > 32); /* it grew from uthash's first 32 */
  still_works(&f, 0);
  fx_free(&f);
  printf("%d keys added, %ld adds failed on the way, %u buckets at the end\n",
         KEYS, failures, buckets);
}

/* ---- the walk ---- */

/* Runs fn with allocation n failing, alone and with every later one, over
 * every n (full) or a sample of at most about 16 of them. */
static void walk(const char *name, run_fn fn)
{
  long total;
  assert_int_equal(fn(name, LONG_MAX, 0, &total), 0); /* counts */
  long step = full || total <= 16 ? 1 : (total - 4) / 12 + 1;
  long points = 0;
  for (long n = 0;; n = n < 4 ? n + 1 : n + step) {
    if (!full && n >= total)
      n = total - 1; /* the last one is always tried */
    long seen;
    int fired = fn(name, n, 0, &seen);
    fired |= fn(name, n, 1, &seen);
    if (!fired)
      break; /* past the last allocation */
    points++;
    if (!full && n >= total - 1)
      break;
  }
  printf("%-22s %4ld allocations, %4ld failed in turn (alone, and every "
         "later one too)\n",
         name, total, points);
}

#define WALK(fn)                                                               \
  static void walk_##fn(void **state)                                          \
  {                                                                            \
    (void)state;                                                               \
    walk(#fn, run_##fn);                                                       \
  }

WALK(new_plain)
WALK(new_spooled)
WALK(new_curl)
WALK(submit_plain)
WALK(submit_spooled)
WALK(batch_plain)
WALK(batch_spooled)
WALK(resume)
WALK(stats_get)
WALK(stats_json)
WALK(set_rate)
WALK(set_concurrency)
WALK(set_workers)
WALK(key_limits)
WALK(handler)
WALK(free_plain)
WALK(free_spooled)

int main(void)
{
  const char *e = getenv("PACER_CHAOS_FULL");
  full = e && *e && strcmp(e, "0") != 0;
  /* Before anything uses libcurl: the library's own curl_global_init()
   * then only counts, and libcurl allocates through the failing hooks. */
  if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, fail_alloc_malloc,
                           fail_alloc_free, fail_alloc_realloc,
                           fail_alloc_strdup, fail_alloc_calloc) != CURLE_OK)
    return 1;
  json_set_alloc_funcs(fail_alloc_malloc, fail_alloc_free);
  scratch_make(tmp_dir, sizeof tmp_dir);
  snprintf(spool_path, sizeof spool_path, "%s/s.db", tmp_dir);
  /* Room for every run's results is made here, before any allocation
   * fails: recording then allocates nothing. */
  rec_init(&rec, 0);
  rec_any_to(&rec);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(walk_new_plain),
      cmocka_unit_test(walk_new_spooled),
      cmocka_unit_test(walk_new_curl),
      cmocka_unit_test(walk_submit_plain),
      cmocka_unit_test(walk_submit_spooled),
      cmocka_unit_test(walk_batch_plain),
      cmocka_unit_test(walk_batch_spooled),
      cmocka_unit_test(walk_resume),
      cmocka_unit_test(walk_stats_get),
      cmocka_unit_test(walk_stats_json),
      cmocka_unit_test(walk_set_rate),
      cmocka_unit_test(walk_set_concurrency),
      cmocka_unit_test(walk_set_workers),
      cmocka_unit_test(walk_key_limits),
      cmocka_unit_test(walk_handler),
      cmocka_unit_test(walk_free_plain),
      cmocka_unit_test(walk_free_spooled),
      cmocka_unit_test(key_table_grows_through_failures),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rec_free(&rec);
  if (scratch_remove(tmp_dir) != 0)
    return 1;
  curl_global_cleanup();
  return rc;
}
