/* A hostile client on loopback: what it sends must neither crash cohortd nor cost it more
 * than the configured bounds. Real HTTP (raw sockets where a well-behaved client library
 * would refuse to send the request) against a real cohortd on the test driver. */
#define G_LOG_DOMAIN "test-api-hostile"

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cohort-test-daemon.h"
#include "cohort-test.h"

/* Small bounds, so that a test reaches them quickly; each test names its own. */
#define LIMITS_CONFIG                                                                              \
    "[daemon]\n"                                                                                   \
    "max_body_kib=64\n"                                                                            \
    "max_connections_per_client=6\n"                                                               \
    "auth_failures_per_minute=5\n"
#define SLOW_CONFIG                                                                                \
    "[daemon]\n"                                                                                   \
    "request_timeout_s=1\n"

typedef struct {
    CohortTestDaemon *d;
} Fixture;

/* The test's prestate is the extra configuration (NULL: cohortd's defaults). */
static int
fixture_setup(void **state)
{
    Fixture *fx = g_new0(Fixture, 1);
    g_autoptr(GError) error = NULL;

    fx->d = cohort_test_daemon_start_with_config(*state, &error);
    cohort_assert_no_error(error);
    *state = fx;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;

    cohort_test_daemon_stop(fx->d);
    g_free(fx);
    return 0;
}

/* --- raw HTTP ------------------------------------------------------------------------- */

static guint16
daemon_port(CohortTestDaemon *d)
{
    const gchar *colon = strrchr(d->url, ':');
    assert_non_null(colon);
    return (guint16)g_ascii_strtoull(colon + 1, NULL, 10);
}

/* A connected socket whose reads give up after @timeout_s. */
static int
raw_connect(CohortTestDaemon *d, guint timeout_s)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(daemon_port(d))};
    struct timeval tv = {.tv_sec = timeout_s};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void
raw_send(int fd, const gchar *text)
{
    gsize len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (gssize)len);
}

/* Everything the server sends until it closes; NULL when it did not close within the
 * socket's timeout (the read timed out). */
static gchar *
raw_read_until_closed(int fd)
{
    GString *out = g_string_new(NULL);
    gchar buf[4096];

    for (;;) {
        gssize n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0)
            break;
        if (n < 0 && errno == ECONNRESET)
            break;
        if (n < 0) {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append_len(out, buf, n);
    }
    return g_string_free(out, FALSE);
}

/* One answer: its head and as much body as its Content-Length says, without waiting for
 * the server to close (after an early answer it reads what the client still sends for a
 * while first). NULL when it did not come within the socket's timeout. */
static gchar *
raw_read_answer(int fd)
{
    GString *out = g_string_new(NULL);
    gchar buf[4096];

    for (;;) {
        const gchar *end = strstr(out->str, "\r\n\r\n");
        const gchar *length = strstr(out->str, "Content-Length: ");
        gssize n;

        if (end != NULL && length != NULL && length < end &&
            out->len >= (gsize)(end + 4 - out->str) + g_ascii_strtoull(length + 16, NULL, 10))
            break;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n < 0) {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append_len(out, buf, n);
    }
    return g_string_free(out, FALSE);
}

/* One whole exchange: @request on a new connection, and its answer. */
static gchar *
raw_exchange(CohortTestDaemon *d, const gchar *request)
{
    int fd = raw_connect(d, 10);
    gchar *answer;

    raw_send(fd, request);
    answer = raw_read_answer(fd);
    close(fd);
    if (answer == NULL)
        fail_msg("cohortd did not answer within 10 s: %s", request);
    return answer;
}

static void
assert_answer(const gchar *answer, guint status, const gchar *code)
{
    g_autofree gchar *line = g_strdup_printf("HTTP/1.1 %u ", status);
    g_autofree gchar *json = g_strdup_printf("\"code\":\"%s\"", code);

    if (!g_str_has_prefix(answer, line) || strstr(answer, json) == NULL)
        fail_msg("expected %u %s, got: %s", status, code, answer);
}

static void
assert_alive(CohortTestDaemon *d)
{
    guint status = 0;
    g_autoptr(JsonNode) node =
        cohort_test_http(d, "GET", "/healthz", NULL, NULL, NULL, &status, NULL);
    assert_int_equal(status, 200);
}

/* The peak resident memory of cohortd, in KiB. */
static guint64
daemon_peak_rss_kib(CohortTestDaemon *d)
{
    g_autofree gchar *path = g_strdup_printf("/proc/%d/status", d->pid);
    g_autofree gchar *text = NULL;
    const gchar *line;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "VmHWM:");
    assert_non_null(line);
    return g_ascii_strtoull(line + strlen("VmHWM:"), NULL, 10);
}

/* A metric's value from /metrics (on loopback, no token needed). */
static guint64
metric(CohortTestDaemon *d, const gchar *name)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    g_autofree gchar *needle = g_strconcat("\n", name, " ", NULL);
    const gchar *at;

    g_autoptr(JsonNode) none =
        cohort_test_http(d, "GET", "/metrics", NULL, NULL, NULL, &status, &raw);

    assert_int_equal(status, 200);
    at = strstr(raw, needle);
    if (at == NULL)
        fail_msg("no metric %s in: %s", name, raw);
    return g_ascii_strtoull(at + strlen(needle), NULL, 10);
}

static void
http_expect(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
            const gchar *body, guint expect, const gchar *code, const gchar *message_part)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) node = cohort_test_http(d, method, path, token, body, NULL, &status, &raw);

    if (status != expect || g_strcmp0(cohort_test_error_code(node), code) != 0)
        fail_msg("%s %s: expected %u %s, got %u: %s", method, path, expect, code, status, raw);
    if (message_part != NULL)
        cohort_assert_contains(raw, message_part);
}

/* --- the tests ------------------------------------------------------------------------ */

/* 100 KB of nested brackets overflowed json-glib's stack (SIGSEGV before any token was
 * looked at): the depth is bounded before the parser sees the body, on every route. */
static void
test_hostile_deep_json(void **state)
{
    Fixture *fx = *state;
    GString *arrays = g_string_new(NULL);
    GString *objects = g_string_new(NULL);
    GString *mixed = g_string_new("{\"quota\":");
    g_autofree gchar *arrays_text = NULL;
    g_autofree gchar *objects_text = NULL;
    g_autofree gchar *mixed_text = NULL;

    /* about 100 KB each, as reported, within the default bound of 1 MiB */
    for (guint i = 0; i < 100000; i++)
        g_string_append_c(arrays, '[');
    for (guint i = 0; i < 20000; i++)
        g_string_append(objects, "{\"a\":");
    for (guint i = 0; i < 33000; i++)
        g_string_append(mixed, i % 2 ? "[" : "{\"b\":");
    arrays_text = g_string_free(arrays, FALSE);
    objects_text = g_string_free(objects, FALSE);
    mixed_text = g_string_free(mixed, FALSE);

    /* without a token */
    http_expect(fx->d, "POST", "/api/v1/redeem", NULL, arrays_text, 400, "invalid-argument",
                "deeper than 32 levels");
    assert_alive(fx->d);
    /* with one, on routes that read objects */
    http_expect(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token, objects_text, 400,
                "invalid-argument", "deeper than 32 levels");
    http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token, mixed_text, 400,
                "invalid-argument", "deeper than 32 levels");
    assert_alive(fx->d);
    /* brackets inside strings are text, not nesting */
    {
        GString *text = g_string_new("{\"login\":\"");
        g_autofree gchar *body = NULL;
        for (guint i = 0; i < 500; i++)
            g_string_append(text, "[{");
        g_string_append(text, "\\\"\"}");
        body = g_string_free(text, FALSE);
        http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token, body, 400,
                    "invalid-argument", "login");
    }
}

/* "\u0000" cut "newlogin\u0000x" to "newlogin"; bidi controls reorder what people read. */
static void
test_hostile_hidden_characters(void **state)
{
    Fixture *fx = *state;
    guint status = 0;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) users = NULL;

    http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                "{\"login\":\"newlogin\\u0000x\",\"role\":\"trainer\"}", 400, "invalid-argument",
                "\\\\u0000");
    http_expect(fx->d, "POST", "/api/v1/redeem", NULL, "{\"code\":\"AAAA\\u0000\"}", 400,
                "invalid-argument", "\\\\u0000");
    users = cohort_test_http(fx->d, "GET", "/api/v1/users", fx->d->admin_token, NULL, NULL, &status,
                             &raw);
    assert_int_equal(status, 200);
    assert_null(strstr(raw, "newlogin"));
    /* an escaped backslash before u0000 is a plain string */
    json_node_unref(cohort_test_http(
        fx->d, "POST", "/api/v1/users", fx->d->admin_token,
        "{\"login\":\"plain-one\",\"display_name\":\"a\\\\u0000b\",\"role\":\"trainer\"}", NULL,
        &status, NULL));
    assert_int_equal(status, 201);

    /* U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE */
    http_expect(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                "{\"login\":\"bidi-one\",\"display_name\":\"evil\\u202etxt.exe\","
                "\"role\":\"trainer\"}",
                400, "invalid-argument", "U+202E");
    http_expect(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token,
                "{\"slug\":\"bidi-101\",\"title\":\"Cloud \xe2\x81\xa6 101\",\"template\":"
                "\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\",\"ends_at\":"
                "\"2099-01-01T00:00:00Z\"}",
                400, "invalid-argument", "U+2066");
    json_node_unref(cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token,
                                     "{\"slug\":\"bidi-102\",\"title\":\"Cloud 102\",\"template\":"
                                     "\"tiny\",\"starts_at\":\"2026-01-01T00:00:00Z\",\"ends_at\":"
                                     "\"2099-01-01T00:00:00Z\"}",
                                     NULL, &status, NULL));
    assert_int_equal(status, 201);
    http_expect(fx->d, "PATCH", "/api/v1/cohorts/bidi-102", fx->d->admin_token,
                "{\"title\":\"\\u202dCloud\"}", 400, "invalid-argument", "U+202D");
    /* Khmer with its zero-width joiners stays welcome */
    json_node_unref(cohort_test_http(fx->d, "PATCH", "/api/v1/cohorts/bidi-102", fx->d->admin_token,
                                     "{\"title\":\"\xe1\x9e\x80\xe1\x9e\xb6\xe2\x80\x8b"
                                     "\xe1\x9e\x9f\xe1\x9e\xbb\"}",
                                     NULL, &status, NULL));
    assert_int_equal(status, 200);
}

/* A 256 MiB chunked body was read whole (27 MB -> 555 MB) before its size was checked. */
static void
test_hostile_body_bounds(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *chunk = NULL;
    g_autofree gchar *announced = NULL;
    guint64 sent = 0;
    gboolean cut = FALSE;
    int fd;

    /* Content-Length over the bound: answered before a byte of the body is sent */
    fd = raw_connect(fx->d, 10);
    raw_send(fd, "POST /api/v1/redeem HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 268435456\r\n\r\n");
    announced = raw_read_answer(fd);
    close(fd);
    if (announced == NULL)
        fail_msg("a 256 MiB Content-Length was not refused before its body was sent");
    assert_answer(announced, 413, "payload-too-large");
    cohort_assert_contains(announced, "268435456 bytes; at most 65536");

    /* chunked: refused while it arrives, and the connection closed */
    {
        GString *c = g_string_new("10000\r\n");
        for (guint i = 0; i < 0x10000; i++)
            g_string_append_c(c, 'a');
        g_string_append(c, "\r\n");
        chunk = g_string_free(c, FALSE);
    }
    fd = raw_connect(fx->d, 10);
    raw_send(fd, "POST /api/v1/cohorts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
    while (sent < 256ull * 1024 * 1024) {
        gssize n = send(fd, chunk, strlen(chunk), MSG_NOSIGNAL);
        if (n < 0) {
            cut = TRUE;
            break;
        }
        sent += (guint64)n;
    }
    close(fd);
    if (!cut)
        fail_msg("cohortd read a 256 MiB chunked body to its end");
    /* the bound, what the kernel buffers and the linger, not the body */
    assert_true(sent < 64ull * 1024 * 1024);
    assert_true(daemon_peak_rss_kib(fx->d) < 100 * 1024);
    assert_true(metric(fx->d, "cohort_http_requests_refused_total{reason=\"too-large\"}") >= 2);

    /* a chunked body within the bound is read as before */
    {
        g_autofree gchar *answer = raw_exchange(
            fx->d, "POST /api/v1/redeem HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                   "b\r\n{\"code\":\"AB\r\n3\r\nCD\"\r\n1\r\n}\r\n0\r\n\r\n");
        assert_answer(answer, 404, "not-found");
    }
    assert_alive(fx->d);
}

/* What a proxy and cohortd could read differently is refused, never guessed. */
static void
test_hostile_http_framing(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *two_lengths =
        raw_exchange(fx->d, "POST /api/v1/redeem HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n"
                            "Content-Length: 2\r\n\r\n{\"code\":\"ABC\"}");
    g_autofree gchar *both =
        raw_exchange(fx->d, "POST /api/v1/redeem HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");

    assert_answer(two_lengths, 400, "invalid-argument");
    cohort_assert_contains(two_lengths, "conflicting Content-Length");
    assert_answer(both, 400, "invalid-argument");
    cohort_assert_contains(both, "both Content-Length and Transfer-Encoding");
    assert_true(metric(fx->d, "cohort_http_requests_refused_total{reason=\"malformed\"}") == 2);
}

/* A client that never finishes its request, or sits on an idle keep-alive connection, is
 * closed after request_timeout_s (1 s here; the reads below wait up to 10 s). */
static void
test_hostile_slow_client(void **state)
{
    Fixture *fx = *state;
    guint64 timed_out = metric(fx->d, "cohort_http_connections_timed_out_total");
    g_autofree gchar *partial = NULL;
    g_autofree gchar *idle = NULL;
    int fd;

    fd = raw_connect(fx->d, 10);
    raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow:");
    partial = raw_read_until_closed(fd);
    close(fd);
    if (partial == NULL)
        fail_msg("a request left unfinished kept its connection open");

    fd = raw_connect(fx->d, 10);
    raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    idle = raw_read_until_closed(fd);
    close(fd);
    if (idle == NULL)
        fail_msg("an idle keep-alive connection was never closed");
    /* the request on it was answered first */
    assert_true(g_str_has_prefix(idle, "HTTP/1.1 200 "));
    {
        guint64 now = metric(fx->d, "cohort_http_connections_timed_out_total");
        if (now < timed_out + 2)
            fail_msg("timed out: %" G_GUINT64_FORMAT " then %" G_GUINT64_FORMAT, timed_out, now);
    }
    assert_alive(fx->d);
}

/* One address holds at most max_connections_per_client (6 here) connections open. */
static void
test_hostile_connections_per_client(void **state)
{
    Fixture *fx = *state;
    int held[6];
    g_autofree gchar *refused = NULL;
    g_autofree gchar *after = NULL;
    int fd;

    for (guint i = 0; i < G_N_ELEMENTS(held); i++)
        held[i] = raw_connect(fx->d, 10);
    fd = raw_connect(fx->d, 10);
    refused = raw_read_answer(fd);
    close(fd);
    assert_non_null(refused);
    assert_answer(refused, 429, "rate-limited");
    cohort_assert_contains(refused, "max_connections_per_client");
    for (guint i = 0; i < G_N_ELEMENTS(held); i++)
        close(held[i]);
    /* closed ones free their place (once cohortd has seen them go) */
    for (guint tries = 0; tries < 100; tries++) {
        g_clear_pointer(&after, g_free);
        after =
            raw_exchange(fx->d, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if (g_str_has_prefix(after, "HTTP/1.1 200 "))
            break;
        g_usleep(50 * 1000);
    }
    assert_true(g_str_has_prefix(after, "HTTP/1.1 200 "));
    assert_true(
        metric(fx->d, "cohort_http_requests_refused_total{reason=\"too-many-connections\"}") == 1);
    /* the gauge counts what is open now (the held ones are gone): the metrics request's own
     * connection, and the last exchange's while cohortd has not seen it close */
    assert_true(metric(fx->d, "cohort_http_connections_open") <= 2);
}

static gchar *
redeem_code(CohortTestDaemon *d, const gchar *code, guint *status)
{
    g_autofree gchar *body = g_strdup_printf("{\"code\":\"%s\"}", code);
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) node =
        cohort_test_http(d, "POST", "/api/v1/redeem", NULL, body, NULL, status, &raw);
    if (*status == 200)
        return g_strdup(json_object_get_string_member(json_node_get_object(node), "token"));
    return g_steal_pointer(&raw);
}

/* Failed sign-ins from one address: 5 a minute here, then 429 with Retry-After; a class
 * redeeming correctly behind the same address is never slowed down; the audit log gets one
 * entry for them all. */
static void
test_hostile_auth_rate_limit(void **state)
{
    Fixture *fx = *state;
    GString *csv = g_string_new("login,display_name\n");
    g_autofree gchar *csv_text = NULL;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autofree gchar *first_token = NULL;
    JsonArray *invitations;
    guint status = 0;

    json_node_unref(cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token,
                                     "{\"slug\":\"nat-101\",\"template\":\"tiny\",\"starts_at\":"
                                     "\"2026-01-01T00:00:00Z\",\"ends_at\":"
                                     "\"2099-01-01T00:00:00Z\"}",
                                     NULL, &status, NULL));
    assert_int_equal(status, 201);
    for (guint i = 0; i < 40; i++)
        g_string_append_printf(csv, "nat-%02u,Trainee %u\n", i, i);
    csv_text = g_string_free(csv, FALSE);
    roster = cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/nat-101/roster", fx->d->admin_token,
                              csv_text, "text/csv", &status, NULL);
    assert_int_equal(status, 200);
    invitations = json_object_get_array_member(json_node_get_object(roster), "invitations");
    assert_int_equal(json_array_get_length(invitations), 40);

    /* 40 correct redemptions from one address, at once: none refused */
    for (guint i = 0; i < 40; i++) {
        const gchar *code =
            json_object_get_string_member(json_array_get_object_element(invitations, i), "code");
        g_autofree gchar *token = redeem_code(fx->d, code, &status);
        if (status != 200)
            fail_msg("trainee %u of the class was refused: %u %s", i, status, token);
        if (i == 0)
            first_token = g_steal_pointer(&token);
    }

    /* 5 failures are answered as such ... */
    for (guint i = 0; i < 5; i++) {
        g_autofree gchar *answer = redeem_code(fx->d, "WRONG-CODE-0000", &status);
        assert_int_equal(status, 404);
    }
    /* ... the next sign-ins from this address are refused unchecked */
    {
        g_autofree gchar *answer = redeem_code(fx->d, "WRONG-CODE-0001", &status);
        assert_int_equal(status, 429);
        cohort_assert_contains(answer, "\"rate-limited\"");
        cohort_assert_contains(answer, "try again in");
    }
    http_expect(fx->d, "GET", "/api/v1/whoami", "cohort_not-a-token", NULL, 429, "rate-limited",
                "too many failed sign-ins");
    /* a valid token is never refused for what others at its address did */
    {
        g_autoptr(JsonNode) me = cohort_test_http(fx->d, "GET", "/api/v1/whoami", first_token, NULL,
                                                  NULL, &status, NULL);
        assert_int_equal(status, 200);
    }
    /* Retry-After is sent (read with a raw exchange to see the headers) */
    {
        g_autofree gchar *answer =
            raw_exchange(fx->d, "POST /api/v1/redeem HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nContent-Length: 28\r\n\r\n"
                                "{\"code\":\"WRONG-CODE-0002\"}  ");
        assert_answer(answer, 429, "rate-limited");
        cohort_assert_contains(answer, "Retry-After: ");
    }
    assert_int_equal(metric(fx->d, "cohort_auth_failures_total"), 5);
    assert_true(metric(fx->d, "cohort_auth_rate_limited_total") >= 3);

    /* the audit log: no entry per attempt; one aggregate entry, written at the latest when
     * cohortd stops */
    cohort_test_daemon_stop_keep(fx->d);
    {
        g_autofree gchar *db_path = g_build_filename(fx->d->state_dir, "cohort.db", NULL);
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        gint per_attempt = -1;
        gint aggregate = -1;

        assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT (SELECT count(*) FROM audit WHERE action = "
                                            "'redeem' AND result != 'ok'), (SELECT count(*) FROM "
                                            "audit WHERE action = 'auth.failed' AND detail LIKE "
                                            "'5 failed, % refused, from 1 address:%')",
                                            -1, &stmt, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        per_attempt = sqlite3_column_int(stmt, 0);
        aggregate = sqlite3_column_int(stmt, 1);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        assert_int_equal(per_attempt, 0);
        assert_int_equal(aggregate, 1);
    }
    {
        g_autoptr(GError) error = NULL;
        assert_true(cohort_test_daemon_spawn(fx->d, NULL, &error));
        cohort_assert_no_error(error);
    }
}

/* A 10,000-line roster held the main loop for 1.6 s: every other request waited until it
 * was imported. Its parsing (and 10,000 codes made and hashed) now runs in a worker, so a
 * request sent just after it is answered while the roster is still being read: it sees the
 * cohort empty (the import is one transaction, all or nothing). On the old code the same
 * request saw the 10,000 trainees, since it could only run after the import. */
static void
test_hostile_big_roster(void **state)
{
    Fixture *fx = *state;
    GString *csv = g_string_new("login,display_name\n");
    g_autofree gchar *request = NULL;
    g_autofree gchar *answer = NULL;
    g_autoptr(JsonNode) during = NULL;
    g_autoptr(JsonNode) after = NULL;
    guint status = 0;
    int roster_fd;

    json_node_unref(cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token,
                                     "{\"slug\":\"big-101\",\"template\":\"tiny\",\"starts_at\":"
                                     "\"2026-01-01T00:00:00Z\",\"ends_at\":"
                                     "\"2099-01-01T00:00:00Z\"}",
                                     NULL, &status, NULL));
    assert_int_equal(status, 201);
    for (guint i = 0; i < 10000; i++)
        g_string_append_printf(csv, "big-%05u,Trainee %u\n", i, i);
    request = g_strdup_printf("PUT /api/v1/cohorts/big-101/roster HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer %s\r\nContent-Type: text/csv\r\n"
                              "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n%s",
                              fx->d->admin_token, csv->len, csv->str);
    g_string_free(csv, TRUE);

    roster_fd = raw_connect(fx->d, 60);
    raw_send(roster_fd, request);
    during = cohort_test_http(fx->d, "GET", "/api/v1/cohorts/big-101", fx->d->admin_token, NULL,
                              NULL, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_get_length(
                         json_object_get_array_member(json_node_get_object(during), "trainees")),
                     0);
    answer = raw_read_until_closed(roster_fd);
    close(roster_fd);
    assert_non_null(answer);
    assert_true(g_str_has_prefix(answer, "HTTP/1.1 200 "));
    cohort_assert_contains(answer, "\"entries\":10000");
    cohort_assert_contains(answer, "\"enrolled\":10000");
    cohort_assert_contains(answer, "\"login\":\"big-09999\"");
    after = cohort_test_http(fx->d, "GET", "/api/v1/cohorts/big-101", fx->d->admin_token, NULL,
                             NULL, &status, NULL);
    assert_int_equal(json_array_get_length(
                         json_object_get_array_member(json_node_get_object(after), "trainees")),
                     10000);
}

/* @request on a new connection, and all the server sends until it closes (NULL: it did not
 * within 10 s). */
static gchar *
raw_exchange_until_closed(CohortTestDaemon *d, const gchar *request)
{
    int fd = raw_connect(d, 10);
    gchar *answer;

    raw_send(fd, request);
    answer = raw_read_until_closed(fd);
    close(fd);
    return answer;
}

/* A chunked answer's body, its chunks joined; NULL when @answer is not one, or is cut short. */
static gchar *
raw_dechunk(const gchar *answer)
{
    const gchar *at = strstr(answer, "\r\n\r\n");
    GString *body = g_string_new(NULL);

    if (at == NULL)
        return NULL;
    at += 4;
    for (;;) {
        gchar *end = NULL;
        guint64 size = g_ascii_strtoull(at, &end, 16);
        if (end == at || !g_str_has_prefix(end, "\r\n") || strlen(end + 2) < size + 2) {
            g_string_free(body, TRUE);
            return NULL;
        }
        if (size == 0)
            return g_string_free(body, FALSE);
        g_string_append_len(body, end + 2, (gssize)size);
        at = end + 2 + size + 2;
    }
}

/* GET /api/v1/usage is written a cohort at a time (chunked), and GET /api/v1/cohorts/{slug}
 * 100 trainees at a time, each piece made once the one before is written: the same bytes as
 * one JSON document, and a reader that goes away midway costs cohortd nothing. */
static void
test_hostile_usage_streamed(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *request = NULL;
    g_autofree gchar *answer = NULL;
    g_autofree gchar *streamed = NULL;
    g_autofree gchar *raw = NULL;
    g_autoptr(JsonNode) whole = NULL;
    guint status = 0;

    for (guint c = 1; c <= 3; c++) {
        GString *csv = g_string_new("login,display_name\n");
        g_autofree gchar *body =
            g_strdup_printf("{\"slug\":\"use-%u\",\"template\":\"tiny\",\"starts_at\":"
                            "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                            c);
        g_autofree gchar *path = g_strdup_printf("/api/v1/cohorts/use-%u/roster", c);
        json_node_unref(cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token, body,
                                         NULL, &status, NULL));
        assert_int_equal(status, 201);
        for (guint i = 0; i < 1000; i++)
            g_string_append_printf(csv, "use%u-%04u,Trainee %u\n", c, i, i);
        json_node_unref(cohort_test_http(fx->d, "PUT", path, fx->d->admin_token, csv->str,
                                         "text/csv", &status, NULL));
        g_string_free(csv, TRUE);
        assert_int_equal(status, 200);
    }
    request = g_strdup_printf("GET /api/v1/usage HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
                              fx->d->admin_token);

    /* chunked, and its chunks are the document libsoup's client reads */
    answer = raw_exchange_until_closed(fx->d, request);
    assert_non_null(answer);
    assert_true(g_str_has_prefix(answer, "HTTP/1.1 200 "));
    cohort_assert_contains(answer, "Transfer-Encoding: chunked\r\n");
    assert_null(strstr(answer, "Content-Length:"));
    streamed = raw_dechunk(answer);
    assert_non_null(streamed);
    whole = cohort_test_http(fx->d, "GET", "/api/v1/usage", fx->d->admin_token, NULL, NULL, &status,
                             &raw);
    assert_int_equal(status, 200);
    assert_string_equal(streamed, raw);
    {
        JsonArray *cohorts = json_object_get_array_member(json_node_get_object(whole), "cohorts");
        assert_int_equal(json_array_get_length(cohorts), 3);
        for (guint c = 0; c < 3; c++)
            assert_int_equal(json_array_get_length(json_object_get_array_member(
                                 json_array_get_object_element(cohorts, c), "trainees")),
                             1000);
    }

    /* an HTTP/1.0 client reads no chunks: the same document, ended by the connection */
    {
        g_autofree gchar *old_request = g_strdup_printf("GET /api/v1/usage HTTP/1.0\r\nHost: x\r\n"
                                                        "Authorization: Bearer %s\r\n\r\n",
                                                        fx->d->admin_token);
        g_autofree gchar *old_answer = raw_exchange_until_closed(fx->d, old_request);
        const gchar *body;

        assert_non_null(old_answer);
        assert_true(g_str_has_prefix(old_answer, "HTTP/1.0 200 "));
        assert_null(strstr(old_answer, "Transfer-Encoding"));
        body = strstr(old_answer, "\r\n\r\n");
        assert_non_null(body);
        assert_string_equal(body + 4, raw);
    }

    /* a cohort of 1,000 trainees: ten pieces and the head's */
    {
        g_autofree gchar *cohort_request = g_strdup_printf(
            "GET /api/v1/cohorts/use-2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Connection: close\r\n\r\n",
            fx->d->admin_token);
        g_autofree gchar *cohort_answer = raw_exchange_until_closed(fx->d, cohort_request);
        g_autofree gchar *cohort_streamed = NULL;
        g_autofree gchar *cohort_raw = NULL;
        g_autoptr(JsonNode) cohort = NULL;

        assert_non_null(cohort_answer);
        cohort_assert_contains(cohort_answer, "Transfer-Encoding: chunked\r\n");
        cohort_streamed = raw_dechunk(cohort_answer);
        assert_non_null(cohort_streamed);
        cohort = cohort_test_http(fx->d, "GET", "/api/v1/cohorts/use-2", fx->d->admin_token, NULL,
                                  NULL, &status, &cohort_raw);
        assert_int_equal(status, 200);
        assert_string_equal(cohort_streamed, cohort_raw);
        assert_int_equal(json_array_get_length(json_object_get_array_member(
                             json_node_get_object(cohort), "trainees")),
                         1000);
        cohort_assert_contains(cohort_raw, "\"login\":\"use2-0999\"");
        /* byte for byte what json-glib writes for the whole tree */
        {
            g_autoptr(JsonGenerator) gen = json_generator_new();
            g_autofree gchar *whole_text = NULL;
            json_generator_set_root(gen, cohort);
            whole_text = json_generator_to_data(gen, NULL);
            assert_string_equal(cohort_raw, whole_text);
        }
    }

    /* readers that take a few bytes and go: cohortd answers the next one as before */
    for (guint i = 0; i < 5; i++) {
        int fd = raw_connect(fx->d, 10);
        gchar head[64];
        raw_send(fd, request);
        assert_true(recv(fd, head, sizeof(head), 0) > 0);
        close(fd);
    }
    assert_alive(fx->d);
    {
        g_autofree gchar *again = NULL;
        g_autoptr(JsonNode) node = cohort_test_http(
            fx->d, "GET", "/api/v1/usage", fx->d->admin_token, NULL, NULL, &status, &again);
        assert_int_equal(status, 200);
        assert_string_equal(again, raw);
    }
}

/* One trainee asking for more than their quota on six connections at once: the requests of a
 * turn are written as one group (cohort-store-group.c), and each still sees the machines the
 * ones before it wrote. Two answered 202, four refused, two machines held. */
#define RACE_REQUESTS 6
static void
test_hostile_quota_race(void **state)
{
    Fixture *fx = *state;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) mine = NULL;
    g_autoptr(JsonNode) audit = NULL;
    JsonArray *entries;
    guint audited_ok = 0;
    guint audited_refused = 0;
    g_autofree gchar *token = NULL;
    g_autofree gchar *request = NULL;
    g_autofree gchar *body = NULL;
    const gchar *code;
    int fds[RACE_REQUESTS];
    guint accepted = 0;
    guint refused = 0;
    guint status = 0;

    json_node_unref(cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}"));
    json_node_unref(
        cohort_test_http(fx->d, "POST", "/api/v1/cohorts", fx->d->admin_token,
                         "{\"slug\":\"race-101\",\"template\":\"tiny\",\"starts_at\":"
                         "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                         "\"quota\":{\"machines\":2,\"vcpus\":8,\"memory_mib\":4096}}",
                         NULL, &status, NULL));
    assert_int_equal(status, 201);
    roster = cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/race-101/roster", fx->d->admin_token,
                              "login,display_name\nsok-dara,Sok Dara\n", "text/csv", &status, NULL);
    assert_int_equal(status, 200);
    code = json_object_get_string_member(
        json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(roster), "invitations"), 0),
        "code");
    token = redeem_code(fx->d, code, &status);
    assert_int_equal(status, 200);

    body = g_strdup("{\"cohort\":\"race-101\"}");
    request =
        g_strdup_printf("POST /api/v1/machines HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                        token, strlen(body), body);
    /* all sent before any answer is read */
    for (guint i = 0; i < RACE_REQUESTS; i++)
        fds[i] = raw_connect(fx->d, 10);
    for (guint i = 0; i < RACE_REQUESTS; i++)
        raw_send(fds[i], request);
    for (guint i = 0; i < RACE_REQUESTS; i++) {
        g_autofree gchar *answer = raw_read_answer(fds[i]);
        close(fds[i]);
        if (answer == NULL)
            fail_msg("request %u was not answered within 10 s", i);
        if (g_str_has_prefix(answer, "HTTP/1.1 202 ")) {
            accepted++;
        } else {
            assert_answer(answer, 409, "quota-exceeded");
            refused++;
        }
    }
    assert_int_equal(accepted, 2);
    assert_int_equal(refused, RACE_REQUESTS - 2);
    mine = cohort_test_http(fx->d, "GET", "/api/v1/machines", token, NULL, NULL, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_get_length(json_node_get_array(mine)), 2);
    /* every one of them in the audit log, the refusals too (written within the group) */
    audit = cohort_test_http(fx->d, "GET", "/api/v1/audit", fx->d->admin_token, NULL, NULL, &status,
                             NULL);
    assert_int_equal(status, 200);
    entries = json_node_get_array(audit);
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *entry = json_array_get_object_element(entries, i);
        const gchar *result = json_object_get_string_member(entry, "result");
        if (g_strcmp0(json_object_get_string_member(entry, "action"), "machine.request") != 0)
            continue;
        if (g_strcmp0(result, "ok") == 0)
            audited_ok++;
        else if (g_strcmp0(result, "quota-exceeded") == 0)
            audited_refused++;
    }
    assert_int_equal(audited_ok, 2);
    assert_int_equal(audited_refused, RACE_REQUESTS - 2);
}

int
main(void)
{
    static gchar limits[] = LIMITS_CONFIG;
    static gchar slow[] = SLOW_CONFIG;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_hostile_deep_json, fixture_setup,
                                                 fixture_teardown, NULL),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_hidden_characters, fixture_setup,
                                                 fixture_teardown, NULL),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_body_bounds, fixture_setup,
                                                 fixture_teardown, limits),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_http_framing, fixture_setup,
                                                 fixture_teardown, limits),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_slow_client, fixture_setup,
                                                 fixture_teardown, slow),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_connections_per_client, fixture_setup,
                                                 fixture_teardown, limits),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_auth_rate_limit, fixture_setup,
                                                 fixture_teardown, limits),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_big_roster, fixture_setup,
                                                 fixture_teardown, NULL),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_usage_streamed, fixture_setup,
                                                 fixture_teardown, NULL),
        cmocka_unit_test_prestate_setup_teardown(test_hostile_quota_race, fixture_setup,
                                                 fixture_teardown, NULL),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
