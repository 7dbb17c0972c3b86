/* The API's objects as JSON, and strict readers for request bodies. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cohort-hosts.h"
#include "cohort-json-writer.h"
#include "cohort-store.h"
#include "cohort-template.h"

G_BEGIN_DECLS

JsonNode *cohort_json_user(const CohortUserRow *row);
/* A host, what placement allows on it and what its machines hold (@used). */
JsonNode *cohort_json_host(const CohortHost *host, const CohortHostUsage *used);
JsonNode *cohort_json_cohort(const CohortCohortRow *row);
/* @pending: the operations queued behind the one under way (NULL: none); @host: the
 * machine's host (NULL: not placed, or gone), whose state it shows. */
JsonNode *cohort_json_machine(const CohortMachineRow *row, const gchar *const *pending,
                              const CohortHost *host);
/* The same object as text, for the answers that list machines. */
void cohort_json_machine_write(CohortJsonWriter *w, const CohortMachineRow *row,
                               const gchar *const *pending, const CohortHost *host);
JsonNode *cohort_json_job(const CohortJobRow *row, GPtrArray *errors);
JsonNode *cohort_json_audit(const CohortAuditRow *row);
JsonNode *cohort_json_error(const GError *error);
/* An array node that takes the nodes of @nodes. */
JsonNode *cohort_json_array_new(GPtrArray *nodes);
gchar *cohort_json_to_string(JsonNode *node, gboolean pretty);
/* A large answer written piece by piece: each piece's compact text (json-glib's, as
 * cohort_json_to_string() would write it) appended to @out, so that no tree of the whole
 * answer is ever held. */
void cohort_json_append(GString *out, JsonGenerator *gen, JsonNode *node);
/* The text of @out (taken), made valid UTF-8 as cohort_json_to_string() does. */
gchar *cohort_json_text_finish(GString *out);
/* The same as bytes: a piece of a streamed answer, which ends between two JSON values and is
 * valid UTF-8 on its own. */
GBytes *cohort_json_text_finish_bytes(GString *out);

/* The body must be one JSON object. */
JsonObject *cohort_json_parse_object(const gchar *data, gsize len, GError **error);
/* Member readers: a missing optional member leaves *out as it was; a member of the wrong
 * type, out of range or too long is COHORT_ERROR_INVALID_ARGUMENT naming it. */
gboolean cohort_json_get_string(JsonObject *obj, const gchar *member, gboolean required,
                                gsize max_len, gchar **out, GError **error);
gboolean cohort_json_get_uint(JsonObject *obj, const gchar *member, gboolean required, guint64 min,
                              guint64 max, guint64 *out, GError **error);
gboolean cohort_json_get_double(JsonObject *obj, const gchar *member, gdouble min, gdouble max,
                                gdouble *out, GError **error);
gboolean cohort_json_get_bool(JsonObject *obj, const gchar *member, gboolean *out, GError **error);
/* Refuses members not in @known (NULL-terminated): a typo must not pass silently. */
gboolean cohort_json_check_members(JsonObject *obj, const gchar *const *known, GError **error);
/* RFC 3339 time → normalized UTC "YYYY-MM-DDTHH:MM:SSZ". */
gchar *cohort_json_normalize_time(const gchar *text, const gchar *member, GError **error);

G_END_DECLS
