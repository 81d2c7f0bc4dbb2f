/* SPDX-License-Identifier: MIT */
/* fuzz_http.c - the checks a request passes before it is accepted
 * (src/http.c): URL, method, header name and value.
 *
 * Input: 1 byte of host buffer size, then URL, method, header name and
 * header value separated by NUL bytes.
 * Properties: an accepted URL's host fits its buffer, is NUL-terminated
 * and in lower case, and is libcurl's own; an accepted method or header has
 * only the bytes the declaration allows; an idempotent method is a valid one.
 */
#include "fuzz.h"
#include "http.h"

#include <ctype.h>

static int tchar(unsigned char c)
{
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in_t in = {data, size};
  size_t hostcap = fuzz_u8(&in);
  char *url = fuzz_str(&in, NULL);
  char *method = fuzz_str(&in, NULL);
  char *name = fuzz_str(&in, NULL);
  char *value = fuzz_str(&in, NULL);
  char *host = malloc(hostcap ? hostcap : 1);
  if (!url || !method || !name || !value || !host)
    goto out;

  memset(host, 'x', hostcap ? hostcap : 1);
  int rc = pacer__url_check(url, hostcap ? host : NULL, hostcap);
  FUZZ_CHECK(rc == 0 || rc == PACER_EURL || rc == PACER_ESCHEME);
  if (rc == 0 && hostcap) {
    size_t n = strnlen(host, hostcap);
    FUZZ_CHECK(n > 0 && n < hostcap);
    for (size_t i = 0; i < n; i++)
      FUZZ_CHECK(!isupper((unsigned char)host[i]));
  }
  FUZZ_CHECK(pacer__url_check(url, NULL, 0) == (rc == 0 ? 0 : rc) ||
             rc == PACER_EURL); /* a host that did not fit */
  /* The check without libcurl gives libcurl's answer and host. */
  {
    char h1[300], h2[300];
    int r1 = pacer__url_check(url, h1, sizeof h1);
    int r2 = pacer__url_check_curl(url, h2, sizeof h2);
    FUZZ_CHECK(r1 == r2 || r2 == PACER_ENOMEM);
    if (r1 == 0 && r2 == 0)
      FUZZ_CHECK(strcmp(h1, h2) == 0);
  }

  rc = pacer__method_check(method);
  FUZZ_CHECK(rc == 0 || rc == PACER_EMETHOD);
  if (rc == 0) {
    size_t n = strlen(method);
    FUZZ_CHECK(n >= 1 && n <= 32);
    for (size_t i = 0; i < n; i++)
      FUZZ_CHECK(tchar((unsigned char)method[i]));
  }
  if (pacer__method_idempotent(method))
    FUZZ_CHECK(rc == 0);

  rc = pacer__header_check(name, value);
  FUZZ_CHECK(rc == 0 || rc == PACER_EHEADER);
  if (rc == 0) {
    FUZZ_CHECK(*name);
    for (const char *c = name; *c; c++)
      FUZZ_CHECK(tchar((unsigned char)*c));
    FUZZ_CHECK(!strpbrk(value, "\r\n"));
  }
out:
  free(url);
  free(method);
  free(name);
  free(value);
  free(host);
  return 0;
}
