#define G_LOG_DOMAIN "cohortd"

#include "config.h"

#include <locale.h>
#include <stdio.h>

#include "cohort-error.h"
#include "cohort-template.h"

/* `cohortd --check-template FILE`: what an admin runs before installing a template. */
static int
cohortd_check_template(const gchar *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_autofree gchar *xml = NULL;
    CohortMachineSpec spec;

    tmpl = cohort_template_new_from_file(path, &error);
    if (tmpl == NULL) {
        g_printerr("cohortd: template %s is not valid: %s\n", path, error->message);
        return 1;
    }
    cohort_machine_spec_init_sample(&spec);
    xml = cohort_template_render(tmpl, &spec, &error);
    if (xml == NULL) {
        g_printerr("cohortd: template %s does not render: %s\n", path, error->message);
        return 1;
    }
    fputs(xml, stdout);
    g_printerr("cohortd: template '%s' is valid (%s; %u vCPU, %" G_GUINT64_FORMAT
               " MiB memory, %" G_GUINT64_FORMAT " MiB disk, base volume %s)\n",
               cohort_template_get_name(tmpl), cohort_template_get_description(tmpl),
               cohort_template_get_vcpus(tmpl), cohort_template_get_memory_mib(tmpl),
               cohort_template_get_disk_mib(tmpl), cohort_template_get_base_volume(tmpl));
    return 0;
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *check_template = NULL;
    gboolean version = FALSE;
    const GOptionEntry entries[] = {
        {"check-template", 0, 0, G_OPTION_ARG_FILENAME, &check_template,
         "Render FILE for a sample machine, validate it with libvirt's schema and print it",
         "FILE"},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
        {NULL},
    };

    setlocale(LC_ALL, "");
    context = g_option_context_new("- the Cohort teaching lab daemon");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("cohortd: %s\n", error->message);
        return 2;
    }
    if (version) {
        g_print("cohortd %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (check_template != NULL)
        return cohortd_check_template(check_template);

    g_printerr("cohortd: the HTTP service is not built yet; this version offers "
               "--check-template FILE (see 'cohortd --help')\n");
    return 2;
}
