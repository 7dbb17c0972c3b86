#define G_LOG_DOMAIN "cohort-text"

#include "config.h"

#include "cohort-error.h"
#include "cohort-text.h"

static gboolean
cohort_text_is_hidden(gunichar c)
{
    return g_unichar_iscntrl(c) || c == 0x2028 || c == 0x2029 || /* line, paragraph */
           (c >= 0x202a && c <= 0x202e) ||                       /* embeddings, overrides */
           (c >= 0x2066 && c <= 0x2069) ||                       /* isolates */
           c == 0xfffe || c == 0xffff; /* XML 1.0 cannot carry them into a domain */
}

gboolean
cohort_text_find_hidden(const gchar *text, gunichar *found)
{
    for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if (cohort_text_is_hidden(c)) {
            *found = c;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean
cohort_text_validate(const gchar *text, const gchar *what, gsize max_len, GError **error)
{
    gunichar hidden = 0;

    if (text == NULL || text[0] == '\0') {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "%s is empty", what);
        return FALSE;
    }
    if (!g_utf8_validate(text, -1, NULL) || strlen(text) > max_len) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s must be UTF-8 of at most %" G_GSIZE_FORMAT " bytes", what, max_len);
        return FALSE;
    }
    if (cohort_text_find_hidden(text, &hidden)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s contains the invisible or control character U+%04X, which would change "
                    "how the text around it is shown: remove it",
                    what, (guint)hidden);
        return FALSE;
    }
    return TRUE;
}
