/* Every authorization rule: role × action × relation to the object, each case asserted. */
#define G_LOG_DOMAIN "test-auth"

#include "config.h"

#include "cohort-test.h"

#include "cohort-auth.h"
#include "cohort-error.h"

/* Expected outcome per relation: what an unrelated user, the owner, the cohort's trainer and
 * an enrolled trainee get. 'O' allowed, 'F' forbidden (403), 'N' not found (404), 'U' 401. */
typedef struct {
    CohortRole role;
    CohortAction action;
    const gchar *expect; /* unrelated, owner, cohort trainer, enrolled */
} AuthCase;

static const AuthCase cases[] = {
    /* no token: 401 everywhere */
    {COHORT_ROLE_NONE, COHORT_ACTION_WHOAMI, "UUUU"},
    {COHORT_ROLE_NONE, COHORT_ACTION_COHORT_READ, "UUUU"},
    {COHORT_ROLE_NONE, COHORT_ACTION_MACHINE_OPERATE, "UUUU"},
    /* admin: everything, whatever the relation */
    {COHORT_ROLE_ADMIN, COHORT_ACTION_WHOAMI, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_HOST_MANAGE, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_TEMPLATE_READ, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_TEMPLATE_MANAGE, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_USER_MANAGE, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_AUDIT_READ, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_USAGE_READ, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_COHORT_CREATE, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_COHORT_READ, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_COHORT_MANAGE, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_MACHINE_REQUEST, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_MACHINE_READ, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_MACHINE_OPERATE, "OOOO"},
    {COHORT_ROLE_ADMIN, COHORT_ACTION_JOB_READ, "OOOO"},
    /* trainer: own cohorts and their trainees' machines */
    {COHORT_ROLE_TRAINER, COHORT_ACTION_WHOAMI, "OOOO"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_HOST_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_TEMPLATE_READ, "OOOO"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_TEMPLATE_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_USER_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_AUDIT_READ, "FFFF"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_USAGE_READ, "FFFF"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_COHORT_CREATE, "OOOO"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_COHORT_READ, "NNON"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_COHORT_MANAGE, "NNON"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_MACHINE_REQUEST, "NNON"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_MACHINE_READ, "NOON"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_MACHINE_OPERATE, "NOON"},
    {COHORT_ROLE_TRAINER, COHORT_ACTION_JOB_READ, "NONN"},
    /* trainee: own machines, own cohorts (and their templates) */
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_WHOAMI, "OOOO"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_HOST_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_TEMPLATE_READ, "NNNO"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_TEMPLATE_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_USER_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_AUDIT_READ, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_USAGE_READ, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_COHORT_CREATE, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_COHORT_READ, "NNNO"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_COHORT_MANAGE, "FFFF"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_MACHINE_REQUEST, "NNNO"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_MACHINE_READ, "NONN"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_MACHINE_OPERATE, "NONN"},
    {COHORT_ROLE_TRAINEE, COHORT_ACTION_JOB_READ, "NONN"},
};

static void
test_auth_table(void **state)
{
    const CohortAuthRelation relations[] = {
        {FALSE, FALSE, FALSE}, /* unrelated */
        {TRUE, FALSE, FALSE},  /* owner */
        {FALSE, TRUE, FALSE},  /* the cohort's trainer */
        {FALSE, FALSE, TRUE},  /* enrolled trainee */
    };
    guint checked = 0;

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        for (guint r = 0; r < G_N_ELEMENTS(relations); r++) {
            g_autoptr(GError) error = NULL;
            gboolean ok =
                cohort_auth_check(cases[i].role, cases[i].action, &relations[r], "object", &error);
            gchar got = ok                                            ? 'O'
                        : error->code == COHORT_ERROR_UNAUTHENTICATED ? 'U'
                        : error->code == COHORT_ERROR_FORBIDDEN       ? 'F'
                        : error->code == COHORT_ERROR_NOT_FOUND       ? 'N'
                                                                      : '?';
            if (got != cases[i].expect[r])
                fail_msg("%s may %s as relation %u: expected %c, got %c",
                         cohort_role_to_string(cases[i].role),
                         cohort_action_to_string(cases[i].action), r, cases[i].expect[r], got);
            assert_int_equal(ok, error == NULL);
            checked++;
        }
    }
    /* every role × action pair is in the table */
    assert_int_equal(G_N_ELEMENTS(cases), 3 + (COHORT_ROLE_LAST - 1) * COHORT_ACTION_LAST);
    assert_int_equal(checked, G_N_ELEMENTS(cases) * 4);
}

static void
test_auth_roles(void **state)
{
    assert_int_equal(cohort_role_from_string("admin"), COHORT_ROLE_ADMIN);
    assert_int_equal(cohort_role_from_string("trainer"), COHORT_ROLE_TRAINER);
    assert_int_equal(cohort_role_from_string("trainee"), COHORT_ROLE_TRAINEE);
    assert_int_equal(cohort_role_from_string("none"), COHORT_ROLE_NONE);
    assert_int_equal(cohort_role_from_string("Admin"), COHORT_ROLE_NONE);
    assert_int_equal(cohort_role_from_string(NULL), COHORT_ROLE_NONE);
}

static void
test_auth_secrets(void **state)
{
    g_autofree gchar *t1 = cohort_auth_token_new();
    g_autofree gchar *t2 = cohort_auth_token_new();
    g_autofree gchar *code = cohort_auth_invitation_code_new();
    g_autofree gchar *h1 = cohort_auth_invitation_code_hash(code);
    g_autofree gchar *lower = g_ascii_strdown(code, -1);
    g_autofree gchar *h2 = NULL;
    g_autofree gchar *th = cohort_auth_secret_hash(t1);

    assert_true(g_str_has_prefix(t1, "cohort_"));
    assert_int_equal(strlen(t1), strlen("cohort_") + 43);
    assert_string_not_equal(t1, t2);
    assert_null(strpbrk(t1, "+/="));
    assert_int_equal(strlen(code), 19);
    assert_int_equal(code[4], '-');
    assert_null(strpbrk(code, "01OIL"));
    /* typed in lower case or without dashes, it is the same code */
    g_strdelimit(lower, "-", ' ');
    h2 = cohort_auth_invitation_code_hash(lower);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(th), 64);
    assert_null(strstr(th, t1 + 7));
}

/* A connection's token memo answers the token's own hash: again for the same token, anew for
 * another (a prefix of it, one of the same length, a longer one), and nothing once cleared. */
static void
test_auth_token_memo(void **state)
{
    g_autofree gchar *t1 = cohort_auth_token_new();
    g_autofree gchar *t2 = g_strdup(t1);
    g_autofree gchar *longer = g_strconcat(t1, "x", NULL);
    g_autofree gchar *prefix = g_strndup(t1, strlen(t1) - 1);
    CohortAuthTokenMemo memo = {NULL};
    const gchar *tokens[] = {t1, t1, t2, prefix, longer, t1};

    t2[strlen(t2) - 1] = t2[strlen(t2) - 1] == 'A' ? 'B' : 'A';
    for (guint i = 0; i < G_N_ELEMENTS(tokens); i++) {
        g_autofree gchar *hash = cohort_auth_secret_hash(tokens[i]);
        assert_string_equal(cohort_auth_token_memo_hash(&memo, tokens[i]), hash);
        assert_string_equal(memo.token, tokens[i]);
    }
    cohort_auth_token_memo_clear(&memo);
    assert_null(memo.token);
    assert_null(memo.hash);
    cohort_auth_token_memo_clear(&memo);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_table),
        cmocka_unit_test(test_auth_roles),
        cmocka_unit_test(test_auth_secrets),
        cmocka_unit_test(test_auth_token_memo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
