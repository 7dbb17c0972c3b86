/* Shared between the service's files. */
#pragma once

#include <json-glib/json-glib.h>

#include "cohort-auth.h"
#include "cohort-daemon.h"

G_BEGIN_DECLS

static inline CohortRole
cohort_service_role(const CohortUserRow *actor)
{
    return actor != NULL ? cohort_role_from_string(actor->role) : COHORT_ROLE_NONE;
}

CohortAuthRelation cohort_service_cohort_relation(CohortDaemon *d, const CohortUserRow *actor,
                                                  const CohortCohortRow *cohort);
/* The cohort if the actor may @action it; FORBIDDEN for the role, NOT_FOUND otherwise. */
CohortCohortRow *cohort_service_cohort_lookup(CohortDaemon *d, const CohortUserRow *actor,
                                              const gchar *slug, CohortAction action,
                                              GError **error);
/* The trainee @login if enrolled in @cohort. An unknown login, another role's and one not
 * enrolled get the same NOT_FOUND, word for word: a trainer learns nothing of accounts
 * outside their courses. */
CohortUserRow *cohort_service_enrolled_trainee(CohortDaemon *d, const CohortCohortRow *cohort,
                                               const gchar *login, GError **error);
/* planned, active, ended (by its dates, now) or reclaimed (stored). */
const gchar *cohort_service_cohort_state(const CohortCohortRow *cohort);
/* Places and records a new machine for @trainee (quota checked); no libvirt work yet. */
CohortMachineRow *cohort_service_machine_new(CohortDaemon *d, const CohortCohortRow *cohort,
                                             const CohortUserRow *trainee, GError **error);

/* The machine as the API shows it: the row, and the operations waiting behind the one
 * under way ("pending"). */
JsonNode *cohort_service_machine_json(CohortDaemon *d, const CohortMachineRow *row);

/* Reclaims every machine of @cohort as a job; @actor NULL for cohortd itself (the reaper).
 * Returns the job id, 0 on error. */
gint64 cohort_service_cohort_reclaim_start(CohortDaemon *d, const CohortUserRow *actor,
                                           CohortCohortRow *cohort, GError **error);

G_END_DECLS
