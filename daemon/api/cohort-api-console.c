#define G_LOG_DOMAIN "cohort-api"

#include "config.h"

#include "cohort-api-console.h"
#include "cohort-api-private.h"
#include "cohort-error.h"

/* What one console's VNC side may hold that the browser has sent and the server not yet
 * read; more, and the console is closed (a client that floods, a server that stalls). */
#define COHORT_API_CONSOLE_QUEUE_MAX (1024 * 1024)
#define COHORT_API_CONSOLE_READ 65536
/* How often an open console's holder is checked again: their access, the machine running. */
#define COHORT_API_CONSOLE_CHECK_S 2
/* Consoles one user may hold open at once: a trainer watching a class of 40, with room. */
#define COHORT_API_CONSOLES_PER_USER 64

struct _CohortApiConsoles {
    CohortApi *api;
    GHashTable *open; /* CohortApiConsole * */
    GSource *check;
    guint64 opened_total;
};

typedef struct {
    guint refs; /* the open table's, and one per operation under way; main thread only */
    CohortApiConsoles *owner; /* NULL once the owner is gone */
    SoupWebsocketConnection *ws;
    GSocketConnection *vnc; /* NULL until libvirt gave the socket */
    GCancellable *cancellable;
    gint64 user_id;
    gint64 machine_id;
    guint8 buffer[COHORT_API_CONSOLE_READ];
    GQueue *to_vnc; /* of GBytes, the browser's, waiting for the VNC server */
    gsize to_vnc_bytes;
    gboolean writing;
    gboolean closed;
} CohortApiConsole;

/* The request a console's websocket opens with, kept on its message until the upgrade. */
typedef struct {
    gint64 user_id;
    gint64 machine_id;
} CohortApiConsoleTicket;

static CohortApiConsole *
cohort_api_console_ref(CohortApiConsole *console)
{
    console->refs++;
    return console;
}

static void
cohort_api_console_unref(CohortApiConsole *console)
{
    if (--console->refs > 0)
        return;
    if (console->vnc != NULL)
        g_io_stream_close_async(G_IO_STREAM(console->vnc), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
    g_clear_object(&console->vnc);
    g_signal_handlers_disconnect_by_data(console->ws, console);
    g_clear_object(&console->ws);
    g_clear_object(&console->cancellable);
    g_queue_free_full(console->to_vnc, (GDestroyNotify)g_bytes_unref);
    g_free(console);
}

/* Ends it: what is under way stops (cancelled), the browser is told why. */
static void
cohort_api_console_close(CohortApiConsole *console, gushort code, const gchar *why)
{
    if (console->closed)
        return;
    console->closed = TRUE;
    g_debug("console of machine %" G_GINT64_FORMAT ": closing: %s", console->machine_id, why);
    g_cancellable_cancel(console->cancellable);
    if (soup_websocket_connection_get_state(console->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(console->ws, code, why);
    /* the table's reference goes with the websocket's "closed" */
}

/* --- the VNC side ------------------------------------------------------------------- */

static void cohort_api_console_write_next(CohortApiConsole *console);

static void
cohort_api_console_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortApiConsole *console = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) sent = g_queue_pop_head(console->to_vnc);

    console->writing = FALSE;
    console->to_vnc_bytes -= g_bytes_get_size(sent);
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error))
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                 "the machine's console went away");
    else
        cohort_api_console_write_next(console);
    cohort_api_console_unref(console);
}

static void
cohort_api_console_write_next(CohortApiConsole *console)
{
    GBytes *next = g_queue_peek_head(console->to_vnc);

    if (console->writing || next == NULL || console->vnc == NULL || console->closed)
        return;
    console->writing = TRUE;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(console->vnc)),
                                    g_bytes_get_data(next, NULL), g_bytes_get_size(next),
                                    G_PRIORITY_DEFAULT, console->cancellable,
                                    cohort_api_console_written, cohort_api_console_ref(console));
}

static void cohort_api_console_read_next(CohortApiConsole *console);

static void
cohort_api_console_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortApiConsole *console = user_data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (n <= 0) {
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                 "the machine's console closed");
    } else if (!console->closed) {
        soup_websocket_connection_send_binary(console->ws, console->buffer, (gsize)n);
        cohort_api_console_read_next(console);
    }
    cohort_api_console_unref(console);
}

static void
cohort_api_console_read_next(CohortApiConsole *console)
{
    if (console->closed)
        return;
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(console->vnc)),
                              console->buffer, sizeof(console->buffer), G_PRIORITY_DEFAULT,
                              console->cancellable, cohort_api_console_read,
                              cohort_api_console_ref(console));
}

static void
cohort_api_console_opened(GSocket *socket, const GError *error, gpointer user_data)
{
    CohortApiConsole *console = user_data;

    if (console->closed) {
        /* the browser left while libvirt was asked */
    } else if (socket == NULL) {
        g_autofree gchar *why = g_strdup_printf("no console: %s", error->message);
        /* a close reason is at most 123 bytes */
        if (strlen(why) > 120)
            why[120] = '\0';
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR, why);
    } else {
        console->vnc = g_socket_connection_factory_create_connection(socket);
        cohort_api_console_read_next(console);
        cohort_api_console_write_next(console);
    }
    cohort_api_console_unref(console);
}

/* --- the browser's side ------------------------------------------------------------- */

static void
cohort_api_console_message(SoupWebsocketConnection *ws, gint type, GBytes *message,
                           gpointer user_data)
{
    CohortApiConsole *console = user_data;

    if (console->closed)
        return;
    if (type != SOUP_WEBSOCKET_DATA_BINARY) {
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA,
                                 "a console takes binary frames only");
        return;
    }
    if (console->to_vnc_bytes + g_bytes_get_size(message) > COHORT_API_CONSOLE_QUEUE_MAX) {
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_TOO_BIG,
                                 "the console's server does not read what is sent");
        return;
    }
    g_queue_push_tail(console->to_vnc, g_bytes_ref(message));
    console->to_vnc_bytes += g_bytes_get_size(message);
    cohort_api_console_write_next(console);
}

static void
cohort_api_console_ws_closed(SoupWebsocketConnection *ws, gpointer user_data)
{
    CohortApiConsole *console = user_data;

    console->closed = TRUE;
    g_cancellable_cancel(console->cancellable);
    /* what is under way holds its own reference, and ends (cancelled) */
    if (console->owner != NULL)
        g_hash_table_remove(console->owner->open, console);
}

static guint
cohort_api_consoles_of(CohortApiConsoles *self, gint64 user_id)
{
    GHashTableIter iter;
    gpointer key;
    guint n = 0;

    g_hash_table_iter_init(&iter, self->open);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        CohortApiConsole *console = key;
        if (console->user_id == user_id && !console->closed)
            n++;
    }
    return n;
}

static void
cohort_api_consoles_upgraded(SoupServer *server, SoupServerMessage *msg, const char *path,
                             SoupWebsocketConnection *ws, gpointer user_data)
{
    CohortApiConsoles *self = user_data;
    CohortApiConsoleTicket *ticket = g_object_get_data(G_OBJECT(msg), "cohort-console");
    CohortApiConsole *console;

    /* the connection is the console's now: no request deadline any more */
    cohort_api_guard_release(self->api->guard, soup_server_message_get_socket(msg));
    cohort_api_count(self->api, 101);
    if (ticket == NULL) {
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "no ticket");
        return;
    }
    console = g_new0(CohortApiConsole, 1);
    console->refs = 1; /* the open table's */
    console->owner = self;
    console->ws = g_object_ref(ws);
    console->cancellable = g_cancellable_new();
    console->user_id = ticket->user_id;
    console->machine_id = ticket->machine_id;
    console->to_vnc = g_queue_new();
    g_hash_table_add(self->open, console);
    self->opened_total++;
    soup_websocket_connection_set_keepalive_interval(ws, 30);
    g_signal_connect(ws, "message", G_CALLBACK(cohort_api_console_message), console);
    g_signal_connect(ws, "closed", G_CALLBACK(cohort_api_console_ws_closed), console);
    if (cohort_api_consoles_of(self, console->user_id) > COHORT_API_CONSOLES_PER_USER) {
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                 "too many consoles open: close one first");
        return;
    }
    cohort_service_console_open_async(self->api->service, console->user_id, console->machine_id,
                                      cohort_api_console_opened, cohort_api_console_ref(console));
}

/* Every open console's holder again: a machine that stopped or went, access that ended, and
 * its console closes. */
static gboolean
cohort_api_consoles_check(gpointer user_data)
{
    CohortApiConsoles *self = user_data;
    g_autoptr(GPtrArray) ending = g_ptr_array_new();
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, self->open);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        CohortApiConsole *console = key;
        g_autoptr(GError) error = NULL;
        if (!console->closed &&
            !cohort_service_console_allowed(self->api->service, console->user_id,
                                            console->machine_id, &error))
            g_ptr_array_add(ending, console);
    }
    for (guint i = 0; i < ending->len; i++)
        cohort_api_console_close(g_ptr_array_index(ending, i), SOUP_WEBSOCKET_CLOSE_NORMAL,
                                 "the machine stopped, or this console is not yours any more");
    return G_SOURCE_CONTINUE;
}

void
cohort_api_console_accept(CohortApiRequest *req, const gchar *ticket)
{
    g_autoptr(GError) error = NULL;
    CohortApiConsoleTicket *taken;

    if (!soup_websocket_server_check_handshake(req->msg, NULL,
                                               (char **)cohort_api_console_protocols, NULL, NULL)) {
        /* a plain request: whether the ticket is good, without spending it */
        if (!cohort_service_console_ticket_check(req->api->service, ticket, &error)) {
            cohort_api_respond_error(req, error, NULL, NULL);
            return;
        }
        g_set_error_literal(&error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "a console opens as a websocket (the page does it; noVNC or "
                            "websockify clients too): this ticket still works");
        cohort_api_respond_error(req, error, NULL, NULL);
        return;
    }
    taken = g_new0(CohortApiConsoleTicket, 1);
    if (!cohort_service_console_ticket_take(req->api->service, ticket, &taken->user_id,
                                            &taken->machine_id, &error)) {
        g_free(taken);
        cohort_api_respond_error(req, error, NULL, NULL);
        return;
    }
    /* libsoup answers the handshake once this returns without a status */
    g_object_set_data_full(G_OBJECT(req->msg), "cohort-console", taken, g_free);
}

const gchar *const cohort_api_console_protocols[] = {"binary", NULL};

CohortApiConsoles *
cohort_api_consoles_new(CohortApi *api)
{
    CohortApiConsoles *self = g_new0(CohortApiConsoles, 1);

    self->api = api;
    self->open = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       (GDestroyNotify)cohort_api_console_unref);
    soup_server_add_websocket_handler(api->server, COHORT_API_CONSOLE_PATH, NULL,
                                      (char **)cohort_api_console_protocols,
                                      cohort_api_consoles_upgraded, self, NULL);
    self->check = g_timeout_source_new_seconds(COHORT_API_CONSOLE_CHECK_S);
    g_source_set_callback(self->check, cohort_api_consoles_check, self, NULL);
    g_source_attach(self->check, g_main_context_get_thread_default());
    return self;
}

void
cohort_api_consoles_free(CohortApiConsoles *self)
{
    GHashTableIter iter;
    gpointer key;

    if (self == NULL)
        return;
    g_source_destroy(self->check);
    g_source_unref(self->check);
    soup_server_remove_handler(self->api->server, COHORT_API_CONSOLE_PATH);
    /* what is still open is told, and goes with its last reference */
    g_hash_table_iter_init(&iter, self->open);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        CohortApiConsole *console = key;
        console->owner = NULL;
        cohort_api_console_close(console, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "cohortd stops");
    }
    g_hash_table_unref(self->open);
    g_free(self);
}

guint
cohort_api_consoles_get_open(CohortApiConsoles *self)
{
    return g_hash_table_size(self->open);
}

guint64
cohort_api_consoles_get_opened_total(CohortApiConsoles *self)
{
    return self->opened_total;
}
