/* Failed authentications per client address: a bad token or a wrong invitation code costs
 * its address one of @per_minute tokens, which come back at @per_minute a minute. An address
 * without tokens left is refused before anything is checked, so codes cannot be guessed at
 * speed. Successes cost nothing: a class behind one NAT address that redeems its codes
 * correctly is never slowed down. The table is bounded (@max_clients): when it is full, the
 * entries that have recovered every token are dropped first, then the oldest. Times are
 * monotonic microseconds, passed in, so tests drive the clock. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _CohortRateLimit CohortRateLimit;

CohortRateLimit *cohort_rate_limit_new(guint per_minute, guint max_clients);
void cohort_rate_limit_free(CohortRateLimit *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortRateLimit, cohort_rate_limit_free)

/* TRUE when @client has no token left; @retry_after_s then says when one is back (>= 1). */
gboolean cohort_rate_limit_is_blocked(CohortRateLimit *self, const gchar *client, gint64 now_us,
                                      guint *retry_after_s);
/* One failure of @client. */
void cohort_rate_limit_fail(CohortRateLimit *self, const gchar *client, gint64 now_us);
/* One refusal of a blocked @client (counted for the report, costs nothing more). */
void cohort_rate_limit_refused(CohortRateLimit *self, const gchar *client);

/* What happened since the last report, for one audit entry instead of one per attempt:
 * NULL when nothing failed; else e.g. "12 failed, 40 refused, from 2 addresses: 10.0.0.7
 * (10 failed, 40 refused), 10.0.0.9 (2 failed)" (the 5 busiest addresses). Resets the
 * counts. */
gchar *cohort_rate_limit_take_report(CohortRateLimit *self, guint64 *failed, guint64 *refused);

/* Totals since start, for /metrics. */
guint64 cohort_rate_limit_get_failed_total(CohortRateLimit *self);
guint64 cohort_rate_limit_get_refused_total(CohortRateLimit *self);

/* The key of a client address: its IPv4 address, or its IPv6 /64 (one host usually holds a
 * whole /64, so per-address keys would not bound it). "unknown" for other addresses. */
gchar *cohort_rate_limit_client_key(GSocketAddress *address);

G_END_DECLS
