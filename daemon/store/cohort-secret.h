/* Secrets at rest: the key that seals them (a file of its own, apart from the database) and
 * the sealing itself, AES-256-GCM through GnuTLS.
 *
 * A sealed value is text: "v1:" and the base64 of a 12-byte random nonce, the ciphertext and
 * the 16-byte tag. Each value is bound to its @context (the column and row it belongs to,
 * "machines.vnc_password:cohort-cloud-101-sok-dara"): one copied to another row does not
 * open. Any secret the store keeps (VNC passwords now; a guest password later) goes through
 * cohort_secret_seal() and cohort_secret_open() with a context of its own. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define COHORT_SECRET_KEY_FILE "secret.key"
#define COHORT_SECRET_PREFIX "v1:"

typedef struct _CohortSecretKey CohortSecretKey;

/* A fresh random key, in memory only (what a key file holds; tests use it as it is). */
CohortSecretKey *cohort_secret_key_new_random(GError **error);
/* Reads the key at @path, or makes it there (mode 0600, written whole or not at all) when
 * there is none. A key file that group or others may read, or that is not a key, is refused
 * with what to do. @created (may be NULL) says whether it was made now. */
CohortSecretKey *cohort_secret_key_load_or_create(const gchar *path, gboolean *created,
                                                  GError **error);
void cohort_secret_key_free(CohortSecretKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortSecretKey, cohort_secret_key_free)

/* @clear sealed for @context; NULL only when GnuTLS fails (COHORT_ERROR_INTERNAL). */
gchar *cohort_secret_seal(const CohortSecretKey *key, const gchar *context, const gchar *clear,
                          GError **error);
/* The clear text of @sealed; NULL (COHORT_ERROR_INTERNAL) when it is not a sealed value, was
 * altered, belongs to another context or was sealed with another key. */
gchar *cohort_secret_open(const CohortSecretKey *key, const gchar *context, const gchar *sealed,
                          GError **error);

G_END_DECLS
