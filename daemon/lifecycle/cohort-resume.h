/* Jobs that a stop or a crash of cohortd interrupted go on after the restart: the same job id
 * finishes with every machine it recorded counted. */
#pragma once

#include "cohort-lifecycle.h"

G_BEGIN_DECLS

/* At start, before the first reconcile. The rows of a job's machines hold its intent
 * (provisioning, reclaiming), so reconcile finishes each of them, as it does any machine left
 * half-way, and counts it in the job that waits for it; this counts what had already
 * settled, fails the jobs that recorded no machines (from before cohortd recorded them),
 * and finishes the jobs with nothing left (a reclaim then removes the cohort's network). */
void cohort_resume_jobs(CohortLifecycle *l);

G_END_DECLS
