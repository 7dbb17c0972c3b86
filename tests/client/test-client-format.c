/* cohortctl's helpers that need no server: widths, tables, dates, machine references,
 * progress, exit codes, client.conf. */
#define _GNU_SOURCE /* wcswidth() */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cohort-client-config.h"
#include "cohort-client-error.h"
#include "cohort-client-format.h"
#include "cohort-error.h"

/* What a terminal advances for @text (glibc's wcswidth in C.UTF-8). */
static gint
test_terminal_width(const gchar *text)
{
    glong n = 0;
    g_autofree gunichar *wide = g_utf8_to_ucs4(text, -1, NULL, &n, NULL);
    g_autofree wchar_t *w = g_new0(wchar_t, n + 1);

    for (glong i = 0; i < n; i++)
        w[i] = (wchar_t)wide[i];
    return wcswidth(w, n);
}

static void
test_client_format_width_ascii(void **state)
{
    assert_int_equal(cohort_client_display_width(""), 0);
    assert_int_equal(cohort_client_display_width("sok-dara"), 8);
    assert_int_equal(cohort_client_display_width(NULL), 0);
    /* East Asian wide: two cells each */
    assert_int_equal(cohort_client_display_width("一二"), 4);
}

/* Khmer: coeng (U+17D2) and vowel signs above/below take no cell; g_utf8_strlen counts them. */
static void
test_client_format_width_khmer(void **state)
{
    const gchar *sok_dara = "សុខ ដារា"; /* ស ុ ខ ␠ ដ ា រ ា */
    const gchar *sreyneang = "ស្រីនាង";  /* ស ្ រ ី ន ា ង */
    const gchar *zaw_min = "ဇော်မင်း";   /* Burmese, with asat U+103A */

    assert_int_equal(g_utf8_strlen(sok_dara, -1), 8);
    assert_int_equal(cohort_client_display_width(sok_dara), 7);
    assert_int_equal(g_utf8_strlen(sreyneang, -1), 7);
    assert_int_equal(cohort_client_display_width(sreyneang), 5);
    assert_int_equal(cohort_client_display_width(sok_dara), test_terminal_width(sok_dara));
    assert_int_equal(cohort_client_display_width(sreyneang), test_terminal_width(sreyneang));
    assert_int_equal(cohort_client_display_width(zaw_min), test_terminal_width(zaw_min));
}

/* Every display name of the shared 86-person roster counts as a terminal counts it. */
static void
test_client_format_width_roster(void **state)
{
    g_autofree gchar *path =
        g_build_filename(COHORT_TEST_DATADIR, "rosters", "ssc-cloud-computing-2022.csv", NULL);
    g_autofree gchar *data = NULL;
    g_auto(GStrv) lines = NULL;
    guint checked = 0;

    assert_true(g_file_get_contents(path, &data, NULL, NULL));
    lines = g_strsplit(data, "\n", -1);
    for (guint i = 1; lines[i] != NULL; i++) {
        g_auto(GStrv) fields = g_strsplit(g_strstrip(lines[i]), ",", 3);
        if (g_strv_length(fields) < 2)
            continue;
        if (cohort_client_display_width(fields[1]) != (gsize)test_terminal_width(fields[1]))
            fail_msg("line %u: '%s': %zu cells, a terminal takes %d", i + 1, fields[1],
                     cohort_client_display_width(fields[1]), test_terminal_width(fields[1]));
        checked++;
    }
    assert_int_equal(checked, 86);
}

/* The column after a Khmer name starts in the same cell on every line. */
static void
test_client_format_table_khmer(void **state)
{
    static const gchar *const headers[] = {"LOGIN", "DISPLAY NAME", "ROLE", NULL};
    static const gchar *const rows[][3] = {
        {"sok-dara", "សុខ ដារា (Sok Dara)", "trainee"},
        {"keo-sreyneang", "កែវ ស្រីនាង (Keo Sreyneang)", "trainee"},
        {"zaw-min", "ဇော်မင်း (Zaw Min)", "trainer"},
        {"a", "", NULL},
    };
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    g_autofree gchar *text = NULL;
    g_auto(GStrv) lines = NULL;
    gint role_column = -1;

    for (guint i = 0; i < G_N_ELEMENTS(rows); i++)
        cohort_table_add_row(table, rows[i]);
    assert_int_equal(cohort_table_get_n_rows(table), 4);
    text = cohort_table_render(table);
    lines = g_strsplit(text, "\n", -1);
    assert_int_equal(g_strv_length(lines), 6); /* 5 lines and the empty rest */
    assert_string_equal(lines[5], "");
    for (guint i = 0; i < 5; i++) {
        const gchar *role = i == 0 ? strstr(lines[i], "ROLE") : strrchr(lines[i], ' ') + 1;
        g_autofree gchar *before = g_strndup(lines[i], role - lines[i]);
        gint column = (gint)cohort_client_display_width(before);

        assert_false(g_str_has_suffix(lines[i], " "));
        if (role_column < 0)
            role_column = column;
        if (column != role_column)
            fail_msg("line %u: ROLE at cell %d, not %d:\n%s", i, column, role_column, text);
    }
    /* LOGIN (13 wide) + 2 blanks; DISPLAY NAME column as wide as the widest name + 2 */
    assert_true(g_str_has_prefix(lines[0], "LOGIN          DISPLAY NAME"));
    /* an empty cell stays empty, a NULL one is "-" */
    assert_true(g_str_has_prefix(lines[4], "a              "));
    assert_true(g_str_has_suffix(lines[4], " -"));
}

static void
test_client_format_table_control(void **state)
{
    static const gchar *const headers[] = {"A", "B", NULL};
    static const gchar *const row[] = {"x\ny", "z\x01", NULL};
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    g_autofree gchar *text = NULL;

    cohort_table_add_row(table, row);
    text = cohort_table_render(table);
    assert_string_equal(text, "A    B\nx y  z\xef\xbf\xbd\n");
}

static void
test_client_format_date_day(void **state)
{
    g_autofree gchar *start = cohort_client_parse_date("2026-03-02", FALSE, NULL);
    g_autofree gchar *end = cohort_client_parse_date("2026-03-13", TRUE, NULL);
    g_autofree gchar *leap = cohort_client_parse_date("2028-02-29", FALSE, NULL);

    assert_string_equal(start, "2026-03-02T00:00:00Z");
    assert_string_equal(end, "2026-03-13T23:59:59Z");
    assert_string_equal(leap, "2028-02-29T00:00:00Z");
}

static void
test_client_format_date_rfc3339(void **state)
{
    g_autofree gchar *utc = cohort_client_parse_date("2026-03-02T08:30:00Z", TRUE, NULL);
    g_autofree gchar *phnom_penh =
        cohort_client_parse_date("2026-03-02T08:30:00+07:00", FALSE, NULL);
    g_autofree gchar *west = cohort_client_parse_date("2026-03-02T20:00:00-05:00", FALSE, NULL);

    /* a full time is taken as it is: --ends does not move it to the end of the day */
    assert_string_equal(utc, "2026-03-02T08:30:00Z");
    assert_string_equal(phnom_penh, "2026-03-02T01:30:00Z");
    assert_string_equal(west, "2026-03-03T01:00:00Z");
}

static void
test_client_format_date_bad(void **state)
{
    static const gchar *const bad[] = {
        "",
        "tomorrow",
        "2026-02-30",
        "2027-02-29",
        "2026-3-2",
        "2026-13-01",
        "2026-00-10",
        "02-03-2026",
        "2026-03-02T08:30:00",
        "2026-061T00:00:00Z",
        "2026-03-02 08:30:00Z",
        "2026-03-02T25:00:00Z",
        "2026-03-02x",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *when = cohort_client_parse_date(bad[i], FALSE, &error);
        if (when != NULL)
            fail_msg("'%s' was taken as %s", bad[i], when);
        assert_true(g_error_matches(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE));
        assert_non_null(strstr(error->message, "YYYY-MM-DD"));
    }
}

static void
test_client_format_machine_ref_id(void **state)
{
    g_auto(CohortMachineRef) ref = {0};

    assert_true(cohort_client_machine_ref_parse("42", &ref, NULL));
    assert_int_equal(ref.id, 42);
    assert_null(ref.cohort);
    assert_null(ref.trainee);
}

static void
test_client_format_machine_ref_slugs(void **state)
{
    g_auto(CohortMachineRef) ref = {0};

    assert_true(cohort_client_machine_ref_parse("cloud-101/sok-dara", &ref, NULL));
    assert_int_equal(ref.id, 0);
    assert_string_equal(ref.cohort, "cloud-101");
    assert_string_equal(ref.trainee, "sok-dara");
}

static void
test_client_format_machine_ref_name(void **state)
{
    g_auto(CohortMachineRef) ref = {0};
    g_auto(CohortMachineRef) second = {0};

    (void)state;
    assert_true(cohort_client_machine_ref_parse("cohort-cloud-101--sok-dara", &ref, NULL));
    assert_int_equal(ref.id, 0);
    assert_string_equal(ref.name, "cohort-cloud-101--sok-dara");
    assert_string_equal(ref.cohort, "cloud-101");
    assert_null(ref.trainee);
    assert_true(cohort_client_machine_ref_parse("cohort-a--b--2", &second, NULL));
    assert_string_equal(second.cohort, "a");
}

static void
test_client_format_machine_ref_bad(void **state)
{
    static const gchar *const bad[] = {
        "",
        "0",
        "-1",
        "4 2",
        "sok-dara",
        "cloud-101/",
        "/sok",
        "Cloud/sok",
        "a/b/c",
        "cloud-101/Sok",
        "99999999999999999999",
        "1e3",
        "cloud--101/x",
        "cohort-",
        "cohort---x",
        "cohort-Cloud--x",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_auto(CohortMachineRef) ref = {0};
        g_autoptr(GError) error = NULL;
        if (cohort_client_machine_ref_parse(bad[i], &ref, &error))
            fail_msg("'%s' was taken as a machine", bad[i]);
        assert_true(g_error_matches(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE));
        assert_int_equal(ref.id, 0);
        assert_null(ref.cohort);
    }
}

static JsonArray *
test_parse_array(const gchar *json)
{
    g_autoptr(JsonParser) parser = json_parser_new();

    assert_true(json_parser_load_from_data(parser, json, -1, NULL));
    return json_array_ref(json_node_get_array(json_parser_get_root(parser)));
}

static void
test_client_format_machine_pick(void **state)
{
    g_autoptr(JsonArray) machines = test_parse_array(
        "[{\"id\":1,\"name\":\"m1\",\"trainee\":\"sok-dara\",\"state\":\"running\"},"
        " {\"id\":5,\"name\":\"m5\",\"trainee\":\"sok-dara\",\"state\":\"reclaimed\"},"
        " {\"id\":2,\"name\":\"m2\",\"trainee\":\"sok-dara\",\"state\":\"failed\"},"
        " {\"id\":3,\"name\":\"m3\",\"trainee\":\"sok-dara\",\"state\":\"reclaiming\"},"
        " {\"id\":9,\"name\":\"m9\",\"trainee\":\"zaw-min\",\"state\":\"running\"},"
        " {\"id\":7,\"name\":\"m7\",\"trainee\":\"two\",\"state\":\"running\"},"
        " {\"id\":8,\"name\":\"m8\",\"trainee\":\"two\",\"state\":\"stopped\"},"
        " {\"id\":4,\"name\":\"m4\",\"trainee\":\"broken\",\"state\":\"failed\"},"
        " 17]");
    g_autoptr(GError) error = NULL;
    JsonObject *m;

    (void)state;
    /* the one that is not reclaimed, and of those the one that has not failed */
    m = cohort_client_machine_pick(machines, "sok-dara", &error);
    assert_null(error);
    assert_int_equal(json_object_get_int_member(m, "id"), 1);
    m = cohort_client_machine_pick(machines, "zaw-min", &error);
    assert_int_equal(json_object_get_int_member(m, "id"), 9);
    /* a failed machine alone is still that trainee's machine (to reset or release) */
    m = cohort_client_machine_pick(machines, "broken", &error);
    assert_int_equal(json_object_get_int_member(m, "id"), 4);
    assert_null(cohort_client_machine_pick(machines, "nobody", &error));
    assert_null(error);
    /* two that work: no guess, both named */
    assert_null(cohort_client_machine_pick(machines, "two", &error));
    assert_true(g_error_matches(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE));
    assert_non_null(strstr(error->message, "7 m7 (running)"));
    assert_non_null(strstr(error->message, "8 m8 (stopped)"));
}

static void
test_client_format_count(void **state)
{
    guint64 n = 0;
    static const gchar *const bad[] = {"", "0", "-3", "+3", "3.5", "ten", " 3", "1001", NULL};

    assert_true(cohort_client_parse_count("20", "--limit", 1000, &n, NULL));
    assert_int_equal(n, 20);
    for (guint i = 0; bad[i] != NULL; i++) {
        g_autoptr(GError) error = NULL;
        assert_false(cohort_client_parse_count(bad[i], "--limit", 1000, &n, &error));
        assert_true(g_error_matches(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE));
        assert_non_null(strstr(error->message, "--limit"));
    }
}

static void
test_client_format_progress(void **state)
{
    g_autofree gchar *line = cohort_client_progress_line("provision cloud-101", 40, 86, 0, 3140000);
    g_autofree gchar *zero = cohort_client_progress_line("reclaim x", 0, 0, 0, -5);
    g_autofree gchar *bar =
        cohort_client_progress_bar("provision cloud-101", 43, 86, 0, 12000000, 79);
    g_autofree gchar *narrow =
        cohort_client_progress_bar("provision cloud-101", 43, 86, 1, 12000000, 30);

    assert_string_equal(line, "provision cloud-101: 40/86 done, 0 failed, 3.1 s");
    assert_string_equal(zero, "reclaim x: 0/0 done, 0 failed, 0.0 s");
    assert_true(cohort_client_display_width(bar) <= 79);
    assert_true(g_str_has_prefix(bar, "provision cloud-101 [####"));
    assert_non_null(strstr(bar, "-] 43/86 done, 0 failed, 12.0 s"));
    /* half done: as many # as - (give or take the odd cell) */
    {
        const gchar *open = strchr(bar, '[');
        const gchar *close = strchr(bar, ']');
        guint hashes = 0, dashes = 0;
        for (const gchar *p = open + 1; p < close; p++) {
            hashes += *p == '#';
            dashes += *p == '-';
        }
        assert_true(hashes + 1 >= dashes && dashes + 1 >= hashes);
    }
    /* no room for a bar: the plain line */
    assert_string_equal(narrow, "provision cloud-101: 43/86 done, 1 failed, 12.0 s");
}

static void
test_client_format_freed(void **state)
{
    g_autoptr(JsonNode) node = json_from_string(
        "{\"machines\":86,\"vcpus\":172,\"memory_mib\":5504,\"disk_bytes\":17616896,"
        "\"networks\":1}",
        NULL);
    g_autoptr(JsonNode) one =
        json_from_string("{\"machines\":1,\"vcpus\":1,\"memory_mib\":64}", NULL);
    g_autofree gchar *text = cohort_client_freed_text(json_node_get_object(node));
    g_autofree gchar *single = cohort_client_freed_text(json_node_get_object(one));

    (void)state;
    assert_string_equal(text, "86 machines, 172 vCPUs, 5.4 GiB of memory, 16.8 MiB of disk, "
                              "1 network");
    assert_string_equal(single, "1 machine, 1 vCPU, 64.0 MiB of memory, 0 bytes of disk, "
                                "0 networks");
    assert_null(cohort_client_freed_text(NULL));
}

/* A job's bytes, a host's room and a ratio option, as cohortctl writes and reads them. */
static void
test_client_format_hosts_and_transfers(void **state)
{
    g_autoptr(JsonNode) running = json_from_string(
        "{\"bytes_done\":50331648,\"bytes_total\":100663296,\"rate_bytes_per_s\":220200960,"
        "\"eta_s\":1,\"items\":[]}",
        NULL);
    g_autoptr(JsonNode) done = json_from_string(
        "{\"bytes_done\":1024,\"bytes_total\":1024,\"rate_bytes_per_s\":null,\"eta_s\":0}", NULL);
    g_autoptr(JsonNode) none = json_from_string("{\"bytes_done\":0,\"bytes_total\":0}", NULL);
    g_autoptr(JsonNode) host =
        json_from_string("{\"used_vcpus\":3,\"allowed_vcpus\":32,\"vcpus\":8,\"cpu_ratio\":4.0,"
                         "\"used_memory_mib\":192,\"allowed_memory_mib\":null,\"memory_mib\":0,"
                         "\"memory_ratio\":1.5}",
                         NULL);
    g_autofree gchar *a = cohort_client_transfer_text(json_node_get_object(running));
    g_autofree gchar *b = cohort_client_transfer_text(json_node_get_object(done));
    g_autofree gchar *vcpus = cohort_client_allowed_text(json_node_get_object(host), "used_vcpus",
                                                         "allowed_vcpus", "vcpus", "cpu_ratio");
    g_autofree gchar *memory =
        cohort_client_allowed_text(json_node_get_object(host), "used_memory_mib",
                                   "allowed_memory_mib", "memory_mib", "memory_ratio");
    g_autoptr(GError) error = NULL;
    gdouble ratio = 0;

    (void)state;
    assert_string_equal(a, "48.0 MiB of 96.0 MiB, 210.0 MiB/s, 1 s left");
    assert_string_equal(b, "1.0 KiB of 1.0 KiB");
    assert_null(cohort_client_transfer_text(json_node_get_object(none)));
    assert_null(cohort_client_transfer_text(NULL));
    assert_string_equal(vcpus, "3/32 (8x4)");
    /* what placement allows is not known yet */
    assert_string_equal(memory, "192/-");
    assert_true(cohort_client_parse_ratio("2.5", "--cpu-ratio", 64, &ratio, &error));
    assert_true(ratio == 2.5);
    assert_false(cohort_client_parse_ratio("0", "--cpu-ratio", 64, &ratio, &error));
    assert_non_null(strstr(error->message, "--cpu-ratio takes a number above 0 and at most 64"));
    g_clear_error(&error);
    assert_false(cohort_client_parse_ratio("2,5", "--cpu-ratio", 64, &ratio, &error));
    g_clear_error(&error);
    assert_false(cohort_client_parse_ratio("65", "--cpu-ratio", 64, &ratio, &error));
    g_clear_error(&error);
    assert_false(cohort_client_parse_ratio("", "--disk-ratio", 100, &ratio, &error));
}

static void
test_client_format_member_text(void **state)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *obj;
    static const gchar *const cases[][2] = {
        {"s", "text"}, {"e", "-"},    {"i", "42"},  {"b", "yes"},
        {"n", "-"},    {"gone", "-"}, {"d", "1.5"}, {"o", "{\"a\":1}"},
    };

    assert_true(json_parser_load_from_data(
        parser,
        "{\"s\":\"text\",\"e\":\"\",\"i\":42,\"b\":true,\"n\":null,\"d\":1.5,\"o\":{\"a\":1}}", -1,
        NULL));
    obj = json_node_get_object(json_parser_get_root(parser));
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree gchar *text = cohort_client_member_text(obj, cases[i][0]);
        assert_string_equal(text, cases[i][1]);
    }
}

/* A machine's "pending" in a cell, and when `--wait` stops and what it says then. */
static void
test_client_format_machine_wait(void **state)
{
    g_autoptr(JsonArray) machines = test_parse_array(
        "[{\"name\":\"m\",\"state\":\"stopping\",\"pending\":[]},"
        " {\"name\":\"m\",\"state\":\"stopped\",\"pending\":[\"start\",\"reboot\"]},"
        " {\"name\":\"m\",\"state\":\"running\",\"pending\":[]},"
        " {\"name\":\"m\",\"state\":\"stopped\",\"pending\":[],"
        "  \"error\":\"domain start failed\"},"
        " {\"name\":\"m\",\"state\":\"failed\",\"pending\":[],\"error\":\"no base volume\"},"
        " {\"name\":\"m\",\"state\":\"reclaimed\"}]");
    g_autoptr(GError) error = NULL;
    g_autofree gchar *none =
        cohort_client_list_text(json_array_get_object_element(machines, 0), "pending");
    g_autofree gchar *two =
        cohort_client_list_text(json_array_get_object_element(machines, 1), "pending");
    g_autofree gchar *missing =
        cohort_client_list_text(json_array_get_object_element(machines, 5), "pending");

    (void)state;
    assert_string_equal(none, "-");
    assert_string_equal(two, "start, reboot");
    assert_string_equal(missing, "-");
    {
        /* readiness and addresses in a cell; "-" from a cohortd that says nothing of them */
        g_autoptr(JsonArray) ready =
            test_parse_array("[{\"ready\":true,\"addresses\":[\"10.17.0.12\",\"fd00::12\"]},"
                             " {\"ready\":false,\"addresses\":[]}, {}, {\"ready\":\"yes\"}]");
        g_autofree gchar *yes = cohort_client_ready_text(json_array_get_object_element(ready, 0));
        g_autofree gchar *no = cohort_client_ready_text(json_array_get_object_element(ready, 1));
        g_autofree gchar *absent =
            cohort_client_ready_text(json_array_get_object_element(ready, 2));
        g_autofree gchar *odd = cohort_client_ready_text(json_array_get_object_element(ready, 3));
        g_autofree gchar *both =
            cohort_client_list_text(json_array_get_object_element(ready, 0), "addresses");
        g_autofree gchar *empty =
            cohort_client_list_text(json_array_get_object_element(ready, 1), "addresses");
        assert_string_equal(yes, "yes");
        assert_string_equal(no, "no");
        assert_string_equal(absent, "-");
        assert_string_equal(odd, "-");
        assert_string_equal(both, "10.17.0.12, fd00::12");
        assert_string_equal(empty, "-");
    }
    /* work under way, or waiting: not at rest */
    assert_false(cohort_client_machine_at_rest(json_array_get_object_element(machines, 0)));
    assert_false(cohort_client_machine_at_rest(json_array_get_object_element(machines, 1)));
    assert_true(cohort_client_machine_at_rest(json_array_get_object_element(machines, 2)));
    assert_true(cohort_client_machine_at_rest(json_array_get_object_element(machines, 5)));
    /* where each verb leads */
    assert_true(cohort_client_machine_wait_check("start",
                                                 json_array_get_object_element(machines, 2), NULL));
    assert_true(cohort_client_machine_wait_check("reset",
                                                 json_array_get_object_element(machines, 2), NULL));
    assert_true(cohort_client_machine_wait_check("release",
                                                 json_array_get_object_element(machines, 5), NULL));
    assert_false(cohort_client_machine_wait_check(
        "stop", json_array_get_object_element(machines, 2), &error));
    assert_true(g_error_matches(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED));
    assert_non_null(strstr(error->message, "is running, not stopped, after the stop"));
    g_clear_error(&error);
    /* a start that did not work: the machine's error says why */
    assert_false(cohort_client_machine_wait_check(
        "start", json_array_get_object_element(machines, 3), &error));
    assert_non_null(strstr(error->message, "is stopped, not running, after the start: domain "
                                           "start failed"));
    g_clear_error(&error);
    assert_false(cohort_client_machine_wait_check(
        "reset", json_array_get_object_element(machines, 4), &error));
    assert_non_null(strstr(error->message, "machine m failed: no base volume"));
}

static void
test_client_format_exit_codes(void **state)
{
    static const struct {
        GQuark domain;
        gint code;
        CohortCtlExit exit;
    } cases[] = {
        {0, COHORT_ERROR_INTERNAL, COHORT_CTL_EXIT_FAILURE},
        {0, COHORT_ERROR_LIBVIRT, COHORT_CTL_EXIT_FAILURE},
        {0, COHORT_ERROR_NO_CAPACITY, COHORT_CTL_EXIT_FAILURE},
        {0, COHORT_ERROR_HOST_UNAVAILABLE, COHORT_CTL_EXIT_FAILURE},
        {0, COHORT_ERROR_UNAUTHENTICATED, COHORT_CTL_EXIT_AUTH},
        {0, COHORT_ERROR_FORBIDDEN, COHORT_CTL_EXIT_AUTH},
        {0, COHORT_ERROR_NOT_FOUND, COHORT_CTL_EXIT_NOT_FOUND},
        {0, COHORT_ERROR_CONFLICT, COHORT_CTL_EXIT_CONFLICT},
        {0, COHORT_ERROR_QUOTA_EXCEEDED, COHORT_CTL_EXIT_CONFLICT},
        {0, COHORT_ERROR_INVALID_ARGUMENT, COHORT_CTL_EXIT_INVALID},
        {0, COHORT_ERROR_PAYLOAD_TOO_LARGE, COHORT_CTL_EXIT_INVALID},
        {1, COHORT_CLIENT_ERROR_USAGE, COHORT_CTL_EXIT_USAGE},
        {1, COHORT_CLIENT_ERROR_CONNECTION, COHORT_CTL_EXIT_CONNECTION},
        {1, COHORT_CLIENT_ERROR_NO_TOKEN, COHORT_CTL_EXIT_AUTH},
        {1, COHORT_CLIENT_ERROR_PROTOCOL, COHORT_CTL_EXIT_FAILURE},
        {1, COHORT_CLIENT_ERROR_FAILED, COHORT_CTL_EXIT_FAILURE},
        {2, G_OPTION_ERROR_UNKNOWN_OPTION, COHORT_CTL_EXIT_USAGE},
    };

    assert_int_equal(cohort_client_exit_code(NULL), COHORT_CTL_EXIT_OK);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        GQuark domain = cases[i].domain == 0   ? COHORT_ERROR
                        : cases[i].domain == 1 ? COHORT_CLIENT_ERROR
                                               : G_OPTION_ERROR;
        g_autoptr(GError) error = g_error_new_literal(domain, cases[i].code, "x");
        assert_int_equal(cohort_client_exit_code(error), cases[i].exit);
    }
    {
        g_autoptr(GError) error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "x");
        assert_int_equal(cohort_client_exit_code(error), COHORT_CTL_EXIT_FAILURE);
    }
}

/* XDG_CONFIG_HOME points into a temporary directory for the whole program (main()). */
static void
test_client_config_save_resolve(void **state)
{
    g_autofree gchar *path = cohort_client_config_path();
    g_autofree gchar *url = NULL;
    g_autofree gchar *token = NULL;
    GStatBuf st;

    g_unsetenv("COHORT_URL");
    g_unsetenv("COHORT_TOKEN");
    g_unlink(path);
    assert_true(cohort_client_config_resolve(NULL, NULL, &url, &token, NULL));
    assert_string_equal(url, COHORT_CLIENT_DEFAULT_URL);
    assert_null(token);
    g_clear_pointer(&url, g_free);

    assert_true(cohort_client_config_save("http://lab:8580", "tok-file", NULL, NULL));
    assert_int_equal(g_stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(cohort_client_config_resolve(NULL, NULL, &url, &token, NULL));
    assert_string_equal(url, "http://lab:8580");
    assert_string_equal(token, "tok-file");
    g_clear_pointer(&url, g_free);
    g_clear_pointer(&token, g_free);

    /* the environment wins over the file, options over the environment; an empty variable
     * counts as unset */
    g_setenv("COHORT_URL", "http://env:1", TRUE);
    g_setenv("COHORT_TOKEN", "", TRUE);
    assert_true(cohort_client_config_resolve(NULL, NULL, &url, &token, NULL));
    assert_string_equal(url, "http://env:1");
    assert_string_equal(token, "tok-file");
    g_clear_pointer(&url, g_free);
    g_clear_pointer(&token, g_free);
    g_setenv("COHORT_TOKEN", "tok-env", TRUE);
    assert_true(cohort_client_config_resolve("http://opt:2", NULL, &url, &token, NULL));
    assert_string_equal(url, "http://opt:2");
    assert_string_equal(token, "tok-env");
    g_clear_pointer(&url, g_free);
    g_clear_pointer(&token, g_free);
    assert_true(cohort_client_config_resolve(NULL, "tok-opt", &url, &token, NULL));
    assert_string_equal(token, "tok-opt");
    g_unsetenv("COHORT_URL");
    g_unsetenv("COHORT_TOKEN");

    /* a wider file is tightened when it is written again */
    assert_int_equal(g_chmod(path, 0644), 0);
    assert_true(cohort_client_config_save("http://lab:8581", "tok-2", NULL, NULL));
    assert_int_equal(g_stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    g_unlink(path);
}

/* The CA file: --ca-file, then COHORT_CA_FILE, then client.conf (stored absolute); none by
 * default; a save without one removes it. */
static void
test_client_config_ca_file(void **state)
{
    g_autofree gchar *path = cohort_client_config_path();
    g_autofree gchar *cwd = g_get_current_dir();
    g_autofree gchar *absolute = g_build_filename(cwd, "lab-ca.pem", NULL);
    g_autofree gchar *ca = NULL;

    g_unsetenv("COHORT_CA_FILE");
    g_unlink(path);
    assert_true(cohort_client_config_resolve_ca_file(NULL, &ca, NULL));
    assert_null(ca);
    assert_true(cohort_client_config_save("https://lab:8580", "tok", "lab-ca.pem", NULL));
    assert_true(cohort_client_config_resolve_ca_file(NULL, &ca, NULL));
    assert_string_equal(ca, absolute);
    g_clear_pointer(&ca, g_free);
    g_setenv("COHORT_CA_FILE", "/env/ca.pem", TRUE);
    assert_true(cohort_client_config_resolve_ca_file(NULL, &ca, NULL));
    assert_string_equal(ca, "/env/ca.pem");
    g_clear_pointer(&ca, g_free);
    assert_true(cohort_client_config_resolve_ca_file("/opt/ca.pem", &ca, NULL));
    assert_string_equal(ca, "/opt/ca.pem");
    g_clear_pointer(&ca, g_free);
    g_unsetenv("COHORT_CA_FILE");
    assert_true(cohort_client_config_save("http://lab:8580", "tok", NULL, NULL));
    assert_true(cohort_client_config_resolve_ca_file(NULL, &ca, NULL));
    assert_null(ca);
    g_unlink(path);
}

static void
test_client_config_bad_file(void **state)
{
    g_autofree gchar *path = cohort_client_config_path();
    g_autofree gchar *url = NULL;
    g_autofree gchar *token = NULL;
    g_autoptr(GError) error = NULL;

    g_unsetenv("COHORT_URL");
    g_unsetenv("COHORT_TOKEN");
    assert_true(cohort_client_config_save("http://lab:8580", "tok", NULL, NULL));
    assert_true(g_file_set_contents(path, "this is not a key file\n", -1, NULL));
    assert_false(cohort_client_config_resolve(NULL, NULL, &url, &token, &error));
    assert_true(g_error_matches(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED));
    assert_non_null(strstr(error->message, path));
    /* the environment alone needs no file */
    g_setenv("COHORT_URL", "http://env:1", TRUE);
    g_setenv("COHORT_TOKEN", "t", TRUE);
    assert_true(cohort_client_config_resolve(NULL, NULL, &url, &token, NULL));
    g_unsetenv("COHORT_URL");
    g_unsetenv("COHORT_TOKEN");
    g_unlink(path);
}

int
main(void)
{
    g_autofree gchar *home = g_dir_make_tmp("cohortctl-unit-XXXXXX", NULL);
    g_autofree gchar *config = g_build_filename(home, "config", NULL);
    g_autofree gchar *cohort_dir = g_build_filename(config, "cohort", NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_format_width_ascii),
        cmocka_unit_test(test_client_format_width_khmer),
        cmocka_unit_test(test_client_format_width_roster),
        cmocka_unit_test(test_client_format_table_khmer),
        cmocka_unit_test(test_client_format_table_control),
        cmocka_unit_test(test_client_format_date_day),
        cmocka_unit_test(test_client_format_date_rfc3339),
        cmocka_unit_test(test_client_format_date_bad),
        cmocka_unit_test(test_client_format_machine_ref_id),
        cmocka_unit_test(test_client_format_machine_ref_slugs),
        cmocka_unit_test(test_client_format_machine_ref_bad),
        cmocka_unit_test(test_client_format_machine_ref_name),
        cmocka_unit_test(test_client_format_machine_pick),
        cmocka_unit_test(test_client_format_count),
        cmocka_unit_test(test_client_format_progress),
        cmocka_unit_test(test_client_format_member_text),
        cmocka_unit_test(test_client_format_freed),
        cmocka_unit_test(test_client_format_hosts_and_transfers),
        cmocka_unit_test(test_client_format_machine_wait),
        cmocka_unit_test(test_client_format_exit_codes),
        cmocka_unit_test(test_client_config_save_resolve),
        cmocka_unit_test(test_client_config_ca_file),
        cmocka_unit_test(test_client_config_bad_file),
    };
    gint failed;

    setlocale(LC_ALL, "C.UTF-8");
    g_assert_nonnull(home);
    /* before the first g_get_user_config_dir(), which caches it */
    g_setenv("XDG_CONFIG_HOME", config, TRUE);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    g_rmdir(cohort_dir);
    g_rmdir(config);
    g_rmdir(home);
    return failed;
}
