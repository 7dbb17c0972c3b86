#define G_LOG_DOMAIN "cohort-provision"

#include "config.h"

#include "cohort-crash.h"
#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision-seed.h"
#include "cohort-provision.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

#include <gio/gio.h>

struct _CohortProvisioner {
    virConnectPtr conn;
    virStoragePoolPtr pool;
    gchar *pool_name;
    gchar *owner; /* the cohortd instance whose machines these are; NULL: any */
    /* what rendered domains say (the host's accelerator): a static string, swapped atomically
     * as workers read it; NULL: as the template says */
    const gchar *domain_type;
};

static const gchar *cohort_provision_step_names[] = {
    [COHORT_PROVISION_STEP_OVERLAY_CREATE] = "creating the overlay",
    [COHORT_PROVISION_STEP_DOMAIN_DEFINE] = "defining the domain",
    [COHORT_PROVISION_STEP_DOMAIN_START] = "starting the domain",
    [COHORT_PROVISION_STEP_DOMAIN_DESTROY] = "destroying the domain",
    [COHORT_PROVISION_STEP_DOMAIN_UNDEFINE] = "undefining the domain",
    [COHORT_PROVISION_STEP_OVERLAY_DELETE] = "deleting the overlay",
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_provision_step_names) == COHORT_PROVISION_STEP_LAST);

const gchar *
cohort_provision_step_to_string(CohortProvisionStep step)
{
    g_return_val_if_fail(step < COHORT_PROVISION_STEP_LAST, "unknown step");
    return cohort_provision_step_names[step];
}

CohortProvisioner *
cohort_provisioner_new(virConnectPtr conn, const gchar *pool, GError **error)
{
    g_autoptr(virStoragePool) pool_ptr = NULL;
    CohortProvisioner *self;

    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(pool != NULL, NULL);

    pool_ptr = virStoragePoolLookupByName(conn, pool);
    if (pool_ptr == NULL) {
        g_autofree gchar *what = g_strdup_printf("looking up storage pool '%s'", pool);
        cohort_virt_set_error(error, what);
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_POOL)
            (*error)->code = COHORT_ERROR_NOT_FOUND;
        return NULL;
    }
    if (virStoragePoolIsActive(pool_ptr) != 1) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                    "storage pool '%s' is not active: start it with 'virsh pool-start %s'", pool,
                    pool);
        return NULL;
    }
    self = g_new0(CohortProvisioner, 1);
    virConnectRef(conn);
    self->conn = conn;
    self->pool = g_steal_pointer(&pool_ptr);
    self->pool_name = g_strdup(pool);
    return self;
}

void
cohort_provisioner_free(CohortProvisioner *self)
{
    if (self == NULL)
        return;
    virStoragePoolFree(self->pool);
    virConnectClose(self->conn);
    g_free(self->pool_name);
    g_free(self->owner);
    g_free(self);
}

void
cohort_provisioner_set_domain_type(CohortProvisioner *self, const gchar *domain_type)
{
    g_return_if_fail(self != NULL);
    g_return_if_fail(domain_type == NULL || g_strcmp0(domain_type, "kvm") == 0 ||
                     g_strcmp0(domain_type, "qemu") == 0);
    /* static strings only: a worker rendering meanwhile holds no copy to free */
    g_atomic_pointer_set(&self->domain_type, domain_type == NULL                  ? NULL
                                             : g_strcmp0(domain_type, "kvm") == 0 ? "kvm"
                                                                                  : "qemu");
}

const gchar *
cohort_provisioner_get_domain_type(CohortProvisioner *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return g_atomic_pointer_get(&self->domain_type);
}

gboolean
cohort_provisioner_offers_kvm(CohortProvisioner *self)
{
    g_autofree gchar *caps = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    /* the domain capabilities for the virt type kvm: libvirt refuses them where KVM is not
     * there (no /dev/kvm, a driver without it such as test:///) */
    caps = virConnectGetDomainCapabilities(self->conn, NULL, NULL, NULL, "kvm", 0);
    if (caps == NULL) {
        g_debug("no kvm: %s", virGetLastErrorMessage());
        return FALSE;
    }
    {
        g_autoptr(xmlDoc) doc = cohort_xml_parse_memory(caps, strlen(caps), "domain capabilities",
                                                        "domainCapabilities", NULL);
        g_autoptr(xmlXPathContext) ctxt = NULL;
        g_autofree gchar *type = NULL;
        if (doc == NULL)
            return FALSE;
        ctxt = xmlXPathNewContext(doc);
        type = cohort_xml_find_string(ctxt, "string(/domainCapabilities/domain)");
        return g_strcmp0(type, "kvm") == 0;
    }
}

virConnectPtr
cohort_provisioner_get_connection(CohortProvisioner *self)
{
    return self->conn;
}

const gchar *
cohort_provisioner_get_pool(CohortProvisioner *self)
{
    return self->pool_name;
}

virStoragePoolPtr
cohort_provisioner_get_storage_pool(CohortProvisioner *self)
{
    return self->pool;
}

gboolean
cohort_provisioner_is_alive(CohortProvisioner *self)
{
    return virConnectIsAlive(self->conn) == 1;
}

static void
cohort_provision_set_step_error(GError **error, CohortProvisionStep step, const gchar *object)
{
    g_autofree gchar *what =
        g_strdup_printf("%s %s", cohort_provision_step_to_string(step), object);
    cohort_virt_set_error(error, what);
}

/* --- volumes ------------------------------------------------------------------------- */

static xmlNode *
cohort_provision_add_text_child(xmlNode *parent, const gchar *name, const gchar *value)
{
    xmlNode *node = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
    cohort_xml_set_text(node, value);
    return node;
}

/* <volume> for a qcow2 file backed by @backing_path, built with the tree API. */
static gchar *
cohort_provision_overlay_xml_new(const gchar *name, guint64 capacity_bytes,
                                 const gchar *backing_path, const gchar *backing_format)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *capacity = g_strdup_printf("%" G_GUINT64_FORMAT, capacity_bytes);
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *target;
    xmlNode *node;

    xmlDocSetRootElement(doc, root);
    cohort_provision_add_text_child(root, "name", name);
    node = cohort_provision_add_text_child(root, "capacity", capacity);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    cohort_provision_add_text_child(root, "allocation", "0");
    target = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(target, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST "qcow2");
    node = xmlNewChild(target, NULL, BAD_CAST "permissions", NULL);
    cohort_provision_add_text_child(node, "mode", "0600");
    node = xmlNewChild(root, NULL, BAD_CAST "backingStore", NULL);
    cohort_provision_add_text_child(node, "path", backing_path);
    node = xmlNewChild(node, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST backing_format);
    return cohort_xml_to_string(doc);
}

typedef struct {
    gchar *path;
    gchar *format;
    gchar *backing_path;
    guint64 capacity_bytes;
} CohortVolumeInfo;

static void
cohort_volume_info_free(CohortVolumeInfo *info)
{
    g_free(info->path);
    g_free(info->format);
    g_free(info->backing_path);
    g_free(info);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortVolumeInfo, cohort_volume_info_free)

static CohortVolumeInfo *
cohort_provision_volume_info_new(virStorageVolPtr vol, GError **error)
{
    g_autofree gchar *xml = virStorageVolGetXMLDesc(vol, 0);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(CohortVolumeInfo) info = g_new0(CohortVolumeInfo, 1);
    g_autofree gchar *capacity = NULL;
    g_autofree gchar *unit = NULL;

    if (xml == NULL) {
        cohort_virt_set_error(error, "reading a volume's description");
        return NULL;
    }
    doc = cohort_xml_parse_memory(xml, strlen(xml), "volume description", "volume", error);
    if (doc == NULL)
        return NULL;
    ctxt = xmlXPathNewContext(doc);
    info->path = cohort_xml_find_string(ctxt, "string(/volume/target/path)");
    info->format = cohort_xml_find_string(ctxt, "string(/volume/target/format/@type)");
    info->backing_path = cohort_xml_find_string(ctxt, "string(/volume/backingStore/path)");
    capacity = cohort_xml_find_string(ctxt, "string(/volume/capacity)");
    unit = cohort_xml_find_string(ctxt, "string(/volume/capacity/@unit)");
    if (capacity != NULL)
        info->capacity_bytes = g_ascii_strtoull(capacity, NULL, 10);
    /* libvirt answers in bytes; anything else would be a surprise worth refusing. */
    if (unit != NULL && g_strcmp0(unit, "bytes") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_LIBVIRT,
                    "volume capacity is in unexpected unit '%s'", unit);
        return NULL;
    }
    if (info->format == NULL)
        info->format = g_strdup("raw");
    return g_steal_pointer(&info);
}

static virStorageVolPtr
cohort_provision_volume_lookup(CohortProvisioner *self, const gchar *name, GError **error)
{
    virStorageVolPtr vol = virStorageVolLookupByName(self->pool, name);

    if (vol == NULL) {
        g_autofree gchar *what =
            g_strdup_printf("looking up volume '%s' in pool '%s'", name, self->pool_name);
        cohort_virt_set_error(error, what);
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_VOL)
            (*error)->code = COHORT_ERROR_NOT_FOUND;
    }
    return vol;
}

gboolean
cohort_provisioner_base_ensure_blank(CohortProvisioner *self, CohortTemplate *tmpl, GError **error)
{
    const gchar *name = cohort_template_get_base_volume(tmpl);
    guint64 capacity = cohort_template_get_disk_mib(tmpl) * 1024 * 1024;
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *capacity_str = g_strdup_printf("%" G_GUINT64_FORMAT, capacity);
    g_autofree gchar *xml = NULL;
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *node;

    vol = virStorageVolLookupByName(self->pool, name);
    if (vol != NULL)
        return TRUE;

    xmlDocSetRootElement(doc, root);
    cohort_provision_add_text_child(root, "name", name);
    node = cohort_provision_add_text_child(root, "capacity", capacity_str);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    cohort_provision_add_text_child(root, "allocation", "0");
    node = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(node, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST "qcow2");
    xml = cohort_xml_to_string(doc);

    vol = virStorageVolCreateXML(self->pool, xml, 0);
    if (vol == NULL) {
        g_autofree gchar *what =
            g_strdup_printf("creating blank base volume '%s' in pool '%s'", name, self->pool_name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    g_info("made blank base volume %s (%" G_GUINT64_FORMAT " MiB) in pool %s", name,
           cohort_template_get_disk_mib(tmpl), self->pool_name);
    return TRUE;
}

gboolean
cohort_provisioner_base_delete(CohortProvisioner *self, CohortTemplate *tmpl, GError **error)
{
    const gchar *name = cohort_template_get_base_volume(tmpl);
    g_autoptr(virStorageVol) vol = virStorageVolLookupByName(self->pool, name);

    if (vol == NULL)
        return TRUE;
    if (virStorageVolDelete(vol, 0) < 0) {
        g_autofree gchar *what = g_strdup_printf("deleting base volume '%s'", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    return TRUE;
}

gchar *
cohort_provisioner_overlay_create(CohortProvisioner *self, CohortTemplate *tmpl,
                                  const gchar *domain_name, GError **error)
{
    g_autofree gchar *name = cohort_names_overlay(domain_name);
    g_autoptr(virStorageVol) base = NULL;
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(CohortVolumeInfo) base_info = NULL;
    g_autofree gchar *xml = NULL;
    guint64 capacity;

    if (!cohort_names_has_prefix(name)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "refusing to make overlay '%s': Cohort's volumes start with '%s'", name,
                    COHORT_NAME_PREFIX);
        return NULL;
    }
    base = cohort_provision_volume_lookup(self, cohort_template_get_base_volume(tmpl), error);
    if (base == NULL) {
        g_prefix_error(error,
                       "template '%s' has no base volume on this host (install it with "
                       "'cohortctl template base %s --blank' or '--path FILE'): ",
                       cohort_template_get_name(tmpl), cohort_template_get_name(tmpl));
        return NULL;
    }
    base_info = cohort_provision_volume_info_new(base, error);
    if (base_info == NULL)
        return NULL;

    /* Idempotence: an overlay of this name on this base is the one an earlier try made. */
    vol = virStorageVolLookupByName(self->pool, name);
    if (vol != NULL) {
        g_autoptr(CohortVolumeInfo) info = cohort_provision_volume_info_new(vol, error);
        if (info == NULL)
            return NULL;
        if (g_strcmp0(info->backing_path, base_info->path) != 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "volume '%s' already exists in pool '%s' and is not a clone of '%s'; "
                        "it is not Cohort's to reuse or remove",
                        name, self->pool_name, base_info->path);
            return NULL;
        }
        return g_steal_pointer(&info->path);
    }

    capacity = MAX(cohort_template_get_disk_mib(tmpl) * 1024 * 1024, base_info->capacity_bytes);
    xml = cohort_provision_overlay_xml_new(name, capacity, base_info->path, base_info->format);
    vol = virStorageVolCreateXML(self->pool, xml, 0);
    if (vol == NULL) {
        cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_OVERLAY_CREATE, name);
        return NULL;
    }
    cohort_crash_point("overlay-created");
    {
        g_autofree gchar *path = virStorageVolGetPath(vol);
        if (path == NULL) {
            cohort_virt_set_error(error, "reading the new overlay's path");
            virStorageVolDelete(vol, 0);
            return NULL;
        }
        return g_steal_pointer(&path);
    }
}

guint64
cohort_provisioner_overlay_get_allocation(CohortProvisioner *self, const gchar *domain_name)
{
    g_autofree gchar *name = cohort_names_overlay(domain_name);
    g_autoptr(virStorageVol) vol = virStorageVolLookupByName(self->pool, name);
    virStorageVolInfo info;

    if (vol == NULL || virStorageVolGetInfo(vol, &info) < 0)
        return 0;
    return info.allocation;
}

gboolean
cohort_provisioner_overlay_delete(CohortProvisioner *self, const gchar *domain_name, GError **error)
{
    g_autofree gchar *name = cohort_names_overlay(domain_name);
    g_autoptr(virStorageVol) vol = NULL;

    if (!cohort_names_has_prefix(name)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                    "refusing to delete volume '%s': it does not carry Cohort's prefix '%s'", name,
                    COHORT_NAME_PREFIX);
        return FALSE;
    }
    vol = virStorageVolLookupByName(self->pool, name);
    if (vol == NULL) {
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_VOL)
            return TRUE;
        cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_OVERLAY_DELETE, name);
        return FALSE;
    }
    if (virStorageVolDelete(vol, 0) < 0) {
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_VOL)
            return TRUE;
        cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_OVERLAY_DELETE, name);
        return FALSE;
    }
    return TRUE;
}

/* --- domains ------------------------------------------------------------------------- */

void
cohort_provisioner_set_owner(CohortProvisioner *self, const gchar *owner)
{
    g_free(self->owner);
    self->owner = g_strdup(owner);
}

gint64
cohort_provisioner_domain_get_tag(virDomainPtr dom, gchar **owner)
{
    g_autofree gchar *xml =
        virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, COHORT_MACHINE_XMLNS, 0);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *id = NULL;
    gint64 value = 0;

    if (owner != NULL)
        *owner = NULL;
    if (xml == NULL)
        return 0;
    doc = cohort_xml_parse_memory(xml, strlen(xml), "domain metadata", "machine", &error);
    if (doc == NULL) {
        g_warning("domain %s carries an unreadable Cohort tag: %s", virDomainGetName(dom),
                  error->message);
        return 0;
    }
    id = (gchar *)xmlGetProp(xmlDocGetRootElement(doc), BAD_CAST "id");
    if (id == NULL || !g_ascii_string_to_signed(id, 10, 1, G_MAXINT64, &value, NULL))
        return 0;
    if (owner != NULL)
        *owner = (gchar *)xmlGetProp(xmlDocGetRootElement(doc), BAD_CAST "owner");
    return value;
}

gint64
cohort_provisioner_domain_get_machine_id(virDomainPtr dom)
{
    return cohort_provisioner_domain_get_tag(dom, NULL);
}

/* The domain named @name when it is machine @machine_id's; NULL with @error unset when there
 * is no such domain; NULL with COHORT_ERROR_CONFLICT when it belongs to someone else. */
static virDomainPtr
cohort_provision_domain_lookup_owned(CohortProvisioner *self, const gchar *name, gint64 machine_id,
                                     GError **error)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(self->conn, name);
    g_autofree gchar *tag_owner = NULL;
    gint64 owner;

    if (dom == NULL) {
        if (cohort_virt_last_error_code() != VIR_ERR_NO_DOMAIN) {
            g_autofree gchar *what = g_strdup_printf("looking up domain '%s'", name);
            cohort_virt_set_error(error, what);
        }
        return NULL;
    }
    owner = cohort_provisioner_domain_get_tag(dom, &tag_owner);
    if (owner == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "domain '%s' exists and does not carry Cohort's tag; Cohort never touches "
                    "it: rename it or remove it yourself",
                    name);
        return NULL;
    }
    if (self->owner != NULL && g_strcmp0(tag_owner, self->owner) != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "domain '%s' belongs to another Cohort installation (%s); this one never "
                    "touches it",
                    name, tag_owner != NULL ? tag_owner : "no owner");
        return NULL;
    }
    if (owner != machine_id) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "domain '%s' belongs to Cohort machine %" G_GINT64_FORMAT
                    ", not to machine %" G_GINT64_FORMAT,
                    name, owner, machine_id);
        return NULL;
    }
    return g_steal_pointer(&dom);
}

/* Finds the domain for @what (a step's words, for the error): FALSE with the error when a
 * domain of that name is not this machine's (or libvirt fails); TRUE with *@dom NULL when
 * there is no such domain. */
static gboolean
cohort_provision_domain_find(CohortProvisioner *self, const gchar *name, gint64 machine_id,
                             const gchar *what, virDomainPtr *dom, GError **error)
{
    g_autoptr(GError) error_local = NULL;

    *dom = cohort_provision_domain_lookup_owned(self, name, machine_id, &error_local);
    if (error_local != NULL) {
        g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s '%s': ", what, name);
        return FALSE;
    }
    return TRUE;
}

/* As above, and a missing domain is an error too. */
static gboolean
cohort_provision_domain_require(CohortProvisioner *self, const gchar *name, gint64 machine_id,
                                const gchar *what, virDomainPtr *dom, GError **error)
{
    if (!cohort_provision_domain_find(self, name, machine_id, what, dom, error))
        return FALSE;
    if (*dom == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "%s '%s': no such domain", what,
                    name);
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_provisioner_domain_define(CohortProvisioner *self, CohortTemplate *tmpl,
                                 const CohortMachineSpec *spec, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    g_autofree gchar *xml = NULL;

    /* this machine's domain already: an earlier try defined it */
    if (!cohort_provision_domain_find(
            self, spec->domain_name, spec->machine_id,
            cohort_provision_step_to_string(COHORT_PROVISION_STEP_DOMAIN_DEFINE), &dom, error))
        return FALSE;
    if (dom != NULL)
        return TRUE;
    {
        CohortMachineSpec spec_owned = *spec;
        if (spec_owned.owner == NULL)
            spec_owned.owner = self->owner;
        if (spec_owned.domain_type == NULL)
            spec_owned.domain_type = cohort_provisioner_get_domain_type(self);
        xml = cohort_template_render(tmpl, &spec_owned, error);
    }
    if (xml == NULL)
        return FALSE;
    /* The rendering was validated against libvirt's domain.rng already, with the schema
     * parsed once per process; VIR_DOMAIN_DEFINE_VALIDATE would have libvirt parse the
     * schema again for every machine (95% of a define on the test driver, see bench/). */
    dom = virDomainDefineXML(self->conn, xml);
    if (dom == NULL) {
        cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_DOMAIN_DEFINE,
                                        spec->domain_name);
        return FALSE;
    }
    cohort_crash_point("domain-defined");
    return TRUE;
}

gboolean
cohort_provisioner_domain_start(CohortProvisioner *self, const gchar *domain_name,
                                gint64 machine_id, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (!cohort_provision_domain_require(
            self, domain_name, machine_id,
            cohort_provision_step_to_string(COHORT_PROVISION_STEP_DOMAIN_START), &dom, error))
        return FALSE;
    if (virDomainIsActive(dom) == 1)
        return TRUE;
    if (virDomainCreate(dom) < 0) {
        /* Lost a race with another start: running is what was asked for. */
        if (cohort_virt_last_error_code() == VIR_ERR_OPERATION_INVALID &&
            virDomainIsActive(dom) == 1)
            return TRUE;
        cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_DOMAIN_START, domain_name);
        return FALSE;
    }
    cohort_crash_point("domain-started");
    return TRUE;
}

gboolean
cohort_provisioner_domain_destroy(CohortProvisioner *self, const gchar *domain_name,
                                  gint64 machine_id, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (!cohort_provision_domain_find(
            self, domain_name, machine_id,
            cohort_provision_step_to_string(COHORT_PROVISION_STEP_DOMAIN_DESTROY), &dom, error))
        return FALSE;
    if (dom == NULL)
        return TRUE;
    if (virDomainIsActive(dom) != 1)
        return TRUE;
    if (virDomainDestroy(dom) < 0) {
        if (cohort_virt_last_error_code() == VIR_ERR_OPERATION_INVALID &&
            virDomainIsActive(dom) != 1)
            return TRUE;
        cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_DOMAIN_DESTROY, domain_name);
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_provisioner_domain_undefine(CohortProvisioner *self, const gchar *domain_name,
                                   gint64 machine_id, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    const guint flags_full = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                             VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                             VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
    /* Drivers without NVRAM or checkpoints refuse those flags; the rest still must go. */
    const guint flags_basic =
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;

    if (!cohort_provision_domain_find(
            self, domain_name, machine_id,
            cohort_provision_step_to_string(COHORT_PROVISION_STEP_DOMAIN_UNDEFINE), &dom, error))
        return FALSE;
    if (dom == NULL)
        return TRUE;
    if (virDomainUndefineFlags(dom, flags_full) == 0)
        return TRUE;
    if (cohort_virt_last_error_code() == VIR_ERR_NO_DOMAIN)
        return TRUE;
    if (virDomainUndefineFlags(dom, flags_basic) == 0)
        return TRUE;
    if (cohort_virt_last_error_code() == VIR_ERR_NO_DOMAIN)
        return TRUE;
    cohort_provision_set_step_error(error, COHORT_PROVISION_STEP_DOMAIN_UNDEFINE, domain_name);
    return FALSE;
}

/* --- whole machines ------------------------------------------------------------------ */

/* Best effort: the original error is the one that matters; a rollback failure is logged, and
 * a later teardown or reconcile finishes the job. */
static void
cohort_provision_machine_rollback(CohortProvisioner *self, const CohortMachineSpec *spec,
                                  gboolean made_domain, gboolean made_overlay, gboolean made_seed)
{
    g_autoptr(GError) error_rb = NULL;

    if (made_domain &&
        (!cohort_provisioner_domain_destroy(self, spec->domain_name, spec->machine_id, &error_rb) ||
         !cohort_provisioner_domain_undefine(self, spec->domain_name, spec->machine_id,
                                             &error_rb))) {
        g_warning("rolling back %s: %s", spec->domain_name, error_rb->message);
        g_clear_error(&error_rb);
    }
    if (made_overlay && !cohort_provisioner_overlay_delete(self, spec->domain_name, &error_rb)) {
        g_warning("rolling back %s: %s", spec->domain_name, error_rb->message);
        g_clear_error(&error_rb);
    }
    /* (a domain kept from before refers to its seed: the caller keeps that one) */
    if (made_seed && !cohort_provisioner_seed_delete(self, spec->domain_name, &error_rb))
        g_warning("rolling back %s: %s", spec->domain_name, error_rb->message);
}

gboolean
cohort_provisioner_machine_create(CohortProvisioner *self, CohortTemplate *tmpl,
                                  const CohortMachineSpec *spec, GError **error)
{
    return cohort_provisioner_machine_create_seeded(self, tmpl, spec, NULL, error);
}

gboolean
cohort_provisioner_machine_create_seeded(CohortProvisioner *self, CohortTemplate *tmpl,
                                         const CohortMachineSpec *spec, GBytes *seed,
                                         GError **error)
{
    g_autofree gchar *seed_name = cohort_names_seed(spec->domain_name);
    g_autofree gchar *overlay_name = cohort_names_overlay(spec->domain_name);
    g_autofree gchar *disk_path = NULL;
    g_autoptr(virStorageVol) existing_vol = NULL;
    g_autoptr(virDomain) existing_dom = NULL;
    CohortMachineSpec spec_local = *spec;
    gboolean made_overlay;
    gboolean made_domain;

    g_return_val_if_fail(spec->machine_id > 0, FALSE);
    g_return_val_if_fail(spec->domain_name != NULL, FALSE);

    /* What exists before this call stays if it fails: rollback undoes only our own steps. */
    existing_vol = virStorageVolLookupByName(self->pool, overlay_name);
    existing_dom = virDomainLookupByName(self->conn, spec->domain_name);
    made_overlay = existing_vol == NULL;
    made_domain = existing_dom == NULL;

    disk_path = cohort_provisioner_overlay_create(self, tmpl, spec->domain_name, error);
    if (disk_path == NULL)
        return FALSE;
    spec_local.disk_path = disk_path;
    if (seed != NULL) {
        if (!cohort_provisioner_seed_create(self, spec->domain_name, seed, error)) {
            cohort_provision_machine_rollback(self, spec, FALSE, made_overlay, FALSE);
            return FALSE;
        }
        spec_local.seed_pool = self->pool_name;
        spec_local.seed_volume = seed_name;
    }
    if (!cohort_provisioner_domain_define(self, tmpl, &spec_local, error)) {
        cohort_provision_machine_rollback(self, spec, FALSE, made_overlay, seed != NULL);
        return FALSE;
    }
    if (!cohort_provisioner_domain_start(self, spec->domain_name, spec->machine_id, error)) {
        cohort_provision_machine_rollback(self, spec, made_domain, made_overlay,
                                          seed != NULL && made_domain);
        return FALSE;
    }
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_INFO, "COHORT_COHORT", spec->cohort,
                     "COHORT_MACHINE", spec->domain_name, "MESSAGE",
                     "machine %s started from template %s", spec->domain_name,
                     cohort_template_get_name(tmpl));
    return TRUE;
}

gboolean
cohort_provisioner_machine_teardown(CohortProvisioner *self, const gchar *domain_name,
                                    gint64 machine_id, GError **error)
{
    if (!cohort_provisioner_domain_destroy(self, domain_name, machine_id, error))
        return FALSE;
    cohort_crash_point("domain-destroyed");
    if (!cohort_provisioner_domain_undefine(self, domain_name, machine_id, error))
        return FALSE;
    cohort_crash_point("domain-undefined");
    if (!cohort_provisioner_overlay_delete(self, domain_name, error))
        return FALSE;
    cohort_crash_point("overlay-deleted");
    if (!cohort_provisioner_seed_delete(self, domain_name, error))
        return FALSE;
    cohort_crash_point("seed-deleted");
    return TRUE;
}

/* --- listing ------------------------------------------------------------------------- */

static gint
cohort_provision_strcmp_ptr(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* Whether @dom carries Cohort's tag, of @owner when not NULL. */
static gboolean
cohort_provision_domain_tagged_by(virDomainPtr dom, const gchar *owner)
{
    g_autofree gchar *tag_owner = NULL;
    gint64 id = cohort_provisioner_domain_get_tag(dom, &tag_owner);

    return id > 0 && (owner == NULL || g_strcmp0(tag_owner, owner) == 0);
}

GPtrArray *
cohort_provision_list_tagged_domains(virConnectPtr conn, const gchar *owner, GError **error)
{
    virDomainPtr *doms = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    int n = virConnectListAllDomains(conn, &doms, 0);

    if (n < 0) {
        cohort_virt_set_error(error, "listing domains");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (cohort_provision_domain_tagged_by(doms[i], owner))
            g_ptr_array_add(names, g_strdup(virDomainGetName(doms[i])));
        virDomainFree(doms[i]);
    }
    free(doms);
    g_ptr_array_sort(names, cohort_provision_strcmp_ptr);
    return g_steal_pointer(&names);
}

GPtrArray *
cohort_provisioner_list_owned_domains(CohortProvisioner *self, GError **error)
{
    return cohort_provision_list_tagged_domains(self->conn, self->owner, error);
}

GPtrArray *
cohort_provision_list_pools(virConnectPtr conn, GPtrArray **inactive, GError **error)
{
    virStoragePoolPtr *pools = NULL;
    g_autoptr(GPtrArray) active = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) others = g_ptr_array_new_with_free_func(g_free);
    int n = virConnectListAllStoragePools(conn, &pools, 0);

    if (n < 0) {
        cohort_virt_set_error(error, "listing storage pools");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        gchar *name = g_strdup(virStoragePoolGetName(pools[i]));
        g_ptr_array_add(virStoragePoolIsActive(pools[i]) == 1 ? active : others, name);
        virStoragePoolFree(pools[i]);
    }
    free(pools);
    g_ptr_array_sort(active, cohort_provision_strcmp_ptr);
    g_ptr_array_sort(others, cohort_provision_strcmp_ptr);
    if (inactive != NULL)
        *inactive = g_steal_pointer(&others);
    return g_steal_pointer(&active);
}

GPtrArray *
cohort_provisioner_list_owned_overlays(CohortProvisioner *self, GError **error)
{
    virStorageVolPtr *vols = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    int n;

    /* Files made behind libvirt's back (or by another connection) show after a refresh. */
    if (virStoragePoolRefresh(self->pool, 0) < 0)
        g_debug("pool %s not refreshed (%s): listing what libvirt knows", self->pool_name,
                virGetLastErrorMessage());
    n = virStoragePoolListAllVolumes(self->pool, &vols, 0);
    if (n < 0) {
        cohort_virt_set_error(error, "listing volumes");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const gchar *name = virStorageVolGetName(vols[i]);
        if (cohort_names_has_prefix(name) && g_str_has_suffix(name, ".qcow2"))
            g_ptr_array_add(names, g_strdup(name));
        virStorageVolFree(vols[i]);
    }
    free(vols);
    g_ptr_array_sort(names, cohort_provision_strcmp_ptr);
    return g_steal_pointer(&names);
}

/* --- operations on running machines -------------------------------------------------- */

gboolean
cohort_provisioner_domain_shutdown(CohortProvisioner *self, const gchar *domain_name,
                                   gint64 machine_id, guint timeout_s, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    gint64 deadline;

    if (!cohort_provision_domain_require(self, domain_name, machine_id, "shutting down domain",
                                         &dom, error))
        return FALSE;
    if (virDomainIsActive(dom) != 1)
        return TRUE;
    /* A guest without ACPI support ignores the request; the deadline covers that too. */
    if (virDomainShutdown(dom) < 0 && virDomainIsActive(dom) == 1)
        g_debug("%s: graceful shutdown refused: %s", domain_name, virGetLastErrorMessage());
    deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    while (virDomainIsActive(dom) == 1 && g_get_monotonic_time() < deadline)
        g_usleep(200 * 1000);
    if (virDomainIsActive(dom) != 1)
        return TRUE;
    g_info("%s did not shut down within %u s: forcing it off", domain_name, timeout_s);
    return cohort_provisioner_domain_destroy(self, domain_name, machine_id, error);
}

gboolean
cohort_provisioner_domain_reboot(CohortProvisioner *self, const gchar *domain_name,
                                 gint64 machine_id, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (!cohort_provision_domain_require(self, domain_name, machine_id, "rebooting domain", &dom,
                                         error))
        return FALSE;
    if (virDomainIsActive(dom) != 1)
        return cohort_provisioner_domain_start(self, domain_name, machine_id, error);
    /* a reset, not an ACPI request: trainees reboot machines that no longer answer */
    if (virDomainReset(dom, 0) < 0 && virDomainReboot(dom, 0) < 0) {
        g_autofree gchar *what = g_strdup_printf("rebooting domain '%s'", domain_name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    return TRUE;
}

gint
cohort_provisioner_domain_get_vnc_port(CohortProvisioner *self, const gchar *domain_name,
                                       gint64 machine_id, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    g_autofree gchar *xml = NULL;
    g_autofree gchar *port = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    gint64 value = -1;

    if (!cohort_provision_domain_require(self, domain_name, machine_id, "reading the console of",
                                         &dom, error))
        return -1;
    xml = virDomainGetXMLDesc(dom, 0);
    if (xml == NULL) {
        cohort_virt_set_error(error, "reading the domain's description");
        return -1;
    }
    doc = cohort_xml_parse_memory(xml, strlen(xml), "domain description", "domain", error);
    if (doc == NULL)
        return -1;
    ctxt = xmlXPathNewContext(doc);
    port = cohort_xml_find_string(ctxt, "string(/domain/devices/graphics[@type='vnc']/@port)");
    if (port == NULL || !g_ascii_string_to_signed(port, 10, -1, 65535, &value, NULL))
        return -1;
    return (gint)value;
}

gint
cohort_provisioner_domain_open_graphics(CohortProvisioner *self, const gchar *domain_name,
                                        gint64 machine_id, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    int fd;

    if (!cohort_provision_domain_require(self, domain_name, machine_id, "opening the console of",
                                         &dom, error))
        return -1;
    /* libvirt hands over a socket already past VNC's authentication: the password never
     * needs to reach the browser */
    fd = virDomainOpenGraphicsFD(dom, 0, VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH);
    if (fd < 0) {
        cohort_virt_set_error(error, "opening the domain's console");
        return -1;
    }
    return fd;
}

gboolean
cohort_provisioner_base_exists(CohortProvisioner *self, CohortTemplate *tmpl)
{
    g_autoptr(virStorageVol) vol =
        virStorageVolLookupByName(self->pool, cohort_template_get_base_volume(tmpl));
    return vol != NULL;
}

static gboolean
cohort_provision_file_is_qcow2(const gchar *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileInputStream) in = g_file_read(file, NULL, &error);
    guint8 magic[4] = {0};

    if (in == NULL ||
        g_input_stream_read(G_INPUT_STREAM(in), magic, sizeof(magic), NULL, &error) != 4)
        return FALSE;
    return magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && magic[3] == 0xfb;
}

static int
cohort_provision_stream_source(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
    return (int)g_input_stream_read(G_INPUT_STREAM(opaque), data, nbytes, NULL, NULL);
}

gboolean
cohort_provisioner_base_upload(CohortProvisioner *self, CohortTemplate *tmpl, const gchar *path,
                               GError **error)
{
    const gchar *name = cohort_template_get_base_volume(tmpl);
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileInfo) info = NULL;
    g_autoptr(GFileInputStream) in = NULL;
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *size_str = NULL;
    g_autofree gchar *xml = NULL;
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *node;
    virStreamPtr st;
    guint64 size;

    info = g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE, NULL,
                             error);
    if (info == NULL)
        return FALSE;
    in = g_file_read(file, NULL, error);
    if (in == NULL)
        return FALSE;
    vol = virStorageVolLookupByName(self->pool, name);
    if (vol != NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "base volume '%s' already exists in pool '%s'; machines may be using it, "
                    "so Cohort does not replace it",
                    name, self->pool_name);
        return FALSE;
    }
    size = (guint64)g_file_info_get_size(info);
    size_str = g_strdup_printf("%" G_GUINT64_FORMAT, size);
    xmlDocSetRootElement(doc, root);
    cohort_provision_add_text_child(root, "name", name);
    node = cohort_provision_add_text_child(root, "capacity", size_str);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    node = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(node, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type",
               BAD_CAST(cohort_provision_file_is_qcow2(path) ? "qcow2" : "raw"));
    xml = cohort_xml_to_string(doc);
    vol = virStorageVolCreateXML(self->pool, xml, 0);
    if (vol == NULL) {
        g_autofree gchar *what = g_strdup_printf("creating base volume '%s'", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    st = virStreamNew(self->conn, 0);
    if (virStorageVolUpload(vol, st, 0, size, 0) < 0 ||
        virStreamSendAll(st, cohort_provision_stream_source, in) < 0 || virStreamFinish(st) < 0) {
        g_autofree gchar *what = g_strdup_printf("uploading %s to base volume '%s'", path, name);
        cohort_virt_set_error(error, what);
        virStreamAbort(st);
        virStreamFree(st);
        virStorageVolDelete(vol, 0);
        return FALSE;
    }
    virStreamFree(st);
    return TRUE;
}
