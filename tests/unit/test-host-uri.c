/* Host URIs: what cohortd takes (nothing that reads its files or runs programs), and when two
 * URIs name one host. */
#define G_LOG_DOMAIN "test-host-uri"

#include "config.h"

#include "cohort-test.h"

#include "cohort-error.h"
#include "cohort-host-uri.h"

#define BUILTIN "test:///usr/share/cohort/lab-host.xml"

typedef struct {
    const gchar *uri;
    gboolean allow_test;
    const gchar *why; /* NULL: taken; else a part of the refusal */
} UriCase;

static void
test_host_uri_check(void **state)
{
    static const UriCase cases[] = {
        /* QEMU, locally and remotely */
        {"qemu:///system", FALSE, NULL},
        {"qemu:///session", FALSE, NULL},
        {"qemu+unix:///system", FALSE, NULL},
        {"qemu+ssh://root@lab2/system", FALSE, NULL},
        {"qemu+ssh://lab2:2222/system?no_tty=1&sshauth=privkey", FALSE, NULL},
        {"qemu+libssh2://lab2/system?known_hosts_verify=auto", FALSE, NULL},
        {"qemu+tls://lab2.example.org/system", FALSE, NULL},
        {"qemu+tcp://10.0.0.2/system", FALSE, NULL},
        {"qemu:///system?mode=legacy", FALSE, NULL},
        {"QEMU+SSH://lab2/system", FALSE, NULL},
        /* the test driver reads the file it names: only where the configuration allows it */
        {"test:///default", TRUE, NULL},
        {"test:///srv/hosts/lab.xml", TRUE, NULL},
        {"test:///default", FALSE, "allow_test_hosts"},
        {"test:///etc/shadow", FALSE, "allow_test_hosts"},
        {BUILTIN, FALSE, NULL},
        {"test:///usr/share/cohort//lab-host.xml", FALSE, NULL},
        {"test+tcp://lab2/default", TRUE, "runs inside cohortd"},
        {"test:///default?x=1", TRUE, "takes none"},
        /* programs, files and sockets of cohortd's machine */
        {"qemu+ext:///system?command=/bin/sh", FALSE, "ext transport"},
        {"qemu+ssh://lab2/system?command=/tmp/evil", FALSE, "command="},
        {"qemu+ssh://lab2/system?netcat=/tmp/evil", FALSE, "netcat="},
        {"qemu+ssh://lab2/system?keyfile=/etc/shadow", FALSE, "keyfile="},
        {"qemu+libssh://lab2/system?known_hosts=/etc/passwd", FALSE, "known_hosts="},
        {"qemu+tls://lab2/system?pkipath=/root", FALSE, "pkipath="},
        {"qemu+unix:///system?socket=/run/docker.sock", FALSE, "socket="},
        {"qemu:///system?authfile=/etc/shadow", FALSE, "authfile="},
        {"qemu+ssh://lab2/system?name=test:///etc/shadow", FALSE, "name="},
        {"qemu+ssh://lab2/system?KeyFile=/etc/shadow", FALSE, "keyfile="},
        {"qemu+ssh://lab2/system?whatever=1", FALSE, "'whatever'"},
        {"qemu:///embed?root=/tmp/x", FALSE, "/embed"},
        {"qemu:///system/../embed", FALSE, "takes /system"},
        /* other drivers, and what is no URI at all */
        {"lxc:///system", FALSE, "driver 'lxc'"},
        {"file:///etc/shadow", FALSE, "driver 'file'"},
        {"qemu+foo://lab2/system", FALSE, "transport 'foo'"},
        {"/etc/shadow", FALSE, "not a libvirt URI"},
        {"lab2", FALSE, "not a libvirt URI"},
        {"", FALSE, "not a libvirt URI"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        gboolean ok = cohort_host_uri_check(cases[i].uri, cases[i].allow_test, BUILTIN, &error);
        if (cases[i].why == NULL) {
            if (!ok)
                fail_msg("%s refused: %s", cases[i].uri, error->message);
            continue;
        }
        if (ok)
            fail_msg("%s taken, but %s", cases[i].uri, cases[i].why);
        cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
        cohort_assert_contains(error->message, cases[i].why);
    }
}

static void
test_host_uri_same(void **state)
{
    static const gchar *const same[][2] = {
        {"qemu:///system", "qemu+unix:///system"},
        {"qemu:///system", "QEMU:///system"},
        {"qemu:///system", "qemu:///system/"},
        {"qemu:///system", "qemu:/system"},
        {"qemu+ssh://lab2/system", "qemu+ssh://LAB2:22/system"},
        {"qemu://lab2/system", "qemu+tls://lab2:16514/system"},
        {"qemu+tcp://lab2:16509/system", "qemu+tcp://lab2/system"},
        {"qemu+ssh://lab2/system?no_tty=1&mode=legacy",
         "qemu+ssh://lab2/system?mode=legacy&no_tty=1"},
        {"test:///default", "test:///default/"},
        {"test:///srv//hosts/lab.xml", "test:///srv/hosts/lab.xml"},
    };
    static const gchar *const different[][2] = {
        {"qemu:///system", "qemu:///session"},
        {"qemu+ssh://lab2/system", "qemu+ssh://lab3/system"},
        {"qemu+ssh://lab2/system", "qemu+ssh://lab2:2222/system"},
        {"qemu+ssh://alice@lab2/session", "qemu+ssh://bob@lab2/session"},
        {"qemu:///system", "qemu:///system?mode=legacy"},
        {"test:///srv/hosts/a.xml", "test:///srv/hosts/b.xml"},
        {"qemu:///system", NULL},
        {NULL, NULL},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(same); i++) {
        if (!cohort_host_uri_same(same[i][0], same[i][1]))
            fail_msg("%s and %s should be one host", same[i][0], same[i][1]);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(different); i++) {
        if (cohort_host_uri_same(different[i][0], different[i][1]))
            fail_msg("%s and %s should be two hosts", different[i][0], different[i][1]);
    }
    {
        g_autofree gchar *norm = cohort_host_uri_normalize("QEMU+SSH://Root@LAB2:22//system/");
        assert_string_equal(norm, "qemu+ssh://Root@lab2/system");
    }
    /* Found by tests/fuzz/fuzz-config: without an authority the host was "" and the path
     * relative, and g_uri_join() failed its assertion (a g_critical(): cohortd aborts under
     * G_DEBUG=fatal-criticals) for a config or POST /api/v1/hosts naming "test:x". */
    {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *norm = cohort_host_uri_normalize("test:::1system");

        assert_string_equal(norm, "test:::1system");
        assert_false(cohort_host_uri_same("test:x", "test:///default"));
        assert_false(cohort_host_uri_check("test:x", FALSE, NULL, &error));
        assert_int_equal(error->code, COHORT_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        assert_false(cohort_host_uri_check("qemu:system", FALSE, NULL, &error));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_uri_check),
        cmocka_unit_test(test_host_uri_same),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
