/* SPDX-License-Identifier: MIT */
/* e2e.h - what every end-to-end group shares, as libuv's test/task.h: the
 * group's pacer-mock (mock_proc.h), the recorder of every job's end
 * (recorder.h), and the usual shapes of a case: one job start to end, a GET
 * of a path on the group's server. */
#ifndef PACER_E2E_H
#define PACER_E2E_H

#include "mock_proc.h"
#include "recorder.h"

/* Group setup and teardown: rec_group_setup() and mock_setup(), and back. */
int e2e_setup(void **state);
int e2e_teardown(void **state);

/* Empties rec, makes a dispatcher with cfg (NULL: defaults), submits q with
 * rec_on_done, drains (at most drain_ms), frees the dispatcher and returns
 * the job's result, which stays in rec until the next reset. Fails the test
 * unless every step succeeds and the job ended exactly once. */
const rec_entry_t *fetch_one(const pacer_config_t *cfg,
                             const pacer_request_t *q, int drain_ms);
/* fetch_one() of a GET of url with the request's defaults. */
const rec_entry_t *fetch_url(const pacer_config_t *cfg, const char *url,
                             int drain_ms);
/* fetch_one() of method (NULL: GET) to url with headers h[0..nh), body
 * (text, or NULL) and flags (PACER_REQ_*), drained within 60 s. */
const rec_entry_t *fetch_req(const pacer_config_t *cfg, const char *method,
                             const char *url, const pacer_header_t *h,
                             size_t nh, const char *body, unsigned flags);

/* Submits a GET of the group's server's base + path under key (NULL: the
 * host) with prio and max_attempts (0: the dispatcher's), ending in rec.
 * The submit must succeed; returns the job's id. */
uint64_t submit_path(pacer_t *p, const char *path, const char *key,
                     pacer_priority_t prio, unsigned max_attempts);

/* Defaults, but one attempt a job: no retry hides what ended it. */
pacer_config_t one_attempt(void);

#endif
