/* What is scanned before a parser sees it, and what text people are shown. */
#define G_LOG_DOMAIN "test-text"

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-error.h"
#include "cohort-json-scan.h"
#include "cohort-text.h"

static gboolean
scan(const gchar *text, guint depth, GError **error)
{
    return cohort_json_scan(text, strlen(text), depth, error);
}

static gchar *
nested(guint levels, const gchar *open, const gchar *inside, const gchar *close)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < levels; i++)
        g_string_append(s, open);
    g_string_append(s, inside);
    for (guint i = 0; i < levels; i++)
        g_string_append(s, close);
    return g_string_free(s, FALSE);
}

static void
test_text_json_depth(void **state)
{
    g_autofree gchar *at_bound = nested(COHORT_JSON_MAX_DEPTH, "[", "1", "]");
    g_autofree gchar *past_bound = nested(COHORT_JSON_MAX_DEPTH + 1, "[", "1", "]");
    g_autofree gchar *objects = nested(COHORT_JSON_MAX_DEPTH + 1, "{\"a\":", "1", "}");
    g_autofree gchar *unclosed = nested(100000, "[", "", "");
    g_autoptr(GError) error = NULL;

    assert_true(scan(at_bound, COHORT_JSON_MAX_DEPTH, NULL));
    assert_false(scan(past_bound, COHORT_JSON_MAX_DEPTH, &error));
    assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(error->message, "deeper than 32 levels"));
    g_clear_error(&error);
    assert_false(scan(objects, COHORT_JSON_MAX_DEPTH, NULL));
    assert_false(scan(unclosed, COHORT_JSON_MAX_DEPTH, NULL));
    /* siblings do not add up */
    assert_true(scan("[[1],[2],[3],{\"a\":[{}]}]", 4, NULL));
    assert_false(scan("[[1],[[2]]]", 2, NULL));
}

static void
test_text_json_strings(void **state)
{
    g_autoptr(GError) error = NULL;

    /* brackets in strings are text, escaped quotes do not end them */
    assert_true(scan("{\"a\":\"[[[[{{{{\"}", 1, NULL));
    assert_true(scan("{\"a\":\"\\\"[[[[\"}", 1, NULL));
    assert_false(scan("{\"a\":\"\\\\\"[[}", 1, NULL));
    /* \u0000, which would cut the C string the service reads */
    assert_false(scan("{\"login\":\"newlogin\\u0000x\"}", 8, &error));
    assert_non_null(strstr(error->message, "\\u0000"));
    /* an escaped backslash before it makes it plain text */
    assert_true(scan("{\"a\":\"\\\\u0000\"}", 8, NULL));
    assert_true(scan("{\"a\":\"\\u0041\"}", 8, NULL));
    /* outside strings it is the parser's to refuse */
    assert_true(scan("\\u0000", 8, NULL));
    /* a trailing backslash or a short escape at the end does not read past it */
    assert_true(scan("\"\\", 8, NULL));
    assert_true(scan("\"\\u00", 8, NULL));
}

static void
test_text_hidden_characters(void **state)
{
    static const gchar *const refused[] = {
        "evil\xe2\x80\xaetxt", /* U+202E RIGHT-TO-LEFT OVERRIDE */
        "a\xe2\x80\xaa"
        "b", /* U+202A LEFT-TO-RIGHT EMBEDDING */
        "a\xe2\x81\xa6"
        "b", /* U+2066 LEFT-TO-RIGHT ISOLATE */
        "a\xe2\x81\xa9"
        "b", /* U+2069 POP DIRECTIONAL ISOLATE */
        "a\xe2\x80\xa8"
        "b",          /* U+2028 LINE SEPARATOR */
        "a\tb",       /* a control character */
        "a\x1b[31mb", /* a terminal escape */
        /* found by tests/fuzz/fuzz-roster: XML 1.0 cannot carry these, no machine rendered */
        "a\xef\xbf\xbf",
        "\xef\xbf\xbe"
        "b",
    };
    static const gchar *const accepted[] = {
        "Sok Dara",
        "\xe1\x9e\x9f\xe1\x9e\xbb\xe1\x9e\x81 \xe1\x9e\x8a\xe1\x9e\xb6\xe1\x9e\x9a\xe1\x9f\x89\xe1"
        "\x9e\xb6",                             /* Khmer */
        "\xe1\x80\x99\xe2\x80\x8c\xe1\x80\x84", /* Burmese with a zero-width non-joiner */
        "\xe5\xbc\xa0\xe4\xbc\x9f",             /* Chinese */
        "\xd8\xb3\xd8\xa7\xd8\xb1\xd8\xa9",     /* Arabic, right to left by itself */
    };
    gunichar found = 0;

    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) error = NULL;
        assert_true(cohort_text_find_hidden(refused[i], &found));
        assert_false(cohort_text_validate(refused[i], "\"title\"", 200, &error));
        assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error->message, "\"title\" contains"));
    }
    assert_true(cohort_text_find_hidden("evil\xe2\x80\xaetxt", &found));
    assert_int_equal(found, 0x202e);
    for (guint i = 0; i < G_N_ELEMENTS(accepted); i++) {
        g_autoptr(GError) error = NULL;
        assert_false(cohort_text_find_hidden(accepted[i], &found));
        assert_true(cohort_text_validate(accepted[i], "\"title\"", 200, &error));
    }
    assert_false(cohort_text_validate("", "\"title\"", 200, NULL));
    assert_false(cohort_text_validate("abcdef", "\"title\"", 5, NULL));
    assert_false(cohort_text_validate("\xff\xfe", "\"title\"", 200, NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_json_depth),
        cmocka_unit_test(test_text_json_strings),
        cmocka_unit_test(test_text_hidden_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
