#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"

static const gchar *const cohort_ctl_cohort_headers[] = {
    "SLUG", "STATE", "TEMPLATE", "TRAINER", "STARTS", "ENDS", "TITLE", NULL,
};

static void
cohort_ctl_cohort_row(CohortTable *table, JsonObject *c)
{
    gchar *cells[] = {
        cohort_client_member_text(c, "slug"),      cohort_client_member_text(c, "state"),
        cohort_client_member_text(c, "template"),  cohort_client_member_text(c, "trainer"),
        cohort_client_member_text(c, "starts_at"), cohort_client_member_text(c, "ends_at"),
        cohort_client_member_text(c, "title"),
    };
    cohort_table_add_row_take(table, cells);
}

/* "8 hours, up to 2 extensions" or "none: machines live as long as the cohort" */
static gchar *
cohort_ctl_lease_text(JsonObject *cohort)
{
    JsonNode *node = json_object_get_member(cohort, "lease");
    JsonObject *lease;
    gint64 hours, extensions;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return g_strdup("-");
    lease = json_node_get_object(node);
    hours = json_object_get_int_member_with_default(lease, "hours", 0);
    extensions = json_object_get_int_member_with_default(lease, "max_extensions", 0);
    if (hours == 0)
        return g_strdup("none: machines live as long as the cohort");
    return g_strdup_printf("%" G_GINT64_FORMAT " hour%s, up to %" G_GINT64_FORMAT " extension%s",
                           hours, hours == 1 ? "" : "s", extensions, extensions == 1 ? "" : "s");
}

static gboolean
cohort_ctl_print_cohort(CohortCtl *ctl, JsonNode *answer, GError **error)
{
    static const gchar *const members[] = {
        "slug",        "title",      "state",   "template", "trainer",   "starts_at", "ends_at",
        "grace_hours", "created_at", "network", "subnet",   "placement", NULL,
    };
    static const gchar *const labels[] = {
        "Slug",          "Title",   "State",   "Template", "Trainer",   "Starts", "Ends",
        "Grace (hours)", "Created", "Network", "Subnet",   "Placement", NULL,
    };
    JsonObject *c = cohort_ctl_expect_object(answer, "cohort", error);
    JsonNode *quota;

    if (c == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    if (ctl->quiet) {
        g_autofree gchar *slug = cohort_client_member_text(c, "slug");
        printf("%s\n", slug);
        return TRUE;
    }
    cohort_ctl_print_fields(c, members, labels);
    quota = json_object_get_member(c, "quota");
    if (quota != NULL && JSON_NODE_HOLDS_OBJECT(quota)) {
        static const gchar *const qm[] = {"machines", "vcpus", "memory_mib", "lease", NULL};
        static const gchar *const ql[] = {"Quota: machines", "Quota: vCPUs", "Quota: memory (MiB)",
                                          "Lease", NULL};
        g_autoptr(JsonObject) shown = json_object_new();
        g_autofree gchar *lease = cohort_ctl_lease_text(c);
        for (guint i = 0; qm[i + 1] != NULL; i++) {
            JsonNode *v = json_object_get_member(json_node_get_object(quota), qm[i]);
            if (v != NULL)
                json_object_set_member(shown, qm[i], json_node_copy(v));
        }
        json_object_set_string_member(shown, "lease", lease);
        cohort_ctl_print_fields(shown, qm, ql);
    }
    cohort_ctl_print_calendar(c);
    return TRUE;
}

/* The options create and update share; update sends only what was given. */
typedef struct {
    gchar *template_name;
    gchar *title;
    gchar *starts;
    gchar *ends;
    gchar *max_machines;
    gchar *max_vcpus;
    gchar *max_memory;
    gchar *grace_hours;
    gchar *lease_hours;
    gchar *lease_extensions;
    gchar *network;
    gchar *placement;
    gchar *time_zone;
    gchar *outside_hours;
    gboolean force;
} CohortCtlCohortOptions;

static void
cohort_ctl_cohort_options_clear(CohortCtlCohortOptions *o)
{
    g_free(o->template_name);
    g_free(o->title);
    g_free(o->starts);
    g_free(o->ends);
    g_free(o->max_machines);
    g_free(o->max_vcpus);
    g_free(o->max_memory);
    g_free(o->grace_hours);
    g_free(o->lease_hours);
    g_free(o->lease_extensions);
    g_free(o->network);
    g_free(o->placement);
    g_free(o->time_zone);
    g_free(o->outside_hours);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortCtlCohortOptions, cohort_ctl_cohort_options_clear)

static gboolean
cohort_ctl_set_count(JsonObject *obj, const gchar *member, const gchar *value, const gchar *option,
                     guint64 min, GError **error)
{
    guint64 n;

    if (value == NULL)
        return TRUE;
    /* 0 is a valid grace period; counts of machines start at 1. */
    if (min == 0 && g_strcmp0(value, "0") == 0)
        n = 0;
    else if (!cohort_client_parse_count(value, option, G_MAXINT32, &n, error))
        return FALSE;
    json_object_set_int_member(obj, member, (gint64)n);
    return TRUE;
}

static gboolean
cohort_ctl_set_date(JsonObject *obj, const gchar *member, const gchar *value, gboolean end_of_day,
                    const gchar *option, GError **error)
{
    g_autofree gchar *when = NULL;

    if (value == NULL)
        return TRUE;
    when = cohort_client_parse_date(value, end_of_day, error);
    if (when == NULL) {
        g_prefix_error(error, "%s: ", option);
        return FALSE;
    }
    json_object_set_string_member(obj, member, when);
    return TRUE;
}

static gboolean
cohort_ctl_cohort_body(CohortCtlCohortOptions *o, JsonObject *b, GError **error)
{
    g_autoptr(JsonObject) quota = json_object_new();
    g_autoptr(JsonObject) lease = json_object_new();

    if (o->template_name != NULL)
        json_object_set_string_member(b, "template", o->template_name);
    if (o->network != NULL) {
        if (!cohort_ctl_check_utf8(o->network, "--network", error))
            return FALSE;
        json_object_set_string_member(b, "network", o->network);
    }
    if (o->placement != NULL) {
        if (g_strcmp0(o->placement, "spread") != 0 && g_strcmp0(o->placement, "pack") != 0 &&
            g_strcmp0(o->placement, "default") != 0)
            return cohort_ctl_usage_error(
                error, "--placement takes spread, pack or default, not '%s'", o->placement);
        json_object_set_string_member(b, "placement", o->placement);
    }
    if (o->title != NULL) {
        if (!cohort_ctl_check_utf8(o->title, "--title", error))
            return FALSE;
        json_object_set_string_member(b, "title", o->title);
    }
    if (o->time_zone != NULL) {
        if (!cohort_ctl_check_utf8(o->time_zone, "--time-zone", error))
            return FALSE;
        json_object_set_string_member(b, "time_zone", o->time_zone);
    }
    if (!cohort_ctl_set_count(b, "outside_hours_per_week", o->outside_hours, "--outside-hours", 0,
                              error))
        return FALSE;
    if (!cohort_ctl_set_date(b, "starts_at", o->starts, FALSE, "--starts", error) ||
        !cohort_ctl_set_date(b, "ends_at", o->ends, TRUE, "--ends", error) ||
        !cohort_ctl_set_count(b, "grace_hours", o->grace_hours, "--grace-hours", 0, error) ||
        !cohort_ctl_set_count(quota, "machines", o->max_machines, "--max-machines", 1, error) ||
        !cohort_ctl_set_count(quota, "vcpus", o->max_vcpus, "--max-vcpus", 1, error) ||
        !cohort_ctl_set_count(quota, "memory_mib", o->max_memory, "--max-memory-mib", 1, error) ||
        !cohort_ctl_set_count(lease, "hours", o->lease_hours, "--lease-hours", 0, error) ||
        !cohort_ctl_set_count(lease, "max_extensions", o->lease_extensions, "--max-extensions", 0,
                              error))
        return FALSE;
    if (json_object_get_size(quota) > 0)
        json_object_set_object_member(b, "quota", g_steal_pointer(&quota));
    if (json_object_get_size(lease) > 0)
        json_object_set_object_member(b, "lease", g_steal_pointer(&lease));
    return TRUE;
}

gboolean
cohort_ctl_cohort_create(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_auto(CohortCtlCohortOptions) o = {0};
    const GOptionEntry entries[] = {
        {"template", 0, 0, G_OPTION_ARG_FILENAME, &o.template_name, "Template of the machines",
         "T"},
        {"title", 0, 0, G_OPTION_ARG_FILENAME, &o.title, "The course's title", "TITLE"},
        {"starts", 0, 0, G_OPTION_ARG_FILENAME, &o.starts, "First day (YYYY-MM-DD, RFC 3339)",
         "DATE"},
        {"ends", 0, 0, G_OPTION_ARG_FILENAME, &o.ends, "Last day, included", "DATE"},
        {"max-machines", 0, 0, G_OPTION_ARG_STRING, &o.max_machines, "Machines per trainee", "N"},
        {"max-vcpus", 0, 0, G_OPTION_ARG_STRING, &o.max_vcpus, "vCPUs per trainee", "N"},
        {"max-memory-mib", 0, 0, G_OPTION_ARG_STRING, &o.max_memory, "Memory per trainee, MiB",
         "N"},
        {"grace-hours", 0, 0, G_OPTION_ARG_STRING, &o.grace_hours,
         "Hours after the end before the machines are reclaimed", "N"},
        {"lease-hours", 0, 0, G_OPTION_ARG_STRING, &o.lease_hours,
         "Machines expire this many hours after they are made (0: no lease)", "N"},
        {"max-extensions", 0, 0, G_OPTION_ARG_STRING, &o.lease_extensions,
         "How often a machine's lease may be extended", "N"},
        {"network", 0, 0, G_OPTION_ARG_FILENAME, &o.network,
         "'isolated' (default: the cohort's own network on each host, with a subnet and DHCP, "
         "removed at reclaim), 'nat' (the same, reaching out through the host) or the name of "
         "a libvirt network the hosts share",
         "NET"},
        {"placement", 0, 0, G_OPTION_ARG_STRING, &o.placement,
         "Where its machines go: spread (least used host first), pack (fill a host before the "
         "next) or default (cohortd's [daemon] placement)",
         "POLICY"},
        {"time-zone", 0, 0, G_OPTION_ARG_STRING, &o.time_zone,
         "The course's IANA time zone, for its timetable (default: cohortd's [calendar])", "ZONE"},
        {"outside-hours", 0, 0, G_OPTION_ARG_STRING, &o.outside_hours,
         "Hours a week a trainee may run their machine outside sessions", "N"},
        {"force", 0, 0, G_OPTION_ARG_NONE, &o.force,
         "Go ahead even when the capacity plan does not fit", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    JsonObject *b = json_object_new();

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries,
            "SLUG --template T --title TITLE --starts DATE --ends DATE --max-machines N "
            "[--max-vcpus N] [--max-memory-mib N] [--grace-hours N] [--lease-hours N "
            "--max-extensions N] [--network isolated|nat|NET] [--placement spread|pack] "
            "[--time-zone ZONE] [--outside-hours N] [--force]",
            "Create a cohort (trainer, admin). DATE is YYYY-MM-DD or an RFC 3339 time; --ends "
            "YYYY-MM-DD means the end of that day (23:59:59 UTC).",
            "  cohortctl cohort create cloud-101 --template small-linux --title 'Cloud 101' \\\n"
            "      --starts 2026-03-02 --ends 2026-03-13 --max-machines 1 --grace-hours 48\n",
            1, 1, error))
        return FALSE;
    if (o.template_name == NULL || o.title == NULL || o.starts == NULL || o.ends == NULL ||
        o.max_machines == NULL)
        return cohort_ctl_usage_error(error, "cohort create needs --template, --title, "
                                             "--starts, --ends and --max-machines");
    json_object_set_string_member(b, "slug", argv[1]);
    if (!cohort_ctl_cohort_body(&o, b, error))
        return FALSE;
    if (o.force)
        json_object_set_boolean_member(b, "force", TRUE);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "POST", "/api/v1/cohorts", body, error);
    return answer != NULL && cohort_ctl_print_cohort(ctl, answer, error);
}

gboolean
cohort_ctl_cohort_update(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_auto(CohortCtlCohortOptions) o = {0};
    const GOptionEntry entries[] = {
        {"title", 0, 0, G_OPTION_ARG_FILENAME, &o.title, "New title", "TITLE"},
        {"ends", 0, 0, G_OPTION_ARG_FILENAME, &o.ends,
         "New last day (a day in the past ends the course now)", "DATE"},
        {"grace-hours", 0, 0, G_OPTION_ARG_STRING, &o.grace_hours, "New grace period", "N"},
        {"max-machines", 0, 0, G_OPTION_ARG_STRING, &o.max_machines, "Machines per trainee", "N"},
        {"max-vcpus", 0, 0, G_OPTION_ARG_STRING, &o.max_vcpus, "vCPUs per trainee", "N"},
        {"max-memory-mib", 0, 0, G_OPTION_ARG_STRING, &o.max_memory, "Memory per trainee, MiB",
         "N"},
        {"lease-hours", 0, 0, G_OPTION_ARG_STRING, &o.lease_hours,
         "Machines expire this many hours after they are made (0: no lease)", "N"},
        {"max-extensions", 0, 0, G_OPTION_ARG_STRING, &o.lease_extensions,
         "How often a machine's lease may be extended", "N"},
        {"placement", 0, 0, G_OPTION_ARG_STRING, &o.placement,
         "Where its machines go: spread (least used host first), pack (fill a host before the "
         "next) or default (cohortd's [daemon] placement)",
         "POLICY"},
        {"time-zone", 0, 0, G_OPTION_ARG_STRING, &o.time_zone,
         "The course's IANA time zone, for its timetable (default: cohortd's [calendar])", "ZONE"},
        {"outside-hours", 0, 0, G_OPTION_ARG_STRING, &o.outside_hours,
         "Hours a week a trainee may run their machine outside sessions", "N"},
        {"force", 0, 0, G_OPTION_ARG_NONE, &o.force,
         "Go ahead even when the capacity plan does not fit", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *b = json_object_new();

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(ctl, &argc, &argv, entries,
                          "SLUG [--title T] [--ends DATE] [--grace-hours N] [--max-machines N] "
                          "[--max-vcpus N] [--max-memory-mib N] [--lease-hours N] "
                          "[--max-extensions N] [--placement spread|pack|default] "
                          "[--time-zone ZONE] [--outside-hours N] [--force]",
                          "Change a cohort (trainer of it, admin); only the options given are "
                          "sent (PATCH).",
                          "  cohortctl cohort update cloud-101 --ends 2026-03-20\n"
                          "  cohortctl cohort update cloud-101 --max-machines 2 --grace-hours 0\n",
                          1, 1, error))
        return FALSE;
    if (!cohort_ctl_cohort_body(&o, b, error))
        return FALSE;
    if (json_object_get_size(b) == 0)
        return cohort_ctl_usage_error(
            error, "cohort update: nothing to change; give at least "
                   "one of --title, --ends, --grace-hours, --max-*, --lease-hours, "
                   "--placement, --time-zone, --outside-hours");
    if (o.force)
        json_object_set_boolean_member(b, "force", TRUE);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s", slug);
    answer = cohort_client_call(client, "PATCH", path, body, error);
    return answer != NULL && cohort_ctl_print_cohort(ctl, answer, error);
}

gboolean
cohort_ctl_cohort_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(cohort_ctl_cohort_headers);
    JsonArray *cohorts;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, NULL,
                          "List the cohorts you may see (a trainer: their own; admin: all).",
                          "  cohortctl cohort list\n", 0, 0, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "GET", "/api/v1/cohorts", NULL, error);
    if (answer == NULL || (cohorts = cohort_ctl_expect_array(answer, "cohort list", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    for (guint i = 0; i < json_array_get_length(cohorts); i++) {
        JsonObject *c = cohort_ctl_array_object(cohorts, i);
        if (ctl->quiet) {
            g_autofree gchar *slug = cohort_client_member_text(c, "slug");
            printf("%s\n", slug);
        }
        cohort_ctl_cohort_row(table, c);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

/* Each machine's readiness ("yes, no") or addresses ("10.1.0.12; 10.1.0.13"), in the order
 * of cohort_ctl_machines_text(). */
static gchar *
cohort_ctl_machines_column(JsonObject *trainee, gboolean ready)
{
    JsonNode *node = json_object_get_member(trainee, "machines");
    g_autoptr(GString) out = g_string_new(NULL);
    JsonArray *machines;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_strdup("-");
    machines = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(machines); i++) {
        JsonObject *m = cohort_ctl_array_object(machines, i);
        g_autofree gchar *text =
            ready ? cohort_client_ready_text(m) : cohort_client_list_text(m, "addresses");
        g_string_append_printf(out, "%s%s", out->len > 0 ? (ready ? ", " : "; ") : "", text);
    }
    return g_strdup(out->len > 0 ? out->str : "-");
}

/* "#42 running, #57 stopped": each machine's id and state */
static gchar *
cohort_ctl_machines_text(JsonObject *trainee)
{
    JsonNode *node = json_object_get_member(trainee, "machines");
    g_autoptr(GString) out = g_string_new(NULL);
    JsonArray *machines;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_strdup("-");
    machines = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(machines); i++) {
        JsonObject *m = cohort_ctl_array_object(machines, i);
        g_autofree gchar *id = cohort_client_member_text(m, "id");
        g_autofree gchar *state = cohort_client_member_text(m, "state");
        g_string_append_printf(out, "%s#%s %s", out->len > 0 ? ", " : "", id, state);
    }
    return g_strdup(out->len > 0 ? out->str : "-");
}

gboolean
cohort_ctl_cohort_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {"LOGIN",   "MACHINES",     "READY",
                                           "ADDRESS", "DISPLAY NAME", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonObject *c;
    JsonNode *trainees;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "SLUG",
                          "Show a cohort: dates, quota, and each trainee with their machines.",
                          "  cohortctl cohort show cloud-101\n", 1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s", slug);
    answer = cohort_client_call(client, "GET", path, NULL, error);
    if (answer == NULL || !cohort_ctl_print_cohort(ctl, answer, error))
        return FALSE;
    if (ctl->json || ctl->quiet)
        return TRUE;
    c = json_node_get_object(answer);
    trainees = json_object_get_member(c, "trainees");
    if (trainees != NULL && JSON_NODE_HOLDS_ARRAY(trainees)) {
        JsonArray *a = json_node_get_array(trainees);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *t = cohort_ctl_array_object(a, i);
            gchar *cells[] = {
                cohort_client_member_text(t, "login"),        cohort_ctl_machines_text(t),
                cohort_ctl_machines_column(t, TRUE),          cohort_ctl_machines_column(t, FALSE),
                cohort_client_member_text(t, "display_name"),
            };
            cohort_table_add_row_take(table, cells);
        }
        printf("\nTrainees: %u\n", json_array_get_length(a));
        if (json_array_get_length(a) > 0)
            cohort_ctl_print_table(table);
    }
    return TRUE;
}

/* Prints the 422 body's "lines" as FILE:LINE: message; answers how many. */
static guint
cohort_ctl_roster_line_errors(const gchar *file, JsonNode *error_body)
{
    JsonArray *a = cohort_ctl_error_details(error_body, "lines");

    if (a == NULL)
        return 0;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *l = cohort_ctl_array_object(a, i);
        g_autofree gchar *n = cohort_client_member_text(l, "line");
        g_autofree gchar *message = cohort_client_member_text(l, "message");
        fprintf(stderr, "%s:%s: %s\n", file, n, message);
    }
    return json_array_get_length(a);
}

gboolean
cohort_ctl_cohort_roster(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {"LOGIN", "CODE", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonNode) error_body = NULL;
    g_autoptr(GBytes) csv = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *data = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    gsize len = 0;
    JsonObject *r;
    JsonNode *invitations;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "SLUG FILE.csv",
                          "Load a cohort's roster (trainer, admin): a CSV with at least the "
                          "columns login and display_name ('-' reads stdin). Prints the "
                          "invitation codes to hand out. A bad line refuses the whole file; "
                          "every bad line is listed as FILE:LINE: message.",
                          "  cohortctl cohort roster cloud-101 trainees.csv\n"
                          "  cohortctl --quiet cohort roster cloud-101 trainees.csv > codes.txt\n",
                          2, 2, error))
        return FALSE;
    if (g_strcmp0(argv[2], "-") == 0) {
        g_autoptr(GIOChannel) in = g_io_channel_unix_new(0);
        g_io_channel_set_encoding(in, NULL, NULL);
        if (g_io_channel_read_to_end(in, &data, &len, &local) != G_IO_STATUS_NORMAL) {
            g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                        "cannot read the roster from stdin: %s", local->message);
            return FALSE;
        }
    } else if (!g_file_get_contents(argv[2], &data, &len, &local)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                    "cannot read the roster: %s", local->message);
        return FALSE;
    }
    csv = g_bytes_new_take(g_steal_pointer(&data), len);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/roster", slug);
    answer =
        cohort_client_call_full(client, "PUT", path, "text/csv", csv, NULL, &error_body, error);
    if (answer == NULL) {
        guint n_bad = error_body != NULL ? cohort_ctl_roster_line_errors(argv[2], error_body) : 0;
        /* The lines said it all; the summary keeps the error's code (and exit status). */
        if (n_bad > 0 && error != NULL && *error != NULL) {
            g_autofree gchar *message =
                g_strdup_printf("%s: %u bad line%s; nothing was imported (invalid-argument)",
                                argv[2], n_bad, n_bad == 1 ? "" : "s");
            g_free((*error)->message);
            (*error)->message = g_steal_pointer(&message);
        }
        return FALSE;
    }
    if ((r = cohort_ctl_expect_object(answer, "roster", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    invitations = json_object_get_member(r, "invitations");
    if (invitations != NULL && JSON_NODE_HOLDS_ARRAY(invitations)) {
        JsonArray *a = json_node_get_array(invitations);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *inv = cohort_ctl_array_object(a, i);
            gchar *cells[] = {
                cohort_client_member_text(inv, "login"),
                cohort_client_member_text(inv, "code"),
            };
            if (ctl->quiet)
                printf("%s %s\n", cells[0], cells[1]);
            cohort_table_add_row_take(table, cells);
        }
    }
    if (!ctl->quiet) {
        g_autofree gchar *n = cohort_client_member_text(r, "enrolled");
        JsonNode *existing = json_object_get_member(r, "existing");
        printf("Enrolled: %s\n", n);
        if (cohort_table_get_n_rows(table) > 0) {
            printf("Invitations (hand each trainee their code; it works once):\n");
            cohort_ctl_print_table(table);
        }
        if (existing != NULL && JSON_NODE_HOLDS_ARRAY(existing) &&
            json_array_get_length(json_node_get_array(existing)) > 0) {
            JsonArray *a = json_node_get_array(existing);
            GString *logins = g_string_new(NULL);
            for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonNode *e = json_array_get_element(a, i);
                if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                    g_string_append_printf(logins, "%s%s", i > 0 ? ", " : "",
                                           json_node_get_string(e));
            }
            printf("Had an account already, so no new code (they sign in as before): %s\n",
                   logins->str);
            g_string_free(logins, TRUE);
        }
    }
    return TRUE;
}

gboolean
cohort_ctl_cohort_invite(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const members[] = {"login", "display_name", "code", "expires_at", NULL};
    static const gchar *const labels[] = {"Trainee", "Name", "Code", "Expires", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *inv;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "SLUG LOGIN",
                          "Give a trainee of the cohort a new invitation code, when they lost "
                          "theirs or let it expire. Their codes never redeemed stop working; "
                          "tokens they already have keep working (an admin revokes them with "
                          "'user revoke'). --quiet prints only the code.",
                          "  cohortctl cohort invite cloud-101 sok-dara\n", 2, 2, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    login = cohort_client_escape(argv[2]);
    path = g_strdup_printf("/api/v1/cohorts/%s/trainees/%s/invitation", slug, login);
    answer = cohort_client_call(client, "POST", path, NULL, error);
    if (answer == NULL || (inv = cohort_ctl_expect_object(answer, "invitation", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else if (ctl->quiet) {
        g_autofree gchar *code = cohort_client_member_text(inv, "code");
        printf("%s\n", code);
    } else {
        gint64 withdrawn = json_object_get_int_member_with_default(inv, "withdrawn", 0);
        cohort_ctl_print_fields(inv, members, labels);
        if (withdrawn > 0)
            printf("(%" G_GINT64_FORMAT " earlier code%s of this trainee no longer work%s)\n",
                   withdrawn, withdrawn == 1 ? "" : "s", withdrawn == 1 ? "s" : "");
        printf("(hand the trainee this code: 'cohortctl redeem CODE'; it works once)\n");
    }
    return TRUE;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void
cohort_ctl_csv_field(GString *out, const gchar *value, gboolean last)
{
    if (value == NULL)
        value = "";
    if (strpbrk(value, ",\"\r\n") != NULL) {
        g_string_append_c(out, '"');
        for (const gchar *p = value; *p != '\0'; p++) {
            if (*p == '"')
                g_string_append_c(out, '"');
            g_string_append_c(out, *p);
        }
        g_string_append_c(out, '"');
    } else {
        g_string_append(out, value);
    }
    g_string_append(out, last ? "\r\n" : ",");
}

/* The logins of an answer's array member, comma-separated; NULL for none. */
static gchar *
cohort_ctl_logins(JsonObject *r, const gchar *member)
{
    JsonNode *node = json_object_get_member(r, member);
    GString *logins = g_string_new(NULL);

    for (guint i = 0; node != NULL && JSON_NODE_HOLDS_ARRAY(node) &&
                      i < json_array_get_length(json_node_get_array(node));
         i++) {
        g_autofree gchar *login = cohort_client_member_text(
            cohort_ctl_array_object(json_node_get_array(node), i), "login");
        g_string_append_printf(logins, "%s%s", i > 0 ? ", " : "", login);
    }
    if (logins->len == 0) {
        g_string_free(logins, TRUE);
        return NULL;
    }
    return g_string_free(logins, FALSE);
}

gboolean
cohort_ctl_cohort_invitations(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {"LOGIN", "NAME", "CODE", "EXPIRES", NULL};
    static const gchar *const members[] = {"login", "display_name", "code", "expires_at", NULL};
    gboolean csv = FALSE;
    gboolean reissue = FALSE;
    const GOptionEntry entries[] = {
        {"csv", 0, 0, G_OPTION_ARG_NONE, &csv,
         "Print CSV (login,display_name,code,expires_at,url): one invitation card a line", NULL},
        {"reissue", 0, 0, G_OPTION_ARG_NONE, &reissue,
         "A new code for every trainee, also those whose code is not redeemed yet (it stops "
         "working)",
         NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *kept = NULL;
    g_autofree gchar *admin = NULL;
    JsonObject *r;
    JsonNode *invitations;
    GString *out = g_string_new(NULL);

    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "SLUG [--csv] [--reissue]",
            "Invitation codes for a cohort's trainees in one go (trainer, admin): a code for "
            "every trainee who has none (a returning class, a code redeemed or expired); with "
            "--reissue, for everyone (for a trainee who lost theirs: their unredeemed codes stop "
            "working). Tokens already redeemed keep working. A trainee who is also in another "
            "trainer's course gets a code only from an admin; they are listed. --csv prints the "
            "cards' data, with the URL of the web page where the code is redeemed.",
            "  cohortctl cohort invitations cloud-101\n"
            "  cohortctl cohort invitations cloud-101 --reissue --csv > cards.csv\n",
            1, 1, error)) {
        g_string_free(out, TRUE);
        return FALSE;
    }
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL) {
        g_string_free(out, TRUE);
        return FALSE;
    }
    json_node_take_object(body, json_object_new());
    if (reissue)
        json_object_set_boolean_member(json_node_get_object(body), "reissue", TRUE);
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/invitations", slug);
    answer = cohort_client_call(client, "POST", path, body, error);
    if (answer == NULL || (r = cohort_ctl_expect_object(answer, "invitations", error)) == NULL) {
        g_string_free(out, TRUE);
        return FALSE;
    }
    if (ctl->json) {
        g_string_free(out, TRUE);
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    if (csv)
        g_string_append(out, "login,display_name,code,expires_at,url\r\n");
    invitations = json_object_get_member(r, "invitations");
    for (guint i = 0; invitations != NULL && JSON_NODE_HOLDS_ARRAY(invitations) &&
                      i < json_array_get_length(json_node_get_array(invitations));
         i++) {
        JsonObject *inv = cohort_ctl_array_object(json_node_get_array(invitations), i);
        gchar *cells[G_N_ELEMENTS(members) - 1];
        for (guint c = 0; members[c] != NULL; c++)
            cells[c] = cohort_client_member_text(inv, members[c]);
        if (csv) {
            for (guint c = 0; members[c] != NULL; c++)
                cohort_ctl_csv_field(out, cells[c], FALSE);
            cohort_ctl_csv_field(out, cohort_client_get_url(client), TRUE);
        } else if (ctl->quiet) {
            g_string_append_printf(out, "%s %s\n", cells[0], cells[2]);
        }
        cohort_table_add_row_take(table, cells);
    }
    kept = cohort_ctl_logins(r, "pending");
    admin = cohort_ctl_logins(r, "needs_admin");
    if (csv || ctl->quiet) {
        fputs(out->str, stdout);
    } else if (cohort_table_get_n_rows(table) > 0) {
        printf("Invitations (hand each trainee their code; it works once, at %s or with "
               "'cohortctl redeem CODE'):\n",
               cohort_client_get_url(client));
        cohort_ctl_print_table(table);
    } else {
        printf("No new code.\n");
    }
    g_string_free(out, TRUE);
    /* what was not done goes to stderr with --csv, so that the file holds only cards */
    if (kept != NULL)
        fprintf(csv ? stderr : stdout,
                "Kept their code, not redeemed yet (--reissue replaces it): %s\n", kept);
    if (admin != NULL)
        fprintf(csv ? stderr : stdout,
                "Also in another trainer's course, so only an admin can give them a code: %s\n",
                admin);
    return TRUE;
}

static gboolean cohort_ctl_cohort_job_started(CohortCtl *ctl, JsonNode *answer, const gchar *verb,
                                              const gchar *label, gboolean no_wait, GError **error);

/* provision and reclaim: start the job, then follow it unless --no-wait. */
static gboolean
cohort_ctl_cohort_job(CohortCtl *ctl, gint argc, gchar **argv, const gchar *verb,
                      const gchar *summary, const gchar *examples, GError **error)
{
    gboolean no_wait = FALSE;
    const GOptionEntry entries[] = {
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "SLUG [--no-wait]", summary, examples, 1, 1,
                          error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/%s", slug, verb);
    answer = cohort_client_call(client, "POST", path, NULL, error);
    if (answer == NULL)
        return FALSE;
    label = g_strdup_printf("%s %s", verb, argv[1]);
    return cohort_ctl_cohort_job_started(ctl, answer, verb, label, no_wait, error);
}

/* An answer {"job":ID,…}: its id printed (--no-wait) or the job followed. */
static gboolean
cohort_ctl_cohort_job_started(CohortCtl *ctl, JsonNode *answer, const gchar *verb,
                              const gchar *label, gboolean no_wait, GError **error)
{
    JsonObject *r;
    gint64 id;

    if ((r = cohort_ctl_expect_object(answer, verb, error)) == NULL)
        return FALSE;
    id = json_object_get_int_member_with_default(r, "job", 0);
    if (id <= 0) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                    "cohortd's answer to %s holds no job id", verb);
        return FALSE;
    }
    if (no_wait) {
        if (ctl->json)
            cohort_ctl_print_json(answer);
        else if (ctl->quiet)
            printf("%" G_GINT64_FORMAT "\n", id);
        else
            printf("Job %" G_GINT64_FORMAT
                   " started; follow it with: cohortctl job show %" G_GINT64_FORMAT " --wait\n",
                   id, id);
        return TRUE;
    }
    return cohort_ctl_job_follow(ctl, id, label, error);
}

gboolean
cohort_ctl_cohort_unenrol(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean no_wait = FALSE;
    const GOptionEntry entries[] = {
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "SLUG LOGIN [--no-wait]",
                          "Take a trainee out of a cohort (trainer, admin): their machines in it "
                          "are reclaimed (the job is followed like reclaim), their codes for it "
                          "stop working. Their account and other courses stay.",
                          "  cohortctl cohort unenrol cloud-101 sok-dara\n", 2, 2, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    login = cohort_client_escape(argv[2]);
    path = g_strdup_printf("/api/v1/cohorts/%s/trainees/%s", slug, login);
    answer = cohort_client_call(client, "DELETE", path, NULL, error);
    if (answer == NULL)
        return FALSE;
    label = g_strdup_printf("unenrol %s from %s", argv[2], argv[1]);
    return cohort_ctl_cohort_job_started(ctl, answer, "unenrol", label, no_wait, error);
}

/* Polls the cohort's machines until every one that lives (not failed, not reclaimed) is
 * ready, a line each time the count changes; fails after @timeout_s naming those that are not. */
static gboolean
cohort_ctl_cohort_wait_ready(CohortCtl *ctl, CohortClient *client, const gchar *slug,
                             guint64 timeout_s, GError **error)
{
    g_autofree gchar *escaped = cohort_client_escape(slug);
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines?cohort=%s", escaped);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    gint64 t0 = g_get_monotonic_time();
    gint last_ready = -1;

    for (;;) {
        g_autoptr(JsonNode) answer = cohort_client_call(client, "GET", path, NULL, error);
        g_autoptr(GString) waiting = g_string_new(NULL);
        JsonArray *machines;
        guint live = 0;
        guint ready = 0;

        if (answer == NULL ||
            (machines = cohort_ctl_expect_array(answer, "machine list", error)) == NULL)
            return FALSE;
        for (guint i = 0; i < json_array_get_length(machines); i++) {
            JsonObject *m = cohort_ctl_array_object(machines, i);
            const gchar *state =
                m != NULL ? json_object_get_string_member_with_default(m, "state", "") : "";
            if (m == NULL || g_strcmp0(state, "failed") == 0 ||
                g_strcmp0(state, "reclaimed") == 0 || g_strcmp0(state, "reclaiming") == 0)
                continue;
            live++;
            if (json_object_get_boolean_member_with_default(m, "ready", FALSE)) {
                ready++;
            } else {
                g_autofree gchar *name = cohort_client_member_text(m, "name");
                g_string_append_printf(waiting, "%s%s (%s)", waiting->len > 0 ? ", " : "", name,
                                       state);
            }
        }
        if ((gint)ready != last_ready && !ctl->json && !ctl->quiet) {
            printf("Ready: %u of %u machines (%.1f s)\n", ready, live,
                   (g_get_monotonic_time() - t0) / 1e6);
            fflush(stdout);
        }
        last_ready = (gint)ready;
        if (ready == live)
            return TRUE;
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                        "after %" G_GUINT64_FORMAT " s, %u of %u machines of %s are not ready: %s. "
                        "A machine is ready when its guest agent connects (a template without "
                        "one: at its first DHCP lease): does the base image run "
                        "qemu-guest-agent? Wait longer with --ready-timeout SECONDS, or look with "
                        "'cohortctl machine console'",
                        timeout_s, live - ready, live, slug, waiting->str);
            return FALSE;
        }
        g_usleep(G_USEC_PER_SEC / 2);
    }
}

gboolean
cohort_ctl_cohort_provision(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean no_wait = FALSE;
    gboolean wait_ready = FALSE;
    g_autofree gchar *timeout_text = NULL;
    guint64 timeout_s = 600;
    const GOptionEntry entries[] = {
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {"wait-ready", 0, 0, G_OPTION_ARG_NONE, &wait_ready,
         "After the job, wait until every machine is ready (its guest agent connected)", NULL},
        {"ready-timeout", 0, 0, G_OPTION_ARG_STRING, &timeout_text,
         "How long --wait-ready waits at most (default 600)", "SECONDS"},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *slug = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;

    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "SLUG [--no-wait | --wait-ready [--ready-timeout SECONDS]]",
            "Make one machine for every enrolled trainee who has none (trainer, admin), and follow "
            "the job: a progress bar on a terminal, a line per change otherwise. Exits 1 when any "
            "machine failed; interrupting stops following, not the job. With --wait-ready, then "
            "waits until every machine is ready (exit 1 when the timeout passes first).",
            "  cohortctl cohort provision cloud-101\n"
            "  cohortctl cohort provision cloud-101 --no-wait\n"
            "  cohortctl cohort provision cloud-101 --wait-ready --ready-timeout 300\n",
            1, 1, error))
        return FALSE;
    if (no_wait && (wait_ready || timeout_text != NULL))
        return cohort_ctl_usage_error(error, "--no-wait does not wait: drop --wait-ready");
    if (timeout_text != NULL && !wait_ready)
        return cohort_ctl_usage_error(error, "--ready-timeout goes with --wait-ready");
    if (timeout_text != NULL &&
        !cohort_client_parse_count(timeout_text, "--ready-timeout", 86400, &timeout_s, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    slug = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/cohorts/%s/provision", slug);
    answer = cohort_client_call(client, "POST", path, NULL, error);
    if (answer == NULL)
        return FALSE;
    label = g_strdup_printf("provision %s", argv[1]);
    if (!cohort_ctl_cohort_job_started(ctl, answer, "provision", label, no_wait, error))
        return FALSE;
    if (!wait_ready)
        return TRUE;
    return cohort_ctl_cohort_wait_ready(ctl, client, argv[1], timeout_s, error);
}

gboolean
cohort_ctl_cohort_reclaim(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    return cohort_ctl_cohort_job(
        ctl, argc, argv, "reclaim",
        "Reclaim every machine of a cohort (trainer, admin): domains, disks and its network "
        "are deleted. Follows the job like provision.",
        "  cohortctl cohort reclaim cloud-101\n", error);
}
