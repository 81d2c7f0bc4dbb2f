/* SPDX-License-Identifier: MIT */
/* cli.h - the pieces of the `pacer` command, each testable alone: options
 * (one table for flags, --config, the spool's settings and --help), job
 * lines (JSON in), result lines (JSON out), the line reader and the
 * summary. A run of the command puts them together (app.h). */
#ifndef PACER_CLI_H
#define PACER_CLI_H

#include <jansson.h>
#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

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
  char *events_path;       /* --events: event JSON lines appended here */
  char *config_path;       /* --config */
  char *ca_file;           /* --ca-file (cfg.ca_file points here) */
  char *spool_path;        /* --spool (cfg.spool_path points here) */
  char *shared;            /* --shared (cfg.shared_limit points here) */
  pacer_header_t *headers; /* --header, added to every job; owned */
  size_t header_count;
  int64_t deadline_ms; /* --deadline: each job's default deadline; 0 none */
  int body;            /* --body: results carry the response */
  int quiet;           /* --quiet: no progress line, no summary */
  int verbose;         /* --verbose: events and info lines on stderr */
  /* Progress (progress.c). */
  int progress;                 /* --progress: a cli_progress_mode_t */
  int progress_given;           /* --progress was given (-q then does not
                                   turn it off) */
  int64_t progress_interval_ms; /* --progress-interval; 0: 5 s */
  int allow_out_change;  /* --allow-out-change: resume may write elsewhere */
  int spool_remove;      /* --spool-remove-when-done: a run that ends with
                            every job succeeded removes its spool files */
  int help, version;     /* --help, --version */
  int headers_from_base; /* headers came from cli_opts_apply_settings(): a
                            --header given later replaces them */
  /* Metrics (metrics.c). */
  char *metrics_listen;        /* --metrics-listen ADDRESS:PORT; NULL: none */
  char *metrics_file;          /* --metrics-file */
  unsigned metrics_keys;       /* --metrics-keys: keys with own series */
  int64_t metrics_interval_ms; /* --metrics-interval: file rewrites */
  /* The retry rule (docs/COMMAND.md, "Retries"). */
  int retry_unsafe;     /* --retry-unsafe: every job PACER_REQ_RETRY_UNSAFE */
  int idempotency_keys; /* --idempotency-keys: cli_job_idempotency_key() */
  int *retry_on;        /* --retry-on: owned; cfg.retry_statuses points here */
  size_t retry_on_count;
  uint64_t ok_status[10]; /* --ok-status: one bit per status 0..639 */
  /* Checking and filling the input (check.c, csv.c, template.c). */
  int dry_run;               /* send --dry-run: pacer check, nothing sent */
  int strict;                /* send --strict: check all before sending */
  int check_json;            /* --json: check's report as one JSON object */
  int64_t assume_latency_ms; /* --assume-latency: the estimate's response
                                time for the concurrency bounds */
  int csv;                   /* --csv: the input is CSV with a header row */
  char *url_template;        /* --url: a CSV row's URL; NULL: its column */
  char *body_template;       /* --body-template FILE (its path) */
  char **defines;            /* --define NAME=VALUE, each malloc'd; a later
                                one of the same NAME replaces it */
  size_t define_count;
} cli_opts_t;

/* --progress's modes, in the order of its choices. */
typedef enum cli_progress_mode {
  CLI_PROGRESS_AUTO = 0, /* a redrawn line when stderr is a terminal */
  CLI_PROGRESS_ALWAYS,   /* that line on a terminal, else a plain line
                            every --progress-interval */
  CLI_PROGRESS_NEVER,
  CLI_PROGRESS_JSON /* a JSON line every --progress-interval */
} cli_progress_mode_t;

/* ---- the option table ---------------------------------------------------
 * One row per option says everything the command does with it: the flag,
 * the --config key, where the value lands, its bounds, what --help says and
 * whether a spooled run keeps it for pacer resume. Parsing flags, reading
 * --config and the spool's settings, and printing --help all walk it. */

/* How a value is read, stored, written back as JSON and shown by --help. */
typedef enum cli_opt_kind {
  CLI_OPT_SWITCH,  /* int 0/1: --x, --x=true|false|1|0, a JSON boolean */
  CLI_OPT_UINT,    /* unsigned, in [min, max] */
  CLI_OPT_SIZE,    /* size_t, in [min, max] */
  CLI_OPT_MS,      /* int64_t milliseconds, in [min, max] */
  CLI_OPT_SECONDS, /* int64_t milliseconds, given in seconds in [min, max] */
  CLI_OPT_RATE,    /* double per second, from N, N/s, N/m or N/h */
  CLI_OPT_RATIO,   /* double in (0, 1], from 0.5 or 50% */
  CLI_OPT_PATH,    /* char *, owned; an empty name is refused */
  CLI_OPT_CHOICE,  /* int, the index of one of choices[] */
  CLI_OPT_LIST,    /* repeatable; a JSON string, array or object */
  CLI_OPT_CUSTOM   /* set and get say it all */
} cli_opt_kind_t;

/* Bits of cli_opt_t.flags. */
enum {
  CLI_OPT_INVERT = 1,    /* a switch that clears its field (--no-breaker) */
  CLI_OPT_KEPT = 2,      /* a spooled run keeps it for pacer resume */
  CLI_OPT_ZERO_AUTO = 4, /* 0 is an automatic value no flag can name: it is
                            not kept, and --help shows unset for it */
  CLI_OPT_ACTION = 8     /* --help, --version: no default to show */
};

typedef struct cli_opt cli_opt_t;
struct cli_opt {
  const char *name; /* the flag, without "--" */
  char short_name;  /* -x, or 0 */
  cli_opt_kind_t kind;
  size_t off;                  /* offsetof(cli_opts_t, ...) of its field */
  unsigned long long min, max; /* bounds of UINT, SIZE, MS, SECONDS */
  unsigned flags;              /* CLI_OPT_... bits */
  const char *key;             /* its --config key (and its name in the
                                  spool's settings); NULL: a flag only */
  const char *arg;             /* the value as --help names it; NULL: a
                                  switch */
  const char *what;            /* "a number of ...": said of a bad value */
  const char *unset;           /* --help's default for 0, NULL or empty */
  const char *const *choices;  /* CHOICE: the names, NULL-terminated */
  const char *help;
  /* Optional: parses v (NULL: a switch given bare) onto o instead of the
   * kind's parser. Returns 0, or -1 with a message starting with who. */
  int (*set)(cli_opts_t *o, const cli_opt_t *opt, const char *v,
             const char *who, char *err, size_t errlen);
  /* Optional: the value in --config's form instead of the kind's. Returns
   * 0 with a new reference in *out (NULL: unset), or -1 out of memory. */
  int (*get)(const cli_opts_t *o, const cli_opt_t *opt, json_t **out);
};

/* The table, in --help's order; *n gets its length. Never fails. */
const cli_opt_t *cli_opt_table(size_t *n);

/* The option whose flag is name (len bytes; "_" matches "-" when loose),
 * or NULL. */
const cli_opt_t *cli_opt_by_name(const char *name, size_t len, int loose);

/* The option whose --config key is key ("_" matches "-"), or NULL. */
const cli_opt_t *cli_opt_by_key(const char *key);

/* Parses v (NULL: a switch given bare) into the option's field of o.
 * who starts any message ("--rate", or the config file and key). Returns 0,
 * or -1 with a message in err; o stays valid for cli_opts_free(). */
int cli_opt_set(cli_opts_t *o, const cli_opt_t *opt, const char *v,
                const char *who, char *err, size_t errlen);

/* The option's value in o, in the form a --config file takes: 0 with a
 * new reference in *out, NULL when the value is an automatic default no flag
 * can name (an automatic burst, no CA file, no --out); -1 out of memory. */
int cli_opt_get(const cli_opts_t *o, const cli_opt_t *opt, json_t **out);

/* The option's value in o as --help shows it ("50", "off", "none"), into buf
 * of cap bytes; "" for an action (--help, --version). */
void cli_opt_show(const cli_opts_t *o, const cli_opt_t *opt, char *buf,
                  size_t cap);

/* Fills o with the command's defaults (the library's, except a queue bound
 * of 10000 jobs so memory stays bounded on any input). */
void cli_opts_init(cli_opts_t *o);
/* Frees what cli_opts_parse() allocated; o can be parsed again after init. */
void cli_opts_free(cli_opts_t *o);

/* Writes the message fmt into err (errlen bytes, cut if longer) and returns
 * -1: the error return of the option parsers. */
int cli_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/* Writes the usage text: every flag with its default, taken at run time
 * from cli_opts_init() (so from pacer_config_init()). */
void cli_usage(FILE *f);

/* "did you mean": the option names (or, with keys, the --config keys)
 * closest to the unknown name (len bytes): a unique prefix, else those at
 * the smallest edit distance (letters added, dropped, changed or swapped)
 * if it is small for the name's length. Writes them into buf (cap bytes)
 * as "--rate" or "--rate or --burst" ("\"rate\"" with keys); returns the
 * number named (at most 3), 0 with buf "" when none is close. Any
 * thread. */
int cli_opt_suggest(const char *name, size_t len, int keys, char *buf,
                    size_t cap);

/* The man page pacer(1) in man(7) roff, from the option table with the
 * defaults --help shows (docgen.c). */
void cli_man(FILE *f);
/* The completion script of shell ("bash" or "zsh") from the option table.
 * Returns 0, or -1 for another shell (nothing written). */
int cli_completion(FILE *f, const char *shell);

/* 1 if status is one of --ok-status's (bits: cli_opts_t.ok_status). */
int cli_status_listed(const uint64_t bits[10], int status);

/* Parses a rate: "N", "N/s", "N/m" or "N/h" into per second. Returns 0 or
 * -1. */
int cli_parse_rate(const char *s, double *per_second);

/* Parses --metrics-listen's ADDRESS:PORT strictly: a numeric IPv4 address,
 * or an IPv6 one in brackets ([::1]:9464), and a port of 0 to 65535 (0: a
 * free one), nothing else (no host name, no zone, no leading zero in the
 * port). Returns 0 with *ss and *len, or -1 with a message in err. Any
 * thread. */
int cli_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                     char *err, size_t errlen);

/* ---- job lines ---------------------------------------------------------- */

/* One parsed job line. The request borrows from the parsed JSON, valid until
 * cli_job_clear(); pacer_submit() copies what it keeps. */
typedef struct cli_job {
  pacer_request_t req;
  json_t *id; /* the job's id (string or integer; the line number if the
                 line has none); owned, passed on to the callback */
  json_t *root;
  char *json_body;         /* "json" serialized */
  pacer_header_t *headers; /* and after them, the Idempotency-Key that
                              --idempotency-keys adds (a job is moved by
                              value, so nothing points into it) */
} cli_job_t;

/* Parses line (len bytes, no newline) numbered lineno against the options
 * (added headers, default deadline). Returns 0 and fills job, or -1 with a
 * message naming the line in err; job->id is then still set when the line
 * gave one (or the line number), so the error result can carry it. */
int cli_job_parse(cli_job_t *job, const char *line, size_t len,
                  unsigned long lineno, const cli_opts_t *o, char *err,
                  size_t errlen);
/* With --idempotency-keys: the Idempotency-Key of a job whose method is
 * not idempotent and that names none itself, "pacer-" and 32 hex digits
 * derived from the job's id (as its result line writes it), method, URL and
 * body, so a later run of the same job (the same file, or the failed lines
 * of it) sends the same key. Writes it into key (at least 40 bytes).
 * Returns 1 when the job gets one, 0 when not. */
int cli_job_idempotency_key(const cli_job_t *job, char *key, size_t cap);

/* Frees the parse; leaves job->id unless take_id is 0 (then frees it too). */
void cli_job_clear(cli_job_t *job, int take_id);

/* ---- templates and CSV (template.c, csv.c) --------------------------------
 * Placeholders are {NAME}, NAME made of letters, digits, '_', '-' and '.';
 * any other '{' is literal text (so a JSON body template needs no escape).
 * A placeholder with no value is an error for the line, naming it. */

/* Looks up the value of the placeholder name (len bytes, no NUL): its
 * bytes (borrowed) and *vlen, or NULL when there is none. */
typedef const char *(*cli_tpl_lookup_cb)(void *user, const char *name,
                                         size_t len, size_t *vlen);

/* How values are written into a template. */
typedef enum cli_tpl_escape {
  CLI_TPL_RAW,  /* as they are */
  CLI_TPL_JSON, /* as the inside of a JSON string: " \ and controls
                   escaped */
  CLI_TPL_URL   /* percent-encoded but for RFC 3986's unreserved bytes */
} cli_tpl_escape_t;

/* Fills the len bytes of tpl from lookup (user passed on), escaping values
 * as esc says; raw_lookup (may be NULL) is asked first and its values are
 * never escaped (--define values in --url). Returns 0 with a malloc'd,
 * NUL-terminated *out of *out_len bytes, or -1 with a message in err
 * ("unknown placeholder {x}", out of memory). */
int cli_tpl_fill(const char *tpl, size_t len, cli_tpl_escape_t esc,
                 cli_tpl_lookup_cb lookup, void *user,
                 cli_tpl_lookup_cb raw_lookup, void *raw_user, char **out,
                 size_t *out_len, char *err, size_t errlen);

/* The value of --define NAME (len bytes) in o, or NULL. Its user is o. */
const char *cli_define_lookup(void *o, const char *name, size_t len,
                              size_t *vlen);

/* A JSON job line with the --define placeholders of its string values
 * filled (keys are left alone): a malloc'd line in *out (*out_len), or
 * *out NULL when nothing changed or the line is not JSON (cli_job_parse()
 * then says why). Returns 0, or -1 with a message naming the line. */
int cli_tpl_jobline(const cli_opts_t *o, const char *line, size_t len,
                    unsigned long lineno, char **out, size_t *out_len,
                    char *err, size_t errlen);

/* One CSV record (RFC 4180), read by libcsv in strict mode: fields
 * separated by ',', a field in double quotes may hold ',', '"' doubled,
 * and line breaks; a record ends at a line break outside quotes (CRLF or
 * LF); spaces are data. Fed one line at a time (without its "\n", a final
 * "\r" kept), as cli_lines_next() gives them. */
typedef struct cli_csv {
  void *parser; /* libcsv's struct csv_parser, made at the first feed */
  char *buf;    /* the fields' bytes, each NUL-terminated */
  size_t len, cap;
  size_t *offs; /* field i starts at buf + offs[i] */
  size_t nfields, fcap;
  size_t fed; /* bytes of the record so far */
  int quoted; /* inside a quoted field across a line break */
  int ended;  /* libcsv ended the record */
  int failed; /* 1: a record too long, too many fields, out of memory;
                 2: a bare CR before the end of a line */
} cli_csv_t;

enum {
  CLI_CSV_RECORD = 1, /* a record is complete: cli_csv_field() */
  CLI_CSV_MORE = 0,   /* a quoted field goes on in the next line */
  CLI_CSV_BAD = -1    /* malformed (err says why); the record is dropped */
};

#define CLI_CSV_MAX_FIELDS 4096

void cli_csv_init(cli_csv_t *c);
void cli_csv_free(cli_csv_t *c);
/* Parses one line into c, continuing a record left open. Returns a
 * CLI_CSV code; after RECORD or BAD the next line starts a new record. */
int cli_csv_feed(cli_csv_t *c, const char *line, size_t len, char *err,
                 size_t errlen);
/* Field i of the last record (borrowed until the next feed). */
const char *cli_csv_field(const cli_csv_t *c, size_t i);

/* The CSV input of a run: the header row's columns, then each record made
 * into a JSON job line. */
typedef struct cli_csv_input {
  cli_csv_t rec;
  char **cols; /* the header row */
  size_t ncols;
  char *body_tpl; /* --body-template's bytes, NULL: none */
  size_t body_tpl_len;
  int body_json; /* the template is JSON: values JSON-escaped, the body is
                    sent as "json" */
} cli_csv_input_t;

/* Reads --body-template. Returns 0, or -1 with a message in err. */
int cli_csv_input_init(cli_csv_input_t *in, const cli_opts_t *o, char *err,
                       size_t errlen);
void cli_csv_input_free(cli_csv_input_t *in);

/* Takes one physical line (number lineno). Returns 1 with a malloc'd JSON
 * job line in *out (*out_len) when it ends a record, 0 when there is
 * nothing to send yet (the header row, a blank line, a record going on),
 * or -1 with a message naming the record's line in err. *first gets the
 * number of the line its record started on. */
int cli_csv_input_line(cli_csv_input_t *in, const cli_opts_t *o,
                       const char *line, size_t len, unsigned long lineno,
                       unsigned long *first, char **out, size_t *out_len,
                       char *err, size_t errlen);

/* ---- the job source: what send and check read ---------------------------- */

/* Turns the input's lines into JSON job lines: as they are (JSON lines),
 * with --define's placeholders filled, or made from CSV records. */
typedef struct cli_source {
  const cli_opts_t *o;
  int is_csv;
  cli_csv_input_t csv;
  unsigned long first; /* the line an open CSV record started on */
  char *made;          /* the last job line made here */
} cli_source_t;

/* Returns 0, or -1 with a message in err (--body-template unreadable). */
int cli_source_init(cli_source_t *s, const cli_opts_t *o, char *err,
                    size_t errlen);
void cli_source_free(cli_source_t *s);
/* Takes one line of the input (len bytes, number lineno). Returns 1 with
 * the job line in *job (*job_len bytes; borrowed until the next call) and
 * its line number in *job_line, 0 when there is nothing to send yet, or -1
 * with a message in err and the line in *job_line. */
int cli_source_line(cli_source_t *s, const char *line, size_t len,
                    unsigned long lineno, const char **job, size_t *job_len,
                    unsigned long *job_line, char *err, size_t errlen);
/* 1 once a CSV input's header row has been read (always 1 for JSON
 * lines, which have none). */
int cli_source_has_header(const cli_source_t *s);
/* At the end of the input: -1 with a message (and *job_line) when a CSV
 * record was left open by a quote, else 0. */
int cli_source_end(cli_source_t *s, unsigned long *job_line, char *err,
                   size_t errlen);

/* ---- result lines ------------------------------------------------------- */

/* A growing byte buffer that starts in its own bytes, so that a result
 * line of ordinary size is written without an allocation. p is always
 * NUL-terminated; after an allocation failed, failed is set and nothing
 * more is added. */
typedef struct cli_buf {
  char *p; /* inl, or malloc'd once it outgrew it */
  size_t len, cap;
  int failed;
  char inl[512];
} cli_buf_t;

/* Empties b (no allocation). cli_buf_free() frees what it grew into and
 * leaves it empty and usable. */
void cli_buf_init(cli_buf_t *b);
void cli_buf_free(cli_buf_t *b);
/* Appends n bytes of s. */
void cli_buf_put(cli_buf_t *b, const char *s, size_t n);

/* Bits of a result line's flags. */
enum {
  CLI_RESULT_BODY = 1,     /* --body: the response's headers and body */
  CLI_RESULT_OK_STATUS = 2 /* the status is one of --ok-status's */
};

/* 1 if the job went well: a response (error 0) with a 2xx or 3xx status, or
 * with CLI_RESULT_OK_STATUS in flags. res NULL (never accepted): 0. */
int cli_result_ok(const pacer_result_t *res, unsigned flags);

/* Appends one result line, without the newline, to b. res is the library's
 * result, or NULL for a job that was never accepted: then code and message
 * say why. id (borrowed) may be NULL. flags: CLI_RESULT_* bits. The line
 * says "ok" (cli_result_ok()) and, when the library did not retry the job
 * because of its method, "not_retried": "unsafe method". The bytes are
 * those of jansson's compact dump of the line's object, fields in order,
 * numbers of milliseconds as JSON_REAL_PRECISION(12) writes them. Returns
 * 0, or -1 out of memory. */
int cli_result_append(cli_buf_t *b, json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      unsigned flags);

/* Appends id (borrowed; NULL is null) as the result line writes it. */
void cli_id_append(cli_buf_t *b, json_t *id);
/* As cli_result_append(), with the id already written as JSON text (id_len
 * bytes, as cli_id_append() wrote them): a job's callback writes its line
 * without a jansson object made on another thread. */
int cli_result_append_text(cli_buf_t *b, const char *id, size_t id_len,
                           unsigned long lineno, const pacer_result_t *res,
                           int code, const char *message, unsigned flags);

/* The same line as a malloc'd string (NULL on out of memory). */
char *cli_result_line(json_t *id, unsigned long lineno,
                      const pacer_result_t *res, int code, const char *message,
                      unsigned flags);

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

/* Error codes the tally tells apart: PACER_E... down to -(CLI_ERRORS - 1);
 * room for codes appended later (a code past it counts as unknown). */
#define CLI_ERRORS 64

/* Outcome counts, filled by the command as results are written. */
typedef struct cli_tally {
  uint64_t jobs;               /* result lines written */
  uint64_t succeeded;          /* ok (cli_result_ok()) */
  uint64_t unsafe_not_retried; /* PACER_NOT_RETRIED_UNSAFE */
  uint64_t http_4xx, http_5xx;
  uint64_t bad_input;            /* lines that were never submitted */
  uint64_t by_error[CLI_ERRORS]; /* by -code, PACER_E... (0: unknown) */
} cli_tally_t;

/* Counts one result (res NULL: a job that was never accepted, with code);
 * flags as its line's (CLI_RESULT_OK_STATUS counts a listed status as
 * succeeded). */
void cli_tally_count(cli_tally_t *t, const pacer_result_t *res, int code,
                     unsigned flags);
/* cli_tally_count() with no flags. */
void cli_tally_add(cli_tally_t *t, const pacer_result_t *res, int code);
uint64_t cli_tally_failed(const cli_tally_t *t);

/* Writes the end-of-run summary: totals by outcome, achieved rate,
 * latency percentiles per priority (st may be NULL). */
void cli_summary(FILE *f, const cli_tally_t *t, const pacer_stats_t *st,
                 double elapsed_s);

#endif
