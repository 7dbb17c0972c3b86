/* Templates as libvirt sees them (issue 12): the schema alone let these through, and every
 * machine of them would have failed at its first provisioning. */
#define G_LOG_DOMAIN "test-template-check"

#include "config.h"

#include "cohort-test.h"

#include <glib/gstdio.h>

#include "cohort-error.h"
#include "cohort-template-check.h"
#include "cohort-template-set.h"
#include "cohort-virt.h"
#include "cohort-template.h"

static CohortTemplate *
load(const gchar *file)
{
    g_autofree gchar *path = g_build_filename(COHORT_TEST_DATADIR, "templates", file, NULL);
    g_autoptr(GError) error = NULL;
    CohortTemplate *tmpl = cohort_template_new_from_file(path, &error);

    /* the template engine (the schema) takes each of them */
    cohort_assert_no_error(error);
    assert_non_null(tmpl);
    return tmpl;
}

static void
check_refused(const gchar *file, const gchar *says)
{
    g_autoptr(CohortTemplate) tmpl = load(file);
    g_autoptr(GError) error = NULL;

    assert_false(cohort_template_check_libvirt(tmpl, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, file);
    cohort_assert_contains(error->message, says);
}

/* NUMA cells naming more vCPUs than Cohort's metadata gives: libvirt's parser says so. */
static void
test_template_check_numa_vcpus(void **state)
{
    check_refused("numa-vcpus.xml", "Number of CPUs in <numa> exceeds the <vcpu> count");
}

/* NUMA cells holding other memory than Cohort's: QEMU's driver would refuse or override. */
static void
test_template_check_numa_memory(void **state)
{
    check_refused("numa-memory.xml", "NUMA cells (<cpu><numa>) hold 128 MiB, but "
                                     "<cohort:memory> gives each machine 64 MiB");
}

static void
test_template_check_vcpupin(void **state)
{
    check_refused("vcpupin.xml", "<vcpupin vcpu='3'> pins a vCPU the machine does not have");
}

/* What agrees passes (cells in MiB and KiB adding up), as do the shipped templates and those
 * issue 12 made renderable; the check leaves no domain behind. */
static void
test_template_check_accepts(void **state)
{
    static const gchar *const fixtures[] = {"numa-agrees.xml", "sysinfo.xml", "no-disk.xml",
                                            "live-cdrom.xml"};
    static const gchar *const shipped[] = {"tiny.xml", "tiny-lan.xml", "small-linux.xml"};
    g_autoptr(GError) error = NULL;
    virConnectPtr conn = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(fixtures); i++) {
        g_autoptr(CohortTemplate) tmpl = load(fixtures[i]);
        if (!cohort_template_check_libvirt(tmpl, &error))
            fail_msg("%s: %s", fixtures[i], error->message);
    }
    for (guint i = 0; i < G_N_ELEMENTS(shipped); i++) {
        g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, shipped[i], NULL);
        g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error);
        cohort_assert_no_error(error);
        if (!cohort_template_check_libvirt(tmpl, &error))
            fail_msg("%s: %s", shipped[i], error->message);
    }
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    {
        virDomainPtr *domains = NULL;
        int n = virConnectListAllDomains(conn, &domains, 0);
        for (int i = 0; i < n; i++) {
            if (g_str_has_prefix(virDomainGetName(domains[i]), "template-check-"))
                fail_msg("%s left behind", virDomainGetName(domains[i]));
            virDomainFree(domains[i]);
        }
        free(domains);
    }
    virConnectClose(conn);
}

/* Template loading runs it: a directory with one such template loads the others, and names
 * the refused one with libvirt's reason. */
static void
test_template_check_set(void **state)
{
    g_autofree gchar *dir = g_dir_make_tmp("cohort-check-XXXXXX", NULL);
    g_autofree gchar *good_src = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *bad_src =
        g_build_filename(COHORT_TEST_DATADIR, "templates", "numa-vcpus.xml", NULL);
    g_autofree gchar *good = g_build_filename(dir, "tiny.xml", NULL);
    g_autofree gchar *bad = g_build_filename(dir, "numa.xml", NULL);
    g_autofree gchar *data = NULL;
    g_autoptr(CohortTemplateSet) set = cohort_template_set_new(dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) changes = NULL;
    g_autoptr(GPtrArray) problems = NULL;

    assert_true(g_file_get_contents(good_src, &data, NULL, NULL));
    assert_true(g_file_set_contents(good, data, -1, NULL));
    g_clear_pointer(&data, g_free);
    assert_true(g_file_get_contents(bad_src, &data, NULL, NULL));
    assert_true(g_file_set_contents(bad, data, -1, NULL));
    cohort_template_set_set_check(set, cohort_template_check_libvirt);
    assert_true(cohort_template_set_load(set, &error));
    cohort_assert_no_error(error);
    assert_int_equal(g_hash_table_size(cohort_template_set_get_table(set)), 1);
    assert_non_null(cohort_template_set_get(set, "tiny", NULL));
    /* a reload is all or nothing: the refused file is named */
    assert_false(cohort_template_set_reload(set, &changes, &problems, &error));
    assert_non_null(problems);
    assert_int_equal(problems->len, 1);
    cohort_assert_contains(((CohortTemplateProblem *)g_ptr_array_index(problems, 0))->message,
                           "Number of CPUs in <numa> exceeds the <vcpu> count");
    g_unlink(good);
    g_unlink(bad);
    g_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_check_numa_vcpus),
        cmocka_unit_test(test_template_check_numa_memory),
        cmocka_unit_test(test_template_check_vcpupin),
        cmocka_unit_test(test_template_check_accepts),
        cmocka_unit_test(test_template_check_set),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
