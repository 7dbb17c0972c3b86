#define G_LOG_DOMAIN "cohort-hosts"

#include "config.h"

#include "cohort-error.h"
#include "cohort-hosts.h"
#include "cohort-virt.h"

struct _CohortHosts {
    GPtrArray *hosts; /* of CohortHost */
};

static void
cohort_host_free(CohortHost *host)
{
    g_free(host->name);
    g_free(host->uri);
    g_free(host->state);
    g_free(host->last_error);
    cohort_provisioner_free(host->prov);
    g_hash_table_unref(host->bases);
    g_free(host);
}

CohortHosts *
cohort_hosts_new(void)
{
    CohortHosts *self = g_new0(CohortHosts, 1);
    self->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_host_free);
    return self;
}

void
cohort_hosts_free(CohortHosts *self)
{
    if (self == NULL)
        return;
    g_ptr_array_unref(self->hosts);
    g_free(self);
}

CohortHost *
cohort_hosts_add(CohortHosts *self, CohortHostRow *row, GHashTable *templates)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(virConnect) conn = NULL;
    CohortHost *host = g_new0(CohortHost, 1);

    host->id = row->id;
    host->name = g_strdup(row->name);
    host->uri = g_strdup(row->uri);
    host->cpu_ratio = row->cpu_ratio > 0 ? row->cpu_ratio : 1.0;
    host->memory_ratio = row->memory_ratio > 0 ? row->memory_ratio : 1.0;
    host->bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_ptr_array_add(self->hosts, host);

    conn = cohort_virt_connect(row->uri, &error);
    if (conn != NULL)
        host->prov = cohort_provisioner_new(conn, row->pool, &error);
    if (host->prov == NULL) {
        g_warning("host %s (%s) is down: %s", row->name, row->uri, error->message);
        host->last_error = g_strdup(error->message);
        host->state = g_strdup("down");
        host->vcpus = row->vcpus;
        host->memory_mib = row->memory_mib;
        return host;
    }
    if (row->vcpus == 0 || row->memory_mib == 0) {
        virNodeInfo info;
        if (virNodeGetInfo(conn, &info) == 0) {
            if (row->vcpus == 0)
                row->vcpus = info.cpus;
            if (row->memory_mib == 0)
                row->memory_mib = info.memory / 1024;
        }
    }
    host->vcpus = row->vcpus;
    host->memory_mib = row->memory_mib;
    host->state = g_strdup(g_strcmp0(row->state, "draining") == 0 ? "draining" : "up");
    if (templates != NULL) {
        GHashTableIter iter;
        gpointer key;
        gpointer value;
        g_hash_table_iter_init(&iter, templates);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            if (cohort_provisioner_base_exists(host->prov, value))
                g_hash_table_add(host->bases, g_strdup(key));
        }
    }
    g_message("host %s (%s): %u vCPUs, %" G_GUINT64_FORMAT " MiB, %u template bases", host->name,
              host->uri, host->vcpus, host->memory_mib, g_hash_table_size(host->bases));
    return host;
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
