/* SPDX-License-Identifier: MIT */
/* test_ratehdr.c - the rate-limit fields of a response read into one quota:
 * every form, the binding policy among several, fields split over lines,
 * malformed and absurd values, and resets given as delays or Unix times at
 * a fixed wall clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ratehdr.h"
#include <stdio.h>
#include <string.h>

#define S INT64_C(1000000000)
/* The wall clock of every test: 2023-11-14 22:13:20 UTC. */
#define NOW_S INT64_C(1700000000)
#define NOW (NOW_S * S)
#define N(a) (sizeof(a) / sizeof(a)[0])

static pacer__ratehdr_t rd_at(const pacer_header_t *h, size_t n, int64_t now,
                              int64_t cap)
{
  pacer__ratehdr_t r;
  int found = pacer__ratehdr_read(h, n, now, cap, &r);
  assert_int_equal(found, r.found);
  return r;
}

#define RD(a) rd_at((a), N(a), NOW, 0)

static void assert_quota(const pacer__ratehdr_t *r, int source, int64_t limit,
                         int64_t remaining, int64_t reset_ns, int64_t window_ns)
{
  assert_int_equal(r->found, 1);
  assert_int_equal(r->source, source);
  assert_int_equal(r->limit, limit);
  assert_int_equal(r->remaining, remaining);
  assert_int_equal(r->reset_ns, reset_ns);
  assert_int_equal(r->window_ns, window_ns);
}

static void assert_none(const pacer__ratehdr_t *r)
{
  assert_int_equal(r->found, 0);
  assert_int_equal(r->source, PACER__RATEHDR_NONE);
  assert_int_equal(r->limit, -1);
  assert_int_equal(r->remaining, -1);
  assert_int_equal(r->reset_ns, -1);
  assert_int_equal(r->window_ns, -1);
  assert_int_equal(r->clamped, 0);
  assert_string_equal(r->policy, "");
}

/* Only a RateLimit field: 1 if it gives an IETF (draft-08) quota. */
static int ietf_accepts(const char *value)
{
  pacer_header_t h[] = {{"RateLimit", value}};
  pacer__ratehdr_t r = RD(h);
  return r.found && r.source == PACER__RATEHDR_IETF;
}

/* ---- IETF, draft-08 and later ------------------------------------------- */

static void ietf_one_policy(void **state)
{
  pacer_header_t h[] = {{"RateLimit-Policy", "\"burst\";q=100;w=60"},
                        {"RateLimit", "\"burst\";r=17;t=23"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 17, 23 * S, 60 * S);
  assert_string_equal(r.policy, "burst");
  assert_int_equal(r.clamped, 0);
  assert_string_equal(pacer__ratehdr_source_name(r.source), "IETF");
}

static void ietf_binding_policy_is_the_lowest_rate(void **state)
{
  /* burst: 50 in 30 s (1.7/s); daily: 10 in an hour: daily binds. */
  pacer_header_t a[] = {
      {"RateLimit-Policy", "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400"},
      {"RateLimit", "\"burst\";r=50;t=30, \"daily\";r=10;t=3600"}};
  pacer__ratehdr_t r = RD(a);
  assert_quota(&r, PACER__RATEHDR_IETF, 1000, 10, 3600 * S, 86400 * S);
  assert_string_equal(r.policy, "daily");

  /* burst: 1 in 30 s; daily: 900 in an hour (0.25/s): burst binds. */
  pacer_header_t b[] = {
      {"RateLimit-Policy", "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400"},
      {"RateLimit", "\"burst\";r=1;t=30, \"daily\";r=900;t=3600"}};
  r = RD(b);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 1, 30 * S, 60 * S);
  assert_string_equal(r.policy, "burst");

  /* The same rate: the longer wait binds. */
  pacer_header_t c[] = {{"RateLimit", "\"a\";r=10;t=10, \"b\";r=20;t=20"}};
  r = RD(c);
  assert_string_equal(r.policy, "b");
  /* A Unix time 1.5 s ahead counts as 2 s, not 1: "a" binds. */
  char v[80];
  snprintf(v, sizeof v, "\"b\";r=1;t=1, \"a\";r=1;t=%lld",
           (long long)NOW_S + 2);
  pacer_header_t f[] = {{"RateLimit", v}};
  r = rd_at(f, 1, NOW + S / 2, 0);
  assert_string_equal(r.policy, "a");
  assert_int_equal(r.reset_ns, S + S / 2);
  /* A full tie: the first stays. No reset, no window: the lowest r. */
  pacer_header_t e[] = {{"RateLimit", "\"a\";r=10;t=10, \"b\";r=10;t=10"}};
  r = RD(e);
  assert_string_equal(r.policy, "a");
  pacer_header_t u[] = {{"RateLimit", "\"a\";r=3, \"b\";r=2, \"c\";r=2"}};
  r = RD(u);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 2, -1, -1);
  assert_string_equal(r.policy, "b");
}

static void ietf_exhausted_policy_binds(void **state)
{
  pacer_header_t a[] = {{"RateLimit", "\"a\";r=1000;t=1, \"b\";r=0;t=5"}};
  pacer__ratehdr_t r = RD(a);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 0, 5 * S, -1);
  assert_string_equal(r.policy, "b");

  /* Exhausted, but its window starts again now: not binding. */
  pacer_header_t b[] = {{"RateLimit", "\"a\";r=0;t=0, \"b\";r=5;t=10"}};
  r = RD(b);
  assert_string_equal(r.policy, "b");

  /* Exhausted with no reset binds over quota left... */
  pacer_header_t c[] = {{"RateLimit", "\"a\";r=5;t=10, \"b\";r=0"}};
  r = RD(c);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 0, -1, -1);
  assert_string_equal(r.policy, "b");
  pacer_header_t c2[] = {{"RateLimit", "\"b\";r=0, \"a\";r=5;t=10"}};
  r = RD(c2);
  assert_string_equal(r.policy, "b");
  /* Both exhausted: the known reset binds. */
  pacer_header_t e[] = {{"RateLimit", "\"a\";r=0;t=5, \"b\";r=0"}};
  r = RD(e);
  assert_string_equal(r.policy, "a");
  /* ... but with quota left, a known reset binds over none. */
  pacer_header_t d[] = {{"RateLimit", "\"a\";r=1, \"b\";r=5;t=10"}};
  r = RD(d);
  assert_string_equal(r.policy, "b");
}

static void ietf_window_stands_in_for_a_missing_reset(void **state)
{
  /* a: 10 over its 60-s window; b: 50 in 10 s: a binds, its reset unknown. */
  pacer_header_t h[] = {{"RateLimit-Policy", "\"a\";q=100;w=60"},
                        {"RateLimit", "\"b\";r=50;t=10, \"a\";r=10"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 10, -1, 60 * S);
  assert_string_equal(r.policy, "a");
}

static void ietf_items_match_policies_by_name(void **state)
{
  pacer_header_t h[] = {
      {"RateLimit-Policy",
       "\"daily\";q=1000;w=86400, \"burst\";q=100;w=60, \"b\";q=7"},
      {"RateLimit", "\"burst\";r=0;t=9"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 0, 9 * S, 60 * S);

  /* A name the policies do not list, a name that is a prefix of one:
   * quota and window unknown. */
  pacer_header_t u[] = {{"RateLimit-Policy", "\"burst\";q=100;w=60"},
                        {"RateLimit", "\"burs\";r=3;t=9"}};
  r = RD(u);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 3, 9 * S, -1);
  assert_string_equal(r.policy, "burs");

  /* A token names the same policy as a string of the same letters; the
   * first policy of a name is kept. */
  pacer_header_t t[] = {{"RateLimit-Policy", "burst;q=100;w=60, burst;q=5"},
                        {"RateLimit", "\"burst\";r=3;t=9"}};
  r = RD(t);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 3, 9 * S, 60 * S);
}

static void ietf_reads_the_first_16_policies(void **state)
{
  char pol[400];
  size_t n = 0;
  for (int i = 0; i <= PACER__RATEHDR_POLICIES; i++)
    n += (size_t)snprintf(pol + n, sizeof pol - n, "%s\"p%d\";q=%d;w=1",
                          i ? ", " : "", i, 100 + i);
  pacer_header_t a[] = {{"RateLimit-Policy", pol},
                        {"RateLimit", "\"p15\";r=1"}};
  pacer__ratehdr_t r = RD(a);
  assert_int_equal(r.limit, 115);
  pacer_header_t b[] = {{"RateLimit-Policy", pol},
                        {"RateLimit", "\"p16\";r=1"}};
  r = RD(b);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 1, -1, -1);
}

static void ietf_unknown_parameters_and_partition_keys(void **state)
{
  pacer_header_t h[] = {
      {"RateLimit-Policy", "burst;q=100;foo=?1;w=60;pk=:YWJjZA==:;x=\"y\""},
      {"RateLimit", "burst;pk=:YWJjZA==:;r=17;zz=1.5;t=23;*k=@1700000000"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 17, 23 * S, 60 * S);

  /* A pk that is not a Byte Sequence makes its item invalid. */
  assert_false(ietf_accepts("\"a\";r=1;t=1;pk=\"abc\""));
  /* A parameter given twice keeps its last value. */
  pacer_header_t d[] = {{"RateLimit", "\"a\";r=1;t=5;r=9"}};
  r = RD(d);
  assert_int_equal(r.remaining, 9);
}

static void ietf_quota_units_other_than_requests(void **state)
{
  pacer_header_t h[] = {{"RateLimit-Policy",
                         "\"bytes\";q=1000;qu=\"content-bytes\";w=1, "
                         "\"req\";q=100;qu=\"requests\";w=60"},
                        {"RateLimit", "\"bytes\";r=0;t=1, \"req\";r=40;t=30"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 40, 30 * S, 60 * S);
  assert_string_equal(r.policy, "req");
  /* Alone, the policies that count something else are not chosen. */
  pacer_header_t p[] = {{"RateLimit-Policy", h[0].value}};
  r = RD(p);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, -1, -1, 60 * S);
}

static void ietf_split_lines_and_name_case(void **state)
{
  pacer_header_t h[] = {
      {"ratelimit-policy", "\"burst\";q=100;w=60"},
      {"Content-Type", "text/plain"},
      {"RATELIMIT", "\"burst\";r=50;t=30"},
      {"RateLimit-Policy", "\"daily\";q=1000;w=86400"},
      {"ratelimit", ""},
      {"rAtElImIt", "\"daily\";r=10;t=3600"},
  };
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 1000, 10, 3600 * S, 86400 * S);
  assert_string_equal(r.policy, "daily");

  /* The lines are one list: a String may even run over the join. */
  pacer_header_t s[] = {{"RateLimit", "\"a"}, {"RateLimit", "b\";r=4;t=2"}};
  r = RD(s);
  assert_string_equal(r.policy, "a, b");
  assert_int_equal(r.remaining, 4);

  /* A line that ends the list with a comma breaks the field. */
  pacer_header_t c[] = {{"RateLimit", "\"a\";r=4;t=2,"},
                        {"RateLimit", "\"b\";r=1;t=2"}};
  r = RD(c);
  assert_none(&r);
}

static void ietf_whitespace(void **state)
{
  pacer_header_t h[] = {{"RateLimit-Policy", " \t\"a\"; q=100; w=60  "},
                        {"RateLimit", "  \"a\";  r=5;t=10 ,\t\"b\";r=7;t=2"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 100, 5, 10 * S, 60 * S);

  /* No space before a ';', none between items but around commas. */
  assert_false(ietf_accepts("\"a\" ;r=5;t=10"));
  assert_false(ietf_accepts("\"a\";r=5 \"b\";r=1"));
  assert_false(ietf_accepts("\"a\";r =5"));
}

static void ietf_policies_alone(void **state)
{
  /* No RateLimit: the policy allowing the lowest rate, remaining unknown. */
  pacer_header_t h[] = {
      {"RateLimit-Policy", "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, 1000, -1, -1, 86400 * S);
  assert_string_equal(r.policy, "daily");
  /* The first policy of a name counts; a later one is dropped. */
  pacer_header_t d[] = {{"RateLimit-Policy",
                         "\"a\";q=100;w=60, \"a\";q=5;w=60, \"b\";q=50;w=60"}};
  r = RD(d);
  assert_quota(&r, PACER__RATEHDR_IETF, 50, -1, -1, 60 * S);
  assert_string_equal(r.policy, "b");
}

static void ietf_items_that_are_ignored(void **state)
{
  /* Only "d" is valid: r a String, r negative, t a Decimal, no r, the name
   * an Integer, an inner list, a Boolean. */
  pacer_header_t h[] = {
      {"RateLimit", "\"a\";r=\"17\";t=23, \"b\";r=-1;t=5, \"c\";r=5;t=1.5, "
                    "\"e\";t=4, 17;r=1;t=1, (\"f\" \"g\");r=0;t=99, "
                    "?1;r=0;t=9, \"d\";r=9;t=10"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 9, 10 * S, -1);
  assert_string_equal(r.policy, "d");

  /* Policies: q missing, q a String, w zero, w negative: none usable. */
  pacer_header_t p[] = {
      {"RateLimit-Policy",
       "\"a\";w=60, \"b\";q=\"9\";w=1, \"c\";q=9;w=0, \"d\";q=9;w=-5"},
      {"RateLimit", "\"a\";r=1;t=1"}};
  r = RD(p);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 1, 1 * S, -1);
  pacer_header_t q[] = {{"RateLimit-Policy", p[0].value}};
  r = RD(q);
  assert_none(&r);

  /* A name longer than 64 bytes is not matched: the item is ignored. */
  char name[100];
  char v[160];
  memset(name, 'n', 65);
  name[65] = '\0';
  snprintf(v, sizeof v, "\"%s\";r=1;t=1", name);
  assert_false(ietf_accepts(v));
  name[64] = '\0';
  snprintf(v, sizeof v, "\"%s\";r=1;t=1", name);
  assert_true(ietf_accepts(v));
}

static void ietf_bad_syntax_drops_the_field(void **state)
{
  static const char *const bad[] = {
      "\"a\";r=17;t=23,",         /* trailing comma */
      ",\"a\";r=1",               /* leading comma */
      "\"a\";r=1,,\"b\";r=2",     /* empty member */
      "\"unterminated;r=1",       /* string */
      "\"a\\q\";r=1",             /* bad escape */
      "\"a\";r=",                 /* no value */
      "\"a\";R=5",                /* keys are lower case */
      "\"a\";r=5;;t=1",           /* empty key */
      "\"a\";\tr=5",              /* only SP after ';' */
      "(\"a\"\t\"b\")",           /* only SP in an inner list */
      "\"a\";r=1234567890123456", /* 16 digits */
      "\"a\";r=--1",              /* sign */
      "\"a\";r=1.2345",           /* four decimals */
      "\"a\";r=1.",               /* no decimals */
      "\"a\";t=1234567890123.5",  /* 13 integer digits in a Decimal */
      "\"a\";r=?2",               /* Boolean */
      "\"a\";pk=:not base64!:",   /* Byte Sequence */
      "\"a\";pk=:YWJj",           /* unterminated Byte Sequence */
      "(\"a\" \"b\"",             /* unterminated inner list */
      "(\"a\"\"b\")",             /* inner list items unseparated */
      "\"a\";r=@",                /* Date */
      "\"a\";r=1 x",              /* garbage after an item */
      "\"caf\xc3\xa9\";r=1;t=1",  /* not ASCII */
      "=",
      "%\"x\"",
  };
  for (size_t i = 0; i < N(bad); i++) {
    /* Alone, and after a valid item: the whole field is ignored, and the
     * response is not. */
    char v[200];
    snprintf(v, sizeof v, "\"ok\";r=1;t=1, %s", bad[i]);
    pacer_header_t h[] = {{"RateLimit", bad[i]}, {"X-RateLimit-Limit", "60"}};
    pacer__ratehdr_t r = RD(h);
    assert_int_equal(r.source, PACER__RATEHDR_X);
    assert_int_equal(r.limit, 60);
    h[0].value = v;
    r = RD(h);
    assert_int_equal(r.source, PACER__RATEHDR_X);
    assert_int_equal(r.limit, 60);
  }
  /* The largest Integer is fine (and clamped later). */
  assert_true(ietf_accepts("\"a\";r=999999999999999;t=1"));
  assert_true(ietf_accepts("\"a\";r=1;t=1;z=-999999999999.999"));

  /* A malformed RateLimit-Policy drops only itself. */
  pacer_header_t p[] = {{"RateLimit-Policy", "\"a\";q=100;w=60,"},
                        {"RateLimit", "\"a\";r=3;t=4"}};
  pacer__ratehdr_t r = RD(p);
  assert_quota(&r, PACER__RATEHDR_IETF, -1, 3, 4 * S, -1);
}

/* ---- older drafts ------------------------------------------------------- */

static void old_combined_field(void **state)
{
  pacer_header_t h[] = {{"RateLimit", "limit=100, remaining=17, reset=23"},
                        {"RateLimit-Policy", "10;w=1, 100;w=60"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 100, 17, 23 * S, 60 * S);
  assert_string_equal(r.policy, "");
  assert_string_equal(pacer__ratehdr_source_name(r.source), "IETF-old");

  /* What pacer-mock sends with ratelimit_headers=1: the old form wins over
   * X-RateLimit-*. */
  pacer_header_t m[] = {{"RateLimit-Policy", "10;w=1"},
                        {"RateLimit", "limit=10, remaining=9, reset=1"},
                        {"X-RateLimit-Limit", "10"},
                        {"X-RateLimit-Remaining", "9"},
                        {"X-RateLimit-Reset", "1"}};
  r = RD(m);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 10, 9, 1 * S, 1 * S);
  /* ... and with its decimal rate in the policy, no window. */
  pacer_header_t d[] = {{"RateLimit-Policy", "5.5;w=1;burst=10"},
                        {"RateLimit", "limit=10, remaining=0, reset=2"}};
  r = RD(d);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 10, 0, 2 * S, -1);

  /* Members in any order, one missing, one malformed, one unknown. */
  pacer_header_t o[] = {{"RateLimit", "reset=5, foo=bar, limit=\"100\""}};
  r = RD(o);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, -1, -1, 5 * S, -1);
  /* A member without a value is a Boolean; an inner list is no number. */
  pacer_header_t b[] = {
      {"RateLimit", "remaining=3, reset;x=1, limit=(1 2);w=5"}};
  r = RD(b);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, -1, 3, -1, -1);
  /* A broken dictionary leaves the separate fields to be read. */
  pacer_header_t x[] = {{"RateLimit", "limit=10, remaining="},
                        {"RateLimit-Remaining", "4"}};
  r = RD(x);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, -1, 4, -1, -1);
}

static void old_separate_fields(void **state)
{
  pacer_header_t h[] = {{"RateLimit-Limit", "100"},
                        {"ratelimit-remaining", "17"},
                        {"RATELIMIT-RESET", "23"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 100, 17, 23 * S, -1);

  /* Drafts up to -02: the limit, then its policies with windows. */
  pacer_header_t w[] = {{"RateLimit-Limit", "100, 10;w=1, 100;w=60"},
                        {"RateLimit-Remaining", "0"},
                        {"RateLimit-Reset", "7"}};
  r = RD(w);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 100, 0, 7 * S, 60 * S);
  /* -03 to -06: the window in RateLimit-Policy. */
  pacer_header_t p[] = {{"RateLimit-Limit", "100"},
                        {"RateLimit-Policy", "100;w=3600"}};
  r = RD(p);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 100, -1, -1, 3600 * S);

  /* A malformed or repeated field is left out, not the others. */
  pacer_header_t b[] = {{"RateLimit-Limit", "100"},
                        {"RateLimit-Remaining", "17"},
                        {"RateLimit-Remaining", "18"},
                        {"RateLimit-Reset", "soon"}};
  r = RD(b);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, 100, -1, -1, -1);
  pacer_header_t l[] = {{"RateLimit-Limit", "100;w=60,"},
                        {"RateLimit-Remaining", "5"}};
  r = RD(l);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, -1, 5, -1, -1);
  /* The limit is the first member, or unknown. */
  pacer_header_t fm[] = {{"RateLimit-Limit", "\"x\", 100;w=60"},
                         {"RateLimit-Reset", "3"}};
  r = RD(fm);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, -1, -1, 3 * S, -1);
  pacer_header_t n[] = {{"RateLimit-Limit", "-100"},
                        {"RateLimit-Remaining", "1.5"},
                        {"RateLimit-Reset", "12345678901234567"}};
  r = RD(n);
  assert_none(&r);
}

/* ---- X-RateLimit-* ------------------------------------------------------ */

static void x_delta_and_unix_resets(void **state)
{
  /* GitHub: a Unix time in seconds. */
  char at[32];
  snprintf(at, sizeof at, "%lld", (long long)(NOW_S + 1800));
  pacer_header_t g[] = {{"X-RateLimit-Limit", "5000"},
                        {"X-RateLimit-Remaining", "4999"},
                        {"X-RateLimit-Reset", at}};
  pacer__ratehdr_t r = RD(g);
  assert_quota(&r, PACER__RATEHDR_X, 5000, 4999, 1800 * S, -1);
  assert_string_equal(pacer__ratehdr_source_name(r.source), "X-RateLimit");

  /* A delay in seconds, up to 10^9 - 1. */
  pacer_header_t d[] = {{"x-ratelimit-reset", "60"}};
  r = RD(d);
  assert_quota(&r, PACER__RATEHDR_X, -1, -1, 60 * S, -1);
  pacer_header_t big[] = {{"X-RateLimit-Reset", "999999999"}};
  r = rd_at(big, 1, NOW, INT64_MAX);
  assert_int_equal(r.reset_ns, INT64_C(999999999) * S);

  /* A Unix time in milliseconds, with a fraction of a second. */
  snprintf(at, sizeof at, "%lld", (long long)(NOW_S * 1000 + 2500));
  pacer_header_t ms[] = {{"X-RateLimit-Reset", at}};
  r = RD(ms);
  assert_int_equal(r.reset_ns, 2500 * INT64_C(1000000));
  snprintf(at, sizeof at, "%lld.25", (long long)(NOW_S + 3));
  pacer_header_t fr[] = {{"X-RateLimit-Reset", at}};
  r = RD(fr);
  assert_int_equal(r.reset_ns, 3 * S + S / 4);
  pacer_header_t fd[] = {{"X-RateLimit-Reset", "1.5"}};
  r = RD(fd);
  assert_int_equal(r.reset_ns, S + S / 2);

  /* A Unix time now or past: reset now. The bounds are 10^9 and 10^12. */
  snprintf(at, sizeof at, "%lld", (long long)(NOW_S - 5));
  pacer_header_t past[] = {{"X-RateLimit-Reset", at}};
  r = RD(past);
  assert_int_equal(r.reset_ns, 0);
  pacer_header_t e9[] = {{"X-RateLimit-Reset", "1000000000"}};
  r = RD(e9);
  assert_int_equal(r.reset_ns, 0);
  pacer_header_t e12[] = {{"X-RateLimit-Reset", "1000000000000"}};
  r = RD(e12);
  assert_int_equal(r.reset_ns, 0);
  /* The same values at a wall clock of 2001-09-09 01:46:30 (10^9 - 10 s):
   * 10 s ahead, 10 s ahead. */
  r = rd_at(e9, 1, (INT64_C(1000000000) - 10) * S, 0);
  assert_int_equal(r.reset_ns, 10 * S);
  r = rd_at(e12, 1, (INT64_C(1000000000) - 10) * S, 0);
  assert_int_equal(r.reset_ns, 10 * S);
}

static void x_rate_limit_spelling(void **state)
{
  pacer_header_t h[] = {{"X-Rate-Limit-Limit", "900"},
                        {"X-Rate-Limit-Remaining", "899"},
                        {"X-Rate-Limit-Reset", "30"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_X, 900, 899, 30 * S, -1);
  /* X-RateLimit-* first. */
  pacer_header_t b[] = {{"X-Rate-Limit-Limit", "900"},
                        {"X-RateLimit-Limit", "100"}};
  r = RD(b);
  assert_int_equal(r.limit, 100);
}

static void x_malformed_values(void **state)
{
  static const char *const bad[] = {"-5",         "12abc", "1e3",
                                    "5000, 4000", "0x10",  "",
                                    " ",          "1.",    "1234567890123456",
                                    "+5",         "5;w=1", "\"5\"",
                                    ",5",         "5,"};
  for (size_t i = 0; i < N(bad); i++) {
    pacer_header_t h[] = {{"X-RateLimit-Limit", bad[i]},
                          {"X-RateLimit-Remaining", "3"}};
    pacer__ratehdr_t r = RD(h);
    assert_quota(&r, PACER__RATEHDR_X, -1, 3, -1, -1);
  }
  /* Repeated lines that agree; spaces around. */
  pacer_header_t h[] = {{"X-RateLimit-Limit", " 5000 "},
                        {"X-RateLimit-Limit", "5000"},
                        {"X-RateLimit-Remaining", "5000 , 5000"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_X, 5000, 5000, -1, -1);
  /* A fraction is dropped (Reddit sends "598.0"). */
  pacer_header_t f[] = {{"X-Ratelimit-Remaining", "598.0"},
                        {"X-Ratelimit-Limit", "600.9"}};
  r = RD(f);
  assert_quota(&r, PACER__RATEHDR_X, 600, 598, -1, -1);
  /* Resets: a bare dot, a second dot, 10^15 and more. */
  static const char *const resets[] = {"1.", ".5", "1.2.3", "1000000000000000",
                                       "-1"};
  for (size_t i = 0; i < N(resets); i++) {
    pacer_header_t x[] = {{"X-RateLimit-Reset", resets[i]}};
    r = RD(x);
    assert_none(&r);
  }
}

/* ---- precedence, caps, nothing ------------------------------------------ */

static void precedence(void **state)
{
  pacer_header_t h[] = {{"X-RateLimit-Limit", "1"},
                        {"RateLimit-Limit", "2"},
                        {"RateLimit", "\"p\";r=3;t=3"},
                        {"RateLimit-Policy", "\"p\";q=3"}};
  pacer__ratehdr_t r = rd_at(h, 4, NOW, 0);
  assert_int_equal(r.source, PACER__RATEHDR_IETF);
  assert_int_equal(r.limit, 3);
  r = rd_at(h, 2, NOW, 0);
  assert_int_equal(r.source, PACER__RATEHDR_IETF_OLD);
  assert_int_equal(r.limit, 2);
  r = rd_at(h, 1, NOW, 0);
  assert_int_equal(r.source, PACER__RATEHDR_X);
  assert_int_equal(r.limit, 1);

  /* An IETF field with nothing usable falls through to the next form. */
  pacer_header_t u[] = {{"RateLimit", "\"p\";t=3"}, {"RateLimit-Reset", "4"}};
  r = RD(u);
  assert_quota(&r, PACER__RATEHDR_IETF_OLD, -1, -1, 4 * S, -1);
  /* Retry-After is not read here. */
  pacer_header_t ra[] = {{"Retry-After", "120"}};
  r = RD(ra);
  assert_none(&r);
}

static void caps_on_absurd_values(void **state)
{
  /* A limit of 10^12, a remaining above the limit, a reset a year away. */
  pacer_header_t h[] = {{"X-RateLimit-Limit", "1000000000000"},
                        {"X-RateLimit-Remaining", "999999999999999"},
                        {"X-RateLimit-Reset", "31536000"}};
  pacer__ratehdr_t r = RD(h);
  assert_quota(&r, PACER__RATEHDR_X, PACER__RATEHDR_LIMIT_MAX,
               PACER__RATEHDR_LIMIT_MAX, PACER__RATEHDR_RESET_MAX_NS, -1);
  assert_int_equal(r.clamped, PACER__RATEHDR_CLAMP_LIMIT |
                                  PACER__RATEHDR_CLAMP_REMAINING |
                                  PACER__RATEHDR_CLAMP_RESET);
  assert_int_equal(r.limit_raw, INT64_C(1000000000000));
  assert_int_equal(r.remaining_raw, INT64_C(999999999999999));
  assert_int_equal(r.reset_raw_s, 31536000);
  assert_int_equal(r.window_raw_s, -1);

  /* The caller's cap on resets; remaining above the limit. */
  pacer_header_t c[] = {{"RateLimit-Policy", "\"a\";q=10;w=99999999999"},
                        {"RateLimit", "\"a\";r=11;t=31"}};
  r = rd_at(c, 2, NOW, 30 * S);
  assert_quota(&r, PACER__RATEHDR_IETF, 10, 10, 30 * S,
               PACER__RATEHDR_WINDOW_MAX_S * S);
  assert_int_equal(r.clamped, PACER__RATEHDR_CLAMP_REMAINING |
                                  PACER__RATEHDR_CLAMP_RESET |
                                  PACER__RATEHDR_CLAMP_WINDOW);
  assert_int_equal(r.remaining_raw, 11);
  assert_int_equal(r.reset_raw_s, 31);
  assert_int_equal(r.window_raw_s, INT64_C(99999999999));
  assert_int_equal(r.limit_raw, -1);
  /* At the cap: not clamped. */
  r = rd_at(c + 1, 1, NOW, 31 * S);
  assert_int_equal(r.reset_ns, 31 * S);
  assert_int_equal(r.clamped, 0);

  /* A Unix time far ahead, even at a negative wall clock, saturates. */
  pacer_header_t f[] = {{"X-RateLimit-Reset", "999999999999999"}};
  r = rd_at(f, 1, INT64_MIN, INT64_MAX);
  assert_int_equal(r.reset_ns, INT64_MAX);
  r = rd_at(f, 1, INT64_MIN, 0);
  assert_int_equal(r.reset_ns, PACER__RATEHDR_RESET_MAX_NS);
  assert_int_equal(r.reset_raw_s, INT64_MAX / S);

  /* Huge quotas and resets still compare without overflow: 10^15 (cut to
   * 10^9) in a day against 1 in 1 s; 10^15 in 10^9 - 1 s against 10^15 in
   * 1 s; 10^15 by a reset 292 years away against 1 in 1 s. */
  pacer_header_t q[] = {{"RateLimit", "\"a\";r=999999999999999;t=86400, "
                                      "\"b\";r=1;t=1"}};
  r = rd_at(q, 1, NOW, INT64_MAX);
  assert_string_equal(r.policy, "b");
  pacer_header_t q2[] = {{"RateLimit", "\"a\";r=999999999999999;t=999999999, "
                                       "\"b\";r=999999999999999;t=1"}};
  r = rd_at(q2, 1, NOW, INT64_MAX);
  assert_string_equal(r.policy, "a");
  pacer_header_t q3[] = {{"RateLimit",
                          "\"a\";r=999999999999999;t=999999999999999, "
                          "\"b\";r=1;t=1"}};
  r = rd_at(q3, 1, NOW, INT64_MAX);
  assert_string_equal(r.policy, "a");
  assert_int_equal(r.reset_ns, INT64_MAX - NOW);
}

static void nothing_usable(void **state)
{
  pacer__ratehdr_t r;
  assert_int_equal(pacer__ratehdr_read(NULL, 0, NOW, 0, &r), 0);
  assert_none(&r);
  assert_int_equal(pacer__ratehdr_read(NULL, 5, NOW, 0, &r), 0);
  assert_none(&r);
  assert_string_equal(pacer__ratehdr_source_name(r.source), "none");

  pacer_header_t h[] = {{NULL, "5"},
                        {"X-RateLimit-Limit", NULL},
                        {"Content-Type", "text/plain"},
                        {"RateLimit", ""},
                        {"RateLimit-Policy", "  \t "},
                        {"X-RateLimit-Remaining", ""}};
  r = RD(h);
  assert_none(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ietf_one_policy),
      cmocka_unit_test(ietf_binding_policy_is_the_lowest_rate),
      cmocka_unit_test(ietf_exhausted_policy_binds),
      cmocka_unit_test(ietf_window_stands_in_for_a_missing_reset),
      cmocka_unit_test(ietf_items_match_policies_by_name),
      cmocka_unit_test(ietf_reads_the_first_16_policies),
      cmocka_unit_test(ietf_unknown_parameters_and_partition_keys),
      cmocka_unit_test(ietf_quota_units_other_than_requests),
      cmocka_unit_test(ietf_split_lines_and_name_case),
      cmocka_unit_test(ietf_whitespace),
      cmocka_unit_test(ietf_policies_alone),
      cmocka_unit_test(ietf_items_that_are_ignored),
      cmocka_unit_test(ietf_bad_syntax_drops_the_field),
      cmocka_unit_test(old_combined_field),
      cmocka_unit_test(old_separate_fields),
      cmocka_unit_test(x_delta_and_unix_resets),
      cmocka_unit_test(x_rate_limit_spelling),
      cmocka_unit_test(x_malformed_values),
      cmocka_unit_test(precedence),
      cmocka_unit_test(caps_on_absurd_values),
      cmocka_unit_test(nothing_usable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
