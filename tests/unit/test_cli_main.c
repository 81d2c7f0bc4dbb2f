/* SPDX-License-Identifier: MIT */
/* test_cli_main.c - the `pacer` command when memory runs out while it
 * reads and submits (src/cli/main.c, built in here as pacer_cli_main()).
 *
 * Each run forks: the child runs `pacer send --spool` on three job lines
 * with allocation N of its main thread failing (alone, or with every later
 * one), its own and the static libpacer's allocations through the --wrap'ed
 * allocators, jansson's through json_set_alloc_funcs(). The jobs go to
 * 127.0.0.1 port 1, refused at once: nothing leaves the machine and
 * nothing waits. The parent checks that the command never stops in silence:
 * every line has at most one result line, a line not sent for lack of
 * memory says so with its "line N:", and if any line has no result line or
 * the spool does not record the input as read to its end, the command said
 * why on stderr (and exited non-zero). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fail_alloc.h"
#include <pacer/pacer.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int pacer_cli_main(int argc, char **argv);

#define LINES 3

static char dir[64], jobs[128], spool[128], out[128], errp[128], countp[128];
static int full;   /* PACER_CHAOS_FULL=1: every N */
static long every; /* PACER_CHAOS_EVERY=K: every K-th N, throughout (the
                      memcheck run, where each run is 50 times slower) */

static void rm_run_files(void)
{
  static const char *const tails[] = {"", "-wal", "-shm", "-journal", ".lock"};
  char path[160];
  for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
    snprintf(path, sizeof path, "%s%s", spool, tails[i]);
    unlink(path);
  }
  unlink(out);
  unlink(errp);
  unlink(countp);
}

/* Runs the command in a child; returns its wait status. */
static int run(long n, int from)
{
  rm_run_files();
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, 2) < 0)
      _exit(99);
    close(fd);
    char *argv[] = {"pacer", "send",    "--spool", spool, "--max-attempts",
                    "1",     "--quiet", "--out",   out,   "--no-breaker",
                    jobs,    NULL};
    json_set_alloc_funcs(fail_alloc_malloc, fail_alloc_free);
    if (from)
      fail_alloc_arm_from(n);
    else
      fail_alloc_arm(n);
    int rc = pacer_cli_main((int)(sizeof argv / sizeof *argv) - 1, argv);
    long seen = fail_alloc_seen();
    fail_alloc_arm(-1);
    FILE *c = fopen(countp, "w");
    if (c) {
      fprintf(c, "%ld\n", seen);
      fclose(c);
    }
    fflush(NULL);
    _exit(rc);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return st;
}

static long file_size(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

/* Checks one run; returns how many lines got no result line. */
static int check(long n, int from, int st)
{
  const char *mode = from ? "and every later one" : "alone";
  if (!WIFEXITED(st) || WEXITSTATUS(st) > 2) {
    print_error("allocation %ld (%s): the command ended with wait status "
                "0x%x\n",
                n, mode, st);
    fail();
  }
  int code = WEXITSTATUS(st);
  int results[LINES + 1] = {0};
  FILE *f = fopen(out, "r");
  char buf[8192];
  while (f && fgets(buf, sizeof buf, f)) {
    json_t *o = json_loads(buf, 0, NULL);
    if (!o) /* a torn last line: a write that failed */
      continue;
    json_int_t line = json_integer_value(json_object_get(o, "line"));
    assert_true(line >= 1 && line <= LINES);
    results[line]++;
    json_t *e = json_object_get(o, "error");
    const char *ec = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (ec && strcmp(ec, "PACER_ENOMEM") == 0) {
      char want[32];
      snprintf(want, sizeof want, "line %lld: ", (long long)line);
      if (!msg || strncmp(msg, want, strlen(want)) != 0) {
        print_error("allocation %ld (%s): line %lld's error says \"%s\", "
                    "not \"%s...\"\n",
                    n, mode, (long long)line, msg ? msg : "", want);
        fail();
      }
    }
    json_decref(o);
  }
  if (f)
    fclose(f);
  int missing = 0;
  for (int l = 1; l <= LINES; l++) {
    if (results[l] > 1) {
      print_error("allocation %ld (%s): line %d has %d result lines\n", n, mode,
                  l, results[l]);
      fail();
    }
    missing += results[l] == 0;
  }
  if (missing && (code == 0 || file_size(errp) == 0)) {
    print_error("allocation %ld (%s): %d of %d lines have no result line, "
                "exit status %d, and nothing on stderr\n",
                n, mode, missing, LINES, code);
    fail();
  }
  /* Nothing said: the spool's mark must say the import is complete, or
   * pacer send with this spool would find an unfinished run. */
  pacer_spool_status_t ss = {.struct_size = sizeof ss};
  if (code != 2 && file_size(errp) == 0 &&
      (pacer_spool_status(spool, &ss) != 0 ||
       !strstr(ss.mark, "\"complete\":true"))) {
    print_error("allocation %ld (%s): nothing on stderr, yet the spool's mark "
                "does not say the import is complete\n",
                n, mode);
    fail();
  }
  return missing;
}

static long seen_count(void)
{
  FILE *c = fopen(countp, "r");
  long n = -1;
  if (c) {
    if (fscanf(c, "%ld", &n) != 1)
      n = -1;
    fclose(c);
  }
  return n;
}

static void spooled_send_never_stops_in_silence(void **state)
{
  (void)state;
  int st = run(LONG_MAX, 0);
  assert_int_equal(check(-1, 0, st), 0);
  assert_int_equal(WEXITSTATUS(st), 1); /* three refused connections */
  long total = seen_count();
  assert_true(total > 0);
  /* By default every N from the first job line's submit on, where the
   * batch is built and submitted, and a sample before it (options, the
   * spool's settings); every N with PACER_CHAOS_FULL=1; every K-th N with
   * PACER_CHAOS_EVERY=K. */
  long runs = 0, silent_before = 0;
  for (int from = 0; from < 2; from++) {
    for (long n = 0; n < total; n++) {
      if (every > 1 ? n % every != 0 : !full && n < total / 2 && n % 16 != 0)
        continue;
      st = run(n, from);
      silent_before += check(n, from, st) > 0;
      runs++;
    }
  }
  printf("pacer send --spool: %ld allocations on the main thread, %ld runs "
         "(%ld with lines unreported, each explained on stderr)\n",
         total, runs, silent_before);
}

int main(void)
{
  const char *e = getenv("PACER_CHAOS_FULL");
  full = e && *e && strcmp(e, "0") != 0;
  e = getenv("PACER_CHAOS_EVERY");
  every = e ? strtol(e, NULL, 10) : 0;
  snprintf(dir, sizeof dir, "/tmp/pacer-climain-XXXXXX");
  if (!mkdtemp(dir))
    return 1;
  snprintf(jobs, sizeof jobs, "%s/jobs.jsonl", dir);
  snprintf(spool, sizeof spool, "%s/s.db", dir);
  snprintf(out, sizeof out, "%s/out.jsonl", dir);
  snprintf(errp, sizeof errp, "%s/err.txt", dir);
  snprintf(countp, sizeof countp, "%s/count", dir);
  FILE *f = fopen(jobs, "w");
  if (!f)
    return 1;
  for (int i = 1; i <= LINES; i++)
    fprintf(f, "{\"url\": \"http://127.0.0.1:1/j%d\", \"key\": \"k%d\"}\n", i,
            i);
  fclose(f);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spooled_send_never_stops_in_silence),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rm_run_files();
  unlink(jobs);
  rmdir(dir);
  return rc;
}
