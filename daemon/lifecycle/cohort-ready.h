/* Readiness: a machine is ready when libvirt reports its guest agent connected (the agent's
 * lifecycle event, or the channel's state that reconcile reads), or, for a template whose
 * guest has no agent, at its first DHCP lease, which a bounded poll in the workers looks
 * for. A stop, a reboot or a reset makes it not ready (the store clears readiness with the
 * state) until the agent connects again. Its addresses come from the lease, or from the
 * agent where there is none. Main context. */
#pragma once

#include "cohort-lifecycle.h"
#include "cohort-provision-guest.h"

G_BEGIN_DECLS

/* How often a watch asks libvirt, and for how long at most. */
#define COHORT_READY_POLL_MS 1000
#define COHORT_READY_LEASE_ATTEMPTS 600   /* a guest without an agent: its lease, 10 minutes */
#define COHORT_READY_ADDRESS_ATTEMPTS 180 /* a ready guest's addresses, 3 minutes */
/* How many not-ready machines one reconcile of a host asks the channel state of. */
#define COHORT_READY_RECONCILE_MAX 64

/* The hosts' agent handler (cohort_hosts_set_agent_handler), @user_data the lifecycle. */
void cohort_ready_on_agent_event(CohortHost *host, const gchar *domain_name, gboolean connected,
                                 gpointer user_data);
/* What a reconcile found of a machine that runs on @host: @agent is what the live XML says
 * of its channel (-1: not asked). Makes it ready, not ready, or starts looking for its
 * lease or addresses. */
void cohort_ready_reconcile_machine(CohortLifecycle *l, CohortHost *host, const CohortMachineRow *m,
                                    gint agent);
/* Whether machines of @template_name are ready by their agent (TRUE when the template is
 * unknown). */
gboolean cohort_ready_template_has_agent(CohortLifecycle *l, const gchar *template_name);
/* No more polling for the machine. */
void cohort_ready_forget(CohortLifecycle *l, gint64 machine_id);

G_END_DECLS
