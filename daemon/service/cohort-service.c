#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include "cohort-service.h"

CohortService *
cohort_service_new(CohortStore *store, CohortHosts *hosts, CohortTemplateSet *templates,
                   CohortWork *work, CohortLifecycle *lifecycle, const gchar *instance_id,
                   const CohortServiceSettings *settings)
{
    CohortService *self = g_new0(CohortService, 1);

    self->store = store;
    self->hosts = hosts;
    self->templates = templates;
    self->work = work;
    self->lifecycle = lifecycle;
    self->instance_id = g_strdup(instance_id);
    self->settings = *settings;
    self->settings.vnc_listen = g_strdup(settings->vnc_listen);
    self->settings.images_dir = g_strdup(settings->images_dir);
    self->settings.config_hosts = g_strdupv(settings->config_hosts);
    self->console_tickets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return self;
}

void
cohort_service_free(CohortService *self)
{
    if (self == NULL)
        return;
    g_free(self->settings.vnc_listen);
    g_free(self->settings.images_dir);
    g_strfreev(self->settings.config_hosts);
    g_hash_table_unref(self->console_tickets);
    g_free(self->instance_id);
    g_free(self);
}

void
cohort_service_audit(CohortService *svc, const gchar *actor, const gchar *action,
                     const gchar *target, const GError *result)
{
    cohort_store_audit_record(svc->store, actor, action, target, result);
}
