#define G_LOG_DOMAIN "cohort-resume"

#include "config.h"

#include "cohort-error.h"
#include "cohort-machine-work.h"
#include "cohort-resume.h"

/* What the machine's row says of it for the job; FALSE while the work is still to do (reconcile
 * finishes it), TRUE with *@failure set (NULL: done) when it is over. */
static gboolean
cohort_resume_outcome(CohortLifecycle *l, const CohortJobRow *job, CohortMachineRow *m,
                      GError **failure)
{
    g_autoptr(GError) error_local = NULL;

    if (g_strcmp0(job->kind, "reclaim") == 0 || g_strcmp0(job->kind, "unenrol") == 0) {
        if (g_strcmp0(m->state, "reclaimed") == 0)
            return TRUE;
        /* the cohort is reclaimed, or the trainee out: whatever the row says, the machine goes */
        if (g_strcmp0(m->state, "reclaiming") != 0 &&
            !cohort_store_machine_set_state(l->store, m->id, "reclaiming", NULL, &error_local))
            g_warning("job %" G_GINT64_FORMAT ": %s: %s", job->id, m->name, error_local->message);
        return FALSE;
    }
    if (g_strcmp0(job->kind, "evacuate") == 0) {
        /* moved, or not: a move cut short left it where it was (reconcile settles its state) */
        if (g_strcmp0(m->host_name, job->target) == 0)
            *failure = g_error_new(COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                                   "cohortd stopped before machine %s moved off host %s: "
                                   "evacuate the host again",
                                   m->name, job->target);
        return TRUE;
    }
    if (g_strcmp0(m->state, "provisioning") == 0 || g_strcmp0(m->state, "requested") == 0)
        return FALSE;
    if (g_strcmp0(m->state, "failed") == 0)
        *failure = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INTERNAL,
                                       m->error != NULL ? m->error : "the machine failed");
    else if (g_strcmp0(m->state, "reclaiming") == 0 || g_strcmp0(m->state, "reclaimed") == 0)
        *failure = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_CONFLICT,
                                       "the machine was released or reclaimed before it was made");
    return TRUE;
}

/* A job from before cohortd recorded a job's machines: nothing says what is left. */
static void
cohort_resume_fail(CohortLifecycle *l, CohortJobRow *job)
{
    g_autoptr(GError) error_local = NULL;

    g_free(job->state);
    job->state = g_strdup("failed");
    g_free(job->finished_at);
    job->finished_at = cohort_store_now();
    if (!cohort_store_job_error_insert(l->store, job->id, NULL, "internal",
                                       "cohortd stopped before it recorded this job's machines; "
                                       "reconcile finishes those it made: run the job again for "
                                       "the rest",
                                       &error_local) ||
        !cohort_store_job_update(l->store, job, &error_local))
        g_warning("job %" G_GINT64_FORMAT ": %s", job->id, error_local->message);
    g_message("job %" G_GINT64_FORMAT " (%s %s) was interrupted before it recorded its machines",
              job->id, job->kind, job->target);
}

/* A job of hosts (bases installed or removed) that a stop or a crash cut short: what it had
 * not done is not redone by itself, but a base only partly uploaded is never used, and is
 * uploaded again when its host connects if a cohort uses it. */
static void
cohort_resume_fail_hosts(CohortLifecycle *l, CohortJobRow *job)
{
    g_autoptr(GError) error_local = NULL;

    g_free(job->state);
    job->state = g_strdup(job->done > 0 ? "done" : "failed");
    g_free(job->finished_at);
    job->finished_at = cohort_store_now();
    job->failed = job->total - job->done;
    if (!cohort_store_job_error_insert(l->store, job->id, NULL, "host-unavailable",
                                       "cohortd stopped before this job was done: a base only "
                                       "partly uploaded is not used, and is uploaded again when "
                                       "its host connects if a cohort uses it; run the job again "
                                       "for the rest",
                                       &error_local) ||
        !cohort_store_job_update(l->store, job, &error_local))
        g_warning("job %" G_GINT64_FORMAT ": %s", job->id, error_local->message);
    g_message("job %" G_GINT64_FORMAT " (%s %s) was cut short by a stop", job->id, job->kind,
              job->target);
}

static void
cohort_resume_job(CohortLifecycle *l, CohortJobRow *job)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(GArray) pending = NULL;
    g_autoptr(CohortJobRow) now = NULL;
    guint recorded = 0;
    guint left = 0;

    if (g_str_has_prefix(job->kind, "base")) {
        cohort_resume_fail_hosts(l, job);
        return;
    }
    pending = cohort_store_job_machine_list_pending(l->store, job->id, &recorded, &error_local);
    if (pending == NULL) {
        g_warning("job %" G_GINT64_FORMAT ": %s", job->id, error_local->message);
        return;
    }
    if (recorded == 0 && job->done + job->failed < job->total) {
        cohort_resume_fail(l, job);
        return;
    }
    for (guint i = 0; i < pending->len; i++) {
        gint64 id = g_array_index(pending, gint64, i);
        g_autoptr(CohortMachineRow) m = cohort_store_machine_get_by_id(l->store, id, NULL);
        g_autoptr(GError) failure = NULL;
        g_autofree gchar *name = NULL;

        if (m == NULL) {
            name = g_strdup_printf("machine %" G_GINT64_FORMAT, id);
            failure = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                                          "the machine's row is gone");
        } else if (!cohort_resume_outcome(l, job, m, &failure)) {
            left++;
            continue;
        }
        cohort_machine_work_job_count(l->work, job->id, id, m != NULL ? m->name : name, failure);
    }
    g_message("job %" G_GINT64_FORMAT " (%s %s) goes on after the restart: %u of %u machines "
              "left to do",
              job->id, job->kind, job->target, left, job->total);
    if (left > 0)
        return;
    /* nothing left for reconcile: the job ends now (a reclaim after its network) */
    now = cohort_store_job_get(l->store, job->id, &error_local);
    if (now == NULL) {
        g_warning("job %" G_GINT64_FORMAT ": %s", job->id, error_local->message);
        return;
    }
    if (g_strcmp0(now->state, "queued") == 0 || g_strcmp0(now->state, "running") == 0)
        cohort_machine_work_job_check(l->work, now);
}

void
cohort_resume_jobs(CohortLifecycle *l)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(GPtrArray) jobs = cohort_store_job_list_unfinished(l->store, &error_local);
    gboolean tx;

    if (jobs == NULL) {
        g_warning("resuming jobs: %s", error_local->message);
        return;
    }
    if (jobs->len == 0)
        return;
    /* one commit for what a thousand machines' rows say */
    tx = cohort_store_begin(l->store, &error_local);
    if (!tx) {
        g_warning("resuming jobs: %s", error_local->message);
        g_clear_error(&error_local);
    }
    for (guint i = 0; i < jobs->len; i++)
        cohort_resume_job(l, g_ptr_array_index(jobs, i));
    if (tx && !cohort_store_commit(l->store, &error_local))
        g_warning("resuming jobs: %s", error_local->message);
}
