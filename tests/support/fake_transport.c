/* SPDX-License-Identifier: MIT */
/* fake_transport.c - scripted attempts; one lock guards every instance.
 *
 * Held attempts live in f->held (the job's own link is left to the engine,
 * as the transport contract asks); an ended attempt moves to its instance's
 * `ended` list and is handed to the engine by that instance's run(). */
#include "fake_transport.h"
#include "keys.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct inst inst_t;

typedef struct held {
  pacer__job_t *job;
  inst_t *in;
  int64_t deadline;
} held_t;

typedef struct keypeak {
  char key[64];
  unsigned cur, max;
} keypeak_t;

struct fake_tx {
  pthread_mutex_t mu;
  pthread_cond_t changed; /* a start or a hold happened */
  int stop_waiting;
  fake_clock_t *fclock;
  pacer__clock_t clock;
  fake_responder_fn fn;
  void *user;
  held_t *held;
  size_t nheld, held_cap;
  fake_start_t *log;
  size_t nlog, log_cap;
  unsigned inflight, max_inflight;
  keypeak_t peaks[64];
  size_t npeaks;
  fake_tx_opened_t opened;
  char *headers;          /* raw lines added to every HTTP reply; NULL: none */
  int share_token;        /* share_open() hands out its address */
  unsigned host_caps[64]; /* by instance, in the order opened */
  uint64_t inst_starts[64]; /* by instance, in the order opened */
  size_t ninst;
};

struct inst {
  fake_tx_t *f;
  size_t index; /* in the order opened */
  pthread_cond_t cond;
  pacer__link_t ended;
  int woken;
};

fake_tx_t *fake_tx_new(fake_clock_t *clock, fake_responder_fn fn, void *user)
{
  fake_tx_t *f = calloc(1, sizeof *f);
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->changed, NULL);
  f->fclock = clock;
  f->clock = clock ? fake_clock_iface(clock) : pacer__clock_real;
  f->fn = fn;
  f->user = user;
  return f;
}

void fake_tx_free(fake_tx_t *f)
{
  if (!f)
    return;
  free(f->held);
  free(f->log);
  free(f->headers);
  pthread_cond_destroy(&f->changed);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static keypeak_t *peak_of(fake_tx_t *f, const char *key)
{
  for (size_t i = 0; i < f->npeaks; i++)
    if (strcmp(f->peaks[i].key, key) == 0)
      return &f->peaks[i];
  if (f->npeaks == 64)
    return NULL;
  keypeak_t *k = &f->peaks[f->npeaks++];
  snprintf(k->key, sizeof k->key, "%s", key);
  return k;
}

/* f->mu held. */
static void fill(fake_tx_t *f, pacer__job_t *j, const fake_reply_t *r)
{
  pacer__resp_t *resp = j->resp;
  resp->conns_opened = r->conns;
  resp->tls_full = r->tls_full;
  resp->tls_resumed = r->tls_resumed;
  if (r->error) {
    pacer__resp_fail(resp, r->error, 7, "fake transport error");
    return;
  }
  resp->status = r->status ? r->status : 200;
  resp->http_version = r->http_version;
  if (r->retry_after)
    pacer__resp_add_header(resp, "Retry-After", 11, r->retry_after,
                           strlen(r->retry_after), 1 << 20);
  for (const char *l = f->headers; l && *l;) {
    const char *e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l) : strlen(l);
    pacer__resp_header_line(resp, l, n, 1 << 20);
    l += n + (e != NULL);
  }
  if (r->body)
    pacer__resp_append_body(resp, r->body, strlen(r->body), 1 << 20);
}

/* f->mu held. */
static void end_attempt(fake_tx_t *f, inst_t *in, pacer__job_t *j)
{
  f->inflight--;
  keypeak_t *k = peak_of(f, j->key->name);
  if (k)
    k->cur--;
  pacer__list_push_back(&in->ended, &j->link);
  pthread_cond_signal(&in->cond);
}

static int t_open(void *ctx, const pacer__tx_opts_t *opts, void **out)
{
  inst_t *in = calloc(1, sizeof *in);
  if (!in)
    return PACER_ENOMEM;
  in->f = ctx;
  fake_tx_t *f = ctx;
  const pacer_config_t *c = opts->cfg;
  pthread_mutex_lock(&f->mu);
  fake_tx_opened_t *o = &f->opened;
  o->share_given =
      (o->opens == 0 || o->share_given) && opts->share == &f->share_token;
  o->opens++;
  in->index = f->ninst++;
  snprintf(o->user_agent, sizeof o->user_agent, "%s",
           c->user_agent ? c->user_agent : "");
  snprintf(o->ca_file, sizeof o->ca_file, "%s", c->ca_file ? c->ca_file : "");
  snprintf(o->ca_path, sizeof o->ca_path, "%s", c->ca_path ? c->ca_path : "");
  o->timeout_ms = c->timeout_ms;
  o->connect_timeout_ms = c->connect_timeout_ms;
  o->max_header_bytes = c->max_header_bytes;
  o->max_response_bytes = c->max_response_bytes;
  o->tls_verify = c->tls_verify;
  pthread_mutex_unlock(&f->mu);
  pthread_cond_init(&in->cond, NULL);
  pacer__list_init(&in->ended);
  *out = in;
  return 0;
}

static void t_close(void *p)
{
  inst_t *in = p;
  fake_tx_t *f = in->f;
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->nheld;)
    if (f->held[i].in == in)
      f->held[i] = f->held[--f->nheld];
    else
      i++;
  pthread_mutex_unlock(&f->mu);
  pthread_cond_destroy(&in->cond);
  free(in);
}

static void t_start(void *p, pacer__job_t *j, int64_t timeout_ns)
{
  inst_t *in = p;
  fake_tx_t *f = in->f;
  fake_reply_t r = {
      .hold = 0, .error = 0, .status = 200, .retry_after = NULL, .body = NULL};
  if (f->fn)
    f->fn(f->user, j, &r);
  pthread_mutex_lock(&f->mu);
  int64_t now = f->clock.now(f->clock.ctx);
  if (f->nlog == f->log_cap) {
    f->log_cap = f->log_cap ? f->log_cap * 2 : 1024;
    f->log = realloc(f->log, f->log_cap * sizeof *f->log);
  }
  fake_start_t *s = &f->log[f->nlog++];
  s->id = j->id;
  s->attempt = j->attempts;
  s->prio = j->prio;
  s->t = now;
  snprintf(s->key, sizeof s->key, "%s", j->key->name);
  if (in->index < sizeof f->inst_starts / sizeof f->inst_starts[0])
    f->inst_starts[in->index]++;
  if (++f->inflight > f->max_inflight)
    f->max_inflight = f->inflight;
  keypeak_t *k = peak_of(f, j->key->name);
  if (k && ++k->cur > k->max)
    k->max = k->cur;
  if (r.hold) {
    if (f->nheld == f->held_cap) {
      f->held_cap = f->held_cap ? f->held_cap * 2 : 64;
      f->held = realloc(f->held, f->held_cap * sizeof *f->held);
    }
    f->held[f->nheld++] = (held_t){j, in, pacer__time_add(now, timeout_ns)};
  } else {
    fill(f, j, &r);
    end_attempt(f, in, j);
  }
  pthread_cond_broadcast(&f->changed);
  pthread_mutex_unlock(&f->mu);
}

static void t_abort(void *p, pacer__job_t *j)
{
  inst_t *in = p;
  fake_tx_t *f = in->f;
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->nheld; i++)
    if (f->held[i].job == j) {
      f->held[i] = f->held[--f->nheld];
      pacer__resp_fail(j->resp, PACER_ECANCELED, 0, "aborted");
      end_attempt(f, in, j);
      break;
    }
  pthread_mutex_unlock(&f->mu);
}

static void t_run(void *p, int64_t timeout_ns, pacer__link_t *done)
{
  inst_t *in = p;
  fake_tx_t *f = in->f;
  pthread_mutex_lock(&f->mu);
  int64_t end = pacer__time_add(f->clock.now(f->clock.ctx), timeout_ns);
  for (;;) {
    int64_t now = f->clock.now(f->clock.ctx);
    int64_t next = end;
    for (size_t i = 0; i < f->nheld;) {
      held_t *h = &f->held[i];
      if (h->in == in && h->deadline <= now) {
        pacer__job_t *j = h->job;
        *h = f->held[--f->nheld];
        pacer__resp_fail(j->resp, PACER_ETIMEDOUT, 28, "fake timeout");
        end_attempt(f, in, j);
        continue;
      }
      if (h->in == in && h->deadline < next)
        next = h->deadline;
      i++;
    }
    if (!pacer__list_empty(&in->ended)) {
      pacer__list_splice(done, &in->ended);
      break;
    }
    if (in->woken || now >= end)
      break;
    f->clock.wait(f->clock.ctx, &in->cond, &f->mu, next);
  }
  in->woken = 0;
  pthread_mutex_unlock(&f->mu);
}

static void t_wakeup(void *p)
{
  inst_t *in = p;
  pthread_mutex_lock(&in->f->mu);
  in->woken = 1;
  pthread_cond_signal(&in->cond);
  pthread_mutex_unlock(&in->f->mu);
}

static void t_set_connections(void *p, unsigned n, unsigned host_max)
{
  inst_t *in = p;
  (void)n;
  pthread_mutex_lock(&in->f->mu);
  if (in->index < sizeof in->f->host_caps / sizeof in->f->host_caps[0])
    in->f->host_caps[in->index] = host_max;
  pthread_mutex_unlock(&in->f->mu);
}

static int t_share_open(void *ctx, const pacer_config_t *cfg, void **share)
{
  (void)cfg;
  fake_tx_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  f->opened.share_opens++;
  pthread_mutex_unlock(&f->mu);
  *share = &f->share_token;
  return 0;
}

static void t_share_close(void *share)
{
  fake_tx_t *f =
      (fake_tx_t *)(void *)((char *)share - offsetof(fake_tx_t, share_token));
  pthread_mutex_lock(&f->mu);
  f->opened.share_closes++;
  pthread_mutex_unlock(&f->mu);
}

size_t fake_tx_instances(fake_tx_t *f, unsigned *caps, uint64_t *starts,
                         size_t cap)
{
  pthread_mutex_lock(&f->mu);
  size_t n = f->ninst;
  for (size_t i = 0;
       i < n && i < cap && i < sizeof f->host_caps / sizeof f->host_caps[0];
       i++) {
    caps[i] = f->host_caps[i];
    starts[i] = f->inst_starts[i];
  }
  pthread_mutex_unlock(&f->mu);
  return n;
}

pacer__transport_t fake_tx_iface(fake_tx_t *f)
{
  pacer__transport_t t = {.open = t_open,
                          .close = t_close,
                          .start = t_start,
                          .abort = t_abort,
                          .run = t_run,
                          .wakeup = t_wakeup,
                          .set_connections = t_set_connections,
                          .share_open = t_share_open,
                          .share_close = t_share_close,
                          .ctx = f};
  return t;
}

static int release_at(fake_tx_t *f, size_t i, const fake_reply_t *r)
{
  held_t h = f->held[i];
  f->held[i] = f->held[--f->nheld];
  fill(f, h.job, r);
  end_attempt(f, h.in, h.job);
  return 0;
}

int fake_tx_release(fake_tx_t *f, uint64_t id, const fake_reply_t *r)
{
  int rc = -1;
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->nheld; i++)
    if (f->held[i].job->id == id) {
      rc = release_at(f, i, r);
      break;
    }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

size_t fake_tx_release_all(fake_tx_t *f, const fake_reply_t *r)
{
  size_t n = 0;
  pthread_mutex_lock(&f->mu);
  while (f->nheld) {
    release_at(f, f->nheld - 1, r);
    n++;
  }
  pthread_mutex_unlock(&f->mu);
  return n;
}

#define GETTER(type, name, expr)                                               \
  type name(fake_tx_t *f)                                                      \
  {                                                                            \
    pthread_mutex_lock(&f->mu);                                                \
    type v = (expr);                                                           \
    pthread_mutex_unlock(&f->mu);                                              \
    return v;                                                                  \
  }
GETTER(size_t, fake_tx_held, f->nheld)
GETTER(uint64_t, fake_tx_starts, f->nlog)
GETTER(unsigned, fake_tx_max_inflight, f->max_inflight)

void fake_tx_wait_held(fake_tx_t *f, size_t n)
{
  pthread_mutex_lock(&f->mu);
  while (f->nheld < n && !f->stop_waiting)
    pthread_cond_wait(&f->changed, &f->mu);
  pthread_mutex_unlock(&f->mu);
}

void fake_tx_stop_waiting(fake_tx_t *f)
{
  pthread_mutex_lock(&f->mu);
  f->stop_waiting = 1;
  pthread_cond_broadcast(&f->changed);
  pthread_mutex_unlock(&f->mu);
}

void fake_tx_wait_starts(fake_tx_t *f, uint64_t n)
{
  pthread_mutex_lock(&f->mu);
  while (f->nlog < n)
    pthread_cond_wait(&f->changed, &f->mu);
  pthread_mutex_unlock(&f->mu);
}

unsigned fake_tx_key_max_inflight(fake_tx_t *f, const char *key)
{
  pthread_mutex_lock(&f->mu);
  unsigned m = 0;
  for (size_t i = 0; i < f->npeaks; i++)
    if (strcmp(f->peaks[i].key, key) == 0)
      m = f->peaks[i].max;
  pthread_mutex_unlock(&f->mu);
  return m;
}

size_t fake_tx_log(fake_tx_t *f, size_t from, fake_start_t *out, size_t cap)
{
  pthread_mutex_lock(&f->mu);
  size_t n = 0;
  for (size_t i = from; i < f->nlog && n < cap; i++)
    out[n++] = f->log[i];
  pthread_mutex_unlock(&f->mu);
  return n;
}

void fake_tx_opened(fake_tx_t *f, fake_tx_opened_t *out)
{
  pthread_mutex_lock(&f->mu);
  *out = f->opened;
  pthread_mutex_unlock(&f->mu);
}

void fake_reply_hold(void *user, const pacer__job_t *job, fake_reply_t *reply)
{
  (void)user;
  (void)job;
  reply->hold = 1;
}

void fake_tx_set_headers(fake_tx_t *f, const char *lines)
{
  char *copy = lines ? strdup(lines) : NULL;
  pthread_mutex_lock(&f->mu);
  free(f->headers);
  f->headers = copy;
  pthread_mutex_unlock(&f->mu);
}
