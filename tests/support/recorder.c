/* SPDX-License-Identifier: MIT */
/* recorder.c - results copied under a lock, waited for on a condition
 * variable, checked on the test's thread.
 *
 * Entries live in blocks of BLOCK that are chained, never moved: an entry
 * is written before the count that publishes it goes up (both under the
 * lock), so a reader that saw the count may read the entry without it. Job
 * ids sit in a separate array per block, so a look-up by id scans 8 bytes
 * an entry. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "recorder.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { BLOCK = 1024 };

struct rec_block {
  rec_entry_t e[BLOCK];
  uint64_t id[BLOCK];
  rec_block_t *next;
};

int64_t rec_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rec_init(recorder_t *r, unsigned flags)
{
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  r->flags = flags;
  r->first = r->last = calloc(1, sizeof *r->first);
  assert_non_null(r->first);
}

static void entry_clear(rec_entry_t *e)
{
  free(e->body);
  for (size_t i = 0; i < e->header_count; i++) {
    free((char *)e->headers[i].name);
    free((char *)e->headers[i].value);
  }
  free(e->headers);
  memset(e, 0, sizeof *e);
}

void rec_reset(recorder_t *r)
{
  pthread_mutex_lock(&r->mu);
  size_t i = 0;
  for (rec_block_t *b = r->first; b && i < r->n; b = b->next)
    for (size_t k = 0; k < BLOCK && i < r->n; k++, i++)
      entry_clear(&b->e[k]);
  r->n = 0;
  r->lost = 0;
  r->last = r->first;
  pthread_mutex_unlock(&r->mu);
}

void rec_free(recorder_t *r)
{
  rec_reset(r);
  for (rec_block_t *b = r->first, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  r->first = r->last = NULL;
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

/* Copies s into dst (cap bytes); 1 if it had to be cut. */
static int copy_text(char *dst, size_t cap, const char *s)
{
  size_t n = s ? strlen(s) : 0;
  int cut = n >= cap;
  if (cut)
    n = cap - 1;
  if (n)
    memcpy(dst, s, n);
  dst[n] = '\0';
  return cut;
}

/* The deep copies that allocate; 0, or -1 if memory ran out. */
static int copy_owned(rec_entry_t *e, const pacer_result_t *res, unsigned flags)
{
  if (flags & REC_BODY) {
    e->body = malloc(res->body_len + 1);
    if (!e->body)
      return -1;
    if (res->body_len)
      memcpy(e->body, res->body, res->body_len);
    e->body[res->body_len] = '\0';
  }
  if ((flags & REC_HEADERS) && res->header_count) {
    e->headers = calloc(res->header_count, sizeof *e->headers);
    if (!e->headers)
      return -1;
    for (size_t i = 0; i < res->header_count; i++) {
      e->headers[i].name = strdup(res->headers[i].name);
      e->headers[i].value = strdup(res->headers[i].value);
      e->header_count = i + 1;
      if (!e->headers[i].name || !e->headers[i].value)
        return -1;
    }
  }
  return 0;
}

size_t rec_add(recorder_t *r, const pacer_result_t *res, void *user)
{
  rec_entry_t e;
  memset(&e, 0, sizeof e);
  e.end_ns = rec_now_ns();
  e.id = res->id;
  e.error = res->error;
  e.status = res->status;
  e.transport_code = res->transport_code;
  e.kept = res->kept;
  e.not_retried = res->not_retried;
  e.attempts = res->attempts;
  e.priority = res->priority;
  e.queue_us = res->queue_us;
  e.transfer_us = res->transfer_us;
  e.total_us = res->total_us;
  e.user = user;
  e.body_len = res->body_len;
  e.text_cut |= copy_text(e.message, sizeof e.message, res->message);
  e.text_cut |= copy_text(e.key, sizeof e.key, res->key);
  e.handler_null = res->handler == NULL;
  e.text_cut |= copy_text(e.handler, sizeof e.handler, res->handler);
  e.tag_null = res->tag == NULL;
  e.tag_len = res->tag_len;
  if (res->tag && res->tag_len <= sizeof e.tag)
    memcpy(e.tag, res->tag, res->tag_len);
  else if (res->tag)
    e.text_cut = 1;
  int lost = copy_owned(&e, res, r->flags) != 0;

  pthread_mutex_lock(&r->mu);
  size_t slot = r->n % BLOCK;
  if (r->n && slot == 0) { /* the current block is full: the next one */
    rec_block_t *b = r->last->next ? r->last->next : calloc(1, sizeof *b);
    if (!b) {
      r->lost = 1;
      pthread_cond_broadcast(&r->cv);
      size_t n = r->n;
      pthread_mutex_unlock(&r->mu);
      entry_clear(&e);
      return n;
    }
    r->last->next = b;
    r->last = b;
  }
  r->lost |= lost;
  r->last->e[slot] = e;
  r->last->id[slot] = e.id;
  size_t n = ++r->n;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return n;
}

void rec_on_done(const pacer_result_t *res, void *user)
{
  rec_add(user, res, user);
}

recorder_t rec;

int rec_group_setup(void **state)
{
  (void)state;
  rec_init(&rec, REC_BODY | REC_HEADERS);
  rec_any_to(&rec);
  return 0;
}

int rec_group_teardown(void **state)
{
  (void)state;
  rec_any_to(NULL);
  rec_free(&rec);
  return 0;
}

static recorder_t *any; /* rec_on_any()'s recorder; atomic */

void rec_any_to(recorder_t *r)
{
  __atomic_store_n(&any, r, __ATOMIC_SEQ_CST);
}

void rec_on_any(const pacer_result_t *res, void *user)
{
  recorder_t *r = __atomic_load_n(&any, __ATOMIC_SEQ_CST);
  if (r)
    rec_add(r, res, user);
}

size_t rec_count(recorder_t *r)
{
  pthread_mutex_lock(&r->mu);
  size_t n = r->n;
  pthread_mutex_unlock(&r->mu);
  return n;
}

int rec_wait_for(recorder_t *r, size_t n, int64_t timeout_ms)
{
  if (timeout_ms < 0)
    timeout_ms = 60000;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (timeout_ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  int rc = 0;
  pthread_mutex_lock(&r->mu);
  while (r->n < n && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
  int ok = r->n >= n;
  pthread_mutex_unlock(&r->mu);
  return ok ? 0 : -1;
}

void rec_wait(recorder_t *r, size_t n)
{
  if (rec_wait_for(r, n, -1) != 0) {
    fprintf(stderr, "rec_wait: %zu of %zu results after 60 s\n", rec_count(r),
            n);
    fail();
  }
}

/* Entry i; the lock is held (or no callback runs). */
static rec_entry_t *entry(recorder_t *r, size_t i)
{
  rec_block_t *b = r->first;
  for (size_t k = i / BLOCK; k; k--)
    b = b->next;
  return &b->e[i % BLOCK];
}

const rec_entry_t *rec_at(recorder_t *r, size_t i)
{
  pthread_mutex_lock(&r->mu);
  size_t n = r->n;
  const rec_entry_t *e = i < n ? entry(r, i) : NULL;
  pthread_mutex_unlock(&r->mu);
  if (!e)
    fprintf(stderr, "rec_at: no result %zu (%zu so far)\n", i, n);
  assert_non_null(e);
  return e;
}

/* Entries with job id: how many, and the first in *first. */
static size_t find_id(recorder_t *r, uint64_t id, const rec_entry_t **first)
{
  pthread_mutex_lock(&r->mu);
  size_t c = 0, i = 0;
  *first = NULL;
  for (rec_block_t *b = r->first; b && i < r->n; b = b->next)
    for (size_t k = 0; k < BLOCK && i < r->n; k++, i++)
      if (b->id[k] == id && c++ == 0)
        *first = &b->e[k];
  pthread_mutex_unlock(&r->mu);
  return c;
}

size_t rec_calls(recorder_t *r, uint64_t id)
{
  const rec_entry_t *e;
  return find_id(r, id, &e);
}

const rec_entry_t *rec_of(recorder_t *r, uint64_t id)
{
  const rec_entry_t *e;
  size_t c = find_id(r, id, &e);
  if (c != 1)
    fprintf(stderr, "rec_of: job %llu ended %zu times\n",
            (unsigned long long)id, c);
  assert_int_equal(c, 1);
  return e;
}

static size_t find_tag(recorder_t *r, const void *tag, size_t tag_len,
                       const rec_entry_t **first)
{
  pthread_mutex_lock(&r->mu);
  size_t c = 0;
  *first = NULL;
  for (size_t i = 0; i < r->n; i++) {
    const rec_entry_t *e = entry(r, i);
    if (!e->tag_null && e->tag_len == tag_len &&
        memcmp(e->tag, tag, tag_len) == 0 && c++ == 0)
      *first = e;
  }
  pthread_mutex_unlock(&r->mu);
  return c;
}

size_t rec_calls_tag(recorder_t *r, const void *tag, size_t tag_len)
{
  const rec_entry_t *e;
  return find_tag(r, tag, tag_len, &e);
}

const rec_entry_t *rec_of_tag(recorder_t *r, const void *tag, size_t tag_len)
{
  const rec_entry_t *e;
  size_t c = find_tag(r, tag, tag_len, &e);
  if (c != 1)
    fprintf(stderr, "rec_of_tag: tag \"%.*s\" ended %zu times\n", (int)tag_len,
            (const char *)tag, c);
  assert_int_equal(c, 1);
  return e;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The ids of every entry, sorted (free()); *n their number. */
static uint64_t *sorted_ids(recorder_t *r, size_t *n, int *lost)
{
  pthread_mutex_lock(&r->mu);
  *n = r->n;
  *lost = r->lost;
  uint64_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
  size_t i = 0;
  for (rec_block_t *b = r->first; ids && b && i < *n; b = b->next)
    for (size_t k = 0; k < BLOCK && i < *n; k++)
      ids[i++] = b->id[k];
  pthread_mutex_unlock(&r->mu);
  assert_non_null(ids);
  qsort(ids, *n, sizeof *ids, cmp_u64);
  return ids;
}

void rec_assert_distinct(recorder_t *r)
{
  size_t n;
  int lost;
  uint64_t *ids = sorted_ids(r, &n, &lost);
  size_t twice = n;
  for (size_t i = 1; i < n && twice == n; i++)
    if (ids[i] == ids[i - 1])
      twice = i;
  if (twice < n)
    fprintf(stderr, "job %llu ended more than once\n",
            (unsigned long long)ids[twice]);
  free(ids);
  assert_int_equal(lost, 0);
  assert_int_equal(twice, n);
}

void rec_assert_once(recorder_t *r, const uint64_t *ids, size_t n)
{
  size_t got_n, want_n = 0;
  int lost;
  uint64_t *got = sorted_ids(r, &got_n, &lost);
  uint64_t *want = malloc((n ? n : 1) * sizeof *want);
  assert_non_null(want);
  for (size_t i = 0; i < n; i++)
    if (ids[i])
      want[want_n++] = ids[i];
  qsort(want, want_n, sizeof *want, cmp_u64);
  /* The first place where the two sorted lists differ, if any. */
  size_t i = 0;
  while (i < want_n && i < got_n && want[i] == got[i])
    i++;
  if (i < want_n || i < got_n) {
    if (i < want_n && (i >= got_n || want[i] < got[i]))
      fprintf(stderr,
              "job %llu did not end, or ended twice (%zu ends of %zu "
              "jobs)\n",
              (unsigned long long)want[i], got_n, want_n);
    else
      fprintf(stderr,
              "job %llu ended unasked, or twice (%zu ends of %zu "
              "jobs)\n",
              (unsigned long long)got[i], got_n, want_n);
  }
  free(want);
  free(got);
  assert_int_equal(lost, 0);
  assert_int_equal(got_n, want_n);
  assert_int_equal(i, want_n);
}

void rec_assert_all(recorder_t *r, const uint64_t *ids, size_t n, int error,
                    int status)
{
  size_t bad = n;
  for (size_t i = 0; i < n && bad == n; i++) {
    const rec_entry_t *e;
    size_t c = find_id(r, ids[i], &e);
    if (c != 1 || e->error != error || e->status != status) {
      bad = i;
      fprintf(stderr, "job %zu (id %llu): %zu ends, error %s, status %d\n", i,
              (unsigned long long)ids[i], c, pacer_err_name(e ? e->error : 0),
              e ? e->status : 0);
    }
  }
  assert_int_equal(bad, n);
}

const char *rec_header(const rec_entry_t *e, const char *name)
{
  for (size_t i = 0; i < e->header_count; i++)
    if (strcasecmp(e->headers[i].name, name) == 0)
      return e->headers[i].value;
  return NULL;
}
