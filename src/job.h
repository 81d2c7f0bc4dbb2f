/* SPDX-License-Identifier: MIT */
/* job.h - one accepted job: its copied request and where it is in its life.
 *
 * A job is one allocation: this struct followed by its request bytes
 * (method, URL, "Name: value" header lines, body), so a queued job costs one
 * malloc. It is in exactly one place at a time: a key's queue (QUEUED), the
 * retry timers (WAITING), a worker (INFLIGHT), or the engine's list of ended
 * jobs whose callbacks are due (ENDED). The engine's lock guards every field
 * except the request bytes, which never change after submit. */
#ifndef PACER_JOB_H
#define PACER_JOB_H

#include "list.h"
#include "resp.h"
#include <pacer/pacer.h>
#include <stdint.h>

#define PACER__KEY_MAX 256 /* bytes of a limiter key, NUL included */

typedef enum pacer__job_state {
  PACER__JOB_QUEUED = 0,
  PACER__JOB_WAITING = 1,  /* backing off before a retry */
  PACER__JOB_INFLIGHT = 2, /* handed to a worker */
  PACER__JOB_ENDED = 3     /* final; callback due or running */
} pacer__job_state_t;

struct pacer__key;
struct pacer__worker;

typedef struct pacer__job {
  pacer__link_t link; /* key queue, worker inbox or abort list, ended list */
  uint64_t id;
  uint64_t seq; /* submit order, for FIFO across keys */
  pacer_done_cb cb;
  void *user;
  struct pacer__key *key;
  struct pacer__worker *worker; /* INFLIGHT: the worker running it */
  pacer__resp_t *resp;          /* last attempt's outcome, or NULL */
  void *tx_data;                /* INFLIGHT: the transport's handle */

  int64_t submit_ns;
  int64_t deadline_ns;    /* INT64_MAX: none */
  int64_t timer_ns;       /* key in the scheduler's timer heap: QUEUED, the
                             deadline or queue-wait limit; WAITING, when the
                             retry may start (or the deadline, if sooner) */
  int64_t timeout_ns;     /* per attempt */
  int64_t first_start_ns; /* first start in this process; 0: none yet (a
                             resumed job's earlier attempts were in another
                             run, and its queue time counts from resume) */
  int64_t attempt_start_ns, attempt_end_ns;
  uint32_t timer_pos; /* heap slot */
  uint32_t breaker_ticket;

  /* max_attempts is the request's; 0: the dispatcher's, read at each retry
   * decision (it may change while the job lives). */
  uint16_t attempts, max_attempts;
  uint8_t prio;         /* pacer_priority_t */
  uint8_t state;        /* pacer__job_state_t */
  uint8_t cancel_req;   /* cancel asked while in flight */
  uint8_t retry_ok;     /* method may be retried */
  uint8_t started;      /* INFLIGHT: its worker took it from the inbox */
  uint8_t insecure;     /* PACER_REQ_INSECURE */
  uint8_t follow;       /* PACER_REQ_FOLLOW */
  uint8_t deadline_cut; /* this attempt's timeout is the job's deadline;
                           written by its worker at start, read when the
                           same worker settles it */
  uint8_t user_cancel;  /* ended by pacer_cancel() (not by a shutdown) */
  uint8_t not_retried;  /* ENDED: pacer_not_retried_t */
  int16_t error;        /* ENDED: final error (0 or PACER_E*) */
  const char *message;  /* ENDED: static detail for errors decided here */
  uint64_t spool_id;    /* its row in the spool; 0: not spooled */

  /* Request bytes, after the struct: method\0 url\0 header lines\0...
   * body\0 tag handler\0. Offsets into data; handler_off 0: none. */
  uint32_t url_off;
  uint32_t hdr_off, hdr_count; /* hdr_count NUL-terminated "Name: value" */
  uint32_t body_off, body_len;
  uint32_t tag_off, tag_len;
  uint32_t handler_off;
  char data[];
} pacer__job_t;

static inline const char *pacer__job_method(const pacer__job_t *j)
{
  return j->data;
}
static inline const char *pacer__job_url(const pacer__job_t *j)
{
  return j->data + j->url_off;
}
static inline const char *pacer__job_headers(const pacer__job_t *j)
{
  return j->data + j->hdr_off;
}
static inline const void *pacer__job_body(const pacer__job_t *j)
{
  return j->data + j->body_off;
}
static inline const void *pacer__job_tag(const pacer__job_t *j)
{
  return j->tag_len ? j->data + j->tag_off : NULL;
}
static inline const char *pacer__job_handler(const pacer__job_t *j)
{
  return j->handler_off ? j->data + j->handler_off : NULL;
}

static inline pacer__job_t *pacer__job_of(pacer__link_t *l)
{
  return pacer__container_of(l, pacer__job_t, link);
}

/* A request as this library's struct: the caller's fields over the
 * defaults (a caller built against an older header has fewer); strings
 * are still the caller's. 0 or PACER_EINVAL (src NULL or its struct_size
 * not one an _init() wrote). Any thread. */
int pacer__request_copy(pacer_request_t *dst, const pacer_request_t *src);

/* Checks req as pacer_submit() does and builds its job, submitted at now,
 * with the dispatcher's defaults from cfg (job.c). req may be a caller's
 * struct of any struct_size its _init() wrote; its strings and bytes are
 * copied. key_name[key_cap] receives the limiter key (the request's, or
 * the URL's host). Returns 0 and *out (free with pacer__job_free()), or
 * PACER_ENOMEM or the first validation error (*out NULL). Any thread;
 * touches nothing shared. */
int pacer__job_new(const pacer_request_t *req, const pacer_config_t *cfg,
                   int64_t now, pacer__job_t **out, char *key_name,
                   size_t key_cap);
/* pacer__job_new() for a request that pacer__request_copy() already made
 * whole (every field this library knows of is set, whatever its
 * struct_size says): submit copies each request once, not twice. */
int pacer__job_make(const pacer_request_t *req, const pacer_config_t *cfg,
                    int64_t now, pacer__job_t **out, char *key_name,
                    size_t key_cap);
/* Frees j and its last outcome. NULL is a no-op. The job must be in no
 * list, heap or table any more. */
void pacer__job_free(pacer__job_t *j);

#endif
