#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cohort-client-commands.h"
#include "cohort-client-config.h"
#include "cohort-client-error.h"

static const CohortCtlCommand cohort_ctl_command_table[] = {
    {"whoami", NULL, cohort_ctl_whoami, "show who the token belongs to"},
    {"usage", NULL, cohort_ctl_usage, "what courses hold now and the machine-hours they ran"},
    {"login", NULL, cohort_ctl_login, "check a URL and token, then store them in client.conf"},
    {"redeem", NULL, cohort_ctl_redeem, "redeem an invitation code and store the token"},
    {"version", NULL, cohort_ctl_version, "show cohortctl's version"},
    {"user", "create", cohort_ctl_user_create, "create a user and print their first token"},
    {"user", "list", cohort_ctl_user_list, "list users"},
    {"user", "token", cohort_ctl_user_token, "issue a new token for a user"},
    {"user", "revoke", cohort_ctl_user_revoke, "revoke every token of a user"},
    {"key", "add", cohort_ctl_key_add, "add SSH public keys (a .pub file) for your machines"},
    {"key", "list", cohort_ctl_key_list, "list your SSH public keys"},
    {"key", "remove", cohort_ctl_key_remove, "remove one of your SSH public keys"},
    {"host", "list", cohort_ctl_host_list, "list hypervisor hosts and their use"},
    {"host", "add", cohort_ctl_host_add, "register a libvirt host"},
    {"host", "set", cohort_ctl_host_set, "change a host's capacity, ratios or pool"},
    {"host", "drain", cohort_ctl_host_drain, "place no new machines on a host"},
    {"host", "undrain", cohort_ctl_host_drain, "take a drained host back"},
    {"host", "evacuate", cohort_ctl_host_evacuate, "move every machine off a host (a job)"},
    {"host", "remove-base", cohort_ctl_host_remove_base, "remove a template's base from a host"},
    {"host", "remove", cohort_ctl_host_remove, "remove a host no machine lives on"},
    {"template", "list", cohort_ctl_template_list, "list templates"},
    {"template", "show", cohort_ctl_template_show, "show a template and its base on each host"},
    {"template", "base", cohort_ctl_template_base, "install a template's base volume"},
    {"template", "reload", cohort_ctl_template_reload, "read the templates directory again"},
    {"cohort", "create", cohort_ctl_cohort_create, "create a cohort (a course)"},
    {"cohort", "list", cohort_ctl_cohort_list, "list cohorts"},
    {"cohort", "show", cohort_ctl_cohort_show, "show a cohort, its trainees and machines"},
    {"cohort", "update", cohort_ctl_cohort_update,
     "change title, end, grace period, quota or lease"},
    {"cohort", "roster", cohort_ctl_cohort_roster, "load a roster (CSV) and print invitations"},
    {"cohort", "invite", cohort_ctl_cohort_invite, "a new invitation code for one trainee"},
    {"cohort", "invitations", cohort_ctl_cohort_invitations,
     "codes for every trainee who has none (--reissue: all), as cards (--csv)"},
    {"cohort", "unenrol", cohort_ctl_cohort_unenrol, "take a trainee out (their machines go)"},
    {"cohort", "provision", cohort_ctl_cohort_provision, "make a machine for every trainee"},
    {"cohort", "reclaim", cohort_ctl_cohort_reclaim, "reclaim every machine of a cohort"},
    {"machine", "list", cohort_ctl_machine_list, "list machines"},
    {"machine", "show", cohort_ctl_machine_show, "show one machine"},
    {"machine", "request", cohort_ctl_machine_request, "request a machine in a cohort"},
    {"machine", "start", cohort_ctl_machine_action, "start a machine"},
    {"machine", "stop", cohort_ctl_machine_action, "stop a machine"},
    {"machine", "reboot", cohort_ctl_machine_action, "reboot a machine"},
    {"machine", "reset", cohort_ctl_machine_action, "make a machine again from its template"},
    {"machine", "release", cohort_ctl_machine_action, "give a machine back (it is deleted)"},
    {"machine", "extend", cohort_ctl_machine_action, "extend a machine's lease by one period"},
    {"machine", "move", cohort_ctl_machine_move, "move a machine to another host"},
    {"machine", "console", cohort_ctl_machine_console, "show how to reach a machine's console"},
    {"job", "show", cohort_ctl_job_show, "show a job's progress and errors"},
    {"audit", "list", cohort_ctl_audit_list, "show the audit log, newest first"},
    {NULL, NULL, NULL, NULL},
};

static const gchar *const cohort_ctl_noun_examples[][2] = {
    {"user", "  cohortctl user create lim-sophea --role trainer --display-name 'លឹម សោភា'\n"
             "  cohortctl user list\n"
             "  cohortctl user token lim-sophea\n"},
    {"key", "  cohortctl key add ~/.ssh/id_ed25519.pub\n"
            "  cohortctl key list\n"
            "  cohortctl key remove 1\n"},
    {"host", "  cohortctl host add lab1 --uri qemu+ssh://lab1/system --pool default\n"
             "  cohortctl host list\n"
             "  cohortctl host set lab1 --cpu-ratio 2\n"
             "  cohortctl host drain lab1\n"
             "  cohortctl host evacuate lab1\n"
             "  cohortctl host remove lab1\n"},
    {"template",
     "  cohortctl template list\n"
     "  cohortctl template base small-linux --path /var/lib/cohort/images/debian-12.qcow2\n"
     "  cohortctl template reload\n"},
    {"cohort", "  cohortctl cohort create cloud-101 --template small-linux --title 'Cloud 101' \\\n"
               "      --starts 2026-03-02 --ends 2026-03-13 --max-machines 1\n"
               "  cohortctl cohort roster cloud-101 trainees.csv\n"
               "  cohortctl cohort invite cloud-101 sok-dara\n"
               "  cohortctl cohort invitations cloud-101 --csv > cards.csv\n"
               "  cohortctl cohort provision cloud-101\n"},
    {"machine", "  cohortctl machine list --cohort cloud-101\n"
                "  cohortctl machine reset cloud-101/sok-dara\n"
                "  cohortctl machine move cloud-101/sok-dara --host lab2\n"
                "  cohortctl machine console 42\n"},
    {"job", "  cohortctl job show 7 --wait\n"},
    {"audit", "  cohortctl audit list --limit 20\n"},
};

void
cohort_ctl_clear(CohortCtl *ctl)
{
    g_clear_pointer(&ctl->url_option, g_free);
    g_clear_pointer(&ctl->token_option, g_free);
    g_clear_pointer(&ctl->ca_file_option, g_free);
    g_clear_pointer(&ctl->client, cohort_client_free);
}

const CohortCtlCommand *
cohort_ctl_commands(void)
{
    return cohort_ctl_command_table;
}

const CohortCtlCommand *
cohort_ctl_command_find(const gchar *noun, const gchar *verb)
{
    for (const CohortCtlCommand *c = cohort_ctl_command_table; c->noun != NULL; c++) {
        if (g_strcmp0(c->noun, noun) == 0 && (c->verb == NULL || g_strcmp0(c->verb, verb) == 0))
            return c;
    }
    return NULL;
}

gboolean
cohort_ctl_noun_exists(const gchar *noun)
{
    for (const CohortCtlCommand *c = cohort_ctl_command_table; c->noun != NULL; c++) {
        if (g_strcmp0(c->noun, noun) == 0)
            return TRUE;
    }
    return FALSE;
}

gchar *
cohort_ctl_noun_help(const gchar *noun)
{
    GString *out = g_string_new(NULL);

    g_string_append_printf(out, "Usage:\n  cohortctl [OPTION…] %s VERB [ARGS…]\n\nVerbs:\n", noun);
    for (const CohortCtlCommand *c = cohort_ctl_command_table; c->noun != NULL; c++) {
        if (g_strcmp0(c->noun, noun) == 0 && c->verb != NULL)
            g_string_append_printf(out, "  %-11s %s\n", c->verb, c->summary);
    }
    for (guint i = 0; i < G_N_ELEMENTS(cohort_ctl_noun_examples); i++) {
        if (g_strcmp0(cohort_ctl_noun_examples[i][0], noun) == 0)
            g_string_append_printf(out, "\nExamples:\n%s", cohort_ctl_noun_examples[i][1]);
    }
    g_string_append_printf(out, "\n'cohortctl %s VERB --help' tells more about each verb.\n", noun);
    return g_string_free(out, FALSE);
}

gchar *
cohort_ctl_global_help(void)
{
    GString *out = g_string_new("Commands:\n");
    const gchar *last = NULL;

    for (const CohortCtlCommand *c = cohort_ctl_command_table; c->noun != NULL; c++) {
        g_autofree gchar *name =
            c->verb != NULL ? g_strdup_printf("%s %s", c->noun, c->verb) : g_strdup(c->noun);
        if (last != NULL && g_strcmp0(last, c->noun) != 0 && c->verb != NULL)
            g_string_append_c(out, '\n');
        last = c->noun;
        g_string_append_printf(out, "  %-19s %s\n", name, c->summary);
    }
    g_string_append(
        out,
        "\n'cohortctl NOUN --help' and 'cohortctl NOUN VERB --help' tell more.\n"
        "A machine is named by its id (42) or as COHORT/TRAINEE (cloud-101/sok-dara).\n"
        "DATE is YYYY-MM-DD (--ends: the end of that day, UTC) or an RFC 3339 time.\n"
        "\n"
        "Exit status:\n"
        "  0  success\n"
        "  1  failure on the server's side (internal, libvirt-error, no-capacity,\n"
        "     host-unavailable), a job with failed machines, or a local error\n"
        "  2  usage: the command line is wrong\n"
        "  3  authentication: no token, unauthenticated or forbidden\n"
        "  4  not found\n"
        "  5  conflict or quota-exceeded\n"
        "  6  cohortd cannot be reached (its TLS certificate not trusted included)\n"
        "  7  invalid-argument or payload-too-large: cohortd refused the values\n"
        "\n"
        "Environment:\n"
        "  COHORT_URL      cohortd's URL (default " COHORT_CLIENT_DEFAULT_URL ")\n"
        "  COHORT_TOKEN    the API token\n"
        "  COHORT_CA_FILE  the CA certificates (PEM) to trust for https:// (default: the\n"
        "                  system's)\n"
        "\n"
        "Files:\n"
        "  $XDG_CONFIG_HOME/cohort/client.conf (~/.config/cohort/client.conf): [client] url=,\n"
        "  token=, ca_file=; written by 'login' and 'redeem' (mode 0600). --url/--token/\n"
        "  --ca-file win over the environment, which wins over the file.\n"
        "\n"
        "Examples:\n"
        "  cohortctl login --url https://cohort.example.edu --token \"$TOKEN\"\n"
        "  cohortctl redeem K7QF-M2XD-9HRT-WPCE --url https://cohort.example.edu\n"
        "  cohortctl cohort provision cloud-101\n"
        "  cohortctl --json machine list --cohort cloud-101\n");
    return g_string_free(out, FALSE);
}

gboolean
cohort_ctl_usage_error(GError **error, const gchar *format, ...)
{
    va_list args;
    g_autofree gchar *message = NULL;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE, message);
    return FALSE;
}

gboolean
cohort_ctl_parse(CohortCtl *ctl, gint *argc, gchar ***argv, const GOptionEntry *entries,
                 const gchar *params, const gchar *summary, const gchar *examples, guint min,
                 guint max, GError **error)
{
    const GOptionEntry output_entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &ctl->json, "Print the API's JSON as received", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &ctl->quiet, "Print only ids and essentials", NULL},
        {NULL},
    };
    g_autofree gchar *parameter = g_strdup_printf("%s%s%s", (*argv)[0], params != NULL ? " " : "",
                                                  params != NULL ? params : "");
    g_autoptr(GOptionContext) context = g_option_context_new(parameter);
    g_autofree gchar *description =
        examples != NULL
            ? g_strdup_printf("Examples:\n%s\nExit status: see cohortctl --help.", examples)
            : NULL;
    guint n;

    if (entries != NULL)
        g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_add_main_entries(context, output_entries, NULL);
    g_option_context_set_summary(context, summary);
    if (description != NULL)
        g_option_context_set_description(context, description);
    if (!g_option_context_parse(context, argc, argv, error)) {
        g_prefix_error(error, "%s: ", (*argv)[0]);
        return FALSE;
    }
    if (ctl->json && ctl->quiet)
        return cohort_ctl_usage_error(error, "--json and --quiet exclude each other");
    n = (guint)*argc - 1;
    if (n < min || n > max) {
        if (n < min)
            return cohort_ctl_usage_error(error, "%s: missing arguments; usage: cohortctl %s",
                                          (*argv)[0], parameter);
        return cohort_ctl_usage_error(error, "%s: unexpected argument '%s'; usage: cohortctl %s",
                                      (*argv)[0], (*argv)[max + 1], parameter);
    }
    for (gint i = 1; i < *argc; i++) {
        if (!cohort_ctl_check_utf8((*argv)[i], "an argument", error))
            return FALSE;
    }
    return TRUE;
}

CohortClient *
cohort_ctl_client(CohortCtl *ctl, gboolean need_token, GError **error)
{
    g_autofree gchar *url = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *ca_file = NULL;

    if (ctl->client != NULL)
        return ctl->client;
    if (!cohort_client_config_resolve(ctl->url_option, ctl->token_option, &url, &token, error) ||
        !cohort_client_config_resolve_ca_file(ctl->ca_file_option, &ca_file, error))
        return NULL;
    if (need_token && token == NULL) {
        g_set_error_literal(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_NO_TOKEN,
                            "no token: log in with 'cohortctl login --url URL --token TOKEN', "
                            "redeem an invitation, or set COHORT_TOKEN");
        return NULL;
    }
    ctl->client = cohort_client_new(url, token, ca_file, error);
    return ctl->client;
}

void
cohort_ctl_print_json(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree gchar *text = NULL;

    json_generator_set_pretty(gen, TRUE);
    json_generator_set_indent(gen, 2);
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, NULL);
    fputs(text, stdout);
    fputc('\n', stdout);
}

void
cohort_ctl_print_table(CohortTable *table)
{
    g_autofree gchar *text = cohort_table_render(table);

    fputs(text, stdout);
}

void
cohort_ctl_print_fields(JsonObject *obj, const gchar *const *members, const gchar *const *labels)
{
    gsize width = 0;

    for (guint i = 0; members[i] != NULL; i++)
        width = MAX(width, cohort_client_display_width(labels[i]));
    for (guint i = 0; members[i] != NULL; i++) {
        g_autofree gchar *value = cohort_client_member_text(obj, members[i]);
        printf("%s:", labels[i]);
        for (gsize w = cohort_client_display_width(labels[i]); w < width + 2; w++)
            fputc(' ', stdout);
        printf("%s\n", value);
    }
}

JsonArray *
cohort_ctl_expect_array(JsonNode *node, const gchar *what, GError **error)
{
    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                    "cohortd answered %s with something that is not a list", what);
        return NULL;
    }
    return json_node_get_array(node);
}

JsonArray *
cohort_ctl_error_details(JsonNode *error_body, const gchar *member)
{
    JsonObject *root = error_body != NULL && JSON_NODE_HOLDS_OBJECT(error_body)
                           ? json_node_get_object(error_body)
                           : NULL;
    JsonNode *err = root != NULL ? json_object_get_member(root, "error") : NULL;
    JsonNode *details = NULL;

    if (err != NULL && JSON_NODE_HOLDS_OBJECT(err))
        details = json_object_get_member(json_node_get_object(err), member);
    return details != NULL && JSON_NODE_HOLDS_ARRAY(details) ? json_node_get_array(details) : NULL;
}

JsonObject *
cohort_ctl_array_object(JsonArray *array, guint i)
{
    JsonNode *node = json_array_get_element(array, i);

    return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

JsonObject *
cohort_ctl_expect_object(JsonNode *node, const gchar *what, GError **error)
{
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                    "cohortd answered %s with something that is not an object", what);
        return NULL;
    }
    return json_node_get_object(node);
}

gboolean
cohort_ctl_check_utf8(const gchar *value, const gchar *option, GError **error)
{
    if (value != NULL && !g_utf8_validate(value, -1, NULL))
        return cohort_ctl_usage_error(error, "%s is not valid UTF-8", option);
    return TRUE;
}
