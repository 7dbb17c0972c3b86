/* A real cohortd for tests: its own state, a random loopback port, the embedded test host;
 * test:/// hosts allowed, base images from its own images directory. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
    gchar *url;         /* http://127.0.0.1:PORT */
    gchar *admin_token; /* of the admin "admin" */
    GPid pid;
    gchar *state_dir;  /* a temporary directory, removed by stop */
    gchar *images_dir; /* [daemon] images_dir: state_dir/images */
    gchar *config_path;
} CohortTestDaemon;

/* @extra_config: more key-file text appended to the test config (NULL for none). */
CohortTestDaemon *cohort_test_daemon_start_with_config(const gchar *extra_config, GError **error);
CohortTestDaemon *cohort_test_daemon_start(GError **error);
/* (Re)starts the daemon process on its config and state; with @crash_point set, as
 * COHORT_CRASH_POINT (see common/cohort-crash.h). */
gboolean cohort_test_daemon_spawn(CohortTestDaemon *d, const gchar *crash_point, GError **error);
/* Waits for the daemon to die by itself: the signal that killed it (SIGKILL at a crash point),
 * or minus its exit status. */
gint cohort_test_daemon_wait_killed(CohortTestDaemon *d, guint timeout_s);
/* SIGTERM and wait, keeping the state for a restart. Asserts a clean exit. */
void cohort_test_daemon_stop_keep(CohortTestDaemon *d);
/* SIGTERM, wait, remove the state. Asserts the daemon exited cleanly. */
void cohort_test_daemon_stop(CohortTestDaemon *d);

/* One HTTP request with real HTTP. @body NULL for none; @content_type defaults to JSON.
 * Returns the parsed JSON answer (NULL when the body is not JSON), the status in @status,
 * and the raw body in @raw when not NULL. */
JsonNode *cohort_test_http(CohortTestDaemon *d, const gchar *method, const gchar *path,
                           const gchar *token, const gchar *body, const gchar *content_type,
                           guint *status, gchar **raw);
/* The same; with @may_fail, a failed connection (a daemon that died) is status 0, not a test
 * failure. */
JsonNode *cohort_test_http_full(CohortTestDaemon *d, const gchar *method, const gchar *path,
                                const gchar *token, const gchar *body, const gchar *content_type,
                                gboolean may_fail, guint *status, gchar **raw);
/* This installation's UUID (the owner in every machine's tag), read from the daemon's store. */
gchar *cohort_test_daemon_instance_id(CohortTestDaemon *d);
/* How many subnets the daemon's address plan holds (its store, read beside it). */
guint cohort_test_daemon_subnets_held(CohortTestDaemon *d);
/* The error code of an error answer, or NULL. */
const gchar *cohort_test_error_code(JsonNode *node);
/* Polls GET /api/v1/jobs/ID until it is done or failed (at most 120 s). */
JsonNode *cohort_test_job_wait(CohortTestDaemon *d, const gchar *token, gint64 job);
/* POST /api/v1/templates/TMPL/base with @body as the admin (202), then waits for its job,
 * which must not fail; the answer of the POST. */
JsonNode *cohort_test_base_install(CohortTestDaemon *d, const gchar *tmpl, const gchar *body);

G_END_DECLS
