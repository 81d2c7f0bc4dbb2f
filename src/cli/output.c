/* SPDX-License-Identifier: MIT */
/* output.c - what the command writes: result lines (from the callbacks and
 * for lines never sent), messages on stderr, and the end-of-run report.
 *
 * Every write to the output, the tally and stderr is under app_t.lock, so
 * lines from the dispatcher's threads never interleave. */
#include "app.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_clear_progress_locked(app_t *a)
{
  if (a->progress_drawn) {
    fputs("\r\033[K", stderr);
    a->progress_drawn = 0;
  }
}

void cli_say(app_t *a, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&a->lock);
  cli_clear_progress_locked(a);
  vfprintf(stderr, fmt, ap);
  pthread_mutex_unlock(&a->lock);
  va_end(ap);
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
static void stop_writing(app_t *a)
{
  atomic_store(&a->write_failed, 1);
  ssize_t w = write(a->wake[1], "x", 1);
  (void)w;
  pacer_shutdown(a->p, PACER_SHUTDOWN_CANCEL);
}

/* Under a->lock: with a spool the line goes to the file with write(): it is
 * written once that returns, before the callback returns and the job leaves
 * the spool; a job whose line failed stays (pacer_keep). Returns 1 when
 * this is the first line that failed. */
static int emit_spooled_locked(app_t *a, const char *line, size_t n,
                               const pacer_result_t *res, int code,
                               unsigned flags, int *ok)
{
  int e = a->write_errno;
  if (!e && (e = write_all(fileno(a->out), line, n)))
    a->write_errno = e;
  *ok = !e;
  if (*ok)
    cli_tally_count(&a->tally, res, code, flags);
  return !*ok && !atomic_load(&a->write_failed);
}

/* Seconds on a clock that is read without a system call or a time-stamp
 * read: only for the flush interval, which needs no finer than a few
 * milliseconds. */
static double coarse_now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Under a->lock: buffered, flushed every 0.2 s. */
static void emit_plain_locked(app_t *a, const char *line, size_t n,
                              const pacer_result_t *res, int code,
                              unsigned flags, int *ok)
{
  if (line && !a->write_errno && fwrite(line, 1, n, a->out) != n)
    a->write_errno = errno ? errno : EIO;
  *ok = !a->write_errno;
  cli_tally_count(&a->tally, res, code, flags);
  double t = coarse_now_s();
  if (t - a->last_flush > 0.2) {
    a->last_flush = t;
    if (fflush(a->out) == EOF && !a->write_errno)
      a->write_errno = errno ? errno : EIO;
  }
}

/* Writes the line formatted in b (rc: the formatter's return) and counts
 * res (or code) as flags say. Frees b. */
static int emit_buf(app_t *a, cli_buf_t *b, int rc, const pacer_result_t *res,
                    int code, unsigned flags)
{
  const char *line = NULL;
  if (rc == 0) {
    cli_buf_put(b, "\n", 1);
    line = b->failed ? NULL : b->p;
  }
  size_t n = line ? b->len : 0;
  int ok = 1, stop = 0;
  pthread_mutex_lock(&a->lock);
  if (!line && !a->write_errno)
    a->write_errno = ENOMEM;
  if (a->spooled)
    stop = emit_spooled_locked(a, line, n, res, code, flags, &ok);
  else
    emit_plain_locked(a, line, n, res, code, flags, &ok);
  pthread_mutex_unlock(&a->lock);
  cli_buf_free(b);
  if (stop)
    stop_writing(a);
  return ok ? 0 : -1;
}

/* Lines are formatted outside the lock, into the buffer's own bytes: an
 * ordinary line costs no allocation. */
int cli_emit(app_t *a, json_t *id, unsigned long lineno,
             const pacer_result_t *res, int code, const char *message,
             unsigned flags)
{
  cli_buf_t b;
  cli_buf_init(&b);
  int rc = cli_result_append(&b, id, lineno, res, code, message, flags);
  return emit_buf(a, &b, rc, res, code, flags);
}

/* The flags of res's result line: --body, and whether its status is one
 * of --ok-status's. */
static unsigned line_flags(const app_t *a, const pacer_result_t *res)
{
  unsigned f = a->o.body ? CLI_RESULT_BODY : 0;
  if (res && cli_status_listed(a->o.ok_status, res->status))
    f |= CLI_RESULT_OK_STATUS;
  return f;
}

void cli_emit_error(app_t *a, json_t *id, unsigned long line, int code,
                    const char *msg)
{
  cli_emit(a, id, line, NULL, code, msg, 0);
}

/* Out of memory is not the end of the input: the line gets its result line
 * (PACER_ENOMEM, "line N: not sent: out of memory"), reading goes on, and
 * the summary says how many were not sent; the exit status is 1. */
void cli_emit_nomem(app_t *a, json_t *id, unsigned long line)
{
  char err[128];
  snprintf(err, sizeof err, "line %lu: not sent: out of memory", line);
  cli_emit_error(a, id, line, PACER_ENOMEM, err);
  pthread_mutex_lock(&a->lock);
  a->nomem++;
  pthread_mutex_unlock(&a->lock);
}

int cli_line_written(const app_t *a, unsigned long line)
{
  return line < a->written_bits && (a->written[line / 8] >> (line % 8)) & 1;
}

/* ---- the callbacks ---- */

int cli_plain_tag(cli_buf_t *b, json_t *id, unsigned long line)
{
  uint64_t l = line;
  cli_buf_put(b, (const char *)&l, sizeof l);
  cli_id_append(b, id);
  return b->failed ? -1 : 0;
}

/* Counts a job a shutdown (a signal, or results that cannot be written)
 * cancelled, for the report. */
static void count_cancelled(app_t *a, const pacer_result_t *r)
{
  if (r->error != PACER_ECANCELED)
    return;
  pthread_mutex_lock(&a->lock);
  *(r->attempts ? &a->cancelled_stopped : &a->cancelled_unstarted) += 1;
  pthread_mutex_unlock(&a->lock);
}

void cli_on_done(const pacer_result_t *r, void *user)
{
  app_t *a = user;
  count_cancelled(a, r);
  uint64_t line;
  memcpy(&line, r->tag, sizeof line);
  cli_buf_t b;
  cli_buf_init(&b);
  unsigned flags = line_flags(a, r);
  int rc = cli_result_append_text(&b, (const char *)r->tag + sizeof line,
                                  r->tag_len - sizeof line, (unsigned long)line,
                                  r, 0, NULL, flags);
  emit_buf(a, &b, rc, r, 0, flags);
}

void cli_on_spooled(const pacer_result_t *r, void *user)
{
  app_t *a = user;
  count_cancelled(a, r);
  json_t *tag = json_loadb(r->tag, r->tag_len, 0, NULL);
  json_int_t line = json_integer_value(json_array_get(tag, 0));
  json_t *id = json_array_get(tag, 1);
  int kept = r->kept,
      skipped = !kept && cli_line_written(a, (unsigned long)line);
  if (!kept && !skipped &&
      cli_emit(a, id, (unsigned long)line, r, 0, NULL, line_flags(a, r)))
    kept = pacer_keep(a->p, r->id) == 0; /* no line: the job stays */
  if (kept || skipped) {
    pthread_mutex_lock(&a->lock);
    *(kept ? &a->kept : &a->skipped) += 1;
    pthread_mutex_unlock(&a->lock);
  }
  json_decref(tag);
}

void cli_on_event(const pacer_event_t *ev, void *user)
{
  app_t *a = user;
  if (a->o.verbose)
    cli_say(a, "pacer: event: %s%s%s: %s\n", pacer_event_type_name(ev->type),
            ev->key ? " " : "", ev->key ? ev->key : "", ev->message);
  char *j;
  if (!a->events || pacer_event_json(ev, &j))
    return;
  /* The wall-clock time first, for a reader that joins these lines with
   * others; then the library's own fields. */
  struct timespec ts;
  struct tm tm;
  char when[64] = "";
  if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm))
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  /* Line-buffered: each line is whole in the file once written. */
  fprintf(a->events, "{\"ts\":\"%s\",%s\n", when, j + 1);
  free(j);
}

void cli_on_log(pacer_log_level_t level, const char *msg, void *user)
{
  static const char *const names[] = {"error", "warning", "info", "debug"};
  cli_say(user, "pacer: %s: %s\n", names[level & 3], msg);
}

/* ---- the end of a run ---- */

const char *cli_grouped(uint64_t n, char *buf, size_t cap)
{
  char d[32];
  int len = snprintf(d, sizeof d, "%llu", (unsigned long long)n);
  size_t o = 0;
  for (int i = 0; i < len && o + 2 < cap; i++) {
    if (i && (len - i) % 3 == 0)
      buf[o++] = ',';
    buf[o++] = d[i];
  }
  buf[o] = 0;
  return buf;
}

void cli_report(app_t *a, const pacer_stats_t *st, double elapsed)
{
  if (a->write_errno)
    fprintf(stderr, "pacer: writing results to %s: %s\n",
            a->o.out_path ? a->o.out_path : "stdout", strerror(a->write_errno));
  if (a->write_errno && a->spooled)
    fprintf(stderr,
            "pacer: %llu jobs without a result line stay in %s: pacer resume "
            "writes them\n",
            (unsigned long long)a->kept, a->o.spool_path);
  if (a->nomem)
    fprintf(stderr,
            "pacer: %llu job lines were not sent for lack of memory (each "
            "has its result line)\n",
            (unsigned long long)a->nomem);
  if (a->o.quiet)
    return;
  cli_summary(stderr, &a->tally, st, elapsed);
  int sig = atomic_load(&a->first_signal);
  char n1[32], n2[32];
  if (sig)
    fprintf(stderr,
            "pacer: stopped by %s: %s jobs cancelled before they started, "
            "%s stopped in flight or before a retry; %s\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM",
            cli_grouped(a->cancelled_unstarted, n1, sizeof n1),
            cli_grouped(a->cancelled_stopped, n2, sizeof n2),
            a->spooled ? "they stay in the spool for pacer resume"
                       : "each has its result line (error ECANCELED)");
  if (a->kept && !(a->write_errno && a->spooled))
    fprintf(stderr, "pacer: %llu jobs stay in %s for pacer resume\n",
            (unsigned long long)a->kept, a->o.spool_path);
  if (a->skipped)
    fprintf(stderr,
            "pacer: %llu jobs ran again after the restart; their result "
            "lines were already written\n",
            (unsigned long long)a->skipped);
}

int cli_write_stats(app_t *a, const pacer_stats_t *st)
{
  char *json = NULL;
  if (pacer_stats_json(st, &json))
    return -1;
  FILE *f = fopen(a->o.stats_path, "w");
  int ok = f && fputs(json, f) != EOF && putc('\n', f) != EOF;
  if (f && fclose(f))
    ok = 0;
  free(json);
  if (!ok)
    fprintf(stderr, "pacer: --stats-json %s: %s\n", a->o.stats_path,
            strerror(errno));
  return ok ? 0 : -1;
}
