/* SPDX-License-Identifier: MIT */
/* deliver.c - running each ended job's callback once, then releasing it.
 *
 * Invariants: a job reaches here once, ENDED and out of every scheduler
 * structure but its key's hold; its id resolves until its callback has
 * returned, so pacer_cancel() of it answers PACER_ENOTFOUND (it has ended)
 * rather than finding a later job; live drops only after the callback. */
#include "deliver.h"
#include "spool.h"
#include <stdlib.h>
#include <string.h>

/* The dispatcher whose callback this thread is running, if any. */
static _Thread_local pacer_t *in_callback;
/* The job whose callback this thread is running, and whether the callback
 * asked to keep it in the spool (pacer_keep()). */
static _Thread_local pacer__job_t *cb_job;
static _Thread_local int cb_keep;

pacer_t *pacer__in_callback(void)
{
  return in_callback;
}

int pacer_keep(pacer_t *p, uint64_t id)
{
  if (!p || in_callback != p || !cb_job || cb_job->id != id ||
      !cb_job->spool_id)
    return PACER_EINVAL;
  cb_keep = 1;
  return 0;
}

/* mu held: counts j's end for pacer_stats_get(). */
static void account_end(pacer_t *p, const pacer__job_t *j)
{
  switch (j->error) {
  case 0:
    if (j->resp && j->resp->status >= 400)
      p->failed_http++;
    else
      p->succeeded++;
    break;
  case PACER_ETRANSPORT:
  case PACER_ETLS:
  case PACER_ESCHEME:
    p->failed_transport++;
    break;
  case PACER_ETIMEDOUT:
    p->failed_timeout++;
    break;
  case PACER_ETOOLARGE:
    p->failed_too_large++;
    break;
  case PACER_ERETRIES:
  case PACER_EBUDGET: /* retries that did not save the job, too */
    p->failed_retries++;
    break;
  case PACER_EDEADLINE:
    p->failed_deadline++;
    break;
  case PACER_EBREAKER:
    p->failed_breaker++;
    break;
  case PACER_ECANCELED:
    p->cancelled++;
    break;
  case PACER_EEXPIRED:
    p->expired++;
    break;
  case PACER_ESHED:
    p->shed++;
    break;
  default:
    p->failed_other++;
  }
}

/* The result of ended job j at now; its pointers borrow from j. */
static void result_of(const pacer__job_t *j, int64_t now, pacer_result_t *r)
{
  const pacer__resp_t *rs = j->resp;
  memset(r, 0, sizeof *r);
  r->id = j->id;
  r->error = j->error;
  r->status = rs ? rs->status : 0;
  r->transport_code = rs ? rs->transport_code : 0;
  if (j->message)
    r->message = j->message;
  else if (j->error && rs && rs->message[0])
    r->message = rs->message;
  else
    r->message = j->error ? pacer_strerror(j->error) : "";
  r->headers = rs ? rs->headers : NULL;
  r->header_count = rs ? rs->header_count : 0;
  r->body = rs && rs->body ? rs->body : "";
  r->body_len = rs ? rs->body_len : 0;
  r->attempts = j->attempts;
  r->priority = (pacer_priority_t)j->prio;
  r->key = j->key->name;
  r->url = pacer__job_url(j);
  int64_t first = j->first_start_ns ? j->first_start_ns : now;
  r->queue_us = (first - j->submit_ns) / 1000;
  r->transfer_us = j->attempts && j->attempt_end_ns > j->attempt_start_ns
                       ? (j->attempt_end_ns - j->attempt_start_ns) / 1000
                       : 0;
  r->total_us = (now - j->submit_ns) / 1000;
  r->tag = pacer__job_tag(j);
  r->tag_len = j->tag_len;
  r->handler = pacer__job_handler(j);
  r->kept = j->spool_id && j->error == PACER_ECANCELED && !j->user_cancel;
  r->not_retried = j->not_retried;
}

/* Runs j's callback; returns 1 if its spool row is to be kept. The
 * thread's callback context is saved and put back around it rather than
 * cleared, so it stays exact however callbacks nest. */
static int run_callback(pacer_t *p, pacer__job_t *j, const pacer_result_t *r)
{
  pacer_t *outer = in_callback;
  pacer__job_t *outer_job = cb_job;
  int outer_keep = cb_keep;
  in_callback = p;
  cb_job = j;
  cb_keep = 0;
  j->cb(r, j->user);
  int keep = r->kept || cb_keep;
  in_callback = outer;
  cb_job = outer_job;
  cb_keep = outer_keep;
  return keep;
}

void pacer__deliver_events(pacer_t *p, pacer__event_node_t *list)
{
  if (!list)
    return;
  pacer_t *outer = in_callback;
  in_callback = p;
  for (pacer__event_node_t *n = list; n; n = n->next)
    p->cfg.event_cb(&n->ev, p->cfg.event_user);
  in_callback = outer;
  pacer__events_free(list);
}

void pacer__deliver(pacer_t *p, pacer__link_t *ended)
{
  if (pacer__list_empty(ended))
    return;
  int64_t now = p->clock.now(p->clock.ctx);
  for (pacer__link_t *l = ended->next; l != ended; l = l->next) {
    pacer__job_t *j = pacer__job_of(l);
    pacer_result_t r;
    result_of(j, now, &r);
    int keep = run_callback(p, j, &r);
    /* After the callback: at least once. */
    if (j->spool_id && !keep)
      pacer__spool_done(p->spool, j->spool_id, j->error == 0 && r.status < 400);
  }
  pthread_mutex_lock(&p->mu);
  for (pacer__link_t *l = ended->next; l != ended; l = l->next) {
    pacer__job_t *j = pacer__job_of(l);
    account_end(p, j);
    pacer__sched_release(&p->sched, j, now);
    pacer__jobs_remove(&p->jobs, j);
    p->live--;
  }
  if (p->live == 0)
    pthread_cond_broadcast(&p->drain_cond);
  pthread_mutex_unlock(&p->mu);
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(ended)))
    pacer__job_free(pacer__job_of(l));
}
