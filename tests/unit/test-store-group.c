/* The group commit of a turn's requests (cohort-store-group.c), on a real database file
 * read by a second connection: what a member is told is on disk when it is told. */
#define G_LOG_DOMAIN "test-store-group"

#include "config.h"

#include "cohort-test.h"

#include <glib/gstdio.h>

#include "cohort-error.h"
#include "cohort-store-private.h"
#include "cohort-store.h"

typedef struct {
    gchar *dir;
    gchar *path;
    CohortStore *store;
    sqlite3 *reader; /* another connection: sees only what was committed */
    GPtrArray *told; /* the logins, in the order their callers were told; "!" + login: failed */
} Fixture;

static int
fixture_setup(void **state)
{
    g_autoptr(GError) error = NULL;
    Fixture *f = g_new0(Fixture, 1);

    f->dir = g_dir_make_tmp("cohort-store-group-XXXXXX", &error);
    cohort_assert_no_error(error);
    f->path = g_build_filename(f->dir, "cohort.db", NULL);
    f->store = cohort_store_open(f->path, cohort_secret_key_new_random(NULL), &error);
    cohort_assert_no_error(error);
    assert_int_equal(sqlite3_open_v2(f->path, &f->reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    f->told = g_ptr_array_new_with_free_func(g_free);
    *state = f;
    return 0;
}

static int
fixture_teardown(void **state)
{
    Fixture *f = *state;
    const gchar *name;
    g_autoptr(GDir) dir = NULL;

    g_ptr_array_unref(f->told);
    sqlite3_close(f->reader);
    cohort_store_free(f->store);
    dir = g_dir_open(f->dir, 0, NULL);
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree gchar *path = g_build_filename(f->dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Whether the other connection sees a user of that login: committed. */
static gboolean
committed(Fixture *f, const gchar *login)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;

    assert_int_equal(
        sqlite3_prepare_v2(f->reader, "SELECT 1 FROM users WHERE login = ?1", -1, &stmt, NULL),
        SQLITE_OK);
    sqlite3_bind_text(stmt, 1, login, -1, SQLITE_STATIC);
    return sqlite3_step(stmt) == SQLITE_ROW;
}

static void
add_user(CohortStore *store, const gchar *login)
{
    g_autoptr(GError) error = NULL;
    /* created_at given: the insert fills a NULL one with a string of its own */
    CohortUserRow row = {.login = (gchar *)login,
                         .display_name = (gchar *)login,
                         .role = (gchar *)"trainee",
                         .created_at = (gchar *)"2026-12-01T08:00:00Z"};

    assert_true(cohort_store_user_insert(store, &row, &error));
    cohort_assert_no_error(error);
}

typedef struct {
    Fixture *f;
    gchar *login;
} Member;

static void
member_free(Member *m)
{
    g_free(m->login);
    g_free(m);
}

static void
member_told(const GError *error, gpointer user_data)
{
    Member *m = user_data;

    /* told once the row is on disk, not before: what the API's 202 promises */
    if (error == NULL)
        assert_true(committed(m->f, m->login));
    else
        assert_false(committed(m->f, m->login));
    g_ptr_array_add(m->f->told,
                    error == NULL ? g_strdup(m->login) : g_strconcat("!", m->login, NULL));
}

/* A member: its row in its savepoint, then told through the group. */
static void
member_request(Fixture *f, const gchar *login)
{
    g_autoptr(GError) error = NULL;
    Member *m = g_new0(Member, 1);

    m->f = f;
    m->login = g_strdup(login);
    assert_true(cohort_store_group_join(f->store, &error));
    cohort_assert_no_error(error);
    add_user(f->store, login);
    assert_true(cohort_store_commit(f->store, &error));
    cohort_assert_no_error(error);
    cohort_store_group_wait(f->store, member_told, m, (GDestroyNotify)member_free);
}

/* One turn of the main loop, as cohortd's: the group's source is due on it. */
static void
next_turn(void)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void
test_group_one_commit_next_turn(void **state)
{
    Fixture *f = *state;

    member_request(f, "sok-dara");
    member_request(f, "lina-chea");
    member_request(f, "vann-sopheak");
    assert_true(cohort_store_group_is_open(f->store));
    /* nothing committed and nobody told in the turn they asked in */
    assert_false(committed(f, "sok-dara"));
    assert_false(committed(f, "vann-sopheak"));
    assert_int_equal(f->told->len, 0);

    next_turn();
    assert_false(cohort_store_group_is_open(f->store));
    assert_int_equal(f->told->len, 3);
    assert_string_equal(g_ptr_array_index(f->told, 0), "sok-dara");
    assert_string_equal(g_ptr_array_index(f->told, 1), "lina-chea");
    assert_string_equal(g_ptr_array_index(f->told, 2), "vann-sopheak");

    /* and the next turn's requests make a group of their own */
    member_request(f, "kim-long");
    assert_true(cohort_store_group_is_open(f->store));
    next_turn();
    assert_int_equal(f->told->len, 4);
    assert_true(committed(f, "kim-long"));
}

/* Anyone else's write commits the group first: a single statement, a transaction, a
 * rollback with nothing of its own open. Its members are still told on the next turn. */
static void
test_group_committed_before_other_writes(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;

    member_request(f, "sok-dara");
    add_user(f->store, "admin-one");
    assert_false(cohort_store_group_is_open(f->store));
    assert_true(committed(f, "sok-dara"));
    assert_true(committed(f, "admin-one"));
    assert_int_equal(f->told->len, 0);

    member_request(f, "lina-chea");
    assert_true(cohort_store_begin(f->store, &error));
    cohort_assert_no_error(error);
    assert_true(committed(f, "lina-chea"));
    add_user(f->store, "trainer-two");
    cohort_store_rollback(f->store);
    /* the other's rollback undid its own change only */
    assert_true(committed(f, "lina-chea"));
    assert_false(committed(f, "trainer-two"));

    member_request(f, "vann-sopheak");
    cohort_store_rollback(f->store);
    assert_true(committed(f, "vann-sopheak"));

    next_turn();
    assert_int_equal(f->told->len, 3);
    assert_string_equal(g_ptr_array_index(f->told, 2), "vann-sopheak");
}

/* A member that fails undoes its own part only. */
static void
test_group_member_rolled_back(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;

    member_request(f, "sok-dara");
    assert_true(cohort_store_group_join(f->store, &error));
    add_user(f->store, "lina-chea");
    cohort_store_rollback(f->store);
    member_request(f, "vann-sopheak");
    next_turn();
    assert_int_equal(f->told->len, 2);
    assert_true(committed(f, "sok-dara"));
    assert_false(committed(f, "lina-chea"));
    assert_true(committed(f, "vann-sopheak"));
}

static int
refuse_commit(void *data)
{
    return 1;
}

/* A COMMIT that fails: every member of the group is told so, and nothing of theirs stays. */
static void
test_group_commit_fails(void **state)
{
    Fixture *f = *state;

    member_request(f, "sok-dara");
    member_request(f, "lina-chea");
    sqlite3_commit_hook(f->store->db, refuse_commit, NULL);
    next_turn();
    sqlite3_commit_hook(f->store->db, NULL, NULL);
    assert_int_equal(f->told->len, 2);
    assert_string_equal(g_ptr_array_index(f->told, 0), "!sok-dara");
    assert_string_equal(g_ptr_array_index(f->told, 1), "!lina-chea");
    assert_false(committed(f, "sok-dara"));

    /* the store goes on */
    member_request(f, "sok-dara");
    next_turn();
    assert_int_equal(f->told->len, 3);
    assert_string_equal(g_ptr_array_index(f->told, 2), "sok-dara");
}

/* cohortd's stop: settle() commits and tells at once; a store freed with members waiting
 * commits them and drops what would tell them. */
static void
test_group_settled_at_stop(void **state)
{
    Fixture *f = *state;

    member_request(f, "sok-dara");
    cohort_store_group_settle(f->store);
    assert_int_equal(f->told->len, 1);
    assert_true(committed(f, "sok-dara"));

    member_request(f, "lina-chea");
    cohort_store_free(f->store);
    f->store = NULL;
    assert_int_equal(f->told->len, 1);
    assert_true(committed(f, "lina-chea"));
    /* no source is left to fire on a freed store */
    next_turn();
    assert_int_equal(f->told->len, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_one_commit_next_turn, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_group_committed_before_other_writes, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_group_member_rolled_back, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_fails, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_group_settled_at_stop, fixture_setup,
                                        fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
