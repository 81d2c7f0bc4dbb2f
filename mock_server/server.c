/* SPDX-License-Identifier: MIT */
/* server.c - pacer-mock's HTTP side: libmicrohttpd setup and request handling.
 *
 * A request goes through the access handler in stages: on the first call it
 * is counted and its whole answer is planned (status, outcome, body, delay),
 * so the score records the decision at arrival; once the upload is read it
 * is either suspended until its delay is over (delay.c) or answered. Nothing
 * ever sleeps on a worker thread: delays and trickled bytes suspend the
 * connection, endless headers go to raw.c. A garbage status line is written
 * straight to the socket, which MHD has not written to for this request, and
 * the handler then returns MHD_NO so MHD closes it; a drop is just MHD_NO.
 * Requests under /__ are the control endpoints and are never counted. */
#include "mock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct server {
  mock_options_t o;
  struct MHD_Daemon *d;
  score_t *score;
  journal_t *journal;
  delayer_t *delayer;
  raw_t *raw;
  bomb_cache_t *bombs;
  char *tls_cert, *tls_key;
  bool tls;
  /* Known only once MHD has bound, when its threads already run: atomic. */
  atomic_uint port;
  atomic_bool stopping;
};

typedef enum { ST_PLANNED, ST_DELAYED, ST_SENT } stage_t;

typedef struct req {
  server_t *srv;
  struct MHD_Connection *conn;
  bool control, counted;
  stage_t stage;
  behaviour_t b;
  arrival_out_t a;
  const char *job, *prio; /* borrowed from MHD, valid during the first call */
  bool bad;
  char text[200]; /* short body: "ok", an error message */
  outcome_t outcome;
  int status;
  bool limited, redirect;
  uint32_t delay_ms;
  /* body */
  const unsigned char *buf; /* NULL: the byte pattern */
  uint64_t len;
  bool gzip;
  uint64_t next_byte_ns; /* trickle: when the next byte may go */
} req_t;

/* ---- random draws: one splitmix64 stream per thread ------------------- */

static _Thread_local uint64_t rng_state;
static _Thread_local bool rng_seeded;
static atomic_uint_fast64_t rng_streams;
static uint64_t rng_seed;

static uint64_t rng_next(void)
{
  if (!rng_seeded) {
    rng_state = rng_seed + UINT64_C(0x632be59bd9b4e019) *
                               (uint64_t)atomic_fetch_add(&rng_streams, 1);
    rng_seeded = true;
  }
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
  return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* ---- planning --------------------------------------------------------- */

static enum MHD_Result arg_cb(void *cls, enum MHD_ValueKind kind,
                              const char *key, const char *value)
{
  req_t *r = cls;
  if (strcmp(key, "job") == 0) {
    r->job = value;
  } else if (strcmp(key, "prio") == 0 || strcmp(key, "priority") == 0) {
    r->prio = value;
  } else if (!r->bad) {
    char err[160];
    if (behaviour_apply(&r->b, key, value ? value : "", err, sizeof err) < 0) {
      r->bad = true;
      snprintf(r->text, sizeof r->text, "%s\n", err);
    }
  }
  return MHD_YES;
}

static void plan(server_t *s, req_t *r)
{
  const behaviour_t *b = &r->b;
  r->outcome = OUTCOME_HTTP;
  r->buf = NULL;
  r->len = 0;

  if (!r->bad && b->redirect == REDIRECT_PORT && b->to_port == 0) {
    r->bad = true;
    snprintf(r->text, sizeof r->text, "redirect=port needs to_port\n");
  }
  if (r->bad) {
    r->status = 400;
    r->buf = (const unsigned char *)r->text;
    r->len = strlen(r->text);
    r->b.trickle = false;
    return;
  }
  if (r->a.limited) {
    r->limited = true;
    r->status = 429;
    snprintf(r->text, sizeof r->text, "over the server's limit\n");
    r->buf = (const unsigned char *)r->text;
    r->len = strlen(r->text);
    r->b.trickle = false;
    return;
  }

  r->delay_ms = b->latency_lo_ms;
  if (b->latency_hi_ms > b->latency_lo_ms) {
    uint32_t span = b->latency_hi_ms - b->latency_lo_ms + 1;
    r->delay_ms += (uint32_t)(rng_unit() * span);
    if (r->delay_ms > b->latency_hi_ms)
      r->delay_ms = b->latency_hi_ms;
  }

  double v = (b->drop_rate > 0 || b->garbage_rate > 0) ? rng_unit() : 1.0;
  if (b->drop || v < b->drop_rate) {
    r->outcome = OUTCOME_DROP;
    return;
  }
  if (b->garbage || v < b->drop_rate + b->garbage_rate) {
    r->outcome = OUTCOME_GARBAGE;
    return;
  }
  if (b->endless_headers) {
    if (!s->tls) {
      r->outcome = OUTCOME_ENDLESS;
      return;
    }
    r->status = 501;
    snprintf(r->text, sizeof r->text, "endless_headers needs plain HTTP\n");
    r->buf = (const unsigned char *)r->text;
    r->len = strlen(r->text);
    return;
  }

  if (b->fail_first > 0 && r->a.job_seen <= b->fail_first) {
    r->status = b->fail_status;
  } else if (r->a.t_ns < (uint64_t)b->fail_until_ms * MOCK_NS_PER_MS) {
    /* The arrival's own time, as /__stats lists it: a test can tell from
     * t_ms alone which answer an arrival got. */
    r->status = b->fail_status;
  } else {
    double u = (b->fail_rate > 0 || b->fail503_rate > 0) ? rng_unit() : 1.0;
    if (u < b->fail_rate)
      r->status = 500;
    else if (u < b->fail_rate + b->fail503_rate)
      r->status = 503;
    else if (b->redirect != REDIRECT_NONE) {
      r->status = b->redirect_code;
      r->redirect = true;
    } else
      r->status = b->status;
  }

  if (r->status == 204 || r->status == 304) {
    r->buf = (const unsigned char *)"";
    r->len = 0;
  } else if (b->gzip_bomb > 0) {
    char err[120];
    size_t len;
    if (bomb_get(s->bombs, b->gzip_bomb, &r->buf, &len, err, sizeof err) != 0) {
      r->status = 500;
      snprintf(r->text, sizeof r->text, "%s\n", err);
      r->buf = (const unsigned char *)r->text;
      r->len = strlen(r->text);
      return;
    }
    r->len = len;
    r->gzip = true;
  } else if (b->bytes >= 0) {
    r->buf = NULL; /* the pattern */
    r->len = (uint64_t)b->bytes;
  } else {
    if (r->status >= 200 && r->status < 300)
      snprintf(r->text, sizeof r->text, "ok\n");
    else
      snprintf(r->text, sizeof r->text, "status %d\n", r->status);
    r->buf = (const unsigned char *)r->text;
    r->len = strlen(r->text);
  }
}

static void arrive(server_t *s, req_t *r, const char *url, const char *method)
{
  struct MHD_Connection *c = r->conn;
  r->counted = true;
  r->b = s->o.defaults;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_cb, r);
  if (r->job == NULL)
    r->job = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Job-Id");
  if (r->prio == NULL)
    r->prio = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Priority");
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

  arrival_in_t in = {url, r->job, r->prio, ci ? ci->socket_context : NULL};
  score_arrive(s->score, &in, &r->a);
  journal_add(s->journal, c, method, url, mock_now_ns());
  plan(s, r);
  score_outcome(s->score, &r->a, r->outcome,
                r->outcome == OUTCOME_HTTP ? r->status : 0);
  r->job = r->prio = NULL; /* MHD's memory: not used after this call */
}

/* ---- answering -------------------------------------------------------- */

static const char pattern[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-\n";
#define PATTERN_LEN (sizeof pattern - 1) /* 64 */

static void fill(const req_t *r, uint64_t pos, char *buf, size_t n)
{
  if (r->buf) {
    memcpy(buf, r->buf + pos, n);
    return;
  }
  size_t off = (size_t)(pos % PATTERN_LEN);
  while (n > 0) {
    size_t k = PATTERN_LEN - off < n ? PATTERN_LEN - off : n;
    memcpy(buf, pattern + off, k);
    buf += k;
    n -= k;
    off = 0;
  }
}

static ssize_t body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  req_t *r = cls;
  server_t *s = r->srv;
  if (atomic_load(&s->stopping))
    return MHD_CONTENT_READER_END_WITH_ERROR;
  if (pos >= r->len)
    return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = r->len - pos < max ? (size_t)(r->len - pos) : max;
  if (r->b.trickle) {
    uint64_t now = mock_now_ns();
    if (pos > 0 && now < r->next_byte_ns) {
      /* Returning 0 is allowed only with the connection suspended. */
      if (delayer_suspend_until(s->delayer, r->conn, r->next_byte_ns) != 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
      return 0;
    }
    r->next_byte_ns = now + (uint64_t)r->b.trickle_ms * MOCK_NS_PER_MS;
    n = 1;
  }
  fill(r, pos, buf, n);
  return (ssize_t)n;
}

static void http_date(int64_t offset_s, char *buf, size_t len)
{
  time_t t = time(NULL) + (time_t)offset_s;
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
    snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* The Host header if it looks like host[:port], else the bound address. */
static void same_origin(server_t *s, struct MHD_Connection *c, char *buf,
                        size_t len)
{
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  bool ok = h != NULL && *h != '\0' && strlen(h) < len;
  for (const char *p = h; ok && *p; p++)
    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
         (*p >= '0' && *p <= '9') || strchr(".-:[]", *p);
  if (ok)
    snprintf(buf, len, "%s", h);
  else
    snprintf(buf, len, s->o.ipv6 ? "[%s]:%u" : "%s:%u", s->o.host,
             atomic_load(&s->port));
}

static void add_headers(server_t *s, req_t *r, struct MHD_Response *resp)
{
  const behaviour_t *b = &r->b;
  char v[320];

  MHD_add_response_header(
      resp, MHD_HTTP_HEADER_CONTENT_TYPE,
      r->gzip || (r->buf == NULL) ? "application/octet-stream" : "text/plain");
  if (r->gzip)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");

  if (r->status == 429 || r->status == 503) {
    if (r->limited)
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    else if (b->retry_after[0])
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                              b->retry_after);
    else if (b->has_retry_after_date) {
      http_date(b->retry_after_date, v, sizeof v);
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
  }

  if (b->ratelimit_headers) {
    uint64_t limit = 10, remaining = r->status == 429 ? 0 : 9, reset = 1;
    if (r->a.has_limit) {
      limit = (uint64_t)s->o.burst;
      remaining = r->a.remaining;
      reset = r->a.reset_s;
      snprintf(v, sizeof v, "%g;w=1;burst=%g", s->o.limit_rate, s->o.burst);
    } else {
      snprintf(v, sizeof v, "10;w=1");
    }
    MHD_add_response_header(resp, "RateLimit-Policy", v);
    snprintf(v, sizeof v, "limit=%llu, remaining=%llu, reset=%llu",
             (unsigned long long)limit, (unsigned long long)remaining,
             (unsigned long long)reset);
    MHD_add_response_header(resp, "RateLimit", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)limit);
    MHD_add_response_header(resp, "X-RateLimit-Limit", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)remaining);
    MHD_add_response_header(resp, "X-RateLimit-Remaining", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)reset);
    MHD_add_response_header(resp, "X-RateLimit-Reset", v);
  }

  if (r->redirect) {
    switch (b->redirect) {
    case REDIRECT_SAME: {
      char origin[260];
      same_origin(s, r->conn, origin, sizeof origin);
      snprintf(v, sizeof v, "%s://%s/final", s->tls ? "https" : "http", origin);
      break;
    }
    case REDIRECT_LOOP: {
      char origin[260];
      same_origin(s, r->conn, origin, sizeof origin);
      snprintf(v, sizeof v, "%s://%s/loop?redirect=loop",
               s->tls ? "https" : "http", origin);
      break;
    }
    case REDIRECT_PORT:
      snprintf(v, sizeof v, "http://127.0.0.1:%d/final", b->to_port);
      break;
    case REDIRECT_FILE:
      snprintf(v, sizeof v, "file:///etc/passwd");
      break;
    case REDIRECT_GOPHER:
      snprintf(v, sizeof v, "gopher://127.0.0.1/");
      break;
    case REDIRECT_NONE:
      v[0] = '\0';
      break;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, v);
  }
}

static void send_garbage(struct MHD_Connection *c)
{
  static const char garbage[] = "HTTP/1.1 abc \x01garbage status line\r\n\r\n";
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  /* A fresh socket buffer takes these few bytes at once; if not, the client
   * sees a short garbage line, which is garbage all the same. */
  if (ci)
    (void)send(ci->connect_fd, garbage, sizeof garbage - 1,
               MSG_NOSIGNAL | MSG_DONTWAIT);
}

static enum MHD_Result deliver(server_t *s, req_t *r)
{
  switch (r->outcome) {
  case OUTCOME_DROP:
    return MHD_NO;
  case OUTCOME_GARBAGE:
    send_garbage(r->conn);
    return MHD_NO;
  case OUTCOME_ENDLESS: {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci && raw_submit_endless(s->raw, r->conn, ci->connect_fd,
                                 r->b.endless_headers, r->b.endless_bytes) == 0)
      return MHD_YES; /* resumed when done; then stage ST_SENT closes it */
    return MHD_NO;
  }
  case OUTCOME_HTTP:
    break;
  }

  struct MHD_Response *resp;
  if (r->buf && !r->b.trickle)
    resp = MHD_create_response_from_buffer((size_t)r->len, (void *)r->buf,
                                           MHD_RESPMEM_PERSISTENT);
  else
    resp =
        MHD_create_response_from_callback(r->len, 16384, body_reader, r, NULL);
  if (resp == NULL)
    return MHD_NO;
  add_headers(s, r, resp);
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Later calls of the handler for a counted request. */
static enum MHD_Result proceed(server_t *s, req_t *r)
{
  if (r->stage == ST_PLANNED && r->delay_ms > 0) {
    r->stage = ST_DELAYED;
    uint64_t due = mock_now_ns() + (uint64_t)r->delay_ms * MOCK_NS_PER_MS;
    return delayer_suspend_until(s->delayer, r->conn, due) == 0 ? MHD_YES
                                                                : MHD_NO;
  }
  if (r->stage == ST_SENT)
    return MHD_NO; /* resumed after raw.c wrote endless headers */
  r->stage = ST_SENT;
  return deliver(s, r);
}

/* ---- control endpoints ------------------------------------------------ */

/* Takes text (malloc'd); MHD frees it. */
static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  char *text)
{
  if (text == NULL)
    return MHD_NO;
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      strlen(text), text, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free(text);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          "application/json");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Takes j. */
static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status,
                                  json_t *j)
{
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
  json_decref(j);
  return reply_text(c, status, text);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status,
                                   const char *msg)
{
  return reply_json(c, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result control(server_t *s, struct MHD_Connection *c,
                               const char *url, const char *method)
{
  bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  bool post = strcmp(method, "POST") == 0;
  if (strcmp(url, "/__stats") == 0) {
    if (!get)
      return reply_error(c, 405, "use GET /__stats");
    const char *lists =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lists");
    json_t *extra = json_pack("{s:i, s:b}", "port", (int)atomic_load(&s->port),
                              "tls", (int)s->tls);
    char *text = score_dump(s->score, mock_now_ns(),
                            lists == NULL || strcmp(lists, "0") != 0, extra);
    json_decref(extra);
    return reply_text(c, 200, text);
  }
  if (strcmp(url, "/__requests") == 0) {
    if (!get)
      return reply_error(c, 405, "use GET /__requests");
    return reply_json(c, 200, journal_json(s->journal));
  }
  if (strcmp(url, "/__reset") == 0) {
    if (!post)
      return reply_error(c, 405, "use POST /__reset");
    uint64_t now = mock_now_ns();
    score_reset(s->score, now);
    journal_reset(s->journal, now);
    return reply_json(c, 200, json_pack("{s:b}", "reset", 1));
  }
  return reply_error(c, 404, "unknown control endpoint; see --help");
}

/* ---- MHD callbacks ---------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
  server_t *s = cls;
  req_t *r = *req_cls;
  if (r == NULL) {
    if ((r = calloc(1, sizeof *r)) == NULL)
      return MHD_NO;
    r->srv = s;
    r->conn = c;
    *req_cls = r;
    if (strncmp(url, "/__", 3) == 0)
      r->control = true;
    else
      arrive(s, r, url, method);
    return MHD_YES;
  }
  if (*upload_size > 0) {
    *upload_size = 0; /* request bodies are read and ignored */
    return MHD_YES;
  }
  if (atomic_load(&s->stopping))
    return MHD_NO;
  if (r->control)
    return control(s, c, url, method);
  return proceed(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
  server_t *s = cls;
  req_t *r = *req_cls;
  if (r == NULL)
    return;
  if (r->counted)
    score_done(s->score);
  free(r);
  *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  server_t *s = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    mock_conn_t *mc = calloc(1, sizeof *mc);
    *socket_context = mc;
    if (mc)
      score_conn_open(s->score, mc);
  } else if (*socket_context) {
    score_conn_close(s->score);
    free(*socket_context);
    *socket_context = NULL;
  }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  server_t *s = cls;
  if (s->o.verbose) {
    fputs("pacer-mock: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
  }
}

/* ---- lifecycle -------------------------------------------------------- */

static char *read_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "pacer-mock: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0)
      break;
    if (len + 1 == cap) {
      char *grown = cap < (1u << 24) ? realloc(buf, cap * 2) : NULL;
      if (grown == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
  }
  bool err = ferror(f) != 0;
  fclose(f);
  if (buf == NULL || err) {
    fprintf(stderr, "pacer-mock: %s: cannot read it whole\n", path);
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

static void server_free(server_t *s)
{
  free(s->tls_cert);
  free(s->tls_key);
  bomb_cache_free(s->bombs);
  raw_free(s->raw);
  delayer_free(s->delayer);
  journal_free(s->journal);
  score_free(s->score);
  free(s);
}

int server_start(const mock_options_t *o, server_t **out)
{
  server_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return -1;
  s->o = *o;
  atomic_init(&s->stopping, false);
  atomic_init(&s->port, 0);
  rng_seed = o->has_seed ? o->seed : mock_now_ns() ^ (uint64_t)getpid();
  uint64_t now = mock_now_ns();
  s->score =
      score_new(o->max_arrivals, o->has_limit, o->limit_rate, o->burst, now);
  s->journal = journal_new(o->keep_requests, now);
  s->bombs = bomb_cache_new();
  s->delayer = delayer_new();
  s->raw = raw_new();
  if (!s->score || !s->journal || !s->bombs || !s->delayer || !s->raw) {
    fprintf(stderr, "pacer-mock: out of memory or threads\n");
    server_free(s);
    return -1;
  }
  if (o->defaults.gzip_bomb > 0) {
    const unsigned char *d;
    size_t len;
    char err[120];
    if (bomb_get(s->bombs, o->defaults.gzip_bomb, &d, &len, err, sizeof err) !=
        0) {
      fprintf(stderr, "pacer-mock: %s\n", err);
      server_free(s);
      return -1;
    }
  }

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (o->ipv6)
    flags |= MHD_USE_IPv6;
  /* Options that are there or not go through one MHD_OPTION_ARRAY. */
  struct MHD_OptionItem extra[4];
  size_t nx = 0;
  if (o->threads > 1)
    extra[nx++] =
        (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL};
  if (o->tls_cert) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      fprintf(stderr, "pacer-mock: this libmicrohttpd has no TLS\n");
      server_free(s);
      return -1;
    }
    s->tls_cert = read_file(o->tls_cert);
    s->tls_key = s->tls_cert ? read_file(o->tls_key) : NULL;
    if (s->tls_key == NULL) {
      server_free(s);
      return -1;
    }
    extra[nx++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
    extra[nx++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
    s->tls = true;
    flags |= MHD_USE_TLS;
  }
  extra[nx] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

  s->d = MHD_start_daemon(
      flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
      (const struct sockaddr *)&s->o.addr, MHD_OPTION_CONNECTION_LIMIT,
      o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_ARRAY, extra,
      MHD_OPTION_END);
  if (s->d == NULL) {
    fprintf(stderr,
            "pacer-mock: cannot listen on %s port %u (in use? bad TLS "
            "files? run with --verbose for details)\n",
            o->host, o->port);
    server_free(s);
    return -1;
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  atomic_store(&s->port, di ? di->port : o->port);
  *out = s;
  return 0;
}

unsigned server_port(server_t *s)
{
  return atomic_load(&s->port);
}

void server_stop(server_t *s)
{
  if (s == NULL)
    return;
  /* From here every handler call closes its connection and nothing is
   * suspended any more; then give back what is suspended, then stop. */
  atomic_store(&s->stopping, true);
  raw_stop(s->raw);
  delayer_stop(s->delayer);
  MHD_stop_daemon(s->d);
  server_free(s);
}
