/* Secrets at rest: sealing and opening, tampering, the wrong key or context, the key file. */
#define G_LOG_DOMAIN "test-secret"

#include "config.h"

#include "cohort-test.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort-error.h"
#include "cohort-secret.h"

#define CONTEXT "machines.vnc_password:cohort-cloud-101-sok-dara"

static CohortSecretKey *
key_new(void)
{
    g_autoptr(GError) error = NULL;
    CohortSecretKey *key = cohort_secret_key_new_random(&error);

    cohort_assert_no_error(error);
    assert_non_null(key);
    return key;
}

static gchar *
seal(const CohortSecretKey *key, const gchar *context, const gchar *clear)
{
    g_autoptr(GError) error = NULL;
    gchar *sealed = cohort_secret_seal(key, context, clear, &error);

    cohort_assert_no_error(error);
    assert_non_null(sealed);
    return sealed;
}

static void
expect_open_fails(const CohortSecretKey *key, const gchar *context, const gchar *sealed,
                  const gchar *words)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *clear = cohort_secret_open(key, context, sealed, &error);

    assert_null(clear);
    cohort_assert_error(error, COHORT_ERROR_INTERNAL);
    cohort_assert_contains(error->message, words);
}

static void
test_secret_roundtrip(void **state)
{
    g_autoptr(CohortSecretKey) key = key_new();
    const gchar *const values[] = {"Zq7pW3xK", "", "ស៊ុន ដារ៉ា", "a much longer guest password!"};

    for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *sealed = seal(key, CONTEXT, values[i]);
        g_autofree gchar *again = seal(key, CONTEXT, values[i]);
        g_autofree gchar *clear = NULL;

        assert_true(g_str_has_prefix(sealed, COHORT_SECRET_PREFIX));
        if (values[i][0] != '\0')
            assert_null(strstr(sealed, values[i]));
        /* a fresh nonce each time: equal passwords do not show as equal values */
        assert_string_not_equal(sealed, again);
        clear = cohort_secret_open(key, CONTEXT, sealed, &error);
        cohort_assert_no_error(error);
        assert_string_equal(clear, values[i]);
    }
}

/* Any changed character, a cut value, a value of another row or key: none opens. */
static void
test_secret_tamper(void **state)
{
    g_autoptr(CohortSecretKey) key = key_new();
    g_autoptr(CohortSecretKey) other = key_new();
    g_autofree gchar *sealed = seal(key, CONTEXT, "Zq7pW3xK");
    gsize len = strlen(sealed);

    /* 12 + 8 + 16 bytes: base64 without padding, so every character carries bits */
    assert_int_equal(len, strlen(COHORT_SECRET_PREFIX) + 48);
    for (gsize i = strlen(COHORT_SECRET_PREFIX); i < len; i++) {
        g_autofree gchar *bad = g_strdup(sealed);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        expect_open_fails(key, CONTEXT, bad, "");
    }
    {
        g_autofree gchar *cut = g_strndup(sealed, len - 4);
        expect_open_fails(key, CONTEXT, cut, "");
    }
    expect_open_fails(key, CONTEXT, "v1:AAAA", "too short");
    expect_open_fails(key, CONTEXT, "Zq7pW3xK", "not a sealed value");
    expect_open_fails(key, "machines.vnc_password:cohort-cloud-101-pov-bopha", sealed,
                      "does not open");
    expect_open_fails(other, CONTEXT, sealed, "another secret key");
}

static gchar *
tmp_dir(void)
{
    g_autoptr(GError) error = NULL;
    gchar *dir = g_dir_make_tmp("cohort-secret-XXXXXX", &error);

    cohort_assert_no_error(error);
    return dir;
}

/* Made 0600 at first use, the same key after, refused when others may read it or when it is
 * not a key. */
static void
test_secret_key_file(void **state)
{
    g_autofree gchar *dir = tmp_dir();
    g_autofree gchar *path = g_build_filename(dir, COHORT_SECRET_KEY_FILE, NULL);
    g_autofree gchar *link = g_build_filename(dir, "link.key", NULL);
    g_autofree gchar *sealed = NULL;
    g_autoptr(GError) error = NULL;
    GStatBuf st;
    gboolean created = FALSE;
    mode_t old_umask = umask(0);

    {
        /* even with a umask that lets everyone read what is made */
        g_autoptr(CohortSecretKey) key = cohort_secret_key_load_or_create(path, &created, &error);
        umask(old_umask);
        cohort_assert_no_error(error);
        assert_true(created);
        assert_int_equal(g_stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_size, 32);
        sealed = seal(key, CONTEXT, "Zq7pW3xK");
    }
    {
        g_autoptr(CohortSecretKey) key = cohort_secret_key_load_or_create(path, &created, &error);
        g_autofree gchar *clear = NULL;
        cohort_assert_no_error(error);
        assert_false(created);
        clear = cohort_secret_open(key, CONTEXT, sealed, &error);
        cohort_assert_no_error(error);
        assert_string_equal(clear, "Zq7pW3xK");
    }
    /* no temporary file is left beside it */
    {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        guint n = 0;
        while (g_dir_read_name(d) != NULL)
            n++;
        assert_int_equal(n, 1);
    }
    assert_int_equal(g_chmod(path, 0640), 0);
    {
        g_autoptr(CohortSecretKey) key = cohort_secret_key_load_or_create(path, NULL, &error);
        g_autofree gchar *hint = g_strdup_printf("chmod 600 %s", path);
        assert_null(key);
        cohort_assert_error(error, COHORT_ERROR_INTERNAL);
        cohort_assert_contains(error->message, path);
        cohort_assert_contains(error->message, "mode 0640");
        cohort_assert_contains(error->message, hint);
        g_clear_error(&error);
    }
    assert_int_equal(g_chmod(path, 0600), 0);
    assert_int_equal(symlink(path, link), 0);
    {
        g_autoptr(CohortSecretKey) key = cohort_secret_key_load_or_create(link, NULL, &error);
        assert_null(key);
        cohort_assert_contains(error->message, "symbolic link");
        g_clear_error(&error);
    }
    assert_true(
        g_file_set_contents_full(path, "short", -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
    {
        g_autoptr(CohortSecretKey) key = cohort_secret_key_load_or_create(path, NULL, &error);
        assert_null(key);
        cohort_assert_contains(error->message, "is not a Cohort secret key");
        g_clear_error(&error);
    }
    assert_int_equal(g_unlink(link), 0);
    assert_int_equal(g_unlink(path), 0);
    assert_int_equal(g_rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_roundtrip),
        cmocka_unit_test(test_secret_tamper),
        cmocka_unit_test(test_secret_key_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
