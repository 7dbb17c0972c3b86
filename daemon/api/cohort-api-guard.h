/* What a client may cost cohortd before a request reaches a route: the size of a body (from
 * its Content-Length before it is read, and while a chunked body arrives), the time to send a
 * complete request (idle keep-alive connections included), and the connections one client
 * address holds open. A request over a bound is answered at once with a JSON error and its
 * connection closed; libsoup never reads the rest. */
#pragma once

#include <libsoup/soup.h>

#include "cohort-auth.h"

G_BEGIN_DECLS

typedef struct {
    gsize max_body_bytes;
    guint request_timeout_s;          /* from connecting or the last answer to a whole request */
    guint max_connections_per_client; /* per client key (cohort_rate_limit_client_key) */
} CohortApiGuardLimits;

typedef struct {
    guint64 connections_open;
    guint64 connections_total;
    guint64 timed_out;         /* connections closed for not sending a request in time */
    guint64 refused_too_large; /* 413 */
    guint64 refused_malformed; /* 400: conflicting Content-Length, Transfer-Encoding */
    guint64 refused_too_many;  /* 429: the client's address held too many connections */
} CohortApiGuardStats;

typedef struct _CohortApiGuard CohortApiGuard;

/* Called with the status of every request the guard answers itself. */
typedef void (*CohortApiGuardRefusedFunc)(guint status, gpointer user_data);

/* Watches every connection and request of @server (which it does not own). */
CohortApiGuard *cohort_api_guard_new(SoupServer *server, const CohortApiGuardLimits *limits,
                                     CohortApiGuardRefusedFunc refused, gpointer user_data);
void cohort_api_guard_free(CohortApiGuard *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortApiGuard, cohort_api_guard_free)

const CohortApiGuardStats *cohort_api_guard_get_stats(CohortApiGuard *self);
/* The connection of @socket is no request's any more (a websocket took it): no deadline, no
 * count against its client's connections. */
void cohort_api_guard_release(CohortApiGuard *self, GSocket *socket);

/* The token memo of @msg's connection (cohort-auth.h), forgotten when the connection closes;
 * NULL when the guard does not know the connection. */
CohortAuthTokenMemo *cohort_api_guard_token_memo(CohortApiGuard *self, SoupServerMessage *msg);

/* The reason phrase of @status, 429 included. */
const gchar *cohort_api_status_phrase(guint status);

G_END_DECLS
