/* The floor: a plain C loop that makes the libvirt calls Cohort's provisioner makes for a
 * machine (a qcow2 overlay backed by the base volume, a domain defined from the template,
 * started; then destroyed, undefined and the overlay deleted), with nothing around them: no
 * store, no HTTP, no workers, no idempotence checks, no Cohort code at all. What Cohort takes
 * beyond this, on the same driver, is its control-plane overhead.
 *
 *   cohort-bench-floor --uri URI --pool POOL --base VOLUME --template FILE --count N
 *
 * It prints one line per run: "run=1 provision_s=0.123 reclaim_s=0.045 overlay_bytes=…
 * peak_rss_kib=…" (the first overlay's bytes on disk, the process's VmHWM with every machine
 * up). */
#define G_LOG_DOMAIN "cohort-bench-floor"

#include <crypt.h>
#include <errno.h>
#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStorageVol, virStorageVolFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStoragePool, virStoragePoolFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStream, virStreamFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)

#define BENCH_ERROR (g_quark_from_static_string("cohort-bench-floor"))

typedef struct {
    virConnectPtr conn;
    virStoragePoolPtr pool;
    xmlDoc *tmpl;     /* the domain template, edited per machine */
    gchar *base_path; /* the base volume's file */
    gchar *base_format;
    guint64 capacity;
    const gchar *prefix;
    guint count;
    guint define_flags;
    gsize seed_bytes; /* 0: no seed disc; else a raw volume of this size per machine */
    gchar *seed_data;
    gulong hash_rounds; /* 0: none; else a guest password hashed per machine, as a script would */
} Floor;

static void
floor_noop_error(void *data, virErrorPtr err)
{
}

static gboolean
floor_set_error(GError **error, const gchar *what, const gchar *name)
{
    g_set_error(error, BENCH_ERROR, 1, "%s %s: %s", what, name, virGetLastErrorMessage());
    return FALSE;
}

static gchar *
floor_xml_to_string(xmlDoc *doc)
{
    xmlChar *mem = NULL;
    int len = 0;
    gchar *out;

    xmlDocDumpMemory(doc, &mem, &len);
    out = g_strndup((const gchar *)mem, (gsize)len);
    xmlFree(mem);
    return out;
}

static xmlNode *
floor_add_text_child(xmlNode *parent, const gchar *name, const gchar *value)
{
    xmlNode *node = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
    xmlNodeAddContent(node, BAD_CAST value);
    return node;
}

/* The same <volume> as Cohort's: qcow2, backed by the base, at least the base's capacity. */
static gchar *
floor_overlay_xml_new(Floor *fl, const gchar *name)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *capacity = g_strdup_printf("%" G_GUINT64_FORMAT, fl->capacity);
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *node;

    xmlDocSetRootElement(doc, root);
    floor_add_text_child(root, "name", name);
    node = floor_add_text_child(root, "capacity", capacity);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    floor_add_text_child(root, "allocation", "0");
    node = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(node, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST "qcow2");
    node = xmlNewChild(root, NULL, BAD_CAST "backingStore", NULL);
    floor_add_text_child(node, "path", fl->base_path);
    node = xmlNewChild(node, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST fl->base_format);
    return floor_xml_to_string(doc);
}

static xmlNode *
floor_xpath_node(xmlDoc *doc, const gchar *expr)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(BAD_CAST expr, ctxt);

    if (obj == NULL || obj->nodesetval == NULL || obj->nodesetval->nodeNr == 0)
        return NULL;
    return obj->nodesetval->nodeTab[0];
}

/* The seed disc's volume, as Cohort makes it: raw, the image's size, mode 0644. */
static gchar *
floor_seed_xml_new(Floor *fl, const gchar *name)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree gchar *capacity = g_strdup_printf("%" G_GSIZE_FORMAT, fl->seed_bytes);
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    xmlNode *node;
    xmlNode *target;

    xmlDocSetRootElement(doc, root);
    floor_add_text_child(root, "name", name);
    node = floor_add_text_child(root, "capacity", capacity);
    xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
    floor_add_text_child(root, "allocation", "0");
    target = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    node = xmlNewChild(target, NULL, BAD_CAST "format", NULL);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST "raw");
    node = xmlNewChild(target, NULL, BAD_CAST "permissions", NULL);
    floor_add_text_child(node, "mode", "0644");
    return floor_xml_to_string(doc);
}

typedef struct {
    const gchar *data;
    gsize len;
    gsize done;
} FloorSource;

static int
floor_seed_source(virStreamPtr st, char *bytes, size_t nbytes, void *opaque)
{
    FloorSource *src = opaque;
    gsize n = MIN(nbytes, src->len - src->done);

    memcpy(bytes, src->data + src->done, n);
    src->done += n;
    return (int)n;
}

/* A guest password for the seed, hashed as an admin's script would (`mkpasswd -m sha-512 -R N`):
 * 16 random characters, SHA-512 crypt with a salt from the kernel. No seed may hold the
 * password itself, so this is work any tool making such seeds does. */
static gboolean
floor_password_hash(Floor *fl, GError **error)
{
    g_autofree struct crypt_data *data = g_new0(struct crypt_data, 1);
    gchar salt[CRYPT_GENSALT_OUTPUT_SIZE];
    gchar clear[17];

    for (guint i = 0; i < 16; i++)
        clear[i] = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"[g_random_int_range(0, 50)];
    clear[16] = '\0';
    if (crypt_gensalt_rn("$6$", fl->hash_rounds, NULL, 0, salt, sizeof(salt)) == NULL ||
        crypt_r(clear, salt, data) == NULL) {
        g_set_error(error, BENCH_ERROR, 1, "hashing a password: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* The seed's calls of Cohort's provisioner: the volume made, the image sent through a stream. */
static gboolean
floor_seed_create(Floor *fl, const gchar *name, GError **error)
{
    g_autofree gchar *xml = floor_seed_xml_new(fl, name);
    g_autoptr(virStorageVol) vol = virStorageVolCreateXML(fl->pool, xml, 0);
    g_autoptr(virStream) st = NULL;
    FloorSource src = {.data = fl->seed_data, .len = fl->seed_bytes};

    if (vol == NULL)
        return floor_set_error(error, "creating seed", name);
    st = virStreamNew(fl->conn, 0);
    if (st == NULL)
        return floor_set_error(error, "uploading seed", name);
    if (virStorageVolUpload(vol, st, 0, fl->seed_bytes, 0) < 0) {
        /* as Cohort does: the test driver implements no upload, the volume stays empty */
        if (virGetLastErrorCode() == VIR_ERR_NO_SUPPORT)
            return TRUE;
        return floor_set_error(error, "uploading seed", name);
    }
    if (virStreamSendAll(st, floor_seed_source, &src) < 0 || virStreamFinish(st) < 0)
        return floor_set_error(error, "uploading seed", name);
    return TRUE;
}

/* The template with this machine's name and disk: what an admin's loop would edit. */
static gchar *
floor_domain_xml_new(Floor *fl, const gchar *name, const gchar *disk_path, const gchar *seed)
{
    g_autoptr(xmlDoc) doc = xmlCopyDoc(fl->tmpl, 1);
    xmlNode *node = floor_xpath_node(doc, "/domain/name");
    xmlNode *disk = floor_xpath_node(doc, "/domain/devices/disk[@device='disk']");
    xmlNode *source;

    xmlNodeSetContent(node, NULL);
    xmlNodeAddContent(node, BAD_CAST name);
    source = xmlNewChild(disk, NULL, BAD_CAST "source", NULL);
    xmlSetProp(source, BAD_CAST "file", BAD_CAST disk_path);
    if (seed != NULL) {
        /* the seed disc as Cohort adds it: a read-only CD-ROM from its volume, IDE hdc */
        xmlNode *cdrom = xmlNewChild(disk->parent, NULL, BAD_CAST "disk", NULL);
        xmlNode *part;
        xmlSetProp(cdrom, BAD_CAST "type", BAD_CAST "volume");
        xmlSetProp(cdrom, BAD_CAST "device", BAD_CAST "cdrom");
        part = xmlNewChild(cdrom, NULL, BAD_CAST "driver", NULL);
        xmlSetProp(part, BAD_CAST "name", BAD_CAST "qemu");
        xmlSetProp(part, BAD_CAST "type", BAD_CAST "raw");
        part = xmlNewChild(cdrom, NULL, BAD_CAST "source", NULL);
        xmlSetProp(part, BAD_CAST "pool", BAD_CAST virStoragePoolGetName(fl->pool));
        xmlSetProp(part, BAD_CAST "volume", BAD_CAST seed);
        part = xmlNewChild(cdrom, NULL, BAD_CAST "target", NULL);
        xmlSetProp(part, BAD_CAST "dev", BAD_CAST "hdc");
        xmlSetProp(part, BAD_CAST "bus", BAD_CAST "ide");
        xmlNewChild(cdrom, NULL, BAD_CAST "readonly", NULL);
    }
    return floor_xml_to_string(doc);
}

static gchar *
floor_name(Floor *fl, guint i, const gchar *suffix)
{
    return g_strdup_printf("%s%u%s", fl->prefix, i, suffix);
}

static gboolean
floor_machine_create(Floor *fl, guint i, GError **error)
{
    g_autofree gchar *name = floor_name(fl, i, "");
    g_autofree gchar *vol_name = floor_name(fl, i, ".qcow2");
    g_autofree gchar *seed_name = fl->seed_bytes > 0 ? floor_name(fl, i, "-seed.iso") : NULL;
    g_autofree gchar *vol_xml = floor_overlay_xml_new(fl, vol_name);
    g_autofree gchar *path = NULL;
    g_autofree gchar *dom_xml = NULL;
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(virDomain) dom = NULL;

    vol = virStorageVolCreateXML(fl->pool, vol_xml, 0);
    if (vol == NULL)
        return floor_set_error(error, "creating overlay", vol_name);
    path = virStorageVolGetPath(vol);
    if (path == NULL)
        return floor_set_error(error, "reading the path of", vol_name);
    if (fl->hash_rounds > 0 && !floor_password_hash(fl, error))
        return FALSE;
    if (seed_name != NULL && !floor_seed_create(fl, seed_name, error))
        return FALSE;
    dom_xml = floor_domain_xml_new(fl, name, path, seed_name);
    dom = virDomainDefineXMLFlags(fl->conn, dom_xml, fl->define_flags);
    if (dom == NULL)
        return floor_set_error(error, "defining", name);
    if (virDomainCreate(dom) < 0)
        return floor_set_error(error, "starting", name);
    return TRUE;
}

static gboolean
floor_machine_teardown(Floor *fl, guint i, GError **error)
{
    g_autofree gchar *name = floor_name(fl, i, "");
    g_autofree gchar *vol_name = floor_name(fl, i, ".qcow2");
    g_autoptr(virDomain) dom = virDomainLookupByName(fl->conn, name);
    g_autoptr(virStorageVol) vol = NULL;

    if (dom == NULL)
        return floor_set_error(error, "looking up", name);
    if (virDomainDestroy(dom) < 0)
        return floor_set_error(error, "destroying", name);
    /* Cohort's flags; drivers without NVRAM or checkpoints take the basic ones */
    if (virDomainUndefineFlags(
            dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                     VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM) < 0 &&
        virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0)
        return floor_set_error(error, "undefining", name);
    vol = virStorageVolLookupByName(fl->pool, vol_name);
    if (vol == NULL)
        return floor_set_error(error, "looking up", vol_name);
    if (virStorageVolDelete(vol, 0) < 0)
        return floor_set_error(error, "deleting", vol_name);
    if (fl->seed_bytes > 0) {
        g_autofree gchar *seed_name = floor_name(fl, i, "-seed.iso");
        g_autoptr(virStorageVol) seed = virStorageVolLookupByName(fl->pool, seed_name);
        if (seed == NULL || virStorageVolDelete(seed, 0) < 0)
            return floor_set_error(error, "deleting", seed_name);
    }
    return TRUE;
}

/* Whatever carries the prefix goes, also after a failure half-way. */
static void
floor_sweep(Floor *fl)
{
    virDomainPtr *doms = NULL;
    virStorageVolPtr *vols = NULL;
    int n = virConnectListAllDomains(fl->conn, &doms, 0);

    for (int i = 0; i < n; i++) {
        if (g_str_has_prefix(virDomainGetName(doms[i]), fl->prefix)) {
            if (virDomainIsActive(doms[i]) == 1)
                virDomainDestroy(doms[i]);
            if (virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_NVRAM) < 0)
                virDomainUndefine(doms[i]);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    virStoragePoolRefresh(fl->pool, 0);
    n = virStoragePoolListAllVolumes(fl->pool, &vols, 0);
    for (int i = 0; i < n; i++) {
        if (g_str_has_prefix(virStorageVolGetName(vols[i]), fl->prefix))
            virStorageVolDelete(vols[i], 0);
        virStorageVolFree(vols[i]);
    }
    free(vols);
}

/* This process's peak resident memory (VmHWM), KiB: with the test driver, libvirt's domains
 * live in the process, as they do in cohortd's. */
static guint64
floor_peak_rss_kib(void)
{
    g_autofree gchar *status = NULL;
    const gchar *line;

    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return 0;
    line = strstr(status, "VmHWM:");
    return line != NULL ? g_ascii_strtoull(line + strlen("VmHWM:"), NULL, 10) : 0;
}

/* Bytes the first overlay takes on disk (st_blocks, like du). */
static guint64
floor_overlay_allocation(Floor *fl)
{
    g_autofree gchar *vol_name = floor_name(fl, 1, ".qcow2");
    g_autoptr(virStorageVol) vol = virStorageVolLookupByName(fl->pool, vol_name);
    virStorageVolInfo info;

    if (vol == NULL || virStorageVolGetInfo(vol, &info) < 0)
        return 0;
    return info.allocation;
}

/* The two loops are functions of their own, never inlined: the benchmark's instruction
 * count has callgrind dump its counters when each begins (--dump-before=floor_provision_all,
 * --dump-before=floor_teardown_all). */
G_GNUC_NO_INLINE gboolean floor_provision_all(Floor *fl, GError **error);
G_GNUC_NO_INLINE gboolean floor_teardown_all(Floor *fl, GError **error);

G_GNUC_NO_INLINE gboolean
floor_provision_all(Floor *fl, GError **error)
{
    for (guint i = 1; i <= fl->count; i++)
        if (!floor_machine_create(fl, i, error))
            return FALSE;
    return TRUE;
}

G_GNUC_NO_INLINE gboolean
floor_teardown_all(Floor *fl, GError **error)
{
    for (guint i = 1; i <= fl->count; i++)
        if (!floor_machine_teardown(fl, i, error))
            return FALSE;
    return TRUE;
}

static gboolean
floor_run(Floor *fl, guint run, GError **error)
{
    gint64 t0 = g_get_monotonic_time();
    gint64 t1;
    gint64 t2;
    guint64 overlay_bytes;
    guint64 peak_rss_kib;

    if (!floor_provision_all(fl, error))
        return FALSE;
    t1 = g_get_monotonic_time();
    overlay_bytes = floor_overlay_allocation(fl);
    peak_rss_kib = floor_peak_rss_kib();
    t2 = g_get_monotonic_time();
    if (!floor_teardown_all(fl, error))
        return FALSE;
    printf("run=%u provision_s=%.3f reclaim_s=%.3f overlay_bytes=%" G_GUINT64_FORMAT
           " peak_rss_kib=%" G_GUINT64_FORMAT "\n",
           run, (t1 - t0) / 1e6, (g_get_monotonic_time() - t2) / 1e6, overlay_bytes, peak_rss_kib);
    fflush(stdout);
    return TRUE;
}

static gboolean
floor_base_open(Floor *fl, const gchar *base, guint64 blank_mib, GError **error)
{
    g_autoptr(virStorageVol) vol = virStorageVolLookupByName(fl->pool, base);
    g_autofree gchar *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *node;
    virStorageVolInfo info;

    if (vol == NULL && blank_mib > 0) {
        /* the test driver's instance is this process's own: it needs its own base */
        g_autoptr(xmlDoc) vdoc = xmlNewDoc(BAD_CAST "1.0");
        g_autofree gchar *capacity = g_strdup_printf("%" G_GUINT64_FORMAT, blank_mib << 20);
        g_autofree gchar *vxml = NULL;
        xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");

        xmlDocSetRootElement(vdoc, root);
        floor_add_text_child(root, "name", base);
        node = floor_add_text_child(root, "capacity", capacity);
        xmlSetProp(node, BAD_CAST "unit", BAD_CAST "bytes");
        node = xmlNewChild(xmlNewChild(root, NULL, BAD_CAST "target", NULL), NULL,
                           BAD_CAST "format", NULL);
        xmlSetProp(node, BAD_CAST "type", BAD_CAST "qcow2");
        vxml = floor_xml_to_string(vdoc);
        vol = virStorageVolCreateXML(fl->pool, vxml, 0);
    }
    if (vol == NULL)
        return floor_set_error(error, "looking up base volume", base);
    if (virStorageVolGetInfo(vol, &info) < 0)
        return floor_set_error(error, "reading base volume", base);
    fl->capacity = info.capacity;
    fl->base_path = virStorageVolGetPath(vol);
    xml = virStorageVolGetXMLDesc(vol, 0);
    if (fl->base_path == NULL || xml == NULL)
        return floor_set_error(error, "describing base volume", base);
    doc = xmlReadMemory(xml, (int)strlen(xml), "volume", NULL, XML_PARSE_NONET);
    node = doc != NULL ? floor_xpath_node(doc, "/volume/target/format") : NULL;
    if (node != NULL) {
        xmlChar *type = xmlGetProp(node, BAD_CAST "type");
        fl->base_format = g_strdup((const gchar *)type);
        xmlFree(type);
    }
    if (fl->base_format == NULL)
        fl->base_format = g_strdup("raw");
    return TRUE;
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new("- the floor: plain libvirt calls");
    g_autoptr(GError) error = NULL;
    g_autofree gchar *uri = NULL;
    g_autofree gchar *pool = g_strdup("default");
    g_autofree gchar *base = NULL;
    g_autofree gchar *template_path = NULL;
    g_autofree gchar *prefix = g_strdup("cohort-bench-floor-");
    g_autoptr(virConnect) conn = NULL;
    gint count = 10;
    gint runs = 1;
    gint blank_mib = 0;
    gint seed_kib = 0;
    gint hash_rounds = 0;
    gboolean validate = FALSE;
    gboolean ok = TRUE;
    Floor fl = {0};
    const GOptionEntry entries[] = {
        {"uri", 0, 0, G_OPTION_ARG_STRING, &uri, "libvirt URI", "URI"},
        {"pool", 0, 0, G_OPTION_ARG_STRING, &pool, "Storage pool (default: default)", "POOL"},
        {"base", 0, 0, G_OPTION_ARG_STRING, &base, "Base volume of the overlays", "VOLUME"},
        {"blank-base-mib", 0, 0, G_OPTION_ARG_INT, &blank_mib,
         "Make an empty qcow2 base of this size when there is none", "MIB"},
        {"template", 0, 0, G_OPTION_ARG_FILENAME, &template_path, "Domain XML template", "FILE"},
        {"count", 0, 0, G_OPTION_ARG_INT, &count, "Machines per run (default: 10)", "N"},
        {"runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs (default: 1)", "N"},
        {"prefix", 0, 0, G_OPTION_ARG_STRING, &prefix,
         "Names of domains and volumes (default: cohort-bench-floor-)", "PREFIX"},
        {"seed-kib", 0, 0, G_OPTION_ARG_INT, &seed_kib,
         "Per machine, a seed disc of this size made and uploaded as Cohort's cloud-init seed "
         "is (0: none)",
         "KIB"},
        {"hash-rounds", 0, 0, G_OPTION_ARG_INT, &hash_rounds,
         "Per machine, a guest password hashed with SHA-512 crypt and this many rounds, as "
         "Cohort's seed holds one (0: none)",
         "N"},
        {"validate", 0, 0, G_OPTION_ARG_NONE, &validate,
         "Define with VIR_DOMAIN_DEFINE_VALIDATE (Cohort passed it before 5023150)", NULL},
        {NULL},
    };

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("cohort-bench-floor: %s\n", error->message);
        return 2;
    }
    if (uri == NULL || base == NULL || template_path == NULL || count < 1 || runs < 1 ||
        !g_str_has_prefix(prefix, "cohort-")) {
        g_printerr("cohort-bench-floor: --uri, --base and --template are needed, --count and "
                   "--runs at least 1, and --prefix starts with cohort-\n");
        return 2;
    }
    virSetErrorFunc(NULL, floor_noop_error);
    fl.prefix = prefix;
    fl.count = (guint)count;
    fl.define_flags = validate ? VIR_DOMAIN_DEFINE_VALIDATE : 0;
    fl.seed_bytes = (gsize)MAX(seed_kib, 0) * 1024;
    fl.seed_data = g_malloc0(MAX(fl.seed_bytes, 1));
    fl.hash_rounds = (gulong)MAX(hash_rounds, 0);
    fl.tmpl = xmlReadFile(template_path, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (fl.tmpl == NULL) {
        g_printerr("cohort-bench-floor: cannot read %s\n", template_path);
        return 2;
    }
    conn = virConnectOpen(uri);
    if (conn == NULL) {
        g_printerr("cohort-bench-floor: connecting to %s: %s\n", uri, virGetLastErrorMessage());
        xmlFreeDoc(fl.tmpl);
        return 1;
    }
    fl.conn = conn;
    fl.pool = virStoragePoolLookupByName(conn, pool);
    if (fl.pool == NULL) {
        floor_set_error(&error, "looking up pool", pool);
        ok = FALSE;
    }
    if (ok)
        ok = floor_base_open(&fl, base, (guint64)blank_mib, &error);
    for (gint run = 1; ok && run <= runs; run++)
        ok = floor_run(&fl, (guint)run, &error);
    if (!ok)
        g_printerr("cohort-bench-floor: %s\n", error->message);
    if (fl.pool != NULL) {
        floor_sweep(&fl);
        virStoragePoolFree(fl.pool);
    }
    xmlFreeDoc(fl.tmpl);
    g_free(fl.base_path);
    g_free(fl.base_format);
    g_free(fl.seed_data);
    return ok ? 0 : 1;
}
