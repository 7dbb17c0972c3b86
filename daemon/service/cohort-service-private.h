/* Shared between the service's files. */
#pragma once

#include <json-glib/json-glib.h>

#include "cohort-auth.h"
#include "cohort-service.h"

G_BEGIN_DECLS

static inline CohortRole
cohort_service_role(const CohortUserRow *actor)
{
    return actor != NULL ? cohort_role_from_string(actor->role) : COHORT_ROLE_NONE;
}

CohortAuthRelation cohort_service_cohort_relation(CohortService *svc, const CohortUserRow *actor,
                                                  const CohortCohortRow *cohort);
/* The cohort if the actor may @action it; FORBIDDEN for the role, NOT_FOUND otherwise. */
CohortCohortRow *cohort_service_cohort_lookup(CohortService *svc, const CohortUserRow *actor,
                                              const gchar *slug, CohortAction action,
                                              GError **error);
/* The trainee @login if enrolled in @cohort. An unknown login, another role's and one not
 * enrolled get the same NOT_FOUND, word for word: a trainer learns nothing of accounts
 * outside their courses. */
CohortUserRow *cohort_service_enrolled_trainee(CohortService *svc, const CohortCohortRow *cohort,
                                               const gchar *login, GError **error);
/* Where the cohort's machines go: its own policy, or the installation's. */
CohortPlacement cohort_service_cohort_placement(CohortService *svc, const CohortCohortRow *cohort);
/* Places and records a new machine for @trainee (quota checked); no libvirt work yet. The
 * secrets its row was written with come back in @vnc_password and @guest_password (NULL
 * when the template has no seed), for cohort_machine_work_push_new(). */
CohortMachineRow *cohort_service_machine_new(CohortService *svc, const CohortCohortRow *cohort,
                                             const CohortUserRow *trainee, gchar **vnc_password,
                                             gchar **guest_password, GError **error);

/* Where @row goes when it moves away from its host: the host named @name (NULL: any, by its
 * cohort's placement), which must have room; COHORT_ERROR_NO_CAPACITY otherwise. */
CohortHost *cohort_service_move_target(CohortService *svc, const CohortMachineRow *row,
                                       const gchar *name, GError **error);

/* The machine as the API shows it: the row, and the operations waiting behind the one
 * under way ("pending"). */
JsonNode *cohort_service_machine_json(CohortService *svc, const CohortMachineRow *row);

/* The machine, if the actor may @action it; NOT_FOUND otherwise, alike. */
CohortMachineRow *cohort_service_machine_lookup(CohortService *svc, const CohortUserRow *actor,
                                                gint64 id, CohortAction action, GError **error);
/* The address a VNC client uses: the hypervisor's host name from its URI, or, for a local
 * hypervisor, the address VNC listens on. */
gchar *cohort_service_console_host(CohortService *svc, CohortHost *host);
/* A new console ticket for @user_id and @machine_id (cohort-service-console.c). */
gchar *cohort_service_console_ticket_new(CohortService *svc, gint64 user_id, gint64 machine_id);

/* The cohort's calendar in its JSON: "time_zone", "outside_hours_per_week", "next_session",
 * "preload" (cohort-service-calendar.c). */
void cohort_service_cohort_calendar_members(CohortService *svc, const CohortCohortRow *cohort,
                                            JsonObject *obj);
/* Whether the cohort's plan fits; CONFLICT saying what is missing (and @missing, the
 * machine-readable list) when not. */
gboolean cohort_service_cohort_plan_check(CohortService *svc, const CohortCohortRow *cohort,
                                          JsonNode **missing, GError **error);

G_END_DECLS
