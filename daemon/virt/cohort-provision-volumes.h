/* Volumes that cross the network through libvirt's storage streams: template bases uploaded
 * to a host with progress and a check of what arrived, a stopped machine's overlay copied from
 * one host to another, and how much room a host's pool has. Worker threads only. */
#pragma once

#include <gio/gio.h>

#include "cohort-provision.h"

G_BEGIN_DECLS

/* Called from the worker as bytes go (every few MiB, and at the end): @done of @total. */
typedef void (*CohortProvisionProgressFunc)(guint64 done, guint64 total, gpointer user_data);

/* What a pool can give: libvirt's figures after a refresh, and what Cohort's overlays in it
 * (cohort-*.qcow2) take now. */
typedef struct {
    guint64 capacity_bytes;
    guint64 available_bytes;
    guint64 overlays_bytes;
} CohortPoolUsage;

gboolean cohort_provisioner_pool_usage(CohortProvisioner *self, CohortPoolUsage *usage,
                                       GError **error);
/* vCPUs and memory of the host, from libvirt's node info. */
gboolean cohort_provisioner_node_info(CohortProvisioner *self, guint *vcpus, guint64 *memory_mib,
                                      GError **error);
/* Whether the pool holds a volume of that name. */
gboolean cohort_provisioner_volume_exists(CohortProvisioner *self, const gchar *volume);
/* Deletes the volume @volume; nothing to do when it is not there. */
gboolean cohort_provisioner_volume_delete(CohortProvisioner *self, const gchar *volume,
                                          GError **error);

/* The SHA-256 (lowercase hex) and size of the file at @path, read once. */
gchar *cohort_provision_file_sha256(const gchar *path, guint64 *size, GCancellable *cancellable,
                                    GError **error);

/* Uploads the file at @path as the volume @volume (made anew: one that is there already is
 * COHORT_ERROR_CONFLICT unless @replace, which deletes it first: a partial upload of an
 * earlier try). The volume's format follows the file's (qcow2 or raw). What is sent is
 * hashed as it goes; the upload is good only when that hash is @sha256 (the file did not
 * change meanwhile), the stream was finished by the host, and the volume on the host holds as
 * many bytes as were sent. On any failure the volume is deleted if the host can still be
 * reached (a lost host keeps a partial volume, which the caller records as such). */
gboolean cohort_provisioner_volume_upload(CohortProvisioner *self, const gchar *volume,
                                          const gchar *path, const gchar *sha256, gboolean replace,
                                          CohortProvisionProgressFunc progress, gpointer user_data,
                                          GCancellable *cancellable, GError **error);

/* Copies the overlay of domain @domain_name from @from's pool into @to's, through two
 * streams (download on one host, upload on the other), with progress. The overlay names its
 * base by path: the copy is refused (COHORT_ERROR_CONFLICT, before anything is sent) unless
 * @to's base volume has the path @from's has. An overlay already on @to of that name is
 * replaced. @bytes: what was sent. */
gboolean cohort_provisioner_overlay_copy(CohortProvisioner *from, CohortProvisioner *to,
                                         CohortTemplate *tmpl, const gchar *domain_name,
                                         CohortProvisionProgressFunc progress, gpointer user_data,
                                         guint64 *bytes, GError **error);

G_END_DECLS
