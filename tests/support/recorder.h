/* SPDX-License-Identifier: MIT */
/* recorder.h - the results of jobs, copied where each job ends, for tests to
 * wait on and check on their own thread.
 *
 * A job's callback (rec_on_done, or a test's own callback that calls
 * rec_add) runs on one of the dispatcher's threads: it copies what the
 * result says into a new entry under the recorder's lock and wakes
 * waiters; it never asserts. The test's thread waits for n entries (a
 * bounded wait that fails the test rather than hang it), then reads and
 * asserts: each job ended exactly once, and how. Entries never move once
 * added, so a pointer to one stays valid until rec_reset() or rec_free(),
 * even while other jobs still end. The callback allocates nothing unless
 * bodies or headers are asked for (or past each 1024th entry), so a test
 * whose own allocations fail on purpose can record too. */
#ifndef PACER_RECORDER_H
#define PACER_RECORDER_H

#include <pacer/pacer.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* What rec_init() copies besides the fixed fields. */
enum {
  REC_BODY = 1,   /* the body, NUL-terminated (allocated in the callback) */
  REC_HEADERS = 2 /* the response headers (allocated in the callback) */
};

/* One job's end as its callback saw it: copies, owned by the recorder.
 * Text longer than its field is cut; *_cut says so. */
typedef struct rec_entry {
  uint64_t id;
  int error, status, transport_code, kept;
  int not_retried; /* pacer_result_t.not_retried */
  unsigned attempts;
  pacer_priority_t priority;
  int64_t queue_us, transfer_us, total_us;
  int64_t end_ns; /* CLOCK_MONOTONIC when the callback ran */
  void *user;     /* the user pointer the callback got */
  size_t body_len;
  char *body; /* with REC_BODY: the whole body, NUL-terminated; else NULL */
  pacer_header_t *headers; /* with REC_HEADERS: copies, in order */
  size_t header_count;
  char message[256];
  char handler[32]; /* "" when NULL */
  int handler_null;
  unsigned char tag[64];
  size_t tag_len;
  int tag_null; /* the result's tag was NULL */
  int text_cut; /* message, handler or tag did not fit */
  char key[64];
} rec_entry_t;

typedef struct rec_block rec_block_t;

typedef struct recorder {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  unsigned flags;
  size_t n;
  int lost; /* an entry (or its copy) could not be allocated */
  rec_block_t *first, *last;
} recorder_t;

/* The recorder of the test executable, shared by its callbacks and
 * checks: rec_group_setup() makes it (bodies and headers copied) and sends
 * rec_on_any() to it; rec_group_teardown() frees it. As CMocka group setup
 * and teardown, or called from them. A test whose allocations fail on
 * purpose makes it with rec_init(&rec, 0) instead: its callbacks then
 * allocate nothing. */
extern recorder_t rec;
int rec_group_setup(void **state);
int rec_group_teardown(void **state);

/* Makes an empty recorder; flags: REC_BODY | REC_HEADERS, or 0. Room for
 * the first 1024 entries is made here, not in callbacks. */
void rec_init(recorder_t *r, unsigned flags);
/* Frees every entry and the recorder's own memory. */
void rec_free(recorder_t *r);
/* Forgets every entry (pointers to them become invalid); no callback may be
 * running. */
void rec_reset(recorder_t *r);

/* A pacer_done_cb: user is the recorder_t. */
void rec_on_done(const pacer_result_t *res, void *user);
/* A pacer_done_cb for jobs whose user pointer is not a recorder (a
 * handler's own, NULL users of a batch): records into the recorder last
 * given to rec_any_to(), with the user pointer it got. */
void rec_on_any(const pacer_result_t *res, void *user);
/* Where rec_on_any() records from now on (NULL: nowhere). Set it before
 * the jobs are submitted; the test's thread. */
void rec_any_to(recorder_t *r);
/* Records res as seen by a callback that got user; for a test's own
 * callback. Any thread. Returns the number of entries now. */
size_t rec_add(recorder_t *r, const pacer_result_t *res, void *user);

/* CLOCK_MONOTONIC in ns: the clock of end_ns, and the one pacer schedules
 * by. Any thread. */
int64_t rec_now_ns(void);

/* Entries so far (any thread). */
size_t rec_count(recorder_t *r);
/* Blocks until at least n entries, or timeout_ms of real time (-1: 60 s).
 * 0, or -1 on time out. */
int rec_wait_for(recorder_t *r, size_t n, int64_t timeout_ms);
/* As rec_wait_for() with 60 s, and fails the test if they do not come:
 * a job that never ends fails rather than hangs. The test's thread only. */
void rec_wait(recorder_t *r, size_t n);

/* Entry i in the order callbacks ran; fails the test if there is none. The
 * test's thread only. */
const rec_entry_t *rec_at(recorder_t *r, size_t i);
/* How many entries carry job id. */
size_t rec_calls(recorder_t *r, uint64_t id);
/* The one entry of job id; fails the test unless there is exactly one. */
const rec_entry_t *rec_of(recorder_t *r, uint64_t id);
/* How many entries carry this tag (tag_len bytes). */
size_t rec_calls_tag(recorder_t *r, const void *tag, size_t tag_len);
/* The one entry with this tag; fails the test unless exactly one. */
const rec_entry_t *rec_of_tag(recorder_t *r, const void *tag, size_t tag_len);

/* The value of response header name (any case) in e, or NULL; needs
 * REC_HEADERS. */
const char *rec_header(const rec_entry_t *e, const char *name);

/* After collecting, on the test's thread: every job of ids[0..n) ended
 * exactly once, no other job ended, and nothing was lost. A 0 in ids (a
 * submit that was refused) must have no entry: it is skipped. */
void rec_assert_once(recorder_t *r, const uint64_t *ids, size_t n);
/* Every job of ids[0..n) ended exactly once, each with error and status
 * (other jobs may have ended too); names the first that did not. */
void rec_assert_all(recorder_t *r, const uint64_t *ids, size_t n, int error,
                    int status);
/* Every entry carries a different job id, and nothing was lost. */
void rec_assert_distinct(recorder_t *r);

#endif
