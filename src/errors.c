/* SPDX-License-Identifier: MIT */
/* errors.c - error names and messages, generated from PACER_ERRNO_MAP, and
 * the version string. */
#include "version.h"
#include <pacer/pacer.h>

const char *pacer_version(void)
{
  return PACER__VERSION_STRING;
}

unsigned pacer_version_hex(void)
{
  return PACER_VERSION_HEX;
}

const char *pacer_strerror(int code)
{
  switch (code) {
  case 0:
    return "success";
#define PACER__ERR_MSG(name, val, msg)                                         \
  case PACER_##name:                                                           \
    return msg;
    PACER_ERRNO_MAP(PACER__ERR_MSG)
#undef PACER__ERR_MSG
  default:
    return "unknown error";
  }
}

const char *pacer_err_name(int code)
{
  switch (code) {
  case 0:
    return "PACER_OK";
#define PACER__ERR_NAME(name, val, msg)                                        \
  case PACER_##name:                                                           \
    return "PACER_" #name;
    PACER_ERRNO_MAP(PACER__ERR_NAME)
#undef PACER__ERR_NAME
  default:
    return "PACER_EUNKNOWN";
  }
}
