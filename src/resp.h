/* SPDX-License-Identifier: MIT */
/* resp.h - one attempt's outcome as a transport reports it: the error class,
 * HTTP status, response headers and body, bounded as they arrive.
 *
 * Headers live in one growing arena; body bytes in one growing buffer kept
 * NUL-terminated. A resp belongs to the job's current attempt; the engine
 * hands its headers and body to the callback through pacer_result_t. */
#ifndef PACER_RESP_H
#define PACER_RESP_H

#include <pacer/pacer.h>
#include <stddef.h>

typedef struct pacer__resp {
  int error;          /* 0: an HTTP response arrived; else PACER_ETRANSPORT,
                         ETIMEDOUT, ETOOLARGE, ECANCELED, ETLS, ESCHEME */
  int status;         /* HTTP status, 0 if none */
  int transport_code; /* e.g. a CURLcode; 0 if none */
  char message[256];  /* NUL-terminated detail; "" if none */
  int other_origin;   /* 1: the response came, through a followed redirect,
                         from another origin (scheme, host, port) than the
                         job's URL; 0: from the job's own origin */
  /* Connections (pacer_conn_stats_t), set by the transport as the attempt
   * ends: what it opened over all its hops, and the HTTP version of its
   * last response (1, 2 or 3; 0: none). */
  unsigned conns_opened, tls_full, tls_resumed;
  int http_version;

  pacer_header_t *headers; /* header_count entries pointing into hmem */
  size_t header_count, header_cap;
  char *hmem; /* arena of "name\0value\0" pairs */
  size_t hmem_len, hmem_cap;

  char *body; /* body_len bytes, then a NUL; NULL until a byte arrives */
  size_t body_len, body_cap;
} pacer__resp_t;

void pacer__resp_init(pacer__resp_t *r);
/* Frees the memory and re-initialises (for reuse or disposal). */
void pacer__resp_reset(pacer__resp_t *r);
/* Drops the headers (and nothing else): a redirect's next response begins. */
void pacer__resp_clear_headers(pacer__resp_t *r);

/* Copies one header. Name and value are given with their lengths and need
 * no NUL; surrounding spaces and tabs of the value are trimmed. Returns 0,
 * PACER_ENOMEM, or PACER_ETOOLARGE when the headers would pass max_bytes
 * (counted as name + value + 4 bytes each). */
int pacer__resp_add_header(pacer__resp_t *r, const char *name, size_t nlen,
                           const char *value, size_t vlen, size_t max_bytes);

/* Parses one raw header line as received ("Name: value\r\n"; a status line
 * "HTTP/1.1 200 OK" clears the headers and sets status; an empty line and
 * a line without ':' are ignored). Returns as pacer__resp_add_header(). */
int pacer__resp_header_line(pacer__resp_t *r, const char *line, size_t len,
                            size_t max_bytes);

/* Appends body bytes. Returns 0, PACER_ENOMEM, or PACER_ETOOLARGE when the
 * body would pass max_bytes (nothing is appended then). */
int pacer__resp_append_body(pacer__resp_t *r, const void *data, size_t len,
                            size_t max_bytes);

/* The value of the last header named name (case-insensitive), or NULL. */
const char *pacer__resp_header(const pacer__resp_t *r, const char *name);

/* Sets error, transport code and a printf-style message. */
void pacer__resp_fail(pacer__resp_t *r, int error, int transport_code,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
