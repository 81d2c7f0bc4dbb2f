/* SPDX-License-Identifier: MIT */
/* jobs.c - the live jobs of a dispatcher by id.
 *
 * Invariants: slots[i] is NULL exactly when i is in free_slots (or i >=
 * nslots); a job in the table has id gens[i] << 32 | (i + 1). The three
 * arrays always have cap entries, so removing never allocates. */
#include "jobs.h"
#include <stdlib.h>
#include <string.h>

#define SLOT(id) ((id)&0xffffffffu) /* slot + 1; 0: no slot */

void pacer__jobs_init(pacer__jobs_t *t)
{
  memset(t, 0, sizeof *t);
}

void pacer__jobs_destroy(pacer__jobs_t *t)
{
  free(t->slots);
  free(t->gens);
  free(t->free_slots);
  pacer__jobs_init(t);
}

/* Doubles the arrays; on failure the ones grown already are kept, which
 * is harmless as cap is only raised once all three have grown. */
static int grow(pacer__jobs_t *t)
{
  uint32_t cap = t->cap ? t->cap * 2 : 1024;
  if (cap > UINT32_MAX / 2)
    return PACER_ENOMEM;
  pacer__job_t **s = realloc(t->slots, cap * sizeof *s);
  if (!s)
    return PACER_ENOMEM;
  t->slots = s;
  uint32_t *g = realloc(t->gens, cap * sizeof *g);
  if (!g)
    return PACER_ENOMEM;
  t->gens = g;
  uint32_t *f = realloc(t->free_slots, cap * sizeof *f);
  if (!f)
    return PACER_ENOMEM;
  t->free_slots = f;
  t->cap = cap;
  return 0;
}

int pacer__jobs_add(pacer__jobs_t *t, pacer__job_t *j)
{
  uint32_t i;
  if (t->nfree) {
    i = t->free_slots[--t->nfree];
  } else {
    if (t->nslots == t->cap && grow(t))
      return PACER_ENOMEM;
    i = t->nslots++;
    t->gens[i] = 0;
  }
  t->gens[i]++;
  t->slots[i] = j;
  j->id = ((uint64_t)t->gens[i] << 32) | (uint64_t)(i + 1);
  return 0;
}

pacer__job_t *pacer__jobs_find(const pacer__jobs_t *t, uint64_t id)
{
  if (SLOT(id) == 0 || SLOT(id) - 1 >= t->nslots)
    return NULL;
  pacer__job_t *j = t->slots[SLOT(id) - 1];
  return j && j->id == id ? j : NULL;
}

void pacer__jobs_remove(pacer__jobs_t *t, pacer__job_t *j)
{
  uint32_t i = (uint32_t)(SLOT(j->id) - 1);
  t->slots[i] = NULL;
  t->free_slots[t->nfree++] = i;
}

pacer__job_t *pacer__jobs_next(const pacer__jobs_t *t, uint32_t *pos)
{
  while (*pos < t->nslots) {
    pacer__job_t *j = t->slots[(*pos)++];
    if (j)
      return j;
  }
  return NULL;
}
