#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <string.h>

#include "cohort-client-error.h"
#include "cohort-client-format.h"
#include "cohort-slug.h"

/* As terminals count (glibc's wcwidth, VTE): a nonspacing mark (Mn, Me) or format character
 * takes no cell; a spacing mark (Mc, like Khmer's U+17B6 or Burmese's U+102C) takes one,
 * or the columns after it would be off by one for every such vowel. */
gsize
cohort_client_display_width(const gchar *text)
{
    gsize width = 0;

    if (text == NULL)
        return 0;
    if (!g_utf8_validate(text, -1, NULL))
        return strlen(text);
    for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if (g_unichar_iszerowidth(c) ||
            (g_unichar_ismark(c) && g_unichar_type(c) != G_UNICODE_SPACING_MARK))
            continue;
        width += g_unichar_iswide(c) ? 2 : 1;
    }
    return width;
}

struct _CohortTable {
    guint n_columns;
    GPtrArray *rows; /* of GStrv, the header first */
};

CohortTable *
cohort_table_new(const gchar *const *headers)
{
    CohortTable *table = g_new0(CohortTable, 1);

    table->n_columns = g_strv_length((gchar **)headers);
    table->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_ptr_array_add(table->rows, g_strdupv((gchar **)headers));
    return table;
}

void
cohort_table_add_row(CohortTable *table, const gchar *const *cells)
{
    gchar **row = g_new0(gchar *, table->n_columns + 1);

    for (guint i = 0; i < table->n_columns; i++)
        row[i] = g_strdup(cells[i] != NULL ? cells[i] : "-");
    g_ptr_array_add(table->rows, row);
}

void
cohort_table_add_row_take(CohortTable *table, gchar **cells)
{
    cohort_table_add_row(table, (const gchar *const *)cells);
    for (guint i = 0; i < table->n_columns; i++)
        g_free(cells[i]);
}

guint
cohort_table_get_n_rows(CohortTable *table)
{
    return table->rows->len - 1;
}

/* A cell must stay on its line: a newline or tab (in an audit detail) becomes a space, other
 * control characters U+FFFD. */
static void
cohort_table_append_cell(GString *out, const gchar *cell)
{
    for (const gchar *p = cell; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if (c == '\n' || c == '\t')
            g_string_append_c(out, ' ');
        else if (g_unichar_iscntrl(c))
            g_string_append(out, "\xef\xbf\xbd");
        else
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
    }
}

gchar *
cohort_table_render(CohortTable *table)
{
    g_autofree gsize *widths = g_new0(gsize, table->n_columns);
    GString *out = g_string_new(NULL);

    for (guint r = 0; r < table->rows->len; r++) {
        gchar **row = g_ptr_array_index(table->rows, r);
        for (guint c = 0; c < table->n_columns; c++)
            widths[c] = MAX(widths[c], cohort_client_display_width(row[c]));
    }
    for (guint r = 0; r < table->rows->len; r++) {
        gchar **row = g_ptr_array_index(table->rows, r);
        for (guint c = 0; c < table->n_columns; c++) {
            cohort_table_append_cell(out, row[c]);
            if (c + 1 == table->n_columns)
                break;
            for (gsize w = cohort_client_display_width(row[c]); w < widths[c] + 2; w++)
                g_string_append_c(out, ' ');
        }
        /* No trailing blanks when the last cells are empty. */
        while (out->len > 0 && out->str[out->len - 1] == ' ')
            g_string_truncate(out, out->len - 1);
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}

void
cohort_table_free(CohortTable *table)
{
    if (table == NULL)
        return;
    g_ptr_array_unref(table->rows);
    g_free(table);
}

static gboolean
cohort_client_parse_day(const gchar *text, guint *year, guint *month, guint *day)
{
    guint64 y, m, d;

    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return FALSE;
    for (guint i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !g_ascii_isdigit(text[i]))
            return FALSE;
    }
    y = g_ascii_strtoull(text, NULL, 10);
    m = g_ascii_strtoull(text + 5, NULL, 10);
    d = g_ascii_strtoull(text + 8, NULL, 10);
    if (y < 1 || m < 1 || m > 12 || d < 1 || !g_date_valid_dmy(d, m, y))
        return FALSE;
    *year = y;
    *month = m;
    *day = d;
    return TRUE;
}

gchar *
cohort_client_parse_date(const gchar *text, gboolean end_of_day, GError **error)
{
    guint year, month, day;
    g_autoptr(GDateTime) when = NULL;
    g_autoptr(GDateTime) utc = NULL;

    if (text != NULL && cohort_client_parse_day(text, &year, &month, &day))
        return g_strdup_printf("%04u-%02u-%02uT%s", year, month, day,
                               end_of_day ? "23:59:59Z" : "00:00:00Z");
    gchar day_part[11] = "";

    /* Only the RFC 3339 profile of ISO 8601: a calendar date, 'T', an explicit offset. */
    if (text != NULL && strlen(text) > 10 && (text[10] == 'T' || text[10] == 't')) {
        when = g_date_time_new_from_iso8601(text, NULL);
        memcpy(day_part, text, 10);
    }
    if (when == NULL || !cohort_client_parse_day(day_part, &year, &month, &day)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "'%s' is not a date: use YYYY-MM-DD (like 2026-03-02) or an RFC 3339 time "
                    "(like 2026-03-02T08:30:00+07:00)",
                    text != NULL ? text : "");
        return NULL;
    }
    utc = g_date_time_to_utc(when);
    return g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
}

gboolean
cohort_client_machine_ref_parse(const gchar *text, CohortMachineRef *ref, GError **error)
{
    const gchar *slash;
    g_autoptr(GError) local = NULL;

    memset(ref, 0, sizeof(*ref));
    if (text != NULL && text[0] != '\0' && strspn(text, "0123456789") == strlen(text)) {
        guint64 id;
        if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &id, NULL)) {
            g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                        "machine id %s is out of range", text);
            return FALSE;
        }
        ref->id = (gint64)id;
        return TRUE;
    }
    slash = text != NULL ? strchr(text, '/') : NULL;
    if (slash == NULL && text != NULL && g_str_has_prefix(text, "cohort-") &&
        strstr(text, "--") != NULL) {
        /* cohort-COHORT--TRAINEE[--N]: slugs never hold "--" */
        const gchar *start = text + strlen("cohort-");
        const gchar *sep = strstr(start, "--");
        ref->cohort = g_strndup(start, sep - start);
        if (!cohort_slug_validate(ref->cohort, "cohort", &local)) {
            g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE, "machine '%s': %s",
                        text, local->message);
            cohort_client_machine_ref_clear(ref);
            return FALSE;
        }
        ref->name = g_strdup(text);
        return TRUE;
    }
    if (slash == NULL) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "'%s' names no machine: use its id (like 42), COHORT/TRAINEE (like "
                    "cloud-101/sok-dara) or its name (like cohort-cloud-101--sok-dara)",
                    text != NULL ? text : "");
        return FALSE;
    }
    ref->cohort = g_strndup(text, slash - text);
    ref->trainee = g_strdup(slash + 1);
    if (!cohort_slug_validate(ref->cohort, "cohort", &local) ||
        !cohort_slug_validate(ref->trainee, "trainee login", &local)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE, "machine '%s': %s", text,
                    local->message);
        cohort_client_machine_ref_clear(ref);
        return FALSE;
    }
    return TRUE;
}

void
cohort_client_machine_ref_clear(CohortMachineRef *ref)
{
    g_clear_pointer(&ref->cohort, g_free);
    g_clear_pointer(&ref->trainee, g_free);
    g_clear_pointer(&ref->name, g_free);
    ref->id = 0;
}

JsonObject *
cohort_client_machine_pick(JsonArray *machines, const gchar *trainee, GError **error)
{
    g_autoptr(GPtrArray) live = g_ptr_array_new();
    g_autoptr(GPtrArray) working = g_ptr_array_new();
    g_autoptr(GString) listed = NULL;

    for (guint i = 0; machines != NULL && i < json_array_get_length(machines); i++) {
        JsonNode *node = json_array_get_element(machines, i);
        JsonObject *m;
        const gchar *state;

        if (!JSON_NODE_HOLDS_OBJECT(node))
            continue;
        m = json_node_get_object(node);
        state = json_object_get_string_member_with_default(m, "state", NULL);
        if (g_strcmp0(json_object_get_string_member_with_default(m, "trainee", NULL), trainee) !=
                0 ||
            g_strcmp0(state, "reclaimed") == 0)
            continue;
        g_ptr_array_add(live, m);
        if (g_strcmp0(state, "failed") != 0 && g_strcmp0(state, "reclaiming") != 0)
            g_ptr_array_add(working, m);
    }
    if (live->len == 1)
        return g_ptr_array_index(live, 0);
    if (working->len == 1)
        return g_ptr_array_index(working, 0);
    if (live->len == 0)
        return NULL;
    /* several: guessing would act on the wrong one */
    listed = g_string_new(NULL);
    for (guint i = 0; i < live->len; i++) {
        JsonObject *m = g_ptr_array_index(live, i);
        g_autofree gchar *id = cohort_client_member_text(m, "id");
        g_autofree gchar *name = cohort_client_member_text(m, "name");
        g_autofree gchar *state = cohort_client_member_text(m, "state");
        g_string_append_printf(listed, "%s%s %s (%s)", i > 0 ? ", " : "", id, name, state);
    }
    g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                "%s has %u machines: %s; name one by its id or its name", trainee, live->len,
                listed->str);
    return NULL;
}

gboolean
cohort_client_parse_count(const gchar *text, const gchar *option, guint64 max, guint64 *out,
                          GError **error)
{
    if (text == NULL || text[0] == '\0' || strspn(text, "0123456789") != strlen(text) ||
        !g_ascii_string_to_unsigned(text, 10, 1, max, out, NULL)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "%s takes a whole number from 1 to %" G_GUINT64_FORMAT ", not '%s'", option,
                    max, text != NULL ? text : "");
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_client_parse_ratio(const gchar *text, const gchar *option, gdouble max, gdouble *out,
                          GError **error)
{
    gchar *end = NULL;
    gdouble value = text != NULL ? g_ascii_strtod(text, &end) : 0;

    if (text == NULL || text[0] == '\0' || end == NULL || *end != '\0' || !(value > 0) ||
        value > max) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                    "%s takes a number above 0 and at most %g (like 2.5), not '%s'", option, max,
                    text != NULL ? text : "");
        return FALSE;
    }
    *out = value;
    return TRUE;
}

static gchar *cohort_client_format_bytes(guint64 bytes);

gchar *
cohort_client_transfer_text(JsonObject *progress)
{
    gint64 done;
    gint64 total;
    GString *out;
    g_autofree gchar *done_text = NULL;
    g_autofree gchar *total_text = NULL;
    JsonNode *rate;
    JsonNode *eta;

    if (progress == NULL)
        return NULL;
    done = json_object_get_int_member_with_default(progress, "bytes_done", 0);
    total = json_object_get_int_member_with_default(progress, "bytes_total", 0);
    if (total <= 0)
        return NULL;
    done_text = cohort_client_format_bytes((guint64)MAX(done, 0));
    total_text = cohort_client_format_bytes((guint64)total);
    out = g_string_new(NULL);
    g_string_append_printf(out, "%s of %s", done_text, total_text);
    rate = json_object_get_member(progress, "rate_bytes_per_s");
    if (rate != NULL && JSON_NODE_HOLDS_VALUE(rate)) {
        g_autofree gchar *r = cohort_client_format_bytes((guint64)json_node_get_int(rate));
        g_string_append_printf(out, ", %s/s", r);
    }
    eta = json_object_get_member(progress, "eta_s");
    if (eta != NULL && JSON_NODE_HOLDS_VALUE(eta) && done < total)
        g_string_append_printf(out, ", %" G_GINT64_FORMAT " s left", json_node_get_int(eta));
    return g_string_free(out, FALSE);
}

gchar *
cohort_client_allowed_text(JsonObject *host, const gchar *used, const gchar *allowed,
                           const gchar *capacity, const gchar *ratio)
{
    JsonNode *allowed_node = json_object_get_member(host, allowed);
    g_autofree gchar *u = cohort_client_member_text(host, used);
    g_autofree gchar *c = cohort_client_member_text(host, capacity);
    gdouble r = json_object_get_double_member_with_default(host, ratio, 1);
    gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (allowed_node == NULL || !JSON_NODE_HOLDS_VALUE(allowed_node))
        return g_strdup_printf("%s/-", u);
    g_ascii_formatd(buf, sizeof(buf), "%g", r);
    return g_strdup_printf("%s/%" G_GINT64_FORMAT " (%sx%s)", u, json_node_get_int(allowed_node), c,
                           buf);
}

/* Tenths by integer arithmetic: the locale never turns "3.1 s" into "3,1 s". */
static gchar *
cohort_client_progress_text(gint64 done, gint64 total, gint64 failed, gint64 elapsed_usec)
{
    gint64 tenths = MAX(elapsed_usec, 0) / 100000;

    return g_strdup_printf("%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " done, %" G_GINT64_FORMAT
                           " failed, %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT " s",
                           done, total, failed, tenths / 10, tenths % 10);
}

gchar *
cohort_client_progress_line(const gchar *label, gint64 done, gint64 total, gint64 failed,
                            gint64 elapsed_usec)
{
    g_autofree gchar *text = cohort_client_progress_text(done, total, failed, elapsed_usec);

    return g_strdup_printf("%s: %s", label, text);
}

gchar *
cohort_client_progress_bar(const gchar *label, gint64 done, gint64 total, gint64 failed,
                           gint64 elapsed_usec, guint columns)
{
    g_autofree gchar *text = cohort_client_progress_text(done, total, failed, elapsed_usec);
    gsize fixed = cohort_client_display_width(label) + strlen(text) + 4; /* " [" "] " */
    GString *out = g_string_new(label);
    gsize bar;

    if (columns <= fixed + 10) {
        g_string_append_printf(out, ": %s", text);
        return g_string_free(out, FALSE);
    }
    bar = MIN(columns - fixed - 1, 40);
    g_string_append(out, " [");
    for (gsize i = 0; i < bar; i++) {
        gint64 filled = total > 0 ? (gint64)bar * (done + failed) / total : 0;
        g_string_append_c(out, (gint64)i < filled ? '#' : '-');
    }
    g_string_append_printf(out, "] %s", text);
    return g_string_free(out, FALSE);
}

gchar *
cohort_client_member_text(JsonObject *obj, const gchar *member)
{
    JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return g_strdup("-");
    if (!JSON_NODE_HOLDS_VALUE(node)) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        json_generator_set_root(gen, node);
        return json_generator_to_data(gen, NULL);
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_STRING: {
        const gchar *s = json_node_get_string(node);
        return g_strdup(s != NULL && s[0] != '\0' ? s : "-");
    }
    case G_TYPE_INT64:
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
    case G_TYPE_DOUBLE: {
        gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
        return g_strdup(g_ascii_dtostr(buf, sizeof(buf), json_node_get_double(node)));
    }
    case G_TYPE_BOOLEAN:
        return g_strdup(json_node_get_boolean(node) ? "yes" : "no");
    default:
        return g_strdup("-");
    }
}

/* g_format_size() with a plain space before the unit (it uses a no-break space), so that
 * people and scripts can match "64.0 MiB". */
static gchar *
cohort_client_format_bytes(guint64 bytes)
{
    g_autofree gchar *text = g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
    g_auto(GStrv) parts = g_strsplit(text, "\u00a0", -1);

    return g_strjoinv(" ", parts);
}

gchar *
cohort_client_freed_text(JsonObject *freed)
{
    gint64 machines, vcpus, networks;
    g_autofree gchar *memory = NULL;
    g_autofree gchar *disk = NULL;

    if (freed == NULL)
        return NULL;
    machines = json_object_get_int_member_with_default(freed, "machines", 0);
    vcpus = json_object_get_int_member_with_default(freed, "vcpus", 0);
    networks = json_object_get_int_member_with_default(freed, "networks", 0);
    memory = cohort_client_format_bytes(
        (guint64)MAX(json_object_get_int_member_with_default(freed, "memory_mib", 0), 0) * 1024 *
        1024);
    disk = cohort_client_format_bytes(
        (guint64)MAX(json_object_get_int_member_with_default(freed, "disk_bytes", 0), 0));
    return g_strdup_printf("%" G_GINT64_FORMAT " machine%s, %" G_GINT64_FORMAT
                           " vCPU%s, %s of memory, "
                           "%s of disk, %" G_GINT64_FORMAT " network%s",
                           machines, machines == 1 ? "" : "s", vcpus, vcpus == 1 ? "" : "s", memory,
                           disk, networks, networks == 1 ? "" : "s");
}

gchar *
cohort_client_list_text(JsonObject *obj, const gchar *member)
{
    JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    JsonArray *a;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_strdup("-");
    a = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
            g_string_append_printf(out, "%s%s", out->len > 0 ? ", " : "", json_node_get_string(e));
    }
    if (out->len == 0)
        return g_strdup("-");
    return g_string_free(g_steal_pointer(&out), FALSE);
}

gchar *
cohort_client_ready_text(JsonObject *m)
{
    JsonNode *node = m != NULL ? json_object_get_member(m, "ready") : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN)
        return g_strdup("-");
    return g_strdup(json_node_get_boolean(node) ? "yes" : "no");
}

gboolean
cohort_client_machine_at_rest(JsonObject *m)
{
    static const gchar *const busy[] = {"requested",  "provisioning", "starting",
                                        "stopping",   "rebooting",    "resetting",
                                        "reclaiming", "moving",       NULL};
    const gchar *state = json_object_get_string_member_with_default(m, "state", "");
    JsonNode *pending = json_object_get_member(m, "pending");

    if (g_strv_contains(busy, state))
        return FALSE;
    return pending == NULL || !JSON_NODE_HOLDS_ARRAY(pending) ||
           json_array_get_length(json_node_get_array(pending)) == 0;
}

gboolean
cohort_client_machine_wait_check(const gchar *verb, JsonObject *m, GError **error)
{
    static const gchar *const ends[][2] = {
        {"start", "running"},      {"reboot", "running"},    {"reset", "running"},
        {"stop", "stopped"},       {"release", "reclaimed"}, {"move", "stopped"},
        {"move-fresh", "running"},
    };
    const gchar *state = json_object_get_string_member_with_default(m, "state", "");
    const gchar *reason = json_object_get_string_member_with_default(m, "error", NULL);
    const gchar *name = json_object_get_string_member_with_default(m, "name", "?");
    const gchar *expected = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(ends); i++) {
        if (g_strcmp0(ends[i][0], verb) == 0)
            expected = ends[i][1];
    }
    if (g_strcmp0(state, expected) == 0)
        return TRUE;
    if (g_strcmp0(state, "failed") == 0)
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                    "machine %s failed: %s (reset it to make it again, or release it)", name,
                    reason != NULL ? reason : "no reason given");
    else
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                    "machine %s is %s, not %s, after the %s%s%s", name, state,
                    expected != NULL ? expected : "?", verb, reason != NULL ? ": " : "",
                    reason != NULL ? reason : "");
    return FALSE;
}
