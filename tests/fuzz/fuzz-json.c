/* libFuzzer target: a request body from untrusted bytes, read as cohortd's routes read
 * theirs (cohort_json_parse_object, then each route's member check and readers, in the
 * routes' order, with their bounds: see daemon/service/cohort-service-*.c), then written back as
 * the answers write JSON.
 *
 * Invariants: a body is an object or an INVALID_ARGUMENT error; a reader either fails with
 * INVALID_ARGUMENT naming the member or gives a value within its bounds; a normalized time
 * is normalized; an error reaches the client as UTF-8 JSON; strings an answer echoes
 * survive writing and parsing again. */
#define G_LOG_DOMAIN "fuzz-json"

#include "config.h"

#include <string.h>

#include "cohort-error.h"
#include "cohort-fuzz.h"
#include "cohort-json.h"

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
    cohort_fuzz_init();
    return 0;
}

typedef enum {
    FUZZ_STRING,
    FUZZ_TIME, /* a string, then cohort_json_normalize_time() */
    FUZZ_UINT,
    FUZZ_DOUBLE,
    FUZZ_BOOL,
    FUZZ_OBJECT, /* a nested body (quota, lease) */
} FuzzKind;

typedef struct FuzzBody FuzzBody;

typedef struct {
    const gchar *member;
    FuzzKind kind;
    gboolean required;
    guint64 min; /* FUZZ_DOUBLE: min and max as given */
    guint64 max; /* FUZZ_STRING: the longest length */
    const FuzzBody *nested;
} FuzzMember;

struct FuzzBody {
    const gchar *route;
    const gchar *const *known;
    const FuzzMember *members;
};

/* The routes' bodies, as their readers take them (same order, same bounds). */
static const FuzzMember fuzz_quota[] = {
    {"machines", FUZZ_UINT, FALSE, 1, 100},
    {"vcpus", FUZZ_UINT, FALSE, 1, 1024},
    {"memory_mib", FUZZ_UINT, FALSE, 16, 16 * 1024 * 1024},
    {NULL},
};
static const gchar *const fuzz_quota_known[] = {"machines", "vcpus", "memory_mib", NULL};
static const FuzzBody fuzz_quota_body = {"quota", fuzz_quota_known, fuzz_quota};

static const FuzzMember fuzz_lease[] = {
    {"hours", FUZZ_UINT, FALSE, 0, 24 * 365},
    {"max_extensions", FUZZ_UINT, FALSE, 0, 1000},
    {NULL},
};
static const gchar *const fuzz_lease_known[] = {"hours", "max_extensions", NULL};
static const FuzzBody fuzz_lease_body = {"lease", fuzz_lease_known, fuzz_lease};

static const FuzzMember fuzz_user_create[] = {
    {"login", FUZZ_STRING, TRUE, 0, 64},
    {"display_name", FUZZ_STRING, FALSE, 0, 1024},
    {"role", FUZZ_STRING, TRUE, 0, 16},
    {NULL},
};
static const gchar *const fuzz_user_create_known[] = {"login", "display_name", "role", NULL};

static const FuzzMember fuzz_host_add[] = {
    {"name", FUZZ_STRING, TRUE, 0, 64},
    {"uri", FUZZ_STRING, TRUE, 0, 1024},
    {"pool", FUZZ_STRING, FALSE, 0, 256},
    {"vcpus", FUZZ_UINT, FALSE, 0, 65536},
    {"memory_mib", FUZZ_UINT, FALSE, 0, G_MAXUINT32 * 16ULL},
    /* tenths: 0.1 to 64 and 0.1 to 16 */
    {"cpu_ratio", FUZZ_DOUBLE, FALSE, 1, 640},
    {"memory_ratio", FUZZ_DOUBLE, FALSE, 1, 160},
    {NULL},
};
static const gchar *const fuzz_host_add_known[] = {
    "name", "uri", "pool", "vcpus", "memory_mib", "cpu_ratio", "memory_ratio", NULL};

static const FuzzMember fuzz_template_base[] = {
    {"path", FUZZ_STRING, FALSE, 0, 4096},
    {"blank", FUZZ_BOOL},
    {NULL},
};
static const gchar *const fuzz_template_base_known[] = {"path", "blank", NULL};

static const FuzzMember fuzz_cohort_create[] = {
    {"slug", FUZZ_STRING, TRUE, 0, 64},
    {"title", FUZZ_STRING, FALSE, 0, 200},
    {"template", FUZZ_STRING, TRUE, 0, 64},
    {"trainer", FUZZ_STRING, FALSE, 0, 64},
    {"network", FUZZ_STRING, FALSE, 0, 64},
    {"grace_hours", FUZZ_UINT, FALSE, 0, 24 * 365},
    {"starts_at", FUZZ_TIME, FALSE, 0, 64},
    {"ends_at", FUZZ_TIME, FALSE, 0, 64},
    {"quota", FUZZ_OBJECT, FALSE, 0, 0, &fuzz_quota_body},
    {"lease", FUZZ_OBJECT, FALSE, 0, 0, &fuzz_lease_body},
    {NULL},
};
static const gchar *const fuzz_cohort_create_known[] = {
    "slug",  "title",       "template", "starts_at", "ends_at", "quota",
    "lease", "grace_hours", "trainer",  "network",   NULL};

static const FuzzMember fuzz_cohort_update[] = {
    {"title", FUZZ_STRING, FALSE, 0, 200},
    {"grace_hours", FUZZ_UINT, FALSE, 0, 24 * 365},
    {"starts_at", FUZZ_TIME, FALSE, 0, 64},
    {"ends_at", FUZZ_TIME, FALSE, 0, 64},
    {"quota", FUZZ_OBJECT, FALSE, 0, 0, &fuzz_quota_body},
    {"lease", FUZZ_OBJECT, FALSE, 0, 0, &fuzz_lease_body},
    {NULL},
};
static const gchar *const fuzz_cohort_update_known[] = {"title", "ends_at", "grace_hours",
                                                        "quota", "lease",   NULL};

static const FuzzMember fuzz_redeem[] = {
    {"code", FUZZ_STRING, TRUE, 0, 64},
    {NULL},
};
static const gchar *const fuzz_redeem_known[] = {"code", NULL};

static const FuzzMember fuzz_machine_request[] = {
    {"cohort", FUZZ_STRING, TRUE, 0, 64},
    {"trainee", FUZZ_STRING, FALSE, 0, 64},
    {NULL},
};
static const gchar *const fuzz_machine_request_known[] = {"cohort", "trainee", NULL};

static const FuzzBody fuzz_bodies[] = {
    {"POST /users", fuzz_user_create_known, fuzz_user_create},
    {"POST /hosts", fuzz_host_add_known, fuzz_host_add},
    {"PUT /templates/NAME/base", fuzz_template_base_known, fuzz_template_base},
    {"POST /cohorts", fuzz_cohort_create_known, fuzz_cohort_create},
    {"PATCH /cohorts/SLUG", fuzz_cohort_update_known, fuzz_cohort_update},
    {"POST /redeem", fuzz_redeem_known, fuzz_redeem},
    {"POST /machines", fuzz_machine_request_known, fuzz_machine_request},
};

/* The error as the client gets it: a UTF-8 JSON body that parses, with the message. */
static void
fuzz_json_check_answer(const GError *error)
{
    g_autoptr(JsonNode) answer = cohort_json_error(error);
    g_autofree gchar *text = cohort_json_to_string(answer, FALSE);
    g_autoptr(JsonObject) again = NULL;

    COHORT_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
    again = cohort_json_parse_object(text, strlen(text), NULL);
    COHORT_FUZZ_CHECK(again != NULL && json_object_has_member(again, "error"));
}

/* A reader's failure names the member it read. */
static void
fuzz_json_check_failure(GError *error, const gchar *member)
{
    g_autofree gchar *quoted = g_strdup_printf("\"%s\"", member);

    COHORT_FUZZ_CHECK(error != NULL && error->domain == COHORT_ERROR &&
                      error->code == COHORT_ERROR_INVALID_ARGUMENT);
    COHORT_FUZZ_CHECK(strstr(error->message, quoted) != NULL);
    fuzz_json_check_answer(error);
}

static void fuzz_json_read_body(JsonObject *obj, const FuzzBody *body);

static void
fuzz_json_read_member(JsonObject *obj, const FuzzMember *m)
{
    g_autoptr(GError) error = NULL;
    gboolean present = json_object_has_member(obj, m->member) &&
                       !JSON_NODE_HOLDS_NULL(json_object_get_member(obj, m->member));

    switch (m->kind) {
    case FUZZ_STRING:
    case FUZZ_TIME: {
        g_autofree gchar *value = NULL;
        g_autofree gchar *normalized = NULL;

        if (!cohort_json_get_string(obj, m->member, m->required, m->max, &value, &error)) {
            fuzz_json_check_failure(error, m->member);
            return;
        }
        COHORT_FUZZ_CHECK(present || !m->required);
        COHORT_FUZZ_CHECK((value != NULL) == present);
        if (value == NULL)
            return;
        COHORT_FUZZ_CHECK(strlen(value) <= m->max);
        COHORT_FUZZ_CHECK(g_utf8_validate(value, -1, NULL));
        if (m->kind != FUZZ_TIME)
            return;
        normalized = cohort_json_normalize_time(value, m->member, &error);
        if (normalized == NULL) {
            fuzz_json_check_failure(error, m->member);
            return;
        }
        /* YYYY-MM-DDTHH:MM:SSZ, and normalizing it again changes nothing */
        COHORT_FUZZ_CHECK(strlen(normalized) == 20 && normalized[10] == 'T' &&
                          normalized[19] == 'Z');
        {
            g_autofree gchar *again = cohort_json_normalize_time(normalized, m->member, NULL);
            COHORT_FUZZ_CHECK(g_strcmp0(again, normalized) == 0);
        }
        return;
    }
    case FUZZ_UINT: {
        guint64 value = G_MAXUINT64;

        if (!cohort_json_get_uint(obj, m->member, m->required, m->min, m->max, &value, &error)) {
            fuzz_json_check_failure(error, m->member);
            return;
        }
        COHORT_FUZZ_CHECK(present || !m->required);
        COHORT_FUZZ_CHECK(present ? value >= m->min && value <= m->max : value == G_MAXUINT64);
        return;
    }
    case FUZZ_DOUBLE: {
        gdouble value = -1.0;
        gdouble min = m->min / 10.0;
        gdouble max = m->max / 10.0;

        if (!cohort_json_get_double(obj, m->member, min, max, &value, &error)) {
            fuzz_json_check_failure(error, m->member);
            return;
        }
        COHORT_FUZZ_CHECK(present ? value >= min && value <= max : value == -1.0);
        return;
    }
    case FUZZ_BOOL: {
        gboolean value = 2;

        if (!cohort_json_get_bool(obj, m->member, &value, &error)) {
            fuzz_json_check_failure(error, m->member);
            return;
        }
        COHORT_FUZZ_CHECK(present ? value == TRUE || value == FALSE : value == 2);
        return;
    }
    case FUZZ_OBJECT: {
        JsonNode *node = json_object_get_member(obj, m->member);

        if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
            fuzz_json_read_body(json_node_get_object(node), m->nested);
        return;
    }
    }
}

/* As a route reads its body: the member check first, then each reader; the route stops at
 * the first error, this reads on to reach every reader with every body. */
static void
fuzz_json_read_body(JsonObject *obj, const FuzzBody *body)
{
    g_autoptr(GError) error = NULL;

    if (!cohort_json_check_members(obj, body->known, &error)) {
        COHORT_FUZZ_CHECK(error != NULL && error->code == COHORT_ERROR_INVALID_ARGUMENT);
        COHORT_FUZZ_CHECK(g_str_has_prefix(error->message, "unknown field"));
        fuzz_json_check_answer(error);
    } else {
        g_autoptr(GList) members = json_object_get_members(obj);
        for (GList *l = members; l != NULL; l = l->next)
            COHORT_FUZZ_CHECK(g_strv_contains(body->known, l->data));
    }
    for (const FuzzMember *m = body->members; m->member != NULL; m++)
        fuzz_json_read_member(obj, m);
}

/* The answers' writer, on what answers echo: the strings a body gave (a title, a display
 * name). Written, compact or pretty, they parse again to the same text. (Not the whole body:
 * no answer echoes it, and pretty-printing deep nesting is quadratic in json-glib.) */
static void
fuzz_json_round_trip(JsonObject *obj)
{
    g_autoptr(JsonObject) strings = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonObject) again = NULL;
    g_autoptr(JsonNode) again_node = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(GError) error = NULL;
    g_autoptr(GList) members = json_object_get_members(obj);
    g_autofree gchar *text = NULL;
    g_autofree gchar *pretty = NULL;
    g_autofree gchar *text_again = NULL;

    for (GList *l = members; l != NULL; l = l->next) {
        JsonNode *member = json_object_get_member(obj, l->data);
        if (JSON_NODE_HOLDS_VALUE(member) && json_node_get_value_type(member) == G_TYPE_STRING)
            json_object_set_string_member(strings, l->data, json_node_get_string(member));
    }
    json_node_set_object(node, strings);
    text = cohort_json_to_string(node, FALSE);
    pretty = cohort_json_to_string(node, TRUE);
    COHORT_FUZZ_CHECK(text != NULL && pretty != NULL);
    COHORT_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
    again = cohort_json_parse_object(text, strlen(text), &error);
    if (again == NULL)
        fprintf(stderr, "written JSON does not parse: %s\n%s\n", error->message, text);
    COHORT_FUZZ_CHECK(again != NULL);
    json_node_set_object(again_node, again);
    text_again = cohort_json_to_string(again_node, FALSE);
    COHORT_FUZZ_CHECK(g_strcmp0(text, text_again) == 0);
    g_clear_pointer(&again, json_object_unref);
    again = cohort_json_parse_object(pretty, strlen(pretty), NULL);
    COHORT_FUZZ_CHECK(again != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) obj = NULL;

    obj = cohort_json_parse_object((const gchar *)data, size, &error);
    if (obj == NULL) {
        COHORT_FUZZ_CHECK(error != NULL && error->domain == COHORT_ERROR &&
                          error->code == COHORT_ERROR_INVALID_ARGUMENT);
        fuzz_json_check_answer(error);
        return 0;
    }
    COHORT_FUZZ_CHECK(error == NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(fuzz_bodies); i++)
        fuzz_json_read_body(obj, &fuzz_bodies[i]);
    fuzz_json_round_trip(obj);
    return 0;
}
