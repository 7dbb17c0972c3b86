/* The store's machines: placement, holdings, running time, expiry and extensions. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-store-private.h"

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
    g_free(row->uuid);
    g_free(row->created_at);
    g_free(row->expires_at);
    g_free(row->error);
    g_free(row->ready_at);
    g_free(row->addresses);
    g_free(row);
}

/* ---- machines ---- */

#define MACHINE_SELECT                                                                             \
    "SELECT m.id, m.name, m.cohort_id, c.slug, m.user_id, u.login, m.host_id, h.name,"             \
    " m.template_name, m.idx, m.state, m.vcpus, m.memory_mib, m.uuid,"                             \
    " m.created_at, m.expires_at, m.error, m.disk_mib, m.ready, m.ready_at, m.addresses"           \
    " FROM machines m"                                                                             \
    " JOIN cohorts c ON c.id = m.cohort_id JOIN users u ON u.id = m.user_id"                       \
    " LEFT JOIN hosts h ON h.id = m.host_id"

static const gchar *const cohort_store_machine_states[] = {
    "requested", "provisioning", "running", "stopped",    "starting",  "stopping",
    "rebooting", "resetting",    "moving",  "reclaiming", "reclaimed", "failed",
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
    row->uuid = cohort_store_column_text(stmt, 13);
    row->created_at = cohort_store_column_text(stmt, 14);
    row->expires_at = cohort_store_column_text(stmt, 15);
    row->error = cohort_store_column_text(stmt, 16);
    row->disk_mib = (guint64)sqlite3_column_int64(stmt, 17);
    row->ready = sqlite3_column_int(stmt, 18) != 0;
    row->ready_at = cohort_store_column_text(stmt, 19);
    row->addresses = cohort_store_column_text(stmt, 20);
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

/* What a machine's sealed VNC password is bound to: its column and its row (names are unique
 * and never reused), so a value copied to another row does not open. */
static gchar *
cohort_store_machine_vnc_context(const gchar *name)
{
    return g_strconcat(COHORT_STORE_CONTEXT_VNC_PASSWORD, name, NULL);
}

gboolean
cohort_store_machine_insert(CohortStore *self, CohortMachineRow *row, const gchar *vnc_password,
                            GError **error)
{
    return cohort_store_machine_insert_seeded(self, row, vnc_password, NULL, error);
}

gboolean
cohort_store_machine_insert_seeded(CohortStore *self, CohortMachineRow *row,
                                   const gchar *vnc_password, const gchar *guest_password,
                                   GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *conflict = NULL;
    g_autofree gchar *sealed = NULL;
    g_autofree gchar *guest_sealed = NULL;
    g_autofree gchar *now = cohort_store_now();
    const gchar *state;
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(row != NULL, FALSE);

    state = row->state != NULL ? row->state : "requested";
    what = g_strdup_printf("machine '%s'", row->name);
    if (vnc_password != NULL && row->name != NULL) {
        g_autofree gchar *context = cohort_store_machine_vnc_context(row->name);
        sealed = cohort_store_seal(self, context, vnc_password, error);
        if (sealed == NULL)
            return FALSE;
    }
    /* bound to the name as cohort_store_machine_set_guest_password() binds it */
    if (guest_password != NULL && row->name != NULL) {
        g_autofree gchar *context =
            g_strconcat(COHORT_STORE_CONTEXT_GUEST_PASSWORD, row->name, NULL);
        guest_sealed = cohort_store_seal(self, context, guest_password, error);
        if (guest_sealed == NULL)
            return FALSE;
    }
    stmt = cohort_store_prepare(self,
                                "INSERT INTO machines (name, cohort_id, user_id, host_id,"
                                " template_name, idx, state, vcpus, memory_mib,"
                                " vnc_password_sealed, uuid, created_at, expires_at, error,"
                                " disk_mib, guest_password_sealed)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                                " ?14, ?15, ?16)",
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
    cohort_store_bind_text(stmt, 10, sealed);
    cohort_store_bind_text(stmt, 11, row->uuid);
    cohort_store_bind_text(stmt, 12, row->created_at != NULL ? row->created_at : now);
    cohort_store_bind_text(stmt, 13, row->expires_at);
    cohort_store_bind_text(stmt, 14, row->error);
    cohort_store_bind_uint64(stmt, 15, row->disk_mib);
    cohort_store_bind_text(stmt, 16, guest_sealed);
    /* the row counts itself in the hosts' usage below, so its change keeps the cache */
    self->usage_counting = TRUE;
    self->machine_lists_owner = row->user_id;
    rc = sqlite3_step(stmt);
    self->machine_lists_owner = 0;
    self->usage_counting = FALSE;
    if (rc != SQLITE_DONE) {
        cohort_store_usage_drop(self);
        if (sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_UNIQUE)
            conflict = cohort_store_machine_conflict(self, row);
        cohort_store_set_error(self, error, what, conflict, "cohort, trainee or host");
        return FALSE;
    }
    row->id = sqlite3_last_insert_rowid(self->db);
    if (self->usage != NULL) {
        CohortHostUsage *usage = g_hash_table_lookup(self->usage, &row->host_id);
        if (usage != NULL && g_strcmp0(state, "reclaimed") != 0 &&
            g_strcmp0(state, "failed") != 0) {
            usage->vcpus += row->vcpus;
            usage->memory_mib += row->memory_mib;
            usage->disk_mib += row->disk_mib;
            usage->machines++;
        }
    }
    cohort_store_take_default(&row->state, state);
    cohort_store_take_default(&row->created_at, now);
    return TRUE;
}

gchar *
cohort_store_machine_get_vnc_password(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *context = NULL;
    const gchar *sealed;
    gchar *clear;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(
        self, "SELECT name, vnc_password_sealed FROM machines WHERE id = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return NULL;
    sealed = (const gchar *)sqlite3_column_text(stmt, 1);
    if (sealed == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "%s has no VNC password", what);
        return NULL;
    }
    context = cohort_store_machine_vnc_context((const gchar *)sqlite3_column_text(stmt, 0));
    clear = cohort_store_unseal(self, context, sealed, error);
    if (clear == NULL)
        g_prefix_error(error, "the VNC password of %s: ", what);
    return clear;
}

CohortMachineRow *
cohort_store_machine_get_by_id(CohortStore *self, gint64 id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt = cohort_store_prepare(self, MACHINE_SELECT " WHERE m.id = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, id);
    return cohort_store_get_one(self, stmt, cohort_store_machine_read, what, error);
}

GArray *
cohort_store_machine_list_live_ids(CohortStore *self, gint64 cohort_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machines of cohort %" G_GINT64_FORMAT, cohort_id);
    stmt = cohort_store_prepare(self,
                                "SELECT id FROM machines"
                                " WHERE cohort_id = ?1 AND state <> 'reclaimed' ORDER BY id",
                                what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    return cohort_store_get_ids(self, stmt, what, error);
}

CohortMachineRow *
cohort_store_machine_get_by_name(CohortStore *self, const gchar *name, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, NULL);

    what = g_strdup_printf("machine '%s'", name);
    stmt = cohort_store_prepare(self, MACHINE_SELECT " WHERE m.name = ?1", what, error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_text(stmt, 1, name);
    return cohort_store_get_one(self, stmt, cohort_store_machine_read, what, error);
}

/* The list's SQL for one set of filters (cohort_store_machine_list's bits), made once: only
 * literal clauses are added, so each filter can use its index; values are bound. */
#define MACHINE_LIST_BY_COHORT 1u
#define MACHINE_LIST_BY_USER 2u
#define MACHINE_LIST_BY_TRAINER 4u
#define MACHINE_LIST_LIVE 8u

static const gchar *
cohort_store_machine_list_sql(guint filters)
{
    static gsize sql[16];

    g_return_val_if_fail(filters < G_N_ELEMENTS(sql), NULL);
    if (g_once_init_enter(&sql[filters])) {
        GString *made = g_string_new(MACHINE_SELECT " WHERE 1");

        if (filters & MACHINE_LIST_BY_COHORT)
            g_string_append(made, " AND m.cohort_id = :cohort");
        if (filters & MACHINE_LIST_BY_USER)
            g_string_append(made, " AND m.user_id = :user");
        if (filters & MACHINE_LIST_BY_TRAINER)
            g_string_append(made, " AND c.trainer_id = :trainer");
        if (filters & MACHINE_LIST_LIVE)
            g_string_append(made, " AND m.state <> 'reclaimed'");
        g_string_append(made, " ORDER BY m.id");
        g_once_init_leave(&sql[filters], (gsize)g_string_free(made, FALSE));
    }
    return (const gchar *)sql[filters];
}

static GPtrArray *
cohort_store_machine_list_read(CohortStore *self, guint filters, gint64 cohort_id, gint64 user_id,
                               gint64 trainer_id, GError **error)
{
    /* a stable address: the statement cache finds it without hashing the text */
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(self, cohort_store_machine_list_sql(filters),
                                                      "listing machines", error);

    if (stmt == NULL)
        return NULL;
    if (filters & MACHINE_LIST_BY_COHORT)
        cohort_store_bind_named_id(stmt, ":cohort", cohort_id);
    if (filters & MACHINE_LIST_BY_USER)
        cohort_store_bind_named_id(stmt, ":user", user_id);
    if (filters & MACHINE_LIST_BY_TRAINER)
        cohort_store_bind_named_id(stmt, ":trainer", trainer_id);
    return cohort_store_get_all(self, stmt, cohort_store_machine_read,
                                (GDestroyNotify)cohort_machine_row_free, "listing machines", error);
}

/* ---- a trainee's own list, kept ---- */

/* Every trainee lists their machines again and again, and the query was a fifth of cohortd's
 * own work on a list request (issue 14). A trainee's live machines (in one cohort or all) are
 * kept, dropped by any change to machines, cohorts, users or hosts (the rows' joins) and by
 * any rollback; a list is read again after COHORT_STORE_LISTS_TTL_S, for changes another
 * process made. */
#define COHORT_STORE_LISTS_TTL_S 5
/* a class of trainees is a few hundred; past this the lists start again */
#define COHORT_STORE_LISTS_MAX 4096
/* a trainee's few machines; a longer list is read every time rather than held */
#define COHORT_STORE_LIST_ROWS_MAX 16

typedef struct {
    CohortStoreListKey key;
    GPtrArray *rows; /* CohortMachineRow */
    gint64 read_at;  /* monotonic µs */
} CohortStoreList;

static guint
cohort_store_list_key_hash(gconstpointer data)
{
    const CohortStoreListKey *key = data;

    return g_int64_hash(&key->user_id) * 31 + g_int64_hash(&key->cohort_id);
}

static gboolean
cohort_store_list_key_equal(gconstpointer a, gconstpointer b)
{
    const CohortStoreListKey *ka = a;
    const CohortStoreListKey *kb = b;

    return ka->user_id == kb->user_id && ka->cohort_id == kb->cohort_id;
}

static void
cohort_store_list_free(CohortStoreList *list)
{
    g_ptr_array_unref(list->rows);
    g_free(list);
}

static CohortMachineRow *
cohort_machine_row_dup(const CohortMachineRow *row)
{
    CohortMachineRow *copy = g_memdup2(row, sizeof(*row));

    copy->name = g_strdup(row->name);
    copy->cohort_slug = g_strdup(row->cohort_slug);
    copy->trainee_login = g_strdup(row->trainee_login);
    copy->host_name = g_strdup(row->host_name);
    copy->template_name = g_strdup(row->template_name);
    copy->state = g_strdup(row->state);
    copy->uuid = g_strdup(row->uuid);
    copy->created_at = g_strdup(row->created_at);
    copy->expires_at = g_strdup(row->expires_at);
    copy->error = g_strdup(row->error);
    copy->ready_at = g_strdup(row->ready_at);
    copy->addresses = g_strdup(row->addresses);
    return copy;
}

static GPtrArray *
cohort_machine_rows_dup(GPtrArray *rows)
{
    GPtrArray *copy = g_ptr_array_new_full(rows->len, (GDestroyNotify)cohort_machine_row_free);

    for (guint i = 0; i < rows->len; i++)
        g_ptr_array_add(copy, cohort_machine_row_dup(g_ptr_array_index(rows, i)));
    return copy;
}

void
cohort_store_machine_lists_drop(CohortStore *self)
{
    g_clear_pointer(&self->machine_lists, g_hash_table_unref);
}

/* A change to machine @machine_id: the lists that hold it go. One that does not hold it
 * cannot gain it by the change: a list has its trainee's live machines, a machine never
 * changes trainee or cohort, and a reclaimed one is never live again. */
static void
cohort_store_machine_lists_drop_holding(CohortStore *self, gint64 machine_id)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, self->machine_lists);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortStoreList *list = value;
        for (guint i = 0; i < list->rows->len; i++) {
            if (((CohortMachineRow *)g_ptr_array_index(list->rows, i))->id == machine_id) {
                g_hash_table_iter_remove(&iter);
                break;
            }
        }
    }
}

static void
cohort_store_machine_lists_drop_user(CohortStore *self, gint64 user_id)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, self->machine_lists);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (((CohortStoreList *)value)->key.user_id == user_id)
            g_hash_table_iter_remove(&iter);
    }
}

/* Only the lists a change concerns go: with 200 trainees listing while their machines were
 * made, every change dropped all 200 and nearly every list was read again (issue 14). */
void
cohort_store_machine_lists_on_update(CohortStore *self, gint op, const gchar *table, gint64 rowid)
{
    if (self->machine_lists == NULL)
        return;
    if (g_strcmp0(table, "machines") == 0) {
        if (op != SQLITE_INSERT)
            cohort_store_machine_lists_drop_holding(self, rowid);
        else if (self->machine_lists_owner > 0)
            cohort_store_machine_lists_drop_user(self, self->machine_lists_owner);
        else
            cohort_store_machine_lists_drop(self);
        return;
    }
    /* the rows' joins: their slugs, logins and names */
    if (g_strcmp0(table, "cohorts") == 0 || g_strcmp0(table, "users") == 0 ||
        g_strcmp0(table, "hosts") == 0)
        cohort_store_machine_lists_drop(self);
}

/* The kept rows themselves (a reference): read again when not kept or too old. */
static GPtrArray *
cohort_store_machine_list_kept(CohortStore *self, gint64 cohort_id, gint64 user_id, GError **error)
{
    const CohortStoreListKey key = {.cohort_id = cohort_id, .user_id = user_id};
    const gint64 now = g_get_monotonic_time();
    const guint filters =
        MACHINE_LIST_BY_USER | MACHINE_LIST_LIVE | (cohort_id > 0 ? MACHINE_LIST_BY_COHORT : 0);
    CohortStoreList *known;
    GPtrArray *rows;

    known = self->machine_lists != NULL ? g_hash_table_lookup(self->machine_lists, &key) : NULL;
    if (known != NULL && now - known->read_at < COHORT_STORE_LISTS_TTL_S * G_USEC_PER_SEC)
        return g_ptr_array_ref(known->rows);
    rows = cohort_store_machine_list_read(self, filters, cohort_id, user_id, 0, error);
    if (rows == NULL || rows->len > COHORT_STORE_LIST_ROWS_MAX)
        return rows;
    if (self->machine_lists == NULL ||
        g_hash_table_size(self->machine_lists) >= COHORT_STORE_LISTS_MAX) {
        cohort_store_machine_lists_drop(self);
        self->machine_lists =
            g_hash_table_new_full(cohort_store_list_key_hash, cohort_store_list_key_equal, NULL,
                                  (GDestroyNotify)cohort_store_list_free);
    }
    known = g_new0(CohortStoreList, 1);
    known->key = key;
    known->rows = g_ptr_array_ref(rows);
    known->read_at = now;
    g_hash_table_replace(self->machine_lists, &known->key, known);
    return rows;
}

GPtrArray *
cohort_store_machine_list_shared(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                 GError **error)
{
    g_return_val_if_fail(self != NULL, NULL);
    g_return_val_if_fail(user_id > 0, NULL);

    return cohort_store_machine_list_kept(self, cohort_id, user_id, error);
}

GPtrArray *
cohort_store_machine_list(CohortStore *self, gint64 cohort_id, gint64 user_id, gint64 trainer_id,
                          gboolean include_reclaimed, GError **error)
{
    guint filters = 0;

    g_return_val_if_fail(self != NULL, NULL);

    if (cohort_id > 0)
        filters |= MACHINE_LIST_BY_COHORT;
    if (user_id > 0)
        filters |= MACHINE_LIST_BY_USER;
    if (trainer_id > 0)
        filters |= MACHINE_LIST_BY_TRAINER;
    if (!include_reclaimed)
        filters |= MACHINE_LIST_LIVE;
    if ((filters & ~MACHINE_LIST_BY_COHORT) == (MACHINE_LIST_BY_USER | MACHINE_LIST_LIVE)) {
        g_autoptr(GPtrArray) shared =
            cohort_store_machine_list_kept(self, cohort_id, user_id, error);
        /* the caller's own copy: callers may change their rows */
        return shared != NULL ? cohort_machine_rows_dup(shared) : NULL;
    }
    return cohort_store_machine_list_read(self, filters, cohort_id, user_id, trainer_id, error);
}

/* Only a running machine is ready: a stop, a reboot or a reset waits for the agent again. */
#define MACHINE_SET_STATE                                                                          \
    "UPDATE machines SET state = ?2, error = ?3,"                                                  \
    " ready = CASE WHEN ?2 = 'running' THEN ready ELSE 0 END,"                                     \
    " ready_at = CASE WHEN ?2 = 'running' THEN ready_at END"                                       \
    " WHERE id = ?1"

gboolean
cohort_store_machine_set_state(CohortStore *self, gint64 id, const gchar *state,
                               const gchar *error_message, GError **error)
{
    g_autoptr(CohortStmt) within = NULL;
    g_autoptr(CohortStmt) across = NULL;
    g_autofree gchar *what = NULL;
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);

    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    /* Hosts' usage counts the machines neither reclaimed nor failed. A change that stays on
     * one side of that line (provisioning to running, running to stopped) keeps the usage
     * cache; the one that crosses it is the second statement's, which drops it. */
    within =
        cohort_store_prepare(self,
                             MACHINE_SET_STATE " AND ((state = 'reclaimed' OR state = 'failed')"
                                               " = (?2 = 'reclaimed' OR ?2 = 'failed'))",
                             what, error);
    if (within == NULL)
        return FALSE;
    cohort_store_bind_int64(within, 1, id);
    cohort_store_bind_text(within, 2, state);
    cohort_store_bind_text(within, 3, error_message);
    self->usage_counting = TRUE;
    rc = sqlite3_step(within);
    self->usage_counting = FALSE;
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return FALSE;
    }
    if (sqlite3_changes(self->db) > 0)
        return TRUE;
    across = cohort_store_prepare(self, MACHINE_SET_STATE, what, error);
    if (across == NULL)
        return FALSE;
    cohort_store_bind_int64(across, 1, id);
    cohort_store_bind_text(across, 2, state);
    cohort_store_bind_text(across, 3, error_message);
    return cohort_store_run_update(self, across, what, NULL, error);
}

gboolean
cohort_store_machine_set_ready(CohortStore *self, gint64 id, gboolean ready, const gchar *addresses,
                               gboolean *changed, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;
    g_autofree gchar *now = cohort_store_now();
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);

    if (changed != NULL)
        *changed = FALSE;
    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    if (addresses != NULL && strlen(addresses) > 1024)
        addresses = NULL; /* more than any guest has: keep what was known */
    /* first_ready_s from created_at, the request, in whole seconds as the store keeps times */
    stmt = cohort_store_prepare(
        self,
        "UPDATE machines SET ready = ?2,"
        " ready_at = CASE WHEN ?2 = 0 THEN NULL WHEN ready = 1 THEN ready_at ELSE ?3 END,"
        " addresses = COALESCE(?4, addresses),"
        " first_ready_s = CASE WHEN ?2 = 1 AND first_ready_s IS NULL"
        "   THEN MAX(0, (julianday(?3) - julianday(created_at)) * 86400.0)"
        "   ELSE first_ready_s END"
        " WHERE id = ?1 AND (?2 = 0 OR state IN ('running', 'provisioning', 'starting',"
        " 'rebooting', 'resetting'))"
        " AND (ready <> ?2 OR (?4 IS NOT NULL AND addresses IS NOT ?4))",
        what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    sqlite3_bind_int(stmt, 2, ready ? 1 : 0);
    cohort_store_bind_text(stmt, 3, now);
    cohort_store_bind_text(stmt, 4, addresses != NULL && addresses[0] != '\0' ? addresses : NULL);
    /* readiness and addresses count in no host's usage: the cache stays */
    self->usage_counting = TRUE;
    rc = sqlite3_step(stmt);
    self->usage_counting = FALSE;
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, what, NULL, NULL);
        return FALSE;
    }
    if (changed != NULL)
        *changed = sqlite3_changes(self->db) > 0;
    return TRUE;
}

gboolean
cohort_store_machine_set_addresses(CohortStore *self, gint64 id, const gchar *addresses,
                                   GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    if (addresses != NULL && (addresses[0] == '\0' || strlen(addresses) > 1024))
        addresses = NULL;
    what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, id);
    stmt =
        cohort_store_prepare(self, "UPDATE machines SET addresses = ?2 WHERE id = ?1", what, error);
    if (stmt == NULL)
        return FALSE;
    cohort_store_bind_int64(stmt, 1, id);
    cohort_store_bind_text(stmt, 2, addresses);
    return cohort_store_run_update_usage_neutral(self, stmt, what, error);
}

gboolean
cohort_store_machine_ready_histogram(CohortStore *self, const gdouble *bounds, guint n_bounds,
                                     guint64 *counts, gdouble *sum, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    gint rc;

    g_return_val_if_fail(self != NULL, FALSE);

    memset(counts, 0, sizeof(guint64) * (n_bounds + 1));
    *sum = 0;
    stmt = cohort_store_prepare(
        self, "SELECT first_ready_s FROM machines WHERE first_ready_s IS NOT NULL",
        "reading the machines' times to ready", error);
    if (stmt == NULL)
        return FALSE;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gdouble s = sqlite3_column_double(stmt, 0);
        for (guint i = 0; i < n_bounds; i++)
            counts[i] += s <= bounds[i];
        counts[n_bounds]++;
        *sum += s;
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "reading the machines' times to ready", NULL, NULL);
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_store_machine_set_host(CohortStore *self, gint64 id, gint64 host_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
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
    g_autoptr(CohortStmt) stmt = NULL;
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
    g_autoptr(CohortStmt) stmt = NULL;
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
    g_autoptr(CohortStmt) stmt = NULL;
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

/* ---- running time ---- */

gboolean
cohort_store_machine_run_begin(CohortStore *self, gint64 machine_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
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
    g_autoptr(CohortStmt) stmt = NULL;
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
    g_autoptr(CohortStmt) stmt = NULL;
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

GHashTable *
cohort_store_machine_get_running_hours_by_user(CohortStore *self, gint64 cohort_id, gdouble *total,
                                               GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *now = cohort_store_now();
    g_autoptr(GHashTable) hours =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    /* one query for the whole cohort: a query per trainee scans the runs once each */
    stmt = cohort_store_prepare(
        self,
        "SELECT m.user_id, COALESCE(SUM((julianday(COALESCE(r.stopped_at, ?2))"
        " - julianday(r.started_at)) * 24.0), 0) FROM machines m"
        " JOIN machine_runs r ON r.machine_id = m.id WHERE m.cohort_id = ?1 GROUP BY m.user_id",
        "running hours", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    cohort_store_bind_text(stmt, 2, now);
    if (total != NULL)
        *total = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gint64 user_id = sqlite3_column_int64(stmt, 0);
        gdouble h = sqlite3_column_double(stmt, 1);
        g_hash_table_replace(hours, g_memdup2(&user_id, sizeof(user_id)), g_memdup2(&h, sizeof(h)));
        if (total != NULL)
            *total += h;
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "running hours", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&hours);
}

/* As the cohort's list of live machines counted them, rows and all (its joins kept), in one
 * aggregate: usage read the 1,000 rows of a cohort to sum three columns. */
GHashTable *
cohort_store_machine_get_held_by_user(CohortStore *self, gint64 cohort_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autoptr(GHashTable) held = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    gint rc;

    g_return_val_if_fail(self != NULL, NULL);

    stmt = cohort_store_prepare(
        self,
        "SELECT m.user_id, COUNT(*), SUM(m.vcpus), SUM(m.memory_mib)"
        " FROM machines m JOIN cohorts c ON c.id = m.cohort_id"
        " JOIN users u ON u.id = m.user_id"
        " WHERE m.cohort_id = ?1 AND " HOLDS_RESOURCES("m") " GROUP BY m.user_id",
        "what a cohort's machines hold", error);
    if (stmt == NULL)
        return NULL;
    cohort_store_bind_int64(stmt, 1, cohort_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gint64 user_id = sqlite3_column_int64(stmt, 0);
        CohortMachineHeld h = {
            .machines = cohort_store_column_uint(stmt, 1),
            .vcpus = cohort_store_column_uint(stmt, 2),
            .memory_mib = (guint64)sqlite3_column_int64(stmt, 3),
        };
        g_hash_table_replace(held, g_memdup2(&user_id, sizeof(user_id)), g_memdup2(&h, sizeof(h)));
    }
    if (rc != SQLITE_DONE) {
        cohort_store_set_error(self, error, "what a cohort's machines hold", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&held);
}

/* ---- expiry and extensions ---- */

gboolean
cohort_store_machine_set_expiry(CohortStore *self, gint64 machine_id, const gchar *expires_at,
                                gboolean extension, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
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
    return cohort_store_run_update_usage_neutral(self, stmt, what, error);
}

guint
cohort_store_machine_get_extensions(CohortStore *self, gint64 machine_id, GError **error)
{
    g_autoptr(CohortStmt) stmt = NULL;
    g_autofree gchar *what = g_strdup_printf("machine with id %" G_GINT64_FORMAT, machine_id);

    stmt = cohort_store_prepare(self, "SELECT extensions FROM machines WHERE id = ?1", what, error);
    if (stmt == NULL)
        return 0;
    cohort_store_bind_int64(stmt, 1, machine_id);
    if (!cohort_store_step_row(self, stmt, what, error))
        return 0;
    return cohort_store_column_uint(stmt, 0);
}
