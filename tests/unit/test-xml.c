/* The safe XML layer under templates and libvirt answers. */
#define G_LOG_DOMAIN "test-xml"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-error.h"
#include "cohort-xml.h"

static xmlDoc *
test_parse(const gchar *text, GError **error)
{
    return cohort_xml_parse_memory(text, strlen(text), "test.xml", "domain", error);
}

static void
test_xml_parse_ok(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = test_parse("<domain><name>a &amp; b &#x41;</name></domain>", &error);
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree gchar *name = NULL;

    assert_null(error);
    assert_non_null(doc);
    ctxt = xmlXPathNewContext(doc);
    name = cohort_xml_find_string(ctxt, "string(/domain/name)");
    assert_string_equal(name, "a & b A");
    assert_null(cohort_xml_find_string(ctxt, "string(/domain/missing)"));
    assert_null(cohort_xml_find(ctxt, "/domain/missing"));
    assert_string_equal((const gchar *)cohort_xml_find(ctxt, "/domain/name")->name, "name");
}

static void
test_xml_parse_rejected(void **state)
{
    struct {
        const gchar *text;
        gsize len; /* 0: strlen */
        const gchar *needle;
    } cases[] = {
        {"", 0, "empty"},
        {"<domain>&undeclared;</domain>", 0, "test.xml:1:"},
        {"<domain>\n<a></b>\n</domain>", 0, "test.xml:2:"},
        {"<domain>a\0b</domain>", 20, "test.xml:1:"},
        {"<!DOCTYPE domain>\n<domain/>", 0, "DOCTYPE"},
        {"<?xml version='1.0'?>\n\n<!DOCTYPE d SYSTEM 'http://127.0.0.1:9/x.dtd'><domain/>", 0,
         "test.xml:3: a DOCTYPE"},
        {"<ns:domain xmlns:ns='urn:x'/>", 0, "<ns:domain>"},
        {"<network/>", 0, "expected <domain>"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        gsize len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].text);
        g_autoptr(xmlDoc) doc =
            cohort_xml_parse_memory(cases[i].text, len, "test.xml", "domain", &error);

        assert_null(doc);
        assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT));
        if (strstr(error->message, cases[i].needle) == NULL)
            fail_msg("case %u: '%s' not in: %s", i, cases[i].needle, error->message);
    }
}

static void
test_xml_parse_too_large(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *big = g_strnfill(COHORT_XML_MAX_BYTES + 1, ' ');

    assert_null(cohort_xml_parse_memory(big, COHORT_XML_MAX_BYTES + 1, "big", NULL, &error));
    assert_true(g_error_matches(error, COHORT_ERROR, COHORT_ERROR_PAYLOAD_TOO_LARGE));
}

/* Text that looks like markup stays text, and non-ASCII is written as is. */
static void
test_xml_set_text_literal(void **state)
{
    const gchar *value = "</name><evil attr=\"x\"/>&amp; ស៊ុន";
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = test_parse("<domain><name>old<b>child</b></name></domain>", &error);
    g_autoptr(xmlDoc) again = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree gchar *out = NULL;
    g_autofree gchar *back = NULL;
    xmlNode *name;

    assert_non_null(doc);
    ctxt = xmlXPathNewContext(doc);
    name = cohort_xml_find(ctxt, "/domain/name");
    cohort_xml_set_text(name, value);
    back = cohort_xml_get_text(name);
    assert_string_equal(back, value);

    out = cohort_xml_to_string(doc);
    assert_non_null(strstr(out, "ស៊ុន"));
    assert_null(strstr(out, "<evil"));
    assert_null(strstr(out, "<?xml"));
    again = test_parse(out, &error);
    assert_non_null(again);
    xmlXPathFreeContext(g_steal_pointer(&ctxt));
    ctxt = xmlXPathNewContext(again);
    g_free(back);
    back = cohort_xml_find_string(ctxt, "string(/domain/name)");
    assert_string_equal(back, value);
    assert_null(cohort_xml_find(ctxt, "//evil"));
    assert_null(cohort_xml_find(ctxt, "//b"));

    cohort_xml_set_text(cohort_xml_find(ctxt, "/domain/name"), NULL);
    assert_null(cohort_xml_get_text(cohort_xml_find(ctxt, "/domain/name")));
}

static void
test_xml_find_all(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = test_parse("<domain><a/><a/><b/><a/></domain>", &error);
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(GPtrArray) as = cohort_xml_find_all(ctxt, "/domain/a");
    g_autoptr(GPtrArray) none = cohort_xml_find_all(ctxt, "/domain/c");

    assert_int_equal(as->len, 3);
    assert_int_equal(none->len, 0);
}

static gint test_xml_handler_calls;

static void
test_xml_handler(void *ctx, const char *msg, ...)
{
    test_xml_handler_calls++;
}

/* The guard silences libxml2 for its scope only, and puts the caller's handler back. */
static void
test_xml_quiet_restores(void **state)
{
    xmlSetGenericErrorFunc(NULL, test_xml_handler);
    {
        g_auto(CohortXmlQuiet) quiet = cohort_xml_quiet_begin();
        assert_true(xmlGenericError != test_xml_handler);
        xmlGenericError(xmlGenericErrorContext, "hidden\n");
    }
    assert_true(xmlGenericError == test_xml_handler);
    assert_int_equal(test_xml_handler_calls, 0);
    xmlGenericError(xmlGenericErrorContext, "seen\n");
    assert_int_equal(test_xml_handler_calls, 1);
    xmlSetGenericErrorFunc(NULL, NULL);
}

/* A file is read whole whatever its size says: a small one, one of exactly the bound, and
 * one that reports no size (as /proc's do, like a file that grows while it is read). */
static void
test_xml_read_file_sizes(void **state)
{
    g_autofree gchar *dir = g_dir_make_tmp("cohort-test-XXXXXX", NULL);
    g_autofree gchar *small = g_build_filename(dir, "small.xml", NULL);
    g_autofree gchar *bound = g_build_filename(dir, "bound.xml", NULL);
    g_autofree gchar *full = g_strnfill(COHORT_XML_MAX_BYTES, 'x');
    g_autoptr(GError) error = NULL;
    gsize len = 0;

    assert_true(g_file_set_contents(small, "<a/>", -1, NULL));
    assert_true(g_file_set_contents(bound, full, COHORT_XML_MAX_BYTES, NULL));
    {
        g_autofree gchar *text = cohort_xml_read_file(small, &len, &error);
        assert_null(error);
        assert_int_equal(len, 4);
        assert_string_equal(text, "<a/>");
    }
    {
        g_autofree gchar *text = cohort_xml_read_file(bound, &len, &error);
        assert_null(error);
        assert_int_equal(len, COHORT_XML_MAX_BYTES);
        assert_int_equal(text[len], '\0');
        assert_memory_equal(text, full, len);
    }
    {
        g_autofree gchar *text = cohort_xml_read_file("/proc/self/status", &len, &error);
        assert_null(error);
        assert_true(len > 64);
        assert_int_equal(strlen(text), len);
        assert_non_null(strstr(text, "VmRSS:"));
    }
    assert_int_equal(g_unlink(small), 0);
    assert_int_equal(g_unlink(bound), 0);
    assert_int_equal(g_rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_parse_ok),         cmocka_unit_test(test_xml_parse_rejected),
        cmocka_unit_test(test_xml_parse_too_large),  cmocka_unit_test(test_xml_read_file_sizes),
        cmocka_unit_test(test_xml_set_text_literal), cmocka_unit_test(test_xml_find_all),
        cmocka_unit_test(test_xml_quiet_restores),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
