/* A cohort's own isolated libvirt network on one host: an L2 segment with no <forward> and
 * no address of the host's, which the cohort's machines share and nothing else reaches.
 * libvirt 9.0 networks carry no metadata, so a network is Cohort's when its name has the
 * prefix and its UUID is the one cohort_names_network_uuid() derives for the installation
 * and the cohort; anything else of the same name is never touched. */
#pragma once

#include <glib.h>

#include "cohort-provision.h"

G_BEGIN_DECLS

/* Defines and starts the network @name with @uuid if it is not there, starts it if it is
 * there but inactive. COHORT_ERROR_CONFLICT when @name exists with another UUID. Safe to
 * call from several workers at once. */
gboolean cohort_provisioner_network_ensure(CohortProvisioner *self, const gchar *name,
                                           const gchar *uuid, GError **error);
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
