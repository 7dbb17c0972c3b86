/* Text that people read: display names, titles, descriptions shown in terminals and pages. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The first character of @text (valid UTF-8) that must not be shown: control characters,
 * the invisible ones that reorder or break the text around them (line and paragraph
 * separators, bidi embeddings, overrides and isolates), and U+FFFE and U+FFFF, which XML 1.0
 * cannot carry into a machine's domain (this refuses all that cohort_machine_spec_validate()
 * refuses in a display name, so a name accepted here can be rendered). Zero-width
 * (non-)joiners and spaces are not among them: Khmer and Burmese use them. */
gboolean cohort_text_find_hidden(const gchar *text, gunichar *found);

/* @what (e.g. "\"title\"") must be non-empty UTF-8 of at most @max_len bytes, with nothing
 * cohort_text_find_hidden() finds; COHORT_ERROR_INVALID_ARGUMENT naming the character
 * otherwise. */
gboolean cohort_text_validate(const gchar *text, const gchar *what, gsize max_len, GError **error);

G_END_DECLS
