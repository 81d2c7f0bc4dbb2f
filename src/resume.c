/* SPDX-License-Identifier: MIT */
/* resume.c - pacer_resume(): the jobs an earlier run left in the spool,
 * queued again as they were (attempts spent, deadline, retry time).
 *
 * Invariants: only rows below spool_first (an earlier run's) are loaded,
 * once per dispatcher; a row that cannot be rebuilt or names no registered
 * handler stays in the spool for a later run. */
#include "config.h"
#include "handlers.h"
#include "log.h"
#include "spool.h"
#include "submit.h"
#include <string.h>

typedef struct resume_ctx {
  pacer_t *p;
  pacer_resume_info_t info;
  int64_t now, wall; /* the same instant, monotonic ns and wall ms */
} resume_ctx_t;

/* resume_one(): the rows left are this run's own jobs. */
#define RESUME_STOP 1

/* A stored wall-clock time on the monotonic clock; the past is now. */
static int64_t wall_to_now(const resume_ctx_t *c, int64_t ms)
{
  return ms <= c->wall ? c->now
                       : pacer__time_add(c->now, pacer__ms_to_ns(ms - c->wall));
}

/* Rebuilds rec's job as it was stored, for handler h, into *out (NULL when
 * the row cannot be: logged, it stays in the spool). 0 or PACER_ENOMEM. */
static int rebuild(resume_ctx_t *c, const pacer__spool_rec_t *rec,
                   const pacer__handler_t *h, pacer__job_t **out, char *key,
                   size_t key_cap)
{
  pacer_t *p = c->p;
  pacer__spool_req_t sr;
  if (pacer__spool_rec_request(rec, &sr))
    return PACER_ENOMEM;
  int rc = pacer__job_new(&sr.req, &p->cfg, c->now, out, key, key_cap);
  pacer__spool_req_release(&sr);
  if (rc) {
    pacer__logf(&p->cfg, PACER_LOG_ERROR,
                "spool: job %llu cannot be rebuilt (%s); it stays in the spool",
                (unsigned long long)rec->id, pacer_strerror(rc));
    return rc == PACER_ENOMEM ? rc : 0;
  }
  pacer__job_t *j = *out;
  j->cb = h->cb;
  j->user = h->user;
  j->spool_id = rec->id;
  /* At least one attempt is left, whatever the row says: clamped here to
   * the most any job has, and to the job's own under the lock (the
   * dispatcher's max_attempts may change). */
  j->attempts = (uint16_t)(rec->attempts < 1000 ? rec->attempts : 999);
  if (rec->deadline_ms)
    j->deadline_ns = wall_to_now(c, rec->deadline_ms);
  return 0;
}

/* Schedules one stored job again. */
static int resume_one(void *arg, const pacer__spool_rec_t *rec)
{
  resume_ctx_t *c = arg;
  pacer_t *p = c->p;
  /* Rows come in id order, and this run's jobs took the ids from
   * spool_first on: they are live here (or their row is about to go), and
   * loading them would run them twice. */
  if (rec->id >= p->spool_first)
    return RESUME_STOP;
  const pacer__handler_t *h = pacer__handler_find(p, rec->handler);
  if (!h) {
    c->info.no_handler++;
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "spool: job %llu names handler \"%s\", which is not "
                "registered; it stays in the spool",
                (unsigned long long)rec->id, rec->handler);
    return 0;
  }
  pacer__job_t *j;
  char key[PACER__KEY_MAX];
  int rc = rebuild(c, rec, h, &j, key, sizeof key);
  if (rc || !j)
    return rc;
  int64_t due = rec->state == PACER__SPOOL_WAITING && rec->due_ms > c->wall
                    ? wall_to_now(c, rec->due_ms)
                    : 0;
  pthread_mutex_lock(&p->mu);
  unsigned max = j->max_attempts ? j->max_attempts : p->sched.cfg.max_attempts;
  if (j->attempts >= max)
    j->attempts = (uint16_t)(max - 1u);
  /* Checked under the lock the shutdown takes: a job queued before it is
   * ended by it, as a submitted one; none is queued after it. */
  rc = p->shutdown ? PACER_ESHUTDOWN
                   : pacer__submit_accept(p, j, key, c->now, due);
  if (rc == 0)
    pacer__kick(p);
  pthread_mutex_unlock(&p->mu);
  if (rc) {
    pacer__job_free(j);
    return rc;
  }
  c->info.loaded++;
  c->info.in_flight += rec->state == PACER__SPOOL_STARTED;
  return 0;
}

int pacer_resume(pacer_t *p, pacer_resume_info_t *info)
{
  if (pacer__resume_info_clear(info))
    return PACER_EINVAL;
  if (!p || !p->spool)
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  int rc = p->resumed ? PACER_EINVAL : p->shutdown ? PACER_ESHUTDOWN : 0;
  p->resumed = 1;
  pthread_mutex_unlock(&p->mu);
  if (rc)
    return rc;
  resume_ctx_t c = {.p = p};
  c.now = p->clock.now(p->clock.ctx);
  c.wall = p->clock.wall(p->clock.ctx) / PACER__NS_PER_MS;
  rc = pacer__spool_load(p->spool, resume_one, &c);
  pacer__resume_info_give(info, &c.info);
  return rc == RESUME_STOP ? 0 : rc;
}
