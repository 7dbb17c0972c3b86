/* libFuzzer target: cohortd's configuration file from untrusted bytes.
 *
 * Invariants: a file that loads leaves every value within the bounds data/cohortd.conf
 * gives; a file that does not load leaves the configuration exactly as it was (and says
 * why, as INVALID_ARGUMENT); loading the same file twice is loading it once. */
#define G_LOG_DOMAIN "fuzz-config"

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "cohort-config.h"
#include "cohort-error.h"
#include "cohort-fuzz.h"
#include "cohort-slug.h"

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
    cohort_fuzz_init();
    /* the default state directory must not depend on who runs the fuzzer */
    g_setenv("STATE_DIRECTORY", "/var/lib/cohort", TRUE);
    return 0;
}

/* Every value, for comparing two configurations. */
static gchar *
fuzz_config_dump(CohortConfig *config)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(
        s, "%s|%u|%s|%s|%d|%s|%s|%s|%u|%u|%u|%u|%u|%u|%u|%u|%u|%u|%" G_GUINT64_FORMAT,
        config->listen, config->port, config->tls_cert, config->tls_key, config->allow_plain_http,
        config->state_dir, config->templates_dir, config->vnc_listen, config->max_body_kib,
        config->workers, config->reaper_interval_s, config->idle_shutdown_s,
        config->idle_cpu_percent, config->stop_timeout_s, config->reconcile_interval_s,
        config->invitation_ttl_hours, config->quota_machines, config->quota_vcpus,
        config->quota_memory_mib);
    for (guint i = 0; i < config->hosts->len; i++) {
        const CohortConfigHost *host = g_ptr_array_index(config->hosts, i);
        g_string_append_printf(s, "\n[%s] %s|%s|%u|%" G_GUINT64_FORMAT "|%a|%a", host->name,
                               host->uri, host->pool, host->vcpus, host->memory_mib,
                               host->cpu_ratio, host->memory_ratio);
    }
    return g_string_free(s, FALSE);
}

static gboolean
fuzz_config_is_address(const gchar *text)
{
    g_autoptr(GInetAddress) address = text != NULL ? g_inet_address_new_from_string(text) : NULL;
    return address != NULL;
}

static void
fuzz_config_check_valid(CohortConfig *config)
{
    COHORT_FUZZ_CHECK(fuzz_config_is_address(config->listen));
    COHORT_FUZZ_CHECK(fuzz_config_is_address(config->vnc_listen));
    COHORT_FUZZ_CHECK(config->port <= 65535);
    COHORT_FUZZ_CHECK((config->tls_cert == NULL) == (config->tls_key == NULL));
    COHORT_FUZZ_CHECK(config->tls_cert == NULL || g_path_is_absolute(config->tls_cert));
    COHORT_FUZZ_CHECK(config->tls_key == NULL || g_path_is_absolute(config->tls_key));
    COHORT_FUZZ_CHECK(g_path_is_absolute(config->state_dir));
    COHORT_FUZZ_CHECK(g_path_is_absolute(config->templates_dir));
    COHORT_FUZZ_CHECK(config->max_body_kib >= 1 && config->max_body_kib <= 1048576);
    COHORT_FUZZ_CHECK(config->workers >= 1 && config->workers <= 64);
    COHORT_FUZZ_CHECK(config->reaper_interval_s >= 1 && config->reaper_interval_s <= 86400);
    COHORT_FUZZ_CHECK(config->reconcile_interval_s >= 1 && config->reconcile_interval_s <= 86400);
    COHORT_FUZZ_CHECK(config->invitation_ttl_hours >= 1 && config->invitation_ttl_hours <= 8760);
    COHORT_FUZZ_CHECK(config->idle_shutdown_s <= 604800);
    COHORT_FUZZ_CHECK(config->idle_cpu_percent <= 100);
    COHORT_FUZZ_CHECK(config->stop_timeout_s >= 1 && config->stop_timeout_s <= 3600);
    COHORT_FUZZ_CHECK(config->quota_machines <= 1000);
    COHORT_FUZZ_CHECK(config->quota_vcpus >= 1 && config->quota_vcpus <= 1024);
    COHORT_FUZZ_CHECK(config->quota_memory_mib >= 64 && config->quota_memory_mib <= 4194304);
    for (guint i = 0; i < config->hosts->len; i++) {
        const CohortConfigHost *host = g_ptr_array_index(config->hosts, i);

        COHORT_FUZZ_CHECK(cohort_slug_validate(host->name, "host name", NULL));
        COHORT_FUZZ_CHECK(cohort_config_get_host(config, host->name) == host);
        COHORT_FUZZ_CHECK(host->uri != NULL && g_uri_is_valid(host->uri, G_URI_FLAGS_NONE, NULL));
        COHORT_FUZZ_CHECK(host->pool != NULL && host->pool[0] != '\0' &&
                          strchr(host->pool, '/') == NULL);
        COHORT_FUZZ_CHECK(host->vcpus <= 65536 && host->memory_mib <= G_MAXUINT32);
        COHORT_FUZZ_CHECK(host->cpu_ratio > 0 && host->cpu_ratio <= 64);
        COHORT_FUZZ_CHECK(host->memory_ratio > 0 && host->memory_ratio <= 16);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(CohortConfig) config = cohort_config_new_default();
    g_autoptr(GError) error = NULL;
    g_autofree gchar *text = g_strndup((const gchar *)data, size); /* a C string, as read */
    g_autofree gchar *before = fuzz_config_dump(config);
    g_autofree gchar *after = NULL;
    g_autofree gchar *again = NULL;

    if (!cohort_config_load_data(config, text, &error)) {
        COHORT_FUZZ_CHECK(error != NULL && error->domain == COHORT_ERROR &&
                          error->code == COHORT_ERROR_INVALID_ARGUMENT);
        after = fuzz_config_dump(config);
        COHORT_FUZZ_CHECK(g_strcmp0(before, after) == 0);
        return 0;
    }
    COHORT_FUZZ_CHECK(error == NULL);
    fuzz_config_check_valid(config);

    after = fuzz_config_dump(config);
    COHORT_FUZZ_CHECK(cohort_config_load_data(config, text, NULL));
    again = fuzz_config_dump(config);
    COHORT_FUZZ_CHECK(g_strcmp0(after, again) == 0);
    return 0;
}
