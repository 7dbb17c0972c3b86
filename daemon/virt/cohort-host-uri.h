/* Host URIs: which libvirt URIs cohortd takes, and when two of them name one host.
 *
 * A host URI reaches cohortd from the API and from cohortd.conf, and libvirt acts on it in
 * cohortd's process: test:///FILE reads FILE, qemu+ext runs the program its command= names,
 * keyfile=, pkipath=, known_hosts= and authfile= name files of cohortd's machine, socket=
 * a local socket, qemu:///embed runs QEMU inside cohortd. None of that is something a token
 * may ask for, so only QEMU's system and session daemons, over the local socket, SSH, TLS or
 * TCP, with parameters that choose how to connect, are taken. The test driver is taken where
 * the configuration allows it ([daemon] allow_test_hosts), and always for cohortd's own
 * fallback lab host. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when cohortd may open @uri; COHORT_ERROR_INVALID_ARGUMENT saying why not and what to
 * do (the message does not repeat the URI: callers say where it came from). @allow_test:
 * the configuration allows test:/// hosts; @builtin_test: the one test:/// URI taken
 * anyway (the fallback lab host), NULL for none. */
gboolean cohort_host_uri_check(const gchar *uri, gboolean allow_test, const gchar *builtin_test,
                               GError **error);

/* @uri written one way, for comparison: lower-case scheme and host, "qemu+unix:///" as
 * "qemu:///", a remote URI without transport as "+tls", default ports dropped, repeated and
 * trailing slashes of the path dropped, parameters sorted. NULL when @uri is not a URI. */
gchar *cohort_host_uri_normalize(const gchar *uri);

/* Whether @a and @b are one host as far as their URIs tell (NULLs are never the same). */
gboolean cohort_host_uri_same(const gchar *a, const gchar *b);

G_END_DECLS
