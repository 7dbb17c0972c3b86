/* Every route of the API's route table (daemon/api/cohort-api-routes.c) × every role × owner
 * or not, through real HTTP; and the table against docs/api.md's route table. A route added
 * to the table without a row here, or without its rule in the documentation, fails. */
#define G_LOG_DOMAIN "test-api-authz"

#include "config.h"

#include "cohort-api-routes.h"
#include "cohort-test-daemon.h"
#include "cohort-test.h"

/* The callers, in the order of an expectation string's letters. */
typedef enum {
    ROLE_ANONYMOUS,
    ROLE_TRAINEE,       /* enrolled in the trainer's cohort, owns its machines */
    ROLE_OTHER_TRAINEE, /* enrolled in the other trainer's cohort only */
    ROLE_TRAINER,       /* runs the cohort */
    ROLE_OTHER_TRAINER, /* runs another cohort */
    ROLE_ADMIN,
    ROLE_LAST
} Role;

static const gchar *const role_names[] = {"anonymous", "trainee",       "other trainee",
                                          "trainer",   "other trainer", "admin"};
G_STATIC_ASSERT(G_N_ELEMENTS(role_names) == ROLE_LAST);

/* One route's expectations, a letter per role: U 401, F 403, N 404, A authorized (anything
 * but those three: the rule let the caller through, and what follows is the route's). The
 * path's {…} are filled from the fixture; @per_role names a {…} that each authorized role
 * gets its own of (what the first one does would change what the next one finds). */
typedef struct {
    const gchar *route; /* "METHOD PATH" as in the table */
    const gchar *expect;
    const gchar *body;
    const gchar *per_role;
} Case;

#define CASE(route, expect, body)                                                                  \
    {                                                                                              \
        route, expect, body, NULL                                                                  \
    }

static const Case cases[] = {
    CASE("GET /healthz", "AAAAAA", NULL),
    CASE("GET /metrics", "AAAAAA", NULL), /* the test runs on loopback */
    CASE("GET /api/v1/whoami", "UAAAAA", NULL),
    CASE("POST /api/v1/redeem", "AAAAAA", "{}"),
    CASE("GET /api/v1/users", "UFFFFA", NULL),
    CASE("POST /api/v1/users", "UFFFFA", "{}"),
    CASE("POST /api/v1/users/{login}/tokens", "UFFFFA", NULL),
    CASE("DELETE /api/v1/users/{login}/tokens", "UFFFFA", NULL),
    /* the trainee's own keys: themself and admins */
    CASE("GET /api/v1/users/{login}/ssh-keys", "UAFFFA", NULL),
    CASE("PUT /api/v1/users/{login}/ssh-keys", "UAFFFA", "{\"keys\":[]}"),
    CASE("GET /api/v1/hosts", "UFFFFA", NULL),
    CASE("POST /api/v1/hosts", "UFFFFA", "{}"),
    CASE("DELETE /api/v1/hosts/{name}", "UFFFFA", NULL),
    CASE("PATCH /api/v1/hosts/{name}", "UFFFFA", "{}"),
    CASE("POST /api/v1/hosts/{name}/drain", "UFFFFA", NULL),
    CASE("POST /api/v1/hosts/{name}/undrain", "UFFFFA", NULL),
    /* the lab's machines have nowhere to go (one host): the job counts them failed */
    CASE("POST /api/v1/hosts/{name}/evacuate", "UFFFFA", NULL),
    CASE("DELETE /api/v1/hosts/{name}/bases/{template}", "UFFFFA", NULL),
    CASE("GET /api/v1/templates", "UAAAAA", NULL),
    CASE("POST /api/v1/templates/reload", "UFFFFA", NULL),
    /* a trainee sees the templates of their own cohorts only */
    CASE("GET /api/v1/templates/{name}", "UANAAA", NULL),
    CASE("POST /api/v1/templates/{name}/base", "UFFFFA", "{}"),
    CASE("GET /api/v1/cohorts", "UAAAAA", NULL),
    CASE("POST /api/v1/cohorts", "UFFAAA", "{}"),
    CASE("GET /api/v1/cohorts/{slug}", "UANANA", NULL),
    CASE("PATCH /api/v1/cohorts/{slug}", "UFFANA", "{}"),
    CASE("PUT /api/v1/cohorts/{slug}/roster", "UFFANA", "login,display_name\nauthz-extra,E\n"),
    CASE("POST /api/v1/cohorts/{slug}/trainees/{login}/invitation", "UFFANA", NULL),
    /* codes for the whole cohort: without "reissue" no code held is withdrawn */
    CASE("POST /api/v1/cohorts/{slug}/invitations", "UFFANA", NULL),
    {"DELETE /api/v1/cohorts/{slug}/trainees/{login}", "UFFANA", NULL, "{login}"},
    CASE("POST /api/v1/cohorts/{slug}/provision", "UFFANA", NULL),
    CASE("POST /api/v1/cohorts/{slug}/reclaim", "UFFANA", NULL),
    CASE("GET /api/v1/machines", "UAAAAA", NULL),
    /* a trainee for themselves, a trainer names one (none here: 400, authorized) */
    CASE("POST /api/v1/machines", "UANANA", "{\"cohort\":\"authz-101\"}"),
    CASE("GET /api/v1/machines/{id}", "UANANA", NULL),
    {"DELETE /api/v1/machines/{id}", "UANANA", NULL, "{id}"},
    CASE("POST /api/v1/machines/{id}/start", "UANANA", NULL),
    CASE("POST /api/v1/machines/{id}/stop", "UANANA", NULL),
    CASE("POST /api/v1/machines/{id}/reboot", "UANANA", NULL),
    CASE("POST /api/v1/machines/{id}/reset", "UANANA", NULL),
    CASE("POST /api/v1/machines/{id}/extend", "UANANA", NULL),
    /* its trainer and admins; the owner is refused by role, others find no such machine */
    CASE("POST /api/v1/machines/{id}/move", "UFNANA", NULL),
    CASE("GET /api/v1/machines/{id}/console", "UANANA", NULL),
    /* a job is who started it's (the trainer's provisioning here) */
    /* the ticket is the credential (a browser's websocket carries no token); without an
     * upgrade the answer says whether it works (400) and spends nothing */
    CASE("GET /api/v1/console/{ticket}", "AAAAAA", NULL),
    CASE("GET /api/v1/jobs/{id}", "UNNANA", NULL),
    CASE("GET /api/v1/audit", "UFFFFA", NULL),
    CASE("GET /api/v1/usage", "UFFFFA", NULL),
};

/* Routes whose authorized calls end what the others use: run after all the others. */
static const gchar *const run_last[] = {"POST /api/v1/hosts/{name}/evacuate",
                                        "POST /api/v1/cohorts/{slug}/reclaim", NULL};

typedef struct {
    CohortTestDaemon *d;
    gchar *tokens[ROLE_LAST];
    gint64 machine;          /* the trainee's */
    gint64 spare[ROLE_LAST]; /* more of the trainee's machines, one per authorized caller */
    gint64 job;              /* the trainer's provisioning */
    gchar *ticket;           /* a console ticket of the trainee's */
} Fixture;

static JsonNode *
call(CohortTestDaemon *d, const gchar *method, const gchar *path, const gchar *token,
     const gchar *body, guint expect)
{
    guint status = 0;
    g_autofree gchar *raw = NULL;
    JsonNode *node = cohort_test_http(d, method, path, token, body, NULL, &status, &raw);

    if (status != expect)
        fail_msg("%s %s: expected %u, got %u: %s", method, path, expect, status, raw);
    return node;
}

static gint64
member_int(JsonNode *node, const gchar *member)
{
    return json_object_get_int_member(json_node_get_object(node), member);
}

static gchar *
redeem_first(Fixture *fx, JsonNode *roster, const gchar *login)
{
    JsonArray *inv = json_object_get_array_member(json_node_get_object(roster), "invitations");

    for (guint i = 0; i < json_array_get_length(inv); i++) {
        JsonObject *o = json_array_get_object_element(inv, i);
        if (g_strcmp0(json_object_get_string_member(o, "login"), login) == 0) {
            g_autofree gchar *body =
                g_strdup_printf("{\"code\":\"%s\"}", json_object_get_string_member(o, "code"));
            g_autoptr(JsonNode) node = call(fx->d, "POST", "/api/v1/redeem", NULL, body, 200);
            return g_strdup(json_object_get_string_member(json_node_get_object(node), "token"));
        }
    }
    fail_msg("no invitation for %s", login);
    return NULL;
}

static gint64
machine_for(Fixture *fx, const gchar *token)
{
    g_autoptr(JsonNode) node =
        call(fx->d, "POST", "/api/v1/machines", token, "{\"cohort\":\"authz-101\"}", 202);
    return member_int(node, "id");
}

static int
fixture_setup(void **state)
{
    Fixture *fx = g_new0(Fixture, 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) trainer = NULL;
    g_autoptr(JsonNode) other = NULL;
    g_autoptr(JsonNode) roster = NULL;
    g_autoptr(JsonNode) other_roster = NULL;
    g_autoptr(JsonNode) job = NULL;

    fx->d = cohort_test_daemon_start(&error);
    cohort_assert_no_error(error);
    fx->tokens[ROLE_ADMIN] = g_strdup(fx->d->admin_token);
    json_node_unref(cohort_test_base_install(fx->d, "tiny", "{\"blank\":true}"));
    trainer = call(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                   "{\"login\":\"authz-trainer\",\"role\":\"trainer\"}", 201);
    other = call(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                 "{\"login\":\"authz-other\",\"role\":\"trainer\"}", 201);
    json_node_unref(call(fx->d, "POST", "/api/v1/users", fx->d->admin_token,
                         "{\"login\":\"authz-throwaway\",\"role\":\"trainer\"}", 201));
    fx->tokens[ROLE_TRAINER] =
        g_strdup(json_object_get_string_member(json_node_get_object(trainer), "token"));
    fx->tokens[ROLE_OTHER_TRAINER] =
        g_strdup(json_object_get_string_member(json_node_get_object(other), "token"));
    json_node_unref(call(fx->d, "POST", "/api/v1/cohorts", fx->tokens[ROLE_TRAINER],
                         "{\"slug\":\"authz-101\",\"template\":\"tiny\",\"starts_at\":"
                         "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\","
                         "\"quota\":{\"machines\":8,\"vcpus\":16,\"memory_mib\":4096}}",
                         201));
    json_node_unref(call(fx->d, "POST", "/api/v1/cohorts", fx->tokens[ROLE_OTHER_TRAINER],
                         "{\"slug\":\"authz-102\",\"template\":\"tiny-lan\",\"starts_at\":"
                         "\"2026-01-01T00:00:00Z\",\"ends_at\":\"2099-01-01T00:00:00Z\"}",
                         201));
    {
        guint status = 0;
        roster = cohort_test_http(fx->d, "PUT", "/api/v1/cohorts/authz-101/roster",
                                  fx->tokens[ROLE_TRAINER],
                                  "login,display_name\nauthz-own,Own\nauthz-leave-trainer,L1\n"
                                  "authz-leave-admin,L2\n",
                                  "text/csv", &status, NULL);
        assert_int_equal(status, 200);
        other_roster = cohort_test_http(
            fx->d, "PUT", "/api/v1/cohorts/authz-102/roster", fx->tokens[ROLE_OTHER_TRAINER],
            "login,display_name\nauthz-elsewhere,Elsewhere\n", "text/csv", &status, NULL);
        assert_int_equal(status, 200);
    }
    fx->tokens[ROLE_TRAINEE] = redeem_first(fx, roster, "authz-own");
    fx->tokens[ROLE_OTHER_TRAINEE] = redeem_first(fx, other_roster, "authz-elsewhere");
    /* the trainer's provisioning makes the trainees' first machines: a job of theirs */
    job = call(fx->d, "POST", "/api/v1/cohorts/authz-101/provision", fx->tokens[ROLE_TRAINER], NULL,
               202);
    fx->job = member_int(job, "job");
    json_node_unref(cohort_test_job_wait(fx->d, fx->tokens[ROLE_TRAINER], fx->job));
    {
        g_autoptr(JsonNode) mine = call(fx->d, "GET", "/api/v1/machines?cohort=authz-101",
                                        fx->tokens[ROLE_TRAINEE], NULL, 200);
        assert_int_equal(json_array_get_length(json_node_get_array(mine)), 1);
        fx->machine = json_object_get_int_member(
            json_array_get_object_element(json_node_get_array(mine), 0), "id");
    }
    {
        g_autofree gchar *path =
            g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", fx->machine);
        g_autoptr(JsonNode) console = call(fx->d, "GET", path, fx->tokens[ROLE_TRAINEE], NULL, 200);
        const gchar *websocket =
            json_object_get_string_member(json_node_get_object(console), "websocket");
        assert_true(g_str_has_prefix(websocket, "/api/v1/console/"));
        fx->ticket = g_strdup(websocket + strlen("/api/v1/console/"));
    }
    fx->spare[ROLE_TRAINEE] = machine_for(fx, fx->tokens[ROLE_TRAINEE]);
    fx->spare[ROLE_TRAINER] = machine_for(fx, fx->tokens[ROLE_TRAINEE]);
    fx->spare[ROLE_ADMIN] = machine_for(fx, fx->tokens[ROLE_TRAINEE]);
    *state = fx;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *fx = *state;

    cohort_test_daemon_stop(fx->d);
    for (guint i = 0; i < ROLE_LAST; i++)
        g_free(fx->tokens[i]);
    g_free(fx->ticket);
    g_free(fx);
    return 0;
}

static const Case *
case_of(const gchar *route)
{
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        if (g_strcmp0(cases[i].route, route) == 0)
            return &cases[i];
    }
    return NULL;
}

/* The route's path with the fixture's objects in it; the per-role {…} is @role's own. */
static gchar *
case_path(Fixture *fx, const Case *c, const gchar *path, Role role)
{
    static const gchar *const leave[ROLE_LAST] = {
        [ROLE_TRAINER] = "authz-leave-trainer",
        [ROLE_ADMIN] = "authz-leave-admin",
    };
    GString *out = g_string_new(NULL);
    g_auto(GStrv) segments = g_strsplit(path, "/", -1);
    const gboolean own = c->per_role != NULL && c->expect[role] == 'A';

    for (guint i = 0; segments[i] != NULL; i++) {
        const gchar *s = segments[i];
        if (i > 0)
            g_string_append_c(out, '/');
        if (g_strcmp0(s, "{slug}") == 0) {
            g_string_append(out, "authz-101");
        } else if (g_strcmp0(s, "{name}") == 0) {
            /* hosts: the lab (machines live there: its removal is refused); templates: the
             * cohort's */
            g_string_append(out, g_str_has_prefix(path, "/api/v1/hosts") ? "lab" : "tiny");
        } else if (g_strcmp0(s, "{template}") == 0) {
            /* the cohort's: its machines use the base, so its removal is refused */
            g_string_append(out, "tiny");
        } else if (g_strcmp0(s, "{login}") == 0) {
            if (g_str_has_suffix(path, "/ssh-keys"))
                g_string_append(out, "authz-own");
            else if (g_str_has_prefix(path, "/api/v1/users"))
                g_string_append(out, "authz-throwaway");
            else if (own || c->per_role != NULL)
                g_string_append(out, leave[role] != NULL ? leave[role] : "authz-leave-trainer");
            else
                g_string_append(out, "authz-own");
        } else if (g_strcmp0(s, "{ticket}") == 0) {
            g_string_append(out, fx->ticket);
        } else if (g_strcmp0(s, "{id}") == 0) {
            if (g_str_has_prefix(path, "/api/v1/jobs"))
                g_string_append_printf(out, "%" G_GINT64_FORMAT, fx->job);
            else
                g_string_append_printf(out, "%" G_GINT64_FORMAT,
                                       own ? fx->spare[role] : fx->machine);
        } else {
            g_string_append(out, s);
        }
    }
    return g_string_free(out, FALSE);
}

static void
run_case(Fixture *fx, const gchar *method, const gchar *path, const Case *c)
{
    /* the refused first: what an authorized caller does must not change their answer */
    for (guint pass = 0; pass < 2; pass++) {
        for (Role role = 0; role < ROLE_LAST; role++) {
            const gchar expect = c->expect[role];
            g_autofree gchar *url = NULL;
            g_autofree gchar *raw = NULL;
            g_autoptr(JsonNode) node = NULL;
            guint status = 0;

            if ((pass == 0) == (expect == 'A'))
                continue;
            url = case_path(fx, c, path, role);
            node = cohort_test_http(fx->d, method, url, fx->tokens[role], c->body,
                                    g_str_has_suffix(path, "/roster") ? "text/csv" : NULL, &status,
                                    &raw);
            switch (expect) {
            case 'U':
                if (status != 401 || g_strcmp0(cohort_test_error_code(node), "unauthenticated"))
                    fail_msg("%s %s as %s: expected 401, got %u: %s", method, url, role_names[role],
                             status, raw);
                break;
            case 'F':
                if (status != 403 || g_strcmp0(cohort_test_error_code(node), "forbidden"))
                    fail_msg("%s %s as %s: expected 403, got %u: %s", method, url, role_names[role],
                             status, raw);
                break;
            case 'N':
                if (status != 404 || g_strcmp0(cohort_test_error_code(node), "not-found"))
                    fail_msg("%s %s as %s: expected 404, got %u: %s", method, url, role_names[role],
                             status, raw);
                break;
            default:
                if (status == 401 || status == 403 || status == 404 || status == 0)
                    fail_msg("%s %s as %s: expected the route to let them through, got %u: %s",
                             method, url, role_names[role], status, raw);
                break;
            }
        }
    }
}

/* Every route of the table × every role, owner or not; every row here is a route. */
static void
test_authz_matrix(void **state)
{
    Fixture *fx = *state;
    g_autoptr(GPtrArray) last = g_ptr_array_new();

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        gboolean found = FALSE;
        assert_int_equal(strlen(cases[i].expect), ROLE_LAST);
        for (guint r = 0; r < cohort_api_routes_count() && !found; r++) {
            const CohortApiRoute *route = cohort_api_routes_nth(r);
            g_autofree gchar *key = g_strdup_printf("%s %s", cohort_api_route_get_method(route),
                                                    cohort_api_route_get_path(route));
            found = g_strcmp0(key, cases[i].route) == 0;
        }
        if (!found)
            fail_msg("the matrix has '%s', which the route table does not", cases[i].route);
    }
    for (guint r = 0; r < cohort_api_routes_count(); r++) {
        const CohortApiRoute *route = cohort_api_routes_nth(r);
        g_autofree gchar *key = g_strdup_printf("%s %s", cohort_api_route_get_method(route),
                                                cohort_api_route_get_path(route));
        const Case *c = case_of(key);
        if (c == NULL)
            fail_msg("route %s has no row in the authorization matrix (tests/api/"
                     "test-api-authz.c): add who may call it",
                     key);
        if (g_strv_contains(run_last, key)) {
            g_ptr_array_add(last, (gpointer)route);
            continue;
        }
        run_case(fx, cohort_api_route_get_method(route), cohort_api_route_get_path(route), c);
    }
    for (guint i = 0; i < last->len; i++) {
        const CohortApiRoute *route = g_ptr_array_index(last, i);
        g_autofree gchar *key = g_strdup_printf("%s %s", cohort_api_route_get_method(route),
                                                cohort_api_route_get_path(route));
        run_case(fx, cohort_api_route_get_method(route), cohort_api_route_get_path(route),
                 case_of(key));
    }
}

/* docs/api.md's route table says for every route of the table who may call it, in the
 * table's words, and lists no route the table does not have. */
static void
test_authz_routes_documented(void **state)
{
    g_autofree gchar *path =
        g_build_filename(COHORT_TEST_DATADIR, "..", "..", "docs", "api.md", NULL);
    g_autofree gchar *text = NULL;
    g_autoptr(GHashTable) documented =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) lines = NULL;
    g_autoptr(GRegex) row = g_regex_new(
        "^\\| `(GET|POST|PUT|PATCH|DELETE) ([^`\\[]+)(\\[[^`]*\\])?` \\| ([^|]+) \\|", 0, 0, NULL);

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_autoptr(GMatchInfo) match = NULL;
        if (g_regex_match(row, lines[i], 0, &match)) {
            g_autofree gchar *method = g_match_info_fetch(match, 1);
            g_autofree gchar *route = g_match_info_fetch(match, 2);
            g_autofree gchar *who = g_match_info_fetch(match, 4);
            g_hash_table_replace(documented, g_strdup_printf("%s %s", method, g_strstrip(route)),
                                 g_strdup(g_strstrip(who)));
        }
    }
    assert_true(g_hash_table_size(documented) > 10);
    for (guint r = 0; r < cohort_api_routes_count(); r++) {
        const CohortApiRoute *route = cohort_api_routes_nth(r);
        g_autofree gchar *key = g_strdup_printf("%s %s", cohort_api_route_get_method(route),
                                                cohort_api_route_get_path(route));
        const gchar *who = g_hash_table_lookup(documented, key);
        if (who == NULL)
            fail_msg("route %s is not in docs/api.md's route table", key);
        if (g_strcmp0(who, cohort_api_route_get_who(route)) != 0)
            fail_msg("route %s: docs/api.md says '%s' may call it, the route table '%s'", key, who,
                     cohort_api_route_get_who(route));
        g_hash_table_remove(documented, key);
    }
    if (g_hash_table_size(documented) > 0) {
        GList *keys = g_hash_table_get_keys(documented);
        g_autofree gchar *first = g_strdup(keys->data);
        g_list_free(keys);
        fail_msg("docs/api.md's route table lists %s, which cohortd has no route for", first);
    }
}

/* The console's guest account and password: the owner, their trainer and admins see the
 * same ones; anyone else finds no such machine (the route's rule), so never sees them. */
static void
test_authz_console_guest(void **state)
{
    Fixture *fx = *state;
    g_autofree gchar *path =
        g_strdup_printf("/api/v1/machines/%" G_GINT64_FORMAT "/console", fx->machine);
    g_autofree gchar *first = NULL;
    const Role allowed[] = {ROLE_TRAINEE, ROLE_TRAINER, ROLE_ADMIN};
    const Role refused[] = {ROLE_OTHER_TRAINEE, ROLE_OTHER_TRAINER};

    for (guint i = 0; i < G_N_ELEMENTS(allowed); i++) {
        g_autoptr(JsonNode) console = call(fx->d, "GET", path, fx->tokens[allowed[i]], NULL, 200);
        JsonObject *o = json_node_get_object(console);
        const gchar *user = json_object_get_string_member(o, "guest_user");
        const gchar *password = json_object_get_string_member(o, "guest_password");
        assert_string_equal(user, "authz-own");
        assert_non_null(password);
        assert_int_equal(strlen(password), 16);
        if (first == NULL)
            first = g_strdup(password);
        assert_string_equal(password, first);
    }
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        guint status = 0;
        g_autofree gchar *raw = NULL;
        g_autoptr(JsonNode) node =
            cohort_test_http(fx->d, "GET", path, fx->tokens[refused[i]], NULL, NULL, &status, &raw);
        assert_int_equal(status, 404);
        assert_null(strstr(raw, first));
        assert_null(strstr(raw, "guest_password"));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authz_routes_documented),
        cmocka_unit_test_setup_teardown(test_authz_console_guest, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_authz_matrix, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
