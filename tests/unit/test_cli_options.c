/* SPDX-License-Identifier: MIT */
/* test_cli_options.c - the command's flags and --config keys (options.c).
 *
 * Every test parses an argv built here and checks the fields, or checks that
 * a bad flag or key fails with -1 and a message naming it. Config files are
 * written with mkstemp() and removed by the teardown; ASan checks that
 * cli_opts_free() releases every copy. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "cli.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct fixture {
  cli_opts_t o;
  char err[512];
  char path[4096]; /* a config file to remove, or "" */
} fixture_t;

static int setup(void **state)
{
  fixture_t *fx = calloc(1, sizeof *fx);
  if (!fx)
    return -1;
  cli_opts_init(&fx->o);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  fixture_t *fx = *state;
  cli_opts_free(&fx->o);
  if (fx->path[0])
    unlink(fx->path);
  free(fx);
  return 0;
}

/* Parses the NULL-terminated argument list (argv[0] is added) into freshly
 * initialized options, so each call starts from the defaults. */
static int parse_v(fixture_t *fx, const char *const *args)
{
  char *argv[64];
  int argc = 0;
  cli_opts_free(&fx->o);
  cli_opts_init(&fx->o);
  argv[argc++] = (char *)"pacer";
  for (; *args; args++) {
    assert_true(argc < 63);
    argv[argc++] = (char *)*args;
  }
  argv[argc] = NULL;
  fx->err[0] = 0;
  return cli_opts_parse(&fx->o, argc, argv, fx->err, sizeof fx->err);
}

#define PARSE(fx, ...) parse_v((fx), (const char *const[]){__VA_ARGS__, NULL})

/* Parses args expecting failure; the message must contain want. */
#define PARSE_FAILS(fx, want, ...)                                             \
  do {                                                                         \
    assert_int_equal(PARSE((fx), __VA_ARGS__), -1);                            \
    if (!strstr((fx)->err, (want)))                                            \
      fail_msg("error '%s' does not name '%s'", (fx)->err, (want));            \
  } while (0)

/* Writes text to a new temporary file remembered in fx->path. */
static const char *write_config(fixture_t *fx, const char *text)
{
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir)
    dir = "/tmp";
  if (fx->path[0])
    unlink(fx->path);
  snprintf(fx->path, sizeof fx->path, "%s/pacer-cli-cfg-XXXXXX", dir);
  int fd = mkstemp(fx->path);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  assert_int_equal(close(fd), 0);
  return fx->path;
}

static void assert_near(double got, double want)
{
  if (fabs(got - want) > 1e-9)
    fail_msg("%.17g != %.17g", got, want);
}

static void assert_header(const cli_opts_t *o, size_t i, const char *name,
                          const char *value)
{
  assert_true(i < o->header_count);
  assert_string_equal(o->headers[i].name, name);
  assert_string_equal(o->headers[i].value, value);
}

/* ---- defaults and plain arguments --------------------------------------- */

static void defaults(void **state)
{
  fixture_t *fx = *state;
  const cli_opts_t *o = &fx->o;
  assert_int_equal(o->cfg.queue_max, 10000);
  assert_int_equal(o->cfg.concurrency, 50);
  assert_int_equal(o->cfg.max_attempts, 3);
  assert_true(o->cfg.rate == 0.0);
  assert_int_equal(o->cfg.burst, 0);
  assert_int_equal(o->cfg.weight_high, 4);
  assert_int_equal(o->cfg.weight_low, 1);
  assert_int_equal(o->cfg.workers, 2);
  assert_true(o->cfg.breaker_threshold == 0.5);
  assert_int_equal(o->cfg.breaker_enabled, 1);
  assert_int_equal(o->cfg.breaker_fail_fast, 0);
  assert_int_equal(o->cfg.tls_verify, 1);
  assert_int_equal(o->cfg.follow_redirects, 0);
  assert_int_equal(o->cfg.decompress, 0);
  assert_null(o->cfg.ca_file);
  assert_null(o->command);
  assert_null(o->input);
  assert_null(o->out_path);
  assert_null(o->stats_path);
  assert_null(o->config_path);
  assert_null(o->ca_file);
  assert_null(o->headers);
  assert_int_equal(o->header_count, 0);
  assert_int_equal(o->deadline_ms, 0);
  assert_int_equal(o->body, 0);
  assert_int_equal(o->quiet, 0);
  assert_int_equal(o->help, 0);
  assert_int_equal(o->version, 0);

  /* The bare command changes nothing but the command and the input. */
  assert_int_equal(PARSE(fx, "send", "jobs.jsonl"), 0);
  assert_string_equal(o->command, "send");
  assert_string_equal(o->input, "jobs.jsonl");
  assert_int_equal(o->cfg.queue_max, 10000);
  assert_int_equal(o->cfg.concurrency, 50);
  assert_int_equal(o->cfg.max_attempts, 3);
  assert_true(o->cfg.rate == 0.0);
}

static void stdin_and_positional_order(void **state)
{
  fixture_t *fx = *state;
  /* Flags before, between and after the positional arguments. */
  assert_int_equal(PARSE(fx, "--quiet", "send", "--rate", "5", "-"), 0);
  assert_string_equal(fx->o.command, "send");
  assert_string_equal(fx->o.input, "-");
  assert_int_equal(fx->o.quiet, 1);
  assert_near(fx->o.cfg.rate, 5);
}

static void double_dash_ends_flags(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "--", "--odd-name.jsonl"), 0);
  assert_string_equal(fx->o.input, "--odd-name.jsonl");
}

/* ---- every flag -----------------------------------------------------------
 */

static void every_flag_sets_its_field(void **state)
{
  fixture_t *fx = *state;
  const cli_opts_t *o = &fx->o;
  int rc = PARSE(fx, "send", "jobs.jsonl", "--rate", "100", "--burst", "7",
                 "--concurrency", "9", "--per-key-rate", "30/m",
                 "--per-key-burst", "4", "--per-key-concurrency", "2",
                 "--workers", "3", "--weight", "3:2", "--max-low-wait", "1234",
                 "--queue-max", "77", "--max-attempts", "5", "--backoff-base",
                 "50", "--backoff-max", "900", "--retry-max-after", "60",
                 "--timeout", "1500", "--connect-timeout", "250", "--deadline",
                 "8000", "--breaker-window", "30", "--breaker-threshold", "0.3",
                 "--breaker-cooldown", "4000", "--breaker-probes", "2",
                 "--breaker-fail-fast", "--no-breaker", "--max-response-bytes",
                 "4096", "--follow-redirects", "5", "--decompress", "--ca-file",
                 "/etc/ca.pem", "--insecure", "--header", "X-A: 1", "--body",
                 "--out", "out.jsonl", "--stats-json", "stats.json", "--quiet");
  if (rc)
    fail_msg("parse failed: %s", fx->err);
  assert_near(o->cfg.rate, 100);
  assert_int_equal(o->cfg.burst, 7);
  assert_int_equal(o->cfg.concurrency, 9);
  assert_near(o->cfg.key_rate, 0.5);
  assert_int_equal(o->cfg.key_burst, 4);
  assert_int_equal(o->cfg.key_concurrency, 2);
  assert_int_equal(o->cfg.workers, 3);
  assert_int_equal(o->cfg.weight_high, 3);
  assert_int_equal(o->cfg.weight_low, 2);
  assert_int_equal(o->cfg.max_low_wait_ms, 1234);
  assert_int_equal(o->cfg.queue_max, 77);
  assert_int_equal(o->cfg.max_attempts, 5);
  assert_int_equal(o->cfg.backoff_base_ms, 50);
  assert_int_equal(o->cfg.backoff_max_ms, 900);
  assert_int_equal(o->cfg.retry_after_max_ms, 60000);
  assert_int_equal(o->cfg.timeout_ms, 1500);
  assert_int_equal(o->cfg.connect_timeout_ms, 250);
  assert_int_equal(o->deadline_ms, 8000);
  assert_int_equal(o->cfg.breaker_window, 30);
  assert_near(o->cfg.breaker_threshold, 0.3);
  assert_int_equal(o->cfg.breaker_cooldown_ms, 4000);
  assert_int_equal(o->cfg.breaker_probes, 2);
  assert_int_equal(o->cfg.breaker_fail_fast, 1);
  assert_int_equal(o->cfg.breaker_enabled, 0);
  assert_int_equal(o->cfg.max_response_bytes, 4096);
  assert_int_equal(o->cfg.follow_redirects, 5);
  assert_int_equal(o->cfg.decompress, 1);
  assert_string_equal(o->ca_file, "/etc/ca.pem");
  assert_ptr_equal(o->cfg.ca_file, o->ca_file);
  assert_int_equal(o->cfg.tls_verify, 0);
  assert_int_equal(o->header_count, 1);
  assert_header(o, 0, "X-A", "1");
  assert_int_equal(o->body, 1);
  assert_string_equal(o->out_path, "out.jsonl");
  assert_string_equal(o->stats_path, "stats.json");
  assert_int_equal(o->quiet, 1);
  assert_string_equal(o->command, "send");
  assert_string_equal(o->input, "jobs.jsonl");
}

/* ---- each flag the usage lists, one at a time --------------------------- */

/* One check per flag: the value given and what it must change. */
#define OK(id, expr)                                                           \
  static int ok_##id(const cli_opts_t *o)                                      \
  {                                                                            \
    return (expr);                                                             \
  }
OK(dry_run, o->dry_run == 1)
OK(strict, o->strict == 1)
OK(check_json, o->check_json == 1)
OK(assume_latency, o->assume_latency_ms == 250)
OK(csv, o->csv == 1)
OK(url_template, o->url_template && !strcmp(o->url_template, "http://h/{id}"))
OK(body_template, o->body_template && !strcmp(o->body_template, "b.json"))
OK(define, o->define_count == 1 && !strcmp(o->defines[0], "A=b"))
OK(rate, fabs(o->cfg.rate - 120) < 1e-9)
OK(burst, o->cfg.burst == 7)
OK(concurrency, o->cfg.concurrency == 9)
OK(key_rate, fabs(o->cfg.key_rate - 0.5) < 1e-9)
OK(key_burst, o->cfg.key_burst == 4)
OK(key_conc, o->cfg.key_concurrency == 2)
OK(adaptive_conc, o->cfg.adaptive_concurrency_min == 3 &&
                      o->cfg.adaptive_concurrency_max == 40)
OK(workers, o->cfg.workers == 3)
OK(weight, o->cfg.weight_high == 3 && o->cfg.weight_low == 2)
OK(max_low_wait, o->cfg.max_low_wait_ms == 1234)
OK(queue_max, o->cfg.queue_max == 77)
OK(queue_policy, o->cfg.queue_policy == PACER_QUEUE_DROP_OLDEST_LOW)
OK(max_attempts, o->cfg.max_attempts == 5)
OK(backoff_base, o->cfg.backoff_base_ms == 50)
OK(backoff_max, o->cfg.backoff_max_ms == 900)
OK(retry_max_after, o->cfg.retry_after_max_ms == 60000)
OK(retry_budget, fabs(o->cfg.retry_budget_ratio - 0.5) < 1e-9 &&
                     fabs(o->cfg.retry_budget_min_per_s - 1) < 1e-9)
OK(retry_budget_window, o->cfg.retry_budget_window_ms == 2000)
OK(adapt, o->cfg.adapt_announced == 0 && o->cfg.adapt_aimd == 1)
OK(adapt_min_rate, fabs(o->cfg.adapt_min_rate - 2) < 1e-9)
OK(timeout, o->cfg.timeout_ms == 1500)
OK(connect_timeout, o->cfg.connect_timeout_ms == 250)
OK(deadline, o->deadline_ms == 8000)
OK(breaker_window, o->cfg.breaker_window == 30)
OK(breaker_threshold, fabs(o->cfg.breaker_threshold - 0.3) < 1e-9)
OK(breaker_cooldown, o->cfg.breaker_cooldown_ms == 4000)
OK(breaker_probes, o->cfg.breaker_probes == 2)
OK(breaker_slow, o->cfg.breaker_slow_ms == 1500 &&
                     fabs(o->cfg.breaker_slow_threshold - 0.25) < 1e-9)
OK(breaker_fail_fast, o->cfg.breaker_fail_fast == 1)
OK(no_breaker, o->cfg.breaker_enabled == 0)
OK(max_response_bytes, o->cfg.max_response_bytes == 4096)
OK(follow_redirects, o->cfg.follow_redirects == 5)
OK(decompress, o->cfg.decompress == 1)
OK(ca_file, o->ca_file && !strcmp(o->ca_file, "/etc/ca.pem") &&
                o->cfg.ca_file == o->ca_file)
OK(insecure, o->cfg.tls_verify == 0)
OK(deny_private, o->cfg.deny_private == 1)
OK(http, o->cfg.http_version == PACER_HTTP_1_1)
OK(http1_1, o->cfg.http_version == PACER_HTTP_1_1)
OK(h2_prior, o->cfg.http_version == PACER_HTTP_2_PRIOR_KNOWLEDGE)
OK(max_host_conns, o->cfg.max_host_connections == 4)
OK(idle_conn, o->cfg.idle_connection_timeout_ms == 5000)
OK(header, o->header_count == 1 && !strcmp(o->headers[0].name, "X-A") &&
               !strcmp(o->headers[0].value, "1"))
OK(body, o->body == 1)
OK(out, o->out_path && !strcmp(o->out_path, "out.jsonl"))
OK(stats_json, o->stats_path && !strcmp(o->stats_path, "stats.json"))
OK(metrics_listen,
   o->metrics_listen && !strcmp(o->metrics_listen, "127.0.0.1:9464"))
OK(metrics_file, o->metrics_file && !strcmp(o->metrics_file, "m.prom"))
OK(metrics_interval, o->metrics_interval_ms == 250)
OK(metrics_keys, o->metrics_keys == 3)
OK(config, o->config_path != NULL && o->cfg.concurrency == 11)
OK(quiet, o->quiet == 1)
OK(verbose, o->verbose == 1)
OK(progress, o->progress == CLI_PROGRESS_JSON && o->progress_given)
OK(progress_interval, o->progress_interval_ms == 3000)
OK(events, o->events_path && !strcmp(o->events_path, "events.jsonl"))
OK(shared,
   o->shared && !strcmp(o->shared, "shm:q") && o->cfg.shared_limit == o->shared)
OK(spool, o->spool_path && !strcmp(o->spool_path, "s.db") &&
              o->cfg.spool_path == o->spool_path)
OK(spool_sync, o->cfg.spool_sync == PACER_SPOOL_FULL)
OK(no_idem, o->cfg.spool_idempotency_keys == 0)
OK(spool_remove, o->spool_remove == 1)
OK(retry_on,
   o->retry_on_count == 2 && o->retry_on[0] == 429 && o->retry_on[1] == 503 &&
       o->cfg.retry_statuses == o->retry_on && o->cfg.retry_status_count == 2)
OK(retry_unsafe, o->retry_unsafe == 1)
OK(idempotency_keys, o->idempotency_keys == 1)
OK(ok_status, cli_status_listed(o->ok_status, 404) &&
                  cli_status_listed(o->ok_status, 410) &&
                  !cli_status_listed(o->ok_status, 200))
OK(allow_out_change, o->allow_out_change == 1)
OK(help, o->help == 1)
OK(version, o->version == 1)
#undef OK

typedef struct flag_case {
  const char *name;  /* without "--" */
  const char *value; /* NULL: a switch; "@config" for a config file */
  int (*ok)(const cli_opts_t *o);
  int (*was)(const cli_opts_t *o); /* must be false on the defaults */
} flag_case_t;

#define C(name, value, id)                                                     \
  {                                                                            \
    name, value, ok_##id, ok_##id                                              \
  }
static const flag_case_t flag_cases[] = {
    C("rate", "120", rate),
    C("burst", "7", burst),
    C("concurrency", "9", concurrency),
    C("per-key-rate", "30/m", key_rate),
    C("per-key-burst", "4", key_burst),
    C("per-key-concurrency", "2", key_conc),
    C("adaptive-concurrency", "3:40", adaptive_conc),
    C("workers", "3", workers),
    C("weight", "3:2", weight),
    C("max-low-wait", "1234", max_low_wait),
    C("queue-max", "77", queue_max),
    C("queue-policy", "drop-oldest-low", queue_policy),
    C("max-attempts", "5", max_attempts),
    C("backoff-base", "50", backoff_base),
    C("backoff-max", "900", backoff_max),
    C("retry-max-after", "60", retry_max_after),
    C("retry-on", "503,429", retry_on),
    C("retry-unsafe", NULL, retry_unsafe),
    C("idempotency-keys", NULL, idempotency_keys),
    C("ok-status", "410,404", ok_status),
    C("retry-budget", "0.5:1", retry_budget),
    C("retry-budget-window", "2000", retry_budget_window),
    C("adapt", "aimd", adapt),
    C("adapt-min-rate", "2", adapt_min_rate),
    C("timeout", "1500", timeout),
    C("connect-timeout", "250", connect_timeout),
    C("deadline", "8000", deadline),
    C("breaker-window", "30", breaker_window),
    C("breaker-threshold", "0.3", breaker_threshold),
    C("breaker-cooldown", "4000", breaker_cooldown),
    C("breaker-probes", "2", breaker_probes),
    C("breaker-slow", "1500:0.25", breaker_slow),
    C("breaker-fail-fast", NULL, breaker_fail_fast),
    C("no-breaker", NULL, no_breaker),
    C("max-response-bytes", "4096", max_response_bytes),
    C("follow-redirects", "5", follow_redirects),
    C("decompress", NULL, decompress),
    C("ca-file", "/etc/ca.pem", ca_file),
    C("insecure", NULL, insecure),
    C("http", "1.1", http),
    C("http1.1", NULL, http1_1),
    C("http2-prior-knowledge", NULL, h2_prior),
    C("max-host-connections", "4", max_host_conns),
    C("idle-connection-timeout", "5000", idle_conn),
    C("deny-private", NULL, deny_private),
    C("header", "X-A: 1", header),
    C("body", NULL, body),
    C("out", "out.jsonl", out),
    C("stats-json", "stats.json", stats_json),
    C("events", "events.jsonl", events),
    C("metrics-listen", "127.0.0.1:9464", metrics_listen),
    C("metrics-file", "m.prom", metrics_file),
    C("metrics-interval", "250", metrics_interval),
    C("metrics-keys", "3", metrics_keys),
    C("config", "@config", config),
    C("quiet", NULL, quiet),
    C("verbose", NULL, verbose),
    C("progress", "json", progress),
    C("progress-interval", "3", progress_interval),
    C("shared", "shm:q", shared),
    C("spool", "s.db", spool),
    C("spool-sync", "full", spool_sync),
    C("spool-remove-when-done", NULL, spool_remove),
    C("no-idempotency-keys", NULL, no_idem),
    C("allow-out-change", NULL, allow_out_change),
    C("dry-run", NULL, dry_run),
    C("strict", NULL, strict),
    C("json", NULL, check_json),
    C("assume-latency", "250", assume_latency),
    C("csv", NULL, csv),
    C("url", "http://h/{id}", url_template),
    C("body-template", "b.json", body_template),
    C("define", "A=b", define),
    C("help", NULL, help),
    C("version", NULL, version),
};
#undef C
#define N_FLAG_CASES (sizeof flag_cases / sizeof flag_cases[0])

/* Every flag the usage lists (the option table, as printed) is given alone,
 * in both spellings (--name value and --name=value for flags with a value),
 * and must change its own field from the default; a flag the usage lists
 * without a case here fails, so a new flag cannot go untested. */
static void each_listed_flag_sets_its_field(void **state)
{
  fixture_t *fx = *state;
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  assert_non_null(f);
  cli_usage(f);
  assert_int_equal(fclose(f), 0);
  size_t listed = 0;
  int seen[N_FLAG_CASES] = {0};
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char name[64];
    /* "  --rate N", or with its short flag "  -r, --rate N". */
    const char *l = line + 2;
    if (!strncmp(line, "  -", 3) && line[3] != '-' &&
        !strncmp(line + 4, ", --", 4))
      l = line + 6;
    else if (strncmp(line, "  --", 4))
      continue;
    if (sscanf(l, "--%63[a-z0-9.-]", name) != 1)
      continue;
    listed++;
    size_t k = 0;
    while (k < N_FLAG_CASES && strcmp(flag_cases[k].name, name) != 0)
      k++;
    if (k == N_FLAG_CASES)
      fail_msg("--%s is listed by the usage but has no case here", name);
    seen[k]++;
    const flag_case_t *fc = &flag_cases[k];
    char flag[80], joined[160];
    snprintf(flag, sizeof flag, "--%s", name);
    const char *value = fc->value;
    if (value && !strcmp(value, "@config"))
      value = write_config(fx, "{\"concurrency\": 11}");
    /* --out comes first in each parse (--spool needs it): the flag wins. */
    for (int form = 0; form < (value ? 2 : 1); form++) {
      int rc;
      if (!value)
        rc = PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl", flag);
      else if (form == 0)
        rc = PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl", flag, value);
      else {
        snprintf(joined, sizeof joined, "%s=%s", flag, value);
        rc = PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl", joined);
      }
      if (rc)
        fail_msg("%s %s: parse failed: %s", flag, value ? value : "", fx->err);
      if (!fc->ok(&fx->o))
        fail_msg("%s %s (form %d) did not set its field", flag,
                 value ? value : "", form);
    }
    /* On the defaults the same check is false: it looks at the field. */
    assert_int_equal(PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl"), 0);
    if (fc->was(&fx->o))
      fail_msg("%s: its check already holds on the defaults", flag);
  }
  free(text);
  for (size_t k = 0; k < N_FLAG_CASES; k++)
    if (seen[k] != 1)
      fail_msg("--%s is listed %d times by the usage", flag_cases[k].name,
               seen[k]);
  assert_int_equal(listed, N_FLAG_CASES);
}

static void rate_units(void **state)
{
  fixture_t *fx = *state;
  double d = -1;
  assert_int_equal(cli_parse_rate("100", &d), 0);
  assert_near(d, 100);
  assert_int_equal(cli_parse_rate("100/s", &d), 0);
  assert_near(d, 100);
  assert_int_equal(cli_parse_rate("120/m", &d), 0);
  assert_near(d, 2.0);
  assert_int_equal(cli_parse_rate("7200/h", &d), 0);
  assert_near(d, 2.0);
  assert_int_equal(cli_parse_rate("1.5", &d), 0);
  assert_near(d, 1.5);
  assert_int_equal(cli_parse_rate("0", &d), 0);
  assert_near(d, 0);

  d = 42;
  static const char *const bad[] = {"abc", "",      "/s",   "10/", "10/x",
                                    "-1",  "1e999", "5/s/", "nan", "inf"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (cli_parse_rate(bad[i], &d) != -1)
      fail_msg("rate '%s' accepted", bad[i]);
  assert_near(d, 42); /* untouched on error */

  assert_int_equal(PARSE(fx, "send", "x", "--rate", "120/m"), 0);
  assert_near(fx->o.cfg.rate, 2.0);
  assert_int_equal(PARSE(fx, "send", "x", "--rate", "7200/h"), 0);
  assert_near(fx->o.cfg.rate, 2.0);
  assert_int_equal(PARSE(fx, "send", "x", "--rate", "100/s"), 0);
  assert_near(fx->o.cfg.rate, 100);
}

static void equals_form(void **state)
{
  fixture_t *fx = *state;
  int rc = PARSE(fx, "send", "x", "--rate=50", "--weight=3:2",
                 "--header=X-Eq: a=b", "--out=o.jsonl", "--quiet=true",
                 "--body=false", "--breaker-fail-fast=1", "--decompress=0");
  if (rc)
    fail_msg("parse failed: %s", fx->err);
  assert_near(fx->o.cfg.rate, 50);
  assert_int_equal(fx->o.cfg.weight_high, 3);
  assert_int_equal(fx->o.cfg.weight_low, 2);
  assert_header(&fx->o, 0, "X-Eq", "a=b");
  assert_string_equal(fx->o.out_path, "o.jsonl");
  assert_int_equal(fx->o.quiet, 1);
  assert_int_equal(fx->o.body, 0);
  assert_int_equal(fx->o.cfg.breaker_fail_fast, 1);
  assert_int_equal(fx->o.cfg.decompress, 0);
}

static void switches(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "x", "--breaker-fail-fast", "--no-breaker",
                         "--decompress", "--insecure", "--deny-private",
                         "--body", "-q"),
                   0);
  assert_int_equal(fx->o.cfg.deny_private, 1);
  assert_int_equal(fx->o.cfg.breaker_fail_fast, 1);
  assert_int_equal(fx->o.cfg.breaker_enabled, 0);
  assert_int_equal(fx->o.cfg.decompress, 1);
  assert_int_equal(fx->o.cfg.tls_verify, 0);
  assert_int_equal(fx->o.body, 1);
  assert_int_equal(fx->o.quiet, 1);
  /* A switch does not take the next argument as its value. */
  assert_string_equal(fx->o.input, "x");
}

static void headers_repeat(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "x", "--header", "X-A: 1", "--header",
                         "X-B:2", "--header", "Authorization: \t Bearer a b",
                         "--header", "X-Empty:"),
                   0);
  assert_int_equal(fx->o.header_count, 4);
  assert_header(&fx->o, 0, "X-A", "1");
  assert_header(&fx->o, 1, "X-B", "2");
  assert_header(&fx->o, 2, "Authorization", "Bearer a b");
  assert_header(&fx->o, 3, "X-Empty", "");
}

static void breaker_threshold_forms(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "x", "--breaker-threshold", "0.3"), 0);
  assert_near(fx->o.cfg.breaker_threshold, 0.3);
  assert_int_equal(PARSE(fx, "send", "x", "--breaker-threshold", "30%"), 0);
  assert_near(fx->o.cfg.breaker_threshold, 0.3);
  assert_int_equal(PARSE(fx, "send", "x", "--breaker-threshold", "100%"), 0);
  assert_near(fx->o.cfg.breaker_threshold, 1.0);
  assert_int_equal(PARSE(fx, "send", "x", "--breaker-threshold", "1"), 0);
  assert_near(fx->o.cfg.breaker_threshold, 1.0);
}

static void breaker_window_caps_min_calls(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "x", "--breaker-window", "5"), 0);
  assert_int_equal(fx->o.cfg.breaker_window, 5);
  assert_true(fx->o.cfg.breaker_min_calls <= 5);
}

/* --retry-budget and --breaker-slow: each value names both of their fields
 * (an absent second part is the library's default), off turns them off,
 * and a kept value reads back as given. */
static void retry_budget_and_breaker_slow_forms(void **state)
{
  fixture_t *fx = *state;
  static const struct {
    const char *v;
    double ratio, min_per_s;
    const char *kept;
  } rb[] = {{"0.3", 0.3, 3, "0.3:3"},
            {"25%:0.5", 0.25, 0.5, "0.25:0.5"},
            {"2:0", 2, 0, "2:0"},
            {"off", 0, 3, "off"},
            {"0", 0, 3, "off"},
            {"1000:1e9", 1000, 1e9, "1000:1e+09"},
            {"0.1:0.3", 0.1, 0.3, "0.1:0.3"}};
  for (size_t i = 0; i < sizeof rb / sizeof rb[0]; i++) {
    assert_int_equal(PARSE(fx, "send", "x", "--retry-budget", "5:5",
                           "--retry-budget", rb[i].v),
                     0);
    assert_near(fx->o.cfg.retry_budget_ratio, rb[i].ratio);
    assert_near(fx->o.cfg.retry_budget_min_per_s, rb[i].min_per_s);
    json_t *v = NULL;
    assert_int_equal(
        cli_opt_get(&fx->o, cli_opt_by_name("retry-budget", 12, 0), &v), 0);
    assert_string_equal(json_string_value(v), rb[i].kept);
    json_decref(v);
  }
  static const struct {
    const char *v;
    int64_t ms;
    double threshold;
  } bs[] = {{"2000", 2000, 0.5},
            {"1:1", 1, 1},
            {"300:20%", 300, 0.2},
            {"off", 0, 0.5}};
  for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) {
    assert_int_equal(PARSE(fx, "send", "x", "--breaker-slow", "9:0.9",
                           "--breaker-slow", bs[i].v),
                     0);
    assert_int_equal(fx->o.cfg.breaker_slow_ms, bs[i].ms);
    assert_near(fx->o.cfg.breaker_slow_threshold, bs[i].threshold);
  }
  /* In a config file, a number is the ratio alone. */
  const char *path = write_config(fx, "{\"retry-budget\": 0.4, "
                                      "\"breaker_slow\": \"800:0.75\"}");
  assert_int_equal(PARSE(fx, "send", "x", "--config", path), 0);
  assert_near(fx->o.cfg.retry_budget_ratio, 0.4);
  assert_near(fx->o.cfg.retry_budget_min_per_s, 3);
  assert_int_equal(fx->o.cfg.breaker_slow_ms, 800);
  assert_near(fx->o.cfg.breaker_slow_threshold, 0.75);
  static const char *const bad_rb[] = {"",        "x",  "-0.1",   "1001",
                                       "0.2:",    ":3", "0.2:-1", "0.2:2e9",
                                       "0.2:3:4", "nan"};
  for (size_t i = 0; i < sizeof bad_rb / sizeof bad_rb[0]; i++)
    PARSE_FAILS(fx, "--retry-budget", "send", "x", "--retry-budget", bad_rb[i]);
  static const char *const bad_bs[] = {
      "",        "0",        "0:0.5", "-5",  "100:0",
      "100:1.5", "100:150%", "100:",  "1.5", "abc"};
  for (size_t i = 0; i < sizeof bad_bs / sizeof bad_bs[0]; i++)
    PARSE_FAILS(fx, "--breaker-slow", "send", "x", "--breaker-slow", bad_bs[i]);
  PARSE_FAILS(fx, "--retry-budget-window", "send", "x", "--retry-budget-window",
              "9");
  PARSE_FAILS(fx, "--retry-budget-window", "send", "x", "--retry-budget-window",
              "86400001");
}

/* ---- errors name the flag ----------------------------------------------- */

static void flag_errors(void **state)
{
  fixture_t *fx = *state;
  PARSE_FAILS(fx, "--rate", "send", "x", "--rate", "abc");
  PARSE_FAILS(fx, "--rate", "send", "x", "--rate", "-5");
  PARSE_FAILS(fx, "--per-key-rate", "send", "x", "--per-key-rate", "1/d");
  PARSE_FAILS(fx, "--weight", "send", "x", "--weight", "4");
  PARSE_FAILS(fx, "--weight", "send", "x", "--weight", "0:1");
  PARSE_FAILS(fx, "--weight", "send", "x", "--weight", "4:x");
  PARSE_FAILS(fx, "--burst", "send", "x", "--burst", "0");
  PARSE_FAILS(fx, "--concurrency", "send", "x", "--concurrency", "-1");
  PARSE_FAILS(fx, "--concurrency", "send", "x", "--concurrency", "12abc");
  PARSE_FAILS(fx, "--workers", "send", "x", "--workers", "257");
  PARSE_FAILS(fx, "--max-attempts", "send", "x", "--max-attempts", "1001");
  PARSE_FAILS(fx, "--queue-max", "send", "x", "--queue-max", "0");
  PARSE_FAILS(fx, "--timeout", "send", "x", "--timeout",
              "99999999999999999999999");
  PARSE_FAILS(fx, "--follow-redirects", "send", "x", "--follow-redirects",
              "21");
  PARSE_FAILS(fx, "--breaker-threshold", "send", "x", "--breaker-threshold",
              "0");
  PARSE_FAILS(fx, "--breaker-threshold", "send", "x", "--breaker-threshold",
              "1.5");
  PARSE_FAILS(fx, "--breaker-threshold", "send", "x", "--breaker-threshold",
              "0%");
  PARSE_FAILS(fx, "--breaker-threshold", "send", "x", "--breaker-threshold",
              "150%");
  PARSE_FAILS(fx, "--breaker-threshold", "send", "x", "--breaker-threshold",
              "half");
  PARSE_FAILS(fx, "--breaker-window", "send", "x", "--breaker-window", "1025");
  PARSE_FAILS(fx, "--retry-on", "send", "x", "--retry-on", "99");
  PARSE_FAILS(fx, "--retry-on", "send", "x", "--retry-on", "600");
  PARSE_FAILS(fx, "--retry-on", "send", "x", "--retry-on", "503,");
  PARSE_FAILS(fx, "--retry-on", "send", "x", "--retry-on", "");
  PARSE_FAILS(fx, "--retry-on", "send", "x", "--retry-on", "5x3");
  PARSE_FAILS(fx, "--ok-status", "send", "x", "--ok-status", "404,,410");
  PARSE_FAILS(fx, "--ok-status", "send", "x", "--ok-status", "-404");
  PARSE_FAILS(fx, "--adapt", "send", "x", "--adapt", "both");
  PARSE_FAILS(fx, "--adapt", "send", "x", "--adapt", "");
  PARSE_FAILS(fx, "--adapt-min-rate", "send", "x", "--adapt-min-rate", "0");
  PARSE_FAILS(fx, "--adapt-min-rate", "send", "x", "--adapt-min-rate", "2e9");
  PARSE_FAILS(fx, "--adapt-min-rate", "send", "x", "--adapt-min-rate", "x");
  PARSE_FAILS(fx, "--header", "send", "x", "--header", "NoColon");
  PARSE_FAILS(fx, "--header", "send", "x", "--header", ": v");
  PARSE_FAILS(fx, "--header", "send", "x", "--header", "Bad Name: v");
  PARSE_FAILS(fx, "--quiet", "send", "x", "--quiet=maybe");
  PARSE_FAILS(fx, "--out", "send", "x", "--out=");
  PARSE_FAILS(fx, "--bogus", "send", "x", "--bogus");
  PARSE_FAILS(fx, "--bogus", "send", "x", "--bogus=1");
  PARSE_FAILS(fx, "-x", "send", "x", "-x");
  /* A value-taking flag at the very end. */
  PARSE_FAILS(fx, "--rate", "send", "x", "--rate");
  PARSE_FAILS(fx, "--header", "send", "x", "--header");
  PARSE_FAILS(fx, "--config", "send", "x", "--config");
}

/* --adapt names which adaptations are on; each name sets both fields, so
 * a later --adapt replaces an earlier one whole, in a config file too. */
static void adapt_modes(void **state)
{
  fixture_t *fx = *state;
  static const struct {
    const char *v;
    int announced, aimd;
  } m[] = {{"on", 1, 1}, {"off", 0, 0}, {"announced", 1, 0}, {"aimd", 0, 1}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    assert_int_equal(
        PARSE(fx, "send", "x", "--adapt", "off", "--adapt", m[i].v), 0);
    assert_int_equal(fx->o.cfg.adapt_announced, m[i].announced);
    assert_int_equal(fx->o.cfg.adapt_aimd, m[i].aimd);
    json_t *v = NULL;
    assert_int_equal(cli_opt_get(&fx->o, cli_opt_by_name("adapt", 5, 0), &v),
                     0);
    assert_string_equal(json_string_value(v), m[i].v);
    json_decref(v);
  }
  const char *path = write_config(fx, "{\"adapt\": \"off\", "
                                      "\"adapt_min_rate\": \"6/m\"}");
  assert_int_equal(PARSE(fx, "send", "x", "--config", path), 0);
  assert_int_equal(fx->o.cfg.adapt_announced, 0);
  assert_int_equal(fx->o.cfg.adapt_aimd, 0);
  assert_near(fx->o.cfg.adapt_min_rate, 0.1);
  assert_int_equal(PARSE(fx, "send", "x", "--config", path, "--adapt", "on"),
                   0);
  assert_int_equal(fx->o.cfg.adapt_announced, 1);
  assert_int_equal(fx->o.cfg.adapt_aimd, 1);
  /* A number in a config file is a rate per second, as for "rate". */
  path = write_config(fx, "{\"adapt-min-rate\": 0.25}");
  assert_int_equal(PARSE(fx, "send", "x", "--config", path), 0);
  assert_near(fx->o.cfg.adapt_min_rate, 0.25);
  path = write_config(fx, "{\"adapt-min-rate\": 0}");
  PARSE_FAILS(fx, "adapt-min-rate", "send", "x", "--config", path);
  path = write_config(fx, "{\"adapt\": true}");
  PARSE_FAILS(fx, "adapt", "send", "x", "--config", path);
}

static void follow_redirects_bounds(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "x", "--follow-redirects", "20"), 0);
  assert_int_equal(fx->o.cfg.follow_redirects, 20);
  assert_int_equal(PARSE(fx, "send", "x", "--follow-redirects", "0"), 0);
  assert_int_equal(fx->o.cfg.follow_redirects, 0);
}

static void command_and_input_errors(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "--rate", "5"), -1);
  assert_non_null(strstr(fx->err, "no command"));

  PARSE_FAILS(fx, "sned", "sned", "x");

  assert_int_equal(PARSE(fx, "send"), -1);
  assert_non_null(strstr(fx->err, "send"));
  assert_non_null(strstr(fx->err, "job file"));

  PARSE_FAILS(fx, "'b.jsonl'", "send", "a.jsonl", "b.jsonl");
}

static void help_and_version_need_no_command(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "--help"), 0);
  assert_int_equal(fx->o.help, 1);
  assert_null(fx->o.command);

  assert_int_equal(PARSE(fx, "-h"), 0);
  assert_int_equal(fx->o.help, 1);

  assert_int_equal(PARSE(fx, "--version"), 0);
  assert_int_equal(fx->o.version, 1);
  assert_int_equal(fx->o.help, 0);

  /* --help wins over a wrong command; a bad flag still fails. */
  assert_int_equal(PARSE(fx, "sned", "--help"), 0);
  assert_int_equal(fx->o.help, 1);
  PARSE_FAILS(fx, "--rate", "--help", "--rate", "x");
}

/* ---- --config ------------------------------------------------------------ */

static void config_keys_applied(void **state)
{
  fixture_t *fx = *state;
  const char *path = write_config(
      fx, "{\"rate\": \"120/m\", \"concurrency\": 7, \"max_attempts\": 5,\n"
          " \"breaker_threshold\": 0.25, \"breaker-fail-fast\": true,\n"
          " \"no_breaker\": false, \"weight\": \"3:2\", \"deadline\": 1500,\n"
          " \"out\": \"o.jsonl\", \"ca_file\": \"/ca.pem\", \"body\": true,\n"
          " \"per_key_rate\": 10, \"timeout\": \"900\", \"burst\": 4.0}\n");
  int rc = PARSE(fx, "send", "x", "--config", path);
  if (rc)
    fail_msg("parse failed: %s", fx->err);
  const cli_opts_t *o = &fx->o;
  assert_string_equal(o->config_path, path);
  assert_near(o->cfg.rate, 2.0);
  assert_int_equal(o->cfg.concurrency, 7);
  assert_int_equal(o->cfg.max_attempts, 5);
  assert_near(o->cfg.breaker_threshold, 0.25);
  assert_int_equal(o->cfg.breaker_fail_fast, 1);
  assert_int_equal(o->cfg.breaker_enabled, 1);
  assert_int_equal(o->cfg.weight_high, 3);
  assert_int_equal(o->cfg.weight_low, 2);
  assert_int_equal(o->deadline_ms, 1500);
  assert_string_equal(o->out_path, "o.jsonl");
  assert_string_equal(o->cfg.ca_file, "/ca.pem");
  assert_int_equal(o->body, 1);
  assert_near(o->cfg.key_rate, 10);
  assert_int_equal(o->cfg.timeout_ms, 900);
  assert_int_equal(o->cfg.burst, 4);
  /* Untouched keys keep the command's defaults. */
  assert_int_equal(o->cfg.queue_max, 10000);
}

static void config_equals_form(void **state)
{
  fixture_t *fx = *state;
  char arg[4200];
  snprintf(arg, sizeof arg, "--config=%s",
           write_config(fx, "{\"queue-max\": 12}"));
  assert_int_equal(PARSE(fx, "send", "x", arg), 0);
  assert_int_equal(fx->o.cfg.queue_max, 12);
}

static void flags_override_config(void **state)
{
  fixture_t *fx = *state;
  const char *path = write_config(
      fx,
      "{\"rate\": 10, \"concurrency\": 7, \"quiet\": true, \"out\": \"a\"}");
  /* --config after the flags. */
  assert_int_equal(PARSE(fx, "--rate", "20", "--quiet=false", "send", "x",
                         "--out", "b", "--config", path),
                   0);
  assert_near(fx->o.cfg.rate, 20);
  assert_int_equal(fx->o.cfg.concurrency, 7);
  assert_int_equal(fx->o.quiet, 0);
  assert_string_equal(fx->o.out_path, "b");

  /* --config before the flags. */
  assert_int_equal(PARSE(fx, "--config", path, "send", "x", "--rate", "20",
                         "--quiet=false", "--out", "b"),
                   0);
  assert_near(fx->o.cfg.rate, 20);
  assert_int_equal(fx->o.cfg.concurrency, 7);
  assert_int_equal(fx->o.quiet, 0);
  assert_string_equal(fx->o.out_path, "b");
}

static void config_unknown_key(void **state)
{
  fixture_t *fx = *state;
  const char *path = write_config(fx, "{\"rate\": 1, \"rate_limit\": 5}");
  PARSE_FAILS(fx, "rate_limit", "send", "x", "--config", path);
  assert_non_null(strstr(fx->err, path));
}

static void config_wrong_types(void **state)
{
  fixture_t *fx = *state;
  static const struct {
    const char *json, *key;
  } cases[] = {
      {"{\"concurrency\": true}", "concurrency"},
      {"{\"concurrency\": -3}", "concurrency"},
      {"{\"concurrency\": 2.5}", "concurrency"},
      {"{\"concurrency\": null}", "concurrency"},
      {"{\"rate\": [1]}", "rate"},
      {"{\"rate\": {\"n\": 1}}", "rate"},
      {"{\"rate\": \"fast\"}", "rate"},
      {"{\"quiet\": \"yes\"}", "quiet"},
      {"{\"quiet\": 1}", "quiet"},
      {"{\"header\": 5}", "header"},
      {"{\"header\": [\"A: 1\", 2]}", "header"},
      {"{\"header\": {\"A\": 1}}", "header"},
      {"{\"header\": \"NoColon\"}", "header"},
      {"{\"breaker-threshold\": 1.5}", "breaker-threshold"},
      {"{\"follow-redirects\": 21}", "follow-redirects"},
      {"{\"config\": \"other.json\"}", "config"},
      {"{\"help\": true}", "help"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *path = write_config(fx, cases[i].json);
    if (PARSE(fx, "send", "x", "--config", path) != -1)
      fail_msg("config %s accepted", cases[i].json);
    if (!strstr(fx->err, cases[i].key))
      fail_msg("config %s: error '%s' does not name '%s'", cases[i].json,
               fx->err, cases[i].key);
  }
}

static void config_bad_files(void **state)
{
  fixture_t *fx = *state;
  const char *path = write_config(fx, "{\"rate\": 1, \"rate\": 2}");
  PARSE_FAILS(fx, "duplicate", "send", "x", "--config", path);

  path = write_config(fx, "[1, 2]");
  PARSE_FAILS(fx, "not a JSON object", "send", "x", "--config", path);

  path = write_config(fx, "{\"rate\": ");
  PARSE_FAILS(fx, path, "send", "x", "--config", path);

  PARSE_FAILS(fx, "/nonexistent/pacer.json", "send", "x", "--config",
              "/nonexistent/pacer.json");
}

static void config_header_forms(void **state)
{
  fixture_t *fx = *state;
  const char *path = write_config(fx, "{\"header\": \"X-One: 1\"}");
  assert_int_equal(PARSE(fx, "send", "x", "--config", path), 0);
  assert_int_equal(fx->o.header_count, 1);
  assert_header(&fx->o, 0, "X-One", "1");

  path = write_config(fx, "{\"header\": [\"A: 1\", \"B: 2\"]}");
  assert_int_equal(PARSE(fx, "send", "x", "--config", path), 0);
  assert_int_equal(fx->o.header_count, 2);
  assert_header(&fx->o, 0, "A", "1");
  assert_header(&fx->o, 1, "B", "2");

  path = write_config(fx, "{\"header\": {\"A\": \"1\", \"B\": \"two words\"}}");
  assert_int_equal(PARSE(fx, "send", "x", "--config", path), 0);
  assert_int_equal(fx->o.header_count, 2);
  /* Object order is not guaranteed; look both up. */
  int seen_a = 0, seen_b = 0;
  for (size_t i = 0; i < fx->o.header_count; i++) {
    if (!strcmp(fx->o.headers[i].name, "A")) {
      assert_string_equal(fx->o.headers[i].value, "1");
      seen_a++;
    } else if (!strcmp(fx->o.headers[i].name, "B")) {
      assert_string_equal(fx->o.headers[i].value, "two words");
      seen_b++;
    }
  }
  assert_int_equal(seen_a, 1);
  assert_int_equal(seen_b, 1);

  /* Headers of the config and of the command line add up. */
  path = write_config(fx, "{\"header\": [\"A: 1\"]}");
  assert_int_equal(PARSE(fx, "send", "x", "--header", "C: 3", "--config", path),
                   0);
  assert_int_equal(fx->o.header_count, 2);
  assert_header(&fx->o, 0, "A", "1");
  assert_header(&fx->o, 1, "C", "3");
}

/* ---- lifetime -------------------------------------------------------------
 */

static void free_then_init_again(void **state)
{
  fixture_t *fx = *state;
  const char *path = write_config(fx, "{\"header\": [\"A: 1\"]}");
  for (int round = 0; round < 3; round++) {
    assert_int_equal(PARSE(fx, "send", "x", "--config", path, "--header",
                           "B: 2", "--out", "o", "--out", "o2", "--stats-json",
                           "s", "--ca-file", "c", "--ca-file", "c2"),
                     0);
    assert_int_equal(fx->o.header_count, 2);
    assert_string_equal(fx->o.out_path, "o2");
    assert_string_equal(fx->o.ca_file, "c2");
    assert_ptr_equal(fx->o.cfg.ca_file, fx->o.ca_file);
    cli_opts_free(&fx->o);
    assert_null(fx->o.headers);
    assert_int_equal(fx->o.header_count, 0);
    assert_null(fx->o.out_path);
    assert_null(fx->o.config_path);
    cli_opts_free(&fx->o); /* twice is harmless */
    cli_opts_init(&fx->o);
    assert_int_equal(fx->o.cfg.queue_max, 10000);
  }
  /* A failed parse leaves nothing the teardown's free cannot release. */
  assert_int_equal(
      PARSE(fx, "send", "x", "--header", "A: 1", "--out", "o", "--rate", "bad"),
      -1);
}

static void usage_lists_flags(void **state)
{
  (void)state;
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  assert_non_null(f);
  cli_usage(f);
  assert_int_equal(fclose(f), 0);
  static const char *const want[] = {"pacer send",
                                     "--rate",
                                     "--burst",
                                     "--weight",
                                     "--queue-max",
                                     "[10000]",
                                     "--header",
                                     "--config",
                                     "--help",
                                     "--version",
                                     "--breaker-threshold",
                                     "--follow-redirects"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(text, want[i]))
      fail_msg("usage lacks '%s'", want[i]);
  free(text);
}

/* ---- the settings a spooled run keeps ----------------------------------- */

/* Parses args onto options that start from settings, as pacer resume does;
 * the result is in fx->o. */
static int parse_over(fixture_t *fx, json_t *settings, const char *const *args)
{
  char *argv[64];
  int argc = 0;
  cli_opts_free(&fx->o);
  cli_opts_init(&fx->o);
  argv[argc++] = (char *)"pacer";
  for (; *args; args++) {
    assert_true(argc < 63);
    argv[argc++] = (char *)*args;
  }
  argv[argc] = NULL;
  fx->err[0] = 0;
  if (cli_opts_apply_settings(&fx->o, settings, "stored", fx->err,
                              sizeof fx->err))
    return -1;
  return cli_opts_parse(&fx->o, argc, argv, fx->err, sizeof fx->err);
}

#define PARSE_OVER(fx, set, ...)                                               \
  parse_over((fx), (set), (const char *const[]){__VA_ARGS__, NULL})

static void settings_round_trip(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(
      PARSE(fx, "send", "x", "--spool=s.db", "--out=o", "--rate=50/s",
            "--burst=3", "--concurrency=9", "--per-key-rate=100/m",
            "--per-key-concurrency=2", "--workers=3", "--weight=5:2",
            "--max-low-wait=7", "--queue-max=11", "--max-attempts=4",
            "--backoff-base=13", "--backoff-max=17", "--retry-max-after=19",
            "--adapt=announced", "--adapt-min-rate=30/m", "--timeout=23",
            "--connect-timeout=29", "--deadline=31", "--breaker-window=8",
            "--breaker-threshold=30%", "--breaker-cooldown=37",
            "--breaker-probes=2", "--breaker-fail-fast", "--no-breaker",
            "--max-response-bytes=4096", "--follow-redirects=3", "--decompress",
            "--ca-file=/ca.pem", "--insecure", "--deny-private",
            "--header=A: 1", "--header=B: two words", "--body",
            "--spool-sync=full", "--no-idempotency-keys", "--quiet",
            "--stats-json=st"),
      0);
  json_t *set = cli_opts_settings(&fx->o);
  assert_non_null(set);
  /* Not kept: where results go, and what only concerns one invocation. */
  assert_null(json_object_get(set, "out"));
  assert_null(json_object_get(set, "spool"));
  assert_null(json_object_get(set, "quiet"));
  assert_null(json_object_get(set, "stats-json"));
  assert_near(json_real_value(json_object_get(set, "rate")), 50);

  /* Applied to fresh options, with no flag given: the same settings. */
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db"), 0);
  json_t *again = cli_opts_settings(&fx->o);
  if (!json_equal(set, again)) {
    char *a = json_dumps(set, JSON_SORT_KEYS);
    char *b = json_dumps(again, JSON_SORT_KEYS);
    fail_msg("settings changed:\n%s\n%s", a, b);
  }
  json_decref(again);
  const cli_opts_t *o = &fx->o;
  assert_near(o->cfg.rate, 50);
  assert_int_equal(o->cfg.burst, 3);
  assert_near(o->cfg.key_rate, 100.0 / 60);
  assert_int_equal(o->cfg.weight_high, 5);
  assert_int_equal(o->cfg.deny_private, 1);
  assert_int_equal(o->cfg.retry_after_max_ms, 19000);
  assert_int_equal(o->cfg.adapt_announced, 1);
  assert_int_equal(o->cfg.adapt_aimd, 0);
  assert_near(o->cfg.adapt_min_rate, 0.5);
  assert_near(o->cfg.breaker_threshold, 0.3);
  assert_int_equal(o->cfg.breaker_min_calls, 8);
  assert_int_equal(o->cfg.breaker_enabled, 0);
  assert_int_equal(o->cfg.tls_verify, 0);
  assert_int_equal(o->cfg.spool_sync, PACER_SPOOL_FULL);
  assert_int_equal(o->cfg.spool_idempotency_keys, 0);
  assert_int_equal(o->deadline_ms, 31);
  assert_int_equal(o->body, 1);
  assert_string_equal(o->cfg.ca_file, "/ca.pem");
  assert_int_equal(o->header_count, 2);
  assert_header(o, 1, "B", "two words");
  assert_null(o->out_path); /* resume takes it from the spool */
  json_decref(set);

  /* The defaults make a settings object too, and an unknown or a not kept
   * key is refused. */
  assert_int_equal(PARSE(fx, "send", "x"), 0);
  set = cli_opts_settings(&fx->o);
  assert_null(json_object_get(set, "rate"));  /* no limit: no value */
  assert_null(json_object_get(set, "burst")); /* automatic */
  assert_int_equal(json_integer_value(json_object_get(set, "concurrency")), 50);
  json_object_set_new(set, "rate-limit", json_integer(5));
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db"), -1);
  assert_non_null(strstr(fx->err, "rate-limit"));
  json_object_del(set, "rate-limit");
  json_object_set_new(set, "out", json_string("o"));
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db"), -1);
  json_decref(set);
}

static void flags_override_kept_settings(void **state)
{
  fixture_t *fx = *state;
  json_t *set = json_pack("{s:f, s:i, s:[s], s:b}", "rate", 50.0, "concurrency",
                          4, "header", "A: 1", "body", 1);
  assert_non_null(set);
  /* Only the flags given change. */
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db", "--rate",
                              "20", "--out", "o"),
                   0);
  assert_near(fx->o.cfg.rate, 20);
  assert_int_equal(fx->o.cfg.concurrency, 4);
  assert_int_equal(fx->o.body, 1);
  assert_int_equal(fx->o.header_count, 1);
  assert_header(&fx->o, 0, "A", "1");
  assert_string_equal(fx->o.out_path, "o");
  /* --header given again replaces the kept ones (it does not add). */
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db", "--header",
                              "B: 2", "--header", "C: 3"),
                   0);
  assert_int_equal(fx->o.header_count, 2);
  assert_header(&fx->o, 0, "B", "2");
  assert_header(&fx->o, 1, "C", "3");
  assert_near(fx->o.cfg.rate, 50);
  /* --allow-out-change is a flag of the command line only. */
  assert_int_equal(
      PARSE_OVER(fx, set, "resume", "--spool", "s.db", "--allow-out-change"),
      0);
  assert_int_equal(fx->o.allow_out_change, 1);
  const char *path = write_config(fx, "{\"allow-out-change\": true}");
  assert_int_equal(PARSE(fx, "resume", "--spool", "s.db", "--config", path),
                   -1);
  assert_non_null(strstr(fx->err, "not allowed"));
  /* send still needs --out with --spool. */
  PARSE_FAILS(fx, "--out", "send", "x", "--spool", "s.db");
  json_decref(set);
}

/* ---- the option table, row by row -------------------------------------- */

static const flag_case_t *case_of(const char *name)
{
  for (size_t k = 0; k < N_FLAG_CASES; k++)
    if (!strcmp(flag_cases[k].name, name))
      return &flag_cases[k];
  fail_msg("--%s is in the option table but has no case here", name);
  return NULL;
}

/* The options a --config file may not name, and why: --config (a config
 * file does not name another one), --help and --version (actions, not
 * settings), --allow-out-change (consent to split a resumed run's results
 * between two files is given on that resume's command line, never taken
 * from a file), --dry-run (a send that sends nothing is asked for on its
 * own command line, not left in a shared config file). */
static int flag_only(const char *name)
{
  return !strcmp(name, "config") || !strcmp(name, "help") ||
         !strcmp(name, "version") || !strcmp(name, "allow-out-change") ||
         !strcmp(name, "dry-run") || !strcmp(name, "http1.1") ||
         !strcmp(name, "http2-prior-knowledge");
}

/* The row's sample value as a --config file writes it. */
static json_t *config_value(const flag_case_t *fc)
{
  return fc->value ? json_string(fc->value) : json_true();
}

/* From the config file, in the key's own spelling and with "_" for "-". */
static void row_from_config(fixture_t *fx, const cli_opt_t *opt,
                            const flag_case_t *fc)
{
  for (int underscores = 0; underscores < 2; underscores++) {
    char key[64];
    snprintf(key, sizeof key, "%s", opt->key);
    for (char *c = key; underscores && *c; c++)
      if (*c == '-')
        *c = '_';
    json_t *obj = json_object();
    json_object_set_new(obj, key, config_value(fc));
    char *text = json_dumps(obj, 0);
    json_decref(obj);
    const char *path = write_config(fx, text);
    free(text);
    /* --out on the command line (--spool needs it) would win over the
     * file's "out": not given when that is the row. */
    int rc = strcmp(opt->name, "out")
                 ? PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl", "--config",
                         path)
                 : PARSE(fx, "send", "in.jsonl", "--config", path);
    if (rc)
      fail_msg("config key \"%s\": parse failed: %s", key, fx->err);
    if (!fc->ok(&fx->o))
      fail_msg("config key \"%s\" did not set the field of --%s", key,
               opt->name);
  }
}

/* Through the settings a spooled run keeps, onto fresh options. */
static void row_through_settings(fixture_t *fx, const cli_opt_t *opt,
                                 const flag_case_t *fc)
{
  json_t *set = cli_opts_settings(&fx->o);
  assert_non_null(set);
  if (!json_object_get(set, opt->key))
    fail_msg("--%s is kept but not in the settings", opt->name);
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db"), 0);
  json_decref(set);
  if (!fc->ok(&fx->o))
    fail_msg("--%s did not survive the spool's settings", opt->name);
}

/* Every row of the table is reached from its flag (and its short name) and,
 * unless it is a flag only, from a --config key; a kept row also survives
 * the spool's settings. Each lands in its own field: the check reads the
 * named field of cli_opts_t, not the row's offset. */
static void table_rows_reach_their_fields(void **state)
{
  fixture_t *fx = *state;
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  assert_int_equal(n, N_FLAG_CASES);
  for (size_t i = 0; i < n; i++) {
    const cli_opt_t *opt = &t[i];
    const flag_case_t *fc = case_of(opt->name);
    assert_ptr_equal(cli_opt_by_name(opt->name, strlen(opt->name), 0), opt);
    if ((opt->arg == NULL) != (fc->value == NULL))
      fail_msg("--%s: the table and the case disagree on a value", opt->name);
    char flag[80];
    snprintf(flag, sizeof flag, "--%s", opt->name);
    const char *value = fc->value;
    if (value && !strcmp(value, "@config"))
      value = write_config(fx, "{\"concurrency\": 11}");
    int rc =
        value ? PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl", flag, value)
              : PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl", flag);
    if (rc || !fc->ok(&fx->o))
      fail_msg("%s did not set its field (%s)", flag, fx->err);
    if (opt->short_name) {
      char s[3] = {'-', opt->short_name, 0};
      assert_int_equal(value ? PARSE(fx, "send", "in.jsonl", s, value)
                             : PARSE(fx, "send", "in.jsonl", s),
                       0);
      if (!fc->ok(&fx->o))
        fail_msg("%s did not set the field of %s", s, flag);
    }
    if (flag_only(opt->name) != (opt->key == NULL))
      fail_msg("--%s: the table says %s", opt->name,
               opt->key ? "it may be in a config file" : "it is a flag only");
    if (opt->key) {
      assert_string_equal(opt->key, opt->name); /* the documented rule */
      assert_ptr_equal(cli_opt_by_key(opt->key), opt);
      row_from_config(fx, opt, fc);
    } else {
      char text[128];
      snprintf(text, sizeof text, "{\"%s\": %s}", opt->name,
               fc->value ? "\"x\"" : "true");
      const char *path = write_config(fx, text);
      PARSE_FAILS(fx, "is not allowed in a config file", "send", "in.jsonl",
                  "--config", path);
    }
    if (opt->flags & CLI_OPT_KEPT) {
      assert_int_equal(rc = PARSE(fx, "send", "in.jsonl", "--out", "o.jsonl",
                                  flag, fc->value),
                       0);
      row_through_settings(fx, opt, fc);
    }
  }
}

/* The defaults --help shows, by flag name, from the usage text: the last
 * "[...]" of each flag's help, whose wrapped lines are joined again. */
static void help_default(const char *usage, const char *name, char *out,
                         size_t cap)
{
  char head[80], text[1024] = "";
  const char *p = NULL;
  size_t hl = 0;
  for (int sn = 0; !p && sn < 2; sn++) { /* "--rate", "-r, --rate" */
    size_t n;
    const cli_opt_t *opt = cli_opt_table(&n);
    while (n > 0 && strcmp(opt->name, name))
      opt++, n--;
    if (sn && (!n || !opt->short_name))
      break;
    if (sn)
      snprintf(head, sizeof head, "\n  -%c, --%s", opt->short_name, name);
    else
      snprintf(head, sizeof head, "\n  --%s", name);
    p = usage;
    hl = strlen(head);
    while ((p = strstr(p, head)) && p[hl] != ' ' && p[hl] != '\n')
      p += hl;
  }
  if (!p)
    fail_msg("--help does not list --%s", name);
  p = strchr(p + 1, '\n');
  while (p && !strncmp(p, "\n        ", 9)) {
    const char *line = p + 9, *end = strchr(line, '\n');
    size_t len = strlen(text);
    snprintf(text + len, sizeof text - len, "%s%.*s", len ? " " : "",
             (int)(end - line), line);
    p = end;
  }
  const char *open = strrchr(text, '[');
  size_t len = strlen(text);
  if (!open || len == 0 || text[len - 1] != ']')
    snprintf(out, cap, "%s", "");
  else
    snprintf(out, cap, "%.*s", (int)(text + len - 1 - open - 1), open + 1);
}

/* The defaults --help shows are pacer_config_init()'s (and, for the queue
 * bound, the command's own), written out here from the struct's fields. */
static void help_defaults_are_the_library_defaults(void **state)
{
  (void)state;
  pacer_config_t c;
  pacer_config_init(&c);
  cli_opts_t cmd;
  cli_opts_init(&cmd);
  char want[64][2][64];
  size_t n = 0;
#define WANT(name, ...)                                                        \
  do {                                                                         \
    snprintf(want[n][0], sizeof want[n][0], "%s", name);                       \
    snprintf(want[n][1], sizeof want[n][1], __VA_ARGS__);                      \
    n++;                                                                       \
  } while (0)
#define ONOFF(b) ((b) ? "on" : "off")
  if (c.rate == 0)
    WANT("rate", "none");
  else
    WANT("rate", "%g", c.rate);
  if (c.burst == 0)
    WANT("burst", "rate/100, at least 1");
  else
    WANT("burst", "%u", c.burst);
  WANT("concurrency", "%u", c.concurrency);
  if (c.key_rate == 0)
    WANT("per-key-rate", "none");
  else
    WANT("per-key-rate", "%g", c.key_rate);
  WANT("per-key-burst", "%u", c.key_burst ? c.key_burst : 1);
  if (c.key_concurrency == 0)
    WANT("per-key-concurrency", "none");
  else
    WANT("per-key-concurrency", "%u", c.key_concurrency);
  WANT("workers", "%u", c.workers);
  WANT("weight", "%u:%u", c.weight_high, c.weight_low);
  WANT("max-low-wait", "%lld", (long long)c.max_low_wait_ms);
  WANT("queue-max", "%zu", cmd.cfg.queue_max); /* the command's own */
  WANT("max-attempts", "%u", c.max_attempts);
  WANT("backoff-base", "%lld", (long long)c.backoff_base_ms);
  WANT("backoff-max", "%lld", (long long)c.backoff_max_ms);
  WANT("retry-max-after", "%lld", (long long)c.retry_after_max_ms / 1000);
  WANT("retry-budget", "%g:%g", c.retry_budget_ratio, c.retry_budget_min_per_s);
  WANT("retry-budget-window", "%lld", (long long)c.retry_budget_window_ms);
  WANT("adapt", "%s",
       c.adapt_announced ? (c.adapt_aimd ? "on" : "announced")
                         : (c.adapt_aimd ? "aimd" : "off"));
  WANT("adapt-min-rate", "%g", c.adapt_min_rate);
  WANT("timeout", "%lld", (long long)c.timeout_ms);
  WANT("connect-timeout", "%lld", (long long)c.connect_timeout_ms);
  WANT("breaker-window", "%u", c.breaker_window);
  WANT("breaker-threshold", "%g", c.breaker_threshold);
  WANT("breaker-cooldown", "%lld", (long long)c.breaker_cooldown_ms);
  WANT("breaker-probes", "%u", c.breaker_probes);
  if (c.breaker_slow_ms == 0)
    WANT("breaker-slow", "off");
  else
    WANT("breaker-slow", "%lld:%g", (long long)c.breaker_slow_ms,
         c.breaker_slow_threshold);
  WANT("breaker-fail-fast", "%s", ONOFF(c.breaker_fail_fast));
  WANT("no-breaker", "%s", ONOFF(!c.breaker_enabled));
  WANT("max-response-bytes", "%zu", c.max_response_bytes);
  WANT("follow-redirects", "%u", c.follow_redirects);
  WANT("decompress", "%s", ONOFF(c.decompress));
  WANT("insecure", "%s", ONOFF(!c.tls_verify));
  WANT("http", "%s",
       c.http_version == PACER_HTTP_DEFAULT ? "auto" : "(not the default)");
  WANT("http1.1", "%s", ONOFF(c.http_version == PACER_HTTP_1_1));
  WANT("http2-prior-knowledge", "%s",
       ONOFF(c.http_version == PACER_HTTP_2_PRIOR_KNOWLEDGE));
  if (c.max_host_connections == 0)
    WANT("max-host-connections", "no cap");
  else
    WANT("max-host-connections", "%u", c.max_host_connections);
  if (c.idle_connection_timeout_ms == 0)
    WANT("idle-connection-timeout", "118 s, libcurl's");
  else
    WANT("idle-connection-timeout", "%lld",
         (long long)c.idle_connection_timeout_ms);
  WANT("deny-private", "%s", ONOFF(c.deny_private));
  WANT("spool-sync", "%s",
       c.spool_sync == PACER_SPOOL_FULL ? "full" : "normal");
  WANT("no-idempotency-keys", "%s", ONOFF(!c.spool_idempotency_keys));
#undef ONOFF
#undef WANT
  cli_opts_free(&cmd);

  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  cli_usage(f);
  assert_int_equal(fclose(f), 0);
  for (size_t i = 0; i < n; i++) {
    char got[256];
    help_default(text, want[i][0], got, sizeof got);
    if (strcmp(got, want[i][1]))
      fail_msg("--help shows [%s] for --%s; pacer_config_init() gives %s", got,
               want[i][0], want[i][1]);
  }
  /* Every row but the actions shows a default. */
  size_t rows;
  const cli_opt_t *t = cli_opt_table(&rows);
  for (size_t i = 0; i < rows; i++) {
    char got[256];
    help_default(text, t[i].name, got, sizeof got);
    if (!got[0] != !!(t[i].flags & CLI_OPT_ACTION))
      fail_msg("--%s: --help shows the default [%s]", t[i].name, got);
  }
  free(text);
}

/* --metrics-listen's ADDRESS:PORT: numeric IPv4, bracketed IPv6, a port
 * of 0 to 65535; anything else refused with the form in the message. */
static void metrics_listen_addresses(void **state)
{
  (void)state;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char err[512];
  assert_int_equal(
      cli_parse_listen("127.0.0.1:9464", &ss, &len, err, sizeof err), 0);
  const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(len, sizeof *v4);
  assert_int_equal(ntohs(v4->sin_port), 9464);
  assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000001);
  assert_int_equal(cli_parse_listen("[::1]:0", &ss, &len, err, sizeof err), 0);
  const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(len, sizeof *v6);
  assert_int_equal(ntohs(v6->sin6_port), 0);
  assert_true(IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr));
  assert_int_equal(
      cli_parse_listen("0.0.0.0:65535", &ss, &len, err, sizeof err), 0);
  static const char *const bad[] = {"",
                                    ":9464",
                                    "127.0.0.1",
                                    "127.0.0.1:",
                                    "localhost:9464",
                                    "127.0.0.1:65536",
                                    "127.0.0.1:09464",
                                    "127.0.0.1:+80",
                                    "127.0.0.1:8 0",
                                    "127.0.0.1:80 ",
                                    " 127.0.0.1:80",
                                    "127.1:80",
                                    "1.2.3.256:80",
                                    "[::1]",
                                    "[::1]:",
                                    "[::1]9464",
                                    "[127.0.0.1]:80",
                                    "[fe80::1%lo]:80",
                                    "[::1]:80]",
                                    "[[::1]]:80",
                                    "::1:9464",
                                    "127.0.0.1:99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    if (cli_parse_listen(bad[i], &ss, &len, err, sizeof err) != -1)
      fail_msg("'%s' was taken", bad[i]);
    assert_non_null(strstr(err, bad[i]));
  }
  cli_parse_listen("::1:9464", &ss, &len, err, sizeof err);
  assert_non_null(strstr(err, "in brackets"));
}

/* ---- short flags, did you mean, strict priority, no rate 0 (issue #18) -- */

/* The common options have short flags, each used once, and a short flag
 * takes its value as the next argument. */
static void short_flags(void **state)
{
  fixture_t *fx = *state;
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (t[i].short_name && t[i].short_name == t[j].short_name)
        fail_msg("-%c names both --%s and --%s", t[i].short_name, t[i].name,
                 t[j].name);
  assert_int_equal(PARSE(fx, "send", "-r", "20/s", "-c", "3", "-o", "r.jsonl",
                         "-q", "in.jsonl"),
                   0);
  assert_near(fx->o.cfg.rate, 20);
  assert_int_equal(fx->o.cfg.concurrency, 3);
  assert_string_equal(fx->o.out_path, "r.jsonl");
  assert_int_equal(fx->o.quiet, 1);
  assert_string_equal(fx->o.input, "in.jsonl");
  PARSE_FAILS(fx, "--rate: needs a value", "send", "x", "-r");
  PARSE_FAILS(fx, "--concurrency", "send", "x", "-c", "0");
  /* The value of a short flag is not taken for --config by the first pass. */
  assert_int_equal(PARSE(fx, "send", "x", "-o", "--config"), 0);
  assert_string_equal(fx->o.out_path, "--config");
  assert_null(fx->o.config_path);
}

static void suggestions(void **state)
{
  fixture_t *fx = *state;
  char buf[256];
  /* A slip of one or two letters, a swap, a prefix, "_" for "-". */
  assert_int_equal(cli_opt_suggest("rat", 3, 0, buf, sizeof buf), 1);
  assert_string_equal(buf, "--rate");
  assert_int_equal(cli_opt_suggest("ra", 2, 0, buf, sizeof buf), 1);
  assert_string_equal(buf, "--rate");
  assert_int_equal(cli_opt_suggest("raet", 4, 0, buf, sizeof buf), 1);
  assert_string_equal(buf, "--rate");
  assert_int_equal(cli_opt_suggest("concurency", 10, 0, buf, sizeof buf), 1);
  assert_string_equal(buf, "--concurrency");
  assert_int_equal(cli_opt_suggest("per_key_rate", 12, 0, buf, sizeof buf), 1);
  assert_string_equal(buf, "--per-key-rate");
  assert_int_equal(cli_opt_suggest("spool-remove", 12, 0, buf, sizeof buf), 1);
  assert_string_equal(buf, "--spool-remove-when-done");
  /* A prefix of a few: all of them. */
  assert_int_equal(cli_opt_suggest("per-key", 7, 0, buf, sizeof buf), 3);
  assert_string_equal(buf, "--per-key-rate, --per-key-burst or "
                           "--per-key-concurrency");
  /* More than three: none of them (a list too long to help). */
  assert_int_equal(cli_opt_suggest("max", 3, 0, buf, sizeof buf), 0);
  /* Nothing near: nothing said. */
  assert_int_equal(cli_opt_suggest("frobnicate", 10, 0, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  assert_int_equal(cli_opt_suggest("x", 1, 0, buf, sizeof buf), 0);
  /* --config keys: only rows a config file may hold. */
  assert_int_equal(cli_opt_suggest("rate_limit", 10, 1, buf, sizeof buf), 0);
  assert_int_equal(cli_opt_suggest("concurrancy", 11, 1, buf, sizeof buf), 1);
  assert_string_equal(buf, "\"concurrency\"");
  assert_int_equal(cli_opt_suggest("confi", 5, 1, buf, sizeof buf), 0);
  assert_int_equal(cli_opt_suggest("confi", 5, 0, buf, sizeof buf), 1);
  /* A small buffer is cut, never overrun. */
  char small[6];
  assert_int_equal(cli_opt_suggest("per-key", 7, 0, small, sizeof small), 3);
  assert_int_equal(strlen(small), 5);

  /* In the messages. */
  PARSE_FAILS(fx, "unknown flag '--rat': did you mean --rate?", "send", "x",
              "--rat", "5");
  PARSE_FAILS(fx, "unknown flag '--concurency': did you mean --concurrency?",
              "send", "x", "--concurency=4");
  PARSE_FAILS(fx, "unknown flag '-rate': did you mean --rate?", "send", "x",
              "-rate", "5");
  PARSE_FAILS(fx, "unknown flag '--frobnicate' (see pacer --help)", "send", "x",
              "--frobnicate");
  const char *path = write_config(fx, "{\"concurency\": 4}");
  PARSE_FAILS(fx, "unknown key \"concurency\": did you mean \"concurrency\"?",
              "send", "x", "--config", path);
}

/* --weight H:0 is strict priority (weight_low 0, which the library takes,
 * with --max-low-wait as its aging bound); H:0 survives a spooled run. */
static void weight_strict_priority(void **state)
{
  fixture_t *fx = *state;
  assert_int_equal(PARSE(fx, "send", "x", "--weight", "1:0", "--max-low-wait",
                         "500", "--out", "o", "--spool", "s.db"),
                   0);
  assert_int_equal(fx->o.cfg.weight_high, 1);
  assert_int_equal(fx->o.cfg.weight_low, 0);
  pacer_t *p = NULL; /* the library accepts it as it stands */
  fx->o.cfg.spool_path = NULL;
  assert_int_equal(pacer_new(&fx->o.cfg, &p), 0);
  pacer_free(p);
  fx->o.cfg.spool_path = fx->o.spool_path;
  json_t *set = cli_opts_settings(&fx->o);
  assert_string_equal(json_string_value(json_object_get(set, "weight")), "1:0");
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db"), 0);
  json_decref(set);
  assert_int_equal(fx->o.cfg.weight_low, 0);
  assert_int_equal(fx->o.cfg.max_low_wait_ms, 500);
  PARSE_FAILS(fx, "1:0 is strict priority", "send", "x", "--weight", "0:1");
  PARSE_FAILS(fx, "--weight", "send", "x", "--weight", "0:0");
}

/* A rate of 0 is refused with what to do instead; no limit is the
 * default, which the spool's settings leave out (and still read as an
 * older pacer stored it). */
static void rate_zero_refused(void **state)
{
  fixture_t *fx = *state;
  PARSE_FAILS(fx,
              "--rate: '0' is not a rate: no limit is the default: leave "
              "--rate out",
              "send", "x", "--rate", "0");
  PARSE_FAILS(fx, "leave --rate out", "send", "x", "-r", "0/m");
  PARSE_FAILS(fx, "leave --rate out", "send", "x", "--rate=0.0");
  PARSE_FAILS(fx, "leave --per-key-rate out", "send", "x", "--per-key-rate",
              "0");
  const char *path = write_config(fx, "{\"rate\": 0}");
  PARSE_FAILS(fx, "key \"rate\": '0' is not a rate: no limit is the default",
              "send", "x", "--config", path);
  assert_int_equal(PARSE(fx, "send", "x", "--rate", "0.001"), 0);
  assert_near(fx->o.cfg.rate, 0.001);

  assert_int_equal(PARSE(fx, "send", "x"), 0);
  json_t *set = cli_opts_settings(&fx->o);
  assert_null(json_object_get(set, "rate"));
  assert_null(json_object_get(set, "per-key-rate"));
  json_object_set_new(set, "rate", json_real(0)); /* an older pacer's */
  json_object_set_new(set, "per-key-rate", json_integer(0));
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db"), 0);
  assert_near(fx->o.cfg.rate, 0);
  assert_near(fx->o.cfg.key_rate, 0);
  json_decref(set);
  /* "none" lifts a rate a spool keeps; only rates whose default is none */
  set = json_object();
  json_object_set_new(set, "rate", json_integer(5));
  json_object_set_new(set, "per-key-rate", json_integer(2));
  assert_int_equal(PARSE_OVER(fx, set, "resume", "--spool", "s.db", "--rate",
                              "none", "--per-key-rate", "none"),
                   0);
  assert_near(fx->o.cfg.rate, 0);
  assert_near(fx->o.cfg.key_rate, 0);
  json_decref(set);
  PARSE_FAILS(fx, "not a rate", "send", "x", "--adapt-min-rate", "none");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(defaults),
      T(stdin_and_positional_order),
      T(double_dash_ends_flags),
      T(every_flag_sets_its_field),
      T(each_listed_flag_sets_its_field),
      T(table_rows_reach_their_fields),
      T(help_defaults_are_the_library_defaults),
      T(rate_units),
      T(equals_form),
      T(switches),
      T(headers_repeat),
      T(breaker_threshold_forms),
      T(breaker_window_caps_min_calls),
      T(flag_errors),
      T(adapt_modes),
      T(retry_budget_and_breaker_slow_forms),
      T(follow_redirects_bounds),
      T(command_and_input_errors),
      T(help_and_version_need_no_command),
      T(config_keys_applied),
      T(config_equals_form),
      T(flags_override_config),
      T(config_unknown_key),
      T(config_wrong_types),
      T(config_bad_files),
      T(config_header_forms),
      T(free_then_init_again),
      T(usage_lists_flags),
      T(settings_round_trip),
      T(flags_override_kept_settings),
      T(short_flags),
      T(suggestions),
      T(weight_strict_priority),
      T(rate_zero_refused),
      cmocka_unit_test(metrics_listen_addresses),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
