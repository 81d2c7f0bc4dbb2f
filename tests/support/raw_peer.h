/* SPDX-License-Identifier: MIT */
/* raw_peer.h - a small TCP server on 127.0.0.1 for end-to-end tests, for the
 * hostile behaviours pacer-mock cannot produce: it accepts and never
 * answers, drips a response's headers, or resets the connection in the
 * middle of the headers or of the body. */
#ifndef PACER_RAW_PEER_H
#define PACER_RAW_PEER_H

#include <pthread.h>
#include <stdatomic.h>

typedef enum raw_mode {
  RAW_SILENT,        /* reads the request, never writes */
  RAW_DRIP_HEADERS,  /* a status line, then one header byte per drip_ms */
  RAW_RESET_HEADERS, /* part of the headers, then a reset (RST) */
  RAW_RESET_BODY,    /* headers of a 1000-byte body, 100 bytes, a reset */
  RAW_CLOSE_BODY     /* the same, then a normal close (FIN) */
} raw_mode_t;

typedef struct raw_peer {
  int listen_fd;
  int port;
  raw_mode_t mode;
  int drip_ms;
  atomic_int accepted; /* connections accepted so far */
  atomic_int stop;
  pthread_t thread;
} raw_peer_t;

/* Listens on 127.0.0.1, a free port, and serves every connection in mode
 * (drip_ms: the interval of RAW_DRIP_HEADERS) on its own thread until
 * raw_stop(). Returns 0, or -1 with a message on stderr. */
int raw_start(raw_peer_t *p, raw_mode_t mode, int drip_ms);
/* Stops the thread and closes every socket. */
void raw_stop(raw_peer_t *p);

#endif
