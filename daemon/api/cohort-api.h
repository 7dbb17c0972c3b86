/* The HTTP/JSON API (/api/v1, /healthz, /metrics) on libsoup's server. */
#pragma once

#include <glib.h>

#include "cohort-service.h"

G_BEGIN_DECLS

typedef struct _CohortApi CohortApi;

/* What one client may cost (data/cohortd.conf documents each). */
typedef struct {
    gsize max_body_bytes;
    guint request_timeout_s;
    guint max_connections_per_client;
    guint auth_failures_per_minute; /* per client address, then 429 */
} CohortApiLimits;

/* Listens on @address:@port (0: any free port); with @tls_cert and @tls_key, HTTPS. */
CohortApi *cohort_api_new(CohortService *service, const gchar *address, guint port,
                          const gchar *tls_cert, const gchar *tls_key,
                          const CohortApiLimits *limits, GError **error);
void cohort_api_free(CohortApi *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortApi, cohort_api_free)
/* Serves the web page's files from @web_dir at / and every path outside the API (NULL:
 * none, those paths are not found). daemon/api/cohort-api-static.h says how. */
void cohort_api_set_web_dir(CohortApi *self, const gchar *web_dir);
/* The base URL it listens on, e.g. http://127.0.0.1:8580 */
const gchar *cohort_api_get_url(CohortApi *self);

G_END_DECLS
