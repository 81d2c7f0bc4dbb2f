/* SPDX-License-Identifier: MIT */
/* optable.c - the command's option table and the value of each option:
 * parsed from a flag or a --config value, written back in --config's form
 * for the spool's settings, and shown as --help's default.
 *
 * Every row names its field by offsetof(); a value is checked whole (an
 * integer is digits only, nothing may trail, bounds are the row's) before
 * it is stored, so a refused value leaves the field as it was. */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MS_MAX (INT64_MAX / 1000) /* any later * 1000 (to ns) fits */
#define CFG(f) offsetof(cli_opts_t, cfg.f)
#define OWN(f) offsetof(cli_opts_t, f)
#define KEPT CLI_OPT_KEPT

_Static_assert(PACER_SPOOL_NORMAL == 0 && PACER_SPOOL_FULL == 1,
               "--spool-sync stores the index of its choice");

int cli_fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
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
    *name = *value = NULL;
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

/* ---- setters and getters of the options the kinds do not cover ---- */

static int set_choice(int *field, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen);

static int set_weight(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen)
{
  (void)opt;
  unsigned long long h, l;
  char hs[32], ls[32];
  const char *colon = strchr(v, ':');
  if (!colon || (size_t)(colon - v) >= sizeof hs ||
      strlen(colon + 1) >= sizeof ls)
    return cli_fail(err, errlen, "%s: '%s' is not H:L (like 4:1)", who, v);
  memcpy(hs, v, (size_t)(colon - v));
  hs[colon - v] = 0;
  memcpy(ls, colon + 1, strlen(colon + 1) + 1); /* fits: checked above */
  /* L = 0 is strict priority, as the library takes it (weight_low 0, with
   * max_low_wait_ms as the aging bound); H = 0 would starve high jobs. */
  if (parse_u64(hs, 1000000, &h) || parse_u64(ls, 1000000, &l) || !h)
    return cli_fail(err, errlen,
                    "%s: '%s' is not H:L with H at least 1 and L at least 0 "
                    "(like 4:1; 1:0 is strict priority)",
                    who, v);
  o->cfg.weight_high = (unsigned)h;
  o->cfg.weight_low = (unsigned)l;
  return 0;
}

static int get_weight(const cli_opts_t *o, const cli_opt_t *opt, json_t **out)
{
  (void)opt;
  char buf[64];
  snprintf(buf, sizeof buf, "%u:%u", o->cfg.weight_high, o->cfg.weight_low);
  *out = json_string(buf);
  return *out ? 0 : -1;
}

/* --adaptive-concurrency MIN:MAX, or off. */
static int set_adaptive_concurrency(cli_opts_t *o, const cli_opt_t *opt,
                                    const char *v, const char *who, char *err,
                                    size_t errlen)
{
  (void)opt;
  if (!strcmp(v, "off")) {
    o->cfg.adaptive_concurrency_min = o->cfg.adaptive_concurrency_max = 0;
    return 0;
  }
  unsigned long long lo, hi;
  char ls[32], hs[32];
  const char *colon = strchr(v, ':');
  if (!colon || (size_t)(colon - v) >= sizeof ls ||
      strlen(colon + 1) >= sizeof hs)
    return cli_fail(err, errlen, "%s: '%s' is not MIN:MAX (like 1:64) or off",
                    who, v);
  memcpy(ls, v, (size_t)(colon - v));
  ls[colon - v] = 0;
  memcpy(hs, colon + 1, strlen(colon + 1) + 1); /* fits: checked above */
  if (parse_u64(ls, 1000000, &lo) || parse_u64(hs, 1000000, &hi) || lo < 1 ||
      lo > hi)
    return cli_fail(err, errlen,
                    "%s: '%s' is not MIN:MAX with 1 <= MIN <= MAX <= 1000000 "
                    "(like 1:64)",
                    who, v);
  o->cfg.adaptive_concurrency_min = (unsigned)lo;
  o->cfg.adaptive_concurrency_max = (unsigned)hi;
  return 0;
}

static int get_adaptive_concurrency(const cli_opts_t *o, const cli_opt_t *opt,
                                    json_t **out)
{
  (void)opt;
  char buf[64];
  *out = NULL;
  if (o->cfg.adaptive_concurrency_max == 0)
    return 0; /* off: unset */
  snprintf(buf, sizeof buf, "%u:%u", o->cfg.adaptive_concurrency_min,
           o->cfg.adaptive_concurrency_max);
  *out = json_string(buf);
  return *out ? 0 : -1;
}

/* A window smaller than the minimum of calls would never open. */
static int set_breaker_window(cli_opts_t *o, const cli_opt_t *opt,
                              const char *v, const char *who, char *err,
                              size_t errlen)
{
  cli_opt_t plain = *opt;
  plain.set = NULL;
  if (cli_opt_set(o, &plain, v, who, err, errlen))
    return -1;
  if (o->cfg.breaker_min_calls > o->cfg.breaker_window)
    o->cfg.breaker_min_calls = o->cfg.breaker_window;
  return 0;
}

/* The path is kept in o and lent to the dispatcher's settings. An empty
 * --ca-file is passed on as given (the library says what it makes of it). */
static int set_ca_file(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                       const char *who, char *err, size_t errlen)
{
  (void)opt;
  if (!is_utf8(v)) /* the spool keeps settings as JSON text */
    return cli_fail(err, errlen, "%s: the path is not UTF-8", who);
  if (set_str(&o->ca_file, v))
    return cli_fail(err, errlen, "out of memory");
  o->cfg.ca_file = o->ca_file;
  return 0;
}

/* --progress given (or in --config) holds against -q. */
static int set_progress(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                        const char *who, char *err, size_t errlen)
{
  cli_opt_t plain = *opt;
  plain.set = NULL;
  if (cli_opt_set(o, &plain, v, who, err, errlen))
    return -1;
  o->progress_given = 1;
  return 0;
}

static int set_spool(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                     const char *who, char *err, size_t errlen)
{
  cli_opt_t plain = *opt;
  plain.set = NULL;
  if (cli_opt_set(o, &plain, v, who, err, errlen))
    return -1;
  o->cfg.spool_path = o->spool_path;
  return 0;
}

/* The store's URL is kept in o and lent to the dispatcher's settings;
 * pacer_new() checks it (a bad one is PACER_ESHARED, with the reason). */
static int set_shared(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen)
{
  (void)opt;
  if (!*v)
    return cli_fail(err, errlen, "%s: empty", who);
  if (!is_utf8(v)) /* the spool keeps settings as JSON text */
    return cli_fail(err, errlen, "%s: the URL is not UTF-8", who);
  if (strncmp(v, "shm:", 4) && strncmp(v, "redis://", 8))
    return cli_fail(err, errlen,
                    "%s: '%s' is not shm:NAME or redis://HOST[:PORT][/DB]"
                    "[?name=QUOTA]",
                    who, v);
  if (set_str(&o->shared, v))
    return cli_fail(err, errlen, "out of memory");
  o->cfg.shared_limit = o->shared;
  return 0;
}

/* Checks one --header value now, as every job's would be, so that a bad
 * header is one usage error and not a refusal of every job. Returns 0 with
 * the parts (free them), or -1 with a message. */
static int check_header(const char *v, char **name, char **value,
                        const char *who, char *err, size_t errlen)
{
  if (!is_utf8(v)) /* the spool keeps settings as JSON text */
    return cli_fail(err, errlen, "%s: the header is not UTF-8", who);
  if (parse_header(v, name, value))
    return cli_fail(err, errlen, "%s: '%s' is not 'Name: value'", who, v);
  if (pacer_header_check(*name, *value) == 0)
    return 0;
  int bad_name = pacer_header_check(*name, "") != 0;
  cli_fail(err, errlen, "%s: '%s': %s \"%s\"", who, v,
           bad_name ? "not a header name that may be sent:"
                    : "a control character in the value of",
           *name);
  free(*name);
  free(*value);
  *name = *value = NULL;
  return -1;
}

static int set_header(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen)
{
  (void)opt;
  if (o->headers_from_base) { /* given again: replaces the stored list */
    for (size_t i = 0; i < o->header_count; i++) {
      free((char *)o->headers[i].name);
      free((char *)o->headers[i].value);
    }
    o->header_count = 0;
    o->headers_from_base = 0;
  }
  char *name = NULL, *value = NULL;
  if (check_header(v, &name, &value, who, err, errlen))
    return -1;
  pacer_header_t *h =
      realloc(o->headers, (o->header_count + 1) * sizeof *o->headers);
  if (!h) {
    free(name);
    free(value);
    return cli_fail(err, errlen, "out of memory");
  }
  o->headers = h;
  h[o->header_count].name = name;
  h[o->header_count].value = value;
  o->header_count++;
  return 0;
}

/* The headers as an array of "Name: value" strings. */
static int get_headers(const cli_opts_t *o, const cli_opt_t *opt, json_t **out)
{
  (void)opt;
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
  *out = a;
  return a ? 0 : -1;
}

/* ---- status lists: --retry-on and --ok-status ---- */

int cli_status_listed(const uint64_t bits[10], int status)
{
  return status >= 0 && status < 640 &&
         (bits[status / 64] >> (status % 64)) & 1;
}

/* "429,503": statuses 100..599, comma-separated, into bits (each once).
 * Returns how many, or -1 with a message. */
static int parse_statuses(const char *v, uint64_t bits[10], const char *who,
                          char *err, size_t errlen)
{
  memset(bits, 0, 10 * sizeof *bits);
  int n = 0;
  const char *p = v;
  for (;;) {
    char num[8];
    size_t len = strcspn(p, ",");
    unsigned long long s;
    if (len == 0 || len >= sizeof num)
      return cli_fail(err, errlen,
                      "%s: '%s' is not a list of HTTP statuses (like "
                      "429,503)",
                      who, v);
    memcpy(num, p, len);
    num[len] = 0;
    if (parse_u64(num, 599, &s) || s < 100)
      return cli_fail(err, errlen, "%s: '%s' is not an HTTP status (100..599)",
                      who, num);
    if (!cli_status_listed(bits, (int)s))
      n++;
    bits[s / 64] |= UINT64_C(1) << (s % 64);
    if (!p[len])
      return n;
    p += len + 1;
  }
}

/* bits as "429,503" (in order), or NULL when none is set. */
static int get_statuses(const uint64_t bits[10], json_t **out)
{
  char buf[4 * 500 + 1];
  size_t n = 0;
  *out = NULL;
  for (int s = 100; s < 600; s++)
    if (cli_status_listed(bits, s))
      n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%d", n ? "," : "", s);
  if (n == 0)
    return 0;
  *out = json_string(buf);
  return *out ? 0 : -1;
}

static int set_retry_on(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                        const char *who, char *err, size_t errlen)
{
  (void)opt;
  uint64_t bits[10];
  int n = parse_statuses(v, bits, who, err, errlen);
  if (n < 0)
    return -1;
  int *list = malloc((size_t)n * sizeof *list);
  if (!list)
    return cli_fail(err, errlen, "out of memory");
  size_t k = 0;
  for (int s = 100; s < 600; s++)
    if (cli_status_listed(bits, s))
      list[k++] = s;
  free(o->retry_on);
  o->retry_on = list;
  o->retry_on_count = k;
  o->cfg.retry_statuses = list;
  o->cfg.retry_status_count = k;
  return 0;
}

static int get_retry_on(const cli_opts_t *o, const cli_opt_t *opt, json_t **out)
{
  (void)opt;
  uint64_t bits[10] = {0};
  for (size_t i = 0; i < o->retry_on_count; i++)
    bits[o->retry_on[i] / 64] |= UINT64_C(1) << (o->retry_on[i] % 64);
  return get_statuses(bits, out);
}

static int set_ok_status(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                         const char *who, char *err, size_t errlen)
{
  (void)opt;
  uint64_t bits[10];
  if (parse_statuses(v, bits, who, err, errlen) < 0)
    return -1;
  memcpy(o->ok_status, bits, sizeof bits);
  return 0;
}

static int get_ok_status(const cli_opts_t *o, const cli_opt_t *opt,
                         json_t **out)
{
  (void)opt;
  return get_statuses(o->ok_status, out);
}

/* --adapt: which of the two adaptations (pacer_config_t.adapt_announced,
 * adapt_aimd) are on. The names, in the order of the bits they set
 * (announced 1, aimd 2). */
static const char *const adapt_modes[] = {"off", "announced", "aimd", "on",
                                          NULL};

static int set_adapt(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                     const char *who, char *err, size_t errlen)
{
  int m = 0;
  if (set_choice(&m, opt, v, who, err, errlen))
    return -1;
  o->cfg.adapt_announced = !!(m & 1);
  o->cfg.adapt_aimd = !!(m & 2);
  return 0;
}

static int get_adapt(const cli_opts_t *o, const cli_opt_t *opt, json_t **out)
{
  int m = (o->cfg.adapt_announced ? 1 : 0) | (o->cfg.adapt_aimd ? 2 : 0);
  *out = json_string(opt->choices[m]);
  return *out ? 0 : -1;
}

/* pacer_http_version_t, in order: the index is the value. */
static const char *const http_versions[] = {"auto", "1.1", "2-prior-knowledge",
                                            NULL};

/* --http2-prior-knowledge: --http 2-prior-knowledge as a switch. */
static int set_h2_prior(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                        const char *who, char *err, size_t errlen)
{
  (void)opt;
  if (v && strcmp(v, "true") != 0 && strcmp(v, "1") != 0) {
    snprintf(err, errlen, "%s: takes no value", who);
    return -1;
  }
  o->cfg.http_version = PACER_HTTP_2_PRIOR_KNOWLEDGE;
  return 0;
}

/* The library's bounds of adapt_min_rate: above 0, at most 1e9/s. */
static int set_adapt_min_rate(cli_opts_t *o, const cli_opt_t *opt,
                              const char *v, const char *who, char *err,
                              size_t errlen)
{
  (void)opt;
  double d;
  if (cli_parse_rate(v, &d) || !(d > 0 && d <= 1e9))
    return cli_fail(err, errlen,
                    "%s: '%s' is not a rate above 0 and at most 1e9/s (N, "
                    "N/s, N/m or N/h)",
                    who, v);
  o->cfg.adapt_min_rate = d;
  return 0;
}

/* A number with an optional "%" (per cent), into *d; -1 when it is not. */
static int parse_share(const char *v, double *d)
{
  char buf[64];
  size_t n = strlen(v);
  int pct = n > 0 && v[n - 1] == '%';
  if (n == 0 || n >= sizeof buf)
    return -1;
  memcpy(buf, v, n + 1);
  if (pct)
    buf[n - 1] = 0;
  if (parse_double(buf, d))
    return -1;
  if (pct)
    *d /= 100;
  return 0;
}

/* Splits "A:B" (B may be absent when opt_b) into a and b (cap bytes
 * each); 0 or -1. */
static int split_pair(const char *v, char *a, char *b, size_t cap, int opt_b)
{
  const char *colon = strchr(v, ':');
  size_t na = colon ? (size_t)(colon - v) : strlen(v);
  if ((!colon && !opt_b) || na == 0 || na >= cap ||
      (colon && (strlen(colon + 1) == 0 || strlen(colon + 1) >= cap)))
    return -1;
  memcpy(a, v, na);
  a[na] = 0;
  if (colon)
    memcpy(b, colon + 1, strlen(colon + 1) + 1);
  else
    b[0] = 0;
  return 0;
}

/* --retry-budget RATIO[:MIN_PER_S], or off (pacer_config_t.retry_budget_*):
 * RATIO 0..1000 (or a percentage), 0 being off too; MIN_PER_S 0..1e9
 * retries per second, the library's default when absent, so that each
 * value names both fields. */
static int set_retry_budget(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                            const char *who, char *err, size_t errlen)
{
  (void)opt;
  pacer_config_t d;
  pacer_config_init(&d);
  if (!strcmp(v, "off")) {
    o->cfg.retry_budget_ratio = 0;
    o->cfg.retry_budget_min_per_s = d.retry_budget_min_per_s;
    return 0;
  }
  char rs[64], ms[64];
  double r, m = d.retry_budget_min_per_s;
  if (split_pair(v, rs, ms, sizeof rs, 1) || parse_share(rs, &r) ||
      (ms[0] && parse_double(ms, &m)) || !(r >= 0 && r <= 1000) ||
      !(m >= 0 && m <= 1e9))
    return cli_fail(err, errlen,
                    "%s: '%s' is not RATIO[:MIN_PER_S] with RATIO 0..1000 "
                    "(or a percentage) and MIN_PER_S 0..1e9 (like 0.2:3), "
                    "or off",
                    who, v);
  o->cfg.retry_budget_ratio = r;
  o->cfg.retry_budget_min_per_s = m;
  return 0;
}

/* d in the shortest %g form that reads back as d, else %.17g. */
static void show_double(char *buf, size_t cap, double d)
{
  double back;
  snprintf(buf, cap, "%g", d);
  if (parse_double(buf, &back) || back != d)
    snprintf(buf, cap, "%.17g", d);
}

static int get_retry_budget(const cli_opts_t *o, const cli_opt_t *opt,
                            json_t **out)
{
  (void)opt;
  char buf[96], r[40], m[40];
  if (o->cfg.retry_budget_ratio == 0) {
    snprintf(buf, sizeof buf, "off"); /* not the default: kept */
  } else {
    show_double(r, sizeof r, o->cfg.retry_budget_ratio);
    show_double(m, sizeof m, o->cfg.retry_budget_min_per_s);
    snprintf(buf, sizeof buf, "%s:%s", r, m);
  }
  *out = json_string(buf);
  return *out ? 0 : -1;
}

/* --breaker-slow MS[:THRESHOLD], or off (pacer_config_t.breaker_slow_*):
 * MS >= 1; THRESHOLD above 0, at most 1 (or a percentage), the library's
 * default when absent. */
static int set_breaker_slow(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                            const char *who, char *err, size_t errlen)
{
  (void)opt;
  pacer_config_t d;
  pacer_config_init(&d);
  if (!strcmp(v, "off")) {
    o->cfg.breaker_slow_ms = 0;
    o->cfg.breaker_slow_threshold = d.breaker_slow_threshold;
    return 0;
  }
  char ms[64], ts[64];
  unsigned long long m;
  double t = d.breaker_slow_threshold;
  if (split_pair(v, ms, ts, sizeof ms, 1) ||
      parse_u64(ms, (unsigned long long)CLI_MS_MAX, &m) || m < 1 ||
      (ts[0] && parse_share(ts, &t)) || !(t > 0 && t <= 1))
    return cli_fail(err, errlen,
                    "%s: '%s' is not MS[:THRESHOLD] with MS at least 1 and "
                    "THRESHOLD above 0, at most 1 (or 50%%) (like 2000:0.5), "
                    "or off",
                    who, v);
  o->cfg.breaker_slow_ms = (int64_t)m;
  o->cfg.breaker_slow_threshold = t;
  return 0;
}

static int get_breaker_slow(const cli_opts_t *o, const cli_opt_t *opt,
                            json_t **out)
{
  (void)opt;
  char buf[96], t[40];
  *out = NULL;
  if (o->cfg.breaker_slow_ms == 0)
    return 0; /* off, the default: unset */
  show_double(t, sizeof t, o->cfg.breaker_slow_threshold);
  snprintf(buf, sizeof buf, "%lld:%s", (long long)o->cfg.breaker_slow_ms, t);
  *out = json_string(buf);
  return *out ? 0 : -1;
}

/* ADDRESS:PORT of --metrics-listen (cli.h); the metrics server binds what
 * it gives. */
int cli_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                     char *err, size_t errlen)
{
  char host[INET6_ADDRSTRLEN + 1];
  const char *port;
  int v6 = s[0] == '[';
  memset(ss, 0, sizeof *ss);
  if (v6) {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
      goto bad;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = '\0';
    port = close + 2;
  } else {
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':'))
      return cli_fail(err, errlen,
                      "'%s': an IPv6 address goes in brackets, like "
                      "[::1]:9464",
                      s);
    if (!colon || (size_t)(colon - s) >= sizeof host)
      goto bad;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  size_t np = strlen(port);
  if (np == 0 || np > 5 || strspn(port, "0123456789") != np ||
      (np > 1 && port[0] == '0'))
    goto bad;
  long p = strtol(port, NULL, 10);
  if (p > 65535)
    goto bad;
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
      goto bad;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)p);
    *len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
      goto bad;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)p);
    *len = sizeof *a;
  }
  return 0;
bad:
  return cli_fail(err, errlen,
                  "'%s' is not ADDRESS:PORT with a numeric IPv4 address or "
                  "a bracketed IPv6 one and a port of 0 to 65535 (like "
                  "127.0.0.1:9464 or [::1]:9464)",
                  s);
}

/* --metrics-listen: checked now, so a bad address is a usage error. */
static int set_metrics_listen(cli_opts_t *o, const cli_opt_t *opt,
                              const char *v, const char *who, char *err,
                              size_t errlen)
{
  (void)opt;
  struct sockaddr_storage ss;
  socklen_t len;
  char why[512];
  if (cli_parse_listen(v, &ss, &len, why, sizeof why))
    return cli_fail(err, errlen, "%s: %s", who, why);
  if (set_str(&o->metrics_listen, v))
    return cli_fail(err, errlen, "out of memory");
  return 0;
}

/* --define NAME=VALUE: NAME as a placeholder spells it; a later one of
 * the same NAME replaces the earlier (a resume's over the run's). */
static int set_define(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen)
{
  (void)opt;
  const char *eq = v ? strchr(v, '=') : NULL;
  size_t n = eq ? (size_t)(eq - v) : 0;
  if (!eq || n == 0 ||
      strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789_-.") != n)
    return cli_fail(err, errlen,
                    "%s: expects NAME=VALUE, NAME of letters, digits, _ - .",
                    who);
  char *d = strdup(v);
  if (!d)
    return cli_fail(err, errlen, "out of memory");
  for (size_t i = 0; i < o->define_count; i++)
    if (!strncmp(o->defines[i], v, n + 1)) {
      free(o->defines[i]);
      o->defines[i] = d;
      return 0;
    }
  char **nd = realloc(o->defines, (o->define_count + 1) * sizeof *nd);
  if (!nd) {
    free(d);
    return cli_fail(err, errlen, "out of memory");
  }
  o->defines = nd;
  nd[o->define_count++] = d;
  return 0;
}

/* The defines as an array of "NAME=VALUE" strings. */
static int get_defines(const cli_opts_t *o, const cli_opt_t *opt, json_t **out)
{
  (void)opt;
  json_t *a = json_array();
  for (size_t i = 0; a && i < o->define_count; i++)
    if (json_array_append_new(a, json_string(o->defines[i]))) {
      json_decref(a);
      a = NULL;
    }
  *out = a;
  return a ? 0 : -1;
}

/* ---- the table ---- */

static const char *const spool_syncs[] = {"normal", "full", NULL};
static const char *const progress_modes[] = {"auto", "always", "never", "json",
                                             NULL};
_Static_assert(CLI_PROGRESS_AUTO == 0 && CLI_PROGRESS_ALWAYS == 1 &&
                   CLI_PROGRESS_NEVER == 2 && CLI_PROGRESS_JSON == 3,
               "progress_modes[] follows cli_progress_mode_t");
static const char *const queue_policies[] = {"block", "fail", "drop-oldest-low",
                                             NULL};
_Static_assert(PACER_QUEUE_BLOCK == 0 && PACER_QUEUE_FAIL == 1 &&
                   PACER_QUEUE_DROP_OLDEST_LOW == 2,
               "--queue-policy stores the index of its choice");

/* One row per option, in --help's order; clang-format would put each field
 * of a row on a line of its own. */
/* clang-format off */
static const cli_opt_t table[] = {
    {.name = "rate", .short_name = 'r', .kind = CLI_OPT_RATE, .off = CFG(rate),
     .flags = KEPT,
     .key = "rate", .arg = "N[/s|/m|/h]", .unset = "none",
     .help = "requests started per second (or minute, hour), retries "
             "included; none: no limit (lifts a resumed spool's)"},
    {.name = "burst", .kind = CLI_OPT_UINT, .off = CFG(burst), .min = 1,
     .max = 1000000000, .flags = KEPT | CLI_OPT_ZERO_AUTO, .key = "burst",
     .arg = "N", .what = "a burst of 1 or more",
     .unset = "rate/100, at least 1",
     .help = "requests that may start at once after a quiet spell"},
    {.name = "concurrency", .short_name = 'c', .kind = CLI_OPT_UINT,
     .off = CFG(concurrency),
     .min = 1, .max = 1000000, .flags = KEPT, .key = "concurrency", .arg = "N",
     .what = "a number of requests", .help = "requests in flight at once"},
    {.name = "per-key-rate", .kind = CLI_OPT_RATE, .off = CFG(key_rate),
     .flags = KEPT, .key = "per-key-rate", .arg = "N[/s|/m|/h]",
     .unset = "none",
     .help = "rate of each key (a job's \"key\", else its URL's host)"},
    {.name = "per-key-burst", .kind = CLI_OPT_UINT, .off = CFG(key_burst),
     .min = 1, .max = 1000000000, .flags = KEPT | CLI_OPT_ZERO_AUTO,
     .key = "per-key-burst", .arg = "N", .what = "a burst of 1 or more",
     .unset = "1", .help = "burst of each key"},
    {.name = "per-key-concurrency", .kind = CLI_OPT_UINT,
     .off = CFG(key_concurrency), .max = 1000000, .flags = KEPT,
     .key = "per-key-concurrency", .arg = "N", .what = "a number of requests",
     .unset = "none", .help = "requests in flight per key"},
    {.name = "adaptive-concurrency", .kind = CLI_OPT_CUSTOM,
     .off = CFG(adaptive_concurrency_min), .flags = KEPT,
     .key = "adaptive-concurrency", .arg = "MIN:MAX", .unset = "off",
     .set = set_adaptive_concurrency, .get = get_adaptive_concurrency,
     .help = "each key's requests in flight adapt to its latency, between "
             "MIN and MAX: raised while latency stays near its lowest, "
             "lowered when it climbs (never above --per-key-concurrency); "
             "off turns it off"},
    {.name = "workers", .kind = CLI_OPT_UINT, .off = CFG(workers), .min = 1,
     .max = 256, .flags = KEPT, .key = "workers", .arg = "N",
     .what = "a number of threads (1..256)", .help = "transport threads"},
    {.name = "weight", .kind = CLI_OPT_CUSTOM, .off = CFG(weight_high),
     .flags = KEPT, .key = "weight", .arg = "H:L", .set = set_weight,
     .get = get_weight,
     .help = "high and low priority jobs start in this ratio while both "
             "wait; H:0 is strict priority (see --max-low-wait)"},
    {.name = "max-low-wait", .kind = CLI_OPT_MS, .off = CFG(max_low_wait_ms),
     .max = CLI_MS_MAX, .flags = KEPT, .key = "max-low-wait", .arg = "MS",
     .what = "a number of milliseconds",
     .help = "with --weight H:0, low jobs this old start 1 in H+1 (0: "
             "never)"},
    {.name = "queue-max", .kind = CLI_OPT_SIZE, .off = CFG(queue_max),
     .min = 1, .max = 100000000, .flags = KEPT, .key = "queue-max", .arg = "N",
     .what = "a number of jobs",
     .help = "jobs read ahead of sending; bounds memory"},
    {.name = "queue-policy", .kind = CLI_OPT_CHOICE, .off = CFG(queue_policy),
     .flags = KEPT, .key = "queue-policy",
     .arg = "block|fail|drop-oldest-low", .choices = queue_policies,
     .help = "at --queue-max: wait (block), give the line its error result "
             "(fail), or end the oldest waiting low job to take it "
             "(drop-oldest-low)"},
    {.name = "max-attempts", .kind = CLI_OPT_UINT, .off = CFG(max_attempts),
     .min = 1, .max = 1000, .flags = KEPT, .key = "max-attempts", .arg = "N",
     .what = "a number of attempts (1..1000)", .help = "attempts per job"},
    {.name = "backoff-base", .kind = CLI_OPT_MS, .off = CFG(backoff_base_ms),
     .min = 1, .max = CLI_MS_MAX, .flags = KEPT, .key = "backoff-base",
     .arg = "MS", .what = "a number of milliseconds",
     .help = "first retry waits up to this, doubling each time"},
    {.name = "backoff-max", .kind = CLI_OPT_MS, .off = CFG(backoff_max_ms),
     .min = 1, .max = CLI_MS_MAX, .flags = KEPT, .key = "backoff-max",
     .arg = "MS", .what = "a number of milliseconds",
     .help = "cap of the backoff"},
    {.name = "retry-max-after", .kind = CLI_OPT_SECONDS,
     .off = CFG(retry_after_max_ms), .max = INT64_MAX / 1000000, .flags = KEPT,
     .key = "retry-max-after", .arg = "S", .what = "a number of seconds",
     .help = "a longer Retry-After is cut to this many seconds"},
    {.name = "retry-on", .kind = CLI_OPT_CUSTOM, .off = OWN(retry_on),
     .flags = KEPT, .key = "retry-on", .arg = "STATUS,...",
     .unset = "408,429,500,502,503,504", .set = set_retry_on,
     .get = get_retry_on,
     .help = "the HTTP statuses that are retried (100..599, comma-separated); "
             "a transport error or a timeout is always retried; another "
             "status ends its job"},
    {.name = "retry-unsafe", .kind = CLI_OPT_SWITCH, .off = OWN(retry_unsafe),
     .flags = KEPT, .key = "retry-unsafe",
     .help = "retry POST, PATCH and other methods that are not idempotent "
             "too (a job's \"retry_unsafe\": true does it for one job); "
             "without it, or an Idempotency-Key header, they are sent once "
             "and their result line says \"not_retried\""},
    {.name = "idempotency-keys", .kind = CLI_OPT_SWITCH,
     .off = OWN(idempotency_keys), .flags = KEPT, .key = "idempotency-keys",
     .help = "give each POST, PATCH (any method that is not idempotent) job "
             "without one an Idempotency-Key header derived from its id, "
             "method, URL and body, the same in every run of the job, so "
             "it is retried and a server that honours the key does its work "
             "once"},
    {.name = "ok-status", .kind = CLI_OPT_CUSTOM, .off = OWN(ok_status),
     .flags = KEPT, .key = "ok-status", .arg = "STATUS,...", .unset = "none",
     .set = set_ok_status, .get = get_ok_status,
     .help = "statuses that count as ok besides 2xx and 3xx (like 404,410): "
             "their result lines say \"ok\": true and they count as "
             "succeeded"},
    {.name = "retry-budget", .kind = CLI_OPT_CUSTOM,
     .off = CFG(retry_budget_ratio), .flags = KEPT, .key = "retry-budget",
     .arg = "RATIO[:MIN_PER_S]", .set = set_retry_budget,
     .get = get_retry_budget,
     .help = "retries in each --retry-budget-window are at most RATIO times "
             "the jobs started in it (or a percentage), or MIN_PER_S per "
             "second of it if that is more, for all keys and for each key; a "
             "retry refused ends its job with PACER_EBUDGET; off retries "
             "whenever --max-attempts allows"},
    {.name = "retry-budget-window", .kind = CLI_OPT_MS,
     .off = CFG(retry_budget_window_ms), .min = 10, .max = 86400000,
     .flags = KEPT, .key = "retry-budget-window", .arg = "MS",
     .what = "a number of milliseconds (10..86400000)",
     .help = "the span the retry budget counts over"},
    {.name = "adapt", .kind = CLI_OPT_CUSTOM, .off = CFG(adapt_announced),
     .flags = KEPT, .key = "adapt", .arg = "on|off|announced|aimd",
     .choices = adapt_modes, .set = set_adapt, .get = get_adapt,
     .help = "follow each key's server: announced spreads the quota its "
             "RateLimit or X-RateLimit-* fields announce; aimd cuts the "
             "rate on a bare 429 or 503 and raises it back on success; on "
             "is both; never above the configured rates"},
    {.name = "adapt-min-rate", .kind = CLI_OPT_RATE,
     .off = CFG(adapt_min_rate), .flags = KEPT, .key = "adapt-min-rate",
     .arg = "N[/s|/m|/h]", .set = set_adapt_min_rate,
     .help = "the lowest rate an adapted key is held to (a lower "
             "--per-key-rate wins)"},
    {.name = "timeout", .kind = CLI_OPT_MS, .off = CFG(timeout_ms), .min = 1,
     .max = CLI_MS_MAX, .flags = KEPT, .key = "timeout", .arg = "MS",
     .what = "a number of milliseconds",
     .help = "per attempt, whole transfer"},
    {.name = "connect-timeout", .kind = CLI_OPT_MS,
     .off = CFG(connect_timeout_ms), .min = 1, .max = CLI_MS_MAX,
     .flags = KEPT, .key = "connect-timeout", .arg = "MS",
     .what = "a number of milliseconds", .help = "per attempt"},
    {.name = "deadline", .kind = CLI_OPT_MS, .off = OWN(deadline_ms),
     .max = CLI_MS_MAX, .flags = KEPT, .key = "deadline", .arg = "MS",
     .what = "a number of milliseconds", .unset = "none",
     .help = "each job's deadline from when it is read (a job's deadline_ms "
             "wins)"},
    {.name = "breaker-window", .kind = CLI_OPT_UINT,
     .off = CFG(breaker_window), .min = 1, .max = 1024, .flags = KEPT,
     .key = "breaker-window", .arg = "N",
     .what = "a window of 1..1024 outcomes", .set = set_breaker_window,
     .help = "outcomes each key's breaker remembers"},
    {.name = "breaker-threshold", .kind = CLI_OPT_RATIO,
     .off = CFG(breaker_threshold), .flags = KEPT, .key = "breaker-threshold",
     .arg = "P",
     .help = "failure ratio (0..1, or a percentage like 50%) that opens a "
             "breaker"},
    {.name = "breaker-cooldown", .kind = CLI_OPT_MS,
     .off = CFG(breaker_cooldown_ms), .min = 1, .max = CLI_MS_MAX,
     .flags = KEPT, .key = "breaker-cooldown", .arg = "MS",
     .what = "a number of milliseconds",
     .help = "an open breaker waits this long before probing"},
    {.name = "breaker-probes", .kind = CLI_OPT_UINT,
     .off = CFG(breaker_probes), .min = 1, .max = 1000000, .flags = KEPT,
     .key = "breaker-probes", .arg = "N", .what = "a number of probes",
     .help = "jobs a half-open breaker lets through"},
    {.name = "breaker-slow", .kind = CLI_OPT_CUSTOM,
     .off = CFG(breaker_slow_ms), .flags = KEPT, .key = "breaker-slow",
     .arg = "MS[:THRESHOLD]", .unset = "off", .set = set_breaker_slow,
     .get = get_breaker_slow,
     .help = "an attempt answered after more than MS is slow; a breaker "
             "also opens when the slow share of its window reaches "
             "THRESHOLD (0..1 or a percentage, default 0.5), and a slow "
             "probe fails; a slow success is still a success for its job"},
    {.name = "breaker-fail-fast", .kind = CLI_OPT_SWITCH,
     .off = CFG(breaker_fail_fast), .flags = KEPT, .key = "breaker-fail-fast",
     .help = "jobs of an open breaker fail at once instead of waiting"},
    {.name = "no-breaker", .kind = CLI_OPT_SWITCH, .off = CFG(breaker_enabled),
     .flags = KEPT | CLI_OPT_INVERT, .key = "no-breaker",
     .help = "turn the breakers off"},
    {.name = "max-response-bytes", .kind = CLI_OPT_SIZE,
     .off = CFG(max_response_bytes), .min = 1, .max = SIZE_MAX / 2,
     .flags = KEPT, .key = "max-response-bytes", .arg = "N",
     .what = "a number of bytes",
     .help = "response body cap; a larger body fails the job"},
    {.name = "follow-redirects", .kind = CLI_OPT_UINT,
     .off = CFG(follow_redirects), .max = 20, .flags = KEPT,
     .key = "follow-redirects", .arg = "N",
     .what = "a number of redirects (0..20)",
     .help = "redirects followed per attempt (0..20)"},
    {.name = "decompress", .kind = CLI_OPT_SWITCH, .off = CFG(decompress),
     .flags = KEPT, .key = "decompress", .help = "ask for gzip and decode it"},
    {.name = "ca-file", .kind = CLI_OPT_PATH, .off = OWN(ca_file),
     .flags = KEPT, .key = "ca-file", .arg = "FILE", .unset = "system CAs",
     .set = set_ca_file, .help = "PEM bundle to verify TLS"},
    {.name = "insecure", .kind = CLI_OPT_SWITCH, .off = CFG(tls_verify),
     .flags = KEPT | CLI_OPT_INVERT, .key = "insecure",
     .help = "do not verify TLS certificates (warns)"},
    {.name = "http", .kind = CLI_OPT_CHOICE, .off = CFG(http_version),
     .flags = KEPT, .key = "http", .arg = "auto|1.1|2-prior-knowledge",
     .choices = http_versions,
     .help = "auto speaks HTTP/2 over https where the server offers it, "
             "requests to a host multiplexed over one connection per "
             "worker, and HTTP/1.1 otherwise; 1.1 never speaks HTTP/2; "
             "2-prior-knowledge speaks HTTP/2 at once, also over plain "
             "http (h2c)"},
    {.name = "http1.1", .kind = CLI_OPT_SWITCH, .off = CFG(http_version),
     .help = "the same as --http 1.1"},
    {.name = "http2-prior-knowledge", .kind = CLI_OPT_CUSTOM,
     .off = CFG(http_version), .set = set_h2_prior, .unset = "off",
     .help = "the same as --http 2-prior-knowledge"},
    {.name = "max-host-connections", .kind = CLI_OPT_UINT,
     .off = CFG(max_host_connections), .max = 1000000, .flags = KEPT,
     .key = "max-host-connections", .arg = "N", .unset = "no cap",
     .what = "a number of connections",
     .help = "connections open at once to any one host (scheme, host, "
             "port), idle ones included, across all workers; requests "
             "beyond them wait for one; below --workers, only N workers "
             "send"},
    {.name = "idle-connection-timeout", .kind = CLI_OPT_MS,
     .off = CFG(idle_connection_timeout_ms), .max = 86400000,
     .flags = KEPT, .key = "idle-connection-timeout", .arg = "MS",
     .what = "a number of milliseconds (at most a day)",
     .unset = "118 s, libcurl's",
     .help = "a connection idle for longer is closed, not reused (whole "
             "seconds, rounded up)"},
    {.name = "deny-private", .kind = CLI_OPT_SWITCH, .off = CFG(deny_private),
     .flags = KEPT, .key = "deny-private",
     .help = "refuse to connect to loopback, private, link-local and other "
             "non-public addresses (checked after DNS and on every "
             "redirect)"},
    {.name = "header", .kind = CLI_OPT_LIST, .off = OWN(headers),
     .flags = KEPT, .key = "header", .arg = "'K: V'", .unset = "none",
     .set = set_header, .get = get_headers,
     .help = "added to every job (repeatable); a job's own header wins"},
    {.name = "body", .kind = CLI_OPT_SWITCH, .off = OWN(body), .flags = KEPT,
     .key = "body", .help = "put response bodies and headers in results"},
    {.name = "out", .short_name = 'o', .kind = CLI_OPT_PATH,
     .off = OWN(out_path), .key = "out",
     .arg = "FILE", .unset = "stdout", .help = "write result lines here"},
    {.name = "stats-json", .kind = CLI_OPT_PATH, .off = OWN(stats_path),
     .key = "stats-json", .arg = "FILE", .unset = "none",
     .help = "write the final statistics as JSON here"},
    {.name = "events", .kind = CLI_OPT_PATH, .off = OWN(events_path),
     .key = "events", .arg = "FILE", .unset = "none",
     .help = "append each event (a breaker opening or closing, a key paused "
             "or resumed, a rate retuned, a retry, a shared store lost or "
             "back) to FILE as a JSON line"},
    {.name = "metrics-listen", .kind = CLI_OPT_PATH,
     .off = OWN(metrics_listen), .key = "metrics-listen",
     .arg = "ADDRESS:PORT", .unset = "none", .set = set_metrics_listen,
     .help = "serve the statistics in the Prometheus text format at "
             "http://ADDRESS:PORT/metrics while the run lasts, bound there "
             "only: 127.0.0.1:9464, [::1]:9464 (0.0.0.0:9464 is every "
             "interface); port 0 picks a free one"},
    {.name = "metrics-file", .kind = CLI_OPT_PATH, .off = OWN(metrics_file),
     .key = "metrics-file", .arg = "FILE.prom", .unset = "none",
     .help = "write them to this file too, for node_exporter's textfile "
             "collector: replaced whole (by rename) at the start, every "
             "--metrics-interval and at the end"},
    {.name = "metrics-interval", .kind = CLI_OPT_MS,
     .off = OWN(metrics_interval_ms), .min = 100, .max = CLI_MS_MAX,
     .key = "metrics-interval", .arg = "MS",
     .what = "a number of milliseconds",
     .help = "how often --metrics-file is rewritten"},
    {.name = "metrics-keys", .kind = CLI_OPT_UINT, .off = OWN(metrics_keys),
     .max = 1000000, .key = "metrics-keys", .arg = "N",
     .what = "a number of keys (0..1000000)",
     .help = "keys with metric series of their own (the busiest); the others "
             "are summed under key=\"~other\""},
    /* Flag only: a config file does not name another one. */
    {.name = "config", .kind = CLI_OPT_PATH, .off = OWN(config_path),
     .arg = "FILE.json", .unset = "none",
     .help = "read these settings from a JSON object (flags override it)"},
    {.name = "quiet", .short_name = 'q', .kind = CLI_OPT_SWITCH,
     .off = OWN(quiet), .key = "quiet",
     .help = "no summary, and no progress unless --progress is given"},
    {.name = "verbose", .short_name = 'v', .kind = CLI_OPT_SWITCH,
     .off = OWN(verbose), .key = "verbose",
     .help = "print each event and the info log lines on stderr"},
    /* Progress (progress.c). */
    {.name = "progress", .kind = CLI_OPT_CHOICE, .off = OWN(progress),
     .key = "progress", .arg = "auto|always|never|json",
     .choices = progress_modes, .set = set_progress,
     .help = "auto: a line redrawn on a terminal, nothing otherwise; always: "
             "also a plain line every --progress-interval when stderr is not "
             "a terminal (logs, CI, systemd); json: a JSON line every "
             "--progress-interval instead; never: none (-q implies never "
             "unless --progress is given)"},
    {.name = "progress-interval", .kind = CLI_OPT_SECONDS,
     .off = OWN(progress_interval_ms), .min = 1, .max = 86400,
     .flags = CLI_OPT_ZERO_AUTO, .key = "progress-interval", .arg = "SECONDS",
     .what = "a number of seconds (1..86400)", .unset = "5",
     .help = "how often --progress=json, and --progress=always without a "
             "terminal, writes its line"},
    {.name = "shared", .kind = CLI_OPT_PATH, .off = OWN(shared),
     .flags = KEPT, .key = "shared", .arg = "URL", .unset = "none",
     .set = set_shared,
     .help = "share --rate and --per-key-rate, Retry-After pauses and the "
             "quotas servers announce with "
             "every process naming the same URL: shm:NAME on one host, "
             "redis://HOST[:PORT][/DB]?name=QUOTA across hosts; each "
             "process keeps its own queue, concurrency and spool"},
    {.name = "spool", .kind = CLI_OPT_PATH, .off = OWN(spool_path),
     .key = "spool", .arg = "FILE.db", .unset = "none", .set = set_spool,
     .help = "keep every job in this SQLite spool until its result line is "
             "written; needs --out (see pacer resume); Ctrl-C leaves the jobs "
             "not started in it, a second Ctrl-C the aborted ones too"},
    {.name = "spool-sync", .kind = CLI_OPT_CHOICE, .off = CFG(spool_sync),
     .flags = KEPT, .key = "spool-sync", .arg = "normal|full",
     .choices = spool_syncs,
     .help = "normal survives a crash of pacer; full also a power loss "
             "(slower)"},
    /* The end of a spooled run (main.c). */
    {.name = "spool-remove-when-done", .kind = CLI_OPT_SWITCH,
     .off = OWN(spool_remove), .flags = KEPT, .key = "spool-remove-when-done",
     .help = "once the run has ended with every job succeeded, remove the "
             "spool (FILE.db and its -wal, -shm and .lock files); when some "
             "failed, it is kept and the summary says so"},
    {.name = "no-idempotency-keys", .kind = CLI_OPT_SWITCH,
     .off = CFG(spool_idempotency_keys), .flags = KEPT | CLI_OPT_INVERT,
     .key = "no-idempotency-keys",
     .help = "do not add an Idempotency-Key header to spooled jobs"},
    /* Flag only: splitting a run's results between two files is consent
     * given on the command line of that resume, never from a file. */
    {.name = "allow-out-change", .kind = CLI_OPT_SWITCH,
     .off = OWN(allow_out_change),
     .help = "pacer resume: write the rest of the results to an --out other "
             "than the run's (the results are then split between two "
             "files)"},
    /* Checking and filling the input (issue #18, parts 4 and 5). */
    {.name = "dry-run", .kind = CLI_OPT_SWITCH, .off = OWN(dry_run),
     .help = "send: check the input as pacer check does and send nothing"},
    {.name = "strict", .kind = CLI_OPT_SWITCH, .off = OWN(strict),
     .key = "strict",
     .help = "send: check the whole input first and send nothing (exit 2) "
             "if a line is bad; stdin is copied to a temporary file in "
             "$TMPDIR to be read twice"},
    {.name = "json", .kind = CLI_OPT_SWITCH, .off = OWN(check_json),
     .key = "json",
     .help = "pacer check, send --dry-run: the report as one JSON object"},
    {.name = "assume-latency", .kind = CLI_OPT_MS,
     .off = OWN(assume_latency_ms), .min = 1, .max = CLI_MS_MAX,
     .key = "assume-latency", .arg = "MS", .what = "a number of milliseconds",
     .help = "pacer check: the response time its estimate assumes for the "
             "concurrency bounds"},
    {.name = "csv", .kind = CLI_OPT_SWITCH, .off = OWN(csv), .flags = KEPT,
     .key = "csv",
     .help = "the input is CSV (RFC 4180) with a header row; columns id, "
             "url, method, key, priority, body, deadline_ms, timeout_ms, "
             "max_attempts make the job, the others fill templates"},
    {.name = "url", .kind = CLI_OPT_PATH, .off = OWN(url_template),
     .flags = KEPT, .key = "url", .arg = "TEMPLATE", .unset = "the url column",
     .help = "--csv: each row's URL, {column} filled percent-encoded, "
             "{define} as given"},
    {.name = "body-template", .kind = CLI_OPT_PATH,
     .off = OWN(body_template), .flags = KEPT, .key = "body-template",
     .arg = "FILE",
     .unset = "none",
     .help = "--csv: each row's body, {column} and {define} filled; a "
             "template starting with { or [ is JSON: values are JSON-escaped "
             "(write \"{name}\") and the body is sent as \"json\""},
    {.name = "define", .kind = CLI_OPT_LIST, .off = OWN(defines),
     .flags = KEPT, .key = "define", .arg = "NAME=VALUE", .unset = "none",
     .set = set_define, .get = get_defines,
     .help = "fills {NAME} in the string values of job lines and in "
             "templates (repeatable); a {NAME} with no value is an error "
             "for its line"},
    /* Flag only: actions, not settings. */
    {.name = "help", .short_name = 'h', .kind = CLI_OPT_SWITCH,
     .off = OWN(help), .flags = CLI_OPT_ACTION,
     .help = "print this help and exit. During a run, Ctrl-C (SIGINT or "
             "SIGTERM) starts no more jobs: the queued ones end cancelled, "
             "each with its result line (with --spool they stay in it for "
             "pacer resume), those in flight finish, and the counts are "
             "said; a second Ctrl-C aborts those in flight"},
    {.name = "version", .kind = CLI_OPT_SWITCH, .off = OWN(version),
     .flags = CLI_OPT_ACTION, .help = "print the version and exit"},
};
/* clang-format on */
#define NOPTS (sizeof table / sizeof table[0])

const cli_opt_t *cli_opt_table(size_t *n)
{
  *n = NOPTS;
  return table;
}

/* name (len bytes) is s; loose: "_" in name matches "-" in s. */
static int same_name(const char *name, size_t len, const char *s, int loose)
{
  if (strlen(s) != len)
    return 0;
  for (size_t j = 0; j < len; j++) {
    char a = loose && name[j] == '_' ? '-' : name[j];
    if (a != s[j])
      return 0;
  }
  return 1;
}

const cli_opt_t *cli_opt_by_name(const char *name, size_t len, int loose)
{
  for (size_t i = 0; i < NOPTS; i++)
    if (same_name(name, len, table[i].name, loose))
      return &table[i];
  return NULL;
}

const cli_opt_t *cli_opt_by_key(const char *key)
{
  for (size_t i = 0; i < NOPTS; i++)
    if (table[i].key && same_name(key, strlen(key), table[i].key, 1))
      return &table[i];
  return NULL;
}

/* ---- values by kind ---- */

/* An integer within the row's bounds. */
static int parse_bounded(const cli_opt_t *opt, const char *v,
                         unsigned long long *u, const char *who, char *err,
                         size_t errlen)
{
  if (parse_u64(v, opt->max, u))
    return cli_fail(err, errlen, "%s: '%s' is not %s", who, v, opt->what);
  if (*u < opt->min)
    return cli_fail(err, errlen, "%s: must be at least %llu", who, opt->min);
  return 0;
}

/* A failure ratio: 0.5 or 50%, above 0 and at most 1. */
static int parse_ratio(const char *v, double *d, const char *who, char *err,
                       size_t errlen)
{
  char buf[64];
  size_t n = strlen(v);
  int pct = n > 0 && v[n - 1] == '%';
  if (n >= sizeof buf)
    return cli_fail(err, errlen, "%s: '%s' is not a ratio", who, v);
  memcpy(buf, v, n + 1);
  if (pct)
    buf[n - 1] = 0;
  if (parse_double(buf, d))
    return cli_fail(err, errlen, "%s: '%s' is not a ratio (0.5 or 50%%)", who,
                    v);
  if (pct)
    *d /= 100;
  if (!(*d > 0 && *d <= 1))
    return cli_fail(err, errlen,
                    "%s: '%s' must be above 0 and at most 1 (100%%)", who, v);
  return 0;
}

static int set_choice(int *field, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen)
{
  for (int i = 0; opt->choices[i]; i++)
    if (!strcmp(v, opt->choices[i])) {
      *field = i;
      return 0;
    }
  char names[128] = ""; /* "a, b or c" */
  for (int i = 0; opt->choices[i]; i++) {
    size_t n = strlen(names);
    const char *sep = i == 0 ? "" : opt->choices[i + 1] ? ", " : " or ";
    snprintf(names + n, sizeof names - n, "%s%s", sep, opt->choices[i]);
  }
  return cli_fail(err, errlen, "%s: '%s' is not %s", who, v, names);
}

static int set_switch(int *field, const cli_opt_t *opt, const char *v,
                      const char *who, char *err, size_t errlen)
{
  int on = 1;
  if (v) {
    if (!strcmp(v, "true") || !strcmp(v, "1"))
      on = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0"))
      on = 0;
    else
      return cli_fail(err, errlen, "%s: expects true or false, not '%s'", who,
                      v);
  }
  *field = opt->flags & CLI_OPT_INVERT ? !on : on;
  return 0;
}

int cli_opt_set(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                const char *who, char *err, size_t errlen)
{
  void *field = (char *)o + opt->off;
  unsigned long long u = 0;
  double d = 0;
  if (opt->set)
    return opt->set(o, opt, v, who, err, errlen);
  if (opt->kind == CLI_OPT_SWITCH)
    return set_switch(field, opt, v, who, err, errlen);
  switch (opt->kind) {
  case CLI_OPT_UINT:
  case CLI_OPT_SIZE:
  case CLI_OPT_MS:
  case CLI_OPT_SECONDS:
    if (parse_bounded(opt, v, &u, who, err, errlen))
      return -1;
    if (opt->kind == CLI_OPT_UINT)
      *(unsigned *)field = (unsigned)u;
    else if (opt->kind == CLI_OPT_SIZE)
      *(size_t *)field = (size_t)u;
    else
      *(int64_t *)field =
          (int64_t)u * (opt->kind == CLI_OPT_SECONDS ? 1000 : 1);
    return 0;
  case CLI_OPT_RATE:
    /* "none" names the default of a rate whose default is no limit, so a
     * resumed run can lift the limit its spool keeps */
    if (opt->unset && !strcmp(opt->unset, "none") && !strcmp(v, "none")) {
      *(double *)field = 0;
      return 0;
    }
    if (cli_parse_rate(v, &d))
      return cli_fail(err, errlen,
                      "%s: '%s' is not a rate (N, N/s, N/m or N/h, N > 0)", who,
                      v);
    /* 0 read as "no limit" surprised users who meant a small rate or a
     * pause: no limit is what leaving the flag out gives. */
    if (d == 0)
      return cli_fail(err, errlen,
                      "%s: '%s' is not a rate: no limit is the default: "
                      "leave %s%s out (or give none)",
                      who, v, who[0] == '-' ? "" : "--",
                      who[0] == '-' ? who : opt->name);
    *(double *)field = d;
    return 0;
  case CLI_OPT_RATIO:
    if (parse_ratio(v, &d, who, err, errlen))
      return -1;
    *(double *)field = d;
    return 0;
  case CLI_OPT_PATH:
    if (!*v)
      return cli_fail(err, errlen, "%s: needs a file name", who);
    if (set_str(field, v))
      return cli_fail(err, errlen, "out of memory");
    return 0;
  case CLI_OPT_CHOICE:
    return set_choice(field, opt, v, who, err, errlen);
  default: /* LIST and CUSTOM rows have a setter */
    return cli_fail(err, errlen, "%s: cannot be set", who);
  }
}

/* An integer row's value as --config gives it (seconds for SECONDS). */
static json_int_t int_value(const cli_opt_t *opt, const void *field)
{
  switch (opt->kind) {
  case CLI_OPT_UINT:
    return *(const unsigned *)field;
  case CLI_OPT_SIZE:
    return (json_int_t) * (const size_t *)field;
  case CLI_OPT_SECONDS:
    return *(const int64_t *)field / 1000;
  default:
    return *(const int64_t *)field;
  }
}

int cli_opt_get(const cli_opts_t *o, const cli_opt_t *opt, json_t **out)
{
  const void *field = (const char *)o + opt->off;
  *out = NULL;
  if (opt->get)
    return opt->get(o, opt, out);
  switch (opt->kind) {
  case CLI_OPT_SWITCH:
    *out = json_boolean(*(const int *)field ^ !!(opt->flags & CLI_OPT_INVERT));
    break;
  case CLI_OPT_UINT:
  case CLI_OPT_SIZE:
  case CLI_OPT_MS:
  case CLI_OPT_SECONDS: {
    json_int_t n = int_value(opt, field);
    if (n == 0 && (opt->flags & CLI_OPT_ZERO_AUTO))
      return 0;
    *out = json_integer(n);
    break;
  }
  case CLI_OPT_RATE: /* 0, no limit, is the default no value names */
    if (*(const double *)field == 0)
      return 0;
    *out = json_real(*(const double *)field);
    break;
  case CLI_OPT_RATIO:
    *out = json_real(*(const double *)field);
    break;
  case CLI_OPT_PATH:
    if (!*(char *const *)field)
      return 0;
    *out = json_string(*(char *const *)field);
    break;
  case CLI_OPT_CHOICE:
    *out = json_string(opt->choices[*(const int *)field]);
    break;
  default: /* LIST and CUSTOM rows have a getter */
    return 0;
  }
  return *out ? 0 : -1;
}

void cli_opt_show(const cli_opts_t *o, const cli_opt_t *opt, char *buf,
                  size_t cap)
{
  json_t *v = NULL;
  snprintf(buf, cap, "%s", "");
  if (opt->flags & CLI_OPT_ACTION)
    return;
  if (cli_opt_get(o, opt, &v))
    v = NULL; /* out of memory: shown as unset */
  int zero = !v || (json_is_integer(v) && json_integer_value(v) == 0) ||
             (json_is_real(v) && json_real_value(v) == 0) ||
             (json_is_array(v) && json_array_size(v) == 0);
  if (zero && opt->unset)
    snprintf(buf, cap, "%s", opt->unset);
  else if (json_is_boolean(v))
    snprintf(buf, cap, "%s", json_is_true(v) ? "on" : "off");
  else if (json_is_integer(v))
    snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, cap, "%g", json_real_value(v));
  else if (json_is_string(v))
    snprintf(buf, cap, "%s", json_string_value(v));
  json_decref(v);
}
