#define G_LOG_DOMAIN "cohort-lifecycle"

#include "config.h"

#include "cohort-base-work.h"
#include "cohort-calendar.h"
#include "cohort-idle.h"
#include "cohort-lifecycle.h"
#include "cohort-names.h"
#include "cohort-reaper.h"
#include "cohort-reconcile.h"
#include "cohort-resume.h"

static void
cohort_lifecycle_source_drop(GSource *source)
{
    g_source_destroy(source);
    g_source_unref(source);
}

static void
cohort_lifecycle_source_clear(GSource **source)
{
    if (*source == NULL)
        return;
    cohort_lifecycle_source_drop(*source);
    *source = NULL;
}

CohortLifecycle *
cohort_lifecycle_new(CohortStore *store, CohortHosts *hosts, CohortWork *work,
                     const gchar *instance_id, const CohortLifecycleSettings *settings,
                     GMainContext *context)
{
    CohortLifecycle *self = g_new0(CohortLifecycle, 1);

    self->store = store;
    self->hosts = hosts;
    self->work = work;
    self->instance_id = g_strdup(instance_id);
    self->context = g_main_context_ref(context);
    self->settings = *settings;
    self->calendar = cohort_calendar_new(&settings->calendar);
    cohort_calendar_set_hosts(self->calendar, hosts);
    self->settings.calendar.time_zone = NULL; /* the calendar keeps its own copy */
    self->idle = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    self->reconcile_pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                                    (GDestroyNotify)cohort_lifecycle_source_drop);
    return self;
}

void
cohort_lifecycle_free(CohortLifecycle *self)
{
    if (self == NULL)
        return;
    cohort_lifecycle_source_clear(&self->reconcile_timer);
    cohort_lifecycle_source_clear(&self->reaper_timer);
    cohort_lifecycle_source_clear(&self->calendar_timer);
    cohort_calendar_free(self->calendar);
    g_hash_table_unref(self->reconcile_pending);
    g_hash_table_unref(self->idle);
    if (self->ready_watches != NULL)
        g_hash_table_unref(self->ready_watches);
    g_main_context_unref(self->context);
    g_free(self->instance_id);
    g_free(self);
}

static gboolean
cohort_lifecycle_reconcile_tick(gpointer user_data)
{
    cohort_reconcile_all(user_data);
    return G_SOURCE_CONTINUE;
}

static gboolean
cohort_lifecycle_reaper_tick(gpointer user_data)
{
    cohort_reaper_run(user_data);
    cohort_idle_run(user_data);
    return G_SOURCE_CONTINUE;
}

static gboolean
cohort_lifecycle_calendar_tick(gpointer user_data)
{
    cohort_calendar_tick(user_data);
    return G_SOURCE_CONTINUE;
}

void
cohort_lifecycle_start(CohortLifecycle *self)
{
    /* jobs a stop or a crash interrupted go on: reconcile finishes their machines */
    cohort_resume_jobs(self);
    cohort_reconcile_all(self);
    self->reconcile_timer = g_timeout_source_new_seconds(self->settings.reconcile_interval_s);
    g_source_set_callback(self->reconcile_timer, cohort_lifecycle_reconcile_tick, self, NULL);
    g_source_attach(self->reconcile_timer, self->context);
    self->reaper_timer = g_timeout_source_new_seconds(self->settings.reaper_interval_s);
    g_source_set_callback(self->reaper_timer, cohort_lifecycle_reaper_tick, self, NULL);
    g_source_attach(self->reaper_timer, self->context);
    self->calendar_timer =
        g_timeout_source_new_seconds(cohort_calendar_get_settings(self->calendar)->interval_s);
    g_source_set_callback(self->calendar_timer, cohort_lifecycle_calendar_tick, self, NULL);
    g_source_attach(self->calendar_timer, self->context);
}

void
cohort_lifecycle_stop(CohortLifecycle *self)
{
    cohort_lifecycle_source_clear(&self->reconcile_timer);
    cohort_lifecycle_source_clear(&self->reaper_timer);
    cohort_lifecycle_source_clear(&self->calendar_timer);
    g_hash_table_remove_all(self->reconcile_pending);
    if (self->ready_watches != NULL)
        g_hash_table_remove_all(self->ready_watches);
}

void
cohort_lifecycle_on_domain_event(CohortHost *host, const gchar *domain_name, gint event,
                                 gpointer user_data)
{
    CohortLifecycle *self = user_data;

    g_debug("host %s: domain %s: event %d", host->name, domain_name, event);
    /* our own work's events (a define, a start): its result says what happened. Each one
     * scheduled a scan of every domain, O(N^2) during a provision of N (a tenth of cohortd's
     * instructions at N = 200, bench/README.md). */
    if (cohort_work_event_is_own(self->work, domain_name, cohort_hosts_event_kind(event)))
        return;
    if (g_str_has_prefix(domain_name, COHORT_NAME_PREFIX))
        cohort_reconcile_schedule(self, host);
}

void
cohort_lifecycle_on_host_changed(CohortHost *host, gpointer user_data)
{
    CohortLifecycle *self = user_data;
    g_autoptr(GError) error = NULL;

    /* the store keeps whether it drains; whether it answers is this process's to learn */
    if (!cohort_store_host_set_state(self->store, host->id, host->draining ? "draining" : "up",
                                     &error))
        g_warning("host %s: %s", host->name, error->message);
    /* back: whatever happened meanwhile is found and repaired, and the bases the cohorts
     * use that it lacks (or holds only in part) are installed */
    if (cohort_host_is_usable(host)) {
        cohort_reconcile_host(self, host);
        cohort_base_work_sync_host(self->work, host);
    }
}

void
cohort_lifecycle_forget_host(CohortLifecycle *self, CohortHost *host)
{
    g_hash_table_remove(self->reconcile_pending, &host->id);
}
