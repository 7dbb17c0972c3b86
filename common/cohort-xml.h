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

/* Parses with XML_PARSE_NONET, no entities, no DTD; rejects a DOCTYPE, a root other than
 * @root_name (when not NULL) and documents over COHORT_XML_MAX_BYTES. @name (a file name or
 * a description) and the line go into the error. */
xmlDoc *
cohort_xml_parse_memory(const gchar *buf, gsize len, const gchar *name, const gchar *root_name,
                        GError **error);
xmlDoc *
cohort_xml_parse_file(const gchar *path, const gchar *root_name, GError **error);

/* Replaces @node's children with @value as literal text (escaped on save, never markup). */
void
cohort_xml_set_text(xmlNode *node, const gchar *value);
/* Text content of @node, NULL if none. */
gchar *
cohort_xml_get_text(xmlNode *node);
/* First node matching the literal @xpath below @ctxt's current node, or NULL. */
xmlNode *
cohort_xml_find(xmlXPathContext *ctxt, const gchar *xpath);
/* Evaluates the literal @xpath as a string (""-less: NULL when empty or missing). */
gchar *
cohort_xml_find_string(xmlXPathContext *ctxt, const gchar *xpath);
/* The whole document as UTF-8 text, indented. */
gchar *
cohort_xml_to_string(xmlDoc *doc);

G_END_DECLS
