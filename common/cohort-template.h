/* Domain templates: a libvirt domain XML plus Cohort's <cohort:template> in <metadata>. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Namespace of the template's own element in the author's <metadata>. */
#define COHORT_TEMPLATE_XMLNS "urn:x-cohort:template:1"
/* Namespace of the element a rendered machine carries: the tag that proves ownership. */
#define COHORT_MACHINE_XMLNS "urn:x-cohort:machine:1"
#define COHORT_MACHINE_XMLNS_PREFIX "cohort"

typedef struct _CohortTemplate CohortTemplate;

/* What a rendering needs to know about one machine. Strings are borrowed. */
typedef struct {
    const gchar *domain_name;  /* libvirt name, e.g. cohort-cloud-101-sok-dara */
    const gchar *uuid;         /* NULL: a new random one */
    gint64 machine_id;         /* the store's row id */
    const gchar *cohort;       /* slug */
    const gchar *trainee;      /* login (slug) */
    const gchar *display_name; /* any UTF-8, NULL allowed */
    guint vcpus;               /* 0: the template's default */
    guint64 memory_mib;        /* 0: the template's default */
    const gchar *disk_path;    /* the overlay volume's path, becomes the first disk's source */
    const gchar *network;      /* NULL: NICs stay as the author wrote them */
    const gchar *vnc_password; /* NULL: none set (tests only) */
    const gchar *vnc_listen;   /* NULL: 127.0.0.1 */
    const gchar *owner;        /* the cohortd instance's UUID in the tag; NULL: none */
    const gchar *seed_pool;    /* the pool of the cloud-init seed volume */
    const gchar *seed_volume;  /* attached read-only as a CD-ROM; NULL: no seed disc */
    const gchar *domain_type;  /* <domain type=…>: the host's ("kvm", "qemu"); NULL: as written */
} CohortMachineSpec;

CohortTemplate *cohort_template_new_from_file(const gchar *path, GError **error);
CohortTemplate *cohort_template_new_from_data(const gchar *data, gsize len, const gchar *name,
                                              GError **error);
/* Templates are shared: the daemon's table holds one reference, work under way another. */
CohortTemplate *cohort_template_ref(CohortTemplate *self);
void cohort_template_unref(CohortTemplate *self);

const gchar *cohort_template_get_name(CohortTemplate *self);
const gchar *cohort_template_get_path(CohortTemplate *self);
const gchar *cohort_template_get_description(CohortTemplate *self);
const gchar *cohort_template_get_base_pool(CohortTemplate *self);
const gchar *cohort_template_get_base_volume(CohortTemplate *self);
guint cohort_template_get_vcpus(CohortTemplate *self);
guint64 cohort_template_get_memory_mib(CohortTemplate *self);
guint64 cohort_template_get_disk_mib(CohortTemplate *self);
/* How many NICs the template has: a machine with none needs no cohort network. */
guint cohort_template_get_n_interfaces(CohortTemplate *self);
/* Whether the guest runs the QEMU guest agent (the default; <cohort:guest-agent>no</…> says
 * it does not): its machines are ready when the agent connects, or else at the first DHCP
 * lease. */
gboolean cohort_template_get_guest_agent(CohortTemplate *self);
/* Whether machines of the template get a cloud-init seed disc (<cohort:seed enabled="no"/>
 * turns it off), and the guest account the seed makes (<cohort:seed user="NAME"/>; NULL: the
 * trainee's login). */
gboolean cohort_template_get_seed_enabled(CohortTemplate *self);
const gchar *cohort_template_get_seed_user(CohortTemplate *self);
/* Whether both were made from the same bytes (a reload tells changed from unchanged). */
gboolean cohort_template_same_source(CohortTemplate *self, CohortTemplate *other);

/* Checks every field of @spec (COHORT_ERROR_INVALID_ARGUMENT naming the field): names and
 * slugs, display name (UTF-8, <= 200 bytes, no control characters), vcpus 0 or 1..256,
 * memory 0 or 16..1048576 MiB, absolute disk path, VNC password 1..8 printable ASCII, VNC
 * listen an IP literal. cohort_template_render() calls it first. */
gboolean cohort_machine_spec_validate(const CohortMachineSpec *spec, GError **error);

/* The domain XML for @spec, validated against libvirt's domain.rng. */
gchar *cohort_template_render(CohortTemplate *self, const CohortMachineSpec *spec, GError **error);

/* A spec for a made-up machine, for `cohortd --check-template` and tests. */
void cohort_machine_spec_init_sample(CohortMachineSpec *spec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortTemplate, cohort_template_unref)

G_END_DECLS
