/* What a machine's guest is told about itself (its seed): the guest password, sealed at rest,
 * the seed's generation, and its trainee's SSH keys. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-migrations.h"
#include "cohort-store-private.h"
#include "cohort-store.h"

static gchar *
cohort_store_guest_context(const gchar *name)
{
    return g_strconcat(COHORT_STORE_CONTEXT_GUEST_PASSWORD, name, NULL);
}

/* The machine's name, which the sealed password is bound to. */
static gchar *
cohort_store_guest_machine_name(CohortStore *self, gint64 id, const gchar *what, GError **error)
{
    g_autoptr(CohortStmt) stmt =
        cohort_store_prepare(self, "SELECT name FROM machines WHERE id = ?1", what, error);

    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return NULL;
    return cohort_store_column_text(stmt, 0);
}

static gboolean
cohort_store_guest_write(CohortStore *self, gint64 id, const gchar *clear, gboolean next,
                         GError **error)
{
    g_autofree gchar *what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    g_autofree gchar *name = NULL;
    g_autofree gchar *context = NULL;
    g_autofree gchar *sealed = NULL;
    g_autoptr(CohortStmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(clear != NULL, FALSE);

    name = cohort_store_guest_machine_name(self, id, what, error);
    if (name == NULL)
        return FALSE;
    context = cohort_store_guest_context(name);
    sealed = cohort_store_seal(self, context, clear, error);
    if (sealed == NULL)
        return FALSE;
    stmt = cohort_store_prepare(self,
                                next ? "UPDATE machines SET guest_password_sealed = ?2,"
                                       " seed_generation = seed_generation + 1 WHERE id = ?1"
                                     : "UPDATE machines SET guest_password_sealed = ?2"
                                       " WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    cohort_store_bind_text(stmt, 2, sealed);
    return cohort_store_run_update_usage_neutral(self, stmt, what, error);
}

gboolean
cohort_store_machine_set_guest_password(CohortStore *self, gint64 id, const gchar *clear,
                                        GError **error)
{
    return cohort_store_guest_write(self, id, clear, FALSE, error);
}

gboolean
cohort_store_machine_renew_guest(CohortStore *self, gint64 id, const gchar *clear, GError **error)
{
    return cohort_store_guest_write(self, id, clear, TRUE, error);
}

gboolean
cohort_store_machine_get_guest(CohortStore *self, gint64 id, gchar **password, guint *generation,
                               GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *context = NULL;
    const gchar *sealed;

    g_return_val_if_fail(self != NULL, FALSE);

    if (password != NULL)
        *password = NULL;
    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(
        self, "SELECT name, guest_password_sealed, seed_generation FROM machines WHERE id = ?1",
        what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    if (generation != NULL)
        *generation = cohort_store_column_uint(stmt, 2);
    sealed = (const gchar *)sqlite3_column_text(stmt, 1);
    if (password == NULL || sealed == NULL)
        return TRUE;
    context = cohort_store_guest_context((const gchar *)sqlite3_column_text(stmt, 0));
    *password = cohort_store_unseal(self, context, sealed, error);
    if (*password == NULL) {
        g_prefix_error(error, "the guest password of %s: ", what);
        return FALSE;
    }
    return TRUE;
}

GPtrArray *
cohort_store_user_get_ssh_keys(CohortStore *self, gint64 user_id, GError **error)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("SSH keys of user %" G_GINT64_FORMAT, user_id);
    int rc;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self,
                                "SELECT key FROM user_ssh_keys WHERE user_id = ?1"
                                " ORDER BY idx",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, user_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        g_ptr_array_add(keys, cohort_store_column_text(stmt, 0));
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&keys);
}

gboolean
cohort_store_user_set_ssh_keys(CohortStore *self, gint64 user_id, const gchar *const *keys,
                               GError **error)
{
    g_autofree gchar *what = g_strdup_printf("SSH keys of user %" G_GINT64_FORMAT, user_id);
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    if (!cohort_store_begin(self, error))
        return FALSE;
    {
        g_autoptr(CohortStmt) del =
            cohort_store_prepare(self, "DELETE FROM user_ssh_keys WHERE user_id = ?1", what, error);
        if (del == NULL) {
            cohort_store_rollback(self);
            return FALSE;
        }
        cohort_store_bind_int64(del, 1, user_id);
        if (!cohort_store_run(self, del, what, NULL, NULL, error)) {
            cohort_store_rollback(self);
            return FALSE;
        }
    }
    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
        g_autoptr(CohortStmt) ins = cohort_store_prepare(
            self,
            "INSERT INTO user_ssh_keys (user_id, idx, key, created_at) VALUES (?1, ?2, ?3, ?4)",
            what, error);
        if (ins == NULL) {
            cohort_store_rollback(self);
            return FALSE;
        }
        cohort_store_bind_int64(ins, 1, user_id);
        cohort_store_bind_uint(ins, 2, i);
        cohort_store_bind_text(ins, 3, keys[i]);
        cohort_store_bind_text(ins, 4, now);
        if (!cohort_store_run(self, ins, what, NULL, "user", error)) {
            cohort_store_rollback(self);
            return FALSE;
        }
    }
    return cohort_store_commit(self, error);
}
