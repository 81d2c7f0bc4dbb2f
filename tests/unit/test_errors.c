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

/* The enum constant and the map's number are the same value. */
static void enum_matches_map(void **state)
{
#define SAME(name, val, msg) assert_int_equal(PACER_##name, (val));
  PACER_ERRNO_MAP(SAME)
#undef SAME
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
