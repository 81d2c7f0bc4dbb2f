/* SPDX-License-Identifier: MIT */
/* test_cli_csv.c - the RFC 4180 reader and CSV records made job lines
 * (csv.c): quoted fields with commas, doubled quotes and line breaks,
 * CRLF, malformed records, the header row, the columns a job takes,
 * --url and --body-template filled per row. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int feed(cli_csv_t *c, const char *line)
{
  char err[256];
  return cli_csv_feed(c, line, strlen(line), err, sizeof err);
}

static void plain_and_quoted(void **state)
{
  (void)state;
  cli_csv_t c;
  cli_csv_init(&c);
  assert_int_equal(feed(&c, "a,b,,d"), CLI_CSV_RECORD);
  assert_int_equal(c.nfields, 4);
  assert_string_equal(cli_csv_field(&c, 0), "a");
  assert_string_equal(cli_csv_field(&c, 2), "");
  assert_string_equal(cli_csv_field(&c, 3), "d");
  assert_null(cli_csv_field(&c, 4));
  assert_int_equal(feed(&c, "1,\"Smith, J\",\"say \"\"hi\"\"\",\"\"\r"),
                   CLI_CSV_RECORD);
  assert_int_equal(c.nfields, 4);
  assert_string_equal(cli_csv_field(&c, 1), "Smith, J");
  assert_string_equal(cli_csv_field(&c, 2), "say \"hi\"");
  assert_string_equal(cli_csv_field(&c, 3), "");
  /* CRLF: the "\r" of the line's end is not data. */
  assert_int_equal(feed(&c, "x,y\r"), CLI_CSV_RECORD);
  assert_string_equal(cli_csv_field(&c, 1), "y");
  assert_int_equal(feed(&c, ""), CLI_CSV_RECORD);
  assert_int_equal(c.nfields, 1);
  cli_csv_free(&c);
}

static void line_break_in_quotes(void **state)
{
  (void)state;
  cli_csv_t c;
  cli_csv_init(&c);
  assert_int_equal(feed(&c, "1,\"two"), CLI_CSV_MORE);
  assert_int_equal(feed(&c, ""), CLI_CSV_MORE);
  assert_int_equal(feed(&c, "lines\r"), CLI_CSV_MORE);
  assert_int_equal(feed(&c, "\",3"), CLI_CSV_RECORD);
  assert_int_equal(c.nfields, 3);
  assert_string_equal(cli_csv_field(&c, 1), "two\n\nlines\r\n");
  assert_string_equal(cli_csv_field(&c, 2), "3");
  cli_csv_free(&c);
}

static void malformed(void **state)
{
  (void)state;
  cli_csv_t c;
  char err[256];
  cli_csv_init(&c);
  assert_int_equal(cli_csv_feed(&c, "a,b\"c", 5, err, sizeof err), CLI_CSV_BAD);
  assert_non_null(strstr(err, "a quote inside a field"));
  assert_int_equal(cli_csv_feed(&c, "\"a\"b", 4, err, sizeof err), CLI_CSV_BAD);
  assert_non_null(strstr(err, "text after a closing quote"));
  assert_int_equal(cli_csv_feed(&c, "a\rb", 3, err, sizeof err), CLI_CSV_BAD);
  assert_non_null(strstr(err, "a carriage return outside quotes"));
  /* Spaces are data, quoted or not. */
  assert_int_equal(feed(&c, " a , \" b \" "), CLI_CSV_BAD);
  assert_int_equal(feed(&c, " a ,\" b \"\r"), CLI_CSV_RECORD);
  assert_string_equal(cli_csv_field(&c, 0), " a ");
  assert_string_equal(cli_csv_field(&c, 1), " b ");
  /* A bad record leaves the reader ready for the next. */
  assert_int_equal(feed(&c, "ok"), CLI_CSV_RECORD);
  assert_string_equal(cli_csv_field(&c, 0), "ok");
  cli_csv_free(&c);
}

/* ---- records into job lines ---- */

typedef struct fx {
  cli_opts_t o;
  cli_csv_input_t in;
  char err[512], tpl[64];
} fx_t;

static int setup(void **state)
{
  fx_t *fx = calloc(1, sizeof *fx);
  cli_opts_init(&fx->o);
  fx->o.csv = 1;
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  fx_t *fx = *state;
  cli_csv_input_free(&fx->in);
  cli_opts_free(&fx->o);
  if (fx->tpl[0])
    unlink(fx->tpl);
  free(fx);
  return 0;
}

/* Feeds line (numbered n); returns what cli_csv_input_line() did, the job
 * line in *out (free it). */
static int row(fx_t *fx, const char *line, unsigned long n, char **out)
{
  unsigned long first;
  size_t len;
  return cli_csv_input_line(&fx->in, &fx->o, line, strlen(line), n, &first, out,
                            &len, fx->err, sizeof fx->err);
}

static void header_and_columns(void **state)
{
  fx_t *fx = *state;
  char *out;
  assert_int_equal(cli_csv_input_init(&fx->in, &fx->o, fx->err, 512), 0);
  assert_int_equal(row(fx, "id,url,priority,max_attempts,extra\r", 1, &out), 0);
  assert_int_equal(row(fx, "", 2, &out), 0); /* blank */
  assert_int_equal(row(fx, "a1,http://h/x,high,3,zz", 3, &out), 1);
  assert_string_equal(out, "{\"id\":\"a1\",\"url\":\"http://h/x\","
                           "\"priority\":\"high\",\"max_attempts\":3}");
  free(out);
  /* An empty cell leaves its field out. */
  assert_int_equal(row(fx, "a2,http://h/y,,,", 4, &out), 1);
  assert_string_equal(out, "{\"id\":\"a2\",\"url\":\"http://h/y\"}");
  free(out);
  assert_int_equal(row(fx, "a3,http://h/z", 5, &out), -1);
  assert_string_equal(fx->err, "line 5: 2 fields, but the header row has 5");
}

static void byte_order_mark(void **state)
{
  fx_t *fx = *state;
  char *out;
  assert_int_equal(cli_csv_input_init(&fx->in, &fx->o, fx->err, 512), 0);
  assert_int_equal(row(fx, "\xEF\xBB\xBFid,url", 1, &out), 0);
  assert_int_equal(row(fx, "\xEF\xBB\xBFx,http://h/", 2, &out), 1);
  assert_string_equal(out, "{\"id\":\"\xEF\xBB\xBFx\",\"url\":\"http://h/\"}");
  free(out);
}

static void header_problems(void **state)
{
  fx_t *fx = *state;
  char *out;
  assert_int_equal(cli_csv_input_init(&fx->in, &fx->o, fx->err, 512), 0);
  assert_int_equal(row(fx, "id,url,id", 1, &out), -1);
  assert_non_null(strstr(fx->err, "\"id\" twice"));
}

static void url_and_json_body_templates(void **state)
{
  fx_t *fx = *state;
  char *out;
  snprintf(fx->tpl, sizeof fx->tpl, "/tmp/test_cli_csv_XXXXXX");
  int fd = mkstemp(fx->tpl);
  assert_true(fd >= 0);
  const char body[] = " {\"name\": \"{name}\", \"n\": {n}, \"env\": \"{ENV}\"}";
  assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
  close(fd);
  char *argv[] = {"pacer",
                  "send",
                  "--csv",
                  "--url",
                  "{BASE}/users/{id}?q={name}",
                  "--body-template",
                  fx->tpl,
                  "--define",
                  "BASE=http://h:1",
                  "--define",
                  "ENV=a\"b",
                  "x.csv"};
  assert_int_equal(cli_opts_parse(&fx->o, 12, argv, fx->err, 512), 0);
  assert_int_equal(cli_csv_input_init(&fx->in, &fx->o, fx->err, 512), 0);
  assert_true(fx->in.body_json);
  assert_int_equal(row(fx, "id,name,n", 1, &out), 0);
  assert_int_equal(row(fx, "7,\"Smith, \"\"J\"\"/x\",42", 2, &out), 1);
  assert_string_equal(
      out,
      "{\"id\":\"7\",\"url\":\"http://h:1/users/7?q=Smith%2C%20%22J%22%2Fx\","
      "\"json\":{\"name\":\"Smith, \\\"J\\\"/x\",\"n\":42,\"env\":"
      "\"a\\\"b\"}}");
  free(out);
  /* Filled, the body must be JSON. */
  assert_int_equal(row(fx, "8,x,not a number", 3, &out), -1);
  assert_non_null(strstr(fx->err, "line 3: --body-template: not JSON"));
}

static void unknown_placeholder(void **state)
{
  fx_t *fx = *state;
  char *out;
  fx->o.url_template = strdup("http://h/{nope}");
  assert_int_equal(cli_csv_input_init(&fx->in, &fx->o, fx->err, 512), 0);
  assert_int_equal(row(fx, "id", 1, &out), 0);
  assert_int_equal(row(fx, "1", 2, &out), -1);
  assert_string_equal(fx->err, "line 2: unknown placeholder {nope}");
}

static void missing_template(void **state)
{
  fx_t *fx = *state;
  fx->o.body_template = strdup("/nonexistent/body.json");
  assert_int_equal(cli_csv_input_init(&fx->in, &fx->o, fx->err, 512), -1);
  assert_non_null(strstr(fx->err, "--body-template /nonexistent/body.json"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plain_and_quoted),
      cmocka_unit_test(line_break_in_quotes),
      cmocka_unit_test(malformed),
      T(header_and_columns),
      T(byte_order_mark),
      T(header_problems),
      T(url_and_json_body_templates),
      T(unknown_placeholder),
      T(missing_template),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
