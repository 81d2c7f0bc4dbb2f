/* SPDX-License-Identifier: MIT */
/* submit.h - how a made job is accepted: the one step shared by
 * pacer_submit() and its kin (submit.c) and pacer_resume() (resume.c). */
#ifndef PACER_SUBMIT_H
#define PACER_SUBMIT_H

#include "dispatch.h"

/* mu held. Accepts job j: gives it an id and queues it under key at now,
 * to start once due (0 or a time not after now: at once; later: it waits
 * as a retry does), and counts it live and submitted. The caller kicks the
 * dispatcher. Returns 0 (j belongs to the dispatcher; its callback will
 * run once) or PACER_ENOMEM (j untouched, still the caller's). */
int pacer__submit_accept(pacer_t *p, pacer__job_t *j, const char *key,
                         int64_t now, int64_t due);

#endif
