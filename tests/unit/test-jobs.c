/* The worker pool: results come back to the main context, and a waiter runs once every item
 * pushed before it is done (what a removed host's connection waits for). */
#define G_LOG_DOMAIN "test-jobs"

#include "config.h"

#include "cohort-test.h"

#include "cohort-jobs.h"

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean open; /* items may finish */
    guint done;
    guint waited;
    guint done_when_waited;
} Gate;

static gboolean
gate_work(gpointer item, GError **error)
{
    Gate *gate = item;

    g_mutex_lock(&gate->lock);
    while (!gate->open)
        g_cond_wait(&gate->cond, &gate->lock);
    g_mutex_unlock(&gate->lock);
    return TRUE;
}

static void
gate_done(gpointer item, const GError *error, gpointer user_data)
{
    Gate *gate = item;

    g_assert_no_error(error);
    gate->done++;
}

static void
gate_waited(gpointer data)
{
    Gate *gate = data;

    gate->waited++;
    gate->done_when_waited = gate->done;
}

static void
gate_open(Gate *gate)
{
    g_mutex_lock(&gate->lock);
    gate->open = TRUE;
    g_cond_broadcast(&gate->cond);
    g_mutex_unlock(&gate->lock);
}

static void
test_jobs_when_done(void **state)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    CohortJobs *jobs;
    Gate gate = {0};

    g_mutex_init(&gate.lock);
    g_cond_init(&gate.cond);
    g_main_context_push_thread_default(context);
    assert_true(g_main_context_acquire(context));
    jobs = cohort_jobs_new(2, context);

    /* nothing pending: at once */
    cohort_jobs_when_done(jobs, gate_waited, &gate);
    assert_int_equal(gate.waited, 1);
    gate.waited = 0;
    gate.done_when_waited = 0;

    cohort_jobs_push(jobs, gate_work, gate_done, &gate, NULL, NULL);
    cohort_jobs_push(jobs, gate_work, gate_done, &gate, NULL, NULL);
    cohort_jobs_when_done(jobs, gate_waited, &gate);
    cohort_jobs_push(jobs, gate_work, gate_done, &gate, NULL, NULL);
    /* the items wait at the gate: nothing is done, the waiter waits */
    while (g_main_context_iteration(context, FALSE))
        ;
    assert_int_equal(gate.done, 0);
    assert_int_equal(gate.waited, 0);
    gate_open(&gate);
    while (gate.done < 3)
        g_main_context_iteration(context, TRUE);
    /* once, when the two items pushed before it were done (the third does not count) */
    assert_int_equal(gate.waited, 1);
    assert_true(gate.done_when_waited >= 2);
    assert_int_equal(cohort_jobs_get_pending(jobs), 0);

    cohort_jobs_free(jobs);
    g_main_context_release(context);
    g_main_context_pop_thread_default(context);
    g_mutex_clear(&gate.lock);
    g_cond_clear(&gate.cond);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_when_done),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
