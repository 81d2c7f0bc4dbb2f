/* SPDX-License-Identifier: MIT */
/* main.c - the `pacer` command: `pacer send JOBS.jsonl` streams job lines
 * into a dispatcher and writes one result line per job.
 *
 * Threads: the main thread reads and submits (blocking at the queue bound,
 * which bounds memory); the dispatcher's threads run the callbacks, which
 * write result lines under one lock; a signal thread turns SIGINT/SIGTERM
 * into a shutdown (the first finishes what was read, the second cancels);
 * a progress thread redraws the progress line when stderr is a terminal. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE (16u << 20) /* longest job line */

typedef struct app {
  cli_opts_t o;
  pacer_t *p;
  FILE *out;
  pthread_mutex_t lock; /* out, tally, stderr lines */
  cli_tally_t tally;
  int write_errno;    /* first error writing results */
  double last_flush;  /* when out was last flushed */
  double start;       /* when sending started */
  atomic_int signals; /* SIGINT/SIGTERM received */
  atomic_int first_signal;
  int wake[2];         /* the signal thread wakes the reader */
  atomic_ullong total; /* jobs in the input, when known */
  atomic_int total_known;
  int progress;          /* 1: draw the progress line */
  int progress_drawn;    /* a progress line is on the terminal */
  pthread_mutex_t plock; /* progress thread stop */
  pthread_cond_t pcond;
  int pstop;
} app_t;

static app_t app = {.lock = PTHREAD_MUTEX_INITIALIZER,
                    .plock = PTHREAD_MUTEX_INITIALIZER,
                    .pcond = PTHREAD_COND_INITIALIZER,
                    .wake = {-1, -1}};

typedef struct job_ctx {
  json_t *id;
  unsigned long line;
} job_ctx_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Under app.lock: erases the progress line before other stderr output. */
static void clear_progress_locked(void)
{
  if (app.progress_drawn) {
    fputs("\r\033[K", stderr);
    app.progress_drawn = 0;
  }
}

/* Writes one result line and counts its outcome. */
static void emit(char *line, const pacer_result_t *res, int code)
{
  pthread_mutex_lock(&app.lock);
  if (!line && !app.write_errno)
    app.write_errno = ENOMEM;
  if (line && !app.write_errno) {
    if (fputs(line, app.out) == EOF || putc('\n', app.out) == EOF)
      app.write_errno = errno ? errno : EIO;
  }
  cli_tally_add(&app.tally, res, code);
  double t = now_s();
  if (t - app.last_flush > 0.2) { /* a reader of the file sees progress */
    app.last_flush = t;
    if (fflush(app.out) == EOF && !app.write_errno)
      app.write_errno = errno ? errno : EIO;
  }
  pthread_mutex_unlock(&app.lock);
  free(line);
}

static void on_done(const pacer_result_t *r, void *user)
{
  job_ctx_t *j = user;
  emit(cli_result_line(j->id, j->line, r, 0, NULL, app.o.body), r, 0);
  json_decref(j->id);
  free(j);
}

static void emit_error(json_t *id, unsigned long line, int code,
                       const char *msg)
{
  emit(cli_result_line(id, line, NULL, code, msg, 0), NULL, code);
}

static void on_log(pacer_log_level_t level, const char *msg, void *user)
{
  (void)user;
  static const char *const names[] = {"error", "warning", "info", "debug"};
  pthread_mutex_lock(&app.lock);
  clear_progress_locked();
  fprintf(stderr, "pacer: %s: %s\n", names[level & 3], msg);
  pthread_mutex_unlock(&app.lock);
}

/* ---- signals ---- */

static void *signal_main(void *arg)
{
  sigset_t *set = arg;
  for (;;) {
    int sig;
    if (sigwait(set, &sig))
      continue;
    if (sig == SIGUSR1) /* the command is done */
      return NULL;
    int n = atomic_fetch_add(&app.signals, 1) + 1;
    if (n == 1) {
      atomic_store(&app.first_signal, sig);
      ssize_t w = write(app.wake[1], "x", 1);
      (void)w;
      pacer_shutdown(app.p, PACER_SHUTDOWN_FINISH);
      pthread_mutex_lock(&app.lock);
      clear_progress_locked();
      fprintf(stderr,
              "pacer: %s: no more jobs are read; finishing the ones "
              "in flight (again to cancel them)\n",
              sig == SIGINT ? "SIGINT" : "SIGTERM");
      pthread_mutex_unlock(&app.lock);
    } else {
      pacer_shutdown(app.p, PACER_SHUTDOWN_CANCEL);
    }
  }
}

/* ---- progress ---- */

/* Counts the non-blank lines of a regular file (the progress total). */
static void count_jobs(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  static char buf[1 << 16];
  unsigned long long n = 0;
  int blank = 1;
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < got; i++) {
      char c = buf[i];
      if (c == '\n') {
        n += !blank;
        blank = 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        blank = 0;
      }
    }
  }
  n += !blank;
  int ok = !ferror(f);
  fclose(f);
  if (ok) {
    atomic_store(&app.total, n);
    atomic_store(&app.total_known, 1);
  }
}

static void draw_progress(double *prev_t, uint64_t *prev_done, double *rate)
{
  pacer_stats_t *st = NULL;
  unsigned open = 0;
  if (pacer_stats_get(app.p, &st) == 0) {
    for (size_t i = 0; i < st->key_count; i++)
      open += st->keys[i].breaker != PACER_BREAKER_CLOSED;
    pacer_stats_free(st);
  }
  double t = now_s();
  pthread_mutex_lock(&app.lock);
  uint64_t done = app.tally.jobs, failed = cli_tally_failed(&app.tally);
  if (t - *prev_t >= 1.0) { /* the rate over about the last second */
    *rate = (double)(done - *prev_done) / (t - *prev_t);
    *prev_t = t;
    *prev_done = done;
  }
  char total[32] = "?", eta[32] = "?";
  if (atomic_load(&app.total_known)) {
    unsigned long long tot = atomic_load(&app.total);
    snprintf(total, sizeof total, "%llu", tot);
    if (*rate > 0 && tot >= done) {
      double s = (double)(tot - done) / *rate;
      snprintf(eta, sizeof eta, "%dm%02ds", (int)(s / 60), (int)s % 60);
    }
  }
  fprintf(stderr,
          "\r\033[Kpacer: %llu/%s done, %.1f/s, ETA %s, %llu failed, "
          "%u breakers open",
          (unsigned long long)done, total, *rate, eta,
          (unsigned long long)failed, open);
  app.progress_drawn = 1;
  pthread_mutex_unlock(&app.lock);
}

static void *progress_main(void *arg)
{
  (void)arg;
  if (strcmp(app.o.input, "-")) {
    struct stat sb;
    if (stat(app.o.input, &sb) == 0 && S_ISREG(sb.st_mode))
      count_jobs(app.o.input);
  }
  double prev_t = now_s(), rate = 0;
  uint64_t prev_done = 0;
  pthread_mutex_lock(&app.plock);
  while (!app.pstop) {
    pthread_mutex_unlock(&app.plock);
    draw_progress(&prev_t, &prev_done, &rate);
    pthread_mutex_lock(&app.plock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (!app.pstop)
      pthread_cond_timedwait(&app.pcond, &app.plock, &ts);
  }
  pthread_mutex_unlock(&app.plock);
  return NULL;
}

/* ---- reading and submitting ---- */

static int blank(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

/* Reads and submits every job. Returns 0, or -1 after a read error. */
static int send_all(int fd)
{
  cli_lines_t lr;
  if (cli_lines_init(&lr, fd, app.wake[0], MAX_LINE)) {
    fprintf(stderr, "pacer: out of memory\n");
    return -1;
  }
  unsigned long lineno = 0;
  int rc = 0;
  char err[512];
  while (!atomic_load(&app.signals)) {
    char *line;
    size_t len;
    int r = cli_lines_next(&lr, &line, &len);
    if (r == CLI_LINE_EOF || r == CLI_LINE_WOKEN)
      break;
    if (r == CLI_LINE_ERR) {
      pthread_mutex_lock(&app.lock);
      clear_progress_locked();
      fprintf(stderr, "pacer: reading %s: %s\n",
              strcmp(app.o.input, "-") ? app.o.input : "stdin",
              strerror(errno));
      pthread_mutex_unlock(&app.lock);
      rc = -1;
      break;
    }
    lineno++;
    if (r == CLI_LINE_LONG) {
      json_t *id = json_integer((json_int_t)lineno);
      snprintf(err, sizeof err, "line %lu: longer than %u bytes", lineno,
               MAX_LINE);
      emit_error(id, lineno, PACER_EINVAL, err);
      json_decref(id);
      continue;
    }
    if (blank(line, len))
      continue;
    cli_job_t job;
    if (cli_job_parse(&job, line, len, lineno, &app.o, err, sizeof err)) {
      emit_error(job.id, lineno, PACER_EINVAL, err);
      cli_job_clear(&job, 0);
      continue;
    }
    job_ctx_t *ctx = malloc(sizeof *ctx);
    int sr = PACER_ENOMEM;
    if (ctx) {
      ctx->id = job.id;
      ctx->line = lineno;
      sr = pacer_submit(app.p, &job.req, on_done, ctx, NULL);
    }
    if (sr) {
      if (sr == PACER_ESHUTDOWN)
        snprintf(err, sizeof err, "line %lu: not sent: interrupted", lineno);
      else
        snprintf(err, sizeof err, "line %lu: %s", lineno, pacer_strerror(sr));
      emit_error(job.id, lineno, sr, err);
      free(ctx);
      cli_job_clear(&job, 0);
      if (sr == PACER_ESHUTDOWN)
        break;
      continue;
    }
    cli_job_clear(&job, 1); /* the id now belongs to ctx */
  }
  cli_lines_free(&lr);
  return rc;
}

/* ---- main ---- */

static int usage_error(const char *msg)
{
  fprintf(stderr, "pacer: %s\n", msg);
  fprintf(stderr, "usage: pacer send [FLAGS] JOBS.jsonl|-  (pacer --help)\n");
  return CLI_EXIT_USAGE;
}

static int write_stats(const pacer_stats_t *st)
{
  char *json = NULL;
  if (pacer_stats_json(st, &json))
    return -1;
  FILE *f = fopen(app.o.stats_path, "w");
  int ok = f && fputs(json, f) != EOF && putc('\n', f) != EOF;
  if (f && fclose(f))
    ok = 0;
  free(json);
  if (!ok)
    fprintf(stderr, "pacer: --stats-json %s: %s\n", app.o.stats_path,
            strerror(errno));
  return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
  char err[1024];
  cli_opts_init(&app.o);
  if (cli_opts_parse(&app.o, argc, argv, err, sizeof err)) {
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  if (app.o.help) {
    cli_usage(stdout);
    cli_opts_free(&app.o);
    return 0;
  }
  if (app.o.version) {
    printf("pacer %s\n", pacer_version());
    cli_opts_free(&app.o);
    return 0;
  }

  int fd = 0;
  if (strcmp(app.o.input, "-")) {
    fd = open(app.o.input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(err, sizeof err, "%s: %s", app.o.input, strerror(errno));
      cli_opts_free(&app.o);
      return usage_error(err);
    }
  }
  app.out = stdout;
  if (app.o.out_path) {
    app.out = fopen(app.o.out_path, "w");
    if (!app.out) {
      snprintf(err, sizeof err, "--out %s: %s", app.o.out_path,
               strerror(errno));
      cli_opts_free(&app.o);
      return usage_error(err);
    }
  }
  static char outbuf[1 << 16];
  setvbuf(app.out, outbuf, _IOFBF, sizeof outbuf);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error */

  /* Every thread started from here on has the signals blocked; the signal
   * thread takes them with sigwait(). */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (pipe(app.wake)) {
    perror("pacer: pipe");
    return CLI_EXIT_FAILED;
  }

  app.o.cfg.log_cb = on_log;
  int rc = pacer_new(&app.o.cfg, &app.p);
  if (rc) {
    snprintf(err, sizeof err, "configuration: %s (%s)", pacer_strerror(rc),
             pacer_err_name(rc));
    cli_opts_free(&app.o);
    return usage_error(err);
  }
  pthread_t sig_thread, prog_thread;
  if (pthread_create(&sig_thread, NULL, signal_main, &set)) {
    fprintf(stderr, "pacer: cannot start a thread\n");
    pacer_free(app.p);
    return CLI_EXIT_FAILED;
  }
  app.progress = !app.o.quiet && isatty(2);
  if (app.progress && pthread_create(&prog_thread, NULL, progress_main, NULL))
    app.progress = 0;

  app.start = app.last_flush = now_s();
  int read_failed = send_all(fd) != 0;

  /* Finish what was accepted; a second signal cancels it (pacer_free then
   * aborts the transfers still in flight, each with its result line). */
  pacer_shutdown(app.p, PACER_SHUTDOWN_FINISH);
  while (pacer_drain(app.p, 100) == PACER_ETIMEDOUT &&
         atomic_load(&app.signals) < 2) {
  }
  double elapsed = now_s() - app.start;
  /* Both helper threads use app.p: stop them before it is freed. */
  if (app.progress) {
    pthread_mutex_lock(&app.plock);
    app.pstop = 1;
    pthread_cond_signal(&app.pcond);
    pthread_mutex_unlock(&app.plock);
    pthread_join(prog_thread, NULL);
  }
  pthread_kill(sig_thread, SIGUSR1);
  pthread_join(sig_thread, NULL);
  pacer_stats_t *st = NULL;
  if (pacer_stats_get(app.p, &st))
    st = NULL;
  pacer_free(app.p);

  pthread_mutex_lock(&app.lock);
  clear_progress_locked();
  if (fflush(app.out) == EOF && !app.write_errno)
    app.write_errno = errno ? errno : EIO;
  if (app.out != stdout && fclose(app.out) == EOF && !app.write_errno)
    app.write_errno = errno ? errno : EIO;
  pthread_mutex_unlock(&app.lock);
  if (app.write_errno)
    fprintf(stderr, "pacer: writing results%s%s: %s\n",
            app.o.out_path ? " to " : "", app.o.out_path ? app.o.out_path : "",
            strerror(app.write_errno));

  if (!app.o.quiet)
    cli_summary(stderr, &app.tally, st, elapsed);
  int stats_failed = app.o.stats_path && st && write_stats(st);
  pacer_stats_free(st);
  if (fd > 0)
    close(fd);
  close(app.wake[0]);
  close(app.wake[1]);

  int code = CLI_EXIT_OK;
  if (cli_tally_failed(&app.tally) || app.write_errno || read_failed ||
      stats_failed)
    code = CLI_EXIT_FAILED;
  int sig = atomic_load(&app.first_signal);
  if (sig)
    code = 128 + sig;
  cli_opts_free(&app.o);
  return code;
}
