#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "cohort-client-config.h"
#include "cohort-client-error.h"

#define COHORT_CLIENT_CONFIG_GROUP "client"

gchar *
cohort_client_config_path(void)
{
    return g_build_filename(g_get_user_config_dir(), "cohort", "client.conf", NULL);
}

static const gchar *
cohort_client_config_env(const gchar *name)
{
    const gchar *value = g_getenv(name);

    return value != NULL && value[0] != '\0' ? value : NULL;
}

/* A token is a password: say so when others can read it, but still work. */
static void
cohort_client_config_check_mode(const gchar *path)
{
    GStatBuf st;

    if (g_stat(path, &st) == 0 && (st.st_mode & 0077) != 0)
        fprintf(stderr,
                "cohortctl: warning: %s is readable by others (mode %04o) and holds a token; "
                "run: chmod 600 %s\n",
                path, (guint)(st.st_mode & 07777), path);
}

static gchar *
cohort_client_config_read_key(GKeyFile *file, const gchar *path, const gchar *key, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree gchar *value = g_key_file_get_string(file, COHORT_CLIENT_CONFIG_GROUP, key, &local);

    if (value == NULL) {
        if (g_error_matches(local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
            g_error_matches(local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
            return g_strdup("");
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED, "%s: [%s] %s: %s", path,
                    COHORT_CLIENT_CONFIG_GROUP, key, local->message);
        return NULL;
    }
    return g_strstrip(g_steal_pointer(&value));
}

gboolean
cohort_client_config_resolve(const gchar *url_option, const gchar *token_option, gchar **url,
                             gchar **token, GError **error)
{
    const gchar *env_url = cohort_client_config_env("COHORT_URL");
    const gchar *env_token = cohort_client_config_env("COHORT_TOKEN");
    g_autofree gchar *file_url = NULL;
    g_autofree gchar *file_token = NULL;
    const gchar *u = url_option != NULL ? url_option : env_url;
    const gchar *t = token_option != NULL ? token_option : env_token;

    if (u == NULL || t == NULL) {
        g_autofree gchar *path = cohort_client_config_path();
        g_autoptr(GKeyFile) file = g_key_file_new();
        g_autoptr(GError) local = NULL;

        if (!g_key_file_load_from_file(file, path, G_KEY_FILE_KEEP_COMMENTS, &local)) {
            if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                            "cannot read %s: %s", path, local->message);
                return FALSE;
            }
        } else {
            cohort_client_config_check_mode(path);
            file_url = cohort_client_config_read_key(file, path, "url", error);
            if (file_url == NULL)
                return FALSE;
            file_token = cohort_client_config_read_key(file, path, "token", error);
            if (file_token == NULL)
                return FALSE;
            if (u == NULL && file_url[0] != '\0')
                u = file_url;
            if (t == NULL && file_token[0] != '\0')
                t = file_token;
        }
    }
    *url = g_strdup(u != NULL ? u : COHORT_CLIENT_DEFAULT_URL);
    *token = g_strdup(t);
    return TRUE;
}

gboolean
cohort_client_config_resolve_ca_file(const gchar *ca_file_option, gchar **ca_file, GError **error)
{
    const gchar *c =
        ca_file_option != NULL ? ca_file_option : cohort_client_config_env("COHORT_CA_FILE");
    g_autofree gchar *file_ca = NULL;

    if (c == NULL) {
        g_autofree gchar *path = cohort_client_config_path();
        g_autoptr(GKeyFile) file = g_key_file_new();
        g_autoptr(GError) local = NULL;

        if (!g_key_file_load_from_file(file, path, G_KEY_FILE_NONE, &local)) {
            if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                            "cannot read %s: %s", path, local->message);
                return FALSE;
            }
        } else {
            file_ca = cohort_client_config_read_key(file, path, "ca_file", error);
            if (file_ca == NULL)
                return FALSE;
            if (file_ca[0] != '\0')
                c = file_ca;
        }
    }
    *ca_file = g_strdup(c);
    return TRUE;
}

gboolean
cohort_client_config_save(const gchar *url, const gchar *token, const gchar *ca_file,
                          GError **error)
{
    g_autofree gchar *path = cohort_client_config_path();
    g_autofree gchar *dir = g_path_get_dirname(path);
    g_autoptr(GKeyFile) file = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autofree gchar *data = NULL;
    gsize len;

    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int saved = errno;
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED, "cannot create %s: %s",
                    dir, g_strerror(saved));
        return FALSE;
    }
    if (!g_key_file_load_from_file(file, path, G_KEY_FILE_KEEP_COMMENTS, &local) &&
        !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED,
                    "cannot read %s: %s; fix or remove it", path, local->message);
        return FALSE;
    }
    g_clear_error(&local);
    g_key_file_set_string(file, COHORT_CLIENT_CONFIG_GROUP, "url", url);
    g_key_file_set_string(file, COHORT_CLIENT_CONFIG_GROUP, "token", token);
    if (ca_file != NULL) {
        /* absolute: cohortctl runs from anywhere */
        g_autofree gchar *absolute = g_canonicalize_filename(ca_file, NULL);
        g_key_file_set_string(file, COHORT_CLIENT_CONFIG_GROUP, "ca_file", absolute);
    } else {
        g_key_file_remove_key(file, COHORT_CLIENT_CONFIG_GROUP, "ca_file", NULL);
    }
    data = g_key_file_to_data(file, &len, NULL);
    /* Written to a temporary file created 0600 and renamed: the token is never readable by
     * others, not even for a moment, and an interrupted write leaves the old file. */
    if (!g_file_set_contents_full(path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local)) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_FAILED, "cannot write %s: %s",
                    path, local->message);
        return FALSE;
    }
    return TRUE;
}
