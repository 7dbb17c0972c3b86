/* cohortctl's connection to cohortd: one SoupSession, synchronous calls, JSON in and out.
 * The server's {"error":{"code","message"}} becomes a COHORT_ERROR with the matching code and
 * the message "MESSAGE (CODE)"; an unreachable server is COHORT_CLIENT_ERROR_CONNECTION. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define COHORT_CLIENT_TIMEOUT_SECONDS 10

typedef struct _CohortClient CohortClient;

/* @url: http:// or https://, optionally with a path prefix (a reverse proxy). @token may be
 * NULL (redeem needs none). @ca_file: a PEM file of the CA certificates that https:// trusts
 * instead of the system's (NULL: the system's). A certificate that does not verify, or a URL
 * of the wrong scheme for the port, is a COHORT_CLIENT_ERROR_CONNECTION that says what to
 * change. */
CohortClient *cohort_client_new(const gchar *url, const gchar *token, const gchar *ca_file,
                                GError **error);
void cohort_client_free(CohortClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortClient, cohort_client_free)

const gchar *cohort_client_get_url(CohortClient *client);

/* @body: a JSON body or NULL. Answers the parsed body of a 2xx answer (a JSON null node when
 * it is empty). */
JsonNode *cohort_client_call(CohortClient *client, const gchar *method, const gchar *path,
                             JsonNode *body, GError **error);
/* Raw body of @content_type; on an error answer *error_body (if not NULL) gets the parsed
 * body, so a caller can show details such as a roster's per-line errors. */
JsonNode *cohort_client_call_full(CohortClient *client, const gchar *method, const gchar *path,
                                  const gchar *content_type, GBytes *body, guint *status,
                                  JsonNode **error_body, GError **error);

/* One path segment, percent-encoded. */
gchar *cohort_client_escape(const gchar *segment);

G_END_DECLS
