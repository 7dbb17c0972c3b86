#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include "cohort-client-error.h"
#include "cohort-error.h"

G_DEFINE_QUARK(cohort - client - error - quark, cohort_client_error)

CohortCtlExit
cohort_client_exit_code(const GError *error)
{
    if (error == NULL)
        return COHORT_CTL_EXIT_OK;
    if (error->domain == G_OPTION_ERROR)
        return COHORT_CTL_EXIT_USAGE;
    if (error->domain == COHORT_CLIENT_ERROR) {
        switch ((CohortClientError)error->code) {
        case COHORT_CLIENT_ERROR_USAGE:
            return COHORT_CTL_EXIT_USAGE;
        case COHORT_CLIENT_ERROR_CONNECTION:
            return COHORT_CTL_EXIT_CONNECTION;
        case COHORT_CLIENT_ERROR_NO_TOKEN:
            return COHORT_CTL_EXIT_AUTH;
        case COHORT_CLIENT_ERROR_PROTOCOL:
        case COHORT_CLIENT_ERROR_FAILED:
            return COHORT_CTL_EXIT_FAILURE;
        }
        return COHORT_CTL_EXIT_FAILURE;
    }
    if (error->domain == COHORT_ERROR) {
        switch ((CohortError)error->code) {
        case COHORT_ERROR_UNAUTHENTICATED:
        case COHORT_ERROR_FORBIDDEN:
        case COHORT_ERROR_RATE_LIMITED: /* too many failed logins from this address */
            return COHORT_CTL_EXIT_AUTH;
        case COHORT_ERROR_NOT_FOUND:
            return COHORT_CTL_EXIT_NOT_FOUND;
        case COHORT_ERROR_CONFLICT:
        case COHORT_ERROR_QUOTA_EXCEEDED:
            return COHORT_CTL_EXIT_CONFLICT;
        case COHORT_ERROR_INVALID_ARGUMENT:
        case COHORT_ERROR_PAYLOAD_TOO_LARGE:
            return COHORT_CTL_EXIT_INVALID;
        default:
            /* internal, no-capacity, host-unavailable, libvirt-error, and codes added later */
            return COHORT_CTL_EXIT_FAILURE;
        }
    }
    return COHORT_CTL_EXIT_FAILURE;
}
