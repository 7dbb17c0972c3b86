/* The course calendar through real HTTP on the embedded test host: the timetable's routes and
 * their errors, the capacity plan and its refusals, course-wide start and stop, and the
 * preload on a clock that runs 4 times as fast (COHORT_TEST_CLOCK_SCALE). */
#define G_LOG_DOMAIN "test-api-calendar"

#include "config.h"

#include <string.h>

#include "cohort-test-daemon.h"
#include "cohort-test.h"
#include "cohort-timetable.h"

#define SCALE 4
/* margin_s: how early the last machine is to be ready. At 2 calendar seconds (half a real
 * one) a slower machine missed it: under ASan with full stacks the last boot was ready 1-3
 * calendar seconds after the session began, though paced as it should be. */
#define CALENDAR_CONFIG                                                                            \
    "[calendar]\ninterval_s=1\nlead_s=5\nmargin_s=6\nboots_per_host=2\ngrace_minutes=0\n"

typedef struct {
    CohortTestDaemon *d;
    gint64 started; /* real Unix seconds just before cohortd started */
} Fixture;

static JsonNode *
call(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *body, guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node = cohort_test_http(d, method, path, d->admin_token, body, NULL, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    return node;
}

static const gchar *
error_message(JsonNode *node)
{
    return json_object_get_string_member(
        json_object_get_object_member(json_node_get_object(node), "error"), "message");
}

static JsonArray *
error_missing(JsonNode *node)
{
    return json_object_get_array_member(
        json_object_get_object_member(json_node_get_object(node), "error"), "missing");
}

static int
fixture_setup(void **state)
{
    Fixture *fx = g_new0(Fixture, 1);
    g_autoptr(GError) error = NULL;

    g_setenv("COHORT_TEST_CLOCK_SCALE", G_STRINGIFY(SCALE), TRUE);
    fx->started = g_get_real_time() / G_USEC_PER_SEC;
    fx->d = cohort_test_daemon_start_with_config(CALENDAR_CONFIG, &error);
    cohort_assert_no_error(error);
    json_node_unref(cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}"));
    *state = fx;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;

    cohort_test_daemon_stop(fx->d);
    g_free(fx);
    g_unsetenv("COHORT_TEST_CLOCK_SCALE");
    return 0;
}

static void
cohort_new(Fixture *fx, const gchar *slug, const gchar *extra)
{
    g_autofree gchar *body = g_strdup_printf(
        "{\"slug\":\"%s\",\"template\":\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\","
        "\"ends_at\":\"2027-06-30T00:00:00Z\",\"quota\":{\"machines\":2,\"vcpus\":4,"
        "\"memory_mib\":1024}%s}",
        slug, extra != NULL ? extra : "");
    json_node_unref(call(fx->d, "POST", "/api/v1/cohorts", body, 201));
}

static void
test_calendar_schedule_errors(void **state)
{
    Fixture *fx = *state;
    static const struct {
        const gchar *body;
        const gchar *names;
    } bad[] = {
        {"{\"rules\":[\"mon-fry 08:00-12:00\"]}", "'fry' is not a day"},
        {"{\"rules\":[\"mon-fri 12:00-08:00\"]}", "'12:00-08:00' ends before it starts"},
        {"{\"rules\":[42]}", "\"rules\"[0] must be a string"},
        {"{\"one_off\":[\"2026-02-30 09:00-10:00\"]}", "'2026-02-30' is not a date"},
        {"{\"one_off\":[\"2027-07-05 09:00-10:00\"]}", "outside the cohort's dates"},
        {"{\"rules\":[\"mon 08:00-12:00\"],\"cancel\":[\"2026-12-15\"]}", "no session on that day"},
        {"{\"rules\":[\"mon 08:00-12:00\",\"mon 11:00-13:00\"]}", "overlaps"},
        {"{\"time_zone\":\"Mars/Olympus\"}", "\"time_zone\": 'Mars/Olympus'"},
        {"{\"rulez\":[]}", "rulez"},
        {"{\"outside_hours_per_week\":200}", "outside_hours_per_week"},
    };

    cohort_new(fx, "cal-errors", NULL);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(JsonNode) answer =
            call(fx->d, "PUT", "/api/v1/cohorts/cal-errors/schedule", bad[i].body, 400);
        assert_string_equal(cohort_test_error_code(answer), "invalid-argument");
        cohort_assert_contains(error_message(answer), bad[i].names);
    }
}

static void
test_calendar_schedule_roundtrip(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) put = NULL;
    g_autoptr(JsonNode) get = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    JsonObject *o;
    JsonArray *sessions;
    JsonObject *first;

    cohort_new(fx, "cal-berlin", ",\"time_zone\":\"Europe/Berlin\"");
    put = call(fx->d, "PUT", "/api/v1/cohorts/cal-berlin/schedule",
               "{\"rules\":[\"MON-FRI 08:00-12:00\",\"mon,wed 13:30-16:30\"],"
               "\"cancel\":[\"2027-01-06\"],\"one_off\":[\"2027-01-09 09:00-11:00\"],"
               "\"outside_hours_per_week\":3}",
               200);
    get = call(fx->d, "GET", "/api/v1/cohorts/cal-berlin/schedule", NULL, 200);
    o = json_node_get_object(get);
    assert_string_equal(json_object_get_string_member(o, "time_zone"), "Europe/Berlin");
    assert_false(json_object_get_boolean_member(o, "time_zone_default"));
    assert_string_equal(json_array_get_string_element(json_object_get_array_member(o, "rules"), 0),
                        "mon-fri 08:00-12:00");
    assert_string_equal(json_array_get_string_element(json_object_get_array_member(o, "cancel"), 0),
                        "cancel 2027-01-06");
    assert_int_equal(json_object_get_int_member(o, "outside_hours_per_week"), 3);
    sessions = json_object_get_array_member(o, "sessions");
    assert_int_equal(json_array_get_length(sessions), 100);
    assert_true(json_object_get_int_member(o, "sessions_not_shown") > 0);
    first = json_array_get_object_element(sessions, 0);
    /* 08:00 or 13:30 local, +01:00 in winter and +02:00 in summer */
    assert_true(strstr(json_object_get_string_member(first, "start_local"), "T08:00:00+0") !=
                    NULL ||
                strstr(json_object_get_string_member(first, "start_local"), "T13:30:00+0") != NULL);
    assert_non_null(json_object_get_object_member(o, "next_session"));
    cohort = call(fx->d, "GET", "/api/v1/cohorts/cal-berlin", NULL, 200);
    o = json_node_get_object(cohort);
    assert_string_equal(json_object_get_string_member(o, "time_zone"), "Europe/Berlin");
    assert_int_equal(json_object_get_int_member(o, "outside_hours_per_week"), 3);
    assert_int_equal(json_object_get_int_member(json_object_get_object_member(o, "quota"),
                                                "outside_hours_per_week"),
                     3);
    /* with the rest of the quota too */
    {
        g_autoptr(JsonNode) patched =
            call(fx->d, "PATCH", "/api/v1/cohorts/cal-berlin",
                 "{\"quota\":{\"machines\":2,\"outside_hours_per_week\":5}}", 200);
        g_autoptr(JsonNode) too_many = call(fx->d, "PATCH", "/api/v1/cohorts/cal-berlin",
                                            "{\"quota\":{\"outside_hours_per_week\":169}}", 400);
        assert_int_equal(
            json_object_get_int_member(json_node_get_object(patched), "outside_hours_per_week"), 5);
        cohort_assert_contains(error_message(too_many), "outside_hours_per_week");
    }
    assert_non_null(json_object_get_object_member(o, "next_session"));
    /* no machine yet: nothing to preload; "in-session" when the suite runs during one of the
     * cohort's sessions (mon-fri 08:00-12:00, mon and wed 13:30-16:30 in Berlin), which the
     * answer's own session says */
    {
        JsonObject *preload = json_object_get_object_member(o, "preload");
        JsonObject *next = json_object_get_object_member(o, "next_session");
        g_autoptr(GDateTime) start =
            g_date_time_new_from_iso8601(json_object_get_string_member(next, "start"), NULL);
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();

        assert_non_null(start);
        assert_int_equal(json_object_get_int_member(preload, "machines"), 0);
        assert_string_equal(json_object_get_string_member(preload, "state"),
                            g_date_time_compare(now, start) >= 0 ? "in-session" : "ready");
    }
}

static void
test_calendar_plan_refused(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) plan = NULL;
    g_autoptr(JsonNode) refused = NULL;
    g_autoptr(JsonNode) patched = NULL;
    g_autoptr(JsonNode) forced = NULL;
    g_autoptr(JsonNode) fits = NULL;
    JsonObject *p;
    JsonObject *m;
    JsonObject *h;
    guint status = 0;

    cohort_new(fx, "cal-big", NULL);
    roster = cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/cal-big/roster", fx->d->admin_token,
                              "login,display_name\ncal-a,A\ncal-b,B\ncal-c,C\n", "text/csv",
                              &status, NULL);
    assert_int_equal(status, 200);
    /* a host of 2 vCPUs for 3 machines of 1 */
    json_node_unref(
        call(fx->d, "PATCH", "/api/v1/hosts/lab", "{\"vcpus\":2,\"cpu_ratio\":1.0}", 200));
    plan = call(fx->d, "GET", "/api/v1/cohorts/cal-big/plan", NULL, 200);
    p = json_node_get_object(plan);
    assert_false(json_object_get_boolean_member(p, "fits"));
    h = json_array_get_object_element(json_object_get_array_member(p, "hosts"), 0);
    assert_string_equal(json_object_get_string_member(h, "host"), "lab");
    assert_int_equal(json_object_get_int_member(h, "new_machines"), 2);
    assert_int_equal(json_object_get_int_member(h, "peak_vcpus"), 2);
    assert_int_equal(
        json_object_get_int_member(json_object_get_object_member(h, "capacity"), "allowed_vcpus"),
        2);
    m = json_array_get_object_element(json_object_get_array_member(p, "missing"), 0);
    assert_string_equal(json_object_get_string_member(m, "resource"), "placement");
    assert_int_equal(json_object_get_int_member(m, "need"), 1);
    cohort_assert_contains(json_object_get_string_member(m, "message"), "lab: vCPUs full");
    /* changing its schedule, or the cohort, is refused with what is missing */
    refused = call(fx->d, "PUT", "/api/v1/cohorts/cal-big/schedule",
                   "{\"rules\":[\"mon-fri 08:00-12:00\"]}", 409);
    assert_string_equal(cohort_test_error_code(refused), "conflict");
    cohort_assert_contains(error_message(refused), "does not fit");
    assert_int_equal(json_array_get_length(error_missing(refused)), 1);
    patched = call(fx->d, "PATCH", "/api/v1/cohorts/cal-big", "{\"title\":\"Big\"}", 409);
    assert_string_equal(json_object_get_string_member(
                            json_array_get_object_element(error_missing(patched), 0), "resource"),
                        "placement");
    forced = call(fx->d, "PUT", "/api/v1/cohorts/cal-big/schedule",
                  "{\"rules\":[\"mon-fri 08:00-12:00\"],\"force\":true}", 200);
    json_node_unref(
        call(fx->d, "PATCH", "/api/v1/cohorts/cal-big", "{\"title\":\"Big\",\"force\":true}", 200));
    /* with room again it fits */
    json_node_unref(call(fx->d, "PATCH", "/api/v1/hosts/lab", "{\"vcpus\":0}", 200));
    fits = call(fx->d, "GET", "/api/v1/cohorts/cal-big/plan", NULL, 200);
    assert_true(json_object_get_boolean_member(json_node_get_object(fits), "fits"));
    json_node_unref(call(fx->d, "PUT", "/api/v1/cohorts/cal-big/schedule",
                         "{\"rules\":[],\"force\":false}", 200));
}

static gint64
calendar_now(Fixture *fx)
{
    gint64 real = g_get_real_time() / G_USEC_PER_SEC;
    return fx->started + (real - fx->started) * SCALE;
}

static guint
count_state(JsonArray *machines, const gchar *state)
{
    guint n = 0;

    for (guint i = 0; i < json_array_get_length(machines); i++) {
        JsonObject *m = json_array_get_object_element(machines, i);
        if (g_strcmp0(json_object_get_string_member(m, "state"), state) == 0)
            n++;
    }
    return n;
}

/* A cohort of 3 stopped machines, provisioned then stopped by a course-wide stop. */
static void
stopped_cohort(Fixture *fx, const gchar *slug, const gchar *prefix)
{
    g_autofree gchar *roster_path = g_strdup_printf("/api/v1/cohorts/%s/roster", slug);
    g_autofree gchar *provision_path = g_strdup_printf("/api/v1/cohorts/%s/provision", slug);
    g_autofree gchar *stop_path = g_strdup_printf("/api/v1/cohorts/%s/stop", slug);
    g_autofree gchar *csv =
        g_strdup_printf("login,display_name\n%s-a,A\n%s-b,B\n%s-c,C\n", prefix, prefix, prefix);
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) stop = NULL;
    g_autoptr(JsonNode) done = NULL;
    guint status = 0;

    cohort_new(fx, slug, NULL);
    roster = cohort_test_http(fx->d, "PUT", roster_path, fx->d->admin_token, csv, "text/csv",
                              &status, NULL);
    assert_int_equal(status, 200);
    job = call(fx->d, "POST", provision_path, NULL, 202);
    json_node_unref(cohort_test_job_wait(
        fx->d, fx->d->admin_token, json_object_get_int_member(json_node_get_object(job), "job")));
    /* course-wide stop: a job of the three running machines */
    stop = call(fx->d, "POST", stop_path, NULL, 202);
    assert_int_equal(json_object_get_int_member(json_node_get_object(stop), "machines"), 3);
    done = cohort_test_job_wait(fx->d, fx->d->admin_token,
                                json_object_get_int_member(json_node_get_object(stop), "job"));
    assert_string_equal(json_object_get_string_member(json_node_get_object(done), "state"), "done");
    assert_string_equal(json_object_get_string_member(json_node_get_object(done), "kind"), "stop");
    assert_int_equal(json_object_get_int_member(json_node_get_object(done), "done"), 3);
}

static guint
running_in(Fixture *fx, const gchar *slug, const gchar *state)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines?cohort=%s", slug);
    g_autoptr(JsonNode) list = call(fx->d, "GET", path, NULL, 200);
    return count_state(json_node_get_array(list), state);
}

/* The preload's "max_booting_per_host" of @slug, in its session. */
static gint64
max_booting(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s", slug);
    g_autoptr(JsonNode) c = call(fx->d, "GET", path, NULL, 200);
    JsonObject *pre = json_object_get_object_member(json_node_get_object(c), "preload");

    g_message("%s: preload %s, max %" G_GINT64_FORMAT " booting on the host, last ready %s", slug,
              json_object_get_string_member(pre, "state"),
              json_object_get_int_member(pre, "max_booting_per_host"),
              json_object_get_string_member_with_default(pre, "last_ready", "-"));
    return json_object_get_int_member(pre, "max_booting_per_host");
}

/* A one-off session a minute or so ahead on the fast clock, of two cohorts on the one host:
 * their stopped machines are ready at its start, never more than 2 booting at once on the
 * host (both cohorts together), and shut down after it. */
static void
test_calendar_preload(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) put = NULL;
    g_autoptr(GDateTime) at = NULL;
    g_autofree gchar *day = NULL;
    g_autofree gchar *entry = NULL;
    g_autofree gchar *body = NULL;
    gint64 session;
    guint max_starting = 0;
    gboolean all_ready = FALSE;
    gboolean all_stopped = FALSE;
    gboolean checked = FALSE;
    gint64 ready_at = 0;

    stopped_cohort(fx, "cal-pre", "pre");
    stopped_cohort(fx, "cal-pre2", "pre2");

    /* the next whole minute at least 40 calendar seconds ahead, for one minute */
    session = (calendar_now(fx) + 40 + 59) / 60 * 60;
    at = g_date_time_new_from_unix_utc(session);
    day = g_date_time_format(at, "%Y-%m-%d %H:%M");
    {
        g_autoptr(GDateTime) end = g_date_time_add_minutes(at, 1);
        g_autofree gchar *end_text = g_date_time_format(end, "%H:%M");
        entry = g_strdup_printf("%s-%s", day, end_text);
    }
    body = g_strdup_printf("{\"one_off\":[\"%s\"]}", entry);
    put = call(fx->d, "PUT", "/api/v1/cohorts/cal-pre/schedule", body, 200);
    json_node_unref(call(fx->d, "PUT", "/api/v1/cohorts/cal-pre2/schedule", body, 200));
    g_message("session %s (calendar now %" G_GINT64_FORMAT " s before it)", entry,
              session - calendar_now(fx));

    /* until the session's end plus a little: what the machines do */
    for (guint i = 0; i < 400 && !all_stopped; i++) {
        guint running =
            running_in(fx, "cal-pre", "running") + running_in(fx, "cal-pre2", "running");
        guint starting =
            running_in(fx, "cal-pre", "starting") + running_in(fx, "cal-pre2", "starting");
        gint64 now = calendar_now(fx);

        max_starting = MAX(max_starting, starting);
        if (!all_ready && running == 6) {
            all_ready = TRUE;
            ready_at = now;
        }
        /* once in the session: what the daemon counted, both cohorts on the one host */
        if (all_ready && !checked && now >= session + 8 && now < session + 50) {
            assert_true(max_booting(fx, "cal-pre") <= 2);
            assert_true(max_booting(fx, "cal-pre2") <= 2);
            checked = TRUE;
        }
        if (all_ready && now >= session + 60 &&
            running_in(fx, "cal-pre", "stopped") + running_in(fx, "cal-pre2", "stopped") == 6)
            all_stopped = TRUE;
        g_usleep(G_USEC_PER_SEC / 4);
    }
    assert_true(checked);
    assert_true(all_ready);
    g_message("all 6 ready %" G_GINT64_FORMAT " calendar s before the session", session - ready_at);
    assert_true(ready_at <= session);
    assert_true(max_starting <= 2);
    assert_true(all_stopped);
    {
        g_autoptr(JsonNode) audit = call(fx->d, "GET", "/api/v1/audit?limit=50", NULL, 200);
        g_autofree gchar *text = json_to_string(audit, FALSE);
        cohort_assert_contains(text, "machine.session-stop");
    }
    /* course-wide start: a job of the three stopped machines */
    {
        g_autoptr(JsonNode) start = call(fx->d, "POST", "/api/v1/cohorts/cal-pre/start", NULL, 202);
        g_autoptr(JsonNode) started =
            cohort_test_job_wait(fx->d, fx->d->admin_token,
                                 json_object_get_int_member(json_node_get_object(start), "job"));
        assert_string_equal(json_object_get_string_member(json_node_get_object(started), "kind"),
                            "start");
        assert_int_equal(json_object_get_int_member(json_node_get_object(started), "done"), 3);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_schedule_errors),
        cmocka_unit_test(test_calendar_schedule_roundtrip),
        cmocka_unit_test(test_calendar_plan_refused),
        cmocka_unit_test(test_calendar_preload),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
