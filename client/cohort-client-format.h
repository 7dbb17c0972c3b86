/* cohortctl's pure helpers: terminal widths, tables, dates, machine references, progress.
 * Nothing here talks to the network, so tests/client/test-client-format.c covers it all. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Terminal cells @text takes: nonspacing marks and format characters 0 (Khmer and Burmese
 * vowel signs above/below, the coeng), East Asian wide characters 2, the rest 1. */
gsize cohort_client_display_width(const gchar *text);

typedef struct _CohortTable CohortTable;

/* A table for people: a header row, then rows of as many cells; columns are padded to the
 * widest cell by display width, the last column is never padded. */
CohortTable *cohort_table_new(const gchar *const *headers);
void cohort_table_add_row(CohortTable *table, const gchar *const *cells);
/* Adds a row of @n cells and takes them (g_free'd with the table). */
void cohort_table_add_row_take(CohortTable *table, gchar **cells);
guint cohort_table_get_n_rows(CohortTable *table);
gchar *cohort_table_render(CohortTable *table);
void cohort_table_free(CohortTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortTable, cohort_table_free)

/* DATE as the user types it → the RFC 3339 UTC time sent to cohortd. "YYYY-MM-DD" is the
 * start of that day, or its last second with @end_of_day; a full RFC 3339 time (with an
 * offset or Z) is converted to UTC. */
gchar *cohort_client_parse_date(const gchar *text, gboolean end_of_day, GError **error);

/* A machine named as its numeric id ("42"), as COHORT/TRAINEE ("cloud-101/sok-dara") or by
 * its name ("cohort-cloud-101--sok-dara--2", as machine list shows it). */
typedef struct {
    gint64 id; /* > 0 when named by id */
    gchar *cohort;
    gchar *trainee; /* set for COHORT/TRAINEE */
    gchar *name;    /* set for a name; @cohort is then the cohort in it */
} CohortMachineRef;

gboolean cohort_client_machine_ref_parse(const gchar *text, CohortMachineRef *ref, GError **error);
void cohort_client_machine_ref_clear(CohortMachineRef *ref);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortMachineRef, cohort_client_machine_ref_clear)
/* From GET /api/v1/machines?cohort=C: @trainee's machine that is not reclaimed, or the only
 * one of those that has neither failed nor is being reclaimed. NULL without an error when there is
 * none; NULL with COHORT_CLIENT_ERROR_USAGE, naming each, when several fit. Borrowed from
 * @machines. */
JsonObject *cohort_client_machine_pick(JsonArray *machines, const gchar *trainee, GError **error);

/* A positive count option ("--limit 20"): digits only, 1..@max. */
gboolean cohort_client_parse_count(const gchar *text, const gchar *option, guint64 max,
                                   guint64 *out, GError **error);

/* A ratio option ("--cpu-ratio 2.5"): a decimal number (a dot, whatever the locale) above 0
 * and at most @max. */
gboolean cohort_client_parse_ratio(const gchar *text, const gchar *option, gdouble max,
                                   gdouble *out, GError **error);
/* What a job's "progress" says in words: "48.0 MiB of 96.0 MiB, 210.3 MiB/s, 1 s left";
 * NULL when @progress is NULL or counts no bytes. */
gchar *cohort_client_transfer_text(JsonObject *progress);
/* A host's resource as the host list shows it: "3/32 (8x4)", used of what placement allows
 * (capacity times the ratio). */
gchar *cohort_client_allowed_text(JsonObject *host, const gchar *used, const gchar *allowed,
                                  const gchar *capacity, const gchar *ratio);

/* "provision cloud-101: 40/86 done, 0 failed, 3.1 s" */
gchar *cohort_client_progress_line(const gchar *label, gint64 done, gint64 total, gint64 failed,
                                   gint64 elapsed_usec);
/* "provision cloud-101 [########------------]  40/86 done, 0 failed, 3.1 s", at most @columns
 * cells wide (the bar shrinks; no bar when there is no room). */
gchar *cohort_client_progress_bar(const gchar *label, gint64 done, gint64 total, gint64 failed,
                                  gint64 elapsed_usec, guint columns);

/* A reclaim job's "freed" object in words: "86 machines, 86 vCPUs, 5.4 GiB of memory,
 * 16.8 MiB of disk, 0 networks"; NULL when @freed is NULL. */
gchar *cohort_client_freed_text(JsonObject *freed);
/* A list of strings (a machine's "pending") as text for a table cell: "start, reboot", or "-"
 * when empty or missing. */
gchar *cohort_client_list_text(JsonObject *obj, const gchar *member);

/* Whether machine @m is at rest: its state is not one of work under way (provisioning,
 * starting, stopping, rebooting, resetting, reclaiming) and nothing waits in "pending". */
/* A machine's "ready" as "yes" or "no" ("-" when the answer has none). */
gchar *cohort_client_ready_text(JsonObject *m);
gboolean cohort_client_machine_at_rest(JsonObject *m);
/* After `machine VERB --wait`, a machine at rest: TRUE when it is where @verb leads (start,
 * reboot, reset: running; stop: stopped; release: reclaimed); FALSE with
 * COHORT_CLIENT_ERROR_FAILED naming its state and error (failed, or stopped after a start
 * that did not work) otherwise. */
gboolean cohort_client_machine_wait_check(const gchar *verb, JsonObject *m, GError **error);

/* A member of @obj as text for a table cell: strings as they are, numbers in decimal,
 * booleans as yes/no, a missing or null member as "-". */
gchar *cohort_client_member_text(JsonObject *obj, const gchar *member);

G_END_DECLS
