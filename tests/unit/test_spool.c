/* SPDX-License-Identifier: MIT */
/* test_spool.c - the durable spool: the module itself (file modes, WAL,
 * records kept byte for byte, ids never reused, row states, group commit
 * under 4 threads), the files it must refuse untouched (busy, garbage,
 * foreign database, newer schema, missing directory, a full disk in a child
 * process), and the engine over it with a fake transport and a fake clock:
 * handlers, Idempotency-Key, kept jobs, resume with attempts and retry times,
 * cancel and batches. Each test works in its own mkdtemp directory, removed
 * afterwards. Nothing sleeps: threads report under a lock and the main
 * thread asserts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine_fixture.h"
#include "logcap.h"
#include "recorder.h"
#include "spool.h"
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS

/* ---- the temporary directory ---- */

static char dir[64];

static int make_dir(void **state)
{
  (void)state;
  scratch_make(dir, sizeof dir);
  return 0;
}

static int remove_dir(void **state)
{
  (void)state;
  return scratch_remove(dir);
}

/* dir/name in a static buffer (one of 4, so a few can be held at once). */
static const char *in_dir(const char *name)
{
  static char bufs[4][256];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
  return b;
}

static int file_mode(const char *path)
{
  struct stat st;
  if (stat(path, &st))
    return -1;
  return (int)(st.st_mode & 0777);
}

static int file_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

/* The whole file; *len gets its size. Free with free(). */
static unsigned char *read_all(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  unsigned char *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Runs sql on the file at path with SQLite directly. */
static void sql_on(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The first column of the first row of sql, as text, into out. */
static void sql_text(const char *path, const char *sql, char *out, size_t cap)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void status_of(const char *path, pacer_spool_status_t *st)
{
  int rc = pacer_spool_status(path, st);
  if (rc)
    fprintf(stderr, "pacer_spool_status: %s: %s\n", pacer_err_name(rc),
            st->message);
  assert_int_equal(rc, 0);
  assert_string_equal(st->integrity, "ok");
  assert_int_equal(st->version, PACER__SPOOL_VERSION);
}

static pacer__spool_t *open_ok(const char *path)
{
  pacer__spool_t *s = NULL;
  char err[512] = "";
  int rc = pacer__spool_open(path, 0, &s, err, sizeof err);
  if (rc)
    fprintf(stderr, "pacer__spool_open: %s: %s\n", pacer_err_name(rc), err);
  assert_int_equal(rc, 0);
  assert_non_null(s);
  return s;
}

/* ---- records: expected and loaded ---- */

static void *dup_bytes(const void *p, size_t n)
{
  if (!p)
    return NULL;
  void *d = malloc(n + 1);
  assert_non_null(d);
  memcpy(d, p, n);
  ((char *)d)[n] = 0;
  return d;
}

static char *dup_str(const char *s)
{
  return s ? dup_bytes(s, strlen(s)) : NULL;
}

typedef struct loaded {
  pacer__spool_rec_t *v; /* every pointer owned (copied) */
  size_t n, cap;
} loaded_t;

static int collect(void *ctx, const pacer__spool_rec_t *row)
{
  loaded_t *l = ctx;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v)
      return -1;
  }
  pacer__spool_rec_t *c = &l->v[l->n++];
  *c = *row;
  c->handler = dup_str(row->handler);
  c->key = dup_str(row->key);
  c->method = dup_str(row->method);
  c->url = dup_str(row->url);
  c->headers = dup_bytes(row->headers, row->headers_len);
  c->body = dup_bytes(row->body, row->body_len);
  c->tag = dup_bytes(row->tag, row->tag_len);
  return 0;
}

static void loaded_free(loaded_t *l)
{
  for (size_t i = 0; i < l->n; i++) {
    pacer__spool_rec_t *c = &l->v[i];
    free((void *)c->handler);
    free((void *)c->key);
    free((void *)c->method);
    free((void *)c->url);
    free((void *)c->headers);
    free((void *)c->body);
    free((void *)c->tag);
  }
  free(l->v);
  memset(l, 0, sizeof *l);
}

static void load_all(pacer__spool_t *s, loaded_t *l)
{
  memset(l, 0, sizeof *l);
  assert_int_equal(pacer__spool_load(s, collect, l), 0);
}

static void assert_str_or_null(const char *a, const char *b)
{
  if (!a || !b)
    assert_ptr_equal(a, b);
  else
    assert_string_equal(a, b);
}

static void assert_blob(const void *a, size_t alen, const void *b, size_t blen)
{
  assert_int_equal(alen, blen);
  if (alen)
    assert_memory_equal(a, b, alen);
}

static void assert_rec_equal(const pacer__spool_rec_t *want,
                             const pacer__spool_rec_t *got)
{
  assert_int_equal(got->id, want->id);
  assert_int_equal(got->state, want->state);
  assert_int_equal(got->attempts, want->attempts);
  assert_int_equal(got->max_attempts, want->max_attempts);
  assert_int_equal(got->due_ms, want->due_ms);
  assert_int_equal(got->deadline_ms, want->deadline_ms);
  assert_int_equal(got->created_ms, want->created_ms);
  assert_int_equal(got->timeout_ms, want->timeout_ms);
  assert_int_equal(got->priority, want->priority);
  assert_int_equal(got->flags, want->flags);
  assert_str_or_null(want->handler, got->handler);
  assert_str_or_null(want->key, got->key);
  assert_str_or_null(want->method, got->method);
  assert_str_or_null(want->url, got->url);
  assert_blob(want->headers, want->headers_len, got->headers, got->headers_len);
  assert_blob(want->body, want->body_len, got->body, got->body_len);
  assert_blob(want->tag, want->tag_len, got->tag, got->tag_len);
}

/* A plain queued record. */
static pacer__spool_rec_t simple_rec(uint64_t id)
{
  pacer__spool_rec_t r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.state = PACER__SPOOL_QUEUED;
  r.handler = "h";
  r.method = "GET";
  r.url = "http://example.test/";
  r.created_ms = 1700000000000;
  return r;
}

static void add_ok(pacer__spool_t *s, const pacer__spool_rec_t *recs, size_t n)
{
  char err[512] = "";
  int rc = pacer__spool_add(s, recs, n, NULL, err, sizeof err);
  if (rc)
    fprintf(stderr, "pacer__spool_add: %s\n", err);
  assert_int_equal(rc, 0);
}

/* ---- 1. the module ---- */

static void new_spool_is_private_and_in_wal_mode(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  assert_int_equal(file_mode(path), 0600);
  assert_int_equal(strlen(pacer__spool_uuid(s)), 16);
  assert_int_equal(strspn(pacer__spool_uuid(s), "0123456789abcdef"), 16);
  pacer__spool_rec_t r = simple_rec(pacer__spool_reserve(s, 1));
  add_ok(s, &r, 1);
  char wal[300], shm[300];
  snprintf(wal, sizeof wal, "%s-wal", path);
  snprintf(shm, sizeof shm, "%s-shm", path);
  assert_true(file_exists(wal));
  assert_true(file_exists(shm));
  assert_int_equal(file_mode(wal), 0600);
  assert_int_equal(file_mode(shm), 0600);
  char mode[32];
  sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
  assert_string_equal(mode, "wal");
  pacer__spool_close(s);
  assert_int_equal(file_mode(path), 0600);
  sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
  assert_string_equal(mode, "wal"); /* WAL is a property of the file */
  pacer__spool_close(NULL);
}

static void records_come_back_identical_in_id_order(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  uint64_t id = pacer__spool_reserve(s, 4);
  static const char headers[] = "Accept: */*\0X-Trace: a: b\0";
  static const unsigned char body[] = {0, 1, 2, 0, 'x', 0xff, 0, 0};
  static const unsigned char tag[] = {'r', 0, 'w', 0xfe, 0};
  pacer__spool_rec_t r[4];
  r[0] = (pacer__spool_rec_t){.id = id + 2,
                              .state = PACER__SPOOL_WAITING,
                              .attempts = 2,
                              .max_attempts = 5,
                              .due_ms = 1700000123456,
                              .deadline_ms = 1700000999999,
                              .created_ms = 1700000000001,
                              .timeout_ms = 2500,
                              .priority = 1,
                              .flags = PACER_REQ_RETRY_UNSAFE,
                              .handler = "orders",
                              .key = "api",
                              .method = "POST",
                              .url = "https://example.test/orders?a=1&b=%20",
                              .headers = headers,
                              .headers_len = sizeof headers - 1,
                              .body = body,
                              .body_len = sizeof body,
                              .tag = tag,
                              .tag_len = sizeof tag};
  r[1] = simple_rec(id); /* NULL key, no headers, body or tag */
  r[2] = simple_rec(id + 1);
  r[2].state = PACER__SPOOL_STARTED;
  r[2].attempts = 1;
  r[2].body = "\0";
  r[2].body_len = 1; /* a single NUL byte */
  r[2].method = "PUT";
  r[3] = simple_rec(id + 3);
  r[3].handler = "h\xc3\xa9"; /* UTF-8 */
  r[3].tag = "t";
  r[3].tag_len = 1;
  add_ok(s, r, 3);     /* out of id order, one commit */
  add_ok(s, &r[3], 1); /* another */
  pacer__spool_close(s);

  s = open_ok(path);
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, 4);
  assert_rec_equal(&r[1], &l.v[0]);
  assert_rec_equal(&r[2], &l.v[1]);
  assert_rec_equal(&r[0], &l.v[2]);
  assert_rec_equal(&r[3], &l.v[3]);
  assert_null(l.v[0].key);
  assert_null(l.v[0].tag);
  loaded_free(&l);
  pacer__spool_close(s);
}

static void ids_increase_and_are_never_reused(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  uint64_t first = pacer__spool_reserve(s, 5);
  assert_int_equal(first, 1);
  pacer__spool_rec_t r[5];
  for (int i = 0; i < 5; i++)
    r[i] = simple_rec(first + (uint64_t)i);
  add_ok(s, r, 5);
  uint64_t a = pacer__spool_reserve(s, 1), b = pacer__spool_reserve(s, 3);
  assert_true(a > first + 4);
  assert_int_equal(b, a + 1);
  /* The highest rows end: their ids still count. */
  pacer__spool_done(s, first + 4, 1);
  pacer__spool_done(s, first + 3, 0);
  pacer__spool_close(s);

  s = open_ok(path);
  uint64_t c = pacer__spool_reserve(s, 1);
  assert_true(c > first + 4);
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, 3);
  loaded_free(&l);
  /* Every row gone: the ids still count. */
  for (int i = 0; i < 3; i++)
    pacer__spool_done(s, first + (uint64_t)i, 1);
  pacer__spool_rec_t rc = simple_rec(c);
  add_ok(s, &rc, 1);
  pacer__spool_done(s, c, 1);
  pacer__spool_close(s);

  s = open_ok(path);
  load_all(s, &l);
  assert_int_equal(l.n, 0);
  loaded_free(&l);
  assert_true(pacer__spool_reserve(s, 1) > c);
  pacer__spool_close(s);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  status_of(path, &st);
  assert_int_equal(st.done, 5);
  assert_int_equal(st.failed, 1);
}

static void started_waiting_done_and_status(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  uint64_t id = pacer__spool_reserve(s, 6);
  pacer__spool_rec_t r[6];
  for (int i = 0; i < 6; i++)
    r[i] = simple_rec(id + (uint64_t)i);
  add_ok(s, r, 6);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  status_of(path, &st); /* while the spool is open */
  assert_int_equal(st.queued, 6);

  uint64_t ids[2] = {id, id + 1};
  unsigned att[2] = {1, 3};
  assert_int_equal(pacer__spool_started(s, ids, att, 2), 0);
  status_of(path, &st); /* started waits for its commit */
  assert_int_equal(st.queued, 4);
  assert_int_equal(st.in_flight, 2);

  pacer__spool_waiting(s, id + 1, 3, 1700000555000);
  pacer__spool_done(s, id + 2, 1);
  pacer__spool_done(s, id + 3, 0);
  pacer__spool_forget(s, id + 4);
  pacer__spool_done(s, id + 999, 1); /* no such row: counts nothing */
  pacer__spool_close(s);

  status_of(path, &st);
  assert_int_equal(st.queued, 1);
  assert_int_equal(st.waiting, 1);
  assert_int_equal(st.in_flight, 1);
  assert_int_equal(st.done, 1);
  assert_int_equal(st.failed, 1);
  assert_int_equal(st.message[0], 0);

  s = open_ok(path);
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, 3);
  assert_int_equal(l.v[0].id, id);
  assert_int_equal(l.v[0].state, PACER__SPOOL_STARTED);
  assert_int_equal(l.v[0].attempts, 1);
  assert_int_equal(l.v[1].id, id + 1);
  assert_int_equal(l.v[1].state, PACER__SPOOL_WAITING);
  assert_int_equal(l.v[1].attempts, 3);
  assert_int_equal(l.v[1].due_ms, 1700000555000);
  assert_int_equal(l.v[2].id, id + 5);
  assert_int_equal(l.v[2].state, PACER__SPOOL_QUEUED);
  assert_int_equal(l.v[2].attempts, 0);
  loaded_free(&l);
  pacer__spool_close(s);

  assert_int_equal(pacer_spool_status(NULL, &st), PACER_EINVAL);
  assert_int_equal(pacer_spool_status(path, NULL), PACER_EINVAL);
}

/* 4 threads add 500 records each, one per call. */
typedef struct adder {
  pacer__spool_t *s;
  pthread_mutex_t *mu;
  int *failures;
} adder_t;

static void *add_500(void *arg)
{
  adder_t *a = arg;
  int failed = 0;
  for (int i = 0; i < 500; i++) {
    pacer__spool_rec_t r = simple_rec(pacer__spool_reserve(a->s, 1));
    char body[32];
    int n = snprintf(body, sizeof body, "body %d", i);
    r.body = body;
    r.body_len = (size_t)n;
    if (pacer__spool_add(a->s, &r, 1, NULL, NULL, 0) != 0)
      failed++;
  }
  pthread_mutex_lock(a->mu);
  *a->failures += failed;
  pthread_mutex_unlock(a->mu);
  return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void group_commit_under_4_threads(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int failures = 0;
  adder_t a = {s, &mu, &failures};
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, add_500, &a), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(failures, 0);
  pacer__spool_close(s);

  s = open_ok(path);
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, 2000);
  uint64_t *ids = malloc(l.n * sizeof *ids);
  assert_non_null(ids);
  for (size_t i = 0; i < l.n; i++)
    ids[i] = l.v[i].id;
  qsort(ids, l.n, sizeof *ids, cmp_u64);
  size_t distinct = l.n ? 1 : 0;
  for (size_t i = 1; i < l.n; i++)
    distinct += ids[i] != ids[i - 1];
  assert_int_equal(distinct, 2000);
  assert_int_equal(ids[0], 1);
  assert_int_equal(ids[1999], 2000);
  free(ids);
  loaded_free(&l);
  pacer__spool_close(s);
  pacer_spool_status_t st = {.struct_size = sizeof st};
  status_of(path, &st);
  assert_int_equal(st.queued, 2000);
  pthread_mutex_destroy(&mu);
}

/* ---- 2. files refused ---- */

static void second_open_is_busy(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  pacer__spool_t *s2 = (pacer__spool_t *)&s2; /* must be reset to NULL */
  char err[512] = "";
  assert_int_equal(pacer__spool_open(path, 0, &s2, err, sizeof err),
                   PACER_ESPOOLBUSY);
  assert_null(s2);
  assert_non_null(strstr(err, "in use"));
  assert_non_null(strstr(err, path));
  /* The first one still works. */
  pacer__spool_rec_t r = simple_rec(pacer__spool_reserve(s, 1));
  add_ok(s, &r, 1);
  pacer__spool_close(s);
  s = open_ok(path); /* the lock went with the close */
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, 1);
  loaded_free(&l);
  pacer__spool_close(s);
}

static void garbage_file_is_refused_untouched(void **state)
{
  (void)state;
  const char *path = in_dir("junk");
  unsigned char junk[8192];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof junk; i++) {
    x = x * 1103515245u + 12345u;
    junk[i] = (unsigned char)(x >> 16);
  }
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
  fclose(f);
  chmod(path, 0640);

  pacer__spool_t *s = NULL;
  char err[512] = "";
  assert_int_equal(pacer__spool_open(path, 0, &s, err, sizeof err),
                   PACER_ESPOOL);
  assert_null(s);
  assert_non_null(strstr(err, "not a pacer spool, or corrupt"));
  size_t len;
  unsigned char *after = read_all(path, &len);
  assert_int_equal(len, sizeof junk);
  assert_memory_equal(after, junk, sizeof junk);
  free(after);
  assert_int_equal(file_mode(path), 0640);
  assert_false(file_exists(in_dir("junk-wal")));
  assert_false(file_exists(in_dir("junk-shm")));

  pacer_spool_status_t st = {.struct_size = sizeof st};
  assert_int_equal(pacer_spool_status(path, &st), PACER_ESPOOL);
  assert_true(st.message[0] != 0);
  after = read_all(path, &len);
  assert_int_equal(len, sizeof junk);
  assert_memory_equal(after, junk, sizeof junk);
  free(after);
}

static void foreign_database_is_refused_untouched(void **state)
{
  (void)state;
  const char *path = in_dir("app.db");
  sql_on(path, "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);"
               "INSERT INTO users(name) VALUES('ada'),('grace');");
  size_t len0;
  unsigned char *before = read_all(path, &len0);
  pacer__spool_t *s = NULL;
  char err[512] = "";
  assert_int_equal(pacer__spool_open(path, 0, &s, err, sizeof err),
                   PACER_ESPOOL);
  assert_null(s);
  assert_non_null(strstr(err, "not a pacer spool"));
  size_t len;
  unsigned char *after = read_all(path, &len);
  assert_int_equal(len, len0);
  assert_memory_equal(after, before, len0); /* not even turned into WAL */
  free(before);
  free(after);
  char mode[32];
  sql_text(path, "PRAGMA journal_mode", mode, sizeof mode);
  assert_string_equal(mode, "delete");
  char n[32];
  sql_text(path, "SELECT count(*) FROM users", n, sizeof n);
  assert_string_equal(n, "2");

  pacer_spool_status_t st = {.struct_size = sizeof st};
  assert_int_equal(pacer_spool_status(path, &st), PACER_ESPOOL);
  assert_true(st.message[0] != 0);
}

static void newer_schema_is_refused(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  pacer__spool_rec_t r = simple_rec(pacer__spool_reserve(s, 1));
  add_ok(s, &r, 1);
  pacer__spool_close(s);
  sql_on(path, "PRAGMA user_version=99");

  s = NULL;
  char err[512] = "";
  assert_int_equal(pacer__spool_open(path, 0, &s, err, sizeof err),
                   PACER_ESPOOLVERSION);
  assert_null(s);
  assert_non_null(strstr(err, "99"));
  pacer_spool_status_t st = {.struct_size = sizeof st};
  assert_int_equal(pacer_spool_status(path, &st), PACER_ESPOOLVERSION);
  assert_int_equal(st.version, 99);
  assert_non_null(strstr(st.message, "newer"));
  /* Nothing was lost by looking. */
  sql_on(path, "PRAGMA user_version=1");
  s = open_ok(path);
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, 1);
  loaded_free(&l);
  pacer__spool_close(s);
}

static void missing_directory_is_refused(void **state)
{
  (void)state;
  const char *path = in_dir("no/such/dir/s.db");
  pacer__spool_t *s = NULL;
  char err[512] = "";
  assert_int_equal(pacer__spool_open(path, 0, &s, err, sizeof err),
                   PACER_ESPOOL);
  assert_null(s);
  assert_non_null(strstr(err, path));
  pacer_spool_status_t st = {.struct_size = sizeof st};
  assert_int_equal(pacer_spool_status(path, &st), PACER_ESPOOL);
  assert_true(st.message[0] != 0);
  /* And through pacer_new, which names the detail in the log. */
  pacer_config_t c;
  pacer_config_init(&c);
  c.spool_path = path;
  pacer_t *p = (pacer_t *)&p;
  assert_int_equal(pacer_new(&c, &p), PACER_ESPOOL);
  assert_null(p);
}

/* The body of record id in the full-disk test. */
static void disk_body(uint64_t id, unsigned char *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    b[i] = (unsigned char)(id * 31 + i * 7);
}

enum { BODY_4K = 4096, CHILD_MAX = 200 };

/* In the child: adds 4 KiB records until the file size limit makes an add
 * fail. Exits with how many were accepted, or CHILD_MAX + a reason. */
static void fill_until_full(const char *path, rlim_t limit)
{
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = {limit, limit};
  if (setrlimit(RLIMIT_FSIZE, &rl))
    _exit(CHILD_MAX + 1);
  pacer__spool_t *s = NULL;
  char err[512];
  if (pacer__spool_open(path, 0, &s, err, sizeof err))
    _exit(CHILD_MAX + 2);
  static unsigned char body[BODY_4K];
  int n = 0;
  for (;;) {
    if (n == CHILD_MAX)
      _exit(CHILD_MAX + 3); /* never full */
    pacer__spool_rec_t r = simple_rec(pacer__spool_reserve(s, 1));
    disk_body(r.id, body, sizeof body);
    r.body = body;
    r.body_len = sizeof body;
    err[0] = 0;
    int rc = pacer__spool_add(s, &r, 1, NULL, err, sizeof err);
    if (rc == PACER_ESPOOL && err[0])
      break;
    if (rc)
      _exit(CHILD_MAX + 4);
    n++;
  }
  pacer__spool_close(s);
  _exit(n);
}

static void full_disk_loses_nothing(void **state)
{
  (void)state;
  const char *path = in_dir("s.db");
  pacer__spool_close(open_ok(path)); /* created, schema written */
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  rlim_t limit = (rlim_t)sb.st_size + 64 * 1024;

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    fill_until_full(path, limit);
  int ws = 0;
  assert_int_equal(waitpid(pid, &ws, 0), pid);
  assert_true(WIFEXITED(ws));
  int accepted = WEXITSTATUS(ws);
  fprintf(stderr, "full disk at %llu bytes: %d records of 4 KiB accepted\n",
          (unsigned long long)limit, accepted);
  assert_true(accepted < CHILD_MAX);
  assert_true(accepted > 0);

  pacer_spool_status_t st = {.struct_size = sizeof st};
  status_of(path, &st);
  assert_int_equal(st.queued, (uint64_t)accepted);

  pacer__spool_t *s = open_ok(path);
  loaded_t l;
  load_all(s, &l);
  assert_int_equal(l.n, (size_t)accepted);
  static unsigned char want[BODY_4K];
  for (size_t i = 0; i < l.n; i++) {
    assert_int_equal(l.v[i].id, i + 1); /* none lost, none extra */
    disk_body(l.v[i].id, want, sizeof want);
    assert_blob(want, sizeof want, l.v[i].body, l.v[i].body_len);
  }
  loaded_free(&l);
  /* The spool goes on working once there is room. */
  pacer__spool_rec_t r = simple_rec(pacer__spool_reserve(s, 1));
  assert_true(r.id > (uint64_t)accepted);
  add_ok(s, &r, 1);
  pacer__spool_close(s);
  status_of(path, &st);
  assert_int_equal(st.queued, (uint64_t)accepted + 1);
}

/* ---- 3. the engine over a spool ---- */

/* What every callback saw is in rec (recorder.h), in order; rec_on_any()
 * records there with the user pointer each callback got. */

/* What the transport saw at each start. */
typedef struct start {
  uint64_t id;
  unsigned attempt;
  int idem_count;
  char idem[96];
} start_t;

enum { MODE_OK, MODE_HOLD, MODE_503_ONCE };

static struct {
  pthread_mutex_t mu;
  start_t starts[256];
  size_t nstarts;
  int mode;
} bk = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Forgets every result and start; the transport answers as mode says. */
static void bk_reset(int mode)
{
  rec_reset(&rec);
  pthread_mutex_lock(&bk.mu);
  bk.nstarts = 0;
  bk.mode = mode;
  pthread_mutex_unlock(&bk.mu);
}

static start_t start_at(size_t i)
{
  pthread_mutex_lock(&bk.mu);
  size_t n = bk.nstarts;
  start_t s = i < n ? bk.starts[i] : (start_t){0};
  pthread_mutex_unlock(&bk.mu);
  assert_true(i < n);
  return s;
}

static void responder(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  start_t st;
  memset(&st, 0, sizeof st);
  st.id = j->id;
  st.attempt = j->attempts;
  const char *h = pacer__job_headers(j);
  for (uint32_t i = 0; i < j->hdr_count; i++) {
    if (strncasecmp(h, "Idempotency-Key: ", 17) == 0) {
      st.idem_count++;
      snprintf(st.idem, sizeof st.idem, "%s", h + 17);
    }
    h += strlen(h) + 1;
  }
  pthread_mutex_lock(&bk.mu);
  if (bk.nstarts < 256)
    bk.starts[bk.nstarts++] = st;
  int mode = bk.mode;
  pthread_mutex_unlock(&bk.mu);
  if (mode == MODE_HOLD) {
    r->hold = 1;
  } else if (mode == MODE_503_ONCE && j->attempts == 1) {
    r->status = 503;
    r->retry_after = "100";
  } else {
    r->status = 200;
  }
}

/* The engine fixture at 1000 s, answered by responder(). */
static const eng_opts_t answers = {.reply = responder};

static void spool_cfg(pacer_config_t *c, const char *path)
{
  pacer_config_init(c);
  c->spool_path = path;
  c->workers = 1;
}

static void request(pacer_request_t *q, const char *handler)
{
  pacer_request_init(q);
  q->url = "http://example.test/x";
  q->handler = handler;
}

static int h_user; /* the handler's user pointer */

/* Checks that key is "pacer-<uuid>-<n>" (uuid 16 hex digits, n decimal and
 * not 0) and returns n. */
static uint64_t idem_number(const char *key, const char *uuid)
{
  assert_int_equal(strlen(uuid), 16);
  assert_int_equal(strspn(uuid, "0123456789abcdef"), 16);
  assert_int_equal(strncmp(key, "pacer-", 6), 0);
  assert_memory_equal(key + 6, uuid, 16);
  assert_int_equal(key[22], '-');
  const char *num = key + 23;
  assert_true(*num >= '1' && *num <= '9');
  assert_int_equal(strspn(num, "0123456789"), strlen(num));
  return strtoull(num, NULL, 10);
}

static void handler_needed_and_key_added(void **state)
{
  (void)state;
  bk_reset(MODE_OK);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  eng_t busy;
  assert_int_equal(eng_try(&busy, &c, &answers), PACER_ESPOOLBUSY);

  pacer_request_t q;
  request(&q, NULL);
  uint64_t id = 99;
  assert_int_equal(pacer_submit(e.p, &q, rec_on_any, NULL, &id), PACER_EINVAL);
  assert_int_equal(id, 0);
  q.handler = "nope";
  assert_int_equal(pacer_submit(e.p, &q, rec_on_any, NULL, &id),
                   PACER_EHANDLER);
  assert_int_equal(pacer_register_handler(e.p, "h", NULL, NULL), PACER_EINVAL);
  assert_int_equal(pacer_register_handler(e.p, "", rec_on_any, NULL),
                   PACER_EINVAL);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, &h_user), 0);

  /* The handler's callback ends a job submitted with no callback. */
  q.handler = "h";
  static const char tag[] = "row\0 7";
  q.tag = tag;
  q.tag_len = sizeof tag - 1;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &id), 0);
  assert_true(id != 0);
  rec_wait(&rec, 1);
  rec_entry_t s = *rec_at(&rec, 0);
  assert_int_equal(s.id, id);
  assert_int_equal(s.error, 0);
  assert_int_equal(s.status, 200);
  assert_int_equal(s.kept, 0);
  assert_ptr_equal(s.user, &h_user);
  assert_string_equal(s.handler, "h");
  assert_int_equal(s.tag_len, sizeof tag - 1);
  assert_memory_equal(s.tag, tag, sizeof tag - 1);
  start_t st = start_at(0);
  assert_int_equal(st.idem_count, 1);
  uint64_t n1 = idem_number(st.idem, pacer__spool_uuid(e.p->spool));

  /* The request's own key is kept, whatever its case. */
  pacer_header_t own = {"idempotency-key", "mine-42"};
  q.headers = &own;
  q.header_count = 1;
  q.tag = NULL;
  q.tag_len = 0;
  assert_int_equal(pacer_submit(e.p, &q, rec_on_any, &id, &id), 0);
  rec_wait(&rec, 2);
  s = *rec_at(&rec, 1);
  assert_ptr_equal(s.user, &id); /* submit's callback, not the handler's */
  assert_true(s.tag_null);
  st = start_at(1);
  assert_int_equal(st.idem_count, 1);
  assert_string_equal(st.idem, "mine-42");

  /* A third gets a key again, with its own id. */
  q.headers = NULL;
  q.header_count = 0;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  rec_wait(&rec, 3);
  st = start_at(2);
  assert_int_equal(st.idem_count, 1);
  assert_true(idem_number(st.idem, pacer__spool_uuid(e.p->spool)) > n1);
  eng_free(&e);

  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.waiting + ss.in_flight, 0);
  assert_int_equal(ss.done, 3);
  assert_int_equal(ss.failed, 0);

  /* No key at all when turned off. */
  bk_reset(MODE_OK);
  c.spool_path = in_dir("nokeys.db");
  c.spool_idempotency_keys = 0;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  rec_wait(&rec, 1);
  assert_int_equal(start_at(0).idem_count, 0);
  eng_free(&e);
  status_of(c.spool_path, &ss);
  assert_int_equal(ss.done, 1);
}

static void kept_job_resumes_with_its_next_attempt(void **state)
{
  (void)state;
  bk_reset(MODE_HOLD);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_request_t q;
  request(&q, "h");
  q.tag = "t1";
  q.tag_len = 2;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  fake_tx_wait_held(e.tx, 1);
  pacer_resume_info_t info = {.struct_size = sizeof info};
  eng_free(&e); /* stops the held attempt */
  assert_int_equal(rec_count(&rec), 1);
  rec_entry_t s = *rec_at(&rec, 0);
  assert_int_equal(s.error, PACER_ECANCELED);
  assert_int_equal(s.kept, 1);
  assert_int_equal(s.attempts, 1);
  start_t first = start_at(0);
  assert_int_equal(first.idem_count, 1);

  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  status_of(path, &ss);
  assert_int_equal(ss.in_flight, 1);
  assert_int_equal(ss.queued + ss.waiting, 0);
  assert_int_equal(ss.done + ss.failed, 0);

  bk_reset(MODE_OK);
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, &h_user), 0);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(info.in_flight, 1);
  assert_int_equal(info.no_handler, 0);
  rec_wait(&rec, 1);
  s = *rec_at(&rec, 0);
  assert_int_equal(s.error, 0);
  assert_int_equal(s.status, 200);
  assert_int_equal(s.kept, 0);
  assert_int_equal(s.attempts, 2); /* attempts go on */
  assert_ptr_equal(s.user, &h_user);
  assert_string_equal(s.handler, "h");
  assert_int_equal(s.tag_len, 2);
  assert_memory_equal(s.tag, "t1", 2);
  start_t again = start_at(0);
  assert_int_equal(again.attempt, 2);
  assert_int_equal(again.idem_count, 1);
  assert_string_equal(again.idem, first.idem); /* the same key */
  assert_int_equal(pacer_resume(e.p, &info), PACER_EINVAL);
  assert_int_equal(info.loaded, 0);
  eng_free(&e);
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.waiting + ss.in_flight, 0);
  assert_int_equal(ss.done, 1);

  /* No spool: nothing to resume. */
  eng_new(&e, NULL, &answers);
  assert_int_equal(pacer_resume(e.p, &info), PACER_EINVAL);
  assert_int_equal(pacer_resume(NULL, NULL), PACER_EINVAL);
  eng_free(&e);
}

static void unregistered_handler_leaves_job_in_spool(void **state)
{
  (void)state;
  bk_reset(MODE_HOLD);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  c.concurrency = 1;
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  assert_int_equal(pacer_register_handler(e.p, "g", rec_on_any, NULL), 0);
  pacer_request_t q;
  request(&q, "h");
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  fake_tx_wait_held(e.tx, 1);
  q.handler = "g"; /* queued behind the held one */
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  eng_free(&e);
  assert_int_equal(rec_count(&rec), 2);
  assert_int_equal(rec_at(&rec, 0)->kept + rec_at(&rec, 1)->kept, 2);
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  status_of(path, &ss);
  assert_int_equal(ss.in_flight, 1);
  assert_int_equal(ss.queued, 1);

  /* Only "h" is known: "g"'s job stays. */
  bk_reset(MODE_OK);
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(info.in_flight, 1);
  assert_int_equal(info.no_handler, 1);
  rec_wait(&rec, 1);
  assert_string_equal(rec_at(&rec, 0)->handler, "h");
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  assert_int_equal(rec_count(&rec), 1);
  status_of(path, &ss);
  assert_int_equal(ss.queued, 1);
  assert_int_equal(ss.in_flight + ss.waiting, 0);
  assert_int_equal(ss.done, 1);

  /* Now "g" is known too. */
  bk_reset(MODE_OK);
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "g", rec_on_any, NULL), 0);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(info.in_flight, 0);
  assert_int_equal(info.no_handler, 0);
  rec_wait(&rec, 1);
  rec_entry_t s = *rec_at(&rec, 0);
  assert_string_equal(s.handler, "g");
  assert_int_equal(s.attempts, 1);
  assert_int_equal(s.status, 200);
  eng_free(&e);
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.in_flight + ss.waiting, 0);
  assert_int_equal(ss.done, 2);
}

static void waiting_retry_resumes_at_its_time(void **state)
{
  (void)state;
  bk_reset(MODE_503_ONCE);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_request_t q;
  request(&q, "h");
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  pacer__wait_settled(e.p, 1); /* 503, Retry-After: 100 s: a retry waits */
  fake_clock_advance(&e.clk, 10 * S);
  pacer__wait_idle(e.p);
  assert_int_equal(fake_tx_starts(e.tx), 1);
  eng_free(&e); /* 90 s before the retry */
  assert_int_equal(rec_count(&rec), 1);
  rec_entry_t s = *rec_at(&rec, 0);
  assert_int_equal(s.error, PACER_ECANCELED);
  assert_int_equal(s.kept, 1);
  assert_int_equal(s.attempts, 1);
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  status_of(path, &ss);
  assert_int_equal(ss.waiting, 1);
  assert_int_equal(ss.queued + ss.in_flight, 0);

  /* 30 s after the 503 (the fake wall clock is its monotonic one plus a
   * constant): the retry is due in 70 s. */
  bk_reset(MODE_OK);
  int64_t t0 = 1030 * S;
  eng_new(&e, &c, &(eng_opts_t){.start_ns = t0, .reply = responder});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(info.in_flight, 0);
  pacer__wait_idle(e.p);
  assert_int_equal(fake_tx_starts(e.tx), 0);
  fake_clock_advance(&e.clk, 70 * S - 1 * MS);
  pacer__wait_idle(e.p);
  assert_int_equal(fake_tx_starts(e.tx), 0);
  fake_clock_advance(&e.clk, 1 * MS);
  fake_tx_wait_starts(e.tx, 1);
  rec_wait(&rec, 1);
  s = *rec_at(&rec, 0);
  assert_int_equal(s.error, 0);
  assert_int_equal(s.status, 200);
  assert_int_equal(s.attempts, 2);
  fake_start_t log[1];
  assert_int_equal(fake_tx_log(e.tx, 0, log, 1), 1);
  assert_int_equal(log[0].t, t0 + 70 * S);
  assert_int_equal(log[0].attempt, 2);
  eng_free(&e);
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.in_flight + ss.waiting, 0);
  assert_int_equal(ss.done, 1);

  /* A retry time already past when resumed: at once. */
  bk_reset(MODE_503_ONCE);
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  pacer__wait_settled(e.p, 1);
  eng_free(&e);
  bk_reset(MODE_OK);
  eng_new(&e, &c, &(eng_opts_t){.start_ns = 1200 * S, .reply = responder});
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 1);
  rec_wait(&rec, 1);
  assert_int_equal(rec_at(&rec, 0)->attempts, 2);
  eng_free(&e);
  status_of(path, &ss);
  assert_int_equal(ss.waiting, 0);
  assert_int_equal(ss.done, 2);
}

static void cancel_deletes_the_row(void **state)
{
  (void)state;
  bk_reset(MODE_HOLD);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  c.concurrency = 1;
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_request_t q;
  request(&q, "h");
  uint64_t flying, queued;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &flying), 0);
  fake_tx_wait_held(e.tx, 1);
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &queued), 0);
  assert_int_equal(pacer_cancel(e.p, queued), 0);
  rec_wait(&rec, 1);
  assert_int_equal(pacer_cancel(e.p, flying), 0); /* aborts the attempt */
  rec_wait(&rec, 2);
  for (size_t i = 0; i < 2; i++) {
    rec_entry_t s = *rec_at(&rec, i);
    assert_int_equal(s.id, i == 0 ? queued : flying);
    assert_int_equal(s.error, PACER_ECANCELED);
    assert_int_equal(s.kept, 0);
  }
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  assert_int_equal(rec_count(&rec), 2);
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.in_flight + ss.waiting, 0);
  assert_int_equal(ss.done, 0);
  assert_int_equal(ss.failed, 2);
}

static void batch_is_all_or_nothing(void **state)
{
  (void)state;
  bk_reset(MODE_OK);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  enum { N = 100 };
  pacer_request_t reqs[N];
  void *users[N];
  static int marks[N];
  uint64_t ids[N];
  for (int i = 0; i < N; i++) {
    request(&reqs[i], "h");
    users[i] = &marks[i];
  }
  reqs[37].url = "not a url";
  size_t bad = 12345;
  for (int i = 0; i < N; i++)
    ids[i] = 77;
  assert_int_equal(
      pacer_submit_batch(e.p, reqs, N, rec_on_any, users, ids, &bad),
      PACER_EURL);
  assert_int_equal(bad, 37);
  for (int i = 0; i < N; i++)
    assert_int_equal(ids[i], 0);
  pacer_stats_t *stats;
  assert_int_equal(pacer_stats_get(e.p, &stats), 0);
  assert_int_equal(stats->submitted, 0);
  assert_int_equal(stats->queued_low + stats->queued_high, 0);
  pacer_stats_free(stats);
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  status_of(path, &ss); /* an add would have committed before returning */
  assert_int_equal(ss.queued + ss.in_flight + ss.waiting, 0);

  reqs[37].url = "http://example.test/37";
  assert_int_equal(
      pacer_submit_batch(e.p, reqs, N, rec_on_any, users, ids, &bad), 0);
  assert_int_equal(bad, N);
  rec_wait(&rec, N);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  uint64_t sorted[N];
  memcpy(sorted, ids, sizeof ids);
  qsort(sorted, N, sizeof sorted[0], cmp_u64);
  assert_true(sorted[0] != 0);
  for (int i = 1; i < N; i++)
    assert_true(sorted[i] != sorted[i - 1]);
  /* Each callback got its own user pointer and id; keys are all distinct. */
  for (size_t k = 0; k < N; k++) {
    rec_entry_t s = *rec_at(&rec, k);
    int i = (int)((int *)s.user - marks);
    assert_true(i >= 0 && i < N);
    assert_int_equal(s.id, ids[i]);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.error, 0);
  }
  char keys[N][96];
  for (size_t k = 0; k < N; k++) {
    start_t st = start_at(k);
    assert_int_equal(st.idem_count, 1);
    snprintf(keys[k], sizeof keys[k], "%s", st.idem);
    for (size_t m = 0; m < k; m++)
      assert_string_not_equal(keys[m], keys[k]);
  }
  eng_free(&e);
  assert_int_equal(rec_count(&rec), N);
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.in_flight + ss.waiting, 0);
  assert_int_equal(ss.done, N);
}

/* ---- 4. a callback keeps its job; failures reach the log; rows that do
 * not fit; the program's values ---- */

static pacer_t *keep_p; /* the dispatcher of keep_some() */

/* A handler that keeps the jobs tagged "keep" in the spool (as a program
 * that could not write their results), and records the others. */
static void keep_some(const pacer_result_t *res, void *user)
{
  /* Kept: not recorded. A refused keep is recorded, for the main thread to
   * see. */
  if (res->tag_len == 4 && memcmp(res->tag, "keep", 4) == 0 &&
      pacer_keep(keep_p, res->id) == 0)
    return;
  rec_on_any(res, user);
}

static void callback_keeps_its_job(void **state)
{
  (void)state;
  bk_reset(MODE_OK);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  keep_p = e.p;
  assert_int_equal(pacer_register_handler(e.p, "h", keep_some, NULL), 0);
  pacer_request_t q[3];
  const char *tags[3] = {"keep", "drop", "keep"};
  for (int i = 0; i < 3; i++) {
    request(&q[i], "h");
    q[i].tag = tags[i];
    q[i].tag_len = 4;
  }
  uint64_t ids[3];
  assert_int_equal(pacer_submit_batch(e.p, q, 3, NULL, NULL, ids, NULL), 0);
  /* Not from a callback, or not the callback's own job: refused. */
  assert_int_equal(pacer_keep(e.p, ids[0]), PACER_EINVAL);
  assert_int_equal(pacer_keep(NULL, ids[0]), PACER_EINVAL);
  rec_wait(&rec, 1); /* only "drop" records; the kept ones returned early */
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  assert_int_equal(rec_count(&rec), 1);
  assert_memory_equal(rec_at(&rec, 0)->tag, "drop", 4);
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  status_of(path, &ss);
  assert_int_equal(ss.done, 1);
  assert_int_equal(ss.in_flight, 2); /* sent, their results not kept */

  /* Resumed, they run again and now leave the spool. */
  bk_reset(MODE_OK);
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(info.loaded, 2);
  rec_wait(&rec, 2);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  for (size_t i = 0; i < 2; i++) {
    rec_entry_t s = *rec_at(&rec, i);
    assert_memory_equal(s.tag, "keep", 4);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.attempts, 2);
  }
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.waiting + ss.in_flight, 0);
  assert_int_equal(ss.done, 3);

  /* No spool: nothing to keep. */
  bk_reset(MODE_OK);
  pacer_config_init(&c);
  c.workers = 1;
  eng_new(&e, &c, &answers);
  keep_p = e.p;
  request(&q[0], NULL);
  q[0].tag = "keep";
  q[0].tag_len = 4;
  assert_int_equal(pacer_submit(e.p, &q[0], keep_some, NULL, NULL), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  assert_int_equal(rec_count(&rec), 1); /* pacer_keep said PACER_EINVAL */
}

static logcap_t logs = LOGCAP_INITIALIZER;

static void writer_failure_goes_to_the_log(void **state)
{
  (void)state;
  bk_reset(MODE_OK);
  logcap_reset(&logs);
  const char *path = in_dir("s.db");
  pacer__spool_close(open_ok(path));
  /* Deleting a finished job's row fails, as on a full disk. */
  sql_on(path, "CREATE TRIGGER no_delete BEFORE DELETE ON jobs "
               "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END;");
  pacer_config_t c;
  spool_cfg(&c, path);
  c.log_cb = logcap_on_log;
  c.log_user = &logs;
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_request_t q;
  request(&q, "h");
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  rec_wait(&rec, 1);
  eng_free(&e); /* commits what is queued: the delete fails */
  static logcap_t got;
  logcap_take(&logs, &got);
  assert_int_equal(got.count, 1);
  fprintf(stderr, "logged: %s\n", got.first[0]);
  assert_int_equal(got.first_level[0], PACER_LOG_ERROR);
  assert_non_null(strstr(got.first[0], "spool write failed"));
  assert_non_null(strstr(got.first[0], "the disk says no"));
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  status_of(path, &ss);
  assert_int_equal(ss.in_flight, 1); /* runs again on resume, not lost */
}

static void oversized_job_is_refused_alone(void **state)
{
  (void)state;
  bk_reset(MODE_HOLD);
  const char *path = in_dir("s.db");
  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  enum { LIMIT = 64 * 1024 };
  assert_true(pacer__spool_limit_length(e.p->spool, LIMIT) >= LIMIT);
  static char body[2 * LIMIT];
  memset(body, 'b', sizeof body);

  /* A job in flight has its started mark to commit, and another submitter
   * waits on the same writer: neither may fail with the big one. */
  pacer_request_t q;
  request(&q, "h");
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  fake_tx_wait_held(e.tx, 1);

  /* One body over the limit (SQLite would bind it as NULL), and a row over
   * it made of parts that each fit. */
  size_t sizes[2] = {sizeof body, LIMIT - 1000};
  for (int k = 0; k < 2; k++) {
    request(&q, "h");
    q.body = body;
    q.body_len = sizes[k];
    static char tag[2000];
    memset(tag, 't', sizeof tag);
    q.tag = tag;
    q.tag_len = k ? sizeof tag : 0;
    uint64_t id = 5;
    assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, &id), PACER_ETOOLARGE);
    assert_int_equal(id, 0);
    pacer_request_t b[3];
    request(&b[0], "h");
    b[1] = q;
    request(&b[2], "h");
    size_t bad = 99;
    assert_int_equal(pacer_submit_batch(e.p, b, 3, NULL, NULL, NULL, &bad),
                     PACER_ETOOLARGE);
    assert_int_equal(bad, 1);
  }
  /* The others go on: a job just under the limit is stored whole. */
  request(&q, "h");
  q.body = body;
  q.body_len = LIMIT - 1024;
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  status_of(path, &ss);
  assert_int_equal(ss.queued + ss.waiting + ss.in_flight, 2);
  eng_free(&e);
  assert_int_equal(rec_count(&rec),
                   2); /* both kept: no callback for the rest */
  pacer__spool_t *sp = open_ok(path);
  loaded_t l;
  load_all(sp, &l);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.v[0].state, PACER__SPOOL_STARTED);
  assert_int_equal(l.v[1].body_len, LIMIT - 1024);
  assert_memory_equal(l.v[1].body, body, LIMIT - 1024);
  loaded_free(&l);
  pacer__spool_close(sp);
}

static void program_values_are_kept(void **state)
{
  (void)state;
  const char *path = in_dir("v.db");
  char *v = (char *)"x", msg[256];
  /* No spool yet: reading finds none; storing creates it. */
  assert_int_equal(pacer_spool_get_value(path, "run", &v, msg, sizeof msg),
                   PACER_ESPOOL);
  assert_null(v);
  assert_false(file_exists(path));
  assert_int_equal(
      pacer_spool_set_value(path, "run", "{\"rate\":50}", msg, sizeof msg), 0);
  assert_int_equal(file_mode(path), 0600);
  assert_int_equal(pacer_spool_get_value(path, "run", &v, msg, sizeof msg), 0);
  assert_string_equal(v, "{\"rate\":50}");
  free(v);
  assert_int_equal(pacer_spool_set_value(path, "run", "two", NULL, 0), 0);
  assert_int_equal(pacer_spool_get_value(path, "run", &v, NULL, 0), 0);
  assert_string_equal(v, "two");
  free(v);
  assert_int_equal(pacer_spool_get_value(path, "other", &v, msg, sizeof msg),
                   PACER_ENOTFOUND);
  assert_null(v);
  assert_int_equal(pacer_spool_set_value(path, "", "x", msg, sizeof msg),
                   PACER_EINVAL);
  assert_int_equal(pacer_spool_set_value(path, "run", NULL, msg, sizeof msg),
                   PACER_EINVAL);
  assert_int_equal(pacer_spool_get_value(path, "run", NULL, msg, sizeof msg),
                   PACER_EINVAL);

  /* A dispatcher has it: reading works, storing is refused. */
  pacer__spool_t *s = open_ok(path);
  assert_int_equal(pacer_spool_set_value(path, "run", "3", msg, sizeof msg),
                   PACER_ESPOOLBUSY);
  assert_non_null(strstr(msg, "in use"));
  assert_int_equal(pacer_spool_get_value(path, "run", &v, NULL, 0), 0);
  assert_string_equal(v, "two");
  free(v);
  /* Values are neither jobs nor the mark. */
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  pacer__spool_close(s);
  status_of(path, &ss);
  assert_int_equal(ss.queued, 0);
  assert_string_equal(ss.mark, "");

  /* A spool of the current version written without values: none found,
   * and one can be added. */
  const char *old = in_dir("old.db");
  pacer__spool_close(open_ok(old));
  assert_int_equal(pacer_spool_get_value(old, "run", &v, NULL, 0),
                   PACER_ENOTFOUND);
  assert_int_equal(pacer_spool_set_value(old, "run", "1", NULL, 0), 0);
  status_of(old, &ss);

  /* Newer and foreign files are refused, untouched. */
  sql_on(old, "PRAGMA user_version=9");
  assert_int_equal(pacer_spool_get_value(old, "run", &v, msg, sizeof msg),
                   PACER_ESPOOLVERSION);
  assert_int_equal(pacer_spool_set_value(old, "run", "2", msg, sizeof msg),
                   PACER_ESPOOLVERSION);
  const char *foreign = in_dir("f.db");
  sql_on(foreign, "CREATE TABLE t(x)");
  assert_int_equal(pacer_spool_get_value(foreign, "run", &v, msg, sizeof msg),
                   PACER_ESPOOL);
  assert_int_equal(pacer_spool_set_value(foreign, "run", "2", msg, sizeof msg),
                   PACER_ESPOOL);
  assert_null(v);
}

/* A spool written before transport-owned headers were refused may hold a
 * job with Content-Length or Host: resume rebuilds jobs through the same
 * check as submit, so such a job is not sent; it stays in the spool, and
 * the clean job next to it runs. */
static void resume_refuses_transport_owned_headers(void **state)
{
  (void)state;
  bk_reset(MODE_OK);
  const char *path = in_dir("s.db");
  pacer__spool_t *s = open_ok(path);
  static const char smuggle[] = "Content-Length: 0\0X-Ok: 1\0";
  static const char host[] = "host: victim\0";
  static const char clean[] = "X-Ok: 1\0";
  static const char body[] = "GET /smuggled HTTP/1.1\r\nHost: v\r\n\r\n";
  pacer__spool_rec_t r[3] = {simple_rec(pacer__spool_reserve(s, 3)),
                             simple_rec(0), simple_rec(0)};
  r[1].id = r[0].id + 1;
  r[2].id = r[0].id + 2;
  r[0].method = "POST";
  r[0].headers = smuggle;
  r[0].headers_len = sizeof smuggle - 1;
  r[0].body = body;
  r[0].body_len = sizeof body - 1;
  r[1].headers = host;
  r[1].headers_len = sizeof host - 1;
  r[2].headers = clean;
  r[2].headers_len = sizeof clean - 1;
  add_ok(s, r, 3);
  pacer__spool_close(s);

  pacer_config_t c;
  spool_cfg(&c, path);
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  assert_int_equal(pacer_resume(e.p, &info), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  assert_int_equal(info.loaded, 1);
  assert_int_equal(rec_count(&rec), 1);
  assert_int_equal(rec_at(&rec, 0)->status, 200);
  pthread_mutex_lock(&bk.mu);
  size_t starts = bk.nstarts;
  pthread_mutex_unlock(&bk.mu);
  assert_int_equal(starts, 1);
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  status_of(path, &ss);
  assert_int_equal(ss.queued, 2);
  assert_int_equal(ss.done, 1);
}

/* ---- spool_sync: what reaches the disk ---- */

/* A VFS over the default one that counts xSync on write-ahead logs: in WAL
 * mode, synchronous=NORMAL syncs the log only at checkpoints, FULL at every
 * commit. The spool's writer thread syncs, the test thread reads. */
typedef struct {
  sqlite3_file base;
  sqlite3_file *real; /* right after this struct, szOsFile of the real VFS */
  int wal;
} cnt_file_t;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs cnt_vfs;
static sqlite3_io_methods cnt_io;
static pthread_mutex_t cnt_mu = PTHREAD_MUTEX_INITIALIZER;
static int cnt_wal_syncs;

#define REAL(f) (((cnt_file_t *)(f))->real)
static int c_close(sqlite3_file *f)
{
  return REAL(f)->pMethods->xClose(REAL(f));
}
static int c_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
  return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
  return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
  return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int c_sync(sqlite3_file *f, int flags)
{
  if (((cnt_file_t *)f)->wal) {
    pthread_mutex_lock(&cnt_mu);
    cnt_wal_syncs++;
    pthread_mutex_unlock(&cnt_mu);
  }
  return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *size)
{
  return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int c_lock(sqlite3_file *f, int l)
{
  return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
  return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_check(sqlite3_file *f, int *out)
{
  return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
  return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
  return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_caps(sqlite3_file *f)
{
  return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int sz, int ext,
                     void volatile **out)
{
  return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, out);
}
static int c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
  return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
  REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
  return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
#undef REAL

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags)
{
  (void)vfs;
  cnt_file_t *cf = (cnt_file_t *)f;
  cf->real = (sqlite3_file *)(cf + 1);
  cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
  int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
  /* Our methods only over a real file that opened (SQLite calls xClose
   * whenever pMethods is set). */
  cf->base.pMethods = cf->real->pMethods ? &cnt_io : NULL;
  return rc;
}

/* Makes the counting VFS the default, over the one that was. */
static void cnt_vfs_install(void)
{
  real_vfs = sqlite3_vfs_find(NULL);
  assert_non_null(real_vfs);
  assert_true(real_vfs->iVersion >= 2);
  cnt_io = (sqlite3_io_methods){
      .iVersion = 2,
      .xClose = c_close,
      .xRead = c_read,
      .xWrite = c_write,
      .xTruncate = c_truncate,
      .xSync = c_sync,
      .xFileSize = c_size,
      .xLock = c_lock,
      .xUnlock = c_unlock,
      .xCheckReservedLock = c_check,
      .xFileControl = c_fcntl,
      .xSectorSize = c_sector,
      .xDeviceCharacteristics = c_caps,
      .xShmMap = c_shm_map,
      .xShmLock = c_shm_lock,
      .xShmBarrier = c_shm_barrier,
      .xShmUnmap = c_shm_unmap,
  };
  cnt_vfs = *real_vfs;  /* delete, access, randomness, time: the real ones */
  cnt_vfs.iVersion = 2; /* no xSetSystemCall & co. to pass through */
  cnt_vfs.zName = "pacer-test-count";
  cnt_vfs.szOsFile = (int)sizeof(cnt_file_t) + real_vfs->szOsFile;
  cnt_vfs.pNext = NULL;
  cnt_vfs.pAppData = real_vfs->pAppData;
  cnt_vfs.xOpen = c_open;
  assert_int_equal(sqlite3_vfs_register(&cnt_vfs, 1), SQLITE_OK);
}

static void cnt_vfs_remove(void)
{
  assert_int_equal(sqlite3_vfs_unregister(&cnt_vfs), SQLITE_OK);
  assert_int_equal(sqlite3_vfs_register(real_vfs, 1), SQLITE_OK);
}

static int wal_syncs(void)
{
  pthread_mutex_lock(&cnt_mu);
  int n = cnt_wal_syncs;
  pthread_mutex_unlock(&cnt_mu);
  return n;
}

/* The write-ahead log syncs to run one job through a new spool opened with
 * sync, before the spool closes (closing checkpoints, which syncs). */
static int wal_syncs_for_one_job(int sync, const char *name)
{
  bk_reset(MODE_OK);
  pacer_config_t c;
  spool_cfg(&c, in_dir(name));
  c.spool_sync = sync;
  eng_t e;
  eng_new(&e, &c, &answers);
  assert_int_equal(pacer_register_handler(e.p, "h", rec_on_any, NULL), 0);
  pacer_request_t q;
  request(&q, "h");
  int before = wal_syncs();
  assert_int_equal(pacer_submit(e.p, &q, NULL, NULL, NULL), 0);
  int at_submit = wal_syncs() - before; /* the submit waited for its row */
  assert_int_equal(pacer_drain(e.p, -1), 0);
  int n = wal_syncs() - before;
  eng_free(&e);
  printf("spool_sync %s: %d WAL syncs by the time the submit returned, %d "
         "by the end of the job\n",
         sync == PACER_SPOOL_FULL ? "FULL" : "NORMAL", at_submit, n);
  if (sync == PACER_SPOOL_FULL)
    assert_true(at_submit >= 1); /* on disk before pacer_submit() returns */
  return n;
}

/* spool_sync = FULL syncs the log at every commit, so an accepted job
 * survives a power cut; NORMAL (the default) leaves that to the
 * checkpoint, surviving a crash of the process only. */
static void spool_sync_full_syncs_every_commit(void **state)
{
  (void)state;
  cnt_vfs_install();
  int normal = wal_syncs_for_one_job(PACER_SPOOL_NORMAL, "normal.db");
  int full = wal_syncs_for_one_job(PACER_SPOOL_FULL, "full.db");
  cnt_vfs_remove();
  assert_int_equal(normal, 0);
  /* The add, then started and done (one group commit or two): each
   * commit synced. */
  assert_true(full >= 2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
  const struct CMUnitTest tests[] = {
      /* First, while the process has never had a second thread: it forks. */
      T(full_disk_loses_nothing),
      T(new_spool_is_private_and_in_wal_mode),
      T(records_come_back_identical_in_id_order),
      T(ids_increase_and_are_never_reused),
      T(started_waiting_done_and_status),
      T(group_commit_under_4_threads),
      T(second_open_is_busy),
      T(garbage_file_is_refused_untouched),
      T(foreign_database_is_refused_untouched),
      T(newer_schema_is_refused),
      T(missing_directory_is_refused),
      T(handler_needed_and_key_added),
      T(kept_job_resumes_with_its_next_attempt),
      T(unregistered_handler_leaves_job_in_spool),
      T(waiting_retry_resumes_at_its_time),
      T(cancel_deletes_the_row),
      T(batch_is_all_or_nothing),
      T(callback_keeps_its_job),
      T(writer_failure_goes_to_the_log),
      T(oversized_job_is_refused_alone),
      T(program_values_are_kept),
      T(resume_refuses_transport_owned_headers),
      T(spool_sync_full_syncs_every_commit),
  };
#undef T
  return cmocka_run_group_tests(tests, rec_group_setup, rec_group_teardown);
}
