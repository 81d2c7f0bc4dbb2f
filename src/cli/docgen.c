/* SPDX-License-Identifier: MIT */
/* docgen.c - the man page pacer(1) and the bash and zsh completions,
 * written from the option table (optable.c) as --help is, so that the
 * three cannot drift from the flags the command takes. The build runs
 * `pacer --help-man` and `pacer --help-completion bash|zsh` (hidden: not
 * in the table, so neither in --help nor in the page) and installs what
 * they print. */
#include "cli.h"

#include <string.h>

/* ---- the man page ---- */

/* Writes s as roff text: a backslash escaped, every "-" of a flag (a word
 * that starts with "-") as "\-", which man keeps as typed where a word's
 * hyphen may become another glyph, and a "." or "'" that would start a
 * line guarded by "\&". all: s is a flag or a value name, every "-" of
 * which is a "\-". */
static void roff(FILE *f, const char *s, int line_start, int all)
{
  int in_flag = all;
  for (const char *p = s; *p; p++) {
    if (line_start && (*p == '.' || *p == '\''))
      fputs("\\&", f);
    line_start = 0;
    if (*p == '-' && (p == s || strchr(" (`\"[", p[-1])))
      in_flag = 1;
    else if (!all && !strchr("-=_abcdefghijklmnopqrstuvwxyz0123456789", *p))
      in_flag = 0;
    if (*p == '\\')
      fputs("\\e", f);
    else if (*p == '-' && in_flag)
      fputs("\\-", f);
    else
      fputc(*p, f);
  }
}

/* A paragraph of roff text from plain text. */
static void para(FILE *f, const char *text)
{
  fputs(".PP\n", f);
  roff(f, text, 1, 0);
  fputc('\n', f);
}

void cli_man(FILE *f)
{
  fprintf(f,
          ".\\\" pacer(1), written by `pacer --help-man` from the option "
          "table\n"
          ".\\\" (src/cli/optable.c), as --help is: edit the table, not "
          "this.\n"
          ".TH PACER 1 \"\" \"pacer %s\" \"User Commands\"\n"
          ".nh\n"
          ".ad l\n"
          ".SH NAME\n"
          "pacer \\- send many HTTP requests under rate limits, retries and "
          "circuit breakers\n"
          ".SH SYNOPSIS\n"
          ".B pacer send\n"
          "[\\fIFLAGS\\fR] \\fIJOBS.jsonl\\fR|\\fB\\-\\fR\n"
          ".br\n"
          ".B pacer check\n"
          "[\\fIFLAGS\\fR] \\fIJOBS.jsonl\\fR|\\fB\\-\\fR\n"
          ".br\n"
          ".B pacer resume \\-\\-spool\n"
          "\\fIFILE.db\\fR [\\fB\\-\\-out\\fR \\fIFILE\\fR] "
          "[\\fIFLAGS\\fR]\n"
          ".br\n"
          ".B pacer status \\-\\-spool\n"
          "\\fIFILE.db\\fR\n"
          ".br\n"
          ".B pacer \\-\\-help\n"
          "|\n"
          ".B \\-\\-version\n"
          ".SH DESCRIPTION\n",
          pacer_version());
  fputs(".B pacer send\n", f);
  roff(f,
       "sends every job of a JSON-lines file (or stdin, -) under the limits "
       "below and writes one JSON result line per job, in completion order, "
       "to stdout or --out. A job line is an object with \"url\" (required), "
       "\"id\", \"method\", \"headers\": {K: V}, \"body\" or \"json\", "
       "\"priority\": \"high\" or \"low\", \"key\", \"deadline_ms\", "
       "\"timeout_ms\", \"max_attempts\" and \"retry_unsafe\": true.",
       1, 0);
  fputc('\n', f);
  para(f, "Retries: a transport error, a timeout or a status of --retry-on "
          "is retried up to --max-attempts. POST, PATCH and other methods "
          "that are not idempotent are retried only with --retry-unsafe, "
          "\"retry_unsafe\": true or an Idempotency-Key header "
          "(--idempotency-keys adds one, and so does --spool); otherwise "
          "their result line says \"not_retried\": \"unsafe method\" and "
          "the summary counts them. A result line says \"ok\": true for a "
          "2xx or 3xx response, or a status of --ok-status.");
  para(f, "With --spool every job is kept in a SQLite file until its result "
          "line is written: after a crash, pacer resume sends what is left "
          "and pacer status counts it. The spool keeps the run's settings "
          "and --out: pacer resume uses them, a flag given again overrides "
          "its setting (said on stderr), and an --out other than the run's "
          "is refused without --allow-out-change.");
  para(f, "pacer check (or send --dry-run) reads the whole input and sends "
          "nothing: it reports each bad line with its number and reason, "
          "counts jobs per priority and per key, and estimates the run time "
          "from the limits; it exits 1 if a line is bad, else 0. send "
          "--strict checks the same way first and sends nothing (exit 2) if "
          "a line is bad.");
  fputs(".SH OPTIONS\n", f);
  roff(f,
       "Each flag with its default, taken when pacer runs from the "
       "library's defaults. A switch also takes --NAME=true or "
       "--NAME=false; a flag's value may follow it or an \"=\".",
       1, 0);
  fputc('\n', f);
  cli_opts_t d; /* the defaults, as --help shows them */
  cli_opts_init(&d);
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  for (size_t i = 0; i < n; i++) {
    char def[64];
    fputs(".TP\n", f);
    if (t[i].short_name)
      fprintf(f, "\\fB\\-%c\\fR, ", t[i].short_name);
    fputs("\\fB", f);
    roff(f, "--", 0, 1);
    roff(f, t[i].name, 0, 1);
    fputs("\\fR", f);
    if (t[i].arg) {
      fputs(" \\fI", f);
      roff(f, t[i].arg, 0, 1);
      fputs("\\fR", f);
    }
    fputc('\n', f);
    roff(f, t[i].help, 1, 0);
    cli_opt_show(&d, &t[i], def, sizeof def);
    if (def[0]) {
      fputs(". Default: ", f);
      roff(f, def, 0, 0);
      fputc('.', f);
    } else {
      fputc('.', f);
    }
    fputc('\n', f);
  }
  cli_opts_free(&d);
  fputs(".SH CONFIGURATION FILE\n", f);
  roff(f,
       "--config FILE.json reads a JSON object whose keys are these flag "
       "names (\"rate\": \"100/m\", \"breaker-fail-fast\": true, \"header\": "
       "[\"K: V\"]; \"_\" may stand for \"-\"); flags given on the command "
       "line override it. --config, --allow-out-change, --help and "
       "--version are flags only.",
       1, 0);
  fputc('\n', f);
  fputs(".SH EXIT STATUS\n"
        ".TP\n0\nevery job succeeded\n"
        ".TP\n1\nsome job failed, or results could not be written\n"
        ".TP\n2\na usage or configuration error; nothing was sent\n"
        ".TP\n130, 143\ninterrupted by SIGINT or SIGTERM\n"
        ".SH EXAMPLES\n"
        ".EX\n"
        "pacer send \\-r 50/s \\-c 10 \\-o results.jsonl jobs.jsonl\n"
        "pacer send \\-\\-spool run.db \\-o results.jsonl "
        "\\-\\-spool\\-remove\\-when\\-done jobs.jsonl\n"
        "pacer resume \\-\\-spool run.db\n"
        ".EE\n"
        ".SH SEE ALSO\n"
        "The reference, with result lines, the spool, events and metrics: "
        "docs/COMMAND.md in pacer's sources; the library: "
        "include/pacer/pacer.h.\n",
        f);
}

/* ---- completions ---- */

/* 1 if the option's value is a file name. */
static int takes_file(const cli_opt_t *o)
{
  return o->kind == CLI_OPT_PATH && o->arg && strstr(o->arg, "FILE");
}

static void bash_flags(FILE *f, const cli_opt_t *t, size_t n,
                       int (*pick)(const cli_opt_t *))
{
  const char *sep = "";
  for (size_t i = 0; i < n; i++)
    if (pick(&t[i])) {
      fprintf(f, "%s--%s", sep, t[i].name);
      if (t[i].short_name)
        fprintf(f, "|-%c", t[i].short_name);
      sep = "|";
    }
}

static int is_file_opt(const cli_opt_t *o)
{
  return takes_file(o);
}

static int is_plain_value(const cli_opt_t *o)
{
  return o->arg && !takes_file(o) && !o->choices;
}

static void bash(FILE *f)
{
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  fputs("# bash completion for pacer(1), written by `pacer "
        "--help-completion bash`\n"
        "# from the command's option table; installed as\n"
        "# share/bash-completion/completions/pacer.\n"
        "_pacer()\n{\n"
        "  local cur=${COMP_WORDS[COMP_CWORD]} prev= i cmd=\n"
        "  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
        "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "    case ${COMP_WORDS[i]} in\n"
        "    send | check | resume | status) cmd=${COMP_WORDS[i]} && break ;;\n"
        "    esac\n"
        "  done\n"
        "  case $prev in\n  ",
        f);
  bash_flags(f, t, n, is_file_opt);
  fputs(")\n    COMPREPLY=($(compgen -f -- \"$cur\"))\n    return\n    ;;\n",
        f);
  for (size_t i = 0; i < n; i++) {
    if (!t[i].choices)
      continue;
    fprintf(f, "  --%s", t[i].name);
    if (t[i].short_name)
      fprintf(f, "|-%c", t[i].short_name);
    fputs(")\n    COMPREPLY=($(compgen -W '", f);
    for (int k = 0; t[i].choices[k]; k++)
      fprintf(f, "%s%s", k ? " " : "", t[i].choices[k]);
    fputs("' -- \"$cur\"))\n    return\n    ;;\n", f);
  }
  fputs("  ", f);
  bash_flags(f, t, n, is_plain_value);
  fputs(")\n    COMPREPLY=() # a number, a rate, an address: typed\n"
        "    return\n    ;;\n  esac\n"
        "  case $cur in\n  -*)\n    COMPREPLY=($(compgen -W '",
        f);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s--%s", i ? " " : "", t[i].name);
  fputs("' -- \"$cur\"))\n    return\n    ;;\n  esac\n"
        "  if [[ -z $cmd ]]; then\n"
        "    COMPREPLY=($(compgen -W 'send check resume status' -- \"$cur\"))\n"
        "  else\n"
        "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "  fi\n}\n"
        "complete -o filenames -F _pacer pacer\n",
        f);
}

/* Writes s inside a single-quoted zsh word, within _arguments' [...]
 * (esc_colon 0) or as a message (esc_colon 1). */
static void zsh_quoted(FILE *f, const char *s, size_t len, int esc_colon)
{
  for (size_t i = 0; i < len && s[i]; i++) {
    if (s[i] == '\'')
      fputs("'\\''", f);
    else if (s[i] == '[' || s[i] == ']' || s[i] == '\\' ||
             (esc_colon && s[i] == ':'))
      fprintf(f, "\\%c", s[i]);
    else
      fputc(s[i], f);
  }
}

static void zsh(FILE *f)
{
  size_t n;
  const cli_opt_t *t = cli_opt_table(&n);
  fputs("#compdef pacer\n"
        "# zsh completion for pacer(1), written by `pacer --help-completion "
        "zsh`\n"
        "# from the command's option table; installed as\n"
        "# share/zsh/site-functions/_pacer.\n"
        "local -a args\n"
        "args=(\n",
        f);
  for (size_t i = 0; i < n; i++) {
    const cli_opt_t *o = &t[i];
    /* The help's first clause, as the description. */
    size_t len = strcspn(o->help, ";(");
    while (len > 0 && o->help[len - 1] == ' ')
      len--;
    if (len > 60) { /* at a word's end */
      len = 60;
      while (len > 0 && o->help[len] != ' ')
        len--;
    }
    fputs("  ", f);
    if (o->short_name)
      fprintf(f, "'(-%c --%s)'{-%c,--%s}'[", o->short_name, o->name,
              o->short_name, o->name);
    else
      fprintf(f, "'--%s[", o->name);
    zsh_quoted(f, o->help, len, 0);
    fputc(']', f);
    if (o->arg) {
      fputc(':', f);
      zsh_quoted(f, o->arg, strlen(o->arg), 1);
      fputc(':', f);
      if (takes_file(o)) {
        fputs("_files", f);
      } else if (o->choices) {
        fputc('(', f);
        for (int k = 0; o->choices[k]; k++)
          fprintf(f, "%s%s", k ? " " : "", o->choices[k]);
        fputc(')', f);
      } else {
        fputc(' ', f);
      }
    }
    fputs("'\n", f);
  }
  fputs(")\n"
        "_arguments -s -S $args \\\n"
        "  '1:command:(send check resume status)' \\\n"
        "  '*:job file:_files'\n",
        f);
}

int cli_completion(FILE *f, const char *shell)
{
  if (!strcmp(shell, "bash"))
    bash(f);
  else if (!strcmp(shell, "zsh"))
    zsh(f);
  else
    return -1;
  return 0;
}
