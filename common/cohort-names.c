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
cohort_names_network(const gchar *cohort)
{
    return g_strconcat(COHORT_NAME_PREFIX, cohort, NULL);
}

gboolean
cohort_names_has_prefix(const gchar *name)
{
    return name != NULL && g_str_has_prefix(name, COHORT_NAME_PREFIX) &&
           name[strlen(COHORT_NAME_PREFIX)] != '\0';
}
