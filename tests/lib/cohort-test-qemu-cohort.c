/* A cohort's world on the real local libvirtd, for the integration tests of cohortd: a pool of
 * the test's own, an admin's VM that must survive, and cohortd on qemu:///system. */
#define G_LOG_DOMAIN "cohort-test-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cohort-test-qemu-cohort.h"
#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision-seed.h"
#include "cohort-provision.h"
#include "cohort-virt.h"

CohortTestQemuCohort *
cohort_test_qemu_cohort_setup(const gchar *daemon_config)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *extra = NULL;
    CohortTestQemuCohort *fx = g_new0(CohortTestQemuCohort, 1);
    guint pid = (guint)getpid();

    fx->conn = cohort_virt_connect("qemu:///system", &error);
    if (fx->conn == NULL)
        fail_msg("%s (start libvirtd: ./cohort-dev test does it)", error->message);
    cohort_test_qemu_remove_stale_runs(fx->conn);
    fx->pool_name = g_strdup_printf("cohort-itest-%u", pid);
    fx->pool_dir = g_strdup_printf("/var/lib/cohort-itest-%u", pid);
    fx->slug = g_strdup_printf("itest-%u", pid);
    fx->foreign_name = g_strdup_printf("admin-vm-%u", pid);
    assert_int_equal(g_mkdir_with_parents(fx->pool_dir, 0755), 0);
    fx->pool = cohort_test_qemu_pool_create(fx->conn, fx->pool_name, fx->pool_dir);
    cohort_test_qemu_foreign_domain_start(fx->conn, fx->foreign_name);
    extra = g_strdup_printf("%s\n[host:local]\nuri=qemu:///system\naccel=tcg\npool=%s\nvcpus=16\n"
                            "memory_mib=8192\n",
                            daemon_config != NULL ? daemon_config : "", fx->pool_name);
    fx->d = cohort_test_daemon_start_with_config(extra, &error);
    cohort_assert_no_error(error);
    return fx;
}

guint
cohort_test_count_with_prefix(GPtrArray *names, const gchar *prefix)
{
    guint n = 0;
    for (guint i = 0; names != NULL && i < names->len; i++)
        n += g_str_has_prefix(g_ptr_array_index(names, i), prefix);
    return n;
}

void
cohort_test_qemu_cohort_teardown(CohortTestQemuCohort *fx)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortProvisioner) prov = NULL;
    g_autoptr(GPtrArray) domains = NULL;
    g_autoptr(GPtrArray) overlays = NULL;
    g_autoptr(GPtrArray) seeds = NULL;
    g_autoptr(virDomain) foreign = NULL;
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, fx->slug, "--", NULL);
    g_autofree gchar *network = cohort_names_network(fx->slug);
    g_autoptr(virNetwork) net_left = NULL;
    /* the address plan too: a subnet still held is a leak like the network */
    guint subnets_left = cohort_test_daemon_subnets_held(fx->d);

    cohort_test_daemon_stop(fx->d);
    net_left = virNetworkLookupByName(fx->conn, network);
    foreign = virDomainLookupByName(fx->conn, fx->foreign_name);
    assert_non_null(foreign);
    assert_int_equal(virDomainIsActive(foreign), 1);
    virDomainDestroy(foreign);
    virDomainUndefine(foreign);

    prov = cohort_provisioner_new(fx->conn, fx->pool_name, &error);
    cohort_assert_no_error(error);
    domains = cohort_provisioner_list_owned_domains(prov, &error);
    for (guint i = 0; domains != NULL && i < domains->len; i++) {
        const gchar *name = g_ptr_array_index(domains, i);
        g_autoptr(virDomain) dom = virDomainLookupByName(fx->conn, name);
        if (g_str_has_prefix(name, prefix))
            cohort_provisioner_machine_teardown(
                prov, name, cohort_provisioner_domain_get_machine_id(dom), NULL);
    }
    overlays = cohort_provisioner_list_owned_overlays(prov, &error);
    seeds = cohort_provisioner_list_owned_seeds(prov, &error);
    cohort_test_qemu_remove_stale_runs(fx->conn);
    g_rmdir(fx->pool_dir);
    {
        g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(fx->conn, fx->pool_name);
        assert_null(pool);
    }
    /* what was left for the teardown to remove counts as a leak */
    assert_int_equal(cohort_test_count_with_prefix(domains, prefix), 0);
    assert_int_equal(cohort_test_count_with_prefix(overlays, prefix), 0);
    assert_int_equal(cohort_test_count_with_prefix(seeds, prefix), 0);
    assert_null(net_left);
    assert_int_equal(subnets_left, 0);

    virStoragePoolFree(fx->pool);
    virConnectClose(fx->conn);
    g_free(fx->pool_name);
    g_free(fx->pool_dir);
    g_free(fx->slug);
    g_free(fx->foreign_name);
    g_free(fx);
}

JsonNode *
cohort_test_http_expect(CohortTestDaemon *d, const gchar *method, const gchar *path,
                        const gchar *token, const gchar *body, const gchar *content_type,
                        guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node = cohort_test_http(d, method, path, token, body, content_type, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    return node;
}
