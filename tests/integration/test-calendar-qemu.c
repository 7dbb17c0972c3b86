/* The course calendar on the real local libvirtd (QEMU under TCG): a session a minute ahead
 * (the calendar's clock moved by COHORT_TEST_CLOCK_OFFSET_S, running at real speed), whose
 * stopped machines (Cohort's test guest, tests/guest/) are started before it, never more than
 * boots_per_host at once, and are ready (their guest agents connected) at its start; after it they
 * are shut down, as libvirt sees. A second cohort whose plan does not fit the host is refused with
 * what is missing. Prints the preload's figures. */
#define G_LOG_DOMAIN "test-calendar-qemu"

#include "config.h"

#include <string.h>

#include "cohort-names.h"
#include "cohort-test-guest.h"
#include "cohort-test-qemu-cohort.h"
#include "cohort-test.h"

#define TRAINEES 4
#define BOOTS 2
/* the lead time before any measurement and the margin: generous, as two guests booting at
 * once under TCG on two shared cores take 10-20 s to be ready */
#define LEAD_S 15
#define MARGIN_S 10
#define AHEAD_S 60 /* the session, seconds ahead of cohortd's restart */
#define CALENDAR_CONFIG                                                                            \
    "stop_timeout_s=3\nreconcile_interval_s=2\n"                                                   \
    "[calendar]\ninterval_s=1\nlead_s=15\nmargin_s=10\nboots_per_host=2\ngrace_minutes=0\n"

static CohortTestGuest *guest;

static int
setup(void **state)
{
    g_autofree gchar *config = NULL;

    g_unsetenv("COHORT_TEST_CLOCK_OFFSET_S");
    guest = cohort_test_guest_new();
    config = g_strdup_printf("[daemon]\ntemplates_dir=%s\n" CALENDAR_CONFIG, guest->templates_dir);
    *state = cohort_test_qemu_cohort_setup(config);
    return 0;
}

static int
teardown(void **state)
{
    cohort_test_qemu_cohort_teardown(*state);
    cohort_test_guest_free(guest);
    guest = NULL;
    g_unsetenv("COHORT_TEST_CLOCK_OFFSET_S");
    return 0;
}

/* Active tagged domains of the cohort, as libvirt says. */
static guint
active_domains(CohortTestQemuCohort *fx, const gchar *prefix)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(fx->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    guint count = 0;

    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        count += g_str_has_prefix(virDomainGetName(doms[i]), prefix);
        virDomainFree(doms[i]);
    }
    free(doms);
    return count;
}

static JsonNode *
job_run(CohortTestQemuCohort *fx, const gchar *token, const gchar *path)
{
    g_autoptr(JsonNode) started =
        cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
    return cohort_test_job_wait(fx->d, token,
                                json_object_get_int_member(json_node_get_object(started), "job"));
}

static gint64
real_now(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static void
test_calendar_qemu_preload(void **state)
{
    CohortTestQemuCohort *fx = *state;
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, fx->slug, "--", NULL);
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) stopped = NULL;
    g_autoptr(JsonNode) provisioned = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *body = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *offset = NULL;
    g_autofree gchar *entry = NULL;
    GString *csv = g_string_new("login,display_name\n");
    const gchar *token;
    gint64 minute;
    gint64 off;
    gint64 session;
    gint64 started_at[TRAINEES + 1] = {0};
    gint64 running_at[TRAINEES + 1] = {0};
    guint max_starting = 0;
    gint64 all_ready = 0;
    gint64 all_off = 0;
    gint64 first_start = 0;
    gint64 last_ready = 0;
    gint64 daemon_max = 0;

    base = cohort_test_base_install(fx->d, "guest", "{\"blank\":true}");
    trainer = cohort_test_http_expect(
        fx->d, "POST", "/api/v1/users", fx->d->admin_token,
        "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", NULL, 201);
    token = json_object_get_string_member(json_node_get_object(trainer), "token");
    body = g_strdup_printf("{\"slug\":\"%s\",\"template\":\"guest\",\"starts_at\":"
                           "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                           fx->slug);
    json_node_unref(
        cohort_test_http_expect(fx->d, "POST", "/api/v1/cohorts", token, body, NULL, 201));
    for (guint i = 1; i <= TRAINEES; i++)
        g_string_append_printf(csv, "cal-%u,Trainee %u\n", i, i);
    path = g_strdup_printf("/api/v1/cohorts/%s/roster", fx->slug);
    json_node_unref(cohort_test_http_expect(fx->d, "PUT", path, token, csv->str, "text/csv", 200));
    g_string_free(csv, TRUE);
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/provision", fx->slug);
    provisioned = job_run(fx, token, path);
    assert_int_equal(json_object_get_int_member(json_node_get_object(provisioned), "done"),
                     TRAINEES);
    assert_int_equal(active_domains(fx, prefix), TRAINEES);
    /* course-wide stop, then libvirt says every domain is off */
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/stop", fx->slug);
    stopped = job_run(fx, token, path);
    assert_string_equal(json_object_get_string_member(json_node_get_object(stopped), "kind"),
                        "stop");
    assert_int_equal(json_object_get_int_member(json_node_get_object(stopped), "done"), TRAINEES);
    assert_int_equal(active_domains(fx, prefix), 0);

    /* cohortd again, its calendar AHEAD_S before a whole minute */
    cohort_test_daemon_stop_keep(fx->d);
    minute = (real_now() + 60) / 60 * 60 + 60;
    off = minute - AHEAD_S - real_now();
    offset = g_strdup_printf("%" G_GINT64_FORMAT, off);
    g_setenv("COHORT_TEST_CLOCK_OFFSET_S", offset, TRUE);
    assert_true(cohort_test_daemon_spawn(fx->d, NULL, &error));
    cohort_assert_no_error(error);
    session = minute;
    {
        g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc(session);
        g_autoptr(GDateTime) end = g_date_time_add_minutes(at, 1);
        g_autofree gchar *a = g_date_time_format(at, "%Y-%m-%d %H:%M");
        g_autofree gchar *b = g_date_time_format(end, "%H:%M");
        entry = g_strdup_printf("%s-%s", a, b);
    }
    g_free(body);
    body = g_strdup_printf("{\"one_off\":[\"%s\"]}", entry);
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/schedule", fx->slug);
    json_node_unref(cohort_test_http_expect(fx->d, "PUT", path, token, body, NULL, 200));
    g_message("session %s UTC on the calendar's clock; it is %" G_GINT64_FORMAT " s ahead", entry,
              session - (real_now() + off));

    /* until the machines are off after the session */
    g_free(path);
    path = g_strdup_printf("/api/v1/machines?cohort=%s", fx->slug);
    for (guint i = 0; i < 1000 && all_off == 0; i++) {
        g_autoptr(JsonNode) list =
            cohort_test_http_expect(fx->d, "GET", path, token, NULL, NULL, 200);
        JsonArray *a = json_node_get_array(list);
        gint64 now = real_now() + off;
        guint starting = 0;
        guint running = 0;
        guint ready = 0;

        for (guint j = 0; j < json_array_get_length(a) && j < TRAINEES; j++) {
            JsonObject *m = json_array_get_object_element(a, j);
            const gchar *st = json_object_get_string_member(m, "state");
            if (g_strcmp0(st, "starting") == 0) {
                starting++;
                if (started_at[j] == 0)
                    started_at[j] = now;
            }
            if (g_strcmp0(st, "running") == 0) {
                running++;
                if (running_at[j] == 0)
                    running_at[j] = now;
                if (started_at[j] == 0)
                    started_at[j] = now;
                ready += json_object_get_boolean_member_with_default(m, "ready", FALSE);
            }
        }
        max_starting = MAX(max_starting, starting);
        if (all_ready == 0 && ready == TRAINEES) {
            all_ready = now;
            /* libvirt agrees */
            assert_int_equal(active_domains(fx, prefix), TRAINEES);
        }
        /* what the daemon measured, once the session began */
        if (first_start == 0 && all_ready > 0 && now >= session + 1) {
            g_autofree gchar *cpath = g_strdup_printf("/api/v1/cohorts/%s", fx->slug);
            g_autoptr(JsonNode) c =
                cohort_test_http_expect(fx->d, "GET", cpath, token, NULL, NULL, 200);
            JsonObject *pre = json_object_get_object_member(json_node_get_object(c), "preload");
            g_autoptr(GDateTime) f = g_date_time_new_from_iso8601(
                json_object_get_string_member_with_default(pre, "first_start", ""), NULL);
            g_autoptr(GDateTime) l = g_date_time_new_from_iso8601(
                json_object_get_string_member_with_default(pre, "last_ready", ""), NULL);

            g_message("preload: %s", json_object_get_string_member(pre, "state"));
            assert_string_equal(json_object_get_string_member(pre, "state"), "in-session");
            daemon_max = json_object_get_int_member(pre, "max_booting_per_host");
            first_start = f != NULL ? g_date_time_to_unix(f) : 1;
            last_ready = l != NULL ? g_date_time_to_unix(l) : 0;
        }
        if (all_ready > 0 && now >= session + 60 && active_domains(fx, prefix) == 0)
            all_off = now;
        g_usleep(G_USEC_PER_SEC / 5);
    }
    g_message("FIGURES: %u machines, boots_per_host %d; first start %" G_GINT64_FORMAT
              " s before the session; all ready (seen by polling) %" G_GINT64_FORMAT
              " s before; the daemon's last ready %" G_GINT64_FORMAT
              " s before; at most %u seen starting at once (daemon: %" G_GINT64_FORMAT
              "); off %" G_GINT64_FORMAT " s after the session's end",
              TRAINEES, BOOTS, session - first_start, session - all_ready, session - last_ready,
              max_starting, daemon_max, all_off - (session + 60));
    for (guint j = 0; j < TRAINEES; j++)
        g_message("FIGURES: machine %u: starting seen %" G_GINT64_FORMAT
                  " s before, running seen %" G_GINT64_FORMAT " s before",
                  j + 1, session - started_at[j], session - running_at[j]);
    assert_true(all_ready > 0);
    assert_true(all_ready <= session);
    assert_true(last_ready > 0 && last_ready <= session);
    assert_true(first_start >= session - MARGIN_S - 2 * LEAD_S - 2);
    assert_true(max_starting <= BOOTS);
    assert_true(daemon_max <= BOOTS);
    assert_true(all_off > 0);

    /* a second cohort on the same host whose 62 trainees do not fit beside these (16 vCPUs x
     * cpu_ratio 4): refused */
    {
        g_autofree gchar *slug2 = g_strconcat(fx->slug, "-b", NULL);
        g_autofree gchar *b2 = g_strdup_printf(
            "{\"slug\":\"%s\",\"template\":\"guest\",\"starts_at\":\"2026-01-01T00:00:00Z\","
            "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
            slug2);
        g_autofree gchar *rpath = g_strdup_printf("/api/v1/cohorts/%s/roster", slug2);
        g_autofree gchar *spath = g_strdup_printf("/api/v1/cohorts/%s/schedule", slug2);
        g_autofree gchar *ppath = g_strdup_printf("/api/v1/cohorts/%s/plan", slug2);
        g_autoptr(JsonNode) plan = NULL;
        g_autoptr(JsonNode) refused = NULL;
        GString *csv2 = g_string_new("login,display_name\n");
        JsonObject *err;
        JsonObject *m;

        json_node_unref(
            cohort_test_http_expect(fx->d, "POST", "/api/v1/cohorts", token, b2, NULL, 201));
        for (guint i = 1; i <= 62; i++)
            g_string_append_printf(csv2, "calb-%u,B %u\n", i, i);
        json_node_unref(
            cohort_test_http_expect(fx->d, "PUT", rpath, token, csv2->str, "text/csv", 200));
        g_string_free(csv2, TRUE);
        plan = cohort_test_http_expect(fx->d, "GET", ppath, token, NULL, NULL, 200);
        assert_false(json_object_get_boolean_member(json_node_get_object(plan), "fits"));
        refused = cohort_test_http_expect(fx->d, "PUT", spath, token,
                                          "{\"rules\":[\"mon-fri 08:00-12:00\"]}", NULL, 409);
        err = json_object_get_object_member(json_node_get_object(refused), "error");
        assert_string_equal(json_object_get_string_member(err, "code"), "conflict");
        m = json_array_get_object_element(json_object_get_array_member(err, "missing"), 0);
        assert_string_equal(json_object_get_string_member(m, "resource"), "placement");
        g_message("refused: %s", json_object_get_string_member(err, "message"));
        /* 64 vCPUs allowed, 4 held: at least 2 of the 62 fit nowhere (the pool may take fewer) */
        assert_true(json_object_get_int_member(m, "need") >= 2);
        cohort_assert_contains(json_object_get_string_member(m, "message"), "fit on no host");
    }
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/reclaim", fx->slug);
    json_node_unref(job_run(fx, token, path));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calendar_qemu_preload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
