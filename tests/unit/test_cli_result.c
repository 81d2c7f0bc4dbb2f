/* SPDX-License-Identifier: MIT */
/* test_cli_result.c - result lines, base64, the outcome tally and the
 * summary (result.c).
 *
 * Result lines are parsed back with jansson and checked field by field; the
 * order of the fields is checked on the text itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- helpers ------------------------------------------------------------ */

/* A finished job as the library would report it. */
static pacer_result_t result(int status, int error, const char *message)
{
  pacer_result_t r;
  memset(&r, 0, sizeof r);
  r.id = 1;
  r.status = status;
  r.error = error;
  r.message = message;
  r.attempts = 1;
  r.url = "http://127.0.0.1/";
  r.key = "127.0.0.1";
  return r;
}

/* Renders a result line and parses it back; *text gets the line. */
static json_t *render(json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *msg,
                      int with_body, char **text)
{
  char *line = cli_result_line(id, lineno, res, code, msg, with_body);
  assert_non_null(line);
  assert_null(strchr(line, '\n'));
  json_error_t je;
  json_t *o = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  if (!o)
    fail_msg("not JSON: %s: %s", line, je.text);
  assert_true(json_is_object(o));
  if (text)
    *text = line;
  else
    free(line);
  return o;
}

static void assert_number(json_t *o, const char *key, double want)
{
  json_t *v = json_object_get(o, key);
  if (!v || !json_is_number(v))
    fail_msg("\"%s\" is not a number", key);
  if (fabs(json_number_value(v) - want) > 1e-9)
    fail_msg("\"%s\": %.17g != %.17g", key, json_number_value(v), want);
}

static void assert_str(json_t *o, const char *key, const char *want)
{
  json_t *v = json_object_get(o, key);
  if (!v || !json_is_string(v))
    fail_msg("\"%s\" is not a string", key);
  assert_string_equal(json_string_value(v), want);
}

/* Standard base64 decoding, for round trips; returns the byte count or -1. */
static long unbase64(const char *s, unsigned char *out, size_t cap)
{
  size_t n = strlen(s), o = 0;
  if (n % 4)
    return -1;
  for (size_t i = 0; i < n; i += 4) {
    unsigned v = 0;
    int pad = 0;
    for (int j = 0; j < 4; j++) {
      char c = s[i + j];
      const char *tab =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      const char *p = c ? strchr(tab, c) : NULL;
      if (c == '=' && i + 4 == n && j >= 2) {
        pad++;
        v <<= 6;
        continue;
      }
      if (!p || pad)
        return -1;
      v = v << 6 | (unsigned)(p - tab);
    }
    for (int j = 0; j < 3 - pad; j++) {
      if (o >= cap)
        return -1;
      out[o++] = (unsigned char)(v >> (16 - 8 * j));
    }
  }
  return (long)o;
}

/* ---- result lines -------------------------------------------------------- */

static void success_line(void **state)
{
  (void)state;
  pacer_result_t r = result(200, 0, "");
  r.attempts = 2;
  r.queue_us = 1500;
  r.transfer_us = 2250;
  r.total_us = 3750;
  json_t *id = json_string("job-a");
  char *text;
  json_t *o = render(id, 3, &r, 0, NULL, 0, &text);

  assert_str(o, "id", "job-a");
  assert_number(o, "line", 3);
  assert_true(json_is_integer(json_object_get(o, "line")));
  assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
  assert_true(json_is_null(json_object_get(o, "error")));
  assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 2);
  assert_number(o, "queue_ms", 1.5);
  assert_number(o, "transfer_ms", 2.25);
  assert_number(o, "total_ms", 3.75);
  assert_true(json_is_true(json_object_get(o, "ok")));
  assert_int_equal(json_object_size(o), 9);
  assert_null(json_object_get(o, "body"));
  assert_null(json_object_get(o, "headers"));

  /* The fields come in this order. */
  static const char *const order[] = {
      "\"id\":",       "\"line\":",        "\"status\":",
      "\"error\":",    "\"ok\":",          "\"attempts\":",
      "\"queue_ms\":", "\"transfer_ms\":", "\"total_ms\":"};
  const char *prev = text;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const char *at = strstr(text, order[i]);
    if (!at || at < prev)
      fail_msg("%s out of order in %s", order[i], text);
    prev = at;
  }
  assert_memory_equal(text, "{\"id\":\"job-a\",\"line\":3,", 23);

  /* The id is borrowed: still ours, refcount unchanged. */
  assert_int_equal(id->refcount, 1);
  json_decref(id);
  json_decref(o);
  free(text);
}

/* "ok": a response with a 2xx or 3xx, or a status --ok-status lists;
 * never an error or a job never accepted. "not_retried" only when the
 * library said so. */
static void ok_and_not_retried(void **state)
{
  (void)state;
  static const struct {
    int status, error;
    unsigned flags;
    int ok;
  } cases[] = {
      {200, 0, 0, 1},
      {204, 0, 0, 1},
      {302, 0, 0, 1},
      {399, 0, 0, 1},
      {404, 0, 0, 0},
      {404, 0, CLI_RESULT_OK_STATUS, 1},
      {503, 0, 0, 0},
      {503, PACER_ERETRIES, 0, 0},
      {200, PACER_ETOOLARGE, CLI_RESULT_OK_STATUS, 0},
      {0, PACER_ETRANSPORT, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pacer_result_t r = result(cases[i].status, cases[i].error, "");
    json_t *o = render(NULL, 1, &r, 0, NULL, cases[i].flags, NULL);
    assert_int_equal(json_is_true(json_object_get(o, "ok")), cases[i].ok);
    assert_true(json_is_boolean(json_object_get(o, "ok")));
    assert_null(json_object_get(o, "not_retried"));
    json_decref(o);
  }
  json_t *o = render(NULL, 1, NULL, PACER_EINVAL, "bad", 0, NULL);
  assert_true(json_is_false(json_object_get(o, "ok")));
  json_decref(o);
  pacer_result_t r = result(503, 0, "");
  r.not_retried = PACER_NOT_RETRIED_UNSAFE;
  o = render(NULL, 1, &r, 0, NULL, 0, NULL);
  assert_true(json_is_false(json_object_get(o, "ok")));
  assert_str(o, "not_retried", "unsafe method");
  json_decref(o);
}

static void integer_id_and_big_times(void **state)
{
  (void)state;
  pacer_result_t r = result(204, 0, "");
  r.queue_us = INT64_C(86400000000); /* a day */
  r.total_us = 1;
  json_t *id = json_integer(77);
  json_t *o = render(id, 77, &r, 0, NULL, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(o, "id")), 77);
  assert_number(o, "queue_ms", 86400000.0);
  assert_number(o, "transfer_ms", 0);
  assert_number(o, "total_ms", 0.001);
  json_decref(id);
  json_decref(o);
}

static void error_line(void **state)
{
  (void)state;
  pacer_result_t r =
      result(0, PACER_ETIMEDOUT, "Operation timed out after 100 ms");
  r.attempts = 3;
  json_t *id = json_string("t");
  json_t *o = render(id, 5, &r, 0, NULL, 0, NULL);
  assert_true(json_is_null(json_object_get(o, "status")));
  json_t *e = json_object_get(o, "error");
  assert_true(json_is_object(e));
  assert_str(e, "code", "PACER_ETIMEDOUT");
  assert_str(e, "message", "Operation timed out after 100 ms");
  assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 3);
  json_decref(o);

  /* An empty message falls back to the code's text. */
  r = result(0, PACER_ETRANSPORT, "");
  o = render(id, 5, &r, 0, NULL, 0, NULL);
  e = json_object_get(o, "error");
  assert_str(e, "code", "PACER_ETRANSPORT");
  assert_str(e, "message", pacer_strerror(PACER_ETRANSPORT));
  json_decref(o);

  /* A message that is not UTF-8 cannot go into JSON: the code's text. */
  r = result(0, PACER_ETLS, "bad \xff\xfe cert");
  o = render(id, 5, &r, 0, NULL, 0, NULL);
  assert_str(json_object_get(o, "error"), "message",
             pacer_strerror(PACER_ETLS));
  json_decref(o);

  /* Retries exhausted on a 503: both the status and the error. */
  r = result(503, PACER_ERETRIES, "HTTP 503");
  o = render(id, 5, &r, 0, NULL, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(o, "status")), 503);
  assert_str(json_object_get(o, "error"), "code", "PACER_ERETRIES");
  assert_str(json_object_get(o, "error"), "message", "HTTP 503");
  json_decref(o);

  /* A code outside the list still renders. */
  r = result(0, -999, "odd");
  o = render(id, 5, &r, 0, NULL, 0, NULL);
  assert_str(json_object_get(o, "error"), "code", "PACER_EUNKNOWN");
  json_decref(o);
  json_decref(id);
}

static void never_accepted(void **state)
{
  (void)state;
  json_t *id = json_integer(9);
  char *text;
  json_t *o = render(id, 9, NULL, PACER_EINVAL, "line 9: no \"url\"", 1, &text);
  assert_int_equal(json_integer_value(json_object_get(o, "id")), 9);
  assert_int_equal(json_integer_value(json_object_get(o, "line")), 9);
  assert_true(json_is_null(json_object_get(o, "status")));
  assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 0);
  assert_number(o, "queue_ms", 0);
  assert_number(o, "transfer_ms", 0);
  assert_number(o, "total_ms", 0);
  json_t *e = json_object_get(o, "error");
  assert_str(e, "code", "PACER_EINVAL");
  assert_str(e, "message", "line 9: no \"url\"");
  /* with_body has nothing to show. */
  assert_null(json_object_get(o, "body"));
  assert_null(json_object_get(o, "body_base64"));
  assert_null(json_object_get(o, "headers"));
  assert_int_equal(json_object_size(o), 9);
  json_decref(o);
  free(text);

  /* No message: the code's text. No id: null. */
  o = render(NULL, 2, NULL, PACER_ESHUTDOWN, NULL, 0, NULL);
  assert_true(json_is_null(json_object_get(o, "id")));
  assert_str(json_object_get(o, "error"), "code", "PACER_ESHUTDOWN");
  assert_str(json_object_get(o, "error"), "message",
             pacer_strerror(PACER_ESHUTDOWN));
  json_decref(o);
  json_decref(id);
}

static void body_utf8_and_headers(void **state)
{
  (void)state;
  static const pacer_header_t hs[] = {
      {"Content-Type", "text/plain; charset=utf-8"},
      {"Set-Cookie", "a=1"},
      {"X-Three", "1"},
      {"Set-Cookie", "b=2"},
      {"X-Three", "2"},
      {"X-Three", "3"},
      {"X-Latin1", "caf\xe9"}, /* not UTF-8: an empty string */
  };
  const char body[] = "h\xc3\xa9llo\n\"w\"";
  pacer_result_t r = result(200, 0, "");
  r.headers = hs;
  r.header_count = sizeof hs / sizeof hs[0];
  r.body = body;
  r.body_len = sizeof body - 1;
  json_t *id = json_string("b");

  /* Without with_body: none of it. */
  json_t *o = render(id, 1, &r, 0, NULL, 0, NULL);
  assert_null(json_object_get(o, "headers"));
  assert_null(json_object_get(o, "body"));
  json_decref(o);

  o = render(id, 1, &r, 0, NULL, 1, NULL);
  json_t *b = json_object_get(o, "body");
  assert_true(json_is_string(b));
  assert_int_equal(json_string_length(b), sizeof body - 1);
  assert_memory_equal(json_string_value(b), body, sizeof body - 1);
  assert_null(json_object_get(o, "body_base64"));

  json_t *h = json_object_get(o, "headers");
  assert_true(json_is_object(h));
  assert_int_equal(json_object_size(h), 4);
  assert_str(h, "X-Latin1", "");
  assert_str(h, "Content-Type", "text/plain; charset=utf-8");
  json_t *sc = json_object_get(h, "Set-Cookie");
  assert_true(json_is_array(sc));
  assert_int_equal(json_array_size(sc), 2);
  assert_string_equal(json_string_value(json_array_get(sc, 0)), "a=1");
  assert_string_equal(json_string_value(json_array_get(sc, 1)), "b=2");
  json_t *x3 = json_object_get(h, "X-Three");
  assert_true(json_is_array(x3));
  assert_int_equal(json_array_size(x3), 3);
  for (size_t i = 0; i < 3; i++) {
    char want[2] = {(char)('1' + i), 0};
    assert_string_equal(json_string_value(json_array_get(x3, i)), want);
  }
  json_decref(o);

  /* A body with a NUL byte is still UTF-8 text. */
  const char nul[] = {'a', 0, 'b'};
  r.body = nul;
  r.body_len = 3;
  r.header_count = 0;
  o = render(id, 1, &r, 0, NULL, 1, NULL);
  b = json_object_get(o, "body");
  assert_true(json_is_string(b));
  assert_int_equal(json_string_length(b), 3);
  assert_memory_equal(json_string_value(b), nul, 3);
  json_decref(o);

  /* An empty 204: an empty body and no headers. */
  r = result(204, 0, "");
  o = render(id, 1, &r, 0, NULL, 1, NULL);
  assert_str(o, "body", "");
  assert_true(json_is_object(json_object_get(o, "headers")));
  assert_int_equal(json_object_size(json_object_get(o, "headers")), 0);
  json_decref(o);

  /* A transport error with no response: nothing to show. */
  r = result(0, PACER_ETRANSPORT, "refused");
  o = render(id, 1, &r, 0, NULL, 1, NULL);
  assert_null(json_object_get(o, "body"));
  assert_null(json_object_get(o, "headers"));
  json_decref(o);
  json_decref(id);
}

static void body_binary(void **state)
{
  (void)state;
  const unsigned char bytes[] = {0xff, 0x00, 0x80, 'a'};
  pacer_result_t r = result(200, 0, "");
  r.body = bytes;
  r.body_len = sizeof bytes;
  json_t *o = render(NULL, 1, &r, 0, NULL, 1, NULL);
  assert_null(json_object_get(o, "body"));
  assert_str(o, "body_base64", "/wCAYQ==");
  unsigned char back[16];
  assert_int_equal(
      unbase64(json_string_value(json_object_get(o, "body_base64")), back,
               sizeof back),
      sizeof bytes);
  assert_memory_equal(back, bytes, sizeof bytes);
  json_decref(o);

  /* Every byte value, and a truncated UTF-8 sequence at the end. */
  unsigned char all[258];
  for (int i = 0; i < 256; i++)
    all[i] = (unsigned char)i;
  all[256] = 0xc3;
  all[257] = 0xa9;
  r.body = all;
  r.body_len = sizeof all;
  o = render(NULL, 1, &r, 0, NULL, 1, NULL);
  const char *b64 = json_string_value(json_object_get(o, "body_base64"));
  assert_non_null(b64);
  unsigned char back2[300];
  assert_int_equal(unbase64(b64, back2, sizeof back2), sizeof all);
  assert_memory_equal(back2, all, sizeof all);
  json_decref(o);

  const char cut[] = "ok \xc3";
  r.body = cut;
  r.body_len = sizeof cut - 1;
  o = render(NULL, 1, &r, 0, NULL, 1, NULL);
  assert_str(o, "body_base64", "b2sgww==");
  json_decref(o);
}

/* ---- byte for byte as jansson's dump ---------------------------------- */

/* The result line as jansson's compact dump of the whole object writes it:
 * how the command built the line before it wrote it field by field. */
static json_t *ref_ms(int64_t us)
{
  int64_t whole = us / 1000;
  return json_real((double)whole + (double)(us % 1000) / 1000.0);
}

static json_t *ref_headers(const pacer_result_t *r)
{
  json_t *h = json_object();
  for (size_t i = 0; h && i < r->header_count; i++) {
    json_t *val = json_string(r->headers[i].value);
    if (!val)
      val = json_string("");
    json_t *old = json_object_get(h, r->headers[i].name);
    if (!old) {
      json_object_set_new(h, r->headers[i].name, val);
    } else if (json_is_array(old)) {
      json_array_append_new(old, val);
    } else {
      json_t *arr = json_array();
      json_array_append(arr, old);
      json_array_append_new(arr, val);
      json_object_set_new(h, r->headers[i].name, arr);
    }
  }
  return h;
}

static char *ref_line(json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      int with_body)
{
  json_t *o = json_object();
  json_object_set(o, "id", id ? id : json_null());
  json_object_set_new(o, "line", json_integer((json_int_t)lineno));
  if (res)
    code = res->error;
  json_object_set_new(o, "status",
                      res && res->status ? json_integer(res->status)
                                         : json_null());
  if (code) {
    const char *msg = res ? res->message : message;
    if (!msg || !*msg)
      msg = pacer_strerror(code);
    json_t *m = json_string(msg);
    if (!m)
      m = json_string(pacer_strerror(code));
    json_object_set_new(
        o, "error",
        json_pack("{s:s, s:o}", "code", pacer_err_name(code), "message", m));
  } else {
    json_object_set_new(o, "error", json_null());
  }
  int ok = res && !res->error &&
           ((res->status >= 200 && res->status < 400) ||
            (with_body & CLI_RESULT_OK_STATUS));
  json_object_set_new(o, "ok", json_boolean(ok));
  if (res && res->not_retried == PACER_NOT_RETRIED_UNSAFE)
    json_object_set_new(o, "not_retried", json_string("unsafe method"));
  json_object_set_new(o, "attempts", json_integer(res ? res->attempts : 0));
  json_object_set_new(o, "queue_ms", ref_ms(res ? res->queue_us : 0));
  json_object_set_new(o, "transfer_ms", ref_ms(res ? res->transfer_us : 0));
  json_object_set_new(o, "total_ms", ref_ms(res ? res->total_us : 0));
  if ((with_body & CLI_RESULT_BODY) && res && (res->status || res->body_len)) {
    json_object_set_new(o, "headers", ref_headers(res));
    json_t *b = json_stringn(res->body ? res->body : "", res->body_len);
    if (b) {
      json_object_set_new(o, "body", b);
    } else {
      char *b64 = cli_base64(res->body, res->body_len);
      json_object_set_new(o, "body_base64", b64 ? json_string(b64) : NULL);
      free(b64);
    }
  }
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                 JSON_REAL_PRECISION(12));
  json_decref(o);
  return line;
}

static void assert_same_line(json_t *id, unsigned long lineno,
                             const pacer_result_t *res, int code,
                             const char *msg, int with_body)
{
  char *want = ref_line(id, lineno, res, code, msg, with_body);
  char *got = cli_result_line(id, lineno, res, code, msg, with_body);
  assert_non_null(want);
  assert_non_null(got);
  if (strcmp(want, got))
    fail_msg("result line differs:\n want %s\n got  %s", want, got);
  /* Appended to what a buffer already holds, past its own bytes. */
  cli_buf_t b;
  cli_buf_init(&b);
  char pad[700];
  memset(pad, 'x', sizeof pad);
  cli_buf_put(&b, pad, sizeof pad);
  assert_int_equal(cli_result_append(&b, id, lineno, res, code, msg, with_body),
                   0);
  assert_int_equal(b.len, sizeof pad + strlen(want));
  assert_memory_equal(b.p + sizeof pad, want, strlen(want) + 1);
  cli_buf_free(&b);
  /* From the id's text, as a job's callback writes it from its tag. */
  cli_buf_t idt, t;
  cli_buf_init(&idt);
  cli_buf_init(&t);
  cli_id_append(&idt, id);
  assert_false(idt.failed);
  assert_int_equal(cli_result_append_text(&t, idt.p, idt.len, lineno, res, code,
                                          msg, with_body),
                   0);
  assert_string_equal(t.p, want);
  cli_buf_free(&idt);
  cli_buf_free(&t);
  free(want);
  free(got);
}

/* Every millisecond figure is written as "%.12g" of the double (jansson) writes
 * it: every value up to 30 ms, then values spread over every magnitude, the
 * edges of the exact range, negative ones and the int64 extremes. */
static void same_bytes_milliseconds(void **state)
{
  (void)state;
  pacer_result_t r = result(200, 0, "");
  json_t *id = json_string("ms");
  for (int64_t us = 0; us < 30000; us += 3) {
    r.queue_us = us;
    r.transfer_us = us + 1;
    r.total_us = us + 2;
    assert_same_line(id, 1, &r, 0, NULL, 0);
  }
  uint64_t x = 88172645463325252ULL; /* xorshift64 */
  for (int i = 0; i < 6000; i++) {
    int64_t v[3];
    for (int k = 0; k < 3; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      int digits = (int)(x % 19); /* 1 to 10^18 */
      uint64_t m = 1;
      for (int d = 0; d < digits; d++)
        m *= 10;
      v[k] = (int64_t)((x >> 7) % m);
    }
    r.queue_us = v[0];
    r.transfer_us = v[1];
    r.total_us = v[2];
    assert_same_line(id, (unsigned long)i, &r, 0, NULL, 0);
  }
  static const int64_t edge[] = {999,
                                 1000,
                                 1001,
                                 999999999999,
                                 999999999990,
                                 999999999000,
                                 1000000000000,
                                 1000000000001,
                                 1000000000500,
                                 9999999999999,
                                 123456789012345,
                                 INT64_MAX,
                                 INT64_MAX - 999,
                                 -1,
                                 -999,
                                 -1000,
                                 -1500,
                                 -123456789,
                                 INT64_MIN,
                                 INT64_MIN + 1};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
    r.queue_us = r.transfer_us = r.total_us = edge[i];
    assert_same_line(id, 1, &r, 0, NULL, 0);
  }
  json_decref(id);
}

/* Ids, messages, statuses and bodies that need escapes, are not UTF-8, or
 * are at the edges of their types. */
static void same_bytes_fields(void **state)
{
  (void)state;
  static const char *const ids[] = {
      "",
      "plain-id",
      "quote\" backslash\\ slash/",
      "ctl \b\f\n\r\t \x01\x1f end",
      "utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8",
  };
  static const char *const msgs[] = {
      NULL,
      "",
      "connection refused",
      "bad \"quote\" and \\ and \n newline \x02",
      "not utf-8 \xff\xfe here",
      "utf8 \xc3\xa9",
  };
  static const int codes[] = {
      0, PACER_ETRANSPORT, PACER_ETIMEDOUT, PACER_EINVAL, -31, -999};
  static const int statuses[] = {0, 200, 404, 503, 999, -1};
  static const long long ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
  static const unsigned long linenos[] = {0, 1, 4294967295UL, ULONG_MAX};

  json_t *idv[sizeof ids / sizeof ids[0] + sizeof ints / sizeof ints[0] + 3];
  size_t nid = 0;
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    idv[nid++] = json_string(ids[i]);
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    idv[nid++] = json_integer((json_int_t)ints[i]);
  idv[nid++] = NULL;
  idv[nid++] = json_null();
  idv[nid++] = json_pack("[i,s]", 7, "x\"y");

  for (size_t i = 0; i < nid; i++)
    for (size_t l = 0; l < sizeof linenos / sizeof linenos[0]; l++)
      for (size_t m = 0; m < sizeof msgs / sizeof msgs[0]; m++)
        for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
          assert_same_line(idv[i], linenos[l], NULL, codes[c], msgs[m], 0);
          for (size_t s = 0; s < sizeof statuses / sizeof statuses[0]; s++) {
            pacer_result_t r =
                result(statuses[s], codes[c], msgs[m] ? msgs[m] : "");
            r.attempts = (unsigned)(c * 1000000007u);
            r.queue_us = 17;
            r.transfer_us = 1000;
            r.total_us = 1234567;
            assert_same_line(idv[i], linenos[l], &r, 0, NULL, 0);
            assert_same_line(idv[i], linenos[l], &r, 0, NULL, 1);
            r.not_retried = PACER_NOT_RETRIED_UNSAFE;
            assert_same_line(idv[i], linenos[l], &r, 0, NULL,
                             CLI_RESULT_OK_STATUS);
            assert_same_line(idv[i], linenos[l], &r, 0, NULL,
                             CLI_RESULT_OK_STATUS | CLI_RESULT_BODY);
          }
        }
  for (size_t i = 0; i < nid; i++)
    json_decref(idv[i]);
}

/* --body: headers (repeated, not UTF-8, with escapes) and bodies (text,
 * empty, with NUL bytes, not UTF-8, larger than the buffer's own bytes). */
static void same_bytes_body(void **state)
{
  (void)state;
  static const pacer_header_t hdrs[] = {{"Content-Type", "text/plain"},
                                        {"Set-Cookie", "a=1"},
                                        {"Set-Cookie", "b=\"2\""},
                                        {"Set-Cookie", "c=3"},
                                        {"X-Bad", "\xff value"},
                                        {"X-Esc", "tab\there \\ /"},
                                        {"\xfe-name", "v"},
                                        {"set-cookie", "lower"}};
  static char big[5000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)('a' + i % 26);
  big[100] = '"';
  big[200] = '\n';
  struct {
    const char *body;
    size_t len;
  } bodies[] = {{"", 0},
                {"hello", 5},
                {"nul\0inside", 10},
                {"\xff\xfe\x00\x01 binary", 11},
                {"\xc3\xa9t\xc3\xa9 \"q\" \\ \x1b", 14},
                {big, sizeof big}};
  json_t *id = json_string("b");
  for (size_t h = 0; h <= sizeof hdrs / sizeof hdrs[0]; h++)
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
      for (int status = 0; status <= 200; status += 200) {
        pacer_result_t r = result(status, 0, "");
        r.headers = hdrs;
        r.header_count = h;
        r.body = bodies[i].body;
        r.body_len = bodies[i].len;
        assert_same_line(id, 9, &r, 0, NULL, 1);
        r.error = PACER_ETRANSPORT;
        r.message = "reset";
        assert_same_line(id, 9, &r, 0, NULL, 1);
      }
  json_decref(id);
}

/* ---- base64 ----------------------------------------------------------------
 */

static void base64_rfc4648_vectors(void **state)
{
  (void)state;
  static const char *const in[] = {"",     "f",     "fo",    "foo",
                                   "foob", "fooba", "foobar"};
  static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    char *s = cli_base64(in[i], strlen(in[i]));
    assert_non_null(s);
    assert_string_equal(s, out[i]);
    free(s);
  }
  /* NULL with length 0 is the empty string. */
  char *s = cli_base64(NULL, 0);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
}

static void base64_round_trip(void **state)
{
  (void)state;
  unsigned char data[1027], back[1100];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (unsigned char)(i * 131 + 7);
  for (size_t len = 0; len <= sizeof data; len += (len < 16 ? 1 : 97)) {
    char *s = cli_base64(data, len);
    assert_non_null(s);
    assert_int_equal(strlen(s), (len + 2) / 3 * 4);
    assert_int_equal(unbase64(s, back, sizeof back), len);
    assert_memory_equal(back, data, len);
    free(s);
  }
}

/* ---- tally and summary -----------------------------------------------------
 */

static void add_status(cli_tally_t *t, int status)
{
  pacer_result_t r = result(status, 0, "");
  cli_tally_add(t, &r, 0);
}

static void add_error(cli_tally_t *t, int code, int status)
{
  pacer_result_t r = result(status, code, "x");
  cli_tally_add(t, &r, 0);
}

/* The tally used by the summary test too: 14 jobs, 3 succeeded. */
static void fill_tally(cli_tally_t *t)
{
  memset(t, 0, sizeof *t);
  add_status(t, 200);
  add_status(t, 201);
  add_status(t, 302);
  add_status(t, 404);
  add_status(t, 429);
  add_status(t, 500);
  add_status(t, 503);
  add_error(t, PACER_ETIMEDOUT, 0);
  add_error(t, PACER_ETIMEDOUT, 0);
  add_error(t, PACER_ETRANSPORT, 0);
  add_error(t, PACER_ERETRIES, 503);       /* by its error, not as a 5xx */
  cli_tally_add(t, NULL, PACER_EINVAL);    /* a bad line */
  cli_tally_add(t, NULL, PACER_EURL);      /* refused by submit */
  cli_tally_add(t, NULL, PACER_ESHUTDOWN); /* interrupted: not bad input */
}

static void tally_counts(void **state)
{
  (void)state;
  cli_tally_t t;
  memset(&t, 0, sizeof t);
  assert_int_equal(cli_tally_failed(&t), 0);

  fill_tally(&t);
  assert_int_equal(t.jobs, 14);
  assert_int_equal(t.succeeded, 3);
  assert_int_equal(t.http_4xx, 2);
  assert_int_equal(t.http_5xx, 2);
  assert_int_equal(t.by_error[-PACER_ETIMEDOUT], 2);
  assert_int_equal(t.by_error[-PACER_ETRANSPORT], 1);
  assert_int_equal(t.by_error[-PACER_ERETRIES], 1);
  assert_int_equal(t.by_error[-PACER_ESHUTDOWN], 1);
  assert_int_equal(t.by_error[-PACER_EINVAL], 0);
  assert_int_equal(t.bad_input, 2);
  assert_int_equal(cli_tally_failed(&t), 11);

  uint64_t errors = 0;
  for (int i = 0; i < CLI_ERRORS; i++)
    errors += t.by_error[i];
  assert_int_equal(t.succeeded + t.http_4xx + t.http_5xx + t.bad_input + errors,
                   t.jobs);

  /* PACER_EBUDGET (-32) has a slot of its own. */
  add_error(&t, PACER_EBUDGET, 0);
  assert_int_equal(t.by_error[-PACER_EBUDGET], 1);
  assert_int_equal(t.by_error[0], 0);
  /* A code beyond the table is counted, in slot 0. */
  add_error(&t, -CLI_ERRORS - 6, 0);
  assert_int_equal(t.by_error[0], 1);
  assert_int_equal(t.jobs, 16);
  assert_int_equal(cli_tally_failed(&t), 13);

  /* Refused at the bound (--queue-policy fail) and shed: errors of their
   * own, not bad lines. */
  cli_tally_add(&t, NULL, PACER_EFULL);
  add_error(&t, PACER_ESHED, 0);
  assert_int_equal(t.by_error[-PACER_EFULL], 1);
  assert_int_equal(t.by_error[-PACER_ESHED], 1);
  assert_int_equal(t.bad_input, 2);
  assert_int_equal(cli_tally_failed(&t), 15);
}

static char *summary_text(const cli_tally_t *t, const pacer_stats_t *st,
                          double elapsed)
{
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  assert_non_null(f);
  cli_summary(f, t, st, elapsed);
  assert_int_equal(fclose(f), 0);
  assert_non_null(text);
  return text;
}

static void assert_contains(const char *text, const char *want);

/* A status --ok-status lists counts as succeeded; jobs not retried for
 * their method are counted, and the summary says how to retry them. */
static void tally_ok_status_and_not_retried(void **state)
{
  (void)state;
  cli_tally_t t;
  memset(&t, 0, sizeof t);
  pacer_result_t r = result(404, 0, "");
  cli_tally_count(&t, &r, 0, CLI_RESULT_OK_STATUS);
  cli_tally_count(&t, &r, 0, 0);
  r = result(503, 0, "");
  r.not_retried = PACER_NOT_RETRIED_UNSAFE;
  cli_tally_count(&t, &r, 0, 0);
  cli_tally_count(&t, &r, 0, 0);
  assert_int_equal(t.jobs, 4);
  assert_int_equal(t.succeeded, 1);
  assert_int_equal(t.http_4xx, 1);
  assert_int_equal(t.http_5xx, 2);
  assert_int_equal(t.unsafe_not_retried, 2);
  char *text = summary_text(&t, NULL, 1.0);
  assert_contains(text, "2 POST/PATCH jobs were not retried");
  assert_contains(text, "--retry-unsafe");
  assert_contains(text, "--idempotency-keys");
  free(text);
  /* None: not a word of it. */
  memset(&t, 0, sizeof t);
  cli_tally_count(&t, &r, 0, 0);
  text = summary_text(&t, NULL, 1.0);
  assert_contains(text, "1 POST/PATCH job was not retried");
  free(text);
  memset(&t, 0, sizeof t);
  text = summary_text(&t, NULL, 1.0);
  assert_null(strstr(text, "not retried"));
  free(text);
}

static void assert_contains(const char *text, const char *want)
{
  if (!strstr(text, want))
    fail_msg("summary lacks '%s':\n%s", want, text);
}

static void summary(void **state)
{
  (void)state;
  cli_tally_t t;
  fill_tally(&t);
  char *text = summary_text(&t, NULL, 2.0);
  assert_contains(text, "14 jobs in 2.00 s: 3 succeeded, 11 failed");
  assert_contains(text, "HTTP 4xx");
  assert_contains(text, "HTTP 5xx");
  assert_contains(text, "PACER_ETIMEDOUT");
  assert_contains(text, "PACER_ETRANSPORT");
  assert_contains(text, "PACER_ERETRIES");
  assert_contains(text, "PACER_ESHUTDOWN");
  assert_contains(text, "not sent (bad line)");
  assert_null(strstr(text, "PACER_EINVAL"));
  assert_null(strstr(text, "requests/s")); /* no stats given */
  free(text);

  pacer_stats_t st;
  memset(&st, 0, sizeof st);
  st.started = 20;
  st.retried = 4;
  st.queue_wait[PACER_PRIORITY_HIGH] = (pacer_latency_t){.count = 5,
                                                         .p50_us = 1500,
                                                         .p90_us = 2000,
                                                         .p99_us = 2500,
                                                         .max_us = 3000};
  text = summary_text(&t, &st, 2.0);
  assert_contains(text, "20 requests (4 retries), 10.0 requests/s");
  assert_contains(text, "queue high");
  assert_contains(text, "p50 1.5 ms, p90 2.0 ms, p99 2.5 ms, max 3.0 ms (5)");
  assert_contains(text, "queue low");
  assert_contains(text, "transfer high");
  assert_contains(text, "transfer low");
  assert_null(strstr(text, "on a rate"));       /* no key adapted */
  assert_null(strstr(text, "retries refused")); /* none: no line */
  assert_null(strstr(text, "slow calls"));
  free(text);

  /* The retry budget's refusals and the breaker's slow calls. */
  st.retries_refused = 6;
  st.slow_calls = 9;
  text = summary_text(&t, &st, 2.0);
  assert_contains(text, "retries refused (budget) 6");
  assert_contains(text, "slow calls");
  free(text);
  st.retries_refused = st.slow_calls = 0;

  /* Adapted keys are named with their rate and why, the first few only. */
  pacer_key_stats_t keys[7];
  pacer_key_adapt_t ka[7];
  memset(keys, 0, sizeof keys);
  memset(ka, 0, sizeof ka);
  static const char *const names[7] = {"a.test", "b.test", "c.test", "d.test",
                                       "e.test", "f.test", "g.test"};
  for (int i = 0; i < 7; i++) {
    keys[i].key = names[i];
    ka[i].reason = i == 1 ? PACER_ADAPT_NONE : PACER_ADAPT_AIMD;
    ka[i].rate = i == 1 ? 0 : 25;
  }
  ka[0].reason = PACER_ADAPT_ANNOUNCED;
  ka[0].rate = 9.75;
  keys[0].paused_ms = 2500;
  st.key_count = 1;
  st.keys = keys;
  st.key_adapt = ka;
  text = summary_text(&t, &st, 2.0);
  assert_contains(text, "1 key on a rate its server set:");
  assert_contains(text, "a.test");
  assert_contains(text, "9.75/s (announced quota, paused 2.5 s)");
  free(text);
  st.key_count = 7;
  text = summary_text(&t, &st, 2.0);
  assert_contains(text, "6 keys on a rate their servers set:");
  assert_contains(text, "25/s (429/503, aimd)");
  assert_null(strstr(text, "b.test"));
  assert_contains(text, "f.test");
  assert_null(strstr(text, "g.test"));
  assert_contains(text, "and 1 more");
  free(text);
  /* A snapshot without the array (key_count 0, or an older filler). */
  st.key_adapt = NULL;
  text = summary_text(&t, &st, 2.0);
  assert_null(strstr(text, "on a rate"));
  free(text);
  st.key_count = 0;
  st.keys = NULL;

  /* Nothing done, no time elapsed: no division by zero, all counts 0. */
  cli_tally_t zero;
  memset(&zero, 0, sizeof zero);
  memset(&st, 0, sizeof st);
  text = summary_text(&zero, &st, 0.0);
  assert_contains(text, "0 jobs in 0.00 s: 0 succeeded, 0 failed");
  assert_contains(text, "0.0 requests/s");
  assert_null(strstr(text, "HTTP 4xx"));
  free(text);

  /* A real FILE works too. */
  FILE *f = tmpfile();
  assert_non_null(f);
  cli_summary(f, &t, NULL, 1.0);
  assert_true(ftell(f) > 0);
  fclose(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(success_line),
      cmocka_unit_test(integer_id_and_big_times),
      cmocka_unit_test(ok_and_not_retried),
      cmocka_unit_test(tally_ok_status_and_not_retried),
      cmocka_unit_test(error_line),
      cmocka_unit_test(never_accepted),
      cmocka_unit_test(body_utf8_and_headers),
      cmocka_unit_test(body_binary),
      cmocka_unit_test(same_bytes_milliseconds),
      cmocka_unit_test(same_bytes_fields),
      cmocka_unit_test(same_bytes_body),
      cmocka_unit_test(base64_rfc4648_vectors),
      cmocka_unit_test(base64_round_trip),
      cmocka_unit_test(tally_counts),
      cmocka_unit_test(summary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
