/* The store's users, their API tokens and their invitation codes. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

void
cohort_user_row_free(CohortUserRow *row)
{
    if (row == NULL)
        return;
    g_free(row->login);
    g_free(row->display_name);
    g_free(row->role);
    g_free(row->created_at);
    g_free(row);
}

/* ---- users and tokens ---- */

gpointer
cohort_store_user_read(sqlite3_stmt *stmt)
{
    CohortUserRow *row = g_new0(CohortUserRow, 1);

    row->id = sqlite3_column_int64(stmt, 0);
    row->login = cohort_store_column_text(stmt, 1);
    row->display_name = cohort_store_column_text(stmt, 2);
    row->role = cohort_store_column_text(stmt, 3);
    row->created_at = cohort_store_column_text(stmt, 4);
    return row;
}

gboolean
cohort_store_user_insert(CohortStore *self, CohortUserRow *row, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *conflict = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    what = g_strdup_printf("user '%s'", row->login);
    conflict = g_strdup_printf("a user with login '%s' already exists", row->login);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO users (login, display_name, role, created_at)"
                                " VALUES (?1, ?2, ?3, ?4)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->login);
    cohort_store_bind_text(stmt, 2, row->display_name);
    cohort_store_bind_text(stmt, 3, row->role);
    cohort_store_bind_text(stmt, 4, row->created_at != NULL ? row->created_at : now);
    if (!cohort_store_run(self, stmt, what, conflict, NULL, error))
        return FALSE;
    row->id = sqlite3_last_insert_rowid(self->db);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

CohortUserRow *
cohort_store_user_get_by_login(CohortStore *self, const gchar *login, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("user '%s'", login);
    stmt = cohort_store_prepare(self, "SELECT " USER_COLUMNS " FROM users u WHERE u.login = ?1",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, login);
    return cohort_store_get_one(self, stmt, cohort_store_user_read, what, error);
}

CohortUserRow *
cohort_store_user_get_by_id(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("user with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, "SELECT " USER_COLUMNS " FROM users u WHERE u.id = ?1", what,
                                error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    return cohort_store_get_one(self, stmt, cohort_store_user_read, what, error);
}

GPtrArray *
cohort_store_user_list(CohortStore *self, const gchar *role, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self,
                                "SELECT " USER_COLUMNS " FROM users u"
                                " WHERE ?1 IS NULL OR u.role = ?1 ORDER BY u.login",
                                "listing users", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, role);
    return cohort_store_get_all(self, stmt, cohort_store_user_read,
                                (GDestroyNotify)cohort_user_row_free, "listing users", error);
}

gboolean
cohort_store_token_insert(CohortStore *self, gint64 user_id, const gchar *token_hash,
                          GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    /* The hash stays out of messages: they end up in logs. */
    what = g_strdup_printf("token of user %" G_GINT64_FORMAT, user_id);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO tokens (user_id, token_hash, created_at)"
                                " VALUES (?1, ?2, ?3)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, user_id);
    cohort_store_bind_text(stmt, 2, token_hash);
    cohort_store_bind_text(stmt, 3, now);
    return cohort_store_run(self, stmt, what, "this token already exists", "user", error);
}

/* How long a token found stays trusted without the database: a change cohortd makes drops it
 * at once; this bounds how long one made by another process (cohortd --create-admin) waits. */
#define COHORT_STORE_TOKEN_TTL_S 5
/* a class of trainees is a few hundred; past this the cache starts again */
#define COHORT_STORE_TOKENS_MAX 4096

typedef struct {
    CohortUserRow *user;
    gint64 found_at; /* monotonic µs */
} CohortStoreToken;

static void
cohort_store_token_free(CohortStoreToken *token)
{
    cohort_user_row_free(token->user);
    g_free(token);
}

CohortUserRow *
cohort_user_row_copy(const CohortUserRow *row)
{
    CohortUserRow *copy = g_new0(CohortUserRow, 1);

    copy->id = row->id;
    copy->login = g_strdup(row->login);
    copy->display_name = g_strdup(row->display_name);
    copy->role = g_strdup(row->role);
    copy->created_at = g_strdup(row->created_at);
    return copy;
}

void
cohort_store_tokens_drop(CohortStore *self)
{
    g_clear_pointer(&self->tokens, g_hash_table_unref);
}

void
cohort_store_tokens_on_update(CohortStore *self, const gchar *table)
{
    if (self->tokens != NULL && (g_strcmp0(table, "tokens") == 0 || g_strcmp0(table, "users") == 0))
        cohort_store_tokens_drop(self);
}

CohortUserRow *
cohort_store_token_lookup(CohortStore *self, const gchar *token_hash, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    const gint64 now = g_get_monotonic_time();
    CohortStoreToken *known;
    CohortUserRow *user;

    g_return_val_if_fail(self != NULL, NULL);

    known = self->tokens != NULL ? g_hash_table_lookup(self->tokens, token_hash) : NULL;
    if (known != NULL && now - known->found_at < COHORT_STORE_TOKEN_TTL_S * G_USEC_PER_SEC)
        return cohort_user_row_copy(known->user);

    stmt = cohort_store_prepare(self,
                                "SELECT " USER_COLUMNS " FROM tokens t JOIN users u"
                                " ON u.id = t.user_id"
                                " WHERE t.token_hash = ?1 AND t.revoked_at IS NULL",
                                "token", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, token_hash);
    user = cohort_store_get_one(self, stmt, cohort_store_user_read,
                                "such token (or it was revoked)", error);
    /* only tokens found: a wrong one costs the query every time, and nothing here */
    if (user == NULL)
        return NULL;
    if (self->tokens == NULL || g_hash_table_size(self->tokens) >= COHORT_STORE_TOKENS_MAX) {
        cohort_store_tokens_drop(self);
        self->tokens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify)cohort_store_token_free);
    }
    known = g_new0(CohortStoreToken, 1);
    known->user = cohort_user_row_copy(user);
    known->found_at = now;
    g_hash_table_replace(self->tokens, g_strdup(token_hash), known);
    return user;
}

gboolean
cohort_store_token_revoke_user(CohortStore *self, gint64 user_id, guint *count, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("tokens of user %" G_GINT64_FORMAT, user_id);
    stmt = cohort_store_prepare(self,
                                "UPDATE tokens SET revoked_at = ?2"
                                " WHERE user_id = ?1 AND revoked_at IS NULL",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, user_id);
    cohort_store_bind_text(stmt, 2, now);
    if (!cohort_store_run(self, stmt, what, NULL, NULL, error))
        return FALSE;
    if (count != NULL)
        *count = (guint)sqlite3_changes(self->db);
    return TRUE;
}

/* ---- invitations ---- */

gboolean
cohort_store_invitation_insert(CohortStore *self, gint64 user_id, gint64 cohort_id,
                               const gchar *code_hash, const gchar *expires_at, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("invitation of user %" G_GINT64_FORMAT " to cohort %" G_GINT64_FORMAT,
                           user_id, cohort_id);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO invitations (code_hash, user_id, cohort_id,"
                                " created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, code_hash);
    cohort_store_bind_int64(stmt, 2, user_id);
    cohort_store_bind_id(stmt, 3, cohort_id);
    cohort_store_bind_text(stmt, 4, now);
    cohort_store_bind_text(stmt, 5, expires_at);
    return cohort_store_run(self, stmt, what, "this invitation code already exists",
                            "user or cohort", error);
}

gboolean
cohort_store_invitation_withdraw_unused(CohortStore *self, gint64 user_id, gint64 cohort_id,
                                        guint *count, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("invitations of user %" G_GINT64_FORMAT, user_id);

    stmt = cohort_store_prepare(self,
                                "DELETE FROM invitations WHERE user_id = ?1 AND used_at IS NULL"
                                " AND (?2 = 0 OR cohort_id = ?2)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, user_id);
    cohort_store_bind_int64(stmt, 2, cohort_id);
    if (!cohort_store_run(self, stmt, what, NULL, NULL, error))
        return FALSE;
    if (count != NULL)
        *count = (guint)sqlite3_changes(self->db);
    return TRUE;
}

gboolean
cohort_store_invitation_pending(CohortStore *self, gint64 user_id, const gchar *now,
                                gchar **expires_at, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("codes of user %" G_GINT64_FORMAT, user_id);

    g_return_val_if_fail(expires_at != NULL, FALSE);

    *expires_at = NULL;
    stmt = cohort_store_prepare(self,
                                "SELECT MAX(expires_at) FROM invitations WHERE user_id = ?1"
                                " AND used_at IS NULL AND expires_at > ?2",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, user_id);
    cohort_store_bind_text(stmt, 2, now);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    *expires_at = cohort_store_column_text(stmt, 0);
    return TRUE;
}

gint64
cohort_store_invitation_redeem(CohortStore *self, const gchar *code_hash, const gchar *now,
                               GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    gint64 user_id;

    g_return_val_if_fail(self != NULL, 0);

    if (!cohort_store_time_is_valid(now)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "redeeming an invitation: '%s' is not a time like 2026-12-01T08:00:00Z", now);
        return 0;
    }
    /* One statement: two requests racing with the same code cannot both win. */
    stmt = cohort_store_prepare(self,
                                "UPDATE invitations SET used_at = ?2"
                                " WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2"
                                " RETURNING user_id",
                                "redeeming an invitation", error);
    if (stmt == NULL)
        return 0;
    cohort_store_bind_text(stmt, 1, code_hash);
    cohort_store_bind_text(stmt, 2, now);
    /* Unknown, used and expired alike, so codes cannot be probed. */
    if (!cohort_store_step_row(self, stmt, "valid invitation with this code", error))
        return 0;
    user_id = sqlite3_column_int64(stmt, 0);
    if (!cohort_store_run(self, stmt, "redeeming an invitation", NULL, NULL, error))
        return 0;
    return user_id;
}
