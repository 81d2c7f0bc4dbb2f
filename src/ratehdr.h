/* SPDX-License-Identifier: MIT */
/* ratehdr.h - reads the rate-limit fields of one response (IETF RateLimit /
 * RateLimit-Policy, the older RateLimit-* drafts, X-RateLimit-*) into one
 * normalized description of the quota.
 *
 * Pure: no clock read (the wall clock is a parameter), no allocation, no
 * global state; any thread. A field that is missing or malformed is ignored
 * as a whole, never the response; nothing here fails. Retry-After is not
 * read here: the scheduler keeps it first. The forms, the choice among
 * several policies and the reset rule are in docs/DESIGN.md ("Reading the
 * limits a server announces"). */
#ifndef PACER_RATEHDR_H
#define PACER_RATEHDR_H

#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>

/* Where a description came from, in order of precedence. */
enum {
  PACER__RATEHDR_NONE = 0,
  /* draft-ietf-httpapi-ratelimit-headers-08 and later:
   * RateLimit-Policy: "burst";q=100;w=60 and RateLimit: "burst";r=17;t=23 */
  PACER__RATEHDR_IETF = 1,
  /* drafts up to -07: RateLimit: limit=100, remaining=17, reset=23 (with
   * RateLimit-Policy: 100;w=60), or RateLimit-Limit, RateLimit-Remaining and
   * RateLimit-Reset as separate fields */
  PACER__RATEHDR_IETF_OLD = 2,
  /* X-RateLimit-Limit, -Remaining, -Reset (or X-Rate-Limit-*) */
  PACER__RATEHDR_X = 3
};

/* Bits of pacer__ratehdr_t.clamped: which values were cut to a cap. */
enum {
  PACER__RATEHDR_CLAMP_LIMIT = 0x1,
  PACER__RATEHDR_CLAMP_REMAINING = 0x2,
  PACER__RATEHDR_CLAMP_RESET = 0x4,
  PACER__RATEHDR_CLAMP_WINDOW = 0x8
};

/* Caps on values no server means: a limit or remaining quota above 10^9 is
 * cut to 10^9, a window above 366 days to 366 days, a reset farther than
 * the caller's cap (24 h when it gives none) to that cap. */
#define PACER__RATEHDR_LIMIT_MAX INT64_C(1000000000)
#define PACER__RATEHDR_WINDOW_MAX_S INT64_C(31622400)
#define PACER__RATEHDR_RESET_MAX_NS (INT64_C(86400) * 1000000000)

/* Policy names (IETF) longer than this are not matched: such an item is
 * ignored. Only the first PACER__RATEHDR_POLICIES items of RateLimit-Policy
 * are read; RateLimit may hold any number. */
#define PACER__RATEHDR_NAME_MAX 64
#define PACER__RATEHDR_POLICIES 16

typedef struct pacer__ratehdr {
  int found;         /* 1: the values below describe a quota; 0: nothing usable
                        (then every value is -1 and source is NONE) */
  int source;        /* PACER__RATEHDR_* */
  int64_t limit;     /* quota per window, -1 unknown */
  int64_t remaining; /* quota left until the reset, -1 unknown */
  int64_t reset_ns;  /* from now to the reset (0: now), -1 unknown */
  int64_t window_ns; /* the policy's window, -1 unknown */
  /* IETF: the name of the binding policy, NUL-terminated; "" otherwise. */
  char policy[PACER__RATEHDR_NAME_MAX + 1];
  unsigned clamped; /* PACER__RATEHDR_CLAMP_* bits */
  /* What the server sent, for a log line, where the bit in clamped is set:
   * the limit and remaining as sent, the reset as seconds from now
   * (saturated), the window in seconds. */
  int64_t limit_raw, remaining_raw, reset_raw_s, window_raw_s;
} pacer__ratehdr_t;

/* Reads the rate-limit fields among headers[0..count) (as pacer stores a
 * response: names in any case, a field repeated over several entries is one
 * list joined in order) into *out, which it always fills. wall_now_ns is
 * the wall clock (ns since the Unix epoch) that resets given as Unix times
 * are measured from; reset_max_ns caps every reset (0 or less: 24 h).
 * headers may be NULL when count is 0; entries with a NULL name or value are
 * skipped. Returns out->found. This function can't fail. */
int pacer__ratehdr_read(const pacer_header_t *headers, size_t count,
                        int64_t wall_now_ns, int64_t reset_max_ns,
                        pacer__ratehdr_t *out);

/* "IETF", "IETF-old", "X-RateLimit" or "none", for log lines. */
const char *pacer__ratehdr_source_name(int source);

#endif
