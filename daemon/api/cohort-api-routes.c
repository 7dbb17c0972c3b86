#define G_LOG_DOMAIN "cohort-api"

#include "config.h"

#include "cohort-api-console.h"
#include "cohort-api-private.h"
#include "cohort-api-routes.h"
#include "cohort-api-stream.h"
#include "cohort-error.h"
#include "cohort-json.h"

typedef void (*CohortApiHandler)(CohortApiRequest *req);

struct _CohortApiRoute {
    const gchar *method;
    const gchar *path;
    CohortApiHandler handler;
    const gchar *who;
    const gchar *op; /* what the handler is asked to do, where one serves several routes */
};

/* --- the handlers: the path's values and the body to the service, its answer back ---- */

static gboolean
cohort_api_parse_id(const gchar *text, gint64 *id, GError **error)
{
    if (!g_ascii_string_to_signed(text, 10, 1, G_MAXINT64, id, NULL)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no object with id '%s'", text);
        return FALSE;
    }
    return TRUE;
}

/* The {id} of the path, once the caller is known; on failure the error is answered. */
static gboolean
cohort_api_actor_id(CohortApiRequest *req, gint64 *id)
{
    GError *error = NULL;

    if (cohort_api_require_actor(req, &error) &&
        cohort_api_parse_id(cohort_api_param(req, 0), id, &error))
        return TRUE;
    cohort_api_finish(req, 0, NULL, &error);
    return FALSE;
}

static void
cohort_api_healthz(CohortApiRequest *req)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) node = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, "ok");
    json_builder_end_object(b);
    node = json_builder_get_root(b);
    cohort_api_respond(req, 200, node);
}

static void
cohort_api_metrics_get(CohortApiRequest *req)
{
    gchar *text;

    if (!cohort_api_client_is_loopback(req->msg) &&
        (req->actor == NULL || g_strcmp0(req->actor->role, "admin") != 0)) {
        g_autoptr(GError) error = g_error_new_literal(
            COHORT_ERROR, COHORT_ERROR_FORBIDDEN, "/metrics is for loopback clients and admins");
        cohort_api_respond_error(req, error, NULL, NULL);
        return;
    }
    text = cohort_api_metrics(req->api);
    soup_server_message_set_status(req->msg, 200, NULL);
    soup_server_message_set_response(req->msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE, text,
                                     strlen(text));
}

static void
cohort_api_whoami(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200, cohort_service_whoami(req->api->service, req->actor, &error),
                      &error);
}

static void
cohort_api_redeem(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = NULL;
    GError *error = NULL;
    JsonNode *node;

    if (cohort_api_auth_refused(req))
        return;
    body = cohort_api_body_object(req, &error);
    node = body != NULL ? cohort_service_redeem(req->api->service, body, &error) : NULL;
    if (node == NULL)
        cohort_api_auth_failed(req);
    cohort_api_finish(req, 200, node, &error);
}

static void
cohort_api_users_list(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200, cohort_service_user_list(req->api->service, req->actor, &error),
                      &error);
}

static void
cohort_api_users_create(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;

    if (body != NULL)
        cohort_api_finish(req, 201,
                          cohort_service_user_create(req->api->service, req->actor, body, &error),
                          &error);
}

static void
cohort_api_user_token_issue(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 201,
                      cohort_service_user_token_issue(req->api->service, req->actor,
                                                      cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_user_ssh_keys_get(CohortApiRequest *req)
{
    GError *error = NULL;

    if (!cohort_api_require_actor(req, &error)) {
        cohort_api_finish(req, 0, NULL, &error);
        return;
    }
    cohort_api_finish(req, 200,
                      cohort_service_user_ssh_keys_get(req->api->service, req->actor,
                                                       cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_user_ssh_keys_put(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;

    if (body != NULL)
        cohort_api_finish(req, 200,
                          cohort_service_user_ssh_keys_set(req->api->service, req->actor,
                                                           cohort_api_param(req, 0), body, &error),
                          &error);
}

static void
cohort_api_user_token_revoke(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200,
                      cohort_service_user_token_revoke(req->api->service, req->actor,
                                                       cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_hosts_list(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200, cohort_service_host_list(req->api->service, req->actor, &error),
                      &error);
}

static void
cohort_api_hosts_add(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;

    if (body != NULL)
        cohort_api_finish(
            req, 201, cohort_service_host_add(req->api->service, req->actor, body, &error), &error);
}

static void
cohort_api_host_remove(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(
        req, 200,
        cohort_service_host_remove(req->api->service, req->actor, cohort_api_param(req, 0), &error),
        &error);
}

static void
cohort_api_host_drain(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200,
                      cohort_service_host_drain(req->api->service, req->actor,
                                                cohort_api_param(req, 0),
                                                g_strcmp0(req->op, "undrain") != 0, &error),
                      &error);
}

static void
cohort_api_host_update(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;

    if (body != NULL)
        cohort_api_finish(req, 200,
                          cohort_service_host_update(req->api->service, req->actor,
                                                     cohort_api_param(req, 0), body, &error),
                          &error);
}

static void
cohort_api_host_evacuate(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 202,
                      cohort_service_host_evacuate(req->api->service, req->actor,
                                                   cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_host_base_remove(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 202,
                      cohort_service_host_base_remove(req->api->service, req->actor,
                                                      cohort_api_param(req, 0),
                                                      cohort_api_param(req, 1), &error),
                      &error);
}

static void
cohort_api_templates_list(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200, cohort_service_template_list(req->api->service, req->actor, &error),
                      &error);
}

static void
cohort_api_templates_reload(CohortApiRequest *req)
{
    g_autoptr(GError) error = NULL;
    JsonNode *files = NULL;
    JsonNode *node = cohort_service_template_reload(req->api->service, req->actor, &files, &error);

    if (node == NULL) {
        cohort_api_respond_error(req, error, "files", files);
        return;
    }
    cohort_api_respond(req, 200, node);
    json_node_unref(node);
}

static void
cohort_api_template_get(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200,
                      cohort_service_template_get(req->api->service, req->actor,
                                                  cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_template_base(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;

    if (body != NULL)
        cohort_api_finish(req, 202,
                          cohort_service_template_base(req->api->service, req->actor,
                                                       cohort_api_param(req, 0), body, &error),
                          &error);
}

static void
cohort_api_cohorts_list(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 200, cohort_service_cohort_list(req->api->service, req->actor, &error),
                      &error);
}

/* An answer, or the error with what is missing ("missing"), when a plan refused it. */
static void
cohort_api_finish_missing(CohortApiRequest *req, guint status, JsonNode *node, GError **errorp,
                          JsonNode *missing)
{
    if (node == NULL && missing != NULL && errorp != NULL && *errorp != NULL) {
        cohort_api_respond_error(req, *errorp, "missing", missing);
        g_clear_error(errorp);
        return;
    }
    if (missing != NULL)
        json_node_unref(missing);
    cohort_api_finish(req, status, node, errorp);
}

static void
cohort_api_cohorts_create(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;
    JsonNode *missing = NULL;
    JsonNode *node;

    if (body == NULL)
        return;
    node = cohort_service_cohort_create(req->api->service, req->actor, body, &missing, &error);
    cohort_api_finish_missing(req, 201, node, &error, missing);
}

static void
cohort_api_cohort_get(CohortApiRequest *req)
{
    g_autoptr(GError) error = NULL;
    CohortServiceCohortRead *read = cohort_service_cohort_read_begin(
        req->api->service, req->actor, cohort_api_param(req, 0), &error);

    if (read == NULL) {
        cohort_api_respond_error(req, error, NULL, NULL);
        return;
    }
    cohort_api_stream_respond(req->msg, 200, "application/json",
                              (CohortApiStreamNextFunc)cohort_service_cohort_read_next, read,
                              (GDestroyNotify)cohort_service_cohort_read_free);
}

static void
cohort_api_cohort_update(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;
    JsonNode *missing = NULL;
    JsonNode *node;

    if (body == NULL)
        return;
    node = cohort_service_cohort_update(req->api->service, req->actor, cohort_api_param(req, 0),
                                        body, &missing, &error);
    cohort_api_finish_missing(req, 200, node, &error, missing);
}

static void
cohort_api_cohort_schedule_get(CohortApiRequest *req)
{
    GError *error = NULL;

    if (cohort_api_require_actor(req, &error))
        cohort_api_finish(req, 200,
                          cohort_service_cohort_schedule_get(req->api->service, req->actor,
                                                             cohort_api_param(req, 0), &error),
                          &error);
    else
        cohort_api_finish(req, 0, NULL, &error);
}

static void
cohort_api_cohort_schedule_put(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    GError *error = NULL;
    JsonNode *missing = NULL;
    JsonNode *node;

    if (body == NULL)
        return;
    node = cohort_service_cohort_schedule_put(req->api->service, req->actor,
                                              cohort_api_param(req, 0), body, &missing, &error);
    cohort_api_finish_missing(req, 200, node, &error, missing);
}

static void
cohort_api_cohort_plan(CohortApiRequest *req)
{
    GError *error = NULL;

    if (cohort_api_require_actor(req, &error))
        cohort_api_finish(req, 200,
                          cohort_service_cohort_plan(req->api->service, req->actor,
                                                     cohort_api_param(req, 0), &error),
                          &error);
    else
        cohort_api_finish(req, 0, NULL, &error);
}

static void
cohort_api_cohort_power(CohortApiRequest *req)
{
    GError *error = NULL;

    if (cohort_api_require_actor(req, &error))
        cohort_api_finish(req, 202,
                          cohort_service_cohort_power(req->api->service, req->actor,
                                                      cohort_api_param(req, 0),
                                                      g_strcmp0(req->op, "start") == 0, &error),
                          &error);
    else
        cohort_api_finish(req, 0, NULL, &error);
}

/* A request answered later, paused until then. */
typedef struct {
    CohortApi *api;
    SoupServerMessage *msg;
} CohortApiPending;

/* A roster is answered later: its parsing runs in a worker (cohort-service.h). */
static void
cohort_api_roster_done(JsonNode *answer, JsonNode *line_errors, const GError *error,
                       gpointer user_data)
{
    CohortApiPending *pending = user_data;
    CohortApiRequest req = {
        .api = pending->api,
        .msg = pending->msg,
        .method = soup_server_message_get_method(pending->msg),
    };

    if (answer != NULL)
        cohort_api_respond(&req, 200, answer);
    else
        cohort_api_respond_error(&req, error, "lines",
                                 line_errors != NULL ? json_node_ref(line_errors) : NULL);
    cohort_api_count(pending->api, soup_server_message_get_status(pending->msg));
    soup_server_message_unpause(pending->msg);
    g_object_unref(pending->msg);
    g_free(pending);
}

static void
cohort_api_cohort_roster(CohortApiRequest *req)
{
    CohortApiPending *pending = g_new0(CohortApiPending, 1);

    pending->api = req->api;
    pending->msg = g_object_ref(req->msg);
    soup_server_message_pause(req->msg);
    cohort_service_cohort_roster_async(req->api->service, req->actor, cohort_api_param(req, 0),
                                       req->body_bytes, cohort_api_roster_done, pending);
}

static void
cohort_api_cohort_invite(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 201,
                      cohort_service_cohort_invite(req->api->service, req->actor,
                                                   cohort_api_param(req, 0),
                                                   cohort_api_param(req, 1), &error),
                      &error);
}

/* The body is optional: none is {}. */
static void
cohort_api_cohort_invitations(CohortApiRequest *req)
{
    GError *error = NULL;
    g_autoptr(JsonObject) body = req->body_len > 0 ? cohort_api_actor_body(req) : json_object_new();

    if (body == NULL)
        return;
    cohort_api_finish(req, 200,
                      cohort_service_cohort_invitations(req->api->service, req->actor,
                                                        cohort_api_param(req, 0), body, &error),
                      &error);
}

static void
cohort_api_cohort_unenrol(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 202,
                      cohort_service_cohort_unenrol(req->api->service, req->actor,
                                                    cohort_api_param(req, 0),
                                                    cohort_api_param(req, 1), &error),
                      &error);
}

static void
cohort_api_cohort_provision(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 202,
                      cohort_service_cohort_provision(req->api->service, req->actor,
                                                      cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_cohort_reclaim(CohortApiRequest *req)
{
    GError *error = NULL;
    cohort_api_finish(req, 202,
                      cohort_service_cohort_reclaim(req->api->service, req->actor,
                                                    cohort_api_param(req, 0), &error),
                      &error);
}

static void
cohort_api_machines_list(CohortApiRequest *req)
{
    const gchar *cohort = req->query != NULL ? g_hash_table_lookup(req->query, "cohort") : NULL;
    GError *error = NULL;

    cohort_api_finish_text(
        req, 200, cohort_service_machine_list(req->api->service, req->actor, cohort, &error),
        &error);
}

/* A machine request is answered once its row is committed with the others of its turn
 * (cohort-store-group.c): paused until then. */
static void
cohort_api_machines_requested(gchar *text, const GError *error, gpointer user_data)
{
    CohortApiPending *pending = user_data;
    CohortApiRequest req = {
        .api = pending->api,
        .msg = pending->msg,
        .method = soup_server_message_get_method(pending->msg),
    };

    if (text != NULL)
        cohort_api_respond_text(&req, 202, text);
    else
        cohort_api_respond_error(&req, error, NULL, NULL);
    cohort_api_count(pending->api, soup_server_message_get_status(pending->msg));
    soup_server_message_unpause(pending->msg);
    g_object_unref(pending->msg);
    g_free(pending);
}

static void
cohort_api_machines_request(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = cohort_api_actor_body(req);
    CohortApiPending *pending;
    GError *error = NULL;

    if (body == NULL)
        return;
    pending = g_new0(CohortApiPending, 1);
    pending->api = req->api;
    if (!cohort_service_machine_request_grouped(req->api->service, req->actor, body,
                                                cohort_api_machines_requested, pending, &error)) {
        g_free(pending);
        cohort_api_finish_text(req, 202, NULL, &error);
        return;
    }
    pending->msg = g_object_ref(req->msg);
    soup_server_message_pause(req->msg);
}

static void
cohort_api_machine_get(CohortApiRequest *req)
{
    GError *error = NULL;
    gint64 id = 0;

    if (cohort_api_actor_id(req, &id))
        cohort_api_finish(req, 200,
                          cohort_service_machine_get(req->api->service, req->actor, id, &error),
                          &error);
}

/* release (DELETE), start, stop, reboot, reset: the route says which */
static void
cohort_api_machine_operate(CohortApiRequest *req)
{
    GError *error = NULL;
    gint64 id = 0;

    if (cohort_api_actor_id(req, &id))
        cohort_api_finish(
            req, 202,
            cohort_service_machine_operate(req->api->service, req->actor, id, req->op, &error),
            &error);
}

static void
cohort_api_machine_extend(CohortApiRequest *req)
{
    GError *error = NULL;
    gint64 id = 0;

    if (cohort_api_actor_id(req, &id))
        cohort_api_finish(req, 200,
                          cohort_service_machine_extend(req->api->service, req->actor, id, &error),
                          &error);
}

static void
cohort_api_machine_move(CohortApiRequest *req)
{
    g_autoptr(JsonObject) body = NULL;
    GError *error = NULL;
    gint64 id = 0;

    if (!cohort_api_actor_id(req, &id))
        return;
    /* no body: anywhere there is room, the disk copied when it can be */
    body = req->body_len == 0 ? json_object_new() : cohort_api_body_object(req, &error);
    if (body == NULL) {
        cohort_api_finish(req, 0, NULL, &error);
        return;
    }
    cohort_api_finish(req, 202,
                      cohort_service_machine_move(req->api->service, req->actor, id, body, &error),
                      &error);
}

static void
cohort_api_machine_console(CohortApiRequest *req)
{
    GError *error = NULL;
    gint64 id = 0;

    if (cohort_api_actor_id(req, &id))
        cohort_api_finish(req, 200,
                          cohort_service_machine_console(req->api->service, req->actor, id, &error),
                          &error);
}

static void
cohort_api_console_get(CohortApiRequest *req)
{
    cohort_api_console_accept(req, cohort_api_param(req, 0));
}

static void
cohort_api_job_get(CohortApiRequest *req)
{
    GError *error = NULL;
    gint64 id = 0;

    if (cohort_api_actor_id(req, &id))
        cohort_api_finish(
            req, 200, cohort_service_job_get(req->api->service, req->actor, id, &error), &error);
}

static void
cohort_api_audit_list(CohortApiRequest *req)
{
    const gchar *limit_str = req->query != NULL ? g_hash_table_lookup(req->query, "limit") : NULL;
    guint64 limit = 100;
    GError *error = NULL;

    /* who asks comes before what they ask */
    if (!cohort_api_require_actor(req, &error)) {
        cohort_api_finish(req, 0, NULL, &error);
        return;
    }
    if (limit_str != NULL && !g_ascii_string_to_unsigned(limit_str, 10, 1, 10000, &limit, NULL)) {
        g_autoptr(GError) invalid = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                                                        "limit must be a number from 1 to 10000");
        cohort_api_respond_error(req, invalid, NULL, NULL);
        return;
    }
    cohort_api_finish(
        req, 200, cohort_service_audit_list(req->api->service, req->actor, (guint)limit, &error),
        &error);
}

static void
cohort_api_usage(CohortApiRequest *req)
{
    g_autoptr(GError) error = NULL;
    CohortServiceUsage *usage = cohort_service_usage_begin(req->api->service, req->actor, &error);

    if (usage == NULL) {
        cohort_api_respond_error(req, error, NULL, NULL);
        return;
    }
    cohort_api_stream_respond(req->msg, 200, "application/json",
                              (CohortApiStreamNextFunc)cohort_service_usage_next, usage,
                              (GDestroyNotify)cohort_service_usage_free);
}

/* --- the table ---------------------------------------------------------------------- */

#define ADMIN "admin"
#define OWN_COHORT "admin, its trainer"
#define OWN_MACHINE "owner, its trainer, admin"

static const CohortApiRoute cohort_api_routes[] = {
    {"GET", "/healthz", cohort_api_healthz, "anyone"},
    {"GET", "/metrics", cohort_api_metrics_get, "loopback, or admin"},
    {"GET", "/api/v1/whoami", cohort_api_whoami, "any token"},
    {"POST", "/api/v1/redeem", cohort_api_redeem, "anyone"},
    {"GET", "/api/v1/users", cohort_api_users_list, ADMIN},
    {"POST", "/api/v1/users", cohort_api_users_create, ADMIN},
    {"POST", "/api/v1/users/{login}/tokens", cohort_api_user_token_issue, ADMIN},
    {"DELETE", "/api/v1/users/{login}/tokens", cohort_api_user_token_revoke, ADMIN},
    {"GET", "/api/v1/users/{login}/ssh-keys", cohort_api_user_ssh_keys_get, "the user, admin"},
    {"PUT", "/api/v1/users/{login}/ssh-keys", cohort_api_user_ssh_keys_put, "the user, admin"},
    {"GET", "/api/v1/hosts", cohort_api_hosts_list, ADMIN},
    {"POST", "/api/v1/hosts", cohort_api_hosts_add, ADMIN},
    {"PATCH", "/api/v1/hosts/{name}", cohort_api_host_update, ADMIN},
    {"DELETE", "/api/v1/hosts/{name}", cohort_api_host_remove, ADMIN},
    {"POST", "/api/v1/hosts/{name}/drain", cohort_api_host_drain, ADMIN, "drain"},
    {"POST", "/api/v1/hosts/{name}/undrain", cohort_api_host_drain, ADMIN, "undrain"},
    {"POST", "/api/v1/hosts/{name}/evacuate", cohort_api_host_evacuate, ADMIN},
    {"DELETE", "/api/v1/hosts/{name}/bases/{template}", cohort_api_host_base_remove, ADMIN},
    {"GET", "/api/v1/templates", cohort_api_templates_list, "any token (trainee: own cohorts')"},
    {"POST", "/api/v1/templates/reload", cohort_api_templates_reload, ADMIN},
    {"GET", "/api/v1/templates/{name}", cohort_api_template_get,
     "any token (trainee: own cohorts')"},
    {"POST", "/api/v1/templates/{name}/base", cohort_api_template_base, ADMIN},
    {"GET", "/api/v1/cohorts", cohort_api_cohorts_list, "any token (own)"},
    {"POST", "/api/v1/cohorts", cohort_api_cohorts_create, "trainer, admin"},
    {"GET", "/api/v1/cohorts/{slug}", cohort_api_cohort_get,
     "admin, its trainer, enrolled trainee"},
    {"PATCH", "/api/v1/cohorts/{slug}", cohort_api_cohort_update, OWN_COHORT},
    {"PUT", "/api/v1/cohorts/{slug}/roster", cohort_api_cohort_roster, OWN_COHORT},
    {"POST", "/api/v1/cohorts/{slug}/trainees/{login}/invitation", cohort_api_cohort_invite,
     "admin, its trainer when all the trainee's courses are theirs"},
    {"POST", "/api/v1/cohorts/{slug}/invitations", cohort_api_cohort_invitations,
     "admin, its trainer (per trainee: when all their courses are theirs)"},
    {"DELETE", "/api/v1/cohorts/{slug}/trainees/{login}", cohort_api_cohort_unenrol, OWN_COHORT},
    {"POST", "/api/v1/cohorts/{slug}/provision", cohort_api_cohort_provision, OWN_COHORT},
    {"POST", "/api/v1/cohorts/{slug}/reclaim", cohort_api_cohort_reclaim, OWN_COHORT},
    {"GET", "/api/v1/cohorts/{slug}/schedule", cohort_api_cohort_schedule_get, OWN_COHORT},
    {"PUT", "/api/v1/cohorts/{slug}/schedule", cohort_api_cohort_schedule_put, OWN_COHORT},
    {"GET", "/api/v1/cohorts/{slug}/plan", cohort_api_cohort_plan, OWN_COHORT},
    {"POST", "/api/v1/cohorts/{slug}/start", cohort_api_cohort_power, OWN_COHORT, "start"},
    {"POST", "/api/v1/cohorts/{slug}/stop", cohort_api_cohort_power, OWN_COHORT, "stop"},
    {"GET", "/api/v1/machines", cohort_api_machines_list, "any token (own)"},
    {"POST", "/api/v1/machines", cohort_api_machines_request, "trainee (self), its trainer, admin"},
    {"GET", "/api/v1/machines/{id}", cohort_api_machine_get, OWN_MACHINE},
    {"DELETE", "/api/v1/machines/{id}", cohort_api_machine_operate, OWN_MACHINE, "release"},
    {"POST", "/api/v1/machines/{id}/start", cohort_api_machine_operate, OWN_MACHINE, "start"},
    {"POST", "/api/v1/machines/{id}/stop", cohort_api_machine_operate, OWN_MACHINE, "stop"},
    {"POST", "/api/v1/machines/{id}/reboot", cohort_api_machine_operate, OWN_MACHINE, "reboot"},
    {"POST", "/api/v1/machines/{id}/reset", cohort_api_machine_operate, OWN_MACHINE, "reset"},
    {"POST", "/api/v1/machines/{id}/extend", cohort_api_machine_extend, OWN_MACHINE},
    {"POST", "/api/v1/machines/{id}/move", cohort_api_machine_move, "its trainer, admin"},
    {"GET", "/api/v1/machines/{id}/console", cohort_api_machine_console, OWN_MACHINE},
    {"GET", "/api/v1/console/{ticket}", cohort_api_console_get, "the ticket's holder"},
    {"GET", "/api/v1/jobs/{id}", cohort_api_job_get, "who started it, admin"},
    {"GET", "/api/v1/audit", cohort_api_audit_list, ADMIN},
    {"GET", "/api/v1/usage", cohort_api_usage, ADMIN},
};

guint
cohort_api_routes_count(void)
{
    return G_N_ELEMENTS(cohort_api_routes);
}

const CohortApiRoute *
cohort_api_routes_nth(guint index)
{
    g_return_val_if_fail(index < G_N_ELEMENTS(cohort_api_routes), NULL);
    return &cohort_api_routes[index];
}

const gchar *
cohort_api_route_get_method(const CohortApiRoute *route)
{
    return route->method;
}

const gchar *
cohort_api_route_get_path(const CohortApiRoute *route)
{
    return route->path;
}

const gchar *
cohort_api_route_get_who(const CohortApiRoute *route)
{
    return route->who;
}

/* --- matching ----------------------------------------------------------------------- */

/* Each route's pattern split into its segments once, for the life of the process: walking
 * every pattern for every request was still 13 k instructions of a list request's ~220 k
 * (issue 14); most routes now fail on their count of segments. */
typedef struct {
    guint n_segments;
    gchar **segments;
} CohortApiRouteShape;

static const CohortApiRouteShape *
cohort_api_route_shapes(void)
{
    static gsize shapes = 0;

    if (g_once_init_enter(&shapes)) {
        CohortApiRouteShape *made = g_new0(CohortApiRouteShape, G_N_ELEMENTS(cohort_api_routes));
        for (guint i = 0; i < G_N_ELEMENTS(cohort_api_routes); i++) {
            guint n_params = 0;

            made[i].segments = g_strsplit(cohort_api_routes[i].path + 1, "/", -1);
            made[i].n_segments = g_strv_length(made[i].segments);
            for (guint k = 0; k < made[i].n_segments; k++)
                n_params += made[i].segments[k][0] == '{' ? 1 : 0;
            if (made[i].n_segments > COHORT_API_ROUTE_SEGMENTS_MAX ||
                n_params > COHORT_API_ROUTE_PARAMS_MAX)
                g_critical("route %s has more segments or parameters than the matcher holds",
                           cohort_api_routes[i].path);
        }
        g_once_init_leave(&shapes, (gsize)made);
    }
    return (const CohortApiRouteShape *)shapes;
}

/* Whether @path's segments (@segments, @n_segments of them, a trailing empty one dropped)
 * fit @shape's; the {…} segments go to @params. */
static gboolean
cohort_api_route_fits(const CohortApiRouteShape *shape, gchar **segments, guint n_segments,
                      const gchar **params)
{
    guint n_params = 0;

    if (shape->n_segments != n_segments)
        return FALSE;
    for (guint i = 0; i < n_segments; i++) {
        if (shape->segments[i][0] == '{')
            params[n_params++] = segments[i];
        else if (strcmp(shape->segments[i], segments[i]) != 0)
            return FALSE;
    }
    return TRUE;
}

/* The most bytes of a path split on the stack; a longer one is copied to the heap. */
#define COHORT_API_ROUTE_PATH_STACK 256

gboolean
cohort_api_routes_dispatch(CohortApiRequest *req, const gchar *path)
{
    const CohortApiRouteShape *shapes = cohort_api_route_shapes();
    gchar stack[COHORT_API_ROUTE_PATH_STACK];
    g_autofree gchar *heap = NULL;
    gchar *segments[COHORT_API_ROUTE_SEGMENTS_MAX];
    guint n_segments = 0;
    gsize len = strlen(path);
    GString *allowed = NULL;
    gchar *copy;

    /* a trailing slash is the same route */
    while (len > 1 && path[len - 1] == '/')
        len--;
    /* split in place, without an allocation per segment: a list request's path every time */
    copy = len < sizeof(stack) ? stack : (heap = g_malloc(len + 1));
    memcpy(copy, path, len);
    copy[len] = '\0';
    if (len > 1) {
        for (gchar *segment = copy + 1;; n_segments++) {
            gchar *slash = strchr(segment, '/');

            /* more segments than any route has: none fits */
            if (n_segments == G_N_ELEMENTS(segments))
                return FALSE;
            segments[n_segments] = segment;
            if (slash == NULL) {
                n_segments++;
                break;
            }
            *slash = '\0';
            segment = slash + 1;
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(cohort_api_routes); i++) {
        const CohortApiRoute *route = &cohort_api_routes[i];
        if (!cohort_api_route_fits(&shapes[i], segments, n_segments, req->params))
            continue;
        if (g_strcmp0(route->method, req->method) == 0) {
            req->op = route->op;
            route->handler(req);
            if (allowed != NULL)
                g_string_free(allowed, TRUE);
            return TRUE;
        }
        if (allowed == NULL)
            allowed = g_string_new(route->method);
        else if (strstr(allowed->str, route->method) == NULL)
            g_string_append_printf(allowed, ", %s", route->method);
    }
    if (allowed != NULL) {
        cohort_api_method_not_allowed(req, allowed->str);
        g_string_free(allowed, TRUE);
        return TRUE;
    }
    return FALSE;
}
