/* SPDX-License-Identifier: MIT */
/* limiter.c - exact GCRA token bucket; the clock is a parameter.
 *
 * Invariants of a limited bucket (unlimited == 0):
 *   count >= 1, period_ns >= count (rate <= 1e9/s, so q >= 1),
 *   period_ns == q * count + r with 0 <= r < count,
 *   burst >= 1, bq + br/count == burst * (q + r/count) exactly,
 *   0 <= bq <= CENTURY_NS and 0 <= br < count,
 *   0 <= tat_rem < count.
 * A new bucket has TAT = INT64_MIN, so it is full at every now; a take always
 * leaves TAT above it, so it also marks a bucket never taken from.
 *
 * Durations that may be large (TAT - now after the clock went backwards) are
 * held as uint64_t, which is exact for any difference of two int64_t values,
 * and nothing is ever added to an int64_t without first checking the room
 * left: the whole module is free of signed overflow for every input. After a
 * successful take, TAT - now <= burst x interval <= 100 years, so with any now
 * below about INT64_MAX - 100 years (190 years of uptime) TAT is exact; past
 * that it saturates at INT64_MAX instead of wrapping. */
#include "limiter.h"

#include <math.h> /* isnan, isinf: macros, no libm */
#include <pacer/pacer.h>

#define NS_PER_S INT64_C(1000000000)
/* 100 years of 365.25 days: the longest burst x interval accepted, which
 * leaves room to add one more interval (< 4e18 ns) without overflow. */
#define CENTURY_NS (INT64_C(36525) * 86400 * NS_PER_S)
/* Longest token interval the fallback conversion may produce. */
#define MAX_PERIOD_NS 4e18

/* A non-negative duration of ns + rem/count nanoseconds, 0 <= rem < count. */
struct span {
  uint64_t ns;
  int64_t rem;
};

/* floor(k * r / c) and its remainder, exactly, for k >= 0 and 0 <= r < c.
 * Binary long multiplication keeps every partial remainder below c < 2^63, so
 * doubling it fits in uint64_t; the quotient is at most k. */
static int64_t muldiv(int64_t k, int64_t r, int64_t c, int64_t *rem)
{
  uint64_t q = 0, m = 0;
  for (int bit = 62; bit >= 0; bit--) {
    q <<= 1;
    m <<= 1;
    if (m >= (uint64_t)c) {
      m -= (uint64_t)c;
      q++;
    }
    if (((uint64_t)k >> bit) & 1) {
      m += (uint64_t)r;
      if (m >= (uint64_t)c) {
        m -= (uint64_t)c;
        q++;
      }
    }
  }
  *rem = (int64_t)m;
  return (int64_t)q;
}

/* k tokens' worth of time, k x (q + r/c). -1 (and *out zero) if it does not
 * fit in int64_t. */
static int scale(int64_t k, int64_t q, int64_t r, int64_t c, struct span *out)
{
  out->ns = 0;
  out->rem = 0;
  if (q != 0 && k > INT64_MAX / q)
    return -1;
  int64_t whole = k * q, rem;
  int64_t frac = muldiv(k, r, c, &rem);
  if (frac > INT64_MAX - whole)
    return -1;
  out->ns = (uint64_t)(whole + frac);
  out->rem = rem;
  return 0;
}

static int span_cmp(struct span a, struct span b)
{
  if (a.ns != b.ns)
    return a.ns < b.ns ? -1 : 1;
  return a.rem < b.rem ? -1 : a.rem > b.rem;
}

/* a - b for a >= b. */
static struct span span_sub(struct span a, struct span b, int64_t count)
{
  struct span d = {a.ns - b.ns, a.rem - b.rem};
  if (d.rem < 0) {
    d.ns--;
    d.rem += count;
  }
  return d;
}

/* a + b, saturating at UINT64_MAX ns: only a clock gone back by centuries gets
 * there, and add_ns() turns it into "never" anyway. */
static struct span span_add(struct span a, struct span b, int64_t count)
{
  struct span s;
  s.rem = a.rem + b.rem;
  uint64_t carry = s.rem >= count;
  if (carry)
    s.rem -= count;
  if (a.ns > UINT64_MAX - b.ns || a.ns + b.ns > UINT64_MAX - carry) {
    s.ns = UINT64_MAX;
    s.rem = 0;
  } else {
    s.ns = a.ns + b.ns + carry;
  }
  return s;
}

/* Smallest whole number of ns not below s. */
static uint64_t span_ceil(struct span s)
{
  return s.ns + (s.rem > 0 && s.ns < UINT64_MAX);
}

/* s from units of 1/from ns into units of 1/to ns, rounding up so that
 * nothing comes earlier than promised; exact when from == to. */
static struct span rebase(struct span s, int64_t from, int64_t to)
{
  int64_t rem;
  int64_t f = muldiv(to, s.rem, from, &rem);
  s.rem = f + (rem != 0);
  if (s.rem == to) {
    s.rem = 0;
    if (s.ns < UINT64_MAX)
      s.ns++;
  }
  return s;
}

/* now + d as an int64_t time; sets *sat and gives INT64_MAX when the true sum
 * is beyond it. (uint64_t)INT64_MAX - (uint64_t)now is the exact room left
 * for every now, negative ones included. */
static int64_t add_ns(int64_t now, uint64_t d, int *sat)
{
  *sat = 0;
  if (d > (uint64_t)INT64_MAX - (uint64_t)now) {
    *sat = 1;
    return INT64_MAX;
  }
  /* d > INT64_MAX fits only when now < 0; move it over in steps that keep
   * both sides in range. */
  while (d > (uint64_t)INT64_MAX) {
    now += INT64_MAX;
    d -= (uint64_t)INT64_MAX;
  }
  return now + (int64_t)d;
}

/* max(TAT - now, 0): how far the bucket is in debt at now. */
static struct span ahead(const pacer__bucket_t *b, int64_t now)
{
  struct span d = {0, 0};
  if (b->tat_ns > now || (b->tat_ns == now && b->tat_rem > 0)) {
    d.ns = (uint64_t)b->tat_ns - (uint64_t)now;
    d.rem = b->tat_rem;
  }
  return d;
}

/* The debt one more token would leave, max(TAT, now) + interval - now. -1 if
 * the clock went back so far (over 292 years) that it cannot be expressed. */
static int after_take(const pacer__bucket_t *b, int64_t now, struct span *e)
{
  struct span d = ahead(b, now);
  if (d.ns > (uint64_t)INT64_MAX)
    return -1;
  struct span one = {(uint64_t)b->q, b->r};
  *e = span_add(d, one, b->count);
  return 0;
}

/* Nearest integer to x, for 0 <= x < 2^62: both callers are bounded so, and
 * doing it by hand keeps the library off libm. */
static int64_t round_pos(double x)
{
  return (int64_t)(x + 0.5);
}

/* rate as count tokens per period_ns. Round periods first, so that every
 * integer rate per second, minute, hour or day is exact; otherwise the finest
 * power-of-ten count whose period still fits, which is within 1 part in about
 * 1e9 of the double given. rate is in (0, 1e9], so x <= 8.64e13 and
 * count <= period_ns. */
static int to_fraction(double rate, int64_t *count, int64_t *period_ns)
{
  static const int64_t period_s[] = {1, 60, 3600, 86400};
  for (size_t i = 0; i < sizeof period_s / sizeof period_s[0]; i++) {
    double x = rate * (double)period_s[i];
    int64_t n = round_pos(x);
    double off = x - (double)n;
    if (n >= 1 && (off < 0 ? -off : off) <= 1e-9 * (double)n) {
      *count = n;
      *period_ns = period_s[i] * NS_PER_S;
      return 0;
    }
  }
  for (int64_t c = NS_PER_S; c >= 1; c /= 10) {
    double p = (double)c * 1e9 / rate;
    if (p <= MAX_PERIOD_NS) {
      *count = c;
      *period_ns = round_pos(p);
      return 0;
    }
  }
  return -1;
}

/* Fills every rate field of out and makes it full. Returns 0 or
 * PACER_ERATE; out is scratch either way. */
static int params(double rate, int64_t burst, pacer__bucket_t *out)
{
  *out = (pacer__bucket_t){0};
  if (isnan(rate) || isinf(rate) || rate < 0 || rate > PACER__RATE_MAX ||
      burst < 1)
    return PACER_ERATE;
  out->burst = burst;
  out->count = 1;
  out->tat_ns = INT64_MIN;
  if (rate == 0) {
    out->unlimited = 1;
    return 0;
  }
  if (to_fraction(rate, &out->count, &out->period_ns))
    return PACER_ERATE;
  out->q = out->period_ns / out->count;
  out->r = out->period_ns % out->count;
  struct span bi;
  if (scale(burst, out->q, out->r, out->count, &bi) ||
      bi.ns > (uint64_t)CENTURY_NS)
    return PACER_ERATE;
  out->bq = (int64_t)bi.ns;
  out->br = bi.rem;
  return 0;
}

int pacer__rate_check(double rate, int64_t burst)
{
  pacer__bucket_t scratch;
  return params(rate, burst, &scratch);
}

int pacer__bucket_init(pacer__bucket_t *b, double rate, int64_t burst)
{
  pacer__bucket_t nb;
  int rc = params(rate, burst, &nb);
  if (rc == 0)
    *b = nb;
  return rc;
}

/* Moves the state of old (limited) into nb (limited, full) at now.
 *
 * The old state is read as: n whole tokens available now, the next one due
 * after w (0 < w <= one old interval; a full bucket has none under way), and
 * an excess E > 0 only when the clock went back behind the last take. The new
 * bucket gets min(n, new burst) tokens, the next one after min(w, one new
 * interval), and the same excess. So a raised burst fills at the rate rather
 * than at once, a token under way comes no later when the rate goes up, a
 * clock that went backwards still admits nothing new, and setting the values
 * already set changes nothing. Tokens beyond a lowered burst are lost, and
 * with them the one under way: the bucket is simply full. A bucket never
 * taken from is the exception: it stays new, full at any burst. */
static void carry_over(const pacer__bucket_t *old, pacer__bucket_t *nb,
                       int64_t now)
{
  struct span one = {(uint64_t)nb->q, nb->r};
  struct span d = ahead(old, now), excess = {0, 0}, w = one;
  int64_t have = old->burst;

  /* Never taken from (only init writes TAT = INT64_MIN; a take leaves it
   * above): still a new bucket, so full at the new burst. This is what lets a
   * key created with default limits and set at once start full. */
  if (old->tat_ns == INT64_MIN && old->tat_rem == 0)
    return;
  if (d.ns != 0 || d.rem != 0) {
    struct span bint = {(uint64_t)old->bq, old->br};
    if (span_cmp(d, bint) > 0) {
      excess = rebase(span_sub(d, bint, old->count), old->count, nb->count);
      d = bint;
    }
    /* m = ceil(d / interval), in [1, burst] as 0 < d <= burst x interval. */
    int64_t lo = 1, hi = old->burst;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      struct span s;
      (void)scale(mid, old->q, old->r, old->count, &s); /* mid <= burst */
      if (span_cmp(s, d) >= 0)
        hi = mid;
      else
        lo = mid + 1;
    }
    have = old->burst - lo;
    struct span before;
    (void)scale(lo - 1, old->q, old->r, old->count, &before);
    w = rebase(span_sub(d, before, old->count), old->count, nb->count);
    if (span_cmp(w, one) > 0)
      w = one;
  } else if (have >= nb->burst) {
    /* Full and staying full: TAT <= now stays so. The remainder is kept
     * where its units are unchanged, so the same values change nothing. */
    nb->tat_ns = old->tat_ns;
    nb->tat_rem = old->count == nb->count ? old->tat_rem : 0;
    return;
  }

  struct span debt = excess;
  if (have < nb->burst) {
    struct span rest;
    (void)scale(nb->burst - have - 1, nb->q, nb->r, nb->count, &rest);
    debt = span_add(debt, span_add(rest, w, nb->count), nb->count);
  }
  int sat;
  nb->tat_ns = add_ns(now, debt.ns, &sat);
  nb->tat_rem = sat ? 0 : debt.rem;
}

int pacer__bucket_set(pacer__bucket_t *b, double rate, int64_t burst,
                      int64_t now)
{
  pacer__bucket_t nb;
  int rc = params(rate, burst, &nb);
  if (rc)
    return rc;
  /* From or to unlimited there is no state worth keeping: full. */
  if (!b->unlimited && !nb.unlimited)
    carry_over(b, &nb, now);
  *b = nb;
  return 0;
}

int64_t pacer__bucket_wait(const pacer__bucket_t *b, int64_t now)
{
  if (b->unlimited)
    return 0;
  struct span e;
  if (after_take(b, now, &e))
    return INT64_MAX;
  struct span bint = {(uint64_t)b->bq, b->br};
  if (span_cmp(e, bint) <= 0)
    return 0;
  uint64_t w = span_ceil(span_sub(e, bint, b->count));
  return w > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)w;
}

void pacer__bucket_take(pacer__bucket_t *b, int64_t now)
{
  if (b->unlimited)
    return;
  /* Time is whole nanoseconds, TAT is not: a take in the nanosecond that
   * TAT falls in is on time. Restarting from now would drop TAT's fraction
   * and a dispatcher that wakes at each token's rounded-up time would fall
   * behind by up to 1 ns per token. */
  if (b->tat_rem > 0 && now > INT64_MIN && b->tat_ns == now - 1) {
    struct span t = {0, b->tat_rem};
    struct span one = {(uint64_t)b->q, b->r};
    t = span_add(t, one, b->count);
    int sat;
    b->tat_ns = add_ns(b->tat_ns, t.ns, &sat);
    b->tat_rem = sat ? 0 : t.rem;
    return;
  }
  struct span e;
  if (after_take(b, now, &e))
    return; /* precondition broken by centuries; the debt is already huge */
  int sat;
  b->tat_ns = add_ns(now, e.ns, &sat);
  b->tat_rem = sat ? 0 : e.rem;
}

int64_t pacer__bucket_try(pacer__bucket_t *b, int64_t now)
{
  int64_t w = pacer__bucket_wait(b, now);
  if (w == 0)
    pacer__bucket_take(b, now);
  return w;
}

int pacer__bucket_full(const pacer__bucket_t *b, int64_t now)
{
  if (b->unlimited)
    return 1;
  /* Burst takes in a row need TAT - now <= 0 before the first. */
  return b->tat_ns < now || (b->tat_ns == now && b->tat_rem == 0);
}

int64_t pacer__bucket_full_at(const pacer__bucket_t *b)
{
  if (b->unlimited)
    return INT64_MIN;
  /* Full is TAT <= now: the nanosecond after tat_ns when TAT has a
   * fraction. */
  return b->tat_rem > 0 && b->tat_ns < INT64_MAX ? b->tat_ns + 1 : b->tat_ns;
}
