/* SPDX-License-Identifier: MIT */
/* fake_clock.c - simulated time; waiters register so an advance wakes them.
 *
 * A waiter registers under the fake clock's lock while holding its own
 * mutex, and advance() takes that mutex before broadcasting, so a wake-up
 * cannot fall between a waiter's check of the time and its sleep. */
#include "fake_clock.h"
#include <stdlib.h>

void fake_clock_init(fake_clock_t *c, int64_t start_ns)
{
  pthread_mutex_init(&c->mu, NULL);
  c->now = start_ns;
  c->wall = INT64_C(1700000000) * PACER__NS_PER_S;
  c->waiters = NULL;
}

void fake_clock_destroy(fake_clock_t *c)
{
  pthread_mutex_destroy(&c->mu);
}

int64_t fake_clock_now(fake_clock_t *c)
{
  pthread_mutex_lock(&c->mu);
  int64_t t = c->now;
  pthread_mutex_unlock(&c->mu);
  return t;
}

void fake_clock_advance(fake_clock_t *c, int64_t ns)
{
  fake_waiter_t snap[64];
  size_t n = 0;
  pthread_mutex_lock(&c->mu);
  c->now += ns;
  for (fake_waiter_t *w = c->waiters; w && n < 64; w = w->next)
    snap[n++] = *w;
  pthread_mutex_unlock(&c->mu);
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(snap[i].mutex);
    pthread_cond_broadcast(snap[i].cond);
    pthread_mutex_unlock(snap[i].mutex);
  }
}

static int64_t f_now(void *ctx)
{
  return fake_clock_now(ctx);
}

static int64_t f_wall(void *ctx)
{
  fake_clock_t *c = ctx;
  pthread_mutex_lock(&c->mu);
  int64_t t = c->wall + c->now;
  pthread_mutex_unlock(&c->mu);
  return t;
}

static void f_wait(void *ctx, pthread_cond_t *cond, pthread_mutex_t *mutex,
                   int64_t deadline)
{
  fake_clock_t *c = ctx;
  fake_waiter_t w = {cond, mutex, NULL};
  pthread_mutex_lock(&c->mu);
  if (c->now >= deadline) {
    pthread_mutex_unlock(&c->mu);
    return;
  }
  w.next = c->waiters;
  c->waiters = &w;
  pthread_mutex_unlock(&c->mu);
  pthread_cond_wait(cond, mutex);
  pthread_mutex_lock(&c->mu);
  for (fake_waiter_t **pp = &c->waiters; *pp; pp = &(*pp)->next)
    if (*pp == &w) {
      *pp = w.next;
      break;
    }
  pthread_mutex_unlock(&c->mu);
}

pacer__clock_t fake_clock_iface(fake_clock_t *c)
{
  pacer__clock_t k = {f_now, f_wall, f_wait, c};
  return k;
}
