/* Slugs and the libvirt object names derived from them. */
#define G_LOG_DOMAIN "test-names"

#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-slug.h"

static void
test_names_slug_valid(void **state)
{
    const gchar *good[] = {"sok-dara", "cloud-101", "a", "chhim-sophea-2", "0day"};

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        assert_true(cohort_slug_validate(good[i], "login", &error));
        assert_null(error);
    }
}

static void
test_names_slug_invalid(void **state)
{
    const gchar *bad[] = {"",
                          "Sok-Dara",
                          "-sok",
                          "sok-",
                          "sok--dara",
                          "sok dara",
                          "sok_dara",
                          "ស៊ុន",
                          "a/../../etc",
                          "x'y",
                          "a<b>",
                          "sok.dara",
                          "\n",
                          "0123456789012345678901234567890123456789x"};

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        assert_false(cohort_slug_validate(bad[i], "login", &error));
        assert_non_null(error);
        assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error->message, "login"));
    }
    assert_false(cohort_slug_validate(NULL, "login", NULL));
}

static void
test_names_derived(void **state)
{
    g_autofree gchar *first = cohort_names_domain("cloud-101", "sok-dara", 1);
    g_autofree gchar *third = cohort_names_domain("cloud-101", "sok-dara", 3);
    g_autofree gchar *overlay = cohort_names_overlay(first);
    g_autofree gchar *network = cohort_names_network("cloud-101");

    assert_string_equal(first, "cohort-cloud-101--sok-dara");
    assert_string_equal(third, "cohort-cloud-101--sok-dara--3");
    assert_string_equal(overlay, "cohort-cloud-101--sok-dara.qcow2");
    assert_string_equal(network, "cohort-cloud-101");
    {
        /* another trainee whose login ends in -2, another cohort whose slug has the hyphen */
        g_autofree gchar *other = cohort_names_domain("cloud-101", "sok-dara-2", 1);
        g_autofree gchar *second = cohort_names_domain("cloud-101", "sok-dara", 2);
        g_autofree gchar *a = cohort_names_domain("a-b", "c", 1);
        g_autofree gchar *b = cohort_names_domain("a", "b-c", 1);
        assert_string_not_equal(other, second);
        assert_string_not_equal(a, b);
    }
    assert_true(cohort_names_has_prefix(first));
    assert_false(cohort_names_has_prefix("cohort-"));
    assert_false(cohort_names_has_prefix("admin-build-server"));
    assert_false(cohort_names_has_prefix(NULL));
}

/* A cohort network's UUID: the same for the same installation and cohort, different
 * otherwise, and a well-formed UUID libvirt takes. */
static void
test_names_network_uuid(void **state)
{
    const gchar *owner = "0f3c2d9e-5b1a-4c7e-9d2f-6a8b7c6d5e4f";
    g_autofree gchar *a = cohort_names_network_uuid(owner, "cloud-101");
    g_autofree gchar *again = cohort_names_network_uuid(owner, "cloud-101");
    g_autofree gchar *other_cohort = cohort_names_network_uuid(owner, "cloud-102");
    g_autofree gchar *other_owner =
        cohort_names_network_uuid("1f3c2d9e-5b1a-4c7e-9d2f-6a8b7c6d5e4f", "cloud-101");
    g_autofree gchar *no_owner = cohort_names_network_uuid(NULL, "cloud-101");

    (void)state;
    assert_string_equal(a, again);
    assert_string_not_equal(a, other_cohort);
    assert_string_not_equal(a, other_owner);
    assert_string_not_equal(a, no_owner);
    assert_true(g_uuid_string_is_valid(a));
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '8');
    assert_non_null(strchr("89ab", a[19]));
}

static void
test_names_error_codes(void **state)
{
    assert_string_equal(cohort_error_code_to_string(COHORT_ERROR_NOT_FOUND), "not-found");
    assert_string_equal(cohort_error_code_to_string(COHORT_ERROR_LIBVIRT), "libvirt-error");
    assert_int_equal(cohort_error_code_to_http_status(COHORT_ERROR_QUOTA_EXCEEDED), 409);
    assert_int_equal(cohort_error_code_to_http_status(COHORT_ERROR_NO_CAPACITY), 503);
    assert_int_equal(cohort_error_code_to_http_status(COHORT_ERROR_PAYLOAD_TOO_LARGE), 413);
    for (gint i = 0; i < COHORT_ERROR_LAST; i++)
        assert_int_equal(cohort_error_code_from_string(cohort_error_code_to_string(i)), i);
    assert_int_equal(cohort_error_code_from_string("no-such-code"), COHORT_ERROR_INTERNAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_slug_valid),   cmocka_unit_test(test_names_slug_invalid),
        cmocka_unit_test(test_names_derived),      cmocka_unit_test(test_names_error_codes),
        cmocka_unit_test(test_names_network_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
