/* SPDX-License-Identifier: MIT */
/* main.c - pacer-mock's entry point: flags, startup line, signals, shutdown.
 *
 * SIGTERM and SIGINT are blocked before any thread starts, so every thread
 * inherits the mask and only the main thread takes them, in sigwait(): the
 * shutdown runs in ordinary code, not in a signal handler. The port file is
 * written (by rename, so it is never seen half-written) before the startup
 * line is printed, so a reader of either finds the other ready. */
#include "mock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int write_port_file(const char *path, unsigned port)
{
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
      (int)sizeof tmp) {
    fprintf(stderr, "pacer-mock: --port-file: path too long\n");
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "pacer-mock: %s: %s\n", tmp, strerror(errno));
    return -1;
  }
  char line[16];
  int n = snprintf(line, sizeof line, "%u\n", port);
  bool ok = write(fd, line, (size_t)n) == n;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    fprintf(stderr, "pacer-mock: %s: %s\n", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* Raises the soft descriptor limit as far as allowed; returns it. */
static rlim_t raise_nofile(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    struct rlimit nl = {want, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
      rl.rlim_cur = want;
  }
  return rl.rlim_cur;
}

int main(int argc, char **argv)
{
  mock_options_t o;
  int rc = options_parse(argc, argv, &o);
  if (rc > 0)
    return 0;
  if (rc < 0)
    return 2;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
    fprintf(stderr, "pacer-mock: cannot block signals\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  /* Each connection needs a descriptor; keep some for everything else. */
  rlim_t nofile = raise_nofile();
  if (nofile < 128) {
    fprintf(stderr, "pacer-mock: file descriptor limit too low\n");
    return 1;
  }
  if (o.max_connections > nofile - 64)
    o.max_connections = (unsigned)(nofile - 64);

  server_t *s;
  if (server_start(&o, &s) != 0)
    return 1;
  unsigned port = server_port(s);
  if (o.port_file && write_port_file(o.port_file, port) != 0) {
    server_stop(s);
    return 1;
  }
  printf("pacer-mock listening on %s%s%s:%u\n", o.ipv6 ? "[" : "", o.host,
         o.ipv6 ? "]" : "", port);
  fflush(stdout);

  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  server_stop(s);
  return 0;
}
