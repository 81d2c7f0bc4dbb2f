/* SPDX-License-Identifier: MIT */
/* log.c - log lines through the caller's pacer_log_cb. */
#include "log.h"
#include <stdarg.h>
#include <stdio.h>

void pacer__logf(const pacer_config_t *cfg, pacer_log_level_t level,
                 const char *fmt, ...)
{
  if (!cfg->log_cb || level > cfg->log_level)
    return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  cfg->log_cb(level, buf, cfg->log_user);
}

void pacer__set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}
