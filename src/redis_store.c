/* SPDX-License-Identifier: MIT */
/* redis_store.c - shared GCRA buckets on Redis: reservations made ahead of
 * need on the store's own thread, taken locally without network I/O.
 *
 * Invariants (under r->mu):
 *   a bucket's reservations are local start times in ascending order;
 *   a bucket with inflight set is in the batch the store thread is
 *   exchanging, so it is neither freed nor sent again until the reply;
 *   a bucket is in r->active from its first take, pause, learn or
 *   learned() until the store thread frees it, when it has been idle (no
 *   take, no learned()) a while, holds nothing, knows of no pause and has
 *   no learned rate to write;
 *   a bucket's learned rate write (learn_send) is newer than any reply not
 *   yet applied, so such a reply does not overwrite the learned rate;
 *   a bucket is called for learning alone (asked) at most once per
 *   poll_iv (poll_at), and any call clears asked; poll_iv runs from
 *   PACER__REDIS_LEARN_POLL_NS, doubling while the polls find nothing
 *   learned, to PACER__REDIS_LEARN_POLL_MAX_NS;
 *   a bucket whose learned() answered PENDING (learn_waiting) is not
 *   freed: its reply, an error reply or a lost connection notifies;
 *   r->c is touched only by the store thread (and by open and close, before
 *   it starts and after it ends), r->sub_c likewise only by the subscriber;
 *   r->sub_fd is the subscriber's socket while it is connected, and is
 *   closed only after being set to -1, so close may shut it down under the
 *   lock without touching another file.
 * The subscriber: pauses reach the other processes through pub/sub, on a
 * connection of its own in SUBSCRIBE mode on its own thread, blocked in a
 * read (the store thread's loop and its clock's waits are not involved).
 * A message sets the pause of a bucket this process holds, at the local
 * time it arrived + the pause left, and drops its reservations; a name it
 * has no bucket for is ignored (its first reserve call reads the pause
 * key). A lost connection is made again with the store's backoff, without
 * a log line (the store thread logs the outage); its errors are counted.
 * A take uses a reservation only if the bucket's local exact GCRA (same rate
 * and burst) allows it too: the offsets of different replies are converted
 * with different reply delays, and the local gate keeps one process's own
 * grants within burst + rate x span even when a later reply arrived
 * faster. A fallback grant passes the same gate, so that holds across the
 * changes of state too.
 * State: r->st.state is CONNECTED exactly while r->c is set (after open);
 * FALLBACK only when r->fallback > 0. A bucket's fallback bucket is in use
 * (fb_on) only when it was started in the current outage; it starts empty.
 * A change of state leaves one line in r->log_msg, which the store thread
 * passes to opts.log after dropping the lock. */
#include "redis_store.h"
#include "log.h"

#include <pacer/pacer.h>
#include <stdio.h>

#ifndef PACER_HAVE_HIREDIS

/* Built without hiredis: the interface stays, open refuses. */
int pacer__redis_open(const pacer__redis_opts_t *o, pacer__redis_t **out,
                      char *err, size_t errlen)
{
  (void)o;
  if (out)
    *out = NULL;
  pacer__set_err(err, errlen, "built without Redis support");
  return PACER_EINVAL;
}
int64_t pacer__redis_take(pacer__redis_t *r, const char *name, double rate,
                          int64_t burst, int64_t now)
{
  (void)r;
  (void)name;
  (void)rate;
  (void)burst;
  (void)now;
  return PACER__REDIS_PENDING;
}
void pacer__redis_pause(pacer__redis_t *r, const char *name, int64_t until)
{
  (void)r;
  (void)name;
  (void)until;
}
int64_t pacer__redis_paused_until(pacer__redis_t *r, const char *name,
                                  int64_t now)
{
  (void)r;
  (void)name;
  (void)now;
  return 0;
}
void pacer__redis_learn(pacer__redis_t *r, const char *name, double rate,
                        int64_t until)
{
  (void)r;
  (void)name;
  (void)rate;
  (void)until;
}
int64_t pacer__redis_learned(pacer__redis_t *r, const char *name, int64_t now,
                             double *rate, int peek)
{
  (void)r;
  (void)name;
  (void)now;
  (void)rate;
  (void)peek;
  return 0;
}
void pacer__redis_stats(pacer__redis_t *r, pacer__redis_stats_t *st)
{
  (void)r;
  if (st) {
    pacer__redis_stats_t z = {0};
    z.state = PACER__REDIS_HOLDING;
    *st = z;
  }
}
void pacer__redis_close(pacer__redis_t *r)
{
  (void)r;
}
int64_t pacer__redis_grace_ns(double rate)
{
  (void)rate;
  return 0;
}

#else

#include "limiter.h"
#include "list.h"
#include "thread.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/* uthash must not exit() on out-of-memory (keys.h says why). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(b) ((b)->oom = 1)
#include <uthash.h>

#define NS_PER_US INT64_C(1000)
#define MS PACER__NS_PER_MS
#define MAX_N 512              /* tokens one script call reserves at most */
#define MAX_BATCH 64           /* buckets sent in one round trip at most */
#define AHEAD_MIN (20 * MS)    /* default horizon: max(this, 2 intervals) */
#define AHEAD_MAX (1000 * MS)  /* ... and at most this */
#define GRACE_MIN (1 * MS)     /* a reservation lapses after its start + */
#define GRACE_MAX (5 * MS)     /* two intervals, within these, or ... */
#define GRACE_SLOW (50 * MS)   /* ... a tenth of one up to this if longer */
#define IDLE_NS (2000 * MS)    /* no take for this long: no more reserving */
#define BACKOFF_MIN (50 * MS)  /* reconnect after this, doubling ... */
#define BACKOFF_MAX (500 * MS) /* ... up to this */
#define ERROR_RETRY (50 * MS)  /* a bucket whose call failed waits this */
#define OPEN_TIMEOUT_MS 2000
#define IO_TIMEOUT_MS 1000
#define NAME_MAX_LEN 128
#define BUCKET_NAME_MAX 255 /* the store contract's longest bucket name */
#define PAUSE_US_DIGITS 15  /* a pause message's us, at most (31 years) */
#define LEARN_IDLE_NS (1000 * PACER__NS_PER_MS)  /* not asked: idle */
#define LEARN_IV_MAX INT64_C(1000000000000000)   /* us: 1e-9/s at the least */
#define LEARN_LEFT_MAX INT64_C(1000000000000000) /* us written: 31 years */

/* The GCRA, on the server's clock, in integer microseconds (exact in Lua's
 * doubles up to 2^53 us, 285 years). KEYS: TAT, pause, learned rate.
 * ARGV: token interval (us, rounded up), burst, n tokens wanted, horizon
 * (us), pause to set (us, 0 none), the quota's pause channel and the
 * bucket's name (both "" when no pause is set), a learned rate to write as
 * its interval (us, 0: none, only read) and its time left (us; <= 0: a
 * clear), and the rate of its next window as its interval (us, 0: none) and
 * the time left to that window's end (us, after the first's). n may be 0
 * with no rate known (interval 1, burst 1): nothing is reserved and the TAT
 * key is not touched.
 * Returns {pause left (us, 0 none), offset of the next token after these,
 * learned interval (us), learned time left (us) (both 0: none), the next
 * window's interval and time left (both 0: none), offsets of the tokens
 * reserved...}: the fixed fields first (R_HEAD of them, the
 * reply parser's enum: a new field goes before the offsets, in both), the
 * offsets from the server's now, each token starting at max(now, TAT -
 * (burst - 1) x interval) and moving TAT one interval on, for as long as it
 * starts within the horizon. A call that sets or extends a pause pulls
 * the TAT back to the pause's end when it is later: every process drops
 * its reservations when it hears of a pause, so tokens reserved past its
 * end would only hold the fleet back after it (by as much as all of their
 * horizons). It also publishes "<pause left, us> <name>" on the channel, so
 * that every process hears of it at once, not at its next call for that bucket;
 * pcall: a server that refuses PUBLISH (an ACL) still gets the pause key, which
 * every call reads. The learned rate is "<interval us> <until, us of server
 * time>", followed by " <interval> <until>" of its next window when it has
 * one: the latest write replaces it (a newer announcement is the truer
 * one), a clear deletes it; a record that does not parse reads as none.
 * A record whose first window has ended reads as its next window alone.
 * The TAT key expires when the bucket would be full again, the pause key
 * when the pause ends, the learned rate's at its last until.
 * replicate_commands: TIME before a write, on Redis < 5. */
static const char SCRIPT[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T = tonumber(ARGV[1])\n"
    "local tau = (tonumber(ARGV[2]) - 1) * T\n"
    "local n = tonumber(ARGV[3])\n"
    "local ahead = tonumber(ARGV[4])\n"
    "local pause = tonumber(ARGV[5])\n"
    "local liv = tonumber(ARGV[8])\n"
    "local lleft = tonumber(ARGV[9])\n"
    "local niv = tonumber(ARGV[10])\n"
    "local nleft = tonumber(ARGV[11])\n"
    "local p = tonumber(redis.call('GET', KEYS[2]) or 0)\n"
    "if pause > 0 and now + pause > p then\n"
    "  p = now + pause\n"
    "  redis.call('SET', KEYS[2], string.format('%d', p))\n"
    "  redis.call('PEXPIREAT', KEYS[2], math.ceil(p / 1000))\n"
    "  local t0 = tonumber(redis.call('GET', KEYS[1]) or 0)\n"
    "  if t0 > p then\n"
    "    redis.call('SET', KEYS[1], string.format('%d', p), 'PX',\n"
    "               math.ceil((p - now) / 1000))\n"
    "  end\n"
    "  if ARGV[6] ~= '' then\n"
    "    redis.pcall('PUBLISH', ARGV[6], string.format('%d', pause) .. ' ' ..\n"
    "                ARGV[7])\n"
    "  end\n"
    "end\n"
    "local li, ll, ni, nl = 0, 0, 0, 0\n"
    "if liv > 0 and lleft > 0 then\n"
    "  if niv > 0 and nleft > lleft then\n"
    "    redis.call('SET', KEYS[3], string.format('%d %d %d %d', liv,\n"
    "               now + lleft, niv, now + nleft))\n"
    "    redis.call('PEXPIREAT', KEYS[3], math.ceil((now + nleft) / 1000))\n"
    "    ni, nl = niv, nleft\n"
    "  else\n"
    "    redis.call('SET', KEYS[3], string.format('%d %d', liv, now + lleft))\n"
    "    redis.call('PEXPIREAT', KEYS[3], math.ceil((now + lleft) / 1000))\n"
    "  end\n"
    "  li, ll = liv, lleft\n"
    "elseif liv > 0 then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "else\n"
    "  local v = redis.call('GET', KEYS[3])\n"
    "  if v then\n"
    "    local a, b, c, d = string.match(v, '^(%d+) (%d+) (%d+) (%d+)$')\n"
    "    if not a then a, b = string.match(v, '^(%d+) (%d+)$') end\n"
    "    a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)\n"
    "    if not (c and d and c > 0 and b and d > b) then c, d = nil, nil end\n"
    "    if a and b and a > 0 and b > now then\n"
    "      li, ll = a, b - now\n"
    "      if c then ni, nl = c, d - now end\n"
    "    elseif a and a > 0 and c and d > now then\n"
    "      li, ll = c, d - now\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if p > now then return {p - now, 0, li, ll, ni, nl} end\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
    "if tat < now then tat = now end\n"
    "local out = {0, 0, li, ll, ni, nl}\n"
    "local h = #out\n"
    "local k = 0\n"
    "while k < n do\n"
    "  local s = tat - tau\n"
    "  if s < now then s = now end\n"
    "  if s - now > ahead then break end\n"
    "  k = k + 1\n"
    "  out[h + k] = s - now\n"
    "  tat = tat + T\n"
    "end\n"
    "local s = tat - tau\n"
    "if s < now then s = now end\n"
    "out[2] = s - now\n"
    "if k > 0 then\n"
    "  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX',\n"
    "             math.ceil((tat - now) / 1000))\n"
    "end\n"
    "return out\n";

/* The script's reply: these fixed fields, then the offsets reserved. */
enum {
  R_PAUSE,      /* pause left, us (0: none) */
  R_NEXT,       /* offset of the next token after those reserved */
  R_LEARN_IV,   /* learned rate's interval, us (0: none) */
  R_LEARN_LEFT, /* learned rate's time left, us (0: none) */
  R_NEXT_IV,    /* its next window's interval, us (0: none) */
  R_NEXT_LEFT,  /* ... and time left to that window's end, us (0: none) */
  R_HEAD        /* the first offset */
};

typedef struct bucket {
  UT_hash_handle hh;
  pacer__link_t active; /* in r->active while taken from lately */
  char *name;           /* the four strings in one allocation */
  size_t name_len;
  char *tat_key, *pause_key, *learn_key;
  size_t tat_len, pause_len, learn_len;
  double rate;
  int64_t burst;
  int64_t interval_us; /* ceil(1e6 / rate) */
  int64_t ahead_ns;    /* horizon */
  int64_t grace_ns;
  int64_t cap;           /* most reservations asked for at once */
  int64_t target;        /* reservations to hold, 1..cap */
  pacer__bucket_t local; /* the local gate (file comment) */
  int64_t *res;          /* ring of local start times */
  size_t res_cap, res_head, res_n;
  int64_t last_take;
  int64_t next_at;       /* no reserve call before this local time */
  int64_t pause_send;    /* a pause to write to Redis (local end), or 0 */
  int64_t paused_until;  /* local end of the pause known, or 0 */
  int64_t waiting_since; /* first PENDING take not yet followed by a grant */
  /* The learned rate: what this process knows (its own write at once,
   * else the last reply's), and its write not yet sent. */
  int64_t learned_until;      /* local end, or 0: none */
  double learned_rate;        /* 1e6 / its interval */
  int64_t learned_next_until; /* its next window's local end, or 0: none */
  double learned_next_rate;   /* ... and rate */
  int64_t learn_iv;           /* the write: interval (us), 0 for a clear */
  int64_t learn_until;        /* ... and its local end */
  int64_t heard_at;           /* local time of the last reply taken in */
  int64_t learn_next_iv;      /* ... its next window's (0: none) */
  int64_t learn_next_until;
  int learn_send;    /* a write to send */
  int learn_known;   /* a reply (or this process's write) said what it is */
  int learn_waiting; /* learned() answered PENDING: notify on the reply */
  /* Interest (learned() asked): a call at most every poll while asked. */
  int64_t last_ask;
  int64_t poll_at; /* no call for learning alone before this local time */
  int64_t poll_iv; /* the next poll's interval (0: the first, at once) */
  int asked;       /* learned() asked since the last call was sent */
  int demand;      /* taken from since the last reserve call */
  int waiting;     /* a take returned PENDING: keep reserving, then notify */
  int inflight;
  int oom;
  int fb_on;          /* fb started in this outage */
  pacer__bucket_t fb; /* the fallback bucket: F x rate, F x burst */
} bucket_t;

struct pacer__redis {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  const pacer__clock_t *clock;
  void (*notify)(void *arg);
  void *notify_arg;
  void (*log)(pacer_log_level_t level, const char *msg, void *arg);
  void *log_arg;
  char host[256];
  int port;
  long db;
  char quota[NAME_MAX_LEN + 1];
  char prefix[NAME_MAX_LEN + 1];
  int64_t ahead_ns; /* from the URL, or 0: each bucket's default */
  double fallback;  /* from the URL, 0 < F <= 1, or 0: hold */
  redisContext *c;
  char sha[41];
  char channel[2 * NAME_MAX_LEN + 16]; /* PREFIX{QUOTA}:pauses */
  size_t channel_len;
  /* The subscriber (its own thread and connection, file comment). sub_fd is
   * its socket while connected (under mu), for close to shut down. */
  redisContext *sub_c; /* made by open, then the subscriber's own */
  int sub_fd;
  pthread_cond_t sub_cond; /* wakes its reconnect wait at close */
  pthread_t sub_thread;
  bucket_t *buckets;
  pacer__link_t active;
  int64_t sleep_until; /* the store thread waits for demand until this, or 0 */
  int stop;
  int64_t reconnect_at, backoff;
  int64_t down_since;            /* local time the connection was lost */
  uint64_t down_fallback_grants; /* st.fallback_grants at that time */
  char log_msg[512];             /* a change of state not yet logged */
  pacer_log_level_t log_level;
  int log_pending;
  pacer__redis_stats_t st;
  pthread_t thread;
};

/* ---- the URL ---- */

static int name_ok(const char *s, size_t n, int slash)
{
  if (n > NAME_MAX_LEN)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
          ch == ':' || (slash && ch == '/')))
      return 0;
  }
  return 1;
}

/* Digits only, value in [lo, hi]: 0 with *v, or -1. */
static int parse_num(const char *s, size_t n, long lo, long hi, long *v)
{
  if (n == 0 || n > 9)
    return -1;
  long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    x = x * 10 + (s[i] - '0');
  }
  if (x < lo || x > hi)
    return -1;
  *v = x;
  return 0;
}

/* A decimal fraction 0 < F <= 1: digits, at most one '.', at least one
 * digit, at most 15 digits in all (exact in a double before the one
 * division). By hand rather than strtod(), whose decimal point is the
 * host program's locale's. 0 with *v, or -1. */
static int parse_fraction(const char *s, size_t n, double *v)
{
  int64_t m = 0, scale = 1;
  int digits = 0, dot = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.' && !dot) {
      dot = 1;
    } else if (s[i] >= '0' && s[i] <= '9') {
      if (++digits > 15)
        return -1;
      m = m * 10 + (s[i] - '0');
      if (dot)
        scale *= 10;
    } else {
      return -1;
    }
  }
  if (!digits || m == 0 || m > scale)
    return -1;
  *v = (double)m / (double)scale;
  return 0;
}

static int parse_url(pacer__redis_t *r, const char *url, char *err,
                     size_t errlen)
{
  static const char scheme[] = "redis://";
  if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
    pacer__set_err(err, errlen, "%s: not a redis:// URL", url ? url : "(null)");
    return PACER_EINVAL;
  }
  const char *p = url + sizeof scheme - 1;
  const char *h = p, *he;
  if (*p == '[') { /* IPv6 literal */
    h = ++p;
    he = strchr(p, ']');
    if (!he) {
      pacer__set_err(err, errlen, "%s: unclosed [ in the host", url);
      return PACER_EINVAL;
    }
    p = he + 1;
    for (const char *q = h; q < he; q++)
      if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
            (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
        he = h; /* makes it empty: refused below */
  } else {
    while (*p && *p != ':' && *p != '/' && *p != '?')
      p++;
    he = p;
    for (const char *q = h; q < he; q++)
      if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
            (*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '_'))
        he = h;
  }
  if (he == h || (size_t)(he - h) >= sizeof r->host) {
    pacer__set_err(err, errlen, "%s: bad or missing host", url);
    return PACER_EINVAL;
  }
  memcpy(r->host, h, (size_t)(he - h));
  r->host[he - h] = '\0';
  r->port = 6379;
  if (*p == ':') {
    const char *s = ++p;
    while (*p && *p != '/' && *p != '?')
      p++;
    long v;
    if (parse_num(s, (size_t)(p - s), 1, 65535, &v)) {
      pacer__set_err(err, errlen, "%s: bad port", url);
      return PACER_EINVAL;
    }
    r->port = (int)v;
  }
  r->db = 0;
  if (*p == '/') {
    const char *s = ++p;
    while (*p && *p != '?')
      p++;
    if (p > s && parse_num(s, (size_t)(p - s), 0, 1000000, &r->db)) {
      pacer__set_err(err, errlen, "%s: bad database number", url);
      return PACER_EINVAL;
    }
  }
  strcpy(r->quota, "default");
  strcpy(r->prefix, "pacer:");
  r->ahead_ns = 0;
  r->fallback = 0;
  if (*p == '?') {
    p++;
    while (*p) {
      const char *k = p, *eq = NULL;
      while (*p && *p != '&') {
        if (*p == '=' && !eq)
          eq = p;
        p++;
      }
      if (!eq) {
        pacer__set_err(err, errlen, "%s: a query parameter without '='", url);
        return PACER_EINVAL;
      }
      const char *v = eq + 1;
      size_t kn = (size_t)(eq - k), vn = (size_t)(p - v);
      if (kn == 4 && !memcmp(k, "name", 4)) {
        if (vn == 0 || !name_ok(v, vn, 0)) {
          pacer__set_err(err, errlen, "%s: bad name (letters, digits, . _ - :)",
                         url);
          return PACER_EINVAL;
        }
        memcpy(r->quota, v, vn);
        r->quota[vn] = '\0';
      } else if (kn == 6 && !memcmp(k, "prefix", 6)) {
        if (!name_ok(v, vn, 1)) {
          pacer__set_err(err, errlen,
                         "%s: bad prefix (letters, digits, . _ - : /)", url);
          return PACER_EINVAL;
        }
        memcpy(r->prefix, v, vn);
        r->prefix[vn] = '\0';
      } else if (kn == 8 && !memcmp(k, "ahead_ms", 8)) {
        long ms;
        if (parse_num(v, vn, 1, 1000, &ms)) {
          pacer__set_err(err, errlen, "%s: ahead_ms must be 1..1000", url);
          return PACER_EINVAL;
        }
        r->ahead_ns = ms * MS;
      } else if (kn == 8 && !memcmp(k, "fallback", 8)) {
        if (parse_fraction(v, vn, &r->fallback)) {
          pacer__set_err(err, errlen,
                         "%s: fallback must be a fraction above 0 and at most "
                         "1, such as 0.25 (the share of each rate granted "
                         "locally while Redis is unreachable)",
                         url);
          return PACER_EINVAL;
        }
      } else {
        pacer__set_err(err, errlen, "%s: unknown parameter", url);
        return PACER_EINVAL;
      }
      if (*p == '&')
        p++;
    }
  }
  return 0;
}

/* ---- the connection (store thread, or open before it starts) ---- */

static struct timeval tv_ms(long ms)
{
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return tv;
}

/* Why a command failed: the server's error, else the connection's. */
static const char *reply_why(const redisReply *rep, const redisContext *c)
{
  if (rep && rep->type == REDIS_REPLY_ERROR)
    return rep->str;
  return c->err ? c->errstr : "?";
}

/* Frees rep, the answer to the command what; when it is not ok, says why
 * in err and frees c too. Returns ok. */
static int reply_done(redisContext *c, redisReply *rep, int ok,
                      const char *where, const char *what, char *err,
                      size_t errlen)
{
  if (!ok)
    pacer__set_err(err, errlen, "%s: %s failed: %s", where, what,
                   reply_why(rep, c));
  if (rep)
    freeReplyObject(rep);
  if (!ok)
    redisFree(c);
  return ok;
}

/* Connects within timeout_ms, with the I/O timeout set (and TCP keepalive
 * if asked); where gets "redis HOST:PORT" for messages. Returns the
 * context, or NULL with err set. */
static redisContext *dial(const pacer__redis_t *r, long timeout_ms,
                          int keepalive, char *where, size_t wherelen,
                          char *err, size_t errlen)
{
  snprintf(where, wherelen, "redis %s:%d", r->host, r->port);
  redisContext *c =
      redisConnectWithTimeout(r->host, r->port, tv_ms(timeout_ms));
  if (!c) {
    pacer__set_err(err, errlen, "%s: out of memory", where);
    return NULL;
  }
  if (c->err) {
    pacer__set_err(err, errlen, "%s: %s", where, c->errstr);
    redisFree(c);
    return NULL;
  }
  if (redisSetTimeout(c, tv_ms(IO_TIMEOUT_MS)) != REDIS_OK ||
      (keepalive && redisEnableKeepAlive(c) != REDIS_OK)) {
    pacer__set_err(err, errlen, "%s: cannot set the socket's options", where);
    redisFree(c);
    return NULL;
  }
  return c;
}

/* Connects, selects the database and loads the script (its SHA1 into
 * r->sha). Returns the context, or NULL with err set. */
static redisContext *connect_and_load(pacer__redis_t *r, long timeout_ms,
                                      char *err, size_t errlen)
{
  char where[300];
  redisContext *c = dial(r, timeout_ms, 0, where, sizeof where, err, errlen);
  if (!c)
    return NULL;
  redisReply *rep;
  if (r->db) {
    rep = redisCommand(c, "SELECT %ld", r->db);
    if (!reply_done(c, rep, rep && rep->type == REDIS_REPLY_STATUS, where,
                    "SELECT", err, errlen))
      return NULL;
  }
  rep = redisCommand(c, "SCRIPT LOAD %s", SCRIPT);
  int ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == 40;
  if (ok)
    memcpy(r->sha, rep->str, 41);
  if (!reply_done(c, rep, ok, where, "SCRIPT LOAD", err, errlen))
    return NULL;
  return c;
}

/* Connects the subscriber and subscribes to the quota's pause channel
 * (no SELECT: pub/sub ignores the database). Then reads block without a
 * timeout, as long as no message comes; TCP keepalive finds a peer that
 * vanished without a word. Returns the context, or NULL with err set. */
static redisContext *sub_connect(const pacer__redis_t *r, long timeout_ms,
                                 char *err, size_t errlen)
{
  char where[300];
  redisContext *c = dial(r, timeout_ms, 1, where, sizeof where, err, errlen);
  if (!c)
    return NULL;
  redisReply *rep = redisCommand(c, "SUBSCRIBE %b", r->channel, r->channel_len);
  int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
           rep->element[0]->type == REDIS_REPLY_STRING &&
           !strcmp(rep->element[0]->str, "subscribe");
  if (!reply_done(c, rep, ok, where, "SUBSCRIBE", err, errlen))
    return NULL;
  if (redisSetTimeout(c, tv_ms(0)) != REDIS_OK) {
    pacer__set_err(err, errlen, "%s: cannot clear the read timeout", where);
    redisFree(c);
    return NULL;
  }
  return c;
}

/* ---- buckets (under r->mu) ---- */

static int64_t now_of(const pacer__redis_t *r)
{
  return r->clock->now(r->clock->ctx);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* A bucket's interval in us: 1e6 / rate rounded up (never faster than
 * rate), within 1 us .. 1e15 us. */
static int64_t interval_us_of(double rate)
{
  double us = ceil(1e6 / rate);
  return us >= 1 && us < 1e15 ? (int64_t)us
         : us < 1             ? 1
                              : INT64_C(1000000000000000);
}

/* Late use moves a grant off its slot: at most 2 tokens' worth at high
 * rates, a tenth of one at low rates, where a few ms mean nothing. */
static int64_t grace_of(int64_t interval_ns)
{
  int64_t g = clamp64(2 * interval_ns, GRACE_MIN, GRACE_MAX);
  if (interval_ns / 10 > g)
    g = interval_ns / 10 < GRACE_SLOW ? interval_ns / 10 : GRACE_SLOW;
  return g;
}

int64_t pacer__redis_grace_ns(double rate)
{
  return rate > 0 ? grace_of(interval_us_of(rate) * NS_PER_US) : 0;
}

/* A learned rate's interval in whole us, rounded up so that the rate read
 * back, 1e6 / interval, is never above the rate written (checked in
 * doubles: the division may round). Rates above 1e6/s are held to 1e6/s
 * (1 us), rates below 1e-9/s to 1e-9/s (1e15 us, a token per 31 years). */
static int64_t learn_iv_of(double rate)
{
  double us = ceil(1e6 / rate);
  if (!(us < (double)LEARN_IV_MAX))
    return LEARN_IV_MAX;
  int64_t iv = us < 1 ? 1 : (int64_t)us;
  if (1e6 / (double)iv > rate)
    iv++;
  return iv;
}

/* The fallback bucket's rate and burst: F x rate, floor(F x burst) but at
 * least 1 (rounded down, so that N processes at F = 1/N never hold more
 * than the burst between them). -1 without a fallback or a rate. */
static int fb_params(const pacer__redis_t *r, const bucket_t *b, double *rate,
                     int64_t *burst)
{
  if (r->fallback <= 0 || b->rate <= 0)
    return -1;
  *rate = b->rate * r->fallback;
  double f = floor((double)b->burst * r->fallback);
  *burst = f < 1 ? 1 : (int64_t)f;
  return 0;
}

/* Starts b's fallback bucket empty at now: one token comes after one of its
 * intervals, the burst only if nobody takes for a while. A full one would
 * add its burst to what Redis granted just before the outage. -1 (fb_on
 * stays 0) if its rate is refused. */
static int fb_start(const pacer__redis_t *r, bucket_t *b, int64_t now)
{
  double rate;
  int64_t burst;
  if (fb_params(r, b, &rate, &burst) || pacer__bucket_init(&b->fb, rate, 1))
    return -1;
  /* empty at burst 1, then widened: the tokens available (none) are kept */
  pacer__bucket_take(&b->fb, now);
  if (pacer__bucket_set(&b->fb, rate, burst, now))
    return -1;
  b->fb_on = 1;
  return 0;
}

/* Sets rate and burst and what follows from them. */
static void set_params(const pacer__redis_t *r, bucket_t *b, double rate,
                       int64_t burst, int64_t now)
{
  if (b->rate == rate && b->burst == burst)
    return;
  int fresh = b->rate == 0;
  b->rate = rate;
  b->burst = burst < 1 ? 1 : burst;
  b->interval_us = interval_us_of(rate);
  int64_t interval_ns = b->interval_us * NS_PER_US;
  b->ahead_ns =
      r->ahead_ns
          ? r->ahead_ns
          : clamp64(interval_ns > AHEAD_MIN / 2 ? 2 * interval_ns : AHEAD_MIN,
                    AHEAD_MIN, AHEAD_MAX);
  b->grace_ns = grace_of(interval_ns);
  /* the horizon's tokens, and a full bucket's burst at once */
  int64_t cap = b->ahead_ns / interval_ns + b->burst;
  b->cap = cap > MAX_N ? MAX_N : cap;
  if (fresh || b->target > b->cap)
    b->target = b->cap;
  int rc = fresh ? pacer__bucket_init(&b->local, rate, b->burst)
                 : pacer__bucket_set(&b->local, rate, b->burst, now);
  if (rc) /* a rate the local gate refuses: the server alone limits */
    (void)pacer__bucket_init(&b->local, 0, 1);
  double fr;
  int64_t fbu;
  if (b->fb_on &&
      (fb_params(r, b, &fr, &fbu) || pacer__bucket_set(&b->fb, fr, fbu, now)))
    b->fb_on = 0; /* refused: fb_start tries again at the next take */
}

static bucket_t *bucket_get(pacer__redis_t *r, const char *name)
{
  size_t n = strlen(name);
  bucket_t *b;
  HASH_FIND(hh, r->buckets, name, n, b);
  if (b)
    return b;
  size_t pl = strlen(r->prefix), ql = strlen(r->quota);
  /* PREFIX{QUOTA}:tat:NAME, PREFIX{QUOTA}:pause:NAME and
   * PREFIX{QUOTA}:learn:NAME */
  size_t tl = pl + ql + n + sizeof "{}:tat:" - 1,
         sl = pl + ql + n + sizeof "{}:pause:" - 1,
         ll = pl + ql + n + sizeof "{}:learn:" - 1;
  b = calloc(1, sizeof *b);
  char *s = malloc(n + 1 + tl + 1 + sl + 1 + ll + 1);
  if (!b || !s) {
    free(b);
    free(s);
    return NULL;
  }
  b->name = s;
  b->name_len = n;
  memcpy(s, name, n + 1);
  b->tat_key = s + n + 1;
  b->tat_len = tl;
  snprintf(b->tat_key, tl + 1, "%s{%s}:tat:%s", r->prefix, r->quota, name);
  b->pause_key = b->tat_key + tl + 1;
  b->pause_len = sl;
  snprintf(b->pause_key, sl + 1, "%s{%s}:pause:%s", r->prefix, r->quota, name);
  b->learn_key = b->pause_key + sl + 1;
  b->learn_len = ll;
  snprintf(b->learn_key, ll + 1, "%s{%s}:learn:%s", r->prefix, r->quota, name);
  pacer__list_init(&b->active);
  HASH_ADD_KEYPTR(hh, r->buckets, b->name, b->name_len, b);
  if (b->oom) {
    free(s);
    free(b);
    return NULL;
  }
  return b;
}

static void bucket_free(pacer__redis_t *r, bucket_t *b)
{
  HASH_DEL(r->buckets, b);
  pacer__list_unlink(&b->active);
  free(b->res);
  free(b->name);
  free(b);
}

static int64_t res_at(const bucket_t *b, size_t i)
{
  return b->res[(b->res_head + i) % b->res_cap];
}

static void res_pop(bucket_t *b)
{
  b->res_head = (b->res_head + 1) % b->res_cap;
  b->res_n--;
}

/* Appends a start time, kept ascending; 0 or -1 (no memory). */
static int res_push(bucket_t *b, int64_t t)
{
  if (b->res_n == b->res_cap) {
    size_t nc = b->res_cap ? 2 * b->res_cap : 16;
    int64_t *nr = malloc(nc * sizeof *nr);
    if (!nr)
      return -1;
    for (size_t i = 0; i < b->res_n; i++)
      nr[i] = res_at(b, i);
    free(b->res);
    b->res = nr;
    b->res_cap = nc;
    b->res_head = 0;
  }
  if (b->res_n && t < res_at(b, b->res_n - 1))
    t = res_at(b, b->res_n - 1);
  b->res[(b->res_head + b->res_n) % b->res_cap] = t;
  b->res_n++;
  return 0;
}

/* Drops the reservations whose grace is over at now (or all); each lapses,
 * and the bucket holds fewer from now on. */
static void lapse(pacer__redis_t *r, bucket_t *b, int64_t now, int all)
{
  int64_t k = 0;
  while (b->res_n && (all || res_at(b, 0) + b->grace_ns < now)) {
    res_pop(b);
    k++;
  }
  if (k) {
    r->st.lapsed += (uint64_t)k;
    b->target = b->target - k < 1 ? 1 : b->target - k;
  }
}

/* Whether the store thread should send a reserve call for b at now: when
 * half of what it should hold is gone (one call per few takes would cost
 * a round trip each at high rates), or the horizon has moved on. */
static int reserve_due(const bucket_t *b, int64_t now)
{
  return (b->demand || b->waiting) && !b->inflight &&
         2 * (int64_t)b->res_n <= b->target && now >= b->next_at &&
         b->paused_until <= now;
}

/* ---- the caller's side ---- */

/* Counts a take that returned 0, and the wait it ended. */
static void granted(pacer__redis_t *r, bucket_t *b, int64_t now)
{
  r->st.grants++;
  if (b->waiting_since) {
    r->st.wait_ns += now - b->waiting_since;
    b->waiting_since = 0;
  }
}

int64_t pacer__redis_take(pacer__redis_t *r, const char *name, double rate,
                          int64_t burst, int64_t now)
{
  pthread_mutex_lock(&r->mu);
  bucket_t *b = bucket_get(r, name);
  if (!b) { /* out of memory: ask again a little later */
    pthread_mutex_unlock(&r->mu);
    return MS;
  }
  set_params(r, b, rate, burst, now);
  b->last_take = now;
  b->demand = 1;
  if (!pacer__linked(&b->active))
    pacer__list_push_back(&r->active, &b->active);
  lapse(r, b, now, 0);
  int64_t ret;
  if (b->paused_until > now) {
    ret = b->paused_until - now;
  } else if (r->st.state == PACER__REDIS_FALLBACK &&
             (b->fb_on || fb_start(r, b, now) == 0)) {
    /* Redis unreachable: the local share, through the same gate */
    int64_t w = pacer__bucket_wait(&b->fb, now);
    int64_t g = pacer__bucket_wait(&b->local, now);
    ret = w > g ? w : g;
    if (ret == 0) {
      pacer__bucket_take(&b->fb, now);
      pacer__bucket_take(&b->local, now);
      r->st.fallback_grants++;
      granted(r, b, now);
    }
  } else if (b->res_n) {
    int64_t t = res_at(b, 0);
    ret = t > now ? t - now : pacer__bucket_wait(&b->local, now);
    if (ret == 0) {
      pacer__bucket_take(&b->local, now);
      res_pop(b);
      granted(r, b, now);
    }
  } else {
    ret = PACER__REDIS_PENDING;
    if (!b->waiting) { /* short of reservations: hold more */
      b->waiting = 1;
      b->target = 2 * b->target > b->cap ? b->cap : 2 * b->target;
    }
    if (!b->waiting_since)
      b->waiting_since = now;
  }
  /* while Redis is unreachable the store thread waits for its reconnect
   * time, not for demand: waking it on every take would cost for nothing */
  if (r->st.state == PACER__REDIS_CONNECTED && reserve_due(b, now))
    pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->mu);
  return ret;
}

void pacer__redis_pause(pacer__redis_t *r, const char *name, int64_t until)
{
  pthread_mutex_lock(&r->mu);
  bucket_t *b = bucket_get(r, name);
  if (b) {
    if (until > b->paused_until)
      b->paused_until = until;
    if (until > b->pause_send)
      b->pause_send = until;
    b->last_take = now_of(r);
    if (!pacer__linked(&b->active))
      pacer__list_push_back(&r->active, &b->active);
    pthread_cond_signal(&r->cond);
  }
  pthread_mutex_unlock(&r->mu);
}

int64_t pacer__redis_paused_until(pacer__redis_t *r, const char *name,
                                  int64_t now)
{
  pthread_mutex_lock(&r->mu);
  bucket_t *b;
  HASH_FIND(hh, r->buckets, name, strlen(name), b);
  int64_t u = b && b->paused_until > now ? b->paused_until : 0;
  pthread_mutex_unlock(&r->mu);
  return u;
}

static int bucket_name_ok(const char *name)
{
  return name && strnlen(name, BUCKET_NAME_MAX + 1) <= BUCKET_NAME_MAX;
}

/* A rate a learned-rate record can hold: > 0, finite, at least 1e-9/s. */
static int learn_rate_ok(double rate)
{
  return rate > 0 && isfinite(rate) && 1e6 / rate <= (double)LEARN_IV_MAX;
}

/* What b holds at now as far as this process knows: the end of the window
 * in force (the first, else its next one), with *rate; 0: none. */
static int64_t known(const bucket_t *b, int64_t now, double *rate)
{
  if (b->learned_until > now) {
    *rate = b->learned_rate;
    return b->learned_until;
  }
  if (b->learned_until && b->learned_next_until > now) {
    *rate = b->learned_next_rate;
    return b->learned_next_until;
  }
  return 0;
}

void pacer__redis_learn(pacer__redis_t *r, const char *name, double rate,
                        int64_t until, double next_rate, int64_t next_until)
{
  if (!bucket_name_ok(name) || !(rate >= 0) || !isfinite(rate) ||
      (rate > 0 && !learn_rate_ok(rate)))
    return;
  int next = rate > 0 && next_rate != 0;
  if (next && !(learn_rate_ok(next_rate) && next_until > until))
    return;
  pthread_mutex_lock(&r->mu);
  bucket_t *b = bucket_get(r, name);
  if (b) {
    int64_t now = now_of(r);
    b->learn_next_iv = 0;
    b->learn_next_until = 0;
    b->learned_next_until = 0;
    if (rate > 0 && (until > now || (next && next_until > now))) {
      b->learn_iv = learn_iv_of(rate);
      b->learn_until = until;
      b->learned_rate = 1e6 / (double)b->learn_iv;
      b->learned_until = until;
      if (next) {
        b->learn_next_iv = learn_iv_of(next_rate);
        b->learn_next_until = next_until;
        b->learned_next_rate = 1e6 / (double)b->learn_next_iv;
        b->learned_next_until = next_until;
      }
    } else { /* a clear */
      b->learn_iv = 0;
      b->learn_until = 0;
      b->learned_until = 0;
    }
    b->learn_send = 1;
    b->learn_known = 1;
    if (!pacer__linked(&b->active))
      pacer__list_push_back(&r->active, &b->active);
    /* while Redis is unreachable it waits for its reconnect time */
    if (r->st.state == PACER__REDIS_CONNECTED)
      pthread_cond_signal(&r->cond);
  }
  pthread_mutex_unlock(&r->mu);
}

int64_t pacer__redis_learned(pacer__redis_t *r, const char *name, int64_t now,
                             double *rate, int peek)
{
  if (!bucket_name_ok(name))
    return 0;
  pthread_mutex_lock(&r->mu);
  int64_t u = 0;
  if (peek) { /* what is known, and nothing more */
    bucket_t *b = NULL;
    HASH_FIND(hh, r->buckets, name, strlen(name), b);
    double lr = 0;
    if (b && (u = known(b, now, &lr)) > 0 && rate)
      *rate = lr;
    pthread_mutex_unlock(&r->mu);
    return u;
  }
  bucket_t *b = bucket_get(r, name);
  if (b) {
    b->last_ask = now;
    if (!pacer__linked(&b->active))
      pacer__list_push_back(&r->active, &b->active);
    double lr = 0;
    u = known(b, now, &lr);
    /* Knowing of nothing learned since before a pause that has ended is
     * not knowing: nobody asked while paused (the key's gate does not),
     * so the fleet may have learned meanwhile. Asked at once, as a new
     * bucket is. */
    int stale = !u && b->learn_known && b->paused_until &&
                b->paused_until <= now && b->heard_at <= b->paused_until &&
                !b->learn_send;
    if (stale && b->poll_at > now)
      b->poll_at = now;
    /* the first ask since the last call wakes the store thread if it
     * sleeps past this bucket's poll (awake, it looks at every bucket
     * before it sleeps again); later ones need not */
    if (stale && b->asked && r->st.state == PACER__REDIS_CONNECTED &&
        !b->inflight && !b->learn_waiting)
      pthread_cond_signal(&r->cond);
    if (!b->asked) {
      b->asked = 1;
      if (r->st.state == PACER__REDIS_CONNECTED && !b->inflight &&
          r->sleep_until > b->poll_at)
        pthread_cond_signal(&r->cond);
    }
    if (u > 0) {
      if (rate)
        *rate = lr;
    } else if ((!b->learn_known || stale) &&
               r->st.state == PACER__REDIS_CONNECTED) {
      /* nothing heard for this bucket yet, or not since its pause: the
       * next call's reply says */
      b->learn_waiting = 1;
      u = PACER__REDIS_PENDING;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return u;
}

void pacer__redis_stats(pacer__redis_t *r, pacer__redis_stats_t *st)
{
  pthread_mutex_lock(&r->mu);
  *st = r->st;
  st->buckets = HASH_COUNT(r->buckets);
  pthread_mutex_unlock(&r->mu);
}

/* ---- the store thread ---- */

typedef struct req {
  bucket_t *b;
  int64_t n, pause_us;
  int learn;                     /* carries the bucket's learned-rate write */
  int64_t learn_iv, learn_until; /* ... which was this */
  int64_t learn_next_iv, learn_next_until; /* ... with this next window */
  int asked;                               /* sent while learned() had asked */
  char num[9][24];                         /* the script's numeric ARGV */
  redisReply *rep;
  int64_t arrived;
} req_t;

/* Whether b has a learned-rate write to send at now: a clear always, a rate
 * only while its until is ahead. One whose first window passed before it
 * could be sent (Redis was down) is sent as its next window alone, if that
 * is still ahead; one whose every window passed is dropped: it would only
 * delete the key, which holds an older write of this process's or a newer
 * one of another's, and neither is this write's to end. */
static int learn_due(bucket_t *b, int64_t now)
{
  if (b->learn_send && b->learn_iv && b->learn_until <= now) {
    if (b->learn_next_iv && b->learn_next_until > now) {
      b->learn_iv = b->learn_next_iv;
      b->learn_until = b->learn_next_until;
    } else {
      b->learn_send = 0;
    }
    b->learn_next_iv = 0;
    b->learn_next_until = 0;
  }
  return b->learn_send;
}

/* Whether b is due a call for learning alone: asked about since its last
 * call, and that call a poll interval ago. */
static int poll_due(const bucket_t *b, int64_t now)
{
  return b->asked && now >= b->poll_at;
}

/* Picks the buckets to send (marked inflight) into q; returns how many,
 * and the time the next one falls due in *next. Frees buckets long idle. */
static int collect(pacer__redis_t *r, int64_t now, req_t *q, int64_t *next)
{
  int n = 0;
  *next = INT64_MAX;
  pacer__link_t *l = r->active.next;
  while (l != &r->active && n < MAX_BATCH) {
    bucket_t *b = (bucket_t *)((char *)l - offsetof(bucket_t, active));
    l = l->next;
    if (b->inflight)
      continue;
    lapse(r, b, now, 0);
    if (b->res_n && res_at(b, 0) + b->grace_ns + 1 < *next)
      *next = res_at(b, 0) + b->grace_ns + 1;
    int pause = b->pause_send > now;
    if (!pause)
      b->pause_send = 0;
    int learn = learn_due(b, now);
    if (!pause && !learn && !b->waiting && !b->learn_waiting &&
        now - b->last_take > IDLE_NS && now - b->last_ask > LEARN_IDLE_NS) {
      /* nobody takes or asks: freed once it holds nothing and its pause is
       * over (a take recreates it as it was: the state is on the server;
       * so is a learned rate, which the first call after a learned()
       * brings back) */
      if (!b->res_n && b->paused_until <= now)
        bucket_free(r, b);
      else if (b->paused_until > now && b->paused_until < *next)
        *next = b->paused_until;
      continue;
    }
    int reserve = reserve_due(b, now);
    if (!pause && !learn && !reserve && !poll_due(b, now)) {
      if ((b->demand || b->waiting) && 2 * (int64_t)b->res_n <= b->target) {
        int64_t due =
            b->next_at > b->paused_until ? b->next_at : b->paused_until;
        if (due < *next)
          *next = due;
      }
      if (b->asked && b->poll_at < *next)
        *next = b->poll_at;
      else if (!b->asked && now - b->last_ask <= LEARN_IDLE_NS &&
               b->last_ask + LEARN_IDLE_NS + 1 < *next)
        *next = b->last_ask + LEARN_IDLE_NS + 1; /* to free it then */
      continue;
    }
    req_t *x = &q[n++];
    x->b = b;
    x->n = reserve ? b->target - (int64_t)b->res_n : 0;
    x->pause_us = pause ? (b->pause_send - now + NS_PER_US - 1) / NS_PER_US : 0;
    x->learn = learn;
    x->learn_iv = b->learn_iv;
    x->learn_until = b->learn_until;
    x->learn_next_iv = b->learn_next_iv;
    x->learn_next_until = b->learn_next_until;
    x->asked = b->asked;
    x->rep = NULL;
    b->inflight = 1;
    if (reserve)
      b->demand = 0;
    b->pause_send = 0;
    b->learn_send = 0;
    /* any call brings the learned rate back: the poll counts from here */
    b->asked = 0;
    b->poll_at = now + (b->poll_iv ? b->poll_iv : PACER__REDIS_LEARN_POLL_NS);
    /* a bucket only paused or asked about, never taken from, has no rate:
     * n is 0, and interval 1, burst 1 reserve nothing */
    snprintf(x->num[0], sizeof x->num[0], "%lld",
             (long long)(b->interval_us ? b->interval_us : 1));
    snprintf(x->num[1], sizeof x->num[1], "%lld",
             (long long)(b->burst ? b->burst : 1));
    snprintf(x->num[2], sizeof x->num[2], "%lld", (long long)x->n);
    snprintf(x->num[3], sizeof x->num[3], "%lld",
             (long long)(b->ahead_ns / NS_PER_US));
    snprintf(x->num[4], sizeof x->num[4], "%lld", (long long)x->pause_us);
    /* a rate: its interval and time left (us, rounded up: the key lives
     * to the until at least); a clear: 1 and 0; none: 0 and 0 */
    int64_t left = 0;
    if (learn && x->learn_iv) {
      int64_t d = x->learn_until - now; /* > 0: learn_due */
      left = d / NS_PER_US + (d % NS_PER_US != 0);
      if (left > LEARN_LEFT_MAX)
        left = LEARN_LEFT_MAX;
    }
    snprintf(x->num[5], sizeof x->num[5], "%lld",
             (long long)(learn ? (x->learn_iv ? x->learn_iv : 1) : 0));
    snprintf(x->num[6], sizeof x->num[6], "%lld", (long long)left);
    /* its next window: interval and time left to its end (0 0: none) */
    int64_t nleft = 0;
    if (learn && x->learn_iv && x->learn_next_iv) {
      int64_t d = x->learn_next_until - now; /* > the first's */
      nleft = d / NS_PER_US + (d % NS_PER_US != 0);
      if (nleft > LEARN_LEFT_MAX)
        nleft = LEARN_LEFT_MAX;
    }
    snprintf(x->num[7], sizeof x->num[7], "%lld",
             (long long)(nleft > left ? x->learn_next_iv : 0));
    snprintf(x->num[8], sizeof x->num[8], "%lld",
             (long long)(nleft > left ? nleft : 0));
  }
  if (n == MAX_BATCH)
    *next = now;
  return n;
}

/* Sends the batch in one pipeline and reads the replies, each with its
 * arrival time. No lock held: the buckets' keys do not change while they
 * are inflight. Returns 0, or -1 when the connection failed. */
static int exchange(pacer__redis_t *r, req_t *q, int n)
{
  for (int i = 0; i < n; i++) {
    bucket_t *b = q[i].b;
    /* the channel and the name only with a pause: nothing to publish else */
    int p = q[i].pause_us > 0;
    const char *argv[17] = {"EVALSHA",        r->sha,       "3",
                            b->tat_key,       b->pause_key, b->learn_key,
                            q[i].num[0],      q[i].num[1],  q[i].num[2],
                            q[i].num[3],      q[i].num[4],  p ? r->channel : "",
                            p ? b->name : "", q[i].num[5],  q[i].num[6],
                            q[i].num[7],      q[i].num[8]};
    size_t len[17];
    for (int j = 0; j < 17; j++)
      len[j] = strlen(argv[j]);
    len[3] = b->tat_len;
    len[4] = b->pause_len;
    len[5] = b->learn_len;
    len[11] = p ? r->channel_len : 0;
    len[12] = p ? b->name_len : 0;
    if (redisAppendCommandArgv(r->c, 17, argv, len) != REDIS_OK)
      return -1;
  }
  for (int i = 0; i < n; i++) {
    void *rep = NULL;
    if (redisGetReply(r->c, &rep) != REDIS_OK)
      return -1;
    q[i].rep = rep;
    q[i].arrived = now_of(r);
  }
  return 0;
}

/* Takes in one reply (under the lock). Returns 1 when a waiting take may
 * now succeed or a learned() that answered PENDING has its answer, 0
 * otherwise; sets *noscript when the server lost the script. */
static int apply(pacer__redis_t *r, req_t *x, int64_t now, int *noscript)
{
  bucket_t *b = x->b;
  redisReply *rep = x->rep;
  b->inflight = 0;
  int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= R_HEAD;
  for (size_t i = 0; ok && i < rep->elements; i++)
    ok = rep->element[i]->type == REDIS_REPLY_INTEGER &&
         rep->element[i]->integer >= 0;
  /* a learned rate is both fields or neither, its next window too, and
   * only with a first one */
  if (ok)
    ok = (rep->element[R_LEARN_IV]->integer > 0) ==
             (rep->element[R_LEARN_LEFT]->integer > 0) &&
         (rep->element[R_NEXT_IV]->integer > 0) ==
             (rep->element[R_NEXT_LEFT]->integer > 0) &&
         (rep->element[R_LEARN_IV]->integer > 0 ||
          rep->element[R_NEXT_IV]->integer == 0);
  if (!ok) { /* send it again: later, or after the script is loaded */
    if (x->n)
      b->demand = 1;
    if (x->pause_us && b->paused_until > b->pause_send)
      b->pause_send = b->paused_until;
    if (x->learn && !b->learn_send) { /* unless a newer write replaced it */
      b->learn_send = 1;
      b->learn_iv = x->learn_iv;
      b->learn_until = x->learn_until;
      b->learn_next_iv = x->learn_next_iv;
      b->learn_next_until = x->learn_next_until;
    }
    if (x->asked)
      b->asked = 1; /* polled again, a poll interval after this one */
    /* A learned() waiting on this bucket gets what this process knows (as
     * while Redis is unreachable) rather than wait out a server that keeps
     * refusing the script (OOM, READONLY): the key starts on its own. */
    int lw = b->learn_waiting;
    b->learn_waiting = 0;
    if (lw)
      b->learn_known = 1;
    if (!rep)
      return lw;
    r->st.errors++;
    if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8))
      *noscript = 1;
    else
      b->next_at = now + ERROR_RETRY;
    return lw;
  }
  int64_t t0 = x->arrived;
  b->heard_at = t0;
  /* Known from now on; a learned() that answered PENDING gets its notify. */
  b->learn_known = 1;
  int lw = b->learn_waiting;
  b->learn_waiting = 0;
  /* The learned rate as the server holds it, from when the reply arrived
   * (as a pause is), unless a write of this process's came after this call
   * was sent: that one is newer, and is the truth here until it is sent. */
  if (!b->learn_send) {
    int64_t iv = rep->element[R_LEARN_IV]->integer;
    int64_t left = rep->element[R_LEARN_LEFT]->integer;
    int64_t niv = rep->element[R_NEXT_IV]->integer;
    int64_t nleft = rep->element[R_NEXT_LEFT]->integer;
    b->learned_until = 0;
    b->learned_next_until = 0;
    if (iv > 0) {
      b->learned_rate = 1e6 / (double)iv;
      b->learned_until = pacer__time_add(
          t0, left > INT64_MAX / NS_PER_US ? INT64_MAX : left * NS_PER_US);
      if (niv > 0) {
        b->learned_next_rate = 1e6 / (double)niv;
        b->learned_next_until = pacer__time_add(
            t0, nleft > INT64_MAX / NS_PER_US ? INT64_MAX : nleft * NS_PER_US);
      }
    }
  }
  /* Polls come at the shortest interval while the fleet has learned
   * something of the bucket, and ever more seldom while it has not (a key
   * whose server announces nothing). */
  double lr;
  if (known(b, now, &lr) > 0)
    b->poll_iv = PACER__REDIS_LEARN_POLL_NS;
  else if (x->asked && !x->n && !x->learn)
    b->poll_iv = b->poll_iv ? 2 * b->poll_iv : PACER__REDIS_LEARN_POLL_NS;
  if (b->poll_iv > PACER__REDIS_LEARN_POLL_MAX_NS)
    b->poll_iv = PACER__REDIS_LEARN_POLL_MAX_NS;
  int64_t pause = rep->element[R_PAUSE]->integer;
  if (pause > 0) {
    int64_t until = t0 + pause * NS_PER_US;
    if (until > b->paused_until)
      b->paused_until = until;
    lapse(r, b, now, 1);
    b->next_at = b->paused_until;
    int w = b->waiting;
    b->waiting = 0;
    return w | lw;
  }
  size_t k = rep->elements - R_HEAD;
  if (b->paused_until > now) {
    /* a pause heard of since the call was sent (another process's, through
     * the subscriber, or this one's not written yet): what it reserved would
     * start within it; the tokens lapse on the server */
    r->st.lapsed += (uint64_t)k;
    b->next_at = b->paused_until;
    int w = b->waiting;
    b->waiting = 0;
    return w | lw;
  }
  for (size_t i = 0; i < k; i++)
    if (res_push(b, t0 + rep->element[R_HEAD + i]->integer * NS_PER_US))
      break; /* out of memory: the rest lapse on the server */
  if (k && b->res_n) {
    int64_t last = res_at(b, b->res_n - 1) - b->ahead_ns / 2;
    b->next_at = last > t0 ? last : t0;
    int w = b->waiting;
    b->waiting = 0;
    return w | lw;
  }
  /* A call that reserved nothing by design (a learning poll, a pause
   * written) says nothing of when to reserve. */
  if (!x->n)
    return lw;
  /* Nothing within the horizon: ask when the next token enters it. */
  int64_t at = t0 + rep->element[R_NEXT]->integer * NS_PER_US - b->ahead_ns;
  b->next_at = at > t0 + MS ? at : t0 + MS;
  return lw;
}

/* Leaves one line for the store thread to log once it drops the lock. */
static void log_later(pacer__redis_t *r, pacer_log_level_t level,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_later(pacer__redis_t *r, pacer_log_level_t level,
                      const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->log_msg, sizeof r->log_msg, fmt, ap);
  va_end(ap);
  r->log_level = level;
  r->log_pending = 1;
}

/* Passes a pending line to opts.log without the lock (the callback may call
 * back into the store), then takes the lock again. */
static void log_flush(pacer__redis_t *r)
{
  if (!r->log_pending)
    return;
  r->log_pending = 0;
  if (!r->log)
    return;
  char msg[sizeof r->log_msg];
  memcpy(msg, r->log_msg, sizeof msg);
  pacer_log_level_t level = r->log_level;
  pthread_mutex_unlock(&r->mu);
  r->log(level, msg, r->log_arg);
  pthread_mutex_lock(&r->mu);
}

/* The first failure of an outage: counted, logged, and the buckets set for
 * it. Returns go_down's wake. */
static int lost(pacer__redis_t *r, int64_t now, const char *why)
{
  r->st.disconnects++;
  r->down_since = now;
  r->down_fallback_grants = r->st.fallback_grants;
  int fallback = r->fallback > 0;
  r->st.state = fallback ? PACER__REDIS_FALLBACK : PACER__REDIS_HOLDING;
  if (fallback)
    log_later(r, PACER_LOG_WARN,
              "redis %s:%d (quota %s): connection lost: %s; falling back to "
              "%g x each rate locally until it is back",
              r->host, r->port, r->quota, why, r->fallback);
  else
    log_later(r, PACER_LOG_WARN,
              "redis %s:%d (quota %s): connection lost: %s; holding (nothing "
              "starts without a grant) until it is back",
              r->host, r->port, r->quota, why);
  int wake = 0;
  bucket_t *b, *tmp;
  HASH_ITER(hh, r->buckets, b, tmp)
  {
    lapse(r, b, now, 1);
    b->next_at = 0;
    b->fb_on = 0;
    if (fallback && fb_start(r, b, now) == 0 && b->waiting)
      wake = 1;
    if (b->learn_waiting) { /* learned() answers what it knows now */
      b->learn_waiting = 0;
      wake = 1;
    }
  }
  return wake;
}

/* The connection is gone, or could not be made again (why: hiredis's or the
 * server's reason): reservations are dropped (a restarted server may have
 * forgotten them and grant the same time again), and until it is back
 * nothing is granted, or only the fallback's share. Only the first failure
 * of an outage is logged and counted as a disconnect. Returns 1 when a take
 * waiting on notify should ask again (the fallback grants now). */
static int go_down(pacer__redis_t *r, int64_t now, const char *why)
{
  r->st.errors++;
  r->reconnect_at = now + r->backoff;
  r->backoff = 2 * r->backoff > BACKOFF_MAX ? BACKOFF_MAX : 2 * r->backoff;
  int wake = 0;
  if (r->st.state == PACER__REDIS_CONNECTED) /* else a failed reconnect */
    wake = lost(r, now, why);
  if (r->c) { /* last: why may be its error string */
    redisFree(r->c);
    r->c = NULL;
  }
  return wake;
}

/* The connection is made again: reserving from Redis, no more fallback. */
static void go_up(pacer__redis_t *r, int64_t now)
{
  r->st.state = PACER__REDIS_CONNECTED;
  r->backoff = BACKOFF_MIN;
  double down = (double)(now - r->down_since) / 1e9;
  if (r->fallback > 0)
    log_later(
        r, PACER_LOG_INFO,
        "redis %s:%d (quota %s): connected again after %.2f s down "
        "(%llu grants from the fallback); reserving from Redis again",
        r->host, r->port, r->quota, down,
        (unsigned long long)(r->st.fallback_grants - r->down_fallback_grants));
  else
    log_later(r, PACER_LOG_INFO,
              "redis %s:%d (quota %s): connected again after %.2f s down",
              r->host, r->port, r->quota, down);
}

/* ---- the subscriber ---- */

/* Reads a pause message, ["message", channel, "<pause left, us> <name>"]:
 * 0 with the pause in *us and the name (any bytes but NUL, at most 255)
 * in *name, *len; -1 for anything else, which is ignored. */
static int pause_message(const pacer__redis_t *r, const redisReply *rep,
                         int64_t *us, const char **name, size_t *len)
{
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
    return -1;
  const redisReply *kind = rep->element[0], *ch = rep->element[1],
                   *msg = rep->element[2];
  if (kind->type != REDIS_REPLY_STRING || kind->len != 7 ||
      memcmp(kind->str, "message", 7) || ch->type != REDIS_REPLY_STRING ||
      (size_t)ch->len != r->channel_len ||
      memcmp(ch->str, r->channel, r->channel_len) ||
      msg->type != REDIS_REPLY_STRING)
    return -1;
  const char *p = msg->str, *end = msg->str + msg->len;
  int64_t v = 0;
  int digits = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    if (++digits > PAUSE_US_DIGITS)
      return -1;
    v = v * 10 + (*p++ - '0');
  }
  if (!digits || p == end || *p != ' ')
    return -1;
  p++;
  if ((size_t)(end - p) > BUCKET_NAME_MAX || memchr(p, '\0', (size_t)(end - p)))
    return -1;
  *us = v;
  *name = p;
  *len = (size_t)(end - p);
  return 0;
}

/* Takes in a pause heard on the channel: for a bucket this process holds,
 * the pause is known from now on (never shortened), its reservations are
 * dropped (they would start within it), and a take waiting on notify is
 * told, so that it gets the pause's wait. */
static void sub_apply(pacer__redis_t *r, const redisReply *rep)
{
  int64_t us;
  const char *name;
  size_t len;
  if (pause_message(r, rep, &us, &name, &len))
    return;
  pthread_mutex_lock(&r->mu);
  bucket_t *b;
  HASH_FIND(hh, r->buckets, name, len, b);
  int wake = 0;
  if (b) {
    int64_t now = now_of(r);
    int64_t until = pacer__time_add(now, us * NS_PER_US);
    if (until > b->paused_until)
      b->paused_until = until;
    if (b->paused_until > now) {
      lapse(r, b, now, 1);
      if (b->next_at < b->paused_until)
        b->next_at = b->paused_until;
      wake = b->waiting;
      b->waiting = 0;
    }
  }
  pthread_mutex_unlock(&r->mu);
  if (wake && r->notify)
    r->notify(r->notify_arg);
}

/* Waits (real time: the network's, whatever clock the store is given)
 * until deadline or close. Returns r->stop. Under r->mu. */
static int sub_sleep(pacer__redis_t *r, int64_t deadline)
{
  while (!r->stop && pacer__clock_real.now(NULL) < deadline)
    pacer__clock_real.wait(NULL, &r->sub_cond, &r->mu, deadline);
  return r->stop;
}

static void *sub_main(void *arg)
{
  pacer__redis_t *r = arg;
  redisContext *c = r->sub_c; /* connected by open */
  int64_t backoff = BACKOFF_MIN;
  for (;;) {
    if (!c) {
      pthread_mutex_lock(&r->mu);
      int stop = sub_sleep(r, pacer__clock_real.now(NULL) + backoff);
      pthread_mutex_unlock(&r->mu);
      if (stop)
        break;
      char why[256];
      c = sub_connect(r, IO_TIMEOUT_MS, why, sizeof why);
      pthread_mutex_lock(&r->mu);
      stop = r->stop;
      if (c && !stop)
        r->sub_fd = c->fd;
      if (!c)
        r->st.errors++;
      pthread_mutex_unlock(&r->mu);
      if (stop)
        break;
      if (!c) {
        backoff = 2 * backoff > BACKOFF_MAX ? BACKOFF_MAX : 2 * backoff;
        continue;
      }
      backoff = BACKOFF_MIN;
    }
    void *rep = NULL;
    if (redisGetReply(c, &rep) == REDIS_OK) {
      if (rep) {
        sub_apply(r, rep);
        freeReplyObject(rep);
      }
      continue;
    }
    /* lost, or shut down by close: the socket is closed only after sub_fd
     * is cleared */
    pthread_mutex_lock(&r->mu);
    r->sub_fd = -1;
    int stop = r->stop;
    if (!stop)
      r->st.errors++;
    pthread_mutex_unlock(&r->mu);
    redisFree(c);
    c = NULL;
    if (stop)
      break;
  }
  if (c) {
    pthread_mutex_lock(&r->mu);
    r->sub_fd = -1;
    pthread_mutex_unlock(&r->mu);
    redisFree(c);
  }
  r->sub_c = NULL;
  return NULL;
}

static void *store_main(void *arg)
{
  pacer__redis_t *r = arg;
  req_t *q = malloc(MAX_BATCH * sizeof *q);
  pthread_mutex_lock(&r->mu);
  while (!r->stop) {
    log_flush(r); /* at most one change of state per turn of the loop */
    int64_t now = now_of(r);
    if (!q) { /* no batch memory: try again later, holding */
      pthread_mutex_unlock(&r->mu);
      q = malloc(MAX_BATCH * sizeof *q);
      pthread_mutex_lock(&r->mu);
      if (!q)
        r->clock->wait(r->clock->ctx, &r->cond, &r->mu, now + BACKOFF_MAX);
      continue;
    }
    if (!r->c) {
      if (now < r->reconnect_at) {
        r->clock->wait(r->clock->ctx, &r->cond, &r->mu, r->reconnect_at);
        continue;
      }
      pthread_mutex_unlock(&r->mu);
      char why[256];
      redisContext *c = connect_and_load(r, IO_TIMEOUT_MS, why, sizeof why);
      pthread_mutex_lock(&r->mu);
      r->c = c;
      if (!c) {
        go_down(r, now_of(r), why);
        continue;
      }
      go_up(r, now_of(r));
      continue;
    }
    int64_t next;
    int n = collect(r, now, q, &next);
    if (!n) {
      r->sleep_until = next;
      r->clock->wait(r->clock->ctx, &r->cond, &r->mu, next);
      r->sleep_until = 0;
      continue;
    }
    r->st.reserve_calls += (uint64_t)n;
    pthread_mutex_unlock(&r->mu);
    int rc = exchange(r, q, n);
    pthread_mutex_lock(&r->mu);
    now = now_of(r);
    int wake = 0, noscript = 0;
    for (int i = 0; i < n; i++) {
      wake |= apply(r, &q[i], now, &noscript);
      if (q[i].rep)
        freeReplyObject(q[i].rep);
    }
    if (rc) {
      wake |= go_down(r, now, reply_why(NULL, r->c));
    } else if (noscript) { /* flushed, or a failover to a replica without it */
      pthread_mutex_unlock(&r->mu);
      redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", SCRIPT);
      int ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == 40;
      char why[256] = "";
      if (ok)
        memcpy(r->sha, rep->str, 41);
      else
        snprintf(why, sizeof why, "SCRIPT LOAD failed: %s",
                 reply_why(rep, r->c));
      if (rep)
        freeReplyObject(rep);
      pthread_mutex_lock(&r->mu);
      if (!ok)
        wake |= go_down(r, now_of(r), why);
    }
    if (wake && r->notify) {
      pthread_mutex_unlock(&r->mu);
      r->notify(r->notify_arg);
      pthread_mutex_lock(&r->mu);
    }
  }
  log_flush(r);
  pthread_mutex_unlock(&r->mu);
  free(q);
  return NULL;
}

/* Frees what open made, in reverse: the subscriber's and the store's
 * connections, the conditions and the mutex (made says how far it got). */
static void open_undo(pacer__redis_t *r, int made)
{
  if (made >= 3)
    pthread_cond_destroy(&r->sub_cond);
  if (made >= 2)
    pthread_cond_destroy(&r->cond);
  if (made >= 1)
    pthread_mutex_destroy(&r->mu);
  if (r->sub_c)
    redisFree(r->sub_c);
  if (r->c)
    redisFree(r->c);
  free(r);
}

int pacer__redis_open(const pacer__redis_opts_t *o, pacer__redis_t **out,
                      char *err, size_t errlen)
{
  *out = NULL;
  pacer__redis_t *r = calloc(1, sizeof *r);
  if (!r) {
    pacer__set_err(err, errlen, "out of memory");
    return PACER_ENOMEM;
  }
  int rc = parse_url(r, o->url, err, errlen);
  if (rc) {
    free(r);
    return rc;
  }
  r->clock = o->clock ? o->clock : &pacer__clock_real;
  r->notify = o->notify;
  r->notify_arg = o->notify_arg;
  r->log = o->log;
  r->log_arg = o->log_arg;
  pacer__list_init(&r->active);
  r->backoff = BACKOFF_MIN;
  r->st.state = PACER__REDIS_CONNECTED;
  r->sub_fd = -1;
  r->channel_len = (size_t)snprintf(r->channel, sizeof r->channel,
                                    "%s{%s}:pauses", r->prefix, r->quota);
  r->c = connect_and_load(r, OPEN_TIMEOUT_MS, err, errlen);
  if (!r->c) {
    free(r);
    return PACER_ESYSTEM;
  }
  /* subscribed before open returns: no pause published after it is missed */
  r->sub_c = sub_connect(r, OPEN_TIMEOUT_MS, err, errlen);
  if (!r->sub_c) {
    open_undo(r, 0);
    return PACER_ESYSTEM;
  }
  r->sub_fd = r->sub_c->fd;
  if (pthread_mutex_init(&r->mu, NULL)) {
    open_undo(r, 0);
    pacer__set_err(err, errlen, "cannot make a mutex");
    return PACER_ESYSTEM;
  }
  if (pacer__cond_init(&r->cond)) {
    open_undo(r, 1);
    pacer__set_err(err, errlen, "cannot make a condition variable");
    return PACER_ESYSTEM;
  }
  if (pacer__cond_init(&r->sub_cond)) {
    open_undo(r, 2);
    pacer__set_err(err, errlen, "cannot make a condition variable");
    return PACER_ESYSTEM;
  }
  if (pacer__thread_start(&r->thread, store_main, r, "pacer-redis")) {
    open_undo(r, 3);
    pacer__set_err(err, errlen, "cannot start the store thread");
    return PACER_ESYSTEM;
  }
  if (pacer__thread_start(&r->sub_thread, sub_main, r, "pacer-redis-sub")) {
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    open_undo(r, 3);
    pacer__set_err(err, errlen, "cannot start the subscriber thread");
    return PACER_ESYSTEM;
  }
  *out = r;
  return 0;
}

void pacer__redis_close(pacer__redis_t *r)
{
  if (!r)
    return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_signal(&r->cond);
  pthread_cond_signal(&r->sub_cond);
  /* the subscriber is blocked in a read with no timeout: end it */
  if (r->sub_fd >= 0)
    shutdown(r->sub_fd, SHUT_RDWR);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->sub_thread, NULL);
  pthread_join(r->thread, NULL);
  if (r->c)
    redisFree(r->c);
  /* the table first, then the buckets along its own links */
  bucket_t *b = r->buckets;
  HASH_CLEAR(hh, r->buckets);
  while (b) {
    bucket_t *next = b->hh.next;
    free(b->res);
    free(b->name);
    free(b);
    b = next;
  }
  pthread_cond_destroy(&r->sub_cond);
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

#endif
