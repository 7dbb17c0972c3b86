/* A cheap scan of JSON text before any parser sees it. json-glib's parser recurses once per
 * level of nesting, so a body of 100 KB of '[' overflows the stack: the depth is bounded
 * here, in one pass without recursion. It also refuses what json-glib would silently cut:
 * a "\u0000" escape ends the C string the service reads. The scan does not check the grammar;
 * the parser does that next. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Deep enough for every request body and answer of the API (they nest 3 levels). */
#define COHORT_JSON_MAX_DEPTH 32

/* COHORT_ERROR_INVALID_ARGUMENT when objects and arrays nest deeper than @max_depth, or a
 * string holds a "\u0000" escape. */
gboolean cohort_json_scan(const gchar *data, gsize len, guint max_depth, GError **error);

G_END_DECLS
