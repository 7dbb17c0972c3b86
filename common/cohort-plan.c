#define G_LOG_DOMAIN "cohort-plan"

#include "config.h"

#include <stdlib.h>

#include "cohort-plan.h"

static void
cohort_plan_missing_free(CohortPlanMissing *m)
{
    g_free(m->host);
    g_free(m->resource);
    g_free(m->message);
    g_free(m);
}

void
cohort_plan_result_free(CohortPlanResult *result)
{
    if (result == NULL)
        return;
    if (result->hosts != NULL)
        g_array_unref(result->hosts);
    if (result->missing != NULL)
        g_ptr_array_unref(result->missing);
    g_free(result);
}

typedef struct {
    guint machines;
    guint64 vcpus;
    guint64 memory_mib;
    guint64 disk_mib;
} CohortPlanUse;

/* placement's order: spread takes the least loaded (then the fewest machines), pack the most
 * loaded that still fits; ties go to the host listed first */
static gboolean
cohort_plan_better(gboolean pack, gdouble load, guint machines, gdouble best_load,
                   guint best_machines)
{
    if (load < best_load - 1e-9)
        return !pack;
    if (load > best_load + 1e-9)
        return pack;
    if (!pack && machines != best_machines)
        return machines < best_machines;
    return FALSE;
}

static gint
cohort_plan_place(const CohortPlanHost *hosts, guint n_hosts, CohortPlanUse *use,
                  const CohortPlanMachine *m, gboolean pack, GString *why)
{
    gint best = -1;
    gdouble best_load = 0;

    for (guint h = 0; h < n_hosts; h++) {
        const CohortPlanHost *host = &hosts[h];
        guint64 v = host->used_vcpus + use[h].vcpus + m->vcpus;
        guint64 mem = host->used_memory_mib + use[h].memory_mib + m->memory_mib;
        guint64 disk = host->used_disk_mib + use[h].disk_mib + m->disk_mib;
        gdouble load;

        if (why != NULL && why->len > 0)
            g_string_append(why, "; ");
        if (!host->usable) {
            if (why != NULL)
                g_string_append_printf(why, "%s: %s", host->name,
                                       host->why_unusable != NULL ? host->why_unusable
                                                                  : "not usable");
            continue;
        }
        if (v > host->vcpus_allowed || mem > host->memory_allowed_mib ||
            (host->disk_allowed_mib > 0 && disk > host->disk_allowed_mib)) {
            if (why != NULL) {
                if (v > host->vcpus_allowed)
                    g_string_append_printf(why, "%s: vCPUs full (%" G_GUINT64_FORMAT " allowed)",
                                           host->name, host->vcpus_allowed);
                else if (mem > host->memory_allowed_mib)
                    g_string_append_printf(why,
                                           "%s: memory full (%" G_GUINT64_FORMAT " MiB allowed)",
                                           host->name, host->memory_allowed_mib);
                else
                    g_string_append_printf(why, "%s: disk full (%" G_GUINT64_FORMAT " MiB allowed)",
                                           host->name, host->disk_allowed_mib);
            }
            continue;
        }
        if (why != NULL)
            g_string_append_printf(why, "%s: room", host->name);
        load = MAX((gdouble)v / (gdouble)MAX(host->vcpus_allowed, 1),
                   (gdouble)mem / (gdouble)MAX(host->memory_allowed_mib, 1));
        if (host->disk_allowed_mib > 0)
            load = MAX(load, (gdouble)disk / (gdouble)host->disk_allowed_mib);
        if (best < 0 || cohort_plan_better(pack, load, host->machines + use[h].machines, best_load,
                                           hosts[best].machines + use[best].machines)) {
            best = (gint)h;
            best_load = load;
        }
    }
    return best;
}

static gboolean
cohort_plan_in_session(GArray *sessions, gint64 t)
{
    for (guint i = 0; sessions != NULL && i < sessions->len; i++) {
        const CohortSession *s = &g_array_index(sessions, CohortSession, i);
        if (s->start <= t && t < s->end)
            return TRUE;
        if (s->start > t)
            break;
    }
    return FALSE;
}

static void
cohort_plan_add_missing(CohortPlanResult *r, const gchar *host, const gchar *resource, guint64 need,
                        guint64 have, gint64 at, gchar *message)
{
    CohortPlanMissing *m = g_new0(CohortPlanMissing, 1);

    m->host = g_strdup(host);
    m->resource = g_strdup(resource);
    m->need = need;
    m->have = have;
    m->at = at;
    m->message = message;
    g_ptr_array_add(r->missing, m);
}

CohortPlanResult *
cohort_plan_compute(const CohortPlanHost *hosts, guint n_hosts, const CohortPlanCohort *cohorts,
                    guint n_cohorts, GArray *machines, guint target)
{
    CohortPlanResult *r = g_new0(CohortPlanResult, 1);
    g_autofree CohortPlanUse *use = g_new0(CohortPlanUse, MAX(n_hosts, 1));
    /* per cohort and host: what runs there while the cohort is in session */
    g_autofree CohortPlanUse *load = g_new0(CohortPlanUse, MAX(n_hosts * n_cohorts, 1));
    g_autofree gint *placed = g_new0(gint, MAX(machines->len, 1));
    guint unplaced = 0;
    const CohortPlanMachine *first_unplaced = NULL;
    g_autoptr(GString) why = g_string_new(NULL);
    g_autoptr(GString) why_first = g_string_new(NULL);

    r->hosts = g_array_sized_new(FALSE, TRUE, sizeof(CohortPlanHostResult), n_hosts);
    g_array_set_size(r->hosts, n_hosts);
    r->missing = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_plan_missing_free);

    /* the machines to place, as placement would, the target's first */
    for (guint pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < machines->len; i++) {
            const CohortPlanMachine *m = &g_array_index(machines, CohortPlanMachine, i);
            gint h;
            if (m->host >= 0 || m->cohort >= n_cohorts || (pass == 0) != (m->cohort == target))
                continue;
            g_string_truncate(why, 0);
            h = cohort_plan_place(hosts, n_hosts, use, m, cohorts[m->cohort].pack, why);
            placed[i] = h;
            if (h < 0) {
                if (m->cohort == target) {
                    if (first_unplaced == NULL) {
                        first_unplaced = m;
                        g_string_assign(why_first, why->str);
                    }
                    unplaced++;
                }
                continue;
            }
            use[h].machines++;
            use[h].vcpus += m->vcpus;
            use[h].memory_mib += m->memory_mib;
            use[h].disk_mib += m->disk_mib;
            if (m->cohort == target)
                g_array_index(r->hosts, CohortPlanHostResult, h).new_machines++;
        }
    }
    for (guint i = 0; i < machines->len; i++) {
        const CohortPlanMachine *m = &g_array_index(machines, CohortPlanMachine, i);
        gint h = m->host >= 0 ? m->host : placed[i];
        CohortPlanUse *u;
        if (h < 0 || (guint)h >= n_hosts || m->cohort >= n_cohorts)
            continue;
        u = &load[m->cohort * n_hosts + (guint)h];
        u->machines++;
        u->vcpus += m->vcpus;
        u->memory_mib += m->memory_mib;
    }
    if (unplaced > 0) {
        cohort_plan_add_missing(
            r, NULL, "placement", unplaced, 0, 0,
            g_strdup_printf(
                "%u machine%s of cohort '%s' (%u vCPU%s, %" G_GUINT64_FORMAT
                " MiB of memory, %" G_GUINT64_FORMAT " MiB of disk each) fit on no host: %s",
                unplaced, unplaced == 1 ? "" : "s", cohorts[target].slug, first_unplaced->vcpus,
                first_unplaced->vcpus == 1 ? "" : "s", first_unplaced->memory_mib,
                first_unplaced->disk_mib, n_hosts == 0 ? "there is no host" : why_first->str));
    }

    /* each host at the busiest moment of the target's sessions */
    for (guint h = 0; h < n_hosts; h++) {
        CohortPlanHostResult *hr = &g_array_index(r->hosts, CohortPlanHostResult, h);
        const CohortPlanHost *host = &hosts[h];
        gdouble best_load = -1;
        gint64 vcpus_at = 0;
        gint64 memory_at = 0;
        GArray *own = cohorts[target].sessions;

        hr->peak_disk_mib = host->used_disk_mib + use[h].disk_mib;
        for (guint s = 0; own != NULL && s < own->len; s++) {
            const CohortSession *ts = &g_array_index(own, CohortSession, s);
            g_autoptr(GArray) moments = g_array_new(FALSE, FALSE, sizeof(gint64));
            gdouble session_load = 0;
            g_array_append_val(moments, ts->start);
            for (guint c = 0; c < n_cohorts; c++) {
                GArray *other = cohorts[c].sessions;
                if (c == target)
                    continue;
                for (guint k = 0; other != NULL && k < other->len; k++) {
                    const CohortSession *os = &g_array_index(other, CohortSession, k);
                    if (os->start > ts->start && os->start < ts->end)
                        g_array_append_val(moments, os->start);
                }
            }
            for (guint k = 0; k < moments->len; k++) {
                gint64 t = g_array_index(moments, gint64, k);
                guint64 v = 0;
                guint64 mem = 0;
                gdouble l;
                for (guint c = 0; c < n_cohorts; c++) {
                    if (c != target && !cohort_plan_in_session(cohorts[c].sessions, t))
                        continue;
                    v += load[c * n_hosts + h].vcpus;
                    mem += load[c * n_hosts + h].memory_mib;
                }
                if (v > hr->peak_vcpus) {
                    hr->peak_vcpus = v;
                    vcpus_at = t;
                }
                if (mem > hr->peak_memory_mib) {
                    hr->peak_memory_mib = mem;
                    memory_at = t;
                }
                l = MAX((gdouble)v / (gdouble)MAX(host->vcpus_allowed, 1),
                        (gdouble)mem / (gdouble)MAX(host->memory_allowed_mib, 1));
                session_load = MAX(session_load, l);
            }
            if (session_load > best_load + 1e-9) {
                best_load = session_load;
                hr->busiest_start = ts->start;
                hr->busiest_end = ts->end;
            }
        }
        if (hr->peak_vcpus > host->vcpus_allowed) {
            g_autofree gchar *at = cohort_timetable_format_utc(vcpus_at);
            cohort_plan_add_missing(r, host->name, "vcpus", hr->peak_vcpus - host->vcpus_allowed,
                                    host->vcpus_allowed, vcpus_at,
                                    g_strdup_printf("host %s: %" G_GUINT64_FORMAT
                                                    " more vCPUs at %s (%" G_GUINT64_FORMAT
                                                    " run then, %" G_GUINT64_FORMAT " allowed)",
                                                    host->name,
                                                    hr->peak_vcpus - host->vcpus_allowed, at,
                                                    hr->peak_vcpus, host->vcpus_allowed));
        }
        if (hr->peak_memory_mib > host->memory_allowed_mib) {
            g_autofree gchar *at = cohort_timetable_format_utc(memory_at);
            cohort_plan_add_missing(
                r, host->name, "memory_mib", hr->peak_memory_mib - host->memory_allowed_mib,
                host->memory_allowed_mib, memory_at,
                g_strdup_printf("host %s: %" G_GUINT64_FORMAT
                                " MiB more memory at %s (%" G_GUINT64_FORMAT
                                " MiB run then, %" G_GUINT64_FORMAT " MiB allowed)",
                                host->name, hr->peak_memory_mib - host->memory_allowed_mib, at,
                                hr->peak_memory_mib, host->memory_allowed_mib));
        }
        if (host->disk_allowed_mib > 0 && hr->peak_disk_mib > host->disk_allowed_mib)
            cohort_plan_add_missing(
                r, host->name, "disk_mib", hr->peak_disk_mib - host->disk_allowed_mib,
                host->disk_allowed_mib, 0,
                g_strdup_printf("host %s: %" G_GUINT64_FORMAT
                                " MiB more disk in its pool (%" G_GUINT64_FORMAT
                                " MiB planned, %" G_GUINT64_FORMAT " MiB allowed)",
                                host->name, hr->peak_disk_mib - host->disk_allowed_mib,
                                hr->peak_disk_mib, host->disk_allowed_mib));
    }
    r->fits = r->missing->len == 0;
    return r;
}

gint64
cohort_pacing_begin_at(guint n, guint boots, gint64 lead_s, gint64 margin_s, gint64 session_start)
{
    guint waves = n == 0 ? 0 : (n + MAX(boots, 1) - 1) / MAX(boots, 1);

    return session_start - margin_s - (gint64)waves * lead_s;
}

guint
cohort_pacing_to_start(guint waiting, guint booting, guint boots, gint64 now, gint64 begin_at)
{
    if (now < begin_at || booting >= MAX(boots, 1))
        return 0;
    return MIN(waiting, MAX(boots, 1) - booting);
}

gint64
cohort_pacing_eta(guint waiting, guint booting, guint boots, gint64 lead_s, gint64 now,
                  gint64 begin_at)
{
    guint waves = (waiting + booting + MAX(boots, 1) - 1) / MAX(boots, 1);

    return MAX(now, begin_at) + (gint64)waves * lead_s;
}

static gint
cohort_pacing_cmp(gconstpointer a, gconstpointer b)
{
    gdouble x = *(const gdouble *)a;
    gdouble y = *(const gdouble *)b;
    return (x > y) - (x < y);
}

gdouble
cohort_pacing_median(gdouble *samples, guint n, gdouble fallback)
{
    if (n == 0)
        return fallback;
    qsort(samples, n, sizeof(gdouble), cohort_pacing_cmp);
    return n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2.0;
}
