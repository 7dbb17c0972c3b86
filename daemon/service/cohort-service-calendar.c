/* The course calendar: a cohort's timetable, its capacity plan, and course-wide power. */
#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include "cohort-calendar.h"
#include "cohort-error.h"
#include "cohort-json.h"
#include "cohort-machine-work.h"
#include "cohort-plan.h"
#include "cohort-service-private.h"
#include "cohort-service.h"
#include "cohort-store-calendar.h"

/* The answer lists this many upcoming sessions at most. */
#define COHORT_SERVICE_SESSIONS_SHOWN 100

static const gchar *
cohort_service_default_time_zone(CohortService *svc)
{
    return cohort_calendar_get_settings(svc->lifecycle->calendar)->time_zone;
}

static void
cohort_service_session_members(JsonObject *obj, const CohortSession *s, GTimeZone *tz)
{
    g_autofree gchar *start = cohort_timetable_format_utc(s->start);
    g_autofree gchar *end = cohort_timetable_format_utc(s->end);
    g_autofree gchar *start_local = cohort_timetable_format_local(s->start, tz);
    g_autofree gchar *end_local = cohort_timetable_format_local(s->end, tz);

    json_object_set_string_member(obj, "start", start);
    json_object_set_string_member(obj, "end", end);
    json_object_set_string_member(obj, "start_local", start_local);
    json_object_set_string_member(obj, "end_local", end_local);
}

static JsonNode *
cohort_service_session_json(const CohortSession *s, GTimeZone *tz)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *obj = json_object_new();

    cohort_service_session_members(obj, s, tz);
    json_node_take_object(node, obj);
    return node;
}

/* "ready by 07:58" in the cohort's zone */
static gchar *
cohort_service_clock_text(gint64 t, GTimeZone *tz)
{
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(t);
    g_autoptr(GDateTime) local = g_date_time_to_timezone(utc, tz);
    return g_date_time_format(local, "%H:%M");
}

void
cohort_service_cohort_calendar_members(CohortService *svc, const CohortCohortRow *cohort,
                                       JsonObject *obj)
{
    g_autoptr(CohortTimetable) tt = NULL;
    g_autoptr(GArray) sessions = NULL;
    g_autofree gchar *tz_name = NULL;
    CohortCalendarStatus status = {0};
    guint outside = 0;
    const CohortSession *s;
    JsonObject *preload;

    cohort_store_cohort_get_calendar(svc->store, cohort->id, &tz_name, &outside, NULL);
    json_object_set_string_member(
        obj, "time_zone", tz_name != NULL ? tz_name : cohort_service_default_time_zone(svc));
    json_object_set_int_member(obj, "outside_hours_per_week", outside);
    /* the same, with the rest of the per-trainee quota */
    if (json_object_has_member(obj, "quota") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "quota")))
        json_object_set_int_member(json_object_get_object_member(obj, "quota"),
                                   "outside_hours_per_week", outside);
    if (!cohort_calendar_load(svc->store, cohort, cohort_service_default_time_zone(svc), &tt,
                              &sessions, NULL)) {
        json_object_set_null_member(obj, "next_session");
        json_object_set_null_member(obj, "preload");
        return;
    }
    s = cohort_sessions_current_or_next(sessions, cohort_calendar_now(svc->lifecycle->calendar));
    if (s == NULL) {
        json_object_set_null_member(obj, "next_session");
        json_object_set_null_member(obj, "preload");
        return;
    }
    json_object_set_member(obj, "next_session",
                           cohort_service_session_json(s, cohort_timetable_get_tz(tt)));
    if (!cohort_calendar_status(svc->lifecycle->calendar, svc->store, cohort, &status, NULL))
        return;
    preload = json_object_new();
    json_object_set_string_member(preload, "state", status.state);
    if (status.eta > 0) {
        g_autofree gchar *eta = cohort_timetable_format_utc(status.eta);
        g_autofree gchar *eta_local =
            cohort_timetable_format_local(status.eta, cohort_timetable_get_tz(tt));
        g_autofree gchar *clock =
            cohort_service_clock_text(status.eta, cohort_timetable_get_tz(tt));
        g_autofree gchar *text = g_strdup_printf("ready by %s", clock);
        json_object_set_string_member(preload, "eta", eta);
        json_object_set_string_member(preload, "eta_local", eta_local);
        json_object_set_string_member(preload, "eta_text", text);
    } else {
        json_object_set_null_member(preload, "eta");
    }
    if (status.begin_at > 0) {
        g_autofree gchar *begin = cohort_timetable_format_utc(status.begin_at);
        json_object_set_string_member(preload, "begins_at", begin);
    }
    json_object_set_int_member(preload, "machines", status.machines);
    json_object_set_int_member(preload, "ready", status.ready);
    json_object_set_int_member(preload, "booting", status.booting);
    json_object_set_int_member(preload, "max_booting_per_host", status.max_booting_per_host);
    json_object_set_int_member(
        preload, "boots_per_host",
        cohort_calendar_get_settings(svc->lifecycle->calendar)->boots_per_host);
    if (status.first_start > 0) {
        g_autofree gchar *t = cohort_timetable_format_utc(status.first_start);
        json_object_set_string_member(preload, "first_start", t);
    }
    if (status.last_ready > 0) {
        g_autofree gchar *t = cohort_timetable_format_utc(status.last_ready);
        json_object_set_string_member(preload, "last_ready", t);
    }
    json_object_set_object_member(obj, "preload", preload);
}

static gboolean
cohort_service_read_entries(JsonObject *body, const gchar *member, CohortTimetable *tt,
                            CohortTimetableKind kind, GPtrArray *rows, GError **error)
{
    JsonNode *node = json_object_get_member(body, member);
    JsonArray *array;

    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" must be an array of strings", member);
        return FALSE;
    }
    array = json_node_get_array(node);
    if (json_array_get_length(array) > COHORT_TIMETABLE_MAX_ENTRIES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\": at most %d entries", member, COHORT_TIMETABLE_MAX_ENTRIES);
        return FALSE;
    }
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *e = json_array_get_element(array, i);
        g_auto(GStrv) listed = NULL;
        CohortScheduleEntryRow *row;
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "\"%s\"[%u] must be a string", member, i);
            return FALSE;
        }
        if (!cohort_timetable_add(tt, kind, json_node_get_string(e), error)) {
            g_prefix_error(error, "\"%s\"[%u]: ", member, i);
            return FALSE;
        }
        listed = cohort_timetable_list(tt, kind);
        row = g_new0(CohortScheduleEntryRow, 1);
        row->kind = g_strdup(kind == COHORT_TIMETABLE_RULE      ? "rule"
                             : kind == COHORT_TIMETABLE_ONE_OFF ? "one-off"
                                                                : "cancel");
        row->entry = g_strdup(listed[g_strv_length(listed) - 1]);
        g_ptr_array_add(rows, row);
    }
    return TRUE;
}

static JsonNode *
cohort_service_strv_json(gchar **strv)
{
    JsonArray *array = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
        json_array_add_string_element(array, strv[i]);
    json_node_take_array(node, array);
    return node;
}

static JsonNode *
cohort_service_schedule_json(CohortService *svc, const CohortCohortRow *cohort, GError **error)
{
    g_autoptr(CohortTimetable) tt = NULL;
    g_autoptr(GArray) sessions = NULL;
    g_autofree gchar *tz_name = NULL;
    g_auto(GStrv) rules = NULL;
    g_auto(GStrv) one_off = NULL;
    g_auto(GStrv) cancel = NULL;
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *obj = json_object_new();
    JsonArray *upcoming = json_array_new();
    gint64 now = cohort_calendar_now(svc->lifecycle->calendar);
    guint shown = 0;
    guint left = 0;

    json_node_take_object(node, obj);
    if (!cohort_store_cohort_get_calendar(svc->store, cohort->id, &tz_name, NULL, error) ||
        !cohort_calendar_load(svc->store, cohort, cohort_service_default_time_zone(svc), &tt,
                              &sessions, error)) {
        json_node_unref(node);
        json_array_unref(upcoming);
        return NULL;
    }
    rules = cohort_timetable_list(tt, COHORT_TIMETABLE_RULE);
    one_off = cohort_timetable_list(tt, COHORT_TIMETABLE_ONE_OFF);
    cancel = cohort_timetable_list(tt, COHORT_TIMETABLE_CANCEL);
    json_object_set_string_member(obj, "cohort", cohort->slug);
    json_object_set_string_member(obj, "time_zone", cohort_timetable_get_time_zone(tt));
    json_object_set_boolean_member(obj, "time_zone_default", tz_name == NULL);
    json_object_set_member(obj, "rules", cohort_service_strv_json(rules));
    json_object_set_member(obj, "one_off", cohort_service_strv_json(one_off));
    json_object_set_member(obj, "cancel", cohort_service_strv_json(cancel));
    for (guint i = 0; i < sessions->len; i++) {
        const CohortSession *s = &g_array_index(sessions, CohortSession, i);
        if (s->end <= now)
            continue;
        if (shown++ < COHORT_SERVICE_SESSIONS_SHOWN)
            json_array_add_element(upcoming,
                                   cohort_service_session_json(s, cohort_timetable_get_tz(tt)));
        else
            left++;
    }
    json_object_set_int_member(obj, "sessions_total", sessions->len);
    json_object_set_array_member(obj, "sessions", upcoming);
    json_object_set_int_member(obj, "sessions_not_shown", left);
    cohort_service_cohort_calendar_members(svc, cohort, obj);
    /* the schedule's own members say it: */
    json_object_set_string_member(obj, "time_zone", cohort_timetable_get_time_zone(tt));
    return node;
}

JsonNode *
cohort_service_cohort_schedule_get(CohortService *svc, const CohortUserRow *actor,
                                   const gchar *slug, GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);

    return cohort != NULL ? cohort_service_schedule_json(svc, cohort, error) : NULL;
}

/* ---- the capacity plan ---- */

typedef struct {
    GArray *machines;        /* CohortPlanMachine */
    GPtrArray *cohorts;      /* CohortCohortRow, owned */
    GPtrArray *session_sets; /* GArray of CohortSession, owned */
    GPtrArray *hosts;        /* CohortHost, borrowed */
    GArray *plan_hosts;      /* CohortPlanHost */
    GPtrArray *strings;      /* what the plan hosts point to */
} CohortServicePlanInput;

static void
cohort_service_plan_input_clear(CohortServicePlanInput *in)
{
    g_clear_pointer(&in->machines, g_array_unref);
    g_clear_pointer(&in->cohorts, g_ptr_array_unref);
    g_clear_pointer(&in->session_sets, g_ptr_array_unref);
    g_clear_pointer(&in->hosts, g_ptr_array_unref);
    g_clear_pointer(&in->plan_hosts, g_array_unref);
    g_clear_pointer(&in->strings, g_ptr_array_unref);
}

static gint
cohort_service_plan_host_index(CohortServicePlanInput *in, gint64 host_id)
{
    for (guint i = 0; i < in->hosts->len; i++) {
        if (((CohortHost *)g_ptr_array_index(in->hosts, i))->id == host_id)
            return (gint)i;
    }
    return -1;
}

/* A cohort's sessions: its timetable's, or its whole dates when it has none. */
static GArray *
cohort_service_plan_sessions(CohortService *svc, const CohortCohortRow *cohort, GError **error)
{
    GArray *sessions = NULL;
    CohortSession all = {0};

    if (!cohort_calendar_load(svc->store, cohort, cohort_service_default_time_zone(svc), NULL,
                              &sessions, error))
        return NULL;
    if (sessions->len > 0)
        return sessions;
    if (cohort_timetable_parse_time(cohort->starts_at, &all.start) &&
        cohort_timetable_parse_time(cohort->ends_at, &all.end))
        g_array_append_val(sessions, all);
    return sessions;
}

/* Takes @cohort (NULL: a lookup that failed, with @error set). */
static gboolean
cohort_service_plan_add_cohort(CohortService *svc, CohortServicePlanInput *in,
                               CohortCohortRow *cohort, GError **error)
{
    CohortTemplate *tmpl =
        cohort != NULL ? cohort_template_set_get(svc->templates, cohort->template_name, NULL)
                       : NULL;
    g_autoptr(GPtrArray) machines = NULL;
    g_autoptr(GPtrArray) trainees = NULL;
    GArray *sessions;
    guint index = in->cohorts->len;

    if (cohort == NULL)
        return FALSE;
    sessions = cohort_service_plan_sessions(svc, cohort, error);
    if (sessions == NULL) {
        cohort_cohort_row_free(cohort);
        return FALSE;
    }
    machines = cohort_store_machine_list(svc->store, cohort->id, 0, 0, FALSE, error);
    trainees =
        machines != NULL ? cohort_store_enrollment_list(svc->store, cohort->id, error) : NULL;
    if (trainees == NULL) {
        g_array_unref(sessions);
        cohort_cohort_row_free(cohort);
        return FALSE;
    }
    g_ptr_array_add(in->cohorts, cohort);
    g_ptr_array_add(in->session_sets, sessions);
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        CohortPlanMachine pm = {.cohort = index,
                                .vcpus = m->vcpus,
                                .memory_mib = m->memory_mib,
                                .disk_mib = m->disk_mib};
        if (g_strcmp0(m->state, "failed") == 0)
            continue;
        pm.host = cohort_service_plan_host_index(in, m->host_id);
        if (pm.host < 0)
            continue;
        g_array_append_val(in->machines, pm);
    }
    /* a trainee without a machine gets one when the cohort is provisioned */
    for (guint i = 0; tmpl != NULL && i < trainees->len; i++) {
        CohortUserRow *user = g_ptr_array_index(trainees, i);
        gboolean has = FALSE;
        for (guint j = 0; j < machines->len && !has; j++) {
            CohortMachineRow *m = g_ptr_array_index(machines, j);
            has = m->user_id == user->id && g_strcmp0(m->state, "failed") != 0;
        }
        if (!has) {
            CohortPlanMachine pm = {.cohort = index,
                                    .host = -1,
                                    .vcpus = cohort_template_get_vcpus(tmpl),
                                    .memory_mib = cohort_template_get_memory_mib(tmpl),
                                    .disk_mib = cohort_template_get_disk_mib(tmpl)};
            g_array_append_val(in->machines, pm);
        }
    }
    return TRUE;
}

static gboolean
cohort_service_plan_gather(CohortService *svc, const CohortCohortRow *target,
                           CohortServicePlanInput *in, GError **error)
{
    g_autoptr(GPtrArray) all = NULL;
    CohortTemplate *tmpl = cohort_template_set_get(svc->templates, target->template_name, NULL);

    in->machines = g_array_new(FALSE, FALSE, sizeof(CohortPlanMachine));
    in->cohorts = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_cohort_row_free);
    in->session_sets = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    in->hosts = cohort_hosts_list(svc->hosts);
    in->plan_hosts = g_array_new(FALSE, TRUE, sizeof(CohortPlanHost));
    in->strings = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < in->hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(in->hosts, i);
        CohortHostUsage usage = {0};
        CohortPlanHost ph = {0};
        if (!cohort_store_host_get_usage_full(svc->store, host->id, &usage, error))
            return FALSE;
        ph.name = host->name;
        ph.usable = g_strcmp0(host->state, "up") == 0 && host->prov != NULL &&
                    (tmpl == NULL || cohort_host_has_base(host, tmpl));
        if (g_strcmp0(host->state, "up") != 0 || host->prov == NULL)
            ph.why_unusable = host->state;
        else if (!ph.usable) {
            gchar *why = g_strdup_printf("no base of template '%s' ('cohortctl template base "
                                         "%s' installs it)",
                                         target->template_name, target->template_name);
            g_ptr_array_add(in->strings, why);
            ph.why_unusable = why;
        }
        ph.vcpus_allowed = cohort_host_allowed_vcpus(host);
        ph.memory_allowed_mib = cohort_host_allowed_memory_mib(host);
        ph.disk_allowed_mib = host->pool_known ? cohort_host_allowed_disk_mib(host) : 0;
        ph.capacity_vcpus = host->vcpus;
        ph.capacity_memory_mib = host->memory_mib;
        ph.machines = usage.machines;
        ph.used_vcpus = usage.vcpus;
        ph.used_memory_mib = usage.memory_mib;
        ph.used_disk_mib = usage.disk_mib;
        g_array_append_val(in->plan_hosts, ph);
    }
    if (!cohort_service_plan_add_cohort(
            svc, in, cohort_store_cohort_get_by_id(svc->store, target->id, error), error))
        return FALSE;
    /* the other cohorts whose dates meet the target's */
    all = cohort_store_cohort_list(svc->store, 0, 0, error);
    if (all == NULL)
        return FALSE;
    for (guint i = 0; i < all->len; i++) {
        CohortCohortRow *c = g_ptr_array_index(all, i);
        const gchar *state = cohort_store_cohort_state(c);
        if (c->id == target->id || g_strcmp0(state, "reclaimed") == 0 ||
            g_strcmp0(state, "ended") == 0 || g_strcmp0(c->starts_at, target->ends_at) >= 0 ||
            g_strcmp0(c->ends_at, target->starts_at) <= 0)
            continue;
        if (!cohort_service_plan_add_cohort(svc, in, g_steal_pointer(&all->pdata[i]), error))
            return FALSE;
    }
    return TRUE;
}

static CohortPlanResult *
cohort_service_plan_run(CohortService *svc, const CohortCohortRow *target,
                        CohortServicePlanInput *in, GError **error)
{
    g_autofree CohortPlanCohort *cohorts = NULL;

    if (!cohort_service_plan_gather(svc, target, in, error))
        return NULL;
    cohorts = g_new0(CohortPlanCohort, MAX(in->cohorts->len, 1));
    for (guint i = 0; i < in->cohorts->len; i++) {
        CohortCohortRow *c = g_ptr_array_index(in->cohorts, i);
        cohorts[i].slug = c->slug;
        cohorts[i].sessions = g_ptr_array_index(in->session_sets, i);
        cohorts[i].pack = cohort_service_cohort_placement(svc, c) == COHORT_PLACEMENT_PACK;
    }
    return cohort_plan_compute((CohortPlanHost *)(gpointer)in->plan_hosts->data,
                               in->plan_hosts->len, cohorts, in->cohorts->len, in->machines, 0);
}

static JsonNode *
cohort_service_missing_json(CohortPlanResult *r)
{
    JsonArray *array = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; i < r->missing->len; i++) {
        CohortPlanMissing *m = g_ptr_array_index(r->missing, i);
        JsonObject *obj = json_object_new();
        if (m->host != NULL)
            json_object_set_string_member(obj, "host", m->host);
        else
            json_object_set_null_member(obj, "host");
        json_object_set_string_member(obj, "resource", m->resource);
        json_object_set_int_member(obj, "need", (gint64)m->need);
        json_object_set_int_member(obj, "have", (gint64)m->have);
        if (m->at > 0) {
            g_autofree gchar *at = cohort_timetable_format_utc(m->at);
            json_object_set_string_member(obj, "at", at);
        } else {
            json_object_set_null_member(obj, "at");
        }
        json_object_set_string_member(obj, "message", m->message);
        json_array_add_object_element(array, obj);
    }
    json_node_take_array(node, array);
    return node;
}

static JsonNode *
cohort_service_plan_json(CohortService *svc, const CohortCohortRow *cohort,
                         CohortServicePlanInput *in, CohortPlanResult *r)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *obj = json_object_new();
    JsonArray *hosts = json_array_new();
    GArray *own = g_ptr_array_index(in->session_sets, 0);
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();

    json_object_set_string_member(obj, "cohort", cohort->slug);
    json_object_set_boolean_member(obj, "fits", r->fits);
    json_object_set_int_member(obj, "sessions", own->len);
    json_object_set_int_member(obj, "cohorts_sharing", in->cohorts->len - 1);
    for (guint h = 0; h < r->hosts->len; h++) {
        CohortPlanHostResult *hr = &g_array_index(r->hosts, CohortPlanHostResult, h);
        const CohortPlanHost *ph = &g_array_index(in->plan_hosts, CohortPlanHost, h);
        JsonObject *ho = json_object_new();
        JsonObject *cap = json_object_new();
        json_object_set_string_member(ho, "host", ph->name);
        json_object_set_boolean_member(ho, "usable", ph->usable);
        json_object_set_int_member(ho, "peak_vcpus", (gint64)hr->peak_vcpus);
        json_object_set_int_member(ho, "peak_memory_mib", (gint64)hr->peak_memory_mib);
        json_object_set_int_member(ho, "peak_disk_mib", (gint64)hr->peak_disk_mib);
        json_object_set_int_member(ho, "new_machines", hr->new_machines);
        json_object_set_int_member(cap, "vcpus", (gint64)ph->capacity_vcpus);
        json_object_set_int_member(cap, "memory_mib", (gint64)ph->capacity_memory_mib);
        json_object_set_int_member(cap, "allowed_vcpus", (gint64)ph->vcpus_allowed);
        json_object_set_int_member(cap, "allowed_memory_mib", (gint64)ph->memory_allowed_mib);
        if (ph->disk_allowed_mib > 0)
            json_object_set_int_member(cap, "allowed_disk_mib", (gint64)ph->disk_allowed_mib);
        else
            json_object_set_null_member(cap, "allowed_disk_mib");
        json_object_set_object_member(ho, "capacity", cap);
        if (hr->busiest_start > 0) {
            CohortSession s = {hr->busiest_start, hr->busiest_end};
            json_object_set_member(ho, "busiest_session", cohort_service_session_json(&s, utc));
        } else {
            json_object_set_null_member(ho, "busiest_session");
        }
        json_array_add_object_element(hosts, ho);
    }
    json_object_set_array_member(obj, "hosts", hosts);
    json_object_set_member(obj, "missing", cohort_service_missing_json(r));
    json_node_take_object(node, obj);
    (void)svc;
    return node;
}

JsonNode *
cohort_service_cohort_plan(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                           GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    CohortServicePlanInput in = {0};
    g_autoptr(CohortPlanResult) r = NULL;
    JsonNode *node;

    if (cohort == NULL)
        return NULL;
    r = cohort_service_plan_run(svc, cohort, &in, error);
    node = r != NULL ? cohort_service_plan_json(svc, cohort, &in, r) : NULL;
    cohort_service_plan_input_clear(&in);
    return node;
}

gboolean
cohort_service_cohort_plan_check(CohortService *svc, const CohortCohortRow *cohort,
                                 JsonNode **missing, GError **error)
{
    CohortServicePlanInput in = {0};
    g_autoptr(CohortPlanResult) r = cohort_service_plan_run(svc, cohort, &in, error);
    g_autoptr(GString) text = g_string_new(NULL);

    cohort_service_plan_input_clear(&in);
    if (r == NULL)
        return FALSE;
    if (r->fits)
        return TRUE;
    for (guint i = 0; i < r->missing->len; i++) {
        CohortPlanMissing *m = g_ptr_array_index(r->missing, i);
        g_string_append_printf(text, "%s%s", i > 0 ? "; " : "", m->message);
    }
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                "cohort '%s' does not fit its hosts: %s (see 'cohortctl cohort plan %s'; "
                "\"force\": true goes ahead anyway)",
                cohort->slug, text->str, cohort->slug);
    if (missing != NULL)
        *missing = cohort_service_missing_json(r);
    return FALSE;
}

JsonNode *
cohort_service_cohort_schedule_put(CohortService *svc, const CohortUserRow *actor,
                                   const gchar *slug, JsonObject *body, JsonNode **missing,
                                   GError **error)
{
    static const gchar *const known[] = {
        "time_zone", "rules", "one_off", "cancel", "outside_hours_per_week", "force", NULL};
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(GPtrArray) rows =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_schedule_entry_row_free);
    g_autoptr(CohortTimetable) tt = NULL;
    g_autoptr(GArray) sessions = NULL;
    g_autofree gchar *tz_name = NULL;
    guint outside = 0;
    guint64 outside_new;
    gboolean force = FALSE;
    gint64 from = 0;
    gint64 to = 0;
    JsonNode *tz_node;

    if (cohort == NULL)
        return NULL;
    if (g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "cohort '%s' is reclaimed and cannot change", slug);
        return NULL;
    }
    if (!cohort_json_check_members(body, known, error) ||
        !cohort_store_cohort_get_calendar(svc->store, cohort->id, &tz_name, &outside, error) ||
        !cohort_json_get_bool(body, "force", &force, error))
        return NULL;
    outside_new = outside;
    if (!cohort_json_get_uint(body, "outside_hours_per_week", FALSE, 0, 168, &outside_new, error))
        return NULL;
    tz_node = json_object_get_member(body, "time_zone");
    if (tz_node != NULL && JSON_NODE_HOLDS_NULL(tz_node))
        g_clear_pointer(&tz_name, g_free);
    else if (!cohort_json_get_string(body, "time_zone", FALSE, 64, &tz_name, error))
        return NULL;
    tt = cohort_timetable_new(tz_name != NULL ? tz_name : cohort_service_default_time_zone(svc),
                              error);
    if (tt == NULL ||
        !cohort_service_read_entries(body, "rules", tt, COHORT_TIMETABLE_RULE, rows, error) ||
        !cohort_service_read_entries(body, "one_off", tt, COHORT_TIMETABLE_ONE_OFF, rows, error) ||
        !cohort_service_read_entries(body, "cancel", tt, COHORT_TIMETABLE_CANCEL, rows, error))
        return NULL;
    if (!cohort_timetable_parse_time(cohort->starts_at, &from) ||
        !cohort_timetable_parse_time(cohort->ends_at, &to)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "cohort %s: bad dates", slug);
        return NULL;
    }
    sessions = cohort_timetable_expand(tt, from, to, error);
    if (sessions == NULL)
        return NULL;
    /* written, planned, and kept only if it fits (or is forced) */
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    if (!cohort_store_cohort_set_calendar(svc->store, cohort->id, tz_name, (guint)outside_new,
                                          error) ||
        !cohort_store_schedule_replace(svc->store, cohort->id, rows, error) ||
        (!force && !cohort_service_cohort_plan_check(svc, cohort, missing, error)) ||
        !cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        cohort_service_audit(svc, actor->login, "cohort.schedule", slug, *error);
        return NULL;
    }
    cohort_service_audit(svc, actor->login, "cohort.schedule", slug, NULL);
    return cohort_service_schedule_json(svc, cohort, error);
}

/* ---- course-wide power ---- */

JsonNode *
cohort_service_cohort_power(CohortService *svc, const CohortUserRow *actor, const gchar *slug,
                            gboolean start, GError **error)
{
    g_autoptr(CohortCohortRow) cohort =
        cohort_service_cohort_lookup(svc, actor, slug, COHORT_ACTION_COHORT_MANAGE, error);
    g_autoptr(GPtrArray) machines = NULL;
    g_autoptr(GPtrArray) todo = g_ptr_array_new();
    const gchar *kind = start ? "start" : "stop";
    g_autoptr(JsonBuilder) b = json_builder_new();
    gint64 job_id;

    if (cohort == NULL)
        return NULL;
    machines = cohort_store_machine_list(svc->store, cohort->id, 0, 0, FALSE, error);
    if (machines == NULL)
        return NULL;
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        if (g_strcmp0(m->state, start ? "stopped" : "running") == 0)
            g_ptr_array_add(todo, m);
    }
    if (!cohort_store_begin(svc->store, error))
        return NULL;
    job_id = cohort_machine_work_job_new(svc->work, actor, kind, slug, todo->len, error);
    if (job_id == 0) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    for (guint i = 0; i < todo->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(todo, i);
        if (!cohort_store_job_machine_insert(svc->store, job_id, m->id, TRUE, error)) {
            cohort_store_rollback(svc->store);
            return NULL;
        }
    }
    if (!cohort_store_commit(svc->store, error)) {
        cohort_store_rollback(svc->store);
        return NULL;
    }
    for (guint i = 0; i < todo->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(todo, i);
        g_autoptr(GError) error_local = NULL;
        if (!cohort_machine_work_push(svc->work, m,
                                      start ? COHORT_MACHINE_OP_START : COHORT_MACHINE_OP_STOP,
                                      job_id, &error_local))
            cohort_machine_work_fail_unqueued(svc->work, job_id, m, error_local);
    }
    if (todo->len == 0) {
        g_autoptr(CohortJobRow) job = cohort_store_job_get(svc->store, job_id, NULL);
        if (job != NULL)
            cohort_machine_work_job_check(svc->work, job);
    }
    cohort_service_audit(svc, actor->login, start ? "cohort.start" : "cohort.stop", slug, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "job");
    json_builder_add_int_value(b, job_id);
    json_builder_set_member_name(b, "machines");
    json_builder_add_int_value(b, todo->len);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
