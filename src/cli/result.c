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

/* ---- the output buffer ---- */

void cli_buf_init(cli_buf_t *b)
{
  b->p = b->inl;
  b->len = 0;
  b->cap = sizeof b->inl;
  b->failed = 0;
}

void cli_buf_free(cli_buf_t *b)
{
  if (b->p != b->inl)
    free(b->p);
  cli_buf_init(b);
}

/* Room for n more bytes (and a NUL). Returns the write position, or NULL
 * (b->failed set) out of memory. */
static char *reserve(cli_buf_t *b, size_t n)
{
  if (b->failed)
    return NULL;
  if (b->cap - b->len <= n) {
    size_t cap = b->cap;
    while (cap - b->len <= n) {
      if (cap > SIZE_MAX / 2) {
        b->failed = 1;
        return NULL;
      }
      cap *= 2;
    }
    char *p = b->p == b->inl ? malloc(cap) : realloc(b->p, cap);
    if (!p) {
      b->failed = 1;
      return NULL;
    }
    if (b->p == b->inl)
      memcpy(p, b->inl, b->len);
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->len;
}

void cli_buf_put(cli_buf_t *b, const char *s, size_t n)
{
  char *at = reserve(b, n);
  if (!at)
    return;
  memcpy(at, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

#define PUT_LIT(b, lit) cli_buf_put((b), (lit), sizeof(lit) - 1)

/* Decimal digits of v, as jansson writes an integer. */
static void put_int(cli_buf_t *b, long long v)
{
  char tmp[24], *e = tmp + sizeof tmp, *d = e;
  unsigned long long u =
      v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do
    *--d = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    *--d = '-';
  cli_buf_put(b, d, (size_t)(e - d));
}

/* v as jansson's dump with the result line's flags writes it. */
static void put_dump(cli_buf_t *b, json_t *v)
{
  char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                  JSON_ENCODE_ANY | JSON_REAL_PRECISION(12))
              : NULL;
  if (!s) {
    b->failed = 1;
    return;
  }
  cli_buf_put(b, s, strlen(s));
  free(s);
}

/* A JSON string value (valid UTF-8, as jansson made sure) in quotes. Text
 * that needs no escape is copied as it is, which is what jansson writes;
 * any other goes through jansson, so every escape stays its own. */
static void put_string(cli_buf_t *b, json_t *v)
{
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == '"' || c == '\\') {
      put_dump(b, v);
      return;
    }
  }
  char *at = reserve(b, n + 2);
  if (!at)
    return;
  at[0] = '"';
  memcpy(at + 1, s, n);
  at[n + 1] = '"';
  b->len += n + 2;
  b->p[b->len] = 0;
}

/* Any JSON value as jansson writes it: strings and integers (every id the
 * command makes) without a call into jansson. */
static void put_value(cli_buf_t *b, json_t *v)
{
  if (json_is_string(v))
    put_string(b, v);
  else if (json_is_integer(v))
    put_int(b, (long long)json_integer_value(v));
  else
    put_dump(b, v);
}

/* us microseconds as milliseconds, exactly as jansson writes the real
 * whole + fraction/1000 with JSON_REAL_PRECISION(12): "%.12g", then ".0"
 * when that has neither '.' nor an exponent. Below 10^9 ms the decimal has
 * at most 12 significant digits, so "%.12g" gives it exactly: the whole
 * milliseconds, then the fraction without its trailing zeros (or ".0").
 * Negative or larger values (never seen in practice) go through jansson. */
static void put_ms(cli_buf_t *b, int64_t us)
{
  if (us < 0 || us >= INT64_C(1000000000000)) {
    int64_t whole = us / 1000; /* whole ms, then the fraction */
    json_t *r = json_real((double)whole + (double)(us % 1000) / 1000.0);
    put_dump(b, r);
    json_decref(r);
    return;
  }
  put_int(b, (long long)(us / 1000));
  unsigned frac = (unsigned)(us % 1000);
  char d[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
               (char)('0' + frac % 10)};
  size_t n = 4;
  while (n > 2 && d[n - 1] == '0')
    n--;
  cli_buf_put(b, d, n);
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

/* The "headers" and "body" (or "body_base64") members of --body: rare and
 * large, so jansson writes them, as it always did. */
static void put_body(cli_buf_t *b, const pacer_result_t *res)
{
  json_t *h = headers_json(res);
  if (h) {
    PUT_LIT(b, ",\"headers\":");
    put_dump(b, h);
    json_decref(h);
  }
  json_t *body = json_stringn(res->body ? res->body : "", res->body_len);
  if (body) {
    PUT_LIT(b, ",\"body\":");
    put_dump(b, body);
    json_decref(body);
    return;
  }
  char *b64 = cli_base64(res->body, res->body_len);
  if (b64) {
    PUT_LIT(b, ",\"body_base64\":\"");
    cli_buf_put(b, b64, strlen(b64)); /* base64 needs no escape */
    PUT_LIT(b, "\"");
    free(b64);
  }
}

/* The line is written here field by field rather than built as a jansson
 * object and dumped: that cost a dozen allocations and three printf()s of
 * a double per line, more CPU than the rest of the command per request.
 * The bytes are the same as that dump's (test_cli_result.c compares). */
static int append_rest(cli_buf_t *b, unsigned long lineno,
                       const pacer_result_t *res, int code, const char *message,
                       unsigned flags);

void cli_id_append(cli_buf_t *b, json_t *id)
{
  if (id)
    put_value(b, id);
  else
    PUT_LIT(b, "null");
}

int cli_result_append(cli_buf_t *b, json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      unsigned flags)
{
  PUT_LIT(b, "{\"id\":");
  cli_id_append(b, id);
  return append_rest(b, lineno, res, code, message, flags);
}

int cli_result_append_text(cli_buf_t *b, const char *id, size_t id_len,
                           unsigned long lineno, const pacer_result_t *res,
                           int code, const char *message, unsigned flags)
{
  PUT_LIT(b, "{\"id\":");
  cli_buf_put(b, id, id_len);
  return append_rest(b, lineno, res, code, message, flags);
}

int cli_result_ok(const pacer_result_t *res, unsigned flags)
{
  if (!res || res->error)
    return 0;
  return (res->status >= 200 && res->status < 400) ||
         (flags & CLI_RESULT_OK_STATUS);
}

/* The line after its id. */
static int append_rest(cli_buf_t *b, unsigned long lineno,
                       const pacer_result_t *res, int code, const char *message,
                       unsigned flags)
{
  PUT_LIT(b, ",\"line\":");
  put_int(b, (long long)(json_int_t)lineno);
  if (res)
    code = res->error;
  PUT_LIT(b, ",\"status\":");
  if (res && res->status)
    put_int(b, res->status);
  else
    PUT_LIT(b, "null");
  if (code) {
    const char *msg = res ? res->message : message;
    if (!msg || !*msg)
      msg = pacer_strerror(code);
    json_t *m = json_string(msg);
    if (!m) /* a transport message that is not UTF-8 */
      m = json_string(pacer_strerror(code));
    json_t *name = json_string(pacer_err_name(code));
    if (m && name) {
      PUT_LIT(b, ",\"error\":{\"code\":");
      put_string(b, name);
      PUT_LIT(b, ",\"message\":");
      put_string(b, m);
      PUT_LIT(b, "}");
    }
    json_decref(m);
    json_decref(name);
  } else {
    PUT_LIT(b, ",\"error\":null");
  }
  if (cli_result_ok(res, flags))
    PUT_LIT(b, ",\"ok\":true");
  else
    PUT_LIT(b, ",\"ok\":false");
  if (res && res->not_retried == PACER_NOT_RETRIED_UNSAFE)
    PUT_LIT(b, ",\"not_retried\":\"unsafe method\"");
  PUT_LIT(b, ",\"attempts\":");
  put_int(b, res ? (long long)res->attempts : 0);
  PUT_LIT(b, ",\"queue_ms\":");
  put_ms(b, res ? res->queue_us : 0);
  PUT_LIT(b, ",\"transfer_ms\":");
  put_ms(b, res ? res->transfer_us : 0);
  PUT_LIT(b, ",\"total_ms\":");
  put_ms(b, res ? res->total_us : 0);
  if ((flags & CLI_RESULT_BODY) && res && (res->status || res->body_len))
    put_body(b, res);
  PUT_LIT(b, "}");
  return b->failed ? -1 : 0;
}

char *cli_result_line(json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      unsigned flags)
{
  cli_buf_t b;
  cli_buf_init(&b);
  char *line = NULL;
  if (cli_result_append(&b, id, lineno, res, code, message, flags) == 0 &&
      (line = malloc(b.len + 1)))
    memcpy(line, b.p, b.len + 1);
  cli_buf_free(&b);
  return line;
}

void cli_tally_add(cli_tally_t *t, const pacer_result_t *res, int code)
{
  cli_tally_count(t, res, code, 0);
}

void cli_tally_count(cli_tally_t *t, const pacer_result_t *res, int code,
                     unsigned flags)
{
  t->jobs++;
  if (res && res->not_retried == PACER_NOT_RETRIED_UNSAFE)
    t->unsafe_not_retried++;
  /* Refused at the bound (--queue-policy fail) is no bad line. */
  if (!res && code != PACER_ESHUTDOWN && code != PACER_EFULL) {
    t->bad_input++;
    return;
  }
  if (!res || res->error) {
    unsigned i = (unsigned)-(res ? res->error : code);
    t->by_error[i < CLI_ERRORS ? i : 0]++;
  } else if (!cli_result_ok(res, flags) && res->status >= 500) {
    t->http_5xx++;
  } else if (!cli_result_ok(res, flags) && res->status >= 400) {
    t->http_4xx++;
  } else { /* ok: a 2xx, 3xx or a status of --ok-status */
    t->succeeded++;
  }
}

uint64_t cli_tally_failed(const cli_tally_t *t)
{
  return t->jobs - t->succeeded;
}

/* "connections 2 opened (TLS: 2 full handshakes, 0 resumed); responses
 * HTTP/2 10000": what the transfers cost in connections, and the protocol
 * spoken (nothing when no attempt was answered or opened one). */
static void connections(FILE *f, const pacer_conn_stats_t *c)
{
  if (!c->opened && !c->http1 && !c->http2 && !c->http3)
    return;
  fprintf(f, "pacer: connections %llu opened", (unsigned long long)c->opened);
  if (c->tls_full || c->tls_resumed)
    fprintf(f, " (TLS: %llu full handshake%s, %llu resumed)",
            (unsigned long long)c->tls_full, c->tls_full == 1 ? "" : "s",
            (unsigned long long)c->tls_resumed);
  fprintf(f, "; responses");
  const char *sep = " ";
  const struct {
    const char *name;
    uint64_t n;
  } v[] = {{"HTTP/1.x", c->http1}, {"HTTP/2", c->http2}, {"HTTP/3", c->http3}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (v[i].n) {
      fprintf(f, "%s%s %llu", sep, v[i].name, (unsigned long long)v[i].n);
      sep = ", ";
    }
  if (*sep == ' ')
    fprintf(f, " none");
  fprintf(f, "\n");
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

/* At most this many adapted keys are named; the rest are counted. */
#define ADAPTED_SHOWN 5

/* The keys whose rate follows their server as the run ends (--adapt): the
 * rate each is held to and why, so a run that went slower than its flags
 * say tells whom it listened to. Nothing when no key is adapted. */
static void adapted(FILE *f, const pacer_stats_t *st)
{
  size_t n = 0;
  for (size_t i = 0; st->key_adapt && i < st->key_count; i++)
    n += st->key_adapt[i].reason != PACER_ADAPT_NONE;
  if (!n)
    return;
  fprintf(f, "pacer: %zu key%s on a rate %s set:\n", n, n == 1 ? "" : "s",
          n == 1 ? "its server" : "their servers");
  size_t shown = 0;
  for (size_t i = 0; i < st->key_count && shown < ADAPTED_SHOWN; i++) {
    const pacer_key_adapt_t *ka = &st->key_adapt[i];
    if (ka->reason == PACER_ADAPT_NONE)
      continue;
    shown++;
    fprintf(f, "pacer:   %-22s %.3g/s (%s", st->keys[i].key, ka->rate,
            ka->reason == PACER_ADAPT_ANNOUNCED ? "announced quota"
                                                : "429/503, aimd");
    if (st->keys[i].paused_ms > 0)
      fprintf(f, ", paused %.1f s", (double)st->keys[i].paused_ms / 1000);
    fputs(")\n", f);
  }
  if (n > shown)
    fprintf(f, "pacer:   and %zu more\n", n - shown);
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
  for (int i = 1; i < CLI_ERRORS; i++)
    if (t->by_error[i])
      fprintf(f, "pacer:   %-22s %llu (%s)\n", pacer_err_name(-i),
              (unsigned long long)t->by_error[i], pacer_strerror(-i));
  if (t->bad_input)
    fprintf(f, "pacer:   %-22s %llu\n", "not sent (bad line)",
            (unsigned long long)t->bad_input);
  if (t->unsafe_not_retried)
    fprintf(f,
            "pacer: %llu POST/PATCH job%s not retried (the method is not "
            "idempotent: a retry could do its work twice); to retry them: "
            "--retry-unsafe, \"retry_unsafe\": true, or --idempotency-keys\n",
            (unsigned long long)t->unsafe_not_retried,
            t->unsafe_not_retried == 1 ? " was" : "s were");
  if (!st)
    return;
  fprintf(f, "pacer: %llu requests (%llu retries), %.1f requests/s\n",
          (unsigned long long)st->started, (unsigned long long)st->retried,
          elapsed_s > 0 ? (double)st->started / elapsed_s : 0.0);
  connections(f, &st->conn);
  if (st->retries_refused)
    fprintf(f, "pacer:   %-22s %llu\n", "retries refused (budget)",
            (unsigned long long)st->retries_refused);
  if (st->slow_calls)
    fprintf(f, "pacer:   %-22s %llu\n", "slow calls",
            (unsigned long long)st->slow_calls);
  lat(f, "queue high", &st->queue_wait[PACER_PRIORITY_HIGH]);
  lat(f, "queue low", &st->queue_wait[PACER_PRIORITY_LOW]);
  lat(f, "transfer high", &st->transfer[PACER_PRIORITY_HIGH]);
  lat(f, "transfer low", &st->transfer[PACER_PRIORITY_LOW]);
  adapted(f, st);
}
