/* SPDX-License-Identifier: MIT */
/* csv.c - CSV input (--csv): records read by libcsv (Debian's libcsv-dev)
 * fed line by line from the command's line reader, and each record of a
 * file with a header row made into a JSON job line (columns id, url,
 * method, key, priority, body, deadline_ms, timeout_ms, max_attempts; the
 * others only fill templates), so that send and check parse it as they
 * parse any job line.
 *
 * libcsv runs in strict mode (a quote inside an unquoted field, or text
 * after a closing quote, is an error) with no space trimming (RFC 4180:
 * spaces are data). Memory is bounded: a record holds at most
 * CLI_MAX_RECORD bytes and CLI_CSV_MAX_FIELDS fields. */
#include "cli.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_RECORD (16u << 20) /* bytes of one record, as of a line */
#define CLI_MAX_TEMPLATE (1u << 20)

static int no_space(unsigned char c)
{
  (void)c;
  return 0;
}

void cli_csv_init(cli_csv_t *c)
{
  memset(c, 0, sizeof *c);
}

void cli_csv_free(cli_csv_t *c)
{
  if (c->parser)
    csv_free(c->parser);
  free(c->parser);
  free(c->buf);
  free(c->offs);
  memset(c, 0, sizeof *c);
}

/* A fresh parser (after an error too). Returns 0 or -1. */
static int parser_reset(cli_csv_t *c)
{
  if (c->parser)
    csv_free(c->parser);
  else if (!(c->parser = malloc(sizeof(struct csv_parser))))
    return -1;
  if (csv_init(c->parser, CSV_STRICT | CSV_APPEND_NULL)) {
    free(c->parser);
    c->parser = NULL;
    return -1;
  }
  csv_set_space_func(c->parser, no_space);
  return 0;
}

static int put(cli_csv_t *c, const void *s, size_t n)
{
  if (c->len + n + 1 > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + n + 1)
      cap *= 2;
    char *nb = cap <= 2 * (size_t)CLI_MAX_RECORD ? realloc(c->buf, cap) : NULL;
    if (!nb)
      return -1;
    c->buf = nb;
    c->cap = cap;
  }
  if (n)
    memcpy(c->buf + c->len, s, n);
  c->len += n;
  c->buf[c->len++] = '\0';
  return 0;
}

/* libcsv's field callback: field i of the record. */
static void on_field(void *s, size_t n, void *user)
{
  cli_csv_t *c = user;
  if (c->ended) /* a field after the record ended: a bare CR mid-line */
    c->failed = 2;
  if (c->failed)
    return;
  if (c->nfields == c->fcap) {
    size_t cap = c->fcap ? c->fcap * 2 : 16;
    size_t *no =
        cap <= CLI_CSV_MAX_FIELDS ? realloc(c->offs, cap * sizeof *no) : NULL;
    if (!no) {
      c->failed = 1;
      return;
    }
    c->offs = no;
    c->fcap = cap;
  }
  c->offs[c->nfields] = c->len;
  if (put(c, s, n))
    c->failed = 1;
  else
    c->nfields++;
}

/* libcsv's record callback. */
static void on_record(int term, void *user)
{
  (void)term;
  ((cli_csv_t *)user)->ended = 1;
}

static int bad(cli_csv_t *c, char *err, size_t errlen, const char *why)
{
  c->quoted = c->ended = c->failed = 0;
  c->len = c->nfields = c->fed = 0;
  (void)parser_reset(c);
  cli_fail(err, errlen, "%s", why);
  return CLI_CSV_BAD;
}

int cli_csv_feed(cli_csv_t *c, const char *line, size_t len, char *err,
                 size_t errlen)
{
  static const char big[] = "record too long or too many fields (out of "
                            "memory, or over 16 MiB or 4096 fields)";
  if (!c->parser && parser_reset(c))
    return bad(c, err, errlen, "out of memory");
  if (!c->quoted) {
    c->len = c->nfields = c->fed = 0;
    c->ended = c->failed = 0;
    /* A blank line outside quotes, which libcsv skips: one empty field. */
    if (len == 0 || (len == 1 && line[0] == '\r')) {
      on_field("", 0, c);
      return c->failed ? bad(c, err, errlen, big) : CLI_CSV_RECORD;
    }
  }
  c->fed += len + 1;
  if (c->fed > CLI_MAX_RECORD)
    return bad(c, err, errlen, big);
  /* The line break the line reader took off: the end of the record, or
   * one inside a quoted field. */
  if (csv_parse(c->parser, line, len, on_field, on_record, c) != len ||
      csv_parse(c->parser, "\n", 1, on_field, on_record, c) != 1) {
    int e = csv_error(c->parser);
    return bad(c, err, errlen,
               e == CSV_EPARSE ? "a quote inside a field that does not start "
                                 "with one, or text after a closing quote"
                               : big);
  }
  if (c->failed)
    return bad(c, err, errlen,
               c->failed == 2 ? "a carriage return outside quotes before the "
                                "end of the line"
                              : big);
  /* A line that is not blank ends its record unless a quote is open. */
  c->quoted = !c->ended;
  if (c->quoted)
    return CLI_CSV_MORE;
  c->ended = 0;
  return CLI_CSV_RECORD;
}

const char *cli_csv_field(const cli_csv_t *c, size_t i)
{
  return i < c->nfields ? c->buf + c->offs[i] : NULL;
}

/* ---- a CSV file with a header row, into job lines ---- */

void cli_csv_input_free(cli_csv_input_t *in)
{
  cli_csv_free(&in->rec);
  for (size_t i = 0; i < in->ncols; i++)
    free(in->cols[i]);
  free(in->cols);
  free(in->body_tpl);
  memset(in, 0, sizeof *in);
}

int cli_csv_input_init(cli_csv_input_t *in, const cli_opts_t *o, char *err,
                       size_t errlen)
{
  memset(in, 0, sizeof *in);
  cli_csv_init(&in->rec);
  if (!o->body_template)
    return 0;
  FILE *f = fopen(o->body_template, "rb");
  if (!f)
    return cli_fail(err, errlen, "--body-template %s: %s", o->body_template,
                    strerror(errno));
  in->body_tpl = malloc(CLI_MAX_TEMPLATE + 1);
  size_t n = in->body_tpl ? fread(in->body_tpl, 1, CLI_MAX_TEMPLATE + 1, f) : 0;
  int rd = ferror(f);
  fclose(f);
  if (!in->body_tpl)
    return cli_fail(err, errlen, "out of memory");
  if (rd || n > CLI_MAX_TEMPLATE)
    return cli_fail(err, errlen, "--body-template %s: %s", o->body_template,
                    rd ? "cannot be read" : "larger than 1 MiB");
  in->body_tpl[n] = 0;
  in->body_tpl_len = n;
  size_t s = strspn(in->body_tpl, " \t\r\n");
  in->body_json = in->body_tpl[s] == '{' || in->body_tpl[s] == '[';
  return 0;
}

/* The columns a job line takes, and which of them are numbers. */
static const char *const job_cols[] = {
    "id",   "url",         "method",     "key",          "priority",
    "body", "deadline_ms", "timeout_ms", "max_attempts", NULL};

static int job_col(const char *name, int *number)
{
  for (int i = 0; job_cols[i]; i++)
    if (!strcmp(name, job_cols[i])) {
      *number = i >= 6;
      return 1;
    }
  return 0;
}

typedef struct row {
  const cli_csv_input_t *in;
  const cli_opts_t *o;
} row_t;

/* A column of the record by name. */
static const char *col_lookup(void *user, const char *name, size_t len,
                              size_t *vlen)
{
  const row_t *r = user;
  for (size_t i = 0; i < r->in->ncols; i++)
    if (strlen(r->in->cols[i]) == len && !memcmp(r->in->cols[i], name, len)) {
      const char *v = cli_csv_field(&r->in->rec, i);
      *vlen = strlen(v);
      return v;
    }
  return NULL;
}

/* --define, then the columns: values a body template takes. */
static const char *any_lookup(void *user, const char *name, size_t len,
                              size_t *vlen)
{
  const row_t *r = user;
  const char *v = cli_define_lookup((void *)r->o, name, len, vlen);
  return v ? v : col_lookup(user, name, len, vlen);
}

static int take_header(cli_csv_input_t *in, unsigned long lineno, char *err,
                       size_t errlen)
{
  in->cols = calloc(in->rec.nfields, sizeof *in->cols);
  if (!in->cols)
    return cli_fail(err, errlen, "out of memory");
  for (size_t i = 0; i < in->rec.nfields; i++) {
    const char *name = cli_csv_field(&in->rec, i);
    if (!*name)
      return cli_fail(err, errlen, "line %lu: header column %zu has no name",
                      lineno, i + 1);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(in->cols[j], name))
        return cli_fail(err, errlen, "line %lu: header column \"%.64s\" twice",
                        lineno, name);
    if (!(in->cols[i] = strdup(name)))
      return cli_fail(err, errlen, "out of memory");
    in->ncols = i + 1;
  }
  return 0;
}

/* The record as a job object; -1 with why. */
static int make_job(cli_csv_input_t *in, const cli_opts_t *o, json_t *job,
                    char *why, size_t cap)
{
  row_t r = {in, o};
  int number;
  for (size_t i = 0; i < in->ncols; i++) {
    const char *v = cli_csv_field(&in->rec, i);
    if (!*v || !job_col(in->cols[i], &number))
      continue;
    json_t *jv;
    if (number && strspn(v, "0123456789") == strlen(v) && strlen(v) < 16)
      jv = json_integer(strtoll(v, NULL, 10));
    else
      jv = json_string(v);
    if (!jv)
      return cli_fail(why, cap, "column \"%s\" is not UTF-8", in->cols[i]);
    if (json_object_set_new(job, in->cols[i], jv))
      return cli_fail(why, cap, "out of memory");
  }
  char *f;
  size_t n;
  if (o->url_template) {
    if (cli_tpl_fill(o->url_template, strlen(o->url_template), CLI_TPL_URL,
                     col_lookup, &r, cli_define_lookup, (void *)o, &f, &n, why,
                     cap))
      return -1;
    int rc = json_object_set_new(job, "url", json_stringn(f, n));
    free(f);
    if (rc)
      return cli_fail(why, cap, "--url: not UTF-8 once filled");
  }
  if (in->body_tpl) {
    if (cli_tpl_fill(in->body_tpl, in->body_tpl_len,
                     in->body_json ? CLI_TPL_JSON : CLI_TPL_RAW, any_lookup, &r,
                     NULL, NULL, &f, &n, why, cap))
      return -1;
    json_error_t je;
    json_t *b = in->body_json ? json_loadb(f, n, 0, &je) : json_stringn(f, n);
    free(f);
    if (!b && in->body_json)
      return cli_fail(why, cap, "--body-template: not JSON once filled: %s",
                      je.text);
    json_object_del(job, "body");
    if (!b || json_object_set_new(job, in->body_json ? "json" : "body", b))
      return cli_fail(why, cap, "--body-template: not UTF-8 once filled");
  }
  return 0;
}

static int blank(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

int cli_csv_input_line(cli_csv_input_t *in, const cli_opts_t *o,
                       const char *line, size_t len, unsigned long lineno,
                       unsigned long *first, char **out, size_t *out_len,
                       char *err, size_t errlen)
{
  char why[512];
  *out = NULL;
  /* A UTF-8 byte order mark before the header row (spreadsheets write
   * one) is not part of its first column's name. */
  if (!in->cols && !in->rec.quoted && len >= 3 &&
      !memcmp(line, "\xEF\xBB\xBF", 3)) {
    line += 3;
    len -= 3;
  }
  if (!in->rec.quoted) {
    *first = lineno;
    if (blank(line, len))
      return 0;
  }
  int r = cli_csv_feed(&in->rec, line, len, why, sizeof why);
  if (r == CLI_CSV_MORE)
    return 0;
  if (r == CLI_CSV_BAD)
    return cli_fail(err, errlen, "line %lu: %s", *first, why);
  if (!in->cols)
    return take_header(in, *first, err, errlen) ? -1 : 0;
  if (in->rec.nfields != in->ncols)
    return cli_fail(err, errlen,
                    "line %lu: %zu fields, but the header row has %zu", *first,
                    in->rec.nfields, in->ncols);
  json_t *job = json_object();
  if (!job)
    return cli_fail(err, errlen, "out of memory");
  int rc = make_job(in, o, job, why, sizeof why);
  if (rc == 0 && !(*out = json_dumps(job, JSON_COMPACT)))
    rc = cli_fail(why, sizeof why, "out of memory");
  json_decref(job);
  if (rc)
    return cli_fail(err, errlen, "line %lu: %s", *first, why);
  *out_len = strlen(*out);
  return 1;
}
