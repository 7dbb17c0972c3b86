#define G_LOG_DOMAIN "cohort-roster"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-roster.h"
#include "cohort-text.h"
#include "cohort-slug.h"

struct _CohortRoster {
    GPtrArray *entries;   /* of CohortRosterEntry, in file order */
    GHashTable *by_login; /* login → CohortRosterEntry, borrowed from entries */
};

typedef enum {
    COHORT_ROSTER_COLUMN_LOGIN,
    COHORT_ROSTER_COLUMN_DISPLAY_NAME,
    COHORT_ROSTER_COLUMN_INSTITUTE,
    COHORT_ROSTER_COLUMN_ROLE,
    COHORT_ROSTER_COLUMN_EMAIL,
    COHORT_ROSTER_COLUMN_LAST
} CohortRosterColumn;

static const gchar *const cohort_roster_column_names[] = {
    "login", "display_name", "institute", "role", "email",
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_roster_column_names) == COHORT_ROSTER_COLUMN_LAST);

/* What one parse has learnt so far. */
typedef struct {
    GPtrArray *errors;                       /* of CohortRosterLineError, in line order */
    GHashTable *seen;                        /* login → first line, for duplicates */
    gint columns[COHORT_ROSTER_COLUMN_LAST]; /* field index of each column, -1: absent */
    guint n_fields;                          /* fields the header has; 0: header unusable */
    gboolean columns_ok;                     /* the required columns are there */
} CohortRosterParser;

static void
cohort_roster_entry_free(CohortRosterEntry *entry)
{
    g_free(entry->login);
    g_free(entry->display_name);
    g_free(entry->institute);
    g_free(entry->role);
    g_free(entry->email);
    g_free(entry);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortRosterEntry, cohort_roster_entry_free)

void
cohort_roster_line_error_free(CohortRosterLineError *line_error)
{
    if (line_error == NULL)
        return;
    g_free(line_error->message);
    g_free(line_error);
}

void
cohort_roster_free(CohortRoster *self)
{
    if (self == NULL)
        return;
    g_hash_table_unref(self->by_login);
    g_ptr_array_unref(self->entries);
    g_free(self);
}

static CohortRoster *
cohort_roster_new(void)
{
    CohortRoster *self = g_new0(CohortRoster, 1);

    self->entries = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_roster_entry_free);
    self->by_login = g_hash_table_new(g_str_hash, g_str_equal);
    return self;
}

static void cohort_roster_add_problem(CohortRosterParser *parser, guint line, const gchar *format,
                                      ...) G_GNUC_PRINTF(3, 4);

/* Several problems of one line become one CohortRosterLineError. */
static void
cohort_roster_add_problem(CohortRosterParser *parser, guint line, const gchar *format, ...)
{
    CohortRosterLineError *last = NULL;
    g_autofree gchar *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);

    if (parser->errors->len > 0)
        last = g_ptr_array_index(parser->errors, parser->errors->len - 1);
    if (last != NULL && last->line == line) {
        gchar *joined = g_strconcat(last->message, "; ", message, NULL);
        g_free(last->message);
        last->message = joined;
        return;
    }
    last = g_new0(CohortRosterLineError, 1);
    last->line = line;
    last->message = g_steal_pointer(&message);
    g_ptr_array_add(parser->errors, last);
}

static gboolean
cohort_roster_line_is_bad(CohortRosterParser *parser, guint line)
{
    const CohortRosterLineError *last;

    if (parser->errors->len == 0)
        return FALSE;
    last = g_ptr_array_index(parser->errors, parser->errors->len - 1);
    return last->line == line;
}

/* The fields of one physical line, unquoted and stripped; NULL with *problem set when the
 * quoting is broken. */
static GPtrArray *
cohort_roster_split_line(const gchar *line, gsize len, gchar **problem)
{
    g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) field = g_string_new(NULL);
    gsize i = 0;

    for (;;) {
        g_string_truncate(field, 0);
        if (i < len && line[i] == '"') {
            gboolean closed = FALSE;

            for (i++; i < len && !closed; i++) {
                if (line[i] != '"')
                    g_string_append_c(field, line[i]);
                else if (i + 1 < len && line[i + 1] == '"')
                    g_string_append_c(field, line[i++]);
                else
                    closed = TRUE;
            }
            if (!closed) {
                *problem = g_strdup_printf("field %u opens a quote that is not closed on this "
                                           "line (a field cannot span lines)",
                                           fields->len + 1);
                return NULL;
            }
            if (i < len && line[i] != ',') {
                *problem = g_strdup_printf("field %u has text after its closing quote; inside "
                                           "a quoted field, write a quote twice (\"\")",
                                           fields->len + 1);
                return NULL;
            }
        } else {
            for (; i < len && line[i] != ','; i++) {
                if (line[i] == '"') {
                    *problem = g_strdup_printf("field %u has a quote inside an unquoted value; "
                                               "quote the whole field and write the quote "
                                               "twice (\"\")",
                                               fields->len + 1);
                    return NULL;
                }
                g_string_append_c(field, line[i]);
            }
        }
        g_ptr_array_add(fields, g_strstrip(g_strndup(field->str, field->len)));
        if (i >= len)
            break;
        i++; /* the comma */
    }
    return g_steal_pointer(&fields);
}

static void
cohort_roster_check_text(CohortRosterParser *parser, guint line, CohortRosterColumn column,
                         const gchar *value, gsize max_len)
{
    gsize len = strlen(value);
    gunichar control;

    if (len > max_len)
        cohort_roster_add_problem(parser, line,
                                  "%s is %" G_GSIZE_FORMAT " bytes long; at most %" G_GSIZE_FORMAT
                                  " are allowed",
                                  cohort_roster_column_names[column], len, max_len);
    if (cohort_text_find_hidden(value, &control))
        cohort_roster_add_problem(parser, line, "%s contains the control character U+%04X",
                                  cohort_roster_column_names[column], (guint)control);
}

/* NULL when the column is absent or the field empty. */
static const gchar *
cohort_roster_field(CohortRosterParser *parser, GPtrArray *fields, CohortRosterColumn column)
{
    const gchar *value;

    if (parser->columns[column] < 0)
        return NULL;
    value = g_ptr_array_index(fields, parser->columns[column]);
    return value[0] != '\0' ? value : NULL;
}

static void
cohort_roster_read_header(CohortRosterParser *parser, GPtrArray *fields)
{
    if (fields->len == 1 && ((const gchar *)g_ptr_array_index(fields, 0))[0] == '\0') {
        cohort_roster_add_problem(parser, 1,
                                  "the first line is empty: it must name the columns, like "
                                  "login,display_name,institute,role,email");
        return;
    }
    parser->n_fields = fields->len;
    for (guint i = 0; i < fields->len; i++) {
        const gchar *name = g_ptr_array_index(fields, i);

        for (guint c = 0; c < COHORT_ROSTER_COLUMN_LAST; c++) {
            if (g_ascii_strcasecmp(name, cohort_roster_column_names[c]) != 0)
                continue;
            if (parser->columns[c] >= 0)
                cohort_roster_add_problem(parser, 1, "the header names column '%s' twice",
                                          cohort_roster_column_names[c]);
            else
                parser->columns[c] = (gint)i;
        }
    }
    for (guint c = COHORT_ROSTER_COLUMN_LOGIN; c <= COHORT_ROSTER_COLUMN_DISPLAY_NAME; c++) {
        if (parser->columns[c] < 0)
            cohort_roster_add_problem(parser, 1, "the header has no '%s' column",
                                      cohort_roster_column_names[c]);
    }
    if (cohort_roster_line_is_bad(parser, 1) && fields->len == 1 &&
        strchr(g_ptr_array_index(fields, 0), ';') != NULL)
        cohort_roster_add_problem(parser, 1,
                                  "the file seems to use ';' between fields: export it as CSV "
                                  "with commas");
    if (cohort_roster_line_is_bad(parser, 1))
        cohort_roster_add_problem(parser, 1,
                                  "the first line must name the columns, like "
                                  "login,display_name,institute,role,email");
    parser->columns_ok = !cohort_roster_line_is_bad(parser, 1);
}

static void
cohort_roster_read_entry(CohortRosterParser *parser, CohortRoster *roster, guint line,
                         GPtrArray *fields)
{
    const gchar *login = cohort_roster_field(parser, fields, COHORT_ROSTER_COLUMN_LOGIN);
    const gchar *display_name =
        cohort_roster_field(parser, fields, COHORT_ROSTER_COLUMN_DISPLAY_NAME);
    const gchar *institute = cohort_roster_field(parser, fields, COHORT_ROSTER_COLUMN_INSTITUTE);
    const gchar *role = cohort_roster_field(parser, fields, COHORT_ROSTER_COLUMN_ROLE);
    const gchar *email = cohort_roster_field(parser, fields, COHORT_ROSTER_COLUMN_EMAIL);
    g_autoptr(GError) slug_error = NULL;
    g_autoptr(CohortRosterEntry) entry = NULL;

    if (login == NULL) {
        cohort_roster_add_problem(parser, line, "login is empty");
    } else if (!cohort_slug_validate(login, "login", &slug_error)) {
        cohort_roster_add_problem(parser, line, "%s", slug_error->message);
    } else {
        gpointer first = g_hash_table_lookup(parser->seen, login);

        if (first != NULL)
            cohort_roster_add_problem(parser, line, "login '%s' is already on line %u", login,
                                      GPOINTER_TO_UINT(first));
        else
            g_hash_table_insert(parser->seen, g_strdup(login), GUINT_TO_POINTER(line));
    }
    if (display_name == NULL)
        cohort_roster_add_problem(parser, line, "display_name is empty");
    else
        cohort_roster_check_text(parser, line, COHORT_ROSTER_COLUMN_DISPLAY_NAME, display_name,
                                 COHORT_ROSTER_TEXT_MAX_LEN);
    if (institute != NULL)
        cohort_roster_check_text(parser, line, COHORT_ROSTER_COLUMN_INSTITUTE, institute,
                                 COHORT_ROSTER_TEXT_MAX_LEN);
    if (role != NULL)
        cohort_roster_check_text(parser, line, COHORT_ROSTER_COLUMN_ROLE, role,
                                 COHORT_ROSTER_TEXT_MAX_LEN);
    if (email != NULL)
        cohort_roster_check_text(parser, line, COHORT_ROSTER_COLUMN_EMAIL, email,
                                 COHORT_ROSTER_EMAIL_MAX_LEN);
    if (parser->errors->len > 0)
        return; /* this line or an earlier one is bad: nothing will be kept */

    entry = g_new0(CohortRosterEntry, 1);
    entry->line = line;
    entry->login = g_strdup(login);
    entry->display_name = g_strdup(display_name);
    entry->institute = g_strdup(institute);
    entry->role = g_strdup(role);
    entry->email = g_strdup(email);
    g_hash_table_insert(roster->by_login, entry->login, entry);
    g_ptr_array_add(roster->entries, g_steal_pointer(&entry));
}

/* One physical line, without its line end. */
static void
cohort_roster_read_line(CohortRosterParser *parser, CohortRoster *roster, guint line,
                        const gchar *text, gsize len)
{
    g_autoptr(GPtrArray) fields = NULL;
    g_autofree gchar *problem = NULL;
    const gchar *end = NULL;
    gboolean blank = TRUE;

    if (!g_utf8_validate_len(text, len, &end)) {
        if (*end == '\0')
            cohort_roster_add_problem(parser, line, "contains a NUL byte at byte %" G_GSIZE_FORMAT,
                                      (gsize)(end - text) + 1);
        else
            cohort_roster_add_problem(parser, line,
                                      "is not valid UTF-8 (at byte %" G_GSIZE_FORMAT
                                      "): save the roster as CSV in UTF-8",
                                      (gsize)(end - text) + 1);
        return;
    }
    fields = cohort_roster_split_line(text, len, &problem);
    if (fields == NULL) {
        cohort_roster_add_problem(parser, line, "%s", problem);
        return;
    }
    if (line == 1) {
        cohort_roster_read_header(parser, fields);
        return;
    }
    for (guint i = 0; i < fields->len && blank; i++)
        blank = ((const gchar *)g_ptr_array_index(fields, i))[0] == '\0';
    if (blank)
        return; /* an empty line, or a spreadsheet's empty row (",,,,") */
    if (parser->n_fields == 0)
        return; /* the header is unusable: said on line 1 */
    if (fields->len != parser->n_fields) {
        cohort_roster_add_problem(parser, line, "has %u %s but the header has %u", fields->len,
                                  fields->len == 1 ? "field" : "fields", parser->n_fields);
        return;
    }
    if (parser->columns_ok)
        cohort_roster_read_entry(parser, roster, line, fields);
}

static void
cohort_roster_set_line_errors(GError **error, GPtrArray *errors)
{
    g_autoptr(GString) message = g_string_new(NULL);
    guint shown = MIN(errors->len, COHORT_ROSTER_MAX_REPORTED);

    for (guint i = 0; i < shown; i++) {
        const CohortRosterLineError *line_error = g_ptr_array_index(errors, i);

        g_string_append_printf(message, "%sline %u: %s", i > 0 ? "\n" : "", line_error->line,
                               line_error->message);
    }
    if (errors->len > shown)
        g_string_append_printf(message, "\n… and %u more bad lines", errors->len - shown);
    g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, message->str);
}

CohortRoster *
cohort_roster_parse_full(const gchar *data, gsize len, GPtrArray **line_errors, GError **error)
{
    g_autoptr(CohortRoster) roster = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    g_autoptr(GHashTable) seen = NULL;
    CohortRosterParser parser = {0};
    gsize pos = 0;
    guint line = 0;
    guint records = 0;

    g_return_val_if_fail(data != NULL || len == 0, NULL);

    if (line_errors != NULL)
        *line_errors = NULL;
    if (len > COHORT_ROSTER_MAX_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                    "the roster is %" G_GSIZE_FORMAT " bytes long; at most %d are allowed: "
                    "split it into several cohorts",
                    len, COHORT_ROSTER_MAX_BYTES);
        return NULL;
    }

    errors = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_roster_line_error_free);
    seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    roster = cohort_roster_new();
    parser.errors = errors;
    parser.seen = seen;
    for (guint c = 0; c < COHORT_ROSTER_COLUMN_LAST; c++)
        parser.columns[c] = -1;

    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    if (pos == len)
        cohort_roster_add_problem(&parser, 1,
                                  "the roster is empty: the first line must name the columns, "
                                  "like login,display_name,institute,role,email");

    /* Physical lines, ended by CRLF, LF or CR. Quotes never span them (see the header). */
    while (pos < len) {
        gsize start = pos;
        gsize end;

        while (pos < len && data[pos] != '\n' && data[pos] != '\r')
            pos++;
        end = pos;
        if (pos + 1 < len && data[pos] == '\r' && data[pos + 1] == '\n')
            pos += 2;
        else if (pos < len)
            pos++;
        line++;

        if (line > 1 && end > start && ++records > COHORT_ROSTER_MAX_ENTRIES) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                        "the roster has more than %d lines; at most %d people fit in one "
                        "roster",
                        COHORT_ROSTER_MAX_ENTRIES, COHORT_ROSTER_MAX_ENTRIES);
            return NULL;
        }
        cohort_roster_read_line(&parser, roster, line, data + start, end - start);
    }

    if (errors->len > 0) {
        cohort_roster_set_line_errors(error, errors);
        if (line_errors != NULL)
            *line_errors = g_steal_pointer(&errors);
        return NULL;
    }
    g_debug("roster: %u entries on %u lines", roster->entries->len, line);
    return g_steal_pointer(&roster);
}

CohortRoster *
cohort_roster_parse(const gchar *data, gsize len, GError **error)
{
    return cohort_roster_parse_full(data, len, NULL, error);
}

guint
cohort_roster_get_n_entries(CohortRoster *self)
{
    g_return_val_if_fail(self != NULL, 0);
    return self->entries->len;
}

const CohortRosterEntry *
cohort_roster_get_entry(CohortRoster *self, guint index)
{
    g_return_val_if_fail(self != NULL, NULL);
    g_return_val_if_fail(index < self->entries->len, NULL);
    return g_ptr_array_index(self->entries, index);
}

GPtrArray *
cohort_roster_get_entries(CohortRoster *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->entries;
}

const CohortRosterEntry *
cohort_roster_lookup(CohortRoster *self, const gchar *login)
{
    g_return_val_if_fail(self != NULL, NULL);
    g_return_val_if_fail(login != NULL, NULL);
    return g_hash_table_lookup(self->by_login, login);
}
