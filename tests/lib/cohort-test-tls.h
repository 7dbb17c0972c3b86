/* Certificates made at test time (GnuTLS), for cohortd's HTTPS and cohortctl's --ca-file. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    gchar *dir;         /* a temporary directory holding the files below */
    gchar *ca;          /* ca.pem: the CA that signed the server's certificate */
    gchar *other_ca;    /* other-ca.pem: a CA that signed nothing here */
    gchar *server_cert; /* server.pem: for the IP address 127.0.0.1 only (an IP SAN) */
    gchar *server_key;  /* server-key.pem: its key (PKCS#8) */
} CohortTestTls;

/* A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA, in files. */
CohortTestTls *cohort_test_tls_new(GError **error);
/* Removes the files and the directory. */
void cohort_test_tls_free(CohortTestTls *tls);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortTestTls, cohort_test_tls_free)

G_END_DECLS
