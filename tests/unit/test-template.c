/* Templates: loading (and refusing), rendering, and the safety of both. */
#define G_LOG_DOMAIN "test-template"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cohort-domain-schema.h"
#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-template-set.h"
#include "cohort-template.h"
#include "cohort-xml.h"

#define TEST_UUID "5f0c6f3e-8a4b-4c1d-9e2f-0123456789ab"
#define TEST_OBRIEN "O'Brien <\"&\"> ស៊ុន"

typedef struct {
    CohortTemplate *tiny;
    CohortTemplate *small_linux;
} TestTemplates;

/* ---- helpers --------------------------------------------------------------------------- */

static gchar *
test_fixture_path(const gchar *file)
{
    return g_build_filename(COHORT_TEST_DATADIR, "templates", file, NULL);
}

static CohortTemplate *
test_load_shipped(const gchar *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *file = g_strconcat(name, ".xml", NULL);
    g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, file, NULL);
    CohortTemplate *tmpl = cohort_template_new_from_file(path, &error);

    if (tmpl == NULL)
        fail_msg("%s: %s", path, error->message);
    return tmpl;
}

/* Loads a fixture that must be refused; returns the error. */
static GError *
test_load_fixture_error(const gchar *file)
{
    g_autofree gchar *path = test_fixture_path(file);
    g_autoptr(CohortTemplate) tmpl = NULL;
    GError *error = NULL;

    tmpl = cohort_template_new_from_file(path, &error);
    assert_null(tmpl);
    assert_non_null(error);
    g_debug("%s: %s", file, error->message);
    return error;
}

static void
test_spec_init(CohortMachineSpec *spec)
{
    *spec = (CohortMachineSpec){
        .domain_name = "cohort-cloud-101-sok-dara",
        .uuid = TEST_UUID,
        .machine_id = 42,
        .cohort = "cloud-101",
        .trainee = "sok-dara",
        .display_name = "Sok Dara",
        .vcpus = 2,
        .memory_mib = 128,
        .disk_path = "/var/lib/libvirt/images/cohort-cloud-101-sok-dara.qcow2",
        .network = "cohort-cloud-101",
        .vnc_password = "s3cret!x",
        .vnc_listen = "192.0.2.10",
    };
}

typedef struct {
    xmlDoc *doc;
    xmlXPathContext *ctxt;
} TestRendered;

static void
test_rendered_clear(TestRendered *r)
{
    g_clear_pointer(&r->ctxt, xmlXPathFreeContext);
    g_clear_pointer(&r->doc, xmlFreeDoc);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TestRendered, test_rendered_clear)

/* Renders, then parses the text again (as libvirt would) for XPath assertions. */
static void
test_render_parse(CohortTemplate *tmpl, const CohortMachineSpec *spec, TestRendered *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *xml = cohort_template_render(tmpl, spec, &error);

    if (xml == NULL)
        fail_msg("render %s: %s", cohort_template_get_name(tmpl), error->message);
    r->doc = cohort_xml_parse_memory(xml, strlen(xml), "rendered", "domain", &error);
    if (r->doc == NULL)
        fail_msg("re-parse: %s", error->message);
    r->ctxt = xmlXPathNewContext(r->doc);
    assert_non_null(r->ctxt);
    xmlXPathRegisterNs(r->ctxt, BAD_CAST "m", BAD_CAST COHORT_MACHINE_XMLNS);
    xmlXPathRegisterNs(r->ctxt, BAD_CAST "t", BAD_CAST COHORT_TEMPLATE_XMLNS);
}

static void
test_assert_xpath(TestRendered *r, const gchar *xpath, const gchar *expected)
{
    g_autofree gchar *value = cohort_xml_find_string(r->ctxt, xpath);

    if (g_strcmp0(value, expected) != 0)
        fail_msg("%s: got '%s', expected '%s'", xpath, value != NULL ? value : "(none)",
                 expected != NULL ? expected : "(none)");
}

static void
test_assert_error(const GError *error, CohortError code, const gchar *needle)
{
    assert_non_null(error);
    if (!g_error_matches(error, COHORT_ERROR, code))
        fail_msg("expected code %s, got %s: %s", cohort_error_code_to_string(code),
                 error->domain == COHORT_ERROR ? cohort_error_code_to_string(error->code) : "?",
                 error->message);
    if (needle != NULL && strstr(error->message, needle) == NULL)
        fail_msg("'%s' not in the error: %s", needle, error->message);
}

static gchar *
test_render_error(CohortTemplate *tmpl, const CohortMachineSpec *spec, GError **error)
{
    gchar *xml = cohort_template_render(tmpl, spec, error);

    assert_null(xml);
    return xml;
}

/* ---- fixtures -------------------------------------------------------------------------- */

static int
test_templates_setup(void **state)
{
    TestTemplates *t = g_new0(TestTemplates, 1);

    t->tiny = test_load_shipped("tiny");
    t->small_linux = test_load_shipped("small-linux");
    *state = t;
    return 0;
}

static int
test_templates_teardown(void **state)
{
    TestTemplates *t = *state;

    g_clear_pointer(&t->tiny, cohort_template_unref);
    g_clear_pointer(&t->small_linux, cohort_template_unref);
    g_free(t);
    return 0;
}

/* ---- loading --------------------------------------------------------------------------- */

static void
test_template_shipped_load(void **state)
{
    TestTemplates *t = *state;

    assert_string_equal(cohort_template_get_name(t->tiny), "tiny");
    assert_true(g_str_has_suffix(cohort_template_get_path(t->tiny), "/xml-templates/tiny.xml"));
    assert_string_equal(cohort_template_get_description(t->tiny),
                        "Minimal machine (SeaBIOS, no network) for tests and demos");
    assert_string_equal(cohort_template_get_base_pool(t->tiny), "default");
    assert_string_equal(cohort_template_get_base_volume(t->tiny), "tiny-base.qcow2");
    assert_int_equal(cohort_template_get_vcpus(t->tiny), 1);
    assert_int_equal(cohort_template_get_memory_mib(t->tiny), 64);
    assert_int_equal(cohort_template_get_disk_mib(t->tiny), 32);

    assert_string_equal(cohort_template_get_name(t->small_linux), "small-linux");
    assert_string_equal(cohort_template_get_base_pool(t->small_linux), "default");
    assert_string_equal(cohort_template_get_base_volume(t->small_linux), "small-linux-base.qcow2");
    assert_int_equal(cohort_template_get_vcpus(t->small_linux), 1);
    assert_int_equal(cohort_template_get_memory_mib(t->small_linux), 1024);
    assert_int_equal(cohort_template_get_disk_mib(t->small_linux), 10240); /* 10 GiB */
}

static void
test_template_shipped_render(void **state)
{
    TestTemplates *t = *state;
    CohortTemplate *both[] = {t->tiny, t->small_linux};

    for (guint i = 0; i < G_N_ELEMENTS(both); i++) {
        g_auto(TestRendered) r = {0};
        CohortMachineSpec spec;

        cohort_machine_spec_init_sample(&spec);
        test_render_parse(both[i], &spec, &r);
        test_assert_xpath(&r, "string(/domain/@type)", "qemu");
        test_assert_xpath(&r, "string(/domain/os/type/@arch)", "x86_64");
        test_assert_xpath(&r, "string(/domain/devices/disk[@device='disk']/target/@bus)", "virtio");
        test_assert_xpath(&r, "string(/domain/devices/serial/@type)", "pty");
        test_assert_xpath(&r, "string(/domain/devices/console/@type)", "pty");
        test_assert_xpath(&r, "string(count(/domain/devices/graphics[@type='vnc']))", "1");
        test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:template)",
                          cohort_template_get_name(both[i]));
    }
}

static void
test_template_shipped_devices(void **state)
{
    TestTemplates *t = *state;
    g_auto(TestRendered) tiny = {0};
    g_auto(TestRendered) small = {0};
    CohortMachineSpec spec;

    test_spec_init(&spec);
    spec.network = NULL; /* as the author wrote them */
    test_render_parse(t->tiny, &spec, &tiny);
    test_assert_xpath(&tiny, "string(count(/domain/devices/interface))", "0");
    test_assert_xpath(&tiny, "string(count(/domain/os/loader))", "0"); /* SeaBIOS */
    test_render_parse(t->small_linux, &spec, &small);
    test_assert_xpath(&small, "string(count(/domain/devices/interface))", "1");
    test_assert_xpath(&small, "string(/domain/devices/interface/@type)", "network");
    test_assert_xpath(&small, "string(/domain/devices/interface/source/@network)", "default");
    test_assert_xpath(&small, "string(/domain/devices/interface/model/@type)", "virtio");
    test_assert_xpath(&small, "string(/domain/devices/disk/target/@dev)", "vda");
}

/* The seed disc: read-only CD-ROM from its volume, SATA on q35, IDE on pc, after the
 * machine's own disk; a template may turn it off or name the account. */
static void
test_template_seed_disc(void **state)
{
    TestTemplates *t = *state;
    g_auto(TestRendered) tiny = {0};
    g_auto(TestRendered) small = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) off = NULL;
    g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *data = NULL;
    g_autofree gchar *edited = NULL;
    CohortMachineSpec spec;

    test_spec_init(&spec);
    spec.seed_pool = "default";
    spec.seed_volume = "cohort-cloud-101--sok-dara-seed.iso";
    test_render_parse(t->tiny, &spec, &tiny);
    test_assert_xpath(&tiny, "string(count(/domain/devices/disk))", "2");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[1]/@device)", "disk");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[2]/@device)", "cdrom");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[2]/@type)", "volume");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[2]/source/@pool)", "default");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[2]/source/@volume)",
                      "cohort-cloud-101--sok-dara-seed.iso");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[2]/target/@bus)", "ide");
    test_assert_xpath(&tiny, "string(/domain/devices/disk[2]/target/@dev)", "hdc");
    test_assert_xpath(&tiny, "string(count(/domain/devices/disk[2]/readonly))", "1");
    test_render_parse(t->small_linux, &spec, &small);
    test_assert_xpath(&small, "string(/domain/devices/disk[@device='cdrom']/target/@bus)", "sata");
    test_assert_xpath(&small, "string(/domain/devices/disk[@device='cdrom']/target/@dev)", "sda");

    /* half a seed is a bug; a name that is not a volume name is refused */
    spec.seed_pool = NULL;
    assert_null(cohort_template_render(t->tiny, &spec, &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "seed");
    g_clear_error(&error);
    spec.seed_pool = "default";
    spec.seed_volume = "../etc/passwd";
    assert_null(cohort_template_render(t->tiny, &spec, &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "seed volume");
    g_clear_error(&error);

    assert_true(cohort_template_get_seed_enabled(t->tiny));
    assert_null(cohort_template_get_seed_user(t->tiny));
    assert_true(g_file_get_contents(path, &data, NULL, NULL));
    {
        g_auto(GStrv) parts = g_strsplit(data, "</cohort:template>", 2);
        edited = g_strconcat(parts[0], "<cohort:seed enabled='no' user='student'/>",
                             "</cohort:template>", parts[1], NULL);
    }
    off = cohort_template_new_from_data(edited, strlen(edited), "no-seed", &error);
    assert_null(error);
    assert_false(cohort_template_get_seed_enabled(off));
    assert_string_equal(cohort_template_get_seed_user(off), "student");
    /* an account name the guest cannot have is the template's fault, at load */
    {
        g_auto(GStrv) parts = g_strsplit(data, "</cohort:template>", 2);
        g_autofree gchar *bad = g_strconcat(parts[0], "<cohort:seed user='Root Admin'/>",
                                            "</cohort:template>", parts[1], NULL);
        assert_null(cohort_template_new_from_data(bad, strlen(bad), "bad-seed", &error));
        test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "cohort:template");
    }
}

static void
test_template_from_data(void **state)
{
    g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *data = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = NULL;
    gsize len = 0;

    assert_true(g_file_get_contents(path, &data, &len, NULL));
    tmpl = cohort_template_new_from_data(data, len, "uploaded-1", &error);
    assert_null(error);
    assert_non_null(tmpl);
    assert_string_equal(cohort_template_get_name(tmpl), "uploaded-1");
    assert_null(cohort_template_get_path(tmpl));
    assert_int_equal(cohort_template_get_memory_mib(tmpl), 64);

    /* The name becomes part of machine tags and API paths: a slug only. */
    assert_null(cohort_template_new_from_data(data, len, "../Tiny", &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "template name");
}

/* tiny.xml's text with @from replaced by @to, as a template of its own. */
static CohortTemplate *
test_tiny_edited(const gchar *from, const gchar *to, GError **error)
{
    g_autofree gchar *path = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *data = NULL;
    g_auto(GStrv) parts = NULL;
    g_autofree gchar *edited = NULL;

    assert_true(g_file_get_contents(path, &data, NULL, NULL));
    parts = g_strsplit(data, from, 2);
    assert_non_null(parts[1]);
    edited = g_strjoin(to, parts[0], parts[1], NULL);
    return cohort_template_new_from_data(edited, strlen(edited), "edited", error);
}

/* Every rendered domain has the guest agent's channel, once: added when the author wrote
 * none, left as written when they did. <cohort:guest-agent> says whether the guest runs one
 * (yes by default). */
static void
test_template_guest_agent(void **state)
{
    TestTemplates *t = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) own = NULL;
    g_autoptr(CohortTemplate) none = NULL;
    g_autoptr(CohortTemplate) bad = NULL;
    g_auto(TestRendered) r = {0};
    g_auto(TestRendered) r_own = {0};
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(t->tiny, &spec, &r);
    test_assert_xpath(&r, "string(count(/domain/devices/channel))", "1");
    test_assert_xpath(&r, "string(/domain/devices/channel/@type)", "unix");
    test_assert_xpath(&r, "string(/domain/devices/channel/target/@type)", "virtio");
    test_assert_xpath(&r, "string(/domain/devices/channel/target/@name)", "org.qemu.guest_agent.0");
    test_assert_xpath(&r, "string(count(/domain/devices/channel/source))", "0");
    assert_true(cohort_template_get_guest_agent(t->tiny));

    own = test_tiny_edited("<memballoon model='none'/>",
                           "<memballoon model='none'/><channel type='unix'><source mode='bind' "
                           "path='/var/lib/libvirt/qemu/channel/x.agent'/><target type='virtio' "
                           "name='org.qemu.guest_agent.0'/></channel>",
                           &error);
    assert_null(error);
    test_render_parse(own, &spec, &r_own);
    test_assert_xpath(&r_own, "string(count(/domain/devices/channel))", "1");
    test_assert_xpath(&r_own, "string(/domain/devices/channel/source/@path)",
                      "/var/lib/libvirt/qemu/channel/x.agent");

    none = test_tiny_edited("<cohort:disk unit=\"MiB\">32</cohort:disk>",
                            "<cohort:disk unit=\"MiB\">32</cohort:disk>"
                            "<cohort:guest-agent>no</cohort:guest-agent>",
                            &error);
    assert_null(error);
    assert_false(cohort_template_get_guest_agent(none));

    bad = test_tiny_edited("<cohort:disk unit=\"MiB\">32</cohort:disk>",
                           "<cohort:disk unit=\"MiB\">32</cohort:disk>"
                           "<cohort:guest-agent>maybe</cohort:guest-agent>",
                           &error);
    assert_null(bad);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "not valid");
}

static void
test_template_file_name_slug(void **state)
{
    g_autofree gchar *dir = g_dir_make_tmp("cohort-test-XXXXXX", NULL);
    g_autofree gchar *src = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *bad = g_build_filename(dir, "Bad_Name.xml", NULL);
    g_autofree gchar *noext = g_build_filename(dir, "tiny.txt", NULL);
    g_autofree gchar *data = NULL;
    g_autoptr(GError) error = NULL;
    gsize len = 0;

    assert_non_null(dir);
    assert_true(g_file_get_contents(src, &data, &len, NULL));
    assert_true(g_file_set_contents(bad, data, (gssize)len, NULL));
    assert_true(g_file_set_contents(noext, data, (gssize)len, NULL));

    assert_null(cohort_template_new_from_file(bad, &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "Bad_Name");
    g_clear_error(&error);
    assert_null(cohort_template_new_from_file(noext, &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, ".xml");

    assert_int_equal(g_unlink(bad), 0);
    assert_int_equal(g_unlink(noext), 0);
    assert_int_equal(g_rmdir(dir), 0);
}

/* ---- hostile and broken files ---------------------------------------------------------- */

static void
test_template_doctype_rejected(void **state)
{
    const gchar *files[] = {"xxe.xml", "billion-laughs.xml", "doctype-plain.xml",
                            "doctype-network.xml"};
    g_autofree gchar *passwd = NULL;
    g_auto(GStrv) passwd_lines = NULL;

    /* What an external entity would pull in must never reach the error (or anything). */
    if (g_file_get_contents("/etc/passwd", &passwd, NULL, NULL))
        passwd_lines = g_strsplit(passwd, "\n", -1);

    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autoptr(GError) error = test_load_fixture_error(files[i]);
        g_autofree gchar *where = g_strdup_printf("%s:2:", files[i]);

        test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "DOCTYPE");
        test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, where);
        assert_null(strstr(error->message, "lollol"));
        assert_null(strstr(error->message, "root:"));
        for (guint j = 0; passwd_lines != NULL && passwd_lines[j] != NULL; j++) {
            if (strlen(passwd_lines[j]) > 8)
                assert_null(strstr(error->message, passwd_lines[j]));
        }
    }
}

/* An entity pointing at a file we made: its content must not show up anywhere. */
static void
test_template_xxe_secret_not_read(void **state)
{
    g_autofree gchar *dir = g_dir_make_tmp("cohort-test-XXXXXX", NULL);
    g_autofree gchar *secret = g_build_filename(dir, "secret.txt", NULL);
    g_autofree gchar *tiny_path = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *tiny = NULL;
    g_autofree gchar *doc = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_auto(GStrv) parts = NULL;
    const gchar *body;

    assert_true(g_file_set_contents(secret, "TOP-SECRET-7f3a9", -1, NULL));
    assert_true(g_file_get_contents(tiny_path, &tiny, NULL, NULL));
    body = strstr(tiny, "<domain");
    assert_non_null(body);
    /* Test input only: a hostile document, built as text on purpose. */
    parts = g_strsplit(body, "<name>tiny</name>", 2);
    assert_int_equal(g_strv_length(parts), 2);
    doc = g_strdup_printf("<!DOCTYPE domain [<!ENTITY s SYSTEM \"file://%s\">]>\n"
                          "%s<name>&s;</name>%s",
                          secret, parts[0], parts[1]);

    tmpl = cohort_template_new_from_data(doc, strlen(doc), "xxe", &error);
    assert_null(tmpl);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "DOCTYPE");
    assert_null(strstr(error->message, "TOP-SECRET"));

    assert_int_equal(g_unlink(secret), 0);
    assert_int_equal(g_rmdir(dir), 0);
}

static void
test_template_oversized_rejected(void **state)
{
    g_autofree gchar *dir = g_dir_make_tmp("cohort-test-XXXXXX", NULL);
    g_autofree gchar *path = g_build_filename(dir, "huge.xml", NULL);
    gsize len = COHORT_XML_MAX_BYTES + 1;
    g_autofree gchar *data = g_malloc(len);
    g_autoptr(GError) error = NULL;

    /* Well-formed but too big: a comment that goes on and on. */
    memset(data, ' ', len);
    memcpy(data, "<domain>", 8);
    memcpy(data + len - 9, "</domain>", 9);
    assert_true(g_file_set_contents(path, data, (gssize)len, NULL));

    assert_null(cohort_template_new_from_file(path, &error));
    test_assert_error(error, COHORT_ERROR_PAYLOAD_TOO_LARGE, "huge.xml");
    test_assert_error(error, COHORT_ERROR_PAYLOAD_TOO_LARGE, "1048576");
    g_clear_error(&error);
    assert_null(cohort_template_new_from_data(data, len, "huge", &error));
    test_assert_error(error, COHORT_ERROR_PAYLOAD_TOO_LARGE, "1048576");

    assert_int_equal(g_unlink(path), 0);
    assert_int_equal(g_rmdir(dir), 0);
}

static void
test_template_not_regular_rejected(void **state)
{
    g_autofree gchar *dir = g_dir_make_tmp("cohort-test-XXXXXX", NULL);
    g_autofree gchar *subdir = g_build_filename(dir, "folder.xml", NULL);
    g_autofree gchar *missing = g_build_filename(dir, "missing.xml", NULL);
    g_autoptr(GError) error = NULL;

    assert_int_equal(g_mkdir(subdir, 0700), 0);
    assert_null(cohort_template_new_from_file(subdir, &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "not a regular file");
    g_clear_error(&error);
    /* A device would be read forever without the size bound. */
    assert_null(cohort_xml_parse_file("/dev/zero", "domain", &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "not a regular file");
    g_clear_error(&error);
    assert_null(cohort_template_new_from_file(missing, &error));
    test_assert_error(error, COHORT_ERROR_NOT_FOUND, "missing.xml");

    assert_int_equal(g_rmdir(subdir), 0);
    assert_int_equal(g_rmdir(dir), 0);
}

static void
test_template_wrong_root_rejected(void **state)
{
    g_autoptr(GError) error = test_load_fixture_error("wrong-root.xml");

    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "wrong-root.xml:1:");
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "<network>");
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "expected <domain>");
}

static void
test_template_malformed_line(void **state)
{
    g_autoptr(GError) error = test_load_fixture_error("malformed.xml");

    /* <vcpu>1</vpcu> is on line 12. */
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "malformed.xml:12:");
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "vpcu");
}

static void
test_template_metadata_rejected(void **state)
{
    struct {
        const gchar *file;
        const gchar *needles[2];
    } cases[] = {
        {"no-metadata.xml", {"no-metadata.xml:", "no <cohort:template"}},
        {"bad-metadata-missing.xml", {"bad-metadata-missing.xml:4:", "vcpus"}},
        {"bad-metadata-unit.xml", {"bad-metadata-unit.xml:8:", "memory"}},
        {"bad-metadata-memory.xml", {"bad-metadata-memory.xml:8:", "is 8 MiB; use 16"}},
        {"bad-metadata-two.xml", {"bad-metadata-two.xml:11:", "second <cohort:template>"}},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = test_load_fixture_error(cases[i].file);
        for (guint j = 0; j < G_N_ELEMENTS(cases[i].needles); j++)
            test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, cases[i].needles[j]);
    }
}

static void
test_template_schema_failure_line(void **state)
{
    g_autoptr(GError) unknown = test_load_fixture_error("schema-unknown-device.xml");
    g_autoptr(GError) value = test_load_fixture_error("schema-bad-value.xml");

    /* <frobnicator/> sits in <devices>, which starts on line 22. */
    test_assert_error(unknown, COHORT_ERROR_INVALID_ARGUMENT, "schema-unknown-device.xml:22:");
    test_assert_error(unknown, COHORT_ERROR_INVALID_ARGUMENT, "/domain/devices");
    test_assert_error(unknown, COHORT_ERROR_INVALID_ARGUMENT, "domain.rng");
    /* <on_crash>explode</on_crash>: libxml2 names the element at the domain's line; the
     * error points at the element itself, on line 21. */
    test_assert_error(value, COHORT_ERROR_INVALID_ARGUMENT, "schema-bad-value.xml:21:");
    test_assert_error(value, COHORT_ERROR_INVALID_ARGUMENT, "at /domain/on_crash:");
}

static void
test_template_schema_missing(void **state)
{
    g_autofree gchar *saved = g_strdup(g_getenv("COHORT_TEMPLATE_SCHEMA"));
    g_autofree gchar *path = test_fixture_path("rich.xml");
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_autoptr(GError) error = NULL;

    assert_true(g_setenv("COHORT_TEMPLATE_SCHEMA", "/nonexistent/cohort-template.rng", TRUE));
    tmpl = cohort_template_new_from_file(path, &error);
    assert_true(g_setenv("COHORT_TEMPLATE_SCHEMA", saved, TRUE));
    assert_null(tmpl);
    test_assert_error(error, COHORT_ERROR_INTERNAL, "/nonexistent/cohort-template.rng");
}

/* ---- rendering ------------------------------------------------------------------------- */

static void
test_template_render_fields(void **state)
{
    TestTemplates *t = *state;
    g_auto(TestRendered) r = {0};
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(t->small_linux, &spec, &r);

    test_assert_xpath(&r, "string(/domain/name)", "cohort-cloud-101-sok-dara");
    test_assert_xpath(&r, "string(count(/domain/name))", "1");
    test_assert_xpath(&r, "string(/domain/uuid)", TEST_UUID);
    test_assert_xpath(&r, "string(/domain/memory)", "128");
    test_assert_xpath(&r, "string(/domain/memory/@unit)", "MiB");
    test_assert_xpath(&r, "string(/domain/currentMemory)", "128");
    test_assert_xpath(&r, "string(/domain/currentMemory/@unit)", "MiB");
    test_assert_xpath(&r, "string(/domain/vcpu)", "2");
    test_assert_xpath(&r, "string(/domain/vcpu/@placement)", "static"); /* the author's */
    test_assert_xpath(&r, "string(/domain/cpu/topology/@sockets)", "1");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@dies)", "1");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@cores)", "2");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@threads)", "1");

    test_assert_xpath(&r, "string(/domain/devices/disk[1]/@type)", "file");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/source/@file)",
                      "/var/lib/libvirt/images/cohort-cloud-101-sok-dara.qcow2");
    test_assert_xpath(&r, "string(count(/domain/devices/disk[1]/source/@*))", "1");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/driver/@name)", "qemu");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/driver/@type)", "qcow2");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/driver/@discard)", "unmap");

    test_assert_xpath(&r, "string(/domain/devices/interface/@type)", "network");
    test_assert_xpath(&r, "string(/domain/devices/interface/source/@network)", "cohort-cloud-101");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/source/@*))", "1");

    test_assert_xpath(&r, "string(count(/domain/devices/graphics[@type='vnc']))", "1");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@autoport)", "yes");
    test_assert_xpath(&r, "string(count(/domain/devices/graphics/@port))", "0");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@passwd)", "s3cret!x");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@listen)", "192.0.2.10");
    test_assert_xpath(&r, "string(count(/domain/devices/graphics/listen))", "1");
    test_assert_xpath(&r, "string(/domain/devices/graphics/listen/@type)", "address");
    test_assert_xpath(&r, "string(/domain/devices/graphics/listen/@address)", "192.0.2.10");

    test_assert_xpath(&r, "string(count(/domain/metadata/*))", "1");
    test_assert_xpath(&r, "string(count(//t:*))", "0");
    test_assert_xpath(&r, "string(/domain/metadata/m:machine/@id)", "42");
    test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:cohort)", "cloud-101");
    test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:trainee)", "sok-dara");
    test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:display-name)", "Sok Dara");
    test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:template)", "small-linux");
    test_assert_xpath(&r, "string(count(/domain/metadata/m:machine/*))", "4");
    /* The tag's prefix is the one the header promises. */
    test_assert_xpath(&r, "name(/domain/metadata/*)", "cohort:machine");
}

static void
test_template_render_defaults(void **state)
{
    TestTemplates *t = *state;
    g_auto(TestRendered) r = {0};
    g_auto(TestRendered) again = {0};
    g_autofree gchar *uuid1 = NULL;
    g_autofree gchar *uuid2 = NULL;
    CohortMachineSpec spec;

    test_spec_init(&spec);
    spec.uuid = NULL;
    spec.vcpus = 0;
    spec.memory_mib = 0;
    spec.vnc_listen = NULL;
    spec.vnc_password = NULL;
    spec.display_name = NULL;
    test_render_parse(t->small_linux, &spec, &r);
    test_assert_xpath(&r, "string(/domain/vcpu)", "1");
    test_assert_xpath(&r, "string(/domain/memory)", "1024");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@listen)", "127.0.0.1");
    test_assert_xpath(&r, "string(/domain/devices/graphics/listen/@address)", "127.0.0.1");
    test_assert_xpath(&r, "string(count(/domain/devices/graphics/@passwd))", "0");
    test_assert_xpath(&r, "string(count(/domain/metadata/m:machine/m:display-name))", "0");

    /* A fresh random uuid for every machine. */
    test_render_parse(t->small_linux, &spec, &again);
    uuid1 = cohort_xml_find_string(r.ctxt, "string(/domain/uuid)");
    uuid2 = cohort_xml_find_string(again.ctxt, "string(/domain/uuid)");
    assert_true(g_uuid_string_is_valid(uuid1));
    assert_true(g_uuid_string_is_valid(uuid2));
    assert_string_not_equal(uuid1, uuid2);
}

/* Everything the renderer does not own stays as the author wrote it; what it owns is made
 * consistent even when the author wrote something odd. */
static void
test_template_render_author_untouched(void **state)
{
    g_autofree gchar *path = test_fixture_path("rich.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error);
    g_auto(TestRendered) r = {0};
    g_auto(TestRendered) keep = {0};
    CohortMachineSpec spec;

    if (tmpl == NULL)
        fail_msg("%s", error->message);
    assert_string_equal(cohort_template_get_base_pool(tmpl), "images");
    assert_int_equal(cohort_template_get_memory_mib(tmpl), 1024); /* 1 GiB */
    assert_int_equal(cohort_template_get_disk_mib(tmpl), 4096);   /* 4 GiB */

    test_spec_init(&spec);
    test_render_parse(tmpl, &spec, &r);
    test_assert_xpath(&r, "string(/domain/title)", "Author's title");
    test_assert_xpath(&r, "string(/domain/description)", "Author's description, kept as written");
    test_assert_xpath(&r, "string(/domain/on_crash)", "restart");
    test_assert_xpath(&r, "string(count(/domain/os/boot))", "2");
    test_assert_xpath(&r, "string(/domain/cpu/model)", "qemu64");
    test_assert_xpath(&r, "string(/domain/cpu/@match)", "exact");
    test_assert_xpath(&r, "string(/domain/devices/video/model/@type)", "qxl");

    /* The author's other metadata stays; the planted machine tag and the template go. */
    test_assert_xpath(&r, "string(/domain/metadata/*[local-name()='course'])", "Week 3");
    test_assert_xpath(&r, "string(count(/domain/metadata/m:machine))", "1");
    test_assert_xpath(&r, "string(/domain/metadata/m:machine/@id)", "42");
    test_assert_xpath(&r, "string(count(//t:*))", "0");

    /* vcpu: current= would contradict the count; the topology must multiply out. */
    test_assert_xpath(&r, "string(/domain/vcpu)", "2");
    test_assert_xpath(&r, "string(count(/domain/vcpu/@current))", "0");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@sockets)", "1");
    test_assert_xpath(&r, "string(count(/domain/cpu/topology/@dies))", "0");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@cores)", "2");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@threads)", "1");

    /* The cdrom is not the first disk='disk'; the second disk='disk' is not ours either. */
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/source/@file)", "/srv/iso/installer.iso");
    test_assert_xpath(&r, "string(/domain/devices/disk[2]/@type)", "file");
    test_assert_xpath(&r, "string(/domain/devices/disk[2]/source/@file)", spec.disk_path);
    test_assert_xpath(&r, "string(count(/domain/devices/disk[2]/source/*))", "0");
    test_assert_xpath(&r, "string(count(/domain/devices/disk[2]/backingStore))", "0");
    test_assert_xpath(&r, "string(/domain/devices/disk[2]/driver/@type)", "qcow2");
    test_assert_xpath(&r, "string(/domain/devices/disk[2]/driver/@cache)", "none");
    test_assert_xpath(&r, "string(/domain/devices/disk[3]/source/@file)", "/srv/data/shared.img");
    test_assert_xpath(&r, "string(/domain/devices/disk[3]/driver/@type)", "raw");

    /* Both NICs join the cohort's network, bridge and portgroup forgotten; no fixed MAC or
     * tap name survives (they would be the same on every machine). */
    test_assert_xpath(&r, "string(count(/domain/devices/interface[@type='network']))", "2");
    test_assert_xpath(
        &r, "string(count(/domain/devices/interface/source[@network='cohort-cloud-101']))", "2");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/source/@bridge))", "0");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/source/@portgroup))", "0");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/mac))", "0");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/target))", "0");
    test_assert_xpath(&r, "string(/domain/devices/interface[2]/model/@type)", "e1000");

    /* The author's VNC gets a free port, our password and listen address; SPICE stays. */
    test_assert_xpath(&r, "string(count(/domain/devices/graphics))", "2");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='spice']/@autoport)", "yes");
    test_assert_xpath(&r, "string(count(/domain/devices/graphics[@type='spice']/@*))", "2");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='vnc']/@autoport)", "yes");
    test_assert_xpath(&r, "string(count(/domain/devices/graphics[@type='vnc']/@port))", "0");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='vnc']/@passwd)", "s3cret!x");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='vnc']/@keymap)", "fr");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='vnc']/@listen)", "192.0.2.10");
    test_assert_xpath(&r, "string(count(/domain/devices/graphics[@type='vnc']/listen))", "1");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='vnc']/listen/@type)", "address");
    test_assert_xpath(&r, "string(/domain/devices/graphics[@type='vnc']/listen/@address)",
                      "192.0.2.10");

    /* Without a network in the spec, NICs keep theirs (minus MAC and tap name). */
    spec.network = NULL;
    test_render_parse(tmpl, &spec, &keep);
    test_assert_xpath(&keep, "string(/domain/devices/interface[1]/@type)", "bridge");
    test_assert_xpath(&keep, "string(/domain/devices/interface[1]/source/@bridge)", "br0");
    test_assert_xpath(&keep, "string(/domain/devices/interface[2]/source/@portgroup)", "students");
    test_assert_xpath(&keep, "string(count(/domain/devices/interface/mac))", "0");
}

/* The console the API hands out is VNC: a template without one gets one. */
static void
test_template_render_vnc_added(void **state)
{
    g_autofree gchar *path = test_fixture_path("no-vnc.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = cohort_template_new_from_file(path, &error);
    g_auto(TestRendered) r = {0};
    CohortMachineSpec spec;

    if (tmpl == NULL)
        fail_msg("%s", error->message);
    test_spec_init(&spec);
    test_render_parse(tmpl, &spec, &r);
    test_assert_xpath(&r, "string(count(/domain/devices/graphics))", "1");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@type)", "vnc");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@autoport)", "yes");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@passwd)", "s3cret!x");
    test_assert_xpath(&r, "string(/domain/devices/graphics/@listen)", "192.0.2.10");
    test_assert_xpath(&r, "string(/domain/devices/graphics/listen/@address)", "192.0.2.10");
}

/* A display name is text, whatever it contains: the tree keeps its shape. */
static void
test_template_render_hostile_display_name(void **state)
{
    TestTemplates *t = *state;
    const gchar *names[] = {
        TEST_OBRIEN,
        "</cohort:display-name><cohort:trainee>root</cohort:trainee><cohort:display-name>",
        "<!-- --> <![CDATA[ x ]]> &amp; &#x41; &lt;",
        "]]> \" ' < > &",
    };
    g_auto(TestRendered) plain = {0};
    g_autofree gchar *plain_count = NULL;
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(t->tiny, &spec, &plain);
    plain_count = cohort_xml_find_string(plain.ctxt, "string(count(//*))");
    assert_non_null(plain_count);

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        g_auto(TestRendered) r = {0};
        g_autofree gchar *count = NULL;

        spec.display_name = names[i];
        test_render_parse(t->tiny, &spec, &r);
        test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:display-name)", names[i]);
        test_assert_xpath(&r, "string(/domain/metadata/m:machine/m:trainee)", "sok-dara");
        test_assert_xpath(&r, "string(count(/domain/metadata/m:machine/m:display-name/node()))",
                          "1");
        count = cohort_xml_find_string(r.ctxt, "string(count(//*))");
        assert_string_equal(count, plain_count);
    }
}

static void
test_template_render_golden(void **state)
{
    TestTemplates *t = *state;
    g_autofree gchar *golden = g_build_filename(COHORT_TEST_DATADIR, "golden", "tiny.xml", NULL);
    g_autofree gchar *expected = NULL;
    g_autofree gchar *xml = NULL;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    test_spec_init(&spec);
    spec.display_name = TEST_OBRIEN;
    xml = cohort_template_render(t->tiny, &spec, &error);
    if (xml == NULL)
        fail_msg("%s", error->message);
    if (g_strcmp0(g_getenv("COHORT_TEST_REGENERATE"), "1") == 0) {
        if (!g_file_set_contents(golden, xml, -1, &error))
            fail_msg("%s", error->message);
        g_message("regenerated %s", golden);
    }
    if (!g_file_get_contents(golden, &expected, NULL, &error))
        fail_msg("%s (run with COHORT_TEST_REGENERATE=1 to make it)", error->message);
    assert_string_equal(xml, expected);
}

static void
test_template_render_bad_spec(void **state)
{
    TestTemplates *t = *state;
    g_autofree gchar *long_name = g_strnfill(101, 'a');
    g_autofree gchar *long_display = g_strnfill(201, 'x');
    CohortMachineSpec base;

    test_spec_init(&base);

#define EXPECT_BAD(mutation, needle)                                                               \
    do {                                                                                           \
        CohortMachineSpec spec = base;                                                             \
        g_autoptr(GError) error = NULL;                                                            \
        mutation;                                                                                  \
        test_render_error(t->tiny, &spec, &error);                                                 \
        test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, needle);                           \
        assert_false(cohort_machine_spec_validate(&spec, NULL));                                   \
    } while (0)

    EXPECT_BAD(spec.domain_name = NULL, "domain name");
    EXPECT_BAD(spec.domain_name = "", "domain name");
    EXPECT_BAD(spec.domain_name = "Cohort-Upper", "domain name");
    EXPECT_BAD(spec.domain_name = "-leading", "domain name");
    EXPECT_BAD(spec.domain_name = "a/b", "domain name");
    EXPECT_BAD(spec.domain_name = "a b", "domain name");
    EXPECT_BAD(spec.domain_name = long_name, "domain name");
    EXPECT_BAD(spec.uuid = "not-a-uuid", "uuid");
    EXPECT_BAD(spec.machine_id = 0, "machine id");
    EXPECT_BAD(spec.machine_id = -7, "machine id");
    EXPECT_BAD(spec.cohort = NULL, "cohort");
    EXPECT_BAD(spec.cohort = "Cloud 101", "cohort");
    EXPECT_BAD(spec.trainee = "sok_dara", "trainee");
    EXPECT_BAD(spec.trainee = "sok-dara<x>", "trainee");
    EXPECT_BAD(spec.trainee = "../root", "trainee");
    EXPECT_BAD(spec.trainee = "", "trainee");
    EXPECT_BAD(spec.display_name = "line\nbreak", "U+000A");
    EXPECT_BAD(spec.display_name = "tab\there", "U+0009");
    EXPECT_BAD(spec.display_name = "bell\a", "U+0007");
    EXPECT_BAD(spec.display_name = "c1 \xc2\x85 control", "U+0085");
    EXPECT_BAD(spec.display_name = "nonchar \xef\xbf\xbe", "U+FFFE");
    EXPECT_BAD(spec.display_name = "bad \xff utf-8", "UTF-8");
    EXPECT_BAD(spec.display_name = long_display, "at most 200");
    EXPECT_BAD(spec.vcpus = 257, "vCPUs");
    EXPECT_BAD(spec.memory_mib = 15, "MiB of memory");
    EXPECT_BAD(spec.memory_mib = G_GUINT64_CONSTANT(1048577), "MiB of memory");
    EXPECT_BAD(spec.disk_path = NULL, "disk path");
    EXPECT_BAD(spec.disk_path = "relative/disk.qcow2", "disk path");
    EXPECT_BAD(spec.disk_path = "/", "disk path");
    EXPECT_BAD(spec.disk_path = "/var/lib/x\n.qcow2", "disk path");
    EXPECT_BAD(spec.network = "", "network");
    EXPECT_BAD(spec.network = "net'work", "network");
    EXPECT_BAD(spec.vnc_password = "", "VNC password");
    EXPECT_BAD(spec.vnc_password = "123456789", "VNC password");
    EXPECT_BAD(spec.vnc_password = "pass\x01", "VNC password");
    EXPECT_BAD(spec.vnc_password = "pässwd", "VNC password");
    EXPECT_BAD(spec.vnc_listen = "localhost", "VNC listen address");
    EXPECT_BAD(spec.vnc_listen = "127.0.0.1; rm -rf /", "VNC listen address");
    EXPECT_BAD(spec.vnc_listen = "", "VNC listen address");
#undef EXPECT_BAD
}

static void
test_template_render_good_spec_edges(void **state)
{
    TestTemplates *t = *state;
    CohortMachineSpec spec;
    g_auto(TestRendered) r = {0};

    test_spec_init(&spec);
    spec.vcpus = 256;
    spec.memory_mib = 16;
    spec.vnc_password = "12345678";
    spec.vnc_listen = "::1";
    spec.network = "Shared_Net.1";
    spec.domain_name = "a.b_c-d";
    assert_true(cohort_machine_spec_validate(&spec, NULL));
    test_render_parse(t->small_linux, &spec, &r);
    test_assert_xpath(&r, "string(/domain/vcpu)", "256");
    test_assert_xpath(&r, "string(/domain/cpu/topology/@cores)", "256");
    test_assert_xpath(&r, "string(/domain/memory)", "16");
    test_assert_xpath(&r, "string(/domain/devices/graphics/listen/@address)", "::1");
    test_assert_xpath(&r, "string(/domain/devices/interface/source/@network)", "Shared_Net.1");
}

/* Validates a rendered text against domain.rng in full, as every rendering was before
 * renderings of one shape shared a validation. */
static gboolean
test_schema_accepts(const gchar *xml, GError **error)
{
    g_autoptr(xmlDoc) doc = cohort_xml_parse_memory(xml, strlen(xml), "rendered", "domain", error);

    return doc != NULL && cohort_domain_schema_validate(doc, "rendered", error);
}

/* domain.rng is freed once no validation holds it: parsed again, it still accepts a valid
 * rendering and refuses one it should. */
static void
test_template_schema_reloaded(void **state)
{
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) bad = NULL;
    g_autofree gchar *good = NULL;
    CohortMachineSpec spec;
    guint loads;

    (void)state;
    tmpl = test_load_shipped("small-linux");
    test_spec_init(&spec);
    good = cohort_template_render(tmpl, &spec, &error);
    assert_non_null(good);
    assert_false(cohort_domain_schema_is_loaded());
    loads = cohort_domain_schema_get_loads();

    assert_true(test_schema_accepts(good, &error));
    assert_false(cohort_domain_schema_is_loaded());
    assert_int_equal(cohort_domain_schema_get_loads(), loads + 1);

    bad = g_string_new(good);
    assert_true(g_string_replace(bad, "</devices>", "<bogus/></devices>", 1) == 1);
    assert_false(test_schema_accepts(bad->str, &error));
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "at /domain/devices:");
    g_clear_error(&error);
    assert_false(cohort_domain_schema_is_loaded());
    assert_int_equal(cohort_domain_schema_get_loads(), loads + 2);

    assert_true(test_schema_accepts(good, &error));
    assert_int_equal(cohort_domain_schema_get_loads(), loads + 3);
}

/* Loading a directory of templates parses domain.rng once, not once per template: each
 * parse is ~0.1 s, and a reload runs on the main loop. */
static void
test_template_schema_once_per_set(void **state)
{
    static const gchar *const shipped[] = {"tiny.xml", "tiny-lan.xml", "small-linux.xml"};
    g_autofree gchar *dir = g_dir_make_tmp("cohort-set-XXXXXX", NULL);
    g_autoptr(CohortTemplateSet) set = NULL;
    g_autoptr(GError) error = NULL;
    guint loads;

    (void)state;
    for (guint i = 0; i < G_N_ELEMENTS(shipped); i++) {
        g_autofree gchar *src = g_build_filename(COHORT_TEMPLATESDIR_SRC, shipped[i], NULL);
        g_autofree gchar *dst = g_build_filename(dir, shipped[i], NULL);
        g_autofree gchar *data = NULL;
        assert_true(g_file_get_contents(src, &data, NULL, NULL));
        assert_true(g_file_set_contents(dst, data, -1, NULL));
    }
    set = cohort_template_set_new(dir);
    assert_false(cohort_domain_schema_is_loaded());
    loads = cohort_domain_schema_get_loads();
    assert_true(cohort_template_set_load(set, &error));
    assert_null(error);
    assert_int_equal(g_hash_table_size(cohort_template_set_get_table(set)), 3);
    assert_int_equal(cohort_domain_schema_get_loads(), loads + 1);
    assert_false(cohort_domain_schema_is_loaded());
    for (guint i = 0; i < G_N_ELEMENTS(shipped); i++) {
        g_autofree gchar *dst = g_build_filename(dir, shipped[i], NULL);
        g_unlink(dst);
    }
    g_rmdir(dir);
}

/* A template's renderings are validated against domain.rng once per shape, and each value
 * from the spec on its own: what the validation of every document caught is still caught.
 * Renderings that share a validated shape (values at their limits, optional parts on and
 * off) are each valid in full; a value domain.rng refuses is refused after the shape is known. */
static void
test_template_render_values_checked_alone(void **state)
{
    g_autoptr(CohortTemplate) tmpl = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *long_name = g_strnfill(100, 'a');
    g_autofree gchar *xml = NULL;
    CohortMachineSpec spec;

    (void)state;
    tmpl = test_load_shipped("small-linux");
    /* the shape is known from here on */
    test_spec_init(&spec);
    xml = cohort_template_render(tmpl, &spec, &error);
    assert_non_null(xml);
    g_clear_pointer(&xml, g_free);

    for (guint i = 0; i < 12; i++) {
        test_spec_init(&spec);
        spec.machine_id = 1 + i;
        spec.uuid = i % 2 == 0 ? NULL : "AAAAAAAA-0000-4000-8000-00000000000F";
        spec.domain_name = i % 3 == 0 ? long_name : "b";
        spec.vcpus = i % 4 == 0 ? 1 : i % 4 == 1 ? 256 : 0;
        spec.memory_mib = i % 3 == 0 ? 16 : i % 3 == 1 ? G_GUINT64_CONSTANT(1048576) : 0;
        spec.disk_path = i % 2 == 0 ? "/d" : "/var/lib/libvirt/images/a b&<c>'\".qcow2";
        spec.network = i % 3 == 2 ? NULL : "Net_1.x";
        spec.vnc_password = i % 2 == 0 ? NULL : "<&'\" x>";
        spec.display_name = i % 2 == 0 ? NULL : "</cohort:machine><x a='1'>&amp;";
        spec.owner = i % 2 == 0 ? NULL : TEST_UUID;
        xml = cohort_template_render(tmpl, &spec, &error);
        if (xml == NULL)
            fail_msg("rendering %u: %s", i, error->message);
        if (!test_schema_accepts(xml, &error))
            fail_msg("rendering %u is not valid against domain.rng: %s", i, error->message);
        g_clear_pointer(&xml, g_free);
    }

    /* domain.rng's absFilePath wants a character after the '/': the full validation refused
     * this disk path before; the value's own check refuses it now, also with the shape known */
    test_spec_init(&spec);
    spec.disk_path = "/";
    test_render_error(tmpl, &spec, &error);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "disk path");
    g_clear_error(&error);
    {
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(xmlXPathContext) ctxt = NULL;
        xmlNode *source;
        g_autofree gchar *bad = NULL;

        test_spec_init(&spec);
        xml = cohort_template_render(tmpl, &spec, &error);
        assert_non_null(xml);
        doc = cohort_xml_parse_memory(xml, strlen(xml), "rendered", "domain", &error);
        assert_non_null(doc);
        ctxt = xmlXPathNewContext(doc);
        source = cohort_xml_find(ctxt, "/domain/devices/disk[@device='disk']/source");
        assert_non_null(source);
        xmlSetProp(source, BAD_CAST "file", BAD_CAST "/");
        bad = cohort_xml_to_string(doc);
        assert_false(test_schema_accepts(bad, &error));
        g_clear_error(&error);
    }
    /* the other values domain.rng would refuse, each refused on its own with the shape known */
    test_spec_init(&spec);
    spec.domain_name = "line\nbreak";
    test_render_error(tmpl, &spec, &error);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "domain name");
    g_clear_error(&error);
    test_spec_init(&spec);
    spec.uuid = "5f0c6f3e8a4b4c1d9e2f0123456789abX";
    test_render_error(tmpl, &spec, &error);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "uuid");
    g_clear_error(&error);
    test_spec_init(&spec);
    spec.disk_path = "/var/lib/x\r.qcow2";
    test_render_error(tmpl, &spec, &error);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "disk path");
}

#define TEST_THREADS 4
#define TEST_RENDERS_PER_THREAD 10

static gpointer
test_render_thread(gpointer data)
{
    CohortTemplate *tmpl = data;
    guint failures = 0;

    for (guint i = 0; i < TEST_RENDERS_PER_THREAD; i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *xml = NULL;
        CohortMachineSpec spec;

        test_spec_init(&spec);
        spec.uuid = NULL;
        spec.machine_id = 1 + i;
        xml = cohort_template_render(tmpl, &spec, &error);
        if (xml == NULL || strstr(xml, "<cohort:trainee>sok-dara</cohort:trainee>") == NULL)
            failures++;
    }
    return GUINT_TO_POINTER(failures);
}

/* Worker threads render at once: the schemas are shared, nothing else is. */
static void
test_template_render_threads(void **state)
{
    TestTemplates *t = *state;
    GThread *threads[TEST_THREADS];
    guint failures = 0;

    for (guint i = 0; i < TEST_THREADS; i++)
        threads[i] = g_thread_new("render", test_render_thread, t->small_linux);
    for (guint i = 0; i < TEST_THREADS; i++)
        failures += GPOINTER_TO_UINT(g_thread_join(threads[i]));
    assert_int_equal(failures, 0);
}

/* --check-template shows the names a real machine gets, so that admins read the truth. */
static void
test_template_sample_names(void **state)
{
    CohortMachineSpec sample;
    g_autofree gchar *domain = cohort_names_domain("sample", "trainee", 0);
    g_autofree gchar *overlay = cohort_names_overlay(domain);
    g_autofree gchar *network = cohort_names_network("sample");

    (void)state;
    cohort_machine_spec_init_sample(&sample);
    assert_string_equal(sample.domain_name, domain);
    assert_true(g_str_has_suffix(sample.disk_path, overlay));
    assert_string_equal(sample.network, network);
}

static CohortTemplate *
test_load_fixture(const gchar *file)
{
    g_autofree gchar *path = test_fixture_path(file);
    g_autoptr(GError) error = NULL;
    CohortTemplate *tmpl = cohort_template_new_from_file(path, &error);

    if (tmpl == NULL)
        fail_msg("%s: %s", file, error->message);
    return tmpl;
}

/* Issue 12: a template without a disk of its own (none at all, or only a CD-ROM: a live ISO)
 * gets the overlay as its first disk, virtio, on a target no other disk has. */
static void
test_template_no_disk_gets_overlay(void **state)
{
    g_autoptr(CohortTemplate) none = test_load_fixture("no-disk.xml");
    g_autoptr(CohortTemplate) live = test_load_fixture("live-cdrom.xml");
    g_auto(TestRendered) r = {0};
    g_auto(TestRendered) l = {0};
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(none, &spec, &r);
    test_assert_xpath(&r, "string(count(/domain/devices/disk))", "2");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/@device)", "disk");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/source/@file)", spec.disk_path);
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/driver/@type)", "qcow2");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/target/@bus)", "virtio");
    test_assert_xpath(&r, "string(/domain/devices/disk[1]/target/@dev)", "vda");
    test_assert_xpath(&r, "string(/domain/devices/disk[2]/@device)", "cdrom");

    /* the live ISO's CD-ROM took vda (on SATA): the overlay takes the next name */
    test_render_parse(live, &spec, &l);
    test_assert_xpath(&l, "string(/domain/devices/disk[1]/@device)", "disk");
    test_assert_xpath(&l, "string(/domain/devices/disk[1]/target/@dev)", "vdb");
    test_assert_xpath(&l, "string(/domain/devices/disk[2]/source/@file)", "/srv/iso/live.iso");
}

/* A hostdev NIC joins the cohort network: managed= and the PCI source go (the schema refuses
 * managed on a network NIC), and the vfio driver with them. */
static void
test_template_hostdev_nic(void **state)
{
    g_autoptr(CohortTemplate) live = test_load_fixture("live-cdrom.xml");
    g_auto(TestRendered) r = {0};
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(live, &spec, &r);
    test_assert_xpath(&r, "string(/domain/devices/interface/@type)", "network");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/@managed))", "0");
    test_assert_xpath(&r, "string(/domain/devices/interface/source/@network)", spec.network);
    test_assert_xpath(&r, "string(count(/domain/devices/interface/source/address))", "0");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/driver))", "0");
    test_assert_xpath(&r, "string(count(/domain/devices/interface/mac))", "0");
}

/* <sysinfo>'s uuid entry is the machine's, as <uuid> is: libvirt refuses the two apart. */
static void
test_template_sysinfo_uuid(void **state)
{
    g_autoptr(CohortTemplate) tmpl = test_load_fixture("sysinfo.xml");
    g_auto(TestRendered) r = {0};
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(tmpl, &spec, &r);
    test_assert_xpath(&r, "string(/domain/uuid)", TEST_UUID);
    test_assert_xpath(&r, "string(/domain/sysinfo/system/entry[@name='uuid'])", TEST_UUID);
    test_assert_xpath(&r, "string(/domain/sysinfo/system/entry[@name='manufacturer'])", "Lab");
}

/* The host's accelerator sets <domain type>, whatever the template says. */
static void
test_template_domain_type(void **state)
{
    g_autoptr(CohortTemplate) tmpl = test_load_shipped("tiny");
    g_auto(TestRendered) r = {0};
    g_auto(TestRendered) kept = {0};
    g_autoptr(GError) error = NULL;
    g_autofree gchar *xml = NULL;
    CohortMachineSpec spec;

    test_spec_init(&spec);
    test_render_parse(tmpl, &spec, &kept);
    test_assert_xpath(&kept, "string(/domain/@type)", "qemu");
    spec.domain_type = "kvm";
    test_render_parse(tmpl, &spec, &r);
    test_assert_xpath(&r, "string(/domain/@type)", "kvm");
    spec.domain_type = "xen";
    xml = cohort_template_render(tmpl, &spec, &error);
    assert_null(xml);
    test_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT, "domain type 'xen'");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_no_disk_gets_overlay),
        cmocka_unit_test(test_template_hostdev_nic),
        cmocka_unit_test(test_template_sysinfo_uuid),
        cmocka_unit_test(test_template_domain_type),
        cmocka_unit_test(test_template_sample_names),
        cmocka_unit_test(test_template_render_values_checked_alone),
        cmocka_unit_test_setup_teardown(test_template_guest_agent, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_shipped_load, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_shipped_render, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_seed_disc, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_shipped_devices, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test(test_template_from_data),
        cmocka_unit_test(test_template_file_name_slug),
        cmocka_unit_test(test_template_doctype_rejected),
        cmocka_unit_test(test_template_xxe_secret_not_read),
        cmocka_unit_test(test_template_oversized_rejected),
        cmocka_unit_test(test_template_not_regular_rejected),
        cmocka_unit_test(test_template_wrong_root_rejected),
        cmocka_unit_test(test_template_malformed_line),
        cmocka_unit_test(test_template_metadata_rejected),
        cmocka_unit_test(test_template_schema_failure_line),
        cmocka_unit_test(test_template_schema_missing),
        cmocka_unit_test(test_template_schema_reloaded),
        cmocka_unit_test(test_template_schema_once_per_set),
        cmocka_unit_test_setup_teardown(test_template_render_fields, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_render_defaults, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test(test_template_render_author_untouched),
        cmocka_unit_test(test_template_render_vnc_added),
        cmocka_unit_test_setup_teardown(test_template_render_hostile_display_name,
                                        test_templates_setup, test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_render_golden, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_render_bad_spec, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_render_good_spec_edges, test_templates_setup,
                                        test_templates_teardown),
        cmocka_unit_test_setup_teardown(test_template_render_threads, test_templates_setup,
                                        test_templates_teardown),
    };

    /* The fixtures live outside xml-templates/: point them at the source tree's schema. */
    g_setenv("COHORT_TEMPLATE_SCHEMA", COHORT_TEMPLATESDIR_SRC "/cohort-template.rng", TRUE);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
