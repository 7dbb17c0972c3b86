/* Shared between the store's files (cohort-store*.c) only: the store itself and the SQLite
 * helpers every entity uses. Not installed; the rest of cohortd sees cohort-store.h. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include "cohort-store-migrations.h" /* g_autoptr(sqlite3_stmt) */
#include "cohort-store.h"

G_BEGIN_DECLS

struct _CohortStore {
    sqlite3 *db;
    gchar *path;
    CohortSecretKey *key; /* seals the secrets the store must read back */
    /* Prepared statements kept for the life of the store, keyed by their SQL: preparing was
     * a fifth of cohortd's instructions per machine (bench/README.md). SQL → CohortStoreSql,
     * whose free list holds the statements not in use; a statement in use is in none (a
     * query run inside another of the same SQL gets a second one). */
    GHashTable *stmts;
    /* The same entries by the address of the SQL a caller passed (a literal, mostly), each
     * checked against its text when found: hashing a whole SELECT was ~3 k instructions of
     * a list request (issue 14). Only a shortcut: cleared when it grows past its bound. */
    GHashTable *stmts_by_address;
    guint depth; /* transactions open: 1 is BEGIN, each one inside it a SAVEPOINT */
    /* Hosts' usage (host id → CohortHostUsage), as placement reads it: dropped by any change
     * to a machines row (sqlite3_update_hook) but the inserts that count themselves in it
     * (usage_counting), and by any rollback. Placing N machines read the host's rows every
     * time: O(N²). */
    GHashTable *usage;
    gboolean usage_counting;
    /* Tokens looked up (token hash → CohortStoreToken, cohort-store-users.c): every request
     * reads its caller's, and the query was a fifth of cohortd's own work on a list request
     * (issue 14). Dropped by any change to tokens or users and by any rollback; an entry is
     * read again after COHORT_STORE_TOKEN_TTL_S, for changes another process made. */
    GHashTable *tokens;
    /* A trainee's live machines (CohortStoreListKey → CohortStoreList,
     * cohort-store-machines.c): dropped when one of its machines changes or goes, when its
     * trainee gets a machine (machine_lists_owner), by any other insert into machines, any
     * change to cohorts, users or hosts and any rollback; read again after
     * COHORT_STORE_LISTS_TTL_S. */
    GHashTable *machine_lists;
    gint64 machine_lists_owner; /* the trainee of the machine being inserted; 0: unknown */
    /* The group commit of a turn's requests (cohort-store-group.c). */
    gboolean group_open;   /* the group's transaction, depth 1, is open */
    gboolean group_member; /* a member's savepoint, depth 2, is open */
    GSource *group_source; /* settles the group on the main loop's next turn */
    GQueue group_waiting;  /* CohortStoreGroupWaiter, in the order they joined */
};

/* The group's commit now, if one is open: before anyone else writes. Its members are told
 * at the next cohort_store_group_settle(). */
void cohort_store_group_flush(CohortStore *self);
void cohort_store_group_free(CohortStore *self);

/* The caches, for the writes that keep them; cohort_store_on_update() calls these. */
void cohort_store_usage_drop(CohortStore *self);
void cohort_store_usage_on_update(CohortStore *self, const gchar *table);
void cohort_store_tokens_drop(CohortStore *self);
void cohort_store_tokens_on_update(CohortStore *self, const gchar *table);
/* A kept list's key: a trainee's live machines in one cohort, or in all (cohort_id 0). */
typedef struct {
    gint64 cohort_id;
    gint64 user_id;
} CohortStoreListKey;
void cohort_store_machine_lists_drop(CohortStore *self);
void cohort_store_machine_lists_on_update(CohortStore *self, gint op, const gchar *table,
                                          gint64 rowid);

/* The machine states that hold a host's and a quota's resources. */
#define HOLDS_RESOURCES(m) m ".state NOT IN ('reclaimed', 'failed')"

/* What cohort_store_user_read() reads: users, and the trainees of an enrollment list. */
#define USER_COLUMNS "u.id, u.login, u.display_name, u.role, u.created_at"

typedef gpointer (*CohortStoreRowReader)(sqlite3_stmt *stmt);

/* times */
gboolean cohort_store_time_is_valid(const gchar *value);

/* SQLite at the edge (cohort-store.c says what each one does) */
void cohort_store_set_error(CohortStore *self, GError **error, const gchar *what,
                            const gchar *conflict, const gchar *refs);
gboolean cohort_store_exec(CohortStore *self, const gchar *sql, const gchar *what, GError **error);
/* A statement from the store's cache: give it back with cohort_store_stmt_release(), which
 * g_autoptr(CohortStmt) does (it resets the statement and clears its bindings). */
typedef sqlite3_stmt CohortStmt;
CohortStmt *cohort_store_prepare(CohortStore *self, const gchar *sql, const gchar *what,
                                 GError **error);
void cohort_store_stmt_release(CohortStmt *stmt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortStmt, cohort_store_stmt_release)
void cohort_store_bind_text(sqlite3_stmt *stmt, gint col, const gchar *value);
void cohort_store_bind_int64(sqlite3_stmt *stmt, gint col, gint64 value);
void cohort_store_bind_uint(sqlite3_stmt *stmt, gint col, guint value);
void cohort_store_bind_uint64(sqlite3_stmt *stmt, gint col, guint64 value);
void cohort_store_bind_double(sqlite3_stmt *stmt, gint col, gdouble value);
void cohort_store_bind_id(sqlite3_stmt *stmt, gint col, gint64 id);
void cohort_store_bind_named_id(sqlite3_stmt *stmt, const gchar *name, gint64 id);
gchar *cohort_store_column_text(sqlite3_stmt *stmt, gint col);
guint cohort_store_column_uint(sqlite3_stmt *stmt, gint col);
gboolean cohort_store_run(CohortStore *self, sqlite3_stmt *stmt, const gchar *what,
                          const gchar *conflict, const gchar *refs, GError **error);
gboolean cohort_store_run_update(CohortStore *self, sqlite3_stmt *stmt, const gchar *what,
                                 const gchar *refs, GError **error);
/* An UPDATE no host's usage counts: the usage cache stays (cohort-store.c). */
gboolean cohort_store_run_update_usage_neutral(CohortStore *self, sqlite3_stmt *stmt,
                                               const gchar *what, GError **error);
gboolean cohort_store_step_row(CohortStore *self, sqlite3_stmt *stmt, const gchar *what,
                               GError **error);
gpointer cohort_store_get_one(CohortStore *self, sqlite3_stmt *stmt, CohortStoreRowReader read,
                              const gchar *what, GError **error);
/* The first column of every row, an id each. */
GArray *cohort_store_get_ids(CohortStore *self, sqlite3_stmt *stmt, const gchar *what,
                             GError **error);
GPtrArray *cohort_store_get_all(CohortStore *self, sqlite3_stmt *stmt, CohortStoreRowReader read,
                                GDestroyNotify free_func, const gchar *what, GError **error);
void cohort_store_take_default(gchar **field, const gchar *value);

/* Secrets at rest (cohort-secret.h): @context names the column and the row. */
gchar *cohort_store_seal(CohortStore *self, const gchar *context, const gchar *clear,
                         GError **error);
gchar *cohort_store_unseal(CohortStore *self, const gchar *context, const gchar *sealed,
                           GError **error);

/* rows read by more than one entity's file (cohort-store-users.c) */
gpointer cohort_store_user_read(sqlite3_stmt *stmt);

G_END_DECLS
