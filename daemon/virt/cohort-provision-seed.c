#define G_LOG_DOMAIN "cohort-provision"

#include "config.h"

#include <string.h>

#include "cohort-crash.h"
#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision-seed.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStream, virStreamFree)

static gboolean
cohort_provision_seed_name_check(const gchar *name, GError **error)
{
    if (cohort_names_has_prefix(name))
        return TRUE;
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                "refusing to touch volume '%s': it does not carry Cohort's prefix '%s'", name,
                COHORT_NAME_PREFIX);
    return FALSE;
}

static gboolean
cohort_provision_is_test_driver(CohortProvisioner *self)
{
    const gchar *type = virConnectGetType(cohort_provisioner_get_connection(self));
    return type != NULL && g_ascii_strcasecmp(type, "TEST") == 0;
}

gboolean
cohort_provisioner_seed_exists(CohortProvisioner *self, const gchar *domain_name)
{
    g_autofree gchar *name = cohort_names_seed(domain_name);
    g_autoptr(virStorageVol) vol =
        virStorageVolLookupByName(cohort_provisioner_get_storage_pool(self), name);
    return vol != NULL;
}

gboolean
cohort_provisioner_seed_delete(CohortProvisioner *self, const gchar *domain_name, GError **error)
{
    g_autofree gchar *name = cohort_names_seed(domain_name);
    g_autoptr(virStorageVol) vol = NULL;

    if (!cohort_provision_seed_name_check(name, error))
        return FALSE;
    vol = virStorageVolLookupByName(cohort_provisioner_get_storage_pool(self), name);
    if (vol == NULL) {
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_VOL)
            return TRUE;
        g_autofree gchar *what = g_strdup_printf("deleting the seed volume %s", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    if (virStorageVolDelete(vol, 0) < 0 &&
        cohort_virt_last_error_code() != VIR_ERR_NO_STORAGE_VOL) {
        g_autofree gchar *what = g_strdup_printf("deleting the seed volume %s", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    return TRUE;
}

typedef struct {
    const guint8 *data;
    gsize len;
    gsize sent;
} CohortSeedSource;

static int
cohort_provision_seed_source(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
    CohortSeedSource *src = opaque;
    gsize n = MIN(nbytes, src->len - src->sent);

    memcpy(data, src->data + src->sent, n);
    src->sent += n;
    return (int)n;
}

static gchar *
cohort_provision_seed_xml_new(const gchar *name, gsize size)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *capacity = g_strdup_printf("%" G_GSIZE_FORMAT, size);
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *node;
    xmlNode *target;

    xmlDocSetRootElement(doc, root);
    node = xmlNewChild(root, NULL, BAD_CAST "name", NULL);
    cohort_xml_set_text(node, name);
    node = xmlNewChild(root, NULL, BAD_CAST "capacity", NULL);
    cohort_xml_set_text(node, capacity);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    node = xmlNewChild(root, NULL, BAD_CAST "allocation", NULL);
    cohort_xml_set_text(node, "0");
    target = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(target, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST "raw");
    /* QEMU reads it (as libvirt-qemu): the guest password is in it only as a hash */
    node = xmlNewChild(target, NULL, BAD_CAST "permissions", NULL);
    node = xmlNewChild(node, NULL, BAD_CAST "mode", NULL);
    cohort_xml_set_text(node, "0644");
    return cohort_xml_to_string(doc);
}

gboolean
cohort_provisioner_seed_create(CohortProvisioner *self, const gchar *domain_name, GBytes *image,
                               GError **error)
{
    g_autofree gchar *name = cohort_names_seed(domain_name);
    g_autofree gchar *xml = NULL;
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(virStream) st = NULL;
    CohortSeedSource src = {0};

    g_return_val_if_fail(image != NULL, FALSE);

    if (!cohort_provision_seed_name_check(name, error))
        return FALSE;
    /* made anew: an earlier try's, or the one before a reset, says the old things */
    if (!cohort_provisioner_seed_delete(self, domain_name, error))
        return FALSE;
    src.data = g_bytes_get_data(image, &src.len);
    xml = cohort_provision_seed_xml_new(name, src.len);
    vol = virStorageVolCreateXML(cohort_provisioner_get_storage_pool(self), xml, 0);
    if (vol == NULL) {
        g_autofree gchar *what = g_strdup_printf("creating the seed volume %s", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    st = virStreamNew(cohort_provisioner_get_connection(self), 0);
    if (st == NULL || virStorageVolUpload(vol, st, 0, src.len, 0) < 0) {
        /* libvirt's test driver implements no volume upload (src/test/test_driver.c has no
         * storageVolUpload): there the seed stays an empty volume of the right size */
        if (cohort_virt_last_error_code() == VIR_ERR_NO_SUPPORT &&
            cohort_provision_is_test_driver(self)) {
            g_debug("%s: the test driver cannot upload; the seed volume stays empty", name);
            cohort_crash_point("seed-uploaded");
            return TRUE;
        }
        g_autofree gchar *what = g_strdup_printf("uploading the seed volume %s", name);
        cohort_virt_set_error(error, what);
        virStorageVolDelete(vol, 0);
        return FALSE;
    }
    if (virStreamSendAll(st, cohort_provision_seed_source, &src) < 0 || virStreamFinish(st) < 0) {
        g_autofree gchar *what = g_strdup_printf("uploading the seed volume %s", name);
        cohort_virt_set_error(error, what);
        virStreamAbort(st);
        virStorageVolDelete(vol, 0);
        return FALSE;
    }
    cohort_crash_point("seed-uploaded");
    return TRUE;
}

static int
cohort_provision_seed_sink(virStreamPtr st, const char *data, size_t nbytes, void *opaque)
{
    g_byte_array_append(opaque, (const guint8 *)data, (guint)nbytes);
    return (int)nbytes;
}

GBytes *
cohort_provisioner_seed_download(CohortProvisioner *self, const gchar *domain_name, GError **error)
{
    g_autofree gchar *name = cohort_names_seed(domain_name);
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(virStream) st = NULL;
    g_autoptr(GByteArray) out = g_byte_array_new();

    vol = virStorageVolLookupByName(cohort_provisioner_get_storage_pool(self), name);
    if (vol == NULL) {
        g_autofree gchar *what = g_strdup_printf("looking up the seed volume %s", name);
        cohort_virt_set_error(error, what);
        return NULL;
    }
    st = virStreamNew(cohort_provisioner_get_connection(self), 0);
    if (st == NULL || virStorageVolDownload(vol, st, 0, 0, 0) < 0 ||
        virStreamRecvAll(st, cohort_provision_seed_sink, out) < 0 || virStreamFinish(st) < 0) {
        g_autofree gchar *what = g_strdup_printf("downloading the seed volume %s", name);
        cohort_virt_set_error(error, what);
        if (st != NULL)
            virStreamAbort(st);
        return NULL;
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static gint
cohort_provision_seed_strcmp(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

GPtrArray *
cohort_provisioner_list_owned_seeds(CohortProvisioner *self, GError **error)
{
    virStorageVolPtr *vols = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    virStoragePoolPtr pool = cohort_provisioner_get_storage_pool(self);
    int n;

    if (virStoragePoolRefresh(pool, 0) < 0)
        g_debug("pool %s not refreshed (%s): listing what libvirt knows",
                cohort_provisioner_get_pool(self), virGetLastErrorMessage());
    n = virStoragePoolListAllVolumes(pool, &vols, 0);
    if (n < 0) {
        cohort_virt_set_error(error, "listing volumes");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const gchar *name = virStorageVolGetName(vols[i]);
        if (cohort_names_has_prefix(name) && g_str_has_suffix(name, COHORT_NAMES_SEED_SUFFIX))
            g_ptr_array_add(names, g_strdup(name));
        virStorageVolFree(vols[i]);
    }
    free(vols);
    g_ptr_array_sort(names, cohort_provision_seed_strcmp);
    return g_steal_pointer(&names);
}
