/* The store's template bases (where each came from, and where it is on each host) and what
 * machines moved away from a lost host left there. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

void
cohort_base_row_free(CohortBaseRow *row)
{
    if (row == NULL)
        return;
    g_free(row->volume);
    g_free(row->source);
    g_free(row->sha256);
    g_free(row->created_at);
    g_free(row);
}

gboolean
cohort_store_base_set(CohortStore *self, const CohortBaseRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    what = g_strdup_printf("base volume '%s'", row->volume);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO bases (volume, source, size_bytes, sha256, created_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (volume) DO UPDATE SET"
                                " source = ?2, size_bytes = ?3, sha256 = ?4, created_at = ?5",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->volume);
    cohort_store_bind_text(stmt, 2, row->source);
    cohort_store_bind_uint64(stmt, 3, row->size_bytes);
    cohort_store_bind_text(stmt, 4, row->sha256);
    cohort_store_bind_text(stmt, 5, row->created_at != NULL ? row->created_at : now);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

static gpointer
cohort_store_base_read(sqlite3_stmt *stmt)
{
    CohortBaseRow *row = g_new0(CohortBaseRow, 1);

    row->volume = cohort_store_column_text(stmt, 0);
    row->source = cohort_store_column_text(stmt, 1);
    row->size_bytes = (guint64)sqlite3_column_int64(stmt, 2);
    row->sha256 = cohort_store_column_text(stmt, 3);
    row->created_at = cohort_store_column_text(stmt, 4);
    return row;
}

CohortBaseRow *
cohort_store_base_get(CohortStore *self, const gchar *volume, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("base volume '%s'", volume);
    stmt = cohort_store_prepare(self,
                                "SELECT volume, source, size_bytes, sha256, created_at FROM bases"
                                " WHERE volume = ?1",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, volume);
    return cohort_store_get_one(self, stmt, cohort_store_base_read, what, error);
}

gboolean
cohort_store_host_base_set(CohortStore *self, gint64 host_id, const gchar *volume,
                           const gchar *state, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("base volume '%s' on host %" G_GINT64_FORMAT, volume, host_id);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO host_bases (host_id, volume, state, updated_at)"
                                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (host_id, volume) DO UPDATE"
                                " SET state = ?3, updated_at = ?4",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, host_id);
    cohort_store_bind_text(stmt, 2, volume);
    cohort_store_bind_text(stmt, 3, state);
    cohort_store_bind_text(stmt, 4, now);
    return cohort_store_run(self, stmt, what, NULL, "host", error);
}

gboolean
cohort_store_host_base_delete(CohortStore *self, gint64 host_id, const gchar *volume,
                              GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("base volume '%s' on host %" G_GINT64_FORMAT, volume, host_id);
    stmt = cohort_store_prepare(self, "DELETE FROM host_bases WHERE host_id = ?1 AND volume = ?2",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, host_id);
    cohort_store_bind_text(stmt, 2, volume);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

GHashTable *
cohort_store_host_base_list(CohortStore *self, gint64 host_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GHashTable) bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree gchar *what = NULL;
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("base volumes of host %" G_GINT64_FORMAT, host_id);
    stmt = cohort_store_prepare(self, "SELECT volume, state FROM host_bases WHERE host_id = ?1",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, host_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        g_hash_table_insert(bases, cohort_store_column_text(stmt, 0),
                            cohort_store_column_text(stmt, 1));
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&bases);
}

gboolean
cohort_store_host_base_count_users(CohortStore *self, gint64 host_id, const gchar *const *templates,
                                   guint *machines, GError **error)
{
    g_autofree gchar *what = NULL;
    guint count = 0;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machines of host %" G_GINT64_FORMAT, host_id);
    for (guint i = 0; templates != NULL && templates[i] != NULL; i++) {
        g_autoptr(CohortStmt) stmt = cohort_store_prepare(
            self,
            "SELECT COUNT(*) FROM machines WHERE host_id = ?1 AND template_name = ?2"
            " AND state <> 'reclaimed'",
            what, error);
        if (stmt == NULL)
            return FALSE;
        cohort_store_bind_int64(stmt, 1, host_id);
        cohort_store_bind_text(stmt, 2, templates[i]);
        if (!cohort_store_step_row(self, stmt, what, error))
            return FALSE;
        count += cohort_store_column_uint(stmt, 0);
    }
    *machines = count;
    return TRUE;
}

/* ---- leftovers ---- */

gboolean
cohort_store_leftover_insert(CohortStore *self, gint64 machine_id, gint64 host_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("what machine %" G_GINT64_FORMAT " left on host %" G_GINT64_FORMAT,
                           machine_id, host_id);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO machine_leftovers (machine_id, host_id, created_at)"
                                " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, machine_id);
    cohort_store_bind_int64(stmt, 2, host_id);
    cohort_store_bind_text(stmt, 3, now);
    return cohort_store_run(self, stmt, what, NULL, "machine or host", error);
}

gboolean
cohort_store_leftover_delete(CohortStore *self, gint64 machine_id, gint64 host_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("what machine %" G_GINT64_FORMAT " left on host %" G_GINT64_FORMAT,
                           machine_id, host_id);
    stmt = cohort_store_prepare(
        self, "DELETE FROM machine_leftovers WHERE machine_id = ?1 AND host_id = ?2", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, machine_id);
    cohort_store_bind_int64(stmt, 2, host_id);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

GArray *
cohort_store_leftover_list(CohortStore *self, gint64 host_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("what moved machines left on host %" G_GINT64_FORMAT, host_id);
    stmt = cohort_store_prepare(
        self, "SELECT machine_id FROM machine_leftovers WHERE host_id = ?1 ORDER BY machine_id",
        what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, host_id);
    return cohort_store_get_ids(self, stmt, what, error);
}
