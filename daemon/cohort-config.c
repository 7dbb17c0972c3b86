#define G_LOG_DOMAIN "cohort-config"

#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cohort-config.h"
#include "cohort-error.h"
#include "cohort-host-uri.h"
#include "cohort-slug.h"
#include "cohort-subnet.h"

#define COHORT_CONFIG_HOST_PREFIX "host:"

typedef enum {
    COHORT_CONFIG_KIND_STRING,  /* any text */
    COHORT_CONFIG_KIND_PATH,    /* absolute path; empty: unset (NULL) where optional */
    COHORT_CONFIG_KIND_ADDRESS, /* IP address */
    COHORT_CONFIG_KIND_UINT,    /* guint */
    COHORT_CONFIG_KIND_UINT64,  /* guint64 */
    COHORT_CONFIG_KIND_BOOLEAN, /* gboolean */
    COHORT_CONFIG_KIND_DOUBLE,  /* gdouble, min < value <= max */
} CohortConfigKind;

/* One key: where it goes (an offset into CohortConfig or CohortConfigHost) and its range. */
typedef struct {
    const gchar *key;
    CohortConfigKind kind;
    gsize offset;
    guint64 min;
    guint64 max;
    gboolean optional; /* a path that may be unset */
} CohortConfigKey;

#define COHORT_CONFIG_DAEMON(field) offsetof(CohortConfig, field)
#define COHORT_CONFIG_HOST(field) offsetof(CohortConfigHost, field)

static const CohortConfigKey cohort_config_daemon_keys[] = {
    {"listen", COHORT_CONFIG_KIND_ADDRESS, COHORT_CONFIG_DAEMON(listen)},
    {"port", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(port), 0, 65535},
    {"tls_cert", COHORT_CONFIG_KIND_PATH, COHORT_CONFIG_DAEMON(tls_cert), 0, 0, TRUE},
    {"tls_key", COHORT_CONFIG_KIND_PATH, COHORT_CONFIG_DAEMON(tls_key), 0, 0, TRUE},
    {"allow_plain_http", COHORT_CONFIG_KIND_BOOLEAN, COHORT_CONFIG_DAEMON(allow_plain_http)},
    {"state_dir", COHORT_CONFIG_KIND_PATH, COHORT_CONFIG_DAEMON(state_dir)},
    {"templates_dir", COHORT_CONFIG_KIND_PATH, COHORT_CONFIG_DAEMON(templates_dir)},
    {"images_dir", COHORT_CONFIG_KIND_PATH, COHORT_CONFIG_DAEMON(images_dir)},
    {"web_dir", COHORT_CONFIG_KIND_PATH, COHORT_CONFIG_DAEMON(web_dir)},
    {"allow_test_hosts", COHORT_CONFIG_KIND_BOOLEAN, COHORT_CONFIG_DAEMON(allow_test_hosts)},
    {"vnc_listen", COHORT_CONFIG_KIND_ADDRESS, COHORT_CONFIG_DAEMON(vnc_listen)},
    {"max_body_kib", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(max_body_kib), 1, 1048576},
    {"request_timeout_s", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(request_timeout_s), 1,
     3600},
    {"max_connections_per_client", COHORT_CONFIG_KIND_UINT,
     COHORT_CONFIG_DAEMON(max_connections_per_client), 1, 65536},
    {"auth_failures_per_minute", COHORT_CONFIG_KIND_UINT,
     COHORT_CONFIG_DAEMON(auth_failures_per_minute), 1, 100000},
    {"workers", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(workers), 1, 64},
    {"reaper_interval_s", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(reaper_interval_s), 1,
     86400},
    {"reconcile_interval_s", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(reconcile_interval_s), 1,
     86400},
    {"invitation_ttl_hours", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(invitation_ttl_hours), 1,
     8760},
    {"idle_shutdown_s", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(idle_shutdown_s), 0, 604800},
    {"idle_cpu_percent", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(idle_cpu_percent), 0, 100},
    {"stop_timeout_s", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(stop_timeout_s), 1, 3600},
    {"placement", COHORT_CONFIG_KIND_STRING, COHORT_CONFIG_DAEMON(placement)},
};

static const CohortConfigKey cohort_config_quota_keys[] = {
    {"machines", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(quota_machines), 0, 1000},
    {"vcpus", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(quota_vcpus), 1, 1024},
    {"memory_mib", COHORT_CONFIG_KIND_UINT64, COHORT_CONFIG_DAEMON(quota_memory_mib), 64, 4194304},
};

/* Ratios: max is the upper bound, the lower bound is "more than 0". */
static const CohortConfigKey cohort_config_host_keys[] = {
    {"uri", COHORT_CONFIG_KIND_STRING, COHORT_CONFIG_HOST(uri)},
    {"pool", COHORT_CONFIG_KIND_STRING, COHORT_CONFIG_HOST(pool)},
    {"vcpus", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_HOST(vcpus), 0, 65536},
    {"memory_mib", COHORT_CONFIG_KIND_UINT64, COHORT_CONFIG_HOST(memory_mib), 0, G_MAXUINT32},
    {"cpu_ratio", COHORT_CONFIG_KIND_DOUBLE, COHORT_CONFIG_HOST(cpu_ratio), 0, 64},
    {"memory_ratio", COHORT_CONFIG_KIND_DOUBLE, COHORT_CONFIG_HOST(memory_ratio), 0, 16},
    {"disk_ratio", COHORT_CONFIG_KIND_DOUBLE, COHORT_CONFIG_HOST(disk_ratio), 0, 100},
    {"accel", COHORT_CONFIG_KIND_STRING, COHORT_CONFIG_HOST(accel)},
};

static const CohortConfigKey cohort_config_networks_keys[] = {
    {"range", COHORT_CONFIG_KIND_STRING, COHORT_CONFIG_DAEMON(networks_range)},
    {"prefix", COHORT_CONFIG_KIND_UINT, COHORT_CONFIG_DAEMON(networks_prefix), 8, 29},
};

static void
cohort_config_host_free(CohortConfigHost *host)
{
    g_free(host->name);
    g_free(host->uri);
    g_free(host->pool);
    g_free(host->accel);
    g_free(host);
}

static CohortConfigHost *
cohort_config_host_new(const gchar *name)
{
    CohortConfigHost *host = g_new0(CohortConfigHost, 1);

    host->name = g_strdup(name);
    host->pool = g_strdup(COHORT_CONFIG_DEFAULT_POOL);
    host->cpu_ratio = 4.0;
    host->memory_ratio = 1.0;
    host->disk_ratio = 1.0;
    host->accel = g_strdup("auto");
    return host;
}

static CohortConfigHost *
cohort_config_host_copy(const CohortConfigHost *host)
{
    CohortConfigHost *copy = g_memdup2(host, sizeof(*host));

    copy->name = g_strdup(host->name);
    copy->uri = g_strdup(host->uri);
    copy->pool = g_strdup(host->pool);
    copy->accel = g_strdup(host->accel);
    return copy;
}

/* Only the strings owned by the struct; the struct itself is the caller's. */
static void
cohort_config_clear(CohortConfig *self)
{
    g_free(self->listen);
    g_free(self->tls_cert);
    g_free(self->tls_key);
    g_free(self->state_dir);
    g_free(self->templates_dir);
    g_free(self->images_dir);
    g_free(self->web_dir);
    g_free(self->vnc_listen);
    g_free(self->placement);
    g_free(self->networks_range);
    g_clear_pointer(&self->hosts, g_ptr_array_unref);
}

void
cohort_config_free(CohortConfig *self)
{
    if (self == NULL)
        return;
    cohort_config_clear(self);
    g_free(self);
}

static gchar *
cohort_config_default_state_dir(void)
{
    const gchar *systemd = g_getenv("STATE_DIRECTORY");

    /* systemd's StateDirectory=: a colon-separated list, ours first. */
    if (systemd != NULL && g_path_is_absolute(systemd))
        return g_strndup(systemd, strcspn(systemd, ":"));
    if (geteuid() == 0)
        return g_strdup("/var/lib/cohort");
    return g_build_filename(g_get_user_state_dir(), "cohort", NULL);
}

/* The installed page, or the source tree's for a build that is not installed. */
static gchar *
cohort_config_default_web_dir(void)
{
    if (g_file_test(COHORT_WEBDIR, G_FILE_TEST_IS_DIR))
        return g_strdup(COHORT_WEBDIR);
    return g_strdup(COHORT_SOURCE_WEBDIR);
}

CohortConfig *
cohort_config_new_default(void)
{
    CohortConfig *self = g_new0(CohortConfig, 1);

    self->listen = g_strdup(COHORT_CONFIG_DEFAULT_LISTEN);
    self->port = COHORT_CONFIG_DEFAULT_PORT;
    self->state_dir = cohort_config_default_state_dir();
    self->templates_dir = g_strdup(COHORT_TEMPLATESDIR);
    self->images_dir = g_strdup(COHORT_CONFIG_DEFAULT_IMAGES_DIR);
    self->web_dir = cohort_config_default_web_dir();
    self->vnc_listen = g_strdup("127.0.0.1");
    self->max_body_kib = 1024;
    self->request_timeout_s = 30;
    self->max_connections_per_client = 256;
    self->auth_failures_per_minute = 30;
    self->workers = 8;
    self->reaper_interval_s = 60;
    self->idle_shutdown_s = 0;
    self->idle_cpu_percent = 2;
    self->stop_timeout_s = 60;
    self->reconcile_interval_s = 300;
    self->invitation_ttl_hours = 168;
    self->quota_machines = 1;
    self->quota_vcpus = 2;
    self->quota_memory_mib = 2048;
    self->placement = g_strdup("spread");
    self->networks_range = g_strdup(COHORT_CONFIG_DEFAULT_NETWORKS_RANGE);
    self->networks_prefix = COHORT_CONFIG_DEFAULT_NETWORKS_PREFIX;
    self->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_config_host_free);
    return self;
}

static CohortConfig *
cohort_config_copy(const CohortConfig *self)
{
    CohortConfig *copy = g_memdup2(self, sizeof(*self));

    copy->listen = g_strdup(self->listen);
    copy->tls_cert = g_strdup(self->tls_cert);
    copy->tls_key = g_strdup(self->tls_key);
    copy->state_dir = g_strdup(self->state_dir);
    copy->templates_dir = g_strdup(self->templates_dir);
    copy->images_dir = g_strdup(self->images_dir);
    copy->web_dir = g_strdup(self->web_dir);
    copy->vnc_listen = g_strdup(self->vnc_listen);
    copy->placement = g_strdup(self->placement);
    copy->networks_range = g_strdup(self->networks_range);
    copy->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_config_host_free);
    for (guint i = 0; i < self->hosts->len; i++)
        g_ptr_array_add(copy->hosts, cohort_config_host_copy(g_ptr_array_index(self->hosts, i)));
    return copy;
}

GPtrArray *
cohort_config_get_hosts(CohortConfig *self)
{
    g_return_val_if_fail(self != NULL, NULL);
    return self->hosts;
}

const CohortConfigHost *
cohort_config_get_host(CohortConfig *self, const gchar *name)
{
    g_return_val_if_fail(self != NULL, NULL);
    g_return_val_if_fail(name != NULL, NULL);
    for (guint i = 0; i < self->hosts->len; i++) {
        CohortConfigHost *host = g_ptr_array_index(self->hosts, i);
        if (g_strcmp0(host->name, name) == 0)
            return host;
    }
    return NULL;
}

gboolean
cohort_config_has_tls(CohortConfig *self)
{
    g_return_val_if_fail(self != NULL, FALSE);
    return self->tls_cert != NULL && self->tls_key != NULL;
}

static gboolean cohort_config_bad_value(GError **error, const gchar *group, const gchar *key,
                                        const gchar *value, const gchar *format, ...)
    G_GNUC_PRINTF(5, 6);

/* "[group] key: 'value' <what is wrong>" */
static gboolean
cohort_config_bad_value(GError **error, const gchar *group, const gchar *key, const gchar *value,
                        const gchar *format, ...)
{
    g_autofree gchar *shown = g_strescape(value != NULL ? value : "", NULL);
    g_autofree gchar *what = NULL;
    va_list args;

    va_start(args, format);
    what = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "[%s] %s: '%s' %s", group, key,
                shown, what);
    return FALSE;
}

static gboolean
cohort_config_is_address(const gchar *text)
{
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string(text);
    return address != NULL;
}

static gboolean
cohort_config_is_loopback(const gchar *text)
{
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string(text);
    return address != NULL && g_inet_address_get_is_loopback(address);
}

/* Reads one key of @group into the struct at @base. */
static gboolean
cohort_config_read_key(GKeyFile *keyfile, const gchar *group, const CohortConfigKey *spec,
                       gpointer base, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autofree gchar *raw = g_key_file_get_value(keyfile, group, spec->key, NULL);
    g_autofree gchar *value = NULL;
    gpointer field = (guint8 *)base + spec->offset;
    gsize backslashes = 0;

    /* GLib 2.74 sets its GError twice (and prints a warning that blames us) for a value with
     * a bad escape and a lone backslash at its end: refuse the lone backslash first. */
    for (gsize len = raw != NULL ? strlen(raw) : 0; len > 0 && raw[len - 1] == '\\'; len--)
        backslashes++;
    if (backslashes % 2 == 1)
        return cohort_config_bad_value(error, group, spec->key, raw,
                                       "ends with a lone backslash: write \\\\ for a backslash");
    /* On a bad escape GLib returns the value as well as the error: the error decides. */
    value = g_key_file_get_string(keyfile, group, spec->key, &local_error);
    if (local_error != NULL)
        return cohort_config_bad_value(error, group, spec->key, raw,
                                       "cannot be read: %s (write \\\\ for a backslash)",
                                       local_error->message);
    g_strstrip(value);

    switch (spec->kind) {
    case COHORT_CONFIG_KIND_STRING:
        if (value[0] == '\0')
            return cohort_config_bad_value(error, group, spec->key, value, "is empty");
        g_free(*(gchar **)field);
        *(gchar **)field = g_steal_pointer(&value);
        return TRUE;
    case COHORT_CONFIG_KIND_PATH:
        if (value[0] == '\0' && spec->optional) {
            g_clear_pointer((gchar **)field, g_free);
            return TRUE;
        }
        if (!g_path_is_absolute(value))
            return cohort_config_bad_value(error, group, spec->key, value,
                                           "is not an absolute path");
        g_free(*(gchar **)field);
        *(gchar **)field = g_steal_pointer(&value);
        return TRUE;
    case COHORT_CONFIG_KIND_ADDRESS:
        if (!cohort_config_is_address(value))
            return cohort_config_bad_value(error, group, spec->key, value,
                                           "is not an IP address (like 127.0.0.1, ::1 or "
                                           "0.0.0.0); host names are not accepted here");
        g_free(*(gchar **)field);
        *(gchar **)field = g_steal_pointer(&value);
        return TRUE;
    case COHORT_CONFIG_KIND_UINT:
    case COHORT_CONFIG_KIND_UINT64: {
        guint64 number = 0;

        if (!g_ascii_string_to_unsigned(value, 10, spec->min, spec->max, &number, NULL))
            return cohort_config_bad_value(error, group, spec->key, value,
                                           "is not a whole number from %" G_GUINT64_FORMAT
                                           " to %" G_GUINT64_FORMAT,
                                           spec->min, spec->max);
        if (spec->kind == COHORT_CONFIG_KIND_UINT)
            *(guint *)field = (guint)number;
        else
            *(guint64 *)field = number;
        return TRUE;
    }
    case COHORT_CONFIG_KIND_BOOLEAN:
        if (g_strcmp0(value, "true") == 0 || g_strcmp0(value, "1") == 0) {
            *(gboolean *)field = TRUE;
            return TRUE;
        }
        if (g_strcmp0(value, "false") == 0 || g_strcmp0(value, "0") == 0) {
            *(gboolean *)field = FALSE;
            return TRUE;
        }
        return cohort_config_bad_value(error, group, spec->key, value,
                                       "is not a boolean: write true or false");
    case COHORT_CONFIG_KIND_DOUBLE: {
        gchar *end = NULL;
        gdouble number = g_ascii_strtod(value, &end);

        if (value[0] == '\0' || *end != '\0' || !isfinite(number) || number <= 0.0 ||
            number > (gdouble)spec->max)
            return cohort_config_bad_value(
                error, group, spec->key, value,
                "is not a number above 0 and at most %" G_GUINT64_FORMAT " (like 1.5)", spec->max);
        *(gdouble *)field = number;
        return TRUE;
    }
    }
    g_assert_not_reached();
}

static gboolean
cohort_config_read_group(GKeyFile *keyfile, const gchar *group, const CohortConfigKey *specs,
                         gsize n_specs, gpointer base, GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(keyfile, group, NULL, NULL);

    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
        const CohortConfigKey *spec = NULL;

        for (gsize s = 0; s < n_specs && spec == NULL; s++) {
            if (g_strcmp0(keys[i], specs[s].key) == 0)
                spec = &specs[s];
        }
        if (spec == NULL) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "[%s] %s: unknown key (misspelt? the example cohortd.conf lists every key)",
                        group, keys[i]);
            return FALSE;
        }
        if (!cohort_config_read_key(keyfile, group, spec, base, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
cohort_config_read_host(CohortConfig *next, GKeyFile *keyfile, const gchar *group, GError **error)
{
    const gchar *name = group + strlen(COHORT_CONFIG_HOST_PREFIX);
    g_autoptr(GError) slug_error = NULL;
    CohortConfigHost *host;

    if (!cohort_slug_validate(name, "host name", &slug_error)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "[%s]: %s", group,
                    slug_error->message);
        return FALSE;
    }
    host = (CohortConfigHost *)cohort_config_get_host(next, name);
    if (host == NULL) {
        host = cohort_config_host_new(name);
        g_ptr_array_add(next->hosts, host);
    }
    return cohort_config_read_group(keyfile, group, cohort_config_host_keys,
                                    G_N_ELEMENTS(cohort_config_host_keys), host, error);
}

static gboolean
cohort_config_validate_host(CohortConfig *self, const CohortConfigHost *host, GError **error)
{
    g_autofree gchar *group = g_strconcat(COHORT_CONFIG_HOST_PREFIX, host->name, NULL);
    g_autoptr(GError) uri_error = NULL;

    if (host->uri == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "[%s] uri: missing; give the host's libvirt URI, like "
                    "uri=qemu+ssh://%s/system",
                    group, host->name);
        return FALSE;
    }
    if (!g_uri_is_valid(host->uri, G_URI_FLAGS_NONE, NULL))
        return cohort_config_bad_value(error, group, "uri", host->uri,
                                       "is not a libvirt URI (like qemu:///system or "
                                       "qemu+ssh://%s/system)",
                                       host->name);
    if (!cohort_host_uri_check(host->uri, self->allow_test_hosts, NULL, &uri_error))
        return cohort_config_bad_value(error, group, "uri", host->uri, "%s", uri_error->message);
    if (g_strcmp0(host->accel, "auto") != 0 && g_strcmp0(host->accel, "kvm") != 0 &&
        g_strcmp0(host->accel, "tcg") != 0)
        return cohort_config_bad_value(error, group, "accel", host->accel,
                                       "is none of auto (kvm where the host offers it, else tcg), "
                                       "kvm or tcg");
    if (strchr(host->pool, '/') != NULL)
        return cohort_config_bad_value(error, group, "pool", host->pool,
                                       "is not a storage pool name (virsh pool-list shows them)");
    /* one libvirt host, two entries: reconcile of one would take the other's machines for
     * orphans */
    for (guint i = 0; i < self->hosts->len; i++) {
        const CohortConfigHost *other = g_ptr_array_index(self->hosts, i);
        if (other == host)
            break;
        if (cohort_host_uri_same(other->uri, host->uri))
            return cohort_config_bad_value(error, group, "uri", host->uri,
                                           "is the host of [%s%s] already (uri=%s): one libvirt "
                                           "host is registered once; remove one of the groups",
                                           COHORT_CONFIG_HOST_PREFIX, other->name, other->uri);
    }
    return TRUE;
}

static gboolean
cohort_config_validate(CohortConfig *self, GError **error)
{
    if ((self->tls_cert == NULL) != (self->tls_key == NULL)) {
        const gchar *set = self->tls_cert != NULL ? "tls_cert" : "tls_key";
        const gchar *unset = self->tls_cert != NULL ? "tls_key" : "tls_cert";

        return cohort_config_bad_value(
            error, "daemon", set, self->tls_cert != NULL ? self->tls_cert : self->tls_key,
            "is set but [daemon] %s is not: set both (TLS) or neither", unset);
    }
    if (!cohort_config_has_tls(self) && !self->allow_plain_http &&
        !cohort_config_is_loopback(self->listen))
        return cohort_config_bad_value(
            error, "daemon", "listen", self->listen,
            "is not a loopback address and TLS is off: API tokens would cross the network in "
            "clear text. Set [daemon] tls_cert and tls_key, or [daemon] allow_plain_http=true "
            "when a TLS proxy is in front");
    if (g_strcmp0(self->placement, "spread") != 0 && g_strcmp0(self->placement, "pack") != 0)
        return cohort_config_bad_value(error, "daemon", "placement", self->placement,
                                       "is neither spread (the least used host first) nor pack "
                                       "(fill a host before the next)");
    {
        g_autoptr(GError) range_error = NULL;
        CohortSubnet range;
        if (!cohort_subnet_parse(self->networks_range, FALSE, &range, &range_error))
            return cohort_config_bad_value(error, "networks", "range", self->networks_range, "%s",
                                           range_error->message);
        if (range.prefix > self->networks_prefix) {
            g_autofree gchar *prefix = g_strdup_printf("%u", self->networks_prefix);
            return cohort_config_bad_value(error, "networks", "prefix", prefix,
                                           "is shorter than [networks] range=%s: a cohort "
                                           "network cannot be larger than the whole plan",
                                           self->networks_range);
        }
    }
    for (guint i = 0; i < self->hosts->len; i++) {
        if (!cohort_config_validate_host(self, g_ptr_array_index(self->hosts, i), error))
            return FALSE;
    }
    return TRUE;
}

static void
cohort_config_log(CohortConfig *self)
{
    g_debug("[daemon] listen=%s port=%u tls=%s allow_plain_http=%s", self->listen, self->port,
            cohort_config_has_tls(self) ? self->tls_cert : "off",
            self->allow_plain_http ? "true" : "false");
    g_debug("[daemon] state_dir=%s templates_dir=%s images_dir=%s web_dir=%s vnc_listen=%s "
            "allow_test_hosts=%s",
            self->state_dir, self->templates_dir, self->images_dir, self->web_dir, self->vnc_listen,
            self->allow_test_hosts ? "true" : "false");
    g_debug("[daemon] request_timeout_s=%u max_connections_per_client=%u "
            "auth_failures_per_minute=%u",
            self->request_timeout_s, self->max_connections_per_client,
            self->auth_failures_per_minute);
    g_debug("[daemon] max_body_kib=%u workers=%u reaper_interval_s=%u reconcile_interval_s=%u "
            "invitation_ttl_hours=%u placement=%s",
            self->max_body_kib, self->workers, self->reaper_interval_s, self->reconcile_interval_s,
            self->invitation_ttl_hours, self->placement);
    g_debug("[networks] range=%s prefix=%u", self->networks_range, self->networks_prefix);
    g_debug("[quota] machines=%u vcpus=%u memory_mib=%" G_GUINT64_FORMAT, self->quota_machines,
            self->quota_vcpus, self->quota_memory_mib);
    for (guint i = 0; i < self->hosts->len; i++) {
        const CohortConfigHost *host = g_ptr_array_index(self->hosts, i);

        g_debug("[host:%s] uri=%s pool=%s vcpus=%u memory_mib=%" G_GUINT64_FORMAT
                " cpu_ratio=%g memory_ratio=%g disk_ratio=%g accel=%s",
                host->name, host->uri, host->pool, host->vcpus, host->memory_mib, host->cpu_ratio,
                host->memory_ratio, host->disk_ratio, host->accel);
    }
    if (self->hosts->len == 0)
        g_debug("no [host:NAME] group");
}

/* Everything lands in a copy first: @self changes only when the whole result is valid. */
static gboolean
cohort_config_apply(CohortConfig *self, GKeyFile *keyfile, GError **error)
{
    g_autoptr(CohortConfig) next = cohort_config_copy(self);
    g_auto(GStrv) groups = g_key_file_get_groups(keyfile, NULL);
    CohortConfig old;

    for (guint i = 0; groups[i] != NULL; i++) {
        gboolean ok;

        if (g_strcmp0(groups[i], "daemon") == 0)
            ok = cohort_config_read_group(keyfile, groups[i], cohort_config_daemon_keys,
                                          G_N_ELEMENTS(cohort_config_daemon_keys), next, error);
        else if (g_strcmp0(groups[i], "quota") == 0)
            ok = cohort_config_read_group(keyfile, groups[i], cohort_config_quota_keys,
                                          G_N_ELEMENTS(cohort_config_quota_keys), next, error);
        else if (g_strcmp0(groups[i], "networks") == 0)
            ok = cohort_config_read_group(keyfile, groups[i], cohort_config_networks_keys,
                                          G_N_ELEMENTS(cohort_config_networks_keys), next, error);
        else if (g_str_has_prefix(groups[i], COHORT_CONFIG_HOST_PREFIX))
            ok = cohort_config_read_host(next, keyfile, groups[i], error);
        else {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "[%s]: unknown group; the groups are [daemon], [quota], [networks] "
                        "and [host:NAME]",
                        groups[i]);
            ok = FALSE;
        }
        if (!ok)
            return FALSE;
    }
    if (!cohort_config_validate(next, error))
        return FALSE;

    /* Swap the contents: @self keeps its address, @next takes the old values away. */
    old = *self;
    *self = *next;
    *next = old;
    cohort_config_log(self);
    return TRUE;
}

gboolean
cohort_config_load_data(CohortConfig *self, const gchar *data, GError **error)
{
    g_autoptr(GKeyFile) keyfile = g_key_file_new();
    g_autoptr(GError) local_error = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(data != NULL, FALSE);

    if (!g_key_file_load_from_data(keyfile, data, (gsize)-1, G_KEY_FILE_NONE, &local_error)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "not a key file (\"[group]\" lines, then \"key=value\" lines): %s",
                    local_error->message);
        return FALSE;
    }
    return cohort_config_apply(self, keyfile, error);
}

gboolean
cohort_config_load_file(CohortConfig *self, const gchar *path, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autofree gchar *data = NULL;

    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(path != NULL, FALSE);

    if (!g_file_get_contents(path, &data, NULL, &local_error)) {
        g_set_error(error, COHORT_ERROR,
                    g_error_matches(local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                        ? COHORT_ERROR_NOT_FOUND
                        : COHORT_ERROR_INTERNAL,
                    "reading the configuration: %s", local_error->message);
        return FALSE;
    }
    if (!cohort_config_load_data(self, data, error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    g_debug("configuration loaded from %s", path);
    return TRUE;
}
