/* cohortctl's commands: NOUN VERB [args], each with its own options and --help. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cohort-client-format.h"
#include "cohort-client.h"

G_BEGIN_DECLS

typedef struct {
    /* Global options (cohortctl --url … NOUN VERB). */
    gchar *url_option;
    gchar *token_option;
    gchar *ca_file_option;
    gboolean json;
    gboolean quiet;
    /* Made on first use, from the options, the environment and client.conf. */
    CohortClient *client;
} CohortCtl;

void cohort_ctl_clear(CohortCtl *ctl);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CohortCtl, cohort_ctl_clear)

/* argv[0] is "NOUN VERB" (or the command alone), argv[1..] what followed on the line. */
typedef gboolean (*CohortCtlFunc)(CohortCtl *ctl, gint argc, gchar **argv, GError **error);

typedef struct {
    const gchar *noun; /* "host", or a command of its own ("whoami") with verb NULL */
    const gchar *verb;
    CohortCtlFunc func;
    const gchar *summary;
} CohortCtlCommand;

/* The table, ending with an all-NULL entry. */
const CohortCtlCommand *cohort_ctl_commands(void);
const CohortCtlCommand *cohort_ctl_command_find(const gchar *noun, const gchar *verb);
gboolean cohort_ctl_noun_exists(const gchar *noun);
/* "Usage: cohortctl host VERB …" with every verb of @noun and what it does. */
gchar *cohort_ctl_noun_help(const gchar *noun);
/* Commands, exit codes, environment and files: the tail of cohortctl --help. */
gchar *cohort_ctl_global_help(void);

/* Parses a verb's options (plus --json and --quiet, accepted after the verb too); *argc and
 * *argv keep argv[0] and the positional arguments, of which there must be @min..@max. */
gboolean cohort_ctl_parse(CohortCtl *ctl, gint *argc, gchar ***argv, const GOptionEntry *entries,
                          const gchar *params, const gchar *summary, const gchar *examples,
                          guint min, guint max, GError **error);

/* The connection, made on first use. With @need_token, no token is an error (exit 3). */
CohortClient *cohort_ctl_client(CohortCtl *ctl, gboolean need_token, GError **error);

/* Output. */
void cohort_ctl_print_json(JsonNode *node);
void cohort_ctl_print_table(CohortTable *table);
/* "Label:  value" lines for @members of @obj (@labels in the same order). */
void cohort_ctl_print_fields(JsonObject *obj, const gchar *const *members,
                             const gchar *const *labels);
JsonArray *cohort_ctl_expect_array(JsonNode *node, const gchar *what, GError **error);
/* Element @i of @array if it is an object, else NULL (member texts of NULL are "-"). */
JsonObject *cohort_ctl_array_object(JsonArray *array, guint i);
/* The details an error body carries as error.@member (a roster's "lines", a reload's
 * "files"), borrowed from @error_body; NULL when there are none. */
JsonArray *cohort_ctl_error_details(JsonNode *error_body, const gchar *member);
JsonObject *cohort_ctl_expect_object(JsonNode *node, const gchar *what, GError **error);
/* A string option's value must be UTF-8 before it goes into JSON. */
gboolean cohort_ctl_check_utf8(const gchar *value, const gchar *option, GError **error);
gboolean cohort_ctl_usage_error(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

/* Follows job @id (GET /api/v1/jobs/{id} every 0.5 s): a progress bar on a terminal, a line
 * per change otherwise; then lists the per-machine errors. FALSE (COHORT_CLIENT_ERROR_FAILED)
 * when the job failed or any machine did. */
gboolean cohort_ctl_job_follow(CohortCtl *ctl, gint64 id, const gchar *label, GError **error);
/* Prints a job as a person reads it (or as JSON); its errors, one line per machine. */
void cohort_ctl_job_print(CohortCtl *ctl, JsonObject *job);

/* The verbs, by noun (cohort-client-cmd-*.c). */
gboolean cohort_ctl_version(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_whoami(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_usage(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_login(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_redeem(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_user_create(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_user_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_user_token(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_user_revoke(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_key_add(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_key_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_key_remove(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_add(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_drain(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_set(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_evacuate(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_remove_base(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_machine_move(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_host_remove(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_template_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_template_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_template_base(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_audit_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_create(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_update(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_roster(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_template_reload(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_invite(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_invitations(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_unenrol(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_provision(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_cohort_reclaim(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_job_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_machine_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_machine_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_machine_request(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_machine_action(CohortCtl *ctl, gint argc, gchar **argv, GError **error);
gboolean cohort_ctl_machine_console(CohortCtl *ctl, gint argc, gchar **argv, GError **error);

G_END_DECLS
