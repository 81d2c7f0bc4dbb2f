/* SPDX-License-Identifier: MIT */
/* redis_store.h - shared GCRA buckets on a Redis server, so that several
 * processes (on one host or many) draw from one quota.
 *
 * The server keeps each bucket's theoretical arrival time (TAT) on its own
 * clock (TIME), so the hosts' clocks never need to agree. One Lua script,
 * loaded once and run with EVALSHA, reserves up to n tokens of a bucket in
 * one call and returns when each may start, as offsets from the server's
 * now; the store turns an offset into local time as (local time the reply
 * arrived) + offset, which is never earlier than the slot on the server's
 * timeline. Reservations are made ahead of need, on the store's own thread,
 * so a take never waits for the network: it pops a reservation that is due.
 *
 * Key layout, all of one quota in one Redis Cluster slot through the hash
 * tag: PREFIX{QUOTA}:tat:BUCKET (TAT, integer microseconds of server time),
 * PREFIX{QUOTA}:pause:BUCKET (end of a shared pause, same unit) and
 * PREFIX{QUOTA}:learn:BUCKET ("<interval us> <until, us of server time>": a
 * rate learned from the server's announced quota, which the latest write
 * replaces). Each expires once it means nothing any more (the bucket would
 * be full again, the pause is over, the learned rate's until is past), so an
 * idle quota leaves no key behind. One pub/sub
 * channel per quota, PREFIX{QUOTA}:pauses: the script call that sets or
 * extends a pause publishes "<pause left, us from the server's now> BUCKET"
 * there, and every process on the quota is subscribed (its own connection
 * and thread), so a pause reaches all of them at once: each one that holds
 * that bucket sets it paused from the message's arrival and drops the
 * reservations it held. A process without that bucket reads the pause key
 * at its first reserve call for it.
 *
 * Learned rates take no pub/sub: every script call for a bucket reads its
 * learned rate (and writes this process's, when it has one to write), so
 * a process that takes from a bucket hears of another's rate at its next
 * reserve call, and one that only asks (learned(), for a key with no rate
 * of its own) gets a call of its own at once, then every 50 ms while the
 * fleet has learned a rate for it and ever more seldom (to every 2 s)
 * while it has not; such a call reserves nothing. A bucket that is neither
 * taken from nor asked about for a while is freed like any idle one; its
 * learned rate stays on the server, and the first call after the next ask reads
 * it.
 *
 * How far ahead: a process holds reservations at most ahead_ms into the
 * future (default max(20 ms, 2 token intervals), at most 1 s), and only for
 * buckets it took from lately, so it cannot take the quota from the others.
 * A reservation not taken within its grace after its start (two token
 * intervals within 1..5 ms, or a tenth of one up to 50 ms if that is
 * longer) lapses: it is dropped and counted.
 *
 * When Redis cannot be reached the store holds: take returns a wait or
 * PACER__REDIS_PENDING, never a token without a grant; the store thread
 * reconnects with backoff (50 ms doubling to 500 ms) and loads the script
 * again. With ?fallback=F (0 < F <= 1) it grants instead from a local exact
 * GCRA per bucket at F x the rate, burst floor(F x burst) but at least 1,
 * started empty when the outage begins (so the switch adds no burst to what
 * Redis granted just before); a fleet of N processes at F = 1/N then stays
 * within the quota. Those grants stop as soon as the connection is back.
 * Learned rates known when it went down stay known until their until (none
 * is learned from another process meanwhile); one learned here meanwhile
 * takes effect here at once and is written once it is back, if its until is
 * still ahead. Each change of state is logged once through opts.log (warning
 * when the connection is lost, with hiredis's reason; info when it is back,
 * with how long it was down), never once per failed reconnect; errors, outages
 * and the state are also in the stats.
 *
 * Thread rules: every function may be called from any thread (one mutex
 * inside); the connection is used only by the store's own thread, the
 * subscriber's only by the subscriber's thread. */
#ifndef PACER_REDIS_STORE_H
#define PACER_REDIS_STORE_H

#include "clock.h"
#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>

/* take's "nothing reserved yet; notify will be called when a take may
 * succeed" (the same value as shared.h's PACER__SHARED_PENDING, which
 * shared.c checks). */
#define PACER__REDIS_PENDING INT64_MAX

/* pacer__redis_stats_t.state: connected, reserving on demand; Redis
 * unreachable, nothing granted, reconnecting; or Redis unreachable,
 * granting from the local fallback buckets, reconnecting. */
#define PACER__REDIS_CONNECTED 0
#define PACER__REDIS_HOLDING 1
#define PACER__REDIS_FALLBACK 2

typedef struct pacer__redis pacer__redis_t;

typedef struct pacer__redis_opts {
  /* redis://HOST[:PORT][/DB][?name=QUOTA&prefix=P&ahead_ms=N&fallback=F];
   * copied. HOST is a name or an IP address ([...] for IPv6), PORT 6379 by
   * default, DB 0 by default (SELECT is sent only for another one). QUOTA
   * (default "default") and P (default "pacer:") are letters, digits and
   * . _ - : (P also /), at most 128 bytes; N is 1..1000 and overrides the
   * default horizon for every bucket. F is a decimal fraction, 0 < F <= 1
   * (such as 0.25 or 1), at most 15 digits: while Redis is unreachable,
   * grant from local buckets at F x each rate (file comment); absent: hold. */
  const char *url;
  /* now() converts the server's offsets to local time, wait() paces the
   * store thread; borrowed until close. NULL: pacer__clock_real. */
  const pacer__clock_t *clock;
  /* Called on the store's thread (or the subscriber's, for a pause heard
   * there), with no store lock held, when a take that returned
   * PACER__REDIS_PENDING may now succeed (or its bucket was found paused),
   * or a learned() that returned it has its answer.
   * May call any function here except close. May be NULL. */
  void (*notify)(void *arg);
  void *notify_arg;
  /* Called on the store's thread, with no store lock held, once for each
   * change of state: PACER_LOG_WARN when the connection is lost (the line
   * says why, and whether the store holds or falls back), PACER_LOG_INFO
   * when it is back (and how long it was down). msg (one line, no newline)
   * is borrowed until the call returns. May call any function here except
   * close. May be NULL: no log. */
  void (*log)(pacer_log_level_t level, const char *msg, void *arg);
  void *log_arg;
} pacer__redis_opts_t;

/* Parses the URL, connects (at most 2 s), selects the DB, loads the script,
 * subscribes to the pause channel on a second connection and starts the
 * store thread and the subscriber's. Returns 0 and *out (free with
 * pacer__redis_close()), PACER_EINVAL (bad URL, or a library built without
 * Redis support), PACER_ESYSTEM (unreachable, refused, not Redis, the pause
 * channel's SUBSCRIBE refused, or no thread), or PACER_ENOMEM; err (errlen
 * bytes, may be NULL) then says why. Subscribed before it returns.
 * Blocks for the connection: call it where pacer_new() may wait. */
int pacer__redis_open(const pacer__redis_opts_t *o, pacer__redis_t **out,
                      char *err, size_t errlen);

/* How long after its start a reservation of a bucket at rate may still be
 * taken (its grace), in ns: two intervals within 1..5 ms, or a tenth of one
 * up to 50 ms where that is longer; 0 for a rate <= 0. Pure. */
int64_t pacer__redis_grace_ns(double rate);

/* One token of bucket name ("" global, else a limiter key; copied when the
 * bucket is new) at rate tokens/s (> 0) and burst (>= 1), at the caller's
 * monotonic now. Returns 0 (a reservation due at or before now was taken,
 * and this process's own exact bucket of that rate and burst allowed it),
 * > 0 (ns until the next reservation is due: ask again then), or
 * PACER__REDIS_PENDING (nothing reserved: the demand is recorded, the store
 * thread reserves and calls notify). While the bucket is known to be
 * paused, the ns to the pause's end. In the fallback state, 0 when the
 * bucket's local fallback bucket (and its own exact bucket) allows a token
 * at now, else the ns until it does. Never blocks on the network and
 * cannot fail. The latest rate and burst given are the ones reserved with. */
int64_t pacer__redis_take(pacer__redis_t *r, const char *name, double rate,
                          int64_t burst, int64_t now);

/* Pauses bucket name for every process on the quota until the local time
 * until (a Retry-After). Takes effect here at once; the store thread writes
 * it to Redis (as server time) as soon as it can. A pause never shortens
 * one already known. */
void pacer__redis_pause(pacer__redis_t *r, const char *name, int64_t until);

/* 0, or the local time until which bucket name is paused, as far as this
 * process knows: its own pauses at once, another process's as soon as its
 * message arrives if this process holds that bucket, else from the next
 * reservation call for it (made when there is demand for it). */
int64_t pacer__redis_paused_until(pacer__redis_t *r, const char *name,
                                  int64_t now);

/* learned()'s interest: a bucket asked about is called for at once, then at
 * most every PACER__REDIS_LEARN_POLL_NS while the fleet has learned a rate
 * for it, and at intervals doubling up to PACER__REDIS_LEARN_POLL_MAX_NS
 * while it has not (file comment). */
#define PACER__REDIS_LEARN_POLL_NS (50 * PACER__NS_PER_MS)
#define PACER__REDIS_LEARN_POLL_MAX_NS (2000 * PACER__NS_PER_MS)

/* Tells every process on the quota that bucket name's server asks for at
 * most rate tokens/s (> 0, finite) until the local monotonic time until:
 * a rate learned from what the server announced; then, when next_rate is
 * not 0, at most next_rate until next_until (> until): the quota's pace in
 * its next window, which every process holds to once the first window ends
 * (learned() answers it then). The latest write wins (a newer announcement
 * is the truer one); rate 0 clears it, and so does an until <= now with no
 * next window ahead. Takes effect here at once (pacer__redis_learned() answers
 * it), and the store thread writes it to Redis (as server time, like a pause)
 * as soon as it can. Never blocks on the network. A bad name (NULL or over 255
 * bytes), a negative or non-finite rate, or one below 1e-9/s (a token per
 * 31 years, which the record cannot hold) is ignored, and so is a next
 * window with such a rate or one that does not end after until.
 * The rate travels as an interval of whole microseconds, rounded up: what
 * learned() answers, here and in every process, is 1e6 / ceil(1e6 / rate),
 * never above rate (rates above 1e6/s are held to 1e6/s). Written while
 * Redis is unreachable: kept, and sent once it is back if its until (or
 * its next window's, then sent alone) is still ahead (a clear is always
 * sent). */
void pacer__redis_learn(pacer__redis_t *r, const char *name, double rate,
                        int64_t until, double next_rate, int64_t next_until);

/* The local time until which bucket name holds a learned rate, if after
 * now, with *rate set to it (the first window's, then its next one's);
 * else 0 (*rate untouched). As far as this
 * process knows: its own writes at once, another process's from the next
 * reply of a call for that bucket. Asking counts as interest: for a bucket
 * asked about but not reserved from (a key with no configured rate, whose
 * takes start only once it has a learned rate), the store thread makes a
 * call for it at once, then as PACER__REDIS_LEARN_POLL_NS says while it
 * keeps being asked, and none once it is not asked for a second (it is
 * then freed, if it holds nothing else). Each reply replaces what is known
 * (a server restarted empty knows of none), unless a write of this
 * process's is still to be sent; the until of a reply is converted as a
 * pause's is, so this process's own until moves later by its write's reply
 * delay. Cheap (the mutex and a hash lookup; no network); the first ask of
 * a bucket allocates it (out of memory: 0). Until the first reply for the
 * bucket (since it was made: a bucket freed when idle is made again) it
 * answers PACER__REDIS_PENDING while connected, and notify is called once
 * that reply is in (or an error reply, or the connection is lost, after
 * which it answers what it knows): a process new to a key learns what the
 * fleet knows before it sends. So it does after a pause of the bucket: a
 * bucket that knows of no learned rate, and has had no reply since before
 * its pause ended, answers PENDING likewise until a call made at once
 * replies (a paused key is not asked about, and the fleet may have learned
 * meanwhile: without it, the key would start unpaced when the pause ends).
 * While Redis is unreachable, the last rate known stays until its until, and a
 * bucket with none answers 0. A bad name answers 0. peek 1: only what is known
 * now, with no side effect (no bucket made, no interest, never PENDING): for
 * stats. */
int64_t pacer__redis_learned(pacer__redis_t *r, const char *name, int64_t now,
                             double *rate, int peek);

typedef struct pacer__redis_stats {
  uint64_t grants;        /* takes that returned 0, fallback ones included */
  uint64_t reserve_calls; /* script calls sent */
  uint64_t errors;        /* failed connects, I/O errors, error replies (the
                            subscriber's too) */
  uint64_t lapsed;        /* reservations dropped untaken */
  int64_t wait_ns;        /* total time from a PENDING take to the next grant */
  uint64_t disconnects;   /* times the connection was lost (each logged) */
  uint64_t fallback_grants; /* of grants, those from the fallback buckets */
  int state;                /* PACER__REDIS_CONNECTED, _HOLDING or _FALLBACK */
  uint64_t buckets;         /* buckets held now (taken from, paused, asked
                               about or learned lately) */
} pacer__redis_stats_t;

/* A snapshot of the counters. */
void pacer__redis_stats(pacer__redis_t *r, pacer__redis_stats_t *st);

/* Stops the store thread (waits for an exchange in progress, at most the
 * 1 s I/O timeout) and the subscriber (its read is ended by shutting its
 * socket down; a reconnect in progress, at most 1 s), closes both
 * connections and frees r. Reservations held lapse on the server as if
 * unused. No notify follows its return. NULL is a no-op. Not from notify. */
void pacer__redis_close(pacer__redis_t *r);

#endif
