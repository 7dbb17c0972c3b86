/* Machines and jobs: request within quota, list, operate, console; bulk jobs' progress. */
#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include "cohort-auth.h"
#include "cohort-crash.h"
#include "cohort-error.h"
#include "cohort-json.h"
#include "cohort-machine-work.h"
#include "cohort-names.h"
#include "cohort-seed.h"
#include "cohort-service-private.h"
#include "cohort-service.h"

CohortAuthRelation
cohort_service_cohort_relation(CohortService *svc, const CohortUserRow *actor,
                               const CohortCohortRow *cohort)
{
    CohortAuthRelation rel = {0};

    if (actor == NULL || cohort == NULL)
        return rel;
    rel.is_cohort_trainer = cohort->trainer_id == actor->id;
    rel.is_enrolled = cohort_store_enrollment_exists(svc->store, cohort->id, actor->id);
    return rel;
}

CohortCohortRow *
cohort_service_cohort_lookup(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                             CohortAction action, GError **error)
{
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autoptr(GError) error_local = NULL;
    g_autofree gchar *what = g_strdup_printf("cohort '%s'", slug);
    CohortAuthRelation rel;

    /* the role check first: a trainee may not learn which cohorts exist by managing them */
    if (!cohort_auth_check(cohort_service_role(actor), action, NULL, what, error))
        return NULL;
    cohort = cohort_store_cohort_get_by_slug(svc->store, slug, &error_local);
    if (cohort == NULL) {
        if (g_error_matches(error_local, COHORT_ERROR, COHORT_ERROR_NOT_FOUND))
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no %s", what);
        else
            g_propagate_error(error, g_steal_pointer(&error_local));
        return NULL;
    }
    rel = cohort_service_cohort_relation(svc, actor, cohort);
    if (!cohort_auth_check(cohort_service_role(actor), action, &rel, what, error))
        return NULL;
    return g_steal_pointer(&cohort);
}

CohortPlacement
cohort_service_cohort_placement(CohortService *svc, const CohortCohortRow *cohort)
{
    CohortPlacement placement = svc->settings.placement;

    if (cohort->placement != NULL)
        cohort_placement_from_string(cohort->placement, &placement);
    return placement;
}

static gchar *
cohort_service_vnc_password_new(void)
{
    /* VNC passwords are 8 characters at most; they guard a console on the lab network */
    g_autofree gchar *token = cohort_auth_token_new();
    return g_strndup(token + strlen("cohort_"), 8);
}

CohortMachineRow *
cohort_service_machine_new(CohortService *svc, const CohortCohortRow *cohort,
                           const CohortUserRow *trainee, gchar **vnc_password_out,
                           gchar **guest_password_out, GError **error)
{
    g_autoptr(CohortMachineRow) row = g_new0(CohortMachineRow, 1);
    CohortTemplate *tmpl = cohort_template_set_get(svc->templates, cohort->template_name, error);
    CohortHost *host;
    guint held_machines = 0;
    guint held_vcpus = 0;
    guint64 held_memory = 0;
    g_autofree gchar *vnc_password = cohort_service_vnc_password_new();
    g_autofree gchar *guest_password = NULL;
    guint idx;

    if (tmpl == NULL)
        return NULL;
    if (g_strcmp0(cohort_store_cohort_state(cohort), "ended") == 0 ||
        g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' has %s: it takes no new machines", cohort->slug,
                    cohort_store_cohort_state(cohort));
        return NULL;
    }
    if (!cohort_store_machine_get_holdings(svc->store, cohort->id, trainee->id, &held_machines,
                                           &held_vcpus, &held_memory, error))
        return NULL;
    if (held_machines + 1 > cohort->quota_machines ||
        held_vcpus + cohort_template_get_vcpus(tmpl) > cohort->quota_vcpus ||
        held_memory + cohort_template_get_memory_mib(tmpl) > cohort->quota_memory_mib) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_QUOTA_EXCEEDED,
                    "%s holds %u of %u machines (%u of %u vCPUs, %" G_GUINT64_FORMAT
                    " of %" G_GUINT64_FORMAT " MiB) in cohort '%s'; a %s machine needs %u "
                    "vCPUs and %" G_GUINT64_FORMAT " MiB: release one first",
                    trainee->login, held_machines, cohort->quota_machines, held_vcpus,
                    cohort->quota_vcpus, held_memory, cohort->quota_memory_mib, cohort->slug,
                    cohort->template_name, cohort_template_get_vcpus(tmpl),
                    cohort_template_get_memory_mib(tmpl));
        return NULL;
    }
    {
        CohortPlacementRequest request = {
            .tmpl = tmpl,
            .vcpus = cohort_template_get_vcpus(tmpl),
            .memory_mib = cohort_template_get_memory_mib(tmpl),
            .disk_mib = cohort_template_get_disk_mib(tmpl),
            .policy = cohort_service_cohort_placement(svc, cohort),
        };
        host = cohort_hosts_place(svc->hosts, svc->store, &request, error);
        if (host == NULL)
            return NULL;
    }
    /* the cohort's own network has its subnet before a row is written: a full address plan
     * leaves nothing behind */
    if (cohort_template_get_n_interfaces(tmpl) > 0 &&
        cohort_names_network_is_own(cohort->network)) {
        g_autofree gchar *subnet = cohort_work_network_subnet(svc->work, cohort, error);
        if (subnet == NULL)
            return NULL;
    }
    idx = cohort_store_machine_next_idx(svc->store, cohort->id, trainee->id, NULL);
    row->name = cohort_names_domain(cohort->slug, trainee->login, idx);
    row->cohort_id = cohort->id;
    row->user_id = trainee->id;
    row->host_id = host->id;
    row->template_name = g_strdup(cohort->template_name);
    row->idx = idx;
    /* intent first: the row exists, with its host and names, before libvirt is touched */
    row->state = g_strdup("provisioning");
    row->vcpus = cohort_template_get_vcpus(tmpl);
    row->memory_mib = cohort_template_get_memory_mib(tmpl);
    row->disk_mib = cohort_template_get_disk_mib(tmpl);
    row->uuid = g_uuid_string_random();
    /* a seeded machine's guest password is in its first row, not written again just after */
    if (cohort_template_get_seed_enabled(tmpl))
        guest_password = cohort_seed_password_new();
    if (!cohort_store_machine_insert_seeded(svc->store, row, vnc_password, guest_password, error))
        return NULL;
    {
        /* a lease: the machine expires on its own, unless extended */
        guint lease_hours = 0;
        guint max_extensions = 0;
        if (!cohort_store_cohort_get_lease(svc->store, cohort->id, &lease_hours, &max_extensions,
                                           error))
            return NULL;
        if (lease_hours > 0) {
            g_autoptr(GDateTime) now = g_date_time_new_now_utc();
            g_autoptr(GDateTime) until = g_date_time_add_hours(now, (gint)lease_hours);
            g_autofree gchar *expires = g_date_time_format(until, "%Y-%m-%dT%H:%M:%SZ");
            if (!cohort_store_machine_set_expiry(svc->store, row->id, expires, FALSE, error))
                return NULL;
            row->expires_at = g_steal_pointer(&expires);
        }
    }
    /* the joined names, for the answer: known here, not read back (tests/api compares the
     * answer with the machine as it is read later) */
    row->cohort_slug = g_strdup(cohort->slug);
    row->trainee_login = g_strdup(trainee->login);
    row->host_name = g_strdup(host->name);
    *vnc_password_out = g_steal_pointer(&vnc_password);
    *guest_password_out = g_steal_pointer(&guest_password);
    return g_steal_pointer(&row);
}

static CohortHost *
cohort_service_machine_host(CohortService *svc, const CohortMachineRow *row)
{
    return row->host_id > 0 ? cohort_hosts_lookup_by_id(svc->hosts, row->host_id) : NULL;
}

JsonNode *
cohort_service_machine_json(CohortService *svc, const CohortMachineRow *row)
{
    g_auto(GStrv) pending = cohort_machine_work_pending_new(svc->work, row->id);

    return cohort_json_machine(row, (const gchar *const *)pending,
                               cohort_service_machine_host(svc, row));
}

static void
cohort_service_machine_write(CohortService *svc, CohortJsonWriter *w, const CohortMachineRow *row)
{
    g_auto(GStrv) pending = cohort_machine_work_pending_new(svc->work, row->id);

    cohort_json_machine_write(w, row, (const gchar *const *)pending,
                              cohort_service_machine_host(svc, row));
}

static gchar *
cohort_service_machine_text(CohortService *svc, const CohortMachineRow *row)
{
    g_autoptr(CohortJsonWriter) w = cohort_json_writer_new();

    cohort_service_machine_write(svc, w, row);
    return cohort_json_writer_free_to_text(g_steal_pointer(&w));
}

/* A request written, until its work is pushed: what the push and the answer need. */
typedef struct {
    CohortService *svc;
    CohortMachineRow *row;
    CohortUserRow *trainee;
    gchar *actor_login;
    gchar *slug;
    gchar *vnc_password;
    gchar *guest_password;
    CohortServiceAnswerDone done;
    gpointer user_data;
} CohortMachineRequest;

static void
cohort_machine_request_free(CohortMachineRequest *req)
{
    cohort_machine_row_free(req->row);
    cohort_user_row_free(req->trainee);
    g_free(req->actor_login);
    g_free(req->slug);
    g_free(req->vnc_password);
    g_free(req->guest_password);
    g_free(req);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortMachineRequest, cohort_machine_request_free)

/* The request's checks and its row with its audit record: in a transaction of its own, or
 * (@grouped) as a member of the turn's group. */
static CohortMachineRequest *
cohort_service_machine_request_write(CohortService *svc, const CohortUserRow *actor,
                                     JsonObject *body, gboolean grouped, GError **error)
{
    static const gchar *const known[] = {"cohort", "trainee", NULL};
    g_autofree gchar *slug = NULL;
    g_autofree gchar *login = NULL;
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autoptr(CohortUserRow) enrolled = NULL;
    const CohortUserRow *trainee;
    g_autoptr(CohortMachineRow) row = NULL;
    g_autofree gchar *vnc_password = NULL;
    g_autofree gchar *guest_password = NULL;
    CohortMachineRequest *req;

    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "cohort", TRUE, 64, &slug, error) ||
        !cohort_json_get_string(body, "trainee", FALSE, 64, &login, error))
        return NULL;
    cohort = cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_MACHINE_REQUEST, error);
    if (cohort == NULL)
        return NULL;
    if (g_strcmp0(actor->role, "trainee") == 0) {
        if (login != NULL && g_strcmp0(login, actor->login) != 0) {
            g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                                "a trainee requests machines for themselves only");
            return NULL;
        }
        /* the caller's own row, as their token's lookup read it */
        trainee = actor;
    } else {
        if (login == NULL) {
            g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                                "\"trainee\" is required when a trainer or admin requests");
            return NULL;
        }
        enrolled = cohort_service_enrolled_trainee(svc, cohort, login, error);
        if (enrolled == NULL)
            return NULL;
        trainee = enrolled;
    }
    /* the row and its audit record in one commit (a commit was ~20 k instructions of a
     * request's ~230 k); the work goes once both are written: intent before libvirt */
    if (!(grouped ? cohort_store_group_join(svc->store, error)
                  : cohort_store_begin(svc->store, error)))
        return NULL;
    row = cohort_service_machine_new(svc, cohort, trainee, &vnc_password, &guest_password, error);
    if (row != NULL)
        cohort_service_audit(svc, actor->login, "machine.request", row->name, NULL);
    if (row == NULL || !cohort_store_commit(svc->store, error)) {
        if (row == NULL)
            cohort_store_rollback(svc->store);
        /* a refusal's record is a member of the group too: written alone, it would commit
         * the group first (a class retrying over its quota split every turn's group) */
        grouped = grouped && cohort_store_group_join(svc->store, NULL);
        cohort_service_audit(svc, actor->login, "machine.request", slug, *error);
        if (grouped && !cohort_store_commit(svc->store, NULL))
            g_warning("machine.request by %s: the refusal was not recorded", actor->login);
        return NULL;
    }
    req = g_new0(CohortMachineRequest, 1);
    req->svc = svc;
    req->row = g_steal_pointer(&row);
    req->trainee = enrolled != NULL ? g_steal_pointer(&enrolled) : cohort_user_row_copy(trainee);
    req->actor_login = g_strdup(actor->login);
    req->slug = g_steal_pointer(&slug);
    req->vnc_password = g_steal_pointer(&vnc_password);
    req->guest_password = g_steal_pointer(&guest_password);
    return req;
}

/* Once the row is committed: its work, then the answer. */
static gchar *
cohort_service_machine_request_push(CohortMachineRequest *req, GError **error)
{
    if (!cohort_machine_work_push_new(req->svc->work, req->row, 0, req->trainee, req->vnc_password,
                                      req->guest_password, error))
        return NULL;
    return cohort_service_machine_text(req->svc, req->row);
}

gchar *
cohort_service_machine_request(CohortService *svc, const CohortUserRow *actor, JsonObject *body,
                               GError **error)
{
    g_autoptr(CohortMachineRequest) req =
        cohort_service_machine_request_write(svc, actor, body, FALSE, error);

    return req != NULL ? cohort_service_machine_request_push(req, error) : NULL;
}

static void
cohort_service_machine_request_committed(const GError *error, gpointer user_data)
{
    CohortMachineRequest *req = user_data;
    g_autoptr(GError) error_local = NULL;
    gchar *text = NULL;

    if (error != NULL) {
        /* the group's commit failed: the row and its audit record went with it */
        cohort_service_audit(req->svc, req->actor_login, "machine.request", req->slug, error);
        req->done(NULL, error, req->user_data);
        return;
    }
    /* killed here (tests/api): committed, neither answered nor queued; reconcile makes it */
    cohort_crash_point("request-committed");
    text = cohort_service_machine_request_push(req, &error_local);
    req->done(text, error_local, req->user_data);
}

gboolean
cohort_service_machine_request_grouped(CohortService *svc, const CohortUserRow *actor,
                                       JsonObject *body, CohortServiceAnswerDone done,
                                       gpointer user_data, GError **error)
{
    CohortMachineRequest *req = cohort_service_machine_request_write(svc, actor, body, TRUE, error);

    if (req == NULL)
        return FALSE;
    req->done = done;
    req->user_data = user_data;
    cohort_store_group_wait(svc->store, cohort_service_machine_request_committed, req,
                            (GDestroyNotify)cohort_machine_request_free);
    return TRUE;
}

void
cohort_service_settle(CohortService *svc)
{
    cohort_store_group_settle(svc->store);
}

CohortMachineRow *
cohort_service_machine_lookup(CohortService *svc, const CohortUserRow *actor, gint64 id,
                              CohortAction action, GError **error)
{
    g_autoptr(CohortMachineRow) row = NULL;
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autofree gchar *what = g_strdup_printf("machine %" G_GINT64_FORMAT, id);
    g_autoptr(GError) error_local = NULL;
    CohortAuthRelation rel = {0};

    if (!cohort_auth_check(cohort_service_role(actor), action, NULL, what, error))
        return NULL;
    row = cohort_store_machine_get_by_id(svc->store, id, &error_local);
    if (row == NULL) {
        /* the same words as for someone else's machine: existence must not leak */
        if (g_error_matches(error_local, COHORT_ERROR, COHORT_ERROR_NOT_FOUND))
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no %s", what);
        else
            g_propagate_error(error, g_steal_pointer(&error_local));
        return NULL;
    }
    cohort = cohort_store_cohort_get_by_id(svc->store, row->cohort_id, error);
    if (cohort == NULL)
        return NULL;
    rel.is_owner = row->user_id == actor->id;
    rel.is_cohort_trainer = cohort->trainer_id == actor->id;
    if (!cohort_auth_check(cohort_service_role(actor), action, &rel, what, error))
        return NULL;
    return g_steal_pointer(&row);
}

gchar *
cohort_service_machine_list(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                            GError **error)
{
    g_autoptr(GPtrArray) rows = NULL;
    g_autoptr(CohortJsonWriter) w = NULL;
    gint64 cohort_id = 0;
    gint64 user_id = 0;
    gint64 trainer_id = 0;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_MACHINE_READ, NULL, NULL,
                           error))
        return NULL;
    if (slug != NULL) {
        g_autoptr(CohortCohortRow) cohort =
            cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_READ, error);
        if (cohort == NULL)
            return NULL;
        cohort_id = cohort->id;
    }
    if (g_strcmp0(actor->role, "trainee") == 0)
        user_id = actor->id;
    else if (g_strcmp0(actor->role, "trainer") == 0)
        trainer_id = actor->id;
    /* a trainee's own: the store's kept rows, read and not copied */
    rows = user_id > 0
               ? cohort_store_machine_list_shared(svc->store, cohort_id, user_id, error)
               : cohort_store_machine_list(svc->store, cohort_id, 0, trainer_id, FALSE, error);
    if (rows == NULL)
        return NULL;
    /* the hottest answer of a class at work: written as text, with no json-glib tree */
    w = cohort_json_writer_new();
    cohort_json_writer_begin_array(w);
    for (guint i = 0; i < rows->len; i++)
        cohort_service_machine_write(svc, w, g_ptr_array_index(rows, i));
    cohort_json_writer_end_array(w);
    return cohort_json_writer_free_to_text(g_steal_pointer(&w));
}

JsonNode *
cohort_service_machine_get(CohortService *svc, const CohortUserRow *actor, gint64 id,
                           GError **error)
{
    g_autoptr(CohortMachineRow) row =
        cohort_service_machine_lookup(svc, actor, id, COHORT_ACTION_MACHINE_READ, error);
    return row != NULL ? cohort_service_machine_json(svc, row) : NULL;
}

/* A trainee who asks again and again fills no queue: past this many operations waiting, the
 * next is refused until they are done. */
#define COHORT_MACHINE_PENDING_MAX 4

typedef struct {
    const gchar *name;
    CohortMachineOp op;
    const gchar *from[8]; /* states the operation is taken in */
} CohortMachineOpInfo;

/* Work under way (starting, stopping, rebooting) takes more operations: they wait their turn,
 * in "pending". Provisioning, resetting and reclaiming take none: the machine is being made
 * or goes. */
static const CohortMachineOpInfo cohort_machine_ops[] = {
    {"start",
     COHORT_MACHINE_OP_START,
     {"stopped", "running", "starting", "stopping", "rebooting", NULL}},
    {"stop",
     COHORT_MACHINE_OP_STOP,
     {"running", "stopped", "starting", "stopping", "rebooting", NULL}},
    {"reboot",
     COHORT_MACHINE_OP_REBOOT,
     {"running", "stopped", "starting", "stopping", "rebooting", NULL}},
    {"reset",
     COHORT_MACHINE_OP_RESET,
     {"running", "stopped", "failed", "starting", "stopping", "rebooting", NULL}},
    {"release",
     COHORT_MACHINE_OP_TEARDOWN,
     {"running", "stopped", "failed", "starting", "stopping", "rebooting", NULL}},
};

JsonNode *
cohort_service_machine_operate(CohortService *svc, const CohortUserRow *actor, gint64 id,
                               const gchar *op, GError **error)
{
    g_autoptr(CohortMachineRow) row = NULL;
    g_autoptr(CohortMachineRow) stored = NULL;
    g_autofree gchar *action = g_strdup_printf("machine.%s", op);
    const CohortMachineOpInfo *info = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(cohort_machine_ops); i++) {
        if (g_strcmp0(cohort_machine_ops[i].name, op) == 0)
            info = &cohort_machine_ops[i];
    }
    if (info == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no machine operation '%s'", op);
        return NULL;
    }
    row = cohort_service_machine_lookup(svc, actor, id, COHORT_ACTION_MACHINE_OPERATE, error);
    if (row == NULL)
        return NULL;
    if (!g_strv_contains(info->from, row->state)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "machine %s is %s: it cannot %s now", row->name, row->state, op);
        return NULL;
    }
    if (info->op != COHORT_MACHINE_OP_TEARDOWN) {
        g_auto(GStrv) pending = cohort_machine_work_pending_new(svc->work, row->id);
        if (g_strv_length(pending) >= COHORT_MACHINE_PENDING_MAX) {
            g_autofree gchar *list = g_strjoinv(", ", pending);
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "machine %s is %s and %u operations wait their turn (%s): try again "
                        "when they are done",
                        row->name, row->state, g_strv_length(pending), list);
            return NULL;
        }
    }
    if (!cohort_machine_work_push(svc->work, row, info->op, 0, error))
        return NULL;
    /* a release says so at once, even behind other work: "reclaiming" survives a crash, and
     * reconcile tears the machine down (intent first) */
    if (info->op == COHORT_MACHINE_OP_TEARDOWN &&
        !cohort_store_machine_set_state(svc->store, row->id, "reclaiming", NULL, error))
        return NULL;
    cohort_service_audit(svc, actor->login, action, row->name, NULL);
    /* the state of the work under way (this one's, or the one it waits behind) */
    stored = cohort_store_machine_get_by_id(svc->store, row->id, error);
    return stored != NULL ? cohort_service_machine_json(svc, stored) : NULL;
}

/* Where a machine moved away from @source goes: @name when given (it must have room), else
 * where its cohort's placement puts it, away from @source. */
CohortHost *
cohort_service_move_target(CohortService *svc, const CohortMachineRow *row, const gchar *name,
                           GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_store_cohort_get_by_id(svc->store, row->cohort_id, error);
    CohortTemplate *tmpl;
    CohortPlacementRequest request = {0};

    if (cohort == NULL)
        return NULL;
    tmpl = cohort_template_set_get(svc->templates, row->template_name, error);
    if (tmpl == NULL)
        return NULL;
    request.tmpl = tmpl;
    request.vcpus = row->vcpus;
    request.memory_mib = row->memory_mib;
    request.disk_mib = row->disk_mib;
    request.policy = cohort_service_cohort_placement(svc, cohort);
    request.exclude_host_id = row->host_id;
    if (name != NULL) {
        CohortHost *named = cohort_hosts_lookup_by_name(svc->hosts, name);
        if (named == NULL) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no host '%s'", name);
            return NULL;
        }
        if (named->id == row->host_id) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "machine %s is on host %s already: name another host", row->name, name);
            return NULL;
        }
        request.only_host_id = named->id;
    }
    return cohort_hosts_place(svc->hosts, svc->store, &request, error);
}

JsonNode *
cohort_service_machine_move(CohortService *svc, const CohortUserRow *actor, gint64 id,
                            JsonObject *body, GError **error)
{
    static const gchar *const known[] = {"host", "fresh", NULL};
    g_autoptr(CohortMachineRow) row = NULL;
    g_autoptr(CohortMachineRow) stored = NULL;
    g_autofree gchar *to = NULL;
    g_autofree gchar *warning = NULL;
    gboolean fresh = FALSE;
    gboolean source_up;
    CohortHost *source;
    CohortHost *target;
    JsonNode *node;

    row = cohort_service_machine_lookup(svc, actor, id, COHORT_ACTION_MACHINE_OPERATE, error);
    if (row == NULL)
        return NULL;
    if (cohort_service_role(actor) == COHORT_ROLE_TRAINEE) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                            "moving a machine to another host is for its trainer or an admin");
        return NULL;
    }
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "host", FALSE, 64, &to, error) ||
        !cohort_json_get_bool(body, "fresh", &fresh, error))
        return NULL;
    if (g_strcmp0(row->state, "reclaiming") == 0 || g_strcmp0(row->state, "reclaimed") == 0 ||
        g_strcmp0(row->state, "moving") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT, "machine %s is %s: it cannot move",
                    row->name, row->state);
        return NULL;
    }
    source = cohort_hosts_lookup_by_id(svc->hosts, row->host_id);
    source_up = source != NULL && cohort_host_is_usable(source);
    /* its work under way is on a host that answers: the move waits its turn, and a copy is
     * only of a machine at rest */
    if (source_up && !fresh && g_strcmp0(row->state, "stopped") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "machine %s is %s on host %s, which is up: stop it first (its disk is "
                    "copied while it is off), or move it with \"fresh\": true (made anew from "
                    "its template on the other host: what its disk holds is lost)",
                    row->name, row->state, row->host_name);
        return NULL;
    }
    if (cohort_work_inflight_contains(svc->work, row->id) && source_up) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "machine %s has work under way: move it when that is done", row->name);
        return NULL;
    }
    target = cohort_service_move_target(svc, row, to, error);
    if (target == NULL) {
        cohort_service_audit(svc, actor->login, "machine.move", row->name, *error);
        return NULL;
    }
    if (!source_up)
        warning = g_strdup_printf(
            "host %s is %s: machine %s is made anew from template %s on host %s, and what its "
            "disk held stays on %s (cohortd removes it from there when %s is back; it cannot be "
            "had through Cohort)",
            row->host_name != NULL ? row->host_name : "(none)",
            source != NULL ? source->state : "gone", row->name, row->template_name, target->name,
            row->host_name != NULL ? row->host_name : "that host",
            row->host_name != NULL ? row->host_name : "it");
    else if (fresh)
        warning = g_strdup_printf("machine %s is made anew from template %s on host %s: what its "
                                  "disk held is lost (its copy on %s is removed now)",
                                  row->name, row->template_name, target->name, row->host_name);
    if (!cohort_machine_work_move(svc->work, row, target, fresh || !source_up, 0, error))
        return NULL;
    cohort_service_audit(svc, actor->login, "machine.move", row->name, NULL);
    g_message("machine %s moves from host %s to host %s (%s)", row->name,
              row->host_name != NULL ? row->host_name : "(none)", target->name,
              warning != NULL ? "made anew" : "its disk is copied");
    stored = cohort_store_machine_get_by_id(svc->store, row->id, error);
    if (stored == NULL)
        return NULL;
    node = cohort_service_machine_json(svc, stored);
    json_object_set_string_member(json_node_get_object(node), "to", target->name);
    json_object_set_boolean_member(json_node_get_object(node), "fresh", warning != NULL);
    if (warning != NULL)
        json_object_set_string_member(json_node_get_object(node), "warning", warning);
    else
        json_object_set_null_member(json_node_get_object(node), "warning");
    return node;
}

gchar *
cohort_service_console_host(CohortService *svc, CohortHost *host)
{
    g_autoptr(GUri) uri = g_uri_parse(host->uri, G_URI_FLAGS_NONE, NULL);
    const gchar *name = uri != NULL ? g_uri_get_host(uri) : NULL;

    if (name != NULL && name[0] != '\0')
        return g_strdup(name);
    return g_strdup(g_strcmp0(svc->settings.vnc_listen, "0.0.0.0") == 0 ? "127.0.0.1"
                                                                        : svc->settings.vnc_listen);
}

JsonNode *
cohort_service_machine_extend(CohortService *svc, const CohortUserRow *actor, gint64 id,
                              GError **error)
{
    g_autoptr(CohortMachineRow) row =
        cohort_service_machine_lookup(svc, actor, id, COHORT_ACTION_MACHINE_OPERATE, error);
    g_autoptr(CohortMachineRow) stored = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GDateTime) from = NULL;
    g_autoptr(GDateTime) until = NULL;
    g_autofree gchar *expires = NULL;
    guint hours = 0;
    guint max_extensions = 0;
    guint used;

    if (row == NULL)
        return NULL;
    if (!cohort_store_cohort_get_lease(svc->store, row->cohort_id, &hours, &max_extensions, error))
        return NULL;
    if (hours == 0 || row->expires_at == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "machine %s has no lease to extend: it lives as long as its cohort", row->name);
        return NULL;
    }
    used = cohort_store_machine_get_extensions(svc->store, row->id, error);
    if (used >= max_extensions) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_QUOTA_EXCEEDED,
                    "machine %s was extended %u of %u times its trainer allows; ask the "
                    "trainer, or save your work before it expires at %s",
                    row->name, used, max_extensions, row->expires_at);
        return NULL;
    }
    /* from the current expiry, or from now when it has already passed */
    from = g_date_time_new_from_iso8601(row->expires_at, NULL);
    if (from == NULL || g_date_time_compare(from, now) < 0) {
        g_clear_pointer(&from, g_date_time_unref);
        from = g_date_time_ref(now);
    }
    until = g_date_time_add_hours(from, (gint)hours);
    expires = g_date_time_format(until, "%Y-%m-%dT%H:%M:%SZ");
    if (!cohort_store_machine_set_expiry(svc->store, row->id, expires, TRUE, error))
        return NULL;
    cohort_service_audit(svc, actor->login, "machine.extend", row->name, NULL);
    stored = cohort_store_machine_get_by_id(svc->store, row->id, error);
    return stored != NULL ? cohort_service_machine_json(svc, stored) : NULL;
}

JsonNode *
cohort_service_machine_console(CohortService *svc, const CohortUserRow *actor, gint64 id,
                               GError **error)
{
    g_autoptr(CohortMachineRow) row =
        cohort_service_machine_lookup(svc, actor, id, COHORT_ACTION_MACHINE_OPERATE, error);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree gchar *address = NULL;
    g_autofree gchar *uri = NULL;
    g_autofree gchar *password = NULL;
    g_autofree gchar *ticket = NULL;
    g_autofree gchar *guest_user = NULL;
    g_autofree gchar *guest_password = NULL;
    CohortTemplate *tmpl;
    CohortHost *host;
    gint port;

    if (row == NULL)
        return NULL;
    if (g_strcmp0(row->state, "running") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "machine %s is %s: start it to reach its console", row->name, row->state);
        return NULL;
    }
    host = cohort_hosts_lookup_by_id(svc->hosts, row->host_id);
    if (host == NULL || host->prov == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                    "host of machine %s is not reachable now", row->name);
        return NULL;
    }
    port = cohort_provisioner_domain_get_vnc_port(host->prov, row->name, row->id, error);
    if (port < 0 && error != NULL && *error != NULL)
        return NULL;
    password = cohort_store_machine_get_vnc_password(svc->store, row->id, error);
    if (password == NULL)
        return NULL;
    /* the guest account the seed made, and its password (none: the template has no seed) */
    tmpl = cohort_template_set_get(svc->templates, row->template_name, NULL);
    if (tmpl != NULL && cohort_template_get_seed_enabled(tmpl)) {
        guest_user = cohort_template_get_seed_user(tmpl) != NULL
                         ? g_strdup(cohort_template_get_seed_user(tmpl))
                         : cohort_seed_account_for_login(row->trainee_login);
        if (!cohort_store_machine_get_guest(svc->store, row->id, &guest_password, NULL, error))
            return NULL;
    }
    address = cohort_service_console_host(svc, host);
    uri = port > 0 ? g_strdup_printf("vnc://%s:%d", address, port) : NULL;
    /* the browser's way in: a websocket that this one-time ticket opens */
    ticket = cohort_service_console_ticket_new(svc, actor->id, row->id);
    cohort_service_audit(svc, actor->login, "machine.console", row->name, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, address);
    json_builder_set_member_name(b, "port");
    json_builder_add_int_value(b, port);
    json_builder_set_member_name(b, "password");
    json_builder_add_string_value(b, password);
    json_builder_set_member_name(b, "uri");
    if (uri != NULL)
        json_builder_add_string_value(b, uri);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "websocket");
    if (ticket != NULL) {
        g_autofree gchar *path = g_strconcat("/api/v1/console/", ticket, NULL);
        json_builder_add_string_value(b, path);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "guest_user");
    if (guest_user != NULL)
        json_builder_add_string_value(b, guest_user);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "guest_password");
    if (guest_password != NULL)
        json_builder_add_string_value(b, guest_password);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* What a job's items send (bases, disks): bytes, the rate so far and what is left at that
 * rate; per item while cohortd runs, the totals the store kept after a restart. */
static JsonNode *
cohort_service_job_progress(CohortService *svc, const CohortJobRow *job)
{
    GPtrArray *transfers = cohort_work_transfer_list(svc->work, job->id);
    g_autoptr(JsonBuilder) b = json_builder_new();
    gboolean finished = g_strcmp0(job->state, "done") == 0 || g_strcmp0(job->state, "failed") == 0;
    gint64 now = g_get_monotonic_time();
    gint64 first = 0;
    gint64 last = 0;
    guint64 done = 0;
    guint64 total = 0;
    gdouble rate = 0;

    for (guint i = 0; transfers != NULL && i < transfers->len; i++) {
        CohortTransfer *t = g_ptr_array_index(transfers, i);
        gint64 started = g_atomic_pointer_get(&t->started_usec);
        gint64 ended = g_atomic_pointer_get(&t->finished_usec);
        done += (guint64)g_atomic_pointer_get(&t->bytes_done);
        total += (guint64)g_atomic_pointer_get(&t->bytes_total);
        if (started > 0 && (first == 0 || started < first))
            first = started;
        last = MAX(last, ended > 0 ? ended : now);
    }
    if (transfers == NULL) {
        done = job->bytes_done;
        total = job->bytes_total;
    }
    if (first > 0 && last > first)
        rate = (gdouble)done * G_USEC_PER_SEC / (gdouble)(last - first);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "bytes_done");
    json_builder_add_int_value(b, (gint64)done);
    json_builder_set_member_name(b, "bytes_total");
    json_builder_add_int_value(b, (gint64)total);
    json_builder_set_member_name(b, "rate_bytes_per_s");
    if (rate > 0)
        json_builder_add_int_value(b, (gint64)rate);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "eta_s");
    if (!finished && rate > 0 && total >= done)
        json_builder_add_int_value(b, (gint64)((total - done) / rate + 0.999));
    else if (finished)
        json_builder_add_int_value(b, 0);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "items");
    json_builder_begin_array(b);
    for (guint i = 0; transfers != NULL && i < transfers->len; i++) {
        CohortTransfer *t = g_ptr_array_index(transfers, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, t->host);
        json_builder_set_member_name(b, "machine");
        if (t->machine != NULL)
            json_builder_add_string_value(b, t->machine);
        else
            json_builder_add_null_value(b);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b,
                                      cohort_transfer_state_to_string(g_atomic_int_get(&t->state)));
        json_builder_set_member_name(b, "bytes_done");
        json_builder_add_int_value(b, g_atomic_pointer_get(&t->bytes_done));
        json_builder_set_member_name(b, "bytes_total");
        json_builder_add_int_value(b, g_atomic_pointer_get(&t->bytes_total));
        /* how long it has been sending (or sent) */
        json_builder_set_member_name(b, "milliseconds");
        {
            gint64 started = g_atomic_pointer_get(&t->started_usec);
            gint64 ended = g_atomic_pointer_get(&t->finished_usec);
            if (started > 0)
                json_builder_add_int_value(b, ((ended > 0 ? ended : now) - started) / 1000);
            else
                json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_service_job_get(CohortService *svc, const CohortUserRow *actor, gint64 id, GError **error)
{
    g_autoptr(CohortJobRow) job = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    g_autofree gchar *what = g_strdup_printf("job %" G_GINT64_FORMAT, id);
    CohortAuthRelation rel = {0};
    JsonNode *node;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_JOB_READ, NULL, what, error))
        return NULL;
    job = cohort_store_job_get(svc->store, id, NULL);
    if (job == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no %s", what);
        return NULL;
    }
    rel.is_owner = job->user_id == actor->id;
    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_JOB_READ, &rel, what, error))
        return NULL;
    errors = cohort_store_job_error_list(svc->store, id, error);
    if (errors == NULL)
        return NULL;
    node = cohort_json_job(job, errors);
    if (job->bytes_total > 0 || cohort_work_transfer_list(svc->work, id) != NULL)
        json_object_set_member(json_node_get_object(node), "progress",
                               cohort_service_job_progress(svc, job));
    if (g_strcmp0(job->kind, "reclaim") == 0) {
        /* what the course gave back */
        JsonObject *freed = json_object_new();
        guint machines = 0;
        guint vcpus = 0;
        guint64 memory = 0;
        guint64 disk = 0;
        guint networks = 0;
        cohort_store_job_get_freed(svc->store, id, &machines, &vcpus, &memory, &disk, &networks,
                                   NULL);
        json_object_set_int_member(freed, "machines", machines);
        json_object_set_int_member(freed, "vcpus", vcpus);
        json_object_set_int_member(freed, "memory_mib", (gint64)memory);
        json_object_set_int_member(freed, "disk_bytes", (gint64)disk);
        json_object_set_int_member(freed, "networks", networks);
        json_object_set_object_member(json_node_get_object(node), "freed", freed);
    }
    return node;
}

gchar *
cohort_service_metrics(CohortService *svc)
{
    GString *out = g_string_new(NULL);
    g_autoptr(GHashTable) states = cohort_store_machine_count_by_state(svc->store, NULL);
    static const gchar *const all_states[] = {
        "requested", "provisioning", "running",   "stopped",    "starting",
        "stopping",  "rebooting",    "resetting", "reclaiming", "failed",
    };
    gssize calls = g_atomic_pointer_get(&svc->work->counters.libvirt_calls);

    g_string_append(out, "# HELP cohort_machines Machines by state (not reclaimed).\n"
                         "# TYPE cohort_machines gauge\n");
    for (guint i = 0; i < G_N_ELEMENTS(all_states); i++) {
        gpointer n = states != NULL ? g_hash_table_lookup(states, all_states[i]) : NULL;
        g_string_append_printf(out, "cohort_machines{state=\"%s\"} %u\n", all_states[i],
                               GPOINTER_TO_UINT(n));
    }
    g_string_append_printf(out,
                           "# HELP cohort_work_pending libvirt work items queued or running.\n"
                           "# TYPE cohort_work_pending gauge\n"
                           "cohort_work_pending %u\n",
                           cohort_jobs_get_pending(svc->work->jobs));
    g_string_append_printf(
        out,
        "# HELP cohort_libvirt_work_seconds Time spent in libvirt work items.\n"
        "# TYPE cohort_libvirt_work_seconds summary\n"
        "cohort_libvirt_work_seconds_count %" G_GSSIZE_FORMAT "\n"
        "cohort_libvirt_work_seconds_sum %.6f\n"
        "# HELP cohort_libvirt_work_failures_total libvirt work items that failed.\n"
        "# TYPE cohort_libvirt_work_failures_total counter\n"
        "cohort_libvirt_work_failures_total %" G_GSSIZE_FORMAT "\n",
        calls, g_atomic_pointer_get(&svc->work->counters.libvirt_usec) / 1e6,
        (gssize)g_atomic_pointer_get(&svc->work->counters.libvirt_failures));
    {
        /* from the store: the same after a restart, each machine counted once */
        static const gdouble bounds[] = {1, 2, 5, 10, 20, 30, 60, 120, 300, 600};
        guint64 counts[G_N_ELEMENTS(bounds) + 1];
        gdouble sum = 0;
        if (cohort_store_machine_ready_histogram(svc->store, bounds, G_N_ELEMENTS(bounds), counts,
                                                 &sum, NULL)) {
            g_string_append(out, "# HELP cohort_machine_ready_seconds From a machine's request "
                                 "to its first readiness (whole seconds).\n"
                                 "# TYPE cohort_machine_ready_seconds histogram\n");
            for (guint i = 0; i < G_N_ELEMENTS(bounds); i++)
                g_string_append_printf(
                    out, "cohort_machine_ready_seconds_bucket{le=\"%g\"} %" G_GUINT64_FORMAT "\n",
                    bounds[i], counts[i]);
            g_string_append_printf(
                out,
                "cohort_machine_ready_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n"
                "cohort_machine_ready_seconds_sum %.3f\n"
                "cohort_machine_ready_seconds_count %" G_GUINT64_FORMAT "\n",
                counts[G_N_ELEMENTS(bounds)], sum, counts[G_N_ELEMENTS(bounds)]);
        }
    }
    return g_string_free(out, FALSE);
}
