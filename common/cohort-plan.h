/* A capacity plan's arithmetic, pure: where a cohort's machines would go (placement's rules:
 * spread or pack, capacity times the overcommit ratio, the pool's space), and what each host
 * must run at the busiest moment of the cohort's sessions, with the other cohorts' sessions
 * on the same hosts. The service gathers the figures; this decides. */
#pragma once

#include <glib.h>

#include "cohort-timetable.h"

G_BEGIN_DECLS

typedef struct {
    const gchar *name;
    gboolean usable;           /* up and holding the template's base */
    const gchar *why_unusable; /* said in "missing" when nothing could be placed */
    guint64 vcpus_allowed;     /* capacity x ratio */
    guint64 memory_allowed_mib;
    guint64 disk_allowed_mib; /* 0: the pool's size is not known (no disk check) */
    guint64 capacity_vcpus;   /* before the ratio, for the answer */
    guint64 capacity_memory_mib;
    /* what placement counts now: every living machine placed there */
    guint machines;
    guint64 used_vcpus;
    guint64 used_memory_mib;
    guint64 used_disk_mib;
} CohortPlanHost;

typedef struct {
    guint cohort; /* index into the cohorts */
    gint host;    /* index into the hosts; -1: not placed yet (the plan places it) */
    guint vcpus;
    guint64 memory_mib;
    guint64 disk_mib;
} CohortPlanMachine;

typedef struct {
    const gchar *slug;
    GArray *sessions; /* of CohortSession, sorted; a cohort without a timetable: its dates */
    gboolean pack;    /* placement "pack", else "spread" */
} CohortPlanCohort;

typedef struct {
    gchar *host;     /* NULL: not about one host */
    gchar *resource; /* "vcpus", "memory_mib", "disk_mib" or "placement" */
    guint64 need;    /* how much more */
    guint64 have;    /* what is allowed there */
    gint64 at;       /* the moment it is short (a session's start); 0: throughout */
    gchar *message;  /* for a person */
} CohortPlanMissing;

typedef struct {
    guint64 peak_vcpus; /* at the busiest moment of the target's sessions */
    guint64 peak_memory_mib;
    guint64 peak_disk_mib; /* planned disk of every machine placed there (disk is held) */
    gint64 busiest_start;  /* the target's session with the peak; 0 when none */
    gint64 busiest_end;
    guint new_machines; /* the target's machines the plan placed here */
} CohortPlanHostResult;

typedef struct {
    gboolean fits;
    GArray *hosts;      /* of CohortPlanHostResult, one per host, in the hosts' order */
    GPtrArray *missing; /* of CohortPlanMissing */
} CohortPlanResult;

void cohort_plan_result_free(CohortPlanResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortPlanResult, cohort_plan_result_free)

/* @machines: every cohort's machines (those placed, and those to place: the target's, and the
 * other cohorts' trainees still without one, in that order of priority). @target: the cohort
 * whose plan this is (its index). Machines to place are placed in order, each on the host
 * the policy picks among the usable ones with room (what placement counts, plus what the plan
 * placed before); a machine that fits nowhere is missing. Then, at the start of each of the
 * target's sessions and of every other session that begins inside one, each host's running
 * demand is the sum of the machines there of every cohort in session then. */
CohortPlanResult *cohort_plan_compute(const CohortPlanHost *hosts, guint n_hosts,
                                      const CohortPlanCohort *cohorts, guint n_cohorts,
                                      GArray *machines, guint target);

/* Preload pacing, pure. @n machines on one host, at most @boots booting at once, each taking
 * @lead_s from start to ready: when the first must start for the last to be ready @margin_s
 * before @session_start. */
gint64 cohort_pacing_begin_at(guint n, guint boots, gint64 lead_s, gint64 margin_s,
                              gint64 session_start);
/* How many of @waiting machines to start now, with @booting booting: none before @begin_at,
 * then as many as free slots allow. */
guint cohort_pacing_to_start(guint waiting, guint booting, guint boots, gint64 now,
                             gint64 begin_at);
/* When the last of @waiting (not started) and @booting machines is ready, started as soon as
 * a slot frees, from @now (or @begin_at when that is later). */
gint64 cohort_pacing_eta(guint waiting, guint booting, guint boots, gint64 lead_s, gint64 now,
                         gint64 begin_at);
/* The median of @n samples (sorted in place); @fallback when there is none. */
gdouble cohort_pacing_median(gdouble *samples, guint n, gdouble fallback);

G_END_DECLS
