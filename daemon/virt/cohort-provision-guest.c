#define G_LOG_DOMAIN "cohort-provision"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-provision-guest.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

gboolean
cohort_provisioner_domain_agent_state(CohortProvisioner *self, const gchar *name,
                                      CohortAgentState *state, GError **error)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(cohort_provisioner_get_connection(self), name);
    g_autofree gchar *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree gchar *what = g_strdup_printf("the live XML of %s", name);
    xmlNode *target;
    g_autofree gchar *value = NULL;
    char *raw;

    *state = COHORT_AGENT_NONE;
    if (dom == NULL) {
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    raw = virDomainGetXMLDesc(dom, 0);
    if (raw == NULL) {
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    xml = g_strdup(raw);
    free(raw);
    doc = cohort_xml_parse_memory(xml, strlen(xml), what, "domain", error);
    if (doc == NULL)
        return FALSE;
    ctxt = xmlXPathNewContext(doc);
    if (ctxt == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot make an XPath context (out of memory?)", what);
        return FALSE;
    }
    target = cohort_xml_find(ctxt, "/domain/devices/channel/target[@type='virtio' and "
                                   "@name='org.qemu.guest_agent.0']");
    if (target == NULL)
        return TRUE;
    value = (gchar *)xmlGetProp(target, BAD_CAST "state");
    *state =
        g_strcmp0(value, "connected") == 0 ? COHORT_AGENT_CONNECTED : COHORT_AGENT_DISCONNECTED;
    return TRUE;
}

gchar *
cohort_provisioner_addresses_join(virDomainInterfacePtr *ifaces, gint n)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);

    for (gint i = 0; i < n; i++) {
        for (guint j = 0; j < ifaces[i]->naddrs; j++) {
            const gchar *addr = ifaces[i]->addrs[j].addr;
            if (addr == NULL || addr[0] == '\0' || strlen(addr) > 45 ||
                g_str_has_prefix(addr, "127.") || g_strcmp0(addr, "::1") == 0 ||
                g_ascii_strncasecmp(addr, "fe80:", 5) == 0 ||
                strspn(addr, "0123456789abcdefABCDEF.:") != strlen(addr))
                continue;
            if (!g_ptr_array_find_with_equal_func(seen, addr, g_str_equal, NULL) && seen->len < 16)
                g_ptr_array_add(seen, g_strdup(addr));
        }
    }
    if (seen->len == 0)
        return NULL;
    g_ptr_array_add(seen, NULL);
    return g_strjoinv(" ", (gchar **)seen->pdata);
}

static gchar *
cohort_provisioner_addresses_from(virDomainPtr dom, guint source, gboolean *ok)
{
    virDomainInterfacePtr *ifaces = NULL;
    gint n = virDomainInterfaceAddresses(dom, &ifaces, source, 0);
    gchar *joined;

    *ok = n >= 0;
    if (n < 0)
        return NULL;
    joined = cohort_provisioner_addresses_join(ifaces, n);
    for (gint i = 0; i < n; i++)
        virDomainInterfaceFree(ifaces[i]);
    free(ifaces);
    return joined;
}

gchar *
cohort_provisioner_domain_addresses(CohortProvisioner *self, const gchar *name, gboolean ask_agent,
                                    GError **error)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(cohort_provisioner_get_connection(self), name);
    g_autofree gchar *what = g_strdup_printf("the addresses of %s", name);
    gchar *addresses;
    gboolean ok = FALSE;

    if (dom == NULL) {
        cohort_virt_set_error(error, what);
        return NULL;
    }
    addresses =
        cohort_provisioner_addresses_from(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, &ok);
    if (!ok)
        g_debug("%s: no lease: %s", what, virGetLastErrorMessage());
    if (addresses != NULL || !ask_agent)
        return addresses;
    addresses =
        cohort_provisioner_addresses_from(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, &ok);
    if (!ok)
        g_debug("%s: the agent says none: %s", what, virGetLastErrorMessage());
    return addresses;
}
