#define G_LOG_DOMAIN "cohort-daemon"

#include "config.h"

#include "cohort-daemon.h"
#include "cohort-error.h"
#include "cohort-ready.h"
#include "cohort-template-check.h"

void
cohort_daemon_settings_init(CohortDaemonSettings *settings)
{
    *settings = (CohortDaemonSettings){
        .templates_dir = g_strdup(COHORT_TEMPLATESDIR),
        .vnc_listen = g_strdup("127.0.0.1"),
        .invitation_ttl_hours = 168,
        .stop_timeout_s = 60,
        .default_quota_machines = 1,
        .default_quota_vcpus = 2,
        .default_quota_memory_mib = 2048,
        .workers = 8,
        .reaper_interval_s = 60,
        .reconcile_interval_s = 300,
        .idle_cpu_percent = 2,
        .images_dir = g_strdup("/var/lib/cohort/images"),
        .calendar =
            {
                .time_zone = g_strdup("UTC"),
                .boots_per_host = 4,
                .grace_minutes = 15,
                .lead_s = 120,
                .margin_s = 60,
                .interval_s = 30,
            },
        .networks_range = {0x0AC80000u, 16}, /* 10.200.0.0/16, the documented default */
        .networks_prefix = 24,
    };
}

void
cohort_daemon_settings_clear(CohortDaemonSettings *settings)
{
    g_clear_pointer(&settings->templates_dir, g_free);
    g_clear_pointer(&settings->vnc_listen, g_free);
    g_clear_pointer(&settings->images_dir, g_free);
    g_clear_pointer(&settings->builtin_test_uri, g_free);
    g_clear_pointer(&settings->config_hosts, g_strfreev);
    g_clear_pointer(&settings->calendar.time_zone, g_free);
}

static gint
cohort_daemon_host_cmp_id(gconstpointer a, gconstpointer b)
{
    const CohortHostRow *ra = *(CohortHostRow *const *)a;
    const CohortHostRow *rb = *(CohortHostRow *const *)b;
    return (ra->id > rb->id) - (ra->id < rb->id);
}

CohortDaemon *
cohort_daemon_new(const CohortDaemonSettings *settings, CohortStore *store, GError **error)
{
    g_autoptr(CohortDaemon) self = g_new0(CohortDaemon, 1);
    g_autoptr(GPtrArray) rows = NULL;
    const CohortWorkSettings work_settings = {
        .vnc_listen = settings->vnc_listen,
        .stop_timeout_s = settings->stop_timeout_s,
        .workers = settings->workers,
        .placement = settings->placement,
        .networks_range = settings->networks_range,
        .networks_prefix = settings->networks_prefix,
    };
    const CohortLifecycleSettings lifecycle_settings = {
        .reaper_interval_s = settings->reaper_interval_s,
        .reconcile_interval_s = settings->reconcile_interval_s,
        .idle_shutdown_s = settings->idle_shutdown_s,
        .idle_cpu_percent = settings->idle_cpu_percent,
        .calendar = settings->calendar,
    };
    const CohortServiceSettings service_settings = {
        .invitation_ttl_hours = settings->invitation_ttl_hours,
        .default_quota_machines = settings->default_quota_machines,
        .default_quota_vcpus = settings->default_quota_vcpus,
        .default_quota_memory_mib = settings->default_quota_memory_mib,
        .vnc_listen = settings->vnc_listen,
        .images_dir = settings->images_dir,
        .config_hosts = settings->config_hosts,
        .placement = settings->placement,
    };

    self->settings = *settings;
    self->settings.templates_dir = g_strdup(settings->templates_dir);
    self->settings.vnc_listen = g_strdup(settings->vnc_listen);
    self->settings.images_dir = g_strdup(settings->images_dir);
    self->settings.builtin_test_uri = g_strdup(settings->builtin_test_uri);
    self->settings.config_hosts = g_strdupv(settings->config_hosts);
    self->settings.calendar.time_zone = g_strdup(settings->calendar.time_zone);
    self->store = store;
    self->context = g_main_context_ref_thread_default();
    /* owned for good: g_main_context_invoke() from a worker would otherwise run a result
     * in the worker itself whenever the main loop is between two iterations */
    self->owns_context = g_main_context_acquire(self->context);
    if (!self->owns_context)
        g_warning("the main context belongs to another thread: results of libvirt work are "
                  "queued to it");
    self->instance_id = cohort_store_get_instance_id(store, error);
    if (self->instance_id == NULL)
        return NULL;
    self->templates = cohort_template_set_new(settings->templates_dir);
    /* what --check-template says valid, libvirt accepts: each template loaded is defined once
     * on an in-process test:///default */
    cohort_template_set_set_check(self->templates, cohort_template_check_libvirt);
    if (!cohort_template_set_load(self->templates, error))
        return NULL;
    self->hosts = cohort_hosts_new();
    self->work = cohort_work_new(store, self->hosts, cohort_template_set_get_table(self->templates),
                                 self->instance_id, &work_settings, self->context);
    self->lifecycle = cohort_lifecycle_new(store, self->hosts, self->work, self->instance_id,
                                           &lifecycle_settings, self->context);
    self->service = cohort_service_new(store, self->hosts, self->templates, self->work,
                                       self->lifecycle, self->instance_id, &service_settings);
    rows = cohort_store_host_list(store, error);
    if (rows == NULL)
        return NULL;
    cohort_hosts_set_owner(self->hosts, self->instance_id);
    cohort_hosts_set_store(self->hosts, store);
    cohort_hosts_set_uri_policy(self->hosts, settings->allow_test_hosts,
                                settings->builtin_test_uri);
    /* the oldest entry first: of two for one libvirt host, the later one stays down */
    g_ptr_array_sort(rows, cohort_daemon_host_cmp_id);
    /* libvirt's news reaches the lifecycle loops */
    cohort_hosts_set_handlers(self->hosts, self->context, cohort_lifecycle_on_domain_event,
                              cohort_lifecycle_on_host_changed, self->lifecycle);
    cohort_hosts_set_agent_handler(self->hosts, cohort_ready_on_agent_event);
    for (guint i = 0; i < rows->len; i++)
        cohort_hosts_add(self->hosts, g_ptr_array_index(rows, i),
                         cohort_template_set_get_table(self->templates));
    return g_steal_pointer(&self);
}

void
cohort_daemon_free(CohortDaemon *self)
{
    if (self == NULL)
        return;
    /* top down: nothing new is asked or starts by itself, libvirt's news reaches no one, then
     * the work under way finishes and is recorded (its results are handled in the main
     * context meanwhile, where a host's event could otherwise still run) */
    cohort_service_free(self->service);
    if (self->lifecycle != NULL)
        cohort_lifecycle_stop(self->lifecycle);
    if (self->hosts != NULL) {
        cohort_hosts_set_handlers(self->hosts, self->context, NULL, NULL, NULL);
        cohort_hosts_set_agent_handler(self->hosts, NULL);
    }
    cohort_work_free(self->work);
    cohort_lifecycle_free(self->lifecycle);
    g_free(self->instance_id);
    cohort_hosts_free(self->hosts);
    cohort_template_set_free(self->templates);
    cohort_store_free(self->store);
    if (self->owns_context)
        g_main_context_release(self->context);
    if (self->context != NULL)
        g_main_context_unref(self->context);
    cohort_daemon_settings_clear(&self->settings);
    g_free(self);
}

void
cohort_daemon_start(CohortDaemon *self)
{
    cohort_lifecycle_start(self->lifecycle);
}

void
cohort_daemon_wait_hosts(CohortDaemon *self, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    while (cohort_hosts_any_connecting(self->hosts) && g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(self->context, FALSE))
            g_usleep(10 * 1000);
    }
    if (cohort_hosts_any_connecting(self->hosts))
        g_message("some hosts are still connecting after %u s: serving; they join when they "
                  "answer",
                  timeout_s);
}
