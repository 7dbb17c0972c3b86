/* cohortd on two real libvirt hosts: the machine's qemu:///system ("local") and a second
 * libvirtd in a network and mount namespace of its own ("remote", reached over TCP on a veth
 * pair; run-two-hosts.sh starts it with second-libvirtd.sh, and tears it down whatever
 * happens). A base image uploaded to both with progress, the remote host lost mid-upload and
 * the upload made again when it is back; spread and pack placement; the remote libvirtd
 * killed with SIGKILL during a provisioning, the job finishing where there is room; machines
 * on the lost host shown unavailable and one moved away; the host back, reconcile removing
 * what moved away; an evacuation that copies a stopped machine's disk. Every step is checked
 * with libvirt itself on both hosts. */
#define G_LOG_DOMAIN "test-two-hosts-qemu"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cohort-test-daemon.h"
#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision.h"
#include "cohort-virt.h"

/* The same path on both hosts (each has its own /var/lib/libvirt): a copied overlay names its
 * base by path. */
#define POOL_DIR "/var/lib/libvirt/images/cohort-itest-2h"
#define IMAGE_MIB 40
#define CAPACITY 8

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virStream, virStreamFree)

typedef struct {
    virConnectPtr local;
    virConnectPtr remote;
    const gchar *remote_uri;
    const gchar *helper;
    const gchar *dir;
    gchar *pool_name;
    gchar *remote_pool_dir;
    gchar *hold_upload;
    gchar *hold_provision;
    CohortTestDaemon *d;
    gchar *trainer;
    gchar *image;
    gchar *image_sha256;
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

static const gchar *
member_string(JsonNode *node, const gchar *member)
{
    return json_object_get_string_member(json_node_get_object(node), member);
}

static gint64
member_int(JsonNode *node, const gchar *member)
{
    return json_object_get_int_member(json_node_get_object(node), member);
}

static void
helper_run(Fixture *fx, const gchar *verb)
{
    const gchar *argv[] = {fx->helper, verb, fx->dir, NULL};
    g_autoptr(GError) error = NULL;
    gint status = 0;

    if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL,
                      NULL, &status, &error) ||
        !g_spawn_check_wait_status(status, &error))
        fail_msg("second-libvirtd.sh %s: %s", verb, error->message);
    /* the test's own connection died with the daemon: a new one to the new daemon */
    if (g_strcmp0(verb, "revive") == 0) {
        virConnectClose(fx->remote);
        fx->remote = cohort_virt_connect(fx->remote_uri, &error);
        cohort_assert_no_error(error);
    }
}

/* A file of ours under the images directory: zeros first (no boot sector), then bytes that do
 * not compress, so that the upload sends them all. */
static void
image_make(Fixture *fx)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261202);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    gsize size = IMAGE_MIB * 1024 * 1024;
    g_autofree guint32 *data = g_malloc0(size);

    for (gsize i = (1024 * 1024) / 4; i < size / 4; i++)
        data[i] = g_rand_int(rand);
    fx->image = g_build_filename(fx->d->images_dir, "itest-base.img", NULL);
    assert_true(g_file_set_contents(fx->image, (const gchar *)data, (gssize)size, &error));
    cohort_assert_no_error(error);
    g_checksum_update(sum, (const guchar *)data, size);
    fx->image_sha256 = g_strdup(g_checksum_get_string(sum));
}

static void
host_wait_state(Fixture *fx, const gchar *name, const gchar *state, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    g_autofree gchar *last = NULL;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) hosts =
            http_expect(fx, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, NULL, 200);
        JsonArray *list = json_node_get_array(hosts);
        for (guint i = 0; i < json_array_get_length(list); i++) {
            JsonObject *h = json_array_get_object_element(list, i);
            if (g_strcmp0(json_object_get_string_member(h, "name"), name) != 0)
                continue;
            g_free(last);
            last = g_strdup(json_object_get_string_member(h, "state"));
        }
        if (g_strcmp0(last, state) == 0)
            return;
        g_usleep(100 * 1000);
    }
    fail_msg("host %s is still %s after %u s, not %s", name, last, timeout_s, state);
}

/* Domains on @conn whose names start with @prefix, and how many of them run. */
static guint
domains_with_prefix(virConnectPtr conn, const gchar *prefix, guint *running)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    guint count = 0;

    assert_true(n >= 0);
    if (running != NULL)
        *running = 0;
    for (int i = 0; i < n; i++) {
        if (g_str_has_prefix(virDomainGetName(doms[i]), prefix)) {
            count++;
            if (running != NULL && virDomainIsActive(doms[i]) == 1)
                (*running)++;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return count;
}

/* Volumes of @pool_name whose names start with @prefix and end with @suffix. */
static guint
volumes_with_prefix(virConnectPtr conn, const gchar *pool_name, const gchar *prefix,
                    const gchar *suffix)
{
    g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(conn, pool_name);
    virStorageVolPtr *vols = NULL;
    guint count = 0;
    int n;

    assert_non_null(pool);
    virStoragePoolRefresh(pool, 0);
    n = virStoragePoolListAllVolumes(pool, &vols, 0);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        count += g_str_has_prefix(virStorageVolGetName(vols[i]), prefix) &&
                 g_str_has_suffix(virStorageVolGetName(vols[i]), suffix);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    return count;
}

static gboolean
network_exists(virConnectPtr conn, const gchar *name)
{
    g_autoptr(virNetwork) net = virNetworkLookupByName(conn, name);
    return net != NULL;
}

/* The SHA-256 of what the host's volume holds, read back through a libvirt stream. */
static gchar *
volume_sha256(virConnectPtr conn, const gchar *pool_name, const gchar *volume)
{
    g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(conn, pool_name);
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(virStream) st = virStreamNew(conn, 0);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree gchar *buf = g_malloc(1024 * 1024);
    int got;

    assert_non_null(pool);
    vol = virStorageVolLookupByName(pool, volume);
    assert_non_null(vol);
    assert_int_equal(virStorageVolDownload(vol, st, 0, 0, 0), 0);
    while ((got = virStreamRecv(st, buf, 1024 * 1024)) > 0)
        g_checksum_update(sum, (const guchar *)buf, got);
    assert_int_equal(got, 0);
    assert_int_equal(virStreamFinish(st), 0);
    return g_strdup(g_checksum_get_string(sum));
}

static JsonNode *
job_wait(Fixture *fx, gint64 id)
{
    return cohort_test_job_wait(fx->d, fx->d->admin_token, id);
}

/* The first job after @after of @kind, once it is there. */
static gint64
job_find_after(Fixture *fx, gint64 after, const gchar *kind, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        for (gint64 id = after + 1; id < after + 20; id++) {
            g_autofree gchar *path = g_strdup_printf("/api/v1/jobs/%" G_GINT64_FORMAT, id);
            guint status = 0;
            g_autoptr(JsonNode) job =
                cohort_test_http(fx->d, "GET", path, fx->d->admin_token, NULL, NULL, &status, NULL);
            if (status != 200)
                break;
            if (g_strcmp0(member_string(job, "kind"), kind) == 0)
                return id;
        }
        g_usleep(200 * 1000);
    }
    fail_msg("no %s job after job %" G_GINT64_FORMAT " within %u s", kind, after, timeout_s);
    return 0;
}

static void
cohort_make(Fixture *fx, const gchar *slug, const gchar *tmpl, const gchar *placement, guint n)
{
    g_autofree gchar *body =
        g_strdup_printf("{\"slug\":\"%s\",\"template\":\"%s\",\"placement\":\"%s\",\"starts_at\":"
                        "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                        slug, tmpl, placement);
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/roster", slug);
    g_autoptr(GString) csv = g_string_new("login,display_name\n");

    json_node_unref(http_expect(fx, "POST", "/api/v1/cohorts", fx->trainer, body, NULL, 201));
    for (guint i = 1; i <= n; i++)
        g_string_append_printf(csv, "%s-t%u,Trainee %u\n", slug, i, i);
    json_node_unref(http_expect(fx, "PUT", path, fx->trainer, csv->str, "text/csv", 200));
}

static JsonNode *
cohort_job(Fixture *fx, const gchar *slug, const gchar *verb)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/%s", slug, verb);
    g_autoptr(JsonNode) started = http_expect(fx, "POST", path, fx->trainer, NULL, NULL, 202);
    return job_wait(fx, member_int(started, "job"));
}

/* The cohort's machines (not reclaimed), and how many each host holds. */
static JsonNode *
cohort_machines(Fixture *fx, const gchar *slug, guint *on_local, guint *on_remote)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines?cohort=%s", slug);
    JsonNode *machines = http_expect(fx, "GET", path, fx->trainer, NULL, NULL, 200);
    JsonArray *list = json_node_get_array(machines);

    *on_local = 0;
    *on_remote = 0;
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);
        *on_local += g_strcmp0(json_object_get_string_member(m, "host"), "local") == 0;
        *on_remote += g_strcmp0(json_object_get_string_member(m, "host"), "remote") == 0;
    }
    return machines;
}

static JsonNode *
machine_wait(Fixture *fx, gint64 id, const gchar *state)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        JsonNode *node = http_expect(fx, "GET", path, fx->trainer, NULL, NULL, 200);
        if (g_strcmp0(member_string(node, "state"), state) == 0)
            return node;
        json_node_unref(node);
        g_usleep(100 * 1000);
    }
    fail_msg("machine %" G_GINT64_FORMAT " never became %s", id, state);
    return NULL;
}

/* What the cohort's prefix has on a host, as libvirt says. */
static void
assert_on_host(virConnectPtr conn, const gchar *pool, const gchar *slug, guint domains,
               guint running)
{
    g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, slug, "--", NULL);
    guint up = 0;

    assert_int_equal(domains_with_prefix(conn, prefix, &up), domains);
    assert_int_equal(up, running);
    /* an overlay and a seed disc a machine, nothing else */
    assert_int_equal(volumes_with_prefix(conn, pool, prefix, ".qcow2"), domains);
    assert_int_equal(volumes_with_prefix(conn, pool, prefix, COHORT_NAMES_SEED_SUFFIX), domains);
    assert_int_equal(volumes_with_prefix(conn, pool, prefix, ""), 2 * domains);
}

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *extra = NULL;
    g_autofree gchar *hold = NULL;
    g_autofree gchar *body = NULL;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) added = NULL;
    Fixture *fx = g_new0(Fixture, 1);

    fx->remote_uri = g_getenv("COHORT_TEST_HOST2_URI");
    fx->helper = g_getenv("COHORT_TEST_HOST2_HELPER");
    fx->dir = g_getenv("COHORT_TEST_HOST2_DIR");
    if (fx->remote_uri == NULL || fx->helper == NULL || fx->dir == NULL)
        fail_msg("run through run-two-hosts.sh, which starts the second libvirtd");
    fx->local = cohort_virt_connect("qemu:///system", &error);
    cohort_assert_no_error(error);
    fx->remote = cohort_virt_connect(fx->remote_uri, &error);
    cohort_assert_no_error(error);
    cohort_test_qemu_remove_stale_runs(fx->local);
    cohort_test_qemu_remove_stale_runs(fx->remote);
    fx->pool_name = g_strdup_printf("cohort-itest-2h-%u", (guint)getpid());
    /* the second host's /var/lib/libvirt is DIR/lib, seen from here */
    fx->remote_pool_dir = g_build_filename(fx->dir, "lib/images/cohort-itest-2h", NULL);
    assert_int_equal(g_mkdir_with_parents(POOL_DIR, 0755), 0);
    assert_int_equal(g_mkdir_with_parents(fx->remote_pool_dir, 0755), 0);
    virStoragePoolFree(cohort_test_qemu_pool_create(fx->local, fx->pool_name, POOL_DIR));
    virStoragePoolFree(cohort_test_qemu_pool_create(fx->remote, fx->pool_name, POOL_DIR));

    fx->hold_upload = g_build_filename(fx->dir, "hold-upload", NULL);
    fx->hold_provision = g_build_filename(fx->dir, "hold-provision", NULL);
    hold =
        g_strdup_printf("upload-remote:%s,work-provision:%s", fx->hold_upload, fx->hold_provision);
    g_setenv("COHORT_HOLD_POINT", hold, TRUE);
    /* tiny machines have no OS to heed a graceful shutdown: forced off soon */
    extra =
        g_strdup_printf("[daemon]\nstop_timeout_s=2\n[host:local]\nuri=qemu:///system\naccel=tcg\n"
                        "pool=%s\nvcpus=%u\nmemory_mib=8192\ncpu_ratio=1\n",
                        fx->pool_name, CAPACITY);
    fx->d = cohort_test_daemon_start_with_config(extra, &error);
    g_unsetenv("COHORT_HOLD_POINT");
    cohort_assert_no_error(error);
    /* the second host through the API: the answer comes at once, the connection in a thread */
    body = g_strdup_printf("{\"name\":\"remote\",\"uri\":\"%s\",\"pool\":\"%s\",\"vcpus\":%u,"
                           "\"memory_mib\":8192,\"cpu_ratio\":1,\"accel\":\"tcg\"}",
                           fx->remote_uri, fx->pool_name, CAPACITY);
    added = http_expect(fx, "POST", "/api/v1/hosts", fx->d->admin_token, body, NULL, 201);
    assert_string_equal(member_string(added, "state"), "connecting");
    host_wait_state(fx, "remote", "up", 60);
    trainer = http_expect(fx, "POST", "/api/v1/users", fx->d->admin_token,
                          "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}",
                          NULL, 201);
    fx->trainer = g_strdup(member_string(trainer, "token"));
    image_make(fx);
    *state = fx;
    return 0;
}

/* Also when the test failed: stop cohortd, then remove what the test made on both hosts. What
 * was still there counts as a leak. */
static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    guint left_local;
    guint left_remote;
    guint subnets_left;
    gboolean net_left;

    /* the remote daemon may have been left killed by a failed step (and this process, with no
     * event loop, may not have noticed): revived, and a connection of its own */
    {
        g_autoptr(GError) error = NULL;
        const gchar *argv[] = {fx->helper, "revive", fx->dir, NULL};
        g_spawn_sync(NULL, (gchar **)argv, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL);
        virConnectClose(fx->remote);
        fx->remote = cohort_virt_connect(fx->remote_uri, &error);
        cohort_assert_no_error(error);
    }
    left_local = domains_with_prefix(fx->local, COHORT_NAME_PREFIX "itest-", NULL);
    left_remote = domains_with_prefix(fx->remote, COHORT_NAME_PREFIX "itest-", NULL);
    net_left = network_exists(fx->local, COHORT_NAME_PREFIX "itest-spread") ||
               network_exists(fx->remote, COHORT_NAME_PREFIX "itest-spread");

    subnets_left = cohort_test_daemon_subnets_held(fx->d);
    g_unlink(fx->hold_upload);
    g_unlink(fx->hold_provision);
    cohort_test_daemon_stop(fx->d);
    cohort_test_qemu_remove_stale_runs(fx->local);
    cohort_test_qemu_remove_stale_runs(fx->remote);
    g_rmdir(POOL_DIR);
    g_rmdir(fx->remote_pool_dir);
    assert_int_equal(left_local, 0);
    assert_int_equal(left_remote, 0);
    assert_false(net_left);
    assert_int_equal(subnets_left, 0);
    virConnectClose(fx->local);
    virConnectClose(fx->remote);
    g_free(fx->pool_name);
    g_free(fx->remote_pool_dir);
    g_free(fx->hold_upload);
    g_free(fx->hold_provision);
    g_free(fx->trainer);
    g_free(fx->image);
    g_free(fx->image_sha256);
    g_free(fx);
    return 0;
}

/* The base image to both hosts, with progress; the remote host lost mid-upload: the job says
 * so, the partial base is never used, and it is uploaded again, whole, when the host is back
 * (checked by reading it back from each host). */
static void
base_upload(Fixture *fx)
{
    g_autofree gchar *body = g_strdup_printf("{\"path\":\"%s\"}", fx->image);
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) sync = NULL;
    g_autofree gchar *job_path = NULL;
    g_autofree gchar *local_sum = NULL;
    g_autofree gchar *remote_sum = NULL;
    JsonObject *progress;
    JsonArray *errors;
    gint64 deadline;
    gint64 sync_id;
    gboolean held = FALSE;
    const gint64 size = (gint64)IMAGE_MIB * 1024 * 1024;

    assert_true(g_file_set_contents(fx->hold_upload, "", 0, NULL));
    started =
        http_expect(fx, "POST", "/api/v1/templates/tiny/base", fx->d->admin_token, body, NULL, 202);
    job_path = g_strdup_printf("/api/v1/jobs/%" G_GINT64_FORMAT, member_int(started, "job"));
    /* the remote upload waits after its first bytes, the local one ends: progress says both */
    deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    while (!held && g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) now =
            http_expect(fx, "GET", job_path, fx->d->admin_token, NULL, NULL, 200);
        JsonArray *items;
        gint64 remote_bytes = 0;
        const gchar *local_state = NULL;
        progress = json_object_get_object_member(json_node_get_object(now), "progress");
        items = json_object_get_array_member(progress, "items");
        for (guint i = 0; i < json_array_get_length(items); i++) {
            JsonObject *it = json_array_get_object_element(items, i);
            if (g_strcmp0(json_object_get_string_member(it, "host"), "remote") == 0)
                remote_bytes = json_object_get_int_member(it, "bytes_done");
            else
                local_state = json_object_get_string_member(it, "state");
        }
        if (remote_bytes > 0 && g_strcmp0(local_state, "done") == 0) {
            held = TRUE;
            assert_string_equal(member_string(now, "state"), "running");
            assert_int_equal(json_object_get_int_member(progress, "bytes_total"), 2 * size);
            assert_true(json_object_get_int_member(progress, "bytes_done") >= size + remote_bytes);
            assert_true(json_object_get_int_member(progress, "bytes_done") < 2 * size);
            assert_true(json_object_get_int_member(progress, "rate_bytes_per_s") > 0);
            assert_false(json_object_get_null_member(progress, "eta_s"));
        }
        g_usleep(50 * 1000);
    }
    assert_true(held);
    helper_run(fx, "kill");
    g_unlink(fx->hold_upload);
    job = job_wait(fx, member_int(started, "job"));
    assert_int_equal(member_int(job, "done"), 1);
    assert_int_equal(member_int(job, "failed"), 1);
    errors = json_object_get_array_member(json_node_get_object(job), "errors");
    assert_int_equal(json_array_get_length(errors), 1);
    assert_string_equal(
        json_object_get_string_member(json_array_get_object_element(errors, 0), "host"), "remote");
    assert_string_equal(
        json_object_get_string_member(json_array_get_object_element(errors, 0), "code"),
        "host-unavailable");
    host_wait_state(fx, "remote", "down", 60);

    /* back: the cut upload is made again from the start, and checked */
    helper_run(fx, "revive");
    sync_id = job_find_after(fx, member_int(started, "job"), "base-sync", 120);
    sync = job_wait(fx, sync_id);
    assert_int_equal(member_int(sync, "done"), 1);
    assert_int_equal(member_int(sync, "failed"), 0);
    progress = json_object_get_object_member(json_node_get_object(sync), "progress");
    assert_int_equal(json_object_get_int_member(progress, "bytes_done"), size);
    g_print("# figures: base image of %u MiB uploaded to the second host (qemu+tcp over a veth) "
            "at %.1f MiB/s\n",
            IMAGE_MIB,
            (gdouble)json_object_get_int_member(progress, "rate_bytes_per_s") / (1024 * 1024));
    local_sum = volume_sha256(fx->local, fx->pool_name, "tiny-base.qcow2");
    remote_sum = volume_sha256(fx->remote, fx->pool_name, "tiny-base.qcow2");
    assert_string_equal(local_sum, fx->image_sha256);
    assert_string_equal(remote_sum, fx->image_sha256);
    {
        g_autoptr(JsonNode) tmpl =
            http_expect(fx, "GET", "/api/v1/templates/tiny", fx->d->admin_token, NULL, NULL, 200);
        JsonArray *hosts = json_object_get_array_member(json_node_get_object(tmpl), "hosts");
        for (guint i = 0; i < json_array_get_length(hosts); i++)
            assert_true(json_object_get_boolean_member(json_array_get_object_element(hosts, i),
                                                       "has_base"));
    }
}

/* 12 trainees: spread lands 6 and 6 (with the cohort's network on both hosts); pack fills the
 * first host up to what it allows, then the other. */
static void
spread_and_pack(Fixture *fx)
{
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) machines = NULL;
    g_autoptr(JsonNode) reclaimed = NULL;
    guint on_local = 0;
    guint on_remote = 0;
    gint64 t0;

    cohort_make(fx, "itest-spread", "tiny-lan", "spread", 12);
    t0 = g_get_monotonic_time();
    job = cohort_job(fx, "itest-spread", "provision");
    g_print("# figures: 12 machines over two hosts (spread), provision request to all running: "
            "%.2f s\n",
            (gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    assert_int_equal(member_int(job, "done"), 12);
    machines = cohort_machines(fx, "itest-spread", &on_local, &on_remote);
    assert_int_equal(on_local, 6);
    assert_int_equal(on_remote, 6);
    assert_on_host(fx->local, fx->pool_name, "itest-spread", 6, 6);
    assert_on_host(fx->remote, fx->pool_name, "itest-spread", 6, 6);
    assert_true(network_exists(fx->local, COHORT_NAME_PREFIX "itest-spread"));
    assert_true(network_exists(fx->remote, COHORT_NAME_PREFIX "itest-spread"));
    reclaimed = cohort_job(fx, "itest-spread", "reclaim");
    assert_int_equal(member_int(reclaimed, "done"), 12);
    assert_on_host(fx->local, fx->pool_name, "itest-spread", 0, 0);
    assert_on_host(fx->remote, fx->pool_name, "itest-spread", 0, 0);
    assert_false(network_exists(fx->local, COHORT_NAME_PREFIX "itest-spread"));
    assert_false(network_exists(fx->remote, COHORT_NAME_PREFIX "itest-spread"));

    g_clear_pointer(&job, json_node_unref);
    g_clear_pointer(&machines, json_node_unref);
    g_clear_pointer(&reclaimed, json_node_unref);
    cohort_make(fx, "itest-pack", "tiny", "pack", 12);
    job = cohort_job(fx, "itest-pack", "provision");
    assert_int_equal(member_int(job, "done"), 12);
    machines = cohort_machines(fx, "itest-pack", &on_local, &on_remote);
    assert_int_equal(on_local, CAPACITY);
    assert_int_equal(on_remote, 12 - CAPACITY);
    assert_on_host(fx->local, fx->pool_name, "itest-pack", CAPACITY, CAPACITY);
    assert_on_host(fx->remote, fx->pool_name, "itest-pack", 12 - CAPACITY, 12 - CAPACITY);
    reclaimed = cohort_job(fx, "itest-pack", "reclaim");
    assert_int_equal(member_int(reclaimed, "done"), 12);
    assert_on_host(fx->local, fx->pool_name, "itest-pack", 0, 0);
    assert_on_host(fx->remote, fx->pool_name, "itest-pack", 0, 0);
}

static gint64
machine_of(JsonNode *machines, const gchar *trainee)
{
    JsonArray *list = json_node_get_array(machines);

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);
        if (g_strcmp0(json_object_get_string_member(m, "trainee"), trainee) == 0)
            return json_object_get_int_member(m, "id");
    }
    fail_msg("no machine of %s", trainee);
    return 0;
}

/* The remote libvirtd killed with SIGKILL while a cohort is provisioned: the job finishes on the
 * local host as far as it has room and reports the rest; machines left on the lost host show
 * host-unavailable, and one is moved away with the warning that its disk stays there; the host
 * back, reconcile removes what moved away; an evacuation copies a stopped machine's disk. */
static void
host_lost(Fixture *fx)
{
    g_autoptr(JsonNode) stay = NULL;
    g_autoptr(JsonNode) lost = NULL;
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) moved = NULL;
    g_autoptr(JsonNode) settled = NULL;
    g_autoptr(JsonNode) evacuated = NULL;
    g_autofree gchar *path = NULL;
    guint on_local = 0;
    guint on_remote = 0;
    guint lost_local = 0;
    guint lost_remote = 0;
    guint room;
    gint64 stay1;
    gint64 stay2;

    /* two machines on the remote host: the local one drains meanwhile */
    cohort_make(fx, "itest-stay", "tiny", "spread", 2);
    json_node_unref(
        http_expect(fx, "POST", "/api/v1/hosts/local/drain", fx->d->admin_token, NULL, NULL, 200));
    json_node_unref(cohort_job(fx, "itest-stay", "provision"));
    json_node_unref(http_expect(fx, "POST", "/api/v1/hosts/local/undrain", fx->d->admin_token, NULL,
                                NULL, 200));
    stay = cohort_machines(fx, "itest-stay", &on_local, &on_remote);
    assert_int_equal(on_remote, 2);
    stay1 = machine_of(stay, "itest-stay-t1");
    stay2 = machine_of(stay, "itest-stay-t2");

    /* the provisioning holds before its first libvirt call; its rows are placed already */
    cohort_make(fx, "itest-lost", "tiny", "spread", 12);
    assert_true(g_file_set_contents(fx->hold_provision, "", 0, NULL));
    path = g_strdup("/api/v1/cohorts/itest-lost/provision");
    started = http_expect(fx, "POST", path, fx->trainer, NULL, NULL, 202);
    lost = cohort_machines(fx, "itest-lost", &lost_local, &lost_remote);
    assert_int_equal(lost_local + lost_remote, 12);
    assert_true(lost_local > 0 && lost_remote > 0);
    helper_run(fx, "kill");
    host_wait_state(fx, "remote", "down", 60);
    g_unlink(fx->hold_provision);
    job = job_wait(fx, member_int(started, "job"));
    /* those of the lost host go to the local one while it has room; the rest are reported */
    room = MIN(lost_remote, CAPACITY - lost_local);
    assert_int_equal(member_int(job, "done"), lost_local + room);
    assert_int_equal(member_int(job, "failed"), lost_remote - room);
    assert_true(lost_remote - room > 0);
    {
        JsonArray *errors = json_object_get_array_member(json_node_get_object(job), "errors");
        JsonObject *e = json_array_get_object_element(errors, 0);
        assert_int_equal(json_array_get_length(errors), lost_remote - room);
        assert_string_equal(json_object_get_string_member(e, "code"), "no-capacity");
        cohort_assert_contains(json_object_get_string_member(e, "message"),
                               "its host was lost while it was made");
        cohort_assert_contains(json_object_get_string_member(e, "message"), "local: vCPUs full");
    }
    assert_on_host(fx->local, fx->pool_name, "itest-lost", CAPACITY, CAPACITY);

    /* what lives on the lost host is unavailable, whatever it was */
    g_clear_pointer(&settled, json_node_unref);
    settled = machine_wait(fx, stay1, "host-unavailable");
    assert_string_equal(member_string(settled, "last_state"), "running");
    assert_string_equal(member_string(settled, "host_state"), "down");
    /* room for it on the local host, then away from the lost one: made anew, with a warning */
    {
        JsonArray *list = json_node_get_array(lost);
        g_autofree gchar *release = NULL;
        gint64 victim = 0;
        g_autoptr(JsonNode) machines = cohort_machines(fx, "itest-lost", &on_local, &on_remote);
        list = json_node_get_array(machines);
        for (guint i = 0; i < json_array_get_length(list) && victim == 0; i++) {
            JsonObject *m = json_array_get_object_element(list, i);
            if (g_strcmp0(json_object_get_string_member(m, "host"), "local") == 0)
                victim = json_object_get_int_member(m, "id");
        }
        release = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, victim);
        json_node_unref(http_expect(fx, "DELETE", release, fx->trainer, NULL, NULL, 202));
        json_node_unref(machine_wait(fx, victim, "reclaimed"));
    }
    g_free(path);
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/move", stay1);
    moved = http_expect(fx, "POST", path, fx->trainer, "{}", NULL, 202);
    assert_string_equal(member_string(moved, "to"), "local");
    assert_true(json_object_get_boolean_member(json_node_get_object(moved), "fresh"));
    cohort_assert_contains(member_string(moved, "warning"), "host remote is down");
    cohort_assert_contains(member_string(moved, "warning"), "stays on remote");
    g_clear_pointer(&settled, json_node_unref);
    settled = machine_wait(fx, stay1, "running");
    assert_string_equal(member_string(settled, "host"), "local");
    assert_on_host(fx->local, fx->pool_name, "itest-stay", 1, 1);

    /* back: reconcile removes what moved away; what stayed runs on */
    helper_run(fx, "revive");
    host_wait_state(fx, "remote", "up", 120);
    {
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, "itest-stay--", NULL);
        while (domains_with_prefix(fx->remote, prefix, NULL) > 1 &&
               g_get_monotonic_time() < deadline)
            g_usleep(100 * 1000);
    }
    assert_on_host(fx->remote, fx->pool_name, "itest-stay", 1, 1);
    assert_on_host(fx->remote, fx->pool_name, "itest-lost", 0, 0);
    assert_on_host(fx->local, fx->pool_name, "itest-stay", 1, 1);
    g_clear_pointer(&settled, json_node_unref);
    settled = machine_wait(fx, stay2, "running");
    assert_string_equal(member_string(settled, "host"), "remote");
    json_node_unref(cohort_job(fx, "itest-lost", "reclaim"));
    assert_on_host(fx->local, fx->pool_name, "itest-lost", 0, 0);

    /* an evacuation: the stopped machine moves with its disk, copied through streams */
    g_free(path);
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/stop", stay2);
    json_node_unref(http_expect(fx, "POST", path, fx->trainer, NULL, NULL, 202));
    json_node_unref(machine_wait(fx, stay2, "stopped"));
    evacuated = http_expect(fx, "POST", "/api/v1/hosts/remote/evacuate", fx->d->admin_token, NULL,
                            NULL, 202);
    assert_int_equal(member_int(evacuated, "machines"), 1);
    assert_int_equal(member_int(evacuated, "copied"), 1);
    g_clear_pointer(&job, json_node_unref);
    job = job_wait(fx, member_int(evacuated, "job"));
    assert_int_equal(member_int(job, "done"), 1);
    assert_true(json_object_get_int_member(
                    json_object_get_object_member(json_node_get_object(job), "progress"),
                    "bytes_done") > 0);
    g_clear_pointer(&settled, json_node_unref);
    settled = machine_wait(fx, stay2, "stopped");
    assert_string_equal(member_string(settled, "host"), "local");
    {
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, "itest-stay--", NULL);
        while (domains_with_prefix(fx->remote, prefix, NULL) > 0 &&
               g_get_monotonic_time() < deadline)
            g_usleep(100 * 1000);
    }
    assert_on_host(fx->remote, fx->pool_name, "itest-stay", 0, 0);
    assert_on_host(fx->local, fx->pool_name, "itest-stay", 2, 1);
    g_free(path);
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/start", stay2);
    json_node_unref(http_expect(fx, "POST", path, fx->trainer, NULL, NULL, 202));
    g_clear_pointer(&settled, json_node_unref);
    settled = machine_wait(fx, stay2, "running");
    assert_on_host(fx->local, fx->pool_name, "itest-stay", 2, 2);
    json_node_unref(http_expect(fx, "POST", "/api/v1/hosts/remote/undrain", fx->d->admin_token,
                                NULL, NULL, 200));
    json_node_unref(cohort_job(fx, "itest-stay", "reclaim"));
    assert_on_host(fx->local, fx->pool_name, "itest-stay", 0, 0);
    assert_on_host(fx->remote, fx->pool_name, "itest-stay", 0, 0);
}

static void
test_two_hosts(void **state)
{
    Fixture *fx = *state;

    base_upload(fx);
    spread_and_pack(fx);
    host_lost(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_hosts, fixture_setup, fixture_teardown),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
