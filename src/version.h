/* SPDX-License-Identifier: MIT */
/* version.h - the version as a string literal, from the public macros. */
#ifndef PACER_VERSION_H
#define PACER_VERSION_H

#include <pacer/pacer.h>

#define PACER__STR2(x) #x
#define PACER__STR(x) PACER__STR2(x)
#define PACER__VERSION_STRING                                                  \
  PACER__STR(PACER_VERSION_MAJOR)                                              \
  "." PACER__STR(PACER_VERSION_MINOR) "." PACER__STR(PACER_VERSION_PATCH)

#endif
