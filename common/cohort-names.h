/* Names of the libvirt objects Cohort owns, derived from the store's rows (DESIGN.md). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Every domain, volume and network Cohort makes starts with this. */
#define COHORT_NAME_PREFIX "cohort-"

/* cohort-<cohort>--<trainee>[--<n>]; @index 0 or 1 means the trainee's first machine. */
gchar *cohort_names_domain(const gchar *cohort, const gchar *trainee, guint index);
/* The overlay volume of @domain_name: the same plus ".qcow2". */
gchar *cohort_names_overlay(const gchar *domain_name);
/* The cloud-init seed volume of @domain_name: the same plus "-seed.iso". */
gchar *cohort_names_seed(const gchar *domain_name);
#define COHORT_NAMES_SEED_SUFFIX "-seed.iso"
/* cohort-<cohort> */
gchar *cohort_names_network(const gchar *cohort);
/* The UUID of @cohort's network made by the installation @owner: derived, not random, so
 * that the network itself proves whose it is (libvirt networks carry no metadata here). */
gchar *cohort_names_network_uuid(const gchar *owner, const gchar *cohort);
gboolean cohort_names_has_prefix(const gchar *name);
/* Whether a cohort's network mode is its own network, which Cohort makes and removes:
 * "isolated" (no <forward>) or "nat"; anything else names a shared libvirt network. */
gboolean cohort_names_network_is_own(const gchar *mode);

G_END_DECLS
