/* Cohort's test guest for the integration tests (see cohort-test-guest.h). */
#define G_LOG_DOMAIN "cohort-test-guest"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cohort-test-guest.h"
#include "cohort-test.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

static void
cohort_test_guest_copy(const gchar *from, const gchar *to)
{
    g_autofree gchar *data = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;

    if (!g_file_get_contents(from, &data, &len, &error) ||
        !g_file_set_contents_full(to, data, (gssize)len, G_FILE_SET_CONTENTS_NONE, 0644, &error))
        fail_msg("copying %s to %s: %s", from, to, error->message);
}

/* The template with the kernel and initrd where they are; without an agent when @agent is
 * FALSE (then it is ready at its first lease). */
static void
cohort_test_guest_write_template(CohortTestGuest *guest, const gchar *file, gboolean agent)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = cohort_xml_parse_file(COHORT_TEST_GUEST_TEMPLATE, "domain", &error);
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree gchar *kernel = g_build_filename(guest->image_dir, "vmlinuz", NULL);
    g_autofree gchar *initrd = g_build_filename(guest->image_dir, "initrd.img", NULL);
    g_autofree gchar *path = g_build_filename(guest->templates_dir, file, NULL);
    g_autofree gchar *xml = NULL;

    cohort_assert_no_error(error);
    ctxt = xmlXPathNewContext(doc);
    cohort_xml_set_text(cohort_xml_find(ctxt, "/domain/os/kernel"), kernel);
    cohort_xml_set_text(cohort_xml_find(ctxt, "/domain/os/initrd"), initrd);
    if (!agent) {
        xmlNode *tmpl;
        xmlNode *node;
        xmlXPathRegisterNs(ctxt, BAD_CAST "t", BAD_CAST COHORT_TEMPLATE_XMLNS);
        tmpl = cohort_xml_find(ctxt, "/domain/metadata/t:template");
        assert_non_null(tmpl);
        node = xmlNewChild(tmpl, tmpl->ns, BAD_CAST "guest-agent", NULL);
        cohort_xml_set_text(node, "no");
        node = cohort_xml_find(ctxt, "/domain/name");
        cohort_xml_set_text(node, "guest-noagent");
    }
    xml = cohort_xml_to_string(doc);
    assert_true(g_file_set_contents(path, xml, -1, &error));
}

CohortTestGuest *
cohort_test_guest_new(void)
{
    CohortTestGuest *guest = g_new0(CohortTestGuest, 1);
    g_autoptr(GError) error = NULL;
    g_autofree gchar *out = NULL;
    g_autofree gchar *err = NULL;
    g_autofree gchar *kernel = NULL;
    g_autofree gchar *initrd = NULL;
    gint status = 0;
    const gchar *argv[] = {COHORT_TEST_GUEST_SCRIPT, COHORT_TEST_GUEST_BUILDDIR, NULL};
    gint64 t0 = g_get_monotonic_time();

    if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                      &error))
        fail_msg("running %s: %s", argv[0], error->message);
    if (!g_spawn_check_wait_status(status, NULL))
        fail_msg("%s failed: %s%s (./cohort-dev installs the packages it names)", argv[0], out,
                 err);
    guest->build_s = (g_get_monotonic_time() - t0) / 1e6;
    if (out != NULL && out[0] != '\0')
        g_print("# %s", out);
    guest->image_dir =
        g_strdup_printf("/var/lib/libvirt/images/cohort-itest-guest-%u", (guint)getpid());
    if (g_mkdir_with_parents(guest->image_dir, 0755) != 0)
        fail_msg("making %s: %s", guest->image_dir, g_strerror(errno));
    kernel = g_build_filename(guest->image_dir, "vmlinuz", NULL);
    initrd = g_build_filename(guest->image_dir, "initrd.img", NULL);
    {
        g_autofree gchar *from_kernel =
            g_build_filename(COHORT_TEST_GUEST_BUILDDIR, "vmlinuz", NULL);
        g_autofree gchar *from_initrd =
            g_build_filename(COHORT_TEST_GUEST_BUILDDIR, "initrd.img", NULL);
        cohort_test_guest_copy(from_kernel, kernel);
        cohort_test_guest_copy(from_initrd, initrd);
    }
    guest->templates_dir = g_dir_make_tmp("cohort-itest-templates-XXXXXX", &error);
    cohort_assert_no_error(error);
    cohort_test_guest_write_template(guest, "guest.xml", TRUE);
    cohort_test_guest_write_template(guest, "guest-noagent.xml", FALSE);
    return guest;
}

static void
cohort_test_guest_remove_dir(const gchar *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const gchar *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree gchar *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}

void
cohort_test_guest_free(CohortTestGuest *guest)
{
    if (guest == NULL)
        return;
    cohort_test_guest_remove_dir(guest->image_dir);
    cohort_test_guest_remove_dir(guest->templates_dir);
    assert_false(g_file_test(guest->image_dir, G_FILE_TEST_EXISTS));
    g_free(guest->image_dir);
    g_free(guest->templates_dir);
    g_free(guest);
}

gchar *
cohort_test_guest_daemon_config(CohortTestGuest *guest)
{
    return g_strdup_printf("[daemon]\ntemplates_dir=%s\n", guest->templates_dir);
}

/* Whether @text holds a line that starts with @begin and, after it, a whole line holding
 * @needle: the console may have been opened in the middle of a report, whose first half is
 * then missing, and a read may end in the middle of a line. */
static gboolean
console_has_report(const gchar *text, const gchar *begin, const gchar *needle)
{
    const gchar *at = text;

    while ((at = strstr(at, begin)) != NULL) {
        if (at == text || at[-1] == '\n') {
            const gchar *found = strstr(at, needle);
            return found != NULL && strchr(found, '\n') != NULL;
        }
        at++;
    }
    return FALSE;
}

gchar *
cohort_test_guest_console_read(virConnectPtr conn, const gchar *domain, const gchar *begin,
                               const gchar *needle, gdouble more_s, gdouble timeout_s)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, domain);
    virStreamPtr st;
    g_autoptr(GString) text = g_string_new(NULL);
    gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);
    gint64 seen_at = 0;

    if (dom == NULL)
        return NULL;
    /* blocking: the guest writes its report every 2 s, so each read returns soon */
    st = virStreamNew(conn, 0);
    if (st == NULL)
        return NULL;
    if (virDomainOpenConsole(dom, NULL, st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
        g_message("console of %s: %s", domain, virGetLastErrorMessage());
        virStreamFree(st);
        return NULL;
    }
    while (g_get_monotonic_time() < deadline) {
        gchar buf[4096];
        gint n = virStreamRecv(st, buf, sizeof(buf));
        if (n > 0) {
            g_string_append_len(text, buf, n);
            if (seen_at == 0 && console_has_report(text->str, begin, needle))
                seen_at = g_get_monotonic_time();
        } else {
            if (n < 0)
                g_message("console of %s: %s", domain, virGetLastErrorMessage());
            break;
        }
        if (seen_at > 0 && g_get_monotonic_time() - seen_at >= (gint64)(more_s * G_USEC_PER_SEC))
            break;
    }
    virStreamAbort(st);
    virStreamFree(st);
    return g_string_free(g_steal_pointer(&text), FALSE);
}

gchar *
cohort_test_guest_report_value(const gchar *console, const gchar *prefix, const gchar *key)
{
    g_auto(GStrv) lines = g_strsplit(console != NULL ? console : "", "\n", -1);
    g_autofree gchar *tag = g_strconcat(key, "=", NULL);
    gchar *value = NULL;

    /* whole lines only: the last piece, after the last newline, may be cut mid-line (the
     * console was read while the guest was writing it) */
    for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++) {
        const gchar *at;
        if (!g_str_has_prefix(lines[i], prefix) || (at = strstr(lines[i], tag)) == NULL)
            continue;
        at += strlen(tag);
        g_free(value);
        value = g_strndup(at, strcspn(at, " \r\n"));
    }
    return value;
}
