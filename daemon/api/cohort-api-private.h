/* Shared by the API's files only: the server object, one request as a route sees it, and
 * the ways a route answers. */
#pragma once

#include <libsoup/soup.h>

#include "cohort-api-guard.h"
#include "cohort-api-static.h"
#include "cohort-api.h"
#include "cohort-rate-limit.h"
#include "cohort-service.h"

G_BEGIN_DECLS

struct _CohortApi {
    CohortService *service;
    gssize requests; /* HTTP requests answered */
    gssize requests_4xx;
    gssize requests_5xx;
    SoupServer *server;
    gchar *url;
    CohortApiLimits limits;
    CohortApiGuard *guard;
    CohortRateLimit *auth_failures;
    GSource *auth_report_timer;
    struct _CohortApiConsoles *consoles;
    CohortApiStatic *web;  /* the web page's files; NULL: none */
    gboolean log_requests; /* G_MESSAGES_DEBUG names cohort-api (or all) */
};

/* The most segments, and {…} segments, a route's path has (cohort-api-routes.c checks). */
#define COHORT_API_ROUTE_SEGMENTS_MAX 8
#define COHORT_API_ROUTE_PARAMS_MAX 4

/* One request as the routes see it. */
typedef struct {
    CohortApi *api;
    SoupServerMessage *msg;
    const gchar *method;
    /* the path's {…} segments, in order (cohort-api-routes.c) */
    const gchar *params[COHORT_API_ROUTE_PARAMS_MAX];
    const gchar *op; /* the route's operation, where one handler serves several */
    GHashTable *query;
    CohortUserRow *actor;
    const gchar *body;
    gsize body_len;
    GBytes *body_bytes;
    gchar *client; /* owned, NULL until cohort_api_request_get_client() makes it */
} CohortApiRequest;

/* The @index-th {…} segment of the route's path. */
static inline const gchar *
cohort_api_param(CohortApiRequest *req, guint index)
{
    g_return_val_if_fail(index < G_N_ELEMENTS(req->params), NULL);
    return req->params[index];
}

void cohort_api_respond(CohortApiRequest *req, guint status, JsonNode *node);
/* Answers @text (taken), JSON already written. */
void cohort_api_respond_text(CohortApiRequest *req, guint status, gchar *text);
/* An error's JSON answer; @extra (taken), when not NULL, travels in it as @extra_name and
 * makes it a 422 (a roster's bad lines, a reload's bad files). */
void cohort_api_respond_error(CohortApiRequest *req, const GError *error, const gchar *extra_name,
                              JsonNode *extra);
/* Answers @node (owned) with @status, or *@errorp (taken). A pointer, because the error is
 * set by the call that makes @node, and C does not order the evaluation of arguments. */
void cohort_api_finish(CohortApiRequest *req, guint status, JsonNode *node, GError **errorp);
/* The same for an answer written as text (@text taken). */
void cohort_api_finish_text(CohortApiRequest *req, guint status, gchar *text, GError **errorp);
/* 405, with the Allow header. */
void cohort_api_method_not_allowed(CohortApiRequest *req, const gchar *allowed);
/* UNAUTHENTICATED for an anonymous caller: who asks comes before what they ask. */
gboolean cohort_api_require_actor(CohortApiRequest *req, GError **error);
/* The caller's JSON body, once the caller is known; on failure the error is answered. */
JsonObject *cohort_api_actor_body(CohortApiRequest *req);
/* The body as a JSON object, anyone's. */
JsonObject *cohort_api_body_object(CohortApiRequest *req, GError **error);
/* TRUE when the caller's address has no sign-in left: answered 429 then. */
gboolean cohort_api_auth_refused(CohortApiRequest *req);
/* One failed sign-in of the caller's address. */
void cohort_api_auth_failed(CohortApiRequest *req);
/* Counts an answered request (its status) for /metrics. */
void cohort_api_count(CohortApi *self, guint status);
/* Prometheus text: the service's and the API's own. */
gchar *cohort_api_metrics(CohortApi *self);
gboolean cohort_api_client_is_loopback(SoupServerMessage *msg);
/* cohort_rate_limit_client_key() of the caller's address, made when a sign-in needs it */
const gchar *cohort_api_request_get_client(CohortApiRequest *req);
/* Runs the route of @req's method and @path (cohort-api-routes.c), or answers 405 when the
 * path is known with other methods; FALSE when no route has the path. */
gboolean cohort_api_routes_dispatch(CohortApiRequest *req, const gchar *path);

G_END_DECLS
