/* SPDX-License-Identifier: MIT */
/* deliver.h - the end of a job: its one callback, then its release.
 *
 * The last step of the data flow (submit -> job -> scheduler -> dispatcher
 * -> worker -> transport -> settle -> deliver -> callback): the dispatcher
 * thread delivers the jobs it ended (cancel, expiry, fail-fast, shutdown),
 * a worker thread those whose attempt ended them. */
#ifndef PACER_DELIVER_H
#define PACER_DELIVER_H

#include "dispatch.h"

/* Runs the callbacks of the ENDED jobs on *ended in order, with p->mu NOT
 * held (the caller must not hold it); then, taking mu, counts each end,
 * drops its hold on its key and its id, and wakes pacer_drain() when no job
 * is left; then frees them. A spooled job's row is closed after its
 * callback returned (at least once), unless the result or pacer_keep()
 * keeps it. *ended is empty on return. Dispatcher and worker threads. */
void pacer__deliver(pacer_t *p, pacer__link_t *ended);

/* Runs cfg.event_cb for each event of list in order, with p->mu NOT held,
 * as a pacer callback (pacer__in_callback() is p meanwhile), then frees
 * the list. NULL: nothing. The dispatcher thread. */
void pacer__deliver_events(pacer_t *p, pacer__event_node_t *list);

/* The dispatcher whose callback this thread is running, or NULL: lets the
 * public calls refuse or change what they would do inside a callback. Any
 * thread. */
pacer_t *pacer__in_callback(void);

#endif
