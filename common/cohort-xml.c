#define G_LOG_DOMAIN "cohort-xml"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/xmlsave.h>

#include "cohort-error.h"
#include "cohort-xml.h"

/* Parser flags (STYLE.md §5.2): never NOENT, DTDLOAD, DTDATTR, XINCLUDE or HUGE. NOBLANKS
 * drops indentation-only text so that saving re-indents nodes we add. */
#define COHORT_XML_PARSE_FLAGS                                                                     \
    (XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR | XML_PARSE_NOBLANKS)

static void
cohort_xml_generic_error_noop(void *ctx G_GNUC_UNUSED, const char *msg G_GNUC_UNUSED, ...)
{
}

CohortXmlQuiet
cohort_xml_quiet_begin(void)
{
    CohortXmlQuiet quiet = {
        .func = xmlGenericError,
        .ctx = xmlGenericErrorContext,
        .armed = TRUE,
    };

    xmlSetGenericErrorFunc(NULL, cohort_xml_generic_error_noop);
    return quiet;
}

void
cohort_xml_quiet_end(CohortXmlQuiet *quiet)
{
    if (!quiet->armed)
        return;
    xmlSetGenericErrorFunc(quiet->ctx, quiet->func);
    quiet->armed = FALSE;
}

/* Called by the parser as soon as it reads "<!DOCTYPE name ...", before any declaration of
 * the internal subset is parsed: stop right there, so no entity is ever declared, let alone
 * expanded (billion laughs, XXE) and nothing is fetched. */
static void
cohort_xml_sax_internal_subset(void *ctx, const xmlChar *name G_GNUC_UNUSED,
                               const xmlChar *external_id G_GNUC_UNUSED,
                               const xmlChar *system_id G_GNUC_UNUSED)
{
    xmlParserCtxt *ctxt = ctx;
    gint *doctype_line = ctxt->_private;

    if (doctype_line != NULL && *doctype_line == 0)
        *doctype_line = ctxt->input != NULL && ctxt->input->line > 0 ? ctxt->input->line : 1;
    xmlStopParser(ctxt);
}

static void
cohort_xml_set_doctype_error(GError **error, const gchar *name, gint line)
{
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                "%s:%d: a DOCTYPE is not allowed (no DTDs, no entities): remove the <!DOCTYPE …> "
                "declaration",
                name, line);
}

static void
cohort_xml_set_parse_error(GError **error, xmlParserCtxt *ctxt, const gchar *name)
{
    const xmlError *xerr = xmlCtxtGetLastError(ctxt);
    g_autofree gchar *msg = NULL;

    if (xerr == NULL || xerr->code == XML_ERR_OK || xerr->message == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "%s: not well-formed XML",
                    name);
        return;
    }
    msg = g_strstrip(g_strdup(xerr->message));
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                "%s:%d: not well-formed XML: %s", name, xerr->line, msg);
}

xmlDoc *
cohort_xml_parse_memory(const gchar *buf, gsize len, const gchar *name, const gchar *root_name,
                        GError **error)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_autoptr(xmlParserCtxt) ctxt = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    gint doctype_line = 0;
    xmlNode *root;

    g_return_val_if_fail(buf != NULL || len == 0, NULL);
    g_return_val_if_fail(name != NULL, NULL);

    if (len > COHORT_XML_MAX_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                    "%s is %" G_GSIZE_FORMAT " bytes; at most %d are accepted: make it smaller",
                    name, len, COHORT_XML_MAX_BYTES);
        return NULL;
    }
    if (len == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s is empty: an XML document was expected", name);
        return NULL;
    }

    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL || ctxt->sax == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s: cannot make an XML parser (out of memory?)", name);
        return NULL;
    }
    ctxt->sax->internalSubset = cohort_xml_sax_internal_subset;
    ctxt->_private = &doctype_line;

    doc = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL, COHORT_XML_PARSE_FLAGS);
    ctxt->_private = NULL;
    if (doctype_line > 0) {
        cohort_xml_set_doctype_error(error, name, doctype_line);
        return NULL;
    }
    if (doc == NULL) {
        cohort_xml_set_parse_error(error, ctxt, name);
        return NULL;
    }
    /* Second line of defence: the SAX hook above should make this unreachable. */
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        cohort_xml_set_doctype_error(error, name, 1);
        return NULL;
    }

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s: the document has no root element", name);
        return NULL;
    }
    if (root_name != NULL &&
        (root->ns != NULL || g_strcmp0((const gchar *)root->name, root_name) != 0)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%s:%ld: the root element is <%s%s%s>; expected <%s> (without a namespace)",
                    name, xmlGetLineNo(root),
                    root->ns != NULL && root->ns->prefix != NULL ? (const gchar *)root->ns->prefix
                                                                 : "",
                    root->ns != NULL && root->ns->prefix != NULL ? ":" : "",
                    (const gchar *)root->name, root_name);
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* Reads at most COHORT_XML_MAX_BYTES + 1 bytes of a regular file: /dev/zero, a FIFO or a file
 * that grows while we read cannot make us allocate without bound. */
gchar *
cohort_xml_read_file(const gchar *path, gsize *len_out, GError **error)
{
    g_autofree gchar *buf = NULL;
    struct stat st;
    gsize len = 0;
    gsize cap;
    gint fd;

    g_return_val_if_fail(path != NULL, NULL);
    g_return_val_if_fail(len_out != NULL, NULL);

    fd = g_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) {
        gint saved = errno;
        g_set_error(error, COHORT_ERROR,
                    saved == ENOENT ? COHORT_ERROR_NOT_FOUND : COHORT_ERROR_INVALID_ARGUMENT,
                    "cannot open %s: %s", path, g_strerror(saved));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "%s is not a regular file",
                    path);
        close(fd);
        return NULL;
    }
    if (st.st_size > COHORT_XML_MAX_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                    "%s is %" G_GINT64_FORMAT " bytes; at most %d are accepted: make it smaller",
                    path, (gint64)st.st_size, COHORT_XML_MAX_BYTES);
        close(fd);
        return NULL;
    }

    /* sized by the file (a template is a few KiB; one buffer of the bound each was 1 MiB kept
     * per template), grown if it grows meanwhile, never past the bound + 1 and a NUL */
    cap = (gsize)st.st_size + 2;
    buf = g_malloc(cap);
    while (len < COHORT_XML_MAX_BYTES + 1) {
        gssize n;

        if (len + 1 >= cap) {
            cap = MIN(cap * 2, (gsize)COHORT_XML_MAX_BYTES + 2);
            buf = g_realloc(buf, cap);
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            gint saved = errno;
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "cannot read %s: %s",
                        path, g_strerror(saved));
            close(fd);
            return NULL;
        }
        if (n == 0)
            break;
        len += (gsize)n;
    }
    close(fd);
    if (len > COHORT_XML_MAX_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE,
                    "%s is more than %d bytes: make it smaller", path, COHORT_XML_MAX_BYTES);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return g_steal_pointer(&buf);
}

xmlDoc *
cohort_xml_parse_file(const gchar *path, const gchar *root_name, GError **error)
{
    g_autofree gchar *buf = NULL;
    gsize len = 0;

    g_return_val_if_fail(path != NULL, NULL);

    buf = cohort_xml_read_file(path, &len, error);
    if (buf == NULL)
        return NULL;
    return cohort_xml_parse_memory(buf, len, path, root_name, error);
}

void
cohort_xml_remove_children(xmlNode *node)
{
    xmlNode *child;

    g_return_if_fail(node != NULL);

    while ((child = node->children) != NULL) {
        xmlUnlinkNode(child);
        xmlFreeNode(child);
    }
}

void
cohort_xml_set_text(xmlNode *node, const gchar *value)
{
    g_return_if_fail(node != NULL && node->type == XML_ELEMENT_NODE);

    cohort_xml_remove_children(node);
    if (value != NULL && value[0] != '\0')
        xmlNodeAddContent(node, BAD_CAST value); /* literal text, never markup */
}

gchar *
cohort_xml_get_text(xmlNode *node)
{
    xmlChar *content;
    gchar *ret = NULL;

    if (node == NULL)
        return NULL;
    content = xmlNodeGetContent(node);
    if (content != NULL && content[0] != '\0')
        ret = g_strdup((const gchar *)content);
    xmlFree(content);
    return ret;
}

xmlNode *
cohort_xml_find(xmlXPathContext *ctxt, const gchar *xpath)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_autoptr(xmlXPathObject) obj = NULL;

    g_return_val_if_fail(ctxt != NULL && xpath != NULL, NULL);

    obj = xmlXPathEval(BAD_CAST xpath, ctxt);
    if (obj == NULL || obj->type != XPATH_NODESET || obj->nodesetval == NULL ||
        obj->nodesetval->nodeNr == 0)
        return NULL;
    return obj->nodesetval->nodeTab[0];
}

GPtrArray *
cohort_xml_find_all(xmlXPathContext *ctxt, const gchar *xpath)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_autoptr(xmlXPathObject) obj = NULL;
    GPtrArray *nodes = g_ptr_array_new();

    g_return_val_if_fail(ctxt != NULL && xpath != NULL, nodes);

    obj = xmlXPathEval(BAD_CAST xpath, ctxt);
    if (obj == NULL || obj->type != XPATH_NODESET || obj->nodesetval == NULL)
        return nodes;
    for (gint i = 0; i < obj->nodesetval->nodeNr; i++)
        g_ptr_array_add(nodes, obj->nodesetval->nodeTab[i]);
    return nodes;
}

gchar *
cohort_xml_find_string(xmlXPathContext *ctxt, const gchar *xpath)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_autoptr(xmlXPathObject) obj = NULL;
    xmlChar *str;
    gchar *ret = NULL;

    g_return_val_if_fail(ctxt != NULL && xpath != NULL, NULL);

    obj = xmlXPathEval(BAD_CAST xpath, ctxt);
    if (obj == NULL)
        return NULL;
    str = xmlXPathCastToString(obj);
    if (str != NULL && str[0] != '\0')
        ret = g_strdup((const gchar *)str);
    xmlFree(str);
    return ret;
}

gchar *
cohort_xml_to_string(xmlDoc *doc)
{
    g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
    g_autoptr(xmlBuffer) buf = xmlBufferCreate();
    xmlSaveCtxt *save;

    g_return_val_if_fail(doc != NULL, NULL);

    /* Explicit UTF-8 so that non-ASCII text is written as is, not as character references;
     * no XML declaration, like libvirt's own output. */
    save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
    if (save == NULL)
        return NULL;
    if (xmlSaveDoc(save, doc) < 0) {
        xmlSaveClose(save);
        return NULL;
    }
    if (xmlSaveClose(save) < 0)
        return NULL;
    return g_strndup((const gchar *)xmlBufferContent(buf), (gsize)xmlBufferLength(buf));
}

gchar *
cohort_xml_node_describe(xmlNode *node)
{
    xmlChar *path;
    gchar *ret;

    if (node == NULL)
        return g_strdup("(unknown place)");
    path = xmlGetNodePath(node);
    ret = g_strdup(path != NULL ? (const gchar *)path : (const gchar *)node->name);
    xmlFree(path);
    return ret;
}
