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
    gchar *ca_file; /* NULL: the system's CAs */
    gboolean https;
};

/* Where the CA file can be set, for messages. */
#define COHORT_CLIENT_CA_FILE_SETTINGS "--ca-file, COHORT_CA_FILE or ca_file= in client.conf"

/* The CAs of @ca_file, which must hold at least one certificate. */
static GTlsDatabase *
cohort_client_ca_database_new(const gchar *ca_file, GError **error)
{
    g_autoptr(GError) local = NULL;
    GList *certs = NULL;
    GTlsDatabase *db;

    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_set_error_literal(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_CONNECTION,
                            "this system's GIO has no TLS: install glib-networking");
        return NULL;
    }
    certs = g_tls_certificate_list_new_from_file(ca_file, &local);
    g_list_free_full(certs, g_object_unref);
    if (local == NULL && certs == NULL)
        g_set_error_literal(&local, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "it holds no PEM certificate");
    db = local == NULL ? g_tls_file_database_new(ca_file, &local) : NULL;
    if (db == NULL) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "cannot use %s as the CA file (" COHORT_CLIENT_CA_FILE_SETTINGS "): %s; "
                    "give the PEM file of the CA certificate that signed cohortd's",
                    ca_file, local->message);
        return NULL;
    }
    return db;
}

CohortClient *
cohort_client_new(const gchar *url, const gchar *token, const gchar *ca_file, GError **error)
{
    g_autoptr(GUri) uri = NULL;
    g_autoptr(CohortClient) client = NULL;
    g_autoptr(GTlsDatabase) ca_db = NULL;
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
    if (ca_file != NULL && (ca_db = cohort_client_ca_database_new(ca_file, error)) == NULL)
        return NULL;
    client = g_new0(CohortClient, 1);
    client->session = soup_session_new_with_options(
        "timeout", COHORT_CLIENT_TIMEOUT_SECONDS, "idle-timeout", COHORT_CLIENT_TIMEOUT_SECONDS,
        "user-agent", "cohortctl/" PACKAGE_VERSION, NULL);
    /* only these CAs: not the system's as well */
    if (ca_db != NULL)
        soup_session_set_tls_database(client->session, ca_db);
    client->ca_file = g_strdup(ca_file);
    client->https = g_strcmp0(scheme, "https") == 0;
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
    g_free(client->ca_file);
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

/* What the server's certificate failed, from accept-certificate (which refuses it), and how
 * far the TLS handshake went. */
typedef struct {
    gboolean refused;
    GTlsCertificateFlags errors;
    gboolean handshaking;
    gboolean handshaked;
} CohortClientTlsCheck;

static void
cohort_client_network_event(SoupMessage *msg, GSocketClientEvent event, GIOStream *connection,
                            gpointer user_data)
{
    CohortClientTlsCheck *check = user_data;

    if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING)
        check->handshaking = TRUE;
    else if (event == G_SOCKET_CLIENT_TLS_HANDSHAKED)
        check->handshaked = TRUE;
}

static gboolean
cohort_client_accept_certificate(SoupMessage *msg, GTlsCertificate *cert,
                                 GTlsCertificateFlags errors, gpointer user_data)
{
    CohortClientTlsCheck *check = user_data;

    check->refused = TRUE;
    check->errors = errors;
    return FALSE;
}

/* Why the certificate was refused, and what to change, in words. */
static gchar *
cohort_client_tls_reason(CohortClient *client, GTlsCertificateFlags errors)
{
    g_autoptr(GUri) uri = g_uri_parse(client->url, G_URI_FLAGS_NONE, NULL);
    const gchar *host = uri != NULL ? g_uri_get_host(uri) : client->url;

    if (errors & G_TLS_CERTIFICATE_UNKNOWN_CA) {
        if (client->ca_file != NULL)
            return g_strdup_printf("it is not signed by a CA in %s: give the CA that signed "
                                   "cohortd's certificate ([daemon] tls_cert) instead",
                                   client->ca_file);
        return g_strdup("it is not signed by a CA this system trusts: give the CA that signed "
                        "it with " COHORT_CLIENT_CA_FILE_SETTINGS);
    }
    if (errors & G_TLS_CERTIFICATE_BAD_IDENTITY)
        return g_strdup_printf("it is not made out to %s: use in the URL the name or address it "
                               "names, or give cohortd a certificate for %s",
                               host, host);
    if (errors & G_TLS_CERTIFICATE_NOT_ACTIVATED)
        return g_strdup("it is not valid yet: check this machine's clock and cohortd's");
    if (errors & G_TLS_CERTIFICATE_EXPIRED)
        return g_strdup("it has expired: renew cohortd's certificate ([daemon] tls_cert)");
    if (errors & G_TLS_CERTIFICATE_REVOKED)
        return g_strdup("it was revoked: give cohortd a new certificate");
    if (errors & G_TLS_CERTIFICATE_INSECURE)
        return g_strdup("it uses an insecure algorithm: give cohortd a new certificate");
    return g_strdup_printf("it does not verify (TLS flags 0x%x)", (guint)errors);
}

/* A failed request in words: a refused certificate, a URL whose scheme does not match the
 * port's, or the transport's own message. */
static void
cohort_client_set_connection_error(CohortClient *client, const CohortClientTlsCheck *check,
                                   const GError *local, GError **error)
{
    g_autofree gchar *other = NULL;

    if (check->refused) {
        g_autofree gchar *reason = cohort_client_tls_reason(client, check->errors);
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_CONNECTION,
                    "cannot reach cohortd at %s: its TLS certificate is not trusted: %s",
                    client->url, reason);
        return;
    }
    /* the scheme for the other side of a mismatch, to try */
    other = client->https ? g_strconcat("http", client->url + strlen("https"), NULL)
                          : g_strconcat("https", client->url + strlen("http"), NULL);
    /* a plain server takes the TLS hello for the start of a request: it waits for more
     * (a timeout), or answers in plain text (not TLS) */
    if (client->https && check->handshaking && !check->handshaked) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_CONNECTION,
                    "cannot reach cohortd at %s: the TLS handshake failed (%s); if cohortd "
                    "serves plain HTTP there (no [daemon] tls_cert), use %s",
                    client->url, local->message, other);
        return;
    }
    if (!client->https && (g_error_matches(local, SOUP_SESSION_ERROR, SOUP_SESSION_ERROR_PARSING) ||
                           g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
                           g_error_matches(local, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT) ||
                           g_error_matches(local, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_CONNECTION,
                    "cannot reach cohortd at %s: %s; if cohortd serves HTTPS there ([daemon] "
                    "tls_cert), use %s",
                    client->url, local->message, other);
        return;
    }
    g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_CONNECTION,
                "cannot reach cohortd at %s: %s", client->url, local->message);
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
    CohortClientTlsCheck check = {FALSE, 0};
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
    g_signal_connect(msg, "accept-certificate", G_CALLBACK(cohort_client_accept_certificate),
                     &check);
    g_signal_connect(msg, "network-event", G_CALLBACK(cohort_client_network_event), &check);
    answer = soup_session_send_and_read(client->session, msg, NULL, &local);
    if (answer == NULL) {
        cohort_client_set_connection_error(client, &check, local, error);
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
