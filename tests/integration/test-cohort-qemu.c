/* cohortd on the real local libvirtd: a 5-trainee cohort provisioned and reclaimed through the
 * API, checked with libvirt itself: its machines, their overlays and the cohort's own
 * isolated network. */
#define G_LOG_DOMAIN "test-cohort-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cohort-test-daemon.h"
#include "cohort-test-qemu-cohort.h"
#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision.h"
#include "cohort-virt.h"

#define TRAINEES 5

typedef CohortTestQemuCohort Fixture;

static int
fixture_setup(void **state)
{
    *state = cohort_test_qemu_cohort_setup(NULL);
    return 0;
}

static int
fixture_teardown(void **state)
{
    cohort_test_qemu_cohort_teardown(*state);
    return 0;
}

static guint
running_domains(virConnectPtr conn, const gchar *prefix)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    guint count = 0;

    for (int i = 0; i < n; i++) {
        if (g_str_has_prefix(virDomainGetName(doms[i]), prefix) &&
            cohort_provisioner_domain_get_machine_id(doms[i]) > 0)
            count++;
        virDomainFree(doms[i]);
    }
    free(doms);
    return count;
}

static void
test_cohort_qemu_provision_reclaim(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) reclaim = NULL;
    g_autoptr(JsonNode) reclaimed = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(CohortProvisioner) prov = NULL;
    g_autoptr(GPtrArray) overlays = NULL;
    g_autofree gchar *body = NULL;
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, fx->slug, "--", NULL);
    g_autofree gchar *path = NULL;
    GString *csv = g_string_new("login,display_name\n");
    const gchar *token;
    gint64 t0;
    gdouble t_provision;
    gdouble t_reclaim;

    base = cohort_test_base_install(fx->d, "tiny-lan", "{\"blank\":true}");
    trainer = cohort_test_http_expect(
        fx->d, "POST", "/api/v1/users", fx->d->admin_token,
        "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", NULL, 201);
    token = json_object_get_string_member(json_node_get_object(trainer), "token");
    body = g_strdup_printf("{\"slug\":\"%s\",\"template\":\"tiny-lan\",\"starts_at\":"
                           "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                           fx->slug);
    cohort = cohort_test_http_expect(fx->d, "POST", "/api/v1/cohorts", token, body, NULL, 201);
    for (guint i = 1; i <= TRAINEES; i++)
        g_string_append_printf(csv, "trainee-%u,\"ស៊ុន ដារ៉ា %u\"\n", i, i);
    path = g_strdup_printf("/api/v1/cohorts/%s/roster", fx->slug);
    roster = cohort_test_http_expect(fx->d, "PUT", path, token, csv->str, "text/csv", 200);
    g_string_free(csv, TRUE);

    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/provision", fx->slug);
    t0 = g_get_monotonic_time();
    started = cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
    job = cohort_test_job_wait(fx->d, token,
                               json_object_get_int_member(json_node_get_object(started), "job"));
    t_provision = (g_get_monotonic_time() - t0) / 1e6;
    assert_int_equal(json_object_get_int_member(json_node_get_object(job), "done"), TRAINEES);
    assert_int_equal(json_object_get_int_member(json_node_get_object(job), "failed"), 0);

    /* libvirt itself: five running, tagged domains on five overlays */
    assert_int_equal(running_domains(fx->conn, prefix), TRAINEES);
    prov = cohort_provisioner_new(fx->conn, fx->pool_name, &error);
    cohort_assert_no_error(error);
    overlays = cohort_provisioner_list_owned_overlays(prov, &error);
    assert_int_equal(cohort_test_count_with_prefix(overlays, prefix), TRAINEES);
    g_ptr_array_unref(g_steal_pointer(&overlays));
    /* one isolated network for the cohort, which every machine's NIC joins */
    {
        g_autofree gchar *network = cohort_names_network(fx->slug);
        g_autofree gchar *source = g_strdup_printf("<source network='%s'", network);
        g_autoptr(virNetwork) net = virNetworkLookupByName(fx->conn, network);
        g_autofree gchar *net_xml = NULL;
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(fx->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        guint joined = 0;

        assert_non_null(net);
        assert_int_equal(virNetworkIsActive(net), 1);
        net_xml = virNetworkGetXMLDesc(net, 0);
        assert_null(strstr(net_xml, "<forward"));
        for (int i = 0; i < n; i++) {
            if (g_str_has_prefix(virDomainGetName(doms[i]), prefix)) {
                g_autofree gchar *xml = virDomainGetXMLDesc(doms[i], 0);
                joined += strstr(xml, source) != NULL;
            }
            virDomainFree(doms[i]);
        }
        free(doms);
        assert_int_equal(joined, TRAINEES);
    }

    /* each console answer gives the password QEMU was given: sealed in the store, opened
     * for the render and for the answer */
    {
        g_autofree gchar *list_path = g_strdup_printf("/api/v1/machines?cohort=%s", fx->slug);
        g_autoptr(JsonNode) list =
            cohort_test_http_expect(fx->d, "GET", list_path, token, NULL, NULL, 200);
        JsonArray *machines = json_node_get_array(list);

        assert_int_equal(json_array_get_length(machines), TRAINEES);
        for (guint i = 0; i < json_array_get_length(machines); i++) {
            JsonObject *m = json_array_get_object_element(machines, i);
            g_autofree gchar *console_path =
                g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console",
                                json_object_get_int_member(m, "id"));
            g_autoptr(JsonNode) console =
                cohort_test_http_expect(fx->d, "GET", console_path, token, NULL, NULL, 200);
            const gchar *password =
                json_object_get_string_member(json_node_get_object(console), "password");
            g_autoptr(virDomain) dom =
                virDomainLookupByName(fx->conn, json_object_get_string_member(m, "name"));
            g_autofree gchar *xml = NULL;
            g_autofree gchar *attr = g_strdup_printf("passwd='%s'", password);

            assert_non_null(dom);
            xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
            assert_non_null(xml);
            assert_int_equal(strlen(password), 8);
            cohort_assert_contains(xml, attr);
        }
    }

    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/reclaim", fx->slug);
    t0 = g_get_monotonic_time();
    reclaim = cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
    reclaimed = cohort_test_job_wait(
        fx->d, token, json_object_get_int_member(json_node_get_object(reclaim), "job"));
    t_reclaim = (g_get_monotonic_time() - t0) / 1e6;
    assert_int_equal(json_object_get_int_member(json_node_get_object(reclaimed), "done"), TRAINEES);
    {
        /* what the course gave back, overlays' disk included */
        JsonObject *freed = json_object_get_object_member(json_node_get_object(reclaimed), "freed");
        assert_int_equal(json_object_get_int_member(freed, "machines"), TRAINEES);
        assert_int_equal(json_object_get_int_member(freed, "memory_mib"), TRAINEES * 64);
        assert_true(json_object_get_int_member(freed, "disk_bytes") >= TRAINEES * 4096);
        assert_int_equal(json_object_get_int_member(freed, "networks"), 1);
        g_print("# reclaim freed %" G_GINT64_FORMAT " bytes of overlays\n",
                json_object_get_int_member(freed, "disk_bytes"));
    }

    /* nothing of the cohort is left in libvirt */
    assert_int_equal(running_domains(fx->conn, prefix), 0);
    {
        g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(prov, &error);
        assert_int_equal(cohort_test_count_with_prefix(domains, prefix), 0);
    }
    overlays = cohort_provisioner_list_owned_overlays(prov, &error);
    assert_int_equal(cohort_test_count_with_prefix(overlays, prefix), 0);
    {
        g_autofree gchar *network = cohort_names_network(fx->slug);
        g_autoptr(virNetwork) net = virNetworkLookupByName(fx->conn, network);
        assert_null(net);
    }
    g_print("# figures (cohortd on qemu:///system, TCG, %d trainees): provision to all running "
            "%.2f s, reclaim to all gone %.2f s\n",
            TRAINEES, t_provision, t_reclaim);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cohort_qemu_provision_reclaim, fixture_setup,
                                        fixture_teardown),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
