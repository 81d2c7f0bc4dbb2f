/* SPDX-License-Identifier: MIT */
/* tls_openssl.c - OpenSSL's functions, found at run time, for the handshake
 * counts and the TLS 1.3 session cache (tls_openssl.h).
 *
 * The types are OpenSSL's own, declared by their struct tags (opaque here),
 * so each pointer found is called through its real type; the constants are
 * OpenSSL's, stable since 1.1.1 (the oldest version with everything used). */
#include "tls_openssl.h"
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;
struct crypto_ex_data_st;
typedef struct ssl_st ossl_ssl;
typedef struct ssl_ctx_st ossl_ctx;
typedef struct ssl_session_st ossl_sess;

enum {
  OSSL_CB_HANDSHAKE_START = 0x10, /* SSL_CB_HANDSHAKE_START */
  OSSL_TLS1_3_VERSION = 0x0304,   /* TLS1_3_VERSION */
  OSSL_EX_INDEX_SSL_CTX = 1       /* CRYPTO_EX_INDEX_SSL_CTX */
};

typedef int (*new_cb_fn)(ossl_ssl *, ossl_sess *);
typedef void (*info_cb_fn)(const ossl_ssl *, int, int);
typedef void (*ex_new_fn)(void *, void *, struct crypto_ex_data_st *, int, long,
                          void *);
typedef int (*ex_dup_fn)(struct crypto_ex_data_st *,
                         const struct crypto_ex_data_st *, void **, int, long,
                         void *);
typedef void (*ex_free_fn)(void *, void *, struct crypto_ex_data_st *, int,
                           long, void *);

static struct {
  int (*session_reused)(const ossl_ssl *);
  void (*sess_set_new_cb)(ossl_ctx *, new_cb_fn);
  new_cb_fn (*sess_get_new_cb)(ossl_ctx *);
  void (*set_info_callback)(ossl_ctx *, info_cb_fn);
  ossl_ctx *(*get_ssl_ctx)(const ossl_ssl *);
  int (*ctx_set_ex_data)(ossl_ctx *, int, void *);
  void *(*ctx_get_ex_data)(const ossl_ctx *, int);
  int (*get_ex_new_index)(int, long, void *, ex_new_fn, ex_dup_fn, ex_free_fn);
  int (*in_before)(const ossl_ssl *);
  int (*set_session)(ossl_ssl *, ossl_sess *);
  void (*session_free)(ossl_sess *);
  int (*session_up_ref)(ossl_sess *);
  ossl_sess *(*session_dup)(const ossl_sess *);
  int (*session_is_resumable)(const ossl_sess *);
  int (*session_version)(const ossl_sess *);
  int ex_index;
  int ready; /* every one found, and the index made */
} ossl;

/* The hook of one SSL_CTX, its ex_data. */
typedef struct hook {
  pacer__tlscache_t *cache;
  new_cb_fn curl_cb; /* libcurl's own new-session callback */
  char origin[];
} hook_t;

static void hook_free(void *parent, void *ptr, struct crypto_ex_data_st *ad,
                      int idx, long argl, void *argp)
{
  (void)parent;
  (void)ad;
  (void)idx;
  (void)argl;
  (void)argp;
  free(ptr);
}

/* ISO C has no conversion from void * to a function pointer; POSIX dlsym()
 * guarantees it, through memcpy. */
#define FIND(field, name)                                                      \
  do {                                                                         \
    void *f_ = dlsym(self, name);                                              \
    if (f_)                                                                    \
      memcpy(&ossl.field, &f_, sizeof ossl.field);                             \
  } while (0)

int pacer__ossl_init(const char *tls_library)
{
  if (!tls_library || strncmp(tls_library, "OpenSSL/", 8) != 0)
    return 0;
  /* The program's global symbols: libcurl's TLS library among them when
   * the program or libpacer was linked with libcurl. */
  void *self = dlopen(NULL, RTLD_LAZY);
  if (!self)
    return 0;
  FIND(session_reused, "SSL_session_reused");
  FIND(sess_set_new_cb, "SSL_CTX_sess_set_new_cb");
  FIND(sess_get_new_cb, "SSL_CTX_sess_get_new_cb");
  FIND(set_info_callback, "SSL_CTX_set_info_callback");
  FIND(get_ssl_ctx, "SSL_get_SSL_CTX");
  FIND(ctx_set_ex_data, "SSL_CTX_set_ex_data");
  FIND(ctx_get_ex_data, "SSL_CTX_get_ex_data");
  FIND(get_ex_new_index, "CRYPTO_get_ex_new_index");
  FIND(in_before, "SSL_in_before");
  FIND(set_session, "SSL_set_session");
  FIND(session_free, "SSL_SESSION_free");
  FIND(session_up_ref, "SSL_SESSION_up_ref");
  FIND(session_dup, "SSL_SESSION_dup");
  FIND(session_is_resumable, "SSL_SESSION_is_resumable");
  FIND(session_version, "SSL_SESSION_get_protocol_version");
  dlclose(self);
  if (!ossl.sess_set_new_cb || !ossl.sess_get_new_cb ||
      !ossl.set_info_callback || !ossl.get_ssl_ctx || !ossl.ctx_set_ex_data ||
      !ossl.ctx_get_ex_data || !ossl.get_ex_new_index || !ossl.in_before ||
      !ossl.set_session || !ossl.session_free || !ossl.session_up_ref ||
      !ossl.session_dup || !ossl.session_is_resumable || !ossl.session_version)
    return 0;
  ossl.ex_index = ossl.get_ex_new_index(OSSL_EX_INDEX_SSL_CTX, 0, NULL, NULL,
                                        NULL, hook_free);
  ossl.ready = ossl.ex_index >= 0;
  return ossl.ready;
}

int pacer__ossl_session_reused(const void *ssl)
{
  if (!ossl.session_reused || !ssl)
    return -1;
  return ossl.session_reused(ssl) ? 1 : 0;
}

/* ---- the cache's operations ---- */

static void op_ref(void *ctx, void *sess)
{
  (void)ctx;
  ossl.session_up_ref(sess);
}

static void op_unref(void *ctx, void *sess)
{
  (void)ctx;
  ossl.session_free(sess);
}

static void *op_copy(void *ctx, void *sess)
{
  (void)ctx;
  return ossl.session_dup(sess);
}

static int op_tls13(void *ctx, void *sess)
{
  (void)ctx;
  if (ossl.session_version(sess) != OSSL_TLS1_3_VERSION)
    return -1;
  return ossl.session_is_resumable(sess) ? 1 : 0;
}

static const pacer__tls_ops_t ops = {
    .ref = op_ref, .unref = op_unref, .copy = op_copy, .tls13 = op_tls13};

const pacer__tls_ops_t *pacer__ossl_session_ops(void)
{
  return ossl.ready ? &ops : NULL;
}

/* ---- a connection's hooks ---- */

static hook_t *hook_of(const ossl_ssl *ssl)
{
  ossl_ctx *ctx = ossl.get_ssl_ctx(ssl);
  return ctx ? ossl.ctx_get_ex_data(ctx, ossl.ex_index) : NULL;
}

/* A ticket (TLS 1.3, after the handshake) or a session (TLS 1.2, at its
 * end). A TLS 1.3 ticket is the cache's alone (it keeps a copy; OpenSSL
 * keeps its reference): given to libcurl's cache too, the connection's
 * session object would be shared with the other workers' threads, and
 * the connection copies it again at its next ticket while another thread
 * may drop libcurl's reference, the two ordered only by OpenSSL's atomic
 * reference count (ThreadSanitizer, which does not see into OpenSSL,
 * reported it as a race). A TLS 1.2 session (the cache forgets the
 * origin's tickets) goes to libcurl's callback, which says whether it took
 * OpenSSL's reference. */
static int on_new_session(ossl_ssl *ssl, ossl_sess *sess)
{
  hook_t *h = hook_of(ssl);
  if (!h)
    return 0;
  pacer__tlscache_put(h->cache, h->origin, sess);
  if (ossl.session_version(sess) == OSSL_TLS1_3_VERSION)
    return 0;
  return h->curl_cb ? h->curl_cb(ssl, sess) : 0;
}

/* The first handshake starts, before its ClientHello is made: it offers a
 * session of its own from the cache, if there is one. */
static void on_info(const ossl_ssl *ssl, int where, int ret)
{
  (void)ret;
  if (!(where & OSSL_CB_HANDSHAKE_START) || !ossl.in_before(ssl))
    return;
  hook_t *h = hook_of(ssl);
  if (!h)
    return;
  ossl_sess *s = pacer__tlscache_take(h->cache, h->origin);
  if (!s)
    return;
  /* The SSL is the one handshaking: OpenSSL hands it out const to info
   * callbacks only. SSL_set_session() takes its own reference. */
  ossl.set_session((ossl_ssl *)(uintptr_t)ssl, s);
  ossl.session_free(s);
}

int pacer__ossl_hook(void *ssl_ctx, pacer__tlscache_t *cache,
                     const char *origin, size_t origin_len)
{
  if (!ossl.ready || !ssl_ctx || !cache || !origin || !origin_len ||
      origin_len > PACER__TLSCACHE_KEY_MAX)
    return -1;
  hook_t *h = malloc(sizeof *h + origin_len + 1);
  if (!h)
    return -1;
  h->cache = cache;
  memcpy(h->origin, origin, origin_len);
  h->origin[origin_len] = '\0';
  ossl_ctx *ctx = ssl_ctx;
  if (ossl.ctx_get_ex_data(ctx, ossl.ex_index)) { /* hooked already */
    free(h);
    return 0;
  }
  h->curl_cb = ossl.sess_get_new_cb(ctx);
  if (!ossl.ctx_set_ex_data(ctx, ossl.ex_index, h)) {
    free(h);
    return -1;
  }
  ossl.sess_set_new_cb(ctx, on_new_session);
  ossl.set_info_callback(ctx, on_info);
  return 0;
}
