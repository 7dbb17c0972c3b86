/* Template bases on the hosts, as jobs whose items are hosts: installed from an image file
 * (hashed once, then uploaded to each host through a libvirt stream, with progress, and
 * checked) or made blank; given to a host that comes up and lacks those the cohorts use, or
 * holds only part of one (an upload cut short is made again from the start); removed from a
 * host. */
#pragma once

#include "cohort-work.h"

G_BEGIN_DECLS

/* One host's part of an install, as the answer lists it. */
typedef struct {
    gchar *host;
    const gchar *state; /* "present" (nothing to do), "queued", "pending" (not connected: it is
                         * given the base when it is, if a cohort uses the template) */
} CohortBaseTarget;
void cohort_base_target_free(CohortBaseTarget *target);

/* Installs @tmpl's base on every host that is up and lacks it: @path (an image file on
 * cohortd's machine, already checked to be under the images directory) or, with @path NULL,
 * a blank base of the template's disk size. The job (kind "base", target the template) has
 * one item per host it sends to; 0 (and a job that is done at once) when there is none.
 * @targets: every host, and what happens there. */
gint64 cohort_base_work_install(CohortWork *w, const CohortUserRow *actor, CohortTemplate *tmpl,
                                const gchar *path, GPtrArray **targets, GError **error);
/* @host is up: the bases of the templates that cohorts use (not reclaimed), recorded with
 * where they came from, which the host lacks or holds only in part, are installed there by a
 * job (kind "base-sync", target the host); 0 when there is nothing to do. Bases an admin
 * removed from the host are left out. */
gint64 cohort_base_work_sync_host(CohortWork *w, CohortHost *host);
/* Removes @tmpl's base from @host (refused with COHORT_ERROR_CONFLICT while machines there
 * use it: of @tmpl or of templates sharing its base, @sharing). A job of kind "base-remove". */
gint64 cohort_base_work_remove(CohortWork *w, const CohortUserRow *actor, CohortTemplate *tmpl,
                               const gchar *const *sharing, CohortHost *host, GError **error);

G_END_DECLS
