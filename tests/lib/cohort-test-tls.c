/* Test certificates with GnuTLS's X.509 API: made fresh by each test, valid for a day. */
#define G_LOG_DOMAIN "cohort-test-tls"

#include "config.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <time.h>

#include "cohort-test-tls.h"

typedef struct {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
} CohortTestTlsPair;

static gboolean
cohort_test_tls_check(gint rc, const gchar *what, GError **error)
{
    if (rc >= 0)
        return TRUE;
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, gnutls_strerror(rc));
    return FALSE;
}

#define CHECK(call, what)                                                                          \
    do {                                                                                           \
        if (!cohort_test_tls_check((call), (what), error))                                         \
            return FALSE;                                                                          \
    } while (0)

/* A certificate for @cn with a fresh P-256 key, signed by @issuer (NULL: by itself, a CA). */
static gboolean
cohort_test_tls_make_pair(CohortTestTlsPair *pair, const gchar *cn, gboolean is_ca,
                          const CohortTestTlsPair *issuer, guint serial, GError **error)
{
    time_t now = time(NULL);
    guint8 serial_bytes[4] = {0, 0, (guint8)(serial >> 8), (guint8)serial};
    guint8 key_id[64];
    size_t key_id_len = sizeof(key_id);

    CHECK(gnutls_x509_privkey_init(&pair->key), "privkey init");
    CHECK(gnutls_x509_privkey_generate(pair->key, GNUTLS_PK_ECDSA,
                                       GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
          "generating a key");
    CHECK(gnutls_x509_crt_init(&pair->crt), "crt init");
    CHECK(gnutls_x509_crt_set_version(pair->crt, 3), "version");
    CHECK(gnutls_x509_crt_set_serial(pair->crt, serial_bytes, sizeof(serial_bytes)), "serial");
    CHECK(gnutls_x509_crt_set_activation_time(pair->crt, now - 3600), "activation");
    CHECK(gnutls_x509_crt_set_expiration_time(pair->crt, now + 24 * 3600), "expiration");
    CHECK(gnutls_x509_crt_set_dn_by_oid(pair->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)),
          "common name");
    CHECK(gnutls_x509_crt_set_key(pair->crt, pair->key), "public key");
    CHECK(gnutls_x509_crt_get_key_id(pair->crt, 0, key_id, &key_id_len), "key id");
    CHECK(gnutls_x509_crt_set_subject_key_id(pair->crt, key_id, key_id_len), "subject key id");
    if (is_ca) {
        CHECK(gnutls_x509_crt_set_basic_constraints(pair->crt, 1, -1), "CA constraints");
        CHECK(gnutls_x509_crt_set_key_usage(pair->crt,
                                            GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN),
              "CA key usage");
    } else {
        struct in_addr loopback;
        inet_pton(AF_INET, "127.0.0.1", &loopback);
        CHECK(gnutls_x509_crt_set_basic_constraints(pair->crt, 0, -1), "constraints");
        CHECK(gnutls_x509_crt_set_key_usage(pair->crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
        CHECK(gnutls_x509_crt_set_key_purpose_oid(pair->crt, GNUTLS_KP_TLS_WWW_SERVER, 0),
              "purpose");
        CHECK(gnutls_x509_crt_set_subject_alt_name(pair->crt, GNUTLS_SAN_IPADDRESS, &loopback,
                                                   sizeof(loopback), GNUTLS_FSAN_SET),
              "IP address");
    }
    if (issuer != NULL) {
        guint8 issuer_id[64];
        size_t issuer_id_len = sizeof(issuer_id);
        guint critical = 0;
        CHECK(gnutls_x509_crt_get_subject_key_id(issuer->crt, issuer_id, &issuer_id_len, &critical),
              "issuer key id");
        CHECK(gnutls_x509_crt_set_authority_key_id(pair->crt, issuer_id, issuer_id_len),
              "authority key id");
    }
    CHECK(gnutls_x509_crt_sign2(pair->crt, issuer != NULL ? issuer->crt : pair->crt,
                                issuer != NULL ? issuer->key : pair->key, GNUTLS_DIG_SHA256, 0),
          "signing");
    return TRUE;
}

static void
cohort_test_tls_pair_clear(CohortTestTlsPair *pair)
{
    if (pair->crt != NULL)
        gnutls_x509_crt_deinit(pair->crt);
    if (pair->key != NULL)
        gnutls_x509_privkey_deinit(pair->key);
}

static gboolean
cohort_test_tls_write(const gchar *path, gnutls_datum_t *datum, GError **error)
{
    gboolean ok = g_file_set_contents_full(path, (const gchar *)datum->data, datum->size,
                                           G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);

    gnutls_free(datum->data);
    return ok;
}

static gboolean
cohort_test_tls_write_crt(const gchar *path, gnutls_x509_crt_t crt, GError **error)
{
    gnutls_datum_t datum = {NULL, 0};

    CHECK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &datum), "exporting a certificate");
    return cohort_test_tls_write(path, &datum, error);
}

static gboolean
cohort_test_tls_write_key(const gchar *path, gnutls_x509_privkey_t key, GError **error)
{
    gnutls_datum_t datum = {NULL, 0};

    CHECK(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                            &datum),
          "exporting a key");
    return cohort_test_tls_write(path, &datum, error);
}

static gboolean
cohort_test_tls_make(CohortTestTls *tls, GError **error)
{
    CohortTestTlsPair ca = {NULL, NULL};
    CohortTestTlsPair other = {NULL, NULL};
    CohortTestTlsPair server = {NULL, NULL};
    gboolean ok = cohort_test_tls_make_pair(&ca, "Cohort test CA", TRUE, NULL, 1, error) &&
                  cohort_test_tls_make_pair(&other, "Some other CA", TRUE, NULL, 2, error) &&
                  cohort_test_tls_make_pair(&server, "127.0.0.1", FALSE, &ca, 3, error) &&
                  cohort_test_tls_write_crt(tls->ca, ca.crt, error) &&
                  cohort_test_tls_write_crt(tls->other_ca, other.crt, error) &&
                  cohort_test_tls_write_crt(tls->server_cert, server.crt, error) &&
                  cohort_test_tls_write_key(tls->server_key, server.key, error);

    cohort_test_tls_pair_clear(&ca);
    cohort_test_tls_pair_clear(&other);
    cohort_test_tls_pair_clear(&server);
    return ok;
}

CohortTestTls *
cohort_test_tls_new(GError **error)
{
    g_autoptr(CohortTestTls) tls = g_new0(CohortTestTls, 1);

    tls->dir = g_dir_make_tmp("cohort-tls-XXXXXX", error);
    if (tls->dir == NULL)
        return NULL;
    tls->ca = g_build_filename(tls->dir, "ca.pem", NULL);
    tls->other_ca = g_build_filename(tls->dir, "other-ca.pem", NULL);
    tls->server_cert = g_build_filename(tls->dir, "server.pem", NULL);
    tls->server_key = g_build_filename(tls->dir, "server-key.pem", NULL);
    if (!cohort_test_tls_make(tls, error))
        return NULL;
    return g_steal_pointer(&tls);
}

void
cohort_test_tls_free(CohortTestTls *tls)
{
    if (tls == NULL)
        return;
    if (tls->dir != NULL) {
        const gchar *files[] = {tls->ca, tls->other_ca, tls->server_cert, tls->server_key};
        for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
            if (files[i] != NULL)
                g_unlink(files[i]);
        }
        g_rmdir(tls->dir);
    }
    g_free(tls->ca);
    g_free(tls->other_ca);
    g_free(tls->server_cert);
    g_free(tls->server_key);
    g_free(tls->dir);
    g_free(tls);
}
