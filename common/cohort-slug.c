#define G_LOG_DOMAIN "cohort-slug"

#include "config.h"

#include "cohort-error.h"
#include "cohort-slug.h"

/* [a-z0-9-], starting with a letter or digit, no trailing or doubled hyphen. */
gboolean
cohort_slug_validate(const gchar *slug, const gchar *what, GError **error)
{
    gsize len;

    if (slug == NULL || slug[0] == '\0') {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "%s is empty", what);
        return FALSE;
    }
    len = strlen(slug);
    if (len > COHORT_SLUG_MAX_LEN) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s is %" G_GSIZE_FORMAT " characters long; at most %d are allowed", what, len,
                    COHORT_SLUG_MAX_LEN);
        return FALSE;
    }
    for (gsize i = 0; i < len; i++) {
        gchar c = slug[i];
        gboolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      (c == '-' && i > 0 && i + 1 < len && slug[i - 1] != '-');
        if (!ok) {
            g_autofree gchar *shown = g_strescape(slug, NULL);
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "%s '%s' is not a slug: use lower-case letters, digits and single "
                        "hyphens inside (like 'sok-dara' or 'cloud-101')",
                        what, shown);
            return FALSE;
        }
    }
    return TRUE;
}
