/* SPDX-License-Identifier: MIT */
/* shm_store.h - shared limits on one host: named GCRA buckets in a POSIX
 * shared-memory segment that every process naming it draws from.
 *
 * The segment "/pacer-<name>" holds a header (magic, layout version, slot
 * size, slot count, probe window, idle time) and a table of 64-byte slots,
 * one bucket each: a 64-bit id word (the name's 48-bit hash, a 14-bit
 * generation and two state bits), the bucket's theoretical arrival time
 * (TAT), the time its pause ends, a rate learned from its server with the
 * time it ends (one word), and the name's first 31 bytes (for diagnostics
 * only; nothing reads them back). Every change is one C11 atomic
 * step on one 64-bit word (a CAS on the TAT takes a token), so a process
 * killed at any instant leaves no lock held and no half-written state: any
 * step it did not finish is finished by the next process that meets it.
 *
 * Times are the callers' monotonic ns. Processes of one host share
 * CLOCK_MONOTONIC, so they may pass their own clock readings; tests pass
 * their own `now`. Token intervals are rounded UP to whole ns, so over any
 * span the buckets never grant more than burst + rate x span, whoever takes;
 * for a rate whose interval is a whole number of ns they grant exactly that
 * when asked often enough.
 *
 * Names: a bucket is found by the 48-bit hash of its name, in a window of
 * PACER__SHM_WINDOW slots from a home slot (open addressing; the first slot
 * of the window holding the hash is the bucket). Collision rule: two names
 * with the same 48-bit hash share one bucket, so both are held to one rate
 * (never more than either limit allows, only less; with 65,536 names about
 * one chance in 130,000). A bucket full and not paused for
 * PACER__SHM_IDLE_NS is idle: its slot may be given to a new name when that
 * name's window has no free slot. A new bucket is full, so giving an idle one
 * back loses nothing; a process that stalls for longer than that inside one
 * call is the only one that could see the difference.
 *
 * Threads: every function but open and close may be called from any thread
 * and any process at once on handles of the same segment; none blocks (lock-
 * free: a retry happens only when another caller made progress). */
#ifndef PACER_SHM_STORE_H
#define PACER_SHM_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Slots in a segment created with slots == 0: 4 MiB of buckets. */
#define PACER__SHM_DEFAULT_SLOTS 65536
/* Most slots a segment may have (1 GiB of buckets). */
#define PACER__SHM_MAX_SLOTS (1u << 24)
/* A name's bucket lies within this many slots of its home slot (fewer when
 * the table is smaller); when all of them hold live buckets, a new name gets
 * PACER_ENOMEM. */
#define PACER__SHM_WINDOW 64
/* How long a bucket stays full and unpaused before its slot may be reused. */
#define PACER__SHM_IDLE_NS (INT64_C(60) * 1000000000)

typedef struct pacer__shm pacer__shm_t;

/* Opens the segment for `name` ([A-Za-z0-9._-], 1..200 chars), creating it
 * if missing (shm_open("/pacer-<name>", O_RDWR|O_CREAT, 0600), then fchmod
 * 0600 whatever the umask), with `slots` bucket slots when it creates it (0:
 * PACER__SHM_DEFAULT_SLOTS; ignored when it exists). Opening holds an flock()
 * on the segment for the few microseconds it checks or writes the header, so
 * two processes creating it at once agree; the kernel drops it if the process
 * dies, and a segment whose creator died before finishing the header is
 * created again. Returns 0 and *out (free with pacer__shm_close()),
 * PACER_EINVAL (bad name, slots over PACER__SHM_MAX_SLOTS, out NULL),
 * PACER_ESYSTEM (cannot open, lock, size or map it; err gets a one-line
 * reason with strerror), or PACER_ESYSTEM with err "shared memory /pacer-<name>
 * has another layout or version (...); once no process uses it, remove
 * /dev/shm/pacer-<name>" when the header (magic, layout
 * version, slot size, slot count, window, idle time) does not match or the
 * segment is shorter than its header says; such a segment is left untouched
 * and never mapped past its end. err may be NULL. Not for use by two threads
 * on the same *out at once (it writes it). */
int pacer__shm_open(const char *name, size_t slots, pacer__shm_t **out,
                    char *err, size_t errlen);

/* One token of bucket `name` (a NUL-terminated string of at most 255 bytes;
 * "" is the global bucket) at now, for a bucket of `rate` tokens per second
 * (> 0; the interval is ceil(1e9 / rate) ns) and `burst` (>= 1) tokens.
 * Returns 0 (taken), > 0 (ns to wait before asking again; nothing taken),
 * PACER_ENOMEM (no free slot for a new name: its window is full of live
 * buckets) or PACER_EINVAL (name NULL or too long, rate or burst out of
 * range, rate so low that the interval passes 2^62 ns). Never blocks,
 * lock-free. */
int64_t pacer__shm_take(pacer__shm_t *s, const char *name, double rate,
                        int64_t burst, int64_t now);

/* Pauses bucket `name` until `until` for every process: only ever extends a
 * pause already set. A bad name, or no slot to hold a new name, leaves
 * nothing paused (the caller's own pause still holds it locally). */
void pacer__shm_pause(pacer__shm_t *s, const char *name, int64_t until);

/* The time until which bucket `name` is paused, if that is after now; 0 when
 * it is not paused (or the name is bad or has no bucket). */
int64_t pacer__shm_paused_until(pacer__shm_t *s, const char *name, int64_t now);

/* Writes, for every process, that bucket `name`'s server asks for at most
 * `rate` tokens/s (> 0) until `until` (a rate learned from the quota it
 * announces), and then, when next_rate is not 0, at most next_rate until
 * next_until (the quota's pace in its next window: the reader rolls into it
 * when the first ends). The latest write wins, a newer announcement being
 * the truer one; rate 0 clears it (next_rate ignored), and an until <= now
 * (the reader's) holds nothing but its next window. Each window in a word
 * of its own, the next one written first: a reader takes a next window
 * only when it ends after the first one's end it read, so at worst pairs a
 * first window with a newer write's next window.
 * Stored in one word, the rate rounded down (its interval up to a whole ns
 * and to 18 significant bits) and until up to a whole ms, so a reader never
 * pairs one writer's rate with another's end and never reads a rate above
 * the one written. A bad name or rate (negative, not finite, or slower
 * than one token per 2^62 ns), a next window with such a rate or one
 * that does not end after until, or no slot for a new name, writes nothing.
 * A slot holding a learned rate is not idle until it ends. Never blocks,
 * lock-free. */
void pacer__shm_learn(pacer__shm_t *s, const char *name, double rate,
                      int64_t until, double next_rate, int64_t next_until);

/* The time until which bucket `name` holds a learned rate, if after now,
 * with *rate set to it (the first window's, then its next one's); else 0 and
 * *rate untouched (also for a bad name or one with no bucket). Never blocks,
 * lock-free. */
int64_t pacer__shm_learned(pacer__shm_t *s, const char *name, int64_t now,
                           double *rate);

/* Unmaps the segment and frees s; the segment and its buckets stay for the
 * other processes. NULL is a no-op. */
void pacer__shm_close(pacer__shm_t *s);

/* Removes the name "/pacer-<name>" (tests, administration): processes that
 * have it open keep using their mapping, the next open creates a new one.
 * Returns 0 (also when there was no such segment), PACER_EINVAL (bad name) or
 * PACER_ESYSTEM. */
int pacer__shm_unlink(const char *name);

#endif
