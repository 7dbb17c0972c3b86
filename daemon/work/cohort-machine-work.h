/* A machine's slow work (make, start, stop, reset, tear down), run by the workers, and its
 * result written back to the store in the main context. */
#pragma once

#include "cohort-work.h"

G_BEGIN_DECLS

typedef enum {
    COHORT_MACHINE_OP_CREATE,
    COHORT_MACHINE_OP_START,
    COHORT_MACHINE_OP_STOP,
    COHORT_MACHINE_OP_REBOOT,
    COHORT_MACHINE_OP_RESET,
    COHORT_MACHINE_OP_TEARDOWN,
    COHORT_MACHINE_OP_MOVE, /* a stopped machine's disk and domain to another host */
} CohortMachineOp;

/* Queues @op on machine @row, counted in job @job_id when > 0. One machine's work runs one
 * item at a time, in the order asked. When it begins, the row shows it: starting, stopping,
 * rebooting, resetting (a make and a reclaim: provisioning and reclaiming, which their
 * callers write first with the rest of their intent, in the store before libvirt is
 * touched); when it is over, what libvirt did (running, stopped; failed with the reason).
 * A reclaim drops the work still waiting before it (not the work under way). */
gboolean cohort_machine_work_push(CohortWork *w, const CohortMachineRow *row, CohortMachineOp op,
                                  gint64 job_id, GError **error);
/* The making of a machine whose row was just written: @trainee and the secrets the row was
 * written with (VNC, and the guest's when the template seeds it, else NULL) are not read back
 * from the store (~40 k instructions on the main loop a machine). */
gboolean cohort_machine_work_push_new(CohortWork *w, const CohortMachineRow *row, gint64 job_id,
                                      const CohortUserRow *trainee, const gchar *vnc_password,
                                      const gchar *guest_password, GError **error);
/* The same, for work cohortd does by itself: on success the row's message says @note (why). */
gboolean cohort_machine_work_push_note(CohortWork *w, const CohortMachineRow *row,
                                       CohortMachineOp op, const gchar *note, GError **error);
/* The operations waiting behind the one under way, in order: "provision", "start", "stop",
 * "reboot", "reset", "reclaim" ({"start"} behind a stop). Never NULL, empty when none. */
gchar **cohort_machine_work_pending_new(CohortWork *w, gint64 machine_id);
/* Counts the machine's outcome (@error NULL: done) into job @job_id, once: FALSE when it was
 * counted already or is not the job's. With the job's last machine, the job is finished (a
 * reclaim first removes the cohort's network). */
gboolean cohort_machine_work_job_count(CohortWork *w, gint64 job_id, gint64 machine_id,
                                       const gchar *machine_name, const GError *error);
/* Finishes @job when every machine of it is counted (a reclaim after its network), or marks
 * it running. */
void cohort_machine_work_job_check(CohortWork *w, CohortJobRow *job);
/* Tears down a domain that carries this installation's tag but has no row (a lost
 * database, a row removed by hand): nothing is recorded. */
gboolean cohort_machine_work_push_orphan(CohortWork *w, gint64 host_id, const gchar *domain_name,
                                         gint64 machine_id, GError **error);
/* Work of job @job_id that could not be queued (its host went down meanwhile): the machine is
 * failed with the reason, and counted so in its job, in one commit. */
void cohort_machine_work_fail_unqueued(CohortWork *w, gint64 job_id, const CohortMachineRow *row,
                                       const GError *failure);
/* A new job row of @total items; @actor NULL for cohortd itself (the reaper). */
gint64 cohort_machine_work_job_new(CohortWork *w, const CohortUserRow *actor, const gchar *kind,
                                   const gchar *target, guint total, GError **error);
/* A reclaim job of a cohort with no machine left still removes the cohort's own network:
 * the job runs until it is gone. */
void cohort_machine_work_reclaim_empty(CohortWork *w, gint64 job_id);
/* The end of a batch of results: the job rows counted in it are written. */
void cohort_machine_work_batch_flush(CohortWork *w);
/* Reconcile's: removes a finished cohort's own network from @host, in a worker. */
void cohort_machine_work_push_network_remove(CohortWork *w, CohortHost *host,
                                             const gchar *cohort_slug);
/* Moves machine @row to @target (a host that is up, chosen by the caller). @fresh, or a host
 * of the machine's that is not up: the machine is made anew from its template on @target (a
 * reset there; what its disk held is lost), and what it leaves on its old host is removed
 * now if that host is up, else when it is back. Otherwise (the machine is stopped, its host
 * up) its overlay is copied to @target through storage streams and its domain defined there;
 * the old host's copy goes once that is done. Intent first: the row and what a move may
 * leave behind are written before libvirt is touched. Counted in job @job_id when > 0. */
gboolean cohort_machine_work_move(CohortWork *w, const CohortMachineRow *row, CohortHost *target,
                                  gboolean fresh, gint64 job_id, GError **error);
/* Removes what machine @machine_id (named @domain_name) left on @host after it moved away,
 * and then the record of it; nothing is recorded beyond that. */
gboolean cohort_machine_work_push_leftover(CohortWork *w, CohortHost *host, gint64 machine_id,
                                           const gchar *domain_name, GError **error);
/* At stop: work that waits behind a machine's work under way goes to the workers' queue,
 * so that it is failed and recorded like the rest of the queue. */
void cohort_machine_work_release_waiting(CohortWork *w);

/* The subnet of @cohort's own network ("isolated", "nat") from the address plan: the one it
 * holds, or a new one clear of other cohorts' and of the networks the hosts had when reached.
 * COHORT_ERROR_NO_CAPACITY when the plan is full. */
gchar *cohort_work_network_subnet(CohortWork *w, const CohortCohortRow *cohort, GError **error);

G_END_DECLS
