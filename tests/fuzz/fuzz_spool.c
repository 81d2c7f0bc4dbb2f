/* SPDX-License-Identifier: MIT */
/* fuzz_spool.c - stored jobs read back by pacer_resume(): rows of the
 * spool's jobs table (src/spool.c, pacer__spool_load) decoded into requests
 * again, header lines included (src/engine.c, resume_one).
 *
 * A spool file holds whatever a crash, a disk or a person left in it: each
 * input writes one or two rows with any value of any SQLite type in any
 * column (the NOT NULL ones refuse NULL), then a dispatcher over the fake
 * clock and a fake transport that holds every attempt resumes them and is
 * freed.
 * Input, per column in order (id, state, attempts, max_attempts, due_ms,
 * deadline_ms, created_ms, timeout_ms, priority, flags, handler, key,
 * method, url, headers, body, tag): 1 byte of type (0 integer, 1 text,
 * 2 blob, 3 NULL), then 8 bytes of integer or a NUL-ended string. The
 * handler "h" is registered.
 * Properties: resume returns 0 or an error code, and every job it loaded
 * ends in exactly one callback. */
#include "engine.h"
#include "fake_transport.h"
#include "fuzz.h"
#include "spool.h"

#include <sqlite3.h>
#include <unistd.h>

static char dir[64];
static char path[96];
static unsigned char *tmpl; /* an empty spool file's bytes */
static size_t tmpl_len;

static void remove_files(void)
{
  static const char *const tails[] = {"", "-wal", "-shm", ".lock", "-journal"};
  char p[128];
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    snprintf(p, sizeof p, "%s%s", path, tails[i]);
    unlink(p);
  }
}

static void cleanup(void)
{
  remove_files();
  rmdir(dir);
  free(tmpl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  const char *base = fuzz_tmpdir();
  snprintf(dir, sizeof dir, "%s/pacer-fuzz-spool-XXXXXX", base);
  if (!mkdtemp(dir)) {
    perror("fuzz_spool: mkdtemp");
    return 0;
  }
  snprintf(path, sizeof path, "%s/s.db", dir);
  atexit(cleanup);
  pacer__spool_t *s;
  char err[256];
  if (pacer__spool_open(path, 0, &s, err, sizeof err)) {
    fprintf(stderr, "fuzz_spool: %s\n", err);
    return 0;
  }
  pacer__spool_close(s);
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  unsigned char buf[65536];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  tmpl = malloc(n);
  if (tmpl) {
    memcpy(tmpl, buf, n);
    tmpl_len = n;
  }
  remove_files();
  return 0;
}

/* Writes one row from the input; returns 0 when the input is used up. */
static int add_row(sqlite3 *db, fuzz_in_t *in)
{
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "INSERT OR REPLACE INTO jobs VALUES"
                         "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK)
    return 0;
  for (int col = 1; col <= 17; col++) {
    uint8_t type = fuzz_u8(in) % 4;
    if (type == 0) {
      sqlite3_bind_int64(st, col, (sqlite3_int64)fuzz_u64(in));
    } else if (type == 3) {
      sqlite3_bind_null(st, col);
    } else {
      size_t n;
      char *v = fuzz_str(in, &n);
      if (!v)
        break;
      if (type == 1)
        sqlite3_bind_text(st, col, v, (int)n, SQLITE_TRANSIENT);
      else
        sqlite3_bind_blob(st, col, v, (int)n, SQLITE_TRANSIENT);
      free(v);
    }
  }
  sqlite3_step(st); /* a NOT NULL column given NULL: no row */
  sqlite3_finalize(st);
  return in->left > 0;
}

static void holder(void *user, const pacer__job_t *job, fake_reply_t *reply)
{
  reply->hold = 1;
}

static unsigned long ended;

static void on_done(const pacer_result_t *res, void *user)
{
  __atomic_add_fetch(&ended, 1, __ATOMIC_SEQ_CST);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!tmpl)
    return 0;
  remove_files();
  FILE *f = fopen(path, "wb");
  if (!f)
    return 0;
  size_t w = fwrite(tmpl, 1, tmpl_len, f);
  if (fclose(f) || w != tmpl_len)
    return 0;

  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) {
    sqlite3_close(db);
    return 0;
  }
  fuzz_in_t in = {data, size};
  if (add_row(db, &in))
    add_row(db, &in);
  sqlite3_close(db);

  fake_clock_t clk;
  fake_clock_init(&clk, 1000000000);
  fake_tx_t *tx = fake_tx_new(&clk, holder, NULL);
  pacer__clock_t ci = fake_clock_iface(&clk);
  pacer__transport_t ti = fake_tx_iface(tx);
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.spool_path = path;
  cfg.workers = 1;
  pacer_t *p = NULL;
  ended = 0;
  if (tx && pacer__new_with(&cfg, &ci, &ti, &p) == 0) {
    FUZZ_CHECK(pacer_register_handler(p, "h", on_done, NULL) == 0);
    pacer_resume_info_t info = {.struct_size = sizeof info};
    int rc = pacer_resume(p, &info);
    FUZZ_CHECK(rc <= 0);
    FUZZ_CHECK(info.loaded <= 2 && info.in_flight <= info.loaded);
    pacer_free(p);
    FUZZ_CHECK(__atomic_load_n(&ended, __ATOMIC_SEQ_CST) == info.loaded);
  }
  fake_tx_free(tx);
  fake_clock_destroy(&clk);
  return 0;
}
