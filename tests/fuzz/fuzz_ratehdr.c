/* SPDX-License-Identifier: MIT */
/* fuzz_ratehdr.c - a response's rate-limit fields read into one quota
 * (src/ratehdr.c): the RFC 8941 parser, the three forms, the caps.
 *
 * Input: 8 bytes of wall clock, 8 bytes of reset cap, then headers, each a
 * byte choosing its name (one of the fields read, or else a name taken from
 * the input up to a NUL) and its value up to the next NUL.
 * Properties: every value is -1 or within its cap (remaining never above a
 * known limit), nothing is found with every value unknown, the policy name
 * is set only for the IETF form, a clamped bit comes with the value sent,
 * and the result is the same when each field's lines are first joined into
 * one with ", " (RFC 9110's rule for repeated fields).
 */
#include "fuzz.h"
#include "ratehdr.h"

#include <strings.h>

#define MAX_HEADERS 32

static const char *const names[] = {
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Rate-Limit-Limit",
    "X-Rate-Limit-Remaining",
    "X-Rate-Limit-Reset",
    "ratelimit",
    "RATELIMIT-POLICY",
    "Retry-After",
};
#define NAMES (sizeof names / sizeof names[0])

static void check(const pacer__ratehdr_t *r, int found, int64_t cap)
{
  if (cap <= 0)
    cap = PACER__RATEHDR_RESET_MAX_NS;
  FUZZ_CHECK(found == r->found && (found == 0 || found == 1));
  FUZZ_CHECK(memchr(r->policy, '\0', sizeof r->policy) != NULL);
  if (!found) {
    FUZZ_CHECK(r->source == PACER__RATEHDR_NONE && r->clamped == 0);
    FUZZ_CHECK(r->limit == -1 && r->remaining == -1 && r->reset_ns == -1 &&
               r->window_ns == -1 && r->policy[0] == '\0');
    return;
  }
  FUZZ_CHECK(r->source >= PACER__RATEHDR_IETF && r->source <= PACER__RATEHDR_X);
  FUZZ_CHECK(r->limit >= -1 && r->limit <= PACER__RATEHDR_LIMIT_MAX);
  FUZZ_CHECK(r->remaining >= -1 && r->remaining <= PACER__RATEHDR_LIMIT_MAX);
  FUZZ_CHECK(r->limit < 0 || r->remaining <= r->limit);
  FUZZ_CHECK(r->reset_ns >= -1 && r->reset_ns <= cap);
  FUZZ_CHECK(r->window_ns == -1 ||
             (r->window_ns > 0 &&
              r->window_ns <= PACER__RATEHDR_WINDOW_MAX_S * 1000000000));
  FUZZ_CHECK(r->limit >= 0 || r->remaining >= 0 || r->reset_ns >= 0 ||
             r->window_ns >= 0);
  FUZZ_CHECK(r->source == PACER__RATEHDR_IETF || r->policy[0] == '\0');
  if (r->clamped & PACER__RATEHDR_CLAMP_LIMIT)
    FUZZ_CHECK(r->limit_raw > r->limit);
  if (r->clamped & PACER__RATEHDR_CLAMP_REMAINING)
    FUZZ_CHECK(r->remaining_raw > r->remaining);
  if (r->clamped & PACER__RATEHDR_CLAMP_RESET)
    FUZZ_CHECK(r->reset_ns == cap &&
               r->reset_raw_s >= r->reset_ns / 1000000000);
  if (r->clamped & PACER__RATEHDR_CLAMP_WINDOW)
    FUZZ_CHECK(r->window_raw_s > PACER__RATEHDR_WINDOW_MAX_S);
}

static void same(const pacer__ratehdr_t *a, const pacer__ratehdr_t *b)
{
  FUZZ_CHECK(
      a->found == b->found && a->source == b->source && a->limit == b->limit &&
      a->remaining == b->remaining && a->reset_ns == b->reset_ns &&
      a->window_ns == b->window_ns && a->clamped == b->clamped &&
      a->limit_raw == b->limit_raw && a->remaining_raw == b->remaining_raw &&
      a->reset_raw_s == b->reset_raw_s && a->window_raw_s == b->window_raw_s &&
      strcmp(a->policy, b->policy) == 0);
}

static int blank(const char *s)
{
  return s[strspn(s, " \t")] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in_t in = {data, size};
  int64_t now = (int64_t)fuzz_u64(&in);
  int64_t cap = (int64_t)fuzz_u64(&in);
  pacer_header_t h[MAX_HEADERS], j[MAX_HEADERS];
  char *own[2 * MAX_HEADERS];
  size_t n = 0, nown = 0, nj = 0;
  pacer__ratehdr_t r1, r2;

  while (in.left && n < MAX_HEADERS) {
    uint8_t sel = fuzz_u8(&in);
    const char *name = NULL;
    if (sel % 16 < NAMES) {
      name = names[sel % 16];
    } else {
      char *s = fuzz_str(&in, NULL);
      if (!s)
        goto out;
      own[nown++] = s;
      name = s;
    }
    char *v = fuzz_str(&in, NULL);
    if (!v)
      goto out;
    own[nown++] = v;
    h[n].name = name;
    h[n].value = v;
    n++;
  }

  int found = pacer__ratehdr_read(h, n, now, cap, &r1);
  check(&r1, found, cap);
  /* Pure: the same answer twice. */
  pacer__ratehdr_read(h, n, now, cap, &r2);
  same(&r1, &r2);

  /* Each field's non-blank lines joined into its first: the same answer. */
  char *joined[MAX_HEADERS];
  size_t njoined = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k, len = 0;
    for (k = 0; k < i; k++)
      if (!strcasecmp(h[k].name, h[i].name))
        break;
    if (k < i)
      continue; /* joined into an earlier one */
    for (k = i; k < n; k++)
      if (!strcasecmp(h[k].name, h[i].name))
        len += strlen(h[k].value) + 2;
    char *s = malloc(len + 1);
    if (!s)
      goto joined_out;
    joined[njoined++] = s;
    s[0] = '\0';
    for (k = i; k < n; k++)
      if (!strcasecmp(h[k].name, h[i].name) && !blank(h[k].value)) {
        if (s[0])
          strcat(s, ", ");
        strcat(s, h[k].value);
      }
    j[nj].name = h[i].name;
    j[nj].value = s;
    nj++;
  }
  pacer__ratehdr_read(j, nj, now, cap, &r2);
  same(&r1, &r2);
joined_out:
  for (size_t i = 0; i < njoined; i++)
    free(joined[i]);
out:
  for (size_t i = 0; i < nown; i++)
    free(own[i]);
  return 0;
}
