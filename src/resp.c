/* SPDX-License-Identifier: MIT */
/* resp.c - one attempt's outcome: error class, status, headers and body,
 * bounded as they arrive.
 *
 * Invariants:
 * - hmem holds header_count "name\0value\0" pairs back to back, in order, and
 *   headers[i] points at the i-th pair; the pointers are moved whenever hmem
 *   moves, so they are valid between any two calls.
 * - The header bytes counted against max_bytes (name + value + 4 each) are
 *   hmem_len + 2 * header_count, so no separate counter can drift.
 * - body is NULL or holds body_len bytes followed by a NUL, and
 *   body_len < body_cap.
 * - After a failed call (ENOMEM, ETOOLARGE) nothing has changed. */
#include "resp.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HMEM_MIN 512
#define HEADERS_MIN 16
#define BODY_MIN 1024

static int is_sp(char c)
{
  return c == ' ' || c == '\t';
}

/* A capacity >= need, doubling from cap (or min) so that n appends cost
 * O(n) copying; just need when doubling would overflow. */
static size_t grown(size_t cap, size_t min, size_t need)
{
  size_t c = cap > min ? cap : min;

  while (c < need) {
    if (c > SIZE_MAX / 2)
      return need;
    c *= 2;
  }
  return c;
}

void pacer__resp_init(pacer__resp_t *r)
{
  memset(r, 0, sizeof *r);
}

void pacer__resp_reset(pacer__resp_t *r)
{
  free(r->headers);
  free(r->hmem);
  free(r->body);
  pacer__resp_init(r);
}

void pacer__resp_clear_headers(pacer__resp_t *r)
{
  /* The memory stays: the next response's headers will want it. */
  r->header_count = 0;
  r->hmem_len = 0;
}

static size_t header_bytes(const pacer__resp_t *r)
{
  return r->hmem_len + 2 * r->header_count;
}

/* Makes room for extra more bytes in hmem. The new arena is allocated before
 * the old one is freed so the pointers can be moved by their offsets while
 * both are valid; realloc() would leave nothing to measure them against. */
static int hmem_reserve(pacer__resp_t *r, size_t extra)
{
  size_t need = r->hmem_len + extra;
  size_t cap, i;
  char *m;

  if (need <= r->hmem_cap)
    return 0;
  cap = grown(r->hmem_cap, HMEM_MIN, need);
  m = malloc(cap);
  if (m == NULL)
    return PACER_ENOMEM;
  if (r->hmem_len > 0)
    memcpy(m, r->hmem, r->hmem_len);
  for (i = 0; i < r->header_count; i++) {
    pacer_header_t *h = &r->headers[i];

    h->name = m + (h->name - r->hmem);
    h->value = m + (h->value - r->hmem);
  }
  free(r->hmem);
  r->hmem = m;
  r->hmem_cap = cap;
  return 0;
}

static int headers_reserve(pacer__resp_t *r)
{
  size_t cap;
  pacer_header_t *h;

  if (r->header_count < r->header_cap)
    return 0;
  cap = grown(r->header_cap, HEADERS_MIN, r->header_count + 1);
  if (cap > SIZE_MAX / sizeof *h)
    return PACER_ENOMEM;
  h = realloc(r->headers, cap * sizeof *h);
  if (h == NULL)
    return PACER_ENOMEM;
  r->headers = h;
  r->header_cap = cap;
  return 0;
}

int pacer__resp_add_header(pacer__resp_t *r, const char *name, size_t nlen,
                           const char *value, size_t vlen, size_t max_bytes)
{
  size_t cost, pos;
  int rc;

  if (r == NULL || (name == NULL && nlen > 0) || (value == NULL && vlen > 0))
    return PACER_EINVAL;
  while (vlen > 0 && is_sp(value[0])) {
    value++;
    vlen--;
  }
  while (vlen > 0 && is_sp(value[vlen - 1]))
    vlen--;

  if (vlen > SIZE_MAX - 4 || nlen > SIZE_MAX - 4 - vlen)
    return PACER_ETOOLARGE;
  cost = nlen + vlen + 4;
  if (cost > max_bytes || header_bytes(r) > max_bytes - cost)
    return PACER_ETOOLARGE;

  rc = headers_reserve(r);
  if (rc == 0)
    rc = hmem_reserve(r, nlen + vlen + 2);
  if (rc != 0)
    return rc;

  pos = r->hmem_len;
  if (nlen > 0)
    memcpy(r->hmem + pos, name, nlen);
  r->hmem[pos + nlen] = '\0';
  if (vlen > 0)
    memcpy(r->hmem + pos + nlen + 1, value, vlen);
  r->hmem[pos + nlen + 1 + vlen] = '\0';
  r->headers[r->header_count].name = r->hmem + pos;
  r->headers[r->header_count].value = r->hmem + pos + nlen + 1;
  r->header_count++;
  r->hmem_len += nlen + vlen + 2;
  return 0;
}

/* RFC 9112 obs-fold: a line starting with SP or HTAB continues the previous
 * field's value, and a recipient must replace the fold with SP. The last
 * value is the arena's last string, so it can grow in place. */
static int continue_header(pacer__resp_t *r, const char *s, size_t len,
                           size_t max_bytes)
{
  size_t cost;
  int rc;

  while (len > 0 && is_sp(s[0])) {
    s++;
    len--;
  }
  while (len > 0 && is_sp(s[len - 1]))
    len--;
  if (r->header_count == 0 || len == 0)
    return 0;
  if (len > SIZE_MAX - 1)
    return PACER_ETOOLARGE;
  cost = len + 1; /* the SP that replaces the fold */
  if (cost > max_bytes || header_bytes(r) > max_bytes - cost)
    return PACER_ETOOLARGE;
  rc = hmem_reserve(r, cost);
  if (rc != 0)
    return rc;
  /* Overwrite the value's NUL with the SP, then end the longer value. */
  r->hmem[r->hmem_len - 1] = ' ';
  memcpy(r->hmem + r->hmem_len, s, len);
  r->hmem_len += len + 1;
  r->hmem[r->hmem_len - 1] = '\0';
  return 0;
}

/* "HTTP/x[.y] NNN[ reason]": 1 and *status if line is a status line. */
static int status_line(const char *s, size_t len, int *status)
{
  const char *sp, *d;
  size_t rest;

  if (len < 5 || memcmp(s, "HTTP/", 5) != 0)
    return 0;
  sp = memchr(s + 5, ' ', len - 5);
  if (sp == NULL)
    return 0;
  d = sp + 1;
  rest = len - (size_t)(d - s);
  if (rest < 3 || d[0] < '1' || d[0] > '9' || d[1] < '0' || d[1] > '9' ||
      d[2] < '0' || d[2] > '9')
    return 0;
  if (rest > 3 && d[3] != ' ')
    return 0;
  *status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
  return 1;
}

int pacer__resp_header_line(pacer__resp_t *r, const char *line, size_t len,
                            size_t max_bytes)
{
  const char *colon;
  size_t nlen;
  int status;

  if (r == NULL || (line == NULL && len > 0))
    return PACER_EINVAL;
  /* CRLF as sent; a bare LF as tolerated by RFC 9112. */
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
    len--;
  if (len == 0)
    return 0;
  if (status_line(line, len, &status)) {
    /* A new response begins (after a 1xx, a redirect or a proxy's
     * CONNECT reply): only its own headers belong to the result. */
    pacer__resp_clear_headers(r);
    r->status = status;
    return 0;
  }
  if (is_sp(line[0]))
    return continue_header(r, line, len, max_bytes);
  colon = memchr(line, ':', len);
  if (colon == NULL)
    return 0;
  nlen = (size_t)(colon - line);
  /* "Name : v" is invalid (RFC 9112 5.1); drop the space as a proxy must,
   * so that the field is still found by its name. */
  while (nlen > 0 && is_sp(line[nlen - 1]))
    nlen--;
  if (nlen == 0)
    return 0;
  return pacer__resp_add_header(r, line, nlen, colon + 1,
                                len - (size_t)(colon - line) - 1, max_bytes);
}

int pacer__resp_append_body(pacer__resp_t *r, const void *data, size_t len,
                            size_t max_bytes)
{
  size_t need;

  if (r == NULL || (data == NULL && len > 0))
    return PACER_EINVAL;
  if (r->body_len > max_bytes || len > max_bytes - r->body_len)
    return PACER_ETOOLARGE;
  if (len == 0)
    return 0;
  if (r->body_len + len > SIZE_MAX - 1)
    return PACER_ENOMEM;
  need = r->body_len + len + 1;
  if (need > r->body_cap) {
    size_t cap = grown(r->body_cap, BODY_MIN, need);
    char *b = realloc(r->body, cap);

    if (b == NULL)
      return PACER_ENOMEM;
    r->body = b;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
  return 0;
}

const char *pacer__resp_header(const pacer__resp_t *r, const char *name)
{
  size_t i;

  if (r == NULL || name == NULL)
    return NULL;
  /* For a repeated field the last value is the one the server sent last,
   * which is what a single-valued field like Retry-After means. */
  for (i = r->header_count; i > 0; i--) {
    if (strcasecmp(r->headers[i - 1].name, name) == 0)
      return r->headers[i - 1].value;
  }
  return NULL;
}

void pacer__resp_fail(pacer__resp_t *r, int error, int transport_code,
                      const char *fmt, ...)
{
  va_list ap;
  int n;

  r->error = error;
  r->transport_code = transport_code;
  va_start(ap, fmt);
  /* vsnprintf truncates and always NUL-terminates a non-empty buffer. */
  n = fmt != NULL ? vsnprintf(r->message, sizeof r->message, fmt, ap) : -1;
  va_end(ap);
  if (n < 0)
    r->message[0] = '\0';
}
