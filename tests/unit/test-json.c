/* Request bodies and answers as JSON: what json-glib lets through must not reach the store or
 * a client. Each case here was found by tests/fuzz/fuzz-json. */
#define G_LOG_DOMAIN "test-json"

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cohort-error.h"
#include "cohort-json-writer.h"
#include "cohort-json.h"
#include "cohort-test.h"

static JsonObject *
test_json_parse(const gchar *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *obj = cohort_json_parse_object(text, strlen(text), &error);

    cohort_assert_no_error(error);
    assert_non_null(obj);
    return obj;
}

/* json-glib 1.6 takes "\ud800" without its low half and decodes it to bytes that are not
 * UTF-8: a title like that was stored, and every answer naming the cohort was then no JSON. */
static void
test_json_lone_surrogate_refused(void **state)
{
    static const gchar *const bodies[] = {
        "{\"title\":\"\\ud800x\"}",
        "{\"title\":\"Cloud \\udbff!\"}",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
        g_autoptr(JsonObject) obj = test_json_parse(bodies[i]);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *title = NULL;

        assert_false(cohort_json_get_string(obj, "title", TRUE, 200, &title, &error));
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        cohort_assert_contains(error->message, "\"title\" is not valid UTF-8");
        assert_null(title);
    }
    /* a whole pair is one character */
    {
        g_autoptr(JsonObject) obj = test_json_parse("{\"title\":\"\\ud83d\\ude00\"}");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *title = NULL;

        assert_true(cohort_json_get_string(obj, "title", TRUE, 200, &title, &error));
        assert_string_equal(title, "\xf0\x9f\x98\x80");
    }
}

/* json-glib's parse error quotes the string it was decoding, half pair and all: the 400's body
 * was not UTF-8, and cohortctl could not show the error. */
static void
test_json_error_answer_is_utf8(void **state)
{
    static const gchar body[] = "{\"a\":\"\\ud83d\" \"b\"}";
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) obj = cohort_json_parse_object(body, strlen(body), &error);
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonObject) again = NULL;
    g_autofree gchar *text = NULL;

    assert_null(obj);
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    answer = cohort_json_error(error);
    text = cohort_json_to_string(answer, FALSE);
    assert_true(g_utf8_validate(text, -1, NULL));
    again = cohort_json_parse_object(text, strlen(text), NULL);
    assert_non_null(again);
    cohort_assert_contains(
        json_object_get_string_member(json_object_get_object_member(again, "error"), "message"),
        "not valid JSON");
}

static void
test_json_time_normalized(void **state)
{
    static const struct {
        const gchar *in;
        const gchar *out;
    } good[] = {
        {"2026-12-18T10:00:00+07:00", "2026-12-18T03:00:00Z"},
        /* "%Y" wrote "395" and "26": strings the store's time shape refuses, out of order */
        {"0395-01-01T00:00:00Z", "0395-01-01T00:00:00Z"},
        {"0026-12-18T10:00:00+07:00", "0026-12-18T03:00:00Z"},
        {"9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59Z"},
    };
    /* In UTC past year 9999 or before year 1: g_date_time_to_utc() gives NULL, and
     * g_date_time_format(NULL) was a g_critical() and a 500 with no error set. */
    static const gchar *const bad[] = {
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "2026-13-01T00:00:00Z",
        "",
    };

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *out = cohort_json_normalize_time(good[i].in, "ends_at", &error);

        cohort_assert_no_error(error);
        assert_string_equal(out, good[i].out);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *out = cohort_json_normalize_time(bad[i], "ends_at", &error);

        assert_null(out);
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        cohort_assert_contains(error->message, "\"ends_at\" must be an RFC 3339 time");
    }
}

/* The writer against json-glib's generator, the bytes of one compared with the other's. */
static void
test_json_assert_writes_as_json_glib(CohortJsonWriter *w, JsonBuilder *b)
{
    g_autoptr(JsonNode) node = json_builder_get_root(b);
    g_autofree gchar *expected = cohort_json_to_string(node, FALSE);
    g_autofree gchar *written = cohort_json_writer_free_to_text(w);

    assert_string_equal(written, expected);
}

/* Every byte alone, inside a word and as a member's name; lone bytes above 0x7f are not UTF-8
 * and become U+FFFD in both. 0x1f is the exception, below. */
static void
test_json_writer_strings(void **state)
{
    for (guint c = 1; c < 256; c++) {
        g_autoptr(JsonBuilder) b = NULL;
        CohortJsonWriter *w;
        gchar alone[2] = {(gchar)c, '\0'};
        g_autofree gchar *inside = NULL;

        if (c == 0x1f)
            continue;
        b = json_builder_new();
        w = cohort_json_writer_new();
        inside = g_strdup_printf("a%cb\"c\\", (gchar)c);
        json_builder_begin_object(b);
        cohort_json_writer_begin_object(w);
        json_builder_set_member_name(b, "alone");
        json_builder_add_string_value(b, alone);
        cohort_json_writer_member(w, "alone");
        cohort_json_writer_string(w, alone);
        json_builder_set_member_name(b, inside);
        json_builder_add_string_value(b, inside);
        cohort_json_writer_member(w, inside);
        cohort_json_writer_string(w, inside);
        json_builder_end_object(b);
        cohort_json_writer_end_object(w);
        test_json_assert_writes_as_json_glib(w, b);
    }
    /* UTF-8 as it is: an accent, a right-to-left override, an emoji */
    {
        static const gchar text[] = "Jos\xc3\xa9 \xe2\x80\xae \xf0\x9f\x98\x80";
        g_autoptr(JsonBuilder) b = json_builder_new();
        CohortJsonWriter *w = cohort_json_writer_new();

        json_builder_begin_array(b);
        json_builder_add_string_value(b, text);
        json_builder_end_array(b);
        cohort_json_writer_begin_array(w);
        cohort_json_writer_string(w, text);
        cohort_json_writer_end_array(w);
        test_json_assert_writes_as_json_glib(w, b);
    }
}

/* json-glib 1.6 writes 0x1f raw, which no JSON parser takes; the writer escapes it. */
static void
test_json_writer_unit_separator_escaped(void **state)
{
    CohortJsonWriter *w = cohort_json_writer_new();
    g_autofree gchar *text = NULL;
    g_autoptr(JsonNode) parsed = NULL;

    cohort_json_writer_string(w, "a\x1f"
                                 "b");
    text = cohort_json_writer_free_to_text(w);
    assert_string_equal(text, "\"a\\u001fb\"");
    parsed = json_from_string(text, NULL);
    assert_non_null(parsed);
    assert_string_equal(json_node_get_string(parsed), "a\x1f"
                                                      "b");
}

static void
test_json_writer_structure(void **state)
{
    static const gint64 numbers[] = {0, 1, -1, 9, 10, 1234567890, G_MAXINT64, G_MININT64};
    g_autoptr(JsonBuilder) b = json_builder_new();
    CohortJsonWriter *w = cohort_json_writer_new();

    json_builder_begin_array(b);
    cohort_json_writer_begin_array(w);
    json_builder_begin_object(b);
    cohort_json_writer_begin_object(w);
    json_builder_end_object(b);
    cohort_json_writer_end_object(w);
    json_builder_begin_array(b);
    cohort_json_writer_begin_array(w);
    json_builder_end_array(b);
    cohort_json_writer_end_array(w);
    json_builder_begin_object(b);
    cohort_json_writer_begin_object(w);
    for (guint i = 0; i < G_N_ELEMENTS(numbers); i++) {
        g_autofree gchar *name = g_strdup_printf("n%u", i);
        json_builder_set_member_name(b, name);
        json_builder_add_int_value(b, numbers[i]);
        cohort_json_writer_member(w, name);
        cohort_json_writer_int(w, numbers[i]);
    }
    json_builder_set_member_name(b, "yes");
    json_builder_add_boolean_value(b, TRUE);
    cohort_json_writer_member(w, "yes");
    cohort_json_writer_boolean(w, TRUE);
    json_builder_set_member_name(b, "no");
    json_builder_add_boolean_value(b, FALSE);
    cohort_json_writer_member(w, "no");
    cohort_json_writer_boolean(w, FALSE);
    json_builder_set_member_name(b, "none");
    json_builder_add_null_value(b);
    cohort_json_writer_member(w, "none");
    cohort_json_writer_null(w);
    json_builder_set_member_name(b, "nested");
    json_builder_begin_array(b);
    cohort_json_writer_member(w, "nested");
    cohort_json_writer_begin_array(w);
    json_builder_add_null_value(b);
    cohort_json_writer_string(w, NULL);
    json_builder_begin_object(b);
    cohort_json_writer_begin_object(w);
    json_builder_set_member_name(b, "deep");
    json_builder_add_string_value(b, "x");
    cohort_json_writer_member(w, "deep");
    cohort_json_writer_string(w, "x");
    json_builder_end_object(b);
    cohort_json_writer_end_object(w);
    json_builder_end_array(b);
    cohort_json_writer_end_array(w);
    json_builder_end_object(b);
    cohort_json_writer_end_object(w);
    json_builder_end_array(b);
    cohort_json_writer_end_array(w);
    test_json_assert_writes_as_json_glib(w, b);
}

/* The list's machines are written as text, single machines built as trees: the two must be the
 * same bytes for every kind of row, or a client sees a machine change with the route it used. */
static void
test_json_machine_text_as_tree(void **state)
{
    static const gchar *const pending[] = {"stop", "start", NULL};
    CohortHost up = {.state = (gchar *)"up", .prov = (CohortProvisioner *)&up};
    CohortHost down = {.state = (gchar *)"down"};
    CohortMachineRow full = {
        .id = 42,
        .name = (gchar *)"cohort-cloud-101--jos\xc3\xa9-1",
        .cohort_slug = (gchar *)"cloud-101",
        .trainee_login = (gchar *)"jos\xc3\xa9",
        .host_name = (gchar *)"lab \"one\"",
        .template_name = (gchar *)"debian",
        .state = (gchar *)"running",
        .vcpus = 2,
        .memory_mib = 2048,
        .created_at = (gchar *)"2026-12-02T10:00:00Z",
        .expires_at = (gchar *)"2026-12-09T10:00:00Z",
        .error = (gchar *)"line\none\ttab \\ \x01",
        .ready = TRUE,
        .ready_at = (gchar *)"2026-12-02T10:01:00Z",
        .addresses = (gchar *)" 10.0.0.2  fe80::1 ",
    };
    CohortMachineRow bare = {
        .id = 7,
        .name = (gchar *)"cohort-c--t-1",
        .cohort_slug = (gchar *)"c",
        .trainee_login = (gchar *)"t",
        .template_name = (gchar *)"tiny",
        .state = (gchar *)"requested",
    };
    CohortMachineRow reclaimed = bare;
    const struct {
        const CohortMachineRow *row;
        const gchar *const *pending;
        const CohortHost *host;
        const gchar *state; /* the answer's "state" */
    } cases[] = {
        {&full, pending, &up, "running"},
        {&full, NULL, &down, "host-unavailable"},
        {&full, pending, NULL, "running"},
        {&bare, NULL, NULL, "requested"},
        {&bare, pending, &down, "host-unavailable"},
        {&reclaimed, NULL, &down, "reclaimed"},
    };

    reclaimed.state = (gchar *)"reclaimed";
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) tree =
            cohort_json_machine(cases[i].row, cases[i].pending, cases[i].host);
        g_autofree gchar *expected = cohort_json_to_string(tree, FALSE);
        CohortJsonWriter *w = cohort_json_writer_new();
        g_autofree gchar *written = NULL;

        cohort_json_machine_write(w, cases[i].row, cases[i].pending, cases[i].host);
        written = cohort_json_writer_free_to_text(w);
        assert_string_equal(written, expected);
        assert_string_equal(json_object_get_string_member(json_node_get_object(tree), "state"),
                            cases[i].state);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lone_surrogate_refused),
        cmocka_unit_test(test_json_error_answer_is_utf8),
        cmocka_unit_test(test_json_time_normalized),
        cmocka_unit_test(test_json_writer_strings),
        cmocka_unit_test(test_json_writer_unit_separator_escaped),
        cmocka_unit_test(test_json_writer_structure),
        cmocka_unit_test(test_json_machine_text_as_tree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
