/* SPDX-License-Identifier: MIT */
/* events.h - events for the operator (pacer_event_t): the bounded queue of
 * copied events waiting for pacer_config_t.event_cb, and their names.
 *
 * Events are made under the dispatcher's lock (the scheduler, submit) or
 * on the shared store's thread, and delivered later by the dispatcher
 * thread with no lock held (deliver.h): the queue copies each event, its
 * key and message included, so nothing it points to need outlive the
 * push. Not thread-safe: the caller serialises (the dispatcher's lock). */
#ifndef PACER_EVENTS_H
#define PACER_EVENTS_H

#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>

/* Events that may wait for the callback before new ones are dropped. */
#define PACER__EVENTS_MAX 10000

typedef struct pacer__event_node {
  struct pacer__event_node *next;
  pacer_event_t ev; /* key and message point into this node's tail */
} pacer__event_node_t;

typedef struct pacer__events {
  pacer__event_node_t *head, *tail;
  size_t len, max;
  uint64_t dropped; /* pushes refused: the queue was full, or no memory */
} pacer__events_t;

/* An empty queue holding at most max events. */
void pacer__events_init(pacer__events_t *q, size_t max);

/* Appends a copy of ev (its key and message copied; a NULL message is
 * copied as ""). Returns 0, or PACER_EFULL / PACER_ENOMEM with the event
 * dropped and counted in q->dropped. */
int pacer__events_push(pacer__events_t *q, const pacer_event_t *ev);

/* Detaches every queued event, oldest first (NULL: none); the queue is
 * empty after. Free the list with pacer__events_free(). */
pacer__event_node_t *pacer__events_take(pacer__events_t *q);

/* Frees a list taken from a queue. NULL is a no-op. */
void pacer__events_free(pacer__event_node_t *list);

/* Frees what the queue holds. */
void pacer__events_destroy(pacer__events_t *q);

#endif
