/* SPDX-License-Identifier: MIT */
/* transport_curl.c - attempts over libcurl: one multi handle per worker,
 * easy handles pooled and reused so connections stay alive across jobs.
 *
 * Safety is set here, on every attempt: http and https only, redirects
 * followed by this module (never by libcurl) so that each hop is checked
 * and secrets are dropped when the origin changes, TLS verification on
 * unless asked off, connect and total timeouts, a low-speed abort, header
 * and body caps counted as bytes arrive (decoded bytes when decompressing),
 * and no signals (NOSIGNAL; pacer's threads block signals). With
 * deny_private, each socket's address is checked (netguard.h) before the
 * socket is made: after resolution and on every hop, so neither a name that
 * resolves to a private address nor a redirect to one gets through.
 *
 * Connections: HTTP/2 over https by default (ALPN), each transfer waiting
 * for a connection being set up to its host rather than opening its own
 * (CURLOPT_PIPEWAIT), so one connection per host and worker carries the
 * streams; the dispatcher's workers share TLS sessions and the DNS cache
 * through one share handle (never live connections: libcurl cannot share
 * those between threads), and with OpenSSL keep TLS 1.3 tickets in a
 * cache of their own (tlscache.h), each new connection offering a copy of
 * one, since libcurl's single session per host is spoiled by the first
 * handshake that uses it. Each worker's multi handle keeps its share of
 * max_host_connections per host.
 *
 * Over HTTP/1.1 (http_version PACER_HTTP_1_1) a worker's first https
 * transfer to an origin goes alone: the others to it wait, out of the multi
 * handle, until its response begins (its TLS session, tickets included, is
 * then in the shared cache) or it ends, so that a run's first burst resumes
 * that session instead of making as many full handshakes as transfers.
 * (With HTTP/2 possible, CURLOPT_PIPEWAIT does the waiting.)
 *
 * Invariants: a conn is either in the pool (job NULL) or carries exactly one
 * running attempt, on t->running and added to the multi handle, unless it
 * waits for its origin's first connection (waiting_on set: not added); a
 * job reaches `done` once. */
#include "clock.h"
#include "http.h"
#include "keys.h" /* uthash, in its non-fatal out-of-memory mode */
#include "log.h"
#include "netguard.h"
#include "tls_openssl.h"
#include "tlscache.h"
#include "transport.h"
#include "version.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Room for an empty-valued header's "Name;" without an allocation. */
#define HEADER_LINE_SMALL 128
/* A URL as it appears in a log line, redacted; longer ones are cut. */
#define LOG_URL_MAX 512

typedef struct origin origin_t;

typedef struct conn {
  pacer__link_t link;      /* tx->running while an attempt runs */
  origin_t *opens;         /* the origin whose first connection it is setting
                              up, or NULL */
  origin_t *waiting_on;    /* the origin it waits for (not in the multi
                              handle), or NULL */
  pacer__link_t wait_link; /* in waiting_on->waiting */
  CURL *easy;
  struct curl_slist *hdrs;
  pacer__job_t *job;
  struct tx *tx;
  char *url;        /* current hop's URL (owned) */
  int get_only;     /* a 301/302/303 turned the method into GET */
  int drop_secrets; /* the origin changed: secrets stay behind */
  int too_large;    /* a cap stopped the transfer */
  int headers_done; /* the current response's empty line has arrived */
  int aborted;
  int denied; /* the guard refused an address of this hop */
  char denied_addr[INET6_ADDRSTRLEN]; /* the last one refused */
  int plain; /* the handle's options are those of a plain GET, set by the
                last setup() (which see) */
  unsigned conns_opened, tls_full, tls_resumed; /* this attempt's, all hops */
  unsigned redirects_max; /* 0: redirects are answers, not followed */
  unsigned redirects_left;
  int64_t deadline_ns; /* end of the whole attempt */
  char errbuf[CURL_ERROR_SIZE];
} conn_t;

/* An https origin ("https://host:port" as the URL spells it) a worker
 * has connected to over HTTP/1.1, or is connecting to for the first time. */
struct origin {
  UT_hash_handle hh;
  int up;                /* its first connection answered (or ended) */
  pacer__link_t waiting; /* conns waiting for it (while !up) */
  uint8_t oom;           /* uthash's mark: adding it failed */
  char name[];
};

/* Origins remembered per worker before those already up are forgotten (a
 * crawl of many hosts must not grow it without bound). */
#define ORIGINS_MAX 4096

/* What a dispatcher's instances share: TLS sessions and resolved names,
 * each kind of data under its own lock. */
typedef struct share {
  CURLSH *sh;
  pthread_mutex_t mu[CURL_LOCK_DATA_LAST];
  pacer__tlscache_t *tls; /* TLS 1.3 sessions (tlscache.h), or NULL */
} share_t;

typedef struct tx {
  CURLM *multi;
  share_t *share; /* the dispatcher's, or NULL */
  const pacer_config_t *cfg;
  conn_t **pool;
  size_t npool, pool_cap;
  atomic_int woken;
  pacer__link_t running; /* conns with an attempt in the multi handle */
  pacer__link_t failed;  /* attempts that could not start: report in run() */
  origin_t *origins;     /* HTTP/1.1 https origins (see the top) */
  unsigned norigins;
  int release; /* an origin came up: add its waiting conns (run()) */
} tx_t;

/* curl_global_init() once per process, but tried again by the next open
 * after a failure (out of memory, say), not remembered as pthread_once()
 * would: a program that gets PACER_ESYSTEM from one pacer_new() may retry. */
static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static int global_ok; /* under global_mu */
static int global_init(void)
{
  pthread_mutex_lock(&global_mu);
  if (!global_ok)
    global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  int ok = global_ok;
  pthread_mutex_unlock(&global_mu);
  return ok;
}

static int64_t mono_ns(void)
{
  return pacer__clock_real.now(NULL);
}

/* ---- secrets ---- */

static int is_secret(const pacer_config_t *cfg, const char *name, size_t len)
{
  static const char *const fixed[] = {"Authorization", "Proxy-Authorization",
                                      "Cookie"};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    if (strlen(fixed[i]) == len && strncasecmp(fixed[i], name, len) == 0)
      return 1;
  if (cfg->secret_headers)
    for (size_t i = 0; cfg->secret_headers[i]; i++)
      if (strlen(cfg->secret_headers[i]) == len &&
          strncasecmp(cfg->secret_headers[i], name, len) == 0)
        return 1;
  return 0;
}

/* ---- callbacks ---- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
  conn_t *c = arg;
  size_t len = size * n;
  int rc = pacer__resp_append_body(c->job->resp, data, len,
                                   c->tx->cfg->max_response_bytes);
  if (rc) {
    c->too_large = rc == PACER_ETOOLARGE;
    return 0; /* aborts the transfer */
  }
  return len;
}

/* The origin c is opening is up: its waiting conns go, from run() (no
 * multi call may be made from inside libcurl's callbacks). */
static void origin_up(conn_t *c)
{
  c->opens->up = 1;
  c->opens = NULL;
  c->tx->release = 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
  conn_t *c = arg;
  size_t len = size * n;
  if (c->opens)
    origin_up(c);
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
    c->headers_done = 0; /* after a 1xx, another head follows */
  else if ((len == 2 && data[0] == '\r') || (len == 1 && data[0] == '\n'))
    c->headers_done = 1;
  int rc = pacer__resp_header_line(c->job->resp, data, len,
                                   c->tx->cfg->max_header_bytes);
  if (rc) {
    c->too_large = rc == PACER_ETOOLARGE;
    return 0;
  }
  return len;
}

/* libcurl asks for each socket it would connect: with deny_private, a
 * refused address gets no socket at all, so not one packet goes to it;
 * libcurl then tries the name's other addresses, if any. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
                                 struct curl_sockaddr *a)
{
  conn_t *c = arg;
  if (purpose != CURLSOCKTYPE_IPCXN ||
      pacer__netguard_denied(&a->addr, a->addrlen)) {
    c->denied = 1;
    const void *ip = NULL;
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
      ip = &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
      ip = &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
    if (!ip || !inet_ntop(a->family, ip, c->denied_addr, sizeof c->denied_addr))
      snprintf(c->denied_addr, sizeof c->denied_addr, "family %d", a->family);
    return CURL_SOCKET_BAD;
  }
  /* Close-on-exec: a program that forks and execs must not inherit it. */
#ifdef SOCK_CLOEXEC
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
#else
  return socket(a->family, a->socktype, a->protocol);
#endif
}

/* libcurl before 8.0.0 fails every request after the first on an h2c
 * connection ("Error in the HTTP2 framing layer", curl issue #10634): with
 * one, each h2c transfer gets a connection of its own. The library loaded,
 * not the headers built against, decides. */
static int h2c_reuse_broken;
/* OpenSSL's functions, when libcurl's TLS library is OpenSSL
 * (tls_openssl.h): 1 when the TLS 1.3 session cache can be used. */
static int ossl_ready;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void find_libraries(void)
{
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  h2c_reuse_broken = v->version_num < 0x080000;
  ossl_ready = pacer__ossl_init(v->ssl_version);
}

/* libcurl calls it once the hop's connection is ready (new or reused),
 * before the request goes out: a connection this hop opened is counted,
 * with its TLS handshake, full or resumed. */
static int on_prereq(void *arg, char *ip, char *local_ip, int port,
                     int local_port)
{
  (void)ip;
  (void)local_ip;
  (void)port;
  (void)local_port;
  conn_t *c = arg;
  long n = 0;
  if (curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &n) != CURLE_OK ||
      n <= 0)
    return CURL_PREREQFUNC_OK;
  c->conns_opened += (unsigned)n;
  struct curl_tlssessioninfo *ti = NULL;
  if (curl_easy_getinfo(c->easy, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti &&
      ti->backend == CURLSSLBACKEND_OPENSSL && ti->internals) {
    int r = pacer__ossl_session_reused(ti->internals);
    if (r > 0)
      c->tls_resumed++;
    else if (r == 0)
      c->tls_full++;
  }
  return CURL_PREREQFUNC_OK;
}

/* ---- setting up one hop ---- */

/* 1 if the len bytes at name are the whole name want, case-insensitively:
 * "Content" is not "Content-Type". */
static int name_is(const char *name, size_t len, const char *want)
{
  return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static int append(conn_t *c, const char *line)
{
  struct curl_slist *s = curl_slist_append(c->hdrs, line);
  if (!s)
    return PACER_ENOMEM;
  c->hdrs = s;
  return 0;
}

/* The job's header lines, "Name: value", as libcurl should send them.
 * Framing, hop-by-hop fields and Host never get here (pacer__header_check()
 * refuses them when the job is made); they are skipped here as well so that
 * no path into a job can hand libcurl a second Content-Length. */
static int add_header_lines(conn_t *c)
{
  const pacer__job_t *j = c->job;
  const char *h = pacer__job_headers(j);
  char small[HEADER_LINE_SMALL];
  for (uint32_t i = 0; i < j->hdr_count; i++, h += strlen(h) + 1) {
    size_t nlen = strcspn(h, ":");
    if (h[nlen] != ':' || pacer__header_reserved(h, nlen))
      continue;
    if (c->drop_secrets && is_secret(c->tx->cfg, h, nlen))
      continue;
    if (c->get_only && name_is(h, nlen, "Content-Type"))
      continue;
    /* libcurl reads "Name:" with nothing but blanks after it as "do not
     * send Name, not even your own": a job with an empty value must send the
     * field empty, not remove User-Agent or Accept. "Name;" is libcurl's
     * spelling of a field sent with an empty value. */
    if (h[nlen + strspn(h + nlen + 1, " \t") + 1] == '\0') {
      char *line = nlen + 2 <= sizeof small ? small : malloc(nlen + 2);
      if (!line)
        return PACER_ENOMEM;
      memcpy(line, h, nlen);
      line[nlen] = ';';
      line[nlen + 1] = '\0';
      int rc = append(c, line);
      if (line != small)
        free(line);
      if (rc)
        return rc;
      continue;
    }
    if (append(c, h))
      return PACER_ENOMEM;
  }
  /* No "Expect: 100-continue" round trip before bodies. */
  return append(c, "Expect:");
}

/* Clears what the previous attempt or hop left in c: libcurl's options
 * (unless keep_options), the header list and the per-hop flags. */
static void reset_conn(conn_t *c, int keep_options)
{
  if (!keep_options)
    curl_easy_reset(c->easy);
  curl_slist_free_all(c->hdrs);
  c->hdrs = NULL;
  c->errbuf[0] = '\0';
  c->too_large = 0;
  c->headers_done = 0;
  c->denied = 0;
}

/* Sets an option on e unless an earlier one failed: cc keeps the first
 * failure and the options after it are skipped. */
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (cc == CURLE_OK)                                                        \
      cc = curl_easy_setopt(e, opt, val);                                      \
  } while (0)

/* Points the transfer at the hop's URL and this module's callbacks: http
 * and https only, no redirect followed by libcurl, no signals, and with
 * deny_private the address guard. */
static CURLcode set_wiring(conn_t *c)
{
  CURL *e = c->easy;
  CURLcode cc = CURLE_OK;
  SET(CURLOPT_URL, c->url);
  SET(CURLOPT_PRIVATE, c);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L); /* this module follows, hop by hop */
  SET(CURLOPT_ERRORBUFFER, c->errbuf);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, c);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, c);
  SET(CURLOPT_HTTPHEADER, c->hdrs);
  if (c->tx->cfg->deny_private) {
    SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SET(CURLOPT_OPENSOCKETDATA, c);
  }
  SET(CURLOPT_PREREQFUNCTION, on_prereq);
  SET(CURLOPT_PREREQDATA, c);
  return cc;
}

/* libcurl makes a new connection's SSL_CTX: it is hooked to the
 * dispatcher's TLS 1.3 session cache for the hop's origin (tlscache.h). A
 * hook that cannot be made leaves libcurl's own session choice. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
  (void)easy;
  conn_t *c = arg;
  const char *url = c->url;
  if (url && strncasecmp(url, "https://", 8) == 0)
    (void)pacer__ossl_hook(ssl_ctx, c->tx->share->tls, url,
                           8 + strcspn(url + 8, "/?#"));
  return CURLE_OK;
}

/* The HTTP version and connection reuse: see the top of this file. */
static CURLcode set_connection(conn_t *c)
{
  const pacer_config_t *cfg = c->tx->cfg;
  CURL *e = c->easy;
  CURLcode cc = CURLE_OK;
  long v = cfg->http_version == PACER_HTTP_1_1 ? CURL_HTTP_VERSION_1_1
           : cfg->http_version == PACER_HTTP_2_PRIOR_KNOWLEDGE
               ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
               : CURL_HTTP_VERSION_2TLS;
  SET(CURLOPT_HTTP_VERSION, v);
  if (c->tx->share) {
    SET(CURLOPT_SHARE, c->tx->share->sh);
    if (c->tx->share->tls) {
      SET(CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
      SET(CURLOPT_SSL_CTX_DATA, c);
    }
  }
  if (cfg->idle_connection_timeout_ms > 0)
    SET(CURLOPT_MAXAGE_CONN,
        (long)((cfg->idle_connection_timeout_ms + 999) / 1000));
  return cc;
}

/* Whether the hop waits for a connection being set up to its host, to
 * multiplex over it: where HTTP/2 may be spoken (https, or h2c by prior
 * knowledge). Over HTTP/1.1 it would only delay the first requests. An h2c
 * hop on a libcurl that cannot reuse h2c connections (h2c_reuse_broken)
 * neither waits nor shares: a fresh connection, closed after it. */
static CURLcode set_reuse(conn_t *c)
{
  int https = strncasecmp(c->url, "https:", 6) == 0;
  int prior = c->tx->cfg->http_version == PACER_HTTP_2_PRIOR_KNOWLEDGE;
  int alone = prior && !https && h2c_reuse_broken;
  int mux =
      !alone &&
      (prior || (c->tx->cfg->http_version == PACER_HTTP_DEFAULT && https));
  CURL *e = c->easy;
  CURLcode cc = curl_easy_setopt(e, CURLOPT_PIPEWAIT, mux ? 1L : 0L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, alone ? 1L : 0L);
  if (cc == CURLE_OK)
    cc = curl_easy_setopt(e, CURLOPT_FORBID_REUSE, alone ? 1L : 0L);
  return cc;
}

/* The time left of the attempt at now, rounded up: curl's timer never
 * fires before the attempt's end. */
static CURLcode set_timeout(conn_t *c, int64_t now)
{
  int64_t left_ns = c->deadline_ns - now;
  int64_t left_ms =
      left_ns / PACER__NS_PER_MS + (left_ns % PACER__NS_PER_MS > 0);
  if (left_ms < 1)
    left_ms = 1;
  return curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS,
                          (long)(left_ms > LONG_MAX ? LONG_MAX : left_ms));
}

/* Bounds the transfer: the time left of the attempt at now, the connect
 * timeout, the low-speed abort and the response size cap. */
static CURLcode set_limits(conn_t *c, int64_t now)
{
  const pacer_config_t *cfg = c->tx->cfg;
  CURL *e = c->easy;
  CURLcode cc = CURLE_OK;
  cc = set_timeout(c, now);
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
  if (cfg->low_speed_bytes > 0 && cfg->low_speed_time_ms > 0) {
    SET(CURLOPT_LOW_SPEED_LIMIT, (long)cfg->low_speed_bytes);
    SET(CURLOPT_LOW_SPEED_TIME, (long)((cfg->low_speed_time_ms + 999) / 1000));
  }
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_response_bytes);
  return cc;
}

/* TLS verification, on unless the configuration or the job asks it off. */
static CURLcode set_verify(conn_t *c)
{
  CURL *e = c->easy;
  CURLcode cc = CURLE_OK;
  int verify = c->tx->cfg->tls_verify && !c->job->insecure;
  SET(CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  SET(CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  return cc;
}

/* TLS verification and the configured certificate authorities. */
static CURLcode set_tls(conn_t *c)
{
  const pacer_config_t *cfg = c->tx->cfg;
  CURL *e = c->easy;
  CURLcode cc = set_verify(c);
  if (cfg->ca_file)
    SET(CURLOPT_CAINFO, cfg->ca_file);
  if (cfg->ca_path)
    SET(CURLOPT_CAPATH, cfg->ca_path);
  return cc;
}

/* What is sent: the accepted encodings, the User-Agent, the method and the
 * body. A GET with a body keeps it; a 301/302/303 hop (get_only) is a plain
 * GET; POST, PUT and PATCH send their body even when it is empty. */
static CURLcode set_request(conn_t *c)
{
  const pacer_config_t *cfg = c->tx->cfg;
  const pacer__job_t *j = c->job;
  const char *method = pacer__job_method(j);
  CURL *e = c->easy;
  CURLcode cc = CURLE_OK;
  if (cfg->decompress)
    SET(CURLOPT_ACCEPT_ENCODING, "");
  SET(CURLOPT_USERAGENT,
      cfg->user_agent ? cfg->user_agent : "pacer/" PACER__VERSION_STRING);
  if (c->get_only || strcmp(method, "GET") == 0) {
    SET(CURLOPT_HTTPGET, 1L);
    if (!c->get_only && j->body_len) {
      SET(CURLOPT_CUSTOMREQUEST, "GET");
      SET(CURLOPT_POSTFIELDS, (const char *)pacer__job_body(j));
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    }
  } else if (strcmp(method, "HEAD") == 0) {
    SET(CURLOPT_NOBODY, 1L);
  } else {
    SET(CURLOPT_CUSTOMREQUEST, method);
    if (j->body_len || strcmp(method, "POST") == 0 ||
        strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
      SET(CURLOPT_POSTFIELDS, (const char *)pacer__job_body(j));
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    }
  }
  return cc;
}

#undef SET

/* Makes c's easy handle ready for the current hop of its job at now. The
 * option groups are set in this order and stop at the first failure, which
 * is reported as PACER_ENOMEM. */
/* 1 when the hop is a GET without a body, the shape of nearly every
 * crawler's and many an API sender's request. */
static int is_plain(const conn_t *c)
{
  return c->get_only || (strcmp(pacer__job_method(c->job), "GET") == 0 &&
                         c->job->body_len == 0);
}

/* A plain GET on a handle whose last hop was one too keeps the options
 * that do not change between them (callbacks, protocols, limits, user
 * agent, ...) and sets only what does: the URL, the header list, the time
 * left and TLS verification. curl_easy_reset() and setting all of them
 * again were 6,500 instructions per request, 7% of the library's. Any
 * other shape starts from a reset handle, so nothing one method set (a
 * custom request, a body, no body for HEAD) outlives it. */
static int setup(conn_t *c, int64_t now)
{
  int plain = is_plain(c), keep = plain && c->plain;
  c->plain = 0;
  reset_conn(c, keep);
  int rc = add_header_lines(c);
  if (rc)
    return rc;
  CURLcode cc;
  if (keep) {
    cc = curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    if (cc == CURLE_OK)
      cc = curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    if (cc == CURLE_OK)
      cc = set_timeout(c, now);
    if (cc == CURLE_OK)
      cc = set_verify(c);
  } else {
    cc = set_wiring(c);
    if (cc == CURLE_OK)
      cc = set_connection(c);
    if (cc == CURLE_OK)
      cc = set_limits(c, now);
    if (cc == CURLE_OK)
      cc = set_tls(c);
    if (cc == CURLE_OK)
      cc = set_request(c);
  }
  if (cc == CURLE_OK)
    cc = set_reuse(c);
  if (cc != CURLE_OK)
    return PACER_ENOMEM; /* c->plain stays 0: the next one resets */
  c->plain = plain;
  return 0;
}

static void log_start(const conn_t *c)
{
  const pacer_config_t *cfg = c->tx->cfg;
  if (!cfg->log_cb || cfg->log_level < PACER_LOG_DEBUG)
    return;
  char line[1024], url[LOG_URL_MAX];
  size_t n = (size_t)snprintf(
      line, sizeof line, "attempt %u of job %llu: %s %s", c->job->attempts,
      (unsigned long long)c->job->id, pacer__job_method(c->job),
      pacer__url_redact(c->url, url, sizeof url));
  const char *h = pacer__job_headers(c->job);
  for (uint32_t i = 0; i < c->job->hdr_count && n < sizeof line;
       i++, h += strlen(h) + 1) {
    size_t nlen = strcspn(h, ":");
    if (is_secret(cfg, h, nlen))
      n += (size_t)snprintf(line + n, sizeof line - n, " | %.*s: [redacted]",
                            (int)nlen, h);
    else
      n += (size_t)snprintf(line + n, sizeof line - n, " | %s", h);
  }
  pacer__logf(cfg, PACER_LOG_DEBUG, "%s", line);
}

/* ---- pool ---- */

static conn_t *conn_get(tx_t *t)
{
  if (t->npool)
    return t->pool[--t->npool];
  conn_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->easy = curl_easy_init();
  if (!c->easy) {
    free(c);
    return NULL;
  }
  c->tx = t;
  return c;
}

static void conn_free(conn_t *c)
{
  curl_easy_cleanup(c->easy);
  curl_slist_free_all(c->hdrs);
  free(c->url);
  free(c);
}

static void conn_put(tx_t *t, conn_t *c)
{
  free(c->url);
  c->url = NULL;
  c->job = NULL;
  curl_slist_free_all(c->hdrs);
  c->hdrs = NULL;
  if (t->npool == t->pool_cap) {
    size_t cap = t->pool_cap ? t->pool_cap * 2 : 16;
    conn_t **p = realloc(t->pool, cap * sizeof *p);
    if (!p) {
      conn_free(c);
      return;
    }
    t->pool = p;
    t->pool_cap = cap;
  }
  t->pool[t->npool++] = c;
}

/* ---- the interface ---- */

/* ---- an origin's first HTTP/1.1 connection ---- */

/* The length of "https://authority" at the start of url, or 0 if it is not
 * an https URL or no transfer need wait (HTTP/2 may be spoken: PIPEWAIT
 * waits). */
static size_t gated_origin(const tx_t *t, const char *url)
{
  if (t->cfg->http_version != PACER_HTTP_1_1 ||
      strncasecmp(url, "https://", 8) != 0)
    return 0;
  return 8 + strcspn(url + 8, "/?#");
}

/* Forgets the origins already up (none has a waiting conn). */
static void origins_prune(tx_t *t)
{
  origin_t *o, *tmp;
  HASH_ITER(hh, t->origins, o, tmp)
  {
    if (o->up) {
      HASH_DEL(t->origins, o);
      free(o);
      t->norigins--;
    }
  }
}

/* Whether c must wait for its origin's first connection: then it is put on
 * the origin's waiting list (and is not to be added to the multi handle).
 * The first transfer to an origin becomes its opener. Out of memory, c just
 * goes. */
static int wait_for_origin(tx_t *t, conn_t *c)
{
  size_t len = gated_origin(t, c->url);
  if (!len)
    return 0;
  origin_t *o = NULL;
  HASH_FIND(hh, t->origins, c->url, len, o);
  if (o && o->up)
    return 0;
  if (o) {
    c->waiting_on = o;
    pacer__list_push_back(&o->waiting, &c->wait_link);
    return 1;
  }
  if (t->norigins >= ORIGINS_MAX)
    origins_prune(t);
  o = calloc(1, sizeof *o + len + 1);
  if (!o)
    return 0;
  memcpy(o->name, c->url, len);
  pacer__list_init(&o->waiting);
  HASH_ADD(hh, t->origins, name, len, o);
  if (o->oom) {
    free(o);
    return 0;
  }
  t->norigins++;
  c->opens = o;
  return 0;
}

/* c's attempt ends while it opens its origin, with no answer (an answer
 * marks it up in the header callback first): the conns waiting for it go,
 * each on a connection of its own, and the origin, up from now on, is
 * forgotten at once when none waits. */
static void origin_opener_ends(tx_t *t, conn_t *c)
{
  origin_t *o = c->opens;
  c->opens = NULL;
  o->up = 1; /* releases the waiting conns, then may be pruned */
  t->release = 1;
  if (pacer__list_empty(&o->waiting)) {
    HASH_DEL(t->origins, o);
    free(o);
    t->norigins--;
  }
}

/* Adds the waiting conns of every origin now up to the multi handle, with
 * their time left counted from now. Returns how many. */
static unsigned release_waiting(tx_t *t)
{
  if (!t->release)
    return 0;
  t->release = 0;
  unsigned n = 0;
  int64_t now = mono_ns();
  origin_t *o, *tmp;
  HASH_ITER(hh, t->origins, o, tmp)
  {
    if (!o->up)
      continue;
    pacer__link_t *l;
    while ((l = pacer__list_pop_front(&o->waiting))) {
      conn_t *c = pacer__container_of(l, conn_t, wait_link);
      c->waiting_on = NULL;
      if (set_timeout(c, now) != CURLE_OK ||
          curl_multi_add_handle(t->multi, c->easy) != CURLM_OK)
        c->aborted = 2; /* reported by reap_aborted() */
      n++;
    }
  }
  return n;
}

/* ---- the share handle ---- */

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access access,
                       void *arg)
{
  (void)e;
  (void)access;
  share_t *sh = arg;
  if ((unsigned)data < CURL_LOCK_DATA_LAST)
    pthread_mutex_lock(&sh->mu[data]);
}

static void share_unlock(CURL *e, curl_lock_data data, void *arg)
{
  (void)e;
  share_t *sh = arg;
  if ((unsigned)data < CURL_LOCK_DATA_LAST)
    pthread_mutex_unlock(&sh->mu[data]);
}

static void share_close(void *arg)
{
  share_t *sh = arg;
  if (!sh)
    return;
  curl_share_cleanup(sh->sh);
  pacer__tlscache_free(sh->tls);
  for (unsigned i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy(&sh->mu[i]);
  free(sh);
}

/* TLS sessions and the DNS cache, shared by a dispatcher's workers. A
 * worker's connections stay its own: libcurl cannot share live connections
 * across threads (CURL_LOCK_DATA_CONNECT is for one thread's handles). */
static int share_open(void *ctx, const pacer_config_t *cfg, void **out)
{
  (void)ctx;
  *out = NULL;
  if (!global_init())
    return PACER_ESYSTEM;
  pthread_once(&lib_once, find_libraries);
  if (cfg->http_version == PACER_HTTP_2_PRIOR_KNOWLEDGE && h2c_reuse_broken)
    pacer__logf(cfg, PACER_LOG_WARN,
                "HTTP/2 by prior knowledge: libcurl %s cannot reuse an h2c "
                "connection (fixed in 8.0.0), so each http:// request gets "
                "a connection of its own (https is not affected)",
                curl_version_info(CURLVERSION_NOW)->version);
  share_t *sh = calloc(1, sizeof *sh);
  if (!sh)
    return PACER_ENOMEM;
  unsigned made = 0;
  while (made < CURL_LOCK_DATA_LAST &&
         pthread_mutex_init(&sh->mu[made], NULL) == 0)
    made++;
  if (made < CURL_LOCK_DATA_LAST) {
    while (made)
      pthread_mutex_destroy(&sh->mu[--made]);
    free(sh);
    return PACER_ESYSTEM;
  }
  sh->sh = curl_share_init();
  if (!sh->sh ||
      curl_share_setopt(sh->sh, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
      curl_share_setopt(sh->sh, CURLSHOPT_UNLOCKFUNC, share_unlock) !=
          CURLSHE_OK ||
      curl_share_setopt(sh->sh, CURLSHOPT_USERDATA, sh) != CURLSHE_OK ||
      curl_share_setopt(sh->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
          CURLSHE_OK ||
      curl_share_setopt(sh->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
          CURLSHE_OK) {
    share_close(sh);
    return PACER_ENOMEM;
  }
  /* Without it (another TLS library, or out of memory) libcurl's own
   * session cache serves alone. */
  if (ossl_ready)
    sh->tls = pacer__tlscache_new(pacer__ossl_session_ops());
  *out = sh;
  return 0;
}

static int tx_open(void *ctx, const pacer__tx_opts_t *opts, void **inst)
{
  (void)ctx;
  if (!global_init())
    return PACER_ESYSTEM;
  pthread_once(&lib_once, find_libraries);
  tx_t *t = calloc(1, sizeof *t);
  if (!t)
    return PACER_ENOMEM;
  t->multi = curl_multi_init();
  if (!t->multi) {
    free(t);
    return PACER_ENOMEM;
  }
  t->cfg = opts->cfg;
  t->share = opts->share;
  atomic_init(&t->woken, 0);
  pacer__list_init(&t->running);
  pacer__list_init(&t->failed);
  *inst = t;
  return 0;
}

static void tx_close(void *inst)
{
  tx_t *t = inst;
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&t->running))) {
    conn_t *c = pacer__container_of(l, conn_t, link);
    curl_multi_remove_handle(t->multi, c->easy);
    conn_free(c);
  }
  for (size_t i = 0; i < t->npool; i++)
    conn_free(t->pool[i]);
  free(t->pool);
  origin_t *o, *tmp;
  HASH_ITER(hh, t->origins, o, tmp)
  {
    HASH_DEL(t->origins, o);
    free(o);
  }
  curl_multi_cleanup(t->multi);
  free(t);
}

static void fail_now(tx_t *t, pacer__job_t *j, int error, const char *msg)
{
  pacer__resp_fail(j->resp, error, 0, "%s", msg);
  j->tx_data = NULL;
  pacer__list_push_back(&t->failed, &j->link);
}

static void tx_start(void *inst, pacer__job_t *j, int64_t timeout_ns)
{
  tx_t *t = inst;
  int64_t now = mono_ns();
  conn_t *c = conn_get(t);
  if (!c) {
    fail_now(t, j, PACER_ENOMEM, "out of memory starting the attempt");
    return;
  }
  c->job = j;
  c->url = strdup(pacer__job_url(j));
  c->get_only = c->drop_secrets = c->aborted = 0;
  c->conns_opened = c->tls_full = c->tls_resumed = 0;
  c->redirects_max = t->cfg->follow_redirects ? t->cfg->follow_redirects
                                              : (j->follow ? 5u : 0u);
  c->redirects_left = c->redirects_max;
  c->deadline_ns = pacer__time_add(now, timeout_ns);
  if (!c->url || setup(c, now) != 0 ||
      (!wait_for_origin(t, c) &&
       curl_multi_add_handle(t->multi, c->easy) != CURLM_OK)) {
    if (c->opens)
      origin_opener_ends(t, c);
    conn_put(t, c);
    fail_now(t, j, PACER_ENOMEM, "out of memory starting the attempt");
    return;
  }
  j->tx_data = c;
  pacer__list_push_back(&t->running, &c->link);
  if (j->insecure && t->cfg->tls_verify)
    pacer__logf(t->cfg, PACER_LOG_WARN,
                "job %llu: TLS verification is off for this request",
                (unsigned long long)j->id);
  log_start(c);
}

static void tx_abort(void *inst, pacer__job_t *j)
{
  (void)inst;
  conn_t *c = j->tx_data;
  if (c)
    c->aborted = 1; /* reported by the next run() */
}

static int map_error(conn_t *c, CURLcode cc)
{
  if (c->too_large || cc == CURLE_FILESIZE_EXCEEDED)
    return PACER_ETOOLARGE;
  /* A header line longer than CURL_MAX_HTTP_HEADER (100 KiB) never reaches
   * on_header: libcurl gives up on it with CURLE_OUT_OF_MEMORY (before
   * 8.6.0) or CURLE_TOO_LARGE. Within the head that is a header too large,
   * not a failure worth retrying (a true lack of memory there is reported
   * the same way). */
  if (!c->headers_done && (cc == CURLE_OUT_OF_MEMORY
#if LIBCURL_VERSION_NUM >= 0x080600
                           || cc == CURLE_TOO_LARGE
#endif
                           ))
    return PACER_ETOOLARGE;
  /* A refused socket is libcurl's "could not connect"; when every address
   * failed and the guard refused one, the guard is the reason. */
  if (c->denied && cc == CURLE_COULDNT_CONNECT)
    return PACER_EDENIED;
  switch (cc) {
  case CURLE_OPERATION_TIMEDOUT:
    return PACER_ETIMEDOUT;
  /* CURLE_UNSUPPORTED_PROTOCOL is also libcurl's answer to a garbage
   * status line ("Unsupported HTTP version"): a broken reply, retried like
   * any transport error. Schemes are refused at submit and at each
   * redirect, before libcurl sees them. */
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return PACER_ETLS;
  default:
    return PACER_ETRANSPORT;
  }
}

/* Same scheme, host and port? */
static int same_origin(const char *a, const char *b)
{
  CURLU *ua = curl_url(), *ub = curl_url();
  int same = 0;
  if (ua && ub &&
      curl_url_set(ua, CURLUPART_URL, a, CURLU_NON_SUPPORT_SCHEME) ==
          CURLUE_OK &&
      curl_url_set(ub, CURLUPART_URL, b, CURLU_NON_SUPPORT_SCHEME) ==
          CURLUE_OK) {
    same = 1;
    static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST,
                                      CURLUPART_PORT};
    for (size_t i = 0; same && i < 3; i++) {
      char *x = NULL, *y = NULL;
      curl_url_get(ua, parts[i], &x, CURLU_DEFAULT_PORT);
      curl_url_get(ub, parts[i], &y, CURLU_DEFAULT_PORT);
      same = x && y && strcasecmp(x, y) == 0;
      curl_free(x);
      curl_free(y);
    }
  }
  curl_url_cleanup(ua);
  curl_url_cleanup(ub);
  return same;
}

/* A finished hop answered a redirect we may follow: set up the next one.
 * Returns 1 if the attempt goes on, 0 if it ended (resp filled). */
static int follow(tx_t *t, conn_t *c, long status)
{
  char *target = NULL;
  curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL, &target);
  if (!target)
    return 0;
  pacer__resp_t *r = c->job->resp;
  int rc = pacer__url_check(target, NULL, 0);
  if (rc) {
    pacer__resp_fail(r, rc, 0, "redirect to a refused URL (%s)",
                     rc == PACER_ESCHEME ? "scheme not http or https"
                                         : "invalid URL");
    return 0;
  }
  char *next = strdup(target);
  if (!next) {
    pacer__resp_fail(r, PACER_ENOMEM, 0, "out of memory following a redirect");
    return 0;
  }
  if (!same_origin(c->url, next))
    c->drop_secrets = 1; /* and never back: a later hop may return */
  const char *m = pacer__job_method(c->job);
  if ((status == 303 && strcmp(m, "HEAD") != 0) ||
      ((status == 301 || status == 302) && strcmp(m, "POST") == 0))
    c->get_only = 1;
  free(c->url);
  c->url = next;
  c->redirects_left--;
  curl_multi_remove_handle(t->multi, c->easy);
  pacer__resp_reset(r);
  /* Whether the next response speaks for the job's own origin: a
   * Retry-After from another one must not pause the job's key. */
  r->other_origin = !same_origin(pacer__job_url(c->job), c->url);
  int64_t now = mono_ns();
  if (setup(c, now) != 0 ||
      curl_multi_add_handle(t->multi, c->easy) != CURLM_OK) {
    pacer__resp_fail(r, PACER_ENOMEM, 0, "out of memory following a redirect");
    return 0;
  }
  if (t->cfg->log_cb && t->cfg->log_level >= PACER_LOG_DEBUG) {
    char url[LOG_URL_MAX];
    pacer__logf(t->cfg, PACER_LOG_DEBUG, "job %llu: redirect %ld to %s%s",
                (unsigned long long)c->job->id, status,
                pacer__url_redact(c->url, url, sizeof url),
                c->drop_secrets ? " (secret headers dropped)" : "");
  }
  return 1;
}

static void finish(tx_t *t, conn_t *c, CURLcode cc, pacer__link_t *done)
{
  pacer__job_t *j = c->job;
  pacer__resp_t *r = j->resp;
  long status = 0;
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  int ended = 1;
  if (c->aborted == 2) {
    pacer__resp_fail(r, PACER_ENOMEM, 0, "out of memory starting the attempt");
  } else if (c->aborted) {
    pacer__resp_fail(r, PACER_ECANCELED, 0, "attempt aborted");
  } else if (cc != CURLE_OK) {
    int error = map_error(c, cc);
    if (error == PACER_EDENIED)
      pacer__resp_fail(r, error, (int)cc,
                       "destination address %s not allowed (deny_private)",
                       c->denied_addr);
    else if (error == PACER_ETOOLARGE && !c->too_large && !c->errbuf[0] &&
             cc != CURLE_FILESIZE_EXCEEDED)
      pacer__resp_fail(r, error, (int)cc,
                       "a response header line passed libcurl's limit "
                       "of %d bytes",
                       CURL_MAX_HTTP_HEADER);
    else
      pacer__resp_fail(r, error, (int)cc, "%s",
                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    r->status = (int)status;
  } else {
    r->status = (int)status;
    char *loc = NULL;
    if (status >= 300 && status < 400 && status != 304 && c->redirects_max)
      curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL, &loc);
    if (loc && c->redirects_left)
      ended = !follow(t, c, status);
    else if (loc)
      pacer__resp_fail(r, PACER_ETRANSPORT, CURLE_TOO_MANY_REDIRECTS,
                       "more than %u redirects", c->redirects_max);
  }
  if (!ended)
    return;
  long v = 0;
  curl_easy_getinfo(c->easy, CURLINFO_HTTP_VERSION, &v);
  r->http_version = status == 0                  ? 0
                    : v == CURL_HTTP_VERSION_2_0 ? 2
                    : v == CURL_HTTP_VERSION_3   ? 3
                    : v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1
                        ? 1
                        : 0;
  r->conns_opened = c->conns_opened;
  r->tls_full = c->tls_full;
  r->tls_resumed = c->tls_resumed;
  if (c->opens)
    origin_opener_ends(t, c);
  if (c->waiting_on) { /* aborted while it waited: never added */
    pacer__list_unlink(&c->wait_link);
    c->waiting_on = NULL;
  }
  curl_multi_remove_handle(t->multi, c->easy);
  pacer__list_unlink(&c->link);
  j->tx_data = NULL;
  conn_put(t, c);
  pacer__list_push_back(done, &j->link);
}

static void reap(tx_t *t, pacer__link_t *done)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(t->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    conn_t *c = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
    finish(t, c, m->data.result, done);
  }
}

/* Aborted attempts leave the multi handle at once. */
static void reap_aborted(tx_t *t, pacer__link_t *done)
{
  pacer__link_t *l = t->running.next;
  while (l != &t->running) {
    conn_t *c = pacer__container_of(l, conn_t, link);
    l = l->next; /* finish() unlinks c */
    if (c->aborted)
      finish(t, c, CURLE_OK, done);
  }
}

static void tx_run(void *inst, int64_t timeout_ns, pacer__link_t *done)
{
  tx_t *t = inst;
  int64_t end = timeout_ns == INT64_MAX
                    ? INT64_MAX
                    : pacer__time_add(mono_ns(), timeout_ns);
  pacer__list_splice(done, &t->failed);
  for (;;) {
    int running = 0;
    reap_aborted(t, done);
    curl_multi_perform(t->multi, &running);
    reap(t, done);
    unsigned released = release_waiting(t);
    if (!pacer__list_empty(done) || atomic_exchange(&t->woken, 0))
      return;
    if (released)
      continue; /* they start now, not after a wait */
    int64_t now = mono_ns();
    if (now >= end)
      return;
    /* libcurl shortens the wait to its own next timer. */
    int64_t ms = end == INT64_MAX ? 3600000 : (end - now + 999999) / 1000000;
    if (ms > 3600000)
      ms = 3600000;
    curl_multi_poll(t->multi, NULL, 0, (int)ms, NULL);
  }
}

static void tx_wakeup(void *inst)
{
  tx_t *t = inst;
  atomic_store(&t->woken, 1);
  curl_multi_wakeup(t->multi);
}

/* libcurl's default cache is 4 connections per easy handle added at the
 * time, so between bursts it shrinks and closes connections that the next
 * burst opens again. host_max: this worker's share of
 * max_host_connections; an attempt beyond it waits in libcurl for one of
 * the host's connections to be free. */
static void tx_set_connections(void *inst, unsigned n, unsigned host_max)
{
  tx_t *t = inst;
  curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)(n ? n : 1));
  curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)host_max);
}

const pacer__transport_t pacer__transport_curl = {.open = tx_open,
                                                  .close = tx_close,
                                                  .start = tx_start,
                                                  .abort = tx_abort,
                                                  .run = tx_run,
                                                  .wakeup = tx_wakeup,
                                                  .set_connections =
                                                      tx_set_connections,
                                                  .share_open = share_open,
                                                  .share_close = share_close,
                                                  .ctx = NULL};
