#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"
#include "cohort-error.h"

static const gchar *const cohort_ctl_machine_headers[] = {
    "ID",      "NAME",    "COHORT", "TRAINEE",    "HOST",    "STATE", "READY",
    "ADDRESS", "PENDING", "VCPUS",  "MEMORY MIB", "EXPIRES", NULL,
};

static void
cohort_ctl_machine_row(CohortTable *table, JsonObject *m)
{
    gchar *cells[] = {
        cohort_client_member_text(m, "id"),
        cohort_client_member_text(m, "name"),
        cohort_client_member_text(m, "cohort"),
        cohort_client_member_text(m, "trainee"),
        cohort_client_member_text(m, "host"),
        cohort_client_member_text(m, "state"),
        cohort_client_ready_text(m),
        cohort_client_list_text(m, "addresses"),
        cohort_client_list_text(m, "pending"),
        cohort_client_member_text(m, "vcpus"),
        cohort_client_member_text(m, "memory_mib"),
        cohort_client_member_text(m, "expires_at"),
    };
    cohort_table_add_row_take(table, cells);
}

static gboolean
cohort_ctl_print_machine(CohortCtl *ctl, JsonNode *answer, GError **error)
{
    static const gchar *const members[] = {
        "id",         "name",       "cohort",    "trainee", "host",  "state",
        "ready",      "ready_at",   "addresses", "pending", "vcpus", "memory_mib",
        "created_at", "expires_at", "error",     NULL,
    };
    static const gchar *const labels[] = {
        "Id",      "Name",        "Cohort",  "Trainee", "Host",  "State",
        "Ready",   "Ready since", "Address", "Pending", "vCPUs", "Memory (MiB)",
        "Created", "Expires",     "Error",   NULL,
    };
    JsonObject *m = cohort_ctl_expect_object(answer, "machine", error);

    if (m == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else if (ctl->quiet) {
        g_autofree gchar *id = cohort_client_member_text(m, "id");
        printf("%s\n", id);
    } else {
        /* the work that waits behind the state's, in order, as words */
        g_autofree gchar *pending = cohort_client_list_text(m, "pending");
        g_autofree gchar *ready = cohort_client_ready_text(m);
        g_autofree gchar *addresses = cohort_client_list_text(m, "addresses");
        g_autoptr(JsonNode) shown = json_node_copy(answer);
        json_object_set_string_member(json_node_get_object(shown), "pending", pending);
        json_object_set_string_member(json_node_get_object(shown), "ready", ready);
        json_object_set_string_member(json_node_get_object(shown), "addresses", addresses);
        cohort_ctl_print_fields(json_node_get_object(shown), members, labels);
    }
    return TRUE;
}

/* Polls soon, then less often, like a job: a start on the test driver is seen at once, a
 * stop that waits for a guest costs cohortd four requests a second. */
#define COHORT_CTL_MACHINE_POLL_FIRST_USEC (G_USEC_PER_SEC / 50)
#define COHORT_CTL_MACHINE_POLL_MAX_USEC (G_USEC_PER_SEC / 4)

/* `machine VERB --wait`: follows the machine until it is at rest (no work under way, nothing
 * pending), a line for each state it shows; fails when it is not where @verb leads. */
static gboolean
cohort_ctl_machine_follow(CohortCtl *ctl, CohortClient *client, gint64 id, const gchar *verb,
                          JsonNode *answer, GError **error)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    g_autoptr(JsonNode) node = json_node_copy(answer);
    g_autofree gchar *shown = NULL;
    gulong poll_usec = COHORT_CTL_MACHINE_POLL_FIRST_USEC;
    JsonObject *m;

    for (;;) {
        g_autofree gchar *state = NULL;
        g_autofree gchar *pending = NULL;
        g_autofree gchar *line = NULL;

        m = cohort_ctl_expect_object(node, "machine", error);
        if (m == NULL)
            return FALSE;
        state = cohort_client_member_text(m, "state");
        pending = cohort_client_list_text(m, "pending");
        line = g_strcmp0(pending, "-") == 0 ? g_strdup(state)
                                            : g_strdup_printf("%s (then %s)", state, pending);
        if (!ctl->json && !ctl->quiet && g_strcmp0(line, shown) != 0) {
            g_autofree gchar *name = cohort_client_member_text(m, "name");
            printf("Machine %" G_GINT64_FORMAT " (%s): %s\n", id, name, line);
            fflush(stdout);
        }
        g_free(shown);
        shown = g_steal_pointer(&line);
        if (cohort_client_machine_at_rest(m))
            break;
        g_usleep(poll_usec);
        poll_usec = MIN(poll_usec * 3 / 2, COHORT_CTL_MACHINE_POLL_MAX_USEC);
        g_clear_pointer(&node, json_node_unref);
        node = cohort_client_call(client, "GET", path, NULL, error);
        if (node == NULL)
            return FALSE;
    }
    if (ctl->json)
        cohort_ctl_print_json(node);
    else if (ctl->quiet)
        printf("%" G_GINT64_FORMAT "\n", id);
    return cohort_client_machine_wait_check(verb, m, error);
}

static JsonNode *
cohort_ctl_machines_get(CohortClient *client, const gchar *cohort, GError **error)
{
    g_autofree gchar *escaped = cohort != NULL ? cohort_client_escape(cohort) : NULL;
    g_autofree gchar *path = cohort != NULL ? g_strdup_printf("/api/v1/machines?cohort=%s", escaped)
                                            : g_strdup("/api/v1/machines");
    g_autoptr(JsonNode) answer = cohort_client_call(client, "GET", path, NULL, error);

    if (answer == NULL || cohort_ctl_expect_array(answer, "machine list", error) == NULL)
        return NULL;
    return g_steal_pointer(&answer);
}

/* "42" or "cloud-101/sok-dara" → 42. */
static gboolean
cohort_ctl_machine_resolve(CohortClient *client, const gchar *text, gint64 *id, GError **error)
{
    g_auto(CohortMachineRef) ref = {0};
    g_autoptr(JsonNode) machines = NULL;
    JsonObject *m;

    if (!cohort_client_machine_ref_parse(text, &ref, error))
        return FALSE;
    if (ref.id > 0) {
        *id = ref.id;
        return TRUE;
    }
    machines = cohort_ctl_machines_get(client, ref.cohort, error);
    if (machines == NULL)
        return FALSE;
    if (ref.name != NULL) {
        JsonArray *a = json_node_get_array(machines);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *candidate = cohort_ctl_array_object(a, i);
            if (candidate != NULL &&
                g_strcmp0(json_object_get_string_member_with_default(candidate, "name", NULL),
                          ref.name) == 0 &&
                g_strcmp0(json_object_get_string_member_with_default(candidate, "state", NULL),
                          "reclaimed") != 0) {
                *id = json_object_get_int_member_with_default(candidate, "id", 0);
                return *id > 0;
            }
        }
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "no machine named %s that you can see: reclaimed machines are never "
                    "picked, and a trainee sees only their own (not-found)",
                    ref.name);
        return FALSE;
    }
    m = cohort_client_machine_pick(json_node_get_array(machines), ref.trainee, error);
    if (m == NULL && error != NULL && *error != NULL)
        return FALSE;
    if (m == NULL || json_object_get_int_member_with_default(m, "id", 0) <= 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "no machine of %s in %s that you can see: reclaimed machines are never "
                    "picked, and a trainee sees only their own (not-found)",
                    ref.trainee, ref.cohort);
        return FALSE;
    }
    *id = json_object_get_int_member(m, "id");
    return TRUE;
}

gboolean
cohort_ctl_machine_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *cohort = NULL;
    const GOptionEntry entries[] = {
        {"cohort", 'c', 0, G_OPTION_ARG_FILENAME, &cohort, "Only this cohort's machines", "SLUG"},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(cohort_ctl_machine_headers);
    JsonArray *machines;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "[--cohort SLUG]",
                          "List machines: a trainee's own, a trainer's cohorts', or all (admin).",
                          "  cohortctl machine list\n  cohortctl machine list --cohort cloud-101\n",
                          0, 0, error))
        return FALSE;
    if (!cohort_ctl_check_utf8(cohort, "--cohort", error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_ctl_machines_get(client, cohort, error);
    if (answer == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    machines = json_node_get_array(answer);
    for (guint i = 0; i < json_array_get_length(machines); i++) {
        JsonObject *m = cohort_ctl_array_object(machines, i);
        if (ctl->quiet) {
            g_autofree gchar *id = cohort_client_member_text(m, "id");
            printf("%s\n", id);
        }
        cohort_ctl_machine_row(table, m);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

gboolean
cohort_ctl_machine_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *path = NULL;
    gint64 id;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "MACHINE",
                          "Show a machine, named by its id, by its name, or as COHORT/TRAINEE "
                          "(that trainee's machine; when they have several, name one).",
                          "  cohortctl machine show 42\n"
                          "  cohortctl machine show cloud-101/sok-dara\n",
                          1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    if (!cohort_ctl_machine_resolve(client, argv[1], &id, error))
        return FALSE;
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
    answer = cohort_client_call(client, "GET", path, NULL, error);
    return answer != NULL && cohort_ctl_print_machine(ctl, answer, error);
}

gboolean
cohort_ctl_machine_request(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *trainee = NULL;
    const GOptionEntry entries[] = {
        {"trainee", 't', 0, G_OPTION_ARG_FILENAME, &trainee,
         "For this trainee (a trainer or admin asking)", "LOGIN"},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    JsonObject *b = json_object_new();

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "COHORT [--trainee LOGIN]",
                          "Request a machine in a cohort, within its quota. It is made in the "
                          "background: see its state with 'machine show'.",
                          "  cohortctl machine request cloud-101\n"
                          "  cohortctl machine request cloud-101 --trainee sok-dara\n",
                          1, 1, error))
        return FALSE;
    if (!cohort_ctl_check_utf8(trainee, "--trainee", error))
        return FALSE;
    json_object_set_string_member(b, "cohort", argv[1]);
    if (trainee != NULL)
        json_object_set_string_member(b, "trainee", trainee);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "POST", "/api/v1/machines", body, error);
    return answer != NULL && cohort_ctl_print_machine(ctl, answer, error);
}

gboolean
cohort_ctl_machine_action(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    const gchar *verb = strchr(argv[0], ' ') != NULL ? strchr(argv[0], ' ') + 1 : argv[0];
    gboolean release = g_strcmp0(verb, "release") == 0;
    gboolean extend = g_strcmp0(verb, "extend") == 0;
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"wait", 'w', 0, G_OPTION_ARG_NONE, &wait,
         "Follow the machine until the work is done; exit 1 unless it ends where the operation "
         "leads",
         NULL},
        {NULL},
    };
    g_autofree gchar *summary = NULL;
    g_autofree gchar *examples = NULL;
    g_autofree gchar *params = NULL;
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *path = NULL;
    gint64 id;

    if (release)
        summary = g_strdup("Release a machine: it is destroyed and its disk deleted. Named by "
                           "id or as COHORT/TRAINEE.");
    else if (g_strcmp0(verb, "extend") == 0)
        summary = g_strdup("Extend a machine's lease by one period of its cohort's lease, within "
                           "the number of extensions the trainer allows. Named by id or as "
                           "COHORT/TRAINEE.");
    else if (g_strcmp0(verb, "reset") == 0)
        summary = g_strdup("Reset a machine: its disk and domain are made again from the "
                           "template (everything on it is lost). Named by id or as "
                           "COHORT/TRAINEE.");
    else
        summary = g_strdup_printf(
            "%c%s a machine, named by id or as COHORT/TRAINEE. The answer comes at once, with the "
            "machine %s (or in the state of the work it waits behind, and the operation in "
            "\"pending\"); with --wait, cohortctl follows it until libvirt has done it.",
            g_ascii_toupper(verb[0]), verb + 1,
            g_strcmp0(verb, "stop") == 0     ? "stopping"
            : g_strcmp0(verb, "start") == 0  ? "starting"
            : g_strcmp0(verb, "reboot") == 0 ? "rebooting"
                                             : "resetting");
    if (!extend) {
        gchar *more = g_strconcat(summary,
                                  " --wait exits 1 when the machine does not end where the "
                                  "operation leads (running; stopped for a stop; reclaimed for "
                                  "a release), with its error.",
                                  NULL);
        g_free(summary);
        summary = more;
    }
    examples = g_strdup_printf("  cohortctl machine %s 42\n  cohortctl machine %s "
                               "cloud-101/sok-dara%s\n",
                               verb, verb, extend ? "" : " --wait");
    params = g_strdup(extend ? "MACHINE" : "MACHINE [--wait]");
    if (!cohort_ctl_parse(ctl, &argc, &argv, extend ? NULL : entries, params, summary, examples, 1,
                          1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    if (!cohort_ctl_machine_resolve(client, argv[1], &id, error))
        return FALSE;
    if (release) {
        path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT, id);
        answer = cohort_client_call(client, "DELETE", path, NULL, error);
    } else {
        path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/%s", id, verb);
        answer = cohort_client_call(client, "POST", path, NULL, error);
    }
    if (answer == NULL)
        return FALSE;
    if (wait && !JSON_NODE_HOLDS_NULL(answer))
        return cohort_ctl_machine_follow(ctl, client, id, verb, answer, error);
    /* DELETE may answer with the machine or with nothing. */
    if (JSON_NODE_HOLDS_NULL(answer)) {
        if (ctl->quiet || ctl->json)
            printf(ctl->json ? "null\n" : "%" G_GINT64_FORMAT "\n", id);
        else
            printf("Machine %" G_GINT64_FORMAT ": %s requested.\n", id, verb);
        return TRUE;
    }
    if (!ctl->json && !ctl->quiet) {
        JsonObject *m = cohort_ctl_expect_object(answer, "machine", error);
        g_autofree gchar *state = NULL;
        g_autofree gchar *name = NULL;
        if (m == NULL)
            return FALSE;
        state = cohort_client_member_text(m, "state");
        name = cohort_client_member_text(m, "name");
        if (g_strcmp0(verb, "extend") == 0) {
            g_autofree gchar *expires = cohort_client_member_text(m, "expires_at");
            printf("Machine %" G_GINT64_FORMAT " (%s): its lease now runs until %s.\n", id, name,
                   expires);
            return TRUE;
        }
        {
            g_autofree gchar *pending = cohort_client_list_text(m, "pending");
            if (g_strcmp0(pending, "-") == 0)
                printf("Machine %" G_GINT64_FORMAT " (%s): %s requested, now %s.\n", id, name, verb,
                       state);
            else
                printf("Machine %" G_GINT64_FORMAT " (%s): %s requested, now %s; waiting: %s.\n",
                       id, name, verb, state, pending);
        }
        return TRUE;
    }
    return cohort_ctl_print_machine(ctl, answer, error);
}

gboolean
cohort_ctl_machine_move(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean wait = FALSE;
    gboolean fresh = FALSE;
    g_autofree gchar *host = NULL;
    const GOptionEntry entries[] = {
        {"host", 0, 0, G_OPTION_ARG_STRING, &host,
         "The host to move to (default: where the cohort's placement puts it)", "HOST"},
        {"fresh", 0, 0, G_OPTION_ARG_NONE, &fresh,
         "Make it anew from its template there: what its disk holds is lost", NULL},
        {"wait", 'w', 0, G_OPTION_ARG_NONE, &wait, "Follow the machine until the move is done",
         NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *b = json_object_new();
    JsonObject *m;
    const gchar *warning;
    gint64 id;

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "MACHINE [--host HOST] [--fresh] [--wait]",
            "Move a machine to another host (its trainer, an admin). A stopped machine on a host "
            "that is up moves with its disk, copied through libvirt; one whose host is down (or "
            "with --fresh) is made anew from its template on the other host, and its disk stays "
            "behind: cohortctl says so on stderr. cohortd removes what it left on the old host "
            "when that host is back.",
            "  cohortctl machine move cloud-101/sok-dara\n"
            "  cohortctl machine move 42 --host lab2 --wait\n",
            1, 1, error))
        return FALSE;
    if (host != NULL) {
        if (!cohort_ctl_check_utf8(host, "--host", error))
            return FALSE;
        json_object_set_string_member(b, "host", host);
    }
    if (fresh)
        json_object_set_boolean_member(b, "fresh", TRUE);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    if (!cohort_ctl_machine_resolve(client, argv[1], &id, error))
        return FALSE;
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/move", id);
    answer = cohort_client_call(client, "POST", path, body, error);
    if (answer == NULL || (m = cohort_ctl_expect_object(answer, "machine", error)) == NULL)
        return FALSE;
    /* what a person must know even with --json or --quiet: the disk did not come along */
    warning = json_object_get_string_member_with_default(m, "warning", NULL);
    if (warning != NULL)
        fprintf(stderr, "cohortctl: warning: %s\n", warning);
    if (wait)
        return cohort_ctl_machine_follow(
            ctl, client, id,
            json_object_get_boolean_member_with_default(m, "fresh", FALSE) ? "move-fresh" : "move",
            answer, error);
    if (!ctl->json && !ctl->quiet) {
        g_autofree gchar *name = cohort_client_member_text(m, "name");
        g_autofree gchar *to = cohort_client_member_text(m, "to");
        g_autofree gchar *state = cohort_client_member_text(m, "state");
        printf("Machine %" G_GINT64_FORMAT " (%s): moving to %s, now %s.\n", id, name, to, state);
        return TRUE;
    }
    return cohort_ctl_print_machine(ctl, answer, error);
}

gboolean
cohort_ctl_machine_console(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const members[] = {"uri",        "host",           "port", "password",
                                           "guest_user", "guest_password", NULL};
    static const gchar *const labels[] = {"URI",        "Host",           "Port", "Password",
                                          "Guest user", "Guest password", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *c;
    gint64 id;

    if (!cohort_ctl_parse(
            ctl, &argc, &argv, NULL, "MACHINE",
            "Show how to reach a machine's graphical console (VNC): URI, host, "
            "port and password; and the guest account its cloud-init seed made, with its "
            "password (for the console's login or SSH). --quiet prints only the URI.",
            "  cohortctl machine console 42\n"
            "  remote-viewer \"$(cohortctl -q machine console cloud-101/sok-dara)\"\n",
            1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    if (!cohort_ctl_machine_resolve(client, argv[1], &id, error))
        return FALSE;
    path = g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", id);
    answer = cohort_client_call(client, "GET", path, NULL, error);
    if (answer == NULL || (c = cohort_ctl_expect_object(answer, "console", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else if (ctl->quiet) {
        /* a script passes this to a viewer: no URI is an error, not a "-" */
        const gchar *uri = json_object_get_string_member_with_default(c, "uri", NULL);
        if (uri == NULL) {
            g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                        "machine %s has no console to reach now: it is not running, or its "
                        "host serves no VNC",
                        argv[1]);
            return FALSE;
        }
        printf("%s\n", uri);
    } else {
        cohort_ctl_print_fields(c, members, labels);
    }
    return TRUE;
}
