/* cohortd --backup's store side: an online copy through SQLite's backup API, from a database
 * another connection (a running cohortd) holds open and writes. */
#define G_LOG_DOMAIN "test-store-backup"

#include "config.h"

#include "cohort-test.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cohort-error.h"
#include "cohort-secret.h"
#include "cohort-store-migrations.h"
#include "cohort-store.h"

typedef struct {
    gchar *dir;
    gchar *db;   /* dir/cohort.db */
    gchar *dest; /* dir/backup.db */
} Fixture;

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    Fixture *f = g_new0(Fixture, 1);

    f->dir = g_dir_make_tmp("cohort-backup-XXXXXX", &error);
    cohort_assert_no_error(error);
    f->db = g_build_filename(f->dir, "cohort.db", NULL);
    f->dest = g_build_filename(f->dir, "backup.db", NULL);
    *state = f;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *f = *state;
    g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
    const gchar *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree gchar *path = g_build_filename(f->dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->db);
    g_free(f->dest);
    g_free(f);
    return 0;
}

/* The state directory's key, as cohortd keeps it: the one the live database and its copy are
 * opened with (a restore puts the copy next to the same key). */
static CohortSecretKey *
state_key(Fixture *f)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *path = g_build_filename(f->dir, COHORT_SECRET_KEY_FILE, NULL);
    CohortSecretKey *key = cohort_secret_key_load_or_create(path, NULL, &error);

    cohort_assert_no_error(error);
    assert_non_null(key);
    return key;
}

static void
add_user(CohortStore *store, const gchar *login)
{
    g_autoptr(GError) error = NULL;
    CohortUserRow row = {.login = (gchar *)login,
                         .display_name = (gchar *)login,
                         .role = (gchar *)"trainee",
                         .created_at = (gchar *)"2026-12-01T08:00:00Z"};

    assert_true(cohort_store_user_insert(store, &row, &error));
    cohort_assert_no_error(error);
}

static gboolean
has_user(CohortStore *store, const gchar *login)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortUserRow) row = cohort_store_user_get_by_login(store, login, &error);

    if (row == NULL)
        cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    return row != NULL;
}

static gchar *
pragma(const gchar *path, const gchar *sql)
{
    g_autoptr(sqlite3) db = NULL;
    g_autoptr(sqlite3_stmt) stmt = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    return g_strdup((const gchar *)sqlite3_column_text(stmt, 0));
}

static gint
strcmp_ptr(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* The names in the fixture's directory, sorted and joined with spaces. */
static gchar *
dir_listing(Fixture *f)
{
    g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const gchar *name;

    assert_non_null(dir);
    while ((name = g_dir_read_name(dir)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, strcmp_ptr);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (gchar **)names->pdata);
}

/* While the "daemon" holds the database open, with a commit still in its WAL and a
 * transaction under way: the backup has the commit, not the transaction, is one private
 * file that is not in WAL mode, and opens as a store. */
static void
test_store_backup_online(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortStore) live = cohort_store_open(f->db, state_key(f), &error);
    g_autofree gchar *journal = NULL;
    g_autofree gchar *listing = NULL;
    GStatBuf st;

    cohort_assert_no_error(error);
    add_user(live, "sok-dara");
    assert_true(cohort_store_begin(live, &error));
    add_user(live, "chan-dara");

    assert_true(cohort_store_backup_file(f->db, f->dest, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_store_commit(live, &error));
    /* the live database goes on: a write after the backup */
    add_user(live, "lim-sophea");

    assert_int_equal(g_stat(f->dest, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    journal = pragma(f->dest, "PRAGMA journal_mode");
    assert_string_equal(journal, "delete");
    listing = dir_listing(f);
    /* the key stays apart: a copy of the database alone opens no secret */
    assert_string_equal(listing, "backup.db cohort.db cohort.db-shm cohort.db-wal secret.key");
    {
        g_autoptr(CohortStore) copy = cohort_store_open(f->dest, state_key(f), &error);
        cohort_assert_no_error(error);
        assert_true(has_user(copy, "sok-dara"));
        assert_false(has_user(copy, "chan-dara"));
        assert_false(has_user(copy, "lim-sophea"));
        assert_int_equal(cohort_store_get_schema_version(copy), cohort_store_migrations_latest());
    }
}

/* An older backup of the same name is replaced whole. */
static void
test_store_backup_replaces(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;

    {
        g_autoptr(CohortStore) live = cohort_store_open(f->db, state_key(f), &error);
        cohort_assert_no_error(error);
        add_user(live, "sok-dara");
    }
    assert_true(g_file_set_contents(f->dest, "yesterday's backup", -1, &error));
    assert_true(cohort_store_backup_file(f->db, f->dest, &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(CohortStore) copy = cohort_store_open(f->dest, state_key(f), &error);
        cohort_assert_no_error(error);
        assert_true(has_user(copy, "sok-dara"));
    }
}

/* The source is read, never migrated: a database of an older schema (what an upgrade finds)
 * is copied as it is, and is left as it was. */
static void
test_store_backup_no_migration(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *src_version = NULL;
    g_autofree gchar *copy_version = NULL;
    g_autofree gchar *rows = NULL;

    {
        g_autoptr(sqlite3) db = NULL;
        assert_int_equal(
            sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "PRAGMA journal_mode = WAL;"
                                      "CREATE TABLE old (x INTEGER);"
                                      "INSERT INTO old VALUES (1), (2);"
                                      "PRAGMA user_version = 1",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    }
    assert_true(cohort_store_backup_file(f->db, f->dest, &error));
    cohort_assert_no_error(error);
    src_version = pragma(f->db, "PRAGMA user_version");
    copy_version = pragma(f->dest, "PRAGMA user_version");
    rows = pragma(f->dest, "SELECT count(*) FROM old");
    assert_string_equal(src_version, "1");
    assert_string_equal(copy_version, "1");
    assert_string_equal(rows, "2");
}

/* No database where the configuration says: not found, and nothing is written. */
static void
test_store_backup_missing(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *listing = NULL;

    assert_false(cohort_store_backup_file(f->db, f->dest, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    cohort_assert_contains(error->message, f->db);
    cohort_assert_contains(error->message, "state_dir");
    listing = dir_listing(f);
    assert_string_equal(listing, "");
}

/* A file that is not a database: refused, no backup and no temporary file left. */
static void
test_store_backup_not_a_database(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *listing = NULL;
    g_autofree gchar *junk = g_strnfill(8192, 'x');

    assert_true(g_file_set_contents(f->db, junk, -1, &error));
    assert_false(cohort_store_backup_file(f->db, f->dest, &error));
    cohort_assert_error(error, COHORT_ERROR_INTERNAL);
    cohort_assert_contains(error->message, f->db);
    listing = dir_listing(f);
    assert_string_equal(listing, "cohort.db");
}

/* A destination directory that does not exist: said, and nothing is written. */
static void
test_store_backup_bad_dest(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dest = g_build_filename(f->dir, "no-such-dir", "backup.db", NULL);
    g_autofree gchar *listing = NULL;

    {
        g_autoptr(CohortStore) live = cohort_store_open(f->db, state_key(f), &error);
        cohort_assert_no_error(error);
    }
    assert_false(cohort_store_backup_file(f->db, dest, &error));
    cohort_assert_error(error, COHORT_ERROR_INTERNAL);
    cohort_assert_contains(error->message, dest);
    listing = dir_listing(f);
    assert_string_equal(listing, "cohort.db secret.key");
}

#define BACKUP_TEST(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BACKUP_TEST(test_store_backup_online),         BACKUP_TEST(test_store_backup_replaces),
        BACKUP_TEST(test_store_backup_no_migration),   BACKUP_TEST(test_store_backup_missing),
        BACKUP_TEST(test_store_backup_not_a_database), BACKUP_TEST(test_store_backup_bad_dest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
