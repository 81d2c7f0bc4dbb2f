/* SPDX-License-Identifier: MIT */
/* fuzz_resp.c - response header lines as a transport passes them on
 * (src/resp.c), then the Retry-After value and HTTP dates they carry
 * (src/http.c).
 *
 * Input: 2 bytes of header budget, 8 bytes of wall clock, then header lines
 * ended by '\n' (each given with its '\n', as libcurl does).
 * Properties: the headers kept stay within the budget, a kept header is
 * found by its name (a NUL in a name cuts it short: libcurl refuses such
 * lines before they get here), and a Retry-After delay is -1 or not negative.
 */
#include "fuzz.h"
#include "http.h"
#include "resp.h"

#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in_t in = {data, size};
  size_t max_bytes = (size_t)fuzz_u8(&in) << 8 | fuzz_u8(&in);
  int64_t wall_ns = (int64_t)fuzz_u64(&in);

  pacer__resp_t r;
  pacer__resp_init(&r);
  size_t kept = 0; /* bytes counted against the budget */
  while (in.left) {
    const uint8_t *nl = memchr(in.p, '\n', in.left);
    size_t n = nl ? (size_t)(nl - in.p) + 1 : in.left;
    char *line = malloc(n ? n : 1); /* exactly the line: no NUL after it */
    if (!line)
      break;
    memcpy(line, in.p, n);
    in.p += n;
    in.left -= n;
    int rc = pacer__resp_header_line(&r, line, n, max_bytes);
    free(line);
    FUZZ_CHECK(rc == 0 || rc == PACER_ETOOLARGE || rc == PACER_ENOMEM);
    FUZZ_CHECK(r.status >= 0 && r.status <= 999);
    kept = 0;
    for (size_t i = 0; i < r.header_count; i++) {
      const char *name = r.headers[i].name, *value = r.headers[i].value;
      FUZZ_CHECK(name && value);
      kept += strlen(name) + strlen(value) + 4;
    }
    FUZZ_CHECK(kept <= max_bytes);
  }
  for (size_t i = 0; i < r.header_count; i++) {
    const char *v = pacer__resp_header(&r, r.headers[i].name);
    FUZZ_CHECK(v != NULL);
    if (!strcasecmp(r.headers[i].name, "Retry-After")) {
      int64_t d = pacer__retry_after_ns(v, wall_ns);
      FUZZ_CHECK(d >= -1);
    }
    int64_t t;
    if (pacer__http_date(r.headers[i].value, &t) == 0)
      pacer__retry_after_ns(r.headers[i].value, wall_ns);
  }
  pacer__resp_reset(&r);
  return 0;
}
