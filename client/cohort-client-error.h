/* cohortctl's own errors (the server's arrive as COHORT_ERROR) and its exit codes. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define COHORT_CLIENT_ERROR cohort_client_error_quark()

typedef enum {
    COHORT_CLIENT_ERROR_USAGE,      /* the command line is wrong: exit 2 */
    COHORT_CLIENT_ERROR_CONNECTION, /* cohortd cannot be reached: exit 6 */
    COHORT_CLIENT_ERROR_PROTOCOL,   /* cohortd answered something that is not the API */
    COHORT_CLIENT_ERROR_FAILED,     /* a job ended with failures, a local file is unreadable */
    COHORT_CLIENT_ERROR_NO_TOKEN,   /* no token configured for a command that needs one */
} CohortClientError;

/* Exit codes: stable, documented in --help and cohortctl(1). */
typedef enum {
    COHORT_CTL_EXIT_OK = 0,
    COHORT_CTL_EXIT_FAILURE = 1,   /* internal, libvirt-error, no-capacity, …, a job failed */
    COHORT_CTL_EXIT_USAGE = 2,     /* bad command line */
    COHORT_CTL_EXIT_AUTH = 3,      /* unauthenticated, forbidden, rate-limited, no token */
    COHORT_CTL_EXIT_NOT_FOUND = 4, /* not-found */
    COHORT_CTL_EXIT_CONFLICT = 5,  /* conflict, quota-exceeded */
    COHORT_CTL_EXIT_CONNECTION = 6,
    COHORT_CTL_EXIT_INVALID = 7, /* invalid-argument, payload-too-large: cohortd refused values */
} CohortCtlExit;

GQuark cohort_client_error_quark(void);
CohortCtlExit cohort_client_exit_code(const GError *error);

G_END_DECLS
