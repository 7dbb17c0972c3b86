/* A cohort's timetable: weekly rules ("mon-fri 08:00-12:00", "mon,wed 13:30-16:30"), one-off
 * sessions ("2026-12-14 09:00-11:00") and cancellations ("cancel 2026-12-16", or one session:
 * "cancel 2026-12-16 08:00"), in an IANA time zone, expanded into sessions between two
 * instants. Pure: no clock, no store; times are Unix seconds (UTC). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bounds: what a request may ask, checked before anything is expanded. */
#define COHORT_TIMETABLE_MAX_ENTRIES 64
#define COHORT_TIMETABLE_MAX_ENTRY_LEN 64
#define COHORT_TIMETABLE_MAX_SESSIONS 4096

typedef enum {
    COHORT_TIMETABLE_RULE,
    COHORT_TIMETABLE_ONE_OFF,
    COHORT_TIMETABLE_CANCEL,
} CohortTimetableKind;

typedef struct {
    gint64 start; /* Unix seconds */
    gint64 end;
} CohortSession;

typedef struct _CohortTimetable CohortTimetable;

/* @time_zone: an IANA name ("Europe/Berlin", "UTC"); COHORT_ERROR_INVALID_ARGUMENT naming it
 * when the system's zone database does not know it. */
CohortTimetable *cohort_timetable_new(const gchar *time_zone, GError **error);
void cohort_timetable_free(CohortTimetable *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortTimetable, cohort_timetable_free)

const gchar *cohort_timetable_get_time_zone(const CohortTimetable *self);
GTimeZone *cohort_timetable_get_tz(const CohortTimetable *self);

/* Adds one entry of @kind; on failure COHORT_ERROR_INVALID_ARGUMENT naming the entry and its
 * bad part, and nothing is added. */
gboolean cohort_timetable_add(CohortTimetable *self, CohortTimetableKind kind, const gchar *entry,
                              GError **error);
/* Adds an entry whose kind its text says: "cancel …", "YYYY-MM-DD …" or a rule. */
gboolean cohort_timetable_add_any(CohortTimetable *self, const gchar *entry, GError **error);
/* The entries of @kind in their canonical spelling, in the order added (NULL-terminated). */
gchar **cohort_timetable_list(const CohortTimetable *self, CohortTimetableKind kind);
gboolean cohort_timetable_is_empty(const CohortTimetable *self);

/* The sessions that lie wholly in [@from, @to), sorted by start (GArray of CohortSession).
 * A one-off outside that window, a cancellation that matches no session, two sessions that
 * overlap or more than COHORT_TIMETABLE_MAX_SESSIONS sessions are
 * COHORT_ERROR_INVALID_ARGUMENT naming the entry. */
GArray *cohort_timetable_expand(const CohortTimetable *self, gint64 from, gint64 to,
                                GError **error);

/* An instant as RFC 3339: in UTC ("2026-12-14T08:00:00Z"), or in @tz with its offset. */
gchar *cohort_timetable_format_utc(gint64 t);
gchar *cohort_timetable_format_local(gint64 t, GTimeZone *tz);
/* RFC 3339 text to Unix seconds; FALSE when it is not one. */
gboolean cohort_timetable_parse_time(const gchar *text, gint64 *t);

/* The session that holds @now, else the next one; NULL when none is left. Borrowed. */
const CohortSession *cohort_sessions_current_or_next(GArray *sessions, gint64 now);
/* Whether two sets of sessions overlap anywhere. */
gboolean cohort_sessions_overlap(GArray *a, GArray *b);

G_END_DECLS
