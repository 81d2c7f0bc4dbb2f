/* SPDX-License-Identifier: MIT */
/* test_resp.c - an attempt's response: header arena, header lines, bounded
 * body and the failure message. Run under ASan, a header pointer left behind
 * by a move of the arena shows up as a use after free. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "resp.h"
#include <stdio.h>
#include <string.h>

#define NOLIMIT SIZE_MAX

static int setup(void **state)
{
  static pacer__resp_t r;

  pacer__resp_init(&r);
  *state = &r;
  return 0;
}

static int teardown(void **state)
{
  pacer__resp_reset(*state);
  return 0;
}

static int line(pacer__resp_t *r, const char *s, size_t max)
{
  return pacer__resp_header_line(r, s, strlen(s), max);
}

/* ---- init, reset --------------------------------------------------------- */

static void init_is_empty(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->transport_code, 0);
  assert_string_equal(r->message, "");
  assert_int_equal(r->header_count, 0);
  assert_null(r->body);
  assert_int_equal(r->body_len, 0);
  assert_null(pacer__resp_header(r, "Content-Type"));
}

static void reset_frees_and_reuses(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "HTTP/1.1 200 OK\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "A: 1\r\n", NOLIMIT), 0);
  assert_int_equal(pacer__resp_append_body(r, "xyz", 3, NOLIMIT), 0);
  pacer__resp_fail(r, PACER_ETRANSPORT, 7, "boom");
  pacer__resp_reset(r);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->transport_code, 0);
  assert_string_equal(r->message, "");
  assert_int_equal(r->header_count, 0);
  assert_null(r->hmem);
  assert_null(r->body);
  /* usable again after reset; ASan reports a leak if reset forgot any */
  assert_int_equal(line(r, "B: 2\r\n", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "b"), "2");
}

/* ---- headers ------------------------------------------------------------- */

static void add_header_copies_and_trims(void **state)
{
  pacer__resp_t *r = *state;
  /* slices of a larger buffer: no NUL after name or value */
  const char raw[] = "Content-TypeXX \t text/html \t YY";

  assert_int_equal(pacer__resp_add_header(r, raw, 12, raw + 14, 15, NOLIMIT),
                   0);
  assert_int_equal(r->header_count, 1);
  assert_string_equal(r->headers[0].name, "Content-Type");
  assert_string_equal(r->headers[0].value, "text/html");
  assert_int_equal(pacer__resp_add_header(r, "X-Empty", 7, "  ", 2, NOLIMIT),
                   0);
  assert_string_equal(r->headers[1].value, "");
  assert_int_equal(pacer__resp_add_header(r, "X-Null", 6, NULL, 0, NOLIMIT), 0);
  assert_string_equal(r->headers[2].value, "");
  /* inner spaces stay */
  assert_int_equal(pacer__resp_add_header(r, "X-In", 4, " a  b ", 6, NOLIMIT),
                   0);
  assert_string_equal(pacer__resp_header(r, "x-in"), "a  b");
}

static void header_lookup_last_wins(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "Set-Cookie: a=1\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "Retry-After: 5\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "set-cookie: b=2\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "RETRY-AFTER: 9\r\n", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "Set-Cookie"), "b=2");
  assert_string_equal(pacer__resp_header(r, "retry-after"), "9");
  assert_string_equal(pacer__resp_header(r, "Retry-After"), "9");
  assert_null(pacer__resp_header(r, "Retry"));
  assert_null(pacer__resp_header(r, "Retry-After-"));
  assert_null(pacer__resp_header(r, NULL));
  assert_null(pacer__resp_header(NULL, "Retry-After"));
  /* order is kept */
  assert_int_equal(r->header_count, 4);
  assert_string_equal(r->headers[0].value, "a=1");
  assert_string_equal(r->headers[3].value, "9");
}

static void header_pointers_survive_growth(void **state)
{
  enum { N = 2000 };
  pacer__resp_t *r = *state;
  const pacer_header_t *first_array = NULL;
  const char *first_arena = NULL;
  int moves_array = 0, moves_arena = 0;
  char name[32], value[128];
  int i;

  for (i = 0; i < N; i++) {
    int n = snprintf(name, sizeof name, "X-H%d", i);
    int v = snprintf(value, sizeof value, "  value-%d-%0*d  ", i, i % 90, 0);

    assert_int_equal(
        pacer__resp_add_header(r, name, (size_t)n, value, (size_t)v, NOLIMIT),
        0);
    if (r->headers != first_array) {
      moves_array++;
      first_array = r->headers;
    }
    if (r->hmem != first_arena) {
      moves_arena++;
      first_arena = r->hmem;
    }
    /* the very first header must follow every move */
    assert_string_equal(r->headers[0].name, "X-H0");
  }
  /* Both buffers grew several times (realloc may or may not move them; the
   * checks below hold either way, and under ASan they always move). */
  assert_true(moves_array >= 1 && moves_arena >= 1);
  assert_true(r->header_cap >= 16 * 64 && r->hmem_cap >= 16 * 1024);
  assert_int_equal(r->header_count, N);
  for (i = 0; i < N; i++) {
    char want[128];

    snprintf(name, sizeof name, "X-H%d", i);
    snprintf(want, sizeof want, "value-%d-%0*d", i, i % 90, 0);
    assert_string_equal(r->headers[i].name, name);
    assert_string_equal(r->headers[i].value, want);
    assert_true(r->headers[i].name >= r->hmem &&
                r->headers[i].value < r->hmem + r->hmem_len);
  }
  assert_string_equal(pacer__resp_header(r, "x-h1999"),
                      r->headers[N - 1].value);
}

static void header_limit_exact(void **state)
{
  pacer__resp_t *r = *state;
  const char *v0;

  /* "A: 12" costs 1 + 2 + 4 = 7; "BB: 3" costs 2 + 1 + 4 = 7 */
  assert_int_equal(pacer__resp_add_header(r, "A", 1, "12", 2, 14), 0);
  assert_int_equal(pacer__resp_add_header(r, "BB", 2, " 3 ", 3, 14), 0);
  v0 = r->headers[0].value;
  /* one byte more than allowed: refused, nothing changed */
  assert_int_equal(pacer__resp_add_header(r, "C", 1, "", 0, 17),
                   PACER_ETOOLARGE);
  assert_int_equal(r->header_count, 2);
  assert_ptr_equal(r->headers[0].value, v0);
  assert_null(pacer__resp_header(r, "C"));
  /* exactly at the limit: accepted */
  assert_int_equal(pacer__resp_add_header(r, "C", 1, "", 0, 19), 0);
  assert_int_equal(r->header_count, 3);
  /* a single header larger than the whole limit */
  assert_int_equal(pacer__resp_add_header(r, "D", 1, "x", 1, 5),
                   PACER_ETOOLARGE);
  /* a size near SIZE_MAX does not wrap around (the name is never read) */
  assert_int_equal(
      pacer__resp_add_header(r, "E", SIZE_MAX - 2, "x", 1, NOLIMIT),
      PACER_ETOOLARGE);
  assert_int_equal(r->header_count, 3);
}

static void header_limit_through_lines(void **state)
{
  pacer__resp_t *r = *state;

  /* "Name: value" costs 4 + 5 + 4 = 13, whatever the CRLF and spaces */
  assert_int_equal(line(r, "Name:   value  \r\n", 13), 0);
  assert_int_equal(line(r, "Name: value\r\n", 25), PACER_ETOOLARGE);
  assert_int_equal(line(r, "Name: value\r\n", 26), 0);
  assert_int_equal(r->header_count, 2);
}

static void header_line_status(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "HTTP/1.1 200 OK\r\n", NOLIMIT), 0);
  assert_int_equal(r->status, 200);
  assert_int_equal(line(r, "Location: /next\r\n", NOLIMIT), 0);
  assert_int_equal(r->header_count, 1);
  /* the next response (a redirect's target) starts over */
  assert_int_equal(line(r, "HTTP/2 404\r\n", NOLIMIT), 0);
  assert_int_equal(r->status, 404);
  assert_int_equal(r->header_count, 0);
  assert_null(pacer__resp_header(r, "Location"));
  assert_int_equal(line(r, "HTTP/1.0 503 Service Unavailable\r\n", NOLIMIT), 0);
  assert_int_equal(r->status, 503);
  assert_int_equal(line(r, "HTTP/1.1 100 Continue\n", NOLIMIT), 0);
  assert_int_equal(r->status, 100);
  assert_int_equal(line(r, "HTTP/3 204", NOLIMIT), 0);
  assert_int_equal(r->status, 204);
}

static void header_line_bad_status_ignored(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "HTTP/1.1 201 Created\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "A: 1\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "HTTP/1.1 abc\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "HTTP/1.1 2000\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "HTTP/1.1 20\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "HTTP/1.1\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "HTTP/\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "http/1.1 500 lower\r\n", NOLIMIT), 0);
  assert_int_equal(r->status, 201);
  assert_int_equal(r->header_count, 1);
  assert_string_equal(pacer__resp_header(r, "A"), "1");
}

static void header_line_fields(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "Content-Type:   text/plain \t\r\n", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "content-type"), "text/plain");
  assert_int_equal(line(r, "X-Bare-LF: v\n", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "X-Bare-LF"), "v");
  assert_int_equal(line(r, "X-No-CRLF:v", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "X-No-CRLF"), "v");
  /* only the first colon splits */
  assert_int_equal(line(r, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", NOLIMIT),
                   0);
  assert_string_equal(pacer__resp_header(r, "Date"),
                      "Sun, 06 Nov 1994 08:49:37 GMT");
  assert_int_equal(line(r, "X-Empty:\r\n", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "X-Empty"), "");
  /* a space before the colon is dropped so the name is still found */
  assert_int_equal(line(r, "X-Sp \t: 1\r\n", NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "X-Sp"), "1");
  assert_int_equal(r->header_count, 6);
  /* a len shorter than the string: only len bytes count */
  assert_int_equal(pacer__resp_header_line(r, "X-Cut: abcdef", 9, NOLIMIT), 0);
  assert_string_equal(pacer__resp_header(r, "X-Cut"), "ab");
}

static void header_line_ignored(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "\n", NOLIMIT), 0);
  assert_int_equal(line(r, "", NOLIMIT), 0);
  assert_int_equal(pacer__resp_header_line(r, NULL, 0, NOLIMIT), 0);
  assert_int_equal(line(r, "no colon here\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, ": empty name\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "  : spaces only\r\n", NOLIMIT), 0);
  /* a continuation with nothing to continue */
  assert_int_equal(line(r, " orphan: x\r\n", NOLIMIT), 0);
  assert_int_equal(r->header_count, 0);
  assert_int_equal(r->status, 0);
  /* ignored lines cost nothing, even at a limit of 0 */
  assert_int_equal(line(r, "\r\n", 0), 0);
  assert_int_equal(line(r, "junk\r\n", 0), 0);
}

static void header_line_obs_fold(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "X-Long: first\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, " \t second part \r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "\tthird: x\r\n", NOLIMIT), 0);
  assert_int_equal(r->header_count, 1);
  assert_string_equal(pacer__resp_header(r, "X-Long"),
                      "first second part third: x");
  /* the fold counts as one byte: 6 + 26 + 4 = 36 */
  assert_int_equal(line(r, "Y: 1\r\n", 36 + 6), 0);
  assert_int_equal(line(r, " 2\r\n", 36 + 7), PACER_ETOOLARGE);
  assert_string_equal(pacer__resp_header(r, "Y"), "1");
  assert_int_equal(line(r, " 2\r\n", 36 + 8), 0);
  assert_string_equal(pacer__resp_header(r, "Y"), "1 2");
  /* earlier headers are untouched */
  assert_string_equal(r->headers[0].value, "first second part third: x");
}

static void clear_headers_keeps_the_rest(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(line(r, "HTTP/1.1 302 Found\r\n", NOLIMIT), 0);
  assert_int_equal(line(r, "Location: /a\r\n", NOLIMIT), 0);
  assert_int_equal(pacer__resp_append_body(r, "moved", 5, NOLIMIT), 0);
  pacer__resp_clear_headers(r);
  assert_int_equal(r->header_count, 0);
  assert_null(pacer__resp_header(r, "Location"));
  assert_int_equal(r->status, 302);
  assert_string_equal(r->body, "moved");
  /* the limit starts afresh with the next response's headers */
  assert_int_equal(line(r, "Location: /b\r\n", 2 + 8 + 4), 0);
  assert_string_equal(pacer__resp_header(r, "location"), "/b");
}

/* ---- body ---------------------------------------------------------------- */

static void body_appends_and_terminates(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(pacer__resp_append_body(r, NULL, 0, NOLIMIT), 0);
  assert_null(r->body); /* NULL until a byte arrives */
  assert_int_equal(pacer__resp_append_body(r, "hello", 5, NOLIMIT), 0);
  assert_int_equal(r->body_len, 5);
  assert_string_equal(r->body, "hello");
  assert_int_equal(pacer__resp_append_body(r, ", \0world", 8, NOLIMIT), 0);
  assert_int_equal(r->body_len, 13);
  assert_memory_equal(r->body, "hello, \0world", 14);
  assert_int_equal(r->body[13], '\0');
}

static void body_limit_exact(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(pacer__resp_append_body(r, "12345", 5, 10), 0);
  /* exactly at the limit */
  assert_int_equal(pacer__resp_append_body(r, "67890", 5, 10), 0);
  assert_int_equal(r->body_len, 10);
  /* one byte over: refused, nothing appended */
  assert_int_equal(pacer__resp_append_body(r, "X", 1, 10), PACER_ETOOLARGE);
  assert_int_equal(r->body_len, 10);
  assert_string_equal(r->body, "1234567890");
  /* an empty append at the limit is fine */
  assert_int_equal(pacer__resp_append_body(r, "", 0, 10), 0);
  /* a chunk that would pass the limit is refused whole */
  pacer__resp_reset(r);
  assert_int_equal(pacer__resp_append_body(r, "1234", 4, 10), 0);
  assert_int_equal(pacer__resp_append_body(r, "1234567", 7, 10),
                   PACER_ETOOLARGE);
  assert_int_equal(r->body_len, 4);
  assert_string_equal(r->body, "1234");
  assert_int_equal(pacer__resp_append_body(r, "123456", 6, 10), 0);
  assert_string_equal(r->body, "1234123456");
}

static void body_limit_first_chunk(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(pacer__resp_append_body(r, "abc", 3, 2), PACER_ETOOLARGE);
  assert_null(r->body);
  assert_int_equal(r->body_len, 0);
  assert_int_equal(pacer__resp_append_body(r, "a", 1, 0), PACER_ETOOLARGE);
  /* a length near SIZE_MAX is refused by the limit, not wrapped */
  assert_int_equal(pacer__resp_append_body(r, "a", SIZE_MAX, SIZE_MAX - 1),
                   PACER_ETOOLARGE);
  assert_int_equal(pacer__resp_append_body(r, "ab", 2, 2), 0);
  assert_string_equal(r->body, "ab");
}

static void body_grows(void **state)
{
  enum { CHUNKS = 5000 };
  pacer__resp_t *r = *state;
  char chunk[37];
  size_t i;
  int j;

  for (j = 0; j < CHUNKS; j++) {
    memset(chunk, 'a' + j % 26, sizeof chunk);
    assert_int_equal(pacer__resp_append_body(r, chunk, sizeof chunk, NOLIMIT),
                     0);
  }
  assert_int_equal(r->body_len, (size_t)CHUNKS * sizeof chunk);
  assert_true(r->body_cap > r->body_len);
  for (i = 0; i < r->body_len; i++)
    assert_int_equal(r->body[i], 'a' + (int)(i / sizeof chunk) % 26);
  assert_int_equal(r->body[r->body_len], '\0');
}

static void bad_arguments(void **state)
{
  pacer__resp_t *r = *state;

  assert_int_equal(pacer__resp_append_body(r, NULL, 1, NOLIMIT), PACER_EINVAL);
  assert_int_equal(pacer__resp_append_body(NULL, "a", 1, NOLIMIT),
                   PACER_EINVAL);
  assert_int_equal(pacer__resp_add_header(r, NULL, 1, "v", 1, NOLIMIT),
                   PACER_EINVAL);
  assert_int_equal(pacer__resp_add_header(r, "n", 1, NULL, 1, NOLIMIT),
                   PACER_EINVAL);
  assert_int_equal(pacer__resp_header_line(r, NULL, 3, NOLIMIT), PACER_EINVAL);
  assert_int_equal(r->header_count, 0);
  assert_null(r->body);
}

/* ---- failure ------------------------------------------------------------- */

static void fail_formats(void **state)
{
  pacer__resp_t *r = *state;

  pacer__resp_fail(r, PACER_ETIMEDOUT, 28, "timed out after %d ms on %s", 1500,
                   "example.com");
  assert_int_equal(r->error, PACER_ETIMEDOUT);
  assert_int_equal(r->transport_code, 28);
  assert_string_equal(r->message, "timed out after 1500 ms on example.com");
  /* a later failure replaces the earlier one */
  pacer__resp_fail(r, PACER_ETOOLARGE, 0, "%s", "");
  assert_int_equal(r->error, PACER_ETOOLARGE);
  assert_int_equal(r->transport_code, 0);
  assert_string_equal(r->message, "");
}

static void fail_truncates(void **state)
{
  pacer__resp_t *r = *state;
  char big[1000];
  size_t cap = sizeof r->message;

  memset(big, 'm', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  pacer__resp_fail(r, PACER_ETRANSPORT, 7, "%s!", big);
  assert_int_equal(strlen(r->message), cap - 1);
  assert_int_equal(r->message[0], 'm');
  assert_int_equal(r->message[cap - 2], 'm');
  assert_int_equal(r->message[cap - 1], '\0');
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(init_is_empty),
      T(reset_frees_and_reuses),
      T(add_header_copies_and_trims),
      T(header_lookup_last_wins),
      T(header_pointers_survive_growth),
      T(header_limit_exact),
      T(header_limit_through_lines),
      T(header_line_status),
      T(header_line_bad_status_ignored),
      T(header_line_fields),
      T(header_line_ignored),
      T(header_line_obs_fold),
      T(clear_headers_keeps_the_rest),
      T(body_appends_and_terminates),
      T(body_limit_exact),
      T(body_limit_first_chunk),
      T(body_grows),
      T(bad_arguments),
      T(fail_formats),
      T(fail_truncates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
