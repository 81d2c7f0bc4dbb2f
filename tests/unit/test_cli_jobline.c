/* SPDX-License-Identifier: MIT */
/* test_cli_jobline.c - one JSON job line into a pacer_request_t (jobline.c).
 *
 * Options come from cli_opts_parse() as the command builds them; each bad
 * line must fail with "line N" in the message and still leave an id for the
 * error result. ASan checks the ownership rules of cli_job_clear(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct fixture {
  cli_opts_t o;
  cli_job_t job;
  char err[512];
} fixture_t;

static int setup(void **state)
{
  fixture_t *fx = calloc(1, sizeof *fx);
  if (!fx)
    return -1;
  cli_opts_init(&fx->o);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  fixture_t *fx = *state;
  cli_job_clear(&fx->job, 0);
  cli_opts_free(&fx->o);
  free(fx);
  return 0;
}

/* Replaces the options with those of `pacer send x ARGS...`. */
static void opts_v(fixture_t *fx, const char *const *args)
{
  char *argv[32] = {(char *)"pacer", (char *)"send", (char *)"x"};
  int argc = 3;
  for (; *args; args++) {
    assert_true(argc < 31);
    argv[argc++] = (char *)*args;
  }
  cli_opts_free(&fx->o);
  cli_opts_init(&fx->o);
  if (cli_opts_parse(&fx->o, argc, argv, fx->err, sizeof fx->err))
    fail_msg("options: %s", fx->err);
}

#define OPTS(fx, ...) opts_v((fx), (const char *const[]){__VA_ARGS__, NULL})

/* Parses a NUL-terminated line as line number lineno (the previous job is
 * cleared first). */
static int parse(fixture_t *fx, const char *line, unsigned long lineno)
{
  cli_job_clear(&fx->job, 0);
  fx->err[0] = 0;
  return cli_job_parse(&fx->job, line, strlen(line), lineno, &fx->o, fx->err,
                       sizeof fx->err);
}

static void parse_ok(fixture_t *fx, const char *line, unsigned long lineno)
{
  if (parse(fx, line, lineno))
    fail_msg("%s: %s", line, fx->err);
}

/* The value of header name in the request (case-sensitive), or NULL; fails
 * if it is there more than once. */
static const char *req_header(const pacer_request_t *r, const char *name)
{
  const char *v = NULL;
  for (size_t i = 0; i < r->header_count; i++)
    if (!strcmp(r->headers[i].name, name)) {
      if (v)
        fail_msg("header %s twice", name);
      v = r->headers[i].value;
    }
  return v;
}

static size_t count_header_ci(const pacer_request_t *r, const char *name)
{
  size_t n = 0;
  for (size_t i = 0; i < r->header_count; i++)
    n += !strcasecmp(r->headers[i].name, name);
  return n;
}

static void assert_id_int(json_t *id, json_int_t want)
{
  assert_non_null(id);
  assert_true(json_is_integer(id));
  assert_int_equal(json_integer_value(id), want);
}

/* ---- good lines ---------------------------------------------------------- */

static void full_line(void **state)
{
  fixture_t *fx = *state;
  parse_ok(fx,
           "{\"id\": \"job-1\", \"method\": \"POST\", \"url\": "
           "\"http://127.0.0.1:8080/p?q=1\", \"headers\": {\"X-A\": \"1\", "
           "\"X-B\": \"two\"}, \"body\": \"hello\", \"priority\": \"high\", "
           "\"key\": \"tenant-1\", \"deadline_ms\": 5000, \"timeout_ms\": 700, "
           "\"max_attempts\": 4}",
           3);
  const pacer_request_t *r = &fx->job.req;
  assert_true(json_is_string(fx->job.id));
  assert_string_equal(json_string_value(fx->job.id), "job-1");
  assert_string_equal(r->method, "POST");
  assert_string_equal(r->url, "http://127.0.0.1:8080/p?q=1");
  assert_int_equal(r->header_count, 2);
  assert_string_equal(req_header(r, "X-A"), "1");
  assert_string_equal(req_header(r, "X-B"), "two");
  assert_int_equal(r->body_len, 5);
  assert_memory_equal(r->body, "hello", 5);
  assert_int_equal(r->priority, PACER_PRIORITY_HIGH);
  assert_string_equal(r->key, "tenant-1");
  assert_int_equal(r->deadline_ms, 5000);
  assert_int_equal(r->timeout_ms, 700);
  assert_int_equal(r->max_attempts, 4);
  assert_int_equal(r->struct_size, sizeof(pacer_request_t));
  assert_int_equal(r->flags, 0);
}

static void minimal_line_defaults(void **state)
{
  fixture_t *fx = *state;
  parse_ok(fx, "{\"url\": \"http://h/\"}", 42);
  const pacer_request_t *r = &fx->job.req;
  assert_id_int(fx->job.id, 42); /* no id: the line number */
  assert_string_equal(r->url, "http://h/");
  assert_null(r->method);
  assert_int_equal(r->header_count, 0);
  assert_null(r->body);
  assert_int_equal(r->body_len, 0);
  assert_int_equal(r->priority, PACER_PRIORITY_LOW);
  assert_null(r->key);
  assert_int_equal(r->deadline_ms, 0);
  assert_int_equal(r->timeout_ms, 0);
  assert_int_equal(r->max_attempts, 0);

  parse_ok(fx, "{\"url\": \"http://h/\", \"priority\": \"low\"}", 1);
  assert_int_equal(fx->job.req.priority, PACER_PRIORITY_LOW);

  /* null numbers are the same as absent ones */
  parse_ok(fx, "{\"url\": \"u\", \"deadline_ms\": null, \"max_attempts\": 0}",
           1);
  assert_int_equal(fx->job.req.deadline_ms, 0);
  assert_int_equal(fx->job.req.max_attempts, 0);
}

static void ids_kept(void **state)
{
  fixture_t *fx = *state;
  parse_ok(fx, "{\"id\": 7, \"url\": \"u\"}", 99);
  assert_id_int(fx->job.id, 7);
  parse_ok(fx, "{\"id\": -12, \"url\": \"u\"}", 99);
  assert_id_int(fx->job.id, -12);
  parse_ok(fx, "{\"id\": \"\", \"url\": \"u\"}", 99);
  assert_true(json_is_string(fx->job.id));
  assert_string_equal(json_string_value(fx->job.id), "");
  parse_ok(fx, "{\"url\": \"u\", \"id\": \"z\"}", 99);
  assert_string_equal(json_string_value(fx->job.id), "z");
  /* The id is a copy, not a reference into the parsed line. */
  assert_ptr_not_equal(fx->job.id, json_object_get(fx->job.root, "id"));
}

static void json_body(void **state)
{
  fixture_t *fx = *state;
  parse_ok(fx, "{\"url\": \"u\", \"json\": {\"a\": [1, 2], \"b\": \"x\"}}", 1);
  const pacer_request_t *r = &fx->job.req;
  const char *want = "{\"a\":[1,2],\"b\":\"x\"}";
  assert_int_equal(r->body_len, strlen(want));
  assert_memory_equal(r->body, want, strlen(want));
  assert_int_equal(r->header_count, 1);
  assert_string_equal(req_header(r, "Content-Type"), "application/json");

  /* A scalar is a JSON body too. */
  parse_ok(fx, "{\"url\": \"u\", \"json\": 5}", 1);
  assert_int_equal(fx->job.req.body_len, 1);
  assert_memory_equal(fx->job.req.body, "5", 1);
  assert_string_equal(req_header(&fx->job.req, "Content-Type"),
                      "application/json");

  /* The line's own Content-Type (any case) wins. */
  parse_ok(fx,
           "{\"url\": \"u\", \"json\": [], \"headers\": {\"content-type\": "
           "\"application/vnd.x+json\"}}",
           1);
  assert_int_equal(fx->job.req.header_count, 1);
  assert_int_equal(count_header_ci(&fx->job.req, "Content-Type"), 1);
  assert_string_equal(req_header(&fx->job.req, "content-type"),
                      "application/vnd.x+json");
  assert_memory_equal(fx->job.req.body, "[]", 2);

  /* So does a --header Content-Type. */
  OPTS(fx, "--header", "Content-Type: text/json");
  parse_ok(fx, "{\"url\": \"u\", \"json\": {}}", 1);
  assert_int_equal(fx->job.req.header_count, 1);
  assert_string_equal(req_header(&fx->job.req, "Content-Type"), "text/json");

  /* A plain body gets no Content-Type. */
  OPTS(fx, "--quiet");
  parse_ok(fx, "{\"url\": \"u\", \"body\": \"{}\"}", 1);
  assert_int_equal(fx->job.req.header_count, 0);
}

static void body_with_escapes(void **state)
{
  fixture_t *fx = *state;
  parse_ok(fx, "{\"url\": \"u\", \"body\": \"a\\nb\\u00e9\"}", 1);
  assert_int_equal(fx->job.req.body_len, 5);
  assert_memory_equal(fx->job.req.body, "a\nb\xc3\xa9", 5);
}

static void length_not_nul(void **state)
{
  fixture_t *fx = *state;
  /* Only len bytes are the line; what follows is not read. */
  const char buf[] = "{\"url\": \"http://h/\"}{garbage";
  cli_job_clear(&fx->job, 0);
  assert_int_equal(
      cli_job_parse(&fx->job, buf, 20, 5, &fx->o, fx->err, sizeof fx->err), 0);
  assert_string_equal(fx->job.req.url, "http://h/");
}

/* ---- options applied ------------------------------------------------------
 */

static void option_headers(void **state)
{
  fixture_t *fx = *state;
  OPTS(fx, "--header", "X-Token: t", "--header", "Accept: */*");

  parse_ok(fx, "{\"url\": \"u\"}", 1);
  assert_int_equal(fx->job.req.header_count, 2);
  assert_string_equal(req_header(&fx->job.req, "X-Token"), "t");
  assert_string_equal(req_header(&fx->job.req, "Accept"), "*/*");

  /* The line names Accept (another case): its own value is the only one. */
  parse_ok(fx,
           "{\"url\": \"u\", \"headers\": {\"accept\": \"text/plain\", "
           "\"X-Own\": \"o\"}}",
           1);
  assert_int_equal(fx->job.req.header_count, 3);
  assert_int_equal(count_header_ci(&fx->job.req, "Accept"), 1);
  assert_string_equal(req_header(&fx->job.req, "accept"), "text/plain");
  assert_string_equal(req_header(&fx->job.req, "X-Token"), "t");
  assert_string_equal(req_header(&fx->job.req, "X-Own"), "o");

  /* Both headers and a json body: Content-Type comes last. */
  parse_ok(fx, "{\"url\": \"u\", \"json\": 1, \"headers\": {\"X-Own\": \"o\"}}",
           1);
  assert_int_equal(fx->job.req.header_count, 4);
  assert_string_equal(fx->job.req.headers[3].name, "Content-Type");
}

/* "retry_unsafe" per job, --retry-unsafe for all. */
static void retry_unsafe(void **state)
{
  fixture_t *fx = *state;
  parse_ok(fx, "{\"url\": \"u\", \"method\": \"POST\"}", 1);
  assert_int_equal(fx->job.req.flags & PACER_REQ_RETRY_UNSAFE, 0);
  parse_ok(fx, "{\"url\": \"u\", \"method\": \"POST\", \"retry_unsafe\": true}",
           1);
  assert_int_equal(fx->job.req.flags & PACER_REQ_RETRY_UNSAFE,
                   PACER_REQ_RETRY_UNSAFE);
  parse_ok(fx, "{\"url\": \"u\", \"retry_unsafe\": false}", 1);
  assert_int_equal(fx->job.req.flags & PACER_REQ_RETRY_UNSAFE, 0);
  assert_int_equal(parse(fx, "{\"url\": \"u\", \"retry_unsafe\": 1}", 4), -1);
  assert_non_null(
      strstr(fx->err, "line 4: \"retry_unsafe\" must be true or false"));
  OPTS(fx, "--retry-unsafe");
  parse_ok(fx, "{\"url\": \"u\", \"method\": \"PATCH\"}", 1);
  assert_int_equal(fx->job.req.flags & PACER_REQ_RETRY_UNSAFE,
                   PACER_REQ_RETRY_UNSAFE);
}

/* --idempotency-keys: a key for each job whose method is not idempotent
 * and that names none, the same for the same id, method, URL and body
 * (whatever the line number), another when one of them differs. */
static void idempotency_keys(void **state)
{
  fixture_t *fx = *state;
  const char *post = "{\"id\": \"a\", \"url\": \"u\", \"method\": \"POST\", "
                     "\"body\": \"x\"}";
  parse_ok(fx, post, 1);
  assert_null(req_header(&fx->job.req, "Idempotency-Key")); /* not asked */
  OPTS(fx, "--idempotency-keys");
  parse_ok(fx, post, 1);
  const char *k = req_header(&fx->job.req, "Idempotency-Key");
  assert_non_null(k);
  assert_int_equal(strlen(k), 6 + 32);
  assert_memory_equal(k, "pacer-", 6);
  char first[64];
  snprintf(first, sizeof first, "%s", k);
  parse_ok(fx, post, 99); /* another line, the same job */
  assert_string_equal(req_header(&fx->job.req, "Idempotency-Key"), first);
  static const char *const others[] = {
      "{\"id\": \"b\", \"url\": \"u\", \"method\": \"POST\", \"body\": \"x\"}",
      "{\"id\": \"a\", \"url\": \"v\", \"method\": \"POST\", \"body\": \"x\"}",
      "{\"id\": \"a\", \"url\": \"u\", \"method\": \"PATCH\", \"body\": \"x\"}",
      "{\"id\": \"a\", \"url\": \"u\", \"method\": \"POST\", \"body\": \"y\"}",
      "{\"id\": \"a\", \"url\": \"u\", \"method\": \"POST\"}",
  };
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    parse_ok(fx, others[i], 1);
    k = req_header(&fx->job.req, "Idempotency-Key");
    assert_non_null(k);
    if (!strcmp(k, first))
      fail_msg("%s has the key of %s", others[i], post);
  }
  /* Idempotent methods need none; a job's own key is kept. */
  parse_ok(fx, "{\"url\": \"u\", \"method\": \"PUT\"}", 1);
  assert_null(req_header(&fx->job.req, "Idempotency-Key"));
  parse_ok(fx, "{\"url\": \"u\"}", 1);
  assert_null(req_header(&fx->job.req, "Idempotency-Key"));
  parse_ok(fx,
           "{\"url\": \"u\", \"method\": \"POST\", \"headers\": "
           "{\"idempotency-key\": \"mine\"}}",
           1);
  assert_int_equal(count_header_ci(&fx->job.req, "Idempotency-Key"), 1);
  assert_string_equal(req_header(&fx->job.req, "idempotency-key"), "mine");
  /* The key lives with the job's headers: a job moved by value keeps it. */
  parse_ok(fx, post, 1);
  cli_job_t moved = fx->job;
  memset(&fx->job, 0, sizeof fx->job);
  assert_string_equal(req_header(&moved.req, "Idempotency-Key"), first);
  cli_job_clear(&moved, 0);
}

static void default_deadline(void **state)
{
  fixture_t *fx = *state;
  OPTS(fx, "--deadline", "2500");
  parse_ok(fx, "{\"url\": \"u\"}", 1);
  assert_int_equal(fx->job.req.deadline_ms, 2500);
  parse_ok(fx, "{\"url\": \"u\", \"deadline_ms\": 100}", 2);
  assert_int_equal(fx->job.req.deadline_ms, 100);
  parse_ok(fx, "{\"url\": \"u\", \"deadline_ms\": 90000}", 3);
  assert_int_equal(fx->job.req.deadline_ms, 90000);
}

/* ---- bad lines ------------------------------------------------------------
 */

static void bad_lines(void **state)
{
  fixture_t *fx = *state;
  static const struct {
    const char *line, *want;
  } cases[] = {
      {"not json", "not JSON"},
      {"", "not JSON"},
      {"{\"url\": \"u\"", "not JSON"},
      {"[1, 2]", "not a JSON object"},
      {"\"http://h/\"", "not JSON"}, /* a bare string is not a document */
      {"{}", "url"},
      {"{\"url\": 5}", "url"},
      {"{\"url\": null}", "url"},
      {"{\"url\": \"u\", \"priority\": \"urgent\"}", "priority"},
      {"{\"url\": \"u\", \"priority\": 1}", "priority"},
      {"{\"url\": \"u\", \"extra\": 1}", "unknown key \"extra\""},
      {"{\"url\": \"u\", \"URL\": \"v\"}", "unknown key \"URL\""},
      {"{\"url\": \"u\", \"body\": \"a\", \"json\": {}}", "both"},
      {"{\"url\": \"u\", \"deadline_ms\": -1}", "deadline_ms"},
      {"{\"url\": \"u\", \"deadline_ms\": 1.5}", "deadline_ms"},
      {"{\"url\": \"u\", \"deadline_ms\": \"5\"}", "deadline_ms"},
      {"{\"url\": \"u\", \"timeout_ms\": 9223372036854775807}", "timeout_ms"},
      {"{\"url\": \"u\", \"timeout_ms\": -5}", "timeout_ms"},
      {"{\"url\": \"u\", \"max_attempts\": 1001}", "max_attempts"},
      {"{\"url\": \"u\", \"max_attempts\": -1}", "max_attempts"},
      {"{\"url\": \"u\", \"headers\": {\"A\": 1}}", "header \"A\""},
      {"{\"url\": \"u\", \"headers\": {\"A\": null}}", "header \"A\""},
      {"{\"url\": \"u\", \"headers\": [\"A: 1\"]}", "headers"},
      {"{\"url\": \"u\", \"method\": 1}", "method"},
      {"{\"url\": \"u\", \"key\": \"\"}", "key"},
      {"{\"url\": \"u\", \"key\": 3}", "key"},
      {"{\"url\": \"u\", \"body\": 5}", "body"},
      {"{\"url\": \"a\", \"url\": \"b\"}", "duplicate"},
      {"{\"url\": \"u\", \"headers\": {\"A\": \"1\", \"A\": \"2\"}}",
       "duplicate"},
      {"{\"id\": 1.5, \"url\": \"u\"}", "id"},
      {"{\"id\": [1], \"url\": \"u\"}", "id"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned long lineno = 100 + i;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "line %lu: ", lineno);
    if (parse(fx, cases[i].line, lineno) != -1)
      fail_msg("accepted: %s", cases[i].line);
    if (strncmp(fx->err, prefix, strlen(prefix)))
      fail_msg("%s: error '%s' does not start with '%s'", cases[i].line,
               fx->err, prefix);
    if (!strstr(fx->err, cases[i].want))
      fail_msg("%s: error '%s' lacks '%s'", cases[i].line, fx->err,
               cases[i].want);
    /* No usable id: the line number stands in for it. */
    assert_id_int(fx->job.id, (json_int_t)lineno);
  }
}

static void bad_line_keeps_its_id(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(parse(fx, "{\"id\": \"x\", \"url\": 5}", 8), -1);
  assert_true(json_is_string(fx->job.id));
  assert_string_equal(json_string_value(fx->job.id), "x");
  assert_int_equal(parse(fx, "{\"id\": 31, \"bogus\": 1}", 8), -1);
  assert_id_int(fx->job.id, 31);
  assert_non_null(strstr(fx->err, "line 8: "));
}

static void short_error_buffer(void **state)
{
  fixture_t *fx = *state;
  char small[6];
  memset(small, 'Z', sizeof small);
  cli_job_clear(&fx->job, 0);
  assert_int_equal(
      cli_job_parse(&fx->job, "{}", 2, 123456, &fx->o, small, sizeof small),
      -1);
  assert_int_equal(strlen(small), sizeof small - 1); /* cut, terminated */
  assert_memory_equal(small, "line ", 5);
}

/* ---- ownership -------------------------------------------------------------
 */

static void clear_ownership(void **state)
{
  fixture_t *fx = *state;
  OPTS(fx, "--header", "X-A: 1");

  /* take_id 0: everything is released, the id too (ASan would see a leak). */
  parse_ok(fx, "{\"id\": \"mine\", \"url\": \"u\", \"json\": {\"k\": 1}}", 1);
  cli_job_clear(&fx->job, 0);
  assert_null(fx->job.id);
  assert_null(fx->job.root);
  assert_null(fx->job.json_body);
  assert_null(fx->job.headers);

  /* take_id 1: the caller has taken the id; it outlives the parse. */
  parse_ok(fx, "{\"id\": \"mine\", \"url\": \"u\", \"json\": {\"k\": 1}}", 1);
  json_t *id = fx->job.id;
  cli_job_clear(&fx->job, 1);
  assert_null(fx->job.root);
  assert_true(json_is_string(id));
  assert_string_equal(json_string_value(id), "mine");
  json_decref(id);

  /* The same after an error, and for the line-number id. */
  assert_int_equal(parse(fx, "not json", 4), -1);
  id = fx->job.id;
  cli_job_clear(&fx->job, 1);
  assert_id_int(id, 4);
  json_decref(id);

  /* Clearing a cleared job is harmless. */
  cli_job_clear(&fx->job, 0);
  cli_job_clear(&fx->job, 0);

  /* The options' headers are borrowed, not copied: they survive the job. */
  parse_ok(fx, "{\"url\": \"u\"}", 1);
  assert_ptr_equal(fx->job.req.headers[0].name, fx->o.headers[0].name);
  cli_job_clear(&fx->job, 0);
  assert_string_equal(fx->o.headers[0].value, "1");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(full_line),          T(minimal_line_defaults),
      T(ids_kept),           T(json_body),
      T(body_with_escapes),  T(length_not_nul),
      T(option_headers),     T(default_deadline),
      T(bad_lines),          T(bad_line_keeps_its_id),
      T(short_error_buffer), T(clear_ownership),
      T(retry_unsafe),       T(idempotency_keys),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
