/* The store itself: opening, closing, transactions, the instance id, and the SQLite helpers
 * its entity files share (cohort-store-private.h). */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cohort-error.h"
#include "cohort-store-migrations.h"
#include "cohort-store-private.h"

gchar *
cohort_store_now(void)
{
    /* Every write stamps the time, and GDateTime made and formatted it for ~5 k instructions a
     * call, several per request: the text changes once a second, so each thread keeps the
     * second's. */
    static __thread gint64 text_second = G_MININT64;
    static __thread gchar text[sizeof("0000-00-00T00:00:00Z")];
    gint64 second = g_get_real_time() / G_USEC_PER_SEC;

    if (second != text_second) {
        time_t t = (time_t)second;
        struct tm tm;

        if (gmtime_r(&t, &tm) == NULL ||
            strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) != sizeof(text) - 1) {
            g_autoptr(GDateTime) now = g_date_time_new_now_utc();
            return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
        }
        text_second = second;
    }
    return g_strdup(text);
}

/* Whether @value has the one shape the store writes times in (the schema checks it too). */
gboolean
cohort_store_time_is_valid(const gchar *value)
{
    static const gchar shape[] = "0000-00-00T00:00:00Z";

    if (value == NULL || strlen(value) != sizeof(shape) - 1)
        return FALSE;
    for (gsize i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == '0' ? !g_ascii_isdigit(value[i]) : value[i] != shape[i])
            return FALSE;
    }
    return TRUE;
}

/* ---- SQLite at the edge ---- */

/* The last SQLite error as a COHORT_ERROR about @what ("cohort 'cloud-101'"). @conflict is the
 * message for a UNIQUE violation (NULL: "@what already exists"), @refs what a foreign key of
 * the row may point to ("trainer", "cohort, trainee or host"). */
void
cohort_store_set_error(CohortStore *self, GError **error, const gchar *what, const gchar *conflict,
                       const gchar *refs)
{
    const gchar *msg = sqlite3_errmsg(self->db);

    switch (sqlite3_extended_errcode(self->db)) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        if (conflict != NULL)
            g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_CONFLICT, conflict);
        else
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT, "%s already exists", what);
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s refers to a %s that does not exist", what, refs != NULL ? refs : "row");
        break;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "%s: invalid value (%s)",
                    what, msg);
        break;
    default:
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "%s: database error: %s", what,
                    msg);
        break;
    }
}

gboolean
cohort_store_exec(CohortStore *self, const gchar *sql, const gchar *what, GError **error)
{
    if (G_UNLIKELY(self->group_open) && !self->group_member)
        cohort_store_group_flush(self);
    if (sqlite3_exec(self->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return FALSE;
    }
    return TRUE;
}

/* One SQL text's statements: those not in use, ready to run again. */
typedef struct {
    gchar *sql;
    GPtrArray *free_list;
} CohortStoreSql;

static void
cohort_store_sql_free(CohortStoreSql *entry)
{
    g_free(entry->sql);
    g_ptr_array_unref(entry->free_list);
    g_free(entry);
}

/* A caller passing SQL it builds each time has a new address each time: past this many, the
 * addresses start again (the statements stay, by their text). */
#define COHORT_STORE_SQL_ADDRESSES_MAX 1024

/* The entry for @sql: by its address when that was seen with the same text, else by its
 * text (made when new). */
static CohortStoreSql *
cohort_store_sql_lookup(CohortStore *self, const gchar *sql)
{
    CohortStoreSql *entry;

    if (self->stmts == NULL) {
        self->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                            (GDestroyNotify)cohort_store_sql_free);
        self->stmts_by_address = g_hash_table_new(g_direct_hash, g_direct_equal);
    }
    entry = g_hash_table_lookup(self->stmts_by_address, sql);
    /* the address may hold other text now: a buffer freed and used again */
    if (entry != NULL && strcmp(entry->sql, sql) == 0)
        return entry;
    entry = g_hash_table_lookup(self->stmts, sql);
    if (entry == NULL) {
        entry = g_new0(CohortStoreSql, 1);
        entry->sql = g_strdup(sql);
        entry->free_list = g_ptr_array_new();
        g_hash_table_insert(self->stmts, entry->sql, entry);
    }
    if (g_hash_table_size(self->stmts_by_address) >= COHORT_STORE_SQL_ADDRESSES_MAX)
        g_hash_table_remove_all(self->stmts_by_address);
    g_hash_table_insert(self->stmts_by_address, (gpointer)sql, entry);
    return entry;
}

/* Where a lent statement goes back to: its store's list for its SQL. One table for the
 * process (tests open several stores); the lock is cheap next to a statement's step. */
static GMutex cohort_store_lent_lock;
static GHashTable *cohort_store_lent; /* sqlite3_stmt → GPtrArray (its SQL's free list) */

static CohortStmt *
cohort_store_prepare_kept(CohortStore *self, const gchar *sql, const gchar *what, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_store_lent_lock);
    CohortStoreSql *entry = cohort_store_sql_lookup(self, sql);
    sqlite3_stmt *stmt = NULL;

    if (cohort_store_lent == NULL)
        cohort_store_lent = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (entry->free_list->len > 0) {
        stmt = g_ptr_array_steal_index_fast(entry->free_list, entry->free_list->len - 1);
        g_hash_table_insert(cohort_store_lent, stmt, entry->free_list);
        return stmt;
    }
    if (sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
        SQLITE_OK) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    g_hash_table_insert(cohort_store_lent, stmt, entry->free_list);
    return stmt;
}

CohortStmt *
cohort_store_prepare(CohortStore *self, const gchar *sql, const gchar *what, GError **error)
{
    CohortStmt *stmt = cohort_store_prepare_kept(self, sql, what, error);

    /* a write outside the group of requests: the group is committed first, so that this
     * change neither waits for it nor is undone with it (BEGIN, SAVEPOINT, COMMIT read only) */
    if (stmt != NULL && G_UNLIKELY(self->group_open) && !self->group_member &&
        !sqlite3_stmt_readonly(stmt))
        cohort_store_group_flush(self);
    return stmt;
}

/* One statement of the store's own (a transaction's BEGIN, COMMIT, SAVEPOINT), from the
 * cache: sqlite3_exec() prepared it again every time, twice per finished machine. */
static gboolean
cohort_store_exec_cached(CohortStore *self, const gchar *sql, const gchar *what, GError **error)
{
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(self, sql, what, error);

    if (stmt == NULL)
        return FALSE;
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return FALSE;
    }
    return TRUE;
}

void
cohort_store_stmt_release(CohortStmt *stmt)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_store_lent_lock);
    GPtrArray *free_list;

    if (stmt == NULL)
        return;
    free_list = cohort_store_lent != NULL ? g_hash_table_lookup(cohort_store_lent, stmt) : NULL;
    if (free_list == NULL) {
        /* not the cache's: nothing else makes a CohortStmt, so a bug, but no leak */
        sqlite3_finalize(stmt);
        return;
    }
    g_hash_table_remove(cohort_store_lent, stmt);
    /* a statement stepped and left holds a read transaction open until it is reset */
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    g_ptr_array_add(free_list, stmt);
}

/* Finalizes the cache's statements: sqlite3_close() refuses while one is left. */
static void
cohort_store_stmts_clear(CohortStore *self)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_store_lent_lock);
    GHashTableIter iter;
    gpointer stmt;
    gpointer value;

    if (self->stmts == NULL)
        return;
    /* one still lent when the store closes is a bug; it goes too, and is said */
    if (cohort_store_lent != NULL) {
        g_hash_table_iter_init(&iter, cohort_store_lent);
        while (g_hash_table_iter_next(&iter, &stmt, NULL)) {
            if (sqlite3_db_handle(stmt) == self->db) {
                g_critical("store %s: a statement is still in use at close: %s", self->path,
                           sqlite3_sql(stmt));
                sqlite3_finalize(stmt);
                g_hash_table_iter_remove(&iter);
            }
        }
    }
    g_hash_table_iter_init(&iter, self->stmts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortStoreSql *entry = value;
        for (guint i = 0; i < entry->free_list->len; i++)
            sqlite3_finalize(g_ptr_array_index(entry->free_list, i));
        g_ptr_array_set_size(entry->free_list, 0);
    }
    g_clear_pointer(&self->stmts_by_address, g_hash_table_unref);
    g_clear_pointer(&self->stmts, g_hash_table_unref);
}

/* Binding only fails on a wrong index (a bug) or a value over SQLite's size limits. */
void
cohort_store_bind_text(sqlite3_stmt *stmt, gint col, const gchar *value)
{
    /* NULL binds SQL NULL. */
    gint rc = sqlite3_bind_text(stmt, col, value, -1, SQLITE_TRANSIENT);

    g_warn_if_fail(rc == SQLITE_OK);
}

void
cohort_store_bind_int64(sqlite3_stmt *stmt, gint col, gint64 value)
{
    gint rc = sqlite3_bind_int64(stmt, col, value);

    g_warn_if_fail(rc == SQLITE_OK);
}

/* Unsigned fields go in as their signed twin: a -1 that wrapped to G_MAXUINT reaches the
 * schema's CHECK as -1 and is refused, instead of being stored as four billion. */
void
cohort_store_bind_uint(sqlite3_stmt *stmt, gint col, guint value)
{
    cohort_store_bind_int64(stmt, col, (gint32)value);
}

void
cohort_store_bind_uint64(sqlite3_stmt *stmt, gint col, guint64 value)
{
    cohort_store_bind_int64(stmt, col, (gint64)value);
}

void
cohort_store_bind_double(sqlite3_stmt *stmt, gint col, gdouble value)
{
    gint rc = sqlite3_bind_double(stmt, col, value);

    g_warn_if_fail(rc == SQLITE_OK);
}

/* An id of 0 means "none": SQL NULL, which foreign keys accept. */
void
cohort_store_bind_id(sqlite3_stmt *stmt, gint col, gint64 id)
{
    if (id > 0) {
        cohort_store_bind_int64(stmt, col, id);
    } else {
        gint rc = sqlite3_bind_null(stmt, col);
        g_warn_if_fail(rc == SQLITE_OK);
    }
}

/* For statements put together from optional literal clauses: binds @name when it is there. */
void
cohort_store_bind_named_id(sqlite3_stmt *stmt, const gchar *name, gint64 id)
{
    gint col = sqlite3_bind_parameter_index(stmt, name);

    if (col > 0)
        cohort_store_bind_int64(stmt, col, id);
}

gchar *
cohort_store_column_text(sqlite3_stmt *stmt, gint col)
{
    return g_strdup((const gchar *)sqlite3_column_text(stmt, col));
}

guint
cohort_store_column_uint(sqlite3_stmt *stmt, gint col)
{
    return (guint)sqlite3_column_int64(stmt, col);
}

/* Runs a statement that returns no rows. */
gboolean
cohort_store_run(CohortStore *self, sqlite3_stmt *stmt, const gchar *what, const gchar *conflict,
                 const gchar *refs, GError **error)
{
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, conflict, refs);
        return FALSE;
    }
    return TRUE;
}

/* Runs an UPDATE of one row: NOT_FOUND "no @what" when there was none. */
gboolean
cohort_store_run_update(CohortStore *self, sqlite3_stmt *stmt, const gchar *what, const gchar *refs,
                        GError **error)
{
    if (!cohort_store_run(self, stmt, what, NULL, refs, error))
        return FALSE;
    if (sqlite3_changes(self->db) == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no %s", what);
        return FALSE;
    }
    return TRUE;
}

/* The same for an UPDATE of machine columns no host's usage counts (passwords, readiness,
 * addresses, expiry, a state change between two live states): the usage cache stays, so
 * that the next placement does not sum the host's machines again. */
gboolean
cohort_store_run_update_usage_neutral(CohortStore *self, sqlite3_stmt *stmt, const gchar *what,
                                      GError **error)
{
    gboolean ok;

    self->usage_counting = TRUE;
    ok = cohort_store_run_update(self, stmt, what, NULL, error);
    self->usage_counting = FALSE;
    return ok;
}

/* Steps to the one row a query expects: NOT_FOUND "no @what" when there is none. */
gboolean
cohort_store_step_row(CohortStore *self, sqlite3_stmt *stmt, const gchar *what, GError **error)
{
    gint rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW)
        return TRUE;
    if (rc == SQLITE_DONE)
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no %s", what);
    else
        cohort_store_set_error(self, error, what, NULL, NULL);
    return FALSE;
}

gpointer
cohort_store_get_one(CohortStore *self, sqlite3_stmt *stmt, CohortStoreRowReader read,
                     const gchar *what, GError **error)
{
    if (!cohort_store_step_row(self, stmt, what, error))
        return NULL;
    return read(stmt);
}

GPtrArray *
cohort_store_get_all(CohortStore *self, sqlite3_stmt *stmt, CohortStoreRowReader read,
                     GDestroyNotify free_func, const gchar *what, GError **error)
{
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(free_func);
    gint rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        g_ptr_array_add(rows, read(stmt));
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&rows);
}

GArray *
cohort_store_get_ids(CohortStore *self, sqlite3_stmt *stmt, const gchar *what, GError **error)
{
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    gint rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64(stmt, 0);
        g_array_append_val(ids, id);
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&ids);
}

/* After an insert: the row gets the defaults the store chose for the fields it left NULL. */
void
cohort_store_take_default(gchar **field, const gchar *value)
{
    if (*field == NULL)
        *field = g_strdup(value);
}

/* ---- opening ---- */

static gboolean
cohort_store_query_text(CohortStore *self, const gchar *sql, gchar **value, GError **error)
{
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(self, sql, sql, error);

    if (stmt == NULL || !cohort_store_step_row(self, stmt, sql, error))
        return FALSE;
    *value = cohort_store_column_text(stmt, 0);
    return TRUE;
}

static gboolean
cohort_store_configure(CohortStore *self, GError **error)
{
    g_autofree gchar *journal = NULL;
    g_autofree gchar *foreign_keys = NULL;
    const gchar *file = sqlite3_db_filename(self->db, "main");

    /* Refuse SQL that only works by accident, and writes that can corrupt the file. */
    sqlite3_db_config(self->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
    sqlite3_db_config(self->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
    sqlite3_db_config(self->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

    /* busy_timeout first: switching to WAL waits for another process's lock. A page cache of
     * 256 KiB instead of SQLite's 2 MiB: the file's pages stay in the kernel's cache anyway,
     * and cohortd's peak memory is a goal (bench/README.md, issue 14); each page is a block of
     * its own among the domains' memory, and 512 KiB of them kept ~0.4 MiB more resident. */
    if (!cohort_store_exec(self,
                           "PRAGMA busy_timeout = 5000;"
                           "PRAGMA foreign_keys = ON;"
                           "PRAGMA synchronous = NORMAL;"
                           "PRAGMA cache_size = -256",
                           "setting up the connection", error))
        return FALSE;
    if (!cohort_store_query_text(self, "PRAGMA journal_mode = WAL", &journal, error))
        return FALSE;
    /* An in-memory database answers "memory", and that is fine. */
    if (file != NULL && file[0] != '\0' && g_strcmp0(journal, "wal") != 0)
        g_warning("store %s: journal mode is '%s', not 'wal': readers will block writers", file,
                  journal);
    /* The pragma is silently ignored by an SQLite built without foreign keys. */
    if (!cohort_store_query_text(self, "PRAGMA foreign_keys", &foreign_keys, error))
        return FALSE;
    if (g_strcmp0(foreign_keys, "1") != 0) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                            "this SQLite does not enforce foreign keys: use one built with them");
        return FALSE;
    }
    return TRUE;
}

/* The secret key must be the one this database's secrets were sealed with: a check value,
 * sealed with the first key, tells before any secret is needed. */
#define COHORT_STORE_KEY_CHECK_CONTEXT "meta.secret-check"

static gboolean
cohort_store_check_key(CohortStore *self, GError **error)
{
    g_autoptr(CohortStmt) select = NULL;
    g_autoptr(CohortStmt) insert = NULL;
    g_autofree gchar *sealed = NULL;
    g_autofree gchar *clear = NULL;
    g_autoptr(GError) local = NULL;
    gint rc;

    select = cohort_store_prepare(self, "SELECT value FROM meta WHERE key = 'secret-check'",
                                  "secret key check", error);
    if (select == NULL)
        return FALSE;
    rc = sqlite3_step(select);
    if (rc == SQLITE_ROW) {
        sealed = cohort_store_column_text(select, 0);
        clear = cohort_secret_open(self->key, COHORT_STORE_KEY_CHECK_CONTEXT, sealed, &local);
        if (clear == NULL) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                        "the secret key is not the one this database's secrets were sealed "
                        "with (%s): put back the " COHORT_SECRET_KEY_FILE " that was made with "
                        "this database, from the same backup",
                        local->message);
            return FALSE;
        }
        return TRUE;
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "secret key check", NULL, NULL);
        return FALSE;
    }
    sealed = cohort_secret_seal(self->key, COHORT_STORE_KEY_CHECK_CONTEXT, "cohort", error);
    if (sealed == NULL)
        return FALSE;
    insert = cohort_store_prepare(
        self, "INSERT INTO meta (key, value) VALUES ('secret-check', ?1) ON CONFLICT DO NOTHING",
        "secret key check", error);
    if (insert == NULL)
        return FALSE;
    cohort_store_bind_text(insert, 1, sealed);
    return cohort_store_run(self, insert, "secret key check", NULL, NULL, error);
}

gchar *
cohort_store_seal(CohortStore *self, const gchar *context, const gchar *clear, GError **error)
{
    return cohort_secret_seal(self->key, context, clear, error);
}

gchar *
cohort_store_unseal(CohortStore *self, const gchar *context, const gchar *sealed, GError **error)
{
    return cohort_secret_open(self->key, context, sealed, error);
}

/* SQLite has one hook of each kind per connection: each cache is told here. */
static void
cohort_store_on_update(void *data, int op, const char *db, const char *table, sqlite3_int64 rowid)
{
    cohort_store_usage_on_update(data, table);
    cohort_store_tokens_on_update(data, table);
    cohort_store_machine_lists_on_update(data, op, table, rowid);
}

static void
cohort_store_on_rollback(void *data)
{
    cohort_store_usage_drop(data);
    cohort_store_tokens_drop(data);
    cohort_store_machine_lists_drop(data);
}

CohortStore *
cohort_store_open(const gchar *path, CohortSecretKey *key, GError **error)
{
    g_autoptr(CohortStore) self = NULL;
    gint rc;

    g_return_val_if_fail(path != NULL, NULL);
    g_return_val_if_fail(key != NULL, NULL);

    self = g_new0(CohortStore, 1);
    self->path = g_strdup(path);
    self->key = key;
    rc = sqlite3_open_v2(path, &self->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_EXRESCODE,
                         NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "opening database %s: %s; check that its directory exists and that cohortd "
                    "may write there",
                    path, self->db != NULL ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
        return NULL;
    }
    sqlite3_update_hook(self->db, cohort_store_on_update, self);
    sqlite3_rollback_hook(self->db, cohort_store_on_rollback, self);
    if (!cohort_store_configure(self, error) ||
        !cohort_store_migrations_apply(self->db, path, self->key, error) ||
        !cohort_store_check_key(self, error)) {
        g_prefix_error(error, "opening database %s: ", path);
        return NULL;
    }
    g_debug("store %s: schema version %d", path, cohort_store_get_schema_version(self));
    return g_steal_pointer(&self);
}

void
cohort_store_free(CohortStore *self)
{
    if (self == NULL)
        return;
    cohort_store_group_free(self);
    cohort_store_stmts_clear(self);
    cohort_store_usage_drop(self);
    cohort_store_tokens_drop(self);
    cohort_store_machine_lists_drop(self);
    if (self->db != NULL) {
        /* Keeps the query planner's statistics fresh (SQLite's advice). The limit bounds each
         * index's ANALYZE to about 400 rows, as SQLite 3.46 and later do for optimize by
         * themselves: without it the stop read every row of a table that grew or changed
         * enough, a cost per machine that grew with the machines (bench/README.md, 1b). */
        sqlite3_exec(self->db, "PRAGMA analysis_limit = 400; PRAGMA optimize", NULL, NULL, NULL);
        /* Fails only while a statement is not finalized: a leak, so a bug. */
        if (sqlite3_close(self->db) != SQLITE_OK)
            g_critical("store %s: closing: %s", self->path, sqlite3_errmsg(self->db));
    }
    g_free(self->path);
    cohort_secret_key_free(self->key);
    g_free(self);
}

gint
cohort_store_get_schema_version(CohortStore *self)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *version = NULL;

    g_return_val_if_fail(self != NULL, -1);

    if (!cohort_store_query_text(self, "PRAGMA user_version", &version, &error)) {
        g_warning("store %s: %s", self->path, error->message);
        return -1;
    }
    return (gint)g_ascii_strtoll(version, NULL, 10);
}

/* ---- transactions ---- */

gboolean
cohort_store_begin(CohortStore *self, GError **error)
{
    g_return_val_if_fail(self != NULL, FALSE);

    if (self->group_open && !self->group_member)
        cohort_store_group_flush(self);
    /* Inside another (the results of a batch of work, cohort-jobs.c, or the group of
     * requests, cohort-store-group.c): a savepoint, which
     * commits with the outer transaction and rolls back on its own. */
    if (self->depth > 0 && !sqlite3_get_autocommit(self->db)) {
        if (!cohort_store_exec_cached(self, "SAVEPOINT cohort_nested", "starting a transaction",
                                      error))
            return FALSE;
        self->depth++;
        return TRUE;
    }
    /* IMMEDIATE: take the write lock now, so a busy database fails here and not halfway. */
    if (!cohort_store_exec_cached(self, "BEGIN IMMEDIATE", "starting a transaction", error))
        return FALSE;
    self->depth = 1;
    return TRUE;
}

gboolean
cohort_store_commit(CohortStore *self, GError **error)
{
    g_return_val_if_fail(self != NULL, FALSE);

    if (self->group_open && !self->group_member) {
        /* nothing of the caller's is open: the group's is not theirs to end */
        cohort_store_group_flush(self);
        return TRUE;
    }
    if (self->depth > 1) {
        if (!cohort_store_exec_cached(self, "RELEASE cohort_nested", "committing a transaction",
                                      error)) {
            cohort_store_rollback(self);
            return FALSE;
        }
        self->depth--;
        /* a member's part of the group is over */
        if (self->depth == 1)
            self->group_member = FALSE;
        return TRUE;
    }
    if (!cohort_store_exec_cached(self, "COMMIT", "committing a transaction", error)) {
        /* Never leave the store inside a half-done transaction. */
        cohort_store_rollback(self);
        return FALSE;
    }
    self->depth = 0;
    return TRUE;
}

void
cohort_store_rollback(CohortStore *self)
{
    g_return_if_fail(self != NULL);

    /* what the caches counted or read may be undone (ROLLBACK TO calls no rollback hook) */
    cohort_store_usage_drop(self);
    cohort_store_machine_lists_drop(self);

    /* nothing of the caller's is open: the group's is not theirs to undo */
    if (self->group_open && !self->group_member)
        cohort_store_group_flush(self);
    if (sqlite3_get_autocommit(self->db)) {
        self->depth = 0;
        return;
    }
    if (self->depth > 1) {
        if (sqlite3_exec(self->db, "ROLLBACK TO cohort_nested; RELEASE cohort_nested", NULL, NULL,
                         NULL) != SQLITE_OK)
            g_warning("store %s: rolling back: %s", self->path, sqlite3_errmsg(self->db));
        self->depth--;
        if (self->depth == 1)
            self->group_member = FALSE;
        return;
    }
    if (sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        g_warning("store %s: rolling back: %s", self->path, sqlite3_errmsg(self->db));
    self->depth = 0;
}

/* ---- instance id ---- */

gchar *
cohort_store_get_instance_id(CohortStore *self, GError **error)
{
    g_autoptr(CohortStmt) insert = NULL;
    g_autoptr(CohortStmt) select = NULL;
    g_autofree gchar *fresh = g_uuid_string_random();

    g_return_val_if_fail(self != NULL, NULL);

    /* made once, on first use, and kept for the life of the database */
    insert = cohort_store_prepare(self,
                                  "INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', ?1)",
                                  "instance id", error);
    if (insert == NULL)
        return NULL;
    cohort_store_bind_text(insert, 1, fresh);
    if (!cohort_store_run(self, insert, "instance id", NULL, NULL, error))
        return NULL;
    select = cohort_store_prepare(self, "SELECT value FROM meta WHERE key = 'instance'",
                                  "instance id", error);
    if (select == NULL || !cohort_store_step_row(self, select, "instance id", error))
        return NULL;
    return cohort_store_column_text(select, 0);
}

/* ---- backup ---- */

/* Copies @src's pages into @dst in one step of SQLite's backup API: a consistent snapshot of
 * the last commit. In WAL mode the writer (a running cohortd) goes on meanwhile; a busy or
 * locked answer is a checkpoint or a schema change under way, tried again for 5 s. */
static gboolean
cohort_store_backup_copy(sqlite3 *src, sqlite3 *dst, const gchar *path, GError **error)
{
    sqlite3_backup *backup = sqlite3_backup_init(dst, "main", src, "main");
    gint rc;

    if (backup == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "starting the backup of %s: %s",
                    path, sqlite3_errmsg(dst));
        return FALSE;
    }
    for (guint tries = 0;; tries++) {
        rc = sqlite3_backup_step(backup, -1);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 50)
            break;
        sqlite3_sleep(100);
    }
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "backing up %s: %s", path,
                    sqlite3_errstr(rc));
        return FALSE;
    }
    return TRUE;
}

/* The copy is one self-contained file (rollback journal, not WAL) that passes SQLite's own
 * check before it takes @dest's name. */
static gboolean
cohort_store_backup_finish(sqlite3 *dst, const gchar *dest, GError **error)
{
    sqlite3_stmt *raw = NULL;
    g_autoptr(sqlite3_stmt) check = NULL;
    const gchar *answer;

    if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &raw, NULL) != SQLITE_OK) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "checking the backup %s: %s", dest,
                    sqlite3_errmsg(dst));
        sqlite3_finalize(raw);
        return FALSE;
    }
    check = raw;
    if (sqlite3_step(check) != SQLITE_ROW) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "checking the backup %s: %s", dest,
                    sqlite3_errmsg(dst));
        return FALSE;
    }
    answer = (const gchar *)sqlite3_column_text(check, 0);
    if (g_strcmp0(answer, "ok") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "the backup %s does not pass SQLite's check: %s", dest,
                    answer != NULL ? answer : "no answer");
        return FALSE;
    }
    return TRUE;
}

/* @dest is made as a private temporary file (0600: the database holds token hashes and
 * rosters) next to it and renamed over @dest once complete and checked, so @dest is either
 * the old file or a whole new backup. The source is opened read-only and never migrated: a
 * backup taken before an upgrade keeps the old schema. */
gboolean
cohort_store_backup_file(const gchar *path, const gchar *dest, GError **error)
{
    g_autoptr(sqlite3) src = NULL;
    g_autoptr(sqlite3) dst = NULL;
    g_autofree gchar *tmp = NULL;
    gint fd;
    gint rc;
    gboolean ok;

    g_return_val_if_fail(path != NULL, FALSE);
    g_return_val_if_fail(dest != NULL, FALSE);

    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "there is no database %s to back up: check [daemon] state_dir in the "
                    "configuration given with --config",
                    path);
        return FALSE;
    }
    rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(src, "PRAGMA busy_timeout = 5000", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "opening database %s: %s", path,
                    src != NULL ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        return FALSE;
    }

    tmp = g_strconcat(dest, ".XXXXXX", NULL);
    fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot write the backup next to %s: %s", dest, g_strerror(errno));
        return FALSE;
    }
    close(fd);
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "opening the backup %s: %s", tmp,
                    dst != NULL ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        g_unlink(tmp);
        return FALSE;
    }
    ok = cohort_store_backup_copy(src, dst, path, error) &&
         cohort_store_backup_finish(dst, dest, error);
    g_clear_pointer(&dst, sqlite3_close);
    if (ok && g_rename(tmp, dest) < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "renaming %s to %s: %s", tmp, dest,
                    g_strerror(errno));
        ok = FALSE;
    }
    if (!ok) {
        const gchar *const suffixes[] = {"", "-journal", "-wal", "-shm"};
        for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
            g_autofree gchar *file = g_strconcat(tmp, suffixes[i], NULL);
            g_unlink(file);
        }
    }
    return ok;
}
