#define G_LOG_DOMAIN "cohort-lifecycle"

#include "config.h"

#include "cohort-names.h"
#include "cohort-ready.h"
#include "cohort-template.h"

/* One machine whose lease or addresses are looked for, once a second, bounded. */
typedef struct {
    CohortLifecycle *lifecycle;
    gint64 machine_id;
    gint64 host_id;
    gchar *name;
    gchar *cohort;
    gboolean lease_makes_ready; /* its guest has no agent: the lease is the sign */
    guint attempts;
    guint max_attempts;
    gboolean busy; /* a query is under way in a worker */
    GSource *timer;
} CohortReadyWatch;

static void
cohort_ready_watch_free(CohortReadyWatch *watch)
{
    if (watch->timer != NULL) {
        g_source_destroy(watch->timer);
        g_source_unref(watch->timer);
    }
    g_free(watch->name);
    g_free(watch->cohort);
    g_free(watch);
}

static GHashTable *
cohort_ready_watches(CohortLifecycle *l)
{
    if (l->ready_watches == NULL)
        l->ready_watches = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                                 (GDestroyNotify)cohort_ready_watch_free);
    return l->ready_watches;
}

void
cohort_ready_forget(CohortLifecycle *l, gint64 machine_id)
{
    if (l->ready_watches != NULL)
        g_hash_table_remove(l->ready_watches, &machine_id);
}

gboolean
cohort_ready_template_has_agent(CohortLifecycle *l, const gchar *template_name)
{
    CohortTemplate *tmpl =
        l->work->templates != NULL ? g_hash_table_lookup(l->work->templates, template_name) : NULL;
    return tmpl == NULL || cohort_template_get_guest_agent(tmpl);
}

static void
cohort_ready_log(const gchar *cohort, const gchar *machine, const gchar *what,
                 const gchar *addresses)
{
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", cohort, "COHORT_MACHINE",
                     machine, "MESSAGE", "%s %s%s%s", machine, what, addresses != NULL ? ": " : "",
                     addresses != NULL ? addresses : "");
}

/* What one query of a worker takes and brings back. */
typedef struct {
    CohortLifecycle *lifecycle;
    gint64 machine_id;
    CohortProvisioner *prov; /* borrowed: retired provisioners live until cohortd stops */
    gchar *name;
    gboolean ask_agent;
    gchar *addresses; /* the result */
} CohortReadyQuery;

static void
cohort_ready_query_free(CohortReadyQuery *q)
{
    g_free(q->name);
    g_free(q->addresses);
    g_free(q);
}

static gboolean
cohort_ready_query_run(gpointer item, GError **error)
{
    CohortReadyQuery *q = item;
    g_autoptr(GError) local = NULL;

    q->addresses = cohort_provisioner_domain_addresses(q->prov, q->name, q->ask_agent, &local);
    if (local != NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    return TRUE;
}

static void
cohort_ready_query_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortReadyQuery *q = item;
    CohortLifecycle *l = q->lifecycle;
    CohortReadyWatch *watch =
        l->ready_watches != NULL ? g_hash_table_lookup(l->ready_watches, &q->machine_id) : NULL;
    g_autoptr(GError) error_local = NULL;
    gboolean changed = FALSE;

    if (watch == NULL)
        return; /* stopped, reset or gone meanwhile */
    watch->busy = FALSE;
    if (error != NULL) {
        g_autoptr(CohortMachineRow) m =
            cohort_store_machine_get_by_id(l->store, q->machine_id, NULL);
        g_debug("%s: %s", q->name, error->message);
        /* released, reclaimed or stopped meanwhile: nothing to look for */
        if (m == NULL || g_strcmp0(m->state, "running") != 0) {
            cohort_ready_forget(l, q->machine_id);
            return;
        }
    }
    if (q->addresses == NULL) {
        if (++watch->attempts < watch->max_attempts)
            return;
        g_message("%s: no %s after %u s: giving up until it starts again", watch->name,
                  watch->lease_makes_ready ? "DHCP lease (its template says its guest has no "
                                             "agent)"
                                           : "address from its lease or its agent",
                  watch->attempts * COHORT_READY_POLL_MS / 1000);
        cohort_ready_forget(l, q->machine_id);
        return;
    }
    if (watch->lease_makes_ready) {
        if (!cohort_store_machine_set_ready(l->store, q->machine_id, TRUE, q->addresses, &changed,
                                            &error_local))
            g_warning("%s: %s", watch->name, error_local->message);
        else if (changed)
            cohort_ready_log(watch->cohort, watch->name, "is ready (DHCP lease)", q->addresses);
    } else if (!cohort_store_machine_set_addresses(l->store, q->machine_id, q->addresses,
                                                   &error_local)) {
        g_warning("%s: %s", watch->name, error_local->message);
    } else {
        g_info("%s: addresses %s", watch->name, q->addresses);
    }
    cohort_ready_forget(l, q->machine_id);
}

static gboolean
cohort_ready_watch_tick(gpointer user_data)
{
    CohortReadyWatch *watch = user_data;
    CohortLifecycle *l = watch->lifecycle;
    CohortHost *host = cohort_hosts_lookup_by_id(l->hosts, watch->host_id);
    CohortReadyQuery *q;

    if (watch->busy)
        return G_SOURCE_CONTINUE;
    if (host == NULL || !cohort_host_is_usable(host)) {
        watch->attempts++;
        return G_SOURCE_CONTINUE;
    }
    q = g_new0(CohortReadyQuery, 1);
    q->lifecycle = l;
    q->machine_id = watch->machine_id;
    q->prov = host->prov;
    q->name = g_strdup(watch->name);
    q->ask_agent = !watch->lease_makes_ready;
    watch->busy = TRUE;
    cohort_jobs_push(l->work->jobs, cohort_ready_query_run, cohort_ready_query_done, q,
                     (GDestroyNotify)cohort_ready_query_free, NULL);
    return G_SOURCE_CONTINUE;
}

/* Looks for the machine's lease (or addresses) now and then once a second, unless it is
 * looked for already. */
static void
cohort_ready_watch(CohortLifecycle *l, CohortHost *host, const CohortMachineRow *m,
                   gboolean lease_makes_ready)
{
    GHashTable *watches = cohort_ready_watches(l);
    CohortReadyWatch *watch = g_hash_table_lookup(watches, &m->id);

    if (watch != NULL)
        return;
    watch = g_new0(CohortReadyWatch, 1);
    watch->lifecycle = l;
    watch->machine_id = m->id;
    watch->host_id = host->id;
    watch->name = g_strdup(m->name);
    watch->cohort = g_strdup(m->cohort_slug);
    watch->lease_makes_ready = lease_makes_ready;
    watch->max_attempts =
        lease_makes_ready ? COHORT_READY_LEASE_ATTEMPTS : COHORT_READY_ADDRESS_ATTEMPTS;
    watch->timer = g_timeout_source_new(COHORT_READY_POLL_MS);
    g_source_set_callback(watch->timer, cohort_ready_watch_tick, watch, NULL);
    g_source_attach(watch->timer, l->context);
    g_hash_table_insert(watches, &watch->machine_id, watch);
    cohort_ready_watch_tick(watch);
}

static void
cohort_ready_set(CohortLifecycle *l, CohortHost *host, const CohortMachineRow *m, gboolean ready,
                 const gchar *why)
{
    g_autoptr(GError) error = NULL;
    gboolean changed = FALSE;

    if (!cohort_store_machine_set_ready(l->store, m->id, ready, NULL, &changed, &error)) {
        g_warning("%s: %s", m->name, error->message);
        return;
    }
    if (changed)
        cohort_ready_log(m->cohort_slug, m->name, why, NULL);
    if (!ready) {
        cohort_ready_forget(l, m->id);
        return;
    }
    /* its addresses: the lease, or the agent where there is none */
    cohort_ready_watch(l, host, m, FALSE);
}

void
cohort_ready_on_agent_event(CohortHost *host, const gchar *domain_name, gboolean connected,
                            gpointer user_data)
{
    CohortLifecycle *l = user_data;
    g_autoptr(CohortMachineRow) m = NULL;

    g_debug("host %s: domain %s: guest agent %s", host->name, domain_name,
            connected ? "connected" : "disconnected");
    if (!g_str_has_prefix(domain_name, COHORT_NAME_PREFIX))
        return;
    m = cohort_store_machine_get_by_name(l->store, domain_name, NULL);
    if (m == NULL || m->host_id != host->id)
        return;
    cohort_ready_set(l, host, m, connected,
                     connected ? "is ready (its guest agent connected)"
                               : "is not ready (its guest agent went away)");
}

void
cohort_ready_reconcile_machine(CohortLifecycle *l, CohortHost *host, const CohortMachineRow *m,
                               gint agent)
{
    if (g_strcmp0(m->state, "running") != 0) {
        cohort_ready_forget(l, m->id);
        return;
    }
    if (!cohort_ready_template_has_agent(l, m->template_name)) {
        if (!m->ready)
            cohort_ready_watch(l, host, m, TRUE);
        return;
    }
    if (agent == COHORT_AGENT_CONNECTED && !m->ready)
        cohort_ready_set(l, host, m, TRUE, "is ready (reconcile: its guest agent is connected)");
    else if (agent >= 0 && agent != COHORT_AGENT_CONNECTED && m->ready)
        cohort_ready_set(l, host, m, FALSE, "is not ready (reconcile: no guest agent)");
    else if (m->ready && m->addresses == NULL)
        cohort_ready_watch(l, host, m, FALSE);
}
