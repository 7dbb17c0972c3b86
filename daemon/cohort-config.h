/* cohortd's configuration: compiled-in defaults, then key files (each overrides only what it
 * names), then validation, then the effective values at debug level (STYLE.md §6).
 *
 * Groups: [daemon], [quota] (the defaults of a new cohort), [networks] (the address plan of
 * cohorts' own networks) and one [host:NAME] per
 * hypervisor host, NAME a slug. data/cohortd.conf documents every key. A key or group this
 * version does not know is an error, so that a misspelt security setting is never ignored. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define COHORT_CONFIG_DEFAULT_LISTEN "127.0.0.1"
#define COHORT_CONFIG_DEFAULT_PORT 8580
#define COHORT_CONFIG_DEFAULT_POOL "default"
#define COHORT_CONFIG_DEFAULT_IMAGES_DIR "/var/lib/cohort/images"
/* The address plan: each cohort's own network gets a /PREFIX of RANGE. */
#define COHORT_CONFIG_DEFAULT_NETWORKS_RANGE "10.200.0.0/16"
#define COHORT_CONFIG_DEFAULT_NETWORKS_PREFIX 24

/* One [host:NAME] group. */
typedef struct {
    gchar *name;        /* slug */
    gchar *uri;         /* libvirt URI: qemu:///system, qemu+ssh://lab2/system, test:///… */
    gchar *pool;        /* storage pool for overlays and base volumes */
    guint vcpus;        /* capacity; 0: ask libvirt's node info when connecting */
    guint64 memory_mib; /* capacity; 0: ask libvirt's node info when connecting */
    gdouble cpu_ratio;  /* overcommit: vCPUs allowed = vcpus * cpu_ratio */
    gdouble memory_ratio;
    gdouble disk_ratio; /* overcommit of the pool for overlays' planned growth */
    gchar *accel;       /* "auto" (kvm where libvirt offers it, else TCG), "kvm" or "tcg" */
} CohortConfigHost;

/* Read-only for callers: change it through cohort_config_load_*(), which validate. */
typedef struct {
    /* [daemon] */
    gchar *listen;             /* an IP address */
    guint port;                /* 0: any free port (tests) */
    gchar *tls_cert;           /* absolute path or NULL; set together with tls_key */
    gchar *tls_key;            /* absolute path or NULL */
    gboolean allow_plain_http; /* plain HTTP on a non-loopback address (behind a TLS proxy) */
    gchar *state_dir;          /* database and keys; absolute */
    gchar *templates_dir;      /* domain templates; absolute */
    gchar *images_dir;         /* where base images for POST /templates/NAME/base are; absolute */
    gchar *web_dir;            /* the web page's files, served at /; absolute */
    gboolean allow_test_hosts; /* test:/// host URIs (they read files): tests and demos only */
    gchar *vnc_listen;         /* where machines' VNC servers listen on their host */
    guint max_body_kib;        /* largest request body */
    guint request_timeout_s;   /* to send a whole request, from connecting or the last answer */
    guint max_connections_per_client;
    guint auth_failures_per_minute; /* per client address, then 429 without checking */
    guint workers;                  /* threads for libvirt work, 1..64 */
    guint reaper_interval_s;
    guint idle_shutdown_s; /* a machine under idle_cpu_percent this long is shut down; 0: never */
    guint idle_cpu_percent;
    guint stop_timeout_s; /* a graceful shutdown, then forced off */
    guint reconcile_interval_s;
    guint invitation_ttl_hours;
    gchar *placement; /* "spread" or "pack": where the machines of cohorts that name none go */
    /* [quota]: per trainee, the defaults of a new cohort */
    guint quota_machines;
    guint quota_vcpus;
    guint64 quota_memory_mib;
    /* [networks]: the address plan of cohorts' own networks */
    gchar *networks_range; /* an IPv4 subnet, "10.200.0.0/16" */
    guint networks_prefix; /* each cohort network's prefix length, range's..29 */
    /* [host:NAME], in the order first seen */
    GPtrArray *hosts; /* of CohortConfigHost */
} CohortConfig;

/* The compiled-in defaults. state_dir: $STATE_DIRECTORY when systemd sets it (the unit's
 * StateDirectory=), else /var/lib/cohort for root, else $XDG_STATE_HOME/cohort
 * (~/.local/state/cohort). templates_dir: COHORT_TEMPLATESDIR. images_dir:
 * COHORT_CONFIG_DEFAULT_IMAGES_DIR. web_dir: COHORT_WEBDIR when it exists (installed), else the
 * source tree's web/. No test hosts, no hosts. */
CohortConfig *cohort_config_new_default(void);
/* Apply a key file on top of the current values and validate the result. On failure
 * (COHORT_ERROR_INVALID_ARGUMENT naming "[group] key" and the value; NOT_FOUND for a missing
 * file) @self is left as it was. Every [host:NAME] URI is checked as cohort_host_uri_check()
 * does (test:/// only with allow_test_hosts), and two groups naming one URI are refused. */
gboolean cohort_config_load_file(CohortConfig *self, const gchar *path, GError **error);
gboolean cohort_config_load_data(CohortConfig *self, const gchar *data, GError **error);
void cohort_config_free(CohortConfig *self);

/* The configured hosts (CohortConfigHost), borrowed, possibly empty: cohortd then adds one
 * embedded test host (test:///default) so that a fresh install answers; the config does
 * not decide that. */
GPtrArray *cohort_config_get_hosts(CohortConfig *self);
/* NULL when no [host:NAME] group names it. */
const CohortConfigHost *cohort_config_get_host(CohortConfig *self, const gchar *name);
/* TLS is configured (tls_cert and tls_key). */
gboolean cohort_config_has_tls(CohortConfig *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortConfig, cohort_config_free)

G_END_DECLS
