/* The worker pool: results come back to the main context, and a waiter runs once every item
 * pushed before it is done (what a removed host's connection waits for). */
#define G_LOG_DOMAIN "test-jobs"

#include "config.h"

#include "cohort-test.h"

#include "cohort-error.h"
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

static gboolean
started_work(gpointer item, GError **error)
{
    g_atomic_int_inc((gint *)item);
    return TRUE;
}

static void
started_done(gpointer item, const GError *error, gpointer user_data)
{
    GError **kept = user_data;

    if (error != NULL && kept != NULL && *kept == NULL)
        *kept = g_error_copy(error);
}

/* Work pushed in a turn of the main loop goes to the workers once that turn is over (a turn
 * that answers 200 requests wakes them once, not 200 times); work held so when cohortd stops
 * is failed and recorded like the rest of the queue. */
static void
test_jobs_start_after_turn(void **state)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GError) stopped = NULL;
    CohortJobs *jobs;
    gint started = 0;

    g_main_context_push_thread_default(context);
    assert_true(g_main_context_acquire(context));
    jobs = cohort_jobs_new(2, context);

    cohort_jobs_push(jobs, started_work, started_done, &started, NULL, NULL);
    cohort_jobs_push(jobs, started_work, started_done, &started, NULL, NULL);
    g_usleep(100 * 1000);
    assert_int_equal(g_atomic_int_get(&started), 0);
    assert_int_equal(cohort_jobs_get_pending(jobs), 2);
    while (cohort_jobs_get_pending(jobs) > 0)
        g_main_context_iteration(context, TRUE);
    assert_int_equal(g_atomic_int_get(&started), 2);

    /* pushed, and cohortd stops before the turn is over: never run, failed, recorded */
    cohort_jobs_push(jobs, started_work, started_done, &started, NULL, &stopped);
    cohort_jobs_free(jobs);
    assert_int_equal(g_atomic_int_get(&started), 2);
    assert_non_null(stopped);
    assert_true(g_error_matches(stopped, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE));
    g_main_context_release(context);
    g_main_context_pop_thread_default(context);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_when_done),
        cmocka_unit_test(test_jobs_start_after_turn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
