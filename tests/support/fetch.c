/* SPDX-License-Identifier: MIT */
/* fetch.c - one job, start to end, its result kept by a recorder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fetch.h"

const rec_entry_t *fetch_one(recorder_t *rec, const pacer_config_t *cfg,
                             const pacer_request_t *q, int drain_ms)
{
  rec_reset(rec);
  pacer_t *p;
  assert_int_equal(pacer_new(cfg, &p), 0);
  uint64_t id = 0;
  assert_int_equal(pacer_submit(p, q, rec_on_done, rec, &id), 0);
  assert_int_equal(pacer_drain(p, drain_ms), 0);
  pacer_free(p);
  rec_assert_once(rec, &id, 1);
  return rec_of(rec, id);
}

const rec_entry_t *fetch_url(recorder_t *rec, const pacer_config_t *cfg,
                             const char *url, int drain_ms)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  return fetch_one(rec, cfg, &q, drain_ms);
}

pacer_config_t one_attempt(void)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  return c;
}
