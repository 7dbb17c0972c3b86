/* cohortctl key: a user's SSH public keys, which go into the cloud-init seed of their machines
 * made or reset afterwards. */
#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"
#include "cohort-error.h"
#include "cohort-ssh-key.h"

/* The login whose keys these are: --user, or the token's own. */
static gchar *
cohort_ctl_key_login(CohortClient *client, const gchar *user, GError **error)
{
    g_autoptr(JsonNode) me = NULL;
    JsonObject *obj;

    if (user != NULL)
        return g_strdup(user);
    me = cohort_client_call(client, "GET", "/api/v1/whoami", NULL, error);
    if (me == NULL || (obj = cohort_ctl_expect_object(me, "whoami", error)) == NULL)
        return NULL;
    return cohort_client_member_text(obj, "login");
}

static gchar *
cohort_ctl_key_path(const gchar *login)
{
    g_autofree gchar *escaped = cohort_client_escape(login);
    return g_strdup_printf("/api/v1/users/%s/ssh-keys", escaped);
}

/* The user's keys as cohortd has them now (and its answer, when @answer_out is not NULL). */
static GPtrArray *
cohort_ctl_key_get(CohortClient *client, const gchar *path, JsonNode **answer_out, GError **error)
{
    g_autoptr(JsonNode) answer = cohort_client_call(client, "GET", path, NULL, error);
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    JsonObject *obj;
    JsonNode *node;

    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "ssh-keys", error)) == NULL)
        return NULL;
    node = json_object_get_member(obj, "keys");
    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error_literal(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                            "cohortd answered ssh-keys without a list of keys");
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(node)); i++) {
        const gchar *k = json_array_get_string_element(json_node_get_array(node), i);
        g_ptr_array_add(keys, g_strdup(k != NULL ? k : ""));
    }
    if (answer_out != NULL)
        *answer_out = g_steal_pointer(&answer);
    return g_steal_pointer(&keys);
}

static JsonNode *
cohort_ctl_key_put(CohortClient *client, const gchar *path, GPtrArray *keys, GError **error)
{
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    JsonObject *obj = json_object_new();
    JsonArray *array = json_array_new();

    for (guint i = 0; i < keys->len; i++)
        json_array_add_string_element(array, g_ptr_array_index(keys, i));
    json_object_set_array_member(obj, "keys", array);
    json_node_take_object(body, obj);
    return cohort_client_call(client, "PUT", path, body, error);
}

static void
cohort_ctl_key_print(CohortCtl *ctl, JsonNode *answer, GPtrArray *keys)
{
    static const gchar *const headers[] = {"N", "TYPE", "FINGERPRINT", "COMMENT", NULL};
    g_autoptr(CohortTable) table = cohort_table_new(headers);

    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return;
    }
    for (guint i = 0; i < keys->len; i++) {
        const gchar *key = g_ptr_array_index(keys, i);
        g_auto(GStrv) parts = g_strsplit(key, " ", 3);
        gchar *cells[] = {
            g_strdup_printf("%u", i + 1),
            g_strdup(parts[0] != NULL ? parts[0] : ""),
            cohort_ssh_key_fingerprint(key),
            g_strdup(parts[0] != NULL && parts[1] != NULL && parts[2] != NULL ? parts[2] : ""),
        };
        if (cells[2] == NULL)
            cells[2] = g_strdup("?");
        if (ctl->quiet)
            printf("%s\n", cells[2]);
        cohort_table_add_row_take(table, cells);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
}

gboolean
cohort_ctl_key_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *user = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(GPtrArray) keys = NULL;
    CohortClient *client;
    const GOptionEntry entries[] = {
        {"user", 0, 0, G_OPTION_ARG_STRING, &user, "Another user's keys (admin)", "LOGIN"},
        {NULL},
    };

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, NULL,
                          "List your SSH public keys (or LOGIN's, for an admin): number, type, "
                          "fingerprint, comment. --quiet prints only the fingerprints.",
                          "  cohortctl key list\n  cohortctl key list --user sok-dara\n", 0, 0,
                          error) ||
        !cohort_ctl_check_utf8(user, "--user", error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL ||
        (login = cohort_ctl_key_login(client, user, error)) == NULL)
        return FALSE;
    path = cohort_ctl_key_path(login);
    keys = cohort_ctl_key_get(client, path, &answer, error);
    if (keys == NULL)
        return FALSE;
    cohort_ctl_key_print(ctl, answer, keys);
    return TRUE;
}

gboolean
cohort_ctl_key_add(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *user = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(GPtrArray) keys = NULL;
    g_autoptr(GPtrArray) fingerprints = g_ptr_array_new_with_free_func(g_free);
    CohortClient *client;
    guint added = 0;
    guint parsed = 0;
    const GOptionEntry entries[] = {
        {"user", 0, 0, G_OPTION_ARG_STRING, &user, "Add to another user's keys (admin)", "LOGIN"},
        {NULL},
    };

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "FILE",
                          "Add the SSH public keys of FILE (a .pub file, or an authorized_keys "
                          "file: one key a line; '-' reads standard input) to your keys (or "
                          "LOGIN's, for an admin). They go into the seed of your machines made "
                          "or reset from now on. A key you have already is left as it is.",
                          "  cohortctl key add ~/.ssh/id_ed25519.pub\n"
                          "  cohortctl key add keys.pub --user sok-dara\n",
                          1, 1, error) ||
        !cohort_ctl_check_utf8(user, "--user", error))
        return FALSE;
    if (g_strcmp0(argv[1], "-") == 0) {
        GString *in = g_string_new(NULL);
        gchar buf[4096];
        gsize n;
        /* a few keys: stop reading well past what cohortd would take */
        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0 && in->len < 1024 * 1024)
            g_string_append_len(in, buf, (gssize)n);
        text = g_string_free(in, FALSE);
    } else if (!g_file_get_contents(argv[1], &text, NULL, error)) {
        return FALSE;
    }
    lines = g_strsplit(text, "\n", -1);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL ||
        (login = cohort_ctl_key_login(client, user, error)) == NULL)
        return FALSE;
    path = cohort_ctl_key_path(login);
    keys = cohort_ctl_key_get(client, path, NULL, error);
    if (keys == NULL)
        return FALSE;
    for (guint i = 0; i < keys->len; i++)
        g_ptr_array_add(fingerprints, cohort_ssh_key_fingerprint(g_ptr_array_index(keys, i)));
    for (guint i = 0; lines[i] != NULL; i++) {
        g_autofree gchar *line = g_strstrip(g_strdup(lines[i]));
        g_autofree gchar *key = NULL;
        g_autofree gchar *fp = NULL;
        gboolean known = FALSE;

        g_strdelimit(line, "\r", ' ');
        g_strstrip(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        key = cohort_ssh_key_normalize(line, error);
        if (key == NULL) {
            g_prefix_error(error, "%s:%u: ", argv[1], i + 1);
            return FALSE;
        }
        parsed++;
        fp = cohort_ssh_key_fingerprint(key);
        for (guint j = 0; j < fingerprints->len && !known; j++)
            known = g_strcmp0(g_ptr_array_index(fingerprints, j), fp) == 0;
        if (known) {
            if (!ctl->quiet && !ctl->json)
                printf("Already there: %s\n", fp);
            continue;
        }
        g_ptr_array_add(fingerprints, g_steal_pointer(&fp));
        g_ptr_array_add(keys, g_steal_pointer(&key));
        added++;
    }
    if (parsed == 0)
        return cohort_ctl_usage_error(error, "%s holds no SSH public key", argv[1]);
    /* nothing new: nothing to send */
    if (added == 0)
        return TRUE;
    answer = cohort_ctl_key_put(client, path, keys, error);
    if (answer == NULL)
        return FALSE;
    if (ctl->json)
        cohort_ctl_print_json(answer);
    else if (!ctl->quiet)
        printf("Added %u key(s); %s has %u. Machines made or reset from now on get them.\n", added,
               login, keys->len);
    return TRUE;
}

gboolean
cohort_ctl_key_remove(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *user = NULL;
    g_autofree gchar *login = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(GPtrArray) keys = NULL;
    CohortClient *client;
    guint64 n = 0;
    gint found = -1;
    const GOptionEntry entries[] = {
        {"user", 0, 0, G_OPTION_ARG_STRING, &user, "Remove from another user's keys (admin)",
         "LOGIN"},
        {NULL},
    };

    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "N|FINGERPRINT",
            "Remove one of your SSH public keys (or LOGIN's, for an admin), named "
            "by its number in 'key list' or its fingerprint (SHA256:…).",
            "  cohortctl key remove 2\n"
            "  cohortctl key remove SHA256:mKqU+0K8OhKmA8bBQi9Rz0Q5l7/g160hIP+rJYSTNj4\n",
            1, 1, error) ||
        !cohort_ctl_check_utf8(user, "--user", error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL ||
        (login = cohort_ctl_key_login(client, user, error)) == NULL)
        return FALSE;
    path = cohort_ctl_key_path(login);
    keys = cohort_ctl_key_get(client, path, NULL, error);
    if (keys == NULL)
        return FALSE;
    if (g_ascii_string_to_unsigned(argv[1], 10, 1, G_MAXUINT, &n, NULL)) {
        if (n <= keys->len)
            found = (gint)n - 1;
    } else {
        for (guint i = 0; i < keys->len && found < 0; i++) {
            g_autofree gchar *fp = cohort_ssh_key_fingerprint(g_ptr_array_index(keys, i));
            if (g_strcmp0(fp, argv[1]) == 0)
                found = (gint)i;
        }
    }
    if (found < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "%s has no key %s ('cohortctl key list' shows them)", login, argv[1]);
        return FALSE;
    }
    g_ptr_array_remove_index(keys, (guint)found);
    answer = cohort_ctl_key_put(client, path, keys, error);
    if (answer == NULL)
        return FALSE;
    if (ctl->json)
        cohort_ctl_print_json(answer);
    else if (!ctl->quiet)
        printf("Removed key %d; %s has %u. Machines made before keep the keys they got.\n",
               found + 1, login, keys->len);
    return TRUE;
}
