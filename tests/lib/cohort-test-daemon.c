#define G_LOG_DOMAIN "cohort-test-daemon"

#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "cohort-secret.h"
#include "cohort-test-daemon.h"
#include "cohort-test.h"

#include "cohort-store.h"

static gchar *
cohort_test_daemon_run_sync(const gchar *const *argv, GError **error)
{
    g_autofree gchar *out = NULL;
    g_autofree gchar *err = NULL;
    gint status = 0;

    if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                      error))
        return NULL;
    if (!g_spawn_check_wait_status(status, error)) {
        g_prefix_error(error, "%s: %s", argv[0], err);
        return NULL;
    }
    return g_strstrip(g_steal_pointer(&out));
}

/* A test that dies (an assertion, a signal) takes its daemon with it. */
static void
cohort_test_daemon_child_setup(gpointer user_data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

CohortTestDaemon *
cohort_test_daemon_start_with_config(const gchar *extra_config, GError **error)
{
    CohortTestDaemon *d = g_new0(CohortTestDaemon, 1);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree gchar *data = NULL;

    d->state_dir = g_dir_make_tmp("cohort-test-XXXXXX", error);
    if (d->state_dir == NULL)
        return NULL;
    g_key_file_set_string(kf, "daemon", "listen", "127.0.0.1");
    g_key_file_set_integer(kf, "daemon", "port", 0);
    g_key_file_set_string(kf, "daemon", "state_dir", d->state_dir);
    g_key_file_set_string(kf, "daemon", "templates_dir", COHORT_TEMPLATESDIR_SRC);
    /* tests register test:/// hosts, and install bases from files of their own */
    g_key_file_set_boolean(kf, "daemon", "allow_test_hosts", TRUE);
    d->images_dir = g_build_filename(d->state_dir, "images", NULL);
    if (g_mkdir(d->images_dir, 0700) != 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "making %s: %s", d->images_dir,
                    g_strerror(errno));
        return NULL;
    }
    g_key_file_set_string(kf, "daemon", "images_dir", d->images_dir);
    data = g_key_file_to_data(kf, NULL, NULL);
    if (extra_config != NULL) {
        gchar *joined = g_strconcat(data, "\n", extra_config, "\n", NULL);
        g_free(data);
        data = joined;
    }
    d->config_path = g_build_filename(d->state_dir, "cohortd.conf", NULL);
    if (!g_file_set_contents(d->config_path, data, -1, error))
        return NULL;
    {
        const gchar *argv[] = {COHORTD_PATH,     "--config", d->config_path,
                               "--create-admin", "admin",    NULL};
        d->admin_token = cohort_test_daemon_run_sync(argv, error);
        if (d->admin_token == NULL)
            return NULL;
    }
    if (!cohort_test_daemon_spawn(d, NULL, error))
        return NULL;
    return d;
}

gboolean
cohort_test_daemon_spawn(CohortTestDaemon *d, const gchar *crash_point, GError **error)
{
    const gchar *argv[] = {COHORTD_PATH, "--config", d->config_path, NULL};
    g_auto(GStrv) envp = g_get_environ();
    g_autoptr(GIOChannel) channel = NULL;
    g_autofree gchar *line = NULL;
    gint out_fd = -1;

    envp = crash_point != NULL ? g_environ_setenv(envp, "COHORT_CRASH_POINT", crash_point, TRUE)
                               : g_environ_unsetenv(envp, "COHORT_CRASH_POINT");
    if (!g_spawn_async_with_pipes(NULL, (gchar **)argv, envp, G_SPAWN_DO_NOT_REAP_CHILD,
                                  cohort_test_daemon_child_setup, NULL, &d->pid, NULL, &out_fd,
                                  NULL, error))
        return FALSE;
    /* the first line says where it listens */
    channel = g_io_channel_unix_new(out_fd);
    g_io_channel_set_close_on_unref(channel, TRUE);
    if (g_io_channel_read_line(channel, &line, NULL, NULL, error) != G_IO_STATUS_NORMAL ||
        line == NULL || !g_str_has_prefix(line, "cohortd: listening on ")) {
        if (error != NULL && *error == NULL)
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cohortd did not start: %s",
                        line != NULL ? line : "(no output)");
        return FALSE;
    }
    g_free(d->url);
    d->url = g_strstrip(g_strdup(line + strlen("cohortd: listening on ")));
    return TRUE;
}

gint
cohort_test_daemon_wait_killed(CohortTestDaemon *d, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    int status = 0;

    while (g_get_monotonic_time() < deadline) {
        pid_t got = waitpid(d->pid, &status, WNOHANG);
        if (got == d->pid) {
            g_spawn_close_pid(d->pid);
            d->pid = 0;
            return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
        }
        g_usleep(50 * 1000);
    }
    fail_msg("cohortd did not die within %u s", timeout_s);
    return 0;
}

CohortTestDaemon *
cohort_test_daemon_start(GError **error)
{
    return cohort_test_daemon_start_with_config(NULL, error);
}

static void
cohort_test_rm_rf(const gchar *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const gchar *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree gchar *child = g_build_filename(path, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR))
            cohort_test_rm_rf(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

void
cohort_test_daemon_stop_keep(CohortTestDaemon *d)
{
    int status = 0;

    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    waitpid(d->pid, &status, 0);
    g_spawn_close_pid(d->pid);
    d->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("cohortd did not stop cleanly on SIGTERM: %s %d",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

void
cohort_test_daemon_stop(CohortTestDaemon *d)
{
    int status = 0;

    if (d == NULL)
        return;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, &status, 0);
        g_spawn_close_pid(d->pid);
        /* a clean stop on SIGTERM is part of the contract */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("cohortd did not stop cleanly on SIGTERM: %s %d",
                     WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (d->state_dir != NULL)
        cohort_test_rm_rf(d->state_dir);
    g_free(d->url);
    g_free(d->admin_token);
    g_free(d->state_dir);
    g_free(d->images_dir);
    g_free(d->config_path);
    g_free(d);
}

JsonNode *
cohort_test_http(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
                 const gchar *body, const gchar *content_type, guint *status, gchar **raw)
{
    return cohort_test_http_full(d, method, path, token, body, content_type, FALSE, status, raw);
}

JsonNode *
cohort_test_http_full(CohortTestDaemon *d, const gchar *method, const gchar *path,
                      const gchar *token, const gchar *body, const gchar *content_type,
                      gboolean may_fail, guint *status, gchar **raw)
{
    static SoupSession *session = NULL;
    g_autofree gchar *url = g_strconcat(d->url, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    const gchar *data;
    gsize len;

    if (session == NULL)
        session = soup_session_new_with_options("timeout", 30, NULL);
    assert_non_null(msg);
    if (token != NULL) {
        g_autofree gchar *auth = g_strconcat("Bearer ", token, NULL);
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
    }
    if (body != NULL) {
        g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(
            msg, content_type != NULL ? content_type : "application/json", bytes);
    }
    answer = soup_session_send_and_read(session, msg, NULL, &error);
    if (answer == NULL && may_fail) {
        *status = 0;
        return NULL;
    }
    if (answer == NULL)
        fail_msg("%s %s: %s", method, path, error->message);
    *status = soup_message_get_status(msg);
    data = g_bytes_get_data(answer, &len);
    if (raw != NULL)
        *raw = g_strndup(data, len);
    if (len == 0 || !json_parser_load_from_data(parser, data, (gssize)len, NULL))
        return NULL;
    return json_node_copy(json_parser_get_root(parser));
}

gchar *
cohort_test_daemon_instance_id(CohortTestDaemon *d)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *path = g_build_filename(d->state_dir, "cohort.db", NULL);
    g_autofree gchar *key_path = g_build_filename(d->state_dir, COHORT_SECRET_KEY_FILE, NULL);
    CohortSecretKey *key = cohort_secret_key_load_or_create(key_path, NULL, &error);
    g_autoptr(CohortStore) store = NULL;
    gchar *id;

    cohort_assert_no_error(error);
    store = cohort_store_open(path, key, &error);
    cohort_assert_no_error(error);
    id = cohort_store_get_instance_id(store, &error);
    cohort_assert_no_error(error);
    return id;
}

guint
cohort_test_daemon_subnets_held(CohortTestDaemon *d)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *path = g_build_filename(d->state_dir, "cohort.db", NULL);
    g_autofree gchar *key_path = g_build_filename(d->state_dir, COHORT_SECRET_KEY_FILE, NULL);
    CohortSecretKey *key = cohort_secret_key_load_or_create(key_path, NULL, &error);
    g_autoptr(CohortStore) store = NULL;
    g_autoptr(GPtrArray) subnets = NULL;

    cohort_assert_no_error(error);
    store = cohort_store_open(path, key, &error);
    cohort_assert_no_error(error);
    subnets = cohort_store_subnet_list(store, &error);
    cohort_assert_no_error(error);
    for (guint i = 0; i < subnets->len; i++)
        g_print("# the address plan still holds %s\n",
                (const gchar *)g_ptr_array_index(subnets, i));
    return subnets->len;
}

const gchar *
cohort_test_error_code(JsonNode *node)
{
    JsonObject *obj;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    obj = json_node_get_object(node);
    if (!json_object_has_member(obj, "error"))
        return NULL;
    return json_object_get_string_member(json_object_get_object_member(obj, "error"), "code");
}

JsonNode *
cohort_test_job_wait(CohortTestDaemon *d, const gchar *token, gint64 job)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/jobs/%" G_GINT64_FORMAT, job);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        guint status = 0;
        JsonNode *node = cohort_test_http(d, "GET", path, token, NULL, NULL, &status, NULL);
        const gchar *state;
        assert_int_equal(status, 200);
        state = json_object_get_string_member(json_node_get_object(node), "state");
        if (g_strcmp0(state, "done") == 0 || g_strcmp0(state, "failed") == 0)
            return node;
        json_node_unref(node);
        g_usleep(50 * 1000);
    }
    fail_msg("job %" G_GINT64_FORMAT " did not finish within 120 s", job);
    return NULL;
}

JsonNode *
cohort_test_base_install(CohortTestDaemon *d, const gchar *tmpl, const gchar *body)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/templates/%s/base", tmpl);
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) answer = NULL;
    JsonNode *job;
    guint status = 0;

    answer = cohort_test_http(d, "POST", path, d->admin_token, body, NULL, &status, &raw);
    if (status != 202)
        fail_msg("POST %s: expected 202, got %u: %s", path, status, raw);
    job = cohort_test_job_wait(d, d->admin_token,
                               json_object_get_int_member(json_node_get_object(answer), "job"));
    if (json_object_get_int_member(json_node_get_object(job), "failed") != 0) {
        g_autofree gchar *text = json_to_string(job, FALSE);
        fail_msg("installing the base of %s failed: %s", tmpl, text);
    }
    json_node_unref(job);
    return g_steal_pointer(&answer);
}
