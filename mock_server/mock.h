/* SPDX-License-Identifier: MIT */
/* mock.h - private declarations shared by the pacer-mock modules.
 *
 * pacer-mock is a test referee, not part of libpacer: nothing here is
 * installed. Modules: options (flags and per-request parameters), server
 * (libmicrohttpd glue and request handling), score (statistics), limiter
 * (server-side token bucket), quota (fixed-window quota), journal (recorded
 * request headers), delay (timer that resumes suspended connections), raw (raw
 * socket writer for endless headers), bomb (cached gzip bombs) and site
 * (generated pages and items for the examples). */
#ifndef PACER_MOCK_H
#define PACER_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#define MOCK_NS_PER_MS UINT64_C(1000000)
#define MOCK_NS_PER_S UINT64_C(1000000000)
#define MOCK_MAX_LATENCY_MS 600000u /* any one answer's delay, 10 minutes */

/* Monotonic nanoseconds; the one clock of the whole server. */
static inline uint64_t mock_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * MOCK_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- options.c: command-line flags and per-request behaviour ---------- */

typedef enum {
  REDIRECT_NONE,
  REDIRECT_SAME,
  REDIRECT_PORT,
  REDIRECT_FILE,
  REDIRECT_GOPHER,
  REDIRECT_LOOP /* to /loop?redirect=loop on this host:port, forever */
} redirect_kind_t;

/* How a --quota is announced: bits of behaviour_t.announce. */
enum {
  ANNOUNCE_X = 1,       /* X-RateLimit-Limit/Remaining/Reset, delta seconds */
  ANNOUNCE_X_UNIX = 2,  /* the same, Reset as a Unix time (GitHub) */
  ANNOUNCE_IETF = 4,    /* RateLimit-Policy and RateLimit (RFC 8941) */
  ANNOUNCE_IETF_OLD = 8 /* RateLimit-Limit/Remaining/Reset (older drafts) */
};

/* What one request asks for. Filled from the flag defaults, then each query
 * parameter of the same name overrides its field. */
typedef struct behaviour {
  uint32_t latency_lo_ms, latency_hi_ms;
  int status;
  double fail_rate, fail503_rate, drop_rate, garbage_rate;
  uint32_t fail_first;
  uint32_t fail_until_ms; /* 0 = off */
  int fail_status;
  char retry_after[64]; /* "" = none */
  bool has_retry_after_date;
  int64_t retry_after_date; /* seconds from now, may be negative */
  bool ratelimit_headers, drop, garbage, trickle;
  uint32_t trickle_ms;
  int64_t bytes;       /* -1 = the default short text body */
  int endless_headers; /* 0 off, 1 many header lines, 2 one huge header */
  uint64_t endless_bytes;
  uint64_t gzip_bomb; /* inflated size, 0 = off */
  redirect_kind_t redirect;
  int to_port; /* 0 = unset */
  int redirect_code;
  unsigned announce;     /* ANNOUNCE_* bits; 0 = none */
  bool limit_silent;     /* the limits say nothing: no Retry-After, no fields */
  uint32_t latency_knee; /* 0 = off; else latency grows past K in flight */
} behaviour_t;

/* What a --quota counts per: one quota for the server, one per path, per
 * client address, or per value of a request header. */
typedef enum {
  QUOTA_PER_SERVER,
  QUOTA_PER_PATH,
  QUOTA_PER_ADDR,
  QUOTA_PER_HEADER
} quota_per_t;

typedef struct mock_options {
  char host[64];                /* as given, numeric */
  struct sockaddr_storage addr; /* host and port, loopback only */
  bool ipv6;
  unsigned port;
  const char *port_file;
  unsigned threads;
  unsigned max_connections;
  bool has_limit;
  double limit_rate, burst;
  uint64_t quota;          /* requests per window; 0 = no quota */
  uint64_t quota_window_s; /* window length (default 60) */
  quota_per_t quota_per;
  const char *quota_header; /* QUOTA_PER_HEADER: its name */
  size_t max_arrivals, keep_requests;
  const char *tls_cert, *tls_key;
  bool has_seed;
  uint64_t seed;
  bool verbose;
  unsigned site_pages; /* pages of /site/N without ?pages= (default 100) */
  behaviour_t defaults;
} mock_options_t;

/* Parses argv. Returns 0 to run, 1 when --help was printed (exit 0), -1
 * after printing an error to stderr (exit 2). Strings point into argv. */
int options_parse(int argc, char **argv, mock_options_t *o);

/* Applies one behaviour parameter NAME=VALUE (query spelling, underscores).
 * Returns 1 if applied, 0 if NAME is not a behaviour parameter, -1 if VALUE
 * is invalid (err says why). Thread-safe; b is the caller's. */
int behaviour_apply(behaviour_t *b, const char *name, const char *value,
                    char *err, size_t errlen);

/* Decimal digits only (no sign, no spaces), at most max. */
bool mock_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* ---- limiter.c: exact integer token bucket; time is a parameter ------- */

typedef struct mock_bucket {
  uint64_t rate_milli; /* tokens per 1000 s */
  uint64_t cap;        /* burst in units */
  uint64_t level;      /* tokens in units: 1 token = 1e12 units */
  uint64_t last_ns;
} mock_bucket_t;

/* rate in tokens/s (resolution 0.001), burst >= 1 token. Starts full. */
void bucket_init(mock_bucket_t *b, double rate, double burst, uint64_t now_ns);
/* Takes one token if there is one at now_ns; returns true if it did. */
bool bucket_take(mock_bucket_t *b, uint64_t now_ns);
/* Refills to now_ns; true if a token could be taken (none is). */
bool bucket_ready(mock_bucket_t *b, uint64_t now_ns);
/* Whole tokens left (as of the last take). */
uint64_t bucket_remaining(const mock_bucket_t *b);
/* Whole seconds, rounded up, until the bucket is full again. */
uint64_t bucket_secs_to_full(const mock_bucket_t *b);

/* ---- quota.c: fixed-window quota per key; time is a parameter -------- */

typedef struct quota quota_t;

/* A key's quota as one arrival left it. */
typedef struct quota_state {
  uint64_t limit, remaining;
  uint64_t reset_ns; /* until the window ends, > 0 */
} quota_state_t;

/* limit >= 1 requests per window_s >= 1 seconds, windows from t = 0; past
 * max_keys keys the rest share one counter. NULL if out of memory. */
quota_t *quota_new(uint64_t limit, uint64_t window_s, size_t max_keys);
void quota_free(quota_t *q);
/* Empties every window (a score reset). */
void quota_reset(quota_t *q);
/* Would key (NULL: the empty key) accept an arrival at t_ns? If so and
 * charge, counts it. Fills out either way. */
bool quota_take(quota_t *q, const char *key, uint64_t t_ns, bool charge,
                quota_state_t *out);
/* Distinct keys seen since the last reset (the overflow not included). */
size_t quota_keys(const quota_t *q);

/* ---- score.c: statistics, exact under concurrency --------------------- */

typedef enum {
  OUTCOME_HTTP,    /* a normal HTTP response */
  OUTCOME_DROP,    /* connection closed without a response */
  OUTCOME_GARBAGE, /* a garbage status line, then close */
  OUTCOME_ENDLESS  /* headers that never end, then close */
} outcome_t;

typedef struct score score_t;

/* Per TCP connection state; lives in MHD's socket context. */
typedef struct mock_conn {
  uint64_t id;
  uint64_t counted_gen; /* score generation in which it was last counted */
} mock_conn_t;

typedef struct arrival_in {
  const char *path;
  const char *job;       /* NULL if none */
  const char *prio;      /* NULL if none */
  const char *quota_key; /* the --quota key; NULL if one for the server */
  bool uncharged;        /* a bad request (400): neither charged nor refused */
  mock_conn_t *conn;
} arrival_in_t;

/* Which of the server's limits refused an arrival. */
typedef enum { REFUSED_NONE, REFUSED_QUOTA, REFUSED_LIMIT } refused_t;

typedef struct arrival_out {
  size_t slot;       /* where the arrival is listed, SIZE_MAX if not */
  uint64_t gen;      /* score generation (bumped by each reset) */
  uint64_t job_seen; /* arrivals of this job id so far, this one included */
  uint64_t t_ns;     /* arrival time since start or the last reset */
  bool limited;      /* refused by a server limit: answer 429 */
  refused_t refused; /* which one */
  bool has_limit;
  uint64_t remaining, reset_s; /* the bucket after this arrival */
  bool has_quota;
  quota_state_t quota; /* the key's quota after this arrival */
  uint64_t in_flight;  /* counted requests in progress, this one too */
} arrival_out_t;

/* Takes the limits (--limit, --quota) and max_arrivals from o. */
score_t *score_new(const mock_options_t *o, uint64_t now_ns);
void score_free(score_t *s);
/* Counts one request (not the control endpoints); reads the clock inside its
 * lock so that arrivals are in time order. */
void score_arrive(score_t *s, const arrival_in_t *in, arrival_out_t *out);
/* Records what the server chose for an arrival; ignored if a reset came
 * between. status is 0 for outcomes other than OUTCOME_HTTP; delay_ms is
 * the planned latency. */
void score_outcome(score_t *s, const arrival_out_t *a, outcome_t outcome,
                   int status, uint32_t delay_ms);
/* A counted request finished (response sent, or connection gone). */
void score_done(score_t *s);
void score_conn_open(score_t *s, mock_conn_t *c);
void score_conn_close(score_t *s);
void score_reset(score_t *s, uint64_t now_ns);
/* The /__stats JSON text, with extra's members added; free() it. NULL if out
 * of memory. with_lists=false omits per_second, refused_per_second,
 * arrivals and duplicates. */
char *score_dump(score_t *s, uint64_t now_ns, bool with_lists, json_t *extra);

/* ---- journal.c: the last N requests' headers and bodies -------------- */

typedef struct journal journal_t;

#define MOCK_FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* FNV-1a 64 of n more bytes, continuing from h (start at MOCK_FNV_OFFSET). */
static inline uint64_t mock_fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

/* What arrived as the request body: its length and FNV-1a 64 hash. */
typedef struct journal_body {
  uint64_t bytes;
  uint64_t fnv1a;
} journal_body_t;

journal_t *journal_new(size_t cap, uint64_t now_ns);
void journal_free(journal_t *j);
/* json_string(s), with bytes that are not valid UTF-8 replaced by '?'. */
json_t *mock_json_str(const char *s);
/* json_object_set_new(o, key, v), the key mended the same way if needed. */
void mock_json_set(json_t *o, const char *key, json_t *v);
/* Records one request that arrived at now_ns; body may be NULL (none). */
void journal_add(journal_t *j, struct MHD_Connection *c, const char *method,
                 const char *path, uint64_t now_ns, const journal_body_t *body);
void journal_reset(journal_t *j, uint64_t now_ns);
json_t *journal_json(journal_t *j); /* new reference */

/* ---- delay.c: resumes suspended connections when they are due --------- */

typedef struct delayer delayer_t;

delayer_t *delayer_new(void);
/* Suspends c (call only from MHD's access handler or a content reader) and
 * resumes it at due_ns. Returns -1 without suspending once stopping. */
int delayer_suspend_until(delayer_t *d, struct MHD_Connection *c,
                          uint64_t due_ns);
/* Resumes every waiting connection now, refuses new ones, joins. */
void delayer_stop(delayer_t *d);
void delayer_free(delayer_t *d);

/* ---- raw.c: raw writer for responses MHD cannot produce --------------- */

typedef struct raw raw_t;

raw_t *raw_new(void);
/* Suspends c and writes endless headers (mode 1 lines, 2 one long value) on
 * fd until limit bytes or the peer goes; then resumes c, which the handler
 * then closes. Returns -1 without suspending once stopping. */
int raw_submit_endless(raw_t *r, struct MHD_Connection *c, int fd, int mode,
                       uint64_t limit);
void raw_stop(raw_t *r);
void raw_free(raw_t *r);

/* ---- bomb.c: gzip bodies that inflate to N zero bytes ----------------- */

typedef struct bomb_cache bomb_cache_t;

bomb_cache_t *bomb_cache_new(void);
void bomb_cache_free(bomb_cache_t *bc);
/* Finds or builds the gzip of n zero bytes. *data stays valid until
 * bomb_cache_free. Returns 0, or -1 with err set. */
int bomb_get(bomb_cache_t *bc, uint64_t n, const unsigned char **data,
             size_t *len, char *err, size_t errlen);

/* ---- site.c: generated pages and items for the examples -------------- */

typedef struct site_answer {
  int status;       /* 200, 400 (bad pages/links/count), 404, 500 */
  const char *type; /* Content-Type, static */
  char *body;       /* free() it; NULL only when out of memory */
  size_t len;
} site_answer_t;

/* The price /item/K answers with; a client can check a sum against it. */
static inline uint64_t site_item_price(uint64_t k)
{
  return (k * 37) % 100 + 1;
}

/* If url is /site/N, /items or /item/K, fills *out with the generated answer
 * (reading pages, links and count from c's query) and returns true; else
 * returns false and *out holds nothing to free. Thread-safe. */
bool site_answer(struct MHD_Connection *c, const char *url,
                 unsigned default_pages, site_answer_t *out);

/* ---- server.c --------------------------------------------------------- */

typedef struct server server_t;

/* Starts listening; prints nothing. Returns 0 or -1 after a message. */
int server_start(const mock_options_t *o, server_t **out);
unsigned server_port(server_t *s);
/* Resumes every suspended connection, stops the daemon, frees it all. */
void server_stop(server_t *s);

#endif
