/* Helpers for tests on the real local libvirtd (qemu:///system). */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

/* A transient directory pool of the test's own. */
virStoragePoolPtr cohort_test_qemu_pool_create(virConnectPtr conn, const gchar *name,
                                               const gchar *dir);
/* An admin's own VM, without Cohort's tag, on the same host: it must survive. */
void cohort_test_qemu_foreign_domain_start(virConnectPtr conn, const gchar *name);
/* Removes what a killed earlier run left: domains, networks and pools named cohort-itest-*
 * (tagged or not: the name is the tests' own). */
void cohort_test_qemu_remove_stale_runs(virConnectPtr conn);

G_END_DECLS
