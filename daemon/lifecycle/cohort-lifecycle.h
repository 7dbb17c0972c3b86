/* What cohortd does by itself: jobs resumed at start, reconcile (at start, on libvirt's
 * events, on a timer, when a host comes back), the reaper (leases, ended courses) and idle
 * shutdown. It works through the work layer, and reads the store and the hosts. */
#pragma once

#include <glib.h>

#include "cohort-calendar.h"
#include "cohort-hosts.h"
#include "cohort-store.h"
#include "cohort-work.h"

G_BEGIN_DECLS

typedef struct {
    guint reaper_interval_s;
    guint reconcile_interval_s;
    guint idle_shutdown_s; /* 0: machines are never stopped for being idle */
    guint idle_cpu_percent;
    CohortCalendarSettings calendar; /* borrowed strings */
} CohortLifecycleSettings;

typedef struct _CohortLifecycle {
    CohortStore *store; /* borrowed, as are the hosts and the work layer */
    CohortHosts *hosts;
    CohortWork *work;
    gchar *instance_id;
    GMainContext *context;
    CohortLifecycleSettings settings;
    GHashTable *reconcile_pending; /* host id -> GSource of a scheduled reconcile */
    GHashTable *idle;              /* machine id -> CPU sample, for idle shutdown */
    GHashTable *ready_watches; /* machine id -> lease or addresses looked for (cohort-ready.c) */
    GSource *reconcile_timer;
    GSource *reaper_timer;
    CohortCalendar *calendar;
    GSource *calendar_timer;
} CohortLifecycle;

CohortLifecycle *cohort_lifecycle_new(CohortStore *store, CohortHosts *hosts, CohortWork *work,
                                      const gchar *instance_id,
                                      const CohortLifecycleSettings *settings,
                                      GMainContext *context);
void cohort_lifecycle_free(CohortLifecycle *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortLifecycle, cohort_lifecycle_free)

/* Resumes the jobs a stop or a crash interrupted, reconciles every host, and starts the
 * timers (reconcile, reaper and idle). */
void cohort_lifecycle_start(CohortLifecycle *self);
/* Stops the timers and what is scheduled: nothing starts by itself any more (cohortd stops). */
void cohort_lifecycle_stop(CohortLifecycle *self);
/* The hosts' handlers (cohort_hosts_set_handlers): a domain event of a Cohort domain
 * schedules its host's reconcile; a host's new state is recorded, and one that is back is
 * reconciled. */
void cohort_lifecycle_on_domain_event(CohortHost *host, const gchar *domain_name, gint event,
                                      gpointer user_data);
void cohort_lifecycle_on_host_changed(CohortHost *host, gpointer user_data);
/* A host that goes: nothing is scheduled for it any more. */
void cohort_lifecycle_forget_host(CohortLifecycle *self, CohortHost *host);

G_END_DECLS
