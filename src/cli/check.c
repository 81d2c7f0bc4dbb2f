/* SPDX-License-Identifier: MIT */
/* check.c - pacer check, send --dry-run and send --strict: every line of
 * the input read and checked as send checks it (the same job source,
 * cli_job_parse(), and pacer_request_check() on the request with the tag
 * send gives it), each bad line reported with its number and reason, jobs
 * counted per priority and per key, and the run time estimated from the
 * limits. Nothing is sent.
 *
 * Memory is bounded: at most CHECK_KEYS distinct keys are counted (the
 * jobs of any others go to "other keys"), at most CHECK_JSON_ERRORS bad
 * lines are kept for --json (all are counted). */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_KEYS 65536
#define CHECK_JSON_ERRORS 10000
#define CHECK_TOP 10

static int blank(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

void cli_check_init(cli_check_t *c)
{
  memset(c, 0, sizeof *c);
}

void cli_check_free(cli_check_t *c)
{
  for (size_t i = 0; i < c->cap; i++)
    free(c->keys[i].name);
  free(c->keys);
  json_decref(c->errors);
  memset(c, 0, sizeof *c);
}

static uint64_t hash(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Counts one job of key. */
static void count_key(cli_check_t *c, const char *key)
{
  if (c->nkeys * 2 >= c->cap && c->cap < (size_t)CHECK_KEYS * 2) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    cli_check_key_t *nk = calloc(cap, sizeof *nk);
    if (nk) {
      for (size_t i = 0; i < c->cap; i++) {
        if (!c->keys[i].name)
          continue;
        size_t j = hash(c->keys[i].name) & (cap - 1);
        while (nk[j].name)
          j = (j + 1) & (cap - 1);
        nk[j] = c->keys[i];
      }
      free(c->keys);
      c->keys = nk;
      c->cap = cap;
    }
  }
  if (c->cap) {
    size_t j = hash(key) & (c->cap - 1);
    while (c->keys[j].name && strcmp(c->keys[j].name, key))
      j = (j + 1) & (c->cap - 1);
    if (c->keys[j].name) {
      c->keys[j].jobs++;
      return;
    }
    if (c->nkeys * 2 < c->cap && (c->keys[j].name = strdup(key))) {
      c->keys[j].jobs = 1;
      c->nkeys++;
      return;
    }
  }
  c->other_jobs++; /* past the bound, or out of memory */
}

void cli_check_bad(cli_check_t *c, unsigned long lineno, const char *why)
{
  c->bad++;
  if (c->bad_out)
    fprintf(c->bad_out, "%s%s\n", c->bad_prefix ? c->bad_prefix : "", why);
  if (!c->keep_errors || c->bad > CHECK_JSON_ERRORS)
    return;
  if (!c->errors)
    c->errors = json_array();
  json_array_append_new(c->errors, json_pack("{s:I, s:s}", "line",
                                             (json_int_t)lineno, "error", why));
}

int cli_check_job(cli_check_t *c, const char *job, size_t len,
                  unsigned long lineno, const cli_opts_t *o, char *err,
                  size_t errlen)
{
  cli_job_t j;
  char key[256], why[160];
  if (cli_job_parse(&j, job, len, lineno, o, err, errlen)) {
    cli_job_clear(&j, 0);
    return -1;
  }
  /* The tag send gives it: its id must fit too. */
  cli_buf_t tag;
  cli_buf_init(&tag);
  int rc = PACER_ENOMEM;
  if (cli_plain_tag(&tag, j.id, lineno) == 0) {
    j.req.tag = tag.p;
    j.req.tag_len = tag.len;
    rc = pacer_request_check(&j.req, key, sizeof key);
  }
  if (rc)
    snprintf(err, errlen, "line %lu: %s", lineno,
             cli_refusal(&j.req, rc, why, sizeof why));
  cli_buf_free(&tag);
  if (rc == 0) {
    c->jobs++;
    c->by_prio[j.req.priority == PACER_PRIORITY_HIGH]++;
    count_key(c, key);
  }
  cli_job_clear(&j, 0);
  return rc ? -1 : 0;
}

int cli_check_fd(cli_check_t *c, int fd, const cli_opts_t *o, char *err,
                 size_t errlen)
{
  cli_lines_t lr;
  cli_source_t src;
  char why[1024];
  if (cli_source_init(&src, o, err, errlen))
    return -1;
  if (cli_lines_init(&lr, fd, -1, CLI_MAX_LINE)) {
    cli_source_free(&src);
    return cli_fail(err, errlen, "out of memory");
  }
  unsigned long lineno = 0, jl;
  int rc = 0;
  for (;;) {
    char *line;
    const char *job;
    size_t len, jlen;
    int r = cli_lines_next(&lr, &line, &len);
    if (r == CLI_LINE_EOF)
      break;
    if (r == CLI_LINE_ERR) {
      rc =
          cli_fail(err, errlen, "reading %s: %s",
                   strcmp(o->input, "-") ? o->input : "stdin", strerror(errno));
      break;
    }
    c->lines = ++lineno;
    if (r == CLI_LINE_LONG) {
      snprintf(why, sizeof why, "line %lu: longer than %u bytes", lineno,
               CLI_MAX_LINE);
      cli_check_bad(c, lineno, why);
      continue;
    }
    int s = cli_source_line(&src, line, len, lineno, &job, &jlen, &jl, why,
                            sizeof why);
    /* the source refused the line, or the job it made is bad */
    if (s < 0 || (s > 0 && !blank(job, jlen) &&
                  cli_check_job(c, job, jlen, jl, o, why, sizeof why)))
      cli_check_bad(c, jl, why);
  }
  if (rc == 0 && cli_source_end(&src, &jl, why, sizeof why))
    cli_check_bad(c, jl, why);
  cli_lines_free(&lr);
  cli_source_free(&src);
  return rc;
}

/* The slowest of the limits' bounds, each jobs over its rate. */
void cli_check_estimate(const cli_check_t *c, const cli_opts_t *o,
                        cli_estimate_t *e)
{
  memset(e, 0, sizeof *e);
  uint64_t top = 0;
  for (size_t i = 0; i < c->cap; i++)
    if (c->keys[i].name && c->keys[i].jobs > top)
      top = c->keys[i].jobs;
  double lat = (double)o->assume_latency_ms / 1000.0;
  if (o->cfg.rate > 0)
    e->rate_s = (double)c->jobs / o->cfg.rate;
  if (o->cfg.key_rate > 0)
    e->key_rate_s = (double)top / o->cfg.key_rate;
  if (o->cfg.concurrency > 0)
    e->concurrency_s = (double)c->jobs * lat / o->cfg.concurrency;
  if (o->cfg.key_concurrency > 0)
    e->key_concurrency_s = (double)top * lat / o->cfg.key_concurrency;
  e->total_s = e->concurrency_s;
  e->slowest = "concurrency";
  if (e->rate_s > e->total_s) {
    e->total_s = e->rate_s;
    e->slowest = "rate";
  }
  if (e->key_rate_s > e->total_s) {
    e->total_s = e->key_rate_s;
    e->slowest = "per-key-rate";
  }
  if (e->key_concurrency_s > e->total_s) {
    e->total_s = e->key_concurrency_s;
    e->slowest = "per-key-concurrency";
  }
}

static int by_jobs(const void *a, const void *b)
{
  const cli_check_key_t *x = *(cli_check_key_t *const *)a;
  const cli_check_key_t *y = *(cli_check_key_t *const *)b;
  if (x->jobs != y->jobs)
    return x->jobs < y->jobs ? 1 : -1;
  return strcmp(x->name, y->name);
}

/* The keys with the most jobs (at most CHECK_TOP, *n of them); NULL when
 * there is none or out of memory. Free with free(). */
static cli_check_key_t **top_keys(const cli_check_t *c, size_t *n)
{
  *n = 0;
  cli_check_key_t **all = c->nkeys ? malloc(c->nkeys * sizeof *all) : NULL;
  if (!all)
    return NULL;
  for (size_t i = 0; i < c->cap; i++)
    if (c->keys[i].name)
      all[(*n)++] = &c->keys[i];
  qsort(all, *n, sizeof *all, by_jobs);
  if (*n > CHECK_TOP)
    *n = CHECK_TOP;
  return all;
}

static void report_json(FILE *f, const cli_check_t *c, const cli_estimate_t *e)
{
  size_t n;
  cli_check_key_t **top = top_keys(c, &n);
  json_t *keys = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(keys, json_pack("{s:s, s:I}", "key", top[i]->name,
                                          "jobs", (json_int_t)top[i]->jobs));
  free(top);
  json_t *errors = c->errors ? json_incref(c->errors) : json_array();
  json_t *r = json_pack(
      "{s:I, s:I, s:I, s:o, s:{s:I, s:I}, s:I, s:o, s:I, s:{s:f, s:s, s:f, "
      "s:f, s:f, s:f}}",
      "lines", (json_int_t)c->lines, "jobs", (json_int_t)c->jobs, "bad",
      (json_int_t)c->bad, "errors", errors, "priority", "high",
      (json_int_t)c->by_prio[1], "low", (json_int_t)c->by_prio[0], "keys",
      (json_int_t)c->nkeys, "top_keys", keys ? keys : json_array(),
      "other_key_jobs", (json_int_t)c->other_jobs, "estimate", "seconds",
      e->total_s, "slowest", e->slowest, "rate", e->rate_s, "per_key_rate",
      e->key_rate_s, "concurrency", e->concurrency_s, "per_key_concurrency",
      e->key_concurrency_s);
  char *s = r ? json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
  fprintf(f, "%s\n", s ? s : "{\"error\":\"out of memory\"}");
  free(s);
  json_decref(r);
}

void cli_check_report(FILE *f, const cli_check_t *c, const cli_opts_t *o,
                      int json)
{
  cli_estimate_t e;
  cli_check_estimate(c, o, &e);
  if (json) {
    report_json(f, c, &e);
    return;
  }
  fprintf(f,
          "%llu lines: %llu jobs, %llu bad\n"
          "by priority: high %llu, low %llu\n",
          (unsigned long long)c->lines, (unsigned long long)c->jobs,
          (unsigned long long)c->bad, (unsigned long long)c->by_prio[1],
          (unsigned long long)c->by_prio[0]);
  size_t n;
  cli_check_key_t **top = top_keys(c, &n);
  fprintf(f, "by key: %zu key%s%s\n", c->nkeys, c->nkeys == 1 ? "" : "s",
          c->nkeys > n ? " (the most jobs first)" : "");
  for (size_t i = 0; i < n; i++)
    fprintf(f, "  %-40s %llu\n", top[i]->name,
            (unsigned long long)top[i]->jobs);
  if (c->nkeys > n)
    fprintf(f, "  (%zu more keys)\n", c->nkeys - n);
  if (c->other_jobs)
    fprintf(f, "  (%llu jobs of keys past the %u counted)\n",
            (unsigned long long)c->other_jobs, CHECK_KEYS);
  free(top);
  fprintf(f,
          "estimate: %.1f s at least (the slowest bound: %s; no retries, "
          "%lld ms a response)\n",
          e.total_s, e.slowest, (long long)o->assume_latency_ms);
  if (o->cfg.rate > 0)
    fprintf(f, "  --rate %g/s: %.1f s\n", o->cfg.rate, e.rate_s);
  if (o->cfg.key_rate > 0)
    fprintf(f, "  --per-key-rate %g/s: %.1f s (the busiest key)\n",
            o->cfg.key_rate, e.key_rate_s);
  fprintf(f, "  --concurrency %u: %.1f s\n", o->cfg.concurrency,
          e.concurrency_s);
  if (o->cfg.key_concurrency > 0)
    fprintf(f, "  --per-key-concurrency %u: %.1f s (the busiest key)\n",
            o->cfg.key_concurrency, e.key_concurrency_s);
}

int cli_cmd_check(app_t *a)
{
  char err[1024];
  cli_check_t c;
  int fd = 0;
  if (strcmp(a->o.input, "-")) {
    fd = a->in_fd = open(a->o.input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "pacer: %s: %s\n", a->o.input, strerror(errno));
      return CLI_EXIT_USAGE;
    }
  }
  cli_check_init(&c);
  c.bad_out = a->o.check_json ? NULL : stdout;
  c.keep_errors = a->o.check_json;
  int rc = cli_check_fd(&c, fd, &a->o, err, sizeof err);
  if (rc)
    fprintf(stderr, "pacer: %s\n", err);
  else
    cli_check_report(stdout, &c, &a->o, a->o.check_json);
  int code = rc ? CLI_EXIT_USAGE : c.bad ? CLI_EXIT_FAILED : CLI_EXIT_OK;
  if (fflush(stdout) == EOF)
    code = CLI_EXIT_FAILED;
  cli_check_free(&c);
  return code;
}

/* The input (stdin, a pipe, a device) into an unlinked temporary file, so
 * it can be read twice. Returns its descriptor at offset 0, or -1. */
static int spill(int in, char *err, size_t errlen)
{
  const char *dir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/pacer-strict-XXXXXX",
           dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0)
    return cli_fail(err, errlen, "--strict: a temporary file in %s: %s",
                    dir && *dir ? dir : "/tmp", strerror(errno));
  unlink(path);
  char buf[65536];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      close(fd);
      return cli_fail(err, errlen, "reading %s: %s", in ? "the input" : "stdin",
                      strerror(errno));
    }
    if (n == 0)
      break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        close(fd);
        return cli_fail(err, errlen, "--strict: copying the input: %s",
                        strerror(errno));
      }
      off += w;
    }
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return cli_fail(err, errlen, "--strict: %s", strerror(errno));
  }
  return fd;
}

int cli_strict_check(app_t *a, char *err, size_t errlen)
{
  int fd = 0;
  struct stat sb;
  if (strcmp(a->o.input, "-") &&
      (fd = open(a->o.input, O_RDONLY | O_CLOEXEC)) < 0)
    return cli_fail(err, errlen, "%s: %s", a->o.input, strerror(errno));
  if (fd == 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    int copy = spill(fd, err, errlen); /* a pipe cannot be read twice */
    if (fd)
      close(fd);
    if ((fd = copy) < 0)
      return -1;
    a->in_fd = fd; /* send reads the copy */
  }
  cli_check_t c;
  cli_check_init(&c);
  c.bad_out = stderr;
  c.bad_prefix = "pacer: ";
  int rc = cli_check_fd(&c, fd, &a->o, err, errlen);
  if (fd != a->in_fd)
    close(fd);
  else if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
    rc = cli_fail(err, errlen, "--strict: %s", strerror(errno));
  if (rc == 0 && c.bad)
    rc = cli_fail(err, errlen,
                  "--strict: %llu bad line%s in %s; nothing was sent",
                  (unsigned long long)c.bad, c.bad == 1 ? "" : "s",
                  strcmp(a->o.input, "-") ? a->o.input : "stdin");
  cli_check_free(&c);
  return rc;
}
