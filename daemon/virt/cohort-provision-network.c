#define G_LOG_DOMAIN "cohort-provision"

#include "config.h"

#include <string.h>

#include "cohort-crash.h"
#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision-network.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

/* Two workers making the first machines of one cohort at once would both find no network
 * and both define one: the lookup and the definition go together. Network changes are rare
 * and quick, so one lock for every host is enough. */
static GMutex cohort_provision_network_lock;

gchar *
cohort_provision_network_xml_new(const CohortNetworkSpec *spec, GError **error)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root;
    xmlNode *bridge;
    CohortSubnet subnet;

    g_return_val_if_fail(spec != NULL && spec->name != NULL && spec->uuid != NULL, NULL);

    if (spec->subnet != NULL && !cohort_subnet_parse(spec->subnet, FALSE, &subnet, error))
        return NULL;
    if (spec->subnet != NULL && subnet.prefix > 29) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "subnet %s leaves no room for DHCP: a /29 is the smallest", spec->subnet);
        return NULL;
    }
    root = xmlNewNode(NULL, BAD_CAST "network");
    xmlDocSetRootElement(doc, root);
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "name", NULL), spec->name);
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "uuid", NULL), spec->uuid);
    if (spec->nat)
        xmlSetProp(xmlNewChild(root, NULL, BAD_CAST "forward", NULL), BAD_CAST "mode",
                   BAD_CAST "nat");
    bridge = xmlNewChild(root, NULL, BAD_CAST "bridge", NULL);
    xmlSetProp(bridge, BAD_CAST "stp", BAD_CAST "on");
    xmlSetProp(bridge, BAD_CAST "delay", BAD_CAST "0");
    if (spec->subnet != NULL) {
        /* the host is .1; DHCP hands out the rest but the broadcast address */
        guint32 size = cohort_subnet_last(&subnet) - subnet.network + 1;
        g_autofree gchar *address = cohort_subnet_address(&subnet, 1);
        g_autofree gchar *prefix = g_strdup_printf("%u", subnet.prefix);
        g_autofree gchar *start = cohort_subnet_address(&subnet, 2);
        g_autofree gchar *end = cohort_subnet_address(&subnet, size - 2);
        xmlNode *ip = xmlNewChild(root, NULL, BAD_CAST "ip", NULL);
        xmlNode *range;
        xmlSetProp(ip, BAD_CAST "address", BAD_CAST address);
        xmlSetProp(ip, BAD_CAST "prefix", BAD_CAST prefix);
        range =
            xmlNewChild(xmlNewChild(ip, NULL, BAD_CAST "dhcp", NULL), NULL, BAD_CAST "range", NULL);
        xmlSetProp(range, BAD_CAST "start", BAD_CAST start);
        xmlSetProp(range, BAD_CAST "end", BAD_CAST end);
    }
    return cohort_xml_to_string(doc);
}

/* The IPv4 subnets of one network's <ip> elements. */
static void
cohort_provision_network_read_subnets(virNetworkPtr net, GArray *subnets, GPtrArray *names)
{
    g_autofree gchar *xml = virNetworkGetXMLDesc(net, 0);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(GPtrArray) ips = NULL;

    if (xml == NULL)
        return;
    doc = cohort_xml_parse_memory(xml, strlen(xml), "network", "network", NULL);
    if (doc == NULL)
        return;
    ctxt = xmlXPathNewContext(doc);
    ips = cohort_xml_find_all(ctxt, "/network/ip[not(@family) or @family='ipv4']");
    for (guint i = 0; i < ips->len; i++) {
        xmlNode *ip = g_ptr_array_index(ips, i);
        g_autofree gchar *address = (gchar *)xmlGetProp(ip, BAD_CAST "address");
        g_autofree gchar *prefix = (gchar *)xmlGetProp(ip, BAD_CAST "prefix");
        g_autofree gchar *netmask = (gchar *)xmlGetProp(ip, BAD_CAST "netmask");
        CohortSubnet subnet;
        if (!cohort_subnet_from_address(address, prefix, netmask, &subnet))
            continue;
        g_array_append_val(subnets, subnet);
        if (names != NULL)
            g_ptr_array_add(names, g_strdup(virNetworkGetName(net)));
    }
}

/* Every network's subnets but @skip's (NULL: none skipped) and, with @owner, but this
 * installation's own; @names (may be NULL) gets each subnet's network name. */
static GArray *
cohort_provision_network_subnets(CohortProvisioner *self, const gchar *skip, const gchar *owner,
                                 GPtrArray *names, GError **error)
{
    virNetworkPtr *nets = NULL;
    g_autoptr(GArray) subnets = g_array_new(FALSE, FALSE, sizeof(CohortSubnet));
    int n = virConnectListAllNetworks(cohort_provisioner_get_connection(self), &nets, 0);

    if (n < 0) {
        cohort_virt_set_error(error, "listing networks");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const gchar *name = virNetworkGetName(nets[i]);
        gboolean own = FALSE;
        if (owner != NULL && cohort_names_has_prefix(name)) {
            g_autofree gchar *uuid =
                cohort_names_network_uuid(owner, name + strlen(COHORT_NAME_PREFIX));
            gchar found[VIR_UUID_STRING_BUFLEN] = "";
            own = virNetworkGetUUIDString(nets[i], found) == 0 &&
                  g_ascii_strcasecmp(found, uuid) == 0;
        }
        if (!own && g_strcmp0(name, skip) != 0)
            cohort_provision_network_read_subnets(nets[i], subnets, names);
        virNetworkFree(nets[i]);
    }
    free(nets);
    return g_steal_pointer(&subnets);
}

GArray *
cohort_provisioner_list_network_subnets(CohortProvisioner *self, const gchar *owner, GError **error)
{
    g_return_val_if_fail(self != NULL, NULL);
    return cohort_provision_network_subnets(self, NULL, owner, NULL, error);
}

/* The address plan avoided the networks the host had when it was reached; one made since
 * (by an admin, or another installation) is found here, before libvirt would refuse to
 * start a second route to the same addresses. */
static gboolean
cohort_provision_network_check_overlap(CohortProvisioner *self, const CohortNetworkSpec *spec,
                                       GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) subnets = NULL;
    CohortSubnet ours;

    if (spec->subnet == NULL || !cohort_subnet_parse(spec->subnet, FALSE, &ours, NULL))
        return TRUE;
    subnets = cohort_provision_network_subnets(self, spec->name, NULL, names, error);
    if (subnets == NULL)
        return FALSE;
    for (guint i = 0; i < subnets->len; i++) {
        const CohortSubnet *other = &g_array_index(subnets, CohortSubnet, i);
        if (cohort_subnet_overlaps(&ours, other)) {
            g_autofree gchar *text = cohort_subnet_to_string(other);
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "network %s would have subnet %s, which overlaps network %s (%s) on this "
                        "host: the address plan's [networks] range must stay clear of the "
                        "host's own networks; change the range, or remove that network",
                        spec->name, spec->subnet, (const gchar *)g_ptr_array_index(names, i), text);
            return FALSE;
        }
    }
    return TRUE;
}

/* The network called @name, NULL when there is none (and no error). */
static virNetworkPtr
cohort_provision_network_lookup(CohortProvisioner *self, const gchar *name, GError **error)
{
    virNetworkPtr net = virNetworkLookupByName(cohort_provisioner_get_connection(self), name);

    if (net == NULL && cohort_virt_last_error_code() != VIR_ERR_NO_NETWORK) {
        g_autofree gchar *what = g_strdup_printf("looking up network %s", name);
        cohort_virt_set_error(error, what);
    }
    return net;
}

static gboolean
cohort_provision_network_check_owned(virNetworkPtr net, const gchar *name, const gchar *uuid,
                                     GError **error)
{
    gchar found[VIR_UUID_STRING_BUFLEN] = "";

    if (virNetworkGetUUIDString(net, found) < 0) {
        g_autofree gchar *what = g_strdup_printf("reading the UUID of network %s", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    if (g_ascii_strcasecmp(found, uuid) != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "network %s exists but is not this installation's (its UUID is %s, not %s): "
                    "Cohort leaves it alone; rename or remove it",
                    name, found, uuid);
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_provisioner_network_ensure(CohortProvisioner *self, const CohortNetworkSpec *spec,
                                  GError **error)
{
    const gchar *name = spec->name;
    const gchar *uuid = spec->uuid;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_provision_network_lock);
    g_autoptr(virNetwork) net = NULL;
    g_autoptr(GError) error_local = NULL;
    g_autofree gchar *xml = NULL;
    gboolean defined_here = FALSE;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(cohort_names_has_prefix(name), FALSE);
    g_return_val_if_fail(uuid != NULL, FALSE);

    net = cohort_provision_network_lookup(self, name, &error_local);
    if (error_local != NULL) {
        g_propagate_error(error, g_steal_pointer(&error_local));
        return FALSE;
    }
    if (net != NULL && !cohort_provision_network_check_owned(net, name, uuid, error))
        return FALSE;
    if (net == NULL) {
        if (!cohort_provision_network_check_overlap(self, spec, error))
            return FALSE;
        xml = cohort_provision_network_xml_new(spec, error);
        if (xml == NULL)
            return FALSE;
        net = virNetworkDefineXML(cohort_provisioner_get_connection(self), xml);
        if (net == NULL) {
            g_autofree gchar *what = g_strdup_printf("defining network %s", name);
            cohort_virt_set_error(error, what);
            return FALSE;
        }
        defined_here = TRUE;
    }
    if (virNetworkIsActive(net) != 1 && virNetworkCreate(net) < 0) {
        g_autofree gchar *what = g_strdup_printf("starting network %s", name);
        cohort_virt_set_error(error, what);
        /* leave nothing half-made behind */
        if (defined_here && virNetworkUndefine(net) < 0)
            g_warning("network %s: not undefined after a failed start: %s", name,
                      virGetLastErrorMessage());
        return FALSE;
    }
    if (defined_here) {
        g_debug("network %s defined and started (%s%s)", name,
                spec->subnet != NULL ? spec->subnet : "no addresses", spec->nat ? ", nat" : "");
        cohort_crash_point("network-made");
    }
    return TRUE;
}

gboolean
cohort_provisioner_network_remove(CohortProvisioner *self, const gchar *name, const gchar *uuid,
                                  gboolean *removed, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_provision_network_lock);
    g_autoptr(virNetwork) net = NULL;
    g_autoptr(GError) error_local = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(cohort_names_has_prefix(name), FALSE);
    g_return_val_if_fail(uuid != NULL, FALSE);

    if (removed != NULL)
        *removed = FALSE;
    net = cohort_provision_network_lookup(self, name, &error_local);
    if (error_local != NULL) {
        g_propagate_error(error, g_steal_pointer(&error_local));
        return FALSE;
    }
    if (net == NULL)
        return TRUE;
    if (!cohort_provision_network_check_owned(net, name, uuid, error))
        return FALSE;
    if (virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0 &&
        cohort_virt_last_error_code() != VIR_ERR_OPERATION_INVALID) {
        g_autofree gchar *what = g_strdup_printf("stopping network %s", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    if (virNetworkIsPersistent(net) == 1 && virNetworkUndefine(net) < 0 &&
        cohort_virt_last_error_code() != VIR_ERR_NO_NETWORK) {
        g_autofree gchar *what = g_strdup_printf("undefining network %s", name);
        cohort_virt_set_error(error, what);
        return FALSE;
    }
    if (removed != NULL)
        *removed = TRUE;
    g_debug("network %s removed", name);
    return TRUE;
}

gboolean
cohort_provisioner_network_require(CohortProvisioner *self, const gchar *name, GError **error)
{
    g_autoptr(virNetwork) net = NULL;
    g_autoptr(GError) error_local = NULL;

    g_return_val_if_fail(self != NULL, FALSE);

    net = cohort_provision_network_lookup(self, name, &error_local);
    if (error_local != NULL) {
        g_propagate_error(error, g_steal_pointer(&error_local));
        return FALSE;
    }
    if (net == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "the cohort's shared network '%s' is not on this host: the admin defines and "
                    "starts it on every host (virsh net-define, net-start), or the cohort uses "
                    "\"isolated\"",
                    name);
        return FALSE;
    }
    if (virNetworkIsActive(net) != 1) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "the cohort's shared network '%s' is not started on this host: the admin "
                    "starts it (virsh net-start %s)",
                    name, name);
        return FALSE;
    }
    return TRUE;
}

static gint
cohort_provision_network_strcmp(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* One listing: the names with Cohort's prefix, and with @owner, only those whose UUID is
 * the one derived for @owner and the name's cohort (read from the listed objects). */
static GPtrArray *
cohort_provision_network_list(CohortProvisioner *self, const gchar *owner, GError **error)
{
    virNetworkPtr *nets = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    int n;

    g_return_val_if_fail(self != NULL, NULL);

    n = virConnectListAllNetworks(cohort_provisioner_get_connection(self), &nets, 0);
    if (n < 0) {
        cohort_virt_set_error(error, "listing networks");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const gchar *name = virNetworkGetName(nets[i]);
        gboolean listed = cohort_names_has_prefix(name);
        if (listed && owner != NULL) {
            g_autofree gchar *uuid =
                cohort_names_network_uuid(owner, name + strlen(COHORT_NAME_PREFIX));
            gchar found[VIR_UUID_STRING_BUFLEN] = "";
            listed = virNetworkGetUUIDString(nets[i], found) == 0 &&
                     g_ascii_strcasecmp(found, uuid) == 0;
        }
        if (listed)
            g_ptr_array_add(names, g_strdup(name));
        virNetworkFree(nets[i]);
    }
    free(nets);
    g_ptr_array_sort(names, cohort_provision_network_strcmp);
    return g_steal_pointer(&names);
}

GPtrArray *
cohort_provisioner_list_prefixed_networks(CohortProvisioner *self, GError **error)
{
    return cohort_provision_network_list(self, NULL, error);
}

GPtrArray *
cohort_provisioner_list_owned_networks(CohortProvisioner *self, const gchar *owner, GError **error)
{
    g_return_val_if_fail(owner != NULL, NULL);
    return cohort_provision_network_list(self, owner, error);
}
