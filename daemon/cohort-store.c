#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-store-migrations.h"
#include "cohort-store.h"

struct _CohortStore {
    sqlite3 *db;
    gchar *path;
};

/* The machine states that hold a host's and a quota's resources. */
#define HOLDS_RESOURCES(m) m ".state NOT IN ('reclaimed', 'failed')"

/* ---- rows ---- */

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
    g_free(row);
}

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
    g_free(row);
}

void
cohort_machine_row_free(CohortMachineRow *row)
{
    if (row == NULL)
        return;
    g_free(row->name);
    g_free(row->cohort_slug);
    g_free(row->trainee_login);
    g_free(row->host_name);
    g_free(row->template_name);
    g_free(row->state);
    g_free(row->vnc_password);
    g_free(row->uuid);
    g_free(row->created_at);
    g_free(row->expires_at);
    g_free(row->error);
    g_free(row);
}

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
    g_free(row);
}

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

gchar *
cohort_store_now(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

/* Whether @value has the one shape the store writes times in (the schema checks it too). */
static gboolean
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
static void
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

static gboolean
cohort_store_exec(CohortStore *self, const gchar *sql, const gchar *what, GError **error)
{
    if (sqlite3_exec(self->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return FALSE;
    }
    return TRUE;
}

static sqlite3_stmt *
cohort_store_prepare(CohortStore *self, const gchar *sql, const gchar *what, GError **error)
{
    sqlite3_stmt *stmt = NULL;

    if (sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return NULL;
    }
    return stmt;
}

/* Binding only fails on a wrong index (a bug) or a value over SQLite's size limits. */
static void
cohort_store_bind_text(sqlite3_stmt *stmt, gint col, const gchar *value)
{
    /* NULL binds SQL NULL. */
    gint rc = sqlite3_bind_text(stmt, col, value, -1, SQLITE_TRANSIENT);

    g_warn_if_fail(rc == SQLITE_OK);
}

static void
cohort_store_bind_int64(sqlite3_stmt *stmt, gint col, gint64 value)
{
    gint rc = sqlite3_bind_int64(stmt, col, value);

    g_warn_if_fail(rc == SQLITE_OK);
}

/* Unsigned fields go in as their signed twin: a -1 that wrapped to G_MAXUINT reaches the
 * schema's CHECK as -1 and is refused, instead of being stored as four billion. */
static void
cohort_store_bind_uint(sqlite3_stmt *stmt, gint col, guint value)
{
    cohort_store_bind_int64(stmt, col, (gint32)value);
}

static void
cohort_store_bind_uint64(sqlite3_stmt *stmt, gint col, guint64 value)
{
    cohort_store_bind_int64(stmt, col, (gint64)value);
}

static void
cohort_store_bind_double(sqlite3_stmt *stmt, gint col, gdouble value)
{
    gint rc = sqlite3_bind_double(stmt, col, value);

    g_warn_if_fail(rc == SQLITE_OK);
}

/* An id of 0 means "none": SQL NULL, which foreign keys accept. */
static void
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
static void
cohort_store_bind_named_id(sqlite3_stmt *stmt, const gchar *name, gint64 id)
{
    gint col = sqlite3_bind_parameter_index(stmt, name);

    if (col > 0)
        cohort_store_bind_int64(stmt, col, id);
}

static gchar *
cohort_store_column_text(sqlite3_stmt *stmt, gint col)
{
    return g_strdup((const gchar *)sqlite3_column_text(stmt, col));
}

static guint
cohort_store_column_uint(sqlite3_stmt *stmt, gint col)
{
    return (guint)sqlite3_column_int64(stmt, col);
}

/* Runs a statement that returns no rows. */
static gboolean
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
static gboolean
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

/* Steps to the one row a query expects: NOT_FOUND "no @what" when there is none. */
static gboolean
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

typedef gpointer (*CohortStoreRowReader)(sqlite3_stmt *stmt);

static gpointer
cohort_store_get_one(CohortStore *self, sqlite3_stmt *stmt, CohortStoreRowReader read,
                     const gchar *what, GError **error)
{
    if (!cohort_store_step_row(self, stmt, what, error))
        return NULL;
    return read(stmt);
}

static GPtrArray *
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

/* After an insert: the row gets the defaults the store chose for the fields it left NULL. */
static void
cohort_store_take_default(gchar **field, const gchar *value)
{
    if (*field == NULL)
        *field = g_strdup(value);
}

/* ---- opening ---- */

static gboolean
cohort_store_query_text(CohortStore *self, const gchar *sql, gchar **value, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = cohort_store_prepare(self, sql, sql, error);

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

    /* busy_timeout first: switching to WAL waits for another process's lock. */
    if (!cohort_store_exec(self,
                           "PRAGMA busy_timeout = 5000;"
                           "PRAGMA foreign_keys = ON;"
                           "PRAGMA synchronous = NORMAL",
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

CohortStore *
cohort_store_open(const gchar *path, GError **error)
{
    g_autoptr(CohortStore) self = NULL;
    gint rc;

    g_return_val_if_fail(path != NULL, NULL);

    self = g_new0(CohortStore, 1);
    self->path = g_strdup(path);
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
    if (!cohort_store_configure(self, error) ||
        !cohort_store_migrations_apply(self->db, path, error)) {
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
    if (self->db != NULL) {
        /* Cheap, and keeps the query planner's statistics fresh (SQLite's advice). */
        sqlite3_exec(self->db, "PRAGMA optimize", NULL, NULL, NULL);
        /* Fails only while a statement is not finalized: a leak, so a bug. */
        if (sqlite3_close(self->db) != SQLITE_OK)
            g_critical("store %s: closing: %s", self->path, sqlite3_errmsg(self->db));
    }
    g_free(self->path);
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
    /* Not nestable. */
    g_return_val_if_fail(sqlite3_get_autocommit(self->db), FALSE);

    /* IMMEDIATE: take the write lock now, so a busy database fails here and not halfway. */
    return cohort_store_exec(self, "BEGIN IMMEDIATE", "starting a transaction", error);
}

gboolean
cohort_store_commit(CohortStore *self, GError **error)
{
    g_return_val_if_fail(self != NULL, FALSE);

    if (!cohort_store_exec(self, "COMMIT", "committing a transaction", error)) {
        /* Never leave the store inside a half-done transaction. */
        cohort_store_rollback(self);
        return FALSE;
    }
    return TRUE;
}

void
cohort_store_rollback(CohortStore *self)
{
    g_return_if_fail(self != NULL);

    if (sqlite3_get_autocommit(self->db))
        return;
    if (sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        g_warning("store %s: rolling back: %s", self->path, sqlite3_errmsg(self->db));
}

/* ---- hosts ---- */

#define HOST_SELECT                                                                                \
    "SELECT id, name, uri, pool, vcpus, memory_mib, cpu_ratio, memory_ratio, state, created_at "   \
    "FROM hosts"

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
    return row;
}

gboolean
cohort_store_host_insert(CohortStore *self, CohortHostRow *row, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *conflict = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;
    gdouble cpu_ratio;
    gdouble memory_ratio;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "up";
    /* 0 is a ratio nobody means: the field was left unset, so no overcommit. */
    cpu_ratio = row->cpu_ratio != 0 ? row->cpu_ratio : 1.0;
    memory_ratio = row->memory_ratio != 0 ? row->memory_ratio : 1.0;
    what = g_strdup_printf("host '%s'", row->name);
    conflict = g_strdup_printf("a host named '%s' already exists", row->name);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO hosts (name, uri, pool, vcpus, memory_mib, cpu_ratio,"
                                " memory_ratio, state, created_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
    if (!cohort_store_run(self, stmt, what, conflict, NULL, error))
        return FALSE;
    row->id = sqlite3_last_insert_rowid(self->db);
    row->cpu_ratio = cpu_ratio;
    row->memory_ratio = memory_ratio;
    cohort_store_take_default(&row->state, state);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

CohortHostRow *
cohort_store_host_get_by_name(CohortStore *self, const gchar *name, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;

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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
cohort_store_host_get_usage(CohortStore *self, gint64 id, guint *vcpus, guint64 *memory_mib,
                            GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("host with id %" G_GINT64_FORMAT, id);
    /* No row at all, rather than zeros, when the host does not exist. */
    stmt = cohort_store_prepare(self,
                                "SELECT COALESCE(SUM(m.vcpus), 0), COALESCE(SUM(m.memory_mib), 0)"
                                " FROM hosts h LEFT JOIN machines m ON m.host_id = h.id"
                                " AND " HOLDS_RESOURCES("m") " WHERE h.id = ?1 GROUP BY h.id",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    if (vcpus != NULL)
        *vcpus = cohort_store_column_uint(stmt, 0);
    if (memory_mib != NULL)
        *memory_mib = (guint64)sqlite3_column_int64(stmt, 1);
    return TRUE;
}

/* ---- users and tokens ---- */

#define USER_COLUMNS "u.id, u.login, u.display_name, u.role, u.created_at"

static gpointer
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;

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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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

CohortUserRow *
cohort_store_token_lookup(CohortStore *self, const gchar *token_hash, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(self,
                                "SELECT " USER_COLUMNS " FROM tokens t JOIN users u"
                                " ON u.id = t.user_id"
                                " WHERE t.token_hash = ?1 AND t.revoked_at IS NULL",
                                "token", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, token_hash);
    return cohort_store_get_one(self, stmt, cohort_store_user_read,
                                "such token (or it was revoked)", error);
}

gboolean
cohort_store_token_revoke_user(CohortStore *self, gint64 user_id, guint *count, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
cohort_store_invitation_withdraw_unused(CohortStore *self, gint64 user_id, guint *count,
                                        GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("invitations of user %" G_GINT64_FORMAT, user_id);

    stmt = cohort_store_prepare(
        self, "DELETE FROM invitations WHERE user_id = ?1 AND used_at IS NULL", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, user_id);
    if (!cohort_store_run(self, stmt, what, NULL, NULL, error))
        return FALSE;
    if (count != NULL)
        *count = (guint)sqlite3_changes(self->db);
    return TRUE;
}

gint64
cohort_store_invitation_redeem(CohortStore *self, const gchar *code_hash, const gchar *now,
                               GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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

/* ---- cohorts and enrollments ---- */

#define COHORT_SELECT                                                                              \
    "SELECT c.id, c.slug, c.title, c.template_name, c.trainer_id, u.login, c.starts_at,"           \
    " c.ends_at, c.grace_hours, c.quota_machines, c.quota_vcpus, c.quota_memory_mib, c.state,"     \
    " c.created_at, c.network FROM cohorts c JOIN users u ON u.id = c.trainer_id"

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
    return row;
}

gboolean
cohort_store_cohort_insert(CohortStore *self, CohortCohortRow *row, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
                                " quota_memory_mib, state, created_at, network)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autoptr(GString) sql = g_string_new(COHORT_SELECT " WHERE 1");

    g_return_val_if_fail(self != NULL, NULL);

    /* Only literal clauses are added, so each filter can use its index; values are bound. */
    if (trainer_id > 0)
        g_string_append(sql, " AND c.trainer_id = :trainer");
    if (trainee_id > 0)
        g_string_append(sql, " AND c.id IN (SELECT e.cohort_id FROM enrollments e"
                             " WHERE e.user_id = :trainee)");
    g_string_append(sql, " ORDER BY c.slug");
    stmt = cohort_store_prepare(self, sql->str, "listing cohorts", error);
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
                                " state = ?8 WHERE id = ?1",
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
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_enrollment_insert(CohortStore *self, gint64 cohort_id, gint64 user_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
cohort_store_enrollment_exists(CohortStore *self, gint64 cohort_id, gint64 user_id)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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

/* ---- machines ---- */

#define MACHINE_SELECT                                                                             \
    "SELECT m.id, m.name, m.cohort_id, c.slug, m.user_id, u.login, m.host_id, h.name,"             \
    " m.template_name, m.idx, m.state, m.vcpus, m.memory_mib, m.vnc_password, m.uuid,"             \
    " m.created_at, m.expires_at, m.error FROM machines m"                                         \
    " JOIN cohorts c ON c.id = m.cohort_id JOIN users u ON u.id = m.user_id"                       \
    " LEFT JOIN hosts h ON h.id = m.host_id"

static const gchar *const cohort_store_machine_states[] = {
    "requested", "provisioning", "running", "stopped", "reclaiming", "reclaimed", "failed",
};

static gpointer
cohort_store_machine_read(sqlite3_stmt *stmt)
{
    CohortMachineRow *row = g_new0(CohortMachineRow, 1);

    row->id = sqlite3_column_int64(stmt, 0);
    row->name = cohort_store_column_text(stmt, 1);
    row->cohort_id = sqlite3_column_int64(stmt, 2);
    row->cohort_slug = cohort_store_column_text(stmt, 3);
    row->user_id = sqlite3_column_int64(stmt, 4);
    row->trainee_login = cohort_store_column_text(stmt, 5);
    row->host_id = sqlite3_column_int64(stmt, 6); /* NULL reads as 0: not placed */
    row->host_name = cohort_store_column_text(stmt, 7);
    row->template_name = cohort_store_column_text(stmt, 8);
    row->idx = cohort_store_column_uint(stmt, 9);
    row->state = cohort_store_column_text(stmt, 10);
    row->vcpus = cohort_store_column_uint(stmt, 11);
    row->memory_mib = (guint64)sqlite3_column_int64(stmt, 12);
    row->vnc_password = cohort_store_column_text(stmt, 13);
    row->uuid = cohort_store_column_text(stmt, 14);
    row->created_at = cohort_store_column_text(stmt, 15);
    row->expires_at = cohort_store_column_text(stmt, 16);
    row->error = cohort_store_column_text(stmt, 17);
    return row;
}

/* Which of the machine's three UNIQUE constraints failed, said in words. */
static gchar *
cohort_store_machine_conflict(CohortStore *self, const CohortMachineRow *row)
{
    const gchar *msg = sqlite3_errmsg(self->db);

    if (strstr(msg, "machines.uuid") != NULL)
        return g_strdup_printf("a machine with uuid '%s' already exists", row->uuid);
    if (strstr(msg, "machines.idx") != NULL)
        return g_strdup_printf("trainee %" G_GINT64_FORMAT " already has machine number %u in "
                               "cohort %" G_GINT64_FORMAT,
                               row->user_id, row->idx, row->cohort_id);
    return g_strdup_printf("a machine named '%s' already exists", row->name);
}

gboolean
cohort_store_machine_insert(CohortStore *self, CohortMachineRow *row, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *conflict = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "requested";
    what = g_strdup_printf("machine '%s'", row->name);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO machines (name, cohort_id, user_id, host_id,"
                                " template_name, idx, state, vcpus, memory_mib, vnc_password,"
                                " uuid, created_at, expires_at, error) VALUES (?1, ?2, ?3, ?4,"
                                " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->name);
    cohort_store_bind_int64(stmt, 2, row->cohort_id);
    cohort_store_bind_int64(stmt, 3, row->user_id);
    cohort_store_bind_id(stmt, 4, row->host_id);
    cohort_store_bind_text(stmt, 5, row->template_name);
    cohort_store_bind_uint(stmt, 6, row->idx);
    cohort_store_bind_text(stmt, 7, state);
    cohort_store_bind_uint(stmt, 8, row->vcpus);
    cohort_store_bind_uint64(stmt, 9, row->memory_mib);
    cohort_store_bind_text(stmt, 10, row->vnc_password);
    cohort_store_bind_text(stmt, 11, row->uuid);
    cohort_store_bind_text(stmt, 12, row->created_at != NULL ? row->created_at : now);
    cohort_store_bind_text(stmt, 13, row->expires_at);
    cohort_store_bind_text(stmt, 14, row->error);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_UNIQUE)
            conflict = cohort_store_machine_conflict(self, row);
        cohort_store_set_error(self, error, what, conflict, "cohort, trainee or host");
        return FALSE;
    }
    row->id = sqlite3_last_insert_rowid(self->db);
    cohort_store_take_default(&row->state, state);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

CohortMachineRow *
cohort_store_machine_get_by_id(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, MACHINE_SELECT " WHERE m.id = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    return cohort_store_get_one(self, stmt, cohort_store_machine_read, what, error);
}

CohortMachineRow *
cohort_store_machine_get_by_name(CohortStore *self, const gchar *name, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machine '%s'", name);
    stmt = cohort_store_prepare(self, MACHINE_SELECT " WHERE m.name = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, name);
    return cohort_store_get_one(self, stmt, cohort_store_machine_read, what, error);
}

GPtrArray *
cohort_store_machine_list(CohortStore *self, gint64 cohort_id, gint64 user_id, gint64 trainer_id,
                          gboolean include_reclaimed, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autoptr(GString) sql = g_string_new(MACHINE_SELECT " WHERE 1");

    g_return_val_if_fail(self != NULL, NULL);

    /* Only literal clauses are added, so each filter can use its index; values are bound. */
    if (cohort_id > 0)
        g_string_append(sql, " AND m.cohort_id = :cohort");
    if (user_id > 0)
        g_string_append(sql, " AND m.user_id = :user");
    if (trainer_id > 0)
        g_string_append(sql, " AND c.trainer_id = :trainer");
    if (!include_reclaimed)
        g_string_append(sql, " AND m.state <> 'reclaimed'");
    g_string_append(sql, " ORDER BY m.id");
    stmt = cohort_store_prepare(self, sql->str, "listing machines", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_named_id(stmt, ":cohort", cohort_id);
    cohort_store_bind_named_id(stmt, ":user", user_id);
    cohort_store_bind_named_id(stmt, ":trainer", trainer_id);
    return cohort_store_get_all(self, stmt, cohort_store_machine_read,
                                (GDestroyNotify)cohort_machine_row_free, "listing machines", error);
}

gboolean
cohort_store_machine_set_state(CohortStore *self, gint64 id, const gchar *state,
                               const gchar *error_message, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, "UPDATE machines SET state = ?2, error = ?3 WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    cohort_store_bind_text(stmt, 2, state);
    cohort_store_bind_text(stmt, 3, error_message);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_machine_set_host(CohortStore *self, gint64 id, gint64 host_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt =
        cohort_store_prepare(self, "UPDATE machines SET host_id = ?2 WHERE id = ?1", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    cohort_store_bind_id(stmt, 2, host_id);
    return cohort_store_run_update(self, stmt, what, "host", error);
}

gboolean
cohort_store_machine_get_holdings(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                  guint *machines, guint *vcpus, guint64 *memory_mib,
                                  GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machines of user %" G_GINT64_FORMAT " in cohort %" G_GINT64_FORMAT,
                           user_id, cohort_id);
    stmt = cohort_store_prepare(self,
                                "SELECT COUNT(*), COALESCE(SUM(m.vcpus), 0),"
                                " COALESCE(SUM(m.memory_mib), 0) FROM machines m"
                                " WHERE m.cohort_id = ?1 AND m.user_id = ?2"
                                " AND " HOLDS_RESOURCES("m"),
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return FALSE;
    if (machines != NULL)
        *machines = cohort_store_column_uint(stmt, 0);
    if (vcpus != NULL)
        *vcpus = cohort_store_column_uint(stmt, 1);
    if (memory_mib != NULL)
        *memory_mib = (guint64)sqlite3_column_int64(stmt, 2);
    return TRUE;
}

guint
cohort_store_machine_next_idx(CohortStore *self, gint64 cohort_id, gint64 user_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, 0);

    what = g_strdup_printf("machines of user %" G_GINT64_FORMAT " in cohort %" G_GINT64_FORMAT,
                           user_id, cohort_id);
    /* Every row counts, reclaimed and failed too: a name is never given twice. */
    stmt = cohort_store_prepare(self,
                                "SELECT COALESCE(MAX(idx), 0) + 1 FROM machines"
                                " WHERE cohort_id = ?1 AND user_id = ?2",
                                what, error);
    if (stmt == NULL)
        return 0;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return 0;
    return cohort_store_column_uint(stmt, 0);
}

GHashTable *
cohort_store_machine_count_by_state(CohortStore *self, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autoptr(GHashTable) counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    /* Every state is there, 0 included: a metric series must not vanish when it drops to 0. */
    for (guint i = 0; i < G_N_ELEMENTS(cohort_store_machine_states); i++) {
        if (g_strcmp0(cohort_store_machine_states[i], "reclaimed") != 0)
            g_hash_table_insert(counts, g_strdup(cohort_store_machine_states[i]),
                                GUINT_TO_POINTER(0));
    }
    stmt = cohort_store_prepare(self,
                                "SELECT state, COUNT(*) FROM machines"
                                " WHERE state <> 'reclaimed' GROUP BY state",
                                "counting machines", error);
    if (stmt == NULL)
        return NULL;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        g_hash_table_insert(counts, cohort_store_column_text(stmt, 0),
                            GUINT_TO_POINTER(cohort_store_column_uint(stmt, 1)));
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "counting machines", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&counts);
}

/* ---- jobs ---- */

#define JOB_SELECT                                                                                 \
    "SELECT id, kind, user_id, target, state, total, done, failed, created_at, finished_at"        \
    " FROM jobs"

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
    return row;
}

gboolean
cohort_store_job_insert(CohortStore *self, CohortJobRow *row, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "queued";
    what = g_strdup_printf("%s job on '%s'", row->kind, row->target);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO jobs (kind, user_id, target, state, total, done,"
                                " failed, created_at, finished_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    what = g_strdup_printf("job %" G_GINT64_FORMAT, row->id);
    stmt = cohort_store_prepare(self,
                                "UPDATE jobs SET state = ?1, total = ?2, done = ?3, failed = ?4,"
                                " finished_at = ?5 WHERE id = ?6",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, row->state);
    cohort_store_bind_uint(stmt, 2, row->total);
    cohort_store_bind_uint(stmt, 3, row->done);
    cohort_store_bind_uint(stmt, 4, row->failed);
    cohort_store_bind_text(stmt, 5, row->finished_at);
    cohort_store_bind_int64(stmt, 6, row->id);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

gboolean
cohort_store_job_error_insert(CohortStore *self, gint64 job_id, const gchar *machine,
                              const gchar *code, const gchar *message, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("error of job %" G_GINT64_FORMAT " on machine '%s'", job_id, machine);
    stmt = cohort_store_prepare(self,
                                "INSERT INTO job_errors (job_id, machine, code, message)"
                                " VALUES (?1, ?2, ?3, ?4)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, job_id);
    cohort_store_bind_text(stmt, 2, machine);
    cohort_store_bind_text(stmt, 3, code);
    cohort_store_bind_text(stmt, 4, message);
    return cohort_store_run(self, stmt, what, NULL, "job", error);
}

static gpointer
cohort_store_job_error_read(sqlite3_stmt *stmt)
{
    CohortJobErrorRow *row = g_new0(CohortJobErrorRow, 1);

    row->machine = cohort_store_column_text(stmt, 0);
    row->code = cohort_store_column_text(stmt, 1);
    row->message = cohort_store_column_text(stmt, 2);
    return row;
}

GPtrArray *
cohort_store_job_error_list(CohortStore *self, gint64 job_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("errors of job %" G_GINT64_FORMAT, job_id);
    stmt = cohort_store_prepare(self,
                                "SELECT machine, code, message FROM job_errors"
                                " WHERE job_id = ?1 ORDER BY id",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, job_id);
    return cohort_store_get_all(self, stmt, cohort_store_job_error_read,
                                (GDestroyNotify)cohort_job_error_row_free, what, error);
}

/* ---- audit ---- */

gboolean
cohort_store_audit_insert(CohortStore *self, const gchar *actor, const gchar *action,
                          const gchar *target, const gchar *result, const gchar *detail,
                          GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;

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

/* --- lifecycle: identity, interrupted jobs, running time ------------------------------- */

gchar *
cohort_store_get_instance_id(CohortStore *self, GError **error)
{
    g_autoptr(sqlite3_stmt) insert = NULL;
    g_autoptr(sqlite3_stmt) select = NULL;
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

gboolean
cohort_store_job_fail_unfinished(CohortStore *self, guint *count, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, FALSE);

    stmt = cohort_store_prepare(self,
                                "UPDATE jobs SET state = 'failed', finished_at = ?1"
                                " WHERE state IN ('queued', 'running')",
                                "unfinished jobs", error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_text(stmt, 1, now);
    if (!cohort_store_run(self, stmt, "unfinished jobs", NULL, NULL, error))
        return FALSE;
    if (count != NULL)
        *count = (guint)sqlite3_changes(self->db);
    return TRUE;
}

gboolean
cohort_store_machine_run_begin(CohortStore *self, gint64 machine_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *now = cohort_store_now();
    g_autofree gchar *what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, machine_id);

    g_return_val_if_fail(self != NULL, FALSE);

    /* at most one open run: a start of a running machine changes nothing */
    stmt = cohort_store_prepare(self,
                                "INSERT INTO machine_runs (machine_id, started_at)"
                                " SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM machine_runs"
                                " WHERE machine_id = ?1 AND stopped_at IS NULL)",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, machine_id);
    cohort_store_bind_text(stmt, 2, now);
    return cohort_store_run(self, stmt, what, NULL, "machine", error);
}

gboolean
cohort_store_machine_run_end(CohortStore *self, gint64 machine_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *now = cohort_store_now();
    g_autofree gchar *what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, machine_id);

    g_return_val_if_fail(self != NULL, FALSE);

    stmt = cohort_store_prepare(self,
                                "UPDATE machine_runs SET stopped_at = ?2"
                                " WHERE machine_id = ?1 AND stopped_at IS NULL",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, machine_id);
    cohort_store_bind_text(stmt, 2, now);
    return cohort_store_run(self, stmt, what, NULL, NULL, error);
}

gdouble
cohort_store_machine_get_running_hours(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                       GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *now = cohort_store_now();

    g_return_val_if_fail(self != NULL, 0);

    stmt = cohort_store_prepare(
        self,
        "SELECT COALESCE(SUM((julianday(COALESCE(r.stopped_at, ?3)) - julianday(r.started_at))"
        " * 24.0), 0) FROM machine_runs r JOIN machines m ON m.id = r.machine_id"
        " WHERE m.cohort_id = ?1 AND (?2 = 0 OR m.user_id = ?2)",
        "running hours", error);
    if (stmt == NULL)
        return 0;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_int64(stmt, 2, user_id);
    cohort_store_bind_text(stmt, 3, now);
    if (!cohort_store_step_row(self, stmt, "running hours", error))
        return 0;
    return sqlite3_column_double(stmt, 0);
}

/* --- leases and what reclaims freed ---------------------------------------------------- */

gboolean
cohort_store_cohort_get_lease(CohortStore *self, gint64 cohort_id, guint *hours,
                              guint *max_extensions, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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

gboolean
cohort_store_machine_set_expiry(CohortStore *self, gint64 machine_id, const gchar *expires_at,
                                gboolean extension, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, machine_id);

    stmt = cohort_store_prepare(self,
                                "UPDATE machines SET expires_at = ?2,"
                                " extensions = extensions + ?3 WHERE id = ?1",
                                what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, machine_id);
    cohort_store_bind_text(stmt, 2, expires_at);
    cohort_store_bind_int64(stmt, 3, extension ? 1 : 0);
    return cohort_store_run_update(self, stmt, what, NULL, error);
}

guint
cohort_store_machine_get_extensions(CohortStore *self, gint64 machine_id, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, machine_id);

    stmt = cohort_store_prepare(self, "SELECT extensions FROM machines WHERE id = ?1", what, error);
    if (stmt == NULL)
        return 0;
    cohort_store_bind_int64(stmt, 1, machine_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return 0;
    return cohort_store_column_uint(stmt, 0);
}

gboolean
cohort_store_job_add_freed(CohortStore *self, gint64 job_id, guint machines, guint vcpus,
                           guint64 memory_mib, guint64 disk_bytes, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
    g_autoptr(sqlite3_stmt) stmt = NULL;
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
