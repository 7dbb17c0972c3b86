/* A template as libvirt itself sees it: its rendering for a sample machine defined on an
 * in-process test:///default connection (libvirt's full parser and validation, beyond the
 * schema), then undefined; and what Cohort's metadata sets (vCPUs, memory) checked against
 * what the author wrote beside it (NUMA cells, vCPU pinning). Run once per template load. */
#pragma once

#include <glib.h>

#include "cohort-template.h"

G_BEGIN_DECLS

/* COHORT_ERROR_INVALID_ARGUMENT naming the template and what libvirt or the check said. */
gboolean cohort_template_check_libvirt(CohortTemplate *tmpl, GError **error);

G_END_DECLS
