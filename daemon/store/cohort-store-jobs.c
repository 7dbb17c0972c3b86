/* The store's jobs: progress, per-machine errors, the machines of each (what a restart goes on
 * with), what reclaims freed. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-store-private.h"

void
cohort_job_row_free(CohortJobRow *row)
{
    if (row == NULL)
        return;
    g_free(row->kind);
    g_free(row->target);
    g_free(row->state);
    g_free(row->created_at);
    g_free(row->finished_at);
    g_free(row);
}

void
cohort_job_error_row_free(CohortJobErrorRow *row)
{
    if (row == NULL)
        return;
    g_free(row->machine);
    g_free(row->code);
    g_free(row->message);
    g_free(row->host);
    g_free(row);
}

/* ---- jobs ---- */

#define JOB_SELECT                                                                                 \
    "SELECT id, kind, user_id, target, state, total, done, failed, created_at, finished_at,"       \
    " bytes_done, bytes_total FROM jobs"

static gpointer
cohort_store_job_read(sqlite3_stmt *stmt)
{
    CohortJobRow *row = g_new0(CohortJobRow, 1);

    row->id = sqlite3_column_int64(stmt, 0);
    row->kind = cohort_store_column_text(stmt, 1);
    row->user_id = sqlite3_column_int64(stmt, 2);
    row->target = cohort_store_column_text(stmt, 3);
    row->state = cohort_store_column_text(stmt, 4);
    row->total = cohort_store_column_uint(stmt, 5);
    row->done = cohort_store_column_uint(stmt, 6);
    row->failed = cohort_store_column_uint(stmt, 7);
    row->created_at = cohort_store_column_text(stmt, 8);
    row->finished_at = cohort_store_column_text(stmt, 9);
    row->bytes_done = (guint64)sqlite3_column_int64(stmt, 10);
    row->bytes_total = (guint64)sqlite3_column_int64(stmt, 11);
    return row;
}

gboolean
cohort_store_job_insert(CohortStore *self, CohortJobRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "queued";
    what = g_strdup_printf("%s job on '%s'", row->kind, row->target);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO jobs (kind, user_id, target, state, total, done,"
                                " failed, created_at, finished_at, bytes_done, bytes_total)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->kind);
    cohort_store_bind_id(stmt, 2, row->user_id);
    cohort_store_bind_text(stmt, 3, row->target);
    cohort_store_bind_text(stmt, 4, state);
    cohort_store_bind_uint(stmt, 5, row->total);
    cohort_store_bind_uint(stmt, 6, row->done);
    cohort_store_bind_uint(stmt, 7, row->failed);
    cohort_store_bind_text(stmt, 8, row->created_at != NULL ? row->created_at : now);
    cohort_store_bind_text(stmt, 9, row->finished_at);
    cohort_store_bind_uint64(stmt, 10, row->bytes_done);
    cohort_store_bind_uint64(stmt, 11, row->bytes_total);
    if (!cohort_store_run(self, stmt, what, NULL, "user", error))
        return FALSE;
    row->id = sqlite3_last_insert_rowid(self->db);
    cohort_store_take_default(&row->state, state);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

CohortJobRow *
cohort_store_job_get(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("job %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, JOB_SELECT " WHERE id = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    return cohort_store_get_one(self, stmt, cohort_store_job_read, what, error);
}

gboolean
cohort_store_job_update(CohortStore *self, const CohortJobRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    what = g_strdup_printf("job %" G_GINT64_FORMAT, row->id);
    stmt =
        cohort_store_prepare(self,
                             "UPDATE jobs SET state = ?1, total = ?2, done = ?3, failed = ?4,"
                             " finished_at = ?5, bytes_done = ?7, bytes_total = ?8 WHERE id = ?6",
                             what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->state);
    cohort_store_bind_uint(stmt, 2, row->total);
    cohort_store_bind_uint(stmt, 3, row->done);
    cohort_store_bind_uint(stmt, 4, row->failed);
    cohort_store_bind_text(stmt, 5, row->finished_at);
    cohort_store_bind_int64(stmt, 6, row->id);
    cohort_store_bind_uint64(stmt, 7, row->bytes_done);
    cohort_store_bind_uint64(stmt, 8, row->bytes_total);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_job_error_insert(CohortStore *self, gint64 job_id, const gchar *machine,
                              const gchar *code, const gchar *message, GError **error)
{
    return cohort_store_job_error_insert_host(self, job_id, NULL, machine, code, message, error);
}

gboolean
cohort_store_job_error_insert_host(CohortStore *self, gint64 job_id, const gchar *host,
                                   const gchar *machine, const gchar *code, const gchar *message,
                                   GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("error of job %" G_GINT64_FORMAT " on %s '%s'", job_id,
                           machine != NULL ? "machine" : "host", machine != NULL ? machine : host);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO job_errors (job_id, machine, code, message, host)"
                                " VALUES (?1, ?2, ?3, ?4, ?5)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_text(stmt, 2, machine);
    cohort_store_bind_text(stmt, 3, code);
    cohort_store_bind_text(stmt, 4, message);
    cohort_store_bind_text(stmt, 5, host);
    return cohort_store_run(self, stmt, what, NULL, "job", error);
}

static gpointer
cohort_store_job_error_read(sqlite3_stmt *stmt)
{
    CohortJobErrorRow *row = g_new0(CohortJobErrorRow, 1);

    row->machine = cohort_store_column_text(stmt, 0);
    row->code = cohort_store_column_text(stmt, 1);
    row->message = cohort_store_column_text(stmt, 2);
    row->host = cohort_store_column_text(stmt, 3);
    return row;
}

GPtrArray *
cohort_store_job_error_list(CohortStore *self, gint64 job_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("errors of job %" G_GINT64_FORMAT, job_id);
    stmt = cohort_store_prepare(self,
                                "SELECT machine, code, message, host FROM job_errors"
                                " WHERE job_id = ?1 ORDER BY id",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, job_id);
    return cohort_store_get_all(self, stmt, cohort_store_job_error_read,
                                (GDestroyNotify)cohort_job_error_row_free, what, error);
}

/* ---- a job's machines, and jobs a restart goes on with ---- */

gboolean
cohort_store_job_machine_insert(CohortStore *self, gint64 job_id, gint64 machine_id, gboolean held,
                                GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machine %" G_GINT64_FORMAT " of job %" G_GINT64_FORMAT, machine_id,
                           job_id);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO job_machines (job_id, machine_id, held)"
                                " VALUES (?1, ?2, ?3)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_int64(stmt, 2, machine_id);
    cohort_store_bind_int64(stmt, 3, held ? 1 : 0);
    return cohort_store_run(self, stmt, what, NULL, "job or machine", error);
}

gboolean
cohort_store_job_machines_insert_cohort(CohortStore *self, gint64 job_id, gint64 cohort_id,
                                        GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machines of job %" G_GINT64_FORMAT, job_id);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO job_machines (job_id, machine_id, held)"
                                " SELECT ?1, id, state <> 'failed' FROM machines"
                                " WHERE cohort_id = ?2 AND state <> 'reclaimed'",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_int64(stmt, 2, cohort_id);
    return cohort_store_run(self, stmt, what, NULL, "job or machine", error);
}

gboolean
cohort_store_job_machines_set_state(CohortStore *self, gint64 job_id, const gchar *state,
                                    GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machines of job %" G_GINT64_FORMAT, job_id);
    stmt = cohort_store_prepare(self,
                                "UPDATE machines SET state = ?2, error = NULL WHERE id IN"
                                " (SELECT machine_id FROM job_machines WHERE job_id = ?1)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_text(stmt, 2, state);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

gboolean
cohort_store_job_machine_settle(CohortStore *self, gint64 job_id, gint64 machine_id,
                                gboolean failed, gboolean *counted, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(counted != NULL, FALSE);

    what = g_strdup_printf("machine %" G_GINT64_FORMAT " of job %" G_GINT64_FORMAT, machine_id,
                           job_id);
    stmt = cohort_store_prepare(self,
                                "UPDATE job_machines SET outcome = ?3"
                                " WHERE job_id = ?1 AND machine_id = ?2 AND outcome IS NULL",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_int64(stmt, 2, machine_id);
    cohort_store_bind_text(stmt, 3, failed ? "failed" : "done");
    if (!cohort_store_run(self, stmt, what, NULL, NULL, error))
        return FALSE;
    *counted = sqlite3_changes(self->db) > 0;
    return TRUE;
}

gboolean
cohort_store_job_machine_get_held(CohortStore *self, gint64 job_id, gint64 machine_id)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GError) error = NULL;

    g_return_val_if_fail(self != NULL, TRUE);

    stmt = cohort_store_prepare(
        self, "SELECT held FROM job_machines WHERE job_id = ?1 AND machine_id = ?2",
        "a machine of a job", &error);
    if (stmt == NULL) {
        g_warning("store %s: %s", self->path, error->message);
        return TRUE;
    }
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_int64(stmt, 2, machine_id);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        return TRUE;
    return sqlite3_column_int(stmt, 0) != 0;
}

gint64
cohort_store_job_machine_find_unfinished(CohortStore *self, gint64 machine_id, const gchar *kind)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GError) error = NULL;

    g_return_val_if_fail(self != NULL, 0);

    stmt = cohort_store_prepare(self,
                                "SELECT j.id FROM job_machines jm JOIN jobs j ON j.id = jm.job_id"
                                " WHERE jm.machine_id = ?1 AND jm.outcome IS NULL AND j.kind = ?2"
                                " AND j.state IN ('queued', 'running') ORDER BY j.id LIMIT 1",
                                "the job of a machine", &error);
    if (stmt == NULL) {
        g_warning("store %s: %s", self->path, error->message);
        return 0;
    }
    cohort_store_bind_int64(stmt, 1, machine_id);
    cohort_store_bind_text(stmt, 2, kind);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        return 0;
    return sqlite3_column_int64(stmt, 0);
}

gint64
cohort_store_job_find_unfinished(CohortStore *self, const gchar *kind, const gchar *target)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GError) error = NULL;

    g_return_val_if_fail(self != NULL, 0);

    stmt = cohort_store_prepare(self,
                                "SELECT id FROM jobs WHERE kind = ?1 AND target = ?2"
                                " AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
                                "an unfinished job", &error);
    if (stmt == NULL) {
        g_warning("store %s: %s", self->path, error->message);
        return 0;
    }
    cohort_store_bind_text(stmt, 1, kind);
    cohort_store_bind_text(stmt, 2, target);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        return 0;
    return sqlite3_column_int64(stmt, 0);
}

GPtrArray *
cohort_store_job_list_unfinished(CohortStore *self, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    stmt =
        cohort_store_prepare(self, JOB_SELECT " WHERE state IN ('queued', 'running') ORDER BY id",
                             "unfinished jobs", error);
    if (stmt == NULL)
        return NULL;
    return cohort_store_get_all(self, stmt, cohort_store_job_read,
                                (GDestroyNotify)cohort_job_row_free, "unfinished jobs", error);
}

GArray *
cohort_store_job_machine_list_pending(CohortStore *self, gint64 job_id, guint *recorded,
                                      GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    g_autofree gchar *what = NULL;
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machines of job %" G_GINT64_FORMAT, job_id);
    stmt = cohort_store_prepare(self,
                                "SELECT machine_id, outcome IS NULL FROM job_machines"
                                " WHERE job_id = ?1 ORDER BY machine_id",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, job_id);
    if (recorded != NULL)
        *recorded = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64(stmt, 0);
        if (recorded != NULL)
            (*recorded)++;
        if (sqlite3_column_int(stmt, 1) != 0)
            g_array_append_val(ids, id);
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&ids);
}

/* ---- what reclaims freed ---- */

gboolean
cohort_store_job_add_freed(CohortStore *self, gint64 job_id, guint machines, guint vcpus,
                           guint64 memory_mib, guint64 disk_bytes, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("job %" G_GINT64_FORMAT, job_id);

    stmt = cohort_store_prepare(self,
                                "UPDATE jobs SET freed_machines = freed_machines + ?5,"
                                " freed_vcpus = freed_vcpus + ?2,"
                                " freed_memory_mib = freed_memory_mib + ?3,"
                                " freed_disk_bytes = freed_disk_bytes + ?4 WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_int64(stmt, 2, vcpus);
    cohort_store_bind_int64(stmt, 3, (gint64)memory_mib);
    cohort_store_bind_int64(stmt, 4, (gint64)disk_bytes);
    cohort_store_bind_int64(stmt, 5, machines);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_job_add_freed_networks(CohortStore *self, gint64 job_id, guint networks,
                                    GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("job %" G_GINT64_FORMAT, job_id);

    stmt = cohort_store_prepare(
        self, "UPDATE jobs SET freed_networks = freed_networks + ?2 WHERE id = ?1", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_int64(stmt, 2, networks);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_job_get_freed(CohortStore *self, gint64 job_id, guint *machines, guint *vcpus,
                           guint64 *memory_mib, guint64 *disk_bytes, guint *networks,
                           GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("job %" G_GINT64_FORMAT, job_id);

    stmt = cohort_store_prepare(self,
                                "SELECT freed_machines, freed_vcpus, freed_memory_mib,"
                                " freed_disk_bytes, freed_networks FROM jobs WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    *machines = cohort_store_column_uint(stmt, 0);
    *vcpus = cohort_store_column_uint(stmt, 1);
    *memory_mib = (guint64)sqlite3_column_int64(stmt, 2);
    *disk_bytes = (guint64)sqlite3_column_int64(stmt, 3);
    if (networks != NULL)
        *networks = cohort_store_column_uint(stmt, 4);
    return TRUE;
}
