/* Safe XML in and out: every document Cohort reads goes through here. */
#pragma once

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGParserCtxt, xmlRelaxNGFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGValidCtxt, xmlRelaxNGFreeValidCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNG, xmlRelaxNGFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

/* Templates and libvirt answers are small; anything bigger is a mistake or an attack. */
#define COHORT_XML_MAX_BYTES (1024 * 1024)

/* Keeps libxml2 from printing to stderr for a scope: the calling thread's generic error
 * handler is a no-op until the guard ends, then the previous one is back.
 *   g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();  */
typedef struct {
    xmlGenericErrorFunc func;
    void *ctx;
    gboolean armed;
} CohortXmlQuiet;

CohortXmlQuiet cohort_xml_quiet_begin(void);
void cohort_xml_quiet_end(CohortXmlQuiet *quiet);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortXmlQuiet, cohort_xml_quiet_end)

/* Parses with XML_PARSE_NONET, no entities, no DTD; rejects a DOCTYPE, a root other than
 * @root_name (when not NULL) and documents over COHORT_XML_MAX_BYTES. @name (a file name or
 * a description) and the line go into the error ("name:LINE: ..."). The parse stops at the
 * DOCTYPE itself, before any declaration in it is read. Indentation-only text is dropped
 * (XML_PARSE_NOBLANKS) so that cohort_xml_to_string() indents added nodes too. */
xmlDoc *cohort_xml_parse_memory(const gchar *buf, gsize len, const gchar *name,
                                const gchar *root_name, GError **error);
/* Regular files only, checked against COHORT_XML_MAX_BYTES before and while reading
 * (COHORT_ERROR_PAYLOAD_TOO_LARGE when over, COHORT_ERROR_NOT_FOUND when missing). */
xmlDoc *cohort_xml_parse_file(const gchar *path, const gchar *root_name, GError **error);
/* The bounded read cohort_xml_parse_file() uses; NUL-terminated, @len excludes the NUL. */
gchar *cohort_xml_read_file(const gchar *path, gsize *len, GError **error);

/* Replaces @node's children with @value as literal text (escaped on save, never markup). */
void cohort_xml_set_text(xmlNode *node, const gchar *value);
/* Unlinks and frees every child of @node. */
void cohort_xml_remove_children(xmlNode *node);
/* Text content of @node, NULL if none. */
gchar *cohort_xml_get_text(xmlNode *node);
/* First node matching the literal @xpath below @ctxt's current node, or NULL. */
xmlNode *cohort_xml_find(xmlXPathContext *ctxt, const gchar *xpath);
/* Every node matching the literal @xpath (borrowed pointers; empty array when none). */
GPtrArray *cohort_xml_find_all(xmlXPathContext *ctxt, const gchar *xpath);
/* Evaluates the literal @xpath as a string (""-less: NULL when empty or missing). */
gchar *cohort_xml_find_string(xmlXPathContext *ctxt, const gchar *xpath);
/* The whole document as UTF-8 text, indented. */
gchar *cohort_xml_to_string(xmlDoc *doc);
/* Where @node is, for messages: its XPath (/domain/devices/graphics[2]). */
gchar *cohort_xml_node_describe(xmlNode *node);

G_END_DECLS
