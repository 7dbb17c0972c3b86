/* Where cohortctl finds cohortd, its token and the CA that signed its certificate:
 * --url/--token/--ca-file, then COHORT_URL/COHORT_TOKEN/COHORT_CA_FILE, then
 * ~/.config/cohort/client.conf ([client] url=, token=, ca_file=), then the default URL (and
 * the system's CAs). */
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

/* *ca_file: the CA file to trust for https://, or NULL for the system's CAs. */
gboolean cohort_client_config_resolve_ca_file(const gchar *ca_file_option, gchar **ca_file,
                                              GError **error);

/* Writes url, token and ca_file (made absolute; NULL removes it) into client.conf (mode 0600,
 * its folder 0700), keeping what else the file holds. */
gboolean cohort_client_config_save(const gchar *url, const gchar *token, const gchar *ca_file,
                                   GError **error);

G_END_DECLS
