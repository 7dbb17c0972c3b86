/* A user's SSH public keys: the trainee's own (or an admin's for them), put into the
 * cloud-init seed of every machine made or reset after a change. */
#define G_LOG_DOMAIN "cohort-service"

#include "config.h"

#include "cohort-error.h"
#include "cohort-service-private.h"
#include "cohort-service.h"
#include "cohort-ssh-key.h"

/* The user @login when @actor may see and change their keys: themself, or an admin. */
static CohortUserRow *
cohort_service_keys_user(CohortService *svc, const CohortUserRow *actor, const gchar *login,
                         GError **error)
{
    if (actor == NULL) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_UNAUTHENTICATED,
                            "no token: send 'Authorization: Bearer TOKEN'");
        return NULL;
    }
    /* asked before the login is looked up: a trainee learns nothing of other accounts */
    if (g_strcmp0(actor->role, "admin") != 0 && g_strcmp0(actor->login, login) != 0) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_FORBIDDEN,
                    "only %s and admins manage %s's SSH keys", login, login);
        return NULL;
    }
    return cohort_store_user_get_by_login(svc->store, login, error);
}

static JsonNode *
cohort_service_keys_json(const gchar *login, GPtrArray *keys)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "login");
    json_builder_add_string_value(b, login);
    json_builder_set_member_name(b, "keys");
    json_builder_begin_array(b);
    for (guint i = 0; i < keys->len; i++)
        json_builder_add_string_value(b, g_ptr_array_index(keys, i));
    json_builder_end_array(b);
    json_builder_set_member_name(b, "fingerprints");
    json_builder_begin_array(b);
    for (guint i = 0; i < keys->len; i++) {
        g_autofree gchar *fp = cohort_ssh_key_fingerprint(g_ptr_array_index(keys, i));
        json_builder_add_string_value(b, fp);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_service_user_ssh_keys_get(CohortService *svc, const CohortUserRow *actor, const gchar *login,
                                 GError **error)
{
    g_autoptr(CohortUserRow) user = cohort_service_keys_user(svc, actor, login, error);
    g_autoptr(GPtrArray) keys = NULL;

    if (user == NULL)
        return NULL;
    keys = cohort_store_user_get_ssh_keys(svc->store, user->id, error);
    return keys != NULL ? cohort_service_keys_json(user->login, keys) : NULL;
}

JsonNode *
cohort_service_user_ssh_keys_set(CohortService *svc, const CohortUserRow *actor, const gchar *login,
                                 JsonObject *body, GError **error)
{
    g_autoptr(CohortUserRow) user = cohort_service_keys_user(svc, actor, login, error);
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) fingerprints = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GList) members = NULL;
    JsonNode *node;
    JsonArray *array;

    if (user == NULL)
        return NULL;
    members = json_object_get_members(body);
    for (GList *l = members; l != NULL; l = l->next) {
        if (g_strcmp0(l->data, "keys") != 0) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "unknown field \"%s\": the body is {\"keys\":[\"ssh-ed25519 AAAA… "
                        "comment\", …]}",
                        (const gchar *)l->data);
            return NULL;
        }
    }
    node = json_object_get_member(body, "keys");
    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "\"keys\" must be an array of SSH public keys (one line of a .pub "
                            "file each; [] removes them all)");
        return NULL;
    }
    array = json_node_get_array(node);
    if (json_array_get_length(array) > COHORT_SSH_KEYS_MAX) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "%u SSH keys given: a user keeps at most %d", json_array_get_length(array),
                    COHORT_SSH_KEYS_MAX);
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);
        g_autofree gchar *key = NULL;
        g_autofree gchar *fp = NULL;

        if (!JSON_NODE_HOLDS_VALUE(element) || json_node_get_value_type(element) != G_TYPE_STRING) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "\"keys\"[%u] is not a string", i);
            return NULL;
        }
        key = cohort_ssh_key_normalize(json_node_get_string(element), error);
        if (key == NULL) {
            g_prefix_error(error, "\"keys\"[%u]: ", i);
            return NULL;
        }
        fp = cohort_ssh_key_fingerprint(key);
        for (guint j = 0; j < fingerprints->len; j++) {
            if (g_strcmp0(g_ptr_array_index(fingerprints, j), fp) == 0) {
                g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "\"keys\"[%u] is the same key as \"keys\"[%u] (%s)", i, j, fp);
                return NULL;
            }
        }
        g_ptr_array_add(fingerprints, g_steal_pointer(&fp));
        g_ptr_array_add(keys, g_steal_pointer(&key));
    }
    g_ptr_array_add(keys, NULL);
    if (!cohort_store_user_set_ssh_keys(svc->store, user->id, (const gchar *const *)keys->pdata,
                                        error))
        return NULL;
    g_ptr_array_set_size(keys, keys->len - 1);
    cohort_service_audit(svc, actor->login, "user.ssh-keys", user->login, NULL);
    return cohort_service_keys_json(user->login, keys);
}
