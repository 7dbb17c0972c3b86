/* A machine's cloud-init seed on the real local libvirtd: the domain has the read-only CD-ROM
 * of the seed volume; the volume, read back through libvirt, is an ISO 9660 image "cidata"
 * whose user-data has the trainee's key and the guest password's SHA-512 crypt hash (never the
 * password); a reset makes a new instance id and password; a reclaim leaves no seed. And the
 * figure: a seed's size, and its build and upload time per machine. */
#define G_LOG_DOMAIN "test-seed-qemu"

#include "config.h"

#include <string.h>

#include "cohort-test-daemon.h"
#include "cohort-test-qemu-cohort.h"
#include "cohort-test.h"

#include "cohort-names.h"
#include "cohort-provision-seed.h"
#include "cohort-provision.h"
#include "cohort-seed.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
#define FIGURE_MACHINES 10

typedef CohortTestQemuCohort Fixture;

static int
fixture_setup(void **state)
{
    *state = cohort_test_qemu_cohort_setup("[daemon]\nstop_timeout_s=2\n");
    return 0;
}

static int
fixture_teardown(void **state)
{
    cohort_test_qemu_cohort_teardown(*state);
    return 0;
}

static JsonNode *
machine_wait(Fixture *fx, const gchar *token, gint64 id, const gchar *state)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        JsonNode *m = cohort_test_http_expect(fx->d, "GET", path, token, NULL, NULL, 200);
        if (g_strcmp0(json_object_get_string_member(json_node_get_object(m), "state"), state) == 0)
            return m;
        json_node_unref(m);
        g_usleep(100 * 1000);
    }
    fail_msg("machine %" G_GINT64_FORMAT " never became %s", id, state);
    return NULL;
}

/* What the seed volume holds now, through libvirt. */
static GHashTable *
seed_files(Fixture *fx, const gchar *domain, gsize *size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortProvisioner) prov = cohort_provisioner_new(fx->conn, fx->pool_name, &error);
    g_autoptr(GBytes) iso = NULL;
    g_autofree gchar *volid = NULL;
    gboolean rr = FALSE;
    gboolean joliet = FALSE;
    GHashTable *files;

    cohort_assert_no_error(error);
    iso = cohort_provisioner_seed_download(prov, domain, &error);
    cohort_assert_no_error(error);
    files = cohort_seed_image_read(iso, &volid, &rr, &joliet, &error);
    cohort_assert_no_error(error);
    assert_string_equal(volid, "cidata");
    assert_true(rr);
    assert_true(joliet);
    if (size != NULL)
        *size = g_bytes_get_size(iso);
    return files;
}

static gchar *
file_text(GHashTable *files, const gchar *name)
{
    GBytes *b = g_hash_table_lookup(files, name);
    gsize len = 0;
    const gchar *data;

    assert_non_null(b);
    data = g_bytes_get_data(b, &len);
    return g_strndup(data, len);
}

/* The value of "KEY: "…"" in @text (our seeds quote every value; these hold no escapes). */
static gchar *
yaml_value(const gchar *text, const gchar *key)
{
    g_autofree gchar *needle = g_strdup_printf("%s: \"", key);
    const gchar *at = strstr(text, needle);
    const gchar *end;

    assert_non_null(at);
    at += strlen(needle);
    end = strchr(at, '"');
    assert_non_null(end);
    return g_strndup(at, end - at);
}

static void
console_guest(Fixture *fx, const gchar *token, gint64 id, gchar **user, gchar **password)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
    g_autoptr(JsonNode) console =
        cohort_test_http_expect(fx->d, "GET", path, token, NULL, NULL, 200);
    JsonObject *o = json_node_get_object(console);

    *user = g_strdup(json_object_get_string_member(o, "guest_user"));
    *password = g_strdup(json_object_get_string_member(o, "guest_password"));
    assert_non_null(*user);
    assert_non_null(*password);
}

static void
test_seed_qemu_machine(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) started = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(GHashTable) files = NULL;
    g_autoptr(GHashTable) after = NULL;
    g_autofree gchar *body = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *domain = NULL;
    g_autofree gchar *seed_name = NULL;
    g_autofree gchar *user_data = NULL;
    g_autofree gchar *meta = NULL;
    g_autofree gchar *meta_after = NULL;
    g_autofree gchar *user_after = NULL;
    g_autofree gchar *guest_user = NULL;
    g_autofree gchar *guest_password = NULL;
    g_autofree gchar *guest_user2 = NULL;
    g_autofree gchar *guest_password2 = NULL;
    g_autofree gchar *hash = NULL;
    const gchar *token;
    gsize iso_size = 0;
    gint64 id;

    json_node_unref(cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}"));
    trainer =
        cohort_test_http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                                "{\"login\":\"seed-trainer\",\"role\":\"trainer\"}", NULL, 201);
    token = json_object_get_string_member(json_node_get_object(trainer), "token");
    body = g_strdup_printf("{\"slug\":\"%s\",\"template\":\"tiny\",\"starts_at\":"
                           "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                           fx->slug);
    json_node_unref(
        cohort_test_http_expect(fx->d, "POST", "/api/v1/cohorts", token, body, NULL, 201));
    path = g_strdup_printf("/api/v1/cohorts/%s/roster", fx->slug);
    json_node_unref(cohort_test_http_expect(fx->d, "PUT", path, token,
                                            "login,display_name\nseed-sok,\"សុខ \"\"ដារា\"\"\"\n",
                                            "text/csv", 200));
    /* the trainee's key, set before the machine is made (an admin does it for them here) */
    json_node_unref(cohort_test_http_expect(fx->d, "PUT", "/api/v1/users/seed-sok/ssh-keys",
                                            fx->d->admin_token,
                                            "{\"keys\":[\"" KEY " sok@laptop\"]}", NULL, 200));
    g_free(path);
    path = g_strdup_printf("/api/v1/cohorts/%s/provision", fx->slug);
    started = cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
    job = cohort_test_job_wait(fx->d, token,
                               json_object_get_int_member(json_node_get_object(started), "job"));
    assert_int_equal(json_object_get_int_member(json_node_get_object(job), "done"), 1);
    g_free(path);
    path = g_strdup_printf("/api/v1/machines?cohort=%s", fx->slug);
    list = cohort_test_http_expect(fx->d, "GET", path, token, NULL, NULL, 200);
    assert_int_equal(json_array_get_length(json_node_get_array(list)), 1);
    id = json_object_get_int_member(json_array_get_object_element(json_node_get_array(list), 0),
                                    "id");
    domain = g_strdup(json_object_get_string_member(
        json_array_get_object_element(json_node_get_array(list), 0), "name"));
    seed_name = cohort_names_seed(domain);

    /* the domain: a read-only CD-ROM on IDE (tiny is a pc machine) from the seed volume */
    {
        g_autoptr(virDomain) dom = virDomainLookupByName(fx->conn, domain);
        g_autofree gchar *xml = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(xmlXPathContext) ctxt = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *pool = NULL;
        g_autofree gchar *volume = NULL;
        g_autofree gchar *bus = NULL;
        g_autofree gchar *readonly = NULL;

        assert_non_null(dom);
        assert_int_equal(virDomainIsActive(dom), 1);
        xml = virDomainGetXMLDesc(dom, 0);
        doc = cohort_xml_parse_memory(xml, strlen(xml), "domain", "domain", &error);
        cohort_assert_no_error(error);
        ctxt = xmlXPathNewContext(doc);
        pool = cohort_xml_find_string(ctxt,
                                      "string(/domain/devices/disk[@device='cdrom']/source/@pool)");
        volume = cohort_xml_find_string(
            ctxt, "string(/domain/devices/disk[@device='cdrom']/source/@volume)");
        bus = cohort_xml_find_string(ctxt,
                                     "string(/domain/devices/disk[@device='cdrom']/target/@bus)");
        readonly = cohort_xml_find_string(
            ctxt, "string(count(/domain/devices/disk[@device='cdrom']/readonly))");
        assert_string_equal(pool, fx->pool_name);
        assert_string_equal(volume, seed_name);
        assert_string_equal(bus, "ide");
        assert_string_equal(readonly, "1");
    }

    /* the seed: the key, the password's hash and not the password, the account */
    console_guest(fx, token, id, &guest_user, &guest_password);
    assert_string_equal(guest_user, "seed-sok");
    files = seed_files(fx, domain, &iso_size);
    user_data = file_text(files, "user-data");
    meta = file_text(files, "meta-data");
    assert_true(g_str_has_prefix(user_data, "#cloud-config\n"));
    cohort_assert_contains(user_data, "\"" KEY " sok@laptop\"");
    cohort_assert_contains(user_data, "name: \"seed-sok\"");
    cohort_assert_contains(user_data, "gecos: \"សុខ \\\"ដារា\\\"\"");
    cohort_assert_contains(user_data, "\"qemu-guest-agent\"");
    assert_null(strstr(user_data, guest_password));
    assert_null(strstr(meta, guest_password));
    hash = yaml_value(user_data, "hashed_passwd");
    assert_true(g_str_has_prefix(hash, "$6$"));
    assert_true(cohort_seed_password_verify(guest_password, hash));
    {
        g_autofree gchar *host = yaml_value(meta, "local-hostname");
        assert_string_equal(host, domain);
    }
    g_print("# figures: the seed of %s is %zu bytes (user-data %zu, meta-data %zu)\n", domain,
            iso_size, strlen(user_data), strlen(meta));

    /* a reset: a new instance id and password, the same account and key */
    {
        g_autofree gchar *reset =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/reset", id);
        g_autofree gchar *old_id = yaml_value(meta, "instance-id");
        g_autofree gchar *new_id = NULL;
        g_autofree gchar *new_hash = NULL;

        json_node_unref(cohort_test_http_expect(fx->d, "POST", reset, token, NULL, NULL, 202));
        json_node_unref(machine_wait(fx, token, id, "running"));
        after = seed_files(fx, domain, NULL);
        meta_after = file_text(after, "meta-data");
        user_after = file_text(after, "user-data");
        new_id = yaml_value(meta_after, "instance-id");
        assert_string_not_equal(old_id, new_id);
        console_guest(fx, token, id, &guest_user2, &guest_password2);
        assert_string_equal(guest_user2, guest_user);
        assert_string_not_equal(guest_password2, guest_password);
        new_hash = yaml_value(user_after, "hashed_passwd");
        assert_true(cohort_seed_password_verify(guest_password2, new_hash));
        assert_false(cohort_seed_password_verify(guest_password, new_hash));
        cohort_assert_contains(user_after, KEY);
        g_print("# seed instance id %s, after the reset %s\n", old_id, new_id);
    }

    /* a reclaim: no domain, no overlay, no seed left */
    {
        g_autoptr(JsonNode) reclaim = NULL;
        g_autoptr(JsonNode) done = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(CohortProvisioner) prov = NULL;
        g_autoptr(GPtrArray) seeds = NULL;
        g_autofree gchar *prefix = g_strconcat(COHORT_NAME_PREFIX, fx->slug, "--", NULL);

        g_free(path);
        path = g_strdup_printf("/api/v1/cohorts/%s/reclaim", fx->slug);
        reclaim = cohort_test_http_expect(fx->d, "POST", path, token, NULL, NULL, 202);
        done = cohort_test_job_wait(
            fx->d, token, json_object_get_int_member(json_node_get_object(reclaim), "job"));
        assert_string_equal(json_object_get_string_member(json_node_get_object(done), "state"),
                            "done");
        prov = cohort_provisioner_new(fx->conn, fx->pool_name, &error);
        cohort_assert_no_error(error);
        seeds = cohort_provisioner_list_owned_seeds(prov, &error);
        cohort_assert_no_error(error);
        assert_int_equal(cohort_test_count_with_prefix(seeds, prefix), 0);
        assert_false(cohort_provisioner_seed_exists(prov, domain));
        assert_false(cohort_test_domain_exists(fx->conn, domain));
    }
}

static int
compare_doubles(const void *a, const void *b)
{
    gdouble x = *(const gdouble *)a;
    gdouble y = *(const gdouble *)b;
    return (x > y) - (x < y);
}

/* The figure: per machine, the seed's hash, image and upload to qemu:///system's pool, as a
 * provisioning does them (10 machines, one after another; median and worst). */
static void
test_seed_qemu_figures(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortProvisioner) prov = cohort_provisioner_new(fx->conn, fx->pool_name, &error);
    const gchar *keys[] = {KEY " sok@laptop", NULL};
    gdouble build_ms[FIGURE_MACHINES];
    gdouble upload_ms[FIGURE_MACHINES];
    gsize size = 0;

    cohort_assert_no_error(error);
    for (guint i = 0; i < FIGURE_MACHINES; i++) {
        g_autofree gchar *domain =
            g_strdup_printf(COHORT_NAME_PREFIX "%s--figure-%u", fx->slug, i + 1);
        g_autofree gchar *password = cohort_seed_password_new();
        g_autofree gchar *hash = NULL;
        g_autoptr(GBytes) iso = NULL;
        CohortSeedSpec spec = {
            .instance_id = domain,
            .hostname = domain,
            .user = "figure",
            .gecos = "ចាន់ ដារ៉ា",
            .ssh_keys = keys,
            .install_agent = TRUE,
        };
        gint64 t0 = g_get_monotonic_time();
        gint64 t1;

        hash = cohort_seed_password_hash(password, &error);
        cohort_assert_no_error(error);
        spec.password_hash = hash;
        iso = cohort_seed_build(&spec, &error);
        cohort_assert_no_error(error);
        t1 = g_get_monotonic_time();
        assert_true(cohort_provisioner_seed_create(prov, domain, iso, &error));
        cohort_assert_no_error(error);
        upload_ms[i] = (g_get_monotonic_time() - t1) / 1000.0;
        build_ms[i] = (t1 - t0) / 1000.0;
        size = g_bytes_get_size(iso);
        assert_true(cohort_provisioner_seed_exists(prov, domain));
        assert_true(cohort_provisioner_seed_delete(prov, domain, &error));
        assert_false(cohort_provisioner_seed_exists(prov, domain));
    }
    qsort(build_ms, FIGURE_MACHINES, sizeof(gdouble), compare_doubles);
    qsort(upload_ms, FIGURE_MACHINES, sizeof(gdouble), compare_doubles);
    g_print("# figures: seed %zu bytes; per machine (%d): hash+build median %.1f ms (max %.1f), "
            "volume create+upload median %.1f ms (max %.1f) on qemu:///system\n",
            size, FIGURE_MACHINES, build_ms[FIGURE_MACHINES / 2], build_ms[FIGURE_MACHINES - 1],
            upload_ms[FIGURE_MACHINES / 2], upload_ms[FIGURE_MACHINES - 1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_qemu_machine, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_seed_qemu_figures, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
