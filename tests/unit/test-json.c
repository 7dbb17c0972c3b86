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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lone_surrogate_refused),
        cmocka_unit_test(test_json_error_answer_is_utf8),
        cmocka_unit_test(test_json_time_normalized),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
