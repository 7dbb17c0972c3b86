#define G_LOG_DOMAIN "cohort-template-set"

#include "config.h"

#include "cohort-error.h"
#include "cohort-domain-schema.h"
#include "cohort-template-set.h"

struct _CohortTemplateSet {
    gchar *dir;
    GHashTable *templates;         /* name -> CohortTemplate */
    CohortTemplateCheckFunc check; /* more checks of each template loaded; NULL: none */
};

CohortTemplateSet *
cohort_template_set_new(const gchar *dir)
{
    CohortTemplateSet *self = g_new0(CohortTemplateSet, 1);

    self->dir = g_strdup(dir);
    self->templates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)cohort_template_unref);
    return self;
}

void
cohort_template_set_set_check(CohortTemplateSet *self, CohortTemplateCheckFunc check)
{
    g_return_if_fail(self != NULL);
    self->check = check;
}

void
cohort_template_set_free(CohortTemplateSet *self)
{
    if (self == NULL)
        return;
    g_hash_table_unref(self->templates);
    g_free(self->dir);
    g_free(self);
}

void
cohort_template_problem_free(CohortTemplateProblem *problem)
{
    g_free(problem->file);
    g_free(problem->message);
    g_free(problem);
}

void
cohort_template_change_free(CohortTemplateChange *change)
{
    g_free(change->name);
    g_free(change);
}

static void
cohort_template_set_add_problem(GPtrArray *problems, const gchar *file, const gchar *message)
{
    CohortTemplateProblem *problem = g_new0(CohortTemplateProblem, 1);

    problem->file = g_strdup(file);
    problem->message = g_strdup(message);
    g_ptr_array_add(problems, problem);
}

static gint
cohort_template_set_strcmp_ptr(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* Every *.xml of the templates directory, by name; what cannot be loaded goes to @problems. */
static GHashTable *
cohort_template_set_read(const gchar *templates_dir, CohortTemplateCheckFunc check,
                         GPtrArray *problems, GError **error)
{
    g_autoptr(GDir) dir = g_dir_open(templates_dir, 0, error);
    g_autoptr(GHashTable) templates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                            (GDestroyNotify)cohort_template_unref);
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    const gchar *file;
    gboolean held;

    if (dir == NULL) {
        g_prefix_error(error, "reading the templates directory: ");
        return NULL;
    }
    while ((file = g_dir_read_name(dir)) != NULL) {
        if (g_str_has_suffix(file, ".xml"))
            g_ptr_array_add(files, g_strdup(file));
    }
    /* sorted, so that "a name used twice" always names the same second file */
    g_ptr_array_sort(files, cohort_template_set_strcmp_ptr);
    /* every template's renderings are validated: one parse of domain.rng for all of them */
    held = cohort_domain_schema_hold();
    for (guint i = 0; i < files->len; i++) {
        g_autofree gchar *path = g_build_filename(templates_dir, g_ptr_array_index(files, i), NULL);
        g_autoptr(GError) error_local = NULL;
        g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error_local);
        const gchar *name;

        /* once per template loaded, never per machine */
        if (tmpl != NULL && check != NULL && !check(tmpl, &error_local))
            g_clear_pointer(&tmpl, cohort_template_unref);
        if (tmpl == NULL) {
            cohort_template_set_add_problem(problems, path, error_local->message);
            continue;
        }
        name = cohort_template_get_name(tmpl);
        if (g_hash_table_contains(templates, name)) {
            g_autofree gchar *message = g_strdup_printf(
                "another file of the directory already defines template '%s': rename one", name);
            cohort_template_set_add_problem(problems, path, message);
            continue;
        }
        g_hash_table_replace(templates, g_strdup(name), g_steal_pointer(&tmpl));
    }
    if (held)
        cohort_domain_schema_unhold();
    return g_steal_pointer(&templates);
}

gboolean
cohort_template_set_load(CohortTemplateSet *self, GError **error)
{
    g_autoptr(GPtrArray) problems =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_problem_free);
    g_autoptr(GHashTable) loaded =
        cohort_template_set_read(self->dir, self->check, problems, error);
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (loaded == NULL)
        return FALSE;
    /* at start cohortd must come up: a bad file is skipped, the rest serve */
    for (guint i = 0; i < problems->len; i++) {
        CohortTemplateProblem *problem = g_ptr_array_index(problems, i);
        g_warning("template %s is not loaded: %s", problem->file, problem->message);
    }
    g_hash_table_iter_init(&iter, loaded);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_replace(self->templates, g_strdup(key), cohort_template_ref(value));
    g_message("%u templates loaded from %s", g_hash_table_size(self->templates), self->dir);
    return TRUE;
}

gboolean
cohort_template_set_reload(CohortTemplateSet *self, GPtrArray **changes, GPtrArray **problems,
                           GError **error)
{
    g_autoptr(GPtrArray) found =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_problem_free);
    g_autoptr(GHashTable) loaded = cohort_template_set_read(self->dir, self->check, found, error);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) diff =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_template_change_free);
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (loaded == NULL)
        return FALSE;
    /* asked for by an admin who can fix the file: all or nothing */
    if (found->len > 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%u template file%s of %s cannot be loaded; nothing was reloaded: fix or "
                    "remove %s (check with 'cohortd --check-template FILE'), then reload again",
                    found->len, found->len == 1 ? "" : "s", self->dir,
                    found->len == 1 ? "it" : "them");
        *problems = g_steal_pointer(&found);
        return FALSE;
    }
    g_hash_table_iter_init(&iter, self->templates);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    g_hash_table_iter_init(&iter, loaded);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (!g_hash_table_contains(self->templates, key))
            g_ptr_array_add(names, g_strdup(key));
    }
    g_ptr_array_sort(names, cohort_template_set_strcmp_ptr);
    for (guint i = 0; i < names->len; i++) {
        const gchar *name = g_ptr_array_index(names, i);
        CohortTemplate *old = g_hash_table_lookup(self->templates, name);
        CohortTemplate *new = g_hash_table_lookup(loaded, name);
        CohortTemplateChange *change = g_new0(CohortTemplateChange, 1);

        change->name = g_strdup(name);
        if (old == NULL)
            change->state = "added";
        else if (new == NULL)
            change->state = "removed";
        else if (cohort_template_same_source(old, new))
            change->state = "unchanged";
        else
            change->state = "changed";
        g_ptr_array_add(diff, change);
    }
    /* work under way keeps the template it holds a reference to; new work gets the new one */
    g_hash_table_remove_all(self->templates);
    g_hash_table_iter_init(&iter, loaded);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_replace(self->templates, g_strdup(key), cohort_template_ref(value));
    *changes = g_steal_pointer(&diff);
    return TRUE;
}

CohortTemplate *
cohort_template_set_get(CohortTemplateSet *self, const gchar *name, GError **error)
{
    CohortTemplate *tmpl = g_hash_table_lookup(self->templates, name != NULL ? name : "");
    if (tmpl == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "no template '%s' (see 'cohortctl template list')", name);
        return NULL;
    }
    return tmpl;
}

GHashTable *
cohort_template_set_get_table(CohortTemplateSet *self)
{
    return self->templates;
}

const gchar *
cohort_template_set_get_dir(CohortTemplateSet *self)
{
    return self->dir;
}
