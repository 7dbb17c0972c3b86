/* The store's hosts: where machines run, their capacity and what is placed on them. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

void
cohort_host_row_free(CohortHostRow *row)
{
    if (row == NULL)
        return;
    g_free(row->name);
    g_free(row->uri);
    g_free(row->pool);
    g_free(row->state);
    g_free(row->created_at);
    g_free(row->accel);
    g_free(row);
}

/* ---- hosts ---- */

#define HOST_SELECT                                                                                \
    "SELECT id, name, uri, pool, vcpus, memory_mib, cpu_ratio, memory_ratio, state, created_at,"   \
    " disk_ratio, accel FROM hosts"

static gpointer
cohort_store_host_read(sqlite3_stmt *stmt)
{
    CohortHostRow *row = g_new0(CohortHostRow, 1);

    row->id = sqlite3_column_int64(stmt, 0);
    row->name = cohort_store_column_text(stmt, 1);
    row->uri = cohort_store_column_text(stmt, 2);
    row->pool = cohort_store_column_text(stmt, 3);
    row->vcpus = cohort_store_column_uint(stmt, 4);
    row->memory_mib = (guint64)sqlite3_column_int64(stmt, 5);
    row->cpu_ratio = sqlite3_column_double(stmt, 6);
    row->memory_ratio = sqlite3_column_double(stmt, 7);
    row->state = cohort_store_column_text(stmt, 8);
    row->created_at = cohort_store_column_text(stmt, 9);
    row->disk_ratio = sqlite3_column_double(stmt, 10);
    row->accel = cohort_store_column_text(stmt, 11);
    return row;
}

gboolean
cohort_store_host_insert(CohortStore *self, CohortHostRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *conflict = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;
    gdouble cpu_ratio;
    gdouble memory_ratio;
    gdouble disk_ratio;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "up";
    /* 0 is a ratio nobody means: the field was left unset, so no overcommit. */
    cpu_ratio = row->cpu_ratio != 0 ? row->cpu_ratio : 1.0;
    memory_ratio = row->memory_ratio != 0 ? row->memory_ratio : 1.0;
    disk_ratio = row->disk_ratio != 0 ? row->disk_ratio : 1.0;
    what = g_strdup_printf("host '%s'", row->name);
    conflict = g_strdup_printf("a host named '%s' already exists", row->name);
    /* a removed host's id is never given again: work still under way for it, or a log
     * line, cannot mistake a new host for it */
    stmt = cohort_store_prepare(
        self,
        "INSERT INTO hosts (id, name, uri, pool, vcpus, memory_mib, cpu_ratio, memory_ratio,"
        " state, created_at, disk_ratio, accel)"
        " VALUES (MAX(COALESCE((SELECT MAX(id) FROM hosts), 0),"
        " COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'host_id_removed'), 0))"
        " + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->name);
    cohort_store_bind_text(stmt, 2, row->uri);
    cohort_store_bind_text(stmt, 3, row->pool);
    cohort_store_bind_uint(stmt, 4, row->vcpus);
    cohort_store_bind_uint64(stmt, 5, row->memory_mib);
    cohort_store_bind_double(stmt, 6, cpu_ratio);
    cohort_store_bind_double(stmt, 7, memory_ratio);
    cohort_store_bind_text(stmt, 8, state);
    cohort_store_bind_text(stmt, 9, row->created_at != NULL ? row->created_at : now);
    cohort_store_bind_double(stmt, 10, disk_ratio);
    cohort_store_bind_text(stmt, 11, row->accel != NULL ? row->accel : "auto");
    if (!cohort_store_run(self, stmt, what, conflict, NULL, error))
        return FALSE;
    row->id = sqlite3_last_insert_rowid(self->db);
    row->cpu_ratio = cpu_ratio;
    row->memory_ratio = memory_ratio;
    row->disk_ratio = disk_ratio;
    cohort_store_take_default(&row->state, state);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

CohortHostRow *
cohort_store_host_get_by_name(CohortStore *self, const gchar *name, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("host '%s'", name);
    stmt = cohort_store_prepare(self, HOST_SELECT " WHERE name = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, name);
    return cohort_store_get_one(self, stmt, cohort_store_host_read, what, error);
}

CohortHostRow *
cohort_store_host_get_by_id(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("host with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, HOST_SELECT " WHERE id = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    return cohort_store_get_one(self, stmt, cohort_store_host_read, what, error);
}

GPtrArray *
cohort_store_host_list(CohortStore *self, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self, HOST_SELECT " ORDER BY name", "listing hosts", error);
    if (stmt == NULL)
        return NULL;
    return cohort_store_get_all(self, stmt, cohort_store_host_read,
                                (GDestroyNotify)cohort_host_row_free, "listing hosts", error);
}

gboolean
cohort_store_host_set_state(CohortStore *self, gint64 id, const gchar *state, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("host with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, "UPDATE hosts SET state = ?2 WHERE id = ?1", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    cohort_store_bind_text(stmt, 2, state);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_host_set_capacity(CohortStore *self, gint64 id, guint vcpus, guint64 memory_mib,
                               GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("host with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, "UPDATE hosts SET vcpus = ?2, memory_mib = ?3 WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    cohort_store_bind_int64(stmt, 2, vcpus);
    cohort_store_bind_int64(stmt, 3, (gint64)memory_mib);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_host_update(CohortStore *self, const CohortHostRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    what = g_strdup_printf("host '%s'", row->name);
    stmt = cohort_store_prepare(self,
                                "UPDATE hosts SET uri = ?2, pool = ?3, vcpus = ?4, memory_mib = ?5,"
                                " cpu_ratio = ?6, memory_ratio = ?7, disk_ratio = ?8, accel = ?9"
                                " WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, row->id);
    cohort_store_bind_text(stmt, 2, row->uri);
    cohort_store_bind_text(stmt, 3, row->pool);
    cohort_store_bind_uint(stmt, 4, row->vcpus);
    cohort_store_bind_uint64(stmt, 5, row->memory_mib);
    cohort_store_bind_double(stmt, 6, row->cpu_ratio);
    cohort_store_bind_double(stmt, 7, row->memory_ratio);
    cohort_store_bind_double(stmt, 8, row->disk_ratio);
    cohort_store_bind_text(stmt, 9, row->accel != NULL ? row->accel : "auto");
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_host_get_usage(CohortStore *self, gint64 id, guint *vcpus, guint64 *memory_mib,
                            GError **error)
{
    CohortHostUsage usage = {0};

    if (!cohort_store_host_get_usage_full(self, id, &usage, error))
        return FALSE;
    if (vcpus != NULL)
        *vcpus = usage.vcpus;
    if (memory_mib != NULL)
        *memory_mib = usage.memory_mib;
    return TRUE;
}

void
cohort_store_usage_drop(CohortStore *self)
{
    g_clear_pointer(&self->usage, g_hash_table_unref);
}

void
cohort_store_usage_on_update(CohortStore *self, const gchar *table)
{
    if (!self->usage_counting &&
        (g_strcmp0(table, "machines") == 0 || g_strcmp0(table, "hosts") == 0))
        cohort_store_usage_drop(self);
}

gboolean
cohort_store_host_get_usage_full(CohortStore *self, gint64 id, CohortHostUsage *usage,
                                 GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    const CohortHostUsage *known;

    g_return_val_if_fail(self != NULL, FALSE);

    if (self->usage == NULL)
        self->usage = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    known = g_hash_table_lookup(self->usage, &id);
    if (known != NULL) {
        *usage = *known;
        return TRUE;
    }

    what = g_strdup_printf("host with id %" G_GINT64_FORMAT, id);
    /* No row at all, rather than zeros, when the host does not exist. */
    stmt = cohort_store_prepare(
        self,
        /* the live machines' own index, which the planner, without statistics, would not pick */
        "SELECT u.vcpus, u.memory_mib, u.disk_mib, u.machines FROM hosts h,"
        " (SELECT COALESCE(SUM(vcpus), 0) AS vcpus, COALESCE(SUM(memory_mib), 0) AS memory_mib,"
        " COALESCE(SUM(disk_mib), 0) AS disk_mib, COUNT(*) AS machines"
        " FROM machines INDEXED BY machines_holding_by_host"
        " WHERE host_id = ?1 AND state NOT IN ('reclaimed', 'failed')) u WHERE h.id = ?1",
        what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    usage->vcpus = cohort_store_column_uint(stmt, 0);
    usage->memory_mib = (guint64)sqlite3_column_int64(stmt, 1);
    usage->disk_mib = (guint64)sqlite3_column_int64(stmt, 2);
    usage->machines = cohort_store_column_uint(stmt, 3);
    if (self->usage != NULL)
        g_hash_table_insert(self->usage, g_memdup2(&id, sizeof(id)),
                            g_memdup2(usage, sizeof(*usage)));
    return TRUE;
}

gboolean
cohort_store_host_get_living(CohortStore *self, gint64 id, guint *machines, GPtrArray **cohorts,
                             GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GPtrArray) slugs = g_ptr_array_new_with_free_func(g_free);
    g_autofree gchar *what = NULL;
    guint count = 0;
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machines of host with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self,
                                "SELECT c.slug, COUNT(*) FROM machines m"
                                " JOIN cohorts c ON c.id = m.cohort_id"
                                " WHERE m.host_id = ?1 AND m.state <> 'reclaimed'"
                                " GROUP BY c.slug ORDER BY c.slug",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        g_ptr_array_add(slugs, cohort_store_column_text(stmt, 0));
        count += cohort_store_column_uint(stmt, 1);
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return FALSE;
    }
    if (machines != NULL)
        *machines = count;
    if (cohorts != NULL)
        *cohorts = g_steal_pointer(&slugs);
    return TRUE;
}

/* Inside the transaction of cohort_store_host_delete(). */
static gboolean
cohort_store_host_delete_in_tx(CohortStore *self, gint64 id, const gchar *what, guint *detached,
                               GError **error)
{
    g_autoptr(CohortStmt) detach = NULL;
    g_autoptr(CohortStmt) delete = NULL;
    g_autoptr(CohortStmt) high = NULL;
    guint living = 0;

    if (!cohort_store_host_get_living(self, id, &living, NULL, error))
        return FALSE;
    if (living > 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "%s still holds %u machines that are not reclaimed", what, living);
        return FALSE;
    }
    /* history stays: the reclaimed machines keep their rows, placed nowhere */
    detach = cohort_store_prepare(
        self, "UPDATE machines SET host_id = NULL WHERE host_id = ?1 AND state = 'reclaimed'", what,
        error);
    if (detach == NULL)
        return FALSE;
    cohort_store_bind_int64(detach, 1, id);
    if (!cohort_store_run(self, detach, what, NULL, NULL, error))
        return FALSE;
    *detached = (guint)sqlite3_changes(self->db);
    delete = cohort_store_prepare(self, "DELETE FROM hosts WHERE id = ?1", what, error);
    if (delete == NULL)
        return FALSE;
    cohort_store_bind_int64(delete, 1, id);
    if (!cohort_store_run_update(self, delete, what, "machines", error))
        return FALSE;
    /* the highest id ever removed, so that cohort_store_host_insert() never reuses it */
    high = cohort_store_prepare(self,
                                "INSERT INTO meta (key, value) VALUES ('host_id_removed', ?1)"
                                " ON CONFLICT (key) DO UPDATE"
                                " SET value = MAX(CAST(value AS INTEGER), ?1)",
                                what, error);
    if (high == NULL)
        return FALSE;
    cohort_store_bind_int64(high, 1, id);
    return cohort_store_run(self, high, what, NULL, NULL, error);
}

gboolean
cohort_store_host_delete(CohortStore *self, gint64 id, guint *detached, GError **error)
{
    g_autofree gchar *what = NULL;
    guint n = 0;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("host with id %" G_GINT64_FORMAT, id);
    if (!cohort_store_begin(self, error))
        return FALSE;
    if (!cohort_store_host_delete_in_tx(self, id, what, &n, error) ||
        !cohort_store_commit(self, error)) {
        cohort_store_rollback(self);
        return FALSE;
    }
    if (detached != NULL)
        *detached = n;
    return TRUE;
}
