/* The web page's files, served from a directory on disk (the installed $datadir/cohort/web,
 * or [daemon] web_dir), and the security headers every answer of cohortd carries. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* The largest file served: the page's files are tens of KiB. */
#define COHORT_API_STATIC_MAX_FILE_BYTES (8 * 1024 * 1024)

typedef struct _CohortApiStatic CohortApiStatic;

/* Serves the files under @web_dir. The directory need not exist yet: each request looks. */
CohortApiStatic *cohort_api_static_new(const gchar *web_dir);
void cohort_api_static_free(CohortApiStatic *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortApiStatic, cohort_api_static_free)

/* The headers of every answer, the API's included: X-Content-Type-Options: nosniff, a
 * Content-Security-Policy that allows nothing and no framing (an answer of the API is data,
 * never a page), no referrer, no caching (answers carry tokens and passwords). */
void cohort_api_static_add_headers(SoupServerMessage *msg);

/* Answers GET or HEAD of @path (as libsoup gives it, still percent-encoded) with the file it
 * names under the web directory, "/" with index.html, with its MIME type and the page's
 * Content-Security-Policy (scripts and styles from the page's own origin only, no inline
 * script, frame-ancestors 'none'). FALSE with COHORT_ERROR_NOT_FOUND for anything else: a
 * missing file, a directory, an unknown file type, a hidden file, a ".." or an encoded "/"
 * in the path, a symbolic link that leads out of the directory; METHOD_NOT_ALLOWED (with an
 * Allow header) for other methods; INTERNAL for a file over the size bound or unreadable. The
 * caller answers the error. @self NULL: no web page (NOT_FOUND). */
gboolean cohort_api_static_serve(CohortApiStatic *self, SoupServerMessage *msg, const gchar *path,
                                 GError **error);

/* The MIME type of a file name by its extension, or NULL for one not served. */
const gchar *cohort_api_static_mime_type(const gchar *name);

G_END_DECLS
