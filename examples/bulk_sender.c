/* SPDX-License-Identifier: MIT */
/* bulk_sender.c - send a newsletter to 10,000 addresses at 100 mails/s while
 * urgent password-reset mails overtake it, then show how long each kind
 * waited in the queue.
 *
 * Each mail is a POST of a small JSON document (built with jansson) to
 * BASE_URL/send. One mail in 50 is a password reset, submitted at high
 * priority; the others are newsletters at low priority. The dispatcher starts
 * high and low jobs 4:1 while both wait, so a reset waits for about one token
 * while a newsletter waits behind everything queued before it. At the end the
 * program prints the queue wait (submit to first attempt, pacer_result_t
 * queue_us) of both kinds, p50/p99/max, and the totals.
 *
 * Build it against the installed library:
 *
 *   cc bulk_sender.c $(pkg-config --cflags --libs pacer jansson) -pthread \
 *      -o bulk_sender
 *
 * and run it against pacer-mock on 127.0.0.1 (--port 0 prints the port):
 *
 *   pacer-mock --port 0 &
 *   ./bulk_sender http://127.0.0.1:PORT              # 10000 mails at 100/s
 *   ./bulk_sender http://127.0.0.1:PORT 600 1000     # 600 mails at 1000/s
 *
 * Arguments: BASE_URL [COUNT [RATE]]. Every 100th mail asks pacer-mock to
 * answer its first attempt with a 503 (fail_first=1), so the run also shows
 * a retried POST (see "Retrying a POST" below).
 *
 * Exit status: 0 if every mail was accepted, got exactly one callback and
 * ended with a 2xx response; 1 if not; 2 for bad arguments or setup errors.
 *
 * Retrying a POST. libpacer retries GET and other idempotent methods after a
 * transport error, a timeout or a 408/429/5xx, but not POST: a POST whose
 * response was lost may have been carried out, and sending it again could
 * send the mail twice. A bulk sender wants retries (a brief 503 from the mail
 * API must not lose a password reset), so each mail carries an
 * Idempotency-Key header whose value is stable for that mail (campaign and
 * recipient, not a fresh random value per attempt). A mail API that honours
 * the header answers a repeat with the first result instead of sending again,
 * and libpacer treats a POST that has the header as safe to retry. Against an
 * API that ignores it, leave the header out and accept that a failed mail
 * fails (or set PACER_REQ_RETRY_UNSAFE and accept occasional duplicates).
 *
 * Feeding the queue. The program does not queue all 10,000 newsletters at
 * once: it keeps at most about two seconds of sending (2 x RATE newsletters)
 * outstanding and waits for callbacks before submitting more, while a reset
 * is submitted as soon as the loop reaches it. A short queue keeps memory
 * flat, lets a stopped run lose little, and matters for priority too: a low
 * job that has waited max_low_wait_ms (10 s by default) goes next whatever
 * the weights, so a backlog of newsletters older than that would be started
 * ahead of every reset. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URGENT_EVERY 50      /* one mail in 50 is a password reset */
#define FAIL_ONCE_EVERY 100  /* pacer-mock fails the first attempt of these */
#define AHEAD_SECONDS 2      /* newsletters kept outstanding, in seconds */
#define MAX_FAILURE_LINES 20 /* failed mails printed one by one */

/* Everything the callbacks touch, under one mutex. */
typedef struct run {
  pthread_mutex_t lock;
  pthread_cond_t ended; /* signalled whenever a newsletter ends */
  int64_t *wait_us[2];  /* queue_us of each finished mail, by priority */
  size_t n[2];
  size_t cap[2];
  size_t low_outstanding; /* newsletters submitted and not yet ended */
  size_t callbacks;
  size_t delivered; /* 2xx */
  size_t failed;
  size_t retried_ok; /* delivered after more than one attempt */
} run_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs on a pacer thread, exactly once per accepted mail. */
static void on_sent(const pacer_result_t *res, void *user)
{
  run_t *run = user;
  int ok = res->error == 0 && res->status >= 200 && res->status < 300;
  pthread_mutex_lock(&run->lock);
  int pr = res->priority == PACER_PRIORITY_HIGH;
  if (run->n[pr] < run->cap[pr])
    run->wait_us[pr][run->n[pr]++] = res->queue_us;
  run->callbacks++;
  if (ok) {
    run->delivered++;
    run->retried_ok += res->attempts > 1;
  } else if (++run->failed <= MAX_FAILURE_LINES) {
    if (res->error)
      printf("FAILED %s: %s (%s) after %u attempt(s)\n", res->url,
             pacer_err_name(res->error), res->message, res->attempts);
    else
      printf("FAILED %s: HTTP %d after %u attempt(s)\n", res->url, res->status,
             res->attempts);
  }
  if (res->priority == PACER_PRIORITY_LOW) {
    run->low_outstanding--;
    pthread_cond_signal(&run->ended);
  }
  pthread_mutex_unlock(&run->lock);
}

/* Prints a line each time another tenth of the mails has been sent. */
static void progress(run_t *run, double t0, size_t submitted, size_t count,
                     size_t *next)
{
  pthread_mutex_lock(&run->lock);
  size_t ended = run->callbacks;
  pthread_mutex_unlock(&run->lock);
  if (ended == 0 || ended < *next || ended >= count)
    return;
  printf("[%6.1f s] %zu/%zu sent, %zu submitted\n", now_s() - t0, ended, count,
         submitted);
  fflush(stdout);
  while (*next <= ended)
    *next += count / 10 ? count / 10 : 1;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in milliseconds. */
static double pct_ms(const int64_t *v, size_t n, double p)
{
  if (n == 0)
    return 0;
  size_t rank = (size_t)(p * (double)n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return (double)v[rank - 1] / 1000.0;
}

static void print_waits(const char *name, int64_t *v, size_t n)
{
  qsort(v, n, sizeof *v, cmp_i64);
  printf("  %-22s %6zu %9.1f %9.1f %9.1f\n", name, n, pct_ms(v, n, 0.50),
         pct_ms(v, n, 0.99), n ? (double)v[n - 1] / 1000.0 : 0.0);
}

/* Builds the JSON body of mail i; free with free(). NULL if out of memory. */
static char *mail_body(size_t i, int urgent)
{
  char to[64];
  snprintf(to, sizeof to, "user%zu@example.test", i);
  json_t *doc = json_pack("{s:s, s:s, s:{s:s}}", "to", to, "template",
                          urgent ? "password_reset" : "newsletter", "vars",
                          "campaign", urgent ? "account" : "2024-06");
  if (!doc)
    return NULL;
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  return s;
}

static int parse_count(const char *s, size_t *out)
{
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v == 0 || v > 10000000)
    return -1;
  *out = (size_t)v;
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: bulk_sender BASE_URL [COUNT [RATE]]\n");
    return 2;
  }
  const char *base = argv[1];
  size_t count = 10000;
  double rate = 100;
  if (argc > 2 && parse_count(argv[2], &count) != 0) {
    fprintf(stderr, "bulk_sender: COUNT must be 1..10000000\n");
    return 2;
  }
  if (argc > 3) {
    char *end;
    rate = strtod(argv[3], &end);
    if (*argv[3] == '\0' || *end != '\0' || !(rate >= 1 && rate <= 1e6)) {
      fprintf(stderr, "bulk_sender: RATE must be 1..1000000 mails/s\n");
      return 2;
    }
  }
  size_t window = (size_t)(rate * AHEAD_SECONDS);
  if (window < 1)
    window = 1;

  run_t run;
  memset(&run, 0, sizeof run);
  pthread_mutex_init(&run.lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits use now_s() */
  pthread_cond_init(&run.ended, &ca);
  pthread_condattr_destroy(&ca);
  size_t n_urgent = count / URGENT_EVERY;
  run.cap[PACER_PRIORITY_HIGH] = n_urgent;
  run.cap[PACER_PRIORITY_LOW] = count - n_urgent;
  for (int pr = 0; pr < 2; pr++)
    run.wait_us[pr] = malloc((run.cap[pr] ? run.cap[pr] : 1) * sizeof(int64_t));
  if (!run.wait_us[0] || !run.wait_us[1]) {
    fprintf(stderr, "bulk_sender: out of memory\n");
    free(run.wait_us[0]);
    free(run.wait_us[1]);
    return 2;
  }

  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.rate = rate; /* one token per attempt: retries count too */
  cfg.concurrency = 50;
  cfg.max_attempts = 3; /* for POSTs this needs the Idempotency-Key */
  pacer_t *p;
  int rc = pacer_new(&cfg, &p);
  if (rc) {
    fprintf(stderr, "bulk_sender: pacer_new: %s\n", pacer_strerror(rc));
    free(run.wait_us[0]);
    free(run.wait_us[1]);
    return 2;
  }

  printf("bulk_sender: %zu mails to %s/send at %g/s: %zu password resets "
         "(high), %zu newsletters (low), at most %zu newsletters queued\n",
         count, base, rate, n_urgent, count - n_urgent, window);
  fflush(stdout);

  /* The whole run is bounded, so a dead or stuck API cannot hold it forever
   * (its breaker would let one probe through every 30 s). */
  double t0 = now_s();
  double deadline = t0 + (double)count / rate * 2 + 60;
  int late = 0;
  size_t refused = 0, accepted = 0;
  size_t next_progress = count / 10;
  for (size_t i = 0; i < count; i++) {
    int urgent = i % URGENT_EVERY == URGENT_EVERY - 1;
    if (!urgent) { /* wait for room in the newsletter window */
      struct timespec until = {
          (time_t)deadline,
          (long)((deadline - (double)(time_t)deadline) * 1e9)};
      pthread_mutex_lock(&run.lock);
      while (run.low_outstanding >= window && !late)
        late = pthread_cond_timedwait(&run.ended, &run.lock, &until) != 0 &&
               now_s() >= deadline;
      if (!late)
        run.low_outstanding++;
      pthread_mutex_unlock(&run.lock);
      if (late)
        break;
    }

    char url[512], job[32], idem[64];
    snprintf(job, sizeof job, "mail-%zu", i);
    snprintf(url, sizeof url, "%s/send?job=%s&prio=%s&latency_ms=5-25%s", base,
             job, urgent ? "high" : "low",
             i % FAIL_ONCE_EVERY == 7 ? "&fail_first=1&fail_status=503" : "");
    snprintf(idem, sizeof idem, "%s-%zu",
             urgent ? "reset" : "newsletter-2024-06", i);
    char *body = mail_body(i, urgent);
    if (!body) {
      fprintf(stderr, "bulk_sender: out of memory\n");
      rc = PACER_ENOMEM;
    } else {
      pacer_header_t headers[] = {{"Content-Type", "application/json"},
                                  {"Idempotency-Key", idem}};
      pacer_request_t req;
      pacer_request_init(&req);
      req.method = "POST";
      req.url = url;
      req.headers = headers;
      req.header_count = sizeof headers / sizeof headers[0];
      req.body = body;
      req.body_len = strlen(body);
      req.priority = urgent ? PACER_PRIORITY_HIGH : PACER_PRIORITY_LOW;
      req.max_attempts = urgent ? 5 : 0; /* 0: the dispatcher's 3 */
      rc = pacer_submit(p, &req, on_sent, &run, NULL); /* copies req and body */
      free(body);
      if (rc)
        fprintf(stderr, "bulk_sender: %s: %s\n", job, pacer_strerror(rc));
    }
    if (rc) { /* refused: no callback will come for it */
      refused++;
      if (!urgent) {
        pthread_mutex_lock(&run.lock);
        run.low_outstanding--;
        pthread_mutex_unlock(&run.lock);
      }
    } else
      accepted++;

    progress(&run, t0, i + 1, count, &next_progress);
  }

  /* Everything is queued; wait for the rest. */
  while (!late && (rc = pacer_drain(p, 250)) != 0) {
    if (rc != PACER_ETIMEDOUT) {
      fprintf(stderr, "bulk_sender: drain: %s\n", pacer_strerror(rc));
      break;
    }
    late = now_s() >= deadline;
    progress(&run, t0, accepted + refused, count, &next_progress);
  }
  if (late) { /* end what is left with PACER_ECANCELED, then wait for it */
    printf("bulk_sender: not done after %.0f s; cancelling the rest\n",
           deadline - t0);
    pacer_shutdown(p, PACER_SHUTDOWN_CANCEL);
    pacer_drain(p, -1);
  }
  double elapsed = now_s() - t0;
  pacer_stats_t *st = NULL;
  int src = pacer_stats_get(p, &st);
  if (src)
    fprintf(stderr, "bulk_sender: stats: %s\n", pacer_strerror(src));
  pacer_free(p);

  /* pacer_free() has returned: no callback runs any more. */
  printf("\nqueue wait, submit to first attempt (ms):\n");
  printf("  %-22s %6s %9s %9s %9s\n", "", "count", "p50", "p99", "max");
  print_waits("password resets (high)", run.wait_us[PACER_PRIORITY_HIGH],
              run.n[PACER_PRIORITY_HIGH]);
  print_waits("newsletters (low)", run.wait_us[PACER_PRIORITY_LOW],
              run.n[PACER_PRIORITY_LOW]);
  printf("\ntotals: %zu mails in %.1f s (%.1f/s): %zu delivered (%zu after a "
         "retry), %zu failed, %zu refused at submit, %zu never submitted\n",
         count, elapsed, (double)accepted / elapsed, run.delivered,
         run.retried_ok, run.failed, refused, count - accepted - refused);
  if (st)
    printf("library: %llu attempts started, %llu retries, %llu succeeded, "
           "%llu failed\n",
           (unsigned long long)st->started, (unsigned long long)st->retried,
           (unsigned long long)st->succeeded,
           (unsigned long long)(st->failed_http + st->failed_transport +
                                st->failed_timeout + st->failed_retries +
                                st->failed_deadline + st->failed_breaker +
                                st->failed_other + st->cancelled +
                                st->expired));

  int bad = late || rc != 0 || src != 0;
  if (run.callbacks != accepted) {
    printf("ERROR: %zu mails accepted but %zu callbacks\n", accepted,
           run.callbacks);
    bad = 1;
  }
  if (st && st->submitted != accepted) {
    printf("ERROR: %zu mails accepted but the library counted %llu\n", accepted,
           (unsigned long long)st->submitted);
    bad = 1;
  }
  if (run.failed || refused)
    bad = 1;
  pacer_stats_free(st);
  free(run.wait_us[0]);
  free(run.wait_us[1]);
  pthread_cond_destroy(&run.ended);
  pthread_mutex_destroy(&run.lock);
  return bad;
}
