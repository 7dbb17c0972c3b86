/* A machine's console in the browser: a one-time ticket from the console's answer opens a
 * websocket (api/cohort-api-console.c), which is joined to the machine's VNC server through
 * libvirt. The ticket is the only credential a browser's websocket can carry, so it is short
 * lived, single use, bound to one user and one machine, and its holder's access is checked
 * again for as long as the console is open. */
#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include <gio/gio.h>
#include <unistd.h>

#include "cohort-auth.h"
#include "cohort-error.h"
#include "cohort-service-private.h"
#include "cohort-service.h"

/* Long enough for a page to open the socket it asked for, short enough to be worthless once
 * seen in a log. */
#define COHORT_CONSOLE_TICKET_S 60
/* Tickets waiting to be used; more are refused (a trainee asking in a loop). */
#define COHORT_CONSOLE_TICKETS_MAX 4096

typedef struct {
    gint64 user_id;
    gint64 machine_id;
    gint64 expires_us;
} CohortConsoleTicket;

static void
cohort_service_console_expire(CohortService *svc, gint64 now_us)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, svc->console_tickets);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        CohortConsoleTicket *ticket = value;
        if (ticket->expires_us <= now_us)
            g_hash_table_iter_remove(&iter);
    }
}

gchar *
cohort_service_console_ticket_new(CohortService *svc, gint64 user_id, gint64 machine_id)
{
    gint64 now_us = g_get_monotonic_time();
    CohortConsoleTicket *ticket;
    gchar *token;

    if (g_hash_table_size(svc->console_tickets) >= COHORT_CONSOLE_TICKETS_MAX)
        cohort_service_console_expire(svc, now_us);
    if (g_hash_table_size(svc->console_tickets) >= COHORT_CONSOLE_TICKETS_MAX)
        return NULL;
    /* a token's randomness; the ticket itself goes in a URL path */
    token = cohort_auth_token_new();
    ticket = g_new0(CohortConsoleTicket, 1);
    ticket->user_id = user_id;
    ticket->machine_id = machine_id;
    ticket->expires_us = now_us + COHORT_CONSOLE_TICKET_S * G_USEC_PER_SEC;
    g_hash_table_insert(svc->console_tickets, g_strdup(token), ticket);
    return token;
}

static CohortConsoleTicket *
cohort_service_console_ticket_find(CohortService *svc, const gchar *ticket, GError **error)
{
    CohortConsoleTicket *found = g_hash_table_lookup(svc->console_tickets, ticket);

    if (found != NULL && found->expires_us <= g_get_monotonic_time()) {
        g_hash_table_remove(svc->console_tickets, ticket);
        found = NULL;
    }
    if (found == NULL)
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                            "this console ticket is unknown, used or expired: open the console "
                            "again (each ticket works once, within a minute)");
    return found;
}

gboolean
cohort_service_console_ticket_check(CohortService *svc, const gchar *ticket, GError **error)
{
    return cohort_service_console_ticket_find(svc, ticket, error) != NULL;
}

gboolean
cohort_service_console_ticket_take(CohortService *svc, const gchar *ticket, gint64 *user_id,
                                   gint64 *machine_id, GError **error)
{
    CohortConsoleTicket *found = cohort_service_console_ticket_find(svc, ticket, error);

    if (found == NULL)
        return FALSE;
    *user_id = found->user_id;
    *machine_id = found->machine_id;
    g_hash_table_remove(svc->console_tickets, ticket);
    return TRUE;
}

gboolean
cohort_service_console_allowed(CohortService *svc, gint64 user_id, gint64 machine_id,
                               GError **error)
{
    g_autoptr(CohortUserRow) user = cohort_store_user_get_by_id(svc->store, user_id, error);
    g_autoptr(CohortMachineRow) row = NULL;

    if (user == NULL)
        return FALSE;
    row =
        cohort_service_machine_lookup(svc, user, machine_id, COHORT_ACTION_MACHINE_OPERATE, error);
    if (row == NULL)
        return FALSE;
    if (g_strcmp0(row->state, "running") != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_CONFLICT, "machine %s is %s", row->name,
                    row->state);
        return FALSE;
    }
    return TRUE;
}

/* Opening the VNC socket is libvirt's work: a worker's, never the main loop's. */
typedef struct {
    CohortProvisioner *prov; /* borrowed: hosts outlive the workers */
    gchar *domain_name;
    gint64 machine_id;
    gint fd;
    CohortServiceConsoleOpened opened;
    gpointer user_data;
} CohortConsoleOpen;

static void
cohort_console_open_free(CohortConsoleOpen *open)
{
    if (open->fd >= 0)
        close(open->fd);
    g_free(open->domain_name);
    g_free(open);
}

static gboolean
cohort_console_open_run(gpointer item, GError **error)
{
    CohortConsoleOpen *open = item;

    open->fd = cohort_provisioner_domain_open_graphics(open->prov, open->domain_name,
                                                       open->machine_id, error);
    return open->fd >= 0;
}

static void
cohort_console_open_done(gpointer item, const GError *error, gpointer user_data)
{
    CohortConsoleOpen *open = item;
    g_autoptr(GError) error_local = NULL;
    g_autoptr(GSocket) socket = NULL;

    if (error == NULL) {
        socket = g_socket_new_from_fd(open->fd, &error_local);
        if (socket != NULL)
            open->fd = -1; /* the socket has it */
    }
    open->opened(socket, error != NULL ? error : error_local, open->user_data);
}

void
cohort_service_console_open_async(CohortService *svc, gint64 user_id, gint64 machine_id,
                                  CohortServiceConsoleOpened opened, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortMachineRow) row = NULL;
    CohortConsoleOpen *open;
    CohortHost *host;

    if (!cohort_service_console_allowed(svc, user_id, machine_id, &error)) {
        opened(NULL, error, user_data);
        return;
    }
    row = cohort_store_machine_get_by_id(svc->store, machine_id, &error);
    host = row != NULL ? cohort_hosts_lookup_by_id(svc->hosts, row->host_id) : NULL;
    if (host == NULL || host->prov == NULL) {
        if (error == NULL)
            g_set_error(&error, COHORT_ERROR, COHORT_ERROR_HOST_UNAVAILABLE,
                        "the host of machine %" G_GINT64_FORMAT " is not reachable now",
                        machine_id);
        opened(NULL, error, user_data);
        return;
    }
    open = g_new0(CohortConsoleOpen, 1);
    open->prov = host->prov;
    open->domain_name = g_strdup(row->name);
    open->machine_id = row->id;
    open->fd = -1;
    open->opened = opened;
    open->user_data = user_data;
    cohort_jobs_push(svc->work->jobs, cohort_console_open_run, cohort_console_open_done, open,
                     (GDestroyNotify)cohort_console_open_free, NULL);
}
