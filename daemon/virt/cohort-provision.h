/* One hypervisor host's machines: linked-clone disks and domains, made and torn down. The
 * only place (with reconcile) that speaks libvirt. Safe to use from several threads at once. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "cohort-template.h"

G_BEGIN_DECLS

typedef struct _CohortProvisioner CohortProvisioner;

/* Steps of making and tearing down a machine, in order; named in errors and progress. */
typedef enum {
    COHORT_PROVISION_STEP_OVERLAY_CREATE,
    COHORT_PROVISION_STEP_DOMAIN_DEFINE,
    COHORT_PROVISION_STEP_DOMAIN_START,
    COHORT_PROVISION_STEP_DOMAIN_DESTROY,
    COHORT_PROVISION_STEP_DOMAIN_UNDEFINE,
    COHORT_PROVISION_STEP_OVERLAY_DELETE,
    COHORT_PROVISION_STEP_LAST
} CohortProvisionStep;

const gchar *cohort_provision_step_to_string(CohortProvisionStep step);

/* @conn is referenced, not stolen. @pool holds the base volumes and the overlays. */
CohortProvisioner *cohort_provisioner_new(virConnectPtr conn, const gchar *pool, GError **error);
void cohort_provisioner_free(CohortProvisioner *self);
virConnectPtr cohort_provisioner_get_connection(CohortProvisioner *self);
const gchar *cohort_provisioner_get_pool(CohortProvisioner *self);
virStoragePoolPtr cohort_provisioner_get_storage_pool(CohortProvisioner *self);
/* Whether the connection still reaches its host (a lost one fails every call at once). */
gboolean cohort_provisioner_is_alive(CohortProvisioner *self);

/* Makes @tmpl's base volume an empty one of the template's disk size if it does not exist
 * yet (tests, the demo, and courses that install from the network). */
gboolean cohort_provisioner_base_ensure_blank(CohortProvisioner *self, CohortTemplate *tmpl,
                                              GError **error);
/* Deletes @tmpl's base volume; nothing to do when it is not there. */
gboolean cohort_provisioner_base_delete(CohortProvisioner *self, CohortTemplate *tmpl,
                                        GError **error);

/* Overlay, define, start. @spec's disk_path is filled in by the provisioner. Idempotent:
 * what already exists and is this machine's is kept. On failure what this call made is
 * undone and the error names the step and carries libvirt's message. */
gboolean cohort_provisioner_machine_create(CohortProvisioner *self, CohortTemplate *tmpl,
                                           const CohortMachineSpec *spec, GError **error);
/* Destroy, undefine (snapshots, managed save, NVRAM, checkpoints), delete the overlay.
 * Idempotent. Refuses (COHORT_ERROR_CONFLICT) to touch a domain named @domain_name that does
 * not carry Cohort's tag for @machine_id. */
gboolean cohort_provisioner_machine_teardown(CohortProvisioner *self, const gchar *domain_name,
                                             gint64 machine_id, GError **error);

/* The single steps, for callers that record progress between them (crash safety). */
gchar *cohort_provisioner_overlay_create(CohortProvisioner *self, CohortTemplate *tmpl,
                                         const gchar *domain_name, GError **error);
gboolean cohort_provisioner_overlay_delete(CohortProvisioner *self, const gchar *domain_name,
                                           GError **error);
gboolean cohort_provisioner_domain_define(CohortProvisioner *self, CohortTemplate *tmpl,
                                          const CohortMachineSpec *spec, GError **error);
gboolean cohort_provisioner_domain_start(CohortProvisioner *self, const gchar *domain_name,
                                         gint64 machine_id, GError **error);
gboolean cohort_provisioner_domain_destroy(CohortProvisioner *self, const gchar *domain_name,
                                           gint64 machine_id, GError **error);
gboolean cohort_provisioner_domain_undefine(CohortProvisioner *self, const gchar *domain_name,
                                            gint64 machine_id, GError **error);

/* Machines of one cohortd installation carry its UUID in their tag; a provisioner with an
 * owner touches only those (and lists only those as owned). */
void cohort_provisioner_set_owner(CohortProvisioner *self, const gchar *owner);
/* The <domain type> of every machine rendered here ("kvm" or "qemu", the host's accelerator);
 * NULL: as the template says. */
void cohort_provisioner_set_domain_type(CohortProvisioner *self, const gchar *domain_type);
const gchar *cohort_provisioner_get_domain_type(CohortProvisioner *self);
/* Whether the host's domain capabilities offer the virt type kvm. */
gboolean cohort_provisioner_offers_kvm(CohortProvisioner *self);
/* The machine id in @dom's Cohort tag (and the tag's owner, NULL when none); 0 when the
 * domain carries no tag. */
gint64 cohort_provisioner_domain_get_tag(virDomainPtr dom, gchar **owner);
/* The machine id in @dom's Cohort tag; 0 when the domain carries none (not ours). */
gint64 cohort_provisioner_domain_get_machine_id(virDomainPtr dom);
/* Names of every domain on the host that carries Cohort's tag, sorted. */
GPtrArray *cohort_provisioner_list_owned_domains(CohortProvisioner *self, GError **error);
/* Names of the volumes in the pool with Cohort's prefix, sorted. */
GPtrArray *cohort_provisioner_list_owned_overlays(CohortProvisioner *self, GError **error);
/* Names of every domain on @conn that carries Cohort's tag (of @owner; NULL: anyone's),
 * sorted: what a provisioner lists, without a pool (cohort-tool list). */
GPtrArray *cohort_provision_list_tagged_domains(virConnectPtr conn, const gchar *owner,
                                                GError **error);
/* Names of @conn's storage pools, sorted: the active ones, and in @inactive (when not NULL)
 * the others, whose volumes libvirt cannot list. */
GPtrArray *cohort_provision_list_pools(virConnectPtr conn, GPtrArray **inactive, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortProvisioner, cohort_provisioner_free)

G_END_DECLS

G_BEGIN_DECLS
/* Asks the guest to shut down, waits up to @timeout_s, then destroys it. */
gboolean cohort_provisioner_domain_shutdown(CohortProvisioner *self, const gchar *domain_name,
                                            gint64 machine_id, guint timeout_s, GError **error);
gboolean cohort_provisioner_domain_reboot(CohortProvisioner *self, const gchar *domain_name,
                                          gint64 machine_id, GError **error);
/* The VNC port of the running domain; -1 when it has none yet. */
/* A socket to the running domain's VNC server, through libvirt and past its authentication
 * (a local connection only: libvirt passes the descriptor over its UNIX socket); -1 with the
 * error otherwise. The caller owns the descriptor. */
gint cohort_provisioner_domain_open_graphics(CohortProvisioner *self, const gchar *domain_name,
                                             gint64 machine_id, GError **error);
gint cohort_provisioner_domain_get_vnc_port(CohortProvisioner *self, const gchar *domain_name,
                                            gint64 machine_id, GError **error);
/* Bytes the machine's overlay takes on disk now; 0 when there is none. */
guint64 cohort_provisioner_overlay_get_allocation(CohortProvisioner *self,
                                                  const gchar *domain_name);
/* Whether the template's base volume is in the pool. */
gboolean cohort_provisioner_base_exists(CohortProvisioner *self, CohortTemplate *tmpl);
/* Uploads the file at @path as the template's base volume through a libvirt stream (works
 * on remote hosts); the volume's format follows the file's (qcow2 or raw). */
gboolean cohort_provisioner_base_upload(CohortProvisioner *self, CohortTemplate *tmpl,
                                        const gchar *path, GError **error);
G_END_DECLS
