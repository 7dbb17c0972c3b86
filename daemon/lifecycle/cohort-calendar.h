/* The course calendar at work: before each session of a cohort, its stopped machines are
 * started early enough to be ready at the start, at most boots_per_host booting at once on a
 * host; after the session and a grace, they are shut down gracefully (a trainee may keep
 * theirs running within the cohort's hours a week outside sessions). The lead time is the
 * rolling median of what was measured from start to ready, per template and host. The clock
 * is injectable (tests). */
#pragma once

#include <glib.h>

#include "cohort-hosts.h"
#include "cohort-store.h"
#include "cohort-timetable.h"

G_BEGIN_DECLS

typedef struct {
    gchar *time_zone;     /* of cohorts that name none */
    guint boots_per_host; /* at once, per host */
    guint grace_minutes;  /* after a session */
    guint lead_s;         /* start-to-ready before any measurement */
    guint margin_s;       /* the last machine ready this long before the start */
    guint interval_s;     /* how often the calendar looks */
} CohortCalendarSettings;

/* Unix seconds. */
typedef gint64 (*CohortCalendarClock)(gpointer user_data);

/* How many measurements the rolling median takes (and the store keeps). */
#define COHORT_CALENDAR_SAMPLES 9

typedef struct _CohortCalendar CohortCalendar;
struct _CohortLifecycle;

CohortCalendar *cohort_calendar_new(const CohortCalendarSettings *settings);
void cohort_calendar_free(CohortCalendar *self);
/* Tests: another clock. NULL: the real one; for tests only, $COHORT_TEST_CLOCK_OFFSET_S
 * shifts it and $COHORT_TEST_CLOCK_SCALE (1 to 1000) makes it run that much faster from
 * cohortd's start (a warning says so). */
void cohort_calendar_set_clock(CohortCalendar *self, CohortCalendarClock clock, gpointer user_data);
gint64 cohort_calendar_now(CohortCalendar *self);
const CohortCalendarSettings *cohort_calendar_get_settings(CohortCalendar *self);

/* The hosts whose URIs say which machines have a guest to report readiness (test:/// hosts
 * have none). Without them (unit tests) every host is taken for the test driver. */
void cohort_calendar_set_hosts(CohortCalendar *self, CohortHosts *hosts);
/* The one place that says whether a machine is ready, and since when (Unix seconds on the
 * calendar's clock, @now when it is seen so; 0: not ready): a running machine whose guest
 * agent connected (or whose agent-less guest took its lease), or on libvirt's test driver,
 * which runs no guest, a running one. */
gint64 cohort_calendar_machine_ready_at(CohortCalendar *self, const CohortMachineRow *row,
                                        gint64 now);
/* The rule itself, for a machine on the host of @host_uri (NULL: the test driver's). */
gint64 cohort_calendar_ready_on(const CohortMachineRow *row, const gchar *host_uri, gint64 now);

/* A cohort's timetable and its sessions within its dates (@time_zone_out: the zone used). */
gboolean cohort_calendar_load(CohortStore *store, const CohortCohortRow *cohort,
                              const gchar *default_time_zone, CohortTimetable **timetable,
                              GArray **sessions, GError **error);
/* The start-to-ready lead time of @template_name on @host_id: the median of the last
 * measurements, the default before any. */
gdouble cohort_calendar_lead_s(CohortCalendar *self, CohortStore *store, const gchar *template_name,
                               gint64 host_id);

/* What the calendar does for a cohort now, for trainers: "none" (no session left), "waiting"
 * (until begin_at), "starting", "ready", "in-session". */
typedef struct {
    const gchar *state;
    gint64 session_start; /* 0: none */
    gint64 session_end;
    gint64 begin_at;    /* when the first machine starts */
    gint64 window_from; /* the preload's window opens (as if every machine had to boot) */
    gint64 eta;         /* when the last is ready (estimated, or as measured once all are) */
    guint machines;     /* the cohort's machines the preload concerns */
    guint ready;
    guint booting;
    guint max_booting_per_host; /* the most seen booting at once on one host, this session */
    gint64 first_start;         /* measured, this session; 0: none yet */
    gint64 last_ready;
} CohortCalendarStatus;

gboolean cohort_calendar_status(CohortCalendar *self, CohortStore *store,
                                const CohortCohortRow *cohort, CohortCalendarStatus *status,
                                GError **error);

/* One look: starts what a session needs, stops what a session left, counts the hours outside
 * sessions. */
void cohort_calendar_tick(struct _CohortLifecycle *l);

G_END_DECLS
