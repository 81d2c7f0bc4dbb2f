/* SPDX-License-Identifier: MIT */
/* jsontext.c - JSON strings from text that may not be UTF-8 (keys, URLs,
 * messages): each byte that is not part of a well-formed sequence becomes
 * U+FFFD, so a stats snapshot or an event always renders. */
#include "jsontext.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *s)
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

json_t *pacer__json_text(const char *key)
{
  if (!key)
    return json_null();
  const unsigned char *s = (const unsigned char *)key;
  size_t len = strlen(key), bad = 0;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_seq(s + i);
    bad += n == 0;
    i += n ? n : 1;
  }
  if (!bad)
    return json_stringn(key, len);
  if (bad > (SIZE_MAX - len - 1) / 2)
    return NULL;
  char *fixed = malloc(len + 2 * bad + 1); /* 1 byte becomes 3 */
  if (!fixed)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_seq(s + i);
    if (n) {
      memcpy(fixed + o, key + i, n);
      o += n;
      i += n;
    } else {
      fixed[o++] = (char)0xEF; /* U+FFFD */
      fixed[o++] = (char)0xBF;
      fixed[o++] = (char)0xBD;
      i++;
    }
  }
  json_t *j = json_stringn(fixed, o);
  free(fixed);
  return j;
}

