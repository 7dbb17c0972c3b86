#define G_LOG_DOMAIN "cohort-json"

#include "config.h"

#include <string.h>

#include "cohort-json-writer.h"

/* Deeper than any answer of the API goes; a bug beyond it, not input. */
#define COHORT_JSON_WRITER_MAX_DEPTH 32

struct _CohortJsonWriter {
    GString *out;
    guint depth;
    gboolean after_member;                            /* a member's name is written */
    gboolean non_ascii;                               /* a byte above 0x7f is written */
    gboolean has_items[COHORT_JSON_WRITER_MAX_DEPTH]; /* per open container */
};

CohortJsonWriter *
cohort_json_writer_new(void)
{
    CohortJsonWriter *self = g_new0(CohortJsonWriter, 1);

    self->out = g_string_sized_new(256);
    return self;
}

void
cohort_json_writer_free(CohortJsonWriter *self)
{
    if (self == NULL)
        return;
    g_string_free(self->out, TRUE);
    g_free(self);
}

/* The comma before an item of an array or a member of an object. */
static void
cohort_json_writer_separate(CohortJsonWriter *self)
{
    if (self->after_member) {
        self->after_member = FALSE;
        return;
    }
    if (self->depth == 0)
        return;
    if (self->has_items[self->depth - 1])
        g_string_append_c(self->out, ',');
    self->has_items[self->depth - 1] = TRUE;
}

static void
cohort_json_writer_open(CohortJsonWriter *self, gchar bracket)
{
    cohort_json_writer_separate(self);
    g_return_if_fail(self->depth < COHORT_JSON_WRITER_MAX_DEPTH);
    g_string_append_c(self->out, bracket);
    self->has_items[self->depth++] = FALSE;
}

static void
cohort_json_writer_close(CohortJsonWriter *self, gchar bracket)
{
    g_return_if_fail(self->depth > 0 && !self->after_member);
    self->depth--;
    g_string_append_c(self->out, bracket);
}

void
cohort_json_writer_begin_object(CohortJsonWriter *self)
{
    cohort_json_writer_open(self, '{');
}

void
cohort_json_writer_end_object(CohortJsonWriter *self)
{
    cohort_json_writer_close(self, '}');
}

void
cohort_json_writer_begin_array(CohortJsonWriter *self)
{
    cohort_json_writer_open(self, '[');
}

void
cohort_json_writer_end_array(CohortJsonWriter *self)
{
    cohort_json_writer_close(self, ']');
}

static gboolean
cohort_json_writer_is_plain(guchar c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

/* @text quoted, with an escape at each byte that needs one; the common case, a string that
 * needs none, is one copy (each g_string_append_len() was most of a list's JSON cost). */
static void
cohort_json_writer_quote(CohortJsonWriter *self, const gchar *text)
{
    GString *out = self->out;
    const guchar *p = (const guchar *)text;
    const guchar *run;
    guchar seen = 0;
    gsize at = out->len;
    gsize len;

    while (cohort_json_writer_is_plain(*p))
        seen |= *p++;
    if ((seen & 0x80) != 0)
        self->non_ascii = TRUE;
    if (*p == '\0') {
        len = (gsize)(p - (const guchar *)text);
        g_string_set_size(out, at + len + 2);
        out->str[at] = '"';
        memcpy(out->str + at + 1, text, len);
        out->str[at + len + 1] = '"';
        return;
    }
    /* the rest is not scanned for its bytes: the text is checked whole at the end */
    self->non_ascii = TRUE;
    /* escaped as json-glib escapes: quote and backslash, \b \f \n \r \t, other control
     * characters and DEL as \u00xx; everything else, UTF-8 included, as it is */
    g_string_append_c(out, '"');
    run = (const guchar *)text;
    for (; *p != '\0'; p++) {
        guchar c = *p;
        if (cohort_json_writer_is_plain(c))
            continue;
        g_string_append_len(out, (const gchar *)run, (gssize)(p - run));
        run = p + 1;
        switch (c) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            g_string_append_printf(out, "\\u%04x", c);
            break;
        }
    }
    g_string_append_len(out, (const gchar *)run, (gssize)(p - run));
    g_string_append_c(out, '"');
}

void
cohort_json_writer_member(CohortJsonWriter *self, const gchar *name)
{
    g_return_if_fail(self->depth > 0 && !self->after_member);
    cohort_json_writer_separate(self);
    cohort_json_writer_quote(self, name);
    g_string_append_c(self->out, ':');
    self->after_member = TRUE;
}

void
cohort_json_writer_string(CohortJsonWriter *self, const gchar *value)
{
    cohort_json_writer_separate(self);
    if (value == NULL)
        g_string_append(self->out, "null");
    else
        cohort_json_writer_quote(self, value);
}

void
cohort_json_writer_int(CohortJsonWriter *self, gint64 value)
{
    gchar digits[24];
    gchar *p = digits + sizeof(digits);
    guint64 magnitude = value < 0 ? (guint64)0 - (guint64)value : (guint64)value;

    /* digits by hand: a list answer writes several per machine */
    cohort_json_writer_separate(self);
    do {
        *--p = (gchar)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (value < 0)
        *--p = '-';
    g_string_append_len(self->out, p, digits + sizeof(digits) - p);
}

void
cohort_json_writer_boolean(CohortJsonWriter *self, gboolean value)
{
    cohort_json_writer_separate(self);
    g_string_append(self->out, value ? "true" : "false");
}

void
cohort_json_writer_null(CohortJsonWriter *self)
{
    cohort_json_writer_separate(self);
    g_string_append(self->out, "null");
}

gchar *
cohort_json_writer_free_to_text(CohortJsonWriter *self)
{
    g_autofree gchar *text = NULL;
    gboolean non_ascii;

    g_return_val_if_fail(self->depth == 0 && !self->after_member, NULL);
    non_ascii = self->non_ascii;
    text = g_string_free(g_steal_pointer(&self->out), FALSE);
    g_free(self);
    /* as in cohort_json_to_string(): bad bytes are only ever inside strings, and ASCII is
     * UTF-8 (the check was ~5 % of a list's instructions) */
    if (non_ascii && !g_utf8_validate(text, -1, NULL))
        return g_utf8_make_valid(text, -1);
    return g_steal_pointer(&text);
}
