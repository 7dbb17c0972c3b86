/* An answer written a piece at a time, each piece made once the connection has taken the one
 * before: a long answer (usage, 10 cohorts of 1,000 trainees) is never whole in memory. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* The next piece of the answer (a new reference), or NULL once it is all given. */
typedef GBytes *(*CohortApiStreamNextFunc)(gpointer data);

/* Answers @msg with @status and @content_type, chunked (to an HTTP/1.0 client: until the
 * connection closes), its body from @next; @data is freed with @data_free once the answer
 * is written, or the connection gone. */
void cohort_api_stream_respond(SoupServerMessage *msg, guint status, const gchar *content_type,
                               CohortApiStreamNextFunc next, gpointer data,
                               GDestroyNotify data_free);

G_END_DECLS
