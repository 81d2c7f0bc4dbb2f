/* SPDX-License-Identifier: MIT */
/* keys.c - per-key state in a uthash table, idle keys kept LRU and bounded.
 *
 * Invariant: a key with refs == 0 and !pinned is either on ks->idle or in
 * ks->remember, never both; any other key is in neither. The remembered
 * heap has room for every key, so releasing a key cannot fail. */
#include "keys.h"
#include "clock.h"
#include <stdlib.h>
#include <string.h>

static void key_free(pacer__key_t *k)
{
  free(k->name);
  free(k);
}

static int64_t forget_key(const void *e)
{
  return ((const pacer__key_t *)e)->forget_at;
}
static uint32_t *forget_pos(void *e)
{
  return &((pacer__key_t *)e)->remember_pos;
}

void pacer__keys_init(pacer__keys_t *ks, size_t max_idle,
                      const pacer__breaker_cfg_t *bcfg, double rate,
                      unsigned burst, unsigned cap)
{
  memset(ks, 0, sizeof *ks);
  pacer__list_init(&ks->idle);
  pacer__heap_init(&ks->remember, forget_key, forget_pos);
  ks->max_idle = max_idle;
  ks->bcfg = bcfg;
  ks->rate = rate;
  ks->burst = burst ? burst : 1;
  ks->cap = cap;
}

void pacer__keys_destroy(pacer__keys_t *ks)
{
  pacer__key_t *k, *tmp;
  HASH_ITER(hh, ks->table, k, tmp)
  {
    HASH_DEL(ks->table, k);
    key_free(k);
  }
  ks->count = ks->idle_count = 0;
  pacer__list_init(&ks->idle);
  pacer__heap_destroy(&ks->remember);
}

pacer__key_t *pacer__keys_find(pacer__keys_t *ks, const char *name)
{
  pacer__key_t *k = NULL;
  HASH_FIND_STR(ks->table, name, k);
  return k;
}

static pacer__key_t *key_new(pacer__keys_t *ks, const char *name)
{
  if (ks->count >= UINT32_MAX - 1 ||
      pacer__heap_reserve(&ks->remember, (uint32_t)ks->count + 1))
    return NULL;
  pacer__key_t *k = calloc(1, sizeof *k);
  if (!k)
    return NULL;
  k->name = strdup(name);
  if (!k->name) {
    free(k);
    return NULL;
  }
  /* The defaults were checked when the dispatcher was made. */
  (void)pacer__bucket_init(&k->bucket, ks->rate, ks->burst);
  k->base_rate = ks->rate;
  k->base_burst = ks->burst;
  k->cap = ks->cap;
  pacer__breaker_init(&k->breaker, ks->bcfg);
  pacer__budget_init(&k->budget);
  for (int p = 0; p < 2; p++) {
    pacer__list_init(&k->q[p]);
    k->ready_pos[p] = UINT32_MAX;
  }
  k->wake_pos = UINT32_MAX;
  k->low_pos = PACER__HEAP_NONE;
  k->remember_pos = PACER__HEAP_NONE;
  pacer__list_init(&k->idle);
  pacer__list_init(&k->store_wait);
  HASH_ADD_KEYPTR(hh, ks->table, k->name, strlen(k->name), k);
  if (k->oom) { /* not in the table, which is as it was (keys.h) */
    key_free(k);
    return NULL;
  }
  ks->count++;
  return k;
}

/* Until when idle k holds state worth keeping (<= now: nothing). */
static int64_t keep_until(const pacer__keys_t *ks, const pacer__key_t *k,
                          int64_t now)
{
  int64_t t = k->paused_until;
  if (ks->budget_cfg) {
    int64_t r = pacer__budget_keep_until(&k->budget, ks->budget_cfg);
    if (r > t)
      t = r;
  }
  int64_t b = pacer__bucket_full_at(&k->bucket);
  if (b > t)
    t = b;
  /* An adapted rate is a guess the next answer makes again: an idle key
   * keeps it one minute at most, so that a crawler's announcing hosts
   * (a reset may be a day away) or its slow AIMD climbs cost memory only
   * for the last minute's keys. */
  b = pacer__adapt_keep_until(&k->adapt);
  if (b > pacer__time_add(now, PACER__KEYS_ADAPT_KEEP_NS))
    b = pacer__time_add(now, PACER__KEYS_ADAPT_KEEP_NS);
  if (b > t)
    t = b;
  b = pacer__breaker_keep_until(&k->breaker, now);
  return b > t ? b : t;
}

static void idle_push(pacer__keys_t *ks, pacer__key_t *k)
{
  pacer__list_push_back(&ks->idle, &k->idle);
  ks->idle_count++;
}

/* Takes idle k out of the idle list or the remembered heap. */
static void idle_take(pacer__keys_t *ks, pacer__key_t *k)
{
  if (k->remember_pos != PACER__HEAP_NONE) {
    pacer__heap_remove(&ks->remember, k);
  } else if (pacer__linked(&k->idle)) {
    pacer__list_unlink(&k->idle);
    ks->idle_count--;
  }
}

static void forget_idle(pacer__keys_t *ks, int64_t now)
{
  /* A remembered key whose state has passed has nothing left to keep. It
   * is not asked again: a breaker with failures would always ask for one
   * more cooldown. */
  pacer__key_t *r;
  while ((r = pacer__heap_top(&ks->remember)) && r->forget_at <= now) {
    pacer__heap_pop(&ks->remember);
    idle_push(ks, r);
  }
  while (ks->idle_count > ks->max_idle) {
    pacer__link_t *l = pacer__list_pop_front(&ks->idle);
    pacer__key_t *k = pacer__container_of(l, pacer__key_t, idle);
    ks->idle_count--;
    HASH_DEL(ks->table, k);
    ks->count--;
    key_free(k);
  }
}

pacer__key_t *pacer__keys_acquire(pacer__keys_t *ks, const char *name)
{
  pacer__key_t *k = pacer__keys_find(ks, name);
  if (!k) {
    k = key_new(ks, name);
    if (!k)
      return NULL;
  } else {
    idle_take(ks, k);
  }
  k->refs++;
  return k;
}

void pacer__keys_release(pacer__keys_t *ks, pacer__key_t *k, int64_t now)
{
  if (--k->refs > 0 || k->pinned)
    return;
  int64_t until = keep_until(ks, k, now);
  if (until > now) {
    k->forget_at = until;
    (void)pacer__heap_push(&ks->remember, k); /* room reserved */
  } else {
    idle_push(ks, k);
  }
  forget_idle(ks, now);
}

int pacer__keys_set_limits(pacer__keys_t *ks, const char *name, double rate,
                           unsigned burst, unsigned cap, int64_t now,
                           pacer__key_t **out)
{
  int rc = pacer__rate_check(rate, burst ? burst : 1);
  if (rc)
    return rc;
  pacer__key_t *k = pacer__keys_find(ks, name);
  if (!k && !(k = key_new(ks, name)))
    return PACER_ENOMEM;
  rc = pacer__bucket_set(&k->bucket, rate, burst ? burst : 1, now);
  if (rc)
    return rc;
  k->base_rate = rate;
  k->base_burst = burst ? burst : 1;
  k->adapt.reason = PACER__ADAPT_NONE;
  k->cap = cap;
  idle_take(ks, k);
  k->pinned = 1;
  if (out)
    *out = k;
  return 0;
}

void pacer__keys_set_defaults(
    pacer__keys_t *ks, double rate, unsigned burst, unsigned cap, int64_t now,
    void (*retune)(void *ctx, pacer__key_t *k, int64_t now), void *ctx)
{
  ks->rate = rate;
  ks->burst = burst ? burst : 1;
  ks->cap = cap;
  pacer__key_t *k, *tmp;
  HASH_ITER(hh, ks->table, k, tmp)
  {
    if (k->pinned)
      continue;
    k->base_rate = ks->rate;
    k->base_burst = ks->burst;
    k->cap = ks->cap;
    retune(ctx, k, now);
  }
}
