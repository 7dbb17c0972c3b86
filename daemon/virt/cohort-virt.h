/* The edge between libvirt and Cohort: autoptr for libvirt types and its errors as GErrors. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStorageVol, virStorageVolFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStoragePool, virStoragePoolFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virNetwork, virNetworkFree)

/* Keeps libvirt from printing to stderr; errors reach us through virGetLastError(). */
void cohort_virt_init(void);

/* libvirt's default event loop, so that keepalives, close callbacks and domain events work.
 * libvirt 9's default implementation runs on GLib's default main context, which cohortd's
 * main loop iterates: no thread of its own (README, "libvirt and the store converge"). Call
 * before opening connections. */
void cohort_virt_events_init(void);

/* Sets @error from libvirt's last error of this thread: "@what: libvirt's message". A lost
 * connection becomes COHORT_ERROR_HOST_UNAVAILABLE, the rest COHORT_ERROR_LIBVIRT. */
void cohort_virt_set_error(GError **error, const gchar *what);

/* libvirt's last error code on this thread, VIR_ERR_OK when there is none. */
int cohort_virt_last_error_code(void);

virConnectPtr cohort_virt_connect(const gchar *uri, GError **error);

/* The host's UUID as libvirt reports it (capabilities' <host><uuid>, from the machine's
 * SMBIOS or libvirtd.conf's host_uuid), lower case; NULL when it reports none (the test
 * driver does not). Two URIs with one UUID reach one libvirt host. */
gchar *cohort_virt_get_host_uuid(virConnectPtr conn);

G_END_DECLS
