/* libFuzzer target: a domain template from untrusted bytes (what `cohortd --check-template`
 * and the templates directory read), then a rendering for a machine unlike the sample.
 *
 * Invariants: a template that loads has sane metadata and renders for any valid spec; a
 * rendering is well-formed XML with Cohort's machine tag; nothing crashes or leaks. */
#define G_LOG_DOMAIN "fuzz-template"

#include "config.h"

#include <string.h>

#include "cohort-fuzz.h"
#include "cohort-template.h"
#include "cohort-xml.h"

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
    cohort_fuzz_init();
    return 0;
}

static void
fuzz_template_check_rendering(const gchar *xml)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *trainee = NULL;

    COHORT_FUZZ_CHECK(xml != NULL);
    doc = cohort_xml_parse_memory(xml, strlen(xml), "rendered", "domain", &error);
    COHORT_FUZZ_CHECK(doc != NULL);
    ctxt = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctxt, BAD_CAST "m", BAD_CAST COHORT_MACHINE_XMLNS);
    name = cohort_xml_find_string(ctxt, "string(/domain/name)");
    COHORT_FUZZ_CHECK(g_strcmp0(name, "cohort-fuzz-101--o-brien") == 0);
    trainee = cohort_xml_find_string(ctxt, "string(/domain/metadata/m:machine/m:trainee)");
    COHORT_FUZZ_CHECK(g_strcmp0(trainee, "o-brien") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_autofree gchar *xml = NULL;
    CohortMachineSpec spec = {
        .domain_name = "cohort-fuzz-101--o-brien",
        .uuid = "5f0c6f3e-8a4b-4c1d-9e2f-0123456789ab",
        .machine_id = 7,
        .cohort = "fuzz-101",
        .trainee = "o-brien",
        .display_name = "O'Brien <\"&\"> ស៊ុន",
        .vcpus = 2,
        .memory_mib = 128,
        .disk_path = "/var/lib/libvirt/images/cohort-fuzz-101--o-brien.qcow2",
        .network = NULL,
        .vnc_password = "x&<y>\"z",
        .vnc_listen = "::1",
        .owner = "c0c0c0c0-0000-4000-8000-0000000000ff",
    };

    /* loading renders the sample machine already (a template is valid when that renders) */
    tmpl = cohort_template_new_from_data((const gchar *)data, size, "fuzz", &error);
    if (tmpl == NULL) {
        COHORT_FUZZ_CHECK(error != NULL && error->message != NULL);
        return 0;
    }
    COHORT_FUZZ_CHECK(error == NULL);
    COHORT_FUZZ_CHECK(g_strcmp0(cohort_template_get_name(tmpl), "fuzz") == 0);
    COHORT_FUZZ_CHECK(cohort_template_get_vcpus(tmpl) >= 1 &&
                      cohort_template_get_vcpus(tmpl) <= 256);
    COHORT_FUZZ_CHECK(cohort_template_get_memory_mib(tmpl) >= 16);
    COHORT_FUZZ_CHECK(cohort_template_get_disk_mib(tmpl) >= 1);
    COHORT_FUZZ_CHECK(cohort_template_get_base_pool(tmpl) != NULL);

    /* As cohortd renders: a template with NICs joins the cohort's network, one without
     * keeps none; the cohort's quota may change the sizes. */
    if (cohort_template_get_n_interfaces(tmpl) > 0)
        spec.network = "cohort-fuzz-101";
    xml = cohort_template_render(tmpl, &spec, &error);
    if (xml == NULL)
        fprintf(stderr, "a loaded template does not render: %s\n", error->message);
    fuzz_template_check_rendering(xml);
    g_clear_pointer(&xml, g_free);

    /* the template's own sizes, VNC on every address of the host */
    spec.vcpus = 0;
    spec.memory_mib = 0;
    spec.vnc_listen = "0.0.0.0";
    xml = cohort_template_render(tmpl, &spec, &error);
    if (xml == NULL)
        fprintf(stderr, "a loaded template does not render: %s\n", error->message);
    fuzz_template_check_rendering(xml);
    return 0;
}
