/* The store's course calendar (cohort-store-calendar.c): a cohort's time zone, its
 * timetable's entries and its outside-session quota; start-to-ready durations per template
 * and host; hours run outside sessions per trainee and ISO week. */
#pragma once

#include "cohort-store.h"

G_BEGIN_DECLS

typedef struct {
    gchar *kind; /* "rule", "one-off", "cancel" */
    gchar *entry;
} CohortScheduleEntryRow;

void cohort_schedule_entry_row_free(CohortScheduleEntryRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortScheduleEntryRow, cohort_schedule_entry_row_free)

/* @time_zone NULL: the installation's. */
gboolean cohort_store_cohort_get_calendar(CohortStore *self, gint64 cohort_id, gchar **time_zone,
                                          guint *outside_hours_per_week, GError **error);
gboolean cohort_store_cohort_set_calendar(CohortStore *self, gint64 cohort_id,
                                          const gchar *time_zone, guint outside_hours_per_week,
                                          GError **error);
/* The entries (CohortScheduleEntryRow) in order; an empty array for none. */
GPtrArray *cohort_store_schedule_list(CohortStore *self, gint64 cohort_id, GError **error);
/* Replaces the entries (in the caller's transaction, if any). */
gboolean cohort_store_schedule_replace(CohortStore *self, gint64 cohort_id, GPtrArray *entries,
                                       GError **error);

/* A start-to-ready duration; only the newest @keep per template and host are kept. */
gboolean cohort_store_boot_duration_add(CohortStore *self, const gchar *template_name,
                                        gint64 host_id, gdouble seconds, guint keep,
                                        GError **error);
/* The newest durations (gdouble), at most @limit. */
GArray *cohort_store_boot_duration_list(CohortStore *self, const gchar *template_name,
                                        gint64 host_id, guint limit, GError **error);

/* Seconds run outside sessions by @user_id's machines in @cohort_id during ISO week @week
 * ("2026-W51"). */
gboolean cohort_store_outside_usage_add(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                        const gchar *week, guint64 seconds, GError **error);
guint64 cohort_store_outside_usage_get(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                       const gchar *week);

G_END_DECLS
