/* SPDX-License-Identifier: MIT */
/* jsontext.c - JSON strings from text that may not be UTF-8 (keys, URLs,
 * messages): each byte that is not part of a well-formed sequence becomes
 * U+FFFD, so a stats snapshot or an event always renders. */
#include "jsontext.h"
#include "utf8.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

json_t *pacer__json_text(const char *key)
{
  if (!key)
    return json_null();
  const unsigned char *s = (const unsigned char *)key;
  size_t len = strlen(key), bad = 0;
  for (size_t i = 0; i < len;) {
    size_t n = pacer__utf8_seq(s + i);
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
    size_t n = pacer__utf8_seq(s + i);
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

char *pacer__json_dump(const json_t *root)
{
  /* Sized in two passes so the buffer is ours (malloc), not jansson's. */
  size_t need = json_dumpb(root, NULL, 0, JSON_COMPACT);
  char *out = need && need < SIZE_MAX ? malloc(need + 1) : NULL;
  if (!out || json_dumpb(root, out, need, JSON_COMPACT) != need) {
    free(out);
    return NULL;
  }
  out[need] = '\0';
  return out;
}
