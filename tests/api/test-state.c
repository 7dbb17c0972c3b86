/* cohortd's state at rest, with a real cohortd: the state directory 0700, its files 0600, a
 * database or key that others may read refused, and no VNC password in clear on disk. */
#define G_LOG_DOMAIN "test-state"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cohort-secret.h"
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
    g_autofree gchar *key = NULL;
    g_autofree gchar *hint = NULL;

    cohort_assert_no_error(error);
    db = state_file(d, "cohort.db");
    wal = state_file(d, "cohort.db-wal");
    key = state_file(d, COHORT_SECRET_KEY_FILE);
    assert_int_equal(mode_of(d->state_dir), 0700);
    assert_int_equal(mode_of(db), 0600);
    assert_int_equal(mode_of(key), 0600);
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

    /* and the secret key */
    assert_int_equal(g_chmod(key, 0640), 0);
    g_free(hint);
    hint = g_strdup_printf("chmod 600 %s", key);
    expect_refused(d, (const gchar *const[]){key, "mode 0640", hint, NULL});
    assert_int_equal(g_chmod(key, 0600), 0);

    expect_starts(d);
    umask(old_umask);
    cohort_test_daemon_stop(d);
}

static JsonNode *
http_ok(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
        const gchar *body, const gchar *content_type, guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node = cohort_test_http(d, method, path, token, body, content_type, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    assert_non_null(node);
    return node;
}

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

/* Whether any file of the state directory holds @needle. */
static gboolean
state_contains(CohortTestDaemon *d, const gchar *needle)
{
    g_autoptr(GDir) dir = g_dir_open(d->state_dir, 0, NULL);
    const gchar *name;

    assert_non_null(dir);
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree gchar *path = state_file(d, name);
        if (file_contains(path, needle))
            return TRUE;
    }
    return FALSE;
}

static gchar *
console_password(CohortTestDaemon *d, const gchar *token, gint64 id)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
    g_autoptr(JsonNode) console = http_ok(d, "GET", path, token, NULL, NULL, 200);

    return g_strdup(json_object_get_string_member(json_node_get_object(console), "password"));
}

static void
machine_wait_running(CohortTestDaemon *d, const gchar *token, gint64 id)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) node = http_ok(d, "GET", path, token, NULL, NULL, 200);
        const gchar *state = json_object_get_string_member(json_node_get_object(node), "state");
        if (g_strcmp0(state, "running") == 0)
            return;
        g_usleep(20 * 1000);
    }
    fail_msg("machine %" G_GINT64_FORMAT " never ran", id);
}

/* After a restart on the test driver, the machine's domain and the template's base are gone
 * (the machine is failed): the base installed again, a reset makes the machine again,
 * rendering its VNC password from the store. */
static void
machine_reset_wait(CohortTestDaemon *d, const gchar *token, gint64 id)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    g_autofree gchar *reset = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/reset", id);
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    /* reconcile at start notices the domain is gone */
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) node = http_ok(d, "GET", path, token, NULL, NULL, 200);
        const gchar *state = json_object_get_string_member(json_node_get_object(node), "state");
        if (g_strcmp0(state, "failed") == 0)
            break;
        g_usleep(20 * 1000);
    }
    json_node_unref(cohort_test_base_install(d, "tiny", "{\"blank\":true}"));
    json_node_unref(http_ok(d, "POST", reset, token, NULL, NULL, 202));
    machine_wait_running(d, token, id);
}

/* A machine is made: its console answers its VNC password, which no file of the state
 * directory holds in clear, before and after a restart; with another key, cohortd refuses to
 * start rather than hand out what it cannot open. */
static void
test_state_vnc_password_sealed(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start(&error);
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) machine = NULL;
    g_autofree gchar *password = NULL;
    g_autofree gchar *again = NULL;
    g_autofree gchar *key = NULL;
    g_autofree gchar *key_data = NULL;
    const gchar *token;
    gint64 id;

    cohort_assert_no_error(error);
    trainer =
        http_ok(d, "POST", "/api/v1/users", d->admin_token,
                "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", NULL, 201);
    token = json_object_get_string_member(json_node_get_object(trainer), "token");
    base = cohort_test_base_install(d, "tiny", "{\"blank\":true}");
    cohort = http_ok(d, "POST", "/api/v1/cohorts", token,
                     "{\"slug\":\"cloud-101\",\"title\":\"Cloud\",\"template\":\"tiny\","
                     "\"starts_at\":\"2026-01-01T08:00:00Z\",\"ends_at\":\"2099-12-12T17:00:00Z\"}",
                     NULL, 201);
    roster = http_ok(d, "PUT", "/api/v1/cohorts/cloud-101/roster", token,
                     "login,display_name\nsok-dara,Sok Dara\n", "text/csv", 200);
    machine = http_ok(d, "POST", "/api/v1/machines", token,
                      "{\"cohort\":\"cloud-101\",\"trainee\":\"sok-dara\"}", NULL, 202);
    id = json_object_get_int_member(json_node_get_object(machine), "id");
    machine_wait_running(d, token, id);

    password = console_password(d, token, id);
    assert_int_equal(strlen(password), 8);
    /* while cohortd runs (the WAL holds the newest pages) */
    assert_false(state_contains(d, password));
    cohort_test_daemon_stop_keep(d);
    assert_false(state_contains(d, password));

    /* the same password after a restart: sealed, and opened again with the same key to
     * make the machine again (the test driver's domains live as long as one cohortd) */
    expect_starts(d);
    machine_reset_wait(d, token, id);
    again = console_password(d, token, id);
    assert_string_equal(again, password);
    cohort_test_daemon_stop_keep(d);

    /* another key: cohortd refuses to start and says what to put back */
    key = state_file(d, COHORT_SECRET_KEY_FILE);
    assert_true(g_file_get_contents(key, &key_data, NULL, NULL));
    {
        g_autoptr(CohortSecretKey) other = NULL;
        g_autofree gchar *other_path = state_file(d, "other.key");
        other = cohort_secret_key_load_or_create(other_path, NULL, &error);
        cohort_assert_no_error(error);
        assert_int_equal(g_rename(other_path, key), 0);
    }
    expect_refused(d, (const gchar *const[]){"not the one this database's secrets were sealed "
                                             "with",
                                             COHORT_SECRET_KEY_FILE, NULL});
    /* no key at all: a new one is made, refused as well, and said so */
    assert_int_equal(g_unlink(key), 0);
    {
        g_autofree gchar *err = NULL;
        assert_int_equal(open_store(d, &err), 1);
        cohort_assert_contains(err, "was missing; cohortd made a new one");
    }
    /* the right key back: it starts, with the same password */
    assert_true(
        g_file_set_contents_full(key, key_data, 32, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error));
    cohort_assert_no_error(error);
    expect_starts(d);
    machine_reset_wait(d, token, id);
    g_free(again);
    again = console_password(d, token, id);
    assert_string_equal(again, password);
    cohort_test_daemon_stop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_permissions),
        cmocka_unit_test(test_state_vnc_password_sealed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
