/* cohortd's configuration: defaults, layering, and every bad value named. */
#define G_LOG_DOMAIN "test-config"

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "cohort-config.h"
#include "cohort-error.h"
#include "cohort-test.h"

static CohortConfig *
test_config_load(const gchar *data)
{
    g_autoptr(CohortConfig) config = cohort_config_new_default();
    g_autoptr(GError) error = NULL;

    if (!cohort_config_load_data(config, data, &error))
        fail_msg("unexpected error: %s\nfor:\n%s", error->message, data);
    return g_steal_pointer(&config);
}

static void
test_config_assert_defaults(CohortConfig *config)
{
    assert_string_equal(config->listen, "127.0.0.1");
    assert_int_equal(config->port, 8580);
    assert_null(config->tls_cert);
    assert_null(config->tls_key);
    assert_false(config->allow_plain_http);
    assert_false(cohort_config_has_tls(config));
    assert_string_equal(config->templates_dir, COHORT_TEMPLATESDIR);
    assert_string_equal(config->images_dir, "/var/lib/cohort/images");
    assert_true(g_path_is_absolute(config->web_dir));
    assert_true(g_str_has_suffix(config->web_dir, "/web"));
    assert_false(config->allow_test_hosts);
    assert_string_equal(config->vnc_listen, "127.0.0.1");
    assert_int_equal(config->max_body_kib, 1024);
    assert_int_equal(config->workers, 8);
    assert_int_equal(config->reaper_interval_s, 60);
    assert_int_equal(config->reconcile_interval_s, 300);
    assert_int_equal(config->invitation_ttl_hours, 168);
    assert_int_equal(config->quota_machines, 1);
    assert_int_equal(config->quota_vcpus, 2);
    assert_int_equal(config->quota_memory_mib, 2048);
    assert_string_equal(config->networks_range, "10.200.0.0/16");
    assert_int_equal(config->networks_prefix, 24);
    assert_int_equal(cohort_config_get_hosts(config)->len, 0);
}

static void
test_config_defaults(void **state)
{
    g_autoptr(CohortConfig) config = NULL;
    g_autoptr(CohortConfig) under_systemd = NULL;
    g_autofree gchar *user_state = g_build_filename(g_get_user_state_dir(), "cohort", NULL);

    g_unsetenv("STATE_DIRECTORY");
    config = cohort_config_new_default();
    test_config_assert_defaults(config);
    assert_string_equal(config->state_dir, geteuid() == 0 ? "/var/lib/cohort" : user_state);
    assert_null(cohort_config_get_host(config, "lab"));

    g_setenv("STATE_DIRECTORY", "/var/lib/cohort-test:/var/lib/other", TRUE);
    under_systemd = cohort_config_new_default();
    g_unsetenv("STATE_DIRECTORY");
    assert_string_equal(under_systemd->state_dir, "/var/lib/cohort-test");
}

static void
test_config_partial_override(void **state)
{
    g_autoptr(CohortConfig) config = test_config_load("# only what is named changes\n"
                                                      "[daemon]\n"
                                                      "port=9000\n"
                                                      "state_dir=/srv/cohort\n"
                                                      "[quota]\n"
                                                      "vcpus=4\n");
    g_autoptr(GError) error = NULL;

    assert_int_equal(config->port, 9000);
    assert_string_equal(config->state_dir, "/srv/cohort");
    assert_int_equal(config->quota_vcpus, 4);
    assert_string_equal(config->listen, "127.0.0.1");
    assert_int_equal(config->workers, 8);
    assert_int_equal(config->quota_machines, 1);
    assert_int_equal(config->quota_memory_mib, 2048);

    /* A second file layers on the first. */
    assert_true(cohort_config_load_data(config, "[daemon]\nworkers=2\nport=0\n", &error));
    cohort_assert_no_error(error);
    assert_int_equal(config->workers, 2);
    assert_int_equal(config->port, 0);
    assert_string_equal(config->state_dir, "/srv/cohort");
    assert_int_equal(config->quota_vcpus, 4);

    /* A bad file changes nothing, not even the keys before the bad one. */
    assert_false(cohort_config_load_data(config, "[daemon]\nport=7000\nworkers=65\n", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    assert_int_equal(config->port, 0);
    assert_int_equal(config->workers, 2);
}

typedef struct {
    const gchar *data;
    const gchar *says;
} TestConfigBadCase;

static void
test_config_bad_values(void **state)
{
    const TestConfigBadCase cases[] = {
        {"[daemon]\nport=70000\n", "[daemon] port: '70000' is not a whole number from 0 to 65535"},
        {"[daemon]\nport=eighty\n", "[daemon] port: 'eighty'"},
        {"[daemon]\nport=-1\n", "[daemon] port: '-1'"},
        {"[daemon]\nworkers=0\n", "[daemon] workers: '0' is not a whole number from 1 to 64"},
        {"[daemon]\nworkers=65\n", "[daemon] workers: '65' is not a whole number from 1 to 64"},
        {"[daemon]\nmax_body_kib=0\n", "[daemon] max_body_kib: '0'"},
        {"[daemon]\ninvitation_ttl_hours=1e3\n", "[daemon] invitation_ttl_hours: '1e3'"},
        {"[daemon]\nlisten=localhost\n", "[daemon] listen: 'localhost' is not an IP address"},
        {"[daemon]\nvnc_listen=999.1.1.1\n", "[daemon] vnc_listen: '999.1.1.1'"},
        {"[daemon]\nallow_plain_http=yes\n", "[daemon] allow_plain_http: 'yes' is not a boolean"},
        {"[daemon]\nstate_dir=var/lib/cohort\n",
         "[daemon] state_dir: 'var/lib/cohort' is not an absolute path"},
        {"[daemon]\nstate_dir=\n", "[daemon] state_dir: '' is not an absolute path"},
        {"[daemon]\ntls_cert=/etc/cohort/cert.pem\n",
         "[daemon] tls_cert: '/etc/cohort/cert.pem' is set but [daemon] tls_key is not"},
        {"[daemon]\ntls_key=/etc/cohort/key.pem\n",
         "[daemon] tls_key: '/etc/cohort/key.pem' is set but [daemon] tls_cert is not"},
        {"[daemon]\nlisten=0.0.0.0\n", "[daemon] listen: '0.0.0.0' is not a loopback address"},
        {"[daemon]\nlisen=127.0.0.1\n", "[daemon] lisen: unknown key"},
        {"[deamon]\nport=1\n", "[deamon]: unknown group"},
        {"[quota]\nmemory_mib=1\n", "[quota] memory_mib: '1'"},
        {"[quota]\nvcpus=0\n", "[quota] vcpus: '0'"},
        {"[host:lab1]\npool=default\n", "[host:lab1] uri: missing"},
        {"[host:Lab_1]\nuri=qemu:///system\n", "[host:Lab_1]: host name 'Lab_1' is not a slug"},
        {"[host:]\nuri=qemu:///system\n", "[host:]: host name is empty"},
        {"[host:lab1]\nuri=not a uri\n", "[host:lab1] uri: 'not a uri' is not a libvirt URI"},
        {"[host:lab1]\nuri=\n", "[host:lab1] uri: '' is empty"},
        {"[host:lab1]\nuri=qemu:///system\npool=a/b\n", "[host:lab1] pool: 'a/b'"},
        {"[host:lab1]\nuri=qemu:///system\ncpu_ratio=0\n", "[host:lab1] cpu_ratio: '0'"},
        {"[host:lab1]\nuri=qemu:///system\nmemory_ratio=lots\n",
         "[host:lab1] memory_ratio: 'lots' is not a number above 0"},
        {"[host:lab1]\nuri=qemu:///system\nvcpus=-4\n", "[host:lab1] vcpus: '-4'"},
        {"[host:lab1]\nuri=qemu:///system\nname=lab1\n", "[host:lab1] name: unknown key"},
        {"[daemon]\nimages_dir=images\n", "[daemon] images_dir: 'images' is not an absolute path"},
        {"[daemon]\nweb_dir=web\n", "[daemon] web_dir: 'web' is not an absolute path"},
        {"[daemon]\nallow_test_hosts=maybe\n",
         "[daemon] allow_test_hosts: 'maybe' is not a boolean"},
        /* URIs that would read cohortd's files or run programs */
        {"[host:lab1]\nuri=test:///default\n",
         "[host:lab1] uri: 'test:///default' is libvirt's test driver, which reads the file the "
         "URI names on cohortd's machine: cohortd takes test:/// hosts only where [daemon] "
         "allow_test_hosts=true"},
        {"[host:lab1]\nuri=qemu+ext:///system?command=/bin/sh\n", "[host:lab1] uri: "},
        {"[host:lab1]\nuri=qemu+ssh://lab1/system?keyfile=/etc/shadow\n",
         "has parameter keyfile=, which names a file on cohortd's machine"},
        /* one libvirt host, two groups: both named */
        {"[host:lab1]\nuri=qemu:///system\n[host:lab2]\nuri=QEMU+UNIX:///system\n",
         "[host:lab2] uri: 'QEMU+UNIX:///system' is the host of [host:lab1] already "
         "(uri=qemu:///system)"},
        {"[daemon]\nallow_test_hosts=true\n[host:a]\nuri=test:///default\n[host:b]\n"
         "uri=test:///default\n",
         "[host:b] uri: 'test:///default' is the host of [host:a] already"},
        {"port=1\n", "not a key file"},
        /* the accelerator and the address plan */
        {"[host:lab1]\nuri=qemu:///system\naccel=xen\n",
         "[host:lab1] accel: 'xen' is none of auto (kvm where the host offers it, else tcg), kvm "
         "or tcg"},
        {"[networks]\nrange=10.200.0.0\n", "[networks] range: '10.200.0.0'"},
        {"[networks]\nrange=10.200.0.1/16\n", "the subnet is written with its network address"},
        {"[networks]\nrange=10.200.0.0/24\nprefix=20\n",
         "[networks] prefix: '20' is shorter than [networks] range=10.200.0.0/24"},
        {"[networks]\nprefix=30\n", "[networks] prefix: '30' is not a whole number from 8 to 29"},
        {"[networks]\nsize=24\n", "[networks] size: unknown key"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CohortConfig) config = cohort_config_new_default();
        g_autoptr(GError) error = NULL;

        assert_false(cohort_config_load_data(config, cases[i].data, &error));
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        cohort_assert_contains(error->message, cases[i].says);
        /* Nothing of a refused file is kept. */
        test_config_assert_defaults(config);
    }
}

static void
test_config_count_warning(const gchar *domain, GLogLevelFlags level, const gchar *message,
                          gpointer user_data)
{
    guint *warnings = user_data;

    g_printerr("%s-WARNING: %s\n", domain, message);
    (*warnings)++;
}

/* Found by tests/fuzz/fuzz-config: a bad escape and a lone backslash at the end of a value
 * made GLib set its GError twice and print a warning blaming cohortd; and as GLib returns
 * the value along with the error, such values were taken, mangled (the backslash dropped). */
static void
test_config_trailing_backslash(void **state)
{
    static const gchar *const files[] = {
        "[daemon]\nstate_dir=/srv/a\\q\\\n",
        "[daemon]\nstate_dir=/srv/a\\\\\\\n",
        "[host:lab1]\nuri=qemu:///system\npool=p\\x\\\n",
    };
    guint warnings = 0;
    guint handler =
        g_log_set_handler("GLib", G_LOG_LEVEL_WARNING, test_config_count_warning, &warnings);

    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autoptr(CohortConfig) config = cohort_config_new_default();
        g_autoptr(GError) error = NULL;

        assert_false(cohort_config_load_data(config, files[i], &error));
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        cohort_assert_contains(error->message, "ends with a lone backslash");
        test_config_assert_defaults(config);
    }
    g_log_remove_handler("GLib", handler);
    assert_int_equal(warnings, 0);

    /* any other bad escape is refused too, not taken as written */
    {
        g_autoptr(CohortConfig) config = cohort_config_new_default();
        g_autoptr(GError) error = NULL;

        assert_false(
            cohort_config_load_data(config, "[daemon]\nstate_dir=/srv/co\\hort\n", &error));
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        cohort_assert_contains(error->message,
                               "[daemon] state_dir: '/srv/co\\\\hort' cannot be read");
        test_config_assert_defaults(config);
    }

    /* a backslash written as \\ at the end is one */
    {
        g_autoptr(CohortConfig) config = test_config_load("[daemon]\nstate_dir=/srv/a\\\\\n");
        assert_string_equal(config->state_dir, "/srv/a\\");
    }
}

static void
test_config_plain_http(void **state)
{
    g_autoptr(CohortConfig) plain =
        test_config_load("[daemon]\nlisten=0.0.0.0\nallow_plain_http=true\n");
    g_autoptr(CohortConfig) tls = test_config_load("[daemon]\nlisten=::\n"
                                                   "tls_cert=/etc/cohort/tls/cert.pem\n"
                                                   "tls_key=/etc/cohort/tls/key.pem\n");
    g_autoptr(CohortConfig) loopback6 = test_config_load("[daemon]\nlisten=::1\n");
    g_autoptr(CohortConfig) unset = NULL;
    g_autoptr(GError) error = NULL;

    assert_string_equal(plain->listen, "0.0.0.0");
    assert_true(plain->allow_plain_http);
    assert_true(cohort_config_has_tls(tls));
    assert_string_equal(tls->tls_cert, "/etc/cohort/tls/cert.pem");
    assert_string_equal(tls->tls_key, "/etc/cohort/tls/key.pem");
    assert_string_equal(loopback6->listen, "::1");

    /* Turning TLS off again on a public address is refused... */
    assert_false(cohort_config_load_data(tls, "[daemon]\ntls_cert=\ntls_key=\n", &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    cohort_assert_contains(error->message, "[daemon] listen: '::' is not a loopback address");
    assert_true(cohort_config_has_tls(tls));
    /* ...and allowed on loopback. */
    unset = test_config_load("[daemon]\ntls_cert=\ntls_key=\n");
    assert_false(cohort_config_has_tls(unset));
}

static void
test_config_hosts(void **state)
{
    g_autoptr(CohortConfig) config = test_config_load("[host:lab1]\n"
                                                      "uri=qemu:///system\n"
                                                      "pool=cohort\n"
                                                      "vcpus=16\n"
                                                      "memory_mib=65536\n"
                                                      "cpu_ratio=2.5\n"
                                                      "memory_ratio=1.25\n"
                                                      "accel=tcg\n"
                                                      "\n"
                                                      "[networks]\n"
                                                      "range=172.30.0.0/20\n"
                                                      "prefix=26\n"
                                                      "\n"
                                                      "[host:lab2]\n"
                                                      "uri=qemu+ssh://cohort@lab2/system\n");
    g_autoptr(GError) error = NULL;
    GPtrArray *hosts = cohort_config_get_hosts(config);
    const CohortConfigHost *lab1 = g_ptr_array_index(hosts, 0);
    const CohortConfigHost *lab2 = g_ptr_array_index(hosts, 1);

    assert_int_equal(hosts->len, 2);
    assert_string_equal(lab1->name, "lab1");
    assert_string_equal(lab1->uri, "qemu:///system");
    assert_string_equal(lab1->pool, "cohort");
    assert_int_equal(lab1->vcpus, 16);
    assert_int_equal(lab1->memory_mib, 65536);
    assert_true(lab1->cpu_ratio == 2.5);
    assert_true(lab1->memory_ratio == 1.25);
    assert_string_equal(lab1->accel, "tcg");
    assert_string_equal(config->networks_range, "172.30.0.0/20");
    assert_int_equal(config->networks_prefix, 26);

    assert_string_equal(lab2->name, "lab2");
    assert_string_equal(lab2->accel, "auto");
    assert_string_equal(lab2->uri, "qemu+ssh://cohort@lab2/system");
    assert_string_equal(lab2->pool, "default");
    assert_int_equal(lab2->vcpus, 0);
    assert_int_equal(lab2->memory_mib, 0);
    assert_true(lab2->cpu_ratio == 4.0);
    assert_true(lab2->memory_ratio == 1.0);
    assert_ptr_equal(cohort_config_get_host(config, "lab2"), lab2);

    /* A later file changes one key of a known host and adds a third. */
    assert_true(cohort_config_load_data(config,
                                        "[daemon]\nallow_test_hosts=true\n"
                                        "images_dir=/srv/cohort/images\n"
                                        "web_dir=/srv/cohort/web\n"
                                        "[host:lab1]\nvcpus=32\n"
                                        "[host:lab3]\nuri=test:///default\n",
                                        &error));
    cohort_assert_no_error(error);
    hosts = cohort_config_get_hosts(config);
    assert_int_equal(hosts->len, 3);
    lab1 = cohort_config_get_host(config, "lab1");
    assert_int_equal(lab1->vcpus, 32);
    assert_string_equal(lab1->pool, "cohort");
    assert_string_equal(cohort_config_get_host(config, "lab3")->uri, "test:///default");
    assert_true(config->allow_test_hosts);
    assert_string_equal(config->images_dir, "/srv/cohort/images");
    assert_string_equal(config->web_dir, "/srv/cohort/web");
}

static void
test_config_shipped(void **state)
{
    g_autofree gchar *path = g_build_filename(COHORT_SOURCE_DIR, "data", "cohortd.conf", NULL);
    g_autoptr(CohortConfig) config = cohort_config_new_default();
    g_autoptr(CohortConfig) defaults = cohort_config_new_default();
    g_autoptr(GError) error = NULL;
    g_autofree gchar *text = NULL;
    g_autoptr(GString) uncommented = NULL;
    g_autoptr(CohortConfig) all_keys = NULL;
    g_auto(GStrv) lines = NULL;

    assert_true(cohort_config_load_file(config, path, &error));
    cohort_assert_no_error(error);
    test_config_assert_defaults(config);
    assert_string_equal(config->state_dir, defaults->state_dir);

    /* Every key the example shows, uncommented, is a key this version knows. */
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    uncommented = g_string_new(NULL);
    for (guint i = 0; lines[i] != NULL; i++) {
        const gchar *line = lines[i];
        if (line[0] == '#' && (g_ascii_islower(line[1]) || line[1] == '['))
            line++;
        if (g_str_has_prefix(line, "tls_") || g_str_has_prefix(line, "allow_plain_http"))
            continue; /* checked in test_config_plain_http */
        g_string_append_printf(uncommented, "%s\n", line);
    }
    all_keys = test_config_load(uncommented->str);
    assert_int_equal(cohort_config_get_hosts(all_keys)->len, 2);
    assert_int_equal(cohort_config_get_host(all_keys, "lab2")->vcpus, 32);
}

static void
test_config_missing_file(void **state)
{
    g_autoptr(CohortConfig) config = cohort_config_new_default();
    g_autoptr(GError) error = NULL;

    assert_false(cohort_config_load_file(config, "/nonexistent/cohortd.conf", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    cohort_assert_contains(error->message, "/nonexistent/cohortd.conf");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_partial_override),
        cmocka_unit_test(test_config_bad_values),
        cmocka_unit_test(test_config_plain_http),
        cmocka_unit_test(test_config_hosts),
        cmocka_unit_test(test_config_shipped),
        cmocka_unit_test(test_config_missing_file),
        cmocka_unit_test(test_config_trailing_backslash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
