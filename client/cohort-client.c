#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "cohort-client-error.h"
#include "cohort-client.h"
#include "cohort-json-scan.h"
#include "cohort-error.h"

struct _CohortClient {
    SoupSession *session;
    gchar *url; /* without a trailing slash */
    gchar *token;
};

CohortClient *
cohort_client_new(const gchar *url, const gchar *token, GError **error)
{
    g_autoptr(GUri) uri = NULL;
    g_autoptr(CohortClient) client = NULL;
    const gchar *scheme;

    uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
    scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
    if (uri == NULL || g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
        (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "'%s' is not a cohortd URL: use http://HOST:PORT or https://HOST[:PORT]", url);
        return NULL;
    }
    if (token != NULL && (strpbrk(token, "\r\n") != NULL || !g_str_is_ascii(token))) {
        g_set_error_literal(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                            "the token holds characters no Cohort token has; check "
                            "COHORT_TOKEN, --token or client.conf");
        return NULL;
    }
    client = g_new0(CohortClient, 1);
    client->session = soup_session_new_with_options(
        "timeout", COHORT_CLIENT_TIMEOUT_SECONDS, "idle-timeout", COHORT_CLIENT_TIMEOUT_SECONDS,
        "user-agent", "cohortctl/" PACKAGE_VERSION, NULL);
    client->url = g_strdup(url);
    while (g_str_has_suffix(client->url, "/"))
        client->url[strlen(client->url) - 1] = '\0';
    client->token = g_strdup(token);
    return g_steal_pointer(&client);
}

void
cohort_client_free(CohortClient *client)
{
    if (client == NULL)
        return;
    g_clear_object(&client->session);
    g_free(client->url);
    if (client->token != NULL)
        memset(client->token, 0, strlen(client->token));
    g_free(client->token);
    g_free(client);
}

const gchar *
cohort_client_get_url(CohortClient *client)
{
    return client->url;
}

gchar *
cohort_client_escape(const gchar *segment)
{
    return g_uri_escape_string(segment, NULL, FALSE);
}

/* A status without a JSON error body (a proxy's HTML page): its code from the status. */
static CohortError
cohort_client_error_from_status(guint status)
{
    switch (status) {
    case 400:
    case 422:
        return COHORT_ERROR_INVALID_ARGUMENT;
    case 401:
        return COHORT_ERROR_UNAUTHENTICATED;
    case 403:
        return COHORT_ERROR_FORBIDDEN;
    case 404:
        return COHORT_ERROR_NOT_FOUND;
    case 409:
        return COHORT_ERROR_CONFLICT;
    case 413:
        return COHORT_ERROR_PAYLOAD_TOO_LARGE;
    case 429:
        return COHORT_ERROR_RATE_LIMITED;
    case 502:
        return COHORT_ERROR_LIBVIRT;
    case 503:
        return COHORT_ERROR_HOST_UNAVAILABLE;
    default:
        return COHORT_ERROR_INTERNAL;
    }
}

static JsonNode *
cohort_client_parse(GBytes *bytes, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    gsize len = 0;
    const gchar *data = g_bytes_get_data(bytes, &len);

    if (len == 0)
        return json_node_new(JSON_NODE_NULL);
    /* an answer is bounded like a request: json-glib recurses once per level */
    if (!cohort_json_scan(data, len, COHORT_JSON_MAX_DEPTH, error))
        return NULL;
    if (!json_parser_load_from_data(parser, data, len, error))
        return NULL;
    return json_node_ref(json_parser_get_root(parser));
}

static void
cohort_client_set_server_error(GError **error, guint status, const gchar *reason, JsonNode *body)
{
    JsonObject *err = NULL;
    const gchar *code = NULL;
    const gchar *message = NULL;
    CohortError known;

    if (body != NULL && JSON_NODE_HOLDS_OBJECT(body)) {
        JsonNode *e = json_object_get_member(json_node_get_object(body), "error");
        if (e != NULL && JSON_NODE_HOLDS_OBJECT(e))
            err = json_node_get_object(e);
    }
    if (err != NULL) {
        code = json_object_get_string_member_with_default(err, "code", NULL);
        message = json_object_get_string_member_with_default(err, "message", NULL);
    }
    if (code == NULL) {
        known = cohort_client_error_from_status(status);
        g_set_error(error, COHORT_ERROR, known, "cohortd answered %u %s (%s)", status,
                    reason != NULL ? reason : "", cohort_error_code_to_string(known));
        return;
    }
    known = cohort_error_code_from_string(code);
    /* A code this client does not know yet still gets its exit code from the status. */
    if (g_strcmp0(cohort_error_code_to_string(known), code) != 0)
        known = cohort_client_error_from_status(status);
    g_set_error(error, COHORT_ERROR, known, "%s (%s)",
                message != NULL && message[0] != '\0' ? message : "request refused", code);
}

JsonNode *
cohort_client_call_full(CohortClient *client, const gchar *method, const gchar *path,
                        const gchar *content_type, GBytes *body, guint *status,
                        JsonNode **error_body, GError **error)
{
    g_autofree gchar *full = g_strconcat(client->url, path, NULL);
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) parsed = NULL;
    guint st;

    msg = soup_message_new(method, full);
    if (msg == NULL) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "'%s' is not a valid URL", full);
        return NULL;
    }
    if (client->token != NULL) {
        g_autofree gchar *auth = g_strconcat("Bearer ", client->token, NULL);
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
    }
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept",
                                 "application/json");
    if (body != NULL)
        soup_message_set_request_body_from_bytes(msg, content_type, body);
    answer = soup_session_send_and_read(client->session, msg, NULL, &local);
    if (answer == NULL) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_CONNECTION,
                    "cannot reach cohortd at %s: %s", client->url, local->message);
        return NULL;
    }
    st = soup_message_get_status(msg);
    if (status != NULL)
        *status = st;
    parsed = cohort_client_parse(answer, &local);
    if (st < 200 || st >= 300) {
        cohort_client_set_server_error(error, st, soup_message_get_reason_phrase(msg), parsed);
        if (error_body != NULL && parsed != NULL)
            *error_body = g_steal_pointer(&parsed);
        return NULL;
    }
    if (parsed == NULL) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                    "%s %s: cohortd answered something that is not JSON (%s); is %s a cohortd?",
                    method, path, local->message, client->url);
        return NULL;
    }
    return g_steal_pointer(&parsed);
}

JsonNode *
cohort_client_call(CohortClient *client, const gchar *method, const gchar *path, JsonNode *body,
                   GError **error)
{
    g_autoptr(GBytes) bytes = NULL;

    if (body != NULL) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        gsize len = 0;
        gchar *data;

        json_generator_set_root(gen, body);
        data = json_generator_to_data(gen, &len);
        bytes = g_bytes_new_take(data, len);
    }
    return cohort_client_call_full(client, method, path, "application/json", bytes, NULL, NULL,
                                   error);
}
