#define G_LOG_DOMAIN "cohort-api"

#include "config.h"

#include "cohort-api-guard.h"
#include "cohort-api-stream.h"

typedef struct {
    CohortApiStreamNextFunc next;
    gpointer data;
    GDestroyNotify data_free;
    gboolean complete; /* the last piece given */
} CohortApiStream;

static void
cohort_api_stream_free(gpointer user_data, GClosure *closure)
{
    CohortApiStream *stream = user_data;

    if (stream->data_free != NULL)
        stream->data_free(stream->data);
    g_free(stream);
}

/* Appends the next piece, or ends the body after the last (never called once ended). */
static void
cohort_api_stream_push(CohortApiStream *stream, SoupServerMessage *msg)
{
    SoupMessageBody *body = soup_server_message_get_response_body(msg);
    g_autoptr(GBytes) piece = stream->next(stream->data);

    if (piece == NULL) {
        stream->complete = TRUE;
        soup_message_body_complete(body);
    } else {
        soup_message_body_append_bytes(body, piece);
    }
}

/* libsoup waits, paused, for the piece after the one it has written; the body's end is a
 * chunk too, and nothing comes after it */
static void
cohort_api_stream_wrote_chunk(SoupServerMessage *msg, gpointer user_data)
{
    CohortApiStream *stream = user_data;

    if (stream->complete)
        return;
    cohort_api_stream_push(stream, msg);
    soup_server_message_unpause(msg);
}

void
cohort_api_stream_respond(SoupServerMessage *msg, guint status, const gchar *content_type,
                          CohortApiStreamNextFunc next, gpointer data, GDestroyNotify data_free)
{
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
    CohortApiStream *stream = g_new0(CohortApiStream, 1);

    stream->next = next;
    stream->data = data;
    stream->data_free = data_free;
    soup_server_message_set_status(msg, status, cohort_api_status_phrase(status));
    soup_message_headers_set_content_type(headers, content_type, NULL);
    /* an HTTP/1.0 client reads no chunks: its body ends where the connection does */
    soup_message_headers_set_encoding(headers,
                                      soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0
                                          ? SOUP_ENCODING_EOF
                                          : SOUP_ENCODING_CHUNKED);
    /* what is written is dropped: only the piece being written is held */
    soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
    /* freed with the message: once written, or when its connection goes */
    g_signal_connect_data(msg, "wrote-chunk", G_CALLBACK(cohort_api_stream_wrote_chunk), stream,
                          cohort_api_stream_free, 0);
    cohort_api_stream_push(stream, msg);
}
