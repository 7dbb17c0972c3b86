/* cohortd's state in one place: store, hosts, templates, workers, settings and counters. Owned
 * by the main thread; workers see only what a work item carries. */
#pragma once

#include <glib.h>

#include "cohort-hosts.h"
#include "cohort-jobs.h"
#include "cohort-store.h"
#include "cohort-template.h"

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
    gchar *images_dir;         /* base images may be installed from files under it only */
    gboolean allow_test_hosts; /* test:/// host URIs, which read files: tests and demos */
    gchar *builtin_test_uri;   /* the fallback lab host's URI, allowed anyway; NULL: none */
    GStrv config_hosts;        /* names of cohortd.conf's [host:NAME] groups; NULL: none */
} CohortDaemonSettings;

typedef struct {
    gssize requests; /* HTTP requests answered */
    gssize requests_4xx;
    gssize requests_5xx;
    gssize libvirt_calls; /* work items run */
    gssize libvirt_usec;  /* their summed duration */
    gssize libvirt_failures;
} CohortDaemonCounters;

typedef struct {
    CohortDaemonSettings settings;
    CohortStore *store;
    CohortHosts *hosts;
    GHashTable *templates; /* name -> CohortTemplate */
    CohortJobs *jobs;
    GMainContext *context;
    gboolean owns_context;         /* acquired by the main thread for the daemon's life */
    CohortDaemonCounters counters; /* atomics where workers touch them */
    gchar *instance_id;            /* this installation's UUID, in every machine's tag */
    GHashTable *inflight;          /* machine id -> number of work items queued or running */
    GHashTable *waiting;           /* machine id -> GQueue of work behind the one under way */
    GHashTable *reconcile_pending; /* host id -> GSource of a scheduled reconcile */
    GHashTable *settled;           /* machine id -> epoch when its last work settled */
    guint64 epoch;                 /* counts settled work */
    GSource *reconcile_timer;
    GSource *reaper_timer;
    GHashTable *idle; /* machine id -> CPU sample, for idle shutdown */
} CohortDaemon;

void cohort_daemon_settings_init(CohortDaemonSettings *settings);
void cohort_daemon_settings_clear(CohortDaemonSettings *settings);

/* Takes @store. Loads the templates (a bad one is logged and skipped, the rest load), and
 * connects to every host in the store. */
CohortDaemon *cohort_daemon_new(const CohortDaemonSettings *settings, CohortStore *store,
                                GError **error);
void cohort_daemon_free(CohortDaemon *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortDaemon, cohort_daemon_free)

CohortTemplate *cohort_daemon_get_template(CohortDaemon *self, const gchar *name, GError **error);
/* Loads every *.xml of the templates directory; a bad file is logged and skipped. */
gboolean cohort_daemon_load_templates(CohortDaemon *self, GError **error);

/* A template file that cannot be loaded, and why (file:line: what is wrong). */
typedef struct {
    gchar *file;
    gchar *message;
} CohortTemplateProblem;
void cohort_template_problem_free(CohortTemplateProblem *problem);

/* What a reload did to one template: "added", "changed", "unchanged" or "removed". */
typedef struct {
    gchar *name;
    const gchar *state;
} CohortTemplateChange;
void cohort_template_change_free(CohortTemplateChange *change);

/* Reads the templates directory again, all or nothing: when every file loads, the table is
 * replaced, the hosts' bases are checked again and @changes lists what happened to each
 * name; otherwise nothing changes, COHORT_ERROR_INVALID_ARGUMENT, and @problems lists the
 * files that did not load. */
gboolean cohort_daemon_reload_templates(CohortDaemon *self, GPtrArray **changes,
                                        GPtrArray **problems, GError **error);
/* Connects to a host of the store (@row->id set), or checks, inserts and connects to a new
 * one (@row->id 0: see cohort_hosts_add_new()), and records its capacity and state. */
CohortHost *cohort_daemon_add_host(CohortDaemon *self, CohortHostRow *row, GError **error);
/* Removes @host from the store (its reclaimed machines keep their rows, without a host) and
 * from the registry; its connections close once the work under way is done. The caller
 * checked that no machine lives there. */
gboolean cohort_daemon_remove_host(CohortDaemon *self, CohortHost *host, guint *detached,
                                   GError **error);
/* Work items per machine: reconcile leaves a machine alone while work for it is under way. */
void cohort_daemon_inflight_add(CohortDaemon *self, gint64 machine_id);
void cohort_daemon_inflight_remove(CohortDaemon *self, gint64 machine_id);
gboolean cohort_daemon_inflight_contains(CohortDaemon *self, gint64 machine_id);
/* A scan taken at epoch E is stale for a machine whose work settled after E. */
guint64 cohort_daemon_epoch(CohortDaemon *self);
gboolean cohort_daemon_settled_since(CohortDaemon *self, gint64 machine_id, guint64 epoch);
/* Resumes the jobs a stop or a crash interrupted, starts reconcile (now, on events, on a
 * timer) and the reaper. */
void cohort_daemon_start(CohortDaemon *self);
/* Records an audit entry; a failure to record is logged, never fatal. */
void cohort_daemon_audit(CohortDaemon *self, const gchar *actor, const gchar *action,
                         const gchar *target, const GError *result);

G_END_DECLS
