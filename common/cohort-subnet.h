/* IPv4 subnets of the address plan: each cohort's own network gets one, inside the plan's
 * range, overlapping no other cohort's and no libvirt network already on a host. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    guint32 network; /* host byte order, the low (32 - prefix) bits zero */
    guint prefix;    /* 0..32 */
} CohortSubnet;

/* "10.200.0.0/16" (the network address itself, no host bits set): COHORT_ERROR_INVALID_ARGUMENT
 * saying what is wrong otherwise. With @loose, host bits are cleared instead (a libvirt
 * network's <ip address='10.0.0.1' prefix='24'/> is 10.0.0.0/24). */
gboolean cohort_subnet_parse(const gchar *text, gboolean loose, CohortSubnet *subnet,
                             GError **error);
/* From an address and a prefix or a dotted netmask (what libvirt's <ip> carries); FALSE when
 * neither makes sense. */
gboolean cohort_subnet_from_address(const gchar *address, const gchar *prefix, const gchar *netmask,
                                    CohortSubnet *subnet);
gchar *cohort_subnet_to_string(const CohortSubnet *subnet);
guint32 cohort_subnet_last(const CohortSubnet *subnet);
gboolean cohort_subnet_overlaps(const CohortSubnet *a, const CohortSubnet *b);
gboolean cohort_subnet_contains(const CohortSubnet *outer, const CohortSubnet *inner);
/* The @nth address of the subnet (0: the network address), dotted. */
gchar *cohort_subnet_address(const CohortSubnet *subnet, guint32 nth);
/* The netmask, dotted ("255.255.255.0"). */
gchar *cohort_subnet_netmask(const CohortSubnet *subnet);
/* The first /@prefix block of @range that overlaps none of @taken (@n_taken of them); FALSE
 * when there is none. */
gboolean cohort_subnet_find_free(const CohortSubnet *range, guint prefix, const CohortSubnet *taken,
                                 guint n_taken, CohortSubnet *found);

G_END_DECLS
