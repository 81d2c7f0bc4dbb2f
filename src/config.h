/* SPDX-License-Identifier: MIT */
/* config.h - the dispatcher's private copy of its settings. */
#ifndef PACER_CONFIG_H
#define PACER_CONFIG_H

#include "scheduler.h"
#include <pacer/pacer.h>

#define PACER__MAX_WORKERS 256
#define PACER__KEY_MAX 256 /* bytes of a limiter key, NUL included */

/* Fills *out from in (NULL: defaults), resolves automatic values, checks
 * every field and copies every string. Returns 0 (release *out with
 * pacer__config_release()) or the code naming the first bad field. */
int pacer__config_resolve(const pacer_config_t *in, pacer_config_t *out);
void pacer__config_release(pacer_config_t *c);

/* The automatic burst for rate: max(1, rate/100), 10 ms of tokens. */
unsigned pacer__auto_burst(double rate);

/* The scheduler's part of a resolved configuration. */
void pacer__sched_cfg_from(const pacer_config_t *c, pacer__sched_cfg_t *s);

#endif
