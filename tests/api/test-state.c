/* cohortd's state at rest, with a real cohortd: the state directory 0700, its files 0600, a
 * database that others may read refused. */
#define G_LOG_DOMAIN "test-state"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cohort-test-daemon.h"
#include "cohort-test.h"

static guint
mode_of(const gchar *path)
{
    GStatBuf st;

    if (g_stat(path, &st) != 0)
        fail_msg("%s: %s", path, g_strerror(errno));
    return st.st_mode & 07777;
}

static gchar *
state_file(CohortTestDaemon *d, const gchar *name)
{
    return g_build_filename(d->state_dir, name, NULL);
}

/* cohortd --create-admin opens the store as the daemon does and exits either way: what it
 * says on stderr, and its exit status. */
static gint
open_store(CohortTestDaemon *d, gchar **err)
{
    const gchar *argv[] = {COHORTD_PATH,     "--config", d->config_path,
                           "--create-admin", "admin",    NULL};
    g_autoptr(GError) error = NULL;
    gint status = 0;

    if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err,
                      &status, &error))
        fail_msg("cannot run cohortd: %s", error->message);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* cohortd refuses to start: both the bootstrap and the daemon itself, saying @words. */
static void
expect_refused(CohortTestDaemon *d, const gchar *const *words)
{
    g_autofree gchar *err = NULL;
    g_autoptr(GError) error = NULL;

    assert_int_equal(open_store(d, &err), 1);
    for (guint i = 0; words[i] != NULL; i++)
        cohort_assert_contains(err, words[i]);
    assert_false(cohort_test_daemon_spawn(d, NULL, &error));
    /* it exits 1 by itself */
    assert_int_equal(cohort_test_daemon_wait_killed(d, 30), -1);
}

static void
expect_starts(CohortTestDaemon *d)
{
    g_autoptr(GError) error = NULL;

    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
}

static void
test_state_permissions(void **state)
{
    g_autoptr(GError) error = NULL;
    /* what the admin's shell would give files: the daemon must not rely on it */
    mode_t old_umask = umask(022);
    CohortTestDaemon *d = cohort_test_daemon_start(&error);
    g_autofree gchar *db = NULL;
    g_autofree gchar *wal = NULL;
    g_autofree gchar *hint = NULL;

    cohort_assert_no_error(error);
    db = state_file(d, "cohort.db");
    wal = state_file(d, "cohort.db-wal");
    assert_int_equal(mode_of(d->state_dir), 0700);
    assert_int_equal(mode_of(db), 0600);
    /* SQLite gives its -wal and -shm files the database's mode */
    {
        g_autofree gchar *shm = state_file(d, "cohort.db-shm");
        assert_int_equal(mode_of(wal), 0600);
        assert_int_equal(mode_of(shm), 0600);
    }
    cohort_test_daemon_stop_keep(d);

    /* a state directory an admin made 0755 becomes 0700 */
    assert_int_equal(g_chmod(d->state_dir, 0755), 0);
    expect_starts(d);
    assert_int_equal(mode_of(d->state_dir), 0700);
    cohort_test_daemon_stop_keep(d);

    /* a database others may read: refused, with the file and the chmod to run */
    assert_int_equal(g_chmod(db, 0644), 0);
    hint = g_strdup_printf("chmod 600 %s", db);
    expect_refused(d, (const gchar *const[]){db, "mode 0644", hint, NULL});
    assert_int_equal(g_chmod(db, 0600), 0);

    /* its WAL likewise */
    assert_true(g_file_set_contents(wal, "", 0, NULL));
    assert_int_equal(g_chmod(wal, 0604), 0);
    g_free(hint);
    hint = g_strdup_printf("chmod 600 %s", wal);
    expect_refused(d, (const gchar *const[]){wal, "mode 0604", hint, NULL});
    assert_int_equal(g_unlink(wal), 0);

    expect_starts(d);
    umask(old_umask);
    cohort_test_daemon_stop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_permissions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
