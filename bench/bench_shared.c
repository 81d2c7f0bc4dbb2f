/* SPDX-License-Identifier: MIT */
/* bench_shared.c - figure 10: what one grant costs from each place a limit
 * can live: the process's own bucket (limiter.h), a shared-memory segment
 * (shm_store.h) and a Redis server (redis_store.h).
 *
 * Each row takes tokens of one bucket as fast as it can, for a fixed time
 * (--secs) or a fixed count (--n), at a rate and burst so large (1e9/s,
 * 1e9) that the limit never refuses: what is left is the store's own cost.
 * Every take reads the monotonic clock first, as the dispatcher does, so
 * the "clock" row (the same loop around a take that does nothing) is the
 * floor under every other row. Rows:
 *   clock    the loop alone: a clock read and an indirect call
 *   local    pacer__bucket_try() on a bucket of this process
 *   shm      pacer__shm_take() on a segment of its own name (removed at
 *            the end), from 1, 2 and 4 threads (--threads), each with its
 *            own handle as separate processes would have, all on one bucket
 *   redis    pacer__redis_take() against the server of --redis URL (skipped
 *            without it); a take that finds no reservation waits for the
 *            store's notify
 *   local_limited  the local bucket at a rate a real quota has
 *            (--limited-rate 400, --limited-burst 10, --limited-secs 5):
 *            what pacing alone costs per grant (a sleep each)
 *   limited  Redis at that rate, the same way: the grants must match the
 *            rate, and its CPU per grant is set against local_limited's
 *
 * A take that answers a wait is followed by a sleep until then, as in the
 * dispatcher; the limited rows say how late those sleeps woke (a loaded
 * machine wakes a thread late, and a Redis reservation not taken within
 * its grace lapses).
 *
 * Prints one JSON object per row on stdout: grants, wall seconds, grants/s,
 * CPU seconds of the whole process (getrusage: every thread, so Redis's
 * store thread too) and CPU ns per grant. Redis rows add the store's script
 * calls (one EVALSHA each, one bucket per round trip here) per grant, and,
 * when built with hiredis, the server's own CPU per grant (INFO cpu).
 *
 * usage: bench_shared [--secs S] [--n N] [--only clock,local,shm,redis,...]
 *                     [--threads 1,2,4] [--redis redis://HOST:PORT[/DB]]
 *                     [--shm-name NAME] [--rate R] [--burst B]
 *                     [--limited-rate R] [--limited-burst B]
 *                     [--limited-secs S] */
#include "bench_util.h"
#include "clock.h"
#include "limiter.h"
#include "redis_store.h"
#include "shm_store.h"
#include <math.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#ifdef PACER_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#define MAX_THREADS 16

static int64_t now_ns(void)
{
  return pacer__clock_real.now(pacer__clock_real.ctx);
}

/* ---- the stores, behind one take ---- */

typedef int64_t (*take_fn)(void *ctx, int64_t now);

typedef struct params {
  double rate;
  int64_t burst;
} params_t;

static int64_t take_none(void *ctx, int64_t now)
{
  (void)ctx;
  (void)now;
  return 0;
}

static int64_t take_local(void *ctx, int64_t now)
{
  return pacer__bucket_try(ctx, now);
}

typedef struct shm_ctx {
  pacer__shm_t *s;
  params_t p;
} shm_ctx_t;

static int64_t take_shm(void *ctx, int64_t now)
{
  shm_ctx_t *c = ctx;
  return pacer__shm_take(c->s, "", c->p.rate, c->p.burst, now);
}

typedef struct redis_ctx {
  pacer__redis_t *r;
  params_t p;
} redis_ctx_t;

static int64_t take_redis(void *ctx, int64_t now)
{
  redis_ctx_t *c = ctx;
  return pacer__redis_take(c->r, "", c->p.rate, c->p.burst, now);
}

/* The store's notify: a generation count, so a take that returned PENDING
 * waits only if no notify came since it read the count before the take.
 * cv is made by pacer__cond_init() in main: the real clock's wait takes a
 * CLOCK_MONOTONIC deadline, which a default (CLOCK_REALTIME) condition
 * would read as long past, and the wait would spin. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_ullong gen;
} note = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_notify(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&note.mu);
  atomic_fetch_add(&note.gen, 1);
  pthread_cond_broadcast(&note.cv);
  pthread_mutex_unlock(&note.mu);
}

static void wait_notify(unsigned long long seen, int64_t deadline)
{
  pthread_mutex_lock(&note.mu);
  while (atomic_load(&note.gen) == seen && now_ns() < deadline)
    pacer__clock_real.wait(pacer__clock_real.ctx, &note.cv, &note.mu, deadline);
  pthread_mutex_unlock(&note.mu);
}

/* ---- one taker ---- */

typedef struct taker {
  take_fn take;
  void *ctx;
  int64_t end;  /* stop at this time ... */
  uint64_t n;   /* ... or after this many grants, when > 0 */
  int notified; /* PENDING is possible: wait for the store's notify */
  uint64_t grants, waits, pending;
  int64_t late_sum, late_max; /* how far past its end each sleep woke */
  int64_t error;              /* a negative answer (PACER_E...), or 0 */
} taker_t;

static void *take_loop(void *arg)
{
  taker_t *t = arg;
  for (;;) {
    unsigned long long seen = t->notified ? atomic_load(&note.gen) : 0;
    int64_t now = now_ns();
    if (t->n ? t->grants >= t->n : now >= t->end)
      break;
    int64_t r = t->take(t->ctx, now);
    if (r == 0) {
      t->grants++;
    } else if (r < 0) {
      t->error = r;
      break;
    } else if (r == PACER__REDIS_PENDING) {
      t->pending++;
      int64_t limit = now + PACER__NS_PER_S;
      wait_notify(seen, t->end < limit ? t->end : limit);
    } else {
      /* asked to come back later: sleep until then, as the dispatcher
       * does (at 1e9/s this is rare; at a real rate, once per grant) */
      t->waits++;
      int64_t until = pacer__time_add(now, r);
      if (until > t->end)
        until = t->end;
      struct timespec ts = {(time_t)(until / PACER__NS_PER_S),
                            (long)(until % PACER__NS_PER_S)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
      int64_t late = now_ns() - until;
      t->late_sum += late;
      if (late > t->late_max)
        t->late_max = late;
    }
  }
  return NULL;
}

typedef struct result {
  uint64_t grants, waits, pending;
  int64_t late_sum, late_max;
  double secs, cpu_s;
  int64_t error;
} result_t;

/* Runs k takers at once (each on its own thread when k > 1) for secs or n
 * grants each; wall time from the start to the last one's end. */
static result_t run(taker_t *t, int k, double secs, uint64_t n)
{
  result_t res = {0};
  bench_cpu_t c0 = bench_cpu();
  int64_t t0 = now_ns();
  for (int i = 0; i < k; i++) {
    t[i].end = n ? INT64_MAX : t0 + (int64_t)(secs * 1e9);
    t[i].n = n;
  }
  pthread_t tid[MAX_THREADS];
  if (k == 1) {
    take_loop(&t[0]);
  } else {
    for (int i = 0; i < k; i++)
      pthread_create(&tid[i], NULL, take_loop, &t[i]);
    for (int i = 0; i < k; i++)
      pthread_join(tid[i], NULL);
  }
  int64_t t1 = now_ns();
  bench_cpu_t c1 = bench_cpu();
  for (int i = 0; i < k; i++) {
    res.grants += t[i].grants;
    res.waits += t[i].waits;
    res.pending += t[i].pending;
    res.late_sum += t[i].late_sum;
    if (t[i].late_max > res.late_max)
      res.late_max = t[i].late_max;
    if (t[i].error)
      res.error = t[i].error;
  }
  res.secs = (double)(t1 - t0) / 1e9;
  res.cpu_s = (c1.user + c1.sys) - (c0.user + c0.sys);
  return res;
}

static void print_common(const char *row, int threads, params_t p,
                         const result_t *r)
{
  printf("{\"row\":\"%s\",\"threads\":%d,\"rate\":%.0f,\"burst\":%lld,"
         "\"grants\":%llu,\"secs\":%.6f,\"grants_per_s\":%.1f,"
         "\"cpu_s\":%.6f,\"cpu_ns_per_grant\":%.2f,\"waits\":%llu,"
         "\"pending\":%llu",
         row, threads, p.rate, (long long)p.burst,
         (unsigned long long)r->grants, r->secs,
         r->secs > 0 ? (double)r->grants / r->secs : 0, r->cpu_s,
         r->grants ? r->cpu_s * 1e9 / (double)r->grants : 0,
         (unsigned long long)r->waits, (unsigned long long)r->pending);
}

/* A limited row's check: from a full bucket, burst tokens at once, then one
 * per interval, so at most burst + rate x secs, and (grants - burst) / secs
 * is the rate achieved. */
static void print_limited(params_t p, const result_t *r)
{
  printf(",\"allowed\":%.0f,\"achieved_per_s\":%.3f,"
         "\"waits_per_grant\":%.3f,\"late_us_mean\":%.1f,"
         "\"late_us_max\":%.1f",
         floor((double)p.burst + p.rate * r->secs),
         r->secs > 0 ? ((double)r->grants - (double)p.burst) / r->secs : 0,
         r->grants ? (double)r->waits / (double)r->grants : 0,
         r->waits ? (double)r->late_sum / 1e3 / (double)r->waits : 0,
         (double)r->late_max / 1e3);
}

/* ---- the Redis server's own CPU, from INFO cpu ---- */

#ifdef PACER_HAVE_HIREDIS
/* HOST and PORT of redis://HOST[:PORT]...; a plain form is enough here. */
static redisContext *info_connect(const char *url)
{
  const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : url;
  char host[256];
  size_t n = strcspn(p, ":/?");
  if (n == 0 || n >= sizeof host)
    return NULL;
  memcpy(host, p, n);
  host[n] = '\0';
  int port = p[n] == ':' ? atoi(p + n + 1) : 6379;
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout(host, port, tv);
  if (c && c->err) {
    redisFree(c);
    c = NULL;
  }
  return c;
}

/* used_cpu_user + used_cpu_sys of the server, or -1. */
static double server_cpu(redisContext *c)
{
  if (!c)
    return -1;
  redisReply *rep = redisCommand(c, "INFO cpu");
  double v = -1;
  if (rep && rep->type == REDIS_REPLY_STRING) {
    const char *u = strstr(rep->str, "used_cpu_user:");
    const char *s = strstr(rep->str, "used_cpu_sys:");
    if (u && s)
      v = strtod(u + 14, NULL) + strtod(s + 13, NULL);
  }
  if (rep)
    freeReplyObject(rep);
  return v;
}
#else
typedef void redisContext;
static redisContext *info_connect(const char *url)
{
  (void)url;
  return NULL;
}
static double server_cpu(redisContext *c)
{
  (void)c;
  return -1;
}
static void redisFree(redisContext *c)
{
  (void)c;
}
#endif

/* One Redis row on quota "bench-PID-ROW" (a fresh bucket every row). */
static int redis_row(const char *row, const char *url, params_t p, double secs,
                     uint64_t n, int limited)
{
  char full[1024];
  snprintf(full, sizeof full, "%s%cname=bench-%ld-%s", url,
           strchr(url, '?') ? '&' : '?', (long)getpid(), row);
  pacer__redis_opts_t o = {.url = full, .notify = on_notify};
  pacer__redis_t *r = NULL;
  char err[256] = "";
  int rc = pacer__redis_open(&o, &r, err, sizeof err);
  if (rc) {
    fprintf(stderr, "bench_shared: %s: %s\n", full, err);
    return 1;
  }
  redisContext *info = info_connect(url);
  redis_ctx_t ctx = {r, p};
  taker_t t = {0};
  t.take = take_redis;
  t.ctx = &ctx;
  t.notified = 1;
  double s0 = server_cpu(info);
  result_t res = run(&t, 1, secs, n);
  double s1 = server_cpu(info);
  pacer__redis_stats_t st;
  pacer__redis_stats(r, &st);
  pacer__redis_close(r);
  redisFree(info);
  print_common(row, 1, p, &res);
  double g = (double)res.grants;
  printf(",\"reserve_calls\":%llu,\"round_trips_per_grant\":%.5f,"
         "\"grants_per_call\":%.2f,\"store_grants\":%llu,\"lapsed\":%llu,"
         "\"store_errors\":%llu,\"store_wait_us_per_pending\":%.1f",
         (unsigned long long)st.reserve_calls,
         g > 0 ? (double)st.reserve_calls / g : 0,
         st.reserve_calls ? g / (double)st.reserve_calls : 0,
         (unsigned long long)st.grants, (unsigned long long)st.lapsed,
         (unsigned long long)st.errors,
         res.pending ? (double)st.wait_ns / 1e3 / (double)res.pending : 0);
  if (s0 >= 0 && s1 >= 0)
    printf(",\"server_cpu_s\":%.6f,\"server_cpu_ns_per_grant\":%.2f", s1 - s0,
           g > 0 ? (s1 - s0) * 1e9 / g : 0);
  if (limited)
    print_limited(p, &res);
  printf("}\n");
  fflush(stdout);
  return res.error || st.errors ? 1 : 0;
}

static int want(const char *only, const char *row)
{
  size_t n = strlen(row);
  for (const char *p = only; (p = strstr(p, row)); p += n)
    if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
      return 1;
  return 0;
}

int main(int argc, char **argv)
{
  double secs = bench_argf(argc, argv, "--secs", 1);
  uint64_t n = (uint64_t)bench_argf(argc, argv, "--n", 0);
  const char *only = bench_arg(argc, argv, "--only",
                               "clock,local,shm,redis,local_limited,limited");
  const char *threads = bench_arg(argc, argv, "--threads", "1,2,4");
  const char *url = bench_arg(argc, argv, "--redis", NULL);
  params_t fast = {bench_argf(argc, argv, "--rate", 1e9),
                   (int64_t)bench_argf(argc, argv, "--burst", 1e9)};
  params_t slow = {bench_argf(argc, argv, "--limited-rate", 400),
                   (int64_t)bench_argf(argc, argv, "--limited-burst", 10)};
  double slow_secs = bench_argf(argc, argv, "--limited-secs", 5);
  char shm_name[64];
  snprintf(shm_name, sizeof shm_name, "bench-shared-%ld", (long)getpid());
  const char *shm = bench_arg(argc, argv, "--shm-name", shm_name);
  if (secs <= 0 || slow_secs <= 0 || pacer__rate_check(fast.rate, fast.burst) ||
      pacer__rate_check(slow.rate, slow.burst)) {
    fprintf(stderr, "bench_shared: bad --secs, --rate or --burst\n");
    return 2;
  }
  if (pacer__cond_init(&note.cv)) {
    fprintf(stderr, "bench_shared: cannot make a condition variable\n");
    return 1;
  }
  int failed = 0;

  if (want(only, "clock")) {
    taker_t t = {0};
    t.take = take_none;
    result_t r = run(&t, 1, secs, n);
    print_common("clock", 1, fast, &r);
    printf("}\n");
  }

  if (want(only, "local")) {
    pacer__bucket_t b;
    pacer__bucket_init(&b, fast.rate, fast.burst);
    taker_t t = {0};
    t.take = take_local;
    t.ctx = &b;
    result_t r = run(&t, 1, secs, n);
    print_common("local", 1, fast, &r);
    printf("}\n");
  }

  if (want(only, "local_limited")) {
    pacer__bucket_t b;
    pacer__bucket_init(&b, slow.rate, slow.burst);
    taker_t t = {0};
    t.take = take_local;
    t.ctx = &b;
    result_t r = run(&t, 1, slow_secs, 0);
    print_common("local_limited", 1, slow, &r);
    print_limited(slow, &r);
    printf("}\n");
  }

  if (want(only, "shm")) {
    pacer__shm_unlink(shm);
    for (const char *p = threads; *p;) {
      int k = atoi(p);
      p += strcspn(p, ",");
      p += *p == ',';
      if (k < 1 || k > MAX_THREADS)
        continue;
      shm_ctx_t ctx[MAX_THREADS];
      taker_t t[MAX_THREADS];
      char err[256] = "";
      int ok = 1;
      for (int i = 0; i < k; i++) {
        ctx[i].p = fast;
        ctx[i].s = NULL;
        if (ok && pacer__shm_open(shm, 0, &ctx[i].s, err, sizeof err)) {
          fprintf(stderr, "bench_shared: shm:%s: %s\n", shm, err);
          ok = 0;
        }
        memset(&t[i], 0, sizeof t[i]);
        t[i].take = take_shm;
        t[i].ctx = &ctx[i];
      }
      if (ok) {
        result_t r = run(t, k, secs, n);
        print_common("shm", k, fast, &r);
        printf("}\n");
        failed |= r.error != 0;
      }
      failed |= !ok;
      for (int i = 0; i < k; i++)
        pacer__shm_close(ctx[i].s);
    }
    pacer__shm_unlink(shm);
  }

  if (url && want(only, "redis"))
    failed |= redis_row("redis", url, fast, secs, n, 0);
  if (url && want(only, "limited"))
    failed |= redis_row("limited", url, slow, slow_secs, 0, 1);
  return failed;
}
