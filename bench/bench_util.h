/* SPDX-License-Identifier: MIT */
/* bench_util.h - what every benchmark program measures with: monotonic time,
 * the process's CPU time (all threads), its resident memory, its thread
 * count, and a raised descriptor limit. Header only; each program prints
 * one line of JSON on stdout that bench/run reads with jq. */
#ifndef PACER_BENCH_UTIL_H
#define PACER_BENCH_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct bench_cpu {
  double user, sys; /* seconds, every thread of the process */
  long vcsw, ivcsw; /* voluntary and involuntary context switches */
} bench_cpu_t;

static inline bench_cpu_t bench_cpu(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  bench_cpu_t c = {
      (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
      ru.ru_nvcsw, ru.ru_nivcsw};
  return c;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1. */
static inline long bench_status_kb(const char *field)
{
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long kb = -1;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      kb = strtol(line + n + 1, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

/* Threads of this process now (main thread included). */
static inline int bench_threads(void)
{
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* Writes, as JSON members "name":switches, the voluntary context switches of
 * each thread of this process so far (threads of one name summed), i.e.
 * how often each kind of thread went to sleep and was woken. */
static inline void bench_print_thread_switches(FILE *out)
{
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return;
  char names[16][32];
  long sw[16];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[300], comm[32] = "?", line[256];
    long v = 0;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fgets(comm, sizeof comm, f))
        comm[strcspn(comm, "\n")] = '\0';
      fclose(f);
    }
    snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
    f = fopen(path, "r");
    if (f) {
      while (fgets(line, sizeof line, f))
        if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
          v = strtol(line + 24, NULL, 10);
      fclose(f);
    }
    int i = 0;
    while (i < n && strcmp(names[i], comm) != 0)
      i++;
    if (i == n && n < 16) {
      snprintf(names[n], sizeof names[n], "%s", comm);
      sw[n++] = 0;
    }
    if (i < n)
      sw[i] += v;
  }
  closedir(d);
  for (int i = 0; i < n; i++)
    fprintf(out, "%s\"%s\":%ld", i ? "," : "", names[i], sw[i]);
}

/* Lifts the soft descriptor limit to the hard one: 1,000 connections. */
static inline void bench_raise_nofile(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static inline void bench_sleep(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* Value of "--name" in argv, or def. */
static inline const char *bench_arg(int argc, char **argv, const char *name,
                                    const char *def)
{
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return def;
}

static inline double bench_argf(int argc, char **argv, const char *name,
                                double def)
{
  const char *v = bench_arg(argc, argv, name, NULL);
  return v ? strtod(v, NULL) : def;
}

/* 1 if the switch "--name" (no value) is in argv. */
static inline int bench_flag(int argc, char **argv, const char *name)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return 1;
  return 0;
}

#endif
