/* SPDX-License-Identifier: MIT */
/* fetch.h - one job on a dispatcher of its own, start to end: the shape of
 * most end-to-end cases. */
#ifndef PACER_FETCH_H
#define PACER_FETCH_H

#include "recorder.h"

/* Empties rec, makes a dispatcher with cfg (NULL: defaults), submits q with
 * rec_on_done, drains (at most drain_ms), frees the dispatcher and returns
 * the job's result, which stays in rec. Fails the test unless every step
 * succeeds and the job ended exactly once. The test's thread only. */
const rec_entry_t *fetch_one(recorder_t *rec, const pacer_config_t *cfg,
                             const pacer_request_t *q, int drain_ms);

/* The same for a GET of url with the request's defaults. */
const rec_entry_t *fetch_url(recorder_t *rec, const pacer_config_t *cfg,
                             const char *url, int drain_ms);

/* Defaults, but one attempt a job: no retry hides what ended it. */
pacer_config_t one_attempt(void);

#endif
