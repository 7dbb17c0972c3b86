#define G_LOG_DOMAIN "cohort-host-uri"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-host-uri.h"

#define COHORT_HOST_URI_EXAMPLES "qemu:///system, qemu+ssh://HOST/system or qemu+tls://HOST/system"

/* What a parameter of libvirt's remote driver does, when cohortd refuses it. */
typedef struct {
    const gchar *name;
    const gchar *why; /* NULL: taken */
} CohortHostUriParam;

static const CohortHostUriParam cohort_host_uri_params[] = {
    /* how to connect: taken */
    {"mode", NULL},
    {"proxy", NULL},
    {"no_tty", NULL},
    {"no_verify", NULL},
    {"sshauth", NULL},
    {"tls_priority", NULL},
    {"known_hosts_verify", NULL},
    /* programs, files and sockets of cohortd's machine: refused */
    {"command", "names a program for libvirt to run on cohortd's machine; leave it out (SSH "
                "settings go in the cohortd user's ~/.ssh/config)"},
    {"netcat", "names a program for libvirt to run; leave it out (libvirt finds its own)"},
    {"keyfile", "names a file on cohortd's machine; leave it out (SSH keys go in the cohortd "
                "user's ~/.ssh)"},
    {"known_hosts", "names a file on cohortd's machine, which libvirt would write to; leave it "
                    "out (the cohortd user's ~/.ssh/known_hosts is used)"},
    {"pkipath", "names a directory on cohortd's machine; leave it out (TLS certificates go "
                "where libvirt looks by default: /etc/pki/CA and /etc/pki/libvirt)"},
    {"authfile", "names a file on cohortd's machine; leave it out"},
    {"socket", "names a socket on cohortd's machine; leave it out (libvirt finds its own)"},
    {"name", "makes libvirt open another URI on the far side; leave it out"},
};

static const gchar *const cohort_host_uri_transports[] = {"unix",    "ssh", "libssh",
                                                          "libssh2", "tls", "tcp"};

static gboolean cohort_host_uri_refuse(GError **error, const gchar *format, ...)
    G_GNUC_PRINTF(2, 3);

static gboolean
cohort_host_uri_refuse(GError **error, const gchar *format, ...)
{
    g_autofree gchar *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, message);
    return FALSE;
}

static GUri *
cohort_host_uri_parse(const gchar *uri)
{
    /* encoded: parameters are decoded one by one, by g_uri_parse_params() */
    return uri != NULL ? g_uri_parse(uri, G_URI_FLAGS_ENCODED, NULL) : NULL;
}

/* The scheme's driver ("qemu") and transport ("ssh", or NULL), lower case. */
static void
cohort_host_uri_split_scheme(GUri *parsed, gchar **driver, gchar **transport)
{
    g_autofree gchar *scheme = g_ascii_strdown(g_uri_get_scheme(parsed), -1);
    gchar *plus = strchr(scheme, '+');

    *transport = plus != NULL ? g_strdup(plus + 1) : NULL;
    if (plus != NULL)
        *plus = '\0';
    *driver = g_steal_pointer(&scheme);
}

static GHashTable *
cohort_host_uri_params_of(GUri *parsed)
{
    const gchar *query = g_uri_get_query(parsed);

    if (query == NULL || query[0] == '\0')
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL);
}

static gboolean
cohort_host_uri_check_params(GUri *parsed, GError **error)
{
    g_autoptr(GHashTable) params = cohort_host_uri_params_of(parsed);
    GHashTableIter iter;
    gpointer key;

    if (params == NULL)
        return cohort_host_uri_refuse(error, "has parameters that cannot be read (name=value, "
                                             "joined by &)");
    g_hash_table_iter_init(&iter, params);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        const CohortHostUriParam *param = NULL;
        for (gsize i = 0; i < G_N_ELEMENTS(cohort_host_uri_params) && param == NULL; i++) {
            if (g_ascii_strcasecmp(key, cohort_host_uri_params[i].name) == 0)
                param = &cohort_host_uri_params[i];
        }
        if (param == NULL)
            return cohort_host_uri_refuse(
                error,
                "has parameter '%s', which cohortd does not take in a host URI (it takes mode, "
                "proxy, no_tty, no_verify, sshauth, tls_priority and known_hosts_verify)",
                (const gchar *)key);
        if (param->why != NULL)
            return cohort_host_uri_refuse(error, "has parameter %s=, which %s", param->name,
                                          param->why);
    }
    return TRUE;
}

gboolean
cohort_host_uri_check(const gchar *uri, gboolean allow_test, const gchar *builtin_test,
                      GError **error)
{
    g_autoptr(GUri) parsed = cohort_host_uri_parse(uri);
    g_autofree gchar *driver = NULL;
    g_autofree gchar *transport = NULL;
    const gchar *host;
    const gchar *path;
    gboolean known_transport = FALSE;

    if (parsed == NULL)
        return cohort_host_uri_refuse(error,
                                      "is not a libvirt URI (like " COHORT_HOST_URI_EXAMPLES ")");
    cohort_host_uri_split_scheme(parsed, &driver, &transport);
    host = g_uri_get_host(parsed);
    path = g_uri_get_path(parsed);

    if (g_strcmp0(driver, "test") == 0) {
        if (transport != NULL || (host != NULL && host[0] != '\0'))
            return cohort_host_uri_refuse(error, "names libvirt's test driver on another "
                                                 "machine; the test driver runs inside "
                                                 "cohortd: test:///FILE or test:///default");
        if (g_uri_get_query(parsed) != NULL)
            return cohort_host_uri_refuse(error, "gives the test driver parameters; it takes "
                                                 "none");
        if (!allow_test && !cohort_host_uri_same(uri, builtin_test))
            return cohort_host_uri_refuse(
                error, "is libvirt's test driver, which reads the file the URI names on "
                       "cohortd's machine: cohortd takes test:/// hosts only where "
                       "[daemon] allow_test_hosts=true (tests and demos)");
        return TRUE;
    }
    if (g_strcmp0(driver, "qemu") != 0)
        return cohort_host_uri_refuse(error,
                                      "names driver '%s', which cohortd does not drive (its "
                                      "templates are QEMU domains): use " COHORT_HOST_URI_EXAMPLES,
                                      driver);
    if (g_strcmp0(transport, "ext") == 0)
        return cohort_host_uri_refuse(error,
                                      "uses libvirt's ext transport, which runs the program its "
                                      "command= names on cohortd's machine: use ssh, tls or tcp");
    for (gsize i = 0; transport != NULL && i < G_N_ELEMENTS(cohort_host_uri_transports); i++)
        known_transport |= g_strcmp0(transport, cohort_host_uri_transports[i]) == 0;
    if (transport != NULL && !known_transport)
        return cohort_host_uri_refuse(error,
                                      "uses transport '%s'; cohortd takes unix, ssh, libssh, "
                                      "libssh2, tls and tcp",
                                      transport);
    if (g_strcmp0(path, "/system") != 0 && g_strcmp0(path, "/session") != 0)
        return cohort_host_uri_refuse(error,
                                      "asks the QEMU driver for '%s'; cohortd takes /system (or "
                                      "/session): like " COHORT_HOST_URI_EXAMPLES,
                                      path);
    return cohort_host_uri_check_params(parsed, error);
}

static gint
cohort_host_uri_strcmp(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

gchar *
cohort_host_uri_normalize(const gchar *uri)
{
    g_autoptr(GUri) parsed = cohort_host_uri_parse(uri);
    g_autofree gchar *driver = NULL;
    g_autofree gchar *transport = NULL;
    g_autofree gchar *host = NULL;
    g_autofree gchar *scheme = NULL;
    g_autofree gchar *query = NULL;
    g_autoptr(GString) path = NULL;
    g_autoptr(GHashTable) params = NULL;
    gint port;

    if (parsed == NULL)
        return NULL;
    cohort_host_uri_split_scheme(parsed, &driver, &transport);
    /* "qemu:/system" is "qemu:///system"; but a relative path ("test:x") has no authority to
     * join, and g_uri_join() refuses it with a host, even "" (a g_critical()) */
    if (g_uri_get_host(parsed) != NULL)
        host = g_ascii_strdown(g_uri_get_host(parsed), -1);
    else if (g_uri_get_path(parsed)[0] == '\0' || g_uri_get_path(parsed)[0] == '/')
        host = g_strdup("");
    port = g_uri_get_port(parsed);
    /* libvirt's own defaults: the local socket without a host, TLS with one */
    if (g_strcmp0(transport, "unix") == 0 && (host == NULL || host[0] == '\0'))
        g_clear_pointer(&transport, g_free);
    if (transport == NULL && host != NULL && host[0] != '\0' && g_strcmp0(driver, "test") != 0)
        transport = g_strdup("tls");
    if ((port == 22 && (g_strcmp0(transport, "ssh") == 0 || g_strcmp0(transport, "libssh") == 0 ||
                        g_strcmp0(transport, "libssh2") == 0)) ||
        (port == 16514 && g_strcmp0(transport, "tls") == 0) ||
        (port == 16509 && g_strcmp0(transport, "tcp") == 0))
        port = -1;
    scheme = transport != NULL ? g_strconcat(driver, "+", transport, NULL) : g_strdup(driver);

    path = g_string_new(NULL);
    for (const gchar *p = g_uri_get_path(parsed); *p != '\0'; p++) {
        if (*p == '/' && path->len > 0 && path->str[path->len - 1] == '/')
            continue;
        g_string_append_c(path, *p);
    }
    if (path->len > 1 && path->str[path->len - 1] == '/')
        g_string_truncate(path, path->len - 1);

    params = cohort_host_uri_params_of(parsed);
    if (params != NULL && g_hash_table_size(params) > 0) {
        g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter iter;
        gpointer key;
        gpointer value;
        g_hash_table_iter_init(&iter, params);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            g_autofree gchar *k = g_uri_escape_string(key, NULL, FALSE);
            g_autofree gchar *v = g_uri_escape_string(value, NULL, FALSE);
            g_ptr_array_add(pairs, g_strconcat(k, "=", v, NULL));
        }
        g_ptr_array_sort(pairs, cohort_host_uri_strcmp);
        g_ptr_array_add(pairs, NULL);
        query = g_strjoinv("&", (gchar **)pairs->pdata);
    }
    return g_uri_join(G_URI_FLAGS_ENCODED, scheme, g_uri_get_userinfo(parsed), host, port,
                      path->str, query, NULL);
}

gboolean
cohort_host_uri_same(const gchar *a, const gchar *b)
{
    g_autofree gchar *na = cohort_host_uri_normalize(a);
    g_autofree gchar *nb = cohort_host_uri_normalize(b);

    return na != NULL && nb != NULL && strcmp(na, nb) == 0;
}
