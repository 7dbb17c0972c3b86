/* The API with real HTTP against a real cohortd on a random loopback port (test driver). */
#define G_LOG_DOMAIN "test-api"

#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/socket.h>
#include <sqlite3.h>

#include "cohort-test-daemon.h"
#include "cohort-test.h"

#include "cohort-xml.h"

#define ROSTER COHORT_TEST_DATADIR "/rosters/ssc-cloud-computing-2022.csv"

typedef struct {
    CohortTestDaemon *d;
    gchar *trainer_token;
} Fixture;

static JsonNode *
http_ok(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
        const gchar *body, guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node = cohort_test_http(d, method, path, token, body, NULL, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    assert_non_null(node);
    return node;
}

/* The error code of a request that must fail with @expect. */
static void
http_fails(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
           const gchar *body, guint expect, const gchar *code)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) node = cohort_test_http(d, method, path, token, body, NULL, &status, &raw);

    if (status != expect || g_strcmp0(cohort_test_error_code(node), code) != 0)
        fail_msg("%s %s: expected %u %s, got %u: %s", method, path, expect, code, status, raw);
    /* every error has a message a person can act on */
    assert_true(
        strlen(json_object_get_string_member(
            json_object_get_object_member(json_node_get_object(node), "error"), "message")) > 10);
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

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) user = NULL;
    g_autoptr(JsonNode) base = NULL;
    Fixture *fx = g_new0(Fixture, 1);

    fx->d = cohort_test_daemon_start(&error);
    cohort_assert_no_error(error);
    user = http_ok(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                   "{\"login\":\"trainer1\",\"display_name\":\"Trainer One\",\"role\":\"trainer\"}",
                   201);
    fx->trainer_token = g_strdup(member_string(user, "token"));
    base = cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}");
    *state = fx;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    cohort_test_daemon_stop(fx->d);
    g_free(fx->trainer_token);
    g_free(fx);
    return 0;
}

static void
cohort_create(Fixture *fx, const gchar *slug, guint machines)
{
    g_autofree gchar *body = g_strdup_printf(
        "{\"slug\":\"%s\",\"title\":\"Cloud computing\",\"template\":\"tiny\","
        "\"starts_at\":\"2026-01-01T08:00:00Z\",\"ends_at\":\"2099-12-12T17:00:00+07:00\","
        "\"quota\":{\"machines\":%u}}",
        slug, machines);
    g_autoptr(JsonNode) node =
        http_ok(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token, body, 201);

    assert_string_equal(member_string(node, "slug"), slug);
    assert_string_equal(member_string(node, "state"), "active");
    assert_string_equal(member_string(node, "trainer"), "trainer1");
    /* times come back normalized to UTC */
    assert_string_equal(member_string(node, "ends_at"), "2099-12-12T10:00:00Z");
}

static JsonNode *
roster_load(Fixture *fx, const gchar *slug, const gchar *csv, guint expect)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/roster", slug);
    g_autofree gchar *raw = NULL;
    guint status = 0;
    JsonNode *node =
        cohort_test_http(fx->d, "PUT", path, fx->trainer_token, csv, "text/csv", &status, &raw);
    if (status != expect)
        fail_msg("roster: expected %u, got %u: %s", expect, status, raw);
    return node;
}

static gint64
job_of(JsonNode *node)
{
    return member_int(node, "job");
}

/* The trainer's day: cohort, 86-trainee roster, provision all, look, reclaim all. */
static void
test_api_trainer_flow(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *csv = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) hosts = NULL;
    g_autoptr(JsonNode) machines = NULL;
    g_autoptr(GHashTable) codes = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *invitations;
    JsonArray *trainees;

    assert_true(g_file_get_contents(ROSTER, &csv, NULL, &error));
    cohort_create(fx, "cloud-101", 1);
    roster = roster_load(fx, "cloud-101", csv, 200);
    assert_int_equal(member_int(roster, "enrolled"), 86);
    invitations = json_object_get_array_member(json_node_get_object(roster), "invitations");
    assert_int_equal(json_array_get_length(invitations), 86);
    for (guint i = 0; i < 86; i++) {
        JsonObject *inv = json_array_get_object_element(invitations, i);
        g_hash_table_add(codes, (gpointer)json_object_get_string_member(inv, "code"));
    }
    assert_int_equal(g_hash_table_size(codes), 86); /* one code each, all different */
    {
        /* loading the same roster again enrols nobody twice and hands out no new code */
        g_autoptr(JsonNode) again = roster_load(fx, "cloud-101", csv, 200);
        assert_int_equal(member_int(again, "enrolled"), 0);
        assert_int_equal(json_array_get_length(json_object_get_array_member(
                             json_node_get_object(again), "invitations")),
                         0);
    }

    {
        g_autoptr(JsonNode) started = http_ok(fx->d, "POST", "/api/v1/cohorts/cloud-101/provision",
                                              fx->trainer_token, NULL, 202);
        job = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(started));
    }
    assert_string_equal(member_string(job, "state"), "done");
    assert_int_equal(member_int(job, "total"), 86);
    assert_int_equal(member_int(job, "done"), 86);
    assert_int_equal(member_int(job, "failed"), 0);

    cohort = http_ok(fx->d, "GET", "/api/v1/cohorts/cloud-101", fx->trainer_token, NULL, 200);
    trainees = json_object_get_array_member(json_node_get_object(cohort), "trainees");
    assert_int_equal(json_array_get_length(trainees), 86);
    for (guint i = 0; i < 86; i++) {
        JsonObject *t = json_array_get_object_element(trainees, i);
        JsonArray *own = json_object_get_array_member(t, "machines");
        assert_int_equal(json_array_get_length(own), 1);
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(own, 0), "state"),
            "running");
    }
    /* written a trainee at a time, the answer is byte for byte what json-glib writes for the
     * whole tree */
    {
        g_autofree gchar *raw = NULL;
        g_autofree gchar *whole = NULL;
        g_autoptr(JsonGenerator) gen = json_generator_new();
        guint status = 0;
        g_autoptr(JsonNode) again = cohort_test_http(fx->d, "GET", "/api/v1/cohorts/cloud-101",
                                                     fx->trainer_token, NULL, NULL, &status, &raw);
        assert_int_equal(status, 200);
        json_generator_set_root(gen, again);
        whole = json_generator_to_data(gen, NULL);
        assert_string_equal(raw, whole);
        assert_non_null(strstr(raw, ",\"trainees\":[{\"login\":"));
        assert_true(g_str_has_suffix(raw, "]}]}"));
    }
    hosts = http_ok(fx->d, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, 200);
    assert_int_equal(
        json_object_get_int_member(json_array_get_object_element(json_node_get_array(hosts), 0),
                                   "used_vcpus"),
        86);
    {
        /* provisioning again makes nothing: everyone has a machine */
        g_autoptr(JsonNode) started = http_ok(fx->d, "POST", "/api/v1/cohorts/cloud-101/provision",
                                              fx->trainer_token, NULL, 202);
        g_autoptr(JsonNode) second =
            cohort_test_job_wait(fx->d, fx->trainer_token, job_of(started));
        assert_int_equal(member_int(second, "total"), 0);
    }

    {
        g_autoptr(JsonNode) started = http_ok(fx->d, "POST", "/api/v1/cohorts/cloud-101/reclaim",
                                              fx->trainer_token, NULL, 202);
        g_autoptr(JsonNode) reclaim = NULL;
        g_autofree gchar *metrics = NULL;
        const gchar *pending;
        guint status = 0;

        /* the 86 teardowns go to the workers 64 ahead of their results, not all at once: a
         * reclaim's queued copies were the top of cohortd's peak while every domain was up */
        assert_null(
            cohort_test_http(fx->d, "GET", "/metrics", NULL, NULL, NULL, &status, &metrics));
        assert_int_equal(status, 200);
        pending = strstr(metrics, "\ncohort_work_pending ");
        assert_non_null(pending);
        assert_true(g_ascii_strtoull(pending + strlen("\ncohort_work_pending "), NULL, 10) <= 64);
        reclaim = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(started));
        assert_string_equal(member_string(reclaim, "kind"), "reclaim");
        assert_int_equal(member_int(reclaim, "done"), 86);
        assert_int_equal(member_int(reclaim, "failed"), 0);
    }
    machines =
        http_ok(fx->d, "GET", "/api/v1/machines?cohort=cloud-101", fx->trainer_token, NULL, 200);
    assert_int_equal(json_array_get_length(json_node_get_array(machines)), 0);
    {
        g_autoptr(JsonNode) after =
            http_ok(fx->d, "GET", "/api/v1/cohorts/cloud-101", fx->trainer_token, NULL, 200);
        g_autoptr(JsonNode) hosts_after =
            http_ok(fx->d, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, 200);
        assert_string_equal(member_string(after, "state"), "reclaimed");
        assert_int_equal(
            json_object_get_int_member(
                json_array_get_object_element(json_node_get_array(hosts_after), 0), "used_vcpus"),
            0);
    }
    /* a reclaimed cohort takes no new machines */
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-101/provision", fx->trainer_token, NULL, 409,
               "conflict");
}

/* Wait until machine @id is in @state (workers run asynchronously). */
static JsonNode *
machine_wait(CohortTestDaemon *d, const gchar *token, gint64 id, const gchar *state)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        JsonNode *node = http_ok(d, "GET", path, token, NULL, 200);
        if (g_strcmp0(member_string(node, "state"), state) == 0)
            return node;
        json_node_unref(node);
        g_usleep(20 * 1000);
    }
    fail_msg("machine %" G_GINT64_FORMAT " never became %s", id, state);
    return NULL;
}

static gchar *
redeem(Fixture *fx, const gchar *code, const gchar *expect_login)
{
    g_autofree gchar *body = g_strdup_printf("{\"code\":\"%s\"}", code);
    g_autoptr(JsonNode) node = http_ok(fx->d, "POST", "/api/v1/redeem", NULL, body, 200);

    assert_string_equal(member_string(node, "login"), expect_login);
    return g_strdup(member_string(node, "token"));
}

static void
machine_op(CohortTestDaemon *d, const gchar *token, gint64 id, const gchar *op,
           const gchar *transitional)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/%s", id, op);
    g_autoptr(JsonNode) node = http_ok(d, "POST", path, token, NULL, 202);
    assert_string_equal(member_string(node, "state"), transitional);
}

/* A trainee's life: redeem, request within quota, operate, console, reset, release. */
static void
test_api_trainee_flow(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) requested = NULL;
    g_autoptr(JsonNode) running = NULL;
    g_autoptr(JsonNode) who = NULL;
    g_autoptr(JsonNode) console = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *code = NULL;
    g_autofree gchar *body = NULL;
    gint64 id;

    cohort_create(fx, "cloud-102", 1);
    roster = roster_load(fx, "cloud-102",
                         "login,display_name,institute,role,email\n"
                         "sok-dara,\"ស៊ុន ដារ៉ា (Sok Dara)\",NPIA,student,sd@example.edu\n"
                         "obrien,\"O'Brien <\"\"&\"\"> ស៊ុន\",DIT,lecturer,\n",
                         200);
    code = g_strdup(json_object_get_string_member(
        json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(roster), "invitations"), 1),
        "code"));
    /* codes are typed by people: lower case and spaces work too */
    {
        g_autofree gchar *typed = g_ascii_strdown(code, -1);
        g_strdelimit(typed, "-", ' ');
        token = redeem(fx, typed, "obrien");
    }
    /* once only */
    body = g_strdup_printf("{\"code\":\"%s\"}", code);
    http_fails(fx->d, "POST", "/api/v1/redeem", NULL, body, 404, "not-found");

    who = http_ok(fx->d, "GET", "/api/v1/whoami", token, NULL, 200);
    assert_string_equal(member_string(who, "role"), "trainee");
    /* the hostile display name is data, byte for byte */
    assert_string_equal(member_string(who, "display_name"), "O'Brien <\"&\"> ស៊ុន");

    requested =
        http_ok(fx->d, "POST", "/api/v1/machines", token, "{\"cohort\":\"cloud-102\"}", 202);
    assert_string_equal(member_string(requested, "state"), "provisioning");
    assert_string_equal(member_string(requested, "name"), "cohort-cloud-102--obrien");
    assert_string_equal(member_string(requested, "trainee"), "obrien");
    id = member_int(requested, "id");
    running = machine_wait(fx->d, token, id, "running");
    assert_string_equal(member_string(running, "host"), "lab");
    /* the request's answer is written from what it wrote, not read back: the same machine as
     * it is read later, but for what the work since changed */
    {
        static const gchar *const changed[] = {"state", "pending", NULL};
        JsonObject *before = json_node_get_object(requested);
        JsonObject *after = json_node_get_object(running);
        g_autoptr(GList) members = json_object_get_members(before);

        assert_int_equal(json_object_get_size(before), json_object_get_size(after));
        for (GList *l = members; l != NULL; l = l->next) {
            if (g_strv_contains(changed, l->data))
                continue;
            if (!json_node_equal(json_object_get_member(before, l->data),
                                 json_object_get_member(after, l->data)))
                fail_msg("\"%s\" differs between the request's answer and a read",
                         (const gchar *)l->data);
        }
    }
    /* the test driver has no guest agent: running, not ready, no address known */
    assert_false(json_object_get_boolean_member(json_node_get_object(requested), "ready"));
    assert_false(json_object_get_boolean_member(json_node_get_object(running), "ready"));
    assert_true(json_object_get_null_member(json_node_get_object(running), "ready_at"));
    assert_int_equal(json_array_get_length(
                         json_object_get_array_member(json_node_get_object(running), "addresses")),
                     0);
    /* quota: one machine */
    http_fails(fx->d, "POST", "/api/v1/machines", token, "{\"cohort\":\"cloud-102\"}", 409,
               "quota-exceeded");
    {
        /* the request and its refusal are audited (the row and its record share a commit; a
         * refused request rolls back and records its refusal alone), and the refusal left no
         * row */
        g_autoptr(JsonNode) audit =
            http_ok(fx->d, "GET", "/api/v1/audit?limit=50", fx->d->admin_token, NULL, 200);
        g_autoptr(JsonNode) mine = http_ok(fx->d, "GET", "/api/v1/machines", token, NULL, 200);
        JsonArray *entries = json_node_get_array(audit);
        JsonObject *last = json_array_get_object_element(entries, 0);
        gboolean requested_audited = FALSE;

        assert_string_equal(json_object_get_string_member(last, "action"), "machine.request");
        assert_string_equal(json_object_get_string_member(last, "target"), "cloud-102");
        assert_string_equal(json_object_get_string_member(last, "result"), "quota-exceeded");
        for (guint i = 1; i < json_array_get_length(entries); i++) {
            JsonObject *e = json_array_get_object_element(entries, i);
            if (g_strcmp0(json_object_get_string_member(e, "action"), "machine.request") == 0 &&
                g_strcmp0(json_object_get_string_member(e, "target"), "cohort-cloud-102--obrien") ==
                    0 &&
                g_strcmp0(json_object_get_string_member(e, "result"), "ok") == 0)
                requested_audited = TRUE;
        }
        assert_true(requested_audited);
        assert_int_equal(json_array_get_length(json_node_get_array(mine)), 1);
    }
    /* not someone else's cohort, nor a machine for someone else */
    http_fails(fx->d, "POST", "/api/v1/machines", token,
               "{\"cohort\":\"cloud-102\",\"trainee\":\"sok-dara\"}", 403, "forbidden");

    /* what is true: the stop is asked for, the machine is stopped when libvirt says so */
    machine_op(fx->d, token, id, "stop", "stopping");
    json_node_unref(machine_wait(fx->d, token, id, "stopped"));
    {
        /* no console of a stopped machine */
        g_autofree gchar *path =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
        http_fails(fx->d, "GET", path, token, NULL, 409, "conflict");
    }
    machine_op(fx->d, token, id, "start", "starting");
    json_node_unref(machine_wait(fx->d, token, id, "running"));
    machine_op(fx->d, token, id, "reboot", "rebooting");
    json_node_unref(machine_wait(fx->d, token, id, "running"));
    {
        g_autofree gchar *path =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
        console = http_ok(fx->d, "GET", path, token, NULL, 200);
        assert_string_equal(member_string(console, "host"), "127.0.0.1");
        assert_int_equal(strlen(member_string(console, "password")), 8);
        /* the guest account the seed made, named after the login, and its own password */
        assert_string_equal(member_string(console, "guest_user"), "obrien");
        assert_int_equal(strlen(member_string(console, "guest_password")), 16);
        assert_string_not_equal(member_string(console, "guest_password"),
                                member_string(console, "password"));
    }
    machine_op(fx->d, token, id, "reset", "resetting");
    json_node_unref(machine_wait(fx->d, token, id, "running"));
    {
        /* a reset gives the guest a new password; it stays across a restart otherwise */
        g_autofree gchar *path =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
        g_autoptr(JsonNode) after = http_ok(fx->d, "GET", path, token, NULL, 200);
        g_autoptr(JsonNode) again = http_ok(fx->d, "GET", path, token, NULL, 200);
        assert_string_equal(member_string(after, "guest_user"), "obrien");
        assert_string_not_equal(member_string(after, "guest_password"),
                                member_string(console, "guest_password"));
        assert_string_equal(member_string(after, "guest_password"),
                            member_string(again, "guest_password"));
    }
    {
        /* release: DELETE, then the machine is gone from lists, the quota is free again */
        g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
        g_autoptr(JsonNode) released = http_ok(fx->d, "DELETE", path, token, NULL, 202);
        g_autoptr(JsonNode) list = NULL;
        g_autoptr(JsonNode) again = NULL;
        assert_string_equal(member_string(released, "state"), "reclaiming");
        json_node_unref(machine_wait(fx->d, token, id, "reclaimed"));
        list = http_ok(fx->d, "GET", "/api/v1/machines", token, NULL, 200);
        assert_int_equal(json_array_get_length(json_node_get_array(list)), 0);
        again =
            http_ok(fx->d, "POST", "/api/v1/machines", token, "{\"cohort\":\"cloud-102\"}", 202);
        /* names are never reused */
        assert_string_equal(member_string(again, "name"), "cohort-cloud-102--obrien--2");
        json_node_unref(machine_wait(fx->d, token, member_int(again, "id"), "running"));
    }
}

#define KEY_ED25519                                                                                \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
#define KEY_RSA "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7"

/* A trainee's SSH keys: set, read, replaced, checked; their own or an admin's for them. */
static void
test_api_ssh_keys(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) set = NULL;
    g_autoptr(JsonNode) got = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *other = NULL;
    g_autofree gchar *many = NULL;
    JsonArray *keys;
    JsonArray *fps;

    cohort_create(fx, "keys-101", 1);
    roster = roster_load(fx, "keys-101", "login,display_name\nkey-own,Own\nkey-other,Other\n", 200);
    for (guint i = 0; i < 2; i++) {
        JsonObject *inv = json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(roster), "invitations"), i);
        const gchar *login = json_object_get_string_member(inv, "login");
        gchar *t = redeem(fx, json_object_get_string_member(inv, "code"), login);
        if (g_strcmp0(login, "key-own") == 0)
            token = t;
        else
            other = t;
    }
    got = http_ok(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", token, NULL, 200);
    assert_int_equal(
        json_array_get_length(json_object_get_array_member(json_node_get_object(got), "keys")), 0);
    g_clear_pointer(&got, json_node_unref);
    set = http_ok(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token,
                  "{\"keys\":[\"  " KEY_ED25519 "  own@laptop \",\"" KEY_RSA "\"]}", 200);
    got = http_ok(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", token, NULL, 200);
    assert_string_equal(member_string(got, "login"), "key-own");
    keys = json_object_get_array_member(json_node_get_object(got), "keys");
    fps = json_object_get_array_member(json_node_get_object(got), "fingerprints");
    assert_int_equal(json_array_get_length(keys), 2);
    /* normalized: one space between the parts, nothing around */
    assert_string_equal(json_array_get_string_element(keys, 0), KEY_ED25519 " own@laptop");
    assert_string_equal(json_array_get_string_element(keys, 1), KEY_RSA);
    assert_true(g_str_has_prefix(json_array_get_string_element(fps, 0), "SHA256:"));
    g_clear_pointer(&got, json_node_unref);
    /* an admin may, for them; another trainee may not, read or write */
    got = http_ok(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", fx->d->admin_token, NULL, 200);
    g_clear_pointer(&got, json_node_unref);
    http_fails(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", other, NULL, 403, "forbidden");
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", other, "{\"keys\":[]}", 403,
               "forbidden");
    /* nor learn whether a login exists; an admin does */
    http_fails(fx->d, "GET", "/api/v1/users/nobody/ssh-keys", other, NULL, 403, "forbidden");
    http_fails(fx->d, "GET", "/api/v1/users/nobody/ssh-keys", fx->d->admin_token, NULL, 404,
               "not-found");
    http_fails(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", NULL, NULL, 401, "unauthenticated");

    /* what is refused, with nothing changed */
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token, "{\"keys\":\"x\"}", 400,
               "invalid-argument");
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token, "{\"keys\":[1]}", 400,
               "invalid-argument");
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token, "{\"key\":[]}", 400,
               "invalid-argument");
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token,
               "{\"keys\":[\"ssh-dss AAAAB3NzaC1kc3M=\"]}", 400, "invalid-argument");
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token,
               "{\"keys\":[\"" KEY_ED25519 " a\\nssh-rsa AAAA\"]}", 400, "invalid-argument");
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token,
               "{\"keys\":[\"" KEY_ED25519 " one\",\"" KEY_ED25519 " two\"]}", 400,
               "invalid-argument");
    {
        GString *b = g_string_new("{\"keys\":[");
        for (guint i = 0; i < 17; i++)
            g_string_append_printf(b, "%s\"" KEY_RSA " %u\"", i > 0 ? "," : "", i);
        g_string_append(b, "]}");
        many = g_string_free(b, FALSE);
    }
    http_fails(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token, many, 400,
               "invalid-argument");
    got = http_ok(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", token, NULL, 200);
    assert_int_equal(
        json_array_get_length(json_object_get_array_member(json_node_get_object(got), "keys")), 2);
    g_clear_pointer(&got, json_node_unref);
    /* [] removes them all */
    json_node_unref(
        http_ok(fx->d, "PUT", "/api/v1/users/key-own/ssh-keys", token, "{\"keys\":[]}", 200));
    got = http_ok(fx->d, "GET", "/api/v1/users/key-own/ssh-keys", token, NULL, 200);
    assert_int_equal(
        json_array_get_length(json_object_get_array_member(json_node_get_object(got), "keys")), 0);
}

/* Role × route × owner through real HTTP: 401, 403 for a role that may never, 404 where the
 * object is someone else's. */
static void
test_api_authorization(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) other = NULL;
    g_autoptr(JsonNode) mine = NULL;
    g_autofree gchar *token_a = NULL;
    g_autofree gchar *token_b = NULL;
    g_autofree gchar *path = NULL;
    JsonArray *inv;

    cohort_create(fx, "cloud-103", 1);
    roster = roster_load(fx, "cloud-103",
                         "login,display_name\nsok-dara,Sok Dara\npov-bopha,Pov Bopha\n", 200);
    inv = json_object_get_array_member(json_node_get_object(roster), "invitations");
    token_a =
        redeem(fx, json_object_get_string_member(json_array_get_object_element(inv, 0), "code"),
               "sok-dara");
    token_b =
        redeem(fx, json_object_get_string_member(json_array_get_object_element(inv, 1), "code"),
               "pov-bopha");
    other = http_ok(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                    "{\"login\":\"trainer2\",\"display_name\":\"T2\",\"role\":\"trainer\"}", 201);
    mine = http_ok(fx->d, "POST", "/api/v1/machines", token_a, "{\"cohort\":\"cloud-103\"}", 202);
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, member_int(mine, "id"));

    /* no token */
    http_fails(fx->d, "GET", "/api/v1/whoami", NULL, NULL, 401, "unauthenticated");
    http_fails(fx->d, "GET", "/api/v1/whoami", "cohort_not-a-real-token", NULL, 401,
               "unauthenticated");
    http_fails(fx->d, "POST", "/api/v1/cohorts", NULL, "{}", 401, "unauthenticated");
    /* a trainee may never */
    http_fails(fx->d, "GET", "/api/v1/hosts", token_a, NULL, 403, "forbidden");
    http_fails(fx->d, "POST", "/api/v1/users", token_a, "{\"login\":\"x\",\"role\":\"admin\"}", 403,
               "forbidden");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-103/provision", token_a, NULL, 403,
               "forbidden");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-103/invitations", token_a, NULL, 403,
               "forbidden");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-103/invitations", NULL, NULL, 401,
               "unauthenticated");
    http_fails(fx->d, "GET", "/api/v1/audit", fx->trainer_token, NULL, 403, "forbidden");
    /* hosts are the admin's: removing one too, whoever else asks */
    http_fails(fx->d, "DELETE", "/api/v1/hosts/lab", NULL, NULL, 401, "unauthenticated");
    http_fails(fx->d, "DELETE", "/api/v1/hosts/lab", token_a, NULL, 403, "forbidden");
    http_fails(fx->d, "DELETE", "/api/v1/hosts/lab", fx->trainer_token, NULL, 403, "forbidden");
    http_fails(fx->d, "DELETE", "/api/v1/hosts/no-such-host", fx->trainer_token, NULL, 403,
               "forbidden");
    {
        g_autoptr(JsonNode) hosts =
            http_ok(fx->d, "GET", "/api/v1/hosts", fx->d->admin_token, NULL, 200);
        assert_int_equal(json_array_get_length(json_node_get_array(hosts)), 1);
    }
    /* not theirs: 404, exactly as for what does not exist, word for word */
    {
        g_autofree gchar *missing_path =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, member_int(mine, "id") + 1000);
        g_autofree gchar *raw_theirs = NULL;
        g_autofree gchar *raw_missing = NULL;
        g_autofree gchar *expected = NULL;
        guint st = 0;
        json_node_unref(
            cohort_test_http(fx->d, "GET", path, token_b, NULL, NULL, &st, &raw_theirs));
        assert_int_equal(st, 404);
        json_node_unref(
            cohort_test_http(fx->d, "GET", missing_path, token_b, NULL, NULL, &st, &raw_missing));
        assert_int_equal(st, 404);
        /* the same answer but for the id in it */
        expected = g_strdup_printf("{\"error\":{\"code\":\"not-found\",\"message\":\"no machine "
                                   "%" G_GINT64_FORMAT "\"}}",
                                   member_int(mine, "id"));
        assert_string_equal(raw_theirs, expected);
        cohort_assert_contains(raw_missing, "\"no machine ");
    }
    http_fails(fx->d, "GET", "/api/v1/cohorts/cloud-103", member_string(other, "token"), NULL, 404,
               "not-found");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-103/reclaim", member_string(other, "token"),
               NULL, 404, "not-found");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-103/invitations",
               member_string(other, "token"), "{\"reissue\":true}", 404, "not-found");
    {
        g_autofree gchar *stop = g_strconcat(path, "/stop", NULL);
        http_fails(fx->d, "POST", stop, token_b, NULL, 404, "not-found");
    }
    /* the owner, the cohort's trainer and an admin may */
    json_node_unref(http_ok(fx->d, "GET", path, token_a, NULL, 200));
    json_node_unref(http_ok(fx->d, "GET", path, fx->trainer_token, NULL, 200));
    json_node_unref(http_ok(fx->d, "GET", path, fx->d->admin_token, NULL, 200));
    {
        /* a trainee's view of the cohort holds only themselves */
        g_autoptr(JsonNode) view =
            http_ok(fx->d, "GET", "/api/v1/cohorts/cloud-103", token_b, NULL, 200);
        JsonArray *trainees = json_object_get_array_member(json_node_get_object(view), "trainees");
        assert_int_equal(json_array_get_length(trainees), 1);
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(trainees, 0), "login"),
            "pov-bopha");
    }
    {
        /* revoked tokens stop working at once */
        g_autoptr(JsonNode) revoked = http_ok(fx->d, "DELETE", "/api/v1/users/trainer2/tokens",
                                              fx->d->admin_token, NULL, 200);
        assert_int_equal(member_int(revoked, "revoked"), 1);
        http_fails(fx->d, "GET", "/api/v1/whoami", member_string(other, "token"), NULL, 401,
                   "unauthenticated");
    }
    json_node_unref(machine_wait(fx->d, token_a, member_int(mine, "id"), "running"));
}

/* Bad input gets a clear error and loses nothing. */
static void
test_api_bad_input(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *big = NULL;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) lines = NULL;
    g_autoptr(JsonNode) list = NULL;
    guint status = 0;

    cohort_create(fx, "cloud-104", 1);
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token, "{not json", 400,
               "invalid-argument");
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token, "[1,2]", 400,
               "invalid-argument");
    http_fails(
        fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
        "{\"slug\":\"../../etc\",\"template\":\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\","
        "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
        400, "invalid-argument");
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"ok\",\"template\":\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\","
               "\"ends_at\":\"2099-01-01T00:00:00Z\",\"qouta\":{}}",
               400, "invalid-argument");
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"ok\",\"template\":\"tiny\",\"starts_at\":\"2099-01-01T00:00:00Z\","
               "\"ends_at\":\"2098-01-01T00:00:00Z\"}",
               400, "invalid-argument");
    {
        /* a course already over is refused, not created for the reaper to take at once */
        g_autofree gchar *raw_past = NULL;
        guint st = 0;
        g_autoptr(JsonNode) node =
            cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                             "{\"slug\":\"old\",\"template\":\"tiny\",\"starts_at\":"
                             "\"2020-01-01T00:00:00Z\",\"ends_at\":\"2020-02-01T00:00:00Z\"}",
                             NULL, &st, &raw_past);
        assert_int_equal(st, 400);
        assert_string_equal(cohort_test_error_code(node), "invalid-argument");
        cohort_assert_contains(raw_past, "has passed");
    }
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"ok\",\"template\":\"no-such\",\"starts_at\":\"2026-01-01T00:00:00Z\","
               "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
               400, "invalid-argument");
    {
        /* a null date is a missing date, said in our words, not SQLite's */
        g_autofree gchar *raw_null = NULL;
        guint st = 0;
        g_autoptr(JsonNode) node =
            cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                             "{\"slug\":\"ok\",\"template\":\"tiny\",\"starts_at\":null,"
                             "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                             NULL, &st, &raw_null);
        assert_int_equal(st, 400);
        cohort_assert_contains(raw_null, "are required");
        assert_null(strstr(raw_null, "constraint"));
    }
    /* found by tests/fuzz/fuzz-json: a lone \\ud800 made a title that is not UTF-8, stored,
     * and every answer naming the cohort no JSON; json-glib's parse error quoting such bytes
     * made a 400 no client could read; a time past 9999 in UTC was a g_critical() and a 500 */
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"utf\",\"title\":\"\\ud800x\",\"template\":\"tiny\",\"starts_at\":"
               "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
               400, "invalid-argument");
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"utf\",\"title\":\"\\ud83d\" \"x\"}", 400, "invalid-argument");
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"utf\",\"template\":\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\","
               "\"ends_at\":\"9999-12-31T23:59:59-01:00\"}",
               400, "invalid-argument");
    /* a roster naming a trainer's login: 422 with that line, nothing imported */
    {
        g_autofree gchar *raw_roster = NULL;
        guint st = 0;
        g_autoptr(JsonNode) node =
            cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/cloud-104/roster", fx->trainer_token,
                             "login,display_name\nnew-one,New One\ntrainer1,Not A Trainee\n",
                             "text/csv", &st, &raw_roster);
        JsonArray *bad;
        assert_int_equal(st, 422);
        bad = json_object_get_array_member(
            json_object_get_object_member(json_node_get_object(node), "error"), "lines");
        assert_int_equal(json_array_get_length(bad), 1);
        assert_int_equal(json_object_get_int_member(json_array_get_object_element(bad, 0), "line"),
                         3);
    }
    http_fails(
        fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
        "{\"slug\":\"cloud-104\",\"template\":\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\","
        "\"ends_at\":\"2099-01-01T00:00:00Z\"}",
        409, "conflict");
    http_fails(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
               "{\"login\":\"x\",\"display_name\":\"bell\\u0007\",\"role\":\"trainer\"}", 400,
               "invalid-argument");
    /* found by tests/fuzz/fuzz-roster: XML 1.0 cannot carry U+FFFF, no machine was rendered */
    http_fails(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
               "{\"login\":\"x\",\"display_name\":\"x\\uffff\",\"role\":\"trainer\"}", 400,
               "invalid-argument");

    /* a bad roster: 422, every bad line, nothing imported */
    lines = cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/cloud-104/roster", fx->trainer_token,
                             "login,display_name\nsok-dara,Sok Dara\nSok Dara,bad login\n"
                             "sok-dara,duplicate\n,empty\n",
                             "text/csv", &status, &raw);
    assert_int_equal(status, 422);
    assert_string_equal(cohort_test_error_code(lines), "invalid-argument");
    {
        JsonObject *err = json_object_get_object_member(json_node_get_object(lines), "error");
        JsonArray *bad = json_object_get_array_member(err, "lines");
        assert_int_equal(json_array_get_length(bad), 3);
        assert_int_equal(json_object_get_int_member(json_array_get_object_element(bad, 0), "line"),
                         3);
        assert_int_equal(json_object_get_int_member(json_array_get_object_element(bad, 2), "line"),
                         5);
    }
    list = http_ok(fx->d, "GET", "/api/v1/cohorts/cloud-104", fx->trainer_token, NULL, 200);
    assert_int_equal(
        json_array_get_length(json_object_get_array_member(json_node_get_object(list), "trainees")),
        0);

    /* oversized bodies are refused, before or after reading */
    big = g_strnfill(2 * 1024 * 1024, 'a');
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token, big, 413, "payload-too-large");
    /* unknown routes and wrong methods */
    http_fails(fx->d, "GET", "/api/v1/nothing-here", fx->trainer_token, NULL, 404, "not-found");
    http_fails(fx->d, "GET", "/etc/passwd", NULL, NULL, 404, "not-found");
    http_fails(fx->d, "DELETE", "/api/v1/cohorts", fx->trainer_token, NULL, 405,
               "method-not-allowed");
    http_fails(fx->d, "GET", "/api/v1/machines/abc", fx->trainer_token, NULL, 404, "not-found");
    http_fails(fx->d, "POST", "/api/v1/machines/1/explode", fx->trainer_token, NULL, 404,
               "not-found");
    http_fails(fx->d, "GET", "/api/v1/audit?limit=0", fx->d->admin_token, NULL, 400,
               "invalid-argument");
}

static void
test_api_health_metrics_audit(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) health = http_ok(fx->d, "GET", "/healthz", NULL, NULL, 200);
    g_autoptr(JsonNode) audit = NULL;
    g_autofree gchar *metrics = NULL;
    guint status = 0;

    assert_string_equal(member_string(health, "status"), "ok");
    /* Prometheus text, not JSON */
    assert_null(cohort_test_http(fx->d, "GET", "/metrics", NULL, NULL, NULL, &status, &metrics));
    assert_int_equal(status, 200);
    cohort_assert_contains(metrics, "cohort_machines{state=\"running\"} 0");
    cohort_assert_contains(metrics, "cohort_http_requests_total{class=\"all\"}");
    /* no machine was ever ready: an empty histogram, every bucket there */
    cohort_assert_contains(metrics, "# TYPE cohort_machine_ready_seconds histogram\n");
    cohort_assert_contains(metrics, "cohort_machine_ready_seconds_bucket{le=\"5\"} 0\n");
    cohort_assert_contains(metrics, "cohort_machine_ready_seconds_bucket{le=\"+Inf\"} 0\n");
    cohort_assert_contains(metrics, "cohort_machine_ready_seconds_count 0\n");
    audit = http_ok(fx->d, "GET", "/api/v1/audit?limit=5", fx->d->admin_token, NULL, 200);
    /* newest first: the template base installed by the fixture, then the trainer */
    assert_string_equal(json_object_get_string_member(
                            json_array_get_object_element(json_node_get_array(audit), 0), "action"),
                        "template.base");
    assert_string_equal(json_object_get_string_member(
                            json_array_get_object_element(json_node_get_array(audit), 1), "action"),
                        "user.create");
}

/* Two small hosts: machines spread over both while there is room, then no-capacity says
 * how much is missing; a draining host takes no new machine. */
static void
test_api_placement_two_hosts(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *extra =
        g_strdup_printf("[host:small-a]\nuri=test://%s/small-host.xml\naccel=tcg\ncpu_ratio=1\n"
                        "[host:small-b]\nuri=test://%s/small-host-b.xml\naccel=tcg\ncpu_ratio=1\n",
                        COHORT_TEST_DATADIR, COHORT_TEST_DATADIR);
    CohortTestDaemon *d = cohort_test_daemon_start_with_config(extra, &error);
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) hosts = NULL;
    g_autoptr(JsonNode) drained = NULL;
    GString *csv = g_string_new("login,display_name\n");
    const gchar *token;
    JsonArray *errors;

    cohort_assert_no_error(error);
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    base = cohort_test_base_install(d, "tiny", "{\"blank\":true}");
    cohort = http_ok(d, "POST", "/api/v1/cohorts", token,
                     "{\"slug\":\"small\",\"template\":\"tiny\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                     201);
    for (guint i = 1; i <= 10; i++)
        g_string_append_printf(csv, "trainee-%u,Trainee %u\n", i, i);
    {
        guint status = 0;
        roster = cohort_test_http(d, "PUT", "/api/v1/cohorts/small/roster", token, csv->str,
                                  "text/csv", &status, NULL);
        assert_int_equal(status, 200);
    }
    g_string_free(csv, TRUE);
    started = http_ok(d, "POST", "/api/v1/cohorts/small/provision", token, NULL, 202);
    job = cohort_test_job_wait(d, token, job_of(started));
    /* 4 vCPUs each, 1 vCPU a machine: 8 fit, 2 do not */
    assert_int_equal(member_int(job, "done"), 8);
    assert_int_equal(member_int(job, "failed"), 2);
    errors = json_object_get_array_member(json_node_get_object(job), "errors");
    assert_int_equal(json_array_get_length(errors), 2);
    assert_string_equal(
        json_object_get_string_member(json_array_get_object_element(errors, 0), "code"),
        "no-capacity");
    {
        /* which limit of which host, and how to raise it */
        const gchar *message =
            json_object_get_string_member(json_array_get_object_element(errors, 0), "message");
        cohort_assert_contains(message, "small-a: vCPUs full (4 placed, 1 more wanted, 4 allowed "
                                        "= 4 x cpu_ratio 1");
        cohort_assert_contains(message, "'cohortctl host set small-a --cpu-ratio R' or "
                                        "'--vcpus N'");
        cohort_assert_contains(message, "small-b: vCPUs full");
    }
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    for (guint i = 0; i < 2; i++) {
        JsonObject *h = json_array_get_object_element(json_node_get_array(hosts), i);
        assert_int_equal(json_object_get_int_member(h, "used_vcpus"), 4);
        assert_int_equal(json_object_get_int_member(h, "vcpus"), 4);
    }
    drained = http_ok(d, "POST", "/api/v1/hosts/small-a/drain", d->admin_token, NULL, 200);
    assert_string_equal(member_string(drained, "state"), "draining");
    {
        /* room freed on the draining host is not used */
        g_autoptr(JsonNode) machines =
            http_ok(d, "GET", "/api/v1/machines?cohort=small", token, NULL, 200);
        JsonArray *list = json_node_get_array(machines);
        gint64 on_a = 0;
        g_autofree gchar *path = NULL;
        g_autoptr(JsonNode) released = NULL;
        g_autoptr(JsonNode) again = NULL;
        g_autoptr(JsonNode) second = NULL;
        for (guint i = 0; i < json_array_get_length(list) && on_a == 0; i++) {
            JsonObject *m = json_array_get_object_element(list, i);
            if (g_strcmp0(json_object_get_string_member(m, "host"), "small-a") == 0)
                on_a = json_object_get_int_member(m, "id");
        }
        assert_true(on_a > 0);
        path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, on_a);
        released = http_ok(d, "DELETE", path, token, NULL, 202);
        json_node_unref(machine_wait(d, token, on_a, "reclaimed"));
        again = http_ok(d, "POST", "/api/v1/cohorts/small/provision", token, NULL, 202);
        second = cohort_test_job_wait(d, token, job_of(again));
        assert_int_equal(member_int(second, "done"), 0);
        assert_int_equal(member_int(second, "failed"), 3);
    }
    cohort_test_daemon_stop(d);
}

static JsonObject *host_named(JsonNode *hosts, const gchar *name);
static gchar *http_fails_message(CohortTestDaemon *d, const gchar *method, const gchar *path,
                                 const gchar *token, const gchar *body, guint expect,
                                 const gchar *code);

/* A host added through the API answers "connecting" at once, and comes up in a while. */
static JsonNode *
host_add_wait_up(CohortTestDaemon *d, const gchar *body, const gchar *name)
{
    g_autoptr(JsonNode) added = http_ok(d, "POST", "/api/v1/hosts", d->admin_token, body, 201);
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    assert_string_equal(member_string(added, "state"), "connecting");
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
        JsonObject *h = host_named(hosts, name);
        if (g_strcmp0(json_object_get_string_member(h, "state"), "up") == 0) {
            JsonNode *node = json_node_new(JSON_NODE_OBJECT);
            json_node_set_object(node, h);
            return node;
        }
        g_usleep(20 * 1000);
    }
    fail_msg("host %s never came up", name);
    return NULL;
}

/* Machines of cohort @slug on host @host. */
static guint
machines_on(CohortTestDaemon *d, const gchar *token, const gchar *slug, const gchar *host)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines?cohort=%s", slug);
    g_autoptr(JsonNode) machines = http_ok(d, "GET", path, token, NULL, 200);
    JsonArray *list = json_node_get_array(machines);
    guint n = 0;

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);
        n += g_strcmp0(json_object_get_string_member(m, "host"), host) == 0;
    }
    return n;
}

static void
roster_fill(CohortTestDaemon *d, const gchar *token, const gchar *slug, const gchar *prefix,
            guint n)
{
    g_autoptr(GString) csv = g_string_new("login,display_name\n");
    g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/%s/roster", slug);
    g_autoptr(JsonNode) roster = NULL;
    guint status = 0;

    for (guint i = 1; i <= n; i++)
        g_string_append_printf(csv, "%s-%u,Trainee %u\n", prefix, i, i);
    roster = cohort_test_http(d, "PUT", path, token, csv->str, "text/csv", &status, NULL);
    assert_int_equal(status, 200);
}

/* Placement by policy on two small hosts added through the API (4 vCPUs each, no overcommit):
 * spread halves a cohort, pack fills the first host before the second; host list shows what
 * placement allows beside what is used; a no-capacity error names each host's limit and the
 * option that raises it; PATCH changes capacity at once; drain and undrain; a template's base
 * leaves a host only when no machine there uses it; a machine is moved, made anew on the
 * other host, with a warning; a host is evacuated by a job. */
static void
test_api_placement_policies(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start(&error);
    g_autofree gchar *body_a = NULL;
    g_autofree gchar *body_b = NULL;
    g_autofree gchar *message = NULL;
    g_autoptr(JsonNode) a = NULL;
    g_autoptr(JsonNode) b = NULL;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) hosts = NULL;
    const gchar *token;

    cohort_assert_no_error(error);
    /* the embedded lab host would take everything */
    json_node_unref(http_ok(d, "DELETE", "/api/v1/hosts/lab", d->admin_token, NULL, 200));
    body_a = g_strdup_printf("{\"name\":\"small-a\",\"uri\":\"test://%s/small-host.xml\","
                             "\"cpu_ratio\":1}",
                             COHORT_TEST_DATADIR);
    body_b = g_strdup_printf("{\"name\":\"small-b\",\"uri\":\"test://%s/small-host-b.xml\","
                             "\"cpu_ratio\":1,\"disk_ratio\":2.5}",
                             COHORT_TEST_DATADIR);
    a = host_add_wait_up(d, body_a, "small-a");
    b = host_add_wait_up(d, body_b, "small-b");
    assert_int_equal(member_int(a, "allowed_vcpus"), 4);
    assert_int_equal(member_int(a, "allowed_memory_mib"), 1024);
    /* 100 GiB free in the pool, times the ratio */
    assert_int_equal(member_int(b, "allowed_disk_mib"), 256000);
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    {
        /* one base job for both hosts: an item each, with progress */
        g_autoptr(JsonNode) job = NULL;
        JsonObject *progress;
        base = cohort_test_base_install(d, "tiny", "{\"blank\":true}");
        job = cohort_test_job_wait(d, d->admin_token, member_int(base, "job"));
        assert_int_equal(member_int(job, "total"), 2);
        assert_int_equal(member_int(job, "done"), 2);
        progress = json_object_get_object_member(json_node_get_object(job), "progress");
        assert_int_equal(json_object_get_int_member(progress, "bytes_total"), 2 * 32 * 1024 * 1024);
        assert_int_equal(json_object_get_int_member(progress, "bytes_done"), 2 * 32 * 1024 * 1024);
        assert_int_equal(json_array_get_length(json_object_get_array_member(progress, "items")), 2);
        /* how long each item sent, in whole milliseconds */
        assert_true(JSON_NODE_HOLDS_VALUE(json_object_get_member(
            json_array_get_object_element(json_object_get_array_member(progress, "items"), 0),
            "milliseconds")));
    }
    json_node_unref(http_ok(d, "POST", "/api/v1/cohorts", token,
                            "{\"slug\":\"spread\",\"template\":\"tiny\",\"placement\":\"spread\","
                            "\"starts_at\":\"2026-01-01T00:00:00Z\",\"ends_at\":"
                            "\"2099-01-01T00:00:00Z\"}",
                            201));
    {
        g_autoptr(JsonNode) packed =
            http_ok(d, "POST", "/api/v1/cohorts", token,
                    "{\"slug\":\"pack\",\"template\":\"tiny\",\"placement\":\"pack\",\"starts_at\":"
                    "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                    201);
        assert_string_equal(member_string(packed, "placement"), "pack");
        http_fails(d, "POST", "/api/v1/cohorts", token,
                   "{\"slug\":\"bad\",\"template\":\"tiny\",\"placement\":\"random\","
                   "\"starts_at\":\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                   400, "invalid-argument");
    }
    roster_fill(d, token, "spread", "spread", 4);
    roster_fill(d, token, "pack", "pack", 3);
    {
        g_autoptr(JsonNode) started =
            http_ok(d, "POST", "/api/v1/cohorts/spread/provision", token, NULL, 202);
        g_autoptr(JsonNode) job = cohort_test_job_wait(d, token, job_of(started));
        assert_int_equal(member_int(job, "done"), 4);
    }
    assert_int_equal(machines_on(d, token, "spread", "small-a"), 2);
    assert_int_equal(machines_on(d, token, "spread", "small-b"), 2);
    {
        g_autoptr(JsonNode) started =
            http_ok(d, "POST", "/api/v1/cohorts/pack/provision", token, NULL, 202);
        g_autoptr(JsonNode) job = cohort_test_job_wait(d, token, job_of(started));
        assert_int_equal(member_int(job, "done"), 3);
    }
    /* the first host up to what it allows, then the other */
    assert_int_equal(machines_on(d, token, "pack", "small-a"), 2);
    assert_int_equal(machines_on(d, token, "pack", "small-b"), 1);
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    assert_int_equal(json_object_get_int_member(host_named(hosts, "small-a"), "used_vcpus"), 4);
    assert_int_equal(json_object_get_int_member(host_named(hosts, "small-a"), "machines"), 4);
    assert_int_equal(json_object_get_int_member(host_named(hosts, "small-b"), "used_vcpus"), 3);
    assert_int_equal(json_object_get_int_member(host_named(hosts, "small-b"), "used_disk_mib"),
                     3 * 32);

    /* one more trainee: small-a is full on vCPUs, small-b (after a PATCH) on memory */
    roster_fill(d, token, "pack", "pack", 4);
    {
        g_autoptr(JsonNode) patched = http_ok(d, "PATCH", "/api/v1/hosts/small-b", d->admin_token,
                                              "{\"memory_mib\":200}", 200);
        assert_int_equal(member_int(patched, "allowed_memory_mib"), 200);
        assert_int_equal(member_int(patched, "used_memory_mib"), 192);
    }
    http_fails(d, "PATCH", "/api/v1/hosts/small-b", d->admin_token, "{\"cpu_ratio\":0}", 400,
               "invalid-argument");
    http_fails(d, "PATCH", "/api/v1/hosts/small-b", d->admin_token, "{\"vcpu\":4}", 400,
               "invalid-argument");
    message = http_fails_message(d, "PATCH", "/api/v1/hosts/small-b", d->admin_token,
                                 "{\"pool\":\"other\"}", 409, "conflict");
    cohort_assert_contains(message, "cohortctl host evacuate small-b");
    g_clear_pointer(&message, g_free);
    message =
        http_fails_message(d, "POST", "/api/v1/machines", token,
                           "{\"cohort\":\"pack\",\"trainee\":\"pack-4\"}", 503, "no-capacity");
    cohort_assert_contains(message, "small-a: vCPUs full (4 placed, 1 more wanted, 4 allowed = 4 x "
                                    "cpu_ratio 1; raise it with 'cohortctl host set small-a "
                                    "--cpu-ratio R' or '--vcpus N')");
    cohort_assert_contains(message, "small-b: memory full (192 MiB placed, 64 MiB more wanted, "
                                    "200 MiB allowed = 200 MiB x memory_ratio 1");
    cohort_assert_contains(message, "--memory-ratio R' or '--memory-mib N'");
    g_clear_pointer(&message, g_free);
    /* a drained host is named so */
    json_node_unref(http_ok(d, "POST", "/api/v1/hosts/small-b/drain", d->admin_token, NULL, 200));
    json_node_unref(
        http_ok(d, "PATCH", "/api/v1/hosts/small-b", d->admin_token, "{\"memory_mib\":0}", 200));
    message =
        http_fails_message(d, "POST", "/api/v1/machines", token,
                           "{\"cohort\":\"pack\",\"trainee\":\"pack-4\"}", 503, "no-capacity");
    cohort_assert_contains(message, "small-b: draining ('cohortctl host undrain small-b'");
    g_clear_pointer(&message, g_free);
    {
        g_autoptr(JsonNode) undrained =
            http_ok(d, "POST", "/api/v1/hosts/small-b/undrain", d->admin_token, NULL, 200);
        g_autoptr(JsonNode) machine = NULL;
        assert_string_equal(member_string(undrained, "state"), "up");
        /* memory_mib 0 is libvirt's again: 1 GiB */
        assert_int_equal(member_int(undrained, "allowed_memory_mib"), 1024);
        machine = http_ok(d, "POST", "/api/v1/machines", token,
                          "{\"cohort\":\"pack\",\"trainee\":\"pack-4\"}", 202);
        assert_string_equal(member_string(machine, "host"), "small-b");
    }

    /* a base goes from a host only when no machine there uses it */
    message = http_fails_message(d, "DELETE", "/api/v1/hosts/small-a/bases/tiny-lan",
                                 d->admin_token, NULL, 409, "conflict");
    cohort_assert_contains(message, "4 machines on host small-a are made from base "
                                    "tiny-base.qcow2");
    g_clear_pointer(&message, g_free);

    /* a running machine on a host that is up moves made anew only: the answer warns */
    {
        g_autoptr(JsonNode) machines =
            http_ok(d, "GET", "/api/v1/machines?cohort=spread", token, NULL, 200);
        JsonObject *m = NULL;
        g_autofree gchar *path = NULL;
        g_autoptr(JsonNode) moved = NULL;
        g_autoptr(JsonNode) settled = NULL;
        JsonArray *list = json_node_get_array(machines);
        for (guint i = 0; i < json_array_get_length(list) && m == NULL; i++) {
            JsonObject *o = json_array_get_object_element(list, i);
            if (g_strcmp0(json_object_get_string_member(o, "host"), "small-a") == 0)
                m = o;
        }
        assert_non_null(m);
        path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/move",
                               json_object_get_int_member(m, "id"));
        json_node_unref(machine_wait(d, token, json_object_get_int_member(m, "id"), "running"));
        message = http_fails_message(d, "POST", path, token, "{}", 409, "conflict");
        cohort_assert_contains(message, "stop it first");
        cohort_assert_contains(message, "\"fresh\": true");
        g_clear_pointer(&message, g_free);
        /* small-b is full: twice its vCPUs allowed makes room */
        message =
            http_fails_message(d, "POST", path, token, "{\"fresh\":true}", 503, "no-capacity");
        cohort_assert_contains(message, "small-a: the machine moves away from it");
        g_clear_pointer(&message, g_free);
        json_node_unref(
            http_ok(d, "PATCH", "/api/v1/hosts/small-b", d->admin_token, "{\"cpu_ratio\":2}", 200));
        moved = http_ok(d, "POST", path, token, "{\"fresh\":true}", 202);
        assert_string_equal(member_string(moved, "to"), "small-b");
        assert_string_equal(member_string(moved, "host"), "small-b");
        cohort_assert_contains(member_string(moved, "warning"), "what its disk held is lost");
        settled = machine_wait(d, token, json_object_get_int_member(m, "id"), "running");
        assert_string_equal(member_string(settled, "host"), "small-b");
        {
            /* its old domain and disk on small-a are gone: removed as what it left there */
            gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
            gboolean removed = FALSE;
            while (!removed && g_get_monotonic_time() < deadline) {
                g_autoptr(JsonNode) audit =
                    http_ok(d, "GET", "/api/v1/audit?limit=50", d->admin_token, NULL, 200);
                JsonArray *entries = json_node_get_array(audit);
                for (guint i = 0; i < json_array_get_length(entries); i++) {
                    JsonObject *e = json_array_get_object_element(entries, i);
                    if (g_strcmp0(json_object_get_string_member(e, "action"),
                                  "machine.leftover-remove") == 0 &&
                        g_strcmp0(json_object_get_string_member(e, "target"),
                                  member_string(settled, "name")) == 0)
                        removed = TRUE;
                }
                g_usleep(20 * 1000);
            }
            assert_true(removed);
        }
    }
    assert_int_equal(machines_on(d, token, "spread", "small-a"), 1);
    assert_int_equal(machines_on(d, token, "spread", "small-b"), 3);

    /* evacuating small-b: it drains, and what it holds goes to small-a as far as it has room
     * (1 vCPU free there now) */
    {
        g_autoptr(JsonNode) evac =
            http_ok(d, "POST", "/api/v1/hosts/small-b/evacuate", d->admin_token, NULL, 202);
        g_autoptr(JsonNode) job = cohort_test_job_wait(d, d->admin_token, job_of(evac));
        assert_int_equal(member_int(evac, "machines"), 5);
        assert_int_equal(member_int(job, "total"), 5);
        assert_int_equal(member_int(job, "done"), 1);
        assert_int_equal(member_int(job, "failed"), 4);
        assert_string_equal(
            json_object_get_string_member(
                json_array_get_object_element(
                    json_object_get_array_member(json_node_get_object(job), "errors"), 0),
                "code"),
            "no-capacity");
    }
    g_clear_pointer(&hosts, json_node_unref);
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    assert_string_equal(json_object_get_string_member(host_named(hosts, "small-b"), "state"),
                        "draining");
    assert_int_equal(json_object_get_int_member(host_named(hosts, "small-a"), "used_vcpus"), 4);
    assert_int_equal(json_object_get_int_member(host_named(hosts, "small-b"), "machines"), 4);
    cohort_test_daemon_stop(d);
}

/* A host of cohortd.conf takes the file's capacity and ratios at every start (they were read
 * only the first time, then silently ignored), and refuses a PATCH, which the file would undo. */
static void
test_api_config_host_follows_file(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *extra =
        g_strdup_printf("[host:small]\nuri=test://%s/small-host.xml\naccel=tcg\ncpu_ratio=1\n",
                        COHORT_TEST_DATADIR);
    CohortTestDaemon *d = cohort_test_daemon_start_with_config(extra, &error);
    g_autoptr(JsonNode) before = NULL;
    g_autoptr(JsonNode) after = NULL;
    g_autofree gchar *message = NULL;

    cohort_assert_no_error(error);
    before = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    assert_int_equal(json_object_get_int_member(host_named(before, "small"), "allowed_vcpus"), 4);
    message = http_fails_message(d, "PATCH", "/api/v1/hosts/small", d->admin_token,
                                 "{\"cpu_ratio\":3}", 409, "conflict");
    cohort_assert_contains(message, "defined in cohortd.conf ([host:small])");
    cohort_test_daemon_stop_keep(d);
    {
        g_autofree gchar *config = NULL;
        g_autofree gchar *changed = NULL;
        g_auto(GStrv) parts = NULL;
        assert_true(g_file_get_contents(d->config_path, &config, NULL, NULL));
        parts = g_strsplit(config, "cpu_ratio=1\n", 2);
        changed = g_strjoinv("cpu_ratio=2.5\nvcpus=2\nmemory_ratio=2\ndisk_ratio=3\n", parts);
        assert_true(g_file_set_contents(d->config_path, changed, -1, NULL));
    }
    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
    after = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    assert_true(json_object_get_double_member(host_named(after, "small"), "cpu_ratio") == 2.5);
    assert_int_equal(json_object_get_int_member(host_named(after, "small"), "vcpus"), 2);
    assert_int_equal(json_object_get_int_member(host_named(after, "small"), "allowed_vcpus"), 5);
    assert_int_equal(json_object_get_int_member(host_named(after, "small"), "allowed_memory_mib"),
                     2048);
    assert_true(json_object_get_double_member(host_named(after, "small"), "disk_ratio") == 3.0);
    cohort_test_daemon_stop(d);
}

/* A cohort's network: its own isolated one unless it names a shared one; made with its first
 * machine, removed when a reclaim has taken the last, and counted in what the reclaim freed. */
static void
test_api_cohort_network(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) shared = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) provision = NULL;
    g_autoptr(JsonNode) provisioned = NULL;
    g_autoptr(JsonNode) reclaim = NULL;
    g_autoptr(JsonNode) reclaimed = NULL;
    g_autoptr(JsonNode) empty = NULL;
    g_autoptr(JsonNode) empty_reclaim = NULL;
    g_autoptr(JsonNode) empty_job = NULL;
    JsonObject *freed;

    /* tiny-lan shares tiny's base volume, which the fixture installed for tiny */
    base = http_ok(fx->d, "GET", "/api/v1/templates/tiny-lan", fx->d->admin_token, NULL, 200);
    assert_true(json_object_get_boolean_member(
        json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(base), "hosts"), 0),
        "has_base"));
    cohort = http_ok(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                     "{\"slug\":\"lan-101\",\"template\":\"tiny-lan\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                     201);
    assert_string_equal(member_string(cohort, "network"), "isolated");
    shared = http_ok(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                     "{\"slug\":\"lan-102\",\"template\":\"tiny-lan\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                     "\"network\":\"lab-shared\"}",
                     201);
    assert_string_equal(member_string(shared, "network"), "lab-shared");
    /* a shared network the host does not have: the machine fails, saying so */
    {
        g_autoptr(JsonNode) shared_roster =
            roster_load(fx, "lan-102", "login,display_name\nlan-c,C\n", 200);
        g_autoptr(JsonNode) requested =
            http_ok(fx->d, "POST", "/api/v1/machines", fx->trainer_token,
                    "{\"cohort\":\"lan-102\",\"trainee\":\"lan-c\"}", 202);
        g_autoptr(JsonNode) failed =
            machine_wait(fx->d, fx->trainer_token, member_int(requested, "id"), "failed");
        cohort_assert_contains(member_string(failed, "error"),
                               "shared network 'lab-shared' is not on this host");
    }
    /* any case of "isolated" means the cohort's own */
    {
        g_autoptr(JsonNode) upper =
            http_ok(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                    "{\"slug\":\"lan-105\",\"template\":\"tiny-lan\",\"starts_at\":"
                    "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                    "\"network\":\"Isolated\"}",
                    201);
        assert_string_equal(member_string(upper, "network"), "isolated");
    }
    /* Cohort's own names and what libvirt would not take are refused */
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"lan-103\",\"template\":\"tiny-lan\",\"starts_at\":"
               "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
               "\"network\":\"cohort-lan-101\"}",
               400, "invalid-argument");
    http_fails(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
               "{\"slug\":\"lan-103\",\"template\":\"tiny-lan\",\"starts_at\":"
               "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
               "\"network\":\"a/../b\"}",
               400, "invalid-argument");

    /* "nat", in any case: the cohort's own network, reaching out through the host */
    {
        g_autoptr(JsonNode) nat =
            http_ok(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                    "{\"slug\":\"lan-106\",\"template\":\"tiny-lan\",\"starts_at\":"
                    "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                    "\"network\":\"NAT\"}",
                    201);
        assert_string_equal(member_string(nat, "network"), "nat");
    }
    /* no subnet before the first machine */
    assert_true(json_object_get_null_member(json_node_get_object(cohort), "subnet"));

    roster = roster_load(fx, "lan-101", "login,display_name\nlan-a,A\nlan-b,B\n", 200);
    provision =
        http_ok(fx->d, "POST", "/api/v1/cohorts/lan-101/provision", fx->trainer_token, NULL, 202);
    provisioned = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(provision));
    assert_int_equal(member_int(provisioned, "done"), 2);
    {
        /* the first subnet of the default plan, shown with the cohort */
        g_autoptr(JsonNode) shown =
            http_ok(fx->d, "GET", "/api/v1/cohorts/lan-101", fx->trainer_token, NULL, 200);
        assert_string_equal(member_string(shown, "subnet"), "10.200.0.0/24");
    }
    reclaim =
        http_ok(fx->d, "POST", "/api/v1/cohorts/lan-101/reclaim", fx->trainer_token, NULL, 202);
    reclaimed = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(reclaim));
    assert_string_equal(member_string(reclaimed, "state"), "done");
    freed = json_object_get_object_member(json_node_get_object(reclaimed), "freed");
    assert_int_equal(json_object_get_int_member(freed, "machines"), 2);
    assert_int_equal(json_object_get_int_member(freed, "networks"), 1);
    {
        /* the subnet went back to the plan with the network */
        g_autoptr(JsonNode) shown =
            http_ok(fx->d, "GET", "/api/v1/cohorts/lan-101", fx->trainer_token, NULL, 200);
        assert_true(json_object_get_null_member(json_node_get_object(shown), "subnet"));
    }

    /* a cohort that never had a machine has no network to free */
    empty = http_ok(fx->d, "POST", "/api/v1/cohorts", fx->trainer_token,
                    "{\"slug\":\"lan-104\",\"template\":\"tiny-lan\",\"starts_at\":"
                    "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                    201);
    empty_reclaim =
        http_ok(fx->d, "POST", "/api/v1/cohorts/lan-104/reclaim", fx->trainer_token, NULL, 202);
    empty_job = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(empty_reclaim));
    assert_string_equal(member_string(empty_job, "state"), "done");
    freed = json_object_get_object_member(json_node_get_object(empty_job), "freed");
    assert_int_equal(json_object_get_int_member(freed, "networks"), 0);
}

/* An ended course takes no new trainees nor machines until its end moves again. */
static void
test_api_ended_cohort(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) ended = NULL;
    g_autoptr(JsonNode) reopened = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autofree gchar *raw = NULL;
    guint status = 0;

    cohort_create(fx, "cloud-106", 1);
    roster = roster_load(fx, "cloud-106", "login,display_name\nend-a,A\n", 200);
    ended = http_ok(fx->d, "PATCH", "/api/v1/cohorts/cloud-106", fx->trainer_token,
                    "{\"ends_at\":\"2026-01-02T00:00:00Z\",\"grace_hours\":720}", 200);
    assert_string_equal(member_string(ended, "state"), "ended");
    {
        g_autoptr(JsonNode) refused =
            cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/cloud-106/roster", fx->trainer_token,
                             "login,display_name\nend-b,B\n", "text/csv", &status, &raw);
        assert_int_equal(status, 409);
        assert_string_equal(cohort_test_error_code(refused), "conflict");
        cohort_assert_contains(raw, "has ended");
    }
    http_fails(fx->d, "POST", "/api/v1/machines", fx->trainer_token,
               "{\"cohort\":\"cloud-106\",\"trainee\":\"end-a\"}", 409, "conflict");
    reopened = http_ok(fx->d, "PATCH", "/api/v1/cohorts/cloud-106", fx->trainer_token,
                       "{\"ends_at\":\"2099-01-02T00:00:00Z\"}", 200);
    assert_string_equal(member_string(reopened, "state"), "active");
    json_node_unref(roster_load(fx, "cloud-106", "login,display_name\nend-b,B\n", 200));
}

/* A trainee who lost their code (or let it expire) gets a new one from their trainer; the
 * old one stops working. Only the cohort's trainer or an admin, and only for its trainees. */
static void
test_api_invitation_reissue(void **state)
{
    Fixture *fx = *state;
    const gchar *path = "/api/v1/cohorts/cloud-105/trainees/sok-dara/invitation";
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) other = NULL;
    g_autoptr(JsonNode) reissued = NULL;
    g_autoptr(JsonNode) by_admin = NULL;
    g_autofree gchar *old_body = NULL;
    g_autofree gchar *new_body = NULL;
    g_autofree gchar *token = NULL;

    cohort_create(fx, "cloud-105", 1);
    roster = roster_load(fx, "cloud-105", "login,display_name\nsok-dara,Sok Dara\n", 200);
    old_body = g_strdup_printf(
        "{\"code\":\"%s\"}",
        json_object_get_string_member(
            json_array_get_object_element(
                json_object_get_array_member(json_node_get_object(roster), "invitations"), 0),
            "code"));
    other = http_ok(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                    "{\"login\":\"trainer2\",\"display_name\":\"T2\",\"role\":\"trainer\"}", 201);

    reissued = http_ok(fx->d, "POST", path, fx->trainer_token, NULL, 201);
    assert_string_equal(member_string(reissued, "login"), "sok-dara");
    assert_int_equal(strlen(member_string(reissued, "code")), 19);
    assert_non_null(member_string(reissued, "expires_at"));
    assert_int_equal(member_int(reissued, "withdrawn"), 1);
    /* the roster's code was withdrawn; the new one works, once */
    http_fails(fx->d, "POST", "/api/v1/redeem", NULL, old_body, 404, "not-found");
    token = redeem(fx, member_string(reissued, "code"), "sok-dara");
    new_body = g_strdup_printf("{\"code\":\"%s\"}", member_string(reissued, "code"));
    http_fails(fx->d, "POST", "/api/v1/redeem", NULL, new_body, 404, "not-found");

    /* an admin may; the trainee, another trainer and strangers to the cohort may not */
    by_admin = http_ok(fx->d, "POST", path, fx->d->admin_token, NULL, 201);
    assert_int_equal(member_int(by_admin, "withdrawn"), 0);
    http_fails(fx->d, "POST", path, token, NULL, 403, "forbidden");
    http_fails(fx->d, "POST", path, member_string(other, "token"), NULL, 404, "not-found");
    http_fails(fx->d, "POST", path, NULL, NULL, 401, "unauthenticated");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-105/trainees/nobody/invitation",
               fx->trainer_token, NULL, 404, "not-found");
    http_fails(fx->d, "POST", "/api/v1/cohorts/cloud-105/trainees/trainer2/invitation",
               fx->trainer_token, NULL, 404, "not-found");
    http_fails(fx->d, "POST", "/api/v1/cohorts/nope/trainees/sok-dara/invitation",
               fx->trainer_token, NULL, 404, "not-found");
    http_fails(fx->d, "GET", path, fx->trainer_token, NULL, 405, "method-not-allowed");
    {
        g_autoptr(JsonNode) audit =
            http_ok(fx->d, "GET", "/api/v1/audit?limit=1", fx->d->admin_token, NULL, 200);
        JsonObject *last = json_array_get_object_element(json_node_get_array(audit), 0);
        assert_string_equal(json_object_get_string_member(last, "action"), "cohort.invite");
        /* refusals are audited too */
        assert_string_equal(json_object_get_string_member(last, "target"), "cloud-105/trainer2");
        assert_string_equal(json_object_get_string_member(last, "result"), "not-found");
    }
}

static JsonArray *
member_array(JsonNode *node, const gchar *member)
{
    return json_object_get_array_member(json_node_get_object(node), member);
}

static const gchar *
element_string(JsonArray *array, guint i, const gchar *member)
{
    return json_object_get_string_member(json_array_get_object_element(array, i), member);
}

/* Codes for a whole cohort in one call: for those who have none, or new ones for everyone;
 * trainees another trainer also teaches are left to an admin. */
static void
test_api_invitations_bulk(void **state)
{
    Fixture *fx = *state;
    const gchar *path = "/api/v1/cohorts/cloud-107/invitations";
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) first = NULL;
    g_autoptr(JsonNode) second = NULL;
    g_autoptr(JsonNode) reissued = NULL;
    g_autoptr(JsonNode) other = NULL;
    g_autoptr(JsonNode) shared = NULL;
    g_autoptr(JsonNode) by_admin = NULL;
    g_autofree gchar *old_b = NULL;
    g_autofree gchar *token_a = NULL;
    JsonArray *inv;

    cohort_create(fx, "cloud-107", 1);
    roster = roster_load(fx, "cloud-107",
                         "login,display_name\nbopha,\"<img src=x onerror=alert(1)>\"\n"
                         "dara,ដារ៉ា\nmya,မြ\n",
                         200);
    inv = member_array(roster, "invitations");
    old_b = g_strdup_printf("{\"code\":\"%s\"}", element_string(inv, 1, "code"));

    /* everyone holds the roster's code: nothing to issue, each listed with its expiry */
    first = http_ok(fx->d, "POST", path, fx->trainer_token, NULL, 200);
    assert_string_equal(member_string(first, "cohort"), "cloud-107");
    assert_int_equal(json_array_get_length(member_array(first, "invitations")), 0);
    assert_int_equal(json_array_get_length(member_array(first, "pending")), 3);
    assert_string_equal(element_string(member_array(first, "pending"), 0, "login"), "bopha");
    assert_non_null(element_string(member_array(first, "pending"), 0, "expires_at"));
    assert_int_equal(json_array_get_length(member_array(first, "needs_admin")), 0);

    /* bopha redeemed theirs: she has none now, and gets one; the others keep theirs */
    token_a = redeem(fx, element_string(inv, 0, "code"), "bopha");
    second = http_ok(fx->d, "POST", path, fx->trainer_token, "{}", 200);
    inv = member_array(second, "invitations");
    assert_int_equal(json_array_get_length(inv), 1);
    assert_string_equal(element_string(inv, 0, "login"), "bopha");
    /* names are data, byte for byte */
    assert_string_equal(element_string(inv, 0, "display_name"), "<img src=x onerror=alert(1)>");
    assert_int_equal(strlen(element_string(inv, 0, "code")), 19);
    assert_int_equal(json_array_get_length(member_array(second, "pending")), 2);
    {
        g_autofree gchar *t = redeem(fx, element_string(inv, 0, "code"), "bopha");
    }

    /* reissue: a new code for everyone, the unredeemed ones withdrawn */
    reissued = http_ok(fx->d, "POST", path, fx->trainer_token, "{\"reissue\":true}", 200);
    inv = member_array(reissued, "invitations");
    assert_int_equal(json_array_get_length(inv), 3);
    assert_int_equal(json_array_get_length(member_array(reissued, "pending")), 0);
    assert_string_equal(element_string(inv, 1, "login"), "dara");
    assert_int_equal(json_object_get_int_member(json_array_get_object_element(inv, 1), "withdrawn"),
                     1);
    http_fails(fx->d, "POST", "/api/v1/redeem", NULL, old_b, 404, "not-found");
    {
        g_autofree gchar *t = redeem(fx, element_string(inv, 1, "code"), "dara");
    }

    /* mya is also in another trainer's course: a trainer's call leaves her to an admin and
     * touches none of her codes; an admin's gives her one */
    other = http_ok(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                    "{\"login\":\"trainer-c\",\"display_name\":\"C\",\"role\":\"trainer\"}", 201);
    json_node_unref(http_ok(fx->d, "POST", "/api/v1/cohorts", member_string(other, "token"),
                            "{\"slug\":\"other-101\",\"template\":\"tiny\",\"starts_at\":"
                            "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                            201));
    {
        guint st = 0;
        json_node_unref(cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/other-101/roster",
                                         member_string(other, "token"),
                                         "login,display_name\nmya,M\n", "text/csv", &st, NULL));
        assert_int_equal(st, 200);
    }
    shared = http_ok(fx->d, "POST", path, fx->trainer_token, "{\"reissue\":true}", 200);
    assert_int_equal(json_array_get_length(member_array(shared, "invitations")), 2);
    assert_int_equal(json_array_get_length(member_array(shared, "needs_admin")), 1);
    assert_string_equal(element_string(member_array(shared, "needs_admin"), 0, "login"), "mya");
    cohort_assert_contains(element_string(member_array(shared, "needs_admin"), 0, "message"),
                           "only an admin");
    {
        /* her code from the reissue before still works */
        g_autofree gchar *t =
            redeem(fx, element_string(member_array(reissued, "invitations"), 2, "code"), "mya");
    }
    by_admin = http_ok(fx->d, "POST", path, fx->d->admin_token, NULL, 200);
    assert_int_equal(json_array_get_length(member_array(by_admin, "invitations")), 1);
    assert_string_equal(element_string(member_array(by_admin, "invitations"), 0, "login"), "mya");
    assert_int_equal(json_array_get_length(member_array(by_admin, "pending")), 2);

    /* bad bodies, methods, and who may not */
    http_fails(fx->d, "POST", path, fx->trainer_token, "{\"reissue\":\"yes\"}", 400,
               "invalid-argument");
    http_fails(fx->d, "POST", path, fx->trainer_token, "{\"resissue\":true}", 400,
               "invalid-argument");
    http_fails(fx->d, "POST", path, fx->trainer_token, "[]", 400, "invalid-argument");
    http_fails(fx->d, "GET", path, fx->trainer_token, NULL, 405, "method-not-allowed");
    http_fails(fx->d, "POST", path, token_a, NULL, 403, "forbidden");
    http_fails(fx->d, "POST", "/api/v1/cohorts/nope/invitations", fx->trainer_token, NULL, 404,
               "not-found");
    {
        g_autoptr(JsonNode) audit =
            http_ok(fx->d, "GET", "/api/v1/audit?limit=1", fx->d->admin_token, NULL, 200);
        JsonObject *last = json_array_get_object_element(json_node_get_array(audit), 0);
        assert_string_equal(json_object_get_string_member(last, "action"), "cohort.invitations");
        assert_string_equal(json_object_get_string_member(last, "target"), "cloud-107");
    }
}

/* A trainee enrolled by two trainers: neither can mint a code for them (it would sign in as
 * them in the other's course too), only an admin; a trainer's reissue never withdraws codes a
 * trainee holds for another trainer's course. Unknown logins and logins not enrolled get the
 * same answer. */
static void
test_api_trainee_across_trainers(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) other = NULL;
    g_autoptr(JsonNode) roster_a = NULL;
    g_autoptr(JsonNode) roster_b = NULL;
    g_autoptr(JsonNode) by_admin = NULL;
    g_autoptr(JsonNode) after = NULL;
    g_autoptr(JsonNode) unenrolled = NULL;
    g_autofree gchar *code_y = NULL;
    g_autofree gchar *token_y = NULL;
    const gchar *token_b;
    JsonArray *invitations;
    JsonArray *existing;

    cohort_create(fx, "take-101", 1);
    roster_a =
        roster_load(fx, "take-101", "login,display_name\nshared-x,X\nshared-y,Y\nonly-a,A\n", 200);
    invitations = json_object_get_array_member(json_node_get_object(roster_a), "invitations");
    assert_int_equal(json_array_get_length(invitations), 3);
    code_y = g_strdup(
        json_object_get_string_member(json_array_get_object_element(invitations, 1), "code"));

    other = http_ok(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                    "{\"login\":\"trainer-b\",\"display_name\":\"B\",\"role\":\"trainer\"}", 201);
    token_b = member_string(other, "token");
    json_node_unref(http_ok(fx->d, "POST", "/api/v1/cohorts", token_b,
                            "{\"slug\":\"take-102\",\"template\":\"tiny\",\"starts_at\":"
                            "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                            201));
    /* trainer B's roster names trainer A's trainees: enrolled, but no code for them */
    {
        guint status = 0;
        g_autofree gchar *raw = NULL;
        roster_b = cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/take-102/roster", token_b,
                                    "login,display_name\nshared-x,Renamed\nshared-y,Y\nnew-b,B\n",
                                    "text/csv", &status, &raw);
        assert_int_equal(status, 200);
    }
    assert_int_equal(member_int(roster_b, "enrolled"), 3);
    invitations = json_object_get_array_member(json_node_get_object(roster_b), "invitations");
    assert_int_equal(json_array_get_length(invitations), 1);
    assert_string_equal(
        json_object_get_string_member(json_array_get_object_element(invitations, 0), "login"),
        "new-b");
    existing = json_object_get_array_member(json_node_get_object(roster_b), "existing");
    assert_int_equal(json_array_get_length(existing), 2);
    assert_string_equal(json_array_get_string_element(existing, 0), "shared-x");

    /* neither trainer may reissue for a trainee the other also teaches */
    http_fails(fx->d, "POST", "/api/v1/cohorts/take-102/trainees/shared-y/invitation", token_b,
               NULL, 403, "forbidden");
    http_fails(fx->d, "POST", "/api/v1/cohorts/take-101/trainees/shared-y/invitation",
               fx->trainer_token, NULL, 403, "forbidden");
    /* ... and nothing was withdrawn: shared-y's code from trainer A's roster still works */
    token_y = redeem(fx, code_y, "shared-y");
    /* the roster did not rename them */
    {
        g_autoptr(JsonNode) me = http_ok(fx->d, "GET", "/api/v1/whoami", token_y, NULL, 200);
        assert_string_equal(member_string(me, "display_name"), "Y");
    }
    {
        g_autoptr(JsonNode) view =
            http_ok(fx->d, "GET", "/api/v1/cohorts/take-101", fx->trainer_token, NULL, 200);
        JsonArray *trainees = json_object_get_array_member(json_node_get_object(view), "trainees");
        assert_string_equal(json_object_get_string_member(
                                json_array_get_object_element(trainees, 1), "display_name"),
                            "X");
    }
    /* an admin may */
    by_admin = http_ok(fx->d, "POST", "/api/v1/cohorts/take-102/trainees/shared-x/invitation",
                       fx->d->admin_token, NULL, 201);
    assert_int_equal(member_int(by_admin, "withdrawn"), 1);
    /* once the trainee is only trainer A's again, trainer A may */
    unenrolled =
        http_ok(fx->d, "DELETE", "/api/v1/cohorts/take-102/trainees/shared-x", token_b, NULL, 202);
    json_node_unref(cohort_test_job_wait(fx->d, token_b, job_of(unenrolled)));
    after = http_ok(fx->d, "POST", "/api/v1/cohorts/take-101/trainees/shared-x/invitation",
                    fx->trainer_token, NULL, 201);
    assert_string_equal(member_string(after, "login"), "shared-x");

    /* an unknown login and one not enrolled here get the same answer, but for the login */
    {
        static const gchar *const routes[][3] = {
            {"POST", "/api/v1/cohorts/take-102/trainees/", "/invitation"},
            {"DELETE", "/api/v1/cohorts/take-102/trainees/", ""},
        };
        for (guint i = 0; i < G_N_ELEMENTS(routes); i++) {
            g_autofree gchar *path_unknown =
                g_strconcat(routes[i][1], "nobody-here", routes[i][2], NULL);
            g_autofree gchar *path_elsewhere =
                g_strconcat(routes[i][1], "only-a", routes[i][2], NULL);
            g_autofree gchar *raw_unknown = NULL;
            g_autofree gchar *raw_elsewhere = NULL;
            guint st = 0;
            json_node_unref(cohort_test_http(fx->d, routes[i][0], path_unknown, token_b, NULL, NULL,
                                             &st, &raw_unknown));
            assert_int_equal(st, 404);
            json_node_unref(cohort_test_http(fx->d, routes[i][0], path_elsewhere, token_b, NULL,
                                             NULL, &st, &raw_elsewhere));
            assert_int_equal(st, 404);
            {
                /* compare with the login cut out */
                g_auto(GStrv) a = g_strsplit(raw_unknown, "nobody-here", -1);
                g_auto(GStrv) b = g_strsplit(raw_elsewhere, "only-a", -1);
                g_autofree gchar *ja = g_strjoinv("LOGIN", a);
                g_autofree gchar *jb = g_strjoinv("LOGIN", b);
                assert_string_equal(ja, jb);
            }
        }
        {
            g_autofree gchar *raw_unknown = NULL;
            g_autofree gchar *raw_elsewhere = NULL;
            guint st = 0;
            json_node_unref(cohort_test_http(
                fx->d, "POST", "/api/v1/machines", token_b,
                "{\"cohort\":\"take-102\",\"trainee\":\"nobody-here\"}", NULL, &st, &raw_unknown));
            assert_int_equal(st, 404);
            json_node_unref(cohort_test_http(fx->d, "POST", "/api/v1/machines", token_b,
                                             "{\"cohort\":\"take-102\",\"trainee\":\"only-a\"}",
                                             NULL, &st, &raw_elsewhere));
            assert_int_equal(st, 404);
            {
                g_auto(GStrv) a = g_strsplit(raw_unknown, "nobody-here", -1);
                g_auto(GStrv) b = g_strsplit(raw_elsewhere, "only-a", -1);
                g_autofree gchar *ja = g_strjoinv("LOGIN", a);
                g_autofree gchar *jb = g_strjoinv("LOGIN", b);
                assert_string_equal(ja, jb);
            }
        }
    }
}

/* A trainer takes a trainee out of a cohort: their machines there are reclaimed, their codes
 * for it withdrawn; their other courses and account stay. */
static void
test_api_unenrol(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) done = NULL;
    g_autoptr(JsonNode) removed = NULL;
    g_autoptr(JsonNode) view = NULL;
    g_autoptr(JsonNode) machines = NULL;
    g_autofree gchar *token_a = NULL;
    g_autofree gchar *code_b = NULL;
    g_autofree gchar *code_b_body = NULL;
    JsonArray *invitations;

    cohort_create(fx, "drop-101", 2);
    roster = roster_load(fx, "drop-101", "login,display_name\ndrop-a,A\ndrop-b,B\n", 200);
    invitations = json_object_get_array_member(json_node_get_object(roster), "invitations");
    token_a = redeem(
        fx, json_object_get_string_member(json_array_get_object_element(invitations, 0), "code"),
        "drop-a");
    code_b = g_strdup(
        json_object_get_string_member(json_array_get_object_element(invitations, 1), "code"));
    job =
        http_ok(fx->d, "POST", "/api/v1/cohorts/drop-101/provision", fx->trainer_token, NULL, 202);
    done = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(job));
    assert_int_equal(member_int(done, "done"), 2);

    /* the trainee themself, and strangers to the cohort, may not */
    http_fails(fx->d, "DELETE", "/api/v1/cohorts/drop-101/trainees/drop-a", token_a, NULL, 403,
               "forbidden");
    http_fails(fx->d, "DELETE", "/api/v1/cohorts/drop-101/trainees/drop-a", NULL, NULL, 401,
               "unauthenticated");
    http_fails(fx->d, "GET", "/api/v1/cohorts/drop-101/trainees/drop-a", fx->trainer_token, NULL,
               405, "method-not-allowed");

    removed = http_ok(fx->d, "DELETE", "/api/v1/cohorts/drop-101/trainees/drop-b",
                      fx->trainer_token, NULL, 202);
    assert_string_equal(member_string(removed, "login"), "drop-b");
    assert_int_equal(member_int(removed, "machines"), 1);
    assert_int_equal(member_int(removed, "withdrawn"), 1);
    {
        g_autoptr(JsonNode) finished =
            cohort_test_job_wait(fx->d, fx->trainer_token, job_of(removed));
        assert_string_equal(member_string(finished, "state"), "done");
        assert_string_equal(member_string(finished, "kind"), "unenrol");
        assert_int_equal(member_int(finished, "done"), 1);
    }
    /* gone from the cohort, their machine reclaimed, their code withdrawn */
    view = http_ok(fx->d, "GET", "/api/v1/cohorts/drop-101", fx->trainer_token, NULL, 200);
    assert_int_equal(
        json_array_get_length(json_object_get_array_member(json_node_get_object(view), "trainees")),
        1);
    machines =
        http_ok(fx->d, "GET", "/api/v1/machines?cohort=drop-101", fx->trainer_token, NULL, 200);
    assert_int_equal(json_array_get_length(json_node_get_array(machines)), 1);
    assert_string_equal(
        json_object_get_string_member(
            json_array_get_object_element(json_node_get_array(machines), 0), "trainee"),
        "drop-a");
    code_b_body = g_strdup_printf("{\"code\":\"%s\"}", code_b);
    http_fails(fx->d, "POST", "/api/v1/redeem", NULL, code_b_body, 404, "not-found");
    /* not enrolled any more: a second removal, a machine or a roster-less code are refused */
    http_fails(fx->d, "DELETE", "/api/v1/cohorts/drop-101/trainees/drop-b", fx->trainer_token, NULL,
               404, "not-found");
    http_fails(fx->d, "POST", "/api/v1/machines", fx->trainer_token,
               "{\"cohort\":\"drop-101\",\"trainee\":\"drop-b\"}", 404, "not-found");
    /* a trainee without machines leaves at once, the job done with nothing to do */
    {
        g_autoptr(JsonNode) empty_roster =
            roster_load(fx, "drop-101", "login,display_name\ndrop-c,C\n", 200);
        g_autoptr(JsonNode) gone =
            http_ok(fx->d, "DELETE", "/api/v1/cohorts/drop-101/trainees/drop-c", fx->trainer_token,
                    NULL, 202);
        g_autoptr(JsonNode) finished = cohort_test_job_wait(fx->d, fx->trainer_token, job_of(gone));
        assert_int_equal(member_int(gone, "machines"), 0);
        assert_string_equal(member_string(finished, "state"), "done");
    }
}

/* Leases: machines expire on their own, may be extended within the cohort's limit, and the
 * reaper releases them when the time has come. Usage counts machine-hours; a reclaim says
 * what it freed. */
static void
test_api_leases_usage_freed(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d =
        cohort_test_daemon_start_with_config("[daemon]\nreaper_interval_s=1\n", &error);
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) machine = NULL;
    g_autoptr(JsonNode) extended = NULL;
    g_autoptr(JsonNode) usage = NULL;
    g_autofree gchar *extend_path = NULL;
    g_autofree gchar *db_path = NULL;
    const gchar *token;
    gint64 id;
    guint status = 0;

    cohort_assert_no_error(error);
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    base = cohort_test_base_install(d, "tiny", "{\"blank\":true}");
    cohort = http_ok(d, "POST", "/api/v1/cohorts", token,
                     "{\"slug\":\"leased\",\"template\":\"tiny\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                     "\"quota\":{\"machines\":2},\"lease\":{\"hours\":4,\"max_extensions\":1}}",
                     201);
    assert_int_equal(
        json_object_get_int_member(
            json_object_get_object_member(json_node_get_object(cohort), "lease"), "hours"),
        4);
    roster = cohort_test_http(d, "PUT", "/api/v1/cohorts/leased/roster", token,
                              "login,display_name\nsok-dara,Sok Dara\n", "text/csv", &status, NULL);
    assert_int_equal(status, 200);
    machine = http_ok(d, "POST", "/api/v1/machines", token,
                      "{\"cohort\":\"leased\",\"trainee\":\"sok-dara\"}", 202);
    id = member_int(machine, "id");
    assert_non_null(member_string(machine, "expires_at"));
    json_node_unref(machine_wait(d, token, id, "running"));

    /* one extension of 4 hours, then no more */
    extend_path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/extend", id);
    extended = http_ok(d, "POST", extend_path, token, NULL, 200);
    {
        g_autoptr(GDateTime) before =
            g_date_time_new_from_iso8601(member_string(machine, "expires_at"), NULL);
        g_autoptr(GDateTime) after =
            g_date_time_new_from_iso8601(member_string(extended, "expires_at"), NULL);
        assert_int_equal(g_date_time_difference(after, before) / G_TIME_SPAN_HOUR, 4);
    }
    http_fails(d, "POST", extend_path, token, NULL, 409, "quota-exceeded");

    /* the trainer takes the lease away: the machine lives as long as its cohort, and the
     * reaper has nothing to release; a lease given again starts now, with fresh extensions */
    {
        g_autofree gchar *machine_path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
        g_autoptr(JsonNode) patched =
            http_ok(d, "PATCH", "/api/v1/cohorts/leased", token, "{\"lease\":{\"hours\":0}}", 200);
        g_autoptr(JsonNode) unleased = http_ok(d, "GET", machine_path, token, NULL, 200);
        g_autoptr(JsonNode) leased_again = NULL;
        g_autoptr(JsonNode) leased = NULL;
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autoptr(GDateTime) expires = NULL;

        assert_int_equal(
            json_object_get_int_member(
                json_object_get_object_member(json_node_get_object(patched), "lease"), "hours"),
            0);
        assert_true(json_object_get_null_member(json_node_get_object(unleased), "expires_at"));
        http_fails(d, "POST", extend_path, token, NULL, 409, "conflict");
        leased_again =
            http_ok(d, "PATCH", "/api/v1/cohorts/leased", token, "{\"lease\":{\"hours\":4}}", 200);
        leased = http_ok(d, "GET", machine_path, token, NULL, 200);
        expires = g_date_time_new_from_iso8601(member_string(leased, "expires_at"), NULL);
        assert_non_null(expires);
        assert_in_range(g_date_time_difference(expires, now) / G_TIME_SPAN_MINUTE, 239, 240);
        json_node_unref(http_ok(d, "POST", extend_path, token, NULL, 200));
    }

    /* machine-hours: an open run counts until now (times have whole seconds) */
    g_usleep(1100 * 1000);
    usage = http_ok(d, "GET", "/api/v1/usage", d->admin_token, NULL, 200);
    /* written a trainee at a time, the answer is byte for byte what json-glib writes for
     * the whole tree */
    {
        g_autofree gchar *raw = NULL;
        g_autofree gchar *whole = NULL;
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) again =
            cohort_test_http(d, "GET", "/api/v1/usage", d->admin_token, NULL, NULL, &status, &raw);
        assert_int_equal(status, 200);
        json_generator_set_root(gen, again);
        whole = json_generator_to_data(gen, NULL);
        assert_string_equal(raw, whole);
        assert_non_null(strstr(raw, "\"trainees\":[{\"login\":"));
    }
    /* usage is the admin's, and the refusal says so in its own words */
    {
        g_autofree gchar *raw = NULL;
        g_autoptr(JsonNode) refused =
            cohort_test_http(d, "GET", "/api/v1/usage", token, NULL, NULL, &status, &raw);
        assert_int_equal(status, 403);
        assert_string_equal(cohort_test_error_code(refused), "forbidden");
        assert_non_null(strstr(raw, "read usage"));
    }
    {
        JsonObject *c = json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(usage), "cohorts"), 0);
        JsonObject *t =
            json_array_get_object_element(json_object_get_array_member(c, "trainees"), 0);
        assert_string_equal(json_object_get_string_member(c, "cohort"), "leased");
        assert_int_equal(json_object_get_int_member(c, "machines"), 1);
        assert_true(json_object_get_double_member(c, "machine_hours") > 0);
        assert_string_equal(json_object_get_string_member(t, "login"), "sok-dara");
        assert_int_equal(json_object_get_int_member(t, "vcpus"), 1);
    }

    /* time passes: the lease runs out (written into the store, as the clock would) */
    db_path = g_build_filename(d->state_dir, "cohort.db", NULL);
    {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        assert_int_equal(sqlite3_exec(db, "UPDATE machines SET expires_at = '2026-01-01T00:00:00Z'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    json_node_unref(machine_wait(d, token, id, "reclaimed"));
    {
        g_autoptr(JsonNode) audit =
            http_ok(d, "GET", "/api/v1/audit?limit=3", d->admin_token, NULL, 200);
        assert_string_equal(
            json_object_get_string_member(
                json_array_get_object_element(json_node_get_array(audit), 0), "action"),
            "machine.expire");
    }

    /* a reclaim says what it freed */
    {
        g_autoptr(JsonNode) again =
            http_ok(d, "POST", "/api/v1/machines", token,
                    "{\"cohort\":\"leased\",\"trainee\":\"sok-dara\"}", 202);
        g_autoptr(JsonNode) started = NULL;
        g_autoptr(JsonNode) job = NULL;
        JsonObject *freed;
        json_node_unref(machine_wait(d, token, member_int(again, "id"), "running"));
        started = http_ok(d, "POST", "/api/v1/cohorts/leased/reclaim", token, NULL, 202);
        job = cohort_test_job_wait(d, token, job_of(started));
        freed = json_object_get_object_member(json_node_get_object(job), "freed");
        assert_int_equal(json_object_get_int_member(freed, "machines"), 1);
        assert_int_equal(json_object_get_int_member(freed, "vcpus"), 1);
        assert_int_equal(json_object_get_int_member(freed, "memory_mib"), 64);
        assert_int_equal(json_object_get_int_member(freed, "networks"), 0);
    }
    cohort_test_daemon_stop(d);
}

/* kill -9 right after a provision wrote its job and rows, and in the middle of a reclaim: after
 * a plain restart the same job ids go on and end done with every machine counted (the test
 * driver forgets its domains with the process: the rows are all cohortd has, and enough). 70
 * machines: more than a reclaim queues ahead of its results (64), so the kill also leaves some
 * that were never queued. */
#define CRASH_TRAINEES 70
static void
test_api_job_resumes_after_kill(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start_with_config(
        "[host:lab]\nuri=test://" COHORT_TEST_DATADIR
        "/crash-host.xml\naccel=tcg\npool=default\ncpu_ratio=8\n",
        &error);
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) killed = NULL;
    g_autoptr(JsonNode) provision = NULL;
    g_autoptr(JsonNode) reclaim = NULL;
    g_autoptr(JsonNode) course = NULL;
    g_autoptr(GString) roster = g_string_new("login,display_name\n");
    JsonArray *trainees;
    const gchar *token;
    guint status = 0;

    cohort_assert_no_error(error);
    for (guint i = 1; i <= CRASH_TRAINEES; i++)
        g_string_append_printf(roster, "t%u,T%u\n", i, i);
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    cohort = http_ok(d, "POST", "/api/v1/cohorts", token,
                     "{\"slug\":\"crash\",\"template\":\"tiny\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                     201);
    json_node_unref(cohort_test_http(d, "PUT", "/api/v1/cohorts/crash/roster", token, roster->str,
                                     "text/csv", &status, NULL));
    assert_int_equal(status, 200);

    /* killed after the job, its rows and its machines are written, before any libvirt work */
    cohort_test_daemon_stop_keep(d);
    assert_true(cohort_test_daemon_spawn(d, "rows-written:1", &error));
    killed = cohort_test_http_full(d, "POST", "/api/v1/cohorts/crash/provision", token, NULL, NULL,
                                   TRUE, &status, NULL);
    assert_int_equal(cohort_test_daemon_wait_killed(d, 60), SIGKILL);
    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
    provision = cohort_test_job_wait(d, token, 1);
    assert_string_equal(member_string(provision, "state"), "done");
    assert_int_equal(member_int(provision, "total"), CRASH_TRAINEES);
    assert_int_equal(member_int(provision, "done"), CRASH_TRAINEES);
    assert_int_equal(member_int(provision, "failed"), 0);
    course = http_ok(d, "GET", "/api/v1/cohorts/crash", token, NULL, 200);
    trainees = json_object_get_array_member(json_node_get_object(course), "trainees");
    assert_int_equal(json_array_get_length(trainees), CRASH_TRAINEES);
    for (guint i = 0; i < json_array_get_length(trainees); i++) {
        JsonArray *own =
            json_object_get_array_member(json_array_get_object_element(trainees, i), "machines");
        assert_int_equal(json_array_get_length(own), 1);
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(own, 0), "state"),
            "running");
    }

    /* killed at the third teardown: the reclaim goes on with the rest. The test driver forgot
     * the domains with the process, so reconcile has failed the machines first: they held
     * nothing, and the reclaim, resumed, still knows that */
    cohort_test_daemon_stop_keep(d);
    assert_true(cohort_test_daemon_spawn(d, "overlay-deleted:3", &error));
    for (guint i = 1; i <= CRASH_TRAINEES; i++)
        json_node_unref(machine_wait(d, token, i, "failed"));
    g_clear_pointer(&killed, json_node_unref);
    killed = cohort_test_http_full(d, "POST", "/api/v1/cohorts/crash/reclaim", token, NULL, NULL,
                                   TRUE, &status, NULL);
    assert_int_equal(cohort_test_daemon_wait_killed(d, 60), SIGKILL);
    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
    reclaim = cohort_test_job_wait(d, token, 2);
    assert_string_equal(member_string(reclaim, "state"), "done");
    assert_int_equal(member_int(reclaim, "done"), CRASH_TRAINEES);
    assert_int_equal(member_int(reclaim, "failed"), 0);
    assert_int_equal(
        json_object_get_int_member(
            json_object_get_object_member(json_node_get_object(reclaim), "freed"), "machines"),
        0);
    cohort_test_daemon_stop(d);
}

/* kill -9 after a group of requests committed, before any was answered or its work queued
 * (cohort-store-group.c): the caller got no answer, but the machine is there after a restart
 * and reconcile makes it. */
static void
test_api_request_committed_then_killed(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start_with_config(
        "[host:lab]\nuri=test://" COHORT_TEST_DATADIR "/crash-host.xml\naccel=tcg\npool=default\n",
        &error);
    g_autoptr(JsonNode) killed = NULL;
    g_autoptr(JsonNode) mine = NULL;
    g_autoptr(JsonNode) audit = NULL;
    guint status = 0;

    cohort_assert_no_error(error);
    json_node_unref(http_ok(d, "POST", "/api/v1/cohorts", d->admin_token,
                            "{\"slug\":\"crash\",\"template\":\"tiny\",\"starts_at\":"
                            "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                            201));
    json_node_unref(cohort_test_http(d, "PUT", "/api/v1/cohorts/crash/roster", d->admin_token,
                                     "login,display_name\nsok-dara,Sok Dara\n", "text/csv", &status,
                                     NULL));
    assert_int_equal(status, 200);

    cohort_test_daemon_stop_keep(d);
    assert_true(cohort_test_daemon_spawn(d, "request-committed:1", &error));
    cohort_assert_no_error(error);
    killed = cohort_test_http_full(d, "POST", "/api/v1/machines", d->admin_token,
                                   "{\"cohort\":\"crash\",\"trainee\":\"sok-dara\"}", NULL, TRUE,
                                   &status, NULL);
    assert_int_equal(status, 0);
    assert_int_equal(cohort_test_daemon_wait_killed(d, 60), SIGKILL);
    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
    json_node_unref(machine_wait(d, d->admin_token, 1, "running"));
    mine = http_ok(d, "GET", "/api/v1/machines?cohort=crash", d->admin_token, NULL, 200);
    assert_int_equal(json_array_get_length(json_node_get_array(mine)), 1);
    /* its audit record was committed with it */
    audit = http_ok(d, "GET", "/api/v1/audit", d->admin_token, NULL, 200);
    {
        JsonArray *entries = json_node_get_array(audit);
        guint requested = 0;
        for (guint i = 0; i < json_array_get_length(entries); i++) {
            JsonObject *entry = json_array_get_object_element(entries, i);
            if (g_strcmp0(json_object_get_string_member(entry, "action"), "machine.request") == 0 &&
                g_strcmp0(json_object_get_string_member(entry, "result"), "ok") == 0)
                requested++;
        }
        assert_int_equal(requested, 1);
    }
    cohort_test_daemon_stop(d);
}

/* What cohortd's environment holds for glibc once it runs, with @given in GLIBC_TUNABLES
 * when it starts (NULL: not set). */
static gchar *
tunables_of_daemon(const gchar *given)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *before = g_strdup(g_getenv("GLIBC_TUNABLES"));
    g_autofree gchar *path = NULL;
    g_autofree gchar *environ_text = NULL;
    gsize len = 0;
    CohortTestDaemon *d;
    GString *found = NULL;

    if (given != NULL)
        g_setenv("GLIBC_TUNABLES", given, TRUE);
    else
        g_unsetenv("GLIBC_TUNABLES");
    d = cohort_test_daemon_start_with_config(NULL, &error);
    if (before != NULL)
        g_setenv("GLIBC_TUNABLES", before, TRUE);
    else
        g_unsetenv("GLIBC_TUNABLES");
    cohort_assert_no_error(error);
    path = g_strdup_printf("/proc/%d/environ", (gint)d->pid);
    assert_true(g_file_get_contents(path, &environ_text, &len, &error));
    /* ld.so ends each tunable it parsed with a NUL in that text (its environ points at a
     * copy): the entries after GLIBC_TUNABLES that name glibc's tunables are the rest of it */
    for (gsize at = 0; at < len; at += strlen(environ_text + at) + 1) {
        const gchar *entry = environ_text + at;
        if (g_str_has_prefix(entry, "GLIBC_TUNABLES="))
            found = g_string_new(entry + strlen("GLIBC_TUNABLES="));
        else if (found != NULL && g_str_has_prefix(entry, "glibc."))
            g_string_append_printf(found, ":%s", entry);
        else if (found != NULL)
            break;
    }
    cohort_test_daemon_stop(d);
    return found != NULL ? g_string_free(found, FALSE) : g_strdup("(unset)");
}

/* cohortd caches only small freed blocks per thread (its peak RSS, bench/README.md 4): it
 * runs itself again with the glibc tunable set, adds it to tunables it is given, and keeps
 * a value of that tunable the environment gives. */
static void
test_api_malloc_tunable(void **state)
{
    g_autofree gchar *plain = tunables_of_daemon(NULL);
    g_autofree gchar *added = tunables_of_daemon("glibc.malloc.mxfast=0");
    g_autofree gchar *kept = tunables_of_daemon("glibc.malloc.tcache_max=512");

    assert_string_equal(plain, "glibc.malloc.tcache_max=256");
    assert_string_equal(added, "glibc.malloc.mxfast=0:glibc.malloc.tcache_max=256");
    assert_string_equal(kept, "glibc.malloc.tcache_max=512");
}

/* The machine's pending operations, as the answer lists them; "(none)" for an answer without
 * the list. */
static gchar *
pending_of(JsonNode *machine)
{
    JsonNode *node = json_object_get_member(json_node_get_object(machine), "pending");
    JsonArray *pending;
    GString *out = g_string_new(NULL);

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_string_free(g_string_append(out, "(none)"), FALSE);
    pending = json_node_get_array(node);

    for (guint i = 0; i < json_array_get_length(pending); i++)
        g_string_append_printf(out, "%s%s", i > 0 ? "," : "",
                               json_array_get_string_element(pending, i));
    return g_string_free(out, FALSE);
}

static JsonNode *
machine_post(CohortTestDaemon *d, const gchar *token, gint64 id, const gchar *op,
             const gchar *state, const gchar *pending)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/%s", id, op);
    JsonNode *node = http_ok(d, "POST", path, token, NULL, 202);
    g_autofree gchar *listed = pending_of(node);

    if (g_strcmp0(member_string(node, "state"), state) != 0 || g_strcmp0(listed, pending) != 0)
        fail_msg("%s: expected %s with pending [%s], got %s with pending [%s]", op, state, pending,
                 member_string(node, "state"), listed);
    return node;
}

/* What the API says is true: a stop answers "stopping", and the machine is "stopped" only
 * once libvirt says it is off; work asked meanwhile waits in "pending", in order, and the
 * machine is "running" only when the last of it has run. The stop is held in its worker
 * (COHORT_HOLD_POINT) so that the test sees it under way, however fast the test driver is. */
static void
test_api_machine_states_pending(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-hold-XXXXXX", &error);
    g_autofree gchar *hold = g_build_filename(dir, "hold", NULL);
    g_autofree gchar *spec = g_strconcat("work-stop:", hold, NULL);
    g_autofree gchar *machine_path = NULL;
    CohortTestDaemon *d;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) machine = NULL;
    const gchar *token;
    guint status = 0;
    gint64 id;

    cohort_assert_no_error(error);
    assert_true(g_file_set_contents(hold, "", 0, NULL));
    g_setenv("COHORT_HOLD_POINT", spec, TRUE);
    d = cohort_test_daemon_start(&error);
    g_unsetenv("COHORT_HOLD_POINT");
    cohort_assert_no_error(error);
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    base = cohort_test_base_install(d, "tiny", "{\"blank\":true}");
    cohort = http_ok(d, "POST", "/api/v1/cohorts", token,
                     "{\"slug\":\"states\",\"template\":\"tiny\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                     201);
    json_node_unref(cohort_test_http(d, "PUT", "/api/v1/cohorts/states/roster", token,
                                     "login,display_name\nsok-dara,Sok Dara\n", "text/csv", &status,
                                     NULL));
    assert_int_equal(status, 200);
    machine = http_ok(d, "POST", "/api/v1/machines", token,
                      "{\"cohort\":\"states\",\"trainee\":\"sok-dara\"}", 202);
    id = member_int(machine, "id");
    machine_path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    {
        g_autofree gchar *none = pending_of(machine);
        assert_string_equal(none, "");
    }
    json_node_unref(machine_wait(d, token, id, "running"));

    /* the stop is under way (held): stopping, whatever time passes, and no console */
    json_node_unref(machine_post(d, token, id, "stop", "stopping", ""));
    {
        g_autoptr(JsonNode) got = http_ok(d, "GET", machine_path, token, NULL, 200);
        g_autofree gchar *console = g_strconcat(machine_path, "/console", NULL);
        assert_string_equal(member_string(got, "state"), "stopping");
        http_fails(d, "GET", console, token, NULL, 409, "conflict");
    }
    /* work asked meanwhile waits its turn, in order, and says so; the state stays the stop's */
    json_node_unref(machine_post(d, token, id, "start", "stopping", "start"));
    json_node_unref(machine_post(d, token, id, "reboot", "stopping", "start,reboot"));
    json_node_unref(machine_post(d, token, id, "start", "stopping", "start,reboot,start"));
    json_node_unref(machine_post(d, token, id, "reboot", "stopping", "start,reboot,start,reboot"));
    {
        /* a bounded queue: one more is refused until these are done */
        g_autofree gchar *path = g_strconcat(machine_path, "/start", NULL);
        http_fails(d, "POST", path, token, NULL, 409, "conflict");
    }
    {
        /* lists, the cohort and the metrics say the same */
        g_autoptr(JsonNode) list =
            http_ok(d, "GET", "/api/v1/machines?cohort=states", token, NULL, 200);
        g_autoptr(JsonNode) course = http_ok(d, "GET", "/api/v1/cohorts/states", token, NULL, 200);
        g_autoptr(JsonNode) listed = json_array_dup_element(json_node_get_array(list), 0);
        JsonObject *trainee = json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(course), "trainees"), 0);
        g_autoptr(JsonNode) own =
            json_array_dup_element(json_object_get_array_member(trainee, "machines"), 0);
        g_autofree gchar *in_list = pending_of(listed);
        g_autofree gchar *in_course = pending_of(own);
        g_autofree gchar *raw = NULL;
        g_autoptr(JsonNode) metrics =
            cohort_test_http(d, "GET", "/metrics", NULL, NULL, NULL, &status, &raw);
        assert_string_equal(member_string(listed, "state"), "stopping");
        assert_string_equal(in_list, "start,reboot,start,reboot");
        assert_string_equal(member_string(own, "state"), "stopping");
        assert_string_equal(in_course, "start,reboot,start,reboot");
        assert_int_equal(status, 200);
        cohort_assert_contains(raw, "cohort_machines{state=\"stopping\"} 1\n");
    }
    /* libvirt finishes the stop: the queue runs, and the machine is running when it is done */
    assert_int_equal(g_unlink(hold), 0);
    {
        g_autoptr(JsonNode) done = machine_wait(d, token, id, "running");
        g_autofree gchar *none = pending_of(done);
        assert_string_equal(none, "");
        assert_true(json_object_get_null_member(json_node_get_object(done), "error"));
    }

    /* a release behind a stop drops the work that waits before it: the machine goes */
    assert_true(g_file_set_contents(hold, "", 0, NULL));
    json_node_unref(machine_post(d, token, id, "stop", "stopping", ""));
    json_node_unref(machine_post(d, token, id, "start", "stopping", "start"));
    {
        g_autoptr(JsonNode) released = http_ok(d, "DELETE", machine_path, token, NULL, 202);
        g_autofree gchar *pending = pending_of(released);
        g_autofree gchar *start = g_strconcat(machine_path, "/start", NULL);
        /* said at once (reclaiming survives a crash), and done after the stop */
        assert_string_equal(member_string(released, "state"), "reclaiming");
        assert_string_equal(pending, "reclaim");
        http_fails(d, "POST", start, token, NULL, 409, "conflict");
    }
    assert_int_equal(g_unlink(hold), 0);
    json_node_unref(machine_wait(d, token, id, "reclaimed"));
    cohort_test_daemon_stop(d);
    assert_int_equal(g_rmdir(dir), 0);
}

/* Template files change on the server: a reload takes them all, or none when one is bad,
 * and says what happened to each. */
static void
test_api_template_reload(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-templates-XXXXXX", &error);
    g_autofree gchar *config = NULL;
    g_autofree gchar *tiny = NULL;
    g_autofree gchar *tiny_path = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    g_autofree gchar *schema_src =
        g_build_filename(COHORT_TEMPLATESDIR_SRC, "cohort-template.rng", NULL);
    g_autofree gchar *schema = NULL;
    g_autofree gchar *in_dir = NULL;
    g_autofree gchar *second = NULL;
    g_autofree gchar *bad = NULL;
    g_autofree gchar *raw = NULL;
    CohortTestDaemon *d;
    guint status = 0;

    cohort_assert_no_error(error);
    assert_true(g_file_get_contents(tiny_path, &tiny, NULL, NULL));
    assert_true(g_file_get_contents(schema_src, &schema, NULL, NULL));
    in_dir = g_build_filename(dir, "cohort-template.rng", NULL);
    assert_true(g_file_set_contents(in_dir, schema, -1, NULL));
    g_free(in_dir);
    in_dir = g_build_filename(dir, "tiny.xml", NULL);
    assert_true(g_file_set_contents(in_dir, tiny, -1, NULL));
    config = g_strdup_printf("[daemon]\ntemplates_dir=%s\n", dir);
    d = cohort_test_daemon_start_with_config(config, &error);
    cohort_assert_no_error(error);

    /* a new file and a changed one */
    second = g_build_filename(dir, "tiny-copy.xml", NULL);
    {
        g_autoptr(GString) copy = g_string_new(tiny);
        g_string_replace(copy, "<name>tiny</name>", "<name>tiny-copy</name>", 1);
        assert_true(g_file_set_contents(second, copy->str, -1, NULL));
        g_string_replace(copy, "<name>tiny-copy</name>", "<name>tiny</name>", 1);
        g_string_replace(copy, "for tests and demos", "for tests, demos and more", 0);
        assert_true(g_file_set_contents(in_dir, copy->str, -1, NULL));
    }
    {
        g_autoptr(JsonNode) reloaded =
            http_ok(d, "POST", "/api/v1/templates/reload", d->admin_token, NULL, 200);
        JsonArray *list = json_object_get_array_member(json_node_get_object(reloaded), "templates");
        g_autoptr(JsonNode) shown =
            http_ok(d, "GET", "/api/v1/templates/tiny", d->admin_token, NULL, 200);
        assert_int_equal(json_array_get_length(list), 2);
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(list, 0), "name"), "tiny");
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(list, 0), "state"),
            "changed");
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(list, 1), "state"),
            "added");
        cohort_assert_contains(member_string(shown, "description"), "for tests, demos and more");
    }

    /* a bad file: 422 naming it, and nothing changes (the copy stays, though removed) */
    bad = g_build_filename(dir, "broken.xml", NULL);
    assert_true(g_file_set_contents(bad, "<domain type='qemu'><name>broken</name>", -1, NULL));
    assert_int_equal(g_unlink(second), 0);
    {
        g_autoptr(JsonNode) refused = cohort_test_http(d, "POST", "/api/v1/templates/reload",
                                                       d->admin_token, NULL, NULL, &status, &raw);
        JsonArray *files;
        assert_int_equal(status, 422);
        assert_string_equal(cohort_test_error_code(refused), "invalid-argument");
        files = json_object_get_array_member(
            json_object_get_object_member(json_node_get_object(refused), "error"), "files");
        assert_int_equal(json_array_get_length(files), 1);
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(files, 0), "file"), bad);
        json_node_unref(
            http_ok(d, "GET", "/api/v1/templates/tiny-copy", d->admin_token, NULL, 200));
    }
    /* fixed: the copy is gone, tiny is as it was */
    assert_int_equal(g_unlink(bad), 0);
    {
        g_autoptr(JsonNode) reloaded =
            http_ok(d, "POST", "/api/v1/templates/reload", d->admin_token, NULL, 200);
        JsonArray *list = json_object_get_array_member(json_node_get_object(reloaded), "templates");
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(list, 0), "state"),
            "unchanged");
        assert_string_equal(
            json_object_get_string_member(json_array_get_object_element(list, 1), "state"),
            "removed");
        http_fails(d, "GET", "/api/v1/templates/tiny-copy", d->admin_token, NULL, 404, "not-found");
    }
    /* the admin's alone */
    {
        g_autoptr(JsonNode) trainer =
            http_ok(d, "POST", "/api/v1/users", d->admin_token,
                    "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
        http_fails(d, "POST", "/api/v1/templates/reload", member_string(trainer, "token"), NULL,
                   403, "forbidden");
    }
    cohort_test_daemon_stop(d);
    g_unlink(in_dir);
    g_free(in_dir);
    in_dir = g_build_filename(dir, "cohort-template.rng", NULL);
    g_unlink(in_dir);
    assert_int_equal(g_rmdir(dir), 0);
}

/* A host that takes the connection and never answers (a hung remote libvirtd, a half-dead
 * network): reconnecting to it must not stall the API for everyone else. */
static void
test_api_reconnect_does_not_block(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) listener = NULL;
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string("127.0.0.1", 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autofree gchar *extra = NULL;
    CohortTestDaemon *d;
    guint16 port;

    /* a port nothing listens on yet: the host is down from the start */
    listener =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
    cohort_assert_no_error(error);
    g_socket_set_option(listener, SOL_SOCKET, SO_REUSEADDR, 1, NULL);
    assert_true(g_socket_bind(listener, any, FALSE, &error));
    bound = g_socket_get_local_address(listener, &error);
    port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    extra = g_strdup_printf("[host:hung]\nuri=qemu+tcp://127.0.0.1:%u/system\npool=default\n"
                            "vcpus=8\nmemory_mib=8192\n",
                            port);
    d = cohort_test_daemon_start_with_config(extra, &error);
    cohort_assert_no_error(error);

    /* now it listens and never answers: the reconnects (after 1, 2, 4 s) hang in libvirt */
    assert_true(g_socket_listen(listener, &error));
    cohort_assert_no_error(error);
    for (guint i = 0; i < 8; i++) {
        g_autoptr(JsonNode) hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
        JsonObject *hung = NULL;
        for (guint h = 0; h < json_array_get_length(json_node_get_array(hosts)); h++) {
            JsonObject *o = json_array_get_object_element(json_node_get_array(hosts), h);
            if (g_strcmp0(json_object_get_string_member(o, "name"), "hung") == 0)
                hung = o;
        }
        assert_non_null(hung);
        assert_string_equal(json_object_get_string_member(hung, "state"), "down");
        g_usleep(500 * 1000);
    }
    cohort_test_daemon_stop(d);
    g_socket_close(listener, NULL);
}

/* A domain of template tiny tagged as machine @id of @owner (NULL: no tag at all), as a child
 * of the test driver's <node>, with its overlay volume in the node's pool. */
static void
node_add_machine(xmlNode *node, xmlNode *pool, const gchar *name, gint64 id, const gchar *owner)
{
    g_autoptr(CohortTemplate) tmpl = cohort_test_template_load("tiny");
    g_autoptr(GError) error = NULL;
    g_autofree gchar *disk = g_strconcat("/var/lib/libvirt/images/", name, ".qcow2", NULL);
    g_autofree gchar *volume = g_strconcat(name, ".qcow2", NULL);
    CohortMachineSpec spec = {
        .domain_name = name,
        .machine_id = id,
        .cohort = "ghost",
        .trainee = "sok-dara",
        .disk_path = disk,
        .vnc_password = "s3cret",
        .owner = owner,
    };
    g_autofree gchar *xml = cohort_template_render(tmpl, &spec, &error);
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *vol;

    cohort_assert_no_error(error);
    doc = cohort_xml_parse_memory(xml, strlen(xml), name, "domain", &error);
    cohort_assert_no_error(error);
    if (owner == NULL) {
        /* no tag: the <metadata> goes whole */
        g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
        g_autoptr(xmlXPathObject) found = xmlXPathEvalExpression(BAD_CAST "/domain/metadata", ctxt);
        assert_int_equal(xmlXPathNodeSetGetLength(found->nodesetval), 1);
        xmlUnlinkNode(found->nodesetval->nodeTab[0]);
        xmlFreeNode(found->nodesetval->nodeTab[0]);
    }
    xmlAddChild(node, xmlDocCopyNode(xmlDocGetRootElement(doc), node->doc, 1));
    vol = xmlNewChild(pool, NULL, BAD_CAST "volume", NULL);
    cohort_xml_set_text(xmlNewChild(vol, NULL, BAD_CAST "name", NULL), volume);
    cohort_xml_set_text(xmlNewChild(vol, NULL, BAD_CAST "capacity", NULL), "33554432");
}

/* How many audit entries of @action name @target. */
static guint
audit_count(CohortTestDaemon *d, const gchar *action, const gchar *target)
{
    guint status = 0;
    g_autoptr(JsonNode) audit = cohort_test_http_full(
        d, "GET", "/api/v1/audit?limit=500", d->admin_token, NULL, NULL, TRUE, &status, NULL);
    JsonArray *entries;
    guint count = 0;

    if (status == 0)
        fail_msg("cohortd died (see its log above)");
    assert_int_equal(status, 200);
    entries = json_node_get_array(audit);
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *e = json_array_get_object_element(entries, i);
        count += g_strcmp0(json_object_get_string_member(e, "action"), action) == 0 &&
                 g_strcmp0(json_object_get_string_member(e, "target"), target) == 0;
    }
    return count;
}

static void
audit_wait(CohortTestDaemon *d, const gchar *action, const gchar *target, guint count)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (audit_count(d, action, target) < count) {
        if (g_get_monotonic_time() > deadline)
            fail_msg("no %u audit entries %s %s within 60 s", count, action, target);
        g_usleep(50 * 1000);
    }
}

/* Issue 10: a host whose libvirt holds a domain with this installation's tag and no row
 * made cohortd crash at every start. Now reconcile removes it (once per start: the test
 * driver reads its node file again each time) and cohortd keeps running; domains of another
 * installation or without a tag are never touched. */
static void
test_api_orphan_domain(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start(&error);
    g_autofree gchar *instance = NULL;
    g_autofree gchar *other = g_uuid_string_random();
    g_autofree gchar *small = g_build_filename(COHORT_TEST_DATADIR, "small-host.xml", NULL);
    g_autofree gchar *node_path = NULL;
    g_autofree gchar *node_xml = NULL;
    g_autofree gchar *small_xml = NULL;
    g_autofree gchar *config = NULL;
    g_autofree gchar *extra = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(xmlXPathObject) pool = NULL;
    gsize len = 0;

    cohort_assert_no_error(error);
    instance = cohort_test_daemon_instance_id(d);
    /* small-host.xml with three domains in it */
    assert_true(g_file_get_contents(small, &small_xml, &len, NULL));
    doc = cohort_xml_parse_memory(small_xml, len, small, "node", &error);
    cohort_assert_no_error(error);
    ctxt = xmlXPathNewContext(doc);
    pool = xmlXPathEvalExpression(BAD_CAST "/node/pool", ctxt);
    assert_int_equal(xmlXPathNodeSetGetLength(pool->nodesetval), 1);
    node_add_machine(xmlDocGetRootElement(doc), pool->nodesetval->nodeTab[0],
                     "cohort-ghost--sok-dara", 4242, instance);
    node_add_machine(xmlDocGetRootElement(doc), pool->nodesetval->nodeTab[0],
                     "cohort-other--sok-dara", 4243, other);
    node_add_machine(xmlDocGetRootElement(doc), pool->nodesetval->nodeTab[0],
                     "cohort-plain--sok-dara", 4244, NULL);
    node_xml = cohort_xml_to_string(doc);
    node_path = g_build_filename(d->state_dir, "ghost-host.xml", NULL);
    assert_true(g_file_set_contents(node_path, node_xml, -1, NULL));

    /* the host joins the configuration; cohortd starts on it, as after an upgrade */
    cohort_test_daemon_stop_keep(d);
    assert_true(g_file_get_contents(d->config_path, &config, NULL, NULL));
    extra = g_strdup_printf("%s\n[host:ghosts]\nuri=test://%s\naccel=tcg\n", config, node_path);
    assert_true(g_file_set_contents(d->config_path, extra, -1, NULL));
    for (guint start = 1; start <= 2; start++) {
        assert_true(cohort_test_daemon_spawn(d, NULL, &error));
        cohort_assert_no_error(error);
        audit_wait(d, "machine.orphan-remove", "cohort-ghost--sok-dara", start);
        /* still serving, and nothing else was removed */
        json_node_unref(http_ok(d, "GET", "/healthz", NULL, NULL, 200));
        assert_int_equal(audit_count(d, "machine.orphan-remove", "cohort-other--sok-dara"), 0);
        assert_int_equal(audit_count(d, "machine.orphan-remove", "cohort-plain--sok-dara"), 0);
        cohort_test_daemon_stop_keep(d);
    }
    g_unlink(node_path);
    cohort_test_daemon_stop(d);
}

static JsonObject *
host_named(JsonNode *hosts, const gchar *name)
{
    JsonArray *list = json_node_get_array(hosts);

    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *h = json_array_get_object_element(list, i);
        if (g_strcmp0(json_object_get_string_member(h, "name"), name) == 0)
            return h;
    }
    return NULL;
}

/* The error message of a request that must fail with @expect and @code. */
static gchar *
http_fails_message(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
                   const gchar *body, guint expect, const gchar *code)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) node = cohort_test_http(d, method, path, token, body, NULL, &status, &raw);

    if (status != expect || g_strcmp0(cohort_test_error_code(node), code) != 0)
        fail_msg("%s %s: expected %u %s, got %u: %s", method, path, expect, code, status, raw);
    return g_strdup(json_object_get_string_member(
        json_object_get_object_member(json_node_get_object(node), "error"), "message"));
}

/* Hosts an admin registers and removes: one libvirt host once, URIs that read no file of
 * cohortd's machine and run no program, removal only when nothing lives there, history kept;
 * test:/// hosts only where the configuration allows them, the fallback lab host always. */
static void
test_api_hosts(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *small = g_build_filename(COHORT_TEST_DATADIR, "small-host.xml", NULL);
    g_autofree gchar *extra = g_strdup_printf("[host:conf]\nuri=test://%s\naccel=tcg\n", small);
    CohortTestDaemon *d = cohort_test_daemon_start_with_config(NULL, &error);
    g_autofree gchar *body = NULL;
    g_autofree gchar *message = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *lab_uri = NULL;
    g_autoptr(JsonNode) hosts = NULL;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) machine = NULL;
    g_autoptr(JsonNode) removed = NULL;
    g_autoptr(JsonNode) reclaimed = NULL;
    const gchar *token;
    gint64 id;

    cohort_assert_no_error(error);
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    lab_uri = g_strdup(json_object_get_string_member(host_named(hosts, "lab"), "uri"));

    /* one libvirt host is registered once: the same URI, however written, is refused */
    json_node_unref(
        http_ok(d, "POST", "/api/v1/hosts", d->admin_token,
                "{\"name\":\"lab2\",\"uri\":\"test:///default\",\"pool\":\"default-pool\"}", 201));
    message =
        http_fails_message(d, "POST", "/api/v1/hosts", d->admin_token,
                           "{\"name\":\"lab3\",\"uri\":\"TEST:///default/\"}", 409, "conflict");
    cohort_assert_contains(message, "host 'lab2' has this libvirt URI already (test:///default)");
    g_clear_pointer(&message, g_free);
    body = g_strdup_printf("{\"name\":\"lab4\",\"uri\":\"%s\"}", lab_uri);
    message = http_fails_message(d, "POST", "/api/v1/hosts", d->admin_token, body, 409, "conflict");
    cohort_assert_contains(message, "host 'lab' has this libvirt URI already");
    g_clear_pointer(&message, g_free);
    /* URIs that would read cohortd's files or run its programs */
    {
        static const gchar *const refused[][2] = {
            {"qemu+ext:///system?command=/bin/sh", "ext transport"},
            {"qemu+ssh://lab9/system?keyfile=/etc/shadow", "keyfile="},
            {"qemu+unix:///system?socket=/run/docker.sock", "socket="},
            {"qemu:///embed?root=/tmp", "/embed"},
            {"lxc:///system", "driver 'lxc'"},
            {"/etc/shadow", "not a libvirt URI"},
        };
        for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            g_autoptr(JsonGenerator) gen = json_generator_new();
            g_autoptr(JsonNode) root = NULL;
            g_autofree gchar *json = NULL;
            g_autofree gchar *why = NULL;
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "name");
            json_builder_add_string_value(b, "lab9");
            json_builder_set_member_name(b, "uri");
            json_builder_add_string_value(b, refused[i][0]);
            json_builder_end_object(b);
            root = json_builder_get_root(b);
            json_generator_set_root(gen, root);
            json = json_generator_to_data(gen, NULL);
            why = http_fails_message(d, "POST", "/api/v1/hosts", d->admin_token, json, 400,
                                     "invalid-argument");
            cohort_assert_contains(why, refused[i][1]);
            cohort_assert_contains(why, "\"uri\" '");
        }
    }

    /* a host with a machine on it is not removed; once the machine is gone, it is */
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    json_node_unref(cohort_test_base_install(d, "tiny", "{\"blank\":true}"));
    cohort = http_ok(d, "POST", "/api/v1/cohorts", token,
                     "{\"slug\":\"hosted\",\"template\":\"tiny\",\"starts_at\":"
                     "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                     201);
    {
        guint status = 0;
        g_autoptr(JsonNode) roster =
            cohort_test_http(d, "PUT", "/api/v1/cohorts/hosted/roster", token,
                             "login,display_name\nsok-dara,Sok Dara\n", "text/csv", &status, NULL);
        assert_int_equal(status, 200);
    }
    /* the lab host has the most room: the machine goes there */
    machine = http_ok(d, "POST", "/api/v1/machines", token,
                      "{\"cohort\":\"hosted\",\"trainee\":\"sok-dara\"}", 202);
    id = member_int(machine, "id");
    json_node_unref(machine_wait(d, token, id, "running"));
    message =
        http_fails_message(d, "DELETE", "/api/v1/hosts/lab", d->admin_token, NULL, 409, "conflict");
    cohort_assert_contains(message, "host 'lab' still holds 1 machine that is not reclaimed "
                                    "(cohort hosted)");
    cohort_assert_contains(message, "cohortctl host drain lab");
    g_clear_pointer(&message, g_free);
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    json_node_unref(http_ok(d, "DELETE", path, token, NULL, 202));
    json_node_unref(machine_wait(d, token, id, "reclaimed"));
    removed = http_ok(d, "DELETE", "/api/v1/hosts/lab", d->admin_token, NULL, 200);
    assert_string_equal(member_string(removed, "name"), "lab");
    assert_true(json_object_get_boolean_member(json_node_get_object(removed), "removed"));
    assert_int_equal(member_int(removed, "reclaimed_machines"), 1);
    /* gone from the list; the reclaimed machine keeps its history, placed nowhere */
    g_clear_pointer(&hosts, json_node_unref);
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    assert_null(host_named(hosts, "lab"));
    assert_non_null(host_named(hosts, "lab2"));
    reclaimed = http_ok(d, "GET", path, d->admin_token, NULL, 200);
    assert_string_equal(member_string(reclaimed, "state"), "reclaimed");
    assert_true(json_object_get_null_member(json_node_get_object(reclaimed), "host"));
    http_fails(d, "DELETE", "/api/v1/hosts/lab", d->admin_token, NULL, 404, "not-found");
    http_fails(d, "PUT", "/api/v1/hosts/lab2", d->admin_token, NULL, 405, "method-not-allowed");
    {
        /* the audit says who removed it */
        g_autoptr(JsonNode) audit =
            http_ok(d, "GET", "/api/v1/audit?limit=1", d->admin_token, NULL, 200);
        JsonObject *e = json_array_get_object_element(json_node_get_array(audit), 0);
        assert_string_equal(json_object_get_string_member(e, "action"), "host.remove");
        assert_string_equal(json_object_get_string_member(e, "target"), "lab");
    }
    /* the rest goes on: a machine on the host that is left; the URI may be registered again */
    g_clear_pointer(&machine, json_node_unref);
    json_node_unref(cohort_test_base_install(d, "tiny", "{\"blank\":true}"));
    machine = http_ok(d, "POST", "/api/v1/machines", token,
                      "{\"cohort\":\"hosted\",\"trainee\":\"sok-dara\"}", 202);
    g_clear_pointer(&machine, json_node_unref);
    machine = machine_wait(d, token, id + 1, "running");
    assert_string_equal(member_string(machine, "host"), "lab2");
    json_node_unref(http_ok(d, "POST", "/api/v1/hosts", d->admin_token, body, 201));

    /* without allow_test_hosts: no test:/// host from the API, a stored one stays down, and
     * the fallback lab host (cohortd's own file) would still be taken */
    cohort_test_daemon_stop_keep(d);
    {
        g_autofree gchar *config = NULL;
        g_autofree gchar *off = NULL;
        assert_true(g_file_get_contents(d->config_path, &config, NULL, NULL));
        off = g_strconcat(config, "\n[daemon]\nallow_test_hosts=false\n", NULL);
        assert_true(g_file_set_contents(d->config_path, off, -1, NULL));
    }
    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
    message = http_fails_message(d, "POST", "/api/v1/hosts", d->admin_token,
                                 "{\"name\":\"lab5\",\"uri\":\"test:///etc/passwd\"}", 400,
                                 "invalid-argument");
    cohort_assert_contains(message, "\"uri\" 'test:///etc/passwd' is libvirt's test driver");
    cohort_assert_contains(message, "[daemon] allow_test_hosts=true");
    g_clear_pointer(&message, g_free);
    g_clear_pointer(&hosts, json_node_unref);
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    assert_string_equal(json_object_get_string_member(host_named(hosts, "lab2"), "state"), "down");
    cohort_assert_contains(json_object_get_string_member(host_named(hosts, "lab2"), "error"),
                           "its URI is refused");
    /* lab4 has the fallback host's URI: cohortd's own lab-host.xml is always taken */
    assert_string_equal(json_object_get_string_member(host_named(hosts, "lab4"), "state"), "up");
    cohort_test_daemon_stop_keep(d);

    /* a host of cohortd.conf is removed from the file first */
    {
        g_autofree gchar *config = NULL;
        g_autofree gchar *with = NULL;
        assert_true(g_file_get_contents(d->config_path, &config, NULL, NULL));
        with = g_strconcat(config, "\n[daemon]\nallow_test_hosts=true\n", extra, NULL);
        assert_true(g_file_set_contents(d->config_path, with, -1, NULL));
    }
    assert_true(cohort_test_daemon_spawn(d, NULL, &error));
    cohort_assert_no_error(error);
    message = http_fails_message(d, "DELETE", "/api/v1/hosts/conf", d->admin_token, NULL, 409,
                                 "conflict");
    cohort_assert_contains(message, "defined in cohortd.conf ([host:conf])");
    cohort_test_daemon_stop(d);
}

/* A base image is installed from a file of the images directory, and from nowhere else. */
static void
test_api_base_path(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *image = g_build_filename(fx->d->images_dir, "small-linux.img", NULL);
    g_autofree gchar *link = g_build_filename(fx->d->images_dir, "shadow.img", NULL);
    g_autofree gchar *body = NULL;
    g_autofree gchar *message = NULL;
    g_autoptr(JsonNode) installed = NULL;
    JsonObject *host;

    /* 1 MiB of zeros: a raw image; the images directory is state_dir/images (no link in it) */
    {
        g_autofree gchar *zeros = g_malloc0(1024 * 1024);
        assert_true(g_file_set_contents(image, zeros, 1024 * 1024, NULL));
    }
    assert_int_equal(symlink("/etc/passwd", link), 0);
    body = g_strdup_printf("{\"path\":\"%s\"}", image);
    installed =
        http_ok(fx->d, "POST", "/api/v1/templates/small-linux/base", fx->d->admin_token, body, 202);
    host = json_array_get_object_element(
        json_object_get_array_member(json_node_get_object(installed), "hosts"), 0);
    assert_string_equal(json_object_get_string_member(host, "host"), "lab");
    assert_string_equal(json_object_get_string_member(host, "state"), "queued");
    {
        /* taken, and handed to libvirt (whose test driver cannot upload: a real host does);
         * the job says which host failed and why */
        g_autoptr(JsonNode) job =
            cohort_test_job_wait(fx->d, fx->d->admin_token, member_int(installed, "job"));
        JsonObject *err = NULL;
        assert_string_equal(member_string(job, "state"), "failed");
        assert_string_equal(member_string(job, "kind"), "base");
        assert_int_equal(member_int(job, "failed"), 1);
        err = json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(job), "errors"), 0);
        assert_string_equal(json_object_get_string_member(err, "host"), "lab");
        cohort_assert_contains(json_object_get_string_member(err, "message"), image);
        cohort_assert_contains(json_object_get_string_member(err, "message"),
                               "virStorageVolUpload");
    }
    g_free(body);
    body = g_strdup_printf("{\"path\":\"%s\"}", link);
    message = http_fails_message(fx->d, "POST", "/api/v1/templates/small-linux/base",
                                 fx->d->admin_token, body, 400, "invalid-argument");
    cohort_assert_contains(message, "leads out of the images directory");
    g_clear_pointer(&message, g_free);
    message =
        http_fails_message(fx->d, "POST", "/api/v1/templates/small-linux/base", fx->d->admin_token,
                           "{\"path\":\"/etc/passwd\"}", 400, "invalid-argument");
    cohort_assert_contains(message, "'/etc/passwd' is not under the images directory");
    cohort_assert_contains(message, "[daemon] images_dir");
    g_unlink(link);
    g_unlink(image);
}

/* The host's accelerator: configured (auto by default) and what it came to (tcg: the test
 * driver offers no KVM); a value that is none of auto, kvm, tcg is refused; KVM asked of a
 * host that has none is refused on a host reached already, and a new host asking for it stays
 * down saying why. */
static void
test_api_host_accel(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start(&error);
    g_autofree gchar *body = NULL;
    g_autofree gchar *message = NULL;
    g_autoptr(JsonNode) hosts = NULL;
    g_autoptr(JsonNode) a = NULL;
    g_autoptr(JsonNode) changed = NULL;
    gint64 deadline;
    JsonObject *lab;

    cohort_assert_no_error(error);
    hosts = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
    lab = host_named(hosts, "lab");
    /* the embedded test host: tcg, said so */
    assert_string_equal(json_object_get_string_member(lab, "accel"), "tcg");
    assert_string_equal(json_object_get_string_member(lab, "accel_effective"), "tcg");

    body = g_strdup_printf("{\"name\":\"small-a\",\"uri\":\"test://%s/small-host.xml\"}",
                           COHORT_TEST_DATADIR);
    a = host_add_wait_up(d, body, "small-a");
    assert_string_equal(member_string(a, "accel"), "auto");
    assert_string_equal(member_string(a, "accel_effective"), "tcg");

    message = http_fails_message(d, "PATCH", "/api/v1/hosts/small-a", d->admin_token,
                                 "{\"accel\":\"xen\"}", 400, "invalid-argument");
    cohort_assert_contains(message, "\"accel\" must be \"auto\"");
    g_clear_pointer(&message, g_free);
    message = http_fails_message(d, "PATCH", "/api/v1/hosts/small-a", d->admin_token,
                                 "{\"accel\":\"kvm\"}", 409, "conflict");
    cohort_assert_contains(message, "accel=kvm, but this host's libvirt offers no KVM");
    g_clear_pointer(&message, g_free);
    changed =
        http_ok(d, "PATCH", "/api/v1/hosts/small-a", d->admin_token, "{\"accel\":\"tcg\"}", 200);
    assert_string_equal(member_string(changed, "accel"), "tcg");
    assert_string_equal(member_string(changed, "accel_effective"), "tcg");
    http_fails(d, "POST", "/api/v1/hosts", d->admin_token,
               "{\"name\":\"lab7\",\"uri\":\"test:///default\",\"accel\":\"KVM!\"}", 400,
               "invalid-argument");

    /* a new host that must have KVM and has none: down, with the reason */
    json_node_unref(http_ok(d, "POST", "/api/v1/hosts", d->admin_token,
                            "{\"name\":\"lab8\",\"uri\":\"test:///default\",\"pool\":"
                            "\"default-pool\",\"accel\":\"kvm\"}",
                            201));
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(JsonNode) now = http_ok(d, "GET", "/api/v1/hosts", d->admin_token, NULL, 200);
        JsonObject *h = host_named(now, "lab8");
        if (g_strcmp0(json_object_get_string_member(h, "state"), "down") == 0) {
            cohort_assert_contains(json_object_get_string_member(h, "error"),
                                   "accel=kvm, but this host's libvirt offers no KVM");
            assert_true(json_object_get_null_member(h, "accel_effective"));
            break;
        }
        if (g_get_monotonic_time() > deadline)
            fail_msg("host lab8 never went down");
        g_usleep(20 * 1000);
    }
    cohort_test_daemon_stop(d);
}

/* A full address plan: a /24 range of /24 networks holds one cohort network; the next
 * cohort's machine is refused with no-capacity saying what to change, and gets the subnet once
 * the first cohort is reclaimed. */
static void
test_api_address_plan_full(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start_with_config(
        "[networks]\nrange=10.250.0.0/24\nprefix=24\n", &error);
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) base = NULL;
    g_autoptr(JsonNode) first = NULL;
    g_autoptr(JsonNode) reclaim = NULL;
    g_autoptr(JsonNode) second = NULL;
    g_autofree gchar *message = NULL;
    const gchar *token;

    cohort_assert_no_error(error);
    trainer = http_ok(d, "POST", "/api/v1/users", d->admin_token,
                      "{\"login\":\"trainer1\",\"display_name\":\"T\",\"role\":\"trainer\"}", 201);
    token = member_string(trainer, "token");
    base = cohort_test_base_install(d, "tiny", "{\"blank\":true}");
    for (guint i = 1; i <= 2; i++) {
        g_autofree gchar *cohort =
            g_strdup_printf("{\"slug\":\"plan-%u\",\"template\":\"tiny-lan\",\"starts_at\":"
                            "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                            i);
        g_autofree gchar *roster_path = g_strdup_printf("/api/v1/cohorts/plan-%u/roster", i);
        g_autofree gchar *csv = g_strdup_printf("login,display_name\nplan-t%u,T\n", i);
        guint status = 0;
        json_node_unref(http_ok(d, "POST", "/api/v1/cohorts", token, cohort, 201));
        json_node_unref(
            cohort_test_http(d, "PUT", roster_path, token, csv, "text/csv", &status, NULL));
        assert_int_equal(status, 200);
    }
    first = http_ok(d, "POST", "/api/v1/machines", token,
                    "{\"cohort\":\"plan-1\",\"trainee\":\"plan-t1\"}", 202);
    json_node_unref(machine_wait(d, token, member_int(first, "id"), "running"));
    message =
        http_fails_message(d, "POST", "/api/v1/machines", token,
                           "{\"cohort\":\"plan-2\",\"trainee\":\"plan-t2\"}", 503, "no-capacity");
    cohort_assert_contains(message, "the address plan is full: [networks] range=10.250.0.0/24");
    cohort_assert_contains(message, "widen [networks] range");

    reclaim = http_ok(d, "POST", "/api/v1/cohorts/plan-1/reclaim", token, NULL, 202);
    json_node_unref(cohort_test_job_wait(d, token, job_of(reclaim)));
    second = http_ok(d, "POST", "/api/v1/machines", token,
                     "{\"cohort\":\"plan-2\",\"trainee\":\"plan-t2\"}", 202);
    json_node_unref(machine_wait(d, token, member_int(second, "id"), "running"));
    {
        g_autoptr(JsonNode) shown = http_ok(d, "GET", "/api/v1/cohorts/plan-2", token, NULL, 200);
        assert_string_equal(member_string(shown, "subnet"), "10.250.0.0/24");
    }
    cohort_test_daemon_stop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_trainer_flow, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_api_placement_policies),
        cmocka_unit_test(test_api_config_host_follows_file),
        cmocka_unit_test_setup_teardown(test_api_trainee_flow, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_ssh_keys, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_authorization, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_bad_input, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_health_metrics_audit, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_cohort_network, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_ended_cohort, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_trainee_across_trainers, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_unenrol, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_invitation_reissue, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_base_path, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_invitations_bulk, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_api_placement_two_hosts),
        cmocka_unit_test(test_api_leases_usage_freed),
        cmocka_unit_test(test_api_template_reload),
        cmocka_unit_test(test_api_machine_states_pending),
        cmocka_unit_test(test_api_job_resumes_after_kill),
        cmocka_unit_test(test_api_request_committed_then_killed),
        cmocka_unit_test(test_api_malloc_tunable),
        cmocka_unit_test(test_api_reconnect_does_not_block),
        cmocka_unit_test(test_api_orphan_domain),
        cmocka_unit_test(test_api_hosts),
        cmocka_unit_test(test_api_host_accel),
        cmocka_unit_test(test_api_address_plan_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
