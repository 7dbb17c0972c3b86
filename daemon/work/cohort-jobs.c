#define G_LOG_DOMAIN "cohort-jobs"

#include "config.h"

#include "cohort-error.h"
#include "cohort-jobs.h"

struct _CohortJobs {
    GThreadPool *pool;
    GMainContext *context;
    gint pending;       /* atomic */
    gboolean cancelled; /* atomic: cohortd stops; work not yet started is not started */
    guint64 pushed;     /* main context: items pushed so far, each one's number */
    GSList *waiters;    /* main context: of CohortJobsWaiter */
};

/* Someone waiting for the items pushed before a point to be done. */
typedef struct {
    guint64 before;  /* items numbered below this count */
    guint remaining; /* of them, not done yet */
    GDestroyNotify func;
    gpointer data;
} CohortJobsWaiter;

typedef struct {
    CohortJobs *jobs;
    CohortJobWorkFunc work;
    CohortJobDoneFunc done;
    gpointer item;
    GDestroyNotify item_free;
    gpointer user_data;
    GError *error;
    guint64 number; /* in the order pushed */
} CohortJobTask;

static void
cohort_job_task_free(CohortJobTask *task)
{
    if (task->item_free != NULL)
        task->item_free(task->item);
    g_clear_error(&task->error);
    g_free(task);
}

/* Work cohortd will not do because it stops: queued, or asked for while it drains. */
static GError *
cohort_jobs_stopped_error(void)
{
    return g_error_new_literal(COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                               "cohortd stopped before this work started; run it again");
}

/* Main context: one item older than each waiter's point is done. */
static void
cohort_jobs_waiters_count(CohortJobs *self, guint64 number)
{
    GSList *l = self->waiters;

    while (l != NULL) {
        CohortJobsWaiter *waiter = l->data;
        GSList *next = l->next;
        if (number < waiter->before && --waiter->remaining == 0) {
            self->waiters = g_slist_delete_link(self->waiters, l);
            waiter->func(waiter->data);
            g_free(waiter);
        }
        l = next;
    }
}

static gboolean
cohort_jobs_task_done(gpointer user_data)
{
    CohortJobTask *task = user_data;

    /* pending while its result is handled: a waiter made meanwhile counts it too */
    task->done(task->item, task->error, task->user_data);
    g_atomic_int_dec_and_test(&task->jobs->pending);
    cohort_jobs_waiters_count(task->jobs, task->number);
    return G_SOURCE_REMOVE;
}

static void
cohort_jobs_worker(gpointer data, gpointer user_data)
{
    CohortJobTask *task = data;
    CohortJobs *self = user_data;

    if (g_atomic_int_get(&self->cancelled))
        task->error = cohort_jobs_stopped_error();
    else if (!task->work(task->item, &task->error) && task->error == NULL)
        task->error = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INTERNAL,
                                          "work failed without saying why");
    g_main_context_invoke_full(self->context, G_PRIORITY_DEFAULT, cohort_jobs_task_done, task,
                               (GDestroyNotify)cohort_job_task_free);
}

CohortJobs *
cohort_jobs_new(guint workers, GMainContext *context)
{
    CohortJobs *self = g_new0(CohortJobs, 1);

    self->context = g_main_context_ref(context);
    self->pool = g_thread_pool_new(cohort_jobs_worker, self, (gint)workers, FALSE, NULL);
    return self;
}

void
cohort_jobs_free(CohortJobs *self)
{
    if (self == NULL)
        return;
    /* Work already running finishes; work still queued is not started and fails with a
     * reason. Every result is recorded: a stop leaves no VM the store does not know about,
     * and no row that waits for work nobody will do. */
    g_atomic_int_set(&self->cancelled, TRUE);
    g_thread_pool_free(self->pool, FALSE, TRUE);
    while (g_atomic_int_get(&self->pending) > 0)
        g_main_context_iteration(self->context, TRUE);
    g_main_context_unref(self->context);
    g_free(self);
}

void
cohort_jobs_push(CohortJobs *self, CohortJobWorkFunc work, CohortJobDoneFunc done, gpointer item,
                 GDestroyNotify item_free, gpointer user_data)
{
    CohortJobTask *task = g_new0(CohortJobTask, 1);

    task->jobs = self;
    task->work = work;
    task->done = done;
    task->item = item;
    task->item_free = item_free;
    task->user_data = user_data;
    task->number = self->pushed++;
    g_atomic_int_inc(&self->pending);
    /* pushed while cohortd stops (by a result that asks for more work): the pool is gone,
     * so it fails at once, and is recorded like queued work */
    if (g_atomic_int_get(&self->cancelled)) {
        task->error = cohort_jobs_stopped_error();
        g_main_context_invoke_full(self->context, G_PRIORITY_DEFAULT, cohort_jobs_task_done, task,
                                   (GDestroyNotify)cohort_job_task_free);
        return;
    }
    g_thread_pool_push(self->pool, task, NULL);
}

gboolean
cohort_jobs_is_stopping(CohortJobs *self)
{
    return g_atomic_int_get(&self->cancelled);
}

guint
cohort_jobs_get_pending(CohortJobs *self)
{
    return (guint)g_atomic_int_get(&self->pending);
}

void
cohort_jobs_when_done(CohortJobs *self, GDestroyNotify func, gpointer data)
{
    guint pending = (guint)g_atomic_int_get(&self->pending);
    CohortJobsWaiter *waiter;

    /* every item not done yet was pushed before now: the waiter counts them down */
    if (pending == 0) {
        func(data);
        return;
    }
    waiter = g_new0(CohortJobsWaiter, 1);
    waiter->before = self->pushed;
    waiter->remaining = pending;
    waiter->func = func;
    waiter->data = data;
    self->waiters = g_slist_prepend(self->waiters, waiter);
}
