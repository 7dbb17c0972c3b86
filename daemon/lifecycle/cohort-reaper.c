#define G_LOG_DOMAIN "cohort-reaper"

#include "config.h"

#include "cohort-error.h"
#include "cohort-machine-work.h"
#include "cohort-reaper.h"
#include "cohort-reclaim.h"

/* When the cohort's machines go: its end plus the grace hours. */
static gchar *
cohort_reaper_due_at(const CohortCohortRow *cohort)
{
    g_autoptr(GDateTime) ends = g_date_time_new_from_iso8601(cohort->ends_at, NULL);
    g_autoptr(GDateTime) due = NULL;

    if (ends == NULL)
        return NULL;
    due = g_date_time_add_hours(ends, (gint)cohort->grace_hours);
    return g_date_time_format(due, "%Y-%m-%dT%H:%M:%SZ");
}

/* Machines whose lease ran out go, as a release would: the trainee was told when. */
static void
cohort_reaper_expire_machines(CohortLifecycle *l, const gchar *now)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) machines = cohort_store_machine_list(l->store, 0, 0, 0, FALSE, &error);

    if (machines == NULL) {
        g_warning("reaper: %s", error->message);
        return;
    }
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        g_autoptr(GError) error_push = NULL;

        if (m->expires_at == NULL || g_strcmp0(now, m->expires_at) < 0 ||
            cohort_work_inflight_contains(l->work, m->id) ||
            !(g_strcmp0(m->state, "running") == 0 || g_strcmp0(m->state, "stopped") == 0 ||
              g_strcmp0(m->state, "failed") == 0))
            continue;
        if (!cohort_store_machine_set_state(l->store, m->id, "reclaiming", NULL, &error_push) ||
            !cohort_machine_work_push(l->work, m, COHORT_MACHINE_OP_TEARDOWN, 0, &error_push)) {
            g_warning("reaper: %s: %s", m->name, error_push->message);
            continue;
        }
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", m->cohort_slug,
                         "COHORT_MACHINE", m->name, "MESSAGE",
                         "reaper: the lease of %s ran out at %s: releasing it", m->name,
                         m->expires_at);
        cohort_store_audit_record(l->store, "system", "machine.expire", m->name, NULL);
    }
}

void
cohort_reaper_run(CohortLifecycle *l)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) cohorts = cohort_store_cohort_list(l->store, 0, 0, &error);
    g_autofree gchar *now = cohort_store_now();

    if (cohorts == NULL) {
        g_warning("reaper: %s", error->message);
        return;
    }
    cohort_reaper_expire_machines(l, now);
    for (guint i = 0; i < cohorts->len; i++) {
        CohortCohortRow *cohort = g_ptr_array_index(cohorts, i);
        g_autofree gchar *due = NULL;
        g_autoptr(GError) error_reclaim = NULL;
        gint64 job;

        if (g_strcmp0(cohort->state, "reclaimed") == 0)
            continue;
        due = cohort_reaper_due_at(cohort);
        if (due == NULL || g_strcmp0(now, due) < 0)
            continue;
        job = cohort_work_cohort_reclaim(l->work, NULL, cohort, &error_reclaim);
        if (job == 0) {
            /* busy machines: the next round tries again */
            g_message("reaper: cohort %s ended at %s: %s", cohort->slug, cohort->ends_at,
                      error_reclaim->message);
            continue;
        }
        g_log_structured(
            G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", cohort->slug, "MESSAGE",
            "reaper: cohort %s ended at %s (grace %u h): reclaiming, job %" G_GINT64_FORMAT,
            cohort->slug, cohort->ends_at, cohort->grace_hours, job);
    }
}
