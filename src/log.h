/* SPDX-License-Identifier: MIT */
/* log.h - log lines through the caller's pacer_log_cb.
 *
 * Every module that logs goes through here, so the transport and the spool
 * need only the configuration, never the dispatcher. What must not reach a
 * log (URL userinfo and query values, secret header values) is redacted by
 * the caller before formatting: pacer__url_redact() in http.h. */
#ifndef PACER_LOG_H
#define PACER_LOG_H

#include <pacer/pacer.h>
#include <stddef.h>

/* Formats a line (cut at 1023 bytes) and passes it to cfg->log_cb when
 * level is enabled (level <= cfg->log_level); does nothing otherwise. Any
 * thread; log_cb runs on the calling thread, with whatever locks the caller
 * holds, so callers log with no lock held where they can. */
void pacer__logf(const pacer_config_t *cfg, pacer_log_level_t level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Formats why something failed into err[errlen] for a caller that asked
 * (err NULL or errlen 0: nothing is written); the line is cut to fit. */
void pacer__set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
