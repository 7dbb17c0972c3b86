/* Cohort's one error domain: every code maps to a stable API code and an HTTP status. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define COHORT_ERROR cohort_error_quark()

typedef enum {
    COHORT_ERROR_INTERNAL,
    COHORT_ERROR_UNAUTHENTICATED,
    COHORT_ERROR_FORBIDDEN,
    COHORT_ERROR_NOT_FOUND,
    COHORT_ERROR_INVALID_ARGUMENT,
    COHORT_ERROR_CONFLICT,
    COHORT_ERROR_QUOTA_EXCEEDED,
    COHORT_ERROR_NO_CAPACITY,
    COHORT_ERROR_HOST_UNAVAILABLE,
    COHORT_ERROR_LIBVIRT,
    COHORT_ERROR_PAYLOAD_TOO_LARGE,
    COHORT_ERROR_METHOD_NOT_ALLOWED,
    COHORT_ERROR_RATE_LIMITED,
    COHORT_ERROR_LAST
} CohortError;

GQuark cohort_error_quark(void);
const gchar *cohort_error_code_to_string(CohortError code);
CohortError cohort_error_code_from_string(const gchar *str);
guint cohort_error_code_to_http_status(CohortError code);

G_END_DECLS
