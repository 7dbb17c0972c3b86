#define G_LOG_DOMAIN "cohort-test"

#include "config.h"

#include "cohort-test.h"
#include "cohort-names.h"
#include "cohort-virt.h"

gchar *
cohort_test_lab_host_uri(void)
{
    return g_strconcat("test://", COHORT_LAB_HOST_XML, NULL);
}

CohortTemplate *
cohort_test_template_load(const gchar *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *file = g_strconcat(name, ".xml", NULL);
    g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, file, NULL);
    CohortTemplate *tmpl = cohort_template_new_from_file(path, &error);

    cohort_assert_no_error(error);
    return tmpl;
}

void
cohort_test_spec_init(CohortMachineSpec *spec, GPtrArray *keep, const gchar *cohort,
                      const gchar *trainee, gint64 id)
{
    gchar *name = cohort_names_domain(cohort, trainee, 1);

    g_ptr_array_add(keep, name);
    *spec = (CohortMachineSpec){
        .domain_name = name,
        .machine_id = id,
        .cohort = cohort,
        .trainee = trainee,
        .display_name = "Sok Dara",
        .vnc_password = "s3cret",
    };
}

gboolean
cohort_test_domain_exists(virConnectPtr conn, const gchar *name)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, name);
    return dom != NULL;
}

gboolean
cohort_test_volume_exists(virConnectPtr conn, const gchar *pool, const gchar *name)
{
    g_autoptr(virStoragePool) pool_ptr = virStoragePoolLookupByName(conn, pool);
    g_autoptr(virStorageVol) vol = NULL;

    assert_non_null(pool_ptr);
    vol = virStorageVolLookupByName(pool_ptr, name);
    return vol != NULL;
}
