/* A cohort's reclaim as a job: asked by its trainer or an admin, or by the reaper when a
 * course is over. */
#define G_LOG_DOMAIN "cohort-machine-work"

#include "config.h"

#include "cohort-machine-work.h"
#include "cohort-reclaim.h"

gint64
cohort_work_cohort_reclaim(CohortWork *w, const CohortUserRow *actor, CohortCohortRow *cohort,
                           GError **error)
{
    g_autoptr(GPtrArray) machines = NULL;
    const gchar *who = actor != NULL ? actor->login : "system";
    const gchar *slug = cohort->slug;
    gint64 job_id;

    /* a machine in a worker's hands is torn down after that work: its queue keeps the order */
    machines = cohort_store_machine_list(w->store, cohort->id, 0, 0, FALSE, error);
    if (machines == NULL)
        return 0;
    /* intent first, in one transaction: the job and its machines, the cohort that takes no new
     * machines from now on, and every row saying reclaiming before libvirt is touched */
    if (!cohort_store_begin(w->store, error))
        return 0;
    job_id = cohort_machine_work_job_new(w, actor, "reclaim", slug, machines->len, error);
    if (job_id == 0) {
        cohort_store_rollback(w->store);
        return 0;
    }
    g_free(cohort->state);
    cohort->state = g_strdup("reclaimed");
    if (!cohort_store_cohort_update(w->store, cohort, error)) {
        cohort_store_rollback(w->store);
        return 0;
    }
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        if (!cohort_store_job_machine_insert(w->store, job_id, m->id,
                                             g_strcmp0(m->state, "failed") != 0, error)) {
            cohort_store_rollback(w->store);
            return 0;
        }
    }
    /* the job's machines, in one statement */
    if (!cohort_store_job_machines_set_state(w->store, job_id, "reclaiming", error) ||
        !cohort_store_commit(w->store, error)) {
        cohort_store_rollback(w->store);
        return 0;
    }
    for (guint i = 0; i < machines->len; i++) {
        /* each row goes once its work is queued: the next work's copies reuse what it held
         * (a cohort's rows and its queued work at once were ~1 MiB of the reclaim's peak) */
        g_autoptr(CohortMachineRow) m = g_steal_pointer(&g_ptr_array_index(machines, i));
        g_autoptr(GError) error_local = NULL;
        /* failed, not stuck in reclaiming: a later reclaim tries it again */
        if (!cohort_machine_work_push(w, m, COHORT_MACHINE_OP_TEARDOWN, job_id, &error_local))
            cohort_machine_work_fail_unqueued(w, job_id, m, error_local);
    }
    if (machines->len == 0)
        cohort_machine_work_reclaim_empty(w, job_id);
    cohort_store_audit_record(w->store, who, "cohort.reclaim", slug, NULL);
    return job_id;
}
