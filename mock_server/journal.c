/* SPDX-License-Identifier: MIT */
/* journal.c - pacer-mock's record of the last N requests: headers, body.
 *
 * So a test can see what a client really sent (did Authorization follow a
 * redirect to another port? did a POST carry its body?). Bodies are not
 * kept, only their length and FNV-1a 64 hash, so a test compares what it
 * meant to send with what arrived without the server holding megabytes. Each
 * entry is one allocation holding the
 * method, path, query arguments and headers, copied outside the lock; the
 * lock only swaps it into a ring, oldest out. JSON is built on demand. */
#include "mock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kv {
  const char *k, *v;
} kv_t;

typedef struct jentry {
  uint64_t t_ns; /* since t0 */
  journal_body_t body;
  const char *method, *path;
  size_t nq, nh;
  kv_t *q, *h;
} jentry_t;

struct journal {
  pthread_mutex_t mu;
  size_t cap, head, len;
  jentry_t **ring;
  uint64_t t0, seen;
};

/* ---- UTF-8 mending for JSON --------------------------------------------*/

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
  if (p[0] < 0x80)
    return 1;
  size_t n;
  uint32_t cp;
  if ((p[0] & 0xe0) == 0xc0) {
    n = 2;
    cp = p[0] & 0x1f;
  } else if ((p[0] & 0xf0) == 0xe0) {
    n = 3;
    cp = p[0] & 0x0f;
  } else if ((p[0] & 0xf8) == 0xf0) {
    n = 4;
    cp = p[0] & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static char *mend(const char *s)
{
  size_t len = strlen(s);
  char *out = malloc(len + 1);
  if (out == NULL)
    return NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    size_t n = utf8_len(p + i);
    if (n == 0 || p[i] == 0) {
      out[i++] = '?';
    } else {
      memcpy(out + i, p + i, n);
      i += n;
    }
  }
  out[len] = '\0';
  return out;
}

json_t *mock_json_str(const char *s)
{
  json_t *j = json_string(s);
  if (j == NULL) {
    char *m = mend(s);
    j = m ? json_string(m) : NULL;
    free(m);
  }
  return j ? j : json_null();
}

void mock_json_set(json_t *o, const char *key, json_t *v)
{
  /* json_object_set_new steals v even when it fails. */
  json_incref(v);
  if (json_object_set_new(o, key, v) != 0) {
    char *m = mend(key);
    if (m)
      json_object_set(o, m, v);
    free(m);
  }
  json_decref(v);
}

/* ---- entries ---------------------------------------------------------- */

struct acc {
  size_t n, bytes;
  kv_t *kv;
  char *p;
};

static enum MHD_Result count_cb(void *cls, enum MHD_ValueKind kind,
                                const char *k, const char *v)
{
  struct acc *a = cls;
  a->n++;
  a->bytes += strlen(k) + 1 + (v ? strlen(v) : 0) + 1;
  return MHD_YES;
}

static char *put(char **p, const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = *p;
  memcpy(d, s, n);
  *p += n;
  return d;
}

static enum MHD_Result copy_cb(void *cls, enum MHD_ValueKind kind,
                               const char *k, const char *v)
{
  struct acc *a = cls;
  a->kv[a->n].k = put(&a->p, k);
  a->kv[a->n].v = put(&a->p, v ? v : "");
  a->n++;
  return MHD_YES;
}

static jentry_t *entry_new(struct MHD_Connection *c, const char *method,
                           const char *path)
{
  struct acc q = {0}, h = {0};
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_cb, &q);
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_cb, &h);
  size_t size = sizeof(jentry_t) + (q.n + h.n) * sizeof(kv_t) + q.bytes +
                h.bytes + strlen(method) + 1 + strlen(path) + 1;
  jentry_t *e = malloc(size);
  if (e == NULL)
    return NULL;
  e->q = (kv_t *)(void *)(e + 1);
  e->h = e->q + q.n;
  char *p = (char *)(e->h + h.n);
  e->method = put(&p, method);
  e->path = put(&p, path);
  /* Values cannot change between the two passes: same thread, same request.
   */
  struct acc cq = {0, 0, e->q, p};
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, copy_cb, &cq);
  struct acc ch = {0, 0, e->h, cq.p};
  MHD_get_connection_values(c, MHD_HEADER_KIND, copy_cb, &ch);
  e->nq = cq.n;
  e->nh = ch.n;
  return e;
}

journal_t *journal_new(size_t cap, uint64_t now_ns)
{
  journal_t *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  j->cap = cap;
  j->t0 = now_ns;
  if (cap > 0 && (j->ring = calloc(cap, sizeof *j->ring)) == NULL) {
    free(j);
    return NULL;
  }
  if (pthread_mutex_init(&j->mu, NULL) != 0) {
    free(j->ring);
    free(j);
    return NULL;
  }
  return j;
}

static void clear(journal_t *j)
{
  for (size_t i = 0; i < j->len; i++)
    free(j->ring[(j->head + i) % j->cap]);
  j->head = j->len = 0;
  j->seen = 0;
}

void journal_free(journal_t *j)
{
  if (j == NULL)
    return;
  clear(j);
  free(j->ring);
  pthread_mutex_destroy(&j->mu);
  free(j);
}

void journal_add(journal_t *j, struct MHD_Connection *c, const char *method,
                 const char *path, uint64_t now_ns, const journal_body_t *body)
{
  if (j->cap == 0)
    return;
  jentry_t *e = entry_new(c, method, path), *old = NULL;
  if (e == NULL)
    return;
  e->body = body ? *body : (journal_body_t){0, MOCK_FNV_OFFSET};
  pthread_mutex_lock(&j->mu);
  e->t_ns = now_ns > j->t0 ? now_ns - j->t0 : 0;
  if (j->len == j->cap) {
    old = j->ring[j->head];
    j->ring[j->head] = e;
    j->head = (j->head + 1) % j->cap;
  } else {
    j->ring[(j->head + j->len) % j->cap] = e;
    j->len++;
  }
  j->seen++;
  pthread_mutex_unlock(&j->mu);
  free(old);
}

void journal_reset(journal_t *j, uint64_t now_ns)
{
  pthread_mutex_lock(&j->mu);
  clear(j);
  j->t0 = now_ns;
  pthread_mutex_unlock(&j->mu);
}

/* Repeated names are joined with ", ", as HTTP allows. */
static json_t *pairs_json(const kv_t *kv, size_t n)
{
  json_t *o = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *prev = json_object_get(o, kv[i].k);
    if (prev && json_is_string(prev)) {
      size_t a = json_string_length(prev), b = strlen(kv[i].v);
      char *joined = malloc(a + 2 + b + 1);
      if (joined == NULL)
        continue;
      memcpy(joined, json_string_value(prev), a);
      memcpy(joined + a, ", ", 2);
      memcpy(joined + a + 2, kv[i].v, b + 1);
      mock_json_set(o, kv[i].k, mock_json_str(joined));
      free(joined);
    } else {
      mock_json_set(o, kv[i].k, mock_json_str(kv[i].v));
    }
  }
  return o;
}

json_t *journal_json(journal_t *j)
{
  json_t *arr = json_array();
  pthread_mutex_lock(&j->mu);
  for (size_t i = 0; arr && i < j->len; i++) {
    const jentry_t *e = j->ring[(j->head + i) % j->cap];
    json_t *r = json_object();
    json_object_set_new(r, "t_ms",
                        json_real((double)(e->t_ns / 1000) / 1000.0));
    json_object_set_new(r, "method", mock_json_str(e->method));
    json_object_set_new(r, "path", mock_json_str(e->path));
    json_object_set_new(r, "query", pairs_json(e->q, e->nq));
    json_object_set_new(r, "headers", pairs_json(e->h, e->nh));
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)e->body.fnv1a);
    json_object_set_new(r, "body_bytes",
                        json_integer((json_int_t)e->body.bytes));
    json_object_set_new(r, "body_fnv1a", json_string(hex));
    json_array_append_new(arr, r);
  }
  json_t *o = json_pack("{s:o, s:I, s:I}", "requests", arr, "seen",
                        (json_int_t)j->seen, "capacity", (json_int_t)j->cap);
  pthread_mutex_unlock(&j->mu);
  return o;
}
