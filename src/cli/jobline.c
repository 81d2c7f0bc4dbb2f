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

static const char *const keys[] = {
    "id",       "method", "url",         "headers",    "body",        "json",
    "priority", "key",    "deadline_ms", "timeout_ms", "max_attempts"};

static int known_key(const char *k)
{
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strcmp(k, keys[i]))
      return 1;
  return 0;
}

/* A JSON string usable as a C string: no NUL inside. */
static int cstr(json_t *v)
{
  return json_is_string(v) &&
         strlen(json_string_value(v)) == json_string_length(v);
}

/* A non-negative integer field, or 0 when absent. */
static int get_ms(json_t *root, const char *name, long long max, long long *out,
                  unsigned long lineno, char *err, size_t errlen)
{
  json_t *v = json_object_get(root, name);
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

/* The line as a JSON object with known keys only; job->id is set (the
 * line's, else the line number) whatever the outcome. */
static int parse_root(cli_job_t *job, const char *line, size_t len,
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

  json_t *id = json_object_get(root, "id");
  if (id && (json_is_string(id) || json_is_integer(id)))
    job->id = json_copy(id);
  else
    job->id = json_integer((json_int_t)lineno);
  if (id && !json_is_string(id) && !json_is_integer(id))
    return fail(err, errlen, lineno, "\"id\" must be a string or an integer");

  const char *k;
  json_t *v;
  json_object_foreach(root, k, v)
  {
    if (!known_key(k))
      return fail(err, errlen, lineno, "unknown key \"%s\"", k);
  }
  return 0;
}

/* url, method, priority and key. */
static int parse_target(cli_job_t *job, json_t *root, unsigned long lineno,
                        char *err, size_t errlen)
{
  json_t *url = json_object_get(root, "url");
  if (!url)
    return fail(err, errlen, lineno, "no \"url\"");
  if (!cstr(url))
    return fail(err, errlen, lineno,
                "\"url\" must be a string without NUL bytes");
  job->req.url = json_string_value(url);

  json_t *method = json_object_get(root, "method");
  if (method) {
    if (!cstr(method))
      return fail(err, errlen, lineno,
                  "\"method\" must be a string without NUL bytes");
    job->req.method = json_string_value(method);
  }

  json_t *prio = json_object_get(root, "priority");
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

  json_t *key = json_object_get(root, "key");
  if (key) {
    if (!cstr(key) || !*json_string_value(key))
      return fail(err, errlen, lineno, "\"key\" must be a non-empty string");
    job->req.key = json_string_value(key);
  }
  return 0;
}

/* deadline_ms (else --deadline), timeout_ms and max_attempts. */
static int parse_limits(cli_job_t *job, json_t *root, unsigned long lineno,
                        const cli_opts_t *o, char *err, size_t errlen)
{
  long long n;
  if (get_ms(root, "deadline_ms", INT64_MAX / 1000, &n, lineno, err, errlen))
    return -1;
  job->req.deadline_ms = n ? n : o->deadline_ms;
  if (get_ms(root, "timeout_ms", INT64_MAX / 1000, &n, lineno, err, errlen))
    return -1;
  job->req.timeout_ms = n;
  if (get_ms(root, "max_attempts", 1000, &n, lineno, err, errlen))
    return -1;
  job->req.max_attempts = (unsigned)n;
  return 0;
}

/* "body" as given, or "json" serialized. */
static int parse_body(cli_job_t *job, json_t *root, unsigned long lineno,
                      char *err, size_t errlen)
{
  json_t *body = json_object_get(root, "body");
  json_t *jbody = json_object_get(root, "json");
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
static int parse_headers(cli_job_t *job, json_t *root, unsigned long lineno,
                         const cli_opts_t *o, char *err, size_t errlen)
{
  json_t *hdrs = json_object_get(root, "headers");
  if (hdrs && !json_is_object(hdrs))
    return fail(err, errlen, lineno, "\"headers\" must be an object");
  size_t cap = (hdrs ? json_object_size(hdrs) : 0) + o->header_count + 1;
  job->headers = calloc(cap, sizeof *job->headers);
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
  if (json_object_get(root, "json") && !has_ctype) {
    job->headers[nh].name = "Content-Type";
    job->headers[nh].value = "application/json";
    nh++;
  }
  job->req.headers = job->headers;
  job->req.header_count = nh;
  return 0;
}

int cli_job_parse(cli_job_t *job, const char *line, size_t len,
                  unsigned long lineno, const cli_opts_t *o, char *err,
                  size_t errlen)
{
  memset(job, 0, sizeof *job);
  pacer_request_init(&job->req);
  if (parse_root(job, line, len, lineno, err, errlen))
    return -1;
  json_t *root = job->root;
  if (parse_target(job, root, lineno, err, errlen) ||
      parse_limits(job, root, lineno, o, err, errlen) ||
      parse_body(job, root, lineno, err, errlen) ||
      parse_headers(job, root, lineno, o, err, errlen))
    return -1;
  return 0;
}
