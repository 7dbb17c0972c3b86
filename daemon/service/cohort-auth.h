/* Who may do what: tokens, and the authorization rules as one pure function (table-tested). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    COHORT_ROLE_NONE, /* no or unknown token */
    COHORT_ROLE_TRAINEE,
    COHORT_ROLE_TRAINER,
    COHORT_ROLE_ADMIN,
    COHORT_ROLE_LAST
} CohortRole;

typedef enum {
    COHORT_ACTION_WHOAMI,
    COHORT_ACTION_HOST_MANAGE,
    COHORT_ACTION_TEMPLATE_READ,
    COHORT_ACTION_TEMPLATE_MANAGE,
    COHORT_ACTION_USER_MANAGE,
    COHORT_ACTION_AUDIT_READ,
    COHORT_ACTION_USAGE_READ,
    COHORT_ACTION_COHORT_CREATE,
    COHORT_ACTION_COHORT_READ,
    COHORT_ACTION_COHORT_MANAGE, /* patch, roster, provision, reclaim */
    COHORT_ACTION_MACHINE_REQUEST,
    COHORT_ACTION_MACHINE_READ,
    COHORT_ACTION_MACHINE_OPERATE, /* start, stop, reboot, reset, release, console */
    COHORT_ACTION_JOB_READ,
    COHORT_ACTION_LAST
} CohortAction;

/* How the acting user relates to the object of the action. */
typedef struct {
    gboolean is_owner;          /* the trainee's own machine, the job's starter */
    gboolean is_cohort_trainer; /* the trainer of the object's cohort */
    gboolean is_enrolled;       /* a trainee enrolled in the object's cohort */
} CohortAuthRelation;

CohortRole cohort_role_from_string(const gchar *role);
const gchar *cohort_role_to_string(CohortRole role);
const gchar *cohort_action_to_string(CohortAction action);

/* Whether @role may do @action at all (any object): FALSE → 403 forbidden. */
gboolean cohort_auth_role_allowed(CohortRole role, CohortAction action);
/* Whether @role may do @action on an object it relates to as @rel: FALSE → 404 not-found
 * (existence must not leak to those it does not concern). @rel NULL means no object. */
gboolean cohort_auth_object_allowed(CohortRole role, CohortAction action,
                                    const CohortAuthRelation *rel);
/* Both, as a GError: COHORT_ERROR_UNAUTHENTICATED, _FORBIDDEN or _NOT_FOUND (@what names the
 * object in the not-found message). */
gboolean cohort_auth_check(CohortRole role, CohortAction action, const CohortAuthRelation *rel,
                           const gchar *what, GError **error);

/* A new random bearer token ("cohort_" + 43 base64url characters, 256 bits). */
gchar *cohort_auth_token_new(void);
/* A new invitation code a person can type: 4 groups of 4 from an unambiguous alphabet. */
gchar *cohort_auth_invitation_code_new(void);
/* SHA-256 hex: what the store keeps instead of the secret. Codes are compared without case
 * or dashes, so they are normalized first. */
gchar *cohort_auth_secret_hash(const gchar *secret);
gchar *cohort_auth_invitation_code_hash(const gchar *code);

/* The last token one connection sent, and its hash: a keep-alive connection sends the same
 * token with every request, and hashing it again was a quarter of cohortd's own work on a
 * list request (issue 14). The hash is the token's alone, so nothing makes it stale; who the
 * token belongs to, and whether it still works, is still asked of the store every time. */
typedef struct {
    gchar *token;
    gchar *hash;
} CohortAuthTokenMemo;

/* @token's hash (cohort_auth_secret_hash), from @memo when it holds the same token (compared
 * in constant time), else computed and kept in @memo. Borrowed: valid until the next call. */
const gchar *cohort_auth_token_memo_hash(CohortAuthTokenMemo *memo, const gchar *token);
/* Forgets the token, its bytes overwritten first. */
void cohort_auth_token_memo_clear(CohortAuthTokenMemo *memo);

G_END_DECLS
