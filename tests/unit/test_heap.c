/* SPDX-License-Identifier: MIT */
/* test_heap.c - indexed min-heap against a plain reference, fixed seed.
 *
 * After every operation the heap order, every element's position slot and
 * the multiset of members are checked against the reference, so a position
 * bug shows up at the operation that caused it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "heap.h"
#include <pacer/pacer.h>
#include <stdlib.h>

typedef struct elem {
  int64_t key;
  uint32_t pos;
  int in; /* reference membership */
} elem_t;

static int64_t elem_key(const void *e)
{
  return ((const elem_t *)e)->key;
}
static uint32_t *elem_pos(void *e)
{
  return &((elem_t *)e)->pos;
}

/* Own generator so the sequence is the same with every libc. */
static uint64_t rng_state;
static void rng_seed(uint64_t s)
{
  rng_state = s ? s : 1;
}
static uint32_t rng(void)
{
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return (uint32_t)(x >> 32);
}

static void elems_init(elem_t *v, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    v[i].key = 0;
    v[i].pos = PACER__HEAP_NONE;
    v[i].in = 0;
  }
}

/* Order, positions and membership all agree with the reference. */
static void check(const pacer__heap_t *h, const elem_t *v, size_t n)
{
  uint32_t members = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i].in) {
      members++;
      assert_true(v[i].pos < h->len);
      assert_ptr_equal(h->items[v[i].pos], &v[i]);
    } else {
      assert_int_equal(v[i].pos, PACER__HEAP_NONE);
    }
  }
  assert_int_equal(pacer__heap_len(h), members);
  assert_true(h->len <= h->cap);
  for (uint32_t i = 1; i < h->len; i++)
    assert_true(elem_key(h->items[(i - 1) / 2]) <= elem_key(h->items[i]));
}

static int64_t ref_min(const elem_t *v, size_t n)
{
  int64_t m = INT64_MAX;
  for (size_t i = 0; i < n; i++)
    if (v[i].in && v[i].key < m)
      m = v[i].key;
  return m;
}

static void empty_heap(void **state)
{
  pacer__heap_t h;
  elem_t e;
  elems_init(&e, 1);
  pacer__heap_init(&h, elem_key, elem_pos);
  assert_int_equal(pacer__heap_len(&h), 0);
  assert_null(pacer__heap_top(&h));
  assert_null(pacer__heap_pop(&h));
  pacer__heap_remove(&h, &e);
  assert_int_equal(e.pos, PACER__HEAP_NONE);
  pacer__heap_destroy(&h);
  pacer__heap_destroy(&h); /* destroy leaves a reusable, empty heap */
  assert_int_equal(pacer__heap_push(&h, &e), 0);
  assert_ptr_equal(pacer__heap_top(&h), &e);
  assert_int_equal(e.pos, 0);
  pacer__heap_destroy(&h);
}

static void pops_in_order(void **state)
{
  enum { N = 1000 };
  static elem_t v[N];
  pacer__heap_t h;
  elems_init(v, N);
  rng_seed(42);
  pacer__heap_init(&h, elem_key, elem_pos);
  for (int i = 0; i < N; i++) {
    /* Small range: many equal keys, and negatives too. */
    v[i].key = (int64_t)(rng() % 200) - 100;
    v[i].in = 1;
    assert_int_equal(pacer__heap_push(&h, &v[i]), 0);
  }
  check(&h, v, N);
  int64_t prev = INT64_MIN;
  for (int i = 0; i < N; i++) {
    elem_t *e = pacer__heap_pop(&h);
    assert_non_null(e);
    assert_true(e->key >= prev);
    assert_int_equal(e->pos, PACER__HEAP_NONE);
    prev = e->key;
    e->in = 0;
  }
  assert_null(pacer__heap_pop(&h));
  check(&h, v, N);
  pacer__heap_destroy(&h);
}

static void random_ops_match_reference(void **state)
{
  enum { N = 300, OPS = 30000 };
  static elem_t v[N];
  pacer__heap_t h;
  elems_init(v, N);
  rng_seed(0x5eed);
  pacer__heap_init(&h, elem_key, elem_pos);
  unsigned done[4] = {0};
  for (int op = 0; op < OPS; op++) {
    elem_t *e = &v[rng() % N];
    unsigned kind = rng() % 4;
    switch (kind) {
    case 0: /* push (an element already in is updated instead) */
      e->key = (int64_t)(rng() % 1000) - 500;
      if (e->in) {
        pacer__heap_update(&h, e);
      } else {
        assert_int_equal(pacer__heap_push(&h, e), 0);
        e->in = 1;
      }
      break;
    case 1: { /* pop */
      int64_t want = ref_min(v, N);
      elem_t *got = pacer__heap_pop(&h);
      if (want == INT64_MAX) {
        assert_null(got);
      } else {
        assert_non_null(got);
        assert_true(got->in);
        assert_int_equal(got->key, want);
        got->in = 0;
      }
      break;
    }
    case 2: /* remove, members or not */
      pacer__heap_remove(&h, e);
      e->in = 0;
      break;
    default: /* update up or down */
      if (e->in) {
        e->key += (int64_t)(rng() % 601) - 300;
        pacer__heap_update(&h, e);
      }
      break;
    }
    done[kind]++;
    check(&h, v, N);
    elem_t *top = pacer__heap_top(&h);
    if (top)
      assert_int_equal(top->key, ref_min(v, N));
    else
      assert_int_equal(ref_min(v, N), INT64_MAX);
  }
  for (int k = 0; k < 4; k++)
    assert_true(done[k] > OPS / 8);
  pacer__heap_destroy(&h);
}

static void update_moves_both_ways(void **state)
{
  enum { N = 64 };
  elem_t v[N];
  pacer__heap_t h;
  elems_init(v, N);
  pacer__heap_init(&h, elem_key, elem_pos);
  for (int i = 0; i < N; i++) {
    v[i].key = i * 10;
    v[i].in = 1;
    assert_int_equal(pacer__heap_push(&h, &v[i]), 0);
  }
  v[N - 1].key = -1; /* a leaf becomes the minimum */
  pacer__heap_update(&h, &v[N - 1]);
  check(&h, v, N);
  assert_ptr_equal(pacer__heap_top(&h), &v[N - 1]);
  v[N - 1].key = 10000; /* the root becomes the maximum */
  pacer__heap_update(&h, &v[N - 1]);
  check(&h, v, N);
  assert_ptr_equal(pacer__heap_top(&h), &v[0]);
  pacer__heap_update(&h, &v[5]); /* unchanged key: nothing moves */
  check(&h, v, N);
  pacer__heap_destroy(&h);
}

static void remove_outsider_is_harmless(void **state)
{
  elem_t v[3];
  pacer__heap_t a, b;
  elems_init(v, 3);
  pacer__heap_init(&a, elem_key, elem_pos);
  pacer__heap_init(&b, elem_key, elem_pos);
  v[0].key = 1;
  v[1].key = 2;
  v[2].key = 3;
  assert_int_equal(pacer__heap_push(&a, &v[0]), 0);
  assert_int_equal(pacer__heap_push(&a, &v[1]), 0);
  v[0].in = v[1].in = 1;
  pacer__heap_remove(&a, &v[2]); /* slot NONE */
  check(&a, v, 3);
  assert_int_equal(pacer__heap_push(&b, &v[2]), 0);
  /* v[2] sits at index 0 of b; a must not take it for its own item 0. */
  pacer__heap_remove(&a, &v[2]);
  assert_int_equal(pacer__heap_len(&a), 2);
  assert_ptr_equal(pacer__heap_top(&a), &v[0]);
  assert_int_equal(v[2].pos, 0);
  pacer__heap_remove(&b, &v[2]);
  assert_int_equal(v[2].pos, PACER__HEAP_NONE);
  assert_int_equal(pacer__heap_len(&b), 0);
  pacer__heap_remove(&a, &v[1]);
  pacer__heap_remove(&a, &v[1]); /* twice: the second is a no-op */
  v[1].in = 0;
  check(&a, v, 3);
  pacer__heap_destroy(&a);
  pacer__heap_destroy(&b);
}

static void reserve_keeps_array(void **state)
{
  enum { N = 100 };
  elem_t v[N];
  pacer__heap_t h;
  elems_init(v, N);
  pacer__heap_init(&h, elem_key, elem_pos);
  assert_int_equal(pacer__heap_reserve(&h, 0), 0);
  assert_int_equal(pacer__heap_reserve(&h, N), 0);
  assert_true(h.cap >= N);
  void **items = h.items;
  for (int i = 0; i < N; i++) {
    v[i].key = N - i;
    v[i].in = 1;
    assert_int_equal(pacer__heap_push(&h, &v[i]), 0);
  }
  /* Pushes within the reservation never reallocate. */
  assert_ptr_equal(h.items, items);
  check(&h, v, N);
  assert_int_equal(pacer__heap_reserve(&h, 10), 0); /* never shrinks */
  assert_ptr_equal(h.items, items);
  pacer__heap_destroy(&h);
}

static void too_large_fails_unchanged(void **state)
{
  pacer__heap_t h;
  elem_t e;
  elems_init(&e, 1);
  pacer__heap_init(&h, elem_key, elem_pos);
  /* UINT32_MAX elements would need PACER__HEAP_NONE as an index. */
  assert_int_equal(pacer__heap_reserve(&h, UINT32_MAX), PACER_ENOMEM);
  assert_null(h.items);
  assert_int_equal(h.cap, 0);
  assert_int_equal(h.len, 0);
  /* A heap already at the limit (faked: nothing is dereferenced). */
  h.len = h.cap = UINT32_MAX - 1;
  assert_int_equal(pacer__heap_push(&h, &e), PACER_ENOMEM);
  assert_int_equal(h.len, UINT32_MAX - 1);
  assert_int_equal(e.pos, PACER__HEAP_NONE);
  h.len = h.cap = 0;
  pacer__heap_destroy(&h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_heap),
      cmocka_unit_test(pops_in_order),
      cmocka_unit_test(random_ops_match_reference),
      cmocka_unit_test(update_moves_both_ways),
      cmocka_unit_test(remove_outsider_is_harmless),
      cmocka_unit_test(reserve_keeps_array),
      cmocka_unit_test(too_large_fails_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
