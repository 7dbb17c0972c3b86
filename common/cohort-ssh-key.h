/* Trainees' SSH public keys, as authorized_keys lines: checked before they are stored and
 * before they reach a machine's seed, and named by their fingerprint. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How many keys a user may keep, and how long one may be (a 16384-bit RSA key is ~2.8 KB). */
#define COHORT_SSH_KEYS_MAX 16
#define COHORT_SSH_KEY_LEN_MAX 8192

/* @line checked and put in its one form, "TYPE BASE64[ COMMENT]": a known type
 * (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 and the two sk- types), strict base64
 * that decodes to a key blob naming that same type, no options before the type, no control
 * characters anywhere (a newline would be a second key), UTF-8, at most
 * COHORT_SSH_KEY_LEN_MAX bytes. NULL with COHORT_ERROR_INVALID_ARGUMENT saying why. */
gchar *cohort_ssh_key_normalize(const gchar *line, GError **error);
/* OpenSSH's fingerprint of a normalized key: "SHA256:" and the unpadded base64 of the
 * blob's SHA-256. NULL when @key is not one. */
gchar *cohort_ssh_key_fingerprint(const gchar *key);

G_END_DECLS
