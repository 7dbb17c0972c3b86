/* The store's cohorts, their enrollments and their leases. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-store-private.h"

void
cohort_cohort_row_free(CohortCohortRow *row)
{
    if (row == NULL)
        return;
    g_free(row->slug);
    g_free(row->title);
    g_free(row->template_name);
    g_free(row->trainer_login);
    g_free(row->starts_at);
    g_free(row->ends_at);
    g_free(row->state);
    g_free(row->created_at);
    g_free(row->network);
    g_free(row->placement);
    g_free(row);
}

/* ---- cohorts and enrollments ---- */

const gchar *
cohort_store_cohort_state(const CohortCohortRow *cohort)
{
    g_autofree gchar *now = NULL;

    if (g_strcmp0(cohort->state, "reclaimed") == 0)
        return "reclaimed";
    /* normalized RFC 3339 UTC strings compare as times */
    now = cohort_store_now();
    if (g_strcmp0(now, cohort->ends_at) >= 0)
        return "ended";
    if (g_strcmp0(now, cohort->starts_at) >= 0)
        return "active";
    return "planned";
}

#define COHORT_SELECT                                                                              \
    "SELECT c.id, c.slug, c.title, c.template_name, c.trainer_id, u.login, c.starts_at,"           \
    " c.ends_at, c.grace_hours, c.quota_machines, c.quota_vcpus, c.quota_memory_mib, c.state,"     \
    " c.created_at, c.network, c.placement FROM cohorts c JOIN users u ON u.id = c.trainer_id"

static gpointer
cohort_store_cohort_read(sqlite3_stmt *stmt)
{
    CohortCohortRow *row = g_new0(CohortCohortRow, 1);

    row->id = sqlite3_column_int64(stmt, 0);
    row->slug = cohort_store_column_text(stmt, 1);
    row->title = cohort_store_column_text(stmt, 2);
    row->template_name = cohort_store_column_text(stmt, 3);
    row->trainer_id = sqlite3_column_int64(stmt, 4);
    row->trainer_login = cohort_store_column_text(stmt, 5);
    row->starts_at = cohort_store_column_text(stmt, 6);
    row->ends_at = cohort_store_column_text(stmt, 7);
    row->grace_hours = cohort_store_column_uint(stmt, 8);
    row->quota_machines = cohort_store_column_uint(stmt, 9);
    row->quota_vcpus = cohort_store_column_uint(stmt, 10);
    row->quota_memory_mib = (guint64)sqlite3_column_int64(stmt, 11);
    row->state = cohort_store_column_text(stmt, 12);
    row->created_at = cohort_store_column_text(stmt, 13);
    row->network = cohort_store_column_text(stmt, 14);
    row->placement = cohort_store_column_text(stmt, 15);
    return row;
}

gboolean
cohort_store_cohort_insert(CohortStore *self, CohortCohortRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *conflict = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "planned";
    what = g_strdup_printf("cohort '%s'", row->slug);
    conflict = g_strdup_printf("a cohort with slug '%s' already exists", row->slug);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO cohorts (slug, title, template_name, trainer_id,"
                                " starts_at, ends_at, grace_hours, quota_machines, quota_vcpus,"
                                " quota_memory_mib, state, created_at, network, placement)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                                " ?14)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->slug);
    cohort_store_bind_text(stmt, 2, row->title);
    cohort_store_bind_text(stmt, 3, row->template_name);
    cohort_store_bind_int64(stmt, 4, row->trainer_id);
    cohort_store_bind_text(stmt, 5, row->starts_at);
    cohort_store_bind_text(stmt, 6, row->ends_at);
    cohort_store_bind_uint(stmt, 7, row->grace_hours);
    cohort_store_bind_uint(stmt, 8, row->quota_machines);
    cohort_store_bind_uint(stmt, 9, row->quota_vcpus);
    cohort_store_bind_uint64(stmt, 10, row->quota_memory_mib);
    cohort_store_bind_text(stmt, 11, state);
    cohort_store_bind_text(stmt, 12, row->created_at != NULL ? row->created_at : now);
    cohort_store_bind_text(stmt, 13, row->network != NULL ? row->network : "isolated");
    cohort_store_bind_text(stmt, 14, row->placement);
    if (!cohort_store_run(self, stmt, what, conflict, "trainer", error))
        return FALSE;
    row->id = sqlite3_last_insert_rowid(self->db);
    cohort_store_take_default(&row->state, state);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

CohortCohortRow *
cohort_store_cohort_get_by_slug(CohortStore *self, const gchar *slug, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("cohort '%s'", slug);
    stmt = cohort_store_prepare(self, COHORT_SELECT " WHERE c.slug = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, slug);
    return cohort_store_get_one(self, stmt, cohort_store_cohort_read, what, error);
}

CohortCohortRow *
cohort_store_cohort_get_by_id(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("cohort with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, COHORT_SELECT " WHERE c.id = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    return cohort_store_get_one(self, stmt, cohort_store_cohort_read, what, error);
}

GPtrArray *
cohort_store_cohort_list(CohortStore *self, gint64 trainer_id, gint64 trainee_id, GError **error)
{
    /* Only literal clauses, so each filter can use its index; values are bound. Literals: the
     * statement cache finds them by their address. */
#define COHORT_LIST_BY_TRAINER " AND c.trainer_id = :trainer"
#define COHORT_LIST_BY_TRAINEE                                                                     \
    " AND c.id IN (SELECT e.cohort_id FROM enrollments e WHERE e.user_id = :trainee)"
    static const gchar *const sql[] = {
        COHORT_SELECT " WHERE 1 ORDER BY c.slug",
        COHORT_SELECT " WHERE 1" COHORT_LIST_BY_TRAINER " ORDER BY c.slug",
        COHORT_SELECT " WHERE 1" COHORT_LIST_BY_TRAINEE " ORDER BY c.slug",
        COHORT_SELECT " WHERE 1" COHORT_LIST_BY_TRAINER COHORT_LIST_BY_TRAINEE " ORDER BY c.slug",
    };
#undef COHORT_LIST_BY_TRAINER
#undef COHORT_LIST_BY_TRAINEE
    g_autoptr(CohortStmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self, sql[(trainer_id > 0 ? 1 : 0) | (trainee_id > 0 ? 2 : 0)],
                                "listing cohorts", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_named_id(stmt, ":trainer", trainer_id);
    cohort_store_bind_named_id(stmt, ":trainee", trainee_id);
    return cohort_store_get_all(self, stmt, cohort_store_cohort_read,
                                (GDestroyNotify)cohort_cohort_row_free, "listing cohorts", error);
}

gboolean
cohort_store_cohort_update(CohortStore *self, const CohortCohortRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    if (row->slug != NULL)
        what = g_strdup_printf("cohort '%s'", row->slug);
    else
        what = g_strdup_printf("cohort with id %" G_GINT64_FORMAT, row->id);
    stmt = cohort_store_prepare(self,
                                "UPDATE cohorts SET title = ?2, ends_at = ?3, grace_hours = ?4,"
                                " quota_machines = ?5, quota_vcpus = ?6, quota_memory_mib = ?7,"
                                " state = ?8, placement = ?9 WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, row->id);
    cohort_store_bind_text(stmt, 2, row->title);
    cohort_store_bind_text(stmt, 3, row->ends_at);
    cohort_store_bind_uint(stmt, 4, row->grace_hours);
    cohort_store_bind_uint(stmt, 5, row->quota_machines);
    cohort_store_bind_uint(stmt, 6, row->quota_vcpus);
    cohort_store_bind_uint64(stmt, 7, row->quota_memory_mib);
    cohort_store_bind_text(stmt, 8, row->state);
    cohort_store_bind_text(stmt, 9, row->placement);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_enrollment_insert(CohortStore *self, gint64 cohort_id, gint64 user_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("enrollment of user %" G_GINT64_FORMAT " in cohort %" G_GINT64_FORMAT,
                           user_id, cohort_id);
    /* ON CONFLICT, not INSERT OR IGNORE: that would hide NOT NULL and CHECK failures too. */
    stmt = cohort_store_prepare(self,
                                "INSERT INTO enrollments (cohort_id, user_id, created_at)"
                                " VALUES (?1, ?2, ?3) ON CONFLICT (cohort_id, user_id) DO NOTHING",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    cohort_store_bind_text(stmt, 3, now);
    return cohort_store_run(self, stmt, what, NULL, "cohort or user", error);
}

gboolean
cohort_store_enrollment_delete(CohortStore *self, gint64 cohort_id, gint64 user_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf(
        "enrollment of user %" G_GINT64_FORMAT " in cohort %" G_GINT64_FORMAT, user_id, cohort_id);

    stmt = cohort_store_prepare(
        self, "DELETE FROM enrollments WHERE cohort_id = ?1 AND user_id = ?2", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

gboolean
cohort_store_enrollment_exists(CohortStore *self, gint64 cohort_id, gint64 user_id)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GError) error = NULL;
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);

    stmt = cohort_store_prepare(self,
                                "SELECT 1 FROM enrollments WHERE cohort_id = ?1 AND user_id = ?2",
                                "checking an enrollment", &error);
    if (stmt == NULL) {
        g_warning("store %s: %s", self->path, error->message);
        return FALSE;
    }
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        g_warning("store %s: checking an enrollment: %s", self->path, sqlite3_errmsg(self->db));
    return rc == SQLITE_ROW;
}

GPtrArray *
cohort_store_enrollment_list(CohortStore *self, gint64 cohort_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("trainees of cohort %" G_GINT64_FORMAT, cohort_id);
    stmt = cohort_store_prepare(self,
                                "SELECT " USER_COLUMNS " FROM enrollments e JOIN users u"
                                " ON u.id = e.user_id WHERE e.cohort_id = ?1 ORDER BY u.login",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    return cohort_store_get_all(self, stmt, cohort_store_user_read,
                                (GDestroyNotify)cohort_user_row_free, what, error);
}

/* ---- leases ---- */

gboolean
cohort_store_cohort_get_lease(CohortStore *self, gint64 cohort_id, guint *hours,
                              guint *max_extensions, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("cohort with id %" G_GINT64_FORMAT, cohort_id);

    stmt = cohort_store_prepare(
        self, "SELECT lease_hours, lease_max_extensions FROM cohorts WHERE id = ?1", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    *hours = cohort_store_column_uint(stmt, 0);
    *max_extensions = cohort_store_column_uint(stmt, 1);
    return TRUE;
}

gboolean
cohort_store_cohort_set_lease(CohortStore *self, gint64 cohort_id, guint hours,
                              guint max_extensions, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("cohort with id %" G_GINT64_FORMAT, cohort_id);

    stmt = cohort_store_prepare(
        self, "UPDATE cohorts SET lease_hours = ?2, lease_max_extensions = ?3 WHERE id = ?1", what,
        error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, hours);
    cohort_store_bind_int64(stmt, 3, max_extensions);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_cohort_apply_lease(CohortStore *self, gint64 cohort_id, const gchar *expires_at,
                                GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("machines of cohort %" G_GINT64_FORMAT, cohort_id);

    stmt = cohort_store_prepare(
        self,
        expires_at == NULL
            ? "UPDATE machines SET expires_at = NULL, extensions = 0"
              " WHERE cohort_id = ?1 AND " HOLDS_RESOURCES("machines")
            : "UPDATE machines SET expires_at = ?2"
              " WHERE cohort_id = ?1 AND expires_at IS NULL AND " HOLDS_RESOURCES("machines"),
        what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    if (expires_at != NULL)
        cohort_store_bind_text(stmt, 2, expires_at);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}
