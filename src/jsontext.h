/* SPDX-License-Identifier: MIT */
/* jsontext.h - JSON strings from text that may not be UTF-8. */
#ifndef PACER_JSONTEXT_H
#define PACER_JSONTEXT_H

#include <jansson.h>

/* A new JSON string for s (NULL: JSON null). Strings handed to pacer
 * (keys, URLs) are not checked for UTF-8, and jansson refuses invalid
 * UTF-8; rather than fail a whole rendering, each bad byte becomes
 * U+FFFD. NULL only when out of memory. */
json_t *pacer__json_text(const char *s);

/* Renders root compactly into a new NUL-terminated string from malloc()
 * (not jansson's allocator, which a program may have replaced), for the
 * caller to free(); NULL when out of memory. root is not released. */
char *pacer__json_dump(const json_t *root);

#endif
