#define G_LOG_DOMAIN "cohort-hosts"

#include "config.h"

#include <gio/gio.h>

#include "cohort-error.h"
#include "cohort-host-uri.h"
#include "cohort-hosts.h"
#include "cohort-provision-network.h"
#include "cohort-virt.h"

struct _CohortHosts {
    GPtrArray *hosts;   /* of CohortHost */
    CohortStore *store; /* borrowed: which bases are only partly uploaded */
    gchar *owner;
    GHashTable *templates; /* borrowed from the daemon, for the base check on reconnect */
    GMainContext *context;
    CohortHostsDomainEventFunc domain_event;
    CohortHostsStateFunc changed;
    CohortHostsAgentEventFunc agent_event;
    gpointer user_data;
    GCancellable *cancellable; /* cancelled when the hosts go: late reconnects are dropped */
    gboolean allow_test;       /* test:/// URIs: [daemon] allow_test_hosts */
    gchar *builtin_test_uri;   /* the fallback lab host's, taken anyway */
};

/* What libvirt's event thread hands to the main context. */
typedef struct {
    CohortHosts *hosts;
    gint64 host_id;
    virConnectPtr conn; /* the connection the event came from */
    gchar *domain_name; /* NULL for a closed connection */
    gint event;
    gint agent; /* -1: not an agent event; else 1 connected, 0 disconnected */
} CohortHostsEvent;

static void
cohort_hosts_event_free(CohortHostsEvent *ev)
{
    g_free(ev->domain_name);
    g_free(ev);
}

static void cohort_hosts_unwatch(CohortHost *host);

void
cohort_host_free(CohortHost *host)
{
    if (host == NULL)
        return;
    cohort_hosts_unwatch(host);
    g_free(host->watch);
    if (host->reconnect != NULL) {
        g_source_destroy(host->reconnect);
        g_source_unref(host->reconnect);
    }
    g_ptr_array_unref(host->retired);
    g_free(host->pool);
    g_free(host->name);
    g_free(host->uri);
    g_free(host->state);
    g_free(host->last_error);
    g_free(host->host_uuid);
    g_free(host->accel);
    if (host->network_subnets != NULL)
        g_array_unref(host->network_subnets);
    cohort_provisioner_free(host->prov);
    g_hash_table_unref(host->bases);
    g_free(host);
}

CohortHosts *
cohort_hosts_new(void)
{
    CohortHosts *self = g_new0(CohortHosts, 1);
    self->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_host_free);
    self->cancellable = g_cancellable_new();
    return self;
}

void
cohort_hosts_free(CohortHosts *self)
{
    if (self == NULL)
        return;
    g_cancellable_cancel(self->cancellable);
    g_object_unref(self->cancellable);
    g_ptr_array_unref(self->hosts);
    if (self->context != NULL)
        g_main_context_unref(self->context);
    g_free(self->owner);
    g_free(self->builtin_test_uri);
    g_free(self);
}

void
cohort_hosts_set_store(CohortHosts *self, CohortStore *store)
{
    self->store = store;
}

gboolean
cohort_placement_from_string(const gchar *text, CohortPlacement *placement)
{
    if (g_strcmp0(text, "spread") == 0)
        *placement = COHORT_PLACEMENT_SPREAD;
    else if (g_strcmp0(text, "pack") == 0)
        *placement = COHORT_PLACEMENT_PACK;
    else
        return FALSE;
    return TRUE;
}

const gchar *
cohort_placement_to_string(CohortPlacement placement)
{
    return placement == COHORT_PLACEMENT_PACK ? "pack" : "spread";
}

gboolean
cohort_host_is_usable(const CohortHost *host)
{
    return host->prov != NULL &&
           (g_strcmp0(host->state, "up") == 0 || g_strcmp0(host->state, "draining") == 0);
}

gboolean
cohort_host_has_base(const CohortHost *host, CohortTemplate *tmpl)
{
    return g_hash_table_contains(host->bases, cohort_template_get_base_volume(tmpl));
}

void
cohort_host_set_base(CohortHost *host, const gchar *volume, gboolean present)
{
    if (present)
        g_hash_table_add(host->bases, g_strdup(volume));
    else
        g_hash_table_remove(host->bases, volume);
}

void
cohort_host_set_pool_usage(CohortHost *host, const CohortPoolUsage *usage)
{
    host->pool_usage = *usage;
    host->pool_known = TRUE;
}

guint
cohort_host_allowed_vcpus(const CohortHost *host)
{
    return (guint)(host->vcpus * host->cpu_ratio + 1e-9);
}

guint64
cohort_host_allowed_memory_mib(const CohortHost *host)
{
    return (guint64)(host->memory_mib * host->memory_ratio + 1e-9);
}

guint64
cohort_host_allowed_disk_mib(const CohortHost *host)
{
    guint64 room;

    if (!host->pool_known)
        return 0;
    /* what the pool has free, and what Cohort's overlays take of it already */
    room = (host->pool_usage.available_bytes + host->pool_usage.overlays_bytes) / (1024 * 1024);
    return (guint64)(room * host->disk_ratio + 1e-9);
}

/* Capacity placement counts: what the admin set, or what libvirt reports where that is 0. */
static void
cohort_host_update_capacity(CohortHost *host)
{
    host->vcpus = host->row_vcpus != 0 ? host->row_vcpus : host->node_vcpus;
    host->memory_mib = host->row_memory_mib != 0 ? host->row_memory_mib : host->node_memory_mib;
}

void
cohort_hosts_set_capacity(CohortHosts *self, CohortHost *host, const CohortHostRow *row)
{
    host->row_vcpus = row->vcpus;
    host->row_memory_mib = row->memory_mib;
    host->cpu_ratio = row->cpu_ratio > 0 ? row->cpu_ratio : 1.0;
    host->memory_ratio = row->memory_ratio > 0 ? row->memory_ratio : 1.0;
    host->disk_ratio = row->disk_ratio > 0 ? row->disk_ratio : 1.0;
    cohort_host_update_capacity(host);
}

void
cohort_hosts_set_uri_policy(CohortHosts *self, gboolean allow_test, const gchar *builtin_test_uri)
{
    self->allow_test = allow_test;
    g_free(self->builtin_test_uri);
    self->builtin_test_uri = g_strdup(builtin_test_uri);
}

/* Another host that is this libvirt: the same URI, or the same host UUID (@uuid NULL: the
 * URI alone). @host itself (NULL for a new one) does not count, nor, with @connected, hosts
 * that were never reached. */
static CohortHost *
cohort_hosts_find_same_full(CohortHosts *self, CohortHost *host, const gchar *uri,
                            const gchar *uuid, gboolean connected)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *other = g_ptr_array_index(self->hosts, i);
        if (other == host || (connected && other->prov == NULL))
            continue;
        if (cohort_host_uri_same(other->uri, uri) ||
            (uuid != NULL && g_strcmp0(other->host_uuid, uuid) == 0))
            return other;
    }
    return NULL;
}

static CohortHost *
cohort_hosts_find_same(CohortHosts *self, CohortHost *host, const gchar *uri, const gchar *uuid)
{
    return cohort_hosts_find_same_full(self, host, uri, uuid, FALSE);
}

static void
cohort_hosts_set_same_error(GError **error, CohortHost *other, const gchar *uri, const gchar *uuid)
{
    if (cohort_host_uri_same(other->uri, uri))
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "host '%s' has this libvirt URI already (%s): a libvirt host is registered "
                    "once (two entries would each take the other's machines for orphans); use "
                    "'%s'",
                    other->name, other->uri, other->name);
    else
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "%s is the libvirt host of '%s' already (%s, host UUID %s): a libvirt host "
                    "is registered once (two entries would each take the other's machines for "
                    "orphans); use '%s'",
                    uri, other->name, other->uri, uuid, other->name);
}

void
cohort_hosts_set_owner(CohortHosts *self, const gchar *owner)
{
    g_free(self->owner);
    self->owner = g_strdup(owner);
}

void
cohort_hosts_set_handlers(CohortHosts *self, GMainContext *context,
                          CohortHostsDomainEventFunc domain_event, CohortHostsStateFunc changed,
                          gpointer user_data)
{
    if (self->context != context) {
        if (self->context != NULL)
            g_main_context_unref(self->context);
        self->context = g_main_context_ref(context);
    }
    self->domain_event = domain_event;
    self->changed = changed;
    self->user_data = user_data;
}

void
cohort_hosts_set_agent_handler(CohortHosts *self, CohortHostsAgentEventFunc agent_event)
{
    self->agent_event = agent_event;
}

void
cohort_hosts_drain(CohortHosts *self, CohortHost *host)
{
    host->draining = TRUE;
    if (g_strcmp0(host->state, "up") == 0) {
        g_free(host->state);
        host->state = g_strdup("draining");
    }
}

void
cohort_hosts_undrain(CohortHosts *self, CohortHost *host)
{
    host->draining = FALSE;
    if (g_strcmp0(host->state, "draining") == 0) {
        g_free(host->state);
        host->state = g_strdup("up");
    }
}

/* --- libvirt events: delivered where the default main context runs, handed on to ours --- */

static gboolean cohort_hosts_reconnect_cb(gpointer user_data);

static void
cohort_hosts_schedule_reconnect(CohortHosts *self, CohortHost *host)
{
    if (host->reconnect != NULL)
        return;
    host->reconnect_delay_s =
        host->reconnect_delay_s == 0 ? 1 : MIN(host->reconnect_delay_s * 2, 60);
    host->reconnect = g_timeout_source_new_seconds(host->reconnect_delay_s);
    g_source_set_callback(host->reconnect, cohort_hosts_reconnect_cb, host, NULL);
    g_source_attach(host->reconnect, self->context);
}

static gboolean
cohort_hosts_event_dispatch(gpointer user_data)
{
    CohortHostsEvent *ev = user_data;
    CohortHosts *self = ev->hosts;
    CohortHost *host = cohort_hosts_lookup_by_id(self, ev->host_id);

    /* an event from a connection that was already replaced says nothing about the host */
    if (host == NULL || host->prov == NULL ||
        cohort_provisioner_get_connection(host->prov) != ev->conn)
        return G_SOURCE_REMOVE;
    if (ev->domain_name != NULL && ev->agent >= 0) {
        if (self->agent_event != NULL)
            self->agent_event(host, ev->domain_name, ev->agent == 1, self->user_data);
        return G_SOURCE_REMOVE;
    }
    if (ev->domain_name != NULL) {
        if (self->domain_event != NULL)
            self->domain_event(host, ev->domain_name, ev->event, self->user_data);
        return G_SOURCE_REMOVE;
    }
    if (g_strcmp0(host->state, "down") == 0)
        return G_SOURCE_REMOVE;
    g_warning("host %s: the connection to libvirt is lost; reconnecting", host->name);
    g_free(host->state);
    host->state = g_strdup("down");
    g_free(host->last_error);
    host->last_error = g_strdup("the connection to libvirt was lost");
    host->reconnect_delay_s = 0;
    cohort_hosts_schedule_reconnect(self, host);
    if (self->changed != NULL)
        self->changed(host, self->user_data);
    return G_SOURCE_REMOVE;
}

static void
cohort_hosts_event_post_full(CohortHosts *self, gint64 host_id, virConnectPtr conn,
                             const gchar *domain_name, gint event, gint agent)
{
    CohortHostsEvent *ev = g_new0(CohortHostsEvent, 1);

    ev->hosts = self;
    ev->host_id = host_id;
    ev->conn = conn;
    ev->domain_name = g_strdup(domain_name);
    ev->event = event;
    ev->agent = agent;
    g_main_context_invoke_full(self->context, G_PRIORITY_DEFAULT, cohort_hosts_event_dispatch, ev,
                               (GDestroyNotify)cohort_hosts_event_free);
}

static void
cohort_hosts_event_post(CohortHosts *self, gint64 host_id, virConnectPtr conn,
                        const gchar *domain_name, gint event)
{
    cohort_hosts_event_post_full(self, host_id, conn, domain_name, event, -1);
}

typedef struct _CohortHostsWatch {
    CohortHosts *hosts;
    gint64 host_id;
} CohortHostsWatch;

static void cohort_hosts_on_close(virConnectPtr conn, int reason, void *opaque);

/* Before a connection is retired or closed: no callback may outlive what it points to. */
static void
cohort_hosts_unwatch(CohortHost *host)
{
    virConnectPtr conn;

    if (host->prov == NULL)
        return;
    conn = cohort_provisioner_get_connection(host->prov);
    if (host->event_id >= 0)
        virConnectDomainEventDeregisterAny(conn, host->event_id);
    if (host->agent_event_id >= 0)
        virConnectDomainEventDeregisterAny(conn, host->agent_event_id);
    host->agent_event_id = -1;
    if (host->close_watched)
        virConnectUnregisterCloseCallback(conn, cohort_hosts_on_close);
    host->event_id = -1;
    host->close_watched = FALSE;
}

static int
cohort_hosts_on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    CohortHostsWatch *watch = opaque;
    cohort_hosts_event_post(watch->hosts, watch->host_id, conn, virDomainGetName(dom), event);
    return 0;
}

CohortDomainEventKind
cohort_hosts_event_kind(gint event)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED:
    case VIR_DOMAIN_EVENT_STARTED:
        return COHORT_DOMAIN_EVENT_CAME;
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_UNDEFINED:
        return COHORT_DOMAIN_EVENT_WENT;
    default:
        return 0;
    }
}

static void
cohort_hosts_on_agent(virConnectPtr conn, virDomainPtr dom, int state, int reason, void *opaque)
{
    CohortHostsWatch *watch = opaque;
    cohort_hosts_event_post_full(watch->hosts, watch->host_id, conn, virDomainGetName(dom), state,
                                 state == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED);
}

static void
cohort_hosts_on_close(virConnectPtr conn, int reason, void *opaque)
{
    CohortHostsWatch *watch = opaque;
    cohort_hosts_event_post(watch->hosts, watch->host_id, conn, NULL, reason);
}

/* Keepalive notices a dead peer; the close callback and domain events arrive through libvirt's
 * event loop. Drivers without them (the embedded test driver) simply do not call. */
static void
cohort_hosts_watch(CohortHosts *self, CohortHost *host, virConnectPtr conn)
{
    if (self->context == NULL)
        return;
    if (virConnectSetKeepAlive(conn, 5, 3) < 0)
        g_debug("host %s: no keepalive: %s", host->name, virGetLastErrorMessage());
    /* one watch per host, freed with it: libvirt frees a callback's data only when it next
     * dispatches, which may never happen; callbacks are deregistered before the host goes */
    if (host->watch == NULL) {
        host->watch = g_new0(CohortHostsWatch, 1);
        host->watch->hosts = self;
        host->watch->host_id = host->id;
    }
    if (virConnectRegisterCloseCallback(conn, cohort_hosts_on_close, host->watch, NULL) < 0)
        g_debug("host %s: no close callback: %s", host->name, virGetLastErrorMessage());
    else
        host->close_watched = TRUE;
    host->event_id = virConnectDomainEventRegisterAny(
        conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(cohort_hosts_on_lifecycle), host->watch, NULL);
    if (host->event_id < 0)
        g_debug("host %s: no domain events: %s", host->name, virGetLastErrorMessage());
    host->agent_event_id = virConnectDomainEventRegisterAny(
        conn, NULL, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(cohort_hosts_on_agent), host->watch, NULL);
    if (host->agent_event_id < 0)
        g_debug("host %s: no agent events: %s", host->name, virGetLastErrorMessage());
}

/* Every template's base volume name, once each (templates may share one). */
static GPtrArray *
cohort_hosts_base_volumes(GHashTable *templates)
{
    GPtrArray *volumes = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer value;

    if (templates == NULL)
        return volumes;
    g_hash_table_iter_init(&iter, templates);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        const gchar *volume = cohort_template_get_base_volume(value);
        if (!g_ptr_array_find_with_equal_func(volumes, volume, g_str_equal, NULL))
            g_ptr_array_add(volumes, g_strdup(volume));
    }
    return volumes;
}

/* What opening a connection learns, in a thread (libvirt may take as long as TCP does to find
 * a remote host unreachable, and the API must not wait). Touches nothing shared. */
typedef struct {
    gint64 host_id;
    guint generation;
    gchar *uri;
    gchar *pool;
    gchar *owner;
    GPtrArray *volumes; /* base volume names to look for */
    GCancellable *cancellable;
    CohortProvisioner *prov; /* the result */
    gchar *host_uuid;        /* what libvirt says the host is, NULL when it does not say */
    GPtrArray *found;        /* the base volumes the host holds */
    guint node_vcpus;
    guint64 node_memory_mib;
    gboolean pool_known;
    CohortPoolUsage pool_usage;
    gchar *accel;         /* as configured */
    gboolean kvm_offered; /* the domain capabilities offer kvm */
    GArray *network_subnets;
} CohortHostsAttempt;

static void
cohort_hosts_attempt_free(CohortHostsAttempt *attempt)
{
    g_free(attempt->uri);
    g_free(attempt->pool);
    g_free(attempt->owner);
    g_ptr_array_unref(attempt->volumes);
    g_clear_object(&attempt->cancellable);
    cohort_provisioner_free(attempt->prov);
    g_free(attempt->host_uuid);
    g_free(attempt->accel);
    if (attempt->network_subnets != NULL)
        g_array_unref(attempt->network_subnets);
    g_ptr_array_unref(attempt->found);
    g_free(attempt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortHostsAttempt, cohort_hosts_attempt_free)

static CohortHostsAttempt *
cohort_hosts_attempt_new(CohortHosts *self, CohortHost *host)
{
    CohortHostsAttempt *attempt = g_new0(CohortHostsAttempt, 1);

    attempt->host_id = host->id;
    attempt->generation = host->generation;
    attempt->uri = g_strdup(host->uri);
    attempt->pool = g_strdup(host->pool);
    attempt->owner = g_strdup(self->owner);
    attempt->volumes = cohort_hosts_base_volumes(self->templates);
    attempt->cancellable = g_object_ref(self->cancellable);
    attempt->found = g_ptr_array_new_with_free_func(g_free);
    attempt->accel = g_strdup(host->accel);
    return attempt;
}

/* The <domain type> of the host's machines: "kvm" where @accel says so, or says auto and the
 * host offers it; "qemu" (TCG) otherwise. "kvm" on a host without it is an error. */
static gboolean
cohort_hosts_resolve_accel(const gchar *accel, gboolean kvm_offered, CohortProvisioner *prov,
                           GError **error)
{
    if (g_strcmp0(accel, "kvm") == 0 && !kvm_offered) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "accel=kvm, but this host's libvirt offers no KVM (its domain capabilities "
                    "have no kvm: no /dev/kvm, or the kvm module is not loaded): load it, or set "
                    "the host's accel to auto or tcg");
        return FALSE;
    }
    if (prov != NULL)
        cohort_provisioner_set_domain_type(
            prov, g_strcmp0(accel, "tcg") != 0 && kvm_offered ? "kvm" : "qemu");
    return TRUE;
}

gboolean
cohort_hosts_set_accel(CohortHosts *self, CohortHost *host, const gchar *accel, GError **error)
{
    g_return_val_if_fail(self != NULL && host != NULL, FALSE);

    if (g_strcmp0(accel, "auto") != 0 && g_strcmp0(accel, "kvm") != 0 &&
        g_strcmp0(accel, "tcg") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "accel '%s' is none of auto (kvm where the host offers it, else tcg), kvm or "
                    "tcg",
                    accel != NULL ? accel : "");
        return FALSE;
    }
    if (host->prov != NULL &&
        !cohort_hosts_resolve_accel(accel, host->kvm_offered, host->prov, error)) {
        g_prefix_error(error, "host %s: ", host->name);
        return FALSE;
    }
    g_free(host->accel);
    host->accel = g_strdup(accel);
    return TRUE;
}

const gchar *
cohort_host_get_accel_effective(const CohortHost *host)
{
    const gchar *type;

    g_return_val_if_fail(host != NULL, NULL);
    if (host->prov == NULL)
        return NULL;
    type = cohort_provisioner_get_domain_type(host->prov);
    return g_strcmp0(type, "kvm") == 0 ? "kvm" : "tcg";
}

/* Worker thread. */
static gboolean
cohort_hosts_attempt_open(CohortHostsAttempt *attempt, GError **error)
{
    g_autoptr(virConnect) conn = cohort_virt_connect(attempt->uri, error);
    g_autoptr(GError) error_local = NULL;

    if (conn == NULL)
        return FALSE;
    attempt->host_uuid = cohort_virt_get_host_uuid(conn);
    attempt->prov = cohort_provisioner_new(conn, attempt->pool, error);
    if (attempt->prov == NULL)
        return FALSE;
    cohort_provisioner_set_owner(attempt->prov, attempt->owner);
    attempt->kvm_offered = cohort_provisioner_offers_kvm(attempt->prov);
    if (!cohort_hosts_resolve_accel(attempt->accel, attempt->kvm_offered, attempt->prov, error))
        return FALSE;
    if (!cohort_provisioner_node_info(attempt->prov, &attempt->node_vcpus,
                                      &attempt->node_memory_mib, &error_local)) {
        g_debug("%s: %s", attempt->uri, error_local->message);
        g_clear_error(&error_local);
    }
    attempt->network_subnets =
        cohort_provisioner_list_network_subnets(attempt->prov, attempt->owner, &error_local);
    if (attempt->network_subnets == NULL) {
        g_debug("%s: %s", attempt->uri, error_local->message);
        g_clear_error(&error_local);
    }
    attempt->pool_known =
        cohort_provisioner_pool_usage(attempt->prov, &attempt->pool_usage, &error_local);
    if (!attempt->pool_known)
        g_debug("%s: %s", attempt->uri, error_local->message);
    for (guint i = 0; i < attempt->volumes->len; i++) {
        const gchar *volume = g_ptr_array_index(attempt->volumes, i);
        if (cohort_provisioner_volume_exists(attempt->prov, volume))
            g_ptr_array_add(attempt->found, g_strdup(volume));
    }
    return TRUE;
}

/* The bases the host holds: the volumes there, but for those the store says are only partly
 * uploaded (an upload cut short is made again, never used). */
static void
cohort_hosts_take_bases(CohortHosts *self, CohortHost *host, GPtrArray *found)
{
    g_autoptr(GHashTable) recorded = NULL;

    if (self->store != NULL && host->id > 0)
        recorded = cohort_store_host_base_list(self->store, host->id, NULL);
    g_hash_table_remove_all(host->bases);
    for (guint i = 0; i < found->len; i++) {
        const gchar *volume = g_ptr_array_index(found, i);
        if (recorded != NULL && g_strcmp0(g_hash_table_lookup(recorded, volume), "uploading") == 0)
            continue;
        g_hash_table_add(host->bases, g_strdup(volume));
    }
}

/* Main context: the host takes the new connection; the old provisioner is retired, not
 * freed: a worker may still be using it (its calls fail at once on the dead connection). */
static void
cohort_hosts_attempt_apply(CohortHosts *self, CohortHost *host, CohortHostsAttempt *attempt)
{
    cohort_hosts_unwatch(host);
    if (host->prov != NULL)
        g_ptr_array_add(host->retired, host->prov);
    host->prov = g_steal_pointer(&attempt->prov);
    g_free(host->host_uuid);
    host->host_uuid = g_steal_pointer(&attempt->host_uuid);
    g_free(host->state);
    host->state = g_strdup(host->draining ? "draining" : "up");
    g_clear_pointer(&host->last_error, g_free);
    host->node_vcpus = attempt->node_vcpus;
    host->node_memory_mib = attempt->node_memory_mib;
    host->kvm_offered = attempt->kvm_offered;
    if (attempt->network_subnets != NULL) {
        if (host->network_subnets != NULL)
            g_array_unref(host->network_subnets);
        host->network_subnets = g_steal_pointer(&attempt->network_subnets);
    }
    /* an admin may have changed the accelerator while the attempt ran */
    if (g_strcmp0(host->accel, attempt->accel) != 0 &&
        !cohort_hosts_resolve_accel(host->accel, host->kvm_offered, host->prov, NULL))
        g_warning("host %s: accel=%s, but its libvirt offers no KVM: it keeps accel=%s", host->name,
                  host->accel, attempt->accel);
    cohort_host_update_capacity(host);
    if (attempt->pool_known)
        cohort_host_set_pool_usage(host, &attempt->pool_usage);
    cohort_hosts_take_bases(self, host, attempt->found);
    cohort_hosts_watch(self, host, cohort_provisioner_get_connection(host->prov));
    g_message("host %s (%s): %u vCPUs, %" G_GUINT64_FORMAT " MiB, %u template bases, accel %s (%s)",
              host->name, host->uri, host->vcpus, host->memory_mib, g_hash_table_size(host->bases),
              host->accel, cohort_host_get_accel_effective(host));
}

/* Not reached (@message says why): "down" (a host never reached yet stays "connecting" only
 * while its first attempt runs). */
static void
cohort_hosts_host_down(CohortHost *host, const gchar *message)
{
    g_free(host->last_error);
    host->last_error = g_strdup(message);
    g_free(host->state);
    host->state = g_strdup("down");
}

static void
cohort_hosts_connect_thread(GTask *task, gpointer source, gpointer task_data,
                            GCancellable *cancellable)
{
    GError *error = NULL;

    if (cohort_hosts_attempt_open(task_data, &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

static void
cohort_hosts_connect_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortHosts *self = user_data;
    CohortHostsAttempt *attempt = g_task_get_task_data(G_TASK(result));
    g_autoptr(GError) error = NULL;
    gboolean first;
    CohortHost *host;

    /* the hosts are gone (cohortd stops): nothing to tell */
    if (g_cancellable_is_cancelled(attempt->cancellable))
        return;
    host = cohort_hosts_lookup_by_id(self, attempt->host_id);
    if (host == NULL)
        return;
    host->connecting = FALSE;
    /* a pool changed meanwhile: this attempt is moot, the one for the new pool follows */
    if (attempt->generation != host->generation) {
        cohort_hosts_schedule_reconnect(self, host);
        return;
    }
    first = host->prov == NULL;
    g_task_propagate_boolean(G_TASK(result), &error);
    /* the host UUID is learnt before the pool is looked up: the same libvirt host as another
     * is said so, whatever else failed */
    {
        CohortHost *same =
            cohort_hosts_find_same_full(self, host, host->uri, attempt->host_uuid, TRUE);
        if (same != NULL) {
            g_clear_error(&error);
            cohort_hosts_set_same_error(&error, same, host->uri, attempt->host_uuid);
            g_prefix_error(&error, "not connected: ");
        }
    }
    if (error != NULL) {
        gboolean was_down = g_strcmp0(host->state, "down") == 0;
        if (!was_down || first)
            g_warning("host %s (%s) is down: %s", host->name, host->uri, error->message);
        else
            g_debug("host %s still down: %s", host->name, error->message);
        cohort_hosts_host_down(host, error->message);
        cohort_hosts_schedule_reconnect(self, host);
        if (!was_down && self->changed != NULL)
            self->changed(host, self->user_data);
        return;
    }
    cohort_hosts_attempt_apply(self, host, attempt);
    if (!first)
        g_message("host %s is back", host->name);
    host->reconnect_delay_s = 0;
    if (self->changed != NULL)
        self->changed(host, self->user_data);
}

/* Starts an attempt in a thread, unless one runs already or another host has this URI (no
 * second connection to it, until that host is gone). */
static void
cohort_hosts_connect_start(CohortHosts *self, CohortHost *host)
{
    g_autoptr(GTask) task = NULL;
    CohortHost *same;

    if (host->connecting)
        return;
    same = cohort_hosts_find_same(self, host, host->uri, NULL);
    if (same != NULL) {
        g_autoptr(GError) error = NULL;
        cohort_hosts_set_same_error(&error, same, host->uri, NULL);
        g_prefix_error(&error, "not connected: ");
        if (g_strcmp0(host->last_error, error->message) != 0)
            g_warning("host %s (%s) is down: %s", host->name, host->uri, error->message);
        cohort_hosts_host_down(host, error->message);
        cohort_hosts_schedule_reconnect(self, host);
        return;
    }
    host->connecting = TRUE;
    g_main_context_push_thread_default(self->context);
    task = g_task_new(NULL, self->cancellable, cohort_hosts_connect_done, self);
    g_main_context_pop_thread_default(self->context);
    g_task_set_task_data(task, cohort_hosts_attempt_new(self, host),
                         (GDestroyNotify)cohort_hosts_attempt_free);
    /* not cancelled by the cancellable: a thread in libvirt cannot be stopped, its result is
     * dropped instead */
    g_task_set_check_cancellable(task, FALSE);
    g_task_run_in_thread(task, cohort_hosts_connect_thread);
}

static gboolean
cohort_hosts_reconnect_cb(gpointer user_data)
{
    CohortHost *host = user_data;

    g_source_unref(host->reconnect);
    host->reconnect = NULL;
    cohort_hosts_connect_start(host->registry, host);
    return G_SOURCE_REMOVE;
}

void
cohort_hosts_set_pool(CohortHosts *self, CohortHost *host, const gchar *pool)
{
    g_free(host->pool);
    host->pool = g_strdup(pool);
    host->generation++;
    if (host->reconnect != NULL) {
        g_source_destroy(host->reconnect);
        g_clear_pointer(&host->reconnect, g_source_unref);
    }
    host->reconnect_delay_s = 0;
    /* one under way finishes first, and is followed by one on the new pool */
    cohort_hosts_connect_start(self, host);
}

gboolean
cohort_hosts_any_connecting(CohortHosts *self)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        if (host->connecting && host->prov == NULL)
            return TRUE;
    }
    return FALSE;
}

/* --- which bases each host holds, asked again after a template reload --------------- */

typedef struct {
    gint64 host_id;
    CohortProvisioner *prov; /* borrowed: retired provisioners live until cohortd stops */
    GPtrArray *volumes;
    GPtrArray *found;
    GCancellable *cancellable; /* the hosts' own: cancelled, they are gone */
} CohortHostsBaseCheck;

static void
cohort_hosts_base_check_free(CohortHostsBaseCheck *check)
{
    g_ptr_array_unref(check->volumes);
    g_ptr_array_unref(check->found);
    g_clear_object(&check->cancellable);
    g_free(check);
}

static void
cohort_hosts_base_check_thread(GTask *task, gpointer source, gpointer task_data,
                               GCancellable *cancellable)
{
    CohortHostsBaseCheck *check = task_data;

    for (guint i = 0; i < check->volumes->len; i++) {
        const gchar *volume = g_ptr_array_index(check->volumes, i);
        if (cohort_provisioner_volume_exists(check->prov, volume))
            g_ptr_array_add(check->found, g_strdup(volume));
    }
    g_task_return_boolean(task, TRUE);
}

static void
cohort_hosts_base_check_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortHosts *self = user_data;
    CohortHostsBaseCheck *check = g_task_get_task_data(G_TASK(result));
    CohortHost *host;

    /* the hosts are gone (cohortd stops): @self with them */
    if (g_cancellable_is_cancelled(check->cancellable))
        return;
    host = cohort_hosts_lookup_by_id(self, check->host_id);
    /* the connection was replaced meanwhile: its own attempt looked */
    if (host == NULL || host->prov != check->prov)
        return;
    cohort_hosts_take_bases(self, host, check->found);
}

void
cohort_hosts_refresh_bases(CohortHosts *self)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        g_autoptr(GTask) task = NULL;
        CohortHostsBaseCheck *check;

        if (!cohort_host_is_usable(host))
            continue;
        check = g_new0(CohortHostsBaseCheck, 1);
        check->host_id = host->id;
        check->prov = host->prov;
        check->volumes = cohort_hosts_base_volumes(self->templates);
        check->found = g_ptr_array_new_with_free_func(g_free);
        check->cancellable = g_object_ref(self->cancellable);
        if (self->context != NULL)
            g_main_context_push_thread_default(self->context);
        task = g_task_new(NULL, self->cancellable, cohort_hosts_base_check_done, self);
        if (self->context != NULL)
            g_main_context_pop_thread_default(self->context);
        g_task_set_task_data(task, check, (GDestroyNotify)cohort_hosts_base_check_free);
        g_task_set_check_cancellable(task, FALSE);
        g_task_run_in_thread(task, cohort_hosts_base_check_thread);
    }
}

static CohortHost *
cohort_hosts_host_new(CohortHosts *self, CohortHostRow *row, GHashTable *templates)
{
    CohortHost *host = g_new0(CohortHost, 1);

    host->registry = self;
    host->event_id = -1;
    host->agent_event_id = -1;
    host->id = row->id;
    host->name = g_strdup(row->name);
    host->uri = g_strdup(row->uri);
    host->pool = g_strdup(row->pool);
    host->accel = g_strdup(row->accel != NULL ? row->accel : "auto");
    host->state = g_strdup("connecting");
    cohort_hosts_set_capacity(self, host, row);
    host->draining = g_strcmp0(row->state, "draining") == 0;
    host->bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    host->retired = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_provisioner_free);
    g_ptr_array_add(self->hosts, host);
    if (templates != NULL)
        self->templates = templates;
    return host;
}

CohortHost *
cohort_hosts_add(CohortHosts *self, CohortHostRow *row, GHashTable *templates)
{
    g_autoptr(GError) error = NULL;
    CohortHost *host = cohort_hosts_host_new(self, row, templates);

    /* a URI the configuration does not allow (any more) is never opened: the host stays
     * down, saying why, until an admin removes it or allows it */
    if (!cohort_host_uri_check(row->uri, self->allow_test, self->builtin_test_uri, &error)) {
        g_prefix_error(&error, "its URI is refused: it ");
        g_warning("host %s (%s) is down: %s", row->name, row->uri, error->message);
        cohort_hosts_host_down(host, error->message);
        return host;
    }
    if (self->context == NULL) {
        cohort_hosts_host_down(host, "cohortd has no main context to connect from");
        return host;
    }
    cohort_hosts_connect_start(self, host);
    return host;
}

CohortHost *
cohort_hosts_add_new(CohortHosts *self, CohortStore *store, CohortHostRow *row,
                     GHashTable *templates, GError **error)
{
    CohortHost *same;

    g_return_val_if_fail(row->id == 0, NULL);

    if (!cohort_host_uri_check(row->uri, self->allow_test, self->builtin_test_uri, error)) {
        g_prefix_error(error, "\"uri\" '%s' ", row->uri);
        return NULL;
    }
    same = cohort_hosts_find_same(self, NULL, row->uri, NULL);
    if (same != NULL) {
        cohort_hosts_set_same_error(error, same, row->uri, NULL);
        return NULL;
    }
    if (!cohort_store_host_insert(store, row, error))
        return NULL;
    return cohort_hosts_add(self, row, templates);
}

void
cohort_hosts_detach(CohortHosts *self, CohortHost *host)
{
    guint index = 0;

    if (!g_ptr_array_find(self->hosts, host, &index))
        g_return_if_reached();
    g_ptr_array_steal_index(self->hosts, index);
    /* no event, close callback or reconnect reaches it any more */
    cohort_hosts_unwatch(host);
    if (host->reconnect != NULL) {
        g_source_destroy(host->reconnect);
        g_clear_pointer(&host->reconnect, g_source_unref);
    }
}

CohortHost *
cohort_hosts_lookup_by_id(CohortHosts *self, gint64 id)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        if (host->id == id)
            return host;
    }
    return NULL;
}

CohortHost *
cohort_hosts_lookup_by_name(CohortHosts *self, const gchar *name)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        if (g_strcmp0(host->name, name) == 0)
            return host;
    }
    return NULL;
}

static gint
cohort_hosts_cmp_name(gconstpointer a, gconstpointer b)
{
    const CohortHost *ha = *(CohortHost *const *)a;
    const CohortHost *hb = *(CohortHost *const *)b;
    return g_strcmp0(ha->name, hb->name);
}

GPtrArray *
cohort_hosts_list(CohortHosts *self)
{
    GPtrArray *list = g_ptr_array_new();
    for (guint i = 0; i < self->hosts->len; i++)
        g_ptr_array_add(list, g_ptr_array_index(self->hosts, i));
    g_ptr_array_sort(list, cohort_hosts_cmp_name);
    return list;
}

/* Why a host takes no machine, for the no-capacity answer. */
static void
cohort_hosts_place_why_full(GString *why, const CohortHost *host, const gchar *what, guint64 used,
                            guint64 want, guint64 capacity, gdouble ratio, guint64 allowed,
                            const gchar *unit, const gchar *ratio_name,
                            const gchar *capacity_option)
{
    g_autofree gchar *ratio_option = g_strdelimit(g_strdup(ratio_name), "_", '-');

    g_string_append_printf(why,
                           "%s: %s full (%" G_GUINT64_FORMAT "%s placed, %" G_GUINT64_FORMAT
                           "%s more wanted, %" G_GUINT64_FORMAT "%s allowed = %" G_GUINT64_FORMAT
                           "%s x %s %g; raise it with 'cohortctl host set %s --%s R'",
                           host->name, what, used, unit, want, unit, allowed, unit, capacity, unit,
                           ratio_name, ratio, host->name, ratio_option);
    if (capacity_option != NULL)
        g_string_append_printf(why, " or '%s N'", capacity_option);
    g_string_append(why, ")");
}

/* spread: the least loaded host (then the one with fewest machines); pack: the most loaded
 * that still fits; ties go to the host registered first. */
static gboolean
cohort_hosts_place_better(CohortPlacement policy, gdouble load, guint machines, gint64 id,
                          gdouble best_load, guint best_machines, gint64 best_id)
{
    if (load < best_load - 1e-9)
        return policy == COHORT_PLACEMENT_SPREAD;
    if (load > best_load + 1e-9)
        return policy == COHORT_PLACEMENT_PACK;
    if (policy == COHORT_PLACEMENT_SPREAD && machines != best_machines)
        return machines < best_machines;
    return id < best_id;
}

CohortHost *
cohort_hosts_place(CohortHosts *self, CohortStore *store, const CohortPlacementRequest *request,
                   GError **error)
{
    const gchar *template_name = cohort_template_get_name(request->tmpl);
    g_autoptr(GString) why = g_string_new(NULL);
    CohortHost *best = NULL;
    gdouble best_load = 0;
    guint best_machines = 0;

    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        CohortHostUsage usage = {0};
        guint64 vcpus_allowed = cohort_host_allowed_vcpus(host);
        guint64 memory_allowed = cohort_host_allowed_memory_mib(host);
        guint64 disk_allowed = cohort_host_allowed_disk_mib(host);
        gdouble load;

        if (request->only_host_id > 0 && host->id != request->only_host_id)
            continue;
        if (why->len > 0)
            g_string_append(why, "; ");
        if (host->id == request->exclude_host_id) {
            g_string_append_printf(why, "%s: the machine moves away from it", host->name);
            continue;
        }
        if (g_strcmp0(host->state, "up") != 0 || host->prov == NULL) {
            if (g_strcmp0(host->state, "draining") == 0)
                g_string_append_printf(why,
                                       "%s: draining ('cohortctl host undrain %s' takes it "
                                       "back)",
                                       host->name, host->name);
            else if (g_strcmp0(host->state, "connecting") == 0)
                g_string_append_printf(why, "%s: still connecting; try again in a moment",
                                       host->name);
            else
                g_string_append_printf(why, "%s: down (%s)", host->name,
                                       host->last_error != NULL ? host->last_error
                                                                : "not connected");
            continue;
        }
        if (!cohort_host_has_base(host, request->tmpl)) {
            g_string_append_printf(why,
                                   "%s: no base of template '%s' ('cohortctl template base %s' "
                                   "installs it)",
                                   host->name, template_name, template_name);
            continue;
        }
        if (!cohort_store_host_get_usage_full(store, host->id, &usage, error))
            return NULL;
        if (usage.vcpus + request->vcpus > vcpus_allowed) {
            cohort_hosts_place_why_full(why, host, "vCPUs", usage.vcpus, request->vcpus,
                                        host->vcpus, host->cpu_ratio, vcpus_allowed, "",
                                        "cpu_ratio", "--vcpus");
            continue;
        }
        if (usage.memory_mib + request->memory_mib > memory_allowed) {
            cohort_hosts_place_why_full(why, host, "memory", usage.memory_mib, request->memory_mib,
                                        host->memory_mib, host->memory_ratio, memory_allowed,
                                        " MiB", "memory_ratio", "--memory-mib");
            continue;
        }
        if (host->pool_known && usage.disk_mib + request->disk_mib > disk_allowed) {
            guint64 room = (host->pool_usage.available_bytes + host->pool_usage.overlays_bytes) /
                           (1024 * 1024);
            cohort_hosts_place_why_full(why, host, "disk", usage.disk_mib, request->disk_mib, room,
                                        host->disk_ratio, disk_allowed, " MiB", "disk_ratio", NULL);
            g_string_truncate(why, why->len - 1);
            g_string_append_printf(why, ", or free space in pool '%s')", host->pool);
            continue;
        }
        g_string_append_printf(why, "%s: room", host->name);
        /* how full the host is with this machine, by its fullest resource */
        load = MAX((gdouble)(usage.vcpus + request->vcpus) / MAX(vcpus_allowed, 1),
                   (gdouble)(usage.memory_mib + request->memory_mib) / MAX(memory_allowed, 1));
        if (host->pool_known)
            load = MAX(load, (gdouble)(usage.disk_mib + request->disk_mib) / MAX(disk_allowed, 1));
        if (best == NULL ||
            cohort_hosts_place_better(request->policy, load, usage.machines, host->id, best_load,
                                      best_machines, best->id)) {
            best = host;
            best_load = load;
            best_machines = usage.machines;
        }
    }
    if (best != NULL)
        return best;
    if (self->hosts->len == 0) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_NO_CAPACITY,
                            "cohortd has no host: an admin adds one with 'cohortctl host add'");
        return NULL;
    }
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_NO_CAPACITY,
                "no host has room for a machine of template '%s' (%u vCPU%s, %" G_GUINT64_FORMAT
                " MiB of memory, %" G_GUINT64_FORMAT " MiB of disk): %s; release machines, "
                "raise a limit or add a host",
                template_name, request->vcpus, request->vcpus == 1 ? "" : "s", request->memory_mib,
                request->disk_mib, why->str);
    return NULL;
}
