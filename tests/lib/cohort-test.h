/* Helpers shared by the test programs. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "cohort-template.h"

/* cmocka's assertions on GErrors: a failed call shows its message. */
#define cohort_assert_no_error(err)                                                                \
    do {                                                                                           \
        if ((err) != NULL)                                                                         \
            fail_msg("unexpected error: %s", (err)->message);                                      \
    } while (0)
#define cohort_assert_error(err, code_)                                                            \
    do {                                                                                           \
        if ((err) == NULL)                                                                         \
            fail_msg("expected error code %d, got success", (int)(code_));                         \
        if ((err)->domain != COHORT_ERROR || (err)->code != (gint)(code_))                         \
            fail_msg("expected error code %d, got %d: %s", (int)(code_), (err)->code,              \
                     (err)->message);                                                              \
    } while (0)
#define cohort_assert_contains(haystack, needle)                                                   \
    do {                                                                                           \
        if (strstr((haystack), (needle)) == NULL)                                                  \
            fail_msg("'%s' does not contain '%s'", (haystack), (needle));                          \
    } while (0)

/* test:///…/data/lab-host.xml: a fresh lab-size host for each connection. */
gchar *cohort_test_lab_host_uri(void);
/* A shipped template from the source tree. */
CohortTemplate *cohort_test_template_load(const gchar *name);
/* Fills a spec for machine @id of trainee @trainee in cohort @cohort (names owned by the
 * caller through the returned strings, kept in @keep). */
void cohort_test_spec_init(CohortMachineSpec *spec, GPtrArray *keep, const gchar *cohort,
                           const gchar *trainee, gint64 id);
/* Whether a domain of that name exists / a volume of that name is in @pool. */
gboolean cohort_test_domain_exists(virConnectPtr conn, const gchar *name);
gboolean cohort_test_volume_exists(virConnectPtr conn, const gchar *pool, const gchar *name);
