#define G_LOG_DOMAIN "cohort-work"

#include "config.h"

#include "cohort-error.h"
#include "cohort-machine-work.h"
#include "cohort-reclaim.h"
#include "cohort-work.h"

static void
cohort_transfer_free(CohortTransfer *transfer)
{
    g_free(transfer->host);
    g_free(transfer->machine);
    g_free(transfer);
}

/* The results of a batch of work in one transaction (each machine's own is a savepoint in
 * it): a commit per finished machine was a fifth of a reclaim's instructions. */
static void
cohort_work_batch_begin(gpointer data)
{
    CohortWork *self = data;
    g_autoptr(GError) error = NULL;

    self->batch_tx = cohort_store_begin(self->store, &error);
    if (!self->batch_tx)
        g_warning("recording results: %s", error->message);
    self->batch_jobs = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                             (GDestroyNotify)cohort_job_row_free);
    self->batch_freed = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
}

static void
cohort_work_batch_end(gpointer data)
{
    CohortWork *self = data;
    g_autoptr(GError) error = NULL;

    if (self->batch_jobs != NULL) {
        cohort_machine_work_batch_flush(self);
        g_clear_pointer(&self->batch_jobs, g_hash_table_unref);
        g_clear_pointer(&self->batch_freed, g_hash_table_unref);
    }
    if (self->batch_tx && !cohort_store_commit(self->store, &error))
        g_warning("recording results: %s", error->message);
    self->batch_tx = FALSE;
}

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
    self->busy_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->settled_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    self->settled = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    self->progress = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                           (GDestroyNotify)g_ptr_array_unref);
    self->sending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->cancellable = g_cancellable_new();
    self->reclaim_feeds = cohort_reclaim_feeds_new();
    self->jobs = cohort_jobs_new(MAX(settings->workers, 1), context);
    cohort_jobs_set_batch(self->jobs, cohort_work_batch_begin, cohort_work_batch_end, self);
    return self;
}

void
cohort_work_free(CohortWork *self)
{
    if (self == NULL)
        return;
    /* work waiting behind other work joins the queue, which fails what it still holds */
    cohort_machine_work_release_waiting(self);
    /* transfers under way give up (a partial base is uploaded again at the next start) */
    g_cancellable_cancel(self->cancellable);
    /* workers first: they use the hosts' provisioners and the templates */
    cohort_jobs_free(self->jobs);
    g_hash_table_unref(self->reclaim_feeds);
    g_hash_table_unref(self->progress);
    g_hash_table_unref(self->sending);
    g_object_unref(self->cancellable);
    g_hash_table_unref(self->waiting);
    g_hash_table_unref(self->inflight);
    g_hash_table_unref(self->busy_names);
    g_hash_table_unref(self->settled_names);
    g_hash_table_unref(self->settled);
    g_main_context_unref(self->context);
    g_free(self->settings.vnc_listen);
    g_free(self->instance_id);
    g_free(self);
}

void
cohort_work_inflight_add(CohortWork *self, gint64 machine_id, const gchar *domain_name)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->inflight, &machine_id));
    g_hash_table_replace(self->inflight, g_memdup2(&machine_id, sizeof(machine_id)),
                         GUINT_TO_POINTER(n + 1));
    if (domain_name != NULL) {
        n = GPOINTER_TO_UINT(g_hash_table_lookup(self->busy_names, domain_name));
        g_hash_table_replace(self->busy_names, g_strdup(domain_name), GUINT_TO_POINTER(n + 1));
    }
}

typedef struct {
    gint64 usec;
    guint made;
} CohortWorkSettled;

/* Forgets the names settled long enough ago, when there are many. */
static void
cohort_work_settled_names_prune(CohortWork *self, gint64 now)
{
    GHashTableIter iter;
    gpointer when;

    if (g_hash_table_size(self->settled_names) < 1024)
        return;
    g_hash_table_iter_init(&iter, self->settled_names);
    while (g_hash_table_iter_next(&iter, NULL, &when)) {
        if (now - ((CohortWorkSettled *)when)->usec > COHORT_WORK_SETTLED_RECENT_MS * 1000)
            g_hash_table_iter_remove(&iter);
    }
}

gboolean
cohort_work_event_is_own(CohortWork *self, const gchar *domain_name, guint kind)
{
    const CohortWorkSettled *settled;

    if (g_hash_table_contains(self->busy_names, domain_name))
        return TRUE;
    settled = g_hash_table_lookup(self->settled_names, domain_name);
    return settled != NULL && kind != 0 && (settled->made & kind) == kind &&
           g_get_monotonic_time() - settled->usec <= COHORT_WORK_SETTLED_RECENT_MS * 1000;
}

void
cohort_work_inflight_remove(CohortWork *self, gint64 machine_id, const gchar *domain_name,
                            guint made)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->inflight, &machine_id));

    if (domain_name != NULL) {
        guint busy = GPOINTER_TO_UINT(g_hash_table_lookup(self->busy_names, domain_name));
        gint64 now = g_get_monotonic_time();
        if (busy <= 1)
            g_hash_table_remove(self->busy_names, domain_name);
        else
            g_hash_table_replace(self->busy_names, g_strdup(domain_name),
                                 GUINT_TO_POINTER(busy - 1));
        CohortWorkSettled settled = {.usec = now, .made = made};
        cohort_work_settled_names_prune(self, now);
        g_hash_table_replace(self->settled_names, g_strdup(domain_name),
                             g_memdup2(&settled, sizeof(settled)));
    }

    self->epoch++;
    /* only a scan under way asks; a scan that starts later takes an epoch past this one */
    if (self->epoch_holds > 0)
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
    return g_hash_table_contains(self->inflight, &machine_id) ||
           cohort_reclaim_feeds_hold(self, machine_id);
}

guint64
cohort_work_epoch_hold(CohortWork *self)
{
    self->epoch_holds++;
    return self->epoch;
}

void
cohort_work_epoch_release(CohortWork *self)
{
    g_return_if_fail(self->epoch_holds > 0);
    /* every epoch recorded is at or below the current one: no later scan can ask about it */
    if (--self->epoch_holds == 0)
        g_hash_table_remove_all(self->settled);
}

guint
cohort_work_settled_count(CohortWork *self)
{
    return g_hash_table_size(self->settled);
}

gboolean
cohort_work_settled_since(CohortWork *self, gint64 machine_id, guint64 epoch)
{
    const guint64 *settled = g_hash_table_lookup(self->settled, &machine_id);
    return settled != NULL && *settled > epoch;
}

static const gchar *const cohort_transfer_states[] = {
    [COHORT_TRANSFER_QUEUED] = "queued",   [COHORT_TRANSFER_CHECKING] = "checking",
    [COHORT_TRANSFER_SENDING] = "sending", [COHORT_TRANSFER_DONE] = "done",
    [COHORT_TRANSFER_FAILED] = "failed",
};

const gchar *
cohort_transfer_state_to_string(CohortTransferState state)
{
    g_return_val_if_fail(state <= COHORT_TRANSFER_FAILED, "unknown");
    return cohort_transfer_states[state];
}

CohortTransfer *
cohort_work_transfer_new(CohortWork *self, gint64 job_id, const gchar *host, const gchar *machine,
                         guint64 bytes_total)
{
    GPtrArray *list = g_hash_table_lookup(self->progress, &job_id);
    CohortTransfer *transfer = g_new0(CohortTransfer, 1);

    if (list == NULL) {
        list = g_ptr_array_new_with_free_func((GDestroyNotify)cohort_transfer_free);
        g_hash_table_insert(self->progress, g_memdup2(&job_id, sizeof(job_id)), list);
    }
    transfer->host = g_strdup(host);
    transfer->machine = g_strdup(machine);
    transfer->bytes_total = (gint64)bytes_total;
    g_ptr_array_add(list, transfer);
    return transfer;
}

void
cohort_transfer_set_state(CohortTransfer *transfer, CohortTransferState state)
{
    if (state == COHORT_TRANSFER_SENDING && g_atomic_pointer_get(&transfer->started_usec) == 0)
        g_atomic_pointer_set(&transfer->started_usec, g_get_monotonic_time());
    if (state == COHORT_TRANSFER_DONE || state == COHORT_TRANSFER_FAILED)
        g_atomic_pointer_set(&transfer->finished_usec, g_get_monotonic_time());
    g_atomic_int_set(&transfer->state, state);
}

void
cohort_transfer_set_bytes(CohortTransfer *transfer, guint64 done, guint64 total)
{
    g_atomic_pointer_set(&transfer->bytes_done, (gint64)done);
    g_atomic_pointer_set(&transfer->bytes_total, (gint64)total);
}

GPtrArray *
cohort_work_transfer_list(CohortWork *self, gint64 job_id)
{
    return g_hash_table_lookup(self->progress, &job_id);
}

void
cohort_work_job_item_settle(CohortWork *self, gint64 job_id, const gchar *host,
                            const gchar *machine, const GError *error, guint64 bytes)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(CohortJobRow) job = cohort_store_job_get(self->store, job_id, &error_local);

    if (job == NULL) {
        g_warning("job %" G_GINT64_FORMAT ": %s", job_id, error_local->message);
        return;
    }
    if (error != NULL) {
        job->failed++;
        cohort_store_job_error_insert_host(self->store, job_id, host, machine,
                                           cohort_error_code_to_string(error->domain == COHORT_ERROR
                                                                           ? error->code
                                                                           : COHORT_ERROR_INTERNAL),
                                           error->message, NULL);
    } else {
        job->done++;
    }
    job->bytes_done += bytes;
    g_free(job->state);
    if (job->done + job->failed >= job->total) {
        job->state = g_strdup(job->failed > 0 && job->done == 0 ? "failed" : "done");
        g_free(job->finished_at);
        job->finished_at = cohort_store_now();
        g_message("job %" G_GINT64_FORMAT " (%s %s) finished: %u done, %u failed", job->id,
                  job->kind, job->target, job->done, job->failed);
    } else {
        job->state = g_strdup("running");
    }
    if (!cohort_store_job_update(self->store, job, &error_local))
        g_warning("job %" G_GINT64_FORMAT ": %s", job_id, error_local->message);
}
