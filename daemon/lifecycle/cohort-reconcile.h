/* Converges libvirt and the store: at start, on libvirt's events, on a timer and when a host
 * comes back. Only objects that carry this installation's tag are ever touched. */
#pragma once

#include "cohort-lifecycle.h"

G_BEGIN_DECLS

/* Scans @host in a worker, then repairs from the main context. */
void cohort_reconcile_host(CohortLifecycle *l, CohortHost *host);
/* The same, soon: many events in a burst make one scan. */
void cohort_reconcile_schedule(CohortLifecycle *l, CohortHost *host);
void cohort_reconcile_all(CohortLifecycle *l);

G_END_DECLS
