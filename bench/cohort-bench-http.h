/* A plain HTTP/1.1 keep-alive client on one epoll loop, for the load (cohort-bench-http.c). */
#pragma once

#include <glib.h>

typedef struct _BenchHttp BenchHttp;
typedef struct _BenchHttpConn BenchHttpConn;

/* @status is 0 and @error set when no answer came; @body is borrowed for the call. */
typedef void (*BenchHttpAnswered)(BenchHttpConn *conn, guint status, const gchar *body,
                                  gsize body_len, const GError *error, gpointer user_data);

BenchHttp *bench_http_new(const gchar *url, GError **error);
void bench_http_free(BenchHttp *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchHttp, bench_http_free)

BenchHttpConn *bench_http_conn_new(BenchHttp *http);
void bench_http_conn_free(BenchHttpConn *conn);

/* Sends one request on @conn (one at a time); @answered is called from bench_http_run(). */
gboolean bench_http_conn_request(BenchHttpConn *conn, const gchar *method, const gchar *path,
                                 const gchar *token, const gchar *body, BenchHttpAnswered answered,
                                 gpointer user_data, GError **error);

/* Runs until no request is in flight; fails when none is answered for @idle_timeout_s. */
gboolean bench_http_run(BenchHttp *self, guint idle_timeout_s, GError **error);
