/* The templates of cohortd's templates directory, by name: loaded at start (a bad file is
 * skipped and logged), reloaded on request (all or nothing). Templates are refcounted: work
 * under way keeps the version it holds while a reload replaces the set's. Main thread only. */
#pragma once

#include <glib.h>

#include "cohort-template.h"

G_BEGIN_DECLS

typedef struct _CohortTemplateSet CohortTemplateSet;

/* A template file that cannot be loaded, and why (file:line: what is wrong). */
typedef struct {
    gchar *file;
    gchar *message;
} CohortTemplateProblem;
void cohort_template_problem_free(CohortTemplateProblem *problem);

/* What a reload did to one template: "added", "changed", "unchanged" or "removed". */
typedef struct {
    gchar *name;
    const gchar *state;
} CohortTemplateChange;
void cohort_template_change_free(CohortTemplateChange *change);

/* A check beyond the template engine's own, run once for each template loaded (libvirt's
 * full parser, in virt/): a template it refuses is a problem like any other. */
typedef gboolean (*CohortTemplateCheckFunc)(CohortTemplate *tmpl, GError **error);

/* Empty, for the templates of @dir. */
CohortTemplateSet *cohort_template_set_new(const gchar *dir);
void cohort_template_set_free(CohortTemplateSet *self);
void cohort_template_set_set_check(CohortTemplateSet *self, CohortTemplateCheckFunc check);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortTemplateSet, cohort_template_set_free)

/* Loads every *.xml of the directory; a bad file is logged and skipped. FALSE only when the
 * directory cannot be read. */
gboolean cohort_template_set_load(CohortTemplateSet *self, GError **error);
/* Reads the directory again, all or nothing: when every file loads, the set is replaced and
 * @changes lists what happened to each name; otherwise nothing changes,
 * COHORT_ERROR_INVALID_ARGUMENT, and @problems lists the files that did not load. */
gboolean cohort_template_set_reload(CohortTemplateSet *self, GPtrArray **changes,
                                    GPtrArray **problems, GError **error);
/* Borrowed; NOT_FOUND naming where to look. */
CohortTemplate *cohort_template_set_get(CohortTemplateSet *self, const gchar *name, GError **error);
/* name -> CohortTemplate, borrowed: the same table for the set's life (a reload changes what
 * it holds), so that others may keep it. */
GHashTable *cohort_template_set_get_table(CohortTemplateSet *self);
const gchar *cohort_template_set_get_dir(CohortTemplateSet *self);

G_END_DECLS
