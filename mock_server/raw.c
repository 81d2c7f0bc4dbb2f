/* SPDX-License-Identifier: MIT */
/* raw.c - writes bytes MHD will not: headers that never end.
 *
 * libmicrohttpd builds a response's whole header in the connection's memory
 * pool, so it cannot send megabytes of headers. Instead the handler suspends
 * the connection (MHD then leaves its socket alone: no reads, writes or
 * timeouts) and hands the socket to this module's one thread, which writes a
 * status line and header bytes with non-blocking sends whenever poll() says
 * the socket is writable, until the limit or until the peer goes away. Then
 * it resumes the connection, and the handler closes it. Invariants: a job is
 * suspended before it is queued; every queued job is resumed exactly once,
 * when it ends or when the module stops; after raw_stop() no connection is
 * left suspended by this module. */
#include "mock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILL 65536

typedef struct rjob {
  struct MHD_Connection *conn;
  int fd, mode;
  uint64_t limit, sent;
} rjob_t;

struct raw {
  pthread_mutex_t mu;
  pthread_t thread;
  bool started, stopping;
  int wake[2];
  rjob_t *incoming; /* under mu */
  size_t nin, capin;
  char lines[FILL]; /* mode 1 filler: 64-byte header lines */
  char value[FILL]; /* mode 2 filler: one long header value */
};

static const char head1[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
static const char head2[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "X-Endless: ";

/* Writes what the socket takes now. Returns true when the job is over. */
static bool pump(raw_t *r, rjob_t *j)
{
  const char *head = j->mode == 1 ? head1 : head2;
  size_t headlen = j->mode == 1 ? sizeof head1 - 1 : sizeof head2 - 1;
  const char *fill = j->mode == 1 ? r->lines : r->value;
  while (j->sent < j->limit) {
    const char *p;
    size_t n;
    if (j->sent < headlen) {
      p = head + j->sent;
      n = headlen - (size_t)j->sent;
    } else {
      size_t off = (size_t)((j->sent - headlen) % FILL);
      p = fill + off;
      n = FILL - off;
    }
    if (n > j->limit - j->sent)
      n = (size_t)(j->limit - j->sent);
    ssize_t w = send(j->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
    j->sent += (uint64_t)w;
  }
  return true;
}

static void *run(void *arg)
{
  raw_t *r = arg;
  rjob_t *jobs = NULL;
  size_t n = 0, cap = 0;
  struct pollfd *pfd = malloc(sizeof *pfd); /* room for wake[0] and cap */
  bool stopping = pfd == NULL;

  while (!stopping) {
    pthread_mutex_lock(&r->mu);
    stopping = r->stopping;
    if (r->nin > 0 && n + r->nin > cap) {
      size_t ncap = (n + r->nin) * 2;
      rjob_t *nj = realloc(jobs, ncap * sizeof *nj);
      struct pollfd *np = realloc(pfd, (ncap + 1) * sizeof *np);
      if (np)
        pfd = np;
      if (nj)
        jobs = nj;
      if (nj && np)
        cap = ncap;
    }
    size_t take = r->nin <= cap - n ? r->nin : cap - n;
    if (take > 0) {
      memcpy(jobs + n, r->incoming + (r->nin - take), take * sizeof *jobs);
      n += take;
      r->nin -= take;
    }
    pthread_mutex_unlock(&r->mu);
    if (stopping)
      break;

    pfd[0].fd = r->wake[0];
    pfd[0].events = POLLIN;
    for (size_t i = 0; i < n; i++) {
      pfd[i + 1].fd = jobs[i].fd;
      pfd[i + 1].events = POLLOUT;
      pfd[i + 1].revents = 0;
    }
    if (poll(pfd, (nfds_t)n + 1, -1) < 0 && errno != EINTR)
      break;
    if (pfd[0].revents & POLLIN) {
      char buf[64];
      while (read(r->wake[0], buf, sizeof buf) > 0) {
      }
    }
    for (size_t i = 0; i < n;) {
      if (pfd[i + 1].revents != 0 && pump(r, &jobs[i])) {
        MHD_resume_connection(jobs[i].conn);
        jobs[i] = jobs[n - 1];
        pfd[i + 1] = pfd[n];
        n--;
      } else {
        i++;
      }
    }
  }
  /* Stopping (or poll failed): give every connection back to MHD. Nothing
   * is queued after stopping is seen under the lock. */
  for (size_t i = 0; i < n; i++)
    MHD_resume_connection(jobs[i].conn);
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nin; i++)
    MHD_resume_connection(r->incoming[i].conn);
  r->nin = 0;
  r->stopping = true;
  pthread_mutex_unlock(&r->mu);
  free(jobs);
  free(pfd);
  return NULL;
}

raw_t *raw_new(void)
{
  raw_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  for (size_t i = 0; i < FILL; i += 64) {
    /* "X-Endless-Header: " + 44 'a' + "\r\n" = 64 bytes */
    memcpy(r->lines + i, "X-Endless-Header: ", 18);
    memset(r->lines + i + 18, 'a', 44);
    memcpy(r->lines + i + 62, "\r\n", 2);
  }
  memset(r->value, 'a', FILL);
  if (pipe(r->wake) != 0) {
    free(r);
    return NULL;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(r->wake[i], F_SETFL, fcntl(r->wake[i], F_GETFL) | O_NONBLOCK);
    fcntl(r->wake[i], F_SETFD, FD_CLOEXEC);
  }
  if (pthread_mutex_init(&r->mu, NULL) != 0)
    goto fail;
  if (pthread_create(&r->thread, NULL, run, r) != 0) {
    pthread_mutex_destroy(&r->mu);
    goto fail;
  }
  r->started = true;
  return r;
fail:
  close(r->wake[0]);
  close(r->wake[1]);
  free(r);
  return NULL;
}

int raw_submit_endless(raw_t *r, struct MHD_Connection *c, int fd, int mode,
                       uint64_t limit)
{
  pthread_mutex_lock(&r->mu);
  if (r->stopping) {
    pthread_mutex_unlock(&r->mu);
    return -1;
  }
  if (r->nin == r->capin) {
    size_t ncap = r->capin ? r->capin * 2 : 16;
    rjob_t *ni = realloc(r->incoming, ncap * sizeof *ni);
    if (ni == NULL) {
      pthread_mutex_unlock(&r->mu);
      return -1;
    }
    r->incoming = ni;
    r->capin = ncap;
  }
  MHD_suspend_connection(c);
  r->incoming[r->nin++] = (rjob_t){c, fd, mode, limit, 0};
  pthread_mutex_unlock(&r->mu);
  char one = 1;
  ssize_t w = write(r->wake[1], &one, 1); /* full pipe: already woken */
  (void)w;
  return 0;
}

void raw_stop(raw_t *r)
{
  if (r == NULL || !r->started)
    return;
  pthread_mutex_lock(&r->mu);
  r->stopping = true;
  pthread_mutex_unlock(&r->mu);
  char one = 1;
  ssize_t w = write(r->wake[1], &one, 1);
  (void)w;
  pthread_join(r->thread, NULL);
  r->started = false;
}

void raw_free(raw_t *r)
{
  if (r == NULL)
    return;
  raw_stop(r);
  pthread_mutex_destroy(&r->mu);
  close(r->wake[0]);
  close(r->wake[1]);
  free(r->incoming);
  free(r);
}
