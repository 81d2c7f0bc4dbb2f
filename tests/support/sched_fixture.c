/* SPDX-License-Identifier: MIT */
/* sched_fixture.c - the scheduler made over a number for a clock, so
 * scheduler tests step time themselves and need no sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clock.h"
#include "sched_fixture.h"
#include <stdlib.h>

sched_fx_t *sched_fx_open(const sched_fx_opts_t *o)
{
  static const sched_fx_opts_t defaults = {NULL, NULL, NULL, 0, 0, 0};
  if (!o)
    o = &defaults;
  sched_fx_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  pacer_config_t in;
  pacer_config_init(&in);
  in.max_low_wait_ms = 0;
  in.concurrency = 1000000;
  if (o->breaker_off)
    in.breaker_enabled = 0;
  if (o->tweak)
    o->tweak(&in);
  if (o->tweak_with)
    o->tweak_with(&in, o->user);
  assert_int_equal(pacer__config_resolve(&in, &f->cfg), 0);
  pacer__sched_cfg_t sc;
  pacer__sched_cfg_from(&f->cfg, &sc);
  sc.seed = 42;
  assert_int_equal(pacer__sched_init(&f->s, &sc), 0);
  if (o->store) {
    fake_store_init(&f->fs);
    pacer__store_ops_t ops;
    fake_store_ops(&f->fs, &ops);
    pacer__sched_set_store(&f->s, &ops);
  }
  f->now = o->start_ns ? o->start_ns : 1000 * PACER__NS_PER_S;
  pacer__list_init(&f->ended);
  return f;
}

sched_fx_t *sched_fx_new(sched_fx_tweak_fn tweak)
{
  sched_fx_opts_t o = {tweak, NULL, NULL, 0, 0, 0};
  return sched_fx_open(&o);
}

void sched_fx_release(sched_fx_t *f, pacer__job_t *j)
{
  pacer__sched_release(&f->s, j, f->now);
  pacer__job_free(j);
}

size_t sched_fx_free_ended(sched_fx_t *f)
{
  size_t n = 0;
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&f->ended))) {
    sched_fx_release(f, pacer__job_of(l));
    n++;
  }
  return n;
}

void sched_fx_free(sched_fx_t *f)
{
  pacer__sched_cancel_all(&f->s, &f->ended);
  sched_fx_free_ended(f);
  pacer__sched_destroy(&f->s);
  pacer__config_release(&f->cfg);
  free(f);
}

void sched_fx_request(pacer_request_t *r, const char *key)
{
  pacer_request_init(r);
  r->url = "http://example.test/x";
  r->key = key;
}

pacer__job_t *sched_fx_push_req(sched_fx_t *f, pacer_request_t *r)
{
  char key[PACER__KEY_MAX];
  pacer__job_t *j;
  assert_int_equal(pacer__job_new(r, &f->cfg, f->now, &j, key, sizeof key), 0);
  j->id = ++f->ids;
  assert_int_equal(pacer__sched_push(&f->s, j, key, f->now), 0);
  return j;
}

pacer__job_t *sched_fx_push(sched_fx_t *f, const char *key)
{
  pacer_request_t r;
  sched_fx_request(&r, key);
  return sched_fx_push_req(f, &r);
}

pacer__job_t *sched_fx_next(sched_fx_t *f)
{
  pacer__sched_tick(&f->s, f->now, &f->ended);
  return pacer__sched_next(&f->s, f->now, &f->ended);
}

int sched_fx_end(sched_fx_t *f, pacer__job_t *j, int status, int64_t ra,
                 const pacer__ratehdr_t *quota)
{
  pacer__attempt_end_t e = {.status = status, .retry_after_ns = ra};
  if (quota)
    e.quota = *quota;
  int r = pacer__sched_done(&f->s, j, &e, f->now);
  if (r == PACER__SCHED_END)
    sched_fx_release(f, j);
  return r;
}
