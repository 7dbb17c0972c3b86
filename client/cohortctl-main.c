#define G_LOG_DOMAIN "cohortctl"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"

static gint
cohortctl_fail(const GError *error, const gchar *help_hint)
{
    CohortCtlExit code = cohort_client_exit_code(error);

    fprintf(stderr, "cohortctl: %s\n", error->message);
    if (code == COHORT_CTL_EXIT_USAGE && help_hint != NULL)
        fprintf(stderr, "Try '%s --help'.\n", help_hint);
    return code;
}

static gint
cohortctl_noun_help(const gchar *noun, gboolean asked)
{
    g_autofree gchar *help = cohort_ctl_noun_help(noun);

    fputs(help, asked ? stdout : stderr);
    return asked ? COHORT_CTL_EXIT_OK : COHORT_CTL_EXIT_USAGE;
}

static gboolean
cohortctl_is_help(const gchar *arg)
{
    return g_strcmp0(arg, "--help") == 0 || g_strcmp0(arg, "-h") == 0 ||
           g_strcmp0(arg, "help") == 0;
}

int
main(int argc, char **argv)
{
    g_auto(CohortCtl) ctl = {0};
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *description = cohort_ctl_global_help();
    g_autofree gchar *hint = NULL;
    g_autofree gchar **verb_argv = NULL;
    g_auto(GStrv) owned = NULL;
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_FILENAME, &ctl.url_option,
         "cohortd's URL (default: $COHORT_URL, client.conf, http://127.0.0.1:8580)", "URL"},
        {"token", 0, 0, G_OPTION_ARG_FILENAME, &ctl.token_option,
         "API token (default: $COHORT_TOKEN, client.conf)", "TOKEN"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ctl.ca_file_option,
         "Trust for https:// the CA certificates in FILE (PEM) instead of the system's "
         "(default: $COHORT_CA_FILE, client.conf)",
         "FILE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &ctl.json, "Print the API's JSON as received", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &ctl.quiet, "Print only ids and essentials", NULL},
        {NULL},
    };
    const CohortCtlCommand *command;
    const gchar *noun;
    gint first; /* the verb's first argument */
    gint n;

    setlocale(LC_ALL, "");
    g_set_prgname("cohortctl");
    context = g_option_context_new("NOUN VERB [ARGS…]");
    g_option_context_set_summary(context, "Run Cohort's teaching labs through cohortd's API.");
    g_option_context_set_description(context, description);
    g_option_context_add_main_entries(context, entries, NULL);
    /* Options up to the noun are cohortctl's; the rest belong to the verb. */
    g_option_context_set_strict_posix(context, TRUE);
    if (!g_option_context_parse(context, &argc, &argv, &error))
        return cohortctl_fail(error, "cohortctl");
    if (argc < 2) {
        g_autofree gchar *help = g_option_context_get_help(context, TRUE, NULL);
        fputs(help, stderr);
        return COHORT_CTL_EXIT_USAGE;
    }
    noun = argv[1];
    if (g_strcmp0(noun, "help") == 0) {
        const CohortCtlCommand *single = argc > 2 ? cohort_ctl_command_find(argv[2], NULL) : NULL;
        if (argc > 2 && cohort_ctl_noun_exists(argv[2]) && (single == NULL || single->verb != NULL))
            return cohortctl_noun_help(argv[2], TRUE);
        g_autofree gchar *help = g_option_context_get_help(context, TRUE, NULL);
        fputs(help, stdout);
        return COHORT_CTL_EXIT_OK;
    }
    if (!cohort_ctl_noun_exists(noun)) {
        g_set_error(&error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE, "unknown command '%s'",
                    noun);
        return cohortctl_fail(error, "cohortctl");
    }
    command = cohort_ctl_command_find(noun, NULL);
    if (command != NULL && command->verb == NULL) {
        first = 2;
        hint = g_strdup_printf("cohortctl %s", noun);
    } else {
        if (argc < 3 || cohortctl_is_help(argv[2]))
            return cohortctl_noun_help(noun, argc >= 3);
        command = cohort_ctl_command_find(noun, argv[2]);
        if (command == NULL) {
            g_set_error(&error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_USAGE,
                        "'%s' has no verb '%s'", noun, argv[2]);
            hint = g_strdup_printf("cohortctl %s", noun);
            return cohortctl_fail(error, hint);
        }
        first = 3;
        hint = g_strdup_printf("cohortctl %s %s", noun, command->verb);
    }
    /* The verb's argv: "NOUN VERB" then what followed. GOption reorders the pointers it is
     * given, so it gets a copy and the strings are owned apart. */
    n = argc - first + 1;
    owned = g_new0(gchar *, n + 1);
    owned[0] =
        command->verb != NULL ? g_strdup_printf("%s %s", noun, command->verb) : g_strdup(noun);
    for (gint i = first; i < argc; i++)
        owned[i - first + 1] = g_strdup(argv[i]);
    verb_argv = g_memdup2(owned, sizeof(gchar *) * (n + 1));
    if (!command->func(&ctl, n, verb_argv, &error))
        return cohortctl_fail(error, hint);
    return COHORT_CTL_EXIT_OK;
}
