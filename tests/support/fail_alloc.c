/* SPDX-License-Identifier: MIT */
/* fail_alloc.c - the --wrap'ed malloc, calloc and realloc of fail_alloc.h.
 * Off (the default), each passes straight to the real one. */
#include "fail_alloc.h"
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static _Thread_local long countdown = -1; /* -1: off */
static _Thread_local int fired;

void fail_alloc_arm(long n)
{
  countdown = n < 0 ? -1 : n;
  fired = 0;
}

int fail_alloc_fired(void)
{
  return fired;
}

/* 1: this allocation fails. */
static int fail_now(void)
{
  if (countdown < 0)
    return 0;
  if (countdown-- > 0)
    return 0;
  fired = 1; /* countdown is -1 now: the rest succeed */
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
  return fail_now() ? NULL : __real_realloc(p, n);
}
