/* SPDX-License-Identifier: MIT */
/* csv.c - CSV input (--csv): an RFC 4180 record reader fed line by line,
 * and each record of a file with a header row made into a JSON job line
 * (columns id, url, method, key, priority, body, deadline_ms, timeout_ms,
 * max_attempts; the others only fill templates), so that send and check
 * parse it as they parse any job line.
 *
 * Debian packages libcsv (libcsv-dev), but it is one more build dependency
 * for about a hundred lines that read one record at a time from our own
 * line reader; this reader is small, bounded (CLI_MAX_RECORD bytes,
 * CLI_CSV_MAX_FIELDS fields) and has its unit test and fuzz target. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_RECORD (16u << 20) /* bytes of one record, as of a line */
#define CLI_MAX_TEMPLATE (1u << 20)

void cli_csv_init(cli_csv_t *c)
{
  memset(c, 0, sizeof *c);
}

void cli_csv_free(cli_csv_t *c)
{
  free(c->buf);
  free(c->offs);
  memset(c, 0, sizeof *c);
}

static int put(cli_csv_t *c, char ch)
{
  if (c->len + 1 >= c->cap) {
    if (c->cap >= CLI_MAX_RECORD)
      return -1;
    size_t cap = c->cap ? c->cap * 2 : 256;
    char *nb = realloc(c->buf, cap);
    if (!nb)
      return -1;
    c->buf = nb;
    c->cap = cap;
  }
  c->buf[c->len++] = ch;
  return 0;
}

/* Starts a field at the end of buf. */
static int start_field(cli_csv_t *c)
{
  if (c->nfields == c->fcap) {
    if (c->fcap >= CLI_CSV_MAX_FIELDS)
      return -1;
    size_t cap = c->fcap ? c->fcap * 2 : 16;
    size_t *no = realloc(c->offs, cap * sizeof *no);
    if (!no)
      return -1;
    c->offs = no;
    c->fcap = cap;
  }
  c->offs[c->nfields++] = c->len;
  c->in_field = 0;
  c->after_quote = 0;
  return 0;
}

static int bad(cli_csv_t *c, char *err, size_t errlen, const char *why)
{
  c->quoted = c->in_field = c->after_quote = 0;
  c->len = c->nfields = 0;
  cli_fail(err, errlen, "%s", why);
  return CLI_CSV_BAD;
}

int cli_csv_feed(cli_csv_t *c, const char *line, size_t len, char *err,
                 size_t errlen)
{
  static const char big[] = "record too long or too many fields (out of "
                            "memory, or over 16 MiB or 4096 fields)";
  if (c->quoted) { /* the line break inside the quoted field */
    if (put(c, '\n'))
      return bad(c, err, errlen, big);
  } else {
    c->len = c->nfields = 0;
    if (start_field(c))
      return bad(c, err, errlen, big);
  }
  for (size_t i = 0; i < len; i++) {
    char ch = line[i];
    int last_cr = ch == '\r' && i + 1 == len; /* CRLF */
    if (c->quoted) {
      if (ch != '"') {
        if (put(c, ch))
          return bad(c, err, errlen, big);
      } else if (i + 1 < len && line[i + 1] == '"') {
        if (put(c, '"'))
          return bad(c, err, errlen, big);
        i++;
      } else {
        c->quoted = 0;
        c->after_quote = 1;
      }
    } else if (ch == ',') {
      if (put(c, '\0') || start_field(c))
        return bad(c, err, errlen, big);
    } else if (last_cr) {
      break;
    } else if (c->after_quote) {
      return bad(c, err, errlen, "text after a closing quote");
    } else if (ch == '"') {
      if (c->in_field)
        return bad(c, err, errlen,
                   "a quote inside a field that does not start with one");
      c->quoted = c->in_field = 1;
    } else {
      c->in_field = 1;
      if (put(c, ch))
        return bad(c, err, errlen, big);
    }
  }
  if (c->quoted)
    return CLI_CSV_MORE;
  if (put(c, '\0'))
    return bad(c, err, errlen, big);
  c->in_field = c->after_quote = 0;
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
