/* SPDX-License-Identifier: MIT */
/* jobline.c - one JSON line of the job file into a pacer_request_t. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, unsigned long lineno, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, unsigned long lineno, const char *fmt,
                ...)
{
  va_list ap;
  int n = snprintf(err, errlen, "line %lu: ", lineno);
  if (n < 0 || (size_t)n >= errlen)
    return -1;
  va_start(ap, fmt);
  vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

void cli_job_clear(cli_job_t *job, int take_id)
{
  json_decref(job->root);
  free(job->json_body);
  free(job->headers);
  if (!take_id)
    json_decref(job->id);
  memset(job, 0, sizeof *job);
}

/* The keys of a job line, in the order of keys[]. */
enum {
  K_ID,
  K_METHOD,
  K_URL,
  K_HEADERS,
  K_BODY,
  K_JSON,
  K_PRIORITY,
  K_KEY,
  K_DEADLINE,
  K_TIMEOUT,
  K_MAX_ATTEMPTS,
  K_RETRY_UNSAFE,
  K_COUNT
};

static const char *const keys[K_COUNT] = {
    "id",          "method",     "url",          "headers",
    "body",        "json",       "priority",     "key",
    "deadline_ms", "timeout_ms", "max_attempts", "retry_unsafe"};

/* The line's values by key (NULL: absent), found in one pass over the
 * object rather than a hash lookup for each key the parse asks about. */
typedef json_t *fields_t[K_COUNT];

/* The index of k in keys[], or K_COUNT for an unknown key. */
static int key_index(const char *k)
{
  for (int i = 0; i < K_COUNT; i++)
    if (!strcmp(k, keys[i]))
      return i;
  return K_COUNT;
}

/* A JSON string usable as a C string: no NUL inside. */
static int cstr(json_t *v)
{
  return json_is_string(v) &&
         strlen(json_string_value(v)) == json_string_length(v);
}

/* A non-negative integer field, or 0 when absent. */
static int get_ms(json_t *v, const char *name, long long max, long long *out,
                  unsigned long lineno, char *err, size_t errlen)
{
  *out = 0;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > max)
    return fail(err, errlen, lineno, "\"%s\" must be an integer from 0 to %lld",
                name, max);
  *out = json_integer_value(v);
  return 0;
}

/* The line as a JSON object with known keys only, its values in f; job->id
 * is set (the line's, else the line number) whatever the outcome. */
static int parse_root(cli_job_t *job, fields_t f, const char *line, size_t len,
                      unsigned long lineno, char *err, size_t errlen)
{
  json_error_t je;
  job->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!job->root) {
    job->id = json_integer((json_int_t)lineno);
    return fail(err, errlen, lineno, "not JSON: %s (column %d)", je.text,
                je.column);
  }
  json_t *root = job->root;
  if (!json_is_object(root)) {
    job->id = json_integer((json_int_t)lineno);
    return fail(err, errlen, lineno, "not a JSON object");
  }

  const char *k, *unknown = NULL;
  json_t *v;
  json_object_foreach(root, k, v)
  {
    int i = key_index(k);
    if (i < K_COUNT)
      f[i] = v;
    else if (!unknown)
      unknown = k;
  }

  json_t *id = f[K_ID];
  if (id && (json_is_string(id) || json_is_integer(id)))
    job->id = json_copy(id);
  else
    job->id = json_integer((json_int_t)lineno);
  if (id && !json_is_string(id) && !json_is_integer(id))
    return fail(err, errlen, lineno, "\"id\" must be a string or an integer");

  if (unknown)
    return fail(err, errlen, lineno, "unknown key \"%s\"", unknown);
  return 0;
}

/* url, method, priority and key. */
static int parse_target(cli_job_t *job, fields_t f, unsigned long lineno,
                        char *err, size_t errlen)
{
  json_t *url = f[K_URL];
  if (!url)
    return fail(err, errlen, lineno, "no \"url\"");
  if (!cstr(url))
    return fail(err, errlen, lineno,
                "\"url\" must be a string without NUL bytes");
  job->req.url = json_string_value(url);

  json_t *method = f[K_METHOD];
  if (method) {
    if (!cstr(method))
      return fail(err, errlen, lineno,
                  "\"method\" must be a string without NUL bytes");
    job->req.method = json_string_value(method);
  }

  json_t *prio = f[K_PRIORITY];
  if (prio) {
    const char *p = json_is_string(prio) ? json_string_value(prio) : "";
    if (!strcmp(p, "high"))
      job->req.priority = PACER_PRIORITY_HIGH;
    else if (!strcmp(p, "low"))
      job->req.priority = PACER_PRIORITY_LOW;
    else
      return fail(err, errlen, lineno,
                  "\"priority\" must be \"high\" or \"low\"");
  }

  json_t *key = f[K_KEY];
  if (key) {
    if (!cstr(key) || !*json_string_value(key))
      return fail(err, errlen, lineno, "\"key\" must be a non-empty string");
    job->req.key = json_string_value(key);
  }
  return 0;
}

/* deadline_ms (else --deadline), timeout_ms and max_attempts. */
static int parse_limits(cli_job_t *job, fields_t f, unsigned long lineno,
                        const cli_opts_t *o, char *err, size_t errlen)
{
  long long n;
  if (get_ms(f[K_DEADLINE], "deadline_ms", INT64_MAX / 1000, &n, lineno, err,
             errlen))
    return -1;
  job->req.deadline_ms = n ? n : o->deadline_ms;
  if (get_ms(f[K_TIMEOUT], "timeout_ms", INT64_MAX / 1000, &n, lineno, err,
             errlen))
    return -1;
  job->req.timeout_ms = n;
  if (get_ms(f[K_MAX_ATTEMPTS], "max_attempts", 1000, &n, lineno, err, errlen))
    return -1;
  job->req.max_attempts = (unsigned)n;
  json_t *unsafe = f[K_RETRY_UNSAFE];
  if (unsafe && !json_is_boolean(unsafe))
    return fail(err, errlen, lineno, "\"retry_unsafe\" must be true or false");
  if (json_is_true(unsafe) || o->retry_unsafe)
    job->req.flags |= PACER_REQ_RETRY_UNSAFE;
  return 0;
}

/* "body" as given, or "json" serialized. */
static int parse_body(cli_job_t *job, fields_t f, unsigned long lineno,
                      char *err, size_t errlen)
{
  json_t *body = f[K_BODY];
  json_t *jbody = f[K_JSON];
  if (body && jbody)
    return fail(err, errlen, lineno, "both \"body\" and \"json\"");
  if (body) {
    if (!json_is_string(body))
      return fail(err, errlen, lineno, "\"body\" must be a string");
    job->req.body = json_string_value(body);
    job->req.body_len = json_string_length(body);
  } else if (jbody) {
    job->json_body = json_dumps(jbody, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!job->json_body)
      return fail(err, errlen, lineno, "out of memory");
    job->req.body = job->json_body;
    job->req.body_len = strlen(job->json_body);
  }
  return 0;
}

/* Room for "pacer-" and 32 hex digits. */
#define IDEM_CAP 48

/* 1 if the line's own headers (hdrs, may be NULL) name name. */
static int own_header(json_t *hdrs, const char *name)
{
  const char *k;
  json_t *v;
  int own = 0;
  if (hdrs)
    json_object_foreach(hdrs, k, v) own |= !strcasecmp(k, name);
  return own;
}

/* Headers: the line's own, then the --header ones it does not name, then
 * Content-Type for a "json" body unless one is given. */
static int parse_headers(cli_job_t *job, fields_t f, unsigned long lineno,
                         const cli_opts_t *o, char *err, size_t errlen)
{
  json_t *hdrs = f[K_HEADERS];
  if (hdrs && !json_is_object(hdrs))
    return fail(err, errlen, lineno, "\"headers\" must be an object");
  size_t cap = (hdrs ? json_object_size(hdrs) : 0) + o->header_count + 2;
  job->headers = calloc(1, cap * sizeof *job->headers + IDEM_CAP);
  if (!job->headers)
    return fail(err, errlen, lineno, "out of memory");
  size_t nh = 0;
  int has_ctype = 0;
  const char *k;
  json_t *v;
  if (hdrs) {
    json_object_foreach(hdrs, k, v)
    {
      if (!cstr(v))
        return fail(err, errlen, lineno,
                    "header \"%s\" must be a string without NUL bytes", k);
      job->headers[nh].name = k;
      job->headers[nh].value = json_string_value(v);
      has_ctype |= !strcasecmp(k, "Content-Type");
      nh++;
    }
  }
  for (size_t i = 0; i < o->header_count; i++) {
    if (own_header(hdrs, o->headers[i].name))
      continue;
    job->headers[nh++] = o->headers[i];
    has_ctype |= !strcasecmp(o->headers[i].name, "Content-Type");
  }
  if (f[K_JSON] && !has_ctype) {
    job->headers[nh].name = "Content-Type";
    job->headers[nh].value = "application/json";
    nh++;
  }
  job->req.headers = job->headers;
  job->req.header_count = nh;
  char *idem = (char *)(job->headers + cap);
  if (o->idempotency_keys && cli_job_idempotency_key(job, idem, IDEM_CAP)) {
    job->headers[nh].name = "Idempotency-Key";
    job->headers[nh].value = idem;
    job->req.header_count = ++nh;
  }
  return 0;
}

/* RFC 9110's idempotent methods; no method is GET. */
static int idempotent(const char *m)
{
  static const char *const ok[] = {"GET",   "HEAD", "OPTIONS",
                                   "TRACE", "PUT",  "DELETE"};
  if (!m)
    return 1;
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!strcmp(m, ok[i]))
      return 1;
  return 0;
}

/* Two 64-bit FNV-1a hashes of different bases over the same bytes; each
 * field is preceded by its length, so that no two jobs' fields run into
 * the same bytes. */
typedef struct idem_hash {
  uint64_t a, b;
} idem_hash_t;

static void hash_bytes(idem_hash_t *h, const void *p, size_t n)
{
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h->a = (h->a ^ s[i]) * UINT64_C(0x100000001b3);
    h->b = (h->b ^ s[i]) * UINT64_C(0x100000001b3);
    h->b ^= h->b >> 29;
  }
}

static void hash_field(idem_hash_t *h, const void *p, size_t n)
{
  uint64_t len = n;
  hash_bytes(h, &len, sizeof len);
  hash_bytes(h, p, n);
}

int cli_job_idempotency_key(const cli_job_t *job, char *key, size_t cap)
{
  const pacer_request_t *r = &job->req;
  if (idempotent(r->method) || cap < 40)
    return 0;
  for (size_t i = 0; i < r->header_count; i++)
    if (!strcasecmp(r->headers[i].name, "Idempotency-Key"))
      return 0; /* the job's own */
  cli_buf_t id;
  cli_buf_init(&id);
  cli_id_append(&id, job->id);
  idem_hash_t h = {UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4)};
  hash_field(&h, id.p, id.len);
  cli_buf_free(&id);
  hash_field(&h, r->method, strlen(r->method));
  hash_field(&h, r->url, strlen(r->url));
  hash_field(&h, r->body, r->body_len);
  snprintf(key, cap, "pacer-%016llx%016llx", (unsigned long long)h.a,
           (unsigned long long)h.b);
  return 1;
}

int cli_job_parse(cli_job_t *job, const char *line, size_t len,
                  unsigned long lineno, const cli_opts_t *o, char *err,
                  size_t errlen)
{
  memset(job, 0, sizeof *job);
  pacer_request_init(&job->req);
  fields_t f = {NULL};
  if (parse_root(job, f, line, len, lineno, err, errlen))
    return -1;
  if (parse_target(job, f, lineno, err, errlen) ||
      parse_limits(job, f, lineno, o, err, errlen) ||
      parse_body(job, f, lineno, err, errlen) ||
      parse_headers(job, f, lineno, o, err, errlen))
    return -1;
  return 0;
}
