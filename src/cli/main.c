/* SPDX-License-Identifier: MIT */
/* main.c - the `pacer` command: `pacer send JOBS.jsonl` streams job lines
 * into a dispatcher and writes one result line per job; `pacer resume` and
 * `pacer status` take up a spool; `pacer check` (and send --dry-run)
 * checks a job file and sends nothing (check.c).
 *
 * This file holds the steps of one run, in order: options, checks and
 * files (prepare), the dispatcher and the helper threads (start), reading
 * (send.c, resume.c), the drain and the report (finish); and the one
 * cleanup path every exit goes through (cleanup). The threads are in
 * app.h. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static app_t app = CLI_APP_INIT;

static int usage_error(const char *msg)
{
  fprintf(stderr, "pacer: %s\n", msg);
  fprintf(stderr, "usage: pacer send [FLAGS] JOBS.jsonl|-  (pacer --help)\n");
  return CLI_EXIT_USAGE;
}

/* ---- prepare: checks and files, before anything is sent ---- */

/* pacer send --spool: a spool that holds an unfinished run is refused. */
static int check_fresh_spool(app_t *a, char *err, size_t errlen)
{
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  if (pacer_spool_status(a->o.spool_path, &ss) == 0 &&
      (ss.queued + ss.waiting + ss.in_flight > 0 ||
       (ss.mark[0] && !strstr(ss.mark, "\"complete\":true")))) {
    snprintf(err, errlen,
             "--spool %s holds an unfinished run (%llu jobs left): finish "
             "it with pacer resume, or use another spool",
             a->o.spool_path,
             (unsigned long long)ss.queued + ss.waiting + ss.in_flight);
    return -1;
  }
  return 0;
}

/* pacer send: the job file (its absolute path for the spool's mark). */
static int open_input(app_t *a, char *err, size_t errlen)
{
  if (!strcmp(a->o.input, "-") || a->in_fd >= 0)
    return 0; /* stdin, or --strict's copy of a pipe */
  if (!realpath(a->o.input, a->input_path))
    snprintf(a->input_path, sizeof a->input_path, "%s", a->o.input);
  a->in_fd = open(a->o.input, O_RDONLY | O_CLOEXEC);
  if (a->in_fd < 0) {
    snprintf(err, errlen, "%s: %s", a->o.input, strerror(errno));
    return -1;
  }
  return 0;
}

/* pacer resume: appends after the lines already written (a torn last one
 * cut). Returns the stream, or NULL with why set. */
static FILE *open_resumed_out(app_t *a, char *why, size_t cap)
{
  int ofd = open(a->o.out_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  struct stat sb;
  if (ofd < 0) {
    snprintf(why, cap, "%s", strerror(errno));
    return NULL;
  }
  if (fstat(ofd, &sb) == 0 && !S_ISREG(sb.st_mode))
    ; /* a device or a pipe: nothing to read back (/dev/full reads zeros) */
  else if (cli_scan_written(a, ofd, why, cap)) {
    close(ofd);
    return NULL;
  }
  FILE *f = fdopen(ofd, "a");
  if (!f) {
    snprintf(why, cap, "%s", strerror(errno));
    close(ofd);
  }
  return f;
}

static int open_output(app_t *a, int resume, char *err, size_t errlen)
{
  char why[256] = "";
  if (!a->o.out_path) {
    a->out = stdout;
    return 0;
  }
  a->out =
      resume ? open_resumed_out(a, why, sizeof why) : fopen(a->o.out_path, "w");
  if (!a->out) {
    snprintf(err, errlen, "--out %s: %s", a->o.out_path,
             why[0] ? why : strerror(errno));
    return -1;
  }
  return 0;
}

/* Everything that can refuse the run as a usage error, in this order: the
 * spool and its settings (pacer resume), the input, the output. Storing
 * the settings takes the spool's lock: resume stores first, so that a
 * spool in use is refused before the output (another run's) is touched. */
static int prepare(app_t *a, int resume, int argc, char **argv, char *err,
                   size_t errlen)
{
  a->spooled = a->o.spool_path != NULL;
  /* cli_opts_parse() refused resume without --spool. */
  if (resume && (!a->spooled || access(a->o.spool_path, F_OK))) {
    snprintf(err, errlen,
             "--spool %s: %s (pacer resume continues a run of pacer send "
             "--spool)",
             a->o.spool_path, strerror(errno));
    return -1;
  }
  if (resume && cli_resume_settings(a, argc, argv, err, errlen))
    return -1;
  if (a->spooled && !resume && check_fresh_spool(a, err, errlen))
    return -1;
  snprintf(a->input_path, sizeof a->input_path, "-");
  if (!resume && open_input(a, err, errlen))
    return -1;
  if (resume && cli_store_settings(a, err, errlen))
    return -1;
  if (open_output(a, resume, err, errlen))
    return -1;
  if (a->spooled && !resume && cli_store_settings(a, err, errlen))
    return -1;
  return 0;
}

/* ---- start: the dispatcher and the helper threads ---- */

/* Returns 0, or the exit code of a failure (said on stderr). */
static int start(app_t *a)
{
  static char outbuf[1 << 16];
  char err[1024];
  setvbuf(a->out, outbuf, _IOFBF, sizeof outbuf);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error */
  signal(SIGXFSZ, SIG_IGN); /* so is a file size limit (EFBIG) */
  /* Every thread started from here on has the signals blocked; the signal
   * thread takes them with sigwait(). */
  cli_signals_block(a);
  if (pipe(a->wake)) {
    perror("pacer: pipe");
    a->wake[0] = a->wake[1] = -1;
    return CLI_EXIT_FAILED;
  }
  a->o.cfg.log_cb = cli_on_log;
  a->o.cfg.log_user = a;
  if (a->o.verbose && a->o.cfg.log_level < PACER_LOG_INFO)
    a->o.cfg.log_level = PACER_LOG_INFO;
  if (a->o.events_path) {
    a->events = fopen(a->o.events_path, "a");
    if (!a->events) { /* before anything is sent */
      snprintf(err, sizeof err, "--events %s: %s", a->o.events_path,
               strerror(errno));
      return usage_error(err);
    }
    setvbuf(a->events, NULL, _IOLBF, 0);
  }
  if (a->o.verbose || a->events) {
    a->o.cfg.event_cb = cli_on_event;
    a->o.cfg.event_user = a;
  }
  /* A shared store's return after an outage is logged at INFO: a user who
   * saw it lost must also see it back (-q keeps warnings only). */
  if (a->o.cfg.shared_limit && !a->o.quiet &&
      a->o.cfg.log_level < PACER_LOG_INFO)
    a->o.cfg.log_level = PACER_LOG_INFO;
  int rc = pacer_new(&a->o.cfg, &a->p);
  if (rc) {
    snprintf(err, sizeof err, "%s: %s (%s)",
             a->spooled ? "--spool" : "configuration", pacer_strerror(rc),
             pacer_err_name(rc));
    return usage_error(err);
  }
  if (a->spooled &&
      (rc = pacer_register_handler(a->p, CLI_HANDLER, cli_on_spooled, a))) {
    fprintf(stderr, "pacer: %s\n", pacer_strerror(rc));
    return CLI_EXIT_FAILED;
  }
  if (cli_metrics_start(a, err, sizeof err))
    return usage_error(err);
  if (cli_signals_start(a)) {
    fprintf(stderr, "pacer: cannot start a thread\n");
    return CLI_EXIT_FAILED;
  }
  cli_progress_start(a);
  return 0;
}

/* ---- finish: drain, report, exit code ---- */

/* The files of a spool: the database, SQLite's write-ahead log and its
 * index, a rollback journal, and the dispatcher's lock (src/spool.c). */
static const char *const spool_files[] = {"", "-wal", "-shm", "-journal",
                                          ".lock"};

/* Removes every file of the spool at path. Returns 0, or -1 with the
 * failure said on stderr (a file that is not there is not one). */
static int remove_spool(const char *path)
{
  int rc = 0;
  for (size_t i = 0; i < sizeof spool_files / sizeof spool_files[0]; i++) {
    char f[CLI_INPUT_PATH_MAX + 16];
    snprintf(f, sizeof f, "%s%s", path, spool_files[i]);
    if (unlink(f) && errno != ENOENT) {
      fprintf(stderr, "pacer: --spool-remove-when-done: %s: %s\n", f,
              strerror(errno));
      rc = -1;
    }
  }
  return rc;
}

/* The end of a spooled run that was not stopped (nothing left in the
 * spool for pacer resume): with --spool-remove-when-done, the spool goes
 * when every job succeeded and stays, said, when some failed; without it,
 * a run whose every job succeeded says the spool can go. */
static void finish_spool(app_t *a, int code)
{
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  if (!a->spooled || a->kept || a->write_errno ||
      pacer_spool_status(a->o.spool_path, &ss) ||
      ss.queued + ss.waiting + ss.in_flight > 0)
    return; /* pacer resume has work there (the report said so) */
  uint64_t failed = cli_tally_failed(&a->tally);
  if (code != CLI_EXIT_OK) {
    if (a->o.spool_remove && failed)
      fprintf(stderr,
              "pacer: %llu jobs failed: the spool %s is kept "
              "(--spool-remove-when-done removes it only when every job "
              "succeeded)\n",
              (unsigned long long)failed, a->o.spool_path);
    else if (a->o.spool_remove)
      fprintf(stderr,
              "pacer: the run did not end cleanly: the spool %s is kept\n",
              a->o.spool_path);
    return;
  }
  if (!a->o.spool_remove) {
    if (!a->o.quiet)
      fprintf(stderr,
              "pacer: every job succeeded: the spool %s is no longer "
              "needed (--spool-remove-when-done removes it)\n",
              a->o.spool_path);
    return;
  }
  if (remove_spool(a->o.spool_path) == 0 && !a->o.quiet)
    fprintf(stderr, "pacer: every job succeeded: removed the spool %s\n",
            a->o.spool_path);
}

/* Finishes what was accepted (after a first signal only what is in flight;
 * a second aborts that, a third stops waiting: pacer_free() then ends
 * whatever is left, each job with its result line), stops
 * the helper threads and the metrics, and reports (--metrics-file gets the
 * final snapshot). Returns the exit code. */
static int finish(app_t *a, int read_failed)
{
  pacer_shutdown(a->p, PACER_SHUTDOWN_FINISH);
  while (pacer_drain(a->p, 100) == PACER_ETIMEDOUT &&
         atomic_load(&a->signals) < 3) {
  }
  double elapsed = cli_now_s() - a->start;
  /* Both helper threads use a->p: stop them before it is freed. */
  cli_progress_stop(a);
  cli_signals_stop(a);
  cli_metrics_stop(a);
  pacer_stats_t *st = NULL;
  if (pacer_stats_get(a->p, &st))
    st = NULL;
  pacer_free(a->p);
  a->p = NULL;
  if (a->events && fclose(a->events) == EOF)
    fprintf(stderr, "pacer: --events %s: %s\n", a->o.events_path,
            strerror(errno));
  a->events = NULL;

  pthread_mutex_lock(&a->lock);
  cli_clear_progress_locked(a);
  if (fflush(a->out) == EOF && !a->write_errno)
    a->write_errno = errno ? errno : EIO;
  if (a->out != stdout && fclose(a->out) == EOF && !a->write_errno)
    a->write_errno = errno ? errno : EIO;
  a->out = NULL;
  pthread_mutex_unlock(&a->lock);
  cli_report(a, st, elapsed);
  int stats_failed = a->o.stats_path && st && cli_write_stats(a, st);
  if (a->o.metrics_file && st && cli_metrics_final(a, st))
    stats_failed = 1;
  pacer_stats_free(st);

  int code = CLI_EXIT_OK;
  if (cli_tally_failed(&a->tally) || a->write_errno || read_failed ||
      stats_failed)
    code = CLI_EXIT_FAILED;
  int sig = atomic_load(&a->first_signal);
  if (!sig && !read_failed)
    finish_spool(a, code);
  return sig ? 128 + sig : code;
}

/* The one cleanup path: releases whatever the run got as far as having. */
static void cleanup(app_t *a)
{
  cli_progress_stop(a);
  cli_signals_stop(a);
  cli_metrics_stop(a);
  pacer_free(a->p);
  a->p = NULL;
  if (a->events)
    fclose(a->events);
  a->events = NULL;
  if (a->out && a->out != stdout)
    fclose(a->out);
  a->out = NULL;
  if (a->in_fd >= 0)
    close(a->in_fd);
  for (int i = 0; i < 2; i++)
    if (a->wake[i] >= 0)
      close(a->wake[i]);
  free(a->written);
  cli_opts_free(&a->o);
}

/* The hidden actions the build runs to write the man page and the
 * completions from the option table (docgen.c): `pacer --help-man`,
 * `pacer --help-completion bash|zsh`. Returns 1 when argv is one of them,
 * with the exit code in *code. */
static int doc_action(int argc, char **argv, int *code)
{
  if (argc == 2 && !strcmp(argv[1], "--help-man")) {
    cli_man(stdout);
  } else if (argc == 3 && !strcmp(argv[1], "--help-completion")) {
    if (cli_completion(stdout, argv[2])) {
      fprintf(stderr, "pacer: --help-completion: bash or zsh, not '%s'\n",
              argv[2]);
      *code = CLI_EXIT_USAGE;
      return 1;
    }
  } else {
    return 0;
  }
  *code =
      fflush(stdout) == EOF || ferror(stdout) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
  return 1;
}

static int command(app_t *a, int argc, char **argv)
{
  char err[1024];
  int code;
  if (doc_action(argc, argv, &code))
    return code;
  cli_opts_init(&a->o);
  if (cli_opts_parse(&a->o, argc, argv, err, sizeof err))
    return usage_error(err);
  if (a->o.help) {
    cli_usage(stdout);
    return CLI_EXIT_OK;
  }
  if (a->o.version) {
    printf("pacer %s\n", pacer_version());
    return CLI_EXIT_OK;
  }
  if (!strcmp(a->o.command, "status"))
    return cli_cmd_status(a);
  if (!strcmp(a->o.command, "check") || a->o.dry_run)
    return cli_cmd_check(a);
  int resume = !strcmp(a->o.command, "resume");
  cli_source_t src; /* --body-template is read before anything is opened */
  if (cli_source_init(&src, &a->o, err, sizeof err)) {
    cli_source_free(&src);
    return usage_error(err);
  }
  cli_source_free(&src);
  /* --strict: the whole input is checked before anything is opened. */
  if (!resume && a->o.strict && cli_strict_check(a, err, sizeof err)) {
    fprintf(stderr, "pacer: %s\n", err);
    return CLI_EXIT_USAGE;
  }
  if (prepare(a, resume, argc, argv, err, sizeof err))
    return usage_error(err);
  code = start(a);
  if (code)
    return code;
  a->start = a->last_flush = cli_now_s();
  int read_failed =
      resume ? cli_resume_jobs(a) != 0
             : cli_send_all(a, a->in_fd >= 0 ? a->in_fd : 0, 0, 0) != 0;
  return finish(a, read_failed);
}

int main(int argc, char **argv)
{
  /* The character type of the user's locale, so that libcurl can turn an
   * international host name (UTF-8) into its punycode form. Only LC_CTYPE:
   * numbers in job lines and result lines stay in the C locale's format. */
  setlocale(LC_CTYPE, "");
  int code = command(&app, argc, argv);
  cleanup(&app);
  return code;
}
