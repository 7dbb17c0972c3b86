#define G_LOG_DOMAIN "cohort-idle"

#include "config.h"

#include "cohort-error.h"
#include "cohort-idle.h"
#include "cohort-machine-work.h"
#include "cohort-provision-scan.h"

typedef struct {
    guint64 cpu_ns;   /* the domain's CPU time at the last sample */
    gint64 at_us;     /* when that sample was taken */
    gint64 idle_from; /* since when it has been under the threshold; 0 while busy */
} CohortIdleSample;

typedef struct {
    CohortLifecycle *lifecycle;
    gint64 host_id;
    CohortProvisioner *prov; /* borrowed: retired provisioners live until cohortd stops */
    GHashTable *cpu_ns;      /* domain name -> guint64 CPU time (ns), for running domains */
    gint64 at_us;
} CohortIdleScan;

static void
cohort_idle_scan_free(CohortIdleScan *scan)
{
    if (scan->cpu_ns != NULL)
        g_hash_table_unref(scan->cpu_ns);
    g_free(scan);
}

/* Worker thread: one call for every running domain's CPU counter. */
static gboolean
cohort_idle_scan_run(gpointer item, GError **error)
{
    CohortIdleScan *scan = item;

    scan->cpu_ns = cohort_provisioner_scan_cpu_time(scan->prov, error);
    if (scan->cpu_ns == NULL)
        return FALSE;
    scan->at_us = g_get_monotonic_time();
    return TRUE;
}

static void
cohort_idle_stop(CohortLifecycle *l, CohortMachineRow *m, gint64 idle_s)
{
    g_autoptr(GError) error = NULL;

    /* "stopping", then "stopped" with the reason once libvirt says the machine is off */
    if (!cohort_machine_work_push_note(l->work, m, COHORT_MACHINE_OP_STOP,
                                       "shut down after being idle; start it again when you "
                                       "need it",
                                       &error)) {
        g_warning("idle: %s: %s", m->name, error->message);
        return;
    }
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", m->cohort_slug,
                     "COHORT_MACHINE", m->name, "MESSAGE",
                     "%s was idle for %" G_GINT64_FORMAT " s: shutting it down", m->name, idle_s);
    cohort_store_audit_record(l->store, "system", "machine.idle-stop", m->name, NULL);
}

/* Main context: compare with the last samples, stop what stayed idle too long. */
static void
cohort_idle_scan_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortIdleScan *scan = item;
    CohortLifecycle *l = scan->lifecycle;
    g_autoptr(GPtrArray) machines = NULL;
    gint64 limit_us = (gint64)l->settings.idle_shutdown_s * G_USEC_PER_SEC;

    if (error != NULL) {
        g_debug("idle: host %" G_GINT64_FORMAT ": %s", scan->host_id, error->message);
        return;
    }
    machines = cohort_store_machine_list(l->store, 0, 0, 0, FALSE, NULL);
    for (guint i = 0; machines != NULL && i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        const guint64 *cpu = g_hash_table_lookup(scan->cpu_ns, m->name);
        CohortIdleSample *sample = g_hash_table_lookup(l->idle, &m->id);
        gdouble percent;

        if (m->host_id != scan->host_id)
            continue;
        if (cpu == NULL || g_strcmp0(m->state, "running") != 0 ||
            cohort_work_inflight_contains(l->work, m->id)) {
            g_hash_table_remove(l->idle, &m->id);
            continue;
        }
        if (sample == NULL || *cpu < sample->cpu_ns || scan->at_us <= sample->at_us) {
            sample = g_new0(CohortIdleSample, 1);
            sample->cpu_ns = *cpu;
            sample->at_us = scan->at_us;
            g_hash_table_replace(l->idle, g_memdup2(&m->id, sizeof(m->id)), sample);
            continue;
        }
        /* share of the machine's vCPUs used since the last sample */
        percent = (gdouble)(*cpu - sample->cpu_ns) / 1000.0 /
                  (gdouble)(scan->at_us - sample->at_us) / MAX(m->vcpus, 1) * 100.0;
        if (percent >= l->settings.idle_cpu_percent)
            sample->idle_from = 0;
        else if (sample->idle_from == 0)
            sample->idle_from = sample->at_us;
        sample->cpu_ns = *cpu;
        sample->at_us = scan->at_us;
        if (sample->idle_from > 0 && scan->at_us - sample->idle_from >= limit_us) {
            cohort_idle_stop(l, m, (scan->at_us - sample->idle_from) / G_USEC_PER_SEC);
            g_hash_table_remove(l->idle, &m->id);
        }
    }
}

void
cohort_idle_run(CohortLifecycle *l)
{
    g_autoptr(GPtrArray) hosts = NULL;

    if (l->settings.idle_shutdown_s == 0)
        return;
    hosts = cohort_hosts_list(l->hosts);
    for (guint i = 0; i < hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(hosts, i);
        CohortIdleScan *scan;
        if (!cohort_host_is_usable(host))
            continue;
        scan = g_new0(CohortIdleScan, 1);
        scan->lifecycle = l;
        scan->host_id = host->id;
        scan->prov = host->prov;
        cohort_jobs_push(l->work->jobs, cohort_idle_scan_run, cohort_idle_scan_done, scan,
                         (GDestroyNotify)cohort_idle_scan_free, NULL);
    }
}
