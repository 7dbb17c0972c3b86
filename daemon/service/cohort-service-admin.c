/* The admin's side of the service: users and tokens, hosts, templates, audit, usage. */
#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cohort-auth.h"
#include "cohort-base-work.h"
#include "cohort-error.h"
#include "cohort-json.h"
#include "cohort-machine-work.h"
#include "cohort-service-private.h"
#include "cohort-service.h"
#include "cohort-slug.h"
#include "cohort-text.h"

#define COHORT_DISPLAY_NAME_MAX 200

CohortUserRow *
cohort_service_authenticate(CohortService *svc, const gchar *token, CohortAuthTokenMemo *memo)
{
    g_autofree gchar *hash = NULL;

    if (token == NULL || token[0] == '\0')
        return NULL;
    if (memo != NULL)
        return cohort_store_token_lookup(svc->store, cohort_auth_token_memo_hash(memo, token),
                                         NULL);
    hash = cohort_auth_secret_hash(token);
    return cohort_store_token_lookup(svc->store, hash, NULL);
}

JsonNode *
cohort_service_whoami(CohortService *svc, const CohortUserRow *actor, GError **error)
{
    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_WHOAMI, NULL, NULL, error))
        return NULL;
    return cohort_json_user(actor);
}

/* Display names take any UTF-8, but nothing that hides or reorders the text around it: they
 * end up in terminals and pages. */
static gboolean
cohort_service_display_name_validate(const gchar *name, GError **error)
{
    return cohort_text_validate(name, "\"display_name\"", COHORT_DISPLAY_NAME_MAX, error);
}

static gchar *
cohort_service_token_issue(CohortStore *store, gint64 user_id, GError **error)
{
    g_autofree gchar *token = cohort_auth_token_new();
    g_autofree gchar *hash = cohort_auth_secret_hash(token);

    if (!cohort_store_token_insert(store, user_id, hash, error))
        return NULL;
    return g_steal_pointer(&token);
}

JsonNode *
cohort_service_user_create(CohortService *svc, const CohortUserRow *actor, JsonObject *body,
                           GError **error)
{
    static const gchar *const known[] = {"login", "display_name", "role", NULL};
    g_autoptr(CohortUserRow) row = g_new0(CohortUserRow, 1);
    g_autofree gchar *token = NULL;
    JsonNode *node;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_USER_MANAGE, NULL, NULL,
                           error))
        return NULL;
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "login", TRUE, 64, &row->login, error) ||
        !cohort_json_get_string(body, "display_name", FALSE, 1024, &row->display_name, error) ||
        !cohort_json_get_string(body, "role", TRUE, 16, &row->role, error))
        return NULL;
    if (!cohort_slug_validate(row->login, "login", error))
        return NULL;
    if (row->display_name == NULL)
        row->display_name = g_strdup(row->login);
    if (!cohort_service_display_name_validate(row->display_name, error))
        return NULL;
    if (cohort_role_from_string(row->role) == COHORT_ROLE_NONE) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"role\" must be admin, trainer or trainee, not '%s'", row->role);
        return NULL;
    }
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    if (!cohort_store_user_insert(svc->store, row, error) ||
        (token = cohort_service_token_issue(svc->store, row->id, error)) == NULL ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "user.create", row->login, NULL);
    node = cohort_json_user(row);
    json_object_set_string_member(json_node_get_object(node), "token", token);
    return node;
}

JsonNode *
cohort_service_user_list(CohortService *svc, const CohortUserRow *actor, GError **error)
{
    g_autoptr(GPtrArray) rows = NULL;
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_USER_MANAGE, NULL, NULL,
                           error))
        return NULL;
    rows = cohort_store_user_list(svc->store, NULL, error);
    if (rows == NULL)
        return NULL;
    for (guint i = 0; i < rows->len; i++)
        g_ptr_array_add(nodes, cohort_json_user(g_ptr_array_index(rows, i)));
    return cohort_json_array_new(nodes);
}

JsonNode *
cohort_service_user_token_issue(CohortService *svc, const CohortUserRow *actor, const gchar *login,
                                GError **error)
{
    g_autoptr(CohortUserRow) user = NULL;
    g_autofree gchar *token = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_USER_MANAGE, NULL, NULL,
                           error))
        return NULL;
    user = cohort_store_user_get_by_login(svc->store, login, error);
    if (user == NULL)
        return NULL;
    token = cohort_service_token_issue(svc->store, user->id, error);
    if (token == NULL)
        return NULL;
    cohort_service_audit(svc, actor->login, "user.token", login, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "login");
    json_builder_add_string_value(b, login);
    json_builder_set_member_name(b, "token");
    json_builder_add_string_value(b, token);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_service_user_token_revoke(CohortService *svc, const CohortUserRow *actor, const gchar *login,
                                 GError **error)
{
    g_autoptr(CohortUserRow) user = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint count = 0;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_USER_MANAGE, NULL, NULL,
                           error))
        return NULL;
    user = cohort_store_user_get_by_login(svc->store, login, error);
    if (user == NULL)
        return NULL;
    if (!cohort_store_token_revoke_user(svc->store, user->id, &count, error))
        return NULL;
    cohort_service_audit(svc, actor->login, "user.revoke", login, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "login");
    json_builder_add_string_value(b, login);
    json_builder_set_member_name(b, "revoked");
    json_builder_add_int_value(b, count);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gchar *
cohort_service_admin_bootstrap(CohortStore *store, const gchar *login, GError **error)
{
    g_autoptr(CohortUserRow) user = NULL;
    g_autoptr(GError) error_local = NULL;

    if (!cohort_slug_validate(login, "login", error))
        return NULL;
    user = cohort_store_user_get_by_login(store, login, &error_local);
    if (user == NULL) {
        if (!g_error_matches(error_local, COHORT_ERROR, COHORT_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&error_local));
            return NULL;
        }
        user = g_new0(CohortUserRow, 1);
        user->login = g_strdup(login);
        user->display_name = g_strdup(login);
        user->role = g_strdup("admin");
        if (!cohort_store_user_insert(store, user, error))
            return NULL;
    } else if (g_strcmp0(user->role, "admin") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "user '%s' exists and is a %s, not an admin", login, user->role);
        return NULL;
    }
    cohort_store_audit_insert(store, "system", "user.create-admin", login, "ok", NULL, NULL);
    return cohort_service_token_issue(store, user->id, error);
}

/* --- hosts --------------------------------------------------------------------------- */

static JsonNode *
cohort_service_host_json(CohortService *svc, CohortHost *host, GError **error)
{
    CohortHostUsage usage = {0};

    if (!cohort_store_host_get_usage_full(svc->store, host->id, &usage, error))
        return NULL;
    return cohort_json_host(host, &usage);
}

JsonNode *
cohort_service_host_list(CohortService *svc, const CohortUserRow *actor, GError **error)
{
    g_autoptr(GPtrArray) hosts = NULL;
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_HOST_MANAGE, NULL, NULL,
                           error))
        return NULL;
    hosts = cohort_hosts_list(svc->hosts);
    for (guint i = 0; i < hosts->len; i++) {
        JsonNode *node = cohort_service_host_json(svc, g_ptr_array_index(hosts, i), error);
        if (node == NULL)
            return NULL;
        g_ptr_array_add(nodes, node);
    }
    return cohort_json_array_new(nodes);
}

/* Removes @host from the store (its reclaimed machines keep their rows, without a host) and
 * from the registry; its connections close once the work under way is done. The caller
 * checked that no machine lives there. */
static gboolean
cohort_service_host_disconnect(CohortService *svc, CohortHost *host, guint *detached,
                               GError **error)
{
    if (!cohort_store_host_delete(svc->store, host->id, detached, error))
        return FALSE;
    cohort_lifecycle_forget_host(svc->lifecycle, host);
    cohort_hosts_detach(svc->hosts, host);
    /* work pushed before now may hold its provisioner; work pushed later cannot find it */
    cohort_jobs_when_done(svc->work->jobs, (GDestroyNotify)cohort_host_free, host);
    return TRUE;
}

/* Capacity and ratios of a body (add, or change: members left out keep @row's values). */
static gboolean
cohort_service_host_read_capacity(JsonObject *body, CohortHostRow *row, GError **error)
{
    guint64 vcpus = row->vcpus;
    guint64 memory = row->memory_mib;

    if (!cohort_json_get_uint(body, "vcpus", FALSE, 0, 65536, &vcpus, error) ||
        !cohort_json_get_uint(body, "memory_mib", FALSE, 0, G_MAXUINT32 * 16ULL, &memory, error) ||
        !cohort_json_get_double(body, "cpu_ratio", 0.1, 64, &row->cpu_ratio, error) ||
        !cohort_json_get_double(body, "memory_ratio", 0.1, 16, &row->memory_ratio, error) ||
        !cohort_json_get_double(body, "disk_ratio", 0.1, 100, &row->disk_ratio, error))
        return FALSE;
    row->vcpus = (guint)vcpus;
    row->memory_mib = memory;
    return TRUE;
}

/* "accel": "auto" (kvm where the host offers it, else TCG), "kvm" or "tcg"; left out: @row's. */
static gboolean
cohort_service_host_read_accel(JsonObject *body, CohortHostRow *row, GError **error)
{
    g_autofree gchar *accel = NULL;

    if (!cohort_json_get_string(body, "accel", FALSE, 16, &accel, error))
        return FALSE;
    if (accel == NULL)
        return TRUE;
    if (g_strcmp0(accel, "auto") != 0 && g_strcmp0(accel, "kvm") != 0 &&
        g_strcmp0(accel, "tcg") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"accel\" must be \"auto\" (kvm where the host offers it, else tcg), "
                    "\"kvm\" or \"tcg\", not '%s'",
                    accel);
        return FALSE;
    }
    g_free(row->accel);
    row->accel = g_steal_pointer(&accel);
    return TRUE;
}

static gboolean
cohort_service_pool_validate(const gchar *pool, GError **error)
{
    if (pool[0] == '\0' || strchr(pool, '/') != NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"pool\" must be the name of a libvirt storage pool on the host, not '%s'",
                    pool);
        return FALSE;
    }
    return TRUE;
}

JsonNode *
cohort_service_host_add(CohortService *svc, const CohortUserRow *actor, JsonObject *body,
                        GError **error)
{
    static const gchar *const known[] = {"name",       "uri",       "pool",  "vcpus",
                                         "memory_mib", "cpu_ratio", "accel", "memory_ratio",
                                         "disk_ratio", NULL};
    g_autoptr(CohortHostRow) row = g_new0(CohortHostRow, 1);
    CohortHost *host;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_HOST_MANAGE, NULL, NULL,
                           error))
        return NULL;
    row->cpu_ratio = 4.0;
    row->memory_ratio = 1.0;
    row->disk_ratio = 1.0;
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "name", TRUE, 64, &row->name, error) ||
        !cohort_json_get_string(body, "uri", TRUE, 1024, &row->uri, error) ||
        !cohort_json_get_string(body, "pool", FALSE, 256, &row->pool, error) ||
        !cohort_service_host_read_capacity(body, row, error) ||
        !cohort_service_host_read_accel(body, row, error))
        return NULL;
    if (!cohort_slug_validate(row->name, "host name", error))
        return NULL;
    if (cohort_hosts_lookup_by_name(svc->hosts, row->name) != NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT, "a host '%s' already exists",
                    row->name);
        return NULL;
    }
    if (row->pool == NULL)
        row->pool = g_strdup("default");
    if (!cohort_service_pool_validate(row->pool, error))
        return NULL;
    row->state = g_strdup("up");
    /* checked and recorded at once; the connection is made in a thread: the answer says
     * "connecting", and GET /api/v1/hosts what came of it */
    host = cohort_hosts_add_new(svc->hosts, svc->store, row,
                                cohort_template_set_get_table(svc->templates), error);
    if (host == NULL)
        return NULL;
    cohort_service_audit(svc, actor->login, "host.add", row->name, NULL);
    return cohort_service_host_json(svc, host, error);
}

/* The host, by name, for an admin. */
static CohortHost *
cohort_service_host_lookup(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                           GError **error)
{
    CohortHost *host;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_HOST_MANAGE, NULL, NULL,
                           error))
        return NULL;
    host = cohort_hosts_lookup_by_name(svc->hosts, name);
    if (host == NULL)
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no host '%s'", name);
    return host;
}

static gboolean
cohort_service_host_is_configured(CohortService *svc, const gchar *name)
{
    return svc->settings.config_hosts != NULL &&
           g_strv_contains((const gchar *const *)svc->settings.config_hosts, name);
}

JsonNode *
cohort_service_host_update(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                           JsonObject *body, GError **error)
{
    static const gchar *const known[] = {"vcpus",      "memory_mib", "cpu_ratio", "memory_ratio",
                                         "disk_ratio", "pool",       "accel",     NULL};
    g_autoptr(CohortHostRow) row = NULL;
    g_autofree gchar *pool = NULL;
    CohortHost *host = cohort_service_host_lookup(svc, actor, name, error);

    if (host == NULL)
        return NULL;
    if (!cohort_json_check_members(body, known, error))
        return NULL;
    /* cohortd.conf's hosts take the file's values at every start: the file says */
    if (cohort_service_host_is_configured(svc, name)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "host '%s' is defined in cohortd.conf ([host:%s]), whose values it takes at "
                    "every start: change them there and restart cohortd",
                    name, name);
        return NULL;
    }
    row = cohort_store_host_get_by_id(svc->store, host->id, error);
    if (row == NULL || !cohort_service_host_read_capacity(body, row, error) ||
        !cohort_service_host_read_accel(body, row, error) ||
        !cohort_json_get_string(body, "pool", FALSE, 256, &pool, error))
        return NULL;
    /* KVM asked of a host whose libvirt has none is refused now, not at the first machine */
    if (!cohort_hosts_set_accel(svc->hosts, host, row->accel, error))
        return NULL;
    if (pool != NULL && !cohort_service_pool_validate(pool, error))
        return NULL;
    if (pool != NULL && g_strcmp0(pool, row->pool) != 0) {
        guint living = 0;
        if (!cohort_store_host_get_living(svc->store, host->id, &living, NULL, error))
            return NULL;
        /* their disks are in the old pool */
        if (living > 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "host '%s' holds %u machine%s whose disks are in pool '%s': evacuate it "
                        "('cohortctl host evacuate %s') or reclaim them before its pool changes",
                        name, living, living == 1 ? "" : "s", row->pool, name);
            return NULL;
        }
        g_free(row->pool);
        row->pool = g_strdup(pool);
    } else {
        g_clear_pointer(&pool, g_free);
    }
    if (!cohort_store_host_update(svc->store, row, error))
        return NULL;
    cohort_hosts_set_capacity(svc->hosts, host, row);
    if (pool != NULL)
        cohort_hosts_set_pool(svc->hosts, host, pool);
    cohort_service_audit(svc, actor->login, "host.update", name, NULL);
    return cohort_service_host_json(svc, host, error);
}

JsonNode *
cohort_service_host_evacuate(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                             GError **error)
{
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) machines = g_ptr_array_new();
    g_autoptr(JsonBuilder) b = json_builder_new();
    CohortHost *host = cohort_service_host_lookup(svc, actor, name, error);
    guint copied = 0;
    guint remade = 0;
    guint failed = 0;
    gint64 job_id;

    if (host == NULL)
        return NULL;
    /* nothing new goes there meanwhile */
    if (!cohort_store_host_set_state(svc->store, host->id, "draining", error))
        return NULL;
    cohort_hosts_drain(svc->hosts, host);
    all = cohort_store_machine_list(svc->store, 0, 0, 0, FALSE, error);
    if (all == NULL)
        return NULL;
    for (guint i = 0; i < all->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(all, i);
        if (m->host_id == host->id && g_strcmp0(m->state, "reclaiming") != 0 &&
            g_strcmp0(m->state, "moving") != 0)
            g_ptr_array_add(machines, m);
    }
    /* intent first: the job and its machines in one commit */
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    job_id = cohort_machine_work_job_new(svc->work, actor, "evacuate", name, machines->len, error);
    for (guint i = 0; job_id > 0 && i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        if (!cohort_store_job_machine_insert(svc->store, job_id, m->id,
                                             g_strcmp0(m->state, "failed") != 0, error))
            job_id = 0;
    }
    if (job_id == 0 || !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        g_autoptr(GError) error_local = NULL;
        gboolean copy = cohort_host_is_usable(host) && g_strcmp0(m->state, "stopped") == 0;
        CohortHost *target = cohort_service_move_target(svc, m, NULL, &error_local);
        if (target == NULL ||
            !cohort_machine_work_move(svc->work, m, target, !copy, job_id, &error_local)) {
            cohort_machine_work_job_count(svc->work, job_id, m->id, m->name, error_local);
            failed++;
            continue;
        }
        if (copy)
            copied++;
        else
            remade++;
    }
    cohort_service_audit(svc, actor->login, "host.evacuate", name, NULL);
    g_message("host %s is evacuated (job %" G_GINT64_FORMAT "): %u machines copied, %u made "
              "anew elsewhere, %u with no room",
              name, job_id, copied, remade, failed);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "job");
    json_builder_add_int_value(b, job_id);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "machines");
    json_builder_add_int_value(b, machines->len);
    json_builder_set_member_name(b, "copied");
    json_builder_add_int_value(b, copied);
    json_builder_set_member_name(b, "remade");
    json_builder_add_int_value(b, remade);
    json_builder_set_member_name(b, "failed");
    json_builder_add_int_value(b, failed);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_service_host_drain(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                          gboolean drain, GError **error)
{
    CohortHost *host = cohort_service_host_lookup(svc, actor, name, error);

    if (host == NULL)
        return NULL;
    if (!cohort_store_host_set_state(svc->store, host->id, drain ? "draining" : "up", error))
        return NULL;
    /* a draining host keeps its machines and takes no new ones */
    if (drain)
        cohort_hosts_drain(svc->hosts, host);
    else
        cohort_hosts_undrain(svc->hosts, host);
    cohort_service_audit(svc, actor->login, drain ? "host.drain" : "host.undrain", name, NULL);
    return cohort_service_host_json(svc, host, error);
}

JsonNode *
cohort_service_host_remove(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                           GError **error)
{
    g_autoptr(GPtrArray) cohorts = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    CohortHost *host;
    guint living = 0;
    guint detached = 0;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_HOST_MANAGE, NULL, NULL,
                           error))
        return NULL;
    host = cohort_hosts_lookup_by_name(svc->hosts, name);
    if (host == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no host '%s'", name);
        return NULL;
    }
    /* cohortd.conf's hosts enter the store at every start: the file says first */
    if (cohort_service_host_is_configured(svc, name)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "host '%s' is defined in cohortd.conf ([host:%s]), which would add it again "
                    "at the next start: remove that group from the file and restart cohortd, "
                    "then remove the host",
                    name, name);
        return NULL;
    }
    if (!cohort_store_host_get_living(svc->store, host->id, &living, &cohorts, error))
        return NULL;
    if (living > 0) {
        guint n_cohorts = cohorts->len;
        g_autofree gchar *list = NULL;
        g_ptr_array_add(cohorts, NULL);
        list = g_strjoinv(", ", (gchar **)cohorts->pdata);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "host '%s' still holds %u machine%s that %s not reclaimed (cohort%s %s): "
                    "drain it ('cohortctl host drain %s') so that it takes no new ones, reclaim "
                    "%s ('cohortctl cohort reclaim SLUG') or release %s, then remove it",
                    name, living, living == 1 ? "" : "s", living == 1 ? "is" : "are",
                    n_cohorts == 1 ? "" : "s", list, name,
                    n_cohorts == 1 ? "that cohort" : "those cohorts",
                    living == 1 ? "the machine" : "the machines");
        return NULL;
    }
    if (!cohort_service_host_disconnect(svc, host, &detached, error))
        return NULL;
    g_message("host %s removed; %u reclaimed machines keep their history without a host", name,
              detached);
    cohort_service_audit(svc, actor->login, "host.remove", name, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "removed");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "reclaimed_machines");
    json_builder_add_int_value(b, detached);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* --- templates ----------------------------------------------------------------------- */

static JsonNode *
cohort_service_template_json(CohortService *svc, CohortTemplate *tmpl, gboolean with_hosts)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, cohort_template_get_name(tmpl));
    json_builder_set_member_name(b, "description");
    json_builder_add_string_value(b, cohort_template_get_description(tmpl));
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, cohort_template_get_vcpus(tmpl));
    json_builder_set_member_name(b, "memory_mib");
    json_builder_add_int_value(b, (gint64)cohort_template_get_memory_mib(tmpl));
    json_builder_set_member_name(b, "disk_mib");
    json_builder_add_int_value(b, (gint64)cohort_template_get_disk_mib(tmpl));
    json_builder_set_member_name(b, "base_volume");
    json_builder_add_string_value(b, cohort_template_get_base_volume(tmpl));
    if (with_hosts) {
        g_autoptr(GPtrArray) hosts = cohort_hosts_list(svc->hosts);
        json_builder_set_member_name(b, "hosts");
        json_builder_begin_array(b);
        for (guint i = 0; i < hosts->len; i++) {
            CohortHost *host = g_ptr_array_index(hosts, i);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "host");
            json_builder_add_string_value(b, host->name);
            json_builder_set_member_name(b, "has_base");
            json_builder_add_boolean_value(b, cohort_host_has_base(host, tmpl));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Trainees see the templates of the cohorts they are enrolled in. */
static gboolean
cohort_service_template_visible(CohortService *svc, const CohortUserRow *actor, const gchar *name)
{
    g_autoptr(GPtrArray) cohorts = NULL;

    if (g_strcmp0(actor->role, "trainee") != 0)
        return TRUE;
    cohorts = cohort_store_cohort_list(svc->store, 0, actor->id, NULL);
    for (guint i = 0; cohorts != NULL && i < cohorts->len; i++) {
        CohortCohortRow *row = g_ptr_array_index(cohorts, i);
        if (g_strcmp0(row->template_name, name) == 0)
            return TRUE;
    }
    return FALSE;
}

static gint
cohort_service_strcmp(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

JsonNode *
cohort_service_template_list(CohortService *svc, const CohortUserRow *actor, GError **error)
{
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    GHashTableIter iter;
    gpointer key;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_TEMPLATE_READ, NULL, NULL,
                           error))
        return NULL;
    g_hash_table_iter_init(&iter, cohort_template_set_get_table(svc->templates));
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(names, key);
    g_ptr_array_sort(names, cohort_service_strcmp);
    for (guint i = 0; i < names->len; i++) {
        const gchar *name = g_ptr_array_index(names, i);
        if (cohort_service_template_visible(svc, actor, name))
            g_ptr_array_add(nodes,
                            cohort_service_template_json(
                                svc, cohort_template_set_get(svc->templates, name, NULL), FALSE));
    }
    return cohort_json_array_new(nodes);
}

JsonNode *
cohort_service_template_reload(CohortService *svc, const CohortUserRow *actor, JsonNode **files,
                               GError **error)
{
    g_autoptr(GPtrArray) changes = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_TEMPLATE_MANAGE, NULL, NULL,
                           error))
        return NULL;
    if (!cohort_template_set_reload(svc->templates, &changes, &problems, error)) {
        if (problems != NULL) {
            JsonArray *array = json_array_new();
            for (guint i = 0; i < problems->len; i++) {
                CohortTemplateProblem *problem = g_ptr_array_index(problems, i);
                JsonObject *obj = json_object_new();
                json_object_set_string_member(obj, "file", problem->file);
                json_object_set_string_member(obj, "message", problem->message);
                json_array_add_object_element(array, obj);
            }
            *files = json_node_new(JSON_NODE_ARRAY);
            json_node_take_array(*files, array);
        }
        cohort_service_audit(svc, actor->login, "template.reload",
                             cohort_template_set_get_dir(svc->templates), *error);
        return NULL;
    }
    /* the hosts' bases are checked again: a new template may name one they have */
    cohort_hosts_refresh_bases(svc->hosts);
    g_message("%u templates reloaded from %s",
              g_hash_table_size(cohort_template_set_get_table(svc->templates)),
              cohort_template_set_get_dir(svc->templates));
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "templates");
    json_builder_begin_array(b);
    for (guint i = 0; i < changes->len; i++) {
        CohortTemplateChange *change = g_ptr_array_index(changes, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, change->name);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, change->state);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    cohort_service_audit(svc, actor->login, "template.reload",
                         cohort_template_set_get_dir(svc->templates), NULL);
    return json_builder_get_root(b);
}

JsonNode *
cohort_service_template_get(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                            GError **error)
{
    CohortAuthRelation rel = {0};
    g_autofree gchar *what = g_strdup_printf("template '%s'", name);
    CohortTemplate *tmpl;

    if (actor != NULL)
        rel.is_enrolled = cohort_service_template_visible(svc, actor, name);
    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_TEMPLATE_READ, &rel, what,
                           error))
        return NULL;
    tmpl = cohort_template_set_get(svc->templates, name, error);
    if (tmpl == NULL)
        return NULL;
    return cohort_service_template_json(svc, tmpl, TRUE);
}

/* Whether @path is inside the directory @dir (both absolute, without a trailing slash). */
static gboolean
cohort_service_path_is_under(const gchar *path, const gchar *dir)
{
    gsize len = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return path[0] == '/' && path[1] != '\0';
    return strncmp(path, dir, len) == 0 && path[len] == '/' && path[len + 1] != '\0';
}

/* A base image's file, as an admin named it: an absolute path to a regular file under the
 * images directory, with no ".." and no symbolic link leading out of it (anything else
 * would let a token read any file cohortd may read, through a base volume). The resolved
 * path, or COHORT_ERROR_INVALID_ARGUMENT saying where images go. */
static gchar *
cohort_service_image_resolve(const gchar *images_dir, const gchar *path, GError **error)
{
    g_auto(GStrv) parts = NULL;
    g_autofree gchar *dir = NULL;
    g_autofree gchar *real_dir = NULL;
    g_autofree gchar *canon = NULL;
    g_autofree gchar *real = NULL;
    GStatBuf st;

    if (!g_path_is_absolute(path)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"path\" must be an absolute path under the images directory %s on "
                    "cohortd's machine, not '%s'",
                    images_dir, path);
        return NULL;
    }
    parts = g_strsplit(path, "/", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (strcmp(parts[i], "..") == 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "\"path\" '%s' has a '..' in it: give the image's own path under the "
                        "images directory %s",
                        path, images_dir);
            return NULL;
        }
    }
    dir = g_canonicalize_filename(images_dir, NULL);
    real_dir = realpath(dir, NULL);
    if (real_dir == NULL) {
        gint saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "the images directory %s ([daemon] images_dir) cannot be used (%s): make it "
                    "and copy base images into it, then give their path there",
                    images_dir, g_strerror(saved));
        return NULL;
    }
    /* outside, whether or not the file exists: nothing is said about other places */
    canon = g_canonicalize_filename(path, NULL);
    if (!cohort_service_path_is_under(canon, dir) &&
        !cohort_service_path_is_under(canon, real_dir)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"path\" '%s' is not under the images directory %s ([daemon] "
                    "images_dir): copy the image into it and give that path",
                    path, images_dir);
        return NULL;
    }
    real = realpath(canon, NULL);
    if (real == NULL) {
        gint saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"path\": '%s' %s on cohortd's machine", path,
                    saved == ENOENT || saved == ENOTDIR ? "does not exist" : g_strerror(saved));
        return NULL;
    }
    if (!cohort_service_path_is_under(real, real_dir)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"path\" '%s' leads out of the images directory %s (a symbolic link?): "
                    "copy the image itself there",
                    path, images_dir);
        return NULL;
    }
    if (g_stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"path\": '%s' is not a regular image file", path);
        return NULL;
    }
    return g_steal_pointer(&real);
}

JsonNode *
cohort_service_template_base(CohortService *svc, const CohortUserRow *actor, const gchar *name,
                             JsonObject *body, GError **error)
{
    static const gchar *const known[] = {"path", "blank", NULL};
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) targets = NULL;
    g_autofree gchar *path = NULL;
    gboolean blank = FALSE;
    CohortTemplate *tmpl;
    gint64 job_id;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_TEMPLATE_MANAGE, NULL, NULL,
                           error))
        return NULL;
    tmpl = cohort_template_set_get(svc->templates, name, error);
    if (tmpl == NULL)
        return NULL;
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "path", FALSE, 4096, &path, error) ||
        !cohort_json_get_bool(body, "blank", &blank, error))
        return NULL;
    if ((path == NULL) == !blank) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "give either \"path\" (an image file on cohortd's machine) or "
                            "\"blank\": true");
        return NULL;
    }
    if (path != NULL) {
        gchar *image = cohort_service_image_resolve(svc->settings.images_dir, path, error);
        if (image == NULL)
            return NULL;
        g_free(path);
        path = image;
    }

    job_id = cohort_base_work_install(svc->work, actor, tmpl, path, &targets, error);
    if (job_id == 0)
        return NULL;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "job");
    json_builder_add_int_value(b, job_id);
    json_builder_set_member_name(b, "template");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "hosts");
    json_builder_begin_array(b);
    for (guint i = 0; i < targets->len; i++) {
        CohortBaseTarget *target = g_ptr_array_index(targets, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, target->host);
        json_builder_set_member_name(b, "volume");
        json_builder_add_string_value(b, cohort_template_get_base_volume(tmpl));
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, target->state);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    cohort_service_audit(svc, actor->login, "template.base", name, NULL);
    return json_builder_get_root(b);
}

JsonNode *
cohort_service_host_base_remove(CohortService *svc, const CohortUserRow *actor,
                                const gchar *host_name, const gchar *template_name, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GStrvBuilder) sharing = g_strv_builder_new();
    g_auto(GStrv) names = NULL;
    g_autofree gchar *target = NULL;
    CohortHost *host = cohort_service_host_lookup(svc, actor, host_name, error);
    CohortTemplate *tmpl;
    GHashTableIter iter;
    gpointer key;
    gpointer value;
    gint64 job_id;

    if (host == NULL)
        return NULL;
    tmpl = cohort_template_set_get(svc->templates, template_name, error);
    if (tmpl == NULL)
        return NULL;
    /* templates may share a base (tiny and tiny-lan do): the machines of each use it */
    g_hash_table_iter_init(&iter, cohort_template_set_get_table(svc->templates));
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (g_strcmp0(cohort_template_get_base_volume(value),
                      cohort_template_get_base_volume(tmpl)) == 0)
            g_strv_builder_add(sharing, key);
    }
    names = g_strv_builder_end(sharing);
    target = g_strdup_printf("%s@%s", template_name, host_name);
    job_id =
        cohort_base_work_remove(svc->work, actor, tmpl, (const gchar *const *)names, host, error);
    if (job_id == 0) {
        cohort_service_audit(svc, actor->login, "template.base-remove", target, *error);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "template.base-remove", target, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "job");
    json_builder_add_int_value(b, job_id);
    json_builder_set_member_name(b, "template");
    json_builder_add_string_value(b, template_name);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, host_name);
    json_builder_set_member_name(b, "volume");
    json_builder_add_string_value(b, cohort_template_get_base_volume(tmpl));
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* --- audit and usage ----------------------------------------------------------------- */

JsonNode *
cohort_service_audit_list(CohortService *svc, const CohortUserRow *actor, guint limit,
                          GError **error)
{
    g_autoptr(GPtrArray) rows = NULL;
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_AUDIT_READ, NULL, NULL, error))
        return NULL;
    rows = cohort_store_audit_list(svc->store, limit, error);
    if (rows == NULL)
        return NULL;
    for (guint i = 0; i < rows->len; i++)
        g_ptr_array_add(nodes, cohort_json_audit(g_ptr_array_index(rows, i)));
    return cohort_json_array_new(nodes);
}

/* What @machines of one trainee (@user_id > 0) or of all hold now. */
/* Machine-hours to 4 decimals (0.36 s): what a report needs, without float noise. */
static gdouble
cohort_service_usage_round(gdouble hours)
{
    return (gdouble)(gint64)(MAX(hours, 0.0) * 10000.0 + 0.5) / 10000.0;
}

static void
cohort_service_usage_set(JsonObject *obj, const CohortMachineHeld *h, GHashTable *hours,
                         gint64 user_id, gdouble total_hours)
{
    gdouble *user_hours = user_id > 0 ? g_hash_table_lookup(hours, &user_id) : NULL;

    json_object_set_double_member(
        obj, "machine_hours",
        cohort_service_usage_round(user_id > 0 ? (user_hours != NULL ? *user_hours : 0)
                                               : total_hours));
    json_object_set_int_member(obj, "machines", h != NULL ? h->machines : 0);
    json_object_set_int_member(obj, "vcpus", h != NULL ? h->vcpus : 0);
    json_object_set_int_member(obj, "memory_mib", h != NULL ? (gint64)h->memory_mib : 0);
}

/* One JSON object, written to @out and dropped at once. */
static void
cohort_service_usage_append_object(GString *out, JsonGenerator *gen, JsonObject *obj)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, obj);
    cohort_json_append(out, gen, node);
}

struct _CohortServiceUsage {
    CohortService *svc;
    GPtrArray *cohorts; /* CohortCohortRow */
    JsonGenerator *gen;
    guint next; /* the cohort the next piece writes; cohorts->len: the closing one */
    gboolean done;
};

CohortServiceUsage *
cohort_service_usage_begin(CohortService *svc, const CohortUserRow *actor, GError **error)
{
    g_autoptr(CohortServiceUsage) usage = g_new0(CohortServiceUsage, 1);

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_USAGE_READ, NULL, NULL, error))
        return NULL;
    usage->svc = svc;
    usage->cohorts = cohort_store_cohort_list(svc->store, 0, 0, error);
    if (usage->cohorts == NULL)
        return NULL;
    usage->gen = json_generator_new();
    return g_steal_pointer(&usage);
}

/* One cohort: its totals, then its trainees a trainee at a time (as one json-glib tree, 10
 * cohorts of 1,000 trainees held ~7 MiB at cohortd's peak; bench/README.md, "4. Memory"). */
static void
cohort_service_usage_append_cohort(CohortServiceUsage *usage, GString *out,
                                   const CohortCohortRow *cohort)
{
    CohortStore *store = usage->svc->store;
    /* summed by the store: the live cohort's 1,000 rows were ~0.5 MiB of usage's peak */
    g_autoptr(GHashTable) held = cohort_store_machine_get_held_by_user(store, cohort->id, NULL);
    g_autoptr(GPtrArray) trainees = cohort_store_enrollment_list(store, cohort->id, NULL);
    gdouble total_hours = 0;
    g_autoptr(GHashTable) hours =
        cohort_store_machine_get_running_hours_by_user(store, cohort->id, &total_hours, NULL);
    CohortMachineHeld total = {0};
    GHashTableIter iter;
    gpointer value;
    JsonObject *obj = json_object_new();

    if (hours == NULL)
        hours = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    if (held == NULL)
        held = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    g_hash_table_iter_init(&iter, held);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        const CohortMachineHeld *h = value;
        total.machines += h->machines;
        total.vcpus += h->vcpus;
        total.memory_mib += h->memory_mib;
    }
    json_object_set_string_member(obj, "cohort", cohort->slug);
    cohort_service_usage_set(obj, &total, hours, 0, total_hours);
    /* the cohort's members, then "trainees" as its last one: its closing brace waits */
    cohort_service_usage_append_object(out, usage->gen, obj);
    g_string_truncate(out, out->len - 1);
    g_string_append(out, ",\"trainees\":[");
    for (guint t = 0; trainees != NULL && t < trainees->len; t++) {
        CohortUserRow *user = g_ptr_array_index(trainees, t);
        JsonObject *tobj = json_object_new();
        json_object_set_string_member(tobj, "login", user->login);
        cohort_service_usage_set(tobj, g_hash_table_lookup(held, &user->id), hours, user->id, 0);
        if (t > 0)
            g_string_append_c(out, ',');
        cohort_service_usage_append_object(out, usage->gen, tobj);
    }
    g_string_append(out, "]}");
}

GBytes *
cohort_service_usage_next(CohortServiceUsage *usage)
{
    GString *out;

    if (usage->done)
        return NULL;
    out = g_string_new(usage->next == 0 ? "{\"cohorts\":[" : NULL);
    if (usage->next < usage->cohorts->len) {
        if (usage->next > 0)
            g_string_append_c(out, ',');
        cohort_service_usage_append_cohort(usage, out,
                                           g_ptr_array_index(usage->cohorts, usage->next));
        usage->next++;
    }
    /* the last cohort's piece closes the answer: no piece of two bytes after it */
    if (usage->next == usage->cohorts->len) {
        g_string_append(out, "]}");
        usage->done = TRUE;
    }
    return cohort_json_text_finish_bytes(out);
}

void
cohort_service_usage_free(CohortServiceUsage *usage)
{
    if (usage == NULL)
        return;
    g_clear_pointer(&usage->cohorts, g_ptr_array_unref);
    g_clear_object(&usage->gen);
    g_free(usage);
}
