/* cohort-tool: the provisioner without the daemon, for admins and developers (like fwupdtool):
 * see what Cohort owns on a host, or run the provisioning demo. */
#define G_LOG_DOMAIN "cohort-tool"

#include "config.h"

#include <locale.h>
#include <stdio.h>

#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision-seed.h"
#include "cohort-provision.h"
#include "cohort-slug.h"
#include "cohort-template.h"
#include "cohort-virt.h"

typedef struct {
    gchar *uri;
    gchar *pool;
    gchar *templates_dir;
    gchar *template_name;
    gchar *cohort;
    gint count;
} CohortToolOptions;

static void
cohort_tool_options_clear(CohortToolOptions *opts)
{
    g_free(opts->uri);
    g_free(opts->pool);
    g_free(opts->templates_dir);
    g_free(opts->template_name);
    g_free(opts->cohort);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortToolOptions, cohort_tool_options_clear)

static void
cohort_tool_print_owned(CohortProvisioner *prov, const gchar *when)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(prov, &error);
    g_autoptr(GPtrArray) overlays = NULL;

    if (domains == NULL) {
        g_printerr("cohort-tool: %s\n", error->message);
        return;
    }
    overlays = cohort_provisioner_list_owned_overlays(prov, &error);
    if (overlays == NULL) {
        g_printerr("cohort-tool: %s\n", error->message);
        return;
    }
    g_print("%s: %u Cohort domains, %u Cohort overlays in pool %s, %d other domains (not "
            "Cohort's, never touched)\n",
            when, domains->len, overlays->len, cohort_provisioner_get_pool(prov),
            virConnectNumOfDomains(cohort_provisioner_get_connection(prov)) +
                virConnectNumOfDefinedDomains(cohort_provisioner_get_connection(prov)) -
                (gint)domains->len);
    for (guint i = 0; i < domains->len && i < 3; i++)
        g_print("  domain  %s\n", (const gchar *)g_ptr_array_index(domains, i));
    if (domains->len > 3)
        g_print("  … and %u more\n", domains->len - 3);
}

/* One pool's overlays, a line each: "volume NAME POOL". */
static gboolean
cohort_tool_list_pool(virConnectPtr conn, const gchar *pool, GError **error)
{
    g_autoptr(CohortProvisioner) prov = cohort_provisioner_new(conn, pool, error);
    g_autoptr(GPtrArray) overlays = NULL;
    g_autoptr(GPtrArray) seeds = NULL;

    if (prov == NULL)
        return FALSE;
    overlays = cohort_provisioner_list_owned_overlays(prov, error);
    if (overlays == NULL)
        return FALSE;
    for (guint i = 0; i < overlays->len; i++)
        g_print("volume\t%s\t%s\n", (const gchar *)g_ptr_array_index(overlays, i), pool);
    /* the machines' cloud-init seed discs are Cohort's volumes too */
    seeds = cohort_provisioner_list_owned_seeds(prov, error);
    if (seeds == NULL)
        return FALSE;
    for (guint i = 0; i < seeds->len; i++)
        g_print("volume\t%s\t%s\n", (const gchar *)g_ptr_array_index(seeds, i), pool);
    return TRUE;
}

/* The domains Cohort owns, then the overlays in @pool, or with @pool NULL in every active
 * pool of the host (an inactive pool is named on stderr: libvirt cannot list its volumes). */
static int
cohort_tool_list(virConnectPtr conn, const gchar *pool)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) domains = cohort_provision_list_tagged_domains(conn, NULL, &error);
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GPtrArray) inactive = NULL;

    if (domains == NULL) {
        g_printerr("cohort-tool: %s\n", error->message);
        return 1;
    }
    if (pool != NULL) {
        pools = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(pools, g_strdup(pool));
    } else if ((pools = cohort_provision_list_pools(conn, &inactive, &error)) == NULL) {
        g_printerr("cohort-tool: %s\n", error->message);
        return 1;
    }
    for (guint i = 0; i < domains->len; i++)
        g_print("domain\t%s\n", (const gchar *)g_ptr_array_index(domains, i));
    for (guint i = 0; i < pools->len; i++) {
        if (!cohort_tool_list_pool(conn, g_ptr_array_index(pools, i), &error)) {
            g_printerr("cohort-tool: %s\n", error->message);
            return 1;
        }
    }
    for (guint i = 0; inactive != NULL && i < inactive->len; i++) {
        const gchar *name = g_ptr_array_index(inactive, i);
        g_printerr("cohort-tool: storage pool '%s' is not active, its volumes are not listed "
                   "(virsh pool-start %s)\n",
                   name, name);
    }
    return 0;
}

/* Makes --count machines for made-up trainees, shows them running, tears them all down and
 * shows that nothing is left: the provisioner's whole life cycle on one host. */
static int
cohort_tool_demo(CohortProvisioner *prov, CohortTemplate *tmpl, const CohortToolOptions *opts)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GTimer) timer = g_timer_new();
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    guint failed = 0;

    if (!cohort_provisioner_base_ensure_blank(prov, tmpl, &error)) {
        g_printerr("cohort-tool: %s\n", error->message);
        return 1;
    }
    g_print("host %s, pool %s, template %s (%s)\n", opts->uri, opts->pool,
            cohort_template_get_name(tmpl), cohort_template_get_description(tmpl));
    cohort_tool_print_owned(prov, "before");

    for (gint i = 1; i <= opts->count; i++) {
        g_autofree gchar *trainee = g_strdup_printf("trainee-%03d", i);
        g_autofree gchar *display = g_strdup_printf("Trainee %d", i);
        g_autofree gchar *name = cohort_names_domain(opts->cohort, trainee, 1);
        g_autofree gchar *password = g_strdup_printf("%08x", g_random_int());
        CohortMachineSpec spec = {
            .domain_name = name,
            .machine_id = i,
            .cohort = opts->cohort,
            .trainee = trainee,
            .display_name = display,
            .vnc_password = password,
        };
        if (!cohort_provisioner_machine_create(prov, tmpl, &spec, &error)) {
            g_printerr("  %s: %s\n", name, error->message);
            g_clear_error(&error);
            failed++;
            continue;
        }
        g_ptr_array_add(names, g_steal_pointer(&name));
        g_array_append_val(ids, spec.machine_id);
    }
    g_print("made %u machines (linked clones of %s) in %.3f s, %u failed\n", names->len,
            cohort_template_get_base_volume(tmpl), g_timer_elapsed(timer, NULL), failed);
    cohort_tool_print_owned(prov, "provisioned");

    g_timer_start(timer);
    for (guint i = 0; i < names->len; i++) {
        const gchar *name = g_ptr_array_index(names, i);
        if (!cohort_provisioner_machine_teardown(prov, name, g_array_index(ids, gint64, i),
                                                 &error)) {
            g_printerr("  %s: %s\n", name, error->message);
            g_clear_error(&error);
            failed++;
        }
    }
    g_print("removed %u machines (domain, definition and overlay) in %.3f s\n", names->len,
            g_timer_elapsed(timer, NULL));
    if (!cohort_provisioner_base_delete(prov, tmpl, &error)) {
        g_printerr("cohort-tool: %s\n", error->message);
        return 1;
    }
    cohort_tool_print_owned(prov, "after");
    return failed == 0 ? 0 : 1;
}

static CohortTemplate *
cohort_tool_template_load(const CohortToolOptions *opts, GError **error)
{
    g_autofree gchar *file = g_strconcat(opts->template_name, ".xml", NULL);
    g_autofree gchar *path = g_build_filename(opts->templates_dir, file, NULL);

    if (!cohort_slug_validate(opts->template_name, "template name", error))
        return NULL;
    return cohort_template_new_from_file(path, error);
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(virConnect) conn = NULL;
    g_autoptr(CohortProvisioner) prov = NULL;
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_auto(CohortToolOptions) opts = {.count = 5};
    const GOptionEntry entries[] = {
        {"uri", 'c', 0, G_OPTION_ARG_STRING, &opts.uri,
         "libvirt URI of the host (default: test:///default)", "URI"},
        {"pool", 'p', 0, G_OPTION_ARG_STRING, &opts.pool,
         "Storage pool of base volumes and overlays (list: every active pool; demo: default)",
         "POOL"},
        {"templates-dir", 0, 0, G_OPTION_ARG_FILENAME, &opts.templates_dir,
         "Where the templates are (default: " COHORT_TEMPLATESDIR ")", "DIR"},
        {"template", 't', 0, G_OPTION_ARG_STRING, &opts.template_name,
         "Template for the demo (default: tiny)", "NAME"},
        {"cohort", 0, 0, G_OPTION_ARG_STRING, &opts.cohort,
         "Cohort slug for the demo (default: demo)", "SLUG"},
        {"count", 'n', 0, G_OPTION_ARG_INT, &opts.count, "Machines in the demo (default: 5)", "N"},
        {NULL},
    };
    int rc;

    setlocale(LC_ALL, "");
    context = g_option_context_new("COMMAND - Cohort's provisioner without the daemon");
    g_option_context_set_summary(context,
                                 "Commands:\n"
                                 "  list   the domains and overlays Cohort owns on the host\n"
                                 "  demo   make --count machines, show them, remove them all");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("cohort-tool: %s\n", error->message);
        return 2;
    }
    if (argc != 2 || (g_strcmp0(argv[1], "list") != 0 && g_strcmp0(argv[1], "demo") != 0)) {
        g_printerr("cohort-tool: give one command, 'list' or 'demo' (see --help)\n");
        return 2;
    }
    if (opts.uri == NULL)
        opts.uri = g_strdup("test:///default");
    if (opts.pool == NULL && g_strcmp0(argv[1], "demo") == 0)
        opts.pool = g_strdup("default");
    if (opts.templates_dir == NULL)
        opts.templates_dir = g_strdup(COHORT_TEMPLATESDIR);
    if (opts.template_name == NULL)
        opts.template_name = g_strdup("tiny");
    if (opts.cohort == NULL)
        opts.cohort = g_strdup("demo");
    if (opts.count < 1 || opts.count > 10000) {
        g_printerr("cohort-tool: --count must be between 1 and 10000\n");
        return 2;
    }

    conn = cohort_virt_connect(opts.uri, &error);
    if (conn == NULL) {
        g_printerr("cohort-tool: %s\n", error->message);
        rc = 1;
    } else if (g_strcmp0(argv[1], "list") == 0) {
        rc = cohort_tool_list(conn, opts.pool);
    } else if ((prov = cohort_provisioner_new(conn, opts.pool, &error)) == NULL ||
               !cohort_slug_validate(opts.cohort, "cohort", &error) ||
               (tmpl = cohort_tool_template_load(&opts, &error)) == NULL) {
        g_printerr("cohort-tool: %s\n", error->message);
        rc = 1;
    } else {
        rc = cohort_tool_demo(prov, tmpl, &opts);
    }
    return rc;
}
