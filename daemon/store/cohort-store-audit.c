/* The store's audit log: who did what, to what, with which result. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

void
cohort_audit_row_free(CohortAuditRow *row)
{
    if (row == NULL)
        return;
    g_free(row->at);
    g_free(row->actor);
    g_free(row->action);
    g_free(row->target);
    g_free(row->result);
    g_free(row->detail);
    g_free(row);
}

/* ---- audit ---- */

gboolean
cohort_store_audit_insert(CohortStore *self, const gchar *actor, const gchar *action,
                          const gchar *target, const gchar *result, const gchar *detail,
                          GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("audit record '%s' by '%s'", action, actor);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO audit (at, actor, action, target, result, detail)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, now);
    cohort_store_bind_text(stmt, 2, actor);
    cohort_store_bind_text(stmt, 3, action);
    cohort_store_bind_text(stmt, 4, target);
    cohort_store_bind_text(stmt, 5, result);
    cohort_store_bind_text(stmt, 6, detail);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

static gpointer
cohort_store_audit_read(sqlite3_stmt *stmt)
{
    CohortAuditRow *row = g_new0(CohortAuditRow, 1);

    row->id = sqlite3_column_int64(stmt, 0);
    row->at = cohort_store_column_text(stmt, 1);
    row->actor = cohort_store_column_text(stmt, 2);
    row->action = cohort_store_column_text(stmt, 3);
    row->target = cohort_store_column_text(stmt, 4);
    row->result = cohort_store_column_text(stmt, 5);
    row->detail = cohort_store_column_text(stmt, 6);
    return row;
}

GPtrArray *
cohort_store_audit_list(CohortStore *self, guint limit, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    /* By id, not by time: several records share a second, the id keeps their order. */
    stmt = cohort_store_prepare(self,
                                "SELECT id, at, actor, action, target, result, detail FROM audit"
                                " ORDER BY id DESC LIMIT ?1",
                                "listing the audit log", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, limit);
    return cohort_store_get_all(self, stmt, cohort_store_audit_read,
                                (GDestroyNotify)cohort_audit_row_free, "listing the audit log",
                                error);
}

void
cohort_store_audit_record(CohortStore *self, const gchar *actor, const gchar *action,
                          const gchar *target, const GError *result)
{
    g_autoptr(GError) error = NULL;

    if (!cohort_store_audit_insert(self, actor != NULL ? actor : "anonymous", action, target,
                                   result == NULL ? "ok"
                                   : result->domain == COHORT_ERROR
                                       ? cohort_error_code_to_string(result->code)
                                       : "internal",
                                   result != NULL ? result->message : NULL, &error))
        g_warning("cannot record audit entry %s %s: %s", action, target, error->message);
}
