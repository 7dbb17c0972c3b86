#define G_LOG_DOMAIN "cohort-api"

#include "config.h"

#include <libsoup/soup.h>

#include "cohort-api.h"
#include "cohort-error.h"
#include "cohort-json.h"
#include "cohort-service.h"

struct _CohortApi {
    CohortDaemon *daemon;
    SoupServer *server;
    gchar *url;
    gsize max_body_bytes;
};

/* One request as the routes see it. */
typedef struct {
    CohortApi *api;
    SoupServerMessage *msg;
    const gchar *method;
    gchar **parts; /* path below /api/v1/, split on '/' */
    guint n_parts;
    GHashTable *query;
    CohortUserRow *actor;
    const gchar *body;
    gsize body_len;
} CohortApiRequest;

static void
cohort_api_respond(CohortApiRequest *req, guint status, JsonNode *node)
{
    g_autofree gchar *text = cohort_json_to_string(node, FALSE);
    gsize len = strlen(text);

    soup_server_message_set_status(req->msg, status, NULL);
    soup_server_message_set_response(req->msg, "application/json", SOUP_MEMORY_TAKE,
                                     g_steal_pointer(&text), len);
}

static void
cohort_api_respond_error(CohortApiRequest *req, const GError *error, const gchar *extra_name,
                         JsonNode *extra)
{
    g_autoptr(JsonNode) node = cohort_json_error(error);
    guint status = error->domain == COHORT_ERROR
                       ? cohort_error_code_to_http_status((CohortError)error->code)
                       : 500;

    if (error->domain != COHORT_ERROR)
        g_warning("%s %s: unexpected error: %s", req->method,
                  g_uri_get_path(soup_server_message_get_uri(req->msg)), error->message);
    /* a roster's bad lines, a reload's bad files: the details travel with the error, a 422 */
    if (extra != NULL) {
        JsonObject *err = json_object_get_object_member(json_node_get_object(node), "error");
        json_object_set_member(err, extra_name, extra);
        status = 422;
    }
    cohort_api_respond(req, status, node);
}

/* Answers @node (owned) with @status, or *@errorp (taken). A pointer, because the error is
 * set by the call that makes @node, and C does not order the evaluation of arguments. */
static void
cohort_api_finish(CohortApiRequest *req, guint status, JsonNode *node, GError **errorp)
{
    GError *error = errorp != NULL ? g_steal_pointer(errorp) : NULL;

    if (node == NULL) {
        if (error == NULL)
            error = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INTERNAL, "no answer");
        cohort_api_respond_error(req, error, NULL, NULL);
        g_error_free(error);
        return;
    }
    cohort_api_respond(req, status, node);
    json_node_unref(node);
}

static void
cohort_api_fail(CohortApiRequest *req, GError *error)
{
    cohort_api_respond_error(req, error, NULL, NULL);
    g_error_free(error);
}

static JsonObject *
cohort_api_body_object(CohortApiRequest *req, GError **error)
{
    return cohort_json_parse_object(req->body, req->body_len, error);
}

static gboolean
cohort_api_parse_id(const gchar *text, gint64 *id, GError **error)
{
    if (!g_ascii_string_to_signed(text, 10, 1, G_MAXINT64, id, NULL)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no object with id '%s'", text);
        return FALSE;
    }
    return TRUE;
}

static void
cohort_api_method_not_allowed(CohortApiRequest *req, const gchar *allowed)
{
    g_autoptr(GError) error = g_error_new(COHORT_ERROR, COHORT_ERROR_METHOD_NOT_ALLOWED,
                                          "%s is not allowed here; use %s", req->method, allowed);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Allow",
                                 allowed);
    cohort_api_respond_error(req, error, NULL, NULL);
}

/* Authentication before the body is even parsed: a stranger learns nothing from it. */
static gboolean
cohort_api_require_actor(CohortApiRequest *req, GError **error)
{
    if (req->actor != NULL)
        return TRUE;
    g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_UNAUTHENTICATED,
                        "a valid token is needed: send 'Authorization: Bearer TOKEN' "
                        "(cohortctl login, or redeem an invitation)");
    return FALSE;
}

/* The caller's JSON body, once the caller is known; on failure the error is answered. */
static JsonObject *
cohort_api_actor_body(CohortApiRequest *req)
{
    GError *error = NULL;
    JsonObject *body = NULL;

    if (cohort_api_require_actor(req, &error))
        body = cohort_api_body_object(req, &error);
    if (body == NULL)
        cohort_api_finish(req, 0, NULL, &error);
    return body;
}

static gboolean
cohort_api_is(CohortApiRequest *req, const gchar *method)
{
    return g_strcmp0(req->method, method) == 0;
}

/* --- routes -------------------------------------------------------------------------- */

static void
cohort_api_route_users(CohortApiRequest *req)
{
    CohortDaemon *d = req->api->daemon;
    GError *error = NULL;

    if (req->n_parts == 1) {
        if (cohort_api_is(req, "GET")) {
            cohort_api_finish(req, 200, cohort_service_user_list(d, req->actor, &error), &error);
        } else if (cohort_api_is(req, "POST")) {
            g_autoptr(JsonObject) body = NULL;
            if ((body = cohort_api_actor_body(req)) == NULL)
                return;
            cohort_api_finish(req, 201, cohort_service_user_create(d, req->actor, body, &error),
                              &error);
        } else {
            cohort_api_method_not_allowed(req, "GET, POST");
        }
        return;
    }
    if (req->n_parts == 3 && g_strcmp0(req->parts[2], "tokens") == 0) {
        if (cohort_api_is(req, "POST"))
            cohort_api_finish(req, 201,
                              cohort_service_user_token_issue(d, req->actor, req->parts[1], &error),
                              &error);
        else if (cohort_api_is(req, "DELETE"))
            cohort_api_finish(
                req, 200, cohort_service_user_token_revoke(d, req->actor, req->parts[1], &error),
                &error);
        else
            cohort_api_method_not_allowed(req, "POST, DELETE");
        return;
    }
    cohort_api_fail(req, g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no such route"));
}

static void
cohort_api_route_hosts(CohortApiRequest *req)
{
    CohortDaemon *d = req->api->daemon;
    GError *error = NULL;

    if (req->n_parts == 1) {
        if (cohort_api_is(req, "GET")) {
            cohort_api_finish(req, 200, cohort_service_host_list(d, req->actor, &error), &error);
        } else if (cohort_api_is(req, "POST")) {
            g_autoptr(JsonObject) body = NULL;
            if ((body = cohort_api_actor_body(req)) == NULL)
                return;
            cohort_api_finish(req, 201, cohort_service_host_add(d, req->actor, body, &error),
                              &error);
        } else {
            cohort_api_method_not_allowed(req, "GET, POST");
        }
        return;
    }
    if (req->n_parts == 3 && g_strcmp0(req->parts[2], "drain") == 0) {
        if (cohort_api_is(req, "POST"))
            cohort_api_finish(
                req, 200, cohort_service_host_drain(d, req->actor, req->parts[1], &error), &error);
        else
            cohort_api_method_not_allowed(req, "POST");
        return;
    }
    cohort_api_fail(req, g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no such route"));
}

static void
cohort_api_route_templates(CohortApiRequest *req)
{
    CohortDaemon *d = req->api->daemon;
    GError *error = NULL;

    if (req->n_parts == 1) {
        if (cohort_api_is(req, "GET"))
            cohort_api_finish(req, 200, cohort_service_template_list(d, req->actor, &error),
                              &error);
        else
            cohort_api_method_not_allowed(req, "GET");
    } else if (req->n_parts == 2 && g_strcmp0(req->parts[1], "reload") == 0 &&
               cohort_api_is(req, "POST")) {
        JsonNode *files = NULL;
        JsonNode *node = cohort_service_template_reload(d, req->actor, &files, &error);
        if (node == NULL) {
            cohort_api_respond_error(req, error, "files", files);
            g_error_free(error);
            return;
        }
        cohort_api_respond(req, 200, node);
        json_node_unref(node);
    } else if (req->n_parts == 2) {
        if (cohort_api_is(req, "GET"))
            cohort_api_finish(req, 200,
                              cohort_service_template_get(d, req->actor, req->parts[1], &error),
                              &error);
        else
            cohort_api_method_not_allowed(req, "GET");
    } else if (req->n_parts == 3 && g_strcmp0(req->parts[2], "base") == 0) {
        g_autoptr(JsonObject) body = NULL;
        if (!cohort_api_is(req, "POST")) {
            cohort_api_method_not_allowed(req, "POST");
            return;
        }
        if ((body = cohort_api_actor_body(req)) == NULL)
            return;
        cohort_api_finish(req, 201,
                          cohort_service_template_base(d, req->actor, req->parts[1], body, &error),
                          &error);
    } else {
        cohort_api_fail(req, g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no such route"));
    }
}

static void
cohort_api_route_cohorts(CohortApiRequest *req)
{
    CohortDaemon *d = req->api->daemon;
    GError *error = NULL;
    g_autoptr(JsonObject) body = NULL;
    const gchar *slug = req->n_parts > 1 ? req->parts[1] : NULL;

    if (req->n_parts == 1) {
        if (cohort_api_is(req, "GET")) {
            cohort_api_finish(req, 200, cohort_service_cohort_list(d, req->actor, &error), &error);
        } else if (cohort_api_is(req, "POST")) {
            if ((body = cohort_api_actor_body(req)) == NULL)
                return;
            cohort_api_finish(req, 201, cohort_service_cohort_create(d, req->actor, body, &error),
                              &error);
        } else {
            cohort_api_method_not_allowed(req, "GET, POST");
        }
        return;
    }
    if (req->n_parts == 2) {
        if (cohort_api_is(req, "GET")) {
            cohort_api_finish(req, 200, cohort_service_cohort_get(d, req->actor, slug, &error),
                              &error);
        } else if (cohort_api_is(req, "PATCH")) {
            if ((body = cohort_api_actor_body(req)) == NULL)
                return;
            cohort_api_finish(
                req, 200, cohort_service_cohort_update(d, req->actor, slug, body, &error), &error);
        } else {
            cohort_api_method_not_allowed(req, "GET, PATCH");
        }
        return;
    }
    if (req->n_parts == 3 && g_strcmp0(req->parts[2], "roster") == 0) {
        JsonNode *lines = NULL;
        JsonNode *node;
        if (!cohort_api_is(req, "PUT")) {
            cohort_api_method_not_allowed(req, "PUT");
            return;
        }
        node = cohort_service_cohort_roster(d, req->actor, slug, req->body, req->body_len, &lines,
                                            &error);
        if (node == NULL) {
            cohort_api_respond_error(req, error, "lines", lines);
            g_error_free(error);
            return;
        }
        cohort_api_respond(req, 200, node);
        json_node_unref(node);
        return;
    }
    if (req->n_parts == 5 && g_strcmp0(req->parts[2], "trainees") == 0 &&
        g_strcmp0(req->parts[4], "invitation") == 0) {
        if (!cohort_api_is(req, "POST")) {
            cohort_api_method_not_allowed(req, "POST");
            return;
        }
        cohort_api_finish(req, 201,
                          cohort_service_cohort_invite(d, req->actor, slug, req->parts[3], &error),
                          &error);
        return;
    }
    if (req->n_parts == 3 &&
        (g_strcmp0(req->parts[2], "provision") == 0 || g_strcmp0(req->parts[2], "reclaim") == 0)) {
        if (!cohort_api_is(req, "POST")) {
            cohort_api_method_not_allowed(req, "POST");
            return;
        }
        if (g_strcmp0(req->parts[2], "provision") == 0)
            cohort_api_finish(req, 202,
                              cohort_service_cohort_provision(d, req->actor, slug, &error), &error);
        else
            cohort_api_finish(req, 202, cohort_service_cohort_reclaim(d, req->actor, slug, &error),
                              &error);
        return;
    }
    cohort_api_fail(req, g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no such route"));
}

static void
cohort_api_route_machines(CohortApiRequest *req)
{
    CohortDaemon *d = req->api->daemon;
    GError *error = NULL;
    gint64 id = 0;

    if (req->n_parts == 1) {
        if (cohort_api_is(req, "GET")) {
            const gchar *cohort =
                req->query != NULL ? g_hash_table_lookup(req->query, "cohort") : NULL;
            cohort_api_finish(req, 200, cohort_service_machine_list(d, req->actor, cohort, &error),
                              &error);
        } else if (cohort_api_is(req, "POST")) {
            g_autoptr(JsonObject) body = NULL;
            if ((body = cohort_api_actor_body(req)) == NULL)
                return;
            cohort_api_finish(req, 202, cohort_service_machine_request(d, req->actor, body, &error),
                              &error);
        } else {
            cohort_api_method_not_allowed(req, "GET, POST");
        }
        return;
    }
    if (!cohort_api_require_actor(req, &error) ||
        !cohort_api_parse_id(req->parts[1], &id, &error)) {
        cohort_api_finish(req, 0, NULL, &error);
        return;
    }
    if (req->n_parts == 2) {
        if (cohort_api_is(req, "GET"))
            cohort_api_finish(req, 200, cohort_service_machine_get(d, req->actor, id, &error),
                              &error);
        else if (cohort_api_is(req, "DELETE"))
            cohort_api_finish(req, 202,
                              cohort_service_machine_operate(d, req->actor, id, "release", &error),
                              &error);
        else
            cohort_api_method_not_allowed(req, "GET, DELETE");
        return;
    }
    if (req->n_parts == 3 && g_strcmp0(req->parts[2], "extend") == 0) {
        if (cohort_api_is(req, "POST"))
            cohort_api_finish(req, 200, cohort_service_machine_extend(d, req->actor, id, &error),
                              &error);
        else
            cohort_api_method_not_allowed(req, "POST");
        return;
    }
    if (req->n_parts == 3 && g_strcmp0(req->parts[2], "console") == 0) {
        if (cohort_api_is(req, "GET"))
            cohort_api_finish(req, 200, cohort_service_machine_console(d, req->actor, id, &error),
                              &error);
        else
            cohort_api_method_not_allowed(req, "GET");
        return;
    }
    if (req->n_parts == 3 &&
        g_strv_contains((const gchar *const[]){"start", "stop", "reboot", "reset", NULL},
                        req->parts[2])) {
        if (cohort_api_is(req, "POST"))
            cohort_api_finish(
                req, 202, cohort_service_machine_operate(d, req->actor, id, req->parts[2], &error),
                &error);
        else
            cohort_api_method_not_allowed(req, "POST");
        return;
    }
    cohort_api_fail(req, g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no such route"));
}

static void
cohort_api_route_v1(CohortApiRequest *req)
{
    CohortDaemon *d = req->api->daemon;
    const gchar *noun = req->n_parts > 0 ? req->parts[0] : "";
    GError *error = NULL;

    if (g_strcmp0(noun, "whoami") == 0 && req->n_parts == 1) {
        if (cohort_api_is(req, "GET"))
            cohort_api_finish(req, 200, cohort_service_whoami(d, req->actor, &error), &error);
        else
            cohort_api_method_not_allowed(req, "GET");
    } else if (g_strcmp0(noun, "redeem") == 0 && req->n_parts == 1) {
        g_autoptr(JsonObject) body = NULL;
        if (!cohort_api_is(req, "POST")) {
            cohort_api_method_not_allowed(req, "POST");
            return;
        }
        body = cohort_api_body_object(req, &error);
        cohort_api_finish(req, 200, body != NULL ? cohort_service_redeem(d, body, &error) : NULL,
                          &error);
    } else if (g_strcmp0(noun, "users") == 0) {
        cohort_api_route_users(req);
    } else if (g_strcmp0(noun, "hosts") == 0) {
        cohort_api_route_hosts(req);
    } else if (g_strcmp0(noun, "templates") == 0) {
        cohort_api_route_templates(req);
    } else if (g_strcmp0(noun, "cohorts") == 0) {
        cohort_api_route_cohorts(req);
    } else if (g_strcmp0(noun, "machines") == 0) {
        cohort_api_route_machines(req);
    } else if (g_strcmp0(noun, "jobs") == 0 && req->n_parts == 2) {
        gint64 id = 0;
        if (!cohort_api_is(req, "GET")) {
            cohort_api_method_not_allowed(req, "GET");
            return;
        }
        if (!cohort_api_require_actor(req, &error) ||
            !cohort_api_parse_id(req->parts[1], &id, &error)) {
            cohort_api_finish(req, 0, NULL, &error);
            return;
        }
        cohort_api_finish(req, 200, cohort_service_job_get(d, req->actor, id, &error), &error);
    } else if (g_strcmp0(noun, "audit") == 0 && req->n_parts == 1) {
        const gchar *limit_str =
            req->query != NULL ? g_hash_table_lookup(req->query, "limit") : NULL;
        guint64 limit = 100;
        if (!cohort_api_is(req, "GET")) {
            cohort_api_method_not_allowed(req, "GET");
            return;
        }
        /* who asks comes before what they ask */
        if (!cohort_api_require_actor(req, &error)) {
            cohort_api_finish(req, 0, NULL, &error);
            return;
        }
        if (limit_str != NULL &&
            !g_ascii_string_to_unsigned(limit_str, 10, 1, 10000, &limit, NULL)) {
            cohort_api_fail(req, g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                                                     "limit must be a number from 1 to 10000"));
            return;
        }
        cohort_api_finish(req, 200, cohort_service_audit_list(d, req->actor, (guint)limit, &error),
                          &error);
    } else if (g_strcmp0(noun, "usage") == 0 && req->n_parts == 1) {
        if (cohort_api_is(req, "GET"))
            cohort_api_finish(req, 200, cohort_service_usage(d, req->actor, &error), &error);
        else
            cohort_api_method_not_allowed(req, "GET");
    } else {
        g_autofree gchar *path = g_strjoinv("/", req->parts);
        cohort_api_fail(req,
                        g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                                    "no route %s /api/v1/%s (see docs/api.md)", req->method, path));
    }
}

static gboolean
cohort_api_client_is_loopback(SoupServerMessage *msg)
{
    GSocketAddress *addr = soup_server_message_get_remote_address(msg);
    return G_IS_INET_SOCKET_ADDRESS(addr) &&
           g_inet_address_get_is_loopback(
               g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
}

static void
cohort_api_handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
    CohortApi *self = user_data;
    CohortDaemon *d = self->daemon;
    SoupMessageBody *request_body = soup_server_message_get_request_body(msg);
    const gchar *auth =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    g_autoptr(GBytes) body = NULL;
    g_autoptr(CohortUserRow) actor = NULL;
    CohortApiRequest req = {
        .api = self,
        .msg = msg,
        .method = soup_server_message_get_method(msg),
        .query = query,
    };
    guint status;

    g_atomic_pointer_add(&d->counters.requests, 1);
    if (auth != NULL && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0)
        actor = cohort_service_authenticate(d, auth + 7);
    req.actor = actor;
    body = soup_message_body_flatten(request_body);
    req.body = g_bytes_get_data(body, &req.body_len);

    if (req.body_len > self->max_body_bytes) {
        g_autoptr(GError) error = g_error_new(COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                                              "the request body is %" G_GSIZE_FORMAT
                                              " bytes; at most %" G_GSIZE_FORMAT " are accepted",
                                              req.body_len, self->max_body_bytes);
        cohort_api_respond_error(&req, error, NULL, NULL);
    } else if (g_strcmp0(path, "/healthz") == 0) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) node = NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, "ok");
        json_builder_end_object(b);
        node = json_builder_get_root(b);
        cohort_api_respond(&req, 200, node);
    } else if (g_strcmp0(path, "/metrics") == 0) {
        if (!cohort_api_client_is_loopback(msg) &&
            (actor == NULL || g_strcmp0(actor->role, "admin") != 0)) {
            g_autoptr(GError) error =
                g_error_new_literal(COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                                    "/metrics is for loopback clients and admins");
            cohort_api_respond_error(&req, error, NULL, NULL);
        } else {
            gchar *text = cohort_service_metrics(d);
            soup_server_message_set_status(msg, 200, NULL);
            soup_server_message_set_response(msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                             text, strlen(text));
        }
    } else if (g_str_has_prefix(path, "/api/v1/") || g_strcmp0(path, "/api/v1") == 0) {
        const gchar *rest = path + strlen("/api/v1");
        g_auto(GStrv) parts = NULL;
        while (*rest == '/')
            rest++;
        parts = g_strsplit(rest, "/", 8);
        req.parts = parts;
        req.n_parts = g_strv_length(parts);
        /* a trailing slash is the same route */
        if (req.n_parts > 0 && parts[req.n_parts - 1][0] == '\0')
            req.n_parts--;
        cohort_api_route_v1(&req);
    } else {
        g_autoptr(GError) error =
            g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                        "no route %s %s: the API is under /api/v1", req.method, path);
        cohort_api_respond_error(&req, error, NULL, NULL);
    }

    status = soup_server_message_get_status(msg);
    if (status >= 500)
        g_atomic_pointer_add(&d->counters.requests_5xx, 1);
    else if (status >= 400)
        g_atomic_pointer_add(&d->counters.requests_4xx, 1);
    g_debug("%s %s -> %u", req.method, path, status);
}

/* Refuses a body over the bound from its Content-Length, before it is read. */
static void
cohort_api_got_headers(SoupServerMessage *msg, gpointer user_data)
{
    CohortApi *self = user_data;
    goffset len =
        soup_message_headers_get_content_length(soup_server_message_get_request_headers(msg));

    if (len > (goffset)self->max_body_bytes) {
        g_autoptr(GError) error = g_error_new(COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                                              "the request body is %" G_GOFFSET_FORMAT
                                              " bytes; at most %" G_GSIZE_FORMAT " are accepted",
                                              len, self->max_body_bytes);
        g_autoptr(JsonNode) node = cohort_json_error(error);
        g_autofree gchar *text = cohort_json_to_string(node, FALSE);
        gsize text_len = strlen(text);
        soup_server_message_set_status(msg, 413, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE,
                                         g_steal_pointer(&text), text_len);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                     "close");
    }
}

static void
cohort_api_request_started(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    g_signal_connect(msg, "got-headers", G_CALLBACK(cohort_api_got_headers), user_data);
}

/* A class logs in at once: the default backlog of 10 made the 11th connection of 200
 * trainees wait a second for a SYN retry, or be reset. */
#define COHORT_API_LISTEN_BACKLOG 1024

static GSocket *
cohort_api_listener_new(GSocketAddress *address, GError **error)
{
    g_autoptr(GSocket) socket = g_socket_new(g_socket_address_get_family(address),
                                             G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);

    if (socket == NULL)
        return NULL;
    g_socket_set_listen_backlog(socket, COHORT_API_LISTEN_BACKLOG);
    if (!g_socket_bind(socket, address, TRUE, error) || !g_socket_listen(socket, error))
        return NULL;
    return g_steal_pointer(&socket);
}

CohortApi *
cohort_api_new(CohortDaemon *daemon, const gchar *address, guint port, const gchar *tls_cert,
               const gchar *tls_key, gsize max_body_bytes, GError **error)
{
    g_autoptr(CohortApi) self = g_new0(CohortApi, 1);
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) sockaddr = NULL;
    g_autoptr(GSocket) listener = NULL;
    g_autoptr(GSList) uris = NULL;
    SoupServerListenOptions options = 0;

    if (inet == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "listen address '%s' is not an IP address", address);
        return NULL;
    }
    self->daemon = daemon;
    self->max_body_bytes = max_body_bytes;
    self->server = soup_server_new("server-header", "cohortd/" PACKAGE_VERSION, NULL);
    if (tls_cert != NULL && tls_key != NULL) {
        g_autoptr(GTlsCertificate) cert =
            g_tls_certificate_new_from_files(tls_cert, tls_key, error);
        if (cert == NULL) {
            g_prefix_error(error, "loading TLS certificate %s: ", tls_cert);
            return NULL;
        }
        soup_server_set_tls_certificate(self->server, cert);
        options |= SOUP_SERVER_LISTEN_HTTPS;
    }
    soup_server_add_handler(self->server, NULL, cohort_api_handle, self, NULL);
    g_signal_connect(self->server, "request-started", G_CALLBACK(cohort_api_request_started), self);
    sockaddr = g_inet_socket_address_new(inet, (guint16)port);
    listener = cohort_api_listener_new(sockaddr, error);
    if (listener == NULL || !soup_server_listen_socket(self->server, listener, options, error)) {
        g_prefix_error(error, "listening on %s port %u: ", address, port);
        return NULL;
    }
    uris = soup_server_get_uris(self->server);
    if (uris != NULL) {
        GUri *uri = uris->data;
        self->url = g_strdup_printf(
            "%s://%s%s%s:%d", g_uri_get_scheme(uri),
            g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 ? "[" : "", address,
            g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 ? "]" : "",
            g_uri_get_port(uri));
        g_slist_free_full(g_steal_pointer(&uris), (GDestroyNotify)g_uri_unref);
    }
    return g_steal_pointer(&self);
}

void
cohort_api_free(CohortApi *self)
{
    if (self == NULL)
        return;
    if (self->server != NULL) {
        soup_server_disconnect(self->server);
        g_object_unref(self->server);
    }
    g_free(self->url);
    g_free(self);
}

const gchar *
cohort_api_get_url(CohortApi *self)
{
    return self->url;
}
