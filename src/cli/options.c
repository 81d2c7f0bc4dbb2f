/* SPDX-License-Identifier: MIT */
/* options.c - the command line and the --config file onto cli_opts_t, the
 * settings a spooled run keeps, and --help, all by the option table
 * (optable.c). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_QUEUE_MAX 10000

void cli_opts_init(cli_opts_t *o)
{
  memset(o, 0, sizeof *o);
  pacer_config_init(&o->cfg);
  o->cfg.queue_max = CLI_QUEUE_MAX;
  o->input = NULL;
  o->metrics_keys = 20;
  o->metrics_interval_ms = 5000;
  o->assume_latency_ms = 100;
}

void cli_opts_free(cli_opts_t *o)
{
  for (size_t i = 0; i < o->header_count; i++) {
    free((char *)o->headers[i].name);
    free((char *)o->headers[i].value);
  }
  free(o->headers);
  free(o->out_path);
  free(o->stats_path);
  free(o->events_path);
  free(o->config_path);
  free(o->ca_file);
  free(o->spool_path);
  free(o->shared);
  free(o->metrics_listen);
  free(o->metrics_file);
  free(o->retry_on);
  o->retry_on = NULL;
  o->retry_on_count = 0;
  o->cfg.retry_statuses = NULL;
  o->cfg.retry_status_count = 0;
  free(o->url_template);
  free(o->body_template);
  for (size_t i = 0; i < o->define_count; i++)
    free(o->defines[i]);
  free(o->defines);
  o->defines = NULL;
  o->define_count = 0;
  o->url_template = o->body_template = NULL;
  o->spool_path = o->shared = o->metrics_listen = o->metrics_file = NULL;
  o->headers_from_base = 0;
  o->headers = NULL;
  o->header_count = 0;
  o->out_path = o->stats_path = o->config_path = o->ca_file = NULL;
  o->events_path = NULL;
}

/* Writes text as lines of at most width columns, each indented. */
static void wrap(FILE *f, const char *text, int indent, int width)
{
  const char *p = text;
  while (*p) {
    int room = width - indent, n = (int)strlen(p);
    if (n > room) {
      n = room;
      while (n > 0 && p[n] != ' ')
        n--;
      if (n == 0)
        n = room;
    }
    fprintf(f, "%*s%.*s\n", indent, "", n, p);
    p += n;
    while (*p == ' ')
      p++;
  }
}

void cli_usage(FILE *f)
{
  fprintf(f, "usage: pacer send [FLAGS] JOBS.jsonl|-\n"
             "       pacer check [FLAGS] JOBS.jsonl|-\n"
             "       pacer resume --spool FILE.db [--out FILE] [FLAGS]\n"
             "       pacer status --spool FILE.db\n"
             "       pacer --help | --version\n\n"
             "Sends every job of a JSON-lines file (or stdin) under the "
             "limits below and\n"
             "writes one JSON result line per job, in completion order.\n"
             "A job line: {\"id\", \"method\", \"url\" (required), "
             "\"headers\": {K: V},\n"
             "\"body\" or \"json\", \"priority\": \"high\"|\"low\", \"key\", "
             "\"deadline_ms\", \"timeout_ms\",\n"
             "\"max_attempts\", \"retry_unsafe\": true}.\n\n"
             "Retries: a transport error, a timeout or a status of --retry-on "
             "is retried\n"
             "up to --max-attempts. POST, PATCH and other methods that are "
             "not idempotent\n"
             "are retried only with --retry-unsafe, \"retry_unsafe\": true or "
             "an\n"
             "Idempotency-Key header (--idempotency-keys adds one, and so does "
             "--spool);\n"
             "otherwise their result line says \"not_retried\": \"unsafe "
             "method\". A result\n"
             "line says \"ok\": true for a 2xx or 3xx response, or a status "
             "of --ok-status.\n\n"
             "With --spool every job is kept in a SQLite file until its result "
             "line is\n"
             "written: after a crash, pacer resume sends what is left and "
             "pacer status\n"
             "counts it. The spool keeps the run's settings and --out: "
             "pacer resume uses\n"
             "them, a flag given again overrides its setting (said on "
             "stderr), and an --out\n"
             "other than the run's is refused without --allow-out-change.\n\n"
             "pacer check (or send --dry-run) reads the whole input and "
             "sends nothing: it\n"
             "reports each bad line with its number and reason, counts jobs "
             "per priority\n"
             "and per key, and estimates the run time from the limits; it "
             "exits 1 if a\n"
             "line is bad, else 0. send --strict checks the same way first "
             "and sends\n"
             "nothing (exit 2) if a line is bad.\n\n"
             "SIGINT or SIGTERM (Ctrl-C) starts no more jobs: queued ones end "
             "cancelled with\n"
             "their result lines, or stay in the --spool for pacer resume; "
             "those in flight\n"
             "finish. A second one aborts them (kept in the spool too).\n\n"
             "Exit status: 0 every job succeeded, 1 some failed, 2 usage or "
             "configuration\n"
             "error, 130/143 interrupted by SIGINT/SIGTERM.\n\nFlags:\n");
  cli_opts_t d; /* the defaults --help shows, as the command starts with */
  cli_opts_init(&d);
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  for (size_t i = 0; i < n; i++) {
    char left[80], def[64], text[512], sn[8] = "";
    if (t[i].short_name)
      snprintf(sn, sizeof sn, "-%c, ", t[i].short_name);
    snprintf(left, sizeof left, "%s--%s%s%s", sn, t[i].name,
             t[i].arg ? " " : "", t[i].arg ? t[i].arg : "");
    cli_opt_show(&d, &t[i], def, sizeof def);
    snprintf(text, sizeof text, "%s%s%s%s", t[i].help, def[0] ? " [" : "", def,
             def[0] ? "]" : "");
    fprintf(f, "  %s\n", left);
    wrap(f, text, 8, 78);
  }
  cli_opts_free(&d);
  fputc('\n', f);
  wrap(f,
       "A --config file is a JSON object whose keys are these flag names "
       "(\"rate\": \"100/m\", \"breaker-fail-fast\": true, \"header\": "
       "[\"K: V\"]); flags given on the command line override it.",
       0, 78);
}

/* ---- did you mean ---- */

#define SUGGEST_MAX 3  /* names offered at most */
#define SUGGEST_LEN 64 /* longer names get no suggestion */

/* The edit distance between a (la bytes) and b (lb), both below
 * SUGGEST_LEN: letters added, dropped, changed, or two neighbours swapped
 * (the optimal string alignment distance). */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
  size_t d[SUGGEST_LEN + 1][SUGGEST_LEN + 1];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] != b[j - 1];
      size_t v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v)
        v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v)
        v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  return d[la][lb];
}

int cli_opt_suggest(const char *name, size_t len, int keys, char *buf,
                    size_t cap)
{
  char nm[SUGGEST_LEN];
  const char *pick[SUGGEST_MAX];
  size_t n, npick = 0, prefixed = 0, best = SIZE_MAX;
  const cli_opt_t *t = cli_opt_table(&n);
  if (cap)
    buf[0] = 0;
  if (len == 0 || len >= SUGGEST_LEN)
    return 0;
  for (size_t i = 0; i < len; i++) /* "_" for "-", as --config allows */
    nm[i] = name[i] == '_' ? '-' : name[i];
  /* A unique (or nearly) prefix first: --ra is --rate. */
  for (size_t i = 0; i < n; i++) {
    const char *c = keys ? t[i].key : t[i].name;
    if (c && len >= 2 && strlen(c) > len && !strncmp(c, nm, len) &&
        prefixed++ < SUGGEST_MAX)
      pick[npick++] = c;
  }
  if (prefixed > SUGGEST_MAX || npick == 0) {
    /* Else the nearest, when near enough for the name's length. */
    size_t allowed = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    npick = 0;
    for (size_t i = 0; i < n; i++) {
      const char *c = keys ? t[i].key : t[i].name;
      if (!c || strlen(c) >= SUGGEST_LEN)
        continue;
      size_t dist = edit_distance(nm, len, c, strlen(c));
      if (dist > allowed || dist > best)
        continue;
      if (dist < best) {
        best = dist;
        npick = 0;
      }
      if (npick < SUGGEST_MAX)
        pick[npick++] = c;
    }
  }
  size_t used = 0;
  for (size_t i = 0; i < npick && used < cap; i++) {
    const char *sep = i == 0 ? "" : i + 1 == npick ? " or " : ", ";
    int w = snprintf(buf + used, cap - used, keys ? "%s\"%s\"" : "%s--%s", sep,
                     pick[i]);
    used += w > 0 ? (size_t)w : 0;
  }
  return (int)npick;
}

/* ---- the --config file and the spool's settings ---- */

/* A --header key: a string, an array of strings, or an object of
 * "Name": "value" pairs. */
static int apply_json_list(cli_opts_t *o, const cli_opt_t *opt, json_t *v,
                           const char *who, char *err, size_t errlen)
{
  size_t i;
  const char *k;
  json_t *e;
  if (json_is_string(v))
    return cli_opt_set(o, opt, json_string_value(v), who, err, errlen);
  if (json_is_array(v)) {
    json_array_foreach(v, i, e)
    {
      if (!json_is_string(e))
        return cli_fail(err, errlen, "%s: entries must be strings", who);
      if (cli_opt_set(o, opt, json_string_value(e), who, err, errlen))
        return -1;
    }
    return 0;
  }
  if (!json_is_object(v))
    return cli_fail(err, errlen, "%s: expects a string, an array or an object",
                    who);
  json_object_foreach(v, k, e)
  {
    if (!json_is_string(e))
      return cli_fail(err, errlen, "%s: values must be strings", who);
    char line[4096];
    if ((size_t)snprintf(line, sizeof line, "%s: %s", k,
                         json_string_value(e)) >= sizeof line)
      return cli_fail(err, errlen, "%s: header too long", who);
    if (cli_opt_set(o, opt, line, who, err, errlen))
      return -1;
  }
  return 0;
}

/* Applies one key of a --config file or of the spool's settings (path names
 * it in messages): a switch takes a boolean, the others a string or a
 * non-negative number, read as the flag reads its text. */
static int apply_json(cli_opts_t *o, const cli_opt_t *opt, const char *key,
                      json_t *v, const char *path, char *err, size_t errlen)
{
  char who[512], buf[64];
  snprintf(who, sizeof who, "%s: key \"%s\"", path, key);
  if (!opt->key)
    return cli_fail(err, errlen, "%s is not allowed in a config file", who);
  if (opt->kind == CLI_OPT_LIST)
    return apply_json_list(o, opt, v, who, err, errlen);
  if (!opt->arg) {
    if (!json_is_boolean(v))
      return cli_fail(err, errlen, "%s: expects true or false", who);
    return cli_opt_set(o, opt, json_is_true(v) ? "true" : "false", who, err,
                       errlen);
  }
  if (json_is_string(v))
    return cli_opt_set(o, opt, json_string_value(v), who, err, errlen);
  if (json_is_integer(v)) {
    if (json_integer_value(v) < 0)
      return cli_fail(err, errlen, "%s: must not be negative", who);
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return cli_opt_set(o, opt, buf, who, err, errlen);
  }
  if (json_is_real(v)) {
    snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    return cli_opt_set(o, opt, buf, who, err, errlen);
  }
  return cli_fail(err, errlen, "%s: expects a number or a string", who);
}

/* The option a key names: its --config key, or a flag-only option's name so
 * that the message can say it is not allowed there. */
static const cli_opt_t *opt_of_key(const char *key)
{
  const cli_opt_t *opt = cli_opt_by_key(key);
  return opt ? opt : cli_opt_by_name(key, strlen(key), 1);
}

static int load_config(cli_opts_t *o, const char *path, char *err,
                       size_t errlen)
{
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return cli_fail(err, errlen, "--config %s: line %d: %s", path, je.line,
                    je.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return cli_fail(err, errlen, "--config %s: not a JSON object", path);
  }
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach(root, k, v)
  {
    const cli_opt_t *opt = opt_of_key(k);
    if (!opt) {
      char near[256];
      if (cli_opt_suggest(k, strlen(k), 1, near, sizeof near))
        rc = cli_fail(err, errlen,
                      "--config %s: unknown key \"%s\": did you mean %s?", path,
                      k, near);
      else
        rc = cli_fail(err, errlen, "--config %s: unknown key \"%s\"", path, k);
      break;
    }
    if ((rc = apply_json(o, opt, k, v, path, err, errlen)))
      break;
  }
  json_decref(root);
  return rc;
}

/* ---- the command line ---- */

/* "-h" as "--help": a short name alone; NULL when there is none. */
static const char *long_form(const char *a, char *buf, size_t cap)
{
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  for (size_t k = 0; a[1] && !a[2] && k < n; k++)
    if (t[k].short_name && t[k].short_name == a[1]) {
      snprintf(buf, cap, "--%s", t[k].name);
      return buf;
    }
  return NULL;
}

/* The first pass: --config FILE, read before the other flags so that they
 * override it whatever their order. */
static int read_config_flag(cli_opts_t *o, int argc, char **argv, char *err,
                            size_t errlen)
{
  static const char config[] = "--config";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--"))
      break;
    if (strncmp(argv[i], "--", 2)) { /* -o FILE: skip its value too */
      char buf[64];
      const char *lf =
          argv[i][0] == '-' ? long_form(argv[i], buf, sizeof buf) : NULL;
      const cli_opt_t *so =
          lf ? cli_opt_by_name(lf + 2, strlen(lf + 2), 0) : NULL;
      if (so && so->arg)
        i++;
      continue;
    }
    const char *nm = argv[i] + 2;
    const cli_opt_t *opt = cli_opt_by_name(nm, strcspn(nm, "="), 1);
    if (opt && strcmp(opt->name, "config") && opt->arg && !strchr(nm, '=')) {
      i++; /* skip its value */
      continue;
    }
    const char *v = NULL;
    if (!strcmp(argv[i], config)) {
      if (i + 1 >= argc)
        return cli_fail(err, errlen, "--config: needs a file name");
      v = argv[++i];
    } else if (!strncmp(argv[i], config, 8) && argv[i][8] == '=') {
      v = argv[i] + 9;
    }
    if (v) { /* an empty name is left to the loader to refuse */
      char *c = strdup(v);
      if (!c)
        return cli_fail(err, errlen, "out of memory");
      free(o->config_path);
      o->config_path = c;
    }
  }
  return o->config_path ? load_config(o, o->config_path, err, errlen) : 0;
}

/* The message of an unknown flag (who, the text given), with the flags
 * closest to name (len bytes, without its dashes). */
static int unknown_flag(const char *name, size_t len, const char *who,
                        char *err, size_t errlen)
{
  char near[256];
  if (cli_opt_suggest(name, len, 0, near, sizeof near))
    return cli_fail(err, errlen,
                    "unknown flag '%s': did you mean %s? (see pacer --help)",
                    who, near);
  return cli_fail(err, errlen, "unknown flag '%s' (see pacer --help)", who);
}

/* One flag at argv[*i] (a: its text, "-h" given as "--help"); takes its
 * value from "=" or the next argument. */
static int parse_flag(cli_opts_t *o, const char *a, int argc, char **argv,
                      int *i, char *err, size_t errlen)
{
  const char *name = a + 2;
  const char *eq = strchr(name, '=');
  size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
  const cli_opt_t *opt = cli_opt_by_name(name, nlen, 0);
  char who[96];
  snprintf(who, sizeof who, "--%.*s", (int)(nlen < 64 ? nlen : 64), name);
  if (!opt)
    return unknown_flag(name, nlen, who, err, errlen);
  const char *v = NULL;
  if (opt->arg) {
    if (eq)
      v = eq + 1;
    else if (*i + 1 < argc)
      v = argv[++*i];
    else
      return cli_fail(err, errlen, "%s: needs a value (%s)", who, opt->arg);
  } else if (eq) {
    v = eq + 1;
  }
  if (!strcmp(opt->name, "config"))
    return 0; /* read by the first pass */
  return cli_opt_set(o, opt, v, who, err, errlen);
}

/* The command and its input, once the flags are read. */
static int check_command(const cli_opts_t *o, char *err, size_t errlen)
{
  if (o->help || o->version)
    return 0;
  if (!o->command)
    return cli_fail(err, errlen,
                    "no command (pacer send JOBS.jsonl; see --help)");
  if (!strcmp(o->command, "send") || !strcmp(o->command, "check")) {
    if (!o->input)
      return cli_fail(err, errlen, "%s: no job file (a path, or - for stdin)",
                      o->command);
  } else if (!strcmp(o->command, "resume") || !strcmp(o->command, "status")) {
    if (o->input)
      return cli_fail(err, errlen, "%s: takes no job file (it reads the spool)",
                      o->command);
    if (!o->spool_path)
      return cli_fail(err, errlen, "%s: needs --spool FILE.db", o->command);
  } else {
    return cli_fail(err, errlen,
                    "unknown command '%s' (send, check, resume or status)",
                    o->command);
  }
  if (!strcmp(o->command, "check") || o->dry_run)
    return 0; /* nothing is sent, nothing written */
  /* pacer resume takes --out from the spool when it is not given. */
  if (o->spool_path && !strcmp(o->command, "send") && !o->out_path)
    return cli_fail(
        err, errlen,
        "--spool needs --out FILE: results must survive a crash too");
  return 0;
}

int cli_opts_parse(cli_opts_t *o, int argc, char **argv, char *err,
                   size_t errlen)
{
  if (read_config_flag(o, argc, argv, err, errlen))
    return -1;
  int only_args = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char buf[64];
    if (only_args || a[0] != '-' || !strcmp(a, "-")) {
      if (!o->command)
        o->command = a;
      else if (!o->input)
        o->input = a;
      else
        return cli_fail(err, errlen, "unexpected argument '%s' (one job file)",
                        a);
      continue;
    }
    if (!strcmp(a, "--")) {
      only_args = 1;
      continue;
    }
    if (a[1] != '-' && !(a = long_form(a, buf, sizeof buf))) {
      /* -rate for --rate: the rest of it as a long name. */
      const char *nm = argv[i] + 1;
      return unknown_flag(nm, strcspn(nm, "="), argv[i], err, errlen);
    }
    if (parse_flag(o, a, argc, argv, &i, err, errlen))
      return -1;
  }
  return check_command(o, err, errlen);
}

/* ---- the settings a spooled run keeps ---- */

/* The options a spooled run keeps (CLI_OPT_KEPT) are everything that shapes
 * how its jobs are sent and what their result lines say. Not kept: where
 * the output goes (kept apart, see cli.h), and what only concerns one
 * invocation (--config is read into the others, --quiet, --stats-json). */
json_t *cli_opts_settings(const cli_opts_t *o)
{
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  json_t *s = json_object();
  for (size_t i = 0; s && i < n; i++) {
    if (!(t[i].flags & CLI_OPT_KEPT))
      continue;
    json_t *v;
    /* Out of memory fails the whole rather than store settings that
     * silently lack a value. */
    if (cli_opt_get(o, &t[i], &v) ||
        (v && json_object_set_new(s, t[i].key, v))) {
      json_decref(s);
      s = NULL;
    }
  }
  return s;
}

int cli_opts_apply_settings(cli_opts_t *o, json_t *settings, const char *who,
                            char *err, size_t errlen)
{
  if (!json_is_object(settings))
    return cli_fail(err, errlen, "%s: not a JSON object", who);
  const char *k;
  json_t *v;
  json_object_foreach(settings, k, v)
  {
    const cli_opt_t *opt = cli_opt_by_key(k);
    if (!opt || !(opt->flags & CLI_OPT_KEPT))
      return cli_fail(err, errlen, "%s: unknown setting \"%s\"", who, k);
    /* A rate of 0, no limit, as an older pacer stored it (it is the
     * default, and refused as a value now). */
    if (opt->kind == CLI_OPT_RATE && json_is_number(v) &&
        json_number_value(v) == 0)
      continue;
    if (apply_json(o, opt, k, v, who, err, errlen))
      return -1;
  }
  o->headers_from_base = 1;
  return 0;
}
