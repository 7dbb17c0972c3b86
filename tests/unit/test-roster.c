/* Rosters: the shipped CSV, each kind of bad line, and the bounds. */
#define G_LOG_DOMAIN "test-roster"

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cohort-error.h"
#include "cohort-roster.h"

#define test_roster_assert_contains(haystack, needle)                                              \
    do {                                                                                           \
        if (strstr((haystack), (needle)) == NULL)                                                  \
            fail_msg("'%s' does not contain '%s'", (haystack), (needle));                          \
    } while (0)

static gchar *
test_roster_load_fixture(const gchar *name, gsize *len)
{
    g_autofree gchar *path = g_build_filename(COHORT_TEST_DATADIR, "rosters", name, NULL);
    g_autoptr(GError) error = NULL;
    gchar *data = NULL;

    if (!g_file_get_contents(path, &data, len, &error))
        fail_msg("%s", error->message);
    return data;
}

static CohortRoster *
test_roster_parse_fixture(const gchar *name, GPtrArray **line_errors, GError **error)
{
    gsize len = 0;
    g_autofree gchar *data = test_roster_load_fixture(name, &len);

    return cohort_roster_parse_full(data, len, line_errors, error);
}

static CohortRoster *
test_roster_parse_string(const gchar *text)
{
    g_autoptr(GError) error = NULL;
    CohortRoster *roster = cohort_roster_parse(text, strlen(text), &error);

    if (roster == NULL)
        fail_msg("unexpected error: %s", error->message);
    return roster;
}

static void
test_roster_shipped(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortRoster) roster =
        test_roster_parse_fixture("ssc-cloud-computing-2022.csv", NULL, &error);
    const CohortRosterEntry *entry;

    if (roster == NULL)
        fail_msg("%s", error->message);
    assert_int_equal(cohort_roster_get_n_entries(roster), 86);
    assert_int_equal(cohort_roster_get_entries(roster)->len, 86);

    entry = cohort_roster_get_entry(roster, 0);
    assert_int_equal(entry->line, 2);
    assert_string_equal(entry->login, "pov-bopha");
    assert_string_equal(entry->display_name, "ពៅ បុប្ផា (Pov Bopha)");
    /* The same, spelt in bytes: no normalisation happened on the way. */
    assert_string_equal(entry->display_name,
                        "\xe1\x9e\x96\xe1\x9f\x85 \xe1\x9e\x94\xe1\x9e\xbb\xe1\x9e\x94\xe1\x9f\x92"
                        "\xe1\x9e\x95\xe1\x9e\xb6 (Pov Bopha)");
    assert_string_equal(entry->institute, "National Polytechnic Institute of Angkor");
    assert_string_equal(entry->role, "lecturer");
    assert_string_equal(entry->email, "pov-bopha@npia.example.edu");

    entry = cohort_roster_lookup(roster, "seng-vichet");
    assert_non_null(entry);
    assert_int_equal(entry->line, 3);
    assert_string_equal(entry->display_name, "សេង វិចិត្រ (Seng Vichet)");

    /* The first Burmese name, and the quoted comma in its institute. */
    entry = cohort_roster_get_entry(roster, 74);
    assert_int_equal(entry->line, 76);
    assert_string_equal(entry->login, "aung-kyaw");
    assert_string_equal(entry->display_name, "အောင်ကျော် (Aung Kyaw)");
    assert_string_equal(entry->institute, "Centre of Vocational Training, Myanmar");
    assert_string_equal(entry->role, "lecturer");

    entry = cohort_roster_get_entry(roster, 85);
    assert_int_equal(entry->line, 87);
    assert_string_equal(entry->login, "nan-su-2");
    assert_string_equal(entry->display_name, "နန်းဆု (Nan Su)");
    assert_string_equal(entry->role, "student");
    /* CRLF: nothing of the line end is left in the last field. */
    assert_string_equal(entry->email, "nan-su-2@cvt-mm.example.edu");

    assert_non_null(cohort_roster_lookup(roster, "ly-chantha-2"));
    assert_null(cohort_roster_lookup(roster, "nobody"));
}

typedef struct {
    const gchar *fixture;
    guint line;
    const gchar *says;
} TestRosterBadCase;

static void
test_roster_bad_lines(void **state)
{
    const TestRosterBadCase cases[] = {
        {"bad-duplicate-login.csv", 4, "login 'sok-dara' is already on line 2"},
        {"bad-empty-login.csv", 3, "login is empty"},
        {"bad-login-not-slug.csv", 2, "login 'Sok.Dara' is not a slug"},
        {"bad-missing-column.csv", 1, "no 'display_name' column"},
        {"bad-utf8.csv", 3, "is not valid UTF-8 (at byte 13)"},
        {"bad-field-count.csv", 3, "has 6 fields but the header has 5"},
        {"bad-unterminated-quote.csv", 2, "field 3 opens a quote that is not closed"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) line_errors = NULL;
        g_autoptr(CohortRoster) roster =
            test_roster_parse_fixture(cases[i].fixture, &line_errors, &error);
        g_autofree gchar *expected = g_strdup_printf("line %u: ", cases[i].line);
        const CohortRosterLineError *line_error;

        print_message("%s\n", cases[i].fixture);
        assert_null(roster);
        assert_non_null(error);
        assert_int_equal(error->domain, COHORT_ERROR);
        assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
        assert_true(g_str_has_prefix(error->message, expected));
        test_roster_assert_contains(error->message, cases[i].says);

        assert_non_null(line_errors);
        assert_int_equal(line_errors->len, 1);
        line_error = g_ptr_array_index(line_errors, 0);
        assert_int_equal(line_error->line, cases[i].line);
        test_roster_assert_contains(line_error->message, cases[i].says);
    }
}

static void
test_roster_display_names(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) line_errors = NULL;
    g_autoptr(CohortRoster) roster =
        test_roster_parse_fixture("bad-display-name.csv", &line_errors, &error);

    assert_null(roster);
    assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
    assert_string_equal(error->message,
                        "line 2: display_name is empty\n"
                        "line 3: display_name is 207 bytes long; at most 200 are allowed\n"
                        "line 4: display_name contains the control character U+0009");
    assert_int_equal(line_errors->len, 3);
}

static void
test_roster_many_bad_lines(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) line_errors = NULL;
    g_autoptr(CohortRoster) roster =
        test_roster_parse_fixture("bad-many.csv", &line_errors, &error);
    const guint lines[] = {3, 5, 6, 8, 9};
    g_auto(GStrv) shown = NULL;

    assert_null(roster);
    assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
    shown = g_strsplit(error->message, "\n", -1);
    assert_int_equal(g_strv_length(shown), G_N_ELEMENTS(lines));
    assert_int_equal(line_errors->len, G_N_ELEMENTS(lines));
    for (guint i = 0; i < G_N_ELEMENTS(lines); i++) {
        const CohortRosterLineError *line_error = g_ptr_array_index(line_errors, i);
        g_autofree gchar *prefix = g_strdup_printf("line %u: ", lines[i]);

        assert_int_equal(line_error->line, lines[i]);
        assert_true(g_str_has_prefix(shown[i], prefix));
        assert_string_equal(shown[i] + strlen(prefix), line_error->message);
    }
    test_roster_assert_contains(shown[0], "'Keo Sreyneang' is not a slug");
    test_roster_assert_contains(shown[1], "login 'sok-dara' is already on line 2");
    assert_string_equal(shown[2], "line 6: login is empty; display_name is empty");
    test_roster_assert_contains(shown[3], "not valid UTF-8");
    test_roster_assert_contains(shown[4], "has 6 fields");
}

static void
test_roster_too_many_bad_lines(void **state)
{
    g_autoptr(GString) csv = g_string_new("login,display_name\n");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) line_errors = NULL;
    g_autoptr(CohortRoster) roster = NULL;
    g_auto(GStrv) shown = NULL;

    for (guint i = 0; i < 60; i++)
        g_string_append_printf(csv, "User_%u,User %u\n", i, i);
    roster = cohort_roster_parse_full(csv->str, csv->len, &line_errors, &error);
    assert_null(roster);
    assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
    assert_int_equal(line_errors->len, 60);
    shown = g_strsplit(error->message, "\n", -1);
    assert_int_equal(g_strv_length(shown), COHORT_ROSTER_MAX_REPORTED + 1);
    test_roster_assert_contains(shown[0], "line 2: login 'User_0' is not a slug");
    test_roster_assert_contains(shown[49], "line 51: ");
    assert_string_equal(shown[50], "… and 10 more bad lines");
}

static void
test_roster_bom_crlf(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortRoster) roster = test_roster_parse_fixture("good-bom-crlf.csv", NULL, &error);
    const CohortRosterEntry *entry;

    if (roster == NULL)
        fail_msg("%s", error->message);
    assert_int_equal(cohort_roster_get_n_entries(roster), 2);
    entry = cohort_roster_get_entry(roster, 0);
    assert_string_equal(entry->login, "sok-dara");
    assert_string_equal(entry->display_name, "សុខ ដារា (Sok Dara)");
    entry = cohort_roster_get_entry(roster, 1);
    assert_string_equal(entry->institute, "Centre of Vocational Training, Myanmar");
    assert_string_equal(entry->email, "aung-kyaw@cvt-mm.example.edu");
}

static void
test_roster_column_order(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortRoster) roster = test_roster_parse_fixture("good-reordered.csv", NULL, &error);
    const CohortRosterEntry *entry;

    if (roster == NULL)
        fail_msg("%s", error->message);
    assert_int_equal(cohort_roster_get_n_entries(roster), 2);
    entry = cohort_roster_get_entry(roster, 0);
    assert_string_equal(entry->login, "sok-dara");
    assert_string_equal(entry->display_name, "សុខ ដារា (Sok Dara)");
    assert_string_equal(entry->role, "student");
    assert_string_equal(entry->email, "sok-dara@npia.example.edu");
    assert_null(entry->institute);
    entry = cohort_roster_get_entry(roster, 1);
    assert_string_equal(entry->login, "aung-kyaw");
    assert_string_equal(entry->display_name, "Aung Kyaw \"AK\"");
    assert_null(entry->email);
}

static void
test_roster_optional_columns(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortRoster) roster = test_roster_parse_fixture("good-minimal.csv", NULL, &error);
    g_autoptr(CohortRoster) header_only = test_roster_parse_string("login,display_name\r\n");
    g_autoptr(CohortRoster) cr_only =
        test_roster_parse_string("login,display_name\rsok-dara,Sok Dara\r\r");
    const CohortRosterEntry *entry;

    if (roster == NULL)
        fail_msg("%s", error->message);
    assert_int_equal(cohort_roster_get_n_entries(roster), 2);
    entry = cohort_roster_get_entry(roster, 1);
    assert_string_equal(entry->login, "zaw-min");
    assert_string_equal(entry->display_name, "ဇော်မင်း (Zaw Min)");
    assert_null(entry->institute);
    assert_null(entry->role);
    assert_null(entry->email);

    assert_int_equal(cohort_roster_get_n_entries(header_only), 0);
    assert_int_equal(cohort_roster_get_n_entries(cr_only), 1);
}

static void
test_roster_quoting(void **state)
{
    const gchar *bad[] = {
        "login,display_name\nsok-dara,\"Sok \"Dara\"\n", /* text after the closing quote */
        "login,display_name\nsok-dara,Sok \"Dara\"\n",   /* quote in an unquoted field */
        "login,display_name\nsok-dara,\"Sok\nDara\"\n",  /* a line break inside quotes */
        "login,display_name\nsok-dara,Sok\x01 Dara\n",   /* control character */
        "login,display_name\nsok-dara,Sok \xe2\x80\xae"
        "araD\n",                                            /* bidi override */
        "login,display_name\nsok-dara,Sok Dara\nsok-dara\n", /* one field short */
        /* found by tests/fuzz/fuzz-roster: XML 1.0 cannot carry U+FFFF or U+FFFE, so the
         * trainee's machine could not be rendered */
        "login,display_name\nsok-dara,Sok Dara\xef\xbf\xbf\n",
        "login,display_name,institute\nsok-dara,\xef\xbf\xbeSok Dara,ITC\n",
    };
    g_autoptr(CohortRoster) good = test_roster_parse_string(
        "login,display_name\n\"sok-dara\",\"Sok \"\"Dara\"\", Jr.\"\n  keo-sreyneang , Keo \n");

    assert_string_equal(cohort_roster_get_entry(good, 0)->login, "sok-dara");
    assert_string_equal(cohort_roster_get_entry(good, 0)->display_name, "Sok \"Dara\", Jr.");
    assert_string_equal(cohort_roster_get_entry(good, 1)->login, "keo-sreyneang");
    assert_string_equal(cohort_roster_get_entry(good, 1)->display_name, "Keo");

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CohortRoster) roster = cohort_roster_parse(bad[i], strlen(bad[i]), &error);

        assert_null(roster);
        assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
        print_message("%s\n", error->message);
        test_roster_assert_contains(error->message, i == 5 ? "line 3: " : "line 2: ");
        if (i >= 6)
            test_roster_assert_contains(error->message, i == 6 ? "U+FFFF" : "U+FFFE");
    }
}

static void
test_roster_header(void **state)
{
    const gchar *bad[] = {
        "",
        "\xef\xbb\xbf",
        "\nlogin,display_name\n",
        "login;display_name\nsok-dara;Sok Dara\n",
        "login,display_name,LOGIN\nsok-dara,Sok Dara,x\n",
        "login,name\nsok-dara,Sok Dara\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CohortRoster) roster = cohort_roster_parse(bad[i], strlen(bad[i]), &error);

        assert_null(roster);
        assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
        print_message("%s\n", error->message);
        assert_true(g_str_has_prefix(error->message, "line 1: "));
    }
}

static void
test_roster_bounds(void **state)
{
    g_autoptr(GString) csv = g_string_new("login,display_name\n");
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortRoster) full = NULL;
    g_autoptr(CohortRoster) over = NULL;
    g_autofree gchar *huge = g_malloc(COHORT_ROSTER_MAX_BYTES + 1);
    g_autoptr(CohortRoster) too_big = NULL;

    for (guint i = 0; i < COHORT_ROSTER_MAX_ENTRIES; i++)
        g_string_append_printf(csv, "u%u,User %u\n", i, i);
    full = cohort_roster_parse(csv->str, csv->len, &error);
    if (full == NULL)
        fail_msg("%s", error->message);
    assert_int_equal(cohort_roster_get_n_entries(full), COHORT_ROSTER_MAX_ENTRIES);

    g_string_append(csv, "one-more,One More\n");
    over = cohort_roster_parse(csv->str, csv->len, &error);
    assert_null(over);
    assert_int_equal(error->code, COHORT_ERROR_PAYLOAD_TOO_LARGE);
    g_clear_error(&error);

    memset(huge, 'a', COHORT_ROSTER_MAX_BYTES + 1);
    too_big = cohort_roster_parse(huge, COHORT_ROSTER_MAX_BYTES + 1, &error);
    assert_null(too_big);
    assert_int_equal(error->code, COHORT_ERROR_PAYLOAD_TOO_LARGE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roster_shipped),
        cmocka_unit_test(test_roster_bad_lines),
        cmocka_unit_test(test_roster_display_names),
        cmocka_unit_test(test_roster_many_bad_lines),
        cmocka_unit_test(test_roster_too_many_bad_lines),
        cmocka_unit_test(test_roster_bom_crlf),
        cmocka_unit_test(test_roster_column_order),
        cmocka_unit_test(test_roster_optional_columns),
        cmocka_unit_test(test_roster_quoting),
        cmocka_unit_test(test_roster_header),
        cmocka_unit_test(test_roster_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
