#define G_LOG_DOMAIN "cohortd"

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "cohort-api.h"
#include "cohort-config.h"
#include "cohort-daemon.h"
#include "cohort-error.h"
#include "cohort-secret.h"
#include "cohort-service.h"
#include "cohort-state-dir.h"
#include "cohort-store.h"
#include "cohort-template-check.h"
#include "cohort-template.h"
#include "cohort-virt.h"

/* GLib before 2.76 (Debian 12 has 2.74) keeps freed slices (JSON trees, lists, hash tables,
 * errors, objects) in per-thread magazines and partly used slab pages: after a cohort's
 * reclaim ~7 MiB more stayed resident, and the peak of the next cohort's provisioning grew by
 * it (bench/README.md, "4. Memory"). Always malloc: a slice is a malloc() block, freed like
 * any other and given back by the trims (GLib 2.76 and later do that always). GLib takes its
 * slice configuration at its first slice, which its own constructor makes before main(): so
 * it is set from the executable's preinit array, which runs before any library's constructor
 * (a setenv() there is lost: libc sets up the environment after it). G_SLICE, when set, still
 * overrides it. */
static void
cohortd_preinit_slice(int argc, char **argv, char **envp)
{
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    g_slice_set_config(G_SLICE_CONFIG_ALWAYS_MALLOC, TRUE);
    G_GNUC_END_IGNORE_DEPRECATIONS
}

__attribute__((section(".preinit_array"),
               used)) static void (*const cohortd_preinit[])(int, char **, char **) = {
    cohortd_preinit_slice,
};

/* GIO scans its modules (gvfs, dconf, proxies, TLS: /usr/lib/<arch>/gio/modules) at the first
 * GFile and keeps what it made of them for the process's life. With GLib's slices from
 * malloc, LeakSanitizer sees some of those blocks and, unable to walk GLib's frames, cannot
 * tell them from a leak of cohortd's: they are loaded first, with its leak check off. */
static void
cohortd_load_gio_modules(void)
{
#ifdef __SANITIZE_ADDRESS__
    __lsan_disable();
#endif
    (void)g_vfs_get_default();
#ifdef __SANITIZE_ADDRESS__
    __lsan_enable();
#endif
}

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
    /* beyond the schema: libvirt's own parser, on an in-process test driver */
    if (!cohort_template_check_libvirt(tmpl, &error)) {
        g_printerr("cohortd: template %s is not valid: %s\n", path, error->message);
        return 1;
    }
    fputs(xml, stdout);
    g_printerr("cohortd: template '%s' is valid (%s; %u vCPU, %" G_GUINT64_FORMAT
               " MiB memory, %" G_GUINT64_FORMAT " MiB disk, base volume %s)\n",
               cohort_template_get_name(tmpl),
               cohort_template_get_description(tmpl) != NULL ? cohort_template_get_description(tmpl)
                                                             : "no description",
               cohort_template_get_vcpus(tmpl), cohort_template_get_memory_mib(tmpl),
               cohort_template_get_disk_mib(tmpl), cohort_template_get_base_volume(tmpl));
    return 0;
}

#define COHORTD_DATABASE_HOLDS "API token hashes, rosters and sealed VNC passwords"

/* The state directory is cohortd's alone (0700); its database, the database's -wal and -shm
 * files and the secret key that seals the database's secrets are refused when others may
 * read them, and made 0600 when new. */
static CohortStore *
cohortd_store_open(CohortConfig *config, GError **error)
{
    g_autofree gchar *path = g_build_filename(config->state_dir, "cohort.db", NULL);
    g_autofree gchar *key_path = g_build_filename(config->state_dir, COHORT_SECRET_KEY_FILE, NULL);
    const gchar *const suffixes[] = {"", "-wal", "-shm"};
    g_autoptr(CohortSecretKey) key = NULL;
    CohortStore *store;
    gboolean created = FALSE;

    if (!cohort_state_dir_prepare(config->state_dir, error))
        return NULL;
    for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree gchar *file = g_strconcat(path, suffixes[i], NULL);
        if (!cohort_state_file_check(file, COHORTD_DATABASE_HOLDS, error))
            return NULL;
    }
    /* SQLite makes the file 0644 less the umask, and its -wal and -shm files as the file */
    if (!cohort_state_file_create_private(path, error))
        return NULL;
    key = cohort_secret_key_load_or_create(key_path, &created, error);
    if (key == NULL)
        return NULL;
    if (created)
        g_message("made the secret key %s: back it up with the database, which it opens", key_path);
    store = cohort_store_open(path, g_steal_pointer(&key), error);
    if (store == NULL && created)
        g_prefix_error(error, "(%s was missing; cohortd made a new one) ", key_path);
    return store;
}

/* `cohortd --backup FILE`: an online copy of the database while cohortd runs (or not). */
static int
cohortd_backup(CohortConfig *config, const gchar *dest)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *path = g_build_filename(config->state_dir, "cohort.db", NULL);
    g_autofree gchar *key_path = g_build_filename(config->state_dir, COHORT_SECRET_KEY_FILE, NULL);

    if (!cohort_store_backup_file(path, dest, &error)) {
        g_printerr("cohortd: %s\n", error->message);
        return 1;
    }
    g_printerr("cohortd: backed up %s to %s\n", path, dest);
    /* kept apart on purpose: a copy of the database alone opens none of its secrets */
    if (g_file_test(key_path, G_FILE_TEST_EXISTS))
        g_printerr("cohortd: %s is not in the backup: keep one copy of it apart (it does not "
                   "change); a restore needs the database and this key\n",
                   key_path);
    return 0;
}

#define COHORTD_HOSTS_WAIT_S 5

/* The embedded lab-size test host: installed, or in the source tree of an uninstalled build. */
static gchar *
cohortd_lab_host_uri(void)
{
    g_autofree gchar *installed = g_build_filename(COHORT_DATADIR, "lab-host.xml", NULL);
    if (g_file_test(installed, G_FILE_TEST_EXISTS))
        return g_strconcat("test://", installed, NULL);
    return g_strconcat("test://", COHORT_SOURCE_DATADIR "/lab-host.xml", NULL);
}

/* Config hosts enter the store the first time they are seen, and take the file's values at
 * every start (its capacity, ratios and pool: the file says); the store keeps the rest
 * (hosts added through the API). With no host anywhere, the embedded test host. */
static gboolean
cohortd_hosts_sync(CohortConfig *config, CohortStore *store, GError **error)
{
    GPtrArray *hosts = cohort_config_get_hosts(config);
    g_autoptr(GPtrArray) known = cohort_store_host_list(store, error);

    if (known == NULL)
        return FALSE;
    for (guint i = 0; i < hosts->len; i++) {
        CohortConfigHost *ch = g_ptr_array_index(hosts, i);
        g_autoptr(CohortHostRow) row = cohort_store_host_get_by_name(store, ch->name, NULL);
        if (row != NULL) {
            if (g_strcmp0(row->uri, ch->uri) == 0 && g_strcmp0(row->pool, ch->pool) == 0 &&
                row->vcpus == ch->vcpus && row->memory_mib == ch->memory_mib &&
                row->cpu_ratio == ch->cpu_ratio && row->memory_ratio == ch->memory_ratio &&
                row->disk_ratio == ch->disk_ratio && g_strcmp0(row->accel, ch->accel) == 0)
                continue;
            g_message("[host:%s] of the configuration changed: uri=%s pool=%s vcpus=%u "
                      "memory_mib=%" G_GUINT64_FORMAT " cpu_ratio=%g memory_ratio=%g "
                      "disk_ratio=%g accel=%s",
                      ch->name, ch->uri, ch->pool, ch->vcpus, ch->memory_mib, ch->cpu_ratio,
                      ch->memory_ratio, ch->disk_ratio, ch->accel);
            g_free(row->uri);
            row->uri = g_strdup(ch->uri);
            g_free(row->pool);
            row->pool = g_strdup(ch->pool);
            row->vcpus = ch->vcpus;
            row->memory_mib = ch->memory_mib;
            row->cpu_ratio = ch->cpu_ratio;
            row->memory_ratio = ch->memory_ratio;
            row->disk_ratio = ch->disk_ratio;
            g_free(row->accel);
            row->accel = g_strdup(ch->accel);
            if (!cohort_store_host_update(store, row, error))
                return FALSE;
            continue;
        }
        row = g_new0(CohortHostRow, 1);
        row->name = g_strdup(ch->name);
        row->uri = g_strdup(ch->uri);
        row->pool = g_strdup(ch->pool);
        row->vcpus = ch->vcpus;
        row->memory_mib = ch->memory_mib;
        row->cpu_ratio = ch->cpu_ratio;
        row->memory_ratio = ch->memory_ratio;
        row->disk_ratio = ch->disk_ratio;
        row->accel = g_strdup(ch->accel);
        row->state = g_strdup("up");
        if (!cohort_store_host_insert(store, row, error))
            return FALSE;
    }
    if (hosts->len == 0 && known->len == 0) {
        g_autoptr(CohortHostRow) row = g_new0(CohortHostRow, 1);
        row->name = g_strdup("lab");
        row->uri = cohortd_lab_host_uri();
        row->pool = g_strdup("default");
        row->accel = g_strdup("tcg"); /* the embedded test host: no KVM to find */
        row->cpu_ratio = 4.0;
        row->memory_ratio = 1.0;
        row->state = g_strdup("up");
        g_message("no host configured: using libvirt's embedded test driver (%s), a simulated "
                  "host whose machines live only as long as this cohortd",
                  row->uri);
        if (!cohort_store_host_insert(store, row, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
cohortd_quit(gpointer user_data)
{
    g_message("stopping");
    g_main_loop_quit(user_data);
    return G_SOURCE_CONTINUE;
}

static int
cohortd_run(CohortConfig *config)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortStore) store = NULL;
    g_autoptr(CohortDaemon) daemon = NULL;
    g_autoptr(CohortApi) api = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    CohortDaemonSettings settings;
    guint sigterm;
    guint sigint;

    store = cohortd_store_open(config, &error);
    if (store == NULL || !cohortd_hosts_sync(config, store, &error)) {
        g_printerr("cohortd: %s\n", error->message);
        return 1;
    }
    cohort_virt_events_init();
    cohort_daemon_settings_init(&settings);
    g_free(settings.templates_dir);
    settings.templates_dir = g_strdup(config->templates_dir);
    g_free(settings.vnc_listen);
    settings.vnc_listen = g_strdup(config->vnc_listen);
    settings.invitation_ttl_hours = config->invitation_ttl_hours;
    settings.default_quota_machines = config->quota_machines;
    settings.default_quota_vcpus = config->quota_vcpus;
    settings.default_quota_memory_mib = config->quota_memory_mib;
    settings.workers = config->workers;
    settings.reaper_interval_s = config->reaper_interval_s;
    settings.reconcile_interval_s = config->reconcile_interval_s;
    settings.idle_shutdown_s = config->idle_shutdown_s;
    settings.idle_cpu_percent = config->idle_cpu_percent;
    settings.stop_timeout_s = config->stop_timeout_s;
    g_free(settings.images_dir);
    settings.images_dir = g_strdup(config->images_dir);
    settings.allow_test_hosts = config->allow_test_hosts;
    cohort_placement_from_string(config->placement, &settings.placement);
    g_free(settings.calendar.time_zone);
    settings.calendar.time_zone = g_strdup(config->calendar_time_zone);
    settings.calendar.boots_per_host = config->calendar_boots_per_host;
    settings.calendar.grace_minutes = config->calendar_grace_minutes;
    settings.calendar.lead_s = config->calendar_lead_s;
    settings.calendar.margin_s = config->calendar_margin_s;
    settings.calendar.interval_s = config->calendar_interval_s;
    /* validated with the configuration */
    cohort_subnet_parse(config->networks_range, FALSE, &settings.networks_range, NULL);
    settings.networks_prefix = config->networks_prefix;
    /* the fallback lab host reads cohortd's own file: allowed without allow_test_hosts */
    settings.builtin_test_uri = cohortd_lab_host_uri();
    {
        GPtrArray *hosts = cohort_config_get_hosts(config);
        GStrvBuilder *names = g_strv_builder_new();
        for (guint i = 0; i < hosts->len; i++)
            g_strv_builder_add(names, ((CohortConfigHost *)g_ptr_array_index(hosts, i))->name);
        settings.config_hosts = g_strv_builder_end(names);
        g_strv_builder_unref(names);
    }
    daemon = cohort_daemon_new(&settings, g_steal_pointer(&store), &error);
    cohort_daemon_settings_clear(&settings);
    if (daemon == NULL) {
        g_printerr("cohortd: %s\n", error->message);
        return 1;
    }
    {
        const CohortApiLimits limits = {
            .max_body_bytes = (gsize)config->max_body_kib * 1024,
            .request_timeout_s = config->request_timeout_s,
            .max_connections_per_client = config->max_connections_per_client,
            .auth_failures_per_minute = config->auth_failures_per_minute,
        };
        api = cohort_api_new(daemon->service, config->listen, config->port, config->tls_cert,
                             config->tls_key, &limits, &error);
    }
    if (api != NULL)
        cohort_api_set_web_dir(api, config->web_dir);
    if (api == NULL) {
        g_printerr("cohortd: %s\n", error->message);
        return 1;
    }
    cohort_daemon_start(daemon);
    /* the hosts connect in threads; a few seconds for them, so that a lab that answers at
     * once is up when cohortd does, and one that does not is not waited for */
    cohort_daemon_wait_hosts(daemon, COHORTD_HOSTS_WAIT_S);
    /* before anyone learns where to reach it: a SIGTERM right after the line below stops it
     * cleanly instead of killing it */
    sigterm = g_unix_signal_add(SIGTERM, cohortd_quit, loop);
    sigint = g_unix_signal_add(SIGINT, cohortd_quit, loop);
    /* the first line on stdout: scripts and tests read the port from it */
    g_print("cohortd: listening on %s\n", cohort_api_get_url(api));
    fflush(stdout);
    g_message("listening on %s, state in %s", cohort_api_get_url(api), config->state_dir);
    g_main_loop_run(loop);
    g_source_remove(sigterm);
    g_source_remove(sigint);
    /* stop answering first, then let running libvirt work finish and record it */
    g_clear_pointer(&api, cohort_api_free);
    g_clear_pointer(&daemon, cohort_daemon_free);
    return 0;
}

/* glibc keeps each thread's last freed blocks of up to 1 KiB in a cache of that thread's
 * (tcache): a thread hands them out again whichever arena they came from, and they are never
 * merged with their neighbours while cached, so the free memory among the domains' stays
 * resident (the memory bench: 50.3 MiB with it, 48.3 with only blocks up to 256 bytes
 * cached; the small blocks, most of them, still skip the arena's lock). Only GLIBC_TUNABLES
 * sets it, and ld.so reads that before main(): cohortd runs itself again, once, with it set.
 * A value the environment gives is kept; under valgrind (its own allocator, and its exec
 * would run the new image without it) nothing is done. */
#define COHORTD_TCACHE_TUNABLE "glibc.malloc.tcache_max="
#define COHORTD_TCACHE_MAX "256"

static void
cohortd_malloc_tune(char **argv)
{
    const gchar *tunables = g_getenv("GLIBC_TUNABLES");
    const gchar *preload = g_getenv("LD_PRELOAD");
    g_autofree gchar *value = NULL;

    if ((tunables != NULL && strstr(tunables, COHORTD_TCACHE_TUNABLE) != NULL) ||
        (preload != NULL && strstr(preload, "vgpreload") != NULL))
        return;
    value = tunables != NULL && *tunables != '\0'
                ? g_strconcat(tunables, ":" COHORTD_TCACHE_TUNABLE COHORTD_TCACHE_MAX, NULL)
                : g_strdup(COHORTD_TCACHE_TUNABLE COHORTD_TCACHE_MAX);
    if (!g_setenv("GLIBC_TUNABLES", value, TRUE))
        return;
    execv("/proc/self/exe", argv);
    /* not run again: cohortd goes on with glibc's defaults */
    g_debug("cohortd runs with glibc's malloc defaults: %s", g_strerror(errno));
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortConfig) config = NULL;
    g_autofree gchar *backup = NULL;
    g_autofree gchar *check_template = NULL;
    g_autofree gchar *config_path = NULL;
    g_autofree gchar *create_admin = NULL;
    gboolean version = FALSE;
    const GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
         "Read the configuration from FILE (see cohortd.conf(5))", "FILE"},
        {"create-admin", 0, 0, G_OPTION_ARG_STRING, &create_admin,
         "Create the admin LOGIN (or give an existing admin a new token), print the token and "
         "exit",
         "LOGIN"},
        {"check-template", 0, 0, G_OPTION_ARG_FILENAME, &check_template,
         "Render FILE for a sample machine, validate it with libvirt's schema and print it",
         "FILE"},
        {"backup", 0, 0, G_OPTION_ARG_FILENAME, &backup,
         "Copy the database into FILE (0600) while cohortd runs or not, and exit", "FILE"},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
        {NULL},
    };

    cohortd_malloc_tune(argv);
    /* glibc gives each thread that allocates an arena of its own (up to 8 per core), each
     * keeping its own free memory: two arenas at most. They do not keep the workers apart
     * from the main loop (glibc hands later threads either one); they bound the count. */
    mallopt(M_ARENA_MAX, 2);
    /* A fixed mmap threshold (and so a fixed trim threshold): glibc's own moves up to the
     * largest block freed so far (libisofs's 2 MiB ring buffer, once per seed), and from then
     * on seed images and large texts came from the arenas, among the domains' memory. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);

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

    cohortd_load_gio_modules();
    cohort_virt_init();
    config = cohort_config_new_default();
    if (config_path != NULL && !cohort_config_load_file(config, config_path, &error)) {
        g_printerr("cohortd: %s\n", error->message);
        return 2;
    }
    if (backup != NULL)
        return cohortd_backup(config, backup);
    if (create_admin != NULL) {
        g_autoptr(CohortStore) store = cohortd_store_open(config, &error);
        g_autofree gchar *token = NULL;
        if (store != NULL)
            token = cohort_service_admin_bootstrap(store, create_admin, &error);
        if (token == NULL) {
            g_printerr("cohortd: %s\n", error->message);
            return 1;
        }
        g_print("%s\n", token);
        return 0;
    }
    return cohortd_run(config);
}
