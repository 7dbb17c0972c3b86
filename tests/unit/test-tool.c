/* The built cohort-tool on libvirt's test driver (tests/data/tool-host.xml: no pool named
 * "default", Cohort overlays in two pools). */
#define G_LOG_DOMAIN "test-tool"

#include "config.h"

#include "cohort-test.h"

#include <string.h>
#include <sys/wait.h>

typedef struct {
    gint status;
    gchar *out;
    gchar *err;
} Run;

static void
run_free(Run *r)
{
    g_free(r->out);
    g_free(r->err);
    g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Run, run_free)

/* cohort-tool --uri test:///…/tool-host.xml ARGS… */
static Run *
tool_run(const gchar *first, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    Run *r = g_new0(Run, 1);
    gint wait_status = 0;
    va_list ap;

    g_ptr_array_add(argv, g_strdup(COHORT_TOOL_PATH));
    g_ptr_array_add(argv, g_strdup("--uri"));
    g_ptr_array_add(argv, g_strconcat("test://", COHORT_TEST_DATADIR, "/tool-host.xml", NULL));
    va_start(ap, first);
    for (const gchar *arg = first; arg != NULL; arg = va_arg(ap, const gchar *))
        g_ptr_array_add(argv, g_strdup(arg));
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (gchar **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r->out,
                      &r->err, &wait_status, &error))
        fail_msg("cannot run cohort-tool: %s", error->message);
    assert_true(WIFEXITED(wait_status));
    r->status = WEXITSTATUS(wait_status);
    return r;
}

/* Without --pool, every pool of the host: the overlays of both, named with their pool; the
 * domain with Cohort's tag and not the admin's own; no volume without Cohort's prefix. */
static void
test_tool_list_every_pool(void **state)
{
    g_autoptr(Run) r = tool_run("list", NULL);

    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "domain\tcohort-cloud-101--sok-dara\n"
                                "volume\tcohort-cloud-101--sok-dara.qcow2\timages\n"
                                "volume\tcohort-net-201--lim-sophea--2.qcow2\tlab\n");
    assert_string_equal(r->err, "");
}

static void
test_tool_list_one_pool(void **state)
{
    g_autoptr(Run) r = tool_run("list", "--pool", "lab", NULL);

    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "domain\tcohort-cloud-101--sok-dara\n"
                                "volume\tcohort-net-201--lim-sophea--2.qcow2\tlab\n");
}

/* A pool that is not there: said, exit status 1. */
static void
test_tool_list_missing_pool(void **state)
{
    g_autoptr(Run) r = tool_run("list", "--pool", "default", NULL);

    assert_int_equal(r->status, 1);
    cohort_assert_contains(r->err, "storage pool 'default'");
}

/* The demo still needs a pool, and says which one is missing. */
static void
test_tool_demo_missing_pool(void **state)
{
    g_autoptr(Run) r = tool_run("demo", NULL);

    assert_int_equal(r->status, 1);
    cohort_assert_contains(r->err, "storage pool 'default'");
    assert_string_equal(r->out, "");
}

static void
test_tool_usage(void **state)
{
    g_autoptr(Run) none = tool_run(NULL);
    g_autoptr(Run) unknown = tool_run("lsit", NULL);

    assert_int_equal(none->status, 2);
    assert_int_equal(unknown->status, 2);
    cohort_assert_contains(unknown->err, "'list' or 'demo'");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_list_every_pool),
        cmocka_unit_test(test_tool_list_one_pool),
        cmocka_unit_test(test_tool_list_missing_pool),
        cmocka_unit_test(test_tool_demo_missing_pool),
        cmocka_unit_test(test_tool_usage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
