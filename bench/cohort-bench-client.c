/* The HTTP side of the benchmarks: job and get with libsoup 3, the load with the plain
 * keep-alive client of cohort-bench-http.c (one connection per trainee, as a browser holds).
 *
 *   cohort-bench-client job --url URL --token TOKEN --path /api/v1/cohorts/S/provision
 *       POSTs the path, follows the job it answers with a 10 ms poll and prints
 *       "seconds=… total=… done=… failed=…": the control plane's time without cohortctl's
 *       half-second poll.
 *   cohort-bench-client get --url URL --token TOKEN --path PATH
 *       One GET, timed: "seconds=… status=… bytes=…".
 *   cohort-bench-client load --url URL --codes FILE --cohort S [--concurrency 200]
 *                            [--duration 10 | --requests N] [--machines 4]
 *       Redeems the invitation codes in FILE ("login code" lines, as `cohortctl --quiet
 *       cohort roster` prints them) all at once (a failed redeem is tried again afterwards,
 *       alone), then runs that many trainees at once, each with its own token, for the
 *       duration: each lists its machines (GET /api/v1/machines) and, every fifth request
 *       while under --machines, requests one (POST /api/v1/machines). Prints requests per
 *       second, p50 and p99 latency and errors of the load (transport failures and answers
 *       other than 200 for a list, 202 for a request), and the same for the redeem storm.
 *       --tokens-out FILE keeps the tokens redeemed ("t token" lines); --tokens FILE, in place
 *       of --codes, takes them and skips the redeem: a second load on the same trainees (the
 *       instruction count of lists of the machines a first load requested). */
#define G_LOG_DOMAIN "cohort-bench-client"

#include "cohort-bench-http.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define BENCH_ERROR (g_quark_from_static_string("cohort-bench-client"))
#define BENCH_JOB_POLL_USEC (10 * 1000)

static SoupSession *
bench_session_new(guint conns)
{
    return soup_session_new_with_options("max-conns", conns + 8, "max-conns-per-host", conns + 8,
                                         "timeout", 120, NULL);
}

static SoupMessage *
bench_message_new(const gchar *method, const gchar *url, const gchar *path, const gchar *token,
                  const gchar *body)
{
    g_autofree gchar *full = g_strconcat(url, path, NULL);
    SoupMessage *msg = soup_message_new(method, full);

    if (msg == NULL)
        return NULL;
    if (token != NULL) {
        g_autofree gchar *auth = g_strconcat("Bearer ", token, NULL);
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
    }
    if (body != NULL) {
        g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    return msg;
}

/* A synchronous call that must answer @expect with a JSON object. */
static JsonObject *
bench_call(SoupSession *session, const gchar *method, const gchar *url, const gchar *path,
           const gchar *token, const gchar *body, guint expect, GError **error)
{
    g_autoptr(SoupMessage) msg = bench_message_new(method, url, path, token, body);
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;
    const gchar *data;
    gsize len;

    if (msg == NULL) {
        g_set_error(error, BENCH_ERROR, 1, "bad URL %s%s", url, path);
        return NULL;
    }
    answer = soup_session_send_and_read(session, msg, NULL, error);
    if (answer == NULL)
        return NULL;
    data = g_bytes_get_data(answer, &len);
    if (soup_message_get_status(msg) != expect) {
        g_set_error(error, BENCH_ERROR, 1, "%s %s: %u %.*s", method, path,
                    soup_message_get_status(msg), (int)len, data);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, data, (gssize)len, error))
        return NULL;
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, BENCH_ERROR, 1, "%s %s: the answer is not a JSON object", method, path);
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

static int
bench_job(gint argc, gchar **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new("job - start a job and time it");
    g_autoptr(GError) error = NULL;
    g_autoptr(SoupSession) session = bench_session_new(1);
    g_autoptr(JsonObject) started = NULL;
    g_autofree gchar *url = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *job_path = NULL;
    gboolean no_wait = FALSE;
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_STRING, &url, "cohortd's URL", "URL"},
        {"token", 0, 0, G_OPTION_ARG_STRING, &token, "API token", "TOKEN"},
        {"path", 0, 0, G_OPTION_ARG_STRING, &path, "Route that answers with a job", "PATH"},
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job's id and do not poll (the instruction count waits on cohortd's log)", NULL},
        {NULL},
    };
    gint64 t0;

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error) || url == NULL || token == NULL ||
        path == NULL) {
        g_printerr("cohort-bench-client job: %s\n",
                   error != NULL ? error->message : "--url, --token and --path are needed");
        return 2;
    }
    t0 = g_get_monotonic_time();
    started = bench_call(session, "POST", url, path, token, NULL, 202, &error);
    if (started == NULL) {
        g_printerr("cohort-bench-client job: %s\n", error->message);
        return 1;
    }
    if (no_wait) {
        printf("job=%" G_GINT64_FORMAT "\n", json_object_get_int_member(started, "job"));
        return 0;
    }
    job_path = g_strdup_printf("/api/v1/jobs/%" G_GINT64_FORMAT,
                               json_object_get_int_member(started, "job"));
    for (;;) {
        g_autoptr(JsonObject) job =
            bench_call(session, "GET", url, job_path, token, NULL, 200, &error);
        const gchar *state;

        if (job == NULL) {
            g_printerr("cohort-bench-client job: %s\n", error->message);
            return 1;
        }
        state = json_object_get_string_member_with_default(job, "state", "");
        if (g_strcmp0(state, "done") == 0 || g_strcmp0(state, "failed") == 0) {
            gint64 failed = json_object_get_int_member_with_default(job, "failed", 0);
            printf("seconds=%.3f total=%" G_GINT64_FORMAT " done=%" G_GINT64_FORMAT
                   " failed=%" G_GINT64_FORMAT "\n",
                   (g_get_monotonic_time() - t0) / 1e6,
                   json_object_get_int_member_with_default(job, "total", 0),
                   json_object_get_int_member_with_default(job, "done", 0), failed);
            return failed == 0 ? 0 : 1;
        }
        g_usleep(BENCH_JOB_POLL_USEC);
    }
}

/* One GET, timed: "seconds=… status=… bytes=…" (no client timeout below two minutes). */
static int
bench_get(gint argc, gchar **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new("get - time one GET");
    g_autoptr(GError) error = NULL;
    g_autoptr(SoupSession) session = bench_session_new(1);
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autofree gchar *url = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *path = NULL;
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_STRING, &url, "cohortd's URL", "URL"},
        {"token", 0, 0, G_OPTION_ARG_STRING, &token, "API token", "TOKEN"},
        {"path", 0, 0, G_OPTION_ARG_STRING, &path, "Route", "PATH"},
        {NULL},
    };
    gint64 t0;

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error) || url == NULL || path == NULL) {
        g_printerr("cohort-bench-client get: %s\n",
                   error != NULL ? error->message : "--url and --path are needed");
        return 2;
    }
    msg = bench_message_new("GET", url, path, token, NULL);
    if (msg == NULL) {
        g_printerr("cohort-bench-client get: bad URL %s%s\n", url, path);
        return 2;
    }
    t0 = g_get_monotonic_time();
    answer = soup_session_send_and_read(session, msg, NULL, &error);
    if (answer == NULL) {
        g_printerr("cohort-bench-client get: %s: %s\n", path, error->message);
        return 1;
    }
    printf("seconds=%.3f status=%u bytes=%" G_GSIZE_FORMAT "\n",
           (g_get_monotonic_time() - t0) / 1e6, soup_message_get_status(msg),
           g_bytes_get_size(answer));
    return soup_message_get_status(msg) == 200 ? 0 : 1;
}

/* --- load ---------------------------------------------------------------------------- */

typedef enum { BENCH_KIND_LIST, BENCH_KIND_REQUEST, BENCH_KIND_REDEEM, BENCH_KIND_LAST } BenchKind;

static const gchar *bench_kind_names[] = {"list", "request", "redeem"};
G_STATIC_ASSERT(G_N_ELEMENTS(bench_kind_names) == BENCH_KIND_LAST);

typedef struct _Load Load;

typedef struct {
    Load *load;
    BenchHttpConn *conn;
    gchar *code;
    gchar *token;
    guint iteration;
    guint requested;
    BenchKind kind;
    gint64 sent_at;
} Trainee;

struct _Load {
    BenchHttp *http;
    gchar *request_body;
    guint machines;
    gint64 deadline;
    guint requests_left; /* --requests: the load stops after that many (G_MAXUINT: by time) */
    GArray *latency_ms[BENCH_KIND_LAST];
    guint errors[BENCH_KIND_LAST];
    gchar *first_error;
};

static void
bench_trainee_free(Trainee *t)
{
    bench_http_conn_free(t->conn);
    g_free(t->code);
    g_free(t->token);
    g_free(t);
}

static void bench_trainee_next(Trainee *t);

static void
bench_load_record_error(Load *load, BenchKind kind, const gchar *message)
{
    load->errors[kind]++;
    if (load->first_error == NULL)
        load->first_error = g_strdup_printf("%s: %s", bench_kind_names[kind], message);
}

static void
bench_trainee_answered(BenchHttpConn *conn, guint status, const gchar *body, gsize body_len,
                       const GError *error, gpointer user_data)
{
    Trainee *t = user_data;
    Load *load = t->load;
    gdouble ms = (g_get_monotonic_time() - t->sent_at) / 1e3;
    guint expect = t->kind == BENCH_KIND_REQUEST ? 202 : 200;

    g_array_append_val(load->latency_ms[t->kind], ms);
    if (error != NULL) {
        bench_load_record_error(load, t->kind, error->message);
    } else if (status != expect) {
        g_autofree gchar *what = g_strdup_printf("%u %.*s", status, (int)MIN(body_len, 300), body);
        bench_load_record_error(load, t->kind, what);
    } else if (t->kind == BENCH_KIND_REDEEM) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonNode *root;
        if (json_parser_load_from_data(parser, body, (gssize)body_len, NULL) &&
            (root = json_parser_get_root(parser)) != NULL && JSON_NODE_HOLDS_OBJECT(root))
            t->token = g_strdup(json_object_get_string_member_with_default(
                json_node_get_object(root), "token", NULL));
        if (t->token == NULL)
            bench_load_record_error(load, t->kind, "the redeem answer has no token");
    }
    if (t->kind == BENCH_KIND_REQUEST)
        t->requested++;
    /* done: nothing more in flight for this trainee, bench_http_run() returns when none is */
    if (t->kind == BENCH_KIND_REDEEM || t->token == NULL ||
        g_get_monotonic_time() >= load->deadline || load->requests_left == 0)
        return;
    bench_trainee_next(t);
}

static void
bench_trainee_send(Trainee *t, BenchKind kind, const gchar *method, const gchar *path,
                   const gchar *token, const gchar *body)
{
    g_autoptr(GError) error = NULL;

    t->kind = kind;
    t->sent_at = g_get_monotonic_time();
    if (!bench_http_conn_request(t->conn, method, path, token, body, bench_trainee_answered, t,
                                 &error))
        bench_load_record_error(t->load, kind, error->message);
}

/* A trainee's day in a loop: look at their machines, now and then ask for one more. */
static void
bench_trainee_next(Trainee *t)
{
    Load *load = t->load;
    gboolean request = t->iteration % 5 == 0 && t->requested < load->machines;

    t->iteration++;
    if (load->requests_left != G_MAXUINT)
        load->requests_left--;
    if (request)
        bench_trainee_send(t, BENCH_KIND_REQUEST, "POST", "/api/v1/machines", t->token,
                           load->request_body);
    else
        bench_trainee_send(t, BENCH_KIND_LIST, "GET", "/api/v1/machines", t->token, NULL);
}

static void
bench_trainee_redeem(Trainee *t)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree gchar *body = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, t->code);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    body = json_generator_to_data(gen, NULL);
    bench_trainee_send(t, BENCH_KIND_REDEEM, "POST", "/api/v1/redeem", NULL, body);
}

static gdouble
bench_percentile(GArray *sorted, gdouble p)
{
    guint idx;

    if (sorted->len == 0)
        return 0;
    /* nearest rank */
    idx = (guint)ceil(p * sorted->len);
    idx = idx == 0 ? 0 : idx - 1;
    return g_array_index(sorted, gdouble, MIN(idx, sorted->len - 1));
}

static gint
bench_double_cmp(gconstpointer a, gconstpointer b)
{
    gdouble x = *(const gdouble *)a;
    gdouble y = *(const gdouble *)b;
    return x < y ? -1 : x > y;
}

static GPtrArray *
bench_codes_read(const gchar *path, GError **error)
{
    g_autofree gchar *data = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) codes = g_ptr_array_new_with_free_func(g_free);

    if (!g_file_get_contents(path, &data, NULL, error))
        return NULL;
    lines = g_strsplit(data, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) fields = g_strsplit(g_strstrip(lines[i]), " ", -1);
        guint n = g_strv_length(fields);
        if (n == 2)
            g_ptr_array_add(codes, g_strdup(fields[1]));
    }
    if (codes->len == 0) {
        g_set_error(error, BENCH_ERROR, 1, "%s holds no 'login code' line", path);
        return NULL;
    }
    return g_steal_pointer(&codes);
}

/* as long as libsoup's session waited before (its "timeout") */
#define BENCH_IDLE_TIMEOUT_S 120

static int
bench_load_failed(const GError *error)
{
    g_printerr("cohort-bench-client load: %s\n", error->message);
    return 1;
}

static int
bench_load(gint argc, gchar **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new("load - trainees at once");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) codes = NULL;
    g_autoptr(GPtrArray) trainees =
        g_ptr_array_new_with_free_func((GDestroyNotify)bench_trainee_free);
    g_autofree gchar *url = NULL;
    g_autofree gchar *codes_path = NULL;
    g_autofree gchar *tokens_path = NULL;
    g_autofree gchar *tokens_out = NULL;
    g_autofree gchar *cohort = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) body = NULL;
    gint concurrency = 200;
    gint duration = 10;
    gint machines = 4;
    gint requests = 0;
    guint total = 0;
    guint errors = 0;
    g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(gdouble));
    Load load = {0};
    gint64 t0;
    gdouble seconds;
    gdouble redeem_s;
    guint retried = 0;
    guint retries_failed = 0;
    const GOptionEntry entries[] = {
        {"url", 0, 0, G_OPTION_ARG_STRING, &url, "cohortd's URL", "URL"},
        {"codes", 0, 0, G_OPTION_ARG_FILENAME, &codes_path, "Invitations: 'login code' lines",
         "FILE"},
        {"tokens", 0, 0, G_OPTION_ARG_FILENAME, &tokens_path,
         "Tokens already redeemed, not --codes: 't token' lines", "FILE"},
        {"tokens-out", 0, 0, G_OPTION_ARG_FILENAME, &tokens_out,
         "Where to keep the tokens redeemed", "FILE"},
        {"cohort", 0, 0, G_OPTION_ARG_STRING, &cohort, "The cohort to request machines in", "SLUG"},
        {"concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency, "Trainees at once (default 200)",
         "N"},
        {"duration", 0, 0, G_OPTION_ARG_INT, &duration, "Seconds of load (default 10)", "S"},
        {"machines", 0, 0, G_OPTION_ARG_INT, &machines,
         "Machines each trainee requests at most (default 4)", "N"},
        {"requests", 0, 0, G_OPTION_ARG_INT, &requests,
         "Stop after N requests, not after --duration (an instruction count per request)", "N"},
        {NULL},
    };

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error) || url == NULL ||
        (codes_path == NULL) == (tokens_path == NULL) || cohort == NULL || concurrency < 1 ||
        duration < 1 || machines < 0 || requests < 0) {
        g_printerr("cohort-bench-client load: %s\n",
                   error != NULL ? error->message
                                 : "--url, --codes or --tokens, and --cohort are needed");
        return 2;
    }
    /* both files hold 'login secret' lines */
    codes = bench_codes_read(codes_path != NULL ? codes_path : tokens_path, &error);
    if (codes == NULL) {
        g_printerr("cohort-bench-client load: %s\n", error->message);
        return 1;
    }
    load.http = bench_http_new(url, &error);
    if (load.http == NULL) {
        g_printerr("cohort-bench-client load: %s\n", error->message);
        return 2;
    }
    load.machines = (guint)machines;
    load.requests_left = G_MAXUINT;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cohort");
    json_builder_add_string_value(b, cohort);
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    json_generator_set_root(gen, body);
    load.request_body = json_generator_to_data(gen, NULL);
    for (guint k = 0; k < BENCH_KIND_LAST; k++)
        load.latency_ms[k] = g_array_new(FALSE, FALSE, sizeof(gdouble));
    for (guint i = 0; i < MIN((guint)concurrency, codes->len); i++) {
        Trainee *t = g_new0(Trainee, 1);
        t->load = &load;
        if (tokens_path != NULL)
            t->token = g_strdup(g_ptr_array_index(codes, i));
        else
            t->code = g_strdup(g_ptr_array_index(codes, i));
        t->conn = bench_http_conn_new(load.http);
        g_ptr_array_add(trainees, t);
    }

    /* every trainee redeems their invitation, all at once */
    t0 = g_get_monotonic_time();
    load.deadline = G_MAXINT64;
    for (guint i = 0; i < trainees->len; i++) {
        Trainee *t = g_ptr_array_index(trainees, i);
        if (t->token == NULL)
            bench_trainee_redeem(t);
    }
    if (!bench_http_run(load.http, BENCH_IDLE_TIMEOUT_S, &error))
        return bench_load_failed(error);
    redeem_s = (g_get_monotonic_time() - t0) / 1e6;
    /* A trainee whose redeem failed tries again, one at a time, as a person would: the storm
     * above is measured, and every trainee still takes part in the load. These tries are
     * not timed. */
    for (guint i = 0; i < trainees->len; i++) {
        Trainee *t = g_ptr_array_index(trainees, i);
        guint n_latency = load.latency_ms[BENCH_KIND_REDEEM]->len;
        guint n_errors = load.errors[BENCH_KIND_REDEEM];
        if (t->token != NULL)
            continue;
        bench_trainee_redeem(t);
        if (!bench_http_run(load.http, BENCH_IDLE_TIMEOUT_S, &error))
            return bench_load_failed(error);
        g_array_set_size(load.latency_ms[BENCH_KIND_REDEEM], n_latency);
        if (t->token != NULL)
            load.errors[BENCH_KIND_REDEEM] = n_errors;
        else
            retries_failed++;
        retried++;
    }

    if (tokens_out != NULL) {
        g_autoptr(GString) lines = g_string_new(NULL);
        for (guint i = 0; i < trainees->len; i++) {
            Trainee *t = g_ptr_array_index(trainees, i);
            if (t->token != NULL)
                g_string_append_printf(lines, "t %s\n", t->token);
        }
        if (!g_file_set_contents(tokens_out, lines->str, (gssize)lines->len, &error))
            return bench_load_failed(error);
    }

    /* then the load */
    t0 = g_get_monotonic_time();
    load.deadline = requests > 0 ? G_MAXINT64 : t0 + (gint64)duration * G_USEC_PER_SEC;
    if (requests > 0)
        load.requests_left = (guint)requests;
    for (guint i = 0; i < trainees->len && load.requests_left > 0; i++) {
        Trainee *t = g_ptr_array_index(trainees, i);
        if (t->token != NULL)
            bench_trainee_next(t);
    }
    if (!bench_http_run(load.http, BENCH_IDLE_TIMEOUT_S, &error))
        return bench_load_failed(error);
    seconds = (g_get_monotonic_time() - t0) / 1e6;

    for (guint k = 0; k < BENCH_KIND_LAST; k++) {
        g_array_sort(load.latency_ms[k], bench_double_cmp);
        if (k != BENCH_KIND_REDEEM) {
            g_array_append_vals(all, load.latency_ms[k]->data, load.latency_ms[k]->len);
            total += load.latency_ms[k]->len;
            errors += load.errors[k];
        }
    }
    g_array_sort(all, bench_double_cmp);
    printf("trainees=%u seconds=%.3f requests=%u rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%u",
           trainees->len, seconds, total, total / seconds, bench_percentile(all, 0.50),
           bench_percentile(all, 0.99), errors);
    for (guint k = 0; k < BENCH_KIND_LAST; k++)
        printf(" %s_n=%u %s_p50_ms=%.2f %s_p99_ms=%.2f %s_errors=%u", bench_kind_names[k],
               load.latency_ms[k]->len, bench_kind_names[k],
               bench_percentile(load.latency_ms[k], 0.50), bench_kind_names[k],
               bench_percentile(load.latency_ms[k], 0.99), bench_kind_names[k], load.errors[k]);
    printf(" redeem_s=%.3f redeem_retried=%u redeem_lost=%u\n", redeem_s, retried, retries_failed);
    if (load.first_error != NULL)
        g_printerr("cohort-bench-client load: first error: %s\n", load.first_error);

    for (guint k = 0; k < BENCH_KIND_LAST; k++)
        g_array_unref(load.latency_ms[k]);
    g_free(load.request_body);
    g_free(load.first_error);
    g_ptr_array_set_size(trainees, 0);
    bench_http_free(load.http);
    return errors == 0 && load.errors[BENCH_KIND_REDEEM] == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && g_strcmp0(argv[1], "job") == 0)
        return bench_job(argc - 1, argv + 1);
    if (argc >= 2 && g_strcmp0(argv[1], "load") == 0)
        return bench_load(argc - 1, argv + 1);
    if (argc >= 2 && g_strcmp0(argv[1], "get") == 0)
        return bench_get(argc - 1, argv + 1);
    g_printerr("usage: cohort-bench-client job|load|get [OPTION…] (--help after the command)\n");
    return 2;
}
