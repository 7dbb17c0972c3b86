#define G_LOG_DOMAIN "cohort-hosts"

#include "config.h"

#include <gio/gio.h>

#include "cohort-error.h"
#include "cohort-host-uri.h"
#include "cohort-hosts.h"
#include "cohort-virt.h"

struct _CohortHosts {
    GPtrArray *hosts; /* of CohortHost */
    gchar *owner;
    GHashTable *templates; /* borrowed from the daemon, for the base check on reconnect */
    GMainContext *context;
    CohortHostsDomainEventFunc domain_event;
    CohortHostsStateFunc changed;
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
} CohortHostsEvent;

static void
cohort_hosts_event_free(CohortHostsEvent *ev)
{
    g_free(ev->domain_name);
    g_free(ev);
}

static gboolean cohort_hosts_connect(CohortHosts *self, CohortHost *host, GError **error);
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
cohort_hosts_set_uri_policy(CohortHosts *self, gboolean allow_test, const gchar *builtin_test_uri)
{
    self->allow_test = allow_test;
    g_free(self->builtin_test_uri);
    self->builtin_test_uri = g_strdup(builtin_test_uri);
}

/* Another host that is this libvirt: the same URI, or the same host UUID (@uuid NULL: the
 * URI alone). @host itself (NULL for a new one) does not count. */
static CohortHost *
cohort_hosts_find_same(CohortHosts *self, CohortHost *host, const gchar *uri, const gchar *uuid)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *other = g_ptr_array_index(self->hosts, i);
        if (other == host)
            continue;
        if (cohort_host_uri_same(other->uri, uri) ||
            (uuid != NULL && g_strcmp0(other->host_uuid, uuid) == 0))
            return other;
    }
    return NULL;
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
cohort_hosts_drain(CohortHosts *self, CohortHost *host)
{
    host->draining = TRUE;
    if (g_strcmp0(host->state, "down") != 0) {
        g_free(host->state);
        host->state = g_strdup("draining");
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
cohort_hosts_event_post(CohortHosts *self, gint64 host_id, virConnectPtr conn,
                        const gchar *domain_name, gint event)
{
    CohortHostsEvent *ev = g_new0(CohortHostsEvent, 1);

    ev->hosts = self;
    ev->host_id = host_id;
    ev->conn = conn;
    ev->domain_name = g_strdup(domain_name);
    ev->event = event;
    g_main_context_invoke_full(self->context, G_PRIORITY_DEFAULT, cohort_hosts_event_dispatch, ev,
                               (GDestroyNotify)cohort_hosts_event_free);
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
}

/* Which templates' base volumes the host holds, asked of libvirt. */
static void
cohort_hosts_check_bases(CohortHosts *self, CohortHost *host)
{
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    g_hash_table_remove_all(host->bases);
    if (self->templates == NULL)
        return;
    g_hash_table_iter_init(&iter, self->templates);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (cohort_provisioner_base_exists(host->prov, value))
            g_hash_table_add(host->bases, g_strdup(key));
    }
}

/* What opening a connection learns: it runs in a thread for a reconnect (libvirt may take
 * as long as TCP does to find a remote host unreachable, and the API must not wait), in
 * the main context at start and for a new host. Touches nothing shared. */
typedef struct {
    gint64 host_id;
    gchar *uri;
    gchar *pool;
    gchar *owner;
    GPtrArray *templates; /* references: a reload may change the daemon's table meanwhile */
    GCancellable *cancellable;
    CohortProvisioner *prov; /* the result */
    gchar *host_uuid;        /* what libvirt says the host is, NULL when it does not say */
    GPtrArray *bases;        /* names of the templates whose base the host holds */
} CohortHostsAttempt;

static void
cohort_hosts_attempt_free(CohortHostsAttempt *attempt)
{
    g_free(attempt->uri);
    g_free(attempt->pool);
    g_free(attempt->owner);
    g_ptr_array_unref(attempt->templates);
    g_clear_object(&attempt->cancellable);
    cohort_provisioner_free(attempt->prov);
    g_free(attempt->host_uuid);
    g_ptr_array_unref(attempt->bases);
    g_free(attempt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortHostsAttempt, cohort_hosts_attempt_free)

static CohortHostsAttempt *
cohort_hosts_attempt_new(CohortHosts *self, gint64 host_id, const gchar *uri, const gchar *pool)
{
    CohortHostsAttempt *attempt = g_new0(CohortHostsAttempt, 1);

    attempt->host_id = host_id;
    attempt->uri = g_strdup(uri);
    attempt->pool = g_strdup(pool);
    attempt->owner = g_strdup(self->owner);
    attempt->templates = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_unref);
    attempt->cancellable = g_object_ref(self->cancellable);
    attempt->bases = g_ptr_array_new_with_free_func(g_free);
    if (self->templates != NULL) {
        GHashTableIter iter;
        gpointer value;
        g_hash_table_iter_init(&iter, self->templates);
        while (g_hash_table_iter_next(&iter, NULL, &value))
            g_ptr_array_add(attempt->templates, cohort_template_ref(value));
    }
    return attempt;
}

static gboolean
cohort_hosts_attempt_open(CohortHostsAttempt *attempt, GError **error)
{
    g_autoptr(virConnect) conn = cohort_virt_connect(attempt->uri, error);

    if (conn == NULL)
        return FALSE;
    attempt->host_uuid = cohort_virt_get_host_uuid(conn);
    attempt->prov = cohort_provisioner_new(conn, attempt->pool, error);
    if (attempt->prov == NULL)
        return FALSE;
    cohort_provisioner_set_owner(attempt->prov, attempt->owner);
    for (guint i = 0; i < attempt->templates->len; i++) {
        CohortTemplate *tmpl = g_ptr_array_index(attempt->templates, i);
        if (cohort_provisioner_base_exists(attempt->prov, tmpl))
            g_ptr_array_add(attempt->bases, g_strdup(cohort_template_get_name(tmpl)));
    }
    return TRUE;
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
    g_hash_table_remove_all(host->bases);
    for (guint i = 0; i < attempt->bases->len; i++)
        g_hash_table_add(host->bases, g_strdup(g_ptr_array_index(attempt->bases, i)));
    cohort_hosts_watch(self, host, cohort_provisioner_get_connection(host->prov));
}

static void
cohort_hosts_reconnect_thread(GTask *task, gpointer source, gpointer task_data,
                              GCancellable *cancellable)
{
    GError *error = NULL;

    if (cohort_hosts_attempt_open(task_data, &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

static void
cohort_hosts_reconnect_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortHosts *self = user_data;
    CohortHostsAttempt *attempt = g_task_get_task_data(G_TASK(result));
    g_autoptr(GError) error = NULL;
    CohortHost *host;

    /* the hosts are gone (cohortd stops): nothing to tell */
    if (g_cancellable_is_cancelled(attempt->cancellable))
        return;
    host = cohort_hosts_lookup_by_id(self, attempt->host_id);
    if (host == NULL)
        return;
    host->connecting = FALSE;
    if (g_task_propagate_boolean(G_TASK(result), &error)) {
        CohortHost *same = cohort_hosts_find_same(self, host, host->uri, attempt->host_uuid);
        if (same != NULL)
            cohort_hosts_set_same_error(&error, same, host->uri, attempt->host_uuid);
    }
    if (error != NULL) {
        g_free(host->last_error);
        host->last_error = g_strdup(error->message);
        g_debug("host %s still down: %s", host->name, error->message);
        cohort_hosts_schedule_reconnect(self, host);
        return;
    }
    cohort_hosts_attempt_apply(self, host, attempt);
    g_message("host %s is back", host->name);
    host->reconnect_delay_s = 0;
    if (self->changed != NULL)
        self->changed(host, self->user_data);
}

static gboolean
cohort_hosts_reconnect_cb(gpointer user_data)
{
    CohortHost *host = user_data;
    CohortHosts *self = host->registry;
    g_autoptr(GTask) task = NULL;

    g_source_unref(host->reconnect);
    host->reconnect = NULL;
    if (host->connecting)
        return G_SOURCE_REMOVE;
    /* another host has this URI: no second connection to it, until that host is gone */
    if (cohort_hosts_find_same(self, host, host->uri, NULL) != NULL) {
        cohort_hosts_schedule_reconnect(self, host);
        return G_SOURCE_REMOVE;
    }
    host->connecting = TRUE;
    g_main_context_push_thread_default(self->context);
    task = g_task_new(NULL, self->cancellable, cohort_hosts_reconnect_done, self);
    g_main_context_pop_thread_default(self->context);
    g_task_set_task_data(task, cohort_hosts_attempt_new(self, host->id, host->uri, host->pool),
                         (GDestroyNotify)cohort_hosts_attempt_free);
    /* not cancelled by the cancellable: a thread in libvirt cannot be stopped, its result is
     * dropped instead */
    g_task_set_check_cancellable(task, FALSE);
    g_task_run_in_thread(task, cohort_hosts_reconnect_thread);
    return G_SOURCE_REMOVE;
}

/* At start: in the main context, so that the host is up or down when cohortd serves. A
 * second entry for a libvirt host another one has stays down, saying which. */
static gboolean
cohort_hosts_connect(CohortHosts *self, CohortHost *host, GError **error)
{
    g_autoptr(CohortHostsAttempt) attempt =
        cohort_hosts_attempt_new(self, host->id, host->uri, host->pool);
    CohortHost *same = cohort_hosts_find_same(self, host, host->uri, NULL);

    if (same == NULL) {
        if (!cohort_hosts_attempt_open(attempt, error))
            return FALSE;
        same = cohort_hosts_find_same(self, host, host->uri, attempt->host_uuid);
    }
    if (same != NULL) {
        cohort_hosts_set_same_error(error, same, host->uri, attempt->host_uuid);
        g_prefix_error(error, "not connected: ");
        return FALSE;
    }
    cohort_hosts_attempt_apply(self, host, attempt);
    return TRUE;
}

void
cohort_hosts_refresh_bases(CohortHosts *self)
{
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        if (host->prov != NULL && g_strcmp0(host->state, "down") != 0)
            cohort_hosts_check_bases(self, host);
    }
}

static CohortHost *
cohort_hosts_host_new(CohortHosts *self, CohortHostRow *row, GHashTable *templates)
{
    CohortHost *host = g_new0(CohortHost, 1);

    host->registry = self;
    host->event_id = -1;
    host->id = row->id;
    host->name = g_strdup(row->name);
    host->uri = g_strdup(row->uri);
    host->pool = g_strdup(row->pool);
    host->cpu_ratio = row->cpu_ratio > 0 ? row->cpu_ratio : 1.0;
    host->memory_ratio = row->memory_ratio > 0 ? row->memory_ratio : 1.0;
    host->draining = g_strcmp0(row->state, "draining") == 0;
    host->bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    host->retired = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_provisioner_free);
    g_ptr_array_add(self->hosts, host);
    if (templates != NULL)
        self->templates = templates;
    return host;
}

/* Not reached (@error says why): kept, "down", reconnecting unless @retry is FALSE. */
static void
cohort_hosts_host_down(CohortHosts *self, CohortHost *host, CohortHostRow *row, const GError *error,
                       gboolean retry)
{
    g_warning("host %s (%s) is down: %s", row->name, row->uri, error->message);
    g_free(host->last_error);
    host->last_error = g_strdup(error->message);
    g_free(host->state);
    host->state = g_strdup("down");
    host->vcpus = row->vcpus;
    host->memory_mib = row->memory_mib;
    if (retry && self->context != NULL)
        cohort_hosts_schedule_reconnect(self, host);
}

/* Connected: capacity from libvirt's node info where the row has none. */
static void
cohort_hosts_host_up(CohortHosts *self, CohortHost *host, CohortHostRow *row)
{
    if (row->vcpus == 0 || row->memory_mib == 0) {
        virNodeInfo info;
        if (virNodeGetInfo(cohort_provisioner_get_connection(host->prov), &info) == 0) {
            if (row->vcpus == 0)
                row->vcpus = info.cpus;
            if (row->memory_mib == 0)
                row->memory_mib = info.memory / 1024;
        }
    }
    host->vcpus = row->vcpus;
    host->memory_mib = row->memory_mib;
    g_message("host %s (%s): %u vCPUs, %" G_GUINT64_FORMAT " MiB, %u template bases", host->name,
              host->uri, host->vcpus, host->memory_mib, g_hash_table_size(host->bases));
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
        cohort_hosts_host_down(self, host, row, error, FALSE);
        return host;
    }
    if (!cohort_hosts_connect(self, host, &error)) {
        cohort_hosts_host_down(self, host, row, error, TRUE);
        return host;
    }
    cohort_hosts_host_up(self, host, row);
    return host;
}

CohortHost *
cohort_hosts_add_new(CohortHosts *self, CohortStore *store, CohortHostRow *row,
                     GHashTable *templates, GError **error)
{
    g_autoptr(CohortHostsAttempt) attempt = cohort_hosts_attempt_new(self, 0, row->uri, row->pool);
    g_autoptr(GError) error_connect = NULL;
    CohortHost *same;
    CohortHost *host;

    g_return_val_if_fail(row->id == 0, NULL);

    if (!cohort_host_uri_check(row->uri, self->allow_test, self->builtin_test_uri, error)) {
        g_prefix_error(error, "\"uri\" '%s' ", row->uri);
        return NULL;
    }
    same = cohort_hosts_find_same(self, NULL, row->uri, NULL);
    /* the UUID is learnt before the pool is looked up: a host without it is known too */
    if (same == NULL && !cohort_hosts_attempt_open(attempt, &error_connect))
        g_debug("new host %s: %s", row->name, error_connect->message);
    if (same == NULL && attempt->host_uuid != NULL)
        same = cohort_hosts_find_same(self, NULL, row->uri, attempt->host_uuid);
    if (same != NULL) {
        cohort_hosts_set_same_error(error, same, row->uri, attempt->host_uuid);
        return NULL;
    }
    if (!cohort_store_host_insert(store, row, error))
        return NULL;
    host = cohort_hosts_host_new(self, row, templates);
    if (error_connect != NULL) {
        host->host_uuid = g_steal_pointer(&attempt->host_uuid);
        cohort_hosts_host_down(self, host, row, error_connect, TRUE);
        return host;
    }
    cohort_hosts_attempt_apply(self, host, attempt);
    cohort_hosts_host_up(self, host, row);
    return host;
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

CohortHost *
cohort_hosts_place(CohortHosts *self, CohortStore *store, CohortTemplate *tmpl, guint vcpus,
                   guint64 memory_mib, GError **error)
{
    const gchar *template_name = cohort_template_get_name(tmpl);
    CohortHost *best = NULL;
    gint64 best_memory_left = G_MININT64;
    gint64 least_vcpus_missing = G_MAXINT64;
    gint64 least_memory_missing = G_MAXINT64;
    guint candidates = 0;

    for (guint i = 0; i < self->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(self->hosts, i);
        guint used_vcpus = 0;
        guint64 used_memory = 0;
        gint64 vcpus_left;
        gint64 memory_left;

        if (g_strcmp0(host->state, "up") != 0 || host->prov == NULL ||
            !g_hash_table_contains(host->bases, template_name))
            continue;
        candidates++;
        if (!cohort_store_host_get_usage(store, host->id, &used_vcpus, &used_memory, error))
            return NULL;
        vcpus_left = (gint64)(host->vcpus * host->cpu_ratio) - used_vcpus - vcpus;
        memory_left = (gint64)(host->memory_mib * host->memory_ratio) - (gint64)used_memory -
                      (gint64)memory_mib;
        if (vcpus_left < 0 || memory_left < 0) {
            least_vcpus_missing = MIN(least_vcpus_missing, MAX(0, -vcpus_left));
            least_memory_missing = MIN(least_memory_missing, MAX(0, -memory_left));
            continue;
        }
        if (memory_left > best_memory_left) {
            best = host;
            best_memory_left = memory_left;
        }
    }
    if (best != NULL)
        return best;
    if (candidates == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NO_CAPACITY,
                    "no host that is up holds the base volume of template '%s': an admin "
                    "installs it with 'cohortctl template base %s'",
                    template_name, template_name);
        return NULL;
    }
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_NO_CAPACITY,
                "no host has room for %u vCPUs and %" G_GUINT64_FORMAT
                " MiB: the closest lacks %" G_GINT64_FORMAT " vCPUs and %" G_GINT64_FORMAT
                " MiB of memory; release machines or add a host",
                vcpus, memory_mib, least_vcpus_missing, least_memory_missing);
    return NULL;
}
