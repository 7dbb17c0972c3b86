#define G_LOG_DOMAIN "cohort-rate-limit"

#include "config.h"

#include "cohort-rate-limit.h"

typedef struct {
    gchar *client;
    gdouble tokens;    /* left, at @updated_us */
    gint64 updated_us; /* when @tokens was computed, also the age for eviction */
    guint64 failed;    /* since the last report */
    guint64 refused;
} CohortRateLimitEntry;

struct _CohortRateLimit {
    gdouble capacity;
    gdouble per_us; /* tokens back per microsecond */
    guint max_clients;
    GHashTable *entries; /* client -> CohortRateLimitEntry */
    guint64 failed_total;
    guint64 refused_total;
};

static void
cohort_rate_limit_entry_free(CohortRateLimitEntry *entry)
{
    g_free(entry->client);
    g_free(entry);
}

CohortRateLimit *
cohort_rate_limit_new(guint per_minute, guint max_clients)
{
    CohortRateLimit *self = g_new0(CohortRateLimit, 1);

    self->capacity = MAX(per_minute, 1);
    self->per_us = self->capacity / (60.0 * G_USEC_PER_SEC);
    self->max_clients = MAX(max_clients, 1);
    self->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)cohort_rate_limit_entry_free);
    return self;
}

void
cohort_rate_limit_free(CohortRateLimit *self)
{
    if (self == NULL)
        return;
    g_hash_table_unref(self->entries);
    g_free(self);
}

/* Brings @entry's tokens to @now_us. */
static void
cohort_rate_limit_refill(CohortRateLimit *self, CohortRateLimitEntry *entry, gint64 now_us)
{
    if (now_us > entry->updated_us) {
        entry->tokens = MIN(self->capacity,
                            entry->tokens + (gdouble)(now_us - entry->updated_us) * self->per_us);
        entry->updated_us = now_us;
    }
}

/* Room for one more entry: first the entries that owe nothing (all tokens back, nothing to
 * report), else the one touched longest ago. */
static void
cohort_rate_limit_make_room(CohortRateLimit *self, gint64 now_us)
{
    GHashTableIter iter;
    gpointer value;
    CohortRateLimitEntry *oldest = NULL;

    g_hash_table_iter_init(&iter, self->entries);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortRateLimitEntry *entry = value;
        cohort_rate_limit_refill(self, entry, now_us);
        if (entry->tokens >= self->capacity && entry->failed == 0 && entry->refused == 0)
            g_hash_table_iter_remove(&iter);
        else if (oldest == NULL || entry->updated_us < oldest->updated_us)
            oldest = entry;
    }
    if (g_hash_table_size(self->entries) >= self->max_clients && oldest != NULL)
        g_hash_table_remove(self->entries, oldest->client);
}

gboolean
cohort_rate_limit_is_blocked(CohortRateLimit *self, const gchar *client, gint64 now_us,
                             guint *retry_after_s)
{
    CohortRateLimitEntry *entry = g_hash_table_lookup(self->entries, client);

    if (entry == NULL)
        return FALSE;
    cohort_rate_limit_refill(self, entry, now_us);
    if (entry->tokens >= 1.0)
        return FALSE;
    if (retry_after_s != NULL)
        *retry_after_s = MAX(1, (guint)((1.0 - entry->tokens) / self->per_us / G_USEC_PER_SEC + 1));
    return TRUE;
}

void
cohort_rate_limit_fail(CohortRateLimit *self, const gchar *client, gint64 now_us)
{
    CohortRateLimitEntry *entry = g_hash_table_lookup(self->entries, client);

    if (entry == NULL) {
        if (g_hash_table_size(self->entries) >= self->max_clients)
            cohort_rate_limit_make_room(self, now_us);
        entry = g_new0(CohortRateLimitEntry, 1);
        entry->client = g_strdup(client);
        entry->tokens = self->capacity;
        entry->updated_us = now_us;
        g_hash_table_insert(self->entries, entry->client, entry);
    }
    cohort_rate_limit_refill(self, entry, now_us);
    entry->tokens = MAX(0.0, entry->tokens - 1.0);
    entry->failed++;
    self->failed_total++;
}

void
cohort_rate_limit_refused(CohortRateLimit *self, const gchar *client)
{
    CohortRateLimitEntry *entry = g_hash_table_lookup(self->entries, client);

    if (entry != NULL)
        entry->refused++;
    self->refused_total++;
}

static gint
cohort_rate_limit_busiest_first(gconstpointer a, gconstpointer b)
{
    const CohortRateLimitEntry *ea = *(const CohortRateLimitEntry *const *)a;
    const CohortRateLimitEntry *eb = *(const CohortRateLimitEntry *const *)b;
    guint64 na = ea->failed + ea->refused;
    guint64 nb = eb->failed + eb->refused;

    if (na != nb)
        return na > nb ? -1 : 1;
    return g_strcmp0(ea->client, eb->client);
}

gchar *
cohort_rate_limit_take_report(CohortRateLimit *self, guint64 *failed, guint64 *refused)
{
    g_autoptr(GPtrArray) busy = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;
    guint64 n_failed = 0;
    guint64 n_refused = 0;
    GString *text;

    g_hash_table_iter_init(&iter, self->entries);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortRateLimitEntry *entry = value;
        if (entry->failed == 0 && entry->refused == 0)
            continue;
        n_failed += entry->failed;
        n_refused += entry->refused;
        g_ptr_array_add(busy, entry);
    }
    if (failed != NULL)
        *failed = n_failed;
    if (refused != NULL)
        *refused = n_refused;
    if (busy->len == 0)
        return NULL;
    g_ptr_array_sort(busy, cohort_rate_limit_busiest_first);
    text = g_string_new(NULL);
    g_string_append_printf(
        text,
        "%" G_GUINT64_FORMAT " failed, %" G_GUINT64_FORMAT " refused, from %u address%s:", n_failed,
        n_refused, busy->len, busy->len == 1 ? "" : "es");
    for (guint i = 0; i < busy->len; i++) {
        CohortRateLimitEntry *entry = g_ptr_array_index(busy, i);
        if (i < 5) {
            g_string_append_printf(text, "%s %s (%" G_GUINT64_FORMAT " failed", i > 0 ? "," : "",
                                   entry->client, entry->failed);
            if (entry->refused > 0)
                g_string_append_printf(text, ", %" G_GUINT64_FORMAT " refused", entry->refused);
            g_string_append_c(text, ')');
        }
        entry->failed = 0;
        entry->refused = 0;
    }
    if (busy->len > 5)
        g_string_append_printf(text, " and %u more", busy->len - 5);
    return g_string_free(text, FALSE);
}

guint64
cohort_rate_limit_get_failed_total(CohortRateLimit *self)
{
    return self->failed_total;
}

guint64
cohort_rate_limit_get_refused_total(CohortRateLimit *self)
{
    return self->refused_total;
}

gchar *
cohort_rate_limit_client_key(GSocketAddress *address)
{
    GInetAddress *inet;

    if (!G_IS_INET_SOCKET_ADDRESS(address))
        return g_strdup("unknown");
    inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address));
    if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6) {
        const guint8 *bytes = g_inet_address_to_bytes(inet);
        /* an IPv4-mapped address is the IPv4 client it maps */
        static const guint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(bytes, mapped, sizeof(mapped)) == 0)
            return g_strdup_printf("%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
        return g_strdup_printf("%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", bytes[0], bytes[1],
                               bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
    }
    return g_inet_address_to_string(inet);
}
