/* cohortctl cohort schedule, plan, start, stop: the course calendar. */
#define G_LOG_DOMAIN "cohortctl"

#include "config.h"

#include <stdio.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"
#include "cohort-client-format.h"
#include "cohort-client.h"

/* Prints what a refused plan misses (an error body's "missing"). */
static void
cohort_ctl_print_missing(JsonArray *a)
{
    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonObject *m = cohort_ctl_array_object(a, i);
        g_autofree gchar *message = cohort_client_member_text(m, "message");
        fprintf(stderr, "missing: %s\n", message);
    }
}

static JsonNode *
cohort_ctl_strv_node(GStrv strv)
{
    JsonArray *a = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
        json_array_add_string_element(a, strv[i]);
    json_node_take_array(node, a);
    return node;
}

/* @member's strings of @obj, then @more. */
static JsonNode *
cohort_ctl_merge(JsonObject *obj, const gchar *member, GStrv more, gboolean clear)
{
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

    if (!clear && node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *a = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(a); i++)
            g_ptr_array_add(all, (gpointer)json_array_get_string_element(a, i));
    }
    for (guint i = 0; more != NULL && more[i] != NULL; i++)
        g_ptr_array_add(all, more[i]);
    g_ptr_array_add(all, NULL);
    return cohort_ctl_strv_node((GStrv)all->pdata);
}

static void
cohort_ctl_print_schedule(JsonObject *s)
{
    static const gchar *const lists[] = {"rules", "one_off", "cancel", NULL};
    static const gchar *const labels[] = {"Rules:", "One-off:", "Cancelled:", NULL};
    g_autofree gchar *tz = cohort_client_member_text(s, "time_zone");
    JsonNode *sessions = json_object_get_member(s, "sessions");

    printf("Time zone:  %s\n", tz);
    for (guint k = 0; lists[k] != NULL; k++) {
        g_autofree gchar *text = cohort_client_list_text(s, lists[k]);
        printf("%-11s %s\n", labels[k], text);
    }
    if (sessions != NULL && JSON_NODE_HOLDS_ARRAY(sessions)) {
        JsonArray *a = json_node_get_array(sessions);
        printf("Upcoming:   %u (of %" G_GINT64_FORMAT " sessions in all)\n",
               json_array_get_length(a),
               json_object_get_int_member_with_default(s, "sessions_total", 0));
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *x = cohort_ctl_array_object(a, i);
            g_autofree gchar *start = cohort_client_member_text(x, "start_local");
            g_autofree gchar *end = cohort_client_member_text(x, "end_local");
            g_autofree gchar *utc = cohort_client_member_text(x, "start");
            printf("  %s .. %s  (%s)\n", start, end + MIN(strlen(end), 11), utc);
        }
    }
}

gboolean
cohort_ctl_cohort_schedule(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_auto(GStrv) add = NULL;
    g_auto(GStrv) one_off = NULL;
    g_auto(GStrv) cancel = NULL;
    g_autofree gchar *time_zone = NULL;
    gint64 outside = -1;
    gboolean clear = FALSE;
    gboolean show = FALSE;
    gboolean force = FALSE;
    const GOptionEntry entries[] = {
        {"add", 0, 0, G_OPTION_ARG_STRING_ARRAY, &add,
         "Add a weekly rule: DAYS HH:MM-HH:MM (mon-fri 08:00-12:00, mon,wed 13:30-16:30)", "RULE"},
        {"one-off", 0, 0, G_OPTION_ARG_STRING_ARRAY, &one_off,
         "Add a single session: YYYY-MM-DD HH:MM-HH:MM", "SESSION"},
        {"cancel", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cancel,
         "Cancel a day's sessions (YYYY-MM-DD) or one ('YYYY-MM-DD HH:MM')", "DAY"},
        {"time-zone", 0, 0, G_OPTION_ARG_STRING, &time_zone,
         "The cohort's IANA time zone (default: the installation's)", "ZONE"},
        {"outside-hours", 0, 0, G_OPTION_ARG_INT64, &outside,
         "Hours a week a trainee may run their machine outside sessions", "N"},
        {"clear", 0, 0, G_OPTION_ARG_NONE, &clear,
         "Start from an empty timetable (then --add etc.)", NULL},
        {"show", 0, 0, G_OPTION_ARG_NONE, &show, "Only show the timetable and sessions", NULL},
        {"force", 0, 0, G_OPTION_ARG_NONE, &force,
         "Write it even when the capacity plan does not fit", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) current = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonNode) error_body = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *cur;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) body = NULL;
    g_autofree gchar *text = NULL;
    g_autoptr(GBytes) bytes = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries,
                          "SLUG [--add RULE]… [--one-off SESSION]… [--cancel DAY]… [--clear] "
                          "[--time-zone ZONE] [--outside-hours N] [--force] [--show]",
                          "Show or change a cohort's timetable (trainer, admin): weekly rules, "
                          "one-off sessions and cancellations in the cohort's time zone. Before "
                          "each session cohortd starts the machines so that they are ready at "
                          "its start, and shuts them down after it.",
                          "  cohortctl cohort schedule cloud-101 --add 'mon-fri 08:00-12:00' "
                          "--add 'mon,wed 13:30-16:30' --cancel 2026-12-16\n"
                          "  cohortctl cohort schedule cloud-101 --one-off '2026-12-19 "
                          "09:00-11:00'\n"
                          "  cohortctl cohort schedule cloud-101 --show\n",
                          1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/schedule", slug);
    current = cohort_client_call(client, "GET", path, NULL, error);
    if (current == NULL || (cur = cohort_ctl_expect_object(current, "schedule", error)) == NULL)
        return FALSE;
    if (show || (add == NULL && one_off == NULL && cancel == NULL && !clear && time_zone == NULL &&
                 outside < 0)) {
        if (ctl->json)
            cohort_ctl_print_json(current);
        else if (!ctl->quiet)
            cohort_ctl_print_schedule(cur);
        return TRUE;
    }
    json_builder_begin_object(b);
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    {
        JsonObject *o = json_node_get_object(body);
        json_object_set_member(o, "rules", cohort_ctl_merge(cur, "rules", add, clear));
        json_object_set_member(o, "one_off", cohort_ctl_merge(cur, "one_off", one_off, clear));
        json_object_set_member(o, "cancel", cohort_ctl_merge(cur, "cancel", cancel, clear));
        if (time_zone != NULL) {
            if (!cohort_ctl_check_utf8(time_zone, "--time-zone", error))
                return FALSE;
            json_object_set_string_member(o, "time_zone", time_zone);
        }
        if (outside >= 0)
            json_object_set_int_member(o, "outside_hours_per_week", outside);
        if (force)
            json_object_set_boolean_member(o, "force", TRUE);
    }
    text = json_to_string(body, FALSE);
    bytes = g_bytes_new(text, strlen(text));
    answer = cohort_client_call_full(client, "PUT", path, "application/json", bytes, NULL,
                                     &error_body, error);
    if (answer == NULL) {
        if (error_body != NULL)
            cohort_ctl_print_missing(cohort_ctl_error_details(error_body, "missing"));
        return FALSE;
    }
    if (ctl->json)
        cohort_ctl_print_json(answer);
    else if (!ctl->quiet && JSON_NODE_HOLDS_OBJECT(answer))
        cohort_ctl_print_schedule(json_node_get_object(answer));
    return TRUE;
}

gboolean
cohort_ctl_cohort_plan(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {"HOST",    "PEAK VCPUS", "PEAK MEMORY",     "PEAK DISK",
                                           "ALLOWED", "NEW",        "BUSIEST SESSION", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonObject *r;
    JsonNode *hosts;
    JsonNode *missing;
    gboolean fits;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "SLUG",
                          "Whether a cohort fits its hosts over its whole calendar (trainer, "
                          "admin), with the other cohorts' sessions on the same hosts: each "
                          "host's peak vCPUs, memory and disk, its busiest session, and what is "
                          "missing. Exits 1 when it does not fit.",
                          "  cohortctl cohort plan cloud-101\n", 1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/plan", slug);
    answer = cohort_client_call(client, "GET", path, NULL, error);
    if (answer == NULL || (r = cohort_ctl_expect_object(answer, "plan", error)) == NULL)
        return FALSE;
    fits = json_object_get_boolean_member_with_default(r, "fits", FALSE);
    if (ctl->json)
        cohort_ctl_print_json(answer);
    else if (!ctl->quiet) {
        printf("Fits:       %s\n", fits ? "yes" : "no");
        hosts = json_object_get_member(r, "hosts");
        if (hosts != NULL && JSON_NODE_HOLDS_ARRAY(hosts)) {
            JsonArray *a = json_node_get_array(hosts);
            for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonObject *h = cohort_ctl_array_object(a, i);
                JsonObject *cap = json_object_get_object_member(h, "capacity");
                JsonNode *busy = json_object_get_member(h, "busiest_session");
                gchar *cells[] = {
                    cohort_client_member_text(h, "host"),
                    cohort_client_member_text(h, "peak_vcpus"),
                    g_strdup_printf(
                        "%" G_GINT64_FORMAT " MiB",
                        json_object_get_int_member_with_default(h, "peak_memory_mib", 0)),
                    g_strdup_printf("%" G_GINT64_FORMAT " MiB",
                                    json_object_get_int_member_with_default(h, "peak_disk_mib", 0)),
                    g_strdup_printf(
                        "%" G_GINT64_FORMAT " vCPUs, %" G_GINT64_FORMAT " MiB",
                        cap != NULL
                            ? json_object_get_int_member_with_default(cap, "allowed_vcpus", 0)
                            : 0,
                        cap != NULL
                            ? json_object_get_int_member_with_default(cap, "allowed_memory_mib", 0)
                            : 0),
                    cohort_client_member_text(h, "new_machines"),
                    busy != NULL && JSON_NODE_HOLDS_OBJECT(busy)
                        ? cohort_client_member_text(json_node_get_object(busy), "start")
                        : g_strdup("-"),
                };
                cohort_table_add_row_take(table, cells);
            }
            cohort_ctl_print_table(table);
        }
        missing = json_object_get_member(r, "missing");
        if (missing != NULL && JSON_NODE_HOLDS_ARRAY(missing)) {
            JsonArray *a = json_node_get_array(missing);
            for (guint i = 0; i < json_array_get_length(a); i++) {
                g_autofree gchar *m =
                    cohort_client_member_text(cohort_ctl_array_object(a, i), "message");
                printf("Missing:    %s\n", m);
            }
        }
    }
    if (!fits) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                    "cohort %s does not fit its hosts", argv[1]);
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_ctl_cohort_power(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean no_wait = FALSE;
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"wait", 0, 0, G_OPTION_ARG_NONE, &wait, "Follow the job until it is done (the default)",
         NULL},
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {NULL},
    };
    const gchar *verb = g_str_has_suffix(argv[0], "stop") ? "stop" : "start";
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;
    JsonObject *r;
    gint64 id;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "SLUG [--wait|--no-wait]",
                          g_strcmp0(verb, "start") == 0
                              ? "Start every stopped machine of a cohort (trainer, admin), as a "
                                "job with progress."
                              : "Shut every running machine of a cohort down gracefully "
                                "(trainer, admin), as a job with progress.",
                          g_strcmp0(verb, "start") == 0 ? "  cohortctl cohort start cloud-101\n"
                                                        : "  cohortctl cohort stop cloud-101\n",
                          1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/%s", slug, verb);
    answer = cohort_client_call(client, "POST", path, NULL, error);
    if (answer == NULL || (r = cohort_ctl_expect_object(answer, verb, error)) == NULL)
        return FALSE;
    id = json_object_get_int_member_with_default(r, "job", 0);
    if (no_wait && !wait) {
        if (ctl->json)
            cohort_ctl_print_json(answer);
        else
            printf("%" G_GINT64_FORMAT "\n", id);
        return TRUE;
    }
    label = g_strdup_printf("%s %s", verb, argv[1]);
    return cohort_ctl_job_follow(ctl, id, label, error);
}

void
cohort_ctl_print_calendar(JsonObject *c)
{
    static const gchar *const members[] = {"time_zone", "next_session", "preload", NULL};
    static const gchar *const labels[] = {"Time zone", "Next session", "Preload", NULL};
    g_autoptr(JsonObject) shown = json_object_new();
    JsonNode *next = json_object_get_member(c, "next_session");
    JsonNode *pre = json_object_get_member(c, "preload");

    if (!json_object_has_member(c, "time_zone"))
        return;
    json_object_set_string_member(shown, "time_zone",
                                  json_object_get_string_member_with_default(c, "time_zone", "-"));
    if (next != NULL && JSON_NODE_HOLDS_OBJECT(next)) {
        JsonObject *s = json_node_get_object(next);
        const gchar *start = json_object_get_string_member_with_default(s, "start_local", "-");
        const gchar *end = json_object_get_string_member_with_default(s, "end_local", "-");
        g_autofree gchar *text =
            g_strdup_printf("%s .. %s", start, strlen(end) > 11 ? end + 11 : end);
        json_object_set_string_member(shown, "next_session", text);
    } else {
        json_object_set_string_member(shown, "next_session", "none");
    }
    if (pre != NULL && JSON_NODE_HOLDS_OBJECT(pre)) {
        JsonObject *p = json_node_get_object(pre);
        const gchar *state = json_object_get_string_member_with_default(p, "state", "-");
        const gchar *eta = json_object_get_string_member_with_default(p, "eta_text", NULL);
        g_autofree gchar *text = g_strdup_printf(
            "%s%s%s (%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
            " machines ready, at most %" G_GINT64_FORMAT " booting at once per host)",
            state, eta != NULL ? ", " : "", eta != NULL ? eta : "",
            json_object_get_int_member_with_default(p, "ready", 0),
            json_object_get_int_member_with_default(p, "machines", 0),
            json_object_get_int_member_with_default(p, "boots_per_host", 0));
        json_object_set_string_member(shown, "preload", text);
    } else {
        json_object_set_string_member(shown, "preload", "-");
    }
    cohort_ctl_print_fields(shown, members, labels);
}
