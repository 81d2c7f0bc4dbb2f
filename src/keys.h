/* SPDX-License-Identifier: MIT */
/* keys.h - per-key state (limits, breaker, queues) in a table by name, with
 * idle keys forgotten least recently used first.
 *
 * A key is "live" while any job refers to it (refs > 0) or it has limits of
 * its own (pinned); live keys are never forgotten. A key whose last job is
 * released is idle. An idle key whose state is worth keeping (a Retry-After
 * pause still running, a bucket not yet full, a breaker with failures or
 * not closed: see pacer__breaker_keep_until(), an adapted rate: see
 * pacer__adapt_keep_until(), retries in its retry budget's window: see
 * pacer__budget_keep_until()) is remembered until that
 * state has passed; then, or at once if there was nothing to keep, it joins
 * the idle list, and beyond max_idle keys there, the least recently used is
 * freed, losing nothing. Remembered keys are bounded by time, not count:
 * they are the keys that ended an attempt within the longest of the pause
 * cap, a key bucket's refill, two breaker cooldowns, a retry budget's
 * window and an adaptation's end
 * (an announced reset or the end of an AIMD climb, but at most
 * PACER__KEYS_ADAPT_KEEP_NS after the key's last attempt ended). The
 * scheduler keeps
 * every idle key out of its heaps, so freeing one is always safe.
 * Not thread-safe: the caller serialises. */
#ifndef PACER_KEYS_H
#define PACER_KEYS_H

/* How long an idle key keeps an adapted rate at most (keys.c says why). */
#define PACER__KEYS_ADAPT_KEEP_NS (INT64_C(60) * 1000000000)

#include "adapt.h"
#include "breaker.h"
#include "budget.h"
#include "concur.h"
#include "heap.h"
#include "limiter.h"
#include "list.h"
#include <stddef.h>

/* A library never ends its host: uthash's default out-of-memory handler
 * calls exit(). In its non-fatal mode an add that cannot allocate (the
 * table, or its buckets when they double) leaves the table as it was,
 * without the item, and calls uthash_nonfatal_oom(item), which marks the
 * key so key_new() can return the failure (PACER_ENOMEM to the caller).
 * These must be seen before uthash.h: include it through this header only. */
#ifdef UTHASH_H
#error "include keys.h before uthash.h: its out-of-memory mode is set here"
#endif
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(k) ((k)->oom = 1)
#include <uthash.h>

typedef enum pacer__park {
  PACER__PARK_NONE = 0, /* in the ready heaps for each non-empty queue */
  PACER__PARK_TIME = 1, /* in the wake heap until wake_ns */
  PACER__PARK_SLOT = 2  /* until one of its attempts ends */
} pacer__park_t;

typedef struct pacer__key {
  UT_hash_handle hh;
  char *name;
  pacer__bucket_t bucket; /* the rate the key is held to: its configured
                             one (unlimited when it has none) or, while
                             adapted, adapt.rate */
  double base_rate;       /* configured rate; 0: none */
  double gate_store_rate; /* with a shared limit: the rate the key's last
                             gate found it draws from the store (0: none) */
  unsigned base_burst;    /* configured burst, >= 1 */
  pacer__adapt_t adapt;   /* what its server said (adapt.h) */
  unsigned cap;           /* attempts in flight allowed; 0: no cap */
  pacer__concur_t concur; /* its cap adapted to latency, when on (concur.h);
                             zeroed (the min) for a new key */
  unsigned inflight;
  unsigned refs;      /* jobs referring to this key */
  unsigned queued[2]; /* QUEUED jobs by priority */
  pacer__breaker_t breaker;
  pacer__budget_t budget; /* its retry budget (budget.h) */
  int64_t paused_until;   /* Retry-After pause */
  uint8_t pause_reason;   /* pacer_event_reason_t of paused_until */
  uint16_t pause_status;  /* the status of a Retry-After pause (429, 503) */
  int64_t event_pause;    /* the end of the last pause an event told of,
                             until its RESUME event; 0: none */
  double event_rate;      /* the rate its bucket was last retuned to (its
                             RATE events tell of changes only) */
  pacer__link_t q[2];     /* QUEUED jobs by priority, oldest first */
  uint32_t ready_pos[2];  /* slots in the scheduler's ready heaps */
  uint32_t wake_pos;      /* slot in the wake heap */
  uint32_t low_pos;       /* slot in the scheduler's heap of keys with a
                             queued low job (shedding), parked or not */
  int64_t wake_ns;
  uint8_t parked;           /* pacer__park_t */
  uint8_t pinned;           /* has limits of its own */
  pacer__link_t idle;       /* idle list membership */
  int64_t forget_at;        /* remembered: when its state has passed */
  uint32_t remember_pos;    /* slot in the remembered heap */
  uint8_t oom;              /* set by uthash: adding it to the table failed */
  pacer__link_t store_wait; /* in the scheduler's list of keys parked until
                               the shared store's notify */
  pacer_conn_stats_t conn;  /* its attempts' connections (stats only) */
} pacer__key_t;

typedef struct pacer__keys {
  pacer__key_t *table;
  pacer__link_t idle;     /* front: least recently used */
  pacer__heap_t remember; /* idle keys with state to keep, by forget_at */
  size_t count, idle_count, max_idle;
  const pacer__breaker_cfg_t *bcfg;      /* borrowed */
  const pacer__budget_cfg_t *budget_cfg; /* borrowed; NULL: its keys' retry
                                            budgets hold nothing to keep */
  double rate;                           /* defaults for new keys */
  unsigned burst, cap;
} pacer__keys_t;

/* Defaults must be valid (checked by the caller). bcfg is borrowed. */
void pacer__keys_init(pacer__keys_t *ks, size_t max_idle,
                      const pacer__breaker_cfg_t *bcfg, double rate,
                      unsigned burst, unsigned cap);
/* Frees every key. */
void pacer__keys_destroy(pacer__keys_t *ks);
/* The key named name, or NULL. */
pacer__key_t *pacer__keys_find(pacer__keys_t *ks, const char *name);
/* The key named name, created with the defaults if needed, with one more
 * reference. Returns NULL only when out of memory. */
pacer__key_t *pacer__keys_acquire(pacer__keys_t *ks, const char *name);
/* Drops one reference at now; the key may become idle, and idle keys whose
 * state has passed by now may be forgotten (never k itself while it is
 * live). */
void pacer__keys_release(pacer__keys_t *ks, pacer__key_t *k, int64_t now);
/* Idle keys remembered for their state (not counted in idle_count). */
static inline size_t pacer__keys_remembered(const pacer__keys_t *ks)
{
  return pacer__heap_len(&ks->remember);
}
/* New defaults for keys without limits of their own (checked by the
 * caller): every such key held takes them at once, keeping the tokens it
 * has as far as the new burst allows (an adapted rate stays adapted, from
 * the new configured rate). retune(ctx, ...) is called for each key
 * changed. */
void pacer__keys_set_defaults(
    pacer__keys_t *ks, double rate, unsigned burst, unsigned cap, int64_t now,
    void (*retune)(void *ctx, pacer__key_t *k, int64_t now), void *ctx);
/* Gives name limits of its own and pins it; an adaptation of its rate ends
 * (the next answer from its server adapts it again). Returns 0, PACER_ENOMEM or
 * PACER_ERATE (nothing changed). *out (if not NULL) gets the key. */
int pacer__keys_set_limits(pacer__keys_t *ks, const char *name, double rate,
                           unsigned burst, unsigned cap, int64_t now,
                           pacer__key_t **out);

#endif
