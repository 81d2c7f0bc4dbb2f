/* SPDX-License-Identifier: MIT */
/* tlscache.h - TLS 1.3 sessions kept per origin for a dispatcher's
 * connections, so that each new connection offers a session of its own.
 *
 * Why: OpenSSL marks a TLS 1.3 session not resumable once a handshake has
 * used it (it asks clients to use each ticket once), and libcurl 7.88
 * (Debian 12's) keeps one session object per host, offered to every new
 * connection. In a burst, the first connection to finish its handshake
 * spoils that object for all those whose handshake starts before its next
 * ticket replaces it: they make full handshakes (2 to 99 of 100 over
 * HTTP/1.1, by the machine's load).
 *
 * What: the tickets a connection receives are kept here, by origin. A new
 * connection is offered a copy of a ticket not offered before (the newest
 * first), else, when all have been offered (a burst: a full handshake
 * brings two tickets, a resumed one one), a copy of the newest: a server
 * that takes a ticket twice (OpenSSL's stateless tickets, nginx's default)
 * resumes it, one that takes each once makes a full handshake, as without
 * this cache. Copies only, in and out: no connection ever holds an object
 * the cache keeps, so none is ever spoiled. TLS 1.2 sessions are left to
 * libcurl (any number of connections may resume one); a TLS 1.2 session
 * for an origin forgets its TLS 1.3 tickets.
 *
 * The sessions are opaque here (OpenSSL's SSL_SESSION, through ops), so
 * the logic is tested without a TLS library. Thread-safe: the dispatcher's
 * workers share one cache. */
#ifndef PACER_TLSCACHE_H
#define PACER_TLSCACHE_H

#include <stddef.h>

typedef struct pacer__tlscache pacer__tlscache_t;

/* What the cache does with a session; all required. */
typedef struct pacer__tls_ops {
  void (*ref)(void *ctx, void *sess);   /* takes a reference */
  void (*unref)(void *ctx, void *sess); /* drops one */
  /* A new object with the same ticket and secrets, owned by the caller;
   * NULL when out of memory. */
  void *(*copy)(void *ctx, void *sess);
  /* 1 if sess is a TLS 1.3 session that can resume (a ticket, not marked
   * used, not expired), 0 if a TLS 1.3 one that cannot, -1 if not TLS 1.3. */
  int (*tls13)(void *ctx, void *sess);
  void *ctx;
} pacer__tls_ops_t;

/* Origins kept at most (the least recently used goes), and tickets not
 * yet offered kept per origin (the oldest goes). */
#define PACER__TLSCACHE_ORIGINS 512
#define PACER__TLSCACHE_TICKETS 8
/* An origin's key: "host:port", at most this long; longer ones are not
 * kept. */
#define PACER__TLSCACHE_KEY_MAX 300

/* A new cache; NULL when out of memory. */
pacer__tlscache_t *pacer__tlscache_new(const pacer__tls_ops_t *ops);
/* Drops every session kept and frees c. NULL: no-op. */
void pacer__tlscache_free(pacer__tlscache_t *c);

/* A session a connection to origin received (a TLS 1.3 ticket; a TLS 1.2
 * session makes the origin forget its tickets). The cache keeps a copy of
 * it (out of memory: none): sess stays the caller's, untouched. */
void pacer__tlscache_put(pacer__tlscache_t *c, const char *origin, void *sess);

/* The session a new connection to origin offers: a copy, owned by the
 * caller, or NULL (none kept, none resumable, or out of memory: the
 * connection then offers what libcurl chose). */
void *pacer__tlscache_take(pacer__tlscache_t *c, const char *origin);

/* Counts, for tests. */
typedef struct pacer__tlscache_stats {
  size_t origins;       /* origins kept now */
  size_t unused;        /* tickets not yet offered, kept now */
  unsigned long fresh;  /* takes answered with a ticket not offered before */
  unsigned long reused; /* takes answered with the newest, offered before */
  unsigned long none;   /* takes answered NULL */
} pacer__tlscache_stats_t;
void pacer__tlscache_stats(pacer__tlscache_t *c, pacer__tlscache_stats_t *st);

#endif
