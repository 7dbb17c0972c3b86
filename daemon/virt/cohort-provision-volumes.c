#define G_LOG_DOMAIN "cohort-provision"

#include "config.h"

#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision-volumes.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStream, virStreamFree)

/* What a stream carries at a time, and how often progress is told. */
#define COHORT_STREAM_CHUNK (1024 * 1024)
#define COHORT_STREAM_PROGRESS_EVERY (4 * 1024 * 1024)

gboolean
cohort_provisioner_pool_usage(CohortProvisioner *self, CohortPoolUsage *usage, GError **error)
{
    virStoragePoolPtr pool = cohort_provisioner_get_storage_pool(self);
    virStoragePoolInfo info;
    virStorageVolPtr *vols = NULL;
    int n;

    *usage = (CohortPoolUsage){0};
    /* free space as the host sees it now, not when the pool was started */
    if (virStoragePoolRefresh(pool, 0) < 0)
        g_debug("pool %s not refreshed (%s): using what libvirt knows",
                cohort_provisioner_get_pool(self), virGetLastErrorMessage());
    if (virStoragePoolGetInfo(pool, &info) < 0) {
        cohort_virt_set_error(error, "reading the storage pool's size");
        return FALSE;
    }
    usage->capacity_bytes = info.capacity;
    usage->available_bytes = info.available;
    n = virStoragePoolListAllVolumes(pool, &vols, 0);
    if (n < 0) {
        cohort_virt_set_error(error, "listing volumes");
        return FALSE;
    }
    for (int i = 0; i < n; i++) {
        const gchar *name = virStorageVolGetName(vols[i]);
        virStorageVolInfo vinfo;
        if (cohort_names_has_prefix(name) && g_str_has_suffix(name, ".qcow2") &&
            virStorageVolGetInfo(vols[i], &vinfo) == 0)
            usage->overlays_bytes += vinfo.allocation;
        virStorageVolFree(vols[i]);
    }
    free(vols);
    return TRUE;
}

gboolean
cohort_provisioner_node_info(CohortProvisioner *self, guint *vcpus, guint64 *memory_mib,
                             GError **error)
{
    virNodeInfo info;

    if (virNodeGetInfo(cohort_provisioner_get_connection(self), &info) < 0) {
        cohort_virt_set_error(error, "reading the host's node info");
        return FALSE;
    }
    *vcpus = info.cpus;
    *memory_mib = info.memory / 1024;
    return TRUE;
}

gboolean
cohort_provisioner_volume_exists(CohortProvisioner *self, const gchar *volume)
{
    g_autoptr(virStorageVol) vol =
        virStorageVolLookupByName(cohort_provisioner_get_storage_pool(self), volume);
    return vol != NULL;
}

gboolean
cohort_provisioner_volume_delete(CohortProvisioner *self, const gchar *volume, GError **error)
{
    g_autoptr(virStorageVol) vol =
        virStorageVolLookupByName(cohort_provisioner_get_storage_pool(self), volume);

    if (vol == NULL) {
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_VOL)
            return TRUE;
        cohort_virt_set_error(error, "looking the volume up");
        return FALSE;
    }
    if (virStorageVolDelete(vol, 0) < 0) {
        g_autofree gchar *what = g_strdup_printf("deleting volume '%s'", volume);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    return TRUE;
}

gchar *
cohort_provision_file_sha256(const gchar *path, guint64 *size, GCancellable *cancellable,
                             GError **error)
{
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileInputStream) in = g_file_read(file, cancellable, error);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *buf = g_malloc(COHORT_STREAM_CHUNK);
    guint64 total = 0;
    gssize n;

    if (in == NULL)
        return NULL;
    while ((n = g_input_stream_read(G_INPUT_STREAM(in), buf, COHORT_STREAM_CHUNK, cancellable,
                                    error)) > 0) {
        g_checksum_update(sum, buf, n);
        total += (guint64)n;
    }
    if (n < 0)
        return NULL;
    *size = total;
    return g_strdup(g_checksum_get_string(sum));
}

static gboolean
cohort_provision_file_is_qcow2_stream(GInputStream *in)
{
    guint8 magic[4] = {0};
    gsize got = 0;

    if (!g_input_stream_read_all(in, magic, sizeof(magic), &got, NULL, NULL) || got != 4)
        return FALSE;
    return magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && magic[3] == 0xfb;
}

/* <volume> of @size bytes in @format, built with the tree API. */
static gchar *
cohort_provision_upload_xml_new(const gchar *name, guint64 size, const gchar *format)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *size_str = g_strdup_printf("%" G_GUINT64_FORMAT, size);
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *node;

    xmlDocSetRootElement(doc, root);
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "name", NULL), name);
    node = xmlNewChild(root, NULL, BAD_CAST "capacity", NULL);
    cohort_xml_set_text(node, size_str);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    node = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(node, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST format);
    return cohort_xml_to_string(doc);
}

/* A stream's failure: a host that no longer answers is unavailable, whatever libvirt
 * called the error (a stream cut by a dead peer is an RPC or stream error). */
static void
cohort_provision_stream_error(GError **error, virConnectPtr conn, const gchar *what)
{
    cohort_virt_set_error(error, what);
    if (error != NULL && *error != NULL && virConnectIsAlive(conn) != 1)
        (*error)->code = COHORT_ERROR_HOST_UNAVAILABLE;
}

/* Sends @len bytes of @buf, however many calls the stream takes. */
static gboolean
cohort_provision_stream_send_all(virStreamPtr st, virConnectPtr conn, const gchar *buf, gsize len,
                                 GError **error)
{
    while (len > 0) {
        int sent = virStreamSend(st, buf, len);
        if (sent < 0) {
            cohort_provision_stream_error(error, conn, "sending to the host");
            return FALSE;
        }
        buf += sent;
        len -= (gsize)sent;
    }
    return TRUE;
}

/* The bytes the host's file holds: for a file in a directory pool, its size. */
static gboolean
cohort_provision_volume_physical(virStorageVolPtr vol, guint64 *physical, GError **error)
{
    virStorageVolInfo info;

    if (virStorageVolGetInfoFlags(vol, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0) {
        cohort_virt_set_error(error, "reading the uploaded volume's size");
        return FALSE;
    }
    *physical = info.allocation;
    return TRUE;
}

/* After a failed upload: the partial volume goes, if the host still answers. */
static void
cohort_provision_upload_undo(virStorageVolPtr vol, virStreamPtr st)
{
    if (st != NULL)
        virStreamAbort(st);
    if (virStorageVolDelete(vol, 0) < 0)
        g_debug("the partial volume stays: %s", virGetLastErrorMessage());
}

gboolean
cohort_provisioner_volume_upload(CohortProvisioner *self, const gchar *volume, const gchar *path,
                                 const gchar *sha256, gboolean replace,
                                 CohortProvisionProgressFunc progress, gpointer user_data,
                                 GCancellable *cancellable, GError **error)
{
    virStoragePoolPtr pool = cohort_provisioner_get_storage_pool(self);
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileInfo) info = NULL;
    g_autoptr(GFileInputStream) in = NULL;
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(virStream) st = NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree gchar *buf = g_malloc(COHORT_STREAM_CHUNK);
    g_autofree gchar *xml = NULL;
    g_autofree gchar *what = g_strdup_printf("uploading %s to volume '%s' in pool '%s'", path,
                                             volume, cohort_provisioner_get_pool(self));
    guint64 size;
    guint64 sent = 0;
    guint64 told = 0;
    guint64 physical = 0;
    gboolean qcow2;
    gssize n;

    info = g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                             cancellable, error);
    if (info == NULL)
        return FALSE;
    size = (guint64)g_file_info_get_size(info);
    in = g_file_read(file, cancellable, error);
    if (in == NULL)
        return FALSE;
    qcow2 = cohort_provision_file_is_qcow2_stream(G_INPUT_STREAM(in));
    if (!g_seekable_seek(G_SEEKABLE(in), 0, G_SEEK_SET, cancellable, error))
        return FALSE;
    vol = virStorageVolLookupByName(pool, volume);
    if (vol != NULL) {
        if (!replace) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "volume '%s' already exists in pool '%s'; machines may be using it, "
                        "so Cohort does not replace it",
                        volume, cohort_provisioner_get_pool(self));
            return FALSE;
        }
        /* an earlier try's partial upload: made again from the start */
        if (virStorageVolDelete(vol, 0) < 0) {
            cohort_virt_set_error(error, "deleting the partial volume of an earlier try");
            return FALSE;
        }
        g_clear_pointer(&vol, virStorageVolFree);
    } else if (cohort_virt_last_error_code() != VIR_ERR_NO_STORAGE_VOL) {
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    xml = cohort_provision_upload_xml_new(volume, size, qcow2 ? "qcow2" : "raw");
    vol = virStorageVolCreateXML(pool, xml, 0);
    if (vol == NULL) {
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    st = virStreamNew(cohort_provisioner_get_connection(self), 0);
    if (st == NULL || virStorageVolUpload(vol, st, 0, size, 0) < 0) {
        cohort_virt_set_error(error, what);
        cohort_provision_upload_undo(vol, NULL);
        return FALSE;
    }
    if (progress != NULL)
        progress(0, size, user_data);
    while ((n = g_input_stream_read(G_INPUT_STREAM(in), buf, COHORT_STREAM_CHUNK, cancellable,
                                    error)) > 0) {
        g_checksum_update(sum, (const guchar *)buf, n);
        if (!cohort_provision_stream_send_all(st, cohort_provisioner_get_connection(self), buf,
                                              (gsize)n, error)) {
            g_prefix_error(error,
                           "%s after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes: ", what,
                           sent, size);
            cohort_provision_upload_undo(vol, st);
            return FALSE;
        }
        sent += (guint64)n;
        if (progress != NULL && sent - told >= COHORT_STREAM_PROGRESS_EVERY) {
            progress(sent, size, user_data);
            told = sent;
        }
    }
    if (n < 0 || sent != size) {
        if (n == 0)
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "%s: the file changed while it was read (%" G_GUINT64_FORMAT
                        " bytes, not %" G_GUINT64_FORMAT "): install it again",
                        what, sent, size);
        else
            g_prefix_error(error, "%s: ", what);
        cohort_provision_upload_undo(vol, st);
        return FALSE;
    }
    if (virStreamFinish(st) < 0) {
        cohort_provision_stream_error(error, cohort_provisioner_get_connection(self), what);
        cohort_provision_upload_undo(vol, NULL);
        return FALSE;
    }
    g_clear_pointer(&st, virStreamFree);
    if (progress != NULL && told != sent)
        progress(sent, size, user_data);
    /* what was sent is the file as it was hashed before (it did not change meanwhile), and
     * the host's file holds as much */
    if (sha256 != NULL && g_strcmp0(g_checksum_get_string(sum), sha256) != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "%s: what was sent (SHA-256 %s) is not the file that was checked (SHA-256 "
                    "%s): it changed meanwhile; install it again",
                    what, g_checksum_get_string(sum), sha256);
        cohort_provision_upload_undo(vol, NULL);
        return FALSE;
    }
    if (!cohort_provision_volume_physical(vol, &physical, error))
        return FALSE;
    if (physical < size) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_LIBVIRT,
                    "%s: the host's volume holds %" G_GUINT64_FORMAT
                    " bytes of the %" G_GUINT64_FORMAT " sent",
                    what, physical, size);
        cohort_provision_upload_undo(vol, NULL);
        return FALSE;
    }
    g_info("uploaded %s to %s (%" G_GUINT64_FORMAT " bytes, SHA-256 %s)", path, volume, sent,
           g_checksum_get_string(sum));
    return TRUE;
}

static gchar *
cohort_provision_volume_path(CohortProvisioner *self, const gchar *volume, GError **error)
{
    g_autoptr(virStorageVol) vol =
        virStorageVolLookupByName(cohort_provisioner_get_storage_pool(self), volume);
    gchar *path;

    if (vol == NULL) {
        g_autofree gchar *what = g_strdup_printf("looking up volume '%s' in pool '%s'", volume,
                                                 cohort_provisioner_get_pool(self));
        cohort_virt_set_error(error, what);
        if (cohort_virt_last_error_code() == VIR_ERR_NO_STORAGE_VOL)
            (*error)->code = COHORT_ERROR_NOT_FOUND;
        return NULL;
    }
    path = virStorageVolGetPath(vol);
    if (path == NULL)
        cohort_virt_set_error(error, "reading a volume's path");
    return path;
}

gboolean
cohort_provisioner_overlay_copy(CohortProvisioner *from, CohortProvisioner *to,
                                CohortTemplate *tmpl, const gchar *domain_name,
                                CohortProvisionProgressFunc progress, gpointer user_data,
                                guint64 *bytes, GError **error)
{
    g_autofree gchar *name = cohort_names_overlay(domain_name);
    const gchar *base = cohort_template_get_base_volume(tmpl);
    g_autofree gchar *from_base = NULL;
    g_autofree gchar *to_base = NULL;
    g_autofree gchar *created = NULL;
    g_autofree gchar *buf = g_malloc(COHORT_STREAM_CHUNK);
    g_autoptr(virStorageVol) src = NULL;
    g_autoptr(virStorageVol) dst = NULL;
    g_autoptr(virStream) down = NULL;
    g_autoptr(virStream) up = NULL;
    guint64 size = 0;
    guint64 sent = 0;
    guint64 told = 0;

    *bytes = 0;
    from_base = cohort_provision_volume_path(from, base, error);
    if (from_base == NULL)
        return FALSE;
    to_base = cohort_provision_volume_path(to, base, error);
    if (to_base == NULL) {
        g_prefix_error(error, "the host to move to has no base of template '%s': ",
                       cohort_template_get_name(tmpl));
        return FALSE;
    }
    if (g_strcmp0(from_base, to_base) != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "the overlay names its base by path (%s), and the other host's base is at %s: "
                    "give both hosts' pools the same path, or make the machine anew there "
                    "(\"fresh\": true), which loses what is on its disk",
                    from_base, to_base);
        return FALSE;
    }
    src = virStorageVolLookupByName(cohort_provisioner_get_storage_pool(from), name);
    if (src == NULL || !cohort_provision_volume_physical(src, &size, error)) {
        if (error != NULL && *error == NULL)
            cohort_virt_set_error(error, "looking up the overlay to move");
        return FALSE;
    }
    /* on the other host: a fresh overlay on its base, then the bytes of this one over it */
    if (!cohort_provisioner_volume_delete(to, name, error))
        return FALSE;
    created = cohort_provisioner_overlay_create(to, tmpl, domain_name, error);
    if (created == NULL)
        return FALSE;
    dst = virStorageVolLookupByName(cohort_provisioner_get_storage_pool(to), name);
    down = virStreamNew(cohort_provisioner_get_connection(from), 0);
    up = virStreamNew(cohort_provisioner_get_connection(to), 0);
    if (dst == NULL || down == NULL || up == NULL ||
        virStorageVolDownload(src, down, 0, size, 0) < 0) {
        cohort_virt_set_error(error, "starting the copy of the overlay");
        if (dst != NULL)
            virStorageVolDelete(dst, 0);
        return FALSE;
    }
    if (virStorageVolUpload(dst, up, 0, size, 0) < 0) {
        cohort_virt_set_error(error, "starting the upload of the overlay");
        virStreamAbort(down);
        virStorageVolDelete(dst, 0);
        return FALSE;
    }
    if (progress != NULL)
        progress(0, size, user_data);
    for (;;) {
        int got = virStreamRecv(down, buf, COHORT_STREAM_CHUNK);
        if (got == 0)
            break;
        if (got < 0 || !cohort_provision_stream_send_all(up, cohort_provisioner_get_connection(to),
                                                         buf, (gsize)got, error)) {
            if (got < 0)
                cohort_provision_stream_error(error, cohort_provisioner_get_connection(from),
                                              "reading the overlay from its host");
            g_prefix_error(error, "copying overlay %s after %" G_GUINT64_FORMAT " bytes: ", name,
                           sent);
            virStreamAbort(down);
            virStreamAbort(up);
            virStorageVolDelete(dst, 0);
            return FALSE;
        }
        sent += (guint64)got;
        if (progress != NULL && sent - told >= COHORT_STREAM_PROGRESS_EVERY) {
            progress(sent, size, user_data);
            told = sent;
        }
    }
    if (virStreamFinish(down) < 0 || virStreamFinish(up) < 0) {
        cohort_provision_stream_error(error, cohort_provisioner_get_connection(to),
                                      "finishing the copy of the overlay");
        virStorageVolDelete(dst, 0);
        return FALSE;
    }
    if (progress != NULL)
        progress(sent, size, user_data);
    *bytes = sent;
    return TRUE;
}
