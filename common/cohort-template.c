#define G_LOG_DOMAIN "cohort-template"

#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cohort-domain-schema.h"
#include "cohort-error.h"
#include "cohort-slug.h"
#include "cohort-template.h"
#include "cohort-xml.h"

/* Longest libvirt domain or network name we make or accept. */
#define COHORT_TEMPLATE_OBJECT_NAME_MAX 100
#define COHORT_TEMPLATE_DISPLAY_NAME_MAX 200
#define COHORT_TEMPLATE_VNC_PASSWORD_MAX 8
#define COHORT_TEMPLATE_VCPUS_MAX 256
#define COHORT_TEMPLATE_MEMORY_MIB_MIN 16
#define COHORT_TEMPLATE_MEMORY_MIB_MAX G_GUINT64_CONSTANT(1048576) /* 1 TiB */
#define COHORT_TEMPLATE_DISK_MIB_MAX G_GUINT64_CONSTANT(16777216)  /* 16 TiB */
#define COHORT_TEMPLATE_VNC_LISTEN_DEFAULT "127.0.0.1"

struct _CohortTemplate {
    gint refcount; /* workers hold a reference while a reload replaces the table's */
    gchar *name;
    gchar *path;   /* NULL when made from data */
    gchar *source; /* what errors call it: the path, or the name */
    gchar *xml;    /* the author's document, parsed again for every rendering */
    gsize xml_len;
    gchar *description;
    gchar *base_pool;
    gchar *base_volume;
    guint vcpus;
    guint64 memory_mib;
    guint64 disk_mib;
    guint n_interfaces;
    /* The shapes of renderings validated against domain.rng (cohort_render_shape()): a
     * rendering of a known shape differs from a validated one only in values checked on
     * their own, so it is not validated again. */
    GMutex shapes_lock;
    GHashTable *shapes;   /* shape → NULL */
    gboolean guest_agent; /* the guest runs qemu-guest-agent (<cohort:guest-agent>, yes) */
    gboolean seed_disabled;
    gchar *seed_user;
};

/* At most this many shapes are kept per template; a rendering of a new shape past it is
 * validated in full every time (renderings differ in shape only by optional parts). */
#define COHORT_TEMPLATE_SHAPES_MAX 32

/* cohort-template.rng, parsed once per path and kept for the life of the process. */
static GMutex cohort_template_schema_lock;
static GHashTable *cohort_template_schemas; /* path → xmlRelaxNG */

static gchar *
cohort_template_schema_path(const gchar *template_dir)
{
    const gchar *env = g_getenv("COHORT_TEMPLATE_SCHEMA");
    g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func(g_free);

    if (env != NULL && env[0] != '\0')
        return g_strdup(env);
    /* Next to the template first: the schema is shipped (and installed) with the templates,
     * so a source tree or an installed tree finds its own. */
    if (template_dir != NULL)
        g_ptr_array_add(candidates, g_build_filename(template_dir, "cohort-template.rng", NULL));
    g_ptr_array_add(candidates, g_build_filename(COHORT_TEMPLATESDIR, "cohort-template.rng", NULL));
#ifdef COHORT_TEMPLATESDIR_SRC
    g_ptr_array_add(candidates,
                    g_build_filename(COHORT_TEMPLATESDIR_SRC, "cohort-template.rng", NULL));
#endif
    for (guint i = 0; i < candidates->len; i++) {
        const gchar *path = g_ptr_array_index(candidates, i);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
            return g_strdup(path);
    }
    return NULL;
}

static void
cohort_template_schema_error_noop(void *user_data G_GNUC_UNUSED, xmlError *xerr G_GNUC_UNUSED)
{
}

/* Borrowed: the schemas are never freed. */
static xmlRelaxNG *
cohort_template_schema_get(const gchar *template_dir, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cohort_template_schema_lock);
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_autofree gchar *path = cohort_template_schema_path(template_dir);
    g_autoptr(xmlRelaxNGParserCtxt) pctxt = NULL;
    xmlRelaxNG *schema;

    if (path == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot find cohort-template.rng (looked next to the template and in %s): "
                    "install Cohort's templates or set COHORT_TEMPLATE_SCHEMA to its path",
                    COHORT_TEMPLATESDIR);
        return NULL;
    }
    if (cohort_template_schemas == NULL)
        cohort_template_schemas = g_hash_table_new(g_str_hash, g_str_equal);
    schema = g_hash_table_lookup(cohort_template_schemas, path);
    if (schema != NULL)
        return schema;

    pctxt = xmlRelaxNGNewParserCtxt(path);
    if (pctxt != NULL) {
        xmlRelaxNGSetParserStructuredErrors(pctxt, cohort_template_schema_error_noop, NULL);
        schema = xmlRelaxNGParse(pctxt);
    }
    if (schema == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot load the template schema %s: reinstall it or point "
                    "COHORT_TEMPLATE_SCHEMA at a good copy",
                    path);
        return NULL;
    }
    g_debug("loaded %s", path);
    g_hash_table_insert(cohort_template_schemas, g_steal_pointer(&path), schema);
    return schema;
}

typedef struct {
    gboolean set;
    gint line;
    gchar *message;
} CohortTemplateSchemaError;

static void
cohort_template_schema_error_clear(CohortTemplateSchemaError *err)
{
    g_clear_pointer(&err->message, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortTemplateSchemaError, cohort_template_schema_error_clear)

static void
cohort_template_schema_error_collect(void *user_data, xmlError *xerr)
{
    CohortTemplateSchemaError *err = user_data;

    if (err->set || xerr == NULL)
        return;
    err->set = TRUE;
    err->line = xerr->line;
    if (err->line <= 0 && xerr->node != NULL)
        err->line = (gint)xmlGetLineNo(xerr->node);
    err->message = g_strstrip(g_strdup(xerr->message != NULL ? xerr->message : "invalid"));
}

/* Checks the <cohort:template> element against cohort-template.rng, in a document of its own
 * (a copy keeps the line numbers of the original). */
static gboolean
cohort_template_metadata_validate(CohortTemplate *self, xmlNode *element, GError **error)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_auto(CohortTemplateSchemaError) err = {0};
    g_autofree gchar *template_dir = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = NULL;
    xmlRelaxNG *schema;
    xmlNode *copy;

    if (self->path != NULL)
        template_dir = g_path_get_dirname(self->path);
    schema = cohort_template_schema_get(template_dir, error);
    if (schema == NULL) {
        g_prefix_error(error, "%s: ", self->source);
        return FALSE;
    }

    doc = xmlNewDoc(BAD_CAST "1.0");
    copy = xmlDocCopyNode(element, doc, 1);
    if (copy == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot copy <cohort:template> (out of memory?)", self->source);
        return FALSE;
    }
    xmlDocSetRootElement(doc, copy);

    vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (vctxt == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot make a RelaxNG validation context (out of memory?)", self->source);
        return FALSE;
    }
    xmlRelaxNGSetValidStructuredErrors(vctxt, cohort_template_schema_error_collect, &err);
    if (xmlRelaxNGValidateDoc(vctxt, doc) != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s:%d: <cohort:template> is not valid: %s; it needs <cohort:base "
                    "volume=\"…\"/>, <cohort:vcpus>, <cohort:memory unit=\"MiB|GiB\"> and "
                    "<cohort:disk unit=\"MiB|GiB\"> (and may have <cohort:description>), see "
                    "cohort-template.rng",
                    self->source, err.line > 0 ? err.line : (gint)xmlGetLineNo(element),
                    err.message != NULL ? err.message : "invalid");
        return FALSE;
    }
    return TRUE;
}

static gboolean
cohort_template_parse_size(CohortTemplate *self, xmlNode *node, guint64 min, guint64 max,
                           guint64 *mib, GError **error)
{
    g_autofree gchar *text = cohort_xml_get_text(node);
    g_autofree gchar *unit = (gchar *)xmlGetProp(node, BAD_CAST "unit");
    g_autoptr(GError) local = NULL;
    guint64 value = 0;
    guint64 factor = g_strcmp0(unit, "GiB") == 0 ? 1024 : 1;

    if (text != NULL)
        g_strstrip(text);
    if (!g_ascii_string_to_unsigned(text != NULL ? text : "", 10, 0, G_MAXUINT64 / 1024, &value,
                                    &local) ||
        value * factor < min || value * factor > max) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s:%ld: <cohort:%s> is %s %s; use %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                    " MiB",
                    self->source, xmlGetLineNo(node), (const gchar *)node->name,
                    text != NULL ? text : "empty", unit != NULL ? unit : "", min, max);
        return FALSE;
    }
    *mib = value * factor;
    return TRUE;
}

/* Reads (and checks) Cohort's element in the author's <metadata>. */
static gboolean
cohort_template_load_metadata(CohortTemplate *self, xmlDoc *doc, GError **error)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(GPtrArray) found = NULL;
    g_autofree gchar *vcpus = NULL;
    xmlNode *element;
    guint64 value = 0;

    xmlXPathRegisterNs(ctxt, BAD_CAST "t", BAD_CAST COHORT_TEMPLATE_XMLNS);
    found = cohort_xml_find_all(ctxt, "/domain/metadata/t:template");
    if (found->len == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s: no <cohort:template xmlns:cohort=\"%s\"> in the domain's <metadata>: "
                    "add one with the description, base volume, vCPUs, memory and disk (see "
                    "xml-templates/tiny.xml)",
                    self->source, COHORT_TEMPLATE_XMLNS);
        return FALSE;
    }
    if (found->len > 1) {
        xmlNode *second = g_ptr_array_index(found, 1);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s:%ld: a second <cohort:template> in <metadata>: keep only one", self->source,
                    xmlGetLineNo(second));
        return FALSE;
    }
    element = g_ptr_array_index(found, 0);
    if (!cohort_template_metadata_validate(self, element, error))
        return FALSE;

    ctxt->node = element;
    self->description = cohort_xml_find_string(ctxt, "string(t:description)");
    if (self->description != NULL)
        g_strstrip(self->description);
    self->base_pool = cohort_xml_find_string(ctxt, "string(t:base/@pool)");
    if (self->base_pool == NULL)
        self->base_pool = g_strdup("default");
    self->base_volume = cohort_xml_find_string(ctxt, "string(t:base/@volume)");
    {
        g_autofree gchar *agent = cohort_xml_find_string(ctxt, "string(t:guest-agent)");
        if (agent != NULL)
            g_strstrip(agent);
        self->guest_agent = agent == NULL || g_strcmp0(agent, "no") != 0;
    }

    vcpus = cohort_xml_find_string(ctxt, "string(t:vcpus)");
    if (vcpus != NULL)
        g_strstrip(vcpus);
    if (!g_ascii_string_to_unsigned(vcpus != NULL ? vcpus : "", 10, 1, COHORT_TEMPLATE_VCPUS_MAX,
                                    &value, NULL)) {
        xmlNode *node = cohort_xml_find(ctxt, "t:vcpus");
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s:%ld: <cohort:vcpus> is '%s'; use 1 to %d", self->source,
                    node != NULL ? xmlGetLineNo(node) : xmlGetLineNo(element),
                    vcpus != NULL ? vcpus : "", COHORT_TEMPLATE_VCPUS_MAX);
        return FALSE;
    }
    self->vcpus = (guint)value;
    if (!cohort_template_parse_size(self, cohort_xml_find(ctxt, "t:memory"),
                                    COHORT_TEMPLATE_MEMORY_MIB_MIN, COHORT_TEMPLATE_MEMORY_MIB_MAX,
                                    &self->memory_mib, error))
        return FALSE;
    if (!cohort_template_parse_size(self, cohort_xml_find(ctxt, "t:disk"), 1,
                                    COHORT_TEMPLATE_DISK_MIB_MAX, &self->disk_mib, error))
        return FALSE;
    {
        g_autofree gchar *enabled = cohort_xml_find_string(ctxt, "string(t:seed/@enabled)");
        self->seed_disabled = g_strcmp0(enabled, "no") == 0;
        self->seed_user = cohort_xml_find_string(ctxt, "string(t:seed/@user)");
    }
    {
        g_autoptr(GPtrArray) nics = NULL;
        ctxt->node = xmlDocGetRootElement(doc);
        nics = cohort_xml_find_all(ctxt, "/domain/devices/interface");
        self->n_interfaces = nics->len;
    }
    return TRUE;
}

static CohortTemplate *
cohort_template_new_internal(gchar *xml, gsize len, const gchar *name, const gchar *path,
                             GError **error)
{
    g_autoptr(CohortTemplate) self = g_new0(CohortTemplate, 1);

    self->refcount = 1;
    g_mutex_init(&self->shapes_lock);
    self->shapes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree gchar *rendered = NULL;
    CohortMachineSpec sample;

    self->xml = xml;
    self->xml_len = len;
    self->name = g_strdup(name);
    self->path = g_strdup(path);
    self->source = g_strdup(path != NULL ? path : name);

    doc = cohort_xml_parse_memory(self->xml, self->xml_len, self->source, "domain", error);
    if (doc == NULL)
        return NULL;
    if (!cohort_template_load_metadata(self, doc, error))
        return NULL;

    /* A template is valid when a machine made from it is: refuse it now, not at provisioning
     * time in front of a class. */
    cohort_machine_spec_init_sample(&sample);
    rendered = cohort_template_render(self, &sample, error);
    if (rendered == NULL)
        return NULL;
    return g_steal_pointer(&self);
}

CohortTemplate *
cohort_template_new_from_file(const gchar *path, GError **error)
{
    g_autofree gchar *basename = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *xml = NULL;
    gsize len = 0;

    g_return_val_if_fail(path != NULL, NULL);

    basename = g_path_get_basename(path);
    if (!g_str_has_suffix(basename, ".xml")) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s: a template file's name must end in .xml (the rest is the template's "
                    "name)",
                    path);
        return NULL;
    }
    name = g_strndup(basename, strlen(basename) - strlen(".xml"));
    if (!cohort_slug_validate(name, "template name", error)) {
        g_prefix_error(error, "%s: ", path);
        return NULL;
    }
    xml = cohort_xml_read_file(path, &len, error);
    if (xml == NULL)
        return NULL;
    return cohort_template_new_internal(g_steal_pointer(&xml), len, name, path, error);
}

CohortTemplate *
cohort_template_new_from_data(const gchar *data, gsize len, const gchar *name, GError **error)
{
    g_return_val_if_fail(data != NULL || len == 0, NULL);
    g_return_val_if_fail(name != NULL, NULL);

    if (!cohort_slug_validate(name, "template name", error))
        return NULL;
    if (len > COHORT_XML_MAX_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                    "template %s is %" G_GSIZE_FORMAT " bytes; at most %d are accepted", name, len,
                    COHORT_XML_MAX_BYTES);
        return NULL;
    }
    return cohort_template_new_internal(g_strndup(data, len), len, name, NULL, error);
}

CohortTemplate *
cohort_template_ref(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    g_atomic_int_inc(&self->refcount);
    return self;
}

void
cohort_template_unref(CohortTemplate *self)
{
    if (self == NULL || !g_atomic_int_dec_and_test(&self->refcount))
        return;
    g_free(self->name);
    g_free(self->path);
    g_free(self->source);
    g_free(self->xml);
    g_free(self->description);
    g_free(self->base_pool);
    g_free(self->base_volume);
    g_clear_pointer(&self->shapes, g_hash_table_unref);
    g_mutex_clear(&self->shapes_lock);
    g_free(self->seed_user);
    g_free(self);
}

const gchar *
cohort_template_get_name(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->name;
}

const gchar *
cohort_template_get_path(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->path;
}

const gchar *
cohort_template_get_description(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->description;
}

const gchar *
cohort_template_get_base_pool(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->base_pool;
}

const gchar *
cohort_template_get_base_volume(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->base_volume;
}

guint
cohort_template_get_vcpus(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, 0);
    return self->vcpus;
}

guint64
cohort_template_get_memory_mib(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, 0);
    return self->memory_mib;
}

guint64
cohort_template_get_disk_mib(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, 0);
    return self->disk_mib;
}

gboolean
cohort_template_get_seed_enabled(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, FALSE);
    return !self->seed_disabled;
}

const gchar *
cohort_template_get_seed_user(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->seed_user;
}

gboolean
cohort_template_same_source(CohortTemplate *self, CohortTemplate *other)
{
    g_return_val_if_fail(self != NULL && other != NULL, FALSE);
    return self->xml_len == other->xml_len && memcmp(self->xml, other->xml, self->xml_len) == 0;
}

gboolean
cohort_template_get_guest_agent(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, TRUE);
    return self->guest_agent;
}

guint
cohort_template_get_n_interfaces(CohortTemplate *self)
{
    g_return_val_if_fail(self != NULL, 0);
    return self->n_interfaces;
}

/* ---- the machine spec ---------------------------------------------------------------- */

static gboolean cohort_spec_invalid(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
cohort_spec_invalid(GError **error, const gchar *format, ...)
{
    g_autofree gchar *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, message);
    return FALSE;
}

/* libvirt domain and network names: [a-z0-9._-] (plus A-Z for networks), starting with a
 * letter or digit, at most 100 bytes. */
static gboolean
cohort_spec_check_object_name(const gchar *value, const gchar *what, gboolean upper_ok,
                              GError **error)
{
    gsize len = value != NULL ? strlen(value) : 0;

    for (gsize i = 0; i < len; i++) {
        gchar c = value[i];
        gboolean ok = g_ascii_islower(c) || g_ascii_isdigit(c) ||
                      (upper_ok && g_ascii_isupper(c)) ||
                      (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok) {
            len = 0;
            break;
        }
    }
    if (len == 0 || len > COHORT_TEMPLATE_OBJECT_NAME_MAX) {
        g_autofree gchar *shown = value != NULL ? g_strescape(value, NULL) : NULL;
        return cohort_spec_invalid(
            error,
            "%s '%s' is not allowed: use 1 to %d %sletters, digits, '.', '_' and '-', starting "
            "with a letter or digit",
            what, shown != NULL ? shown : "", COHORT_TEMPLATE_OBJECT_NAME_MAX,
            upper_ok ? "" : "lower-case ");
    }
    return TRUE;
}

/* Text a person typed: valid UTF-8, no control characters (tab and newline included) and
 * nothing XML 1.0 cannot carry. */
static gboolean
cohort_spec_check_text(const gchar *value, gsize max, const gchar *what, GError **error)
{
    gsize len = strlen(value);

    if (len > max)
        return cohort_spec_invalid(error,
                                   "%s is %" G_GSIZE_FORMAT " bytes long; at most %" G_GSIZE_FORMAT
                                   " are allowed: shorten it",
                                   what, len, max);
    if (!g_utf8_validate(value, (gssize)len, NULL))
        return cohort_spec_invalid(error, "%s is not valid UTF-8: send it as UTF-8 text", what);
    for (const gchar *p = value; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_iscntrl(c) || c == 0xFFFE || c == 0xFFFF)
            return cohort_spec_invalid(
                error,
                "%s contains the control character U+%04X at byte %" G_GSIZE_FORMAT ": remove it",
                what, c, (gsize)(p - value));
    }
    return TRUE;
}

gboolean
cohort_machine_spec_validate(const CohortMachineSpec *spec, GError **error)
{
    g_return_val_if_fail(spec != NULL, FALSE);

    if (!cohort_spec_check_object_name(spec->domain_name, "domain name", FALSE, error))
        return FALSE;
    if (spec->uuid != NULL && !g_uuid_string_is_valid(spec->uuid)) {
        g_autofree gchar *shown = g_strescape(spec->uuid, NULL);
        return cohort_spec_invalid(error,
                                   "uuid '%s' is not a UUID: use the 8-4-4-4-12 hexadecimal form, "
                                   "or none for a random one",
                                   shown);
    }
    if (spec->owner != NULL && !g_uuid_string_is_valid(spec->owner))
        return cohort_spec_invalid(error, "owner is not a UUID");
    if (spec->machine_id <= 0)
        return cohort_spec_invalid(error,
                                   "machine id %" G_GINT64_FORMAT
                                   " is not allowed: use the store's row id (1 or more)",
                                   spec->machine_id);
    if (!cohort_slug_validate(spec->cohort, "cohort", error))
        return FALSE;
    if (!cohort_slug_validate(spec->trainee, "trainee", error))
        return FALSE;
    if (spec->display_name != NULL &&
        !cohort_spec_check_text(spec->display_name, COHORT_TEMPLATE_DISPLAY_NAME_MAX,
                                "display name", error))
        return FALSE;
    if (spec->vcpus > COHORT_TEMPLATE_VCPUS_MAX)
        return cohort_spec_invalid(error,
                                   "%u vCPUs is not allowed: use 1 to %d (0: the template's)",
                                   spec->vcpus, COHORT_TEMPLATE_VCPUS_MAX);
    if (spec->memory_mib != 0 && (spec->memory_mib < COHORT_TEMPLATE_MEMORY_MIB_MIN ||
                                  spec->memory_mib > COHORT_TEMPLATE_MEMORY_MIB_MAX))
        return cohort_spec_invalid(error,
                                   "%" G_GUINT64_FORMAT " MiB of memory is not allowed: use %d "
                                   "to %" G_GUINT64_FORMAT " MiB (0: the template's)",
                                   spec->memory_mib, COHORT_TEMPLATE_MEMORY_MIB_MIN,
                                   COHORT_TEMPLATE_MEMORY_MIB_MAX);
    /* libvirt's absFilePath: '/' and at least one more character */
    if (spec->disk_path == NULL || !g_path_is_absolute(spec->disk_path) ||
        strlen(spec->disk_path) < 2)
        return cohort_spec_invalid(error,
                                   "disk path '%s' is not absolute: give the overlay volume's "
                                   "full path",
                                   spec->disk_path != NULL ? spec->disk_path : "");
    if (!cohort_spec_check_text(spec->disk_path, 4096, "disk path", error))
        return FALSE;
    if (spec->network != NULL &&
        !cohort_spec_check_object_name(spec->network, "network", TRUE, error))
        return FALSE;
    if (spec->vnc_password != NULL) {
        gsize len = strlen(spec->vnc_password);
        gboolean ok = len >= 1 && len <= COHORT_TEMPLATE_VNC_PASSWORD_MAX;
        for (gsize i = 0; ok && i < len; i++)
            ok = g_ascii_isprint(spec->vnc_password[i]);
        if (!ok)
            return cohort_spec_invalid(error,
                                       "the VNC password must be 1 to %d printable ASCII "
                                       "characters (VNC uses no more than 8)",
                                       COHORT_TEMPLATE_VNC_PASSWORD_MAX);
    }
    if ((spec->seed_volume != NULL) != (spec->seed_pool != NULL))
        return cohort_spec_invalid(error, "a seed disc needs both its pool and its volume");
    if (spec->seed_volume != NULL &&
        (!cohort_spec_check_object_name(spec->seed_volume, "seed volume", TRUE, error) ||
         !cohort_spec_check_object_name(spec->seed_pool, "seed pool", TRUE, error)))
        return FALSE;
    if (spec->domain_type != NULL && g_strcmp0(spec->domain_type, "kvm") != 0 &&
        g_strcmp0(spec->domain_type, "qemu") != 0)
        return cohort_spec_invalid(error, "domain type '%s' is neither kvm nor qemu",
                                   spec->domain_type);
    if (spec->vnc_listen != NULL) {
        guchar addr[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, spec->vnc_listen, addr) != 1 &&
            inet_pton(AF_INET6, spec->vnc_listen, addr) != 1) {
            g_autofree gchar *shown = g_strescape(spec->vnc_listen, NULL);
            return cohort_spec_invalid(error,
                                       "VNC listen address '%s' is not an IP address: use one "
                                       "like 127.0.0.1, 0.0.0.0 or ::1",
                                       shown);
        }
    }
    return TRUE;
}

void
cohort_machine_spec_init_sample(CohortMachineSpec *spec)
{
    g_return_if_fail(spec != NULL);

    *spec = (CohortMachineSpec){
        .domain_name = "cohort-sample--trainee",
        .uuid = "c0c0c0c0-0000-4000-8000-000000000001",
        .machine_id = 1,
        .cohort = "sample",
        .trainee = "trainee",
        .display_name = "Sample Trainee",
        .vcpus = 0,
        .memory_mib = 0,
        .disk_path = "/var/lib/libvirt/images/cohort-sample--trainee.qcow2",
        .network = "cohort-sample",
        .vnc_password = "sample",
        .vnc_listen = NULL,
    };
}

/* ---- rendering ----------------------------------------------------------------------- */

/* Values a rendering takes from the machine's spec, by kind. Each is checked on its own by
 * cohort_machine_spec_validate() (or comes from the template, checked at load), and each
 * check is at least as strict as what libvirt's domain.rng allows where the value goes:
 *
 *   NAME     <name>                      objectNameWithSlash [^\n]+   ← [a-z0-9._-]{1,100}
 *   UUID     <uuid>, sysinfo uuid entry  UUID, sysinfo-value string  ← g_uuid_string_is_valid
 *   MIB      <memory>, <currentMemory>   unsignedLong                 ← 16..1048576
 *   VCPUS    <vcpu>, topology/@cores     countCPU, positiveInteger    ← 1..256
 *   PATH     disk source/@file           absFilePath (/|X:\\).+       ← absolute, 2+ bytes, no
 *                                                                       control character
 *   NETWORK  interface source/@network   text                         ← a network name
 *   PASSWD   graphics/@passwd            text                         ← printable ASCII
 *   TEXT     in <metadata>               customElement: any text      ← UTF-8, no control
 *   VOLUME   seed disc source/@volume    volName [^/]+                ← a volume name
 *
 * The rendering marks each such node (cohort_render_set_slot_*()); cohort_render_shape() writes
 * the document with marked values replaced by their kind. Two renderings of one shape
 * differ only in marked values, so one validation of the shape against domain.rng covers
 * both. Anything not marked (a value added later and not yet marked, say) is part of the
 * shape: at worst it makes every rendering a shape of its own, validated in full. The tree
 * API escapes every value, so no value changes the document's structure either way. */
typedef enum {
    COHORT_SLOT_NAME = 1,
    COHORT_SLOT_UUID,
    COHORT_SLOT_MIB,
    COHORT_SLOT_VCPUS,
    COHORT_SLOT_PATH,
    COHORT_SLOT_NETWORK,
    COHORT_SLOT_PASSWD,
    COHORT_SLOT_TEXT,
    COHORT_SLOT_VOLUME,
} CohortSlot;

/* The mark is the node's own _private (libxml2 leaves it to the application; nodes are
 * made with it NULL): a node removed takes its mark with it. */
static void
cohort_render_slot_node(xmlNode *node, CohortSlot kind)
{
    node->_private = GINT_TO_POINTER(kind);
}

static void
cohort_render_slot_attr(xmlAttr *attr, CohortSlot kind)
{
    if (attr != NULL)
        attr->_private = GINT_TO_POINTER(kind);
}

/* One token of a shape: a type letter, the length, the bytes (no two shapes read alike). */
static void
cohort_shape_token(GString *shape, gchar type, const xmlChar *value)
{
    gsize len = value != NULL ? strlen((const gchar *)value) : 0;
    gchar digits[24];
    gint n = (gint)sizeof(digits);

    /* (g_string_append_printf() was a third of a rendering) */
    digits[--n] = ':';
    do {
        digits[--n] = (gchar)('0' + len % 10);
    } while ((len /= 10) > 0 && n > 1);
    digits[--n] = type;
    g_string_append_len(shape, digits + n, (gssize)sizeof(digits) - n);
    len = value != NULL ? strlen((const gchar *)value) : 0;
    if (len > 0)
        g_string_append_len(shape, (const gchar *)value, (gssize)len);
}

static void
cohort_shape_ns(GString *shape, gchar type, const xmlNs *ns)
{
    cohort_shape_token(shape, type, ns != NULL ? ns->href : NULL);
    cohort_shape_token(shape, 'p', ns != NULL ? ns->prefix : NULL);
}

static void
cohort_shape_nodes(GString *shape, const xmlNode *node)
{
    for (; node != NULL; node = node->next) {
        CohortSlot kind;

        switch (node->type) {
        case XML_ELEMENT_NODE:
            cohort_shape_token(shape, 'E', node->name);
            cohort_shape_ns(shape, 'N', node->ns);
            for (const xmlNs *def = node->nsDef; def != NULL; def = def->next)
                cohort_shape_ns(shape, 'D', def);
            for (const xmlAttr *attr = node->properties; attr != NULL; attr = attr->next) {
                cohort_shape_token(shape, 'A', attr->name);
                cohort_shape_ns(shape, 'N', attr->ns);
                kind = GPOINTER_TO_INT(attr->_private);
                if (kind != 0) {
                    g_string_append_c(shape, '#');
                    g_string_append_c(shape, (gchar)('0' + kind));
                } else
                    cohort_shape_nodes(shape, attr->children);
                g_string_append_c(shape, ';');
            }
            kind = GPOINTER_TO_INT(node->_private);
            if (kind != 0) {
                g_string_append_c(shape, '#');
                g_string_append_c(shape, (gchar)('0' + kind));
            } else
                cohort_shape_nodes(shape, node->children);
            g_string_append_c(shape, ')');
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
        case XML_COMMENT_NODE:
            cohort_shape_token(shape, (gchar)('a' + node->type), node->content);
            break;
        default:
            /* anything else (a processing instruction, say) in full */
            g_string_append_printf(shape, "?%d", node->type);
            cohort_shape_token(shape, 'n', node->name);
            cohort_shape_token(shape, 'c', node->content);
            cohort_shape_nodes(shape, node->children);
            g_string_append_c(shape, ')');
            break;
        }
    }
}

/* The rendered document with the spec's values (the marked nodes) replaced by their kind. */
static gchar *
cohort_render_shape(xmlDoc *doc)
{
    GString *shape = g_string_sized_new(4096);

    cohort_shape_nodes(shape, doc->children);
    return g_string_free(shape, FALSE);
}

/* Validates @doc against domain.rng unless a rendering of its shape was. */
static gboolean
cohort_template_validate_rendering(CohortTemplate *self, xmlDoc *doc, GError **error)
{
    g_autofree gchar *shape = cohort_render_shape(doc);

    g_mutex_lock(&self->shapes_lock);
    if (g_hash_table_contains(self->shapes, shape)) {
        g_mutex_unlock(&self->shapes_lock);
        return TRUE;
    }
    g_mutex_unlock(&self->shapes_lock);
    /* Line numbers in the error are the template's: the rendered tree keeps them. */
    if (!cohort_domain_schema_validate(doc, self->source, error))
        return FALSE;
    g_mutex_lock(&self->shapes_lock);
    if (g_hash_table_size(self->shapes) < COHORT_TEMPLATE_SHAPES_MAX)
        g_hash_table_add(self->shapes, g_steal_pointer(&shape));
    g_mutex_unlock(&self->shapes_lock);
    return TRUE;
}

/* The first child element of @parent named @name (no namespace), made when missing (right
 * after @after when given, for a readable result; libvirt does not mind the order). */
static xmlNode *
cohort_render_child_after(xmlNode *parent, const gchar *name, xmlNode *after)
{
    xmlNode *node;

    for (node = parent->children; node != NULL; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && node->ns == NULL &&
            g_strcmp0((const gchar *)node->name, name) == 0)
            return node;
    }
    node = xmlNewDocNode(parent->doc, NULL, BAD_CAST name, NULL);
    if (after != NULL)
        xmlAddNextSibling(after, node);
    else
        xmlAddChild(parent, node);
    return node;
}

static xmlNode *
cohort_render_child(xmlNode *parent, const gchar *name)
{
    return cohort_render_child_after(parent, name, NULL);
}

static void
cohort_render_remove_children_named(xmlNode *parent, const gchar *name)
{
    xmlNode *node = parent->children;

    while (node != NULL) {
        xmlNode *next = node->next;
        if (node->type == XML_ELEMENT_NODE && node->ns == NULL &&
            g_strcmp0((const gchar *)node->name, name) == 0) {
            xmlUnlinkNode(node);
            xmlFreeNode(node);
        }
        node = next;
    }
}

static void
cohort_render_set_prop(xmlNode *node, const gchar *name, const gchar *value)
{
    xmlSetProp(node, BAD_CAST name, BAD_CAST value);
}

/* An attribute whose value is the spec's (see CohortSlot). */
static void
cohort_render_set_slot_prop(xmlNode *node, const gchar *name, const gchar *value, CohortSlot kind)
{
    cohort_render_slot_attr(xmlSetProp(node, BAD_CAST name, BAD_CAST value), kind);
}

/* An element whose text is the spec's (see CohortSlot). */
static void
cohort_render_set_slot_text(xmlNode *node, const gchar *value, CohortSlot kind)
{
    cohort_xml_set_text(node, value);
    cohort_render_slot_node(node, kind);
}

static void
cohort_render_set_prop_uint(xmlNode *node, const gchar *name, guint64 value, CohortSlot kind)
{
    g_autofree gchar *str = g_strdup_printf("%" G_GUINT64_FORMAT, value);
    cohort_render_set_slot_prop(node, name, str, kind);
}

static void
cohort_render_set_text_uint(xmlNode *node, guint64 value, CohortSlot kind)
{
    g_autofree gchar *str = g_strdup_printf("%" G_GUINT64_FORMAT, value);
    cohort_render_set_slot_text(node, str, kind);
}

static void
cohort_render_memory(xmlXPathContext *ctxt, xmlNode *domain, guint64 memory_mib)
{
    xmlNode *node = cohort_render_child(domain, "memory");
    xmlNode *current;

    cohort_render_set_text_uint(node, memory_mib, COHORT_SLOT_MIB);
    cohort_render_set_prop(node, "unit", "MiB");
    current = cohort_xml_find(ctxt, "/domain/currentMemory");
    if (current != NULL) {
        cohort_render_set_text_uint(current, memory_mib, COHORT_SLOT_MIB);
        cohort_render_set_prop(current, "unit", "MiB");
    }
}

static void
cohort_render_vcpus(xmlXPathContext *ctxt, xmlNode *domain, guint vcpus)
{
    xmlNode *node = cohort_render_child(domain, "vcpu");
    xmlNode *topology;

    cohort_render_set_text_uint(node, vcpus, COHORT_SLOT_VCPUS);
    xmlUnsetProp(node, BAD_CAST "current"); /* all of them online */

    /* A topology must multiply out to the vCPU count: one socket of @vcpus cores. */
    topology = cohort_xml_find(ctxt, "/domain/cpu/topology");
    if (topology != NULL) {
        cohort_render_set_prop(topology, "sockets", "1");
        if (xmlHasProp(topology, BAD_CAST "dies") != NULL)
            cohort_render_set_prop(topology, "dies", "1");
        if (xmlHasProp(topology, BAD_CAST "clusters") != NULL)
            cohort_render_set_prop(topology, "clusters", "1");
        cohort_render_set_prop_uint(topology, "cores", vcpus, COHORT_SLOT_VCPUS);
        cohort_render_set_prop(topology, "threads", "1");
    }
}

/* A template with no disk of its own (none, or only a CD-ROM: a live ISO) gets one for the
 * overlay, the first of the disks, virtio, on a target name no other disk has. */
static xmlNode *
cohort_render_disk_new(xmlXPathContext *ctxt)
{
    xmlNode *domain = xmlDocGetRootElement(ctxt->doc);
    xmlNode *devices = cohort_render_child(domain, "devices");
    xmlNode *first = cohort_xml_find(ctxt, "/domain/devices/disk");
    xmlNode *disk = xmlNewDocNode(domain->doc, NULL, BAD_CAST "disk", NULL);
    g_autoptr(GPtrArray) targets = cohort_xml_find_all(ctxt, "/domain/devices/disk/target");
    xmlNode *target;
    gchar dev[] = "vda";

    /* vda, or the first of vdb..vdz no CD-ROM of the template has */
    for (; dev[2] < 'z'; dev[2]++) {
        gboolean taken = FALSE;
        for (guint i = 0; i < targets->len && !taken; i++) {
            g_autofree gchar *name =
                (gchar *)xmlGetProp(g_ptr_array_index(targets, i), BAD_CAST "dev");
            taken = g_strcmp0(name, dev) == 0;
        }
        if (!taken)
            break;
    }
    if (first != NULL)
        xmlAddPrevSibling(first, disk);
    else if (devices->children != NULL)
        xmlAddPrevSibling(devices->children, disk);
    else
        xmlAddChild(devices, disk);
    cohort_render_set_prop(disk, "device", "disk");
    target = xmlNewDocNode(domain->doc, NULL, BAD_CAST "target", NULL);
    xmlAddChild(disk, target);
    cohort_render_set_prop(target, "dev", dev);
    cohort_render_set_prop(target, "bus", "virtio");
    return disk;
}

static gboolean
cohort_render_disk(CohortTemplate *self, xmlXPathContext *ctxt, const gchar *disk_path,
                   GError **error)
{
    xmlNode *disk = cohort_xml_find(ctxt, "/domain/devices/disk[not(@device) or @device='disk']");
    xmlNode *driver;
    xmlNode *source;

    if (disk == NULL)
        disk = cohort_render_disk_new(ctxt);
    cohort_render_set_prop(disk, "type", "file");

    /* The overlay is always qcow2; its backing chain is in the image, so an author's
     * <backingStore/> (which would say "none") must go. */
    driver = cohort_render_child(disk, "driver");
    cohort_render_set_prop(driver, "name", "qemu");
    cohort_render_set_prop(driver, "type", "qcow2");
    cohort_render_remove_children_named(disk, "source");
    cohort_render_remove_children_named(disk, "backingStore");
    source = xmlNewDocNode(disk->doc, NULL, BAD_CAST "source", NULL);
    xmlAddNextSibling(driver, source);
    cohort_render_set_slot_prop(source, "file", disk_path, COHORT_SLOT_PATH);
    return TRUE;
}

/* The cloud-init seed as a read-only CD-ROM from its volume: on SATA for q35 machines (which
 * have no IDE), IDE otherwise, at the first free target name of that bus. */
static void
cohort_render_seed(xmlXPathContext *ctxt, xmlNode *domain, const CohortMachineSpec *spec)
{
    g_autofree gchar *machine = cohort_xml_find_string(ctxt, "string(/domain/os/type/@machine)");
    g_autoptr(GPtrArray) targets = cohort_xml_find_all(ctxt, "/domain/devices/disk/target/@dev");
    gboolean sata = machine != NULL && strstr(machine, "q35") != NULL;
    const gchar *prefix = sata ? "sd" : "hd";
    g_autofree gchar *dev = NULL;
    xmlNode *devices = cohort_render_child(domain, "devices");
    xmlNode *disk;
    xmlNode *node;

    /* hdc first on IDE: the secondary master, where PCs keep their CD-ROM */
    for (const gchar *c = sata ? "abcdefghijklmnopqrstuvwxyz" : "cdab"; *c != '\0' && !dev; c++) {
        g_autofree gchar *name = g_strdup_printf("%s%c", prefix, *c);
        gboolean used = FALSE;
        for (guint i = 0; i < targets->len && !used; i++) {
            xmlNode *attr = g_ptr_array_index(targets, i);
            g_autofree gchar *value = (gchar *)xmlNodeGetContent(attr);
            used = g_strcmp0(value, name) == 0;
        }
        if (!used)
            dev = g_steal_pointer(&name);
    }
    if (dev == NULL)
        dev = g_strdup(sata ? "sdzz" : "hdzz");

    disk = xmlNewDocNode(domain->doc, NULL, BAD_CAST "disk", NULL);
    {
        /* after the last disk, so the machine's own disk stays the first */
        g_autoptr(GPtrArray) disks = cohort_xml_find_all(ctxt, "/domain/devices/disk");
        if (disks->len > 0)
            xmlAddNextSibling(g_ptr_array_index(disks, disks->len - 1), disk);
        else
            xmlAddChild(devices, disk);
    }
    cohort_render_set_prop(disk, "type", "volume");
    cohort_render_set_prop(disk, "device", "cdrom");
    node = xmlNewDocNode(domain->doc, NULL, BAD_CAST "driver", NULL);
    xmlAddChild(disk, node);
    cohort_render_set_prop(node, "name", "qemu");
    cohort_render_set_prop(node, "type", "raw");
    node = xmlNewDocNode(domain->doc, NULL, BAD_CAST "source", NULL);
    xmlAddChild(disk, node);
    cohort_render_set_prop(node, "pool", spec->seed_pool);
    cohort_render_set_slot_prop(node, "volume", spec->seed_volume, COHORT_SLOT_VOLUME);
    node = xmlNewDocNode(domain->doc, NULL, BAD_CAST "target", NULL);
    xmlAddChild(disk, node);
    cohort_render_set_prop(node, "dev", dev);
    cohort_render_set_prop(node, "bus", sata ? "sata" : "ide");
    xmlAddChild(disk, xmlNewDocNode(domain->doc, NULL, BAD_CAST "readonly", NULL));
}

static void
cohort_render_interfaces(xmlXPathContext *ctxt, const gchar *network)
{
    g_autoptr(GPtrArray) nics = cohort_xml_find_all(ctxt, "/domain/devices/interface");

    for (guint i = 0; i < nics->len; i++) {
        xmlNode *nic = g_ptr_array_index(nics, i);

        /* Every machine is made from the same file: a fixed MAC address or tap name would
         * be the same on all of them. libvirt picks unique ones. */
        cohort_render_remove_children_named(nic, "mac");
        cohort_render_remove_children_named(nic, "target");
        if (network != NULL) {
            g_autofree gchar *type = (gchar *)xmlGetProp(nic, BAD_CAST "type");
            xmlNode *source;
            /* a passed-through NIC (hostdev) becomes a plain one: what only a hostdev has
             * (managed=, the vfio driver) goes with its PCI source */
            if (g_strcmp0(type, "hostdev") == 0) {
                xmlUnsetProp(nic, BAD_CAST "managed");
                cohort_render_remove_children_named(nic, "driver");
            }
            cohort_render_set_prop(nic, "type", "network");
            cohort_render_remove_children_named(nic, "source");
            source = xmlNewDocNode(nic->doc, NULL, BAD_CAST "source", NULL);
            if (nic->children != NULL)
                xmlAddPrevSibling(nic->children, source);
            else
                xmlAddChild(nic, source);
            cohort_render_set_slot_prop(source, "network", network, COHORT_SLOT_NETWORK);
        }
    }
}

static void
cohort_render_vnc_one(xmlNode *graphics, const CohortMachineSpec *spec)
{
    const gchar *listen =
        spec->vnc_listen != NULL ? spec->vnc_listen : COHORT_TEMPLATE_VNC_LISTEN_DEFAULT;
    xmlNode *child;

    cohort_render_set_prop(graphics, "autoport", "yes");
    xmlUnsetProp(graphics, BAD_CAST "port");
    xmlUnsetProp(graphics, BAD_CAST "socket");
    if (spec->vnc_password != NULL)
        cohort_render_set_slot_prop(graphics, "passwd", spec->vnc_password, COHORT_SLOT_PASSWD);
    cohort_render_set_prop(graphics, "listen", listen);
    cohort_render_remove_children_named(graphics, "listen");
    child = xmlNewDocNode(graphics->doc, NULL, BAD_CAST "listen", NULL);
    if (graphics->children != NULL)
        xmlAddPrevSibling(graphics->children, child);
    else
        xmlAddChild(graphics, child);
    cohort_render_set_prop(child, "type", "address");
    cohort_render_set_prop(child, "address", listen);
}

static void
cohort_render_vnc(xmlXPathContext *ctxt, xmlNode *domain, const CohortMachineSpec *spec)
{
    g_autoptr(GPtrArray) displays =
        cohort_xml_find_all(ctxt, "/domain/devices/graphics[@type='vnc']");
    xmlNode *graphics;

    for (guint i = 0; i < displays->len; i++)
        cohort_render_vnc_one(g_ptr_array_index(displays, i), spec);
    if (displays->len > 0)
        return;
    /* The console the API hands out is VNC: every machine has one. */
    graphics = xmlNewDocNode(domain->doc, NULL, BAD_CAST "graphics", NULL);
    xmlAddChild(cohort_render_child(domain, "devices"), graphics);
    cohort_render_set_prop(graphics, "type", "vnc");
    cohort_render_vnc_one(graphics, spec);
}

/* The guest agent's channel, when the author wrote none: libvirt reports the agent connected
 * once the guest opens it, which is when Cohort calls a machine ready. libvirt picks the
 * socket's path. */
static void
cohort_render_guest_agent(xmlXPathContext *ctxt, xmlNode *domain)
{
    xmlNode *devices;
    xmlNode *channel;
    xmlNode *target;

    if (cohort_xml_find(ctxt, "/domain/devices/channel/target[@type='virtio' and "
                              "@name='org.qemu.guest_agent.0']") != NULL)
        return;
    devices = cohort_render_child(domain, "devices");
    channel = xmlNewDocNode(domain->doc, NULL, BAD_CAST "channel", NULL);
    xmlAddChild(devices, channel);
    cohort_render_set_prop(channel, "type", "unix");
    target = xmlNewDocNode(domain->doc, NULL, BAD_CAST "target", NULL);
    xmlAddChild(channel, target);
    cohort_render_set_prop(target, "type", "virtio");
    cohort_render_set_prop(target, "name", "org.qemu.guest_agent.0");
}

static xmlNode *
cohort_render_machine_child(xmlNode *machine, xmlNs *ns, const gchar *name, const gchar *text)
{
    xmlNode *node = xmlNewDocNode(machine->doc, ns, BAD_CAST name, NULL);

    xmlAddChild(machine, node);
    cohort_render_set_slot_text(node, text, COHORT_SLOT_TEXT); /* literal: escaped on save */
    return node;
}

static void
cohort_render_metadata(CohortTemplate *self, xmlNode *domain, const CohortMachineSpec *spec)
{
    xmlNode *metadata = cohort_render_child(domain, "metadata");
    g_autofree gchar *id = g_strdup_printf("%" G_GINT64_FORMAT, spec->machine_id);
    xmlNode *node = metadata->children;
    xmlNode *machine;
    xmlNs *ns;

    /* The template's own element goes, and so does any machine tag the author may have
     * written: ownership is only ever what this function says. */
    while (node != NULL) {
        xmlNode *next = node->next;
        if (node->type == XML_ELEMENT_NODE && node->ns != NULL &&
            (g_strcmp0((const gchar *)node->ns->href, COHORT_TEMPLATE_XMLNS) == 0 ||
             g_strcmp0((const gchar *)node->ns->href, COHORT_MACHINE_XMLNS) == 0)) {
            xmlUnlinkNode(node);
            xmlFreeNode(node);
        }
        node = next;
    }

    machine = xmlNewDocNode(domain->doc, NULL, BAD_CAST "machine", NULL);
    xmlAddChild(metadata, machine);
    ns = xmlNewNs(machine, BAD_CAST COHORT_MACHINE_XMLNS, BAD_CAST COHORT_MACHINE_XMLNS_PREFIX);
    xmlSetNs(machine, ns);
    cohort_render_set_slot_prop(machine, "id", id, COHORT_SLOT_TEXT);
    if (spec->owner != NULL)
        cohort_render_set_slot_prop(machine, "owner", spec->owner, COHORT_SLOT_TEXT);
    cohort_render_machine_child(machine, ns, "cohort", spec->cohort);
    cohort_render_machine_child(machine, ns, "trainee", spec->trainee);
    if (spec->display_name != NULL && spec->display_name[0] != '\0')
        cohort_render_machine_child(machine, ns, "display-name", spec->display_name);
    cohort_render_machine_child(machine, ns, "template", self->name);
}

static gboolean
cohort_template_render_doc(CohortTemplate *self, xmlDoc *doc, const CohortMachineSpec *spec,
                           GError **error)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autofree gchar *uuid = spec->uuid != NULL ? g_strdup(spec->uuid) : g_uuid_string_random();
    xmlNode *domain = xmlDocGetRootElement(doc);
    xmlNode *name;

    if (ctxt == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot make an XPath context (out of memory?)", self->source);
        return FALSE;
    }
    /* the accelerator is the host's, whatever the template says */
    if (spec->domain_type != NULL)
        cohort_render_set_prop(domain, "type", spec->domain_type);
    name = cohort_render_child(domain, "name");
    cohort_render_set_slot_text(name, spec->domain_name, COHORT_SLOT_NAME);
    cohort_render_set_slot_text(cohort_render_child_after(domain, "uuid", name), uuid,
                                COHORT_SLOT_UUID);
    /* SMBIOS says the machine's UUID too: libvirt refuses the two apart */
    {
        g_autoptr(GPtrArray) entries =
            cohort_xml_find_all(ctxt, "/domain/sysinfo/system/entry[@name='uuid']");
        for (guint i = 0; i < entries->len; i++)
            cohort_render_set_slot_text(g_ptr_array_index(entries, i), uuid, COHORT_SLOT_UUID);
    }
    cohort_render_memory(ctxt, domain, spec->memory_mib != 0 ? spec->memory_mib : self->memory_mib);
    cohort_render_vcpus(ctxt, domain, spec->vcpus != 0 ? spec->vcpus : self->vcpus);
    if (!cohort_render_disk(self, ctxt, spec->disk_path, error))
        return FALSE;
    if (spec->seed_volume != NULL)
        cohort_render_seed(ctxt, domain, spec);
    cohort_render_interfaces(ctxt, spec->network);
    cohort_render_vnc(ctxt, domain, spec);
    cohort_render_guest_agent(ctxt, domain);
    cohort_render_metadata(self, domain, spec);
    return TRUE;
}

/* The rendering does not match the schema: when the author's own document does, it was
 * Cohort's change that broke it, and the error says so instead of blaming the template. */
static void
cohort_template_blame(CohortTemplate *self, const CohortMachineSpec *spec, GError **error)
{
    g_autoptr(xmlDoc) original = NULL;
    g_autofree gchar *message = NULL;
    const gchar *blame = "; fix that part of the template";
    gchar *tail;

    if (error == NULL || *error == NULL)
        return;
    original = cohort_xml_parse_memory(self->xml, self->xml_len, self->source, "domain", NULL);
    if (original == NULL || !cohort_domain_schema_validate(original, self->source, NULL))
        return;
    message = g_strdup((*error)->message);
    tail = g_strrstr(message, blame);
    if (tail != NULL)
        *tail = '\0';
    g_clear_error(error);
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                "%s. The template itself matches libvirt's schema: Cohort's rendering of it for "
                "machine %s broke the document, not the template; report this as a bug in "
                "Cohort, with the template",
                message, spec->domain_name);
}

gchar *
cohort_template_render(CohortTemplate *self, const CohortMachineSpec *spec, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    gchar *xml;

    g_return_val_if_fail(self != NULL, NULL);
    g_return_val_if_fail(spec != NULL, NULL);

    if (!cohort_machine_spec_validate(spec, error))
        return NULL;
    /* Parsed again for each machine: renderings share nothing, so threads can render the
     * same template at once. */
    doc = cohort_xml_parse_memory(self->xml, self->xml_len, self->source, "domain", error);
    if (doc == NULL)
        return NULL;
    if (!cohort_template_render_doc(self, doc, spec, error))
        return NULL;
    /* Line numbers in the error are the template's: the rendered tree keeps them. */
    if (!cohort_template_validate_rendering(self, doc, error)) {
        cohort_template_blame(self, spec, error);
        return NULL;
    }
    xml = cohort_xml_to_string(doc);
    if (xml == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot write the rendered domain (out of memory?)", self->source);
        return NULL;
    }
    return xml;
}
