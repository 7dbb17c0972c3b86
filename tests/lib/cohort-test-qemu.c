#define G_LOG_DOMAIN "cohort-test-qemu"

#include "config.h"

#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

/* A transient directory pool of the test's own, built with the tree API. */
virStoragePoolPtr
cohort_test_qemu_pool_create(virConnectPtr conn, const gchar *name, const gchar *dir)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "pool");
    xmlNode *target;
    g_autofree gchar *xml = NULL;
    virStoragePoolPtr pool;

    xmlDocSetRootElement(doc, root);
    xmlSetProp(root, BAD_CAST "type", BAD_CAST "dir");
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "name", NULL), name);
    target = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
    cohort_xml_set_text(xmlNewChild(target, NULL, BAD_CAST "path", NULL), dir);
    xml = cohort_xml_to_string(doc);
    pool = virStoragePoolCreateXML(conn, xml, 0);
    if (pool == NULL)
        fail_msg("creating test pool %s: %s", name, virGetLastErrorMessage());
    return pool;
}

/* An admin's own VM, without Cohort's tag, on the same host: it must survive. */
void
cohort_test_qemu_foreign_domain_start(virConnectPtr conn, const gchar *name)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "domain");
    xmlNode *os;
    xmlNode *type;
    xmlNode *memory;
    g_autofree gchar *xml = NULL;
    g_autoptr(virDomain) dom = NULL;

    xmlDocSetRootElement(doc, root);
    xmlSetProp(root, BAD_CAST "type", BAD_CAST "qemu");
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "name", NULL), name);
    memory = xmlNewChild(root, NULL, BAD_CAST "memory", NULL);
    xmlSetProp(memory, BAD_CAST "unit", BAD_CAST "MiB");
    cohort_xml_set_text(memory, "32");
    os = xmlNewChild(root, NULL, BAD_CAST "os", NULL);
    type = xmlNewChild(os, NULL, BAD_CAST "type", NULL);
    xmlSetProp(type, BAD_CAST "arch", BAD_CAST "x86_64");
    cohort_xml_set_text(type, "hvm");
    xml = cohort_xml_to_string(doc);
    dom = virDomainDefineXML(conn, xml);
    if (dom == NULL)
        fail_msg("defining the admin's VM: %s", virGetLastErrorMessage());
    if (virDomainCreate(dom) < 0)
        fail_msg("starting the admin's VM: %s", virGetLastErrorMessage());
}

/* A run killed half-way (a timeout, ^C) leaves its objects; they are this test's own, named
 * cohort-itest-*, so the next run removes them before it starts. */
void
cohort_test_qemu_remove_stale_runs(virConnectPtr conn)
{
    virDomainPtr *doms = NULL;
    virStoragePoolPtr *pools = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);

    for (int i = 0; i < n; i++) {
        const gchar *name = virDomainGetName(doms[i]);
        /* the name alone: a test may make an untagged cohort-itest-* domain too */
        if (g_str_has_prefix(name, COHORT_NAME_PREFIX "itest-")) {
            g_message("removing %s, left by an earlier run", name);
            virDomainDestroy(doms[i]);
            virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_NVRAM);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    {
        virNetworkPtr *nets = NULL;
        int nnets = virConnectListAllNetworks(conn, &nets, 0);
        for (int i = 0; i < nnets; i++) {
            if (g_str_has_prefix(virNetworkGetName(nets[i]), COHORT_NAME_PREFIX "itest-")) {
                g_message("removing network %s, left by an earlier run",
                          virNetworkGetName(nets[i]));
                virNetworkDestroy(nets[i]);
                virNetworkUndefine(nets[i]);
            }
            virNetworkFree(nets[i]);
        }
        free(nets);
    }
    n = virConnectListAllStoragePools(conn, &pools, 0);
    for (int i = 0; i < n; i++) {
        if (g_str_has_prefix(virStoragePoolGetName(pools[i]), "cohort-itest-")) {
            virStorageVolPtr *vols = NULL;
            int nvols = virStoragePoolListAllVolumes(pools[i], &vols, 0);
            g_message("removing pool %s, left by an earlier run", virStoragePoolGetName(pools[i]));
            for (int j = 0; j < nvols; j++) {
                virStorageVolDelete(vols[j], 0);
                virStorageVolFree(vols[j]);
            }
            free(vols);
            virStoragePoolDestroy(pools[i]);
        }
        virStoragePoolFree(pools[i]);
    }
    free(pools);
}
