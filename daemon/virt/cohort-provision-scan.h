/* What libvirt holds of this installation on a host, read for the lifecycle loops
 * (reconcile, idle shutdown) in a worker: the domains that carry its tag, and how much CPU
 * the running ones used. */
#pragma once

#include "cohort-provision.h"

G_BEGIN_DECLS

/* One domain with this installation's tag. */
typedef struct {
    gchar *name;
    gint64 id;       /* the machine id in its tag */
    gboolean active; /* running (or paused) */
} CohortScanDomain;
void cohort_scan_domain_free(CohortScanDomain *domain);

/* name -> CohortScanDomain of the domains whose tag names @owner. */
GHashTable *cohort_provisioner_scan_domains(CohortProvisioner *self, const gchar *owner,
                                            GError **error);
/* name -> guint64 * (nanoseconds) of CPU time every running domain has used, in one call. */
GHashTable *cohort_provisioner_scan_cpu_time(CohortProvisioner *self, GError **error);

G_END_DECLS
