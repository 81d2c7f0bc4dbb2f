/* SPDX-License-Identifier: MIT */
/* quota.c - pacer-mock's fixed-window quota: N requests per W seconds, per key.
 *
 * Windows are aligned to the score's clock (start or last reset): window k
 * is [k*W, (k+1)*W), so a test finds each arrival's window from its t_ms
 * alone, and per_second sums to per-window counts. Each key (the whole
 * server, a path, a client address, a header's value) has one counter,
 * emptied when an arrival falls in a later window than its last. Only
 * accepted requests are counted: a refused one costs nothing, as with
 * GitHub's X-RateLimit-Remaining, which stays at 0. Past max_keys distinct
 * keys, the rest share one overflow counter. The caller serialises access
 * (score.c holds its lock); time is a parameter. */
#include "mock.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

typedef struct qkey {
  UT_hash_handle hh;
  uint64_t window; /* index of the window count belongs to */
  uint64_t count;  /* accepted in that window */
  char s[];
} qkey_t;

struct quota {
  uint64_t limit, window_ns;
  size_t max_keys, nkeys;
  qkey_t *keys;
  qkey_t *overflow; /* shared by keys past max_keys */
};

quota_t *quota_new(uint64_t limit, uint64_t window_s, size_t max_keys)
{
  quota_t *q = calloc(1, sizeof *q);
  if (q == NULL)
    return NULL;
  q->limit = limit;
  q->window_ns = window_s * MOCK_NS_PER_S;
  q->max_keys = max_keys;
  q->overflow = calloc(1, sizeof *q->overflow + 1);
  if (q->overflow == NULL) {
    free(q);
    return NULL;
  }
  return q;
}

void quota_reset(quota_t *q)
{
  qkey_t *e, *tmp;
  HASH_ITER(hh, q->keys, e, tmp)
  {
    HASH_DEL(q->keys, e);
    free(e);
  }
  q->nkeys = 0;
  q->overflow->window = q->overflow->count = 0;
}

void quota_free(quota_t *q)
{
  if (q == NULL)
    return;
  quota_reset(q);
  free(q->overflow);
  free(q);
}

size_t quota_keys(const quota_t *q)
{
  return q->nkeys;
}

static qkey_t *find(quota_t *q, const char *key)
{
  qkey_t *e;
  size_t len = strlen(key);
  HASH_FIND(hh, q->keys, key, len, e);
  if (e)
    return e;
  if (q->nkeys >= q->max_keys)
    return q->overflow;
  e = calloc(1, sizeof *e + len + 1);
  if (e == NULL)
    return q->overflow; /* out of memory: shared, still strict */
  memcpy(e->s, key, len + 1);
  HASH_ADD_KEYPTR(hh, q->keys, e->s, len, e);
  q->nkeys++;
  return e;
}

bool quota_take(quota_t *q, const char *key, uint64_t t_ns, bool charge,
                quota_state_t *out)
{
  qkey_t *e = find(q, key ? key : "");
  uint64_t w = t_ns / q->window_ns;
  if (e->window != w) {
    e->window = w;
    e->count = 0;
  }
  bool ok = e->count < q->limit;
  if (ok && charge)
    e->count++;
  out->limit = q->limit;
  out->remaining = q->limit - e->count;
  out->reset_ns = (w + 1) * q->window_ns - t_ns;
  return ok;
}
