/* SPDX-License-Identifier: MIT */
/* utf8.h - well-formed UTF-8, as the JSON and Prometheus renderings of a
 * snapshot need it: keys given to pacer_submit() are any bytes. */
#ifndef PACER_UTF8_H
#define PACER_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if there is none. */
static inline size_t pacer__utf8_seq(const unsigned char *s)
{
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return n;
}

/* 1 if the NUL-terminated s is well-formed UTF-8. */
static inline int pacer__utf8_valid(const char *s)
{
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    size_t n = pacer__utf8_seq(u);
    if (!n)
      return 0;
    u += n;
  }
  return 1;
}

#endif
