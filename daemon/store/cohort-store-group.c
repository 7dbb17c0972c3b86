/* A group commit: the machine requests of one turn of the main loop in one transaction.
 *
 * 200 trainees asking at once were 200 commits, each writing the WAL frames of the pages the
 * machine's indexes dirty: on these virtual disks the system calls of a request were most of
 * its time, and the turn's last answer was issue 14's p99 (bench/README.md, section 3). A
 * member writes in a savepoint of the group's transaction; its caller is told once that
 * transaction commits, on the main loop's next turn (a G_PRIORITY_HIGH source, dispatched
 * before any connection is read again). Nothing is answered, and no work pushed, before the
 * commit: intent is still written before libvirt is touched.
 *
 * Anything else that writes while a group is open (a transaction, a single statement, a
 * rollback) commits the group first, so nobody else's change waits for it or rides on it. */
#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-store-private.h"

typedef struct {
    CohortStoreGroupDone done;
    gpointer user_data;
    GDestroyNotify destroy;
    gboolean settled; /* its group's COMMIT ran; error set if it failed */
    GError *error;
} CohortStoreGroupWaiter;

static void
cohort_store_group_waiter_free(CohortStoreGroupWaiter *waiter)
{
    if (waiter->destroy != NULL)
        waiter->destroy(waiter->user_data);
    g_clear_error(&waiter->error);
    g_free(waiter);
}

void
cohort_store_group_flush(CohortStore *self)
{
    g_autoptr(GError) error = NULL;

    if (!self->group_open)
        return;
    /* closed first: the COMMIT (and a ROLLBACK after a failed one) is the group's own */
    self->group_open = FALSE;
    if (!cohort_store_commit(self, &error))
        g_warning("store %s: a group of requests was not committed: %s", self->path,
                  error->message);
    for (GList *l = self->group_waiting.head; l != NULL; l = l->next) {
        CohortStoreGroupWaiter *waiter = l->data;
        if (waiter->settled)
            continue;
        waiter->settled = TRUE;
        if (error != NULL)
            waiter->error = g_error_copy(error);
    }
}

void
cohort_store_group_settle(CohortStore *self)
{
    CohortStoreGroupWaiter *waiter;

    g_return_if_fail(self != NULL);

    if (self->group_source != NULL) {
        g_source_destroy(self->group_source);
        g_clear_pointer(&self->group_source, g_source_unref);
    }
    cohort_store_group_flush(self);
    /* a callback may open a new group; its members wait for their own commit */
    while ((waiter = g_queue_peek_head(&self->group_waiting)) != NULL && waiter->settled) {
        g_queue_pop_head(&self->group_waiting);
        waiter->done(waiter->error, waiter->user_data);
        cohort_store_group_waiter_free(waiter);
    }
}

static gboolean
cohort_store_group_due(gpointer user_data)
{
    CohortStore *self = user_data;

    g_clear_pointer(&self->group_source, g_source_unref);
    cohort_store_group_settle(self);
    return G_SOURCE_REMOVE;
}

static void
cohort_store_group_schedule(CohortStore *self)
{
    if (self->group_source != NULL)
        return;
    self->group_source = g_idle_source_new();
    g_source_set_priority(self->group_source, G_PRIORITY_HIGH);
    g_source_set_callback(self->group_source, cohort_store_group_due, self, NULL);
    g_source_set_static_name(self->group_source, "cohort-store-group");
    g_source_attach(self->group_source, g_main_context_get_thread_default());
}

gboolean
cohort_store_group_join(CohortStore *self, GError **error)
{
    g_return_val_if_fail(self != NULL, FALSE);
    g_return_val_if_fail(!self->group_member, FALSE);

    if (!self->group_open) {
        /* a transaction of someone else's in the middle of the turn is a bug: the store is
         * the main loop's, and its transactions end before they return to it */
        g_return_val_if_fail(self->depth == 0, FALSE);
        if (!cohort_store_begin(self, error))
            return FALSE;
        self->group_open = TRUE;
    }
    cohort_store_group_schedule(self);
    /* the member's own part, which its cohort_store_commit() or _rollback() ends */
    self->group_member = TRUE;
    if (!cohort_store_begin(self, error)) {
        self->group_member = FALSE;
        return FALSE;
    }
    return TRUE;
}

void
cohort_store_group_wait(CohortStore *self, CohortStoreGroupDone done, gpointer user_data,
                        GDestroyNotify destroy)
{
    CohortStoreGroupWaiter *waiter = g_new0(CohortStoreGroupWaiter, 1);

    g_return_if_fail(self != NULL);
    g_return_if_fail(done != NULL);

    waiter->done = done;
    waiter->user_data = user_data;
    waiter->destroy = destroy;
    /* nothing of a member's is open: it was committed before the group began or with it */
    waiter->settled = !self->group_open;
    g_queue_push_tail(&self->group_waiting, waiter);
    cohort_store_group_schedule(self);
}

gboolean
cohort_store_group_is_open(CohortStore *self)
{
    g_return_val_if_fail(self != NULL, FALSE);

    return self->group_open;
}

void
cohort_store_group_free(CohortStore *self)
{
    if (self->group_source != NULL) {
        g_source_destroy(self->group_source);
        g_clear_pointer(&self->group_source, g_source_unref);
    }
    cohort_store_group_flush(self);
    /* told no more: what they would tell (an answer, work) has gone before the store */
    g_queue_clear_full(&self->group_waiting, (GDestroyNotify)cohort_store_group_waiter_free);
}
