/* The console in the browser, on the real local libvirtd: 20 machines, 20 websockets at once
 * through cohortd, each joined to its machine's VNC server through libvirt (each gets the RFB
 * banner); a ticket works once; a machine that stops closes its console. */
#define G_LOG_DOMAIN "test-console-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "cohort-test-daemon.h"
#include "cohort-test-qemu-cohort.h"
#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision.h"
#include "cohort-virt.h"

#define CONSOLES 20

typedef CohortTestQemuCohort Fixture;

static int
fixture_setup(void **state)
{
    /* tiny's guest ignores ACPI: a stop is a forced one, after stop_timeout_s */
    *state = cohort_test_qemu_cohort_setup("[daemon]\nstop_timeout_s=2\n");
    return 0;
}

static int
fixture_teardown(void **state)
{
    cohort_test_qemu_cohort_teardown(*state);
    return 0;
}

/* One console as a browser holds it. */
typedef struct {
    SoupWebsocketConnection *ws;
    GError *error;
    gchar *banner; /* the first frame, when it came */
    gboolean closed;
    gboolean connecting;
} Console;

static void
console_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
    Console *c = user_data;
    gsize len = 0;
    const gchar *data = g_bytes_get_data(message, &len);

    if (c->banner == NULL)
        c->banner = g_strndup(data, MIN(len, 12));
}

static void
console_closed(SoupWebsocketConnection *ws, gpointer user_data)
{
    Console *c = user_data;
    c->closed = TRUE;
}

static void
console_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Console *c = user_data;

    c->connecting = FALSE;
    c->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &c->error);
    if (c->ws == NULL)
        return;
    g_signal_connect(c->ws, "message", G_CALLBACK(console_message), c);
    g_signal_connect(c->ws, "closed", G_CALLBACK(console_closed), c);
}

static void
console_open(SoupSession *session, CohortTestDaemon *d, const gchar *websocket, Console *c)
{
    g_autofree gchar *url = g_strconcat(d->url, websocket, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    const char *protocols[] = {"binary", NULL};

    c->connecting = TRUE;
    soup_session_websocket_connect_async(session, msg, NULL, (char **)protocols, G_PRIORITY_DEFAULT,
                                         NULL, console_connected, c);
}

/* Runs the main context until @done says so, for at most @timeout_s (a wait, not a figure:
 * what is waited for happens in a few seconds, the bound only ends a broken run). */
static gboolean
wait_for(gboolean (*done)(gpointer), gpointer data, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    while (!done(data)) {
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
    return TRUE;
}

static gboolean
all_bannered(gpointer data)
{
    Console *consoles = data;
    for (guint i = 0; i < CONSOLES; i++) {
        if (consoles[i].connecting ||
            (consoles[i].ws != NULL && consoles[i].banner == NULL && !consoles[i].closed))
            return FALSE;
    }
    return TRUE;
}

static gboolean
first_closed(gpointer data)
{
    Console *c = data;
    return c->closed;
}

static gchar *
console_websocket(CohortTestDaemon *d, const gchar *token, gint64 id)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
    g_autoptr(JsonNode) console = cohort_test_http_expect(d, "GET", path, token, NULL, NULL, 200);
    const gchar *websocket =
        json_object_get_string_member(json_node_get_object(console), "websocket");

    assert_non_null(websocket);
    assert_true(g_str_has_prefix(websocket, "/api/v1/console/"));
    return g_strdup(websocket);
}

static int
compare_doubles(const void *a, const void *b)
{
    gdouble x = *(const gdouble *)a;
    gdouble y = *(const gdouble *)b;
    return (x > y) - (x < y);
}

static gboolean
metric_at_most(CohortTestDaemon *d, const gchar *name, guint64 most)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    g_autofree gchar *needle = g_strconcat("\n", name, " ", NULL);
    g_autoptr(JsonNode) none =
        cohort_test_http(d, "GET", "/metrics", NULL, NULL, NULL, &status, &raw);
    const gchar *at = strstr(raw, needle);

    assert_non_null(at);
    return g_ascii_strtoull(at + strlen(needle), NULL, 10) <= most;
}

static void
test_console_qemu_websockets(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(JsonNode) reclaim = NULL;
    g_autoptr(SoupSession) session = soup_session_new();
    g_autofree gchar *body = NULL;
    g_autofree gchar *path = NULL;
    GString *csv = g_string_new("login,display_name\n");
    Console consoles[CONSOLES] = {0};
    JsonArray *machines;
    const gchar *token;
    guint bannered = 0;
    gint64 t0;

    json_node_unref(cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}"));
    trainer = cohort_test_http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                                      "{\"login\":\"trainer1\",\"role\":\"trainer\"}", NULL, 201);
    token = json_object_get_string_member(json_node_get_object(trainer), "token");
    body = g_strdup_printf("{\"slug\":\"%s\",\"template\":\"tiny\",\"starts_at\":"
                           "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                           fx->slug);
    json_node_unref(
        cohort_test_http_expect(fx->d, "POST", "/api/v1/cohorts", token, body, NULL, 201));
    for (guint i = 1; i <= CONSOLES; i++)
        g_string_append_printf(csv, "console-%u,Console %u\n", i, i);
    path = g_strdup_printf("/api/v1/cohorts/%s/roster", fx->slug);
    json_node_unref(cohort_test_http_expect(fx->d, "PUT", path, token, csv->str, "text/csv", 200));
    g_string_free(csv, TRUE);
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/provision", fx->slug);
    started = cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
    job = cohort_test_job_wait(fx->d, token,
                               json_object_get_int_member(json_node_get_object(started), "job"));
    assert_int_equal(json_object_get_int_member(json_node_get_object(job), "done"), CONSOLES);
    g_free(path);
    path = g_strdup_printf("/api/v1/machines?cohort=%s", fx->slug);
    list = cohort_test_http_expect(fx->d, "GET", path, token, NULL, NULL, 200);
    machines = json_node_get_array(list);
    assert_int_equal(json_array_get_length(machines), CONSOLES);

    /* 20 at once */
    t0 = g_get_monotonic_time();
    for (guint i = 0; i < CONSOLES; i++) {
        gint64 id = json_object_get_int_member(json_array_get_object_element(machines, i), "id");
        g_autofree gchar *websocket = console_websocket(fx->d, token, id);
        console_open(session, fx->d, websocket, &consoles[i]);
    }
    assert_true(wait_for(all_bannered, consoles, 60));
    for (guint i = 0; i < CONSOLES; i++) {
        if (consoles[i].error != NULL)
            fail_msg("console %u: %s", i, consoles[i].error->message);
        if (consoles[i].banner == NULL)
            fail_msg("console %u closed without the RFB banner", i);
        assert_true(g_str_has_prefix(consoles[i].banner, "RFB 003."));
        bannered++;
    }
    g_print("# figures: %u consoles through cohortd, all with their RFB banner in %.2f s\n",
            bannered, (g_get_monotonic_time() - t0) / 1e6);
    assert_false(metric_at_most(fx->d, "cohort_consoles_open", CONSOLES - 1));
    /* what the API answers while they are open: a figure for the README (bench/ compares) */
    {
        gdouble ms[200];
        for (guint i = 0; i < G_N_ELEMENTS(ms); i++) {
            gint64 start = g_get_monotonic_time();
            json_node_unref(cohort_test_http_expect(fx->d, "GET", path, token, NULL, NULL, 200));
            ms[i] = (g_get_monotonic_time() - start) / 1000.0;
            g_main_context_iteration(NULL, FALSE);
        }
        qsort(ms, G_N_ELEMENTS(ms), sizeof(ms[0]), compare_doubles);
        g_print("# figures: with %u consoles open, GET /api/v1/machines?cohort= (%u machines) "
                "p50 %.1f ms, p99 %.1f ms over %u requests\n",
                CONSOLES, CONSOLES, ms[G_N_ELEMENTS(ms) / 2], ms[G_N_ELEMENTS(ms) * 99 / 100],
                (guint)G_N_ELEMENTS(ms));
    }

    /* a ticket works once */
    {
        gint64 id = json_object_get_int_member(json_array_get_object_element(machines, 0), "id");
        g_autofree gchar *websocket = console_websocket(fx->d, token, id);
        Console again = {0};
        Console used = {0};
        guint status = 0;
        g_autofree gchar *raw = NULL;
        g_autoptr(JsonNode) plain = NULL;

        /* a plain request says whether it works, without spending it */
        plain = cohort_test_http(fx->d, "GET", websocket, NULL, NULL, NULL, &status, &raw);
        assert_int_equal(status, 400);
        cohort_assert_contains(raw, "opens as a websocket");
        console_open(session, fx->d, websocket, &again);
        while (again.connecting)
            g_main_context_iteration(NULL, TRUE);
        cohort_assert_no_error(again.error);
        console_open(session, fx->d, websocket, &used);
        while (used.connecting)
            g_main_context_iteration(NULL, TRUE);
        assert_non_null(used.error);
        assert_null(used.ws);
        g_clear_error(&used.error);
        soup_websocket_connection_close(again.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
        while (!again.closed)
            g_main_context_iteration(NULL, TRUE);
        g_clear_object(&again.ws);
        g_free(again.banner);
    }

    /* a machine that stops closes its console */
    {
        gint64 id = json_object_get_int_member(json_array_get_object_element(machines, 0), "id");
        g_autofree gchar *stop = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/stop", id);
        json_node_unref(cohort_test_http_expect(fx->d, "POST", stop, token, NULL, NULL, 202));
        if (!wait_for(first_closed, &consoles[0], 90))
            fail_msg("the console of a machine that stopped stayed open");
    }

    for (guint i = 0; i < CONSOLES; i++) {
        if (consoles[i].ws != NULL && !consoles[i].closed)
            soup_websocket_connection_close(consoles[i].ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    }
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/reclaim", fx->slug);
    reclaim = cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
    json_node_unref(cohort_test_job_wait(
        fx->d, token, json_object_get_int_member(json_node_get_object(reclaim), "job")));
    for (guint i = 0; i < CONSOLES; i++) {
        while (consoles[i].ws != NULL && !consoles[i].closed)
            g_main_context_iteration(NULL, TRUE);
        g_clear_object(&consoles[i].ws);
        g_free(consoles[i].banner);
        g_clear_error(&consoles[i].error);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_console_qemu_websockets, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
