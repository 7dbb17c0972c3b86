#define G_LOG_DOMAIN "cohort-api-static"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort-api-static.h"
#include "cohort-error.h"

struct _CohortApiStatic {
    gchar *web_dir;
};

/* What an answer of the API may do in a browser: nothing, and never inside a frame. */
#define COHORT_API_STATIC_DATA_CSP "default-src 'none'; frame-ancestors 'none'"
/* The page: its own scripts, styles, images and fonts, no inline script or style, requests
 * to its own origin only (the API, and later the console's websocket); data: and blob:
 * images for the console's cursor and the QR codes. */
#define COHORT_API_STATIC_PAGE_CSP                                                                 \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "                  \
    "form-action 'none'; frame-ancestors 'none'"

/* Only these are served: a file of any other type under the directory is not found. */
static const struct {
    const gchar *extension;
    const gchar *type;
} cohort_api_static_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".ttf", "font/ttf"},
    {".otf", "font/otf"},
    {".txt", "text/plain; charset=utf-8"},
};

CohortApiStatic *
cohort_api_static_new(const gchar *web_dir)
{
    CohortApiStatic *self = g_new0(CohortApiStatic, 1);

    g_return_val_if_fail(web_dir != NULL, NULL);
    self->web_dir = g_strdup(web_dir);
    return self;
}

void
cohort_api_static_free(CohortApiStatic *self)
{
    if (self == NULL)
        return;
    g_free(self->web_dir);
    g_free(self);
}

void
cohort_api_static_add_headers(SoupServerMessage *msg)
{
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

    /* the first headers of a fresh answer: appended, without looking for them first */
    soup_message_headers_append(headers, "X-Content-Type-Options", "nosniff");
    soup_message_headers_append(headers, "Content-Security-Policy", COHORT_API_STATIC_DATA_CSP);
    soup_message_headers_append(headers, "X-Frame-Options", "DENY");
    soup_message_headers_append(headers, "Referrer-Policy", "no-referrer");
    soup_message_headers_append(headers, "Cache-Control", "no-store");
}

const gchar *
cohort_api_static_mime_type(const gchar *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(cohort_api_static_types); i++)
        if (g_str_has_suffix(name, cohort_api_static_types[i].extension) &&
            strlen(name) > strlen(cohort_api_static_types[i].extension))
            return cohort_api_static_types[i].type;
    return NULL;
}

static void
cohort_api_static_not_found(const gchar *path, GError **error)
{
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                "nothing at %s: the web page is at /, the API under /api/v1 (docs/api.md)", path);
}

/* The path's segments below the web directory, decoded; NULL (not found) for a path that
 * could leave it or names what is not served: "..", ".", hidden files, empty segments (a
 * directory), an encoded "/" or NUL, a backslash. "/" is index.html. */
static gchar **
cohort_api_static_segments(const gchar *path)
{
    g_autofree gchar *decoded = NULL;
    g_auto(GStrv) parts = NULL;

    if (path == NULL || path[0] != '/')
        return NULL;
    if (g_strcmp0(path, "/") == 0) {
        gchar **index = g_new0(gchar *, 2);
        index[0] = g_strdup("index.html");
        return index;
    }
    /* NULL when a "/" or a NUL is encoded */
    decoded = g_uri_unescape_string(path + 1, "/");
    if (decoded == NULL || !g_utf8_validate(decoded, -1, NULL))
        return NULL;
    parts = g_strsplit(decoded, "/", 32);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (parts[i][0] == '\0' || parts[i][0] == '.' || strchr(parts[i], '\\') != NULL ||
            strchr(parts[i], '/') != NULL)
            return NULL;
    }
    return g_steal_pointer(&parts);
}

/* @full resolved, when it is a regular file inside @root (itself resolved). */
static gchar *
cohort_api_static_resolve(const gchar *root, const gchar *full)
{
    g_autofree gchar *real_root = realpath(root, NULL);
    g_autofree gchar *real = NULL;
    g_autofree gchar *prefix = NULL;

    if (real_root == NULL)
        return NULL;
    real = realpath(full, NULL);
    if (real == NULL)
        return NULL;
    /* a symbolic link may point elsewhere inside the directory, never out of it */
    prefix =
        g_str_has_suffix(real_root, "/") ? g_strdup(real_root) : g_strconcat(real_root, "/", NULL);
    if (!g_str_has_prefix(real, prefix))
        return NULL;
    return g_steal_pointer(&real);
}

/* The whole file, at most COHORT_API_STATIC_MAX_FILE_BYTES. */
static gchar *
cohort_api_static_read(const gchar *real, const gchar *path, gsize *len, GError **error)
{
    struct stat st;
    g_autofree gchar *data = NULL;
    gsize done = 0;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        cohort_api_static_not_found(path, error);
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        cohort_api_static_not_found(path, error);
        return NULL;
    }
    if (st.st_size > COHORT_API_STATIC_MAX_FILE_BYTES) {
        close(fd);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s is %" G_GINT64_FORMAT " bytes, more than the %d cohortd serves: the web "
                    "directory holds something that is not the page",
                    path, (gint64)st.st_size, COHORT_API_STATIC_MAX_FILE_BYTES);
        return NULL;
    }
    data = g_malloc((gsize)st.st_size + 1);
    while (done < (gsize)st.st_size) {
        gssize n = read(fd, data + done, (gsize)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "reading %s: %s", path,
                        n == 0 ? "the file got shorter" : g_strerror(saved));
            return NULL;
        }
        done += (gsize)n;
    }
    close(fd);
    data[done] = '\0';
    *len = done;
    return g_steal_pointer(&data);
}

gboolean
cohort_api_static_serve(CohortApiStatic *self, SoupServerMessage *msg, const gchar *path,
                        GError **error)
{
    const gchar *method = soup_server_message_get_method(msg);
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
    g_auto(GStrv) segments = NULL;
    g_autofree gchar *relative = NULL;
    g_autofree gchar *full = NULL;
    g_autofree gchar *real = NULL;
    gchar *data;
    const gchar *type;
    gsize len = 0;

    if (self == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND,
                    "nothing at %s: this cohortd serves no web page; the API is under /api/v1",
                    path);
        return FALSE;
    }
    if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
        soup_message_headers_replace(headers, "Allow", "GET, HEAD");
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_METHOD_NOT_ALLOWED,
                    "%s is not allowed on the web page's files; use GET", method);
        return FALSE;
    }
    segments = cohort_api_static_segments(path);
    type = segments != NULL ? cohort_api_static_mime_type(segments[g_strv_length(segments) - 1])
                            : NULL;
    if (type == NULL) {
        cohort_api_static_not_found(path, error);
        return FALSE;
    }
    relative = g_build_filenamev(segments);
    full = g_build_filename(self->web_dir, relative, NULL);
    real = cohort_api_static_resolve(self->web_dir, full);
    if (real == NULL) {
        cohort_api_static_not_found(path, error);
        return FALSE;
    }
    data = cohort_api_static_read(real, path, &len, error);
    if (data == NULL)
        return FALSE;
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, type, SOUP_MEMORY_TAKE, data, len);
    soup_message_headers_replace(headers, "Content-Security-Policy", COHORT_API_STATIC_PAGE_CSP);
    /* the page changes with an upgrade: ask each time, it is small */
    soup_message_headers_replace(headers, "Cache-Control", "no-cache");
    return TRUE;
}
