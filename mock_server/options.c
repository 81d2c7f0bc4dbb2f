/* SPDX-License-Identifier: MIT */
/* options.c - pacer-mock's command-line flags and per-request parameters.
 *
 * One table of behaviour parameters serves three uses: parsing a request's
 * query string, parsing the flag of the same name that sets its default
 * (underscores or hyphens alike: --fail503-rate == --fail503_rate), and
 * printing --help. Every value is checked completely: no sign where none is
 * allowed, no trailing bytes, no overflow. */
#include "mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- value parsers ---------------------------------------------------- */

/* Decimal digits only, at most max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
  uint64_t v = 0;
  if (s == NULL || *s == '\0')
    return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    unsigned d = (unsigned)(*s - '0');
    /* d > max first: (max - d) would wrap and let a digit above a small
     * maximum (7 where 2 is allowed) through. */
    if (d > max || v > (max - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool mock_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
  return parse_u64(s, max, out);
}

/* An optional '-', then digits; |value| <= max. */
static bool parse_i64(const char *s, uint64_t max, int64_t *out)
{
  bool neg = s != NULL && *s == '-';
  uint64_t m;
  if (!parse_u64(neg ? s + 1 : s, max, &m) || max > INT64_MAX)
    return false;
  *out = neg ? -(int64_t)m : (int64_t)m;
  return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
  char *end;
  if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t')
    return false;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static bool parse_bool(const char *s, bool *out)
{
  if (s == NULL)
    return false;
  if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0) {
    *out = true;
    return true;
  }
  if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0) {
    *out = false;
    return true;
  }
  return false;
}

/* "none", or a comma list of announce forms, each at most once, not both
 * X-RateLimit forms (they would send two X-RateLimit-Reset). */
static bool parse_announce(const char *s, unsigned *out)
{
  static const char *const forms[] = {"x-ratelimit", "x-ratelimit-unix", "ietf",
                                      "ietf-old"};
  unsigned bits = 0;
  if (s == NULL || *s == '\0')
    return false;
  if (strcmp(s, "none") == 0) {
    *out = 0;
    return true;
  }
  for (;;) {
    size_t n = strcspn(s, ",");
    unsigned bit = 0;
    for (unsigned k = 0; k < sizeof forms / sizeof forms[0]; k++)
      if (strlen(forms[k]) == n && strncmp(s, forms[k], n) == 0)
        bit = 1u << k;
    if (bit == 0 || (bits & bit))
      return false;
    bits |= bit;
    if (s[n] == '\0')
      break;
    s += n + 1;
  }
  if ((bits & ANNOUNCE_X) && (bits & ANNOUNCE_X_UNIX))
    return false;
  *out = bits;
  return true;
}

/* ---- behaviour parameters --------------------------------------------- */

enum pkind {
  P_LATENCY,
  P_STATUS,
  P_PROB,
  P_U32,
  P_BOOL,
  P_RETRY_AFTER,
  P_DATE,
  P_BYTES,
  P_U64,
  P_ENDLESS,
  P_REDIRECT,
  P_PORT,
  P_REDIRECT_CODE,
  P_ANNOUNCE
};

struct param {
  const char *name; /* query spelling */
  enum pkind kind;
  size_t off;
  uint64_t max; /* for P_U32, P_U64, P_BYTES */
  const char *metavar;
  const char *help;
};

#define OFF(f) offsetof(behaviour_t, f)
#define MAX_LATENCY_MS MOCK_MAX_LATENCY_MS

static const struct param params[] = {
    {"latency_ms", P_LATENCY, 0, 0, "N|A-B",
     "delay before answering: N ms, or uniform in [A,B] ms (default 0)"},
    {"latency_knee", P_U32, OFF(latency_knee), 1000000, "K",
     "latency grows with concurrency past K requests in flight at the "
     "server (this one included, counted at its arrival): the delay drawn "
     "from latency_ms is multiplied by in_flight / K, at most 600000 ms, so "
     "past the knee the server serves K at once and only queues the rest "
     "(default 0: off; needs latency_ms)"},
    {"status", P_STATUS, OFF(status), 0, "200..599",
     "status of a normal answer (default 200)"},
    {"fail_rate", P_PROB, OFF(fail_rate), 0, "0..1",
     "probability 0..1 of a 500 instead (default 0)"},
    {"fail503_rate", P_PROB, OFF(fail503_rate), 0, "0..1",
     "probability 0..1 of a 503 instead (default 0); fail_rate and "
     "fail503_rate are disjoint slices of one draw"},
    {"fail_first", P_U32, OFF(fail_first), 1000000000, "K",
     "the first K arrivals of each job id get fail_status, later ones the "
     "normal answer (default 0); arrivals without a job id count as one job"},
    {"fail_until_ms", P_U32, OFF(fail_until_ms), 1000000000, "T",
     "requests arriving less than T ms after the server started or was last "
     "reset get fail_status, later ones the normal answer, so a path can "
     "fail and then recover (default 0: off)"},
    {"fail_status", P_STATUS, OFF(fail_status), 0, "200..599",
     "status used by fail_first and fail_until_ms (default 503)"},
    {"retry_after", P_RETRY_AFTER, 0, 0, "V",
     "add 'Retry-After: V' to a 429 or 503 (V verbatim, printable, <= 63 "
     "bytes, so malformed values can be tested too)"},
    {"retry_after_date", P_DATE, 0, 0, "N",
     "add Retry-After to a 429 or 503 as an HTTP date N seconds from now "
     "(N may be negative)"},
    {"ratelimit_headers", P_BOOL, OFF(ratelimit_headers), 0, "0|1",
     "add RateLimit-Policy, RateLimit and X-RateLimit-Limit/Remaining/Reset; "
     "with --limit: policy 'RATE;w=1;burst=B', limit B, remaining the whole "
     "tokens left after this request, reset the seconds until the bucket is "
     "full; without: '10;w=1', limit 10, remaining 9 (0 on a 429), reset 1. "
     "Reset values are delta seconds. None with limit_silent, or where a "
     "--quota is announced instead"},
    {"announce", P_ANNOUNCE, OFF(announce), 0,
     "none|x-ratelimit|x-ratelimit-unix|ietf|ietf-old[,...]",
     "how --quota's state after this request is announced, on every answer: "
     "x-ratelimit = X-RateLimit-Limit/Remaining/Reset with Reset in delta "
     "seconds; x-ratelimit-unix = the same with Reset a Unix time, as GitHub "
     "sends; ietf = 'RateLimit-Policy: \"q\";q=N;w=W' and 'RateLimit: "
     "\"q\";r=R;t=T' (draft-ietf-httpapi-ratelimit-headers, RFC 8941; with "
     "--quota-per other than server, both carry ;pk=, the key's FNV-1a 64 "
     "as a byte sequence); ietf-old = RateLimit-Limit/Remaining/Reset. R is "
     "what the key has left after this request, T and the delta Reset the "
     "seconds to its window's end rounded up. A comma list sends several "
     "(not both x-ratelimit forms). Default x-ratelimit; replaces "
     "ratelimit_headers; nothing without --quota"},
    {"limit_silent", P_BOOL, OFF(limit_silent), 0, "0|1",
     "the server's limits (--limit, --quota) refuse with a bare 429: no "
     "Retry-After, and no answer carries RateLimit or X-RateLimit fields, "
     "whatever announce or ratelimit_headers say"},
    {"drop", P_BOOL, OFF(drop), 0, "0|1",
     "close the connection without any response"},
    {"drop_rate", P_PROB, OFF(drop_rate), 0, "0..1",
     "probability 0..1 of drop=1 (default 0)"},
    {"garbage", P_BOOL, OFF(garbage), 0, "0|1",
     "send a garbage status line, then close (plain HTTP; over TLS the bytes "
     "break the TLS stream instead)"},
    {"garbage_rate", P_PROB, OFF(garbage_rate), 0, "0..1",
     "probability 0..1 of garbage=1 (default 0); drop_rate and garbage_rate "
     "are disjoint slices of one draw"},
    {"trickle", P_BOOL, OFF(trickle), 0, "0|1",
     "send the body one byte at a time, trickle_ms apart"},
    {"trickle_ms", P_U32, OFF(trickle_ms), MAX_LATENCY_MS, "T",
     "pause between trickled bytes (default 100)"},
    {"bytes", P_BYTES, OFF(bytes), UINT64_C(1) << 40, "N",
     "body of exactly N bytes (default: a short text)"},
    {"endless_headers", P_ENDLESS, OFF(endless_headers), 0, "0|1|2",
     "1: a 200 status line then header lines without end; 2: one header "
     "whose value never ends; stops after endless_bytes or when the client "
     "closes, then closes (plain HTTP only; 501 over TLS)"},
    {"endless_bytes", P_U64, OFF(endless_bytes), UINT64_C(1) << 40, "N",
     "bytes endless_headers sends before giving up (default 67108864)"},
    {"gzip_bomb", P_U64, OFF(gzip_bomb), UINT64_C(4) << 30, "N",
     "body is gzip (Content-Encoding: gzip) of N zero bytes, N <= 4 GiB, "
     "built once per N and cached"},
    {"redirect", P_REDIRECT, OFF(redirect), 0,
     "none|same|port|file|gopher|loop",
     "answer a redirect: same = /final on this host:port, port = "
     "http://127.0.0.1:to_port/final, file = file:///etc/passwd, gopher = "
     "gopher://127.0.0.1/, loop = /loop?redirect=loop on this host:port"},
    {"to_port", P_PORT, OFF(to_port), 0, "1..65535",
     "target port of redirect=port"},
    {"redirect_code", P_REDIRECT_CODE, OFF(redirect_code), 0,
     "301|302|303|307|308", "status of a redirect (default 302)"},
};

#define NPARAMS (sizeof params / sizeof params[0])

static const struct param *find_param(const char *name)
{
  for (size_t i = 0; i < NPARAMS; i++)
    if (strcmp(params[i].name, name) == 0)
      return &params[i];
  return NULL;
}

static int apply(const struct param *p, behaviour_t *b, const char *v,
                 const char *prefix, char *err, size_t errlen)
{
  char *field = (char *)b + p->off;
  uint64_t u;
  int64_t i;
  bool ok = false;

  switch (p->kind) {
  case P_LATENCY: {
    const char *dash = v ? strchr(v, '-') : NULL;
    uint64_t lo = 0, hi = 0;
    if (dash == NULL) {
      ok = parse_u64(v, MAX_LATENCY_MS, &lo);
      hi = lo;
    } else {
      char first[24];
      size_t n = (size_t)(dash - v);
      ok = n > 0 && n < sizeof first;
      if (ok) {
        memcpy(first, v, n);
        first[n] = '\0';
        ok = parse_u64(first, MAX_LATENCY_MS, &lo) &&
             parse_u64(dash + 1, MAX_LATENCY_MS, &hi) && lo <= hi;
      }
    }
    if (ok) {
      b->latency_lo_ms = (uint32_t)lo;
      b->latency_hi_ms = (uint32_t)hi;
    }
    break;
  }
  case P_STATUS:
  case P_REDIRECT_CODE:
  case P_PORT:
    ok = parse_u64(v, 65535, &u);
    if (ok && p->kind == P_STATUS)
      ok = u >= 200 && u <= 599;
    if (ok && p->kind == P_PORT)
      ok = u >= 1;
    if (ok && p->kind == P_REDIRECT_CODE)
      ok = u == 301 || u == 302 || u == 303 || u == 307 || u == 308;
    if (ok)
      *(int *)(void *)field = (int)u;
    break;
  case P_PROB:
    ok = parse_double(v, 0.0, 1.0, (double *)(void *)field);
    break;
  case P_U32:
    ok = parse_u64(v, p->max, &u);
    if (ok)
      *(uint32_t *)(void *)field = (uint32_t)u;
    break;
  case P_ANNOUNCE:
    ok = parse_announce(v, &b->announce);
    break;
  case P_U64:
    ok = parse_u64(v, p->max, &u);
    if (ok)
      *(uint64_t *)(void *)field = u;
    break;
  case P_BYTES:
    ok = parse_u64(v, p->max, &u);
    if (ok)
      *(int64_t *)(void *)field = (int64_t)u;
    break;
  case P_BOOL:
    ok = parse_bool(v, (bool *)(void *)field);
    break;
  case P_ENDLESS:
    ok = parse_u64(v, 2, &u);
    if (ok)
      b->endless_headers = (int)u;
    break;
  case P_RETRY_AFTER: {
    size_t n = v ? strlen(v) : 0;
    ok = v != NULL && n < sizeof b->retry_after;
    for (size_t k = 0; ok && k < n; k++)
      ok = v[k] >= 0x20 && v[k] < 0x7f;
    if (ok)
      memcpy(b->retry_after, v, n + 1);
    break;
  }
  case P_DATE:
    ok = parse_i64(v, 1000000000, &i);
    if (ok) {
      b->has_retry_after_date = true;
      b->retry_after_date = i;
    }
    break;
  case P_REDIRECT: {
    static const char *const names[] = {"none", "same",   "port",
                                        "file", "gopher", "loop"};
    for (size_t k = 0; v && k < sizeof names / sizeof names[0]; k++)
      if (strcmp(v, names[k]) == 0) {
        b->redirect = (redirect_kind_t)k;
        ok = true;
      }
    break;
  }
  }
  if (!ok) {
    char shown[32]; /* the flag spelling uses hyphens */
    snprintf(shown, sizeof shown, "%s", p->name);
    for (char *c = shown; *prefix && *c; c++)
      if (*c == '_')
        *c = '-';
    snprintf(err, errlen, "bad value for %s%s: '%s' (expected %s)", prefix,
             shown, v ? v : "", p->metavar);
    return -1;
  }
  return 1;
}

int behaviour_apply(behaviour_t *b, const char *name, const char *value,
                    char *err, size_t errlen)
{
  const struct param *p = find_param(name);
  return p ? apply(p, b, value, "", err, errlen) : 0;
}

static void behaviour_defaults(behaviour_t *b)
{
  memset(b, 0, sizeof *b);
  b->status = 200;
  b->fail_status = 503;
  b->trickle_ms = 100;
  b->bytes = -1;
  b->endless_bytes = UINT64_C(64) << 20;
  b->redirect_code = 302;
  b->announce = ANNOUNCE_X;
}

/* ---- server flags ----------------------------------------------------- */

enum fkind {
  F_HOST,
  F_PORT,
  F_PORT_FILE,
  F_THREADS,
  F_MAX_CONN,
  F_LIMIT,
  F_BURST,
  F_QUOTA,
  F_QUOTA_WINDOW_S,
  F_QUOTA_PER,
  F_MAX_ARRIVALS,
  F_KEEP_REQUESTS,
  F_TLS_CERT,
  F_TLS_KEY,
  F_SEED,
  F_SITE_PAGES,
  F_VERBOSE,
  F_HELP
};

struct flag {
  const char *name; /* underscore spelling */
  enum fkind kind;
  const char *metavar; /* NULL: takes no value */
  const char *help;
};

static const struct flag flags[] = {
    {"host", F_HOST, "ADDR",
     "loopback address to bind: 127.0.0.1 (default), any 127.x.y.z, or ::1; "
     "anything else is refused"},
    {"port", F_PORT, "N", "port to bind (default 8080); 0 picks a free one"},
    {"port_file", F_PORT_FILE, "FILE",
     "write the bound port and a newline to FILE (atomically, by rename) "
     "before the startup line is printed"},
    {"threads", F_THREADS, "N", "worker threads (default 2)"},
    {"max_connections", F_MAX_CONN, "N",
     "open connections allowed at once (default 10000; the file descriptor "
     "limit is raised to fit when it can be)"},
    {"limit", F_LIMIT, "RATE",
     "server-side token bucket, RATE requests/s (resolution 0.001): a "
     "request over it gets 429 with Retry-After: 1 (none with "
     "--limit-silent) and counts as overshoot"},
    {"burst", F_BURST, "B",
     "bucket size of --limit (default: RATE rounded up, at least 1)"},
    {"quota", F_QUOTA, "N",
     "fixed-window quota: N requests (1..1000000000) per --quota-window-s "
     "per --quota-per key; a request over it gets 429 and counts in "
     "refused_by.quota. Windows start at the server's start or last reset "
     "(window k is t_ms in [k*W*1000, (k+1)*W*1000)); only accepted "
     "requests are counted. Announced as --announce says"},
    {"quota_window_s", F_QUOTA_WINDOW_S, "W",
     "window of --quota in seconds (1..86400, default 60)"},
    {"quota_per", F_QUOTA_PER, "server|path|addr|header:NAME",
     "what --quota counts per: server (default: one quota for everyone, as "
     "processes on one host share it), path (one per URL path), addr (one "
     "per client IP address; on loopback only clients that bind distinct "
     "127.x.y.z addresses differ), header:NAME (one per value of request "
     "header NAME, such as an API key; requests without it share one)"},
    {"max_arrivals", F_MAX_ARRIVALS, "N",
     "arrivals (and distinct job ids) kept for /__stats (default 1000000); "
     "past that the list stops and arrivals_truncated is true"},
    {"keep_requests", F_KEEP_REQUESTS, "N",
     "requests whose headers /__requests keeps, newest (default 1000)"},
    {"tls_cert", F_TLS_CERT, "FILE", "serve HTTPS with this PEM certificate"},
    {"tls_key", F_TLS_KEY, "FILE", "PEM private key of --tls-cert"},
    {"seed", F_SEED, "N",
     "seed of the random draws (default: from the clock); each worker "
     "thread draws from its own stream"},
    {"site_pages", F_SITE_PAGES, "N",
     "pages of the generated site /site/0 .. /site/N-1 when a request has no "
     "pages= (default 100, at most 100000)"},
    {"verbose", F_VERBOSE, NULL, "log libmicrohttpd's errors to stderr"},
    {"help", F_HELP, NULL, "print this help and exit"},
};

#define NFLAGS (sizeof flags / sizeof flags[0])

static void print_wrapped(FILE *f, const char *text)
{
  /* Indent 8, wrap at 78. */
  const int width = 70;
  while (*text) {
    int n = (int)strlen(text);
    if (n > width) {
      n = width;
      while (n > 0 && text[n] != ' ')
        n--;
      if (n == 0)
        n = width;
    }
    fprintf(f, "        %.*s\n", n, text);
    text += n;
    while (*text == ' ')
      text++;
  }
}

static void print_name(FILE *f, const char *name, const char *metavar)
{
  fputs("  --", f);
  for (const char *c = name; *c; c++)
    fputc(*c == '_' ? '-' : *c, f);
  if (metavar)
    fprintf(f, " %s", metavar);
  fputc('\n', f);
}

static void usage(FILE *f)
{
  fputs(
      "Usage: pacer-mock [FLAG VALUE | FLAG=VALUE]...\n"
      "A local HTTP/1.1 referee server for pacer's tests: it answers as each\n"
      "request's query string asks and keeps score. It binds to loopback "
      "only,\n"
      "prints 'pacer-mock listening on HOST:PORT' on stdout when ready, and\n"
      "stops cleanly (exit 0) on SIGTERM or SIGINT. Bad flags exit 2.\n"
      "\nServer flags:\n",
      f);
  for (size_t i = 0; i < NFLAGS; i++) {
    print_name(f, flags[i].name, flags[i].metavar);
    print_wrapped(f, flags[i].help);
  }
  fputs("\nBehaviour: each is a query parameter NAME=VALUE of any request;\n"
        "the flag --NAME VALUE sets its default for every request (a 0|1\n"
        "flag alone means 1: --limit-silent).\n",
        f);
  for (size_t i = 0; i < NPARAMS; i++) {
    print_name(f, params[i].name, params[i].metavar);
    print_wrapped(f, params[i].help);
  }
  fputs(
      "\nPrecedence: a bad parameter gives 400; over --quota or --limit gives\n"
      "429; then drop/garbage; endless_headers; then the status: fail_first,\n"
      "then fail_until_ms, then fail_rate/fail503_rate, then redirect, then\n"
      "status. A 400 is counted but neither charged to the limits nor\n"
      "refused by them; a request they refuse is charged to neither.\n"
      "The body: gzip_bomb, else bytes, else a short text; trickle applies to\n"
      "it; latency_ms (and latency_knee) delays everything but the 400 and\n"
      "the limits' 429.\n"
      "\nIdentity: job=ID (or header X-Job-Id) and prio=P or priority=P (or\n"
      "header X-Priority) are recorded with each arrival.\n"
      "\nControl endpoints (never limited, counted or recorded):\n"
      "  GET  /__stats      JSON score since start or reset: total, paths,\n"
      "                     max_1s_window (most arrivals in any (t-1s, t]),\n"
      "                     peak_concurrency, in_flight, per_second,\n"
      "                     refused_per_second, overshoot (refused by\n"
      "                     --limit), refused (by --limit or --quota),\n"
      "                     refused_by {quota, limit}, status_counts,\n"
      "                     dropped, garbage, endless_headers, arrivals\n"
      "                     [{job, priority, t_ms, path, status, conn,\n"
      "                     outcome, refused (quota|limit), delay_ms}],\n"
      "                     duplicates, connections (that carried a counted\n"
      "                     request), connections_accepted, open_connections,\n"
      "                     limit, quota; ?lists=0 leaves out the lists\n"
      "  GET  /__requests   the last --keep-requests requests: method, path,\n"
      "                     query, headers, t_ms\n"
      "  POST /__reset      clears the score, the record, the bucket and the\n"
      "                     quota, and restarts the clock of t_ms,\n"
      "                     fail_until_ms and the quota's windows\n"
      "\nGenerated content (counted like any path; the behaviour parameters\n"
      "still apply, and their failures, redirects or a status other than 200\n"
      "replace it; bytes and gzip_bomb replace its body):\n"
      "  GET /site/N        HTML page N (0 <= N < pages; else 404) with\n"
      "                     `links` links: /site/(N+1)%pages first, then\n"
      "                     /site/((N*7 + i*13 + 1)%pages), then /site/999999\n"
      "                     (a 404); pages= (1..100000, default --site-pages)\n"
      "                     and links= (0..100, default 5) are repeated in\n"
      "                     the hrefs when given\n"
      "  GET /items         ?count=N (0..100000, default 20):\n"
      "                     {\"items\":[{\"id\":1,\"url\":\"/item/1\"},...]}\n"
      "  GET /item/K        {\"id\":K,\"price\":(K*37)%100+1}\n",
      f);
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("pacer-mock: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(see pacer-mock --help)\n", stderr);
  va_end(ap);
  return -1;
}

static int set_host(mock_options_t *o, const char *v)
{
  memset(&o->addr, 0, sizeof o->addr);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&o->addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->addr;
  if (strlen(v) >= sizeof o->host)
    return fail("--host %s: too long", v);
  if (inet_pton(AF_INET, v, &in4->sin_addr) == 1) {
    if ((ntohl(in4->sin_addr.s_addr) >> 24) != 127)
      return fail("--host %s: not a loopback address", v);
    in4->sin_family = AF_INET;
    o->ipv6 = false;
  } else if (inet_pton(AF_INET6, v, &in6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
      return fail("--host %s: not a loopback address", v);
    in6->sin6_family = AF_INET6;
    o->ipv6 = true;
  } else {
    return fail("--host %s: not a numeric IPv4 or IPv6 address", v);
  }
  strcpy(o->host, v);
  return 0;
}

/* An HTTP field name (RFC 9110 token). */
static bool valid_token(const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
      return false;
  return true;
}

static int set_flag(mock_options_t *o, const struct flag *f, const char *v)
{
  uint64_t u;
  switch (f->kind) {
  case F_HOST:
    return set_host(o, v);
  case F_PORT:
    if (!parse_u64(v, 65535, &u))
      return fail("--port %s: expected 0..65535", v);
    o->port = (unsigned)u;
    return 0;
  case F_PORT_FILE:
    if (*v == '\0')
      return fail("--port-file: empty file name");
    o->port_file = v;
    return 0;
  case F_THREADS:
    if (!parse_u64(v, 256, &u) || u < 1)
      return fail("--threads %s: expected 1..256", v);
    o->threads = (unsigned)u;
    return 0;
  case F_MAX_CONN:
    if (!parse_u64(v, 1000000, &u) || u < 1)
      return fail("--max-connections %s: expected 1..1000000", v);
    o->max_connections = (unsigned)u;
    return 0;
  case F_LIMIT:
    if (!parse_double(v, 0.001, 1e6, &o->limit_rate))
      return fail("--limit %s: expected a rate 0.001..1000000", v);
    o->has_limit = true;
    return 0;
  case F_QUOTA:
    if (!parse_u64(v, 1000000000, &o->quota) || o->quota < 1)
      return fail("--quota %s: expected 1..1000000000", v);
    return 0;
  case F_QUOTA_WINDOW_S:
    if (!parse_u64(v, 86400, &o->quota_window_s) || o->quota_window_s < 1)
      return fail("--quota-window-s %s: expected 1..86400", v);
    return 0;
  case F_QUOTA_PER:
    if (strcmp(v, "server") == 0)
      o->quota_per = QUOTA_PER_SERVER;
    else if (strcmp(v, "path") == 0)
      o->quota_per = QUOTA_PER_PATH;
    else if (strcmp(v, "addr") == 0)
      o->quota_per = QUOTA_PER_ADDR;
    else if (strncmp(v, "header:", 7) == 0 && valid_token(v + 7)) {
      o->quota_per = QUOTA_PER_HEADER;
      o->quota_header = v + 7;
    } else
      return fail("--quota-per %s: expected server, path, addr or "
                  "header:NAME",
                  v);
    return 0;
  case F_BURST:
    if (!parse_double(v, 1.0, 1e6, &o->burst))
      return fail("--burst %s: expected 1..1000000", v);
    return 0;
  case F_MAX_ARRIVALS:
    if (!parse_u64(v, 100000000, &u))
      return fail("--max-arrivals %s: expected 0..100000000", v);
    o->max_arrivals = (size_t)u;
    return 0;
  case F_KEEP_REQUESTS:
    if (!parse_u64(v, 10000000, &u))
      return fail("--keep-requests %s: expected 0..10000000", v);
    o->keep_requests = (size_t)u;
    return 0;
  case F_TLS_CERT:
    o->tls_cert = v;
    return 0;
  case F_TLS_KEY:
    o->tls_key = v;
    return 0;
  case F_SEED:
    if (!parse_u64(v, UINT64_MAX, &o->seed))
      return fail("--seed %s: expected an unsigned integer", v);
    o->has_seed = true;
    return 0;
  case F_SITE_PAGES:
    if (!parse_u64(v, 100000, &u) || u < 1)
      return fail("--site-pages %s: expected 1..100000", v);
    o->site_pages = (unsigned)u;
    return 0;
  case F_VERBOSE:
    o->verbose = true;
    return 0;
  case F_HELP:
    return 1;
  }
  return -1;
}

int options_parse(int argc, char **argv, mock_options_t *o)
{
  memset(o, 0, sizeof *o);
  behaviour_defaults(&o->defaults);
  o->port = 8080;
  o->threads = 2;
  o->max_connections = 10000;
  o->max_arrivals = 1000000;
  o->keep_requests = 1000;
  o->site_pages = 100;
  o->burst = 0;
  o->quota_window_s = 0; /* 0 until given: the default is set below */
  bool announce_given = false;
  if (set_host(o, "127.0.0.1") != 0)
    return -1;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    char name[64];
    const char *value = NULL;
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
      return fail("unexpected argument '%s'", arg);
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n == 0 || n >= sizeof name)
      return fail("unknown flag '%s'", arg);
    for (size_t k = 0; k < n; k++)
      name[k] = arg[2 + k] == '-' ? '_' : arg[2 + k];
    name[n] = '\0';

    const struct flag *f = NULL;
    for (size_t k = 0; k < NFLAGS; k++)
      if (strcmp(flags[k].name, name) == 0)
        f = &flags[k];
    const struct param *p = f ? NULL : find_param(name);
    if (f == NULL && p == NULL)
      return fail("unknown flag '%s'", arg);

    bool wants_value = p != NULL || f->metavar != NULL;
    if (eq)
      value = eq + 1;
    /* A 0|1 behaviour flag alone means 1: --limit-silent, --drop 1 alike. */
    bool next_is_bool =
        i + 1 < argc &&
        (strcmp(argv[i + 1], "0") == 0 || strcmp(argv[i + 1], "1") == 0 ||
         strcmp(argv[i + 1], "true") == 0 || strcmp(argv[i + 1], "false") == 0);
    if (p && p->kind == P_BOOL && value == NULL && !next_is_bool)
      value = "1";
    if (p && p->kind == P_ANNOUNCE)
      announce_given = true;
    if (wants_value && value == NULL) {
      if (i + 1 >= argc)
        return fail("%s needs a value", arg);
      value = argv[++i];
    }
    if (!wants_value && value != NULL)
      return fail("%s takes no value", arg);

    if (p) {
      char err[160];
      if (apply(p, &o->defaults, value, "--", err, sizeof err) < 0)
        return fail("%s", err);
      continue;
    }
    int rc = set_flag(o, f, value);
    if (rc > 0) {
      usage(stdout);
      return 1;
    }
    if (rc < 0)
      return -1;
  }

  if ((o->tls_cert == NULL) != (o->tls_key == NULL))
    return fail("--tls-cert and --tls-key go together");
  if (o->burst > 0 && !o->has_limit)
    return fail("--burst needs --limit");
  if (o->quota == 0 &&
      (o->quota_window_s != 0 || o->quota_per != QUOTA_PER_SERVER))
    return fail("--quota-window-s and --quota-per need --quota");
  if (o->quota == 0 && announce_given)
    return fail("--announce needs --quota (it announces the quota)");
  if (o->quota_window_s == 0)
    o->quota_window_s = 60;
  if (o->has_limit && o->burst == 0)
    o->burst = ceil(o->limit_rate) < 1 ? 1 : ceil(o->limit_rate);
  if (o->defaults.redirect == REDIRECT_PORT && o->defaults.to_port == 0)
    return fail("--redirect port needs --to-port");
  if (o->ipv6) {
    ((struct sockaddr_in6 *)&o->addr)->sin6_port = htons((uint16_t)o->port);
  } else {
    ((struct sockaddr_in *)&o->addr)->sin_port = htons((uint16_t)o->port);
  }
  return 0;
}
