/* SPDX-License-Identifier: MIT */
/* e2e.c - the group's server and recorder, one-job runs, GETs of a path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e.h"
#include <stdio.h>
#include <string.h>

int e2e_setup(void **state)
{
  rec_group_setup(state);
  return mock_setup(state);
}

int e2e_teardown(void **state)
{
  rec_group_teardown(state);
  return mock_teardown(state);
}

const rec_entry_t *fetch_one(const pacer_config_t *cfg,
                             const pacer_request_t *q, int drain_ms)
{
  rec_reset(&rec);
  pacer_t *p;
  assert_int_equal(pacer_new(cfg, &p), 0);
  uint64_t id = 0;
  assert_int_equal(pacer_submit(p, q, rec_on_done, &rec, &id), 0);
  assert_int_equal(pacer_drain(p, drain_ms), 0);
  pacer_free(p);
  rec_assert_once(&rec, &id, 1);
  return rec_of(&rec, id);
}

const rec_entry_t *fetch_url(const pacer_config_t *cfg, const char *url,
                             int drain_ms)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  return fetch_one(cfg, &q, drain_ms);
}

const rec_entry_t *fetch_req(const pacer_config_t *cfg, const char *method,
                             const char *url, const pacer_header_t *h,
                             size_t nh, const char *body, unsigned flags)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.method = method;
  q.url = url;
  q.headers = h;
  q.header_count = nh;
  q.body = body;
  q.body_len = body ? strlen(body) : 0;
  q.flags = flags;
  return fetch_one(cfg, &q, 60000);
}

uint64_t submit_path(pacer_t *p, const char *path, const char *key,
                     pacer_priority_t prio, unsigned max_attempts)
{
  char url[512];
  mock_url(url, sizeof url, &mock, path);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  q.key = key;
  q.priority = prio;
  q.max_attempts = max_attempts;
  uint64_t id = 0;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id), 0);
  return id;
}

pacer_config_t one_attempt(void)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  return c;
}
