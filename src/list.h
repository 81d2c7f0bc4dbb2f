/* SPDX-License-Identifier: MIT */
/* list.h - intrusive doubly linked lists of jobs and keys, header only.
 *
 * A list is a sentinel node; an empty list points at itself. A node is in at
 * most one list at a time; unlinking leaves it self-linked, so unlinking twice
 * is harmless. */
#ifndef PACER_LIST_H
#define PACER_LIST_H

#include <stddef.h>

typedef struct pacer__link {
  struct pacer__link *next, *prev;
} pacer__link_t;

static inline void pacer__list_init(pacer__link_t *l)
{
  l->next = l->prev = l;
}
static inline int pacer__list_empty(const pacer__link_t *l)
{
  return l->next == l;
}
static inline int pacer__linked(const pacer__link_t *n)
{
  return n->next != n;
}

static inline void pacer__list_insert_after(pacer__link_t *at, pacer__link_t *n)
{
  n->prev = at;
  n->next = at->next;
  at->next->prev = n;
  at->next = n;
}
static inline void pacer__list_push_back(pacer__link_t *l, pacer__link_t *n)
{
  pacer__list_insert_after(l->prev, n);
}
static inline void pacer__list_push_front(pacer__link_t *l, pacer__link_t *n)
{
  pacer__list_insert_after(l, n);
}
static inline void pacer__list_unlink(pacer__link_t *n)
{
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}
/* Moves every node of src to the back of dst; src ends empty. */
static inline void pacer__list_splice(pacer__link_t *dst, pacer__link_t *src)
{
  if (pacer__list_empty(src))
    return;
  src->next->prev = dst->prev;
  dst->prev->next = src->next;
  src->prev->next = dst;
  dst->prev = src->prev;
  pacer__list_init(src);
}
static inline pacer__link_t *pacer__list_pop_front(pacer__link_t *l)
{
  pacer__link_t *n = l->next;
  if (n == l)
    return NULL;
  pacer__list_unlink(n);
  return n;
}

#define pacer__container_of(ptr, type, member)                                 \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
