/* SPDX-License-Identifier: MIT */
/* pacer.h - the whole public API of libpacer.
 *
 * libpacer sends many outbound HTTP requests under control: jobs go into a
 * high- and a low-priority queue, a dispatcher starts them under a shared
 * token-bucket rate limit, per-key limits, concurrency caps and a circuit
 * breaker per key, retries what can be retried, and every accepted job ends
 * in exactly one call of its own callback.
 *
 * Everything declared here is public; nothing else is. Names start with
 * pacer_ / PACER_. Handles (pacer_t, pacer_stats_t) are opaque or allocated by
 * the library. The structs a caller allocates (pacer_config_t,
 * pacer_request_t, pacer_key_limits_t, pacer_resume_info_t,
 * pacer_spool_status_t) start with struct_size, set by their _init() macro
 * from the caller's own header; they may gain fields at their end in later
 * versions, and the library reads or writes only the part the caller's
 * struct_size covers, so a program built against an older header keeps
 * working with a newer library. A struct_size of 0 (never initialised) or
 * larger than the library's own struct is PACER_EINVAL.
 *
 * Threads: unless a declaration says otherwise, any thread may call any
 * function on a pacer_t at any time, concurrently. The exceptions are
 * pacer_free(), which must be the last call on a handle, and the calls that
 * wait (pacer_drain(), pacer_free(), a blocking pacer_submit()), which a
 * callback must not make (see pacer_done_cb).
 *
 * libcurl: the first pacer_new() calls curl_global_init(CURL_GLOBAL_DEFAULT),
 * once per process, in a thread-safe way (if it fails, that pacer_new()
 * returns PACER_ESYSTEM and the next one tries again). libpacer never calls
 * curl_global_cleanup(); a program that calls it must do so after every
 * pacer_t has been freed.
 */
#ifndef PACER_PACER_H
#define PACER_PACER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PACER_STATIC)
#define PACER_EXTERN
#elif defined(__GNUC__)
#define PACER_EXTERN __attribute__((visibility("default")))
#else
#define PACER_EXTERN
#endif

/* The version of this header. PACER_VERSION_HEX is 0xMMmmpp, one byte each
 * for major, minor and patch (0x000100 for 0.1.0), so versions compare as
 * numbers: #if PACER_VERSION_HEX >= 0x000200. The library a program runs
 * with may be newer than the header it was built with: pacer_version() and
 * pacer_version_hex() say which it is. */
#define PACER_VERSION_MAJOR 0
#define PACER_VERSION_MINOR 1
#define PACER_VERSION_PATCH 0
#define PACER_VERSION_HEX                                                      \
  ((PACER_VERSION_MAJOR << 16) | (PACER_VERSION_MINOR << 8) |                  \
   PACER_VERSION_PATCH)

/* The running library's version, "0.1.0". The string is static. Any
 * thread. */
PACER_EXTERN const char *pacer_version(void);

/* The running library's version as a number, in the form of
 * PACER_VERSION_HEX (0x000100 for 0.1.0). Any thread. */
PACER_EXTERN unsigned pacer_version_hex(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* 0 is success; every error is negative. Codes are only ever appended, never
 * renumbered. The same list yields pacer_strerror() and pacer_err_name(). */
#define PACER_ERRNO_MAP(XX)                                                    \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOMEM, -2, "out of memory")                                              \
  XX(EFULL, -3, "queue is full")                                               \
  XX(ESHUTDOWN, -4, "dispatcher is shut down")                                 \
  XX(ECANCELED, -5, "job cancelled")                                           \
  XX(ETIMEDOUT, -6, "timed out")                                               \
  XX(EDEADLINE, -7, "job deadline exceeded")                                   \
  XX(EEXPIRED, -8, "job waited too long in the queue")                         \
  XX(ETRANSPORT, -9, "transport error")                                        \
  XX(EBREAKER, -10, "circuit breaker open")                                    \
  XX(ERETRIES, -11, "retries exhausted")                                       \
  XX(ETOOLARGE, -12, "response too large")                                     \
  XX(ENOTFOUND, -13, "no such job")                                            \
  XX(EURL, -14, "invalid URL")                                                 \
  XX(ESCHEME, -15, "URL scheme not allowed")                                   \
  XX(EHEADER, -16, "invalid header")                                           \
  XX(EMETHOD, -17, "invalid method")                                           \
  XX(ERATE, -18, "invalid rate or burst")                                      \
  XX(ECONCURRENCY, -19, "invalid concurrency")                                 \
  XX(EWORKERS, -20, "invalid number of workers")                               \
  XX(EINCALLBACK, -21, "not allowed inside a pacer callback")                  \
  XX(ESYSTEM, -22, "system resource unavailable")                              \
  XX(EKEY, -23, "invalid limiter key")                                         \
  XX(ETLS, -24, "TLS error")                                                   \
  XX(ESPOOL, -25, "spool error")                                               \
  XX(ESPOOLBUSY, -26, "spool is in use by another dispatcher")                 \
  XX(ESPOOLVERSION, -27, "spool was written by a newer version")               \
  XX(EHANDLER, -28, "no handler registered by this name")                      \
  XX(EDENIED, -29, "destination address not allowed")                          \
  XX(ESHARED, -30, "shared limit store unavailable")                           \
  XX(ESHED, -31, "job shed to make room in a full queue")                      \
  XX(EBUDGET, -32, "retry refused by the retry budget")

typedef enum pacer_errno {
#define PACER__ERRNO_ENUM(name, val, msg) PACER_##name = (val),
  PACER_ERRNO_MAP(PACER__ERRNO_ENUM)
#undef PACER__ERRNO_ENUM
} pacer_errno_t;

/* A static English message for code: "invalid argument". 0 gives "success";
 * an unknown code gives "unknown error". Never NULL. */
PACER_EXTERN const char *pacer_strerror(int code);

/* The code's name: "PACER_EINVAL"; 0 gives "PACER_OK"; an unknown code gives
 * "PACER_EUNKNOWN". Static, never NULL. */
PACER_EXTERN const char *pacer_err_name(int code);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

typedef struct pacer pacer_t;

typedef enum pacer_priority {
  PACER_PRIORITY_LOW = 0, /* the default */
  PACER_PRIORITY_HIGH = 1
} pacer_priority_t;

/* Log levels for pacer_log_cb, most severe first. */
typedef enum pacer_log_level {
  PACER_LOG_ERROR = 0,
  PACER_LOG_WARN = 1,
  PACER_LOG_INFO = 2,
  PACER_LOG_DEBUG = 3
} pacer_log_level_t;

/* Receives one log line, without a trailing newline. msg is borrowed until
 * the call returns. Secret header values (Authorization, Proxy-Authorization,
 * Cookie and those named in secret_headers) are already redacted, and so are
 * the userinfo and query values of URLs ("http://[redacted]@host/p?a=
 * [redacted]"; the fragment is left out). Called on
 * any pacer thread, possibly concurrently: it must be thread-safe. */
typedef void (*pacer_log_cb)(pacer_log_level_t level, const char *msg,
                             void *user);

/* Events: what the dispatcher decided about keys, jobs and the shared
 * store, for an operator (pacer_config_t.event_cb). Types are only ever
 * appended. */
typedef enum pacer_event_type {
  /* A key's breaker changed state: from, to; when it opened, the ratios
   * that opened it (ratio: failures, slow_ratio: slow calls) of its calls
   * outcomes (the window's, from CLOSED; the probes', from HALF_OPEN);
   * half-open is noticed when the key is next looked at after its
   * cooldown (a job to start, a stats snapshot). */
  PACER_EVENT_BREAKER = 1,
  /* A key was paused until duration_ms from now (reason: RETRY_AFTER,
   * ANNOUNCED, SHARED). Every process of a shared limit hears it too. */
  PACER_EVENT_PAUSE = 2,
  /* A key's pause ended: sent when the key next has a job to start after
   * its pause (a pause no job waited for ends silently). */
  PACER_EVENT_RESUME = 3,
  /* A key's rate was retuned: rate (tokens per second) and why (reason:
   * ANNOUNCED or AIMD; NONE: back on its configured limits, rate then
   * being that limit, 0 for none). */
  PACER_EVENT_RATE = 4,
  /* A job's retry was scheduled: job, the attempt that failed (attempt),
   * its status or error, and delay_ms until the next attempt (reason:
   * RETRY_AFTER when the server's Retry-After set it, else BACKOFF). */
  PACER_EVENT_RETRY = 5,
  /* A job was shed to make room in a full queue (queue_policy): job;
   * its callback follows, with PACER_ESHED. */
  PACER_EVENT_SHED = 6,
  /* The shared store's connection changed: store_state (as
   * pacer_stats_t.shared_state: 1 connected, 2 holding, 3 fallback) and
   * message (why it was lost, or how long it was away). */
  PACER_EVENT_STORE = 7,
  /* A job's retry was refused by the retry budget: job, attempt, status
   * or error; its callback runs with PACER_EBUDGET, on the worker's thread,
   * so it may come before or after this event. */
  PACER_EVENT_RETRY_REFUSED = 8
} pacer_event_type_t;

/* Why (pacer_event_t.reason). Values are only ever appended. */
typedef enum pacer_event_reason {
  PACER_REASON_NONE = 0,
  PACER_REASON_RETRY_AFTER = 1, /* a 429 or 503 with Retry-After */
  PACER_REASON_ANNOUNCED = 2,   /* a quota the server announced */
  PACER_REASON_AIMD = 3,        /* a 429 or 503 with no guidance */
  PACER_REASON_SHARED = 4,      /* another process on the shared limit */
  PACER_REASON_BACKOFF = 5      /* the retry's own backoff */
} pacer_event_reason_t;

/* One event, borrowed until the callback returns. Fields that do not
 * apply to the type are 0 (NULL for key). The library allocates it, so
 * fields may be appended in later versions. */
typedef struct pacer_event {
  pacer_event_type_t type;
  int64_t time_ms; /* when it happened, on the dispatcher's monotonic
                      clock (ms) */
  const char *key; /* the key it is about; NULL: none (STORE) */
  uint64_t job;    /* RETRY, SHED, RETRY_REFUSED: the job's id */
  pacer_event_reason_t reason;
  int from, to;        /* BREAKER: pacer_breaker_state_t */
  double ratio;        /* BREAKER to OPEN: failures / calls */
  double slow_ratio;   /* BREAKER to OPEN: slow calls / calls
                          (breaker_slow_ms) */
  unsigned calls;      /* BREAKER to OPEN: outcomes judged */
  int64_t duration_ms; /* PAUSE: how long from time_ms */
  double rate;         /* RATE: tokens per second; 0: no limit */
  unsigned attempt;    /* RETRY, RETRY_REFUSED: attempts made so far */
  int64_t delay_ms;    /* RETRY: until the next attempt */
  int status;          /* RETRY, RETRY_REFUSED: the last HTTP status, 0 if
                          none */
  int error;           /* RETRY, RETRY_REFUSED: the last attempt's error
                          (a PACER_E code), 0 for a response */
  int store_state;     /* STORE */
  const char *message; /* one line saying what happened; never NULL */
} pacer_event_t;

/* Receives events in the order they happened, one at a time, on the
 * dispatcher's thread, with no pacer lock held (so it need not be
 * thread-safe with itself). It may call what a job's callback may
 * (pacer_done_cb); it must not call pacer_drain() or pacer_free(). Keep it
 * short: while it runs, no job starts. Up to 10,000 events wait for it;
 * beyond that new ones are dropped and counted (pacer_stats_t.
 * events_dropped). Events still waiting when pacer_free() stops the
 * dispatcher are delivered before it returns. */
typedef void (*pacer_event_cb)(const pacer_event_t *ev, void *user);

/* The name of an event type ("breaker", "pause", "resume", "rate",
 * "retry", "shed", "store", "retry_refused") or of a reason ("none",
 * "retry_after", "announced", "aimd", "shared", "backoff"); "unknown" for
 * a value this library does not know. Static. Any thread. */
PACER_EXTERN const char *pacer_event_type_name(pacer_event_type_t type);
PACER_EXTERN const char *pacer_event_reason_name(pacer_event_reason_t reason);

/* Renders ev as one line of JSON, fields that apply to its type only:
 * {"event":"breaker","time_ms":...,"key":"...","from":"closed","to":"open",
 * "ratio":0.6,"slow_ratio":0,"calls":10,"message":"..."}. Returns 0 and *json
 * (free with free()), or PACER_EINVAL / PACER_ENOMEM. Any thread. */
PACER_EXTERN int pacer_event_json(const pacer_event_t *ev, char **json);

/* Dispatcher settings. Fill with pacer_config_init(), then change fields.
 * Every string and array is copied by pacer_new(). A field left at its
 * default keeps the documented behaviour when later versions add fields. */
typedef struct pacer_config {
  size_t struct_size; /* set by pacer_config_init(); do not change */

  /* Queue. */
  size_t queue_max; /* jobs queued or waiting to retry before submit
                       blocks (or pacer_try_submit says PACER_EFULL).
                       Default 100000; at least 1. */
  /* Priorities. While both queues hold startable work, of every
   * weight_high + weight_low starts, weight_high go to high jobs and
   * weight_low to low jobs, however long either backlog has waited: a high
   * job behind an old low backlog still starts within a few token intervals.
   * Low jobs start oldest first across keys. Default 4:1; weight_low 0 is
   * strict priority (then see max_low_wait_ms). At least one is nonzero. */
  unsigned weight_high;
  unsigned weight_low;
  /* Aging for strict priority (weight_low 0): once the oldest startable low
   * job was submitted this long ago, low jobs start as if weight_low were 1,
   * so low gets 1 of every weight_high + 1 starts and high keeps the rest
   * until no low job that old is left. With weight_low > 0 it has no effect:
   * the weights already bound the wait of both. 0: no aging. Default 10000. */
  int64_t max_low_wait_ms;
  int64_t max_queue_wait_ms; /* a job still queued after this long ends with
                                PACER_EEXPIRED. 0: no limit (default). */

  /* Global rate: one token per attempt, retries included. */
  double rate;    /* tokens per second; 0: no limit (default). Finite, >= 0. */
  unsigned burst; /* bucket size in tokens; the bucket starts full. 0
                     (default): max(1, rate/100), which absorbs 10 ms of
                     scheduling delay. Else >= 1. */

  /* Per-key limits (the key is the URL's host unless a request names one).
   * Overridden for one key by pacer_key_limits_set(). */
  double key_rate;          /* per key; 0: no limit (default) */
  unsigned key_burst;       /* 0: 1 token */
  unsigned key_concurrency; /* in flight per key; 0: no cap (default) */
  /* Keys with no job whose state is pristine (breaker closed with no
   * failure, bucket full, no pause) that are kept; beyond this the least
   * recently used one is forgotten, which loses nothing. A key with state
   * to remember is kept until that state has passed: its Retry-After pause
   * ends, its bucket is full again, its breaker has no failure, open or
   * half-open state younger than one breaker_cooldown_ms, and its rate is
   * no longer adapted (adapt_announced, adapt_aimd; see docs/DESIGN.md),
   * or one minute after its last attempt ended if that comes first (an
   * adapted rate is a guess the next answer makes again); then it counts
   * as pristine. So memory is bounded by
   * max_idle_keys plus the keys that ended an attempt within that horizon.
   * Default 10000. */
  unsigned max_idle_keys;

  /* Concurrency. */
  unsigned concurrency; /* requests in flight at once, >= 1. Default 50. */
  unsigned workers;     /* transport threads, >= 1. Default 2. */

  /* Attempts and retries. */
  unsigned max_attempts;   /* per job, >= 1. Default 3. */
  int64_t backoff_base_ms; /* first retry waits up to this; doubles each
                              time (full jitter). Default 200. */
  int64_t backoff_max_ms;  /* cap of the exponential backoff. Default 30000 */
  int64_t retry_after_max_ms; /* Retry-After longer than this is cut to it.
                                 Default 3600000 (1 hour). A 429 or 503 with
                                 Retry-After delays the job's retry and
                                 pauses its whole key, when it comes from the
                                 job's own origin (scheme, host, port of its
                                 URL); from another origin, at the end of a
                                 followed redirect, it delays that job's
                                 retry only and pauses no key. */
  int64_t timeout_ms;         /* per attempt, whole transfer. Default 30000;
                                 at least 1. */
  int64_t connect_timeout_ms; /* per attempt. Default 10000. */

  /* Circuit breaker, one per key. */
  unsigned breaker_window;     /* outcomes remembered. Default 20 (1..1024). */
  unsigned breaker_min_calls;  /* fewer outcomes than this never open it.
                                  Default 10. */
  double breaker_threshold;    /* failure ratio that opens it, (0, 1].
                                  Default 0.5. */
  int64_t breaker_cooldown_ms; /* OPEN this long, then HALF_OPEN. Default
                                  30000. */
  unsigned breaker_probes;     /* HALF_OPEN lets exactly this many jobs through,
                                  at most 4 in flight at once; all succeed:
                                  CLOSED; one fails: OPEN. Default 1. */
  int64_t breaker_probe_timeout_ms; /* a probe with no outcome this long after
                                       its own start counts as failed.
                                       Default: timeout_ms plus
                                       connect_timeout_ms. */
  int breaker_fail_fast; /* 0 (default): an OPEN breaker holds its key's
                            jobs in the queue; 1: they end at once with
                            PACER_EBREAKER. */
  int breaker_enabled;   /* 1 (default); 0 turns breakers off. */

  /* Transport safety. */
  size_t max_response_bytes; /* body cap, counted as bytes arrive (decoded
                                bytes when decompressing). Default 8 MiB. */
  size_t max_header_bytes;   /* response header cap. Default 64 KiB. One
                                line longer than libcurl's own limit
                                (100 KiB) ends the attempt with
                                PACER_ETOOLARGE too. */
  unsigned follow_redirects; /* redirects followed per attempt, at most 20;
                                0: none (default). PACER_REQ_FOLLOW on a
                                request allows 5 when this is 0. */
  int decompress;            /* 1: ask for gzip/deflate and decode. Default 0 */
  int tls_verify;            /* 1 (default). 0 disables peer and host checks
                                and logs a warning. */
  const char *ca_file;       /* PEM bundle; NULL: the system's. Copied. */
  const char *ca_path;       /* directory of CA certificates. Copied. */
  int64_t low_speed_bytes;   /* abort an attempt slower than this many */
  int64_t low_speed_time_ms; /* bytes/s for this long. Default 1 B/s, 30 s;
                                0 bytes: off. An attempt this slow (a
                                server dripping its headers or body) ends
                                with PACER_ETIMEDOUT, as at timeout_ms. */
  const char *const *secret_headers; /* NULL-terminated names (case-insensitive)
                                        to redact in logs and drop on a
                                        cross-host redirect, besides
                                        Authorization, Proxy-Authorization and
                                        Cookie. Copied. A name that is not a
                                        token, or one the transport owns (see
                                        pacer_request_t.headers), makes
                                        pacer_new() fail with PACER_EHEADER. */
  const char *user_agent;            /* default "pacer/VERSION". Copied. */

  /* Logging. */
  pacer_log_cb log_cb; /* NULL: no log */
  void *log_user;
  pacer_log_level_t log_level; /* lines above this level are dropped.
                                  Default PACER_LOG_WARN. */

  /* Durable spool (see "Spool" below). */
  const char *spool_path;     /* SQLite file, created 0600 if absent; NULL: no
                                 spool (default). Copied. */
  int spool_sync;             /* PACER_SPOOL_NORMAL (default) or
                                 PACER_SPOOL_FULL */
  int spool_idempotency_keys; /* 1 (default): each spooled job carries an
                                 Idempotency-Key header derived from the
                                 spool and the job, the same on every attempt
                                 and after a resume, unless the request sets
                                 one. 0: none is added. */

  /* SSRF guard for crawlers. 1: every connection is checked on the socket
   * address it is about to be made to, after name resolution and on every
   * redirect hop, and refused before any socket exists (nothing is sent)
   * when the address is loopback (127/8, ::1), unspecified (0/8, ::),
   * private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
   * the cloud metadata address 169.254.169.254 among them, fe80::/10),
   * shared (100.64/10), multicast, reserved or broadcast (224/4, 240/4,
   * ff00::/8), or one of these IPv4 addresses written as IPv6 (::ffff:a.b.c.d,
   * ::a.b.c.d, 64:ff9b::a.b.c.d). A job whose every address is refused ends
   * with PACER_EDENIED, is not retried and counts for no breaker. With a
   * proxy (libcurl reads http_proxy and the like from the environment) the
   * address checked is the proxy's. 0: no check (default). */
  int deny_private;

  /* A limit shared with other processes; NULL: none (default). Copied.
   * "shm:NAME" shares it between the processes of one host through the
   * POSIX shared-memory segment /pacer-NAME (created 0600; NAME is 1 to 200
   * of A-Z a-z 0-9 . _ -; "shm:NAME?margin_ms=M" sets the margin below);
   * "redis://HOST[:PORT][/DB][?name=QUOTA&prefix=P&ahead_ms=N&fallback=F&
   * margin_ms=M]" between processes on any hosts through one
   * Redis server (a library built without hiredis refuses it): QUOTA
   * (default "default") and P (default "pacer:") are letters, digits and
   * . _ - : (P also /), N (1..1000) is how far ahead, in ms, a process
   * reserves. A take asks the store for the burst less ceil(rate x M ms)
   * tokens, at least 1 (M 0..1000, default 5; over Redis the reservations'
   * grace, 1 to 5 ms at 20/s and up, up to 50 ms below, is added): requests
   * granted together reach the server up to M ms apart and still fit its burst
   * + rate window; 0 takes the burst as given. Every process naming the same
   * limit draws the global bucket (rate, burst) and every key bucket with a
   * rate (key_rate, pacer_key_limits_set()) from the store instead of its own,
   * and holds a key that any of them was told to pause by a Retry-After. Each
   * process must give the same rates and bursts. Queues, concurrency caps,
   * breakers and spools stay local to each process. When Redis cannot be
   * reached, jobs are held (none starts without a grant) and the store
   * reconnects with backoff; with fallback=F (a decimal fraction, 0 < F <= 1)
   * each bucket is instead drawn from a local one at F x its rate, burst F x
   * its burst rounded down but at least 1, started empty, until Redis is back
   * (N processes at F = 1/N stay within the quota). Each loss is logged
   * once at PACER_LOG_WARN with the reason, each return at PACER_LOG_INFO
   * with how long it lasted (pacer_stats_t.shared_* count them).
   * pacer_new() fails with PACER_ESHARED, and logs why, when the store
   * cannot be opened (a bad URL or fallback value included). */
  const char *shared_limit;

  /* Limits that learn, per key (docs/DESIGN.md, "Following the limits a
   * server announces"). Each only ever makes pacer gentler than the limits
   * configured, never faster. */
  int adapt_announced;   /* 1 (default): a response from the job's own origin
                            that announces its quota (RateLimit,
                            RateLimit-Policy, RateLimit-*, X-RateLimit-*)
                            retunes its key to spread the remaining quota
                            over the time to the reset (as narrowed by the
                            window's earlier announcements; never above the
                            key's configured rate, never below
                            adapt_min_rate), pauses the key until the reset
                            when none is left (plus up to 1 s of jitter, at
                            most retry_after_max_ms); past the reset the
                            key goes on at the quota's pace (limit per
                            window) until the next answer, and is back on
                            its configured limits if no answer announces
                            anything for a window. A key with no rate gets
                            one while it lasts.
                            Retry-After keeps precedence. 0: off. */
  int adapt_aimd;        /* 1 (default): a 429 or 503 with neither
                            Retry-After nor a quota that explains it cuts
                            its key's rate to 3/4 (for a key with no rate,
                            of the rate it was starting attempts at), and
                            each second of successful responses adds back a
                            tenth of the rate that was cut, until the
                            configured rate is reached, or,
                            for a key with no rate, until the rate has been
                            twice what the key uses for 5 s. Other keys are
                            not touched; the refused job keeps its own
                            backoff. 0: off. */
  double adapt_min_rate; /* the floor, in tokens per second, that neither
                            ever goes below (a configured key rate below it
                            wins). Default 0.1 (one attempt every 10 s);
                            finite, > 0, <= 1e9. */

  /* Concurrency by latency, per key (docs/DESIGN.md, "Concurrency by
   * latency"); off by default. With adaptive_concurrency_max > 0, each key
   * gets a concurrency cap that starts at adaptive_concurrency_min, rises
   * while its latency stays near the lowest it has measured and falls when
   * latency climbs (requests queueing at the server), always within
   * [adaptive_concurrency_min, adaptive_concurrency_max]. It never lets a
   * key exceed a configured cap (key_concurrency, or the key's own from
   * pacer_key_limits_set()), nor the dispatcher exceed concurrency. Answers
   * from the job's own origin with a status below 500 other than 429 are
   * its samples; an attempt that times out (timeout_ms, not the job's
   * deadline) halves the cap; nothing else moves it. A key forgotten while
   * idle (max_idle_keys) starts again at the min. Both 0 (default): off;
   * else 1 <= min <= max <= 1000000, or pacer_new() fails with
   * PACER_ECONCURRENCY. */
  unsigned adaptive_concurrency_min;
  unsigned adaptive_concurrency_max;
  /* The seed of the jitter: the full jitter of retry backoffs and the
   * jitter added to a pause at an exhausted announced quota. 0 (default):
   * a seed drawn from the clock and the handle's address, another in each
   * run. Any other value: the same draws every run, so with the same
   * settings, jobs and answers (tests: a fake clock and transport) the
   * delays are the same. Processes sharing a limit should not share a
   * seed: the jitter is what keeps them from coming back at one instant. */
  uint64_t random_seed;

  /* Events (pacer_event_cb): NULL (default): none are made. */
  pacer_event_cb event_cb;
  void *event_user;

  /* Retry budget and slow calls (docs/DESIGN.md, "Retry budget" and "Slow
   * calls").
   *
   * Retry budget: retries are limited to a share of recent traffic, for all
   * keys together and for each key, so that a failing server does not see
   * its load multiplied by max_attempts. A request is a job's first attempt
   * (started in this process); a retry is one scheduled, after a backoff or
   * a Retry-After alike. Over the last retry_budget_window_ms (counted in
   * tenths of it), one more retry is allowed while
   *   retries + 1 <= max(retry_budget_ratio x requests,
   *                      retry_budget_min_per_s x the window in seconds),
   * checked for all keys and for the job's key: a retry refused by either
   * ends the job with PACER_EBUDGET (its last status, headers and transport
   * code kept; the message says which budget refused), counted in
   * pacer_stats_t.retries_refused and failed_retries. A refused retry does
   * not count. So a server failing every request sees at most
   * (1 + ratio) x the requests, plus the floor, per window. A key that
   * follows a quota its server announced to this process (adapt_announced)
   * is held to that quota, retries included: its retries are neither
   * refused nor counted. */
  double retry_budget_ratio;      /* retries per request, finite, 0..1000.
                                     Default 0.2. 0 turns the budget off:
                                     every retry max_attempts allows is
                                     made, as before this setting. */
  double retry_budget_min_per_s;  /* the floor: retries per second of the
                                     window allowed whatever the ratio (an
                                     allowance of the window: 30 with the
                                     defaults, which may come at once).
                                     Finite, 0..1e9. Default 3. */
  int64_t retry_budget_window_ms; /* 10..86400000. Default 10000. */
  /* Slow calls open the breaker too, as failures do (breaker_enabled).
   * An attempt whose answer came more than breaker_slow_ms after its start
   * is slow, whatever its outcome; once the breaker's window holds at least
   * breaker_min_calls outcomes and slow/known >= breaker_slow_threshold (or
   * failures/known >= breaker_threshold), it opens. A slow success is still
   * a success for its job: only the breaker counts it as slow. In
   * HALF_OPEN a slow probe counts as failed: it opens the breaker again.
   * Cancelled attempts and those cut by their job's deadline are never
   * slow (they judge nothing). pacer_stats_t.slow_calls counts them. */
  int64_t breaker_slow_ms;       /* 0: off (default); else >= 1 */
  double breaker_slow_threshold; /* slow ratio that opens it, (0, 1].
                                    Default 0.5. */
  /* What pacer_submit() does when the jobs queued or waiting to retry
   * reach queue_max (pacer_queue_policy_t): PACER_QUEUE_BLOCK (default)
   * waits for room, PACER_QUEUE_FAIL returns PACER_EFULL,
   * PACER_QUEUE_DROP_OLDEST_LOW ends the oldest queued low-priority job
   * with PACER_ESHED to make room (see pacer_queue_policy_t). Live: see
   * pacer_reconfigure(). */
  int queue_policy;
  /* The HTTP statuses that are retried (docs/DESIGN.md, "Retries"):
   * retry_status_count entries, each 100..599 (else pacer_new() fails with
   * PACER_EINVAL), copied by pacer_new(). 0 (default, retry_statuses may
   * then be NULL): 408, 429, 500, 502, 503 and 504. A transport error or a
   * timeout is retried whatever this says; a status not listed ends its job
   * at once with error 0. A method that is not idempotent is retried only
   * with PACER_REQ_RETRY_UNSAFE or an Idempotency-Key header, whatever the
   * status (pacer_result_t.not_retried). Not live: pacer_config_get() gives
   * NULL and 0, and pacer_reconfigure() takes NULL and 0, or the same
   * statuses in the same order. */
  const int *retry_statuses;
  size_t retry_status_count;
  /* Connections (docs/DESIGN.md, "Connections"). http_version
   * (pacer_http_version_t): PACER_HTTP_DEFAULT speaks HTTP/2 over https
   * where the server offers it (ALPN), HTTP/1.1 otherwise: an attempt to a
   * host whose connection is being set up waits for it and multiplexes over
   * it (up to the server's stream limit) rather than opening its own, so a
   * worker keeps one connection per HTTP/2 host. PACER_HTTP_1_1 never
   * speaks HTTP/2; PACER_HTTP_2_PRIOR_KNOWLEDGE speaks HTTP/2 at once also
   * over plain http (h2c; a server that does not fails the attempt; with
   * libcurl before 8.0.0, which cannot reuse h2c connections, each http://
   * request gets a connection of its own, and pacer_new() warns).
   * Not live. */
  int http_version;
  /* The connections open at once to one host (scheme, host and port),
   * idle ones included, across all the dispatcher's workers; 0 (default):
   * no cap but the concurrency. It is divided among the workers (each holds
   * its share: max_host_connections / workers, the remainder to the first),
   * so with fewer than workers, only max_host_connections workers start
   * attempts. An attempt that finds its host's connections all busy waits
   * for one (within its timeout). After pacer_set_workers() a worker's
   * share changes; connections it opened beyond its new share close as
   * they idle. Not live. */
  unsigned max_host_connections;
  /* An idle connection is reused only within this time of its last use,
   * then closed; 0 (default): libcurl's, 118 s. Whole seconds (rounded up),
   * <= 86,400,000 (a day). Not live. */
  int64_t idle_connection_timeout_ms;
  /* (A field added here is also added to PACER__CONFIG_FIELDS in
   * src/config.c, which says whether pacer_reconfigure() may change it.) */
} pacer_config_t;

/* pacer_config_t.queue_policy: what a submit does at the queue bound
 * (queue_max jobs queued or waiting to retry). pacer_try_submit() returns
 * PACER_EFULL there whatever the policy, and never sheds.
 *
 * PACER_QUEUE_DROP_OLDEST_LOW sheds: each job a submit adds at the bound
 * ends one other job, the oldest queued low-priority job, with
 * PACER_ESHED. That job's callback runs exactly once, on a pacer thread
 * (never inside the submit that shed it, which may return first), and it
 * counts in pacer_stats_t.shed; a spooled job leaves the spool after its
 * callback as any ended job. "Oldest": the low job that would start first
 * if every key were open: of the jobs at the head of each key's low queue,
 * the one submitted first (a retry put back in its queue goes first in its
 * key, as it starts first). Jobs waiting to retry are not queued: they are
 * never shed (they count towards the bound all the same). High jobs are
 * never shed. A submit at the bound with no low job queued (the backlog is
 * all high jobs or jobs waiting to retry), high or low, behaves as
 * PACER_QUEUE_BLOCK: it waits for room. Nothing else changes: below the
 * bound nothing is shed, and a bound lowered under the backlog (see
 * pacer_reconfigure()) sheds one job per job added, not the excess. With a
 * spool, a submit writes its job while the queue may move: if the low job
 * it was to shed started meanwhile, it is accepted past the bound without
 * shedding (by at most one job per submitter at once), as a blocking
 * submit that found room before its write is. */
typedef enum pacer_queue_policy {
  PACER_QUEUE_BLOCK = 0,          /* the default: submit waits for room */
  PACER_QUEUE_FAIL = 1,           /* submit returns PACER_EFULL */
  PACER_QUEUE_DROP_OLDEST_LOW = 2 /* the oldest queued low job is shed */
} pacer_queue_policy_t;

/* The HTTP versions attempts may speak (pacer_config_t.http_version). */
typedef enum pacer_http_version {
  PACER_HTTP_DEFAULT = 0, /* HTTP/2 over https where offered, multiplexed;
                             HTTP/1.1 otherwise */
  PACER_HTTP_1_1 = 1,     /* HTTP/1.1 only */
  PACER_HTTP_2_PRIOR_KNOWLEDGE = 2 /* HTTP/2 also over plain http (h2c),
                                      without asking first */
} pacer_http_version_t;

/* How durable a spool commit is (SQLite's synchronous setting, WAL mode).
 * NORMAL: a commit survives the process crashing or being killed at any
 * moment; a power loss or kernel crash can lose the last commits (the spool
 * stays consistent). FULL: a commit is fsync'ed before it returns, so it also
 * survives a power loss, at the cost of one fsync per group commit. */
#define PACER_SPOOL_NORMAL 0
#define PACER_SPOOL_FULL 1

PACER_EXTERN void pacer_config_init_sized(pacer_config_t *cfg, size_t size);
/* Fills every field of *cfg with its default. cfg is the caller's memory. */
#define pacer_config_init(cfg) pacer_config_init_sized((cfg), sizeof *(cfg))

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */
/* ------------------------------------------------------------------------ */

/* Creates a dispatcher and starts its threads. cfg may be NULL for all
 * defaults; it is copied and may be freed when this returns. On success
 * returns 0 and *out owns the handle (free with pacer_free()); on error
 * returns a negative code naming the first bad field (PACER_ERATE,
 * PACER_ECONCURRENCY, PACER_EWORKERS, PACER_EHEADER, PACER_EINVAL, ...) and
 * *out is NULL. A cfg whose struct_size is 0 (not initialised) or larger than
 * this library's pacer_config_t (built against a newer header) is
 * PACER_EINVAL. */
PACER_EXTERN int pacer_new(const pacer_config_t *cfg, pacer_t **out);

/* Ends every job that has not ended with PACER_ECANCELED (in-flight transfers
 * are aborted), waits for their callbacks to return, stops the threads and
 * frees everything. pacer_free(NULL) does nothing. Call it from a thread that
 * is not a pacer callback, once, as the last call on p. */
PACER_EXTERN void pacer_free(pacer_t *p);

/* ------------------------------------------------------------------------ */
/* Requests and results                                                      */
/* ------------------------------------------------------------------------ */

typedef struct pacer_header {
  const char *name;
  const char *value;
} pacer_header_t;

/* Request flags: bits or-ed together into pacer_request_t.flags. Values
 * are fixed; new flags take new bits. A bit this library does not know makes
 * submit fail with PACER_EINVAL. */
typedef enum pacer_req_flag {
  /* Retry a method that is not idempotent (POST, PATCH, any but GET, HEAD,
   * OPTIONS, TRACE, PUT and DELETE) too. Without it such a request is
   * retried only when it has an Idempotency-Key header; a retryable outcome
   * it was not retried for says so in pacer_result_t.not_retried. */
  PACER_REQ_RETRY_UNSAFE = 0x1,
  /* Skip TLS peer and host verification for this job (logs a warning). */
  PACER_REQ_INSECURE = 0x2,
  /* Follow redirects (at most 5) even if the dispatcher's follow_redirects
   * is 0. */
  PACER_REQ_FOLLOW = 0x4
} pacer_req_flag_t;

/* One job. Fill with pacer_request_init(). Everything it points to is
 * copied by pacer_submit(): the caller's buffers are free once it returns. */
typedef struct pacer_request {
  size_t struct_size; /* set by pacer_request_init() */
  const char *method; /* NULL: "GET"; a token, no spaces */
  const char *url;    /* http:// or https://; required. An international host
                         name (UTF-8) is sent and keyed in its punycode form,
                         which libcurl makes in the process's locale: with
                         LC_CTYPE not UTF-8 (a program that never called
                         setlocale()), give the xn-- form or the submit fails
                         with PACER_EURL. */
  const pacer_header_t *headers; /* header_count entries. Names are RFC 9110
                                    tokens; values have no control character
                                    but HTAB. Content-Length,
                                    Transfer-Encoding, Connection,
                                    Keep-Alive, Upgrade, TE, Trailer,
                                    Proxy-Connection and Host (any case)
                                    belong to the transport and are refused
                                    (PACER_EHEADER). An empty value is sent
                                    as an empty field. */
  size_t header_count;
  const void *body; /* body_len bytes; NULL with 0 for none */
  size_t body_len;
  pacer_priority_t priority; /* default PACER_PRIORITY_LOW */
  const char *key;           /* limiter and breaker key; NULL: URL's host */
  int64_t timeout_ms;        /* per attempt; 0: the dispatcher's */
  int64_t deadline_ms;       /* the job ends with PACER_EDEADLINE this long
                                after submit; 0: none */
  unsigned max_attempts;     /* 0: the dispatcher's */
  unsigned flags;            /* PACER_REQ_* (pacer_req_flag_t), or-ed */
  const char *handler;       /* a name given to pacer_register_handler():
                                its callback ends the job (submit's cb may
                                then be NULL). Required with a spool, where
                                it is how a resumed job finds its callback. */
  const void *tag;           /* tag_len bytes of the program's own, kept with
                                the job (in the spool too) and handed back
                                in its result: an id, a row number. */
  size_t tag_len;            /* at most 65536 */
} pacer_request_t;

PACER_EXTERN void pacer_request_init_sized(pacer_request_t *req, size_t size);
#define pacer_request_init(req) pacer_request_init_sized((req), sizeof *(req))

/* The check pacer_submit() makes of each request header, for a program that
 * validates its input up front (a flag, a config file). Returns 0 when
 * name: value may be sent, else PACER_EHEADER: a NULL, empty or non-token
 * name (RFC 9110: no spaces, no colon), a name the transport owns (see
 * headers above), or a value with a control character other than HTAB.
 * Any thread. */
PACER_EXTERN int pacer_header_check(const char *name, const char *value);

/* Every check pacer_submit() makes of req itself (its fields, URL, key,
 * method and headers), without a dispatcher: for a program that checks a
 * whole input before sending any of it (pacer check, send --strict). The
 * outcome is the one pacer_submit() would give req, but for what depends on
 * a dispatcher (a full queue, a shutdown, a spool's limits, the network).
 * Returns 0 when req would be accepted, and then, if key is not NULL, copies
 * the limiter key its job would count under (req->key, else the URL's host
 * in lower case) into key[key_cap]; 256 bytes always hold it. Else the code
 * pacer_submit() would return (PACER_EURL, PACER_ESCHEME, PACER_EKEY,
 * PACER_EMETHOD, PACER_EHEADER, PACER_EINVAL). Nothing is copied or kept.
 * Any thread. */
PACER_EXTERN int pacer_request_check(const pacer_request_t *req, char *key,
                                     size_t key_cap);

/* What a job ended with. Everything it points to is borrowed until the
 * callback returns; copy what you keep. */
typedef struct pacer_result {
  uint64_t id;                   /* as returned by submit */
  int error;                     /* 0: an HTTP response ended the job (look at
                                    status); else a PACER_E code: ETRANSPORT,
                                    ETIMEDOUT, ETOOLARGE, ERETRIES (the last
                                    response was retryable and no attempt was
                                    left), EDEADLINE, EEXPIRED, ECANCELED,
                                    EBREAKER, ETLS, ESCHEME, EDENIED (see
                                    deny_private), EBUDGET (a retry the
                                    retry budget refused: status, headers
                                    and transport_code are the last
                                    attempt's), ESHED (see
                                    pacer_queue_policy_t) */
  int status;                    /* last HTTP status, 0 if none was received */
  int transport_code;            /* the transport's own code (a CURLcode) of the
                                    last attempt, 0 if none */
  const char *message;           /* detail, never NULL ("" on success) */
  const pacer_header_t *headers; /* last response's headers, in order */
  size_t header_count;
  const void *body; /* last response's body; NUL-terminated for convenience
                       (the NUL is not counted in body_len). Empty when the
                       job ended while waiting to retry: a job scheduled to
                       retry keeps its last status, headers and message but
                       frees the body at once */
  size_t body_len;
  unsigned attempts; /* attempts started */
  pacer_priority_t priority;
  const char *key;     /* the job's limiter key */
  const char *url;     /* the job's URL */
  int64_t queue_us;    /* submit to the first attempt's start (or to the
                          end, if none started) */
  int64_t transfer_us; /* the last attempt's duration; 0 if none */
  int64_t total_us;    /* submit to the end */
  const void *tag;     /* the request's tag (NULL, 0 if none) */
  size_t tag_len;
  const char *handler; /* the request's handler name, or NULL */
  int kept;            /* 1: a spooled job that the dispatcher stopped before it
                          finished (error PACER_ECANCELED from pacer_free() or a
                          cancelling shutdown, not from pacer_cancel()): it stays in the
                          spool and runs again after pacer_resume() */
  /* Why the job's last outcome, which was retryable and had attempts left,
   * was not retried (pacer_not_retried_t); PACER_NOT_RETRIED_NONE (0) when
   * it was retried or had no cause to be. */
  int not_retried;
} pacer_result_t;

/* pacer_result_t.not_retried. Values are only ever appended. */
typedef enum pacer_not_retried {
  PACER_NOT_RETRIED_NONE = 0,
  /* The outcome was retryable (pacer_config_t.retry_statuses, a transport
   * error, a timeout) and attempts were left, but the method is not
   * idempotent (POST, PATCH: any but GET, HEAD, OPTIONS, TRACE, PUT and
   * DELETE) and the job had neither PACER_REQ_RETRY_UNSAFE nor an
   * Idempotency-Key header (a spool adds one, see spool_idempotency_keys):
   * a retry could have done its work twice. */
  PACER_NOT_RETRIED_UNSAFE = 1
} pacer_not_retried_t;

/* Called exactly once for each job that submit accepted: with the response or
 * the error that ended it, whatever ends it (completion, retries, cancel,
 * shutdown, deadline, pacer_free). It runs on one of the dispatcher's threads,
 * never inside the pacer_submit() that accepted the job, and never twice at
 * once for the same job. Callbacks of different jobs may run concurrently on
 * different threads.
 *
 * A callback may call pacer_submit() (which then never blocks: at the queue
 * bound it accepts the job anyway, so a pipeline stage cannot deadlock,
 * unless queue_policy refuses it or sheds another job for it),
 * pacer_try_submit(), pacer_cancel(), pacer_shutdown(), the setters and
 * pacer_stats_get(). It must not call pacer_drain() (PACER_EINCALLBACK) or
 * pacer_free() (which aborts the process with a message). Keep it short:
 * while it runs, its thread drives no other transfer. */
typedef void (*pacer_done_cb)(const pacer_result_t *res, void *user);

/* Queues a job. At the queue bound (queue_max jobs queued or waiting to
 * retry) it does what cfg.queue_policy says: PACER_QUEUE_BLOCK (default)
 * blocks until there is room or the dispatcher shuts down;
 * PACER_QUEUE_FAIL returns PACER_EFULL; PACER_QUEUE_DROP_OLDEST_LOW sheds
 * the oldest queued low job (it ends with PACER_ESHED) and accepts this
 * one, or blocks as BLOCK when no low job is queued. Called from a
 * callback it never blocks: where it would, it accepts the job past the
 * bound (FAIL still returns PACER_EFULL, DROP_OLDEST_LOW still sheds).
 * On success returns 0, stores the job id in *id (id may be NULL) and cb will
 * be called exactly once with user. On error returns a negative code
 * (PACER_EINVAL, PACER_EURL, PACER_ESCHEME, PACER_EHEADER, PACER_EMETHOD,
 * PACER_EKEY, PACER_EHANDLER, PACER_ESHUTDOWN, PACER_ENOMEM; with a spool
 * also PACER_ESPOOL, and PACER_ETOOLARGE for a job whose spool row would pass
 * SQLite's length limit, SQLITE_LIMIT_LENGTH, 1,000,000,000 bytes by default:
 * its URL, headers, body and tag together), nothing is queued and cb is
 * never called. */
PACER_EXTERN int pacer_submit(pacer_t *p, const pacer_request_t *req,
                              pacer_done_cb cb, void *user, uint64_t *id);

/* As pacer_submit(), but returns PACER_EFULL at the queue bound whatever
 * cfg.queue_policy says: it never blocks and never sheds (called from a
 * callback, it accepts the job past the bound, as pacer_submit() does
 * there under PACER_QUEUE_BLOCK). */
PACER_EXTERN int pacer_try_submit(pacer_t *p, const pacer_request_t *req,
                                  pacer_done_cb cb, void *user, uint64_t *id);

/* Submits n jobs at once: all are accepted or none (with a spool, in one
 * transaction); on any error, out of memory part way included, no job of
 * the batch was accepted, no id is set and no callback will run. users may
 * be NULL (every user pointer NULL), else n entries; ids may be NULL, else
 * receives n ids. At the queue bound, by cfg.queue_policy: BLOCK waits
 * while the queue is at queue_max, then accepts the whole batch even if it
 * goes past the bound; FAIL returns PACER_EFULL (nothing accepted) when the
 * queue is at the bound, else accepts the whole batch even past it;
 * DROP_OLDEST_LOW waits as BLOCK while the queue is at the bound with no
 * low job queued, then, for each job of the batch past the bound, sheds the
 * oldest low job queued before the batch while there is one (never a job
 * of the batch itself), and accepts the rest past the bound. Called from a
 * callback it never waits (see pacer_submit()).
 * On error returns the code of pacer_submit(), and *bad (may be NULL) is the
 * index of the request at fault, or n when the fault is not one request's
 * (shutdown, spool, memory). */
PACER_EXTERN int pacer_submit_batch(pacer_t *p, const pacer_request_t *reqs,
                                    size_t n, pacer_done_cb cb,
                                    void *const *users, uint64_t *ids,
                                    size_t *bad);

/* As pacer_submit_batch(), and with a spool also stores mark (a string of
 * the program's, at most 4095 bytes; NULL: none) in the same transaction as
 * the batch, replacing the previous mark: a program that imports its input
 * in batches records how far it got, and reads it back after a crash from
 * pacer_spool_status(). n may be 0 to store the mark alone. Without a spool
 * the mark is ignored. */
PACER_EXTERN int pacer_submit_batch_marked(pacer_t *p,
                                           const pacer_request_t *reqs,
                                           size_t n, pacer_done_cb cb,
                                           void *const *users, uint64_t *ids,
                                           size_t *bad, const char *mark);

/* Keeps job id in the spool although its callback ran: called by that
 * callback, on its thread, before it returns. The job still ends in this
 * dispatcher (its callback is not run again here), but it is not deleted
 * from the spool: pacer_resume() runs it again later, as a job ended with
 * kept = 1. For a program that could not store the result it was handed (a
 * full disk, a closed output) and must not lose the job.
 * Returns 0, or PACER_EINVAL when p has no spool or this thread is not
 * running the callback of job id. */
PACER_EXTERN int pacer_keep(pacer_t *p, uint64_t id);

/* Registers a named callback for jobs whose request names it (handler).
 * name is copied; registering a name again replaces its callback for jobs
 * submitted or resumed from then on. Handlers live until pacer_free().
 * Returns 0, PACER_EINVAL (NULL or empty name, NULL cb) or PACER_ENOMEM. */
PACER_EXTERN int pacer_register_handler(pacer_t *p, const char *name,
                                        pacer_done_cb cb, void *user);

/* Ends job id with PACER_ECANCELED: a queued or retry-waiting job at once, an
 * attempt in flight is aborted. Its callback runs on a pacer thread, maybe
 * after this returns. Returns 0, or PACER_ENOTFOUND if the job has already
 * ended (or its end is already decided: a completion won the race). */
PACER_EXTERN int pacer_cancel(pacer_t *p, uint64_t id);

typedef enum pacer_shutdown_mode {
  PACER_SHUTDOWN_FINISH = 0, /* run every accepted job to its end */
  PACER_SHUTDOWN_CANCEL = 1, /* end queued and retry-waiting jobs with
                                PACER_ECANCELED; attempts in flight finish
                                but are not retried: one whose outcome would
                                have been retried ends with PACER_ECANCELED
                                too (its status and headers kept in the
                                result; with a spool, kept = 1), one with no
                                attempt left ends as it would have; with a
                                spool, the queued and retry-waiting jobs end
                                with kept = 1 too and stay for
                                pacer_resume() */
  PACER_SHUTDOWN_ABORT = 2   /* as CANCEL, and the attempts in flight are
                                aborted (as pacer_free() does): they end with
                                PACER_ECANCELED at once, with a spool
                                kept = 1 and left for pacer_resume() (the
                                server may have seen the request: it is sent
                                again on resume) */
} pacer_shutdown_mode_t;

/* Stops accepting jobs (submit returns PACER_ESHUTDOWN from now on, and
 * submitters blocked on a full queue return it) and ends the queue as mode
 * says. Does not wait: follow with pacer_drain(). A later call may move
 * the mode on (FINISH, then CANCEL, then ABORT), never back: a CANCEL
 * after an ABORT is still an ABORT. The first call that cancels the queue
 * counts it (pacer_stats_t.shutdown_queued: the jobs that will not start,
 * exact in a snapshot taken after this returns). Any thread, a callback
 * included.
 * Returns 0, or PACER_EINVAL (p NULL, or an unknown mode). */
PACER_EXTERN int pacer_shutdown(pacer_t *p, pacer_shutdown_mode_t mode);

/* Waits until every accepted job has ended and its callback has returned, or
 * timeout_ms passes (negative: no limit). Returns 0, PACER_ETIMEDOUT, or
 * PACER_EINCALLBACK when called from a pacer callback. Jobs submitted while
 * it waits are waited for too. */
PACER_EXTERN int pacer_drain(pacer_t *p, int64_t timeout_ms);

/* ------------------------------------------------------------------------ */
/* Changing a running dispatcher                                            */
/* ------------------------------------------------------------------------ */

/* New global rate and burst (as in pacer_config_t), from the next token on.
 * Returns 0 or PACER_ERATE. */
PACER_EXTERN int pacer_set_rate(pacer_t *p, double rate, unsigned burst);

/* New global cap on requests in flight (>= 1). Attempts above a lowered cap
 * finish; no new one starts until in flight is below it. Returns 0 or
 * PACER_ECONCURRENCY. */
PACER_EXTERN int pacer_set_concurrency(pacer_t *p, unsigned concurrency);

/* New number of transport threads (>= 1). A removed thread takes no new job
 * and exits once its transfers end; no job is lost or repeated. Returns 0,
 * PACER_EWORKERS or PACER_ESYSTEM (no thread could be started; the old
 * number stays). */
PACER_EXTERN int pacer_set_workers(pacer_t *p, unsigned workers);

/* Copies the dispatcher's settings as they are now into *cfg, filled
 * first by pacer_config_init() (struct_size says how much the caller's
 * struct holds; only that part is written). Every scalar field is copied,
 * automatic values resolved (burst, breaker_probe_timeout_ms); every
 * string and array field (ca_file, ca_path, secret_headers, user_agent,
 * spool_path, shared_limit, retry_statuses with its count 0) is set to NULL, so
 * nothing in *cfg is borrowed and nothing needs freeing. Returns 0, or
 * PACER_EINVAL (NULL p or cfg, a struct_size of 0 or larger than this
 * library's). Any thread. */
PACER_EXTERN int pacer_config_get(pacer_t *p, pacer_config_t *cfg);

/* Applies every live setting of *cfg at once, from the next decision on:
 * the usual way is pacer_config_get(), change fields, pacer_reconfigure().
 * cfg is read, not kept. The live fields: queue_max (lowered under the
 * backlog, it drops no accepted job: submits block or are refused, as
 * queue_policy says, until the backlog is below it), queue_policy,
 * weight_high, weight_low, max_low_wait_ms, rate, burst, concurrency (as
 * pacer_set_rate() and pacer_set_concurrency()), key_rate, key_burst,
 * key_concurrency, max_attempts, backoff_base_ms, backoff_max_ms,
 * retry_after_max_ms and the breaker settings (breaker_window,
 * breaker_min_calls, breaker_threshold, breaker_cooldown_ms,
 * breaker_probes, breaker_probe_timeout_ms, breaker_fail_fast,
 * breaker_enabled, breaker_slow_ms, breaker_slow_threshold) and the retry
 * budget (retry_budget_ratio, retry_budget_min_per_s,
 * retry_budget_window_ms). For what is already held:
 * - keys without limits of their own (pacer_key_limits_set()) take new
 *   key defaults at once, keeping the tokens they have as far as the new
 *   burst allows; keys with their own keep them;
 * - a changed breaker_window keeps each closed breaker's newest outcomes
 *   that fit it; min_calls and threshold judge from each breaker's next
 *   outcome; cooldown applies to breakers that open from then on (an open
 *   one keeps its end); probes to breakers that half-open from then on;
 *   breaker_probe_timeout_ms to the probes out too; breakers turned on
 *   again start CLOSED and empty; fail_fast applies at the next gate;
 * - the retry budgets are emptied when their window changes or they are
 *   turned on (what they counted was of another rule), else keep counting
 *   under the new ratio and floor;
 * - retry settings apply at each job's next retry decision, max_attempts
 *   to every job whose request gives none (jobs waiting to retry keep the
 *   time they were given);
 * - queue_max and queue_policy apply to the next submit, and to submits
 *   blocked at the bound (they look again).
 * Every other field must be as it is now, or NULL for the string and array
 * fields (as pacer_config_get() gives them): workers (use
 * pacer_set_workers()), max_queue_wait_ms, max_idle_keys, timeout_ms,
 * connect_timeout_ms, max_response_bytes, max_header_bytes,
 * follow_redirects, decompress, tls_verify, ca_file, ca_path,
 * low_speed_bytes, low_speed_time_ms, secret_headers, user_agent, log_cb,
 * log_user, log_level, spool_path, spool_sync, spool_idempotency_keys,
 * deny_private, shared_limit, adapt_announced, adapt_aimd, adapt_min_rate,
 * adaptive_concurrency_min, adaptive_concurrency_max, random_seed,
 * event_cb, event_user, retry_statuses and retry_status_count (NULL and 0,
 * or the same list);
 * changing one is PACER_EINVAL, logged at PACER_LOG_WARN with its name.
 * Fields past the caller's struct_size stay as they are. The new settings
 * are checked together as pacer_new() checks them, with its codes
 * (PACER_EINVAL, PACER_ERATE, PACER_ECONCURRENCY, ...). Returns 0, or an
 * error and nothing changed. Any thread, a callback included. */
PACER_EXTERN int pacer_reconfigure(pacer_t *p, const pacer_config_t *cfg);

/* Limits for one key, overriding key_rate/key_burst/key_concurrency. Fill
 * with pacer_key_limits_init() (every limit off), then set fields. Zero
 * fields mean "no limit" (rate, concurrency) or 1 token (burst). A key with
 * its own limits is never forgotten as idle. */
typedef struct pacer_key_limits {
  size_t struct_size;   /* set by pacer_key_limits_init(); do not change */
  double rate;          /* tokens per second; 0: no limit. Finite, >= 0. */
  unsigned burst;       /* bucket size in tokens; 0: 1 */
  unsigned concurrency; /* in flight for this key; 0: no cap */
} pacer_key_limits_t;

PACER_EXTERN void pacer_key_limits_init_sized(pacer_key_limits_t *lim,
                                              size_t size);
/* Fills *lim with "no limit" and its struct_size. lim is the caller's
 * memory; NULL does nothing. */
#define pacer_key_limits_init(lim)                                             \
  pacer_key_limits_init_sized((lim), sizeof *(lim))

/* key and *lim are copied. Returns 0, PACER_EINVAL (NULL p or lim, or a
 * struct_size of 0 or larger than this library's pacer_key_limits_t),
 * PACER_EKEY (NULL or empty key), PACER_ERATE or PACER_ENOMEM. */
PACER_EXTERN int pacer_key_limits_set(pacer_t *p, const char *key,
                                      const pacer_key_limits_t *lim);

/* ------------------------------------------------------------------------ */
/* Spool                                                                     */
/* ------------------------------------------------------------------------ */

/* With cfg.spool_path set, pacer_new() opens (or creates) a SQLite spool and
 * locks it (PACER_ESPOOLBUSY if another dispatcher has it, PACER_ESPOOL if it
 * cannot be opened or is not a sound pacer spool, PACER_ESPOOLVERSION if a
 * newer library wrote it; the detail goes to the log at PACER_LOG_ERROR).
 *
 * - A job is in the spool before submit returns (PACER_ESPOOL if it cannot
 *   be written: then it was not accepted). Concurrent submitters share
 *   commits; pacer_submit_batch() writes a batch in one.
 * - An attempt is recorded before its request is sent; a retry's time and
 *   attempt count are recorded when it is scheduled.
 * - A job leaves the spool after its callback has returned (at least once:
 *   a crash between the two runs it again on resume).
 * - Jobs the dispatcher stopped before they finished (pacer_free(), a
 *   cancelling shutdown) get their callback with kept = 1 and stay, and so
 *   do jobs whose callback called pacer_keep().
 *
 * pacer_resume() loads the jobs an earlier run left in the spool (those it
 * held when pacer_new() opened it) and schedules them again with their
 * attempts and retry time: call it after registering the handlers. Jobs this
 * dispatcher accepted are never loaded (they are already live here), so it
 * may be called before or after submitting. A job whose handler is not
 * registered is logged, counted in no_handler and left in the spool. Returns
 * 0, PACER_EINVAL (no spool, or called a second time: the rows are loaded
 * once), PACER_ESHUTDOWN (pacer_shutdown() came first, or came while it
 * loaded: the jobs loaded before it are ended by it as submitted ones are,
 * the rest stay in the spool; info counts the loaded ones), PACER_ESPOOL or
 * PACER_ENOMEM. info may be NULL; else fill it with pacer_resume_info_init()
 * first: a struct_size of 0 or larger than this library's struct is
 * PACER_EINVAL (and nothing is loaded). The library writes only the fields
 * the caller's struct_size covers, and zeroes them before loading. */
typedef struct pacer_resume_info {
  size_t struct_size;  /* set by pacer_resume_info_init(); do not change */
  uint64_t loaded;     /* jobs scheduled again */
  uint64_t in_flight;  /* of those, jobs with an attempt sent and no outcome
                          recorded: the server may have seen them already */
  uint64_t no_handler; /* jobs left in the spool: handler not registered */
} pacer_resume_info_t;

PACER_EXTERN void pacer_resume_info_init_sized(pacer_resume_info_t *info,
                                               size_t size);
/* Zeroes *info and sets its struct_size. NULL does nothing. */
#define pacer_resume_info_init(info)                                           \
  pacer_resume_info_init_sized((info), sizeof *(info))

PACER_EXTERN int pacer_resume(pacer_t *p, pacer_resume_info_t *info);

/* What a spool file holds, read without locking it (a running dispatcher
 * may be using it). Fill with pacer_spool_status_init() before passing it to
 * pacer_spool_status(), which writes only the fields its struct_size
 * covers. */
typedef struct pacer_spool_status {
  size_t struct_size;  /* set by pacer_spool_status_init(); do not change */
  uint64_t queued;     /* never started, or started and put back */
  uint64_t waiting;    /* waiting to retry */
  uint64_t in_flight;  /* an attempt sent, no outcome recorded: in flight at
                          the last stop (or now) */
  uint64_t done;       /* finished with a response below 400 */
  uint64_t failed;     /* finished otherwise */
  int version;         /* schema version */
  char mark[4096];     /* the last mark stored (pacer_submit_batch_marked),
                          or "" */
  char integrity[128]; /* SQLite's integrity check: "ok" or its first line */
  char message[256];   /* on error: what went wrong */
} pacer_spool_status_t;

PACER_EXTERN void pacer_spool_status_init_sized(pacer_spool_status_t *st,
                                                size_t size);
/* Zeroes *st and sets its struct_size. NULL does nothing. */
#define pacer_spool_status_init(st)                                            \
  pacer_spool_status_init_sized((st), sizeof *(st))

/* Reads the spool at path into *st (filled by pacer_spool_status_init()).
 * Returns 0, PACER_EINVAL (NULL path or st, or a struct_size of 0 or larger
 * than this library's struct: then *st is left as it was), PACER_ESPOOL or
 * PACER_ESPOOLVERSION (message says why). Any thread. */
PACER_EXTERN int pacer_spool_status(const char *path, pacer_spool_status_t *st);

/* Stores value (a NUL-terminated string of the program's, at most 1 MiB) in
 * the spool at path under name (1 to 64 bytes), replacing what was stored
 * under that name, in one commit: what a program needs to resume its run
 * (its settings, where its results go) kept with the jobs. Creates the spool
 * if there is none, as pacer_new() would. It opens and locks the spool, so
 * call it when no dispatcher has it open: before pacer_new(), or after
 * pacer_free(). Both strings are copied. Returns 0, PACER_EINVAL (a NULL or
 * bad argument), PACER_ESPOOL, PACER_ESPOOLBUSY, PACER_ESPOOLVERSION or
 * PACER_ENOMEM; msg (may be NULL) receives what went wrong, at most msglen
 * bytes with the NUL. Any thread. */
PACER_EXTERN int pacer_spool_set_value(const char *path, const char *name,
                                       const char *value, char *msg,
                                       size_t msglen);

/* Reads what pacer_spool_set_value() stored under name in the spool at path,
 * without locking it (a running dispatcher may be using it). Returns 0 and
 * *value, a new string (free with free()); else *value is NULL and the
 * return is PACER_ENOTFOUND (nothing stored under name: a spool written by
 * an older version has no values), PACER_EINVAL, PACER_ESPOOL,
 * PACER_ESPOOLVERSION or PACER_ENOMEM, and msg (may be NULL) receives what
 * went wrong. Any thread. */
PACER_EXTERN int pacer_spool_get_value(const char *path, const char *name,
                                       char **value, char *msg, size_t msglen);

/* ------------------------------------------------------------------------ */
/* Statistics                                                                */
/* ------------------------------------------------------------------------ */

typedef enum pacer_breaker_state {
  PACER_BREAKER_CLOSED = 0,
  PACER_BREAKER_OPEN = 1,
  PACER_BREAKER_HALF_OPEN = 2
} pacer_breaker_state_t;

/* Why a key's rate differs from its configured one (pacer_key_adapt_t). */
typedef enum pacer_adapt_reason {
  PACER_ADAPT_NONE = 0,      /* on its configured limits */
  PACER_ADAPT_ANNOUNCED = 1, /* spreading the quota its server announced */
  PACER_ADAPT_AIMD = 2       /* cut after a 429 or 503, rising back */
} pacer_adapt_reason_t;

/* Latency summary in microseconds (values within 1/32 of the truth). */
typedef struct pacer_latency {
  uint64_t count;
  int64_t p50_us, p90_us, p99_us, max_us;
} pacer_latency_t;

typedef struct pacer_key_stats {
  const char *key;
  pacer_breaker_state_t breaker;
  unsigned queued; /* in this key's queues now; unlike queued_high and
                      queued_low below, not counting jobs waiting to retry
                      (they are in no key's queue until their time) */
  unsigned in_flight;
  int64_t paused_ms; /* left of a Retry-After pause, or of a pause until an
                        announced quota's reset; 0 if none */
} pacer_key_stats_t;
/* pacer_key_stats_t is an array element, so it keeps its size whatever the
 * version: a program built against an older header steps through keys[]
 * by that size. Per-key figures added later come as arrays of their own in
 * pacer_stats_t, key_count entries in the order of keys[]. */

/* How a key's rate follows its server (pacer_stats_t.key_adapt). */
typedef struct pacer_key_adapt {
  pacer_adapt_reason_t reason; /* why the key's rate is not its configured
                                  one (pacer_config_t.adapt_*) */
  double rate;                 /* the rate, tokens per second, the key is
                                  held to while reason is not
                                  PACER_ADAPT_NONE; 0 otherwise */
} pacer_key_adapt_t;

/* A key's concurrency cap adapted to latency
 * (pacer_config_t.adaptive_concurrency_*; pacer_stats_t.key_concurrency). */
typedef struct pacer_key_concurrency {
  unsigned cap;       /* attempts the key may have in flight now (its
                         adapted cap, or a configured one below it); 0:
                         adaptive concurrency is off */
  int64_t min_rtt_us; /* the latency it takes for unloaded; 0: none yet */
  int64_t rtt_us;     /* mean latency of its last window of answers; 0:
                         none yet */
} pacer_key_concurrency_t;

/* Why a key is paused (pacer_stats_t.key_pause), while its paused_ms is
 * above 0. */
typedef struct pacer_key_pause {
  pacer_event_reason_t reason; /* PACER_REASON_RETRY_AFTER or
                                  PACER_REASON_ANNOUNCED (a quota's reset);
                                  PACER_REASON_NONE when not paused */
  int status;                  /* RETRY_AFTER: the status that carried it
                                  (429 or 503); else 0 */
} pacer_key_pause_t;

/* Connections and protocols, counted as attempts end (pacer_stats_t.conn
 * and key_conn). A connection is counted for the attempt that opened it (an
 * attempt that multiplexed over one or reused an idle one opened none; one
 * that followed redirects may have opened several). TLS handshakes are told
 * apart where libcurl's TLS backend is OpenSSL (Debian's libcurl); with
 * another, tls_full and tls_resumed stay 0. */
typedef struct pacer_conn_stats {
  uint64_t opened;      /* connections opened */
  uint64_t tls_full;    /* of them, TLS handshakes in full */
  uint64_t tls_resumed; /* of them, TLS handshakes that resumed a session
                           (shared by the dispatcher's workers) */
  uint64_t http1;       /* attempts answered over HTTP/1.x */
  uint64_t http2;       /* attempts answered over HTTP/2 */
  uint64_t http3;       /* attempts answered over HTTP/3 */
} pacer_conn_stats_t;

/* Bucket counts of a latency, in the form Prometheus histograms take
 * (pacer_stats_prometheus()). The upper bounds are fixed for good, in
 * microseconds: PACER_HISTOGRAM_BOUNDS_US initialises an int64_t array of
 * PACER_HISTOGRAM_BUCKETS entries (1 ms to 1 hour). A value is counted in
 * every bucket whose bound it does not exceed, at microsecond resolution,
 * exactly (not within the 1/32 of pacer_latency_t). */
#define PACER_HISTOGRAM_BUCKETS 18
#define PACER_HISTOGRAM_BOUNDS_US                                              \
  {                                                                            \
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,    \
        2500000, 5000000, 10000000, 30000000, 60000000, 300000000, 900000000,  \
        3600000000                                                             \
  }

typedef struct pacer_histogram {
  uint64_t count;  /* values observed */
  uint64_t sum_us; /* their sum, microseconds (a negative duration from a
                      clock step counts as 0) */
  uint64_t le[PACER_HISTOGRAM_BUCKETS]; /* cumulative: le[i] values were at
                                           most bound i; le[] never
                                           decreases and its last entry is
                                           at most count (the rest took
                                           longer than an hour) */
} pacer_histogram_t;

/* A snapshot, allocated by pacer_stats_get(); free with pacer_stats_free().
 * Counters count since pacer_new(). Fields are only ever appended. */
typedef struct pacer_stats {
  uint64_t submitted;   /* jobs accepted */
  uint64_t started;     /* attempts started */
  uint64_t succeeded;   /* jobs ended by a response with status < 400 */
  uint64_t failed_http; /* jobs ended by a response with status >= 400 */
  uint64_t failed_transport, failed_timeout, failed_too_large,
      failed_retries, /* PACER_ERETRIES and PACER_EBUDGET */
      failed_deadline, failed_breaker, failed_other;
  uint64_t retried; /* retries scheduled */
  uint64_t cancelled;
  uint64_t expired;         /* ended by max_queue_wait_ms */
  uint64_t held_by_breaker; /* times a key's jobs were held by its breaker */
  uint64_t queued_high, queued_low; /* now, waiting retries included */
  uint64_t in_flight;               /* now */
  pacer_latency_t queue_wait[2];    /* by pacer_priority_t */
  pacer_latency_t transfer[2];
  size_t key_count;
  pacer_key_stats_t *keys; /* key_count entries */
  /* Shared limit (pacer_config_t.shared_limit); all 0 without one. */
  uint64_t shared_grants; /* tokens the store granted */
  int64_t shared_wait_us; /* time jobs waited on the store: the waits it
                             answered, summed over its buckets, and (Redis)
                             from an empty reservation to the next grant */
  uint64_t shared_errors; /* takes the store could not serve (held 10 ms)
                             and, for Redis, failed connects and replies */
  int shared_state;       /* 0: none; 1: connected; 2: holding (the store
                             is unreachable: nothing starts without a
                             grant, it reconnects); 3: fallback (the store
                             is unreachable: local buckets at the URL's
                             fallback fraction, it reconnects) */
  /* Times the store's connection was lost (Redis; each is logged), and of
   * shared_grants those drawn from the local fallback buckets (Redis with
   * fallback=F). */
  uint64_t shared_disconnects;
  uint64_t shared_fallback_grants;
  /* key_count entries, in the order of keys[]; NULL when key_count is 0. */
  pacer_key_adapt_t *key_adapt;
  /* key_count entries, in the order of keys[]; NULL when key_count is 0
   * (all caps 0 when adaptive concurrency is off). */
  pacer_key_concurrency_t *key_concurrency;
  /* Events dropped because 10,000 were already waiting for event_cb. */
  uint64_t events_dropped;
  /* Retries the retry budget refused (pacer_config_t.retry_budget_*): each
   * ended its job with PACER_EBUDGET (also counted in failed_retries). */
  uint64_t retries_refused;
  /* Attempts answered slower than breaker_slow_ms (0 while it is 0 or the
   * breakers are off: the breakers count them). */
  uint64_t slow_calls;
  /* Load shedding (pacer_config_t.queue_policy): jobs ended with
   * PACER_ESHED to make room for newer ones. */
  uint64_t shed;
  /* Prometheus histograms (pacer_histogram_t), by pacer_priority_t, of the
   * values queue_wait and transfer summarise: a job's wait from submit to
   * its first attempt's start, and each attempt's duration. */
  pacer_histogram_t queue_wait_hist[2];
  pacer_histogram_t transfer_hist[2];
  unsigned concurrency; /* the global cap on requests in flight now
                           (pacer_config_t.concurrency, or the last
                           pacer_set_concurrency()) */
  /* Progress at a glance (the command's progress line): of queued_high and
   * queued_low, the jobs waiting for their next attempt's time (a backoff
   * or a Retry-After); and, key_count entries in the order of keys[] (NULL
   * when key_count is 0), why each paused key is paused. */
  uint64_t retry_waiting;
  pacer_key_pause_t *key_pause;
  /* Connections (pacer_conn_stats_t): in total, and key_count entries in
   * the order of keys[] (NULL when key_count is 0). */
  pacer_conn_stats_t conn;
  pacer_conn_stats_t *key_conn;
  /* The jobs queued (waiting retries included) when pacer_shutdown() first
   * cancelled the queue (PACER_SHUTDOWN_CANCEL or _ABORT; 0 before): each
   * ends PACER_ECANCELED without another attempt. Set by that call, so a
   * snapshot taken after it is exact at once, while cancelled counts them
   * only as their callbacks return. */
  uint64_t shutdown_queued;
} pacer_stats_t;

/* Takes a snapshot. Returns 0 and *out (free with pacer_stats_free()), or
 * PACER_ENOMEM / PACER_EINVAL. */
PACER_EXTERN int pacer_stats_get(pacer_t *p, pacer_stats_t **out);
PACER_EXTERN void pacer_stats_free(pacer_stats_t *s); /* NULL: no-op */

/* Renders a snapshot as one line of JSON. Returns 0 and *json (free with
 * free()), or PACER_EINVAL / PACER_ENOMEM. Any thread. */
PACER_EXTERN int pacer_stats_json(const pacer_stats_t *s, char **json);

/* The value of pacer_stats_prometheus()'s key label under which every key
 * without series of its own is summed. */
#define PACER_PROMETHEUS_OTHER_KEY "~other"

/* Renders a snapshot in the Prometheus text exposition format (version
 * 0.0.4; docs/DESIGN.md, "Metrics", lists the metrics, their labels and
 * units; durations are in seconds). Per-key series go to at most max_keys
 * keys, the busiest (queued + in_flight, ties by name in byte order); the
 * other keys are summed under key="~other" (PACER_PROMETHEUS_OTHER_KEY),
 * which is always present, so a crawler of a million hosts makes
 * max_keys + 1 series per per-key metric. A key that is not valid UTF-8,
 * or is "~other" itself, is always summed there. The output depends on
 * nothing but s and max_keys (no locale, no clock). Returns 0 and *text
 * (free with free()), or PACER_EINVAL (NULL argument, keys missing) /
 * PACER_ENOMEM, with *text NULL. Any thread. */
PACER_EXTERN int pacer_stats_prometheus(const pacer_stats_t *s,
                                        unsigned max_keys, char **text);

#ifdef __cplusplus
}
#endif
#endif /* PACER_PACER_H */
