/* Crash points for the crash-safety tests: COHORT_CRASH_POINT=NAME:N makes cohortd kill
 * itself with SIGKILL the N-th time it passes the point NAME, as `kill -9` would at the worst
 * moment. Hold points for the tests that look at work while it runs:
 * COHORT_HOLD_POINT=NAME:FILE makes the thread that passes the point NAME wait there as long
 * as FILE exists; several points are separated by commas (NAME:FILE,NAME2:FILE2). Unset (always,
 * outside those tests), a point costs one atomic read. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void cohort_crash_point(const gchar *name);
void cohort_crash_hold(const gchar *name);

G_END_DECLS
