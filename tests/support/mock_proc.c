/* SPDX-License-Identifier: MIT */
/* mock_proc.c - spawn and query pacer-mock for end-to-end tests.
 *
 * The port is read from the server's first line on a pipe, so nothing waits
 * by sleeping; the rest of its output goes to the test's stderr. */
#include "mock_proc.h"
#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int mock_start(mock_proc_t *m, const char *const *args)
{
  memset(m, 0, sizeof *m);
  int fds[2];
  if (pipe(fds))
    return -1;
  const char *argv[64] = {PACER_MOCK_PATH, "--port", "0"};
  size_t n = 3;
  for (size_t i = 0; args && args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  int rc = posix_spawn(&m->pid, PACER_MOCK_PATH, &fa, NULL, (char *const *)argv,
                       environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc) {
    fprintf(stderr, "mock_start: cannot run %s\n", PACER_MOCK_PATH);
    close(fds[0]);
    return -1;
  }
  FILE *out = fdopen(fds[0], "r");
  char line[256] = "";
  if (!out || !fgets(line, sizeof line, out)) {
    fprintf(stderr, "mock_start: no startup line from pacer-mock\n");
    if (out)
      fclose(out);
    mock_stop(m);
    return -1;
  }
  m->out = out; /* kept open: a write to a closed pipe would kill it */
  const char *colon = strrchr(line, ':');
  m->port = colon ? atoi(colon + 1) : 0;
  if (m->port <= 0) {
    fprintf(stderr, "mock_start: cannot read a port in: %s", line);
    mock_stop(m);
    return -1;
  }
  snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", m->port);
  return 0;
}

int mock_stop(mock_proc_t *m)
{
  if (m->pid <= 0)
    return -1;
  kill(m->pid, SIGTERM);
  int st = 0;
  waitpid(m->pid, &st, 0);
  m->pid = 0;
  if (m->out)
    fclose(m->out);
  m->out = NULL;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

typedef struct buf {
  char *p;
  size_t n;
} buf_t;

static size_t collect(char *d, size_t s, size_t n, void *arg)
{
  buf_t *b = arg;
  char *q = realloc(b->p, b->n + s * n + 1);
  if (!q)
    return 0;
  memcpy(q + b->n, d, s * n);
  b->n += s * n;
  q[b->n] = '\0';
  b->p = q;
  return s * n;
}

static char *fetch(const mock_proc_t *m, const char *path, int post)
{
  char url[512];
  snprintf(url, sizeof url, "%s%s", m->base, path);
  CURL *e = curl_easy_init();
  buf_t b = {NULL, 0};
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  if (post)
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
  CURLcode rc = curl_easy_perform(e);
  curl_easy_cleanup(e);
  if (rc != CURLE_OK) {
    free(b.p);
    return NULL;
  }
  return b.p ? b.p : strdup("");
}

json_t *mock_get(const mock_proc_t *m, const char *path)
{
  char *body = fetch(m, path, 0);
  if (!body)
    return NULL;
  json_error_t err;
  json_t *j = json_loads(body, 0, &err);
  free(body);
  return j;
}

int mock_post(const mock_proc_t *m, const char *path)
{
  char *body = fetch(m, path, 1);
  free(body);
  return body ? 0 : -1;
}

mock_arrival_t *mock_arrivals(const mock_proc_t *m, json_t **stats, size_t *n)
{
  *n = 0;
  json_t *s = mock_get(m, "/__stats");
  json_t *list = json_object_get(s, "arrivals");
  if (!json_is_array(list) ||
      json_is_true(json_object_get(s, "arrivals_truncated"))) {
    json_decref(s);
    return NULL;
  }
  size_t len = json_array_size(list);
  mock_arrival_t *a = calloc(len ? len : 1, sizeof *a);
  if (!a) {
    json_decref(s);
    return NULL;
  }
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it)
  {
    const char *path = json_string_value(json_object_get(it, "path"));
    const char *prio = json_string_value(json_object_get(it, "priority"));
    const char *job = json_string_value(json_object_get(it, "job"));
    a[i].t_ms = json_number_value(json_object_get(it, "t_ms"));
    a[i].t_us = (int64_t)(a[i].t_ms * 1000.0 + 0.5);
    a[i].status = (int)json_integer_value(json_object_get(it, "status"));
    a[i].high = prio && strcmp(prio, "high") == 0;
    snprintf(a[i].path, sizeof a[i].path, "%s", path ? path : "");
    snprintf(a[i].job, sizeof a[i].job, "%s", job ? job : "");
  }
  *n = len;
  if (stats)
    *stats = s;
  else
    json_decref(s);
  return a;
}

long long mock_stat(const mock_proc_t *m, const char *field)
{
  json_t *j = mock_get(m, "/__stats");
  json_t *v = j ? json_object_get(j, field) : NULL;
  long long r = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
  json_decref(j);
  return r;
}

void raise_nofile(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

double timing_scale(void)
{
#ifndef PACER_TIMING_SCALE
#define PACER_TIMING_SCALE 1
#endif
  const char *env = getenv("PACER_TIMING_SCALE");
  if (env && *env) {
    char *end;
    double v = strtod(env, &end);
    if (*end == '\0' && v >= 1 && v <= 100)
      return v;
  }
  return PACER_TIMING_SCALE;
}

int mock_available(void)
{
  if (access(PACER_MOCK_PATH, X_OK) == 0)
    return 1;
  printf("SKIP: no pacer-mock at %s: the end-to-end tests cannot run\n",
         PACER_MOCK_PATH);
  return 0;
}

mock_proc_t mock;

int mock_setup(void **state)
{
  (void)state;
  raise_nofile();
  return mock_start(&mock, NULL);
}

int mock_teardown(void **state)
{
  (void)state;
  return mock_stop(&mock);
}

void mock_url(char *out, size_t cap, const mock_proc_t *m, const char *path)
{
  snprintf(out, cap, "%s%s", m->base, path);
}

int mock_reset(const mock_proc_t *m)
{
  return mock_post(m, "/__reset");
}

json_t *mock_last_request(const mock_proc_t *m, const char *path)
{
  json_t *all = mock_get(m, "/__requests");
  json_t *found = NULL, *it;
  size_t i;
  json_array_foreach(json_object_get(all, "requests"), i, it)
  {
    const char *p = json_string_value(json_object_get(it, "path"));
    if (p && strcmp(p, path) == 0)
      found = it;
  }
  json_incref(found);
  json_decref(all);
  return found;
}

const char *mock_header(json_t *req, const char *name)
{
  json_t *h = json_object_get(req, "headers");
  const char *k;
  json_t *v;
  json_object_foreach(h, k, v)
  {
    if (strcasecmp(k, name) == 0)
      return json_string_value(v);
  }
  return NULL;
}
