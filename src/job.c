/* SPDX-License-Identifier: MIT */
/* job.c - requests and the jobs made from them: a request's defaults and
 * private copy, every check, the job as one allocation holding the copied
 * bytes, and freeing it.
 *
 * A caller's pacer_request_t carries struct_size, written by its _init()
 * macro from the caller's own header: we start from our defaults and copy
 * only the bytes the caller knows of, so a program built against an older,
 * shorter struct keeps working.
 *
 * Invariants: a job that exists passed every check of pacer_submit(), so
 * nothing later re-checks its method, URL or headers; its request bytes
 * never change after this, and are read by any thread without the lock. */
#include "job.h"
#include "clock.h"
#include "http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pacer_request_init_sized(pacer_request_t *req, size_t size)
{
  if (!req)
    return;
  pacer_request_t d;
  memset(&d, 0, sizeof d);
  d.priority = PACER_PRIORITY_LOW;
  if (size > sizeof d)
    size = sizeof d;
  d.struct_size = size;
  memcpy(req, &d, size);
}

int pacer__request_copy(pacer_request_t *dst, const pacer_request_t *src)
{
  /* A caller built against this header: its struct is whole. */
  if (src && src->struct_size == sizeof *dst) {
    memcpy(dst, src, sizeof *dst);
    return 0;
  }
  pacer_request_init(dst);
  if (!src || src->struct_size < sizeof(size_t) ||
      src->struct_size > sizeof *dst)
    return PACER_EINVAL;
  memcpy(dst, src, src->struct_size);
  return 0;
}

static int has_header(const pacer_request_t *r, const char *name)
{
  for (size_t i = 0; i < r->header_count; i++)
    if (strcasecmp(r->headers[i].name, name) == 0)
      return 1;
  return 0;
}

/* The checks of r's fields (all but the URL, method and headers). */
static int check_fields(const pacer_request_t *r)
{
  if (r->priority != PACER_PRIORITY_LOW && r->priority != PACER_PRIORITY_HIGH)
    return PACER_EINVAL;
  if (r->timeout_ms < 0 || r->deadline_ms < 0 || r->max_attempts > 1000 ||
      (r->flags &
       ~(PACER_REQ_RETRY_UNSAFE | PACER_REQ_INSECURE | PACER_REQ_FOLLOW)))
    return PACER_EINVAL;
  if ((r->header_count && !r->headers) || (r->body_len && !r->body) ||
      (r->tag_len && !r->tag) || r->tag_len > 65536)
    return PACER_EINVAL;
  return 0;
}

/* Checks the URL, the key, the method and the headers, fills key_name and
 * *need with the bytes the job's copy takes. 0 or the first error. */
static int check_request(const pacer_request_t *r, const char *method,
                         char *key_name, size_t key_cap, size_t *need)
{
  int rc = check_fields(r);
  if (rc)
    return rc;
  /* The host is the key unless the request names one. */
  rc = pacer__url_check(r->url, r->key ? NULL : key_name, key_cap);
  if (rc)
    return rc;
  if (r->key) {
    size_t kl = strlen(r->key);
    if (kl == 0 || kl >= key_cap)
      return PACER_EKEY;
    memcpy(key_name, r->key, kl + 1);
  }
  /* No method is GET, valid without a look. */
  if (r->method && (rc = pacer__method_check(method)))
    return rc;
  size_t n = strlen(method) + 1 + strlen(r->url) + 1;
  for (size_t i = 0; i < r->header_count; i++) {
    if ((rc = pacer__header_check(r->headers[i].name, r->headers[i].value)))
      return rc;
    n += strlen(r->headers[i].name) + 2 + strlen(r->headers[i].value) + 1;
  }
  if (n > UINT32_MAX / 2 || r->body_len > UINT32_MAX / 2)
    return PACER_EINVAL;
  n += r->body_len + 1 + r->tag_len;
  if (r->handler)
    n += strlen(r->handler) + 1;
  *need = n;
  return 0;
}

int pacer_request_check(const pacer_request_t *in, char *key, size_t key_cap)
{
  pacer_request_t req;
  char k[PACER__KEY_MAX];
  size_t need;
  int rc = pacer__request_copy(&req, in);
  if (rc)
    return rc;
  rc = check_request(&req, req.method ? req.method : "GET", k, sizeof k, &need);
  if (rc == 0 && key && key_cap)
    snprintf(key, key_cap, "%s", k);
  return rc;
}

/* Copies s with its NUL to p; returns the byte after it. */
static char *put_str(char *p, const char *s)
{
  size_t n = strlen(s) + 1;
  memcpy(p, s, n);
  return p + n;
}

/* Lays r's bytes out after the struct, as job.h describes. */
static void copy_bytes(pacer__job_t *j, const pacer_request_t *r,
                       const char *method)
{
  char *p = put_str(j->data, method);
  j->url_off = (uint32_t)(p - j->data);
  p = put_str(p, r->url);
  j->hdr_off = (uint32_t)(p - j->data);
  j->hdr_count = (uint32_t)r->header_count;
  for (size_t i = 0; i < r->header_count; i++) {
    size_t nl = strlen(r->headers[i].name), vl = strlen(r->headers[i].value);
    memcpy(p, r->headers[i].name, nl);
    p += nl;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, r->headers[i].value, vl);
    p += vl;
    *p++ = '\0';
  }
  j->body_off = (uint32_t)(p - j->data);
  j->body_len = (uint32_t)r->body_len;
  if (r->body_len)
    memcpy(p, r->body, r->body_len);
  p[r->body_len] = '\0';
  j->tag_off = (uint32_t)(p + r->body_len + 1 - j->data);
  j->tag_len = (uint32_t)r->tag_len;
  if (r->tag_len)
    memcpy(j->data + j->tag_off, r->tag, r->tag_len);
  if (r->handler) {
    j->handler_off = j->tag_off + j->tag_len;
    put_str(j->data + j->handler_off, r->handler);
  }
}

int pacer__job_new(const pacer_request_t *in, const pacer_config_t *cfg,
                   int64_t now, pacer__job_t **out, char *key_name,
                   size_t key_cap)
{
  *out = NULL;
  pacer_request_t req;
  int rc = pacer__request_copy(&req, in);
  if (rc)
    return rc;
  return pacer__job_make(&req, cfg, now, out, key_name, key_cap);
}

int pacer__job_make(const pacer_request_t *r, const pacer_config_t *cfg,
                    int64_t now, pacer__job_t **out, char *key_name,
                    size_t key_cap)
{
  *out = NULL;
  const char *method = r->method ? r->method : "GET";
  size_t need;
  int rc = check_request(r, method, key_name, key_cap, &need);
  if (rc)
    return rc;
  /* Not calloc: copy_bytes() writes each of the need bytes after the
   * struct, so only the struct needs zeroing. */
  pacer__job_t *j = malloc(sizeof *j + need);
  if (!j)
    return PACER_ENOMEM;
  memset(j, 0, sizeof *j);
  copy_bytes(j, r, method);
  pacer__list_init(&j->link);
  j->prio = (uint8_t)r->priority;
  /* 0: the dispatcher's, read at each retry decision (it may change). */
  j->max_attempts = (uint16_t)r->max_attempts;
  j->timeout_ns =
      pacer__ms_to_ns(r->timeout_ms ? r->timeout_ms : cfg->timeout_ms);
  j->submit_ns = now;
  j->deadline_ns = r->deadline_ms
                       ? pacer__time_add(now, pacer__ms_to_ns(r->deadline_ms))
                       : INT64_MAX;
  j->retry_ok = !r->method || pacer__method_idempotent(method) ||
                (r->flags & PACER_REQ_RETRY_UNSAFE) ||
                has_header(r, "Idempotency-Key");
  j->insecure = (r->flags & PACER_REQ_INSECURE) != 0;
  j->follow = (r->flags & PACER_REQ_FOLLOW) != 0;
  j->timer_pos = UINT32_MAX;
  *out = j;
  return 0;
}

void pacer__job_free(pacer__job_t *j)
{
  if (!j)
    return;
  if (j->resp) {
    pacer__resp_reset(j->resp);
    free(j->resp);
  }
  free(j);
}
