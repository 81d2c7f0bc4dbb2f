/* SPDX-License-Identifier: MIT */
/* options.c - the command's flags and --config keys: one table gives each
 * name, its argument, default and help, and one setter applies both. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLI_QUEUE_MAX 10000

typedef enum flag_id {
  F_RATE,
  F_BURST,
  F_CONCURRENCY,
  F_PER_KEY_RATE,
  F_PER_KEY_BURST,
  F_PER_KEY_CONCURRENCY,
  F_WORKERS,
  F_WEIGHT,
  F_MAX_LOW_WAIT,
  F_QUEUE_MAX,
  F_MAX_ATTEMPTS,
  F_BACKOFF_BASE,
  F_BACKOFF_MAX,
  F_RETRY_MAX_AFTER,
  F_TIMEOUT,
  F_CONNECT_TIMEOUT,
  F_DEADLINE,
  F_BREAKER_WINDOW,
  F_BREAKER_THRESHOLD,
  F_BREAKER_COOLDOWN,
  F_BREAKER_PROBES,
  F_BREAKER_FAIL_FAST,
  F_NO_BREAKER,
  F_MAX_RESPONSE_BYTES,
  F_FOLLOW_REDIRECTS,
  F_DECOMPRESS,
  F_CA_FILE,
  F_INSECURE,
  F_DENY_PRIVATE,
  F_HEADER,
  F_BODY,
  F_OUT,
  F_STATS_JSON,
  F_CONFIG,
  F_QUIET,
  F_SPOOL,
  F_SPOOL_SYNC,
  F_NO_IDEMPOTENCY_KEYS,
  F_ALLOW_OUT_CHANGE,
  F_HELP,
  F_VERSION
} flag_id_t;

typedef struct flag {
  const char *name; /* without the leading "--" */
  flag_id_t id;
  const char *arg; /* NULL: a switch */
  const char *def; /* default, as shown by --help */
  const char *help;
} flag_t;

static const flag_t flags[] = {
    {"rate", F_RATE, "N[/s|/m|/h]", "none",
     "requests started per second (or minute, hour), retries included"},
    {"burst", F_BURST, "N", "rate/100, at least 1",
     "requests that may start at once after a quiet spell"},
    {"concurrency", F_CONCURRENCY, "N", "50", "requests in flight at once"},
    {"per-key-rate", F_PER_KEY_RATE, "N[/s|/m|/h]", "none",
     "rate of each key (a job's \"key\", else its URL's host)"},
    {"per-key-burst", F_PER_KEY_BURST, "N", "1", "burst of each key"},
    {"per-key-concurrency", F_PER_KEY_CONCURRENCY, "N", "none",
     "requests in flight per key"},
    {"workers", F_WORKERS, "N", "2", "transport threads"},
    {"weight", F_WEIGHT, "H:L", "4:1",
     "high and low priority jobs start in this ratio while both wait"},
    {"max-low-wait", F_MAX_LOW_WAIT, "MS", "10000",
     "with --weight H:0, low jobs this old start 1 in H+1 (0: never)"},
    {"queue-max", F_QUEUE_MAX, "N", "10000",
     "jobs read ahead of sending; bounds memory"},
    {"max-attempts", F_MAX_ATTEMPTS, "N", "3", "attempts per job"},
    {"backoff-base", F_BACKOFF_BASE, "MS", "200",
     "first retry waits up to this, doubling each time"},
    {"backoff-max", F_BACKOFF_MAX, "MS", "30000", "cap of the backoff"},
    {"retry-max-after", F_RETRY_MAX_AFTER, "S", "3600",
     "a longer Retry-After is cut to this many seconds"},
    {"timeout", F_TIMEOUT, "MS", "30000", "per attempt, whole transfer"},
    {"connect-timeout", F_CONNECT_TIMEOUT, "MS", "10000", "per attempt"},
    {"deadline", F_DEADLINE, "MS", "none",
     "each job's deadline from when it is read (a job's deadline_ms wins)"},
    {"breaker-window", F_BREAKER_WINDOW, "N", "20",
     "outcomes each key's breaker remembers"},
    {"breaker-threshold", F_BREAKER_THRESHOLD, "P", "0.5",
     "failure ratio (0..1, or a percentage like 50%) that opens a breaker"},
    {"breaker-cooldown", F_BREAKER_COOLDOWN, "MS", "30000",
     "an open breaker waits this long before probing"},
    {"breaker-probes", F_BREAKER_PROBES, "N", "1",
     "jobs a half-open breaker lets through"},
    {"breaker-fail-fast", F_BREAKER_FAIL_FAST, NULL, "off",
     "jobs of an open breaker fail at once instead of waiting"},
    {"no-breaker", F_NO_BREAKER, NULL, "off", "turn the breakers off"},
    {"max-response-bytes", F_MAX_RESPONSE_BYTES, "N", "8388608",
     "response body cap; a larger body fails the job"},
    {"follow-redirects", F_FOLLOW_REDIRECTS, "N", "0",
     "redirects followed per attempt (0..20)"},
    {"decompress", F_DECOMPRESS, NULL, "off", "ask for gzip and decode it"},
    {"ca-file", F_CA_FILE, "FILE", "system CAs", "PEM bundle to verify TLS"},
    {"insecure", F_INSECURE, NULL, "off",
     "do not verify TLS certificates (warns)"},
    {"deny-private", F_DENY_PRIVATE, NULL, "off",
     "refuse to connect to loopback, private, link-local and other "
     "non-public addresses (checked after DNS and on every redirect)"},
    {"header", F_HEADER, "'K: V'", "none",
     "added to every job (repeatable); a job's own header wins"},
    {"body", F_BODY, NULL, "off", "put response bodies and headers in results"},
    {"out", F_OUT, "FILE", "stdout", "write result lines here"},
    {"stats-json", F_STATS_JSON, "FILE", "none",
     "write the final statistics as JSON here"},
    {"config", F_CONFIG, "FILE.json", "none",
     "read these settings from a JSON object (flags override it)"},
    {"quiet", F_QUIET, NULL, "off", "no progress line and no summary"},
    {"spool", F_SPOOL, "FILE.db", "none",
     "keep every job in this SQLite spool until its result line is written; "
     "needs --out (see pacer resume)"},
    {"spool-sync", F_SPOOL_SYNC, "normal|full", "normal",
     "normal survives a crash of pacer; full also a power loss (slower)"},
    {"no-idempotency-keys", F_NO_IDEMPOTENCY_KEYS, NULL, "off",
     "do not add an Idempotency-Key header to spooled jobs"},
    {"allow-out-change", F_ALLOW_OUT_CHANGE, NULL, "off",
     "pacer resume: write the rest of the results to an --out other than "
     "the run's (the results are then split between two files)"},
    {"help", F_HELP, NULL, NULL, "print this help and exit"},
    {"version", F_VERSION, NULL, NULL, "print the version and exit"},
};
#define NFLAGS (sizeof flags / sizeof flags[0])

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

void cli_opts_init(cli_opts_t *o)
{
  memset(o, 0, sizeof *o);
  pacer_config_init(&o->cfg);
  o->cfg.queue_max = CLI_QUEUE_MAX;
  o->input = NULL;
}

void cli_opts_free(cli_opts_t *o)
{
  for (size_t i = 0; i < o->header_count; i++) {
    free((char *)o->headers[i].name);
    free((char *)o->headers[i].value);
  }
  free(o->headers);
  free(o->out_path);
  free(o->stats_path);
  free(o->config_path);
  free(o->ca_file);
  free(o->spool_path);
  o->spool_path = NULL;
  o->headers_from_base = 0;
  o->headers = NULL;
  o->header_count = 0;
  o->out_path = o->stats_path = o->config_path = o->ca_file = NULL;
}

/* Writes text as lines of at most width columns, each indented. */
static void wrap(FILE *f, const char *text, int indent, int width)
{
  const char *p = text;
  while (*p) {
    int room = width - indent, n = (int)strlen(p);
    if (n > room) {
      n = room;
      while (n > 0 && p[n] != ' ')
        n--;
      if (n == 0)
        n = room;
    }
    fprintf(f, "%*s%.*s\n", indent, "", n, p);
    p += n;
    while (*p == ' ')
      p++;
  }
}

void cli_usage(FILE *f)
{
  fprintf(f, "usage: pacer send [FLAGS] JOBS.jsonl|-\n"
             "       pacer resume --spool FILE.db [--out FILE] [FLAGS]\n"
             "       pacer status --spool FILE.db\n"
             "       pacer --help | --version\n\n"
             "Sends every job of a JSON-lines file (or stdin) under the "
             "limits below and\n"
             "writes one JSON result line per job, in completion order.\n"
             "A job line: {\"id\", \"method\", \"url\" (required), "
             "\"headers\": {K: V},\n"
             "\"body\" or \"json\", \"priority\": \"high\"|\"low\", \"key\", "
             "\"deadline_ms\", \"timeout_ms\",\n"
             "\"max_attempts\"}.\n\n"
             "With --spool every job is kept in a SQLite file until its result "
             "line is\n"
             "written: after a crash, pacer resume sends what is left and "
             "pacer status\n"
             "counts it. The spool keeps the run's settings and --out: "
             "pacer resume uses\n"
             "them, a flag given again overrides its setting (said on "
             "stderr), and an --out\n"
             "other than the run's is refused without --allow-out-change.\n\n"
             "Exit status: 0 every job succeeded, 1 some failed, 2 usage or "
             "configuration\n"
             "error, 130/143 interrupted by SIGINT/SIGTERM.\n\nFlags:\n");
  for (size_t i = 0; i < NFLAGS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].name,
             flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
    char text[256];
    snprintf(text, sizeof text, "%s%s%s%s", flags[i].help,
             flags[i].def ? " [" : "", flags[i].def ? flags[i].def : "",
             flags[i].def ? "]" : "");
    fprintf(f, "  %s\n", left);
    wrap(f, text, 8, 78);
  }
  fputc('\n', f);
  wrap(f,
       "A --config file is a JSON object whose keys are these flag names "
       "(\"rate\": \"100/m\", \"breaker-fail-fast\": true, \"header\": "
       "[\"K: V\"]); flags given on the command line override it.",
       0, 78);
}

/* ---- value parsers ---- */

static int parse_double(const char *s, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v))
    return -1;
  while (*end == ' ')
    end++;
  if (*end)
    return -1;
  *out = v;
  return 0;
}

static int parse_u64(const char *s, unsigned long long max,
                     unsigned long long *out)
{
  char *end;
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max)
    return -1;
  *out = v;
  return 0;
}

int cli_parse_rate(const char *s, double *per_second)
{
  char num[64];
  const char *slash = strchr(s, '/');
  size_t n = slash ? (size_t)(slash - s) : strlen(s);
  double div = 1;
  if (n == 0 || n >= sizeof num)
    return -1;
  memcpy(num, s, n);
  num[n] = 0;
  if (slash) {
    const char *u = slash + 1;
    if (!strcmp(u, "s") || !strcmp(u, "sec"))
      div = 1;
    else if (!strcmp(u, "m") || !strcmp(u, "min"))
      div = 60;
    else if (!strcmp(u, "h") || !strcmp(u, "hour"))
      div = 3600;
    else
      return -1;
  }
  double v;
  if (parse_double(num, &v) || v < 0)
    return -1;
  *per_second = v / div;
  return 0;
}

static int parse_header(const char *s, char **name, char **value)
{
  const char *colon = strchr(s, ':');
  if (!colon || colon == s)
    return -1;
  size_t nlen = (size_t)(colon - s);
  for (size_t i = 0; i < nlen; i++)
    if (s[i] <= ' ' || s[i] == 0x7f)
      return -1;
  const char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  if (strpbrk(v, "\r\n"))
    return -1;
  *name = strndup(s, nlen);
  *value = strdup(v);
  if (!*name || !*value) {
    free(*name);
    free(*value);
    return -1;
  }
  return 0;
}

/* 1 if s is valid UTF-8 (jansson refuses a string that is not). */
static int is_utf8(const char *s)
{
  json_t *t = json_string(s);
  json_decref(t);
  return t != NULL;
}

static int set_str(char **dst, const char *v)
{
  char *c = strdup(v);
  if (!c)
    return -1;
  free(*dst);
  *dst = c;
  return 0;
}

/* Applies one flag. v is the argument (NULL for a switch given on the
 * command line; "true"/"false" for one from --config). */
static int apply(cli_opts_t *o, const flag_t *f, const char *v, const char *who,
                 char *err, size_t errlen)
{
  pacer_config_t *c = &o->cfg;
  unsigned long long u = 0;
  double d = 0;
  int on = 1;

  if (!f->arg && v) {
    if (!strcmp(v, "true") || !strcmp(v, "1"))
      on = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0"))
      on = 0;
    else
      return fail(err, errlen, "%s: expects true or false, not '%s'", who, v);
  }

#define U(max, what)                                                           \
  do {                                                                         \
    if (parse_u64(v, (max), &u))                                               \
      return fail(err, errlen, "%s: '%s' is not %s", who, v, what);            \
  } while (0)
#define POS(max, what)                                                         \
  do {                                                                         \
    U(max, what);                                                              \
    if (u == 0)                                                                \
      return fail(err, errlen, "%s: must be at least 1", who);                 \
  } while (0)

  switch (f->id) {
  case F_RATE:
  case F_PER_KEY_RATE:
    if (cli_parse_rate(v, &d))
      return fail(err, errlen,
                  "%s: '%s' is not a rate (N, N/s, N/m or N/h, N >= 0)", who,
                  v);
    *(f->id == F_RATE ? &c->rate : &c->key_rate) = d;
    break;
  case F_BURST:
    POS(1000000000, "a burst of 1 or more");
    c->burst = (unsigned)u;
    break;
  case F_PER_KEY_BURST:
    POS(1000000000, "a burst of 1 or more");
    c->key_burst = (unsigned)u;
    break;
  case F_CONCURRENCY:
    POS(1000000, "a number of requests");
    c->concurrency = (unsigned)u;
    break;
  case F_PER_KEY_CONCURRENCY:
    U(1000000, "a number of requests");
    c->key_concurrency = (unsigned)u;
    break;
  case F_WORKERS:
    POS(256, "a number of threads (1..256)");
    c->workers = (unsigned)u;
    break;
  case F_WEIGHT: {
    unsigned long long h, l;
    char hs[32], ls[32];
    const char *colon = strchr(v, ':');
    if (!colon || (size_t)(colon - v) >= sizeof hs ||
        strlen(colon + 1) >= sizeof ls)
      return fail(err, errlen, "%s: '%s' is not H:L (like 4:1)", who, v);
    memcpy(hs, v, (size_t)(colon - v));
    hs[colon - v] = 0;
    strcpy(ls, colon + 1);
    if (parse_u64(hs, 1000000, &h) || parse_u64(ls, 1000000, &l) || !h || !l)
      return fail(err, errlen,
                  "%s: '%s' is not H:L with both at least 1 (like 4:1)", who,
                  v);
    c->weight_high = (unsigned)h;
    c->weight_low = (unsigned)l;
    break;
  }
  case F_MAX_LOW_WAIT:
    U(INT64_MAX / 1000, "a number of milliseconds");
    c->max_low_wait_ms = (int64_t)u;
    break;
  case F_QUEUE_MAX:
    POS(100000000, "a number of jobs");
    c->queue_max = (size_t)u;
    break;
  case F_MAX_ATTEMPTS:
    POS(1000, "a number of attempts (1..1000)");
    c->max_attempts = (unsigned)u;
    break;
  case F_BACKOFF_BASE:
    POS(INT64_MAX / 1000, "a number of milliseconds");
    c->backoff_base_ms = (int64_t)u;
    break;
  case F_BACKOFF_MAX:
    POS(INT64_MAX / 1000, "a number of milliseconds");
    c->backoff_max_ms = (int64_t)u;
    break;
  case F_RETRY_MAX_AFTER:
    U(INT64_MAX / 1000000, "a number of seconds");
    c->retry_after_max_ms = (int64_t)u * 1000;
    break;
  case F_TIMEOUT:
    POS(INT64_MAX / 1000, "a number of milliseconds");
    c->timeout_ms = (int64_t)u;
    break;
  case F_CONNECT_TIMEOUT:
    POS(INT64_MAX / 1000, "a number of milliseconds");
    c->connect_timeout_ms = (int64_t)u;
    break;
  case F_DEADLINE:
    U(INT64_MAX / 1000, "a number of milliseconds");
    o->deadline_ms = (int64_t)u;
    break;
  case F_BREAKER_WINDOW:
    POS(1024, "a window of 1..1024 outcomes");
    if (u > 1024)
      return fail(err, errlen, "%s: at most 1024", who);
    c->breaker_window = (unsigned)u;
    if (c->breaker_min_calls > c->breaker_window)
      c->breaker_min_calls = c->breaker_window;
    break;
  case F_BREAKER_THRESHOLD: {
    char buf[64];
    size_t n = strlen(v);
    int pct = n > 0 && v[n - 1] == '%';
    if (n >= sizeof buf)
      return fail(err, errlen, "%s: '%s' is not a ratio", who, v);
    memcpy(buf, v, n + 1);
    if (pct)
      buf[n - 1] = 0;
    if (parse_double(buf, &d))
      return fail(err, errlen, "%s: '%s' is not a ratio (0.5 or 50%%)", who, v);
    if (pct)
      d /= 100;
    if (!(d > 0 && d <= 1))
      return fail(err, errlen, "%s: '%s' must be above 0 and at most 1 (100%%)",
                  who, v);
    c->breaker_threshold = d;
    break;
  }
  case F_BREAKER_COOLDOWN:
    POS(INT64_MAX / 1000, "a number of milliseconds");
    c->breaker_cooldown_ms = (int64_t)u;
    break;
  case F_BREAKER_PROBES:
    POS(1000000, "a number of probes");
    c->breaker_probes = (unsigned)u;
    break;
  case F_BREAKER_FAIL_FAST:
    c->breaker_fail_fast = on;
    break;
  case F_NO_BREAKER:
    c->breaker_enabled = !on;
    break;
  case F_MAX_RESPONSE_BYTES:
    POS((unsigned long long)SIZE_MAX / 2, "a number of bytes");
    c->max_response_bytes = (size_t)u;
    break;
  case F_FOLLOW_REDIRECTS:
    U(20, "a number of redirects (0..20)");
    c->follow_redirects = (unsigned)u;
    break;
  case F_DECOMPRESS:
    c->decompress = on;
    break;
  case F_CA_FILE:
    if (!is_utf8(v)) /* the spool keeps settings as JSON text */
      return fail(err, errlen, "%s: the path is not UTF-8", who);
    if (set_str(&o->ca_file, v))
      return fail(err, errlen, "out of memory");
    c->ca_file = o->ca_file;
    break;
  case F_INSECURE:
    c->tls_verify = !on;
    break;
  case F_DENY_PRIVATE:
    c->deny_private = on;
    break;
  case F_HEADER: {
    if (o->headers_from_base) { /* given again: replaces the stored list */
      for (size_t i = 0; i < o->header_count; i++) {
        free((char *)o->headers[i].name);
        free((char *)o->headers[i].value);
      }
      o->header_count = 0;
      o->headers_from_base = 0;
    }
    char *name, *value;
    if (!is_utf8(v)) /* the spool keeps settings as JSON text */
      return fail(err, errlen, "%s: the header is not UTF-8", who);
    if (parse_header(v, &name, &value))
      return fail(err, errlen, "%s: '%s' is not 'Name: value'", who, v);
    /* Checked now as every job's would be, so a bad header is one usage
     * error, not a refusal of every job. */
    if (pacer_header_check(name, value)) {
      int bad_name = pacer_header_check(name, "") != 0;
      int rc = fail(err, errlen, "%s: '%s': %s \"%s\"", who, v,
                    bad_name ? "not a header name that may be sent:"
                             : "a control character in the value of",
                    name);
      free(name);
      free(value);
      return rc;
    }
    pacer_header_t *h =
        realloc(o->headers, (o->header_count + 1) * sizeof *o->headers);
    if (!h) {
      free(name);
      free(value);
      return fail(err, errlen, "out of memory");
    }
    o->headers = h;
    h[o->header_count].name = name;
    h[o->header_count].value = value;
    o->header_count++;
    break;
  }
  case F_BODY:
    o->body = on;
    break;
  case F_OUT:
  case F_STATS_JSON:
  case F_CONFIG:
    if (!*v)
      return fail(err, errlen, "%s: needs a file name", who);
    if (set_str(f->id == F_OUT          ? &o->out_path
                : f->id == F_STATS_JSON ? &o->stats_path
                                        : &o->config_path,
                v))
      return fail(err, errlen, "out of memory");
    break;
  case F_QUIET:
    o->quiet = on;
    break;
  case F_SPOOL:
    if (!*v)
      return fail(err, errlen, "%s: needs a file name", who);
    if (set_str(&o->spool_path, v))
      return fail(err, errlen, "out of memory");
    c->spool_path = o->spool_path;
    break;
  case F_SPOOL_SYNC:
    if (!strcmp(v, "normal"))
      c->spool_sync = PACER_SPOOL_NORMAL;
    else if (!strcmp(v, "full"))
      c->spool_sync = PACER_SPOOL_FULL;
    else
      return fail(err, errlen, "%s: '%s' is not normal or full", who, v);
    break;
  case F_NO_IDEMPOTENCY_KEYS:
    c->spool_idempotency_keys = !on;
    break;
  case F_ALLOW_OUT_CHANGE:
    o->allow_out_change = on;
    break;
  case F_HELP:
    o->help = on;
    break;
  case F_VERSION:
    o->version = on;
    break;
  }
  return 0;
#undef U
#undef POS
}

/* Looks a name up; "_" and "-" are the same (config keys may use either). */
static const flag_t *find_flag(const char *name, size_t len)
{
  for (size_t i = 0; i < NFLAGS; i++) {
    const char *n = flags[i].name;
    if (strlen(n) != len)
      continue;
    size_t j = 0;
    for (; j < len; j++) {
      char a = name[j] == '_' ? '-' : name[j];
      if (a != n[j])
        break;
    }
    if (j == len)
      return &flags[i];
  }
  return NULL;
}

static int apply_json(cli_opts_t *o, const flag_t *f, const char *key,
                      json_t *v, const char *path, char *err, size_t errlen)
{
  char who[512], buf[64];
  snprintf(who, sizeof who, "%s: key \"%s\"", path, key);
  if (f->id == F_CONFIG || f->id == F_HELP || f->id == F_VERSION ||
      f->id == F_ALLOW_OUT_CHANGE)
    return fail(err, errlen, "%s is not allowed in a config file", who);
  if (f->id == F_HEADER) {
    if (json_is_string(v))
      return apply(o, f, json_string_value(v), who, err, errlen);
    if (json_is_array(v)) {
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e)
      {
        if (!json_is_string(e))
          return fail(err, errlen, "%s: entries must be strings", who);
        if (apply(o, f, json_string_value(e), who, err, errlen))
          return -1;
      }
      return 0;
    }
    if (json_is_object(v)) {
      const char *k;
      json_t *e;
      json_object_foreach(v, k, e)
      {
        if (!json_is_string(e))
          return fail(err, errlen, "%s: values must be strings", who);
        char line[4096];
        if ((size_t)snprintf(line, sizeof line, "%s: %s", k,
                             json_string_value(e)) >= sizeof line)
          return fail(err, errlen, "%s: header too long", who);
        if (apply(o, f, line, who, err, errlen))
          return -1;
      }
      return 0;
    }
    return fail(err, errlen, "%s: expects a string, an array or an object",
                who);
  }
  if (!f->arg) {
    if (!json_is_boolean(v))
      return fail(err, errlen, "%s: expects true or false", who);
    return apply(o, f, json_is_true(v) ? "true" : "false", who, err, errlen);
  }
  if (json_is_string(v))
    return apply(o, f, json_string_value(v), who, err, errlen);
  if (json_is_integer(v)) {
    if (json_integer_value(v) < 0)
      return fail(err, errlen, "%s: must not be negative", who);
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return apply(o, f, buf, who, err, errlen);
  }
  if (json_is_real(v)) {
    snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    return apply(o, f, buf, who, err, errlen);
  }
  return fail(err, errlen, "%s: expects a number or a string", who);
}

static int load_config(cli_opts_t *o, const char *path, char *err,
                       size_t errlen)
{
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return fail(err, errlen, "--config %s: line %d: %s", path, je.line,
                je.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return fail(err, errlen, "--config %s: not a JSON object", path);
  }
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach(root, k, v)
  {
    const flag_t *f = find_flag(k, strlen(k));
    if (!f) {
      rc = fail(err, errlen, "--config %s: unknown key \"%s\"", path, k);
      break;
    }
    if ((rc = apply_json(o, f, k, v, path, err, errlen)))
      break;
  }
  json_decref(root);
  return rc;
}

int cli_opts_parse(cli_opts_t *o, int argc, char **argv, char *err,
                   size_t errlen)
{
  /* First pass: --config, so that flags override it whatever their order. */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--"))
      break;
    if (strncmp(argv[i], "--", 2))
      continue;
    const char *nm = argv[i] + 2;
    const flag_t *ff = find_flag(nm, strcspn(nm, "="));
    if (ff && ff->id != F_CONFIG && ff->arg && !strchr(nm, '=')) {
      i++; /* skip its value */
      continue;
    }
    if (!strcmp(argv[i], "--config")) {
      if (i + 1 >= argc)
        return fail(err, errlen, "--config: needs a file name");
      if (set_str(&o->config_path, argv[i + 1]))
        return fail(err, errlen, "out of memory");
      i++;
    } else if (!strncmp(argv[i], "--config=", 9)) {
      if (set_str(&o->config_path, argv[i] + 9))
        return fail(err, errlen, "out of memory");
    }
  }
  if (o->config_path && load_config(o, o->config_path, err, errlen))
    return -1;

  int only_args = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (only_args || a[0] != '-' || !strcmp(a, "-")) {
      if (!o->command)
        o->command = a;
      else if (!o->input)
        o->input = a;
      else
        return fail(err, errlen, "unexpected argument '%s' (one job file)", a);
      continue;
    }
    if (!strcmp(a, "--")) {
      only_args = 1;
      continue;
    }
    if (a[1] != '-') {
      if (!strcmp(a, "-h"))
        a = "--help";
      else if (!strcmp(a, "-q"))
        a = "--quiet";
      else
        return fail(err, errlen, "unknown flag '%s' (see pacer --help)", a);
    }
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const flag_t *f = NULL;
    for (size_t k = 0; k < NFLAGS; k++)
      if (strlen(flags[k].name) == nlen && !memcmp(flags[k].name, name, nlen))
        f = &flags[k];
    char who[96];
    snprintf(who, sizeof who, "--%.*s", (int)(nlen < 64 ? nlen : 64), name);
    if (!f)
      return fail(err, errlen, "unknown flag '%s' (see pacer --help)", who);
    const char *v = NULL;
    if (f->arg) {
      if (eq)
        v = eq + 1;
      else if (i + 1 < argc)
        v = argv[++i];
      else
        return fail(err, errlen, "%s: needs a value (%s)", who, f->arg);
    } else if (eq) {
      v = eq + 1;
    }
    if (f->id == F_CONFIG)
      continue; /* read above */
    if (apply(o, f, v, who, err, errlen))
      return -1;
  }
  if (o->help || o->version)
    return 0;
  if (!o->command)
    return fail(err, errlen, "no command (pacer send JOBS.jsonl; see --help)");
  if (!strcmp(o->command, "send")) {
    if (!o->input)
      return fail(err, errlen, "send: no job file (a path, or - for stdin)");
  } else if (!strcmp(o->command, "resume") || !strcmp(o->command, "status")) {
    if (o->input)
      return fail(err, errlen, "%s: takes no job file (it reads the spool)",
                  o->command);
    if (!o->spool_path)
      return fail(err, errlen, "%s: needs --spool FILE.db", o->command);
  } else {
    return fail(err, errlen, "unknown command '%s' (send, resume or status)",
                o->command);
  }
  /* pacer resume takes --out from the spool when it is not given. */
  if (o->spool_path && !strcmp(o->command, "send") && !o->out_path)
    return fail(err, errlen,
                "--spool needs --out FILE: results must survive a crash too");
  return 0;
}

/* ---- the settings a spooled run keeps ---- */

/* The flags a spooled run keeps for pacer resume: everything that shapes
 * how its jobs are sent and what their result lines say. Not kept: where
 * the output goes (kept apart, see cli.h), and what only concerns one
 * invocation (--config is read into the others, --quiet, --stats-json). */
static int kept_flag(flag_id_t id)
{
  switch (id) {
  case F_OUT:
  case F_STATS_JSON:
  case F_CONFIG:
  case F_QUIET:
  case F_SPOOL:
  case F_ALLOW_OUT_CHANGE:
  case F_HELP:
  case F_VERSION:
    return 0;
  default:
    return 1;
  }
}

/* The flag's value in o, in the form --config takes; NULL when the value is
 * the default that no flag can name (an automatic burst, no CA file). */
static json_t *flag_value(const cli_opts_t *o, const flag_t *f)
{
  const pacer_config_t *c = &o->cfg;
  char buf[64];
  switch (f->id) {
  case F_RATE:
    return json_real(c->rate);
  case F_BURST:
    return c->burst ? json_integer(c->burst) : NULL;
  case F_CONCURRENCY:
    return json_integer(c->concurrency);
  case F_PER_KEY_RATE:
    return json_real(c->key_rate);
  case F_PER_KEY_BURST:
    return c->key_burst ? json_integer(c->key_burst) : NULL;
  case F_PER_KEY_CONCURRENCY:
    return json_integer(c->key_concurrency);
  case F_WORKERS:
    return json_integer(c->workers);
  case F_WEIGHT:
    snprintf(buf, sizeof buf, "%u:%u", c->weight_high, c->weight_low);
    return json_string(buf);
  case F_MAX_LOW_WAIT:
    return json_integer(c->max_low_wait_ms);
  case F_QUEUE_MAX:
    return json_integer((json_int_t)c->queue_max);
  case F_MAX_ATTEMPTS:
    return json_integer(c->max_attempts);
  case F_BACKOFF_BASE:
    return json_integer(c->backoff_base_ms);
  case F_BACKOFF_MAX:
    return json_integer(c->backoff_max_ms);
  case F_RETRY_MAX_AFTER:
    return json_integer(c->retry_after_max_ms / 1000);
  case F_TIMEOUT:
    return json_integer(c->timeout_ms);
  case F_CONNECT_TIMEOUT:
    return json_integer(c->connect_timeout_ms);
  case F_DEADLINE:
    return json_integer(o->deadline_ms);
  case F_BREAKER_WINDOW:
    return json_integer(c->breaker_window);
  case F_BREAKER_THRESHOLD:
    return json_real(c->breaker_threshold);
  case F_BREAKER_COOLDOWN:
    return json_integer(c->breaker_cooldown_ms);
  case F_BREAKER_PROBES:
    return json_integer(c->breaker_probes);
  case F_BREAKER_FAIL_FAST:
    return json_boolean(c->breaker_fail_fast);
  case F_NO_BREAKER:
    return json_boolean(!c->breaker_enabled);
  case F_MAX_RESPONSE_BYTES:
    return json_integer((json_int_t)c->max_response_bytes);
  case F_FOLLOW_REDIRECTS:
    return json_integer(c->follow_redirects);
  case F_DECOMPRESS:
    return json_boolean(c->decompress);
  case F_CA_FILE:
    return c->ca_file ? json_string(c->ca_file) : NULL;
  case F_INSECURE:
    return json_boolean(!c->tls_verify);
  case F_DENY_PRIVATE:
    return json_boolean(c->deny_private);
  case F_HEADER: {
    json_t *a = json_array();
    for (size_t i = 0; a && i < o->header_count; i++) {
      char *line = NULL;
      size_t n = strlen(o->headers[i].name) + strlen(o->headers[i].value) + 3;
      if ((line = malloc(n)) == NULL ||
          (snprintf(line, n, "%s: %s", o->headers[i].name, o->headers[i].value),
           json_array_append_new(a, json_string(line)))) {
        json_decref(a);
        a = NULL;
      }
      free(line);
    }
    return a;
  }
  case F_BODY:
    return json_boolean(o->body);
  case F_SPOOL_SYNC:
    return json_string(c->spool_sync == PACER_SPOOL_FULL ? "full" : "normal");
  case F_NO_IDEMPOTENCY_KEYS:
    return json_boolean(!c->spool_idempotency_keys);
  default:
    return NULL;
  }
}

json_t *cli_opts_settings(const cli_opts_t *o)
{
  json_t *s = json_object();
  for (size_t i = 0; s && i < NFLAGS; i++) {
    if (!kept_flag(flags[i].id))
      continue;
    json_t *v = flag_value(o, &flags[i]);
    /* Only out of memory makes a set value NULL: fail the whole rather than
     * store settings that silently lack it. */
    int set = flags[i].id == F_HEADER    ? o->header_count > 0
              : flags[i].id == F_CA_FILE ? o->ca_file != NULL
                                         : 0;
    if ((v && json_object_set_new(s, flags[i].name, v)) || (!v && set)) {
      json_decref(s);
      s = NULL;
    }
  }
  return s;
}

int cli_opts_apply_settings(cli_opts_t *o, json_t *settings, const char *who,
                            char *err, size_t errlen)
{
  if (!json_is_object(settings))
    return fail(err, errlen, "%s: not a JSON object", who);
  const char *k;
  json_t *v;
  json_object_foreach(settings, k, v)
  {
    const flag_t *f = find_flag(k, strlen(k));
    if (!f || !kept_flag(f->id))
      return fail(err, errlen, "%s: unknown setting \"%s\"", who, k);
    if (apply_json(o, f, k, v, who, err, errlen))
      return -1;
  }
  o->headers_from_base = 1;
  return 0;
}
