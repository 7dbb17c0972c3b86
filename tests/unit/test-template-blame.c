/* When Cohort's own change to a document breaks it, the error says so: the template is not
 * blamed. No real template breaks any more (issue 12 fixed the hostdev NIC that did), so the
 * schema check is wrapped to refuse every rendered document and let the author's pass. */
#define G_LOG_DOMAIN "test-template-blame"

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "cohort-domain-schema.h"
#include "cohort-error.h"
#include "cohort-template.h"
#include "cohort-xml.h"

gboolean __real_cohort_domain_schema_validate(xmlDoc *doc, const gchar *name, GError **error);
gboolean __wrap_cohort_domain_schema_validate(xmlDoc *doc, const gchar *name, GError **error);

static gboolean refuse_rendered;

/* A rendered document carries Cohort's machine tag; the author's does not. */
gboolean
__wrap_cohort_domain_schema_validate(xmlDoc *doc, const gchar *name, GError **error)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autofree gchar *tagged = NULL;

    xmlXPathRegisterNs(ctxt, BAD_CAST "m", BAD_CAST COHORT_MACHINE_XMLNS);
    tagged = cohort_xml_find_string(ctxt, "string(count(/domain/metadata/m:machine))");
    if (refuse_rendered && g_strcmp0(tagged, "1") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s:19: the domain does not match libvirt's schema domain.rng, at "
                    "/domain/devices: Extra element devices in interleave; fix that part of the "
                    "template",
                    name);
        return FALSE;
    }
    return __real_cohort_domain_schema_validate(doc, name, error);
}

static void
test_template_blame_rendering(void **state)
{
    g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error);
    g_autofree gchar *xml = NULL;
    CohortMachineSpec spec;

    assert_non_null(tmpl);
    refuse_rendered = TRUE;
    cohort_machine_spec_init_sample(&spec);
    xml = cohort_template_render(tmpl, &spec, &error);
    refuse_rendered = FALSE;
    assert_null(xml);
    assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_INTERNAL));
    assert_non_null(strstr(error->message, "Cohort's rendering of it for machine "
                                           "cohort-sample--trainee broke the document"));
    assert_null(strstr(error->message, "fix that part of the template"));
}

/* A template that is itself invalid is still the author's to fix. */
static void
test_template_blame_author(void **state)
{
    g_autofree gchar *path =
        g_build_filename(COHORT_TEST_DATADIR, "templates", "schema-unknown-device.xml", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error);

    assert_null(tmpl);
    assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(error->message, "fix that part of the template"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_blame_rendering),
        cmocka_unit_test(test_template_blame_author),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
