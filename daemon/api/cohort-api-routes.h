/* The API's routes as one table: method, path pattern, handler and who may call it. The
 * table is what the server dispatches on, what docs/api.md's route table must say, and
 * what the authorization test walks (tests/api/test-api-authz.c): a route added without a
 * documented and tested rule fails the suite. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CohortApiRoute CohortApiRoute;

/* The routes, in the order docs/api.md lists them. */
guint cohort_api_routes_count(void);
const CohortApiRoute *cohort_api_routes_nth(guint index);
const gchar *cohort_api_route_get_method(const CohortApiRoute *route);
/* The path with {…} for each variable segment: "/api/v1/machines/{id}/start". */
const gchar *cohort_api_route_get_path(const CohortApiRoute *route);
/* Who may call it, in docs/api.md's words: "admin", "owner, its trainer, admin". */
const gchar *cohort_api_route_get_who(const CohortApiRoute *route);

G_END_DECLS
