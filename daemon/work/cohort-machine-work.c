#define G_LOG_DOMAIN "cohort-machine-work"

#include "config.h"

#include "cohort-crash.h"
#include "cohort-error.h"
#include "cohort-machine-work.h"
#include "cohort-names.h"
#include "cohort-provision-network.h"
#include "cohort-provision-seed.h"
#include "cohort-reclaim.h"
#include "cohort-seed.h"

typedef struct {
    CohortWork *owner; /* the work layer, for the result */
    CohortMachineOp op;
    gint64 machine_id;
    gint64 job_id;
    gchar *domain_name;
    gchar *cohort;
    gchar *trainee;
    gchar *display_name;
    gchar *vnc_password;
    gchar *previous_state;     /* the row's state before this work (settled, not transitional) */
    const gchar *transitional; /* the row's state while the work runs */
    gchar *note;               /* the row's message when the work succeeds: why cohortd did it */
    gboolean orphan;           /* a tagged domain without a row: nothing to record */
    gboolean leftover; /* what the machine left on a host it moved away from: its record goes */
    guint64 freed_disk_bytes; /* what the overlay took, measured before a teardown */
    guint vcpus;
    guint64 memory_mib;
    gint64 host_id;
    CohortProvisioner *prov; /* borrowed: hosts outlive the workers */
    CohortTemplate *tmpl;    /* a reference: a reload may replace the daemon's meanwhile */
    gchar *vnc_listen;
    guint stop_timeout_s;
    gchar *network;                 /* what the NICs join; NULL: as the template says */
    gchar *network_uuid;            /* set when the network is the cohort's own, made if missing */
    gchar *network_subnet;          /* the own network's subnet from the address plan */
    gboolean network_nat;           /* the own network forwards with NAT ("nat") */
    CohortProvisioner *target_prov; /* a move's: where the disk goes (borrowed) */
    gint64 target_host_id;
    gchar *target_host_name;
    CohortTransfer *transfer; /* a move's bytes, borrowed from the work layer */
    guint64 moved_bytes;
    /* the cloud-init seed (renders only, when the template has one) */
    gboolean seed;
    gchar *seed_instance_id;
    gchar *seed_hostname;
    gchar *seed_user;
    gchar *guest_password; /* in clear: only its hash goes into the seed */
    GStrv ssh_keys;
} CohortMachineWork;

static void
cohort_machine_work_free(CohortMachineWork *work)
{
    g_free(work->domain_name);
    g_free(work->cohort);
    g_free(work->trainee);
    g_free(work->display_name);
    g_free(work->vnc_password);
    g_free(work->previous_state);
    g_free(work->note);
    g_free(work->vnc_listen);
    g_free(work->network);
    g_free(work->network_uuid);
    g_free(work->network_subnet);
    g_free(work->target_host_name);
    g_free(work->seed_instance_id);
    g_free(work->seed_hostname);
    g_free(work->seed_user);
    g_free(work->guest_password);
    g_strfreev(work->ssh_keys);
    if (work->tmpl != NULL)
        cohort_template_unref(work->tmpl);
    g_free(work);
}

/* What each operation is called where a person reads it (the machine's "pending"), and the
 * machine's state while it runs. */
static const gchar *const cohort_machine_work_op_names[] = {
    [COHORT_MACHINE_OP_CREATE] = "provision", [COHORT_MACHINE_OP_START] = "start",
    [COHORT_MACHINE_OP_STOP] = "stop",        [COHORT_MACHINE_OP_REBOOT] = "reboot",
    [COHORT_MACHINE_OP_RESET] = "reset",      [COHORT_MACHINE_OP_TEARDOWN] = "reclaim",
    [COHORT_MACHINE_OP_MOVE] = "move",
};
static const gchar *const cohort_machine_work_transitional[] = {
    [COHORT_MACHINE_OP_CREATE] = "provisioning", [COHORT_MACHINE_OP_START] = "starting",
    [COHORT_MACHINE_OP_STOP] = "stopping",       [COHORT_MACHINE_OP_REBOOT] = "rebooting",
    [COHORT_MACHINE_OP_RESET] = "resetting",     [COHORT_MACHINE_OP_TEARDOWN] = "reclaiming",
    [COHORT_MACHINE_OP_MOVE] = "moving",
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_machine_work_op_names) == COHORT_MACHINE_OP_MOVE + 1);
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_machine_work_transitional) == COHORT_MACHINE_OP_MOVE + 1);

/* The cohort's subnet from the address plan: the one it holds, or a new one that overlaps no
 * other cohort's and no network the hosts had when they were reached. */
gchar *
cohort_work_network_subnet(CohortWork *w, const CohortCohortRow *cohort, GError **error)
{
    g_autoptr(GArray) avoid = g_array_new(FALSE, FALSE, sizeof(CohortSubnet));
    g_autoptr(GPtrArray) hosts = cohort_hosts_list(w->hosts);

    for (guint i = 0; i < hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(hosts, i);
        if (host->network_subnets != NULL)
            g_array_append_vals(avoid, host->network_subnets->data, host->network_subnets->len);
    }
    return cohort_store_subnet_allocate(
        w->store, cohort->id, &w->settings.networks_range, w->settings.networks_prefix,
        (const CohortSubnet *)(gpointer)avoid->data, avoid->len, error);
}

/* The cohort's network on @prov's host first: the domain cannot start without it. */
static gboolean
cohort_machine_work_network(CohortMachineWork *work, CohortProvisioner *prov, GError **error)
{
    CohortNetworkSpec spec = {
        .name = work->network,
        .uuid = work->network_uuid,
        .subnet = work->network_subnet,
        .nat = work->network_nat,
    };

    if (work->network_uuid != NULL && !cohort_provisioner_network_ensure(prov, &spec, error))
        return FALSE;
    if (work->network_uuid == NULL && work->network != NULL &&
        !cohort_provisioner_network_require(prov, work->network, error))
        return FALSE;
    return TRUE;
}

/* Worker thread: the seed disc's image for this machine (NULL with no error when its template
 * has none). The clear password is hashed here; the image carries the hash only. */
static gboolean
cohort_machine_work_seed_image(CohortMachineWork *work, GBytes **image, GError **error)
{
    g_autofree gchar *hash = NULL;
    gint64 t0 = g_get_monotonic_time();
    CohortSeedSpec spec = {
        .instance_id = work->seed_instance_id,
        .hostname = work->seed_hostname,
        .user = work->seed_user,
        .gecos = work->display_name,
        .ssh_keys = (const gchar *const *)work->ssh_keys,
        .install_agent = TRUE,
    };

    *image = NULL;
    if (!work->seed)
        return TRUE;
    if (work->guest_password != NULL) {
        hash = cohort_seed_password_hash(work->guest_password, error);
        if (hash == NULL)
            return FALSE;
        spec.password_hash = hash;
    }
    *image = cohort_seed_build(&spec, error);
    if (*image == NULL) {
        g_prefix_error(error, "the seed of %s: ", work->domain_name);
        return FALSE;
    }
    g_debug("%s: seed image of %" G_GSIZE_FORMAT " bytes made in %.1f ms", work->domain_name,
            g_bytes_get_size(*image), (g_get_monotonic_time() - t0) / 1000.0);
    return TRUE;
}

static void
cohort_machine_work_move_progress(guint64 done, guint64 total, gpointer user_data)
{
    CohortMachineWork *work = user_data;

    if (work->transfer != NULL)
        cohort_transfer_set_bytes(work->transfer, done, total);
}

/* A stopped machine to another host: its overlay through two streams, then its domain defined
 * there on the copy. The old host keeps its copy until the store says the machine moved. */
static gboolean
cohort_machine_work_move_run(CohortMachineWork *work, GError **error)
{
    g_autofree gchar *disk = NULL;
    g_autoptr(GBytes) seed = NULL;
    g_autofree gchar *seed_name = NULL;
    CohortMachineSpec spec = {
        .domain_name = work->domain_name,
        .machine_id = work->machine_id,
        .cohort = work->cohort,
        .trainee = work->trainee,
        .display_name = work->display_name,
        .vcpus = work->vcpus,
        .memory_mib = work->memory_mib,
        .vnc_password = work->vnc_password,
        .vnc_listen = work->vnc_listen,
        .network = work->network,
    };

    if (work->transfer != NULL)
        cohort_transfer_set_state(work->transfer, COHORT_TRANSFER_SENDING);
    if (!cohort_machine_work_network(work, work->target_prov, error) ||
        !cohort_provisioner_overlay_copy(work->prov, work->target_prov, work->tmpl,
                                         work->domain_name, cohort_machine_work_move_progress, work,
                                         &work->moved_bytes, error))
        return FALSE;
    /* the copy names the same base by the same path: this finds it, it makes nothing */
    disk =
        cohort_provisioner_overlay_create(work->target_prov, work->tmpl, work->domain_name, error);
    if (disk == NULL)
        return FALSE;
    spec.disk_path = disk;
    /* the seed goes along, as it was: a move is not a reset */
    if (!cohort_machine_work_seed_image(work, &seed, error))
        return FALSE;
    if (seed != NULL) {
        if (!cohort_provisioner_seed_create(work->target_prov, work->domain_name, seed, error))
            return FALSE;
        seed_name = cohort_names_seed(work->domain_name);
        spec.seed_pool = cohort_provisioner_get_pool(work->target_prov);
        spec.seed_volume = seed_name;
    }
    return cohort_provisioner_domain_define(work->target_prov, work->tmpl, &spec, error);
}

static gboolean
cohort_machine_work_create(CohortMachineWork *work, GError **error)
{
    CohortMachineSpec spec = {
        .domain_name = work->domain_name,
        .machine_id = work->machine_id,
        .cohort = work->cohort,
        .trainee = work->trainee,
        .display_name = work->display_name,
        .vcpus = work->vcpus,
        .memory_mib = work->memory_mib,
        .vnc_password = work->vnc_password,
        .vnc_listen = work->vnc_listen,
        .network = work->network,
    };
    g_autoptr(GBytes) seed = NULL;

    if (!cohort_machine_work_network(work, work->prov, error) ||
        !cohort_machine_work_seed_image(work, &seed, error))
        return FALSE;
    return cohort_provisioner_machine_create_seeded(work->prov, work->tmpl, &spec, seed, error);
}

/* Worker thread: libvirt only. */
static gboolean
cohort_machine_work_run(gpointer item, GError **error)
{
    CohortMachineWork *work = item;
    CohortWorkCounters *counters = &work->owner->counters;
    gint64 t0 = g_get_monotonic_time();
    g_autofree gchar *point = g_strconcat("work-", cohort_machine_work_op_names[work->op], NULL);
    gboolean ok = FALSE;

    /* tests hold a machine's work here to see the state and queue while it runs */
    cohort_crash_hold(point);
    switch (work->op) {
    case COHORT_MACHINE_OP_CREATE:
        ok = cohort_machine_work_create(work, error);
        break;
    case COHORT_MACHINE_OP_START:
        ok =
            cohort_provisioner_domain_start(work->prov, work->domain_name, work->machine_id, error);
        break;
    case COHORT_MACHINE_OP_STOP:
        ok = cohort_provisioner_domain_shutdown(work->prov, work->domain_name, work->machine_id,
                                                work->stop_timeout_s, error);
        break;
    case COHORT_MACHINE_OP_REBOOT:
        ok = cohort_provisioner_domain_reboot(work->prov, work->domain_name, work->machine_id,
                                              error);
        break;
    case COHORT_MACHINE_OP_RESET:
        ok = cohort_provisioner_machine_teardown(work->prov, work->domain_name, work->machine_id,
                                                 error) &&
             cohort_machine_work_create(work, error);
        break;
    case COHORT_MACHINE_OP_TEARDOWN:
        work->freed_disk_bytes =
            cohort_provisioner_overlay_get_allocation(work->prov, work->domain_name);
        ok = cohort_provisioner_machine_teardown(work->prov, work->domain_name, work->machine_id,
                                                 error);
        break;
    case COHORT_MACHINE_OP_MOVE:
        ok = cohort_machine_work_move_run(work, error);
        if (work->transfer != NULL)
            cohort_transfer_set_state(work->transfer,
                                      ok ? COHORT_TRANSFER_DONE : COHORT_TRANSFER_FAILED);
        break;
    }
    /* a host lost mid-way is unavailable, whatever libvirt called the error it gave (a call on
     * a connection its peer closed fails as an internal or RPC error) */
    if (!ok && error != NULL && *error != NULL &&
        !g_error_matches(*error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE) &&
        (!cohort_provisioner_is_alive(work->prov) ||
         (work->target_prov != NULL && !cohort_provisioner_is_alive(work->target_prov))))
        (*error)->code = COHORT_ERROR_HOST_UNAVAILABLE;
    g_atomic_pointer_add(&counters->libvirt_calls, 1);
    g_atomic_pointer_add(&counters->libvirt_usec, g_get_monotonic_time() - t0);
    if (!ok)
        g_atomic_pointer_add(&counters->libvirt_failures, 1);
    return ok;
}

/* The row's state when the work is over: what libvirt did, never what was asked. */
static const gchar *
cohort_machine_work_state_after(CohortMachineWork *work, const GError *error)
{
    if (error == NULL) {
        switch (work->op) {
        case COHORT_MACHINE_OP_STOP:
        case COHORT_MACHINE_OP_MOVE:
            return "stopped";
        case COHORT_MACHINE_OP_TEARDOWN:
            return "reclaimed";
        default:
            return "running";
        }
    }
    /* the host went away mid-way (or cohortd stops): the row keeps its intent, and reconcile
     * finishes the work (or, for a start or stop, learns what libvirt did) when it is back */
    if (g_error_matches(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE))
        return work->transitional;
    /* a machine that could not be made or remade is failed; one that could not be started
     * or stopped stays as it was, with the reason */
    switch (work->op) {
    case COHORT_MACHINE_OP_CREATE:
    case COHORT_MACHINE_OP_RESET:
    case COHORT_MACHINE_OP_TEARDOWN:
        return "failed";
    default:
        return work->previous_state;
    }
}

/* A cohort's own network going from hosts: the last step of its reclaim (from every host it
 * may be on, counted in the job), or reconcile's clean-up after a crash (one host, no job). */
typedef struct {
    CohortWork *owner; /* the work layer, for the result */
    gint64 job_id;     /* 0 for reconcile's */
    gchar *name;
    gchar *uuid;
    gchar *cohort_slug;
    GPtrArray *provs; /* borrowed, like a machine's: hosts outlive the workers */
    guint removed;
    guint failed; /* hosts where it could not be removed: reconcile tries again */
} CohortNetworkWork;

static void
cohort_network_work_free(CohortNetworkWork *work)
{
    g_free(work->name);
    g_free(work->uuid);
    g_free(work->cohort_slug);
    g_ptr_array_unref(work->provs);
    g_free(work);
}

static CohortNetworkWork *
cohort_network_work_new(CohortWork *w, gint64 job_id, const gchar *cohort_slug)
{
    CohortNetworkWork *work = g_new0(CohortNetworkWork, 1);

    work->owner = w;
    work->job_id = job_id;
    work->name = cohort_names_network(cohort_slug);
    work->uuid = cohort_names_network_uuid(w->instance_id, cohort_slug);
    work->cohort_slug = g_strdup(cohort_slug);
    work->provs = g_ptr_array_new();
    return work;
}

static gboolean cohort_network_work_run(gpointer item, GError **error);
static void cohort_network_work_done(gpointer item, const GError *error, gpointer user_data);

static void
cohort_network_work_push(CohortWork *w, CohortNetworkWork *work)
{
    cohort_jobs_push(w->jobs, cohort_network_work_run, cohort_network_work_done, work,
                     (GDestroyNotify)cohort_network_work_free, NULL);
}

void
cohort_machine_work_push_network_remove(CohortWork *w, CohortHost *host, const gchar *cohort_slug)
{
    CohortNetworkWork *work = cohort_network_work_new(w, 0, cohort_slug);

    g_ptr_array_add(work->provs, host->prov);
    cohort_network_work_push(w, work);
}

/* Worker thread: libvirt only. A host where it fails keeps the network for reconcile. */
static gboolean
cohort_network_work_run(gpointer item, GError **error)
{
    CohortNetworkWork *work = item;

    for (guint i = 0; i < work->provs->len; i++) {
        g_autoptr(GError) error_local = NULL;
        gboolean removed = FALSE;
        if (!cohort_provisioner_network_remove(g_ptr_array_index(work->provs, i), work->name,
                                               work->uuid, &removed, &error_local)) {
            g_warning("network %s: %s", work->name, error_local->message);
            work->failed++;
            continue;
        }
        if (removed)
            work->removed++;
    }
    return TRUE;
}

static void
cohort_machine_work_job_finish(CohortWork *w, CohortJobRow *job)
{
    g_autoptr(GError) error_local = NULL;

    g_free(job->state);
    job->state = g_strdup(job->failed > 0 && job->done == 0 ? "failed" : "done");
    g_free(job->finished_at);
    job->finished_at = cohort_store_now();
    g_message("job %" G_GINT64_FORMAT " (%s %s) finished: %u done, %u failed", job->id, job->kind,
              job->target, job->done, job->failed);
    if (!cohort_store_job_update(w->store, job, &error_local))
        g_warning("job %" G_GINT64_FORMAT ": %s", job->id, error_local->message);
}

static void
cohort_machine_work_job_running(CohortWork *w, CohortJobRow *job)
{
    g_autoptr(GError) error_local = NULL;

    g_free(job->state);
    job->state = g_strdup("running");
    g_clear_pointer(&job->finished_at, g_free);
    if (!cohort_store_job_update(w->store, job, &error_local))
        g_warning("job %" G_GINT64_FORMAT ": %s", job->id, error_local->message);
}

/* Main context: the networks are gone, and with them the reclaim is done. */
static void
cohort_network_work_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortNetworkWork *work = item;
    CohortWork *w = work->owner;
    g_autoptr(GError) error_local = NULL;
    g_autoptr(CohortJobRow) job = NULL;

    if (work->job_id == 0) {
        g_autoptr(CohortCohortRow) cohort = NULL;
        if (work->removed > 0)
            g_message("removed network %s of a cohort that is over", work->name);
        /* reconcile's: the subnet of a reclaimed cohort goes back to the plan with it */
        cohort = cohort_store_cohort_get_by_slug(w->store, work->cohort_slug, NULL);
        if (work->failed == 0 && cohort != NULL && g_strcmp0(cohort->state, "reclaimed") == 0 &&
            !cohort_store_subnet_free(w->store, cohort->id, &error_local))
            g_warning("cohort %s: %s", work->cohort_slug, error_local->message);
        return;
    }
    if (work->removed > 0 &&
        !cohort_store_job_add_freed_networks(w->store, work->job_id, work->removed, &error_local)) {
        g_warning("job %" G_GINT64_FORMAT ": %s", work->job_id, error_local->message);
        g_clear_error(&error_local);
    }
    /* the subnet goes back to the address plan once no host has the network (reconcile frees
     * it otherwise, when it has removed what is left) */
    if (work->failed == 0) {
        g_autoptr(CohortCohortRow) cohort =
            cohort_store_cohort_get_by_slug(w->store, work->cohort_slug, NULL);
        if (cohort != NULL && !cohort_store_subnet_free(w->store, cohort->id, &error_local)) {
            g_warning("cohort %s: %s", work->cohort_slug, error_local->message);
            g_clear_error(&error_local);
        }
    }
    job = cohort_store_job_get(w->store, work->job_id, &error_local);
    if (job == NULL) {
        g_warning("job %" G_GINT64_FORMAT ": %s", work->job_id, error_local->message);
        return;
    }
    cohort_machine_work_job_finish(w, job);
}

/* When every machine of a reclaim is gone, the cohort's own network goes too (a trainee's
 * release leaves it: the cohort lives on). FALSE when there is nothing to remove. */
static gboolean
cohort_machine_work_push_network_drop(CohortWork *w, CohortJobRow *job)
{
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autoptr(GPtrArray) hosts = NULL;
    CohortNetworkWork *work;

    if (g_strcmp0(job->kind, "reclaim") != 0 || job->failed > 0)
        return FALSE;
    cohort = cohort_store_cohort_get_by_slug(w->store, job->target, NULL);
    if (cohort == NULL || !cohort_names_network_is_own(cohort->network))
        return FALSE;
    work = cohort_network_work_new(w, job->id, cohort->slug);
    hosts = cohort_hosts_list(w->hosts);
    for (guint i = 0; i < hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(hosts, i);
        if (cohort_host_is_usable(host))
            g_ptr_array_add(work->provs, host->prov);
    }
    cohort_network_work_push(w, work);
    return TRUE;
}

void
cohort_machine_work_reclaim_empty(CohortWork *w, gint64 job_id)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(CohortJobRow) job = cohort_store_job_get(w->store, job_id, &error_local);

    if (job == NULL) {
        g_warning("job %" G_GINT64_FORMAT ": %s", job_id, error_local->message);
        return;
    }
    if (cohort_machine_work_push_network_drop(w, job))
        cohort_machine_work_job_running(w, job);
}

gboolean
cohort_machine_work_job_count(CohortWork *w, gint64 job_id, gint64 machine_id,
                              const gchar *machine_name, const GError *error)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(CohortJobRow) owned = NULL;
    CohortJobRow *job = NULL;
    gboolean counted = FALSE;

    /* once per machine: a restart that finishes a machine again does not count it twice */
    if (!cohort_store_job_machine_settle(w->store, job_id, machine_id, error != NULL, &counted,
                                         &error_local)) {
        g_warning("job %" G_GINT64_FORMAT ": %s", job_id, error_local->message);
        return FALSE;
    }
    if (!counted)
        return FALSE;
    /* in a batch of results, the job's row is read once and written at the batch's end
     * (cohort_machine_work_batch_flush), or when its last machine is counted */
    if (w->batch_jobs != NULL)
        job = g_hash_table_lookup(w->batch_jobs, &job_id);
    if (job == NULL) {
        owned = cohort_store_job_get(w->store, job_id, &error_local);
        if (owned == NULL) {
            g_warning("job %" G_GINT64_FORMAT ": %s", job_id, error_local->message);
            return FALSE;
        }
        job = owned;
    }
    if (error != NULL) {
        job->failed++;
        cohort_store_job_error_insert(w->store, job->id, machine_name,
                                      cohort_error_code_to_string(error->domain == COHORT_ERROR
                                                                      ? error->code
                                                                      : COHORT_ERROR_INTERNAL),
                                      error->message, NULL);
    } else {
        job->done++;
    }
    if (w->batch_jobs != NULL && job->done + job->failed < job->total) {
        if (owned != NULL)
            g_hash_table_insert(w->batch_jobs, g_memdup2(&job_id, sizeof(job_id)),
                                g_steal_pointer(&owned));
        return TRUE;
    }
    cohort_machine_work_job_check(w, job);
    if (owned == NULL && w->batch_jobs != NULL)
        g_hash_table_remove(w->batch_jobs, &job_id);
    return TRUE;
}

/* What a job's torn-down machines freed, summed over a batch of results. */
typedef struct {
    guint machines;
    guint vcpus;
    guint64 memory_mib;
    guint64 disk_bytes;
} CohortWorkFreed;

static void
cohort_machine_work_add_freed(CohortWork *w, gint64 job_id, const CohortWorkFreed *freed)
{
    g_autoptr(GError) error_local = NULL;
    CohortWorkFreed *sum;

    if (w->batch_freed == NULL) {
        if (!cohort_store_job_add_freed(w->store, job_id, freed->machines, freed->vcpus,
                                        freed->memory_mib, freed->disk_bytes, &error_local))
            g_warning("job %" G_GINT64_FORMAT ": %s", job_id, error_local->message);
        return;
    }
    sum = g_hash_table_lookup(w->batch_freed, &job_id);
    if (sum == NULL) {
        sum = g_new0(CohortWorkFreed, 1);
        g_hash_table_insert(w->batch_freed, g_memdup2(&job_id, sizeof(job_id)), sum);
    }
    sum->machines += freed->machines;
    sum->vcpus += freed->vcpus;
    sum->memory_mib += freed->memory_mib;
    sum->disk_bytes += freed->disk_bytes;
}

void
cohort_machine_work_batch_flush(CohortWork *w)
{
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (w->batch_jobs != NULL) {
        g_hash_table_iter_init(&iter, w->batch_jobs);
        while (g_hash_table_iter_next(&iter, NULL, &value))
            cohort_machine_work_job_running(w, value);
        g_hash_table_remove_all(w->batch_jobs);
    }
    if (w->batch_freed != NULL) {
        /* written now, not summed again */
        GHashTable *freed = g_steal_pointer(&w->batch_freed);
        g_hash_table_iter_init(&iter, freed);
        while (g_hash_table_iter_next(&iter, &key, &value))
            cohort_machine_work_add_freed(w, *(gint64 *)key, value);
        g_hash_table_remove_all(freed);
        w->batch_freed = freed;
    }
}

void
cohort_machine_work_job_check(CohortWork *w, CohortJobRow *job)
{
    if (job->done + job->failed >= job->total && !cohort_machine_work_push_network_drop(w, job)) {
        cohort_machine_work_job_finish(w, job);
        return;
    }
    /* running until the last machine, or until the cohort's network is gone too */
    cohort_machine_work_job_running(w, job);
}

/* What a work item does to its domain, in libvirt's events (cohort_work_event_is_own()). */
static guint
cohort_machine_work_made(CohortMachineOp op)
{
    switch (op) {
    case COHORT_MACHINE_OP_CREATE:
    case COHORT_MACHINE_OP_START:
        return COHORT_DOMAIN_EVENT_CAME;
    case COHORT_MACHINE_OP_STOP:
    case COHORT_MACHINE_OP_TEARDOWN:
        return COHORT_DOMAIN_EVENT_WENT;
    default:
        return COHORT_DOMAIN_EVENT_CAME | COHORT_DOMAIN_EVENT_WENT;
    }
}

static void cohort_machine_work_done(gpointer item, const GError *error, gpointer user_data);
static void cohort_machine_work_settle(CohortWork *w, CohortMachineWork *work, const GError *error);

/* The work begins: the row shows it (unless its caller wrote that intent already, with the
 * rest of its own), and it goes to the workers. */
static void
cohort_machine_work_begin(CohortWork *w, CohortMachineWork *work, gboolean write_state)
{
    g_autoptr(GError) error_local = NULL;

    if (write_state && !cohort_store_machine_set_state(w->store, work->machine_id,
                                                       work->transitional, NULL, &error_local))
        g_warning("machine %s: %s", work->domain_name, error_local->message);
    cohort_jobs_push(w->jobs, cohort_machine_work_run, cohort_machine_work_done, work,
                     (GDestroyNotify)cohort_machine_work_free, NULL);
}

/* A reclaim makes the work still waiting before it moot (a start of a machine that goes):
 * that work is dropped; the work under way finishes first. Work of a job is never dropped. */
static void
cohort_machine_work_drop_moot(CohortWork *w, GQueue *waiting)
{
    for (GList *l = waiting->head; l != NULL;) {
        GList *next = l->next;
        CohortMachineWork *item = l->data;
        if (item->op != COHORT_MACHINE_OP_TEARDOWN && item->job_id == 0) {
            g_debug("machine %s: dropping its %s, a reclaim follows", item->domain_name,
                    cohort_machine_work_op_names[item->op]);
            g_queue_delete_link(waiting, l);
            cohort_work_inflight_remove(w, item->machine_id, item->domain_name, 0);
            cohort_machine_work_free(item);
        }
        l = next;
    }
}

/* One machine's work runs one item at a time, in the order asked (a stop, then a start):
 * two workers on one domain would race, and the last to finish would write the state. */
static void
cohort_machine_work_enqueue(CohortWork *w, CohortMachineWork *work)
{
    GQueue *waiting;

    if (work->orphan) {
        cohort_jobs_push(w->jobs, cohort_machine_work_run, cohort_machine_work_done, work,
                         (GDestroyNotify)cohort_machine_work_free, NULL);
        return;
    }
    waiting = g_hash_table_lookup(w->waiting, &work->machine_id);
    if (waiting != NULL) {
        if (work->op == COHORT_MACHINE_OP_TEARDOWN)
            cohort_machine_work_drop_moot(w, waiting);
        g_queue_push_tail(waiting, work);
        return;
    }
    g_hash_table_insert(w->waiting, g_memdup2(&work->machine_id, sizeof(work->machine_id)),
                        g_queue_new());
    /* a machine's first work and its reclaim: their callers wrote the intent */
    cohort_machine_work_begin(
        w, work, work->op != COHORT_MACHINE_OP_CREATE && work->op != COHORT_MACHINE_OP_TEARDOWN);
}

static gboolean
cohort_machine_work_superseded(CohortWork *w, CohortMachineWork *work)
{
    GQueue *waiting = g_hash_table_lookup(w->waiting, &work->machine_id);

    return waiting != NULL && !g_queue_is_empty(waiting);
}

gchar **
cohort_machine_work_pending_new(CohortWork *w, gint64 machine_id)
{
    GQueue *waiting = g_hash_table_lookup(w->waiting, &machine_id);
    GStrvBuilder *builder = g_strv_builder_new();
    gchar **pending;

    for (GList *l = waiting != NULL ? waiting->head : NULL; l != NULL; l = l->next) {
        CohortMachineWork *item = l->data;
        g_strv_builder_add(builder, cohort_machine_work_op_names[item->op]);
    }
    pending = g_strv_builder_end(builder);
    g_strv_builder_unref(builder);
    return pending;
}

/* The machine's next work, on the host's current connection (it may have reconnected); it
 * starts from the state the last work left. */
static void
cohort_machine_work_next(CohortWork *w, gint64 machine_id, const gchar *state)
{
    GQueue *waiting = g_hash_table_lookup(w->waiting, &machine_id);
    CohortMachineWork *next;
    CohortHost *host;

    if (waiting == NULL)
        return;
    next = g_queue_pop_head(waiting);
    if (next == NULL) {
        g_queue_free(waiting);
        g_hash_table_remove(w->waiting, &machine_id);
        return;
    }
    /* the machine may have moved meanwhile: its next work runs where it is now */
    {
        g_autoptr(CohortMachineRow) row =
            cohort_store_machine_get_by_id(w->store, machine_id, NULL);
        if (row != NULL && row->host_id > 0)
            next->host_id = row->host_id;
    }
    host = cohort_hosts_lookup_by_id(w->hosts, next->host_id);
    if (host != NULL && host->prov != NULL)
        next->prov = host->prov;
    g_free(next->previous_state);
    next->previous_state = g_strdup(state);
    cohort_machine_work_begin(w, next, TRUE);
}

void
cohort_machine_work_release_waiting(CohortWork *w)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, w->waiting);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        GQueue *waiting = value;
        CohortMachineWork *work;
        while ((work = g_queue_pop_head(waiting)) != NULL)
            cohort_jobs_push(w->jobs, cohort_machine_work_run, cohort_machine_work_done, work,
                             (GDestroyNotify)cohort_machine_work_free, NULL);
        g_queue_free(waiting);
        g_hash_table_iter_remove(&iter);
    }
}

/* Main context: the store learns what happened. */
static void
cohort_machine_work_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortMachineWork *work = item;
    CohortWork *w = work->owner;
    g_autoptr(GError) error_local = NULL;
    /* one commit for the row, its running time, the job, what it freed and the next work's
     * state: a reclaim of a thousand machines is a thousand of these on the main loop */
    gboolean tx = cohort_store_begin(w->store, &error_local);

    if (!tx)
        g_warning("machine %s: %s", work->domain_name, error_local->message);
    cohort_machine_work_settle(w, work, error);
    if (!work->orphan)
        cohort_machine_work_next(w, work->machine_id, cohort_machine_work_state_after(work, error));
    if (work->op == COHORT_MACHINE_OP_TEARDOWN && work->job_id > 0)
        cohort_reclaim_feeds_settled(w, work->job_id);
    if (tx && !cohort_store_commit(w->store, &error_local))
        g_warning("machine %s: recording the result: %s", work->domain_name, error_local->message);
}

/* What a work item is besides a machine's own work: a tagged domain without a row, or what a
 * moved machine left on a host; neither is queued behind the machine's work. */
enum {
    COHORT_MACHINE_WORK_ORPHAN = 1 << 0,
    COHORT_MACHINE_WORK_LEFTOVER = 1 << 1,
};

/* What the caller of a new machine's work already holds, so that it is not read back: the
 * trainee's row and the secrets the row was just written with. */
typedef struct {
    const CohortUserRow *trainee;
    const gchar *vnc_password;
    const gchar *guest_password;
} CohortMachineWorkKnown;

static gboolean cohort_machine_work_push_known(CohortWork *w, const CohortMachineRow *row,
                                               CohortMachineOp op, gint64 job_id, const gchar *note,
                                               guint flags, CohortHost *target,
                                               const CohortMachineWorkKnown *known, GError **error);

static gboolean
cohort_machine_work_push_full(CohortWork *w, const CohortMachineRow *row, CohortMachineOp op,
                              gint64 job_id, const gchar *note, guint flags, CohortHost *target,
                              GError **error)
{
    return cohort_machine_work_push_known(w, row, op, job_id, note, flags, target, NULL, error);
}

/* Main context: a machine whose host was lost while it was made is placed again, away from
 * that host, and made there in the same job. FALSE when no other host has room (for a job,
 * @failure then says so: the machine fails and is counted). */
static gboolean
cohort_machine_work_replace(CohortWork *w, CohortMachineWork *work, GError **failure)
{
    g_autoptr(CohortMachineRow) row =
        cohort_store_machine_get_by_id(w->store, work->machine_id, NULL);
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autoptr(GError) error_place = NULL;
    g_autoptr(GError) error_local = NULL;
    CohortPlacementRequest request = {
        .tmpl = work->tmpl,
        .vcpus = work->vcpus,
        .memory_mib = work->memory_mib,
        .policy = w->settings.placement,
        .exclude_host_id = work->host_id,
    };
    CohortHost *host;

    if (row == NULL || work->tmpl == NULL || cohort_machine_work_superseded(w, work) ||
        g_strcmp0(row->state, "provisioning") != 0 || row->host_id != work->host_id)
        return FALSE;
    cohort = cohort_store_cohort_get_by_id(w->store, row->cohort_id, NULL);
    if (cohort != NULL && cohort->placement != NULL)
        cohort_placement_from_string(cohort->placement, &request.policy);
    request.disk_mib = row->disk_mib;
    host = cohort_hosts_place(w->hosts, w->store, &request, &error_place);
    if (host == NULL) {
        /* a trainee's own request waits for the host; a job reports it and goes on */
        if (work->job_id > 0)
            *failure = g_error_new(COHORT_ERROR, COHORT_ERROR_NO_CAPACITY,
                                   "its host was lost while it was made, and it could not be "
                                   "placed elsewhere: %s",
                                   error_place->message);
        else
            g_message("machine %s: its host was lost while it was made, and %s; it is made "
                      "when the host is back",
                      work->domain_name, error_place->message);
        return FALSE;
    }
    /* intent first: what it may have left on the lost host, and its new host */
    if (!cohort_store_leftover_insert(w->store, row->id, work->host_id, &error_local) ||
        !cohort_store_machine_set_host(w->store, row->id, host->id, &error_local)) {
        g_warning("machine %s: %s", work->domain_name, error_local->message);
        return FALSE;
    }
    g_message("machine %s: its host was lost while it was made; making it on host %s instead",
              work->domain_name, host->name);
    g_clear_pointer(&row, cohort_machine_row_free);
    row = cohort_store_machine_get_by_id(w->store, work->machine_id, &error_local);
    if (row == NULL || !cohort_machine_work_push_full(w, row, COHORT_MACHINE_OP_CREATE,
                                                      work->job_id, NULL, 0, NULL, &error_local)) {
        g_warning("machine %s: %s", work->domain_name,
                  error_local != NULL ? error_local->message : "gone");
        return FALSE;
    }
    return TRUE;
}

/* Main context: a move's outcome. Done: the machine is on the other host, and what is left on
 * the old one goes (now, or when it is back). Failed: the copy on the other host goes. */
static void
cohort_machine_work_move_settle(CohortWork *w, CohortMachineWork *work, const GError *error)
{
    g_autoptr(GError) error_local = NULL;
    gint64 leave_host = error == NULL ? work->host_id : work->target_host_id;
    CohortHost *left;

    if (error == NULL &&
        (!cohort_store_machine_set_host(w->store, work->machine_id, work->target_host_id,
                                        &error_local) ||
         !cohort_store_leftover_delete(w->store, work->machine_id, work->target_host_id,
                                       &error_local) ||
         !cohort_store_leftover_insert(w->store, work->machine_id, work->host_id, &error_local))) {
        g_warning("machine %s: %s", work->domain_name, error_local->message);
        return;
    }
    if (error == NULL)
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", work->cohort,
                         "COHORT_MACHINE", work->domain_name, "MESSAGE",
                         "machine %s moved to host %s (%" G_GUINT64_FORMAT " bytes of disk)",
                         work->domain_name, work->target_host_name, work->moved_bytes);
    left = cohort_hosts_lookup_by_id(w->hosts, leave_host);
    if (left != NULL && cohort_host_is_usable(left) &&
        !cohort_machine_work_push_leftover(w, left, work->machine_id, work->domain_name,
                                           &error_local))
        g_warning("machine %s: %s", work->domain_name, error_local->message);
}

static void
cohort_machine_work_settle(CohortWork *w, CohortMachineWork *work, const GError *error)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(GError) replaced_error = NULL;
    const gchar *state;

    cohort_work_inflight_remove(w, work->machine_id, work->domain_name,
                                cohort_machine_work_made(work->op));
    if (work->leftover) {
        CohortHost *left = cohort_hosts_lookup_by_id(w->hosts, work->host_id);
        const gchar *left_name = left != NULL ? left->name : "(removed)";
        if (error != NULL) {
            g_warning("removing what %s left on host %s when it moved: %s", work->domain_name,
                      left_name, error->message);
            return;
        }
        g_message("removed what %s left on host %s when it moved away", work->domain_name,
                  left_name);
        if (!cohort_store_leftover_delete(w->store, work->machine_id, work->host_id, &error_local))
            g_warning("machine %s: %s", work->domain_name, error_local->message);
        cohort_store_audit_record(w->store, "system", "machine.leftover-remove", work->domain_name,
                                  NULL);
        return;
    }
    if (work->orphan) {
        if (error != NULL)
            g_warning("removing %s, left without a row: %s", work->domain_name, error->message);
        else
            g_message("removed %s, a machine of this installation without a row",
                      work->domain_name);
        /* libvirt lost a domain through cohortd alone: the admin can see why */
        cohort_store_audit_record(w->store, "system", "machine.orphan-remove", work->domain_name,
                                  error);
        return;
    }
    /* a machine whose host was lost while it was made goes to another host if one has room:
     * its job finishes on the hosts that are left */
    if (error != NULL && work->op == COHORT_MACHINE_OP_CREATE &&
        g_error_matches(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE) &&
        !cohort_jobs_is_stopping(w->jobs) && cohort_machine_work_replace(w, work, &replaced_error))
        return;
    if (replaced_error != NULL)
        error = replaced_error;
    state = cohort_machine_work_state_after(work, error);
    if (work->op == COHORT_MACHINE_OP_MOVE)
        cohort_machine_work_move_settle(w, work, error);
    /* running time: a run opens when the machine runs, closes when it stops or goes */
    if (g_strcmp0(state, "running") == 0 && error == NULL)
        cohort_store_machine_run_begin(w->store, work->machine_id, NULL);
    else if (g_strcmp0(state, "running") != 0)
        cohort_store_machine_run_end(w->store, work->machine_id, NULL);
    if (error != NULL)
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "COHORT_COHORT", work->cohort,
                         "COHORT_MACHINE", work->domain_name, "MESSAGE", "%s: %s",
                         work->domain_name, error->message);
    /* with more work waiting (a start behind a stop), the next work's state follows at once */
    if (cohort_machine_work_superseded(w, work)) {
        g_debug("machine %s: %s done, more work waits", work->domain_name, state);
    } else if (!cohort_store_machine_set_state(w->store, work->machine_id, state,
                                               error != NULL ? error->message : work->note,
                                               &error_local)) {
        g_warning("machine %s: %s", work->domain_name, error_local->message);
    }
    /* work that cohortd's stop kept from running is not a failure of the job: it goes on
     * after the restart with what is left */
    if (work->job_id == 0 || (error != NULL && cohort_jobs_is_stopping(w->jobs) &&
                              g_error_matches(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE)))
        return;
    if (cohort_machine_work_job_count(w, work->job_id, work->machine_id, work->domain_name,
                                      error) &&
        error == NULL && work->op == COHORT_MACHINE_OP_TEARDOWN) {
        /* a failed machine held no vCPUs or memory; only its leftover disk, if any, counts
         * (as the job recorded when it took the machine: a restart knows it too) */
        gboolean held = cohort_store_job_machine_get_held(w->store, work->job_id, work->machine_id);
        const CohortWorkFreed freed = {
            .machines = held ? 1 : 0,
            .vcpus = held ? work->vcpus : 0,
            .memory_mib = held ? work->memory_mib : 0,
            .disk_bytes = work->freed_disk_bytes,
        };
        /* in a batch, summed and written once at its end */
        cohort_machine_work_add_freed(w, work->job_id, &freed);
    }
}

/* What a machine's seed says, read from the store on the main thread. */
typedef struct {
    gchar *instance_id;
    gchar *hostname;
    gchar *user;
    gchar *password;
    GStrv keys;
} CohortMachineWorkSeed;

static void
cohort_machine_work_seed_free(CohortMachineWorkSeed *seed)
{
    g_free(seed->instance_id);
    g_free(seed->hostname);
    g_free(seed->user);
    g_free(seed->password);
    g_strfreev(seed->keys);
    g_free(seed);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortMachineWorkSeed, cohort_machine_work_seed_free)

/* @known_password: the password the row was just written with (its generation is 0), or
 * NULL to read it. */
static gboolean
cohort_machine_work_seed_read(CohortWork *w, const CohortMachineRow *row, CohortTemplate *tmpl,
                              const gchar *known_password, CohortMachineWorkSeed **out,
                              GError **error)
{
    g_autoptr(CohortMachineWorkSeed) seed = g_new0(CohortMachineWorkSeed, 1);
    g_autoptr(GPtrArray) keys = NULL;
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    guint generation = 0;

    if (known_password != NULL)
        seed->password = g_strdup(known_password);
    else if (!cohort_store_machine_get_guest(w->store, row->id, &seed->password, &generation,
                                             error))
        return FALSE;
    /* a machine from before seeds existed gets its password at its first rendering */
    if (seed->password == NULL) {
        seed->password = cohort_seed_password_new();
        if (!cohort_store_machine_set_guest_password(w->store, row->id, seed->password, error))
            return FALSE;
    }
    /* cloud-init runs again when this changes: on every reset (the generation moves on) */
    seed->instance_id =
        row->uuid != NULL
            ? g_strdup_printf("%s-%u", row->uuid, generation)
            : g_strdup_printf("cohort-machine-%" G_GINT64_FORMAT "-%u", row->id, generation);
    seed->hostname = cohort_seed_hostname_for(row->name);
    seed->user = cohort_template_get_seed_user(tmpl) != NULL
                     ? g_strdup(cohort_template_get_seed_user(tmpl))
                     : cohort_seed_account_for_login(row->trainee_login);
    /* the keys the trainee has now: a change reaches machines made (or reset) after it */
    keys = cohort_store_user_get_ssh_keys(w->store, row->user_id, error);
    if (keys == NULL)
        return FALSE;
    for (guint i = 0; i < keys->len; i++)
        g_strv_builder_add(builder, g_ptr_array_index(keys, i));
    seed->keys = g_strv_builder_end(builder);
    *out = g_steal_pointer(&seed);
    return TRUE;
}

static gboolean
cohort_machine_work_push_known(CohortWork *w, const CohortMachineRow *row, CohortMachineOp op,
                               gint64 job_id, const gchar *note, guint flags, CohortHost *target,
                               const CohortMachineWorkKnown *known, GError **error)
{
    /* neither has a row of its own to read or write */
    gboolean orphan = flags != 0;
    CohortHost *host = cohort_hosts_lookup_by_id(w->hosts, row->host_id);
    /* an orphan (a tagged domain without a row) has no template: only a teardown, which
     * needs none */
    CohortTemplate *tmpl =
        row->template_name != NULL ? g_hash_table_lookup(w->templates, row->template_name) : NULL;
    g_autoptr(CohortUserRow) trainee_read = NULL;
    const CohortUserRow *trainee = NULL;
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autofree gchar *vnc_password = NULL;
    g_autoptr(CohortMachineWorkSeed) seed = NULL;
    g_autofree gchar *subnet = NULL;
    CohortMachineWork *work;

    if (host == NULL || !cohort_host_is_usable(host)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                    "host %s of machine %s is down (%s); cohortd reconnects by itself: try "
                    "again in a minute, or have its trainer move it to another host "
                    "('cohortctl machine move %" G_GINT64_FORMAT "': it is made anew there, its "
                    "disk stays on %s)",
                    row->host_name != NULL ? row->host_name : "(none)", row->name,
                    host != NULL && host->last_error != NULL ? host->last_error : "not connected",
                    row->id, row->host_name != NULL ? row->host_name : "the lost host");
        return FALSE;
    }
    gboolean renders = op == COHORT_MACHINE_OP_CREATE || op == COHORT_MACHINE_OP_RESET ||
                       op == COHORT_MACHINE_OP_MOVE;

    if (tmpl == NULL && renders) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "template '%s' of machine %s is no longer installed", row->template_name,
                    row->name);
        return FALSE;
    }
    /* the trainee's display name goes into a rendering only (the tag, the seed): a
     * teardown or a start does not read the user's row */
    if (!orphan && renders && known != NULL && known->trainee != NULL) {
        trainee = known->trainee;
    } else if (!orphan && renders) {
        trainee_read = cohort_store_user_get_by_id(w->store, row->user_id, NULL);
        trainee = trainee_read;
    }
    /* the one secret a rendering needs leaves the store only for it */
    if (!orphan && renders && known != NULL && known->vnc_password != NULL) {
        vnc_password = g_strdup(known->vnc_password);
    } else if (!orphan && renders) {
        vnc_password = cohort_store_machine_get_vnc_password(w->store, row->id, error);
        if (vnc_password == NULL)
            return FALSE;
    }
    /* a reset (or a move that makes the machine anew) is a new instance for the guest:
     * cloud-init sets it up again, with a new password. Here, once nothing can refuse the
     * work any more, so that the password shown is always the one the guest gets. */
    if (!orphan && op == COHORT_MACHINE_OP_RESET && cohort_template_get_seed_enabled(tmpl)) {
        g_autofree gchar *password = cohort_seed_password_new();
        if (!cohort_store_machine_renew_guest(w->store, row->id, password, error))
            return FALSE;
    }
    if (!orphan && renders && cohort_template_get_seed_enabled(tmpl) &&
        !cohort_machine_work_seed_read(w, row, tmpl, known != NULL ? known->guest_password : NULL,
                                       &seed, error))
        return FALSE;
    /* the cohort's own network has its subnet before the first machine joins it */
    if (tmpl != NULL && cohort_template_get_n_interfaces(tmpl) > 0 && renders) {
        cohort = cohort_store_cohort_get_by_id(w->store, row->cohort_id, NULL);
        if (cohort != NULL && cohort_names_network_is_own(cohort->network)) {
            subnet = cohort_work_network_subnet(w, cohort, error);
            if (subnet == NULL)
                return FALSE;
        }
    }
    work = g_new0(CohortMachineWork, 1);
    work->owner = w;
    work->op = op;
    work->machine_id = row->id;
    work->job_id = job_id;
    work->domain_name = g_strdup(row->name);
    work->cohort = g_strdup(row->cohort_slug);
    work->trainee = g_strdup(row->trainee_login);
    work->display_name = g_strdup(trainee != NULL ? trainee->display_name : NULL);
    work->vnc_password = g_steal_pointer(&vnc_password);
    work->previous_state = g_strdup(row->state);
    work->transitional = cohort_machine_work_transitional[op];
    work->note = g_strdup(note);
    work->orphan = orphan;
    work->leftover = (flags & COHORT_MACHINE_WORK_LEFTOVER) != 0;
    work->vcpus = row->vcpus;
    work->memory_mib = row->memory_mib;
    work->host_id = row->host_id;
    work->prov = host->prov;
    work->tmpl = tmpl != NULL ? cohort_template_ref(tmpl) : NULL;
    work->vnc_listen = g_strdup(w->settings.vnc_listen);
    work->stop_timeout_s = w->settings.stop_timeout_s;
    if (seed != NULL) {
        work->seed = TRUE;
        work->seed_instance_id = g_steal_pointer(&seed->instance_id);
        work->seed_hostname = g_steal_pointer(&seed->hostname);
        work->seed_user = g_steal_pointer(&seed->user);
        work->guest_password = g_steal_pointer(&seed->password);
        work->ssh_keys = g_steal_pointer(&seed->keys);
    }
    if (target != NULL) {
        work->target_prov = target->prov;
        work->target_host_id = target->id;
        work->target_host_name = g_strdup(target->name);
        work->transfer = cohort_work_transfer_new(w, job_id, target->name, row->name, 0);
    }
    if (cohort != NULL && cohort_names_network_is_own(cohort->network)) {
        work->network = cohort_names_network(cohort->slug);
        work->network_uuid = cohort_names_network_uuid(w->instance_id, cohort->slug);
        work->network_subnet = g_steal_pointer(&subnet);
        work->network_nat = g_strcmp0(cohort->network, "nat") == 0;
    } else if (cohort != NULL) {
        work->network = g_strdup(cohort->network);
    }
    cohort_work_inflight_add(w, row->id, row->name);
    cohort_machine_work_enqueue(w, work);
    return TRUE;
}

gboolean
cohort_machine_work_push(CohortWork *w, const CohortMachineRow *row, CohortMachineOp op,
                         gint64 job_id, GError **error)
{
    return cohort_machine_work_push_full(w, row, op, job_id, NULL, 0, NULL, error);
}

gboolean
cohort_machine_work_push_new(CohortWork *w, const CohortMachineRow *row, gint64 job_id,
                             const CohortUserRow *trainee, const gchar *vnc_password,
                             const gchar *guest_password, GError **error)
{
    CohortMachineWorkKnown known = {
        .trainee = trainee,
        .vnc_password = vnc_password,
        .guest_password = guest_password,
    };

    return cohort_machine_work_push_known(w, row, COHORT_MACHINE_OP_CREATE, job_id, NULL, 0, NULL,
                                          &known, error);
}

gboolean
cohort_machine_work_push_note(CohortWork *w, const CohortMachineRow *row, CohortMachineOp op,
                              const gchar *note, GError **error)
{
    return cohort_machine_work_push_full(w, row, op, 0, note, 0, NULL, error);
}

gboolean
cohort_machine_work_push_orphan(CohortWork *w, gint64 host_id, const gchar *domain_name,
                                gint64 machine_id, GError **error)
{
    g_autoptr(CohortHostRow) host = cohort_store_host_get_by_id(w->store, host_id, error);
    CohortMachineRow row = {
        .id = machine_id,
        .name = (gchar *)domain_name,
        .host_id = host_id,
        .host_name = host != NULL ? host->name : NULL,
        .state = (gchar *)"orphan",
    };

    if (host == NULL)
        return FALSE;
    return cohort_machine_work_push_full(w, &row, COHORT_MACHINE_OP_TEARDOWN, 0, NULL,
                                         COHORT_MACHINE_WORK_ORPHAN, NULL, error);
}

gboolean
cohort_machine_work_push_leftover(CohortWork *w, CohortHost *host, gint64 machine_id,
                                  const gchar *domain_name, GError **error)
{
    CohortMachineRow row = {
        .id = machine_id,
        .name = (gchar *)domain_name,
        .host_id = host->id,
        .host_name = host->name,
        .state = (gchar *)"moved",
    };

    return cohort_machine_work_push_full(w, &row, COHORT_MACHINE_OP_TEARDOWN, 0, NULL,
                                         COHORT_MACHINE_WORK_LEFTOVER, NULL, error);
}

gboolean
cohort_machine_work_move(CohortWork *w, const CohortMachineRow *row, CohortHost *target,
                         gboolean fresh, gint64 job_id, GError **error)
{
    CohortHost *source = cohort_hosts_lookup_by_id(w->hosts, row->host_id);
    g_autoptr(CohortMachineRow) moved = NULL;
    gboolean copy = !fresh && source != NULL && cohort_host_is_usable(source) &&
                    g_strcmp0(row->state, "stopped") == 0;
    /* work under way on the old host may still make something there: what it leaves is then
     * removed by reconcile once that work is done, not now, beside it */
    gboolean busy = cohort_work_inflight_contains(w, row->id);

    g_return_val_if_fail(target != NULL && target->id != row->host_id, FALSE);

    if (copy) {
        /* what the copy may leave on the other host if it is cut short */
        if (!cohort_store_leftover_insert(w->store, row->id, target->id, error))
            return FALSE;
        return cohort_machine_work_push_full(w, row, COHORT_MACHINE_OP_MOVE, job_id, NULL, 0,
                                             target, error);
    }
    /* made anew there: the old host's copy is what it leaves behind */
    if (row->host_id > 0 && !cohort_store_leftover_insert(w->store, row->id, row->host_id, error))
        return FALSE;
    if (!cohort_store_machine_set_host(w->store, row->id, target->id, error) ||
        !cohort_store_machine_set_state(w->store, row->id, "resetting", NULL, error))
        return FALSE;

    moved = cohort_store_machine_get_by_id(w->store, row->id, error);
    if (moved == NULL || !cohort_machine_work_push_full(w, moved, COHORT_MACHINE_OP_RESET, job_id,
                                                        NULL, 0, NULL, error))
        return FALSE;
    if (source != NULL && cohort_host_is_usable(source) && !busy) {
        g_autoptr(GError) error_local = NULL;
        if (!cohort_machine_work_push_leftover(w, source, row->id, row->name, &error_local))
            g_warning("machine %s: %s", row->name, error_local->message);
    }
    return TRUE;
}

gint64
cohort_machine_work_job_new(CohortWork *w, const CohortUserRow *actor, const gchar *kind,
                            const gchar *target, guint total, GError **error)
{
    g_autoptr(CohortJobRow) job = g_new0(CohortJobRow, 1);

    job->kind = g_strdup(kind);
    job->user_id = actor != NULL ? actor->id : 0;
    job->target = g_strdup(target);
    job->state = g_strdup(total == 0 ? "done" : "queued");
    job->total = total;
    if (total == 0)
        job->finished_at = cohort_store_now();
    if (!cohort_store_job_insert(w->store, job, error))
        return 0;
    return job->id;
}

/* Work that could not be queued (its host went down meanwhile): the machine is failed with the
 * reason, and counted so in its job, in one commit. */
void
cohort_machine_work_fail_unqueued(CohortWork *w, gint64 job_id, const CohortMachineRow *row,
                                  const GError *failure)
{
    g_autoptr(GError) error_local = NULL;
    gboolean tx = cohort_store_begin(w->store, &error_local);

    if (!tx) {
        g_warning("machine %s: %s", row->name, error_local->message);
        g_clear_error(&error_local);
    }
    if (!cohort_store_machine_set_state(w->store, row->id, "failed", failure->message,
                                        &error_local)) {
        g_warning("machine %s: %s", row->name, error_local->message);
        g_clear_error(&error_local);
    }
    cohort_machine_work_job_count(w, job_id, row->id, row->name, failure);
    if (tx && !cohort_store_commit(w->store, &error_local))
        g_warning("machine %s: %s", row->name, error_local->message);
}
