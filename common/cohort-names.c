#define G_LOG_DOMAIN "cohort-names"

#include "config.h"

#include "cohort-names.h"

/* Slugs never hold "--", so it separates the parts without ambiguity: with single hyphens,
 * trainee "sok-dara-2" and the second machine of "sok-dara" would share a name, and so would
 * cohort "a-b" with trainee "c" and cohort "a" with trainee "b-c". */
gchar *
cohort_names_domain(const gchar *cohort, const gchar *trainee, guint index)
{
    if (index <= 1)
        return g_strdup_printf(COHORT_NAME_PREFIX "%s--%s", cohort, trainee);
    return g_strdup_printf(COHORT_NAME_PREFIX "%s--%s--%u", cohort, trainee, index);
}

gchar *
cohort_names_overlay(const gchar *domain_name)
{
    return g_strconcat(domain_name, ".qcow2", NULL);
}

gchar *
cohort_names_seed(const gchar *domain_name)
{
    return g_strconcat(domain_name, COHORT_NAMES_SEED_SUFFIX, NULL);
}

gchar *
cohort_names_network(const gchar *cohort)
{
    return g_strconcat(COHORT_NAME_PREFIX, cohort, NULL);
}

gchar *
cohort_names_network_uuid(const gchar *owner, const gchar *cohort)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 digest[32];
    gsize len = sizeof(digest);

    g_checksum_update(sum, (const guchar *)"cohort-network\n", -1);
    g_checksum_update(sum, (const guchar *)(owner != NULL ? owner : ""), -1);
    g_checksum_update(sum, (const guchar *)"\n", -1);
    g_checksum_update(sum, (const guchar *)cohort, -1);
    g_checksum_get_digest(sum, digest, &len);
    /* RFC 9562 version 8 (name-based, custom hash), variant 10 */
    digest[6] = (guint8)((digest[6] & 0x0f) | 0x80);
    digest[8] = (guint8)((digest[8] & 0x3f) | 0x80);
    return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                           digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
                           digest[6], digest[7], digest[8], digest[9], digest[10], digest[11],
                           digest[12], digest[13], digest[14], digest[15]);
}

gboolean
cohort_names_has_prefix(const gchar *name)
{
    return name != NULL && g_str_has_prefix(name, COHORT_NAME_PREFIX) &&
           name[strlen(COHORT_NAME_PREFIX)] != '\0';
}

gboolean
cohort_names_network_is_own(const gchar *mode)
{
    return g_strcmp0(mode, "isolated") == 0 || g_strcmp0(mode, "nat") == 0;
}
