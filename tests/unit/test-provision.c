/* The provisioner on libvirt's embedded test driver: a fresh lab-size host per test. */
#define G_LOG_DOMAIN "test-provision"

#include "config.h"

#include "cohort-test.h"

#include "cohort-error.h"
#include "cohort-names.h"
#include "cohort-provision-network.h"
#include "cohort-provision-seed.h"
#include "cohort-provision.h"
#include "cohort-seed.h"
#include "cohort-virt.h"
#include "cohort-xml.h"

/* virDomainCreate fails when this is set: a start failure the test driver cannot produce. */
static gboolean fail_next_start = FALSE;
int __real_virDomainCreate(virDomainPtr domain);
int __wrap_virDomainCreate(virDomainPtr domain);
int
__wrap_virDomainCreate(virDomainPtr domain)
{
    if (fail_next_start) {
        fail_next_start = FALSE;
        /* An honest libvirt error, raised by libvirt itself: start a domain that is gone. */
        {
            virConnectPtr conn = virDomainGetConnect(domain);
            virDomainPtr ghost = virDomainLookupByName(conn, "no-such-domain-for-test");
            g_assert_null(ghost);
        }
        return -1;
    }
    return __real_virDomainCreate(domain);
}

typedef struct {
    virConnectPtr conn;
    CohortProvisioner *prov;
    CohortTemplate *tmpl;
    GPtrArray *keep;
} Fixture;

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *uri = cohort_test_lab_host_uri();
    Fixture *fx = g_new0(Fixture, 1);

    fx->conn = cohort_virt_connect(uri, &error);
    cohort_assert_no_error(error);
    fx->prov = cohort_provisioner_new(fx->conn, "default", &error);
    cohort_assert_no_error(error);
    fx->tmpl = cohort_test_template_load("tiny");
    fx->keep = g_ptr_array_new_with_free_func(g_free);
    assert_true(cohort_provisioner_base_ensure_blank(fx->prov, fx->tmpl, &error));
    cohort_assert_no_error(error);
    *state = fx;
    return 0;
}

/* Nothing of Cohort's may be left; the admin's own VM must still be there, running. */
static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
    g_autoptr(GPtrArray) overlays = cohort_provisioner_list_owned_overlays(fx->prov, &error);
    g_autoptr(GPtrArray) seeds = cohort_provisioner_list_owned_seeds(fx->prov, &error);
    g_autoptr(virDomain) admin = virDomainLookupByName(fx->conn, "admin-build-server");
    g_autoptr(GPtrArray) networks = cohort_provisioner_list_prefixed_networks(fx->prov, &error);

    assert_non_null(networks);
    assert_int_equal(networks->len, 0);
    assert_non_null(domains);
    assert_non_null(overlays);
    assert_int_equal(domains->len, 0);
    assert_int_equal(overlays->len, 0);
    assert_non_null(seeds);
    assert_int_equal(seeds->len, 0);
    assert_non_null(admin);
    assert_int_equal(virDomainIsActive(admin), 1);

    cohort_provisioner_free(fx->prov);
    cohort_template_unref(fx->tmpl);
    g_ptr_array_unref(fx->keep);
    virConnectClose(fx->conn);
    g_free(fx);
    return 0;
}

static gchar *
volume_backing_path(virConnectPtr conn, const gchar *name)
{
    g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(conn, "default");
    g_autoptr(virStorageVol) vol = virStorageVolLookupByName(pool, name);
    g_autofree gchar *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(GError) error = NULL;

    assert_non_null(vol);
    xml = virStorageVolGetXMLDesc(vol, 0);
    doc = cohort_xml_parse_memory(xml, strlen(xml), "volume", "volume", &error);
    cohort_assert_no_error(error);
    ctxt = xmlXPathNewContext(doc);
    return cohort_xml_find_string(ctxt, "string(/volume/backingStore/path)");
}

static void
test_provision_create_and_teardown(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    const gchar *trainees[] = {"sok-dara", "pov-bopha", "seng-vichet", "mao-makara", "ly-chantha"};

    for (guint i = 0; i < G_N_ELEMENTS(trainees); i++) {
        CohortMachineSpec spec;
        cohort_test_spec_init(&spec, fx->keep, "cloud-101", trainees[i], i + 1);
        assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
        cohort_assert_no_error(error);
    }
    for (guint i = 0; i < G_N_ELEMENTS(trainees); i++) {
        g_autofree gchar *name = cohort_names_domain("cloud-101", trainees[i], 1);
        g_autofree gchar *overlay = cohort_names_overlay(name);
        g_autofree gchar *backing = volume_backing_path(fx->conn, overlay);
        g_autoptr(virDomain) dom = virDomainLookupByName(fx->conn, name);

        assert_non_null(dom);
        assert_int_equal(virDomainIsActive(dom), 1);
        assert_int_equal(virDomainIsPersistent(dom), 1);
        assert_int_equal(cohort_provisioner_domain_get_machine_id(dom), i + 1);
        /* a linked clone of the template's base, not a copy */
        assert_string_equal(backing, "/var/lib/libvirt/images/tiny-base.qcow2");
    }
    {
        g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
        assert_non_null(domains);
        assert_int_equal(domains->len, 5);
        assert_string_equal(g_ptr_array_index(domains, 0), "cohort-cloud-101--ly-chantha");
    }
    for (guint i = 0; i < G_N_ELEMENTS(trainees); i++) {
        g_autofree gchar *name = cohort_names_domain("cloud-101", trainees[i], 1);
        g_autofree gchar *overlay = cohort_names_overlay(name);
        assert_true(cohort_provisioner_machine_teardown(fx->prov, name, i + 1, &error));
        cohort_assert_no_error(error);
        assert_false(cohort_test_domain_exists(fx->conn, name));
        assert_false(cohort_test_volume_exists(fx->conn, "default", overlay));
    }
}

static void
test_provision_idempotent(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 7);
    assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_no_error(error);
    /* twice: the same machine, still one domain and one overlay */
    assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_no_error(error);
    {
        g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
        g_autoptr(GPtrArray) overlays = cohort_provisioner_list_owned_overlays(fx->prov, &error);
        assert_int_equal(domains->len, 1);
        assert_int_equal(overlays->len, 1);
    }
    /* every single step again, too */
    assert_true(cohort_provisioner_domain_start(fx->prov, spec.domain_name, 7, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, 7, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, 7, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_domain_destroy(fx->prov, spec.domain_name, 7, &error));
    assert_true(cohort_provisioner_domain_undefine(fx->prov, spec.domain_name, 7, &error));
    assert_true(cohort_provisioner_overlay_delete(fx->prov, spec.domain_name, &error));
    cohort_assert_no_error(error);
}

/* A stopped machine (after a crash half-way through teardown) still tears down. */
static void
test_provision_teardown_after_partial(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 3);
    assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    assert_true(cohort_provisioner_domain_destroy(fx->prov, spec.domain_name, 3, &error));
    assert_true(cohort_provisioner_domain_undefine(fx->prov, spec.domain_name, 3, &error));
    /* overlay still there, no domain: teardown finishes the job */
    assert_false(cohort_test_domain_exists(fx->conn, spec.domain_name));
    assert_true(cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, 3, &error));
    cohort_assert_no_error(error);
}

static void
define_foreign_domain(virConnectPtr conn, const gchar *name)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "domain");
    xmlNode *os;
    xmlNode *node;
    g_autofree gchar *xml = NULL;
    g_autoptr(virDomain) dom = NULL;

    xmlDocSetRootElement(doc, root);
    xmlSetProp(root, BAD_CAST "type", BAD_CAST "test");
    node = xmlNewChild(root, NULL, BAD_CAST "name", NULL);
    cohort_xml_set_text(node, name);
    node = xmlNewChild(root, NULL, BAD_CAST "memory", NULL);
    cohort_xml_set_text(node, "65536");
    os = xmlNewChild(root, NULL, BAD_CAST "os", NULL);
    node = xmlNewChild(os, NULL, BAD_CAST "type", NULL);
    cohort_xml_set_text(node, "hvm");
    xml = cohort_xml_to_string(doc);
    dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    assert_int_equal(virDomainCreate(dom), 0);
}

/* A VM of the admin's own that happens to carry a Cohort-like name is never touched. */
static void
test_provision_foreign_domain_untouched(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(virDomain) foreign = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 1);
    define_foreign_domain(fx->conn, spec.domain_name);

    assert_false(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "does not carry Cohort's tag");
    g_clear_error(&error);
    /* the overlay this call made was rolled back; the foreign VM is as it was */
    assert_false(
        cohort_test_volume_exists(fx->conn, "default", "cohort-cloud-101--sok-dara.qcow2"));

    assert_false(cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, 1, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    assert_false(cohort_provisioner_domain_destroy(fx->prov, spec.domain_name, 1, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    assert_false(cohort_provisioner_domain_undefine(fx->prov, spec.domain_name, 1, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);

    foreign = virDomainLookupByName(fx->conn, spec.domain_name);
    assert_non_null(foreign);
    assert_int_equal(virDomainIsActive(foreign), 1);
    {
        g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
        assert_int_equal(domains->len, 0);
    }
    /* the test removes its own foreign VM */
    assert_int_equal(virDomainDestroy(foreign), 0);
    assert_int_equal(virDomainUndefine(foreign), 0);
}

/* Cohort's own machine, but another machine id: not this caller's to remove. */
static void
test_provision_other_machine_untouched(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 11);
    assert_true(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    assert_false(cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, 12, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "machine 11");
    g_clear_error(&error);
    assert_true(cohort_test_domain_exists(fx->conn, spec.domain_name));
    assert_true(cohort_test_volume_exists(fx->conn, "default", "cohort-cloud-101--sok-dara.qcow2"));
    assert_true(cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, 11, &error));
    cohort_assert_no_error(error);
}

static void
test_provision_rollback_on_start_failure(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 5);
    fail_next_start = TRUE;
    assert_false(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_error(error, COHORT_ERROR_LIBVIRT);
    /* says which step failed, on what, and libvirt's own words */
    cohort_assert_contains(error->message, "starting the domain cohort-cloud-101--sok-dara");
    cohort_assert_contains(error->message, "Domain not found");
    assert_false(cohort_test_domain_exists(fx->conn, spec.domain_name));
    assert_false(
        cohort_test_volume_exists(fx->conn, "default", "cohort-cloud-101--sok-dara.qcow2"));
}

/* A rendering failure (bad VNC password) stops before libvirt defines anything. */
static void
test_provision_rollback_on_define_failure(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 5);
    spec.vnc_password = "far too long for vnc";
    assert_false(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_false(cohort_test_domain_exists(fx->conn, spec.domain_name));
    assert_false(
        cohort_test_volume_exists(fx->conn, "default", "cohort-cloud-101--sok-dara.qcow2"));
}

static void
test_provision_missing_base(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    CohortMachineSpec spec;

    assert_true(cohort_provisioner_base_delete(fx->prov, fx->tmpl, &error));
    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 5);
    assert_false(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    cohort_assert_contains(error->message, "tiny-base.qcow2");
    cohort_assert_contains(error->message, "cohortctl template base tiny");
    assert_false(cohort_test_domain_exists(fx->conn, spec.domain_name));
}

/* A volume with Cohort's name that is not a clone of the base is someone else's. */
static void
test_provision_foreign_volume_untouched(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(virStoragePool) pool = virStoragePoolLookupByName(fx->conn, "default");
    g_autoptr(virStorageVol) vol = NULL;
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
    g_autofree gchar *xml = NULL;
    CohortMachineSpec spec;

    xmlDocSetRootElement(doc, root);
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "name", NULL),
                        "cohort-cloud-101--sok-dara.qcow2");
    cohort_xml_set_text(xmlNewChild(root, NULL, BAD_CAST "capacity", NULL), "1048576");
    xml = cohort_xml_to_string(doc);
    vol = virStorageVolCreateXML(pool, xml, 0);
    assert_non_null(vol);

    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 5);
    assert_false(cohort_provisioner_machine_create(fx->prov, fx->tmpl, &spec, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "is not a clone of");
    assert_true(cohort_test_volume_exists(fx->conn, "default", "cohort-cloud-101--sok-dara.qcow2"));
    assert_false(cohort_test_domain_exists(fx->conn, spec.domain_name));
    assert_int_equal(virStorageVolDelete(vol, 0), 0);
}

static void
test_provision_unknown_pool(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortProvisioner) prov = cohort_provisioner_new(fx->conn, "no-such-pool", &error);

    assert_null(prov);
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    cohort_assert_contains(error->message, "no-such-pool");
}

static void
test_provision_unreachable_host(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(virConnect) conn = cohort_virt_connect("test:///no/such/host.xml", &error);

    assert_null(conn);
    cohort_assert_error(error, COHORT_ERROR_HOST_UNAVAILABLE);
    cohort_assert_contains(error->message, "test:///no/such/host.xml");
}

typedef struct {
    Fixture *fx;
    gint64 first_id;
} WorkerData;

static gpointer
create_worker(gpointer user_data)
{
    WorkerData *data = user_data;
    for (gint64 i = data->first_id; i < data->first_id + 10; i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *trainee = g_strdup_printf("trainee-%03" G_GINT64_FORMAT, i);
        g_autofree gchar *name = cohort_names_domain("cloud-101", trainee, 1);
        CohortMachineSpec spec = {
            .domain_name = name, .machine_id = i, .cohort = "cloud-101", .trainee = trainee};
        if (!cohort_provisioner_machine_create(data->fx->prov, data->fx->tmpl, &spec, &error))
            return g_strdup(error->message);
    }
    return NULL;
}

/* One connection, four threads: the shape of cohortd's worker pool. */
static void
test_provision_concurrent(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    WorkerData data[4];
    GThread *threads[4];

    for (guint t = 0; t < 4; t++) {
        data[t] = (WorkerData){fx, 1 + t * 10};
        threads[t] = g_thread_new("create", create_worker, &data[t]);
    }
    for (guint t = 0; t < 4; t++) {
        g_autofree gchar *failure = g_thread_join(threads[t]);
        if (failure != NULL)
            fail_msg("worker %u: %s", t, failure);
    }
    {
        g_autoptr(GPtrArray) domains = cohort_provisioner_list_owned_domains(fx->prov, &error);
        assert_int_equal(domains->len, 40);
        for (guint i = 0; i < domains->len; i++) {
            const gchar *name = g_ptr_array_index(domains, i);
            assert_true(cohort_provisioner_machine_teardown(fx->prov, name, i + 1, &error));
            cohort_assert_no_error(error);
        }
    }
}

/* Any URI: the stock test:///default host with its own pool. */
static void
test_provision_default_test_host(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(virConnect) conn = cohort_virt_connect("test:///default", &error);
    g_autoptr(CohortProvisioner) prov = NULL;
    g_autoptr(CohortTemplate) tmpl = cohort_test_template_load("tiny");
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) left = NULL;
    CohortMachineSpec spec;

    cohort_assert_no_error(error);
    prov = cohort_provisioner_new(conn, "default-pool", &error);
    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_base_ensure_blank(prov, tmpl, &error));
    cohort_test_spec_init(&spec, keep, "cloud-101", "sok-dara", 1);
    assert_true(cohort_provisioner_machine_create(prov, tmpl, &spec, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_test_domain_exists(conn, spec.domain_name));
    assert_true(cohort_provisioner_machine_teardown(prov, spec.domain_name, 1, &error));
    assert_true(cohort_provisioner_base_delete(prov, tmpl, &error));
    cohort_assert_no_error(error);
    left = cohort_provisioner_list_owned_domains(prov, &error);
    assert_int_equal(left->len, 0);
    /* test:///default's own VM is still there */
    assert_true(cohort_test_domain_exists(conn, "test"));
}

/* A cohort's network: made once whoever asks, started again when stopped, removed once;
 * a network of the same name that is not this installation's is never touched. */
static void
test_provision_network(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *name = cohort_names_network("net-101");
    g_autofree gchar *uuid = cohort_names_network_uuid("owner-a", "net-101");
    g_autofree gchar *other_uuid = cohort_names_network_uuid("owner-b", "net-101");
    g_autoptr(GPtrArray) listed = NULL;
    g_autoptr(virNetwork) net = NULL;
    gboolean removed = TRUE;
    CohortNetworkSpec spec = {.name = name, .uuid = uuid, .subnet = "10.200.7.0/24"};
    CohortNetworkSpec other = {.name = name, .uuid = other_uuid, .subnet = "10.200.7.0/24"};

    assert_true(cohort_provisioner_network_ensure(fx->prov, &spec, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_network_ensure(fx->prov, &spec, &error));
    cohort_assert_no_error(error);
    net = virNetworkLookupByName(fx->conn, name);
    assert_non_null(net);
    assert_int_equal(virNetworkIsActive(net), 1);
    assert_int_equal(virNetworkIsPersistent(net), 1);
    {
        /* isolated: no <forward>; the host is .1 of its subnet, DHCP hands out the rest */
        g_autofree gchar *xml = virNetworkGetXMLDesc(net, 0);
        assert_null(strstr(xml, "<forward"));
        cohort_assert_contains(xml, "<ip address='10.200.7.1' prefix='24'>");
        cohort_assert_contains(xml, "<range start='10.200.7.2' end='10.200.7.254'");
    }
    listed = cohort_provisioner_list_prefixed_networks(fx->prov, &error);
    cohort_assert_no_error(error);
    assert_int_equal(listed->len, 1);
    assert_string_equal(g_ptr_array_index(listed, 0), name);
    {
        g_autoptr(GPtrArray) mine =
            cohort_provisioner_list_owned_networks(fx->prov, "owner-a", &error);
        g_autoptr(GPtrArray) theirs =
            cohort_provisioner_list_owned_networks(fx->prov, "owner-b", &error);
        cohort_assert_no_error(error);
        assert_int_equal(mine->len, 1);
        assert_string_equal(g_ptr_array_index(mine, 0), name);
        assert_int_equal(theirs->len, 0);
    }

    /* stopped behind Cohort's back: started again */
    assert_int_equal(virNetworkDestroy(net), 0);
    assert_true(cohort_provisioner_network_ensure(fx->prov, &spec, &error));
    cohort_assert_no_error(error);
    assert_int_equal(virNetworkIsActive(net), 1);

    /* another installation's network of that name: refused both ways, left as it is */
    assert_false(cohort_provisioner_network_ensure(fx->prov, &other, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    assert_false(cohort_provisioner_network_remove(fx->prov, name, other_uuid, &removed, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    g_clear_error(&error);
    assert_false(removed);
    assert_int_equal(virNetworkIsActive(net), 1);

    assert_true(cohort_provisioner_network_remove(fx->prov, name, uuid, &removed, &error));
    cohort_assert_no_error(error);
    assert_true(removed);
    assert_true(cohort_provisioner_network_remove(fx->prov, name, uuid, &removed, &error));
    cohort_assert_no_error(error);
    assert_false(removed);
    {
        g_autoptr(virNetwork) gone = virNetworkLookupByName(fx->conn, name);
        assert_null(gone);
    }
}

/* "nat": the same with <forward mode='nat'/>; a subnet that overlaps a network already on the
 * host (an admin's, 192.168.50.0/24 by its netmask) is refused before anything is made, and the
 * address plan is told what the host has (this installation's own networks left out). */
static void
test_provision_network_nat_and_overlap(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *name = cohort_names_network("nat-101");
    g_autofree gchar *uuid = cohort_names_network_uuid("owner-a", "nat-101");
    g_autofree gchar *clash_name = cohort_names_network("clash-101");
    g_autofree gchar *clash_uuid = cohort_names_network_uuid("owner-a", "clash-101");
    CohortNetworkSpec nat = {.name = name, .uuid = uuid, .subnet = "10.200.8.0/24", .nat = TRUE};
    CohortNetworkSpec clash = {.name = clash_name, .uuid = clash_uuid, .subnet = "192.168.0.0/16"};
    g_autoptr(virNetwork) net = NULL;
    g_autoptr(virNetwork) none = NULL;
    g_autoptr(GArray) foreign = NULL;
    g_autoptr(GArray) all = NULL;
    g_autoptr(virNetwork) admin = virNetworkDefineXML(
        fx->conn, "<network><name>admin-lan</name><bridge name='virbr50'/>"
                  "<ip address='192.168.50.1' netmask='255.255.255.0'/></network>");
    gboolean removed = FALSE;

    assert_non_null(admin);
    assert_int_equal(virNetworkCreate(admin), 0);
    assert_true(cohort_provisioner_network_ensure(fx->prov, &nat, &error));
    cohort_assert_no_error(error);
    net = virNetworkLookupByName(fx->conn, name);
    assert_non_null(net);
    {
        g_autofree gchar *xml = virNetworkGetXMLDesc(net, 0);
        cohort_assert_contains(xml, "<forward mode='nat'");
        cohort_assert_contains(xml, "<ip address='10.200.8.1' prefix='24'>");
    }

    assert_false(cohort_provisioner_network_ensure(fx->prov, &clash, &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "overlaps network admin-lan (192.168.50.0/24)");
    g_clear_error(&error);
    none = virNetworkLookupByName(fx->conn, clash_name);
    assert_null(none);

    /* what the plan must avoid: the host's own network, not this installation's */
    foreign = cohort_provisioner_list_network_subnets(fx->prov, "owner-a", &error);
    cohort_assert_no_error(error);
    assert_int_equal(foreign->len, 1);
    {
        g_autofree gchar *text = cohort_subnet_to_string(&g_array_index(foreign, CohortSubnet, 0));
        assert_string_equal(text, "192.168.50.0/24");
    }
    all = cohort_provisioner_list_network_subnets(fx->prov, NULL, &error);
    cohort_assert_no_error(error);
    assert_int_equal(all->len, 2);

    assert_true(cohort_provisioner_network_remove(fx->prov, name, uuid, &removed, &error));
    cohort_assert_no_error(error);
    assert_true(removed);
    assert_int_equal(virNetworkDestroy(admin), 0);
    assert_int_equal(virNetworkUndefine(admin), 0);
}

/* The network's XML: a subnet too small for DHCP, or not a subnet, is refused. */
static void
test_provision_network_xml(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortNetworkSpec tiny = {.name = "cohort-x",
                              .uuid = "c0c0c0c0-0000-4000-8000-000000000009",
                              .subnet = "10.200.0.0/30"};
    CohortNetworkSpec bad = {.name = "cohort-x",
                             .uuid = "c0c0c0c0-0000-4000-8000-000000000009",
                             .subnet = "10.200.0.1/24"};
    CohortNetworkSpec small = {.name = "cohort-x",
                               .uuid = "c0c0c0c0-0000-4000-8000-000000000009",
                               .subnet = "10.200.0.8/29"};
    g_autofree gchar *xml = NULL;

    assert_null(cohort_provision_network_xml_new(&tiny, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    assert_null(cohort_provision_network_xml_new(&bad, &error));
    cohort_assert_error(error, COHORT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    xml = cohort_provision_network_xml_new(&small, &error);
    cohort_assert_no_error(error);
    cohort_assert_contains(xml, "<ip address=\"10.200.0.9\" prefix=\"29\">");
    cohort_assert_contains(xml, "<range start=\"10.200.0.10\" end=\"10.200.0.14\"/>");
    assert_null(strstr(xml, "<forward"));
}

/* A shared network is the admin's: required on the host and started, never made or started
 * by Cohort, and what is missing is said in words. */
static void
test_provision_network_require(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(virNetwork) net = virNetworkDefineXML(
        fx->conn, "<network><name>lab-shared</name><bridge stp='on' delay='0'/></network>");

    assert_non_null(net);
    assert_false(cohort_provisioner_network_require(fx->prov, "lab-shared", &error));
    cohort_assert_error(error, COHORT_ERROR_CONFLICT);
    cohort_assert_contains(error->message, "virsh net-start lab-shared");
    g_clear_error(&error);
    /* still inactive: Cohort did not start it */
    assert_int_equal(virNetworkIsActive(net), 0);

    assert_int_equal(virNetworkCreate(net), 0);
    assert_true(cohort_provisioner_network_require(fx->prov, "lab-shared", &error));
    cohort_assert_no_error(error);

    assert_int_equal(virNetworkDestroy(net), 0);
    assert_int_equal(virNetworkUndefine(net), 0);
    assert_false(cohort_provisioner_network_require(fx->prov, "lab-shared", &error));
    cohort_assert_error(error, COHORT_ERROR_NOT_FOUND);
    cohort_assert_contains(error->message, "is not on this host");
}

/* A seeded machine: its seed volume (made empty: the test driver has no upload) and the
 * read-only CD-ROM pointing at it; a start failure takes the seed back with the rest; a
 * teardown removes it; a second make replaces it. */
static void
test_provision_seed(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GError) error = NULL;
    const gchar *keys[] = {"ssh-ed25519 AAAA k", NULL};
    CohortSeedSpec seed_spec = {
        .instance_id = "i-1",
        .hostname = "h",
        .user = "sok-dara",
        .ssh_keys = keys,
    };
    g_autoptr(GBytes) seed = cohort_seed_build(&seed_spec, &error);
    CohortMachineSpec spec;
    g_autofree gchar *seed_name = NULL;

    cohort_assert_no_error(error);
    cohort_test_spec_init(&spec, fx->keep, "cloud-101", "sok-dara", 1);
    seed_name = cohort_names_seed(spec.domain_name);
    /* the start fails: nothing stays, the seed included */
    fail_next_start = TRUE;
    assert_false(cohort_provisioner_machine_create_seeded(fx->prov, fx->tmpl, &spec, seed, &error));
    g_clear_error(&error);
    assert_false(cohort_provisioner_seed_exists(fx->prov, spec.domain_name));
    assert_false(cohort_test_domain_exists(fx->conn, spec.domain_name));

    assert_true(cohort_provisioner_machine_create_seeded(fx->prov, fx->tmpl, &spec, seed, &error));
    cohort_assert_no_error(error);
    assert_true(cohort_provisioner_seed_exists(fx->prov, spec.domain_name));
    assert_true(cohort_test_volume_exists(fx->conn, "default", seed_name));
    {
        g_autoptr(virDomain) dom = virDomainLookupByName(fx->conn, spec.domain_name);
        g_autofree gchar *xml = virDomainGetXMLDesc(dom, 0);
        g_autoptr(xmlDoc) doc = cohort_xml_parse_memory(xml, strlen(xml), "d", "domain", &error);
        g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
        g_autofree gchar *volume = cohort_xml_find_string(
            ctxt, "string(/domain/devices/disk[@device='cdrom']/source/@volume)");
        g_autofree gchar *ro = cohort_xml_find_string(
            ctxt, "string(count(/domain/devices/disk[@device='cdrom']/readonly))");
        assert_string_equal(volume, seed_name);
        assert_string_equal(ro, "1");
    }
    {
        g_autoptr(GPtrArray) seeds = cohort_provisioner_list_owned_seeds(fx->prov, &error);
        assert_int_equal(seeds->len, 1);
        assert_string_equal(g_ptr_array_index(seeds, 0), seed_name);
    }
    /* made anew (a reset's new seed): one volume still */
    assert_true(cohort_provisioner_seed_create(fx->prov, spec.domain_name, seed, &error));
    cohort_assert_no_error(error);
    assert_true(
        cohort_provisioner_machine_teardown(fx->prov, spec.domain_name, spec.machine_id, &error));
    cohort_assert_no_error(error);
    assert_false(cohort_provisioner_seed_exists(fx->prov, spec.domain_name));
    /* idempotent */
    assert_true(cohort_provisioner_seed_delete(fx->prov, spec.domain_name, &error));
    cohort_assert_no_error(error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision_create_and_teardown, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_idempotent, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_seed, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_teardown_after_partial, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_foreign_domain_untouched, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_other_machine_untouched, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_rollback_on_start_failure, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_rollback_on_define_failure, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_missing_base, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_foreign_volume_untouched, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_unknown_pool, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_concurrent, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_network_nat_and_overlap, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_provision_network_xml),
        cmocka_unit_test_setup_teardown(test_provision_network, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_provision_network_require, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_provision_unreachable_host),
        cmocka_unit_test(test_provision_default_test_host),
    };

    cohort_virt_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
