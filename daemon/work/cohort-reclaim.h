/* A cohort's reclaim as a job. */
#pragma once

#include "cohort-work.h"

G_BEGIN_DECLS

/* Reclaims every machine of @cohort as a job: in one transaction the job and its machines,
 * the cohort marked reclaimed (it takes no new machines), every row reclaiming; then their
 * teardowns are queued (behind work under way on them), a few ahead of their results at a
 * time. @actor NULL for cohortd itself (the reaper). Returns the job id, 0 on error. */
gint64 cohort_work_cohort_reclaim(CohortWork *w, const CohortUserRow *actor,
                                  CohortCohortRow *cohort, GError **error);

/* The reclaims whose machines are not all queued yet: job id -> CohortReclaimFeed. */
GHashTable *cohort_reclaim_feeds_new(void);
/* Whether machine @machine_id waits for its teardown in a reclaim: work is as good as
 * under way for it. */
gboolean cohort_reclaim_feeds_hold(CohortWork *w, gint64 machine_id);
/* A teardown of job @job_id is over: the job's next machine is queued, if it has one. */
void cohort_reclaim_feeds_settled(CohortWork *w, gint64 job_id);

G_END_DECLS
