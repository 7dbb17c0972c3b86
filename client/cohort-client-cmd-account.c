#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cohort-client-commands.h"
#include "cohort-client-config.h"
#include "cohort-client-error.h"

static JsonNode *
cohort_ctl_object_new(void)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, json_object_new());
    return node;
}

gboolean
cohort_ctl_version(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, NULL, "Show cohortctl's version.", NULL, 0, 0,
                          error))
        return FALSE;
    if (ctl->json) {
        g_autoptr(JsonNode) node = cohort_ctl_object_new();
        json_object_set_string_member(json_node_get_object(node), "version", PACKAGE_VERSION);
        cohort_ctl_print_json(node);
    } else {
        printf(ctl->quiet ? "%s\n" : "cohortctl %s\n", PACKAGE_VERSION);
    }
    return TRUE;
}

static void
cohort_ctl_print_identity(CohortCtl *ctl, JsonNode *node)
{
    JsonObject *me = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    g_autofree gchar *login = cohort_client_member_text(me, "login");
    g_autofree gchar *name = cohort_client_member_text(me, "display_name");
    g_autofree gchar *role = cohort_client_member_text(me, "role");

    if (ctl->json)
        cohort_ctl_print_json(node);
    else if (ctl->quiet)
        printf("%s\n", login);
    else
        printf("%s (%s), %s\n", login, name, role);
}

gboolean
cohort_ctl_whoami(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) me = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, NULL,
                          "Show the user the token belongs to: login, display name, role.",
                          "  cohortctl whoami\n  cohortctl --json whoami\n", 0, 0, error))
        return FALSE;
    client = cohort_ctl_client(ctl, TRUE, error);
    if (client == NULL)
        return FALSE;
    me = cohort_client_call(client, "GET", "/api/v1/whoami", NULL, error);
    if (me == NULL || cohort_ctl_expect_object(me, "whoami", error) == NULL)
        return FALSE;
    cohort_ctl_print_identity(ctl, me);
    return TRUE;
}

/* "--token -" reads the token from stdin, so it stays out of the shell history and ps. */
static gchar *
cohort_ctl_read_token(const gchar *option, GError **error)
{
    g_autofree gchar *line = NULL;
    gchar buf[1024];

    if (g_strcmp0(option, "-") != 0)
        return g_strdup(option);
    if (fgets(buf, sizeof(buf), stdin) == NULL) {
        cohort_ctl_usage_error(error, "--token -: nothing to read on stdin");
        return NULL;
    }
    line = g_strstrip(g_strdup(buf));
    memset(buf, 0, sizeof(buf));
    if (line[0] == '\0') {
        cohort_ctl_usage_error(error, "--token -: the line read on stdin is empty");
        return NULL;
    }
    return g_steal_pointer(&line);
}

/* The CA file that goes with the URL login and redeem store: --ca-file (after the verb or
 * before the noun), else COHORT_CA_FILE; client.conf's own only with client.conf's URL. */
static gboolean
cohort_ctl_store_ca_file(CohortCtl *ctl, const gchar *verb_option, gboolean url_given,
                         gchar **ca_file, GError **error)
{
    const gchar *option = verb_option != NULL ? verb_option : ctl->ca_file_option;
    const gchar *env = g_getenv("COHORT_CA_FILE");

    if (option == NULL && url_given) {
        *ca_file = g_strdup(env != NULL && env[0] != '\0' ? env : NULL);
        return TRUE;
    }
    return cohort_client_config_resolve_ca_file(option, ca_file, error);
}

gboolean
cohort_ctl_login(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *url = NULL;
    g_autofree gchar *token_arg = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *ca_option = NULL;
    g_autofree gchar *ca_file = NULL;
    g_autofree gchar *path = cohort_client_config_path();
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_FILENAME, &url, "cohortd's URL", "URL"},
        {"token", 0, 0, G_OPTION_ARG_FILENAME, &token_arg, "The token ('-': read it from stdin)",
         "TOKEN"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_option,
         "The CA certificates (PEM) that signed cohortd's, for https://", "FILE"},
        {NULL},
    };
    g_autoptr(CohortClient) client = NULL;
    g_autoptr(JsonNode) me = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "--url URL --token TOKEN [--ca-file FILE]",
                          "Check that TOKEN works at URL (GET /api/v1/whoami), then store both, "
                          "and the CA file if given, in client.conf (mode 0600).",
                          "  cohortctl login --url https://cohort.example.edu --token \"$T\"\n"
                          "  cohortctl login --url https://10.0.0.5:8580 --ca-file lab-ca.pem "
                          "--token \"$T\"\n"
                          "  cohortctl login --url http://127.0.0.1:8580 --token - < token.txt\n",
                          0, 0, error))
        return FALSE;
    /* The global --url/--token (before the noun) do as well. */
    if (url == NULL)
        url = g_strdup(ctl->url_option);
    if (token_arg == NULL)
        token_arg = g_strdup(ctl->token_option);
    if (url == NULL || token_arg == NULL)
        return cohort_ctl_usage_error(error, "login needs --url URL and --token TOKEN");
    token = cohort_ctl_read_token(token_arg, error);
    if (token == NULL || !cohort_ctl_store_ca_file(ctl, ca_option, TRUE, &ca_file, error))
        return FALSE;
    client = cohort_client_new(url, token, ca_file, error);
    if (client == NULL)
        return FALSE;
    me = cohort_client_call(client, "GET", "/api/v1/whoami", NULL, error);
    if (me == NULL || cohort_ctl_expect_object(me, "whoami", error) == NULL)
        return FALSE;
    if (!cohort_client_config_save(url, token, ca_file, error))
        return FALSE;
    if (!ctl->json && !ctl->quiet)
        printf("Logged in to %s; the token is stored in %s.\n", url, path);
    cohort_ctl_print_identity(ctl, me);
    return TRUE;
}

gboolean
cohort_ctl_redeem(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *url = NULL;
    g_autofree gchar *ca_option = NULL;
    g_autofree gchar *ca_file = NULL;
    g_autofree gchar *path = cohort_client_config_path();
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_FILENAME, &url, "cohortd's URL", "URL"},
        {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_option,
         "The CA certificates (PEM) that signed cohortd's, for https://", "FILE"},
        {NULL},
    };
    const gchar *env_url = g_getenv("COHORT_URL");
    g_autoptr(CohortClient) client = NULL;
    g_autoptr(JsonNode) body = cohort_ctl_object_new();
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *resolved_url = NULL;
    g_autofree gchar *unused_token = NULL;
    JsonObject *obj;
    const gchar *token;

    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "CODE [--url URL] [--ca-file FILE]",
            "Redeem an invitation code your trainer gave you. The token it "
            "returns is stored in client.conf, with the URL.",
            "  cohortctl redeem K7QF-M2XD-9HRT-WPCE --url https://cohort.example.edu\n", 1, 1,
            error))
        return FALSE;
    if (!cohort_client_config_resolve(url != NULL ? url : ctl->url_option, "", &resolved_url,
                                      &unused_token, error) ||
        !cohort_ctl_store_ca_file(ctl, ca_option,
                                  url != NULL || ctl->url_option != NULL ||
                                      (env_url != NULL && env_url[0] != '\0'),
                                  &ca_file, error))
        return FALSE;
    client = cohort_client_new(resolved_url, NULL, ca_file, error);
    if (client == NULL)
        return FALSE;
    json_object_set_string_member(json_node_get_object(body), "code", argv[1]);
    answer = cohort_client_call(client, "POST", "/api/v1/redeem", body, error);
    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "redeem", error)) == NULL)
        return FALSE;
    token = json_object_get_string_member_with_default(obj, "token", NULL);
    if (token == NULL) {
        g_set_error_literal(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                            "cohortd's answer to redeem holds no token");
        return FALSE;
    }
    if (!cohort_client_config_save(resolved_url, token, ca_file, error))
        return FALSE;
    if (ctl->json)
        cohort_ctl_print_json(answer);
    else if (ctl->quiet)
        printf("%s\n", json_object_get_string_member_with_default(obj, "login", ""));
    else
        printf("Welcome, %s. Your token is stored in %s; try: cohortctl machine list\n",
               json_object_get_string_member_with_default(obj, "login", ""), path);
    return TRUE;
}

gboolean
cohort_ctl_user_create(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *role = NULL;
    g_autofree gchar *display_name = NULL;
    const GOptionEntry entries[] = {
        {"role", 0, 0, G_OPTION_ARG_FILENAME, &role, "admin, trainer or trainee", "ROLE"},
        {"display-name", 0, 0, G_OPTION_ARG_FILENAME, &display_name,
         "The name people see (any UTF-8)", "NAME"},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = cohort_ctl_object_new();
    g_autoptr(JsonNode) answer = NULL;
    JsonObject *b = json_node_get_object(body);
    JsonObject *obj;

    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "LOGIN --role ROLE --display-name NAME",
            "Create a user (admin). The answer holds the user's first token: hand it over "
            "safely; --quiet prints only the token.",
            "  cohortctl user create lim-sophea --role trainer --display-name 'លឹម សោភា'\n", 1, 1,
            error))
        return FALSE;
    if (role == NULL || display_name == NULL)
        return cohort_ctl_usage_error(error, "user create needs --role and --display-name");
    if (!cohort_ctl_check_utf8(display_name, "--display-name", error) ||
        !cohort_ctl_check_utf8(role, "--role", error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    json_object_set_string_member(b, "login", argv[1]);
    json_object_set_string_member(b, "display_name", display_name);
    json_object_set_string_member(b, "role", role);
    answer = cohort_client_call(client, "POST", "/api/v1/users", body, error);
    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "user create", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else if (ctl->quiet) {
        printf("%s\n", json_object_get_string_member_with_default(obj, "token", ""));
    } else {
        g_autofree gchar *login = cohort_client_member_text(obj, "login");
        g_autofree gchar *r = cohort_client_member_text(obj, "role");
        g_autofree gchar *token = cohort_client_member_text(obj, "token");
        printf("Created %s (%s).\nToken: %s\n", login, r, token);
    }
    return TRUE;
}

gboolean
cohort_ctl_user_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {"LOGIN", "ROLE", "CREATED", "DISPLAY NAME", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonArray *users;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, NULL, "List users (admin).",
                          "  cohortctl user list\n  cohortctl --quiet user list\n", 0, 0, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "GET", "/api/v1/users", NULL, error);
    if (answer == NULL || (users = cohort_ctl_expect_array(answer, "user list", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    for (guint i = 0; i < json_array_get_length(users); i++) {
        JsonObject *u = cohort_ctl_array_object(users, i);
        gchar *cells[] = {
            cohort_client_member_text(u, "login"),
            cohort_client_member_text(u, "role"),
            cohort_client_member_text(u, "created_at"),
            cohort_client_member_text(u, "display_name"),
        };
        if (ctl->quiet)
            printf("%s\n", cells[0]);
        cohort_table_add_row_take(table, cells);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

gboolean
cohort_ctl_user_token(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *obj;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "LOGIN",
                          "Issue a new token for LOGIN (admin); the old ones keep working "
                          "until 'user revoke'. --quiet prints only the token.",
                          "  cohortctl user token sok-dara\n", 1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    login = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/users/%s/tokens", login);
    answer = cohort_client_call(client, "POST", path, NULL, error);
    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "user token", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else {
        g_autofree gchar *token = cohort_client_member_text(obj, "token");
        printf(ctl->quiet ? "%s\n" : "Token: %s\n", token);
    }
    return TRUE;
}

gboolean
cohort_ctl_user_revoke(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *obj;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "LOGIN",
                          "Revoke every token of LOGIN (admin): the user must log in again "
                          "with a token from 'user token'.",
                          "  cohortctl user revoke sok-dara\n", 1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    login = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/users/%s/tokens", login);
    answer = cohort_client_call(client, "DELETE", path, NULL, error);
    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "user revoke", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else {
        g_autofree gchar *n = cohort_client_member_text(obj, "revoked");
        printf(ctl->quiet ? "%s\n" : "Revoked %s token(s) of %s.\n", n, argv[1]);
    }
    return TRUE;
}
