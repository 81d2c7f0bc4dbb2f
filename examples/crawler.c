/* SPDX-License-Identifier: MIT */
/* crawler.c - a polite web crawler: follow links from one start page, at
 * most one request at a time and RATE requests a second per host, until a
 * page budget is spent.
 *
 * Shows jobs that create jobs: each page's callback extracts its links and
 * submits the ones not seen before, from inside the callback (allowed:
 * pacer_submit() called from a callback never blocks). The politeness is the
 * dispatcher's, not the crawler's: per-key limits (the key is the URL's host
 * by default) give each host key_rate requests/s with a bucket of one token
 * and key_concurrency 1 over one connection (max_host_connections), and
 * each host has its own circuit breaker (library defaults: 10 or more
 * outcomes in the last 20, half of them 5xx or transport errors, hold that
 * host's jobs for 30 s, then let one probe through). A 404 is not a breaker
 * failure: the host is healthy, the link is broken.
 *
 * The crawl starts at BASE_URL/site/0 and follows only links to the same
 * scheme://host:port. A URL is fetched at most once. When PAGE_BUDGET URLs
 * have been submitted, callbacks stop submitting, and pacer_drain() returns
 * once the last job submitted has ended. The program prints each fetch, then
 * the pages fetched, the errors (pacer-mock's pages all link to
 * /site/999999, which is a 404) and how long the crawl took against the
 * least time the per-host rate allows.
 *
 * Build it against the installed library (uthash is a header-only library;
 * Debian: uthash-dev):
 *
 *   cc crawler.c $(pkg-config --cflags --libs pacer) -pthread -o crawler
 *
 * and run it against pacer-mock on 127.0.0.1 (--port 0 prints the port):
 *
 *   pacer-mock --port 0 &
 *   ./crawler http://127.0.0.1:PORT              # 50 pages at 20/s
 *   ./crawler http://127.0.0.1:PORT 100 50       # 100 pages at 50/s
 *
 * Arguments: BASE_URL [PAGE_BUDGET [RATE]], PAGE_BUDGET 1..100000 (default
 * 50), RATE requests/s per host, 0.1..10000 (default 20).
 *
 * Exit status: 0 if at least one page was fetched, every job submitted got
 * exactly one callback, no submit was refused and the crawl took at least as
 * long as the per-host rate requires; 1 if not; 2 for bad arguments or setup
 * errors. */
#define _POSIX_C_SOURCE 200809L
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uthash.h>

#define MAX_URL 2048

/* One URL ever submitted: the crawl never fetches it again. */
typedef struct seen {
  char *url;
  UT_hash_handle hh;
} seen_t;

typedef struct crawl {
  pacer_t *p;
  char origin[MAX_URL]; /* "http://127.0.0.1:8080": the only host followed */
  unsigned budget;
  pthread_mutex_t lock; /* guards everything below, and stdout */
  seen_t *seen;
  unsigned reserved;  /* URLs given a slot of the budget */
  unsigned accepted;  /* jobs pacer_submit() accepted */
  unsigned refused;   /* submits that failed: no callback will come */
  unsigned callbacks; /* callbacks that ran */
  unsigned pages;     /* 2xx answers */
  unsigned errors;    /* HTTP >= 400, or a job that ended without a response */
  unsigned foreign;   /* links to other hosts, not followed */
  unsigned over;      /* new links left out because the budget was spent */
} crawl_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The scheme://authority part of an http(s) URL, or -1. */
static int origin_of(const char *url, char *out, size_t len)
{
  size_t skip;
  if (strncmp(url, "http://", 7) == 0)
    skip = 7;
  else if (strncmp(url, "https://", 8) == 0)
    skip = 8;
  else
    return -1;
  size_t n = skip + strcspn(url + skip, "/?#");
  if (n == skip || n >= len)
    return -1;
  memcpy(out, url, n);
  out[n] = '\0';
  return 0;
}

/* Resolves link (n bytes, fragment already cut) found on page, a URL on the
 * crawl's origin, into an absolute URL in out. Returns 1 if the result is on
 * the crawl's origin, 0 if it is elsewhere (another host or scheme), -1 if
 * it is empty or does not fit. Handles "scheme:...", "//host/...", "/path",
 * "?query" and "path" links; it does not collapse "." or ".." segments
 * (pacer-mock's links never have them). */
static int resolve(const crawl_t *c, const char *page, const char *link,
                   size_t n, char *out, size_t len)
{
  size_t o = strlen(c->origin);
  size_t scheme = strcspn(link, ":/?");
  int w;
  if (n == 0)
    return -1;
  if (scheme < n && link[scheme] == ':') { /* "http://...", "mailto:..." */
    w = snprintf(out, len, "%.*s", (int)n, link);
  } else if (n >= 2 && link[0] == '/' && link[1] == '/') { /* "//host/" */
    w = snprintf(out, len, "%.*s%.*s", (int)strcspn(c->origin, ":") + 1,
                 c->origin, (int)n, link);
  } else if (link[0] == '/') {
    w = snprintf(out, len, "%s%.*s", c->origin, (int)n, link);
  } else { /* the page's path up to its '?', or up to its last '/' */
    const char *path = page + o; /* "/a/b?q", "?q" or "" */
    size_t keep = strcspn(path, "?#");
    if (link[0] != '?')
      while (keep > 0 && path[keep - 1] != '/')
        keep--;
    w = snprintf(out, len, "%s%s%.*s%.*s", c->origin, keep == 0 ? "/" : "",
                 (int)keep, path, (int)n, link);
  }
  if (w < 0 || (size_t)w >= len)
    return -1;
  return strncmp(out, c->origin, o) == 0 &&
         (out[o] == '\0' || out[o] == '/' || out[o] == '?');
}

/* Submits url if it is new and the budget allows; returns 1 if it did. Takes
 * c->lock itself, and calls pacer_submit() outside it. */
static int enqueue(crawl_t *c, const char *url);

static int is_html(const pacer_result_t *res)
{
  for (size_t i = 0; i < res->header_count; i++)
    if (strcasecmp(res->headers[i].name, "Content-Type") == 0)
      return strncasecmp(res->headers[i].value, "text/html", 9) == 0;
  return 0;
}

/* Runs on a pacer thread once per URL submitted. */
static void page_done(const pacer_result_t *res, void *user)
{
  crawl_t *c = user;
  int ok = res->error == 0 && res->status >= 200 && res->status < 300;
  unsigned links = 0, added = 0, foreign = 0;

  /* A tiny link extractor for this example: it looks for href=" with
   * strstr(), so it misses single-quoted and unquoted values, does not
   * decode entities (&amp;) and does not skip comments or scripts. Fine for
   * pacer-mock's pages; use a real HTML parser for the open web. The body is
   * NUL-terminated by libpacer, so strstr() stops at its end. */
  const char *s = ok && is_html(res) ? res->body : NULL;
  while (s && (s = strstr(s, "href=\"")) != NULL) {
    s += 6;
    size_t n = strcspn(s, "\"");
    if (s[n] != '"')
      break;                    /* unterminated: the page ends inside it */
    size_t k = strcspn(s, "#"); /* a fragment names the same document */
    char url[MAX_URL];
    int r = resolve(c, res->url, s, k < n ? k : n, url, sizeof url);
    links++;
    if (r == 1)
      added += (unsigned)enqueue(c, url);
    else if (r == 0)
      foreign++;
    s += n + 1;
  }

  pthread_mutex_lock(&c->lock);
  c->callbacks++;
  c->foreign += foreign;
  if (ok)
    c->pages++;
  else
    c->errors++;
  if (res->error)
    printf("  %-40s %s: %s\n", res->url, pacer_err_name(res->error),
           res->message);
  else
    printf("  %-40s HTTP %d  %4zu bytes  %u links, %u new  queued %4.0f ms\n",
           res->url, res->status, res->body_len, links, added,
           res->queue_us / 1000.0);
  pthread_mutex_unlock(&c->lock);
}

static int enqueue(crawl_t *c, const char *url)
{
  seen_t *e;
  pthread_mutex_lock(&c->lock);
  HASH_FIND_STR(c->seen, url, e);
  if (e != NULL) {
    pthread_mutex_unlock(&c->lock);
    return 0;
  }
  if (c->reserved >= c->budget) {
    c->over++;
    pthread_mutex_unlock(&c->lock);
    return 0;
  }
  e = malloc(sizeof *e);
  char *copy = strdup(url);
  if (e == NULL || copy == NULL) {
    c->refused++; /* counts as a failed submit */
    pthread_mutex_unlock(&c->lock);
    free(e);
    free(copy);
    return 0;
  }
  e->url = copy;
  HASH_ADD_KEYPTR(hh, c->seen, e->url, strlen(e->url), e);
  c->reserved++;
  pthread_mutex_unlock(&c->lock);

  pacer_request_t req;
  pacer_request_init(&req);
  req.url = url; /* copied by pacer_submit() */
  int rc = pacer_submit(c->p, &req, page_done, c, NULL);
  pthread_mutex_lock(&c->lock);
  if (rc == 0)
    c->accepted++;
  else {
    c->refused++;
    printf("  %s  not submitted: %s\n", url, pacer_strerror(rc));
  }
  pthread_mutex_unlock(&c->lock);
  return rc == 0;
}

/* pacer_event_cb: one line on stderr per event. Events come one at a time,
 * on the dispatcher's thread, so this needs no lock of its own. */
static void on_event(const pacer_event_t *ev, void *user)
{
  (void)user;
  fprintf(stderr, "  event %s %s: %s\n", pacer_event_type_name(ev->type),
          ev->key ? ev->key : "-", ev->message);
}

static int parse_budget(const char *s, unsigned *out)
{
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *s == '-' || *end != '\0' || v == 0 || v > 100000)
    return -1;
  *out = (unsigned)v;
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: crawler BASE_URL [PAGE_BUDGET [RATE]]\n");
    return 2;
  }
  static crawl_t c; /* zeroed; the callbacks reach it through user */
  c.budget = 50;
  double rate = 20;
  if (origin_of(argv[1], c.origin, sizeof c.origin) != 0) {
    fprintf(stderr, "crawler: BASE_URL must be http:// or https://HOST...\n");
    return 2;
  }
  if (argc > 2 && parse_budget(argv[2], &c.budget) != 0) {
    fprintf(stderr, "crawler: PAGE_BUDGET must be 1..100000\n");
    return 2;
  }
  if (argc > 3) {
    char *end;
    rate = strtod(argv[3], &end);
    if (*argv[3] == '\0' || *end != '\0' || !(rate >= 0.1 && rate <= 10000)) {
      fprintf(stderr, "crawler: RATE must be 0.1..10000 requests/s\n");
      return 2;
    }
  }
  char start[MAX_URL];
  size_t blen = strlen(argv[1]);
  while (blen > 0 && argv[1][blen - 1] == '/')
    blen--;
  if (snprintf(start, sizeof start, "%.*s/site/0", (int)blen, argv[1]) >=
      (int)sizeof start) {
    fprintf(stderr, "crawler: BASE_URL too long\n");
    return 2;
  }

  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.key_rate = rate;          /* per host */
  cfg.key_burst = 1;            /* no bursts: evenly spaced */
  cfg.key_concurrency = 1;      /* one request at a time per host */
  cfg.max_host_connections = 1; /* and one connection to it, all workers
                                   together */
  cfg.timeout_ms = 10000;
  cfg.event_cb = on_event; /* breakers, pauses, retries, as they happen */
  if (pthread_mutex_init(&c.lock, NULL) != 0) {
    fprintf(stderr, "crawler: cannot create a mutex\n");
    return 2;
  }
  int rc = pacer_new(&cfg, &c.p);
  if (rc) {
    fprintf(stderr, "crawler: pacer_new: %s\n", pacer_strerror(rc));
    pthread_mutex_destroy(&c.lock);
    return 2;
  }

  printf("crawler: from %s, at most %u pages, %g requests/s and 1 at a time "
         "per host\n",
         start, c.budget, rate);
  fflush(stdout);
  double t0 = now_s();
  enqueue(&c, start);

  /* Bounded: even a host whose breaker holds its jobs (one probe per 30 s)
   * cannot keep the program waiting forever. */
  int64_t limit_ms = (int64_t)(c.budget / rate * 2000) + 60000;
  rc = pacer_drain(c.p, limit_ms);
  double elapsed = now_s() - t0;
  int failed = 0;
  if (rc) {
    fprintf(stderr, "crawler: drain: %s; cancelling what is left\n",
            pacer_strerror(rc));
    failed = 1;
    pacer_shutdown(c.p, PACER_SHUTDOWN_CANCEL); /* always 0 */
  }

  pacer_stats_t *st;
  if (pacer_stats_get(c.p, &st) == 0) {
    for (size_t i = 0; i < st->key_count; i++)
      printf("crawler: host %s: breaker %s, %llu connection(s) opened\n",
             st->keys[i].key,
             st->keys[i].breaker == PACER_BREAKER_CLOSED ? "closed"
             : st->keys[i].breaker == PACER_BREAKER_OPEN ? "open"
                                                         : "half-open",
             (unsigned long long)st->key_conn[i].opened);
    pacer_stats_free(st);
  } else {
    fprintf(stderr, "crawler: no statistics\n");
  }
  pacer_free(c.p); /* every callback has returned once this returns */

  /* With one token of burst, N requests to one host need (N - 1) / rate s. */
  unsigned n = c.callbacks;
  double least = n > 1 ? (n - 1) / rate : 0;
  printf("crawler: %u pages fetched, %u error(s), %u link(s) to other hosts, "
         "%u link(s) not followed (budget spent); %u callbacks for %u jobs; "
         "%.3f s "
         "(the rate needs >= %.3f s)\n",
         c.pages, c.errors, c.foreign, c.over, c.callbacks, c.accepted, elapsed,
         least);
  if (c.pages == 0) {
    fprintf(stderr, "crawler: nothing was fetched\n");
    failed = 1;
  }
  if (c.callbacks != c.accepted) {
    fprintf(stderr, "crawler: %u callback(s) never came\n",
            c.accepted - c.callbacks);
    failed = 1;
  }
  if (c.refused) {
    fprintf(stderr, "crawler: %u submit(s) refused\n", c.refused);
    failed = 1;
  }
  if (elapsed + 0.005 < least) {
    fprintf(stderr, "crawler: faster than %g requests/s per host\n", rate);
    failed = 1;
  }

  seen_t *e, *tmp;
  HASH_ITER(hh, c.seen, e, tmp)
  {
    HASH_DEL(c.seen, e);
    free(e->url);
    free(e);
  }
  pthread_mutex_destroy(&c.lock);
  return failed;
}
