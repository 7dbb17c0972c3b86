#define G_LOG_DOMAIN "cohort-jobs"

#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cohort-error.h"
#include "cohort-jobs.h"

struct _CohortJobs {
    GThreadPool *pool;
    GMainContext *context;
    gint pending;       /* atomic */
    gboolean cancelled; /* atomic: cohortd stops; work not yet started is not started */
    guint64 pushed;     /* main context: items pushed so far, each one's number */
    GSList *waiters;    /* main context: of CohortJobsWaiter */
    GMutex done_lock;
    GQueue done;             /* under done_lock: tasks whose results wait for the main context */
    gboolean done_scheduled; /* under done_lock: a dispatch is on its way */
    GDestroyNotify batch_begin;
    GDestroyNotify batch_end;
    gpointer batch_data;
    gboolean in_batch;     /* main context: results are being handled */
    GQueue held;           /* main context: work pushed meanwhile, started after the batch */
    guint done_since_trim; /* main context: results handled since malloc_trim() last ran */
};

/* A cohort's provisioning or reclaim frees most of what its workers allocated: once that
 * much work is done and none is left, the free memory goes back to the kernel (glibc keeps
 * it otherwise, fragmented between arenas, and the next big job's peak grows by it). */
#define COHORT_JOBS_TRIM_AFTER 64

static gpointer
cohort_jobs_trim(gpointer data)
{
    malloc_trim(0);
    return NULL;
}

/* malloc_trim(0) after a 200-machine job took ~140 M instructions (bench 1b): ~90 ms during
 * which the main loop answered nothing. A thread of its own does it; glibc locks each arena
 * as it trims it. */
static void
cohort_jobs_trim_in_background(void)
{
    g_autoptr(GError) error = NULL;
    GThread *thread = g_thread_try_new("cohort-trim", cohort_jobs_trim, NULL, &error);

    if (thread == NULL)
        g_debug("free memory stays with cohortd: %s", error->message);
    else
        g_thread_unref(thread);
}

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

/* Main context: the results that came back, a batch at a time. */
static gboolean
cohort_jobs_dispatch(gpointer user_data)
{
    CohortJobs *self = user_data;
    GQueue batch = G_QUEUE_INIT;
    gboolean more;
    gboolean drained = FALSE;
    CohortJobTask *task;

    g_mutex_lock(&self->done_lock);
    while (batch.length < COHORT_JOBS_BATCH_MAX && (task = g_queue_pop_head(&self->done)) != NULL)
        g_queue_push_tail(&batch, task);
    more = self->done.length > 0;
    if (!more)
        self->done_scheduled = FALSE;
    g_mutex_unlock(&self->done_lock);

    self->in_batch = TRUE;
    if (self->batch_begin != NULL && batch.length > 0)
        self->batch_begin(self->batch_data);
    while ((task = g_queue_pop_head(&batch)) != NULL) {
        /* pending while its result is handled: a waiter made meanwhile counts it too */
        task->done(task->item, task->error, task->user_data);
        drained = g_atomic_int_dec_and_test(&self->pending);
        self->done_since_trim++;
        cohort_jobs_waiters_count(self, task->number);
        cohort_job_task_free(task);
    }
    if (self->batch_end != NULL)
        self->batch_end(self->batch_data);
    self->in_batch = FALSE;
    if (drained && self->held.length == 0 && self->done_since_trim >= COHORT_JOBS_TRIM_AFTER) {
        cohort_jobs_trim_in_background();
        self->done_since_trim = 0;
    }
    while ((task = g_queue_pop_head(&self->held)) != NULL)
        g_thread_pool_push(self->pool, task, NULL);
    /* more than a batch: the rest on the next turn, after what else the loop has to do */
    return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Any thread: @task's result goes to the main context. */
static void
cohort_jobs_task_return(CohortJobs *self, CohortJobTask *task)
{
    gboolean schedule;

    g_mutex_lock(&self->done_lock);
    g_queue_push_tail(&self->done, task);
    schedule = !self->done_scheduled;
    self->done_scheduled = TRUE;
    g_mutex_unlock(&self->done_lock);
    if (schedule) {
        GSource *source = g_idle_source_new();
        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_callback(source, cohort_jobs_dispatch, self, NULL);
        g_source_attach(source, self->context);
        g_source_unref(source);
    }
}

/* Workers run at the lowest priority (nice +19): what they spend CPU on themselves (a guest
 * password's hash, a seed image, and all of libvirt's work on the embedded test driver) can
 * wait, the main loop that answers the API cannot. At +5 eight busy workers weigh 8 x 335 in
 * the scheduler against the main loop's 1024; at +19, 8 x 15. On a real host the workers
 * mostly wait for libvirtd, and their priority changes nothing; with the API idle they have
 * every core. */
#define COHORT_JOBS_WORKER_NICE 19

static void
cohort_jobs_worker_lower_priority(void)
{
    static GPrivate lowered;

    if (g_private_get(&lowered) != NULL)
        return;
    g_private_set(&lowered, GINT_TO_POINTER(1));
    /* per thread on Linux: the id is the thread's */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), COHORT_JOBS_WORKER_NICE) < 0)
        g_debug("worker priority stays: %s", g_strerror(errno));
}

static void
cohort_jobs_worker(gpointer data, gpointer user_data)
{
    CohortJobTask *task = data;
    CohortJobs *self = user_data;

    cohort_jobs_worker_lower_priority();

    if (g_atomic_int_get(&self->cancelled))
        task->error = cohort_jobs_stopped_error();
    else if (!task->work(task->item, &task->error) && task->error == NULL)
        task->error = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INTERNAL,
                                          "work failed without saying why");
    cohort_jobs_task_return(self, task);
}

CohortJobs *
cohort_jobs_new(guint workers, GMainContext *context)
{
    CohortJobs *self = g_new0(CohortJobs, 1);

    self->context = g_main_context_ref(context);
    g_mutex_init(&self->done_lock);
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
    g_mutex_clear(&self->done_lock);
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
        cohort_jobs_task_return(self, task);
        return;
    }
    if (self->in_batch) {
        g_queue_push_tail(&self->held, task);
        return;
    }
    g_thread_pool_push(self->pool, task, NULL);
}

void
cohort_jobs_set_batch(CohortJobs *self, GDestroyNotify begin, GDestroyNotify end, gpointer data)
{
    self->batch_begin = begin;
    self->batch_end = end;
    self->batch_data = data;
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
