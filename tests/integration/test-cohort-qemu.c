/* cohortd on the real local libvirtd: a 5-trainee cohort provisioned and reclaimed through the
 * API, checked with libvirt itself: its machines, their overlays and the cohort's own
 * isolated network. */
#define G_LOG_DOMAIN "test-cohort-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cohort-test-daemon.h"
#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision.h"
#include "cohort-virt.h"

#define TRAINEES 5

typedef struct {
    virConnectPtr conn;
    virStoragePoolPtr pool;
    gchar *pool_name;
    gchar *pool_dir;
    gchar *slug;
    gchar *foreign_name;
    CohortTestDaemon *d;
} Fixture;

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *extra = NULL;
    Fixture *fx = g_new0(Fixture, 1);
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
    extra = g_strdup_printf("[host:local]\nuri=qemu:///system\npool=%s\nvcpus=16\n"
                            "memory_mib=8192\n",
                            fx->pool_name);
    fx->d = cohort_test_daemon_start_with_config(extra, &error);
    cohort_assert_no_error(error);
    *state = fx;
    return 0;
}

static guint
count_with_prefix(GPtrArray *names, const gchar *prefix)
{
    guint n = 0;
    for (guint i = 0; names != NULL && i < names->len; i++)
        n += g_str_has_prefix(g_ptr_array_index(names, i), prefix);
    return n;
}

/* Also when the test failed: stop cohortd, remove what is left, then ask libvirt. */
static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortProvisioner) prov = NULL;
    g_autoptr(GPtrArray) domains = NULL;
    g_autoptr(GPtrArray) overlays = NULL;
    g_autoptr(virDomain) foreign = NULL;
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, fx->slug, "--", NULL);
    g_autofree gchar *network = cohort_names_network(fx->slug);
    g_autoptr(virNetwork) net_left = NULL;

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
    cohort_test_qemu_remove_stale_runs(fx->conn);
    g_rmdir(fx->pool_dir);
    {
        g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(fx->conn, fx->pool_name);
        assert_null(pool);
    }
    /* what was left for the teardown to remove counts as a leak */
    assert_int_equal(count_with_prefix(domains, prefix), 0);
    assert_int_equal(count_with_prefix(overlays, prefix), 0);
    assert_null(net_left);

    virStoragePoolFree(fx->pool);
    virConnectClose(fx->conn);
    g_free(fx->pool_name);
    g_free(fx->pool_dir);
    g_free(fx->slug);
    g_free(fx->foreign_name);
    g_free(fx);
    return 0;
}

static JsonNode *
http_expect(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
            const gchar *body, const gchar *content_type, guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node = cohort_test_http(d, method, path, token, body, content_type, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    return node;
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

    base = http_expect(fx->d, "POST", "/api/v1/templates/tiny-lan/base", fx->d->admin_token,
                       "{\"blank\":true}", NULL, 201);
    trainer = http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                          "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}",
                          NULL, 201);
    token = json_object_get_string_member(json_node_get_object(trainer), "token");
    body = g_strdup_printf("{\"slug\":\"%s\",\"template\":\"tiny-lan\",\"starts_at\":"
                           "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                           fx->slug);
    cohort = http_expect(fx->d, "POST", "/api/v1/cohorts", token, body, NULL, 201);
    for (guint i = 1; i <= TRAINEES; i++)
        g_string_append_printf(csv, "trainee-%u,\"ស៊ុន ដារ៉ា %u\"\n", i, i);
    path = g_strdup_printf("/api/v1/cohorts/%s/roster", fx->slug);
    roster = http_expect(fx->d, "PUT", path, token, csv->str, "text/csv", 200);
    g_string_free(csv, TRUE);

    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/provision", fx->slug);
    t0 = g_get_monotonic_time();
    started = http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
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
    assert_int_equal(count_with_prefix(overlays, prefix), TRAINEES);
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
        g_autoptr(JsonNode) list = http_expect(fx->d, "GET", list_path, token, NULL, NULL, 200);
        JsonArray *machines = json_node_get_array(list);

        assert_int_equal(json_array_get_length(machines), TRAINEES);
        for (guint i = 0; i < json_array_get_length(machines); i++) {
            JsonObject *m = json_array_get_object_element(machines, i);
            g_autofree gchar *console_path =
                g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console",
                                json_object_get_int_member(m, "id"));
            g_autoptr(JsonNode) console =
                http_expect(fx->d, "GET", console_path, token, NULL, NULL, 200);
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
    reclaim = http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
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
        assert_int_equal(count_with_prefix(domains, prefix), 0);
    }
    overlays = cohort_provisioner_list_owned_overlays(prov, &error);
    assert_int_equal(count_with_prefix(overlays, prefix), 0);
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
