/* The calendar's view of a cohort (what trainers see: the next session, the preload's state,
 * when it begins and its ETA) and the lead time it learns, on an injected clock and a store in
 * memory; and the store's calendar tables. */
#define G_LOG_DOMAIN "test-calendar"

#include "config.h"

#include "cohort-calendar.h"
#include "cohort-error.h"
#include "cohort-store-calendar.h"
#include "cohort-test.h"

typedef struct {
    CohortStore *store;
    CohortCalendar *cal;
    gint64 now;
    gint64 cohort;
    gint64 host;
    gint64 host2;
    gint64 user;
} Fixture;

static gint64
clock_func(gpointer user_data)
{
    return ((Fixture *)user_data)->now;
}

static gint64
at(const gchar *text)
{
    gint64 t = 0;
    assert_true(cohort_timetable_parse_time(text, &t));
    return t;
}

static gint64
add_host(Fixture *fx, const gchar *name)
{
    g_autoptr(GError) error = NULL;
    CohortHostRow row = {.name = (gchar *)name,
                         .uri = (gchar *)"test:///default",
                         .pool = (gchar *)"default",
                         .vcpus = 32,
                         .memory_mib = 65536,
                         .state = (gchar *)"up"};

    assert_true(cohort_store_host_insert(fx->store, &row, &error));
    cohort_assert_no_error(error);
    g_free(row.created_at);
    return row.id;
}

static void
add_machines(Fixture *fx, gint64 host, guint n, const gchar *state, guint first)
{
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *name = g_strdup_printf("cohort-cal--t-%u", first + i);
        CohortMachineRow row = {.name = name,
                                .cohort_id = fx->cohort,
                                .user_id = fx->user,
                                .host_id = host,
                                .template_name = (gchar *)"tiny",
                                .idx = first + i,
                                .state = (gchar *)state,
                                .vcpus = 1,
                                .memory_mib = 64};
        assert_true(cohort_store_machine_insert(fx->store, &row, NULL, &error));
        cohort_assert_no_error(error);
        g_free(row.created_at);
    }
}

static int
setup(void **state)
{
    Fixture *fx = g_new0(Fixture, 1);
    g_autoptr(GError) error = NULL;
    CohortCalendarSettings settings = {.time_zone = (gchar *)"Europe/Berlin",
                                       .boots_per_host = 4,
                                       .grace_minutes = 15,
                                       .lead_s = 120,
                                       .margin_s = 60,
                                       .interval_s = 30};
    CohortUserRow user = {
        .login = (gchar *)"trainer", .display_name = (gchar *)"T", .role = (gchar *)"trainer"};
    CohortCohortRow cohort = {.slug = (gchar *)"cal",
                              .title = (gchar *)"Cal",
                              .template_name = (gchar *)"tiny",
                              .starts_at = (gchar *)"2027-03-22T00:00:00Z",
                              .ends_at = (gchar *)"2027-04-03T00:00:00Z",
                              .quota_machines = 1,
                              .quota_vcpus = 1,
                              .quota_memory_mib = 64};

    fx->store = cohort_store_open(":memory:", cohort_secret_key_new_random(NULL), &error);
    cohort_assert_no_error(error);
    assert_true(cohort_store_user_insert(fx->store, &user, &error));
    g_free(user.created_at);
    fx->user = user.id;
    cohort.trainer_id = user.id;
    assert_true(cohort_store_cohort_insert(fx->store, &cohort, &error));
    cohort_assert_no_error(error);
    g_free(cohort.state);
    g_free(cohort.created_at);
    fx->cohort = cohort.id;
    fx->host = add_host(fx, "lab1");
    fx->host2 = add_host(fx, "lab2");
    fx->cal = cohort_calendar_new(&settings);
    cohort_calendar_set_clock(fx->cal, clock_func, fx);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    Fixture *fx = *state;

    cohort_calendar_free(fx->cal);
    cohort_store_free(fx->store);
    g_free(fx);
    return 0;
}

static void
schedule(Fixture *fx, const gchar *kind, const gchar *entry)
{
    g_autoptr(GPtrArray) rows =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_schedule_entry_row_free);
    g_autoptr(GError) error = NULL;
    CohortScheduleEntryRow *row = g_new0(CohortScheduleEntryRow, 1);

    row->kind = g_strdup(kind);
    row->entry = g_strdup(entry);
    g_ptr_array_add(rows, row);
    assert_true(cohort_store_schedule_replace(fx->store, fx->cohort, rows, &error));
    cohort_assert_no_error(error);
}

static CohortCohortRow *
cohort(Fixture *fx)
{
    return cohort_store_cohort_get_by_id(fx->store, fx->cohort, NULL);
}

/* Monday 29 March 2027, after Berlin's change to summer time: 08:00 is 06:00Z. 10 stopped
 * machines on one host, 4 at a time, 120 s each, the last 60 s early: the first starts
 * 3 x 120 + 60 s before. */
static void
test_calendar_status_waiting(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortCohortRow) c = NULL;
    CohortCalendarStatus st;
    g_autoptr(GError) error = NULL;

    schedule(fx, "rule", "mon-fri 08:00-12:00");
    add_machines(fx, fx->host, 10, "stopped", 1);
    c = cohort(fx);
    fx->now = at("2027-03-28T12:00:00Z"); /* Sunday */
    assert_true(cohort_calendar_status(fx->cal, fx->store, c, &st, &error));
    cohort_assert_no_error(error);
    assert_string_equal(st.state, "waiting");
    assert_int_equal(st.session_start, at("2027-03-29T06:00:00Z"));
    assert_int_equal(st.begin_at, at("2027-03-29T06:00:00Z") - 3 * 120 - 60);
    assert_int_equal(st.eta, at("2027-03-29T06:00:00Z") - 60);
    assert_int_equal(st.machines, 10);
    /* once it has begun: "starting", and the ETA from now */
    fx->now = st.begin_at + 10;
    assert_true(cohort_calendar_status(fx->cal, fx->store, c, &st, &error));
    assert_string_equal(st.state, "starting");
    assert_int_equal(st.eta, fx->now + 3 * 120);
    /* in the session */
    fx->now = at("2027-03-29T07:00:00Z");
    assert_true(cohort_calendar_status(fx->cal, fx->store, c, &st, &error));
    assert_string_equal(st.state, "in-session");
    /* after the last session, none */
    fx->now = at("2027-04-02T12:00:00Z");
    assert_true(cohort_calendar_status(fx->cal, fx->store, c, &st, &error));
    assert_string_equal(st.state, "none");
}

/* Two hosts pace apart: the busier one begins earlier; running machines are ready. */
static void
test_calendar_status_hosts(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortCohortRow) c = NULL;
    CohortCalendarStatus st;

    schedule(fx, "one-off", "2027-03-24 09:00-11:00"); /* 08:00Z, Berlin winter time */
    add_machines(fx, fx->host, 9, "stopped", 1);
    add_machines(fx, fx->host2, 2, "stopped", 10);
    add_machines(fx, fx->host2, 2, "running", 12);
    c = cohort(fx);
    fx->now = at("2027-03-23T12:00:00Z");
    assert_true(cohort_calendar_status(fx->cal, fx->store, c, &st, NULL));
    assert_int_equal(st.session_start, at("2027-03-24T08:00:00Z"));
    assert_int_equal(st.begin_at, at("2027-03-24T08:00:00Z") - 60 - 3 * 120);
    assert_int_equal(st.machines, 13);
    assert_int_equal(st.ready, 2);
}

/* The lead time is the median of the last measurements per template and host. */
static void
test_calendar_lead_learnt(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) kept = NULL;
    const gdouble samples[] = {30, 40, 35, 300, 38};

    assert_true(cohort_calendar_lead_s(fx->cal, fx->store, "tiny", fx->host) == 120.0);
    for (guint i = 0; i < G_N_ELEMENTS(samples); i++)
        assert_true(cohort_store_boot_duration_add(fx->store, "tiny", fx->host, samples[i],
                                                   COHORT_CALENDAR_SAMPLES, &error));
    assert_true(cohort_calendar_lead_s(fx->cal, fx->store, "tiny", fx->host) == 38.0);
    /* another host learns on its own */
    assert_true(cohort_calendar_lead_s(fx->cal, fx->store, "tiny", fx->host2) == 120.0);
    /* only the newest are kept */
    for (guint i = 0; i < 20; i++)
        assert_true(cohort_store_boot_duration_add(fx->store, "tiny", fx->host, 10, 9, &error));
    kept = cohort_store_boot_duration_list(fx->store, "tiny", fx->host, 100, &error);
    assert_int_equal(kept->len, 9);
    assert_true(cohort_calendar_lead_s(fx->cal, fx->store, "tiny", fx->host) == 10.0);
}

static void
test_calendar_store(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) bad = NULL;
    g_autofree gchar *tz = NULL;
    guint hours = 99;

    assert_true(cohort_store_cohort_get_calendar(fx->store, fx->cohort, &tz, &hours, &error));
    assert_null(tz);
    assert_int_equal(hours, 0);
    assert_true(
        cohort_store_cohort_set_calendar(fx->store, fx->cohort, "Asia/Phnom_Penh", 5, &error));
    assert_true(cohort_store_cohort_get_calendar(fx->store, fx->cohort, &tz, &hours, &error));
    assert_string_equal(tz, "Asia/Phnom_Penh");
    assert_int_equal(hours, 5);
    assert_true(
        cohort_store_outside_usage_add(fx->store, fx->cohort, fx->user, "2027-W12", 600, &error));
    assert_true(
        cohort_store_outside_usage_add(fx->store, fx->cohort, fx->user, "2027-W12", 60, &error));
    assert_int_equal(cohort_store_outside_usage_get(fx->store, fx->cohort, fx->user, "2027-W12"),
                     660);
    assert_int_equal(cohort_store_outside_usage_get(fx->store, fx->cohort, fx->user, "2027-W13"),
                     0);
    assert_false(
        cohort_store_outside_usage_add(fx->store, fx->cohort, fx->user, "week 12", 1, &bad));
    assert_true(g_error_matches(bad, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT));
}

/* The one place that says "ready": on the test driver (and without hosts) a running machine;
 * on a host that runs guests, only one whose guest said so. */
static void
test_calendar_ready(void **state)
{
    Fixture *fx = *state;
    CohortMachineRow running = {.state = (gchar *)"running"};
    CohortMachineRow ready = {.state = (gchar *)"running", .ready = TRUE};
    CohortMachineRow starting = {.state = (gchar *)"starting", .ready = TRUE};

    assert_int_equal(cohort_calendar_machine_ready_at(fx->cal, &running, 1000), 1000);
    assert_int_equal(cohort_calendar_machine_ready_at(fx->cal, &starting, 1000), 0);
    assert_int_equal(cohort_calendar_ready_on(&running, "test:///default", 1000), 1000);
    assert_int_equal(cohort_calendar_ready_on(&running, "qemu:///system", 1000), 0);
    assert_int_equal(cohort_calendar_ready_on(&ready, "qemu+ssh://lab2/system", 1000), 1000);
    assert_int_equal(cohort_calendar_ready_on(&starting, "qemu:///system", 1000), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calendar_status_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calendar_status_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calendar_lead_learnt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calendar_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calendar_ready, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
