/* SPDX-License-Identifier: MIT */
/* heap.c - indexed binary min-heap of pointers (see heap.h).
 *
 * Invariants:
 * - for 0 < i < len: key(items[(i-1)/2]) <= key(items[i]);
 * - for i < len: *pos_of(items[i]) == i, so any element can be found in O(1);
 * - an element not in the heap has its slot at PACER__HEAP_NONE, which is
 *   never a valid index because len stays below it (HEAP_MAX);
 * - len <= cap; items is NULL iff cap == 0. */
#include "heap.h"
#include <pacer/pacer.h>
#include <stdlib.h>

/* The largest element count: keeps every index below PACER__HEAP_NONE. */
#define HEAP_MAX (PACER__HEAP_NONE - 1u)

void pacer__heap_init(pacer__heap_t *h, pacer__heap_key_fn key_of,
                      pacer__heap_pos_fn pos_of)
{
  h->items = NULL;
  h->len = 0;
  h->cap = 0;
  h->key_of = key_of;
  h->pos_of = pos_of;
}

void pacer__heap_destroy(pacer__heap_t *h)
{
  free(h->items);
  h->items = NULL;
  h->len = 0;
  h->cap = 0;
}

/* Moves e to index i and records it there; every move goes through here so
 * the position invariant cannot be forgotten. */
static void place(pacer__heap_t *h, uint32_t i, void *e)
{
  h->items[i] = e;
  *h->pos_of(e) = i;
}

static int64_t key_at(const pacer__heap_t *h, uint32_t i)
{
  return h->key_of(h->items[i]);
}

/* Hole-based sifting: the moving element is written once, at its final
 * place, instead of being swapped at every level. */
static void sift_up(pacer__heap_t *h, uint32_t i)
{
  void *e = h->items[i];
  int64_t k = h->key_of(e);
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (key_at(h, parent) <= k)
      break;
    place(h, i, h->items[parent]);
    i = parent;
  }
  place(h, i, e);
}

static void sift_down(pacer__heap_t *h, uint32_t i)
{
  void *e = h->items[i];
  int64_t k = h->key_of(e);
  for (;;) {
    /* 64-bit so that 2*i+1 cannot wrap for indices near HEAP_MAX. */
    uint64_t child = 2 * (uint64_t)i + 1;
    if (child >= h->len)
      break;
    uint32_t c = (uint32_t)child;
    int64_t ck = key_at(h, c);
    if (c + 1u < h->len) {
      int64_t rk = key_at(h, c + 1u);
      if (rk < ck) {
        c++;
        ck = rk;
      }
    }
    if (k <= ck)
      break;
    place(h, i, h->items[c]);
    i = c;
  }
  place(h, i, e);
}

/* Grows the array to hold at least n elements; on failure nothing changes. */
static int grow_to(pacer__heap_t *h, uint32_t n)
{
  if (n <= h->cap)
    return 0;
  if (n > HEAP_MAX)
    return PACER_ENOMEM;
  /* Doubling keeps pushes amortised O(1). */
  uint64_t cap = h->cap ? h->cap : 8;
  while (cap < n)
    cap *= 2;
  if (cap > HEAP_MAX)
    cap = HEAP_MAX;
  if (cap > SIZE_MAX / sizeof *h->items)
    return PACER_ENOMEM;
  void **items = realloc(h->items, (size_t)cap * sizeof *items);
  if (!items)
    return PACER_ENOMEM;
  h->items = items;
  h->cap = (uint32_t)cap;
  return 0;
}

int pacer__heap_reserve(pacer__heap_t *h, uint32_t n)
{
  return grow_to(h, n);
}

int pacer__heap_push(pacer__heap_t *h, void *e)
{
  if (h->len == HEAP_MAX)
    return PACER_ENOMEM;
  int rc = grow_to(h, h->len + 1u);
  if (rc)
    return rc;
  uint32_t i = h->len++;
  place(h, i, e);
  sift_up(h, i);
  return 0;
}

void *pacer__heap_top(const pacer__heap_t *h)
{
  return h->len ? h->items[0] : NULL;
}

/* Takes the element at i out and fills the hole with the last element, which
 * may belong above or below i. */
static void remove_at(pacer__heap_t *h, uint32_t i)
{
  void *e = h->items[i];
  uint32_t last = --h->len;
  *h->pos_of(e) = PACER__HEAP_NONE;
  if (i == last)
    return;
  place(h, i, h->items[last]);
  if (i > 0 && key_at(h, i) < key_at(h, (i - 1) / 2))
    sift_up(h, i);
  else
    sift_down(h, i);
}

void *pacer__heap_pop(pacer__heap_t *h)
{
  if (!h->len)
    return NULL;
  void *e = h->items[0];
  remove_at(h, 0);
  return e;
}

/* True when e's slot names an index of this heap that holds e: a slot that
 * is NONE, stale or belongs to another heap must not disturb this one. */
static int holds(const pacer__heap_t *h, void *e, uint32_t *at)
{
  uint32_t i = *h->pos_of(e);
  if (i == PACER__HEAP_NONE || i >= h->len || h->items[i] != e)
    return 0;
  *at = i;
  return 1;
}

void pacer__heap_remove(pacer__heap_t *h, void *e)
{
  uint32_t i;
  if (holds(h, e, &i))
    remove_at(h, i);
}

void pacer__heap_update(pacer__heap_t *h, void *e)
{
  uint32_t i;
  if (!holds(h, e, &i))
    return;
  if (i > 0 && key_at(h, i) < key_at(h, (i - 1) / 2))
    sift_up(h, i);
  else
    sift_down(h, i);
}
