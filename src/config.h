/* SPDX-License-Identifier: MIT */
/* config.h - the dispatcher's private copy of its settings. */
#ifndef PACER_CONFIG_H
#define PACER_CONFIG_H

#include "scheduler.h"
#include <pacer/pacer.h>

#define PACER__MAX_WORKERS 256
/* pacer_config_t.idle_connection_timeout_ms's bound: a day. */
#define PACER__IDLE_CONN_MAX_MS INT64_C(86400000)

/* Fills *out from in (NULL: defaults), resolves automatic values, checks
 * every field and copies every string. Returns 0 (release *out with
 * pacer__config_release()) or the code naming the first bad field. */
int pacer__config_resolve(const pacer_config_t *in, pacer_config_t *out);
void pacer__config_release(pacer_config_t *c);

/* Key limits as this library's struct, like pacer__request_copy(): 0 or
 * PACER_EINVAL (NULL src, or a struct_size of 0 or larger than ours). */
int pacer__key_limits_copy(pacer_key_limits_t *dst,
                           const pacer_key_limits_t *src);

/* The caller's pacer_resume_info_t, before pacer_resume() does anything:
 * NULL is fine (0); a bad struct_size is PACER_EINVAL; else the fields it
 * covers are zeroed (struct_size kept) and it returns 0. */
int pacer__resume_info_clear(pacer_resume_info_t *info);
/* Copies the counts of src (ours, whole) into dst (checked by
 * pacer__resume_info_clear(); NULL: nothing), only the fields dst covers. */
void pacer__resume_info_give(pacer_resume_info_t *dst,
                             const pacer_resume_info_t *src);

/* 0 when st is not NULL and its struct_size is one we can fill, else
 * PACER_EINVAL. */
int pacer__spool_status_check(const pacer_spool_status_t *st);
/* Copies the status src (ours, whole) into dst (checked by
 * pacer__spool_status_check()), only the fields dst covers. */
void pacer__spool_status_give(pacer_spool_status_t *dst,
                              const pacer_spool_status_t *src);

/* The automatic burst for rate: max(1, rate/100), 10 ms of tokens. */
unsigned pacer__auto_burst(double rate);

/* pacer_config_get(): copies the live settings (mu held) into the
 * caller's dst, as far as its struct_size reaches, every string and array
 * NULL. 0 or PACER_EINVAL (NULL dst, bad struct_size). */
int pacer__config_copy_out(const pacer_config_t *live, pacer_config_t *dst);
/* pacer_reconfigure()'s check: *want gets live with what the caller's in
 * sets (as far as its struct_size reaches), automatic values resolved, and
 * is checked as pacer_new() checks a config. Returns 0, the code of the
 * first bad field, or PACER_EINVAL with *field naming a field that cannot
 * change while running (FIXED, or a string other than NULL or the same).
 * want's strings are live's (borrowed). */
int pacer__config_merge(const pacer_config_t *live, const pacer_config_t *in,
                        pacer_config_t *want, const char **field);
/* Copies the live fields of want (from pacer__config_merge()) into live. */
void pacer__config_apply(pacer_config_t *live, const pacer_config_t *want);

/* The scheduler's part of a resolved configuration. */
void pacer__sched_cfg_from(const pacer_config_t *c, pacer__sched_cfg_t *s);

#endif
