#define G_LOG_DOMAIN "cohort-domain-schema"

#include "config.h"

#include "cohort-domain-schema.h"
#include "cohort-error.h"
#include "cohort-xml.h"

/* The parsed schema is held only while validations use it, then freed: it takes ~3 MiB,
 * and a template's renderings share one validation per shape (cohort-template.c), so
 * validations come in rare bursts. Parsing domain.rng (and the dozen files it includes)
 * costs far more than a validation: validations that overlap share one parse. */
typedef struct {
    GMutex lock;
    xmlRelaxNG *schema; /* NULL while no validation uses it */
    guint users;
    guint loads;
} CohortDomainSchema;

static CohortDomainSchema cohort_domain_schema;

/* libxml2's RelaxNG errors come in a cascade ("Extra element devices in interleave", then
 * "Element domain failed to validate content"): keep the first few messages, and the place
 * of the first one that names a node. */
#define COHORT_SCHEMA_ERROR_MESSAGES_MAX 3

typedef struct {
    gint line;
    gchar *where;
    GPtrArray *messages;
} CohortSchemaError;

static void
cohort_schema_error_clear(CohortSchemaError *err)
{
    g_clear_pointer(&err->where, g_free);
    g_clear_pointer(&err->messages, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortSchemaError, cohort_schema_error_clear)

/* libxml2 reports a wrong child at its parent ("Extra element on_crash in interleave" at
 * <domain>); the child itself, when its name is in the message, tells the author the line. */
static xmlNode *
cohort_schema_error_pinpoint(xmlNode *node, const gchar *message)
{
    static const gchar *const patterns[] = {
        "^Extra element ([^ ]+) in interleave",
        "^Did not expect element ([^ ]+) there",
        "^Element [^ ]+ has extra content: ([^ ]+)$",
    };

    for (guint i = 0; i < G_N_ELEMENTS(patterns); i++) {
        g_autoptr(GRegex) re = g_regex_new(patterns[i], 0, 0, NULL);
        g_autoptr(GMatchInfo) match = NULL;
        g_autofree gchar *name = NULL;

        if (re == NULL || !g_regex_match(re, message, 0, &match))
            continue;
        name = g_match_info_fetch(match, 1);
        if (g_strcmp0((const gchar *)node->name, name) == 0)
            return node;
        for (xmlNode *child = node->children; child != NULL; child = child->next) {
            if (child->type == XML_ELEMENT_NODE && g_strcmp0((const gchar *)child->name, name) == 0)
                return child;
        }
    }
    return node;
}

static void
cohort_schema_error_collect(void *user_data, xmlError *xerr)
{
    CohortSchemaError *err = user_data;
    xmlNode *node;
    gchar *message;
    g_autofree gchar *message_text = NULL;

    if (xerr == NULL)
        return;
    if (err->messages == NULL)
        err->messages = g_ptr_array_new_with_free_func(g_free);
    message = g_strstrip(g_strdup(xerr->message != NULL ? xerr->message : "unknown error"));
    message_text = g_strdup(message);
    if (err->messages->len < COHORT_SCHEMA_ERROR_MESSAGES_MAX &&
        !g_ptr_array_find_with_equal_func(err->messages, message, g_str_equal, NULL))
        g_ptr_array_add(err->messages, message);
    else
        g_free(message);

    node = xerr->node;
    if (err->where == NULL && node != NULL && node->type == XML_ELEMENT_NODE) {
        /* the message naming the culprit may have come before, without a node */
        xmlNode *culprit = cohort_schema_error_pinpoint(node, message_text);
        for (guint i = 0; culprit == node && i < err->messages->len; i++)
            culprit = cohort_schema_error_pinpoint(node, g_ptr_array_index(err->messages, i));
        err->line = culprit != node || xerr->line <= 0 ? (gint)xmlGetLineNo(culprit) : xerr->line;
        err->where = cohort_xml_node_describe(culprit);
    }
}

static gchar *
cohort_schema_error_message(CohortSchemaError *err)
{
    if (err->messages == NULL || err->messages->len == 0)
        return g_strdup("invalid");
    g_ptr_array_add(err->messages, NULL);
    return g_strjoinv("; ", (gchar **)err->messages->pdata);
}

static gchar *
cohort_domain_schema_path(void)
{
    const gchar *dir = g_getenv("COHORT_LIBVIRT_SCHEMADIR");

    if (dir == NULL || dir[0] == '\0')
        dir = COHORT_LIBVIRT_SCHEMADIR;
    return g_build_filename(dir, "domain.rng", NULL);
}

static xmlRelaxNG *
cohort_domain_schema_load(const gchar *path, GError **error)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_auto(CohortSchemaError) err = {0};
    g_autoptr(xmlRelaxNGParserCtxt) pctxt = NULL;
    xmlRelaxNG *schema = NULL;

    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "libvirt's domain schema %s is missing: install libvirt's schemas (the "
                    "libvirt-dev or libvirt-devel package) or set COHORT_LIBVIRT_SCHEMADIR",
                    path);
        return NULL;
    }
    pctxt = xmlRelaxNGNewParserCtxt(path);
    if (pctxt != NULL) {
        xmlRelaxNGSetParserStructuredErrors(pctxt, cohort_schema_error_collect, &err);
        schema = xmlRelaxNGParse(pctxt);
    }
    if (schema == NULL) {
        g_autofree gchar *message = cohort_schema_error_message(&err);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot load libvirt's domain schema %s: %s", path, message);
        return NULL;
    }
    g_debug("loaded %s", path);
    return schema;
}

/* The parsed schema, loaded when no validation holds it; give it back with _release(). */
static xmlRelaxNG *
cohort_domain_schema_acquire(const gchar *path, GError **error)
{
    CohortDomainSchema *self = &cohort_domain_schema;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);

    if (self->schema == NULL) {
        self->schema = cohort_domain_schema_load(path, error);
        if (self->schema == NULL)
            return NULL;
        self->loads++;
    }
    self->users++;
    return self->schema;
}

static void
cohort_domain_schema_release(void)
{
    CohortDomainSchema *self = &cohort_domain_schema;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);

    g_return_if_fail(self->users > 0);
    if (--self->users == 0)
        g_clear_pointer(&self->schema, xmlRelaxNGFree);
}

gboolean
cohort_domain_schema_hold(void)
{
    g_autofree gchar *path = cohort_domain_schema_path();

    return cohort_domain_schema_acquire(path, NULL) != NULL;
}

void
cohort_domain_schema_unhold(void)
{
    cohort_domain_schema_release();
}

guint
cohort_domain_schema_get_loads(void)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_domain_schema.lock);

    return cohort_domain_schema.loads;
}

gboolean
cohort_domain_schema_is_loaded(void)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_domain_schema.lock);

    return cohort_domain_schema.schema != NULL;
}

static void
cohort_domain_schema_set_error(GError **error, const gchar *prefix, const gchar *path,
                               CohortSchemaError *err)
{
    g_autofree gchar *message = cohort_schema_error_message(err);

    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                "%s: the domain does not match libvirt's schema %s, at %s: %s; fix that part of "
                "the template",
                prefix, path, err->where != NULL ? err->where : "(unknown place)", message);
}

static gboolean
cohort_domain_schema_validate_with(xmlRelaxNG *schema, const gchar *path, xmlDoc *doc,
                                   const gchar *name, GError **error)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_auto(CohortSchemaError) err = {0};
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = NULL;
    gint rc;

    /* A validation context per call: the compiled schema itself is only read. */
    vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (vctxt == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot make a RelaxNG validation context (out of memory?)", name);
        return FALSE;
    }
    xmlRelaxNGSetValidStructuredErrors(vctxt, cohort_schema_error_collect, &err);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    if (rc == 0)
        return TRUE;

    if (rc < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: libxml2 could not validate the domain against %s", name, path);
        return FALSE;
    }
    if (err.line > 0) {
        g_autofree gchar *prefix = g_strdup_printf("%s:%d", name, err.line);
        cohort_domain_schema_set_error(error, prefix, path, &err);
    } else {
        cohort_domain_schema_set_error(error, name, path, &err);
    }
    return FALSE;
}

gboolean
cohort_domain_schema_validate(xmlDoc *doc, const gchar *name, GError **error)
{
    g_autoptr(GError) error_local = NULL;
    g_autofree gchar *path = NULL;
    xmlRelaxNG *schema;
    gboolean ok;

    g_return_val_if_fail(doc != NULL, FALSE);
    g_return_val_if_fail(name != NULL, FALSE);

    path = cohort_domain_schema_path();
    schema = cohort_domain_schema_acquire(path, &error_local);
    if (schema == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "%s: %s", name,
                    error_local->message);
        return FALSE;
    }
    ok = cohort_domain_schema_validate_with(schema, path, doc, name, error);
    cohort_domain_schema_release();
    return ok;
}
