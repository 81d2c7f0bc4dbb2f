/* SPDX-License-Identifier: MIT */
/* mock_proc.h - end-to-end tests start their own pacer-mock on a free
 * loopback port, read its scorekeeping, and stop it. */
#ifndef PACER_MOCK_PROC_H
#define PACER_MOCK_PROC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct mock_proc {
  pid_t pid;
  void *out; /* its stdout, kept open until it stops */
  int port;
  char base[64]; /* "http://127.0.0.1:PORT" */
} mock_proc_t;

/* CTest's skip code (SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define MOCK_SKIP 77

/* Whether PACER_MOCK_PATH is an executable. If not, a test says SKIP and
 * returns MOCK_SKIP from main: a check that cannot run is not a pass. */
int mock_available(void);

/* Starts PACER_MOCK_PATH --port 0 plus args (NULL-terminated, may be NULL)
 * and waits for its "listening" line. Returns 0, or -1 with a message on
 * stderr. */
int mock_start(mock_proc_t *m, const char *const *args);
/* SIGTERM, then waits. Returns its exit status (0 on a clean stop). */
int mock_stop(mock_proc_t *m);

/* The group's server, shared by the tests of one executable:
 * mock_setup() raises the open-file limit (many connections) and starts it
 * with no arguments, mock_teardown() stops it; as CMocka group setup and
 * teardown. */
extern mock_proc_t mock;
int mock_setup(void **state);
int mock_teardown(void **state);

/* base + path into out (cap bytes). */
void mock_url(char *out, size_t cap, const mock_proc_t *m, const char *path);
/* Forgets what the server counted and recorded (POST /__reset): 0 or -1. */
int mock_reset(const mock_proc_t *m);

/* The last request the server recorded (its /__requests) whose path is
 * path, or NULL; free with json_decref. */
json_t *mock_last_request(const mock_proc_t *m, const char *path);
/* The value of header name (any case) in such a request, or NULL; borrowed
 * from req. */
const char *mock_header(json_t *req, const char *name);

/* GET or POST base + path with plain libcurl; returns the parsed JSON body
 * (free with json_decref) or NULL. */
json_t *mock_get(const mock_proc_t *m, const char *path);
int mock_post(const mock_proc_t *m, const char *path);

/* One arrival as pacer-mock recorded it (the "arrivals" of /__stats). */
typedef struct mock_arrival {
  double t_ms;  /* since start or the last reset, to the microsecond */
  int64_t t_us; /* the same, exact */
  int status;   /* 0 for a drop or garbage */
  int high;     /* its priority was "high" */
  char path[32];
  char job[32];
} mock_arrival_t;

/* The arrivals in order (free() them), *n their number; stats, unless NULL,
 * gets the whole /__stats object (json_decref). NULL if the server cannot be
 * read or kept only part of the list. */
mock_arrival_t *mock_arrivals(const mock_proc_t *m, json_t **stats, size_t *n);

/* Integer field of /__stats, or -1. */
long long mock_stat(const mock_proc_t *m, const char *field);

/* How much looser a time bound must be in this build: 1 in a plain build,
 * more under the sanitizers (PACER_TIMING_SCALE, set by CMake for ASan and
 * TSan builds, which run several times slower on a loaded machine). The
 * environment variable PACER_TIMING_SCALE (a number >= 1) overrides it. A
 * bound that is a count or a lower limit set by the code under test is not
 * scaled; only the slack a test allows for a slow machine is. */
double timing_scale(void);

/* Raises the open-file soft limit to the hard limit (many connections). */
void raise_nofile(void);

#endif
