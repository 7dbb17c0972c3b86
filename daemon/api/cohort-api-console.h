/* The console websocket: `GET /api/v1/console/TICKET` with a websocket upgrade, the ticket
 * from a machine's console answer, joined to the machine's VNC server through libvirt
 * (service/cohort-service-console.c). Binary frames both ways; the proxy never blocks, bounds
 * what it holds, and closes when the machine stops or goes, or its holder's access ends. */
#pragma once

#include "cohort-api-private.h"

G_BEGIN_DECLS

#define COHORT_API_CONSOLE_PATH "/api/v1/console"

typedef struct _CohortApiConsoles CohortApiConsoles;

/* Registers the websocket on @api's server. */
CohortApiConsoles *cohort_api_consoles_new(CohortApi *api);
/* Closes every console still open. */
void cohort_api_consoles_free(CohortApiConsoles *self);

/* The route's handler: with a websocket upgrade, the ticket is spent and the upgrade goes on
 * (libsoup answers it); a plain request is told whether the ticket works (400, or 404). */
void cohort_api_console_accept(CohortApiRequest *req, const gchar *ticket);

guint cohort_api_consoles_get_open(CohortApiConsoles *self);
guint64 cohort_api_consoles_get_opened_total(CohortApiConsoles *self);

extern const gchar *const cohort_api_console_protocols[];

G_END_DECLS
