/* Courses end and things break, on the real local libvirtd: cohortd killed at every step of
 * provisioning and reclaim, libvirtd restarted under it, domains removed behind its back, and
 * a course past its end reclaimed by the reaper. After each, libvirt and the store agree, and
 * the admin's own VM is untouched. */
#define G_LOG_DOMAIN "test-lifecycle-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <unistd.h>

#include "cohort-test-daemon.h"
#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-subnet.h"
#include "cohort-provision.h"
#include "cohort-virt.h"

#define MACHINES 10
#define LIBVIRTD_HOLD "/run/libvirt/cohort-dev-hold"

typedef struct {
    virConnectPtr conn;
    virStoragePoolPtr pool;
    gchar *pool_name;
    gchar *pool_dir;
    gchar *foreign_name;
    gchar *trainer_token;
    guint cohorts;
    gint64 jobs; /* jobs this cohortd made so far: the next one's id is one more */
    CohortTestDaemon *d;
} Fixture;

static JsonNode *
http_expect(Fixture *fx, const gchar *method, const gchar *path, const gchar *token,
            const gchar *body, const gchar *content_type, guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node =
        cohort_test_http(fx->d, method, path, token, body, content_type, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    return node;
}

static int
fixture_setup_with(void **state, const gchar *daemon_keys)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *extra = NULL;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    Fixture *fx = g_new0(Fixture, 1);
    guint pid = (guint)getpid();

    fx->conn = cohort_virt_connect("qemu:///system", &error);
    if (fx->conn == NULL)
        fail_msg("%s (start libvirtd: ./cohort-dev test does it)", error->message);
    cohort_test_qemu_remove_stale_runs(fx->conn);
    fx->pool_name = g_strdup_printf("cohort-itest-%u", pid);
    fx->pool_dir = g_strdup_printf("/var/lib/cohort-itest-%u", pid);
    fx->foreign_name = g_strdup_printf("admin-vm-%u", pid);
    assert_int_equal(g_mkdir_with_parents(fx->pool_dir, 0755), 0);
    fx->pool = cohort_test_qemu_pool_create(fx->conn, fx->pool_name, fx->pool_dir);
    cohort_test_qemu_foreign_domain_start(fx->conn, fx->foreign_name);
    /* the timers in seconds, so the tests see reconcile and the reaper at work */
    extra = g_strdup_printf("[daemon]\nreaper_interval_s=1\nreconcile_interval_s=2\nworkers=4\n%s"
                            "[host:local]\nuri=qemu:///system\naccel=tcg\npool=%s\nvcpus=32\n"
                            "memory_mib=16384\n",
                            daemon_keys, fx->pool_name);
    fx->d = cohort_test_daemon_start_with_config(extra, &error);
    cohort_assert_no_error(error);
    base = cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}");
    json_node_unref(cohort_test_base_install(fx->d, "tiny-lan", "{\"blank\":true}"));
    /* each base is installed by a job of its own: the next job ids follow them */
    fx->jobs = 2;
    trainer = http_expect(fx, "POST", "/api/v1/users", fx->d->admin_token,
                          "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}",
                          NULL, 201);
    fx->trainer_token =
        g_strdup(json_object_get_string_member(json_node_get_object(trainer), "token"));
    *state = fx;
    return 0;
}

static int
fixture_setup(void **state)
{
    return fixture_setup_with(state, "");
}

/* A tiny VM halts at "No bootable device" and ignores the ACPI request: a stop is forced off
 * after stop_timeout_s, and shows stopping until then. */
static int
fixture_setup_quick_stop(void **state)
{
    return fixture_setup_with(state, "stop_timeout_s=4\n");
}

static int
fixture_setup_idle(void **state)
{
    return fixture_setup_with(state, "idle_shutdown_s=3\nidle_cpu_percent=10\nstop_timeout_s=2\n");
}

/* The test's own connection, opened again if libvirtd went away under it. libvirt 9.0's
 * libvirtd has been seen to crash (SIGSEGV in remoteClientFreePrivateCallbacks) when a
 * cohortd killed at a crash point drops its connection; the supervisor of ./cohort-dev
 * restarts it and cohortd reconnects by itself, but this connection would stay dead and fail
 * every check after it. Said on stderr, so that a run shows it happened. */
static virConnectPtr
fixture_conn(Fixture *fx)
{
    gint64 deadline;
    unsigned long version = 0;

    /* a call, not only virConnectIsAlive(): without an event loop in this process, a dead
     * connection is seen as dead only by the next call on it */
    if (virConnectIsAlive(fx->conn) == 1 && virConnectGetLibVersion(fx->conn, &version) == 0)
        return fx->conn;
    g_message("the test's libvirt connection died (libvirtd restarted: see its log): opening it "
              "again");
    virConnectClose(fx->conn);
    fx->conn = NULL;
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while ((fx->conn = cohort_virt_connect("qemu:///system", NULL)) == NULL) {
        if (g_get_monotonic_time() > deadline)
            fail_msg("libvirtd did not come back within 60 s");
        g_usleep(200 * 1000);
    }
    virStoragePoolFree(fx->pool);
    fx->pool = virStoragePoolLookupByName(fx->conn, fx->pool_name);
    assert_non_null(fx->pool);
    return fx->conn;
}

/* Tagged domains whose name starts with @prefix, and whether they run. */
static GHashTable *
libvirt_domains(Fixture *fx, const gchar *prefix)
{
    GHashTable *found = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(fixture_conn(fx), &doms, 0);

    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        const gchar *name = virDomainGetName(doms[i]);
        if (g_str_has_prefix(name, prefix) && cohort_provisioner_domain_get_machine_id(doms[i]) > 0)
            g_hash_table_insert(found, g_strdup(name),
                                GINT_TO_POINTER(virDomainIsActive(doms[i]) == 1));
        virDomainFree(doms[i]);
    }
    free(doms);
    return found;
}

/* Cohort's volumes of the cohort: overlays and seed discs alike (a leak of either counts). */
static guint
libvirt_overlays(Fixture *fx, const gchar *prefix)
{
    virStorageVolPtr *vols = NULL;
    guint count = 0;
    int n;

    fixture_conn(fx);
    virStoragePoolRefresh(fx->pool, 0);
    n = virStoragePoolListAllVolumes(fx->pool, &vols, 0);
    for (int i = 0; i < n; i++) {
        count += g_str_has_prefix(virStorageVolGetName(vols[i]), prefix);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    return count;
}

/* The cohort's seed discs alone. */
static guint
libvirt_seeds(Fixture *fx, const gchar *prefix)
{
    virStorageVolPtr *vols = NULL;
    guint count = 0;
    int n;

    fixture_conn(fx);
    virStoragePoolRefresh(fx->pool, 0);
    n = virStoragePoolListAllVolumes(fx->pool, &vols, 0);
    for (int i = 0; i < n; i++) {
        const gchar *name = virStorageVolGetName(vols[i]);
        count += g_str_has_prefix(name, prefix) && g_str_has_suffix(name, COHORT_NAMES_SEED_SUFFIX);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    return count;
}

/* The cohort's machines once nothing is under way any more (no work in their state, none
 * pending), as the API lists them. */
static JsonNode *
machines_settled(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines?cohort=%s", slug);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        JsonNode *node = http_expect(fx, "GET", path, fx->d->admin_token, NULL, NULL, 200);
        JsonArray *list = json_node_get_array(node);
        gboolean busy = FALSE;
        for (guint i = 0; i < json_array_get_length(list); i++) {
            static const gchar *const working[] = {
                "provisioning", "starting",   "stopping", "rebooting",
                "resetting",    "reclaiming", NULL};
            JsonObject *m = json_array_get_object_element(list, i);
            JsonNode *pending = json_object_get_member(m, "pending");
            busy |= g_strv_contains(working, json_object_get_string_member(m, "state")) ||
                    (pending != NULL && JSON_NODE_HOLDS_ARRAY(pending) &&
                     json_array_get_length(json_node_get_array(pending)) > 0);
        }
        if (!busy)
            return node;
        json_node_unref(node);
        g_usleep(200 * 1000);
    }
    fail_msg("machines of %s did not settle within 120 s", slug);
    return NULL;
}

/* Every running row has its running domain, every failed row nothing in libvirt, and no
 * domain of the cohort is without a row. */
static guint
assert_converged(Fixture *fx, const gchar *slug, JsonNode *machines)
{
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    g_autoptr(GHashTable) doms = libvirt_domains(fx, prefix);
    JsonArray *list = json_node_get_array(machines);
    guint running = 0;

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);
        const gchar *name = json_object_get_string_member(m, "name");
        const gchar *st = json_object_get_string_member(m, "state");
        if (g_strcmp0(st, "running") == 0) {
            if (!g_hash_table_contains(doms, name) ||
                !GPOINTER_TO_INT(g_hash_table_lookup(doms, name)))
                fail_msg("%s is running in the store but not in libvirt", name);
            running++;
        } else if (g_strcmp0(st, "failed") == 0) {
            if (g_hash_table_contains(doms, name))
                fail_msg("%s failed but its domain is still in libvirt", name);
        } else {
            fail_msg("%s is %s after the restart", name, st);
        }
        g_hash_table_remove(doms, name);
    }
    if (g_hash_table_size(doms) > 0)
        fail_msg("%u domains of %s have no row", g_hash_table_size(doms), slug);
    return running;
}

/* Whether the cohort's own network is gone from libvirt, waiting up to 30 s: after a crash
 * in a reclaim, reconcile removes it on one of its rounds. */
static gboolean
libvirt_network_gone(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *name = cohort_names_network(slug);
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(virNetwork) net = virNetworkLookupByName(fixture_conn(fx), name);
        if (net == NULL)
            return TRUE;
        g_usleep(200 * 1000);
    }
    return FALSE;
}

static gboolean
libvirt_network_active(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *name = cohort_names_network(slug);
    g_autoptr(virNetwork) net = virNetworkLookupByName(fixture_conn(fx), name);

    return net != NULL && virNetworkIsActive(net) == 1;
}

/* The cohort's subnet as its JSON says (NULL: none). */
static gchar *
cohort_subnet_of(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s", slug);
    g_autoptr(JsonNode) cohort = http_expect(fx, "GET", path, fx->trainer_token, NULL, NULL, 200);
    JsonNode *subnet = json_object_get_member(json_node_get_object(cohort), "subnet");

    return subnet != NULL && JSON_NODE_HOLDS_VALUE(subnet) ? g_strdup(json_node_get_string(subnet))
                                                           : NULL;
}

/* Whether the reclaimed cohort's subnet went back to the plan, waiting up to 30 s (after a
 * crash, reconcile frees it). */
static gboolean
cohort_subnet_freed(Fixture *fx, const gchar *slug)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autofree gchar *subnet = cohort_subnet_of(fx, slug);
        if (subnet == NULL)
            return TRUE;
        g_usleep(200 * 1000);
    }
    return FALSE;
}

/* Machines with a NIC, so that the cohort's network goes through every crash too. */
static gchar *
cohort_with_roster(Fixture *fx)
{
    gchar *slug = g_strdup_printf("itest-%u-%u", (guint)getpid(), ++fx->cohorts);
    g_autofree gchar *body = g_strdup_printf(
        "{\"slug\":\"%s\",\"template\":\"tiny-lan\",\"starts_at\":\"2026-01-01T00:00:00Z\","
        "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
        slug);
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/roster", slug);
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) roster = NULL;
    GString *csv = g_string_new("login,display_name\n");

    cohort = http_expect(fx, "POST", "/api/v1/cohorts", fx->trainer_token, body, NULL, 201);
    for (guint i = 1; i <= MACHINES; i++)
        g_string_append_printf(csv, "t%u-%u,Trainee %u\n", fx->cohorts, i, i);
    roster = http_expect(fx, "PUT", path, fx->trainer_token, csv->str, "text/csv", 200);
    g_string_free(csv, TRUE);
    return slug;
}

/* The job's id: from the answer, or, when a crash point killed cohortd before it answered
 * (after the job and its rows were written: every crash point is after that), the next one. */
static gint64
post_job(Fixture *fx, const gchar *slug, const gchar *what)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/%s", slug, what);
    guint status = 0;
    g_autoptr(JsonNode) node = cohort_test_http_full(fx->d, "POST", path, fx->trainer_token, NULL,
                                                     NULL, TRUE, &status, NULL);
    if (status != 0 && status != 202)
        fail_msg("POST %s: %u", path, status);
    fx->jobs++;
    if (status == 202)
        assert_int_equal(json_object_get_int_member(json_node_get_object(node), "job"), fx->jobs);
    return fx->jobs;
}

/* Job @id, which a restart resumed, to its end: the same job, done, with all of them. */
static JsonNode *
job_resumed(Fixture *fx, gint64 id, const gchar *kind)
{
    JsonNode *job = cohort_test_job_wait(fx->d, fx->trainer_token, id);
    JsonObject *o = json_node_get_object(job);

    if (g_strcmp0(json_object_get_string_member(o, "state"), "done") != 0 ||
        json_object_get_int_member(o, "done") != MACHINES ||
        json_object_get_int_member(o, "failed") != 0) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        json_generator_set_root(gen, job);
        fail_msg("%s job %" G_GINT64_FORMAT " after the restart: %s", kind, id,
                 json_generator_to_data(gen, NULL));
    }
    assert_string_equal(json_object_get_string_member(o, "kind"), kind);
    assert_int_equal(json_object_get_int_member(o, "total"), MACHINES);
    return job;
}

/* Every trainee of the cohort has a running machine, one each. */
static void
assert_every_trainee_runs(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s", slug);
    g_autoptr(JsonNode) cohort = http_expect(fx, "GET", path, fx->trainer_token, NULL, NULL, 200);
    JsonArray *trainees = json_object_get_array_member(json_node_get_object(cohort), "trainees");

    assert_int_equal(json_array_get_length(trainees), MACHINES);
    for (guint i = 0; i < json_array_get_length(trainees); i++) {
        JsonObject *t = json_array_get_object_element(trainees, i);
        JsonArray *own = json_object_get_array_member(t, "machines");
        if (json_array_get_length(own) != 1 ||
            g_strcmp0(json_object_get_string_member(json_array_get_object_element(own, 0), "state"),
                      "running") != 0)
            fail_msg(
                "trainee %s has %u machines, the first %s",
                json_object_get_string_member(t, "login"), json_array_get_length(own),
                json_array_get_length(own) > 0
                    ? json_object_get_string_member(json_array_get_object_element(own, 0), "state")
                    : "(none)");
    }
}

static void
respawn(Fixture *fx, const gchar *crash_point)
{
    g_autoptr(GError) error = NULL;
    assert_true(cohort_test_daemon_spawn(fx->d, crash_point, &error));
    cohort_assert_no_error(error);
}

/* kill -9 at each step of provisioning, then of reclaim; a restart converges each time, and
 * the interrupted job goes on: the same job id ends done, with every machine counted (every
 * trainee has a running machine; the reclaim frees all of them and the network). */
static void
test_lifecycle_crash_points(void **state)
{
    Fixture *fx = *state;
    /* provisioning's steps, each paired with one of reclaim's (the last reclaim runs whole) */
    static const gchar *const provision_points[] = {"rows-written:1",    "network-made:1",
                                                    "overlay-created:4", "seed-uploaded:4",
                                                    "domain-defined:5",  "domain-started:6"};
    static const gchar *const reclaim_points[] = {"domain-destroyed:3", NULL,
                                                  "domain-undefined:4", "overlay-deleted:5",
                                                  "seed-deleted:5",     NULL};

    for (guint round = 0; round < G_N_ELEMENTS(provision_points); round++) {
        g_autofree gchar *slug = cohort_with_roster(fx);
        g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
        g_autoptr(JsonNode) after_provision = NULL;
        g_autoptr(JsonNode) after_reclaim = NULL;
        guint running;

        g_autoptr(JsonNode) provision_job = NULL;
        g_autoptr(JsonNode) reclaim_job = NULL;
        gint64 job;

        /* provisioning, killed at a step, then a plain restart */
        cohort_test_daemon_stop_keep(fx->d);
        respawn(fx, provision_points[round]);
        job = post_job(fx, slug, "provision");
        assert_int_equal(cohort_test_daemon_wait_killed(fx->d, 60), SIGKILL);
        respawn(fx, NULL);
        provision_job = job_resumed(fx, job, "provision");
        after_provision = machines_settled(fx, slug);
        running = assert_converged(fx, slug, after_provision);
        g_print("# %s: after the restart job %" G_GINT64_FORMAT " went on: %u of %d machines run\n",
                provision_points[round], job, running, MACHINES);
        assert_int_equal(running, MACHINES);
        assert_every_trainee_runs(fx, slug);
        /* one seed disc a machine, none left over from the try the kill cut short */
        assert_int_equal(libvirt_seeds(fx, prefix), MACHINES);
        assert_true(libvirt_network_active(fx, slug));
        {
            /* the network has the cohort's subnet, with DHCP, the same after a crash */
            g_autofree gchar *subnet = cohort_subnet_of(fx, slug);
            g_autofree gchar *name = cohort_names_network(slug);
            g_autoptr(virNetwork) net = virNetworkLookupByName(fixture_conn(fx), name);
            g_autofree gchar *xml = virNetworkGetXMLDesc(net, 0);
            CohortSubnet s;
            g_autofree gchar *gateway = NULL;
            g_autofree gchar *want = NULL;
            assert_non_null(subnet);
            assert_true(cohort_subnet_parse(subnet, FALSE, &s, NULL));
            gateway = cohort_subnet_address(&s, 1);
            want = g_strdup_printf("<ip address='%s' prefix='%u'>", gateway, s.prefix);
            cohort_assert_contains(xml, want);
            cohort_assert_contains(xml, "<dhcp>");
            assert_null(strstr(xml, "<forward"));
        }

        /* reclaim, killed at a step, then a plain restart */
        if (reclaim_points[round] != NULL) {
            cohort_test_daemon_stop_keep(fx->d);
            respawn(fx, reclaim_points[round]);
        }
        job = post_job(fx, slug, "reclaim");
        if (reclaim_points[round] != NULL) {
            assert_int_equal(cohort_test_daemon_wait_killed(fx->d, 60), SIGKILL);
            respawn(fx, NULL);
        }
        reclaim_job = job_resumed(fx, job, "reclaim");
        {
            /* what it freed counts every machine, and the cohort's network */
            JsonObject *freed =
                json_object_get_object_member(json_node_get_object(reclaim_job), "freed");
            assert_int_equal(json_object_get_int_member(freed, "machines"), MACHINES);
            assert_int_equal(json_object_get_int_member(freed, "networks"), 1);
        }
        after_reclaim = machines_settled(fx, slug);
        /* reclaimed rows are not listed: nothing of the cohort is left anywhere */
        assert_int_equal(json_array_get_length(json_node_get_array(after_reclaim)), 0);
        {
            g_autoptr(GHashTable) doms = libvirt_domains(fx, prefix);
            assert_int_equal(g_hash_table_size(doms), 0);
        }
        assert_int_equal(libvirt_overlays(fx, prefix), 0);
        assert_true(libvirt_network_gone(fx, slug));
        /* and its subnet is back in the address plan */
        assert_true(cohort_subnet_freed(fx, slug));
    }
}

static JsonNode *
machine_by_name(Fixture *fx, const gchar *slug, const gchar *name)
{
    g_autoptr(JsonNode) list = machines_settled(fx, slug);
    JsonArray *array = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *m = json_array_get_object_element(array, i);
        if (g_strcmp0(json_object_get_string_member(m, "name"), name) == 0)
            return json_node_copy(json_array_get_element(array, i));
    }
    return NULL;
}

/* Polls the machine until its state is @state (events and reconcile are asynchronous). */
static void
machine_wait_state(Fixture *fx, const gchar *slug, const gchar *name, const gchar *state)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) m = machine_by_name(fx, slug, name);
        if (m != NULL &&
            g_strcmp0(json_object_get_string_member(json_node_get_object(m), "state"), state) == 0)
            return;
        g_usleep(100 * 1000);
    }
    fail_msg("%s did not become %s within 30 s", name, state);
}

static void
provision(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/provision", slug);
    g_autoptr(JsonNode) started = http_expect(fx, "POST", path, fx->trainer_token, NULL, NULL, 202);
    g_autoptr(JsonNode) job = cohort_test_job_wait(
        fx->d, fx->trainer_token, json_object_get_int_member(json_node_get_object(started), "job"));
    fx->jobs++;
    assert_int_equal(json_object_get_int_member(json_node_get_object(job), "done"), MACHINES);
}

static void
reclaim_all(Fixture *fx, const gchar *slug)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/reclaim", slug);
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(GHashTable) doms = NULL;
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    /* 409 while work on a machine is under way (a start just asked for): ask again */
    for (;;) {
        guint status = 0;
        g_clear_pointer(&started, json_node_unref);
        started =
            cohort_test_http(fx->d, "POST", path, fx->trainer_token, NULL, NULL, &status, NULL);
        if (status == 202) {
            fx->jobs++;
            break;
        }
        assert_int_equal(status, 409);
        if (g_get_monotonic_time() > deadline)
            fail_msg("reclaim of %s refused for 30 s", slug);
        g_usleep(200 * 1000);
    }
    job = cohort_test_job_wait(fx->d, fx->trainer_token,
                               json_object_get_int_member(json_node_get_object(started), "job"));

    assert_int_equal(json_object_get_int_member(json_node_get_object(job), "failed"), 0);
    doms = libvirt_domains(fx, prefix);
    assert_int_equal(g_hash_table_size(doms), 0);
    assert_int_equal(libvirt_overlays(fx, prefix), 0);
}

/* A domain destroyed and one undefined with libvirt behind cohortd's back: the events reach
 * cohortd, which brings the store in line; reclaim then leaves nothing. */
static void
test_lifecycle_behind_the_back(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *slug = cohort_with_roster(fx);
    g_autofree gchar *destroyed = NULL;
    g_autofree gchar *undefined = NULL;
    g_autoptr(virDomain) dom_a = NULL;
    g_autoptr(virDomain) dom_b = NULL;

    provision(fx, slug);
    destroyed = g_strdup_printf(COHORT_NAME_PREFIX "%s--t%u-1", slug, fx->cohorts);
    undefined = g_strdup_printf(COHORT_NAME_PREFIX "%s--t%u-2", slug, fx->cohorts);
    dom_a = virDomainLookupByName(fixture_conn(fx), destroyed);
    dom_b = virDomainLookupByName(fixture_conn(fx), undefined);
    assert_non_null(dom_a);
    assert_non_null(dom_b);
    assert_int_equal(virDomainDestroy(dom_a), 0);
    assert_int_equal(virDomainDestroy(dom_b), 0);
    assert_int_equal(virDomainUndefine(dom_b), 0);

    machine_wait_state(fx, slug, destroyed, "stopped");
    machine_wait_state(fx, slug, undefined, "failed");
    {
        g_autoptr(JsonNode) m = machine_by_name(fx, slug, undefined);
        cohort_assert_contains(json_object_get_string_member(json_node_get_object(m), "error"),
                               "removed outside Cohort");
    }
    /* the trainee starts the stopped one again */
    {
        g_autoptr(JsonNode) m = machine_by_name(fx, slug, destroyed);
        g_autofree gchar *path =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/start",
                            json_object_get_int_member(json_node_get_object(m), "id"));
        g_autoptr(JsonNode) started =
            http_expect(fx, "POST", path, fx->trainer_token, NULL, NULL, 202);
        assert_string_equal(json_object_get_string_member(json_node_get_object(started), "state"),
                            "starting");
        machine_wait_state(fx, slug, destroyed, "running");
        /* the row says running once libvirt runs it, not before */
        assert_int_equal(virDomainIsActive(dom_a), 1);
    }
    /* the undefined machine's overlay is still there; reclaim takes it with the rest */
    reclaim_all(fx, slug);
}

/* libvirtd stops under cohortd: the host goes down, requests for it fail at once with
 * host-unavailable, and when libvirtd is back the host comes up with nothing lost. */
static void
test_lifecycle_libvirtd_restart(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *slug = cohort_with_roster(fx);
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    g_autoptr(JsonNode) list = NULL;
    g_autofree gchar *stop_path = NULL;
    gint64 deadline;
    guint status = 0;

    provision(fx, slug);
    list = machines_settled(fx, slug);
    stop_path =
        g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/stop",
                        json_object_get_int_member(
                            json_array_get_object_element(json_node_get_array(list), 0), "id"));

    /* hold libvirtd down (cohort-dev runs it in a loop that waits for this file) */
    assert_true(g_file_set_contents(LIBVIRTD_HOLD, "", 0, NULL));
    assert_true(g_spawn_command_line_sync("pkill -x libvirtd", NULL, NULL, NULL, NULL));
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(JsonNode) hosts =
            http_expect(fx, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, NULL, 200);
        const gchar *st = json_object_get_string_member(
            json_array_get_object_element(json_node_get_array(hosts), 0), "state");
        if (g_strcmp0(st, "down") == 0)
            break;
        if (g_get_monotonic_time() > deadline) {
            g_unlink(LIBVIRTD_HOLD);
            fail_msg("the host never went down after libvirtd stopped");
        }
        g_usleep(100 * 1000);
    }
    {
        g_autoptr(JsonNode) refused = cohort_test_http(fx->d, "POST", stop_path, fx->trainer_token,
                                                       NULL, NULL, &status, NULL);
        assert_int_equal(status, 503);
        assert_string_equal(cohort_test_error_code(refused), "host-unavailable");
    }

    /* libvirtd back: cohortd reconnects by itself */
    g_unlink(LIBVIRTD_HOLD);
    deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(JsonNode) hosts =
            http_expect(fx, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, NULL, 200);
        const gchar *st = json_object_get_string_member(
            json_array_get_object_element(json_node_get_array(hosts), 0), "state");
        if (g_strcmp0(st, "up") == 0)
            break;
        if (g_get_monotonic_time() > deadline)
            fail_msg("the host did not come back within 90 s of libvirtd's restart");
        g_usleep(200 * 1000);
    }
    /* the test's own connection died with libvirtd too */
    fixture_conn(fx);
    {
        /* nothing lost: every machine still runs, in the store and in libvirt */
        g_autoptr(JsonNode) after = machines_settled(fx, slug);
        assert_int_equal(assert_converged(fx, slug, after), MACHINES);
    }
    reclaim_all(fx, slug);
    {
        g_autoptr(GHashTable) doms = libvirt_domains(fx, prefix);
        assert_int_equal(g_hash_table_size(doms), 0);
    }
}

/* A cohort whose end date (plus grace) has passed is reclaimed without anyone asking. */
static void
test_lifecycle_reaper(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *slug = cohort_with_roster(fx);
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s", slug);
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    g_autoptr(JsonNode) patched = NULL;
    gint64 deadline;

    provision(fx, slug);
    /* an end in the past ends the course now; no grace */
    patched = http_expect(fx, "PATCH", path, fx->trainer_token,
                          "{\"ends_at\":\"2026-01-02T00:00:00Z\",\"grace_hours\":0}", NULL, 200);
    assert_string_equal(json_object_get_string_member(json_node_get_object(patched), "state"),
                        "ended");
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(JsonNode) cohort =
            http_expect(fx, "GET", path, fx->trainer_token, NULL, NULL, 200);
        g_autoptr(GHashTable) doms = libvirt_domains(fx, prefix);
        if (g_strcmp0(json_object_get_string_member(json_node_get_object(cohort), "state"),
                      "reclaimed") == 0 &&
            g_hash_table_size(doms) == 0 && libvirt_overlays(fx, prefix) == 0)
            break;
        if (g_get_monotonic_time() > deadline)
            fail_msg("the reaper did not reclaim %s within 60 s", slug);
        g_usleep(200 * 1000);
    }
    {
        /* the audit log says who did it */
        g_autoptr(JsonNode) audit =
            http_expect(fx, "GET", "/api/v1/audit?limit=50", fx->d->admin_token, NULL, NULL, 200);
        JsonArray *entries = json_node_get_array(audit);
        gboolean found = FALSE;
        for (guint i = 0; i < json_array_get_length(entries); i++) {
            JsonObject *e = json_array_get_object_element(entries, i);
            found |= g_strcmp0(json_object_get_string_member(e, "actor"), "system") == 0 &&
                     g_strcmp0(json_object_get_string_member(e, "target"), slug) == 0;
        }
        assert_true(found);
    }
}

static JsonNode *
machine_post(Fixture *fx, gint64 id, const gchar *op)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/%s", id, op);
    return http_expect(fx, "POST", path, fx->trainer_token, NULL, NULL, 202);
}

static const gchar *
machine_state(JsonNode *m)
{
    return json_object_get_string_member(json_node_get_object(m), "state");
}

/* "start,reboot"; "(none)" for an answer without the list */
static gchar *
machine_pending(JsonNode *m)
{
    JsonNode *node = json_object_get_member(json_node_get_object(m), "pending");
    JsonArray *a;
    GString *out = g_string_new(NULL);

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_string_free(g_string_append(out, "(none)"), FALSE);
    a = json_node_get_array(node);

    for (guint i = 0; i < json_array_get_length(a); i++)
        g_string_append_printf(out, "%s%s", i > 0 ? "," : "", json_array_get_string_element(a, i));
    return g_string_free(out, FALSE);
}

/* The guest of the report: tiny halts at "No bootable device" and ignores the ACPI request.
 * A stop answers "stopping", and the machine shows stopping, never stopped, until libvirt has
 * it off (forced after stop_timeout_s); a start asked meanwhile shows in "pending" and runs
 * after the stop, and the machine is "running" only once libvirt runs it again (a new domain
 * id: it really stopped and started). Run at once, the start would find the domain still up
 * and do nothing, and the stop would then end it. */
static void
test_lifecycle_stop_then_start(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *slug = cohort_with_roster(fx);
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    g_autofree gchar *machine_path = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(virDomain) dom = NULL;
    JsonObject *first;
    const gchar *name;
    unsigned int first_id;
    gint64 deadline;
    gint64 id;
    gboolean saw_starting = FALSE;

    provision(fx, slug);
    list = machines_settled(fx, slug);
    first = json_array_get_object_element(json_node_get_array(list), 0);
    id = json_object_get_int_member(first, "id");
    name = json_object_get_string_member(first, "name");
    machine_path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    dom = virDomainLookupByName(fixture_conn(fx), name);
    assert_non_null(dom);
    first_id = virDomainGetID(dom);
    {
        g_autoptr(JsonNode) stop = machine_post(fx, id, "stop");
        g_autoptr(JsonNode) start = machine_post(fx, id, "start");
        g_autofree gchar *stop_pending = machine_pending(stop);
        g_autofree gchar *start_pending = machine_pending(start);
        /* a stop requested, not done; the start waits behind it and says so */
        assert_string_equal(machine_state(stop), "stopping");
        assert_string_equal(stop_pending, "");
        assert_string_equal(machine_state(start), "stopping");
        assert_string_equal(start_pending, "start");
    }
    /* never "stopped" (the start follows at once), never "running" before libvirt runs the
     * domain again */
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(JsonNode) m =
            http_expect(fx, "GET", machine_path, fx->trainer_token, NULL, NULL, 200);
        const gchar *st = machine_state(m);
        if (g_strcmp0(st, "running") == 0)
            break;
        if (g_strcmp0(st, "stopping") == 0) {
            g_autofree gchar *pending = machine_pending(m);
            /* the stop under way, so libvirt has not finished it: the guest ignores ACPI */
            assert_false(saw_starting);
            assert_string_equal(pending, "start");
        } else if (g_strcmp0(st, "starting") == 0) {
            saw_starting = TRUE;
        } else {
            fail_msg("%s is %s between a stop and a start", name, st);
        }
        if (g_get_monotonic_time() > deadline)
            fail_msg("%s is not running 60 s after a stop and a start", name);
        g_usleep(50 * 1000);
    }
    {
        g_autoptr(virDomain) again = virDomainLookupByName(fixture_conn(fx), name);
        assert_non_null(again);
        assert_int_equal(virDomainIsActive(again), 1);
        if (virDomainGetID(again) == first_id)
            fail_msg("%s is running with its old domain id %u: it was never stopped", name,
                     first_id);
    }
    /* a reclaim while a stop is under way is taken at once, and waits its turn */
    json_node_unref(machine_post(fx, id, "stop"));
    {
        g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/reclaim", slug);
        g_autoptr(JsonNode) started =
            http_expect(fx, "POST", path, fx->trainer_token, NULL, NULL, 202);
        g_autoptr(JsonNode) waiting =
            http_expect(fx, "GET", machine_path, fx->trainer_token, NULL, NULL, 200);
        g_autofree gchar *pending = machine_pending(waiting);
        g_autoptr(JsonNode) job = NULL;
        g_autoptr(GHashTable) doms = NULL;
        /* said at once (it survives a crash), done after the stop */
        assert_string_equal(machine_state(waiting), "reclaiming");
        assert_string_equal(pending, "reclaim");
        job =
            cohort_test_job_wait(fx->d, fx->trainer_token,
                                 json_object_get_int_member(json_node_get_object(started), "job"));
        assert_int_equal(json_object_get_int_member(json_node_get_object(job), "failed"), 0);
        assert_int_equal(json_object_get_int_member(json_node_get_object(job), "done"), MACHINES);
        doms = libvirt_domains(fx, prefix);
        assert_int_equal(g_hash_table_size(doms), 0);
        assert_int_equal(libvirt_overlays(fx, prefix), 0);
        assert_true(libvirt_network_gone(fx, slug));
        /* and its subnet is back in the address plan */
        assert_true(cohort_subnet_freed(fx, slug));
    }
}

/* Idle machines are shut down gracefully, and their trainee can start them again. */
static void
test_lifecycle_idle_shutdown(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *slug = cohort_with_roster(fx);
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    gint64 deadline;

    provision(fx, slug);
    deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(GHashTable) doms = libvirt_domains(fx, prefix);
        GHashTableIter iter;
        gpointer active;
        guint running = 0;
        g_hash_table_iter_init(&iter, doms);
        while (g_hash_table_iter_next(&iter, NULL, &active))
            running += GPOINTER_TO_INT(active);
        if (running == 0 && g_hash_table_size(doms) == MACHINES)
            break;
        if (g_get_monotonic_time() > deadline)
            fail_msg("%u of %d idle machines still run after 90 s", running, MACHINES);
        g_usleep(500 * 1000);
    }
    {
        /* the store agrees, and the audit log says why */
        g_autoptr(JsonNode) list = machines_settled(fx, slug);
        g_autoptr(JsonNode) audit =
            http_expect(fx, "GET", "/api/v1/audit?limit=100", fx->d->admin_token, NULL, NULL, 200);
        JsonArray *array = json_node_get_array(list);
        JsonArray *entries = json_node_get_array(audit);
        guint idle_stops = 0;
        for (guint i = 0; i < json_array_get_length(array); i++) {
            JsonObject *m = json_array_get_object_element(array, i);
            assert_string_equal(json_object_get_string_member(m, "state"), "stopped");
        }
        for (guint i = 0; i < json_array_get_length(entries); i++) {
            JsonObject *e = json_array_get_object_element(entries, i);
            idle_stops +=
                g_strcmp0(json_object_get_string_member(e, "action"), "machine.idle-stop") == 0 &&
                g_strcmp0(json_object_get_string_member(e, "actor"), "system") == 0;
        }
        assert_int_equal(idle_stops, MACHINES);
    }
    reclaim_all(fx, slug);
}

/* A running machine of template tiny in the test's pool, tagged as machine @id of @owner. */
static gchar *
tagged_machine_make(Fixture *fx, const gchar *what, gint64 id, const gchar *owner)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTemplate) tmpl = cohort_test_template_load("tiny");
    g_autoptr(CohortProvisioner) prov =
        cohort_provisioner_new(fixture_conn(fx), fx->pool_name, &error);
    g_autofree gchar *cohort = g_strdup_printf("itest-%u-%s", (guint)getpid(), what);
    gchar *name = cohort_names_domain(cohort, "sok-dara", 1);
    CohortMachineSpec spec = {
        .domain_name = name,
        .machine_id = id,
        .cohort = cohort,
        .trainee = "sok-dara",
        .vnc_password = "s3cret",
        .owner = owner,
    };

    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_machine_create(prov, tmpl, &spec, &error));
    cohort_assert_no_error(error);
    return name;
}

static gboolean
libvirt_domain_exists(Fixture *fx, const gchar *name)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(fixture_conn(fx), name);
    return dom != NULL;
}

/* Issue 10: a domain with this installation's tag and no row made cohortd crash at every
 * start. Reconcile removes it (domain and overlay) and cohortd keeps running; a domain of
 * another installation, and one without a tag but with a cohort- name, stay. A second host
 * entry for this same libvirt is refused, by its URI and by its host UUID. */
static void
test_lifecycle_orphan_domain(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *instance = cohort_test_daemon_instance_id(fx->d);
    g_autofree gchar *other_owner = g_uuid_string_random();
    g_autofree gchar *ghost = NULL;
    g_autofree gchar *other = NULL;
    g_autofree gchar *plain =
        g_strdup_printf(COHORT_NAME_PREFIX "itest-%u-plain--sok-dara", (guint)getpid());
    g_autofree gchar *ghost_prefix = NULL;
    gint64 deadline;

    /* made while cohortd is stopped (it would remove the orphan half-made), found at start */
    cohort_test_daemon_stop_keep(fx->d);
    ghost = tagged_machine_make(fx, "ghost", 990001, instance);
    other = tagged_machine_make(fx, "other", 990002, other_owner);
    cohort_test_qemu_foreign_domain_start(fixture_conn(fx), plain);
    ghost_prefix = g_strconcat(ghost, ".qcow2", NULL);
    assert_int_equal(libvirt_overlays(fx, ghost_prefix), 1);
    respawn(fx, NULL);
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    /* reconcile runs at start, then every 2 s here */
    while (libvirt_domain_exists(fx, ghost) || libvirt_overlays(fx, ghost_prefix) > 0) {
        guint status = 0;
        g_autoptr(JsonNode) health =
            cohort_test_http_full(fx->d, "GET", "/healthz", NULL, NULL, NULL, TRUE, &status, NULL);
        if (status != 200)
            fail_msg("cohortd stopped answering (%u) while %s was left without a row", status,
                     ghost);
        if (g_get_monotonic_time() > deadline)
            fail_msg("%s, tagged by this installation and without a row, is still there after "
                     "60 s",
                     ghost);
        g_usleep(200 * 1000);
    }
    {
        g_autoptr(JsonNode) audit =
            http_expect(fx, "GET", "/api/v1/audit?limit=100", fx->d->admin_token, NULL, NULL, 200);
        JsonArray *entries = json_node_get_array(audit);
        guint removed = 0;
        for (guint i = 0; i < json_array_get_length(entries); i++) {
            JsonObject *e = json_array_get_object_element(entries, i);
            if (g_strcmp0(json_object_get_string_member(e, "action"), "machine.orphan-remove") != 0)
                continue;
            assert_string_equal(json_object_get_string_member(e, "target"), ghost);
            assert_string_equal(json_object_get_string_member(e, "actor"), "system");
            removed++;
        }
        assert_int_equal(removed, 1);
    }
    /* a few more rounds of reconcile: the others stay, running */
    g_usleep(5 * G_USEC_PER_SEC);
    json_node_unref(http_expect(fx, "GET", "/healthz", NULL, NULL, NULL, 200));
    {
        g_autoptr(virDomain) dom = virDomainLookupByName(fixture_conn(fx), other);
        g_autoptr(virDomain) untagged = virDomainLookupByName(fixture_conn(fx), plain);
        assert_non_null(dom);
        assert_int_equal(virDomainIsActive(dom), 1);
        assert_non_null(untagged);
        assert_int_equal(virDomainIsActive(untagged), 1);
    }

    /* the same libvirt again: by its URI (written another way), and by its host UUID */
    {
        guint status = 0;
        g_autofree gchar *raw = NULL;
        g_autoptr(JsonNode) same_uri = cohort_test_http(
            fx->d, "POST", "/api/v1/hosts", fx->d->admin_token,
            "{\"name\":\"again\",\"uri\":\"qemu+unix:///system\"}", NULL, &status, &raw);
        assert_int_equal(status, 409);
        assert_string_equal(cohort_test_error_code(same_uri), "conflict");
        cohort_assert_contains(raw, "'local'");
    }
    {
        /* another URI for the same libvirt: recorded and connected in a thread (the answer
         * says "connecting"), then never used: down, naming the host it is already */
        guint status = 0;
        g_autofree gchar *raw = NULL;
        g_autoptr(JsonNode) same_uuid = cohort_test_http(
            fx->d, "POST", "/api/v1/hosts", fx->d->admin_token,
            "{\"name\":\"again\",\"uri\":\"qemu:///system?mode=legacy\"}", NULL, &status, &raw);
        gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        const gchar *host_state = NULL;
        assert_int_equal(status, 201);
        assert_string_equal(json_object_get_string_member(json_node_get_object(same_uuid), "state"),
                            "connecting");
        for (;;) {
            g_autoptr(JsonNode) hosts =
                http_expect(fx, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, NULL, 200);
            JsonArray *list = json_node_get_array(hosts);
            for (guint i = 0; i < json_array_get_length(list); i++) {
                JsonObject *h = json_array_get_object_element(list, i);
                if (g_strcmp0(json_object_get_string_member(h, "name"), "again") != 0)
                    continue;
                host_state = json_object_get_string_member(h, "state");
                if (g_strcmp0(host_state, "down") == 0) {
                    const gchar *why = json_object_get_string_member(h, "error");
                    cohort_assert_contains(why, "'local'");
                    cohort_assert_contains(why, "UUID");
                }
            }
            if (g_strcmp0(host_state, "down") == 0)
                break;
            if (g_get_monotonic_time() > until)
                fail_msg("host 'again' is still %s after 60 s", host_state);
            g_usleep(50 * 1000);
        }
        json_node_unref(
            http_expect(fx, "DELETE", "/api/v1/hosts/again", fx->d->admin_token, NULL, NULL, 200));
    }
    {
        g_autoptr(JsonNode) hosts =
            http_expect(fx, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, NULL, 200);
        assert_int_equal(json_array_get_length(json_node_get_array(hosts)), 1);
    }

    /* what the test made itself, it removes */
    {
        g_autoptr(CohortProvisioner) prov =
            cohort_provisioner_new(fixture_conn(fx), fx->pool_name, &error);
        g_autoptr(virDomain) untagged = virDomainLookupByName(fixture_conn(fx), plain);
        cohort_assert_no_error(error);
        cohort_provisioner_set_owner(prov, other_owner);
        assert_true(cohort_provisioner_machine_teardown(prov, other, 990002, &error));
        cohort_assert_no_error(error);
        virDomainDestroy(untagged);
        assert_int_equal(virDomainUndefine(untagged), 0);
        assert_false(libvirt_domain_exists(fx, plain));
    }
}

static void
fixture_teardown_all(Fixture *fx)
{
    g_autoptr(virDomain) foreign = NULL;
    g_autofree gchar *prefix = g_strdup_printf(COHORT_NAME_PREFIX "itest-%u-", (guint)getpid());

    cohort_test_daemon_stop(fx->d);
    foreign = virDomainLookupByName(fixture_conn(fx), fx->foreign_name);
    assert_non_null(foreign);
    assert_int_equal(virDomainIsActive(foreign), 1);
    virDomainDestroy(foreign);
    virDomainUndefine(foreign);
    {
        /* leftovers count as a failure, after they are removed */
        g_autoptr(GHashTable) doms = libvirt_domains(fx, prefix);
        guint vols = libvirt_overlays(fx, prefix);
        cohort_test_qemu_remove_stale_runs(fx->conn);
        g_rmdir(fx->pool_dir);
        assert_int_equal(g_hash_table_size(doms), 0);
        assert_int_equal(vols, 0);
    }
    virStoragePoolFree(fx->pool);
    virConnectClose(fx->conn);
    g_free(fx->pool_name);
    g_free(fx->pool_dir);
    g_free(fx->foreign_name);
    g_free(fx->trainer_token);
    g_free(fx);
}

static int
fixture_teardown(void **state)
{
    fixture_teardown_all(*state);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle_crash_points, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_behind_the_back, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_libvirtd_restart, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_reaper, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_stop_then_start, fixture_setup_quick_stop,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_idle_shutdown, fixture_setup_idle,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_orphan_domain, fixture_setup,
                                        fixture_teardown),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
