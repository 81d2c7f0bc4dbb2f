/* SPDX-License-Identifier: MIT */
/* tls_openssl.h - OpenSSL, looked up in the process at run time (libcurl's
 * TLS library, when it is OpenSSL), for what libcurl does not tell or do:
 * whether a handshake resumed a session, and TLS 1.3 sessions offered from
 * a tlscache (tlscache.h says why).
 *
 * pacer neither links OpenSSL nor needs its headers: the functions are
 * found with dlsym() in the program's global symbols, where linking
 * libcurl put them. With another TLS library, or libpacer itself loaded
 * with dlopen(RTLD_LOCAL), none is found and these do nothing. The
 * transport is their only user; they never touch libcurl. */
#ifndef PACER_TLS_OPENSSL_H
#define PACER_TLS_OPENSSL_H

#include "tlscache.h"

/* Looks the functions up. Once per process, before any other function
 * here (the transport calls it under its pthread_once()). 1 when
 * everything the cache needs was found; pacer__ossl_session_reused() may
 * work with less. tls_library: curl_version_info()'s ssl_version, or
 * NULL. */
int pacer__ossl_init(const char *tls_library);

/* SSL_session_reused() of ssl (an OpenSSL SSL *): 1 or 0; -1 if unknown. */
int pacer__ossl_session_reused(const void *ssl);

/* The cache's operations on OpenSSL sessions; NULL unless
 * pacer__ossl_init() returned 1. */
const pacer__tls_ops_t *pacer__ossl_session_ops(void);

/* Hooks a new connection's SSL_CTX (ssl_ctx, before its SSL is made) to
 * cache, for origin ("https://host:port", copied): the TLS 1.3 tickets it
 * receives are put in the cache and not given to libcurl's own callback
 * (TLS 1.2 sessions still are), and
 * its first handshake offers what the cache takes for origin, if anything
 * (else what libcurl chose). The hook is freed with the SSL_CTX; cache must
 * outlive the connection. Returns 0, or -1 (not hooked: out of memory, or
 * pacer__ossl_init() did not return 1). */
int pacer__ossl_hook(void *ssl_ctx, pacer__tlscache_t *cache,
                     const char *origin, size_t origin_len);

#endif
