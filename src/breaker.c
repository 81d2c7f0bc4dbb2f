/* SPDX-License-Identifier: MIT */
/* breaker.c - circuit breaker for one key, with time as a parameter.
 *
 * Invariants:
 * - known <= window and pos < window; while known < window, pos == known
 *   (the ring has not wrapped yet, so the slot at pos is unused).
 * - failures is the number of ones in the first `window` bits; every bit at
 *   or beyond window is 0, and so is every unused slot. The same holds of
 *   slows and the slow ring, whose slots are the same outcomes'.
 * - Outside CLOSED the ring is empty (known == failures == pos == 0): it is
 *   cleared on opening, so a breaker always closes with an empty window.
 * - In HALF_OPEN, probes_left + probes_out + probes_ok == probes_need (the
 *   cfg's probes when it half-opened) and probes_ok < probes_need (reaching
 *   it closes it); outside HALF_OPEN all four are 0. probes_out <=
 * PACER__PROBES_OUT_MAX, and probe_at[0..out) holds the admission times of the
 * probes out, in admission order (so ascending): the oldest probe's deadline is
 * probe_at[0] + timeout.
 * - gen changes at every state change and nowhere else, so a ticket equal
 *   to gen was admitted in the current state. (It is a uint32_t: a ticket
 *   could only be mistaken for current after 2^32 state changes.)
 */
#include "breaker.h"
#include "clock.h"

#include <string.h>

#define WINDOW_MAX 1024u
#define PROBES_MAX 1000000u

int pacer__breaker_cfg_check(const pacer__breaker_cfg_t *cfg)
{
  if (cfg == NULL)
    return PACER_EINVAL;
  if (cfg->window < 1 || cfg->window > WINDOW_MAX)
    return PACER_EINVAL;
  if (cfg->min_calls < 1 || cfg->min_calls > cfg->window)
    return PACER_EINVAL;
  /* Written so that NaN fails it: every comparison with NaN is false. */
  if (!(cfg->threshold > 0.0 && cfg->threshold <= 1.0))
    return PACER_EINVAL;
  if (cfg->cooldown_ns < 0)
    return PACER_EINVAL;
  if (cfg->probes < 1 || cfg->probes > PROBES_MAX)
    return PACER_EINVAL;
  if (cfg->probe_timeout_ns < 1)
    return PACER_EINVAL;
  if (cfg->slow_ns < 0 || (cfg->slow_ns > 0 && !(cfg->slow_threshold > 0.0 &&
                                                 cfg->slow_threshold <= 1.0)))
    return PACER_EINVAL;
  return 0;
}

static void clear_ring(pacer__breaker_t *b)
{
  memset(b->bits, 0, sizeof b->bits);
  memset(b->slow, 0, sizeof b->slow);
  b->pos = 0;
  b->known = 0;
  b->failures = 0;
  b->slows = 0;
}

static void clear_probes(pacer__breaker_t *b)
{
  b->probes_out = 0;
  b->probes_left = 0;
  b->probes_ok = 0;
  b->probes_need = 0;
}

static int64_t probe_deadline(const pacer__breaker_t *b)
{
  return b->probes_out
             ? pacer__time_add(b->probe_at[0], b->cfg->probe_timeout_ns)
             : INT64_MAX;
}

/* Forgets the probe admitted at t (any one of them if several were admitted
 * at t: they share a deadline). */
static void probe_forget(pacer__breaker_t *b, int64_t t)
{
  unsigned i = 0;
  while (i + 1 < b->probes_out && b->probe_at[i] != t)
    i++;
  for (; i + 1 < b->probes_out; i++)
    b->probe_at[i] = b->probe_at[i + 1];
  b->probes_out--;
}

void pacer__breaker_init(pacer__breaker_t *b, const pacer__breaker_cfg_t *cfg)
{
  memset(b, 0, sizeof *b);
  b->cfg = cfg;
  b->state = PACER_BREAKER_CLOSED;
  clear_ring(b);
  clear_probes(b);
}

/* Opens b at now; why and the ratios say what did it (last_trip). */
static void trip(pacer__breaker_t *b, int64_t now, unsigned why, unsigned calls,
                 unsigned failed, unsigned slow)
{
  b->last_trip.why = why;
  b->last_trip.calls = calls;
  b->last_trip.failure_ratio = calls ? (double)failed / (double)calls : 0;
  b->last_trip.slow_ratio = calls ? (double)slow / (double)calls : 0;
  b->last_trip.at_ns = now;
  b->state = PACER_BREAKER_OPEN;
  b->gen++;
  b->opened++;
  b->open_until = pacer__time_add(now, b->cfg->cooldown_ns);
  clear_ring(b);
  clear_probes(b);
}

static void half_open(pacer__breaker_t *b)
{
  b->state = PACER_BREAKER_HALF_OPEN;
  b->gen++;
  clear_probes(b);
  b->probes_left = b->probes_need = b->cfg->probes;
}

static void close_breaker(pacer__breaker_t *b)
{
  b->state = PACER_BREAKER_CLOSED;
  b->gen++;
  clear_ring(b);
  clear_probes(b);
}

/* Applies the transitions that time alone makes due. The timeout comes first
 * so that with cooldown_ns == 0 a reopened breaker half-opens in the same
 * call, as it would on the next one anyway. */
static void advance(pacer__breaker_t *b, int64_t now)
{
  if (b->state == PACER_BREAKER_HALF_OPEN && b->probes_out > 0 &&
      now >= probe_deadline(b))
    trip(b, now, PACER__TRIP_PROBE | PACER__TRIP_TIMEOUT | PACER__TRIP_FAILURES,
         b->probes_ok + 1, 1, 0);
  if (b->state == PACER_BREAKER_OPEN && now >= b->open_until)
    half_open(b);
}

/* Sets or clears the bit at mask in word w of ring, keeping *ones. */
static void put_bit(uint64_t *ring, unsigned w, uint64_t mask, int one,
                    unsigned *ones)
{
  if (one) {
    ring[w] |= mask;
    (*ones)++;
  } else {
    ring[w] &= ~mask;
  }
}

static void push(pacer__breaker_t *b, int failed, int slow)
{
  unsigned w = b->pos >> 6;
  uint64_t mask = UINT64_C(1) << (b->pos & 63u);

  /* Once full, the slot at pos holds the oldest outcome, which falls out. */
  if (b->known == b->cfg->window) {
    if (b->bits[w] & mask)
      b->failures--;
    if (b->slow[w] & mask)
      b->slows--;
  } else {
    b->known++;
  }
  put_bit(b->bits, w, mask, failed, &b->failures);
  put_bit(b->slow, w, mask, slow, &b->slows);
  b->pos = b->pos + 1 == b->cfg->window ? 0 : b->pos + 1;
}

/* PACER__TRIP_FAILURES and/or PACER__TRIP_SLOW when the window opens it,
 * else 0. */
static unsigned should_open(const pacer__breaker_t *b)
{
  unsigned why = 0;
  if (b->known < b->cfg->min_calls)
    return 0;
  /* Divide rather than multiply: failures / known is rounded once, to the
   * double nearest the true ratio, just as the threshold literal was, so a
   * ratio equal to the threshold compares equal (7 of 100 against 0.07).
   * threshold * known rounds twice: 0.07 * 100 is 7.000000000000001, and 7
   * failures would not open it. */
  if ((double)b->failures / (double)b->known >= b->cfg->threshold)
    why |= PACER__TRIP_FAILURES;
  if (b->cfg->slow_ns > 0 &&
      (double)b->slows / (double)b->known >= b->cfg->slow_threshold)
    why |= PACER__TRIP_SLOW;
  return why;
}

int pacer__breaker_is_slow(const pacer__breaker_cfg_t *cfg,
                           pacer__outcome_kind_t kind, int64_t admitted_ns,
                           int64_t now)
{
  if (cfg->slow_ns <= 0 ||
      (kind != PACER__OUTCOME_SUCCESS && kind != PACER__OUTCOME_FAILURE))
    return 0;
  /* now - admitted_ns cannot overflow for the times a clock gives; a clock
   * that went back makes no call slow. */
  return now > admitted_ns && now - admitted_ns > cfg->slow_ns;
}

pacer__breaker_trip_t pacer__breaker_last_trip(const pacer__breaker_t *b)
{
  return b->last_trip;
}

int pacer__breaker_allow(pacer__breaker_t *b, int64_t now, int64_t *retry_at)
{
  int64_t at;

  advance(b, now);
  switch (b->state) {
  case PACER_BREAKER_CLOSED:
    return 1;
  case PACER_BREAKER_HALF_OPEN:
    if (b->probes_left > 0 && b->probes_out < PACER__PROBES_OUT_MAX)
      return 1;
    /* No slot is free, so probes are out (else they all succeeded and it
     * closed): either an outcome or their deadline changes the answer. */
    at = probe_deadline(b);
    break;
  case PACER_BREAKER_OPEN:
  default:
    at = b->open_until;
    break;
  }
  if (retry_at != NULL)
    *retry_at = at;
  return 0;
}

uint32_t pacer__breaker_admit(pacer__breaker_t *b, int64_t now)
{
  if (b->state == PACER_BREAKER_CLOSED)
    return b->gen;
  /* Without the allow() this requires, there is no slot to take. A ticket
   * from the previous state makes the call's outcome count for nothing,
   * which is safer than letting it judge the breaker. */
  if (b->state != PACER_BREAKER_HALF_OPEN || b->probes_left == 0 ||
      b->probes_out == PACER__PROBES_OUT_MAX)
    return b->gen - 1u;
  /* Each probe gets a full timeout of its own from its admission: a later
   * probe never inherits an earlier one's deadline. A clock that went back
   * is held at the last admission so the times stay in order. */
  int64_t last = b->probes_out ? b->probe_at[b->probes_out - 1] : INT64_MIN;
  b->probe_at[b->probes_out] = now > last ? now : last;
  b->probes_left--;
  b->probes_out++;
  return b->gen;
}

static int record_probe(pacer__breaker_t *b, pacer__outcome_kind_t kind,
                        int64_t admitted, int64_t now)
{
  /* A current ticket with nothing out cannot come from admit(); ignore it
   * rather than let the counters wrap. */
  if (b->probes_out == 0)
    return 0;
  /* A slow probe says the key is not well yet: it fails, whatever its
   * answer (so a key that only answers slowly never closes). */
  int slow = pacer__breaker_is_slow(b->cfg, kind, admitted, now);
  if (kind == PACER__OUTCOME_FAILURE || slow) {
    unsigned why = PACER__TRIP_PROBE |
                   (kind == PACER__OUTCOME_FAILURE ? PACER__TRIP_FAILURES : 0) |
                   (slow ? PACER__TRIP_SLOW : 0);
    trip(b, now, why, b->probes_ok + 1, kind == PACER__OUTCOME_FAILURE, slow);
    return 1;
  }
  switch (kind) {
  case PACER__OUTCOME_SUCCESS:
    probe_forget(b, admitted);
    b->probes_ok++;
    if (b->probes_ok == b->probes_need) {
      close_breaker(b);
      return 1;
    }
    break;
  case PACER__OUTCOME_IGNORE:
  default:
    /* It judged nothing, so another call may take its place. */
    probe_forget(b, admitted);
    b->probes_left++;
    break;
  }
  return 0;
}

int pacer__breaker_record(pacer__breaker_t *b, uint32_t ticket,
                          pacer__outcome_kind_t kind, int64_t admitted_ns,
                          int64_t now)
{
  if (ticket != b->gen)
    return 0;
  switch (b->state) {
  case PACER_BREAKER_CLOSED: {
    if (kind != PACER__OUTCOME_SUCCESS && kind != PACER__OUTCOME_FAILURE)
      return 0;
    push(b, kind == PACER__OUTCOME_FAILURE,
         pacer__breaker_is_slow(b->cfg, kind, admitted_ns, now));
    unsigned why = should_open(b);
    if (!why)
      return 0;
    trip(b, now, why, b->known, b->failures, b->slows);
    return 1;
  }
  case PACER_BREAKER_HALF_OPEN:
    return record_probe(b, kind, admitted_ns, now);
  case PACER_BREAKER_OPEN:
  default:
    return 0;
  }
}

pacer_breaker_state_t pacer__breaker_state(pacer__breaker_t *b, int64_t now)
{
  advance(b, now);
  return b->state;
}

int pacer__breaker_pristine(const pacer__breaker_t *b)
{
  return b->state == PACER_BREAKER_CLOSED && b->known == 0;
}

int64_t pacer__breaker_keep_until(const pacer__breaker_t *b, int64_t now)
{
  switch (b->state) {
  case PACER_BREAKER_OPEN:
    return pacer__time_add(b->open_until, b->cfg->cooldown_ns);
  case PACER_BREAKER_HALF_OPEN:
    return pacer__time_add(now, b->cfg->cooldown_ns);
  case PACER_BREAKER_CLOSED:
  default:
    return b->failures || b->slows ? pacer__time_add(now, b->cfg->cooldown_ns)
                                   : INT64_MIN;
  }
}

void pacer__breaker_rewindow(pacer__breaker_t *b, unsigned old_window,
                             unsigned new_window)
{
  if (b->known == 0) {
    b->pos = 0; /* an empty ring (and every breaker not CLOSED) */
    return;
  }
  /* Oldest first: from slot 0 until the ring wrapped, from pos after. */
  unsigned start = b->known < old_window ? 0 : b->pos;
  unsigned keep = b->known < new_window ? b->known : new_window;
  uint64_t bits[16] = {0}, slow[16] = {0};
  unsigned failures = 0, slows = 0;
  for (unsigned i = 0; i < keep; i++) {
    unsigned from = (start + (b->known - keep) + i) % old_window;
    uint64_t from_mask = UINT64_C(1) << (from & 63u);
    uint64_t to_mask = UINT64_C(1) << (i & 63u);
    if (b->bits[from >> 6] & from_mask) {
      bits[i >> 6] |= to_mask;
      failures++;
    }
    if (b->slow[from >> 6] & from_mask) { /* the slow marks move with them */
      slow[i >> 6] |= to_mask;
      slows++;
    }
  }
  memcpy(b->bits, bits, sizeof bits);
  memcpy(b->slow, slow, sizeof slow);
  b->known = keep;
  b->failures = failures;
  b->slows = slows;
  b->pos = keep == new_window ? 0 : keep;
}

void pacer__breaker_reset(pacer__breaker_t *b)
{
  close_breaker(b);
}

const char *pacer__breaker_state_name(int state)
{
  switch (state) {
  case PACER_BREAKER_CLOSED:
    return "closed";
  case PACER_BREAKER_OPEN:
    return "open";
  case PACER_BREAKER_HALF_OPEN:
    return "half_open";
  }
  return "unknown"; /* a state added later must not break the output */
}
