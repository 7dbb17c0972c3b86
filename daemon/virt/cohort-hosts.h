/* The hypervisor hosts cohortd drives: one libvirt connection and provisioner each, which
 * templates' base volumes they hold, and placement of new machines. Main thread only; the
 * provisioners themselves may be used from workers. Connecting (at start, for a new host, a
 * reconnect, a new pool) always runs in a thread of its own: a host that hangs libvirt's
 * handshake never stalls the API. */
#pragma once

#include <glib.h>

#include "cohort-provision-volumes.h"
#include "cohort-provision.h"
#include "cohort-store.h"
#include "cohort-template.h"

G_BEGIN_DECLS

typedef struct _CohortHosts CohortHosts;

/* Where new machines go: "spread" (the least used host first, so that a host's failure
 * hurts the fewest trainees) or "pack" (fill a host before the next, so that idle hosts
 * can be powered off). */
typedef enum {
    COHORT_PLACEMENT_SPREAD,
    COHORT_PLACEMENT_PACK,
} CohortPlacement;

gboolean cohort_placement_from_string(const gchar *text, CohortPlacement *placement);
const gchar *cohort_placement_to_string(CohortPlacement placement);

typedef struct {
    CohortHosts *registry;
    gint64 id;
    gchar *name;
    gchar *uri;
    gchar *state; /* "connecting" (never reached yet), "up", "draining", "down" */
    guint vcpus;  /* capacity placement counts: the row's, or libvirt's where the row has 0 */
    guint64 memory_mib;
    guint row_vcpus; /* as the admin set them (0: what libvirt reports) */
    guint64 row_memory_mib;
    guint node_vcpus; /* what libvirt last reported */
    guint64 node_memory_mib;
    gdouble cpu_ratio;
    gdouble memory_ratio;
    gdouble disk_ratio;
    gchar *pool;
    gboolean pool_known; /* pool_usage was read at least once */
    CohortPoolUsage pool_usage;
    CohortProvisioner *prov; /* NULL until the host was first reached */
    GHashTable *bases;       /* base volume names the host holds, verified */
    gchar *last_error;
    gchar *host_uuid;        /* what libvirt last said the host is; NULL: it said nothing */
    gboolean draining;       /* kept across a lost connection */
    guint reconnect_delay_s; /* backoff: doubles up to a minute */
    GSource *reconnect;      /* the pending reconnect attempt, if any */
    GPtrArray *retired;      /* provisioners of lost connections: workers may still hold one */
    gint event_id;           /* the lifecycle event callback on the current connection, or -1 */
    gint agent_event_id;     /* the agent lifecycle callback, or -1 */
    struct _CohortHostsWatch *watch; /* what libvirt's callbacks get, freed with the host */
    gboolean close_watched;          /* a close callback is registered on the current connection */
    gboolean connecting;             /* a connection attempt is under way in a thread */
    guint generation;                /* counts pool changes: an older attempt's result is moot */
    gchar *accel;                    /* as configured: "auto", "kvm" or "tcg" */
    gboolean kvm_offered;            /* the host's domain capabilities offered kvm when reached */
    GArray *network_subnets;         /* CohortSubnet of the host's networks not Cohort's, when
                                      * reached: the address plan keeps clear of them */
} CohortHost;

/* Main context: a lifecycle event of a domain on @host; @host came up or went down. */
typedef void (*CohortHostsDomainEventFunc)(CohortHost *host, const gchar *domain_name, gint event,
                                           gpointer user_data);
typedef void (*CohortHostsStateFunc)(CohortHost *host, gpointer user_data);
/* Main context: libvirt says the guest agent of a domain on @host connected or went away. */
typedef void (*CohortHostsAgentEventFunc)(CohortHost *host, const gchar *domain_name,
                                          gboolean connected, gpointer user_data);

/* What a domain event says happened, for those who need not know libvirt's codes. */
typedef enum {
    COHORT_DOMAIN_EVENT_CAME = 1 << 0, /* defined or started */
    COHORT_DOMAIN_EVENT_WENT = 1 << 1, /* stopped or undefined */
} CohortDomainEventKind;
CohortDomainEventKind cohort_hosts_event_kind(gint event);

CohortHosts *cohort_hosts_new(void);
/* The store says which bases on a host are only partly uploaded (borrowed). */
void cohort_hosts_set_store(CohortHosts *self, CohortStore *store);
/* The installation whose machines the provisioners may touch (see the machine tag). */
void cohort_hosts_set_owner(CohortHosts *self, const gchar *owner);
/* Which host URIs may be opened (cohort_host_uri_check()): test:/// ones only with
 * @allow_test, but @builtin_test_uri (the fallback lab host's) always. */
void cohort_hosts_set_uri_policy(CohortHosts *self, gboolean allow_test,
                                 const gchar *builtin_test_uri);
/* libvirt's events, delivered in @context (needs cohort_virt_events_init() first); @changed
 * is called when a host comes up, goes down, or its connection is replaced. */
void cohort_hosts_set_handlers(CohortHosts *self, GMainContext *context,
                               CohortHostsDomainEventFunc domain_event,
                               CohortHostsStateFunc changed, gpointer user_data);
/* The guest agents' events (VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE), with the user data of
 * cohort_hosts_set_handlers(); set before the hosts connect. */
void cohort_hosts_set_agent_handler(CohortHosts *self, CohortHostsAgentEventFunc agent_event);
/* Marks the host draining (kept when its connection comes back), or not any more. */
void cohort_hosts_drain(CohortHosts *self, CohortHost *host);
void cohort_hosts_undrain(CohortHosts *self, CohortHost *host);
void cohort_hosts_free(CohortHosts *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortHosts, cohort_hosts_free)

/* Registers @row's host (a row of the store) and starts connecting to it in a thread: it is
 * "connecting" until then, then "up" (capacity from libvirt's node info where the row has
 * 0), or "down" with the reason, reconnecting with backoff. A host whose URI the policy
 * refuses is never opened (down, saying why); one whose URI another host has already stays
 * down naming it, and so does one that turns out to be the libvirt host of another (the same
 * host UUID). */
CohortHost *cohort_hosts_add(CohortHosts *self, CohortHostRow *row, GHashTable *templates);
/* A new host (@row->id 0), for the API: its URI is checked (COHORT_ERROR_INVALID_ARGUMENT),
 * one that another host has already is COHORT_ERROR_CONFLICT naming it; then @row is
 * inserted into @store and the host added as cohort_hosts_add() does, connecting. */
CohortHost *cohort_hosts_add_new(CohortHosts *self, CohortStore *store, CohortHostRow *row,
                                 GHashTable *templates, GError **error);
/* Whether any host's first connection attempt is still under way. */
gboolean cohort_hosts_any_connecting(CohortHosts *self);
/* Takes @host out of the registry: no lookup finds it, no event or reconnect reaches it.
 * Work under way may still use its provisioner: free it with cohort_host_free() once that
 * work is done. */
void cohort_hosts_detach(CohortHosts *self, CohortHost *host);
/* Closes the host's connections. */
void cohort_host_free(CohortHost *host);
CohortHost *cohort_hosts_lookup_by_id(CohortHosts *self, gint64 id);
CohortHost *cohort_hosts_lookup_by_name(CohortHosts *self, const gchar *name);
/* All hosts, by name (borrowed). */
GPtrArray *cohort_hosts_list(CohortHosts *self);

/* Connected, up or draining: its provisioner may be used. */
gboolean cohort_host_is_usable(const CohortHost *host);
/* Whether the host holds @tmpl's base, verified. */
gboolean cohort_host_has_base(const CohortHost *host, CohortTemplate *tmpl);
void cohort_host_set_base(CohortHost *host, const gchar *volume, gboolean present);
/* What the admin changed (capacity, ratios) takes effect at once; 0 capacity is libvirt's. */
void cohort_hosts_set_capacity(CohortHosts *self, CohortHost *host, const CohortHostRow *row);
/* A new accelerator ("auto", "kvm", "tcg"): machines rendered from now on use it. On a host
 * reached already whose libvirt offers no KVM, "kvm" is COHORT_ERROR_CONFLICT saying so. */
gboolean cohort_hosts_set_accel(CohortHosts *self, CohortHost *host, const gchar *accel,
                                GError **error);
/* What the accelerator is in practice: "kvm" or "tcg"; NULL while the host was never reached. */
const gchar *cohort_host_get_accel_effective(const CohortHost *host);
/* A new pool: the host connects again (in a thread) with a provisioner on it. */
void cohort_hosts_set_pool(CohortHosts *self, CohortHost *host, const gchar *pool);
/* What a scan read of the pool. */
void cohort_host_set_pool_usage(CohortHost *host, const CohortPoolUsage *usage);
/* What placement allows on the host: capacity times the ratio; disk in MiB (0 when the pool's
 * size is not known yet). */
guint cohort_host_allowed_vcpus(const CohortHost *host);
guint64 cohort_host_allowed_memory_mib(const CohortHost *host);
guint64 cohort_host_allowed_disk_mib(const CohortHost *host);
/* Asks every reachable host again which templates' bases it holds (after a reload), in a
 * thread for each. */
void cohort_hosts_refresh_bases(CohortHosts *self);

typedef struct {
    CohortTemplate *tmpl; /* whose base the host must hold */
    guint vcpus;
    guint64 memory_mib;
    guint64 disk_mib; /* the overlay's planned growth */
    CohortPlacement policy;
    gint64 exclude_host_id; /* a machine moved from there: somewhere else; 0 for none */
    gint64 only_host_id;    /* a host an admin named: there or nowhere; 0 for any */
} CohortPlacementRequest;

/* The "up" host holding the base with room for the machine after what the store says is
 * placed there (vCPUs and memory times their ratios, and the planned disk of every overlay
 * against what the pool can give them times the disk ratio), chosen by the policy.
 * COHORT_ERROR_NO_CAPACITY says, for each host, why not: which limit, and how to raise it. */
CohortHost *cohort_hosts_place(CohortHosts *self, CohortStore *store,
                               const CohortPlacementRequest *request, GError **error);

G_END_DECLS
