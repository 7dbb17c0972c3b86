/* The built cohortctl against a real cohortd (tests/lib/cohort-test-daemon.h): every noun
 * and verb, the output modes, every documented exit code, client.conf. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "cohort-test-daemon.h"
#include "cohort-test-tls.h"

typedef struct {
    CohortTestDaemon *daemon;
    gchar *home;              /* HOME and XDG_CONFIG_HOME of every cohortctl run */
    gchar *conf;              /* home/config/cohort/client.conf */
    gchar *trainer;           /* token of the trainer "tr-test" */
    guint serial;             /* for unique slugs */
    const gchar *ca_file_env; /* COHORT_CA_FILE of the next runs (NULL: none) */
} Fixture;

typedef struct {
    gint status; /* cohortctl's exit code */
    gchar *out;
    gchar *err;
} Run;

static void
run_free(Run *r)
{
    g_free(r->out);
    g_free(r->err);
    g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Run, run_free)

static void
rm_rf(const gchar *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const gchar *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree gchar *child = g_build_filename(path, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            rm_rf(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

/* cohortctl ARGS… with COHORT_URL @url (NULL: none), COHORT_TOKEN @token (NULL: none), and
 * @stdin_text on stdin (NULL: /dev/null). */
static Run *
ctl_run_full(Fixture *f, const gchar *url, const gchar *token, const gchar *stdin_text,
             const gchar *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) env = g_get_environ();
    g_autofree gchar *config = g_build_filename(f->home, "config", NULL);
    g_autoptr(GError) error = NULL;
    Run *r = g_new0(Run, 1);
    gint wait_status = 0;
    GPid pid;
    gint in_fd = -1, out_fd = -1, err_fd = -1;
    g_autoptr(GIOChannel) out_ch = NULL;
    g_autoptr(GIOChannel) err_ch = NULL;

    g_ptr_array_add(argv, (gpointer)COHORTCTL_PATH);
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    env = g_environ_unsetenv(env, "COHORT_URL");
    env = g_environ_unsetenv(env, "COHORT_TOKEN");
    env = g_environ_unsetenv(env, "COHORT_CA_FILE");
    if (f->ca_file_env != NULL)
        env = g_environ_setenv(env, "COHORT_CA_FILE", f->ca_file_env, TRUE);
    if (url != NULL)
        env = g_environ_setenv(env, "COHORT_URL", url, TRUE);
    if (token != NULL)
        env = g_environ_setenv(env, "COHORT_TOKEN", token, TRUE);
    env = g_environ_setenv(env, "HOME", f->home, TRUE);
    env = g_environ_setenv(env, "XDG_CONFIG_HOME", config, TRUE);
    env = g_environ_setenv(env, "LC_ALL", "C.UTF-8", TRUE);

    if (stdin_text == NULL) {
        if (!g_spawn_sync(NULL, (gchar **)argv->pdata, env, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                          &r->out, &r->err, &wait_status, &error))
            fail_msg("cannot run cohortctl: %s", error->message);
    } else {
        /* stdin matters only for small texts (a token): write, close, then read both pipes */
        if (!g_spawn_async_with_pipes(NULL, (gchar **)argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD,
                                      NULL, NULL, &pid, &in_fd, &out_fd, &err_fd, &error))
            fail_msg("cannot run cohortctl: %s", error->message);
        assert_int_equal(write(in_fd, stdin_text, strlen(stdin_text)), (ssize_t)strlen(stdin_text));
        close(in_fd);
        out_ch = g_io_channel_unix_new(out_fd);
        err_ch = g_io_channel_unix_new(err_fd);
        g_io_channel_set_close_on_unref(out_ch, TRUE);
        g_io_channel_set_close_on_unref(err_ch, TRUE);
        g_io_channel_read_to_end(out_ch, &r->out, NULL, NULL);
        g_io_channel_read_to_end(err_ch, &r->err, NULL, NULL);
        waitpid(pid, &wait_status, 0);
        g_spawn_close_pid(pid);
    }
    if (!WIFEXITED(wait_status))
        fail_msg("cohortctl did not exit (status %d); stderr: %s", wait_status, r->err);
    r->status = WEXITSTATUS(wait_status);
    if (r->out == NULL)
        r->out = g_strdup("");
    if (r->err == NULL)
        r->err = g_strdup("");
    return r;
}

#define CTL(f, token, ...)                                                                         \
    ctl_run_full((f), (f)->daemon->url, (token), NULL, (const gchar *const[]){__VA_ARGS__, NULL})

static void
expect_status(Run *r, gint status)
{
    if (r->status != status)
        fail_msg("cohortctl exited %d, expected %d\nstdout:\n%s\nstderr:\n%s", r->status, status,
                 r->out, r->err);
}

static void
expect_ok(Run *r)
{
    expect_status(r, 0);
}

static void
assert_contains(const gchar *haystack, const gchar *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", haystack, needle);
}

/* The error line is "cohortctl: MESSAGE (CODE)". */
static void
expect_error(Run *r, gint status, const gchar *code)
{
    g_autofree gchar *tail = g_strdup_printf("(%s)\n", code);

    expect_status(r, status);
    assert_true(g_str_has_prefix(r->err, "cohortctl: ") || strstr(r->err, "\ncohortctl: "));
    if (!g_str_has_suffix(r->err, tail))
        fail_msg("stderr does not end with '%s': %s", tail, r->err);
}

static guint
count_lines(const gchar *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    return g_strv_length(lines);
}

static JsonNode *
parse_json(Run *r)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    if (!json_parser_load_from_data(parser, r->out, -1, &error))
        fail_msg("not JSON (%s):\n%s", error->message, r->out);
    return json_node_ref(json_parser_get_root(parser));
}

static JsonObject *
find_in(JsonArray *array, const gchar *member, const gchar *value)
{
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *o = json_array_get_object_element(array, i);
        if (g_strcmp0(json_object_get_string_member_with_default(o, member, NULL), value) == 0)
            return o;
    }
    return NULL;
}

/* Machine operations answer 202 at once: polls `machine show` until the machine is at rest
 * (running, stopped, failed or reclaimed) and answers that state. */
static gchar *
wait_machine(Fixture *f, const gchar *token, const gchar *machine)
{
    static const gchar *const at_rest[] = {"running", "stopped", "failed", "reclaimed", NULL};

    for (guint i = 0; i < 600; i++) {
        g_autoptr(Run) r = CTL(f, token, "--json", "machine", "show", machine);
        g_autoptr(JsonNode) node = NULL;
        const gchar *state;

        expect_ok(r);
        node = parse_json(r);
        state = json_object_get_string_member(json_node_get_object(node), "state");
        if (g_strv_contains(at_rest, state))
            return g_strdup(state);
        g_usleep(G_USEC_PER_SEC / 10);
    }
    fail_msg("machine %s is still busy after 60 s", machine);
    return NULL;
}

static gchar *
new_slug(Fixture *f, const gchar *prefix)
{
    return g_strdup_printf("%s-%u", prefix, ++f->serial);
}

/* Trainee logins of a cohort's roster: a login in a second roster is enrolled without a new
 * invitation, so each cohort has trainees of its own. */
static gchar *
sok(const gchar *slug)
{
    return g_strdup_printf("sok-%s", slug);
}

static gchar *
zaw(const gchar *slug)
{
    return g_strdup_printf("zaw-%s", slug);
}

/* A cohort of the trainer with two trainees (Khmer and Burmese display names); the roster's
 * answer, whose codes the tests redeem. */
static JsonNode *
make_cohort(Fixture *f, const gchar *slug, const gchar *max_machines)
{
    g_autofree gchar *roster = g_strdup_printf("%s/roster-%s.csv", f->home, slug);
    g_autofree gchar *sok_login = sok(slug);
    g_autofree gchar *zaw_login = zaw(slug);
    g_autofree gchar *csv = g_strdup_printf("login,display_name\r\n"
                                            "%s,សុខ ដារា (Sok Dara)\r\n"
                                            "%s,\"ဇော်မင်း (Zaw Min), Yangon\"\r\n",
                                            sok_login, zaw_login);
    g_autoptr(Run) created = CTL(f, f->trainer, "cohort", "create", slug, "--template", "tiny-lan",
                                 "--title", "Cloud computing ក", "--starts", "2026-01-01", "--ends",
                                 "2030-12-31", "--max-machines", max_machines);
    g_autoptr(Run) loaded = NULL;
    g_autoptr(JsonNode) answer = NULL;

    expect_ok(created);
    assert_true(g_file_set_contents(roster, csv, -1, NULL));
    loaded = CTL(f, f->trainer, "--json", "cohort", "roster", slug, roster);
    expect_ok(loaded);
    g_unlink(roster);
    answer = parse_json(loaded);
    assert_int_equal(json_array_get_length(
                         json_object_get_array_member(json_node_get_object(answer), "invitations")),
                     2);
    return g_steal_pointer(&answer);
}

/* The invitation code of @login in a roster answer. */
static const gchar *
code_of(JsonNode *roster, const gchar *login)
{
    JsonObject *inv = find_in(
        json_object_get_array_member(json_node_get_object(roster), "invitations"), "login", login);

    if (inv == NULL)
        fail_msg("no invitation for %s", login);
    return json_object_get_string_member(inv, "code");
}

static gint
group_setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(Run) base = NULL;
    g_autoptr(Run) user = NULL;
    g_autoptr(JsonNode) node = NULL;

    f->daemon = cohort_test_daemon_start(&error);
    if (f->daemon == NULL)
        fail_msg("cohortd did not start: %s", error->message);
    f->home = g_dir_make_tmp("cohortctl-test-XXXXXX", &error);
    assert_non_null(f->home);
    f->conf = g_build_filename(f->home, "config", "cohort", "client.conf", NULL);
    /* every test needs the tiny template's base on the embedded host, and a trainer */
    base = CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--blank");
    expect_ok(base);
    user = CTL(f, f->daemon->admin_token, "--json", "user", "create", "tr-test", "--role",
               "trainer", "--display-name", "ចាន់ សោភា (Chan Sophea)");
    expect_ok(user);
    node = parse_json(user);
    f->trainer = g_strdup(json_object_get_string_member(json_node_get_object(node), "token"));
    *state = f;
    return 0;
}

static gint
group_teardown(void **state)
{
    Fixture *f = *state;

    cohort_test_daemon_stop(f->daemon);
    rm_rf(f->home);
    g_free(f->home);
    g_free(f->conf);
    g_free(f->trainer);
    g_free(f);
    return 0;
}

/* --- help and usage (exit 2) ------------------------------------------------------------ */

static void
test_cohortctl_help(void **state)
{
    Fixture *f = *state;
    g_autoptr(Run) top = CTL(f, NULL, "--help");
    g_autoptr(Run) noun = CTL(f, NULL, "machine", "--help");
    g_autoptr(Run) verb = CTL(f, NULL, "cohort", "create", "--help");
    g_autoptr(Run) help_noun = CTL(f, NULL, "help", "cohort");
    g_autoptr(Run) version = CTL(f, NULL, "version");
    static const gchar *const nouns[] = {"host",    "template", "user",  "cohort",
                                         "machine", "job",      "audit", NULL};

    expect_ok(top);
    assert_contains(top->out, "Exit status:");
    assert_contains(top->out, "6  cohortd cannot be reached");
    assert_contains(top->out, "COHORT_TOKEN");
    assert_contains(top->out, "client.conf");
    expect_ok(noun);
    for (const gchar *const *v =
             (const gchar *const[]){"list", "show", "request", "start", "stop", "reboot", "reset",
                                    "release", "console", NULL};
         *v != NULL; v++)
        assert_contains(noun->out, *v);
    assert_contains(noun->out, "Examples:");
    expect_ok(verb);
    assert_contains(verb->out, "--max-machines");
    assert_contains(verb->out, "Examples:");
    expect_ok(help_noun);
    assert_contains(help_noun->out, "provision");
    expect_ok(version);
    assert_true(g_str_has_prefix(version->out, "cohortctl "));
    for (guint i = 0; nouns[i] != NULL; i++) {
        g_autoptr(Run) r = CTL(f, NULL, nouns[i], "--help");
        expect_ok(r);
        assert_contains(r->out, "Verbs:");
    }
}

static void
test_cohortctl_usage_exit_2(void **state)
{
    Fixture *f = *state;
    const gchar *admin = f->daemon->admin_token;
    const gchar *const *cases[] = {
        (const gchar *const[]){NULL},
        (const gchar *const[]){"bogus", NULL},
        (const gchar *const[]){"machine", NULL},
        (const gchar *const[]){"machine", "fly", "1", NULL},
        (const gchar *const[]){"machine", "show", NULL},
        (const gchar *const[]){"machine", "show", "1", "2", NULL},
        (const gchar *const[]){"machine", "show", "Not/AMachine", NULL},
        (const gchar *const[]){"machine", "list", "--bogus", NULL},
        (const gchar *const[]){"cohort", "create", "x", "--template", "tiny", "--title", "X",
                               "--starts", "tomorrow", "--ends", "2026-02-01", "--max-machines",
                               "1", NULL},
        (const gchar *const[]){"cohort", "create", "x", "--template", "tiny", NULL},
        (const gchar *const[]){"cohort", "update", "x", NULL},
        (const gchar *const[]){"template", "base", "tiny", NULL},
        (const gchar *const[]){"template", "base", "tiny", "--blank", "--path", "/x", NULL},
        (const gchar *const[]){"audit", "list", "--limit", "ten", NULL},
        (const gchar *const[]){"audit", "list", "--limit", "10001", NULL},
        (const gchar *const[]){"host", "add", "h", NULL},
        (const gchar *const[]){"--json", "--quiet", "host", "list", NULL},
        (const gchar *const[]){"--url", "ftp://x", "host", "list", NULL},
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(Run) r = ctl_run_full(f, f->daemon->url, admin, NULL, cases[i]);
        expect_status(r, 2);
        assert_true(r->err[0] != '\0');
    }
}

/* --- identity, login, redeem, client.conf ----------------------------------------------- */

static void
test_cohortctl_whoami(void **state)
{
    Fixture *f = *state;
    g_autoptr(Run) table = CTL(f, f->daemon->admin_token, "whoami");
    g_autoptr(Run) json = CTL(f, f->daemon->admin_token, "--json", "whoami");
    g_autoptr(Run) quiet = CTL(f, f->trainer, "whoami", "--quiet");
    g_autoptr(JsonNode) node = NULL;
    JsonObject *me;

    expect_ok(table);
    assert_true(g_str_has_prefix(table->out, "admin ("));
    assert_contains(table->out, ", admin");
    expect_ok(json);
    node = parse_json(json);
    me = json_node_get_object(node);
    assert_string_equal(json_object_get_string_member(me, "login"), "admin");
    assert_string_equal(json_object_get_string_member(me, "role"), "admin");
    assert_true(json_object_has_member(me, "display_name"));
    expect_ok(quiet);
    assert_string_equal(quiet->out, "tr-test\n");
}

#define KEY_ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
#define KEY_FP "SHA256:mKqU+0K8OhKmA8bBQi9Rz0Q5l7/g160hIP+rJYSTNj4"

/* key add, list, remove: a .pub file and standard input, a key given twice, a bad line (exit
 * 7, nothing sent), removal by number and by fingerprint (exit 4 for none), --user (admin). */
static void
test_cohortctl_keys(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *file = g_build_filename(f->home, "id_ed25519.pub", NULL);
    g_autofree gchar *bad = g_build_filename(f->home, "bad.pub", NULL);

    assert_true(g_file_set_contents(file, "# mine\n" KEY_ED " me@laptop\n\n", -1, NULL));
    assert_true(g_file_set_contents(
        bad, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7\nfrom=\"x\" " KEY_ED "\n", -1, NULL));
    {
        g_autoptr(Run) add = CTL(f, f->trainer, "key", "add", file);
        g_autoptr(Run) again = CTL(f, f->trainer, "key", "add", file);
        g_autoptr(Run) list = CTL(f, f->trainer, "key", "list");
        g_autoptr(Run) quiet = CTL(f, f->trainer, "key", "list", "-q");
        expect_ok(add);
        assert_contains(add->out, "Added 1 key(s)");
        expect_ok(again);
        assert_contains(again->out, "Already there: " KEY_FP);
        expect_ok(list);
        assert_contains(list->out, "FINGERPRINT");
        assert_contains(list->out, "ssh-ed25519");
        assert_contains(list->out, "me@laptop");
        expect_ok(quiet);
        assert_string_equal(quiet->out, KEY_FP "\n");
    }
    {
        /* the second line is refused: the first is not sent either */
        g_autoptr(Run) refused = CTL(f, f->trainer, "key", "add", bad);
        g_autoptr(Run) quiet = CTL(f, f->trainer, "key", "list", "-q");
        expect_status(refused, 7);
        assert_contains(refused->err, "bad.pub:2");
        assert_string_equal(quiet->out, KEY_FP "\n");
    }
    {
        g_autoptr(Run) in = ctl_run_full(f, f->daemon->url, f->trainer,
                                         "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 second\n",
                                         (const gchar *const[]){"key", "add", "-", NULL});
        g_autoptr(Run) json = CTL(f, f->trainer, "--json", "key", "list");
        g_autoptr(JsonNode) node = NULL;
        expect_ok(in);
        expect_ok(json);
        node = parse_json(json);
        assert_int_equal(
            json_array_get_length(json_object_get_array_member(json_node_get_object(node), "keys")),
            2);
    }
    {
        g_autoptr(Run) none = CTL(f, f->trainer, "key", "remove", "3");
        g_autoptr(Run) by_fp = CTL(f, f->trainer, "key", "remove", KEY_FP);
        g_autoptr(Run) by_n = CTL(f, f->trainer, "key", "remove", "1");
        g_autoptr(Run) list = CTL(f, f->trainer, "key", "list", "-q");
        expect_status(none, 4);
        expect_ok(by_fp);
        expect_ok(by_n);
        assert_string_equal(list->out, "");
    }
    {
        /* an admin for someone; a trainer may not for someone else */
        g_autoptr(Run) admin =
            CTL(f, f->daemon->admin_token, "key", "add", file, "--user", "tr-test");
        g_autoptr(Run) list = CTL(f, f->trainer, "key", "list", "-q");
        g_autoptr(Run) refused = CTL(f, f->trainer, "key", "list", "--user", "admin");
        expect_ok(admin);
        assert_string_equal(list->out, KEY_FP "\n");
        expect_status(refused, 3);
    }
}

static void
test_cohortctl_login_conf(void **state)
{
    Fixture *f = *state;
    g_autoptr(Run) bad = ctl_run_full(
        f, NULL, NULL, NULL,
        (const gchar *const[]){"login", "--url", f->daemon->url, "--token", "cohort_nope", NULL});
    g_autoptr(Run) login = NULL;
    g_autoptr(Run) whoami = NULL;
    g_autoptr(Run) warned = NULL;
    g_autoptr(Run) env_wins = NULL;
    g_autoptr(Run) from_stdin = NULL;
    g_autofree gchar *text = NULL;
    GStatBuf st;

    g_unlink(f->conf);
    expect_error(bad, 3, "unauthenticated");
    assert_false(g_file_test(f->conf, G_FILE_TEST_EXISTS));

    login = ctl_run_full(f, NULL, NULL, NULL,
                         (const gchar *const[]){"login", "--url", f->daemon->url, "--token",
                                                f->daemon->admin_token, NULL});
    expect_ok(login);
    assert_int_equal(g_stat(f->conf, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(g_file_get_contents(f->conf, &text, NULL, NULL));
    assert_contains(text, "[client]");
    assert_contains(text, f->daemon->admin_token);

    /* no environment at all: the file gives URL and token, without a warning */
    whoami = ctl_run_full(f, NULL, NULL, NULL, (const gchar *const[]){"whoami", "-q", NULL});
    expect_ok(whoami);
    assert_string_equal(whoami->out, "admin\n");
    assert_string_equal(whoami->err, "");

    /* a file others may read works, with one warning line */
    assert_int_equal(g_chmod(f->conf, 0644), 0);
    warned = ctl_run_full(f, NULL, NULL, NULL, (const gchar *const[]){"whoami", "-q", NULL});
    expect_ok(warned);
    assert_string_equal(warned->out, "admin\n");
    assert_true(g_str_has_prefix(warned->err, "cohortctl: warning: "));
    assert_contains(warned->err, "0644");
    assert_contains(warned->err, "chmod 600");
    assert_int_equal(strchr(warned->err, '\n') - warned->err + 1, (gint)strlen(warned->err));

    /* COHORT_TOKEN wins over the file */
    env_wins =
        ctl_run_full(f, NULL, f->trainer, NULL, (const gchar *const[]){"whoami", "-q", NULL});
    expect_ok(env_wins);
    assert_string_equal(env_wins->out, "tr-test\n");

    /* --token - reads stdin; logging in again tightens the mode */
    g_autofree gchar *line = g_strconcat(f->trainer, "\n", NULL);
    from_stdin = ctl_run_full(
        f, NULL, NULL, line,
        (const gchar *const[]){"login", "--url", f->daemon->url, "--token", "-", NULL});
    expect_ok(from_stdin);
    assert_int_equal(g_stat(f->conf, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    g_unlink(f->conf);
}

static void
test_cohortctl_redeem(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "redeem");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autofree gchar *login = sok(slug);
    const gchar *code = code_of(roster, login);
    g_autoptr(Run) redeemed = NULL;
    g_autoptr(Run) again = NULL;
    g_autoptr(Run) me = NULL;
    GStatBuf st;

    g_unlink(f->conf);
    redeemed = ctl_run_full(f, NULL, NULL, NULL,
                            (const gchar *const[]){"redeem", code, "--url", f->daemon->url, NULL});
    expect_ok(redeemed);
    assert_contains(redeemed->out, login);
    assert_int_equal(g_stat(f->conf, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    me = ctl_run_full(f, NULL, NULL, NULL, (const gchar *const[]){"--json", "whoami", NULL});
    expect_ok(me);
    {
        g_autoptr(JsonNode) node = parse_json(me);
        JsonObject *o = json_node_get_object(node);
        assert_string_equal(json_object_get_string_member(o, "login"), login);
        assert_string_equal(json_object_get_string_member(o, "role"), "trainee");
    }
    /* a code works once; the failure is not a connection or usage failure */
    again = ctl_run_full(f, NULL, NULL, NULL,
                         (const gchar *const[]){"redeem", code, "--url", f->daemon->url, NULL});
    assert_true(again->status != 0 && again->status != 2 && again->status != 6);
    assert_true(g_str_has_prefix(again->err, "cohortctl: "));
    g_unlink(f->conf);

    /* a lost code: the trainer hands out a new one, which redeems */
    {
        g_autoptr(Run) invite = CTL(f, f->trainer, "cohort", "invite", slug, login);
        g_autoptr(Run) quiet = CTL(f, f->trainer, "-q", "cohort", "invite", slug, login);
        g_autoptr(Run) stranger = CTL(f, f->trainer, "cohort", "invite", slug, "no-such-trainee");
        g_autoptr(Run) fresh = NULL;
        g_autofree gchar *new_code = NULL;

        expect_ok(invite);
        assert_contains(invite->out, "Code:");
        assert_contains(invite->out, "cohortctl redeem CODE");
        expect_ok(quiet);
        new_code = g_strstrip(g_strdup(quiet->out));
        assert_int_equal(strlen(new_code), 19);
        /* the code printed by the first invite was withdrawn by the second */
        fresh =
            ctl_run_full(f, NULL, NULL, NULL,
                         (const gchar *const[]){"redeem", new_code, "--url", f->daemon->url, NULL});
        expect_ok(fresh);
        assert_contains(fresh->out, login);
        expect_error(stranger, 4, "not-found");
        g_unlink(f->conf);
    }
    /* the trainee leaves the course: the job is followed, and a second time is refused */
    {
        g_autoptr(Run) unenrol = CTL(f, f->trainer, "cohort", "unenrol", slug, login);
        g_autoptr(Run) again_unenrol = CTL(f, f->trainer, "cohort", "unenrol", slug, login);
        g_autoptr(Run) show = CTL(f, f->trainer, "--json", "cohort", "show", slug);

        expect_ok(unenrol);
        assert_contains(unenrol->out, "unenrol");
        expect_error(again_unenrol, 4, "not-found");
        expect_ok(show);
        assert_null(strstr(show->out, login));
    }
}

/* Codes for a whole cohort: who kept theirs, new ones for all, the cards as CSV. */
static void
test_cohortctl_invitations(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "cards");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autofree gchar *sok_login = sok(slug);
    g_autofree gchar *zaw_login = zaw(slug);
    g_autoptr(Run) kept = CTL(f, f->trainer, "cohort", "invitations", slug);
    g_autoptr(Run) cards = CTL(f, f->trainer, "cohort", "invitations", slug, "--reissue", "--csv");
    g_autoptr(Run) quiet = CTL(f, f->trainer, "-q", "cohort", "invitations", slug, "--reissue");
    g_autoptr(Run) json = CTL(f, f->trainer, "--json", "cohort", "invitations", slug);
    g_autoptr(Run) missing = CTL(f, f->trainer, "cohort", "invitations", "no-such-cohort");
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) fields = NULL;
    g_autofree gchar *zaw_line = NULL;

    /* both hold the roster's code: kept, none new */
    expect_ok(kept);
    assert_contains(kept->out, "No new code.");
    assert_contains(kept->out, "Kept their code");
    assert_contains(kept->out, sok_login);
    assert_contains(kept->out, zaw_login);

    /* the cards: a header, one line per trainee, the name quoted where it holds a comma */
    expect_ok(cards);
    lines = g_strsplit(cards->out, "\r\n", -1);
    assert_int_equal(g_strv_length(lines), 4);
    assert_string_equal(lines[0], "login,display_name,code,expires_at,url");
    assert_string_equal(lines[3], "");
    fields = g_strsplit(lines[1], ",", -1);
    assert_string_equal(fields[0], sok_login);
    assert_string_equal(fields[1], "សុខ ដារា (Sok Dara)");
    assert_int_equal(strlen(fields[2]), 19);
    assert_string_equal(fields[4], f->daemon->url);
    zaw_line = g_strdup_printf("%s,\"ဇော်မင်း (Zaw Min), Yangon\",", zaw_login);
    assert_true(g_str_has_prefix(lines[2], zaw_line));
    /* nothing but cards on stdout, nothing kept to say on stderr */
    assert_string_equal(cards->err, "");

    /* -q: login and code; reissued again, so the CSV's codes no longer work */
    expect_ok(quiet);
    assert_contains(quiet->out, sok_login);
    assert_int_equal(strlen(quiet->out),
                     (strlen(sok_login) + 1 + 19 + 1) + (strlen(zaw_login) + 1 + 19 + 1));
    {
        g_autoptr(Run) stale = ctl_run_full(
            f, NULL, NULL, NULL,
            (const gchar *const[]){"redeem", fields[2], "--url", f->daemon->url, NULL});
        assert_true(stale->status != 0);
        g_unlink(f->conf);
    }
    expect_ok(json);
    {
        g_autoptr(JsonNode) node = parse_json(json);
        JsonObject *o = json_node_get_object(node);
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "invitations")), 0);
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "pending")), 2);
    }
    expect_error(missing, 4, "not-found");
    (void)roster;
}

/* --- exit codes -------------------------------------------------------------------------- */

static void
test_cohortctl_exit_auth(void **state)
{
    Fixture *f = *state;
    g_autoptr(Run) no_token = CTL(f, NULL, "host", "list");
    g_autoptr(Run) bad_token = CTL(f, "cohort_not-a-token", "whoami");
    g_autoptr(Run) forbidden =
        CTL(f, f->trainer, "host", "add", "lab9", "--uri", "test:///default");

    g_unlink(f->conf);
    expect_status(no_token, 3);
    assert_contains(no_token->err, "cohortctl login");
    expect_error(bad_token, 3, "unauthenticated");
    expect_error(forbidden, 3, "forbidden");
}

static void
test_cohortctl_exit_not_found(void **state)
{
    Fixture *f = *state;
    const gchar *admin = f->daemon->admin_token;
    g_autoptr(Run) cohort = CTL(f, admin, "cohort", "show", "no-such-cohort");
    g_autoptr(Run) machine = CTL(f, admin, "machine", "show", "999999");
    g_autoptr(Run) job = CTL(f, admin, "job", "show", "999999");
    g_autoptr(Run) template = CTL(f, admin, "template", "show", "no-such-template");
    g_autofree gchar *slug = new_slug(f, "nf");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autofree gchar *login = sok(slug);
    g_autofree gchar *ref = g_strdup_printf("%s/%s", slug, login);
    g_autoptr(Run) by_ref = CTL(f, admin, "machine", "show", ref);

    expect_error(cohort, 4, "not-found");
    expect_error(machine, 4, "not-found");
    expect_error(job, 4, "not-found");
    expect_error(template, 4, "not-found");
    /* enrolled, but without a machine yet */
    expect_error(by_ref, 4, "not-found");
}

static void
test_cohortctl_exit_conflict(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "conflict");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autoptr(Run) again =
        CTL(f, f->trainer, "cohort", "create", slug, "--template", "tiny", "--title", "X",
            "--starts", "2026-01-01", "--ends", "2030-01-01", "--max-machines", "1");
    g_autofree gchar *login = zaw(slug);
    g_autoptr(Run) first = CTL(f, f->trainer, "machine", "request", slug, "--trainee", login);
    g_autoptr(Run) over = CTL(f, f->trainer, "machine", "request", slug, "--trainee", login);

    expect_error(again, 5, "conflict");
    expect_ok(first);
    expect_error(over, 5, "quota-exceeded");
}

static void
test_cohortctl_exit_invalid(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "invalid");
    g_autofree gchar *bad_roster =
        g_build_filename(COHORT_TEST_DATADIR, "rosters", "bad-many.csv", NULL);
    g_autofree gchar *prefix = g_strdup_printf("%s:3: ", bad_roster);
    g_autoptr(Run) backwards =
        CTL(f, f->trainer, "cohort", "create", "backwards", "--template", "tiny", "--title", "X",
            "--starts", "2026-03-01", "--ends", "2026-02-01", "--max-machines", "1");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autoptr(Run) refused = CTL(f, f->trainer, "cohort", "roster", slug, bad_roster);
    g_auto(GStrv) lines = NULL;

    expect_error(backwards, 7, "invalid-argument");
    expect_error(refused, 7, "invalid-argument");
    /* every bad line, as FILE:LINE: message, then the summary */
    lines = g_strsplit(refused->err, "\n", -1);
    assert_true(g_strv_length(lines) >= 7);
    assert_true(g_str_has_prefix(lines[0], prefix));
    for (guint i = 0; lines[i + 2] != NULL; i++) {
        if (!g_str_has_prefix(lines[i], bad_roster))
            fail_msg("line %u of stderr is not FILE:LINE: %s", i, lines[i]);
    }
}

static void
test_cohortctl_exit_unreachable(void **state)
{
    Fixture *f = *state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    gint fd = socket(AF_INET, SOCK_STREAM, 0);
    g_autofree gchar *url = NULL;
    g_autofree gchar *expected = NULL;
    g_autoptr(Run) r = NULL;

    /* a port that was free a moment ago: nobody listens there */
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    url = g_strdup_printf("http://127.0.0.1:%u", ntohs(addr.sin_port));
    expected = g_strdup_printf("cohortctl: cannot reach cohortd at %s: ", url);
    r = ctl_run_full(f, url, "cohort_x", NULL, (const gchar *const[]){"machine", "list", NULL});
    expect_status(r, 6);
    assert_string_equal(r->out, "");
    assert_true(g_str_has_prefix(r->err, expected));
    /* one line: no library noise */
    assert_int_equal(strchr(r->err, '\n') - r->err + 1, (gint)strlen(r->err));
}

/* --- users, hosts, templates, audit ----------------------------------------------------- */

static void
test_cohortctl_users(void **state)
{
    Fixture *f = *state;
    const gchar *admin = f->daemon->admin_token;
    g_autoptr(Run) created = CTL(f, admin, "-q", "user", "create", "keo-sreyneang", "--role",
                                 "trainee", "--display-name", "កែវ ស្រីនាង");
    g_autoptr(Run) list = CTL(f, admin, "--json", "user", "list");
    g_autoptr(Run) table = CTL(f, admin, "user", "list");
    g_autoptr(Run) quiet = CTL(f, admin, "user", "list", "--quiet");
    g_autoptr(Run) token = NULL;
    g_autoptr(Run) with_new = NULL;
    g_autoptr(Run) revoke = NULL;
    g_autoptr(Run) after = NULL;
    g_autoptr(JsonNode) users = NULL;
    g_autofree gchar *first_token = NULL;
    g_autofree gchar *second_token = NULL;
    g_auto(GStrv) lines = NULL;
    JsonObject *u;

    expect_ok(created);
    first_token = g_strstrip(g_strdup(created->out));
    assert_true(first_token[0] != '\0' && strchr(first_token, ' ') == NULL);
    expect_ok(list);
    users = parse_json(list);
    u = find_in(json_node_get_array(users), "login", "keo-sreyneang");
    assert_non_null(u);
    assert_string_equal(json_object_get_string_member(u, "display_name"), "កែវ ស្រីនាង");
    assert_string_equal(json_object_get_string_member(u, "role"), "trainee");
    assert_true(json_object_has_member(u, "created_at"));
    expect_ok(table);
    lines = g_strsplit(table->out, "\n", -1);
    assert_true(g_str_has_prefix(lines[0], "LOGIN "));
    assert_contains(table->out, "keo-sreyneang");
    expect_ok(quiet);
    assert_contains(quiet->out, "keo-sreyneang\n");
    assert_null(strchr(quiet->out, ' '));

    token = CTL(f, admin, "user", "token", "keo-sreyneang", "-q");
    expect_ok(token);
    second_token = g_strstrip(g_strdup(token->out));
    assert_string_not_equal(first_token, second_token);
    with_new = CTL(f, second_token, "whoami", "-q");
    expect_ok(with_new);
    assert_string_equal(with_new->out, "keo-sreyneang\n");

    revoke = CTL(f, admin, "--json", "user", "revoke", "keo-sreyneang");
    expect_ok(revoke);
    {
        g_autoptr(JsonNode) node = parse_json(revoke);
        JsonObject *o = json_node_get_object(node);
        assert_string_equal(json_object_get_string_member(o, "login"), "keo-sreyneang");
        assert_true(json_object_get_int_member(o, "revoked") >= 2);
    }
    after = CTL(f, first_token, "whoami");
    expect_error(after, 3, "unauthenticated");
}

static void
test_cohortctl_hosts(void **state)
{
    Fixture *f = *state;
    const gchar *admin = f->daemon->admin_token;
    g_autoptr(Run) added =
        CTL(f, admin, "--json", "host", "add", "lab-extra", "--uri", "test:///default", "--pool",
            "default-pool", "--vcpus", "8", "--memory-mib", "4096");
    g_autoptr(Run) drained = CTL(f, admin, "--json", "host", "drain", "lab-extra");
    g_autoptr(Run) list = CTL(f, admin, "--json", "host", "list");
    g_autoptr(Run) table = CTL(f, admin, "host", "list");
    g_autoptr(Run) missing = CTL(f, admin, "host", "drain", "no-such-host");
    g_autoptr(JsonNode) hosts = NULL;
    JsonObject *h;

    expect_ok(added);
    {
        g_autoptr(JsonNode) node = parse_json(added);
        JsonObject *o = json_node_get_object(node);
        assert_string_equal(json_object_get_string_member(o, "name"), "lab-extra");
        assert_int_equal(json_object_get_int_member(o, "vcpus"), 8);
        assert_int_equal(json_object_get_int_member(o, "memory_mib"), 4096);
        assert_true(json_object_has_member(o, "used_vcpus"));
    }
    expect_ok(drained);
    {
        g_autoptr(JsonNode) node = parse_json(drained);
        assert_string_equal(json_object_get_string_member(json_node_get_object(node), "state"),
                            "draining");
    }
    expect_ok(list);
    hosts = parse_json(list);
    h = find_in(json_node_get_array(hosts), "name", "lab-extra");
    assert_non_null(h);
    assert_string_equal(json_object_get_string_member(h, "state"), "draining");
    expect_ok(table);
    assert_true(g_str_has_prefix(table->out, "NAME "));
    assert_contains(table->out, "draining");
    /* used of what placement allows: 8 vCPUs times the default ratio of 4 */
    assert_contains(table->out, "0/32 (8x4)");
    expect_error(missing, 4, "not-found");

    /* ratios when added and changed later; undrain takes it back */
    {
        g_autofree gchar *small_uri =
            g_strdup_printf("test://%s/small-host.xml", COHORT_TEST_DATADIR);
        g_autoptr(Run) ratios =
            CTL(f, admin, "--json", "host", "add", "lab-ratios", "--uri", small_uri, "--cpu-ratio",
                "2", "--memory-ratio", "1.5", "--disk-ratio", "3");
        g_autoptr(Run) set = CTL(f, admin, "--json", "host", "set", "lab-ratios", "--cpu-ratio",
                                 "0.5", "--vcpus", "8");
        g_autoptr(Run) nothing = CTL(f, admin, "host", "set", "lab-ratios");
        g_autoptr(Run) bad = CTL(f, admin, "host", "set", "lab-ratios", "--cpu-ratio", "2,5");
        g_autoptr(Run) undrained = CTL(f, admin, "--json", "host", "undrain", "lab-extra");
        g_autoptr(Run) forbidden = CTL(f, f->trainer, "host", "set", "lab-extra", "--vcpus", "1");
        g_autoptr(JsonNode) a = NULL;
        g_autoptr(JsonNode) b = NULL;
        g_autoptr(JsonNode) u = NULL;
        expect_ok(ratios);
        a = parse_json(ratios);
        assert_string_equal(json_object_get_string_member(json_node_get_object(a), "state"),
                            "connecting");
        assert_true(json_object_get_double_member(json_node_get_object(a), "cpu_ratio") == 2.0);
        assert_true(json_object_get_double_member(json_node_get_object(a), "memory_ratio") == 1.5);
        assert_true(json_object_get_double_member(json_node_get_object(a), "disk_ratio") == 3.0);
        expect_ok(set);
        b = parse_json(set);
        assert_int_equal(json_object_get_int_member(json_node_get_object(b), "allowed_vcpus"), 4);
        expect_status(nothing, 2);
        assert_contains(nothing->err, "host set needs something to change");
        expect_status(bad, 2);
        assert_contains(bad->err, "--cpu-ratio takes a number above 0");
        expect_ok(undrained);
        u = parse_json(undrained);
        assert_string_equal(json_object_get_string_member(json_node_get_object(u), "state"), "up");
        expect_error(forbidden, 3, "forbidden");
        {
            g_autoptr(Run) removed = CTL(f, admin, "host", "remove", "lab-ratios");
            expect_ok(removed);
        }
    }

    /* one libvirt host once; a test:/// file the daemon is not meant to read is refused
     * elsewhere (allow_test_hosts); removal of a host nothing lives on */
    {
        g_autoptr(Run) twice = CTL(f, admin, "host", "add", "lab-twice", "--uri", "test:///default",
                                   "--pool", "default-pool");
        g_autoptr(Run) forbidden = CTL(f, f->trainer, "host", "remove", "lab-extra");
        g_autoptr(Run) removed = CTL(f, admin, "host", "remove", "lab-extra");
        g_autoptr(Run) again = CTL(f, admin, "host", "remove", "lab-extra");
        g_autoptr(Run) after = CTL(f, admin, "-q", "host", "list");
        expect_error(twice, 5, "conflict");
        assert_contains(twice->err, "host 'lab-extra' has this libvirt URI already");
        expect_error(forbidden, 3, "forbidden");
        expect_ok(removed);
        assert_contains(removed->out, "host lab-extra removed; 0 reclaimed machines");
        expect_error(again, 4, "not-found");
        expect_ok(after);
        assert_null(strstr(after->out, "lab-extra"));
    }
}

static void
test_cohortctl_templates(void **state)
{
    Fixture *f = *state;
    g_autoptr(Run) list = CTL(f, f->trainer, "--json", "template", "list");
    g_autoptr(Run) quiet = CTL(f, f->trainer, "-q", "template", "list");
    g_autoptr(Run) show = CTL(f, f->trainer, "--json", "template", "show", "tiny");
    g_autoptr(Run) table = CTL(f, f->trainer, "template", "show", "tiny");
    g_autoptr(Run) base =
        CTL(f, f->daemon->admin_token, "--json", "template", "base", "tiny", "--blank");
    g_autoptr(Run) forbidden = CTL(f, f->trainer, "template", "base", "tiny", "--blank");
    g_autoptr(Run) relative =
        CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--path", "images/base.qcow2");
    /* base images come from the images directory alone */
    g_autofree gchar *missing_path =
        g_build_filename(f->daemon->images_dir, "nonexistent.qcow2", NULL);
    g_autofree gchar *sub = g_build_filename(f->daemon->images_dir, "sub", NULL);
    g_autofree gchar *escape = g_build_filename(f->daemon->images_dir, "escape.qcow2", NULL);
    g_autofree gchar *dotdot = g_build_filename(f->daemon->images_dir, "..", "cohort.db", NULL);
    g_autoptr(Run) missing = NULL;
    g_autoptr(Run) directory = NULL;
    g_autoptr(Run) outside = NULL;
    g_autoptr(Run) link = NULL;
    g_autoptr(Run) parent = NULL;
    g_autoptr(JsonNode) templates = NULL;
    g_autoptr(JsonNode) tiny = NULL;
    JsonArray *hosts;

    assert_int_equal(g_mkdir(sub, 0700), 0);
    assert_int_equal(symlink("/etc/passwd", escape), 0);
    missing = CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--path", missing_path);
    directory = CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--path", sub);
    outside = CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--path", "/etc/passwd");
    link = CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--path", escape);
    parent = CTL(f, f->daemon->admin_token, "template", "base", "tiny", "--path", dotdot);
    g_unlink(escape);
    g_rmdir(sub);
    expect_ok(list);
    templates = parse_json(list);
    assert_non_null(find_in(json_node_get_array(templates), "name", "tiny"));
    expect_ok(quiet);
    assert_contains(quiet->out, "tiny\n");
    expect_ok(show);
    tiny = parse_json(show);
    assert_string_equal(json_object_get_string_member(json_node_get_object(tiny), "name"), "tiny");
    hosts = json_object_get_array_member(json_node_get_object(tiny), "hosts");
    assert_true(json_array_get_length(hosts) >= 1);
    assert_true(
        json_object_get_boolean_member(json_array_get_object_element(hosts, 0), "has_base"));
    expect_ok(table);
    assert_contains(table->out, "Base volume:");
    assert_contains(table->out, "HOST");
    /* the base exists already: the answer says what cohortd did, not a usage failure */
    assert_true(base->status != 2 && base->status != 6);
    expect_error(forbidden, 3, "forbidden");
    /* a reload, the admin's: nothing changed on disk */
    {
        g_autoptr(Run) reload = CTL(f, f->daemon->admin_token, "template", "reload");
        g_autoptr(Run) refused = CTL(f, f->trainer, "template", "reload");
        expect_ok(reload);
        assert_contains(reload->out, "NAME");
        assert_true(g_regex_match_simple("^tiny +unchanged$", reload->out, G_REGEX_MULTILINE, 0));
        expect_error(refused, 3, "forbidden");
    }
    /* a bad --path says what is wrong with it */
    expect_error(relative, 7, "invalid-argument");
    assert_contains(relative->err, "must be an absolute path");
    expect_error(missing, 7, "invalid-argument");
    assert_contains(missing->err, "nonexistent.qcow2' does not exist");
    expect_error(directory, 7, "invalid-argument");
    assert_contains(directory->err, "is not a regular image file");
    /* nothing else of cohortd's machine: not a file elsewhere, nor through a link or '..' */
    expect_error(outside, 7, "invalid-argument");
    assert_contains(outside->err, "'/etc/passwd' is not under the images directory");
    assert_contains(outside->err, f->daemon->images_dir);
    expect_error(link, 7, "invalid-argument");
    assert_contains(link->err, "leads out of the images directory");
    expect_error(parent, 7, "invalid-argument");
    assert_contains(parent->err, "has a '..' in it");
}

/* A reload with a file that does not load: each such file on stderr, exit 7, nothing changes.
 * Its own cohortd, on a templates directory of its own. */
static void
test_cohortctl_template_reload_bad(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-ctl-templates-XXXXXX", &error);
    g_autofree gchar *config = NULL;
    g_autofree gchar *tiny = NULL;
    g_autofree gchar *schema = NULL;
    g_autofree gchar *tiny_copy = NULL;
    g_autofree gchar *schema_copy = NULL;
    g_autofree gchar *bad = NULL;
    g_autofree gchar *src = NULL;
    g_autoptr(Run) refused = NULL;
    g_autoptr(Run) list = NULL;
    CohortTestDaemon *d;

    if (error != NULL)
        fail_msg("%s", error->message);
    src = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    assert_true(g_file_get_contents(src, &tiny, NULL, NULL));
    g_free(src);
    src = g_build_filename(COHORT_TEMPLATESDIR_SRC, "cohort-template.rng", NULL);
    assert_true(g_file_get_contents(src, &schema, NULL, NULL));
    tiny_copy = g_build_filename(dir, "tiny.xml", NULL);
    schema_copy = g_build_filename(dir, "cohort-template.rng", NULL);
    assert_true(g_file_set_contents(tiny_copy, tiny, -1, NULL));
    assert_true(g_file_set_contents(schema_copy, schema, -1, NULL));
    config = g_strdup_printf("[daemon]\ntemplates_dir=%s\n", dir);
    d = cohort_test_daemon_start_with_config(config, &error);
    if (error != NULL)
        fail_msg("%s", error->message);

    bad = g_build_filename(dir, "broken.xml", NULL);
    assert_true(g_file_set_contents(bad, "<domain type='qemu'><name>broken</name>", -1, NULL));
    refused = ctl_run_full(f, d->url, d->admin_token, NULL,
                           (const gchar *const[]){"template", "reload", NULL});
    expect_error(refused, 7, "invalid-argument");
    assert_true(g_str_has_prefix(refused->err, bad));
    assert_contains(refused->err, "nothing was reloaded");
    assert_string_equal(refused->out, "");
    list = ctl_run_full(f, d->url, d->admin_token, NULL,
                        (const gchar *const[]){"-q", "template", "list", NULL});
    expect_ok(list);
    assert_string_equal(list->out, "tiny\n");

    cohort_test_daemon_stop(d);
    g_unlink(bad);
    g_unlink(tiny_copy);
    g_unlink(schema_copy);
    assert_int_equal(g_rmdir(dir), 0);
}

static void
test_cohortctl_audit(void **state)
{
    Fixture *f = *state;
    g_autoptr(Run) json = CTL(f, f->daemon->admin_token, "--json", "audit", "list", "--limit", "3");
    g_autoptr(Run) table = CTL(f, f->daemon->admin_token, "audit", "list", "-n", "5");
    g_autoptr(Run) forbidden = CTL(f, f->trainer, "audit", "list");
    g_autoptr(JsonNode) entries = NULL;
    JsonArray *a;

    expect_ok(json);
    entries = parse_json(json);
    a = json_node_get_array(entries);
    assert_true(json_array_get_length(a) >= 1 && json_array_get_length(a) <= 3);
    for (const gchar *const *m =
             (const gchar *const[]){"id", "at", "actor", "action", "target", "result", NULL};
         *m != NULL; m++)
        assert_true(json_object_has_member(json_array_get_object_element(a, 0), *m));
    expect_ok(table);
    assert_true(g_str_has_prefix(table->out, "ID "));
    assert_contains(table->out, "ACTOR");
    assert_true(count_lines(table->out) <= 7);
    expect_error(forbidden, 3, "forbidden");
}

/* --- cohorts, jobs, machines ------------------------------------------------------------ */

static void
test_cohortctl_cohort_crud(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "crud");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "2");
    g_autoptr(Run) list = CTL(f, f->trainer, "--json", "cohort", "list");
    g_autoptr(Run) table = CTL(f, f->trainer, "cohort", "list");
    g_autoptr(Run) show = CTL(f, f->trainer, "--json", "cohort", "show", slug);
    g_autoptr(Run) show_table = CTL(f, f->trainer, "cohort", "show", slug);
    g_autoptr(Run) update =
        CTL(f, f->trainer, "--json", "cohort", "update", slug, "--title", "Cloud 102", "--ends",
            "2031-06-30", "--grace-hours", "0", "--max-machines", "3");
    g_autoptr(JsonNode) cohorts = NULL;
    g_autoptr(JsonNode) cohort = NULL;
    g_autoptr(JsonNode) updated = NULL;
    JsonObject *c;

    /* the roster answer (make_cohort checked the two invitations) */
    assert_int_equal(json_object_get_int_member(json_node_get_object(roster), "enrolled"), 2);

    expect_ok(list);
    cohorts = parse_json(list);
    c = find_in(json_node_get_array(cohorts), "slug", slug);
    assert_non_null(c);
    assert_string_equal(json_object_get_string_member(c, "starts_at"), "2026-01-01T00:00:00Z");
    assert_string_equal(json_object_get_string_member(c, "ends_at"), "2030-12-31T23:59:59Z");
    assert_string_equal(json_object_get_string_member(c, "template"), "tiny-lan");
    assert_string_equal(json_object_get_string_member(c, "trainer"), "tr-test");
    expect_ok(table);
    assert_true(g_str_has_prefix(table->out, "SLUG "));
    assert_contains(table->out, slug);

    expect_ok(show);
    cohort = parse_json(show);
    assert_int_equal(json_array_get_length(
                         json_object_get_array_member(json_node_get_object(cohort), "trainees")),
                     2);
    expect_ok(show_table);
    assert_contains(show_table->out, "Trainees: 2");
    assert_contains(show_table->out,
                    "Lease:                none: machines live as long as the cohort");
    assert_contains(show_table->out, "សុខ ដារា (Sok Dara)");
    assert_contains(show_table->out, "ဇော်မင်း (Zaw Min), Yangon");

    expect_ok(update);
    updated = parse_json(update);
    c = json_node_get_object(updated);
    assert_string_equal(json_object_get_string_member(c, "title"), "Cloud 102");
    assert_string_equal(json_object_get_string_member(c, "ends_at"), "2031-06-30T23:59:59Z");
    assert_int_equal(json_object_get_int_member(c, "grace_hours"), 0);
    assert_int_equal(
        json_object_get_int_member(json_object_get_object_member(c, "quota"), "machines"), 3);
}

/* stdout is a pipe here: plain progress lines, one per change, the last one complete; a
 * reclaim then says what it freed. */
static void
assert_progress_lines(const gchar *out, const gchar *verb, const gchar *slug, gint total)
{
    g_autofree gchar *pattern = g_strdup_printf(
        "^%s %s: [0-9]+/%d done, [0-9]+ failed, [0-9]+\\.[0-9] s$", verb, slug, total);
    g_autofree gchar *last_prefix =
        g_strdup_printf("%s %s: %d/%d done, 0 failed, ", verb, slug, total, total);
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    guint n = 0;

    assert_null(strchr(out, '\r'));
    for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
        if (g_str_equal(verb, "reclaim") && i > 0 && g_str_has_prefix(lines[i], "Freed: ") &&
            (lines[i + 1] == NULL || lines[i + 1][0] == '\0'))
            break;
        if (!g_regex_match_simple(pattern, lines[i], 0, 0))
            fail_msg("not a progress line: '%s' (all: %s)", lines[i], out);
        /* one line per change: the counts never repeat */
        if (i > 0 && g_str_has_prefix(lines[i - 1], verb)) {
            g_autofree gchar *before =
                g_strndup(lines[i - 1], strstr(lines[i - 1], " failed") - lines[i - 1]);
            g_autofree gchar *now = g_strndup(lines[i], strstr(lines[i], " failed") - lines[i]);
            if (g_strcmp0(before, now) == 0)
                fail_msg("progress repeated: '%s' (all: %s)", lines[i], out);
        }
        n = i;
    }
    assert_true(g_str_has_prefix(lines[n], last_prefix));
}

static void
test_cohortctl_provision_machines(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "prov");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "2");
    g_autofree gchar *login = sok(slug);
    g_autofree gchar *ref = g_strdup_printf("%s/%s", slug, login);
    g_autoptr(Run) provision = CTL(f, f->trainer, "cohort", "provision", slug);
    g_autoptr(Run) list = NULL;
    g_autoptr(Run) table = NULL;
    g_autoptr(Run) show = NULL;
    g_autoptr(Run) console = NULL;
    g_autoptr(Run) reclaim = NULL;
    g_autoptr(Run) after = NULL;
    g_autoptr(Run) gone = NULL;
    g_autoptr(JsonNode) machines = NULL;
    g_autoptr(JsonNode) machine = NULL;
    g_autofree gchar *id = NULL;
    static const gchar *const actions[] = {"stop", "start", "reboot", "reset", NULL};

    expect_ok(provision);
    assert_progress_lines(provision->out, "provision", slug, 2);

    list = CTL(f, f->trainer, "--json", "machine", "list", "--cohort", slug);
    expect_ok(list);
    machines = parse_json(list);
    assert_int_equal(json_array_get_length(json_node_get_array(machines)), 2);
    for (const gchar *const *k =
             (const gchar *const[]){"id", "name", "cohort", "trainee", "host", "state", "pending",
                                    "vcpus", "memory_mib", "created_at", NULL};
         *k != NULL; k++)
        assert_true(json_object_has_member(
            json_array_get_object_element(json_node_get_array(machines), 0), *k));
    table = CTL(f, f->trainer, "machine", "list", "-c", slug);
    expect_ok(table);
    assert_true(g_str_has_prefix(table->out, "ID "));
    assert_int_equal(count_lines(table->out), 4);

    /* COHORT/TRAINEE and the id name the same machine */
    show = CTL(f, f->trainer, "--json", "machine", "show", ref);
    expect_ok(show);
    machine = parse_json(show);
    assert_string_equal(json_object_get_string_member(json_node_get_object(machine), "trainee"),
                        login);
    assert_string_equal(json_object_get_string_member(json_node_get_object(machine), "cohort"),
                        slug);
    id = g_strdup_printf("%" G_GINT64_FORMAT,
                         json_object_get_int_member(json_node_get_object(machine), "id"));
    {
        g_autoptr(Run) by_id = CTL(f, f->trainer, "machine", "show", id, "-q");
        expect_ok(by_id);
        assert_string_equal(g_strstrip(by_id->out), id);
    }
    for (guint i = 0; actions[i] != NULL; i++) {
        g_autoptr(Run) r = CTL(f, f->trainer, "--json", "machine", actions[i], i % 2 ? id : ref);
        g_autoptr(JsonNode) m = NULL;
        g_autofree gchar *at_rest = NULL;
        expect_ok(r);
        m = parse_json(r);
        assert_int_equal(json_object_get_int_member(json_node_get_object(m), "id"),
                         g_ascii_strtoll(id, NULL, 10));
        at_rest = wait_machine(f, f->trainer, id);
        assert_string_equal(at_rest, g_strcmp0(actions[i], "stop") == 0 ? "stopped" : "running");
    }
    console = CTL(f, f->trainer, "--json", "machine", "console", ref);
    expect_ok(console);
    {
        g_autoptr(JsonNode) c = parse_json(console);
        assert_true(json_object_has_member(json_node_get_object(c), "password"));
        assert_true(json_object_has_member(json_node_get_object(c), "host"));
    }
    /* the test driver serves no VNC: -q has no URI to print, and says so */
    {
        g_autoptr(Run) quiet_console = CTL(f, f->trainer, "-q", "machine", "console", ref);
        expect_status(quiet_console, 1);
        assert_string_equal(quiet_console->out, "");
        assert_contains(quiet_console->err, "has no console to reach now");
    }

    /* a second machine: COHORT/TRAINEE no longer says which, the machine's name does */
    {
        g_autoptr(Run) second =
            CTL(f, f->trainer, "-q", "machine", "request", slug, "--trainee", login);
        g_autoptr(Run) ambiguous = NULL;
        g_autoptr(Run) by_name = NULL;
        g_autofree gchar *second_id = NULL;
        g_autofree gchar *name = g_strdup_printf("cohort-%s--%s--2", slug, login);
        g_autofree gchar *second_state = NULL;

        expect_ok(second);
        second_id = g_strstrip(g_strdup(second->out));
        second_state = wait_machine(f, f->trainer, second_id);
        assert_string_equal(second_state, "running");
        ambiguous = CTL(f, f->trainer, "machine", "show", ref);
        expect_status(ambiguous, 2);
        assert_contains(ambiguous->err, "has 2 machines");
        assert_contains(ambiguous->err, name);
        by_name = CTL(f, f->trainer, "--json", "machine", "show", name);
        expect_ok(by_name);
        {
            g_autoptr(JsonNode) m = parse_json(by_name);
            assert_int_equal(json_object_get_int_member(json_node_get_object(m), "id"),
                             g_ascii_strtoll(second_id, NULL, 10));
        }
    }

    reclaim = CTL(f, f->trainer, "cohort", "reclaim", slug);
    expect_ok(reclaim);
    assert_progress_lines(reclaim->out, "reclaim", slug, 3);
    /* what it gave back, in words */
    assert_non_null(strstr(reclaim->out, "Freed: 3 machines, 3 vCPUs, 192.0 MiB of memory, "));
    after = CTL(f, f->trainer, "--json", "machine", "list", "--cohort", slug);
    expect_ok(after);
    {
        g_autoptr(JsonNode) a = parse_json(after);
        JsonArray *arr = json_node_get_array(a);
        for (guint i = 0; i < json_array_get_length(arr); i++)
            assert_string_equal(
                json_object_get_string_member(json_array_get_object_element(arr, i), "state"),
                "reclaimed");
    }
    /* a reclaimed machine is not picked for COHORT/TRAINEE */
    gone = CTL(f, f->trainer, "machine", "show", ref);
    expect_error(gone, 4, "not-found");
    assert_contains(gone->err, "that you can see");
}

static void
test_cohortctl_no_wait_job(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "nowait");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autoptr(Run) started = CTL(f, f->trainer, "-q", "cohort", "provision", slug, "--no-wait");
    g_autoptr(Run) waited = NULL;
    g_autoptr(Run) shown = NULL;
    g_autoptr(Run) table = NULL;
    g_autofree gchar *id = NULL;

    expect_ok(started);
    id = g_strstrip(g_strdup(started->out));
    assert_true(g_regex_match_simple("^[0-9]+$", id, 0, 0));
    waited = CTL(f, f->trainer, "job", "show", id, "--wait");
    expect_ok(waited);
    assert_progress_lines(waited->out, "job", id, 2);
    shown = CTL(f, f->trainer, "--json", "job", "show", id);
    expect_ok(shown);
    {
        g_autoptr(JsonNode) j = parse_json(shown);
        JsonObject *o = json_node_get_object(j);
        assert_int_equal(json_object_get_int_member(o, "id"), g_ascii_strtoll(id, NULL, 10));
        assert_string_equal(json_object_get_string_member(o, "kind"), "provision");
        assert_string_equal(json_object_get_string_member(o, "state"), "done");
        assert_int_equal(json_object_get_int_member(o, "total"), 2);
        assert_int_equal(json_object_get_int_member(o, "done"), 2);
        assert_int_equal(json_object_get_int_member(o, "failed"), 0);
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "errors")), 0);
    }
    table = CTL(f, f->trainer, "job", "show", id);
    expect_ok(table);
    assert_contains(table->out, "State:");
    assert_contains(table->out, "done");
}

/* --wait-ready on the test driver, whose machines run but never say they are ready: the
 * provisioning is done, the wait gives up after --ready-timeout naming the machines and what
 * to look at, and exits 1; the options that do not go together are usage errors. */
static void
test_cohortctl_wait_ready_timeout(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "ready");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "2");
    g_autofree gchar *login = sok(slug);
    g_autoptr(Run) both =
        CTL(f, f->trainer, "cohort", "provision", slug, "--no-wait", "--wait-ready");
    g_autoptr(Run) alone = CTL(f, f->trainer, "cohort", "provision", slug, "--ready-timeout", "5");
    g_autoptr(Run) zero = NULL;
    g_autoptr(Run) waited = NULL;
    g_autoptr(Run) list = NULL;

    expect_status(both, 2);
    assert_contains(both->err, "--no-wait");
    expect_status(alone, 2);
    assert_contains(alone->err, "--ready-timeout goes with --wait-ready");
    zero =
        CTL(f, f->trainer, "cohort", "provision", slug, "--wait-ready", "--ready-timeout", "soon");
    expect_status(zero, 2);
    assert_contains(zero->err, "--ready-timeout");

    waited =
        CTL(f, f->trainer, "cohort", "provision", slug, "--wait-ready", "--ready-timeout", "1");
    expect_status(waited, 1);
    {
        g_autofree gchar *done = g_strdup_printf("provision %s: 2/2 done, 0 failed", slug);
        assert_contains(waited->out, done);
        assert_contains(waited->out, "Ready: 0 of 2 machines");
    }
    assert_contains(waited->err, "after 1 s, 2 of 2 machines of ");
    assert_contains(waited->err, login);
    assert_contains(waited->err, "(running)");
    assert_contains(waited->err, "--ready-timeout SECONDS");
    /* the wait failed, not the provisioning: both machines are there and running */
    list = CTL(f, f->trainer, "--json", "machine", "list", "--cohort", slug);
    expect_ok(list);
    {
        g_autoptr(JsonNode) machines = parse_json(list);
        JsonArray *a = json_node_get_array(machines);
        assert_int_equal(json_array_get_length(a), 2);
        for (guint i = 0; i < 2; i++) {
            JsonObject *m = json_array_get_object_element(a, i);
            assert_string_equal(json_object_get_string_member(m, "state"), "running");
            assert_false(json_object_get_boolean_member(m, "ready"));
        }
    }
}

/* A cohort's timetable through cohortctl: rules, a cancellation, the zone and the weekly hours
 * outside sessions written, shown as text and JSON; a bad rule refused with the schedule as it
 * was; the capacity plan of a cohort that fits; --clear. */
static void
test_cohortctl_schedule_plan(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "sched");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autoptr(Run) set =
        CTL(f, f->trainer, "-q", "cohort", "schedule", slug, "--add", "mon-fri 08:00-12:00",
            "--add", "mon,wed 13:30-16:30", "--cancel", "2030-01-07", "--time-zone",
            "Asia/Phnom_Penh", "--outside-hours", "4");
    g_autoptr(Run) bad = NULL;
    g_autoptr(Run) json = NULL;
    g_autoptr(Run) text = NULL;
    g_autoptr(Run) plan = NULL;
    g_autoptr(Run) plan_json = NULL;
    g_autoptr(Run) cleared = NULL;

    expect_ok(set);
    bad = CTL(f, f->trainer, "cohort", "schedule", slug, "--add", "mon 25:00-26:00");
    expect_error(bad, 7, "invalid-argument");
    assert_contains(bad->err, "25:00");

    json = CTL(f, f->trainer, "--json", "cohort", "schedule", slug);
    expect_ok(json);
    {
        g_autoptr(JsonNode) node = parse_json(json);
        JsonObject *o = json_node_get_object(node);
        JsonArray *rules = json_object_get_array_member(o, "rules");
        assert_string_equal(json_object_get_string_member(o, "time_zone"), "Asia/Phnom_Penh");
        assert_int_equal(json_object_get_int_member(o, "outside_hours_per_week"), 4);
        /* the bad rule was not added */
        assert_int_equal(json_array_get_length(rules), 2);
        assert_string_equal(json_array_get_string_element(rules, 0), "mon-fri 08:00-12:00");
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "cancel")), 1);
    }
    text = CTL(f, f->trainer, "cohort", "schedule", slug);
    expect_ok(text);
    assert_contains(text->out, "Time zone:  Asia/Phnom_Penh");
    assert_contains(text->out, "mon-fri 08:00-12:00");
    assert_contains(text->out, "Upcoming:");

    plan = CTL(f, f->trainer, "cohort", "plan", slug);
    expect_ok(plan);
    assert_contains(plan->out, "Fits:       yes");
    assert_contains(plan->out, "HOST");
    plan_json = CTL(f, f->trainer, "--json", "cohort", "plan", slug);
    expect_ok(plan_json);
    {
        g_autoptr(JsonNode) node = parse_json(plan_json);
        assert_true(json_object_get_boolean_member(json_node_get_object(node), "fits"));
    }

    cleared = CTL(f, f->trainer, "--json", "cohort", "schedule", slug, "--clear");
    expect_ok(cleared);
    {
        g_autoptr(JsonNode) node = parse_json(cleared);
        JsonObject *o = json_node_get_object(node);
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "rules")), 0);
        assert_int_equal(json_array_get_length(json_object_get_array_member(o, "cancel")), 0);
    }
}

static void
test_cohortctl_trainee_request_release(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *slug = new_slug(f, "self");
    g_autoptr(JsonNode) roster = make_cohort(f, slug, "1");
    g_autofree gchar *login = zaw(slug);
    g_autoptr(Run) redeemed = NULL;
    g_autoptr(Run) requested = NULL;
    g_autoptr(Run) mine = NULL;
    g_autoptr(Run) released = NULL;
    g_autoptr(Run) others = NULL;
    g_autofree gchar *token = NULL;
    g_autofree gchar *id = NULL;
    g_autofree gchar *at_rest = NULL;

    redeemed = ctl_run_full(f, NULL, NULL, NULL,
                            (const gchar *const[]){"--json", "redeem", code_of(roster, login),
                                                   "--url", f->daemon->url, NULL});
    expect_ok(redeemed);
    {
        g_autoptr(JsonNode) r = parse_json(redeemed);
        token = g_strdup(json_object_get_string_member(json_node_get_object(r), "token"));
    }
    g_unlink(f->conf);
    requested = CTL(f, token, "--json", "machine", "request", slug);
    expect_ok(requested);
    {
        g_autoptr(JsonNode) m = parse_json(requested);
        JsonObject *o = json_node_get_object(m);
        assert_string_equal(json_object_get_string_member(o, "trainee"), login);
        id = g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(o, "id"));
    }
    at_rest = wait_machine(f, token, id);
    assert_string_equal(at_rest, "running");
    mine = CTL(f, token, "-q", "machine", "list");
    expect_ok(mine);
    assert_contains(mine->out, id);
    /* a trainee sees no host list */
    others = CTL(f, token, "host", "list");
    expect_error(others, 3, "forbidden");
    released = CTL(f, token, "machine", "release", id);
    expect_ok(released);
    assert_contains(released->out, id);
}

/* `machine VERB --wait` follows the machine to where libvirt has it, a line per state it
 * shows; it exits 1, with the machine's error, when the work fails. Its own cohortd on a
 * templates directory of its own, whose template then loses its base: a reset then fails. */
static void
test_cohortctl_machine_wait(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *dir = g_dir_make_tmp("cohort-ctl-wait-XXXXXX", &error);
    g_autofree gchar *src = NULL;
    g_autofree gchar *tiny = NULL;
    g_autofree gchar *schema = NULL;
    g_autofree gchar *tiny_copy = NULL;
    g_autofree gchar *schema_copy = NULL;
    g_autofree gchar *config = NULL;
    g_autofree gchar *roster = NULL;
    g_autofree gchar *id = NULL;
    const gchar *ref = "wait-1/sok-wait";
    CohortTestDaemon *d;

    if (error != NULL)
        fail_msg("%s", error->message);
    src = g_build_filename(COHORT_TEMPLATESDIR_SRC, "tiny.xml", NULL);
    assert_true(g_file_get_contents(src, &tiny, NULL, NULL));
    g_free(src);
    src = g_build_filename(COHORT_TEMPLATESDIR_SRC, "cohort-template.rng", NULL);
    assert_true(g_file_get_contents(src, &schema, NULL, NULL));
    tiny_copy = g_build_filename(dir, "tiny.xml", NULL);
    schema_copy = g_build_filename(dir, "cohort-template.rng", NULL);
    assert_true(g_file_set_contents(tiny_copy, tiny, -1, NULL));
    assert_true(g_file_set_contents(schema_copy, schema, -1, NULL));
    roster = g_build_filename(dir, "roster.csv", NULL);
    assert_true(g_file_set_contents(roster, "login,display_name\nsok-wait,Sok\n", -1, NULL));
    config = g_strdup_printf("[daemon]\ntemplates_dir=%s\n", dir);
    d = cohort_test_daemon_start_with_config(config, &error);
    if (error != NULL)
        fail_msg("%s", error->message);
#define CTL_D(...)                                                                                 \
    ctl_run_full(f, d->url, d->admin_token, NULL, (const gchar *const[]){__VA_ARGS__, NULL})
    {
        g_autoptr(Run) base = CTL_D("template", "base", "tiny", "--blank");
        g_autoptr(Run) created =
            CTL_D("cohort", "create", "wait-1", "--template", "tiny", "--title", "Wait", "--starts",
                  "2026-01-01", "--ends", "2030-12-31", "--max-machines", "1");
        g_autoptr(Run) loaded = CTL_D("cohort", "roster", "wait-1", roster);
        g_autoptr(Run) provision = CTL_D("cohort", "provision", "wait-1");
        expect_ok(base);
        expect_ok(created);
        expect_ok(loaded);
        expect_ok(provision);
    }
    {
        /* a line for each state, the last where the stop leads */
        g_autoptr(Run) stop = CTL_D("machine", "stop", ref, "--wait");
        g_auto(GStrv) lines = NULL;
        guint n;
        expect_ok(stop);
        lines = g_strsplit(g_strstrip(stop->out), "\n", -1);
        n = g_strv_length(lines);
        assert_true(n >= 1);
        assert_true(g_str_has_suffix(lines[n - 1], ": stopped"));
        assert_true(g_str_has_prefix(lines[0], "Machine "));
    }
    {
        g_autoptr(Run) start = CTL_D("-q", "machine", "start", ref, "--wait");
        g_autoptr(Run) show = NULL;
        g_autoptr(Run) list = NULL;
        g_autoptr(Run) json = NULL;
        g_autoptr(JsonNode) m = NULL;
        expect_ok(start);
        id = g_strdup(g_strstrip(start->out));
        assert_true(g_ascii_strtoll(id, NULL, 10) > 0);
        json = CTL_D("--json", "machine", "reboot", id, "--wait");
        expect_ok(json);
        m = parse_json(json);
        assert_string_equal(json_object_get_string_member(json_node_get_object(m), "state"),
                            "running");
        assert_int_equal(
            json_array_get_length(json_object_get_array_member(json_node_get_object(m), "pending")),
            0);
        /* show and list say what waits (nothing now) */
        show = CTL_D("machine", "show", id);
        expect_ok(show);
        assert_true(g_regex_match_simple("^State: +running$", show->out, G_REGEX_MULTILINE, 0));
        assert_true(g_regex_match_simple("^Pending: +-$", show->out, G_REGEX_MULTILINE, 0));
        /* the test driver's guests have no agent: not ready, no address */
        assert_true(g_regex_match_simple("^Ready: +no$", show->out, G_REGEX_MULTILINE, 0));
        assert_true(g_regex_match_simple("^Address: +-$", show->out, G_REGEX_MULTILINE, 0));
        list = CTL_D("machine", "list", "-c", "wait-1");
        expect_ok(list);
        assert_contains(list->out, " PENDING ");
        assert_contains(list->out, " READY ");
        assert_contains(list->out, " ADDRESS ");
    }
    {
        /* the template loses its base: the reset tears the machine down and cannot make it */
        g_autofree gchar *broken = NULL;
        g_autoptr(GRegex) re = g_regex_new("volume=\"tiny-base.qcow2\"", 0, 0, NULL);
        g_autoptr(Run) reload = NULL;
        g_autoptr(Run) reset = NULL;
        broken = g_regex_replace_literal(re, tiny, -1, 0, "volume=\"gone-base.qcow2\"", 0, NULL);
        assert_true(g_strcmp0(broken, tiny) != 0);
        assert_true(g_file_set_contents(tiny_copy, broken, -1, NULL));
        reload = CTL_D("template", "reload");
        expect_ok(reload);
        reset = CTL_D("machine", "reset", id, "--wait");
        expect_status(reset, 1);
        assert_contains(reset->out, "resetting");
        assert_contains(reset->err, "failed");
        assert_contains(reset->err, "no base volume");
    }
#undef CTL_D
    cohort_test_daemon_stop(d);
    g_unlink(roster);
    g_unlink(tiny_copy);
    g_unlink(schema_copy);
    assert_int_equal(g_rmdir(dir), 0);
}

/* Leases from the command line: a cohort with one, a machine that gets it, one extension
 * allowed and a second refused (exit 5); usage shows what is held. */
static void
test_cohortctl_lease_extend_usage(void **state)
{
    Fixture *f = *state;
    g_autofree gchar *sok_login = sok("lease-1");
    g_autofree gchar *ref = g_strdup_printf("lease-1/%s", sok_login);
    g_autoptr(Run) created =
        CTL(f, f->trainer, "cohort", "create", "lease-1", "--template", "tiny", "--title", "Leased",
            "--starts", "2026-01-01", "--ends", "2030-12-31", "--max-machines", "1",
            "--lease-hours", "6", "--max-extensions", "1");
    g_autoptr(Run) shown = NULL;
    g_autoptr(Run) requested = NULL;
    g_autoptr(Run) extended = NULL;
    g_autoptr(Run) again = NULL;
    g_autoptr(Run) usage = NULL;
    g_autoptr(Run) usage_json = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autofree gchar *roster = g_strdup_printf("%s/roster-lease.csv", f->home);
    g_autofree gchar *csv = g_strdup_printf("login,display_name\n%s,Sok Dara\n", sok_login);
    g_autoptr(Run) loaded = NULL;

    expect_ok(created);
    shown = CTL(f, f->trainer, "--json", "cohort", "show", "lease-1");
    expect_ok(shown);
    node = parse_json(shown);
    assert_int_equal(
        json_object_get_int_member(
            json_object_get_object_member(json_node_get_object(node), "lease"), "hours"),
        6);
    assert_true(g_file_set_contents(roster, csv, -1, NULL));
    loaded = CTL(f, f->trainer, "cohort", "roster", "lease-1", roster);
    expect_ok(loaded);
    requested = CTL(f, f->trainer, "machine", "request", "lease-1", "--trainee", sok_login);
    expect_ok(requested);
    extended = CTL(f, f->trainer, "machine", "extend", ref);
    expect_ok(extended);
    assert_contains(extended->out, "its lease now runs until");
    again = CTL(f, f->trainer, "machine", "extend", ref);
    expect_error(again, 5, "quota-exceeded");
    usage = CTL(f, f->daemon->admin_token, "usage", "--trainees");
    expect_ok(usage);
    assert_contains(usage->out, "MACHINE-HOURS");
    assert_contains(usage->out, sok_login);
    usage_json = CTL(f, f->daemon->admin_token, "--json", "usage");
    expect_ok(usage_json);
    json_node_unref(parse_json(usage_json));
    g_unlink(roster);
}

/* --- TLS: cohortd on HTTPS with certificates made now ----------------------------------- */

#define CTL_AT(f, url, token, ...)                                                                 \
    ctl_run_full((f), (url), (token), NULL, (const gchar *const[]){__VA_ARGS__, NULL})

/* cohortctl verifies cohortd's certificate against --ca-file (or COHORT_CA_FILE, or ca_file=
 * in client.conf); another CA, another name, a URL of the wrong scheme or a CA file that is
 * not one fail with exit 6 (2 for the file) and words saying what to change. */
static void
test_cohortctl_tls(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    g_autoptr(CohortTestTls) tls = cohort_test_tls_new(&error);
    g_autofree gchar *extra = NULL;
    g_autofree gchar *plain_url = NULL;
    g_autofree gchar *https_of_plain = NULL;
    g_autofree gchar *by_name = NULL;
    g_autofree gchar *not_pem = g_build_filename(f->home, "not-a-ca.pem", NULL);
    g_autofree gchar *hint = NULL;
    g_autofree gchar *text = NULL;
    CohortTestDaemon *d;

    if (tls == NULL)
        fail_msg("cannot make test certificates: %s", error->message);
    extra =
        g_strdup_printf("[daemon]\ntls_cert=%s\ntls_key=%s\n", tls->server_cert, tls->server_key);
    d = cohort_test_daemon_start_with_config(extra, &error);
    if (d == NULL)
        fail_msg("cohortd with TLS did not start: %s", error->message);
    assert_true(g_str_has_prefix(d->url, "https://127.0.0.1:"));
    plain_url = g_strconcat("http", d->url + strlen("https"), NULL);
    https_of_plain = g_strconcat("https", f->daemon->url + strlen("http"), NULL);
    by_name = g_strconcat("https://localhost", strrchr(d->url, ':'), NULL);

    {
        /* the CA that signed it: works */
        g_autoptr(Run) r = CTL_AT(f, d->url, d->admin_token, "--ca-file", tls->ca, "whoami", "-q");
        expect_ok(r);
        assert_string_equal(r->out, "admin\n");
        assert_string_equal(r->err, "");
    }
    {
        /* another CA: refused, naming the file and what to give instead */
        g_autoptr(Run) r =
            CTL_AT(f, d->url, d->admin_token, "--ca-file", tls->other_ca, "whoami", "-q");
        g_autofree gchar *names = g_strdup_printf("not signed by a CA in %s", tls->other_ca);
        expect_status(r, 6);
        assert_string_equal(r->out, "");
        assert_contains(r->err, d->url);
        assert_contains(r->err, "its TLS certificate is not trusted");
        assert_contains(r->err, names);
        assert_contains(r->err, "tls_cert");
    }
    {
        /* no CA file: the system's CAs do not know it, and --ca-file is what to use */
        g_autoptr(Run) r = CTL_AT(f, d->url, d->admin_token, "whoami", "-q");
        expect_status(r, 6);
        assert_contains(r->err, "not signed by a CA this system trusts");
        assert_contains(r->err, "--ca-file");
        assert_contains(r->err, "COHORT_CA_FILE");
    }
    {
        /* the right CA, the wrong name: the certificate is for 127.0.0.1 only */
        g_autoptr(Run) r = CTL_AT(f, by_name, d->admin_token, "--ca-file", tls->ca, "whoami");
        expect_status(r, 6);
        assert_contains(r->err, "is not made out to localhost");
    }
    {
        /* plain HTTP to the HTTPS port */
        g_autoptr(Run) r = CTL_AT(f, plain_url, d->admin_token, "whoami");
        expect_status(r, 6);
        hint = g_strdup_printf("use %s", d->url);
        assert_contains(r->err, "cohortd serves HTTPS there");
        assert_contains(r->err, hint);
    }
    {
        /* and HTTPS to a plain port */
        g_autoptr(Run) r =
            CTL_AT(f, https_of_plain, f->daemon->admin_token, "--ca-file", tls->ca, "whoami");
        g_autofree gchar *use = g_strdup_printf("use %s", f->daemon->url);
        expect_status(r, 6);
        assert_contains(r->err, "TLS handshake failed");
        assert_contains(r->err, use);
    }
    {
        /* a CA file that holds no certificate: a usage error, before any connection */
        g_autoptr(Run) r = NULL;
        assert_true(g_file_set_contents(not_pem, "not a certificate\n", -1, NULL));
        r = CTL_AT(f, d->url, d->admin_token, "--ca-file", not_pem, "whoami");
        expect_status(r, 2);
        assert_contains(r->err, not_pem);
        assert_contains(r->err, "holds no PEM certificate");
        g_unlink(not_pem);
    }
    {
        /* COHORT_CA_FILE does as --ca-file; --ca-file wins over it */
        g_autoptr(Run) env = NULL;
        g_autoptr(Run) wins = NULL;
        f->ca_file_env = tls->ca;
        env = CTL_AT(f, d->url, d->admin_token, "whoami", "-q");
        wins = CTL_AT(f, d->url, d->admin_token, "--ca-file", tls->other_ca, "whoami", "-q");
        f->ca_file_env = NULL;
        expect_ok(env);
        expect_status(wins, 6);
    }
    {
        /* login --ca-file stores it with the URL: then nothing else is needed */
        g_autoptr(Run) login = NULL;
        g_autoptr(Run) whoami = NULL;
        g_autoptr(Run) relogin = NULL;
        g_unlink(f->conf);
        login = ctl_run_full(f, NULL, NULL, NULL,
                             (const gchar *const[]){"login", "--url", d->url, "--token",
                                                    d->admin_token, "--ca-file", tls->ca, NULL});
        expect_ok(login);
        assert_true(g_file_get_contents(f->conf, &text, NULL, NULL));
        assert_contains(text, "ca_file=");
        assert_contains(text, tls->ca);
        whoami = ctl_run_full(f, NULL, NULL, NULL, (const gchar *const[]){"whoami", "-q", NULL});
        expect_ok(whoami);
        assert_string_equal(whoami->out, "admin\n");
        /* a login to a plain URL drops it: the CA went with the other URL */
        relogin = ctl_run_full(f, NULL, NULL, NULL,
                               (const gchar *const[]){"login", "--url", f->daemon->url, "--token",
                                                      f->daemon->admin_token, NULL});
        expect_ok(relogin);
        g_free(text);
        text = NULL;
        assert_true(g_file_get_contents(f->conf, &text, NULL, NULL));
        assert_null(strstr(text, "ca_file="));
        g_unlink(f->conf);
    }
    cohort_test_daemon_stop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cohortctl_help),
        cmocka_unit_test(test_cohortctl_usage_exit_2),
        cmocka_unit_test(test_cohortctl_whoami),
        cmocka_unit_test(test_cohortctl_keys),
        cmocka_unit_test(test_cohortctl_login_conf),
        cmocka_unit_test(test_cohortctl_redeem),
        cmocka_unit_test(test_cohortctl_invitations),
        cmocka_unit_test(test_cohortctl_exit_auth),
        cmocka_unit_test(test_cohortctl_exit_not_found),
        cmocka_unit_test(test_cohortctl_exit_conflict),
        cmocka_unit_test(test_cohortctl_exit_invalid),
        cmocka_unit_test(test_cohortctl_exit_unreachable),
        cmocka_unit_test(test_cohortctl_users),
        cmocka_unit_test(test_cohortctl_hosts),
        cmocka_unit_test(test_cohortctl_templates),
        cmocka_unit_test(test_cohortctl_template_reload_bad),
        cmocka_unit_test(test_cohortctl_audit),
        cmocka_unit_test(test_cohortctl_cohort_crud),
        cmocka_unit_test(test_cohortctl_provision_machines),
        cmocka_unit_test(test_cohortctl_no_wait_job),
        cmocka_unit_test(test_cohortctl_wait_ready_timeout),
        cmocka_unit_test(test_cohortctl_schedule_plan),
        cmocka_unit_test(test_cohortctl_trainee_request_release),
        cmocka_unit_test(test_cohortctl_lease_extend_usage),
        cmocka_unit_test(test_cohortctl_tls),
        cmocka_unit_test(test_cohortctl_machine_wait),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
