/* A cohort's own libvirt network on one host: a subnet from the address plan with the host's
 * address (.1) and libvirt's DHCP (dnsmasq) for the rest; "isolated" has no <forward> (the
 * machines reach each other and the host, nothing else), "nat" adds <forward mode='nat'/>.
 * libvirt 9.0 networks carry no metadata, so a network is Cohort's when its name has the
 * prefix and its UUID is the one cohort_names_network_uuid() derives for the installation
 * and the cohort; anything else of the same name is never touched. */
#pragma once

#include <glib.h>

#include "cohort-provision.h"
#include "cohort-subnet.h"

G_BEGIN_DECLS

/* Defines and starts the network @name with @uuid if it is not there, starts it if it is
 * there but inactive. COHORT_ERROR_CONFLICT when @name exists with another UUID. Safe to
 * call from several workers at once. */
typedef struct {
    const gchar *name;
    const gchar *uuid;
    const gchar *subnet; /* "10.200.3.0/24"; NULL: an L2 segment without addresses */
    gboolean nat;        /* <forward mode='nat'/> */
} CohortNetworkSpec;

/* The network's XML (libxml2's tree): name, uuid, bridge, the forward, <ip> with <dhcp>. */
gchar *cohort_provision_network_xml_new(const CohortNetworkSpec *spec, GError **error);
/* Before it is defined, @spec's subnet is checked against every other network on the host:
 * one that overlaps is COHORT_ERROR_CONFLICT naming it. */
gboolean cohort_provisioner_network_ensure(CohortProvisioner *self, const CohortNetworkSpec *spec,
                                           GError **error);
/* The IPv4 subnets (CohortSubnet) of the networks on the host, but for this installation's
 * own (@owner's; NULL: every network's): what the address plan must not overlap. */
GArray *cohort_provisioner_list_network_subnets(CohortProvisioner *self, const gchar *owner,
                                                GError **error);
/* Stops and undefines the network @name if it is there with @uuid; @removed says whether
 * there was one. COHORT_ERROR_CONFLICT (and nothing touched) when its UUID is another. */
gboolean cohort_provisioner_network_remove(CohortProvisioner *self, const gchar *name,
                                           const gchar *uuid, gboolean *removed, GError **error);
/* A shared network the cohort names must be on the host and active; Cohort never makes,
 * starts or changes it. COHORT_ERROR_NOT_FOUND or _CONFLICT, in words for the admin. */
gboolean cohort_provisioner_network_require(CohortProvisioner *self, const gchar *name,
                                            GError **error);
/* Names of the networks on the host with Cohort's prefix, sorted (ownership unchecked). */
GPtrArray *cohort_provisioner_list_prefixed_networks(CohortProvisioner *self, GError **error);
/* Of those, the ones installation @owner made: "cohort-SLUG" with SLUG's derived UUID. */
GPtrArray *cohort_provisioner_list_owned_networks(CohortProvisioner *self, const gchar *owner,
                                                  GError **error);

G_END_DECLS
