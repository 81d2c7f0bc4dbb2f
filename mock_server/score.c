/* SPDX-License-Identifier: MIT */
/* score.c - pacer-mock's scorekeeping: counts, windows, arrivals, limits.
 *
 * Everything is under one mutex, taken twice per request (arrival, end) plus
 * once for its outcome, so every figure is exact under any concurrency. The
 * arrival time is read inside the lock, so arrivals are stored in time order
 * and the sliding window needs only a deque of the last second's times:
 * max_1s_window is the largest count in any (t - 1 s, t], which is attained
 * by a window ending at an arrival, so checking at each arrival is exact.
 * Interned strings (paths, job ids, priorities) live until the next reset;
 * arrivals point at them, and each keeps its JSON form (escaped by jansson
 * once, when interned). /__stats copies what it needs under the lock and
 * writes the long lists outside it from those strings, so a dump of a
 * million arrivals neither stalls requests nor builds a million-node
 * jansson tree; a reset waits for such a dump to finish before it frees the
 * strings (readers count). The server's limits (the --limit bucket and the
 * --quota windows) are decided here too, under the same lock and at the
 * same instant as the arrival's t_ms, so what /__stats lists is exactly
 * what was enforced. A refused arrival is charged to no limit, nor is a bad
 * one (its 400 comes first). */
#include "mock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#define MAX_PATHS 10000
#define MAX_PRIOS 1000
#define MAX_SECONDS (10u * 1000 * 1000)
#define MAX_STATUS 600
#define MIN_JOBS 100000      /* job ids tracked even with few arrivals kept */
#define MAX_QUOTA_KEYS 10000 /* past that, --quota keys share one window */

typedef struct istr {
  UT_hash_handle hh;
  uint64_t count;
  char *json; /* the string as a JSON value, quotes included; NULL if OOM */
  char s[];
} istr_t;

typedef struct arrival {
  uint64_t t_ns; /* since t0 */
  const istr_t *path, *job, *prio;
  uint64_t conn;
  uint32_t delay_ms; /* planned latency */
  int16_t status;
  uint8_t outcome;
  uint8_t refused; /* refused_t */
} arrival_t;

struct score {
  pthread_mutex_t mu;
  pthread_cond_t no_readers;
  unsigned readers; /* dumps working outside the lock on our strings */
  size_t max_arrivals;
  uint64_t t0, gen, next_conn_id;
  uint64_t total, overshoot, dropped, garbage, endless;
  uint64_t status_counts[MAX_STATUS];
  istr_t *paths, *jobs, *prios;
  size_t npaths, njobs, nprios;
  uint64_t paths_other, anon_seen;
  bool jobs_truncated;
  arrival_t *arr;
  size_t narr, arrcap;
  bool arr_truncated;
  uint64_t *win; /* ring of arrival times within the last second */
  size_t win_head, win_len, win_cap;
  uint64_t max_window;
  uint32_t *per_sec, *ref_sec; /* arrivals, refused arrivals per second */
  size_t nsec, seccap;
  uint64_t in_flight, peak;
  uint64_t conns_counted, conns_accepted, conns_open;
  bool has_limit;
  double rate, burst;
  mock_bucket_t bucket;
  uint64_t refused_quota; /* overshoot counts the bucket's refusals */
  quota_t *quota;         /* NULL: no --quota */
  uint64_t quota_n, quota_window_s;
  quota_per_t quota_per;
  const char *quota_header;
  unsigned announce; /* the default, for /__stats */
  bool silent;       /* the default, for /__stats */
};

static void free_table(istr_t **head)
{
  istr_t *e, *tmp;
  HASH_ITER(hh, *head, e, tmp)
  {
    HASH_DEL(*head, e);
    free(e->json);
    free(e);
  }
}

/* Finds or adds s; NULL when the table is full or memory is short. */
static istr_t *intern(istr_t **head, size_t *n, size_t max, const char *s)
{
  istr_t *e;
  size_t len = strlen(s);
  HASH_FIND(hh, *head, s, len, e);
  if (e || *n >= max)
    return e;
  e = malloc(sizeof *e + len + 1);
  if (e == NULL)
    return NULL;
  e->count = 0;
  memcpy(e->s, s, len + 1);
  json_t *j = mock_json_str(s);
  e->json = json_dumps(j, JSON_ENCODE_ANY);
  json_decref(j);
  HASH_ADD_KEYPTR(hh, *head, e->s, len, e);
  (*n)++;
  return e;
}

/* Called with the lock held; waits for dumps still reading our strings. */
static void clear(score_t *s, uint64_t now_ns)
{
  while (s->readers > 0)
    pthread_cond_wait(&s->no_readers, &s->mu);
  free_table(&s->paths);
  free_table(&s->jobs);
  free_table(&s->prios);
  s->npaths = s->njobs = s->nprios = 0;
  s->paths_other = s->anon_seen = 0;
  s->jobs_truncated = false;
  free(s->arr);
  s->arr = NULL;
  s->narr = s->arrcap = 0;
  s->arr_truncated = false;
  s->win_head = s->win_len = 0;
  s->max_window = 0;
  free(s->per_sec);
  free(s->ref_sec);
  s->per_sec = s->ref_sec = NULL;
  s->nsec = s->seccap = 0;
  s->total = s->overshoot = s->dropped = s->garbage = s->endless = 0;
  s->refused_quota = 0;
  if (s->quota)
    quota_reset(s->quota);
  memset(s->status_counts, 0, sizeof s->status_counts);
  s->peak = s->in_flight; /* requests in progress carry over */
  s->conns_counted = s->conns_accepted = 0;
  s->t0 = now_ns;
  s->gen++;
  if (s->has_limit)
    bucket_init(&s->bucket, s->rate, s->burst, now_ns);
}

score_t *score_new(const mock_options_t *o, uint64_t now_ns)
{
  score_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  if (o->quota > 0 && (s->quota = quota_new(o->quota, o->quota_window_s,
                                            MAX_QUOTA_KEYS)) == NULL) {
    free(s);
    return NULL;
  }
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    quota_free(s->quota);
    free(s);
    return NULL;
  }
  if (pthread_cond_init(&s->no_readers, NULL) != 0) {
    pthread_mutex_destroy(&s->mu);
    quota_free(s->quota);
    free(s);
    return NULL;
  }
  s->max_arrivals = o->max_arrivals;
  s->has_limit = o->has_limit;
  s->rate = o->limit_rate;
  s->burst = o->burst;
  s->quota_n = o->quota;
  s->quota_window_s = o->quota_window_s;
  s->quota_per = o->quota_per;
  s->quota_header = o->quota_header;
  s->announce = o->defaults.announce;
  s->silent = o->defaults.limit_silent;
  clear(s, now_ns);
  return s;
}

void score_free(score_t *s)
{
  if (s == NULL)
    return;
  clear(s, 0);
  quota_free(s->quota);
  free(s->win);
  pthread_cond_destroy(&s->no_readers);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Pushes t into the one-second window and updates its maximum. */
static void window_add(score_t *s, uint64_t t)
{
  while (s->win_len > 0 && s->win[s->win_head] + MOCK_NS_PER_S <= t) {
    s->win_head = (s->win_head + 1) % s->win_cap;
    s->win_len--;
  }
  if (s->win_len == s->win_cap) {
    size_t ncap = s->win_cap ? s->win_cap * 2 : 1024;
    uint64_t *nw = malloc(ncap * sizeof *nw);
    if (nw == NULL)
      return; /* keeps the old window; the maximum may then be low */
    for (size_t i = 0; i < s->win_len; i++)
      nw[i] = s->win[(s->win_head + i) % s->win_cap];
    free(s->win);
    s->win = nw;
    s->win_cap = ncap;
    s->win_head = 0;
  }
  s->win[(s->win_head + s->win_len) % s->win_cap] = t;
  s->win_len++;
  if (s->win_len > s->max_window)
    s->max_window = s->win_len;
}

/* Counts an arrival (and, if refused, a refusal) in its second. */
static void per_second_add(score_t *s, uint64_t t, bool refused)
{
  uint64_t sec = t / MOCK_NS_PER_S;
  if (sec >= MAX_SECONDS)
    return;
  if (sec >= s->seccap) {
    size_t ncap = s->seccap ? s->seccap : 64;
    while (ncap <= sec)
      ncap *= 2;
    uint32_t *np = realloc(s->per_sec, ncap * sizeof *np);
    if (np == NULL)
      return;
    s->per_sec = np;
    uint32_t *nr = realloc(s->ref_sec, ncap * sizeof *nr);
    if (nr == NULL)
      return; /* per_sec has grown, the capacity not yet: harmless */
    s->ref_sec = nr;
    memset(np + s->seccap, 0, (ncap - s->seccap) * sizeof *np);
    memset(nr + s->seccap, 0, (ncap - s->seccap) * sizeof *nr);
    s->seccap = ncap;
  }
  s->per_sec[sec]++;
  if (refused)
    s->ref_sec[sec]++;
  if (sec + 1 > s->nsec)
    s->nsec = (size_t)sec + 1;
}

static arrival_t *arrival_slot(score_t *s)
{
  if (s->narr == s->arrcap) {
    size_t ncap = s->arrcap ? s->arrcap * 2 : 1024;
    if (ncap > s->max_arrivals)
      ncap = s->max_arrivals;
    arrival_t *na =
        ncap > s->arrcap ? realloc(s->arr, ncap * sizeof *na) : NULL;
    if (na == NULL) {
      s->arr_truncated = true;
      return NULL;
    }
    s->arr = na;
    s->arrcap = ncap;
  }
  return &s->arr[s->narr++];
}

void score_arrive(score_t *s, const arrival_in_t *in, arrival_out_t *out)
{
  memset(out, 0, sizeof *out);
  out->slot = SIZE_MAX;
  pthread_mutex_lock(&s->mu);
  out->gen = s->gen;
  uint64_t now = mock_now_ns();
  uint64_t t = now > s->t0 ? now - s->t0 : 0;
  out->t_ns = t;

  s->total++;
  s->in_flight++;
  if (s->in_flight > s->peak)
    s->peak = s->in_flight;
  if (in->conn && in->conn->counted_gen != s->gen) {
    in->conn->counted_gen = s->gen;
    s->conns_counted++;
  }
  out->in_flight = s->in_flight;
  window_add(s, t);

  istr_t *path = intern(&s->paths, &s->npaths, MAX_PATHS, in->path);
  if (path)
    path->count++;
  else
    s->paths_other++;

  istr_t *job = NULL;
  if (in->job) {
    job = intern(&s->jobs, &s->njobs,
                 s->max_arrivals > MIN_JOBS ? s->max_arrivals : MIN_JOBS,
                 in->job);
    if (job)
      out->job_seen = ++job->count;
    else {
      s->jobs_truncated = true;
      out->job_seen = 1;
    }
  } else {
    out->job_seen = ++s->anon_seen;
  }
  istr_t *prio =
      in->prio ? intern(&s->prios, &s->nprios, MAX_PRIOS, in->prio) : NULL;

  /* The bucket is asked first but only charged once the quota has taken
   * the arrival too: a refused arrival costs neither limit anything. */
  bool bucket_ok = !s->has_limit || bucket_ready(&s->bucket, now);
  bool charge = bucket_ok && !in->uncharged;
  if (s->quota) {
    out->has_quota = true;
    if (!quota_take(s->quota, in->quota_key, t, charge, &out->quota) && charge)
      out->refused = REFUSED_QUOTA;
  }
  if (!bucket_ok && !in->uncharged)
    out->refused = REFUSED_LIMIT;
  if (s->has_limit) {
    out->has_limit = true;
    if (out->refused == REFUSED_NONE)
      (void)bucket_take(&s->bucket, now); /* ready above, so it takes */
    out->remaining = bucket_remaining(&s->bucket);
    out->reset_s = bucket_secs_to_full(&s->bucket);
  }
  out->limited = out->refused != REFUSED_NONE;
  if (out->refused == REFUSED_LIMIT)
    s->overshoot++;
  else if (out->refused == REFUSED_QUOTA)
    s->refused_quota++;
  per_second_add(s, t, out->limited);

  arrival_t *a = s->narr < s->max_arrivals ? arrival_slot(s) : NULL;
  if (a) {
    a->t_ns = t;
    a->path = path;
    a->job = job;
    a->prio = prio;
    a->conn = in->conn ? in->conn->id : 0;
    a->status = 0;
    a->outcome = OUTCOME_HTTP;
    a->refused = (uint8_t)out->refused;
    a->delay_ms = 0;
    out->slot = (size_t)(a - s->arr);
  } else {
    s->arr_truncated = true;
  }
  pthread_mutex_unlock(&s->mu);
}

void score_outcome(score_t *s, const arrival_out_t *a, outcome_t outcome,
                   int status, uint32_t delay_ms)
{
  pthread_mutex_lock(&s->mu);
  if (a->gen != s->gen) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  switch (outcome) {
  case OUTCOME_HTTP:
    if (status >= 0 && status < MAX_STATUS)
      s->status_counts[status]++;
    break;
  case OUTCOME_DROP:
    s->dropped++;
    break;
  case OUTCOME_GARBAGE:
    s->garbage++;
    break;
  case OUTCOME_ENDLESS:
    s->endless++;
    break;
  }
  if (a->slot < s->narr) {
    s->arr[a->slot].status = (int16_t)status;
    s->arr[a->slot].outcome = (uint8_t)outcome;
    s->arr[a->slot].delay_ms = delay_ms;
  }
  pthread_mutex_unlock(&s->mu);
}

void score_done(score_t *s)
{
  pthread_mutex_lock(&s->mu);
  s->in_flight--;
  pthread_mutex_unlock(&s->mu);
}

void score_conn_open(score_t *s, mock_conn_t *c)
{
  pthread_mutex_lock(&s->mu);
  c->id = ++s->next_conn_id;
  c->counted_gen = 0;
  s->conns_accepted++;
  s->conns_open++;
  pthread_mutex_unlock(&s->mu);
}

void score_conn_close(score_t *s)
{
  pthread_mutex_lock(&s->mu);
  s->conns_open--;
  pthread_mutex_unlock(&s->mu);
}

void score_reset(score_t *s, uint64_t now_ns)
{
  pthread_mutex_lock(&s->mu);
  clear(s, now_ns);
  pthread_mutex_unlock(&s->mu);
}

static json_t *ms(uint64_t ns)
{
  /* Microsecond resolution, printed exactly by JSON_REAL_PRECISION(15). */
  return json_real((double)(ns / 1000) / 1000.0);
}

/* ---- /__stats --------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 4096;
    while (b->len + n + 1 > ncap)
      ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (np == NULL) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
  sb_add(b, s, strlen(s));
}

static void sb_json(sbuf_t *b, const istr_t *e)
{
  sb_str(b, e && e->json ? e->json : "null");
}

static const char *const outcome_names[] = {"http", "drop", "garbage",
                                            "endless_headers"};
static const char *const refused_names[] = {"", "quota", "limit"};

/* What a dump copies under the lock and writes outside it. */
typedef struct lists {
  arrival_t *arr;
  size_t narr;
  uint32_t *per_sec, *ref_sec;
  size_t nsec;
  const istr_t **dup;
  size_t ndup;
} lists_t;

static bool copy_lists(const score_t *s, lists_t *l)
{
  size_t ndup = 0;
  for (const istr_t *e = s->jobs; e; e = e->hh.next)
    ndup += e->count > 1;
  l->arr = s->narr ? malloc(s->narr * sizeof *l->arr) : NULL;
  l->per_sec = s->nsec ? malloc(s->nsec * sizeof *l->per_sec) : NULL;
  l->ref_sec = s->nsec ? malloc(s->nsec * sizeof *l->ref_sec) : NULL;
  l->dup = ndup ? malloc(ndup * sizeof *l->dup) : NULL;
  if ((s->narr && !l->arr) || (s->nsec && (!l->per_sec || !l->ref_sec)) ||
      (ndup && !l->dup))
    return false;
  if (s->narr)
    memcpy(l->arr, s->arr, s->narr * sizeof *l->arr);
  l->narr = s->narr;
  if (s->nsec) {
    memcpy(l->per_sec, s->per_sec, s->nsec * sizeof *l->per_sec);
    memcpy(l->ref_sec, s->ref_sec, s->nsec * sizeof *l->ref_sec);
  }
  l->nsec = s->nsec;
  for (const istr_t *e = s->jobs; e; e = e->hh.next)
    if (e->count > 1)
      l->dup[l->ndup++] = e;
  return true;
}

static void write_lists(sbuf_t *b, const lists_t *l)
{
  char num[96];
  sb_str(b, ",\"per_second\":[");
  for (size_t i = 0; i < l->nsec; i++) {
    int n = snprintf(num, sizeof num, "%s%u", i ? "," : "", l->per_sec[i]);
    sb_add(b, num, (size_t)n);
  }
  sb_str(b, "],\"refused_per_second\":[");
  for (size_t i = 0; i < l->nsec; i++) {
    int n = snprintf(num, sizeof num, "%s%u", i ? "," : "", l->ref_sec[i]);
    sb_add(b, num, (size_t)n);
  }
  sb_str(b, "],\"arrivals\":[");
  for (size_t i = 0; i < l->narr; i++) {
    const arrival_t *a = &l->arr[i];
    uint64_t us = a->t_ns / 1000;
    sb_str(b, i ? ",{\"job\":" : "{\"job\":");
    sb_json(b, a->job);
    sb_str(b, ",\"priority\":");
    sb_json(b, a->prio);
    int n = snprintf(num, sizeof num, ",\"t_ms\":%llu.%03llu,\"path\":",
                     (unsigned long long)(us / 1000),
                     (unsigned long long)(us % 1000));
    sb_add(b, num, (size_t)n);
    sb_json(b, a->path);
    n = snprintf(num, sizeof num, ",\"status\":%d,\"conn\":%llu",
                 (int)a->status, (unsigned long long)a->conn);
    sb_add(b, num, (size_t)n);
    if (a->outcome != OUTCOME_HTTP) {
      sb_str(b, ",\"outcome\":\"");
      sb_str(b, outcome_names[a->outcome]);
      sb_str(b, "\"");
    }
    if (a->refused != REFUSED_NONE) {
      sb_str(b, ",\"refused\":\"");
      sb_str(b, refused_names[a->refused]);
      sb_str(b, "\"");
    }
    if (a->delay_ms > 0) {
      n = snprintf(num, sizeof num, ",\"delay_ms\":%u", a->delay_ms);
      sb_add(b, num, (size_t)n);
    }
    sb_str(b, "}");
  }
  sb_str(b, "],\"duplicates\":[");
  for (size_t i = 0; i < l->ndup; i++) {
    if (i)
      sb_str(b, ",");
    sb_json(b, l->dup[i]);
  }
  sb_str(b, "]");
}

/* The figures (not the lists) as a jansson object; lock held. */
static json_t *figures(const score_t *s, uint64_t now_ns)
{
  json_t *o = json_object();
  if (o == NULL)
    return NULL;
  json_object_set_new(o, "total", json_integer((json_int_t)s->total));
  json_t *paths = json_object();
  for (const istr_t *e = s->paths; e; e = e->hh.next)
    mock_json_set(paths, e->s, json_integer((json_int_t)e->count));
  json_object_set_new(o, "paths", paths);
  if (s->paths_other)
    json_object_set_new(o, "paths_other",
                        json_integer((json_int_t)s->paths_other));
  json_object_set_new(o, "max_1s_window",
                      json_integer((json_int_t)s->max_window));
  json_object_set_new(o, "peak_concurrency", json_integer((json_int_t)s->peak));
  json_object_set_new(o, "in_flight", json_integer((json_int_t)s->in_flight));
  json_object_set_new(o, "overshoot", json_integer((json_int_t)s->overshoot));
  json_object_set_new(
      o, "refused",
      json_integer((json_int_t)(s->overshoot + s->refused_quota)));
  json_object_set_new(o, "refused_by",
                      json_pack("{s:I, s:I}", "quota",
                                (json_int_t)s->refused_quota, "limit",
                                (json_int_t)s->overshoot));
  json_t *sc = json_object();
  for (int i = 0; i < MAX_STATUS; i++)
    if (s->status_counts[i]) {
      char key[8];
      snprintf(key, sizeof key, "%d", i);
      json_object_set_new(sc, key,
                          json_integer((json_int_t)s->status_counts[i]));
    }
  json_object_set_new(o, "status_counts", sc);
  json_object_set_new(o, "dropped", json_integer((json_int_t)s->dropped));
  json_object_set_new(o, "garbage", json_integer((json_int_t)s->garbage));
  json_object_set_new(o, "endless_headers",
                      json_integer((json_int_t)s->endless));
  json_object_set_new(o, "connections",
                      json_integer((json_int_t)s->conns_counted));
  json_object_set_new(o, "connections_accepted",
                      json_integer((json_int_t)s->conns_accepted));
  json_object_set_new(o, "open_connections",
                      json_integer((json_int_t)s->conns_open));
  json_object_set_new(o, "elapsed_ms", ms(now_ns > s->t0 ? now_ns - s->t0 : 0));
  if (s->has_limit)
    json_object_set_new(o, "limit",
                        json_pack("{s:f, s:f, s:b}", "rate", s->rate, "burst",
                                  s->burst, "silent", (int)s->silent));
  else
    json_object_set_new(o, "limit", json_null());
  if (s->quota) {
    static const char *const per[] = {"server", "path", "addr", "header"};
    json_t *q = json_pack(
        "{s:I, s:I, s:s, s:I, s:b}", "limit", (json_int_t)s->quota_n,
        "window_s", (json_int_t)s->quota_window_s, "per", per[s->quota_per],
        "keys", (json_int_t)quota_keys(s->quota), "silent", (int)s->silent);
    if (q && s->quota_per == QUOTA_PER_HEADER)
      json_object_set_new(q, "header", mock_json_str(s->quota_header));
    json_t *an = json_array();
    static const char *const forms[] = {"x-ratelimit", "x-ratelimit-unix",
                                        "ietf", "ietf-old"};
    for (unsigned i = 0; i < 4; i++)
      if (s->announce & (1u << i))
        json_array_append_new(an, json_string(forms[i]));
    json_object_set_new(q, "announce", an);
    json_object_set_new(o, "quota", q);
  } else {
    json_object_set_new(o, "quota", json_null());
  }
  json_object_set_new(o, "arrivals_truncated", json_boolean(s->arr_truncated));
  json_object_set_new(o, "jobs_truncated", json_boolean(s->jobs_truncated));
  return o;
}

char *score_dump(score_t *s, uint64_t now_ns, bool with_lists, json_t *extra)
{
  lists_t l = {0};
  bool have_lists = false;

  pthread_mutex_lock(&s->mu);
  json_t *o = figures(s, now_ns);
  if (with_lists) {
    have_lists = copy_lists(s, &l);
    if (have_lists)
      s->readers++;
  }
  pthread_mutex_unlock(&s->mu);

  char *head = NULL;
  if (o) {
    if (extra)
      json_object_update(o, extra);
    head = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
  }
  sbuf_t b = {0};
  size_t hl = head ? strlen(head) : 0;
  if (hl >= 2 && head[hl - 1] == '}') {
    /* head is "{...}": the lists go in before its closing brace. */
    sb_add(&b, head, hl - 1);
    if (have_lists)
      write_lists(&b, &l);
    sb_str(&b, "}");
  } else {
    b.oom = true;
  }
  free(head);

  if (have_lists) {
    pthread_mutex_lock(&s->mu);
    if (--s->readers == 0)
      pthread_cond_broadcast(&s->no_readers);
    pthread_mutex_unlock(&s->mu);
  }
  free(l.arr);
  free(l.per_sec);
  free(l.ref_sec);
  free(l.dup);
  if (b.oom || (with_lists && !have_lists)) {
    free(b.p);
    return NULL;
  }
  return b.p;
}
