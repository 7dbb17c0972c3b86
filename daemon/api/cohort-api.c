#define G_LOG_DOMAIN "cohort-api"

#include "config.h"

#include <libsoup/soup.h>

#include "cohort-api-console.h"
#include "cohort-api-private.h"
#include "cohort-error.h"
#include "cohort-json.h"

void
cohort_api_respond_text(CohortApiRequest *req, guint status, gchar *text)
{
    gsize len = strlen(text);

    soup_server_message_set_status(req->msg, status, cohort_api_status_phrase(status));
    soup_server_message_set_response(req->msg, "application/json", SOUP_MEMORY_TAKE, text, len);
}

void
cohort_api_respond(CohortApiRequest *req, guint status, JsonNode *node)
{
    cohort_api_respond_text(req, status, cohort_json_to_string(node, FALSE));
}

void
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
    /* a roster's bad lines, a reload's bad files: the details travel with the error, a 422;
     * what a plan misses travels with its conflict, a 409 */
    if (extra != NULL) {
        JsonObject *err = json_object_get_object_member(json_node_get_object(node), "error");
        json_object_set_member(err, extra_name, extra);
        if (error->domain != COHORT_ERROR || error->code != COHORT_ERROR_CONFLICT)
            status = 422;
    }
    cohort_api_respond(req, status, node);
}

/* The error of a call that gave no answer (*@errorp taken; none set is a bug, a 500). */
static void
cohort_api_finish_failed(CohortApiRequest *req, GError **errorp)
{
    g_autoptr(GError) error = errorp != NULL ? g_steal_pointer(errorp) : NULL;

    if (error == NULL)
        error = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INTERNAL, "no answer");
    cohort_api_respond_error(req, error, NULL, NULL);
}

/* Answers @node (owned) with @status, or *@errorp (taken). A pointer, because the error is
 * set by the call that makes @node, and C does not order the evaluation of arguments. */
void
cohort_api_finish(CohortApiRequest *req, guint status, JsonNode *node, GError **errorp)
{
    g_autoptr(JsonNode) owned = node;

    cohort_api_finish_text(req, status, node != NULL ? cohort_json_to_string(node, FALSE) : NULL,
                           errorp);
}

/* As cohort_api_finish(), for an answer already written as text (@text taken). */
void
cohort_api_finish_text(CohortApiRequest *req, guint status, gchar *text, GError **errorp)
{
    if (text == NULL) {
        cohort_api_finish_failed(req, errorp);
        return;
    }
    cohort_api_respond_text(req, status, text);
}

JsonObject *
cohort_api_body_object(CohortApiRequest *req, GError **error)
{
    return cohort_json_parse_object(req->body, req->body_len, error);
}

void
cohort_api_method_not_allowed(CohortApiRequest *req, const gchar *allowed)
{
    g_autoptr(GError) error = g_error_new(COHORT_ERROR, COHORT_ERROR_METHOD_NOT_ALLOWED,
                                          "%s is not allowed here; use %s", req->method, allowed);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Allow",
                                 allowed);
    cohort_api_respond_error(req, error, NULL, NULL);
}

/* Authentication before the body is even parsed: a stranger learns nothing from it. */
gboolean
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
JsonObject *
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

/* Failed sign-ins cost the caller's address (cohort-rate-limit.h). When it has none left,
 * the request is answered 429 without its token or code being checked. */
gboolean
cohort_api_auth_refused(CohortApiRequest *req)
{
    CohortApi *self = req->api;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *retry = NULL;
    guint retry_after_s = 1;

    if (!cohort_rate_limit_is_blocked(self->auth_failures, cohort_api_request_get_client(req),
                                      g_get_monotonic_time(), &retry_after_s))
        return FALSE;
    cohort_rate_limit_refused(self->auth_failures, req->client);
    error = g_error_new(COHORT_ERROR, COHORT_ERROR_RATE_LIMITED,
                        "too many failed sign-ins from %s: try again in %u s (a wrong code or "
                        "token costs one try; %u a minute are allowed)",
                        req->client, retry_after_s, self->limits.auth_failures_per_minute);
    retry = g_strdup_printf("%u", retry_after_s);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Retry-After",
                                 retry);
    cohort_api_respond_error(req, error, NULL, NULL);
    return TRUE;
}

void
cohort_api_auth_failed(CohortApiRequest *req)
{
    cohort_rate_limit_fail(req->api->auth_failures, cohort_api_request_get_client(req),
                           g_get_monotonic_time());
}

const gchar *
cohort_api_request_get_client(CohortApiRequest *req)
{
    if (req->client == NULL)
        req->client =
            cohort_rate_limit_client_key(soup_server_message_get_remote_address(req->msg));
    return req->client;
}

gboolean
cohort_api_client_is_loopback(SoupServerMessage *msg)
{
    GSocketAddress *addr = soup_server_message_get_remote_address(msg);
    return G_IS_INET_SOCKET_ADDRESS(addr) &&
           g_inet_address_get_is_loopback(
               g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
}

/* Prometheus text: the service's, then the API's own (connections, refusals, sign-ins). */
gchar *
cohort_api_metrics(CohortApi *self)
{
    g_autofree gchar *service = cohort_service_metrics(self->service);
    const CohortApiGuardStats *stats = cohort_api_guard_get_stats(self->guard);

    return g_strdup_printf(
        "%s"
        "# HELP cohort_http_requests_total HTTP requests answered.\n"
        "# TYPE cohort_http_requests_total counter\n"
        "cohort_http_requests_total{class=\"all\"} %" G_GSSIZE_FORMAT "\n"
        "cohort_http_requests_total{class=\"4xx\"} %" G_GSSIZE_FORMAT "\n"
        "cohort_http_requests_total{class=\"5xx\"} %" G_GSSIZE_FORMAT "\n"
        "# HELP cohort_http_connections_open HTTP connections open now.\n"
        "# TYPE cohort_http_connections_open gauge\n"
        "cohort_http_connections_open %" G_GUINT64_FORMAT "\n"
        "# HELP cohort_http_connections_total HTTP connections accepted.\n"
        "# TYPE cohort_http_connections_total counter\n"
        "cohort_http_connections_total %" G_GUINT64_FORMAT "\n"
        "# HELP cohort_http_connections_timed_out_total Connections closed for not sending a "
        "whole request within request_timeout_s.\n"
        "# TYPE cohort_http_connections_timed_out_total counter\n"
        "cohort_http_connections_timed_out_total %" G_GUINT64_FORMAT "\n"
        "# HELP cohort_http_requests_refused_total Requests refused before a route saw them.\n"
        "# TYPE cohort_http_requests_refused_total counter\n"
        "cohort_http_requests_refused_total{reason=\"too-large\"} %" G_GUINT64_FORMAT "\n"
        "cohort_http_requests_refused_total{reason=\"malformed\"} %" G_GUINT64_FORMAT "\n"
        "cohort_http_requests_refused_total{reason=\"too-many-connections\"} %" G_GUINT64_FORMAT
        "\n"
        "# HELP cohort_auth_failures_total Bad tokens and wrong invitation codes.\n"
        "# TYPE cohort_auth_failures_total counter\n"
        "cohort_auth_failures_total %" G_GUINT64_FORMAT "\n"
        "# HELP cohort_auth_rate_limited_total Sign-ins refused unchecked (429) after too many "
        "failures from one address.\n"
        "# TYPE cohort_auth_rate_limited_total counter\n"
        "cohort_auth_rate_limited_total %" G_GUINT64_FORMAT "\n"
        "# HELP cohort_consoles_open Machine consoles open in browsers now.\n"
        "# TYPE cohort_consoles_open gauge\n"
        "cohort_consoles_open %u\n"
        "# HELP cohort_consoles_opened_total Machine consoles opened.\n"
        "# TYPE cohort_consoles_opened_total counter\n"
        "cohort_consoles_opened_total %" G_GUINT64_FORMAT "\n",
        service, self->requests, self->requests_4xx, self->requests_5xx, stats->connections_open,
        stats->connections_total, stats->timed_out, stats->refused_too_large,
        stats->refused_malformed, stats->refused_too_many,
        cohort_rate_limit_get_failed_total(self->auth_failures),
        cohort_rate_limit_get_refused_total(self->auth_failures),
        cohort_api_consoles_get_open(self->consoles),
        cohort_api_consoles_get_opened_total(self->consoles));
}

void
cohort_api_count(CohortApi *self, guint status)
{
    self->requests++;
    if (status >= 500)
        self->requests_5xx++;
    else if (status >= 400)
        self->requests_4xx++;
}

/* The request's body as one block. Most requests are GETs without one: they share an empty
 * block instead of flattening nothing into a new one each. */
static GBytes *
cohort_api_body_bytes(SoupMessageBody *body)
{
    static gsize empty = 0;

    if (body->length > 0)
        return soup_message_body_flatten(body);
    if (g_once_init_enter(&empty))
        g_once_init_leave(&empty, (gsize)g_bytes_new_static("", 0));
    return g_bytes_ref((GBytes *)empty);
}

/* Every request: its bounds, its caller, then its route (cohort-api-routes.c). */
static void
cohort_api_handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
    CohortApi *self = user_data;
    SoupMessageBody *request_body = soup_server_message_get_request_body(msg);
    const gchar *auth =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    const gboolean has_token = auth != NULL && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0;
    g_autoptr(GBytes) body = cohort_api_body_bytes(request_body);
    g_autoptr(CohortUserRow) actor = NULL;
    CohortApiRequest req = {
        .api = self,
        .msg = msg,
        .method = soup_server_message_get_method(msg),
        .query = query,
        .body_bytes = body,
    };
    guint status;

    cohort_api_static_add_headers(msg);
    req.body = g_bytes_get_data(body, &req.body_len);
    if (req.body_len > self->limits.max_body_bytes) {
        /* the guard refuses these before they are read; kept should a path bypass it */
        g_autoptr(GError) error = g_error_new(COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                                              "the request body is %" G_GSIZE_FORMAT
                                              " bytes; at most %" G_GSIZE_FORMAT " are accepted",
                                              req.body_len, self->limits.max_body_bytes);
        cohort_api_respond_error(&req, error, NULL, NULL);
    } else {
        /* A valid token passes whatever its address did: tokens cannot be guessed, and a
         * class behind one NAT address must not lose its work to one machine's bad tokens.
         * A bad one costs the address a try, and is refused (429) once none is left. The
         * health check reads no token. */
        if (has_token && g_strcmp0(path, "/healthz") != 0) {
            actor = cohort_service_authenticate(self->service, auth + 7,
                                                cohort_api_guard_token_memo(self->guard, msg));
            if (actor == NULL && !cohort_api_auth_refused(&req))
                cohort_api_auth_failed(&req);
        }
        req.actor = actor;
        if (soup_server_message_get_status(msg) != 0) {
            /* refused */
        } else if (!cohort_api_routes_dispatch(&req, path)) {
            g_autoptr(GError) error = NULL;
            /* outside the API: the web page's files */
            if (g_str_has_prefix(path, "/api/v1"))
                error = g_error_new(COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                                    "no route %s %s (see docs/api.md)", req.method, path);
            if (error != NULL || !cohort_api_static_serve(self->web, msg, path, &error))
                cohort_api_respond_error(&req, error, NULL, NULL);
        }
    }

    status = soup_server_message_get_status(msg);
    /* 0: answered later, and counted then */
    if (status != 0)
        cohort_api_count(self, status);
    /* g_debug() formats its text before it is dropped: 1 % of a request */
    if (self->log_requests)
        g_debug("%s %s -> %u", req.method, path, status);
    g_free(req.client);
}

/* The guard answered a request itself (413, 400, 429): it counts like any other. */
static void
cohort_api_guard_refused(guint status, gpointer user_data)
{
    CohortApi *self = user_data;
    cohort_api_count(self, status);
}

/* One audit entry a minute for every failed sign-in of that minute, never one per attempt:
 * anonymous clients cannot grow the database at the speed they can send requests. */
static void
cohort_api_auth_report(CohortApi *self)
{
    g_autofree gchar *report = cohort_rate_limit_take_report(self->auth_failures, NULL, NULL);
    g_autoptr(GError) result = NULL;

    if (report == NULL)
        return;
    result = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_UNAUTHENTICATED, report);
    cohort_service_audit(self->service, NULL, "auth.failed", "sign-in", result);
}

static gboolean
cohort_api_auth_report_tick(gpointer user_data)
{
    cohort_api_auth_report(user_data);
    return G_SOURCE_CONTINUE;
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
cohort_api_new(CohortService *service, const gchar *address, guint port, const gchar *tls_cert,
               const gchar *tls_key, const CohortApiLimits *limits, GError **error)
{
    const CohortApiGuardLimits guard_limits = {
        .max_body_bytes = limits->max_body_bytes,
        .request_timeout_s = limits->request_timeout_s,
        .max_connections_per_client = limits->max_connections_per_client,
    };
    g_autoptr(CohortApi) self = g_new0(CohortApi, 1);
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) sockaddr = NULL;
    g_autoptr(GSocket) listener = NULL;
    g_autoptr(GSocketAddress) bound = NULL;
    SoupServerListenOptions options = 0;

    if (inet == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "listen address '%s' is not an IP address", address);
        return NULL;
    }
    self->service = service;
    self->limits = *limits;
    self->log_requests = !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
    /* the addresses a busy lab and an attacker together could send from, well past a class */
    self->auth_failures = cohort_rate_limit_new(limits->auth_failures_per_minute, 16384);
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
    /* the console's path has a websocket handler of its own: the same checks and routes first */
    soup_server_add_handler(self->server, COHORT_API_CONSOLE_PATH, cohort_api_handle, self, NULL);
    self->consoles = cohort_api_consoles_new(self);
    self->guard = cohort_api_guard_new(self->server, &guard_limits, cohort_api_guard_refused, self);
    sockaddr = g_inet_socket_address_new(inet, (guint16)port);
    listener = cohort_api_listener_new(sockaddr, error);
    if (listener == NULL || (bound = g_socket_get_local_address(listener, error)) == NULL ||
        !soup_server_listen_socket(self->server, listener, options, error)) {
        g_prefix_error(error, "listening on %s port %u: ", address, port);
        return NULL;
    }
    self->url = g_strdup_printf(
        "%s://%s%s%s:%u", (options & SOUP_SERVER_LISTEN_HTTPS) != 0 ? "https" : "http",
        g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 ? "[" : "", address,
        g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 ? "]" : "",
        g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
    self->auth_report_timer = g_timeout_source_new_seconds(60);
    g_source_set_callback(self->auth_report_timer, cohort_api_auth_report_tick, self, NULL);
    g_source_attach(self->auth_report_timer, g_main_context_get_thread_default());
    return g_steal_pointer(&self);
}

void
cohort_api_free(CohortApi *self)
{
    if (self == NULL)
        return;
    /* requests written but not answered yet: committed and answered before the server goes */
    cohort_service_settle(self->service);
    if (self->auth_report_timer != NULL) {
        g_source_destroy(self->auth_report_timer);
        g_source_unref(self->auth_report_timer);
    }
    /* what failed since the last report is recorded, not lost with the process */
    if (self->auth_failures != NULL)
        cohort_api_auth_report(self);
    if (self->server != NULL) {
        cohort_api_consoles_free(self->consoles);
        cohort_api_guard_free(self->guard);
        soup_server_disconnect(self->server);
        g_object_unref(self->server);
    }
    cohort_rate_limit_free(self->auth_failures);
    cohort_api_static_free(self->web);
    g_free(self->url);
    g_free(self);
}

void
cohort_api_set_web_dir(CohortApi *self, const gchar *web_dir)
{
    g_clear_pointer(&self->web, cohort_api_static_free);
    if (web_dir != NULL)
        self->web = cohort_api_static_new(web_dir);
}

const gchar *
cohort_api_get_url(CohortApi *self)
{
    return self->url;
}
