/* SPDX-License-Identifier: MIT */
/* test_cli_template.c - placeholders and the job source (template.c):
 * {NAME} filled raw, JSON-escaped or percent-encoded, any other '{' left
 * as text, an unknown name an error naming it; --define in the string
 * values of job lines (never keys); job lines untouched without it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *table(void *user, const char *name, size_t len, size_t *vlen)
{
  (void)user;
  static const char *const kv[][2] = {
      {"a", "1"}, {"q", "x\"y\\z\n"}, {"s", "a b/c?d&e~"}, {"e", ""}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (strlen(kv[i][0]) == len && !memcmp(kv[i][0], name, len)) {
      *vlen = strlen(kv[i][1]);
      return kv[i][1];
    }
  return NULL;
}

static void expect(const char *tpl, cli_tpl_escape_t esc, const char *want)
{
  char *out, err[128];
  size_t n;
  assert_int_equal(cli_tpl_fill(tpl, strlen(tpl), esc, table, NULL, NULL, NULL,
                                &out, &n, err, sizeof err),
                   0);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
  free(out);
}

static void fills(void **state)
{
  (void)state;
  expect("", CLI_TPL_RAW, "");
  expect("no placeholders", CLI_TPL_RAW, "no placeholders");
  expect("{a}{a}-{e}-", CLI_TPL_RAW, "11--");
  expect("{\"k\": \"{q}\"}", CLI_TPL_JSON, "{\"k\": \"x\\\"y\\\\z\\u000A\"}");
  expect("/p/{s}", CLI_TPL_URL, "/p/a%20b%2Fc%3Fd%26e~");
  /* Not placeholders: text. */
  expect("{} { a} {a b} {\"a\"} {a", CLI_TPL_RAW, "{} { a} {a b} {\"a\"} {a");
  expect("{{a}}", CLI_TPL_RAW, "{1}");
}

static void unknown_names_it(void **state)
{
  (void)state;
  char *out = (char *)1, err[128];
  size_t n;
  assert_int_equal(cli_tpl_fill("x{a}{nope.x}", 12, CLI_TPL_RAW, table, NULL,
                                NULL, NULL, &out, &n, err, sizeof err),
                   -1);
  assert_null(out);
  assert_string_equal(err, "unknown placeholder {nope.x}");
}

/* raw_lookup comes first and is never escaped. */
static void raw_first(void **state)
{
  (void)state;
  cli_opts_t o;
  cli_opts_init(&o);
  char *argv[] = {"pacer", "send", "--define", "s=http://h:1", "f"};
  char *out, err[128];
  size_t n;
  assert_int_equal(cli_opts_parse(&o, 5, argv, err, sizeof err), 0);
  assert_int_equal(cli_tpl_fill("{s}/{a}/{q}", 11, CLI_TPL_URL, table, NULL,
                                cli_define_lookup, &o, &out, &n, err,
                                sizeof err),
                   0);
  assert_string_equal(out, "http://h:1/1/x%22y%5Cz%0A");
  free(out);
  cli_opts_free(&o);
}

static void defines_in_job_lines(void **state)
{
  (void)state;
  cli_opts_t o;
  cli_opts_init(&o);
  char *argv[] = {"pacer",    "send",   "--define", "BASE=http://h:1",
                  "--define", "K=v\"1", "--define", "BASE=http://h:2",
                  "-"};
  char err[256];
  assert_int_equal(cli_opts_parse(&o, 9, argv, err, sizeof err), 0);
  assert_int_equal(o.define_count, 2); /* the later BASE replaced it */
  cli_source_t s;
  assert_int_equal(cli_source_init(&s, &o, err, sizeof err), 0);
  const char *job;
  size_t len;
  unsigned long jl;
  const char line[] = "{\"url\": \"{BASE}/x\", \"{K}\": 1, \"headers\": "
                      "{\"X\": \"{K}\"}, \"json\": [\"{K}\", 2]}";
  assert_int_equal(cli_source_line(&s, line, strlen(line), 4, &job, &len, &jl,
                                   err, sizeof err),
                   1);
  assert_int_equal(jl, 4);
  assert_string_equal(job, "{\"url\":\"http://h:2/x\",\"{K}\":1,\"headers\":{"
                           "\"X\":\"v\\\"1\"},\"json\":[\"v\\\"1\",2]}");
  /* Not JSON, or nothing to fill: as it is. */
  assert_int_equal(
      cli_source_line(&s, "nope {K}", 8, 5, &job, &len, &jl, err, sizeof err),
      1);
  assert_string_equal(job, "nope {K}");
  const char bad[] = "{\"url\": \"{BASE}/{ID}\"}";
  assert_int_equal(cli_source_line(&s, bad, strlen(bad), 6, &job, &len, &jl,
                                   err, sizeof err),
                   -1);
  assert_string_equal(err, "line 6: unknown placeholder {ID}");
  assert_int_equal(cli_source_end(&s, &jl, err, sizeof err), 0);
  cli_source_free(&s);
  cli_opts_free(&o);
}

static void untouched_without_define(void **state)
{
  (void)state;
  cli_opts_t o;
  cli_opts_init(&o);
  cli_source_t s;
  char err[128];
  const char *job;
  size_t len;
  unsigned long jl;
  const char line[] = "{\"url\": \"{BASE}\"}";
  assert_int_equal(cli_source_init(&s, &o, err, sizeof err), 0);
  assert_int_equal(cli_source_line(&s, line, strlen(line), 1, &job, &len, &jl,
                                   err, sizeof err),
                   1);
  assert_ptr_equal(job, line);
  cli_source_free(&s);
  cli_opts_free(&o);
}

static void bad_define(void **state)
{
  (void)state;
  const char *bad[] = {"NOEQ", "=v", "a b=c", "{x}=1"};
  for (size_t i = 0; i < 4; i++) {
    cli_opts_t o;
    cli_opts_init(&o);
    char *argv[] = {"pacer", "send", "--define", (char *)bad[i], "-"};
    char err[128];
    assert_int_equal(cli_opts_parse(&o, 5, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "--define: expects NAME=VALUE"));
    cli_opts_free(&o);
  }
}

static void open_csv_quote_at_end(void **state)
{
  (void)state;
  cli_opts_t o;
  cli_opts_init(&o);
  o.csv = 1;
  cli_source_t s;
  char err[128];
  const char *job;
  size_t len;
  unsigned long jl;
  assert_int_equal(cli_source_init(&s, &o, err, sizeof err), 0);
  assert_int_equal(cli_source_line(&s, "url", 3, 1, &job, &len, &jl, err, 128),
                   0);
  assert_int_equal(
      cli_source_line(&s, "\"http://h/", 10, 2, &job, &len, &jl, err, 128), 0);
  assert_int_equal(cli_source_end(&s, &jl, err, sizeof err), -1);
  assert_int_equal(jl, 2);
  assert_non_null(strstr(err, "line 2: a quoted field is not closed"));
  cli_source_free(&s);
  cli_opts_free(&o);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fills),
      cmocka_unit_test(unknown_names_it),
      cmocka_unit_test(raw_first),
      cmocka_unit_test(defines_in_job_lines),
      cmocka_unit_test(untouched_without_define),
      cmocka_unit_test(bad_define),
      cmocka_unit_test(open_csv_quote_at_end),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
