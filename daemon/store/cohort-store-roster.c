/* The store's rosters in bulk (cohort-store.h). */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

gboolean
cohort_store_roster_stage(CohortStore *self, GPtrArray *entries, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;

    /* a TEMP table lives with this connection only and never reaches the database file */
    if (!cohort_store_exec(self,
                           "CREATE TEMP TABLE IF NOT EXISTS roster_stage ("
                           "  login TEXT PRIMARY KEY, display_name TEXT NOT NULL,"
                           "  code_hash TEXT NOT NULL, is_new INTEGER NOT NULL DEFAULT 0);"
                           "DELETE FROM roster_stage;",
                           "staging a roster", error))
        return FALSE;
    stmt = cohort_store_prepare(
        self, "INSERT INTO roster_stage (login, display_name, code_hash) VALUES (?1, ?2, ?3)",
        "staging a roster", error);
    if (stmt == NULL)
        return FALSE;
    for (guint i = 0; i < entries->len; i++) {
        const CohortStoreRosterEntry *entry = g_ptr_array_index(entries, i);
        cohort_store_bind_text(stmt, 1, entry->login);
        cohort_store_bind_text(stmt, 2, entry->display_name);
        cohort_store_bind_text(stmt, 3, entry->code_hash);
        if (!cohort_store_run(self, stmt, "staging a roster", "a login twice in the roster", NULL,
                              error))
            return FALSE;
        sqlite3_reset(stmt);
    }
    return TRUE;
}

GHashTable *
cohort_store_roster_staged_roles(CohortStore *self, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GHashTable) roles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    gint rc;

    stmt = cohort_store_prepare(self,
                                "SELECT s.login, u.role FROM roster_stage s"
                                " JOIN users u ON u.login = s.login",
                                "reading the accounts a roster names", error);
    if (stmt == NULL)
        return NULL;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        g_hash_table_replace(roles, cohort_store_column_text(stmt, 0),
                             cohort_store_column_text(stmt, 1));
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "reading the accounts a roster names", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&roles);
}

/* One statement over the whole stage, binding ?1 cohort, ?2 now, ?3 expiry where it uses
 * them; @changes, if given, gets the rows it changed. */
static gboolean
cohort_store_roster_step(CohortStore *self, const gchar *sql, gint64 cohort_id, const gchar *now,
                         const gchar *expires_at, guint *changes, GError **error)
{
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(self, sql, "importing a roster", error);

    if (stmt == NULL)
        return FALSE;
    if (sqlite3_bind_parameter_index(stmt, "?1") > 0)
        cohort_store_bind_int64(stmt, sqlite3_bind_parameter_index(stmt, "?1"), cohort_id);
    if (sqlite3_bind_parameter_index(stmt, "?2") > 0)
        cohort_store_bind_text(stmt, sqlite3_bind_parameter_index(stmt, "?2"), now);
    if (sqlite3_bind_parameter_index(stmt, "?3") > 0)
        cohort_store_bind_text(stmt, sqlite3_bind_parameter_index(stmt, "?3"), expires_at);
    if (!cohort_store_run(self, stmt, "importing a roster", "this invitation code already exists",
                          "cohort", error))
        return FALSE;
    if (changes != NULL)
        *changes = (guint)sqlite3_changes(self->db);
    return TRUE;
}

gboolean
cohort_store_roster_import(CohortStore *self, gint64 cohort_id, const gchar *expires_at,
                           guint *enrolled, GError **error)
{
    g_autofree gchar *now = cohort_store_now();

    if (!cohort_store_time_is_valid(expires_at)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "importing a roster: '%s' is not a time like 2026-12-01T08:00:00Z", expires_at);
        return FALSE;
    }
    /* which accounts are new, before they are made */
    return cohort_store_roster_step(self,
                                    "UPDATE roster_stage SET is_new ="
                                    " login NOT IN (SELECT login FROM users)",
                                    cohort_id, now, expires_at, NULL, error) &&
           cohort_store_roster_step(self,
                                    "INSERT INTO users (login, display_name, role, created_at)"
                                    " SELECT login, display_name, 'trainee', ?2 FROM roster_stage"
                                    " WHERE is_new",
                                    cohort_id, now, expires_at, NULL, error) &&
           cohort_store_roster_step(self,
                                    "INSERT INTO invitations (code_hash, user_id, cohort_id,"
                                    " created_at, expires_at)"
                                    " SELECT s.code_hash, u.id, ?1, ?2, ?3 FROM roster_stage s"
                                    " JOIN users u ON u.login = s.login WHERE s.is_new",
                                    cohort_id, now, expires_at, NULL, error) &&
           cohort_store_roster_step(self,
                                    "INSERT INTO enrollments (cohort_id, user_id, created_at)"
                                    " SELECT ?1, u.id, ?2 FROM roster_stage s"
                                    " JOIN users u ON u.login = s.login WHERE true"
                                    " ON CONFLICT (cohort_id, user_id) DO NOTHING",
                                    cohort_id, now, expires_at, enrolled, error) &&
           cohort_store_exec(self, "DELETE FROM roster_stage", "importing a roster", error);
}
