#define G_LOG_DOMAIN "cohort-subnet"

#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "cohort-error.h"
#include "cohort-subnet.h"

static guint32
cohort_subnet_mask(guint prefix)
{
    return prefix == 0 ? 0 : G_MAXUINT32 << (32 - prefix);
}

static gboolean
cohort_subnet_parse_address(const gchar *text, guint32 *address)
{
    struct in_addr in;

    if (text == NULL || inet_pton(AF_INET, text, &in) != 1)
        return FALSE;
    *address = ntohl(in.s_addr);
    return TRUE;
}

gboolean
cohort_subnet_parse(const gchar *text, gboolean loose, CohortSubnet *subnet, GError **error)
{
    g_auto(GStrv) parts = NULL;
    guint64 prefix = 0;
    guint32 address = 0;

    g_return_val_if_fail(subnet != NULL, FALSE);

    if (text != NULL)
        parts = g_strsplit(text, "/", 3);
    if (parts == NULL || g_strv_length(parts) != 2 ||
        !cohort_subnet_parse_address(parts[0], &address) ||
        !g_ascii_string_to_unsigned(parts[1], 10, 0, 32, &prefix, NULL)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "'%s' is not an IPv4 subnet: write it as ADDRESS/PREFIX, like 10.200.0.0/16",
                    text != NULL ? text : "");
        return FALSE;
    }
    if (!loose && (address & ~cohort_subnet_mask((guint)prefix)) != 0) {
        CohortSubnet meant = {address & cohort_subnet_mask((guint)prefix), (guint)prefix};
        g_autofree gchar *shown = cohort_subnet_to_string(&meant);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "'%s' has host bits set: the subnet is written with its network address "
                    "(%s?)",
                    text, shown);
        return FALSE;
    }
    subnet->prefix = (guint)prefix;
    subnet->network = address & cohort_subnet_mask(subnet->prefix);
    return TRUE;
}

gboolean
cohort_subnet_from_address(const gchar *address, const gchar *prefix, const gchar *netmask,
                           CohortSubnet *subnet)
{
    guint32 addr = 0;
    guint64 bits = 0;

    if (!cohort_subnet_parse_address(address, &addr))
        return FALSE;
    if (prefix != NULL) {
        if (!g_ascii_string_to_unsigned(prefix, 10, 0, 32, &bits, NULL))
            return FALSE;
    } else if (netmask != NULL) {
        guint32 mask = 0;
        if (!cohort_subnet_parse_address(netmask, &mask))
            return FALSE;
        /* contiguous ones, then zeros */
        while (bits < 32 && (mask & (1u << (31 - bits))) != 0)
            bits++;
        if (mask != cohort_subnet_mask((guint)bits))
            return FALSE;
    } else {
        /* libvirt's default for an IPv4 <ip> without either: the classful one */
        bits = addr < 0x80000000u ? 8 : addr < 0xC0000000u ? 16 : 24;
    }
    subnet->prefix = (guint)bits;
    subnet->network = addr & cohort_subnet_mask(subnet->prefix);
    return TRUE;
}

static gchar *
cohort_subnet_dotted(guint32 address)
{
    return g_strdup_printf("%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff,
                           (address >> 8) & 0xff, address & 0xff);
}

gchar *
cohort_subnet_to_string(const CohortSubnet *subnet)
{
    g_autofree gchar *address = cohort_subnet_dotted(subnet->network);
    return g_strdup_printf("%s/%u", address, subnet->prefix);
}

guint32
cohort_subnet_last(const CohortSubnet *subnet)
{
    return subnet->network | ~cohort_subnet_mask(subnet->prefix);
}

gboolean
cohort_subnet_overlaps(const CohortSubnet *a, const CohortSubnet *b)
{
    return a->network <= cohort_subnet_last(b) && b->network <= cohort_subnet_last(a);
}

gboolean
cohort_subnet_contains(const CohortSubnet *outer, const CohortSubnet *inner)
{
    return inner->network >= outer->network &&
           cohort_subnet_last(inner) <= cohort_subnet_last(outer);
}

gchar *
cohort_subnet_address(const CohortSubnet *subnet, guint32 nth)
{
    return cohort_subnet_dotted(subnet->network + nth);
}

gchar *
cohort_subnet_netmask(const CohortSubnet *subnet)
{
    return cohort_subnet_dotted(cohort_subnet_mask(subnet->prefix));
}

gboolean
cohort_subnet_find_free(const CohortSubnet *range, guint prefix, const CohortSubnet *taken,
                        guint n_taken, CohortSubnet *found)
{
    guint64 step;
    guint64 end;

    g_return_val_if_fail(range != NULL && found != NULL, FALSE);

    if (prefix < range->prefix || prefix > 32)
        return FALSE;
    step = G_GUINT64_CONSTANT(1) << (32 - prefix);
    end = (guint64)cohort_subnet_last(range) + 1;
    for (guint64 at = range->network; at + step <= end;) {
        CohortSubnet candidate = {(guint32)at, prefix};
        guint64 next = at + step;
        gboolean free = TRUE;
        for (guint i = 0; i < n_taken; i++) {
            if (cohort_subnet_overlaps(&candidate, &taken[i])) {
                guint64 past = (guint64)cohort_subnet_last(&taken[i]) + 1;
                free = FALSE;
                /* skip past what is taken, to the next aligned block */
                if (past > next)
                    next = (past + step - 1) / step * step;
            }
        }
        if (free) {
            *found = candidate;
            return TRUE;
        }
        at = next;
    }
    return FALSE;
}
