#define G_LOG_DOMAIN "cohort-ssh-key"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-ssh-key.h"

static const gchar *const cohort_ssh_key_types[] = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    NULL,
};

/* g_base64_decode() skips what is not base64: a key must be base64 and nothing else. */
static gboolean
cohort_ssh_key_is_base64(const gchar *text, gsize len)
{
    gsize pad = 0;

    if (len == 0 || len % 4 != 0)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        gchar c = text[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0 || !(g_ascii_isalnum(c) || c == '+' || c == '/'))
            return FALSE;
    }
    return pad <= 2;
}

static guint8 *
cohort_ssh_key_blob(const gchar *b64, gsize len, gsize *blob_len)
{
    g_autofree gchar *copy = g_strndup(b64, len);

    if (!cohort_ssh_key_is_base64(copy, len))
        return NULL;
    return g_base64_decode(copy, blob_len);
}

/* Whether @blob begins with the SSH string @type (a 4-byte big-endian length, then it). */
static gboolean
cohort_ssh_key_blob_names(const guint8 *blob, gsize blob_len, const gchar *type)
{
    gsize tlen = strlen(type);
    guint32 n;

    if (blob_len < 4 + tlen)
        return FALSE;
    n = ((guint32)blob[0] << 24) | ((guint32)blob[1] << 16) | ((guint32)blob[2] << 8) | blob[3];
    return n == tlen && memcmp(blob + 4, type, tlen) == 0 && blob_len > 4 + tlen;
}

static gboolean
cohort_ssh_key_invalid(GError **error, const gchar *why)
{
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                "not an SSH public key: %s (give one line of a .pub file, such as "
                "'ssh-ed25519 AAAAC3Nza… you@laptop')",
                why);
    return FALSE;
}

gchar *
cohort_ssh_key_normalize(const gchar *line, GError **error)
{
    g_autofree gchar *copy = NULL;
    g_autofree guint8 *blob = NULL;
    const gchar *type_end;
    const gchar *b64;
    const gchar *b64_end;
    const gchar *comment;
    gsize blob_len = 0;
    const gchar *type = NULL;

    if (line == NULL || strlen(line) > COHORT_SSH_KEY_LEN_MAX) {
        cohort_ssh_key_invalid(error, "longer than 8192 bytes");
        return NULL;
    }
    if (!g_utf8_validate(line, -1, NULL)) {
        cohort_ssh_key_invalid(error, "not UTF-8");
        return NULL;
    }
    for (const gchar *p = line; *p != '\0'; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f) {
            cohort_ssh_key_invalid(error, "it holds a control character (one key, one line)");
            return NULL;
        }
    }
    copy = g_strstrip(g_strdup(line));
    type_end = strchr(copy, ' ');
    if (type_end == NULL) {
        cohort_ssh_key_invalid(error, "no key after the type");
        return NULL;
    }
    for (guint i = 0; cohort_ssh_key_types[i] != NULL; i++) {
        if ((gsize)(type_end - copy) == strlen(cohort_ssh_key_types[i]) &&
            strncmp(copy, cohort_ssh_key_types[i], type_end - copy) == 0)
            type = cohort_ssh_key_types[i];
    }
    if (type == NULL) {
        cohort_ssh_key_invalid(error, "unknown type (options before the type are not taken)");
        return NULL;
    }
    b64 = type_end;
    while (*b64 == ' ')
        b64++;
    b64_end = b64;
    while (*b64_end != '\0' && *b64_end != ' ')
        b64_end++;
    blob = cohort_ssh_key_blob(b64, b64_end - b64, &blob_len);
    if (blob == NULL) {
        cohort_ssh_key_invalid(error, "the key is not base64");
        return NULL;
    }
    if (!cohort_ssh_key_blob_names(blob, blob_len, type)) {
        cohort_ssh_key_invalid(error, "the key's data does not name its type");
        return NULL;
    }
    comment = b64_end;
    while (*comment == ' ')
        comment++;
    if (*comment == '\0')
        return g_strdup_printf("%s %.*s", type, (int)(b64_end - b64), b64);
    return g_strdup_printf("%s %.*s %s", type, (int)(b64_end - b64), b64, comment);
}

gchar *
cohort_ssh_key_fingerprint(const gchar *key)
{
    g_autofree guint8 *blob = NULL;
    g_autoptr(GChecksum) sum = NULL;
    g_autofree gchar *b64 = NULL;
    const gchar *start;
    const gchar *end;
    guint8 digest[32];
    gsize digest_len = sizeof(digest);
    gsize blob_len = 0;
    gsize len;

    if (key == NULL || (start = strchr(key, ' ')) == NULL)
        return NULL;
    start++;
    end = strchr(start, ' ');
    if (end == NULL)
        end = start + strlen(start);
    blob = cohort_ssh_key_blob(start, end - start, &blob_len);
    if (blob == NULL)
        return NULL;
    sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, blob, blob_len);
    g_checksum_get_digest(sum, digest, &digest_len);
    b64 = g_base64_encode(digest, digest_len);
    len = strlen(b64);
    while (len > 0 && b64[len - 1] == '=')
        b64[--len] = '\0';
    return g_strconcat("SHA256:", b64, NULL);
}
