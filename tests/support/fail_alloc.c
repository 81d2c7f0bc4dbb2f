/* SPDX-License-Identifier: MIT */
/* fail_alloc.c - the --wrap'ed malloc, calloc, realloc and strdup of
 * fail_alloc.h. Off (the default), each passes straight to the real one. */
#include "fail_alloc.h"
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static _Thread_local long countdown = -1; /* -1: off */
static _Thread_local int sticky;          /* fail every one from the armed */
static _Thread_local int armed;
static _Thread_local int fired;
static _Thread_local long seen;

static void arm(long n, int from)
{
  armed = n >= 0;
  countdown = n < 0 ? -1 : n;
  sticky = from;
  fired = 0;
  seen = 0;
}

void fail_alloc_arm(long n)
{
  arm(n, 0);
}

void fail_alloc_arm_from(long n)
{
  arm(n, 1);
}

int fail_alloc_fired(void)
{
  return fired;
}

long fail_alloc_seen(void)
{
  return seen;
}

/* 1: this allocation fails. */
static int fail_now(void)
{
  if (!armed)
    return 0;
  seen++;
  if (countdown < 0)
    return sticky && fired;
  if (countdown-- > 0)
    return 0;
  fired = 1; /* countdown is -1 now: the rest succeed, unless sticky */
  return 1;
}

void *__wrap_malloc(size_t n)
{
  return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
  return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
  /* realloc(p, 0) frees p: failing it would leak, and it cannot fail. */
  if (p && n == 0)
    return __real_realloc(p, n);
  return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
  return fail_now() ? NULL : __real_strdup(s);
}

void *fail_alloc_malloc(size_t n)
{
  return __wrap_malloc(n);
}

void *fail_alloc_calloc(size_t n, size_t size)
{
  return __wrap_calloc(n, size);
}

void *fail_alloc_realloc(void *p, size_t n)
{
  return __wrap_realloc(p, n);
}

char *fail_alloc_strdup(const char *s)
{
  return __wrap_strdup(s);
}

void fail_alloc_free(void *p)
{
  free(p);
}
