/* SPDX-License-Identifier: MIT */
/* http.c - checks and parsing of request parts: URLs, methods, header fields,
 * HTTP dates and Retry-After, and URLs made fit for a log line.
 *
 * URLs go through libcurl's own parser, so what passes here is exactly what
 * the transport will later accept and send to the same host. Nothing here
 * keeps state or touches locale: any thread may call any function. */
#include "http.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S INT64_C(1000000000)
#define METHOD_MAX 32
#define HEADER_NAME_MAX 256
#define HEADER_VALUE_MAX ((size_t)64 * 1024)
/* Longer than any of the three HTTP-date forms with room for sloppy servers;
 * anything longer is not a date worth believing. */
#define DATE_MAX 64

/* RFC 9110 tchar, spelled out so the answer does not depend on the locale. */
static int is_tchar(unsigned char c)
{
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* 1 if s is a token of 1..max characters. Stops reading at max + 1 so a huge
 * input costs nothing. */
static int is_token(const char *s, size_t max)
{
  size_t i;

  for (i = 0; s[i] != '\0'; i++) {
    if (i >= max || !is_tchar((unsigned char)s[i]))
      return 0;
  }
  return i > 0;
}

static char ascii_lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int ascii_ieq(const char *a, const char *b)
{
  for (; *a && *b; a++, b++) {
    if (ascii_lower(*a) != ascii_lower(*b))
      return 0;
  }
  return *a == *b;
}

static int is_ows(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_ascii(const char *s)
{
  for (; *s != '\0'; s++)
    if ((unsigned char)*s >= 0x80)
      return 0;
  return 1;
}

static int is_alnum(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

static int is_hex(unsigned char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* 1 if the len bytes at s are a dotted quad in the one spelling libcurl
 * gives back unchanged: four decimal parts 0-255 without leading zeros.
 * Any other host that starts with a digit may be rewritten by libcurl
 * ("127.1", "0x7f.0.0.1", "2130706433" all become "127.0.0.1"). */
static int is_plain_ipv4(const char *s, size_t len)
{
  size_t i = 0;

  for (int part = 0; part < 4; part++) {
    unsigned v = 0;
    size_t start = i;

    if (part > 0) {
      if (i >= len || s[i] != '.')
        return 0;
      start = ++i;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      v = v * 10 + (unsigned)(s[i] - '0');
      if (i - start >= 3 || v > 255)
        return 0;
    }
    if (i == start || (s[start] == '0' && i - start > 1))
      return 0;
  }
  return i == len;
}

/* A URL in the plain shape almost every request has, checked without
 * libcurl: "http" or "https" (any case), "://", a host name of letters,
 * digits, '.', '-' and '_' starting with a letter or digit (a digit only
 * in a plain dotted quad), an optional port 1-65535, then nothing, or a
 * path, query and fragment of printable ASCII with well-formed %XX.
 * Returns 1 and the host's start and length when url has that shape: then
 * libcurl accepts it too and gives back the same host (its parser refuses
 * only control bytes, spaces, bad ports and hosts with characters outside
 * this set, and rewrites only numeric hosts). Returns 0 for anything else,
 * including what may well be valid: libcurl decides those. */
static int url_plain(const char *url, const char **hostp, size_t *hlenp)
{
  const char *s = url, *h;
  size_t n;

  if (ascii_lower(s[0]) != 'h' || ascii_lower(s[1]) != 't' ||
      ascii_lower(s[2]) != 't' || ascii_lower(s[3]) != 'p')
    return 0;
  s += 4;
  if (ascii_lower(*s) == 's')
    s++;
  if (s[0] != ':' || s[1] != '/' || s[2] != '/')
    return 0;
  h = s += 3;
  if (!is_alnum((unsigned char)*s))
    return 0;
  while (is_alnum((unsigned char)*s) || *s == '.' || *s == '-' || *s == '_')
    s++;
  n = (size_t)(s - h);
  if (n > 253 || (h[0] >= '0' && h[0] <= '9' && !is_plain_ipv4(h, n)))
    return 0;
  if (*s == ':') {
    unsigned port = 0;
    const char *d = ++s;

    if (*s == '0')
      return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
      port = port * 10 + (unsigned)(*s - '0');
      if (s - d >= 5 || port > 65535)
        return 0;
    }
    if (s == d)
      return 0;
  }
  if (*s != '\0' && *s != '/')
    return 0;
  for (size_t len = 0; *s != '\0'; s++, len++) {
    unsigned char c = (unsigned char)*s;

    if (len > 8192 || c <= 0x20 || c >= 0x7f || c == '\\')
      return 0;
    if (c == '%' &&
        (!is_hex((unsigned char)s[1]) || !is_hex((unsigned char)s[2])))
      return 0;
  }
  *hostp = h;
  *hlenp = n;
  return 1;
}

/* Copies the n bytes of h into host[hostcap] in lower case: host names
 * compare case-insensitively, and one spelling per host keeps
 * "Example.COM" and "example.com" under one limiter key. 0, or PACER_EURL
 * if it does not fit. */
static int put_host(const char *h, size_t n, char *host, size_t hostcap)
{
  if (host == NULL)
    return 0;
  if (n >= hostcap)
    return PACER_EURL;
  for (size_t i = 0; i < n; i++)
    host[i] = ascii_lower(h[i]);
  host[n] = '\0';
  return 0;
}

int pacer__url_check(const char *url, char *host, size_t hostcap)
{
  const char *h;
  size_t n;

  if (url == NULL || url[0] == '\0')
    return PACER_EURL;
  /* libcurl's parser costs a few thousand instructions and four
   * allocations; the plain shape, checked here, is most requests. */
  if (url_plain(url, &h, &n))
    return put_host(h, n, host, hostcap);
  return pacer__url_check_curl(url, host, hostcap);
}

int pacer__url_check_curl(const char *url, char *host, size_t hostcap)
{
  CURLU *u;
  CURLUcode uc;
  char *scheme = NULL, *h = NULL;
  int rc;

  if (url == NULL || url[0] == '\0')
    return PACER_EURL;
  u = curl_url();
  if (u == NULL)
    return PACER_ENOMEM;
  /* No CURLU_DEFAULT_SCHEME: "example.com" is a mistake to report, not a
   * guess to make. CURLU_NON_SUPPORT_SCHEME lets "ftp://x" parse so that the
   * caller learns the scheme is the problem, not the syntax. */
  uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    rc = uc == CURLUE_OUT_OF_MEMORY ? PACER_ENOMEM : PACER_EURL;
    goto out;
  }
  uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  if (uc != CURLUE_OK) {
    rc = uc == CURLUE_OUT_OF_MEMORY ? PACER_ENOMEM : PACER_EURL;
    goto out;
  }
  /* The scheme is checked before the host so that "file:///etc/passwd",
   * which has no host, is refused for its scheme. */
  if (!ascii_ieq(scheme, "http") && !ascii_ieq(scheme, "https")) {
    rc = PACER_ESCHEME;
    goto out;
  }
  uc = curl_url_get(u, CURLUPART_HOST, &h, 0);
  if (uc != CURLUE_OK || h == NULL || h[0] == '\0') {
    rc = uc == CURLUE_OUT_OF_MEMORY ? PACER_ENOMEM : PACER_EURL;
    goto out;
  }
  /* An international name is what libcurl converts to punycode before it
   * resolves, through libidn2 in the process's locale: ask for that form
   * now, so the limiter key is the name actually contacted (bücher.example
   * and xn--bcher-kva.example are one host), and a name it cannot convert
   * (no IDN support, a locale that is not UTF-8, not a valid IDN) is refused
   * here instead of costing an attempt. libcurl reports every failure of the
   * conversion as out of memory, so none is taken for one. */
  if (!is_ascii(h)) {
    char *puny = NULL;

    uc = curl_url_get(u, CURLUPART_HOST, &puny, CURLU_PUNYCODE);
    curl_free(h);
    h = puny;
    if (uc != CURLUE_OK || h == NULL || h[0] == '\0' || !is_ascii(h)) {
      rc = PACER_EURL;
      goto out;
    }
  }
  rc = put_host(h, strlen(h), host, hostcap);
out:
  curl_free(h);
  curl_free(scheme);
  curl_url_cleanup(u);
  return rc;
}

int pacer__method_check(const char *method)
{
  if (method == NULL || !is_token(method, METHOD_MAX))
    return PACER_EMETHOD;
  return 0;
}

/* Framing and hop-by-hop fields, and Host: the transport writes these from
 * the URL, the method and the body. A job's own Content-Length or
 * Transfer-Encoding would be sent beside the real body, so a server would
 * read the rest as a second request on a pooled connection (smuggling); its
 * Connection, Keep-Alive, Upgrade, TE, Trailer or Proxy-Connection would
 * change how that shared connection behaves for later jobs; and a Host that
 * differs from the URL's would name another origin than the one the limiter
 * key, the TLS name and the redirect checks were decided for. */
static const char *const reserved_names[] = {
    "Content-Length", "Transfer-Encoding", "Connection",
    "Keep-Alive",     "Upgrade",           "TE",
    "Trailer",        "Proxy-Connection",  "Host"};

int pacer__header_reserved(const char *name, size_t len)
{
  size_t i, j;

  if (name == NULL)
    return 0;
  for (i = 0; i < sizeof reserved_names / sizeof reserved_names[0]; i++) {
    const char *r = reserved_names[i];

    for (j = 0; j < len && r[j] != '\0'; j++) {
      if (ascii_lower(name[j]) != ascii_lower(r[j]))
        break;
    }
    if (j == len && r[j] == '\0')
      return 1;
  }
  return 0;
}

int pacer__header_check(const char *name, const char *value)
{
  size_t i;

  if (name == NULL || value == NULL || !is_token(name, HEADER_NAME_MAX) ||
      pacer__header_reserved(name, strlen(name)))
    return PACER_EHEADER;
  /* RFC 9110 5.5: a field value is visible characters, SP and HTAB (and
   * obs-text, bytes 0x80-0xff). CR or LF would end the line and smuggle in
   * another header or a whole request; the other controls are refused as
   * servers and proxies disagree on what they mean. */
  for (i = 0; value[i] != '\0'; i++) {
    unsigned char c = (unsigned char)value[i];

    if (i >= HEADER_VALUE_MAX || (c < 0x20 && c != '\t') || c == 0x7f)
      return PACER_EHEADER;
  }
  return 0;
}

int pacer_header_check(const char *name, const char *value)
{
  return pacer__header_check(name, value);
}

int pacer__method_idempotent(const char *method)
{
  static const char *const idempotent[] = {"GET",   "HEAD", "OPTIONS",
                                           "TRACE", "PUT",  "DELETE"};
  size_t i;

  if (method == NULL)
    return 0;
  for (i = 0; i < sizeof idempotent / sizeof idempotent[0]; i++) {
    if (strcmp(method, idempotent[i]) == 0)
      return 1;
  }
  return 0;
}

int pacer__http_date(const char *s, int64_t *out)
{
  time_t t;

  if (s == NULL || out == NULL)
    return -1;
  /* curl_getdate() keeps no state and reads all three forms (and a few
   * looser ones, which RFC 9110 asks recipients to tolerate). */
  t = curl_getdate(s, NULL);
  if (t == (time_t)-1)
    return -1;
  *out = (int64_t)t;
  return 0;
}

/* delay-seconds (1*DIGIT) in ns, saturating at INT64_MAX: a server that asks
 * for forever gets the longest wait we can express, which the caller then
 * cuts to retry_after_max_ms. */
static int64_t seconds_ns(const char *s, size_t len)
{
  int64_t secs = 0;
  size_t i;

  for (i = 0; i < len; i++) {
    int d = s[i] - '0';

    if (secs > (INT64_MAX / NS_PER_S - d) / 10)
      return INT64_MAX;
    secs = secs * 10 + d;
  }
  return secs * NS_PER_S;
}

int64_t pacer__retry_after_ns(const char *value, int64_t wall_now_ns)
{
  const char *s;
  size_t len;
  char buf[DATE_MAX + 1];
  int64_t date_s, date_ns;

  if (value == NULL)
    return -1;
  s = value;
  while (is_ows(*s))
    s++;
  if (*s == '\0')
    return -1;
  /* s[0] is not white space, so this stops at len >= 1. */
  len = strlen(s);
  while (is_ows(s[len - 1]))
    len--;

  if (strspn(s, "0123456789") == len)
    return seconds_ns(s, len);
  /* Every HTTP-date form starts with a day name. A value that starts with a
   * digit or a sign is broken delay-seconds ("1.5", "-1"); curl's lenient
   * parser must not get the chance to read a date out of it. */
  if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+')
    return -1;
  if (len > DATE_MAX)
    return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (pacer__http_date(buf, &date_s) != 0)
    return -1;

  if (date_s > INT64_MAX / NS_PER_S)
    date_ns = INT64_MAX;
  else if (date_s < INT64_MIN / NS_PER_S)
    date_ns = INT64_MIN;
  else
    date_ns = date_s * NS_PER_S;
  if (date_ns <= wall_now_ns)
    return 0;
  /* wall_now_ns < date_ns here; only a negative wall clock can overflow. */
  if (wall_now_ns < 0 && date_ns > INT64_MAX + wall_now_ns)
    return INT64_MAX;
  return date_ns - wall_now_ns;
}

/* The query with every value replaced: names tell a reader which parameter
 * was sent, values are where API keys and signatures travel. */
static char *redact_query(const char *q)
{
  static const char mark[] = "[redacted]";
  size_t items = 1, i, n = 0;
  char *out;

  for (i = 0; q[i] != '\0'; i++)
    items += q[i] == '&';
  /* Each item keeps at most its name, then '=', the mark and a '&'. */
  out = malloc(strlen(q) + items * (sizeof mark + 1) + 1);
  if (out == NULL)
    return NULL;
  for (;;) {
    size_t len = strcspn(q, "&");
    const char *eq = memchr(q, '=', len);

    if (eq != NULL) {
      memcpy(out + n, q, (size_t)(eq - q) + 1);
      n += (size_t)(eq - q) + 1;
      memcpy(out + n, mark, sizeof mark - 1);
      n += sizeof mark - 1;
    } else if (len > 0) {
      /* "?token" alone: the whole item may be the secret. */
      memcpy(out + n, mark, sizeof mark - 1);
      n += sizeof mark - 1;
    }
    if (q[len] == '\0')
      break;
    out[n++] = '&';
    q += len + 1;
  }
  out[n] = '\0';
  return out;
}

char *pacer__url_redact(const char *url, char *out, size_t cap)
{
  CURLU *u;
  char *user = NULL, *pass = NULL, *query = NULL, *rq = NULL, *full = NULL;
  const char *text = "[unparsable URL]";

  if (cap == 0)
    return out;
  u = curl_url();
  if (u == NULL || url == NULL ||
      curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
          CURLUE_OK)
    goto done;
  curl_url_get(u, CURLUPART_USER, &user, 0);
  curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
  if (user != NULL || pass != NULL) {
    if (curl_url_set(u, CURLUPART_USER, "[redacted]", 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK)
      goto done;
  }
  /* Login options (";opt") belong to the userinfo too. */
  if (curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK ||
      curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK)
    goto done;
  if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK &&
      query != NULL) {
    rq = redact_query(query);
    if (rq == NULL || curl_url_set(u, CURLUPART_QUERY, rq, 0) != CURLUE_OK)
      goto done;
  }
  if (curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK && full != NULL)
    text = full;
done:
  snprintf(out, cap, "%s", text);
  curl_free(full);
  free(rq);
  curl_free(query);
  curl_free(pass);
  curl_free(user);
  curl_url_cleanup(u);
  return out;
}
