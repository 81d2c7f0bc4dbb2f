/* SPDX-License-Identifier: MIT */
/* resume_handlers.c - a durable spool, named handlers and pacer_resume()
 * together: a run that is stopped part way loses no job, and the next run
 * finishes it.
 *
 * Jobs of two kinds go through one dispatcher with a spool: confirmations
 * (POST, high priority) ended by the handler "order.confirm", and report
 * fetches (GET, low priority) ended by "report.fetch". A job names its
 * handler instead of carrying a callback pointer, which a later process
 * could not use: that name and the job's tag (here its number) are what
 * the spool keeps, so the run that resumes it finds the code to call.
 *
 * The first run submits every job, then stops once about half have ended,
 * as a process that is told to stop would: pacer_free() ends the rest with
 * kept = 1, and they stay in the spool. The second run opens the same
 * spool, registers the same names (new callbacks, new user data: as a new
 * process would) and calls pacer_resume(), which sends what is left. Both
 * runs are in this one program so that it checks the outcome: every job
 * ended exactly once with kept = 0, and the spool is empty at the end.
 * (A real program runs them as two processes; kill -9 between them loses
 * nothing either: pacer resume, the command's, is that second run.)
 *
 * Build against the installed library:
 *
 *   cc resume_handlers.c $(pkg-config --cflags --libs pacer) -lpthread \
 *      -o resume_handlers
 *
 * and run it against pacer-mock on 127.0.0.1 (started with --port 0, which
 * prints the port it picked):
 *
 *   ./resume_handlers http://127.0.0.1:PORT [JOBS] [SPOOL.db]
 *
 * JOBS defaults to 200, sent at 400/s; SPOOL.db to a file in a new
 * temporary directory, removed at the end with its -wal, -shm and .lock
 * files. Exit status: 0 when every job ended once and successfully, 1 if
 * not, 2 for bad arguments. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JOBS 100000

/* One run's view of the jobs: what its callbacks saw. The callbacks run on
 * the dispatcher's threads, so everything here is under lock. */
typedef struct run {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  unsigned ended;      /* jobs that ended in this run (kept = 0) */
  unsigned kept;       /* jobs stopped in this run, left in the spool */
  unsigned failed;     /* ended without a 2xx or 3xx */
  unsigned char *seen; /* per job number: times it ended, over both runs */
  const char *name;
} run_t;

/* The job's number, from the tag submit gave it (4 bytes). */
static uint32_t job_number(const pacer_result_t *r)
{
  uint32_t n = UINT32_MAX;
  if (r->tag && r->tag_len == sizeof n)
    memcpy(&n, r->tag, sizeof n);
  return n;
}

/* What both handlers share: count the outcome. A kept job has not ended:
 * it stays in the spool and runs again in the next run. */
static void count(run_t *run, const pacer_result_t *r, const char *what)
{
  uint32_t n = job_number(r);
  pthread_mutex_lock(&run->lock);
  if (r->kept) {
    run->kept++;
  } else {
    run->ended++;
    if (n < MAX_JOBS && run->seen[n] < 255)
      run->seen[n]++;
    if (r->error || r->status >= 400) {
      run->failed++;
      fprintf(stderr, "%s: %s %u: %s\n", run->name, what, (unsigned)n,
              r->error ? pacer_err_name(r->error) : "HTTP error");
    }
  }
  pthread_cond_broadcast(&run->changed);
  pthread_mutex_unlock(&run->lock);
}

/* The handler "order.confirm": a confirmation's result. */
static void on_confirm(const pacer_result_t *r, void *user)
{
  count(user, r, "order.confirm");
}

/* The handler "report.fetch": a report's result. */
static void on_report(const pacer_result_t *r, void *user)
{
  count(user, r, "report.fetch");
}

/* A dispatcher on the spool, with both handlers registered for run. */
static int open_dispatcher(const char *spool, run_t *run, pacer_t **p)
{
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.rate = 400;
  cfg.burst = 4;
  cfg.concurrency = 8;
  cfg.spool_path = spool; /* copied */
  int rc = pacer_new(&cfg, p);
  if (rc) {
    fprintf(stderr, "%s: pacer_new: %s\n", run->name, pacer_strerror(rc));
    return -1;
  }
  if ((rc = pacer_register_handler(*p, "order.confirm", on_confirm, run)) ||
      (rc = pacer_register_handler(*p, "report.fetch", on_report, run))) {
    fprintf(stderr, "%s: pacer_register_handler: %s\n", run->name,
            pacer_strerror(rc));
    pacer_free(*p);
    return -1;
  }
  return 0;
}

/* The first run: submits every job, and stops once about half have ended.
 * Returns 0, or -1 when a job could not be submitted. */
static int first_run(const char *base, const char *spool, unsigned jobs,
                     run_t *run)
{
  pacer_t *p;
  if (open_dispatcher(spool, run, &p))
    return -1;
  for (uint32_t n = 0; n < jobs; n++) {
    char url[512];
    pacer_request_t req;
    pacer_request_init(&req);
    if (n % 2 == 0) { /* a confirmation */
      snprintf(url, sizeof url, "%s/orders/%u/confirm", base, (unsigned)n);
      req.method = "POST";
      req.body = "{\"confirmed\":true}";
      req.body_len = strlen(req.body);
      req.priority = PACER_PRIORITY_HIGH;
      req.handler = "order.confirm";
    } else { /* a report */
      snprintf(url, sizeof url, "%s/reports/%u?bytes=64", base, (unsigned)n);
      req.handler = "report.fetch";
    }
    req.url = url;
    req.tag = &n; /* copied, into the spool too */
    req.tag_len = sizeof n;
    /* No callback: the handler named in the request ends the job. */
    int rc = pacer_submit(p, &req, NULL, NULL, NULL);
    if (rc) {
      fprintf(stderr, "first run: submit %u: %s\n", (unsigned)n,
              pacer_strerror(rc));
      pacer_free(p);
      return -1;
    }
  }
  pthread_mutex_lock(&run->lock);
  while (run->ended < jobs / 2)
    pthread_cond_wait(&run->changed, &run->lock);
  pthread_mutex_unlock(&run->lock);
  /* Stopped part way: the jobs still queued or in flight end with kept = 1
   * and stay in the spool (in-flight ones are sent again, with the same
   * Idempotency-Key header, so a server can tell). */
  pacer_free(p);
  return 0;
}

/* The second run: the same handler names, then pacer_resume(). */
static int second_run(const char *spool, run_t *run, uint64_t *loaded,
                      uint64_t *in_flight)
{
  pacer_t *p;
  if (open_dispatcher(spool, run, &p))
    return -1;
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  int rc = pacer_resume(p, &info); /* after registering the handlers */
  if (rc) {
    fprintf(stderr, "second run: pacer_resume: %s\n", pacer_strerror(rc));
    pacer_free(p);
    return -1;
  }
  *loaded = info.loaded;
  *in_flight = info.in_flight;
  if (info.no_handler)
    fprintf(stderr, "second run: %llu jobs name no registered handler\n",
            (unsigned long long)info.no_handler);
  pacer_drain(p, -1); /* every resumed job ends here */
  pacer_free(p);
  return 0;
}

static void remove_spool(const char *spool)
{
  static const char *const suffix[] = {"", "-wal", "-shm", ".lock"};
  for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
    char f[4200];
    snprintf(f, sizeof f, "%s%s", spool, suffix[i]);
    unlink(f);
  }
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 4 || strncmp(argv[1], "http", 4)) {
    fprintf(stderr, "usage: resume_handlers http://127.0.0.1:PORT [JOBS] "
                    "[SPOOL.db]\n");
    return 2;
  }
  const char *base = argv[1];
  unsigned jobs = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200;
  if (jobs < 2 || jobs > MAX_JOBS) {
    fprintf(stderr, "resume_handlers: JOBS is 2..%d\n", MAX_JOBS);
    return 2;
  }
  char dir[] = "/tmp/resume_handlers.XXXXXX", spool[4096];
  if (argc > 3) {
    snprintf(spool, sizeof spool, "%s", argv[3]);
    dir[0] = 0;
  } else if (mkdtemp(dir)) {
    snprintf(spool, sizeof spool, "%s/jobs.db", dir);
  } else {
    perror("resume_handlers: mkdtemp");
    return 1;
  }
  unsigned char *seen = calloc(jobs, 1);
  if (!seen)
    return 1;
  run_t one = {PTHREAD_MUTEX_INITIALIZER,
               PTHREAD_COND_INITIALIZER,
               0,
               0,
               0,
               seen,
               "first run"};
  run_t two = {PTHREAD_MUTEX_INITIALIZER,
               PTHREAD_COND_INITIALIZER,
               0,
               0,
               0,
               seen,
               "second run"};
  uint64_t loaded = 0, in_flight = 0;
  int rc = first_run(base, spool, jobs, &one);
  if (rc == 0) {
    printf("first run: %u jobs submitted, %u ended, %u stopped and kept in "
           "the spool\n",
           jobs, one.ended, one.kept);
    pacer_spool_status_t st;
    pacer_spool_status_init(&st);
    if (pacer_spool_status(spool, &st) == 0)
      printf("spool: %llu queued, %llu waiting, %llu in flight\n",
             (unsigned long long)st.queued, (unsigned long long)st.waiting,
             (unsigned long long)st.in_flight);
    rc = second_run(spool, &two, &loaded, &in_flight);
  }
  if (rc == 0)
    printf("second run: %llu jobs resumed (%llu had been in flight), %u "
           "ended\n",
           (unsigned long long)loaded, (unsigned long long)in_flight,
           two.ended);

  /* The check: each job ended exactly once, over both runs, and the spool
   * holds nothing more. */
  unsigned once = 0, twice = 0;
  for (unsigned n = 0; n < jobs; n++) {
    once += seen[n] == 1;
    twice += seen[n] > 1;
  }
  pacer_spool_status_t st;
  pacer_spool_status_init(&st);
  int left = pacer_spool_status(spool, &st) != 0 ||
             st.queued + st.waiting + st.in_flight > 0;
  int ok = rc == 0 && once == jobs && !twice && !left && !one.failed &&
           !two.failed && one.kept == loaded;
  printf("%u of %u jobs ended exactly once (%u more than once, %u failed); "
         "the spool %s\n",
         once, jobs, twice, one.failed + two.failed,
         left ? "still holds jobs" : "is empty");
  free(seen);
  if (dir[0]) {
    remove_spool(spool);
    rmdir(dir);
  }
  return ok ? 0 : 1;
}
