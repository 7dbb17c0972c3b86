#define G_LOG_DOMAIN "cohort-domain-schema"

#include "config.h"

#include "cohort-domain-schema.h"
#include "cohort-error.h"
#include "cohort-xml.h"

/* The schema is parsed once per process and never freed: parsing domain.rng (and the dozen
 * files it includes) costs far more than a validation. */
typedef struct {
    xmlRelaxNG *schema;
    gchar *path;
    gchar *error; /* why it could not be loaded; every call reports it */
} CohortDomainSchema;

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

static gpointer
cohort_domain_schema_load(gpointer data G_GNUC_UNUSED)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_auto(CohortSchemaError) err = {0};
    g_autoptr(xmlRelaxNGParserCtxt) pctxt = NULL;
    CohortDomainSchema *self = g_new0(CohortDomainSchema, 1);
    const gchar *dir = g_getenv("COHORT_LIBVIRT_SCHEMADIR");

    if (dir == NULL || dir[0] == '\0')
        dir = COHORT_LIBVIRT_SCHEMADIR;
    self->path = g_build_filename(dir, "domain.rng", NULL);
    if (!g_file_test(self->path, G_FILE_TEST_IS_REGULAR)) {
        self->error = g_strdup_printf(
            "libvirt's domain schema %s is missing: install libvirt's schemas (the libvirt-dev "
            "or libvirt-devel package) or set COHORT_LIBVIRT_SCHEMADIR",
            self->path);
        return self;
    }
    pctxt = xmlRelaxNGNewParserCtxt(self->path);
    if (pctxt != NULL) {
        xmlRelaxNGSetParserStructuredErrors(pctxt, cohort_schema_error_collect, &err);
        self->schema = xmlRelaxNGParse(pctxt);
    }
    if (self->schema == NULL) {
        g_autofree gchar *message = cohort_schema_error_message(&err);
        self->error =
            g_strdup_printf("cannot load libvirt's domain schema %s: %s", self->path, message);
        return self;
    }
    g_debug("loaded %s", self->path);
    return self;
}

static CohortDomainSchema *
cohort_domain_schema_get(void)
{
    static GOnce once = G_ONCE_INIT;

    return g_once(&once, cohort_domain_schema_load, NULL);
}

static void
cohort_domain_schema_set_error(GError **error, const gchar *prefix, CohortDomainSchema *schema,
                               CohortSchemaError *err)
{
    g_autofree gchar *message = cohort_schema_error_message(err);

    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                "%s: the domain does not match libvirt's schema %s, at %s: %s; fix that part of "
                "the template",
                prefix, schema->path, err->where != NULL ? err->where : "(unknown place)", message);
}

gboolean
cohort_domain_schema_validate(xmlDoc *doc, const gchar *name, GError **error)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_auto(CohortSchemaError) err = {0};
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = NULL;
    CohortDomainSchema *schema;
    gint rc;

    g_return_val_if_fail(doc != NULL, FALSE);
    g_return_val_if_fail(name != NULL, FALSE);

    schema = cohort_domain_schema_get();
    if (schema->schema == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "%s: %s", name, schema->error);
        return FALSE;
    }

    /* A validation context per call: the compiled schema itself is only read. */
    vctxt = xmlRelaxNGNewValidCtxt(schema->schema);
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
                    "%s: libxml2 could not validate the domain against %s", name, schema->path);
        return FALSE;
    }
    if (err.line > 0) {
        g_autofree gchar *prefix = g_strdup_printf("%s:%d", name, err.line);
        cohort_domain_schema_set_error(error, prefix, schema, &err);
    } else {
        cohort_domain_schema_set_error(error, name, schema, &err);
    }
    return FALSE;
}
