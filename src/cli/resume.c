/* SPDX-License-Identifier: MIT */
/* resume.c - pacer status and pacer resume: the spool's counts, the run's
 * settings kept in the spool, what a resumed run already wrote, and the
 * rest of an import a crash stopped. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SETTINGS "pacer.send.settings" /* the spool value's name */

int cli_cmd_status(app_t *a)
{
  pacer_spool_status_t st;
  pacer_spool_status_init(&st);
  int rc = pacer_spool_status(a->o.spool_path, &st);
  if (rc) {
    fprintf(stderr, "pacer: status: %s\n", st.message);
    return CLI_EXIT_USAGE;
  }
  printf("queued %llu\nwaiting %llu\nin_flight %llu\ndone %llu\n"
         "failed %llu\nintegrity %s\n",
         (unsigned long long)st.queued, (unsigned long long)st.waiting,
         (unsigned long long)st.in_flight, (unsigned long long)st.done,
         (unsigned long long)st.failed, st.integrity);
  json_t *m = st.mark[0] ? json_loads(st.mark, 0, NULL) : NULL;
  if (m)
    printf("imported %s through line %lld%s\n",
           json_string_value(json_object_get(m, "input")),
           (long long)json_integer_value(json_object_get(m, "line")),
           json_is_true(json_object_get(m, "complete")) ? ", complete"
                                                        : ", not complete");
  json_decref(m);
  return strcmp(st.integrity, "ok") ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

/* ---- what a resumed run already wrote ---- */

/* Notes line l in a->written. Returns 0, or -1 out of memory. */
static int note_written(app_t *a, size_t l)
{
  if (l >= a->written_bits) {
    size_t bits = (l + 1) * 2 + 1024;
    unsigned char *w = realloc(a->written, (bits + 7) / 8);
    if (!w)
      return -1;
    memset(w + (a->written_bits + 7) / 8, 0,
           (bits + 7) / 8 - (a->written_bits + 7) / 8);
    a->written = w;
    a->written_bits = bits;
  }
  a->written[l / 8] |= (unsigned char)(1u << (l % 8));
  return 0;
}

int cli_scan_written(app_t *a, int fd, char *err, size_t errlen)
{
  int dfd = dup(fd);
  FILE *f = dfd >= 0 ? fdopen(dfd, "r") : NULL;
  if (!f) {
    if (dfd >= 0)
      close(dfd);
    snprintf(err, errlen, "reading it: %s", strerror(errno));
    return -1;
  }
  off_t good = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&line, &cap, f)) > 0) {
    if (line[n - 1] != '\n')
      break; /* torn by the crash: only the last line can be */
    json_t *o = json_loadb(line, (size_t)n - 1, 0, NULL);
    json_t *ln = json_object_get(o, "line");
    json_int_t l = json_is_integer(ln) ? json_integer_value(ln) : -1;
    json_decref(o);
    if (l < 0)
      break;
    if (note_written(a, (size_t)l)) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
      break;
    }
    good += (off_t)n;
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "reading it: %s", strerror(errno));
    rc = -1;
  }
  free(line);
  fclose(f);
  /* Whatever follows the last complete line goes. */
  if (rc == 0 && (ftruncate(fd, good) || lseek(fd, 0, SEEK_END) < 0)) {
    snprintf(err, errlen, "cutting a torn line: %s", strerror(errno));
    rc = -1;
  }
  return rc;
}

/* If the crash stopped the import, reads the rest of the input from where
 * the spool's mark says. */
static int resume_import(app_t *a)
{
  pacer_spool_status_t ss;
  pacer_spool_status_init(&ss);
  if (pacer_spool_status(a->o.spool_path, &ss) || !ss.mark[0])
    return 0; /* a spool of another program, or nothing imported */
  json_t *m = json_loads(ss.mark, 0, NULL);
  const char *in = json_string_value(json_object_get(m, "input"));
  json_int_t off = json_integer_value(json_object_get(m, "offset"));
  json_int_t line = json_integer_value(json_object_get(m, "line"));
  int complete = json_is_true(json_object_get(m, "complete"));
  if (!in || complete) {
    json_decref(m);
    return 0;
  }
  snprintf(a->input_path, sizeof a->input_path, "%s", in);
  json_decref(m);
  if (!strcmp(a->input_path, "-")) {
    fprintf(stderr,
            "pacer: the import from stdin stopped after line %lld; what "
            "followed cannot be read again\n",
            (long long)line);
    return -1;
  }
  int fd = open(a->input_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || lseek(fd, (off_t)off, SEEK_SET) != (off_t)off) {
    fprintf(stderr, "pacer: resuming the import of %s: %s\n", a->input_path,
            strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (!a->o.quiet)
    fprintf(stderr, "pacer: reading %s again from line %lld\n", a->input_path,
            (long long)line + 1);
  int rc = cli_send_all(a, fd, (unsigned long)line, (uint64_t)off);
  close(fd);
  return rc;
}

int cli_resume_jobs(app_t *a)
{
  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  int rc = pacer_resume(a->p, &info);
  atomic_store(&a->total, info.loaded);
  atomic_store(&a->total_known, 1);
  if (rc)
    cli_say(a, "pacer: resume: %s\n", pacer_strerror(rc));
  else if (!a->o.quiet)
    cli_say(a,
            "pacer: resuming %llu jobs from %s (%llu were in flight at the "
            "last stop; %llu name an unknown handler and stay)\n",
            (unsigned long long)info.loaded, a->o.spool_path,
            (unsigned long long)info.in_flight,
            (unsigned long long)info.no_handler);
  if (rc)
    return -1;
  return resume_import(a) != 0 ? -1 : 0;
}

/* ---- the run's settings, kept in the spool ---- */

/* path made absolute, its directory resolved (the file may not exist). */
static void abs_path(const char *path, char *out, size_t cap)
{
  char buf[PATH_MAX], dir[PATH_MAX];
  if (realpath(path, buf)) {
    snprintf(out, cap, "%s", buf);
    return;
  }
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (realpath(dir, buf))
    snprintf(out, cap, "%s/%s", strcmp(buf, "/") ? buf : "", base);
  else
    snprintf(out, cap, "%s", path);
}

/* The run's settings and its output (an absolute path, or null for
 * stdout): pacer resume uses them. */
int cli_store_settings(app_t *a, char *err, size_t errlen)
{
  json_t *set = cli_opts_settings(&a->o);
  char path[PATH_MAX + 1], msg[512];
  if (set && a->o.ca_file) { /* found from any directory */
    abs_path(a->o.ca_file, path, sizeof path);
    json_object_set_new(set, "ca-file", json_string(path));
  }
  if (set && a->o.body_template) {
    abs_path(a->o.body_template, path, sizeof path);
    json_object_set_new(set, "body-template", json_string(path));
  }
  if (a->o.out_path)
    abs_path(a->o.out_path, path, sizeof path);
  json_t *v = json_pack("{s:i, s:o, s:o}", "version", 1, "settings", set, "out",
                        a->o.out_path ? json_string(path) : json_null());
  char *str = v ? json_dumps(v, JSON_COMPACT) : NULL;
  json_decref(v);
  if (!str) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc =
      pacer_spool_set_value(a->o.spool_path, SETTINGS, str, msg, sizeof msg);
  free(str);
  if (rc)
    snprintf(err, errlen, "--spool %s: %s", a->o.spool_path, msg);
  return rc ? -1 : 0;
}

/* Writes "--name value" of one setting, as --config spells it. */
static void say_setting(FILE *f, const char *name, json_t *v)
{
  char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  fprintf(f, "--%s %s", name, s ? s : "(default)");
  free(s);
}

/* Says on stderr each setting of m that differs from the run's (set). */
static void say_overrides(const cli_opts_t *m, json_t *set)
{
  json_t *now = cli_opts_settings(m);
  const char *k;
  json_t *x;
  json_object_foreach(now, k, x)
  {
    json_t *was = json_object_get(set, k);
    if (was && json_equal(was, x))
      continue;
    fprintf(stderr, "pacer: resume: ");
    say_setting(stderr, k, x);
    fprintf(stderr, " overrides the run's ");
    say_setting(stderr, k, was);
    fputc('\n', stderr);
  }
  json_decref(now);
}

/* m's --out: the run's (run_out, NULL: stdout) when none is given, another
 * one only with --allow-out-change. Returns 0, or -1 with err set. */
static int resume_out(cli_opts_t *m, const char *run_out, char *err,
                      size_t errlen)
{
  if (!m->out_path) {
    if (run_out && !(m->out_path = strdup(run_out))) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    return 0;
  }
  char given[PATH_MAX + 1];
  abs_path(m->out_path, given, sizeof given);
  if (run_out && !strcmp(given, run_out))
    return 0;
  if (!m->allow_out_change) {
    snprintf(err, errlen,
             "--out %s is not the run's output (%s): the results would be "
             "split between two files; give --allow-out-change to write the "
             "rest there",
             m->out_path, run_out ? run_out : "stdout");
    return -1;
  }
  fprintf(stderr,
          "pacer: resume: the rest of the results go to %s, not to the "
          "run's %s (--allow-out-change)\n",
          given, run_out ? run_out : "stdout");
  return 0;
}

/* The stored settings as JSON: 0 with *v (a new reference), 1 when the
 * spool keeps none and the flags given will do, -1 with err set. */
static int load_settings(app_t *a, json_t **v, char *err, size_t errlen)
{
  char *stored = NULL, msg[512];
  int rc = pacer_spool_get_value(a->o.spool_path, SETTINGS, &stored, msg,
                                 sizeof msg);
  if (rc == PACER_ENOTFOUND) {
    if (!a->o.out_path) {
      snprintf(err, errlen,
               "--spool %s keeps no settings of its run (an older pacer "
               "wrote it): give --out and the run's flags again",
               a->o.spool_path);
      return -1;
    }
    fprintf(stderr,
            "pacer: --spool %s keeps no settings of its run (an older pacer "
            "wrote it): the flags given are used\n",
            a->o.spool_path);
    return 1;
  }
  if (rc) {
    snprintf(err, errlen, "--spool %s: %s", a->o.spool_path, msg);
    return -1;
  }
  *v = json_loads(stored, 0, NULL);
  free(stored);
  json_t *out = json_object_get(*v, "out");
  if (!json_is_object(json_object_get(*v, "settings")) ||
      !(json_is_string(out) || json_is_null(out))) {
    snprintf(err, errlen, "--spool %s: the run's settings are damaged",
             a->o.spool_path);
    json_decref(*v);
    return -1;
  }
  return 0;
}

int cli_resume_settings(app_t *a, int argc, char **argv, char *err,
                        size_t errlen)
{
  json_t *v = NULL;
  int rc = load_settings(a, &v, err, errlen);
  if (rc)
    return rc > 0 ? 0 : -1;
  json_t *set = json_object_get(v, "settings");
  json_t *out = json_object_get(v, "out");
  char who[512];
  snprintf(who, sizeof who, "--spool %s: the run's settings", a->o.spool_path);
  cli_opts_t m;
  cli_opts_init(&m);
  if (cli_opts_apply_settings(&m, set, who, err, errlen) ||
      cli_opts_parse(&m, argc, argv, err, errlen)) {
    cli_opts_free(&m);
    json_decref(v);
    return -1;
  }
  say_overrides(&m, set);
  rc = resume_out(&m, json_is_string(out) ? json_string_value(out) : NULL, err,
                  errlen);
  json_decref(v);
  if (rc) {
    cli_opts_free(&m);
    return -1;
  }
  cli_opts_free(&a->o);
  a->o = m;
  return 0;
}
