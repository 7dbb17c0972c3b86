#define G_LOG_DOMAIN "cohort-timetable"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-timetable.h"

/* A course of ten years is not a course: the expansion stops there. */
#define COHORT_TIMETABLE_MAX_DAYS 3660

typedef struct {
    CohortTimetableKind kind;
    guint8 days;      /* rule: bit 0 Monday … bit 6 Sunday */
    GDate date;       /* one-off, cancel */
    gint start_min;   /* minutes from local midnight; cancel: -1 for the whole day */
    gint end_min;     /* up to 24 * 60 */
    gchar *canonical; /* the entry as it is listed again */
} CohortTimetableEntry;

struct _CohortTimetable {
    gchar *time_zone;
    GTimeZone *tz;
    GPtrArray *entries; /* of CohortTimetableEntry */
};

static const gchar *const cohort_timetable_day_names[] = {"mon", "tue", "wed", "thu",
                                                          "fri", "sat", "sun"};

static void
cohort_timetable_entry_free(CohortTimetableEntry *entry)
{
    g_free(entry->canonical);
    g_free(entry);
}

CohortTimetable *
cohort_timetable_new(const gchar *time_zone, GError **error)
{
    g_autoptr(CohortTimetable) self = g_new0(CohortTimetable, 1);

    if (time_zone == NULL || *time_zone == '\0' || strlen(time_zone) > 64 ||
        strstr(time_zone, "..") != NULL || time_zone[0] == '/') {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"time_zone\": '%s' is not an IANA time zone name (such as Europe/Berlin or "
                    "Asia/Phnom_Penh)",
                    time_zone != NULL ? time_zone : "");
        return NULL;
    }
    self->tz = g_time_zone_new_identifier(time_zone);
    if (self->tz == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"time_zone\": '%s' is not a time zone this system knows (an IANA name "
                    "such as Europe/Berlin or Asia/Phnom_Penh)",
                    time_zone);
        return NULL;
    }
    self->time_zone = g_strdup(time_zone);
    self->entries = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_timetable_entry_free);
    return g_steal_pointer(&self);
}

void
cohort_timetable_free(CohortTimetable *self)
{
    if (self == NULL)
        return;
    g_free(self->time_zone);
    if (self->tz != NULL)
        g_time_zone_unref(self->tz);
    if (self->entries != NULL)
        g_ptr_array_unref(self->entries);
    g_free(self);
}

const gchar *
cohort_timetable_get_time_zone(const CohortTimetable *self)
{
    return self->time_zone;
}

GTimeZone *
cohort_timetable_get_tz(const CohortTimetable *self)
{
    return self->tz;
}

static gboolean
cohort_timetable_fail(GError **error, const gchar *entry, const gchar *what)
{
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "'%s': %s", entry, what);
    return FALSE;
}

/* "HH:MM" (00:00 … 24:00) to minutes; -1 when it is not one. */
static gint
cohort_timetable_parse_clock(const gchar *text)
{
    guint64 h;
    guint64 m;

    if (strlen(text) != 5 || text[2] != ':' || !g_ascii_isdigit(text[0]) ||
        !g_ascii_isdigit(text[1]) || !g_ascii_isdigit(text[3]) || !g_ascii_isdigit(text[4]))
        return -1;
    h = (guint64)(text[0] - '0') * 10 + (guint64)(text[1] - '0');
    m = (guint64)(text[3] - '0') * 10 + (guint64)(text[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return (gint)(h * 60 + m);
}

/* "HH:MM-HH:MM", the end after the start on the same day. */
static gboolean
cohort_timetable_parse_span(const gchar *entry, const gchar *text, gint *start, gint *end,
                            GError **error)
{
    g_auto(GStrv) parts = g_strsplit(text, "-", -1);
    g_autofree gchar *msg = NULL;

    if (g_strv_length(parts) != 2 || (*start = cohort_timetable_parse_clock(parts[0])) < 0 ||
        (*end = cohort_timetable_parse_clock(parts[1])) < 0 || *start == 24 * 60) {
        msg = g_strdup_printf("'%s' is not a time span HH:MM-HH:MM (24-hour clock)", text);
        return cohort_timetable_fail(error, entry, msg);
    }
    if (*end <= *start) {
        msg = g_strdup_printf("'%s' ends before it starts (a session ends on the day it starts)",
                              text);
        return cohort_timetable_fail(error, entry, msg);
    }
    return TRUE;
}

static gint
cohort_timetable_day_index(const gchar *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(cohort_timetable_day_names); i++) {
        if (g_ascii_strcasecmp(name, cohort_timetable_day_names[i]) == 0)
            return (gint)i;
    }
    return -1;
}

/* "mon-fri", "mon,wed", "mon-wed,fri", "sat-mon" (wrapping), "daily". */
static gboolean
cohort_timetable_parse_days(const gchar *entry, const gchar *text, guint8 *days, GError **error)
{
    g_auto(GStrv) items = NULL;

    *days = 0;
    if (g_ascii_strcasecmp(text, "daily") == 0) {
        *days = 0x7f;
        return TRUE;
    }
    items = g_strsplit(text, ",", -1);
    for (guint i = 0; items[i] != NULL; i++) {
        g_auto(GStrv) range = g_strsplit(items[i], "-", -1);
        guint n = g_strv_length(range);
        gint first = n >= 1 ? cohort_timetable_day_index(range[0]) : -1;
        gint last = n == 2 ? cohort_timetable_day_index(range[1]) : first;
        g_autofree gchar *msg = NULL;

        if (n == 0 || n > 2 || first < 0 || last < 0) {
            const gchar *bad = n >= 1 && first < 0 ? range[0] : n == 2 ? range[1] : items[i];
            msg = g_strdup_printf("'%s' is not a day (mon, tue, wed, thu, fri, sat, sun, a range "
                                  "such as mon-fri, or daily)",
                                  bad);
            return cohort_timetable_fail(error, entry, msg);
        }
        for (gint d = first;; d = (d + 1) % 7) {
            *days |= (guint8)(1u << d);
            if (d == last)
                break;
        }
    }
    return TRUE;
}

static gboolean
cohort_timetable_parse_date(const gchar *entry, const gchar *text, GDate *date, GError **error)
{
    guint64 y;
    guint64 m;
    guint64 d;
    g_autofree gchar *msg = NULL;

    g_date_clear(date, 1);
    /* the digits one by one: "2026-1-5" or "+026-…" are not dates */
    if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
        gboolean digits = TRUE;
        for (guint i = 0; i < 10; i++) {
            if (i != 4 && i != 7 && !g_ascii_isdigit(text[i]))
                digits = FALSE;
        }
        if (digits) {
            y = g_ascii_strtoull(text, NULL, 10);
            m = g_ascii_strtoull(text + 5, NULL, 10);
            d = g_ascii_strtoull(text + 8, NULL, 10);
            if (y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= 31 &&
                g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y)) {
                g_date_set_dmy(date, (GDateDay)d, (GDateMonth)m, (GDateYear)y);
                return TRUE;
            }
        }
    }
    msg = g_strdup_printf("'%s' is not a date YYYY-MM-DD", text);
    return cohort_timetable_fail(error, entry, msg);
}

static gchar *
cohort_timetable_date_text(const GDate *date)
{
    return g_strdup_printf("%04u-%02u-%02u", g_date_get_year(date), g_date_get_month(date),
                           g_date_get_day(date));
}

static gchar *
cohort_timetable_days_text(guint8 days)
{
    GString *s = g_string_new(NULL);

    if (days == 0x7f)
        return g_string_free(g_string_append(s, "daily"), FALSE);
    for (gint d = 0; d < 7;) {
        gint e = d;
        if (!(days & (1u << d))) {
            d++;
            continue;
        }
        while (e + 1 < 7 && (days & (1u << (e + 1))))
            e++;
        if (s->len > 0)
            g_string_append_c(s, ',');
        g_string_append(s, cohort_timetable_day_names[d]);
        if (e > d)
            g_string_append_printf(s, "%s%s", e == d + 1 ? "," : "-",
                                   cohort_timetable_day_names[e]);
        d = e + 1;
    }
    return g_string_free(s, FALSE);
}

gboolean
cohort_timetable_add(CohortTimetable *self, CohortTimetableKind kind, const gchar *entry,
                     GError **error)
{
    g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) split = NULL;
    CohortTimetableEntry *e;
    g_autofree gchar *days = NULL;
    g_autofree gchar *date = NULL;
    const gchar *expect;

    if (entry == NULL || *entry == '\0' || strlen(entry) > COHORT_TIMETABLE_MAX_ENTRY_LEN ||
        !g_utf8_validate(entry, -1, NULL)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "a timetable entry is 1 to %d characters", COHORT_TIMETABLE_MAX_ENTRY_LEN);
        return FALSE;
    }
    if (self->entries->len >= COHORT_TIMETABLE_MAX_ENTRIES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "'%s': a timetable holds at most %d entries", entry,
                    COHORT_TIMETABLE_MAX_ENTRIES);
        return FALSE;
    }
    split = g_strsplit_set(entry, " \t", -1);
    for (guint i = 0; split[i] != NULL; i++) {
        if (*split[i] != '\0')
            g_ptr_array_add(words, g_strdup(split[i]));
    }
    e = g_new0(CohortTimetableEntry, 1);
    e->kind = kind;
    e->start_min = -1;
    g_date_clear(&e->date, 1);
    switch (kind) {
    case COHORT_TIMETABLE_RULE:
        expect = "a weekly rule is DAYS HH:MM-HH:MM (such as mon-fri 08:00-12:00)";
        if (words->len != 2 ||
            !cohort_timetable_parse_days(entry, g_ptr_array_index(words, 0), &e->days, error) ||
            !cohort_timetable_parse_span(entry, g_ptr_array_index(words, 1), &e->start_min,
                                         &e->end_min, error))
            break;
        days = cohort_timetable_days_text(e->days);
        e->canonical = g_strdup_printf("%s %02d:%02d-%02d:%02d", days, e->start_min / 60,
                                       e->start_min % 60, e->end_min / 60, e->end_min % 60);
        break;
    case COHORT_TIMETABLE_ONE_OFF:
        expect = "a one-off session is YYYY-MM-DD HH:MM-HH:MM (such as 2026-12-14 09:00-11:00)";
        if (words->len != 2 ||
            !cohort_timetable_parse_date(entry, g_ptr_array_index(words, 0), &e->date, error) ||
            !cohort_timetable_parse_span(entry, g_ptr_array_index(words, 1), &e->start_min,
                                         &e->end_min, error))
            break;
        date = cohort_timetable_date_text(&e->date);
        e->canonical = g_strdup_printf("%s %02d:%02d-%02d:%02d", date, e->start_min / 60,
                                       e->start_min % 60, e->end_min / 60, e->end_min % 60);
        break;
    case COHORT_TIMETABLE_CANCEL:
    default:
        expect = "a cancellation is [cancel] YYYY-MM-DD [HH:MM] (a day, or the session that "
                 "starts then)";
        /* "cancel" is optional where the kind is known already */
        if (words->len > 0 && g_ascii_strcasecmp(g_ptr_array_index(words, 0), "cancel") == 0)
            g_ptr_array_remove_index(words, 0);
        if (words->len < 1 || words->len > 2 ||
            !cohort_timetable_parse_date(entry, g_ptr_array_index(words, 0), &e->date, error))
            break;
        if (words->len == 2 &&
            (e->start_min = cohort_timetable_parse_clock(g_ptr_array_index(words, 1))) < 0) {
            g_autofree gchar *msg =
                g_strdup_printf("'%s' is not a time HH:MM", (gchar *)g_ptr_array_index(words, 1));
            cohort_timetable_fail(error, entry, msg);
            break;
        }
        date = cohort_timetable_date_text(&e->date);
        e->canonical = e->start_min < 0 ? g_strdup_printf("cancel %s", date)
                                        : g_strdup_printf("cancel %s %02d:%02d", date,
                                                          e->start_min / 60, e->start_min % 60);
        break;
    }
    if (e->canonical == NULL) {
        if (error != NULL && *error == NULL)
            cohort_timetable_fail(error, entry, expect);
        cohort_timetable_entry_free(e);
        return FALSE;
    }
    g_ptr_array_add(self->entries, e);
    return TRUE;
}

gboolean
cohort_timetable_add_any(CohortTimetable *self, const gchar *entry, GError **error)
{
    const gchar *p = entry != NULL ? entry : "";

    while (*p == ' ' || *p == '\t')
        p++;
    if (g_ascii_strncasecmp(p, "cancel", 6) == 0)
        return cohort_timetable_add(self, COHORT_TIMETABLE_CANCEL, entry, error);
    if (g_ascii_isdigit(*p))
        return cohort_timetable_add(self, COHORT_TIMETABLE_ONE_OFF, entry, error);
    return cohort_timetable_add(self, COHORT_TIMETABLE_RULE, entry, error);
}

gchar **
cohort_timetable_list(const CohortTimetable *self, CohortTimetableKind kind)
{
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; i < self->entries->len; i++) {
        CohortTimetableEntry *e = g_ptr_array_index(self->entries, i);
        if (e->kind == kind)
            g_ptr_array_add(out, g_strdup(e->canonical));
    }
    g_ptr_array_add(out, NULL);
    return (gchar **)g_ptr_array_free(out, FALSE);
}

gboolean
cohort_timetable_is_empty(const CohortTimetable *self)
{
    return self->entries->len == 0;
}

/* Local wall-clock time on @date, @minutes after midnight (24:00 is the next midnight), as
 * Unix seconds. A time in a spring-forward gap is moved past the gap, as GLib does. */
static gint64
cohort_timetable_local(GTimeZone *tz, const GDate *date, gint minutes)
{
    g_autoptr(GDateTime) dt = NULL;
    GDate d = *date;

    if (minutes >= 24 * 60) {
        g_date_add_days(&d, 1);
        minutes -= 24 * 60;
    }
    dt = g_date_time_new(tz, g_date_get_year(&d), g_date_get_month(&d), g_date_get_day(&d),
                         minutes / 60, minutes % 60, 0);
    return dt != NULL ? g_date_time_to_unix(dt) : 0;
}

typedef struct {
    CohortSession session;
    GDate date;
    gint start_min;
    const CohortTimetableEntry *from;
    gboolean cancelled;
} CohortTimetableItem;

static gint
cohort_timetable_item_cmp(gconstpointer a, gconstpointer b)
{
    const CohortTimetableItem *x = a;
    const CohortTimetableItem *y = b;

    if (x->session.start != y->session.start)
        return x->session.start < y->session.start ? -1 : 1;
    return (x->session.end > y->session.end) - (x->session.end < y->session.end);
}

GArray *
cohort_timetable_expand(const CohortTimetable *self, gint64 from, gint64 to, GError **error)
{
    g_autoptr(GArray) items = g_array_new(FALSE, FALSE, sizeof(CohortTimetableItem));
    g_autoptr(GArray) out = g_array_new(FALSE, FALSE, sizeof(CohortSession));
    g_autoptr(GDateTime) first = g_date_time_new_from_unix_utc(from);
    g_autoptr(GDateTime) last = g_date_time_new_from_unix_utc(to);
    g_autoptr(GDateTime) first_local = NULL;
    g_autoptr(GDateTime) last_local = NULL;
    GDate day;
    GDate end_day;
    guint n_days = 0;

    if (first == NULL || last == NULL || to <= from)
        return g_steal_pointer(&out);
    first_local = g_date_time_to_timezone(first, self->tz);
    last_local = g_date_time_to_timezone(last, self->tz);
    g_date_clear(&day, 1);
    g_date_clear(&end_day, 1);
    g_date_set_dmy(&day, g_date_time_get_day_of_month(first_local),
                   g_date_time_get_month(first_local), g_date_time_get_year(first_local));
    g_date_set_dmy(&end_day, g_date_time_get_day_of_month(last_local),
                   g_date_time_get_month(last_local), g_date_time_get_year(last_local));
    /* the weekly rules, day by day in the cohort's zone */
    for (; g_date_compare(&day, &end_day) <= 0 && n_days < COHORT_TIMETABLE_MAX_DAYS;
         g_date_add_days(&day, 1), n_days++) {
        gint bit = (gint)g_date_get_weekday(&day) - 1; /* G_DATE_MONDAY is 1 */
        for (guint i = 0; i < self->entries->len; i++) {
            const CohortTimetableEntry *e = g_ptr_array_index(self->entries, i);
            CohortTimetableItem item = {0};
            if (e->kind != COHORT_TIMETABLE_RULE || !(e->days & (1u << bit)))
                continue;
            item.session.start = cohort_timetable_local(self->tz, &day, e->start_min);
            item.session.end = cohort_timetable_local(self->tz, &day, e->end_min);
            if (item.session.start < from || item.session.end > to)
                continue;
            item.date = day;
            item.start_min = e->start_min;
            item.from = e;
            g_array_append_val(items, item);
            if (items->len > COHORT_TIMETABLE_MAX_SESSIONS) {
                g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "'%s': the timetable has more than %d sessions", e->canonical,
                            COHORT_TIMETABLE_MAX_SESSIONS);
                return NULL;
            }
        }
    }
    /* one-off sessions, each within the course's dates */
    for (guint i = 0; i < self->entries->len; i++) {
        const CohortTimetableEntry *e = g_ptr_array_index(self->entries, i);
        CohortTimetableItem item = {0};
        if (e->kind != COHORT_TIMETABLE_ONE_OFF)
            continue;
        item.session.start = cohort_timetable_local(self->tz, &e->date, e->start_min);
        item.session.end = cohort_timetable_local(self->tz, &e->date, e->end_min);
        if (item.session.start < from || item.session.end > to) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "'%s': the session is outside the cohort's dates", e->canonical);
            return NULL;
        }
        item.date = e->date;
        item.start_min = e->start_min;
        item.from = e;
        g_array_append_val(items, item);
    }
    /* cancellations: a day, or the one session that starts then */
    for (guint i = 0; i < self->entries->len; i++) {
        const CohortTimetableEntry *e = g_ptr_array_index(self->entries, i);
        gboolean hit = FALSE;
        if (e->kind != COHORT_TIMETABLE_CANCEL)
            continue;
        for (guint j = 0; j < items->len; j++) {
            CohortTimetableItem *item = &g_array_index(items, CohortTimetableItem, j);
            if (g_date_compare(&item->date, &e->date) != 0 ||
                (e->start_min >= 0 && e->start_min != item->start_min))
                continue;
            item->cancelled = TRUE;
            hit = TRUE;
        }
        if (!hit) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "'%s': no session %s",
                        e->canonical, e->start_min >= 0 ? "starts then" : "on that day");
            return NULL;
        }
    }
    g_array_sort(items, cohort_timetable_item_cmp);
    for (guint i = 0; i < items->len; i++) {
        const CohortTimetableItem *item = &g_array_index(items, CohortTimetableItem, i);
        const CohortSession *prev =
            out->len > 0 ? &g_array_index(out, CohortSession, out->len - 1) : NULL;
        if (item->cancelled)
            continue;
        if (prev != NULL && item->session.start < prev->end) {
            g_autofree gchar *at = cohort_timetable_format_local(item->session.start, self->tz);
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "'%s': its session at %s overlaps another session", item->from->canonical,
                        at);
            return NULL;
        }
        g_array_append_val(out, item->session);
    }
    return g_steal_pointer(&out);
}

gchar *
cohort_timetable_format_utc(gint64 t)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
    return dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("");
}

gchar *
cohort_timetable_format_local(gint64 t, GTimeZone *tz)
{
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(t);
    g_autoptr(GDateTime) dt = utc != NULL ? g_date_time_to_timezone(utc, tz) : NULL;
    g_autofree gchar *offset = NULL;
    g_autofree gchar *base = NULL;

    if (dt == NULL)
        return g_strdup("");
    if (g_date_time_get_utc_offset(dt) == 0)
        return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    base = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
    offset = g_date_time_format(dt, "%:z");
    return g_strconcat(base, offset, NULL);
}

gboolean
cohort_timetable_parse_time(const gchar *text, gint64 *t)
{
    g_autoptr(GDateTime) dt = NULL;

    if (text == NULL)
        return FALSE;
    dt = g_date_time_new_from_iso8601(text, NULL);
    if (dt == NULL)
        return FALSE;
    *t = g_date_time_to_unix(dt);
    return TRUE;
}

const CohortSession *
cohort_sessions_current_or_next(GArray *sessions, gint64 now)
{
    for (guint i = 0; sessions != NULL && i < sessions->len; i++) {
        const CohortSession *s = &g_array_index(sessions, CohortSession, i);
        if (s->end > now)
            return s;
    }
    return NULL;
}

gboolean
cohort_sessions_overlap(GArray *a, GArray *b)
{
    guint i = 0;
    guint j = 0;

    while (a != NULL && b != NULL && i < a->len && j < b->len) {
        const CohortSession *x = &g_array_index(a, CohortSession, i);
        const CohortSession *y = &g_array_index(b, CohortSession, j);
        if (x->start < y->end && y->start < x->end)
            return TRUE;
        if (x->end <= y->end)
            i++;
        else
            j++;
    }
    return FALSE;
}
