/* SPDX-License-Identifier: MIT */
/* metrics.c - the command's metrics in the Prometheus text format
 * (pacer_stats_prometheus()): served at /metrics over HTTP with
 * --metrics-listen, and written to --metrics-file for node_exporter's
 * textfile collector, whole files by rename, every --metrics-interval and
 * at the end.
 *
 * Threads: libmicrohttpd's one thread answers scrapes, and a thread of
 * this module's rewrites the file; both read the dispatcher only through
 * pacer_stats_get() (any thread may). cli_metrics_stop() stops both before
 * the dispatcher is freed. The listening socket is bound here, before
 * libmicrohttpd gets it, so that a refused address is said with its
 * reason, and an IPv6 one takes no IPv4 traffic. */
#include "app.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the HTTP server ---- */

/* Queues status with body (a scrape's text, or a plain message). */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             char *body, enum MHD_ResponseMemoryMode mode,
                             const char *allow)
{
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), body, mode);
  if (!r) {
    if (mode == MHD_RESPMEM_MUST_FREE)
      free(body);
    return MHD_NO;
  }
  enum MHD_Result ret = MHD_add_response_header(
      r, MHD_HTTP_HEADER_CONTENT_TYPE,
      status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain; charset=utf-8");
  if (ret == MHD_YES && allow)
    ret = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  if (ret == MHD_YES)
    ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

/* The exposition of a->p now: a new string (free with free()), or NULL. */
static char *exposition(app_t *a)
{
  pacer_stats_t *st = NULL;
  char *text = NULL;
  if (pacer_stats_get(a->p, &st) == 0 &&
      pacer_stats_prometheus(st, a->o.metrics_keys, &text) != 0)
    text = NULL;
  pacer_stats_free(st);
  return text;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
  app_t *a = cls;
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)con_cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) &&
      strcmp(method, MHD_HTTP_METHOD_HEAD))
    return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                 "method not allowed: GET /metrics\n", MHD_RESPMEM_PERSISTENT,
                 "GET, HEAD");
  if (strcmp(url, "/metrics"))
    return reply(c, MHD_HTTP_NOT_FOUND,
                 "not found: the metrics are at /metrics\n",
                 MHD_RESPMEM_PERSISTENT, NULL);
  char *text = exposition(a);
  if (!text)
    return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                 "no statistics: out of memory\n", MHD_RESPMEM_PERSISTENT,
                 NULL);
  return reply(c, MHD_HTTP_OK, text, MHD_RESPMEM_MUST_FREE, NULL);
}

/* Binds --metrics-listen and starts libmicrohttpd on it. Returns 0, or -1
 * with err set. */
static int serve(app_t *a, char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char why[512];
  const char *at = a->o.metrics_listen;
  if (cli_parse_listen(at, &ss, &len, why, sizeof why))
    return cli_fail(err, errlen, "--metrics-listen %s", why);
  int v6 = ss.ss_family == AF_INET6, one = 1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
      bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return cli_fail(err, errlen, "--metrics-listen %s: %s", at, strerror(e));
  }
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  unsigned port = 0;
  if (getsockname(fd, (struct sockaddr *)&got, &glen) == 0)
    port = ntohs(v6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                    : ((struct sockaddr_in *)&got)->sin_port);
  /* One thread answers; a scraper makes one request at a time. */
  a->metrics_daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
      on_request, a, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
      MHD_OPTION_END);
  if (!a->metrics_daemon) {
    close(fd);
    return cli_fail(err, errlen,
                    "--metrics-listen %s: cannot start the "
                    "server",
                    at);
  }
  /* With port 0 the port is news even to a quiet run. */
  char host[INET6_ADDRSTRLEN + 2];
  const char *colon = v6 ? strrchr(at, ']') : strrchr(at, ':');
  snprintf(host, sizeof host, "%.*s", (int)(colon - at) + v6, at);
  if (!a->o.quiet || strcmp(colon + 1 + v6, "0") == 0)
    cli_say(a, "pacer: metrics at http://%s:%u/metrics\n", host, port);
  return 0;
}

/* ---- the textfile ---- */

/* Writes text to --metrics-file through a temporary file in its directory
 * (its name ends in .tmp, which the textfile collector skips) renamed over
 * it. Returns 0, or an errno value. */
static int write_file(app_t *a, const char *text)
{
  const char *path = a->o.metrics_file;
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp)
    return ENOMEM;
  snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
  int fd =
      open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  int e = fd < 0 ? errno : 0;
  for (size_t off = 0, len = strlen(text); !e && off < len;) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno != EINTR)
      e = errno;
    else if (w > 0)
      off += (size_t)w;
  }
  if (fd >= 0 && close(fd) && !e)
    e = errno;
  if (!e && rename(tmp, path))
    e = errno;
  if (e && fd >= 0)
    unlink(tmp);
  free(tmp);
  return e;
}

/* Renders st (NULL: a snapshot now) and writes the file. Returns 0 or an
 * errno value. */
static int refresh_file(app_t *a, const pacer_stats_t *st)
{
  char *text = NULL;
  if (st) {
    if (pacer_stats_prometheus(st, a->o.metrics_keys, &text))
      text = NULL;
  } else {
    text = exposition(a);
  }
  if (!text)
    return ENOMEM;
  int e = write_file(a, text);
  free(text);
  return e;
}

static void *file_main(void *arg)
{
  app_t *a = arg;
  int said = 0; /* the errno last said, so a failure is said once */
  pthread_mutex_lock(&a->mlock);
  while (!a->mstop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = a->o.metrics_interval_ms;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    while (!a->mstop &&
           pthread_cond_timedwait(&a->mcond, &a->mlock, &ts) != ETIMEDOUT) {
    }
    if (a->mstop)
      break;
    pthread_mutex_unlock(&a->mlock);
    int e = refresh_file(a, NULL);
    if (e && e != said)
      cli_say(a, "pacer: --metrics-file %s: %s (retrying)\n", a->o.metrics_file,
              strerror(e));
    said = e;
    pthread_mutex_lock(&a->mlock);
  }
  pthread_mutex_unlock(&a->mlock);
  return NULL;
}

int cli_metrics_start(app_t *a, char *err, size_t errlen)
{
  if (a->o.metrics_listen && serve(a, err, errlen))
    return -1;
  if (!a->o.metrics_file)
    return 0;
  /* The first file now: a directory that cannot take it is a usage error,
   * said before anything is sent. */
  int e = refresh_file(a, NULL);
  if (e)
    return cli_fail(err, errlen, "--metrics-file %s: %s", a->o.metrics_file,
                    strerror(e));
  if (pthread_create(&a->metrics_thread, NULL, file_main, a))
    return cli_fail(err, errlen, "--metrics-file: cannot start a thread");
  a->metrics_started = 1;
  return 0;
}

void cli_metrics_stop(app_t *a)
{
  if (a->metrics_started) {
    pthread_mutex_lock(&a->mlock);
    a->mstop = 1;
    pthread_cond_signal(&a->mcond);
    pthread_mutex_unlock(&a->mlock);
    pthread_join(a->metrics_thread, NULL);
    a->metrics_started = 0;
  }
  if (a->metrics_daemon) {
    MHD_stop_daemon(a->metrics_daemon);
    a->metrics_daemon = NULL;
  }
}

int cli_metrics_final(app_t *a, const pacer_stats_t *st)
{
  int e = refresh_file(a, st);
  if (!e)
    return 0;
  cli_say(a, "pacer: --metrics-file %s: %s\n", a->o.metrics_file, strerror(e));
  return -1;
}
