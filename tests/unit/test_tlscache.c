/* SPDX-License-Identifier: MIT */
/* test_tlscache.c - the TLS 1.3 session cache over fake sessions: each new
 * connection gets a copy of its own (a ticket not offered before, the
 * newest first, else the newest again), a spoiled copy never spoils what
 * is kept, TLS 1.2 and dead sessions, the bounds, failing copies, and
 * every reference given back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tlscache.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fake session: a ticket number, its kind and a reference count. */
typedef struct fsess {
  int ticket;
  int tls13;     /* 1: TLS 1.3, 0: TLS 1.2 */
  int resumable; /* OpenSSL's not_resumable, inverted; copied by copy() */
  long expires;  /* resumable while fk.now is below it; copied too */
  int refs;
  int is_copy;
} fsess_t;

typedef struct fake {
  pthread_mutex_t mu;
  int live;      /* objects not yet freed */
  int fail_copy; /* copy() answers NULL */
  int copies;
  long now; /* the fake clock of expires */
} fake_t;

static fake_t fk;

static fsess_t *fsess_new(int ticket, int tls13)
{
  fsess_t *s = calloc(1, sizeof *s);
  if (!s) /* also on the workers' threads: no CMocka assert there */
    abort();
  s->ticket = ticket;
  s->tls13 = tls13;
  s->resumable = 1;
  s->expires = 1000;
  s->refs = 1;
  pthread_mutex_lock(&fk.mu);
  fk.live++;
  pthread_mutex_unlock(&fk.mu);
  return s;
}

static void fsess_unref(fsess_t *s)
{
  pthread_mutex_lock(&fk.mu);
  int gone = --s->refs == 0;
  if (gone)
    fk.live--;
  pthread_mutex_unlock(&fk.mu);
  if (gone)
    free(s);
}

static void op_ref(void *ctx, void *sess)
{
  (void)ctx;
  fsess_t *s = sess;
  pthread_mutex_lock(&fk.mu);
  s->refs++;
  pthread_mutex_unlock(&fk.mu);
}

static void op_unref(void *ctx, void *sess)
{
  (void)ctx;
  fsess_unref(sess);
}

static void *op_copy(void *ctx, void *sess)
{
  (void)ctx;
  const fsess_t *s = sess;
  pthread_mutex_lock(&fk.mu);
  int fail = fk.fail_copy;
  if (!fail)
    fk.copies++;
  pthread_mutex_unlock(&fk.mu);
  if (fail)
    return NULL;
  fsess_t *c = fsess_new(s->ticket, s->tls13);
  c->resumable = s->resumable;
  c->expires = s->expires;
  c->is_copy = 1;
  return c;
}

static int op_tls13(void *ctx, void *sess)
{
  (void)ctx;
  const fsess_t *s = sess;
  if (!s->tls13)
    return -1;
  return s->resumable && fk.now < s->expires ? 1 : 0;
}

static const pacer__tls_ops_t ops = {
    .ref = op_ref, .unref = op_unref, .copy = op_copy, .tls13 = op_tls13};

static int setup(void **state)
{
  (void)state;
  pthread_mutex_init(&fk.mu, NULL);
  fk.live = fk.fail_copy = fk.copies = 0;
  fk.now = 0;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  pthread_mutex_destroy(&fk.mu);
  return 0;
}

/* Puts a new TLS 1.3 ticket for origin, resumable until expires, as
 * OpenSSL's callback would, and drops the caller's reference (the cache
 * keeps a copy). */
static void put_ticket_until(pacer__tlscache_t *c, const char *origin, int t,
                             long expires)
{
  fsess_t *s = fsess_new(t, 1);
  s->expires = expires;
  pacer__tlscache_put(c, origin, s);
  assert_int_equal(s->refs, 1); /* the caller's alone */
  fsess_unref(s);
}

static void put_ticket(pacer__tlscache_t *c, const char *origin, int t)
{
  put_ticket_until(c, origin, t, 1000);
}

/* Takes a session for a new connection; asserts it is a copy; returns its
 * ticket (0: none) and drops it, as SSL_set_session() then
 * SSL_SESSION_free() leave it with the connection. */
static int take_ticket(pacer__tlscache_t *c, const char *origin)
{
  fsess_t *s = pacer__tlscache_take(c, origin);
  if (!s)
    return 0;
  assert_true(s->is_copy);
  assert_int_equal(s->refs, 1);
  int t = s->ticket;
  fsess_unref(s);
  return t;
}

static void fresh_tickets_first_then_the_newest_again(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  assert_non_null(c);
  assert_int_equal(take_ticket(c, "https://a"), 0); /* nothing yet */
  put_ticket(c, "https://a", 1); /* a full handshake brings two */
  put_ticket(c, "https://a", 2);
  assert_int_equal(take_ticket(c, "https://a"), 2); /* newest first */
  assert_int_equal(take_ticket(c, "https://a"), 1);
  /* all offered once: the newest again, to a server that takes it twice */
  assert_int_equal(take_ticket(c, "https://a"), 2);
  assert_int_equal(take_ticket(c, "https://a"), 2);
  put_ticket(c, "https://a", 3); /* a resumed connection's new ticket */
  assert_int_equal(take_ticket(c, "https://a"), 3);
  assert_int_equal(take_ticket(c, "https://a"), 3);
  pacer__tlscache_stats_t st;
  pacer__tlscache_stats(c, &st);
  assert_int_equal(st.origins, 1);
  assert_int_equal(st.unused, 0);
  assert_int_equal(st.fresh, 3);
  assert_int_equal(st.reused, 3);
  assert_int_equal(st.none, 1);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

/* OpenSSL marks the session a handshake used as not resumable: the copy
 * a connection got is spoiled, never what the cache keeps. */
static void a_spoiled_copy_spoils_nothing_kept(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  /* the connection that received it keeps its session, and may have it
   * marked (a failed connection): the cache kept a copy */
  fsess_t *conn = fsess_new(7, 1);
  pacer__tlscache_put(c, "https://a", conn);
  conn->resumable = 0;
  fsess_unref(conn);
  for (int i = 0; i < 100; i++) {
    fsess_t *s = pacer__tlscache_take(c, "https://a");
    assert_non_null(s);
    assert_int_equal(s->ticket, 7);
    assert_true(s->resumable);
    s->resumable = 0; /* the handshake finished with it */
    fsess_unref(s);
  }
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

static void origins_are_kept_apart(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  put_ticket(c, "https://a", 1);
  put_ticket(c, "https://b:8443", 2);
  assert_int_equal(take_ticket(c, "https://b:8443"), 2);
  assert_int_equal(take_ticket(c, "https://a"), 1);
  assert_int_equal(take_ticket(c, "https://b"), 0);
  assert_int_equal(take_ticket(c, "https://c"), 0);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

/* A TLS 1.2 session is libcurl's to offer (any number of connections may
 * resume it): the origin's TLS 1.3 tickets are forgotten, so a server that
 * went back to TLS 1.2 is not offered them. A TLS 1.3 session that cannot
 * resume is not kept and changes nothing. */
static void tls12_and_dead_sessions(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  put_ticket(c, "https://a", 1);
  fsess_t *dead = fsess_new(2, 1);
  dead->resumable = 0;
  pacer__tlscache_put(c, "https://a", dead);
  assert_int_equal(dead->refs, 1); /* no reference taken */
  fsess_unref(dead);
  assert_int_equal(take_ticket(c, "https://a"), 1);
  fsess_t *s12 = fsess_new(3, 0);
  pacer__tlscache_put(c, "https://a", s12);
  assert_int_equal(s12->refs, 1);
  fsess_unref(s12);
  assert_int_equal(take_ticket(c, "https://a"), 0);
  pacer__tlscache_stats_t st;
  pacer__tlscache_stats(c, &st);
  assert_int_equal(st.origins, 0);
  put_ticket(c, "https://a", 4); /* TLS 1.3 again */
  assert_int_equal(take_ticket(c, "https://a"), 4);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

/* Tickets that expired while kept (OpenSSL: not resumable once past their
 * lifetime) are dropped as they come up; an expired newest answers none. */
static void expired_tickets_are_passed_over(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  put_ticket_until(c, "https://a", 1, 1000);
  put_ticket_until(c, "https://a", 2, 10);
  fk.now = 50; /* 2 expired */
  assert_int_equal(take_ticket(c, "https://a"), 1);
  /* the newest (2) cannot resume: none, and libcurl's choice stays */
  assert_int_equal(take_ticket(c, "https://a"), 0);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

static void unused_tickets_are_bounded(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  int n = PACER__TLSCACHE_TICKETS + 5;
  for (int i = 1; i <= n; i++)
    put_ticket(c, "https://a", i);
  pacer__tlscache_stats_t st;
  pacer__tlscache_stats(c, &st);
  assert_int_equal(st.unused, PACER__TLSCACHE_TICKETS);
  /* the oldest went: the newest ones come, newest first */
  for (int i = 0; i < PACER__TLSCACHE_TICKETS; i++)
    assert_int_equal(take_ticket(c, "https://a"), n - i);
  assert_int_equal(take_ticket(c, "https://a"), n);
  /* 1 kept object (the newest) */
  assert_int_equal(fk.live, 1);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

/* A crawl of many hosts keeps the most recently used origins; a take
 * counts as a use. */
static void origins_are_bounded_least_recently_used_first(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  char name[64];
  for (int i = 0; i < PACER__TLSCACHE_ORIGINS; i++) {
    snprintf(name, sizeof name, "https://h%d", i);
    put_ticket(c, name, i + 1);
  }
  assert_int_equal(take_ticket(c, "https://h0"), 1); /* h0 used: h1 is last */
  put_ticket(c, "https://new", 9999);
  pacer__tlscache_stats_t st;
  pacer__tlscache_stats(c, &st);
  assert_int_equal(st.origins, PACER__TLSCACHE_ORIGINS);
  assert_int_equal(take_ticket(c, "https://h1"), 0); /* dropped */
  assert_int_equal(take_ticket(c, "https://h0"), 1);
  assert_int_equal(take_ticket(c, "https://h2"), 3);
  assert_int_equal(take_ticket(c, "https://new"), 9999);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

/* Out of memory for a copy: a ticket put is not kept; none is offered
 * (libcurl's choice stays) and the ticket it would have copied is let go;
 * nothing leaks. */
static void a_failed_copy_offers_nothing(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  put_ticket(c, "https://a", 1);
  put_ticket(c, "https://a", 2);
  fk.fail_copy = 1;
  put_ticket(c, "https://a", 3); /* not kept: no copy */
  assert_int_equal(take_ticket(c, "https://a"), 0);
  fk.fail_copy = 0;
  assert_int_equal(take_ticket(c, "https://a"), 2); /* the newest again */
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

static void bad_arguments_do_nothing(void **state)
{
  (void)state;
  assert_null(pacer__tlscache_new(NULL));
  pacer__tls_ops_t half = ops;
  half.copy = NULL;
  assert_null(pacer__tlscache_new(&half));
  pacer__tlscache_free(NULL);
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  char big[PACER__TLSCACHE_KEY_MAX + 2];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  fsess_t *s = fsess_new(1, 1);
  pacer__tlscache_put(c, big, s);
  pacer__tlscache_put(c, NULL, s);
  pacer__tlscache_put(c, "", s);
  pacer__tlscache_put(c, "https://a", NULL);
  pacer__tlscache_put(NULL, "https://a", s);
  assert_int_equal(s->refs, 1);
  fsess_unref(s);
  assert_null(pacer__tlscache_take(c, big));
  assert_null(pacer__tlscache_take(c, NULL));
  assert_null(pacer__tlscache_take(NULL, "https://a"));
  pacer__tlscache_stats_t st;
  pacer__tlscache_stats(NULL, &st);
  assert_int_equal(st.origins, 0);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

/* A dispatcher's workers put and take at once: every reference comes back
 * (TSan checks the locking). */
typedef struct worker_arg {
  pacer__tlscache_t *c;
  int id;
  int got; /* takes answered */
} worker_arg_t;

static void *worker(void *p)
{
  worker_arg_t *a = p;
  char name[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(name, sizeof name, "https://h%d", i % 7);
    if (i % 3 == 0) {
      fsess_t *s = fsess_new(a->id * 100000 + i, 1);
      pacer__tlscache_put(a->c, name, s);
      fsess_unref(s);
    } else {
      fsess_t *s = pacer__tlscache_take(a->c, name);
      if (s) {
        a->got++;
        fsess_unref(s);
      }
    }
  }
  return NULL;
}

static void workers_share_one_cache(void **state)
{
  (void)state;
  pacer__tlscache_t *c = pacer__tlscache_new(&ops);
  pthread_t th[4];
  worker_arg_t args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (worker_arg_t){c, i + 1, 0};
    assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  int got = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    got += args[i].got;
  }
  assert_true(got > 0);
  pacer__tlscache_stats_t st;
  pacer__tlscache_stats(c, &st);
  assert_int_equal(st.origins, 7);
  assert_int_equal(st.fresh + st.reused, (unsigned long)got);
  pacer__tlscache_free(c);
  assert_int_equal(fk.live, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(fresh_tickets_first_then_the_newest_again,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_spoiled_copy_spoils_nothing_kept, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(origins_are_kept_apart, setup, teardown),
      cmocka_unit_test_setup_teardown(tls12_and_dead_sessions, setup, teardown),
      cmocka_unit_test_setup_teardown(expired_tickets_are_passed_over, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(unused_tickets_are_bounded, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          origins_are_bounded_least_recently_used_first, setup, teardown),
      cmocka_unit_test_setup_teardown(a_failed_copy_offers_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(bad_arguments_do_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(workers_share_one_cache, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
