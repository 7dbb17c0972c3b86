/* A cohort's reclaim as a job: asked by its trainer or an admin, or by the reaper when a
 * course is over. */
#define G_LOG_DOMAIN "cohort-machine-work"

#include "config.h"

#include "cohort-machine-work.h"
#include "cohort-reclaim.h"

/* A reclaim of a thousand machines queued a thousand teardowns at once, each a copy of its
 * machine (~1 KiB), while every domain was still up: the top of cohortd's peak (issue 14).
 * Its machines go to the workers this many ahead of the results instead, each row read as
 * its turn comes. */
#define COHORT_RECLAIM_AHEAD 64

typedef struct {
    gint64 job_id;
    GArray *machine_ids; /* of the job's machines that had no work under way, by id */
    guint next;          /* the first not queued yet */
    guint out;           /* queued, their results not back yet */
} CohortReclaimFeed;

static void
cohort_reclaim_feed_free(CohortReclaimFeed *feed)
{
    g_array_unref(feed->machine_ids);
    g_free(feed);
}

GHashTable *
cohort_reclaim_feeds_new(void)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                 (GDestroyNotify)cohort_reclaim_feed_free);
}

static gint
cohort_reclaim_id_cmp(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a;
    gint64 y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

gboolean
cohort_reclaim_feeds_hold(CohortWork *w, gint64 machine_id)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, w->reclaim_feeds);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortReclaimFeed *feed = value;
        GArray *ids = feed->machine_ids;
        if (feed->next < ids->len &&
            bsearch(&machine_id, &g_array_index(ids, gint64, feed->next), ids->len - feed->next,
                    sizeof(gint64), cohort_reclaim_id_cmp) != NULL)
            return TRUE;
    }
    return FALSE;
}

/* Queues machine @id's teardown in job @job_id, read from the store now; FALSE when it could
 * not be queued, and is counted in the job so (its row gone, or failed, not stuck in
 * reclaiming: a later reclaim tries it again). */
static gboolean
cohort_reclaim_queue(CohortWork *w, gint64 job_id, gint64 id)
{
    g_autoptr(GError) error_local = NULL;
    g_autoptr(CohortMachineRow) m = cohort_store_machine_get_by_id(w->store, id, &error_local);

    if (m == NULL) {
        g_autofree gchar *name = g_strdup_printf("machine %" G_GINT64_FORMAT, id);
        cohort_machine_work_job_count(w, job_id, id, name, error_local);
        return FALSE;
    }
    if (!cohort_machine_work_push(w, m, COHORT_MACHINE_OP_TEARDOWN, job_id, &error_local)) {
        cohort_machine_work_fail_unqueued(w, job_id, m, error_local);
        return FALSE;
    }
    return TRUE;
}

/* Queues the feed's next machines; the feed goes once nothing of it is left or out. When
 * cohortd stops, what is not queued stays reclaiming: the job goes on after the restart, like
 * work the stop kept from running. */
static void
cohort_reclaim_feed_fill(CohortWork *w, CohortReclaimFeed *feed)
{
    guint ahead = MAX(COHORT_RECLAIM_AHEAD, 2 * w->settings.workers);
    gint64 job_id = feed->job_id;

    while (feed->out < ahead && feed->next < feed->machine_ids->len &&
           !cohort_jobs_is_stopping(w->jobs)) {
        gint64 id = g_array_index(feed->machine_ids, gint64, feed->next);

        /* counted past before it is queued: held no longer, whatever happens to it */
        feed->next++;
        if (cohort_reclaim_queue(w, job_id, id))
            feed->out++;
    }
    if (feed->out == 0 &&
        (feed->next >= feed->machine_ids->len || cohort_jobs_is_stopping(w->jobs)))
        g_hash_table_remove(w->reclaim_feeds, &feed->job_id);
}

void
cohort_reclaim_feeds_settled(CohortWork *w, gint64 job_id)
{
    CohortReclaimFeed *feed = g_hash_table_lookup(w->reclaim_feeds, &job_id);

    if (feed == NULL || feed->out == 0)
        return;
    feed->out--;
    cohort_reclaim_feed_fill(w, feed);
}

gint64
cohort_work_cohort_reclaim(CohortWork *w, const CohortUserRow *actor, CohortCohortRow *cohort,
                           GError **error)
{
    g_autoptr(GArray) ids = NULL;
    g_autoptr(GArray) lazy = g_array_new(FALSE, FALSE, sizeof(gint64));
    CohortReclaimFeed *feed;
    const gchar *who = actor != NULL ? actor->login : "system";
    const gchar *slug = cohort->slug;
    gint64 job_id;

    /* intent first, in one transaction: the job and its machines, the cohort that takes no new
     * machines from now on, and every row saying reclaiming before libvirt is touched */
    if (!cohort_store_begin(w->store, error))
        return 0;
    ids = cohort_store_machine_list_live_ids(w->store, cohort->id, error);
    if (ids == NULL) {
        cohort_store_rollback(w->store);
        return 0;
    }
    job_id = cohort_machine_work_job_new(w, actor, "reclaim", slug, ids->len, error);
    if (job_id == 0) {
        cohort_store_rollback(w->store);
        return 0;
    }
    g_free(cohort->state);
    cohort->state = g_strdup("reclaimed");
    /* the job's machines and their state, a statement each */
    if (!cohort_store_cohort_update(w->store, cohort, error) ||
        !cohort_store_job_machines_insert_cohort(w->store, job_id, cohort->id, error) ||
        !cohort_store_job_machines_set_state(w->store, job_id, "reclaiming", error) ||
        !cohort_store_commit(w->store, error)) {
        cohort_store_rollback(w->store);
        return 0;
    }
    /* a machine in a worker's hands is torn down after that work, and the work waiting behind
     * it is dropped: its teardown is queued now, behind it (the row says reclaiming, and
     * nothing else starts work on it); the others are fed */
    for (guint i = 0; i < ids->len; i++) {
        gint64 id = g_array_index(ids, gint64, i);
        if (cohort_work_inflight_contains(w, id))
            cohort_reclaim_queue(w, job_id, id);
        else
            g_array_append_val(lazy, id);
    }
    if (ids->len == 0)
        cohort_machine_work_reclaim_empty(w, job_id);
    feed = g_new0(CohortReclaimFeed, 1);
    feed->job_id = job_id;
    feed->machine_ids = g_steal_pointer(&lazy);
    g_hash_table_insert(w->reclaim_feeds, &feed->job_id, feed);
    cohort_reclaim_feed_fill(w, feed);
    cohort_store_audit_record(w->store, who, "cohort.reclaim", slug, NULL);
    return job_id;
}
