/* A cohort's reclaim as a job. */
#pragma once

#include "cohort-work.h"

G_BEGIN_DECLS

/* Reclaims every machine of @cohort as a job: in one transaction the job and its machines,
 * the cohort marked reclaimed (it takes no new machines), every row reclaiming; then their
 * teardowns are queued (behind work under way on them). @actor NULL for cohortd itself (the
 * reaper). Returns the job id, 0 on error. */
gint64 cohort_work_cohort_reclaim(CohortWork *w, const CohortUserRow *actor,
                                  CohortCohortRow *cohort, GError **error);

G_END_DECLS
