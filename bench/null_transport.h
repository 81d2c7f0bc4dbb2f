/* SPDX-License-Identifier: MIT */
/* null_transport.h - a transport that answers every attempt at once with an
 * empty 200, so a benchmark measures the dispatcher and nothing else: no
 * log, no bookkeeping, no lock shared between workers. */
#ifndef PACER_BENCH_NULL_TRANSPORT_H
#define PACER_BENCH_NULL_TRANSPORT_H

#include "transport.h"

extern const pacer__transport_t bench_null_transport;

#endif
