/* The web page's files as cohortd serves them (daemon/api/cohort-api-static.c), and the
 * security headers on every answer: real HTTP against a real cohortd whose web_dir is a
 * directory the test makes, with a file outside it that nothing may reach. */
#define G_LOG_DOMAIN "test-api-static"

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cohort-api-static.h"
#include "cohort-test-daemon.h"
#include "cohort-test.h"

#define SECRET "the-secret-outside-the-web-dir"

typedef struct {
    CohortTestDaemon *d;
    gchar *top;     /* a temporary directory: web/ and outside/ */
    gchar *web_dir; /* top/web */
} Fixture;

static void
write_file(const gchar *dir, const gchar *name, const gchar *text)
{
    g_autofree gchar *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    cohort_assert_no_error(error);
}

static void
make_link(const gchar *target, const gchar *dir, const gchar *name)
{
    g_autofree gchar *path = g_build_filename(dir, name, NULL);
    assert_int_equal(symlink(target, path), 0);
}

static int
fixture_setup(void **state)
{
    Fixture *fx = g_new0(Fixture, 1);
    g_autoptr(GError) error = NULL;
    g_autofree gchar *outside = NULL;
    g_autofree gchar *sub = NULL;
    g_autofree gchar *config = NULL;
    g_autofree gchar *big = NULL;
    g_autofree gchar *secret_js = NULL;

    fx->top = g_dir_make_tmp("cohort-web-XXXXXX", &error);
    cohort_assert_no_error(error);
    fx->web_dir = g_build_filename(fx->top, "web", NULL);
    outside = g_build_filename(fx->top, "outside", NULL);
    sub = g_build_filename(fx->web_dir, "sub", NULL);
    assert_int_equal(g_mkdir_with_parents(sub, 0755), 0);
    assert_int_equal(g_mkdir(outside, 0755), 0);
    write_file(fx->web_dir, "index.html", "<!doctype html><title>Cohort</title>");
    write_file(fx->web_dir, "app.js", "export const answer = 42;\n");
    write_file(fx->web_dir, "style.css", "body { color: black; }\n");
    write_file(sub, "logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    write_file(fx->web_dir, "notes.exe", "MZ");
    write_file(fx->web_dir, ".hidden.js", "hidden");
    write_file(outside, "secret.js", SECRET);
    big = g_strnfill(COHORT_API_STATIC_MAX_FILE_BYTES + 1, 'x');
    write_file(fx->web_dir, "big.js", big);
    /* symbolic links: one inside (served), two leading out (refused) */
    make_link("app.js", fx->web_dir, "alias.js");
    secret_js = g_build_filename(outside, "secret.js", NULL);
    make_link(secret_js, fx->web_dir, "leak.js");
    make_link(outside, fx->web_dir, "linkdir");

    config = g_strdup_printf("[daemon]\nweb_dir=%s\nmax_body_kib=64\n", fx->web_dir);
    fx->d = cohort_test_daemon_start_with_config(config, &error);
    cohort_assert_no_error(error);
    *state = fx;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *rm = g_strdup_printf("rm -rf '%s'", fx->top);

    cohort_test_daemon_stop(fx->d);
    assert_int_equal(system(rm), 0);
    g_free(fx->web_dir);
    g_free(fx->top);
    g_free(fx);
    return 0;
}

/* --- HTTP with the answer's headers ---------------------------------------------------- */

typedef struct {
    guint status;
    SoupMessageHeaders *headers;
    gchar *body;
    gsize body_len;
} Answer;

static void
answer_clear(Answer *a)
{
    g_clear_pointer(&a->headers, soup_message_headers_unref);
    g_clear_pointer(&a->body, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Answer, answer_clear)

static void
request(Fixture *fx, const gchar *method, const gchar *path, const gchar *token, Answer *a)
{
    static SoupSession *session = NULL;
    g_autofree gchar *url = g_strconcat(fx->d->url, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;

    assert_non_null(msg);
    if (session == NULL)
        session = soup_session_new_with_options("timeout", 30, NULL);
    if (token != NULL) {
        g_autofree gchar *auth = g_strconcat("Bearer ", token, NULL);
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
    }
    body = soup_session_send_and_read(session, msg, NULL, &error);
    cohort_assert_no_error(error);
    a->status = soup_message_get_status(msg);
    a->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
    a->body = g_strndup(g_bytes_get_data(body, &a->body_len), g_bytes_get_size(body));
}

static const gchar *
header(Answer *a, const gchar *name)
{
    const gchar *value = soup_message_headers_get_one(a->headers, name);
    if (value == NULL)
        fail_msg("no %s header in the answer (status %u)", name, a->status);
    return value;
}

/* What every answer carries, a file's or the API's. */
static void
assert_common_headers(Answer *a)
{
    assert_string_equal(header(a, "X-Content-Type-Options"), "nosniff");
    cohort_assert_contains(header(a, "Content-Security-Policy"), "frame-ancestors 'none'");
    assert_string_equal(header(a, "X-Frame-Options"), "DENY");
    assert_string_equal(header(a, "Referrer-Policy"), "no-referrer");
}

static void
assert_served(Fixture *fx, const gchar *path, const gchar *type, const gchar *body)
{
    g_auto(Answer) a = {0};
    const gchar *csp;

    request(fx, "GET", path, NULL, &a);
    if (a.status != 200)
        fail_msg("GET %s: expected 200, got %u: %s", path, a.status, a.body);
    assert_string_equal(header(&a, "Content-Type"), type);
    assert_string_equal(a.body, body);
    assert_common_headers(&a);
    csp = header(&a, "Content-Security-Policy");
    cohort_assert_contains(csp, "script-src 'self'");
    cohort_assert_contains(csp, "default-src 'none'");
    /* no inline script, no eval, no page of another origin */
    assert_null(strstr(csp, "unsafe-inline"));
    assert_null(strstr(csp, "unsafe-eval"));
    assert_null(strstr(csp, "*"));
    assert_string_equal(header(&a, "Cache-Control"), "no-cache");
}

static void
assert_not_found(Fixture *fx, const gchar *path)
{
    g_auto(Answer) a = {0};

    request(fx, "GET", path, NULL, &a);
    if (a.status != 404)
        fail_msg("GET %s: expected 404, got %u: %s", path, a.status, a.body);
    cohort_assert_contains(a.body, "\"code\":\"not-found\"");
    assert_null(strstr(a.body, SECRET));
    assert_string_equal(header(&a, "Content-Type"), "application/json");
    assert_common_headers(&a);
}

/* --- raw HTTP, for paths a client library would clean up before sending ----------------- */

static gchar *
raw_request(Fixture *fx, const gchar *text)
{
    const gchar *colon = strrchr(fx->d->url, ':');
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 10};
    GString *out = g_string_new(NULL);
    gchar buf[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_non_null(colon);
    addr.sin_port = htons((guint16)g_ascii_strtoull(colon + 1, NULL, 10));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (gssize)strlen(text));
    for (;;) {
        gssize n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n < 0)
            fail_msg("no answer within 10 s to: %s", text);
        g_string_append_len(out, buf, n);
    }
    close(fd);
    return g_string_free(out, FALSE);
}

static void
assert_raw_not_found(Fixture *fx, const gchar *target)
{
    g_autofree gchar *text =
        g_strdup_printf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
    g_autofree gchar *answer = raw_request(fx, text);

    /* libsoup itself refuses some (400) before cohortd sees them */
    if (g_str_has_prefix(answer, "HTTP/1.1 400 ")) {
        assert_null(strstr(answer, SECRET));
        return;
    }
    if (!g_str_has_prefix(answer, "HTTP/1.1 404 "))
        fail_msg("GET %s: expected 404 (or 400), got: %s", target, answer);
    assert_null(strstr(answer, SECRET));
    cohort_assert_contains(answer, "X-Content-Type-Options: nosniff");
}

/* --- tests ----------------------------------------------------------------------------- */

/* index.html for /, each file with its type and the page's CSP; HEAD; other methods 405. */
static void
test_api_static_files(void **state)
{
    Fixture *fx = *state;

    assert_served(fx, "/", "text/html; charset=utf-8", "<!doctype html><title>Cohort</title>");
    assert_served(fx, "/index.html", "text/html; charset=utf-8",
                  "<!doctype html><title>Cohort</title>");
    assert_served(fx, "/app.js", "text/javascript; charset=utf-8", "export const answer = 42;\n");
    assert_served(fx, "/style.css", "text/css; charset=utf-8", "body { color: black; }\n");
    assert_served(fx, "/sub/logo.svg", "image/svg+xml",
                  "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    /* a symbolic link inside the directory is followed */
    assert_served(fx, "/alias.js", "text/javascript; charset=utf-8", "export const answer = 42;\n");
    /* percent-encoding of ordinary characters is decoded */
    assert_served(fx, "/%61pp.js", "text/javascript; charset=utf-8", "export const answer = 42;\n");
    {
        g_auto(Answer) a = {0};
        request(fx, "HEAD", "/", NULL, &a);
        assert_int_equal(a.status, 200);
        assert_int_equal(a.body_len, 0);
        assert_string_equal(header(&a, "Content-Type"), "text/html; charset=utf-8");
    }
    {
        g_auto(Answer) a = {0};
        request(fx, "POST", "/index.html", NULL, &a);
        assert_int_equal(a.status, 405);
        assert_string_equal(header(&a, "Allow"), "GET, HEAD");
        cohort_assert_contains(a.body, "\"code\":\"method-not-allowed\"");
    }
    {
        /* a file over the bound is not sent */
        g_auto(Answer) a = {0};
        request(fx, "GET", "/big.js", NULL, &a);
        assert_int_equal(a.status, 500);
        cohort_assert_contains(a.body, "\"code\":\"internal\"");
        assert_true(a.body_len < 1024);
    }
}

/* Missing files, directories, unknown types, hidden files, links out, traversal: 404, and the
 * file outside is never in an answer. */
static void
test_api_static_refused(void **state)
{
    Fixture *fx = *state;

    assert_not_found(fx, "/missing.html");
    assert_not_found(fx, "/sub");
    assert_not_found(fx, "/sub/");
    assert_not_found(fx, "//app.js");
    assert_not_found(fx, "/notes.exe");
    assert_not_found(fx, "/.hidden.js");
    assert_not_found(fx, "/leak.js");
    assert_not_found(fx, "/linkdir/secret.js");
    assert_not_found(fx, "/etc/passwd");
    assert_not_found(fx, "/%2e%2e/outside/secret.js");
    assert_not_found(fx, "/sub/%2e%2e/%2e%2e/outside/secret.js");
    assert_raw_not_found(fx, "/sub%2f..%2f..%2foutside%2fsecret.js");
    assert_not_found(fx, "/..%5c..%5coutside%5csecret.js");
    assert_raw_not_found(fx, "/app.js%00.html");
    assert_not_found(fx, "/%ff.js");
    assert_raw_not_found(fx, "/../outside/secret.js");
    assert_raw_not_found(fx, "/sub/../../outside/secret.js");
    assert_raw_not_found(fx, "/%2e%2e/%2e%2e/outside/secret.js");
    assert_raw_not_found(fx, "/.%2e/outside/secret.js");
    /* nothing of the kind under the API's prefix either */
    assert_not_found(fx, "/api/v1/../../outside/secret.js");
}

/* The API's answers carry the headers too: data that no browser may sniff, run or frame. */
static void
test_api_static_api_headers(void **state)
{
    Fixture *fx = *state;

    {
        g_auto(Answer) a = {0};
        request(fx, "GET", "/api/v1/whoami", fx->d->admin_token, &a);
        assert_int_equal(a.status, 200);
        assert_common_headers(&a);
        assert_string_equal(header(&a, "Content-Security-Policy"),
                            "default-src 'none'; frame-ancestors 'none'");
        assert_string_equal(header(&a, "Cache-Control"), "no-store");
    }
    {
        g_auto(Answer) a = {0};
        request(fx, "GET", "/api/v1/whoami", NULL, &a);
        assert_int_equal(a.status, 401);
        assert_common_headers(&a);
    }
    {
        g_auto(Answer) a = {0};
        request(fx, "GET", "/healthz", NULL, &a);
        assert_int_equal(a.status, 200);
        assert_common_headers(&a);
    }
    {
        /* an answer the guard writes itself, before libsoup reads the body */
        g_autofree gchar *answer = raw_request(
            fx, "POST /api/v1/redeem HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                "application/json\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n");
        assert_true(g_str_has_prefix(answer, "HTTP/1.1 413 "));
        cohort_assert_contains(answer, "X-Content-Type-Options: nosniff");
    }
}

/* MIME types by extension, and what is not served. */
static void
test_api_static_mime_types(void **state)
{
    assert_string_equal(cohort_api_static_mime_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(cohort_api_static_mime_type("rfb.js"), "text/javascript; charset=utf-8");
    assert_string_equal(cohort_api_static_mime_type("qrcode.mjs"),
                        "text/javascript; charset=utf-8");
    assert_string_equal(cohort_api_static_mime_type("en.json"), "application/json");
    assert_string_equal(cohort_api_static_mime_type("a.woff2"), "font/woff2");
    assert_null(cohort_api_static_mime_type("meson.build"));
    assert_null(cohort_api_static_mime_type("x.sh"));
    assert_null(cohort_api_static_mime_type(".js"));
    assert_null(cohort_api_static_mime_type("README"));
}

/* With no web_dir set, a build that is not installed serves its source tree's page. */
static void
test_api_static_default_page(void **state)
{
    g_autoptr(GError) error = NULL;
    CohortTestDaemon *d = cohort_test_daemon_start(&error);
    g_autofree gchar *raw = NULL;
    guint status = 0;
    JsonNode *node;

    cohort_assert_no_error(error);
    node = cohort_test_http(d, "GET", "/", NULL, NULL, NULL, &status, &raw);
    /* HTML, not JSON */
    assert_null(node);
    assert_int_equal(status, 200);
    cohort_assert_contains(raw, "data-testid=\"invitation-code\"");
    cohort_test_daemon_stop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_static_files, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_static_refused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_static_api_headers, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_api_static_mime_types),
        cmocka_unit_test(test_api_static_default_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
