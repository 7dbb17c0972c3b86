#define G_LOG_DOMAIN "cohort-seed"

#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
/* after stdint.h and sys/types.h, which it needs and does not include; without libburn, it
 * declares struct burn_source itself */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cohort-error.h"
#include "cohort-seed.h"

/* --- YAML that no value can reshape ------------------------------------------------- */

static gboolean
cohort_seed_char_needs_escape(gunichar c)
{
    /* YAML's printable set (1.1 and 1.2) leaves out the C0 and C1 controls but TAB, LF, CR
     * and NEL, DEL, the surrogates, U+FFFE and U+FFFF; TAB, LF and CR go escaped too, so
     * that a value is always one line. */
    return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
           c == 0xfffe || c == 0xffff;
}

gchar *
cohort_seed_quote(const gchar *text)
{
    GString *out = g_string_new("\"");

    g_return_val_if_fail(text != NULL && g_utf8_validate(text, -1, NULL), g_strdup("\"\""));

    for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c == '"' || c == '\\') {
            g_string_append_c(out, '\\');
            g_string_append_c(out, (gchar)c);
        } else if (cohort_seed_char_needs_escape(c)) {
            g_string_append_printf(out, "\\u%04X", (guint)c);
        } else {
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
        }
    }
    g_string_append_c(out, '"');
    return g_string_free(out, FALSE);
}

static void
cohort_seed_append_pair(GString *out, const gchar *indent, const gchar *key, const gchar *value)
{
    g_autofree gchar *quoted = cohort_seed_quote(value);
    g_string_append_printf(out, "%s%s: %s\n", indent, key, quoted);
}

gchar *
cohort_seed_meta_data(const CohortSeedSpec *spec)
{
    GString *out = g_string_new(NULL);

    cohort_seed_append_pair(out, "", "instance-id", spec->instance_id);
    cohort_seed_append_pair(out, "", "local-hostname", spec->hostname);
    return g_string_free(out, FALSE);
}

gchar *
cohort_seed_user_data(const CohortSeedSpec *spec)
{
    GString *out = g_string_new("#cloud-config\n");

    cohort_seed_append_pair(out, "", "hostname", spec->hostname);
    g_string_append(out, "preserve_hostname: false\n");
    g_string_append(out, "users:\n");
    cohort_seed_append_pair(out, "  - ", "name", spec->user);
    if (spec->gecos != NULL && spec->gecos[0] != '\0')
        cohort_seed_append_pair(out, "    ", "gecos", spec->gecos);
    cohort_seed_append_pair(out, "    ", "shell", "/bin/bash");
    cohort_seed_append_pair(out, "    ", "groups", "sudo");
    cohort_seed_append_pair(out, "    ", "sudo", "ALL=(ALL) ALL");
    if (spec->password_hash != NULL) {
        g_string_append(out, "    lock_passwd: false\n");
        cohort_seed_append_pair(out, "    ", "hashed_passwd", spec->password_hash);
    }
    if (spec->ssh_keys != NULL && spec->ssh_keys[0] != NULL) {
        g_string_append(out, "    ssh_authorized_keys:\n");
        for (guint i = 0; spec->ssh_keys[i] != NULL; i++) {
            g_autofree gchar *quoted = cohort_seed_quote(spec->ssh_keys[i]);
            g_string_append_printf(out, "      - %s\n", quoted);
        }
    }
    /* the password opens the console and, with no key yet, SSH */
    g_string_append_printf(out, "ssh_pwauth: %s\n", spec->password_hash != NULL ? "true" : "false");
    if (spec->install_agent) {
        g_string_append(out, "packages:\n");
        g_string_append(out, "  - \"qemu-guest-agent\"\n");
        g_string_append(out, "runcmd:\n");
        g_string_append(out, "  - [\"systemctl\", \"enable\", \"--now\", \"qemu-guest-agent\"]\n");
    }
    return g_string_free(out, FALSE);
}

/* --- checks ------------------------------------------------------------------------- */

static gboolean
cohort_seed_is_hostname(const gchar *name)
{
    gsize len = name != NULL ? strlen(name) : 0;

    if (len == 0 || len > 63 || name[0] == '-' || name[len - 1] == '-')
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(name[i]) && name[i] != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean
cohort_seed_is_account(const gchar *name)
{
    gsize len = name != NULL ? strlen(name) : 0;

    if (len == 0 || len > 32 || !(g_ascii_islower(name[0]) || name[0] == '_'))
        return FALSE;
    for (gsize i = 1; i < len; i++) {
        if (!g_ascii_islower(name[i]) && !g_ascii_isdigit(name[i]) && name[i] != '_' &&
            name[i] != '-')
            return FALSE;
    }
    return TRUE;
}

gboolean
cohort_seed_spec_validate(const CohortSeedSpec *spec, GError **error)
{
    if (spec->instance_id == NULL || spec->instance_id[0] == '\0' ||
        !g_utf8_validate(spec->instance_id, -1, NULL) || strlen(spec->instance_id) > 200) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "seed: the instance id must be 1 to 200 bytes of UTF-8");
        return FALSE;
    }
    if (!cohort_seed_is_hostname(spec->hostname)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "seed: '%s' is not a hostname (1 to 63 letters, digits and inner '-')",
                    spec->hostname != NULL ? spec->hostname : "");
        return FALSE;
    }
    if (!cohort_seed_is_account(spec->user)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "seed: '%s' is not an account name (a lowercase letter or '_', then up to "
                    "31 of [a-z0-9_-])",
                    spec->user != NULL ? spec->user : "");
        return FALSE;
    }
    if (spec->gecos != NULL &&
        (!g_utf8_validate(spec->gecos, -1, NULL) || strlen(spec->gecos) > 1000)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "seed: the display name must be at most 1000 bytes of UTF-8");
        return FALSE;
    }
    if (spec->password_hash != NULL && (!g_str_has_prefix(spec->password_hash, "$6$") ||
                                        strpbrk(spec->password_hash, "\n\r\"\\ ") != NULL)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "seed: the password must be a SHA-512 crypt hash ($6$…), never "
                            "clear text");
        return FALSE;
    }
    for (guint i = 0; spec->ssh_keys != NULL && spec->ssh_keys[i] != NULL; i++) {
        if (!g_utf8_validate(spec->ssh_keys[i], -1, NULL)) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "seed: SSH key %u is not UTF-8", i + 1);
            return FALSE;
        }
    }
    return TRUE;
}

gchar *
cohort_seed_account_for_login(const gchar *login)
{
    g_autofree gchar *name = NULL;

    if (cohort_seed_is_account(login))
        return g_strdup(login);
    name = g_strconcat("u", login, NULL);
    if (strlen(name) > 32)
        name[32] = '\0';
    return g_steal_pointer(&name);
}

gchar *
cohort_seed_hostname_for(const gchar *name)
{
    gchar *host = g_strndup(name, 63);
    gsize len = strlen(host);

    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(host[i]))
            host[i] = '-';
    }
    while (len > 0 && host[len - 1] == '-')
        host[--len] = '\0';
    return host;
}

/* --- the ISO image ------------------------------------------------------------------ */

/* libisofs is not thread-safe: every image holds a reference to one process-wide local
 * filesystem whose count is a plain int, and the last unref frees it. Workers building seeds
 * at once raced on it (cohortd crashed in iso_filesystem_unref while provisioning 1,000
 * machines with 4 workers), so each image lives under this lock from its making to its unref. */
static GMutex cohort_seed_iso_mutex;

static gboolean
cohort_seed_iso_init(GError **error)
{
    static gsize once = 0;
    static int rc = 0;

    if (g_once_init_enter(&once)) {
        rc = iso_init();
        /* libisofs prints to stderr unless told not to; errors come back as codes */
        if (rc >= 0)
            iso_set_msgs_severities((char *)"NEVER", (char *)"NEVER", (char *)"cohort-seed");
        g_once_init_leave(&once, 1);
    }
    if (rc < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "initializing libisofs: %s",
                    iso_error_to_msg(rc));
        return FALSE;
    }
    return TRUE;
}

static gboolean
cohort_seed_iso_check(int rc, const gchar *what, GError **error)
{
    if (rc >= 0)
        return TRUE;
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "making the seed image: %s: %s", what,
                iso_error_to_msg(rc));
    return FALSE;
}

static gboolean
cohort_seed_iso_add(IsoDir *root, const gchar *name, const gchar *text, GError **error)
{
    gsize len = strlen(text);
    /* libisofs frees the buffer with free(): glib's allocator is the system one */
    unsigned char *buf = g_memdup2(text, len);
    IsoStream *stream = NULL;
    IsoFile *file = NULL;

    if (!cohort_seed_iso_check(iso_memory_stream_new(buf, len, &stream), name, error)) {
        g_free(buf);
        return FALSE;
    }
    /* the new file takes the stream's reference */
    if (!cohort_seed_iso_check(iso_tree_add_new_file(root, name, stream, &file), name, error)) {
        iso_stream_unref(stream);
        return FALSE;
    }
    iso_node_set_permissions((IsoNode *)file, 0444);
    return TRUE;
}

GBytes *
cohort_seed_build(const CohortSeedSpec *spec, GError **error)
{
    g_autofree gchar *meta = NULL;
    g_autofree gchar *user = NULL;
    g_autoptr(GByteArray) out = NULL;
    g_autoptr(GMutexLocker) locker = NULL;
    IsoImage *image = NULL;
    IsoWriteOpts *opts = NULL;
    struct burn_source *burn = NULL;
    gboolean ok;
    off_t size;

    g_return_val_if_fail(spec != NULL, NULL);

    if (!cohort_seed_spec_validate(spec, error) || !cohort_seed_iso_init(error))
        return NULL;
    meta = cohort_seed_meta_data(spec);
    user = cohort_seed_user_data(spec);

    locker = g_mutex_locker_new(&cohort_seed_iso_mutex);
    if (!cohort_seed_iso_check(iso_image_new(COHORT_SEED_VOLUME_ID, &image), "a new image", error))
        return NULL;
    iso_image_set_application_id(image, "Cohort");
    ok = cohort_seed_iso_add(iso_image_get_root(image), "meta-data", meta, error) &&
         cohort_seed_iso_add(iso_image_get_root(image), "user-data", user, error) &&
         cohort_seed_iso_check(iso_write_opts_new(&opts, 0), "write options", error) &&
         cohort_seed_iso_check(iso_write_opts_set_rockridge(opts, 1), "Rock Ridge", error) &&
         cohort_seed_iso_check(iso_write_opts_set_joliet(opts, 1), "Joliet", error) &&
         /* "cidata" as written, as genisoimage -V does: ISO 9660's d-characters alone would
          * make it "CIDATA" */
         cohort_seed_iso_check(iso_write_opts_set_relaxed_vol_atts(opts, 1), "volume id", error) &&
         cohort_seed_iso_check(iso_image_create_burn_source(image, opts, &burn), "writing", error);
    if (opts != NULL)
        iso_write_opts_free(opts);
    if (!ok) {
        iso_image_unref(image);
        return NULL;
    }
    size = burn->get_size(burn);
    out = g_byte_array_sized_new((guint)size);
    while (ok && (off_t)out->len < size) {
        guint8 block[2048];
        int n = burn->read_xt(burn, block, sizeof(block));
        if (n <= 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                        "making the seed image: libisofs stopped after %u of %lld bytes", out->len,
                        (long long)size);
            burn->cancel(burn);
            ok = FALSE;
        } else {
            g_byte_array_append(out, block, (guint)n);
        }
    }
    burn->free_data(burn);
    free(burn);
    iso_image_unref(image);
    if (!ok)
        return NULL;
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

/* --- reading an image back ---------------------------------------------------------- */

static int
cohort_seed_src_open(IsoDataSource *src)
{
    return 1;
}

static int
cohort_seed_src_close(IsoDataSource *src)
{
    return 1;
}

static int
cohort_seed_src_read(IsoDataSource *src, uint32_t lba, uint8_t *buffer)
{
    gsize len = 0;
    const guint8 *data = g_bytes_get_data(src->data, &len);

    if (((guint64)lba + 1) * 2048 > len)
        return ISO_DATA_SOURCE_FAILURE;
    memcpy(buffer, data + (gsize)lba * 2048, 2048);
    return 1;
}

static void
cohort_seed_src_free(IsoDataSource *src)
{
    g_bytes_unref(src->data);
}

static GBytes *
cohort_seed_read_stream(IsoStream *stream, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    guint8 buf[4096];
    int n;

    if (!cohort_seed_iso_check(iso_stream_open(stream), "opening a file", error))
        return NULL;
    while ((n = iso_stream_read(stream, buf, sizeof(buf))) > 0)
        g_byte_array_append(out, buf, (guint)n);
    iso_stream_close(stream);
    if (n < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "reading a file: %s",
                    iso_error_to_msg(n));
        return NULL;
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

GHashTable *
cohort_seed_image_read(GBytes *image, gchar **volume_id, gboolean *rockridge, gboolean *joliet,
                       GError **error)
{
    g_autoptr(GHashTable) files =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
    IsoDataSource *src;
    IsoImage *img = NULL;
    IsoReadOpts *ropts = NULL;
    IsoReadImageFeatures *features = NULL;
    IsoDirIter *iter = NULL;
    IsoNode *node = NULL;
    g_autoptr(GMutexLocker) locker = NULL;
    int rc;

    if (!cohort_seed_iso_init(error))
        return NULL;
    locker = g_mutex_locker_new(&cohort_seed_iso_mutex);
    src = g_new0(IsoDataSource, 1);
    src->refcount = 1;
    src->open = cohort_seed_src_open;
    src->close = cohort_seed_src_close;
    src->read_block = cohort_seed_src_read;
    src->free_data = cohort_seed_src_free;
    src->data = g_bytes_ref(image);

    rc = iso_image_new("import", &img);
    if (rc >= 0)
        rc = iso_read_opts_new(&ropts, 0);
    if (rc >= 0)
        rc = iso_image_import(img, src, ropts, &features);
    if (ropts != NULL)
        iso_read_opts_free(ropts);
    iso_data_source_unref(src);
    if (rc < 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "not an ISO 9660 image: %s",
                    iso_error_to_msg(rc));
        if (img != NULL)
            iso_image_unref(img);
        return NULL;
    }
    if (volume_id != NULL)
        *volume_id = g_strdup(iso_image_get_volume_id(img));
    if (rockridge != NULL)
        *rockridge = iso_read_image_features_has_rockridge(features) != 0;
    if (joliet != NULL)
        *joliet = iso_read_image_features_has_joliet(features) != 0;
    iso_read_image_features_destroy(features);

    rc = iso_dir_get_children(iso_image_get_root(img), &iter);
    while (rc >= 0 && iso_dir_iter_next(iter, &node) == 1) {
        GBytes *bytes;
        if (!ISO_NODE_IS_FILE(node))
            continue;
        bytes = cohort_seed_read_stream(iso_file_get_stream((IsoFile *)node), error);
        if (bytes == NULL) {
            rc = -1;
            break;
        }
        g_hash_table_insert(files, g_strdup(iso_node_get_name(node)), bytes);
    }
    if (iter != NULL)
        iso_dir_iter_free(iter);
    iso_image_unref(img);
    if (rc < 0) {
        if (error != NULL && *error == NULL)
            g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                                "reading the image's root directory");
        if (volume_id != NULL)
            g_clear_pointer(volume_id, g_free);
        return NULL;
    }
    return g_steal_pointer(&files);
}

/* --- the guest password ------------------------------------------------------------- */

static void
cohort_seed_random_bytes(guint8 *buf, gsize len)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n > 0)
            done += (gsize)n;
    }
}

gchar *
cohort_seed_password_new(void)
{
    static const gchar alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const guint n = sizeof(alphabet) - 1;
    /* the largest multiple of n below 256: bytes above it would favour the first letters */
    const guint limit = 256 - 256 % n;
    gchar *out = g_malloc0(17);
    guint i = 0;

    while (i < 16) {
        guint8 b;
        cohort_seed_random_bytes(&b, 1);
        if (b < limit)
            out[i++] = alphabet[b % n];
    }
    return out;
}

gchar *
cohort_seed_password_hash(const gchar *clear, GError **error)
{
    g_autofree struct crypt_data *data = g_new0(struct crypt_data, 1);
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    const char *hash;

    g_return_val_if_fail(clear != NULL, NULL);

    /* 1,000 rounds, SHA-crypt's least, not its default 5,000: the password is 16 random
     * characters (about 90 bits), so the rounds add nothing against a guess, and 5,000 took
     * 37 M instructions per machine, six times the rest of a provisioning (bench/README.md).
     * NULL random bytes: libcrypt takes them from the kernel itself. */
    if (crypt_gensalt_rn("$6$", COHORT_SEED_PASSWORD_ROUNDS, NULL, 0, salt, sizeof(salt)) == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "making a SHA-512 crypt salt: %s",
                    g_strerror(errno));
        return NULL;
    }
    hash = crypt_r(clear, salt, data);
    if (hash == NULL || !g_str_has_prefix(hash, "$6$")) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "hashing the guest password with SHA-512 crypt: %s", g_strerror(errno));
        return NULL;
    }
    return g_strdup(hash);
}

gboolean
cohort_seed_password_verify(const gchar *clear, const gchar *hash)
{
    g_autofree struct crypt_data *data = g_new0(struct crypt_data, 1);
    const char *again;
    gsize len;
    guint8 diff = 0;

    if (clear == NULL || hash == NULL || !g_str_has_prefix(hash, "$6$"))
        return FALSE;
    again = crypt_r(clear, hash, data);
    if (again == NULL || strlen(again) != (len = strlen(hash)))
        return FALSE;
    for (gsize i = 0; i < len; i++)
        diff |= (guint8)(again[i] ^ hash[i]);
    return diff == 0;
}
