/* SPDX-License-Identifier: MIT */
/* engine_fixture.h - a dispatcher over a fake clock and a fake transport,
 * made with pacer__new_with(), with or without a spool (the config's
 * spool_path), and a scratch directory for spool files. */
#ifndef PACER_ENGINE_FIXTURE_H
#define PACER_ENGINE_FIXTURE_H

#include "engine.h"
#include "fake_clock.h"
#include "fake_transport.h"

typedef struct eng_opts {
  int real_clock;          /* 1: the real clock (fake_time off) */
  int64_t start_ns;        /* the fake clock's start; 0: 1000 s */
  fake_responder_fn reply; /* NULL: every attempt answers 200 */
  void *reply_user;
} eng_opts_t;

typedef struct eng {
  fake_clock_t clk; /* moves only when the test advances it */
  fake_tx_t *tx;
  pacer_t *p;
  int real_clock;
} eng_t;

/* Makes the clock and the transport (o NULL: the defaults), not yet the
 * dispatcher: e->p is NULL. */
void eng_prepare(eng_t *e, const eng_opts_t *o);
/* Makes the dispatcher over them with cfg (NULL: defaults). The result of
 * pacer__new_with(); e->p is NULL after an error. */
int eng_open(eng_t *e, const pacer_config_t *cfg);
/* eng_prepare() and eng_open(); after an error nothing is left to free. */
int eng_try(eng_t *e, const pacer_config_t *cfg, const eng_opts_t *o);
/* eng_try(), which must succeed (the test fails otherwise). */
void eng_new(eng_t *e, const pacer_config_t *cfg, const eng_opts_t *o);
/* pacer_free() (its callbacks run), then the transport and the clock. */
void eng_free(eng_t *e);

/* A new private directory under /tmp, its path in dir (cap >= 64); fails
 * the test if it cannot be made. */
void scratch_make(char *dir, size_t cap);
/* Removes the files in dir, then dir. 0, or -1 if dir stays. */
int scratch_remove(const char *dir);

#endif
