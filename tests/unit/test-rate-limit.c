/* Failed sign-ins per address, with the clock driven by the test. */
#define G_LOG_DOMAIN "test-rate-limit"

#include "config.h"

#include "cohort-rate-limit.h"
#include "cohort-test.h"

#define SECOND ((gint64)G_USEC_PER_SEC)

static void
test_rate_limit_blocks_after_per_minute(void **state)
{
    g_autoptr(CohortRateLimit) limit = cohort_rate_limit_new(30, 100);
    gint64 now = 1000 * SECOND;
    guint retry = 0;

    for (guint i = 0; i < 30; i++) {
        assert_false(cohort_rate_limit_is_blocked(limit, "10.0.0.7", now, NULL));
        cohort_rate_limit_fail(limit, "10.0.0.7", now);
    }
    assert_true(cohort_rate_limit_is_blocked(limit, "10.0.0.7", now, &retry));
    /* one try comes back every 2 s at 30 a minute */
    assert_true(retry >= 1 && retry <= 3);
    /* another address is not concerned */
    assert_false(cohort_rate_limit_is_blocked(limit, "10.0.0.8", now, NULL));
    assert_false(cohort_rate_limit_is_blocked(limit, "10.0.0.7", now + 3 * SECOND, NULL));
    cohort_rate_limit_fail(limit, "10.0.0.7", now + 3 * SECOND);
    assert_true(cohort_rate_limit_is_blocked(limit, "10.0.0.7", now + 3 * SECOND, NULL));
    /* a minute later every try is back */
    for (guint i = 0; i < 30; i++) {
        assert_false(cohort_rate_limit_is_blocked(limit, "10.0.0.7", now + 70 * SECOND, NULL));
        cohort_rate_limit_fail(limit, "10.0.0.7", now + 70 * SECOND);
    }
    assert_true(cohort_rate_limit_is_blocked(limit, "10.0.0.7", now + 70 * SECOND, NULL));
    assert_int_equal(cohort_rate_limit_get_failed_total(limit), 61);
}

static void
test_rate_limit_report(void **state)
{
    g_autoptr(CohortRateLimit) limit = cohort_rate_limit_new(5, 100);
    g_autofree gchar *first = NULL;
    g_autofree gchar *none = NULL;
    guint64 failed = 0;
    guint64 refused = 0;

    assert_null(cohort_rate_limit_take_report(limit, &failed, &refused));
    for (guint i = 0; i < 7; i++)
        cohort_rate_limit_fail(limit, "10.0.0.7", 0);
    cohort_rate_limit_refused(limit, "10.0.0.7");
    cohort_rate_limit_fail(limit, "10.0.0.9", 0);
    for (guint i = 0; i < 7; i++) {
        g_autofree gchar *client = g_strdup_printf("192.0.2.%u", i);
        cohort_rate_limit_fail(limit, client, 0);
    }
    first = cohort_rate_limit_take_report(limit, &failed, &refused);
    assert_int_equal(failed, 15);
    assert_int_equal(refused, 1);
    assert_string_equal(first, "15 failed, 1 refused, from 9 addresses: 10.0.0.7 (7 failed, 1 "
                               "refused), 10.0.0.9 (1 failed), 192.0.2.0 (1 failed), 192.0.2.1 "
                               "(1 failed), 192.0.2.2 (1 failed) and 4 more");
    /* the counts start again; the block does not */
    none = cohort_rate_limit_take_report(limit, NULL, NULL);
    assert_null(none);
    assert_true(cohort_rate_limit_is_blocked(limit, "10.0.0.7", 0, NULL));
}

/* An attacker with many addresses cannot grow the table past its bound. */
static void
test_rate_limit_bounded(void **state)
{
    g_autoptr(CohortRateLimit) limit = cohort_rate_limit_new(2, 64);

    for (guint i = 0; i < 10000; i++) {
        g_autofree gchar *client = g_strdup_printf("198.51.%u.%u", i / 256, i % 256);
        cohort_rate_limit_fail(limit, client, (gint64)i * SECOND);
        cohort_rate_limit_fail(limit, client, (gint64)i * SECOND);
    }
    /* the newest are still held, blocked */
    assert_true(cohort_rate_limit_is_blocked(limit, "198.51.39.15", 9999 * SECOND, NULL));
    /* the oldest were dropped to make room */
    assert_false(cohort_rate_limit_is_blocked(limit, "198.51.0.0", 9999 * SECOND, NULL));
}

static void
test_rate_limit_client_key(void **state)
{
    g_autoptr(GSocketAddress) v4 = g_inet_socket_address_new_from_string("203.0.113.9", 80);
    g_autoptr(GSocketAddress) v6a = g_inet_socket_address_new_from_string("2001:db8:1:2::1", 80);
    g_autoptr(GSocketAddress) v6b =
        g_inet_socket_address_new_from_string("2001:db8:1:2:ffff::9", 80);
    g_autoptr(GSocketAddress) mapped = g_inet_socket_address_new_from_string("::ffff:10.1.2.3", 80);
    g_autofree gchar *k4 = cohort_rate_limit_client_key(v4);
    g_autofree gchar *k6a = cohort_rate_limit_client_key(v6a);
    g_autofree gchar *k6b = cohort_rate_limit_client_key(v6b);
    g_autofree gchar *kmapped = cohort_rate_limit_client_key(mapped);

    assert_string_equal(k4, "203.0.113.9");
    /* one /64, one client */
    assert_string_equal(k6a, "2001:0db8:0001:0002::/64");
    assert_string_equal(k6a, k6b);
    assert_string_equal(kmapped, "10.1.2.3");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit_blocks_after_per_minute),
        cmocka_unit_test(test_rate_limit_report),
        cmocka_unit_test(test_rate_limit_bounded),
        cmocka_unit_test(test_rate_limit_client_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
