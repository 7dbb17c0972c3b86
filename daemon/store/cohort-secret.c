/* Secrets at rest: the key file and AES-256-GCM sealing (GnuTLS; no crypto of our own). */
#define G_LOG_DOMAIN "cohort-secret"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cohort-error.h"
#include "cohort-secret.h"
#include "cohort-state-dir.h"

#define COHORT_SECRET_KEY_BYTES 32 /* AES-256 */
#define COHORT_SECRET_NONCE_BYTES 12
#define COHORT_SECRET_TAG_BYTES 16
#define COHORT_SECRET_CIPHER GNUTLS_CIPHER_AES_256_GCM
#define COHORT_SECRET_KEY_HOLDS "the key that opens the VNC passwords sealed in the database"

struct _CohortSecretKey {
    guint8 bytes[COHORT_SECRET_KEY_BYTES];
};

void
cohort_secret_key_free(CohortSecretKey *key)
{
    if (key == NULL)
        return;
    gnutls_memset(key->bytes, 0, sizeof(key->bytes));
    g_free(key);
}

CohortSecretKey *
cohort_secret_key_new_random(GError **error)
{
    g_autoptr(CohortSecretKey) key = g_new0(CohortSecretKey, 1);
    gint rc = gnutls_rnd(GNUTLS_RND_KEY, key->bytes, sizeof(key->bytes));

    if (rc < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "making a secret key: %s",
                    gnutls_strerror(rc));
        return NULL;
    }
    return g_steal_pointer(&key);
}

/* The whole key from @fd, which must be private and exactly one key long. */
static CohortSecretKey *
cohort_secret_key_read(int fd, const gchar *path, GError **error)
{
    g_autoptr(CohortSecretKey) key = g_new0(CohortSecretKey, 1);
    GStatBuf st;
    gsize got = 0;

    if (fstat(fd, &st) < 0) {
        int saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "cannot check %s: %s", path,
                    g_strerror(saved));
        return NULL;
    }
    if (!cohort_state_file_check_mode(path, &st, COHORT_SECRET_KEY_HOLDS, error))
        return NULL;
    if (st.st_size != COHORT_SECRET_KEY_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s is not a Cohort secret key (%" G_GINT64_FORMAT " bytes, not %d): restore "
                    "the one made with this database from a backup",
                    path, (gint64)st.st_size, COHORT_SECRET_KEY_BYTES);
        return NULL;
    }
    while (got < sizeof(key->bytes)) {
        ssize_t n = read(fd, key->bytes + got, sizeof(key->bytes) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "cannot read %s: %s", path,
                        n < 0 ? g_strerror(saved) : "it is shorter than it was");
            return NULL;
        }
        got += (gsize)n;
    }
    return g_steal_pointer(&key);
}

static gboolean
cohort_secret_write_all(int fd, const guint8 *data, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Writes a new key into a private temporary file and links it in place: whoever reads the
 * key file reads a whole key, and of two cohortd starting at once only one key wins
 * (*lost says this one lost: the caller reads the winner's). */
static CohortSecretKey *
cohort_secret_key_create(const gchar *path, gboolean *lost, GError **error)
{
    g_autoptr(CohortSecretKey) key = cohort_secret_key_new_random(error);
    g_autofree gchar *tmp = g_strconcat(path, ".XXXXXX", NULL);
    g_autofree gchar *dir = g_path_get_dirname(path);
    int saved = 0;
    int fd;
    int dir_fd;

    *lost = FALSE;
    if (key == NULL)
        return NULL;
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot make the secret key %s: %s; check that cohortd may write %s", path,
                    g_strerror(saved), dir);
        return NULL;
    }
    if (!cohort_secret_write_all(fd, key->bytes, sizeof(key->bytes)) || fsync(fd) < 0)
        saved = errno;
    if (close(fd) < 0 && saved == 0)
        saved = errno;
    if (saved == 0 && link(tmp, path) < 0) {
        saved = errno;
        *lost = saved == EEXIST;
    }
    g_unlink(tmp);
    if (*lost)
        return NULL;
    if (saved != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot write the secret key %s: %s", path, g_strerror(saved));
        return NULL;
    }
    /* the key's name in its directory must survive a crash too: without the key, every
     * secret sealed with it is lost */
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        if (fsync(dir_fd) < 0)
            g_warning("syncing %s after making %s: %s", dir, path, g_strerror(errno));
        close(dir_fd);
    }
    return g_steal_pointer(&key);
}

CohortSecretKey *
cohort_secret_key_load_or_create(const gchar *path, gboolean *created, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);

    if (created != NULL)
        *created = FALSE;
    /* twice at most: a cohortd that loses the race to create reads the winner's key */
    for (guint attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        gboolean lost = FALSE;
        CohortSecretKey *key;

        if (fd >= 0) {
            key = cohort_secret_key_read(fd, path, error);
            close(fd);
            return key;
        }
        if (errno != ENOENT) {
            int saved = errno;
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                        "cannot open the secret key %s: %s%s", path, g_strerror(saved),
                        saved == ELOOP ? " (a symbolic link: put the key file itself there)" : "");
            return NULL;
        }
        key = cohort_secret_key_create(path, &lost, error);
        if (key != NULL) {
            if (created != NULL)
                *created = TRUE;
            return key;
        }
        if (!lost)
            return NULL;
    }
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                "the secret key %s appears and vanishes: is another program removing it?", path);
    return NULL;
}

/* What the tag authenticates besides the ciphertext: the format and the value's place. */
static gchar *
cohort_secret_aad(const gchar *context)
{
    return g_strconcat(COHORT_SECRET_PREFIX, context, NULL);
}

gchar *
cohort_secret_seal(const CohortSecretKey *key, const gchar *context, const gchar *clear,
                   GError **error)
{
    gnutls_datum_t k = {(guint8 *)key->bytes, sizeof(key->bytes)};
    gnutls_aead_cipher_hd_t cipher = NULL;
    g_autofree gchar *aad = NULL;
    g_autofree guint8 *buf = NULL;
    g_autofree gchar *encoded = NULL;
    gsize clear_len;
    gsize sealed_len;
    gint rc;

    g_return_val_if_fail(key != NULL && context != NULL && clear != NULL, NULL);

    aad = cohort_secret_aad(context);
    clear_len = strlen(clear);
    sealed_len = clear_len + COHORT_SECRET_TAG_BYTES;
    buf = g_malloc(COHORT_SECRET_NONCE_BYTES + sealed_len);
    /* a random 96-bit nonce per value: the store seals a few values per machine, far below
     * the 2^32 values one key may seal so */
    rc = gnutls_rnd(GNUTLS_RND_NONCE, buf, COHORT_SECRET_NONCE_BYTES);
    if (rc >= 0)
        rc = gnutls_aead_cipher_init(&cipher, COHORT_SECRET_CIPHER, &k);
    if (rc >= 0) {
        rc = gnutls_aead_cipher_encrypt(cipher, buf, COHORT_SECRET_NONCE_BYTES, aad, strlen(aad),
                                        COHORT_SECRET_TAG_BYTES, clear, clear_len,
                                        buf + COHORT_SECRET_NONCE_BYTES, &sealed_len);
        gnutls_aead_cipher_deinit(cipher);
    }
    if (rc < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "sealing %s: %s", context,
                    gnutls_strerror(rc));
        return NULL;
    }
    encoded = g_base64_encode(buf, COHORT_SECRET_NONCE_BYTES + sealed_len);
    return g_strconcat(COHORT_SECRET_PREFIX, encoded, NULL);
}

gchar *
cohort_secret_open(const CohortSecretKey *key, const gchar *context, const gchar *sealed,
                   GError **error)
{
    gnutls_datum_t k = {(guint8 *)key->bytes, sizeof(key->bytes)};
    gnutls_aead_cipher_hd_t cipher = NULL;
    g_autofree gchar *aad = NULL;
    g_autofree guint8 *raw = NULL;
    g_autofree gchar *clear = NULL;
    gsize raw_len = 0;
    gsize clear_len;
    gint rc;

    g_return_val_if_fail(key != NULL && context != NULL && sealed != NULL, NULL);

    if (!g_str_has_prefix(sealed, COHORT_SECRET_PREFIX)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s is not a sealed value (no '" COHORT_SECRET_PREFIX "' prefix)", context);
        return NULL;
    }
    raw = g_base64_decode(sealed + strlen(COHORT_SECRET_PREFIX), &raw_len);
    if (raw_len < COHORT_SECRET_NONCE_BYTES + COHORT_SECRET_TAG_BYTES) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s is not a sealed value (too short)", context);
        return NULL;
    }
    aad = cohort_secret_aad(context);
    clear_len = raw_len - COHORT_SECRET_NONCE_BYTES - COHORT_SECRET_TAG_BYTES;
    clear = g_malloc0(clear_len + 1);
    rc = gnutls_aead_cipher_init(&cipher, COHORT_SECRET_CIPHER, &k);
    if (rc >= 0) {
        rc = gnutls_aead_cipher_decrypt(cipher, raw, COHORT_SECRET_NONCE_BYTES, aad, strlen(aad),
                                        COHORT_SECRET_TAG_BYTES, raw + COHORT_SECRET_NONCE_BYTES,
                                        raw_len - COHORT_SECRET_NONCE_BYTES, clear, &clear_len);
        gnutls_aead_cipher_deinit(cipher);
    }
    if (rc == GNUTLS_E_DECRYPTION_FAILED) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s does not open with this key: it was altered, copied from elsewhere, or "
                    "sealed with another secret key",
                    context);
        return NULL;
    }
    if (rc < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "opening %s: %s", context,
                    gnutls_strerror(rc));
        return NULL;
    }
    if (memchr(clear, '\0', clear_len) != NULL) {
        gnutls_memset(clear, 0, clear_len);
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s opens to something that is not text", context);
        return NULL;
    }
    return g_steal_pointer(&clear);
}
