/* What admins, trainers and trainees can do, with authorization and quotas. Each call runs
 * in the main context, answers at once with an API object (JsonNode, owned) and hands slow
 * libvirt work to the workers. @actor is NULL for an anonymous caller. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cohort-auth.h"
#include "cohort-hosts.h"
#include "cohort-lifecycle.h"
#include "cohort-store.h"
#include "cohort-template-set.h"
#include "cohort-work.h"

G_BEGIN_DECLS

typedef struct {
    guint invitation_ttl_hours; /* how long an invitation code works */
    guint default_quota_machines;
    guint default_quota_vcpus;
    guint64 default_quota_memory_mib;
    gchar *vnc_listen;         /* where machines' VNC listens, for the console's answer */
    gchar *images_dir;         /* base images may be installed from files under it only */
    GStrv config_hosts;        /* names of cohortd.conf's [host:NAME] groups; NULL: none */
    CohortPlacement placement; /* of cohorts that name none */
} CohortServiceSettings;

/* The service layer: what it works with, all borrowed, and its settings. */
typedef struct {
    CohortStore *store;
    CohortHosts *hosts;
    CohortTemplateSet *templates;
    CohortWork *work;
    CohortLifecycle *lifecycle;
    gchar *instance_id;
    CohortServiceSettings settings;
    GHashTable *console_tickets; /* ticket -> who may open which machine's console, until when */
} CohortService;

CohortService *cohort_service_new(CohortStore *store, CohortHosts *hosts,
                                  CohortTemplateSet *templates, CohortWork *work,
                                  CohortLifecycle *lifecycle, const gchar *instance_id,
                                  const CohortServiceSettings *settings);
void cohort_service_free(CohortService *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortService, cohort_service_free)

/* Records an audit entry; a failure to record is logged, never fatal. */
void cohort_service_audit(CohortService *svc, const gchar *actor, const gchar *action,
                          const gchar *target, const GError *result);

/* Resolves a bearer token to its user; NULL (no error) for none or an unknown one. @memo, when
 * not NULL, is the token memo of the request's connection (cohort-auth.h). */
CohortUserRow *cohort_service_authenticate(CohortService *svc, const gchar *token,
                                           CohortAuthTokenMemo *memo);

JsonNode *cohort_service_whoami(CohortService *svc, const CohortUserRow *actor, GError **error);

/* users (admin). create answers the user with a first "token". */
JsonNode *cohort_service_user_create(CohortService *svc, const CohortUserRow *actor,
                                     JsonObject *body, GError **error);
JsonNode *cohort_service_user_list(CohortService *svc, const CohortUserRow *actor, GError **error);
JsonNode *cohort_service_user_token_issue(CohortService *svc, const CohortUserRow *actor,
                                          const gchar *login, GError **error);
JsonNode *cohort_service_user_token_revoke(CohortService *svc, const CohortUserRow *actor,
                                           const gchar *login, GError **error);
/* A user's SSH keys (the user themself, or an admin): get answers {"login","keys":[…],
 * "fingerprints":[…]}; set takes {"keys":[…]} (at most COHORT_SSH_KEYS_MAX, each checked and
 * normalized, no two the same) and replaces them all. They go into the seed of machines made
 * or reset afterwards. */
JsonNode *cohort_service_user_ssh_keys_get(CohortService *svc, const CohortUserRow *actor,
                                           const gchar *login, GError **error);
JsonNode *cohort_service_user_ssh_keys_set(CohortService *svc, const CohortUserRow *actor,
                                           const gchar *login, JsonObject *body, GError **error);
/* For `cohortd --create-admin`: a new admin (or a new token for an existing admin). */
gchar *cohort_service_admin_bootstrap(CohortStore *store, const gchar *login, GError **error);

/* hosts (admin) */
JsonNode *cohort_service_host_list(CohortService *svc, const CohortUserRow *actor, GError **error);
JsonNode *cohort_service_host_add(CohortService *svc, const CohortUserRow *actor, JsonObject *body,
                                  GError **error);
/* POST /api/v1/hosts/NAME/drain (@drain) and /undrain. */
JsonNode *cohort_service_host_drain(CohortService *svc, const CohortUserRow *actor,
                                    const gchar *name, gboolean drain, GError **error);
/* PATCH /api/v1/hosts/NAME: capacity, ratios, pool (not while machines live there); refused
 * for a host of cohortd.conf, which takes the file's values at every start. */
JsonNode *cohort_service_host_update(CohortService *svc, const CohortUserRow *actor,
                                     const gchar *name, JsonObject *body, GError **error);
/* DELETE /api/v1/hosts/NAME/bases/TEMPLATE: a job removing the template's base from the
 * host; refused while machines there use it. */
JsonNode *cohort_service_host_base_remove(CohortService *svc, const CohortUserRow *actor,
                                          const gchar *host_name, const gchar *template_name,
                                          GError **error);
/* DELETE /api/v1/hosts/NAME: not while machines that are not reclaimed live there, nor for a
 * host of cohortd.conf (COHORT_ERROR_CONFLICT saying what to do); reclaimed machines keep
 * their rows, with no host. */
JsonNode *cohort_service_host_remove(CohortService *svc, const CohortUserRow *actor,
                                     const gchar *name, GError **error);

/* templates */
JsonNode *cohort_service_template_list(CohortService *svc, const CohortUserRow *actor,
                                       GError **error);
/* POST /api/v1/templates/reload: every template file again, all or nothing; when a file
 * does not load, @files (a JSON array of {"file","message"}) says which and why. */
JsonNode *cohort_service_template_reload(CohortService *svc, const CohortUserRow *actor,
                                         JsonNode **files, GError **error);
JsonNode *cohort_service_template_get(CohortService *svc, const CohortUserRow *actor,
                                      const gchar *name, GError **error);
/* POST /api/v1/templates/NAME/base: a job (202) installing the base on every host that is up
 * and lacks it; the answer lists every host and what happens there. */
JsonNode *cohort_service_template_base(CohortService *svc, const CohortUserRow *actor,
                                       const gchar *name, JsonObject *body, GError **error);

/* audit and usage (admin) */
JsonNode *cohort_service_audit_list(CohortService *svc, const CohortUserRow *actor, guint limit,
                                    GError **error);
/* GET /api/v1/usage, written a piece at a time as the connection takes them (a cohort each):
 * the whole text, 10 cohorts of 1,000 trainees, was ~0.9 MiB at cohortd's peak. NULL with
 * @error when @actor may not read it. */
typedef struct _CohortServiceUsage CohortServiceUsage;
CohortServiceUsage *cohort_service_usage_begin(CohortService *svc, const CohortUserRow *actor,
                                               GError **error);
/* The answer's next piece; NULL once it has all been given. */
GBytes *cohort_service_usage_next(CohortServiceUsage *usage);
void cohort_service_usage_free(CohortServiceUsage *usage);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortServiceUsage, cohort_service_usage_free)

/* cohorts */
/* create and update: a cohort whose capacity plan does not fit is refused (CONFLICT, @missing:
 * what is missing, as JSON) unless the body says "force": true. */
JsonNode *cohort_service_cohort_create(CohortService *svc, const CohortUserRow *actor,
                                       JsonObject *body, JsonNode **missing, GError **error);
JsonNode *cohort_service_cohort_list(CohortService *svc, const CohortUserRow *actor,
                                     GError **error);
/* GET /api/v1/cohorts/{slug}, written a piece at a time (100 trainees each), as
 * cohort_service_usage_next() writes usage. NULL with @error when @actor may not read it. */
typedef struct _CohortServiceCohortRead CohortServiceCohortRead;
CohortServiceCohortRead *cohort_service_cohort_read_begin(CohortService *svc,
                                                          const CohortUserRow *actor,
                                                          const gchar *slug, GError **error);
/* The answer's next piece; NULL once it has all been given. */
GBytes *cohort_service_cohort_read_next(CohortServiceCohortRead *read);
void cohort_service_cohort_read_free(CohortServiceCohortRead *read);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortServiceCohortRead, cohort_service_cohort_read_free)
JsonNode *cohort_service_cohort_update(CohortService *svc, const CohortUserRow *actor,
                                       const gchar *slug, JsonObject *body, JsonNode **missing,
                                       GError **error);
/* What a roster upload ends with: the answer, or @error; a 422 for a bad roster carries the
 * per-line errors in @line_errors (a JSON array node). All borrowed. */
typedef void (*CohortServiceRosterDone)(JsonNode *answer, JsonNode *line_errors,
                                        const GError *error, gpointer user_data);
/* Parses @csv and makes its codes in a worker thread, then imports it in the main context,
 * all or nothing; @done is called once, maybe before this returns. */
void cohort_service_cohort_roster_async(CohortService *svc, const CohortUserRow *actor,
                                        const gchar *slug, GBytes *csv,
                                        CohortServiceRosterDone done, gpointer user_data);
/* A new invitation code for a trainee enrolled in the cohort, who lost theirs or let it
 * expire; codes of theirs never redeemed stop working. */
JsonNode *cohort_service_cohort_invite(CohortService *svc, const CohortUserRow *actor,
                                       const gchar *slug, const gchar *login, GError **error);
/* Codes for the cohort's trainees in one call, all or none: {"cohort","invitations":[{"login",
 * "display_name","code","expires_at","withdrawn"}],"pending":[{"login","display_name",
 * "expires_at"}],"needs_admin":[{"login","display_name","message"}]}. A trainee with a code
 * neither redeemed nor expired keeps it (pending) unless @body says {"reissue":true}; a new
 * code withdraws the unredeemed ones. A trainer gives codes only to trainees all of whose
 * courses are theirs (cohort_service_cohort_invite()); the others are listed as needing an
 * admin. */
JsonNode *cohort_service_cohort_invitations(CohortService *svc, const CohortUserRow *actor,
                                            const gchar *slug, JsonObject *body, GError **error);
/* Takes a trainee out of the cohort: their machines there are torn down by a job (the
 * answer: {"job","login","machines","withdrawn"}), their unused codes for it withdrawn. */
JsonNode *cohort_service_cohort_unenrol(CohortService *svc, const CohortUserRow *actor,
                                        const gchar *slug, const gchar *login, GError **error);
JsonNode *cohort_service_cohort_provision(CohortService *svc, const CohortUserRow *actor,
                                          const gchar *slug, GError **error);
JsonNode *cohort_service_cohort_reclaim(CohortService *svc, const CohortUserRow *actor,
                                        const gchar *slug, GError **error);
JsonNode *cohort_service_redeem(CohortService *svc, JsonObject *body, GError **error);

/* the course calendar (cohort-service-calendar.c) */
/* GET /api/v1/cohorts/SLUG/schedule: the timetable, its upcoming sessions (UTC and local),
 * "next_session" and "preload". */
JsonNode *cohort_service_cohort_schedule_get(CohortService *svc, const CohortUserRow *actor,
                                             const gchar *slug, GError **error);
/* PUT: {"time_zone"?, "rules"?, "one_off"?, "cancel"?, "outside_hours_per_week"?, "force"?}
 * replaces the timetable; refused (CONFLICT, @missing: what is missing) when the plan does
 * not fit, unless forced. */
JsonNode *cohort_service_cohort_schedule_put(CohortService *svc, const CohortUserRow *actor,
                                             const gchar *slug, JsonObject *body,
                                             JsonNode **missing, GError **error);
/* GET /api/v1/cohorts/SLUG/plan: {"fits","hosts":[…],"missing":[…]}. */
JsonNode *cohort_service_cohort_plan(CohortService *svc, const CohortUserRow *actor,
                                     const gchar *slug, GError **error);
/* POST /api/v1/cohorts/SLUG/start (@start) and /stop: a job over the cohort's stopped
 * (running) machines: {"job","machines"}. */
JsonNode *cohort_service_cohort_power(CohortService *svc, const CohortUserRow *actor,
                                      const gchar *slug, gboolean start, GError **error);

/* machines and jobs */
/* The request and the list answer their JSON text: they are what a class sends most. */
gchar *cohort_service_machine_request(CohortService *svc, const CohortUserRow *actor,
                                      JsonObject *body, GError **error);
/* The API's request: its row is written with the others of the main loop's turn, committed
 * once (cohort_store_group_join()). FALSE and @error: refused now. TRUE: @done gets the
 * answer's text (taken) or the error once the group has committed, on the loop's next turn
 * or at cohort_service_settle(), never before this returns. */
typedef void (*CohortServiceAnswerDone)(gchar *text, const GError *error, gpointer user_data);
gboolean cohort_service_machine_request_grouped(CohortService *svc, const CohortUserRow *actor,
                                                JsonObject *body, CohortServiceAnswerDone done,
                                                gpointer user_data, GError **error);
/* Answers every grouped request still waiting (cohortd's stop, before the API goes). */
void cohort_service_settle(CohortService *svc);
gchar *cohort_service_machine_list(CohortService *svc, const CohortUserRow *actor,
                                   const gchar *cohort, GError **error);
JsonNode *cohort_service_machine_get(CohortService *svc, const CohortUserRow *actor, gint64 id,
                                     GError **error);
/* @op: "start", "stop", "reboot", "reset" or "release" */
JsonNode *cohort_service_machine_operate(CohortService *svc, const CohortUserRow *actor, gint64 id,
                                         const gchar *op, GError **error);
/* POST /api/v1/machines/ID/move {"host"?, "fresh"?} (its trainer, an admin): to another host.
 * A stopped machine on a host that is up is copied there; one whose host is down (or with
 * "fresh") is made anew there, and the answer's "warning" says that its disk stays behind. */
JsonNode *cohort_service_machine_move(CohortService *svc, const CohortUserRow *actor, gint64 id,
                                      JsonObject *body, GError **error);
/* POST /api/v1/hosts/NAME/evacuate: the host drains, and a job moves every machine on it
 * elsewhere (stopped ones by their disks, the others made anew). */
JsonNode *cohort_service_host_evacuate(CohortService *svc, const CohortUserRow *actor,
                                       const gchar *name, GError **error);
/* One more lease period, within the cohort's max_extensions. */
JsonNode *cohort_service_machine_extend(CohortService *svc, const CohortUserRow *actor, gint64 id,
                                        GError **error);
JsonNode *cohort_service_machine_console(CohortService *svc, const CohortUserRow *actor, gint64 id,
                                         GError **error);
JsonNode *cohort_service_job_get(CohortService *svc, const CohortUserRow *actor, gint64 id,
                                 GError **error);

/* consoles (cohort-service-console.c): a ticket from the console's answer, checked without
 * being used (a plain request), or taken for good (the websocket that opens it) */
gboolean cohort_service_console_ticket_check(CohortService *svc, const gchar *ticket,
                                             GError **error);
gboolean cohort_service_console_ticket_take(CohortService *svc, const gchar *ticket,
                                            gint64 *user_id, gint64 *machine_id, GError **error);
/* Whether @user_id may still reach the console of @machine_id: their access, and the machine
 * running. */
gboolean cohort_service_console_allowed(CohortService *svc, gint64 user_id, gint64 machine_id,
                                        GError **error);
/* A socket to the machine's VNC server (past its password), made in a worker; @opened is
 * called in the main context with it (NULL and the error when it cannot be had). */
typedef void (*CohortServiceConsoleOpened)(GSocket *socket, const GError *error,
                                           gpointer user_data);
void cohort_service_console_open_async(CohortService *svc, gint64 user_id, gint64 machine_id,
                                       CohortServiceConsoleOpened opened, gpointer user_data);

/* Prometheus text for /metrics. */
gchar *cohort_service_metrics(CohortService *svc);

G_END_DECLS
