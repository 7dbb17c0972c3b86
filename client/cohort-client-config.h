/* Where cohortctl finds cohortd and its token: --url/--token, then COHORT_URL/COHORT_TOKEN,
 * then ~/.config/cohort/client.conf ([client] url=, token=), then the default URL. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define COHORT_CLIENT_DEFAULT_URL "http://127.0.0.1:8580"

/* $XDG_CONFIG_HOME/cohort/client.conf (g_get_user_config_dir()). */
gchar *cohort_client_config_path(void);

/* Fills *url (never NULL after success) and *token (NULL when none is configured). The file
 * is read only when an option or the environment left something open; a file that group or
 * others may read is used, with a warning on stderr. */
gboolean cohort_client_config_resolve(const gchar *url_option, const gchar *token_option,
                                      gchar **url, gchar **token, GError **error);

/* Writes url and token into client.conf (mode 0600, its folder 0700), keeping what else the
 * file holds. */
gboolean cohort_client_config_save(const gchar *url, const gchar *token, GError **error);

G_END_DECLS
