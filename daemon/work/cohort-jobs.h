/* The worker pool: slow libvirt work runs in threads, its result comes back to the main
 * context, so the API never waits on a VM. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CohortJobs CohortJobs;

/* Runs in a worker thread: libvirt only, never the store. */
typedef gboolean (*CohortJobWorkFunc)(gpointer item, GError **error);
/* Runs in the main context afterwards, with the work's error (NULL on success). */
typedef void (*CohortJobDoneFunc)(gpointer item, const GError *error, gpointer user_data);

CohortJobs *cohort_jobs_new(guint workers, GMainContext *context);
/* Lets running work finish, fails what is still queued, and records every result. */
void cohort_jobs_free(CohortJobs *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortJobs, cohort_jobs_free)

void cohort_jobs_push(CohortJobs *self, CohortJobWorkFunc work, CohortJobDoneFunc done,
                      gpointer item, GDestroyNotify item_free, gpointer user_data);
/* Results that come back together are handled together, up to COHORT_JOBS_BATCH_MAX per
 * turn of the main loop: @begin(@data) before the first, @end(@data) after the last (one
 * store transaction for all of them, cohort-work.c). Work pushed while a batch is handled
 * starts after @end: what a result writes before asking for more work is committed before
 * that work touches libvirt. */
#define COHORT_JOBS_BATCH_MAX 64
void cohort_jobs_set_batch(CohortJobs *self, GDestroyNotify begin, GDestroyNotify end,
                           gpointer data);

/* Whether cohortd stops: the work that fails now does so because it was never run. */
gboolean cohort_jobs_is_stopping(CohortJobs *self);
/* Work items queued or running. */
guint cohort_jobs_get_pending(CohortJobs *self);
/* Main context (as every push is): @func(@data) runs once every item pushed before this call
 * is done and its result handled, at once when none is pending. What those items borrow
 * (a removed host's connection) may then go. */
void cohort_jobs_when_done(CohortJobs *self, GDestroyNotify func, gpointer data);

G_END_DECLS
