/* SPDX-License-Identifier: MIT */
/* raw_peer.c - a hostile TCP server for end-to-end tests (raw_peer.h).
 *
 * One thread polls the listening socket and up to MAX_CONNS connections
 * every few milliseconds, so raw_stop() is answered within a poll interval
 * and a silent or dripping connection holds no thread. A connection acts
 * once its request's headers are in (an empty line seen). */
#include "raw_peer.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 16
#define POLL_MS 20

typedef struct rconn {
  int fd;
  int got_request; /* the request's headers are in */
  unsigned tail;   /* last 4 bytes read, to spot "\r\n\r\n" across reads */
  long long next_drip_ms;
} rconn_t;

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const char *s, size_t n)
{
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

/* Closes with a reset: no FIN, the client's next read fails. */
static void reset(int fd)
{
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

/* The request is in: act as the mode says. Returns 0 to keep fd, 1 when it
 * was closed. */
static int answer(raw_peer_t *p, rconn_t *c)
{
  static const char body_head[] = "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Length: 1000\r\n\r\n";
  char body[100];
  switch (p->mode) {
  case RAW_SILENT:
    return 0;
  case RAW_DRIP_HEADERS:
    send_all(c->fd, "HTTP/1.1 200 OK\r\nX-Drip: ", 25);
    c->next_drip_ms = now_ms() + p->drip_ms;
    return 0;
  case RAW_RESET_HEADERS:
    send_all(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: te", 34);
    reset(c->fd);
    return 1;
  case RAW_RESET_BODY:
  case RAW_CLOSE_BODY:
    memset(body, 'x', sizeof body);
    send_all(c->fd, body_head, sizeof body_head - 1);
    send_all(c->fd, body, sizeof body);
    if (p->mode == RAW_RESET_BODY)
      reset(c->fd);
    else
      close(c->fd);
    return 1;
  }
  return 0;
}

static void *serve(void *arg)
{
  raw_peer_t *p = arg;
  rconn_t conns[MAX_CONNS];
  size_t n = 0;
  while (!atomic_load(&p->stop)) {
    struct pollfd pf[MAX_CONNS + 1];
    pf[0].fd = p->listen_fd;
    pf[0].events = POLLIN;
    for (size_t i = 0; i < n; i++) {
      pf[i + 1].fd = conns[i].fd;
      pf[i + 1].events = POLLIN;
    }
    if (poll(pf, n + 1, POLL_MS) < 0 && errno != EINTR)
      break;
    long long now = now_ms();
    size_t polled = n; /* pf[1..polled] are conns[0..polled) as they were */
    for (size_t i = 0; i < n;) {
      rconn_t *c = &conns[i];
      int closed = 0;
      if (i < polled && pf[i + 1].fd == c->fd &&
          (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r <= 0) {
          close(c->fd);
          closed = 1;
        } else {
          for (ssize_t k = 0; k < r && !c->got_request; k++) {
            c->tail = (c->tail << 8) | (unsigned char)buf[k];
            if (c->tail == 0x0d0a0d0au) {
              c->got_request = 1;
              closed = answer(p, c);
            }
          }
        }
      }
      if (!closed && c->got_request && p->mode == RAW_DRIP_HEADERS &&
          now >= c->next_drip_ms) {
        send_all(c->fd, "a", 1);
        c->next_drip_ms = now + p->drip_ms;
      }
      if (closed)
        conns[i] = conns[--n]; /* its pf entry is elsewhere: seen next poll */
      else
        i++;
    }
    if ((pf[0].revents & POLLIN) && n < MAX_CONNS) {
      int fd = accept(p->listen_fd, NULL, NULL);
      if (fd >= 0) {
        atomic_fetch_add(&p->accepted, 1);
        conns[n++] = (rconn_t){.fd = fd};
      }
    }
  }
  for (size_t i = 0; i < n; i++)
    close(conns[i].fd);
  return NULL;
}

int raw_start(raw_peer_t *p, raw_mode_t mode, int drip_ms)
{
  memset(p, 0, sizeof *p);
  p->mode = mode;
  p->drip_ms = drip_ms > 0 ? drip_ms : 1000;
  atomic_init(&p->accepted, 0);
  atomic_init(&p->stop, 0);
  p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, len) ||
      listen(p->listen_fd, 16) ||
      getsockname(p->listen_fd, (struct sockaddr *)&a, &len)) {
    perror("raw_start");
    if (p->listen_fd >= 0)
      close(p->listen_fd);
    return -1;
  }
  p->port = ntohs(a.sin_port);
  if (pthread_create(&p->thread, NULL, serve, p)) {
    close(p->listen_fd);
    return -1;
  }
  return 0;
}

void raw_stop(raw_peer_t *p)
{
  atomic_store(&p->stop, 1);
  pthread_join(p->thread, NULL);
  close(p->listen_fd);
}
