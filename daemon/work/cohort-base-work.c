#define G_LOG_DOMAIN "cohort-base-work"

#include "config.h"

#include "cohort-base-work.h"
#include "cohort-crash.h"
#include "cohort-error.h"

void
cohort_base_target_free(CohortBaseTarget *target)
{
    if (target == NULL)
        return;
    g_free(target->host);
    g_free(target);
}

typedef enum {
    COHORT_BASE_OP_UPLOAD,
    COHORT_BASE_OP_BLANK,
    COHORT_BASE_OP_REMOVE,
} CohortBaseOp;

/* One host's item of a base job. */
typedef struct {
    CohortWork *owner;
    CohortBaseOp op;
    gint64 job_id;
    gint64 host_id;
    gchar *host_name;
    CohortProvisioner *prov; /* borrowed: hosts outlive the workers */
    CohortTemplate *tmpl;    /* a reference: a reload may replace the daemon's meanwhile */
    gchar *volume;
    gchar *path;              /* the image, for an upload */
    gchar *sha256;            /* what it hashed to */
    gboolean replace;         /* a partial upload of an earlier try is there: made again */
    CohortTransfer *transfer; /* borrowed from the work layer */
    gchar *hold;              /* the tests' hold point after the first bytes */
    gboolean held;
    guint64 sent;
} CohortBaseWork;

static void
cohort_base_work_free(CohortBaseWork *work)
{
    if (work == NULL)
        return;
    g_free(work->host_name);
    if (work->tmpl != NULL)
        cohort_template_unref(work->tmpl);
    g_free(work->volume);
    g_free(work->path);
    g_free(work->sha256);
    g_free(work->hold);
    g_free(work);
}

/* The image, hashed in a worker before any host gets it: the job's first step. */
typedef struct {
    CohortWork *owner;
    gint64 job_id;
    CohortTemplate *tmpl;
    gchar *path;
    gchar *sha256; /* the result */
    guint64 size;
    GPtrArray *items; /* of CohortBaseWork, pushed once the hash is known */
} CohortBaseHash;

static void
cohort_base_hash_free(CohortBaseHash *hash)
{
    cohort_template_unref(hash->tmpl);
    g_free(hash->path);
    g_free(hash->sha256);
    g_ptr_array_unref(hash->items);
    g_free(hash);
}

static gchar *
cohort_base_work_key(gint64 host_id, const gchar *volume)
{
    return g_strdup_printf("%" G_GINT64_FORMAT "/%s", host_id, volume);
}

/* Worker thread: progress as the bytes go; the tests hold an upload here, after its first
 * bytes, to cut its host off mid-way. */
static void
cohort_base_work_progress(guint64 done, guint64 total, gpointer user_data)
{
    CohortBaseWork *work = user_data;

    cohort_transfer_set_bytes(work->transfer, done, total);
    work->sent = done;
    if (done > 0 && !work->held) {
        work->held = TRUE;
        cohort_crash_hold(work->hold);
    }
}

/* Worker thread: libvirt only. */
static gboolean
cohort_base_work_run(gpointer item, GError **error)
{
    CohortBaseWork *work = item;
    gboolean ok = FALSE;

    cohort_transfer_set_state(work->transfer, COHORT_TRANSFER_SENDING);
    switch (work->op) {
    case COHORT_BASE_OP_UPLOAD:
        ok = cohort_provisioner_volume_upload(work->prov, work->volume, work->path, work->sha256,
                                              work->replace, cohort_base_work_progress, work,
                                              work->owner->cancellable, error);
        break;
    case COHORT_BASE_OP_BLANK:
        ok =
            (!work->replace || cohort_provisioner_volume_delete(work->prov, work->volume, error)) &&
            cohort_provisioner_base_ensure_blank(work->prov, work->tmpl, error);
        if (ok) {
            guint64 size = cohort_template_get_disk_mib(work->tmpl) * 1024 * 1024;
            cohort_transfer_set_bytes(work->transfer, size, size);
        }
        break;
    case COHORT_BASE_OP_REMOVE:
        ok = cohort_provisioner_volume_delete(work->prov, work->volume, error);
        break;
    }
    cohort_transfer_set_state(work->transfer, ok ? COHORT_TRANSFER_DONE : COHORT_TRANSFER_FAILED);
    return ok;
}

/* Main context: the host holds the base, or does not, and the store says so. */
static void
cohort_base_work_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortBaseWork *work = item;
    CohortWork *w = work->owner;
    CohortHost *host = cohort_hosts_lookup_by_id(w->hosts, work->host_id);
    g_autofree gchar *key = cohort_base_work_key(work->host_id, work->volume);
    g_autoptr(GError) error_local = NULL;
    gboolean lost =
        error != NULL && g_error_matches(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE);

    g_hash_table_remove(w->sending, key);
    if (work->op == COHORT_BASE_OP_REMOVE) {
        if (error == NULL) {
            if (host != NULL)
                cohort_host_set_base(host, work->volume, FALSE);
            if (!cohort_store_host_base_set(w->store, work->host_id, work->volume, "removed",
                                            &error_local))
                g_warning("base %s on %s: %s", work->volume, work->host_name, error_local->message);
            g_message("removed base %s from host %s", work->volume, work->host_name);
        }
    } else if (error == NULL) {
        if (host != NULL)
            cohort_host_set_base(host, work->volume, TRUE);
        if (!cohort_store_host_base_set(w->store, work->host_id, work->volume, "present",
                                        &error_local))
            g_warning("base %s on %s: %s", work->volume, work->host_name, error_local->message);
        g_message("base %s is on host %s (%" G_GUINT64_FORMAT " bytes sent%s)", work->volume,
                  work->host_name, work->sent, work->sha256 != NULL ? ", checked" : "");
    } else if (!lost) {
        /* the failed upload removed what it made: nothing is left to redo */
        if (!cohort_store_host_base_delete(w->store, work->host_id, work->volume, &error_local))
            g_warning("base %s on %s: %s", work->volume, work->host_name, error_local->message);
    }
    /* a lost host keeps "uploading": what it holds is partial, and is made again when the
     * host is back (cohort_base_work_sync_host) */
    if (error != NULL)
        g_warning("base %s on host %s: %s%s", work->volume, work->host_name, error->message,
                  lost ? " (uploaded again from the start when the host is back)" : "");
    cohort_work_job_item_settle(w, work->job_id, work->host_name, NULL, error, work->sent);
}

static void
cohort_base_work_push(CohortWork *w, CohortBaseWork *work)
{
    cohort_jobs_push(w->jobs, cohort_base_work_run, cohort_base_work_done, work,
                     (GDestroyNotify)cohort_base_work_free, NULL);
}

/* An item for @host; for an upload or a blank base, the host's record says "uploading" before
 * the first byte goes (intent first: a crash leaves a base that is made again). */
static CohortBaseWork *
cohort_base_work_new(CohortWork *w, CohortBaseOp op, gint64 job_id, CohortHost *host,
                     CohortTemplate *tmpl, const gchar *volume, guint64 size, gboolean replace)
{
    CohortBaseWork *work = g_new0(CohortBaseWork, 1);
    g_autoptr(GError) error_local = NULL;

    work->owner = w;
    work->op = op;
    work->job_id = job_id;
    work->host_id = host->id;
    work->host_name = g_strdup(host->name);
    work->prov = host->prov;
    work->tmpl = cohort_template_ref(tmpl);
    work->volume = g_strdup(volume);
    work->replace = replace;
    work->hold = g_strdup_printf("upload-%s", host->name);
    work->transfer = cohort_work_transfer_new(w, job_id, host->name, NULL, size);
    g_hash_table_add(w->sending, cohort_base_work_key(host->id, volume));
    if (op != COHORT_BASE_OP_REMOVE &&
        !cohort_store_host_base_set(w->store, host->id, volume, "uploading", &error_local))
        g_warning("base %s on %s: %s", volume, host->name, error_local->message);
    /* the host no longer counts as holding it: a partial base is never used */
    if (op != COHORT_BASE_OP_REMOVE)
        cohort_host_set_base(host, volume, FALSE);
    return work;
}

/* Worker thread. */
static gboolean
cohort_base_hash_run(gpointer item, GError **error)
{
    CohortBaseHash *hash = item;

    for (guint i = 0; i < hash->items->len; i++)
        cohort_transfer_set_state(((CohortBaseWork *)g_ptr_array_index(hash->items, i))->transfer,
                                  COHORT_TRANSFER_CHECKING);
    hash->sha256 =
        cohort_provision_file_sha256(hash->path, &hash->size, hash->owner->cancellable, error);
    if (hash->sha256 == NULL)
        g_prefix_error(error, "reading %s: ", hash->path);
    return hash->sha256 != NULL;
}

/* Main context: the image's checksum is recorded with where it came from, and the uploads
 * go; or every host's item fails with the reason. */
static void
cohort_base_hash_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortBaseHash *hash = item;
    CohortWork *w = hash->owner;
    g_autoptr(GError) error_local = NULL;

    if (error == NULL) {
        CohortBaseRow row = {
            .volume = (gchar *)cohort_template_get_base_volume(hash->tmpl),
            .source = hash->path,
            .size_bytes = hash->size,
            .sha256 = hash->sha256,
        };
        if (!cohort_store_base_set(w->store, &row, &error_local))
            g_warning("base %s: %s", row.volume, error_local->message);
        g_message("image %s: %" G_GUINT64_FORMAT " bytes, SHA-256 %s", hash->path, hash->size,
                  hash->sha256);
    }
    for (guint i = 0; i < hash->items->len; i++) {
        CohortBaseWork *work = g_ptr_array_index(hash->items, i);
        g_ptr_array_index(hash->items, i) = NULL;
        if (error != NULL) {
            cohort_transfer_set_state(work->transfer, COHORT_TRANSFER_FAILED);
            cohort_base_work_done(work, error, NULL);
            cohort_base_work_free(work);
            continue;
        }
        work->sha256 = g_strdup(hash->sha256);
        cohort_transfer_set_bytes(work->transfer, 0, hash->size);
        cohort_transfer_set_state(work->transfer, COHORT_TRANSFER_QUEUED);
        cohort_base_work_push(w, work);
    }
}

/* Pushes @items: through the hash first for an upload. */
static void
cohort_base_work_start(CohortWork *w, gint64 job_id, CohortTemplate *tmpl, const gchar *path,
                       GPtrArray *items)
{
    CohortBaseHash *hash;

    if (path == NULL) {
        for (guint i = 0; i < items->len; i++)
            cohort_base_work_push(w, g_ptr_array_index(items, i));
        g_ptr_array_set_free_func(items, NULL);
        return;
    }
    hash = g_new0(CohortBaseHash, 1);
    hash->owner = w;
    hash->job_id = job_id;
    hash->tmpl = cohort_template_ref(tmpl);
    hash->path = g_strdup(path);
    hash->items = g_ptr_array_ref(items);
    for (guint i = 0; i < items->len; i++) {
        CohortBaseWork *work = g_ptr_array_index(items, i);
        work->path = g_strdup(path);
    }
    g_ptr_array_set_free_func(items, (GDestroyNotify)cohort_base_work_free);
    cohort_jobs_push(w->jobs, cohort_base_hash_run, cohort_base_hash_done, hash,
                     (GDestroyNotify)cohort_base_hash_free, NULL);
}

static gint64
cohort_base_work_job_new(CohortWork *w, const CohortUserRow *actor, const gchar *kind,
                         const gchar *target, guint total, guint64 bytes_total, GError **error)
{
    g_autoptr(CohortJobRow) job = g_new0(CohortJobRow, 1);

    job->kind = g_strdup(kind);
    job->user_id = actor != NULL ? actor->id : 0;
    job->target = g_strdup(target);
    job->state = g_strdup(total == 0 ? "done" : "queued");
    job->total = total;
    job->bytes_total = bytes_total;
    if (total == 0)
        job->finished_at = cohort_store_now();
    if (!cohort_store_job_insert(w->store, job, error))
        return 0;
    return job->id;
}

gint64
cohort_base_work_install(CohortWork *w, const CohortUserRow *actor, CohortTemplate *tmpl,
                         const gchar *path, GPtrArray **targets, GError **error)
{
    const gchar *volume = cohort_template_get_base_volume(tmpl);
    g_autoptr(GPtrArray) list =
        g_ptr_array_new_with_free_func((GDestroyNotify)cohort_base_target_free);
    g_autoptr(GPtrArray) items = g_ptr_array_new();
    g_autoptr(GPtrArray) chosen = g_ptr_array_new();
    g_autoptr(GPtrArray) hosts = cohort_hosts_list(w->hosts);
    guint64 size = 0;
    gint64 job_id;

    if (path != NULL) {
        g_autoptr(GFile) file = g_file_new_for_path(path);
        g_autoptr(GFileInfo) info = g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                      G_FILE_QUERY_INFO_NONE, NULL, error);
        if (info == NULL)
            return 0;
        size = (guint64)g_file_info_get_size(info);
    } else {
        CohortBaseRow row = {.volume = (gchar *)volume,
                             .size_bytes = cohort_template_get_disk_mib(tmpl) * 1024 * 1024};
        /* a blank base is made alike anywhere: hosts added later get one too */
        if (!cohort_store_base_set(w->store, &row, error))
            return 0;
        size = row.size_bytes;
    }
    for (guint i = 0; i < hosts->len; i++) {
        CohortHost *host = g_ptr_array_index(hosts, i);
        CohortBaseTarget *target = g_new0(CohortBaseTarget, 1);
        g_autofree gchar *key = cohort_base_work_key(host->id, volume);

        target->host = g_strdup(host->name);
        g_ptr_array_add(list, target);
        if (!cohort_host_is_usable(host) || g_strcmp0(host->state, "up") != 0) {
            target->state = "pending";
            continue;
        }
        if (cohort_host_has_base(host, tmpl)) {
            target->state = "present";
            continue;
        }
        if (g_hash_table_contains(w->sending, key)) {
            target->state = "sending";
            continue;
        }
        target->state = "queued";
        g_ptr_array_add(chosen, host);
    }
    job_id = cohort_base_work_job_new(w, actor, "base", cohort_template_get_name(tmpl), chosen->len,
                                      size * chosen->len, error);
    if (job_id == 0)
        return 0;
    for (guint i = 0; i < chosen->len; i++) {
        CohortHost *host = g_ptr_array_index(chosen, i);
        /* a volume there that the host does not count as a base is an upload cut short */
        g_ptr_array_add(items, cohort_base_work_new(
                                   w, path != NULL ? COHORT_BASE_OP_UPLOAD : COHORT_BASE_OP_BLANK,
                                   job_id, host, tmpl, volume, size, TRUE));
    }
    if (items->len > 0)
        cohort_base_work_start(w, job_id, tmpl, path, items);
    if (targets != NULL)
        *targets = g_steal_pointer(&list);
    return job_id;
}

/* The templates cohorts use now (not reclaimed), by base volume: volume -> a template. */
static GHashTable *
cohort_base_work_used_bases(CohortWork *w)
{
    g_autoptr(GPtrArray) cohorts = cohort_store_cohort_list(w->store, 0, 0, NULL);
    GHashTable *used = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; cohorts != NULL && i < cohorts->len; i++) {
        CohortCohortRow *cohort = g_ptr_array_index(cohorts, i);
        CohortTemplate *tmpl = g_hash_table_lookup(w->templates, cohort->template_name);
        if (tmpl == NULL || g_strcmp0(cohort_store_cohort_state(cohort), "reclaimed") == 0)
            continue;
        g_hash_table_insert(used, (gpointer)cohort_template_get_base_volume(tmpl), tmpl);
    }
    return used;
}

gint64
cohort_base_work_sync_host(CohortWork *w, CohortHost *host)
{
    g_autoptr(GHashTable) used = NULL;
    g_autoptr(GHashTable) recorded = NULL;
    g_autoptr(GPtrArray) uploads = g_ptr_array_new();
    g_autoptr(GPtrArray) blanks = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    GHashTableIter iter;
    gpointer key;
    gpointer value;
    guint64 bytes = 0;
    gint64 job_id;

    if (g_strcmp0(host->state, "up") != 0 || host->prov == NULL)
        return 0;
    used = cohort_base_work_used_bases(w);
    recorded = cohort_store_host_base_list(w->store, host->id, &error);
    if (recorded == NULL) {
        g_warning("host %s: %s", host->name, error->message);
        return 0;
    }
    /* what was cut short on this host is made again, used or not */
    g_hash_table_iter_init(&iter, recorded);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (g_strcmp0(value, "uploading") == 0 && !g_hash_table_contains(used, key)) {
            GHashTableIter t;
            gpointer tmpl;
            g_hash_table_iter_init(&t, w->templates);
            while (g_hash_table_iter_next(&t, NULL, &tmpl)) {
                if (g_strcmp0(cohort_template_get_base_volume(tmpl), key) == 0) {
                    g_hash_table_insert(used, key, tmpl);
                    break;
                }
            }
        }
    }
    g_hash_table_iter_init(&iter, used);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        const gchar *volume = key;
        const gchar *state = g_hash_table_lookup(recorded, volume);
        g_autofree gchar *sending = cohort_base_work_key(host->id, volume);
        g_autoptr(CohortBaseRow) base = NULL;

        if (g_hash_table_contains(host->bases, volume) || g_strcmp0(state, "removed") == 0 ||
            g_hash_table_contains(w->sending, sending))
            continue;
        base = cohort_store_base_get(w->store, volume, NULL);
        /* a base from before cohortd recorded where they come from: an admin installs it */
        if (base == NULL)
            continue;
        g_ptr_array_add(base->source != NULL ? uploads : blanks, value);
        bytes += base->size_bytes;
    }
    if (uploads->len + blanks->len == 0)
        return 0;
    job_id = cohort_base_work_job_new(w, NULL, "base-sync", host->name, uploads->len + blanks->len,
                                      bytes, &error);
    if (job_id == 0) {
        g_warning("host %s: %s", host->name, error->message);
        return 0;
    }
    g_message("host %s lacks %u bases that cohorts use: installing them (job %" G_GINT64_FORMAT ")",
              host->name, uploads->len + blanks->len, job_id);
    for (guint i = 0; i < blanks->len; i++) {
        CohortTemplate *tmpl = g_ptr_array_index(blanks, i);
        g_autoptr(GPtrArray) items = g_ptr_array_new();
        g_ptr_array_add(
            items, cohort_base_work_new(w, COHORT_BASE_OP_BLANK, job_id, host, tmpl,
                                        cohort_template_get_base_volume(tmpl),
                                        cohort_template_get_disk_mib(tmpl) * 1024 * 1024, TRUE));
        cohort_base_work_start(w, job_id, tmpl, NULL, items);
    }
    for (guint i = 0; i < uploads->len; i++) {
        CohortTemplate *tmpl = g_ptr_array_index(uploads, i);
        g_autoptr(CohortBaseRow) base =
            cohort_store_base_get(w->store, cohort_template_get_base_volume(tmpl), NULL);
        g_autoptr(GPtrArray) items = g_ptr_array_new();
        g_ptr_array_add(items, cohort_base_work_new(w, COHORT_BASE_OP_UPLOAD, job_id, host, tmpl,
                                                    base->volume, base->size_bytes, TRUE));
        /* hashed again: the file may have changed since it was installed */
        cohort_base_work_start(w, job_id, tmpl, base->source, items);
    }
    return job_id;
}

gint64
cohort_base_work_remove(CohortWork *w, const CohortUserRow *actor, CohortTemplate *tmpl,
                        const gchar *const *sharing, CohortHost *host, GError **error)
{
    const gchar *volume = cohort_template_get_base_volume(tmpl);
    g_autofree gchar *key = cohort_base_work_key(host->id, volume);
    g_autofree gchar *target = NULL;
    guint users = 0;
    gint64 job_id;

    if (!cohort_host_is_usable(host)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                    "host %s is %s (%s): its base can be removed once it is connected", host->name,
                    host->state, host->last_error != NULL ? host->last_error : "not connected");
        return 0;
    }
    if (!cohort_store_host_base_count_users(w->store, host->id, sharing, &users, error))
        return 0;
    if (users > 0) {
        g_autofree gchar *names = g_strjoinv(", ", (gchar **)sharing);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "%u machine%s on host %s %s made from base %s (template%s %s): reclaim or "
                    "release %s, or move %s to another host ('cohortctl machine move'), then "
                    "remove the base",
                    users, users == 1 ? "" : "s", host->name, users == 1 ? "is" : "are", volume,
                    g_strv_length((gchar **)sharing) == 1 ? "" : "s", names,
                    users == 1 ? "it" : "them", users == 1 ? "it" : "them");
        return 0;
    }
    if (g_hash_table_contains(w->sending, key)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT,
                    "base %s is being uploaded to host %s: remove it when that is done", volume,
                    host->name);
        return 0;
    }
    target = g_strdup_printf("%s@%s", cohort_template_get_name(tmpl), host->name);
    job_id = cohort_base_work_job_new(w, actor, "base-remove", target, 1, 0, error);
    if (job_id == 0)
        return 0;
    /* no new machine is made on it meanwhile */
    cohort_host_set_base(host, volume, FALSE);
    cohort_base_work_push(
        w, cohort_base_work_new(w, COHORT_BASE_OP_REMOVE, job_id, host, tmpl, volume, 0, FALSE));
    return job_id;
}
