/* SPDX-License-Identifier: MIT */
/* netguard.h - which socket addresses a dispatcher with deny_private may
 * connect to: the check behind the SSRF guard, on the address itself, so
 * that no name, DNS answer or redirect can get around it.
 *
 * Pure functions of the address, apart from one exception that tests set
 * (pacer__netguard_allow_for_tests). Any thread. */
#ifndef PACER_NETGUARD_H
#define PACER_NETGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* 1 if the IPv4 address a (host byte order) is not for a crawler to reach:
 * 0.0.0.0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16 (link-local, cloud
 * metadata), 172.16/12, 192.168/16, 224/4 (multicast) and 240/4 (reserved,
 * with the broadcast address 255.255.255.255). Else 0. */
int pacer__netguard_v4_denied(uint32_t a);

/* 1 if the IPv6 address at a (16 bytes, network order) is not to be
 * reached: :: and ::1, fc00::/7 (unique local), fe80::/10 (link-local),
 * fec0::/10 (old site-local), ff00::/8 (multicast), and an IPv4 address
 * denied above in any of the forms that carry one: IPv4-mapped
 * ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d. */
int pacer__netguard_v6_denied(const uint8_t a[16]);

/* 1 if the socket address sa (len bytes) may not be connected to: a denied
 * IPv4 or IPv6 address, any other family, or a length too short for its
 * family. 0 if it may. */
int pacer__netguard_denied(const struct sockaddr *sa, size_t len);

/* Tests only: the IPv4 address a (host byte order; 0: none, the default) is
 * allowed although it is denied above, so that a test can run a first hop
 * on a loopback address and see the guard refuse the next one. Affects
 * every dispatcher in the process; not part of the public API. */
void pacer__netguard_allow_for_tests(uint32_t a);

#endif
