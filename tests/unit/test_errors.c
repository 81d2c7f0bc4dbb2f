/* SPDX-License-Identifier: MIT */
/* test_errors.c - error codes, their names and messages, and the version. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <pacer/pacer.h>

typedef struct err_entry {
  int code;
  const char *name; /* "PACER_" + the map's name */
  const char *msg;
} err_entry_t;

/* One row per code, straight from the list that generates the library's. */
static const err_entry_t entries[] = {
#define ENTRY(name, val, msg) {(val), "PACER_" #name, (msg)},
    PACER_ERRNO_MAP(ENTRY)
#undef ENTRY
};
#define N_ENTRIES (sizeof entries / sizeof entries[0])

/* The published numbers, written out: the header promises codes are only
 * appended and never renumbered, so a constant that moved (or a row removed
 * or reordered in the map) fails here. Comparing each constant with the map
 * that defines it could not fail. A new code is added below with its
 * number; the count check makes sure it is. */
static void enum_matches_map(void **state)
{
  static const struct {
    int constant, published;
    const char *name;
  } pinned[] = {
      {PACER_EINVAL, -1, "PACER_EINVAL"},
      {PACER_ENOMEM, -2, "PACER_ENOMEM"},
      {PACER_EFULL, -3, "PACER_EFULL"},
      {PACER_ESHUTDOWN, -4, "PACER_ESHUTDOWN"},
      {PACER_ECANCELED, -5, "PACER_ECANCELED"},
      {PACER_ETIMEDOUT, -6, "PACER_ETIMEDOUT"},
      {PACER_EDEADLINE, -7, "PACER_EDEADLINE"},
      {PACER_EEXPIRED, -8, "PACER_EEXPIRED"},
      {PACER_ETRANSPORT, -9, "PACER_ETRANSPORT"},
      {PACER_EBREAKER, -10, "PACER_EBREAKER"},
      {PACER_ERETRIES, -11, "PACER_ERETRIES"},
      {PACER_ETOOLARGE, -12, "PACER_ETOOLARGE"},
      {PACER_ENOTFOUND, -13, "PACER_ENOTFOUND"},
      {PACER_EURL, -14, "PACER_EURL"},
      {PACER_ESCHEME, -15, "PACER_ESCHEME"},
      {PACER_EHEADER, -16, "PACER_EHEADER"},
      {PACER_EMETHOD, -17, "PACER_EMETHOD"},
      {PACER_ERATE, -18, "PACER_ERATE"},
      {PACER_ECONCURRENCY, -19, "PACER_ECONCURRENCY"},
      {PACER_EWORKERS, -20, "PACER_EWORKERS"},
      {PACER_EINCALLBACK, -21, "PACER_EINCALLBACK"},
      {PACER_ESYSTEM, -22, "PACER_ESYSTEM"},
      {PACER_EKEY, -23, "PACER_EKEY"},
      {PACER_ETLS, -24, "PACER_ETLS"},
      {PACER_ESPOOL, -25, "PACER_ESPOOL"},
      {PACER_ESPOOLBUSY, -26, "PACER_ESPOOLBUSY"},
      {PACER_ESPOOLVERSION, -27, "PACER_ESPOOLVERSION"},
      {PACER_EHANDLER, -28, "PACER_EHANDLER"},
      {PACER_EDENIED, -29, "PACER_EDENIED"},
      {PACER_ESHARED, -30, "PACER_ESHARED"},
      {PACER_ESHED, -31, "PACER_ESHED"},
      {PACER_EBUDGET, -32, "PACER_EBUDGET"},
  };
  enum { N_PINNED = sizeof pinned / sizeof pinned[0] };
  for (size_t i = 0; i < N_PINNED; i++) {
    assert_int_equal(pinned[i].constant, pinned[i].published);
    assert_string_equal(pacer_err_name(pinned[i].published), pinned[i].name);
    /* The map lists them in order, one number apart: -1, -2, ... */
    assert_int_equal(entries[i].code, pinned[i].published);
  }
  assert_int_equal(N_ENTRIES, N_PINNED);
}

static void codes_negative_and_distinct(void **state)
{
  assert_true(N_ENTRIES > 0);
  for (size_t i = 0; i < N_ENTRIES; i++) {
    assert_true(entries[i].code < 0);
    for (size_t k = i + 1; k < N_ENTRIES; k++)
      assert_int_not_equal(entries[i].code, entries[k].code);
  }
}

static void messages_non_empty(void **state)
{
  for (size_t i = 0; i < N_ENTRIES; i++) {
    const char *m = pacer_strerror(entries[i].code);
    assert_non_null(m);
    assert_true(m[0] != '\0');
    assert_string_equal(m, entries[i].msg);
    assert_string_not_equal(m, "unknown error");
  }
}

static void names_prefixed(void **state)
{
  for (size_t i = 0; i < N_ENTRIES; i++) {
    const char *n = pacer_err_name(entries[i].code);
    assert_non_null(n);
    assert_string_equal(n, entries[i].name);
    assert_int_equal(strncmp(n, "PACER_E", 7), 0);
  }
}

static void success_code(void **state)
{
  assert_string_equal(pacer_strerror(0), "success");
  assert_string_equal(pacer_err_name(0), "PACER_OK");
}

static void unknown_codes(void **state)
{
  static const int unknown[] = {1, -9999, 42, -1000000};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(pacer_strerror(unknown[i]), "unknown error");
    assert_string_equal(pacer_err_name(unknown[i]), "PACER_EUNKNOWN");
  }
}

static void version_string(void **state)
{
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", PACER_VERSION_MAJOR,
           PACER_VERSION_MINOR, PACER_VERSION_PATCH);
  assert_non_null(pacer_version());
  assert_string_equal(pacer_version(), want);
  /* Static: the same pointer every time. */
  assert_ptr_equal(pacer_version(), pacer_version());
}

static void version_hex(void **state)
{
  assert_int_equal((PACER_VERSION_HEX >> 16) & 0xff, PACER_VERSION_MAJOR);
  assert_int_equal((PACER_VERSION_HEX >> 8) & 0xff, PACER_VERSION_MINOR);
  assert_int_equal(PACER_VERSION_HEX & 0xff, PACER_VERSION_PATCH);
  assert_int_equal(PACER_VERSION_HEX, PACER_VERSION_MAJOR * 65536 +
                                          PACER_VERSION_MINOR * 256 +
                                          PACER_VERSION_PATCH);
}

/* The number the running library reports is the header's, and orders
 * versions as numbers do. */
static void version_hex_function(void **state)
{
  assert_int_equal(pacer_version_hex(), PACER_VERSION_HEX);
  char want[64];
  snprintf(want, sizeof want, "%u.%u.%u", pacer_version_hex() >> 16,
           (pacer_version_hex() >> 8) & 0xff, pacer_version_hex() & 0xff);
  assert_string_equal(pacer_version(), want);
}

/* The request flags' published values: programs store them, so they never
 * change; each is its own bit. */
static void request_flags_pinned(void **state)
{
  assert_int_equal(PACER_REQ_RETRY_UNSAFE, 0x1);
  assert_int_equal(PACER_REQ_INSECURE, 0x2);
  assert_int_equal(PACER_REQ_FOLLOW, 0x4);
  pacer_req_flag_t f = PACER_REQ_FOLLOW;
  unsigned flags = PACER_REQ_RETRY_UNSAFE | PACER_REQ_INSECURE | f;
  assert_int_equal(flags, 0x7u);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(enum_matches_map),
      cmocka_unit_test(codes_negative_and_distinct),
      cmocka_unit_test(messages_non_empty),
      cmocka_unit_test(names_prefixed),
      cmocka_unit_test(success_code),
      cmocka_unit_test(unknown_codes),
      cmocka_unit_test(version_string),
      cmocka_unit_test(version_hex),
      cmocka_unit_test(version_hex_function),
      cmocka_unit_test(request_flags_pinned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
