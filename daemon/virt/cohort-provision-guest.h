/* What libvirt knows of a running guest: whether its agent is connected, and its
 * addresses (from the DHCP lease of its network, or from the agent). Worker threads. */
#pragma once

#include "cohort-provision.h"

G_BEGIN_DECLS

typedef enum {
    COHORT_AGENT_NONE,         /* the domain has no guest agent channel */
    COHORT_AGENT_DISCONNECTED, /* it has one, and no agent opened it (or libvirt cannot say) */
    COHORT_AGENT_CONNECTED,
} CohortAgentState;

/* The state of the guest agent's channel in the live domain (its target's state attribute). */
gboolean cohort_provisioner_domain_agent_state(CohortProvisioner *self, const gchar *name,
                                               CohortAgentState *state, GError **error);
/* The addresses of the running domain, space-separated (NULL when there are none): those of
 * its DHCP leases, or where there is none and @ask_agent, what the guest agent reports
 * (loopback and IPv6 link-local left out). */
gchar *cohort_provisioner_domain_addresses(CohortProvisioner *self, const gchar *name,
                                           gboolean ask_agent, GError **error);
/* The same, from already read interfaces (for tests). */
gchar *cohort_provisioner_addresses_join(virDomainInterfacePtr *ifaces, gint n);

G_END_DECLS
