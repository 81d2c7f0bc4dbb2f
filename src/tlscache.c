/* SPDX-License-Identifier: MIT */
/* tlscache.c - TLS 1.3 sessions kept per origin, a copy offered to each new
 * connection (why and how: tlscache.h).
 *
 * Invariants: every session pointer held here holds one reference of its
 * own (unused[] and newest may name the same object, each with its
 * reference); the objects held are copies made here and only copies of
 * them leave, so no connection ever holds one (OpenSSL may mark the
 * session a connection holds not resumable, from the connection's thread,
 * when the connection fails); an origin is in the table and on the
 * recency list together, and holds at least newest. */
#include "tlscache.h"
#include "keys.h" /* uthash, in its non-fatal out-of-memory mode */
#include "list.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct origin {
  UT_hash_handle hh;
  pacer__link_t lru;                     /* most recently used at the front */
  void *newest;                          /* the last ticket received */
  void *unused[PACER__TLSCACHE_TICKETS]; /* not offered yet, oldest first */
  unsigned nunused;
  uint8_t oom; /* set by uthash: adding it to the table failed */
  char name[];
} origin_t;

struct pacer__tlscache {
  pthread_mutex_t mu;
  pacer__tls_ops_t ops;
  origin_t *table;
  pacer__link_t lru;
  size_t norigins;
  unsigned long fresh, reused, none;
};

static origin_t *origin_of(pacer__link_t *l)
{
  return (origin_t *)(void *)((char *)l - offsetof(origin_t, lru));
}

pacer__tlscache_t *pacer__tlscache_new(const pacer__tls_ops_t *ops)
{
  if (!ops || !ops->ref || !ops->unref || !ops->copy || !ops->tls13)
    return NULL;
  pacer__tlscache_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  if (pthread_mutex_init(&c->mu, NULL)) {
    free(c);
    return NULL;
  }
  c->ops = *ops;
  pacer__list_init(&c->lru);
  return c;
}

/* mu held: drops o's sessions (o stays). */
static void origin_clear(pacer__tlscache_t *c, origin_t *o)
{
  for (unsigned i = 0; i < o->nunused; i++)
    c->ops.unref(c->ops.ctx, o->unused[i]);
  o->nunused = 0;
  if (o->newest)
    c->ops.unref(c->ops.ctx, o->newest);
  o->newest = NULL;
}

/* mu held: forgets o. */
static void origin_drop(pacer__tlscache_t *c, origin_t *o)
{
  origin_clear(c, o);
  HASH_DEL(c->table, o);
  pacer__list_unlink(&o->lru);
  c->norigins--;
  free(o);
}

void pacer__tlscache_free(pacer__tlscache_t *c)
{
  if (!c)
    return;
  origin_t *o, *tmp;
  HASH_ITER(hh, c->table, o, tmp)
  {
    origin_drop(c, o);
  }
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static size_t key_len(const char *origin)
{
  if (!origin)
    return 0;
  size_t n = strnlen(origin, PACER__TLSCACHE_KEY_MAX + 1);
  return n > PACER__TLSCACHE_KEY_MAX ? 0 : n;
}

void pacer__tlscache_put(pacer__tlscache_t *c, const char *origin, void *sess)
{
  size_t len = key_len(origin);
  if (!c || !len || !sess)
    return;
  int kind = c->ops.tls13(c->ops.ctx, sess);
  pthread_mutex_lock(&c->mu);
  origin_t *o = NULL;
  HASH_FIND(hh, c->table, origin, len, o);
  if (kind < 0 || kind == 0) {
    /* TLS 1.2 (libcurl's to keep), or nothing to resume: a server that
     * stopped speaking TLS 1.3 must not be offered its old tickets. A 1.3
     * session that cannot resume leaves the tickets kept as they are. */
    if (o && kind < 0)
      origin_drop(c, o);
    pthread_mutex_unlock(&c->mu);
    return;
  }
  void *own = c->ops.copy(c->ops.ctx, sess);
  if (!own) {
    pthread_mutex_unlock(&c->mu);
    return;
  }
  if (!o) {
    if (c->norigins >= PACER__TLSCACHE_ORIGINS)
      origin_drop(c, origin_of(c->lru.prev));
    o = calloc(1, sizeof *o + len + 1);
    if (o) {
      memcpy(o->name, origin, len);
      HASH_ADD(hh, c->table, name, len, o);
      if (o->oom) {
        free(o);
        o = NULL;
      }
    }
    if (!o) {
      c->ops.unref(c->ops.ctx, own);
      pthread_mutex_unlock(&c->mu);
      return;
    }
    pacer__list_init(&o->lru);
    c->norigins++;
  }
  pacer__list_unlink(&o->lru);
  pacer__list_push_front(&c->lru, &o->lru);
  if (o->nunused == PACER__TLSCACHE_TICKETS) {
    c->ops.unref(c->ops.ctx, o->unused[0]);
    memmove(o->unused, o->unused + 1, (o->nunused - 1) * sizeof *o->unused);
    o->nunused--;
  }
  o->unused[o->nunused++] = own; /* the copy's reference */
  c->ops.ref(c->ops.ctx, own);
  if (o->newest)
    c->ops.unref(c->ops.ctx, o->newest);
  o->newest = own;
  pthread_mutex_unlock(&c->mu);
}

void *pacer__tlscache_take(pacer__tlscache_t *c, const char *origin)
{
  size_t len = key_len(origin);
  if (!c || !len)
    return NULL;
  void *out = NULL;
  pthread_mutex_lock(&c->mu);
  origin_t *o = NULL;
  HASH_FIND(hh, c->table, origin, len, o);
  if (o) {
    pacer__list_unlink(&o->lru);
    pacer__list_push_front(&c->lru, &o->lru);
    /* Not offered yet, the newest first; one that can no longer resume
     * (expired) is dropped on the way. */
    while (!out && o->nunused) {
      void *s = o->unused[--o->nunused];
      if (c->ops.tls13(c->ops.ctx, s) > 0 &&
          (out = c->ops.copy(c->ops.ctx, s)) != NULL)
        c->fresh++;
      c->ops.unref(c->ops.ctx, s);
    }
    if (!out && o->newest && c->ops.tls13(c->ops.ctx, o->newest) > 0 &&
        (out = c->ops.copy(c->ops.ctx, o->newest)) != NULL)
      c->reused++;
  }
  if (!out)
    c->none++;
  pthread_mutex_unlock(&c->mu);
  return out;
}

void pacer__tlscache_stats(pacer__tlscache_t *c, pacer__tlscache_stats_t *st)
{
  memset(st, 0, sizeof *st);
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  st->origins = c->norigins;
  origin_t *o, *tmp;
  HASH_ITER(hh, c->table, o, tmp)
  {
    st->unused += o->nunused;
  }
  st->fresh = c->fresh;
  st->reused = c->reused;
  st->none = c->none;
  pthread_mutex_unlock(&c->mu);
}
