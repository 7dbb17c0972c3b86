#define G_LOG_DOMAIN "cohort-virt"

#include "config.h"

#include "cohort-error.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

static void
cohort_virt_error_ignore(void *userdata, virErrorPtr err)
{
}

void
cohort_virt_init(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        virInitialize();
        virSetErrorFunc(NULL, cohort_virt_error_ignore);
        g_once_init_leave(&once, 1);
    }
}

/* Since libvirt 6.0 the default event implementation is GLib's default main context: once
 * registered, cohortd's main loop drives keepalives, close callbacks and domain events, and
 * the callbacks run in the main thread. No thread of our own, and no libvirt-glib. */
void
cohort_virt_events_init(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        cohort_virt_init();
        if (virEventRegisterDefaultImpl() < 0)
            g_warning("cannot register libvirt's event loop: %s", virGetLastErrorMessage());
        g_once_init_leave(&once, 1);
    }
}

static gboolean
cohort_virt_error_is_connection(const virError *verr)
{
    return verr->code == VIR_ERR_NO_CONNECT || verr->code == VIR_ERR_RPC ||
           verr->code == VIR_ERR_AUTH_FAILED || verr->code == VIR_ERR_AUTH_UNAVAILABLE ||
           (verr->domain == VIR_FROM_RPC && verr->code == VIR_ERR_SYSTEM_ERROR) ||
           verr->code == VIR_ERR_INVALID_CONN;
}

void
cohort_virt_set_error(GError **error, const gchar *what)
{
    const virError *verr = virGetLastError();

    if (verr == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_LIBVIRT, "%s: unknown libvirt error", what);
        return;
    }
    g_set_error(error, COHORT_ERROR,
                cohort_virt_error_is_connection(verr) ? COHORT_ERROR_HOST_UNAVAILABLE
                                                      : COHORT_ERROR_LIBVIRT,
                "%s: %s", what, verr->message != NULL ? verr->message : "no message");
}

int
cohort_virt_last_error_code(void)
{
    const virError *verr = virGetLastError();
    return verr != NULL ? verr->code : VIR_ERR_OK;
}

virConnectPtr
cohort_virt_connect(const gchar *uri, GError **error)
{
    virConnectPtr conn;

    cohort_virt_init();
    conn = virConnectOpen(uri);
    if (conn == NULL) {
        g_autofree gchar *what = g_strdup_printf("connecting to %s", uri);
        cohort_virt_set_error(error, what);
        /* A host we cannot reach is unavailable, whatever libvirt called it. */
        if (error != NULL && *error != NULL)
            (*error)->code = COHORT_ERROR_HOST_UNAVAILABLE;
        return NULL;
    }
    return conn;
}

gchar *
cohort_virt_get_host_uuid(virConnectPtr conn)
{
    g_autofree gchar *caps = virConnectGetCapabilities(conn);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree gchar *uuid = NULL;

    if (caps == NULL) {
        g_debug("no capabilities: %s", virGetLastErrorMessage());
        return NULL;
    }
    doc =
        cohort_xml_parse_memory(caps, strlen(caps), "libvirt capabilities", "capabilities", &error);
    if (doc == NULL) {
        g_debug("%s", error->message);
        return NULL;
    }
    ctxt = xmlXPathNewContext(doc);
    uuid = cohort_xml_find_string(ctxt, "/capabilities/host/uuid");
    if (uuid == NULL || !g_uuid_string_is_valid(g_strstrip(uuid)))
        return NULL;
    return g_ascii_strdown(uuid, -1);
}
