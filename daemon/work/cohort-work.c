#define G_LOG_DOMAIN "cohort-work"

#include "config.h"

#include "cohort-machine-work.h"
#include "cohort-work.h"

CohortWork *
cohort_work_new(CohortStore *store, CohortHosts *hosts, GHashTable *templates,
                const gchar *instance_id, const CohortWorkSettings *settings, GMainContext *context)
{
    CohortWork *self = g_new0(CohortWork, 1);

    self->store = store;
    self->hosts = hosts;
    self->templates = templates;
    self->instance_id = g_strdup(instance_id);
    self->context = g_main_context_ref(context);
    self->settings = *settings;
    self->settings.vnc_listen = g_strdup(settings->vnc_listen);
    self->inflight = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    self->waiting = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    self->settled = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    self->jobs = cohort_jobs_new(MAX(settings->workers, 1), context);
    return self;
}

void
cohort_work_free(CohortWork *self)
{
    if (self == NULL)
        return;
    /* work waiting behind other work joins the queue, which fails what it still holds */
    cohort_machine_work_release_waiting(self);
    /* workers first: they use the hosts' provisioners and the templates */
    cohort_jobs_free(self->jobs);
    g_hash_table_unref(self->waiting);
    g_hash_table_unref(self->inflight);
    g_hash_table_unref(self->settled);
    g_main_context_unref(self->context);
    g_free(self->settings.vnc_listen);
    g_free(self->instance_id);
    g_free(self);
}

void
cohort_work_inflight_add(CohortWork *self, gint64 machine_id)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->inflight, &machine_id));
    g_hash_table_replace(self->inflight, g_memdup2(&machine_id, sizeof(machine_id)),
                         GUINT_TO_POINTER(n + 1));
}

void
cohort_work_inflight_remove(CohortWork *self, gint64 machine_id)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->inflight, &machine_id));

    self->epoch++;
    g_hash_table_replace(self->settled, g_memdup2(&machine_id, sizeof(machine_id)),
                         g_memdup2(&self->epoch, sizeof(self->epoch)));
    if (n <= 1)
        g_hash_table_remove(self->inflight, &machine_id);
    else
        g_hash_table_replace(self->inflight, g_memdup2(&machine_id, sizeof(machine_id)),
                             GUINT_TO_POINTER(n - 1));
}

gboolean
cohort_work_inflight_contains(CohortWork *self, gint64 machine_id)
{
    return g_hash_table_contains(self->inflight, &machine_id);
}

guint64
cohort_work_epoch(CohortWork *self)
{
    return self->epoch;
}

gboolean
cohort_work_settled_since(CohortWork *self, gint64 machine_id, guint64 epoch)
{
    const guint64 *settled = g_hash_table_lookup(self->settled, &machine_id);
    return settled != NULL && *settled > epoch;
}
