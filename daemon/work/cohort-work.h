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
    CohortPlacement placement;   /* of cohorts that name none, when a machine is placed again */
    CohortSubnet networks_range; /* the address plan: cohorts' own networks get a subnet */
    guint networks_prefix;       /* of this length, inside the range */
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
    GHashTable *inflight;      /* machine id -> number of work items queued or running */
    GHashTable *busy_names;    /* domain name -> number of work items queued or running */
    GHashTable *settled_names; /* domain name -> CohortWorkSettled of its last work item */
    GHashTable *waiting;       /* machine id -> GQueue of work behind the one under way */
    GHashTable *settled;       /* machine id -> epoch when its last work settled, while held */
    guint64 epoch;             /* counts settled work */
    guint epoch_holds;         /* scans that hold an epoch (cohort_work_epoch_hold()) */
    GHashTable *progress;      /* job id -> GPtrArray of CohortTransfer: what its items send */
    GHashTable *sending;       /* "host id/volume" of base uploads queued or under way */
    GCancellable *cancellable; /* cancelled when cohortd stops: transfers give up */
    GHashTable *batch_jobs;    /* main context, during a batch: job id → CohortJobRow counted */
    GHashTable *batch_freed;   /* main context, during a batch: job id → what it freed, summed */
    gboolean batch_tx;         /* main context: a batch of results is in a transaction */
    GHashTable *reclaim_feeds; /* job id -> what of a reclaim is not queued yet */
} CohortWork;

/* What one item of a job sends (a base to a host, a disk to another host): workers add to
 * the bytes as they go, the main context reads them for the job's progress. */
typedef enum {
    COHORT_TRANSFER_QUEUED,
    COHORT_TRANSFER_CHECKING, /* the image is hashed before it is sent */
    COHORT_TRANSFER_SENDING,
    COHORT_TRANSFER_DONE,
    COHORT_TRANSFER_FAILED,
} CohortTransferState;

typedef struct {
    gchar *host;          /* where it goes */
    gchar *machine;       /* the machine whose disk it is, NULL for a base */
    gint state;           /* CohortTransferState; atomic */
    gint64 bytes_done;    /* atomic */
    gint64 bytes_total;   /* atomic */
    gint64 started_usec;  /* monotonic, when it began sending (0: not yet); atomic */
    gint64 finished_usec; /* atomic */
} CohortTransfer;

const gchar *cohort_transfer_state_to_string(CohortTransferState state);
/* A new transfer of job @job_id, owned by the work layer until cohortd stops. */
CohortTransfer *cohort_work_transfer_new(CohortWork *self, gint64 job_id, const gchar *host,
                                         const gchar *machine, guint64 bytes_total);
/* Worker threads: */
void cohort_transfer_set_state(CohortTransfer *transfer, CohortTransferState state);
void cohort_transfer_set_bytes(CohortTransfer *transfer, guint64 done, guint64 total);
/* The job's transfers (borrowed), NULL when it has none in this cohortd's life. */
GPtrArray *cohort_work_transfer_list(CohortWork *self, gint64 job_id);

/* One item of a job of hosts (an upload, a disk moved) is over: counted as done or failed
 * (its error recorded, naming the host and the machine if any), its bytes added; with the
 * last item the job is finished. */
void cohort_work_job_item_settle(CohortWork *self, gint64 job_id, const gchar *host,
                                 const gchar *machine, const GError *error, guint64 bytes);

/* Starts @settings->workers threads; results come back to @context. */
CohortWork *cohort_work_new(CohortStore *store, CohortHosts *hosts, GHashTable *templates,
                            const gchar *instance_id, const CohortWorkSettings *settings,
                            GMainContext *context);
/* Lets running work finish, fails what is still queued or waiting, and records it all. */
void cohort_work_free(CohortWork *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortWork, cohort_work_free)

/* Work items per machine: reconcile leaves a machine alone while work for it is under way. */
void cohort_work_inflight_add(CohortWork *self, gint64 machine_id, const gchar *domain_name);
/* @made: what the work did to the domain (CohortDomainEventKind), 0 when it did not run. */
void cohort_work_inflight_remove(CohortWork *self, gint64 machine_id, const gchar *domain_name,
                                 guint made);
/* Whether a libvirt event of @kind (CohortDomainEventKind) about @domain_name is our own
 * work's: work on it is queued or running, or it settled less than
 * COHORT_WORK_SETTLED_RECENT_MS ago having done just that (its events may come after its
 * result). Anything else (a domain destroyed behind Cohort's back) is not. */
#define COHORT_WORK_SETTLED_RECENT_MS 2000
gboolean cohort_work_event_is_own(CohortWork *self, const gchar *domain_name, guint kind);
gboolean cohort_work_inflight_contains(CohortWork *self, gint64 machine_id);
/* A scan taken at epoch E is stale for a machine whose work settled after E. The scan holds
 * E until it is done with it: when no scan holds one, nothing is recorded, so what is kept
 * is bounded by the work settled while scans run, not by every machine ever made. */
guint64 cohort_work_epoch_hold(CohortWork *self);
void cohort_work_epoch_release(CohortWork *self);
gboolean cohort_work_settled_since(CohortWork *self, gint64 machine_id, guint64 epoch);
/* How many machines' settled epochs are kept (for tests). */
guint cohort_work_settled_count(CohortWork *self);

G_END_DECLS
