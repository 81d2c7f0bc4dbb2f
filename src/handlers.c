/* SPDX-License-Identifier: MIT */
/* handlers.c - named callbacks for spooled jobs.
 *
 * Invariant: the list only grows while the dispatcher lives, so a found
 * entry may be used after the lock is dropped. */
#include "handlers.h"
#include "dispatch.h"
#include <stdlib.h>
#include <string.h>

int pacer_register_handler(pacer_t *p, const char *name, pacer_done_cb cb,
                           void *user)
{
  if (!p || !name || !*name || !cb)
    return PACER_EINVAL;
  size_t n = strlen(name) + 1;
  pacer__handler_t *h = malloc(sizeof *h + n);
  if (!h)
    return PACER_ENOMEM;
  h->cb = cb;
  h->user = user;
  memcpy(h->name, name, n);
  pthread_mutex_lock(&p->mu);
  h->next = p->handlers;
  p->handlers = h;
  pthread_mutex_unlock(&p->mu);
  return 0;
}

const pacer__handler_t *pacer__handler_find(pacer_t *p, const char *name)
{
  const pacer__handler_t *h;
  pthread_mutex_lock(&p->mu);
  for (h = p->handlers; h; h = h->next)
    if (strcmp(h->name, name) == 0)
      break;
  pthread_mutex_unlock(&p->mu);
  return h;
}

void pacer__handlers_free(pacer_t *p)
{
  while (p->handlers) {
    pacer__handler_t *h = p->handlers;
    p->handlers = h->next;
    free(h);
  }
}
