/* cohortd's wiring: it makes each layer's object (store, templates, hosts, work, lifecycle,
 * service) and hands each the ones below it; the API gets the service. Owned by the main
 * thread; workers see only what a work item carries. */
#pragma once

#include <glib.h>

#include "cohort-hosts.h"
#include "cohort-lifecycle.h"
#include "cohort-service.h"
#include "cohort-store.h"
#include "cohort-template-set.h"
#include "cohort-work.h"

G_BEGIN_DECLS

typedef struct {
    gchar *templates_dir;
    gchar *vnc_listen;          /* where machines' VNC listens */
    guint invitation_ttl_hours; /* how long an invitation code works */
    guint stop_timeout_s;       /* graceful shutdown before a machine is forced off */
    guint default_quota_machines;
    guint default_quota_vcpus;
    guint64 default_quota_memory_mib;
    guint workers;
    guint reaper_interval_s;
    guint reconcile_interval_s;
    guint idle_shutdown_s; /* 0: machines are never stopped for being idle */
    guint idle_cpu_percent;
    gchar *images_dir;           /* base images may be installed from files under it only */
    gboolean allow_test_hosts;   /* test:/// host URIs, which read files: tests and demos */
    gchar *builtin_test_uri;     /* the fallback lab host's URI, allowed anyway; NULL: none */
    GStrv config_hosts;          /* names of cohortd.conf's [host:NAME] groups; NULL: none */
    CohortPlacement placement;   /* of cohorts that name none */
    CohortSubnet networks_range; /* the address plan of cohorts' own networks */
    guint networks_prefix;       /* each cohort network's prefix length */
} CohortDaemonSettings;

/* The wiring: every layer's object, made and freed in order. */
typedef struct {
    CohortDaemonSettings settings;
    CohortStore *store;
    CohortTemplateSet *templates;
    CohortHosts *hosts;
    CohortWork *work;
    CohortLifecycle *lifecycle;
    CohortService *service;
    GMainContext *context;
    gboolean owns_context; /* acquired by the main thread for the daemon's life */
    gchar *instance_id;    /* this installation's UUID, in every machine's tag */
} CohortDaemon;

void cohort_daemon_settings_init(CohortDaemonSettings *settings);
void cohort_daemon_settings_clear(CohortDaemonSettings *settings);

/* Takes @store. Loads the templates (a bad one is logged and skipped, the rest load), and
 * starts connecting to every host in the store, each in a thread. */
CohortDaemon *cohort_daemon_new(const CohortDaemonSettings *settings, CohortStore *store,
                                GError **error);
void cohort_daemon_free(CohortDaemon *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortDaemon, cohort_daemon_free)

/* Resumes the jobs a stop or a crash interrupted, starts reconcile (now, on events, on a
 * timer) and the reaper. */
void cohort_daemon_start(CohortDaemon *self);
/* Runs the main context until every host's first connection attempt is over, or @timeout_s
 * passed (a host that hangs is then left to its thread: it joins when it answers). */
void cohort_daemon_wait_hosts(CohortDaemon *self, guint timeout_s);

G_END_DECLS
