/* SPDX-License-Identifier: MIT */
/* netguard.c - the SSRF guard's address check (deny_private).
 *
 * The transport calls pacer__netguard_denied() on each address it is about
 * to open a socket to, after name resolution, so the answer covers whatever
 * the name resolved to and every redirect hop. Ranges are written as
 * (prefix, length) pairs so the table can be read against the RFCs. */
#include "netguard.h"
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

typedef struct range4 {
  uint32_t prefix;
  unsigned bits;
} range4_t;

#define V4(a, b, c, d)                                                         \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |      \
   (uint32_t)(d))

static const range4_t denied4[] = {
    {V4(0, 0, 0, 0), 8},      /* "this network" (RFC 791) */
    {V4(10, 0, 0, 0), 8},     /* private (RFC 1918) */
    {V4(100, 64, 0, 0), 10},  /* shared, CGNAT (RFC 6598) */
    {V4(127, 0, 0, 0), 8},    /* loopback */
    {V4(169, 254, 0, 0), 16}, /* link-local, cloud metadata (RFC 3927) */
    {V4(172, 16, 0, 0), 12},  /* private (RFC 1918) */
    {V4(192, 168, 0, 0), 16}, /* private (RFC 1918) */
    {V4(224, 0, 0, 0), 4},    /* multicast */
    {V4(240, 0, 0, 0), 4},    /* reserved, and the broadcast address */
};

/* 0: no exception. Set before a test's dispatcher starts its threads. */
static _Atomic uint32_t allowed_for_tests;

void pacer__netguard_allow_for_tests(uint32_t a)
{
  atomic_store(&allowed_for_tests, a);
}

int pacer__netguard_v4_denied(uint32_t a)
{
  for (size_t i = 0; i < sizeof denied4 / sizeof *denied4; i++) {
    uint32_t mask = ~UINT32_C(0) << (32 - denied4[i].bits);
    if ((a & mask) == denied4[i].prefix)
      return 1;
  }
  return 0;
}

static uint32_t v4_at(const uint8_t *p)
{
  return V4(p[0], p[1], p[2], p[3]);
}

int pacer__netguard_v6_denied(const uint8_t a[16])
{
  static const uint8_t zero[12];
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
  /* ::/96 holds :: and ::1 too: as 0.0.0.0 and 0.0.0.1 they fall in 0/8. */
  if (memcmp(a, zero, 12) == 0 || memcmp(a, mapped, 12) == 0 ||
      memcmp(a, nat64, 12) == 0)
    return pacer__netguard_v4_denied(v4_at(a + 12));
  if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 */
    return 1;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 */
    return 1;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* fec0::/10 */
    return 1;
  if (a[0] == 0xff) /* multicast */
    return 1;
  return 0;
}

int pacer__netguard_denied(const struct sockaddr *sa, size_t len)
{
  if (!sa || len < sizeof(sa_family_t))
    return 1;
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in in;
    if (len < sizeof in)
      return 1;
    memcpy(&in, sa, sizeof in);
    uint32_t a = ntohl(in.sin_addr.s_addr);
    uint32_t allow = atomic_load(&allowed_for_tests);
    if (allow != 0 && a == allow)
      return 0;
    return pacer__netguard_v4_denied(a);
  }
  if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 in6;
    if (len < sizeof in6)
      return 1;
    memcpy(&in6, sa, sizeof in6);
    return pacer__netguard_v6_denied(in6.sin6_addr.s6_addr);
  }
  return 1; /* AF_UNIX and the rest: not a destination on the internet */
}
