/* The store's course calendar. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-store-calendar.h"
#include "cohort-store-private.h"

void
cohort_schedule_entry_row_free(CohortScheduleEntryRow *row)
{
    if (row == NULL)
        return;
    g_free(row->kind);
    g_free(row->entry);
    g_free(row);
}

gboolean
cohort_store_cohort_get_calendar(CohortStore *self, gint64 cohort_id, gchar **time_zone,
                                 guint *outside_hours_per_week, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("cohort with id %" G_GINT64_FORMAT, cohort_id);

    stmt = cohort_store_prepare(
        self, "SELECT time_zone, outside_hours_per_week FROM cohorts WHERE id = ?1", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    if (time_zone != NULL)
        *time_zone = cohort_store_column_text(stmt, 0);
    if (outside_hours_per_week != NULL)
        *outside_hours_per_week = cohort_store_column_uint(stmt, 1);
    return TRUE;
}

gboolean
cohort_store_cohort_set_calendar(CohortStore *self, gint64 cohort_id, const gchar *time_zone,
                                 guint outside_hours_per_week, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("cohort with id %" G_GINT64_FORMAT, cohort_id);

    stmt = cohort_store_prepare(
        self, "UPDATE cohorts SET time_zone = ?2, outside_hours_per_week = ?3 WHERE id = ?1", what,
        error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_text(stmt, 2, time_zone);
    cohort_store_bind_uint(stmt, 3, outside_hours_per_week);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

static gpointer
cohort_store_schedule_read(sqlite3_stmt *stmt)
{
    CohortScheduleEntryRow *row = g_new0(CohortScheduleEntryRow, 1);

    row->kind = cohort_store_column_text(stmt, 0);
    row->entry = cohort_store_column_text(stmt, 1);
    return row;
}

GPtrArray *
cohort_store_schedule_list(CohortStore *self, gint64 cohort_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(
        self, "SELECT kind, entry FROM cohort_schedule WHERE cohort_id = ?1 ORDER BY position",
        "schedule", error);

    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    return cohort_store_get_all(self, stmt, cohort_store_schedule_read,
                                (GDestroyNotify)cohort_schedule_entry_row_free, "schedule", error);
}

gboolean
cohort_store_schedule_replace(CohortStore *self, gint64 cohort_id, GPtrArray *entries,
                              GError **error)
{
    g_autoptr(CohortStmt) del = NULL;

    del = cohort_store_prepare(self, "DELETE FROM cohort_schedule WHERE cohort_id = ?1", "schedule",
                               error);
    if (del == NULL)
        return FALSE;
    cohort_store_bind_int64(del, 1, cohort_id);
    if (!cohort_store_run(self, del, "schedule", NULL, NULL, error))
        return FALSE;
    for (guint i = 0; i < entries->len; i++) {
        const CohortScheduleEntryRow *e = g_ptr_array_index(entries, i);
        g_autoptr(CohortStmt) ins =
            cohort_store_prepare(self,
                                 "INSERT INTO cohort_schedule (cohort_id, position, kind, entry) "
                                 "VALUES (?1, ?2, ?3, ?4)",
                                 "schedule entry", error);
        if (ins == NULL)
            return FALSE;
        cohort_store_bind_int64(ins, 1, cohort_id);
        cohort_store_bind_uint(ins, 2, i);
        cohort_store_bind_text(ins, 3, e->kind);
        cohort_store_bind_text(ins, 4, e->entry);
        if (!cohort_store_run(self, ins, "schedule entry", NULL, "cohort", error))
            return FALSE;
    }
    return TRUE;
}

gboolean
cohort_store_boot_duration_add(CohortStore *self, const gchar *template_name, gint64 host_id,
                               gdouble seconds, guint keep, GError **error)
{
    g_autoptr(CohortStmt) ins = NULL;
    g_autoptr(CohortStmt) trim = NULL;
    g_autofree gchar *now = cohort_store_now();

    ins = cohort_store_prepare(self,
                               "INSERT INTO boot_durations (template_name, host_id, seconds, "
                               "measured_at) VALUES (?1, ?2, ?3, ?4)",
                               "boot duration", error);
    if (ins == NULL)
        return FALSE;
    cohort_store_bind_text(ins, 1, template_name);
    cohort_store_bind_int64(ins, 2, host_id);
    cohort_store_bind_double(ins, 3, seconds);
    cohort_store_bind_text(ins, 4, now);
    if (!cohort_store_run(self, ins, "boot duration", NULL, "host", error))
        return FALSE;
    trim = cohort_store_prepare(self,
                                "DELETE FROM boot_durations WHERE template_name = ?1 AND "
                                "host_id = ?2 AND id NOT IN (SELECT id FROM boot_durations "
                                "WHERE template_name = ?1 AND host_id = ?2 ORDER BY id DESC "
                                "LIMIT ?3)",
                                "boot durations", error);
    if (trim == NULL)
        return FALSE;
    cohort_store_bind_text(trim, 1, template_name);
    cohort_store_bind_int64(trim, 2, host_id);
    cohort_store_bind_uint(trim, 3, MAX(keep, 1));
    return cohort_store_run(self, trim, "boot durations", NULL, NULL, error);
}

GArray *
cohort_store_boot_duration_list(CohortStore *self, const gchar *template_name, gint64 host_id,
                                guint limit, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GArray) out = g_array_new(FALSE, FALSE, sizeof(gdouble));
    gint rc;

    stmt = cohort_store_prepare(self,
                                "SELECT seconds FROM boot_durations WHERE template_name = ?1 AND "
                                "host_id = ?2 ORDER BY id DESC LIMIT ?3",
                                "boot durations", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, template_name);
    cohort_store_bind_int64(stmt, 2, host_id);
    cohort_store_bind_uint(stmt, 3, limit);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gdouble v = sqlite3_column_double(stmt, 0);
        g_array_append_val(out, v);
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "boot durations", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&out);
}

gboolean
cohort_store_outside_usage_add(CohortStore *self, gint64 cohort_id, gint64 user_id,
                               const gchar *week, guint64 seconds, GError **error)
{
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(
        self,
        "INSERT INTO outside_usage (cohort_id, user_id, week, seconds) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (cohort_id, user_id, week) DO UPDATE SET seconds = seconds + ?4",
        "outside usage", error);

    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    cohort_store_bind_text(stmt, 3, week);
    cohort_store_bind_uint64(stmt, 4, seconds);
    return cohort_store_run(self, stmt, "outside usage", NULL, "cohort or user", error);
}

guint64
cohort_store_outside_usage_get(CohortStore *self, gint64 cohort_id, gint64 user_id,
                               const gchar *week)
{
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(
        self,
        "SELECT seconds FROM outside_usage WHERE cohort_id = ?1 AND user_id = ?2 AND week = ?3",
        "outside usage", NULL);

    if (stmt == NULL)
        return 0;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    cohort_store_bind_text(stmt, 3, week);
    return sqlite3_step(stmt) == SQLITE_ROW ? (guint64)sqlite3_column_int64(stmt, 0) : 0;
}
