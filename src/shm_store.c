/* SPDX-License-Identifier: MIT */
/* shm_store.c - GCRA buckets shared by the processes of one host, in a POSIX
 * shared-memory segment updated only by lock-free atomics.
 *
 * A slot's id word is tag << 16 | gen << 2 | F << 1 | P: tag the name's
 * 48-bit hash (0: free), gen a count of the slot's reuses (so a CAS prepared
 * for one tenant fails on the next), P "pending" (claimed, not yet usable),
 * F "frozen" (being given back). Its life:
 *
 *   free(g) --claim--> tag|g|P --complete--> tag|g --freeze--> tag|g|F
 *      ^                  |  (loses to a lower slot)   ^           |
 *      +---- free(g+1) <--+                            +-unfreeze--+
 *      +---------------------------- free(g+1) <--- idle ---------+
 *
 * Invariants:
 * - A name's bucket is the first slot of its window, from home, whose tag is
 *   the name's, whatever its state. A token taken from a slot counts only if,
 *   after the CAS on its TAT, the slot still holds the same id word and is
 *   still that first slot ("canonical"); otherwise the take is void (the TAT
 *   it raised only makes that slot stricter) and is done again.
 * - Two claims of one name that race the freeing of another slot of the
 *   window can land in two slots (each saw a different first free slot).
 *   The lower one wins: completing a pending slot releases it if a slot below
 *   holds the tag, and otherwise first raises its TAT and pause to those of
 *   every slot above holding the tag. Takes from a slot above are valid only
 *   while no slot below holds the tag, i.e. before the claim, so the
 *   completion reads them all; the histories of the two slots never overlap,
 *   and the maximum of their TATs is the name's TAT. Completing twice changes
 *   nothing more (a max).
 * - A slot is given back only when idle: frozen (no take is valid on it any
 *   more), then its TAT read again; still idle, it is freed, else unfrozen.
 *   A full bucket and a new one are the same state, so nothing is lost.
 * - TAT and pause only ever grow (CAS-max); a new tenant inherits them, which
 *   at worst holds it back (a void take's interval), never lets more through.
 * - Whoever meets a pending or frozen slot finishes its step (complete,
 *   settle), so a process killed between steps stops nobody.
 * All atomics are sequentially consistent: the arguments above rely on a
 * single order of the CAS on a TAT and the loads that validate it. */
#include "shm_store.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pacer/pacer.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
               "64-bit atomics must be lock-free: a process killed inside a "
               "lock-based one would leave its lock held");
_Static_assert(sizeof(unsigned long long) == 8, "64-bit words");

#define MAGIC 0x4d48535245434150ull /* "PACERSHM" little-endian */
#define LAYOUT_VERSION 3u /* 2: the learned-rate word; 3: its next window */
#define HEAD_SIZE 64u
#define NAME_MAX_LEN 200
#define KEY_MAX_LEN 255

#define ID_P 1ull
#define ID_F 2ull
#define GEN_MASK 0x3fffull
#define TAG_SHIFT 16
#define BIAS 0x8000000000000000ull
#define NS_PER_S 1e9

typedef atomic_ullong word_t;

/* One bucket; a cache line, so processes on other buckets do not contend. */
typedef struct slot {
  word_t id;
  word_t tat;     /* biased time: 0 is INT64_MIN, never taken from */
  word_t pause;   /* biased time: 0 is INT64_MIN, never paused */
  word_t learn;   /* a learned rate and its end (learn_word()); 0: none */
  word_t learn2;  /* the rate of the window after learn's, and its end, as
                     learn; 0: none. Written before learn. */
  word_t name[3]; /* the name's first 23 bytes, NUL-padded; diagnostics */
} slot_t;
_Static_assert(sizeof(slot_t) == 64, "a slot is one cache line");

typedef struct head {
  word_t magic; /* written last, when the rest is in place */
  uint32_t version;
  uint32_t slot_size;
  uint64_t slots;
  uint32_t window;
  uint32_t head_size;
  int64_t idle_ns;
  unsigned char pad[HEAD_SIZE - 40];
} head_t;
_Static_assert(sizeof(head_t) == HEAD_SIZE, "header size");

struct pacer__shm {
  head_t *head;
  slot_t *slot;
  size_t len;
  uint64_t n;      /* slots */
  uint64_t window; /* min(PACER__SHM_WINDOW, n) */
};

/* ---- words and times ---- */

static uint64_t bias(int64_t t)
{
  return (uint64_t)t ^ BIAS;
}
static int64_t unbias(uint64_t u)
{
  return (int64_t)(u ^ BIAS);
}
static uint64_t tag_of(uint64_t w)
{
  return w >> TAG_SHIFT;
}
static uint64_t freed(uint64_t w)
{
  return (((w >> 2) + 1) & GEN_MASK) << 2;
}

/* Raises *a to at least t (biased words compare as their times). */
static void raise_to(word_t *a, int64_t t)
{
  unsigned long long cur = atomic_load(a);
  while (unbias(cur) < t && !atomic_compare_exchange_weak(a, &cur, bias(t)))
    ;
}

/* now - PACER__SHM_IDLE_NS, or INT64_MIN below the representable range. */
static int64_t idle_line(int64_t now)
{
  return now < INT64_MIN + PACER__SHM_IDLE_NS ? INT64_MIN
                                              : now - PACER__SHM_IDLE_NS;
}

/* ---- names ---- */

static int store_name_ok(const char *name)
{
  size_t n = 0;
  for (; name[n]; n++) {
    char c = name[n];
    if (n >= NAME_MAX_LEN ||
        !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return n > 0;
}

/* The name's 48-bit tag, never 0: FNV-1a, then a finaliser (MurmurHash3's)
 * so that every bit of the tag, and the home slot taken from it, depends on
 * every byte. */
static uint64_t tag_for(const char *name, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)name[i];
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  uint64_t tag = h >> TAG_SHIFT;
  return tag ? tag : 1;
}

/* The tag of a bucket name, or 0 for NULL or over KEY_MAX_LEN bytes. */
static uint64_t key_tag(const char *name, size_t *len)
{
  if (!name)
    return 0;
  size_t n = strnlen(name, KEY_MAX_LEN + 1);
  if (n > KEY_MAX_LEN)
    return 0;
  *len = n;
  return tag_for(name, n);
}

/* ---- rates ---- */

/* 1 when t x rate >= 1e9 exactly, for 1 <= t <= 2^53 (an exact double):
 * Dekker's exact product p + e, no fused multiply-add needed. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
static int covers(double t, double rate)
{
  double p = t * rate;
  if (p != NS_PER_S)
    return p > NS_PER_S;
  const double split = 134217729.0; /* 2^27 + 1 */
  double c = split * t, th = c - (c - t), tl = t - th;
  c = split * rate;
  double rh = c - (c - rate), rl = rate - rh;
  double e = ((th * rh - p) + th * rl + tl * rh) + tl * rl;
  return e >= 0;
}

/* The token interval, ceil(1e9 / rate) ns, or -1 for a rate out of range.
 * The quotient in floating point may be off by an ulp either way; the exact
 * test above settles the integer. */
static int64_t interval(double rate)
{
  if (!(rate > 0) || rate != rate)
    return -1;
  if (rate >= NS_PER_S)
    return 1;
  double q = NS_PER_S / rate;
  if (q > 0x1p62)
    return -1;
  if (q > 0x1p53) /* an ulp of q is >= 2: pad by more than one */
    return (int64_t)(q + q / 0x1p50) + 1;
  int64_t t = (int64_t)q > 1 ? (int64_t)q - 1 : 1;
  while (!covers((double)t, rate))
    t++;
  return t;
}

/* GCRA at now for a TAT t: 0 and the new TAT in *nt, or the ns to wait. */
static int64_t gcra(int64_t t, int64_t now, int64_t iv, int64_t tau,
                    int64_t *nt)
{
  int64_t base = now;
  if (t > now) {
    uint64_t d = (uint64_t)t - (uint64_t)now;
    if (d > (uint64_t)tau) {
      d -= (uint64_t)tau;
      return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
    }
    base = t;
  }
  *nt = base > INT64_MAX - iv ? INT64_MAX : base + iv;
  return 0;
}

/* ---- learned rates ----
 *
 * A learned rate and its end share one word, so that a reader never pairs
 * one writer's rate with another's end: the end in whole ms, rounded up
 * and biased by 2^39 (LEARN_BIAS_MS), in the top 40 bits (1 .. 2^40 - 1:
 * about 17 years either side of 0, far more than a monotonic clock spans);
 * the token interval, in ns rounded up, as m << e (m 18 bits, e 6 bits) in
 * the low 24: every interval interval() gives, up to 2^62 ns. Both roundings
 * only ever make the record stricter: the rate read back is never above the one
 * written, and it holds a little longer. Compared as integers, a later end is a
 * larger word. */

#define LEARN_BIAS_MS (INT64_C(1) << 39)
#define LEARN_MS_MAX ((INT64_C(1) << 40) - 1)
#define LEARN_M_BITS 18
#define LEARN_M_MAX ((INT64_C(1) << LEARN_M_BITS) - 1)
#define LEARN_E_MAX 45 /* 2^62 / 2^45 < LEARN_M_MAX: every interval fits */
#define NS_PER_MS INT64_C(1000000)

/* The word for rate until until, or 0 when it cannot be held (a rate out
 * of interval()'s range). */
static uint64_t learn_word(double rate, int64_t until)
{
  int64_t iv = isfinite(rate) ? interval(rate) : -1;
  if (iv < 0)
    return 0;
  int e = 0;
  while (e <= LEARN_E_MAX &&
         (iv >> e) + ((iv & ((INT64_C(1) << e) - 1)) != 0) > LEARN_M_MAX)
    e++;
  if (e > LEARN_E_MAX)
    return 0;
  int64_t m = (iv >> e) + ((iv & ((INT64_C(1) << e) - 1)) != 0);
  /* ceil(until / 1 ms), without overflow for any int64_t */
  int64_t ms = until / NS_PER_MS + (until % NS_PER_MS > 0);
  int64_t u = ms > LEARN_MS_MAX - LEARN_BIAS_MS ? LEARN_MS_MAX
              : ms < 1 - LEARN_BIAS_MS          ? 1
                                                : ms + LEARN_BIAS_MS;
  return (uint64_t)u << 24 | (uint64_t)e << LEARN_M_BITS | (uint64_t)m;
}

/* The end of a learned word (INT64_MIN for 0: none). */
static int64_t learn_until(uint64_t w)
{
  return w ? ((int64_t)(w >> 24) - LEARN_BIAS_MS) * NS_PER_MS : INT64_MIN;
}

/* The rate of a learned word (not 0), tokens/s, or 0 for a word no
 * learn_word() makes (m 0, e too large: a damaged segment). */
static double learn_rate(uint64_t w)
{
  int64_t m = (int64_t)(w & LEARN_M_MAX);
  unsigned e = (unsigned)(w >> LEARN_M_BITS) & 63;
  if (m == 0 || e > LEARN_E_MAX)
    return 0;
  return NS_PER_S / (double)(m << e);
}

/* Raises *a to at least v as an integer. */
static void raise_word(word_t *a, unsigned long long v)
{
  unsigned long long cur = atomic_load(a);
  while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
    ;
}

/* ---- the table ---- */

static uint64_t home_of(const pacer__shm_t *s, uint64_t tag)
{
  return tag % s->n;
}

static uint64_t at(const pacer__shm_t *s, uint64_t home, uint64_t off)
{
  uint64_t k = home + off;
  return k >= s->n ? k - s->n : k;
}

/* 1 if a slot of tag's window before offset off holds the tag. */
static int tag_below(pacer__shm_t *s, uint64_t tag, uint64_t off)
{
  uint64_t home = home_of(s, tag);
  for (uint64_t o = 0; o < off; o++)
    if (tag_of(atomic_load(&s->slot[at(s, home, o)].id)) == tag)
      return 1;
  return 0;
}

static uint64_t offset_of(const pacer__shm_t *s, uint64_t tag, uint64_t k)
{
  uint64_t home = home_of(s, tag);
  return k >= home ? k - home : k + s->n - home;
}

/* 1 when a take or pause done on slot k, seen holding w, counts: k still
 * holds w and no slot below it holds the tag. Call after the CAS. */
static int canonical(pacer__shm_t *s, uint64_t k, uint64_t w)
{
  uint64_t tag = tag_of(w);
  return !tag_below(s, tag, offset_of(s, tag, k)) &&
         atomic_load(&s->slot[k].id) == w;
}

/* Finishes the claim of slot k, seen holding w (pending). now, when not
 * INT64_MIN, keeps the new bucket from looking idle for PACER__SHM_IDLE_NS
 * (it stays full). */
static void complete(pacer__shm_t *s, uint64_t k, unsigned long long w,
                     int64_t now)
{
  uint64_t tag = tag_of(w), home = home_of(s, tag);
  uint64_t off = offset_of(s, tag, k);
  if (tag_below(s, tag, off)) {
    atomic_compare_exchange_strong(&s->slot[k].id, &w, freed(w));
    return;
  }
  slot_t *me = &s->slot[k];
  for (uint64_t o = off + 1; o < s->window; o++) {
    slot_t *o_slot = &s->slot[at(s, home, o)];
    uint64_t x = atomic_load(&o_slot->id);
    if (tag_of(x) != tag || (x & ID_P))
      continue;
    raise_to(&me->tat, unbias(atomic_load(&o_slot->tat)));
    raise_to(&me->pause, unbias(atomic_load(&o_slot->pause)));
    /* the later end wins, as a write would */
    raise_word(&me->learn, atomic_load(&o_slot->learn));
    raise_word(&me->learn2, atomic_load(&o_slot->learn2));
  }
  if (now != INT64_MIN && idle_line(now) != INT64_MIN)
    raise_to(&me->tat, idle_line(now) + 1);
  atomic_compare_exchange_strong(&me->id, &w, w & ~ID_P);
}

/* 1 if slot k's bucket is idle at now: full, not paused and holding no
 * learned rate since PACER__SHM_IDLE_NS. now INT64_MIN: never. */
static int idle(pacer__shm_t *s, uint64_t k, int64_t now)
{
  if (now == INT64_MIN)
    return 0;
  int64_t line = idle_line(now);
  return unbias(atomic_load(&s->slot[k].tat)) <= line &&
         unbias(atomic_load(&s->slot[k].pause)) <= line &&
         learn_until(atomic_load(&s->slot[k].learn)) <= line &&
         learn_until(atomic_load(&s->slot[k].learn2)) <= line;
}

/* Finishes giving back slot k, seen holding w (frozen): freed if still
 * idle, else unfrozen. */
static void settle(pacer__shm_t *s, uint64_t k, unsigned long long w,
                   int64_t now)
{
  uint64_t to = idle(s, k, now) ? freed(w) : (w & ~ID_F);
  atomic_compare_exchange_strong(&s->slot[k].id, &w, to);
}

/* Makes room in the window from home: finishes pending claims, settles
 * frozen slots and gives back idle buckets. 1 if a slot of it is free. */
static int reclaim(pacer__shm_t *s, uint64_t home, int64_t now)
{
  int room = 0;
  for (uint64_t o = 0; o < s->window; o++) {
    uint64_t k = at(s, home, o);
    unsigned long long w = atomic_load(&s->slot[k].id);
    if (w & ID_P) {
      complete(s, k, w, now);
    } else if (w & ID_F) {
      settle(s, k, w, now);
    } else if (tag_of(w) && idle(s, k, now) &&
               atomic_compare_exchange_strong(&s->slot[k].id, &w, w | ID_F)) {
      settle(s, k, w | ID_F, now);
    }
    room |= tag_of(atomic_load(&s->slot[k].id)) == 0;
  }
  return room;
}

static void write_name(slot_t *sl, const char *name, size_t len)
{
  unsigned char buf[sizeof sl->name] = {0};
  memcpy(buf, name, len < sizeof buf - 1 ? len : sizeof buf - 1);
  for (size_t i = 0; i < sizeof sl->name / sizeof sl->name[0]; i++) {
    unsigned long long v;
    memcpy(&v, buf + 8 * i, 8);
    atomic_store_explicit(&sl->name[i], v, memory_order_relaxed);
  }
}

/* Finds tag's bucket: 0 with its slot in *k and id word in *w; 1 when there
 * is none and claim is 0; PACER_ENOMEM when there is none and no room for
 * it. now is INT64_MIN when the caller has no time (no slot is then given
 * back). */
static int locate(pacer__shm_t *s, uint64_t tag, const char *name, size_t len,
                  int64_t now, int claim, uint64_t *k, uint64_t *w)
{
  uint64_t home = home_of(s, tag);
  for (;;) {
    uint64_t free_k = UINT64_MAX;
    unsigned long long free_w = 0;
    int busy = 0;
    for (uint64_t o = 0; o < s->window && !busy; o++) {
      uint64_t j = at(s, home, o);
      unsigned long long x = atomic_load(&s->slot[j].id);
      if (tag_of(x) == 0) {
        if (free_k == UINT64_MAX) {
          free_k = j;
          free_w = x;
        }
      } else if (tag_of(x) == tag) {
        if (!(x & (ID_P | ID_F))) {
          *k = j;
          *w = x;
          return 0;
        }
        if (x & ID_P)
          complete(s, j, x, now);
        else
          settle(s, j, x, now);
        busy = 1;
      }
    }
    if (busy)
      continue;
    if (!claim)
      return 1;
    if (free_k == UINT64_MAX) {
      if (reclaim(s, home, now))
        continue;
      return PACER_ENOMEM;
    }
    unsigned long long mine = tag << TAG_SHIFT | free_w | ID_P;
    if (atomic_compare_exchange_strong(&s->slot[free_k].id, &free_w, mine)) {
      write_name(&s->slot[free_k], name, len);
      complete(s, free_k, mine, now);
    }
  }
}

int64_t pacer__shm_take(pacer__shm_t *s, const char *name, double rate,
                        int64_t burst, int64_t now)
{
  size_t len = 0;
  uint64_t tag = key_tag(name, &len);
  int64_t iv = interval(rate);
  if (!s || !tag || iv < 0 || burst < 1)
    return PACER_EINVAL;
  int64_t tau = burst - 1 > INT64_MAX / iv ? INT64_MAX : (burst - 1) * iv;
  for (;;) {
    uint64_t k, w;
    if (locate(s, tag, name, len, now, 1, &k, &w))
      return PACER_ENOMEM;
    word_t *tp = &s->slot[k].tat;
    unsigned long long v = atomic_load(tp);
    int64_t wait, nt = 0;
    while ((wait = gcra(unbias(v), now, iv, tau, &nt)) == 0 &&
           !atomic_compare_exchange_weak(tp, &v, bias(nt)))
      ;
    if (canonical(s, k, w))
      return wait;
  }
}

void pacer__shm_pause(pacer__shm_t *s, const char *name, int64_t until)
{
  size_t len = 0;
  uint64_t tag = key_tag(name, &len);
  if (!s || !tag)
    return;
  for (;;) {
    uint64_t k, w;
    if (locate(s, tag, name, len, INT64_MIN, 1, &k, &w))
      return;
    raise_to(&s->slot[k].pause, until);
    if (canonical(s, k, w))
      return;
  }
}

int64_t pacer__shm_paused_until(pacer__shm_t *s, const char *name, int64_t now)
{
  size_t len = 0;
  uint64_t tag = key_tag(name, &len);
  if (!s || !tag)
    return 0;
  for (;;) {
    uint64_t k, w;
    if (locate(s, tag, name, len, now, 0, &k, &w))
      return 0;
    int64_t p = unbias(atomic_load(&s->slot[k].pause));
    if (canonical(s, k, w))
      return p > now ? p : 0;
  }
}

void pacer__shm_learn(pacer__shm_t *s, const char *name, double rate,
                      int64_t until, double next_rate, int64_t next_until)
{
  size_t len = 0;
  uint64_t tag = key_tag(name, &len);
  uint64_t v = rate == 0 ? 0 : learn_word(rate, until); /* 0: a clear */
  uint64_t v2 = 0;
  if (v && next_rate != 0) {
    v2 = next_until > until ? learn_word(next_rate, next_until) : 0;
    /* the ms rounding may meet the two ends: the next one must follow */
    if (v2 && learn_until(v2) <= learn_until(v))
      v2 = 0;
    if (!v2)
      return;
  }
  if (!s || !tag || (rate != 0 && !v))
    return;
  for (;;) {
    uint64_t k, w;
    if (locate(s, tag, name, len, INT64_MIN, 1, &k, &w))
      return;
    /* the next window first: a reader that sees this learn word sees it */
    atomic_store(&s->slot[k].learn2, v2);
    atomic_store(&s->slot[k].learn, v);
    if (canonical(s, k, w))
      return;
  }
}

int64_t pacer__shm_learned(pacer__shm_t *s, const char *name, int64_t now,
                           double *rate)
{
  size_t len = 0;
  uint64_t tag = key_tag(name, &len);
  if (!s || !tag || !rate)
    return 0;
  for (;;) {
    uint64_t k, w;
    if (locate(s, tag, name, len, now, 0, &k, &w))
      return 0;
    uint64_t v = atomic_load(&s->slot[k].learn);
    uint64_t v2 = atomic_load(&s->slot[k].learn2);
    if (canonical(s, k, w)) {
      int64_t u = learn_until(v);
      double r = learn_rate(v);
      if (v && u <= now) {
        /* the first window has ended: its next one, when v2 is the next of
         * v or of a later write (a v2 of an earlier write ends before u:
         * each write's next window follows its own) */
        int64_t u2 = learn_until(v2);
        if (v2 && u2 > u) {
          u = u2;
          r = learn_rate(v2);
        }
      }
      if (u <= now || !(r > 0))
        return 0;
      *rate = r;
      return u;
    }
  }
}

/* ---- the segment ---- */

static size_t seg_size(uint64_t slots)
{
  return HEAD_SIZE + (size_t)slots * sizeof(slot_t);
}

/* Opens "/pacer-<name>", creating it if missing; *created says which. */
static int open_fd(const char *path, int *created)
{
  for (int tries = 0; tries < 100; tries++) {
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      *created = 1;
      return fd;
    }
    if (errno != EEXIST)
      return -1;
    fd = shm_open(path, O_RDWR, 0);
    if (fd >= 0) {
      *created = 0;
      return fd;
    }
    if (errno != ENOENT) /* else unlinked in between: create it */
      return -1;
  }
  errno = EAGAIN;
  return -1;
}

/* An flock() held only while the header is checked or written: a live
 * opener holds it for microseconds, a dead one not at all. Gives up after
 * about 2 s rather than hang on a stopped process. */
static int lock_fd(int fd)
{
  for (int tries = 0; tries < 2000; tries++) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return -1;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  errno = EWOULDBLOCK;
  return -1;
}

/* Checks a header read from the segment of size bytes. 0, or -1 with the
 * reason in why. */
static int check_head(const head_t *h, off_t size, char *why, size_t whylen)
{
  uint64_t magic = atomic_load(&h->magic);
  if (magic != MAGIC) {
    snprintf(why, whylen, "magic %#llx", (unsigned long long)magic);
  } else if (h->version != LAYOUT_VERSION) {
    snprintf(why, whylen, "layout version %u, this one reads %u", h->version,
             LAYOUT_VERSION);
  } else if (h->slot_size != sizeof(slot_t) || h->head_size != HEAD_SIZE ||
             h->window != PACER__SHM_WINDOW ||
             h->idle_ns != PACER__SHM_IDLE_NS) {
    snprintf(why, whylen, "slot size %u, header size %u, window %u",
             h->slot_size, h->head_size, h->window);
  } else if (h->slots < 1 || h->slots > PACER__SHM_MAX_SLOTS) {
    snprintf(why, whylen, "%llu slots", (unsigned long long)h->slots);
  } else if ((uint64_t)size < seg_size(h->slots)) {
    snprintf(why, whylen, "%lld bytes, %llu slots need %zu", (long long)size,
             (unsigned long long)h->slots, seg_size(h->slots));
  } else {
    return 0;
  }
  return -1;
}

/* 1 for a header this version's creator had not finished: the magic, which
 * it writes last, still 0, and every other field 0 or what it writes. Such
 * a segment was never used (opening needs the magic), so it is made anew;
 * anything else without the magic is not ours, and is refused. */
static int unfinished(const head_t *h)
{
  return atomic_load(&h->magic) == 0 &&
         (h->version == 0 || h->version == LAYOUT_VERSION) &&
         (h->slot_size == 0 || h->slot_size == sizeof(slot_t)) &&
         h->slots <= PACER__SHM_MAX_SLOTS &&
         (h->window == 0 || h->window == PACER__SHM_WINDOW) &&
         (h->head_size == 0 || h->head_size == HEAD_SIZE) &&
         (h->idle_ns == 0 || h->idle_ns == PACER__SHM_IDLE_NS);
}

/* Under the flock: maps the segment of fd, writing a new header if it has
 * none (new, or its creator died first). */
static int map_locked(int fd, const char *path, uint64_t slots, pacer__shm_t *s,
                      char *err, size_t errlen)
{
  struct stat st;
  if (fstat(fd, &st)) {
    pacer__set_err(err, errlen, "cannot stat shared memory %s: %s", path,
                   strerror(errno));
    return PACER_ESYSTEM;
  }
  head_t h;
  memset(&h, 0, sizeof h);
  if (st.st_size > 0) {
    ssize_t got = pread(fd, &h, sizeof h, 0);
    if (got < 0) {
      pacer__set_err(err, errlen, "cannot read shared memory %s: %s", path,
                     strerror(errno));
      return PACER_ESYSTEM;
    }
    if ((size_t)got < sizeof h) {
      pacer__set_err(
          err, errlen,
          "shared memory %s has another layout or version (%lld bytes, "
          "shorter than a header)",
          path, (long long)st.st_size);
      return PACER_ESYSTEM;
    }
  }
  int fresh = unfinished(&h);
  char why[128];
  if (!fresh && check_head(&h, st.st_size, why, sizeof why)) {
    pacer__set_err(err, errlen,
                   "shared memory %s has another layout or version (%s); "
                   "once no process uses it, remove /dev/shm%s",
                   path, why, path);
    return PACER_ESYSTEM;
  }
  if (!fresh)
    slots = h.slots;
  s->n = slots;
  s->window = slots < PACER__SHM_WINDOW ? slots : PACER__SHM_WINDOW;
  s->len = seg_size(slots);
  /* Slots are only written once the magic is there, but ftruncate to 0
   * first makes sure a new header starts a zero table. */
  if (fresh && (ftruncate(fd, 0) || ftruncate(fd, (off_t)s->len))) {
    pacer__set_err(err, errlen, "cannot size shared memory %s: %s", path,
                   strerror(errno));
    return PACER_ESYSTEM;
  }
  void *m = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    pacer__set_err(err, errlen, "cannot map shared memory %s: %s", path,
                   strerror(errno));
    return PACER_ESYSTEM;
  }
  s->head = m;
  s->slot = (slot_t *)((char *)m + HEAD_SIZE);
  if (fresh) {
    s->head->version = LAYOUT_VERSION;
    s->head->slot_size = sizeof(slot_t);
    s->head->slots = slots;
    s->head->window = PACER__SHM_WINDOW;
    s->head->head_size = HEAD_SIZE;
    s->head->idle_ns = PACER__SHM_IDLE_NS;
    atomic_store(&s->head->magic, MAGIC);
  }
  if (!atomic_is_lock_free(&s->slot[0].id)) {
    pacer__set_err(err, errlen,
                   "64-bit atomics are not lock-free on this machine");
    munmap(m, s->len);
    return PACER_ESYSTEM;
  }
  return 0;
}

int pacer__shm_open(const char *name, size_t slots, pacer__shm_t **out,
                    char *err, size_t errlen)
{
  if (err && errlen)
    err[0] = '\0';
  if (out)
    *out = NULL;
  if (!out || !name || !store_name_ok(name) || slots > PACER__SHM_MAX_SLOTS) {
    pacer__set_err(
        err, errlen,
        "bad shared memory name or size: 1 to 200 of A-Z a-z 0-9 . _ -, "
        "at most %u slots",
        PACER__SHM_MAX_SLOTS);
    return PACER_EINVAL;
  }
  if (slots == 0)
    slots = PACER__SHM_DEFAULT_SLOTS;
  char path[NAME_MAX_LEN + 8];
  snprintf(path, sizeof path, "/pacer-%s", name);
  pacer__shm_t *s = calloc(1, sizeof *s);
  if (!s)
    return PACER_ENOMEM;
  int created = 0;
  int fd = open_fd(path, &created);
  if (fd < 0) {
    pacer__set_err(err, errlen, "cannot open shared memory %s: %s", path,
                   strerror(errno));
    free(s);
    return PACER_ESYSTEM;
  }
  int rc = PACER_ESYSTEM;
  if (created && fchmod(fd, 0600)) {
    pacer__set_err(err, errlen, "cannot set the mode of shared memory %s: %s",
                   path, strerror(errno));
  } else if (lock_fd(fd)) {
    pacer__set_err(err, errlen, "cannot lock shared memory %s: %s", path,
                   strerror(errno));
  } else {
    rc = map_locked(fd, path, slots, s, err, errlen);
    /* Explicitly: the mapping keeps the open file, and with it the lock. */
    flock(fd, LOCK_UN);
  }
  close(fd);
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void pacer__shm_close(pacer__shm_t *s)
{
  if (!s)
    return;
  munmap(s->head, s->len);
  free(s);
}

int pacer__shm_unlink(const char *name)
{
  if (!name || !store_name_ok(name))
    return PACER_EINVAL;
  char path[NAME_MAX_LEN + 8];
  snprintf(path, sizeof path, "/pacer-%s", name);
  if (shm_unlink(path) && errno != ENOENT)
    return PACER_ESYSTEM;
  return 0;
}
