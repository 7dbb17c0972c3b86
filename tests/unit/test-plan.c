/* The capacity plan's arithmetic and the preload's pacing, with an injected clock. */
#define G_LOG_DOMAIN "test-plan"

#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-plan.h"

static gint64
at(const gchar *text)
{
    gint64 t = 0;
    assert_true(cohort_timetable_parse_time(text, &t));
    return t;
}

static GArray *
sessions(const gchar *tz, const gchar *rule)
{
    g_autoptr(CohortTimetable) tt = cohort_timetable_new(tz, NULL);

    assert_true(cohort_timetable_add_any(tt, rule, NULL));
    return cohort_timetable_expand(tt, at("2026-12-14T00:00:00Z"), at("2026-12-19T00:00:00Z"),
                                   NULL);
}

static CohortPlanHost
host(const gchar *name, guint64 vcpus, guint64 memory_mib)
{
    return (CohortPlanHost){.name = name,
                            .usable = TRUE,
                            .vcpus_allowed = vcpus,
                            .memory_allowed_mib = memory_mib,
                            .capacity_vcpus = vcpus,
                            .capacity_memory_mib = memory_mib};
}

static void
add(GArray *machines, guint cohort, gint host_idx, guint n, guint vcpus, guint64 memory_mib)
{
    for (guint i = 0; i < n; i++) {
        CohortPlanMachine m = {.cohort = cohort,
                               .host = host_idx,
                               .vcpus = vcpus,
                               .memory_mib = memory_mib,
                               .disk_mib = 1024};
        g_array_append_val(machines, m);
    }
}

#define HR(r, i) (&g_array_index((r)->hosts, CohortPlanHostResult, (i)))

static void
test_plan_spread_and_pack(void **state)
{
    CohortPlanHost hosts[] = {host("lab1", 8, 16384), host("lab2", 8, 16384)};
    g_autoptr(GArray) s = sessions("UTC", "mon-fri 08:00-12:00");
    CohortPlanCohort spread[] = {{"a", s, FALSE}};
    CohortPlanCohort pack[] = {{"a", s, TRUE}};
    g_autoptr(GArray) machines = g_array_new(FALSE, FALSE, sizeof(CohortPlanMachine));
    g_autoptr(CohortPlanResult) r1 = NULL;
    g_autoptr(CohortPlanResult) r2 = NULL;

    add(machines, 0, -1, 5, 1, 1024);
    r1 = cohort_plan_compute(hosts, 2, spread, 1, machines, 0);
    assert_true(r1->fits);
    assert_int_equal(HR(r1, 0)->new_machines, 3);
    assert_int_equal(HR(r1, 1)->new_machines, 2);
    assert_int_equal(HR(r1, 0)->peak_vcpus, 3);
    assert_int_equal(HR(r1, 1)->peak_memory_mib, 2048);
    assert_int_equal(HR(r1, 0)->peak_disk_mib, 3072);
    r2 = cohort_plan_compute(hosts, 2, pack, 1, machines, 0);
    assert_true(r2->fits);
    assert_int_equal(HR(r2, 0)->new_machines, 5);
    assert_int_equal(HR(r2, 1)->new_machines, 0);
    assert_int_equal(HR(r2, 1)->peak_vcpus, 0);
}

/* Overcommit: allowed = capacity x ratio, and what is placed already counts. */
static void
test_plan_does_not_fit(void **state)
{
    CohortPlanHost hosts[] = {host("lab1", 4, 16384), host("lab2", 2, 16384)};
    g_autoptr(GArray) s = sessions("UTC", "mon-fri 08:00-12:00");
    CohortPlanCohort cohorts[] = {{"a", s, FALSE}};
    g_autoptr(GArray) machines = g_array_new(FALSE, FALSE, sizeof(CohortPlanMachine));
    g_autoptr(CohortPlanResult) r = NULL;
    CohortPlanMissing *m;

    hosts[1].used_vcpus = 1;
    hosts[1].machines = 1;
    add(machines, 0, -1, 7, 1, 1024);
    r = cohort_plan_compute(hosts, 2, cohorts, 1, machines, 0);
    assert_false(r->fits);
    assert_int_equal(r->missing->len, 1);
    m = g_ptr_array_index(r->missing, 0);
    assert_string_equal(m->resource, "placement");
    assert_int_equal(m->need, 2);
    assert_non_null(strstr(m->message, "2 machines of cohort 'a'"));
    assert_non_null(strstr(m->message, "lab1: vCPUs full (4 allowed)"));
    assert_non_null(strstr(m->message, "lab2: vCPUs full (2 allowed)"));
}

/* Another cohort on the same host: only its sessions that meet ours count. */
static void
test_plan_overlapping_cohorts(void **state)
{
    CohortPlanHost hosts[] = {host("lab1", 16, 32768)};
    g_autoptr(GArray) a = sessions("Europe/Berlin", "mon-fri 08:00-12:00");
    g_autoptr(GArray) b = sessions("Europe/Berlin", "mon,wed 11:00-13:00");
    g_autoptr(GArray) c = sessions("Europe/Berlin", "mon-fri 13:30-16:30");
    CohortPlanCohort cohorts[] = {{"a", a, FALSE}, {"b", b, FALSE}, {"c", c, FALSE}};
    g_autoptr(GArray) machines = g_array_new(FALSE, FALSE, sizeof(CohortPlanMachine));
    g_autoptr(CohortPlanResult) r = NULL;
    g_autofree gchar *busiest = NULL;

    add(machines, 1, 0, 3, 2, 2048); /* b: placed already */
    add(machines, 2, 0, 4, 2, 2048); /* c: placed already */
    hosts[0].used_vcpus = 14;
    hosts[0].used_memory_mib = 14336;
    hosts[0].machines = 7;
    add(machines, 0, -1, 1, 2, 2048); /* a: to place; 16 vCPUs in all */
    r = cohort_plan_compute(hosts, 1, cohorts, 3, machines, 0);
    assert_true(r->fits);
    /* a's 2 + b's 6 at 11:00 on Monday and Wednesday; c never meets a */
    assert_int_equal(HR(r, 0)->peak_vcpus, 8);
    assert_int_equal(HR(r, 0)->peak_memory_mib, 8192);
    busiest = cohort_timetable_format_utc(HR(r, 0)->busiest_start);
    assert_string_equal(busiest, "2026-12-14T07:00:00Z");
    assert_int_equal(HR(r, 0)->peak_disk_mib, 1024); /* used_disk_mib 0 + a's new one */
}

/* A host whose limit was lowered below what runs in a session: the plan says how much. */
static void
test_plan_session_peak_missing(void **state)
{
    CohortPlanHost hosts[] = {host("lab1", 4, 32768)};
    g_autoptr(GArray) a = sessions("UTC", "mon-fri 08:00-12:00");
    g_autoptr(GArray) b = sessions("UTC", "mon-fri 09:00-10:00");
    CohortPlanCohort cohorts[] = {{"a", a, FALSE}, {"b", b, FALSE}};
    g_autoptr(GArray) machines = g_array_new(FALSE, FALSE, sizeof(CohortPlanMachine));
    g_autoptr(CohortPlanResult) r = NULL;
    CohortPlanMissing *m;

    add(machines, 0, 0, 2, 2, 1024);
    add(machines, 1, 0, 2, 1, 1024);
    hosts[0].used_vcpus = 6;
    r = cohort_plan_compute(hosts, 1, cohorts, 2, machines, 0);
    assert_false(r->fits);
    m = g_ptr_array_index(r->missing, 0);
    assert_string_equal(m->resource, "vcpus");
    assert_string_equal(m->host, "lab1");
    assert_int_equal(m->need, 2);
    assert_int_equal(m->at, at("2026-12-14T09:00:00Z"));
    assert_non_null(strstr(m->message, "2 more vCPUs at 2026-12-14T09:00:00Z"));
}

static void
test_plan_no_host(void **state)
{
    g_autoptr(GArray) a = sessions("UTC", "mon-fri 08:00-12:00");
    CohortPlanCohort cohorts[] = {{"a", a, FALSE}};
    g_autoptr(GArray) machines = g_array_new(FALSE, FALSE, sizeof(CohortPlanMachine));
    g_autoptr(CohortPlanResult) r = NULL;
    g_autoptr(CohortPlanResult) empty = NULL;

    empty = cohort_plan_compute(NULL, 0, cohorts, 1, machines, 0);
    assert_true(empty->fits);
    add(machines, 0, -1, 1, 1, 512);
    r = cohort_plan_compute(NULL, 0, cohorts, 1, machines, 0);
    assert_false(r->fits);
    assert_non_null(strstr(((CohortPlanMissing *)g_ptr_array_index(r->missing, 0))->message,
                           "there is no host"));
}

static void
test_pacing_arithmetic(void **state)
{
    gdouble none[1];
    gdouble odd[] = {50, 10, 30};
    gdouble even[] = {40, 10, 30, 20};

    assert_int_equal(cohort_pacing_begin_at(10, 4, 60, 30, 10000), 10000 - 30 - 180);
    assert_int_equal(cohort_pacing_begin_at(4, 4, 60, 30, 10000), 10000 - 30 - 60);
    assert_int_equal(cohort_pacing_begin_at(0, 4, 60, 30, 10000), 10000 - 30);
    assert_int_equal(cohort_pacing_eta(6, 4, 4, 60, 100, 50), 100 + 180);
    assert_int_equal(cohort_pacing_eta(6, 0, 4, 60, 100, 200), 200 + 120);
    assert_int_equal(cohort_pacing_to_start(10, 0, 4, 99, 100), 0);
    assert_int_equal(cohort_pacing_to_start(10, 0, 4, 100, 100), 4);
    assert_int_equal(cohort_pacing_to_start(10, 3, 4, 100, 100), 1);
    assert_int_equal(cohort_pacing_to_start(1, 0, 4, 100, 100), 1);
    assert_int_equal(cohort_pacing_to_start(10, 4, 4, 100, 100), 0);
    assert_true(cohort_pacing_median(none, 0, 90.0) == 90.0);
    assert_true(cohort_pacing_median(odd, 3, 0) == 30.0);
    assert_true(cohort_pacing_median(even, 4, 0) == 25.0);
}

/* An injected clock, ticking every 5 s: 10 machines on a host that boots 4 at once, each
 * ready 57 to 63 s after its start. Never more than 4 boot at once, and the last is ready
 * before the session starts, not long before. */
static void
test_pacing_simulated(void **state)
{
    const gint64 session = 100000;
    const gint64 lead = 60;
    const gint64 margin = 30;
    const guint n = 10;
    const guint boots = 4;
    gint64 started[10] = {0};
    gint64 ready[10] = {0};
    guint next = 0;
    guint max_booting = 0;
    gint64 last_ready = 0;
    gint64 begin = cohort_pacing_begin_at(n, boots, lead, margin, session);

    for (gint64 now = session - 3600; now < session + 600; now += 5) {
        guint booting = 0;
        guint k;
        for (guint i = 0; i < next; i++) {
            if (ready[i] == 0 && now >= started[i] + lead - 3 + (gint64)(i % 3) * 3)
                ready[i] = now;
            if (ready[i] == 0)
                booting++;
        }
        max_booting = MAX(max_booting, booting);
        k = cohort_pacing_to_start(n - next, booting, boots, now, begin);
        for (guint i = 0; i < k; i++)
            started[next++] = now;
        max_booting = MAX(max_booting, booting + k);
    }
    for (guint i = 0; i < n; i++) {
        assert_true(ready[i] > 0);
        last_ready = MAX(last_ready, ready[i]);
    }
    assert_true(max_booting <= boots);
    assert_true(started[0] >= begin);
    assert_true(last_ready <= session);
    assert_true(last_ready >= session - margin - lead);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_spread_and_pack),
        cmocka_unit_test(test_plan_does_not_fit),
        cmocka_unit_test(test_plan_overlapping_cohorts),
        cmocka_unit_test(test_plan_session_peak_missing),
        cmocka_unit_test(test_plan_no_host),
        cmocka_unit_test(test_pacing_arithmetic),
        cmocka_unit_test(test_pacing_simulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
