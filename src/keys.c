/* SPDX-License-Identifier: MIT */
/* keys.c - per-key state in a uthash table, idle keys kept LRU and bounded.
 *
 * Invariant: k is on ks->idle exactly when k->refs == 0 and !k->pinned. */
#include "keys.h"
#include <stdlib.h>
#include <string.h>

static void key_free(pacer__key_t *k)
{
  free(k->name);
  free(k);
}

void pacer__keys_init(pacer__keys_t *ks, size_t max_idle,
                      const pacer__breaker_cfg_t *bcfg, double rate,
                      unsigned burst, unsigned cap)
{
  memset(ks, 0, sizeof *ks);
  pacer__list_init(&ks->idle);
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
}

pacer__key_t *pacer__keys_find(pacer__keys_t *ks, const char *name)
{
  pacer__key_t *k = NULL;
  HASH_FIND_STR(ks->table, name, k);
  return k;
}

static pacer__key_t *key_new(pacer__keys_t *ks, const char *name)
{
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
  k->cap = ks->cap;
  pacer__breaker_init(&k->breaker, ks->bcfg);
  for (int p = 0; p < 2; p++) {
    pacer__list_init(&k->q[p]);
    k->ready_pos[p] = UINT32_MAX;
  }
  k->wake_pos = UINT32_MAX;
  pacer__list_init(&k->idle);
  HASH_ADD_KEYPTR(hh, ks->table, k->name, strlen(k->name), k);
  ks->count++;
  return k;
}

static void forget_idle(pacer__keys_t *ks)
{
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
  } else if (pacer__linked(&k->idle)) {
    pacer__list_unlink(&k->idle);
    ks->idle_count--;
  }
  k->refs++;
  return k;
}

void pacer__keys_release(pacer__keys_t *ks, pacer__key_t *k)
{
  if (--k->refs > 0 || k->pinned)
    return;
  pacer__list_push_back(&ks->idle, &k->idle);
  ks->idle_count++;
  forget_idle(ks);
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
  k->cap = cap;
  if (pacer__linked(&k->idle)) {
    pacer__list_unlink(&k->idle);
    ks->idle_count--;
  }
  k->pinned = 1;
  if (out)
    *out = k;
  return 0;
}
