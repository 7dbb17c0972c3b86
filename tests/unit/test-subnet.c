/* The address plan's subnets: parsing, overlap, and the first free block of a range. */
#define G_LOG_DOMAIN "test-subnet"

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-error.h"
#include "cohort-subnet.h"

static CohortSubnet
subnet(const gchar *text)
{
    g_autoptr(GError) error = NULL;
    CohortSubnet s = {0};

    assert_true(cohort_subnet_parse(text, FALSE, &s, &error));
    assert_null(error);
    return s;
}

static void
assert_subnet(const CohortSubnet *s, const gchar *expected)
{
    g_autofree gchar *text = cohort_subnet_to_string(s);
    assert_string_equal(text, expected);
}

static void
test_subnet_parse(void **state)
{
    static const gchar *const bad[] = {
        "",          "10.200.0.0",      "10.200.0.0/33", "10.200.0.0/-1", "10.200.0/16",
        "fd00::/64", "10.200.0.0/16/2", "x/8",           "10.200.0.1/16"};
    CohortSubnet s = subnet("10.200.0.0/16");

    assert_int_equal(s.prefix, 16);
    assert_subnet(&s, "10.200.0.0/16");
    assert_int_equal(cohort_subnet_last(&s), 0x0AC8FFFFu);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        assert_false(cohort_subnet_parse(bad[i], FALSE, &s, &error));
        assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT));
    }
    {
        /* host bits: said so, with the subnet meant */
        g_autoptr(GError) error = NULL;
        assert_false(cohort_subnet_parse("10.200.0.1/16", FALSE, &s, &error));
        assert_non_null(strstr(error->message, "10.200.0.0/16?"));
    }
    /* loose: what a libvirt <ip> says, host bits cleared */
    assert_true(cohort_subnet_parse("192.168.122.1/24", TRUE, &s, NULL));
    assert_subnet(&s, "192.168.122.0/24");
}

/* libvirt's <ip address= prefix=|netmask=>: either, or neither (the classful default). */
static void
test_subnet_from_address(void **state)
{
    CohortSubnet s;

    assert_true(cohort_subnet_from_address("192.168.122.1", NULL, "255.255.255.0", &s));
    assert_subnet(&s, "192.168.122.0/24");
    assert_true(cohort_subnet_from_address("10.1.2.3", "20", NULL, &s));
    assert_subnet(&s, "10.1.0.0/20");
    assert_true(cohort_subnet_from_address("10.1.2.3", NULL, NULL, &s));
    assert_subnet(&s, "10.0.0.0/8");
    assert_false(cohort_subnet_from_address("10.1.2.3", NULL, "255.0.255.0", &s));
    assert_false(cohort_subnet_from_address("10.1.2.3", "40", NULL, &s));
    assert_false(cohort_subnet_from_address("fd00::1", "64", NULL, &s));
    assert_false(cohort_subnet_from_address(NULL, "24", NULL, &s));
}

static void
test_subnet_overlap(void **state)
{
    CohortSubnet range = subnet("10.200.0.0/16");
    CohortSubnet inside = subnet("10.200.5.0/24");
    CohortSubnet wider = subnet("10.0.0.0/8");
    CohortSubnet beside = subnet("10.201.0.0/24");
    g_autofree gchar *gateway = cohort_subnet_address(&inside, 1);
    g_autofree gchar *mask = cohort_subnet_netmask(&inside);

    assert_true(cohort_subnet_overlaps(&range, &inside));
    assert_true(cohort_subnet_overlaps(&inside, &range));
    assert_true(cohort_subnet_overlaps(&range, &wider));
    assert_false(cohort_subnet_overlaps(&range, &beside));
    assert_true(cohort_subnet_contains(&range, &inside));
    assert_false(cohort_subnet_contains(&inside, &range));
    assert_string_equal(gateway, "10.200.5.1");
    assert_string_equal(mask, "255.255.255.0");
}

/* The first free block, past what other cohorts and the hosts' networks take (a host network
 * larger than a block skips every block under it); none when the range is full. */
static void
test_subnet_find_free(void **state)
{
    CohortSubnet range = subnet("10.200.0.0/22");
    CohortSubnet taken[] = {subnet("10.200.0.0/24"), subnet("10.200.1.128/25")};
    CohortSubnet all[] = {subnet("10.200.0.0/23"), subnet("10.200.2.0/24"),
                          subnet("10.200.3.64/26")};
    CohortSubnet found;

    assert_true(cohort_subnet_find_free(&range, 24, NULL, 0, &found));
    assert_subnet(&found, "10.200.0.0/24");
    assert_true(cohort_subnet_find_free(&range, 24, taken, G_N_ELEMENTS(taken), &found));
    assert_subnet(&found, "10.200.2.0/24");
    assert_true(cohort_subnet_find_free(&range, 25, taken, G_N_ELEMENTS(taken), &found));
    assert_subnet(&found, "10.200.1.0/25");
    assert_false(cohort_subnet_find_free(&range, 24, all, G_N_ELEMENTS(all), &found));
    assert_true(cohort_subnet_find_free(&range, 26, all, G_N_ELEMENTS(all), &found));
    assert_subnet(&found, "10.200.3.0/26");
    /* a block larger than the range, or no range at all: nothing */
    assert_false(cohort_subnet_find_free(&range, 21, NULL, 0, &found));
    {
        CohortSubnet top = subnet("255.255.255.0/24");
        assert_true(cohort_subnet_find_free(&top, 25, NULL, 0, &found));
        assert_subnet(&found, "255.255.255.0/25");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subnet_parse),
        cmocka_unit_test(test_subnet_from_address),
        cmocka_unit_test(test_subnet_overlap),
        cmocka_unit_test(test_subnet_find_free),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
