/* SPDX-License-Identifier: MIT */
/* spool.h - the durable spool: accepted jobs kept in SQLite until their
 * callback has returned, so a dispatcher that dies loses none of them.
 *
 * One writer thread owns every write and runs them in group commits: all
 * the operations queued while a transaction runs go into the next one, so
 * concurrent submitters share a commit. Adding jobs and marking attempts as
 * started wait for their commit (a job is durable before submit returns; an
 * attempt is recorded before its request leaves, so a job sent again after a
 * crash is always one the spool shows as in flight). Retry times and
 * finished jobs are queued without waiting: losing them in a crash only
 * sends a job again, never loses one. "<path>.lock" is flock()ed while
 * a dispatcher has it open. */
#ifndef PACER_SPOOL_H
#define PACER_SPOOL_H

#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pacer__spool pacer__spool_t;

#define PACER__SPOOL_VERSION 1

/* Row states. */
enum {
  PACER__SPOOL_QUEUED = 0,
  PACER__SPOOL_WAITING = 1, /* waiting to retry */
  PACER__SPOOL_STARTED = 2  /* an attempt was sent, no outcome recorded */
};

/* One job as stored. Strings and blobs are borrowed (by add, from the
 * caller until it returns; by load, until the callback returns). */
typedef struct pacer__spool_rec {
  uint64_t id;
  int state;
  unsigned attempts, max_attempts;
  int64_t due_ms;      /* wall clock ms: a retry not before; 0 */
  int64_t deadline_ms; /* wall clock ms; 0: none */
  int64_t created_ms;  /* wall clock ms */
  int64_t timeout_ms;  /* per attempt; 0: the dispatcher's */
  int priority;
  unsigned flags;
  const char *handler;
  const char *key; /* NULL: the URL's host */
  const char *method;
  const char *url;
  const char *headers; /* "Name: value" lines, each ended by a NUL */
  size_t headers_len;
  const void *body;
  size_t body_len;
  const void *tag;
  size_t tag_len;
} pacer__spool_rec_t;

/* Opens or creates the spool at path (mode 0600, WAL). sync_full: 1 for
 * synchronous=FULL, 0 for NORMAL. Returns 0, PACER_ESPOOL (cannot open or
 * create, not a spool, corrupt), PACER_ESPOOLBUSY (another dispatcher has
 * it), PACER_ESPOOLVERSION (a newer schema) or PACER_ENOMEM; err gets the
 * detail. */
int pacer__spool_open(const char *path, int sync_full, pacer__spool_t **out,
                      char *err, size_t errlen);
/* Commits every queued operation, stops the writer and closes. */
void pacer__spool_close(pacer__spool_t *s);

/* Sends the writer's failures that nobody waits for (a finished job or a
 * retry time not recorded) to cb at PACER_LOG_ERROR, if level lets them
 * through; cb runs on the writer thread with no lock held. Without it they
 * are dropped. Call it before the spool is shared. */
void pacer__spool_set_log(pacer__spool_t *s, pacer_log_cb cb, void *user,
                          pacer_log_level_t level);

/* 1 if the row of r fits SQLite's length limit, else 0: such a job must be
 * refused alone at submit, as a row over the limit fails its whole group
 * commit (other submitters' jobs and the started marks with it). size and
 * max (each may be NULL) get the row's size, at most, and the limit, in
 * bytes. Any thread. */
int pacer__spool_fits(pacer__spool_t *s, const pacer__spool_rec_t *r,
                      size_t *size, size_t *max);
/* Sets SQLite's length limit (SQLITE_LIMIT_LENGTH; it can only be lowered)
 * and returns the old one: lets tests reach the limit without gigabytes. */
int pacer__spool_limit_length(pacer__spool_t *s, int limit);

/* The spool's identity ("6f1c…", 16 hex digits), for Idempotency-Key. */
const char *pacer__spool_uuid(const pacer__spool_t *s);
/* Reserves n consecutive new job ids; returns the first. Any thread. */
uint64_t pacer__spool_reserve(pacer__spool_t *s, size_t n);

/* Stores n jobs (n may be 0), and mark unless NULL, in one group commit
 * and waits for it. 0 or PACER_ESPOOL (nothing stored; err gets the
 * detail). Any thread. */
int pacer__spool_add(pacer__spool_t *s, const pacer__spool_rec_t *recs,
                     size_t n, const char *mark, char *err, size_t errlen);
/* Records that attempts[i] of job ids[i] is starting; waits for the commit.
 * 0 or PACER_ESPOOL. */
int pacer__spool_started(pacer__spool_t *s, const uint64_t *ids,
                         const unsigned *attempts, size_t n);
/* Queues: job id waits to retry from due_ms (wall clock) after attempts. */
void pacer__spool_waiting(pacer__spool_t *s, uint64_t id, unsigned attempts,
                          int64_t due_ms);
/* Queues: job id has ended and its callback returned (ok: it succeeded). */
void pacer__spool_done(pacer__spool_t *s, uint64_t id, int ok);
/* Queues: job id was never accepted after all (submit failed late). Out
 * of memory to queue it, deletes the row at once instead. */
void pacer__spool_forget(pacer__spool_t *s, uint64_t id);

/* Calls fn for every stored job, in id order; fn returns 0 to go on.
 * Returns 0, fn's non-zero value, or PACER_ESPOOL. */
int pacer__spool_load(pacer__spool_t *s,
                      int (*fn)(void *ctx, const pacer__spool_rec_t *rec),
                      void *ctx);

/* The row of request r, accepted as job id at wall_ms (wall clock ms):
 * fills *rec, borrowing r's strings and bytes. lines[lines_len] are the
 * job's headers as the row stores them ("Name: value" lines, each ended by
 * a NUL: the job's own copy, pacer__job_headers()). Any thread. */
void pacer__spool_rec_from_request(pacer__spool_rec_t *rec, uint64_t id,
                                   const pacer_request_t *r, const char *lines,
                                   size_t lines_len, int64_t wall_ms);

/* A stored job as a request again. req borrows from the row it was made
 * from and from the memory here: release it with pacer__spool_req_release()
 * before the row goes. */
typedef struct pacer__spool_req {
  pacer_request_t req;
  pacer_header_t *headers; /* req.headers */
  char *lines;             /* the row's header lines, split in place */
} pacer__spool_req_t;

/* Makes *out from rec (a row given by pacer__spool_load()): its fields,
 * and its header lines parsed into name and value. Lines without ": " are
 * left out, and a header block not ended by a NUL gives no header rather
 * than a bad read. 0 or PACER_ENOMEM (nothing to release). Any thread. */
int pacer__spool_rec_request(const pacer__spool_rec_t *rec,
                             pacer__spool_req_t *out);
/* Frees what pacer__spool_rec_request() allocated. */
void pacer__spool_req_release(pacer__spool_req_t *r);

#endif
