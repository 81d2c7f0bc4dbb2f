/* SPDX-License-Identifier: MIT */
/* test_netguard.c - the SSRF guard's address check: every range at its
 * first and last address and just outside them, the IPv6 forms that carry
 * an IPv4 address, other families, and the tests' one exception. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "netguard.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* The guard's answer for a textual address, through a real sockaddr. */
static int denied(const char *text)
{
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  memset(&in, 0, sizeof in);
  memset(&in6, 0, sizeof in6);
  if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
    in.sin_family = AF_INET;
    in.sin_port = htons(80);
    return pacer__netguard_denied((const struct sockaddr *)&in, sizeof in);
  }
  if (inet_pton(AF_INET6, text, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(80);
    return pacer__netguard_denied((const struct sockaddr *)&in6, sizeof in6);
  }
  fail_msg("not an address: %s", text);
  return -1;
}

#define DENIED(a)                                                              \
  do {                                                                         \
    if (denied(a) != 1)                                                        \
      fail_msg("%s should be denied", a);                                      \
  } while (0)
#define ALLOWED(a)                                                             \
  do {                                                                         \
    if (denied(a) != 0)                                                        \
      fail_msg("%s should be allowed", a);                                     \
  } while (0)

/* Each denied IPv4 range: its first and last address, and the addresses
 * just before and after it (allowed, unless another range holds them). */
typedef struct edge {
  const char *before, *first, *last, *after; /* NULL: no such neighbour */
} edge_t;

static const edge_t v4_ranges[] = {
    {NULL, "0.0.0.0", "0.255.255.255", "1.0.0.0"},
    {"9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0"},
    {"100.63.255.255", "100.64.0.0", "100.127.255.255", "100.128.0.0"},
    {"126.255.255.255", "127.0.0.0", "127.255.255.255", "128.0.0.0"},
    {"169.253.255.255", "169.254.0.0", "169.254.255.255", "169.255.0.0"},
    {"172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0"},
    {"192.167.255.255", "192.168.0.0", "192.168.255.255", "192.169.0.0"},
    {"223.255.255.255", "224.0.0.0", "239.255.255.255", NULL},
    {NULL, "240.0.0.0", "255.255.255.255", NULL},
};
#define NV4 (sizeof v4_ranges / sizeof v4_ranges[0])

static void ipv4_ranges_at_their_edges(void **state)
{
  (void)state;
  for (size_t i = 0; i < NV4; i++) {
    const edge_t *e = &v4_ranges[i];
    DENIED(e->first);
    DENIED(e->last);
    if (e->before)
      ALLOWED(e->before);
    if (e->after)
      ALLOWED(e->after);
  }
  DENIED("127.0.0.1");
  DENIED("127.0.0.2");
  DENIED("169.254.169.254"); /* cloud metadata */
  DENIED("255.255.255.255"); /* broadcast */
  DENIED("10.1.2.3");
  ALLOWED("1.1.1.1");
  ALLOWED("8.8.8.8");
  ALLOWED("93.184.216.34");
  ALLOWED("192.0.2.1"); /* documentation ranges are not private */
  ALLOWED("198.51.100.7");
}

/* Each IPv4 edge above, written as ::ffff:a.b.c.d, ::a.b.c.d and
 * 64:ff9b::a.b.c.d, gets the IPv4 answer. */
static void ipv4_in_ipv6_forms(void **state)
{
  (void)state;
  static const char *const forms[] = {"::ffff:", "::", "64:ff9b::"};
  for (size_t f = 0; f < 3; f++)
    for (size_t i = 0; i < NV4; i++) {
      const edge_t *e = &v4_ranges[i];
      const char *v4[4] = {e->before, e->first, e->last, e->after};
      for (size_t k = 0; k < 4; k++) {
        if (!v4[k])
          continue;
        char a[64];
        snprintf(a, sizeof a, "%s%s", forms[f], v4[k]);
        if (denied(a) != denied(v4[k]))
          fail_msg("%s: %d, but %s: %d", a, denied(a), v4[k], denied(v4[k]));
      }
    }
  DENIED("::ffff:127.0.0.1");
  DENIED("::ffff:7f00:1");
  DENIED("::ffff:169.254.169.254");
  DENIED("64:ff9b::10.0.0.1");
  DENIED("64:ff9b::a9fe:a9fe");
  ALLOWED("::ffff:8.8.8.8");
  ALLOWED("64:ff9b::8.8.8.8");
  /* Next to the forms: not IPv4-carrying, plain global IPv6. */
  ALLOWED("::1:0:0:0"); /* outside ::/96 */
  ALLOWED("::fffe:7f00:1");
  ALLOWED("64:ff9b:0:0:0:1:7f00:1"); /* outside 64:ff9b::/96 */
  ALLOWED("64:ff9a::7f00:1");
}

static void ipv6_ranges_at_their_edges(void **state)
{
  (void)state;
  DENIED("::");
  DENIED("::1");
  /* fc00::/7 */
  ALLOWED("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  DENIED("fc00::");
  DENIED("fd12:3456::1");
  DENIED("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  /* fe80::/10, then fec0::/10 right after it */
  ALLOWED("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  DENIED("fe80::");
  DENIED("fe80::1");
  DENIED("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  DENIED("fec0::");
  DENIED("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  /* ff00::/8 */
  DENIED("ff00::");
  DENIED("ff02::1");
  DENIED("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  /* global unicast */
  ALLOWED("2001:db8::1");
  ALLOWED("2606:4700::1111");
  ALLOWED("fe00::");  /* below fe80::/10 */
  ALLOWED("::2:0:0"); /* past ::/96 */
}

static void other_families_and_short_lengths_are_denied(void **state)
{
  (void)state;
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  assert_int_equal(
      pacer__netguard_denied((const struct sockaddr *)&un, sizeof un), 1);
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(0x08080808);
  assert_int_equal(
      pacer__netguard_denied((const struct sockaddr *)&in, sizeof in), 0);
  assert_int_equal(
      pacer__netguard_denied((const struct sockaddr *)&in, sizeof in - 1), 1);
  struct sockaddr_in6 in6;
  memset(&in6, 0, sizeof in6);
  in6.sin6_family = AF_INET6;
  in6.sin6_addr.s6_addr[0] = 0x20;
  in6.sin6_addr.s6_addr[1] = 0x01;
  assert_int_equal(
      pacer__netguard_denied((const struct sockaddr *)&in6, sizeof in6), 0);
  assert_int_equal(
      pacer__netguard_denied((const struct sockaddr *)&in6, sizeof in6 - 1), 1);
  assert_int_equal(pacer__netguard_denied(NULL, 0), 1);
}

/* The tests' exception is that one IPv4 address, in that form only. */
static void the_test_exception_is_one_address(void **state)
{
  (void)state;
  pacer__netguard_allow_for_tests(0x7f000002); /* 127.0.0.2 */
  ALLOWED("127.0.0.2");
  DENIED("127.0.0.1");
  DENIED("127.0.0.3");
  DENIED("::ffff:127.0.0.2");
  assert_int_equal(pacer__netguard_v4_denied(0x7f000002), 1);
  pacer__netguard_allow_for_tests(0);
  DENIED("127.0.0.2");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ipv4_ranges_at_their_edges),
      cmocka_unit_test(ipv4_in_ipv6_forms),
      cmocka_unit_test(ipv6_ranges_at_their_edges),
      cmocka_unit_test(other_families_and_short_lengths_are_denied),
      cmocka_unit_test(the_test_exception_is_one_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
