#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"

/* Polls soon, then less often: a short job is seen done at once, a long one costs cohortd
 * four requests a second. */
#define COHORT_CTL_JOB_POLL_FIRST_USEC (G_USEC_PER_SEC / 50)
#define COHORT_CTL_JOB_POLL_MAX_USEC (G_USEC_PER_SEC / 4)

static guint
cohort_ctl_terminal_columns(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static JsonNode *
cohort_ctl_job_get(CohortClient *client, gint64 id, GError **error)
{
    g_autofree gchar *path = g_strdup_printf("/api/v1/jobs/%" G_GINT64_FORMAT, id);
    g_autoptr(JsonNode) job = cohort_client_call(client, "GET", path, NULL, error);

    if (job == NULL || cohort_ctl_expect_object(job, "job", error) == NULL)
        return NULL;
    return g_steal_pointer(&job);
}

static gboolean
cohort_ctl_job_finished(JsonObject *job)
{
    const gchar *state = json_object_get_string_member_with_default(job, "state", "");

    return g_strcmp0(state, "done") == 0 || g_strcmp0(state, "failed") == 0;
}

static void
cohort_ctl_job_errors(JsonObject *job, FILE *out)
{
    JsonNode *errors = json_object_get_member(job, "errors");
    JsonArray *a;

    if (errors == NULL || !JSON_NODE_HOLDS_ARRAY(errors))
        return;
    a = json_node_get_array(errors);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = cohort_ctl_array_object(a, i);
        g_autofree gchar *machine = json_object_get_string_member_with_default(e, "machine", NULL)
                                        ? cohort_client_member_text(e, "machine")
                                        : cohort_client_member_text(e, "host");
        g_autofree gchar *code = cohort_client_member_text(e, "code");
        g_autofree gchar *message = cohort_client_member_text(e, "message");
        fprintf(out, "  %s: %s (%s)\n", machine, message, code);
    }
}

/* What the job's items sent (bases, disks), in words; NULL when it sends nothing. */
static gchar *
cohort_ctl_job_bytes(JsonObject *job)
{
    JsonNode *progress = json_object_get_member(job, "progress");

    if (progress == NULL || !JSON_NODE_HOLDS_OBJECT(progress))
        return NULL;
    return cohort_client_transfer_text(json_node_get_object(progress));
}

/* What a reclaim gave back, so that the admin sees it without --json. */
static void
cohort_ctl_job_print_freed(JsonObject *job)
{
    JsonNode *node = json_object_get_member(job, "freed");
    g_autofree gchar *text = NULL;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return;
    text = cohort_client_freed_text(json_node_get_object(node));
    printf("Freed: %s\n", text);
}

void
cohort_ctl_job_print(CohortCtl *ctl, JsonObject *job)
{
    static const gchar *const members[] = {"id", "kind", "state", "total", "done", "failed", NULL};
    static const gchar *const labels[] = {"Job", "Kind", "State", "Total", "Done", "Failed", NULL};

    if (ctl->quiet) {
        g_autofree gchar *state = cohort_client_member_text(job, "state");
        printf("%s\n", state);
        return;
    }
    cohort_ctl_print_fields(job, members, labels);
    {
        g_autofree gchar *bytes = cohort_ctl_job_bytes(job);
        if (bytes != NULL)
            printf("Sent:    %s\n", bytes);
    }
    cohort_ctl_job_print_freed(job);
    if (json_object_get_int_member_with_default(job, "failed", 0) > 0 ||
        json_object_has_member(job, "errors")) {
        JsonNode *errors = json_object_get_member(job, "errors");
        if (errors != NULL && JSON_NODE_HOLDS_ARRAY(errors) &&
            json_array_get_length(json_node_get_array(errors)) > 0) {
            printf("Errors:\n");
            cohort_ctl_job_errors(job, stdout);
        }
    }
}

/* A job that ran is a success only when nothing in it failed. */
static gboolean
cohort_ctl_job_check(JsonObject *job, const gchar *label, GError **error)
{
    gint64 failed = json_object_get_int_member_with_default(job, "failed", 0);
    const gchar *state = json_object_get_string_member_with_default(job, "state", "");

    if (failed > 0 || g_strcmp0(state, "failed") == 0) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                    "%s: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " failed (job %" G_GINT64_FORMAT
                    " %s)",
                    label, failed, json_object_get_int_member_with_default(job, "total", 0),
                    json_object_get_int_member_with_default(job, "id", 0), state);
        return FALSE;
    }
    return TRUE;
}

gboolean
cohort_ctl_job_follow(CohortCtl *ctl, gint64 id, const gchar *label, GError **error)
{
    CohortClient *client = cohort_ctl_client(ctl, TRUE, error);
    gboolean tty = isatty(STDOUT_FILENO) && !ctl->json && !ctl->quiet;
    gboolean lines = !tty && !ctl->json && !ctl->quiet;
    gint64 start = g_get_monotonic_time();
    gint64 last_done = -1, last_failed = -1;
    gulong poll_usec = COHORT_CTL_JOB_POLL_FIRST_USEC;
    g_autoptr(JsonNode) node = NULL;
    JsonObject *job;

    if (client == NULL)
        return FALSE;
    if (ctl->quiet)
        printf("%" G_GINT64_FORMAT "\n", id);
    for (;;) {
        gint64 done, total, failed;

        g_clear_pointer(&node, json_node_unref);
        node = cohort_ctl_job_get(client, id, error);
        if (node == NULL) {
            if (tty)
                printf("\n");
            return FALSE;
        }
        job = json_node_get_object(node);
        done = json_object_get_int_member_with_default(job, "done", 0);
        total = json_object_get_int_member_with_default(job, "total", 0);
        failed = json_object_get_int_member_with_default(job, "failed", 0);
        if (tty) {
            g_autofree gchar *bytes = cohort_ctl_job_bytes(job);
            g_autofree gchar *bar = cohort_client_progress_bar(
                label, done, total, failed, g_get_monotonic_time() - start,
                cohort_ctl_terminal_columns() - 1 - (bytes != NULL ? strlen(bytes) + 2 : 0));
            /* \r and erase-to-end: the bar redraws in place. */
            printf("\r%s%s%s\033[K", bar, bytes != NULL ? ", " : "", bytes != NULL ? bytes : "");
            fflush(stdout);
        } else if (lines && (done != last_done || failed != last_failed)) {
            /* a line per change: the last one is complete, and a job that stays running a
             * moment longer (a reclaim removing its network) does not repeat it */
            g_autofree gchar *line = cohort_client_progress_line(label, done, total, failed,
                                                                 g_get_monotonic_time() - start);
            printf("%s\n", line);
            fflush(stdout);
        }
        last_done = done;
        last_failed = failed;
        if (cohort_ctl_job_finished(job))
            break;
        g_usleep(poll_usec);
        poll_usec = MIN(poll_usec * 3 / 2, COHORT_CTL_JOB_POLL_MAX_USEC);
    }
    if (tty)
        printf("\n");
    if (ctl->json) {
        cohort_ctl_print_json(node);
    } else if (!ctl->quiet) {
        JsonNode *errors;
        g_autofree gchar *bytes = cohort_ctl_job_bytes(job);
        if (bytes != NULL)
            printf("Sent: %s\n", bytes);
        cohort_ctl_job_print_freed(job);
        errors = json_object_get_member(job, "errors");
        if (errors != NULL && JSON_NODE_HOLDS_ARRAY(errors) &&
            json_array_get_length(json_node_get_array(errors)) > 0) {
            printf("Errors:\n");
            cohort_ctl_job_errors(job, stdout);
        }
    } else {
        cohort_ctl_job_errors(job, stderr);
    }
    return cohort_ctl_job_check(job, label, error);
}

gboolean
cohort_ctl_job_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        {"wait", 'w', 0, G_OPTION_ARG_NONE, &wait, "Follow the job to its end, like provision does",
         NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) node = NULL;
    g_autofree gchar *label = NULL;
    guint64 id;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "ID [--wait]",
                          "Show a job (who started it, admin): progress and per-machine errors. "
                          "With --wait, follow it and exit 1 if any machine failed.",
                          "  cohortctl job show 7\n  cohortctl job show 7 --wait\n", 1, 1, error))
        return FALSE;
    if (!cohort_client_parse_count(argv[1], "job ID", G_MAXINT64, &id, error))
        return FALSE;
    if (wait) {
        label = g_strdup_printf("job %" G_GUINT64_FORMAT, id);
        return cohort_ctl_job_follow(ctl, (gint64)id, label, error);
    }
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    node = cohort_ctl_job_get(client, (gint64)id, error);
    if (node == NULL)
        return FALSE;
    if (ctl->json)
        cohort_ctl_print_json(node);
    else
        cohort_ctl_job_print(ctl, json_node_get_object(node));
    return TRUE;
}
