/* SPDX-License-Identifier: MIT */
/* test_keys.c - the per-key table: references, idle LRU eviction, pinning.
 *
 * Every test uses max_idle 2, so the third idle key pushes out the least
 * recently used one. Time is a parameter; nothing sleeps. ASan checks that
 * eviction and destroy free every key and its name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "keys.h"

#define NS_PER_S INT64_C(1000000000)
#define NOW (100 * NS_PER_S)

static const pacer__breaker_cfg_t bcfg = {
    20, 10, 0.5, 30 * NS_PER_S, 1, 60 * NS_PER_S, 0, 0};

static int keys_setup(void **state)
{
  static pacer__keys_t ks;
  pacer__keys_init(&ks, 2, &bcfg, 0, 0, 0);
  *state = &ks;
  return 0;
}

static int keys_teardown(void **state)
{
  pacer__keys_destroy(*state);
  return 0;
}

/* A key with one reference, released at once: it ends up idle. */
static pacer__key_t *touch(pacer__keys_t *ks, const char *name)
{
  pacer__key_t *k = pacer__keys_acquire(ks, name);
  assert_non_null(k);
  pacer__keys_release(ks, k, 0);
  return k;
}

static void init_empty(void **state)
{
  pacer__keys_t *ks = *state;
  assert_null(ks->table);
  assert_int_equal(ks->count, 0);
  assert_int_equal(ks->idle_count, 0);
  assert_int_equal(ks->max_idle, 2);
  assert_ptr_equal(ks->bcfg, &bcfg);
  assert_int_equal(ks->burst, 1); /* 0 means 1 token */
  assert_true(pacer__list_empty(&ks->idle));
  assert_null(pacer__keys_find(ks, "nothing"));
}

static void acquire_creates(void **state)
{
  pacer__keys_t *ks = *state;
  char name[] = "example.com";
  pacer__key_t *k = pacer__keys_acquire(ks, name);

  assert_non_null(k);
  assert_int_equal(k->refs, 1);
  assert_int_equal(ks->count, 1);
  assert_int_equal(ks->idle_count, 0);
  assert_ptr_not_equal(k->name, name); /* copied */
  assert_string_equal(k->name, "example.com");
  memset(name, 'x', sizeof name - 1);
  assert_ptr_equal(pacer__keys_find(ks, "example.com"), k);
  assert_null(pacer__keys_find(ks, name));

  /* Default limits: no rate, no cap; a fresh CLOSED breaker. */
  assert_true(k->bucket.unlimited);
  assert_int_equal(k->cap, 0);
  assert_int_equal(k->pinned, 0);
  assert_int_equal(k->inflight, 0);
  assert_ptr_equal(k->breaker.cfg, &bcfg);
  assert_int_equal(k->breaker.state, PACER_BREAKER_CLOSED);
  assert_true(pacer__breaker_pristine(&k->breaker));
  assert_int_equal(k->parked, PACER__PARK_NONE);
  assert_int_equal(k->paused_until, 0);
  for (int p = 0; p < 2; p++) {
    assert_true(pacer__list_empty(&k->q[p]));
    assert_int_equal(k->queued[p], 0);
    assert_int_equal(k->ready_pos[p], UINT32_MAX);
  }
  assert_int_equal(k->wake_pos, UINT32_MAX);
  assert_false(pacer__linked(&k->idle));
}

static void acquire_defaults_with_limits(void **state)
{
  pacer__keys_t ks;
  pacer__keys_init(&ks, 2, &bcfg, 10, 5, 3);
  pacer__key_t *k = pacer__keys_acquire(&ks, "limited");
  assert_non_null(k);
  assert_false(k->bucket.unlimited);
  assert_int_equal(k->bucket.burst, 5);
  assert_int_equal(k->cap, 3);
  /* The bucket starts full: five tokens now, then a wait. */
  for (int i = 0; i < 5; i++)
    assert_int_equal(pacer__bucket_try(&k->bucket, NOW), 0);
  assert_true(pacer__bucket_try(&k->bucket, NOW) > 0);
  pacer__keys_release(&ks, k, 0);
  pacer__keys_destroy(&ks);
}

static void acquire_again_same_key(void **state)
{
  pacer__keys_t *ks = *state;
  pacer__key_t *a = pacer__keys_acquire(ks, "a");
  pacer__key_t *b = pacer__keys_acquire(ks, "a");
  assert_ptr_equal(a, b);
  assert_int_equal(a->refs, 2);
  assert_int_equal(ks->count, 1);

  /* Names are exact: another spelling is another key. */
  pacer__key_t *c = pacer__keys_acquire(ks, "A");
  assert_ptr_not_equal(c, a);
  assert_int_equal(ks->count, 2);

  pacer__keys_release(ks, a, 0);
  assert_int_equal(a->refs, 1);
  assert_false(pacer__linked(&a->idle));
  assert_int_equal(ks->idle_count, 0);

  pacer__keys_release(ks, a, 0);
  assert_int_equal(a->refs, 0);
  assert_true(pacer__linked(&a->idle));
  assert_int_equal(ks->idle_count, 1);
  /* Idle, not forgotten. */
  assert_ptr_equal(pacer__keys_find(ks, "a"), a);
  assert_int_equal(ks->count, 2);
}

static void third_idle_evicts_lru(void **state)
{
  pacer__keys_t *ks = *state;
  touch(ks, "a");
  pacer__key_t *b = touch(ks, "b");
  assert_int_equal(ks->idle_count, 2);
  assert_int_equal(ks->count, 2);

  pacer__key_t *c = touch(ks, "c");
  assert_int_equal(ks->idle_count, 2);
  assert_int_equal(ks->count, 2);
  assert_null(pacer__keys_find(ks, "a"));
  assert_ptr_equal(pacer__keys_find(ks, "b"), b);
  assert_ptr_equal(pacer__keys_find(ks, "c"), c);

  pacer__key_t *d = touch(ks, "d");
  assert_null(pacer__keys_find(ks, "b"));
  assert_ptr_equal(pacer__keys_find(ks, "c"), c);
  assert_ptr_equal(pacer__keys_find(ks, "d"), d);

  /* A forgotten key comes back fresh. */
  pacer__key_t *a2 = pacer__keys_acquire(ks, "a");
  assert_non_null(a2);
  assert_int_equal(a2->refs, 1);
  assert_int_equal(ks->count, 3);
  assert_int_equal(ks->idle_count, 2);
}

static void reacquired_key_leaves_idle_list(void **state)
{
  pacer__keys_t *ks = *state;
  pacer__key_t *a = touch(ks, "a");
  touch(ks, "b");
  assert_int_equal(ks->idle_count, 2);

  /* "a" is the oldest idle key; taking it makes it live. */
  assert_ptr_equal(pacer__keys_acquire(ks, "a"), a);
  assert_int_equal(a->refs, 1);
  assert_false(pacer__linked(&a->idle));
  assert_int_equal(ks->idle_count, 1);

  /* Later idle keys push out "b" and "c", never the live "a". */
  touch(ks, "c");
  assert_int_equal(ks->idle_count, 2);
  touch(ks, "d");
  assert_null(pacer__keys_find(ks, "b"));
  touch(ks, "e");
  assert_null(pacer__keys_find(ks, "c"));
  assert_ptr_equal(pacer__keys_find(ks, "a"), a);
  assert_int_equal(a->refs, 1);

  /* Released again, "a" is the most recently used idle key: "d" goes. */
  pacer__keys_release(ks, a, 0);
  assert_null(pacer__keys_find(ks, "d"));
  assert_ptr_equal(pacer__keys_find(ks, "a"), a);
  assert_non_null(pacer__keys_find(ks, "e"));
  assert_int_equal(ks->idle_count, 2);
  assert_int_equal(ks->count, 2);
}

static void pinned_keys_are_kept(void **state)
{
  pacer__keys_t *ks = *state;
  pacer__key_t *p = NULL;

  assert_int_equal(pacer__keys_set_limits(ks, "pinned", 5.0, 2, 4, NOW, &p), 0);
  assert_non_null(p);
  assert_ptr_equal(pacer__keys_find(ks, "pinned"), p);
  assert_int_equal(p->pinned, 1);
  assert_int_equal(p->refs, 0);
  assert_false(pacer__linked(&p->idle));
  assert_int_equal(ks->idle_count, 0);
  assert_false(p->bucket.unlimited);
  assert_int_equal(p->bucket.burst, 2);
  assert_int_equal(p->cap, 4);

  /* Used and released: still not idle. */
  assert_ptr_equal(pacer__keys_acquire(ks, "pinned"), p);
  assert_int_equal(p->refs, 1);
  pacer__keys_release(ks, p, 0);
  assert_int_equal(p->refs, 0);
  assert_false(pacer__linked(&p->idle));
  assert_int_equal(ks->idle_count, 0);

  /* Many idle keys come and go; the pinned one stays, limits intact. */
  char name[8];
  for (int i = 0; i < 10; i++) {
    name[0] = 'k';
    name[1] = (char)('0' + i);
    name[2] = '\0';
    touch(ks, name);
  }
  assert_int_equal(ks->idle_count, 2);
  assert_int_equal(ks->count, 3);
  assert_ptr_equal(pacer__keys_find(ks, "pinned"), p);
  assert_false(p->bucket.unlimited);
  assert_int_equal(p->bucket.burst, 2);
  assert_int_equal(p->cap, 4);
  /* Its bucket limits: two tokens at once, then a wait of 1/5 s. */
  assert_int_equal(pacer__bucket_try(&p->bucket, NOW), 0);
  assert_int_equal(pacer__bucket_try(&p->bucket, NOW), 0);
  assert_int_equal(pacer__bucket_wait(&p->bucket, NOW), NS_PER_S / 5);
}

static void pinning_an_idle_key(void **state)
{
  pacer__keys_t *ks = *state;
  pacer__key_t *a = touch(ks, "a");
  touch(ks, "b");
  assert_int_equal(ks->idle_count, 2);

  /* out may be NULL. */
  assert_int_equal(pacer__keys_set_limits(ks, "a", 0, 0, 0, NOW, NULL), 0);
  assert_ptr_equal(pacer__keys_find(ks, "a"), a);
  assert_int_equal(a->pinned, 1);
  assert_false(pacer__linked(&a->idle));
  assert_int_equal(ks->idle_count, 1);
  assert_true(a->bucket.unlimited); /* rate 0: no limit */
  assert_int_equal(a->cap, 0);

  touch(ks, "c");
  touch(ks, "d");
  assert_null(pacer__keys_find(ks, "b"));
  assert_ptr_equal(pacer__keys_find(ks, "a"), a);

  /* A live key pinned while in use stays out of the idle list after. */
  pacer__key_t *e = pacer__keys_acquire(ks, "e");
  pacer__key_t *got = NULL;
  assert_int_equal(pacer__keys_set_limits(ks, "e", 1.0, 0, 1, NOW, &got), 0);
  assert_ptr_equal(got, e);
  assert_int_equal(e->bucket.burst, 1); /* burst 0 means 1 token */
  assert_int_equal(e->cap, 1);
  pacer__keys_release(ks, e, 0);
  assert_false(pacer__linked(&e->idle));
  touch(ks, "f");
  touch(ks, "g");
  assert_ptr_equal(pacer__keys_find(ks, "e"), e);
  assert_ptr_equal(pacer__keys_find(ks, "a"), a);
}

static void set_limits_bad_rate_changes_nothing(void **state)
{
  pacer__keys_t *ks = *state;
  static const double bad[] = {-1.0, -0.5, 2e9, NAN, INFINITY, -INFINITY};
  pacer__key_t *a = touch(ks, "a");
  pacer__key_t *p = NULL;
  assert_int_equal(pacer__keys_set_limits(ks, "p", 5.0, 2, 4, NOW, &p), 0);
  assert_int_equal(pacer__bucket_try(&p->bucket, NOW), 0); /* some state */
  pacer__bucket_t before = a->bucket, pbefore = p->bucket;
  size_t count = ks->count, idle = ks->idle_count;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double rate = bad[i];
    pacer__key_t *out = (pacer__key_t *)&out; /* must stay as it is */
    pacer__key_t *sentinel = out;

    /* An existing key keeps its state. */
    assert_int_equal(pacer__keys_set_limits(ks, "a", rate, 2, 4, NOW, &out),
                     PACER_ERATE);
    assert_ptr_equal(out, sentinel);
    assert_memory_equal(&a->bucket, &before, sizeof before);
    assert_int_equal(a->cap, 0);
    assert_int_equal(a->pinned, 0);
    assert_true(pacer__linked(&a->idle));

    /* A pinned key keeps its own limits. */
    assert_int_equal(pacer__keys_set_limits(ks, "p", rate, 9, 9, NOW + 1, NULL),
                     PACER_ERATE);
    assert_memory_equal(&p->bucket, &pbefore, sizeof pbefore);
    assert_int_equal(p->cap, 4);
    assert_int_equal(p->pinned, 1);

    /* A new name is not created. */
    assert_int_equal(pacer__keys_set_limits(ks, "new", rate, 2, 4, NOW, NULL),
                     PACER_ERATE);
    assert_null(pacer__keys_find(ks, "new"));
    assert_int_equal(ks->count, count);
    assert_int_equal(ks->idle_count, idle);
  }
}

static void zero_idle_forgets_at_once(void **state)
{
  pacer__keys_t ks;
  pacer__keys_init(&ks, 0, &bcfg, 0, 0, 0);
  pacer__key_t *k = pacer__keys_acquire(&ks, "x");
  assert_non_null(k);
  pacer__keys_release(&ks, k, 0);
  assert_null(pacer__keys_find(&ks, "x"));
  assert_int_equal(ks.count, 0);
  assert_int_equal(ks.idle_count, 0);
  pacer__keys_destroy(&ks);
}

/* An idle key keeps an adapted rate (an announced reset an hour away, a
 * long AIMD climb) one minute at most after its last attempt ended. */
static void adapted_key_kept_one_minute_at_most(void **state)
{
  (void)state;
  pacer__keys_t ks;
  pacer__keys_init(&ks, 0, &bcfg, 0, 0, 0);
  pacer__key_t *k = pacer__keys_acquire(&ks, "announced");
  assert_non_null(k);
  k->adapt.reason = PACER__ADAPT_ANNOUNCED;
  k->adapt.until_ns = NOW + 3600 * NS_PER_S;
  pacer__keys_release(&ks, k, NOW);
  assert_ptr_equal(pacer__keys_find(&ks, "announced"), k);
  assert_int_equal(k->forget_at, NOW + PACER__KEYS_ADAPT_KEEP_NS);
  /* One that ends sooner is kept until it ends. */
  k = pacer__keys_acquire(&ks, "soon");
  assert_non_null(k);
  k->adapt.reason = PACER__ADAPT_ANNOUNCED;
  k->adapt.until_ns = NOW + 5 * NS_PER_S;
  pacer__keys_release(&ks, k, NOW);
  assert_int_equal(k->forget_at, NOW + 5 * NS_PER_S);
  pacer__keys_destroy(&ks);
}

static void destroy_frees_everything(void **state)
{
  pacer__keys_t ks;
  pacer__keys_init(&ks, 2, &bcfg, 0, 0, 0);
  /* Live, idle and pinned keys at once; ASan reports anything left. */
  pacer__key_t *live = pacer__keys_acquire(&ks, "live");
  assert_non_null(live);
  assert_non_null(pacer__keys_acquire(&ks, "live"));
  touch(&ks, "idle-1");
  touch(&ks, "idle-2");
  assert_int_equal(pacer__keys_set_limits(&ks, "pinned", 3, 1, 1, NOW, NULL),
                   0);
  assert_int_equal(ks.count, 4);

  pacer__keys_destroy(&ks);
  assert_null(ks.table);
  assert_int_equal(ks.count, 0);
  assert_int_equal(ks.idle_count, 0);
  assert_true(pacer__list_empty(&ks.idle));
  pacer__keys_destroy(&ks); /* destroying an empty table is harmless */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, keys_setup, keys_teardown)
  const struct CMUnitTest tests[] = {
      T(init_empty),
      cmocka_unit_test(adapted_key_kept_one_minute_at_most),
      T(acquire_creates),
      cmocka_unit_test(acquire_defaults_with_limits),
      T(acquire_again_same_key),
      T(third_idle_evicts_lru),
      T(reacquired_key_leaves_idle_list),
      T(pinned_keys_are_kept),
      T(pinning_an_idle_key),
      T(set_limits_bad_rate_changes_nothing),
      cmocka_unit_test(zero_idle_forgets_at_once),
      cmocka_unit_test(destroy_frees_everything),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
