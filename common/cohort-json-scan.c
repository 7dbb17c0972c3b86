#define G_LOG_DOMAIN "cohort-json-scan"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-json-scan.h"

gboolean
cohort_json_scan(const gchar *data, gsize len, guint max_depth, GError **error)
{
    gboolean in_string = FALSE;
    guint depth = 0;

    for (gsize i = 0; i < len; i++) {
        gchar c = data[i];

        if (in_string) {
            if (c == '"') {
                in_string = FALSE;
            } else if (c == '\\' && i + 1 < len) {
                /* \u0000 (any case of its hex digits: they are all zeros) */
                if (data[i + 1] == 'u' && i + 5 < len && memcmp(data + i + 2, "0000", 4) == 0) {
                    g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                                        "a JSON string holds \\u0000, which no "
                                        "field accepts: remove it");
                    return FALSE;
                }
                i++; /* the escaped character, a quote or a backslash included */
            }
            continue;
        }
        if (c == '"') {
            in_string = TRUE;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "the JSON nests objects and arrays deeper than %u levels", max_depth);
                return FALSE;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return TRUE;
}
