/* Reconcile in a cohortd of the test's own process, on libvirt's test:///default (its state is
 * shared by every connection of the process while one is open): domains that carry this
 * installation's tag and that no row claims are removed, and nothing else is touched. */
#define G_LOG_DOMAIN "test-reconcile"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "cohort-test-qemu.h"
#include "cohort-test.h"

#include "cohort-daemon.h"
#include "cohort-error.h"
#include "cohort-provision-guest.h"
#include "cohort-provision.h"
#include "cohort-ready.h"
#include "cohort-reconcile.h"
#include "cohort-secret.h"
#include "cohort-virt.h"

#define STARTS "2026-01-01T08:00:00Z"
#define ENDS "2099-12-19T17:00:00Z"

typedef struct {
    gchar *dir;
    virConnectPtr conn; /* test:///default, open for the whole test: its state lives with it */
    CohortProvisioner *prov;
    CohortTemplate *tmpl;
    CohortStore *store; /* until the daemon takes it */
    gchar *instance;
    GPtrArray *keep;
} Fixture;

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *db = NULL;
    Fixture *fx = g_new0(Fixture, 1);

    fx->dir = g_dir_make_tmp("cohort-reconcile-XXXXXX", &error);
    cohort_assert_no_error(error);
    fx->conn = cohort_virt_connect("test:///default", &error);
    cohort_assert_no_error(error);
    fx->prov = cohort_provisioner_new(fx->conn, "default-pool", &error);
    cohort_assert_no_error(error);
    fx->tmpl = cohort_test_template_load("tiny");
    assert_true(cohort_provisioner_base_ensure_blank(fx->prov, fx->tmpl, &error));
    cohort_assert_no_error(error);
    db = g_build_filename(fx->dir, "cohort.db", NULL);
    fx->store = cohort_store_open(db, cohort_secret_key_new_random(NULL), &error);
    cohort_assert_no_error(error);
    fx->instance = cohort_store_get_instance_id(fx->store, &error);
    cohort_assert_no_error(error);
    fx->keep = g_ptr_array_new_with_free_func(g_free);
    *state = fx;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *db = g_build_filename(fx->dir, "cohort.db", NULL);
    g_autofree gchar *wal = g_strconcat(db, "-wal", NULL);
    g_autofree gchar *shm = g_strconcat(db, "-shm", NULL);

    assert_true(cohort_provisioner_base_delete(fx->prov, fx->tmpl, &error));
    cohort_assert_no_error(error);
    /* test:///default's own VM is still there */
    assert_true(cohort_test_domain_exists(fx->conn, "test"));
    cohort_store_free(fx->store);
    cohort_provisioner_free(fx->prov);
    virConnectClose(fx->conn);
    cohort_template_unref(fx->tmpl);
    g_unlink(db);
    g_unlink(wal);
    g_unlink(shm);
    assert_int_equal(g_rmdir(fx->dir), 0);
    g_free(fx->dir);
    g_free(fx->instance);
    g_ptr_array_unref(fx->keep);
    g_free(fx);
    return 0;
}

static gint64
add_host(Fixture *fx, const gchar *name, const gchar *uri, const gchar *pool)
{
    g_autoptr(GError) error = NULL;
    CohortHostRow row = {.name = (gchar *)name,
                         .uri = (gchar *)uri,
                         .pool = (gchar *)pool,
                         .cpu_ratio = 4.0,
                         .memory_ratio = 1.0,
                         .state = (gchar *)"up"};

    assert_true(cohort_store_host_insert(fx->store, &row, &error));
    cohort_assert_no_error(error);
    g_free(row.created_at);
    return row.id;
}

/* A running machine row of trainee sok-dara in cohort cloud-101 (both made on first use). */
static gint64
add_machine_row(Fixture *fx, const gchar *name, gint64 host_id)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortUserRow) trainer = cohort_store_user_get_by_login(fx->store, "trainer1", NULL);
    g_autoptr(CohortUserRow) trainee = cohort_store_user_get_by_login(fx->store, "sok-dara", NULL);
    g_autoptr(CohortCohortRow) cohort =
        cohort_store_cohort_get_by_slug(fx->store, "cloud-101", NULL);
    CohortMachineRow row;

    if (trainer == NULL) {
        trainer = g_new0(CohortUserRow, 1);
        trainer->login = g_strdup("trainer1");
        trainer->display_name = g_strdup("Trainer One");
        trainer->role = g_strdup("trainer");
        assert_true(cohort_store_user_insert(fx->store, trainer, &error));
        trainee = g_new0(CohortUserRow, 1);
        trainee->login = g_strdup("sok-dara");
        trainee->display_name = g_strdup("Sok Dara");
        trainee->role = g_strdup("trainee");
        assert_true(cohort_store_user_insert(fx->store, trainee, &error));
        cohort = g_new0(CohortCohortRow, 1);
        cohort->slug = g_strdup("cloud-101");
        cohort->title = g_strdup("Cloud basics");
        cohort->template_name = g_strdup("tiny");
        cohort->trainer_id = trainer->id;
        cohort->starts_at = g_strdup(STARTS);
        cohort->ends_at = g_strdup(ENDS);
        cohort->quota_machines = 2;
        cohort->quota_vcpus = 2;
        cohort->quota_memory_mib = 2048;
        cohort->state = g_strdup("active");
        assert_true(cohort_store_cohort_insert(fx->store, cohort, &error));
        cohort_assert_no_error(error);
    }
    row = (CohortMachineRow){.name = (gchar *)name,
                             .cohort_id = cohort->id,
                             .user_id = trainee->id,
                             .host_id = host_id,
                             .template_name = (gchar *)"tiny",
                             .idx = 1,
                             .state = (gchar *)"running",
                             .vcpus = 1,
                             .memory_mib = 64};
    assert_true(cohort_store_machine_insert(fx->store, &row, "vnc-password", &error));
    cohort_assert_no_error(error);
    g_free(row.created_at);
    return row.id;
}

/* A running machine of @owner (NULL: a tag without an owner), made as cohortd makes one. */
static const gchar *
machine_make(Fixture *fx, const gchar *cohort, const gchar *trainee, gint64 id, const gchar *owner)
{
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, cohort, trainee, id);
    spec.owner = owner;
    assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_no_error(error);
    return spec.domain_name;
}

/* Removes what the test made itself (never cohortd's business). */
static void
domain_remove(Fixture *fx, const gchar *name)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(fx->conn, name);
    g_autofree gchar *volume = g_strconcat(name, ".qcow2", NULL);
    g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(fx->conn, "default-pool");
    g_autoptr(virStorageVol) vol = virStorageVolLookupByName(pool, volume);

    assert_non_null(dom);
    virDomainDestroy(dom);
    assert_int_equal(virDomainUndefine(dom), 0);
    if (vol != NULL)
        assert_int_equal(virStorageVolDelete(vol, 0), 0);
}

static CohortDaemon *
daemon_new(Fixture *fx)
{
    g_autoptr(GError) error = NULL;
    CohortDaemonSettings settings;
    CohortDaemon *d;

    cohort_daemon_settings_init(&settings);
    g_free(settings.templates_dir);
    settings.templates_dir = g_strdup(COHORT_TEMPLATESDIR_SRC);
    settings.workers = 2;
    settings.allow_test_hosts = TRUE;
    d = cohort_daemon_new(&settings, g_steal_pointer(&fx->store), &error);
    cohort_daemon_settings_clear(&settings);
    cohort_assert_no_error(error);
    return d;
}

/* Runs the main context until every work item and scheduled reconcile is done (or 30 s). */
static void
daemon_settle(CohortDaemon *d)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    for (;;) {
        while (g_main_context_iteration(d->context, FALSE))
            ;
        if (cohort_jobs_get_pending(d->work->jobs) == 0 &&
            g_hash_table_size(d->lifecycle->reconcile_pending) == 0 &&
            !cohort_hosts_any_connecting(d->hosts))
            return;
        if (g_get_monotonic_time() > deadline)
            fail_msg("cohortd's work did not settle within 30 s");
        g_usleep(10 * 1000);
    }
}

static guint
audit_count(CohortDaemon *d, const gchar *action, const gchar *target)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) rows = cohort_store_audit_list(d->store, 1000, &error);
    guint count = 0;

    cohort_assert_no_error(error);
    for (guint i = 0; i < rows->len; i++) {
        CohortAuditRow *row = g_ptr_array_index(rows, i);
        count += g_strcmp0(row->action, action) == 0 && g_strcmp0(row->target, target) == 0;
    }
    return count;
}

/* The crash of issue 10: a tagged domain without a row made reconcile look a NULL template
 * up. It is removed, with its overlay; a domain of another installation, one whose tag has
 * no owner and one without a tag are not, whatever their names. */
static void
test_reconcile_orphan_removed(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortDaemon) d = NULL;
    const gchar *ghost;
    const gchar *other;
    const gchar *ownerless;
    g_autofree gchar *other_owner = g_uuid_string_random();
    g_autofree gchar *ghost_overlay = NULL;

    add_host(fx, "lab", "test:///default", "default-pool");
    ghost = machine_make(fx, "ghost", "sok-dara", 4242, fx->instance);
    other = machine_make(fx, "other", "sok-dara", 4243, other_owner);
    ownerless = machine_make(fx, "ownerless", "sok-dara", 4244, NULL);
    cohort_test_qemu_foreign_domain_start(fx->conn, "cohort-plain--sok-dara");
    ghost_overlay = g_strconcat(ghost, ".qcow2", NULL);
    assert_true(cohort_test_volume_exists(fx->conn, "default-pool", ghost_overlay));

    d = daemon_new(fx);
    cohort_daemon_start(d);
    daemon_settle(d);

    assert_false(cohort_test_domain_exists(fx->conn, ghost));
    assert_false(cohort_test_volume_exists(fx->conn, "default-pool", ghost_overlay));
    assert_int_equal(audit_count(d, "machine.orphan-remove", ghost), 1);
    assert_true(cohort_test_domain_exists(fx->conn, other));
    assert_true(cohort_test_domain_exists(fx->conn, ownerless));
    assert_true(cohort_test_domain_exists(fx->conn, "cohort-plain--sok-dara"));
    /* a second pass finds nothing more to do */
    cohort_reconcile_all(d->lifecycle);
    daemon_settle(d);
    assert_int_equal(audit_count(d, "machine.orphan-remove", ghost), 1);
    assert_int_equal(audit_count(d, "machine.orphan-remove", other), 0);
    assert_true(cohort_test_domain_exists(fx->conn, other));

    g_clear_pointer(&d, cohort_daemon_free);
    domain_remove(fx, other);
    domain_remove(fx, ownerless);
    domain_remove(fx, "cohort-plain--sok-dara");
}

/* A tagged domain whose row says it is on another host (moved by hand, or two host entries
 * for one libvirt) is someone's machine: it is left alone, not removed as an orphan. */
static void
test_reconcile_orphan_of_other_host(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortDaemon) d = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortMachineRow) row = NULL;
    g_autofree gchar *small = g_strconcat("test://", COHORT_TEST_DATADIR, "/small-host.xml", NULL);
    gint64 small_id;
    gint64 id;
    g_autofree gchar *name = NULL;

    add_host(fx, "lab", "test:///default", "default-pool");
    small_id = add_host(fx, "small", small, "default");
    name = g_strdup_printf("cohort-cloud-101--sok-dara");
    id = add_machine_row(fx, name, small_id);
    machine_make(fx, "cloud-101", "sok-dara", id, fx->instance);

    d = daemon_new(fx);
    cohort_daemon_start(d);
    daemon_settle(d);

    assert_true(cohort_test_domain_exists(fx->conn, name));
    assert_int_equal(audit_count(d, "machine.orphan-remove", name), 0);
    /* its row, on the host without the domain, says what is true there */
    row = cohort_store_machine_get_by_id(d->store, id, &error);
    cohort_assert_no_error(error);
    assert_string_equal(row->state, "failed");

    g_clear_pointer(&d, cohort_daemon_free);
    domain_remove(fx, name);
}

/* The store of issue 10: a second entry for the same libvirt host. It stays down, naming the
 * first; nothing of the first's machines is touched through it. */
static void
test_reconcile_duplicate_host(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortDaemon) d = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortMachineRow) row = NULL;
    CohortHost *first;
    CohortHost *second;
    gint64 lab_id;
    gint64 id;
    const gchar *name = "cohort-cloud-101--sok-dara";

    lab_id = add_host(fx, "lab", "test:///default", "default-pool");
    /* written another way, and older by name: the older entry (by id) still wins */
    add_host(fx, "a-second", "TEST:///default/", "default-pool");
    id = add_machine_row(fx, name, lab_id);
    machine_make(fx, "cloud-101", "sok-dara", id, fx->instance);

    d = daemon_new(fx);
    cohort_daemon_start(d);
    daemon_settle(d);

    first = cohort_hosts_lookup_by_name(d->hosts, "lab");
    second = cohort_hosts_lookup_by_name(d->hosts, "a-second");
    assert_string_equal(first->state, "up");
    assert_string_equal(second->state, "down");
    assert_null(second->prov);
    cohort_assert_contains(second->last_error, "host 'lab' has this libvirt URI already");
    assert_true(cohort_test_domain_exists(fx->conn, name));
    assert_int_equal(audit_count(d, "machine.orphan-remove", name), 0);
    row = cohort_store_machine_get_by_id(d->store, id, &error);
    cohort_assert_no_error(error);
    assert_string_equal(row->state, "running");

    g_clear_pointer(&d, cohort_daemon_free);
    domain_remove(fx, name);
}

/* A URI the configuration does not allow (any more) is never opened. */
static void
test_reconcile_refused_uri(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortDaemon) d = NULL;
    CohortDaemonSettings settings;
    g_autoptr(GError) error = NULL;
    CohortHost *host;

    add_host(fx, "lab", "test:///default", "default-pool");
    cohort_daemon_settings_init(&settings);
    g_free(settings.templates_dir);
    settings.templates_dir = g_strdup(COHORT_TEMPLATESDIR_SRC);
    d = cohort_daemon_new(&settings, g_steal_pointer(&fx->store), &error);
    cohort_daemon_settings_clear(&settings);
    cohort_assert_no_error(error);
    host = cohort_hosts_lookup_by_name(d->hosts, "lab");
    assert_string_equal(host->state, "down");
    assert_null(host->prov);
    assert_null(host->reconnect);
    cohort_assert_contains(host->last_error, "its URI is refused");
    cohort_assert_contains(host->last_error, "allow_test_hosts");
}

static CohortMachineRow *
machine_row(CohortDaemon *d, gint64 id)
{
    g_autoptr(GError) error = NULL;
    CohortMachineRow *row = cohort_store_machine_get_by_id(d->store, id, &error);

    cohort_assert_no_error(error);
    return row;
}

/* The agent's lifecycle event (which the test driver never sends, so its handler is called
 * as libvirt's event would reach it): connected makes the running machine ready with a time,
 * gone makes it not ready; events of domains that are not Cohort's, or of a machine cohortd
 * places on another host, change nothing; a stop, a reboot or a reset clears readiness. */
static void
test_reconcile_ready_agent_event(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortDaemon) d = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *small = g_strconcat("test://", COHORT_TEST_DATADIR, "/small-host.xml", NULL);
    const gchar *name = "cohort-cloud-101--sok-dara";
    CohortHost *host;
    CohortHost *other;
    gint64 id;

    add_host(fx, "lab", "test:///default", "default-pool");
    add_host(fx, "small", small, "default");
    id = add_machine_row(fx, name, 1);
    machine_make(fx, "cloud-101", "sok-dara", id, fx->instance);
    d = daemon_new(fx);
    cohort_daemon_start(d);
    daemon_settle(d);
    host = cohort_hosts_lookup_by_name(d->hosts, "lab");
    other = cohort_hosts_lookup_by_name(d->hosts, "small");
    assert_non_null(host);
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_string_equal(m->state, "running");
        assert_false(m->ready);
        assert_null(m->ready_at);
    }

    /* not Cohort's, not this host's, not a machine: nothing */
    cohort_ready_on_agent_event(host, "test", TRUE, d->lifecycle);
    cohort_ready_on_agent_event(other, name, TRUE, d->lifecycle);
    cohort_ready_on_agent_event(host, "cohort-cloud-101--nobody", TRUE, d->lifecycle);
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_false(m->ready);
    }

    cohort_ready_on_agent_event(host, name, TRUE, d->lifecycle);
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_true(m->ready);
        assert_non_null(m->ready_at);
        assert_int_equal(strlen(m->ready_at), strlen("2026-01-01T00:00:00Z"));
    }
    /* the histogram counts it, once, however often it is ready again */
    {
        static const gdouble bounds[] = {1, 3600};
        guint64 counts[3];
        gdouble sum = -1;
        assert_true(
            cohort_store_machine_ready_histogram(d->store, bounds, 2, counts, &sum, &error));
        assert_int_equal(counts[1], 1);
        assert_int_equal(counts[2], 1);
        assert_true(sum >= 0 && sum < 3600);
    }
    assert_true(cohort_store_machine_set_addresses(d->store, id, "10.17.0.12 fd00::12", &error));
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_string_equal(m->addresses, "10.17.0.12 fd00::12");
    }
    /* its addresses are looked for (the test driver has no lease: none, bounded) */
    assert_non_null(d->lifecycle->ready_watches);
    assert_true(g_hash_table_contains(d->lifecycle->ready_watches, &id));
    cohort_ready_forget(d->lifecycle, id);

    cohort_ready_on_agent_event(host, name, FALSE, d->lifecycle);
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_false(m->ready);
        assert_null(m->ready_at);
    }

    /* every state but running clears it: a reboot waits for the agent again */
    cohort_ready_on_agent_event(host, name, TRUE, d->lifecycle);
    cohort_ready_forget(d->lifecycle, id);
    assert_true(cohort_store_machine_set_state(d->store, id, "rebooting", NULL, &error));
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_false(m->ready);
        assert_null(m->ready_at);
    }
    /* a reboot's agent may connect before the reboot is settled: ready, and kept */
    cohort_ready_on_agent_event(host, name, TRUE, d->lifecycle);
    cohort_ready_forget(d->lifecycle, id);
    assert_true(cohort_store_machine_set_state(d->store, id, "running", NULL, &error));
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_true(m->ready);
    }
    /* a stopped machine is never made ready */
    assert_true(cohort_store_machine_set_state(d->store, id, "stopped", NULL, &error));
    cohort_ready_on_agent_event(host, name, TRUE, d->lifecycle);
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_false(m->ready);
    }
    assert_true(cohort_store_machine_set_state(d->store, id, "running", NULL, &error));
    {
        static const gdouble bounds[] = {3600};
        guint64 counts[2];
        gdouble sum = -1;
        assert_true(
            cohort_store_machine_ready_histogram(d->store, bounds, 1, counts, &sum, &error));
        assert_int_equal(counts[1], 1);
    }

    g_clear_pointer(&d, cohort_daemon_free);
    domain_remove(fx, name);
}

/* Reconcile reads the agent's channel of running machines that are not ready: the test
 * driver keeps no channel state, so a rendered domain reads as disconnected (and the test
 * driver's own "test" domain as having no channel), and the machine stays not ready; what a
 * reconcile finds connected makes it ready, and one that says disconnected makes it not. */
static void
test_reconcile_ready_channel(void **state)
{
    Fixture *fx = *state;
    g_autoptr(CohortDaemon) d = NULL;
    g_autoptr(GError) error = NULL;
    const gchar *name = "cohort-cloud-101--sok-dara";
    CohortAgentState agent = COHORT_AGENT_CONNECTED;
    CohortHost *host;
    gint64 id;

    add_host(fx, "lab", "test:///default", "default-pool");
    id = add_machine_row(fx, name, 1);
    machine_make(fx, "cloud-101", "sok-dara", id, fx->instance);

    assert_true(cohort_provisioner_domain_agent_state(fx->prov, name, &agent, &error));
    cohort_assert_no_error(error);
    assert_int_equal(agent, COHORT_AGENT_DISCONNECTED);
    assert_true(cohort_provisioner_domain_agent_state(fx->prov, "test", &agent, &error));
    assert_int_equal(agent, COHORT_AGENT_NONE);
    assert_false(cohort_provisioner_domain_agent_state(fx->prov, "no-such", &agent, &error));
    cohort_assert_error(error, COHORT_ERROR_LIBVIRT);
    g_clear_error(&error);

    d = daemon_new(fx);
    cohort_daemon_start(d);
    daemon_settle(d);
    cohort_reconcile_all(d->lifecycle);
    daemon_settle(d);
    host = cohort_hosts_lookup_by_name(d->hosts, "lab");
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_false(m->ready);
        cohort_ready_reconcile_machine(d->lifecycle, host, m, COHORT_AGENT_CONNECTED);
    }
    cohort_ready_forget(d->lifecycle, id);
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_true(m->ready);
        cohort_ready_reconcile_machine(d->lifecycle, host, m, COHORT_AGENT_DISCONNECTED);
    }
    {
        g_autoptr(CohortMachineRow) m = machine_row(d, id);
        assert_false(m->ready);
    }

    g_clear_pointer(&d, cohort_daemon_free);
    domain_remove(fx, name);
}

/* What libvirt's interfaces say, as the machine's addresses: loopback, link-local, junk and
 * repeats left out. */
static void
test_reconcile_ready_addresses_join(void **state)
{
    virDomainIPAddress a0[] = {
        {.type = VIR_IP_ADDR_TYPE_IPV4, .addr = (char *)"127.0.0.1", .prefix = 8},
        {.type = VIR_IP_ADDR_TYPE_IPV6, .addr = (char *)"::1", .prefix = 128},
    };
    virDomainIPAddress a1[] = {
        {.type = VIR_IP_ADDR_TYPE_IPV4, .addr = (char *)"10.17.0.12", .prefix = 24},
        {.type = VIR_IP_ADDR_TYPE_IPV6, .addr = (char *)"fe80::5054:ff:fe12:3456", .prefix = 64},
        {.type = VIR_IP_ADDR_TYPE_IPV6, .addr = (char *)"fd00:17::12", .prefix = 64},
        {.type = VIR_IP_ADDR_TYPE_IPV4, .addr = (char *)"10.17.0.12", .prefix = 24},
        {.type = VIR_IP_ADDR_TYPE_IPV4, .addr = (char *)"1.2.3.4<b>", .prefix = 24},
    };
    virDomainInterface lo = {.name = (char *)"lo", .naddrs = 2, .addrs = a0};
    virDomainInterface eth0 = {.name = (char *)"eth0", .naddrs = 5, .addrs = a1};
    virDomainInterfacePtr both[] = {&lo, &eth0};
    virDomainInterfacePtr only_lo[] = {&lo};
    g_autofree gchar *joined = cohort_provisioner_addresses_join(both, 2);
    g_autofree gchar *none = cohort_provisioner_addresses_join(only_lo, 1);

    assert_string_equal(joined, "10.17.0.12 fd00:17::12");
    assert_null(none);
    assert_null(cohort_provisioner_addresses_join(NULL, 0));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reconcile_ready_agent_event, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_ready_channel, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_reconcile_ready_addresses_join),
        cmocka_unit_test_setup_teardown(test_reconcile_orphan_removed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_orphan_of_other_host, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_duplicate_host, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_refused_uri, fixture_setup,
                                        fixture_teardown),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
