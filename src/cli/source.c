/* SPDX-License-Identifier: MIT */
/* source.c - the job source: the input's lines turned into JSON job lines
 * (as they are, with --define filled in their string values by
 * template.c, or made from CSV records by csv.c) for send and check
 * alike, so both parse the same job lines. */
#include "cli.h"

#include <string.h>

int cli_source_init(cli_source_t *s, const cli_opts_t *o, char *err,
                    size_t errlen)
{
  memset(s, 0, sizeof *s);
  s->o = o;
  s->is_csv = o->csv;
  if ((o->url_template || o->body_template) && !o->csv)
    return cli_fail(err, errlen,
                    "--url and --body-template fill CSV rows: they need --csv");
  if (s->is_csv)
    return cli_csv_input_init(&s->csv, o, err, errlen);
  return 0;
}

void cli_source_free(cli_source_t *s)
{
  if (s->is_csv)
    cli_csv_input_free(&s->csv);
  free(s->made);
  s->made = NULL;
}

int cli_source_line(cli_source_t *s, const char *line, size_t len,
                    unsigned long lineno, const char **job, size_t *job_len,
                    unsigned long *job_line, char *err, size_t errlen)
{
  free(s->made);
  s->made = NULL;
  *job_line = lineno;
  if (s->is_csv) {
    size_t n = 0;
    int r = cli_csv_input_line(&s->csv, s->o, line, len, lineno, &s->first,
                               &s->made, &n, err, errlen);
    *job_line = s->first;
    if (r == 1) {
      *job = s->made;
      *job_len = n;
    }
    return r;
  }
  *job = line;
  *job_len = len;
  if (s->o->define_count) {
    size_t n = 0;
    if (cli_tpl_jobline(s->o, line, len, lineno, &s->made, &n, err, errlen))
      return -1;
    if (s->made) {
      *job = s->made;
      *job_len = n;
    }
  }
  return 1;
}

int cli_source_has_header(const cli_source_t *s)
{
  return !s->is_csv || s->csv.cols != NULL;
}

int cli_source_end(cli_source_t *s, unsigned long *job_line, char *err,
                   size_t errlen)
{
  if (!s->is_csv || !s->csv.rec.quoted)
    return 0;
  *job_line = s->first;
  return cli_fail(err, errlen,
                  "line %lu: a quoted field is not closed at the end of the "
                  "input",
                  s->first);
}
