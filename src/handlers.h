/* SPDX-License-Identifier: MIT */
/* handlers.h - named callbacks (pacer_register_handler()), which spooled
 * jobs name so a later run can deliver them after a restart. */
#ifndef PACER_HANDLERS_H
#define PACER_HANDLERS_H

#include <pacer/pacer.h>

/* One registered name. Entries are never freed before pacer_free(), so a
 * pointer to one stays valid while the dispatcher lives; a name registered
 * again gets a new entry in front, which hides the old one. */
typedef struct pacer__handler {
  struct pacer__handler *next;
  pacer_done_cb cb;
  void *user;
  char name[];
} pacer__handler_t;

/* The newest handler registered under name, or NULL. Takes p->mu: call
 * without it. Any thread. */
const pacer__handler_t *pacer__handler_find(pacer_t *p, const char *name);
/* Frees every entry. Only from pacer_free(), once no thread is left. */
void pacer__handlers_free(pacer_t *p);

#endif
