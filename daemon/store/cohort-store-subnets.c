/* The address plan: which subnet each cohort's own network has. One row per cohort, the same
 * subnet on every host its machines are on; the row goes when the cohort is reclaimed. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

gchar *
cohort_store_subnet_get(CohortStore *self, gint64 cohort_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self, "SELECT subnet FROM cohort_subnets WHERE cohort_id = ?1",
                                "the address plan", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return cohort_store_column_text(stmt, 0);
    if (rc != SQLITE_DONE)
        cohort_store_set_error(self, error, "the address plan", NULL, NULL);
    return NULL;
}

GPtrArray *
cohort_store_subnet_list(CohortStore *self, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autoptr(GPtrArray) subnets = g_ptr_array_new_with_free_func(g_free);
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self, "SELECT subnet FROM cohort_subnets ORDER BY first_address",
                                "the address plan", error);
    if (stmt == NULL)
        return NULL;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        g_ptr_array_add(subnets, cohort_store_column_text(stmt, 0));
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "the address plan", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&subnets);
}

gchar *
cohort_store_subnet_allocate(CohortStore *self, gint64 cohort_id, const CohortSubnet *range,
                             guint prefix, const CohortSubnet *avoid, guint n_avoid, GError **error)
{
    g_autoptr(GError) error_local = NULL;
    g_autofree gchar *held = NULL;
    g_autoptr(GPtrArray) subnets = NULL;
    g_autoptr(GArray) taken = g_array_new(FALSE, FALSE, sizeof(CohortSubnet));
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *range_text = NULL;
    g_autofree gchar *text = NULL;
    CohortSubnet found;

    g_return_val_if_fail(self != NULL, NULL);
    g_return_val_if_fail(range != NULL, NULL);

    held = cohort_store_subnet_get(self, cohort_id, &error_local);
    if (held != NULL)
        return g_steal_pointer(&held);
    if (error_local != NULL) {
        g_propagate_error(error, g_steal_pointer(&error_local));
        return NULL;
    }
    subnets = cohort_store_subnet_list(self, error);
    if (subnets == NULL)
        return NULL;
    for (guint i = 0; i < subnets->len; i++) {
        CohortSubnet s;
        if (cohort_subnet_parse(g_ptr_array_index(subnets, i), TRUE, &s, NULL))
            g_array_append_val(taken, s);
    }
    for (guint i = 0; i < n_avoid; i++)
        g_array_append_val(taken, avoid[i]);
    range_text = cohort_subnet_to_string(range);
    if (!cohort_subnet_find_free(range, prefix, (const CohortSubnet *)(gpointer)taken->data,
                                 taken->len, &found)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NO_CAPACITY,
                    "the address plan is full: [networks] range=%s has no /%u left for another "
                    "cohort network (%u cohorts hold one, %u networks already on the hosts "
                    "overlap it): widen [networks] range, set a longer [networks] prefix in "
                    "cohortd.conf, or reclaim cohorts that are over",
                    range_text, prefix, subnets->len, n_avoid);
        return NULL;
    }
    text = cohort_subnet_to_string(&found);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO cohort_subnets (cohort_id, subnet, first_address,"
                                " last_address, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                                "the address plan", error);
    if (stmt == NULL)
        return NULL;
    {
        g_autofree gchar *now = cohort_store_now();
        cohort_store_bind_int64(stmt, 1, cohort_id);
        cohort_store_bind_text(stmt, 2, text);
        cohort_store_bind_int64(stmt, 3, found.network);
        cohort_store_bind_int64(stmt, 4, cohort_subnet_last(&found));
        cohort_store_bind_text(stmt, 5, now);
    }
    if (!cohort_store_run(self, stmt, "the address plan", "that subnet is allocated already",
                          "cohort", error))
        return NULL;
    g_debug("address plan: cohort %" G_GINT64_FORMAT " has %s", cohort_id, text);
    return g_steal_pointer(&text);
}

gboolean
cohort_store_subnet_free(CohortStore *self, gint64 cohort_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    stmt = cohort_store_prepare(self, "DELETE FROM cohort_subnets WHERE cohort_id = ?1",
                                "the address plan", error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    return cohort_store_run(self, stmt, "the address plan", NULL, NULL, error);
}

gboolean
cohort_store_subnet_free_reclaimed(CohortStore *self, GHashTable *keep, guint *freed,
                                   GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);

    if (freed != NULL)
        *freed = 0;
    /* a reclaimed cohort with no machine left and no reclaim under way: nothing uses it */
    stmt = cohort_store_prepare(
        self,
        "SELECT c.id, c.slug FROM cohort_subnets s JOIN cohorts c ON c.id = s.cohort_id"
        " WHERE c.state = 'reclaimed'"
        " AND NOT EXISTS (SELECT 1 FROM machines m WHERE m.cohort_id = c.id"
        "  AND m.state <> 'reclaimed')"
        " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'reclaim' AND j.target = c.slug"
        "  AND j.state IN ('queued', 'running'))",
        "the address plan", error);
    if (stmt == NULL)
        return FALSE;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64(stmt, 0);
        const gchar *slug = (const gchar *)sqlite3_column_text(stmt, 1);
        if (keep == NULL || !g_hash_table_contains(keep, slug))
            g_array_append_val(ids, id);
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "the address plan", NULL, NULL);
        return FALSE;
    }
    for (guint i = 0; i < ids->len; i++) {
        if (!cohort_store_subnet_free(self, g_array_index(ids, gint64, i), error))
            return FALSE;
    }
    if (freed != NULL)
        *freed = ids->len;
    return TRUE;
}
