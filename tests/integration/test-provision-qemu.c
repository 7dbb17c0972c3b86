/* The provisioner on the real local libvirtd with QEMU (TCG): linked clones that boot. */
#define G_LOG_DOMAIN "test-provision-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

#define MACHINES 5
#define QEMU_URI "qemu:///system"

typedef struct {
    virConnectPtr conn;
    virStoragePoolPtr pool;
    gchar *pool_name;
    gchar *pool_dir;
    gchar *cohort;
    gchar *foreign_name;
    CohortProvisioner *prov;
    CohortTemplate *tmpl;
} Fixture;

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    Fixture *fx = g_new0(Fixture, 1);
    guint pid = (guint)getpid();

    fx->conn = cohort_virt_connect(QEMU_URI, &error);
    if (fx->conn == NULL)
        fail_msg("%s (start libvirtd: ./cohort-dev test does it)", error->message);
    cohort_test_qemu_remove_stale_runs(fx->conn);
    fx->pool_name = g_strdup_printf("cohort-itest-%u", pid);
    fx->pool_dir = g_strdup_printf("/var/lib/cohort-itest-%u", pid);
    fx->cohort = g_strdup_printf("itest-%u", pid);
    fx->foreign_name = g_strdup_printf("admin-vm-%u", pid);
    assert_int_equal(g_mkdir_with_parents(fx->pool_dir, 0755), 0);
    fx->pool = cohort_test_qemu_pool_create(fx->conn, fx->pool_name, fx->pool_dir);
    fx->prov = cohort_provisioner_new(fx->conn, fx->pool_name, &error);
    cohort_assert_no_error(error);
    fx->tmpl = cohort_test_template_load("tiny");
    assert_true(cohort_provisioner_base_ensure_blank(fx->prov, fx->tmpl, &error));
    cohort_assert_no_error(error);
    cohort_test_qemu_foreign_domain_start(fx->conn, fx->foreign_name);
    *state = fx;
    return 0;
}

/* Runs whether the test passed or failed: removes what the test made, then asks libvirt
 * (and the file system) whether anything of it is left. */
static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) domains = NULL;
    g_autoptr(GPtrArray) left = NULL;
    g_autoptr(GDir) dir = NULL;
    g_autoptr(virDomain) foreign = NULL;
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, fx->cohort, "--", NULL);
    guint files = 0;

    /* the admin's VM survived everything Cohort did */
    foreign = virDomainLookupByName(fx->conn, fx->foreign_name);
    assert_non_null(foreign);
    assert_int_equal(virDomainIsActive(foreign), 1);
    virDomainDestroy(foreign);
    virDomainUndefine(foreign);

    domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
    cohort_assert_no_error(error);
    for (guint i = 0; i < domains->len; i++) {
        const gchar *name = g_ptr_array_index(domains, i);
        g_autoptr(virDomain) dom = NULL;
        if (!g_str_has_prefix(name, prefix))
            continue;
        dom = virDomainLookupByName(fx->conn, name);
        cohort_provisioner_machine_teardown(fx->prov, name,
                                            cohort_provisioner_domain_get_machine_id(dom), NULL);
    }
    left = cohort_provisioner_list_owned_overlays(fx->prov, &error);
    cohort_assert_no_error(error);
    for (guint i = 0; i < left->len; i++) {
        g_autofree gchar *domain =
            g_strndup(g_ptr_array_index(left, i), strlen(g_ptr_array_index(left, i)) - 6);
        cohort_provisioner_overlay_delete(fx->prov, domain, NULL);
    }
    cohort_provisioner_base_delete(fx->prov, fx->tmpl, NULL);
    virStoragePoolDestroy(fx->pool);

    dir = g_dir_open(fx->pool_dir, 0, NULL);
    while (dir != NULL && g_dir_read_name(dir) != NULL)
        files++;
    g_rmdir(fx->pool_dir);

    /* libvirt itself: no domain of this test's cohort, no pool, and the pool dir was empty */
    {
        g_autoptr(GPtrArray) after = cohort_provisioner_list_owned_domains(fx->prov, &error);
        g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(fx->conn, fx->pool_name);
        for (guint i = 0; after != NULL && i < after->len; i++)
            assert_false(g_str_has_prefix(g_ptr_array_index(after, i), prefix));
        assert_null(pool);
        assert_false(cohort_test_domain_exists(fx->conn, fx->foreign_name));
    }
    assert_int_equal(left->len, 0);
    assert_int_equal(files, 0);

    cohort_provisioner_free(fx->prov);
    cohort_template_unref(fx->tmpl);
    virStoragePoolFree(fx->pool);
    virConnectClose(fx->conn);
    g_free(fx->pool_name);
    g_free(fx->pool_dir);
    g_free(fx->cohort);
    g_free(fx->foreign_name);
    g_free(fx);
    return 0;
}

static guint64
file_bytes_on_disk(const gchar *path)
{
    GStatBuf st;
    assert_int_equal(g_stat(path, &st), 0);
    return (guint64)st.st_blocks * 512;
}

static void
test_provision_qemu_linked_clones_boot(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) trainees = g_ptr_array_new_with_free_func(g_free);
    gdouble t_overlay = 0, t_define = 0, t_start = 0, t_teardown = 0;
    guint64 overlay_bytes = 0;
    g_autofree gchar *base_path = g_build_filename(fx->pool_dir, "tiny-base.qcow2", NULL);

    for (guint i = 1; i <= MACHINES; i++) {
        g_autofree gchar *password = g_strdup_printf("pw%06u", g_random_int_range(0, 999999));
        g_autofree gchar *disk_path = NULL;
        gchar *trainee = g_strdup_printf("trainee-%u", i);
        gchar *name = cohort_names_domain(fx->cohort, trainee, 1);
        CohortMachineSpec spec = {.domain_name = name,
                                  .machine_id = i,
                                  .cohort = fx->cohort,
                                  .trainee = trainee,
                                  .display_name = "O'Brien <\"&\"> ស៊ុន",
                                  .vnc_password = password};
        gint64 t0 = g_get_monotonic_time();

        g_ptr_array_add(trainees, trainee);
        g_ptr_array_add(names, name);
        disk_path = cohort_provisioner_overlay_create(fx->prov, fx->tmpl, name, &error);
        cohort_assert_no_error(error);
        t_overlay += (g_get_monotonic_time() - t0) / 1e6;
        spec.disk_path = disk_path;
        t0 = g_get_monotonic_time();
        assert_true(cohort_provisioner_domain_define(fx->prov, fx->tmpl, &spec, &error));
        cohort_assert_no_error(error);
        t_define += (g_get_monotonic_time() - t0) / 1e6;
        t0 = g_get_monotonic_time();
        assert_true(cohort_provisioner_domain_start(fx->prov, name, i, &error));
        cohort_assert_no_error(error);
        t_start += (g_get_monotonic_time() - t0) / 1e6;
        overlay_bytes += file_bytes_on_disk(disk_path);
        /* the whole call again is harmless on a running machine */
        assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
        cohort_assert_no_error(error);
    }

    /* libvirt sees them running, each on its own linked clone of the base */
    for (guint i = 0; i < names->len; i++) {
        g_autoptr(virDomain) dom = virDomainLookupByName(fx->conn, g_ptr_array_index(names, i));
        g_autofree gchar *xml = NULL;
        int st = 0;
        int reason = 0;

        assert_non_null(dom);
        assert_int_equal(virDomainGetState(dom, &st, &reason, 0), 0);
        assert_int_equal(st, VIR_DOMAIN_RUNNING);
        assert_int_equal(cohort_provisioner_domain_get_machine_id(dom), i + 1);
        xml = virDomainGetXMLDesc(dom, 0);
        /* the running domain's disk is the overlay, backed by the base */
        cohort_assert_contains(xml, base_path);
        cohort_assert_contains(xml, "<driver name='qemu' type='qcow2'/>");
    }
    {
        g_autoptr(GPtrArray) overlays = cohort_provisioner_list_owned_overlays(fx->prov, &error);
        cohort_assert_no_error(error);
        assert_int_equal(overlays->len, MACHINES);
    }

    for (guint i = 0; i < names->len; i++) {
        gint64 t0 = g_get_monotonic_time();
        assert_true(cohort_provisioner_machine_teardown(fx->prov, g_ptr_array_index(names, i),
                                                        i + 1, &error));
        cohort_assert_no_error(error);
        t_teardown += (g_get_monotonic_time() - t0) / 1e6;
        assert_false(cohort_test_domain_exists(fx->conn, g_ptr_array_index(names, i)));
    }
    {
        g_autoptr(GPtrArray) overlays = cohort_provisioner_list_owned_overlays(fx->prov, &error);
        g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
        cohort_assert_no_error(error);
        assert_int_equal(overlays->len, 0);
        for (guint i = 0; i < domains->len; i++)
            assert_false(g_str_has_prefix(g_ptr_array_index(domains, i), fx->cohort));
    }

    g_print("# figures (qemu:///system, TCG, %d machines): per machine overlay %.3f s, define "
            "%.3f s, start %.3f s, teardown %.3f s; overlay on disk %" G_GUINT64_FORMAT " KiB\n",
            MACHINES, t_overlay / MACHINES, t_define / MACHINES, t_start / MACHINES,
            t_teardown / MACHINES, overlay_bytes / MACHINES / 1024);
}

/* A start that QEMU itself refuses rolls back: VNC told to listen on an address this host
 * does not have (TEST-NET-1; QEMU only fails to bind, nothing is sent). */
static void
test_provision_qemu_start_failure_rolls_back(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *name = cohort_names_domain(fx->cohort, "too-big", 1);
    g_autofree gchar *overlay = cohort_names_overlay(name);
    CohortMachineSpec spec = {.domain_name = name,
                              .machine_id = 99,
                              .cohort = fx->cohort,
                              .trainee = "too-big",
                              .vnc_password = "pw",
                              .vnc_listen = "192.0.2.1"};

    assert_false(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    assert_non_null(error);
    cohort_assert_error(error, COHORT_ERROR_LIBVIRT);
    cohort_assert_contains(error->message, "starting the domain");
    cohort_assert_contains(error->message, name);
    assert_false(cohort_test_domain_exists(fx->conn, name));
    assert_false(cohort_test_volume_exists(fx->conn, fx->pool_name, overlay));
}

/* The host's accelerator on qemu:///system: the domain capabilities say whether KVM is there
 * (as /dev/kvm does), and a domain rendered for a provisioner set to kvm is defined with
 * type='kvm', whatever the template says (defined only: KVM guests hang on these machines). */
static void
test_provision_qemu_accel(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *name = cohort_names_domain(fx->cohort, "accel", 1);
    g_autofree gchar *disk = NULL;
    g_autofree gchar *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    gboolean kvm = cohort_provisioner_offers_kvm(fx->prov);
    CohortMachineSpec spec = {.domain_name = name,
                              .machine_id = 77,
                              .cohort = fx->cohort,
                              .trainee = "accel",
                              .vnc_password = "pw"};

    g_print("# accel: qemu:///system offers kvm: %s (/dev/kvm %s)\n", kvm ? "yes" : "no",
            g_file_test("/dev/kvm", G_FILE_TEST_EXISTS) ? "exists" : "missing");
    if (!g_file_test("/dev/kvm", G_FILE_TEST_EXISTS))
        assert_false(kvm);
    cohort_provisioner_set_domain_type(fx->prov, kvm ? "kvm" : "qemu");
    disk = cohort_provisioner_overlay_create(fx->prov, fx->tmpl, name, &error);
    cohort_assert_no_error(error);
    spec.disk_path = disk;
    assert_true(cohort_provisioner_domain_define(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_no_error(error);
    dom = virDomainLookupByName(fx->conn, name);
    assert_non_null(dom);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    cohort_assert_contains(xml, kvm ? "<domain type='kvm'" : "<domain type='qemu'");
    cohort_provisioner_set_domain_type(fx->prov, "qemu");
    assert_true(cohort_provisioner_machine_teardown(fx->prov, name, 77, &error));
    cohort_assert_no_error(error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision_qemu_linked_clones_boot, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_qemu_start_failure_rolls_back, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_qemu_accel, fixture_setup, fixture_teardown),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
