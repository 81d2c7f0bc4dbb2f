/* SPDX-License-Identifier: MIT */
/* app.h - one run of the `pacer` command, as its modules share it: main.c
 * (the run's steps and its one cleanup path), output.c (result lines, the
 * callbacks, messages and the end report), send.c (reading and submitting
 * job lines), resume.c (pacer resume and pacer status), progress.c and
 * signals.c (the two helper threads).
 *
 * Threads: the main thread reads and submits (blocking at the queue bound,
 * which bounds memory); the dispatcher's threads run the callbacks, which
 * write result lines under app_t.lock; the signal thread turns
 * SIGINT/SIGTERM into a shutdown (the first starts no more jobs and lets
 * those in flight finish, the second aborts them); the progress thread
 * draws the progress (--progress). Both helper threads use app_t.p: they are
 * stopped before it is freed. */
#ifndef PACER_CLI_APP_H
#define PACER_CLI_APP_H

#include "cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define CLI_MAX_LINE (16u << 20) /* longest job line */
#define CLI_HANDLER "pacer.send" /* the spooled jobs' handler */
#define CLI_INPUT_PATH_MAX 4096

typedef struct app {
  cli_opts_t o;
  pacer_t *p;
  FILE *out;            /* result lines; NULL before it is opened */
  FILE *events;         /* --events; written by the event callback only */
  int in_fd;            /* the job file opened by the command, or -1 */
  pthread_mutex_t lock; /* out, tally, the counts below, stderr lines */
  cli_tally_t tally;
  int write_errno;         /* first error writing results */
  double last_flush;       /* when out was last flushed */
  double start;            /* when sending started */
  atomic_int signals;      /* SIGINT/SIGTERM received */
  atomic_int write_failed; /* spooled: a result line could not be written */
  atomic_int first_signal;
  int wake[2];         /* the signal thread wakes the reader; -1: none */
  atomic_ullong total; /* jobs in the input, when known */
  atomic_int total_known;
  int spooled;            /* --spool: jobs carry their id and line as a tag */
  unsigned char *written; /* resume: bitmap of lines already in --out */
  size_t written_bits;
  uint64_t kept, skipped; /* left in the spool; reported before a restart */
  uint64_t nomem;         /* job lines not sent for lack of memory */
  /* Jobs that ended PACER_ECANCELED (a signal's shutdown), before any
   * attempt or after one (aborted, or not retried); under lock, for the
   * report. */
  uint64_t cancelled_unstarted, cancelled_stopped;
  char input_path[CLI_INPUT_PATH_MAX]; /* absolute, for the spool's mark */
  /* The helper threads. */
  sigset_t sigs; /* blocked in every thread; the signal thread takes them */
  pthread_t sig_thread, prog_thread;
  int sig_started;
  int progress;          /* 1: the progress thread runs (--progress) */
  int progress_style;    /* progress.c: where and how it writes */
  int progress_drawn;    /* a progress line is on the terminal (under lock) */
  pthread_mutex_t plock; /* progress thread stop */
  pthread_cond_t pcond;
  int pstop;
  /* Metrics (metrics.c): the HTTP server and the file's thread. */
  struct MHD_Daemon *metrics_daemon; /* NULL: not serving */
  pthread_t metrics_thread;
  int metrics_started;
  pthread_mutex_t mlock; /* metrics thread stop */
  pthread_cond_t mcond;
  int mstop;
} app_t;

/* A new app_t's initializer: nothing open, nothing started. */
#define CLI_APP_INIT                                                           \
  {                                                                            \
    .in_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER,                            \
    .plock = PTHREAD_MUTEX_INITIALIZER, .pcond = PTHREAD_COND_INITIALIZER,     \
    .mlock = PTHREAD_MUTEX_INITIALIZER, .mcond = PTHREAD_COND_INITIALIZER,     \
    .wake = {                                                                  \
      -1,                                                                      \
      -1                                                                       \
    }                                                                          \
  }

/* ---- output.c: result lines, callbacks, messages ---- */

/* Monotonic seconds. Any thread. */
double cli_now_s(void);

/* n with a comma between groups of three digits ("4,245"), into buf of cap
 * bytes (32 hold any); returns buf. Any thread. */
const char *cli_grouped(uint64_t n, char *buf, size_t cap);

/* Writes a message line (fmt has its "pacer: " and "\n") to stderr under
 * a->lock, erasing the progress line first. Any thread. */
void cli_say(app_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Under a->lock: erases the progress line before other stderr output. */
void cli_clear_progress_locked(app_t *a);

/* Writes the result line of a job (cli_result_append() says what id, line,
 * res, code, message and flags give) and counts its outcome (res, or
 * code for a job never accepted). Returns 0, or -1 when it could not be
 * written (out of memory counts as a write error). Any thread. */
int cli_emit(app_t *a, json_t *id, unsigned long line,
             const pacer_result_t *res, int code, const char *message,
             unsigned flags);
/* The result line of a job line that was never accepted. */
void cli_emit_error(app_t *a, json_t *id, unsigned long line, int code,
                    const char *msg);
/* The result line of a job line not sent for lack of memory; counted for
 * the report. */
void cli_emit_nomem(app_t *a, json_t *id, unsigned long line);

/* 1 if line already has its result line in --out (pacer resume). */
int cli_line_written(const app_t *a, unsigned long line);

/* The tag of a job submitted without a spool: its line number (8 bytes, as
 * this process writes a uint64_t) and then its id as the result line
 * writes it. The callback writes the line from the library's copy of it,
 * so nothing allocated by the reading thread is kept for, or freed on, the
 * dispatcher's threads. Returns 0, or -1 out of memory. */
int cli_plain_tag(cli_buf_t *b, json_t *id, unsigned long line);
/* pacer_done_cb of a job without a spool (user: the app_t; the tag is
 * cli_plain_tag()'s). */
void cli_on_done(const pacer_result_t *r, void *user);
/* The handler of spooled jobs (user: the app_t); the tag is [line, id]. */
void cli_on_spooled(const pacer_result_t *r, void *user);
/* pacer_event_cb (user: the app_t): --verbose and --events. */
void cli_on_event(const pacer_event_t *ev, void *user);
/* pacer_log_cb (user: the app_t). */
void cli_on_log(pacer_log_level_t level, const char *msg, void *user);

/* Writes the end of a run on stderr: write errors, lines not sent for lack
 * of memory, the summary (st may be NULL), jobs kept in the spool. */
void cli_report(app_t *a, const pacer_stats_t *st, double elapsed);
/* --stats-json: writes st there. Returns 0, or -1 with a message said. */
int cli_write_stats(app_t *a, const pacer_stats_t *st);

/* ---- send.c: reading and submitting ---- */

/* Reads jobs from fd, whose next line is number lineno + 1 at input offset
 * base (a resumed import starts where the spool's mark says), and submits
 * each, one spool transaction per batch when spooled. Every line that is
 * not sent gets its result line. Returns 0, or -1 after a read error or
 * when the end of the input could not be recorded in the spool. */
int cli_send_all(app_t *a, int fd, unsigned long lineno, uint64_t base);

/* Why submit refused r with rc, for its result line: the header at fault
 * by name, the spool's limit in words, else the code's message (in buf of
 * cap bytes, or static). */
const char *cli_refusal(const pacer_request_t *r, int rc, char *buf,
                        size_t cap);

/* ---- check.c: pacer check, send --dry-run and send --strict ---- */

typedef struct cli_check_key {
  char *name; /* NULL: a free slot */
  uint64_t jobs;
} cli_check_key_t;

/* The counts of a check. Main thread only. */
typedef struct cli_check {
  uint64_t lines, jobs, bad;
  uint64_t by_prio[2];   /* [0] low, [1] high */
  cli_check_key_t *keys; /* open addressing, cap slots */
  size_t nkeys, cap;
  uint64_t other_jobs;    /* jobs of keys past the bound */
  FILE *bad_out;          /* each bad line is written here; NULL: not */
  const char *bad_prefix; /* before each ("pacer: " on stderr) */
  int keep_errors;        /* keep bad lines for --json (bounded) */
  json_t *errors;         /* [{line, error}] */
} cli_check_t;

/* The time a run takes at least, by each limit (0: no such limit). */
typedef struct cli_estimate {
  double rate_s, key_rate_s, concurrency_s, key_concurrency_s;
  double total_s;      /* the slowest of them */
  const char *slowest; /* its flag's name */
} cli_estimate_t;

void cli_check_init(cli_check_t *c);
void cli_check_free(cli_check_t *c);
/* Counts a bad line (why names it) and reports it. */
void cli_check_bad(cli_check_t *c, unsigned long lineno, const char *why);
/* Checks one job line (numbered lineno) as send would check it; counts it
 * by priority and key. Returns 0, or -1 with the reason (naming the line)
 * in err; the caller counts it with cli_check_bad(). */
int cli_check_job(cli_check_t *c, const char *job, size_t len,
                  unsigned long lineno, const cli_opts_t *o, char *err,
                  size_t errlen);
/* Reads fd to its end through the job source, checking every line.
 * Returns 0, or -1 with a message in err (read error, --body-template). */
int cli_check_fd(cli_check_t *c, int fd, const cli_opts_t *o, char *err,
                 size_t errlen);
void cli_check_estimate(const cli_check_t *c, const cli_opts_t *o,
                        cli_estimate_t *e);
/* The summary: text, or one JSON object. */
void cli_check_report(FILE *f, const cli_check_t *c, const cli_opts_t *o,
                      int json);
/* pacer check and send --dry-run. Returns the exit code: 0 all good, 1 a
 * bad line, 2 the input cannot be read. */
int cli_cmd_check(app_t *a);
/* send --strict, before anything is opened or sent: checks the whole
 * input (stdin or any input that is not a regular file copied to an
 * unlinked temporary file first, a->in_fd then reads it) and returns 0, or -1
 * with a message in err when a line is bad (each said on stderr) or the input
 * cannot be read. */
int cli_strict_check(app_t *a, char *err, size_t errlen);

/* ---- resume.c: pacer status and pacer resume ---- */

/* pacer status: prints the spool's counts. Returns the exit code. */
int cli_cmd_status(app_t *a);

/* pacer resume: the run's settings from the spool, and on top of them the
 * flags given now (argv), each change said on stderr; the run's --out
 * unless one is given, and another one only with --allow-out-change.
 * Replaces a->o. Returns 0, or -1 with err set (a usage error). */
int cli_resume_settings(app_t *a, int argc, char **argv, char *err,
                        size_t errlen);

/* Stores the run's settings and its output in the spool, before the
 * dispatcher opens it. Returns 0, or -1 with err set. */
int cli_store_settings(app_t *a, char *err, size_t errlen);

/* pacer resume: notes the line of every complete result line already in
 * the --out file fd, and cuts a line the crash left half written. Returns
 * 0, or -1 with err set. */
int cli_scan_written(app_t *a, int fd, char *err, size_t errlen);

/* pacer resume, once the dispatcher runs: takes up the spooled jobs, then
 * reads the rest of an import the crash stopped. Returns 0, or -1 when a
 * part failed (said on stderr). */
int cli_resume_jobs(app_t *a);

/* ---- metrics.c: --metrics-listen and --metrics-file ---- */

/* Once the dispatcher runs: binds --metrics-listen and serves /metrics
 * (the address is said on stderr unless --quiet, and always for port 0),
 * and writes --metrics-file a first time and then every
 * --metrics-interval. Returns 0, or -1 with err set (nothing started that
 * cli_metrics_stop() would not stop). */
int cli_metrics_start(app_t *a, char *err, size_t errlen);
/* Stops the server and the file's thread; a no-op for what did not start.
 * Before a->p is freed. */
void cli_metrics_stop(app_t *a);
/* Writes --metrics-file from the final snapshot st. Returns 0, or -1 with
 * a message said. */
int cli_metrics_final(app_t *a, const pacer_stats_t *st);

/* ---- progress.c and signals.c: the helper threads ---- */

/* Starts the progress thread as --progress (and -q) say: a line redrawn
 * on a terminal, or plain or JSON lines every --progress-interval. */
void cli_progress_start(app_t *a);
/* Stops and joins it; a no-op when it did not start. */
void cli_progress_stop(app_t *a);

/* Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread, so in every
 * thread it starts from then on. */
void cli_signals_block(app_t *a);
/* Starts the signal thread. Returns 0 or -1. */
int cli_signals_start(app_t *a);
/* Stops and joins it; a no-op when it did not start. */
void cli_signals_stop(app_t *a);

#endif
