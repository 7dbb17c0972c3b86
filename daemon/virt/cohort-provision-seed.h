/* A machine's cloud-init seed disc on its host: a raw volume in the machine's pool, named
 * after the domain (cohort-…-seed.iso), written through a libvirt stream so that remote hosts
 * work as the local one. Worker threads only. */
#pragma once

#include "cohort-provision.h"

G_BEGIN_DECLS

/* Makes the seed volume of @domain_name anew with @image as its content (one already there,
 * from an earlier try or before a reset, is deleted first). libvirt's test driver has no
 * volume upload: on a test:/// connection the volume is made and left empty, with a debug
 * message, so that tests, the demo and the benchmarks on it still run. On failure the volume
 * is deleted. */
gboolean cohort_provisioner_seed_create(CohortProvisioner *self, const gchar *domain_name,
                                        GBytes *image, GError **error);
/* Deletes the seed volume of @domain_name; nothing to do when it is not there. */
gboolean cohort_provisioner_seed_delete(CohortProvisioner *self, const gchar *domain_name,
                                        GError **error);
/* Whether the seed volume of @domain_name is in the pool. */
gboolean cohort_provisioner_seed_exists(CohortProvisioner *self, const gchar *domain_name);
/* The content of the seed volume (tests and checks), through a download stream. */
GBytes *cohort_provisioner_seed_download(CohortProvisioner *self, const gchar *domain_name,
                                         GError **error);
/* Names of the seed volumes in the pool (Cohort's prefix and "-seed.iso"), sorted. */
GPtrArray *cohort_provisioner_list_owned_seeds(CohortProvisioner *self, GError **error);

/* Overlay, seed (when @seed is not NULL: @spec's seed fields are filled in), define,
 * start; as cohort_provisioner_machine_create(), whose rollback also removes the seed. */
gboolean cohort_provisioner_machine_create_seeded(CohortProvisioner *self, CohortTemplate *tmpl,
                                                  const CohortMachineSpec *spec, GBytes *seed,
                                                  GError **error);

G_END_DECLS
