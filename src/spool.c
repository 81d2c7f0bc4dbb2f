/* SPDX-License-Identifier: MIT */
/* spool.c - the durable spool on SQLite: schema, group commit writer,
 * loading unfinished jobs, and pacer_spool_status(). */
#include "spool.h"
#include "log.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

enum { OP_ADD, OP_STARTED, OP_WAITING, OP_DONE, OP_FORGET };

typedef struct waiter {
  int done, rc;
  char *err;
  size_t errlen;
} waiter_t;

typedef struct op {
  int kind;
  uint64_t id;
  unsigned attempts;
  int64_t due_ms;
  int ok;
  const pacer__spool_rec_t *recs; /* OP_ADD */
  const char *mark;               /* OP_ADD: the program's mark, or NULL */
  const uint64_t *ids;            /* OP_STARTED */
  const unsigned *atts;
  size_t n;
  waiter_t *w; /* NULL: nobody waits */
} op_t;

typedef struct opvec {
  op_t *v;
  size_t n, cap;
} opvec_t;

struct pacer__spool {
  sqlite3 *db;
  int lock_fd;
  char uuid[17];
  pthread_mutex_t mu;  /* ops, stop, next_id, waiters */
  pthread_cond_t work; /* the writer waits for operations */
  pthread_cond_t done; /* waiters wait for their commit */
  opvec_t ops;
  int stop;
  uint64_t next_id;
  pthread_t writer;
  int writer_started;
  /* The writer's prepared statements; used by the writer thread only, and
   * by load under db_mu. */
  pthread_mutex_t db_mu;
  sqlite3_stmt *ins, *started, *waiting, *del, *meta, *mark;
  /* SQLite's longest row (SQLITE_LIMIT_LENGTH) less ROW_OVERHEAD: the
   * most a job's strings and blobs may hold together; under mu. */
  size_t max_payload;
  /* Where the writer's failures go (pacer__spool_set_log); under mu. */
  pacer_log_cb log_cb;
  void *log_user;
  pacer_log_level_t log_level;
};

/* What a jobs row needs besides its strings and blobs, at most: SQLite's
 * record header (a size of at most 9 bytes for each of 17 columns, and its
 * own length) and 10 integers of at most 9 bytes each. */
#define ROW_OVERHEAD 512

/* Where a failure nobody waits for is reported: the dispatcher's log.
 * Copied under mu; the callback runs with no lock held, as it may call
 * back into the dispatcher. */
typedef struct logger {
  pacer_log_cb cb;
  void *user;
  pacer_log_level_t level;
} logger_t;

static logger_t logger_locked(const pacer__spool_t *s)
{
  logger_t l = {s->log_cb, s->log_user, s->log_level};
  return l;
}

static void log_error(const logger_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_error(const logger_t *l, const char *fmt, ...)
{
  if (!l->cb || l->level < PACER_LOG_ERROR)
    return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  l->cb(PACER_LOG_ERROR, buf, l->user);
}

static int exec(sqlite3 *db, const char *sql)
{
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* ---- schema ---- */

static const char schema[] =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY,"
    " state INTEGER NOT NULL,"        /* PACER__SPOOL_* */
    " attempts INTEGER NOT NULL,"     /* attempts started */
    " max_attempts INTEGER NOT NULL," /* 0: the dispatcher's */
    " due_ms INTEGER NOT NULL,"       /* wall ms, a retry not before */
    " deadline_ms INTEGER NOT NULL,"  /* wall ms, 0 none */
    " created_ms INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL,"
    " priority INTEGER NOT NULL,"
    " flags INTEGER NOT NULL,"
    " handler TEXT NOT NULL,"
    " key TEXT,"
    " method TEXT NOT NULL,"
    " url TEXT NOT NULL,"
    " headers BLOB,"
    " body BLOB,"
    " tag BLOB);";

static int make_uuid(char out[17])
{
  unsigned char b[8];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
    return -1;
  for (size_t i = 0; i < sizeof b; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  return 0;
}

/* Reads the schema version into *out and refuses a file that is neither a
 * spool nor a new, empty database. Runs before the file is switched to WAL,
 * so a file refused here is left exactly as it was. */
static int check_identity(pacer__spool_t *s, int *out, char *err, size_t errlen)
{
  sqlite3_stmt *st;
  int version = -1;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) ==
      SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  *out = version;
  if (version < 0) {
    pacer__set_err(err, errlen, "not a pacer spool, or corrupt: %s",
                   sqlite3_errmsg(s->db));
    return PACER_ESPOOL;
  }
  if (version > PACER__SPOOL_VERSION) {
    pacer__set_err(err, errlen,
                   "spool schema version %d is newer than this library's (%d)",
                   version, PACER__SPOOL_VERSION);
    return PACER_ESPOOLVERSION;
  }
  if (version == 0) {
    int tables = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_schema", -1, &st,
                           NULL) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
      sqlite3_finalize(st);
    }
    if (tables != 0) {
      pacer__set_err(err, errlen,
                     "not a pacer spool: the database has other tables");
      return PACER_ESPOOL;
    }
  }
  return 0;
}

/* Creates the tables, the identity and the counters of a new spool in one
 * transaction, so that a spool is either whole or still empty. */
static int create_schema(pacer__spool_t *s, char *err, size_t errlen)
{
  char uuid[17], sql[256];
  if (make_uuid(uuid)) {
    pacer__set_err(err, errlen, "no random bytes for the spool's identity");
    return PACER_ESPOOL;
  }
  snprintf(sql, sizeof sql,
           "INSERT INTO meta VALUES('uuid','%s'),('next_id',1),"
           "('done',0),('failed',0);PRAGMA user_version=%d;",
           uuid, PACER__SPOOL_VERSION);
  if (exec(s->db, "BEGIN IMMEDIATE") || exec(s->db, schema) ||
      exec(s->db, sql) || exec(s->db, "COMMIT")) {
    pacer__set_err(err, errlen, "cannot create the spool: %s",
                   sqlite3_errmsg(s->db));
    exec(s->db, "ROLLBACK");
    return PACER_ESPOOL;
  }
  return 0;
}

/* Runs SQLite's quick check: a damaged file is refused before anything is
 * read from it. */
static int check_integrity(pacer__spool_t *s, char *err, size_t errlen)
{
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL) !=
      SQLITE_OK) {
    pacer__set_err(err, errlen, "spool is corrupt: %s", sqlite3_errmsg(s->db));
    return PACER_ESPOOL;
  }
  int rc = sqlite3_step(st);
  const char *res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                                     : sqlite3_errmsg(s->db);
  if (!res || strcmp(res, "ok")) {
    pacer__set_err(err, errlen, "spool is corrupt: %s", res ? res : "unknown");
    sqlite3_finalize(st);
    return PACER_ESPOOL;
  }
  sqlite3_finalize(st);
  return 0;
}

/* Reads the spool's uuid and the next job id into s. The next id is past
 * every stored job's as well, whatever the meta row says. */
static int read_identity(pacer__spool_t *s, char *err, size_t errlen)
{
  sqlite3_stmt *st;
  const char *q = "SELECT (SELECT v FROM meta WHERE k='uuid'),"
                  " max((SELECT v FROM meta WHERE k='next_id'),"
                  "     coalesce((SELECT max(id) FROM jobs), 0) + 1)";
  int rc = PACER_ESPOOL;
  if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
        strlen((const char *)sqlite3_column_text(st, 0)) == 16) {
      memcpy(s->uuid, sqlite3_column_text(st, 0), 17);
      s->next_id = (uint64_t)sqlite3_column_int64(st, 1);
      rc = 0;
    }
    sqlite3_finalize(st);
  }
  if (rc)
    pacer__set_err(err, errlen, "not a pacer spool (no identity): %s",
                   sqlite3_errmsg(s->db));
  return rc;
}

/* Prepares the writer's statements once, for the spool's life; a file
 * whose tables do not fit them is not a spool. */
static int prepare_statements(pacer__spool_t *s, char *err, size_t errlen)
{
  static const struct {
    size_t off;
    const char *sql;
  } stmts[] = {
      {offsetof(pacer__spool_t, ins),
       "INSERT INTO jobs(id,state,attempts,max_attempts,due_ms,deadline_ms,"
       "created_ms,timeout_ms,priority,flags,handler,key,method,url,headers,"
       "body,tag) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
      {offsetof(pacer__spool_t, started),
       "UPDATE jobs SET state=2, attempts=? WHERE id=?"},
      {offsetof(pacer__spool_t, waiting),
       "UPDATE jobs SET state=1, attempts=?, due_ms=? WHERE id=?"},
      {offsetof(pacer__spool_t, del), "DELETE FROM jobs WHERE id=?"},
      {offsetof(pacer__spool_t, meta),
       "UPDATE meta SET v = CASE k WHEN 'done' THEN v + ?1"
       " WHEN 'failed' THEN v + ?2 WHEN 'next_id' THEN max(v, ?3) END"
       " WHERE k IN ('done','failed','next_id')"},
      {offsetof(pacer__spool_t, mark),
       "INSERT INTO meta(k,v) VALUES('mark',?)"
       " ON CONFLICT(k) DO UPDATE SET v=excluded.v"},
  };
  for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
    sqlite3_stmt **slot = (sqlite3_stmt **)((char *)s + stmts[i].off);
    if (sqlite3_prepare_v3(s->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                           slot, NULL) != SQLITE_OK) {
      pacer__set_err(err, errlen, "not a pacer spool (schema): %s",
                     sqlite3_errmsg(s->db));
      return PACER_ESPOOL;
    }
  }
  return 0;
}

/* Creates the schema in a new spool (version 0, checked empty); checks the
 * file; reads the uuid and the next id; prepares the writer's statements. */
static int prepare_schema(pacer__spool_t *s, int version, char *err,
                          size_t errlen)
{
  int rc;
  if (version == 0 && (rc = create_schema(s, err, errlen)))
    return rc;
  if ((rc = check_integrity(s, err, errlen)) ||
      (rc = read_identity(s, err, errlen)))
    return rc;
  return prepare_statements(s, err, errlen);
}

/* ---- the writer ---- */

static int step_reset(sqlite3_stmt *st)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int insert(pacer__spool_t *s, const pacer__spool_rec_t *r)
{
  sqlite3_stmt *st = s->ins;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)r->id);
  sqlite3_bind_int(st, 2, r->state);
  sqlite3_bind_int(st, 3, (int)r->attempts);
  sqlite3_bind_int(st, 4, (int)r->max_attempts);
  sqlite3_bind_int64(st, 5, r->due_ms);
  sqlite3_bind_int64(st, 6, r->deadline_ms);
  sqlite3_bind_int64(st, 7, r->created_ms);
  sqlite3_bind_int64(st, 8, r->timeout_ms);
  sqlite3_bind_int(st, 9, r->priority);
  sqlite3_bind_int(st, 10, (int)r->flags);
  sqlite3_bind_text(st, 11, r->handler, -1, SQLITE_STATIC);
  if (r->key)
    sqlite3_bind_text(st, 12, r->key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 13, r->method, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 14, r->url, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 15, r->headers, (int)r->headers_len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 16, r->body, (int)r->body_len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 17, r->tag, (int)r->tag_len, SQLITE_STATIC);
  return step_reset(st);
}

/* Runs a batch in one transaction. 0, or PACER_ESPOOL with err set. */
static int run_batch(pacer__spool_t *s, const opvec_t *b, char *err,
                     size_t errlen)
{
  int64_t ok = 0, failed = 0, max_id = 0;
  if (exec(s->db, "BEGIN IMMEDIATE"))
    goto fail;
  for (size_t i = 0; i < b->n; i++) {
    const op_t *o = &b->v[i];
    sqlite3_stmt *st;
    switch (o->kind) {
    case OP_ADD:
      if (o->mark) {
        sqlite3_bind_text(s->mark, 1, o->mark, -1, SQLITE_STATIC);
        if (step_reset(s->mark))
          goto fail;
      }
      for (size_t k = 0; k < o->n; k++) {
        if (insert(s, &o->recs[k]))
          goto fail;
        if ((int64_t)o->recs[k].id > max_id)
          max_id = (int64_t)o->recs[k].id;
      }
      break;
    case OP_STARTED:
      st = s->started;
      for (size_t k = 0; k < o->n; k++) {
        sqlite3_bind_int(st, 1, (int)o->atts[k]);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)o->ids[k]);
        if (step_reset(st))
          goto fail;
      }
      break;
    case OP_WAITING:
      st = s->waiting;
      sqlite3_bind_int(st, 1, (int)o->attempts);
      sqlite3_bind_int64(st, 2, o->due_ms);
      sqlite3_bind_int64(st, 3, (sqlite3_int64)o->id);
      if (step_reset(st))
        goto fail;
      break;
    case OP_DONE:
    case OP_FORGET:
      st = s->del;
      sqlite3_bind_int64(st, 1, (sqlite3_int64)o->id);
      if (step_reset(st))
        goto fail;
      if (o->kind == OP_DONE && sqlite3_changes(s->db) > 0)
        *(o->ok ? &ok : &failed) += 1;
      break;
    }
  }
  sqlite3_bind_int64(s->meta, 1, ok);
  sqlite3_bind_int64(s->meta, 2, failed);
  sqlite3_bind_int64(s->meta, 3, max_id + 1);
  if (step_reset(s->meta))
    goto fail;
  if (exec(s->db, "COMMIT"))
    goto fail;
  return 0;
fail:
  pacer__set_err(err, errlen, "spool write failed: %s", sqlite3_errmsg(s->db));
  if (!sqlite3_get_autocommit(s->db))
    exec(s->db, "ROLLBACK");
  return PACER_ESPOOL;
}

static void *writer_main(void *arg)
{
  pacer__spool_t *s = arg;
  opvec_t batch = {0};
  char err[256];
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->ops.n && !s->stop)
      pthread_cond_wait(&s->work, &s->mu);
    if (!s->ops.n)
      break;
    opvec_t t = batch; /* take the queued operations, leave an empty vector */
    batch = s->ops;
    s->ops = t;
    s->ops.n = 0;
    pthread_mutex_unlock(&s->mu);

    pthread_mutex_lock(&s->db_mu);
    err[0] = 0;
    int rc = run_batch(s, &batch, err, sizeof err);
    pthread_mutex_unlock(&s->db_mu);

    pthread_mutex_lock(&s->mu);
    int waited = 0;
    for (size_t i = 0; i < batch.n; i++) {
      waiter_t *w = batch.v[i].w;
      if (!w)
        continue;
      w->rc = rc;
      if (rc)
        pacer__set_err(w->err, w->errlen, "%s", err);
      w->done = 1;
      waited = 1;
    }
    if (waited)
      pthread_cond_broadcast(&s->done);
    batch.n = 0;
    if (rc && !waited) {
      logger_t l = logger_locked(s);
      pthread_mutex_unlock(&s->mu);
      log_error(&l, "spool: %s (finished jobs may run again on resume)", err);
      pthread_mutex_lock(&s->mu);
    }
  }
  pthread_mutex_unlock(&s->mu);
  free(batch.v);
  return NULL;
}

/* Queues o (under mu); wakes the writer. */
static int push_locked(pacer__spool_t *s, const op_t *o)
{
  if (s->ops.n == s->ops.cap) {
    size_t cap = s->ops.cap ? s->ops.cap * 2 : 256;
    op_t *v = realloc(s->ops.v, cap * sizeof *v);
    if (!v)
      return PACER_ENOMEM;
    s->ops.v = v;
    s->ops.cap = cap;
  }
  s->ops.v[s->ops.n++] = *o;
  pthread_cond_signal(&s->work);
  return 0;
}

static int submit_wait(pacer__spool_t *s, op_t *o, char *err, size_t errlen)
{
  waiter_t w = {0, 0, err, errlen};
  o->w = &w;
  pthread_mutex_lock(&s->mu);
  int rc = push_locked(s, o);
  while (rc == 0 && !w.done)
    pthread_cond_wait(&s->done, &s->mu);
  pthread_mutex_unlock(&s->mu);
  o->w = NULL; /* the writer is done with w (or never had it) */
  if (rc == PACER_ENOMEM)
    pacer__set_err(err, errlen, "out of memory");
  return rc ? rc : w.rc;
}

static void submit_async(pacer__spool_t *s, const op_t *o)
{
  pthread_mutex_lock(&s->mu);
  int rc = push_locked(s, o);
  logger_t l = logger_locked(s);
  pthread_mutex_unlock(&s->mu);
  if (rc)
    log_error(&l, "spool: out of memory; job %llu may run again on resume",
              (unsigned long long)o->id);
}

/* Under mu, or before the spool is shared. */
static void set_max_payload(pacer__spool_t *s, int limit)
{
  s->max_payload = limit > ROW_OVERHEAD ? (size_t)limit - ROW_OVERHEAD : 0;
}

/* ---- opening ---- */

/* Takes the spool's lock: an flock() on "<path>.lock", not on the database,
 * as closing any descriptor of the database would drop SQLite's own POSIX
 * locks. PACER_ESPOOLBUSY when another dispatcher holds it. */
static int lock_spool(pacer__spool_t *s, const char *path, char *err,
                      size_t errlen)
{
  char lock_path[4096];
  if ((size_t)snprintf(lock_path, sizeof lock_path, "%s.lock", path) >=
      sizeof lock_path) {
    pacer__set_err(err, errlen, "spool path too long");
    return PACER_ESPOOL;
  }
  s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0) {
    pacer__set_err(err, errlen, "cannot open spool %s: %s", lock_path,
                   strerror(errno));
    return PACER_ESPOOL;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
    if (errno == EWOULDBLOCK) {
      pacer__set_err(err, errlen, "spool %s is in use by another dispatcher",
                     path);
      return PACER_ESPOOLBUSY;
    }
    pacer__set_err(err, errlen, "cannot lock spool %s: %s", path,
                   strerror(errno));
    return PACER_ESPOOL;
  }
  return 0;
}

/* Opens the database into s->db, creating the file first so that it is
 * 0600 (SQLite gives its -wal and -shm files the database's mode); no
 * SQLite lock exists yet to be dropped by that descriptor's close. */
static int open_db(pacer__spool_t *s, const char *path, char *err,
                   size_t errlen)
{
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    pacer__set_err(err, errlen, "cannot open spool %s: %s", path,
                   strerror(errno));
    return PACER_ESPOOL;
  }
  close(fd);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    pacer__set_err(err, errlen, "cannot open spool %s: %s", path,
                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
    return PACER_ESPOOL;
  }
  sqlite3_busy_timeout(s->db, 5000);
  return 0;
}

/* Switches the spool to WAL and the asked sync level. Runs after
 * check_identity(), so that a file that is not a spool stays as it was. */
static int set_journal(pacer__spool_t *s, const char *path, int sync_full,
                       char *err, size_t errlen)
{
  sqlite3_stmt *st;
  const char *mode = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) ==
      SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      mode = (const char *)sqlite3_column_text(st, 0);
    int wal = mode && !strcmp(mode, "wal");
    sqlite3_finalize(st);
    mode = wal ? "wal" : NULL;
  }
  if (!mode) {
    pacer__set_err(err, errlen, "spool %s: not a pacer spool, or corrupt: %s",
                   path, sqlite3_errmsg(s->db));
    return PACER_ESPOOL;
  }
  /* The spool's work is appends, and updates and deletes of recent rows:
   * a small cache holds it, and SQLite's default (2 MB) only fills after
   * millions of jobs, raising the command's memory long after start. */
  if (exec(s->db, "PRAGMA cache_size=-512") ||
      exec(s->db, sync_full ? "PRAGMA synchronous=FULL"
                            : "PRAGMA synchronous=NORMAL")) {
    pacer__set_err(err, errlen, "spool %s: %s", path, sqlite3_errmsg(s->db));
    return PACER_ESPOOL;
  }
  return 0;
}

/* ---- public to the engine ---- */

int pacer__spool_open(const char *path, int sync_full, pacer__spool_t **out,
                      char *err, size_t errlen)
{
  *out = NULL;
  pacer__spool_t *s = calloc(1, sizeof *s);
  if (!s)
    return PACER_ENOMEM;
  s->lock_fd = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->db_mu, NULL);
  pthread_cond_init(&s->work, NULL);
  pthread_cond_init(&s->done, NULL);

  int rc, version;
  if ((rc = lock_spool(s, path, err, errlen)) ||
      (rc = open_db(s, path, err, errlen)) ||
      (rc = check_identity(s, &version, err, errlen)) ||
      (rc = set_journal(s, path, sync_full, err, errlen)) ||
      (rc = prepare_schema(s, version, err, errlen)))
    goto fail;
  set_max_payload(s, sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1));
  if (pthread_create(&s->writer, NULL, writer_main, s)) {
    pacer__set_err(err, errlen, "cannot start the spool's writer thread");
    rc = PACER_ESYSTEM;
    goto fail;
  }
  s->writer_started = 1;
  *out = s;
  return 0;
fail:
  pacer__spool_close(s);
  return rc;
}

void pacer__spool_close(pacer__spool_t *s)
{
  if (!s)
    return;
  if (s->writer_started) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
  }
  sqlite3_finalize(s->ins);
  sqlite3_finalize(s->started);
  sqlite3_finalize(s->waiting);
  sqlite3_finalize(s->del);
  sqlite3_finalize(s->meta);
  sqlite3_finalize(s->mark);
  if (s->db)
    sqlite3_close(s->db);
  if (s->lock_fd >= 0)
    close(s->lock_fd); /* releases the flock */
  free(s->ops.v);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->db_mu);
  pthread_cond_destroy(&s->work);
  pthread_cond_destroy(&s->done);
  free(s);
}

void pacer__spool_set_log(pacer__spool_t *s, pacer_log_cb cb, void *user,
                          pacer_log_level_t level)
{
  pthread_mutex_lock(&s->mu);
  s->log_cb = cb;
  s->log_user = user;
  s->log_level = level;
  pthread_mutex_unlock(&s->mu);
}

int pacer__spool_fits(pacer__spool_t *s, const pacer__spool_rec_t *r,
                      size_t *size, size_t *max)
{
  size_t n = strlen(r->handler) + (r->key ? strlen(r->key) : 0) +
             strlen(r->method) + strlen(r->url);
  /* Each part is below SIZE_MAX / 8 (they are in memory): no overflow. */
  n += r->headers_len + r->body_len + r->tag_len;
  pthread_mutex_lock(&s->mu);
  size_t lim = s->max_payload;
  pthread_mutex_unlock(&s->mu);
  if (size)
    *size = n + ROW_OVERHEAD;
  if (max)
    *max = lim + ROW_OVERHEAD;
  return n <= lim;
}

int pacer__spool_limit_length(pacer__spool_t *s, int limit)
{
  pthread_mutex_lock(&s->db_mu);
  int old = sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, limit);
  int now = sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1);
  pthread_mutex_unlock(&s->db_mu);
  pthread_mutex_lock(&s->mu);
  set_max_payload(s, now);
  pthread_mutex_unlock(&s->mu);
  return old;
}

const char *pacer__spool_uuid(const pacer__spool_t *s)
{
  return s->uuid;
}

uint64_t pacer__spool_reserve(pacer__spool_t *s, size_t n)
{
  pthread_mutex_lock(&s->mu);
  uint64_t id = s->next_id;
  s->next_id += n;
  pthread_mutex_unlock(&s->mu);
  return id;
}

int pacer__spool_add(pacer__spool_t *s, const pacer__spool_rec_t *recs,
                     size_t n, const char *mark, char *err, size_t errlen)
{
  op_t o = {.kind = OP_ADD, .recs = recs, .n = n, .mark = mark};
  return submit_wait(s, &o, err, errlen);
}

int pacer__spool_started(pacer__spool_t *s, const uint64_t *ids,
                         const unsigned *attempts, size_t n)
{
  op_t o = {.kind = OP_STARTED, .ids = ids, .atts = attempts, .n = n};
  return submit_wait(s, &o, NULL, 0);
}

void pacer__spool_waiting(pacer__spool_t *s, uint64_t id, unsigned attempts,
                          int64_t due_ms)
{
  op_t o = {
      .kind = OP_WAITING, .id = id, .attempts = attempts, .due_ms = due_ms};
  submit_async(s, &o);
}

void pacer__spool_done(pacer__spool_t *s, uint64_t id, int ok)
{
  op_t o = {.kind = OP_DONE, .id = id, .ok = ok};
  submit_async(s, &o);
}

void pacer__spool_forget(pacer__spool_t *s, uint64_t id)
{
  op_t o = {.kind = OP_FORGET, .id = id};
  pthread_mutex_lock(&s->mu);
  int rc = push_locked(s, &o);
  logger_t l = logger_locked(s);
  pthread_mutex_unlock(&s->mu);
  if (rc == 0)
    return;
  /* No memory to queue it: a row left behind would run on resume although
   * its submit failed. Delete it here instead; its insert was committed
   * before the submit went on, and no queued operation names it. */
  pthread_mutex_lock(&s->db_mu);
  sqlite3_bind_int64(s->del, 1, (sqlite3_int64)id);
  rc = step_reset(s->del);
  pthread_mutex_unlock(&s->db_mu);
  if (rc)
    log_error(&l, "spool: out of memory; job %llu may run again on resume",
              (unsigned long long)id);
}

static const char load_sql[] =
    "SELECT id,state,attempts,max_attempts,due_ms,deadline_ms,created_ms,"
    "timeout_ms,priority,flags,handler,key,method,url,headers,body,tag "
    "FROM jobs ORDER BY id";

int pacer__spool_load(pacer__spool_t *s,
                      int (*fn)(void *ctx, const pacer__spool_rec_t *rec),
                      void *ctx)
{
  pthread_mutex_lock(&s->db_mu);
  sqlite3_stmt *st;
  int rc = 0;
  if (sqlite3_prepare_v2(s->db, load_sql, -1, &st, NULL) != SQLITE_OK) {
    pthread_mutex_unlock(&s->db_mu);
    return PACER_ESPOOL;
  }
  int step;
  while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    pacer__spool_rec_t r;
    memset(&r, 0, sizeof r);
    r.id = (uint64_t)sqlite3_column_int64(st, 0);
    r.state = sqlite3_column_int(st, 1);
    r.attempts = (unsigned)sqlite3_column_int(st, 2);
    r.max_attempts = (unsigned)sqlite3_column_int(st, 3);
    r.due_ms = sqlite3_column_int64(st, 4);
    r.deadline_ms = sqlite3_column_int64(st, 5);
    r.created_ms = sqlite3_column_int64(st, 6);
    r.timeout_ms = sqlite3_column_int64(st, 7);
    r.priority = sqlite3_column_int(st, 8);
    r.flags = (unsigned)sqlite3_column_int(st, 9);
    r.handler = (const char *)sqlite3_column_text(st, 10);
    r.key = (const char *)sqlite3_column_text(st, 11);
    r.method = (const char *)sqlite3_column_text(st, 12);
    r.url = (const char *)sqlite3_column_text(st, 13);
    r.headers = sqlite3_column_blob(st, 14);
    r.headers_len = (size_t)sqlite3_column_bytes(st, 14);
    r.body = sqlite3_column_blob(st, 15);
    r.body_len = (size_t)sqlite3_column_bytes(st, 15);
    r.tag = sqlite3_column_blob(st, 16);
    r.tag_len = (size_t)sqlite3_column_bytes(st, 16);
    if (!r.handler || !r.method || !r.url)
      continue; /* NOT NULL columns: cannot happen in a sound file */
    rc = fn(ctx, &r);
  }
  if (rc == 0 && step != SQLITE_DONE)
    rc = PACER_ESPOOL;
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->db_mu);
  return rc;
}

/* ---- pacer_spool_status ---- */

/* Says in out->message that db is not a spool or is damaged, from SQLite's
 * latest error; call it before finalizing the failed statement, which may
 * change that error. PACER_ESPOOL. */
static int status_corrupt(sqlite3 *db, pacer_spool_status_t *out)
{
  snprintf(out->message, sizeof out->message,
           "not a pacer spool, or corrupt: %s", sqlite3_errmsg(db));
  return PACER_ESPOOL;
}

/* Opens path read-only into *db, without the spool's lock: a running
 * dispatcher may be using the file. */
static int status_open(const char *path, sqlite3 **db,
                       pacer_spool_status_t *out)
{
  if (access(path, F_OK)) {
    snprintf(out->message, sizeof out->message, "no spool at %s: %s", path,
             strerror(errno));
    return PACER_ESPOOL;
  }
  if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(out->message, sizeof out->message, "cannot open %s: %s", path,
             *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_close(*db);
    *db = NULL;
    return PACER_ESPOOL;
  }
  sqlite3_busy_timeout(*db, 5000);
  return 0;
}

/* Reads the schema version into out and refuses a newer one, whose tables
 * this library cannot read. */
static int status_version(sqlite3 *db, pacer_spool_status_t *out)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ||
      sqlite3_step(st) != SQLITE_ROW) {
    int rc = status_corrupt(db, out);
    sqlite3_finalize(st);
    return rc;
  }
  out->version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (out->version > PACER__SPOOL_VERSION) {
    snprintf(out->message, sizeof out->message,
             "spool schema version %d is newer than this library's (%d)",
             out->version, PACER__SPOOL_VERSION);
    return PACER_ESPOOLVERSION;
  }
  return 0;
}

/* Runs SQLite's full integrity check into out->integrity; then refuses a
 * database without the spool's schema (the check says something of any
 * SQLite file, so it comes first). */
static int status_integrity(sqlite3 *db, pacer_spool_status_t *out)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ||
      sqlite3_step(st) != SQLITE_ROW) {
    int rc = status_corrupt(db, out);
    sqlite3_finalize(st);
    return rc;
  }
  snprintf(out->integrity, sizeof out->integrity, "%s",
           (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if (out->version != PACER__SPOOL_VERSION) {
    snprintf(out->message, sizeof out->message, "not a pacer spool");
    return PACER_ESPOOL;
  }
  return 0;
}

/* Counts the stored jobs by state into out: queued, waiting to retry, and
 * in flight when the dispatcher stopped (or now, if one runs). */
static int status_count_jobs(sqlite3 *db, pacer_spool_status_t *out)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT state, count(*) FROM jobs GROUP BY state",
                         -1, &st, NULL))
    return status_corrupt(db, out);
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);
    switch (sqlite3_column_int(st, 0)) {
    case PACER__SPOOL_QUEUED:
      out->queued += n;
      break;
    case PACER__SPOOL_WAITING:
      out->waiting += n;
      break;
    default:
      out->in_flight += n;
    }
  }
  int rc = step != SQLITE_DONE ? status_corrupt(db, out) : 0;
  sqlite3_finalize(st);
  return rc;
}

/* Reads the finished-job counters and the program's mark into out. */
static int status_totals(sqlite3 *db, pacer_spool_status_t *out)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT v FROM meta WHERE k='done'),"
                         "(SELECT v FROM meta WHERE k='failed'),"
                         "(SELECT v FROM meta WHERE k='mark')",
                         -1, &st, NULL) ||
      sqlite3_step(st) != SQLITE_ROW) {
    int rc = status_corrupt(db, out);
    sqlite3_finalize(st);
    return rc;
  }
  out->done = (uint64_t)sqlite3_column_int64(st, 0);
  out->failed = (uint64_t)sqlite3_column_int64(st, 1);
  if (sqlite3_column_type(st, 2) == SQLITE_TEXT)
    snprintf(out->mark, sizeof out->mark, "%s",
             (const char *)sqlite3_column_text(st, 2));
  sqlite3_finalize(st);
  return 0;
}

static int status_read(const char *path, pacer_spool_status_t *out)
{
  if (!path || !out)
    return PACER_EINVAL;
  memset(out, 0, sizeof *out);
  sqlite3 *db = NULL;
  int rc = status_open(path, &db, out);
  if (rc)
    return rc;
  rc = status_version(db, out);
  if (!rc)
    rc = status_integrity(db, out);
  if (!rc)
    rc = status_count_jobs(db, out);
  if (!rc)
    rc = status_totals(db, out);
  sqlite3_close(db);
  return rc;
}

int pacer_spool_status(const char *path, pacer_spool_status_t *st)
{
  pacer_spool_status_t full = {0};
  int rc = path ? pacer__spool_status_check(st) : PACER_EINVAL;
  if (rc == 0) {
    rc = status_read(path, &full);
    pacer__spool_status_give(st, &full);
  }
  return rc;
}

/* ---- values of the program's ---- */

#define VALUE_MAX (1u << 20)
#define NAME_MAX_LEN 64

/* The meta key of a program's value: "value:" and the name. */
static int value_key(const char *name, char out[8 + NAME_MAX_LEN])
{
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > NAME_MAX_LEN)
    return -1;
  snprintf(out, 8 + NAME_MAX_LEN, "value:%s", name);
  return 0;
}

int pacer_spool_set_value(const char *path, const char *name, const char *value,
                          char *msg, size_t msglen)
{
  char key[8 + NAME_MAX_LEN];
  pacer__set_err(msg, msglen, "%s", "");
  if (!path || !value || value_key(name, key) || strlen(value) > VALUE_MAX) {
    pacer__set_err(msg, msglen, "invalid argument");
    return PACER_EINVAL;
  }
  pacer__spool_t *s;
  int rc = pacer__spool_open(path, 0, &s, msg, msglen);
  if (rc)
    return rc;
  pthread_mutex_lock(&s->db_mu); /* the writer is idle: nothing is queued */
  sqlite3_stmt *st = NULL;
  rc = PACER_ESPOOL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO meta(k,v) VALUES(?,?)"
                         " ON CONFLICT(k) DO UPDATE SET v=excluded.v",
                         -1, &st, NULL) == SQLITE_OK &&
      sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
      sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_DONE)
    rc = 0;
  else
    pacer__set_err(msg, msglen, "spool %s: cannot store %s: %s", path, name,
                   sqlite3_errmsg(s->db));
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->db_mu);
  pacer__spool_close(s);
  return rc;
}

int pacer_spool_get_value(const char *path, const char *name, char **value,
                          char *msg, size_t msglen)
{
  char key[8 + NAME_MAX_LEN];
  pacer__set_err(msg, msglen, "%s", "");
  if (value)
    *value = NULL;
  if (!path || !value || value_key(name, key)) {
    pacer__set_err(msg, msglen, "invalid argument");
    return PACER_EINVAL;
  }
  if (access(path, F_OK)) {
    pacer__set_err(msg, msglen, "no spool at %s: %s", path, strerror(errno));
    return PACER_ESPOOL;
  }
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    pacer__set_err(msg, msglen, "cannot open %s: %s", path,
                   db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return PACER_ESPOOL;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  int rc = PACER_ESPOOL, version = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  st = NULL;
  if (version > PACER__SPOOL_VERSION) {
    pacer__set_err(msg, msglen,
                   "spool schema version %d is newer than this library's (%d)",
                   version, PACER__SPOOL_VERSION);
    rc = PACER_ESPOOLVERSION;
  } else if (version != PACER__SPOOL_VERSION) {
    pacer__set_err(msg, msglen, "%s: not a pacer spool, or corrupt: %s", path,
                   version < 0 ? sqlite3_errmsg(db) : "no spool schema");
  } else if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &st,
                                NULL) != SQLITE_OK ||
             sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
    pacer__set_err(msg, msglen, "%s: not a pacer spool, or corrupt: %s", path,
                   sqlite3_errmsg(db));
  } else {
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
      pacer__set_err(msg, msglen, "spool %s holds no value named %s", path,
                     name);
      rc = PACER_ENOTFOUND;
    } else if (step != SQLITE_ROW) {
      pacer__set_err(msg, msglen, "%s: not a pacer spool, or corrupt: %s", path,
                     sqlite3_errmsg(db));
    } else {
      const unsigned char *v = sqlite3_column_text(st, 0);
      *value = strdup(v ? (const char *)v : "");
      rc = *value ? 0 : PACER_ENOMEM;
      if (rc)
        pacer__set_err(msg, msglen, "out of memory");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}

/* ---- rows and requests ---- */

void pacer__spool_rec_from_request(pacer__spool_rec_t *rec, uint64_t id,
                                   const pacer_request_t *r, const char *lines,
                                   size_t lines_len, int64_t wall_ms)
{
  memset(rec, 0, sizeof *rec);
  rec->id = id;
  rec->state = PACER__SPOOL_QUEUED;
  rec->max_attempts = r->max_attempts;
  rec->deadline_ms = r->deadline_ms ? wall_ms + r->deadline_ms : 0;
  rec->created_ms = wall_ms;
  rec->timeout_ms = r->timeout_ms;
  rec->priority = (int)r->priority;
  rec->flags = r->flags;
  rec->handler = r->handler;
  rec->key = r->key;
  rec->method = r->method ? r->method : "GET";
  rec->url = r->url;
  rec->headers = lines;
  rec->headers_len = lines_len;
  rec->body = r->body_len ? r->body : NULL;
  rec->body_len = r->body_len;
  rec->tag = r->tag_len ? r->tag : NULL;
  rec->tag_len = r->tag_len;
}

/* Splits the NUL-ended "Name: value" lines of out->lines[len] into
 * out->headers (room for nh); returns how many were found. */
static size_t split_lines(pacer__spool_req_t *out, size_t len, size_t nh)
{
  size_t k = 0;
  for (char *l = out->lines; l && l < out->lines + len && k < nh;) {
    size_t n = strlen(l);
    char *colon = strstr(l, ": ");
    if (colon) {
      *colon = '\0';
      out->headers[k].name = l;
      out->headers[k].value = colon + 2;
      k++;
    }
    l += n + 1;
  }
  return k;
}

int pacer__spool_rec_request(const pacer__spool_rec_t *rec,
                             pacer__spool_req_t *out)
{
  memset(out, 0, sizeof *out);
  size_t nh = 0, len = rec->headers_len;
  for (size_t i = 0; i < len; i++)
    nh += rec->headers[i] == '\0';
  out->headers = nh ? calloc(nh, sizeof *out->headers) : NULL;
  out->lines = len ? malloc(len) : NULL;
  if ((nh && !out->headers) || (len && !out->lines)) {
    pacer__spool_req_release(out);
    return PACER_ENOMEM;
  }
  if (out->lines)
    memcpy(out->lines, rec->headers, len);
  if (out->lines && out->lines[len - 1] != '\0')
    nh = 0; /* not the stored form: no headers rather than a bad read */
  pacer_request_t *r = &out->req;
  pacer_request_init(r);
  r->method = rec->method;
  r->url = rec->url;
  r->headers = out->headers;
  r->header_count = split_lines(out, len, nh);
  r->body = rec->body;
  r->body_len = rec->body_len;
  r->priority = rec->priority ? PACER_PRIORITY_HIGH : PACER_PRIORITY_LOW;
  r->key = rec->key;
  r->timeout_ms = rec->timeout_ms;
  r->max_attempts = rec->max_attempts;
  r->flags = rec->flags;
  r->handler = rec->handler;
  r->tag = rec->tag;
  r->tag_len = rec->tag_len;
  return 0;
}

void pacer__spool_req_release(pacer__spool_req_t *r)
{
  free(r->headers);
  free(r->lines);
  r->headers = NULL;
  r->lines = NULL;
}
