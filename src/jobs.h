/* SPDX-License-Identifier: MIT */
/* jobs.h - the live jobs of a dispatcher by id: the only place that knows
 * how an id is made, so a stale id never finds a later job.
 *
 * id = generation << 32 | (slot + 1): a slot is reused after its job is
 * removed, with its generation raised, so the old id no longer matches.
 * Id 0 is never given. Not thread-safe: the dispatcher's lock serialises
 * every call (see dispatch.h). */
#ifndef PACER_JOBS_H
#define PACER_JOBS_H

#include "job.h"
#include <stdint.h>

typedef struct pacer__jobs {
  pacer__job_t **slots; /* slot -> job, or NULL */
  uint32_t *gens;       /* slot -> generation of its latest id */
  uint32_t *free_slots; /* slots to reuse, newest last */
  uint32_t nslots, nfree, cap;
} pacer__jobs_t;

/* An empty table; needs no memory until the first add. */
void pacer__jobs_init(pacer__jobs_t *t);
/* Frees the table's own memory; jobs still in it are not touched. */
void pacer__jobs_destroy(pacer__jobs_t *t);

/* Gives j a new id (j->id) and enters it. 0 or PACER_ENOMEM (j untouched). */
int pacer__jobs_add(pacer__jobs_t *t, pacer__job_t *j);
/* The job with this id, or NULL if it was never given or its job has been
 * removed since. Any id is safe to ask for. */
pacer__job_t *pacer__jobs_find(const pacer__jobs_t *t, uint64_t id);
/* Removes j (which must be in t): its id finds nothing from now on. */
void pacer__jobs_remove(pacer__jobs_t *t, pacer__job_t *j);

/* For walking every job: the first job at slot *pos or after, with *pos
 * moved past it; NULL when there is none left. Start with *pos = 0. */
pacer__job_t *pacer__jobs_next(const pacer__jobs_t *t, uint32_t *pos);

#endif
