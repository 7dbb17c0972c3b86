/* libFuzzer target: an SSH key line (PUT /api/v1/users/LOGIN/ssh-keys) and any text (a
 * display name) on its way into a machine's cloud-init seed.
 *
 * Invariants: a key that cohort_ssh_key_normalize() accepts is one line, UTF-8, without control
 * characters, begins with a known type, normalizes to itself and has a fingerprint; whatever
 * the text, cohort_seed_quote() makes one JSON string (no raw newline) that reads back as the
 * text, and the user-data around it keeps its shape: as many lines as with a plain value. */
#define G_LOG_DOMAIN "fuzz-seed"

#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "cohort-fuzz.h"
#include "cohort-seed.h"
#include "cohort-ssh-key.h"

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
    cohort_fuzz_init();
    return 0;
}

static guint
fuzz_seed_lines(const gchar *text)
{
    guint n = 0;
    for (const gchar *p = text; *p != '\0'; p++)
        n += *p == '\n';
    return n;
}

static void
fuzz_seed_quote(const gchar *text)
{
    g_autofree gchar *quoted = cohort_seed_quote(text);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    COHORT_FUZZ_CHECK(strchr(quoted, '\n') == NULL && strchr(quoted, '\r') == NULL);
    COHORT_FUZZ_CHECK(json_parser_load_from_data(parser, quoted, -1, NULL));
    root = json_parser_get_root(parser);
    COHORT_FUZZ_CHECK(root != NULL && JSON_NODE_HOLDS_VALUE(root));
    COHORT_FUZZ_CHECK(g_strcmp0(json_node_get_string(root), text) == 0);
}

static void
fuzz_seed_shape(const gchar *text)
{
    const gchar *keys[] = {text, NULL};
    const gchar *plain_keys[] = {"k", NULL};
    CohortSeedSpec spec = {
        .instance_id = text[0] != '\0' ? text : "i",
        .hostname = "h",
        .user = "u",
        .gecos = text,
        .password_hash = "$6$s$h",
        .ssh_keys = keys,
        .install_agent = TRUE,
    };
    CohortSeedSpec plain = spec;
    g_autofree gchar *user = NULL;
    g_autofree gchar *user_plain = NULL;
    g_autofree gchar *meta = NULL;

    plain.instance_id = "i";
    plain.gecos = "g";
    plain.ssh_keys = plain_keys;
    user = cohort_seed_user_data(&spec);
    user_plain = cohort_seed_user_data(&plain);
    meta = cohort_seed_meta_data(&spec);
    COHORT_FUZZ_CHECK(fuzz_seed_lines(user) == fuzz_seed_lines(user_plain) ||
                      text[0] == '\0'); /* an empty gecos is left out */
    COHORT_FUZZ_CHECK(fuzz_seed_lines(meta) == 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree gchar *text = g_strndup((const gchar *)data, size);
    g_autofree gchar *key = NULL;

    if (strlen(text) != size)
        return 0; /* NUL bytes: not a C string, as no request body gets here with one */
    key = cohort_ssh_key_normalize(text, NULL);
    if (key != NULL) {
        g_autofree gchar *again = cohort_ssh_key_normalize(key, NULL);
        g_autofree gchar *fp = cohort_ssh_key_fingerprint(key);
        COHORT_FUZZ_CHECK(g_utf8_validate(key, -1, NULL));
        COHORT_FUZZ_CHECK(strlen(key) <= COHORT_SSH_KEY_LEN_MAX);
        for (const gchar *p = key; *p != '\0'; p++)
            COHORT_FUZZ_CHECK((guchar)*p >= 0x20 && *p != 0x7f);
        COHORT_FUZZ_CHECK(again != NULL && g_strcmp0(again, key) == 0);
        COHORT_FUZZ_CHECK(fp != NULL && g_str_has_prefix(fp, "SHA256:"));
        COHORT_FUZZ_CHECK(g_str_has_prefix(key, "ssh-") || g_str_has_prefix(key, "ecdsa-") ||
                          g_str_has_prefix(key, "sk-"));
    }
    if (!g_utf8_validate(text, -1, NULL))
        return 0; /* the API refuses what is not UTF-8 before it gets here */
    fuzz_seed_quote(text);
    fuzz_seed_shape(text);
    return 0;
}
