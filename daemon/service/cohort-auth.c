#define G_LOG_DOMAIN "cohort-auth"

#include "config.h"

#include <string.h>
#include <sys/random.h>

#include "cohort-auth.h"
#include "cohort-error.h"

static const gchar *cohort_role_names[] = {
    [COHORT_ROLE_NONE] = "none",
    [COHORT_ROLE_TRAINEE] = "trainee",
    [COHORT_ROLE_TRAINER] = "trainer",
    [COHORT_ROLE_ADMIN] = "admin",
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_role_names) == COHORT_ROLE_LAST);

static const gchar *cohort_action_names[] = {
    [COHORT_ACTION_WHOAMI] = "whoami",
    [COHORT_ACTION_HOST_MANAGE] = "manage hosts",
    [COHORT_ACTION_TEMPLATE_READ] = "read templates",
    [COHORT_ACTION_TEMPLATE_MANAGE] = "manage templates",
    [COHORT_ACTION_USER_MANAGE] = "manage users",
    [COHORT_ACTION_AUDIT_READ] = "read the audit log",
    [COHORT_ACTION_USAGE_READ] = "read usage",
    [COHORT_ACTION_COHORT_CREATE] = "create cohorts",
    [COHORT_ACTION_COHORT_READ] = "read cohorts",
    [COHORT_ACTION_COHORT_MANAGE] = "manage cohorts",
    [COHORT_ACTION_MACHINE_REQUEST] = "request machines",
    [COHORT_ACTION_MACHINE_READ] = "read machines",
    [COHORT_ACTION_MACHINE_OPERATE] = "operate machines",
    [COHORT_ACTION_JOB_READ] = "read jobs",
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_action_names) == COHORT_ACTION_LAST);

/* The lowest role that may do each action at all; object rules come on top. */
static const CohortRole cohort_action_min_role[] = {
    [COHORT_ACTION_WHOAMI] = COHORT_ROLE_TRAINEE,
    [COHORT_ACTION_HOST_MANAGE] = COHORT_ROLE_ADMIN,
    [COHORT_ACTION_TEMPLATE_READ] = COHORT_ROLE_TRAINEE,
    [COHORT_ACTION_TEMPLATE_MANAGE] = COHORT_ROLE_ADMIN,
    [COHORT_ACTION_USER_MANAGE] = COHORT_ROLE_ADMIN,
    [COHORT_ACTION_AUDIT_READ] = COHORT_ROLE_ADMIN,
    [COHORT_ACTION_USAGE_READ] = COHORT_ROLE_ADMIN,
    [COHORT_ACTION_COHORT_CREATE] = COHORT_ROLE_TRAINER,
    [COHORT_ACTION_COHORT_READ] = COHORT_ROLE_TRAINEE,
    [COHORT_ACTION_COHORT_MANAGE] = COHORT_ROLE_TRAINER,
    [COHORT_ACTION_MACHINE_REQUEST] = COHORT_ROLE_TRAINEE,
    [COHORT_ACTION_MACHINE_READ] = COHORT_ROLE_TRAINEE,
    [COHORT_ACTION_MACHINE_OPERATE] = COHORT_ROLE_TRAINEE,
    [COHORT_ACTION_JOB_READ] = COHORT_ROLE_TRAINEE,
};
G_STATIC_ASSERT(G_N_ELEMENTS(cohort_action_min_role) == COHORT_ACTION_LAST);

CohortRole
cohort_role_from_string(const gchar *role)
{
    for (guint i = COHORT_ROLE_TRAINEE; i < COHORT_ROLE_LAST; i++) {
        if (g_strcmp0(role, cohort_role_names[i]) == 0)
            return (CohortRole)i;
    }
    return COHORT_ROLE_NONE;
}

const gchar *
cohort_role_to_string(CohortRole role)
{
    g_return_val_if_fail(role < COHORT_ROLE_LAST, "none");
    return cohort_role_names[role];
}

const gchar *
cohort_action_to_string(CohortAction action)
{
    g_return_val_if_fail(action < COHORT_ACTION_LAST, "unknown");
    return cohort_action_names[action];
}

gboolean
cohort_auth_role_allowed(CohortRole role, CohortAction action)
{
    g_return_val_if_fail(action < COHORT_ACTION_LAST, FALSE);
    return role != COHORT_ROLE_NONE && role >= cohort_action_min_role[action];
}

gboolean
cohort_auth_object_allowed(CohortRole role, CohortAction action, const CohortAuthRelation *rel)
{
    if (!cohort_auth_role_allowed(role, action))
        return FALSE;
    if (role == COHORT_ROLE_ADMIN || rel == NULL)
        return TRUE;
    switch (action) {
    case COHORT_ACTION_COHORT_READ:
        return role == COHORT_ROLE_TRAINEE ? rel->is_enrolled : rel->is_cohort_trainer;
    case COHORT_ACTION_COHORT_MANAGE:
        return role == COHORT_ROLE_TRAINER && rel->is_cohort_trainer;
    case COHORT_ACTION_MACHINE_REQUEST:
        /* a trainee in a cohort of theirs; a trainer for a cohort of theirs */
        return role == COHORT_ROLE_TRAINEE ? rel->is_enrolled : rel->is_cohort_trainer;
    case COHORT_ACTION_MACHINE_READ:
    case COHORT_ACTION_MACHINE_OPERATE:
        return rel->is_owner || (role == COHORT_ROLE_TRAINER && rel->is_cohort_trainer);
    case COHORT_ACTION_JOB_READ:
        return rel->is_owner;
    case COHORT_ACTION_TEMPLATE_READ:
        /* trainees see the templates of their own cohorts */
        return role != COHORT_ROLE_TRAINEE || rel->is_enrolled;
    default:
        return TRUE;
    }
}

gboolean
cohort_auth_check(CohortRole role, CohortAction action, const CohortAuthRelation *rel,
                  const gchar *what, GError **error)
{
    if (role == COHORT_ROLE_NONE) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_UNAUTHENTICATED,
                    "a valid token is needed: send 'Authorization: Bearer TOKEN' (cohortctl "
                    "login, or redeem an invitation)");
        return FALSE;
    }
    if (!cohort_auth_role_allowed(role, action)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN, "a %s may not %s",
                    cohort_role_to_string(role), cohort_action_to_string(action));
        return FALSE;
    }
    if (!cohort_auth_object_allowed(role, action, rel)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_NOT_FOUND, "no %s", what);
        return FALSE;
    }
    return TRUE;
}

/* GRand is not a CSPRNG: secrets come from the kernel. getrandom() on a few bytes only
 * blocks before the pool is initialized at boot, and is not interrupted by signals. */
static void
cohort_auth_random_bytes(guint8 *buf, gsize len)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n > 0)
            done += (gsize)n;
    }
}

gchar *
cohort_auth_token_new(void)
{
    guint8 raw[32];
    g_autofree gchar *b64 = NULL;

    cohort_auth_random_bytes(raw, sizeof(raw));
    b64 = g_base64_encode(raw, sizeof(raw));
    /* base64url, unpadded: safe in headers, files and shells */
    g_strdelimit(b64, "+", '-');
    g_strdelimit(b64, "/", '_');
    for (gchar *p = b64 + strlen(b64); p > b64 && p[-1] == '='; p--)
        p[-1] = '\0';
    return g_strconcat("cohort_", b64, NULL);
}

gchar *
cohort_auth_invitation_code_new(void)
{
    /* no 0/O, 1/I/L: read aloud or copied from a slide without mistakes */
    static const gchar alphabet[] = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    const guint n = sizeof(alphabet) - 1;
    GString *code = g_string_new(NULL);

    for (guint i = 0; i < 16;) {
        guint8 raw;
        cohort_auth_random_bytes(&raw, 1);
        /* rejection sampling: every letter equally likely */
        if (raw >= 256 - 256 % n)
            continue;
        if (i > 0 && i % 4 == 0)
            g_string_append_c(code, '-');
        g_string_append_c(code, alphabet[raw % n]);
        i++;
    }
    return g_string_free(code, FALSE);
}

gchar *
cohort_auth_secret_hash(const gchar *secret)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
}

/* Whether @a and @b are the same bytes, in a time that depends on their lengths only: the
 * memo may hold another client's token, when a proxy sends several clients' requests over one
 * connection. */
static gboolean
cohort_auth_token_equal(const gchar *a, const gchar *b)
{
    gsize len = strlen(a);
    guchar diff = 0;

    if (strlen(b) != len)
        return FALSE;
    for (gsize i = 0; i < len; i++)
        diff |= (guchar)a[i] ^ (guchar)b[i];
    return diff == 0;
}

const gchar *
cohort_auth_token_memo_hash(CohortAuthTokenMemo *memo, const gchar *token)
{
    if (memo->token != NULL && cohort_auth_token_equal(memo->token, token))
        return memo->hash;
    cohort_auth_token_memo_clear(memo);
    memo->token = g_strdup(token);
    memo->hash = cohort_auth_secret_hash(token);
    return memo->hash;
}

void
cohort_auth_token_memo_clear(CohortAuthTokenMemo *memo)
{
    if (memo->token != NULL)
        explicit_bzero(memo->token, strlen(memo->token));
    g_clear_pointer(&memo->token, g_free);
    g_clear_pointer(&memo->hash, g_free);
}

gchar *
cohort_auth_invitation_code_hash(const gchar *code)
{
    GString *norm = g_string_new(NULL);
    g_autofree gchar *hash = NULL;

    for (const gchar *p = code; p != NULL && *p != '\0'; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        g_string_append_c(norm, g_ascii_toupper(*p));
    }
    hash = cohort_auth_secret_hash(norm->str);
    g_string_free(norm, TRUE);
    return g_steal_pointer(&hash);
}
