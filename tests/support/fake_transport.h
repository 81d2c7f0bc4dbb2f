/* SPDX-License-Identifier: MIT */
/* fake_transport.h - a scriptable transport for tests: a responder decides
 * each attempt's reply at start, or holds it until the test releases it, the
 * dispatcher aborts it, or its timeout passes on the (fake) clock. It keeps a
 * log of starts and the peak number in flight, overall and per key. */
#ifndef PACER_FAKE_TRANSPORT_H
#define PACER_FAKE_TRANSPORT_H

#include "fake_clock.h"
#include "transport.h"
#include <pthread.h>
#include <stdint.h>

typedef struct fake_reply {
  int hold;  /* 1: no reply until released/aborted/timed out */
  int error; /* 0: HTTP reply; else a PACER_E transport error */
  int status;
  const char *retry_after; /* Retry-After value, or NULL */
  const char *body;        /* or NULL */
  /* Connections the attempt reports (pacer_conn_stats_t): opened, TLS
   * handshakes, and the response's HTTP version (1, 2, 3; 0: none). */
  unsigned conns, tls_full, tls_resumed;
  int http_version;
} fake_reply_t;

/* Decides the reply for job's current attempt (job->attempts counts it).
 * Called on a worker thread with no lock held; the default reply is 200. */
typedef void (*fake_responder_fn)(void *user, const pacer__job_t *job,
                                  fake_reply_t *reply);

/* A responder that holds every attempt (until released, aborted or timed
 * out). */
void fake_reply_hold(void *user, const pacer__job_t *job, fake_reply_t *reply);

typedef struct fake_start {
  uint64_t id;
  unsigned attempt;
  int prio;
  int64_t t; /* clock time of the start */
  char key[64];
} fake_start_t;

typedef struct fake_tx fake_tx_t;

/* clock may be NULL for the real clock. */
fake_tx_t *fake_tx_new(fake_clock_t *clock, fake_responder_fn fn, void *user);
void fake_tx_free(fake_tx_t *f);
pacer__transport_t fake_tx_iface(fake_tx_t *f);

/* Ends a held attempt of job id with reply. 0, or -1 if none is held. */
int fake_tx_release(fake_tx_t *f, uint64_t id, const fake_reply_t *reply);
/* Ends every held attempt with reply; returns how many. */
size_t fake_tx_release_all(fake_tx_t *f, const fake_reply_t *reply);

size_t fake_tx_held(fake_tx_t *f);
/* Makes every fake_tx_wait_held() return now and from now on. */
void fake_tx_stop_waiting(fake_tx_t *f);
/* Blocks until at least n attempts are held / have started (or stop). */
void fake_tx_wait_held(fake_tx_t *f, size_t n);
void fake_tx_wait_starts(fake_tx_t *f, uint64_t n);
uint64_t fake_tx_starts(fake_tx_t *f);
unsigned fake_tx_max_inflight(fake_tx_t *f);
/* Peak in flight for one key (0 if never seen). */
unsigned fake_tx_key_max_inflight(fake_tx_t *f, const char *key);
/* What the engine handed the transport's open() (the last one), copied:
 * the settings an attempt would use. */
typedef struct fake_tx_opened {
  unsigned opens;
  char user_agent[128]; /* "" when NULL */
  char ca_file[256], ca_path[256];
  int64_t timeout_ms, connect_timeout_ms;
  size_t max_header_bytes, max_response_bytes;
  int tls_verify;
  /* share_open() calls and share_close() calls; the share every open() was
   * given was share_open()'s (1), or another / none (0). */
  unsigned share_opens, share_closes;
  int share_given;
} fake_tx_opened_t;

void fake_tx_opened(fake_tx_t *f, fake_tx_opened_t *out);

/* Per instance, in the order they were opened (a closed one keeps its
 * place), up to cap of them: the host cap set_connections() gave it into
 * caps, the attempts it started into starts. Returns how many instances
 * were opened. */
size_t fake_tx_instances(fake_tx_t *f, unsigned *caps, uint64_t *starts,
                         size_t cap);

/* Every HTTP reply from now on also carries the header lines in lines
 * ("Name: value", separated by '\n'; copied); NULL: none again. */
void fake_tx_set_headers(fake_tx_t *f, const char *lines);

/* Copies up to cap start records from index from; returns how many. */
size_t fake_tx_log(fake_tx_t *f, size_t from, fake_start_t *out, size_t cap);

#endif
