#define G_LOG_DOMAIN "cohort-error"

#include "config.h"

#include "cohort-error.h"

G_DEFINE_QUARK(cohort - error - quark, cohort_error)

typedef struct {
    const gchar *code;
    guint http_status;
} CohortErrorInfo;

/* The API contract's stable codes (DESIGN.md): clients switch on these strings. */
static const CohortErrorInfo cohort_error_table[] = {
    [COHORT_ERROR_INTERNAL] = {"internal", 500},
    [COHORT_ERROR_UNAUTHENTICATED] = {"unauthenticated", 401},
    [COHORT_ERROR_FORBIDDEN] = {"forbidden", 403},
    [COHORT_ERROR_NOT_FOUND] = {"not-found", 404},
    [COHORT_ERROR_INVALID_ARGUMENT] = {"invalid-argument", 400},
    [COHORT_ERROR_CONFLICT] = {"conflict", 409},
    [COHORT_ERROR_QUOTA_EXCEEDED] = {"quota-exceeded", 409},
    [COHORT_ERROR_NO_CAPACITY] = {"no-capacity", 503},
    [COHORT_ERROR_HOST_UNAVAILABLE] = {"host-unavailable", 503},
    [COHORT_ERROR_LIBVIRT] = {"libvirt-error", 502},
    [COHORT_ERROR_PAYLOAD_TOO_LARGE] = {"payload-too-large", 413},
    [COHORT_ERROR_METHOD_NOT_ALLOWED] = {"method-not-allowed", 405},
    [COHORT_ERROR_RATE_LIMITED] = {"rate-limited", 429},
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_error_table) == COHORT_ERROR_LAST);

const gchar *
cohort_error_code_to_string(CohortError code)
{
    if ((guint)code >= COHORT_ERROR_LAST)
        return cohort_error_table[COHORT_ERROR_INTERNAL].code;
    return cohort_error_table[code].code;
}

CohortError
cohort_error_code_from_string(const gchar *str)
{
    for (guint i = 0; str != NULL && i < COHORT_ERROR_LAST; i++) {
        if (g_strcmp0(cohort_error_table[i].code, str) == 0)
            return (CohortError)i;
    }
    return COHORT_ERROR_INTERNAL;
}

guint
cohort_error_code_to_http_status(CohortError code)
{
    if ((guint)code >= COHORT_ERROR_LAST)
        return 500;
    return cohort_error_table[code].http_status;
}
