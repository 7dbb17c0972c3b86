#define G_LOG_DOMAIN "cohort-reconcile"

#include "config.h"

#include "cohort-error.h"
#include "cohort-machine-work.h"
#include "cohort-names.h"
#include "cohort-provision-network.h"
#include "cohort-provision-scan.h"
#include "cohort-ready.h"
#include "cohort-provision-seed.h"
#include "cohort-reconcile.h"

#define COHORT_RECONCILE_DEBOUNCE_MS 300

typedef struct {
    CohortLifecycle *lifecycle;
    gint64 host_id;
    CohortProvisioner *prov; /* borrowed: retired provisioners live until cohortd stops */
    gchar *owner;
    guint64 epoch;       /* work settled after this is newer than the scan */
    GHashTable *domains; /* name -> CohortScanDomain */
    GPtrArray *overlays; /* names */
    GPtrArray *seeds;    /* names of cloud-init seed volumes */
    GPtrArray *networks; /* names of this installation's cohort networks */
    gboolean pool_known;
    CohortPoolUsage pool_usage; /* what the pool can give, for placement */
    GPtrArray *agent_names;     /* running machines not ready: their agent channel is read */
    GHashTable *agents;         /* name -> GINT_TO_POINTER(CohortAgentState + 1) */
} CohortReconcileScan;

static void
cohort_reconcile_scan_free(CohortReconcileScan *scan)
{
    cohort_work_epoch_release(scan->lifecycle->work);
    g_free(scan->owner);
    if (scan->domains != NULL)
        g_hash_table_unref(scan->domains);
    if (scan->overlays != NULL)
        g_ptr_array_unref(scan->overlays);
    if (scan->seeds != NULL)
        g_ptr_array_unref(scan->seeds);
    if (scan->networks != NULL)
        g_ptr_array_unref(scan->networks);
    if (scan->agent_names != NULL)
        g_ptr_array_unref(scan->agent_names);
    if (scan->agents != NULL)
        g_hash_table_unref(scan->agents);
    g_free(scan);
}

/* Worker thread: what libvirt holds of ours on this host. */
static gboolean
cohort_reconcile_scan_run(gpointer item, GError **error)
{
    CohortReconcileScan *scan = item;

    scan->domains = cohort_provisioner_scan_domains(scan->prov, scan->owner, error);
    if (scan->domains == NULL)
        return FALSE;
    scan->overlays = cohort_provisioner_list_owned_overlays(scan->prov, error);
    if (scan->overlays == NULL)
        return FALSE;
    scan->seeds = cohort_provisioner_list_owned_seeds(scan->prov, error);
    if (scan->seeds == NULL)
        return FALSE;
    scan->networks = cohort_provisioner_list_owned_networks(scan->prov, scan->owner, error);
    if (scan->networks == NULL)
        return FALSE;
    scan->pool_known = cohort_provisioner_pool_usage(scan->prov, &scan->pool_usage, NULL);
    /* the agent's channel of running machines that are not ready: a missed event */
    scan->agents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; scan->agent_names != NULL && i < scan->agent_names->len; i++) {
        const gchar *name = g_ptr_array_index(scan->agent_names, i);
        CohortScanDomain *sd = g_hash_table_lookup(scan->domains, name);
        CohortAgentState agent = COHORT_AGENT_NONE;
        g_autoptr(GError) error_agent = NULL;
        if (sd == NULL || !sd->active)
            continue;
        if (cohort_provisioner_domain_agent_state(scan->prov, name, &agent, &error_agent))
            g_hash_table_replace(scan->agents, g_strdup(name), GINT_TO_POINTER(agent + 1));
        else
            g_debug("reconcile: %s", error_agent->message);
    }
    return TRUE;
}

/* Whether the cohort's network on this host must stay: the cohort lives, or something of
 * it is still on the host (a domain, a row that holds resources, work under way). */
static gboolean
cohort_reconcile_network_in_use(CohortLifecycle *l, CohortReconcileScan *scan, const gchar *slug,
                                GPtrArray *machines)
{
    g_autoptr(CohortCohortRow) cohort = cohort_store_cohort_get_by_slug(l->store, slug, NULL);
    g_autofree gchar *domain_prefix = g_strdup_printf(COHORT_NAME_PREFIX "%s--", slug);
    GHashTableIter iter;
    gpointer key;

    if (cohort != NULL && g_strcmp0(cohort->state, "reclaimed") != 0)
        return TRUE;
    /* a reclaim under way removes it itself when its last machine is gone, and counts it */
    if (cohort != NULL && cohort_store_job_find_unfinished(l->store, "reclaim", slug) > 0)
        return TRUE;
    g_hash_table_iter_init(&iter, scan->domains);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (g_str_has_prefix(key, domain_prefix))
            return TRUE;
    }
    for (guint i = 0; cohort != NULL && i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        if (m->cohort_id == cohort->id && m->host_id == scan->host_id &&
            (cohort_work_inflight_contains(l->work, m->id) ||
             (g_strcmp0(m->state, "reclaimed") != 0 && g_strcmp0(m->state, "failed") != 0)))
            return TRUE;
    }
    return FALSE;
}

static void
cohort_reconcile_set_state(CohortLifecycle *l, const CohortMachineRow *m, const gchar *state,
                           const gchar *reason)
{
    g_autoptr(GError) error = NULL;

    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", m->cohort_slug,
                     "COHORT_MACHINE", m->name, "MESSAGE", "reconcile: %s %s -> %s%s%s", m->name,
                     m->state, state, reason != NULL ? ": " : "", reason != NULL ? reason : "");
    if (!cohort_store_machine_set_state(l->store, m->id, state, reason, &error))
        g_warning("reconcile: %s: %s", m->name, error->message);
    if (g_strcmp0(state, "running") == 0)
        cohort_store_machine_run_begin(l->store, m->id, NULL);
    else
        cohort_store_machine_run_end(l->store, m->id, NULL);
}

/* The job a machine left half-way belongs to: the provision that makes it, the reclaim or
 * the trainee's removal that tears it down; 0 for none (a trainee's request or release). */
static gint64
cohort_reconcile_job_of(CohortLifecycle *l, const CohortMachineRow *m, CohortMachineOp op)
{
    if (op == COHORT_MACHINE_OP_CREATE)
        return cohort_store_job_machine_find_unfinished(l->store, m->id, "provision");
    if (op == COHORT_MACHINE_OP_TEARDOWN) {
        gint64 job_id = cohort_store_job_machine_find_unfinished(l->store, m->id, "reclaim");
        return job_id > 0 ? job_id
                          : cohort_store_job_machine_find_unfinished(l->store, m->id, "unenrol");
    }
    return 0;
}

static void
cohort_reconcile_push(CohortLifecycle *l, const CohortMachineRow *m, CohortMachineOp op)
{
    g_autoptr(GError) error = NULL;
    /* finished for its job, if a stop or a crash interrupted one: the job goes on */
    gint64 job_id = cohort_reconcile_job_of(l, m, op);

    g_message("reconcile: %s is %s with no work under way: %s%s", m->name, m->state,
              op == COHORT_MACHINE_OP_TEARDOWN ? "tearing it down"
              : op == COHORT_MACHINE_OP_RESET  ? "resetting it"
                                               : "finishing it",
              job_id > 0 ? " for its job" : "");
    if (cohort_machine_work_push(l->work, m, op, job_id, &error))
        return;
    g_warning("reconcile: %s: %s", m->name, error->message);
    /* a host that is down is tried again when it is back; anything else ends the job's try */
    if (job_id > 0 && !g_error_matches(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE))
        cohort_machine_work_job_count(l->work, job_id, m->id, m->name, error);
}

/* A start, a stop or a reboot that cohortd did not see to its end (it stopped or crashed):
 * the row takes what libvirt reports. */
static void
cohort_reconcile_settle(CohortLifecycle *l, const CohortMachineRow *m, const CohortScanDomain *sd)
{
    if (sd == NULL)
        cohort_reconcile_set_state(l, m, "failed",
                                   "its domain was removed outside Cohort: reset the machine to "
                                   "make it again, or release it");
    else if (sd->active)
        cohort_reconcile_set_state(
            l, m, "running",
            g_strcmp0(m->state, "stopping") == 0
                ? "cohortd stopped before the stop was done and the machine still runs: stop it "
                  "again"
                : NULL);
    else
        cohort_reconcile_set_state(
            l, m, "stopped",
            g_strcmp0(m->state, "stopping") == 0
                ? NULL
                : "cohortd stopped before the machine was started: start it again");
}

/* One machine row against what the scan saw. */
static void
cohort_reconcile_machine(CohortLifecycle *l, CohortReconcileScan *scan, const CohortMachineRow *m)
{
    CohortScanDomain *sd = g_hash_table_lookup(scan->domains, m->name);

    if (sd != NULL && sd->id != m->id)
        sd = NULL; /* another machine's domain of that name is not this one */
    if (g_strcmp0(m->state, "provisioning") == 0 || g_strcmp0(m->state, "requested") == 0) {
        /* cohortd stopped or crashed part-way: the steps are idempotent, so making the
         * machine again finishes it, or fails and rolls back */
        if (sd != NULL && sd->active) {
            gint64 job_id = cohort_reconcile_job_of(l, m, COHORT_MACHINE_OP_CREATE);
            cohort_reconcile_set_state(l, m, "running", NULL);
            if (job_id > 0)
                cohort_machine_work_job_count(l->work, job_id, m->id, m->name, NULL);
        } else {
            cohort_reconcile_push(l, m, COHORT_MACHINE_OP_CREATE);
        }
    } else if (g_strcmp0(m->state, "resetting") == 0) {
        /* the disk may be half gone: the reset is done again, whole */
        cohort_reconcile_push(l, m, COHORT_MACHINE_OP_RESET);
    } else if (g_strcmp0(m->state, "reclaiming") == 0) {
        cohort_reconcile_push(l, m, COHORT_MACHINE_OP_TEARDOWN);
    } else if (g_strcmp0(m->state, "moving") == 0) {
        /* a move cohortd did not see to its end: the machine stays here; what the copy left on
         * the other host is recorded there, and goes when that host is reconciled */
        if (sd != NULL)
            cohort_reconcile_set_state(l, m, "stopped",
                                       "cohortd stopped before the move was done: the machine "
                                       "stays where it was; move it again");
        else
            cohort_reconcile_set_state(l, m, "failed",
                                       "its domain was removed outside Cohort: reset the "
                                       "machine to make it again, or release it");
    } else if (g_strcmp0(m->state, "starting") == 0 || g_strcmp0(m->state, "stopping") == 0 ||
               g_strcmp0(m->state, "rebooting") == 0) {
        cohort_reconcile_settle(l, m, sd);
    } else if (g_strcmp0(m->state, "running") == 0 || g_strcmp0(m->state, "stopped") == 0) {
        if (sd == NULL)
            cohort_reconcile_set_state(l, m, "failed",
                                       "its domain was removed outside Cohort: reset the "
                                       "machine to make it again, or release it");
        else if (sd->active && g_strcmp0(m->state, "stopped") == 0)
            cohort_reconcile_set_state(l, m, "running", NULL);
        else if (!sd->active && g_strcmp0(m->state, "running") == 0)
            cohort_reconcile_set_state(l, m, "stopped",
                                       "it stopped outside Cohort (shut down, crashed or "
                                       "destroyed): start it again");
    }
}

/* Main context: repair what differs. */
static void
cohort_reconcile_scan_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortReconcileScan *scan = item;
    CohortLifecycle *l = scan->lifecycle;
    CohortHost *host = cohort_hosts_lookup_by_id(l->hosts, scan->host_id);
    g_autoptr(GPtrArray) machines = NULL;
    g_autoptr(GError) error_local = NULL;
    g_autoptr(GHashTable) known = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_autoptr(GHashTable) left = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    g_autoptr(GArray) leftovers = NULL;
    GHashTableIter iter;
    gpointer value;
    CohortScanDomain *live;

    if (error != NULL || host == NULL) {
        g_warning("reconcile of host %" G_GINT64_FORMAT ": %s", scan->host_id,
                  error != NULL ? error->message : "host gone");
        return;
    }
    if (scan->pool_known && host->prov == scan->prov)
        cohort_host_set_pool_usage(host, &scan->pool_usage);
    machines = cohort_store_machine_list(l->store, 0, 0, 0, TRUE, &error_local);
    if (machines == NULL) {
        g_warning("reconcile: %s", error_local->message);
        return;
    }
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        g_hash_table_insert(by_id, &m->id, m);
        if (m->host_id != scan->host_id)
            continue;
        g_hash_table_insert(known, m->name, m);
        /* work under way, or settled after the scan began, knows better than the scan */
        if (g_strcmp0(m->state, "reclaimed") == 0 ||
            cohort_work_inflight_contains(l->work, m->id) ||
            cohort_work_settled_since(l->work, m->id, scan->epoch))
            continue;
        cohort_reconcile_machine(l, scan, m);
        live = g_hash_table_lookup(scan->domains, m->name);
        if (g_strcmp0(m->state, "running") == 0 && live != NULL && live->id == m->id &&
            live->active) {
            gpointer agent = NULL;
            gboolean asked = g_hash_table_lookup_extended(scan->agents, m->name, NULL, &agent);
            cohort_ready_reconcile_machine(l, host, m, asked ? GPOINTER_TO_INT(agent) - 1 : -1);
        }
    }

    /* what machines that moved away left here: removed (the record says it is theirs) */
    leftovers = cohort_store_leftover_list(l->store, scan->host_id, &error_local);
    if (leftovers == NULL) {
        g_warning("reconcile: %s", error_local->message);
        g_clear_error(&error_local);
    }
    for (guint i = 0; leftovers != NULL && i < leftovers->len; i++) {
        gint64 id = g_array_index(leftovers, gint64, i);
        CohortMachineRow *m = g_hash_table_lookup(by_id, &id);
        g_autoptr(GError) error_push = NULL;
        g_hash_table_add(left, g_memdup2(&id, sizeof(id)));
        /* the row came back here (moved back): nothing of it is left over */
        if (m == NULL || m->host_id == scan->host_id) {
            cohort_store_leftover_delete(l->store, id, scan->host_id, NULL);
            continue;
        }
        if (cohort_work_inflight_contains(l->work, id))
            continue;
        g_message("reconcile: removing what %s left on host %s when it moved to %s", m->name,
                  host->name, m->host_name != NULL ? m->host_name : "(none)");
        if (!cohort_machine_work_push_leftover(l->work, host, id, m->name, &error_push))
            g_warning("reconcile: %s: %s", m->name, error_push->message);
    }

    /* domains of this installation that no living row claims */
    g_hash_table_iter_init(&iter, scan->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortScanDomain *sd = value;
        CohortMachineRow *m = g_hash_table_lookup(known, sd->name);
        CohortMachineRow *elsewhere = g_hash_table_lookup(by_id, &sd->id);
        g_autoptr(GError) error_push = NULL;
        if (m != NULL && m->id == sd->id && g_strcmp0(m->state, "reclaimed") != 0)
            continue;
        if (g_hash_table_contains(left, &sd->id))
            continue;
        /* a living machine the store places on another host (moved by hand, or one libvirt
         * registered twice): someone's machine, not an orphan */
        if (elsewhere != NULL && elsewhere->host_id != scan->host_id &&
            g_strcmp0(elsewhere->state, "reclaimed") != 0) {
            g_warning("reconcile: %s on host %s carries the tag of machine %" G_GINT64_FORMAT
                      ", which the store places on host %s: left alone. If both hosts are one "
                      "libvirt, remove one ('cohortctl host remove NAME')",
                      sd->name, host->name, sd->id,
                      elsewhere->host_name != NULL ? elsewhere->host_name : "(none)");
            continue;
        }
        if (cohort_work_inflight_contains(l->work, sd->id) ||
            cohort_work_settled_since(l->work, sd->id, scan->epoch))
            continue;
        g_message("reconcile: %s carries this installation's tag but no row claims it: "
                  "removing it",
                  sd->name);
        if (!cohort_machine_work_push_orphan(l->work, scan->host_id, sd->name, sd->id, &error_push))
            g_warning("reconcile: %s: %s", sd->name, error_push->message);
    }

    /* overlays: only those whose row says the machine is gone (DESIGN: prefix and a row) */
    for (guint i = 0; i < scan->overlays->len; i++) {
        const gchar *vol = g_ptr_array_index(scan->overlays, i);
        g_autofree gchar *name = g_strndup(vol, strlen(vol) - strlen(".qcow2"));
        CohortMachineRow *m = g_hash_table_lookup(known, name);
        g_autoptr(GError) error_del = NULL;
        if (m == NULL || g_strcmp0(m->state, "reclaimed") != 0 ||
            g_hash_table_contains(scan->domains, name) ||
            cohort_work_inflight_contains(l->work, m->id) ||
            cohort_work_settled_since(l->work, m->id, scan->epoch))
            continue;
        g_message("reconcile: removing overlay %s of reclaimed machine %s", vol, name);
        if (!cohort_provisioner_overlay_delete(host->prov, name, &error_del))
            g_warning("reconcile: %s: %s", vol, error_del->message);
    }

    /* seed discs: as overlays, only those whose row says the machine is gone */
    for (guint i = 0; i < scan->seeds->len; i++) {
        const gchar *vol = g_ptr_array_index(scan->seeds, i);
        g_autofree gchar *name = g_strndup(vol, strlen(vol) - strlen(COHORT_NAMES_SEED_SUFFIX));
        CohortMachineRow *m = g_hash_table_lookup(known, name);
        g_autoptr(GError) error_del = NULL;
        if (m == NULL || g_strcmp0(m->state, "reclaimed") != 0 ||
            g_hash_table_contains(scan->domains, name) ||
            cohort_work_inflight_contains(l->work, m->id) ||
            cohort_work_settled_since(l->work, m->id, scan->epoch))
            continue;
        g_message("reconcile: removing seed disc %s of reclaimed machine %s", vol, name);
        if (!cohort_provisioner_seed_delete(host->prov, name, &error_del))
            g_warning("reconcile: %s: %s", vol, error_del->message);
    }

    /* networks of this installation whose cohort is reclaimed or gone, with nothing left */
    g_autoptr(GHashTable) networked = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < scan->networks->len; i++) {
        const gchar *net = g_ptr_array_index(scan->networks, i);
        const gchar *slug = net + strlen(COHORT_NAME_PREFIX);
        g_hash_table_add(networked, (gpointer)slug);
        if (cohort_reconcile_network_in_use(l, scan, slug, machines))
            continue;
        g_message("reconcile: removing network %s of cohort %s, which is over", net, slug);
        cohort_machine_work_push_network_remove(l->work, host, slug);
    }
    /* the subnets of reclaimed cohorts whose network no host here has any more (a crash came
     * between the network's removal and the free); the others go when it is removed */
    {
        g_autoptr(GError) error_free = NULL;
        guint freed = 0;
        if (!cohort_store_subnet_free_reclaimed(l->store, networked, &freed, &error_free))
            g_warning("reconcile: %s", error_free->message);
        else if (freed > 0)
            g_message("reconcile: %u subnet%s of reclaimed cohorts back in the address plan", freed,
                      freed == 1 ? "" : "s");
    }
}

void
cohort_reconcile_host(CohortLifecycle *l, CohortHost *host)
{
    CohortReconcileScan *scan;

    if (!cohort_host_is_usable(host))
        return;
    scan = g_new0(CohortReconcileScan, 1);
    scan->lifecycle = l;
    scan->host_id = host->id;
    scan->prov = host->prov;
    scan->owner = g_strdup(l->instance_id);
    scan->epoch = cohort_work_epoch_hold(l->work);
    scan->agent_names = g_ptr_array_new_with_free_func(g_free);
    {
        g_autoptr(GPtrArray) machines = cohort_store_machine_list(l->store, 0, 0, 0, FALSE, NULL);
        for (guint i = 0; machines != NULL && i < machines->len &&
                          scan->agent_names->len < COHORT_READY_RECONCILE_MAX;
             i++) {
            CohortMachineRow *m = g_ptr_array_index(machines, i);
            if (m->host_id == host->id && g_strcmp0(m->state, "running") == 0 && !m->ready &&
                cohort_ready_template_has_agent(l, m->template_name))
                g_ptr_array_add(scan->agent_names, g_strdup(m->name));
        }
    }
    cohort_jobs_push(l->work->jobs, cohort_reconcile_scan_run, cohort_reconcile_scan_done, scan,
                     (GDestroyNotify)cohort_reconcile_scan_free, NULL);
}

typedef struct {
    CohortLifecycle *lifecycle;
    gint64 host_id;
} CohortReconcileLater;

static gboolean
cohort_reconcile_later_cb(gpointer user_data)
{
    CohortReconcileLater *later = user_data;
    CohortLifecycle *l = later->lifecycle;
    gint64 host_id = later->host_id;
    CohortHost *host = cohort_hosts_lookup_by_id(l->hosts, host_id);

    /* drops the pending source (and @later with it) before the scan */
    g_hash_table_remove(l->reconcile_pending, &host_id);
    if (host != NULL)
        cohort_reconcile_host(l, host);
    return G_SOURCE_REMOVE;
}

void
cohort_reconcile_schedule(CohortLifecycle *l, CohortHost *host)
{
    CohortReconcileLater *later;
    GSource *source;

    if (g_hash_table_contains(l->reconcile_pending, &host->id))
        return;
    later = g_new0(CohortReconcileLater, 1);
    later->lifecycle = l;
    later->host_id = host->id;
    source = g_timeout_source_new(COHORT_RECONCILE_DEBOUNCE_MS);
    g_source_set_callback(source, cohort_reconcile_later_cb, later, g_free);
    g_source_attach(source, l->context);
    g_hash_table_insert(l->reconcile_pending, g_memdup2(&host->id, sizeof(host->id)), source);
}

void
cohort_reconcile_all(CohortLifecycle *l)
{
    g_autoptr(GPtrArray) hosts = cohort_hosts_list(l->hosts);

    for (guint i = 0; i < hosts->len; i++)
        cohort_reconcile_host(l, g_ptr_array_index(hosts, i));
}
