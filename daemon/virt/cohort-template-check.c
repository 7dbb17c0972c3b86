#define G_LOG_DOMAIN "cohort-template-check"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-template-check.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

/* One connection for the process: test:///default keeps its state while one is open, and
 * opening it again for every template would cost more than the define. */
static GMutex cohort_template_check_lock;
static virConnectPtr cohort_template_check_conn;

static guint64
cohort_template_check_kib(xmlNode *node, const gchar *attr)
{
    g_autofree gchar *text = (gchar *)xmlGetProp(node, BAD_CAST attr);
    g_autofree gchar *unit = (gchar *)xmlGetProp(node, BAD_CAST "unit");
    guint64 value = text != NULL ? g_ascii_strtoull(text, NULL, 10) : 0;

    if (unit == NULL || g_ascii_strcasecmp(unit, "KiB") == 0 || g_ascii_strcasecmp(unit, "k") == 0)
        return value;
    if (g_ascii_strcasecmp(unit, "MiB") == 0 || g_ascii_strcasecmp(unit, "M") == 0)
        return value * 1024;
    if (g_ascii_strcasecmp(unit, "GiB") == 0 || g_ascii_strcasecmp(unit, "G") == 0)
        return value * 1024 * 1024;
    if (g_ascii_strcasecmp(unit, "b") == 0 || g_ascii_strcasecmp(unit, "bytes") == 0)
        return value / 1024;
    return value; /* the rest are rare; libvirt's own define judges them */
}

/* What the define does not catch on the test driver, but QEMU's would, or would silently
 * override: NUMA cells that hold other memory than Cohort gives the machine, and vCPU
 * pinning of vCPUs the machine does not have. */
static gboolean
cohort_template_check_consistent(CohortTemplate *tmpl, xmlDoc *doc, GError **error)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(GPtrArray) cells = cohort_xml_find_all(ctxt, "/domain/cpu/numa/cell");
    g_autoptr(GPtrArray) pins = cohort_xml_find_all(ctxt, "/domain/cputune/vcpupin");
    guint64 memory_mib = cohort_template_get_memory_mib(tmpl);
    guint vcpus = cohort_template_get_vcpus(tmpl);
    guint64 cells_kib = 0;

    for (guint i = 0; i < cells->len; i++)
        cells_kib += cohort_template_check_kib(g_ptr_array_index(cells, i), "memory");
    if (cells->len > 0 && cells_kib != memory_mib * 1024) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s: its NUMA cells (<cpu><numa>) hold %" G_GUINT64_FORMAT
                    " MiB, but <cohort:memory> gives each machine %" G_GUINT64_FORMAT
                    " MiB: make the cells add up to it",
                    cohort_template_get_path(tmpl) != NULL ? cohort_template_get_path(tmpl)
                                                           : cohort_template_get_name(tmpl),
                    cells_kib / 1024, memory_mib);
        return FALSE;
    }
    for (guint i = 0; i < pins->len; i++) {
        g_autofree gchar *id = (gchar *)xmlGetProp(g_ptr_array_index(pins, i), BAD_CAST "vcpu");
        guint64 n = id != NULL ? g_ascii_strtoull(id, NULL, 10) : 0;
        if (n >= vcpus) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "%s: <vcpupin vcpu='%s'> pins a vCPU the machine does not have: "
                        "<cohort:vcpus> gives it %u (0 to %u); pin only those, or give it more",
                        cohort_template_get_path(tmpl) != NULL ? cohort_template_get_path(tmpl)
                                                               : cohort_template_get_name(tmpl),
                        id, vcpus, vcpus - 1);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
cohort_template_check_libvirt(CohortTemplate *tmpl, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_template_check_lock);
    g_autoptr(GError) error_local = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree gchar *xml = NULL;
    g_autofree gchar *uuid = g_uuid_string_random();
    /* no Cohort prefix: nothing that lists Cohort's domains on this connection sees it */
    g_autofree gchar *name = g_strdup_printf("template-check-%s", cohort_template_get_name(tmpl));
    const gchar *source = cohort_template_get_path(tmpl) != NULL ? cohort_template_get_path(tmpl)
                                                                 : cohort_template_get_name(tmpl);
    CohortMachineSpec spec;

    g_return_val_if_fail(tmpl != NULL, FALSE);

    cohort_machine_spec_init_sample(&spec);
    spec.domain_name = name;
    spec.uuid = uuid;
    xml = cohort_template_render(tmpl, &spec, error);
    if (xml == NULL)
        return FALSE;
    doc = cohort_xml_parse_memory(xml, strlen(xml), source, "domain", error);
    if (doc == NULL || !cohort_template_check_consistent(tmpl, doc, error))
        return FALSE;
    if (cohort_template_check_conn == NULL) {
        cohort_template_check_conn = cohort_virt_connect("test:///default", &error_local);
        if (cohort_template_check_conn == NULL) {
            /* no libvirt to ask: the schema's word stands */
            g_debug("%s: not checked with libvirt: %s", source, error_local->message);
            return TRUE;
        }
    }
    /* the schema was checked already: the define is libvirt's parser and post-parse checks */
    dom = virDomainDefineXML(cohort_template_check_conn, xml);
    if (dom == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s: libvirt refuses a machine made from it: %s; fix that part of the "
                    "template",
                    source, virGetLastErrorMessage());
        return FALSE;
    }
    if (virDomainUndefine(dom) < 0)
        g_warning("%s: the check's domain %s was not undefined: %s", source, name,
                  virGetLastErrorMessage());
    return TRUE;
}
