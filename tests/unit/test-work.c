/* The work queue's bookkeeping for reconcile: when each machine's work last settled is kept
 * only while a scan holds an epoch, so it does not grow with every machine ever made. */
#define G_LOG_DOMAIN "test-work"

#include "config.h"

#include "cohort-test.h"

#include "cohort-work.h"

static CohortWork *
work_new(GMainContext *context)
{
    CohortWorkSettings settings = {.workers = 1};

    return cohort_work_new(NULL, NULL, NULL, "test-instance", &settings, context);
}

static void
work_settle(CohortWork *work, gint64 machine_id)
{
    cohort_work_inflight_add(work, machine_id, NULL);
    cohort_work_inflight_remove(work, machine_id, NULL, 0);
}

static void
test_work_settled_kept_while_held(void **state)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(CohortWork) work = work_new(context);
    guint64 epoch;

    /* no scan under way: nobody will ask, nothing is kept */
    for (gint64 id = 1; id <= 100; id++)
        work_settle(work, id);
    assert_int_equal(cohort_work_settled_count(work), 0);

    epoch = cohort_work_epoch_hold(work);
    work_settle(work, 7);
    work_settle(work, 8);
    /* settled after the scan's epoch: its view of them is stale */
    assert_true(cohort_work_settled_since(work, 7, epoch));
    assert_true(cohort_work_settled_since(work, 8, epoch));
    /* settled before it: the scan saw them as they are */
    assert_false(cohort_work_settled_since(work, 1, epoch));
    assert_int_equal(cohort_work_settled_count(work), 2);

    /* a second scan overlapping the first keeps what the first still needs */
    {
        guint64 later = cohort_work_epoch_hold(work);
        work_settle(work, 9);
        cohort_work_epoch_release(work);
        assert_true(cohort_work_settled_since(work, 7, epoch));
        assert_true(cohort_work_settled_since(work, 9, epoch));
        assert_true(cohort_work_settled_since(work, 9, later));
    }

    /* the last scan done: no later epoch can be older than what was kept */
    cohort_work_epoch_release(work);
    assert_int_equal(cohort_work_settled_count(work), 0);
    epoch = cohort_work_epoch_hold(work);
    assert_false(cohort_work_settled_since(work, 7, epoch));
    cohort_work_epoch_release(work);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_settled_kept_while_held),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
