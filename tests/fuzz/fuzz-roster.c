/* libFuzzer target: a roster CSV from untrusted bytes (POST /api/v1/cohorts/SLUG/roster).
 *
 * Invariants: all or nothing (a roster and no error, or an error and no roster); every
 * entry is what the header comment of cohort-roster.h promises; bad lines are reported in
 * line order, one record a line, and the GError's message starts with the first of them.
 * And what a roster accepts, a machine can be made for: every trainee's login and display
 * name pass cohort_machine_spec_validate(), which every rendering runs first. */
#define G_LOG_DOMAIN "fuzz-roster"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-fuzz.h"
#include "cohort-names.h"
#include "cohort-roster.h"
#include "cohort-slug.h"
#include "cohort-template.h"

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
    cohort_fuzz_init();
    return 0;
}

static void
fuzz_roster_check_text(const gchar *text, gsize max_len, gboolean required)
{
    if (text == NULL) {
        COHORT_FUZZ_CHECK(!required);
        return;
    }
    COHORT_FUZZ_CHECK(text[0] != '\0');
    COHORT_FUZZ_CHECK(strlen(text) <= max_len);
    COHORT_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
    for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p))
        COHORT_FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
    /* stripped of leading and trailing ASCII white space */
    COHORT_FUZZ_CHECK(!g_ascii_isspace(text[0]) && !g_ascii_isspace(text[strlen(text) - 1]));
}

/* The trainee's machine, as cohortd would render it. */
static void
fuzz_roster_check_machine(const CohortRosterEntry *entry)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *domain_name = cohort_names_domain("fuzz-101", entry->login, 100);
    g_autofree gchar *disk_path =
        g_strconcat("/var/lib/libvirt/images/", domain_name, ".qcow2", NULL);
    CohortMachineSpec spec = {
        .domain_name = domain_name,
        .machine_id = 1,
        .cohort = "fuzz-101",
        .trainee = entry->login,
        .display_name = entry->display_name,
        .disk_path = disk_path,
        .network = "cohort-fuzz-101",
        .vnc_password = "fuzz",
    };

    if (!cohort_machine_spec_validate(&spec, &error)) {
        fprintf(stderr, "line %u is accepted but no machine can be made for it: %s\n", entry->line,
                error->message);
        abort();
    }
}

static void
fuzz_roster_check_roster(CohortRoster *roster)
{
    guint n = cohort_roster_get_n_entries(roster);
    guint last_line = 1;

    COHORT_FUZZ_CHECK(n <= COHORT_ROSTER_MAX_ENTRIES);
    COHORT_FUZZ_CHECK(cohort_roster_get_entries(roster)->len == n);
    for (guint i = 0; i < n; i++) {
        const CohortRosterEntry *entry = cohort_roster_get_entry(roster, i);

        COHORT_FUZZ_CHECK(entry->line > last_line);
        last_line = entry->line;
        COHORT_FUZZ_CHECK(cohort_slug_validate(entry->login, "login", NULL));
        COHORT_FUZZ_CHECK(cohort_roster_lookup(roster, entry->login) == entry);
        fuzz_roster_check_text(entry->display_name, COHORT_ROSTER_TEXT_MAX_LEN, TRUE);
        fuzz_roster_check_text(entry->institute, COHORT_ROSTER_TEXT_MAX_LEN, FALSE);
        fuzz_roster_check_text(entry->role, COHORT_ROSTER_TEXT_MAX_LEN, FALSE);
        fuzz_roster_check_text(entry->email, COHORT_ROSTER_EMAIL_MAX_LEN, FALSE);
        fuzz_roster_check_machine(entry);
    }
}

static void
fuzz_roster_check_line_errors(GPtrArray *line_errors, const GError *error)
{
    g_autofree gchar *first = NULL;
    guint last_line = 0;

    COHORT_FUZZ_CHECK(line_errors->len > 0);
    for (guint i = 0; i < line_errors->len; i++) {
        const CohortRosterLineError *line_error = g_ptr_array_index(line_errors, i);

        COHORT_FUZZ_CHECK(line_error->line > last_line);
        last_line = line_error->line;
        COHORT_FUZZ_CHECK(line_error->message != NULL && line_error->message[0] != '\0');
        COHORT_FUZZ_CHECK(g_utf8_validate(line_error->message, -1, NULL));
    }
    first = g_strdup_printf(
        "line %u: ", ((const CohortRosterLineError *)g_ptr_array_index(line_errors, 0))->line);
    COHORT_FUZZ_CHECK(g_str_has_prefix(error->message, first));
    /* the message is shown to a person and sent as JSON */
    COHORT_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) error_again = NULL;
    g_autoptr(GPtrArray) line_errors = NULL;
    g_autoptr(CohortRoster) roster = NULL;
    g_autoptr(CohortRoster) roster_again = NULL;

    roster = cohort_roster_parse_full((const gchar *)data, size, &line_errors, &error);
    if (roster != NULL) {
        COHORT_FUZZ_CHECK(error == NULL && line_errors == NULL);
        fuzz_roster_check_roster(roster);
    } else {
        COHORT_FUZZ_CHECK(error != NULL && error->domain == COHORT_ERROR);
        if (error->code == COHORT_ERROR_INVALID_ARGUMENT) {
            COHORT_FUZZ_CHECK(line_errors != NULL);
            fuzz_roster_check_line_errors(line_errors, error);
        } else {
            COHORT_FUZZ_CHECK(error->code == COHORT_ERROR_PAYLOAD_TOO_LARGE);
            COHORT_FUZZ_CHECK(line_errors == NULL);
        }
    }

    /* the short form agrees */
    roster_again = cohort_roster_parse((const gchar *)data, size, &error_again);
    COHORT_FUZZ_CHECK((roster_again != NULL) == (roster != NULL));
    if (roster != NULL)
        COHORT_FUZZ_CHECK(cohort_roster_get_n_entries(roster_again) ==
                          cohort_roster_get_n_entries(roster));
    else
        COHORT_FUZZ_CHECK(g_strcmp0(error_again->message, error->message) == 0);
    return 0;
}
