/* SPDX-License-Identifier: MIT */
/* pipeline.c - stages that feed each other through callbacks: fetch a list,
 * fan out one job per item, fan the results back in to one aggregate.
 *
 *   stage 1  GET BASE_URL/items?count=N      {"items":[{"id":1,"url":...}]}
 *   stage 2  GET BASE_URL/item/K, each item  {"id":K,"price":P}
 *   fan-in   when the last item has ended: count, sum, min and max of P
 *
 * The list's callback parses it with jansson and submits the item jobs from
 * inside the callback (allowed: pacer_submit() called from a callback never
 * blocks, so a stage cannot deadlock on a full queue). Each item's callback
 * parses its price and adds it to the aggregate under a mutex; a counter of
 * ended items tells the callback of the last one that it is the last, and
 * that callback prints the aggregate. Nothing waits for a stage to end:
 * main() only submits the list and calls pacer_drain(), which also waits for
 * the jobs submitted while it waits.
 *
 * pacer-mock prices item K at (K*37)%100 + 1, so the program checks the sum
 * against the prices of the ids the list named, computed by that formula.
 *
 * Build it against the installed library:
 *
 *   cc pipeline.c $(pkg-config --cflags --libs pacer jansson) -pthread \
 *      -o pipeline
 *
 * and run it against pacer-mock on 127.0.0.1 (--port 0 prints the port):
 *
 *   pacer-mock --port 0 &
 *   ./pipeline http://127.0.0.1:PORT          # 100 items
 *   ./pipeline http://127.0.0.1:PORT 2000
 *
 * Arguments: BASE_URL [COUNT], COUNT 0..100000 (default 100).
 *
 * Exit status: 0 if the list named COUNT items, every item's price arrived,
 * every accepted job got exactly one callback and the sum matches; 1 if not;
 * 2 for bad arguments or setup errors. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URL 2048

struct pipeline;

/* One item job's user pointer: which item, and where the aggregate is. */
typedef struct item_job {
  struct pipeline *pl;
  json_int_t id;
} item_job_t;

typedef struct pipeline {
  pacer_t *p;
  const char *base; /* BASE_URL without trailing '/' (base_len bytes) */
  int base_len;
  size_t count; /* items asked for */

  pthread_mutex_t lock; /* guards everything below, and stdout */
  unsigned accepted;    /* jobs pacer_submit() accepted */
  unsigned callbacks;   /* callbacks that ran */
  int list_ok;          /* the list arrived and was parsed */
  item_job_t *items;    /* one per item of the list; freed by main */
  size_t expected;      /* items in the list */
  size_t ended;         /* item jobs that ended (or were refused) */
  size_t priced;        /* items whose price arrived */
  long long sum, min, max;
  long long want_sum; /* from the mock's formula */
  int finished;       /* the fan-in ran */
  int good;           /* ... and found everything in order */
} pipeline_t;

/* Called with pl->lock held by whoever ends the last item job. */
static void fan_in(pipeline_t *pl)
{
  pl->finished = 1;
  pl->good = pl->priced == pl->expected && pl->expected == pl->count &&
             pl->sum == pl->want_sum;
  printf("pipeline: fan-in: %zu of %zu items priced, sum %lld, min %lld, "
         "max %lld; expected %zu items, sum %lld: %s\n",
         pl->priced, pl->expected, pl->sum, pl->priced ? pl->min : 0,
         pl->priced ? pl->max : 0, pl->count, pl->want_sum,
         pl->good ? "OK" : "MISMATCH");
  fflush(stdout);
}

/* One item job has ended (callback or refused submit). Lock held. */
static void item_ended(pipeline_t *pl)
{
  if (++pl->ended == pl->expected)
    fan_in(pl);
}

/* Stage 2: runs on a pacer thread once per item. */
static void item_done(const pacer_result_t *res, void *user)
{
  item_job_t *job = user;
  pipeline_t *pl = job->pl;
  json_int_t price = -1;
  char why[160] = "";

  if (res->error)
    snprintf(why, sizeof why, "%s: %s", pacer_err_name(res->error),
             res->message);
  else if (res->status != 200)
    snprintf(why, sizeof why, "HTTP %d", res->status);
  else {
    json_error_t err;
    json_t *doc = json_loadb(res->body, res->body_len, 0, &err);
    json_int_t id = -1;
    if (doc == NULL)
      snprintf(why, sizeof why, "bad JSON: %.100s", err.text);
    else if (json_unpack_ex(doc, &err, 0, "{s:I, s:I}", "id", &id, "price",
                            &price) != 0)
      snprintf(why, sizeof why, "unexpected JSON: %.100s", err.text);
    else if (id != job->id)
      snprintf(why, sizeof why, "answer for item %lld", (long long)id);
    json_decref(doc);
  }

  pthread_mutex_lock(&pl->lock);
  pl->callbacks++;
  if (why[0]) {
    printf("pipeline: item %lld (%s): %s\n", (long long)job->id, res->url, why);
  } else {
    if (pl->priced == 0 || price < pl->min)
      pl->min = price;
    if (pl->priced == 0 || price > pl->max)
      pl->max = price;
    pl->sum += price;
    pl->priced++;
  }
  item_ended(pl);
  pthread_mutex_unlock(&pl->lock);
}

/* Stage 1: runs on a pacer thread once, with the list. Fans out. */
static void list_done(const pacer_result_t *res, void *user)
{
  pipeline_t *pl = user;
  json_t *doc = NULL, *items = NULL;
  json_error_t err;

  if (res->error) {
    fprintf(stderr, "pipeline: %s: %s: %s\n", res->url,
            pacer_err_name(res->error), res->message);
  } else if (res->status != 200) {
    fprintf(stderr, "pipeline: %s: HTTP %d\n", res->url, res->status);
  } else if ((doc = json_loadb(res->body, res->body_len, 0, &err)) == NULL) {
    fprintf(stderr, "pipeline: list: bad JSON: %s\n", err.text);
  } else if (json_unpack_ex(doc, &err, 0, "{s:o}", "items", &items) != 0 ||
             !json_is_array(items)) {
    fprintf(stderr, "pipeline: list: no \"items\" array\n");
    items = NULL;
  }
  size_t n = items ? json_array_size(items) : 0;
  item_job_t *jobs = calloc(n ? n : 1, sizeof *jobs);
  const char **paths = calloc(n ? n : 1, sizeof *paths);
  if (items && (jobs == NULL || paths == NULL)) {
    fprintf(stderr, "pipeline: list: out of memory\n");
    items = NULL;
  }

  /* Check the whole list before the first item job goes out. */
  long long want = 0;
  for (size_t i = 0; items && i < n; i++) {
    json_int_t id;
    err.text[0] = '\0';
    if (json_unpack_ex(json_array_get(items, i), &err, 0, "{s:I, s:s}", "id",
                       &id, "url", &paths[i]) != 0 ||
        id < 1 || id > 1000000000 || paths[i][0] != '/') {
      fprintf(stderr, "pipeline: list: item %zu: %s\n", i,
              err.text[0] ? err.text : "bad id or url");
      items = NULL;
      break;
    }
    jobs[i] = (item_job_t){pl, id};
    want += (long long)((id * 37) % 100 + 1); /* pacer-mock's price */
  }

  pthread_mutex_lock(&pl->lock);
  pl->callbacks++;
  if (items) {
    /* Set before any item job exists, so the counter of ended items can
     * only reach it once all of them have ended. */
    pl->list_ok = 1;
    pl->items = jobs;
    pl->expected = n;
    pl->want_sum = want;
    printf("pipeline: list of %zu items; fanning out\n", n);
    fflush(stdout);
    if (n == 0)
      fan_in(pl);
  } else {
    free(jobs);
  }
  pthread_mutex_unlock(&pl->lock);

  for (size_t i = 0; items && i < n; i++) {
    char url[MAX_URL];
    int rc = PACER_EURL;
    if (snprintf(url, sizeof url, "%.*s%s", pl->base_len, pl->base, paths[i]) <
        (int)sizeof url) {
      pacer_request_t req;
      pacer_request_init(&req);
      req.url = url; /* copied by pacer_submit() */
      rc = pacer_submit(pl->p, &req, item_done, &jobs[i], NULL);
    }
    pthread_mutex_lock(&pl->lock);
    if (rc == 0) {
      pl->accepted++;
    } else { /* no callback will come for it: it ends here */
      printf("pipeline: item %lld not submitted: %s\n", (long long)jobs[i].id,
             pacer_strerror(rc));
      item_ended(pl);
    }
    pthread_mutex_unlock(&pl->lock);
  }
  free(paths);
  json_decref(doc); /* paths[] pointed into it: used up above */
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: pipeline BASE_URL [COUNT]\n");
    return 2;
  }
  static pipeline_t pl; /* zeroed; the callbacks reach it through user */
  pl.base = argv[1];
  pl.base_len = (int)strlen(argv[1]);
  while (pl.base_len > 0 && pl.base[pl.base_len - 1] == '/')
    pl.base_len--;
  pl.count = 100;
  if (argc > 2) {
    char *end;
    unsigned long v = strtoul(argv[2], &end, 10);
    if (*argv[2] == '\0' || *argv[2] == '-' || *end != '\0' || v > 100000) {
      fprintf(stderr, "pipeline: COUNT must be 0..100000\n");
      return 2;
    }
    pl.count = v;
  }
  char list_url[MAX_URL];
  if (pl.base_len > 1024 ||
      snprintf(list_url, sizeof list_url, "%.*s/items?count=%zu", pl.base_len,
               pl.base, pl.count) >= (int)sizeof list_url) {
    fprintf(stderr, "pipeline: BASE_URL too long\n");
    return 2;
  }

  if (pthread_mutex_init(&pl.lock, NULL) != 0) {
    fprintf(stderr, "pipeline: cannot create a mutex\n");
    return 2;
  }
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.rate = 1000; /* requests/s, all stages together */
  cfg.concurrency = 16;
  cfg.timeout_ms = 10000;
  int rc = pacer_new(&cfg, &pl.p);
  if (rc) {
    fprintf(stderr, "pipeline: pacer_new: %s\n", pacer_strerror(rc));
    pthread_mutex_destroy(&pl.lock);
    return 2;
  }

  printf("pipeline: %s\n", list_url);
  fflush(stdout);
  pacer_request_t req;
  pacer_request_init(&req);
  req.url = list_url;
  req.priority = PACER_PRIORITY_HIGH;
  /* Counted before the submit: once it returns, the list's callback may
   * already be counting its item jobs. */
  pl.accepted = 1;
  rc = pacer_submit(pl.p, &req, list_done, &pl, NULL);
  if (rc) {
    fprintf(stderr, "pipeline: %s: %s\n", list_url, pacer_strerror(rc));
    pacer_free(pl.p);
    pthread_mutex_destroy(&pl.lock);
    return 1;
  }

  /* Bounded, so that a stuck server cannot hold the program forever. */
  int failed = 0;
  rc = pacer_drain(pl.p, 60000 + (int64_t)pl.count * 20);
  if (rc) {
    fprintf(stderr, "pipeline: drain: %s; cancelling what is left\n",
            pacer_strerror(rc));
    failed = 1;
    pacer_shutdown(pl.p, PACER_SHUTDOWN_CANCEL); /* always 0 */
  }
  pacer_free(pl.p); /* every callback has returned once this returns */

  if (!pl.list_ok || !pl.finished || !pl.good)
    failed = 1;
  if (pl.callbacks != pl.accepted) {
    fprintf(stderr, "pipeline: %u callback(s) never came\n",
            pl.accepted - pl.callbacks);
    failed = 1;
  }
  printf("pipeline: %u jobs, %u callbacks: %s\n", pl.accepted, pl.callbacks,
         failed ? "FAILED" : "ok");
  free(pl.items);
  pthread_mutex_destroy(&pl.lock);
  return failed;
}
