/* SPDX-License-Identifier: MIT */
/* engine.h - making a dispatcher with a chosen clock and transport, and the
 * hooks tests use to wait for it. The object itself, its threads and its
 * lock are described in dispatch.h. */
#ifndef PACER_ENGINE_H
#define PACER_ENGINE_H

#include "clock.h"
#include "config.h"
#include "dispatch.h"
#include "transport.h"
#include <pacer/pacer.h>

/* Makes a dispatcher with the given clock and transport (pacer_new uses the
 * real ones; both are copied). Same contract as pacer_new(). */
int pacer__new_with(const pacer_config_t *cfg, const pacer__clock_t *clock,
                    const pacer__transport_t *tx, pacer_t **out);

/* Tests: waits until the dispatcher sleeps with nothing due before a time
 * still in the future, so everything due by the clock's now has been done. */
void pacer__wait_idle(pacer_t *p);
/* Tests: waits until at least n attempts have been settled. */
void pacer__wait_settled(pacer_t *p, uint64_t n);
/* Tests: the bytes of response held by jobs waiting to retry, as allocated
 * (body, header arena and header array); *body (may be NULL) gets the body
 * part. */
size_t pacer__waiting_resp_bytes(pacer_t *p, size_t *body);

#endif
