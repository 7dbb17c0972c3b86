/* libvirt's own RelaxNG schema for domains: nothing reaches libvirt unvalidated. */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

/* Validates @doc against domain.rng in COHORT_LIBVIRT_SCHEMADIR (or $COHORT_LIBVIRT_SCHEMADIR).
 * The schema is parsed when no validation holds it and freed when the last one ends;
 * validation is thread-safe. @name goes in the error with the line and libvirt schema's
 * complaint. */
gboolean cohort_domain_schema_validate(xmlDoc *doc, const gchar *name, GError **error);
/* Keeps the parsed schema between validations until _unhold(), for a burst of them (a
 * directory of templates): one parse, not one per template. FALSE if it cannot be loaded
 * (each validation then says why); hold only what was held. */
gboolean cohort_domain_schema_hold(void);
void cohort_domain_schema_unhold(void);
/* For tests: how many times the schema was parsed, and whether it is held now. */
guint cohort_domain_schema_get_loads(void);
gboolean cohort_domain_schema_is_loaded(void);

G_END_DECLS
