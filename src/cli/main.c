/* SPDX-License-Identifier: MIT */
/* main.c - the `pacer` command: `pacer send JOBS.jsonl` streams job lines
 * into a dispatcher and writes one result line per job.
 *
 * Threads: the main thread reads and submits (blocking at the queue bound,
 * which bounds memory); the dispatcher's threads run the callbacks, which
 * write result lines under one lock; a signal thread turns SIGINT/SIGTERM
 * into a shutdown (the first finishes what was read, the second cancels);
 * a progress thread redraws the progress line when stderr is a terminal. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE (16u << 20) /* longest job line */
#define BATCH 256            /* job lines per spool transaction */
#define HANDLER "pacer.send" /* the spooled jobs' handler */

typedef struct app {
  cli_opts_t o;
  pacer_t *p;
  FILE *out;
  pthread_mutex_t lock; /* out, tally, stderr lines */
  cli_tally_t tally;
  int write_errno;         /* first error writing results */
  double last_flush;       /* when out was last flushed */
  double start;            /* when sending started */
  atomic_int signals;      /* SIGINT/SIGTERM received */
  atomic_int write_failed; /* spooled: a result line could not be written */
  atomic_int first_signal;
  int wake[2];         /* the signal thread wakes the reader */
  atomic_ullong total; /* jobs in the input, when known */
  atomic_int total_known;
  int progress;           /* 1: draw the progress line */
  int progress_drawn;     /* a progress line is on the terminal */
  int spooled;            /* --spool: jobs carry their id and line as a tag */
  unsigned char *written; /* resume: bitmap of lines already in --out */
  size_t written_bits;
  uint64_t kept, skipped; /* left in the spool; reported before a restart */
  uint64_t nomem;         /* job lines not sent for lack of memory */
  pthread_mutex_t plock;  /* progress thread stop */
  pthread_cond_t pcond;
  int pstop;
} app_t;

static app_t app = {.lock = PTHREAD_MUTEX_INITIALIZER,
                    .plock = PTHREAD_MUTEX_INITIALIZER,
                    .pcond = PTHREAD_COND_INITIALIZER,
                    .wake = {-1, -1}};

typedef struct job_ctx {
  json_t *id;
  unsigned long line;
} job_ctx_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Under app.lock: erases the progress line before other stderr output. */
static void clear_progress_locked(void)
{
  if (app.progress_drawn) {
    fputs("\r\033[K", stderr);
    app.progress_drawn = 0;
  }
}

/* Writes all n bytes to fd. Returns 0 or an errno value. */
static int write_all(int fd, const char *b, size_t n)
{
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return errno ? errno : EIO;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* After the first result line that could not be written with a spool: no
 * more are written (a torn line must stay the file's last, for resume to
 * cut it), no more jobs are read, and the queued ones end kept in the
 * spool instead of being sent for results that could not be written. */
static void stop_writing(void)
{
  atomic_store(&app.write_failed, 1);
  ssize_t w = write(app.wake[1], "x", 1);
  (void)w;
  pacer_shutdown(app.p, PACER_SHUTDOWN_CANCEL);
}

/* Writes one result line and counts its outcome. Returns 0, or -1 when the
 * line could not be written. With a spool the line goes to the file with
 * write(): it is written once that returns, before the callback returns and
 * the job leaves the spool; a job whose line failed stays (pacer_keep). */
static int emit(char *line, const pacer_result_t *res, int code)
{
  size_t n = line ? strlen(line) : 0;
  if (line) {
    char *l = realloc(line, n + 2);
    if (!l)
      free(line);
    line = l;
  }
  if (line) {
    line[n++] = '\n';
    line[n] = 0;
  }
  int ok = 1, stop = 0;
  pthread_mutex_lock(&app.lock);
  if (!line && !app.write_errno)
    app.write_errno = ENOMEM;
  if (app.spooled) {
    int e = app.write_errno;
    if (!e && (e = write_all(fileno(app.out), line, n)))
      app.write_errno = e;
    ok = !e;
    if (ok)
      cli_tally_add(&app.tally, res, code);
    stop = !ok && !atomic_load(&app.write_failed);
  } else {
    if (line && !app.write_errno && fputs(line, app.out) == EOF)
      app.write_errno = errno ? errno : EIO;
    ok = !app.write_errno;
    cli_tally_add(&app.tally, res, code);
    double t = now_s();
    if (t - app.last_flush > 0.2) {
      app.last_flush = t;
      if (fflush(app.out) == EOF && !app.write_errno)
        app.write_errno = errno ? errno : EIO;
    }
  }
  pthread_mutex_unlock(&app.lock);
  free(line);
  if (stop)
    stop_writing();
  return ok ? 0 : -1;
}

static void on_done(const pacer_result_t *r, void *user)
{
  job_ctx_t *j = user;
  emit(cli_result_line(j->id, j->line, r, 0, NULL, app.o.body), r, 0);
  json_decref(j->id);
  free(j);
}

static int line_written(unsigned long line)
{
  return line < app.written_bits && (app.written[line / 8] >> (line % 8)) & 1;
}

/* The handler of spooled jobs: the tag is [line, id]. */
static void on_spooled(const pacer_result_t *r, void *user)
{
  (void)user;
  json_t *tag = json_loadb(r->tag, r->tag_len, 0, NULL);
  json_int_t line = json_integer_value(json_array_get(tag, 0));
  json_t *id = json_array_get(tag, 1);
  int kept = r->kept, skipped = !kept && line_written((unsigned long)line);
  if (!kept && !skipped &&
      emit(cli_result_line(id, (unsigned long)line, r, 0, NULL, app.o.body), r,
           0))
    kept = pacer_keep(app.p, r->id) == 0; /* no line: the job stays */
  if (kept || skipped) {
    pthread_mutex_lock(&app.lock);
    *(kept ? &app.kept : &app.skipped) += 1;
    pthread_mutex_unlock(&app.lock);
  }
  json_decref(tag);
}

static void emit_error(json_t *id, unsigned long line, int code,
                       const char *msg)
{
  emit(cli_result_line(id, line, NULL, code, msg, 0), NULL, code);
}

/* Out of memory is not the end of the input: the line gets its result line
 * (PACER_ENOMEM, "line N: not sent: out of memory"), reading goes on, and
 * the summary says how many were not sent; the exit status is 1. */
static void emit_nomem(json_t *id, unsigned long line)
{
  char err[128];
  snprintf(err, sizeof err, "line %lu: not sent: out of memory", line);
  emit_error(id, line, PACER_ENOMEM, err);
  pthread_mutex_lock(&app.lock);
  app.nomem++;
  pthread_mutex_unlock(&app.lock);
}

static void on_log(pacer_log_level_t level, const char *msg, void *user)
{
  (void)user;
  static const char *const names[] = {"error", "warning", "info", "debug"};
  pthread_mutex_lock(&app.lock);
  clear_progress_locked();
  fprintf(stderr, "pacer: %s: %s\n", names[level & 3], msg);
  pthread_mutex_unlock(&app.lock);
}

/* ---- signals ---- */

static void *signal_main(void *arg)
{
  sigset_t *set = arg;
  for (;;) {
    int sig;
    if (sigwait(set, &sig))
      continue;
    if (sig == SIGUSR1) /* the command is done */
      return NULL;
    int n = atomic_fetch_add(&app.signals, 1) + 1;
    if (n == 1) {
      atomic_store(&app.first_signal, sig);
      ssize_t w = write(app.wake[1], "x", 1);
      (void)w;
      pacer_shutdown(app.p, PACER_SHUTDOWN_FINISH);
      pthread_mutex_lock(&app.lock);
      clear_progress_locked();
      fprintf(stderr,
              "pacer: %s: no more jobs are read; finishing the ones "
              "in flight (again to cancel them)\n",
              sig == SIGINT ? "SIGINT" : "SIGTERM");
      pthread_mutex_unlock(&app.lock);
    } else {
      pacer_shutdown(app.p, PACER_SHUTDOWN_CANCEL);
    }
  }
}

/* ---- progress ---- */

/* Counts the non-blank lines of a regular file (the progress total). */
static void count_jobs(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  static char buf[1 << 16];
  unsigned long long n = 0;
  int blank = 1;
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < got; i++) {
      char c = buf[i];
      if (c == '\n') {
        n += !blank;
        blank = 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        blank = 0;
      }
    }
  }
  n += !blank;
  int ok = !ferror(f);
  fclose(f);
  if (ok) {
    atomic_store(&app.total, n);
    atomic_store(&app.total_known, 1);
  }
}

static void draw_progress(double *prev_t, uint64_t *prev_done, double *rate)
{
  pacer_stats_t *st = NULL;
  unsigned open = 0;
  if (pacer_stats_get(app.p, &st) == 0) {
    for (size_t i = 0; i < st->key_count; i++)
      open += st->keys[i].breaker != PACER_BREAKER_CLOSED;
    pacer_stats_free(st);
  }
  double t = now_s();
  pthread_mutex_lock(&app.lock);
  uint64_t done = app.tally.jobs, failed = cli_tally_failed(&app.tally);
  if (t - *prev_t >= 1.0) { /* the rate over about the last second */
    *rate = (double)(done - *prev_done) / (t - *prev_t);
    *prev_t = t;
    *prev_done = done;
  }
  char total[32] = "?", eta[32] = "?";
  if (atomic_load(&app.total_known)) {
    unsigned long long tot = atomic_load(&app.total);
    snprintf(total, sizeof total, "%llu", tot);
    if (*rate > 0 && tot >= done) {
      double s = (double)(tot - done) / *rate;
      snprintf(eta, sizeof eta, "%dm%02ds", (int)(s / 60), (int)s % 60);
    }
  }
  fprintf(stderr,
          "\r\033[Kpacer: %llu/%s done, %.1f/s, ETA %s, %llu failed, "
          "%u breakers open",
          (unsigned long long)done, total, *rate, eta,
          (unsigned long long)failed, open);
  app.progress_drawn = 1;
  pthread_mutex_unlock(&app.lock);
}

static void *progress_main(void *arg)
{
  (void)arg;
  if (app.o.input && strcmp(app.o.input, "-")) {
    struct stat sb;
    if (stat(app.o.input, &sb) == 0 && S_ISREG(sb.st_mode))
      count_jobs(app.o.input);
  }
  double prev_t = now_s(), rate = 0;
  uint64_t prev_done = 0;
  pthread_mutex_lock(&app.plock);
  while (!app.pstop) {
    pthread_mutex_unlock(&app.plock);
    draw_progress(&prev_t, &prev_done, &rate);
    pthread_mutex_lock(&app.plock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (!app.pstop)
      pthread_cond_timedwait(&app.pcond, &app.plock, &ts);
  }
  pthread_mutex_unlock(&app.plock);
  return NULL;
}

/* ---- reading and submitting ---- */

static int blank(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

static char input_path[4096]; /* the input's absolute path, for the mark */

/* How far the import got, stored with each batch: the offset and number of
 * the next line to read. */
static char *make_mark(uint64_t offset, unsigned long line, int complete)
{
  json_t *m = json_pack("{s:s, s:I, s:I, s:b}", "input", input_path, "offset",
                        (json_int_t)offset, "line", (json_int_t)line,
                        "complete", complete);
  char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
  json_decref(m);
  return s;
}

/* Spooled jobs go in batches, one transaction each. */
typedef struct batch {
  cli_job_t *jobs;
  pacer_request_t *reqs;
  char **tags;
  unsigned long *lines;
  size_t n, cap;
} batch_t;

/* Why submit refused r with rc, for its result line: the header at fault
 * by name, the spool's limit in words, else the code's message. */
static const char *refusal(const pacer_request_t *r, int rc, char *buf,
                           size_t cap)
{
  if (rc == PACER_ETOOLARGE)
    return "too large for the spool (SQLite's row limit)";
  if (rc == PACER_EHEADER) {
    for (size_t i = 0; i < r->header_count; i++) {
      const pacer_header_t *h = &r->headers[i];
      if (pacer_header_check(h->name, h->value) == 0)
        continue;
      const char *what = pacer_header_check(h->name, "") == 0
                             ? "has a control character in its value"
                             : "is not a name that may be sent";
      snprintf(buf, cap, "invalid header: \"%.64s\" %s", h->name, what);
      return buf;
    }
  }
  return pacer_strerror(rc);
}

/* Writes an error line for every job in b and empties it. */
static void batch_clear(batch_t *b, const char *why, int code)
{
  char err[512];
  for (size_t i = 0; i < b->n; i++) {
    if (code == PACER_ENOMEM) {
      emit_nomem(b->jobs[i].id, b->lines[i]);
    } else if (why) {
      snprintf(err, sizeof err, "line %lu: %s", b->lines[i], why);
      emit_error(b->jobs[i].id, b->lines[i], code, err);
    }
    cli_job_clear(&b->jobs[i], 0);
    free(b->tags[i]);
  }
  b->n = 0;
}

static int batch_add(batch_t *b, cli_job_t *job, unsigned long line)
{
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    cli_job_t *j = realloc(b->jobs, cap * sizeof *j);
    if (j)
      b->jobs = j;
    pacer_request_t *r = j ? realloc(b->reqs, cap * sizeof *r) : NULL;
    if (r)
      b->reqs = r;
    char **t = r ? realloc(b->tags, cap * sizeof *t) : NULL;
    if (t)
      b->tags = t;
    unsigned long *l = t ? realloc(b->lines, cap * sizeof *l) : NULL;
    if (l)
      b->lines = l;
    if (!l) {
      emit_nomem(job->id, line);
      cli_job_clear(job, 0);
      return -1;
    }
    b->cap = cap;
  }
  json_t *tag = json_pack("[IO]", (json_int_t)line, job->id);
  char *t = tag ? json_dumps(tag, JSON_COMPACT) : NULL;
  json_decref(tag);
  if (!t) {
    emit_nomem(job->id, line);
    cli_job_clear(job, 0);
    return -1;
  }
  job->req.handler = HANDLER;
  job->req.tag = t;
  job->req.tag_len = strlen(t);
  b->jobs[b->n] = *job;
  b->tags[b->n] = t;
  b->lines[b->n] = line;
  b->n++;
  return 0;
}

/* Submits the batch in one spool transaction. A bad request gets its error
 * line and the rest go again; out of memory gives every job of the batch
 * its error line and reading goes on. Returns 0, or -1 when reading must
 * stop (a signal, or the spool cannot be written), with a message;
 * batch_send_marked() returns 1 when out of memory emptied the batch. */
static int batch_send_marked(batch_t *b, const char *mark);

static int batch_send(batch_t *b, uint64_t pos, unsigned long lineno,
                      int complete)
{
  char *mark = make_mark(pos, lineno, complete);
  int rc = mark ? 0 : PACER_ENOMEM;
  if (!mark && b->n) {
    batch_clear(b, NULL, PACER_ENOMEM);
    /* The next batch's mark covers these lines; at the end, the mark alone
     * must still say the import is complete. */
    return complete ? batch_send(b, pos, lineno, complete) : 0;
  }
  if (!b->n) { /* only the mark */
    if (mark)
      rc = pacer_submit_batch_marked(app.p, NULL, 0, NULL, NULL, NULL, NULL,
                                     mark);
    free(mark);
    if (rc == 0 || (rc == PACER_ENOMEM && !complete))
      return 0; /* a later mark says it */
    if (rc != PACER_ESHUTDOWN) {
      pthread_mutex_lock(&app.lock);
      clear_progress_locked();
      fprintf(stderr,
              "pacer: the spool could not record how far the input was read "
              "(%s)%s\n",
              pacer_strerror(rc),
              complete ? "; it does not say the import is complete" : "");
      pthread_mutex_unlock(&app.lock);
    }
    return -1;
  }
  int ret = batch_send_marked(b, mark);
  free(mark);
  if (ret > 0) /* out of memory: the batch and its mark were not stored */
    return complete ? batch_send(b, pos, lineno, complete) : 0;
  return ret;
}

static int batch_send_marked(batch_t *b, const char *mark)
{
  char err[512];
  while (b->n) {
    for (size_t i = 0; i < b->n; i++)
      b->reqs[i] = b->jobs[i].req;
    size_t bad = b->n;
    int rc = pacer_submit_batch_marked(app.p, b->reqs, b->n, NULL, NULL, NULL,
                                       &bad, mark);
    if (rc == 0) {
      for (size_t i = 0; i < b->n; i++) {
        cli_job_clear(&b->jobs[i], 0);
        free(b->tags[i]);
      }
      b->n = 0;
      return 0;
    }
    if (bad < b->n) { /* that one job's fault: report it, send the rest */
      char why[160];
      snprintf(err, sizeof err, "line %lu: %s", b->lines[bad],
               refusal(&b->reqs[bad], rc, why, sizeof why));
      emit_error(b->jobs[bad].id, b->lines[bad], rc, err);
      cli_job_clear(&b->jobs[bad], 0);
      free(b->tags[bad]);
      b->n--;
      memmove(b->jobs + bad, b->jobs + bad + 1, (b->n - bad) * sizeof *b->jobs);
      memmove(b->tags + bad, b->tags + bad + 1, (b->n - bad) * sizeof *b->tags);
      memmove(b->lines + bad, b->lines + bad + 1,
              (b->n - bad) * sizeof *b->lines);
      continue;
    }
    if (rc == PACER_ENOMEM) {
      batch_clear(b, NULL, rc);
      return 1;
    }
    if (rc == PACER_ESHUTDOWN) {
      batch_clear(b, "not sent: interrupted", rc);
    } else {
      snprintf(err, sizeof err, "not sent: %s (see the log above)",
               pacer_strerror(rc));
      batch_clear(b, err, rc);
      pthread_mutex_lock(&app.lock);
      clear_progress_locked();
      fprintf(stderr,
              "pacer: the spool cannot take more jobs (%s); no more "
              "are read, those accepted are finished\n",
              pacer_strerror(rc));
      pthread_mutex_unlock(&app.lock);
    }
    return -1;
  }
  return 0;
}

/* Reads and submits every job. Returns 0, or -1 after a read error. */
/* Reads jobs from fd, whose next line is number lineno + 1 at offset base
 * (a resumed import starts where the spool's mark says). */
static int send_all(int fd, unsigned long lineno, uint64_t base)
{
  cli_lines_t lr;
  if (cli_lines_init(&lr, fd, app.wake[0], MAX_LINE)) {
    fprintf(stderr, "pacer: out of memory\n");
    return -1;
  }
  lr.base = base;
  int eof = 0;
  int rc = 0;
  char err[512];
  batch_t b = {0};
  while (!atomic_load(&app.signals) && !atomic_load(&app.write_failed)) {
    char *line;
    size_t len;
    int r = cli_lines_next(&lr, &line, &len);
    eof = r == CLI_LINE_EOF;
    if (r == CLI_LINE_EOF || r == CLI_LINE_WOKEN)
      break;
    if (r == CLI_LINE_ERR) {
      pthread_mutex_lock(&app.lock);
      clear_progress_locked();
      fprintf(stderr, "pacer: reading %s: %s\n",
              strcmp(app.o.input, "-") ? app.o.input : "stdin",
              strerror(errno));
      pthread_mutex_unlock(&app.lock);
      rc = -1;
      break;
    }
    lineno++;
    if (line_written(lineno))
      continue; /* a resumed import: reported before the crash */
    if (r == CLI_LINE_LONG) {
      json_t *id = json_integer((json_int_t)lineno);
      snprintf(err, sizeof err, "line %lu: longer than %u bytes", lineno,
               MAX_LINE);
      emit_error(id, lineno, PACER_EINVAL, err);
      json_decref(id);
      continue;
    }
    if (blank(line, len))
      continue;
    cli_job_t job;
    if (cli_job_parse(&job, line, len, lineno, &app.o, err, sizeof err)) {
      emit_error(job.id, lineno, PACER_EINVAL, err);
      cli_job_clear(&job, 0);
      continue;
    }
    if (app.spooled) {
      (void)batch_add(&b, &job, lineno); /* out of memory: reported */
      if ((b.n == BATCH || !cli_lines_ready(&lr)) &&
          batch_send(&b, cli_lines_pos(&lr), lineno, 0))
        break;
      continue;
    }
    job_ctx_t *ctx = malloc(sizeof *ctx);
    int sr = PACER_ENOMEM;
    if (ctx) {
      ctx->id = job.id;
      ctx->line = lineno;
      sr = pacer_submit(app.p, &job.req, on_done, ctx, NULL);
    }
    if (sr) {
      if (sr == PACER_ESHUTDOWN)
        snprintf(err, sizeof err, "line %lu: not sent: interrupted", lineno);
      else {
        char why[160];
        snprintf(err, sizeof err, "line %lu: %s", lineno,
                 refusal(&job.req, sr, why, sizeof why));
      }
      if (sr == PACER_ENOMEM)
        emit_nomem(job.id, lineno);
      else
        emit_error(job.id, lineno, sr, err);
      free(ctx);
      cli_job_clear(&job, 0);
      if (sr == PACER_ESHUTDOWN)
        break;
      continue;
    }
    cli_job_clear(&job, 1); /* the id now belongs to ctx */
  }
  /* The last batch; after a signal each gets its "interrupted" line. At the
   * end of the input the mark says the import is complete. */
  if (app.spooled && (b.n || eof) &&
      batch_send(&b, cli_lines_pos(&lr), lineno, eof) && eof)
    rc = -1; /* the end of the input could not be recorded */
  free(b.jobs);
  free(b.reqs);
  free(b.tags);
  free(b.lines);
  cli_lines_free(&lr);
  return rc;
}

/* ---- spool: status, and what a resumed run already wrote ---- */

static int cmd_status(void)
{
  pacer_spool_status_t st = {.struct_size = sizeof st};
  int rc = pacer_spool_status(app.o.spool_path, &st);
  if (rc) {
    fprintf(stderr, "pacer: status: %s\n", st.message);
    return CLI_EXIT_USAGE;
  }
  printf("queued %llu\nwaiting %llu\nin_flight %llu\ndone %llu\n"
         "failed %llu\nintegrity %s\n",
         (unsigned long long)st.queued, (unsigned long long)st.waiting,
         (unsigned long long)st.in_flight, (unsigned long long)st.done,
         (unsigned long long)st.failed, st.integrity);
  json_t *m = st.mark[0] ? json_loads(st.mark, 0, NULL) : NULL;
  if (m)
    printf("imported %s through line %lld%s\n",
           json_string_value(json_object_get(m, "input")),
           (long long)json_integer_value(json_object_get(m, "line")),
           json_is_true(json_object_get(m, "complete")) ? ", complete"
                                                        : ", not complete");
  json_decref(m);
  return strcmp(st.integrity, "ok") ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

/* Resume: notes the line of every complete result line already in the
 * --out file, and cuts a line the crash left half written. */
static int scan_written(int fd, char *err, size_t errlen)
{
  int dfd = dup(fd);
  FILE *f = dfd >= 0 ? fdopen(dfd, "r") : NULL;
  if (!f) {
    if (dfd >= 0)
      close(dfd);
    snprintf(err, errlen, "reading it: %s", strerror(errno));
    return -1;
  }
  off_t good = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&line, &cap, f)) > 0) {
    if (line[n - 1] != '\n')
      break; /* torn by the crash: only the last line can be */
    json_t *o = json_loadb(line, (size_t)n - 1, 0, NULL);
    json_t *ln = json_object_get(o, "line");
    json_int_t l = json_is_integer(ln) ? json_integer_value(ln) : -1;
    json_decref(o);
    if (l < 0)
      break;
    if ((size_t)l >= app.written_bits) {
      size_t bits = ((size_t)l + 1) * 2 + 1024;
      unsigned char *w = realloc(app.written, (bits + 7) / 8);
      if (!w) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        break;
      }
      memset(w + (app.written_bits + 7) / 8, 0,
             (bits + 7) / 8 - (app.written_bits + 7) / 8);
      app.written = w;
      app.written_bits = bits;
    }
    app.written[l / 8] |= (unsigned char)(1u << (l % 8));
    good += (off_t)n;
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "reading it: %s", strerror(errno));
    rc = -1;
  }
  free(line);
  fclose(f);
  /* Whatever follows the last complete line goes. */
  if (rc == 0 && (ftruncate(fd, good) || lseek(fd, 0, SEEK_END) < 0)) {
    snprintf(err, errlen, "cutting a torn line: %s", strerror(errno));
    rc = -1;
  }
  return rc;
}

/* Resume: if the crash stopped the import, reads the rest of the input
 * from where the spool's mark says. */
static int resume_import(void)
{
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  if (pacer_spool_status(app.o.spool_path, &ss) || !ss.mark[0])
    return 0; /* a spool of another program, or nothing imported */
  json_t *m = json_loads(ss.mark, 0, NULL);
  const char *in = json_string_value(json_object_get(m, "input"));
  json_int_t off = json_integer_value(json_object_get(m, "offset"));
  json_int_t line = json_integer_value(json_object_get(m, "line"));
  int complete = json_is_true(json_object_get(m, "complete"));
  int rc = 0;
  if (!in || complete) {
    json_decref(m);
    return 0;
  }
  snprintf(input_path, sizeof input_path, "%s", in);
  json_decref(m);
  if (!strcmp(input_path, "-")) {
    fprintf(stderr,
            "pacer: the import from stdin stopped after line %lld; what "
            "followed cannot be read again\n",
            (long long)line);
    return -1;
  }
  int fd = open(input_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || lseek(fd, (off_t)off, SEEK_SET) != (off_t)off) {
    fprintf(stderr, "pacer: resuming the import of %s: %s\n", input_path,
            strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (!app.o.quiet)
    fprintf(stderr, "pacer: reading %s again from line %lld\n", input_path,
            (long long)line + 1);
  rc = send_all(fd, (unsigned long)line, (uint64_t)off);
  close(fd);
  return rc;
}

/* ---- the run's settings, kept in the spool ---- */

#define SETTINGS "pacer.send.settings" /* the spool value's name */

/* path made absolute, its directory resolved (the file may not exist). */
static void abs_path(const char *path, char *out, size_t cap)
{
  char buf[PATH_MAX], dir[PATH_MAX];
  if (realpath(path, buf)) {
    snprintf(out, cap, "%s", buf);
    return;
  }
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (realpath(dir, buf))
    snprintf(out, cap, "%s/%s", strcmp(buf, "/") ? buf : "", base);
  else
    snprintf(out, cap, "%s", path);
}

/* Stores the run's settings and its output (an absolute path, or null for
 * stdout) in the spool, before the dispatcher opens it: pacer resume uses
 * them. Returns 0, or -1 with err set. */
static int store_settings(char *err, size_t errlen)
{
  json_t *set = cli_opts_settings(&app.o);
  char path[PATH_MAX + 1], msg[512];
  if (set && app.o.ca_file) { /* found from any directory */
    abs_path(app.o.ca_file, path, sizeof path);
    json_object_set_new(set, "ca-file", json_string(path));
  }
  if (app.o.out_path)
    abs_path(app.o.out_path, path, sizeof path);
  json_t *v = json_pack("{s:i, s:o, s:o}", "version", 1, "settings", set, "out",
                        app.o.out_path ? json_string(path) : json_null());
  char *str = v ? json_dumps(v, JSON_COMPACT) : NULL;
  json_decref(v);
  if (!str) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc =
      pacer_spool_set_value(app.o.spool_path, SETTINGS, str, msg, sizeof msg);
  free(str);
  if (rc)
    snprintf(err, errlen, "--spool %s: %s", app.o.spool_path, msg);
  return rc ? -1 : 0;
}

/* Writes "--name value" of one setting, as --config spells it. */
static void say_setting(FILE *f, const char *name, json_t *v)
{
  char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  fprintf(f, "--%s %s", name, s ? s : "(default)");
  free(s);
}

/* pacer resume: the run's settings from the spool, and on top of them the
 * flags given now, each change said on stderr; the run's --out unless one is
 * given, and another one only with --allow-out-change. Replaces app.o.
 * Returns 0, or -1 with err set (a usage error). */
static int resume_settings(int argc, char **argv, char *err, size_t errlen)
{
  char *stored = NULL, msg[512];
  int rc = pacer_spool_get_value(app.o.spool_path, SETTINGS, &stored, msg,
                                 sizeof msg);
  if (rc == PACER_ENOTFOUND) {
    if (!app.o.out_path) {
      snprintf(err, errlen,
               "--spool %s keeps no settings of its run (an older pacer "
               "wrote it): give --out and the run's flags again",
               app.o.spool_path);
      return -1;
    }
    fprintf(stderr,
            "pacer: --spool %s keeps no settings of its run (an older pacer "
            "wrote it): the flags given are used\n",
            app.o.spool_path);
    return 0;
  }
  if (rc) {
    snprintf(err, errlen, "--spool %s: %s", app.o.spool_path, msg);
    return -1;
  }
  json_t *v = json_loads(stored, 0, NULL);
  free(stored);
  json_t *set = json_object_get(v, "settings");
  json_t *out = json_object_get(v, "out");
  if (!json_is_object(set) || !(json_is_string(out) || json_is_null(out))) {
    snprintf(err, errlen, "--spool %s: the run's settings are damaged",
             app.o.spool_path);
    json_decref(v);
    return -1;
  }
  char who[512];
  snprintf(who, sizeof who, "--spool %s: the run's settings", app.o.spool_path);
  cli_opts_t m;
  cli_opts_init(&m);
  if (cli_opts_apply_settings(&m, set, who, err, errlen) ||
      cli_opts_parse(&m, argc, argv, err, errlen)) {
    cli_opts_free(&m);
    json_decref(v);
    return -1;
  }
  json_t *now = cli_opts_settings(&m);
  const char *k;
  json_t *x;
  json_object_foreach(now, k, x)
  {
    json_t *was = json_object_get(set, k);
    if (was && json_equal(was, x))
      continue;
    fprintf(stderr, "pacer: resume: ");
    say_setting(stderr, k, x);
    fprintf(stderr, " overrides the run's ");
    say_setting(stderr, k, was);
    fputc('\n', stderr);
  }
  json_decref(now);

  const char *run_out = json_is_string(out) ? json_string_value(out) : NULL;
  rc = 0;
  if (!m.out_path) {
    if (run_out && !(m.out_path = strdup(run_out))) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
    }
  } else {
    char given[PATH_MAX + 1];
    abs_path(m.out_path, given, sizeof given);
    if (!run_out || strcmp(given, run_out)) {
      if (!m.allow_out_change) {
        snprintf(err, errlen,
                 "--out %s is not the run's output (%s): the results would "
                 "be split between two files; give --allow-out-change to "
                 "write the rest there",
                 m.out_path, run_out ? run_out : "stdout");
        rc = -1;
      } else {
        fprintf(stderr,
                "pacer: resume: the rest of the results go to %s, not to the "
                "run's %s (--allow-out-change)\n",
                given, run_out ? run_out : "stdout");
      }
    }
  }
  json_decref(v);
  if (rc) {
    cli_opts_free(&m);
    return -1;
  }
  cli_opts_free(&app.o);
  app.o = m;
  return 0;
}

/* ---- main ---- */

static int usage_error(const char *msg)
{
  fprintf(stderr, "pacer: %s\n", msg);
  fprintf(stderr, "usage: pacer send [FLAGS] JOBS.jsonl|-  (pacer --help)\n");
  return CLI_EXIT_USAGE;
}

static int write_stats(const pacer_stats_t *st)
{
  char *json = NULL;
  if (pacer_stats_json(st, &json))
    return -1;
  FILE *f = fopen(app.o.stats_path, "w");
  int ok = f && fputs(json, f) != EOF && putc('\n', f) != EOF;
  if (f && fclose(f))
    ok = 0;
  free(json);
  if (!ok)
    fprintf(stderr, "pacer: --stats-json %s: %s\n", app.o.stats_path,
            strerror(errno));
  return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
  char err[1024];
  /* The character type of the user's locale, so that libcurl can turn an
   * international host name (UTF-8) into its punycode form. Only LC_CTYPE:
   * numbers in job lines and result lines stay in the C locale's format. */
  setlocale(LC_CTYPE, "");
  cli_opts_init(&app.o);
  if (cli_opts_parse(&app.o, argc, argv, err, sizeof err)) {
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  if (app.o.help) {
    cli_usage(stdout);
    cli_opts_free(&app.o);
    return 0;
  }
  if (app.o.version) {
    printf("pacer %s\n", pacer_version());
    cli_opts_free(&app.o);
    return 0;
  }
  int resume = !strcmp(app.o.command, "resume");
  if (!strcmp(app.o.command, "status")) {
    int rc = cmd_status();
    cli_opts_free(&app.o);
    return rc;
  }
  app.spooled = app.o.spool_path != NULL;
  if (resume && access(app.o.spool_path, F_OK)) {
    snprintf(err, sizeof err,
             "--spool %s: %s (pacer resume continues a run of pacer send "
             "--spool)",
             app.o.spool_path, strerror(errno));
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  if (resume && resume_settings(argc, argv, err, sizeof err)) {
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  if (app.spooled && !resume) {
    pacer_spool_status_t ss = {.struct_size = sizeof ss};
    if (pacer_spool_status(app.o.spool_path, &ss) == 0 &&
        (ss.queued + ss.waiting + ss.in_flight > 0 ||
         (ss.mark[0] && !strstr(ss.mark, "\"complete\":true")))) {
      snprintf(err, sizeof err,
               "--spool %s holds an unfinished run (%llu jobs left): finish "
               "it with pacer resume, or use another spool",
               app.o.spool_path,
               (unsigned long long)(ss.queued + ss.waiting + ss.in_flight));
      cli_opts_free(&app.o);
      return usage_error(err);
    }
  }

  snprintf(input_path, sizeof input_path, "-");
  if (!resume && strcmp(app.o.input, "-") && !realpath(app.o.input, input_path))
    snprintf(input_path, sizeof input_path, "%s", app.o.input);
  int fd = resume ? -1 : 0;
  if (!resume && strcmp(app.o.input, "-")) {
    fd = open(app.o.input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(err, sizeof err, "%s: %s", app.o.input, strerror(errno));
      cli_opts_free(&app.o);
      return usage_error(err);
    }
  }
  if (resume && store_settings(err, sizeof err)) {
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  app.out = stdout;
  if (app.o.out_path && resume) {
    /* Append after the lines already written (a torn last one cut). */
    int ofd = open(app.o.out_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    char why[256] = "";
    struct stat sb;
    if (ofd < 0)
      snprintf(why, sizeof why, "%s", strerror(errno));
    else if (fstat(ofd, &sb) == 0 && !S_ISREG(sb.st_mode))
      ; /* a device or a pipe: nothing to read back (/dev/full reads zeros) */
    else if (scan_written(ofd, why, sizeof why))
      close(ofd), ofd = -1;
    app.out = ofd >= 0 ? fdopen(ofd, "a") : NULL;
    if (!app.out) {
      snprintf(err, sizeof err, "--out %s: %s", app.o.out_path,
               why[0] ? why : strerror(errno));
      cli_opts_free(&app.o);
      return usage_error(err);
    }
  } else if (app.o.out_path) {
    app.out = fopen(app.o.out_path, "w");
    if (!app.out) {
      snprintf(err, sizeof err, "--out %s: %s", app.o.out_path,
               strerror(errno));
      cli_opts_free(&app.o);
      return usage_error(err);
    }
  }
  /* Storing takes the spool's lock: resume stores first, so that a spool
   * in use is refused before the output (another run's) is touched. */
  if (app.spooled && !resume && store_settings(err, sizeof err)) {
    if (app.out != stdout)
      fclose(app.out);
    if (fd > 0)
      close(fd);
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  static char outbuf[1 << 16];
  setvbuf(app.out, outbuf, _IOFBF, sizeof outbuf);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error */
  signal(SIGXFSZ, SIG_IGN); /* so is a file size limit (EFBIG) */

  /* Every thread started from here on has the signals blocked; the signal
   * thread takes them with sigwait(). */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (pipe(app.wake)) {
    perror("pacer: pipe");
    return CLI_EXIT_FAILED;
  }

  app.o.cfg.log_cb = on_log;
  int rc = pacer_new(&app.o.cfg, &app.p);
  if (rc) {
    snprintf(err, sizeof err, "%s: %s (%s)",
             app.spooled ? "--spool" : "configuration", pacer_strerror(rc),
             pacer_err_name(rc));
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  if (app.spooled &&
      (rc = pacer_register_handler(app.p, HANDLER, on_spooled, NULL))) {
    fprintf(stderr, "pacer: %s\n", pacer_strerror(rc));
    pacer_free(app.p);
    return CLI_EXIT_FAILED;
  }
  pthread_t sig_thread, prog_thread;
  if (pthread_create(&sig_thread, NULL, signal_main, &set)) {
    fprintf(stderr, "pacer: cannot start a thread\n");
    pacer_free(app.p);
    return CLI_EXIT_FAILED;
  }
  app.progress = !app.o.quiet && isatty(2);
  if (app.progress && pthread_create(&prog_thread, NULL, progress_main, NULL))
    app.progress = 0;

  app.start = app.last_flush = now_s();
  int read_failed = 0;
  if (resume) {
    pacer_resume_info_t info = {.struct_size = sizeof info};
    rc = pacer_resume(app.p, &info);
    atomic_store(&app.total, info.loaded);
    atomic_store(&app.total_known, 1);
    pthread_mutex_lock(&app.lock);
    clear_progress_locked();
    if (rc)
      fprintf(stderr, "pacer: resume: %s\n", pacer_strerror(rc));
    else if (!app.o.quiet)
      fprintf(stderr,
              "pacer: resuming %llu jobs from %s (%llu were in flight at the "
              "last stop; %llu name an unknown handler and stay)\n",
              (unsigned long long)info.loaded, app.o.spool_path,
              (unsigned long long)info.in_flight,
              (unsigned long long)info.no_handler);
    pthread_mutex_unlock(&app.lock);
    read_failed = rc != 0;
    if (rc == 0)
      read_failed = resume_import() != 0;
  } else {
    read_failed = send_all(fd, 0, 0) != 0;
  }

  /* Finish what was accepted; a second signal cancels it (pacer_free then
   * aborts the transfers still in flight, each with its result line). */
  pacer_shutdown(app.p, PACER_SHUTDOWN_FINISH);
  while (pacer_drain(app.p, 100) == PACER_ETIMEDOUT &&
         atomic_load(&app.signals) < 2) {
  }
  double elapsed = now_s() - app.start;
  /* Both helper threads use app.p: stop them before it is freed. */
  if (app.progress) {
    pthread_mutex_lock(&app.plock);
    app.pstop = 1;
    pthread_cond_signal(&app.pcond);
    pthread_mutex_unlock(&app.plock);
    pthread_join(prog_thread, NULL);
  }
  pthread_kill(sig_thread, SIGUSR1);
  pthread_join(sig_thread, NULL);
  pacer_stats_t *st = NULL;
  if (pacer_stats_get(app.p, &st))
    st = NULL;
  pacer_free(app.p);

  pthread_mutex_lock(&app.lock);
  clear_progress_locked();
  if (fflush(app.out) == EOF && !app.write_errno)
    app.write_errno = errno ? errno : EIO;
  if (app.out != stdout && fclose(app.out) == EOF && !app.write_errno)
    app.write_errno = errno ? errno : EIO;
  pthread_mutex_unlock(&app.lock);
  if (app.write_errno)
    fprintf(stderr, "pacer: writing results to %s: %s\n",
            app.o.out_path ? app.o.out_path : "stdout",
            strerror(app.write_errno));
  if (app.write_errno && app.spooled)
    fprintf(stderr,
            "pacer: %llu jobs without a result line stay in %s: pacer resume "
            "writes them\n",
            (unsigned long long)app.kept, app.o.spool_path);

  if (app.nomem)
    fprintf(stderr,
            "pacer: %llu job lines were not sent for lack of memory (each "
            "has its result line)\n",
            (unsigned long long)app.nomem);
  if (!app.o.quiet) {
    cli_summary(stderr, &app.tally, st, elapsed);
    if (app.kept && !(app.write_errno && app.spooled))
      fprintf(stderr, "pacer: %llu jobs stay in %s for pacer resume\n",
              (unsigned long long)app.kept, app.o.spool_path);
    if (app.skipped)
      fprintf(stderr,
              "pacer: %llu jobs ran again after the restart; their result "
              "lines were already written\n",
              (unsigned long long)app.skipped);
  }
  int stats_failed = app.o.stats_path && st && write_stats(st);
  pacer_stats_free(st);
  free(app.written);
  if (fd > 0)
    close(fd);
  close(app.wake[0]);
  close(app.wake[1]);

  int code = CLI_EXIT_OK;
  if (cli_tally_failed(&app.tally) || app.write_errno || read_failed ||
      stats_failed)
    code = CLI_EXIT_FAILED;
  int sig = atomic_load(&app.first_signal);
  if (sig)
    code = 128 + sig;
  cli_opts_free(&app.o);
  return code;
}
