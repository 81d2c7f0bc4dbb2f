/* SPDX-License-Identifier: MIT */
/* events.c - the queue of events waiting for the event callback, their
 * names and their JSON form.
 *
 * Invariant: every node is one allocation holding the event and the bytes
 * its key and message point to, so a taken list frees node by node. JSON
 * is built with jansson, so any key renders as valid JSON (bytes that are
 * not UTF-8 as U+FFFD), and the text is returned in malloc'd memory. */
#include "events.h"
#include "breaker.h"
#include "shared.h"
#include "jsontext.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void pacer__events_init(pacer__events_t *q, size_t max)
{
  memset(q, 0, sizeof *q);
  q->max = max;
}

int pacer__events_push(pacer__events_t *q, const pacer_event_t *ev)
{
  if (q->len >= q->max) {
    q->dropped++;
    return PACER_EFULL;
  }
  const char *msg = ev->message ? ev->message : "";
  size_t kl = ev->key ? strlen(ev->key) + 1 : 0, ml = strlen(msg) + 1;
  pacer__event_node_t *n = malloc(sizeof *n + kl + ml);
  if (!n) {
    q->dropped++;
    return PACER_ENOMEM;
  }
  n->next = NULL;
  n->ev = *ev;
  char *tail = (char *)(n + 1);
  if (kl) {
    memcpy(tail, ev->key, kl);
    n->ev.key = tail;
  }
  memcpy(tail + kl, msg, ml);
  n->ev.message = tail + kl;
  if (q->tail)
    q->tail->next = n;
  else
    q->head = n;
  q->tail = n;
  q->len++;
  return 0;
}

pacer__event_node_t *pacer__events_take(pacer__events_t *q)
{
  pacer__event_node_t *l = q->head;
  q->head = q->tail = NULL;
  q->len = 0;
  return l;
}

void pacer__events_free(pacer__event_node_t *list)
{
  while (list) {
    pacer__event_node_t *n = list->next;
    free(list);
    list = n;
  }
}

void pacer__events_destroy(pacer__events_t *q)
{
  pacer__events_free(pacer__events_take(q));
}

const char *pacer_event_type_name(pacer_event_type_t type)
{
  switch (type) {
  case PACER_EVENT_BREAKER:
    return "breaker";
  case PACER_EVENT_PAUSE:
    return "pause";
  case PACER_EVENT_RESUME:
    return "resume";
  case PACER_EVENT_RATE:
    return "rate";
  case PACER_EVENT_RETRY:
    return "retry";
  case PACER_EVENT_SHED:
    return "shed";
  case PACER_EVENT_STORE:
    return "store";
  case PACER_EVENT_RETRY_REFUSED:
    return "retry_refused";
  }
  return "unknown";
}

const char *pacer_event_reason_name(pacer_event_reason_t reason)
{
  switch (reason) {
  case PACER_REASON_NONE:
    return "none";
  case PACER_REASON_RETRY_AFTER:
    return "retry_after";
  case PACER_REASON_ANNOUNCED:
    return "announced";
  case PACER_REASON_AIMD:
    return "aimd";
  case PACER_REASON_SHARED:
    return "shared";
  case PACER_REASON_BACKOFF:
    return "backoff";
  }
  return "unknown";
}

/* Adds the fields that apply to ev's type to o. 0, or -1 when jansson
 * could not allocate. */
static int add_fields(json_t *o, const pacer_event_t *ev)
{
  int rc = 0;
#define SET(name, value) rc |= json_object_set_new(o, (name), (value))
  SET("event", json_string(pacer_event_type_name(ev->type)));
  SET("time_ms", json_integer(ev->time_ms));
  if (ev->key)
    SET("key", pacer__json_text(ev->key));
  switch (ev->type) {
  case PACER_EVENT_BREAKER:
    SET("from", json_string(pacer__breaker_state_name(ev->from)));
    SET("to", json_string(pacer__breaker_state_name(ev->to)));
    if (ev->to == PACER_BREAKER_OPEN) {
      SET("ratio", json_real(ev->ratio));
      SET("slow_ratio", json_real(ev->slow_ratio));
      SET("calls", json_integer(ev->calls));
    }
    break;
  case PACER_EVENT_PAUSE:
    SET("reason", json_string(pacer_event_reason_name(ev->reason)));
    SET("duration_ms", json_integer(ev->duration_ms));
    break;
  case PACER_EVENT_RATE:
    SET("reason", json_string(pacer_event_reason_name(ev->reason)));
    SET("rate", json_real(ev->rate));
    break;
  case PACER_EVENT_RETRY:
  case PACER_EVENT_RETRY_REFUSED:
    SET("job", json_integer((json_int_t)ev->job));
    SET("attempt", json_integer(ev->attempt));
    SET("status", json_integer(ev->status));
    SET("error",
        ev->error ? json_string(pacer_err_name(ev->error)) : json_null());
    if (ev->type == PACER_EVENT_RETRY) {
      SET("reason", json_string(pacer_event_reason_name(ev->reason)));
      SET("delay_ms", json_integer(ev->delay_ms));
    }
    break;
  case PACER_EVENT_SHED:
    SET("job", json_integer((json_int_t)ev->job));
    break;
  case PACER_EVENT_STORE:
    SET("state", json_string(pacer__shared_state_name(ev->store_state)));
    break;
  case PACER_EVENT_RESUME:
  default:
    break;
  }
  SET("message", pacer__json_text(ev->message ? ev->message : ""));
#undef SET
  return rc ? -1 : 0;
}

int pacer_event_json(const pacer_event_t *ev, char **json)
{
  if (!json)
    return PACER_EINVAL;
  *json = NULL;
  if (!ev)
    return PACER_EINVAL;
  json_t *o = json_object();
  if (!o || add_fields(o, ev)) {
    json_decref(o);
    return PACER_ENOMEM;
  }
  *json = pacer__json_dump(o);
  json_decref(o);
  return *json ? 0 : PACER_ENOMEM;
}
