/* Rosters: the CSV a trainer exports from a spreadsheet, one trainee (or lecturer) a line.
 *
 * RFC 4180 with the header line required. Columns are found by header name, in any order
 * and any ASCII case; unknown columns are ignored. `login` and `display_name` are required,
 * `institute`, `role` and `email` optional. Quoted fields may hold commas and doubled
 * quotes; line ends may be CRLF, LF or CR; a UTF-8 byte order mark at the start and empty
 * lines are skipped. A line break inside a quoted field is refused: no column needs one.
 *
 * Parsing is all or nothing: either every line is good and a roster comes back, or the
 * error (COHORT_ERROR_INVALID_ARGUMENT) lists every bad line as "line N: what is wrong",
 * N counting physical lines from 1 (the header), one line of the message per bad line. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bounds on what a caller may hand in (COHORT_ERROR_PAYLOAD_TOO_LARGE beyond). */
#define COHORT_ROSTER_MAX_BYTES (1024 * 1024)
#define COHORT_ROSTER_MAX_ENTRIES 10000
/* Longest display name, institute or role, in bytes of UTF-8. */
#define COHORT_ROSTER_TEXT_MAX_LEN 200
/* Longest e-mail address (RFC 5321's path limit). */
#define COHORT_ROSTER_EMAIL_MAX_LEN 254
/* How many bad lines the GError's message lists before "… and K more". */
#define COHORT_ROSTER_MAX_REPORTED 50

typedef struct _CohortRoster CohortRoster;

/* One person. Owned by the roster, read-only. Values are as written, with leading and
 * trailing ASCII white space removed; an optional value is NULL when its column is absent
 * or its field is empty. */
typedef struct {
    guint line;          /* physical line in the file */
    gchar *login;        /* a slug (cohort_slug_validate) */
    gchar *display_name; /* any UTF-8, 1..200 bytes, no control characters */
    gchar *institute;    /* optional */
    gchar *role;         /* optional: "lecturer", "student", …; information only */
    gchar *email;        /* optional, not checked beyond length and control characters */
} CohortRosterEntry;

/* One bad line. @message says what is wrong, without the "line N: " prefix; several
 * problems of one line are joined with "; ". */
typedef struct {
    guint line;
    gchar *message;
} CohortRosterLineError;

CohortRoster *cohort_roster_parse(const gchar *data, gsize len, GError **error);
/* As cohort_roster_parse(); when lines are bad and @line_errors is not NULL, it gets every
 * bad line (not only the first COHORT_ROSTER_MAX_REPORTED) as CohortRosterLineError, in line
 * order, owned by the caller. On success and on other errors it is set to NULL. */
CohortRoster *cohort_roster_parse_full(const gchar *data, gsize len, GPtrArray **line_errors,
                                       GError **error);
void cohort_roster_free(CohortRoster *self);

guint cohort_roster_get_n_entries(CohortRoster *self);
/* Entries in file order; @index < cohort_roster_get_n_entries(). */
const CohortRosterEntry *cohort_roster_get_entry(CohortRoster *self, guint index);
/* The GPtrArray of CohortRosterEntry, borrowed. */
GPtrArray *cohort_roster_get_entries(CohortRoster *self);
/* NULL when @login is not on the roster. */
const CohortRosterEntry *cohort_roster_lookup(CohortRoster *self, const gchar *login);

void cohort_roster_line_error_free(CohortRosterLineError *line_error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortRoster, cohort_roster_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortRosterLineError, cohort_roster_line_error_free)

G_END_DECLS
