/* SPDX-License-Identifier: MIT */
/* send.c - reading job lines and submitting them: one by one without a
 * spool, in batches of one spool transaction each with one.
 *
 * Every line read ends in exactly one result line: its job's (written by
 * the callback), or an error line written here when it is blank-free but
 * never accepted (bad JSON, refused, interrupted, out of memory). A spooled
 * batch stores with it how far the input was read (the mark), so that
 * pacer resume can read on from there; so a spooled batch from a file that
 * a signal stopped gets no lines: pacer resume reads it again. */
#include "app.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 256 /* job lines per spool transaction */

static int blank(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

/* How far the import got, stored with each batch: the offset and number of
 * the next line to read. */
static char *make_mark(const app_t *a, uint64_t offset, unsigned long line,
                       int complete)
{
  json_t *m = json_pack("{s:s, s:I, s:I, s:b}", "input", a->input_path,
                        "offset", (json_int_t)offset, "line", (json_int_t)line,
                        "complete", complete);
  char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
  json_decref(m);
  return s;
}

const char *cli_refusal(const pacer_request_t *r, int rc, char *buf, size_t cap)
{
  if (rc == PACER_ETOOLARGE)
    return "too large for the spool (SQLite's row limit)";
  if (rc == PACER_EINVAL && r->tag_len > 65536)
    return "id too long (a job carries at most 64 KiB of it)";
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

/* ---- spooled: batches ---- */

/* Spooled jobs go in batches, one transaction each. */
typedef struct batch {
  app_t *app;
  cli_job_t *jobs;
  pacer_request_t *reqs;
  char **tags;
  unsigned long *lines;
  size_t n, cap;
} batch_t;

/* Writes an error line for every job in b and empties it. */
static void batch_clear(batch_t *b, const char *why, int code)
{
  char err[512];
  for (size_t i = 0; i < b->n; i++) {
    if (code == PACER_ENOMEM) {
      cli_emit_nomem(b->app, b->jobs[i].id, b->lines[i]);
    } else if (why) {
      snprintf(err, sizeof err, "line %lu: %s", b->lines[i], why);
      cli_emit_error(b->app, b->jobs[i].id, b->lines[i], code, err);
    }
    cli_job_clear(&b->jobs[i], 0);
    free(b->tags[i]);
  }
  b->n = 0;
}

static void batch_free(batch_t *b)
{
  free(b->jobs);
  free(b->reqs);
  free(b->tags);
  free(b->lines);
}

static int batch_grow(batch_t *b)
{
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
  if (!l)
    return -1;
  b->cap = cap;
  return 0;
}

/* Takes job (line number line) into b with its tag [line, id]; out of
 * memory gives it its error line. Returns 0 or -1. */
static int batch_add(batch_t *b, cli_job_t *job, unsigned long line)
{
  char *t = NULL;
  if (b->n < b->cap || batch_grow(b) == 0) {
    json_t *tag = json_pack("[IO]", (json_int_t)line, job->id);
    t = tag ? json_dumps(tag, JSON_COMPACT) : NULL;
    json_decref(tag);
  }
  if (!t) {
    cli_emit_nomem(b->app, job->id, line);
    cli_job_clear(job, 0);
    return -1;
  }
  job->req.handler = CLI_HANDLER;
  job->req.tag = t;
  job->req.tag_len = strlen(t);
  b->jobs[b->n] = *job;
  b->tags[b->n] = t;
  b->lines[b->n] = line;
  b->n++;
  return 0;
}

/* Drops job i of b after its error line. */
static void batch_refuse(batch_t *b, size_t i, int rc)
{
  char err[512], why[160];
  snprintf(err, sizeof err, "line %lu: %s", b->lines[i],
           cli_refusal(&b->reqs[i], rc, why, sizeof why));
  cli_emit_error(b->app, b->jobs[i].id, b->lines[i], rc, err);
  cli_job_clear(&b->jobs[i], 0);
  free(b->tags[i]);
  b->n--;
  memmove(b->jobs + i, b->jobs + i + 1, (b->n - i) * sizeof *b->jobs);
  memmove(b->tags + i, b->tags + i + 1, (b->n - i) * sizeof *b->tags);
  memmove(b->lines + i, b->lines + i + 1, (b->n - i) * sizeof *b->lines);
}

/* Submits the batch in one spool transaction. A bad request gets its error
 * line and the rest go again; out of memory, or a full queue under
 * --queue-policy fail, gives every job of the batch its error line and
 * reading goes on. Returns 0, 1 when out of memory or a full queue
 * emptied the batch, or -1 when reading must stop (a signal, or the spool
 * cannot be written), with a message. */
static int batch_send_marked(batch_t *b, const char *mark)
{
  char err[512];
  while (b->n) {
    for (size_t i = 0; i < b->n; i++)
      b->reqs[i] = b->jobs[i].req;
    size_t bad = b->n;
    int rc = pacer_submit_batch_marked(b->app->p, b->reqs, b->n, NULL, NULL,
                                       NULL, &bad, mark);
    if (rc == 0) {
      batch_clear(b, NULL, 0);
      return 0;
    }
    if (bad < b->n) { /* that one job's fault: report it, send the rest */
      batch_refuse(b, bad, rc);
      continue;
    }
    if (rc == PACER_ENOMEM) {
      batch_clear(b, NULL, rc);
      return 1;
    }
    if (rc == PACER_EFULL) { /* --queue-policy fail: refused, read on */
      batch_clear(b, "not sent: queue is full", rc);
      return 1;
    }
    if (rc == PACER_ESHUTDOWN && strcmp(b->app->input_path, "-")) {
      /* A signal: the batch and its mark were not stored, so pacer resume
       * reads these lines again from the last mark. */
      batch_clear(b, NULL, 0);
    } else if (rc == PACER_ESHUTDOWN) { /* stdin cannot be read again */
      batch_clear(b, "not sent: interrupted", rc);
    } else {
      snprintf(err, sizeof err, "not sent: %s (see the log above)",
               pacer_strerror(rc));
      batch_clear(b, err, rc);
      cli_say(b->app,
              "pacer: the spool cannot take more jobs (%s); no more "
              "are read, those accepted are finished\n",
              pacer_strerror(rc));
    }
    return -1;
  }
  return 0;
}

/* Stores only the mark. Returns 0, or -1 when reading must stop. */
static int mark_send(batch_t *b, char *mark, int complete)
{
  int rc = PACER_ENOMEM;
  if (mark)
    rc = pacer_submit_batch_marked(b->app->p, NULL, 0, NULL, NULL, NULL, NULL,
                                   mark);
  free(mark);
  if (rc == 0 || (rc == PACER_ENOMEM && !complete))
    return 0; /* a later mark says it */
  if (rc != PACER_ESHUTDOWN)
    cli_say(b->app,
            "pacer: the spool could not record how far the input was read "
            "(%s)%s\n",
            pacer_strerror(rc),
            complete ? "; it does not say the import is complete" : "");
  return -1;
}

/* Submits the batch with the mark of the input read so far (pos, lineno;
 * complete at its end). Returns 0, or -1 when reading must stop. */
static int batch_send(batch_t *b, uint64_t pos, unsigned long lineno,
                      int complete)
{
  char *mark = make_mark(b->app, pos, lineno, complete);
  if (!mark && b->n) {
    batch_clear(b, NULL, PACER_ENOMEM);
    /* The next batch's mark covers these lines; at the end, the mark alone
     * must still say the import is complete. */
    return complete ? batch_send(b, pos, lineno, complete) : 0;
  }
  if (!b->n)
    return mark_send(b, mark, complete);
  int ret = batch_send_marked(b, mark);
  free(mark);
  if (ret > 0) /* out of memory: the batch and its mark were not stored */
    return complete ? batch_send(b, pos, lineno, complete) : 0;
  return ret;
}

/* ---- without a spool: one by one ---- */

/* Submits job; a refusal gets its error line. Returns 0, or -1 when
 * reading must stop (interrupted). */
static int submit_one(app_t *a, cli_job_t *job, unsigned long lineno)
{
  char err[512];
  cli_buf_t tag;
  cli_buf_init(&tag);
  int sr = PACER_ENOMEM;
  if (cli_plain_tag(&tag, job->id, lineno) == 0) {
    job->req.tag = tag.p;
    job->req.tag_len = tag.len;
    sr = pacer_submit(a->p, &job->req, cli_on_done, a, NULL);
    job->req.tag = NULL; /* tag_len stays, for refusal() */
  }
  cli_buf_free(&tag);
  if (sr == 0) {
    cli_job_clear(job, 0);
    return 0;
  }
  if (sr == PACER_ESHUTDOWN)
    snprintf(err, sizeof err, "line %lu: not sent: interrupted", lineno);
  else {
    char why[160];
    snprintf(err, sizeof err, "line %lu: %s", lineno,
             cli_refusal(&job->req, sr, why, sizeof why));
  }
  if (sr == PACER_ENOMEM)
    cli_emit_nomem(a, job->id, lineno);
  else
    cli_emit_error(a, job->id, lineno, sr, err);
  cli_job_clear(job, 0);
  return sr == PACER_ESHUTDOWN ? -1 : 0;
}

/* ---- the reading loop ---- */

/* One line read (r from cli_lines_next): parsed and submitted, or given its
 * error line. Returns 0, or -1 when reading must stop. */
static int take_line(app_t *a, batch_t *b, cli_source_t *src, cli_lines_t *lr,
                     int r, char *line, size_t len, unsigned long lineno)
{
  char err[512];
  const char *job_text;
  size_t job_len;
  unsigned long jl;
  if (r == CLI_LINE_LONG) {
    if (cli_line_written(a, lineno))
      return 0; /* a resumed import: reported before the crash */
    json_t *id = json_integer((json_int_t)lineno);
    snprintf(err, sizeof err, "line %lu: longer than %u bytes", lineno,
             CLI_MAX_LINE);
    cli_emit_error(a, id, lineno, PACER_EINVAL, err);
    json_decref(id);
    return 0;
  }
  /* As they are, with --define filled, or a CSV record made a job line. */
  int s = cli_source_line(src, line, len, lineno, &job_text, &job_len, &jl, err,
                          sizeof err);
  /* A resumed import: reported before the crash. Judged by the record's
   * first line (a CSV record may span lines), once it is read whole. */
  if (s != 0 && cli_line_written(a, jl))
    return 0;
  if (s < 0) {
    json_t *id = json_integer((json_int_t)jl);
    cli_emit_error(a, id, jl, PACER_EINVAL, err);
    json_decref(id);
    return 0;
  }
  if (s == 0 || blank(job_text, job_len))
    return 0;
  cli_job_t job;
  if (cli_job_parse(&job, job_text, job_len, jl, &a->o, err, sizeof err)) {
    cli_emit_error(a, job.id, jl, PACER_EINVAL, err);
    cli_job_clear(&job, 0);
    return 0;
  }
  if (!a->spooled)
    return submit_one(a, &job, jl);
  (void)batch_add(b, &job, jl); /* out of memory: reported */
  if (b->n == BATCH || !cli_lines_ready(lr))
    return batch_send(b, cli_lines_pos(lr), lineno, 0);
  return 0;
}

/* Returns the free memory of every malloc arena to the system. The
 * reading thread allocates each job and the dispatcher's threads free it:
 * with glibc's arenas per thread the freed chunks scatter, and the
 * command's RSS crept up by about 0.7 MB per 2,000,000 jobs (the soak)
 * although nothing leaks; trimming every 65,536 lines keeps the RSS at
 * what is in use. */
static void cli_trim_memory(void)
{
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

/* A CSV import resumed past its start: its header row, read again from
 * the start of the input, names the columns of the records that follow
 * the mark (which is always at a record's end). Returns 0, or -1 with a
 * message. */
static int csv_header_again(app_t *a, cli_source_t *src)
{
  char err[512];
  int fd = open(a->input_path, O_RDONLY | O_CLOEXEC);
  cli_lines_t h;
  if (fd < 0 || cli_lines_init(&h, fd, -1, CLI_MAX_LINE)) {
    fprintf(stderr, "pacer: reading the header row of %s again: %s\n",
            a->input_path, fd < 0 ? strerror(errno) : "out of memory");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  snprintf(err, sizeof err, "no header row");
  for (unsigned long n = 1; !cli_source_has_header(src); n++) {
    char *line;
    size_t len;
    const char *job;
    size_t job_len;
    unsigned long jl;
    int r = cli_lines_next(&h, &line, &len);
    if (r != CLI_LINE || cli_source_line(src, line, len, n, &job, &job_len, &jl,
                                         err, sizeof err) < 0)
      break;
  }
  int rc = cli_source_has_header(src) ? 0 : -1;
  if (rc)
    fprintf(stderr, "pacer: reading the header row of %s again: %s\n",
            a->input_path, err);
  cli_lines_free(&h);
  close(fd);
  return rc;
}

int cli_send_all(app_t *a, int fd, unsigned long lineno, uint64_t base)
{
  cli_lines_t lr;
  cli_source_t src;
  char err[512];
  unsigned long jl;
  if (cli_source_init(&src, &a->o, err, sizeof err)) {
    fprintf(stderr, "pacer: %s\n", err);
    return -1;
  }
  if (a->o.csv && base > 0 && csv_header_again(a, &src)) {
    cli_source_free(&src);
    return -1;
  }
  if (cli_lines_init(&lr, fd, a->wake[0], CLI_MAX_LINE)) {
    fprintf(stderr, "pacer: out of memory\n");
    cli_source_free(&src);
    return -1;
  }
  lr.base = base;
  int eof = 0, rc = 0;
  batch_t b = {.app = a};
  while (!atomic_load(&a->signals) && !atomic_load(&a->write_failed)) {
    char *line;
    size_t len;
    int r = cli_lines_next(&lr, &line, &len);
    eof = r == CLI_LINE_EOF;
    if (r == CLI_LINE_EOF || r == CLI_LINE_WOKEN)
      break;
    if (r == CLI_LINE_ERR) {
      cli_say(a, "pacer: reading %s: %s\n",
              strcmp(a->o.input, "-") ? a->o.input : "stdin", strerror(errno));
      rc = -1;
      break;
    }
    if (take_line(a, &b, &src, &lr, r, line, len, ++lineno))
      break;
    if ((lineno & 0xffff) == 0)
      cli_trim_memory();
  }
  if (eof && cli_source_end(&src, &jl, err, sizeof err)) {
    json_t *id = json_integer((json_int_t)jl);
    cli_emit_error(a, id, jl, PACER_EINVAL, err);
    json_decref(id);
  }
  cli_source_free(&src);
  /* The last batch; after a signal each gets its "interrupted" line. At the
   * end of the input the mark says the import is complete. */
  if (a->spooled && (b.n || eof) &&
      batch_send(&b, cli_lines_pos(&lr), lineno, eof) && eof)
    rc = -1; /* the end of the input could not be recorded */
  batch_free(&b);
  cli_lines_free(&lr);
  return rc;
}
