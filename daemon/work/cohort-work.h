/* The work layer's state in one object: the worker pool, and one queue per machine (the
 * work under way, the work waiting behind it, when each machine's work last settled). The
 * service pushes work here, the lifecycle loops push work and ask what is under way; the
 * work reaches down to the store and the hosts, never up. Main thread only, but for the
 * counters, which workers add to. */
#pragma once

#include <glib.h>

#include "cohort-hosts.h"
#include "cohort-jobs.h"
#include "cohort-store.h"

G_BEGIN_DECLS

typedef struct {
    gchar *vnc_listen;    /* where machines' VNC listens */
    guint stop_timeout_s; /* graceful shutdown before a machine is forced off */
    guint workers;
} CohortWorkSettings;

typedef struct {
    gssize libvirt_calls; /* work items run; atomics */
    gssize libvirt_usec;  /* their summed duration */
    gssize libvirt_failures;
} CohortWorkCounters;

typedef struct {
    CohortStore *store; /* borrowed, as are the hosts and the templates */
    CohortHosts *hosts;
    GHashTable *templates; /* name -> CohortTemplate (cohort_template_set_get_table()) */
    gchar *instance_id;    /* this installation's UUID, in every machine's tag */
    GMainContext *context;
    CohortJobs *jobs;
    CohortWorkSettings settings;
    CohortWorkCounters counters;
    GHashTable *inflight; /* machine id -> number of work items queued or running */
    GHashTable *waiting;  /* machine id -> GQueue of work behind the one under way */
    GHashTable *settled;  /* machine id -> epoch when its last work settled */
    guint64 epoch;        /* counts settled work */
} CohortWork;

/* Starts @settings->workers threads; results come back to @context. */
CohortWork *cohort_work_new(CohortStore *store, CohortHosts *hosts, GHashTable *templates,
                            const gchar *instance_id, const CohortWorkSettings *settings,
                            GMainContext *context);
/* Lets running work finish, fails what is still queued or waiting, and records it all. */
void cohort_work_free(CohortWork *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortWork, cohort_work_free)

/* Work items per machine: reconcile leaves a machine alone while work for it is under way. */
void cohort_work_inflight_add(CohortWork *self, gint64 machine_id);
void cohort_work_inflight_remove(CohortWork *self, gint64 machine_id);
gboolean cohort_work_inflight_contains(CohortWork *self, gint64 machine_id);
/* A scan taken at epoch E is stale for a machine whose work settled after E. */
guint64 cohort_work_epoch(CohortWork *self);
gboolean cohort_work_settled_since(CohortWork *self, gint64 machine_id, guint64 epoch);

G_END_DECLS
