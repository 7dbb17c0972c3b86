/* Slugs: the names that end up in libvirt object names, URLs and logins. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Short enough that cohort-<cohort>-<trainee>-<n>.qcow2 stays a sane file name. */
#define COHORT_SLUG_MAX_LEN 40

gboolean cohort_slug_validate(const gchar *slug, const gchar *what, GError **error);

G_END_DECLS
