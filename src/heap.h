/* SPDX-License-Identifier: MIT */
/* heap.h - binary min-heap of pointers that knows each element's position.
 *
 * Elements are ordered by an int64 key read through key_of(); ties go to the
 * element inserted first (a per-heap insertion counter is NOT kept: callers
 * that need FIFO ties encode it in the key). Each element carries a uint32_t
 * slot where the heap stores its index (PACER__HEAP_NONE when not in a heap);
 * pos_of() returns a pointer to that slot. This gives O(log n) update and
 * removal of any element. Single-threaded: callers serialise. */
#ifndef PACER_HEAP_H
#define PACER_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define PACER__HEAP_NONE UINT32_MAX

typedef int64_t (*pacer__heap_key_fn)(const void *elem);
typedef uint32_t *(*pacer__heap_pos_fn)(void *elem);

typedef struct pacer__heap {
  void **items;
  uint32_t len, cap;
  pacer__heap_key_fn key_of;
  pacer__heap_pos_fn pos_of;
} pacer__heap_t;

void pacer__heap_init(pacer__heap_t *h, pacer__heap_key_fn key_of,
                      pacer__heap_pos_fn pos_of);
/* Frees the array, not the elements. */
void pacer__heap_destroy(pacer__heap_t *h);
/* Inserts e (whose position slot must be PACER__HEAP_NONE). Returns 0 or
 * PACER_ENOMEM (the heap is unchanged). */
int pacer__heap_push(pacer__heap_t *h, void *e);
/* Makes room for n elements in all, so that pushes up to that size cannot
 * fail. Returns 0 or PACER_ENOMEM. */
int pacer__heap_reserve(pacer__heap_t *h, uint32_t n);
/* The smallest element, or NULL when empty. */
void *pacer__heap_top(const pacer__heap_t *h);
/* Removes and returns the smallest element (its slot becomes NONE). */
void *pacer__heap_pop(pacer__heap_t *h);
/* Removes e if it is in the heap; harmless otherwise. */
void pacer__heap_remove(pacer__heap_t *h, void *e);
/* Restores order after e's key changed (up or down). e must be in the heap. */
void pacer__heap_update(pacer__heap_t *h, void *e);
static inline uint32_t pacer__heap_len(const pacer__heap_t *h)
{
  return h->len;
}

#endif
