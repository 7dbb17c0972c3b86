#define G_LOG_DOMAIN "cohort-calendar"

#include "config.h"

#include "cohort-calendar.h"
#include "cohort-error.h"
#include "cohort-lifecycle.h"
#include "cohort-machine-work.h"
#include "cohort-plan.h"
#include "cohort-store-calendar.h"

typedef struct {
    gint64 host_id;
    gint64 cohort_id;
    gint64 started_at;
    gint64 session_start;
    gchar *template_name;
} CohortCalendarBoot;

typedef struct {
    gint64 session_start;
    guint max_booting_per_host;
    gint64 first_start;
    gint64 last_ready;
} CohortCalendarStats;

struct _CohortCalendar {
    CohortCalendarSettings settings;
    CohortCalendarClock clock;
    gpointer clock_data;
    gint64 clock_offset_s;
    gdouble clock_scale;       /* tests: calendar seconds per real second */
    gint64 clock_origin;       /* real Unix seconds when the calendar was made */
    GHashTable *booting;       /* machine id -> CohortCalendarBoot: started, not ready yet */
    GHashTable *preloaded;     /* machine id -> the session start it was started (or seen) for */
    GHashTable *stats;         /* cohort id -> CohortCalendarStats of its current session */
    GHashTable *stopped_after; /* cohort id -> the end of the last session it was stopped after */
    gint64 last_tick;
    CohortHosts *hosts; /* borrowed; NULL: every host is taken for libvirt's test driver */
};

static void
cohort_calendar_boot_free(CohortCalendarBoot *boot)
{
    g_free(boot->template_name);
    g_free(boot);
}

static GHashTable *
cohort_calendar_id_table(GDestroyNotify value_free)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, value_free);
}

static gpointer
cohort_calendar_key(gint64 id)
{
    return g_memdup2(&id, sizeof(id));
}

CohortCalendar *
cohort_calendar_new(const CohortCalendarSettings *settings)
{
    CohortCalendar *self = g_new0(CohortCalendar, 1);
    const gchar *offset = g_getenv("COHORT_TEST_CLOCK_OFFSET_S");
    const gchar *scale = g_getenv("COHORT_TEST_CLOCK_SCALE");

    self->settings = *settings;
    self->settings.time_zone = g_strdup(settings->time_zone != NULL ? settings->time_zone : "UTC");
    self->settings.boots_per_host = MAX(settings->boots_per_host, 1);
    self->settings.interval_s = MAX(settings->interval_s, 1);
    /* for tests only: a clock that runs ahead, so that a session can be minutes away */
    if (offset != NULL)
        self->clock_offset_s = g_ascii_strtoll(offset, NULL, 10);
    self->clock_scale = scale != NULL ? g_ascii_strtod(scale, NULL) : 1.0;
    if (!(self->clock_scale >= 1.0 && self->clock_scale <= 1000.0))
        self->clock_scale = 1.0;
    self->clock_origin = g_get_real_time() / G_USEC_PER_SEC;
    if (offset != NULL || scale != NULL)
        g_message("calendar: a test clock (COHORT_TEST_CLOCK_OFFSET_S=%s, "
                  "COHORT_TEST_CLOCK_SCALE=%s): for tests only",
                  offset != NULL ? offset : "0", scale != NULL ? scale : "1");
    self->booting = cohort_calendar_id_table((GDestroyNotify)cohort_calendar_boot_free);
    self->preloaded = cohort_calendar_id_table(g_free);
    self->stats = cohort_calendar_id_table(g_free);
    self->stopped_after = cohort_calendar_id_table(g_free);
    return self;
}

void
cohort_calendar_free(CohortCalendar *self)
{
    if (self == NULL)
        return;
    g_hash_table_unref(self->booting);
    g_hash_table_unref(self->preloaded);
    g_hash_table_unref(self->stats);
    g_hash_table_unref(self->stopped_after);
    g_free(self->settings.time_zone);
    g_free(self);
}

void
cohort_calendar_set_clock(CohortCalendar *self, CohortCalendarClock clock, gpointer user_data)
{
    self->clock = clock;
    self->clock_data = user_data;
}

gint64
cohort_calendar_now(CohortCalendar *self)
{
    if (self->clock != NULL)
        return self->clock(self->clock_data);
    return self->clock_origin +
           (gint64)((gdouble)(g_get_real_time() - self->clock_origin * G_USEC_PER_SEC) *
                    self->clock_scale / G_USEC_PER_SEC) +
           self->clock_offset_s;
}

const CohortCalendarSettings *
cohort_calendar_get_settings(CohortCalendar *self)
{
    return &self->settings;
}

void
cohort_calendar_set_hosts(CohortCalendar *self, CohortHosts *hosts)
{
    self->hosts = hosts;
}

gint64
cohort_calendar_ready_on(const CohortMachineRow *row, const gchar *host_uri, gint64 now)
{
    if (g_strcmp0(row->state, "running") != 0)
        return 0;
    /* libvirt's test driver runs no guest that could say it is up: running is all there is */
    if (host_uri == NULL || g_str_has_prefix(host_uri, "test:"))
        return now;
    /* seen ready now, on the calendar's clock (ready_at is on the real one) */
    return row->ready ? now : 0;
}

gint64
cohort_calendar_machine_ready_at(CohortCalendar *self, const CohortMachineRow *row, gint64 now)
{
    CohortHost *host =
        self->hosts != NULL ? cohort_hosts_lookup_by_id(self->hosts, row->host_id) : NULL;

    if (self->hosts != NULL && host == NULL)
        return 0; /* a host that is gone: nothing there becomes ready */
    return cohort_calendar_ready_on(row, host != NULL ? host->uri : NULL, now);
}

gboolean
cohort_calendar_load(CohortStore *store, const CohortCohortRow *cohort,
                     const gchar *default_time_zone, CohortTimetable **timetable, GArray **sessions,
                     GError **error)
{
    g_autofree gchar *tz = NULL;
    g_autoptr(GPtrArray) entries = NULL;
    g_autoptr(CohortTimetable) tt = NULL;
    gint64 from = 0;
    gint64 to = 0;

    if (!cohort_store_cohort_get_calendar(store, cohort->id, &tz, NULL, error))
        return FALSE;
    tt = cohort_timetable_new(tz != NULL ? tz : default_time_zone, error);
    if (tt == NULL)
        return FALSE;
    entries = cohort_store_schedule_list(store, cohort->id, error);
    if (entries == NULL)
        return FALSE;
    for (guint i = 0; i < entries->len; i++) {
        CohortScheduleEntryRow *e = g_ptr_array_index(entries, i);
        CohortTimetableKind kind = g_strcmp0(e->kind, "rule") == 0      ? COHORT_TIMETABLE_RULE
                                   : g_strcmp0(e->kind, "one-off") == 0 ? COHORT_TIMETABLE_ONE_OFF
                                                                        : COHORT_TIMETABLE_CANCEL;
        if (!cohort_timetable_add(tt, kind, e->entry, error))
            return FALSE;
    }
    if (sessions != NULL) {
        if (!cohort_timetable_parse_time(cohort->starts_at, &from) ||
            !cohort_timetable_parse_time(cohort->ends_at, &to)) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "cohort %s: bad dates",
                        cohort->slug);
            return FALSE;
        }
        *sessions = cohort_timetable_expand(tt, from, to, error);
        if (*sessions == NULL)
            return FALSE;
    }
    if (timetable != NULL)
        *timetable = g_steal_pointer(&tt);
    return TRUE;
}

gdouble
cohort_calendar_lead_s(CohortCalendar *self, CohortStore *store, const gchar *template_name,
                       gint64 host_id)
{
    g_autoptr(GArray) samples = cohort_store_boot_duration_list(store, template_name, host_id,
                                                                COHORT_CALENDAR_SAMPLES, NULL);

    if (samples == NULL)
        return self->settings.lead_s;
    return cohort_pacing_median((gdouble *)(gpointer)samples->data, samples->len,
                                self->settings.lead_s);
}

/* The machines the preload concerns: made, not going. */
static gboolean
cohort_calendar_machine_counts(const CohortMachineRow *m)
{
    static const gchar *const states[] = {"running",  "stopped",   "starting",
                                          "stopping", "rebooting", NULL};
    return m->host_id > 0 && g_strv_contains(states, m->state);
}

typedef struct {
    gint64 host_id;
    gdouble lead_s;
    GPtrArray *waiting; /* CohortMachineRow, borrowed */
    guint booting;
    guint ready;
    gint64 begin_at;
    gint64 window_from; /* when the preload of every machine there would begin */
} CohortCalendarHostPlan;

static void
cohort_calendar_host_plan_free(CohortCalendarHostPlan *hp)
{
    g_ptr_array_unref(hp->waiting);
    g_free(hp);
}

/* Per host: what waits to start for session @s, what boots, what is ready, and when the
 * first must start. */
static GHashTable *
cohort_calendar_plan_hosts(CohortCalendar *self, CohortStore *store, const CohortCohortRow *cohort,
                           GPtrArray *machines, const CohortSession *s, gint64 now)
{
    GHashTable *plans = cohort_calendar_id_table((GDestroyNotify)cohort_calendar_host_plan_free);

    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        CohortCalendarHostPlan *hp;
        const gint64 *done = g_hash_table_lookup(self->preloaded, &m->id);

        if (m->cohort_id != cohort->id || !cohort_calendar_machine_counts(m))
            continue;
        hp = g_hash_table_lookup(plans, &m->host_id);
        if (hp == NULL) {
            hp = g_new0(CohortCalendarHostPlan, 1);
            hp->host_id = m->host_id;
            hp->waiting = g_ptr_array_new();
            hp->lead_s = cohort_calendar_lead_s(self, store, m->template_name, m->host_id);
            g_hash_table_insert(plans, cohort_calendar_key(m->host_id), hp);
        }
        if (g_hash_table_contains(self->booting, &m->id))
            hp->booting++;
        else if (cohort_calendar_machine_ready_at(self, m, now) > 0)
            hp->ready++;
        else if (g_strcmp0(m->state, "stopped") == 0 && (done == NULL || *done != s->start))
            g_ptr_array_add(hp->waiting, m);
    }
    {
        GHashTableIter iter;
        gpointer value;
        g_hash_table_iter_init(&iter, plans);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            CohortCalendarHostPlan *hp = value;
            hp->begin_at = cohort_pacing_begin_at(
                hp->waiting->len + hp->booting, self->settings.boots_per_host,
                (gint64)(hp->lead_s + 0.999), self->settings.margin_s, s->start);
        }
    }
    return plans;
}

static CohortCalendarStats *
cohort_calendar_stats(CohortCalendar *self, gint64 cohort_id, gint64 session_start)
{
    CohortCalendarStats *st = g_hash_table_lookup(self->stats, &cohort_id);

    if (st == NULL) {
        st = g_new0(CohortCalendarStats, 1);
        g_hash_table_insert(self->stats, cohort_calendar_key(cohort_id), st);
    }
    if (st->session_start != session_start) {
        *st = (CohortCalendarStats){.session_start = session_start};
    }
    return st;
}

static void
cohort_calendar_fill_status(CohortCalendar *self, GHashTable *plans, const CohortSession *s,
                            gint64 now, gint64 cohort_id, CohortCalendarStatus *status)
{
    GHashTableIter iter;
    gpointer value;
    guint waiting = 0;
    CohortCalendarStats *st = g_hash_table_lookup(self->stats, &cohort_id);

    status->session_start = s->start;
    status->session_end = s->end;
    status->begin_at = 0;
    status->eta = 0;
    status->window_from = s->start - self->settings.margin_s;
    g_hash_table_iter_init(&iter, plans);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortCalendarHostPlan *hp = value;
        guint n = hp->waiting->len + hp->booting;
        status->window_from = MIN(status->window_from, hp->window_from);
        status->machines += n + hp->ready;
        status->ready += hp->ready;
        status->booting += hp->booting;
        waiting += hp->waiting->len;
        if (n == 0)
            continue;
        if (status->begin_at == 0 || hp->begin_at < status->begin_at)
            status->begin_at = hp->begin_at;
        status->eta =
            MAX(status->eta,
                cohort_pacing_eta(hp->waiting->len, hp->booting, self->settings.boots_per_host,
                                  (gint64)(hp->lead_s + 0.999), now, hp->begin_at));
    }
    if (st != NULL && st->session_start == s->start) {
        status->max_booting_per_host = st->max_booting_per_host;
        status->first_start = st->first_start;
        status->last_ready = st->last_ready;
    }
    if (waiting + status->booting == 0)
        status->eta = status->last_ready > 0 ? status->last_ready : 0;
    if (now >= s->start)
        status->state = "in-session";
    else if (waiting + status->booting == 0)
        status->state = "ready";
    else if (now < status->begin_at)
        status->state = "waiting";
    else
        status->state = "starting";
}

gboolean
cohort_calendar_status(CohortCalendar *self, CohortStore *store, const CohortCohortRow *cohort,
                       CohortCalendarStatus *status, GError **error)
{
    g_autoptr(GArray) sessions = NULL;
    g_autoptr(GPtrArray) machines = NULL;
    g_autoptr(GHashTable) plans = NULL;
    const CohortSession *s;
    gint64 now = cohort_calendar_now(self);

    *status = (CohortCalendarStatus){.state = "none"};
    if (!cohort_calendar_load(store, cohort, self->settings.time_zone, NULL, &sessions, error))
        return FALSE;
    s = cohort_sessions_current_or_next(sessions, now);
    if (s == NULL)
        return TRUE;
    machines = cohort_store_machine_list(store, cohort->id, 0, 0, FALSE, error);
    if (machines == NULL)
        return FALSE;
    plans = cohort_calendar_plan_hosts(self, store, cohort, machines, s, now);
    cohort_calendar_fill_status(self, plans, s, now, cohort->id, status);
    return TRUE;
}

/* Machines that were started: ready ones are measured, failed ones forgotten. */
static void
cohort_calendar_check_booting(CohortLifecycle *l, CohortCalendar *self, gint64 now)
{
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    g_hash_table_iter_init(&iter, self->booting);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        CohortCalendarBoot *boot = value;
        g_autoptr(CohortMachineRow) m =
            cohort_store_machine_get_by_id(l->store, *(gint64 *)key, NULL);
        gint64 ready_at = m != NULL ? cohort_calendar_machine_ready_at(self, m, now) : 0;

        if (ready_at > 0) {
            CohortCalendarStats *st =
                cohort_calendar_stats(self, boot->cohort_id, boot->session_start);
            gdouble took = (gdouble)MAX(ready_at - boot->started_at, 0);
            g_autoptr(GError) error = NULL;
            if (!cohort_store_boot_duration_add(l->store, boot->template_name, boot->host_id, took,
                                                COHORT_CALENDAR_SAMPLES, &error))
                g_warning("calendar: %s: %s", m->name, error->message);
            st->last_ready = MAX(st->last_ready, ready_at);
            g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", m->cohort_slug,
                             "COHORT_MACHINE", m->name, "MESSAGE",
                             "preload: %s ready %" G_GINT64_FORMAT
                             " s after its start, %" G_GINT64_FORMAT " s before its session",
                             m->name, ready_at - boot->started_at, boot->session_start - ready_at);
            g_hash_table_iter_remove(&iter);
            continue;
        }
        /* gone, failed, stopped again, or never ready: not booting any more */
        if (m == NULL ||
            (!cohort_work_inflight_contains(l->work, m->id) &&
             (g_strcmp0(m->state, "stopped") == 0 || g_strcmp0(m->state, "failed") == 0)) ||
            now - boot->started_at > 3 * (gint64)self->settings.lead_s + 600)
            g_hash_table_iter_remove(&iter);
    }
}

static void
cohort_calendar_push(CohortLifecycle *l, CohortMachineRow *m, CohortMachineOp op, const gchar *note,
                     const gchar *action)
{
    g_autoptr(GError) error = NULL;

    if (!cohort_machine_work_push_note(l->work, m, op, note, &error)) {
        g_warning("calendar: %s: %s", m->name, error->message);
        return;
    }
    if (action != NULL)
        cohort_store_audit_record(l->store, "system", action, m->name, NULL);
}

/* Over the cohort's hours outside sessions this week? */
static gboolean
cohort_calendar_outside_allowed(CohortLifecycle *l, const CohortCohortRow *cohort, gint64 user_id,
                                const gchar *week, guint quota_hours)
{
    return quota_hours > 0 && cohort_store_outside_usage_get(l->store, cohort->id, user_id, week) <
                                  (guint64)quota_hours * 3600;
}

static gchar *
cohort_calendar_week(GTimeZone *tz, gint64 now)
{
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(now);
    g_autoptr(GDateTime) local = g_date_time_to_timezone(utc, tz);
    return g_date_time_format(local, "%G-W%V");
}

/* What a host must boot for the upcoming sessions of all cohorts: the preload of a cohort
 * whose session starts later begins early enough for those that start before it too. */
typedef struct {
    gint64 session_start;
    gint64 cohort_id;
    guint machines; /* waiting or booting */
} CohortCalendarDemand;

static guint
cohort_calendar_demand_before(GHashTable *demand, gint64 host_id, gint64 cohort_id,
                              gint64 session_start)
{
    GArray *list = demand != NULL ? g_hash_table_lookup(demand, &host_id) : NULL;
    guint n = 0;

    for (guint i = 0; list != NULL && i < list->len; i++) {
        const CohortCalendarDemand *d = &g_array_index(list, CohortCalendarDemand, i);
        if (d->cohort_id != cohort_id && d->session_start <= session_start)
            n += d->machines;
    }
    return n;
}

/* @host_booting: host id -> machines booting there now, of every cohort (the cap is per
 * host); @demand: host id -> GArray of CohortCalendarDemand. */
static void
cohort_calendar_tick_cohort(CohortLifecycle *l, CohortCalendar *self, CohortCohortRow *cohort,
                            GPtrArray *machines, gint64 now, gint64 elapsed,
                            GHashTable *host_booting, GHashTable *demand)
{
    g_autoptr(CohortTimetable) tt = NULL;
    g_autoptr(GArray) sessions = NULL;
    g_autoptr(GHashTable) plans = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *week = NULL;
    const CohortSession *s;
    const CohortSession *prev = NULL;
    CohortCalendarStatus status = {0};
    gint64 grace = (gint64)self->settings.grace_minutes * 60;
    gint64 *stopped;
    guint quota = 0;
    gboolean in_window = FALSE;

    if (!cohort_calendar_load(l->store, cohort, self->settings.time_zone, &tt, &sessions, &error)) {
        g_debug("calendar: %s: %s", cohort->slug, error->message);
        return;
    }
    if (sessions->len == 0)
        return;
    cohort_store_cohort_get_calendar(l->store, cohort->id, NULL, &quota, NULL);
    week = cohort_calendar_week(cohort_timetable_get_tz(tt), now);
    for (guint i = 0; i < sessions->len; i++) {
        const CohortSession *x = &g_array_index(sessions, CohortSession, i);
        if (x->end <= now)
            prev = x;
    }
    s = cohort_sessions_current_or_next(sessions, now);

    /* before and during a session: start what waits, paced per host */
    if (s != NULL) {
        GHashTableIter iter;
        gpointer value;
        CohortCalendarStats *st = NULL;

        plans = cohort_calendar_plan_hosts(self, l->store, cohort, machines, s, now);
        cohort_calendar_fill_status(self, plans, s, now, cohort->id, &status);
        /* the session, and its preload (as if every machine had to boot) */
        in_window = now >= status.window_from - (gint64)self->settings.interval_s;
        g_hash_table_iter_init(&iter, plans);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            CohortCalendarHostPlan *hp = value;
            guint ahead = cohort_calendar_demand_before(demand, hp->host_id, cohort->id, s->start);
            guint *on_host = g_hash_table_lookup(host_booting, &hp->host_id);
            guint booting;
            guint k;
            if (on_host == NULL) {
                on_host = g_new0(guint, 1);
                g_hash_table_insert(host_booting, cohort_calendar_key(hp->host_id), on_host);
            }
            booting = MAX(*on_host, hp->booting);
            if (ahead > 0)
                hp->begin_at = cohort_pacing_begin_at(
                    hp->waiting->len + hp->booting + ahead, self->settings.boots_per_host,
                    (gint64)(hp->lead_s + 0.999), self->settings.margin_s, s->start);
            k = cohort_pacing_to_start(hp->waiting->len, booting, self->settings.boots_per_host,
                                       now, hp->begin_at);
            if (k == 0)
                continue;
            st = cohort_calendar_stats(self, cohort->id, s->start);
            for (guint i = 0; i < k; i++) {
                CohortMachineRow *m = g_ptr_array_index(hp->waiting, i);
                CohortCalendarBoot *boot = g_new0(CohortCalendarBoot, 1);
                g_autofree gchar *at =
                    cohort_timetable_format_local(s->start, cohort_timetable_get_tz(tt));
                g_autofree gchar *note = g_strdup_printf("started for the session at %s", at);
                if (cohort_work_inflight_contains(l->work, m->id)) {
                    g_free(boot);
                    continue;
                }
                (*on_host)++;
                boot->host_id = m->host_id;
                boot->cohort_id = cohort->id;
                boot->started_at = now;
                boot->session_start = s->start;
                boot->template_name = g_strdup(m->template_name);
                g_hash_table_insert(self->booting, cohort_calendar_key(m->id), boot);
                g_hash_table_insert(self->preloaded, cohort_calendar_key(m->id),
                                    g_memdup2(&s->start, sizeof(s->start)));
                cohort_calendar_push(l, m, COHORT_MACHINE_OP_START, note, NULL);
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "COHORT_COHORT", cohort->slug,
                                 "COHORT_MACHINE", m->name, "MESSAGE",
                                 "preload: starting %s, %" G_GINT64_FORMAT
                                 " s before its session (%u booting on its host)",
                                 m->name, s->start - now, *on_host);
                if (st->first_start == 0)
                    st->first_start = now;
            }
            st->max_booting_per_host = MAX(st->max_booting_per_host, *on_host);
        }
        /* machines running already for the session are its own: a trainee who stops theirs
         * in the session is not started again */
        for (guint i = 0; in_window && i < machines->len; i++) {
            CohortMachineRow *m = g_ptr_array_index(machines, i);
            if (m->cohort_id == cohort->id && g_strcmp0(m->state, "running") == 0)
                g_hash_table_replace(self->preloaded, cohort_calendar_key(m->id),
                                     g_memdup2(&s->start, sizeof(s->start)));
        }
    }
    if (prev != NULL && now < prev->end + grace)
        in_window = TRUE;

    /* after a session and its grace: shut down, but what the next session starts soon */
    stopped = g_hash_table_lookup(self->stopped_after, &cohort->id);
    if (prev != NULL && now >= prev->end + grace && (stopped == NULL || *stopped < prev->end) &&
        !in_window) {
        for (guint i = 0; i < machines->len; i++) {
            CohortMachineRow *m = g_ptr_array_index(machines, i);
            if (m->cohort_id != cohort->id ||
                (g_strcmp0(m->state, "running") != 0 && g_strcmp0(m->state, "starting") != 0))
                continue;
            if (cohort_calendar_outside_allowed(l, cohort, m->user_id, week, quota))
                continue;
            cohort_calendar_push(l, m, COHORT_MACHINE_OP_STOP,
                                 "shut down after the session; start it again when you need it",
                                 "machine.session-stop");
            g_hash_table_remove(self->booting, &m->id);
        }
        g_hash_table_replace(self->stopped_after, cohort_calendar_key(cohort->id),
                             g_memdup2(&prev->end, sizeof(prev->end)));
        return;
    }

    /* outside sessions: running time counts against the week's hours */
    if (in_window || elapsed <= 0)
        return;
    for (guint i = 0; i < machines->len; i++) {
        CohortMachineRow *m = g_ptr_array_index(machines, i);
        if (m->cohort_id != cohort->id || g_strcmp0(m->state, "running") != 0)
            continue;
        if (!cohort_store_outside_usage_add(l->store, cohort->id, m->user_id, week,
                                            (guint64)elapsed, &error)) {
            g_warning("calendar: %s: %s", m->name, error->message);
            g_clear_error(&error);
            continue;
        }
        if (!cohort_calendar_outside_allowed(l, cohort, m->user_id, week, quota) &&
            !cohort_work_inflight_contains(l->work, m->id))
            cohort_calendar_push(l, m, COHORT_MACHINE_OP_STOP,
                                 "shut down: this week's hours outside sessions are used up",
                                 "machine.outside-quota-stop");
    }
}

typedef struct {
    CohortCohortRow *cohort;
    gint64 next; /* its next session's start; G_MAXINT64: none */
} CohortCalendarOrder;

static gint
cohort_calendar_order_cmp(gconstpointer a, gconstpointer b)
{
    const CohortCalendarOrder *x = a;
    const CohortCalendarOrder *y = b;
    return (x->next > y->next) - (x->next < y->next);
}

void
cohort_calendar_tick(CohortLifecycle *l)
{
    CohortCalendar *self = l->calendar;
    g_autoptr(GPtrArray) cohorts = NULL;
    g_autoptr(GPtrArray) machines = NULL;
    g_autoptr(GHashTable) host_booting = NULL;
    g_autoptr(GHashTable) demand = NULL;
    g_autoptr(GArray) order = NULL;
    GHashTableIter iter;
    gpointer value;
    gint64 now;
    gint64 elapsed;

    if (self == NULL)
        return;
    now = cohort_calendar_now(self);
    elapsed =
        self->last_tick > 0 ? MIN(now - self->last_tick, 2 * (gint64)self->settings.interval_s) : 0;
    self->last_tick = now;
    cohort_calendar_check_booting(l, self, now);
    cohorts = cohort_store_cohort_list(l->store, 0, 0, NULL);
    machines = cohort_store_machine_list(l->store, 0, 0, 0, FALSE, NULL);
    if (cohorts == NULL || machines == NULL)
        return;
    /* what boots on each host now, whichever cohort it is for */
    host_booting = cohort_calendar_id_table(g_free);
    g_hash_table_iter_init(&iter, self->booting);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortCalendarBoot *boot = value;
        guint *n = g_hash_table_lookup(host_booting, &boot->host_id);
        if (n == NULL) {
            n = g_new0(guint, 1);
            g_hash_table_insert(host_booting, cohort_calendar_key(boot->host_id), n);
        }
        (*n)++;
    }
    /* every cohort's next session and what it needs booted, per host; then the cohorts in the
     * order of their sessions, the soonest first */
    demand = cohort_calendar_id_table((GDestroyNotify)g_array_unref);
    order = g_array_new(FALSE, FALSE, sizeof(CohortCalendarOrder));
    for (guint i = 0; i < cohorts->len; i++) {
        CohortCohortRow *cohort = g_ptr_array_index(cohorts, i);
        CohortCalendarOrder o = {.cohort = cohort, .next = G_MAXINT64};
        g_autoptr(GArray) sessions = NULL;
        const CohortSession *s;

        if (g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0)
            continue;
        if (cohort_calendar_load(l->store, cohort, self->settings.time_zone, NULL, &sessions,
                                 NULL) &&
            (s = cohort_sessions_current_or_next(sessions, now)) != NULL) {
            g_autoptr(GHashTable) plans =
                cohort_calendar_plan_hosts(self, l->store, cohort, machines, s, now);
            o.next = s->start;
            g_hash_table_iter_init(&iter, plans);
            while (g_hash_table_iter_next(&iter, NULL, &value)) {
                CohortCalendarHostPlan *hp = value;
                CohortCalendarDemand d = {s->start, cohort->id, hp->waiting->len + hp->booting};
                GArray *list = g_hash_table_lookup(demand, &hp->host_id);
                if (d.machines == 0 || s->start <= now)
                    continue;
                if (list == NULL) {
                    list = g_array_new(FALSE, FALSE, sizeof(CohortCalendarDemand));
                    g_hash_table_insert(demand, cohort_calendar_key(hp->host_id), list);
                }
                g_array_append_val(list, d);
            }
        }
        g_array_append_val(order, o);
    }
    g_array_sort(order, cohort_calendar_order_cmp);
    for (guint i = 0; i < order->len; i++)
        cohort_calendar_tick_cohort(l, self, g_array_index(order, CohortCalendarOrder, i).cohort,
                                    machines, now, elapsed, host_booting, demand);
}
