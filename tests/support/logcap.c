/* SPDX-License-Identifier: MIT */
/* logcap.c - log lines kept under a lock. */
#include "logcap.h"
#include <stdio.h>
#include <string.h>

void logcap_reset(logcap_t *cap)
{
  pthread_mutex_lock(&cap->mu);
  cap->text[0] = '\0';
  cap->len = cap->count = 0;
  memset(cap->levels, 0, sizeof cap->levels);
  memset(cap->first, 0, sizeof cap->first);
  memset(cap->first_level, 0, sizeof cap->first_level);
  pthread_mutex_unlock(&cap->mu);
}

void logcap_on_log(pacer_log_level_t level, const char *msg, void *user)
{
  logcap_t *cap = user;
  pthread_mutex_lock(&cap->mu);
  if ((int)level >= 0 && (int)level < 4)
    cap->levels[level]++;
  if (cap->count < LOGCAP_LINES) {
    snprintf(cap->first[cap->count], sizeof cap->first[0], "%s", msg);
    cap->first_level[cap->count] = (int)level;
  }
  cap->count++;
  cap->len += (size_t)snprintf(cap->text + cap->len,
                               sizeof cap->text - cap->len, "%s\n", msg);
  if (cap->len >= sizeof cap->text)
    cap->len = sizeof cap->text - 1;
  pthread_mutex_unlock(&cap->mu);
}

void logcap_take(logcap_t *cap, logcap_t *out)
{
  pthread_mutex_lock(&cap->mu);
  memcpy(out->text, cap->text, sizeof out->text);
  out->len = cap->len;
  out->count = cap->count;
  memcpy(out->levels, cap->levels, sizeof out->levels);
  memcpy(out->first, cap->first, sizeof out->first);
  memcpy(out->first_level, cap->first_level, sizeof out->first_level);
  pthread_mutex_unlock(&cap->mu);
}
