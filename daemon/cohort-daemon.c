#define G_LOG_DOMAIN "cohort-daemon"

#include "config.h"

#include "cohort-daemon.h"
#include "cohort-error.h"
#include "cohort-idle.h"
#include "cohort-machine-work.h"
#include "cohort-names.h"
#include "cohort-reaper.h"
#include "cohort-reconcile.h"
#include "cohort-resume.h"

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
}

void
cohort_template_problem_free(CohortTemplateProblem *problem)
{
    g_free(problem->file);
    g_free(problem->message);
    g_free(problem);
}

void
cohort_template_change_free(CohortTemplateChange *change)
{
    g_free(change->name);
    g_free(change);
}

static void
cohort_daemon_add_problem(GPtrArray *problems, const gchar *file, const gchar *message)
{
    CohortTemplateProblem *problem = g_new0(CohortTemplateProblem, 1);

    problem->file = g_strdup(file);
    problem->message = g_strdup(message);
    g_ptr_array_add(problems, problem);
}

static gint
cohort_daemon_strcmp_ptr(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* Every *.xml of the templates directory, by name; what cannot be loaded goes to @problems. */
static GHashTable *
cohort_daemon_read_templates(const gchar *templates_dir, GPtrArray *problems, GError **error)
{
    g_autoptr(GDir) dir = g_dir_open(templates_dir, 0, error);
    g_autoptr(GHashTable) templates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                            (GDestroyNotify)cohort_template_unref);
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    const gchar *file;

    if (dir == NULL) {
        g_prefix_error(error, "reading the templates directory: ");
        return NULL;
    }
    while ((file = g_dir_read_name(dir)) != NULL) {
        if (g_str_has_suffix(file, ".xml"))
            g_ptr_array_add(files, g_strdup(file));
    }
    /* sorted, so that "a name used twice" always names the same second file */
    g_ptr_array_sort(files, cohort_daemon_strcmp_ptr);
    for (guint i = 0; i < files->len; i++) {
        g_autofree gchar *path = g_build_filename(templates_dir, g_ptr_array_index(files, i), NULL);
        g_autoptr(GError) error_local = NULL;
        g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error_local);
        const gchar *name;

        if (tmpl == NULL) {
            cohort_daemon_add_problem(problems, path, error_local->message);
            continue;
        }
        name = cohort_template_get_name(tmpl);
        if (g_hash_table_contains(templates, name)) {
            g_autofree gchar *message = g_strdup_printf(
                "another file of the directory already defines template '%s': rename one", name);
            cohort_daemon_add_problem(problems, path, message);
            continue;
        }
        g_hash_table_replace(templates, g_strdup(name), g_steal_pointer(&tmpl));
    }
    return g_steal_pointer(&templates);
}

gboolean
cohort_daemon_load_templates(CohortDaemon *self, GError **error)
{
    g_autoptr(GPtrArray) problems =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_problem_free);
    g_autoptr(GHashTable) loaded =
        cohort_daemon_read_templates(self->settings.templates_dir, problems, error);
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (loaded == NULL)
        return FALSE;
    /* at start cohortd must come up: a bad file is skipped, the rest serve */
    for (guint i = 0; i < problems->len; i++) {
        CohortTemplateProblem *problem = g_ptr_array_index(problems, i);
        g_warning("template %s is not loaded: %s", problem->file, problem->message);
    }
    g_hash_table_iter_init(&iter, loaded);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_replace(self->templates, g_strdup(key), cohort_template_ref(value));
    g_message("%u templates loaded from %s", g_hash_table_size(self->templates),
              self->settings.templates_dir);
    return TRUE;
}

gboolean
cohort_daemon_reload_templates(CohortDaemon *self, GPtrArray **changes, GPtrArray **problems,
                               GError **error)
{
    g_autoptr(GPtrArray) found =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_problem_free);
    g_autoptr(GHashTable) loaded =
        cohort_daemon_read_templates(self->settings.templates_dir, found, error);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) diff =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_change_free);
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (loaded == NULL)
        return FALSE;
    /* asked for by an admin who can fix the file: all or nothing */
    if (found->len > 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%u template file%s of %s cannot be loaded; nothing was reloaded: fix or "
                    "remove %s (check with 'cohortd --check-template FILE'), then reload again",
                    found->len, found->len == 1 ? "" : "s", self->settings.templates_dir,
                    found->len == 1 ? "it" : "them");
        *problems = g_steal_pointer(&found);
        return FALSE;
    }
    g_hash_table_iter_init(&iter, self->templates);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    g_hash_table_iter_init(&iter, loaded);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (!g_hash_table_contains(self->templates, key))
            g_ptr_array_add(names, g_strdup(key));
    }
    g_ptr_array_sort(names, cohort_daemon_strcmp_ptr);
    for (guint i = 0; i < names->len; i++) {
        const gchar *name = g_ptr_array_index(names, i);
        CohortTemplate *old = g_hash_table_lookup(self->templates, name);
        CohortTemplate *new = g_hash_table_lookup(loaded, name);
        CohortTemplateChange *change = g_new0(CohortTemplateChange, 1);

        change->name = g_strdup(name);
        if (old == NULL)
            change->state = "added";
        else if (new == NULL)
            change->state = "removed";
        else if (cohort_template_same_source(old, new))
            change->state = "unchanged";
        else
            change->state = "changed";
        g_ptr_array_add(diff, change);
    }
    /* work under way keeps the template it holds a reference to; new work gets the new one */
    g_hash_table_remove_all(self->templates);
    g_hash_table_iter_init(&iter, loaded);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_replace(self->templates, g_strdup(key), cohort_template_ref(value));
    cohort_hosts_refresh_bases(self->hosts);
    g_message("%u templates reloaded from %s", g_hash_table_size(self->templates),
              self->settings.templates_dir);
    *changes = g_steal_pointer(&diff);
    return TRUE;
}

static void cohort_daemon_source_drop(GSource *source);
static void cohort_daemon_on_domain_event(CohortHost *host, const gchar *domain_name, gint event,
                                          gpointer user_data);
static void cohort_daemon_on_host_changed(CohortHost *host, gpointer user_data);

static void
cohort_daemon_source_clear(GSource **source)
{
    if (*source == NULL)
        return;
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = NULL;
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

    self->settings = *settings;
    self->settings.templates_dir = g_strdup(settings->templates_dir);
    self->settings.vnc_listen = g_strdup(settings->vnc_listen);
    self->settings.images_dir = g_strdup(settings->images_dir);
    self->settings.builtin_test_uri = g_strdup(settings->builtin_test_uri);
    self->settings.config_hosts = g_strdupv(settings->config_hosts);
    self->store = store;
    self->context = g_main_context_ref_thread_default();
    /* owned for good: g_main_context_invoke() from a worker would otherwise run a result
     * in the worker itself whenever the main loop is between two iterations */
    self->owns_context = g_main_context_acquire(self->context);
    if (!self->owns_context)
        g_warning("the main context belongs to another thread: results of libvirt work are "
                  "queued to it");
    self->inflight = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    self->waiting = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    self->settled = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    self->idle = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    self->reconcile_pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                                    (GDestroyNotify)cohort_daemon_source_drop);
    self->instance_id = cohort_store_get_instance_id(store, error);
    if (self->instance_id == NULL)
        return NULL;
    self->templates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)cohort_template_unref);
    self->hosts = cohort_hosts_new();
    self->jobs = cohort_jobs_new(MAX(settings->workers, 1), self->context);
    if (!cohort_daemon_load_templates(self, error))
        return NULL;
    rows = cohort_store_host_list(store, error);
    if (rows == NULL)
        return NULL;
    cohort_hosts_set_owner(self->hosts, self->instance_id);
    cohort_hosts_set_uri_policy(self->hosts, settings->allow_test_hosts,
                                settings->builtin_test_uri);
    /* the oldest entry first: of two for one libvirt host, the later one stays down */
    g_ptr_array_sort(rows, cohort_daemon_host_cmp_id);
    cohort_hosts_set_handlers(self->hosts, self->context, cohort_daemon_on_domain_event,
                              cohort_daemon_on_host_changed, self);
    for (guint i = 0; i < rows->len; i++)
        cohort_hosts_add(self->hosts, g_ptr_array_index(rows, i), self->templates);
    return g_steal_pointer(&self);
}

void
cohort_daemon_free(CohortDaemon *self)
{
    if (self == NULL)
        return;
    cohort_daemon_source_clear(&self->reconcile_timer);
    cohort_daemon_source_clear(&self->reaper_timer);
    /* work waiting behind other work joins the queue, which fails what it still holds */
    if (self->waiting != NULL && self->jobs != NULL)
        cohort_machine_work_release_waiting(self);
    /* workers first: they use the hosts' provisioners and the templates */
    cohort_jobs_free(self->jobs);
    if (self->waiting != NULL)
        g_hash_table_unref(self->waiting);
    if (self->reconcile_pending != NULL)
        g_hash_table_unref(self->reconcile_pending);
    if (self->inflight != NULL)
        g_hash_table_unref(self->inflight);
    if (self->settled != NULL)
        g_hash_table_unref(self->settled);
    if (self->idle != NULL)
        g_hash_table_unref(self->idle);
    g_free(self->instance_id);
    cohort_hosts_free(self->hosts);
    if (self->templates != NULL)
        g_hash_table_unref(self->templates);
    cohort_store_free(self->store);
    if (self->owns_context)
        g_main_context_release(self->context);
    if (self->context != NULL)
        g_main_context_unref(self->context);
    cohort_daemon_settings_clear(&self->settings);
    g_free(self);
}

CohortTemplate *
cohort_daemon_get_template(CohortDaemon *self, const gchar *name, GError **error)
{
    CohortTemplate *tmpl = g_hash_table_lookup(self->templates, name != NULL ? name : "");
    if (tmpl == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "no template '%s' (see 'cohortctl template list')", name);
        return NULL;
    }
    return tmpl;
}

CohortHost *
cohort_daemon_add_host(CohortDaemon *self, CohortHostRow *row, GError **error)
{
    CohortHost *host;

    if (row->id == 0)
        host = cohort_hosts_add_new(self->hosts, self->store, row, self->templates, error);
    else
        host = cohort_hosts_add(self->hosts, row, self->templates);
    if (host == NULL)
        return NULL;
    /* capacity learnt from libvirt is kept */
    if (!cohort_store_host_set_capacity(self->store, row->id, row->vcpus, row->memory_mib, error))
        return NULL;
    if (!cohort_store_host_set_state(self->store, row->id, host->state, error))
        return NULL;
    return host;
}

gboolean
cohort_daemon_remove_host(CohortDaemon *self, CohortHost *host, guint *detached, GError **error)
{
    if (!cohort_store_host_delete(self->store, host->id, detached, error))
        return FALSE;
    g_hash_table_remove(self->reconcile_pending, &host->id);
    cohort_hosts_detach(self->hosts, host);
    /* work pushed before now may hold its provisioner; work pushed later cannot find it */
    cohort_jobs_when_done(self->jobs, (GDestroyNotify)cohort_host_free, host);
    return TRUE;
}

static void
cohort_daemon_source_drop(GSource *source)
{
    g_source_destroy(source);
    g_source_unref(source);
}

void
cohort_daemon_inflight_add(CohortDaemon *self, gint64 machine_id)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->inflight, &machine_id));
    g_hash_table_replace(self->inflight, g_memdup2(&machine_id, sizeof(machine_id)),
                         GUINT_TO_POINTER(n + 1));
}

void
cohort_daemon_inflight_remove(CohortDaemon *self, gint64 machine_id)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->inflight, &machine_id));

    self->epoch++;
    g_hash_table_replace(self->settled, g_memdup2(&machine_id, sizeof(machine_id)),
                         g_memdup2(&self->epoch, sizeof(self->epoch)));
    if (n <= 1)
        g_hash_table_remove(self->inflight, &machine_id);
    else
        g_hash_table_replace(self->inflight, g_memdup2(&machine_id, sizeof(machine_id)),
                             GUINT_TO_POINTER(n - 1));
}

gboolean
cohort_daemon_inflight_contains(CohortDaemon *self, gint64 machine_id)
{
    return g_hash_table_contains(self->inflight, &machine_id);
}

guint64
cohort_daemon_epoch(CohortDaemon *self)
{
    return self->epoch;
}

gboolean
cohort_daemon_settled_since(CohortDaemon *self, gint64 machine_id, guint64 epoch)
{
    const guint64 *settled = g_hash_table_lookup(self->settled, &machine_id);
    return settled != NULL && *settled > epoch;
}

static void
cohort_daemon_on_domain_event(CohortHost *host, const gchar *domain_name, gint event,
                              gpointer user_data)
{
    CohortDaemon *self = user_data;

    g_debug("host %s: domain %s: event %d", host->name, domain_name, event);
    if (g_str_has_prefix(domain_name, COHORT_NAME_PREFIX))
        cohort_reconcile_schedule(self, host);
}

static void
cohort_daemon_on_host_changed(CohortHost *host, gpointer user_data)
{
    CohortDaemon *self = user_data;
    g_autoptr(GError) error = NULL;

    if (!cohort_store_host_set_state(self->store, host->id, host->state, &error))
        g_warning("host %s: %s", host->name, error->message);
    /* back: whatever happened meanwhile is found and repaired */
    if (g_strcmp0(host->state, "down") != 0)
        cohort_reconcile_host(self, host);
}

static gboolean
cohort_daemon_reconcile_tick(gpointer user_data)
{
    cohort_reconcile_all(user_data);
    return G_SOURCE_CONTINUE;
}

static gboolean
cohort_daemon_reaper_tick(gpointer user_data)
{
    cohort_reaper_run(user_data);
    cohort_idle_run(user_data);
    return G_SOURCE_CONTINUE;
}

void
cohort_daemon_start(CohortDaemon *self)
{
    /* jobs a stop or a crash interrupted go on: reconcile finishes their machines */
    cohort_resume_jobs(self);
    cohort_reconcile_all(self);
    self->reconcile_timer = g_timeout_source_new_seconds(self->settings.reconcile_interval_s);
    g_source_set_callback(self->reconcile_timer, cohort_daemon_reconcile_tick, self, NULL);
    g_source_attach(self->reconcile_timer, self->context);
    self->reaper_timer = g_timeout_source_new_seconds(self->settings.reaper_interval_s);
    g_source_set_callback(self->reaper_timer, cohort_daemon_reaper_tick, self, NULL);
    g_source_attach(self->reaper_timer, self->context);
}

void
cohort_daemon_audit(CohortDaemon *self, const gchar *actor, const gchar *action,
                    const gchar *target, const GError *result)
{
    g_autoptr(GError) error = NULL;

    if (!cohort_store_audit_insert(self->store, actor != NULL ? actor : "anonymous", action, target,
                                   result == NULL ? "ok"
                                   : result->domain == COHORT_ERROR
                                       ? cohort_error_code_to_string(result->code)
                                       : "internal",
                                   result != NULL ? result->message : NULL, &error))
        g_warning("cannot record audit entry %s %s: %s", action, target, error->message);
}
