/* Cohorts: create, read, change, rosters and invitations, provision and reclaim in bulk. */
#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include "cohort-auth.h"
#include "cohort-calendar.h"
#include "cohort-crash.h"
#include "cohort-error.h"
#include "cohort-json.h"
#include "cohort-machine-work.h"
#include "cohort-names.h"
#include "cohort-reclaim.h"
#include "cohort-roster.h"
#include "cohort-service-private.h"
#include "cohort-service.h"
#include "cohort-slug.h"
#include "cohort-store-calendar.h"
#include "cohort-text.h"

#define COHORT_TITLE_MAX 200
#define COHORT_GRACE_HOURS_DEFAULT 24

/* Titles take any UTF-8 but nothing that hides or reorders the text around it. */
static gboolean
cohort_service_title_validate(const gchar *title, GError **error)
{
    return cohort_text_validate(title, "\"title\"", COHORT_TITLE_MAX, error);
}

static JsonNode *
cohort_service_cohort_json(CohortService *svc, const CohortCohortRow *cohort)
{
    JsonNode *node = cohort_json_cohort(cohort);
    JsonObject *obj = json_node_get_object(node);
    JsonObject *lease = json_object_new();
    guint hours = 0;
    guint max_extensions = 0;

    json_object_set_string_member(obj, "state", cohort_store_cohort_state(cohort));
    cohort_store_cohort_get_lease(svc->store, cohort->id, &hours, &max_extensions, NULL);
    json_object_set_int_member(lease, "hours", hours);
    json_object_set_int_member(lease, "max_extensions", max_extensions);
    json_object_set_object_member(obj, "lease", lease);
    json_object_set_string_member(obj, "network",
                                  cohort->network != NULL ? cohort->network : "isolated");
    /* its own network's subnet from the address plan, once its first machine was made */
    {
        g_autofree gchar *subnet = cohort_store_subnet_get(svc->store, cohort->id, NULL);
        if (subnet != NULL)
            json_object_set_string_member(obj, "subnet", subnet);
        else
            json_object_set_null_member(obj, "subnet");
    }
    /* where its machines go: its own policy, or the installation's */
    json_object_set_string_member(
        obj, "placement", cohort_placement_to_string(cohort_service_cohort_placement(svc, cohort)));
    json_object_set_boolean_member(obj, "placement_default", cohort->placement == NULL);
    cohort_service_cohort_calendar_members(svc, cohort, obj);
    return node;
}

/* "isolated" (the cohort's own network on each host, made and removed by Cohort, with a
 * subnet and DHCP but no way out), "nat" (the same, reaching out through the host), or the
 * name of a libvirt network the hosts already have and share, which Cohort never changes. */
static gboolean
cohort_service_network_validate(const gchar *network, GError **error)
{
    if (cohort_names_network_is_own(network))
        return TRUE;
    if (!g_regex_match_simple("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", network, 0, 0)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"network\": '%s' is neither \"isolated\", \"nat\" nor a libvirt network "
                    "name "
                    "(letters, digits, '.', '_', '-')",
                    network);
        return FALSE;
    }
    if (g_str_has_prefix(network, "cohort-")) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"network\": names starting with 'cohort-' are Cohort's own; say "
                    "\"isolated\" or \"nat\" for the cohort's own network, or name a shared "
                    "one");
        return FALSE;
    }
    return TRUE;
}

/* "placement": "spread" or "pack", or "default" (null) for the installation's. */
static gboolean
cohort_service_cohort_read_placement(JsonObject *body, CohortCohortRow *row, GError **error)
{
    JsonNode *node = json_object_get_member(body, "placement");
    CohortPlacement placement;
    const gchar *text;

    if (node == NULL)
        return TRUE;
    if (JSON_NODE_HOLDS_NULL(node)) {
        g_clear_pointer(&row->placement, g_free);
        return TRUE;
    }
    text = JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
               ? json_node_get_string(node)
               : NULL;
    if (g_strcmp0(text, "default") == 0) {
        g_clear_pointer(&row->placement, g_free);
        return TRUE;
    }
    if (text == NULL || !cohort_placement_from_string(text, &placement)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "\"placement\" must be \"spread\" (the least used host first), "
                            "\"pack\" (fill a host before the next) or \"default\" (the "
                            "installation's)");
        return FALSE;
    }
    g_free(row->placement);
    row->placement = g_strdup(cohort_placement_to_string(placement));
    return TRUE;
}

/* "time_zone" (null: the installation's) and "outside_hours_per_week", then the plan: a
 * cohort whose plan does not fit is refused unless "force" says otherwise. Inside the
 * caller's transaction, after the row is written. */
static gboolean
cohort_service_cohort_read_calendar(CohortService *svc, JsonObject *body, CohortCohortRow *row,
                                    JsonNode **missing, GError **error)
{
    g_autofree gchar *tz = NULL;
    guint outside = 0;
    guint64 outside_new;
    gboolean force = FALSE;
    JsonNode *tz_node = json_object_get_member(body, "time_zone");

    if (!cohort_store_cohort_get_calendar(svc->store, row->id, &tz, &outside, error) ||
        !cohort_json_get_bool(body, "force", &force, error))
        return FALSE;
    outside_new = outside;
    /* the trainees' quota of hours outside sessions: in "quota", or beside it */
    if (json_object_has_member(body, "quota") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(body, "quota")) &&
        !cohort_json_get_uint(json_object_get_object_member(body, "quota"),
                              "outside_hours_per_week", FALSE, 0, 168, &outside_new, error)) {
        g_prefix_error(error, "quota: ");
        return FALSE;
    }
    if (!cohort_json_get_uint(body, "outside_hours_per_week", FALSE, 0, 168, &outside_new, error))
        return FALSE;
    if (tz_node != NULL && JSON_NODE_HOLDS_NULL(tz_node))
        g_clear_pointer(&tz, g_free);
    else if (!cohort_json_get_string(body, "time_zone", FALSE, 64, &tz, error))
        return FALSE;
    if (tz != NULL) {
        g_autoptr(CohortTimetable) tt = cohort_timetable_new(tz, error);
        if (tt == NULL)
            return FALSE;
    }
    if (!cohort_store_cohort_set_calendar(svc->store, row->id, tz, (guint)outside_new, error))
        return FALSE;
    /* the timetable must still fit the dates (and the new zone) */
    {
        g_autoptr(GArray) sessions = NULL;
        if (!cohort_calendar_load(svc->store, row,
                                  cohort_calendar_get_settings(svc->lifecycle->calendar)->time_zone,
                                  NULL, &sessions, error)) {
            g_prefix_error(error, "the cohort's schedule: ");
            return FALSE;
        }
    }
    return force || cohort_service_cohort_plan_check(svc, row, missing, error);
}

/* "lease": {"hours", "max_extensions"}: machines expire that long after they are made and
 * may be extended as often; hours 0 means no lease. */
static gboolean
cohort_service_cohort_read_lease(CohortService *svc, JsonObject *body, gint64 cohort_id,
                                 GError **error)
{
    static const gchar *const known[] = {"hours", "max_extensions", NULL};
    JsonNode *node = json_object_get_member(body, "lease");
    guint cur_hours = 0;
    guint cur_max = 0;
    guint64 hours;
    guint64 max_extensions;

    if (node == NULL)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "\"lease\" must be an object with hours and max_extensions");
        return FALSE;
    }
    if (!cohort_store_cohort_get_lease(svc->store, cohort_id, &cur_hours, &cur_max, error))
        return FALSE;
    hours = cur_hours;
    max_extensions = cur_max;
    if (!cohort_json_check_members(json_node_get_object(node), known, error) ||
        !cohort_json_get_uint(json_node_get_object(node), "hours", FALSE, 0, 24 * 365, &hours,
                              error) ||
        !cohort_json_get_uint(json_node_get_object(node), "max_extensions", FALSE, 0, 1000,
                              &max_extensions, error)) {
        g_prefix_error(error, "lease: ");
        return FALSE;
    }
    if (!cohort_store_cohort_set_lease(svc->store, cohort_id, (guint)hours, (guint)max_extensions,
                                       error))
        return FALSE;
    /* A lease removed frees the machines that have one; a lease given where there was none
     * starts now for the machines already made. A changed length applies to new machines
     * and to extensions. */
    if (hours == 0 && cur_hours != 0)
        return cohort_store_cohort_apply_lease(svc->store, cohort_id, NULL, error);
    if (hours != 0 && cur_hours == 0) {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autoptr(GDateTime) later = g_date_time_add_hours(now, (gint)hours);
        g_autofree gchar *expires_at = g_date_time_format(later, "%Y-%m-%dT%H:%M:%SZ");
        return cohort_store_cohort_apply_lease(svc->store, cohort_id, expires_at, error);
    }
    return TRUE;
}

static gboolean
cohort_service_cohort_read_quota(JsonObject *body, CohortCohortRow *row, GError **error)
{
    /* outside_hours_per_week is the calendar's (cohort_service_cohort_read_calendar) */
    static const gchar *const known[] = {"machines", "vcpus", "memory_mib",
                                         "outside_hours_per_week", NULL};
    JsonNode *node = json_object_get_member(body, "quota");
    JsonObject *quota;
    guint64 machines = row->quota_machines;
    guint64 vcpus = row->quota_vcpus;
    guint64 memory = row->quota_memory_mib;

    if (node == NULL)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "\"quota\" must be an object with machines, vcpus and memory_mib");
        return FALSE;
    }
    quota = json_node_get_object(node);
    if (!cohort_json_check_members(quota, known, error) ||
        !cohort_json_get_uint(quota, "machines", FALSE, 1, 100, &machines, error) ||
        !cohort_json_get_uint(quota, "vcpus", FALSE, 1, 1024, &vcpus, error) ||
        !cohort_json_get_uint(quota, "memory_mib", FALSE, 16, 16 * 1024 * 1024, &memory, error)) {
        g_prefix_error(error, "quota: ");
        return FALSE;
    }
    row->quota_machines = (guint)machines;
    row->quota_vcpus = (guint)vcpus;
    row->quota_memory_mib = memory;
    return TRUE;
}

static gboolean
cohort_service_cohort_read_times(JsonObject *body, CohortCohortRow *row, GError **error)
{
    g_autofree gchar *starts = NULL;
    g_autofree gchar *ends = NULL;

    if (!cohort_json_get_string(body, "starts_at", FALSE, 64, &starts, error) ||
        !cohort_json_get_string(body, "ends_at", FALSE, 64, &ends, error))
        return FALSE;
    if (starts != NULL) {
        g_free(row->starts_at);
        row->starts_at = cohort_json_normalize_time(starts, "starts_at", error);
        if (row->starts_at == NULL)
            return FALSE;
    }
    if (ends != NULL) {
        g_free(row->ends_at);
        row->ends_at = cohort_json_normalize_time(ends, "ends_at", error);
        if (row->ends_at == NULL)
            return FALSE;
    }
    if (row->starts_at != NULL && row->ends_at != NULL &&
        g_strcmp0(row->ends_at, row->starts_at) <= 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"ends_at\" (%s) must be after \"starts_at\" (%s)", row->ends_at,
                    row->starts_at);
        return FALSE;
    }
    return TRUE;
}

JsonNode *
cohort_service_cohort_create(CohortService *svc, const CohortUserRow *actor, JsonObject *body,
                             JsonNode **missing, GError **error)
{
    static const gchar *const known[] = {"slug",
                                         "title",
                                         "template",
                                         "starts_at",
                                         "ends_at",
                                         "quota",
                                         "lease",
                                         "grace_hours",
                                         "trainer",
                                         "network",
                                         "placement",
                                         "time_zone",
                                         "outside_hours_per_week",
                                         "force",
                                         NULL};
    g_autoptr(CohortCohortRow) row = g_new0(CohortCohortRow, 1);
    g_autoptr(CohortCohortRow) stored = NULL;
    g_autofree gchar *trainer = NULL;
    guint64 grace = COHORT_GRACE_HOURS_DEFAULT;
    CohortTemplate *tmpl;

    if (!cohort_auth_check(cohort_service_role(actor), COHORT_ACTION_COHORT_CREATE, NULL, NULL,
                           error))
        return NULL;
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "slug", TRUE, 64, &row->slug, error) ||
        !cohort_json_get_string(body, "title", FALSE, COHORT_TITLE_MAX, &row->title, error) ||
        !cohort_json_get_string(body, "template", TRUE, 64, &row->template_name, error) ||
        !cohort_json_get_string(body, "trainer", FALSE, 64, &trainer, error) ||
        !cohort_json_get_string(body, "network", FALSE, 64, &row->network, error) ||
        !cohort_json_get_uint(body, "grace_hours", FALSE, 0, 24 * 365, &grace, error) ||
        !cohort_service_cohort_read_placement(body, row, error))
        return NULL;
    if (!cohort_slug_validate(row->slug, "cohort slug", error))
        return NULL;
    /* "Isolated" is what was meant, not a shared network of that name */
    if (row->network == NULL || g_ascii_strcasecmp(row->network, "isolated") == 0) {
        g_free(row->network);
        row->network = g_strdup("isolated");
    } else if (g_ascii_strcasecmp(row->network, "nat") == 0) {
        g_free(row->network);
        row->network = g_strdup("nat");
    }
    if (!cohort_service_network_validate(row->network, error))
        return NULL;
    tmpl = cohort_template_set_get(svc->templates, row->template_name, NULL);
    if (tmpl == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"template\": no template '%s' (see 'cohortctl template list')",
                    row->template_name);
        return NULL;
    }
    if (!cohort_service_cohort_read_times(body, row, error))
        return NULL;
    if (row->starts_at == NULL || row->ends_at == NULL) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "\"starts_at\" and \"ends_at\" are required");
        return NULL;
    }
    /* A course that is over could take no machine, and the reaper would reclaim it (and its
     * slug) at once: refuse it rather than surprise the trainer. */
    {
        g_autofree gchar *now = cohort_store_now();
        if (g_strcmp0(row->ends_at, now) <= 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "\"ends_at\" (%s) has passed: a cohort that has ended takes no machines; "
                        "give an end date in the future",
                        row->ends_at);
            return NULL;
        }
    }
    /* defaults large enough for one machine of the template */
    row->quota_machines = svc->settings.default_quota_machines;
    row->quota_vcpus = MAX(svc->settings.default_quota_vcpus, cohort_template_get_vcpus(tmpl));
    row->quota_memory_mib =
        MAX(svc->settings.default_quota_memory_mib, cohort_template_get_memory_mib(tmpl));
    if (!cohort_service_cohort_read_quota(body, row, error))
        return NULL;
    row->grace_hours = (guint)grace;
    if (row->title == NULL)
        row->title = g_strdup(row->slug);
    if (!cohort_service_title_validate(row->title, error))
        return NULL;
    row->trainer_id = actor->id;
    if (trainer != NULL && g_strcmp0(trainer, actor->login) != 0) {
        g_autoptr(CohortUserRow) user = NULL;
        if (g_strcmp0(actor->role, "admin") != 0) {
            g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                                "only an admin creates a cohort for another trainer");
            return NULL;
        }
        user = cohort_store_user_get_by_login(svc->store, trainer, error);
        if (user == NULL)
            return NULL;
        if (g_strcmp0(user->role, "trainee") == 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "'%s' is a trainee and cannot run a cohort", trainer);
            return NULL;
        }
        row->trainer_id = user->id;
    }
    row->state = g_strdup("planned");
    /* the cohort and its lease, both or neither */
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    if (!cohort_store_cohort_insert(svc->store, row, error) ||
        !cohort_service_cohort_read_lease(svc, body, row->id, error) ||
        !cohort_service_cohort_read_calendar(svc, body, row, missing, error) ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        cohort_service_audit(svc, actor->login, "cohort.create", row->slug, *error);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "cohort.create", row->slug, NULL);
    stored = cohort_store_cohort_get_by_id(svc->store, row->id, error);
    return stored != NULL ? cohort_service_cohort_json(svc, stored) : NULL;
}

JsonNode *
cohort_service_cohort_list(CohortService *svc, const CohortUserRow *actor, GError **error)
{
    g_autoptr(GPtrArray) rows = NULL;
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    CohortRole role = cohort_service_role(actor);

    if (!cohort_auth_check(role, COHORT_ACTION_COHORT_READ, NULL, NULL, error))
        return NULL;
    rows = cohort_store_cohort_list(svc->store, role == COHORT_ROLE_TRAINER ? actor->id : 0,
                                    role == COHORT_ROLE_TRAINEE ? actor->id : 0, error);
    if (rows == NULL)
        return NULL;
    for (guint i = 0; i < rows->len; i++)
        g_ptr_array_add(nodes, cohort_service_cohort_json(svc, g_ptr_array_index(rows, i)));
    return cohort_json_array_new(nodes);
}

/* A trainee of the cohort and their machines (@own, NULL: none), as one object. */
static JsonNode *
cohort_service_cohort_trainee_json(CohortService *svc, const CohortUserRow *user, GPtrArray *own)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *obj = json_object_new();
    JsonArray *machines = json_array_new();

    json_object_set_string_member(obj, "login", user->login);
    json_object_set_string_member(obj, "display_name", user->display_name);
    for (guint j = 0; own != NULL && j < own->len; j++)
        json_array_add_element(machines,
                               cohort_service_machine_json(svc, g_ptr_array_index(own, j)));
    json_object_set_array_member(obj, "machines", machines);
    json_node_take_object(node, obj);
    return node;
}

/* Trainees in one piece of the answer: ~70 KB of text with a machine each. */
#define COHORT_SERVICE_COHORT_PIECE_TRAINEES 100

struct _CohortServiceCohortRead {
    CohortService *svc;
    CohortCohortRow *cohort;
    GPtrArray *trainees; /* CohortUserRow: those the reader sees */
    GPtrArray *machines; /* CohortMachineRow, owned */
    GHashTable *by_user; /* user id -> GPtrArray of their machines, borrowed, in order */
    JsonGenerator *gen;
    guint next; /* the trainee the next piece begins with */
    gboolean done;
};

CohortServiceCohortRead *
cohort_service_cohort_read_begin(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                                 GError **error)
{
    g_autoptr(CohortServiceCohortRead) read = g_new0(CohortServiceCohortRead, 1);
    g_autoptr(GPtrArray) enrolled = NULL;
    gboolean trainee_view;

    read->svc = svc;
    read->cohort = cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_READ, error);
    if (read->cohort == NULL)
        return NULL;
    enrolled = cohort_store_enrollment_list(svc->store, read->cohort->id, error);
    if (enrolled == NULL)
        return NULL;
    /* a trainee sees the course and their own machines, not the others' */
    trainee_view = g_strcmp0(actor->role, "trainee") == 0;
    read->machines = cohort_store_machine_list(svc->store, read->cohort->id,
                                               trainee_view ? actor->id : 0, 0, FALSE, error);
    if (read->machines == NULL)
        return NULL;
    read->trainees = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_user_row_free);
    for (guint i = 0; i < enrolled->len; i++) {
        CohortUserRow *user = g_ptr_array_index(enrolled, i);
        if (!trainee_view || user->id == actor->id)
            g_ptr_array_add(read->trainees, g_steal_pointer(&enrolled->pdata[i]));
    }
    /* each trainee's machines at once, not a pass over the cohort's per trainee */
    read->by_user =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)g_ptr_array_unref);
    for (guint i = 0; i < read->machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(read->machines, i);
        GPtrArray *own = g_hash_table_lookup(read->by_user, &m->user_id);
        if (own == NULL) {
            own = g_ptr_array_new();
            g_hash_table_insert(read->by_user, &m->user_id, own);
        }
        g_ptr_array_add(own, m);
    }
    read->gen = json_generator_new();
    return g_steal_pointer(&read);
}

/* Written a few trainees at a time: as one json-glib tree, a cohort of 1,000 trainees held
 * ~4 MiB at cohortd's peak, and as one text ~0.7 MiB (bench/README.md, "4. Memory"). */
GBytes *
cohort_service_cohort_read_next(CohortServiceCohortRead *read)
{
    GString *out;
    guint end;

    if (read->done)
        return NULL;
    out = g_string_new(NULL);
    if (read->next == 0) {
        g_autoptr(JsonNode) node = cohort_service_cohort_json(read->svc, read->cohort);
        cohort_json_append(out, read->gen, node);
        /* "trainees" as the object's last member: its closing brace waits */
        g_string_truncate(out, out->len - 1);
        g_string_append(out, ",\"trainees\":[");
    }
    end = MIN(read->next + COHORT_SERVICE_COHORT_PIECE_TRAINEES, read->trainees->len);
    for (; read->next < end; read->next++) {
        CohortUserRow *user = g_ptr_array_index(read->trainees, read->next);
        g_autoptr(JsonNode) trainee = cohort_service_cohort_trainee_json(
            read->svc, user, g_hash_table_lookup(read->by_user, &user->id));
        if (read->next > 0)
            g_string_append_c(out, ',');
        cohort_json_append(out, read->gen, trainee);
    }
    if (read->next == read->trainees->len) {
        g_string_append(out, "]}");
        read->done = TRUE;
    }
    return cohort_json_text_finish_bytes(out);
}

void
cohort_service_cohort_read_free(CohortServiceCohortRead *read)
{
    if (read == NULL)
        return;
    g_clear_pointer(&read->by_user, g_hash_table_unref);
    g_clear_pointer(&read->machines, g_ptr_array_unref);
    g_clear_pointer(&read->trainees, g_ptr_array_unref);
    g_clear_pointer(&read->cohort, cohort_cohort_row_free);
    g_clear_object(&read->gen);
    g_free(read);
}

JsonNode *
cohort_service_cohort_update(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                             JsonObject *body, JsonNode **missing, GError **error)
{
    static const gchar *const known[] = {
        "title", "ends_at",   "grace_hours", "quota",
        "lease", "placement", "time_zone",   "outside_hours_per_week",
        "force", NULL};
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(CohortCohortRow) stored = NULL;
    guint64 grace;

    if (cohort == NULL)
        return NULL;
    grace = cohort->grace_hours;
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "title", FALSE, COHORT_TITLE_MAX, &cohort->title, error) ||
        !cohort_json_get_uint(body, "grace_hours", FALSE, 0, 24 * 365, &grace, error) ||
        !cohort_service_cohort_read_times(body, cohort, error) ||
        !cohort_service_cohort_read_quota(body, cohort, error) ||
        !cohort_service_cohort_read_placement(body, cohort, error))
        return NULL;
    if (g_strcmp0(cohort->state, "reclaimed") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' is reclaimed and cannot change", slug);
        return NULL;
    }
    if (!cohort_service_title_validate(cohort->title, error))
        return NULL;
    cohort->grace_hours = (guint)grace;
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    if (!cohort_store_cohort_update(svc->store, cohort, error) ||
        !cohort_service_cohort_read_lease(svc, body, cohort->id, error) ||
        !cohort_service_cohort_read_calendar(svc, body, cohort, missing, error) ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "cohort.update", slug, NULL);
    stored = cohort_store_cohort_get_by_id(svc->store, cohort->id, error);
    return stored != NULL ? cohort_service_cohort_json(svc, stored) : NULL;
}

static JsonNode *
cohort_service_line_errors_json(GPtrArray *line_errors)
{
    JsonArray *array = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; line_errors != NULL && i < line_errors->len; i++) {
        CohortRosterLineError *le = g_ptr_array_index(line_errors, i);
        JsonObject *obj = json_object_new();
        json_object_set_int_member(obj, "line", le->line);
        json_object_set_string_member(obj, "message", le->message);
        json_array_add_object_element(array, obj);
    }
    json_node_take_array(node, array);
    return node;
}

/* When an invitation made now stops working. */
static gchar *
cohort_service_invitation_expiry(CohortService *svc)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GDateTime) later =
        g_date_time_add_hours(now, (gint)svc->settings.invitation_ttl_hours);

    return g_date_time_format(later, "%Y-%m-%dT%H:%M:%SZ");
}

/* {"login","display_name","code","expires_at"}: what the trainer hands out, from a roster or
 * a reissue alike. */
static JsonObject *
cohort_service_invitation_json(const CohortUserRow *user, const gchar *code,
                               const gchar *expires_at)
{
    JsonObject *obj = json_object_new();

    json_object_set_string_member(obj, "login", user->login);
    json_object_set_string_member(obj, "display_name", user->display_name);
    json_object_set_string_member(obj, "code", code);
    json_object_set_string_member(obj, "expires_at", expires_at);
    return obj;
}

/* A roster upload: parsed, and a code made for every entry, in a worker thread (a roster
 * of 10,000 lines held the main loop for 1.6 s); then imported in the main context in one
 * transaction, with a few statements over the whole roster (cohort_store_roster_*). */
typedef struct {
    CohortService *service;
    gint64 cohort_id;
    gchar *slug;
    gchar *actor_login;
    GBytes *csv;
    CohortServiceRosterDone done;
    gpointer user_data;
    /* made by the thread */
    CohortRoster *roster;
    GPtrArray *bad_lines; /* of CohortRosterLineError, when it does not parse */
    GPtrArray *codes;     /* one per entry: what a new account's trainee redeems */
    GPtrArray *hashes;    /* their hashes, what the store keeps */
    GPtrArray *stage;     /* of CohortStoreRosterEntry, borrowing from roster and hashes */
    GError *error;
} CohortServiceRosterUpload;

static void
cohort_service_roster_upload_free(CohortServiceRosterUpload *up)
{
    g_free(up->slug);
    g_free(up->actor_login);
    g_bytes_unref(up->csv);
    if (up->stage != NULL)
        g_ptr_array_unref(up->stage);
    if (up->codes != NULL)
        g_ptr_array_unref(up->codes);
    if (up->hashes != NULL)
        g_ptr_array_unref(up->hashes);
    if (up->bad_lines != NULL)
        g_ptr_array_unref(up->bad_lines);
    if (up->roster != NULL)
        cohort_roster_free(up->roster);
    g_clear_error(&up->error);
    g_free(up);
}

/* Worker thread: no daemon state, only the upload's own. */
static void
cohort_service_roster_prepare(GTask *task, gpointer source, gpointer task_data,
                              GCancellable *cancellable)
{
    CohortServiceRosterUpload *up = task_data;
    gsize len = 0;
    const gchar *csv = g_bytes_get_data(up->csv, &len);
    guint n;

    up->roster = cohort_roster_parse_full(csv, len, &up->bad_lines, &up->error);
    if (up->roster == NULL) {
        g_task_return_boolean(task, FALSE);
        return;
    }
    n = cohort_roster_get_n_entries(up->roster);
    up->codes = g_ptr_array_new_full(n, g_free);
    up->hashes = g_ptr_array_new_full(n, g_free);
    up->stage = g_ptr_array_new_full(n, g_free);
    for (guint i = 0; i < n; i++) {
        const CohortRosterEntry *entry = cohort_roster_get_entry(up->roster, i);
        gchar *code = cohort_auth_invitation_code_new();
        gchar *hash = cohort_auth_invitation_code_hash(code);
        CohortStoreRosterEntry *staged = g_new0(CohortStoreRosterEntry, 1);

        staged->login = entry->login;
        staged->display_name = entry->display_name;
        staged->code_hash = hash;
        g_ptr_array_add(up->codes, code);
        g_ptr_array_add(up->hashes, hash);
        g_ptr_array_add(up->stage, staged);
    }
    g_task_return_boolean(task, TRUE);
}

static void
cohort_service_roster_fail(CohortServiceRosterUpload *up, const GError *error,
                           JsonNode *line_errors)
{
    cohort_service_audit(up->service, up->actor_login, "cohort.roster", up->slug, error);
    up->done(NULL, line_errors, error, up->user_data);
    if (line_errors != NULL)
        json_node_unref(line_errors);
}

/* A 422: the bad lines in the message (the first ones) and in the error's "lines". */
static void
cohort_service_roster_refuse_lines(CohortServiceRosterUpload *up, GPtrArray *bad_lines)
{
    g_autoptr(GError) error = NULL;
    GString *msg = g_string_new("the roster has bad lines, nothing was imported:");

    for (guint i = 0; i < bad_lines->len && i < COHORT_ROSTER_MAX_REPORTED; i++) {
        CohortRosterLineError *le = g_ptr_array_index(bad_lines, i);
        g_string_append_printf(msg, "\nline %u: %s", le->line, le->message);
    }
    if (bad_lines->len > COHORT_ROSTER_MAX_REPORTED)
        g_string_append_printf(msg, "\n… and %u more", bad_lines->len - COHORT_ROSTER_MAX_REPORTED);
    error = g_error_new_literal(COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, msg->str);
    g_string_free(msg, TRUE);
    cohort_service_roster_fail(up, error, cohort_service_line_errors_json(bad_lines));
}

/* The answer: a code for each new account; an account that existed (from another course,
 * perhaps another trainer's) gets none, since a code signs in as them everywhere. */
static JsonNode *
cohort_service_roster_answer(CohortServiceRosterUpload *up, GHashTable *roles,
                             const gchar *expires_at, guint enrolled)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *answer = json_object_new();
    JsonArray *invitations = json_array_new();
    JsonArray *existing = json_array_new();

    json_node_take_object(node, answer);
    json_object_set_array_member(answer, "invitations", invitations);
    json_object_set_array_member(answer, "existing", existing);
    for (guint i = 0; i < cohort_roster_get_n_entries(up->roster); i++) {
        const CohortRosterEntry *entry = cohort_roster_get_entry(up->roster, i);
        if (g_hash_table_contains(roles, entry->login)) {
            json_array_add_string_element(existing, entry->login);
        } else {
            JsonObject *inv = json_object_new();
            json_object_set_string_member(inv, "login", entry->login);
            json_object_set_string_member(inv, "display_name", entry->display_name);
            json_object_set_string_member(inv, "code", g_ptr_array_index(up->codes, i));
            json_object_set_string_member(inv, "expires_at", expires_at);
            json_array_add_object_element(invitations, inv);
        }
    }
    json_object_set_int_member(answer, "enrolled", enrolled);
    json_object_set_int_member(answer, "entries", cohort_roster_get_n_entries(up->roster));
    return node;
}

/* Main context: the import itself, all or nothing. */
static void
cohort_service_roster_import(CohortServiceRosterUpload *up)
{
    CohortService *svc = up->service;
    g_autoptr(CohortCohortRow) cohort = NULL;
    g_autoptr(GHashTable) roles = NULL;
    g_autoptr(GPtrArray) bad_lines =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_roster_line_error_free);
    g_autofree gchar *expires_at = cohort_service_invitation_expiry(svc);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    guint enrolled = 0;

    /* the course may have been reclaimed while the roster was read */
    cohort = cohort_store_cohort_get_by_id(svc->store, up->cohort_id, &error);
    if (cohort != NULL && g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0)
        g_set_error(&error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' is reclaimed: it takes no roster", up->slug);
    if (error != NULL || !cohort_store_begin(svc->store, &error)) {
        cohort_service_roster_fail(up, error, NULL);
        return;
    }
    if (!cohort_store_roster_stage(svc->store, up->stage, &error) ||
        (roles = cohort_store_roster_staged_roles(svc->store, &error)) == NULL) {
        cohort_store_rollback(svc->store);
        cohort_service_roster_fail(up, error, NULL);
        return;
    }
    /* logins that belong to trainers or admins are bad lines, all reported at once */
    for (guint i = 0; i < cohort_roster_get_n_entries(up->roster); i++) {
        const CohortRosterEntry *entry = cohort_roster_get_entry(up->roster, i);
        const gchar *role = g_hash_table_lookup(roles, entry->login);
        if (role != NULL && g_strcmp0(role, "trainee") != 0) {
            CohortRosterLineError *le = g_new0(CohortRosterLineError, 1);
            le->line = entry->line;
            le->message =
                g_strdup_printf("'%s' is %s %s, not a trainee: enrol another login", entry->login,
                                g_strcmp0(role, "admin") == 0 ? "an" : "a", role);
            g_ptr_array_add(bad_lines, le);
        }
    }
    if (bad_lines->len > 0) {
        cohort_store_rollback(svc->store);
        cohort_service_roster_refuse_lines(up, bad_lines);
        return;
    }
    if (!cohort_store_roster_import(svc->store, up->cohort_id, expires_at, &enrolled, &error) ||
        !cohort_store_commit(svc->store, &error)) {
        cohort_store_rollback(svc->store);
        cohort_service_roster_fail(up, error, NULL);
        return;
    }
    node = cohort_service_roster_answer(up, roles, expires_at, enrolled);
    cohort_service_audit(svc, up->actor_login, "cohort.roster", up->slug, NULL);
    up->done(node, NULL, NULL, up->user_data);
}

static void
cohort_service_roster_prepared(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CohortServiceRosterUpload *up = g_task_get_task_data(G_TASK(result));

    if (up->roster == NULL) {
        cohort_service_roster_fail(
            up, up->error,
            up->bad_lines != NULL ? cohort_service_line_errors_json(up->bad_lines) : NULL);
        return;
    }
    cohort_service_roster_import(up);
}

void
cohort_service_cohort_roster_async(CohortService *svc, const CohortUserRow *actor,
                                   const gchar *slug, GBytes *csv, CohortServiceRosterDone done,
                                   gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, &error);
    g_autoptr(GTask) task = NULL;
    CohortServiceRosterUpload *up;

    if (cohort == NULL) {
        done(NULL, NULL, error, user_data);
        return;
    }
    if (g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0) {
        g_set_error(&error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' is reclaimed: it takes no roster", slug);
        done(NULL, NULL, error, user_data);
        return;
    }
    /* an ended course gives no one a machine: accounts and codes would only mislead */
    if (g_strcmp0(cohort_store_cohort_state(cohort), "ended") == 0) {
        g_set_error(&error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' has ended (%s): it takes no new trainees; move its end date "
                    "first (cohortctl cohort update %s --ends DATE)",
                    slug, cohort->ends_at, slug);
        cohort_service_audit(svc, actor->login, "cohort.roster", slug, error);
        done(NULL, NULL, error, user_data);
        return;
    }
    up = g_new0(CohortServiceRosterUpload, 1);
    up->service = svc;
    up->cohort_id = cohort->id;
    up->slug = g_strdup(slug);
    up->actor_login = g_strdup(actor->login);
    up->csv = g_bytes_ref(csv);
    up->done = done;
    up->user_data = user_data;
    task = g_task_new(NULL, NULL, cohort_service_roster_prepared, NULL);
    g_task_set_task_data(task, up, (GDestroyNotify)cohort_service_roster_upload_free);
    g_task_run_in_thread(task, cohort_service_roster_prepare);
}

CohortUserRow *
cohort_service_enrolled_trainee(CohortService *svc, const CohortCohortRow *cohort,
                                const gchar *login, GError **error)
{
    g_autoptr(CohortUserRow) user = cohort_store_user_get_by_login(svc->store, login, NULL);

    if (user == NULL || g_strcmp0(user->role, "trainee") != 0 ||
        !cohort_store_enrollment_exists(svc->store, cohort->id, user->id)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "no trainee '%s' is enrolled in cohort '%s' (load them with a roster)", login,
                    cohort->slug);
        return NULL;
    }
    return g_steal_pointer(&user);
}

/* Whether @actor may act on the account of @trainee as a whole (a new invitation code signs
 * in as them in every cohort): an admin, or a trainer who runs every cohort the trainee is
 * enrolled in that is not reclaimed. FORBIDDEN otherwise, saying who can. */
static gboolean
cohort_service_trainee_is_theirs(CohortService *svc, const CohortUserRow *actor,
                                 const CohortUserRow *trainee, GError **error)
{
    g_autoptr(GPtrArray) cohorts = NULL;

    if (cohort_service_role(actor) == COHORT_ROLE_ADMIN)
        return TRUE;
    cohorts = cohort_store_cohort_list(svc->store, 0, trainee->id, error);
    if (cohorts == NULL)
        return FALSE;
    for (guint i = 0; i < cohorts->len; i++) {
        CohortCohortRow *cohort = g_ptr_array_index(cohorts, i);
        if (cohort->trainer_id != actor->id &&
            g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") != 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                        "trainee '%s' is also enrolled in a course of another trainer: a new "
                        "invitation code would sign in as them there too, so only an admin can "
                        "give them one (cohortctl cohort invite, as an admin)",
                        trainee->login);
            return FALSE;
        }
    }
    return TRUE;
}

JsonNode *
cohort_service_cohort_invite(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                             const gchar *login, GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(CohortUserRow) user = NULL;
    g_autofree gchar *code = NULL;
    g_autofree gchar *hash = NULL;
    g_autofree gchar *expires_at = NULL;
    g_autofree gchar *target = NULL;
    JsonObject *answer;
    JsonNode *node;
    guint withdrawn = 0;

    if (cohort == NULL)
        return NULL;
    target = g_strdup_printf("%s/%s", slug, login);
    if (g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' is reclaimed: it takes no one any more", slug);
        cohort_service_audit(svc, actor->login, "cohort.invite", target, *error);
        return NULL;
    }
    /* only a trainee of this cohort: a trainer never mints codes for other accounts */
    user = cohort_service_enrolled_trainee(svc, cohort, login, error);
    if (user == NULL) {
        cohort_service_audit(svc, actor->login, "cohort.invite", target, *error);
        return NULL;
    }
    /* a code signs in as the trainee everywhere: a trainer mints one only for a trainee all of
     * whose courses are theirs */
    if (!cohort_service_trainee_is_theirs(svc, actor, user, error)) {
        cohort_service_audit(svc, actor->login, "cohort.invite", target, *error);
        return NULL;
    }
    code = cohort_auth_invitation_code_new();
    hash = cohort_auth_invitation_code_hash(code);
    expires_at = cohort_service_invitation_expiry(svc);
    /* the new code replaces any that was never redeemed, both or neither */
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    if (!cohort_store_invitation_withdraw_unused(svc->store, user->id, 0, &withdrawn, error) ||
        !cohort_store_invitation_insert(svc->store, user->id, cohort->id, hash, expires_at,
                                        error) ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "cohort.invite", target, NULL);
    answer = cohort_service_invitation_json(user, code, expires_at);
    json_object_set_int_member(answer, "withdrawn", withdrawn);
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, answer);
    return node;
}

/* {"login","display_name"} of a trainee, and one more member. */
static JsonObject *
cohort_service_trainee_entry(const CohortUserRow *user, const gchar *member, const gchar *value)
{
    JsonObject *obj = json_object_new();

    json_object_set_string_member(obj, "login", user->login);
    json_object_set_string_member(obj, "display_name", user->display_name);
    json_object_set_string_member(obj, member, value);
    return obj;
}

/* One trainee's turn in cohort_service_cohort_invitations(): a new code into @issued, or a
 * line in @pending (a code not yet redeemed, kept without @reissue) or @needs_admin. */
static gboolean
cohort_service_invitations_one(CohortService *svc, const CohortUserRow *actor,
                               const CohortCohortRow *cohort, const CohortUserRow *user,
                               gboolean reissue, const gchar *now, const gchar *expires_at,
                               JsonArray *issued, JsonArray *pending, JsonArray *needs_admin,
                               GError **error)
{
    g_autoptr(GError) not_theirs = NULL;
    g_autofree gchar *until = NULL;
    g_autofree gchar *code = NULL;
    g_autofree gchar *hash = NULL;
    JsonObject *entry;
    guint withdrawn = 0;

    if (!cohort_service_trainee_is_theirs(svc, actor, user, &not_theirs)) {
        if (!g_error_matches(not_theirs, COHORT_ERROR, COHORT_ERROR_FORBIDDEN)) {
            g_propagate_error(error, g_steal_pointer(&not_theirs));
            return FALSE;
        }
        json_array_add_object_element(
            needs_admin, cohort_service_trainee_entry(user, "message", not_theirs->message));
        return TRUE;
    }
    if (!reissue) {
        if (!cohort_store_invitation_pending(svc->store, user->id, now, &until, error))
            return FALSE;
        if (until != NULL) {
            json_array_add_object_element(pending,
                                          cohort_service_trainee_entry(user, "expires_at", until));
            return TRUE;
        }
    }
    code = cohort_auth_invitation_code_new();
    hash = cohort_auth_invitation_code_hash(code);
    if (!cohort_store_invitation_withdraw_unused(svc->store, user->id, 0, &withdrawn, error) ||
        !cohort_store_invitation_insert(svc->store, user->id, cohort->id, hash, expires_at, error))
        return FALSE;
    entry = cohort_service_invitation_json(user, code, expires_at);
    json_object_set_int_member(entry, "withdrawn", withdrawn);
    json_array_add_object_element(issued, entry);
    return TRUE;
}

JsonNode *
cohort_service_cohort_invitations(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                                  JsonObject *body, GError **error)
{
    static const gchar *const known[] = {"reissue", NULL};
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(GPtrArray) trainees = NULL;
    g_autofree gchar *now = cohort_store_now();
    g_autofree gchar *expires_at = NULL;
    JsonArray *issued;
    JsonArray *pending;
    JsonArray *needs_admin;
    JsonObject *answer;
    JsonNode *node;
    gboolean reissue = FALSE;

    if (cohort == NULL)
        return NULL;
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_bool(body, "reissue", &reissue, error))
        return NULL;
    if (g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' is reclaimed: it takes no one any more", slug);
        cohort_service_audit(svc, actor->login, "cohort.invitations", slug, *error);
        return NULL;
    }
    trainees = cohort_store_enrollment_list(svc->store, cohort->id, error);
    if (trainees == NULL)
        return NULL;
    expires_at = cohort_service_invitation_expiry(svc);
    issued = json_array_new();
    pending = json_array_new();
    needs_admin = json_array_new();
    answer = json_object_new();
    json_object_set_string_member(answer, "cohort", slug);
    json_object_set_array_member(answer, "invitations", issued);
    json_object_set_array_member(answer, "pending", pending);
    json_object_set_array_member(answer, "needs_admin", needs_admin);
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, answer);
    /* every code or none */
    if (!cohort_store_begin(svc->store, error)) {
        json_node_unref(node);
        return NULL;
    }
    for (guint i = 0; i < trainees->len; i++) {
        CohortUserRow *user = g_ptr_array_index(trainees, i);
        if (g_strcmp0(user->role, "trainee") != 0)
            continue;
        if (!cohort_service_invitations_one(svc, actor, cohort, user, reissue, now, expires_at,
                                            issued, pending, needs_admin, error)) {
            cohort_store_rollback(svc->store);
            json_node_unref(node);
            return NULL;
        }
    }
    if (!cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        json_node_unref(node);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "cohort.invitations", slug, NULL);
    return node;
}

JsonNode *
cohort_service_redeem(CohortService *svc, JsonObject *body, GError **error)
{
    static const gchar *const known[] = {"code", NULL};
    g_autofree gchar *code = NULL;
    g_autofree gchar *hash = NULL;
    g_autofree gchar *now = cohort_store_now();
    g_autofree gchar *token = NULL;
    g_autofree gchar *token_hash = NULL;
    g_autoptr(CohortUserRow) user = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    gint64 user_id;

    if (!cohort_json_check_members(body, known, error) ||
        !cohort_json_get_string(body, "code", TRUE, 64, &code, error))
        return NULL;
    hash = cohort_auth_invitation_code_hash(code);
    user_id = cohort_store_invitation_redeem(svc->store, hash, now, error);
    if (user_id <= 0) {
        g_clear_error(error);
        /* counted by the API per address and audited once a minute in aggregate */
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                            "this invitation code is unknown, used or expired: ask your "
                            "trainer for a new one");
        return NULL;
    }
    user = cohort_store_user_get_by_id(svc->store, user_id, error);
    if (user == NULL)
        return NULL;
    token = cohort_auth_token_new();
    token_hash = cohort_auth_secret_hash(token);
    if (!cohort_store_token_insert(svc->store, user_id, token_hash, error))
        return NULL;
    cohort_service_audit(svc, user->login, "redeem", user->login, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "login");
    json_builder_add_string_value(b, user->login);
    json_builder_set_member_name(b, "token");
    json_builder_add_string_value(b, token);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *
cohort_service_job_answer(gint64 job_id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "job");
    json_builder_add_int_value(b, job_id);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Counts failures found before a machine's row was written (no host had room) into the job,
 * in the transaction that writes the job: these trainees are the job's too. */
static gboolean
cohort_service_job_fail_early(CohortService *svc, gint64 job_id, GPtrArray *names,
                              GPtrArray *errors, GError **error)
{
    g_autoptr(CohortJobRow) job = NULL;

    if (errors->len == 0)
        return TRUE;
    job = cohort_store_job_get(svc->store, job_id, error);
    if (job == NULL)
        return FALSE;
    for (guint i = 0; i < errors->len; i++) {
        GError *e = g_ptr_array_index(errors, i);
        if (!cohort_store_job_error_insert(svc->store, job_id, g_ptr_array_index(names, i),
                                           cohort_error_code_to_string(e->code), e->message, error))
            return FALSE;
    }
    job->failed += errors->len;
    if (job->done + job->failed >= job->total) {
        g_free(job->state);
        job->state = g_strdup(job->done == 0 ? "failed" : "done");
        job->finished_at = cohort_store_now();
    }
    return cohort_store_job_update(svc->store, job, error);
}

JsonNode *
cohort_service_cohort_provision(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                                GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(GPtrArray) trainees = NULL;
    g_autoptr(GPtrArray) todo = g_ptr_array_new();
    g_autoptr(GPtrArray) rows =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_machine_row_free);
    /* beside each row: its trainee (borrowed) and the secrets it was written with */
    g_autoptr(GPtrArray) row_trainees = g_ptr_array_new();
    g_autoptr(GPtrArray) row_vnc = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) row_guest = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) failed_names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func((GDestroyNotify)g_error_free);
    gint64 job_id;

    if (cohort == NULL)
        return NULL;
    if (g_strcmp0(cohort_store_cohort_state(cohort), "ended") == 0 ||
        g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0) {
        if (g_strcmp0(cohort_store_cohort_state(cohort), "ended") == 0)
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "cohort '%s' has ended: it takes no new machines (move its end date "
                        "with 'cohortctl cohort update' to run it longer)",
                        slug);
        else
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                        "cohort '%s' is reclaimed: it takes no new machines", slug);
        return NULL;
    }
    trainees = cohort_store_enrollment_list(svc->store, cohort->id, error);
    if (trainees == NULL)
        return NULL;
    /* one machine for each enrolled trainee who has none */
    for (guint i = 0; i < trainees->len; i++) {
        CohortUserRow *user = g_ptr_array_index(trainees, i);
        guint held = 0;
        guint vcpus = 0;
        guint64 memory = 0;
        if (!cohort_store_machine_get_holdings(svc->store, cohort->id, user->id, &held, &vcpus,
                                               &memory, error))
            return NULL;
        if (held == 0)
            g_ptr_array_add(todo, user);
    }

    /* intent first, in one transaction: the job, every row with its host, and the job's
     * machines, before any libvirt work; a crash after it leaves nothing the restart does not
     * finish, a crash before it leaves nothing at all */
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    job_id = cohort_machine_work_job_new(svc->work, actor, "provision", slug, todo->len, error);
    if (job_id == 0) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    for (guint i = 0; i < todo->len; i++) {
        CohortUserRow *user = g_ptr_array_index(todo, i);
        GError *error_local = NULL;
        gchar *vnc_password = NULL;
        gchar *guest_password = NULL;
        CohortMachineRow *row = cohort_service_machine_new(svc, cohort, user, &vnc_password,
                                                           &guest_password, &error_local);
        if (row == NULL) {
            /* the name the machine would have had, like the other job errors */
            g_ptr_array_add(failed_names, cohort_names_domain(cohort->slug, user->login, 1));
            g_ptr_array_add(failures, error_local);
            continue;
        }
        g_ptr_array_add(rows, row);
        g_ptr_array_add(row_trainees, user);
        g_ptr_array_add(row_vnc, vnc_password);
        g_ptr_array_add(row_guest, guest_password);
        if (!cohort_store_job_machine_insert(svc->store, job_id, row->id, TRUE, error)) {
            cohort_store_rollback(svc->store);
            return NULL;
        }
    }
    if (!cohort_service_job_fail_early(svc, job_id, failed_names, failures, error) ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    cohort_crash_point("rows-written");
    for (guint i = 0; i < rows->len; i++) {
        CohortMachineRow *row = g_ptr_array_index(rows, i);
        g_autoptr(GError) error_local = NULL;
        if (!cohort_machine_work_push_new(
                svc->work, row, job_id, g_ptr_array_index(row_trainees, i),
                g_ptr_array_index(row_vnc, i), g_ptr_array_index(row_guest, i), &error_local))
            cohort_machine_work_fail_unqueued(svc->work, job_id, row, error_local);
    }
    cohort_service_audit(svc, actor->login, "cohort.provision", slug, NULL);
    return cohort_service_job_answer(job_id);
}

JsonNode *
cohort_service_cohort_reclaim(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                              GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    gint64 job_id;

    if (cohort == NULL)
        return NULL;
    job_id = cohort_work_cohort_reclaim(svc->work, actor, cohort, error);
    if (job_id == 0)
        return NULL;
    return cohort_service_job_answer(job_id);
}

/* Takes @login out of the cohort: their machines of this cohort are torn down by a job, their
 * codes for it withdrawn, and the enrollment removed at once, in one transaction with the
 * machines' intent. Their account and other courses stay. */
JsonNode *
cohort_service_cohort_unenrol(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                              const gchar *login, GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(CohortUserRow) user = NULL;
    g_autoptr(GPtrArray) machines = NULL;
    g_autofree gchar *target = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint withdrawn = 0;
    guint failed = 0;
    gint64 job_id;

    if (cohort == NULL)
        return NULL;
    target = g_strdup_printf("%s/%s", slug, login);
    user = cohort_service_enrolled_trainee(svc, cohort, login, error);
    if (user == NULL) {
        cohort_service_audit(svc, actor->login, "cohort.unenrol", target, *error);
        return NULL;
    }
    machines = cohort_store_machine_list(svc->store, cohort->id, user->id, 0, FALSE, error);
    if (machines == NULL)
        return NULL;
    /* intent first, in one transaction: the job and its machines, the rows saying reclaiming,
     * the trainee out and their codes withdrawn (a restart finishes the job) */
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    job_id = cohort_machine_work_job_new(svc->work, actor, "unenrol", target, machines->len, error);
    if (job_id == 0) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        if (!cohort_store_machine_set_state(svc->store, m->id, "reclaiming", NULL, error) ||
            !cohort_store_job_machine_insert(svc->store, job_id, m->id,
                                             g_strcmp0(m->state, "failed") != 0, error)) {
            cohort_store_rollback(svc->store);
            return NULL;
        }
    }
    if (!cohort_store_enrollment_delete(svc->store, cohort->id, user->id, error) ||
        !cohort_store_invitation_withdraw_unused(svc->store, user->id, cohort->id, &withdrawn,
                                                 error) ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        g_autoptr(GError) error_local = NULL;
        if (!cohort_machine_work_push(svc->work, m, COHORT_MACHINE_OP_TEARDOWN, job_id,
                                      &error_local)) {
            cohort_machine_work_fail_unqueued(svc->work, job_id, m, error_local);
            failed++;
        }
    }
    cohort_service_audit(svc, actor->login, "cohort.unenrol", target, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "job");
    json_builder_add_int_value(b, job_id);
    json_builder_set_member_name(b, "login");
    json_builder_add_string_value(b, user->login);
    json_builder_set_member_name(b, "machines");
    json_builder_add_int_value(b, machines->len - failed);
    json_builder_set_member_name(b, "withdrawn");
    json_builder_add_int_value(b, withdrawn);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
