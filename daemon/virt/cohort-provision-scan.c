#define G_LOG_DOMAIN "cohort-provision"

#include "config.h"

#include "cohort-provision-scan.h"
#include "cohort-virt.h"

void
cohort_scan_domain_free(CohortScanDomain *domain)
{
    g_free(domain->name);
    g_free(domain);
}

GHashTable *
cohort_provisioner_scan_domains(CohortProvisioner *self, const gchar *owner, GError **error)
{
    virConnectPtr conn = cohort_provisioner_get_connection(self);
    g_autoptr(GHashTable) domains = NULL;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);

    if (n < 0) {
        cohort_virt_set_error(error, "listing domains");
        return NULL;
    }
    domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                    (GDestroyNotify)cohort_scan_domain_free);
    for (int i = 0; i < n; i++) {
        g_autofree gchar *tag_owner = NULL;
        gint64 id = cohort_provisioner_domain_get_tag(doms[i], &tag_owner);
        if (id > 0 && g_strcmp0(tag_owner, owner) == 0) {
            CohortScanDomain *domain = g_new0(CohortScanDomain, 1);
            domain->name = g_strdup(virDomainGetName(doms[i]));
            domain->id = id;
            domain->active = virDomainIsActive(doms[i]) == 1;
            g_hash_table_replace(domains, domain->name, domain);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return g_steal_pointer(&domains);
}

GHashTable *
cohort_provisioner_scan_cpu_time(CohortProvisioner *self, GError **error)
{
    virDomainStatsRecordPtr *records = NULL;
    GHashTable *cpu_ns;
    int n = virConnectGetAllDomainStats(cohort_provisioner_get_connection(self),
                                        VIR_DOMAIN_STATS_CPU_TOTAL, &records,
                                        VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);

    if (n < 0) {
        cohort_virt_set_error(error, "reading the domains' CPU time");
        return NULL;
    }
    cpu_ns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (int i = 0; i < n; i++) {
        unsigned long long cpu = 0;
        if (virTypedParamsGetULLong(records[i]->params, records[i]->nparams, "cpu.time", &cpu) == 1)
            g_hash_table_replace(cpu_ns, g_strdup(virDomainGetName(records[i]->dom)),
                                 g_memdup2(&cpu, sizeof(guint64)));
    }
    virDomainStatsRecordListFree(records);
    return cpu_ns;
}
