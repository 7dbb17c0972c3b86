/* The timetable: rules, one-offs and cancellations across time zones and DST changes. */
#define G_LOG_DOMAIN "test-timetable"

#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-error.h"
#include "cohort-timetable.h"

static gint64
at(const gchar *text)
{
    gint64 t = 0;
    assert_true(cohort_timetable_parse_time(text, &t));
    return t;
}

static GArray *
expand(const gchar *tz, const gchar *const *entries, const gchar *from, const gchar *to,
       GError **error)
{
    g_autoptr(CohortTimetable) tt = cohort_timetable_new(tz, NULL);

    assert_non_null(tt);
    for (guint i = 0; entries[i] != NULL; i++)
        assert_true(cohort_timetable_add_any(tt, entries[i], NULL));
    return cohort_timetable_expand(tt, at(from), at(to), error);
}

static void
assert_session(GArray *s, guint i, const gchar *start, const gchar *end)
{
    g_autofree gchar *a = NULL;
    g_autofree gchar *b = NULL;

    assert_true(i < s->len);
    a = cohort_timetable_format_utc(g_array_index(s, CohortSession, i).start);
    b = cohort_timetable_format_utc(g_array_index(s, CohortSession, i).end);
    assert_string_equal(a, start);
    assert_string_equal(b, end);
}

static void
test_timetable_parse_errors(void **state)
{
    static const struct {
        CohortTimetableKind kind;
        const gchar *entry;
        const gchar *names;
    } bad[] = {
        {COHORT_TIMETABLE_RULE, "mon-fry 08:00-12:00", "'fry'"},
        {COHORT_TIMETABLE_RULE, "mon-fri 12:00-08:00", "'12:00-08:00'"},
        {COHORT_TIMETABLE_RULE, "mon-fri 8:00-12:00", "'8:00-12:00'"},
        {COHORT_TIMETABLE_RULE, "mon-fri 08:00-12:61", "'08:00-12:61'"},
        {COHORT_TIMETABLE_RULE, "mon-fri", "DAYS HH:MM-HH:MM"},
        {COHORT_TIMETABLE_ONE_OFF, "2026-02-30 09:00-10:00", "'2026-02-30'"},
        {COHORT_TIMETABLE_ONE_OFF, "2026-12-14 09:00-25:00", "'09:00-25:00'"},
        {COHORT_TIMETABLE_CANCEL, "cancel 2026-13-01", "'2026-13-01'"},
        {COHORT_TIMETABLE_CANCEL, "cancel 2026-12-16 8h", "'8h'"},
        {COHORT_TIMETABLE_CANCEL, "cancel", "YYYY-MM-DD"},
    };
    g_autoptr(CohortTimetable) tt = cohort_timetable_new("UTC", NULL);

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        assert_false(cohort_timetable_add(tt, bad[i].kind, bad[i].entry, &error));
        assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT));
        if (strstr(error->message, bad[i].names) == NULL)
            fail_msg("%s: '%s' does not name %s", bad[i].entry, error->message, bad[i].names);
    }
    assert_true(cohort_timetable_is_empty(tt));
}

static void
test_timetable_time_zone_unknown(void **state)
{
    const gchar *bad[] = {"Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime"};

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CohortTimetable) tt = cohort_timetable_new(bad[i], &error);
        assert_null(tt);
        assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT));
        assert_non_null(strstr(error->message, "time_zone"));
    }
}

static void
test_timetable_canonical(void **state)
{
    g_autoptr(CohortTimetable) tt = cohort_timetable_new("UTC", NULL);
    g_auto(GStrv) rules = NULL;
    g_auto(GStrv) cancels = NULL;

    assert_true(cohort_timetable_add_any(tt, "MON-FRI  08:00-12:00", NULL));
    assert_true(cohort_timetable_add_any(tt, "mon,wed 13:30-16:30", NULL));
    assert_true(cohort_timetable_add_any(tt, "sat-mon 09:00-10:00", NULL));
    assert_true(cohort_timetable_add_any(tt, "daily 18:00-24:00", NULL));
    assert_true(cohort_timetable_add_any(tt, "cancel 2026-12-16", NULL));
    assert_true(cohort_timetable_add(tt, COHORT_TIMETABLE_CANCEL, "2026-12-17 08:00", NULL));
    rules = cohort_timetable_list(tt, COHORT_TIMETABLE_RULE);
    assert_int_equal(g_strv_length(rules), 4);
    assert_string_equal(rules[0], "mon-fri 08:00-12:00");
    assert_string_equal(rules[1], "mon,wed 13:30-16:30");
    assert_string_equal(rules[2], "mon,sat,sun 09:00-10:00");
    assert_string_equal(rules[3], "daily 18:00-24:00");
    cancels = cohort_timetable_list(tt, COHORT_TIMETABLE_CANCEL);
    assert_string_equal(cancels[0], "cancel 2026-12-16");
    assert_string_equal(cancels[1], "cancel 2026-12-17 08:00");
}

/* Europe/Berlin goes to summer time on the last Sunday of March (2027-03-28): 08:00 local is
 * 07:00Z the Friday before and 06:00Z the Monday after. */
static void
test_timetable_berlin_march(void **state)
{
    const gchar *const e[] = {"mon-fri 08:00-12:00", NULL};
    g_autoptr(GArray) s =
        expand("Europe/Berlin", e, "2027-03-22T00:00:00Z", "2027-04-03T00:00:00Z", NULL);

    assert_int_equal(s->len, 10);
    assert_session(s, 0, "2027-03-22T07:00:00Z", "2027-03-22T11:00:00Z");
    assert_session(s, 4, "2027-03-26T07:00:00Z", "2027-03-26T11:00:00Z");
    assert_session(s, 5, "2027-03-29T06:00:00Z", "2027-03-29T10:00:00Z");
    assert_session(s, 9, "2027-04-02T06:00:00Z", "2027-04-02T10:00:00Z");
}

/* ... and back on the last Sunday of October (2026-10-25). */
static void
test_timetable_berlin_october(void **state)
{
    const gchar *const e[] = {"mon-fri 08:00-12:00", "mon,wed 13:30-16:30", NULL};
    g_autoptr(GArray) s =
        expand("Europe/Berlin", e, "2026-10-19T00:00:00Z", "2026-10-31T00:00:00Z", NULL);
    g_autoptr(CohortTimetable) tt = cohort_timetable_new("Europe/Berlin", NULL);
    g_autofree gchar *local = NULL;

    /* 10 mornings, 4 afternoons */
    assert_int_equal(s->len, 14);
    assert_session(s, 0, "2026-10-19T06:00:00Z", "2026-10-19T10:00:00Z");
    assert_session(s, 1, "2026-10-19T11:30:00Z", "2026-10-19T14:30:00Z");
    assert_session(s, 6, "2026-10-23T06:00:00Z", "2026-10-23T10:00:00Z");
    assert_session(s, 7, "2026-10-26T07:00:00Z", "2026-10-26T11:00:00Z");
    assert_session(s, 8, "2026-10-26T12:30:00Z", "2026-10-26T15:30:00Z");
    local = cohort_timetable_format_local(g_array_index(s, CohortSession, 7).start,
                                          cohort_timetable_get_tz(tt));
    assert_string_equal(local, "2026-10-26T08:00:00+01:00");
}

/* Asia/Phnom_Penh has no daylight saving: always UTC+7. */
static void
test_timetable_phnom_penh(void **state)
{
    const gchar *const e[] = {"mon-fri 08:00-12:00", NULL};
    g_autoptr(GArray) s =
        expand("Asia/Phnom_Penh", e, "2027-03-21T00:00:00Z", "2027-04-03T00:00:00Z", NULL);

    assert_int_equal(s->len, 10);
    assert_session(s, 0, "2027-03-22T01:00:00Z", "2027-03-22T05:00:00Z");
    assert_session(s, 9, "2027-04-02T01:00:00Z", "2027-04-02T05:00:00Z");
}

/* Australia/Sydney leaves summer time on the first Sunday of April (2027-04-04, +11 → +10)
 * and enters it on the first Sunday of October (2026-10-04, +10 → +11). */
static void
test_timetable_sydney(void **state)
{
    const gchar *const e[] = {"mon-fri 08:00-12:00", NULL};
    g_autoptr(GArray) april =
        expand("Australia/Sydney", e, "2027-03-31T00:00:00Z", "2027-04-07T00:00:00Z", NULL);
    g_autoptr(GArray) october =
        expand("Australia/Sydney", e, "2026-09-30T00:00:00Z", "2026-10-07T00:00:00Z", NULL);

    assert_session(april, 0, "2027-03-31T21:00:00Z", "2027-04-01T01:00:00Z");   /* Thu 1 Apr */
    assert_session(april, 1, "2027-04-01T21:00:00Z", "2027-04-02T01:00:00Z");   /* Fri 2 Apr */
    assert_session(april, 2, "2027-04-04T22:00:00Z", "2027-04-05T02:00:00Z");   /* Mon 5 Apr */
    assert_session(october, 0, "2026-09-30T22:00:00Z", "2026-10-01T02:00:00Z"); /* Thu 1 Oct */
    assert_session(october, 1, "2026-10-01T22:00:00Z", "2026-10-02T02:00:00Z"); /* Fri 2 Oct */
    assert_session(october, 2, "2026-10-04T21:00:00Z", "2026-10-05T01:00:00Z"); /* Mon 5 Oct */
}

/* A session in the hour that does not exist (02:30 on 2027-03-28 in Berlin) still happens. */
static void
test_timetable_dst_gap(void **state)
{
    const gchar *const e[] = {"sun 02:30-04:00", NULL};
    g_autoptr(GArray) s =
        expand("Europe/Berlin", e, "2027-03-27T00:00:00Z", "2027-03-29T00:00:00Z", NULL);
    const CohortSession *x;

    assert_int_equal(s->len, 1);
    x = &g_array_index(s, CohortSession, 0);
    assert_true(x->start < x->end);
    /* 04:00 CEST */
    assert_int_equal(x->end, at("2027-03-28T02:00:00Z"));
}

static void
test_timetable_cancellations(void **state)
{
    const gchar *const e[] = {"mon-fri 08:00-12:00",    "mon-fri 13:30-16:30",
                              "cancel 2026-12-16",      "cancel 2026-12-17 13:30",
                              "2026-12-19 09:00-11:00", NULL};
    g_autoptr(GArray) s = expand("UTC", e, "2026-12-14T00:00:00Z", "2026-12-19T23:59:59Z", NULL);
    const gchar *const none[] = {"mon-fri 08:00-12:00", "cancel 2026-12-20", NULL};
    const gchar *const none_at[] = {"mon-fri 08:00-12:00", "cancel 2026-12-16 09:00", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) error2 = NULL;

    /* 5 days x 2, less 2 on the 16th and 1 on the 17th, plus the Saturday */
    assert_int_equal(s->len, 8);
    assert_session(s, 3, "2026-12-15T13:30:00Z", "2026-12-15T16:30:00Z");
    assert_session(s, 4, "2026-12-17T08:00:00Z", "2026-12-17T12:00:00Z");
    assert_session(s, 5, "2026-12-18T08:00:00Z", "2026-12-18T12:00:00Z");
    assert_session(s, 7, "2026-12-19T09:00:00Z", "2026-12-19T11:00:00Z");
    assert_null(expand("UTC", none, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", &error));
    assert_non_null(strstr(error->message, "'cancel 2026-12-20'"));
    assert_null(expand("UTC", none_at, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", &error2));
    assert_non_null(strstr(error2->message, "'cancel 2026-12-16 09:00'"));
}

static void
test_timetable_window(void **state)
{
    const gchar *const e[] = {"daily 08:00-12:00", NULL};
    const gchar *const outside[] = {"2027-01-05 09:00-10:00", NULL};
    const gchar *const overlap[] = {"mon-fri 08:00-12:00", "2026-12-15 11:00-13:00", NULL};
    g_autoptr(GArray) s = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) error2 = NULL;

    /* the first day starts at 10:00: its session is not wholly in the course */
    s = expand("UTC", e, "2026-12-14T10:00:00Z", "2026-12-16T11:00:00Z", NULL);
    assert_int_equal(s->len, 1);
    assert_session(s, 0, "2026-12-15T08:00:00Z", "2026-12-15T12:00:00Z");
    assert_null(expand("UTC", outside, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", &error));
    assert_non_null(strstr(error->message, "outside the cohort's dates"));
    assert_null(expand("UTC", overlap, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", &error2));
    assert_non_null(strstr(error2->message, "overlaps"));
}

/* Two cohorts sharing hosts: do their sessions meet? */
static void
test_timetable_overlapping_cohorts(void **state)
{
    const gchar *const a[] = {"mon-fri 08:00-12:00", NULL};
    const gchar *const b[] = {"mon-fri 11:00-13:00", NULL};
    const gchar *const c[] = {"mon-fri 13:30-16:30", NULL};
    /* the same wall-clock hours in another zone: 08:00 Berlin is 14:00 Phnom Penh */
    const gchar *const d[] = {"mon-fri 14:00-15:00", NULL};
    g_autoptr(GArray) sa =
        expand("Europe/Berlin", a, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", NULL);
    g_autoptr(GArray) sb =
        expand("Europe/Berlin", b, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", NULL);
    g_autoptr(GArray) sc =
        expand("Europe/Berlin", c, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", NULL);
    g_autoptr(GArray) sd =
        expand("Asia/Phnom_Penh", d, "2026-12-14T00:00:00Z", "2026-12-19T00:00:00Z", NULL);

    assert_true(cohort_sessions_overlap(sa, sb));
    assert_false(cohort_sessions_overlap(sa, sc));
    assert_true(cohort_sessions_overlap(sa, sd));
    assert_false(cohort_sessions_overlap(sc, sd));
}

static void
test_timetable_current_or_next(void **state)
{
    const gchar *const e[] = {"mon-fri 08:00-12:00", NULL};
    g_autoptr(GArray) s = expand("UTC", e, "2026-12-14T00:00:00Z", "2026-12-16T00:00:00Z", NULL);
    const CohortSession *x;

    x = cohort_sessions_current_or_next(s, at("2026-12-14T09:00:00Z"));
    assert_int_equal(x->start, at("2026-12-14T08:00:00Z"));
    x = cohort_sessions_current_or_next(s, at("2026-12-14T12:00:00Z"));
    assert_int_equal(x->start, at("2026-12-15T08:00:00Z"));
    assert_null(cohort_sessions_current_or_next(s, at("2026-12-15T12:00:00Z")));
}

static void
test_timetable_bounds(void **state)
{
    g_autoptr(CohortTimetable) tt = cohort_timetable_new("UTC", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) error2 = NULL;
    g_autofree gchar *long_entry = g_strnfill(COHORT_TIMETABLE_MAX_ENTRY_LEN + 1, 'x');

    assert_false(cohort_timetable_add_any(tt, long_entry, &error));
    for (guint i = 0; i < COHORT_TIMETABLE_MAX_ENTRIES; i++)
        assert_true(cohort_timetable_add_any(tt, "daily 00:00-00:01", NULL));
    assert_false(cohort_timetable_add_any(tt, "daily 00:00-00:01", &error2));
    assert_non_null(strstr(error2->message, "at most"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timetable_parse_errors),
        cmocka_unit_test(test_timetable_time_zone_unknown),
        cmocka_unit_test(test_timetable_canonical),
        cmocka_unit_test(test_timetable_berlin_march),
        cmocka_unit_test(test_timetable_berlin_october),
        cmocka_unit_test(test_timetable_phnom_penh),
        cmocka_unit_test(test_timetable_sydney),
        cmocka_unit_test(test_timetable_dst_gap),
        cmocka_unit_test(test_timetable_cancellations),
        cmocka_unit_test(test_timetable_window),
        cmocka_unit_test(test_timetable_overlapping_cohorts),
        cmocka_unit_test(test_timetable_current_or_next),
        cmocka_unit_test(test_timetable_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
