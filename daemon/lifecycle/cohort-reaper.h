/* Ends courses: a cohort whose end date plus grace has passed is reclaimed, and a machine
 * whose lease ran out is released, without anyone asking. */
#pragma once

#include "cohort-lifecycle.h"

G_BEGIN_DECLS

void cohort_reaper_run(CohortLifecycle *l);

G_END_DECLS
