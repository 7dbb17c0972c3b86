/* Crash points for the crash-safety tests: COHORT_CRASH_POINT=NAME:N makes cohortd kill
 * itself with SIGKILL the N-th time it passes the point NAME, as `kill -9` would at the worst
 * moment. Unset (always, outside those tests), a point costs one atomic read. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void cohort_crash_point(const gchar *name);

G_END_DECLS
