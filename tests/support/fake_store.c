/* SPDX-License-Identifier: MIT */
/* fake_store.c - a deterministic shared-limit store for unit tests (see
 * fake_store.h): each bucket an exact local GCRA bucket, as a store with
 * one process would be. */
#include "fake_store.h"
#include <assert.h>
#include <string.h>

void fake_store_init(fake_store_t *fs)
{
  memset(fs, 0, sizeof *fs);
}

fake_bucket_t *fake_store_bucket(fake_store_t *fs, const char *name)
{
  for (int i = 0; i < FAKE_STORE_MAX; i++)
    if (fs->b[i].used && !strcmp(fs->b[i].name, name))
      return &fs->b[i];
  for (int i = 0; i < FAKE_STORE_MAX; i++)
    if (!fs->b[i].used) {
      fs->b[i].used = 1;
      strncpy(fs->b[i].name, name, sizeof fs->b[i].name - 1);
      return &fs->b[i];
    }
  assert(!"fake store full");
  return NULL;
}

static int64_t take(void *ctx, const char *name, double rate, int64_t burst,
                    int64_t now)
{
  fake_store_t *fs = ctx;
  fake_bucket_t *b = fake_store_bucket(fs, name);
  fs->takes++;
  b->takes++;
  if (fs->force_all)
    return fs->force_all;
  if (b->force)
    return b->force;
  pacer__bucket_t *bk = &b->bucket;
  if (!b->have_bucket) {
    int rc = pacer__bucket_init(bk, rate, burst);
    assert(rc == 0);
    (void)rc;
    b->have_bucket = 1;
  } else if (rate != b->rate || burst != b->burst) {
    /* as the real stores do: each take's rate and burst hold */
    int rc = pacer__bucket_set(bk, rate, burst, now);
    assert(rc == 0);
    (void)rc;
  }
  b->rate = rate;
  b->burst = burst;
  int64_t w = pacer__bucket_try(bk, now);
  if (w == 0)
    b->grants++;
  return w;
}

static void store_pause(void *ctx, const char *name, int64_t until)
{
  fake_store_t *fs = ctx;
  fake_bucket_t *b = fake_store_bucket(fs, name);
  fs->pauses++;
  if (until > b->paused_until)
    b->paused_until = until;
}

static int64_t paused_until(void *ctx, const char *name, int64_t now)
{
  fake_store_t *fs = ctx;
  for (int i = 0; i < FAKE_STORE_MAX; i++)
    if (fs->b[i].used && !strcmp(fs->b[i].name, name))
      return fs->b[i].paused_until > now ? fs->b[i].paused_until : 0;
  return 0;
}

static void learn(void *ctx, const char *name, double rate, int64_t until,
                  double next_rate, int64_t next_until)
{
  fake_store_t *fs = ctx;
  fake_bucket_t *b = fake_store_bucket(fs, name);
  fs->learns++;
  b->learned_rate = rate;
  b->learned_until = rate > 0 ? until : 0; /* rate 0: a clear */
  int next = rate > 0 && next_rate > 0 && next_until > until;
  b->next_rate = next ? next_rate : 0;
  b->next_until = next ? next_until : 0;
}

static int64_t learned(void *ctx, const char *name, int64_t now, double *rate,
                       int peek)
{
  fake_store_t *fs = ctx;
  for (int i = 0; i < FAKE_STORE_MAX; i++)
    if (fs->b[i].used && !strcmp(fs->b[i].name, name)) {
      if (fs->b[i].learn_pending)
        return peek ? 0 : PACER__SHARED_PENDING;
      if (fs->b[i].learned_until > now) {
        *rate = fs->b[i].learned_rate;
        return fs->b[i].learned_until;
      }
      if (fs->b[i].learned_until && fs->b[i].next_until > now) {
        *rate = fs->b[i].next_rate; /* the first window ended: the next */
        return fs->b[i].next_until;
      }
      return 0;
    }
  return 0;
}

void fake_store_ops(fake_store_t *fs, pacer__store_ops_t *ops)
{
  ops->take = take;
  ops->pause = store_pause;
  ops->paused_until = paused_until;
  ops->learn = learn;
  ops->learned = learned;
  ops->ctx = fs;
}

uint64_t fake_store_takes(fake_store_t *fs, const char *name)
{
  for (int i = 0; i < FAKE_STORE_MAX; i++)
    if (fs->b[i].used && !strcmp(fs->b[i].name, name))
      return fs->b[i].takes;
  return 0;
}

uint64_t fake_store_grants(fake_store_t *fs, const char *name)
{
  for (int i = 0; i < FAKE_STORE_MAX; i++)
    if (fs->b[i].used && !strcmp(fs->b[i].name, name))
      return fs->b[i].grants;
  return 0;
}
