#define G_LOG_DOMAIN "cohort-json"

#include "config.h"

#include "cohort-error.h"
#include "cohort-json-scan.h"
#include "cohort-json.h"

static void
cohort_json_add_string(JsonBuilder *b, const gchar *name, const gchar *value)
{
    json_builder_set_member_name(b, name);
    if (value != NULL)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void
cohort_json_add_int(JsonBuilder *b, const gchar *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

JsonNode *
cohort_json_user(const CohortUserRow *row)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    cohort_json_add_string(b, "login", row->login);
    cohort_json_add_string(b, "display_name", row->display_name);
    cohort_json_add_string(b, "role", row->role);
    cohort_json_add_string(b, "created_at", row->created_at);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_json_host(const CohortHost *host, const CohortHostUsage *used)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    cohort_json_add_string(b, "name", host->name);
    cohort_json_add_string(b, "uri", host->uri);
    cohort_json_add_string(b, "pool", host->pool);
    cohort_json_add_int(b, "vcpus", host->vcpus);
    cohort_json_add_int(b, "memory_mib", (gint64)host->memory_mib);
    json_builder_set_member_name(b, "cpu_ratio");
    json_builder_add_double_value(b, host->cpu_ratio);
    json_builder_set_member_name(b, "memory_ratio");
    json_builder_add_double_value(b, host->memory_ratio);
    json_builder_set_member_name(b, "disk_ratio");
    json_builder_add_double_value(b, host->disk_ratio);
    /* as configured, and what it is in practice (null until the host is reached) */
    cohort_json_add_string(b, "accel", host->accel);
    cohort_json_add_string(b, "accel_effective", cohort_host_get_accel_effective(host));
    cohort_json_add_string(b, "state", host->state);
    json_builder_set_member_name(b, "draining");
    json_builder_add_boolean_value(b, host->draining);
    json_builder_set_member_name(b, "connecting");
    json_builder_add_boolean_value(b, host->connecting);
    /* what placement allows (capacity times the ratio) beside what is placed */
    cohort_json_add_int(b, "allowed_vcpus", cohort_host_allowed_vcpus(host));
    cohort_json_add_int(b, "allowed_memory_mib", (gint64)cohort_host_allowed_memory_mib(host));
    json_builder_set_member_name(b, "allowed_disk_mib");
    if (host->pool_known)
        json_builder_add_int_value(b, (gint64)cohort_host_allowed_disk_mib(host));
    else
        json_builder_add_null_value(b);
    cohort_json_add_int(b, "machines", used->machines);
    cohort_json_add_int(b, "used_vcpus", used->vcpus);
    cohort_json_add_int(b, "used_memory_mib", (gint64)used->memory_mib);
    cohort_json_add_int(b, "used_disk_mib", (gint64)used->disk_mib);
    json_builder_set_member_name(b, "pool_available_bytes");
    if (host->pool_known)
        json_builder_add_int_value(b, (gint64)host->pool_usage.available_bytes);
    else
        json_builder_add_null_value(b);
    cohort_json_add_string(b, "error", host->last_error);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_json_cohort(const CohortCohortRow *row)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    cohort_json_add_string(b, "slug", row->slug);
    cohort_json_add_string(b, "title", row->title);
    cohort_json_add_string(b, "template", row->template_name);
    cohort_json_add_string(b, "trainer", row->trainer_login);
    cohort_json_add_string(b, "starts_at", row->starts_at);
    cohort_json_add_string(b, "ends_at", row->ends_at);
    cohort_json_add_int(b, "grace_hours", row->grace_hours);
    json_builder_set_member_name(b, "quota");
    json_builder_begin_object(b);
    cohort_json_add_int(b, "machines", row->quota_machines);
    cohort_json_add_int(b, "vcpus", row->quota_vcpus);
    cohort_json_add_int(b, "memory_mib", (gint64)row->quota_memory_mib);
    json_builder_end_object(b);
    cohort_json_add_string(b, "state", row->state);
    cohort_json_add_string(b, "created_at", row->created_at);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* A machine whose host does not answer is unavailable, whatever it was last: the trainer may
 * move it to another host. */
static gboolean
cohort_json_machine_unavailable(const CohortMachineRow *row, const CohortHost *host)
{
    return host != NULL && !cohort_host_is_usable(host) &&
           g_strcmp0(row->state, "reclaimed") != 0 && g_strcmp0(row->state, "failed") != 0;
}

JsonNode *
cohort_json_machine(const CohortMachineRow *row, const gchar *const *pending,
                    const CohortHost *host)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    gboolean unavailable = cohort_json_machine_unavailable(row, host);

    json_builder_begin_object(b);
    cohort_json_add_int(b, "id", row->id);
    cohort_json_add_string(b, "name", row->name);
    cohort_json_add_string(b, "cohort", row->cohort_slug);
    cohort_json_add_string(b, "trainee", row->trainee_login);
    cohort_json_add_string(b, "host", row->host_name);
    cohort_json_add_string(b, "template", row->template_name);
    cohort_json_add_string(b, "state", unavailable ? "host-unavailable" : row->state);
    json_builder_set_member_name(b, "pending");
    json_builder_begin_array(b);
    for (guint i = 0; pending != NULL && pending[i] != NULL; i++)
        json_builder_add_string_value(b, pending[i]);
    json_builder_end_array(b);
    cohort_json_add_int(b, "vcpus", row->vcpus);
    cohort_json_add_int(b, "memory_mib", (gint64)row->memory_mib);
    cohort_json_add_string(b, "created_at", row->created_at);
    cohort_json_add_string(b, "expires_at", row->expires_at);
    cohort_json_add_string(b, "error", row->error);
    json_builder_set_member_name(b, "ready");
    json_builder_add_boolean_value(b, row->ready);
    cohort_json_add_string(b, "ready_at", row->ready_at);
    json_builder_set_member_name(b, "addresses");
    json_builder_begin_array(b);
    if (row->addresses != NULL) {
        g_auto(GStrv) addresses = g_strsplit(row->addresses, " ", -1);
        for (guint i = 0; addresses[i] != NULL; i++) {
            if (addresses[i][0] != '\0')
                json_builder_add_string_value(b, addresses[i]);
        }
    }
    json_builder_end_array(b);
    cohort_json_add_string(b, "host_state", host != NULL ? host->state : NULL);
    cohort_json_add_string(b, "last_state", unavailable ? row->state : NULL);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void
cohort_json_write_string(CohortJsonWriter *w, const gchar *name, const gchar *value)
{
    cohort_json_writer_member(w, name);
    cohort_json_writer_string(w, value);
}

static void
cohort_json_write_int(CohortJsonWriter *w, const gchar *name, gint64 value)
{
    cohort_json_writer_member(w, name);
    cohort_json_writer_int(w, value);
}

/* The same members in the same order as cohort_json_machine(): test-json compares them. */
void
cohort_json_machine_write(CohortJsonWriter *w, const CohortMachineRow *row,
                          const gchar *const *pending, const CohortHost *host)
{
    gboolean unavailable = cohort_json_machine_unavailable(row, host);

    cohort_json_writer_begin_object(w);
    cohort_json_write_int(w, "id", row->id);
    cohort_json_write_string(w, "name", row->name);
    cohort_json_write_string(w, "cohort", row->cohort_slug);
    cohort_json_write_string(w, "trainee", row->trainee_login);
    cohort_json_write_string(w, "host", row->host_name);
    cohort_json_write_string(w, "template", row->template_name);
    cohort_json_write_string(w, "state", unavailable ? "host-unavailable" : row->state);
    cohort_json_writer_member(w, "pending");
    cohort_json_writer_begin_array(w);
    for (guint i = 0; pending != NULL && pending[i] != NULL; i++)
        cohort_json_writer_string(w, pending[i]);
    cohort_json_writer_end_array(w);
    cohort_json_write_int(w, "vcpus", row->vcpus);
    cohort_json_write_int(w, "memory_mib", (gint64)row->memory_mib);
    cohort_json_write_string(w, "created_at", row->created_at);
    cohort_json_write_string(w, "expires_at", row->expires_at);
    cohort_json_write_string(w, "error", row->error);
    cohort_json_writer_member(w, "ready");
    cohort_json_writer_boolean(w, row->ready);
    cohort_json_write_string(w, "ready_at", row->ready_at);
    cohort_json_writer_member(w, "addresses");
    cohort_json_writer_begin_array(w);
    if (row->addresses != NULL) {
        g_auto(GStrv) addresses = g_strsplit(row->addresses, " ", -1);
        for (guint i = 0; addresses[i] != NULL; i++) {
            if (addresses[i][0] != '\0')
                cohort_json_writer_string(w, addresses[i]);
        }
    }
    cohort_json_writer_end_array(w);
    cohort_json_write_string(w, "host_state", host != NULL ? host->state : NULL);
    cohort_json_write_string(w, "last_state", unavailable ? row->state : NULL);
    cohort_json_writer_end_object(w);
}

JsonNode *
cohort_json_job(const CohortJobRow *row, GPtrArray *errors)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    cohort_json_add_int(b, "id", row->id);
    cohort_json_add_string(b, "kind", row->kind);
    cohort_json_add_string(b, "target", row->target);
    cohort_json_add_string(b, "state", row->state);
    cohort_json_add_int(b, "total", row->total);
    cohort_json_add_int(b, "done", row->done);
    cohort_json_add_int(b, "failed", row->failed);
    cohort_json_add_string(b, "created_at", row->created_at);
    cohort_json_add_string(b, "finished_at", row->finished_at);
    json_builder_set_member_name(b, "errors");
    json_builder_begin_array(b);
    for (guint i = 0; errors != NULL && i < errors->len; i++) {
        CohortJobErrorRow *err = g_ptr_array_index(errors, i);
        json_builder_begin_object(b);
        cohort_json_add_string(b, "machine", err->machine);
        cohort_json_add_string(b, "host", err->host);
        cohort_json_add_string(b, "code", err->code);
        cohort_json_add_string(b, "message", err->message);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_json_audit(const CohortAuditRow *row)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    cohort_json_add_int(b, "id", row->id);
    cohort_json_add_string(b, "at", row->at);
    cohort_json_add_string(b, "actor", row->actor);
    cohort_json_add_string(b, "action", row->action);
    cohort_json_add_string(b, "target", row->target);
    cohort_json_add_string(b, "result", row->result);
    cohort_json_add_string(b, "detail", row->detail);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_json_error(const GError *error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    CohortError code =
        error->domain == COHORT_ERROR ? (CohortError)error->code : COHORT_ERROR_INTERNAL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    cohort_json_add_string(b, "code", cohort_error_code_to_string(code));
    cohort_json_add_string(b, "message", error->message);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cohort_json_array_new(GPtrArray *nodes)
{
    JsonArray *array = json_array_sized_new(nodes->len);
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; i < nodes->len; i++)
        json_array_add_element(array, g_ptr_array_index(nodes, i));
    /* the array took the nodes */
    g_ptr_array_set_free_func(nodes, NULL);
    json_node_take_array(node, array);
    return node;
}

/* Each thread's generator, kept: making and finalizing one for every answer was more than
 * writing a short answer (issue 14). */
static GPrivate cohort_json_generator = G_PRIVATE_INIT(g_object_unref);

gchar *
cohort_json_to_string(JsonNode *node, gboolean pretty)
{
    JsonGenerator *gen = g_private_get(&cohort_json_generator);
    g_autofree gchar *text = NULL;

    if (gen == NULL) {
        gen = json_generator_new();
        g_private_set(&cohort_json_generator, gen);
    }
    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, pretty);
    text = json_generator_to_data(gen, NULL);
    /* the generator holds its root: the answer's tree goes with the answer */
    json_generator_set_root(gen, NULL);
    /* An answer is UTF-8 whatever a string in it holds (json-glib's parse errors quote the
     * body's bytes as it decoded them, half surrogate pairs included): a client that cannot
     * parse the answer cannot show the error either. Bad bytes are only ever inside strings,
     * so U+FFFD in their place keeps the JSON valid. */
    if (!g_utf8_validate(text, -1, NULL))
        return g_utf8_make_valid(text, -1);
    return g_steal_pointer(&text);
}

void
cohort_json_append(GString *out, JsonGenerator *gen, JsonNode *node)
{
    json_generator_set_pretty(gen, FALSE);
    json_generator_set_root(gen, node);
    json_generator_to_gstring(gen, out);
    /* the generator refs its root: the piece goes now, not with the next one */
    json_generator_set_root(gen, NULL);
}

gchar *
cohort_json_text_finish(GString *out)
{
    g_autofree gchar *text = g_string_free(out, FALSE);

    /* as in cohort_json_to_string() */
    if (!g_utf8_validate(text, -1, NULL))
        return g_utf8_make_valid(text, -1);
    return g_steal_pointer(&text);
}

GBytes *
cohort_json_text_finish_bytes(GString *out)
{
    gchar *text = cohort_json_text_finish(out);
    return g_bytes_new_take(text, strlen(text));
}

JsonObject *
cohort_json_parse_object(const gchar *data, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) error_local = NULL;
    JsonNode *root;

    if (data == NULL || len == 0) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "the request needs a JSON object as its body");
        return NULL;
    }
    if (!g_utf8_validate(data, (gssize)len, NULL)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "the request body is not valid UTF-8");
        return NULL;
    }
    /* bound before json-glib recurses into it */
    if (!cohort_json_scan(data, len, COHORT_JSON_MAX_DEPTH, error))
        return NULL;
    if (!json_parser_load_from_data(parser, data, (gssize)len, &error_local)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "the request body is not valid JSON: %s", error_local->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                            "the request body must be a JSON object");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

static gboolean
cohort_json_member(JsonObject *obj, const gchar *member, gboolean required, JsonNode **node,
                   GError **error)
{
    *node = json_object_get_member(obj, member);
    if (*node == NULL || JSON_NODE_HOLDS_NULL(*node)) {
        *node = NULL;
        if (required) {
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "\"%s\" is required",
                        member);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
cohort_json_get_string(JsonObject *obj, const gchar *member, gboolean required, gsize max_len,
                       gchar **out, GError **error)
{
    JsonNode *node;
    const gchar *value;

    if (!cohort_json_member(obj, member, required, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "\"%s\" must be a string",
                    member);
        return FALSE;
    }
    value = json_node_get_string(node);
    /* json-glib 1.6 decodes a lone \\uD800-\\uDFFF escape into bytes that are not UTF-8 */
    if (!g_utf8_validate(value, -1, NULL)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" is not valid UTF-8 text (half a surrogate pair in a \\u escape?)",
                    member);
        return FALSE;
    }
    if (strlen(value) > max_len) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" is longer than %" G_GSIZE_FORMAT " bytes", member, max_len);
        return FALSE;
    }
    g_free(*out);
    *out = g_strdup(value);
    return TRUE;
}

gboolean
cohort_json_get_uint(JsonObject *obj, const gchar *member, gboolean required, guint64 min,
                     guint64 max, guint64 *out, GError **error)
{
    JsonNode *node;
    gint64 value;

    if (!cohort_json_member(obj, member, required, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_INT64) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" must be a whole number", member);
        return FALSE;
    }
    value = json_node_get_int(node);
    if (value < 0 || (guint64)value < min || (guint64)value > max) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" must be between %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT
                    ", not %" G_GINT64_FORMAT,
                    member, min, max, value);
        return FALSE;
    }
    *out = (guint64)value;
    return TRUE;
}

gboolean
cohort_json_get_double(JsonObject *obj, const gchar *member, gdouble min, gdouble max, gdouble *out,
                       GError **error)
{
    JsonNode *node;
    gdouble value;

    if (!cohort_json_member(obj, member, FALSE, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_INT64 &&
        json_node_get_value_type(node) != G_TYPE_DOUBLE) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT, "\"%s\" must be a number",
                    member);
        return FALSE;
    }
    value = json_node_get_double(node);
    if (!(value >= min && value <= max)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" must be between %g and %g", member, min, max);
        return FALSE;
    }
    *out = value;
    return TRUE;
}

gboolean
cohort_json_get_bool(JsonObject *obj, const gchar *member, gboolean *out, GError **error)
{
    JsonNode *node;

    if (!cohort_json_member(obj, member, FALSE, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" must be true or false", member);
        return FALSE;
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

gboolean
cohort_json_check_members(JsonObject *obj, const gchar *const *known, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(obj);

    for (GList *l = members; l != NULL; l = l->next) {
        if (!g_strv_contains(known, l->data)) {
            g_autofree gchar *list = g_strjoinv(", ", (gchar **)known);
            g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                        "unknown field \"%s\" (known: %s)", (const gchar *)l->data, list);
            return FALSE;
        }
    }
    return TRUE;
}

gchar *
cohort_json_normalize_time(const gchar *text, const gchar *member, GError **error)
{
    g_autoptr(GDateTime) dt = NULL;
    g_autoptr(GDateTime) utc = NULL;
    gint year;
    gint month;
    gint day;

    if (text != NULL)
        dt = g_date_time_new_from_iso8601(text, NULL);
    /* in UTC it may fall outside GDateTime's years 1 to 9999 (9999-12-31T23:00:00-02:00) */
    if (dt != NULL)
        utc = g_date_time_to_utc(dt);
    if (utc == NULL) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INVALID_ARGUMENT,
                    "\"%s\" must be an RFC 3339 time such as 2026-12-01T08:00:00Z", member);
        return NULL;
    }
    /* Four digits of year, always ("%Y" writes 395 for 0395): the store compares these
     * strings as times. */
    g_date_time_get_ymd(utc, &year, &month, &day);
    return g_strdup_printf("%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day,
                           g_date_time_get_hour(utc), g_date_time_get_minute(utc),
                           g_date_time_get_second(utc));
}
