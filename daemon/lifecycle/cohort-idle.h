/* Idle machines: a running machine that used less than a threshold of its vCPUs for a while
 * is shut down gracefully; its trainee starts it again when needed. */
#pragma once

#include "cohort-lifecycle.h"

G_BEGIN_DECLS

/* Samples every up host's CPU counters (in workers) and stops machines idle too long. */
void cohort_idle_run(CohortLifecycle *l);

G_END_DECLS
