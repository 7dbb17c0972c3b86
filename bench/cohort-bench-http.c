/* A plain HTTP/1.1 client for the load: one keep-alive connection per trainee, every
 * connection on one epoll loop, answers read by their Content-Length.
 *
 * The load ran on libsoup's client until issue 14 showed it was the bound: with 200
 * messages in flight, libsoup's session walks its whole queue for every message it
 * finishes, and the client took 58 % of the two cores' samples to cohortd's 31 %
 * (perf, list only, 3,900 requests/s). What a browser spends is its own machine's; what is
 * measured here is cohortd. This client costs a few system calls per request. */
#define _GNU_SOURCE /* memmem */
#define G_LOG_DOMAIN "cohort-bench-http"

#include "cohort-bench-http.h"

#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* an answer's head never comes near this; a longer one is a broken server */
#define BENCH_HTTP_HEAD_MAX (64 * 1024)
#define BENCH_HTTP_READ_CHUNK (64 * 1024)

struct _BenchHttp {
    gint epoll_fd;
    struct sockaddr_storage address;
    socklen_t address_len;
    gchar *host_header;
    guint in_flight;
};

struct _BenchHttpConn {
    BenchHttp *http;
    gint fd;
    GString *out;
    gsize out_sent;
    GByteArray *in;
    gsize head_len; /* 0 until the head is whole */
    gsize content_length;
    guint status;
    gboolean close_after; /* the answer said Connection: close */
    gboolean reused;      /* the request went on a connection that answered before */
    gboolean retried;
    BenchHttpAnswered answered;
    gpointer user_data;
};

BenchHttp *
bench_http_new(const gchar *url, GError **error)
{
    g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, error);
    g_autoptr(GInetAddress) inet = NULL;
    g_autoptr(GSocketAddress) sockaddr = NULL;
    g_autoptr(BenchHttp) self = NULL;
    gint port;

    if (uri == NULL)
        return NULL;
    if (g_strcmp0(g_uri_get_scheme(uri), "http") != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "%s: the load client speaks plain http only", url);
        return NULL;
    }
    inet = g_inet_address_new_from_string(g_uri_get_host(uri));
    if (inet == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s: the load client wants an IP address, not a name", url);
        return NULL;
    }
    port = g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : 80;
    sockaddr = g_inet_socket_address_new(inet, (guint16)port);
    self = g_new0(BenchHttp, 1);
    self->epoll_fd = -1;
    self->address_len = (socklen_t)g_socket_address_get_native_size(sockaddr);
    if (!g_socket_address_to_native(sockaddr, &self->address, sizeof(self->address), error))
        return NULL;
    self->host_header = g_strdup_printf(
        "%s%s%s:%d", g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 ? "[" : "",
        g_uri_get_host(uri), g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 ? "]" : "",
        port);
    self->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epoll_fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "epoll_create1: %s",
                    g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&self);
}

void
bench_http_free(BenchHttp *self)
{
    if (self == NULL)
        return;
    if (self->epoll_fd >= 0)
        close(self->epoll_fd);
    g_free(self->host_header);
    g_free(self);
}

BenchHttpConn *
bench_http_conn_new(BenchHttp *http)
{
    BenchHttpConn *conn = g_new0(BenchHttpConn, 1);

    conn->http = http;
    conn->fd = -1;
    conn->out = g_string_sized_new(512);
    conn->in = g_byte_array_sized_new(BENCH_HTTP_READ_CHUNK);
    return conn;
}

static void
bench_http_conn_close(BenchHttpConn *conn)
{
    if (conn->fd < 0)
        return;
    epoll_ctl(conn->http->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
    close(conn->fd);
    conn->fd = -1;
}

void
bench_http_conn_free(BenchHttpConn *conn)
{
    if (conn == NULL)
        return;
    bench_http_conn_close(conn);
    g_string_free(conn->out, TRUE);
    g_byte_array_unref(conn->in);
    g_free(conn);
}

static gboolean
bench_http_conn_watch(BenchHttpConn *conn, gint op, guint32 events, GError **error)
{
    struct epoll_event ev = {.events = events, .data.ptr = conn};

    if (epoll_ctl(conn->http->epoll_fd, op, conn->fd, &ev) == 0)
        return TRUE;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "epoll_ctl: %s",
                g_strerror(errno));
    return FALSE;
}

static gboolean
bench_http_conn_connect(BenchHttpConn *conn, GError **error)
{
    BenchHttp *http = conn->http;
    const gint one = 1;

    conn->fd = socket(http->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (conn->fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return FALSE;
    }
    /* a request is one small write: no waiting for an ACK that would never come in time */
    setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(conn->fd, (struct sockaddr *)&http->address, http->address_len) != 0 &&
        errno != EINPROGRESS) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "connect: %s",
                    g_strerror(errno));
        bench_http_conn_close(conn);
        return FALSE;
    }
    if (!bench_http_conn_watch(conn, EPOLL_CTL_ADD, EPOLLOUT, error)) {
        bench_http_conn_close(conn);
        return FALSE;
    }
    return TRUE;
}

/* (Re)sends what conn->out holds, on its open connection or a new one. */
static gboolean
bench_http_conn_send(BenchHttpConn *conn, GError **error)
{
    conn->out_sent = 0;
    g_byte_array_set_size(conn->in, 0);
    conn->head_len = 0;
    conn->content_length = 0;
    conn->status = 0;
    conn->close_after = FALSE;
    conn->reused = conn->fd >= 0;
    if (conn->fd < 0)
        return bench_http_conn_connect(conn, error);
    return bench_http_conn_watch(conn, EPOLL_CTL_MOD, EPOLLOUT, error);
}

gboolean
bench_http_conn_request(BenchHttpConn *conn, const gchar *method, const gchar *path,
                        const gchar *token, const gchar *body, BenchHttpAnswered answered,
                        gpointer user_data, GError **error)
{
    g_string_printf(conn->out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path,
                    conn->http->host_header);
    if (token != NULL)
        g_string_append_printf(conn->out, "Authorization: Bearer %s\r\n", token);
    if (body != NULL)
        g_string_append_printf(conn->out,
                               "Content-Type: application/json\r\nContent-Length: %" G_GSIZE_FORMAT
                               "\r\n\r\n%s",
                               strlen(body), body);
    else
        g_string_append(conn->out, "\r\n");
    conn->answered = answered;
    conn->user_data = user_data;
    conn->retried = FALSE;
    if (!bench_http_conn_send(conn, error))
        return FALSE;
    conn->http->in_flight++;
    return TRUE;
}

static void
bench_http_conn_finish(BenchHttpConn *conn, const GError *error)
{
    const guint8 *body = conn->in->data + conn->head_len;
    gsize body_len = error == NULL ? conn->content_length : 0;

    conn->http->in_flight--;
    if (error != NULL || conn->close_after)
        bench_http_conn_close(conn);
    else
        bench_http_conn_watch(conn, EPOLL_CTL_MOD, 0, NULL);
    conn->answered(conn, error != NULL ? 0 : conn->status, (const gchar *)body, body_len, error,
                   conn->user_data);
}

/* The head's status, Content-Length and Connection; FALSE with @error if it is not one this
 * client can read (libsoup's server answers a whole body with its length). */
static gboolean
bench_http_conn_parse_head(BenchHttpConn *conn, GError **error)
{
    const gchar *head = (const gchar *)conn->in->data;
    g_autofree gchar *text = g_strndup(head, conn->head_len);
    g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
    gboolean has_length = FALSE;

    if (lines[0] == NULL || !g_str_has_prefix(lines[0], "HTTP/1.") || strlen(lines[0]) < 12) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an HTTP answer: %.40s", text);
        return FALSE;
    }
    conn->status = (guint)g_ascii_strtoull(lines[0] + 9, NULL, 10);
    for (guint i = 1; lines[i] != NULL; i++) {
        const gchar *colon = strchr(lines[i], ':');
        g_autofree gchar *name = NULL;
        const gchar *value;

        if (colon == NULL)
            continue;
        name = g_ascii_strdown(lines[i], colon - lines[i]);
        value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (g_strcmp0(name, "content-length") == 0) {
            guint64 n;
            if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXSIZE, &n, error))
                return FALSE;
            conn->content_length = (gsize)n;
            has_length = TRUE;
        } else if (g_strcmp0(name, "connection") == 0) {
            conn->close_after = g_ascii_strcasecmp(value, "close") == 0;
        } else if (g_strcmp0(name, "transfer-encoding") == 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                        "a %s answer: the load client reads Content-Length only", value);
            return FALSE;
        }
    }
    if (!has_length && conn->status != 204 && conn->status != 304) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "an answer without Content-Length");
        return FALSE;
    }
    return TRUE;
}

static void
bench_http_conn_readable(BenchHttpConn *conn)
{
    g_autoptr(GError) error = NULL;

    for (;;) {
        gsize old = conn->in->len;
        gssize n;

        g_byte_array_set_size(conn->in, old + BENCH_HTTP_READ_CHUNK);
        n = recv(conn->fd, conn->in->data + old, BENCH_HTTP_READ_CHUNK, 0);
        g_byte_array_set_size(conn->in, old + (n > 0 ? (gsize)n : 0));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* A keep-alive connection the server closed before this request reached it:
             * send it again on a new one, once, as every HTTP client does. */
            if (conn->reused && !conn->retried && conn->in->len == 0) {
                conn->retried = TRUE;
                bench_http_conn_close(conn);
                if (bench_http_conn_send(conn, &error))
                    return;
            } else if (n == 0) {
                g_set_error_literal(&error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                    "the server closed the connection mid-answer");
            } else {
                g_set_error(&error, G_IO_ERROR, g_io_error_from_errno(errno), "recv: %s",
                            g_strerror(errno));
            }
            bench_http_conn_finish(conn, error);
            return;
        }
        if (conn->head_len == 0) {
            const guint8 *end = memmem(conn->in->data, conn->in->len, "\r\n\r\n", 4);
            if (end == NULL) {
                if (conn->in->len > BENCH_HTTP_HEAD_MAX) {
                    g_set_error_literal(&error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                        "an answer's head of over 64 KiB");
                    bench_http_conn_finish(conn, error);
                    return;
                }
                continue;
            }
            conn->head_len = (gsize)(end - conn->in->data) + 4;
            if (!bench_http_conn_parse_head(conn, &error)) {
                bench_http_conn_finish(conn, error);
                return;
            }
        }
        if (conn->in->len >= conn->head_len + conn->content_length) {
            bench_http_conn_finish(conn, NULL);
            return;
        }
    }
}

static void
bench_http_conn_writable(BenchHttpConn *conn)
{
    g_autoptr(GError) error = NULL;

    while (conn->out_sent < conn->out->len) {
        gssize n = send(conn->fd, conn->out->str + conn->out_sent, conn->out->len - conn->out_sent,
                        MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (conn->reused && !conn->retried) {
                conn->retried = TRUE;
                bench_http_conn_close(conn);
                if (bench_http_conn_send(conn, &error))
                    return;
            } else {
                g_set_error(&error, G_IO_ERROR, g_io_error_from_errno(errno), "send: %s",
                            g_strerror(errno));
            }
            bench_http_conn_finish(conn, error);
            return;
        }
        conn->out_sent += (gsize)n;
    }
    if (!bench_http_conn_watch(conn, EPOLL_CTL_MOD, EPOLLIN, &error))
        bench_http_conn_finish(conn, error);
}

gboolean
bench_http_run(BenchHttp *self, guint idle_timeout_s, GError **error)
{
    struct epoll_event events[256];
    gint64 last_progress = g_get_monotonic_time();

    while (self->in_flight > 0) {
        gint n = epoll_wait(self->epoll_fd, events, G_N_ELEMENTS(events), 1000);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "epoll_wait: %s",
                        g_strerror(errno));
            return FALSE;
        }
        if (n == 0) {
            if (g_get_monotonic_time() - last_progress > (gint64)idle_timeout_s * G_USEC_PER_SEC) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "%u requests got no answer in %u s", self->in_flight, idle_timeout_s);
                return FALSE;
            }
            continue;
        }
        last_progress = g_get_monotonic_time();
        for (gint i = 0; i < n; i++) {
            BenchHttpConn *conn = events[i].data.ptr;
            /* an earlier event of this batch may have closed it (an error, a retry) */
            if (conn->fd < 0)
                continue;
            if ((events[i].events & EPOLLOUT) != 0 && conn->out_sent < conn->out->len)
                bench_http_conn_writable(conn);
            else if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0)
                bench_http_conn_readable(conn);
        }
    }
    return TRUE;
}
