/* A cohort's world on the real local libvirtd, for the integration tests of cohortd. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

#include "cohort-test-daemon.h"

G_BEGIN_DECLS

typedef struct {
    virConnectPtr conn;
    virStoragePoolPtr pool;
    gchar *pool_name;
    gchar *pool_dir;
    gchar *slug; /* the test's cohort, unique to its process */
    gchar *foreign_name;
    CohortTestDaemon *d;
} CohortTestQemuCohort;

/* The pool, the admin's VM, and cohortd with one host, qemu:///system on that pool (16 vCPUs,
 * 8 GiB); @daemon_config (or NULL) is more configuration before it. */
CohortTestQemuCohort *cohort_test_qemu_cohort_setup(const gchar *daemon_config);
/* Also when the test failed: stops cohortd, removes what is left, then asks libvirt: what the
 * teardown had to remove of the cohort counts as a leak, and fails the test; so does a subnet
 * the daemon's address plan still holds. */
void cohort_test_qemu_cohort_teardown(CohortTestQemuCohort *fx);
/* One request, which must answer @expect. */
JsonNode *cohort_test_http_expect(CohortTestDaemon *d, const gchar *method, const gchar *path,
                                  const gchar *token, const gchar *body, const gchar *content_type,
                                  guint expect);
/* How many of @names start with @prefix. */
guint cohort_test_count_with_prefix(GPtrArray *names, const gchar *prefix);

G_END_DECLS
