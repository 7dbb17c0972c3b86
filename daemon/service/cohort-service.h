/* What admins, trainers and trainees can do, with authorization and quotas. Each call runs
 * in the main context, answers at once with an API object (JsonNode, owned) and hands slow
 * libvirt work to the workers. @actor is NULL for an anonymous caller. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cohort-daemon.h"

G_BEGIN_DECLS

/* Resolves a bearer token to its user; NULL (no error) for none or an unknown one. */
CohortUserRow *cohort_service_authenticate(CohortDaemon *d, const gchar *token);

JsonNode *cohort_service_whoami(CohortDaemon *d, const CohortUserRow *actor, GError **error);

/* users (admin). create answers the user with a first "token". */
JsonNode *cohort_service_user_create(CohortDaemon *d, const CohortUserRow *actor, JsonObject *body,
                                     GError **error);
JsonNode *cohort_service_user_list(CohortDaemon *d, const CohortUserRow *actor, GError **error);
JsonNode *cohort_service_user_token_issue(CohortDaemon *d, const CohortUserRow *actor,
                                          const gchar *login, GError **error);
JsonNode *cohort_service_user_token_revoke(CohortDaemon *d, const CohortUserRow *actor,
                                           const gchar *login, GError **error);
/* For `cohortd --create-admin`: a new admin (or a new token for an existing admin). */
gchar *cohort_service_admin_bootstrap(CohortStore *store, const gchar *login, GError **error);

/* hosts (admin) */
JsonNode *cohort_service_host_list(CohortDaemon *d, const CohortUserRow *actor, GError **error);
JsonNode *cohort_service_host_add(CohortDaemon *d, const CohortUserRow *actor, JsonObject *body,
                                  GError **error);
JsonNode *cohort_service_host_drain(CohortDaemon *d, const CohortUserRow *actor, const gchar *name,
                                    GError **error);
/* DELETE /api/v1/hosts/NAME: not while machines that are not reclaimed live there, nor for a
 * host of cohortd.conf (COHORT_ERROR_CONFLICT saying what to do); reclaimed machines keep
 * their rows, with no host. */
JsonNode *cohort_service_host_remove(CohortDaemon *d, const CohortUserRow *actor, const gchar *name,
                                     GError **error);

/* templates */
JsonNode *cohort_service_template_list(CohortDaemon *d, const CohortUserRow *actor, GError **error);
/* POST /api/v1/templates/reload: every template file again, all or nothing; when a file
 * does not load, @files (a JSON array of {"file","message"}) says which and why. */
JsonNode *cohort_service_template_reload(CohortDaemon *d, const CohortUserRow *actor,
                                         JsonNode **files, GError **error);
JsonNode *cohort_service_template_get(CohortDaemon *d, const CohortUserRow *actor,
                                      const gchar *name, GError **error);
JsonNode *cohort_service_template_base(CohortDaemon *d, const CohortUserRow *actor,
                                       const gchar *name, JsonObject *body, GError **error);

/* audit and usage (admin) */
JsonNode *cohort_service_audit_list(CohortDaemon *d, const CohortUserRow *actor, guint limit,
                                    GError **error);
JsonNode *cohort_service_usage(CohortDaemon *d, const CohortUserRow *actor, GError **error);

/* cohorts */
JsonNode *cohort_service_cohort_create(CohortDaemon *d, const CohortUserRow *actor,
                                       JsonObject *body, GError **error);
JsonNode *cohort_service_cohort_list(CohortDaemon *d, const CohortUserRow *actor, GError **error);
JsonNode *cohort_service_cohort_get(CohortDaemon *d, const CohortUserRow *actor, const gchar *slug,
                                    GError **error);
JsonNode *cohort_service_cohort_update(CohortDaemon *d, const CohortUserRow *actor,
                                       const gchar *slug, JsonObject *body, GError **error);
/* What a roster upload ends with: the answer, or @error; a 422 for a bad roster carries the
 * per-line errors in @line_errors (a JSON array node). All borrowed. */
typedef void (*CohortServiceRosterDone)(JsonNode *answer, JsonNode *line_errors,
                                        const GError *error, gpointer user_data);
/* Parses @csv and makes its codes in a worker thread, then imports it in the main context,
 * all or nothing; @done is called once, maybe before this returns. */
void cohort_service_cohort_roster_async(CohortDaemon *d, const CohortUserRow *actor,
                                        const gchar *slug, GBytes *csv,
                                        CohortServiceRosterDone done, gpointer user_data);
/* A new invitation code for a trainee enrolled in the cohort, who lost theirs or let it
 * expire; codes of theirs never redeemed stop working. */
JsonNode *cohort_service_cohort_invite(CohortDaemon *d, const CohortUserRow *actor,
                                       const gchar *slug, const gchar *login, GError **error);
/* Takes a trainee out of the cohort: their machines there are torn down by a job (the
 * answer: {"job","login","machines","withdrawn"}), their unused codes for it withdrawn. */
JsonNode *cohort_service_cohort_unenrol(CohortDaemon *d, const CohortUserRow *actor,
                                        const gchar *slug, const gchar *login, GError **error);
JsonNode *cohort_service_cohort_provision(CohortDaemon *d, const CohortUserRow *actor,
                                          const gchar *slug, GError **error);
JsonNode *cohort_service_cohort_reclaim(CohortDaemon *d, const CohortUserRow *actor,
                                        const gchar *slug, GError **error);
JsonNode *cohort_service_redeem(CohortDaemon *d, JsonObject *body, GError **error);

/* machines and jobs */
JsonNode *cohort_service_machine_request(CohortDaemon *d, const CohortUserRow *actor,
                                         JsonObject *body, GError **error);
JsonNode *cohort_service_machine_list(CohortDaemon *d, const CohortUserRow *actor,
                                      const gchar *cohort, GError **error);
JsonNode *cohort_service_machine_get(CohortDaemon *d, const CohortUserRow *actor, gint64 id,
                                     GError **error);
/* @op: "start", "stop", "reboot", "reset" or "release" */
JsonNode *cohort_service_machine_operate(CohortDaemon *d, const CohortUserRow *actor, gint64 id,
                                         const gchar *op, GError **error);
/* One more lease period, within the cohort's max_extensions. */
JsonNode *cohort_service_machine_extend(CohortDaemon *d, const CohortUserRow *actor, gint64 id,
                                        GError **error);
JsonNode *cohort_service_machine_console(CohortDaemon *d, const CohortUserRow *actor, gint64 id,
                                         GError **error);
JsonNode *cohort_service_job_get(CohortDaemon *d, const CohortUserRow *actor, gint64 id,
                                 GError **error);

/* Prometheus text for /metrics. */
gchar *cohort_service_metrics(CohortDaemon *d);

G_END_DECLS
