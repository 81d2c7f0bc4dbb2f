/* SPDX-License-Identifier: MIT */
/* http.h - checks and parsing of request parts: URLs (through libcurl's URL
 * API), methods, header names and values, HTTP dates and Retry-After, and
 * URLs redacted for log lines.
 *
 * Pure functions; any thread. */
#ifndef PACER_HTTP_H
#define PACER_HTTP_H

#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>

/* Checks url as curl_url() parses it (a plain URL without calling it).
 * Accepts only http and https with a host.
 * On success returns 0 and, if host is not NULL, copies the host in lower
 * case into host[hostcap] (PACER_EURL if it does not fit). Returns PACER_EURL
 * (NULL, empty, unparsable, no host) or PACER_ESCHEME (any other scheme). */
int pacer__url_check(const char *url, char *host, size_t hostcap);

/* pacer__url_check() always through curl_url(), the same contract. The
 * check above answers the plain shape of URL itself and must agree with
 * this one on each URL it accepts (the fuzz target compares them). */
int pacer__url_check_curl(const char *url, char *host, size_t hostcap);

/* 0 if method is an HTTP token (RFC 9110 tchar, 1..32 chars), else
 * PACER_EMETHOD. NULL is PACER_EMETHOD. */
int pacer__method_check(const char *method);

/* 0 if name is a non-empty token (RFC 9110 tchar, at most 256 chars) that
 * the transport does not own, and value (may be empty) holds at most 64 KiB
 * of visible characters, SP, HTAB and bytes 0x80-0xff: no other control
 * character (0x00-0x08, 0x0a-0x1f, 0x7f). Else PACER_EHEADER, also for a
 * NULL name or value and for every name pacer__header_reserved() owns.
 * Every header that enters a job (pacer_submit, batches, the spool on
 * resume, the command's job lines and --header) passes here. */
int pacer__header_check(const char *name, const char *value);

/* 1 if the len bytes at name (no NUL needed) spell, case-insensitively, a
 * field the transport writes itself: Content-Length, Transfer-Encoding,
 * Connection, Keep-Alive, Upgrade, TE, Trailer, Proxy-Connection, Host.
 * Else 0 (also for NULL). */
int pacer__header_reserved(const char *name, size_t len);

/* Copies url into out[cap] for a log line, with the userinfo replaced by
 * "[redacted]" and every query value too ("?a=[redacted]&b=[redacted]"; a
 * query item without '=' is replaced whole); the fragment is left out.
 * Parsed with curl_url(), as the transport does. A URL that does not parse
 * gives "[unparsable URL]". Output longer than cap is cut (always
 * NUL-terminated when cap > 0). Returns out. */
char *pacer__url_redact(const char *url, char *out, size_t cap);

/* 1 for methods that are idempotent by RFC 9110 (GET, HEAD, OPTIONS, TRACE,
 * PUT, DELETE; case-sensitive as HTTP methods are), else 0. */
int pacer__method_idempotent(const char *method);

/* Parses an HTTP date (IMF-fixdate, RFC 850 or asctime form) to seconds
 * since the epoch. Returns 0 and *out, or -1. */
int pacer__http_date(const char *s, int64_t *out);

/* Parses a Retry-After value: delay-seconds or an HTTP date, relative to
 * wall_now_ns. Returns the delay in ns (0 for a date in the past), or -1 if
 * value is NULL or not valid. Seconds saturate instead of overflowing. */
int64_t pacer__retry_after_ns(const char *value, int64_t wall_now_ns);

#endif
