/* The hypervisor hosts cohortd drives: one libvirt connection and provisioner each, which
 * templates' base volumes they hold, and placement of new machines. Main thread only; the
 * provisioners themselves may be used from workers. */
#pragma once

#include <glib.h>

#include "cohort-provision.h"
#include "cohort-store.h"
#include "cohort-template.h"

G_BEGIN_DECLS

typedef struct _CohortHosts CohortHosts;

typedef struct {
    CohortHosts *registry;
    gint64 id;
    gchar *name;
    gchar *uri;
    gchar *state; /* as in the store */
    guint vcpus;
    guint64 memory_mib;
    gdouble cpu_ratio;
    gdouble memory_ratio;
    gchar *pool;
    CohortProvisioner *prov; /* NULL until the host was first reached */
    GHashTable *bases;       /* template names whose base volume the host holds */
    gchar *last_error;
    gchar *host_uuid;        /* what libvirt last said the host is; NULL: it said nothing */
    gboolean draining;       /* kept across a lost connection */
    guint reconnect_delay_s; /* backoff: doubles up to a minute */
    GSource *reconnect;      /* the pending reconnect attempt, if any */
    GPtrArray *retired;      /* provisioners of lost connections: workers may still hold one */
    gint event_id;           /* the lifecycle event callback on the current connection, or -1 */
    struct _CohortHostsWatch *watch; /* what libvirt's callbacks get, freed with the host */
    gboolean close_watched;          /* a close callback is registered on the current connection */
    gboolean connecting;             /* a reconnect attempt is under way in a thread */
} CohortHost;

/* Main context: a lifecycle event of a domain on @host; @host came up or went down. */
typedef void (*CohortHostsDomainEventFunc)(CohortHost *host, const gchar *domain_name, gint event,
                                           gpointer user_data);
typedef void (*CohortHostsStateFunc)(CohortHost *host, gpointer user_data);

CohortHosts *cohort_hosts_new(void);
/* The installation whose machines the provisioners may touch (see the machine tag). */
void cohort_hosts_set_owner(CohortHosts *self, const gchar *owner);
/* Which host URIs may be opened (cohort_host_uri_check()): test:/// ones only with
 * @allow_test, but @builtin_test_uri (the fallback lab host's) always. */
void cohort_hosts_set_uri_policy(CohortHosts *self, gboolean allow_test,
                                 const gchar *builtin_test_uri);
/* libvirt's events, delivered in @context (needs cohort_virt_events_init() first). */
void cohort_hosts_set_handlers(CohortHosts *self, GMainContext *context,
                               CohortHostsDomainEventFunc domain_event,
                               CohortHostsStateFunc changed, gpointer user_data);
/* Marks the host draining (kept when its connection comes back). */
void cohort_hosts_drain(CohortHosts *self, CohortHost *host);
void cohort_hosts_free(CohortHosts *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortHosts, cohort_hosts_free)

/* Connects to @row's host (a row of the store), fills in capacity from libvirt's node info
 * where the row has 0 (and writes it back to @row), and notes which of @templates' bases it
 * holds. A host that cannot be reached is kept, "down", with the reason; that is not an
 * error. So is one whose URI the policy refuses (never opened), and one that is the libvirt
 * host of a host added before it (the same URI, or the same host UUID). */
CohortHost *cohort_hosts_add(CohortHosts *self, CohortHostRow *row, GHashTable *templates);
/* A new host (@row->id 0), for the API: its URI is checked (COHORT_ERROR_INVALID_ARGUMENT)
 * and opened; one that another host is already (the same URI, or the same host UUID) is
 * COHORT_ERROR_CONFLICT naming it. Only then is @row inserted into @store; a host that cannot
 * be reached is added "down", as cohort_hosts_add() does. */
CohortHost *cohort_hosts_add_new(CohortHosts *self, CohortStore *store, CohortHostRow *row,
                                 GHashTable *templates, GError **error);
/* Takes @host out of the registry: no lookup finds it, no event or reconnect reaches it.
 * Work under way may still use its provisioner: free it with cohort_host_free() once that
 * work is done. */
void cohort_hosts_detach(CohortHosts *self, CohortHost *host);
/* Closes the host's connections. */
void cohort_host_free(CohortHost *host);
CohortHost *cohort_hosts_lookup_by_id(CohortHosts *self, gint64 id);
/* Asks every reachable host again which templates' bases it holds (after a reload). */
void cohort_hosts_refresh_bases(CohortHosts *self);
CohortHost *cohort_hosts_lookup_by_name(CohortHosts *self, const gchar *name);
/* All hosts, by name (borrowed). */
GPtrArray *cohort_hosts_list(CohortHosts *self);

/* An "up" host holding @tmpl's base with room for @vcpus and @memory_mib (after what the
 * store says is placed there), the one with the most memory left. COHORT_ERROR_NO_CAPACITY
 * says how much is missing at best. */
CohortHost *cohort_hosts_place(CohortHosts *self, CohortStore *store, CohortTemplate *tmpl,
                               guint vcpus, guint64 memory_mib, GError **error);

G_END_DECLS
