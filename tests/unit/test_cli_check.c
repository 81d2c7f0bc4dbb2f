/* SPDX-License-Identifier: MIT */
/* test_cli_check.c - pacer check's parts (check.c) and the library's
 * pacer_request_check() they rest on: lines judged as send judges them,
 * counts per priority and key, the estimate's bounds, the report. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

static void request_check(void **state)
{
  (void)state;
  pacer_request_t r;
  char key[256];
  pacer_request_init(&r);
  r.url = "https://API.Example.test:8443/x";
  assert_int_equal(pacer_request_check(&r, key, sizeof key), 0);
  assert_string_equal(key, "api.example.test");
  r.key = "mine";
  assert_int_equal(pacer_request_check(&r, key, sizeof key), 0);
  assert_string_equal(key, "mine");
  assert_int_equal(pacer_request_check(&r, NULL, 0), 0);
  r.url = "ftp://h/";
  assert_int_equal(pacer_request_check(&r, key, sizeof key), PACER_ESCHEME);
  r.url = "http://h/";
  r.method = "GE T";
  assert_int_equal(pacer_request_check(&r, key, sizeof key), PACER_EMETHOD);
  r.method = NULL;
  pacer_header_t h = {"Host", "x"};
  r.headers = &h;
  r.header_count = 1;
  assert_int_equal(pacer_request_check(&r, key, sizeof key), PACER_EHEADER);
  r.header_count = 0;
  r.max_attempts = 1001;
  assert_int_equal(pacer_request_check(&r, key, sizeof key), PACER_EINVAL);
  assert_int_equal(pacer_request_check(NULL, key, sizeof key), PACER_EINVAL);
}

typedef struct fx {
  cli_opts_t o;
  cli_check_t c;
  char err[512];
} fx_t;

static int setup(void **state)
{
  fx_t *fx = calloc(1, sizeof *fx);
  cli_opts_init(&fx->o);
  fx->o.input = "-";
  cli_check_init(&fx->c);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  fx_t *fx = *state;
  cli_check_free(&fx->c);
  cli_opts_free(&fx->o);
  free(fx);
  return 0;
}

static int job(fx_t *fx, const char *line, unsigned long n)
{
  return cli_check_job(&fx->c, line, strlen(line), n, &fx->o, fx->err,
                       sizeof fx->err);
}

static void judged_as_send(void **state)
{
  fx_t *fx = *state;
  assert_int_equal(job(fx, "{\"url\": \"http://a.test/1\"}", 1), 0);
  assert_int_equal(
      job(fx, "{\"url\": \"http://a.test/2\", \"priority\": \"high\"}", 2), 0);
  assert_int_equal(job(fx, "{\"url\": \"http://b/\", \"key\": \"k\"}", 3), 0);
  assert_int_equal(job(fx, "{\"url\": \"http://a.test/\", \"x\": 1}", 4), -1);
  assert_string_equal(fx->err, "line 4: unknown key \"x\"");
  assert_int_equal(job(fx, "{\"url\": \"gopher://a/\"}", 5), -1);
  assert_string_equal(fx->err, "line 5: URL scheme not allowed");
  assert_int_equal(
      job(fx, "{\"url\": \"http://a/\", \"headers\": {\"X\": \"a\\u0001\"}}",
          6),
      -1);
  assert_string_equal(
      fx->err,
      "line 6: invalid header: \"X\" has a control character in its value");
  assert_int_equal(fx->c.jobs, 3);
  assert_int_equal(fx->c.by_prio[1], 1);
  assert_int_equal(fx->c.by_prio[0], 2);
  assert_int_equal(fx->c.nkeys, 2);
}

static void estimate_bounds(void **state)
{
  fx_t *fx = *state;
  char line[128];
  for (int i = 0; i < 100; i++) {
    snprintf(line, sizeof line, "{\"url\": \"http://h/%d\", \"key\": \"%s\"}",
             i, i < 80 ? "big" : "small");
    assert_int_equal(job(fx, line, (unsigned long)i + 1), 0);
  }
  cli_estimate_t e;
  fx->o.cfg.rate = 10;
  cli_check_estimate(&fx->c, &fx->o, &e);
  assert_true(e.rate_s == 10.0);
  assert_string_equal(e.slowest, "rate");
  fx->o.cfg.key_rate = 4; /* 80 jobs of "big" at 4/s */
  cli_check_estimate(&fx->c, &fx->o, &e);
  assert_true(e.key_rate_s == 20.0 && e.total_s == 20.0);
  assert_string_equal(e.slowest, "per-key-rate");
  fx->o.cfg.concurrency = 1; /* 100 x 1 s */
  fx->o.assume_latency_ms = 1000;
  cli_check_estimate(&fx->c, &fx->o, &e);
  assert_true(e.concurrency_s == 100.0 && e.total_s == 100.0);
  assert_string_equal(e.slowest, "concurrency");
}

static void whole_input_and_report(void **state)
{
  fx_t *fx = *state;
  char path[] = "/tmp/test_cli_check_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  const char in[] = "{\"url\": \"http://h/1\"}\n"
                    "\n"
                    "garbage\n"
                    "{\"url\": \"http://h/2\", \"priority\": \"high\"}\r\n"
                    "{\"url\": \"http://h/3\", \"method\": \"\"}";
  assert_int_equal(write(fd, in, strlen(in)), (ssize_t)strlen(in));
  lseek(fd, 0, SEEK_SET);
  char *text = NULL;
  size_t tlen = 0;
  FILE *bad = open_memstream(&text, &tlen);
  fx->c.bad_out = bad;
  fx->c.keep_errors = 1;
  assert_int_equal(cli_check_fd(&fx->c, fd, &fx->o, fx->err, 512), 0);
  close(fd);
  fclose(bad);
  assert_int_equal(fx->c.lines, 5);
  assert_int_equal(fx->c.jobs, 2);
  assert_int_equal(fx->c.bad, 2);
  assert_non_null(strstr(text, "line 3: not JSON"));
  assert_non_null(strstr(text, "line 5: "));
  free(text);
  FILE *f = open_memstream(&text, &tlen);
  fx->o.cfg.rate = 2;
  cli_check_report(f, &fx->c, &fx->o, 1);
  fclose(f);
  json_t *r = json_loads(text, 0, NULL);
  assert_non_null(r);
  assert_int_equal(json_integer_value(json_object_get(r, "bad")), 2);
  assert_int_equal(json_array_size(json_object_get(r, "errors")), 2);
  assert_int_equal(
      json_integer_value(json_object_get(
          json_array_get(json_object_get(r, "errors"), 1), "line")),
      5);
  assert_int_equal(json_integer_value(
                       json_object_get(json_object_get(r, "priority"), "high")),
                   1);
  json_t *est = json_object_get(r, "estimate");
  assert_true(json_real_value(json_object_get(est, "seconds")) == 1.0);
  assert_string_equal(json_string_value(json_object_get(est, "slowest")),
                      "rate");
  json_decref(r);
  free(text);
  f = open_memstream(&text, &tlen);
  cli_check_report(f, &fx->c, &fx->o, 0);
  fclose(f);
  assert_non_null(strstr(text, "5 lines: 2 jobs, 2 bad\n"));
  assert_non_null(strstr(text, "by priority: high 1, low 1\n"));
  assert_non_null(strstr(text, "  --rate 2/s: 1.0 s\n"));
  free(text);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(request_check),
      T(judged_as_send),
      T(estimate_bounds),
      T(whole_input_and_report),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
