/* SPDX-License-Identifier: MIT */
/* fetch.c - fetch URLs under a rate limit and print one line per result.
 *
 * Shows the smallest complete use of libpacer: configure, submit, drain, read
 * each result in its callback. Build it against the installed library:
 *
 *   cc fetch.c $(pkg-config --cflags --libs pacer) -o fetch
 *
 * and try it against pacer-mock on 127.0.0.1 (started with --port 0, which
 * prints the port it picked):
 *
 *   ./fetch --rate 20 http://127.0.0.1:PORT/a
 * 'http://127.0.0.1:PORT/b?status=503'
 *
 * Exit status: 0 if every request got a 2xx or 3xx response, 1 if not, 2 for
 * bad arguments. */
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int failures;

/* Runs on a pacer thread, once per URL. */
static void done(const pacer_result_t *res, void *user)
{
  (void)user;
  pthread_mutex_lock(&print_lock);
  if (res->error == 0 && res->status < 400)
    printf("%-40s HTTP %d  %zu bytes  %u attempt(s)  queued %.1f ms, "
           "transfer %.1f ms\n",
           res->url, res->status, res->body_len, res->attempts,
           res->queue_us / 1000.0, res->transfer_us / 1000.0);
  else {
    failures++;
    if (res->error)
      printf("%-40s %s: %s  %u attempt(s)\n", res->url,
             pacer_err_name(res->error), res->message, res->attempts);
    else
      printf("%-40s HTTP %d  %u attempt(s)\n", res->url, res->status,
             res->attempts);
  }
  pthread_mutex_unlock(&print_lock);
}

static void usage(void)
{
  fprintf(stderr, "usage: fetch [--rate N] [--concurrency N] URL...\n");
}

int main(int argc, char **argv)
{
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.rate = 10;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    if (i + 1 >= argc) {
      usage();
      return 2;
    }
    if (strcmp(argv[i], "--rate") == 0)
      cfg.rate = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--concurrency") == 0)
      cfg.concurrency = (unsigned)atoi(argv[i + 1]);
    else {
      usage();
      return 2;
    }
  }
  if (i == argc) {
    usage();
    return 2;
  }

  pacer_t *p;
  int rc = pacer_new(&cfg, &p);
  if (rc) {
    fprintf(stderr, "fetch: %s\n", pacer_strerror(rc));
    return 2;
  }
  for (; i < argc; i++) {
    pacer_request_t req;
    pacer_request_init(&req);
    req.url = argv[i];
    rc = pacer_submit(p, &req, done, NULL, NULL);
    if (rc) { /* refused: no callback will come for it */
      fprintf(stderr, "fetch: %s: %s\n", argv[i], pacer_strerror(rc));
      failures++;
    }
  }
  pacer_drain(p, -1);
  pacer_free(p);
  return failures ? 1 : 0;
}
