/* SPDX-License-Identifier: MIT */
/* fuzz_csv.c - CSV input (src/cli/csv.c) and placeholders
 * (src/cli/template.c): the input's lines, as the line reader gives them,
 * through the job source with --csv, a --url template and a --define.
 *
 * Properties: the reader never reads past a line; every job line made is
 * one JSON object, numbered by a line already read; a record's fields,
 * written back quoted, read back the same. */
#include "cli.h"
#include "fuzz.h"

/* Writes the fields of c back as one quoted CSV record, then reads it
 * again line by line: the same fields. */
static void round_trip(const cli_csv_t *c)
{
  cli_buf_t b;
  cli_buf_init(&b);
  for (size_t i = 0; i < c->nfields; i++) {
    const char *f = cli_csv_field(c, i);
    cli_buf_put(&b, i ? ",\"" : "\"", i ? 2 : 1);
    for (; *f; f++) {
      if (*f == '"')
        cli_buf_put(&b, "\"\"", 2);
      else
        cli_buf_put(&b, f, 1);
    }
    cli_buf_put(&b, "\"", 1);
  }
  if (b.failed) {
    cli_buf_free(&b);
    return;
  }
  cli_csv_t r;
  cli_csv_init(&r);
  char err[128];
  int rc = CLI_CSV_MORE;
  const char *p = b.p, *end = b.p + b.len;
  while (rc == CLI_CSV_MORE && p <= end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char *line = malloc(n ? n : 1);
    FUZZ_CHECK(line != NULL);
    memcpy(line, p, n);
    rc = cli_csv_feed(&r, line, n, err, sizeof err);
    free(line);
    p += n + 1;
  }
  FUZZ_CHECK(rc == CLI_CSV_RECORD);
  FUZZ_CHECK(r.nfields == c->nfields);
  for (size_t i = 0; i < c->nfields; i++)
    FUZZ_CHECK(!strcmp(cli_csv_field(&r, i), cli_csv_field(c, i)));
  cli_csv_free(&r);
  cli_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  cli_opts_t o;
  cli_opts_init(&o);
  o.csv = 1;
  o.url_template = strdup("http://h.test/{id}/{B}?x={x}");
  o.defines = malloc(sizeof *o.defines);
  if (o.defines && (o.defines[0] = strdup("B=b{c}")))
    o.define_count = 1;
  cli_source_t s;
  char err[512];
  if (!o.url_template || cli_source_init(&s, &o, err, sizeof err)) {
    cli_opts_free(&o);
    return 0;
  }
  cli_csv_t raw;
  cli_csv_init(&raw);
  unsigned long lineno = 0, jl;
  const uint8_t *p = data, *end = data + size;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    /* Exactly the line's bytes: a read past them is caught. */
    char *line = malloc(n ? n : 1);
    if (!line)
      break;
    memcpy(line, p, n);
    const char *job;
    size_t jlen;
    int rc = cli_source_line(&s, line, n, ++lineno, &job, &jlen, &jl, err,
                             sizeof err);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    FUZZ_CHECK(jl >= 1 && jl <= lineno);
    if (rc == 1) {
      json_t *j = json_loadb(job, jlen, 0, NULL);
      FUZZ_CHECK(json_is_object(j));
      json_decref(j);
    }
    if (cli_csv_feed(&raw, line, n, err, sizeof err) == CLI_CSV_RECORD)
      round_trip(&raw);
    free(line);
    p += n + 1;
  }
  (void)cli_source_end(&s, &jl, err, sizeof err);
  cli_csv_free(&raw);
  cli_source_free(&s);
  cli_opts_free(&o);
  return 0;
}
