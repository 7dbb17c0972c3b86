/* A machine's slow work (make, start, stop, reset, tear down), run by the workers, and its
 * result written back to the store in the main context. */
#pragma once

#include "cohort-daemon.h"

G_BEGIN_DECLS

typedef enum {
    COHORT_MACHINE_OP_CREATE,
    COHORT_MACHINE_OP_START,
    COHORT_MACHINE_OP_STOP,
    COHORT_MACHINE_OP_REBOOT,
    COHORT_MACHINE_OP_RESET,
    COHORT_MACHINE_OP_TEARDOWN,
} CohortMachineOp;

/* Queues @op on machine @row (already in its transitional state in the store), counted in
 * job @job_id when > 0. */
gboolean cohort_machine_work_push(CohortDaemon *d, const CohortMachineRow *row, CohortMachineOp op,
                                  gint64 job_id, GError **error);
/* Tears down a domain that carries this installation's tag but has no row (a lost
 * database, a row removed by hand): nothing is recorded. */
gboolean cohort_machine_work_push_orphan(CohortDaemon *d, gint64 host_id, const gchar *domain_name,
                                         gint64 machine_id, GError **error);
/* A new job row of @total items; @actor NULL for cohortd itself (the reaper). */
gint64 cohort_machine_work_job_new(CohortDaemon *d, const CohortUserRow *actor, const gchar *kind,
                                   const gchar *target, guint total, GError **error);
/* A reclaim job of a cohort with no machine left still removes the cohort's own network:
 * the job runs until it is gone. */
void cohort_machine_work_reclaim_empty(CohortDaemon *d, gint64 job_id);
/* Reconcile's: removes a finished cohort's own network from @host, in a worker. */
void cohort_machine_work_push_network_remove(CohortDaemon *d, CohortHost *host,
                                             const gchar *cohort_slug);
/* At stop: work that waits behind a machine's work under way goes to the workers' queue,
 * so that it is failed and recorded like the rest of the queue. */
void cohort_machine_work_release_waiting(CohortDaemon *d);

G_END_DECLS
