/* The store on SQLite: a fresh in-memory database per test, and one real file. */
#define G_LOG_DOMAIN "test-store"

#include "config.h"

#include "cohort-test.h"

#include <glib/gstdio.h>
#include <string.h>

#include "cohort-error.h"
#include "cohort-store-migrations.h"
#include "cohort-store-private.h"
#include "cohort-store.h"

#define STARTS "2026-12-01T08:00:00Z"
#define ENDS "2026-12-19T17:00:00Z"

static int
store_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortStore *store = cohort_store_open(":memory:", cohort_secret_key_new_random(NULL), &error);

    cohort_assert_no_error(error);
    assert_non_null(store);
    *state = store;
    return 0;
}

static int
store_teardown(void **state)
{
    cohort_store_free(*state);
    return 0;
}

/* ---- helpers: rows with known values ---- */

static void
rm_key(const gchar *dir)
{
    g_autofree gchar *path = g_build_filename(dir, COHORT_SECRET_KEY_FILE, NULL);

    assert_int_equal(g_unlink(path), 0);
}

/* Whether the bytes of @path (a file that may not exist) hold @needle anywhere. */
static gboolean
file_contains(const gchar *path, const gchar *needle)
{
    g_autofree gchar *data = NULL;
    gsize len = 0;

    gsize n = strlen(needle);

    if (!g_file_get_contents(path, &data, &len, NULL))
        return FALSE;
    for (gsize i = 0; i + n <= len; i++) {
        if (memcmp(data + i, needle, n) == 0)
            return TRUE;
    }
    return FALSE;
}

/* The database and its WAL, as they are on disk now. */
static gboolean
db_files_contain(const gchar *path, const gchar *needle)
{
    g_autofree gchar *wal = g_strconcat(path, "-wal", NULL);

    return file_contains(path, needle) || file_contains(wal, needle);
}

static void
db_files_remove(const gchar *dir, const gchar *path)
{
    g_autofree gchar *wal = g_strconcat(path, "-wal", NULL);
    g_autofree gchar *shm = g_strconcat(path, "-shm", NULL);

    g_unlink(wal);
    g_unlink(shm);
    assert_int_equal(g_unlink(path), 0);
    rm_key(dir);
    assert_int_equal(g_rmdir(dir), 0);
}

/* A store file of a test's own, in a directory of its own, with the key beside it. */
typedef struct {
    gchar *dir;
    gchar *path;
} TestStoreFile;

static TestStoreFile *
test_store_file_new(void)
{
    g_autoptr(GError) error = NULL;
    TestStoreFile *file = g_new0(TestStoreFile, 1);

    file->dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    cohort_assert_no_error(error);
    file->path = g_build_filename(file->dir, "cohort.db", NULL);
    return file;
}

/* Removes it all (db_files_remove) and frees @file. */
static void
test_store_file_remove(TestStoreFile *file)
{
    db_files_remove(file->dir, file->path);
    g_free(file->path);
    g_free(file->dir);
    g_free(file);
}

/* The key of a database on file, kept beside it as cohortd keeps it. */
static CohortSecretKey *
file_key(const gchar *dir)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *path = g_build_filename(dir, COHORT_SECRET_KEY_FILE, NULL);
    CohortSecretKey *key = cohort_secret_key_load_or_create(path, NULL, &error);

    cohort_assert_no_error(error);
    return key;
}

static gchar *
sha256(const gchar *secret)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
}

static gint64
add_user(CohortStore *store, const gchar *login, const gchar *role)
{
    g_autoptr(GError) error = NULL;
    CohortUserRow row = {.login = (gchar *)login,
                         .display_name = (gchar *)login,
                         .role = (gchar *)role,
                         .created_at = (gchar *)STARTS};

    assert_true(cohort_store_user_insert(store, &row, &error));
    cohort_assert_no_error(error);
    assert_true(row.id > 0);
    return row.id;
}

static void
cohort_row_init(CohortCohortRow *row, const gchar *slug, gint64 trainer_id)
{
    *row = (CohortCohortRow){.slug = (gchar *)slug,
                             .title = (gchar *)"Cloud basics",
                             .template_name = (gchar *)"tiny",
                             .trainer_id = trainer_id,
                             .starts_at = (gchar *)STARTS,
                             .ends_at = (gchar *)ENDS,
                             .grace_hours = 48,
                             .quota_machines = 2,
                             .quota_vcpus = 4,
                             .quota_memory_mib = 4096,
                             .created_at = (gchar *)STARTS};
}

static gint64
add_cohort(CohortStore *store, const gchar *slug, gint64 trainer_id)
{
    g_autoptr(GError) error = NULL;
    CohortCohortRow row;

    cohort_row_init(&row, slug, trainer_id);
    assert_true(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_no_error(error);
    g_free(row.state); /* the default the store filled in */
    return row.id;
}

static gint64
add_host(CohortStore *store, const gchar *name)
{
    g_autoptr(GError) error = NULL;
    CohortHostRow row = {.name = (gchar *)name,
                         .uri = (gchar *)"test:///default",
                         .pool = (gchar *)"default",
                         .vcpus = 32,
                         .memory_mib = 131072,
                         .cpu_ratio = 4.0,
                         .memory_ratio = 1.5,
                         .state = (gchar *)"up",
                         .created_at = (gchar *)STARTS};

    assert_true(cohort_store_host_insert(store, &row, &error));
    cohort_assert_no_error(error);
    return row.id;
}

static void
machine_row_init(CohortMachineRow *row, const gchar *name, gint64 cohort_id, gint64 user_id,
                 gint64 host_id, guint idx, const gchar *state, guint vcpus, guint64 memory_mib)
{
    *row = (CohortMachineRow){.name = (gchar *)name,
                              .cohort_id = cohort_id,
                              .user_id = user_id,
                              .host_id = host_id,
                              .template_name = (gchar *)"tiny",
                              .idx = idx,
                              .state = (gchar *)state,
                              .vcpus = vcpus,
                              .memory_mib = memory_mib,
                              .created_at = (gchar *)STARTS};
}

static gint64
add_machine(CohortStore *store, const gchar *name, gint64 cohort_id, gint64 user_id, gint64 host_id,
            guint idx, const gchar *state, guint vcpus, guint64 memory_mib)
{
    g_autoptr(GError) error = NULL;
    CohortMachineRow row;

    machine_row_init(&row, name, cohort_id, user_id, host_id, idx, state, vcpus, memory_mib);
    assert_true(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_no_error(error);
    return row.id;
}

/* A trainer, a cohort, two trainees and a host: the usual scene. */
typedef struct {
    gint64 trainer;
    gint64 cohort;
    gint64 sok;
    gint64 pov;
    gint64 host;
} Scene;

static Scene
scene_new(CohortStore *store)
{
    Scene s;

    s.trainer = add_user(store, "chan-trainer", "trainer");
    s.cohort = add_cohort(store, "cloud-101", s.trainer);
    s.sok = add_user(store, "sok-dara", "trainee");
    s.pov = add_user(store, "pov-bopha", "trainee");
    s.host = add_host(store, "lab1");
    return s;
}

/* ---- opening and schema ---- */

static void
test_store_migrations_applied(void **state)
{
    CohortStore *store = *state;

    assert_true(cohort_store_migrations_latest() >= 1);
    assert_int_equal(cohort_store_get_schema_version(store), cohort_store_migrations_latest());
}

static gpointer
test_store_now_in_thread(gpointer data)
{
    return cohort_store_now();
}

static void
test_store_now_format(void **state)
{
    g_autofree gchar *now = cohort_store_now();
    g_autoptr(GDateTime) parsed = NULL;
    g_autoptr(GDateTime) real = g_date_time_new_now_utc();

    assert_int_equal(strlen(now), 20);
    assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$", now, 0, 0));
    parsed = g_date_time_new_from_iso8601(now, NULL);
    assert_non_null(parsed);
    assert_true(ABS(g_date_time_difference(real, parsed)) < 5 * G_TIME_SPAN_SECOND);
    /* the second's text is kept per thread: another thread, and a later second, have their
     * own, and each caller gets a copy of its own */
    {
        g_autoptr(GThread) thread = g_thread_new("now", test_store_now_in_thread, NULL);
        g_autofree gchar *other = g_thread_join(g_steal_pointer(&thread));
        g_autofree gchar *again = NULL;
        g_autofree gchar *later = NULL;

        assert_true(cohort_store_time_is_valid(other));
        again = cohort_store_now();
        assert_true(again != now && strcmp(again, now) >= 0);
        g_usleep(G_USEC_PER_SEC + G_USEC_PER_SEC / 10);
        later = cohort_store_now();
        assert_true(cohort_store_time_is_valid(later));
        assert_true(strcmp(later, again) > 0);
    }
}

/* WAL on a real file, data and version kept across opens, a newer database refused. */
static void
test_store_file_reopen(void **state)
{
    g_autoptr(GError) error = NULL;
    TestStoreFile *file = test_store_file_new();
    const gchar *dir = file->dir;
    const gchar *path = file->path;
    gint latest = cohort_store_migrations_latest();

    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        cohort_assert_no_error(error);
        add_user(store, "sok-dara", "trainee");
        assert_int_equal(cohort_store_get_schema_version(store), latest);
    }
    {
        /* A connection of its own: WAL is a property of the file, not of our connection. */
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const gchar *)sqlite3_column_text(stmt, 0), "wal");
    }
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autoptr(CohortUserRow) user = NULL;

        cohort_assert_no_error(error);
        assert_int_equal(cohort_store_get_schema_version(store), latest);
        user = cohort_store_user_get_by_login(store, "sok-dara", &error);
        cohort_assert_no_error(error);
        assert_string_equal(user->role, "trainee");
    }
    {
        /* What a newer cohortd would leave behind. */
        g_autoptr(sqlite3) db = NULL;
        g_autofree gchar *sql = g_strdup_printf("PRAGMA user_version = %d", latest + 1);

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autofree gchar *expected = g_strdup_printf("schema version %d, newer", latest + 1);

        assert_null(store);
        cohort_assert_error(error, COHORT_ERROR_INTERNAL);
        cohort_assert_contains(error->message, path);
        cohort_assert_contains(error->message, expected);
        g_clear_error(&error);
    }
    {
        /* Refused, and left as it was. */
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(stmt, 0), latest + 1);
    }
    test_store_file_remove(file);
}

/* A token found is trusted from memory for 5 s (cohort-store-users.c): a revocation made by
 * another process (another connection to the file) ends it within that bound, not never. */
static void
test_store_token_cache_ttl(void **state)
{
    g_autoptr(GError) error = NULL;
    TestStoreFile *file = test_store_file_new();
    const gchar *dir = file->dir;
    const gchar *path = file->path;
    g_autofree gchar *tok = sha256("token-one");

    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autoptr(sqlite3) other = NULL;
        gint64 sok;

        cohort_assert_no_error(error);
        sok = add_user(store, "sok-dara", "trainee");
        assert_true(cohort_store_token_insert(store, sok, tok, &error));
        cohort_assert_no_error(error);
        {
            g_autoptr(CohortUserRow) user = cohort_store_token_lookup(store, tok, &error);
            cohort_assert_no_error(error);
            assert_string_equal(user->login, "sok-dara");
        }
        /* another process revokes it: this connection's hooks do not see that */
        assert_int_equal(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other,
                                      "UPDATE tokens SET revoked_at = '2026-12-03T00:00:00Z'", NULL,
                                      NULL, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_changes(other), 1);
        {
            /* still trusted from memory: the bound, not an accident of this test */
            g_autoptr(CohortUserRow) user = cohort_store_token_lookup(store, tok, &error);
            cohort_assert_no_error(error);
            assert_int_equal(user->id, sok);
        }
        g_usleep(5200 * G_TIME_SPAN_MILLISECOND);
        assert_null(cohort_store_token_lookup(store, tok, &error));
        cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
        g_clear_error(&error);
    }
    test_store_file_remove(file);
}

static void
test_store_open_bad_path(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortStore) store =
        cohort_store_open("/nonexistent-dir/cohort.db", cohort_secret_key_new_random(NULL), &error);

    assert_null(store);
    cohort_assert_error(error, COHORT_ERROR_INTERNAL);
    cohort_assert_contains(error->message, "/nonexistent-dir/cohort.db");
}

/* ---- transactions ---- */

static void
test_store_transaction_rollback(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) users = NULL;
    g_autoptr(CohortUserRow) user = NULL;

    assert_true(cohort_store_begin(store, &error));
    cohort_assert_no_error(error);
    add_user(store, "a-one", "trainee");
    add_user(store, "b-two", "trainee");
    add_user(store, "c-three", "trainee");
    cohort_store_rollback(store);

    users = cohort_store_user_list(store, NULL, &error);
    cohort_assert_no_error(error);
    assert_int_equal(users->len, 0);
    user = cohort_store_user_get_by_login(store, "b-two", &error);
    assert_null(user);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    /* A rollback with nothing open is harmless. */
    cohort_store_rollback(store);
}

static void
test_store_transaction_commit(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) users = NULL;

    assert_true(cohort_store_begin(store, &error));
    add_user(store, "a-one", "trainee");
    add_user(store, "b-two", "admin");
    assert_true(cohort_store_commit(store, &error));
    cohort_assert_no_error(error);
    cohort_store_rollback(store); /* nothing open any more: must not undo the commit */

    users = cohort_store_user_list(store, NULL, &error);
    cohort_assert_no_error(error);
    assert_int_equal(users->len, 2);
    assert_string_equal(((CohortUserRow *)users->pdata[1])->login, "b-two");
    /* And a new transaction can start. */
    assert_true(cohort_store_begin(store, &error));
    cohort_assert_no_error(error);
    cohort_store_rollback(store);
}

/* A failed statement inside a transaction leaves the rest of it to the caller. */
static void
test_store_transaction_failure_inside(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) users = NULL;
    CohortUserRow dup = {
        .login = (gchar *)"a-one", .display_name = (gchar *)"A", .role = (gchar *)"admin"};

    assert_true(cohort_store_begin(store, &error));
    add_user(store, "a-one", "trainee");
    assert_false(cohort_store_user_insert(store, &dup, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    add_user(store, "b-two", "trainee");
    assert_true(cohort_store_commit(store, &error));
    cohort_assert_no_error(error);
    users = cohort_store_user_list(store, NULL, &error);
    assert_int_equal(users->len, 2);
}

/* ---- hosts ---- */

static void
test_store_host_roundtrip(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortHostRow) by_name = NULL;
    g_autoptr(CohortHostRow) by_id = NULL;
    g_autoptr(CohortHostRow) after = NULL;
    g_autoptr(GPtrArray) hosts = NULL;
    gint64 lab2 = add_host(store, "lab2");
    CohortHostRow bare = {.name = (gchar *)"lab1",
                          .uri = (gchar *)"qemu+ssh://lab1/system",
                          .pool = (gchar *)"images",
                          .vcpus = 16,
                          .memory_mib = 65536};

    /* Defaults: state, created_at and ratios left unset. */
    assert_true(cohort_store_host_insert(store, &bare, &error));
    cohort_assert_no_error(error);
    assert_true(bare.id > lab2);
    assert_string_equal(bare.state, "up");
    assert_non_null(bare.created_at);
    assert_true(bare.cpu_ratio == 1.0);

    by_name = cohort_store_host_get_by_name(store, "lab2", &error);
    cohort_assert_no_error(error);
    assert_int_equal(by_name->id, lab2);
    assert_string_equal(by_name->name, "lab2");
    assert_string_equal(by_name->uri, "test:///default");
    assert_string_equal(by_name->pool, "default");
    assert_int_equal(by_name->vcpus, 32);
    assert_int_equal(by_name->memory_mib, 131072);
    assert_true(by_name->cpu_ratio == 4.0);
    assert_true(by_name->memory_ratio == 1.5);
    assert_string_equal(by_name->state, "up");
    assert_string_equal(by_name->created_at, STARTS);

    by_id = cohort_store_host_get_by_id(store, bare.id, &error);
    cohort_assert_no_error(error);
    assert_string_equal(by_id->uri, "qemu+ssh://lab1/system");
    assert_string_equal(by_id->created_at, bare.created_at);
    assert_true(by_id->memory_ratio == 1.0);

    hosts = cohort_store_host_list(store, &error);
    cohort_assert_no_error(error);
    assert_int_equal(hosts->len, 2);
    assert_string_equal(((CohortHostRow *)hosts->pdata[0])->name, "lab1");
    assert_string_equal(((CohortHostRow *)hosts->pdata[1])->name, "lab2");

    assert_true(cohort_store_host_set_state(store, lab2, "draining", &error));
    cohort_assert_no_error(error);
    after = cohort_store_host_get_by_id(store, lab2, &error);
    assert_string_equal(after->state, "draining");

    g_free(bare.state);
    g_free(bare.created_at);
}

static void
test_store_host_errors(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    gint64 id = add_host(store, "lab1");
    CohortHostRow dup = {.name = (gchar *)"lab1",
                         .uri = (gchar *)"qemu:///system",
                         .pool = (gchar *)"default",
                         .vcpus = 8,
                         .memory_mib = 8192,
                         .state = (gchar *)"up",
                         .created_at = (gchar *)STARTS};
    CohortHostRow bad = dup;

    assert_false(cohort_store_host_insert(store, &dup, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    assert_string_equal(error->message, "a host named 'lab1' already exists");
    assert_int_equal(dup.id, 0);
    g_clear_error(&error);

    bad.name = (gchar *)"lab9";
    bad.state = (gchar *)"exploded";
    assert_false(cohort_store_host_insert(store, &bad, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, "host 'lab9'");
    g_clear_error(&error);

    bad.state = (gchar *)"up";
    bad.vcpus = (guint)-4;
    assert_false(cohort_store_host_insert(store, &bad, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_null(cohort_store_host_get_by_name(store, "lab9", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no host 'lab9'");
    g_clear_error(&error);
    assert_null(cohort_store_host_get_by_id(store, id + 100, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_false(cohort_store_host_set_state(store, id + 100, "down", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_false(cohort_store_host_set_state(store, id, "exploded", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
}

static void
test_store_host_usage(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 lab2 = add_host(store, "lab2");
    guint vcpus = 99;
    guint64 memory = 99;

    assert_true(cohort_store_host_get_usage(store, s.host, &vcpus, &memory, &error));
    cohort_assert_no_error(error);
    assert_int_equal(vcpus, 0);
    assert_int_equal(memory, 0);

    add_machine(store, "m-running", s.cohort, s.sok, s.host, 1, "running", 2, 2048);
    add_machine(store, "m-stopped", s.cohort, s.sok, s.host, 2, "stopped", 1, 1024);
    add_machine(store, "m-prov", s.cohort, s.sok, s.host, 3, "provisioning", 1, 512);
    add_machine(store, "m-reclaimed", s.cohort, s.sok, s.host, 4, "reclaimed", 4, 4096);
    add_machine(store, "m-failed", s.cohort, s.sok, s.host, 5, "failed", 8, 8192);
    add_machine(store, "m-other-host", s.cohort, s.pov, lab2, 1, "running", 16, 16384);
    add_machine(store, "m-unplaced", s.cohort, s.pov, 0, 2, "requested", 3, 3072);

    assert_true(cohort_store_host_get_usage(store, s.host, &vcpus, &memory, &error));
    cohort_assert_no_error(error);
    assert_int_equal(vcpus, 4);
    assert_int_equal(memory, 3584);
    assert_true(cohort_store_host_get_usage(store, lab2, &vcpus, &memory, &error));
    assert_int_equal(vcpus, 16);
    assert_int_equal(memory, 16384);

    assert_false(cohort_store_host_get_usage(store, lab2 + 100, &vcpus, &memory, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
}

/* Placement reads the hosts' usage from a cache (cohort-store-private.h). A change that cannot
 * move a host's usage keeps it: a state change between two live states, readiness, addresses,
 * expiry, a guest password. One into or out of reclaimed or failed drops it, and the usage read
 * next is right. */
static void
test_store_host_usage_follows_state(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 id = add_machine(store, "m-live", s.cohort, s.sok, s.host, 1, "provisioning", 2, 2048);
    static const struct {
        const gchar *state;
        guint machines; /* on the host afterwards */
        gboolean kept;  /* the cache survived the change */
    } steps[] = {
        {"running", 1, TRUE},    {"stopped", 1, TRUE},       {"failed", 0, FALSE},
        {"failed", 0, TRUE},     {"provisioning", 1, FALSE}, {"reclaiming", 1, TRUE},
        {"reclaimed", 0, FALSE},
    };
    CohortHostUsage usage = {0};

    assert_true(cohort_store_host_get_usage_full(store, s.host, &usage, &error));
    assert_int_equal(usage.machines, 1);
    assert_true(g_hash_table_contains(store->usage, &s.host));
    assert_true(cohort_store_machine_set_ready(store, id, TRUE, "10.0.0.2", NULL, &error));
    assert_true(cohort_store_machine_set_addresses(store, id, "10.0.0.3", &error));
    assert_true(cohort_store_machine_set_expiry(store, id, "2026-12-31T00:00:00Z", FALSE, &error));
    assert_true(cohort_store_machine_set_guest_password(store, id, "secret", &error));
    cohort_assert_no_error(error);
    assert_true(g_hash_table_contains(store->usage, &s.host));
    for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
        assert_true(cohort_store_machine_set_state(store, id, steps[i].state, NULL, &error));
        cohort_assert_no_error(error);
        assert_int_equal(store->usage != NULL && g_hash_table_contains(store->usage, &s.host),
                         steps[i].kept);
        assert_true(cohort_store_host_get_usage_full(store, s.host, &usage, &error));
        assert_int_equal(usage.machines, steps[i].machines);
        assert_int_equal(usage.vcpus, steps[i].machines * 2);
    }
    /* no row: NOT_FOUND, from the second statement */
    assert_false(cohort_store_machine_set_state(store, id + 100, "running", NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
}

/* A trainee's kept list of machines (cohort-store-machines.c) goes when one of its machines
 * changes or goes, or its trainee gets another; another trainee's change keeps it. Before,
 * any change to any machine dropped every trainee's list. */
static gboolean
machine_list_kept(CohortStore *store, gint64 cohort_id, gint64 user_id)
{
    const CohortStoreListKey key = {.cohort_id = cohort_id, .user_id = user_id};
    return store->machine_lists != NULL && g_hash_table_contains(store->machine_lists, &key);
}

static void
machine_lists_read(CohortStore *store, const Scene *s)
{
    g_autoptr(GError) error = NULL;

    g_ptr_array_unref(cohort_store_machine_list_shared(store, 0, s->sok, &error));
    g_ptr_array_unref(cohort_store_machine_list_shared(store, s->cohort, s->sok, &error));
    g_ptr_array_unref(cohort_store_machine_list_shared(store, 0, s->pov, &error));
    cohort_assert_no_error(error);
    assert_true(machine_list_kept(store, 0, s->sok));
    assert_true(machine_list_kept(store, s->cohort, s->sok));
    assert_true(machine_list_kept(store, 0, s->pov));
}

static void
test_store_machine_lists_follow_owner(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 sok_m = add_machine(store, "m-sok", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    gint64 pov_m = add_machine(store, "m-pov", s.cohort, s.pov, s.host, 1, "running", 1, 1024);

    /* pov's machine changes: sok's lists stay, pov's goes, and is read again with it */
    machine_lists_read(store, &s);
    assert_true(cohort_store_machine_set_state(store, pov_m, "stopped", NULL, &error));
    cohort_assert_no_error(error);
    assert_true(machine_list_kept(store, 0, s.sok));
    assert_true(machine_list_kept(store, s.cohort, s.sok));
    assert_false(machine_list_kept(store, 0, s.pov));
    {
        g_autoptr(GPtrArray) pov = cohort_store_machine_list_shared(store, 0, s.pov, &error);
        assert_int_equal(pov->len, 1);
        assert_string_equal(((CohortMachineRow *)g_ptr_array_index(pov, 0))->state, "stopped");
    }
    /* sok gets a second machine: both of sok's lists go, pov's stays */
    add_machine(store, "m-sok-2", s.cohort, s.sok, s.host, 2, "provisioning", 1, 1024);
    assert_false(machine_list_kept(store, 0, s.sok));
    assert_false(machine_list_kept(store, s.cohort, s.sok));
    assert_true(machine_list_kept(store, 0, s.pov));
    {
        g_autoptr(GPtrArray) sok = cohort_store_machine_list_shared(store, 0, s.sok, &error);
        assert_int_equal(sok->len, 2);
    }
    /* sok's first is reclaimed: it leaves sok's lists */
    machine_lists_read(store, &s);
    assert_true(cohort_store_machine_set_state(store, sok_m, "reclaimed", NULL, &error));
    cohort_assert_no_error(error);
    assert_false(machine_list_kept(store, 0, s.sok));
    assert_true(machine_list_kept(store, 0, s.pov));
    {
        g_autoptr(GPtrArray) sok = cohort_store_machine_list_shared(store, 0, s.sok, &error);
        assert_int_equal(sok->len, 1);
        assert_string_equal(((CohortMachineRow *)g_ptr_array_index(sok, 0))->name, "m-sok-2");
    }
    /* a row the store did not insert itself (its trainee unknown): every list goes */
    machine_lists_read(store, &s);
    assert_int_equal(sqlite3_exec(store->db,
                                  "INSERT INTO machines (name, cohort_id, user_id, template_name,"
                                  " idx, state, vcpus, memory_mib, created_at) SELECT 'm-raw',"
                                  " cohort_id, user_id, template_name, 3, 'stopped', 1, 1024,"
                                  " created_at FROM machines WHERE name = 'm-pov'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_false(machine_list_kept(store, 0, s.pov));
    assert_false(machine_list_kept(store, 0, s.sok));
    /* a trainee's name changes (the rows' join): every list goes */
    machine_lists_read(store, &s);
    assert_int_equal(sqlite3_exec(store->db,
                                  "UPDATE users SET display_name = 'Pov B.'"
                                  " WHERE login = 'pov-bopha'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_false(machine_list_kept(store, 0, s.sok));
    assert_false(machine_list_kept(store, 0, s.pov));
}

/* What placement counts: planned disk and the number of machines too; an admin's change of
 * capacity, ratios and pool is kept. */
static void
test_store_host_usage_full_and_update(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortHostRow) row = NULL;
    Scene s = scene_new(store);
    CohortHostUsage usage = {0};
    CohortMachineRow m;

    machine_row_init(&m, "m-disk", s.cohort, s.sok, s.host, 1, "running", 2, 2048);
    m.disk_mib = 10240;
    assert_true(cohort_store_machine_insert(store, &m, NULL, &error));
    cohort_assert_no_error(error);
    add_machine(store, "m-failed", s.cohort, s.sok, s.host, 2, "failed", 8, 8192);
    assert_true(cohort_store_host_get_usage_full(store, s.host, &usage, &error));
    cohort_assert_no_error(error);
    assert_int_equal(usage.machines, 1);
    assert_int_equal(usage.vcpus, 2);
    assert_int_equal(usage.memory_mib, 2048);
    assert_int_equal(usage.disk_mib, 10240);
    {
        g_autoptr(CohortMachineRow) read = cohort_store_machine_get_by_name(store, "m-disk", NULL);
        assert_int_equal(read->disk_mib, 10240);
    }

    row = cohort_store_host_get_by_id(store, s.host, &error);
    cohort_assert_no_error(error);
    assert_true(row->disk_ratio == 1.0);
    row->vcpus = 12;
    row->memory_mib = 4096;
    row->cpu_ratio = 2.5;
    row->memory_ratio = 1.5;
    row->disk_ratio = 4.0;
    g_free(row->pool);
    row->pool = g_strdup("fast");
    assert_true(cohort_store_host_update(store, row, &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(CohortHostRow) read = cohort_store_host_get_by_id(store, s.host, &error);
        assert_int_equal(read->vcpus, 12);
        assert_int_equal(read->memory_mib, 4096);
        assert_true(read->cpu_ratio == 2.5 && read->memory_ratio == 1.5 && read->disk_ratio == 4.0);
        assert_string_equal(read->pool, "fast");
    }
    /* a ratio of 0 is no ratio at all: refused */
    row->disk_ratio = 0;
    assert_false(cohort_store_host_update(store, row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
}

/* Where a base came from, where it is on each host, and what uses it there. */
static void
test_store_bases(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortBaseRow) read = NULL;
    g_autoptr(GHashTable) on_host = NULL;
    Scene s = scene_new(store);
    CohortBaseRow row = {.volume = (gchar *)"tiny-base.qcow2",
                         .source = (gchar *)"/srv/images/tiny.qcow2",
                         .size_bytes = 1234,
                         .sha256 = (gchar *)"0123456789abcdef0123456789abcdef"
                                            "0123456789abcdef0123456789abcdef"};
    const gchar *const tiny[] = {"tiny", "tiny-lan", NULL};
    guint users = 99;

    read = cohort_store_base_get(store, "tiny-base.qcow2", &error);
    assert_null(read);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_true(cohort_store_base_set(store, &row, &error));
    cohort_assert_no_error(error);
    /* a new upload replaces what was recorded: a blank one has no file and no checksum */
    row.source = NULL;
    row.sha256 = NULL;
    row.size_bytes = 32 * 1024 * 1024;
    assert_true(cohort_store_base_set(store, &row, &error));
    read = cohort_store_base_get(store, "tiny-base.qcow2", &error);
    cohort_assert_no_error(error);
    assert_null(read->source);
    assert_null(read->sha256);
    assert_int_equal(read->size_bytes, 32 * 1024 * 1024);
    /* a checksum is 64 lowercase hex digits, nothing else */
    row.sha256 = (gchar *)"not-a-checksum";
    assert_false(cohort_store_base_set(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_true(cohort_store_host_base_set(store, s.host, "tiny-base.qcow2", "uploading", &error));
    assert_true(cohort_store_host_base_set(store, s.host, "tiny-base.qcow2", "present", &error));
    assert_false(cohort_store_host_base_set(store, s.host, "x.qcow2", "half", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    on_host = cohort_store_host_base_list(store, s.host, &error);
    cohort_assert_no_error(error);
    assert_int_equal(g_hash_table_size(on_host), 1);
    assert_string_equal(g_hash_table_lookup(on_host, "tiny-base.qcow2"), "present");

    add_machine(store, "m-a", s.cohort, s.sok, s.host, 1, "running", 1, 64);
    add_machine(store, "m-b", s.cohort, s.sok, s.host, 2, "reclaimed", 1, 64);
    assert_true(cohort_store_host_base_count_users(store, s.host, tiny, &users, &error));
    cohort_assert_no_error(error);
    /* add_machine's template is "tiny": the reclaimed machine does not count */
    assert_int_equal(users, 1);
    {
        const gchar *const small[] = {"small-linux", NULL};
        assert_true(cohort_store_host_base_count_users(store, s.host, small, &users, &error));
        assert_int_equal(users, 0);
    }
    assert_true(cohort_store_host_base_delete(store, s.host, "tiny-base.qcow2", &error));
    g_hash_table_unref(on_host);
    on_host = cohort_store_host_base_list(store, s.host, &error);
    assert_int_equal(g_hash_table_size(on_host), 0);
}

/* What a move left on a host that was down: recorded once, listed, removed. */
static void
test_store_leftovers(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) ids = NULL;
    Scene s = scene_new(store);
    gint64 lab2 = add_host(store, "lab2");
    gint64 m = add_machine(store, "m-moved", s.cohort, s.sok, lab2, 1, "running", 1, 64);

    assert_true(cohort_store_leftover_insert(store, m, s.host, &error));
    assert_true(cohort_store_leftover_insert(store, m, s.host, &error));
    cohort_assert_no_error(error);
    ids = cohort_store_leftover_list(store, s.host, &error);
    cohort_assert_no_error(error);
    assert_int_equal(ids->len, 1);
    assert_int_equal(g_array_index(ids, gint64, 0), m);
    g_array_unref(ids);
    ids = cohort_store_leftover_list(store, lab2, &error);
    assert_int_equal(ids->len, 0);
    g_array_unref(ids);
    assert_false(cohort_store_leftover_insert(store, m, lab2 + 100, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_true(cohort_store_leftover_delete(store, m, s.host, &error));
    ids = cohort_store_leftover_list(store, s.host, &error);
    assert_int_equal(ids->len, 0);
}

/* A job's errors may name a host, and its bytes are kept. */
static void
test_store_job_hosts_and_bytes(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    g_autoptr(CohortJobRow) read = NULL;
    CohortJobRow job = {.kind = (gchar *)"base", .target = (gchar *)"tiny", .total = 2};

    assert_true(cohort_store_job_insert(store, &job, &error));
    cohort_assert_no_error(error);
    job.bytes_total = 2048;
    job.bytes_done = 1024;
    job.done = 1;
    assert_true(cohort_store_job_update(store, &job, &error));
    assert_true(cohort_store_job_error_insert_host(store, job.id, "lab2", NULL, "host-unavailable",
                                                   "lost", &error));
    cohort_assert_no_error(error);
    read = cohort_store_job_get(store, job.id, &error);
    assert_int_equal(read->bytes_done, 1024);
    assert_int_equal(read->bytes_total, 2048);
    errors = cohort_store_job_error_list(store, job.id, &error);
    assert_int_equal(errors->len, 1);
    assert_string_equal(((CohortJobErrorRow *)g_ptr_array_index(errors, 0))->host, "lab2");
    assert_null(((CohortJobErrorRow *)g_ptr_array_index(errors, 0))->machine);
    g_free(job.state);
    g_free(job.created_at);
}

/* A host goes only when every machine placed there is reclaimed; those keep their rows. */
static void
test_store_host_delete(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) cohorts = NULL;
    g_autoptr(CohortMachineRow) kept = NULL;
    Scene s = scene_new(store);
    gint64 other = add_cohort(store, "cloud-102", s.trainer);
    gint64 failed;
    gint64 gone;
    guint living = 99;
    guint detached = 99;

    gone = add_machine(store, "m-reclaimed", s.cohort, s.sok, s.host, 1, "reclaimed", 1, 512);
    failed = add_machine(store, "m-failed", other, s.pov, s.host, 1, "failed", 1, 512);
    add_machine(store, "m-running", s.cohort, s.pov, s.host, 2, "running", 1, 512);
    assert_true(cohort_store_host_get_living(store, s.host, &living, &cohorts, &error));
    cohort_assert_no_error(error);
    assert_int_equal(living, 2);
    assert_int_equal(cohorts->len, 2);
    assert_string_equal(g_ptr_array_index(cohorts, 0), "cloud-101");
    assert_string_equal(g_ptr_array_index(cohorts, 1), "cloud-102");

    /* failed ones count too: they may have left something on the host */
    assert_false(cohort_store_host_delete(store, s.host, &detached, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "2 machines that are not reclaimed");
    g_clear_error(&error);
    assert_true(cohort_store_machine_set_state(store, failed, "reclaimed", NULL, &error));
    assert_true(cohort_store_machine_set_state(store, failed + 1, "reclaimed", NULL, &error));
    cohort_assert_no_error(error);

    assert_true(cohort_store_host_delete(store, s.host, &detached, &error));
    cohort_assert_no_error(error);
    assert_int_equal(detached, 3);
    assert_null(cohort_store_host_get_by_id(store, s.host, NULL));
    kept = cohort_store_machine_get_by_id(store, gone, &error);
    cohort_assert_no_error(error);
    assert_int_equal(kept->host_id, 0);
    assert_null(kept->host_name);
    /* the name may be used again, the id never */
    assert_true(add_host(store, "lab1") > s.host);

    assert_false(cohort_store_host_delete(store, s.host, &detached, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
}

/* ---- users and tokens ---- */

static void
test_store_user_roundtrip(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortUserRow) by_login = NULL;
    g_autoptr(CohortUserRow) by_id = NULL;
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) trainees = NULL;
    CohortUserRow row = {.login = (gchar *)"sok-dara",
                         .display_name = (gchar *)"Sok Dara",
                         .role = (gchar *)"trainee"};

    add_user(store, "zz-admin", "admin");
    assert_true(cohort_store_user_insert(store, &row, &error));
    cohort_assert_no_error(error);
    assert_true(row.id > 0);
    assert_non_null(row.created_at);
    add_user(store, "aa-trainer", "trainer");
    add_user(store, "mm-trainee", "trainee");

    by_login = cohort_store_user_get_by_login(store, "sok-dara", &error);
    cohort_assert_no_error(error);
    assert_int_equal(by_login->id, row.id);
    assert_string_equal(by_login->display_name, "Sok Dara");
    assert_string_equal(by_login->role, "trainee");
    assert_string_equal(by_login->created_at, row.created_at);
    by_id = cohort_store_user_get_by_id(store, row.id, &error);
    cohort_assert_no_error(error);
    assert_string_equal(by_id->login, "sok-dara");

    all = cohort_store_user_list(store, NULL, &error);
    cohort_assert_no_error(error);
    assert_int_equal(all->len, 4);
    assert_string_equal(((CohortUserRow *)all->pdata[0])->login, "aa-trainer");
    assert_string_equal(((CohortUserRow *)all->pdata[3])->login, "zz-admin");
    trainees = cohort_store_user_list(store, "trainee", &error);
    cohort_assert_no_error(error);
    assert_int_equal(trainees->len, 2);
    assert_string_equal(((CohortUserRow *)trainees->pdata[0])->login, "mm-trainee");
    assert_string_equal(((CohortUserRow *)trainees->pdata[1])->login, "sok-dara");

    g_free(row.created_at);
}

static void
test_store_user_errors(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    CohortUserRow dup = {.login = (gchar *)"sok-dara",
                         .display_name = (gchar *)"Other",
                         .role = (gchar *)"trainee",
                         .created_at = (gchar *)STARTS};
    CohortUserRow wizard = {.login = (gchar *)"merlin",
                            .display_name = (gchar *)"Merlin",
                            .role = (gchar *)"wizard",
                            .created_at = (gchar *)STARTS};
    CohortUserRow bad_time = {.login = (gchar *)"late",
                              .display_name = (gchar *)"Late",
                              .role = (gchar *)"admin",
                              .created_at = (gchar *)"yesterday"};

    add_user(store, "sok-dara", "trainee");
    assert_false(cohort_store_user_insert(store, &dup, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    assert_string_equal(error->message, "a user with login 'sok-dara' already exists");
    g_clear_error(&error);

    assert_false(cohort_store_user_insert(store, &wizard, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, "user 'merlin'");
    cohort_assert_contains(error->message, "role");
    g_clear_error(&error);
    assert_null(cohort_store_user_get_by_login(store, "merlin", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no user 'merlin'");
    g_clear_error(&error);

    assert_false(cohort_store_user_insert(store, &bad_time, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_null(cohort_store_user_get_by_id(store, 4242, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no user with id 4242");
}

/* Any UTF-8, and characters that mean something to SQL, HTML or XML, come back byte for byte. */
static void
test_store_user_display_name_bytes(void **state)
{
    CohortStore *store = *state;
    const gchar *names[] = {
        "ឈឹម សុភា (Chhim Sophea)",
        "O'Brien <\"&\">",
        "Nguyễn Thị Minh Khai",
        "'; DROP TABLE users; --",
        "emoji \xf0\x9f\x90\xa7 and tab\tand newline\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CohortUserRow) got = NULL;
        g_autofree gchar *login = g_strdup_printf("user-%u", i);
        CohortUserRow row = {.login = login,
                             .display_name = (gchar *)names[i],
                             .role = (gchar *)"trainee",
                             .created_at = (gchar *)STARTS};

        assert_true(g_utf8_validate(names[i], -1, NULL));
        assert_true(cohort_store_user_insert(store, &row, &error));
        cohort_assert_no_error(error);
        got = cohort_store_user_get_by_login(store, login, &error);
        cohort_assert_no_error(error);
        assert_int_equal(strlen(got->display_name), strlen(names[i]));
        assert_memory_equal(got->display_name, names[i], strlen(names[i]));
    }
}

static void
test_store_token(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *tok1 = sha256("token-one");
    g_autofree gchar *tok2 = sha256("token-two");
    g_autofree gchar *tok3 = sha256("token-of-another");
    g_autofree gchar *unknown = sha256("never-issued");
    gint64 sok = add_user(store, "sok-dara", "trainee");
    gint64 pov = add_user(store, "pov-bopha", "trainee");
    guint count = 99;

    assert_true(cohort_store_token_insert(store, sok, tok1, &error));
    assert_true(cohort_store_token_insert(store, sok, tok2, &error));
    assert_true(cohort_store_token_insert(store, pov, tok3, &error));
    cohort_assert_no_error(error);

    {
        g_autoptr(CohortUserRow) user = cohort_store_token_lookup(store, tok2, &error);
        cohort_assert_no_error(error);
        assert_int_equal(user->id, sok);
        assert_string_equal(user->login, "sok-dara");
    }
    assert_null(cohort_store_token_lookup(store, unknown, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    /* Found tokens are kept in memory (the store's token cache): a revocation rolled back
     * leaves them valid, one committed ends them at once, whether read before or not. */
    {
        g_autoptr(CohortUserRow) user = cohort_store_token_lookup(store, tok1, &error);
        cohort_assert_no_error(error);
        assert_string_equal(user->login, "sok-dara");
    }
    assert_true(cohort_store_begin(store, &error));
    assert_true(cohort_store_token_revoke_user(store, sok, &count, &error));
    assert_int_equal(count, 2);
    assert_null(cohort_store_token_lookup(store, tok1, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    cohort_store_rollback(store);
    {
        g_autoptr(CohortUserRow) user = cohort_store_token_lookup(store, tok1, &error);
        cohort_assert_no_error(error);
        assert_int_equal(user->id, sok);
    }

    assert_true(cohort_store_token_revoke_user(store, sok, &count, &error));
    cohort_assert_no_error(error);
    assert_int_equal(count, 2);
    assert_null(cohort_store_token_lookup(store, tok1, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_null(cohort_store_token_lookup(store, tok2, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    /* Someone else's token is untouched, and revoking again finds nothing. */
    {
        g_autoptr(CohortUserRow) user = cohort_store_token_lookup(store, tok3, &error);
        cohort_assert_no_error(error);
        assert_string_equal(user->login, "pov-bopha");
    }
    assert_true(cohort_store_token_revoke_user(store, sok, &count, &error));
    assert_int_equal(count, 0);
    assert_true(cohort_store_token_revoke_user(store, sok, NULL, &error));
    cohort_assert_no_error(error);
}

static void
test_store_token_errors(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *tok = sha256("token-one");
    g_autofree gchar *other = sha256("token-two");
    g_autofree gchar *upper = g_ascii_strup(other, -1);
    gint64 sok = add_user(store, "sok-dara", "trainee");

    assert_true(cohort_store_token_insert(store, sok, tok, &error));
    cohort_assert_no_error(error);
    assert_false(cohort_store_token_insert(store, sok, tok, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);

    assert_false(cohort_store_token_insert(store, sok + 100, other, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, "user");
    g_clear_error(&error);

    /* Only SHA-256 hex goes in: a token in clear, or hex of another shape, is refused. */
    assert_false(cohort_store_token_insert(store, sok, "token-in-clear", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_false(cohort_store_token_insert(store, sok, upper, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_null(cohort_store_token_lookup(store, other, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
}

/* ---- invitations ---- */

static void
test_store_invitation_once(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    g_autofree gchar *code = sha256("K7QX-92LM");
    g_autofree gchar *other = sha256("never-issued");
    gint64 user_id;

    assert_true(cohort_store_invitation_insert(store, s.sok, s.cohort, code, "2026-12-08T00:00:00Z",
                                               &error));
    cohort_assert_no_error(error);

    user_id = cohort_store_invitation_redeem(store, code, "2026-12-01T09:00:00Z", &error);
    cohort_assert_no_error(error);
    assert_int_equal(user_id, s.sok);

    user_id = cohort_store_invitation_redeem(store, code, "2026-12-01T09:00:01Z", &error);
    assert_int_equal(user_id, 0);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);

    user_id = cohort_store_invitation_redeem(store, other, "2026-12-01T09:00:00Z", &error);
    assert_int_equal(user_id, 0);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* The same code twice is a conflict; a code for a missing user a broken reference. */
    assert_false(cohort_store_invitation_insert(store, s.pov, s.cohort, code,
                                                "2026-12-08T00:00:00Z", &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    assert_false(cohort_store_invitation_insert(store, s.pov + 100, s.cohort, other,
                                                "2026-12-08T00:00:00Z", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    /* A code in clear is refused: only hashes are stored. */
    assert_false(cohort_store_invitation_insert(store, s.pov, s.cohort, "K7QX-92LM",
                                                "2026-12-08T00:00:00Z", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
}

static void
test_store_invitation_expired(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    g_autofree gchar *code = sha256("EXPIRING");
    gint64 user_id;

    assert_true(cohort_store_invitation_insert(store, s.pov, s.cohort, code, "2026-12-08T00:00:00Z",
                                               &error));
    /* At the expiry second it is already gone, and later too. */
    user_id = cohort_store_invitation_redeem(store, code, "2026-12-08T00:00:00Z", &error);
    assert_int_equal(user_id, 0);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    user_id = cohort_store_invitation_redeem(store, code, "2027-01-01T00:00:00Z", &error);
    assert_int_equal(user_id, 0);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    /* A time of another shape would compare wrongly as text: refused. */
    user_id = cohort_store_invitation_redeem(store, code, "2026-12-07", &error);
    assert_int_equal(user_id, 0);
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    /* The failed attempts did not use it up. */
    user_id = cohort_store_invitation_redeem(store, code, "2026-12-07T23:59:59Z", &error);
    cohort_assert_no_error(error);
    assert_int_equal(user_id, s.pov);
}

/* ---- cohorts and enrollments ---- */

static void
test_store_cohort_roundtrip(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortCohortRow) got = NULL;
    g_autoptr(CohortCohortRow) by_id = NULL;
    g_autoptr(CohortCohortRow) updated = NULL;
    gint64 trainer = add_user(store, "chan-trainer", "trainer");
    CohortCohortRow row;

    cohort_row_init(&row, "cloud-101", trainer);
    row.created_at = NULL;
    assert_true(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_no_error(error);
    assert_string_equal(row.state, "planned");
    assert_non_null(row.created_at);

    got = cohort_store_cohort_get_by_slug(store, "cloud-101", &error);
    cohort_assert_no_error(error);
    assert_int_equal(got->id, row.id);
    assert_string_equal(got->slug, "cloud-101");
    assert_string_equal(got->title, "Cloud basics");
    assert_string_equal(got->template_name, "tiny");
    assert_int_equal(got->trainer_id, trainer);
    assert_string_equal(got->trainer_login, "chan-trainer");
    assert_string_equal(got->starts_at, STARTS);
    assert_string_equal(got->ends_at, ENDS);
    assert_int_equal(got->grace_hours, 48);
    assert_int_equal(got->quota_machines, 2);
    assert_int_equal(got->quota_vcpus, 4);
    assert_int_equal(got->quota_memory_mib, 4096);
    /* no network given: the cohort's own, isolated */
    assert_string_equal(got->network, "isolated");
    assert_string_equal(got->state, "planned");
    assert_string_equal(got->created_at, row.created_at);

    g_free(got->title);
    got->title = g_strdup("Cloud basics, December");
    g_free(got->ends_at);
    got->ends_at = g_strdup("2026-12-20T12:00:00Z");
    got->grace_hours = 0;
    got->quota_machines = 3;
    got->quota_vcpus = 6;
    got->quota_memory_mib = 6144;
    g_free(got->state);
    got->state = g_strdup("active");
    assert_true(cohort_store_cohort_update(store, got, &error));
    cohort_assert_no_error(error);

    updated = cohort_store_cohort_get_by_id(store, row.id, &error);
    cohort_assert_no_error(error);
    assert_string_equal(updated->title, "Cloud basics, December");
    assert_string_equal(updated->ends_at, "2026-12-20T12:00:00Z");
    assert_int_equal(updated->grace_hours, 0);
    assert_int_equal(updated->quota_machines, 3);
    assert_int_equal(updated->quota_vcpus, 6);
    assert_int_equal(updated->quota_memory_mib, 6144);
    assert_string_equal(updated->state, "active");
    /* Fields the update does not write stay. */
    assert_string_equal(updated->starts_at, STARTS);
    assert_string_equal(updated->slug, "cloud-101");

    by_id = cohort_store_cohort_get_by_id(store, row.id, &error);
    assert_string_equal(by_id->trainer_login, "chan-trainer");

    g_free(row.state);
    g_free(row.created_at);
}

static void
test_store_cohort_list(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    gint64 chan = add_user(store, "chan-trainer", "trainer");
    gint64 keo = add_user(store, "keo-trainer", "trainer");
    gint64 sok = add_user(store, "sok-dara", "trainee");
    gint64 pov = add_user(store, "pov-bopha", "trainee");
    gint64 linux_c = add_cohort(store, "linux-201", chan);
    gint64 cloud = add_cohort(store, "cloud-101", chan);
    gint64 net = add_cohort(store, "net-301", keo);

    assert_true(cohort_store_enrollment_insert(store, cloud, sok, &error));
    assert_true(cohort_store_enrollment_insert(store, net, sok, &error));
    /* Someone else's enrollment must not show up in sok's list. */
    assert_true(cohort_store_enrollment_insert(store, linux_c, pov, &error));
    cohort_assert_no_error(error);

    {
        g_autoptr(GPtrArray) all = cohort_store_cohort_list(store, 0, 0, &error);
        cohort_assert_no_error(error);
        assert_int_equal(all->len, 3);
        assert_string_equal(((CohortCohortRow *)all->pdata[0])->slug, "cloud-101");
        assert_string_equal(((CohortCohortRow *)all->pdata[1])->slug, "linux-201");
        assert_string_equal(((CohortCohortRow *)all->pdata[2])->slug, "net-301");
        assert_string_equal(((CohortCohortRow *)all->pdata[2])->trainer_login, "keo-trainer");
    }
    {
        g_autoptr(GPtrArray) mine = cohort_store_cohort_list(store, chan, 0, &error);
        cohort_assert_no_error(error);
        assert_int_equal(mine->len, 2);
        assert_string_equal(((CohortCohortRow *)mine->pdata[0])->slug, "cloud-101");
        assert_string_equal(((CohortCohortRow *)mine->pdata[1])->slug, "linux-201");
        assert_int_equal(((CohortCohortRow *)mine->pdata[1])->id, linux_c);
    }
    {
        g_autoptr(GPtrArray) enrolled = cohort_store_cohort_list(store, 0, sok, &error);
        cohort_assert_no_error(error);
        assert_int_equal(enrolled->len, 2);
        assert_string_equal(((CohortCohortRow *)enrolled->pdata[0])->slug, "cloud-101");
        assert_string_equal(((CohortCohortRow *)enrolled->pdata[1])->slug, "net-301");
    }
    {
        g_autoptr(GPtrArray) both = cohort_store_cohort_list(store, keo, sok, &error);
        cohort_assert_no_error(error);
        assert_int_equal(both->len, 1);
        assert_string_equal(((CohortCohortRow *)both->pdata[0])->slug, "net-301");
    }
}

static void
test_store_cohort_errors(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    gint64 trainer = add_user(store, "chan-trainer", "trainer");
    gint64 id = add_cohort(store, "cloud-101", trainer);
    CohortCohortRow row;

    cohort_row_init(&row, "cloud-101", trainer);
    assert_false(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    assert_string_equal(error->message, "a cohort with slug 'cloud-101' already exists");
    g_clear_error(&error);

    cohort_row_init(&row, "ghost-1", trainer + 100);
    assert_false(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, "cohort 'ghost-1'");
    cohort_assert_contains(error->message, "trainer");
    g_clear_error(&error);

    /* A -1 that wrapped around, and a zero quota. */
    cohort_row_init(&row, "neg-1", trainer);
    row.quota_vcpus = (guint)-1;
    assert_false(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    cohort_row_init(&row, "neg-2", trainer);
    row.quota_memory_mib = (guint64)-512;
    assert_false(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    cohort_row_init(&row, "zero-1", trainer);
    row.quota_machines = 0;
    assert_false(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    cohort_row_init(&row, "bad-state", trainer);
    row.state = (gchar *)"finished";
    assert_false(cohort_store_cohort_insert(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_null(cohort_store_cohort_get_by_slug(store, "cloud-999", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no cohort 'cloud-999'");
    g_clear_error(&error);
    assert_null(cohort_store_cohort_get_by_id(store, id + 100, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);

    cohort_row_init(&row, "cloud-999", trainer);
    row.id = id + 100;
    row.state = (gchar *)"active";
    assert_false(cohort_store_cohort_update(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no cohort 'cloud-999'");
    g_clear_error(&error);
    row.id = id;
    row.state = (gchar *)"exploded";
    assert_false(cohort_store_cohort_update(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    row.state = (gchar *)"active";
    row.quota_vcpus = (guint)-2;
    assert_false(cohort_store_cohort_update(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
}

/* A slug that looks like SQL is only ever data. */
static void
test_store_cohort_injection_slug(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortCohortRow) got = NULL;
    g_autoptr(GPtrArray) all = NULL;
    const gchar *slug = "x'); DROP TABLE cohorts; --";
    gint64 trainer = add_user(store, "chan-trainer", "trainer");

    add_cohort(store, "cloud-101", trainer);
    add_cohort(store, slug, trainer);
    got = cohort_store_cohort_get_by_slug(store, slug, &error);
    cohort_assert_no_error(error);
    assert_string_equal(got->slug, slug);
    all = cohort_store_cohort_list(store, 0, 0, &error);
    cohort_assert_no_error(error);
    assert_int_equal(all->len, 2);
    assert_null(cohort_store_cohort_get_by_slug(store, "x' OR '1'='1", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
}

static void
test_store_enrollment(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) trainees = NULL;
    Scene s = scene_new(store);
    gint64 other = add_cohort(store, "linux-201", s.trainer);

    assert_false(cohort_store_enrollment_exists(store, s.cohort, s.sok));
    assert_true(cohort_store_enrollment_insert(store, s.cohort, s.sok, &error));
    assert_true(cohort_store_enrollment_insert(store, s.cohort, s.pov, &error));
    /* Again: not an error, and no second row. */
    assert_true(cohort_store_enrollment_insert(store, s.cohort, s.sok, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_store_enrollment_exists(store, s.cohort, s.sok));
    assert_false(cohort_store_enrollment_exists(store, other, s.sok));

    trainees = cohort_store_enrollment_list(store, s.cohort, &error);
    cohort_assert_no_error(error);
    assert_int_equal(trainees->len, 2);
    assert_string_equal(((CohortUserRow *)trainees->pdata[0])->login, "pov-bopha");
    assert_string_equal(((CohortUserRow *)trainees->pdata[1])->login, "sok-dara");
    assert_string_equal(((CohortUserRow *)trainees->pdata[1])->role, "trainee");

    assert_false(cohort_store_enrollment_insert(store, s.cohort + 100, s.sok, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_false(cohort_store_enrollment_insert(store, s.cohort, s.sok + 100, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
}

/* ---- machines ---- */

static void
test_store_machine_roundtrip(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    CohortMachineRow row;

    machine_row_init(&row, "cohort-cloud-101-sok-dara", s.cohort, s.sok, 0, 1, NULL, 2, 2048);
    row.uuid = (gchar *)"6f1c2b4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f";
    row.expires_at = (gchar *)ENDS;
    assert_true(cohort_store_machine_insert(store, &row, "s3cret-vnc", &error));
    cohort_assert_no_error(error);
    assert_true(row.id > 0);
    assert_string_equal(row.state, "requested");

    {
        g_autoptr(CohortMachineRow) got = cohort_store_machine_get_by_id(store, row.id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(got->name, "cohort-cloud-101-sok-dara");
        assert_int_equal(got->cohort_id, s.cohort);
        assert_string_equal(got->cohort_slug, "cloud-101");
        assert_int_equal(got->user_id, s.sok);
        assert_string_equal(got->trainee_login, "sok-dara");
        assert_int_equal(got->host_id, 0);
        assert_null(got->host_name);
        assert_string_equal(got->template_name, "tiny");
        assert_int_equal(got->idx, 1);
        assert_string_equal(got->state, "requested");
        assert_int_equal(got->vcpus, 2);
        assert_int_equal(got->memory_mib, 2048);
        assert_string_equal(got->uuid, "6f1c2b4e-1d2a-4c3b-9e8f-0a1b2c3d4e5f");
        assert_string_equal(got->created_at, STARTS);
        assert_string_equal(got->expires_at, ENDS);
        assert_null(got->error);
    }

    assert_true(cohort_store_machine_set_host(store, row.id, s.host, &error));
    assert_true(cohort_store_machine_set_state(store, row.id, "failed", "no space left", &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(CohortMachineRow) got =
            cohort_store_machine_get_by_name(store, "cohort-cloud-101-sok-dara", &error);
        cohort_assert_no_error(error);
        assert_int_equal(got->id, row.id);
        assert_int_equal(got->host_id, s.host);
        assert_string_equal(got->host_name, "lab1");
        assert_string_equal(got->state, "failed");
        assert_string_equal(got->error, "no space left");
    }

    assert_true(cohort_store_machine_set_state(store, row.id, "running", NULL, &error));
    assert_true(cohort_store_machine_set_host(store, row.id, 0, &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(CohortMachineRow) got = cohort_store_machine_get_by_id(store, row.id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(got->state, "running");
        assert_null(got->error);
        assert_int_equal(got->host_id, 0);
        assert_null(got->host_name);
    }
    g_free(row.state);
}

static void
test_store_machine_list(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 keo = add_user(store, "keo-trainer", "trainer");
    gint64 net = add_cohort(store, "net-301", keo);
    gint64 m1 = add_machine(store, "c-sok-1", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    gint64 m2 = add_machine(store, "c-sok-2", s.cohort, s.sok, s.host, 2, "reclaimed", 1, 1024);
    gint64 m3 = add_machine(store, "c-pov-1", s.cohort, s.pov, 0, 1, "requested", 1, 1024);
    gint64 m4 = add_machine(store, "n-sok-1", net, s.sok, s.host, 1, "stopped", 1, 1024);

    {
        g_autoptr(GPtrArray) all = cohort_store_machine_list(store, 0, 0, 0, TRUE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(all->len, 4);
        assert_int_equal(((CohortMachineRow *)all->pdata[0])->id, m1);
        assert_int_equal(((CohortMachineRow *)all->pdata[3])->id, m4);
    }
    {
        g_autoptr(GPtrArray) live = cohort_store_machine_list(store, 0, 0, 0, FALSE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(live->len, 3);
        for (guint i = 0; i < live->len; i++)
            assert_int_not_equal(((CohortMachineRow *)live->pdata[i])->id, m2);
    }
    {
        g_autoptr(GPtrArray) cohort =
            cohort_store_machine_list(store, s.cohort, 0, 0, TRUE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(cohort->len, 3);
        assert_int_equal(((CohortMachineRow *)cohort->pdata[2])->id, m3);
        assert_string_equal(((CohortMachineRow *)cohort->pdata[2])->trainee_login, "pov-bopha");
    }
    {
        g_autoptr(GPtrArray) sok = cohort_store_machine_list(store, 0, s.sok, 0, FALSE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(sok->len, 2);
        assert_int_equal(((CohortMachineRow *)sok->pdata[0])->id, m1);
        assert_int_equal(((CohortMachineRow *)sok->pdata[1])->id, m4);
        assert_string_equal(((CohortMachineRow *)sok->pdata[1])->cohort_slug, "net-301");
    }
    {
        g_autoptr(GPtrArray) keos = cohort_store_machine_list(store, 0, 0, keo, TRUE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(keos->len, 1);
        assert_int_equal(((CohortMachineRow *)keos->pdata[0])->id, m4);
    }
    {
        g_autoptr(GPtrArray) none = cohort_store_machine_list(store, net, s.pov, 0, TRUE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(none->len, 0);
    }
}

/* The only row of @user's live machines (in @cohort, 0: all), as the store answers now. */
static CohortMachineRow *
kept_list_one(CohortStore *store, gint64 cohort, gint64 user, guint len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) rows = cohort_store_machine_list(store, cohort, user, 0, FALSE, &error);

    cohort_assert_no_error(error);
    assert_non_null(rows);
    assert_int_equal(rows->len, len);
    return len > 0 ? g_ptr_array_steal_index(rows, 0) : NULL;
}

/* A trainee's own list is kept between requests: every change to what it shows (its machines,
 * and the cohort, user and host its rows name), a rollback and a rolled back savepoint drop
 * it; a caller changing its rows changes no one else's. */
static void
test_store_machine_list_kept(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 m1 = add_machine(store, "c-sok-1", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    g_autoptr(CohortMachineRow) row = kept_list_one(store, 0, s.sok, 1);
    CohortMachineRow *again;

    assert_int_equal(row->id, m1);
    g_free(row->state);
    row->state = g_strdup("changed by its caller");
    again = kept_list_one(store, 0, s.sok, 1);
    assert_string_equal(again->state, "running");
    cohort_machine_row_free(again);
    again = kept_list_one(store, s.cohort, s.sok, 1);
    assert_string_equal(again->state, "running");
    cohort_machine_row_free(again);

    /* the shared rows: the kept ones themselves, the same from call to call, and held by the
     * caller through a change that drops them from the store */
    {
        g_autoptr(GPtrArray) shared = cohort_store_machine_list_shared(store, 0, s.sok, &error);
        g_autoptr(GPtrArray) again_shared =
            cohort_store_machine_list_shared(store, 0, s.sok, &error);
        cohort_assert_no_error(error);
        assert_ptr_equal(shared, again_shared);
        assert_int_equal(shared->len, 1);
        assert_string_equal(((CohortMachineRow *)shared->pdata[0])->state, "running");
        assert_true(cohort_store_machine_set_state(store, m1, "starting", NULL, &error));
        cohort_assert_no_error(error);
        assert_string_equal(((CohortMachineRow *)shared->pdata[0])->state, "running");
        g_ptr_array_unref(again_shared);
        again_shared = cohort_store_machine_list_shared(store, 0, s.sok, &error);
        assert_ptr_not_equal(shared, again_shared);
        assert_string_equal(((CohortMachineRow *)again_shared->pdata[0])->state, "starting");
    }

    /* the machine's own row */
    assert_true(cohort_store_machine_set_state(store, m1, "stopped", NULL, &error));
    cohort_assert_no_error(error);
    again = kept_list_one(store, 0, s.sok, 1);
    assert_string_equal(again->state, "stopped");
    cohort_machine_row_free(again);
    again = kept_list_one(store, s.cohort, s.sok, 1);
    assert_string_equal(again->state, "stopped");
    cohort_machine_row_free(again);
    assert_null(kept_list_one(store, 0, s.pov, 0));
    add_machine(store, "c-sok-2", s.cohort, s.sok, s.host, 2, "requested", 1, 1024);
    add_machine(store, "c-pov-1", s.cohort, s.pov, s.host, 1, "requested", 1, 1024);
    cohort_machine_row_free(kept_list_one(store, 0, s.pov, 1));
    {
        g_autoptr(GPtrArray) rows = cohort_store_machine_list(store, 0, s.sok, 0, FALSE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(rows->len, 2);
    }

    /* the rows the list joins */
    assert_true(cohort_store_exec(store, "UPDATE hosts SET name = 'lab9'", "renaming", &error));
    assert_true(cohort_store_exec(
        store, "UPDATE users SET login = 'sok-d' WHERE login = 'sok-dara'", "renaming", &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(GPtrArray) rows = cohort_store_machine_list(store, 0, s.sok, 0, FALSE, &error);
        cohort_assert_no_error(error);
        assert_string_equal(((CohortMachineRow *)rows->pdata[0])->host_name, "lab9");
        assert_string_equal(((CohortMachineRow *)rows->pdata[0])->trainee_login, "sok-d");
    }
    assert_true(
        cohort_store_exec(store, "UPDATE cohorts SET slug = 'cloud-102'", "renaming", &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(GPtrArray) rows = cohort_store_machine_list(store, 0, s.sok, 0, FALSE, &error);
        cohort_assert_no_error(error);
        assert_string_equal(((CohortMachineRow *)rows->pdata[0])->cohort_slug, "cloud-102");
    }

    /* what a transaction read, rolled back: a whole one, and a savepoint inside one */
    assert_true(cohort_store_begin(store, &error));
    assert_true(cohort_store_machine_set_state(store, m1, "running", NULL, &error));
    cohort_assert_no_error(error);
    again = kept_list_one(store, s.cohort, s.sok, 2);
    assert_string_equal(again->state, "running");
    cohort_machine_row_free(again);
    cohort_store_rollback(store);
    again = kept_list_one(store, s.cohort, s.sok, 2);
    assert_string_equal(again->state, "stopped");
    cohort_machine_row_free(again);
    assert_true(cohort_store_begin(store, &error));
    assert_true(cohort_store_begin(store, &error));
    assert_true(cohort_store_machine_set_state(store, m1, "running", NULL, &error));
    cohort_assert_no_error(error);
    again = kept_list_one(store, s.cohort, s.sok, 2);
    assert_string_equal(again->state, "running");
    cohort_machine_row_free(again);
    cohort_store_rollback(store);
    again = kept_list_one(store, s.cohort, s.sok, 2);
    assert_string_equal(again->state, "stopped");
    cohort_machine_row_free(again);
    assert_true(cohort_store_commit(store, &error));
    cohort_assert_no_error(error);
}

static void
test_store_machine_errors(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 id = add_machine(store, "c-sok-1", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    CohortMachineRow row;

    machine_row_init(&row, "c-sok-1", s.cohort, s.sok, s.host, 2, "running", 1, 1024);
    assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    assert_string_equal(error->message, "a machine named 'c-sok-1' already exists");
    g_clear_error(&error);

    machine_row_init(&row, "c-sok-1-again", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "machine number 1");
    g_clear_error(&error);

    machine_row_init(&row, "ghost-1", s.cohort + 100, s.sok, s.host, 1, "running", 1, 1024);
    assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, "machine 'ghost-1'");
    g_clear_error(&error);
    machine_row_init(&row, "ghost-2", s.cohort, s.sok, s.host + 100, 9, "running", 1, 1024);
    assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    machine_row_init(&row, "bad-state", s.cohort, s.sok, s.host, 9, "melted", 1, 1024);
    assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    machine_row_init(&row, "bad-vcpus", s.cohort, s.sok, s.host, 9, "running", (guint)-1, 1024);
    assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_false(cohort_store_machine_set_host(store, id, s.host + 100, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_false(cohort_store_machine_set_state(store, id, "melted", NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_null(cohort_store_machine_get_by_id(store, id + 100, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_null(cohort_store_machine_get_by_name(store, "c-sok-9", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no machine 'c-sok-9'");
    g_clear_error(&error);
    assert_false(cohort_store_machine_set_state(store, id + 100, "running", NULL, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_false(cohort_store_machine_set_host(store, id + 100, s.host, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* The failed inserts left nothing behind. */
    {
        g_autoptr(GPtrArray) all = cohort_store_machine_list(store, 0, 0, 0, TRUE, &error);
        cohort_assert_no_error(error);
        assert_int_equal(all->len, 1);
    }
}

static void
test_store_machine_holdings(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 other = add_cohort(store, "linux-201", s.trainer);
    guint machines = 99, vcpus = 99;
    guint64 memory = 99;

    assert_true(cohort_store_machine_get_holdings(store, s.cohort, s.sok, &machines, &vcpus,
                                                  &memory, &error));
    cohort_assert_no_error(error);
    assert_int_equal(machines, 0);
    assert_int_equal(vcpus, 0);
    assert_int_equal(memory, 0);

    add_machine(store, "a", s.cohort, s.sok, s.host, 1, "running", 2, 2048);
    add_machine(store, "b", s.cohort, s.sok, 0, 2, "requested", 1, 1024);
    add_machine(store, "c", s.cohort, s.sok, s.host, 3, "reclaiming", 1, 512);
    add_machine(store, "d", s.cohort, s.sok, s.host, 4, "reclaimed", 4, 4096);
    add_machine(store, "e", s.cohort, s.sok, s.host, 5, "failed", 8, 8192);
    add_machine(store, "f", s.cohort, s.pov, s.host, 1, "running", 16, 16384);
    add_machine(store, "g", other, s.sok, s.host, 1, "running", 32, 32768);

    assert_true(cohort_store_machine_get_holdings(store, s.cohort, s.sok, &machines, &vcpus,
                                                  &memory, &error));
    cohort_assert_no_error(error);
    assert_int_equal(machines, 3);
    assert_int_equal(vcpus, 4);
    assert_int_equal(memory, 3584);
    /* Out-parameters may be NULL. */
    assert_true(
        cohort_store_machine_get_holdings(store, other, s.sok, &machines, NULL, NULL, &error));
    assert_int_equal(machines, 1);
}

/* Usage's one query per cohort agrees with the per-trainee one, and keeps cohorts apart. */
static void
test_store_running_hours_by_user(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 other = add_cohort(store, "linux-202", s.trainer);
    gint64 a = add_machine(store, "a", s.cohort, s.sok, s.host, 1, "running", 2, 2048);
    gint64 f = add_machine(store, "f", s.cohort, s.pov, s.host, 1, "running", 1, 1024);
    gint64 g = add_machine(store, "g", other, s.sok, s.host, 1, "running", 1, 1024);
    g_autoptr(GHashTable) hours = NULL;
    gdouble total = -1;
    gdouble *sok_hours;
    gdouble *pov_hours;

    assert_true(cohort_store_machine_run_begin(store, a, &error));
    assert_true(cohort_store_machine_run_end(store, a, &error));
    assert_true(cohort_store_machine_run_begin(store, f, &error));
    assert_true(cohort_store_machine_run_begin(store, g, &error));
    cohort_assert_no_error(error);
    hours = cohort_store_machine_get_running_hours_by_user(store, s.cohort, &total, &error);
    cohort_assert_no_error(error);
    assert_int_equal(g_hash_table_size(hours), 2);
    sok_hours = g_hash_table_lookup(hours, &s.sok);
    pov_hours = g_hash_table_lookup(hours, &s.pov);
    assert_non_null(sok_hours);
    assert_non_null(pov_hours);
    assert_true(*sok_hours >= 0 && *pov_hours >= 0);
    assert_true(ABS(*sok_hours -
                    cohort_store_machine_get_running_hours(store, s.cohort, s.sok, NULL)) < 1e-3);
    assert_true(ABS(total - (*sok_hours + *pov_hours)) < 1e-9);
    {
        g_autoptr(GHashTable) none = cohort_store_machine_get_running_hours_by_user(
            store, add_cohort(store, "linux-203", s.trainer), &total, &error);
        cohort_assert_no_error(error);
        assert_int_equal(g_hash_table_size(none), 0);
        assert_true(total == 0);
    }
}

static void
test_store_machine_next_idx(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    Scene s = scene_new(store);
    gint64 other = add_cohort(store, "linux-201", s.trainer);
    gint64 m2;

    assert_int_equal(cohort_store_machine_next_idx(store, s.cohort, s.sok, &error), 1);
    cohort_assert_no_error(error);
    add_machine(store, "sok-1", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    m2 = add_machine(store, "sok-2", s.cohort, s.sok, s.host, 2, "running", 1, 1024);
    assert_int_equal(cohort_store_machine_next_idx(store, s.cohort, s.sok, &error), 3);

    /* Reclaimed and failed rows still hold their number. */
    assert_true(cohort_store_machine_set_state(store, m2, "reclaimed", NULL, &error));
    assert_int_equal(cohort_store_machine_next_idx(store, s.cohort, s.sok, &error), 3);
    add_machine(store, "sok-3", s.cohort, s.sok, s.host, 3, "failed", 1, 1024);
    assert_int_equal(cohort_store_machine_next_idx(store, s.cohort, s.sok, &error), 4);
    cohort_assert_no_error(error);

    assert_int_equal(cohort_store_machine_next_idx(store, s.cohort, s.pov, &error), 1);
    assert_int_equal(cohort_store_machine_next_idx(store, other, s.sok, &error), 1);
    cohort_assert_no_error(error);
}

static void
test_store_machine_count_by_state(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) counts = NULL;
    Scene s = scene_new(store);

    add_machine(store, "a", s.cohort, s.sok, s.host, 1, "running", 1, 1024);
    add_machine(store, "b", s.cohort, s.sok, s.host, 2, "running", 1, 1024);
    add_machine(store, "c", s.cohort, s.pov, s.host, 1, "running", 1, 1024);
    add_machine(store, "d", s.cohort, s.pov, s.host, 2, "failed", 1, 1024);
    add_machine(store, "e", s.cohort, s.pov, s.host, 3, "reclaimed", 1, 1024);
    add_machine(store, "f", s.cohort, s.pov, s.host, 4, "stopped", 1, 1024);
    add_machine(store, "g", s.cohort, s.pov, s.host, 5, "stopping", 1, 1024);

    counts = cohort_store_machine_count_by_state(store, &error);
    cohort_assert_no_error(error);
    /* every state but reclaimed, the transitional ones too */
    assert_int_equal(g_hash_table_size(counts), 11);
    assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(counts, "stopping")), 1);
    assert_true(g_hash_table_contains(counts, "resetting"));
    assert_true(g_hash_table_contains(counts, "moving"));
    assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(counts, "running")), 3);
    assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(counts, "failed")), 1);
    assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(counts, "stopped")), 1);
    assert_true(g_hash_table_contains(counts, "requested"));
    assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(counts, "requested")), 0);
    assert_false(g_hash_table_contains(counts, "reclaimed"));
}

/* ---- jobs ---- */

static void
test_store_job(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    gint64 trainer = add_user(store, "chan-trainer", "trainer");
    CohortJobRow row = {.kind = (gchar *)"provision",
                        .user_id = trainer,
                        .target = (gchar *)"cloud-101",
                        .total = 5};
    CohortJobRow system = {.kind = (gchar *)"reclaim", .target = (gchar *)"cloud-100"};

    assert_true(cohort_store_job_insert(store, &row, &error));
    cohort_assert_no_error(error);
    assert_string_equal(row.state, "queued");
    assert_true(cohort_store_job_insert(store, &system, &error));
    cohort_assert_no_error(error);
    assert_true(system.id > row.id);

    {
        g_autoptr(CohortJobRow) got = cohort_store_job_get(store, row.id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(got->kind, "provision");
        assert_int_equal(got->user_id, trainer);
        assert_string_equal(got->target, "cloud-101");
        assert_string_equal(got->state, "queued");
        assert_int_equal(got->total, 5);
        assert_int_equal(got->done, 0);
        assert_int_equal(got->failed, 0);
        assert_string_equal(got->created_at, row.created_at);
        assert_null(got->finished_at);

        g_free(got->state);
        got->state = g_strdup("running");
        got->done = 2;
        got->failed = 1;
        assert_true(cohort_store_job_update(store, got, &error));
        cohort_assert_no_error(error);
    }
    {
        g_autoptr(CohortJobRow) got = cohort_store_job_get(store, row.id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(got->state, "running");
        assert_int_equal(got->done, 2);
        assert_int_equal(got->failed, 1);

        g_free(got->state);
        got->state = g_strdup("done");
        got->done = 4;
        got->finished_at = g_strdup(ENDS);
        assert_true(cohort_store_job_update(store, got, &error));
        cohort_assert_no_error(error);
        /* More done than there are items is a bug the store refuses. */
        got->done = 5;
        assert_false(cohort_store_job_update(store, got, &error));
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    {
        g_autoptr(CohortJobRow) got = cohort_store_job_get(store, row.id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(got->state, "done");
        assert_int_equal(got->done, 4);
        assert_string_equal(got->finished_at, ENDS);
    }
    {
        g_autoptr(CohortJobRow) got = cohort_store_job_get(store, system.id, &error);
        cohort_assert_no_error(error);
        assert_int_equal(got->user_id, 0);
    }

    assert_true(cohort_store_job_error_insert(store, row.id, "c-sok-1", "no-capacity",
                                              "no host has 2 vCPUs free", &error));
    assert_true(
        cohort_store_job_error_insert(store, system.id, "c-x-1", "internal", "other job", &error));
    assert_true(cohort_store_job_error_insert(store, row.id, "c-pov-1", "libvirt-error",
                                              "domain define failed", &error));
    assert_true(cohort_store_job_error_insert(store, row.id, "c-ly-1", "host-unavailable",
                                              "lab1 is down", &error));
    cohort_assert_no_error(error);
    errors = cohort_store_job_error_list(store, row.id, &error);
    cohort_assert_no_error(error);
    assert_int_equal(errors->len, 3);
    assert_string_equal(((CohortJobErrorRow *)errors->pdata[0])->machine, "c-sok-1");
    assert_string_equal(((CohortJobErrorRow *)errors->pdata[0])->code, "no-capacity");
    assert_string_equal(((CohortJobErrorRow *)errors->pdata[0])->message,
                        "no host has 2 vCPUs free");
    assert_string_equal(((CohortJobErrorRow *)errors->pdata[1])->machine, "c-pov-1");
    assert_string_equal(((CohortJobErrorRow *)errors->pdata[2])->machine, "c-ly-1");
    assert_string_equal(((CohortJobErrorRow *)errors->pdata[2])->code, "host-unavailable");

    /* what a reclaim freed adds up; a failed machine's leftover disk counts, not the machine */
    {
        guint machines = 99, vcpus = 99, networks = 99;
        guint64 memory_mib = 99, disk_bytes = 99;

        assert_true(cohort_store_job_add_freed(store, system.id, 1, 2, 2048, 204800, &error));
        assert_true(cohort_store_job_add_freed(store, system.id, 1, 1, 1024, 196608, &error));
        assert_true(cohort_store_job_add_freed(store, system.id, 0, 0, 0, 4096, &error));
        cohort_assert_no_error(error);
        assert_true(cohort_store_job_add_freed_networks(store, system.id, 2, &error));
        cohort_assert_no_error(error);
        assert_true(cohort_store_job_get_freed(store, system.id, &machines, &vcpus, &memory_mib,
                                               &disk_bytes, &networks, &error));
        cohort_assert_no_error(error);
        assert_int_equal(machines, 2);
        assert_int_equal(vcpus, 3);
        assert_int_equal(memory_mib, 3072);
        assert_int_equal(disk_bytes, 204800 + 196608 + 4096);
        assert_int_equal(networks, 2);
        assert_false(cohort_store_job_add_freed(store, 424242, 1, 1, 1, 1, &error));
        cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
        g_clear_error(&error);
    }

    g_free(row.state);
    g_free(row.created_at);
    g_free(system.state);
    g_free(system.created_at);
}

/* A job's machines: recorded with it, each outcome counted once, what is left listed. */
static void
test_store_job_machines(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) pending = NULL;
    g_autoptr(GPtrArray) unfinished = NULL;
    Scene s = scene_new(store);
    gint64 a = add_machine(store, "a", s.cohort, s.sok, s.host, 1, "provisioning", 1, 1024);
    gint64 b = add_machine(store, "b", s.cohort, s.pov, s.host, 1, "provisioning", 1, 1024);
    CohortJobRow job = {.kind = (gchar *)"provision", .target = (gchar *)"cloud-101", .total = 2};
    CohortJobRow done = {.kind = (gchar *)"reclaim",
                         .target = (gchar *)"cloud-101",
                         .state = (gchar *)"done",
                         .total = 0};
    gboolean counted = FALSE;
    guint recorded = 0;

    assert_true(cohort_store_job_insert(store, &job, &error));
    assert_true(cohort_store_job_insert(store, &done, &error));
    assert_true(cohort_store_job_machine_insert(store, job.id, a, TRUE, &error));
    assert_true(cohort_store_job_machine_insert(store, job.id, b, FALSE, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_store_job_machine_get_held(store, job.id, a));
    assert_false(cohort_store_job_machine_get_held(store, job.id, b));
    /* not the job's: as if it held, the way reclaims counted before jobs recorded it */
    assert_true(cohort_store_job_machine_get_held(store, done.id, b));
    /* once per job */
    assert_false(cohort_store_job_machine_insert(store, job.id, a, TRUE, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    assert_false(cohort_store_job_machine_insert(store, job.id, 424242, TRUE, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    assert_int_equal(cohort_store_job_machine_find_unfinished(store, a, "provision"), job.id);
    assert_int_equal(cohort_store_job_machine_find_unfinished(store, a, "reclaim"), 0);
    assert_int_equal(cohort_store_job_find_unfinished(store, "provision", "cloud-101"), job.id);
    /* a finished job waits for nothing */
    assert_int_equal(cohort_store_job_find_unfinished(store, "reclaim", "cloud-101"), 0);

    assert_true(cohort_store_job_machine_settle(store, job.id, a, FALSE, &counted, &error));
    cohort_assert_no_error(error);
    assert_true(counted);
    /* again (a restart finishing the machine once more): not counted twice */
    assert_true(cohort_store_job_machine_settle(store, job.id, a, TRUE, &counted, &error));
    assert_false(counted);
    /* not the job's */
    assert_true(cohort_store_job_machine_settle(store, done.id, b, FALSE, &counted, &error));
    assert_false(counted);
    cohort_assert_no_error(error);
    assert_int_equal(cohort_store_job_machine_find_unfinished(store, a, "provision"), 0);

    pending = cohort_store_job_machine_list_pending(store, job.id, &recorded, &error);
    cohort_assert_no_error(error);
    assert_int_equal(recorded, 2);
    assert_int_equal(pending->len, 1);
    assert_int_equal(g_array_index(pending, gint64, 0), b);
    unfinished = cohort_store_job_list_unfinished(store, &error);
    cohort_assert_no_error(error);
    assert_int_equal(unfinished->len, 1);
    assert_int_equal(((CohortJobRow *)unfinished->pdata[0])->id, job.id);

    g_free(job.state);
    g_free(job.created_at);
    g_free(done.created_at);
}

/* A database an older cohortd wrote (schema 5) takes the machines' new states and keeps its
 * rows, and the rows that refer to them, through the table's remaking (after the step that
 * seals the VNC passwords). */
static void
test_store_migration_keeps_machines(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    g_autofree gchar *path = g_build_filename(dir, "cohort.db", NULL);

    cohort_assert_no_error(error);
    {
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(CohortSecretKey) key = cohort_secret_key_new_random(NULL);
        assert_int_equal(
            sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
            SQLITE_OK);
        assert_true(cohort_store_migrations_apply_upto(db, path, key, 5, &error));
        cohort_assert_no_error(error);
        assert_int_equal(
            sqlite3_exec(
                db,
                "INSERT INTO users VALUES (1, 'chan', 'Chan', 'trainer', '2026-01-01T00:00:00Z');"
                "INSERT INTO users VALUES (2, 'sok', 'Sok', 'trainee', '2026-01-01T00:00:00Z');"
                "INSERT INTO hosts VALUES (1, 'lab', 'test:///default', 'default', 4, 4096, 1.0,"
                " 1.0, 'up', '2026-01-01T00:00:00Z');"
                "INSERT INTO cohorts (id, slug, title, template_name, trainer_id, starts_at,"
                " ends_at, grace_hours, quota_machines, quota_vcpus, quota_memory_mib, state,"
                " created_at) VALUES (1, 'c', 'C', 'tiny', 1, '2026-01-01T00:00:00Z',"
                " '2026-02-01T00:00:00Z', 0, 1, 1, 64, 'active', '2026-01-01T00:00:00Z');"
                "INSERT INTO machines (id, name, cohort_id, user_id, host_id, template_name, idx,"
                " state, vcpus, memory_mib, vnc_password, uuid, created_at, expires_at, error,"
                " extensions) VALUES (7, 'cohort-c--sok', 1, 2, 1, 'tiny', 1, 'running', 1, 64,"
                " 'pw', 'u-1', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', NULL, 2);"
                "INSERT INTO machine_runs (machine_id, started_at) VALUES (7,"
                " '2026-01-01T00:00:00Z');",
                NULL, NULL, NULL),
            SQLITE_OK);
        /* the old schema refuses a transitional state */
        assert_int_not_equal(
            sqlite3_exec(db, "UPDATE machines SET state = 'stopping'", NULL, NULL, NULL),
            SQLITE_OK);
    }
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autoptr(CohortMachineRow) m = NULL;
        g_autofree gchar *password = NULL;
        gdouble hours;

        cohort_assert_no_error(error);
        assert_int_equal(cohort_store_get_schema_version(store), cohort_store_migrations_latest());
        m = cohort_store_machine_get_by_id(store, 7, &error);
        cohort_assert_no_error(error);
        assert_string_equal(m->name, "cohort-c--sok");
        assert_string_equal(m->state, "running");
        assert_string_equal(m->expires_at, "2026-01-02T00:00:00Z");
        password = cohort_store_machine_get_vnc_password(store, 7, &error);
        cohort_assert_no_error(error);
        assert_string_equal(password, "pw");
        assert_int_equal(cohort_store_machine_get_extensions(store, 7, &error), 2);
        /* the run that refers to the machine is still there (no cascade when it was remade) */
        hours = cohort_store_machine_get_running_hours(store, 1, 2, &error);
        cohort_assert_no_error(error);
        assert_true(hours > 0);
        assert_true(cohort_store_machine_set_state(store, 7, "stopping", NULL, &error));
        cohort_assert_no_error(error);
        assert_false(cohort_store_machine_set_state(store, 7, "sleeping", NULL, &error));
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        /* foreign keys hold again after the migration */
        {
            CohortMachineRow row;
            machine_row_init(&row, "stray", 424242, 2, 1, 1, "running", 1, 64);
            assert_false(cohort_store_machine_insert(store, &row, NULL, &error));
            cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
            g_clear_error(&error);
        }
    }
    db_files_remove(dir, path);
}

/* Whether SQLite's program for @sql opens a table of its own (OpenEphemeral). */
static gboolean
sql_builds_table(sqlite3 *db, const gchar *sql)
{
    g_autofree gchar *explain = g_strconcat("EXPLAIN ", sql, NULL);
    g_autoptr(sqlite3_stmt) stmt = NULL;
    gboolean found = FALSE;

    assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &stmt, NULL), SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        found =
            found || g_strcmp0((const gchar *)sqlite3_column_text(stmt, 1), "OpenEphemeral") == 0;
    return found;
}

/* A database of schema 12 keeps its machines, every column, through the step that writes the
 * state CHECK without an IN list; a state write then builds no table, and the CHECK takes
 * the same states as before. */
static void
test_store_migration_state_check(void **state)
{
    static const gchar *const update = "UPDATE machines SET state = ?2 WHERE id = ?1";
    static const gchar *const states[] = {"requested", "provisioning", "running",   "stopped",
                                          "starting",  "stopping",     "rebooting", "resetting",
                                          "moving",    "reclaiming",   "reclaimed", "failed"};
    static const gchar *const row_sql =
        "SELECT id || name || cohort_id || user_id || host_id || template_name || idx || state"
        " || vcpus || memory_mib || uuid || created_at || expires_at || error || extensions"
        " || vnc_password_sealed || disk_mib || guest_password_sealed || seed_generation"
        " || ready || ready_at || addresses || first_ready_s FROM machines WHERE id = 7";
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    g_autofree gchar *path = g_build_filename(dir, "cohort.db", NULL);
    g_autofree gchar *before = NULL;

    cohort_assert_no_error(error);
    {
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;
        g_autoptr(CohortSecretKey) key = cohort_secret_key_new_random(NULL);
        assert_int_equal(
            sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
            SQLITE_OK);
        assert_true(cohort_store_migrations_apply_upto(
            db, path, key, COHORT_STORE_MIGRATION_STATE_CHECK - 1, &error));
        cohort_assert_no_error(error);
        assert_int_equal(
            sqlite3_exec(
                db,
                "INSERT INTO users VALUES (1, 'chan', 'Chan', 'trainer', '" STARTS "');"
                "INSERT INTO users VALUES (2, 'sok', 'Sok', 'trainee', '" STARTS "');"
                "INSERT INTO hosts (id, name, uri, pool, vcpus, memory_mib, cpu_ratio, "
                "memory_ratio,"
                " state, created_at)"
                " VALUES (1, 'lab', 'test:///default', 'default', 4, 4096, 1.0, 1.0, 'up',"
                " '" STARTS "');"
                "INSERT INTO cohorts (id, slug, title, template_name, trainer_id, starts_at,"
                " ends_at, grace_hours, quota_machines, quota_vcpus, quota_memory_mib, state,"
                " created_at) VALUES (1, 'c', 'C', 'tiny', 1, '" STARTS "', '" ENDS "', 0, 1, 1,"
                " 64, 'active', '" STARTS "');"
                "INSERT INTO machines (id, name, cohort_id, user_id, host_id, template_name, idx,"
                " state, vcpus, memory_mib, uuid, created_at, expires_at, error, extensions,"
                " vnc_password_sealed, disk_mib, guest_password_sealed, seed_generation, ready,"
                " ready_at, addresses, first_ready_s) VALUES (7, 'cohort-c--sok', 1, 2, 1,"
                " 'tiny', 1, 'running', 1, 64, 'u-1', '" STARTS "', '" ENDS "', 'e', 2, 'v1:vnc',"
                " 32, 'v1:guest', 3, 1, '" STARTS "', '10.0.0.2', 1.5);"
                "INSERT INTO machine_runs (machine_id, started_at) VALUES (7, '" STARTS "');",
                NULL, NULL, NULL),
            SQLITE_OK);
        /* what the step removes (what makes this test able to fail) */
        assert_true(sql_builds_table(db, update));
        assert_int_equal(sqlite3_prepare_v2(db, row_sql, -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        before = g_strdup((const gchar *)sqlite3_column_text(stmt, 0));
        assert_non_null(before);
    }
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        cohort_assert_no_error(error);
        assert_int_equal(cohort_store_get_schema_version(store), cohort_store_migrations_latest());
        /* the run that refers to the machine is still there (no cascade when it was remade) */
        assert_true(cohort_store_machine_get_running_hours(store, 1, 2, &error) > 0);
        cohort_assert_no_error(error);
    }
    {
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;
        g_autoptr(sqlite3_stmt) set = NULL;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, row_sql, -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const gchar *)sqlite3_column_text(stmt, 0), before);
        assert_false(sql_builds_table(db, update));
        assert_int_equal(sqlite3_prepare_v2(db, update, -1, &set, NULL), SQLITE_OK);
        for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
            sqlite3_reset(set);
            sqlite3_bind_int64(set, 1, 7);
            sqlite3_bind_text(set, 2, states[i], -1, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(set), SQLITE_DONE);
        }
        sqlite3_reset(set);
        sqlite3_bind_text(set, 2, "sleeping", -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(set), SQLITE_CONSTRAINT);
        sqlite3_reset(set);
        sqlite3_bind_text(set, 2, "Running", -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(set), SQLITE_CONSTRAINT);
        sqlite3_reset(set);
        sqlite3_bind_null(set, 2);
        assert_int_equal(sqlite3_step(set), SQLITE_CONSTRAINT);
        sqlite3_reset(set);
    }
    db_files_remove(dir, path);
}

static void
test_store_job_errors(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    CohortJobRow row = {.id = 4242, .kind = (gchar *)"reset", .state = (gchar *)"running"};
    CohortJobRow orphan = {.kind = (gchar *)"reset", .user_id = 4242};

    assert_null(cohort_store_job_get(store, 4242, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    assert_string_equal(error->message, "no job 4242");
    g_clear_error(&error);
    assert_false(cohort_store_job_update(store, &row, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_false(cohort_store_job_error_insert(store, 4242, "c-sok-1", "internal", "lost", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_false(cohort_store_job_insert(store, &orphan, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    assert_int_equal(orphan.id, 0);
    assert_null(orphan.state);
}

/* ---- audit ---- */

static void
test_store_audit(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) three = NULL;
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) none = NULL;
    g_autofree gchar *before = cohort_store_now();
    g_autofree gchar *after = NULL;
    CohortAuditRow *newest;

    for (guint i = 1; i <= 5; i++) {
        g_autofree gchar *target = g_strdup_printf("cloud-10%u", i);
        assert_true(cohort_store_audit_insert(store, i == 5 ? "system" : "chan-trainer",
                                              "cohort.create", target, i == 3 ? "conflict" : "ok",
                                              i == 3 ? "slug taken" : NULL, &error));
        cohort_assert_no_error(error);
    }
    after = cohort_store_now();

    three = cohort_store_audit_list(store, 3, &error);
    cohort_assert_no_error(error);
    assert_int_equal(three->len, 3);
    newest = three->pdata[0];
    assert_string_equal(newest->target, "cloud-105");
    assert_string_equal(newest->actor, "system");
    assert_string_equal(newest->action, "cohort.create");
    assert_string_equal(newest->result, "ok");
    assert_null(newest->detail);
    assert_true(strcmp(newest->at, before) >= 0 && strcmp(newest->at, after) <= 0);
    assert_string_equal(((CohortAuditRow *)three->pdata[1])->target, "cloud-104");
    assert_string_equal(((CohortAuditRow *)three->pdata[2])->target, "cloud-103");
    assert_string_equal(((CohortAuditRow *)three->pdata[2])->result, "conflict");
    assert_string_equal(((CohortAuditRow *)three->pdata[2])->detail, "slug taken");
    assert_true(((CohortAuditRow *)three->pdata[0])->id > ((CohortAuditRow *)three->pdata[1])->id);

    all = cohort_store_audit_list(store, 100, &error);
    cohort_assert_no_error(error);
    assert_int_equal(all->len, 5);
    assert_string_equal(((CohortAuditRow *)all->pdata[4])->target, "cloud-101");
    none = cohort_store_audit_list(store, 0, &error);
    cohort_assert_no_error(error);
    assert_int_equal(none->len, 0);
}

static void
test_store_row_free_null(void **state)
{
    /* Each must return without touching anything (a crash fails the test). */
    cohort_host_row_free(NULL);
    cohort_user_row_free(NULL);
    cohort_cohort_row_free(NULL);
    cohort_machine_row_free(NULL);
    cohort_job_row_free(NULL);
    cohort_job_error_row_free(NULL);
    cohort_audit_row_free(NULL);
    cohort_store_free(NULL);
}

/* ---- secrets at rest ---- */

#define CLEAR_GUEST "Guest7pW3xKqRtYu"

/* The guest password is sealed like the VNC one, kept across a reopen, and renewed with the
 * next seed generation; SSH keys keep their order and are replaced whole. */
static void
test_store_guest_and_keys(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    g_autofree gchar *path = g_build_filename(dir, "cohort.db", NULL);
    const gchar *keys[] = {"ssh-ed25519 AAAA one", "ssh-rsa AAAA two", NULL};
    const gchar *fewer[] = {"ssh-rsa AAAA two", NULL};
    gint64 id = 0;
    gint64 user = 0;

    cohort_assert_no_error(error);
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autofree gchar *clear = NULL;
        g_autoptr(GPtrArray) got = NULL;
        guint gen = 99;
        CohortMachineRow row;
        Scene s;

        cohort_assert_no_error(error);
        s = scene_new(store);
        user = s.sok;
        machine_row_init(&row, "cohort-cloud-101-sok-dara", s.cohort, s.sok, 0, 1, "running", 1,
                         512);
        assert_true(cohort_store_machine_insert(store, &row, "vncpass1", &error));
        id = row.id;
        /* a row from before has none, and generation 0 */
        assert_true(cohort_store_machine_get_guest(store, id, &clear, &gen, &error));
        cohort_assert_no_error(error);
        assert_null(clear);
        assert_int_equal(gen, 0);
        assert_true(cohort_store_machine_set_guest_password(store, id, CLEAR_GUEST, &error));
        cohort_assert_no_error(error);
        assert_true(cohort_store_machine_get_guest(store, id, &clear, &gen, &error));
        assert_string_equal(clear, CLEAR_GUEST);
        assert_int_equal(gen, 0);
        assert_false(cohort_store_machine_set_guest_password(store, 4242, "x", &error));
        assert_int_equal(error->code, COHORT_ERROR_NOT_FOUND);
        g_clear_error(&error);
        /* a new machine's password in its first row, sealed the same way */
        {
            g_autofree gchar *seeded = NULL;
            CohortMachineRow second;

            machine_row_init(&second, "cohort-cloud-101-sok-dara-2", s.cohort, s.sok, 0, 2,
                             "provisioning", 1, 512);
            assert_true(cohort_store_machine_insert_seeded(store, &second, "vncpass2",
                                                           "SeededGuestPass9", &error));
            cohort_assert_no_error(error);
            assert_true(cohort_store_machine_get_guest(store, second.id, &seeded, &gen, &error));
            cohort_assert_no_error(error);
            assert_string_equal(seeded, "SeededGuestPass9");
            assert_int_equal(gen, 0);
            assert_false(db_files_contain(path, "SeededGuestPass9"));
        }

        got = cohort_store_user_get_ssh_keys(store, user, &error);
        assert_int_equal(got->len, 0);
        g_clear_pointer(&got, g_ptr_array_unref);
        assert_true(cohort_store_user_set_ssh_keys(store, user, keys, &error));
        cohort_assert_no_error(error);
        got = cohort_store_user_get_ssh_keys(store, user, &error);
        assert_int_equal(got->len, 2);
        assert_string_equal(g_ptr_array_index(got, 0), keys[0]);
        assert_string_equal(g_ptr_array_index(got, 1), keys[1]);
        /* an unknown user: nothing written */
        assert_false(cohort_store_user_set_ssh_keys(store, 4242, keys, &error));
        g_clear_error(&error);
        assert_false(db_files_contain(path, CLEAR_GUEST));
    }
    assert_false(db_files_contain(path, CLEAR_GUEST));
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autofree gchar *clear = NULL;
        g_autofree gchar *renewed = NULL;
        g_autoptr(GPtrArray) got = NULL;
        guint gen = 99;

        cohort_assert_no_error(error);
        assert_true(cohort_store_machine_get_guest(store, id, &clear, &gen, &error));
        assert_string_equal(clear, CLEAR_GUEST);
        assert_true(cohort_store_machine_renew_guest(store, id, "RenewedPassword1", &error));
        cohort_assert_no_error(error);
        assert_true(cohort_store_machine_get_guest(store, id, &renewed, &gen, &error));
        assert_string_equal(renewed, "RenewedPassword1");
        assert_int_equal(gen, 1);
        assert_true(cohort_store_user_set_ssh_keys(store, user, fewer, &error));
        got = cohort_store_user_get_ssh_keys(store, user, &error);
        assert_int_equal(got->len, 1);
        assert_string_equal(g_ptr_array_index(got, 0), fewer[0]);
        assert_true(cohort_store_user_set_ssh_keys(store, user, NULL, &error));
        g_clear_pointer(&got, g_ptr_array_unref);
        got = cohort_store_user_get_ssh_keys(store, user, &error);
        assert_int_equal(got->len, 0);
    }
    db_files_remove(dir, path);
}

#define CLEAR_VNC "Zq7pW3xK"

/* The database on disk never holds a VNC password in clear; the store opens it again, also
 * after a reopen with the same key; a sealed value moved to another row, or altered, does
 * not open. */
static void
test_store_vnc_password_sealed(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    g_autofree gchar *path = g_build_filename(dir, "cohort.db", NULL);
    gint64 id = 0;
    gint64 other = 0;

    cohort_assert_no_error(error);
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autofree gchar *clear = NULL;
        Scene s;
        cohort_assert_no_error(error);
        s = scene_new(store);
        {
            CohortMachineRow row;
            machine_row_init(&row, "cohort-cloud-101-sok-dara", s.cohort, s.sok, 0, 1, "running", 1,
                             512);
            assert_true(cohort_store_machine_insert(store, &row, CLEAR_VNC, &error));
            cohort_assert_no_error(error);
            id = row.id;
            machine_row_init(&row, "cohort-cloud-101-pov-bopha", s.cohort, s.pov, 0, 1, "running",
                             1, 512);
            assert_true(cohort_store_machine_insert(store, &row, "other-pw", &error));
            other = row.id;
        }
        clear = cohort_store_machine_get_vnc_password(store, id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(clear, CLEAR_VNC);
        /* while cohortd runs (the WAL) and after */
        assert_false(db_files_contain(path, CLEAR_VNC));
    }
    assert_false(db_files_contain(path, CLEAR_VNC));
    {
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT vnc_password_sealed FROM machines"
                                            " WHERE id = ?1",
                                            -1, &stmt, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(stmt, 1, id);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_true(g_str_has_prefix((const gchar *)sqlite3_column_text(stmt, 0), "v1:"));
        /* the schema refuses a clear value */
        assert_int_not_equal(sqlite3_exec(db,
                                          "UPDATE machines SET vnc_password_sealed = 'clear'"
                                          " WHERE id = 1",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
    }
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autofree gchar *clear = NULL;
        g_autofree gchar *moved = NULL;
        g_autofree gchar *sql = NULL;

        cohort_assert_no_error(error);
        clear = cohort_store_machine_get_vnc_password(store, id, &error);
        cohort_assert_no_error(error);
        assert_string_equal(clear, CLEAR_VNC);
        /* pov-bopha's row gets sok-dara's sealed password: it is bound to sok-dara's row */
        {
            g_autoptr(sqlite3) db = NULL;
            assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
            sql = g_strdup_printf("UPDATE machines SET vnc_password_sealed = (SELECT"
                                  " vnc_password_sealed FROM machines WHERE id = %" G_GINT64_FORMAT
                                  ") WHERE id = %" G_GINT64_FORMAT,
                                  id, other);
            assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        }
        moved = cohort_store_machine_get_vnc_password(store, other, &error);
        assert_null(moved);
        cohort_assert_error(error, COHORT_ERROR_INTERNAL);
        cohort_assert_contains(error->message, "does not open");
        g_clear_error(&error);
        /* no row, no password */
        assert_null(cohort_store_machine_get_vnc_password(store, other + 100, &error));
        cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    }
    db_files_remove(dir, path);
}

/* A database opened with another key than the one it was sealed with is refused at once. */
static void
test_store_wrong_key_refused(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    g_autofree gchar *path = g_build_filename(dir, "cohort.db", NULL);

    cohort_assert_no_error(error);
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        cohort_assert_no_error(error);
    }
    {
        g_autoptr(CohortStore) store =
            cohort_store_open(path, cohort_secret_key_new_random(NULL), &error);
        assert_null(store);
        cohort_assert_error(error, COHORT_ERROR_INTERNAL);
        cohort_assert_contains(error->message, path);
        cohort_assert_contains(error->message, "not the one this database's secrets were sealed");
        cohort_assert_contains(error->message, COHORT_SECRET_KEY_FILE);
        g_clear_error(&error);
    }
    {
        /* the right one still opens it */
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        cohort_assert_no_error(error);
    }
    db_files_remove(dir, path);
}

/* A database an older cohortd left (VNC passwords in clear): opening it seals them,
 * drops the clear column and leaves no clear byte in the files. */
static void
test_store_migration_seals_clear_passwords(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-store-XXXXXX", &error);
    g_autofree gchar *path = g_build_filename(dir, "cohort.db", NULL);

    cohort_assert_no_error(error);
    {
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(CohortSecretKey) key = cohort_secret_key_new_random(NULL);
        assert_int_equal(
            sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
                         SQLITE_OK);
        assert_true(cohort_store_migrations_apply_upto(
            db, path, key, COHORT_STORE_MIGRATION_SEAL_VNC - 1, &error));
        cohort_assert_no_error(error);
        assert_int_equal(
            sqlite3_exec(
                db,
                "INSERT INTO users (login, display_name, role, created_at) VALUES"
                " ('tr', 'Trainer', 'trainer', '" STARTS "'),"
                " ('sok-dara', 'Sok Dara', 'trainee', '" STARTS "');"
                "INSERT INTO cohorts (slug, title, template_name, trainer_id, starts_at,"
                " ends_at, grace_hours, quota_machines, quota_vcpus, quota_memory_mib,"
                " state, created_at) VALUES ('cloud-101', 'Cloud', 'tiny', 1, '" STARTS "', '" ENDS
                "', 0, 1, 1, 512, 'active', '" STARTS "');"
                "INSERT INTO machines (name, cohort_id, user_id, template_name, idx,"
                " state, vcpus, memory_mib, vnc_password, created_at) VALUES"
                " ('cohort-cloud-101-sok-dara', 1, 2, 'tiny', 1, 'running', 1, 512, '" CLEAR_VNC
                "', '" STARTS "'),"
                " ('cohort-cloud-101-sok-dara-2', 1, 2, 'tiny', 2, 'failed', 1, 512, NULL,"
                " '" STARTS "')",
                NULL, NULL, NULL),
            SQLITE_OK);
    }
    /* as the older cohortd left it: in clear (what makes this test able to fail) */
    assert_true(db_files_contain(path, CLEAR_VNC));
    {
        g_autoptr(CohortStore) store = cohort_store_open(path, file_key(dir), &error);
        g_autofree gchar *clear = NULL;
        g_autoptr(GError) none = NULL;

        cohort_assert_no_error(error);
        assert_int_equal(cohort_store_get_schema_version(store), cohort_store_migrations_latest());
        clear = cohort_store_machine_get_vnc_password(store, 1, &error);
        cohort_assert_no_error(error);
        assert_string_equal(clear, CLEAR_VNC);
        assert_null(cohort_store_machine_get_vnc_password(store, 2, &none));
        cohort_assert_error(none, COHORT_ERROR_NOT_FOUND);
        assert_false(db_files_contain(path, CLEAR_VNC));
    }
    assert_false(db_files_contain(path, CLEAR_VNC));
    {
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT COUNT(*) FROM pragma_table_info('machines')"
                                            " WHERE name = 'vnc_password'",
                                            -1, &stmt, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(stmt, 0), 0);
    }
    db_files_remove(dir, path);
}

#define STORE_TEST(f) cmocka_unit_test_setup_teardown(f, store_setup, store_teardown)

/* The value of @sql's one row, its statement from the store's cache. */
static gint
store_select_int(CohortStore *store, const gchar *sql)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortStmt) stmt = cohort_store_prepare(store, sql, "selecting", &error);

    cohort_assert_no_error(error);
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    return sqlite3_column_int(stmt, 0);
}

/* The statement cache finds SQL by its address before its text, and checks the text: a buffer
 * used again for other SQL gets that SQL's statement, never the one its address had; SQL
 * built anew each time, at ever new addresses, keeps working past the addresses' bound. */
static void
test_store_prepare_by_address(void **state)
{
    CohortStore *store = *state;
    gchar buffer[32];

    g_strlcpy(buffer, "SELECT 1", sizeof(buffer));
    assert_int_equal(store_select_int(store, buffer), 1);
    assert_int_equal(store_select_int(store, buffer), 1);
    g_strlcpy(buffer, "SELECT 2", sizeof(buffer));
    assert_int_equal(store_select_int(store, buffer), 2);
    /* the first text at another address: its statement again */
    assert_int_equal(store_select_int(store, "SELECT 1"), 1);
    for (guint i = 0; i < 1100; i++) {
        g_autofree gchar *sql = g_strdup_printf("SELECT %u", i % 50);
        assert_int_equal(store_select_int(store, sql), (gint)(i % 50));
    }
    assert_int_equal(store_select_int(store, buffer), 2);
}

/* The address plan: a cohort keeps the subnet it has; the next goes past the other cohorts'
 * and the hosts' own networks; a full range says what to change; a freed subnet is given
 * again; reclaimed cohorts' subnets are freed unless their network is still somewhere. */
static void
test_store_subnets(void **state)
{
    CohortStore *store = *state;
    g_autoptr(GError) error = NULL;
    gint64 trainer = add_user(store, "trainer", "trainer");
    gint64 a = add_cohort(store, "net-a", trainer);
    gint64 b = add_cohort(store, "net-b", trainer);
    gint64 c = add_cohort(store, "net-c", trainer);
    CohortSubnet range = {0};
    CohortSubnet host_nets[1];
    g_autofree gchar *sa = NULL;
    g_autofree gchar *sa_again = NULL;
    g_autofree gchar *sb = NULL;
    g_autofree gchar *sc = NULL;
    g_autofree gchar *none = NULL;
    g_autoptr(GPtrArray) listed = NULL;
    guint freed = 99;

    assert_true(cohort_subnet_parse("10.200.0.0/22", FALSE, &range, NULL));
    assert_true(cohort_subnet_parse("10.200.1.0/24", FALSE, &host_nets[0], NULL));
    none = cohort_store_subnet_get(store, a, &error);
    cohort_assert_no_error(error);
    assert_null(none);

    sa = cohort_store_subnet_allocate(store, a, &range, 24, host_nets, 1, &error);
    cohort_assert_no_error(error);
    assert_string_equal(sa, "10.200.0.0/24");
    sa_again = cohort_store_subnet_allocate(store, a, &range, 24, NULL, 0, &error);
    assert_string_equal(sa_again, "10.200.0.0/24");
    /* past the host's 10.200.1.0/24 */
    sb = cohort_store_subnet_allocate(store, b, &range, 24, host_nets, 1, &error);
    cohort_assert_no_error(error);
    assert_string_equal(sb, "10.200.2.0/24");
    sc = cohort_store_subnet_allocate(store, c, &range, 24, host_nets, 1, &error);
    assert_string_equal(sc, "10.200.3.0/24");
    listed = cohort_store_subnet_list(store, &error);
    cohort_assert_no_error(error);
    assert_int_equal(listed->len, 3);

    /* full: no-capacity, naming the range and what to change */
    {
        gint64 d = add_cohort(store, "net-d", trainer);
        g_autofree gchar *sd =
            cohort_store_subnet_allocate(store, d, &range, 24, host_nets, 1, &error);
        assert_null(sd);
        cohort_assert_error(error, COHORT_ERROR_NO_CAPACITY);
        cohort_assert_contains(error->message, "[networks] range=10.200.0.0/22 has no /24 left");
        cohort_assert_contains(error->message, "widen [networks] range");
        g_clear_error(&error);
        /* freed: given again */
        assert_true(cohort_store_subnet_free(store, b, &error));
        cohort_assert_no_error(error);
        sd = cohort_store_subnet_allocate(store, d, &range, 24, host_nets, 1, &error);
        cohort_assert_no_error(error);
        assert_string_equal(sd, "10.200.2.0/24");
    }

    /* reclaimed cohorts: freed, but for those whose network is still on a host */
    {
        g_autoptr(CohortCohortRow) row_a = cohort_store_cohort_get_by_id(store, a, &error);
        g_autoptr(CohortCohortRow) row_c = cohort_store_cohort_get_by_id(store, c, &error);
        g_autoptr(GHashTable) keep = g_hash_table_new(g_str_hash, g_str_equal);
        g_autofree gchar *left_a = NULL;
        g_autofree gchar *left_c = NULL;
        g_free(row_a->state);
        row_a->state = g_strdup("reclaimed");
        g_free(row_c->state);
        row_c->state = g_strdup("reclaimed");
        assert_true(cohort_store_cohort_update(store, row_a, &error));
        assert_true(cohort_store_cohort_update(store, row_c, &error));
        cohort_assert_no_error(error);
        g_hash_table_add(keep, (gpointer) "net-c");
        assert_true(cohort_store_subnet_free_reclaimed(store, keep, &freed, &error));
        cohort_assert_no_error(error);
        assert_int_equal(freed, 1);
        left_a = cohort_store_subnet_get(store, a, NULL);
        left_c = cohort_store_subnet_get(store, c, NULL);
        assert_null(left_a);
        assert_string_equal(left_c, "10.200.3.0/24");
        assert_true(cohort_store_subnet_free_reclaimed(store, NULL, &freed, &error));
        assert_int_equal(freed, 1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_TEST(test_store_migrations_applied),
        cmocka_unit_test(test_store_now_format),
        STORE_TEST(test_store_prepare_by_address),
        cmocka_unit_test(test_store_file_reopen),
        cmocka_unit_test(test_store_token_cache_ttl),
        cmocka_unit_test(test_store_open_bad_path),
        STORE_TEST(test_store_transaction_rollback),
        STORE_TEST(test_store_transaction_commit),
        STORE_TEST(test_store_transaction_failure_inside),
        STORE_TEST(test_store_host_roundtrip),
        STORE_TEST(test_store_host_errors),
        STORE_TEST(test_store_host_usage),
        STORE_TEST(test_store_host_delete),
        STORE_TEST(test_store_host_usage_full_and_update),
        STORE_TEST(test_store_host_usage_follows_state),
        STORE_TEST(test_store_machine_lists_follow_owner),
        STORE_TEST(test_store_bases),
        STORE_TEST(test_store_leftovers),
        STORE_TEST(test_store_job_hosts_and_bytes),
        STORE_TEST(test_store_user_roundtrip),
        STORE_TEST(test_store_user_errors),
        STORE_TEST(test_store_user_display_name_bytes),
        STORE_TEST(test_store_token),
        STORE_TEST(test_store_token_errors),
        STORE_TEST(test_store_invitation_once),
        STORE_TEST(test_store_invitation_expired),
        STORE_TEST(test_store_cohort_roundtrip),
        STORE_TEST(test_store_cohort_list),
        STORE_TEST(test_store_cohort_errors),
        STORE_TEST(test_store_cohort_injection_slug),
        STORE_TEST(test_store_enrollment),
        STORE_TEST(test_store_machine_roundtrip),
        STORE_TEST(test_store_machine_list),
        STORE_TEST(test_store_machine_list_kept),
        STORE_TEST(test_store_machine_errors),
        STORE_TEST(test_store_machine_holdings),
        STORE_TEST(test_store_running_hours_by_user),
        STORE_TEST(test_store_machine_next_idx),
        STORE_TEST(test_store_machine_count_by_state),
        STORE_TEST(test_store_job),
        STORE_TEST(test_store_job_errors),
        STORE_TEST(test_store_job_machines),
        cmocka_unit_test(test_store_migration_keeps_machines),
        cmocka_unit_test(test_store_migration_state_check),
        STORE_TEST(test_store_audit),
        STORE_TEST(test_store_subnets),
        cmocka_unit_test(test_store_row_free_null),
        cmocka_unit_test(test_store_vnc_password_sealed),
        cmocka_unit_test(test_store_guest_and_keys),
        cmocka_unit_test(test_store_wrong_key_refused),
        cmocka_unit_test(test_store_migration_seals_clear_passwords),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
