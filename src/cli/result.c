/* SPDX-License-Identifier: MIT */
/* result.c - one result line of the command: a job's outcome as compact
 * JSON, and the outcome tally behind the exit code and the summary. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *cli_base64(const void *data, size_t len)
{
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *s = data;
  if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
    return NULL;
  char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
  if (!out)
    return NULL;
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    *o++ = tab[v >> 18];
    *o++ = tab[(v >> 12) & 63];
    *o++ = tab[(v >> 6) & 63];
    *o++ = tab[v & 63];
  }
  if (i < len) {
    unsigned v = (unsigned)s[i] << 16;
    if (i + 1 < len)
      v |= (unsigned)s[i + 1] << 8;
    *o++ = tab[v >> 18];
    *o++ = tab[(v >> 12) & 63];
    *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o = 0;
  return out;
}

static json_t *ms(int64_t us)
{
  int64_t whole = us / 1000; /* whole ms, then the fraction: exact digits */
  return json_real((double)whole + (double)(us % 1000) / 1000.0);
}

/* Response headers as an object; a repeated name gets an array of values. */
static json_t *headers_json(const pacer_result_t *r)
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

char *cli_result_line(json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      int with_body)
{
  json_t *o = json_object();
  if (!o)
    return NULL;
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
    if (!m) /* a transport message that is not UTF-8 */
      m = json_string(pacer_strerror(code));
    json_object_set_new(
        o, "error",
        json_pack("{s:s, s:o}", "code", pacer_err_name(code), "message", m));
  } else {
    json_object_set_new(o, "error", json_null());
  }
  json_object_set_new(o, "attempts", json_integer(res ? res->attempts : 0));
  json_object_set_new(o, "queue_ms", ms(res ? res->queue_us : 0));
  json_object_set_new(o, "transfer_ms", ms(res ? res->transfer_us : 0));
  json_object_set_new(o, "total_ms", ms(res ? res->total_us : 0));
  if (with_body && res && (res->status || res->body_len)) {
    json_object_set_new(o, "headers", headers_json(res));
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

void cli_tally_add(cli_tally_t *t, const pacer_result_t *res, int code)
{
  t->jobs++;
  if (!res && code != PACER_ESHUTDOWN) {
    t->bad_input++;
    return;
  }
  if (!res || res->error) {
    unsigned i = (unsigned)-(res ? res->error : code);
    t->by_error[i < 32 ? i : 0]++;
  } else if (res->status >= 500) {
    t->http_5xx++;
  } else if (res->status >= 400) {
    t->http_4xx++;
  } else {
    t->succeeded++;
  }
}

uint64_t cli_tally_failed(const cli_tally_t *t)
{
  return t->jobs - t->succeeded;
}

static void lat(FILE *f, const char *what, const pacer_latency_t *l)
{
  if (!l->count) {
    fprintf(f, "pacer:   %-14s -\n", what);
    return;
  }
  fprintf(f,
          "pacer:   %-14s p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms "
          "(%llu)\n",
          what, (double)l->p50_us / 1000, (double)l->p90_us / 1000,
          (double)l->p99_us / 1000, (double)l->max_us / 1000,
          (unsigned long long)l->count);
}

void cli_summary(FILE *f, const cli_tally_t *t, const pacer_stats_t *st,
                 double elapsed_s)
{
  fprintf(f, "pacer: %llu jobs in %.2f s: %llu succeeded, %llu failed\n",
          (unsigned long long)t->jobs, elapsed_s,
          (unsigned long long)t->succeeded,
          (unsigned long long)cli_tally_failed(t));
  if (t->http_4xx)
    fprintf(f, "pacer:   %-22s %llu\n", "HTTP 4xx",
            (unsigned long long)t->http_4xx);
  if (t->http_5xx)
    fprintf(f, "pacer:   %-22s %llu\n", "HTTP 5xx",
            (unsigned long long)t->http_5xx);
  for (int i = 1; i < 32; i++)
    if (t->by_error[i])
      fprintf(f, "pacer:   %-22s %llu (%s)\n", pacer_err_name(-i),
              (unsigned long long)t->by_error[i], pacer_strerror(-i));
  if (t->bad_input)
    fprintf(f, "pacer:   %-22s %llu\n", "not sent (bad line)",
            (unsigned long long)t->bad_input);
  if (!st)
    return;
  fprintf(f, "pacer: %llu requests (%llu retries), %.1f requests/s\n",
          (unsigned long long)st->started, (unsigned long long)st->retried,
          elapsed_s > 0 ? (double)st->started / elapsed_s : 0.0);
  lat(f, "queue high", &st->queue_wait[PACER_PRIORITY_HIGH]);
  lat(f, "queue low", &st->queue_wait[PACER_PRIORITY_LOW]);
  lat(f, "transfer high", &st->transfer[PACER_PRIORITY_HIGH]);
  lat(f, "transfer low", &st->transfer[PACER_PRIORITY_LOW]);
}
