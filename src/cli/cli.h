/* SPDX-License-Identifier: MIT */
/* cli.h - the pieces of the `pacer` command, each testable alone: options
 * (flags and --config), job lines (JSON in), result lines (JSON out), the
 * line reader and the summary. */
#ifndef PACER_CLI_H
#define PACER_CLI_H

#include <jansson.h>
#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of the command. */
enum {
  CLI_EXIT_OK = 0,     /* every job succeeded */
  CLI_EXIT_FAILED = 1, /* some job failed, or results could not be written */
  CLI_EXIT_USAGE = 2   /* bad flag, config key or value; nothing was sent */
};

/* ---- options ------------------------------------------------------------ */

typedef struct cli_opts {
  pacer_config_t cfg;      /* the dispatcher's settings */
  const char *command;     /* "send"; borrowed from argv */
  const char *input;       /* job file or "-" (stdin); borrowed */
  char *out_path;          /* --out; NULL: stdout */
  char *stats_path;        /* --stats-json */
  char *config_path;       /* --config */
  char *ca_file;           /* --ca-file (cfg.ca_file points here) */
  char *spool_path;        /* --spool (cfg.spool_path points here) */
  pacer_header_t *headers; /* --header, added to every job; owned */
  size_t header_count;
  int64_t deadline_ms;   /* --deadline: each job's default deadline; 0 none */
  int body;              /* --body: results carry the response */
  int quiet;             /* --quiet: no progress line, no summary */
  int allow_out_change;  /* --allow-out-change: resume may write elsewhere */
  int help, version;     /* --help, --version */
  int headers_from_base; /* headers came from cli_opts_apply_settings(): a
                            --header given later replaces them */
} cli_opts_t;

/* Fills o with the command's defaults (the library's, except a queue bound
 * of 10000 jobs so memory stays bounded on any input). */
void cli_opts_init(cli_opts_t *o);
/* Frees what cli_opts_parse() allocated; o can be parsed again after init. */
void cli_opts_free(cli_opts_t *o);

/* Parses argv (argv[0] is the program): the command (send, resume,
 * status), then flags and the input in any order; --config FILE is read
 * first and flags override it.
 * Returns 0, or -1 with a message naming the flag or key in err. */
int cli_opts_parse(cli_opts_t *o, int argc, char **argv, char *err,
                   size_t errlen);

/* The settings of a spooled run that pacer resume uses again: every flag
 * that shapes how jobs are sent and what result lines say (limits, retries,
 * breaker, transport, added headers, --deadline, --body, spool settings),
 * as a JSON object in the form of a --config file. Not --out (the command
 * keeps it apart, as an absolute path), --config (its keys are in here),
 * --quiet or --stats-json. Returns a new reference, NULL on out of memory. */
json_t *cli_opts_settings(const cli_opts_t *o);

/* Applies settings from cli_opts_settings() to o (borrowed), before the
 * command line is parsed onto o again: a flag given then overrides its
 * stored value, and --header replaces the stored headers. who names the
 * source in messages. Returns 0, or -1 with a message in err. */
int cli_opts_apply_settings(cli_opts_t *o, json_t *settings, const char *who,
                            char *err, size_t errlen);

/* Writes the usage text with every flag and its default. */
void cli_usage(FILE *f);

/* Parses a rate: "N", "N/s", "N/m" or "N/h" into per second. Returns 0 or
 * -1. */
int cli_parse_rate(const char *s, double *per_second);

/* ---- job lines ---------------------------------------------------------- */

/* One parsed job line. The request borrows from the parsed JSON, valid until
 * cli_job_clear(); pacer_submit() copies what it keeps. */
typedef struct cli_job {
  pacer_request_t req;
  json_t *id; /* the job's id (string or integer; the line number if the
                 line has none); owned, passed on to the callback */
  json_t *root;
  char *json_body; /* "json" serialized */
  pacer_header_t *headers;
} cli_job_t;

/* Parses line (len bytes, no newline) numbered lineno against the options
 * (added headers, default deadline). Returns 0 and fills job, or -1 with a
 * message naming the line in err; job->id is then still set when the line
 * gave one (or the line number), so the error result can carry it. */
int cli_job_parse(cli_job_t *job, const char *line, size_t len,
                  unsigned long lineno, const cli_opts_t *o, char *err,
                  size_t errlen);
/* Frees the parse; leaves job->id unless take_id is 0 (then frees it too). */
void cli_job_clear(cli_job_t *job, int take_id);

/* ---- result lines ------------------------------------------------------- */

/* One result line, without the newline, as a malloc'd string (NULL on out
 * of memory). res is the library's result, or NULL for a job that was never
 * accepted: then code and message say why. */
char *cli_result_line(json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      int with_body);

/* Standard base64 of len bytes; malloc'd, NULL on out of memory. */
char *cli_base64(const void *data, size_t len);

/* ---- line reader -------------------------------------------------------- */

/* Reads lines from fd in large blocks; wake_fd (or -1), when readable,
 * interrupts a wait for input. */
typedef struct cli_lines {
  int fd, wake_fd;
  char *buf;
  size_t cap, start, end;
  uint64_t base; /* input offset of buf[0] (set it after seeking fd) */
  size_t max_line;
  int eof, skipping;
} cli_lines_t;

enum {
  CLI_LINE = 1,      /* a line */
  CLI_LINE_EOF = 0,  /* no more input */
  CLI_LINE_ERR = -1, /* read error, errno set */
  CLI_LINE_WOKEN = -2,
  CLI_LINE_LONG = -3 /* a line over max_line: skipped to its newline */
};

int cli_lines_init(cli_lines_t *r, int fd, int wake_fd, size_t max_line);
void cli_lines_free(cli_lines_t *r);
/* Next line without its "\n" (a final "\r" is kept); *line is valid until
 * the next call. Returns one of the CLI_LINE codes. */
int cli_lines_next(cli_lines_t *r, char **line, size_t *len);
/* The input offset of the next line not yet returned. */
uint64_t cli_lines_pos(const cli_lines_t *r);
/* 1 if cli_lines_next() can return without waiting for input. */
int cli_lines_ready(const cli_lines_t *r);

/* ---- summary ------------------------------------------------------------ */

/* Outcome counts, filled by the command as results are written. */
typedef struct cli_tally {
  uint64_t jobs;      /* result lines written */
  uint64_t succeeded; /* a response below 400 */
  uint64_t http_4xx, http_5xx;
  uint64_t bad_input;    /* lines that were never submitted */
  uint64_t by_error[32]; /* by -code, PACER_E... */
} cli_tally_t;

/* Counts one result (res NULL: a job that was never accepted, with code). */
void cli_tally_add(cli_tally_t *t, const pacer_result_t *res, int code);
uint64_t cli_tally_failed(const cli_tally_t *t);

/* Writes the end-of-run summary: totals by outcome, achieved rate,
 * latency percentiles per priority (st may be NULL). */
void cli_summary(FILE *f, const cli_tally_t *t, const pacer_stats_t *st,
                 double elapsed_s);

#endif
