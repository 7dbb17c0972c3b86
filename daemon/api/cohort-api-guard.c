#define G_LOG_DOMAIN "cohort-api"

#include "config.h"

#include <sys/socket.h>

#include "cohort-api-guard.h"
#include "cohort-error.h"
#include "cohort-json.h"
#include "cohort-rate-limit.h"

/* After an early answer, what the client still sends is read and dropped, up to a bound and
 * for a while, so that closing does not reset the connection before the client has read the
 * answer. */
#define COHORT_API_GUARD_LINGER_BYTES (1024 * 1024)
/* A body whose length was announced is read to its end (up to this): its client is sending it
 * all before it reads the answer. */
#define COHORT_API_GUARD_LINGER_ANNOUNCED_MAX (64 * 1024 * 1024)
#define COHORT_API_GUARD_LINGER_S 5

/* One connection, from its first request until its socket is closed. libsoup says nothing
 * when it closes a connection, so the socket is held and looked at: the records of closed
 * sockets are dropped whenever a connection arrives (cohort_api_guard_sweep). */
typedef struct {
    CohortApiGuard *guard;
    GSocket *socket; /* owned */
    gchar *client;
    gint64 deadline_at;         /* monotonic µs by which a whole request must have come; 0: none */
    gboolean over_limit;        /* to be answered 429, at once, with no request read */
    GSource *refusal;           /* the idle that answers it */
    SoupServerMessage *refused; /* its first message, owned while the refusal waits */
    CohortAuthTokenMemo token_memo;
} CohortApiGuardConnection;

struct _CohortApiGuard {
    SoupServer *server;
    CohortApiGuardLimits limits;
    CohortApiGuardStats stats;
    GHashTable *connections; /* GSocket * -> CohortApiGuardConnection */
    GHashTable *per_client;  /* client key -> number of open connections */
    /* One source for every connection's deadline, ready at the earliest: a timeout source
     * made and destroyed twice per request was a tenth of what the guard and the main loop
     * spent on a request under load (issue 14). */
    GSource *deadlines;
    gulong handlers[4];
    /* SoupServerMessage::got-headers, for every message of the process (the messages of
     * this guard's server carry it as their qdata): one hook instead of a handler connected
     * to each message, ~1.5 k instructions a request (issue 14) */
    gpointer message_class;
    guint got_headers_signal;
    gulong got_headers_hook;
    CohortApiGuardRefusedFunc refused;
    gpointer refused_data;
};

static void
cohort_api_guard_refusal_clear(CohortApiGuardConnection *conn)
{
    if (conn->refusal != NULL) {
        g_source_destroy(conn->refusal);
        g_clear_pointer(&conn->refusal, g_source_unref);
    }
    g_clear_object(&conn->refused);
}

static void
cohort_api_guard_connection_free(CohortApiGuardConnection *conn)
{
    CohortApiGuard *self = conn->guard;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->per_client, conn->client));

    cohort_api_guard_refusal_clear(conn);
    cohort_auth_token_memo_clear(&conn->token_memo);
    if (n <= 1)
        g_hash_table_remove(self->per_client, conn->client);
    else
        g_hash_table_replace(self->per_client, g_strdup(conn->client), GUINT_TO_POINTER(n - 1));
    self->stats.connections_open--;
    g_object_unref(conn->socket);
    g_free(conn->client);
    g_free(conn);
}

/* Drops the records of connections libsoup has closed. */
static void
cohort_api_guard_sweep(CohortApiGuard *self)
{
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, self->connections);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (g_socket_is_closed(key))
            g_hash_table_iter_remove(&iter);
    }
}

/* The peer has closed its side and libsoup has not read the end yet. */
static gboolean
cohort_api_guard_peer_closed(GSocket *socket)
{
    gchar byte;
    return recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Before refusing @client for its connections: those it has closed already do not count,
 * even when libsoup has not seen them end (a client that closes one connection and opens
 * the next at once). */
static guint
cohort_api_guard_sweep_client(CohortApiGuard *self, const gchar *client)
{
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    g_hash_table_iter_init(&iter, self->connections);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        CohortApiGuardConnection *conn = value;
        if (g_strcmp0(conn->client, client) == 0 &&
            (g_socket_is_closed(key) || cohort_api_guard_peer_closed(key)))
            g_hash_table_iter_remove(&iter);
    }
    return GPOINTER_TO_UINT(g_hash_table_lookup(self->per_client, client));
}

/* The connections whose deadline has passed are closed (or forgotten, when closed already);
 * the source is then ready at the earliest deadline left. */
static gboolean
cohort_api_guard_deadlines_passed(gpointer user_data)
{
    CohortApiGuard *self = user_data;
    const gint64 now = g_get_monotonic_time();
    gint64 next = G_MAXINT64;
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, self->connections);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortApiGuardConnection *conn = value;

        if (conn->deadline_at == 0)
            continue;
        if (conn->deadline_at > now) {
            next = MIN(next, conn->deadline_at);
            continue;
        }
        conn->deadline_at = 0;
        if (g_socket_is_closed(conn->socket)) {
            g_hash_table_iter_remove(&iter);
            continue;
        }
        g_debug("closing a connection from %s: no whole request within %u s", conn->client,
                self->limits.request_timeout_s);
        self->stats.timed_out++;
        /* libsoup sees the end of the stream and closes the connection */
        g_socket_shutdown(conn->socket, TRUE, TRUE, NULL);
    }
    g_source_set_ready_time(self->deadlines, next == G_MAXINT64 ? -1 : next);
    return G_SOURCE_CONTINUE;
}

static gboolean
cohort_api_guard_deadlines_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    return callback(user_data);
}

static GSourceFuncs cohort_api_guard_deadlines_funcs = {
    .dispatch = cohort_api_guard_deadlines_dispatch,
};

/* Pushing a deadline later leaves the source ready earlier: it then finds nothing due and
 * waits for the earliest left. */
static void
cohort_api_guard_deadline_restart(CohortApiGuardConnection *conn)
{
    GSource *deadlines = conn->guard->deadlines;
    gint64 ready = g_source_get_ready_time(deadlines);

    conn->deadline_at =
        g_get_monotonic_time() + (gint64)conn->guard->limits.request_timeout_s * G_USEC_PER_SEC;
    if (ready < 0 || ready > conn->deadline_at)
        g_source_set_ready_time(deadlines, conn->deadline_at);
}

static CohortApiGuardConnection *
cohort_api_guard_lookup(CohortApiGuard *self, SoupServerMessage *msg)
{
    GSocket *socket = soup_server_message_get_socket(msg);
    return socket != NULL ? g_hash_table_lookup(self->connections, socket) : NULL;
}

const gchar *
cohort_api_status_phrase(guint status)
{
    /* libsoup 3.2 knows no phrase for 429 */
    return status == 429 ? "Too Many Requests" : soup_status_get_phrase(status);
}

/* --- answering early ------------------------------------------------------------------ */

typedef struct {
    GIOStream *stream;
    GBytes *answer;
    GCancellable *cancellable; /* cancelled when the linger time is over */
    GSource *timeout;
    guint8 sink[8192];
    gsize drained;
    gsize drain_max;
} CohortApiGuardEarly;

static void
cohort_api_guard_early_closed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortApiGuardEarly *early = user_data;

    g_io_stream_close_finish(G_IO_STREAM(source), result, NULL);
    g_object_unref(early->stream);
    g_object_unref(early->cancellable);
    g_bytes_unref(early->answer);
    g_free(early);
}

static void
cohort_api_guard_early_close(CohortApiGuardEarly *early)
{
    g_source_destroy(early->timeout);
    g_clear_pointer(&early->timeout, g_source_unref);
    g_io_stream_close_async(early->stream, G_PRIORITY_DEFAULT, NULL, cohort_api_guard_early_closed,
                            early);
}

static gboolean
cohort_api_guard_early_timeout(gpointer user_data)
{
    CohortApiGuardEarly *early = user_data;

    /* the pending write or read ends, cancelled, and closes the stream */
    g_cancellable_cancel(early->cancellable);
    return G_SOURCE_CONTINUE;
}

static void cohort_api_guard_early_read(CohortApiGuardEarly *early);

static void
cohort_api_guard_early_drained(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortApiGuardEarly *early = user_data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

    if (n > 0 && !g_cancellable_is_cancelled(early->cancellable)) {
        early->drained += (gsize)n;
        if (early->drained < early->drain_max) {
            cohort_api_guard_early_read(early);
            return;
        }
    }
    cohort_api_guard_early_close(early);
}

static void
cohort_api_guard_early_read(CohortApiGuardEarly *early)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(early->stream), early->sink,
                              sizeof(early->sink), G_PRIORITY_DEFAULT, early->cancellable,
                              cohort_api_guard_early_drained, early);
}

static void
cohort_api_guard_early_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortApiGuardEarly *early = user_data;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL)) {
        cohort_api_guard_early_close(early);
        return;
    }
    /* what the client still sends is dropped for a while: closing with unread bytes would
     * reset the connection, and the client might lose the answer */
    cohort_api_guard_early_read(early);
}

/* Writes @error as a whole HTTP answer on @stream (taken), then closes it. */
static void
cohort_api_guard_answer_on(CohortApiGuard *self, GIOStream *stream, const GError *error,
                           gsize drain_max)
{
    g_autoptr(JsonNode) node = cohort_json_error(error);
    g_autofree gchar *body = cohort_json_to_string(node, FALSE);
    guint status = cohort_error_code_to_http_status((CohortError)error->code);
    GString *answer = g_string_new(NULL);
    CohortApiGuardEarly *early;

    g_string_append_printf(answer,
                           "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: "
                           "%" G_GSIZE_FORMAT "\r\nConnection: close\r\nServer: cohortd/%s\r\n"
                           "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n",
                           status, cohort_api_status_phrase(status), strlen(body), PACKAGE_VERSION);
    g_string_append(answer, body);
    g_debug("refusing a request early: %u %s", status, error->message);
    if (self->refused != NULL)
        self->refused(status, self->refused_data);
    early = g_new0(CohortApiGuardEarly, 1);
    early->stream = stream;
    early->answer = g_string_free_to_bytes(answer);
    early->cancellable = g_cancellable_new();
    early->drain_max = drain_max;
    /* a client that reads nothing holds the connection no longer than that */
    early->timeout = g_timeout_source_new_seconds(COHORT_API_GUARD_LINGER_S);
    g_source_set_callback(early->timeout, cohort_api_guard_early_timeout, early, NULL);
    g_source_attach(early->timeout, g_main_context_get_thread_default());
    g_output_stream_write_all_async(g_io_stream_get_output_stream(stream),
                                    g_bytes_get_data(early->answer, NULL),
                                    g_bytes_get_size(early->answer), G_PRIORITY_DEFAULT,
                                    early->cancellable, cohort_api_guard_early_written, early);
}

/* Answers @msg with @error now and takes its connection from libsoup, which then reads
 * nothing more of it. */
static void
cohort_api_guard_answer_early(CohortApiGuard *self, SoupServerMessage *msg, const GError *error)
{
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    gsize drain_max = COHORT_API_GUARD_LINGER_BYTES;
    GIOStream *stream;

    if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH)
        drain_max =
            (gsize)CLAMP(soup_message_headers_get_content_length(headers),
                         COHORT_API_GUARD_LINGER_BYTES, COHORT_API_GUARD_LINGER_ANNOUNCED_MAX);
    stream = soup_server_message_steal_connection(msg);
    if (stream != NULL)
        cohort_api_guard_answer_on(self, stream, error, drain_max);
}

/* --- the checks ----------------------------------------------------------------------- */

static void
cohort_api_guard_refuse_body(CohortApiGuard *self, SoupServerMessage *msg, goffset len)
{
    g_autoptr(GError) error = NULL;

    if (len >= 0)
        error = g_error_new(COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                            "the request body is %" G_GOFFSET_FORMAT
                            " bytes; at most %" G_GSIZE_FORMAT " are accepted",
                            len, self->limits.max_body_bytes);
    else
        error =
            g_error_new(COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                        "the request body is longer than the %" G_GSIZE_FORMAT " bytes accepted",
                        self->limits.max_body_bytes);
    self->stats.refused_too_large++;
    cohort_api_guard_answer_early(self, msg, error);
}

/* One connection too many for its address: answered 429 and closed. */
static void
cohort_api_guard_refuse_connection(CohortApiGuardConnection *conn, SoupServerMessage *msg)
{
    CohortApiGuard *self = conn->guard;
    g_autoptr(GError) error =
        g_error_new(COHORT_ERROR, COHORT_ERROR_RATE_LIMITED,
                    "%s holds %u connections to cohortd already, the most one address may: "
                    "close some (or raise [daemon] max_connections_per_client)",
                    conn->client, self->limits.max_connections_per_client);
    g_autoptr(SoupServerMessage) keep = g_object_ref(msg);

    conn->over_limit = FALSE;
    cohort_api_guard_refusal_clear(conn);
    self->stats.refused_too_many++;
    cohort_api_guard_answer_early(self, keep, error);
}

/* Refuses an over-limit connection as soon as libsoup has set it up, without waiting for a
 * request that may never come. */
static gboolean
cohort_api_guard_refusal_due(gpointer user_data)
{
    CohortApiGuardConnection *conn = user_data;
    g_autoptr(SoupServerMessage) msg = g_steal_pointer(&conn->refused);

    g_clear_pointer(&conn->refusal, g_source_unref);
    if (conn->over_limit)
        cohort_api_guard_refuse_connection(conn, msg);
    return G_SOURCE_REMOVE;
}

static void
cohort_api_guard_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
    CohortApiGuard *self = user_data;
    SoupMessageBody *body = soup_server_message_get_request_body(msg);

    /* a chunked body (or one longer than it said) stops at the bound, not at its end */
    if (body->length > (goffset)self->limits.max_body_bytes)
        cohort_api_guard_refuse_body(self, msg, -1);
}

/* the qdata that says which guard a message's server has */
static GQuark
cohort_api_guard_quark(void)
{
    static gsize quark = 0;

    if (g_once_init_enter(&quark))
        g_once_init_leave(&quark, g_quark_from_static_string("cohort-api-guard"));
    return (GQuark)quark;
}

static void
cohort_api_guard_got_headers(CohortApiGuard *self, SoupServerMessage *msg)
{
    CohortApiGuardConnection *conn = cohort_api_guard_lookup(self, msg);
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    const gchar *lengths = soup_message_headers_get_list(headers, "Content-Length");
    const gchar *codings = soup_message_headers_get_list(headers, "Transfer-Encoding");

    if (conn != NULL && conn->over_limit) {
        cohort_api_guard_refuse_connection(conn, msg);
        return;
    }
    /* what a proxy in front could read otherwise than cohortd does: refused, never guessed */
    if ((lengths != NULL && strchr(lengths, ',') != NULL) || (lengths != NULL && codings != NULL)) {
        g_autoptr(GError) error = g_error_new_literal(
            COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
            lengths != NULL && codings != NULL
                ? "the request has both Content-Length and Transfer-Encoding: send one"
                : "the request has conflicting Content-Length headers: send one");
        self->stats.refused_malformed++;
        cohort_api_guard_answer_early(self, msg, error);
        return;
    }
    if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(headers) > (goffset)self->limits.max_body_bytes) {
        cohort_api_guard_refuse_body(self, msg, soup_message_headers_get_content_length(headers));
        return;
    }
    /* only a request with a body has chunks to count (most are GETs: one handler less each) */
    if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_NONE &&
        !(soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH &&
          soup_message_headers_get_content_length(headers) == 0))
        g_signal_connect(msg, "got-chunk", G_CALLBACK(cohort_api_guard_got_chunk), self);
}

/* Emitted before the message's handlers (libsoup's own among them), as a handler connected
 * after them was: what it checks, libsoup's handler does not change. */
static gboolean
cohort_api_guard_got_headers_hook(GSignalInvocationHint *hint, guint n_values, const GValue *values,
                                  gpointer user_data)
{
    CohortApiGuard *self = user_data;
    SoupServerMessage *msg = g_value_get_object(&values[0]);

    if (g_object_get_qdata(G_OBJECT(msg), cohort_api_guard_quark()) == self)
        cohort_api_guard_got_headers(self, msg);
    return TRUE;
}

/* --- the server's signals ------------------------------------------------------------- */

/* libsoup before 3.4 keeps the reference g_socket_accept() gave it on every connection it
 * accepts (soup-listener.c, fixed upstream by b545d5f0 "soup-listener: Plug a leak", in
 * 3.4.0): ~340 bytes lost per connection for as long as cohortd runs. Debian 12 has 3.2.3.
 * The first request of a connection starts before libsoup wraps the socket in a stream, when
 * only the lost reference and the connection's own hold it; that one is dropped then, and
 * only when the count says it is there, so that a fixed libsoup is never short of one. */
static void
cohort_api_guard_drop_accept_reference(GSocket *socket)
{
    static const guint leaked_count = 2; /* the lost one + SoupServerConnection's */

    if (soup_get_major_version() == 3 && soup_get_minor_version() < 4 &&
        g_atomic_int_get(&G_OBJECT(socket)->ref_count) == leaked_count)
        g_object_unref(socket);
}

static void
cohort_api_guard_request_started(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    CohortApiGuard *self = user_data;
    GSocket *socket = soup_server_message_get_socket(msg);
    CohortApiGuardConnection *conn;
    guint n;

    g_object_set_qdata(G_OBJECT(msg), cohort_api_guard_quark(), self);
    /* a connection's first request starts when it is accepted; later ones are known */
    if (socket == NULL || g_hash_table_contains(self->connections, socket))
        return;
    cohort_api_guard_sweep(self);
    cohort_api_guard_drop_accept_reference(socket);
    conn = g_new0(CohortApiGuardConnection, 1);
    conn->guard = self;
    conn->socket = g_object_ref(socket);
    conn->client = cohort_rate_limit_client_key(soup_server_message_get_remote_address(msg));
    n = GPOINTER_TO_UINT(g_hash_table_lookup(self->per_client, conn->client));
    if (n >= self->limits.max_connections_per_client)
        n = cohort_api_guard_sweep_client(self, conn->client);
    n++;
    g_hash_table_replace(self->per_client, g_strdup(conn->client), GUINT_TO_POINTER(n));
    self->stats.connections_open++;
    self->stats.connections_total++;
    g_hash_table_insert(self->connections, socket, conn);
    cohort_api_guard_deadline_restart(conn);
    if (n > self->limits.max_connections_per_client) {
        /* libsoup connects the message once this signal returns */
        conn->over_limit = TRUE;
        conn->refused = g_object_ref(msg);
        conn->refusal = g_idle_source_new();
        g_source_set_callback(conn->refusal, cohort_api_guard_refusal_due, conn, NULL);
        g_source_attach(conn->refusal, g_main_context_get_thread_default());
    }
}

/* A whole request read, or an answer written: the next one has request_timeout_s again. */
static void
cohort_api_guard_request_progress(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    CohortApiGuardConnection *conn = cohort_api_guard_lookup(user_data, msg);

    if (conn != NULL)
        cohort_api_guard_deadline_restart(conn);
}

CohortApiGuard *
cohort_api_guard_new(SoupServer *server, const CohortApiGuardLimits *limits,
                     CohortApiGuardRefusedFunc refused, gpointer user_data)
{
    CohortApiGuard *self = g_new0(CohortApiGuard, 1);

    self->server = server;
    self->limits = *limits;
    self->refused = refused;
    self->refused_data = user_data;
    self->connections = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                              (GDestroyNotify)cohort_api_guard_connection_free);
    self->per_client = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->deadlines = g_source_new(&cohort_api_guard_deadlines_funcs, sizeof(GSource));
    g_source_set_callback(self->deadlines, cohort_api_guard_deadlines_passed, self, NULL);
    g_source_set_ready_time(self->deadlines, -1);
    g_source_attach(self->deadlines, g_main_context_get_thread_default());
    self->handlers[0] = g_signal_connect(server, "request-started",
                                         G_CALLBACK(cohort_api_guard_request_started), self);
    self->handlers[1] = g_signal_connect(server, "request-read",
                                         G_CALLBACK(cohort_api_guard_request_progress), self);
    self->handlers[2] = g_signal_connect(server, "request-finished",
                                         G_CALLBACK(cohort_api_guard_request_progress), self);
    self->handlers[3] = g_signal_connect(server, "request-aborted",
                                         G_CALLBACK(cohort_api_guard_request_progress), self);
    /* the class makes its signals when first used: before the first message, here */
    self->message_class = g_type_class_ref(SOUP_TYPE_SERVER_MESSAGE);
    self->got_headers_signal = g_signal_lookup("got-headers", SOUP_TYPE_SERVER_MESSAGE);
    self->got_headers_hook = g_signal_add_emission_hook(
        self->got_headers_signal, 0, cohort_api_guard_got_headers_hook, self, NULL);
    return self;
}

void
cohort_api_guard_free(CohortApiGuard *self)
{
    if (self == NULL)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(self->handlers); i++)
        g_signal_handler_disconnect(self->server, self->handlers[i]);
    g_signal_remove_emission_hook(self->got_headers_signal, self->got_headers_hook);
    g_type_class_unref(self->message_class);
    g_source_destroy(self->deadlines);
    g_source_unref(self->deadlines);
    g_hash_table_unref(self->connections);
    g_hash_table_unref(self->per_client);
    g_free(self);
}

void
cohort_api_guard_release(CohortApiGuard *self, GSocket *socket)
{
    if (socket != NULL)
        g_hash_table_remove(self->connections, socket);
}

CohortAuthTokenMemo *
cohort_api_guard_token_memo(CohortApiGuard *self, SoupServerMessage *msg)
{
    CohortApiGuardConnection *conn = cohort_api_guard_lookup(self, msg);

    return conn != NULL ? &conn->token_memo : NULL;
}

const CohortApiGuardStats *
cohort_api_guard_get_stats(CohortApiGuard *self)
{
    /* connections that closed since the last one arrived are not open any more */
    cohort_api_guard_sweep(self);
    return &self->stats;
}
